# o1pruner - build with any C11 compiler: `make`, `make test`, `make run`.
CC ?= cc
CFLAGS ?= -O3
# -ffp-contract=off: no fused multiply-add, so results are the same bits with gcc and clang,
# with or without -march=native, and on any thread count (README "Determinism").
# -fno-trapping-math (clang's default): lets gcc vectorise loops with comparisons; no result changes.
BASEFLAGS = -std=c11 -Wall -Wextra -pedantic -ffp-contract=off -fno-trapping-math
LDLIBS = -lm

# -march=native when the compiler accepts it
NATIVE := $(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo -march=native)
# OpenMP when the compiler has it, unless NO_OMP=1
ifeq ($(NO_OMP),1)
  OMP := -Wno-unknown-pragmas
else
  OMP := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
  ifeq ($(OMP),)
    OMP := -Wno-unknown-pragmas
  endif
endif

ALLFLAGS = $(BASEFLAGS) $(CFLAGS) $(NATIVE) $(OMP)

# rebuild when the compiler or the flags change (e.g. `make test NO_OMP=1` after `make`)
STAMP := .build-flags
$(shell echo '$(CC) $(ALLFLAGS)' | cmp -s - $(STAMP) || echo '$(CC) $(ALLFLAGS)' > $(STAMP))

.PHONY: all test run bench reference vectors data clean

all: o1pruner

o1pruner: o1pruner.c o1pruner.h $(STAMP)
	$(CC) $(ALLFLAGS) -o $@ o1pruner.c $(LDLIBS)

test_o1pruner: test.c o1pruner.c o1pruner.h $(STAMP)
	$(CC) $(ALLFLAGS) -o $@ test.c $(LDLIBS)

test: test_o1pruner o1pruner
	./test_o1pruner

run: o1pruner
	./o1pruner run

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

clean:
	rm -f o1pruner test_o1pruner $(STAMP)
