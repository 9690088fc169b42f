# o1pruner - build with any C11 compiler: `make`, `make test`, `make run`.
CC ?= cc
CFLAGS ?= -O3
# -ffp-contract=off: no fused multiply-add, so results are the same bits with gcc and clang,
# with or without -march=native, and on any thread count (README "Determinism").
# -fno-trapping-math (clang's default): lets gcc vectorise loops with comparisons; no result changes.
BASEFLAGS = -std=c11 -Wall -Wextra -pedantic -ffp-contract=off -fno-trapping-math
LDLIBS = -lm

HASH := \#
# -march=native when the compiler accepts it
NATIVE := $(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo -march=native)
# OpenMP when the compiler has it and a program built with it runs (musl-gcc links glibc's libgomp,
# whose programs do not start; a cross compiler's do not run here), unless NO_OMP=1
ifeq ($(NO_OMP),1)
  OMP := -Wno-unknown-pragmas
else
  OMP := $(shell printf '$(HASH)include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n' > .omp-probe.c && \
           $(CC) -fopenmp .omp-probe.c -o .omp-probe 2>/dev/null && ./.omp-probe >/dev/null 2>&1 && echo -fopenmp; \
           rm -f .omp-probe.c .omp-probe .omp-probe.exe)
  ifeq ($(OMP),)
    OMP := -Wno-unknown-pragmas
  endif
endif
# No excess precision (README "Determinism"): every float and double operation rounded to its own
# type, FLT_EVAL_METHOD 0. 32-bit x86 computes in SSE registers instead of the x87's 80 bits, and
# gcc on targets such as s390x evaluates float in double under -std=c11 unless asked not to;
# o1pruner.c refuses to compile where neither fixes it.
FLT_EVAL := $(shell printf '$(HASH)include <float.h>\nFLT_EVAL_METHOD\n' | $(CC) -std=c11 -E -P -x c - 2>/dev/null | tail -n 1)
ifeq ($(FLT_EVAL),2)
  EXACT := -msse2 -mfpmath=sse
else ifeq ($(FLT_EVAL),1)
  EXACT := -fexcess-precision=fast
endif

ALLFLAGS = $(BASEFLAGS) $(CFLAGS) $(NATIVE) $(EXACT) $(OMP)

# rebuild when the compiler or the flags change (e.g. `make test NO_OMP=1` after `make`)
STAMP := .build-flags
$(shell echo '$(CC) $(ALLFLAGS)' | cmp -s - $(STAMP) || echo '$(CC) $(ALLFLAGS)' > $(STAMP))

.PHONY: all test run compare bench reference vectors data fuzz memcheck clean

all: o1pruner

o1pruner: o1pruner.c o1pruner.h $(STAMP)
	$(CC) $(ALLFLAGS) -o $@ o1pruner.c $(LDLIBS)

test_o1pruner: test.c o1pruner.c o1pruner.h $(STAMP)
	$(CC) $(ALLFLAGS) -o $@ test.c $(LDLIBS)

test: test_o1pruner o1pruner
	./test_o1pruner

run: o1pruner
	./o1pruner run

# O1-Pruner against the paper's baselines and its lambda ablation; the picture in out/compare.svg
compare: o1pruner
	./o1pruner compare --svg out/compare.svg

bench: o1pruner
	./o1pruner bench

# the shipped reference model: bit-for-bit the same with the same compiler on the same machine
reference: o1pruner
	./o1pruner sft --out data/reference.bin > data/reference.txt
	./o1pruner eval --model data/reference.bin >> data/reference.txt
	cat data/reference.txt

# the reference vectors for other implementations (the test suite checks that data/vectors matches this)
vectors: o1pruner
	./o1pruner vectors --out data/vectors

# the task's data splits (the test suite checks that data/ matches this)
data: o1pruner
	./o1pruner data --out data

# fuzz every file reader with libFuzzer (clang), FUZZ_SECONDS each; seed corpora in data/fuzz/
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
FUZZ_READERS = checkpoint presampled vectors dataset samples
fuzz_checkpoint_ID = 1
fuzz_presampled_ID = 2
fuzz_vectors_ID = 3
fuzz_dataset_ID = 4
fuzz_samples_ID = 5
fuzz_%: test.c o1pruner.c o1pruner.h
	$(FUZZ_CC) -std=c11 -g -O1 -ffp-contract=off -DO1P_FUZZ -DFUZZ_READER=$($@_ID) \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -o $@ test.c -lm
fuzz: $(addprefix fuzz_,$(FUZZ_READERS))
	@for r in $(FUZZ_READERS); do \
	  mkdir -p out/fuzz/$$r && echo "fuzzing the $$r reader for $(FUZZ_SECONDS) s" && \
	  ./fuzz_$$r -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
	    out/fuzz/$$r data/fuzz/$$r > out/fuzz/$$r.log 2>&1; status=$$?; \
	  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs" out/fuzz/$$r.log; \
	  [ $$status -eq 0 ] || { tail -40 out/fuzz/$$r.log; echo "the $$r reader failed: out/fuzz/$$r.log"; exit 1; }; \
	done

# the whole test suite under valgrind memcheck, the programs it starts included: zero errors, zero
# leaks. Built without -march=native (valgrind 3.19 does not decode AVX-512) and without OpenMP
# (libgomp keeps its thread pool to the end). Slow: over an hour; O1P_TESTS=a,b runs only those tests.
VALGRIND = valgrind --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect,possible \
  --errors-for-leak-kinds=definite,indirect,possible --trace-children=yes --trace-children-skip='*/sh,*/rm'
memcheck:
	$(MAKE) o1pruner test_o1pruner NATIVE= NO_OMP=1 CFLAGS="-O2 -g"
	O1P_TESTS=$(O1P_TESTS) $(VALGRIND) ./test_o1pruner

clean:
	rm -f o1pruner o1pruner.exe test_o1pruner fuzz_checkpoint fuzz_presampled fuzz_vectors fuzz_dataset fuzz_samples $(STAMP)
