/* o1pruner.c - O1-Pruner (Length-Harmonizing Fine-Tuning, arXiv 2501.12570) in one C file.
 *
 * O1-Pruner teaches a long-thought reasoning model to think shorter without losing accuracy.
 * Sample K solutions per problem from the frozen reference model pi_ref and take their mean
 * length L_ref and accuracy A_ref (Eq. 8-9); reward each solution y with
 * R = L_ref / L(y) - 1 + lambda (A(y) - A_ref) (Eq. 10); fine-tune pi_theta on the off-policy,
 * PPO-clipped objective that weighs each solution by R (Eq. 11). Here: the whole method, and the
 * small GPT-2 it runs on, in plain C11 with libc and libm (OpenMP if the compiler has it).
 *
 * Read this first (an afternoon): o1pruner.h, the API -> section 11, the method -> prune_step,
 * one step of Algorithm 1 -> gpt_forward and gpt_backward (3) -> attention_weights and
 * attention_backward (2) -> gpt_decode_step (4), the forward pass of sampling.
 *
 *     section                                  key functions                         paper
 * PART I, THE METHOD
 *   1 utilities                                exp_f32, log_f64, cos_f64, rng_seed, shuffle
 *   2 the layers, forward beside backward      matmul_forward, attention_forward,
 *                                              layernorm_forward, gelu_forward
 *   3 the model                                gpt_forward, gpt_backward
 *   4 decoding with a KV cache                 gpt_decode_step
 *   5 the optimizer                            adamw_step, train_step
 *   6 the task and its verbose teacher         teacher_trace, grade_response
 *   7 sampling                                 sample_token, generate
 *   8 evaluation                               evaluate
 *   9 stage 1: the reference model pi_ref      run_sft
 *  10 stage 2: pre-sampling                    run_presample                         Alg. 1
 *  11 THE METHOD                               reference_stats                       Eq. 8-9
 *                                              length_reward                         Eq. 10
 *                                              advantages, select_o1_pruner          the weights
 *                                              ppo_clip_loss                         Eq. 11
 *                                              select_baseline, dpo_loss             Sec. 4
 *                                              accuracy_efficiency_score             Sec. 4, AES
 *                                              prune_step                            Alg. 1
 *  12 stage 3: prune                           run_prune                             Alg. 1
 * PART II, THE MACHINERY (a learner can stop at its banner)
 *  13 files                                    crc32_update, atomic_commit
 *  14 checkpoints                              checkpoint_save, checkpoint_load
 *  15 the task's data splits                   split_text, dataset_load
 *  16 the pre-sampled set                      presampled_write, presampled_read
 *  17 the stages' bookkeeping                  stage_begin, stage_save_or_stop
 *  18 the training curve                       curve_step
 *  19 reports                                  print_comparison, write_report, write_svg
 *  20 vectors for other implementations        write_vectors, vectors_check
 *  21 the official data step, real samples     official_weights, mt_next, numpy_sum
 *  22 the command line                         parse_flags, run_pipeline
 *  23 bench                                    cmd_bench
 *  24 main
 *
 * The exact model, method and formats: README.md "The method" and "Specification".
 * Build: make.  Tests: make test (test.c includes this file with O1P_NO_MAIN defined).
 */
#define _POSIX_C_SOURCE 200809L
#include "o1pruner.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <direct.h>
#include <io.h>
#include <windows.h>
#endif

/* Every float and double operation rounded to its own type, or results differ between machines in
 * their last bits. The Makefile passes what makes it so (-msse2 -mfpmath=sse on 32-bit x86,
 * -fexcess-precision=fast to gcc where it would evaluate float in double); the rest is refused. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD != 0
#error "o1pruner needs FLT_EVAL_METHOD 0 (no excess precision): build with make, or see README 'Determinism'"
#endif

/* ########################################################################################## */
/*  PART I - THE METHOD                                                                       */
/* ########################################################################################## */
/* ========================================================================================== */
/* 1. Utilities: allocation, errors, threads, elementary functions, random numbers            */

static const char *program_name = "o1pruner";
#define PI 3.14159265358979323846

/* Allocation failure is not an input error the caller can handle: report it and stop. */
static void *xmalloc(size_t size, const char *what) {
    void *p = size < SIZE_MAX / 2 ? malloc(size ? size : 1) : NULL;
    if (!p) {
        fprintf(stderr, "%s: out of memory allocating %zu bytes for %s; use a smaller batch or model\n",
                program_name, size, what);
        exit(1);
    }
    return p;
}

/* zeroed memory; an impossible count x size is refused by xmalloc rather than wrapping around */
static void *xcalloc(size_t count, size_t size, const char *what) {
    if (size && count > SIZE_MAX / 4 / size) count = SIZE_MAX / 4 / size; /* xmalloc refuses it */
    void *p = xmalloc(count * size, what);
    memset(p, 0, count * size);
    return p;
}

/* the one-line message of a failure, into err (O1P_ERR_LEN bytes; NULL: none). Returns -1, so
 * that `return seterr(err, ...);` reports and fails in one. */
static int seterr(char *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, O1P_ERR_LEN, fmt, ap);
    va_end(ap);
    return -1;
}

/* wall-clock seconds, from a monotonic clock where there is one: progress lines and bench only,
 * never results */
static double now_seconds(void) {
#ifdef _WIN32
    LARGE_INTEGER ticks, per_second;
    QueryPerformanceCounter(&ticks);
    QueryPerformanceFrequency(&per_second);
    return (double)ticks.QuadPart / (double)per_second.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

/* the thread count of every parallel loop; results do not depend on it (README "Determinism") */
void set_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

/* the thread count the parallel loops will use, for the progress lines */
static int get_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* x[0..n) = 0, in blocks over the threads (the activation gradients are hundreds of MB) */
static void zero_floats(float *x, size_t n) {
    const size_t block = (size_t)1 << 16;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i += block) memset(x + i, 0, (n - i < block ? n - i : block) * sizeof(float));
}

/* The elementary functions every result depends on, our own instead of libm's, because libms
 * differ in the last bit between systems (README "Determinism"). Each is + - * / and exact
 * conversions only, in a fixed order (no fused multiply-add: the build has -ffp-contract=off), so
 * the same bits come out of any IEEE 754 machine, and each is within about 1 ulp. exp: x = k ln 2
 * + r, |r| <= ln(2)/2, k = round(x / ln 2) (the addition of 1.5 * 2^23 or 2^52 rounds to a whole
 * number), ln 2 in two parts so that k * ln2_hi is exact; e^r by its Taylor series; 2^k built
 * from bits in two factors, so that results near the limits become denormal or inf, not wrong. */
static float pow2_f32(int e) { /* 2^e for -126 <= e <= 127 */
    uint32_t bits = (uint32_t)(e + 127) << 23;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static double pow2_f64(int e) { /* 2^e for -1022 <= e <= 1023 */
    uint64_t bits = (uint64_t)(e + 1023) << 52;
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* e^x in float, branch-free so that loops of it vectorise (softmax, GELU). NaN gives inf. */
static inline float exp_f32(float x) {
    x = x < 88.8f ? x : 88.8f;    /* past 88.72: inf */
    x = x > -104.0f ? x : -104.0f; /* past -103.97: 0 */
    float k = (x * 1.44269502f + 12582912.0f) - 12582912.0f;
    float r = (x - k * 0.693145751953125f) - k * 1.42860677e-6f;
    float p = 1.98412701e-4f;     /* 1/7!, then Horner down to 1/0! */
    p = p * r + 1.38888892e-3f;
    p = p * r + 8.33333377e-3f;
    p = p * r + 4.16666679e-2f;
    p = p * r + 1.66666672e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int n = (int)k, n1 = n / 2;
    return p * pow2_f32(n1) * pow2_f32(n - n1);
}

/* 1/n! for n = 0..18, the nearest doubles: the Taylor coefficients of exp and cos */
static const double inv_factorial[19] = {
    1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.0083333333333333332,
    0.0013888888888888889, 0.00019841269841269841, 2.4801587301587302e-05, 2.7557319223985893e-06,
    2.7557319223985888e-07, 2.505210838544172e-08, 2.08767569878681e-09, 1.6059043836821613e-10,
    1.1470745597729725e-11, 7.6471637318198164e-13, 4.7794773323873853e-14, 2.8114572543455206e-15,
    1.5619206968586225e-16};

/* e^x in double; the series to 1/13! */
static double exp_f64(double x) {
    x = x < 709.8 ? x : 709.8;   /* past 709.78: inf */
    x = x > -745.2 ? x : -745.2; /* past -745.13: 0 */
    double k = (x * 1.4426950408889634 + 6755399441055744.0) - 6755399441055744.0;
    double r = (x - k * 0.69314718036912381649) - k * 1.90821492927058770002e-10;
    double p = inv_factorial[13];
    for (int i = 12; i >= 0; i--) p = p * r + inv_factorial[i];
    int n = (int)k, n1 = n / 2;
    return p * pow2_f64(n1) * pow2_f64(n - n1);
}

/* ln x for x > 0: x = (1 + f) 2^e with 1 + f in [sqrt(1/2), sqrt(2)); with s = f / (2 + f),
 * ln(1 + f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R), R = 2 s^2/3 + 2 s^4/5 + ... + 2 s^22/23
 * (|s| <= 0.1716), arranged so that f, exact, comes in last; plus e ln 2 in two parts */
static double log_f64(double x) {
    if (!(x > 0)) return x == 0 ? -INFINITY : NAN;
    if (isinf(x)) return x;
    int e = 0;
    if (x < 2.2250738585072014e-308) { /* denormal: scale into the normal range first */
        x *= 18014398509481984.0;      /* 2^54 */
        e = -54;
    }
    uint64_t bits;
    memcpy(&bits, &x, 8);
    e += (int)(bits >> 52) - 1023;
    bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* 1 + f in [1, 2) */
    double m;
    memcpy(&m, &bits, 8);
    if (m > 1.4142135623730951) {
        m *= 0.5;
        e++;
    }
    double f = m - 1.0, s = f / (2.0 + f), s2 = s * s, half_f2 = 0.5 * f * f, R = 2.0 / 23;
    for (int j = 21; j >= 3; j -= 2) R = R * s2 + 2.0 / j;
    R *= s2;
    double low = s * (half_f2 + R) + e * 1.90821492927058770002e-10;
    return e * 0.69314718036912381649 - ((half_f2 - low) - f);
}

/* ln(1 + x) for x > -1, without losing the digits of a small x: u = 1 + x rounds, and
 * ln(1 + x) = ln u - ((u - 1) - x) / u puts back what the rounding took */
static double log1p_f64(double x) {
    double u = 1.0 + x;
    if (u == 1.0) return x;
    return log_f64(u) - ((u - 1.0) - x) / u;
}

/* cos x for |x| < 2^20 (here x is in [0, 2 pi]): x = k pi/2 + r, |r| <= pi/4, pi/2 in three
 * parts (the first two with 33 bits, so that k times them is exact); then cos r, -sin r, -cos r
 * or sin r by k mod 4, by their Taylor series to the 18th power of r, each arranged so that its
 * exact first terms come in last: cos r = w + ((1 - w) - r^2/2) + r^4 C, w = 1 - r^2/2, and
 * sin r = r + r^3 S */
static double cos_f64(double x) {
    double k = (x * 0.63661977236758138 + 6755399441055744.0) - 6755399441055744.0;
    double r = (x - k * 1.57079632673412561417) - k * 6.0771005063039659766e-11;
    r -= k * 2.02226624879595063154e-21;
    double z = r * r, C = inv_factorial[18], S = -inv_factorial[17];
    for (int i = 16; i >= 4; i -= 2) C = -C * z + inv_factorial[i]; /* 1/4! - z/6! + ... + z^7/18! */
    for (int i = 15; i >= 3; i -= 2) S = -S * z - inv_factorial[i]; /* -1/3! + z/5! - ... + z^7/17! */
    double half_z = 0.5 * z, w = 1.0 - half_z;
    double c = w + (((1.0 - w) - half_z) + z * z * C), s = r + r * z * S;
    int quadrant = ((int)k % 4 + 4) % 4;
    return quadrant == 0 ? c : quadrant == 1 ? -s : quadrant == 2 ? -c : s;
}

/* b^n for a whole n >= 0, by squaring (the bits of n from the lowest: the result times b^(2^i)
 * for each bit i that is set), in double-double arithmetic: each number is hi + lo, each product
 * exact as a sum of two doubles (Dekker's product, + - * only), so that 40 squarings lose nothing
 * and the result rounds once, at the end. For results above about 1e-290. */
static void split_f64(double a, double *hi, double *lo) { /* a = hi + lo, 26 bits each */
    double c = 134217729.0 * a; /* 2^27 + 1 */
    *hi = c - (c - a);
    *lo = a - *hi;
}

static void mul_f64x2(double *hi, double *lo, double yh, double yl) { /* (hi, lo) *= (yh, yl) */
    double ah, al, bh, bl, p = *hi * yh;
    split_f64(*hi, &ah, &al);
    split_f64(yh, &bh, &bl);
    double e = ((ah * bh - p) + ah * bl + al * bh) + al * bl; /* p + e = hi * yh exactly */
    e += *hi * yl + *lo * yh;
    *hi = p + e;
    *lo = e - (*hi - p);
}

static double powi_f64(double b, long n) {
    double rh = 1.0, rl = 0.0, bh = b, bl = 0.0;
    for (; n > 0; n >>= 1) {
        if (n & 1) mul_f64x2(&rh, &rl, bh, bl);
        double sh = bh, sl = bl;
        mul_f64x2(&bh, &bl, sh, sl);
    }
    return rh + rl;
}

/* Random numbers: xoshiro256** seeded through splitmix64, so that any seed (0 included) and any
 * (stream_a, stream_b) pair gives an independent, well-mixed stream. Every sample, problem and
 * parameter tensor draws from its own stream: results never depend on the order of work. */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* the stream (seed, stream_a, stream_b): each pair of indices mixed in through splitmix64, so
 * neighbouring streams (sample 1, sample 2) are as unrelated as any two */
void rng_seed(Rng *rng, uint64_t seed, uint64_t stream_a, uint64_t stream_b) {
    uint64_t x = seed;
    x = splitmix64(&x) ^ stream_a;
    x = splitmix64(&x) ^ stream_b;
    x = splitmix64(&x);
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256**, the next 64 random bits */
uint64_t rng_u64(Rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

float rng_uniform(Rng *rng) { return (float)(rng_u64(rng) >> 40) * (1.0f / 16777216.0f); }

/* Box-Muller in double, one normal per call (the second one is dropped: simpler to reproduce) */
double rng_normal(Rng *rng) {
    double u1 = 1.0 - (double)(rng_u64(rng) >> 11) * 0x1.0p-53; /* (0, 1] */
    double u2 = (double)(rng_u64(rng) >> 11) * 0x1.0p-53;       /* [0, 1) */
    return sqrt(-2.0 * log_f64(u1)) * cos_f64(2.0 * PI * u2);
}

/* Fisher-Yates: x[i] swapped with x[j], j uniform in 0..i, for i from n-1 down to 1 */
static void shuffle(int *x, int n, Rng *rng) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_u64(rng) % (uint64_t)(i + 1));
        int t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

/* qsort's comparisons, without the overflow of a subtraction */
static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* Sort keys (value, index) in one 64-bit number, the value in the high half: sorting them sorts by
 * value, ties by index. 64 bits on every platform: a long has 32 on 32-bit systems and Windows. */
static uint64_t sort_key(int value, int index) { return (uint64_t)(uint32_t)value << 32 | (uint32_t)index; }
static int key_index(uint64_t key) { return (int)(key & 0xffffffffu); }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* ========================================================================================== */
/* 2. The layers, each *_forward beside its *_backward. N = B*T rows of the residual stream.  */
/*    Parallel loops only ever split independent outputs, and every sum runs in one fixed     */
/*    order, so results are bitwise identical for any thread count.                           */

/* encoder: (B,T) token ids -> (B,T,C) = wte[token] + wpe[position] */
static void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe,
                            int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *we = wte + (size_t)inp[b * T + t] * C, *pe = wpe + (size_t)t * C;
            for (int i = 0; i < C; i++) o[i] = we[i] + pe[i];
        }
}

/* serial on purpose: several positions add into the same row of dwte */
static void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp,
                             int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            float *dwe = dwte + (size_t)inp[b * T + t] * C, *dpe = dwpe + (size_t)t * C;
            for (int i = 0; i < C; i++) { dwe[i] += d[i]; dpe[i] += d[i]; }
        }
}

/* layernorm: (N,C) -> (N,C), keeping mean and rstd (N) for the backward pass.
 * Mean and variance (population, eps 1e-5) are accumulated in double. */
#define LN_EPS 1e-5
#define LN_CHANNELS 32
/* n rows (C floats apart): out = (x - mean) / sqrt(var + eps) * weight + bias. The mean and the
 * variance are sums in double in order, chains of adds that each wait on the one before: two rows at
 * a time run two chains side by side (each row's sums unchanged). */
static void layernorm_rows(float *o, float *mean, float *rstd, const float *x, const float *weight,
                           const float *bias, int C, int n) {
    for (int r = 0; r < n; r += 2) {
        const float *x0 = x + (size_t)r * C, *x1 = r + 1 < n ? x0 + C : x0; /* n odd: the last twice */
        double m0 = 0.0, m1 = 0.0, v0 = 0.0, v1 = 0.0;
        for (int i = 0; i < C; i++) { m0 += x0[i]; m1 += x1[i]; }
        m0 /= C;
        m1 /= C;
        for (int i = 0; i < C; i++) {
            v0 += (x0[i] - m0) * (x0[i] - m0);
            v1 += (x1[i] - m1) * (x1[i] - m1);
        }
        double m[2] = {m0, m1}, v[2] = {v0 / C, v1 / C};
        for (int k = 0; k < 2 && r + k < n; k++) {
            const float *xk = x + (size_t)(r + k) * C;
            float *ok = o + (size_t)(r + k) * C;
            float mf = (float)m[k], s = (float)(1.0 / sqrt(v[k] + LN_EPS));
            for (int i = 0; i < C; i++) ok[i] = (xk[i] - mf) * s * weight[i] + bias[i];
            mean[r + k] = mf;
            rstd[r + k] = s;
        }
    }
}

/* every row, over the threads, two rows at a time */
static void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C) {
#pragma omp parallel for
    for (int n = 0; n < N; n += 2)
        layernorm_rows(out + (size_t)n * C, mean + n, rstd + n, inp + (size_t)n * C, weight, bias, C,
                       N - n < 2 ? N - n : 2);
}

/* dinp += d x of each row (the mean and the variance depend on every x of the row, hence the two
 * row means a and c); dweight, dbias += sums over the rows */
static void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int N, int C) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        float m = mean[n], s = rstd[n];
        double dnorm_mean = 0.0, dnorm_norm_mean = 0.0;
        for (int i = 0; i < C; i++) {
            float dnorm = d[i] * weight[i];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * ((x[i] - m) * s);
        }
        float a = (float)(dnorm_mean / C), c = (float)(dnorm_norm_mean / C);
        float *dx = dinp + (size_t)n * C;
        for (int i = 0; i < C; i++) dx[i] += s * (d[i] * weight[i] - a - (x[i] - m) * s * c);
    }
    /* gain and bias gradients sum over rows, in order: a block of LN_CHANNELS channels per iteration,
     * their sums in registers while the rows stream by */
#pragma omp parallel for
    for (int i0 = 0; i0 < C; i0 += LN_CHANNELS) {
        int m = C - i0 < LN_CHANNELS ? C - i0 : LN_CHANNELS;
        float dw[LN_CHANNELS] = {0}, db[LN_CHANNELS] = {0};
        for (int n = 0; n < N; n++) {
            const float *d = dout + (size_t)n * C + i0, *x = inp + (size_t)n * C + i0;
            if (m == LN_CHANNELS)
                for (int i = 0; i < LN_CHANNELS; i++) {
                    dw[i] += d[i] * ((x[i] - mean[n]) * rstd[n]);
                    db[i] += d[i];
                }
            else
                for (int i = 0; i < m; i++) { dw[i] += d[i] * ((x[i] - mean[n]) * rstd[n]); db[i] += d[i]; }
        }
        for (int i = 0; i < m; i++) { dweight[i0 + i] += dw[i]; dbias[i0 + i] += db[i]; }
    }
}

/* The one matrix kernel behind every linear layer, forward and backward:
 *   out (N,M) = init + A (N,K) @ Bm (K,M),   A and Bm in place or in panels (LeftMatrix, RightMatrix),
 * init = bias broadcast (bias != NULL), else out itself (accumulate), else 0.
 * A tile of TILE_ROWS x TILE_COLS outputs is held in registers while k runs, so Bm is read along its
 * rows and the innermost loop vectorises without reassociating any sum: every output is accumulated
 * in order k = 0..K-1, in the tiled path and in the edge path alike, whatever the thread count and
 * whatever the tile size. So the tile is chosen for the vector registers of the machine compiled for,
 * by measurement (README "Speed"; one core of a Zen 4, GFLOP/s at the model's shapes). Without FMA
 * an update is a multiply into a temporary, then an add. AVX-512, 32 registers of 16 floats: 6 x 64,
 * 24 accumulators (72-82; 8 x 48 the same, 8 x 32 61-69). AVX2, 16 of 8 floats: 6 x 16, 12
 * accumulators, 2 vectors of Bm, a broadcast of A and a temporary (69-91; the 8 x 32 before it,
 * whose 32 accumulators went through L1, 61-76). NEON, 32 of 4 floats: 4 x 24, 24 accumulators (not
 * measured). Otherwise (SSE2, 16 of 4): 3 x 16, 12 accumulators (34-38; 8 x 32, 26). gcc unrolls a
 * loop of 16 or fewer fixed iterations completely before it vectorises, and then vectorises across
 * the rows instead, 10x slower: TILE_COLS_LOOP, before the loop over a tile's columns, keeps it a
 * loop for the vectoriser (clang needs no such hint, and with it keeps the accumulators in memory). */
#if defined(__AVX512F__)
#define VECTOR_ISA "AVX-512"
#define VECTOR_REGISTERS 32
#define VECTOR_FLOATS 16
#define TILE_ROWS 6
#define TILE_COLS 64
#elif defined(__AVX__)
#define VECTOR_ISA "AVX2"
#define VECTOR_REGISTERS 16
#define VECTOR_FLOATS 8
#define TILE_ROWS 6
#define TILE_COLS 16
#elif defined(__ARM_NEON) || defined(__aarch64__)
#define VECTOR_ISA "NEON"
#define VECTOR_REGISTERS 32
#define VECTOR_FLOATS 4
#define TILE_ROWS 4
#define TILE_COLS 24
#else
#define VECTOR_ISA "portable (SSE2 or scalar)"
#define VECTOR_REGISTERS 16
#define VECTOR_FLOATS 4
#define TILE_ROWS 3
#define TILE_COLS 16
#endif
#if defined(__GNUC__) && !defined(__clang__)
#define TILE_COLS_LOOP _Pragma("GCC unroll 8")
#else
#define TILE_COLS_LOOP
#endif
/* the first term of each output: bias, out itself, or 0 */
static const float zero_row[TILE_COLS];
static const float *tile_init(const float *out, const float *bias, int accumulate) {
    return bias ? bias : accumulate ? out : zero_row;
}

/* The kernel's operands: the left-hand matrix A (N,K), read in place, row-major or transposed,
 * and the right-hand Bm (K,M), read in place or packed first into panels:
 *     A(r,k)  at a.at[r * a.row + k * a.col]
 *     Bm(k,j) at b.at[(j / TILE_COLS) * b.panel + k * b.row + j % TILE_COLS]
 * Panels: column tile ct of Bm as a (K, TILE_COLS) row-major block at ct * K * TILE_COLS (the columns
 * past M in the last one are never read), so that a tile reads one contiguous stream. In place, a
 * tile's successive k lie a row of Bm apart, and at rows of 384 or 512 floats those lines fall on a
 * quarter or an eighth of L1's sets and evict each other (one Zen 4 core, the tile alone at K = 128:
 * 384 columns 74-76 GFLOP/s in place, 85 in panels). The weights, small, always go in panels (once a
 * pass, or once a decoder); the weight gradient reads its activations in place, where packing them
 * cost as much as it saved (README "Speed"). */
typedef struct { const float *at; size_t row, col; } LeftMatrix;
typedef struct { const float *at; size_t panel, row; } RightMatrix;
/* A row-major (N,K) */
static LeftMatrix rows_of(const float *a, int K) { return (LeftMatrix){a, (size_t)K, 1}; }
/* Bm row-major (K,M), in place */
static RightMatrix right_in_place(const float *bm, int M) { return (RightMatrix){bm, TILE_COLS, (size_t)M}; }
/* Bm packed by pack_panels */
static size_t panel_floats(int K, int M) {
    return (size_t)K * (size_t)((M + TILE_COLS - 1) / TILE_COLS * TILE_COLS);
}
static RightMatrix panels_of(const float *bm, int K) {
    return (RightMatrix){bm, (size_t)K * TILE_COLS, TILE_COLS};
}

/* rows k0..k1-1 of Bm (K,M) into its panels, Bm(k,j) = src[k*k_stride + j*j_stride] */
static void pack_panels(float *restrict bm, const float *restrict src, size_t k_stride, size_t j_stride,
                        int K, int M, int k0, int k1) {
    for (int c0 = 0; c0 < M; c0 += TILE_COLS)
        for (int k = k0; k < k1; k++) {
            float *restrict dst = bm + ((size_t)c0 * K + (size_t)k * TILE_COLS);
            for (int j = 0; j < TILE_COLS && c0 + j < M; j++)
                dst[j] = src[k * k_stride + (c0 + j) * j_stride];
        }
}

/* one full tile, TILE_ROWS x TILE_COLS outputs; fixed sizes let the compiler keep acc in registers.
 * K >= 1, and k = 0 adds its products to the first terms as they load: init + x b is what acc = init,
 * acc += x b does, and a copy of the first terms alone went through the stack (gcc), a stalled
 * store-to-load forward per vector. bm: the tile's panel; out: M floats a row. */
static void matmul_tile(float *restrict out, const float *restrict a, const float *restrict bm,
                        const float *restrict bias, int accumulate, size_t a_row, size_t a_col, size_t b_row,
                        int K, int M) {
    float acc[TILE_ROWS][TILE_COLS];
    for (int r = 0; r < TILE_ROWS; r++) {
        const float *init = tile_init(out + (size_t)r * M, bias, accumulate);
        float x = a[r * a_row];
        TILE_COLS_LOOP
        for (int j = 0; j < TILE_COLS; j++) acc[r][j] = init[j] + x * bm[j];
    }
    for (int k = 1; k < K; k++) {
        const float *restrict b = bm + k * b_row;
        for (int r = 0; r < TILE_ROWS; r++) {
            float x = a[r * a_row + k * a_col];
            TILE_COLS_LOOP
            for (int j = 0; j < TILE_COLS; j++) acc[r][j] += x * b[j];
        }
    }
    for (int r = 0; r < TILE_ROWS; r++) {
        TILE_COLS_LOOP
        for (int j = 0; j < TILE_COLS; j++) out[(size_t)r * M + j] = acc[r][j];
    }
}

/* one row of a tile, TILE_COLS wide: the rows of a tile cut by the bottom edge (decoding one
 * sample is all such rows), in registers too */
static void matmul_row_tile(float *restrict out, const float *restrict a, const float *restrict bm,
                            const float *restrict bias, int accumulate, size_t a_col, size_t b_row, int K) {
    float acc[TILE_COLS];
    const float *init = tile_init(out, bias, accumulate);
    TILE_COLS_LOOP
    for (int j = 0; j < TILE_COLS; j++) acc[j] = init[j] + a[0] * bm[j]; /* k = 0, as in matmul_tile */
    for (int k = 1; k < K; k++) {
        const float *restrict b = bm + k * b_row;
        float x = a[k * a_col];
        TILE_COLS_LOOP
        for (int j = 0; j < TILE_COLS; j++) acc[j] += x * b[j];
    }
    TILE_COLS_LOOP
    for (int j = 0; j < TILE_COLS; j++) out[j] = acc[j];
}

/* a tile cut by the edge of the matrix: rows r < rn, columns j < jn, same order of operations */
static void matmul_edge_tile(float *restrict out, const float *restrict a, const float *restrict bm,
                             const float *restrict bias, int accumulate, size_t a_row, size_t a_col,
                             size_t b_row, int K, int M, int rn, int jn) {
    if (jn == TILE_COLS) {
        for (int r = 0; r < rn; r++)
            matmul_row_tile(out + (size_t)r * M, a + r * a_row, bm, bias, accumulate, a_col, b_row, K);
        return;
    }
    float acc[TILE_ROWS][TILE_COLS];
    for (int r = 0; r < rn; r++)
        for (int j = 0; j < jn; j++)
            acc[r][j] = bias ? bias[j] : accumulate ? out[(size_t)r * M + j] : 0.0f;
    for (int k = 0; k < K; k++) {
        const float *restrict b = bm + k * b_row;
        for (int r = 0; r < rn; r++) {
            float x = a[r * a_row + k * a_col];
            for (int j = 0; j < jn; j++) acc[r][j] += x * b[j];
        }
    }
    for (int r = 0; r < rn; r++)
        for (int j = 0; j < jn; j++) out[(size_t)r * M + j] = acc[r][j];
}

/* tile (rt, ct) of the k block k0..k0+kn-1 (the arguments as for matmul_kernel) */
static void matmul_tile_at(float *out, LeftMatrix a, RightMatrix b, const float *bias, int accumulate,
                           int N, int M, int k0, int kn, int rt, int ct) {
    int r0 = rt * TILE_ROWS, c0 = ct * TILE_COLS;
    int rn = N - r0 < TILE_ROWS ? N - r0 : TILE_ROWS, jn = M - c0 < TILE_COLS ? M - c0 : TILE_COLS;
    float *o = out + (size_t)r0 * M + c0;
    const float *ar = a.at + r0 * a.row + k0 * a.col, *bk = b.at + ct * b.panel + k0 * b.row;
    const float *init = k0 == 0 && bias ? bias + c0 : NULL;
    int acc_init = k0 == 0 ? accumulate : 1;
    if (rn == TILE_ROWS && jn == TILE_COLS)
        matmul_tile(o, ar, bk, init, acc_init, a.row, a.col, b.row, kn, M);
    else matmul_edge_tile(o, ar, bk, init, acc_init, a.row, a.col, b.row, kn, M, rn, jn);
}

/* k runs in blocks, all tiles of a block before the next, so the slice of Bm a tile reads stays in
 * cache; each output still sees k in increasing order. A static schedule gives each thread the same
 * tiles in every block, so threads go on to the next block without waiting. Blocks of 256, but of
 * 64 when A is read down its columns (the weight gradient, k running over the batch's
 * rows) and a tile is narrow (AVX2 at 512 columns: 98-122 GFLOP/s against 81-95 with 256; AVX-512
 * is 5% faster with 256). */
#define K_BLOCK 256
static int k_block(LeftMatrix a) {
    return a.col != 1 && TILE_COLS < 64 ? 64 : K_BLOCK;
}
/* the tiles of out (N,M) = init + A (N,K) @ Bm (K,M), shared among the threads of the enclosing
 * parallel region, which go on without waiting at the end */
static void matmul_tiles(float *out, LeftMatrix a, RightMatrix b, const float *bias, int accumulate,
                         int N, int K, int M) {
    int row_tiles = (N + TILE_ROWS - 1) / TILE_ROWS, col_tiles = (M + TILE_COLS - 1) / TILE_COLS;
    int block = k_block(a);
    for (int k0 = 0; k0 < K; k0 += block) {
        int kn = K - k0 < block ? K - k0 : block;
#pragma omp for collapse(2) schedule(static) nowait
        for (int rt = 0; rt < row_tiles; rt++)
            for (int ct = 0; ct < col_tiles; ct++)
                matmul_tile_at(out, a, b, bias, accumulate, N, M, k0, kn, rt, ct);
    }
}

/* the whole product over the threads: init = bias broadcast (bias != NULL), else out itself
 * (accumulate), else 0 */
static void matmul_kernel(float *out, LeftMatrix a, RightMatrix b, const float *bias, int accumulate,
                          int N, int K, int M) {
#pragma omp parallel
    matmul_tiles(out, a, b, bias, accumulate, N, K, M);
}

/* the same product on the calling thread alone (the decoder's threads each own whole samples), a
 * column of tiles at a time: the few rows of a decoding step share each panel of the weights */
static void matmul_serial(float *out, LeftMatrix a, RightMatrix b, const float *bias, int N, int K, int M) {
    int row_tiles = (N + TILE_ROWS - 1) / TILE_ROWS, col_tiles = (M + TILE_COLS - 1) / TILE_COLS;
    int block = k_block(a);
    for (int k0 = 0; k0 < K; k0 += block) {
        int kn = K - k0 < block ? K - k0 : block;
        for (int ct = 0; ct < col_tiles; ct++)
            for (int rt = 0; rt < row_tiles; rt++) matmul_tile_at(out, a, b, bias, 0, N, M, k0, kn, rt, ct);
    }
}

/* the floats of scratch that matmul_forward and matmul_backward need: a weight in panels */
static size_t matmul_scratch_floats(int C, int OC) {
    size_t forward = panel_floats(C, OC), backward = panel_floats(OC, C);
    return forward > backward ? forward : backward;
}

/* matmul: out (N,OC) = inp (N,C) @ weight^T + bias, weight (OC,C) like nn.Linear.weight.
 * The kernel's Bm is weight^T (C,OC): pack it into panels in scratch first (C*OC floats, small
 * next to the N*C*OC multiply-adds; serial, too small to pay for a barrier). */
static void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                           int N, int C, int OC, float *scratch) {
    pack_panels(scratch, weight, 1, (size_t)C, C, OC, 0, C);
    matmul_kernel(out, rows_of(inp, C), panels_of(scratch, C), bias, 0, N, C, OC);
}

/* dinp (N,C) = dout (N,OC) @ weight (OC,C);  dweight (OC,C) += dout^T @ inp (N,C);
 * dbias (OC) += column sums of dout. dinp is written, not accumulated: in this model a linear
 * layer's input feeds nothing else, so this is its whole gradient (and it need not be zeroed).
 * One parallel region: the threads pack the weight into panels (scratch), then share the tiles of
 * both products and the bias sums, and wait only at the end. */
static void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int N, int C, int OC, float *scratch) {
    LeftMatrix dout_t = {dout, 1, (size_t)OC}; /* A = dout^T: A(o,n) = dout[n*OC+o] */
#pragma omp parallel
    {
#pragma omp for schedule(static)
        for (int o = 0; o < OC; o++) pack_panels(scratch, weight, (size_t)C, 1, OC, C, o, o + 1);
        matmul_tiles(dinp, rows_of(dout, OC), panels_of(scratch, OC), NULL, 0, N, OC, C);
        matmul_tiles(dweight, dout_t, right_in_place(inp, C), NULL, 1, OC, N, C);
        if (dbias) /* column sums, rows in order; a block of 64 columns per iteration */
#pragma omp for schedule(static) nowait
            for (int o0 = 0; o0 < OC; o0 += 64) {
                int m = OC - o0 < 64 ? OC - o0 : 64;
                for (int n = 0; n < N; n++)
                    for (int o = o0; o < o0 + m; o++) dbias[o] += dout[(size_t)n * OC + o];
            }
    }
}

/* Causal self-attention, the plain math. For each sequence b and head h (channels h*hs..h*hs+hs-1
 * of q, k and v; hs = C/H), and each position t:
 *     score[t2] = (q_t . k_t2) / sqrt(hs)                   for t2 = 0..t (causal: not after t)
 *     att[t2]   = exp(score[t2] - max) / sum_t2' exp(score[t2'] - max)        (softmax)
 *     out_t     = sum_t2 att[t2] v_t2
 * that is, out = softmax(q k^T / sqrt(hs), masked) v. test.c's ref_attention is exactly these loops
 * in double, and the tests hold the kernels below to it. The kernels compute the same sums, in
 * the same order for every machine, but lay the keys out so that the compiler can vectorise them:
 *
 * Attention's dot products, ATT_LANES at a time: s[t2] = x . y_t2 for t2 < n, vectors of length hs.
 * The y_t2 are stored as columns, in tiles of ATT_LANES positions: tile b = t2 / ATT_LANES is
 * (hs, ATT_LANES) row-major at yt + b*hs*ATT_LANES (keys_index). A tile is read whole, its unused
 * columns included (their results are dropped), so it must be allocated whole.
 * Each s[t2] is summed like a plain dot product, in 8 interleaved partial sums combined in a fixed
 * order, so its value does not depend on the machine; the columns run side by side, which is what
 * the compiler vectorises, and a tile is one contiguous stream from memory.
 * A worked example of the layout, hs = 3, with 4 lanes instead of 32, for 6 keys k0..k5 (ki[c]:
 * channel c of key i): tile 0 holds k0..k3, tile 1 holds k4, k5 and two unused columns (.):
 *     tile 0:  k0[0] k1[0] k2[0] k3[0] | k0[1] k1[1] k2[1] k3[1] | k0[2] k1[2] k2[2] k3[2]
 *     tile 1:  k4[0] k5[0]   .     .   | k4[1] k5[1]   .     .   | k4[2] k5[2]   .     .
 * so keys_index(5, 1, 3) = (1*3 + 1)*4 + 1 = 17: the 18th float, k5[1]. The dot products of a query
 * x with k0..k3 are then 4 running sums updated by one vector multiply-add per channel. */
#define ATT_LANES 32
static int att_tiles(int T) { return (T + ATT_LANES - 1) / ATT_LANES; }
/* where channel i of key t2 lives in the tiled layout (the worked example above) */
static size_t keys_index(int t2, int i, int hs) {
    return ((size_t)(t2 / ATT_LANES) * hs + i) * ATT_LANES + t2 % ATT_LANES;
}
/* s[t2] = x . y_t2 for t2 < n: the y_t2 in tiles, 8 partial sums per column as described above */
static void dot_columns(float *restrict s, const float *restrict x, const float *restrict yt, int n, int hs) {
    int hs8 = hs / 8 * 8;
    for (int t0 = 0; t0 < n; t0 += ATT_LANES) {
        const float *restrict tile = yt + (size_t)t0 * hs;
        float part[8][ATT_LANES], sum[ATT_LANES];
        /* each partial sum starts at 0 plus its first term: what 0, then += does, without zeroing
         * the 8 x ATT_LANES sums in memory first (a memset call) */
        for (int j = 0; j < 8; j++)
            for (int u = 0; u < ATT_LANES; u++)
                part[j][u] = hs8 ? 0.0f + x[j] * tile[j * ATT_LANES + u] : 0.0f;
        /* either order adds each part[j][u]'s terms in increasing i0. With j inside, gcc keeps all the
         * partial sums in registers, but clang vectorises across j with gathers, 38x slower. */
#ifdef __clang__
        for (int j = 0; j < 8; j++)
            for (int i0 = 8; i0 < hs8; i0 += 8)
#else
        for (int i0 = 8; i0 < hs8; i0 += 8)
            for (int j = 0; j < 8; j++)
#endif
                for (int u = 0; u < ATT_LANES; u++) part[j][u] += x[i0 + j] * tile[(i0 + j) * ATT_LANES + u];
        for (int u = 0; u < ATT_LANES; u++)
            sum[u] = ((part[0][u] + part[1][u]) + (part[2][u] + part[3][u])) +
                     ((part[4][u] + part[5][u]) + (part[6][u] + part[7][u]));
        for (int i = hs8; i < hs; i++)
            for (int u = 0; u < ATT_LANES; u++) sum[u] += x[i] * tile[i * ATT_LANES + u];
        if (n - t0 >= ATT_LANES)
            for (int u = 0; u < ATT_LANES; u++) s[t0 + u] = sum[u];
        else
            for (int u = 0; u < n - t0; u++) s[t0 + u] = sum[u];
    }
}

static const float zero_lanes[ATT_LANES]; /* where a sum from 0 takes its first term's start */
/* The weighted sums below keep ATT_LANES running sums in registers. Inlined into attention_backward,
 * gcc 12 kept them in memory instead, a store and a load per term (its backward pass 20% slower): so
 * they stay functions of their own. */
#if defined(__GNUC__)
#define NOT_INLINED __attribute__((noinline))
#else
#define NOT_INLINED
#endif

/* dst (n, hs), contiguous = the n hs-vectors at src, src + stride, ...: a head's rows of qkv lie 1.5 KB
 * apart, and swept again and again by the weighted sums they fall on 16 of L1's 64 sets */
static void gather_rows(float *restrict dst, const float *restrict src, size_t stride, int n, int hs) {
    for (int t = 0; t < n; t++)
        memcpy(dst + (size_t)t * hs, src + (size_t)t * stride, (size_t)hs * sizeof(float));
}

/* dst = the n hs-vectors at src, src + stride, ... as the columns of dot_columns' tiles */
static void transpose_columns(float *restrict dst, const float *restrict src, size_t stride, int n, int hs) {
    for (int t = 0; t < n; t++)
        for (int i = 0; i < hs; i++) dst[keys_index(t, i, hs)] = src[(size_t)t * stride + i];
}

/* out (hs) = init + sum over j = 0..n-1 of w[j*w_stride] * x_j, x_j at x + j*x_stride, in increasing j;
 * init = out (accumulate) or 0; n >= 1. ATT_LANES channels at a time, their sums held in registers,
 * starting from init + the j = 0 term (as matmul_tile starts: a copy of init alone went through
 * the stack, a stalled store-to-load forward per vector). */
NOT_INLINED
static void weighted_sum(float *restrict out, int accumulate, const float *restrict w, size_t w_stride,
                         const float *restrict x, size_t x_stride, int n, int hs) {
    int i0 = 0;
    for (; i0 + ATT_LANES <= hs; i0 += ATT_LANES) {
        float acc[ATT_LANES];
        const float *init = accumulate ? out + i0 : zero_lanes;
        for (int u = 0; u < ATT_LANES; u++) acc[u] = init[u] + w[0] * x[i0 + u];
        for (int j = 1; j < n; j++) {
            const float *restrict xj = x + (size_t)j * x_stride + i0;
            float wj = w[(size_t)j * w_stride];
            for (int u = 0; u < ATT_LANES; u++) acc[u] += wj * xj[u];
        }
        for (int u = 0; u < ATT_LANES; u++) out[i0 + u] = acc[u];
    }
    for (int i = i0; i < hs; i++) {
        float acc = accumulate ? out[i] : 0.0f;
        for (int j = 0; j < n; j++) acc += w[(size_t)j * w_stride] * x[(size_t)j * x_stride + i];
        out[i] = acc;
    }
}

/* two weighted sums at once, each as weighted_sum adds it (init = out, or 0; n >= 1):
 * out_a = init_a + sum_j w_a[j*w_stride] * xa_j and out_b likewise, over the same j. Two independent
 * chains of adds keep twice as many in flight: one sum alone waits on each add's latency. */
NOT_INLINED
static void weighted_sum_pair(float *restrict out_a, const float *restrict w_a, const float *restrict x_a,
                              size_t xa_stride, float *restrict out_b, const float *restrict w_b,
                              const float *restrict x_b, size_t xb_stride, size_t w_stride, int accumulate,
                              int n, int hs) {
    int i0 = 0;
    for (; i0 + ATT_LANES <= hs; i0 += ATT_LANES) {
        float acc_a[ATT_LANES], acc_b[ATT_LANES];
        const float *init_a = accumulate ? out_a + i0 : zero_lanes;
        const float *init_b = accumulate ? out_b + i0 : zero_lanes;
        for (int u = 0; u < ATT_LANES; u++) {
            acc_a[u] = init_a[u] + w_a[0] * x_a[i0 + u];
            acc_b[u] = init_b[u] + w_b[0] * x_b[i0 + u];
        }
        for (int j = 1; j < n; j++) {
            const float *restrict xa = x_a + (size_t)j * xa_stride + i0;
            const float *restrict xb = x_b + (size_t)j * xb_stride + i0;
            float wa = w_a[(size_t)j * w_stride], wb = w_b[(size_t)j * w_stride];
            for (int u = 0; u < ATT_LANES; u++) {
                acc_a[u] += wa * xa[u];
                acc_b[u] += wb * xb[u];
            }
        }
        for (int u = 0; u < ATT_LANES; u++) { out_a[i0 + u] = acc_a[u]; out_b[i0 + u] = acc_b[u]; }
    }
    if (i0 < hs) { /* the channels past the last whole ATT_LANES, one sum after the other */
        weighted_sum(out_a + i0, accumulate, w_a, w_stride, x_a + i0, xa_stride, n, hs - i0);
        weighted_sum(out_b + i0, accumulate, w_b, w_stride, x_b + i0, xb_stride, n, hs - i0);
    }
}

/* rows t and t+1 of a causal product (row t alone if it is the last, t + 1 = T): out_r = init_r +
 * sum over j <= r of w_r[j] x_j, with out_t+1 = out_t + out_stride and w_t+1 = w_t + w_row. Their
 * common terms j <= t go together, then row t+1's last term: each row adds its terms in order. */
static void causal_rows(float *out_t, size_t out_stride, int accumulate, const float *w_t, size_t w_row,
                        const float *x, size_t x_stride, int t, int T, int hs) {
    if (t + 1 == T) {
        weighted_sum(out_t, accumulate, w_t, 1, x, x_stride, t + 1, hs);
        return;
    }
    float *out_next = out_t + out_stride;
    const float *w_next = w_t + w_row;
    weighted_sum_pair(out_t, w_t, x, x_stride, out_next, w_next, x, x_stride, 1, accumulate, t + 1, hs);
    weighted_sum(out_next, 1, w_next + t + 1, 1, x + (size_t)(t + 1) * x_stride, x_stride, 1, hs);
}

/* columns s and s+1 of a causal product's transpose (column s alone if it is the last, s + 1 = T):
 * out_c = sum over t >= c of w[t][c] x_t, with w_s = &w[s][s] (rows w_row apart) and x_s the row of
 * x at s; out_s+1 = out_s + out_stride. Column s's first term alone, then the rest of both together:
 * they share each row's x_t, and w[t][s+1] lies next to w[t][s]; each sums in increasing t. */
static void causal_columns(float *out_s, size_t out_stride, const float *w_s, size_t w_row, const float *x_s,
                           size_t x_stride, int s, int T, int hs) {
    weighted_sum(out_s, 0, w_s, w_row, x_s, x_stride, 1, hs);
    if (s + 1 == T) return;
    float *out_next = out_s + out_stride;
    for (int i = 0; i < hs; i++) out_next[i] = 0.0f; /* the start of its sum, as weighted_sum's */
    weighted_sum_pair(out_s, w_s + w_row, x_s + x_stride, x_stride, out_next, w_s + w_row + 1, x_s + x_stride,
                      x_stride, w_row, 1, T - s - 1, hs);
}

/* The softmax weights of one query row of causal attention: query q (hs) against the keys at
 * positions 0..t, stored as the columns of keys_t (tiles, see dot_columns), into att_row (t+1). The
 * row's output is then the weighted sum of the values, sum over t2 of att_row[t2] v_t2, summed in
 * order from 0 (weighted_sum, or two rows or heads at once). The training forward pass and the KV-cache
 * decoder both compute it so, and agree bit for bit. The exp has a loop of its own, which vectorises. */
static void attention_weights(float *att_row, const float *q, const float *keys_t, int t, int hs,
                              float scale) {
    dot_columns(att_row, q, keys_t, t + 1, hs);
    float maxv = -INFINITY;
    for (int t2 = 0; t2 <= t; t2++) {
        att_row[t2] *= scale;
        if (att_row[t2] > maxv) maxv = att_row[t2];
    }
    for (int t2 = 0; t2 <= t; t2++) att_row[t2] = exp_f32(att_row[t2] - maxv);
    double sum = 0.0;
    for (int t2 = 0; t2 <= t; t2++) sum += att_row[t2];
    float inv = (float)(1.0 / sum);
    for (int t2 = 0; t2 <= t; t2++) att_row[t2] *= inv;
}

/* causal self-attention: qkv (B,T,3C) -> out (B,T,C), keeping att (B,H,T,T).
 * Head h uses channels h*hs..(h+1)*hs-1 of q, k and v; scores scaled by 1/sqrt(hs).
 * Each thread transposes the keys of its (b,h) pair into keys_t, for dot_columns. */
static void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H) {
    int hs = C / H;
    size_t C3 = (size_t)3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        float *keys_t = xcalloc((size_t)att_tiles(T) * ATT_LANES * hs, sizeof(float), "attention scratch");
#pragma omp for collapse(2)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                const float *seq = qkv + (size_t)b * T * C3 + h * hs;
                float *att_bh = att + ((size_t)b * H + h) * T * T, *out_bh = out + (size_t)b * T * C + h * hs;
                transpose_columns(keys_t, seq + C, C3, T, hs);
                for (int t = 0; t < T; t++) {
                    float *row = att_bh + (size_t)t * T;
                    attention_weights(row, seq + (size_t)t * C3, keys_t, t, hs, scale);
                    for (int t2 = t + 1; t2 < T; t2++) row[t2] = 0.0f;
                }
                for (int t = 0; t < T; t += 2) /* out_t = sum over t2 <= t of att[t][t2] v_t2, two rows */
                    causal_rows(out_bh + (size_t)t * C, (size_t)C, 0, att_bh + (size_t)t * T, (size_t)T,
                                seq + 2 * C, C3, t, T, hs);
            }
        free(keys_t);
    }
}

/* The plain math of the backward pass, per (b, h) and row t, with g = d loss / d out_t:
 *     d att[t2]          = g . v_t2                                          for t2 = 0..t
 *     d (q_t . k_t2)     = att[t2] (d att[t2] - sum_t2' att[t2'] d att[t2']) / sqrt(hs)
 *     d q_t             += sum_t2 d (q_t . k_t2) k_t2
 *     d k_t2            += d (q_t . k_t2) q_t,        d v_t2 += att[t2] g
 * (the middle line is the softmax's Jacobian: d score = att * (d att - <att, d att>)).
 * dqkv (B,T,3C) is written whole from dout (B,T,C): nothing else feeds qkv, so its gradient need not
 * be zeroed first and summed into. datt (B,H,T,T) is scratch. Each (b,h) pair owns its slice
 * of dqkv, so the pairs run in parallel. Every gradient sums its terms in increasing position:
 * first each row's d scores (datt), then dq row by row, then dk and dv position by position, each
 * a weighted sum over the rows t >= t2 (a column of att and of datt). The rows of k, q and dout
 * that those sums sweep are first copied contiguous (gather_rows): with the keys' gradients done
 * before the values', the attention kernels' backward pass is 13-28% faster (README "Speed"). */
static void attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                               const float *att, int B, int T, int C, int H) {
    int hs = C / H;
    size_t C3 = (size_t)3 * C;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel
    {
        float *values_t = xcalloc((size_t)att_tiles(T) * ATT_LANES * hs, sizeof(float), "attention scratch");
        float *rows = xcalloc((size_t)3 * T * hs, sizeof(float), "attention scratch");
        float *keys = rows, *queries = rows + (size_t)T * hs, *grads = rows + (size_t)2 * T * hs;
#pragma omp for collapse(2)
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++) {
                const float *seq = qkv + (size_t)b * T * C3 + h * hs,
                            *dseq_out = dout + (size_t)b * T * C + h * hs;
                const float *att_bh = att + ((size_t)b * H + h) * T * T;
                float *dseq = dqkv + (size_t)b * T * C3 + h * hs,
                      *datt_bh = datt + ((size_t)b * H + h) * T * T;
                transpose_columns(values_t, seq + 2 * C, C3, T, hs);
                gather_rows(keys, seq + C, C3, T, hs);
                gather_rows(queries, seq, C3, T, hs);
                gather_rows(grads, dseq_out, (size_t)C, T, hs);
                for (int t = 0; t < T; t++) {
                    const float *row = att_bh + (size_t)t * T;
                    float *drow = datt_bh + (size_t)t * T;
                    /* through out = att @ v: d att = d out . v; then through the softmax and the
                     * scale to d of the scores q.k */
                    dot_columns(drow, dseq_out + (size_t)t * C, values_t, t + 1, hs);
                    double dot = 0.0;
                    for (int t2 = 0; t2 <= t; t2++) dot += row[t2] * drow[t2];
                    for (int t2 = 0; t2 <= t; t2++) drow[t2] = row[t2] * (drow[t2] - (float)dot) * scale;
                }
                for (int t = 0; t < T; t += 2) /* dq_t = sum over t2 <= t of d score(t,t2) k_t2, two rows */
                    causal_rows(dseq + (size_t)t * C3, C3, 0, datt_bh + (size_t)t * T, (size_t)T, keys,
                                (size_t)hs, t, T, hs);
                /* two positions at a time, the keys' gradients before the values': each reads one
                 * T x T matrix down its columns, which alone stays in L1 */
                for (int t2 = 0; t2 < T; t2 += 2) /* dk_t2 = sum over t >= t2 of d score(t,t2) q_t */
                    causal_columns(dseq + (size_t)t2 * C3 + C, C3, datt_bh + (size_t)t2 * T + t2, (size_t)T,
                                   queries + (size_t)t2 * hs, (size_t)hs, t2, T, hs);
                for (int t2 = 0; t2 < T; t2 += 2) /* dv_t2 = sum over t >= t2 of att(t,t2) d out_t */
                    causal_columns(dseq + (size_t)t2 * C3 + 2 * C, C3, att_bh + (size_t)t2 * T + t2,
                                   (size_t)T, grads + (size_t)t2 * hs, (size_t)hs, t2, T, hs);
            }
        free(values_t);
        free(rows);
    }
}

/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 * tanh(u) = 1 - 2/(exp(2u) + 1): one exp (exp_f32, section 1), several times cheaper than tanh,
 * and within 1e-7 of tanh in absolute terms, which is all GELU's 0.5x(1 + tanh) can see.
 * Each block of GELU_BLOCK elements runs in three loops, each of which vectorises: the polynomial,
 * the exp, the rest. Every element sees the same operations as in one scalar loop, so the same bits.
 * The backward pass needs only GELU's slope at x, and the slope needs the same exp: so the forward
 * pass writes it too (when slope != NULL; it may overwrite inp), and backward is one multiply. */
#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_BLOCK 512
/* one block of m <= GELU_BLOCK elements: out = GELU(x), and (slope != NULL) GELU'(x) */
static void gelu_block(float *out, float *slope, const float *x, size_t m) {
    float e[GELU_BLOCK]; /* exp(2u), u = sqrt(2/pi) (x + 0.044715 x^3) */
    for (size_t i = 0; i < m; i++) e[i] = 2.0f * (GELU_SCALE * (x[i] + 0.044715f * x[i] * x[i] * x[i]));
    for (size_t i = 0; i < m; i++) e[i] = exp_f32(e[i]);
    for (size_t i = 0; i < m; i++) {
        float th = 1.0f - 2.0f / (e[i] + 1.0f), xi = x[i];
        out[i] = 0.5f * xi * (1.0f + th);
        if (slope) {
            float dudx = GELU_SCALE * (1.0f + 3.0f * 0.044715f * xi * xi);
            slope[i] = 0.5f * (1.0f + th) + 0.5f * xi * (1.0f - th * th) * dudx;
        }
    }
}

/* out = GELU(inp), and (slope != NULL) GELU'(inp) for the backward pass, blocks over the threads */
static void gelu_forward(float *out, float *slope, const float *inp, size_t n) {
#pragma omp parallel for
    for (size_t b = 0; b < n; b += GELU_BLOCK)
        gelu_block(out + b, slope ? slope + b : NULL, inp + b, n - b < GELU_BLOCK ? n - b : GELU_BLOCK);
}

/* dinp += dout * GELU'(x), the slope the forward pass kept */
static void gelu_backward(float *dinp, const float *slope, const float *dout, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * slope[i];
}

/* residual: out = a + b */
static void residual_forward(float *out, const float *a, const float *b, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

/* a sum passes its gradient to both inputs unchanged */
static void residual_backward(float *da, float *db, const float *dout, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) { da[i] += dout[i]; db[i] += dout[i]; }
}

/* one row of the log-softmax: logits z (V) -> probs p (V; NULL: not wanted), returns
 * log p(target) (0 for target < 0). The sampler calls it too, for log pi_ref of what it draws:
 * the same function on the same logits, so the same bits as the forward pass (section 7). */
static float logprob_row(float *p, const float *z, int V, int target) {
    float maxv = z[0];
    for (int v = 1; v < V; v++) if (z[v] > maxv) maxv = z[v];
    double sum = 0.0;
    for (int v = 0; v < V; v++) sum += exp_f64((double)(z[v] - maxv));
    double logsum = log_f64(sum);
    if (p)
        for (int v = 0; v < V; v++) p[v] = (float)exp_f64((double)(z[v] - maxv) - logsum);
    return target >= 0 ? (float)((double)(z[target] - maxv) - logsum) : 0.0f;
}

/* log-softmax at the targets: logits (N,V) -> probs (N,V), logprob (N) = log p(target).
 * Every loss in this program (SFT, PPO-clip, DPO) is a function of these log-probabilities,
 * so the model's backward pass starts from d loss / d logprob. target < 0: no target. */
static void logprob_forward(float *logprob, float *probs, const float *logits, const int *targets,
                            int N, int V) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        float lp = logprob_row(probs + (size_t)n * V, logits + (size_t)n * V, V, targets ? targets[n] : -1);
        if (logprob) logprob[n] = lp;
    }
}

/* dlogits = dlogprob * (onehot(target) - probs) */
static void logprob_backward(float *dlogits, const float *dlogprob, const float *probs,
                             const int *targets, int N, int V) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        float *dz = dlogits + (size_t)n * V;
        const float *p = probs + (size_t)n * V;
        float d = targets[n] >= 0 ? dlogprob[n] : 0.0f;
        for (int v = 0; v < V; v++) dz[v] += d * ((v == targets[n] ? 1.0f : 0.0f) - p[v]);
    }
}

/* ========================================================================================== */
/* 3. The model: GPT-2 (README "Specification"), its parameters and activations each one      */
/*    array cut into named tensors; the forward pass and its backward pass                    */


/* a config this program can build: positive sizes, heads that divide the width, and a model small
 * enough that every index fits an int (a corrupt checkpoint must not become a huge allocation) */
int gpt_config_check(const GPTConfig *c, char *err) {
    if (c->vocab_size < 2 || c->vocab_size > 65536) {
        seterr(err, "vocab_size %d outside 2..65536", c->vocab_size);
        return -1;
    }
    if (c->block_size < 1 || c->block_size > 8192) {
        seterr(err, "block_size %d outside 1..8192", c->block_size);
        return -1;
    }
    if (c->n_layer < 1 || c->n_layer > 256) {
        seterr(err, "n_layer %d outside 1..256", c->n_layer);
        return -1;
    }
    if (c->n_embd < 1 || c->n_embd > 16384) {
        seterr(err, "n_embd %d outside 1..16384", c->n_embd);
        return -1;
    }
    if (c->n_head < 1 || c->n_embd % c->n_head != 0) {
        seterr(err, "n_head %d does not divide n_embd %d", c->n_head, c->n_embd);
        return -1;
    }
    /* keep every tensor, and the parameter count, comfortably inside size_t and int indexing */
    double params = (double)c->vocab_size * c->n_embd + (double)c->block_size * c->n_embd +
                    12.0 * c->n_layer * (double)c->n_embd * c->n_embd;
    if (params > 1e9) { seterr(err, "model too large (%.3g parameters, limit 1e9)", params); return -1; }
    return 0;
}

/* the table of named tensors, in spec order */
static void fill_param_info(TensorInfo *info, const GPTConfig *c, size_t *total) {
    int V = c->vocab_size, T = c->block_size, L = c->n_layer, C = c->n_embd;
    struct { const char *name; int ndim, s0, s1, s2, decay; } t[NUM_PARAM_TENSORS] = {
        {"wte", 2, V, C, 0, 1},          {"wpe", 2, T, C, 0, 1},
        {"ln1w", 2, L, C, 0, 0},         {"ln1b", 2, L, C, 0, 0},
        {"qkvw", 3, L, 3 * C, C, 1},     {"qkvb", 2, L, 3 * C, 0, 0},
        {"attprojw", 3, L, C, C, 1},     {"attprojb", 2, L, C, 0, 0},
        {"ln2w", 2, L, C, 0, 0},         {"ln2b", 2, L, C, 0, 0},
        {"fcw", 3, L, 4 * C, C, 1},      {"fcb", 2, L, 4 * C, 0, 0},
        {"fcprojw", 3, L, C, 4 * C, 1},  {"fcprojb", 2, L, C, 0, 0},
        {"lnfw", 1, C, 0, 0, 0},         {"lnfb", 1, C, 0, 0, 0},
    };
    size_t offset = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        TensorInfo *ti = &info[i];
        ti->name = t[i].name;
        ti->ndim = t[i].ndim;
        ti->shape[0] = t[i].s0; ti->shape[1] = t[i].s1; ti->shape[2] = t[i].s2;
        ti->size = 1;
        for (int d = 0; d < ti->ndim; d++) ti->size *= (size_t)ti->shape[d];
        ti->offset = offset;
        ti->decay = t[i].decay;
        offset += ti->size;
    }
    *total = offset;
}

/* the named tensors point into one contiguous array, so that AdamW, clipping, checkpoints and
 * CRCs see a single float array */
static void point_params(ParameterTensors *p, float *base, const TensorInfo *info) {
    float **ptrs[NUM_PARAM_TENSORS] = {
        &p->wte, &p->wpe, &p->ln1w, &p->ln1b, &p->qkvw, &p->qkvb, &p->attprojw, &p->attprojb,
        &p->ln2w, &p->ln2b, &p->fcw, &p->fcb, &p->fcprojw, &p->fcprojb, &p->lnfw, &p->lnfb};
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) *ptrs[i] = base + info[i].offset;
}

/* the model's linear products, (in, out) of product i: a block's 0 qkv, 1 attn proj, 2 fc, 3 fc proj;
 * 4, the head (tied to wte) */
#define BLOCK_PRODUCTS 4
static void linear_shape(const GPTConfig *c, int i, int *in, int *out) {
    int C = c->n_embd, shapes[BLOCK_PRODUCTS + 1][2] = {{C, 3 * C}, {C, C}, {C, 4 * C}, {4 * C, C},
                                                        {C, c->vocab_size}};
    *in = shapes[i][0];
    *out = shapes[i][1];
}

/* the matmul scratch of every linear product of the model */
static size_t gpt_scratch_floats(const GPTConfig *c) {
    size_t most = 0;
    for (int i = 0; i <= BLOCK_PRODUCTS; i++) {
        int in, out;
        linear_shape(c, i, &in, &out);
        size_t n = matmul_scratch_floats(in, out);
        if (n > most) most = n;
    }
    return most;
}

/* the parameters (zero) and the forward scratch; training buffers come with gpt_alloc_training */
void gpt_build(GPT *model, const GPTConfig *config) {
    memset(model, 0, sizeof(*model));
    model->config = *config;
    fill_param_info(model->param_info, config, &model->num_params);
    model->params = xcalloc(model->num_params, sizeof(float), "parameters");
    point_params(&model->p, model->params, model->param_info);
    model->scratch = xcalloc(gpt_scratch_floats(config), sizeof(float), "matmul scratch");
}

/* N(0, 0.02) weights and embeddings, N(0, 0.02/sqrt(2L)) for the two projections that write into
 * the residual stream, zero biases, LayerNorm gain 1. Each tensor draws from its own stream. */
void gpt_init_weights(GPT *model, uint64_t seed) {
    float residual_std = 0.02f / sqrtf(2.0f * (float)model->config.n_layer);
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        const TensorInfo *ti = &model->param_info[i];
        float *w = model->params + ti->offset;
        const char *n = ti->name;
        if (!strcmp(n, "ln1w") || !strcmp(n, "ln2w") || !strcmp(n, "lnfw")) {
            for (size_t k = 0; k < ti->size; k++) w[k] = 1.0f;
        } else if (ti->decay) { /* the 2-D weights */
            float std = (!strcmp(n, "attprojw") || !strcmp(n, "fcprojw")) ? residual_std : 0.02f;
            Rng rng;
            rng_seed(&rng, seed, 1, (uint64_t)i);
            for (size_t k = 0; k < ti->size; k++) w[k] = (float)(std * rng_normal(&rng));
        } else {
            for (size_t k = 0; k < ti->size; k++) w[k] = 0.0f;
        }
    }
}

/* activation sizes for B sequences of T tokens, in ActivationTensors order */
static void activation_sizes(size_t *sizes, const GPTConfig *c, int B, int T) {
    size_t L = (size_t)c->n_layer, C = (size_t)c->n_embd, H = (size_t)c->n_head,
           V = (size_t)c->vocab_size, N = (size_t)B * (size_t)T;
    size_t s[NUM_ACTIVATION_TENSORS] = {
        N * C,                               /* encoded */
        L * N * C, L * N, L * N,             /* ln1, ln1_mean, ln1_rstd */
        L * N * 3 * C,                       /* qkv */
        L * (size_t)B * H * T * T,           /* att */
        L * N * C, L * N * C, L * N * C,     /* atty, attproj, residual2 */
        L * N * C, L * N, L * N,             /* ln2, ln2_mean, ln2_rstd */
        L * N * 4 * C, L * N * 4 * C,        /* fch, fch_gelu */
        L * N * C, L * N * C,                /* fcproj, residual3 */
        N * C, N, N,                         /* lnf, lnf_mean, lnf_rstd */
        N * V, N * V,                        /* logits, probs */
    };
    memcpy(sizes, s, sizeof(s));
}

/* the activation tensors for a B x T batch point into one array (base NULL: only the size);
 * called at every forward pass, so a smaller batch packs densely at the start */
static size_t point_activations(ActivationTensors *a, float *base, const GPTConfig *c, int B, int T) {
    size_t sizes[NUM_ACTIVATION_TENSORS];
    activation_sizes(sizes, c, B, T);
    float **ptrs[NUM_ACTIVATION_TENSORS] = {
        &a->encoded, &a->ln1, &a->ln1_mean, &a->ln1_rstd, &a->qkv, &a->att, &a->atty,
        &a->attproj, &a->residual2, &a->ln2, &a->ln2_mean, &a->ln2_rstd, &a->fch, &a->fch_gelu,
        &a->fcproj, &a->residual3, &a->lnf, &a->lnf_mean, &a->lnf_rstd, &a->logits, &a->probs};
    size_t offset = 0;
    for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) {
        *ptrs[i] = base ? base + offset : NULL;
        offset += sizes[i];
    }
    return offset;
}

/* gradients, AdamW moments (kept if a checkpoint brought them) and activations for batches of up
 * to max_batch x max_seq: allocated once, before the first step, never inside the loop */
void gpt_alloc_training(GPT *model, int max_batch, int max_seq) {
    size_t n = model->num_params;
    model->grads = xcalloc(n, sizeof(float), "gradients");
    point_params(&model->g, model->grads, model->param_info);
    if (!model->adam_m) model->adam_m = xcalloc(n, sizeof(float), "AdamW first moments");
    if (!model->adam_v) model->adam_v = xcalloc(n, sizeof(float), "AdamW second moments");
    model->max_batch = max_batch;
    model->max_seq = max_seq;
    size_t acts = point_activations(&model->a, NULL, &model->config, max_batch, max_seq);
    model->acts = xcalloc(acts, sizeof(float), "activations");
    model->grad_acts = xcalloc(acts, sizeof(float), "activation gradients");
    model->logprob = xcalloc((size_t)max_batch * max_seq, sizeof(float), "log-probabilities");
    model->dlogprob = xcalloc((size_t)max_batch * max_seq, sizeof(float), "log-probability gradients");
}

/* everything gpt_build, gpt_alloc_training or checkpoint_load allocated; the model is zeroed */
void gpt_free(GPT *model) {
    free(model->params); free(model->grads); free(model->adam_m); free(model->adam_v);
    free(model->acts); free(model->grad_acts); free(model->logprob); free(model->dlogprob);
    free(model->scratch);
    memset(model, 0, sizeof(*model));
}

void gpt_zero_grad(GPT *model) { zero_floats(model->grads, model->num_params); }

/* x = x + attn(ln1(x)); x = x + mlp(ln2(x)) per block; logits = ln_f(x) @ wte^T */
void gpt_forward(GPT *model, const int *inputs, const int *targets, int B, int T) {
    const GPTConfig *cfg = &model->config;
    int L = cfg->n_layer, C = cfg->n_embd, H = cfg->n_head, V = cfg->vocab_size, N = B * T;
    if (B > model->max_batch || T > model->max_seq || T > cfg->block_size) {
        fprintf(stderr, "%s: internal error: batch %dx%d exceeds capacity %dx%d\n", program_name,
                B, T, model->max_batch, model->max_seq);
        exit(1);
    }
    model->B = B;
    model->T = T;
    point_activations(&model->a, model->acts, cfg, B, T);
    ActivationTensors *a = &model->a;
    ParameterTensors *p = &model->p;
    size_t NC = (size_t)N * C;
    encoder_forward(a->encoded, inputs, p->wte, p->wpe, B, T, C);
    for (int l = 0; l < L; l++) {
        const float *residual = l == 0 ? a->encoded : a->residual3 + (l - 1) * NC;
        float *ln1 = a->ln1 + l * NC, *qkv = a->qkv + l * 3 * NC, *atty = a->atty + l * NC;
        float *att = a->att + (size_t)l * B * H * T * T, *attproj = a->attproj + l * NC;
        float *residual2 = a->residual2 + l * NC, *ln2 = a->ln2 + l * NC;
        float *fch = a->fch + l * 4 * NC, *fch_gelu = a->fch_gelu + l * 4 * NC;
        float *fcproj = a->fcproj + l * NC, *residual3 = a->residual3 + l * NC;
        size_t CC = (size_t)C * C;
        /* attention: x + proj(attention(qkv(ln1(x)))) */
        layernorm_forward(ln1, a->ln1_mean + (size_t)l * N, a->ln1_rstd + (size_t)l * N, residual,
                          p->ln1w + l * C, p->ln1b + l * C, N, C);
        matmul_forward(qkv, ln1, p->qkvw + l * 3 * CC, p->qkvb + l * 3 * C, N, C, 3 * C, model->scratch);
        attention_forward(atty, att, qkv, B, T, C, H);
        matmul_forward(attproj, atty, p->attprojw + l * CC, p->attprojb + l * C, N, C, C, model->scratch);
        residual_forward(residual2, residual, attproj, NC);
        /* the MLP: x + down(gelu(up(ln2(x)))) */
        layernorm_forward(ln2, a->ln2_mean + (size_t)l * N, a->ln2_rstd + (size_t)l * N, residual2,
                          p->ln2w + l * C, p->ln2b + l * C, N, C);
        matmul_forward(fch, ln2, p->fcw + l * 4 * CC, p->fcb + l * 4 * C, N, C, 4 * C, model->scratch);
        gelu_forward(fch_gelu, fch, fch, 4 * NC); /* fch: GELU's slope from here on */
        matmul_forward(fcproj, fch_gelu, p->fcprojw + l * 4 * CC, p->fcprojb + l * C, N, 4 * C, C,
                       model->scratch);
        residual_forward(residual3, residual2, fcproj, NC);
    }
    /* the head: the token embedding reused as the output projection (tied), no bias */
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->residual3 + (L - 1) * NC, p->lnfw, p->lnfb, N, C);
    matmul_forward(a->logits, a->lnf, p->wte, NULL, N, C, V, model->scratch);
    /* every loss of this program is a function of log p(target): the backward pass starts there */
    logprob_forward(targets ? model->logprob : NULL, a->probs, a->logits, targets, N, V);
}

/* the forward pass in reverse, from d loss / d logprob to every parameter's gradient; each layer's
 * *_backward reads the activations its *_forward kept */
void gpt_backward(GPT *model, const int *inputs, const int *targets, const float *dlogprob) {
    const GPTConfig *cfg = &model->config;
    int B = model->B, T = model->T;
    int L = cfg->n_layer, C = cfg->n_embd, H = cfg->n_head, V = cfg->vocab_size, N = B * T;
    point_activations(&model->ga, model->grad_acts, cfg, B, T);
    ActivationTensors *a = &model->a, *ga = &model->ga;
    ParameterTensors *p = &model->p, *g = &model->g;
    size_t NC = (size_t)N * C, CC = (size_t)C * C, LNC = (size_t)L * NC;
    /* the other *_backward functions accumulate, so their gradients start at zero; matmul_backward
     * writes its input's gradient (ln1, atty, ln2, fch_gelu, lnf) whole, attention_backward qkv's,
     * and att's is scratch */
    float *summed[] = {ga->encoded, ga->attproj, ga->residual2, ga->fch, ga->fcproj, ga->residual3,
                       ga->logits};
    size_t summed_size[] = {NC, LNC, LNC, 4 * LNC, LNC, LNC, (size_t)N * V};
    for (size_t i = 0; i < sizeof(summed) / sizeof(summed[0]); i++) zero_floats(summed[i], summed_size[i]);
    /* the head; wte's gradient collects from here and from the embedding at the end (tied) */
    logprob_backward(ga->logits, dlogprob, a->probs, targets, N, V);
    matmul_backward(ga->lnf, g->wte, NULL, ga->logits, a->lnf, p->wte, N, C, V, model->scratch);
    layernorm_backward(ga->residual3 + (L - 1) * NC, g->lnfw, g->lnfb, ga->lnf, a->residual3 + (L - 1) * NC,
                       p->lnfw, a->lnf_mean, a->lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; l--) {
        const float *residual = l == 0 ? a->encoded : a->residual3 + (l - 1) * NC;
        float *dresidual = l == 0 ? ga->encoded : ga->residual3 + (l - 1) * NC;
        size_t att_off = (size_t)l * B * H * T * T;
        /* the MLP, from its output back to ln2's input */
        residual_backward(ga->residual2 + l * NC, ga->fcproj + l * NC, ga->residual3 + l * NC, NC);
        matmul_backward(ga->fch_gelu + l * 4 * NC, g->fcprojw + l * 4 * CC, g->fcprojb + l * C,
                        ga->fcproj + l * NC, a->fch_gelu + l * 4 * NC, p->fcprojw + l * 4 * CC, N, 4 * C, C,
                        model->scratch);
        gelu_backward(ga->fch + l * 4 * NC, a->fch + l * 4 * NC, ga->fch_gelu + l * 4 * NC, 4 * NC);
        matmul_backward(ga->ln2 + l * NC, g->fcw + l * 4 * CC, g->fcb + l * 4 * C, ga->fch + l * 4 * NC,
                        a->ln2 + l * NC, p->fcw + l * 4 * CC, N, C, 4 * C, model->scratch);
        layernorm_backward(ga->residual2 + l * NC, g->ln2w + l * C, g->ln2b + l * C, ga->ln2 + l * NC,
                           a->residual2 + l * NC, p->ln2w + l * C, a->ln2_mean + (size_t)l * N,
                           a->ln2_rstd + (size_t)l * N, N, C);
        /* attention, from its output back to the block's input */
        residual_backward(dresidual, ga->attproj + l * NC, ga->residual2 + l * NC, NC);
        matmul_backward(ga->atty + l * NC, g->attprojw + l * CC, g->attprojb + l * C, ga->attproj + l * NC,
                        a->atty + l * NC, p->attprojw + l * CC, N, C, C, model->scratch);
        attention_backward(ga->qkv + l * 3 * NC, ga->att + att_off, ga->atty + l * NC, a->qkv + l * 3 * NC,
                           a->att + att_off, B, T, C, H);
        matmul_backward(ga->ln1 + l * NC, g->qkvw + l * 3 * CC, g->qkvb + l * 3 * C, ga->qkv + l * 3 * NC,
                        a->ln1 + l * NC, p->qkvw + l * 3 * CC, N, C, 3 * C, model->scratch);
        layernorm_backward(dresidual, g->ln1w + l * C, g->ln1b + l * C, ga->ln1 + l * NC, residual,
                           p->ln1w + l * C, a->ln1_mean + (size_t)l * N, a->ln1_rstd + (size_t)l * N, N, C);
    }
    encoder_backward(g->wte, g->wpe, ga->encoded, inputs, B, T, C);
}

/* the loss of stage 1 and of the SFT baseline: the mean negative log-likelihood of the masked
 * (response) tokens, so a long trace weighs as much per token as a short one */
double masked_mean_nll(const float *logprob, const float *mask, int n, float *dlogprob) {
    double total = 0.0, weight = 0.0;
    for (int i = 0; i < n; i++) { total -= (double)mask[i] * logprob[i]; weight += mask[i]; }
    if (dlogprob)
        for (int i = 0; i < n; i++) dlogprob[i] = weight > 0 ? (float)(-mask[i] / weight) : 0.0f;
    return weight > 0 ? total / weight : 0.0;
}

/* ========================================================================================== */
/* 4. Decoding with a KV cache: the forward pass for one new token per sample, reusing the    */
/*    keys and values of the positions before it. Same layers, same order of operations as    */
/*    gpt_forward, so a sampled response is the one the training forward pass would score.    */


/* where decode_prepare puts, in the kernel's panels, the weights of layer l's product i
 * (linear_shape); layer n_layer holds the head (i = 0), then ends (i = 1) */
static size_t decode_weights_at(const GPTConfig *c, int l, int i) {
    size_t at = 0;
    for (int q = 0; q < l * BLOCK_PRODUCTS + i; q++) { /* the products before it, in order */
        int in, out;
        linear_shape(c, q < c->n_layer * BLOCK_PRODUCTS ? q % BLOCK_PRODUCTS : BLOCK_PRODUCTS, &in, &out);
        at += panel_floats(in, out);
    }
    return at;
}

/* the panels of layer l's product i, as decode_weights_at places them */
static RightMatrix decode_weights(const DecodeState *st, const GPTConfig *c, int l, int i) {
    int in, out;
    linear_shape(c, l < c->n_layer ? i : BLOCK_PRODUCTS, &in, &out);
    return panels_of(st->weights_t + decode_weights_at(c, l, i), in);
}

/* the KV cache and the per-step buffers of up to max_samples samples decoded together */
void decode_state_alloc(DecodeState *st, const GPTConfig *c, int max_samples) {
    size_t S = (size_t)max_samples, C = (size_t)c->n_embd;
    size_t cache = (size_t)c->n_layer * S * c->block_size * C;
    st->max_samples = max_samples;
    st->key_cache = xcalloc((size_t)c->n_layer * S * att_tiles(c->block_size) * ATT_LANES * C, sizeof(float),
                            "key cache");
    st->value_cache = xcalloc(cache, sizeof(float), "value cache");
    st->x = xcalloc(S * C, sizeof(float), "decoder state");
    st->ln = xcalloc(S * C, sizeof(float), "decoder state");
    st->qkv = xcalloc(S * 3 * C, sizeof(float), "decoder state");
    st->atty = xcalloc(S * C, sizeof(float), "decoder state");
    st->proj = xcalloc(S * C, sizeof(float), "decoder state");
    st->fch = xcalloc(S * 4 * C, sizeof(float), "decoder state");
    st->fch_gelu = xcalloc(S * 4 * C, sizeof(float), "decoder state");
    st->mean = xcalloc(S, sizeof(float), "decoder state");
    st->rstd = xcalloc(S, sizeof(float), "decoder state");
    st->att = xcalloc(S * c->n_head * c->block_size, sizeof(float), "decoder state");
    st->logits = xcalloc(S * c->vocab_size, sizeof(float), "decoder logits");
    st->weights_t = xcalloc(decode_weights_at(c, c->n_layer, 1), sizeof(float), "transposed weights");
}

/* weight (out, in) of layer l's product i, transposed into its panels of weights_t */
static void decode_pack(DecodeState *st, const GPTConfig *c, int l, int i, const float *weight) {
    int in, out;
    linear_shape(c, l < c->n_layer ? i : BLOCK_PRODUCTS, &in, &out);
    pack_panels(st->weights_t + decode_weights_at(c, l, i), weight, 1, (size_t)in, in, out, 0, in);
}

/* weights_t per layer: qkvw^T (C,3C), attprojw^T (C,C), fcw^T (C,4C), fcprojw^T (4C,C); then wte^T
 * (C,V); each in the kernel's panels, where decode_weights_at says */
void decode_prepare(DecodeState *st, const GPT *model) {
    const GPTConfig *c = &model->config;
    size_t CC = (size_t)c->n_embd * c->n_embd;
    for (int l = 0; l < c->n_layer; l++) {
        const float *weight[BLOCK_PRODUCTS] = {model->p.qkvw + l * 3 * CC, model->p.attprojw + l * CC,
                                               model->p.fcw + l * 4 * CC, model->p.fcprojw + l * 4 * CC};
        for (int i = 0; i < BLOCK_PRODUCTS; i++) decode_pack(st, c, l, i, weight[i]);
    }
    decode_pack(st, c, c->n_layer, 0, model->p.wte); /* the head */
}

/* everything decode_state_alloc allocated; the state is zeroed */
void decode_state_free(DecodeState *st) {
    free(st->key_cache); free(st->value_cache); free(st->x); free(st->ln); free(st->qkv);
    free(st->atty); free(st->proj); free(st->fch); free(st->fch_gelu); free(st->mean);
    free(st->rstd); free(st->att); free(st->logits); free(st->weights_t);
    memset(st, 0, sizeof(*st));
}

/* attention for rows i0..i1-1 of a decode step: each (sample, head) owns a contiguous block of keys,
 * in dot_columns' tiles, and one of values, (T, hs), so that attention streams through memory
 * instead of striding over the other heads; the new position's key and value go in first. Rows
 * run in order, so rows of one slot at increasing positions (a prompt, prompt_prefill) each see
 * the keys and values of the rows before them. */
static void decode_attention(DecodeState *st, const GPTConfig *cfg, int l, const int *slot, const int *pos,
                             int i0, int i1) {
    int C = cfg->n_embd, H = cfg->n_head, T = cfg->block_size, hs = C / H;
    size_t keys_size = (size_t)att_tiles(T) * ATT_LANES * hs; /* of one (sample, head) */
    float *kc = st->key_cache + (size_t)l * st->max_samples * H * keys_size;
    float *vc = st->value_cache + (size_t)l * st->max_samples * T * C;
    float scale = 1.0f / sqrtf((float)hs);
    for (int i = i0; i < i1; i++) {
        float *att = st->att + (size_t)i * H * T, *out = st->atty + (size_t)i * C;
        const float *values[2];
        for (int h = 0; h < H; h++) {
            size_t sh = (size_t)slot[i] * H + h;
            const float *q = st->qkv + (size_t)i * 3 * C + h * hs, *k = q + C, *v = q + 2 * C;
            float *keys_t = kc + sh * keys_size, *value_rows = vc + sh * T * hs;
            for (int j = 0; j < hs; j++) keys_t[keys_index(pos[i], j, hs)] = k[j];
            memcpy(value_rows + (size_t)pos[i] * hs, v, (size_t)hs * sizeof(float));
            attention_weights(att + (size_t)h * T, q, keys_t, pos[i], hs, scale);
            values[h % 2] = value_rows;
            if (h % 2 == 1) /* the outputs of heads h-1 and h at once (weighted_sum_pair) */
                weighted_sum_pair(out + (h - 1) * hs, att + (size_t)(h - 1) * T, values[0], (size_t)hs,
                                  out + h * hs, att + (size_t)h * T, values[1], (size_t)hs, 1, 0, pos[i] + 1,
                                  hs);
            else if (h == H - 1)
                weighted_sum(out + h * hs, 0, att + (size_t)h * T, 1, value_rows, (size_t)hs, pos[i] + 1, hs);
        }
    }
}

/* rows i0..i1-1 of a decode step through every layer, on the calling thread alone: each row is one
 * sample, and no layer mixes samples, so a thread that owns whole samples never waits for another.
 * (Or each row is one position of a prompt, all in one slot: then only attention mixes them, in
 * order, and the rows must stay on one thread: never through gpt_decode_step.) */
static void decode_rows(GPT *model, DecodeState *st, const int *slot, const int *token, const int *pos,
                        int i0, int i1) {
    const GPTConfig *cfg = &model->config;
    int L = cfg->n_layer, C = cfg->n_embd, V = cfg->vocab_size, n = i1 - i0;
    const ParameterTensors *p = &model->p;
    size_t r0 = (size_t)i0 * C;
    float *x = st->x + r0, *ln = st->ln + r0, *qkv = st->qkv + 3 * r0, *atty = st->atty + r0;
    float *proj = st->proj + r0, *fch = st->fch + 4 * r0, *fch_gelu = st->fch_gelu + 4 * r0;
    for (int i = i0; i < i1; i++)
        encoder_forward(st->x + (size_t)i * C, &token[i], p->wte, p->wpe + (size_t)pos[i] * C, 1, 1, C);
    for (int l = 0; l < L; l++) {
        layernorm_rows(ln, st->mean + i0, st->rstd + i0, x, p->ln1w + l * C, p->ln1b + l * C, C, n);
        matmul_serial(qkv, rows_of(ln, C), decode_weights(st, cfg, l, 0), p->qkvb + l * 3 * C, n, C, 3 * C);
        decode_attention(st, cfg, l, slot, pos, i0, i1);
        matmul_serial(proj, rows_of(atty, C), decode_weights(st, cfg, l, 1), p->attprojb + l * C, n, C, C);
        for (size_t j = 0; j < (size_t)n * C; j++) x[j] = x[j] + proj[j];
        layernorm_rows(ln, st->mean + i0, st->rstd + i0, x, p->ln2w + l * C, p->ln2b + l * C, C, n);
        matmul_serial(fch, rows_of(ln, C), decode_weights(st, cfg, l, 2), p->fcb + l * 4 * C, n, C, 4 * C);
        for (size_t b = 0, m = (size_t)n * 4 * C; b < m; b += GELU_BLOCK)
            gelu_block(fch_gelu + b, NULL, fch + b, m - b < GELU_BLOCK ? m - b : GELU_BLOCK);
        matmul_serial(proj, rows_of(fch_gelu, 4 * C), decode_weights(st, cfg, l, 3), p->fcprojb + l * C, n,
                      4 * C, C);
        for (size_t j = 0; j < (size_t)n * C; j++) x[j] = x[j] + proj[j];
    }
    layernorm_rows(ln, st->mean + i0, st->rstd + i0, x, p->lnfw, p->lnfb, C, n);
    matmul_serial(st->logits + (size_t)i0 * V, rows_of(ln, C), decode_weights(st, cfg, L, 0), NULL, n, C, V);
}

/* positions 0..n-1 of slot `from` copied into slot `to`, every layer and head: samples of one
 * prompt start from its keys and values, computed once (generate) */
static void decode_copy_prefix(DecodeState *st, const GPTConfig *cfg, int from, int to, int n) {
    int C = cfg->n_embd, H = cfg->n_head, T = cfg->block_size, hs = C / H;
    size_t keys_size = (size_t)att_tiles(T) * ATT_LANES * hs;
    for (int l = 0; l < cfg->n_layer; l++)
        for (int h = 0; h < H; h++) {
            size_t a = ((size_t)l * st->max_samples + from) * H + h,
                   b = ((size_t)l * st->max_samples + to) * H + h; /* (layer, slot, head) */
            const float *keys_from = st->key_cache + a * keys_size;
            float *keys_to = st->key_cache + b * keys_size;
            for (int t = 0; t < n; t++)
                for (int j = 0; j < hs; j++) keys_to[keys_index(t, j, hs)] = keys_from[keys_index(t, j, hs)];
            memcpy(st->value_cache + b * T * hs, st->value_cache + a * T * hs,
                   sizeof(float) * (size_t)n * hs);
        }
}

/* One new token for each of n samples: the layers of gpt_forward on one row per sample, attention
 * over the cached keys and values of that sample's earlier positions. The threads split the samples
 * once, for the whole step, and each runs every layer on its own: one parallel region per step, not
 * one per layer. Fewer than DECODE_PARALLEL_MIN samples (one prompt sampled greedily: 1) are not
 * worth a region: they decode on the calling thread. Either way each row's sums are the same. */
#define DECODE_PARALLEL_MIN 16
void gpt_decode_step(GPT *model, DecodeState *st, const int *slot, const int *token, const int *pos, int n) {
    if (n < DECODE_PARALLEL_MIN) {
        decode_rows(model, st, slot, token, pos, 0, n);
        return;
    }
#pragma omp parallel
    {
        int id = 0, threads = 1;
#ifdef _OPENMP
        id = omp_get_thread_num();
        threads = omp_get_num_threads();
#endif
        decode_rows(model, st, slot, token, pos, (int)((long)n * id / threads),
                    (int)((long)n * (id + 1) / threads));
    }
}

/* ========================================================================================== */
/* 5. The optimizer: AdamW as torch.optim.AdamW computes it, gradient clipping, the schedule  */


/* linear warmup to lr_max, then a cosine to lr_min at total_steps (and lr_min after it) */
float lr_schedule(const OptimConfig *oc, long step) {
    if (step < oc->warmup_steps) return oc->lr_max * (float)(step + 1) / (float)oc->warmup_steps;
    long decay_steps = oc->total_steps - oc->warmup_steps;
    if (decay_steps <= 0 || step >= oc->total_steps) return oc->lr_min;
    double progress = (double)(step - oc->warmup_steps) / (double)decay_steps;
    return (float)(oc->lr_min + 0.5 * (oc->lr_max - oc->lr_min) * (1.0 + cos_f64(PI * progress)));
}

/* the global L2 norm of all gradients, summed in double in one fixed order; if above max_norm,
 * every gradient is scaled by the same factor (torch.nn.utils.clip_grad_norm_) */
double clip_grad_norm(float *grads, size_t n, float max_norm) {
    double sumsq = 0.0;
    for (size_t i = 0; i < n; i++) sumsq += (double)grads[i] * grads[i];
    double norm = sqrt(sumsq);
    double scale = max_norm / (norm + 1e-6); /* torch.nn.utils.clip_grad_norm_: min(1, scale) */
    if (max_norm > 0 && scale < 1.0) {
        float s = (float)scale;
        for (size_t i = 0; i < n; i++) grads[i] *= s;
    }
    return norm;
}

/* p *= 1 - lr*wd (decayed tensors only); m, v updated; p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps) */
void adamw_step(GPT *model, const OptimConfig *oc, float lr) {
    model->step++;
    double bc1 = 1.0 - powi_f64(oc->beta1, model->step), bc2 = 1.0 - powi_f64(oc->beta2, model->step);
    float step_size = (float)(lr / bc1), sqrt_bc2 = (float)sqrt(bc2);
    float b1 = oc->beta1, b2 = oc->beta2;
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
        const TensorInfo *ti = &model->param_info[t];
        float decay = ti->decay ? 1.0f - lr * oc->weight_decay : 1.0f;
        float *p = model->params + ti->offset, *g = model->grads + ti->offset;
        float *m = model->adam_m + ti->offset, *v = model->adam_v + ti->offset;
#pragma omp parallel for
        for (size_t i = 0; i < ti->size; i++) {
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            p[i] = p[i] * decay - step_size * m[i] / (sqrtf(v[i]) / sqrt_bc2 + oc->eps);
        }
    }
}

/* The update every trainer shares, after its loss wrote d loss / d logprob into model->dlogprob:
 * backward, the gradient clipped to a global norm, one AdamW step. Returns the norm before
 * clipping; a loss or norm that is not finite returns NAN and leaves the parameters alone. */
static double train_step(GPT *model, const int *inputs, const int *targets, const OptimConfig *oc, long step,
                         double loss) {
    gpt_zero_grad(model);
    gpt_backward(model, inputs, targets, model->dlogprob);
    double norm = clip_grad_norm(model->grads, model->num_params, oc->grad_clip);
    if (!isfinite(loss) || !isfinite(norm)) return NAN;
    adamw_step(model, oc, lr_schedule(oc, step));
    return norm;
}

/* ========================================================================================== */
/* 6. The task (README "The task"): add n single digits                                       */
/* The reasoning is the chain of running sums, each step exactly 8 characters ("03+5=08,") so the
 * tiny model sees a fixed rhythm; the answer closes with "A17$". The verbose teacher re-verifies
 * steps ("v03+5=08,") and re-derives the chain ("r...") at an over-thinking level p drawn per
 * trace, independent of n: easy problems are as over-long as hard ones, the paper's "length
 * disharmony", which is what O1-Pruner removes. */

/* RNG stream purposes: rng_seed(seed, stream(PURPOSE, index), ...) never collide across uses */
enum { STREAM_INIT = 1, STREAM_TEST, STREAM_TRAIN, STREAM_VALID, STREAM_PRUNE, STREAM_BATCH, STREAM_SAMPLE };
static uint64_t stream(int purpose, uint64_t index) { return ((uint64_t)purpose << 40) ^ index; }

/* the vocabulary as one array: two uses of the literal VOCAB need not be one object in C, so a
 * pointer into one minus the other is not an index (tcc keeps two copies) */
static const char vocabulary[VOCAB_SIZE + 1] = VOCAB;

/* a character's token id (its index in the vocabulary), -1 if it is not in it */
static int token_of(char c) {
    for (int i = 0; i < VOCAB_SIZE; i++)
        if (vocabulary[i] == c) return i;
    return -1;
}

/* the right answer */
int problem_sum(const Problem *p) {
    int s = 0;
    for (int i = 0; i < p->n; i++) s += p->digits[i];
    return s;
}

int minimal_length(int n) { return 8 * (n - 1) + 4; }

/* the prompt the model sees: the terms joined by '+', then '=' */
int prompt_text(const Problem *p, char *out) {
    int len = 0;
    for (int i = 0; i < p->n && i < MAX_TERMS; i++) {
        out[len++] = (char)('0' + p->digits[i]);
        out[len++] = i + 1 < p->n ? '+' : '=';
    }
    out[len] = 0;
    return len;
}

/* step k (1..n-1) of the chain: "%02d+%d=%02d," */
static int chain_step(const Problem *p, int k, char *out) {
    int before = 0;
    for (int i = 0; i < k; i++) before += p->digits[i];
    return sprintf(out, "%02d+%d=%02d,", before, p->digits[k], before + p->digits[k]);
}

/* the whole chain of running sums, steps 1..n-1 */
static int write_chain(const Problem *p, char *out) {
    int len = 0;
    for (int k = 1; k < p->n; k++) len += chain_step(p, k, out + len);
    return len;
}

/* the shortest correct trace: the chain once, then the answer; what a perfectly pruned model says */
int minimal_trace(const Problem *p, char *out) {
    int len = write_chain(p, out);
    return len + sprintf(out + len, "A%02d$", problem_sum(p));
}

/* the verbose teacher: the chain, then each step re-verified with probability p, then with
 * probability p the whole chain again. Never wrong, only redundant. */
int teacher_trace(const Problem *pr, float p, Rng *rng, char *out) {
    int len = write_chain(pr, out);
    for (int k = 1; k < pr->n; k++)
        if (rng_uniform(rng) < p) { out[len++] = 'v'; len += chain_step(pr, k, out + len); }
    if (rng_uniform(rng) < p) { out[len++] = 'r'; len += write_chain(pr, out + len); }
    return len + sprintf(out + len, "A%02d$", problem_sum(pr));
}

/* A(x, y): 1 if the response ends in "A<sum>$", whatever came before (like a math grader that
 * reads only the final answer); a response cut off without '$' is wrong */
int grade_response(const Problem *p, const char *r, int length) {
    if (length < 3 || r[length - 1] != '$') return 0;
    int i = length - 2, value = 0, scale = 1, digits = 0; /* the answer: 1 to 3 digits */
    while (i >= 0 && r[i] >= '0' && r[i] <= '9' && digits < 3) {
        value += (r[i] - '0') * scale;
        scale *= 10;
        i--;
        digits++;
    }
    if (i < 0 || r[i] != 'A' || digits == 0) return 0;
    return value == problem_sum(p);
}

/* the problem of a prompt typed by a user or read from a file, checked term by term */
int parse_prompt(const char *text, int length, Problem *p, char *err) {
    p->n = 0;
    for (int i = 0; i < length; i += 2) {
        if (text[i] < '1' || text[i] > '9') {
            seterr(err, "term %d is '%c', expected a digit 1-9", p->n + 1, text[i]);
            return -1;
        }
        if (p->n == MAX_TERMS) { seterr(err, "more than %d terms", MAX_TERMS); return -1; }
        p->digits[p->n++] = text[i] - '0';
        char sep = i + 1 < length ? text[i + 1] : 0;
        if (sep == '=') {
            if (i + 2 != length) { seterr(err, "text after '='"); return -1; }
            if (p->n < MIN_TERMS) { seterr(err, "fewer than %d terms", MIN_TERMS); return -1; }
            return 0;
        }
        if (sep != '+') { seterr(err, "expected '+' or '=' after term %d", p->n); return -1; }
    }
    seterr(err, "no '=' closing the prompt");
    return -1;
}

/* A training example: a problem with its prompt + trace (or prompt + response) as text */
typedef struct {
    Problem problem;
    int prompt_len, length; /* tokens of the prompt, of prompt + trace */
    const char *text;       /* prompt + trace, into the dataset's buffer */
} Example;

typedef struct { Example *ex; int count; char *buffer; } Dataset;

static void dataset_free(Dataset *ds) { free(ds->ex); free(ds->buffer); memset(ds, 0, sizeof(*ds)); }

/* ========================================================================================== */
/* 7. Sampling: the sampler is separate from the model; generation batches many samples       */
/*    through the KV-cache decoder, refilling a slot as soon as its sample ends               */

#define MAX_SAMPLE_VOCAB 256
/* 48 samples decode together, shared among the threads (generate: 24 each on 2): enough rows for
 * the matmul tiles (48, 24 and 12 rows are whole tiles of 4, 6 or 8 rows), few enough that their KV
 * caches, of which each token reads its sample's whole (the reference model's: 25 MB at 128
 * positions, about half on average), mostly stay in the chip's caches. On a Zen 4 (`bench --samples
 * N`, 2 threads): 32, 46-47k tokens/s; 48, 49-55k; 64, 44-50k; 256, 34-37k. Which samples share a
 * step changes no bit. */
#define DECODE_SLOTS 48

/* the next token from the logits: greedy at temperature 0, else softmax(logits / temperature),
 * optionally cut to its top_p nucleus; probabilities in double, one uniform draw per token */
int sample_token(const float *logits, int V, float temperature, float top_p, Rng *rng) {
    if (temperature <= 0.0f) { /* greedy: the first maximum */
        int best = 0;
        for (int v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
        return best;
    }
    double prob[MAX_SAMPLE_VOCAB], maxv = logits[0], sum = 0.0;
    int order[MAX_SAMPLE_VOCAB];
    for (int v = 1; v < V; v++) if (logits[v] > maxv) maxv = logits[v];
    for (int v = 0; v < V; v++) {
        prob[v] = exp_f64(((double)logits[v] - maxv) / temperature);
        sum += prob[v];
        order[v] = v;
    }
    int keep = V;
    if (top_p < 1.0f) { /* nucleus: the fewest most likely tokens whose mass reaches top_p */
        for (int i = 1; i < V; i++) /* insertion sort by probability, ties by token id */
            for (int j = i; j > 0 && prob[order[j]] > prob[order[j - 1]]; j--) {
                int t = order[j];
                order[j] = order[j - 1];
                order[j - 1] = t;
            }
        double mass = 0.0;
        for (keep = 0; keep < V && mass < top_p * sum;) mass += prob[order[keep++]];
        sum = mass;
    }
    double u = rng_uniform(rng) * sum, cum = 0.0;
    for (int i = 0; i < keep; i++) {
        cum += prob[order[i]];
        if (u < cum) return order[i];
    }
    return order[keep - 1];
}

/* a place in the decoder for one sample at a time: its KV-cache rows are slot-indexed, so a new
 * sample reuses a finished one's rows (only its prompt's are copied in, prompt_prefill) */
typedef struct {
    int job;            /* index into responses, -1: free */
    int pos;            /* position of the token fed next */
    int prompt_len;
    int next;           /* the token fed next */
    char prompt[MAX_PROMPT + 1];
    Rng rng;
} Slot;

/* The keys and values of a prompt but its last token, into slot `to` of the cache: computed in
 * slot `prompt_slot` when `fresh` (the problem's first sample), then copied. The k samples of a
 * problem share them: computed once, not k times. The rows of a call are the prompt's positions
 * in order, and each writes its key and value before the next attends to it (decode_attention), so
 * they are the same bits as the prompt fed one token a step. The sample goes on from the last. */
static void prompt_prefill(GPT *model, DecodeState *st, Slot *sl, int to, int prompt_slot, int fresh) {
    int rows = sl->prompt_len - 1, slot[MAX_PROMPT], token[MAX_PROMPT], pos[MAX_PROMPT];
    for (int t0 = 0; fresh && t0 < rows; t0 += st->max_samples) { /* as many rows as the buffers */
        int n = rows - t0 < st->max_samples ? rows - t0 : st->max_samples;
        for (int t = 0; t < n; t++) {
            slot[t] = prompt_slot;
            token[t] = token_of(sl->prompt[t0 + t]);
            pos[t] = t0 + t;
        }
        decode_rows(model, st, slot, token, pos, 0, n);
    }
    if (prompt_slot != to) decode_copy_prefix(st, &model->config, prompt_slot, to, rows);
    sl->pos = rows;
    sl->next = token_of(sl->prompt[rows]);
}

/* The k responses of every shares-th problem, from problem `share` on, decoded by the calling thread
 * alone (the only share: with each step split over the threads, gpt_decode_step). Up to `slots`
 * samples decode together, each in its own KV-cache slot, from its prompt's last token on (the rest
 * of the prompt: prompt_prefill); a finished sample frees its slot for the next one at once. Each
 * sample draws from its own RNG stream, so its text does not depend on which samples shared its
 * steps. */
static void generate_share(GPT *model, const Problem *problems, const int *problem_ids, int n, int k,
                           const SampleConfig *sc, Response *responses, char *arena, int share, int shares,
                           int slots) {
    const GPTConfig *cfg = &model->config;
    int jobs = (n - share + shares - 1) / shares * k, next = 0; /* this share's jobs, in order */
    slots = jobs < slots ? jobs : slots;
    if (jobs <= 0) return;
    DecodeState st; /* k > 1: one more slot, for the latest problem's prompt (prompt_prefill) */
    decode_state_alloc(&st, cfg, k > 1 ? slots + 1 : slots);
    decode_prepare(&st, model);
    Slot *slot = xcalloc((size_t)slots, sizeof(Slot), "decode slots");
    int *slot_id = xmalloc(sizeof(int) * (size_t)slots, "decode batch"),
        *token = xmalloc(sizeof(int) * (size_t)slots, "decode batch");
    int *pos = xmalloc(sizeof(int) * (size_t)slots, "decode batch");
    for (int s = 0; s < slots; s++) slot[s].job = -1;
    for (;;) { /* one token for every active sample per pass */
        int active = 0;
        for (int s = 0; s < slots; s++) {
            if (slot[s].job < 0 && next < jobs) { /* start the next sample in this slot */
                Slot *sl = &slot[s];
                int i = share + next / k * shares, j = i * k + next % k;
                sl->job = j;
                sl->prompt_len = prompt_text(&problems[i], sl->prompt);
                prompt_prefill(model, &st, sl, s, k > 1 ? slots : s, next % k == 0);
                next++;
                rng_seed(&sl->rng, sc->seed,
                         stream(STREAM_SAMPLE, (uint64_t)(problem_ids ? problem_ids[i] : i)),
                         (uint64_t)(j % k));
                Response *r = &responses[j];
                r->text = arena + (size_t)j * (size_t)(sc->max_new + 1);
                r->length = r->finished = r->correct = 0;
                r->text[0] = 0;
                r->logprob = 0.0;
            }
            if (slot[s].job >= 0) {
                slot_id[active] = s;
                token[active] = slot[s].next;
                pos[active] = slot[s].pos;
                active++;
            }
        }
        if (active == 0) break;
        if (shares == 1) gpt_decode_step(model, &st, slot_id, token, pos, active);
        else decode_rows(model, &st, slot_id, token, pos, 0, active);
        for (int a = 0; a < active; a++) {
            Slot *sl = &slot[slot_id[a]];
            sl->pos++;
            Response *r = &responses[sl->job];
            const float *logits = st.logits + (size_t)a * cfg->vocab_size;
            int t = sample_token(logits, cfg->vocab_size, sc->temperature, sc->top_p, &sl->rng);
            /* log pi(y|x) as the forward pass sums it: what prune's Eq. 11 needs of pi_ref */
            r->logprob += logprob_row(NULL, logits, cfg->vocab_size, t);
            r->text[r->length++] = vocabulary[t];
            r->text[r->length] = 0;
            r->finished = vocabulary[t] == '$';
            int cap = sc->max_new < cfg->block_size - sl->prompt_len ? sc->max_new
                                                                     : cfg->block_size - sl->prompt_len;
            if (r->finished || r->length >= cap) { /* a sample cut off at the cap has L = cap, and is wrong */
                r->correct = grade_response(&problems[sl->job / k], r->text, r->length);
                sl->job = -1;
            } else {
                sl->next = t;
            }
        }
    }
    decode_state_free(&st);
    free(slot); free(slot_id); free(token); free(pos);
}

/* k responses for each of n problems. The problems are dealt to the threads in turn, and each
 * thread decodes its own with a KV cache of its own: no thread waits for another before the end,
 * where one step at a time split over the threads would wake them and wait for the slowest at
 * every token. With one thread, or a single problem, its samples decode together and a step may
 * still be split (gpt_decode_step). Which thread decodes a sample changes no bit of it. */
void generate(GPT *model, const Problem *problems, const int *problem_ids, int n, int k,
              const SampleConfig *sc, Response *responses, char *arena) {
    int threads = get_threads(), shares = threads < n ? threads : n;
    if (shares < 1) shares = 1;
    int slots = DECODE_SLOTS / shares > 2 * TILE_ROWS ? DECODE_SLOTS / shares : 2 * TILE_ROWS;
#pragma omp parallel for schedule(static, 1) if (shares > 1)
    for (int share = 0; share < shares; share++)
        generate_share(model, problems, problem_ids, n, k, sc, responses, arena, share, shares, slots);
}

/* ========================================================================================== */
/* 8. Evaluation: accuracy and mean response length, per difficulty and overall               */

/* responses counted, how many were right, their total length: accuracy and mean length */
typedef struct { int count, correct; double length_sum; } Tally;
#define LENGTH_BIN 8   /* histogram bins of response lengths: 1-8, 9-16, ... tokens */
#define LENGTH_BINS 20 /* up to the context; longer ones land in the last bin */
typedef struct {
    Tally level[MAX_TERMS + 1], all;
    /* the paper's length disharmony (Sec. 3, Table 1): each problem's k responses sorted by length
     * and cut into 4 equal groups, shortest first; accuracy per group. Only for k >= 4. */
    Tally quartile[4];
    int histogram[MAX_TERMS + 1][LENGTH_BINS]; /* responses per difficulty and length bin */
} EvalStats;

/* one response into a tally */
static void tally(Tally *t, const Response *r) {
    t->count++;
    t->correct += r->correct;
    t->length_sum += r->length;
}

/* the tallies of n problems x k responses: per difficulty, overall, by length quartile, histograms */
static void tally_responses(EvalStats *es, const Problem *problems, const Response *r, int n, int k) {
    memset(es, 0, sizeof(*es));
    for (int i = 0; i < n * k; i++) {
        tally(&es->level[problems[i / k].n], &r[i]);
        tally(&es->all, &r[i]);
        int bin = (r[i].length - 1) / LENGTH_BIN;
        es->histogram[problems[i / k].n][bin < LENGTH_BINS ? bin : LENGTH_BINS - 1]++;
    }
    if (k < 4) return;
    uint64_t *key = xmalloc(sizeof(uint64_t) * (size_t)k, "quartiles");
    for (int p = 0; p < n; p++) {
        for (int j = 0; j < k; j++)
            key[j] = sort_key(r[p * k + j].length, j); /* by length, ties by index */
        qsort(key, (size_t)k, sizeof(uint64_t), cmp_u64);
        for (int rank = 0; rank < k; rank++)
            tally(&es->quartile[rank * 4 / k], &r[p * k + key_index(key[rank])]);
    }
    free(key);
}

static double accuracy(const Tally *t) { return t->count ? (double)t->correct / t->count : 0.0; }
static double mean_length(const Tally *t) { return t->count ? t->length_sum / t->count : 0.0; }

/* generate for a whole dataset and tally; responses/arena are the caller's (NULL: freed here) */
static void evaluate(GPT *model, const Dataset *ds, int limit, int k, const SampleConfig *sc, EvalStats *es) {
    int n = limit > 0 && limit < ds->count ? limit : ds->count;
    Problem *problems = xmalloc(sizeof(Problem) * (size_t)n, "problems");
    for (int i = 0; i < n; i++) problems[i] = ds->ex[i].problem;
    Response *r = xcalloc((size_t)n * k, sizeof(Response), "responses");
    char *arena = xmalloc((size_t)n * k * (size_t)(sc->max_new + 1), "responses");
    generate(model, problems, NULL, n, k, sc, r, arena);
    tally_responses(es, problems, r, n, k);
    free(problems); free(r); free(arena);
}

/* ========================================================================================== */
/* The stages below (Algorithm 1: train pi_ref, pre-sample, prune) keep their bookkeeping in  */
/* Part II: reading and checking files, the resumable state OUT.resume (an interrupted run    */
/* continues with the same bits), progress lines, Ctrl-C. These are what they call there.     */

typedef struct Curve Curve; /* prune's training curve, OUT.curve */
typedef struct {
    const char *name, *out;       /* "sft" or "prune"; the model file the stage writes */
    char resume[4200];            /* OUT.resume: the model, its AdamW state and step */
    long total, first_step;       /* steps of the whole run; the first one of this process */
    long stop_after;              /* tests: a clean stop after this many steps (0: never) */
    int save_every, quiet;
    double t_start, tokens, log_sum[4];
    int log_n;                    /* steps summed in log_sum since the last progress line */
    Curve *curve;                 /* prune's training curve, saved with the state (NULL: none) */
} Stage;

static int stage_begin(Stage *s, GPT *model, const GPTConfig *config, uint32_t tag, int discard_stale,
                       char *err);
static int stage_diverged(const Stage *s, long step, double loss, char *err);
static int stage_save_or_stop(Stage *s, const GPT *model, long done, char *err);
static int stage_finish(Stage *s, const GPT *model, char *err);
static int dataset_load_split(Dataset *ds, const char *dir, const char *split, int block_size, char *err);

/* ========================================================================================== */
/* 9. Stage 1: the long-thought reference model pi_ref, trained from scratch on the verbose   */
/*    teacher's traces (next-token prediction, the loss on the trace's tokens only)           */

typedef struct {
    const char *data_dir, *out;
    GPTConfig model;
    int steps, batch, warmup, log_every, eval_every, save_every, quiet;
    float lr, lr_min, weight_decay, grad_clip;
    uint64_t seed;
    long stop_after;     /* tests: stop (saving the resumable state) after this many steps; 0: never */
} SftConfig;

/* the reference model of README "Results": 4 layers, 4 heads, width 128, context 160 */
static void sft_defaults(SftConfig *c) {
    GPTConfig model = {.vocab_size = VOCAB_SIZE, .block_size = 160, .n_layer = 4, .n_head = 4, .n_embd = 128};
    SftConfig d = {.data_dir = "data", .out = "out/reference.bin", .model = model, .steps = 1500, .batch = 64,
                   .warmup = 100, .log_every = 50, .eval_every = 250, .save_every = 100, .lr = 2e-3f,
                   .lr_min = 2e-5f, .weight_decay = 0.1f, .grad_clip = 1.0f, .seed = 1};
    *c = d;
}

#define FINGERPRINT_STEPS 3 /* README "Reproducing the reference model" */

static int sft_load_data(const SftConfig *c, Dataset *train, Dataset *valid, char *err);
static uint32_t sft_tag(const SftConfig *c, const Dataset *train);
static void sft_progress(Stage *s, const SftConfig *c, GPT *model, const Dataset *valid, long done,
                         double loss, double norm, float lr, int T, int *inputs, int *targets, float *mask);

/* The order of examples in an epoch: a shuffle, then within chunks of 16 batches a sort by length
 * (so a batch pads little) and a shuffle of those batches. A function of (seed, epoch) only, so a
 * resumed run sees exactly the batches the uninterrupted one would have. */
#define BUCKET_BATCHES 16
static void epoch_order(int *order, int n, const int *length, int batch, uint64_t seed, long epoch) {
    Rng rng;
    rng_seed(&rng, seed, stream(STREAM_BATCH, (uint64_t)epoch), 0);
    for (int i = 0; i < n; i++) order[i] = i;
    shuffle(order, n, &rng);
    int chunk = batch * BUCKET_BATCHES;
    uint64_t *keys = xmalloc(sizeof(uint64_t) * (size_t)chunk, "batch order");
    int *copy = xmalloc(sizeof(int) * (size_t)chunk, "batch order");
    for (int c0 = 0; c0 + chunk <= n; c0 += chunk) {
        for (int i = 0; i < chunk; i++) keys[i] = sort_key(length[order[c0 + i]], order[c0 + i]);
        qsort(keys, (size_t)chunk, sizeof(uint64_t), cmp_u64); /* by length, ties by index */
        int perm[BUCKET_BATCHES];
        for (int b = 0; b < BUCKET_BATCHES; b++) perm[b] = b;
        shuffle(perm, BUCKET_BATCHES, &rng);
        for (int b = 0; b < BUCKET_BATCHES; b++)
            for (int i = 0; i < batch; i++)
                copy[b * batch + i] = key_index(keys[perm[b] * batch + i]);
        memcpy(order + c0, copy, sizeof(int) * (size_t)chunk);
    }
    free(keys); free(copy);
}

/* inputs/targets (B, T) for next-token prediction over prompt + trace; the loss mask keeps the
 * positions whose target is a response token. Returns T, the longest sequence minus one. Every
 * stage builds its batches here: SFT, pre-sampled solutions for prune, the reference vectors. */
static int make_sft_batch(const Dataset *ds, const int *idx, int B, int *inputs, int *targets, float *mask) {
    int T = 1;
    for (int b = 0; b < B; b++) if (ds->ex[idx[b]].length - 1 > T) T = ds->ex[idx[b]].length - 1;
    for (int b = 0; b < B; b++) {
        const Example *e = &ds->ex[idx[b]];
        for (int t = 0; t < T; t++) {
            int i = b * T + t, real = t + 1 < e->length;
            inputs[i] = real ? token_of(e->text[t]) : 0;
            targets[i] = real ? token_of(e->text[t + 1]) : -1;
            mask[i] = real && t + 1 >= e->prompt_len ? 1.0f : 0.0f;
        }
    }
    return T;
}

/* mean response-token loss over a whole dataset */
static double dataset_loss(GPT *model, const Dataset *ds, int batch, int *inputs, int *targets, float *mask) {
    double total = 0.0, weight = 0.0;
    int *idx = xmalloc(sizeof(int) * (size_t)batch, "batch");
    for (int b0 = 0; b0 < ds->count; b0 += batch) {
        int B = ds->count - b0 < batch ? ds->count - b0 : batch;
        for (int b = 0; b < B; b++) idx[b] = b0 + b;
        int T = make_sft_batch(ds, idx, B, inputs, targets, mask);
        gpt_forward(model, inputs, targets, B, T);
        for (int i = 0; i < B * T; i++) { total -= (double)mask[i] * model->logprob[i]; weight += mask[i]; }
    }
    free(idx);
    return weight > 0 ? total / weight : 0.0;
}

/* Stage 1: batches of similar-length traces, masked NLL, AdamW; Ctrl-C or a crash resumes from
 * OUT.resume with the same bits. 0, or -1 / -2 (interrupted) with the message in err. */
static int run_sft(const SftConfig *c, char *err) {
    Dataset train, valid;
    if (sft_load_data(c, &train, &valid, err)) return -1;
    GPT model;
    Stage st = {.name = "sft", .out = c->out, .total = c->steps, .save_every = c->save_every,
                .stop_after = c->stop_after, .quiet = c->quiet};
    int rc = stage_begin(&st, &model, &c->model, sft_tag(c, &train), 0, err); /* 1: resumed */
    if (rc < 0) { dataset_free(&train); dataset_free(&valid); return -1; }
    if (rc == 0) gpt_init_weights(&model, c->seed);
    gpt_alloc_training(&model, c->batch, c->model.block_size);
    /* AdamW with beta2 0.95 (a small model learns fast and noisily), decay on the 2-D weights only */
    OptimConfig oc = {.lr_max = c->lr, .lr_min = c->lr_min, .warmup_steps = c->warmup,
                      .total_steps = c->steps, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f,
                      .weight_decay = c->weight_decay, .grad_clip = c->grad_clip};
    size_t bt = (size_t)c->batch * c->model.block_size;
    int *inputs = xmalloc(sizeof(int) * bt, "batch"), *targets = xmalloc(sizeof(int) * bt, "batch");
    float *mask = xmalloc(sizeof(float) * bt, "batch");
    int *order = xmalloc(sizeof(int) * (size_t)train.count, "batch order");
    int *length = xmalloc(sizeof(int) * (size_t)train.count, "batch order");
    for (int i = 0; i < train.count; i++) length[i] = train.ex[i].length; /* batches group similar lengths */
    if (!c->quiet)
        fprintf(stderr, "sft: %zu parameters, %d train / %d valid traces, %d steps of %d, %d thread(s)\n",
                model.num_params, train.count, valid.count, c->steps, c->batch, get_threads());
    long steps_per_epoch = train.count / c->batch, epoch = -1;
    rc = 0;
    for (long step = model.step; rc == 0 && step < c->steps; step++) {
        if (step / steps_per_epoch != epoch) { /* a new epoch: a new order of the examples */
            epoch = step / steps_per_epoch;
            epoch_order(order, train.count, length, c->batch, c->seed, epoch);
        }
        const int *idx = order + (step % steps_per_epoch) * c->batch;
        int T = make_sft_batch(&train, idx, c->batch, inputs, targets, mask);
        gpt_forward(&model, inputs, targets, c->batch, T);
        /* the loss on the trace's tokens only: the model learns to answer, not to write prompts */
        double loss = masked_mean_nll(model.logprob, mask, c->batch * T, model.dlogprob);
        double norm = train_step(&model, inputs, targets, &oc, step, loss);
        if (!isfinite(norm)) { rc = stage_diverged(&st, step, loss, err); break; }
        /* progress lines, validation, the fingerprint; then OUT.resume when due or on a stop */
        sft_progress(&st, c, &model, &valid, step + 1, loss, norm, lr_schedule(&oc, step), T, inputs, targets,
                     mask);
        rc = stage_save_or_stop(&st, &model, step + 1, err);
    }
    if (rc == 0) rc = stage_finish(&st, &model, err);
    if (rc == 0)
        printf("wrote %s after %d steps (%.0f s, %d thread(s))\n", c->out, c->steps,
               now_seconds() - st.t_start, get_threads());
    if (rc == 1) rc = 0; /* stopped by stop_after: OUT.resume holds the state */
    free(inputs); free(targets); free(mask); free(order); free(length);
    gpt_free(&model);
    dataset_free(&train); dataset_free(&valid);
    return rc;
}

/* ========================================================================================== */
/* 10. Stage 2 (Algorithm 1): pre-sampling. K solutions per training problem from the         */
/*     frozen reference model, each with its length L(y), grade A(x, y) and log pi_ref(y|x)   */

typedef struct {
    int problems, k, max_new;
    float temperature, top_p;
    uint64_t seed;
    GPTConfig config;     /* of the reference model that sampled */
    uint32_t params_crc;  /* CRC-32 of its parameters: prune checks it is given the same model */
    Example *sample;      /* problems * k: prompt + response */
    int *length;          /* L(y): response tokens of each sample */
    int *correct;         /* A(x, y) */
    double *ref_logprob;  /* log pi_ref(y|x), drawn with the sample (Response.logprob) */
    char *buffer;
} PresampledSet;

typedef struct {
    const char *ref, *data_dir, *out;
    int k, max_new, limit, quiet;
    int save_every;      /* problems between resumable saves to OUT.partial (0: only on Ctrl-C) */
    int discard_stale;   /* an OUT.partial of other settings: 1 start over (run), 0 refuse */
    int stop_after;      /* tests: stop (saving OUT.partial) after this many problems; 0: never */
    float temperature, top_p;
    uint64_t seed;
} PresampleConfig;

/* the progress of a presample run, for its progress lines and OUT.partial (Part II) */
typedef struct {
    char partial[4200];
    int start, last_saved, chunks; /* chunks: done since start */
    double t_start, tokens, work_left, work_done;
} PresampleProgress;

static int presample_begin(const PresampleConfig *c, GPT *ref, Problem **problems, int *P, char *err);
static int presample_recover(const PresampleConfig *c, PresampleProgress *pp, const PresampledSet *want,
                             const Problem *problems, int P, Response *r, char *arena, char *err);
static int presample_after_chunk(const PresampleConfig *c, PresampleProgress *pp, PresampledSet *ps,
                                 const Problem *problems, const Response *r, int p0, int n, char *err);
static int presample_finish(const PresampleConfig *c, const PresampleProgress *pp, const PresampledSet *ps,
                            const Problem *problems, const Response *r, char *err);
static uint32_t params_crc(const GPT *model);

#define PRESAMPLE_CHUNK 128 /* problems per call of generate: a progress line, a chance to save */

/* Stage 2: K samples of each problem of prune.txt at the given temperature, with their lengths,
 * grades and log pi_ref, into OUT (and OUT.stats: L_ref, A_ref per problem). Resumes from
 * OUT.partial. */
static int run_presample(const PresampleConfig *c, char *err) {
    GPT ref;
    Problem *problems;
    int P, K = c->k;
    if (presample_begin(c, &ref, &problems, &P, err)) return -1;
    int *ids = xmalloc(sizeof(int) * (size_t)P, "problems");
    for (int i = 0; i < P; i++) ids[i] = i; /* problem i samples from RNG streams (seed, i, 0..K-1) */
    Response *r = xcalloc((size_t)P * K, sizeof(Response), "samples");
    size_t stride = (size_t)K * (size_t)(c->max_new + 1); /* a problem's text in the arena */
    char *arena = xmalloc((size_t)P * stride, "samples");
    SampleConfig sc = {.temperature = c->temperature, .top_p = c->top_p, .max_new = c->max_new,
                       .seed = c->seed};
    PresampledSet ps = {.problems = P, .k = K, .max_new = c->max_new, .temperature = c->temperature,
                        .top_p = c->top_p, .seed = c->seed, .config = ref.config,
                        .params_crc = params_crc(&ref)};
    PresampleProgress pp;
    int start = presample_recover(c, &pp, &ps, problems, P, r, arena, err), rc = start < 0 ? -1 : 0;
    int chunk = c->save_every > 0 && c->save_every < PRESAMPLE_CHUNK ? c->save_every : PRESAMPLE_CHUNK;
    if (!c->quiet && rc == 0)
        fprintf(stderr, "presample: %d problems x %d samples from %s, %d thread(s)\n", P, K, c->ref,
                get_threads());
    /* chunks change nothing in the samples: each problem has its own streams */
    for (int p0 = start; rc == 0 && p0 < P; p0 += chunk) {
        int n = P - p0 < chunk ? P - p0 : chunk;
        generate(&ref, problems + p0, ids + p0, n, K, &sc, r + (size_t)p0 * K, arena + (size_t)p0 * stride);
        rc = presample_after_chunk(c, &pp, &ps, problems, r, p0, n, err);
    }
    if (rc == 0) rc = presample_finish(c, &pp, &ps, problems, r, err);
    if (rc == 1) rc = 0; /* stopped by stop_after: OUT.partial holds the samples so far */
    free(problems); free(ids); free(r); free(arena);
    gpt_free(&ref);
    return rc;
}

/* ========================================================================================== */
/* 11. THE METHOD: O1-Pruner, paper Sec. 3 and Algorithm 1                                    */
/*                                                                                            */
/*   Eq. 8-9   L_ref(x), A_ref(x): the reference's mean length and accuracy       reference_stats */
/*   Eq. 10    R(x,y) = L_ref(x) / L(y) - 1 + lambda (A(x,y) - A_ref(x))        length_reward   */
/*   weights   w = R (paper), or clip(R, -2, 4) z-scored over the whole set        advantages      */
/*   selection m of the K samples of each problem (official)                   select_o1_pruner */
/*   Eq. 11    PPO-clip on r = pi_theta(y|x) / pi_ref(y|x), pi_ref frozen        ppo_clip_loss   */
/*   the step  gather, forward, Eq. 11, backward, AdamW                           prune_step      */
/*   beside it the paper's baselines (SFT on the shortest correct samples, DPO) and its AES.  */
/*                                                                                            */
/* Where the official code (StarDewXXX/O1-Pruner) and the paper differ, both are here; the    */
/* official variant is the default, because it produced the published numbers (README "Paper  */
/* vs official code").                                                                        */

enum { STREAM_SELECT = 16, STREAM_PRUNE_BATCH };
typedef enum { METHOD_O1_PRUNER, METHOD_SFT_SHORTEST, METHOD_DPO } Method;
static const char *const METHOD_NAMES[] = {"o1-pruner", "sft-shortest", "dpo"};

typedef struct {
    const char *ref, *presampled, *out, *data_dir; /* data_dir: valid.txt, for the training curve */
    int m, batch, epochs, log_every, save_every, quiet, correct_only;
    int curve_problems;  /* valid problems the training curve decodes at each point */
    int discard_stale;   /* a resumable state of other settings: 1 start over (run), 0 refuse */
    long stop_after;     /* tests: stop (saving the resumable state) after this many steps; 0: never */
    float lambda, clip_eps, lr, lr_min, warmup_frac, weight_decay, grad_clip;
    AdvantageMode advantage;
    RatioMode ratio;
    Method method;       /* O1-Pruner, or one of the paper's baselines */
    float beta;          /* DPO */
    uint64_t seed;
} PruneConfig;

/* lambda 2 is the paper's best (its Table 3); m = 8 of K = 16 trains on more samples than the
 * official m = 2, which helps this small model most (README "Variants") */
static void prune_defaults(PruneConfig *c) {
    PruneConfig d = {.ref = "data/reference.bin", .presampled = "out/presampled.txt", .out = "out/pruned.bin",
                     .data_dir = "data", .m = 8, .batch = 32, .epochs = 1, .log_every = 25, .save_every = 50,
                     .curve_problems = 32, .lambda = 2.0f, .clip_eps = 0.2f, .lr = 1e-4f, .lr_min = 0.0f,
                     .warmup_frac = 0.1f, .weight_decay = 0.0f, .grad_clip = 10.0f,
                     .advantage = ADVANTAGE_OFFICIAL, .ratio = RATIO_MEAN, .method = METHOD_O1_PRUNER,
                     .beta = 0.1f, .seed = 1};
    *c = d;
}

/* Eq. 8-9: the reference model's mean response length L_ref(x) and accuracy A_ref(x) on a
 * problem, over all K of its pre-sampled solutions (length[j] tokens, correct[j] in {0, 1}) */
void reference_stats(const int *length, const int *correct, int K, double *L_ref, double *A_ref) {
    double L = 0, A = 0;
    for (int j = 0; j < K; j++) {
        L += length[j];
        A += correct[j];
    }
    *L_ref = L / K;
    *A_ref = A / K;
}

/* Eq. 10, the length-harmonizing reward: shorter than the reference's mean length is good, and
 * so is being more accurate than the reference on this problem. The length term is unbounded
 * above, the accuracy term is not: a WRONG solution (A = 0) still earns a positive reward when
 * L < L_ref / (1 + lambda A_ref), and the official clip's top, 4, when L < L_ref / (5 + lambda A_ref).
 * The z-score then ranks it with the right ones: lambda is what keeps accuracy in the loss. */
double length_reward(double L_ref, double L, double A, double A_ref, double lambda) {
    return L_ref / L - 1.0 + lambda * (A - A_ref);
}

/* The weight w of each sample in the loss. Paper: w = R. Official: R clipped to [-2, 4], then
 * z-scored over the whole training set (population std; a constant set gives w = 0), so that
 * the weights of a batch are comparable across problems and steps. */
#define REWARD_CLIP_LO -2.0
#define REWARD_CLIP_HI 4.0
void advantages(const double *reward, int n, AdvantageMode mode, float *w) {
    if (mode == ADVANTAGE_PAPER) {
        for (int i = 0; i < n; i++) w[i] = (float)reward[i];
        return;
    }
    double *clipped = xmalloc(sizeof(double) * (size_t)(n > 0 ? n : 1), "advantages");
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < n; i++) {
        clipped[i] = fmin(fmax(reward[i], REWARD_CLIP_LO), REWARD_CLIP_HI);
        mean += clipped[i];
    }
    mean /= n;
    for (int i = 0; i < n; i++) {
        double d = clipped[i] - mean;
        var += d * d;
    }
    double std = sqrt(var / n);
    for (int i = 0; i < n; i++) w[i] = std > 1e-12 ? (float)((clipped[i] - mean) / std) : 0.0f;
    free(clipped);
}

/* Which samples train, with what weight (the official construct_dataset.py): for each problem,
 * Eq. 8-9 over all K samples, then the samples shuffled and the first m kept, each with its
 * reward (Eq. 10); then the weights over the WHOLE selected set, not per problem or batch.
 * Writes from (the samples' indices in ps) and w; returns the count, P*m (fewer with
 * --correct-only, an extension that is not in the paper: the wrong samples are dropped after
 * weighting). */
static int select_o1_pruner(const PruneConfig *c, const PresampledSet *ps, int *from, float *w,
                            double *mean_reward) {
    int n = ps->problems * c->m, S = 0, order[1024];
    double *reward = xcalloc((size_t)n, sizeof(double), "rewards");
    int *correct = xcalloc((size_t)n, sizeof(int), "rewards");
    for (int p = 0; p < ps->problems; p++) {
        const int *length = ps->length + p * ps->k, *acc = ps->correct + p * ps->k;
        double L_ref, A_ref;
        reference_stats(length, acc, ps->k, &L_ref, &A_ref); /* Eq. 8-9 */
        /* the official code shuffles each problem's K samples and keeps the first m: a random
         * m of them, not the best or the shortest; every problem draws from its own stream */
        Rng rng;
        rng_seed(&rng, c->seed, stream(STREAM_SELECT, (uint64_t)p), 0);
        for (int j = 0; j < ps->k; j++) order[j] = j;
        shuffle(order, ps->k, &rng);
        for (int j = 0; j < c->m; j++, S++) {
            int i = order[j];
            from[S] = p * ps->k + i;
            reward[S] = length_reward(L_ref, length[i], acc[i], A_ref, c->lambda); /* Eq. 10 */
            correct[S] = acc[i];
        }
    }
    advantages(reward, S, c->advantage, w); /* over the whole selected set at once */
    *mean_reward = 0.0;
    for (int i = 0; i < S; i++) *mean_reward += reward[i] / S;
    if (c->correct_only) {
        int kept = 0;
        for (int i = 0; i < S; i++)
            if (correct[i]) { from[kept] = from[i]; w[kept] = w[i]; kept++; }
        S = kept;
    }
    free(reward); free(correct);
    return S;
}

/* log pi(y_i|x_i) of B sequences: their per-token log-probs summed over the response tokens
 * (mask = 1), in double. For pi_ref, prune reads these sums from pre-sampling instead. */
static void sequence_logprobs(const float *logprob, const float *mask, int B, int T, double *sum) {
    for (int i = 0; i < B; i++) {
        sum[i] = 0.0;
        for (int t = 0; t < T; t++) sum[i] += (double)mask[i * T + t] * logprob[i * T + t];
    }
}

/* Eq. 11, the off-policy PPO-clip objective over B sequences:
 *   loss = mean_i max(-w_i r_i, -w_i clip(r_i, 1-eps, 1+eps))
 * r_i = pi_theta(y_i|x_i) / pi_ref(y_i|x_i) over the response tokens (mask = 1):
 *   RATIO_MEAN (official): r = exp(mean_t log pi_theta - mean_t log pi_ref)
 *   RATIO_SUM  (paper):    r = exp(sum_t  log pi_theta - sum_t  log pi_ref)
 * pi_ref is the frozen reference model: ref_logprob_sum[i] is its sum over the same tokens.
 * Writes d loss / d logprob (B, T) and, if `ratio` is not NULL, each r_i. The max picks the
 * clipped term exactly when r is outside the range on the side that w pushes it towards; that
 * term is constant in theta, so its gradient is 0: a sample stops pulling once it has moved
 * far enough from pi_ref, which is what keeps the off-policy update safe. */
PpoStats ppo_clip_loss(const float *logprob, const float *mask, const double *ref_logprob_sum, const float *w,
                       int B, int T, RatioMode mode, float eps, float *dlogprob, double *ratio) {
    PpoStats st = {0, 0, 0, 0};
    for (int i = 0; i < B; i++) {
        double sum = 0.0, count = 0.0;
        for (int t = 0; t < T; t++) {
            sum += (double)mask[i * T + t] * logprob[i * T + t];
            count += mask[i * T + t];
        }
        if (count == 0) count = 1; /* no response tokens: r = 1, no gradient below */
        double log_ratio = mode == RATIO_MEAN ? (sum - ref_logprob_sum[i]) / count : sum - ref_logprob_sum[i];
        double r = exp_f64(log_ratio), clipped = fmin(fmax(r, 1.0 - eps), 1.0 + eps);
        if (ratio) ratio[i] = r;
        double unclipped_term = -w[i] * r, clipped_term = -w[i] * clipped;
        int use_clipped = clipped_term > unclipped_term;
        st.loss += use_clipped ? clipped_term : unclipped_term;
        st.mean_ratio += r;
        st.clipped_fraction += use_clipped;
        st.mean_advantage += w[i];
        /* d loss / d logprob_t = (1/B) * (-w r) * d log r / d logprob_t, on the unclipped branch */
        double g = use_clipped ? 0.0 : -w[i] * r / B / (mode == RATIO_MEAN ? count : 1.0);
        for (int t = 0; t < T; t++) dlogprob[i * T + t] = (float)(g * mask[i * T + t]);
    }
    st.loss /= B;
    st.mean_ratio /= B;
    st.clipped_fraction /= B;
    st.mean_advantage /= B;
    return st;
}

/* The paper's baselines (Sec. 4), trained on the same pre-sampled set:
 *  SFT-shortest: the masked NLL (as in stage 1) on the two shortest correct samples of a problem;
 *  DPO (Rafailov et al.): chosen y_w = one of those two, rejected y_l = the longest sample.
 * select_baseline writes SFT-shortest's samples, or DPO's pairs as sequences 2q (chosen) and
 * 2q+1 (rejected); a pair whose rejected sample is no longer than its chosen one teaches nothing
 * and is left out. Ties go to the lower sample index. Returns the number of sequences. */
#define BASELINE_SHORTEST 2
#define BASELINE_SFT_LR 1e-4f /* compare's defaults: README "Comparison" explains them */
#define BASELINE_DPO_LR 3e-6f
/* the two shortest correct samples of each problem (SFT), or those against the longest (DPO) */
static int select_baseline(Method method, const PresampledSet *ps, int *from) {
    int S = 0;
    for (int p = 0; p < ps->problems; p++) {
        const int *length = ps->length + p * ps->k, *correct = ps->correct + p * ps->k;
        int chosen[BASELINE_SHORTEST], n_chosen = 0, longest = 0;
        for (int j = 1; j < ps->k; j++) if (length[j] > length[longest]) longest = j;
        for (int q = 0; q < BASELINE_SHORTEST; q++) {
            int best = -1;
            for (int j = 0; j < ps->k; j++) {
                if (!correct[j] || (q > 0 && j == chosen[0])) continue;
                if (best < 0 || length[j] < length[best]) best = j;
            }
            if (best >= 0) chosen[n_chosen++] = best;
        }
        for (int q = 0; q < n_chosen; q++) {
            if (method == METHOD_DPO && length[longest] <= length[chosen[q]]) continue;
            from[S++] = p * ps->k + chosen[q];
            if (method == METHOD_DPO) from[S++] = p * ps->k + longest;
        }
    }
    return S;
}

/* DPO over P pairs (sequences 2p and 2p+1), log pi summed over the response tokens:
 *    z_p = beta * ((log pi_theta(y_w) - log pi_ref(y_w)) - (log pi_theta(y_l) - log pi_ref(y_l)))
 *    loss = mean_p -log sigmoid(z_p)
 *  d loss / d log pi_theta(y_w) = -beta sigmoid(-z_p) / P, and the opposite for y_l. */
DpoStats dpo_loss(const float *logprob, const float *mask, const double *ref_logprob_sum, int P, int T,
                  float beta, float *dlogprob) {
    DpoStats st = {0, 0, 0};
    for (int p = 0; p < P; p++) {
        double log_ratio[2];
        for (int j = 0; j < 2; j++) {
            int i = 2 * p + j;
            double sum = 0.0;
            for (int t = 0; t < T; t++) sum += (double)mask[i * T + t] * logprob[i * T + t];
            log_ratio[j] = sum - ref_logprob_sum[i];
        }
        double z = beta * (log_ratio[0] - log_ratio[1]);
        /* -log sigmoid(z), stable both ways */
        st.loss += z > 0 ? log1p_f64(exp_f64(-z)) : -z + log1p_f64(exp_f64(z));
        st.margin += log_ratio[0] - log_ratio[1];
        st.accuracy += z > 0;
        double g = beta / (1.0 + exp_f64(z)) / P; /* beta sigmoid(-z) / P */
        for (int t = 0; t < T; t++) {
            dlogprob[(2 * p) * T + t] = (float)(-g * mask[(2 * p) * T + t]);
            dlogprob[(2 * p + 1) * T + t] = (float)(g * mask[(2 * p + 1) * T + t]);
        }
    }
    st.loss /= P;
    st.margin /= P;
    st.accuracy /= P;
    return st;
}

/* Accuracy-Efficiency Score (paper Sec. 4) of a model against a baseline:
 * dL = (L_base - L) / L_base, dA = (Acc - Acc_base) / Acc_base,
 * AES = dL + 3 dA if dA >= 0, else dL - 5 |dA|: losing accuracy costs more than gaining it earns */
double accuracy_efficiency_score(double L_base, double L, double acc_base, double acc) {
    double dL = (L_base - L) / L_base, dA = acc_base > 0 ? (acc - acc_base) / acc_base : 0.0;
    return dA >= 0 ? dL + 3.0 * dA : dL - 5.0 * fabs(dA);
}

/* What prune trains on: the selected samples with their weights and log pi_ref(y|x) */
typedef struct {
    Dataset samples;          /* prompt + response; DPO: chosen at 2q, rejected at 2q+1 */
    float *weight;            /* w of each sample (O1-Pruner) */
    double *ref_logprob_sum;  /* log pi_ref(y|x), summed over the response tokens */
    int per_item;             /* sequences that stay together in a batch: 1, or 2 (a DPO pair) */
} TrainingSet;

/* the buffers of one batch of B sequences of up to T tokens: the indices of its sequences in the
 * training set, the token ids and the loss mask (make_sft_batch), what prune_step gathers for Eq. 11 */
typedef struct { int *idx, *inputs, *targets; float *mask, *weight; double *ref_logprob_sum; } Batch;

/* buffers for batches of up to B sequences of T tokens */
static void batch_alloc(Batch *b, int B, int T) {
    size_t bt = (size_t)B * T;
    b->idx = xmalloc(sizeof(int) * (size_t)B, "batch");
    b->inputs = xmalloc(sizeof(int) * bt, "batch");
    b->targets = xmalloc(sizeof(int) * bt, "batch");
    b->mask = xmalloc(sizeof(float) * bt, "batch");
    b->weight = xmalloc(sizeof(float) * (size_t)B, "batch");
    b->ref_logprob_sum = xmalloc(sizeof(double) * (size_t)B, "batch");
}

/* what batch_alloc allocated */
static void batch_free(Batch *b) {
    free(b->idx); free(b->inputs); free(b->targets); free(b->mask); free(b->weight); free(b->ref_logprob_sum);
}

/* Algorithm 1 before its loop: the samples to train on, their weights (Eq. 8-10), and
 * log pi_ref(y|x) of each. pi_ref is frozen, and pre-sampling drew y from it: the sampler summed
 * log pi_ref(y_t|x, y_<t) as it drew each token (Response.logprob), from logits that are the
 * forward pass's to the bit (section 4), so nothing is recomputed here (test.c checks it is the
 * same bits as a forward pass of pi_ref). Returns the mean reward. */
static double training_set_build(TrainingSet *ts, const PruneConfig *c, const PresampledSet *ps) {
    size_t capacity =
            (size_t)ps->problems * (size_t)(ps->k > 2 * BASELINE_SHORTEST ? ps->k : 2 * BASELINE_SHORTEST);
    int *from = xcalloc(capacity, sizeof(int), "training set");
    ts->weight = xcalloc(capacity, sizeof(float), "advantages");
    double mean_reward = 0.0;
    int S = c->method == METHOD_O1_PRUNER ? select_o1_pruner(c, ps, from, ts->weight, &mean_reward)
                                          : select_baseline(c->method, ps, from);
    Example *ex = xcalloc((size_t)(S > 0 ? S : 1), sizeof(Example), "training set");
    ts->ref_logprob_sum = xcalloc((size_t)(S > 0 ? S : 1), sizeof(double), "reference log-probs");
    for (int i = 0; i < S; i++) {
        ex[i] = ps->sample[from[i]]; /* the text stays in ps */
        ts->ref_logprob_sum[i] = ps->ref_logprob[from[i]];
    }
    ts->samples = (Dataset){.ex = ex, .count = S, .buffer = NULL};
    ts->per_item = c->method == METHOD_DPO ? 2 : 1;
    free(from);
    return mean_reward;
}

/* a baseline's loss on the batch, d loss / d logprob into dlogprob; stat: DPO's margin, accuracy */
static double baseline_loss(const PruneConfig *c, const float *logprob, const Batch *b, int T,
                            float *dlogprob, double stat[3]) {
    if (c->method == METHOD_DPO) {
        DpoStats st = dpo_loss(logprob, b->mask, b->ref_logprob_sum, c->batch / 2, T, c->beta, dlogprob);
        stat[0] = st.margin;
        stat[1] = st.accuracy;
        return st.loss;
    }
    return masked_mean_nll(logprob, b->mask, c->batch * T, dlogprob); /* SFT-shortest */
}

/* One step of Algorithm 1's loop, on the sequences b->idx of the training set: gather their
 * weights and log pi_ref, forward pi_theta, Eq. 11, backward, AdamW. Writes the loss and its
 * statistics; returns the gradient norm (not finite: the step was not taken). */
static double prune_step(GPT *policy, const TrainingSet *ts, Batch *b, const PruneConfig *c,
                         const OptimConfig *oc, long step, double *loss, double stat[3]) {
    for (int i = 0; i < c->batch; i++) {
        b->weight[i] = ts->weight[b->idx[i]];                  /* w (Eq. 10 and the weights) */
        b->ref_logprob_sum[i] = ts->ref_logprob_sum[b->idx[i]]; /* log pi_ref(y|x) */
    }
    int T = make_sft_batch(&ts->samples, b->idx, c->batch, b->inputs, b->targets, b->mask);
    gpt_forward(policy, b->inputs, b->targets, c->batch, T);   /* log pi_theta(y_t | x, y_<t) */
    stat[0] = stat[1] = stat[2] = 0.0;
    if (c->method == METHOD_O1_PRUNER) {                        /* Eq. 11 */
        PpoStats st = ppo_clip_loss(policy->logprob, b->mask, b->ref_logprob_sum, b->weight, c->batch, T,
                                    c->ratio, c->clip_eps, policy->dlogprob, NULL);
        *loss = st.loss;
        stat[0] = st.mean_ratio, stat[1] = st.clipped_fraction, stat[2] = st.mean_advantage;
    } else {
        *loss = baseline_loss(c, policy->logprob, b, T, policy->dlogprob, stat);
    }
    return train_step(policy, b->inputs, b->targets, oc, step, *loss); /* backward, clip, AdamW */
}

/* ========================================================================================== */
/* 12. Stage 3 (Algorithm 1): prune. pi_theta starts as pi_ref and minimises Eq. 11 over the  */
/*     weighted pre-sampled solutions for a few epochs; pi_ref stays frozen throughout         */

static int prune_begin(const PruneConfig *c, PresampledSet *ps, GPT *ref, char *err);
static void presampled_free(PresampledSet *ps);
static uint32_t prune_tag(const PruneConfig *c, const PresampledSet *ps);
static void prune_announce(const PruneConfig *c, const PresampledSet *ps, int items, double mean_reward,
                           long total);
static void prune_progress(Stage *s, const PruneConfig *c, long done, double loss, const double stat[3],
                           float lr);
static Curve *curve_begin(const PruneConfig *c, const Stage *s, GPT *policy, const Dataset *valid,
                          int resumed);
static void curve_step(Curve *curve, const PruneConfig *c, GPT *policy, const Dataset *valid, long done,
                       double loss, double stat);
static void curve_free(Curve *curve);

/* the sequences of a step: `per_step` items of the epoch's order, each 1 sequence (a DPO pair: 2) */
static void step_batch(int *idx, const int *order, long step, long steps_per_epoch, int per_step,
                       int per_item) {
    const int *items = order + (step % steps_per_epoch) * per_step;
    for (int q = 0; q < per_step; q++)
        for (int j = 0; j < per_item; j++) idx[q * per_item + j] = items[q] * per_item + j;
}

/* Stage 3: the training set (Eq. 8-10, log pi_ref from pre-sampling), then epochs of prune_step
 * in batches of similar length. Resumes from OUT.resume; writes OUT and OUT.curve. 0, -1 or -2
 * (interrupted). */
static int run_prune(const PruneConfig *c, char *err) {
    PresampledSet ps;
    GPT ref, policy; /* pi_ref: pi_theta's start, and the model that drew the pre-sampled set */
    if (prune_begin(c, &ps, &ref, err)) return -1; /* the files, checked against each other */
    Batch b;
    batch_alloc(&b, c->batch, ref.config.block_size);
    TrainingSet ts;
    double mean_reward = training_set_build(&ts, c, &ps);
    int items = ts.samples.count / ts.per_item, per_step = c->batch / ts.per_item, *order = NULL,
        *length = NULL;
    long steps_per_epoch = per_step > 0 ? items / per_step : 0, epoch = -1;
    Stage st = {.name = "prune", .out = c->out, .total = steps_per_epoch * c->epochs,
                .save_every = c->save_every, .stop_after = c->stop_after, .quiet = c->quiet};
    Dataset valid = {0};
    int rc = -1, resumed;
    if (steps_per_epoch < 1) {
        seterr(err, "%s: only %d training %s for %s, fewer than one step of --batch %d%s", c->presampled,
               items, ts.per_item == 2 ? "pairs" : "sequences", METHOD_NAMES[c->method], c->batch,
               ts.per_item == 2 ? " (2 sequences a pair)" : "");
        goto cleanup;
    }
    if ((resumed = stage_begin(&st, &policy, &ref.config, prune_tag(c, &ps), c->discard_stale, err)) < 0)
        goto cleanup;
    /* Algorithm 1 starts pi_theta at pi_ref, so every ratio of the first step is exactly 1 */
    if (!resumed) memcpy(policy.params, ref.params, ref.num_params * sizeof(float));
    if (dataset_load_split(&valid, c->data_dir, "valid", ref.config.block_size, err)) goto cleanup_policy;
    gpt_alloc_training(&policy, c->batch, ref.config.block_size);
    order = xmalloc(sizeof(int) * (size_t)items, "batch order");
    length = xmalloc(sizeof(int) * (size_t)items, "batch order"); /* batches group similar lengths */
    for (int q = 0; q < items; q++) length[q] = ts.samples.ex[q * ts.per_item + ts.per_item - 1].length;
    /* the official schedule: warmup over the first 10% of the steps, then a cosine */
    OptimConfig oc = {.lr_max = c->lr, .lr_min = c->lr_min,
                      .warmup_steps = (int)(c->warmup_frac * st.total + 0.5), .total_steps = (int)st.total,
                      .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = c->weight_decay,
                      .grad_clip = c->grad_clip};
    prune_announce(c, &ps, items, mean_reward, st.total);
    st.curve = curve_begin(c, &st, &policy, &valid, resumed);
    rc = 0;
    for (long step = policy.step; rc == 0 && step < st.total; step++) {
        if (step / steps_per_epoch != epoch) { /* a new epoch: a new order of the items */
            epoch = step / steps_per_epoch;
            epoch_order(order, items, length, per_step, c->seed ^ 0x5052554e45ULL, epoch);
        }
        /* this step's sequences, then Algorithm 1's update on them */
        step_batch(b.idx, order, step, steps_per_epoch, per_step, ts.per_item);
        double loss, stat[3];
        double norm = prune_step(&policy, &ts, &b, c, &oc, step, &loss, stat);
        if (!isfinite(norm)) { rc = stage_diverged(&st, step, loss, err); break; }
        /* a point of the training curve, a progress line, OUT.resume when due or on a stop */
        curve_step(st.curve, c, &policy, &valid, step + 1, loss, stat[0]);
        prune_progress(&st, c, step + 1, loss, stat, lr_schedule(&oc, step));
        rc = stage_save_or_stop(&st, &policy, step + 1, err);
    }
    if (rc == 0) {
        policy.step = 0; /* the final model starts fresh for whoever loads it */
        rc = stage_finish(&st, &policy, err);
        if (rc == 0) printf("wrote %s (%s, %ld steps, %.0f s)\n", c->out, METHOD_NAMES[c->method], st.total,
                            now_seconds() - st.t_start);
    }
    if (rc == 1) rc = 0; /* stopped by stop_after: OUT.resume holds the state */
    curve_free(st.curve);
    dataset_free(&valid);
cleanup_policy:
    gpt_free(&policy);
cleanup:
    free(order); free(length);
    free(ts.samples.ex); free(ts.weight); free(ts.ref_logprob_sum);
    batch_free(&b);
    gpt_free(&ref);
    presampled_free(&ps);
    return rc;
}

/* ########################################################################################## */
/*  PART II - THE MACHINERY                                                                   */
/*  A learner can stop here: the method is all above. What follows makes it a tool: files that*/
/*  survive a crash and refuse bad input, runs that resume, reports, vectors for other        */
/*  implementations, the command line.                                                        */
/* ########################################################################################## */

/* ========================================================================================== */
/* 13. Files: CRC-32, atomic writes, whole text files                                         */

/* CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) - the one in zlib, so that
 * Python's zlib.crc32 checks our files. */
uint32_t crc32_update(uint32_t crc, const void *data, size_t n) {
    static uint32_t table[256];
    static int ready = 0;
    if (!ready) { /* benign race: every thread writes the same values */
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
        ready = 1;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* Atomic output: everything is written to "<path>.tmp", flushed to disk, then renamed over
 * <path>. A crash at any point leaves either the old file or the complete new one. */
typedef struct {
    FILE *f;
    char path[4096], tmp[4200];
} AtomicFile;

/* opens <path>.tmp for writing; af->path remembers where it goes */
static int atomic_open(AtomicFile *af, const char *path, char *err) {
    if (strlen(path) >= sizeof(af->path)) { seterr(err, "%s: path too long", path); return -1; }
    strcpy(af->path, path);
    snprintf(af->tmp, sizeof(af->tmp), "%s.tmp", path);
    af->f = fopen(af->tmp, "wb");
    if (!af->f) {
        seterr(err, "%s: cannot write (%s); check that the directory exists and is writable",
               af->tmp, strerror(errno));
        return -1;
    }
    return 0;
}

/* gives up: the temporary file goes, <path> is untouched */
static void atomic_abort(AtomicFile *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    remove(af->tmp);
}

/* The file-system calls that differ on Windows (mingw-w64; make_dir is with the command line):
 * the rest is C11 and POSIX that both have. A file's data to the disk; a rename that replaces the
 * target and is itself durable (Windows' rename refuses an existing target; POSIX makes the
 * rename durable by syncing the directory). */
#ifdef _WIN32
static int sync_file(FILE *f) { return _commit(_fileno(f)); }
static int replace_file(const char *from, const char *to) {
    return MoveFileExA(from, to, MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH) ? 0 : -1;
}
#else
static int sync_file(FILE *f) { return fsync(fileno(f)); }
static int replace_file(const char *from, const char *to) {
    if (rename(from, to) != 0) return -1;
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", to);
    char *slash = strrchr(dir, '/');
    if (slash) { if (slash == dir) slash[1] = 0; else *slash = 0; } else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
    return 0;
}
#endif

/* flush, sync, close, rename over <path>: the complete new file, or (on any failure) the old one */
static int atomic_commit(AtomicFile *af, char *err) {
    int ok = !ferror(af->f) && fflush(af->f) == 0 && sync_file(af->f) == 0;
    if (fclose(af->f) != 0) ok = 0;
    af->f = NULL;
    if (!ok || replace_file(af->tmp, af->path) != 0) {
        seterr(err, "%s: write failed (%s); is the disk full?", af->path, strerror(errno));
        remove(af->tmp);
        return -1;
    }
    return 0;
}

/* 2 GiB or more, in intmax_t: (off_t)1 << 31 overflows where off_t has 32 bits (32-bit x86, Windows) */
static int too_large(intmax_t size) { return size >= (intmax_t)1 << 31; }

/* A whole text file into a NUL-terminated buffer (a regular file under 2 GiB); `hint` tells the
 * user what to do when it is missing. */
static int read_text_file(const char *path, const char *hint, char **buffer, size_t *size, char *err) {
    *buffer = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return seterr(err, "%s: cannot open (%s); %s", path, strerror(errno), hint);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || too_large(st.st_size)) {
        seterr(err, "%s: not a regular file under 2 GiB; %s", path, hint);
        goto fail;
    }
    *size = (size_t)st.st_size;
    *buffer = xmalloc(*size + 1, "file contents");
    if (fread(*buffer, 1, *size, f) != *size) {
        seterr(err, "%s: read error; %s", path, hint);
        goto fail;
    }
    (*buffer)[*size] = 0;
    fclose(f);
    return 0;
fail:
    fclose(f);
    free(*buffer);
    *buffer = NULL;
    return -1;
}

/* ========================================================================================== */
/* 14. Checkpoints: little-endian; see README "Checkpoint format"                             */
/*   0  char[8]  "O1PRUNER"           32  u32 flags (bit 0: AdamW state follows the params)   */
/*   8  u32      version (1)          36  u32 resume tag (0 unless bit 0 of flags is set)     */
/*  12  u32[5]   vocab_size, block_size, n_layer, n_head, n_embd                              */
/*  40  u64      step                 48  u64 num_params                                      */
/*  56  f32[num_params] params  [f32[num_params] adam_m, f32[num_params] adam_v]  u32 crc32   */

#define CKPT_MAGIC "O1PRUNER"
#define CKPT_VERSION 1u
#define CKPT_HEADER 56
#define CKPT_REDO "re-create it (o1pruner sft / prune) or restore a copy"

/* integers to and from little-endian bytes, whatever the host's byte order */
static void put_u32(unsigned char *b, uint32_t v) {
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get_u32(const unsigned char *b) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)b[i] << (8 * i);
    return v;
}
static uint64_t get_u64(const unsigned char *b) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i);
    return v;
}

/* Float arrays as little-endian bytes, whatever the host's byte order, LE_CHUNK floats at a time
 * through a buffer: a float's bits are read as a uint32 (memcpy) and written byte by byte. A CRC
 * (crc != NULL) runs over the bytes as they are in the file, so a big-endian host reads the
 * shipped files and writes the same bytes as a little-endian one. */
#define LE_CHUNK 1024
static void floats_to_le(unsigned char *b, const float *x, size_t n) {
    for (size_t j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, &x[j], 4);
        put_u32(b + 4 * j, u);
    }
}

static int write_floats(FILE *f, uint32_t *crc, const float *x, size_t n) {
    unsigned char buf[4 * LE_CHUNK];
    for (size_t i = 0; i < n; i += LE_CHUNK) {
        size_t m = n - i < LE_CHUNK ? n - i : LE_CHUNK;
        floats_to_le(buf, x + i, m);
        if (crc) *crc = crc32_update(*crc, buf, 4 * m);
        if (fwrite(buf, 1, 4 * m, f) != 4 * m) return -1;
    }
    return 0;
}

static int read_floats(FILE *f, uint32_t *crc, float *x, size_t n) {
    unsigned char buf[4 * LE_CHUNK];
    for (size_t i = 0; i < n; i += LE_CHUNK) {
        size_t m = n - i < LE_CHUNK ? n - i : LE_CHUNK;
        if (fread(buf, 1, 4 * m, f) != 4 * m) return -1;
        *crc = crc32_update(*crc, buf, 4 * m);
        for (size_t j = 0; j < m; j++) {
            uint32_t u = get_u32(buf + 4 * j);
            memcpy(&x[i + j], &u, 4);
        }
    }
    return 0;
}

/* the CRC-32 of floats (ints) as their little-endian bytes */
static uint32_t crc32_floats(uint32_t crc, const float *x, size_t n) {
    unsigned char buf[4 * LE_CHUNK];
    for (size_t i = 0; i < n; i += LE_CHUNK) {
        size_t m = n - i < LE_CHUNK ? n - i : LE_CHUNK;
        floats_to_le(buf, x + i, m);
        crc = crc32_update(crc, buf, 4 * m);
    }
    return crc;
}

static uint32_t crc32_ints(uint32_t crc, const int *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4];
        put_u32(b, (uint32_t)x[i]);
        crc = crc32_update(crc, b, 4);
    }
    return crc;
}

/* header, parameters, AdamW moments (with_optimizer: a resumable state), CRC-32; atomically */
int checkpoint_save(const GPT *model, const char *path, int with_optimizer, char *err) {
    with_optimizer = with_optimizer && model->adam_m && model->adam_v;
    unsigned char h[CKPT_HEADER] = {0}; /* the layout above, every field little-endian */
    const GPTConfig *c = &model->config;
    memcpy(h, CKPT_MAGIC, 8);
    put_u32(h + 8, CKPT_VERSION);
    put_u32(h + 12, (uint32_t)c->vocab_size); put_u32(h + 16, (uint32_t)c->block_size);
    put_u32(h + 20, (uint32_t)c->n_layer);    put_u32(h + 24, (uint32_t)c->n_head);
    put_u32(h + 28, (uint32_t)c->n_embd);
    put_u32(h + 32, with_optimizer ? 1u : 0u);
    put_u32(h + 36, with_optimizer ? model->resume_tag : 0u); /* which settings the state belongs to */
    put_u64(h + 40, (uint64_t)model->step);
    put_u64(h + 48, (uint64_t)model->num_params);
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    uint32_t crc = crc32_update(0, h, sizeof(h));
    size_t n = model->num_params;
    int bad = fwrite(h, 1, sizeof(h), af.f) != sizeof(h) || write_floats(af.f, &crc, model->params, n);
    if (with_optimizer)
        bad = bad || write_floats(af.f, &crc, model->adam_m, n) || write_floats(af.f, &crc, model->adam_v, n);
    unsigned char tail[4];
    put_u32(tail, crc);
    if (bad || fwrite(tail, 1, 4, af.f) != 4) {
        seterr(err, "%s: write failed (%s); is the disk full?", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err);
}

/* The header of a checkpoint of file_size bytes, checked field by field before anything is
 * allocated for it: 0 with the config and the flags, or -1 with the reason in why */
static int checkpoint_header(const unsigned char *h, uint64_t file_size, GPTConfig *c, uint32_t *flags,
                             char *why) {
    if (memcmp(h, CKPT_MAGIC, 8) != 0) {
        seterr(why, "not an o1pruner checkpoint (bad magic); give a file written by o1pruner");
        return -1;
    }
    uint32_t version = get_u32(h + 8), field[5];
    if (version != CKPT_VERSION) {
        seterr(why, "checkpoint format version %u, this program reads version %u; use a matching o1pruner",
               version, CKPT_VERSION);
        return -1;
    }
    int fields_ok = 1;
    for (int i = 0; i < 5; i++) {
        field[i] = get_u32(h + 12 + 4 * i);
        fields_ok = fields_ok && field[i] <= 65536;
    }
    *c = (GPTConfig){.vocab_size = (int)field[0], .block_size = (int)field[1], .n_layer = (int)field[2],
                     .n_head = (int)field[3], .n_embd = (int)field[4]};
    char config_why[O1P_ERR_LEN] = "a config field is above 65536";
    if (!fields_ok || gpt_config_check(c, config_why) != 0) {
        seterr(why, "impossible model config in checkpoint (%s); the file is corrupt, " CKPT_REDO,
               config_why);
        return -1;
    }
    *flags = get_u32(h + 32);
    if (get_u64(h + 40) > ((uint64_t)1 << 40)) {
        seterr(why, "impossible optimizer step count in checkpoint header; the file is corrupt, " CKPT_REDO);
        return -1;
    }
    if (*flags > 1u || (*flags == 0 && get_u32(h + 36) != 0)) {
        seterr(why, "unknown flags in checkpoint header; the file is corrupt, " CKPT_REDO);
        return -1;
    }
    TensorInfo info[NUM_PARAM_TENSORS];
    size_t expected_params;
    fill_param_info(info, c, &expected_params);
    uint64_t num_params = get_u64(h + 48), arrays = *flags & 1u ? 3 : 1;
    if (num_params != expected_params) {
        seterr(why,
               "parameter count %llu does not match the config (expected %zu); the file is "
               "corrupt, " CKPT_REDO,
               (unsigned long long)num_params, expected_params);
        return -1;
    }
    uint64_t expected_size = CKPT_HEADER + arrays * num_params * sizeof(float) + 4;
    if (file_size != expected_size) {
        seterr(why, "%s checkpoint: %llu bytes, the header implies %llu; " CKPT_REDO,
               file_size < expected_size ? "truncated" : "oversized", (unsigned long long)file_size,
               (unsigned long long)expected_size);
        return -1;
    }
    return 0;
}

/* the header checked before anything is allocated, then the arrays and the CRC-32: a corrupt or
 * truncated file is refused with a message saying what is wrong and what to do */
int checkpoint_load(GPT *model, const char *path, int *has_optimizer, char *err) {
    memset(model, 0, sizeof(*model));
    char why[O1P_ERR_LEN] = "";
    unsigned char h[CKPT_HEADER], tail[4];
    float *m = NULL, *v = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        seterr(err, "%s: cannot open checkpoint (%s); check the path", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        seterr(err, "%s: not a regular file; give the path of a checkpoint", path);
        goto fail;
    }
    uint64_t file_size = (uint64_t)st.st_size;
    if (file_size < CKPT_HEADER + 4 || fread(h, 1, CKPT_HEADER, f) != CKPT_HEADER) {
        seterr(err, "%s: truncated checkpoint (%llu bytes, the header alone is %d); " CKPT_REDO, path,
               (unsigned long long)file_size, CKPT_HEADER + 4);
        goto fail;
    }
    GPTConfig c;
    uint32_t flags;
    if (checkpoint_header(h, file_size, &c, &flags, why)) {
        seterr(err, "%s: %s", path, why);
        goto fail;
    }
    gpt_build(model, &c);
    model->step = (long)get_u64(h + 40);
    model->resume_tag = get_u32(h + 36);
    size_t n = model->num_params;
    if (flags & 1u) {
        m = xcalloc(n, sizeof(float), "AdamW first moments");
        v = xcalloc(n, sizeof(float), "AdamW second moments");
    }
    uint32_t crc = crc32_update(0, h, CKPT_HEADER);
    int ok = !read_floats(f, &crc, model->params, n) &&
             (!m || (!read_floats(f, &crc, m, n) && !read_floats(f, &crc, v, n))) &&
             fread(tail, 1, 4, f) == 4;
    if (!ok || crc != get_u32(tail)) {
        seterr(err, "%s: %s; the file is corrupt, " CKPT_REDO, path, ok ? "CRC-32 mismatch" : "read error");
        goto fail;
    }
    fclose(f);
    if (!has_optimizer) { /* the parameters alone: a fresh model */
        free(m); free(v);
        model->step = 0;
        model->resume_tag = 0;
        return 0;
    }
    *has_optimizer = m != NULL;
    model->adam_m = m; /* gpt_alloc_training keeps these if already there */
    model->adam_v = v;
    return 0;
fail:
    fclose(f);
    free(m); free(v);
    gpt_free(model);
    return -1;
}

/* a model checkpoint for the task: the vocabulary must be the task's */
static int load_task_model(GPT *model, const char *path, char *err) {
    if (checkpoint_load(model, path, NULL, err)) return -1;
    if (model->config.vocab_size != VOCAB_SIZE ||
        model->config.block_size < MAX_PROMPT + minimal_length(MAX_TERMS)) {
        seterr(err, "%s: a model with vocab_size %d and context %d cannot do this task (needs %d and >= %d)",
               path, model->config.vocab_size, model->config.block_size, VOCAB_SIZE,
               MAX_PROMPT + minimal_length(MAX_TERMS));
        gpt_free(model);
        return -1;
    }
    return 0;
}

/* same architecture: a resumable state or a pre-sampled set belongs to this model */
static int configs_equal(const GPTConfig *a, const GPTConfig *b) {
    return a->vocab_size == b->vocab_size && a->block_size == b->block_size && a->n_layer == b->n_layer &&
           a->n_head == b->n_head && a->n_embd == b->n_embd;
}

/* the fingerprint of a model's parameters: which reference a pre-sampled set came from */
static uint32_t params_crc(const GPT *model) {
    return crc32_floats(0, model->params, model->num_params);
}


/* ========================================================================================== */
/* 15. The task's data splits (README "Data"): the test problems first, then every other      */
/*     split avoids them; and the reader of a split file                                      */

#define TASK_SEED 2501
#define N_TRAIN 96000
#define N_VALID 1000
#define N_PRUNE_PER_LEVEL 400
static const int n_test_per_level[MAX_TERMS + 1] = {0, 0, 20, 200, 200, 200, 200}; /* only 81 sums of 2 */

/* a number naming a problem (its n and digits), to keep the test problems out of other splits */
static long problem_key(const Problem *p) {
    long key = p->n;
    for (int i = 0; i < p->n; i++) key = key * 10 + p->digits[i];
    return key;
}

/* n random terms 1..9 */
static void draw_digits(Problem *p, int n, Rng *rng) {
    p->n = n;
    for (int i = 0; i < n; i++) p->digits[i] = 1 + (int)(rng_u64(rng) % 9);
}

/* the sorted keys of the test problems, which no other split may contain */
typedef struct { long keys[1024]; int count; Problem problems[1024]; } TestSet;

/* the test problems: distinct, a fixed number per difficulty, from their own streams */
static void make_test_set(TestSet *ts, uint64_t seed) {
    ts->count = 0;
    for (int n = MIN_TERMS; n <= MAX_TERMS; n++) {
        Rng rng;
        rng_seed(&rng, seed, stream(STREAM_TEST, (uint64_t)n), 0);
        int have = 0;
        while (have < n_test_per_level[n]) {
            Problem p;
            draw_digits(&p, n, &rng);
            long key = problem_key(&p);
            int dup = 0;
            for (int i = 0; i < ts->count; i++) dup |= ts->keys[i] == key;
            if (dup) continue;
            ts->problems[ts->count] = p;
            ts->keys[ts->count++] = key;
            have++;
        }
    }
}

/* is p one of the test problems? (binary search in their sorted keys) */
static int in_test_set(const long *sorted_keys, int count, const Problem *p) {
    long key = problem_key(p);
    return bsearch(&key, sorted_keys, (size_t)count, sizeof(long), cmp_long) != NULL;
}

/* the text of one split, one "prompt+trace" line per problem; *lines receives the count */
static char *split_text(const char *split, uint64_t seed, int *lines) {
    TestSet *ts = xmalloc(sizeof(TestSet), "test set");
    make_test_set(ts, seed);
    long sorted[1024];
    memcpy(sorted, ts->keys, sizeof(long) * (size_t)ts->count);
    qsort(sorted, (size_t)ts->count, sizeof(long), cmp_long);
    int count = !strcmp(split, "test") ? ts->count : !strcmp(split, "train") ? N_TRAIN
              : !strcmp(split, "valid") ? N_VALID : N_PRUNE_PER_LEVEL * (MAX_TERMS - MIN_TERMS + 1);
    size_t cap = (size_t)count * 160;
    char *text = xmalloc(cap, "split text");
    size_t len = 0;
    for (int i = 0; i < count; i++) {
        Problem p;
        char line[256];
        int n;
        if (!strcmp(split, "test")) {
            p = ts->problems[i];
            n = prompt_text(&p, line);
            n += minimal_trace(&p, line + n);
        } else {
            int purpose = !strcmp(split, "train")   ? STREAM_TRAIN
                          : !strcmp(split, "valid") ? STREAM_VALID
                                                    : STREAM_PRUNE;
            Rng rng;
            rng_seed(&rng, seed, stream(purpose, (uint64_t)i), 0);
            int terms;
            if (purpose == STREAM_PRUNE) terms = MIN_TERMS + i / N_PRUNE_PER_LEVEL;
            else { /* P(n) proportional to n-1: harder problems need more data */
                int u = (int)(rng_u64(&rng) % 15);
                terms = u < 1 ? 2 : u < 3 ? 3 : u < 6 ? 4 : u < 10 ? 5 : 6;
            }
            do draw_digits(&p, terms, &rng); while (in_test_set(sorted, ts->count, &p));
            n = prompt_text(&p, line);
            if (purpose == STREAM_PRUNE) n += minimal_trace(&p, line + n);
            else n += teacher_trace(&p, 0.2f + 0.8f * rng_uniform(&rng), &rng, line + n);
        }
        memcpy(text + len, line, (size_t)n);
        len += (size_t)n;
        text[len++] = '\n';
    }
    text[len] = 0;
    free(ts);
    *lines = count;
    return text;
}

static const char *split_names[4] = {"train", "valid", "test", "prune"};

/* A dataset: problems with a trace, read from a split file. Every line is validated: characters
 * in the vocabulary, a well-formed prompt, a trace that ends in the right answer, a length the
 * model's context holds. */
#define MAX_DATASET_LINES 10000000
/* every line of a split file, validated (see above); an error names the file and the line */
/* one line of a split, "prompt+trace": 0 with e filled, or -1 with the reason in why. The checks
 * are those a training example needs: tokens the model has, a prompt it can parse, a trace that
 * fits its context and ends, once, in the right answer */
static int dataset_line(Example *e, const char *line, int len, int block_size, char *why) {
    const char *eq = strchr(line, '=');
    for (int i = 0; i < len; i++)
        if (token_of(line[i]) < 0 || line[i] == '.') return seterr(why, "character outside the vocabulary");
    if (!eq) return seterr(why, "no '=' ending a prompt");
    if (parse_prompt(line, (int)(eq - line) + 1, &e->problem, why) != 0) return -1;
    if (len > block_size) return seterr(why, "%d characters, the model's context holds %d", len, block_size);
    if (!grade_response(&e->problem, eq + 1, (int)(line + len - eq - 1)))
        return seterr(why, "the trace does not end in the right answer \"A<sum>$\"");
    if (memchr(eq + 1, '$', (size_t)(line + len - eq - 2)))
        return seterr(why, "'$' before the end of the trace"); /* a response ends at its first '$' */
    e->prompt_len = (int)(eq - line) + 1;
    e->length = len;
    e->text = line;
    return 0;
}

/* every line of a split file, validated by dataset_line; an error names the file and the line */
static int dataset_load(Dataset *ds, const char *path, int block_size, char *err) {
    memset(ds, 0, sizeof(*ds));
    size_t size;
    if (read_text_file(path, "run 'o1pruner data' to write the splits", &ds->buffer, &size, err)) return -1;
    int lines = 0, ln;
    for (size_t i = 0; i < size; i++) lines += ds->buffer[i] == '\n';
    if (size && ds->buffer[size - 1] != '\n') lines++;
    if (lines == 0 || lines > MAX_DATASET_LINES) {
        seterr(err, "%s: %d lines, a split has 1 to %d; run 'o1pruner data' to write the splits", path, lines,
               MAX_DATASET_LINES);
        goto fail;
    }
    ds->ex = xcalloc((size_t)lines, sizeof(Example), "dataset");
    char *line = ds->buffer, why[O1P_ERR_LEN];
    for (ln = 1; ln <= lines; ln++) {
        char *end = strchr(line, '\n');
        if (end) *end = 0;
        int len = (int)strlen(line);
        if (end == NULL && line + len != ds->buffer + size) {
            seterr(err, "%s:%d: NUL byte in line", path, ln);
            goto fail;
        }
        if (dataset_line(&ds->ex[ds->count], line, len, block_size, why)) {
            seterr(err, "%s:%d: %s; expected a line like 3+5=03+5=08,A08$", path, ln, why);
            goto fail;
        }
        ds->count++;
        if (!end) break;
        line = end + 1;
    }
    return 0;
fail:
    dataset_free(ds);
    return -1;
}

/* DIR/SPLIT.txt */
static int dataset_load_split(Dataset *ds, const char *dir, const char *split, int block_size, char *err) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.txt", dir, split);
    return dataset_load(ds, path, block_size, err);
}

/* ========================================================================================== */
/* 16. The pre-sampled set (README "The pre-sampled set"): plain text, one sample a line,     */
/*     written by stage 2, read back (validated line by line) by stage 3 and a resumed stage 2 */

/* what presampled_read allocated; the set is zeroed */
static void presampled_free(PresampledSet *ps) {
    free(ps->sample); free(ps->length); free(ps->correct); free(ps->ref_logprob); free(ps->buffer);
    memset(ps, 0, sizeof(*ps));
}

#define PRESAMPLED_FORMAT 2
/* the header (format, the reference's CRC and config, the sampling settings), then one line per
 * sample: problem, sample, correct, length, log pi_ref, prompt+response. Atomically. %.17g
 * prints a double that reads back as the same bits. */
static int presampled_write(const char *path, const PresampledSet *ps, const Problem *problems,
                            const Response *r, const char *ref_path, char *err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    const GPTConfig *c = &ps->config;
    fprintf(af.f, "# o1pruner presampled set, format %d\n", PRESAMPLED_FORMAT);
    fprintf(af.f, "# reference %08x config %d %d %d %d %d (%s)\n", ps->params_crc, c->vocab_size,
            c->block_size, c->n_layer, c->n_head, c->n_embd, ref_path);
    fprintf(af.f, "# problems %d k %d temperature %.9g top_p %.9g max_new %d seed %llu\n", ps->problems,
            ps->k, ps->temperature, ps->top_p, ps->max_new, (unsigned long long)ps->seed);
    fprintf(af.f, "# columns: problem sample correct length ref_logprob prompt+response\n");
    for (int i = 0; i < ps->problems * ps->k; i++) {
        char prompt[MAX_PROMPT + 1];
        prompt_text(&problems[i / ps->k], prompt);
        fprintf(af.f, "%d %d %d %d %.17g %s%s\n", i / ps->k, i % ps->k, r[i].correct, r[i].length,
                r[i].logprob, prompt, r[i].text);
    }
    return atomic_commit(&af, err);
}

/* per-problem L_ref, A_ref (Eq. 8-9), for people (prune recomputes them from the samples) */
static int presampled_write_stats(const char *path, const PresampledSet *ps, char *err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    fprintf(af.f, "# problem n L_ref A_ref (means over the K = %d samples)\n", ps->k);
    for (int p = 0; p < ps->problems; p++) {
        double L_ref, A_ref;
        reference_stats(ps->length + p * ps->k, ps->correct + p * ps->k, ps->k, &L_ref, &A_ref);
        fprintf(af.f, "%d %d %.9g %.9g\n", p, ps->sample[p * ps->k].problem.n, L_ref, A_ref);
    }
    return atomic_commit(&af, err);
}

/* the next line of a text buffer, its '\n' replaced by NUL in place, and *at moved past it;
 * NULL if no '\n' ends it */
static char *next_line(char **at) {
    char *line = *at, *nl = strchr(line, '\n');
    if (!nl) return NULL;
    *nl = 0;
    *at = nl + 1;
    return line;
}

/* header line ln (1..4) of a pre-sampled set: 0, or -1 with the reason in why */
static int presampled_header_line(PresampledSet *ps, int ln, const char *line, char *why) {
    int format = 0, n = 0;
    unsigned crc = 0;
    unsigned long long seed = 0;
    GPTConfig *c = &ps->config;
    if (ln == 1 && (sscanf(line, "# o1pruner presampled set, format %d%n", &format, &n) != 1 || line[n] ||
                    format != PRESAMPLED_FORMAT)) {
        seterr(why, "not an o1pruner pre-sampled set of format %d", PRESAMPLED_FORMAT);
        return -1;
    }
    if (ln == 2) {
        if (sscanf(line, "# reference %8x config %d %d %d %d %d (%n", &crc, &c->vocab_size, &c->block_size,
                   &c->n_layer, &c->n_head, &c->n_embd, &n) != 6 || gpt_config_check(c, NULL) != 0) {
            seterr(why, "malformed reference line");
            return -1;
        }
        ps->params_crc = crc;
    }
    if (ln == 3) {
        if (sscanf(line, "# problems %d k %d temperature %f top_p %f max_new %d seed %llu%n", &ps->problems,
                   &ps->k, &ps->temperature, &ps->top_p, &ps->max_new, &seed, &n) != 6 ||
            line[n] || ps->problems < 1 || ps->problems > 1000000 || ps->k < 1 || ps->k > 1024 ||
            ps->max_new < 1 || ps->max_new > c->block_size) {
            seterr(why, "malformed or out-of-range settings line");
            return -1;
        }
        ps->seed = seed;
    }
    return 0; /* line 4 names the columns */
}

/* sample line i, "problem sample correct length ref_logprob prompt+response", consistent with
 * itself and the header (the flag "correct" is what grading says, the length is the response's,
 * ref_logprob a log-probability): 0, or -1 with the reason in why */
static int presampled_sample_line(PresampledSet *ps, int i, char *line, char *why) {
    int problem, sample, correct, length, number_at = 0, k = ps->k;
    Example *e = &ps->sample[i];
    if (sscanf(line, "%d %d %d %d %n", &problem, &sample, &correct, &length, &number_at) != 4 ||
        number_at == 0) {
        seterr(why, "expected 'problem sample correct length ref_logprob text'");
        return -1;
    }
    if (problem != i / k || sample != i % k) {
        seterr(why, "expected problem %d sample %d here, found %d %d", i / k, i % k, problem, sample);
        return -1;
    }
    /* a decimal number (no hex, inf or nan: strtod reads more than %.17g writes), then one space */
    char *number = line + number_at, *end;
    int digits = (int)strspn(number, "+-.0123456789eE"), field = (int)strcspn(number, " ");
    double logprob = strtod(number, &end);
    if (line[number_at - 1] != ' ' || end == number || end != number + digits || digits != field ||
        !isfinite(logprob) || logprob > 0.0) {
        seterr(why, "ref_logprob '%.*s' is not a log-probability (a finite decimal number <= 0)",
               field < 40 ? field : 40, number);
        return -1;
    }
    if (*end != ' ' || !end[1]) {
        seterr(why, "no prompt+response after ref_logprob");
        return -1;
    }
    char *text = end + 1, *eq = strchr(text, '=');
    int len = (int)strlen(text), prompt_len = eq ? (int)(eq - text) + 1 : 0;
    for (int j = 0; j < len; j++)
        if (token_of(text[j]) < 0) {
            seterr(why, "character '%c' outside the vocabulary", text[j]);
            return -1;
        }
    if (!eq) {
        seterr(why, "no prompt ending in '='");
        return -1;
    }
    if (parse_prompt(text, prompt_len, &e->problem, why) != 0) return -1;
    if (length != len - prompt_len || length < 1 || length > ps->max_new) {
        seterr(why, "length %d does not match the response (%d tokens, cap %d)", length, len - prompt_len,
               ps->max_new);
        return -1;
    }
    if (len > ps->config.block_size) {
        seterr(why, "%d tokens, longer than the model's context %d", len, ps->config.block_size);
        return -1;
    }
    if (correct != grade_response(&e->problem, eq + 1, length)) {
        seterr(why, "'correct' is %d but grading says %d", correct, !correct);
        return -1;
    }
    if (sample > 0 &&
        memcmp(e->problem.digits, ps->sample[i - 1].problem.digits, sizeof(e->problem.digits))) {
        seterr(why, "a different problem than the line before, for the same problem id");
        return -1;
    }
    *e = (Example){.problem = e->problem, .prompt_len = prompt_len, .length = len, .text = text};
    ps->length[i] = length;
    ps->correct[i] = correct;
    ps->ref_logprob[i] = logprob;
    return 0;
}

/* Read and validate a pre-sampled set: the header, then exactly problems*k sample lines in
 * order. Errors name the file and line, then give `advice` (NULL: none). */
static int presampled_load(PresampledSet *ps, const char *path, const char *advice, char *err) {
    memset(ps, 0, sizeof(*ps));
    size_t size;
    if (read_text_file(path, "run 'o1pruner presample' first", &ps->buffer, &size, err)) return -1;
    char *at = ps->buffer, *line, why[O1P_ERR_LEN] = "";
    int ln;
    for (ln = 1; ln <= 4; ln++) {
        if (!(line = next_line(&at))) goto ends_early;
        if (presampled_header_line(ps, ln, line, why)) goto fail;
    }
    int total = ps->problems * ps->k;
    /* a sample line is at least "0 0 0 1 0 1+1=$\n" long: a header promising more samples than the
     * file can hold is refused before anything is allocated for them */
    if ((size_t)total > (size - (size_t)(at - ps->buffer)) / 16 + 1) {
        ln = 3;
        seterr(why, "the header promises %d x %d samples, the file is far too short for them", ps->problems,
               ps->k);
        goto fail;
    }
    ps->sample = xcalloc((size_t)total, sizeof(Example), "pre-sampled set");
    ps->length = xcalloc((size_t)total, sizeof(int), "pre-sampled set");
    ps->correct = xcalloc((size_t)total, sizeof(int), "pre-sampled set");
    ps->ref_logprob = xcalloc((size_t)total, sizeof(double), "pre-sampled set");
    for (int i = 0; i < total; i++, ln++) {
        if (!(line = next_line(&at))) goto ends_early;
        if (presampled_sample_line(ps, i, line, why)) goto fail;
    }
    if (at == ps->buffer + size) return 0;
    seterr(why, "more lines than the header's %d problems x %d samples", ps->problems, ps->k);
    goto fail;
ends_early:
    seterr(why, "file ends early");
fail:
    seterr(err, "%s:%d: %s%s%s", path, ln, why, advice ? "; " : "", advice ? advice : "");
    presampled_free(ps);
    return -1;
}

/* the set stage 2 wrote, for stage 3 and the tools: an error advises pre-sampling again */
static int presampled_read(PresampledSet *ps, const char *path, char *err) {
    return presampled_load(ps, path, "re-create it with 'o1pruner presample'", err);
}

/* sampled by the same model (its parameters' CRC-32) with the same settings? */
static int same_sampling(const PresampledSet *a, const PresampledSet *b) {
    return a->params_crc == b->params_crc && a->k == b->k && a->max_new == b->max_new &&
           a->temperature == b->temperature && a->top_p == b->top_p && a->seed == b->seed;
}

/* OUT.partial: the samples of the first problems, in the pre-sampled format, written at intervals
 * and on Ctrl-C. Each problem samples from its own streams, so continuing after them gives the
 * same bits as an uninterrupted run. Returns the problems recovered into r/arena, or -1. */
static int presample_read_partial(const PresampleConfig *c, const char *partial, const PresampledSet *want,
                                  const Problem *problems, int P, Response *r, char *arena, char *err) {
    if (access(partial, F_OK) != 0) return 0;
    PresampledSet ps;
    char why[O1P_ERR_LEN];
    if (presampled_load(&ps, partial, NULL, why)) { /* e.g. left by a build that wrote another format */
        if (!c->discard_stale) return seterr(err, "%s; delete it to start over", why);
        fprintf(stderr, "presample: %s; starting over\n", why);
        remove(partial);
        return 0;
    }
    /* the same reference, sampling settings and first problems: its samples are the ones this run
     * would draw, since each problem samples from its own streams */
    int same = configs_equal(&ps.config, &want->config) && same_sampling(&ps, want) && ps.problems <= P;
    for (int p = 0; same && p < ps.problems; p++)
        same = ps.sample[p * ps.k].problem.n == problems[p].n &&
               !memcmp(ps.sample[p * ps.k].problem.digits, problems[p].digits, sizeof(problems[p].digits));
    if (!same) {
        presampled_free(&ps);
        if (c->discard_stale) {
            fprintf(stderr, "presample: %s holds samples of other settings or problems; starting over\n",
                    partial);
            remove(partial);
            return 0;
        }
        seterr(err,
               "%s: the interrupted samples of a presample run with other settings or problems; rerun with "
               "the "
               "settings it was started with, or delete it to start over",
               partial);
        return -1;
    }
    for (int i = 0; i < ps.problems * ps.k; i++) {
        const Example *e = &ps.sample[i];
        Response *ri = &r[i];
        ri->text = arena + (size_t)i * (size_t)(c->max_new + 1);
        ri->length = e->length - e->prompt_len;
        memcpy(ri->text, e->text + e->prompt_len, (size_t)ri->length);
        ri->text[ri->length] = 0;
        ri->finished = ri->text[ri->length - 1] == '$';
        ri->correct = ps.correct[i];
        ri->logprob = ps.ref_logprob[i];
    }
    int done = ps.problems;
    presampled_free(&ps);
    if (!c->quiet) fprintf(stderr, "presample: resuming from %s after %d of %d problems\n", partial, done, P);
    return done;
}

/* the samples OUT.partial recovered, and the progress counters from there */
static int presample_recover(const PresampleConfig *c, PresampleProgress *pp, const PresampledSet *want,
                             const Problem *problems, int P, Response *r, char *arena, char *err) {
    memset(pp, 0, sizeof(*pp));
    snprintf(pp->partial, sizeof(pp->partial), "%s.partial", c->out);
    int start = presample_read_partial(c, pp->partial, want, problems, P, r, arena, err);
    pp->start = pp->last_saved = start;
    pp->t_start = now_seconds();
    for (int i = start < 0 ? P : start; i < P; i++) pp->work_left += minimal_length(problems[i].n);
    return start;
}

/* ========================================================================================== */
/* 17. The stages' bookkeeping (Stage, Part I's seam): resumable states, stops, progress      */

/* How a stage survives an interruption. Every save_every steps, and on Ctrl-C or SIGTERM, a
 * training stage writes OUT.resume: the model with its AdamW moments and step, tagged with a
 * CRC-32 of everything that decides the run's trajectory (the settings, the data, the reference
 * model). Rerunning the same command finds OUT.resume, checks the tag and goes on from the saved
 * step. Batch orders are functions of (seed, epoch) and every sample draws from its own RNG
 * stream, so the result is the same bits as a run that was never interrupted. A state with
 * another tag is refused (or, under run and compare, discarded) instead of mixing two runs.
 * Every write is atomic (section 13): a kill at any instant leaves the old state or the new one,
 * never a torn one. The end of a stage writes OUT and removes OUT.resume. Stage 2 does the same
 * with OUT.partial, the samples of the problems done so far. */

/* the CRC-32 of the examples' texts, for the tags */
static uint32_t examples_crc(uint32_t crc, const Example *ex, int n) {
    for (int i = 0; i < n; i++) crc = crc32_update(crc, ex[i].text, (size_t)ex[i].length);
    return crc;
}

/* 1: *model holds the state from `resume`; 0: there is none (or a stale one was discarded); -1: error */
static int resume_load(GPT *model, const char *resume, const GPTConfig *config, uint32_t tag,
                       int discard_stale, const char *stage, char *err) {
    if (access(resume, F_OK) != 0) return 0;
    int has_opt = 0;
    if (checkpoint_load(model, resume, &has_opt, err)) return -1;
    /* the same model, settings and data: continue where it stopped */
    if (configs_equal(&model->config, config) && has_opt && model->resume_tag == tag) {
        fprintf(stderr, "%s: resuming from %s at step %ld\n", stage, resume, model->step);
        return 1;
    }
    /* another run's state: run and compare start over, a single stage refuses to mix two runs */
    uint32_t found = model->resume_tag;
    gpt_free(model);
    if (discard_stale) {
        fprintf(stderr, "%s: %s holds the state of a run with other settings; starting over\n", stage,
                resume);
        remove(resume);
        return 0;
    }
    seterr(err,
           "%s: the interrupted state of a %s run with other settings or data (tag %08x, this run %08x); "
           "rerun with the settings it was started with, or delete it to start over",
           resume, stage, found, tag);
    return -1;
}

/* the resume tag of stage 1: its settings and its training data */
static uint32_t sft_tag(const SftConfig *c, const Dataset *train) {
    char s[512];
    const GPTConfig *m = &c->model;
    snprintf(s, sizeof(s),
             "sft config %d %d %d %d %d steps %d batch %d warmup %d lr %.9g lr_min %.9g weight_decay %.9g "
             "grad_clip %.9g seed %llu",
             m->vocab_size, m->block_size, m->n_layer, m->n_head, m->n_embd, c->steps, c->batch, c->warmup,
             c->lr, c->lr_min, c->weight_decay, c->grad_clip, (unsigned long long)c->seed);
    return examples_crc(crc32_update(0, s, strlen(s)), train->ex, train->count);
}

/* "42s", "3m05s", "1h02m" */
static void print_duration(char *buf, size_t n, double seconds) {
    int s = (int)(seconds + 0.5);
    if (s >= 3600) snprintf(buf, n, "%dh%02dm", s / 3600, s / 60 % 60);
    else if (s >= 60) snprintf(buf, n, "%dm%02ds", s / 60, s % 60);
    else snprintf(buf, n, "%ds", s);
}

/* the settings a pruned model was made with, kept beside it so that run reuses it only for the same ones */
static void prune_settings(char *out, size_t n, const PruneConfig *c) {
    int k = c->method == METHOD_O1_PRUNER
                    ? 0
                    : snprintf(out, n, "method %s beta %.9g ", METHOD_NAMES[c->method], c->beta);
    out += k;
    n -= (size_t)k;
    snprintf(out, n,
             "m %d lambda %.9g epochs %d batch %d lr %.9g clip %.9g warmup %.9g weight_decay %.9g grad_clip "
             "%.9g "
             "advantage %d ratio %d correct_only %d seed %llu\n",
             c->m, c->lambda, c->epochs, c->batch, c->lr, c->clip_eps, c->warmup_frac, c->weight_decay,
             c->grad_clip, (int)c->advantage, (int)c->ratio, c->correct_only, (unsigned long long)c->seed);
}

/* the resume tag of stage 3: its settings, the reference model, the pre-sampled samples */
static uint32_t prune_tag(const PruneConfig *c, const PresampledSet *ps) {
    char settings[512];
    prune_settings(settings, sizeof(settings), c);
    uint32_t crc = crc32_update(ps->params_crc, settings, strlen(settings));
    crc = examples_crc(crc, ps->sample, ps->problems * ps->k);
    return crc32_ints(crc, ps->correct, (size_t)(ps->problems * ps->k));
}

/* ------------------------------------------------------------------------------------------ */
/* the training stages' bookkeeping (Stage): resume, stops, progress lines, the final save    */

static volatile sig_atomic_t stop_requested = 0; /* set by Ctrl-C or a kill (SIGTERM): on_signal */

/* Is this the time to stop, after `done` of `total` units? 2: Ctrl-C or a kill, 1: the tests'
 * stop_after, 0: no. The last unit always completes the stage. */
static int stop_due(long done, long total, long stop_after) {
    if (done >= total) return 0;
    if (stop_requested) return 2;
    return stop_after > 0 && done >= stop_after;
}

/* 1: *model holds the state of OUT.resume; 0: a new model (zero parameters, tagged); -1: error */
static int stage_begin(Stage *s, GPT *model, const GPTConfig *config, uint32_t tag, int discard_stale,
                       char *err) {
    snprintf(s->resume, sizeof(s->resume), "%s.resume", s->out);
    int resumed = resume_load(model, s->resume, config, tag, discard_stale, s->name, err);
    if (resumed == 0) {
        gpt_build(model, config);
        model->resume_tag = tag;
    }
    s->first_step = resumed > 0 ? model->step : 0;
    s->t_start = now_seconds();
    return resumed;
}

/* a non-finite loss or gradient: stop without saving the broken state, and say what to try */
static int stage_diverged(const Stage *s, long step, double loss, char *err) {
    int saved = access(s->resume, F_OK) == 0;
    seterr(err, "%s: step %ld: non-finite %s; stopped without saving%s%s%s; try a lower --lr", s->name, step,
           isfinite(loss) ? "gradient" : "loss", saved ? " (the last good state is in " : "",
           saved ? s->resume : "", saved ? ")" : "");
    return -1;
}

static int curve_write(const Curve *curve, char *err);

/* after `done` steps: OUT.resume (and the curve) every save_every steps and on a stop.
 * 0: go on; 1: a clean stop (stop_after); -2: interrupted, the message in err; -1: error */
static int stage_save_or_stop(Stage *s, const GPT *model, long done, char *err) {
    int stop = stop_due(done, s->total, s->stop_after);
    if (!stop && (s->save_every <= 0 || done % s->save_every != 0 || done >= s->total)) return 0;
    if (checkpoint_save(model, s->resume, 1, err) || (s->curve && curve_write(s->curve, err))) return -1;
    if (stop != 2) return stop;
    seterr(err, "%s: interrupted at step %ld; state saved to %s, run the same command to resume", s->name,
           done, s->resume);
    return -2;
}

/* the end of a stage: OUT (the model alone, no optimizer state), its curve; OUT.resume goes */
static int stage_finish(Stage *s, const GPT *model, char *err) {
    if (checkpoint_save(model, s->out, 0, err) || (s->curve && curve_write(s->curve, err))) return -1;
    remove(s->resume);
    return 0;
}

/* "ETA 1m05s" from the steps this process took so far */
static void stage_eta(const Stage *s, long done, char *buf, size_t n) {
    double el = now_seconds() - s->t_start;
    print_duration(buf, n, el / (double)(done - s->first_step) * (double)(s->total - done));
}

/* stage 1's data: the train and valid splits, enough examples for the batch size */
static int sft_load_data(const SftConfig *c, Dataset *train, Dataset *valid, char *err) {
    if (dataset_load_split(train, c->data_dir, "train", c->model.block_size, err)) return -1;
    if (dataset_load_split(valid, c->data_dir, "valid", c->model.block_size, err)) {
        dataset_free(train);
        return -1;
    }
    if (train->count >= c->batch * BUCKET_BATCHES) return 0;
    seterr(err, "%s/train.txt: %d examples, at least %d needed for --batch %d", c->data_dir, train->count,
           c->batch * BUCKET_BATCHES, c->batch);
    dataset_free(train);
    dataset_free(valid);
    return -1;
}

/* stage 1's progress lines, its validation every eval_every steps, the fingerprint after 3 steps */
static void sft_progress(Stage *s, const SftConfig *c, GPT *model, const Dataset *valid, long done,
                         double loss, double norm, float lr, int T, int *inputs, int *targets, float *mask) {
    s->log_sum[0] += loss;
    s->log_n++;
    s->tokens += (double)c->batch * T;
    if (!c->quiet && (done % c->log_every == 0 || done == c->steps)) {
        char eta[32];
        stage_eta(s, done, eta, sizeof(eta));
        fprintf(stderr, "step %5ld/%d | loss %.4f | lr %.2e | grad norm %.3f | %.0f tok/s | ETA %s\n", done,
                c->steps, s->log_sum[0] / s->log_n, lr, norm, s->tokens / (now_seconds() - s->t_start), eta);
        s->log_sum[0] = 0;
        s->log_n = 0;
    }
    if (!c->quiet && c->eval_every > 0 && (done % c->eval_every == 0 || done == c->steps)) {
        double vloss = dataset_loss(model, valid, c->batch, inputs, targets, mask);
        SampleConfig greedy = {.temperature = 0.0f, .top_p = 1.0f, .max_new = c->model.block_size,
                               .seed = c->seed};
        EvalStats es;
        evaluate(model, valid, 200, 1, &greedy, &es);
        fprintf(stderr,
                "step %5ld/%d | valid loss %.4f | greedy accuracy %.1f%% on %d valid problems | mean length "
                "%.1f\n",
                done, c->steps, vloss, 100 * accuracy(&es.all), es.all.count, mean_length(&es.all));
    }
    if (done == FINGERPRINT_STEPS) { /* README "Reproducing the reference model" */
        printf("fingerprint: parameters after %d steps have CRC-32 %08x\n", FINGERPRINT_STEPS,
               params_crc(model));
        fflush(stdout);
    }
}

/* stage 2's model and problems: the reference, and the first P problems of prune.txt */
static int presample_begin(const PresampleConfig *c, GPT *ref, Problem **problems, int *P, char *err) {
    if (load_task_model(ref, c->ref, err)) return -1;
    if (c->max_new > ref->config.block_size) { /* responses stop at the context's end anyway */
        seterr(err, "--max-new %d does not fit the context of %s (%d tokens); use at most %d", c->max_new,
               c->ref, ref->config.block_size, ref->config.block_size);
        gpt_free(ref);
        return -1;
    }
    Dataset prune;
    if (dataset_load_split(&prune, c->data_dir, "prune", ref->config.block_size, err)) {
        gpt_free(ref);
        return -1;
    }
    *P = c->limit > 0 && c->limit < prune.count ? c->limit : prune.count;
    *problems = xmalloc(sizeof(Problem) * (size_t)*P, "problems");
    for (int i = 0; i < *P; i++) (*problems)[i] = prune.ex[i].problem;
    dataset_free(&prune);
    return 0;
}

/* after generate() finished problems p0..p0+n-1: a progress line every 4 chunks (the ETA weighs
 * each problem by its minimal length: the long, hard ones come last), OUT.partial every
 * save_every problems and on a stop. 0: go on; 1: a clean stop; -2: interrupted; -1: error */
static int presample_after_chunk(const PresampleConfig *c, PresampleProgress *pp, PresampledSet *ps,
                                 const Problem *problems, const Response *r, int p0, int n, char *err) {
    int K = ps->k, P = ps->problems, done = p0 + n;
    for (int i = 0; i < n * K; i++) {
        pp->tokens += r[(size_t)p0 * K + i].length;
        if (!isfinite(r[(size_t)p0 * K + i].logprob)) /* the file could not be read back */
            return seterr(err, "presample: %s: log pi_ref of a sample of problem %d is not finite (the "
                          "logits overflow): not a usable model", c->ref, p0 + i / K);
    }
    for (int i = p0; i < done; i++) pp->work_done += minimal_length(problems[i].n);
    pp->chunks++;
    double el = now_seconds() - pp->t_start;
    if (!c->quiet && (pp->chunks % 4 == 0 || done == P)) {
        char eta[32];
        print_duration(eta, sizeof(eta), el / pp->work_done * (pp->work_left - pp->work_done));
        fprintf(stderr, "presample: %5d/%d problems | %.0f samples/s | %.0f tok/s | ETA %s\n", done, P,
                (done - pp->start) * (double)K / el, pp->tokens / el, eta);
    }
    int stop = stop_due(done, P, c->stop_after);
    if (done < P && ((c->save_every > 0 && done - pp->last_saved >= c->save_every) || stop)) {
        ps->problems = done; /* OUT.partial holds the problems done */
        int rc = presampled_write(pp->partial, ps, problems, r, c->ref, err);
        ps->problems = P;
        if (rc) return -1;
        pp->last_saved = done;
    }
    if (stop != 2) return stop;
    seterr(err,
           "presample: interrupted after %d of %d problems; samples saved to %s, run the same command to "
           "resume",
           done, P, pp->partial);
    return -2;
}

/* stage 2's output: OUT, read back (which validates it), OUT.stats, and the summary line */
static int presample_finish(const PresampleConfig *c, const PresampleProgress *pp, const PresampledSet *ps,
                            const Problem *problems, const Response *r, char *err) {
    if (presampled_write(c->out, ps, problems, r, c->ref, err)) return -1;
    remove(pp->partial);
    PresampledSet back;
    if (presampled_read(&back, c->out, err)) return -1;
    char stats[4200];
    snprintf(stats, sizeof(stats), "%s.stats", c->out);
    int rc = presampled_write_stats(stats, &back, err), n = back.problems * back.k;
    double L = 0, A = 0;
    for (int i = 0; i < n; i++) {
        L += back.length[i];
        A += back.correct[i];
    }
    if (!c->quiet)
        fprintf(stderr, "presample: wrote %s and %s (%.0f s)\n", c->out, stats, now_seconds() - pp->t_start);
    printf("pre-sampled %d x %d: accuracy %.1f%%, mean length %.1f\n", back.problems, back.k, 100 * A / n,
           L / n);
    presampled_free(&back);
    return rc;
}

/* stage 3's inputs: the pre-sampled set and the reference model it was sampled from */
static int prune_begin(const PruneConfig *c, PresampledSet *ps, GPT *ref, char *err) {
    if (presampled_read(ps, c->presampled, err)) return -1;
    if (c->method == METHOD_O1_PRUNER && c->m > ps->k) {
        seterr(err, "%s: --m %d is more than the %d samples per problem it holds", c->presampled, c->m,
               ps->k);
        presampled_free(ps);
        return -1;
    }
    if (load_task_model(ref, c->ref, err)) {
        presampled_free(ps);
        return -1;
    }
    if (configs_equal(&ref->config, &ps->config) && params_crc(ref) == ps->params_crc) return 0;
    seterr(err,
           "%s was sampled from another model than %s (parameters CRC %08x, this one %08x); presample again "
           "with --ref %s",
           c->presampled, c->ref, ps->params_crc, params_crc(ref), c->ref);
    gpt_free(ref);
    presampled_free(ps);
    return -1;
}

/* the first progress line of stage 3: what it trains on, and for how long */
static void prune_announce(const PruneConfig *c, const PresampledSet *ps, int items, double mean_reward,
                           long total) {
    if (c->quiet) return;
    if (c->method == METHOD_O1_PRUNER)
        fprintf(stderr, "prune: %d problems x m=%d samples%s: %d sequences, mean reward %+.3f", ps->problems,
                c->m, c->correct_only ? " (correct only)" : "", items, mean_reward);
    else
        fprintf(stderr, "prune: %s on %d problems: %d %s", METHOD_NAMES[c->method], ps->problems, items,
                c->method == METHOD_DPO ? "pairs (chosen: the 2 shortest correct, rejected: the longest)"
                                        : "sequences (the 2 shortest correct)");
    fprintf(stderr, ", %ld steps of %d (epochs: %d), %d thread(s)\n", total, c->batch, c->epochs,
            get_threads());
}

/* stage 3's progress lines: means since the last line */
static void prune_progress(Stage *s, const PruneConfig *c, long done, double loss, const double stat[3],
                           float lr) {
    s->log_sum[0] += loss;
    for (int i = 0; i < 3; i++) s->log_sum[i + 1] += stat[i];
    s->log_n++;
    if (c->quiet || (done % c->log_every != 0 && done != s->total)) return;
    char eta[32];
    stage_eta(s, done, eta, sizeof(eta));
    const double *m = s->log_sum;
    int n = s->log_n;
    fprintf(stderr, "step %4ld/%ld | loss %+.4f", done, s->total, m[0] / n);
    if (c->method == METHOD_O1_PRUNER)
        fprintf(stderr, " | ratio %.4f | clipped %4.1f%% | advantage %+.3f", m[1] / n, 100 * m[2] / n,
                m[3] / n);
    if (c->method == METHOD_DPO)
        fprintf(stderr, " | margin %+.3f | chosen preferred %5.1f%%", m[1] / n, 100 * m[2] / n);
    fprintf(stderr, " | lr %.2e | ETA %s\n", lr, eta);
    memset(s->log_sum, 0, sizeof(s->log_sum));
    s->log_n = 0;
}

/* ========================================================================================== */
/* 18. The training curve, OUT.curve                                                          */

/* The training curve, OUT.curve: about CURVE_POINTS points, each with the mean loss and ratio (DPO:
 * margin) since the last one, and the greedy mean length and accuracy on the first problems of
 * valid.txt. Written with every resumable save and at the end; a resumed run keeps the
 * points up to its step. */
#define CURVE_POINTS 20
typedef struct { long step; double loss, stat, valid_length, valid_accuracy; } CurvePoint;

struct Curve {
    char path[4300];
    CurvePoint *point;
    int n, max;
    long every, total;  /* a point every `every` steps, and at the last one */
    double sum[2];      /* loss and ratio (margin) since the last point */
    int sum_n;
    const PruneConfig *config;
};

/* OUT.curve, atomically: a header line, then one point a line */
static int curve_write(const Curve *curve, char *err) {
    const PruneConfig *c = curve->config;
    AtomicFile af;
    if (atomic_open(&af, curve->path, err)) return -1;
    fprintf(af.f,
            "# o1pruner training curve (%s): step loss %s valid_length valid_accuracy; valid: greedy, "
            "first %d problems\n",
            METHOD_NAMES[c->method],
            c->method == METHOD_DPO         ? "margin"
            : c->method == METHOD_O1_PRUNER ? "ratio"
                                            : "-",
            c->curve_problems);
    for (int i = 0; i < curve->n; i++) {
        const CurvePoint *p = &curve->point[i];
        fprintf(af.f, "%ld %.9g %.9g %.9g %.9g\n", p->step, p->loss, p->stat, p->valid_length,
                p->valid_accuracy);
    }
    return atomic_commit(&af, err);
}

/* the points of a curve file up to step `until` (a missing or unreadable file: none) */
static int curve_read(const char *path, CurvePoint *pt, int max, long until) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[512];
    int n = 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        CurvePoint p;
        if (line[0] == '#') continue;
        if (sscanf(line, "%ld %lf %lf %lf %lf", &p.step, &p.loss, &p.stat, &p.valid_length,
                   &p.valid_accuracy) != 5)
            break;
        if (p.step <= until) pt[n++] = p;
    }
    fclose(f);
    return n;
}

/* greedy length and accuracy on the first valid problems: what the curve plots */
static void curve_measure(GPT *model, const Dataset *valid, int problems, CurvePoint *pt) {
    pt->valid_length = pt->valid_accuracy = NAN;
    if (problems == 0) return;
    SampleConfig greedy = {.temperature = 0.0f, .top_p = 1.0f, .max_new = model->config.block_size,
                           .seed = 1};
    EvalStats es;
    evaluate(model, valid, problems, 1, &greedy, &es);
    pt->valid_length = mean_length(&es.all);
    pt->valid_accuracy = accuracy(&es.all);
}

/* a resumed run keeps its points so far; a new one starts with the reference model at step 0 */
static Curve *curve_begin(const PruneConfig *c, const Stage *s, GPT *policy, const Dataset *valid,
                          int resumed) {
    Curve *curve = xcalloc(1, sizeof(Curve), "training curve");
    snprintf(curve->path, sizeof(curve->path), "%s.curve", c->out);
    curve->config = c;
    curve->total = s->total;
    curve->every = s->total / CURVE_POINTS > 0 ? s->total / CURVE_POINTS : 1;
    curve->max = (int)(s->total / curve->every) + 2;
    curve->point = xcalloc((size_t)curve->max, sizeof(CurvePoint), "training curve");
    if (resumed) curve->n = curve_read(curve->path, curve->point, curve->max, policy->step);
    if (curve->n == 0) {
        curve->point[0] = (CurvePoint){.step = 0, .loss = NAN, .stat = NAN};
        curve_measure(policy, valid, c->curve_problems, &curve->point[curve->n++]);
    }
    return curve;
}

/* after each step: the loss and ratio into the running sums, a point every curve->every steps */
static void curve_step(Curve *curve, const PruneConfig *c, GPT *policy, const Dataset *valid, long done,
                       double loss, double stat) {
    curve->sum[0] += loss;
    curve->sum[1] += stat;
    curve->sum_n++;
    if ((done % curve->every != 0 && done != curve->total) || curve->n >= curve->max) return;
    CurvePoint *pt = &curve->point[curve->n++];
    pt->step = done;
    pt->loss = curve->sum[0] / curve->sum_n;
    pt->stat = c->method == METHOD_SFT_SHORTEST ? NAN : curve->sum[1] / curve->sum_n;
    curve_measure(policy, valid, c->curve_problems, pt);
    curve->sum[0] = curve->sum[1] = 0;
    curve->sum_n = 0;
}

/* what curve_begin allocated */
static void curve_free(Curve *curve) {
    if (!curve) return;
    free(curve->point);
    free(curve);
}

/* ========================================================================================== */
/* 19. Reports: evaluation against the reference, the paper's Tables 1-3 in miniature,        */
/*     report.json, the SVG picture                                                           */

typedef struct {
    const char *name, *path;
    EvalStats greedy, sampled;
    int samples;                  /* sampled responses per problem; 0: greedy only */
    float temperature, top_p;
} EvalResult;

/* greedy decoding of every test problem, then (samples > 0) that many sampled responses each */
static void evaluate_model(GPT *model, const Dataset *test, int samples, float temperature, float top_p,
                           int max_new, uint64_t seed, EvalResult *er) {
    SampleConfig sc = {.temperature = 0.0f, .top_p = 1.0f, .max_new = max_new, .seed = seed};
    evaluate(model, test, 0, 1, &sc, &er->greedy);
    er->samples = samples;
    er->temperature = temperature;
    er->top_p = top_p;
    if (samples > 0) {
        sc.temperature = temperature;
        sc.top_p = top_p;
        evaluate(model, test, 0, samples, &sc, &er->sampled);
    }
}

/* load and evaluate each model in turn on test.txt of data_dir (loaded into *test once) */
static int evaluate_models(const char *const *paths, const char *const *names, int count,
                           const char *data_dir, int samples, float temperature, float top_p, int max_new,
                           uint64_t seed, int quiet, EvalResult *r, Dataset *test, char *err) {
    memset(test, 0, sizeof(*test));
    for (int m = 0; m < count; m++) {
        GPT model;
        if (load_task_model(&model, paths[m], err)) { dataset_free(test); return -1; }
        if (!test->ex && dataset_load_split(test, data_dir, "test", model.config.block_size, err)) {
            gpt_free(&model);
            return -1;
        }
        memset(&r[m], 0, sizeof(r[m]));
        r[m].name = names[m];
        r[m].path = paths[m];
        evaluate_model(&model, test, samples, temperature, top_p, max_new, seed, &r[m]);
        gpt_free(&model);
        if (!quiet) {
            fprintf(stderr, "eval: %-9s greedy %.1f%% / %.1f tokens", names[m],
                    100 * accuracy(&r[m].greedy.all), mean_length(&r[m].greedy.all));
            if (samples > 0)
                fprintf(stderr, ", sampled %.1f%% / %.1f tokens", 100 * accuracy(&r[m].sampled.all),
                        mean_length(&r[m].sampled.all));
            fprintf(stderr, "\n");
        }
    }
    return 0;
}

/* rows: models (the first is the baseline of AES); columns: accuracy and length per difficulty */
static void print_comparison(FILE *out, const EvalResult *r, int count) {
    fprintf(out, "%-22s", "");
    for (int n = MIN_TERMS; n <= MAX_TERMS; n++) fprintf(out, "       n = %d", n);
    fprintf(out, "           all\n%-22s", "");
    for (int n = MIN_TERMS; n <= MAX_TERMS + 1; n++) fprintf(out, "   acc%%   len");
    fprintf(out, "    AES\n");
    for (int mode = 0; mode < 2; mode++) {
        if (mode == 1 && r[0].samples == 0) break;
        for (int m = 0; m < count; m++) {
            const EvalStats *es = mode == 0 ? &r[m].greedy : &r[m].sampled;
            char label[64];
            if (mode == 0) snprintf(label, sizeof(label), "%-9s %s", m == 0 ? "greedy" : "", r[m].name);
            else snprintf(label, sizeof(label), "%-9s %s", m == 0 ? "sampled" : "", r[m].name);
            fprintf(out, "%-22s", label);
            for (int n = MIN_TERMS; n <= MAX_TERMS + 1; n++) {
                const Tally *t = n <= MAX_TERMS ? &es->level[n] : &es->all;
                fprintf(out, " %6.1f %5.1f", 100 * accuracy(t), mean_length(t));
            }
            const EvalStats *base = mode == 0 ? &r[0].greedy : &r[0].sampled;
            if (m > 0)
                fprintf(out, " %+6.2f",
                        accuracy_efficiency_score(mean_length(&base->all), mean_length(&es->all),
                                                  accuracy(&base->all), accuracy(&es->all)));
            fprintf(out, "\n");
        }
    }
    fprintf(out, "%-22s", "minimal length");
    for (int n = MIN_TERMS; n <= MAX_TERMS; n++) fprintf(out, "        %5d", minimal_length(n));
    fprintf(out, "\n");
    if (r[0].samples > 0)
        fprintf(out, "(sampled: temperature %g, %d responses per problem)\n", r[0].temperature, r[0].samples);
}

/* the paper's Table 1 in miniature: within each problem, are the longer responses any more
 * accurate? And how far is each difficulty's mean length from the minimal one? */
static void print_disharmony(FILE *out, const EvalResult *r, int count) {
    if (r[0].samples >= 4) {
        fprintf(out,
                "Length disharmony (paper Table 1): each problem's %d sampled responses sorted by length and "
                "cut into\n"
                "4 groups; accuracy (%%) and mean length (tokens) per group\n%-22s",
                r[0].samples, "");
        const char *group[4] = {"shortest", "2nd", "3rd", "longest"};
        for (int q = 0; q < 4; q++) fprintf(out, "%15s", group[q]);
        fprintf(out, "\n");
        for (int m = 0; m < count; m++) {
            fprintf(out, "%-22s", r[m].name);
            for (int q = 0; q < 4; q++)
                fprintf(out, "  %5.1f / %5.1f", 100 * accuracy(&r[m].sampled.quartile[q]),
                        mean_length(&r[m].sampled.quartile[q]));
            fprintf(out, "\n");
        }
    }
    fprintf(out, "Mean length / minimal length, greedy (1.00: no redundant token)\n%-22s", "");
    for (int n = MIN_TERMS; n <= MAX_TERMS; n++) fprintf(out, "  n = %d", n);
    fprintf(out, "\n");
    for (int m = 0; m < count; m++) {
        fprintf(out, "%-22s", r[m].name);
        for (int n = MIN_TERMS; n <= MAX_TERMS; n++)
            fprintf(out, " %6.2f", mean_length(&r[m].greedy.level[n]) / minimal_length(n));
        fprintf(out, "\n");
    }
}

/* a text histogram of the response lengths per difficulty, one column per LENGTH_BIN tokens; the
 * bar heights of a difficulty share one scale, ^ marks the minimal length */
static void print_histograms(FILE *out, const EvalResult *r, int count) {
    static const char *const bar[9] = {" ",
                                       "\xe2\x96\x81",
                                       "\xe2\x96\x82",
                                       "\xe2\x96\x83",
                                       "\xe2\x96\x84",
                                       "\xe2\x96\x85",
                                       "\xe2\x96\x86",
                                       "\xe2\x96\x87",
                                       "\xe2\x96\x88"}; /* UTF-8 U+2581..U+2588 */
    int sampled = r[0].samples > 0;
    fprintf(out, "Response lengths (%s), one column per %d tokens from 1 to %d\n",
            sampled ? "sampled" : "greedy", LENGTH_BIN, LENGTH_BIN * LENGTH_BINS);
    for (int n = MIN_TERMS; n <= MAX_TERMS; n++) {
        int most = 1;
        for (int m = 0; m < count; m++)
            for (int b = 0; b < LENGTH_BINS; b++) {
                const EvalStats *es = sampled ? &r[m].sampled : &r[m].greedy;
                if (es->histogram[n][b] > most) most = es->histogram[n][b];
            }
        for (int m = 0; m < count; m++) {
            const EvalStats *es = sampled ? &r[m].sampled : &r[m].greedy;
            char label[16] = "";
            if (m == 0) snprintf(label, sizeof(label), "n = %d", n);
            fprintf(out, "%-6s %-14s |", label, r[m].name);
            for (int b = 0; b < LENGTH_BINS; b++) {
                int h = es->histogram[n][b];
                fprintf(out, "%s", bar[h == 0 ? 0 : 1 + h * 7 / most]);
            }
            fprintf(out, "| %5.1f\n", mean_length(&es->level[n]));
        }
        fprintf(out, "%-21s ", "");
        for (int b = 0; b < LENGTH_BINS; b++)
            fprintf(out, "%c", (minimal_length(n) - 1) / LENGTH_BIN == b ? '^' : ' ');
        fprintf(out, "\n");
    }
}

/* one evaluation as a JSON object: overall, per difficulty, length quartiles, histograms */
static void json_stats(FILE *f, const EvalStats *es, const char *indent) {
    fprintf(f, "{\"accuracy\": %.6f, \"mean_length\": %.4f, \"responses\": %d,\n%s \"by_difficulty\": [",
            accuracy(&es->all), mean_length(&es->all), es->all.count, indent);
    int first = 1;
    for (int n = MIN_TERMS; n <= MAX_TERMS; n++) {
        const Tally *t = &es->level[n];
        if (!t->count) continue;
        fprintf(f,
                "%s\n%s   {\"n\": %d, \"responses\": %d, \"accuracy\": %.6f, \"mean_length\": %.4f, "
                "\"minimal_length\": %d}",
                first ? "" : ",", indent, n, t->count, accuracy(t), mean_length(t), minimal_length(n));
        first = 0;
    }
    fprintf(f, "]");
    if (es->quartile[0].count) {
        fprintf(f, ",\n%s \"length_quartiles\": [", indent);
        for (int q = 0; q < 4; q++)
            fprintf(f, "%s{\"responses\": %d, \"accuracy\": %.6f, \"mean_length\": %.4f}", q ? ", " : "",
                    es->quartile[q].count, accuracy(&es->quartile[q]), mean_length(&es->quartile[q]));
        fprintf(f, "]");
    }
    fprintf(f, ",\n%s \"length_histogram\": {\"bin_tokens\": %d, \"by_difficulty\": {", indent, LENGTH_BIN);
    for (int n = MIN_TERMS; n <= MAX_TERMS; n++) {
        fprintf(f, "%s\"%d\": [", n > MIN_TERMS ? ", " : "", n);
        for (int b = 0; b < LENGTH_BINS; b++) fprintf(f, "%s%d", b ? ", " : "", es->histogram[n][b]);
        fprintf(f, "]");
    }
    fprintf(f, "}}}");
}

/* report.json: one object per model under keys[m] ("reference" first, "pruned" for O1-Pruner),
 * each with accuracy and mean_length (greedy), the greedy and sampled breakdowns, and its AES
 * against the reference; the top level repeats the pruned model's aes / aes_sampled / changes.
 * compare adds lambda_ablation: lambda[i] -> the model r[ablation[i]]. */
static void json_aes(FILE *f, const char *key, const Tally *base, const Tally *t) {
    fprintf(f, "%s: %.6f", key,
            accuracy_efficiency_score(mean_length(base), mean_length(t), accuracy(base), accuracy(t)));
}

/* report.json (README "report.json"), atomically */
static int write_report(const char *path, const EvalResult *r, int count, const char *const *keys,
                        const float *lambda, const int *ablation, int n_ablation, char *err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    FILE *f = af.f;
    const EvalResult *base = &r[0];
    int pruned = -1;
    fprintf(f, "{\n");
    for (int m = 0; m < count; m++) {
        if (!strcmp(keys[m], "pruned")) pruned = m;
        fprintf(f,
                "  \"%s\": {\n    \"model\": \"%s\",\n    \"accuracy\": %.6f,\n    \"mean_length\": %.4f,\n  "
                "  \"greedy\": ",
                keys[m], r[m].path, accuracy(&r[m].greedy.all), mean_length(&r[m].greedy.all));
        json_stats(f, &r[m].greedy, "     ");
        if (r[m].samples > 0) {
            fprintf(f, ",\n    \"sampled\": ");
            json_stats(f, &r[m].sampled, "     ");
            fprintf(f,
                    ",\n    \"sampling\": {\"temperature\": %g, \"top_p\": %g, \"samples_per_problem\": %d}",
                    r[m].temperature, r[m].top_p, r[m].samples);
        }
        if (m > 0) {
            fprintf(f, ",\n    ");
            json_aes(f, "\"aes\"", &base->greedy.all, &r[m].greedy.all);
            if (r[m].samples > 0) {
                fprintf(f, ", ");
                json_aes(f, "\"aes_sampled\"", &base->sampled.all, &r[m].sampled.all);
            }
        }
        fprintf(f, "\n  },\n");
    }
    if (pruned > 0) {
        const EvalResult *b = &r[pruned];
        fprintf(f, "  ");
        json_aes(f, "\"aes\"", &base->greedy.all, &b->greedy.all);
        fprintf(f, ",\n");
        if (base->samples > 0) {
            fprintf(f, "  ");
            json_aes(f, "\"aes_sampled\"", &base->sampled.all, &b->sampled.all);
            fprintf(f, ",\n");
        }
        fprintf(f, "  \"length_change\": %.6f,\n",
                mean_length(&b->greedy.all) / mean_length(&base->greedy.all) - 1.0);
        fprintf(f, "  \"accuracy_change\": %.6f,\n", accuracy(&b->greedy.all) - accuracy(&base->greedy.all));
    }
    if (n_ablation > 0) {
        fprintf(f, "  \"lambda_ablation\": [");
        for (int i = 0; i < n_ablation; i++)
            fprintf(f, "%s{\"lambda\": %g, \"model\": \"%s\"}", i ? ", " : "", lambda[i], keys[ablation[i]]);
        fprintf(f, "],\n");
    }
    fprintf(f, "  \"aes_formula\": \"dL + 3*dA if dA >= 0 else dL - 5*|dA|, dL = (L_ref - L)/L_ref, dA = "
               "(Acc - Acc_ref)/Acc_ref\"\n}\n");
    return atomic_commit(&af, err);
}

/* --svg FILE: the length distributions before and after, per difficulty, and the training curves,
 * as one self-contained SVG written with fprintf */
typedef struct { double left, top, width, height, xmin, xmax, ymin, ymax; } SvgPanel;

/* data coordinates to the panel's pixels */
static double svg_x(const SvgPanel *p, double x) {
    return p->left + (x - p->xmin) / (p->xmax - p->xmin) * p->width;
}
static double svg_y(const SvgPanel *p, double y) {
    return p->top + p->height - (y - p->ymin) / (p->ymax - p->ymin) * p->height;
}

/* a panel's frame, title, axis label, 5 ticks on each axis and light grid lines */
static void svg_axes(FILE *f, const SvgPanel *p, const char *title, const char *xlabel) {
    fprintf(f, "<rect x='%.1f' y='%.1f' width='%.1f' height='%.1f' fill='none' stroke='#444'/>\n", p->left,
            p->top, p->width, p->height);
    fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-weight='bold'>%s</text>\n",
            p->left + p->width / 2, p->top - 8, title);
    fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle'>%s</text>\n", p->left + p->width / 2,
            p->top + p->height + 30, xlabel);
    for (int i = 0; i <= 4; i++) { /* 5 ticks on each axis */
        double x = p->xmin + i * (p->xmax - p->xmin) / 4, y = p->ymin + i * (p->ymax - p->ymin) / 4;
        fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle' font-size='10'>%.4g</text>\n", svg_x(p, x),
                p->top + p->height + 14, x);
        fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='end' font-size='10'>%.4g</text>\n", p->left - 4,
                svg_y(p, y) + 3, y);
        fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='#ddd'/>\n", p->left, svg_y(p, y),
                p->left + p->width, svg_y(p, y));
    }
}

/* a data series as one polyline; points that are not finite (no measurement) are left out */
static void svg_polyline(FILE *f, const SvgPanel *p, const double *x, const double *y, int n,
                         const char *color, const char *style) {
    fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2' %s points='", color, style);
    for (int i = 0; i < n; i++)
        if (isfinite(y[i]))
            fprintf(f, "%.1f,%.1f ", svg_x(p, x[i]), svg_y(p, fmin(fmax(y[i], p->ymin), p->ymax)));
    fprintf(f, "'/>\n");
}

static const char *const SVG_COLORS[] = {"#888888", "#1f77b4", "#2ca02c", "#d62728",
                                         "#9467bd", "#8c564b", "#e377c2"};

/* the top row: per difficulty, the fraction of responses in each length bin, one line per model */
static void svg_length_panels(FILE *f, const EvalResult *r, int count) {
    for (int n = MIN_TERMS; n <= MAX_TERMS; n++) {
        double y[LENGTH_BINS + 2], x[LENGTH_BINS + 2], ymax = 0;
        for (int m = 0; m < count; m++) {
            const EvalStats *es = r[0].samples > 0 ? &r[m].sampled : &r[m].greedy;
            /* a comparison, not fmax: gcc 12 crashes vectorising that reduction for arm64 */
            for (int b = 0; b < LENGTH_BINS && es->level[n].count; b++) {
                double share = (double)es->histogram[n][b] / es->level[n].count;
                if (share > ymax) ymax = share;
            }
        }
        SvgPanel p = {60 + (n - MIN_TERMS) * 188, 80, 160, 200, 0, LENGTH_BIN * LENGTH_BINS, 0,
                      ymax > 0 ? ymax * 1.05 : 1};
        char title[32];
        snprintf(title, sizeof(title), "n = %d terms", n);
        svg_axes(f, &p, title, "response tokens");
        double lx = svg_x(&p, minimal_length(n));
        fprintf(f,
                "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='black' stroke-dasharray='4,3'/>"
                "<text x='%.1f' y='%.1f' font-size='10'>minimal</text>\n",
                lx, p.top, lx, p.top + p.height, lx + 3, p.top + 12);
        for (int m = 0; m < count; m++) {
            const EvalStats *es = r[0].samples > 0 ? &r[m].sampled : &r[m].greedy;
            int k = 0;
            for (int b = 0; b < LENGTH_BINS; b++) { /* bin centres */
                x[k] = (b + 0.5) * LENGTH_BIN;
                y[k++] = es->level[n].count ? (double)es->histogram[n][b] / es->level[n].count : 0;
            }
            if (m > 0) { svg_polyline(f, &p, x, y, k, SVG_COLORS[m % 7], ""); continue; }
            fprintf(f, "<polygon fill='#d8d8d8' stroke='none' points='%.1f,%.1f ", svg_x(&p, 0),
                    svg_y(&p, 0)); /* before: an area */
            for (int i = 0; i < k; i++) fprintf(f, "%.1f,%.1f ", svg_x(&p, x[i]), svg_y(&p, y[i]));
            fprintf(f, "%.1f,%.1f'/>\n", svg_x(&p, p.xmax), svg_y(&p, 0));
        }
    }
}

/* the picture of make compare: length distributions (top) and the training curves read back from
 * each model's OUT.curve (bottom); o1 is O1-Pruner's index, whose loss and ratio are drawn */
static int write_svg(const char *path, const EvalResult *r, int count, const char *const *model_paths, int o1,
                     char *err) {
    CurvePoint curve[8][CURVE_POINTS + 2];
    int points[8] = {0};
    double length_max = 0, loss_min = 0, loss_max = 0, stat_min = 1, stat_max = 1;
    for (int m = 1; m < count && m < 8; m++) {
        char curve_path[4300];
        snprintf(curve_path, sizeof(curve_path), "%s.curve", model_paths[m]);
        points[m] = curve_read(curve_path, curve[m], CURVE_POINTS + 2, LONG_MAX);
        for (int i = 0; i < points[m]; i++) {
            length_max = fmax(length_max, curve[m][i].valid_length);
            if (m != o1) continue; /* loss and ratio: O1-Pruner's */
            if (isfinite(curve[m][i].loss)) {
                loss_min = fmin(loss_min, curve[m][i].loss);
                loss_max = fmax(loss_max, curve[m][i].loss);
            }
            if (isfinite(curve[m][i].stat)) {
                stat_min = fmin(stat_min, curve[m][i].stat);
                stat_max = fmax(stat_max, curve[m][i].stat);
            }
        }
    }
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    FILE *f = af.f;
    int W = 1000, H = 660;
    fprintf(f,
            "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='%d' "
            "height='%d' "
            "viewBox='0 0 %d %d' font-family='sans-serif' font-size='12'>\n<rect width='100%%' "
            "height='100%%' fill='white'/>\n",
            W, H, W, H);
    fprintf(f,
            "<text x='%d' y='24' text-anchor='middle' font-size='16' font-weight='bold'>O1-Pruner on the toy "
            "task: "
            "response lengths on the test split (%s), and training</text>\n",
            W / 2, r[0].samples > 0 ? "sampled" : "greedy");
    for (int m = 0; m < count; m++) /* legend */
        fprintf(f, "<rect x='%d' y='%d' width='14' height='%d' fill='%s'/><text x='%d' y='44'>%s</text>\n",
                60 + 170 * m, m == 0 ? 34 : 38, m == 0 ? 12 : 4, m == 0 ? "#d8d8d8" : SVG_COLORS[m % 7],
                80 + 170 * m, r[m].name);
    svg_length_panels(f, r, count);
    fprintf(f, "<text x='20' y='180' transform='rotate(-90 20 180)' text-anchor='middle'>fraction of "
               "responses</text>\n");
    /* bottom row: O1-Pruner's loss and mean ratio, and every trained model's greedy length on valid */
    long last_step = 1;
    for (int m = 1; m < count && m < 8; m++)
        if (points[m])
            last_step = curve[m][points[m] - 1].step > last_step ? curve[m][points[m] - 1].step : last_step;
    const char *title[3] = {"O1-Pruner: PPO-clip loss", "O1-Pruner: mean ratio pi_theta / pi_ref",
                            "greedy mean length on valid problems"};
    double ylo[3] = {loss_min, stat_min, 0}, yhi[3] = {loss_max, stat_max, length_max * 1.05};
    for (int j = 0; j < 3; j++) {
        if (yhi[j] <= ylo[j]) yhi[j] = ylo[j] + 1;
        SvgPanel p = {60 + j * 320, 380, 260, 200, 0, (double)last_step, ylo[j], yhi[j]};
        svg_axes(f, &p, title[j], "training step");
        for (int m = j < 2 ? o1 : 1; m < (j < 2 ? o1 + 1 : count) && m < 8; m++) {
            double x[CURVE_POINTS + 2], y[CURVE_POINTS + 2];
            for (int i = 0; i < points[m]; i++) {
                x[i] = (double)curve[m][i].step;
                y[i] = j == 0 ? curve[m][i].loss : j == 1 ? curve[m][i].stat : curve[m][i].valid_length;
            }
            svg_polyline(f, &p, x, y, points[m], SVG_COLORS[m % 7], "");
        }
        if (j == 2 && points[o1] > 0 && isfinite(curve[o1][0].valid_length)) {
            double ref_length = curve[o1][0].valid_length;
            fprintf(f, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-dasharray='6,3'/>\n",
                    p.left, svg_y(&p, ref_length), p.left + p.width, svg_y(&p, ref_length), SVG_COLORS[0]);
        }
        if (points[o1] == 0)
            fprintf(f, "<text x='%.1f' y='%.1f' text-anchor='middle'>no curve: %s.curve is missing</text>\n",
                    p.left + p.width / 2, p.top + p.height / 2, model_paths[o1]);
    }
    fprintf(f, "</svg>\n");
    return atomic_commit(&af, err);
}

/* ========================================================================================== */
/* 20. For other implementations: reference vectors and a safetensors export                  */
/*     (README "Validating another implementation")                                           */

/* Another implementation checks itself against this one in two ways. The vectors: plain text
 * files of named tensors (a tiny model's parameters, forward pass, loss, every gradient, two AdamW
 * steps; the method's rewards, weights, ratios, losses and their gradients), which any language
 * reads in a few lines; `o1pruner vectors --check` compares a file of its own with them. The
 * export: a checkpoint as safetensors with nanoGPT's names, loadable with load_state_dict.
 *
 * The parameters as a nanoGPT model names them, in its state_dict order: each a contiguous slice
 * of the parameter array (a per-layer spec tensor is cut into its L layers). */
typedef struct { char name[64]; int ndim, shape[2]; size_t offset, size; } NamedTensor;

static const char *const NANOGPT_NAMES[NUM_PARAM_TENSORS] = {
    "transformer.wte.weight", "transformer.wpe.weight", "ln_1.weight", "ln_1.bias",
    "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias",
    "ln_2.weight", "ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
    "mlp.c_proj.weight", "mlp.c_proj.bias", "transformer.ln_f.weight", "transformer.ln_f.bias"};

/* spec tensor i (of one layer, or whole if layer < 0) under its nanoGPT name */
static void add_named(NamedTensor *t, const GPT *model, int i, int layer) {
    const TensorInfo *ti = &model->param_info[i];
    int per_layer = layer >= 0;
    if (per_layer) snprintf(t->name, sizeof(t->name), "transformer.h.%d.%s", layer, NANOGPT_NAMES[i]);
    else snprintf(t->name, sizeof(t->name), "%s", NANOGPT_NAMES[i]);
    t->ndim = ti->ndim - per_layer;
    t->shape[0] = ti->shape[per_layer];
    t->shape[1] = ti->shape[per_layer + 1];
    t->size = per_layer ? ti->size / (size_t)model->config.n_layer : ti->size;
    t->offset = ti->offset + (per_layer ? (size_t)layer * t->size : 0);
}

/* fills t (room for 4 + 12 L tensors), returns the count */
static int named_tensors(const GPT *model, NamedTensor *t) {
    int n = 0;
    add_named(&t[n++], model, 0, -1);
    add_named(&t[n++], model, 1, -1);
    for (int l = 0; l < model->config.n_layer; l++)
        for (int i = 2; i <= 13; i++) add_named(&t[n++], model, i, l);
    add_named(&t[n++], model, 14, -1);
    add_named(&t[n++], model, 15, -1);
    return n;
}

/* named_tensors into a new array (the caller frees it) */
static NamedTensor *alloc_named_tensors(const GPT *model, int *count) {
    NamedTensor *t = xmalloc(sizeof(NamedTensor) * (size_t)(4 + 12 * model->config.n_layer), "tensor names");
    *count = named_tensors(model, t);
    return t;
}

/* A vectors file is plain text: per tensor a line "name type ndim dim...", then its values in
 * row-major order, one row (the last dimension) per line; '#' lines are comments. Types i32,
 * f32 and f64; %.9g and %.17g print float32 and float64 values so that they read back exactly. */
typedef enum { VEC_I32, VEC_F32, VEC_F64 } VecType;
static const char *const VEC_TYPE_NAMES[3] = {"i32", "f32", "f64"};
#define VEC_MAX_DIMS 4

/* one tensor: its header line, then its rows */
static void vec_write(FILE *f, const char *name, VecType type, const void *data, int ndim, const int *dims) {
    size_t count = 1;
    fprintf(f, "%s %s %d", name, VEC_TYPE_NAMES[type], ndim);
    for (int d = 0; d < ndim; d++) { fprintf(f, " %d", dims[d]); count *= (size_t)dims[d]; }
    fputc('\n', f);
    size_t row = ndim > 0 ? (size_t)dims[ndim - 1] : 1;
    for (size_t i = 0; i < count; i++) {
        if (type == VEC_I32) fprintf(f, "%d", ((const int *)data)[i]);
        else if (type == VEC_F32) fprintf(f, "%.9g", (double)((const float *)data)[i]);
        else fprintf(f, "%.17g", ((const double *)data)[i]);
        fputc((i + 1) % row == 0 ? '\n' : ' ', f);
    }
}

static void vec_int(FILE *f, const char *name, int x) { vec_write(f, name, VEC_I32, &x, 0, NULL); }
static void vec_double(FILE *f, const char *name, double x) { vec_write(f, name, VEC_F64, &x, 0, NULL); }

/* every parameter tensor of `values` (parameters, gradients, ...) under prefix + nanoGPT name */
static void vec_params(FILE *f, const char *prefix, const GPT *model, const float *values) {
    int n;
    NamedTensor *t = alloc_named_tensors(model, &n);
    for (int i = 0; i < n; i++) {
        char name[128];
        snprintf(name, sizeof(name), "%s%s", prefix, t[i].name);
        vec_write(f, name, VEC_F32, values + t[i].offset, t[i].ndim, t[i].shape);
    }
    free(t);
}

/* What the vectors are made of: a tiny model of the task, two training sequences (one padded),
 * and for the method three problems with K = 4 responses each (vectors_method says which cases). */
#define VECTORS_SEED 1
#define VECTORS_INIT_NOISE 0.05f /* added to the initial parameters: no zero biases, no unit gains */
#define VECTORS_PERTURB 0.15f    /* pi_theta = pi_ref + this much noise */
static const GPTConfig VECTORS_CONFIG = {.vocab_size = VOCAB_SIZE, .block_size = 48, .n_layer = 2,
                                         .n_head = 2, .n_embd = 16};
static const char *const VECTORS_BATCH[2] = {"3+4+5=03+4=07,07+5=12,A12$", "2+7=02+7=09,v02+7=09,A09$"};
#define VECTORS_PROBLEMS 3
#define VECTORS_K 4
#define VECTORS_M 2
#define VECTORS_SAMPLES (VECTORS_PROBLEMS * VECTORS_K)
#define VECTORS_KEPT (VECTORS_PROBLEMS * VECTORS_M)
#define VECTORS_PPO_BATCH 4 /* the first 4 of the 6 kept */
#define VECTORS_CAP 40      /* the length cap of sampling: sample 5 reaches it without its `$` */
static const char *const VECTORS_PROMPTS[VECTORS_PROBLEMS] = {"2+7=", "3+4+5=", "9+9="};
static const char *const VECTORS_RESPONSES[VECTORS_SAMPLES] = {
    /* A_ref 0.75: a very short right one (R > 4) and a long wrong one (R < -2) first */
    "A09$", "02+7=09,r02+7=09,v02+7=09,r02+7=08,A08$", "02+7=09,A09$", "02+7=09,v02+7=09,A09$",
    /* A_ref 0.25: a very short WRONG one that still gets R > 4, and one cut off at the cap */
    "A11$", "03+4=07,07+5=12,v03+4=07,07+5=12,v03+4=0", "03+4=07,07+5=12,A12$",
    "03+4=07,07+5=11,r03+4=07,07+5=11,A11$",
    /* A_ref 0.5 */
    "09+9=18,A18$", "09+9=17,A17$", "09+9=18,v09+9=18,A18$", "09+9=18,r09+9=19,A19$"};
#define VECTORS_MAX_LEN 64
static const OptimConfig VECTORS_ADAMW = {.lr_max = 1e-2f, .lr_min = 1e-2f, .warmup_steps = 0,
                                          .total_steps = 2, .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-5f,
                                          .weight_decay = 0.1f, .grad_clip = 1.0f};

/* examples from prompt+response texts, and their batch as SFT and prune build it; padded
 * positions get target 0 instead of "none" so that every log-prob is defined (mask 0 there) */
static void vectors_examples(Example *ex, char (*text)[VECTORS_MAX_LEN], int n) {
    char err[O1P_ERR_LEN];
    for (int i = 0; i < n; i++) {
        ex[i].text = text[i];
        ex[i].length = (int)strlen(text[i]);
        ex[i].prompt_len = (int)(strchr(text[i], '=') - text[i]) + 1;
        if (parse_prompt(text[i], ex[i].prompt_len, &ex[i].problem, err)) {
            fprintf(stderr, "internal error: %s\n", err);
            exit(1);
        }
    }
}

/* the batch of the examples in order, as make_sft_batch builds it for training */
static int vectors_batch(const Example *ex, int B, int *inputs, int *targets, float *mask) {
    Dataset ds = {.ex = (Example *)ex, .count = B, .buffer = NULL};
    int idx[VECTORS_SAMPLES];
    for (int b = 0; b < B; b++) idx[b] = b;
    int T = make_sft_batch(&ds, idx, B, inputs, targets, mask);
    for (int i = 0; i < B * T; i++) if (targets[i] < 0) targets[i] = 0;
    return T;
}

/* the comment lines that open a vectors file and say how to read it */
static void vectors_header(FILE *f, const char *what) {
    fprintf(f,
            "# o1pruner reference vectors, format 1: %s\n"
            "# per tensor: a line 'name type ndim dim...', then its values row-major, one row (last "
            "dimension) per line;\n"
            "# types i32, f32 (%%.9g), f64 (%%.17g). Written by 'o1pruner vectors'; README \"Validating "
            "another implementation\".\n",
            what);
}

/* params += std * normal(), tensor i from the stream rng_seed(VECTORS_SEED, stream, i) */
static void perturb(const GPT *model, float *params, float std, uint64_t stream) {
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        const TensorInfo *ti = &model->param_info[i];
        Rng rng;
        rng_seed(&rng, VECTORS_SEED, stream, (uint64_t)i);
        for (size_t k = ti->offset; k < ti->offset + ti->size; k++)
            params[k] += (float)(std * rng_normal(&rng));
    }
}

/* model.txt: the forward pass, the loss, every gradient and two AdamW steps */
static void vectors_model(FILE *f, GPT *model) {
    const GPTConfig *c = &model->config;
    vectors_header(f, "the model (forward, loss, gradients, AdamW)");
    vec_int(f, "config.vocab_size", c->vocab_size);
    vec_int(f, "config.block_size", c->block_size);
    vec_int(f, "config.n_layer", c->n_layer);
    vec_int(f, "config.n_head", c->n_head);
    vec_int(f, "config.n_embd", c->n_embd);
    vec_int(f, "config.seed", VECTORS_SEED);
    fprintf(f, "# initial parameters (lm_head.weight is transformer.wte.weight, tied)\n");
    vec_params(f, "", model, model->params);
    char text[2][VECTORS_MAX_LEN];
    Example ex[2];
    for (int i = 0; i < 2; i++) snprintf(text[i], VECTORS_MAX_LEN, "%s", VECTORS_BATCH[i]);
    vectors_examples(ex, text, 2);
    int B = 2, inputs[2 * VECTORS_MAX_LEN], targets[2 * VECTORS_MAX_LEN];
    float mask[2 * VECTORS_MAX_LEN];
    int T = vectors_batch(ex, B, inputs, targets, mask);
    int C = c->n_embd, V = c->vocab_size, N = B * T;
    fprintf(f, "# the batch: '%s' and '%s' (padded); mask = 1 where the target is a response token\n",
            VECTORS_BATCH[0], VECTORS_BATCH[1]);
    vec_write(f, "batch.inputs", VEC_I32, inputs, 2, (int[]){B, T});
    vec_write(f, "batch.targets", VEC_I32, targets, 2, (int[]){B, T});
    vec_write(f, "batch.mask", VEC_F32, mask, 2, (int[]){B, T});
    const OptimConfig *oc = &VECTORS_ADAMW;
    vec_double(f, "adamw.lr", oc->lr_max);
    vec_double(f, "adamw.beta1", oc->beta1);
    vec_double(f, "adamw.beta2", oc->beta2);
    vec_double(f, "adamw.eps", oc->eps);
    vec_double(f, "adamw.weight_decay", oc->weight_decay);
    vec_double(f, "adamw.max_grad_norm", oc->grad_clip);
    for (int step = 0; step < 2; step++) {
        gpt_forward(model, inputs, targets, B, T);
        double loss = masked_mean_nll(model->logprob, mask, N, model->dlogprob);
        gpt_zero_grad(model);
        gpt_backward(model, inputs, targets, model->dlogprob);
        if (step == 0) {
            fprintf(f, "# the forward pass at the initial parameters\n");
            vec_write(f, "act.embedding", VEC_F32, model->a.encoded, 3, (int[]){B, T, C});
            for (int l = 0; l < c->n_layer; l++) {
                char name[64];
                snprintf(name, sizeof(name), "act.block.%d", l);
                vec_write(f, name, VEC_F32, model->a.residual3 + (size_t)l * N * C, 3, (int[]){B, T, C});
            }
            vec_write(f, "act.ln_f", VEC_F32, model->a.lnf, 3, (int[]){B, T, C});
            vec_write(f, "logits", VEC_F32, model->a.logits, 3, (int[]){B, T, V});
            vec_write(f, "logprob", VEC_F32, model->logprob, 2, (int[]){B, T});
            vec_double(f, "loss", loss);
            fprintf(f, "# d loss / d parameter, before clipping\n");
            vec_params(f, "grad.", model, model->grads);
        } else {
            fprintf(f, "# the same batch at the parameters after step 1\n");
            vec_double(f, "step1.loss", loss);
        }
        double norm = clip_grad_norm(model->grads, model->num_params, oc->grad_clip);
        vec_double(f, step == 0 ? "grad_norm" : "step1.grad_norm", norm);
        adamw_step(model, oc, lr_schedule(oc, step));
        fprintf(f, "# the parameters after AdamW step %d\n", step + 1);
        vec_params(f, step == 0 ? "step1." : "step2.", model, model->params);
    }
}

/* method.txt: Eq. 8-11 on 3 problems x K = 4 responses, m = 2 kept of each, and one PPO batch of 4
 * of the 6 kept, with the initial model of model.txt as pi_ref and a perturbed copy of it as
 * pi_theta (every parameter plus VECTORS_PERTURB * normal()). The cases are the ones that catch the
 * bugs implementations make: rewards past both clip bounds; a very short WRONG sample that still
 * gets the top weight; problems with different A_ref; m < K, so means over the m kept are not those
 * over K, and a batch smaller than the kept set, so a per-batch z-score is not the whole set's; a
 * sample cut off at the length cap without `$`; ratios on both sides of the clip range. */
typedef struct {
    char text[VECTORS_SAMPLES][VECTORS_MAX_LEN];
    Example ex[VECTORS_SAMPLES];
    int length[VECTORS_SAMPLES], correct[VECTORS_SAMPLES];
    int kept[VECTORS_KEPT];     /* sample index of each kept one: the first m of each problem */
    float w[2][VECTORS_KEPT];   /* the weights of the kept ones: official, paper */
    int inputs[VECTORS_PPO_BATCH * VECTORS_MAX_LEN], targets[VECTORS_PPO_BATCH * VECTORS_MAX_LEN];
    float mask[VECTORS_PPO_BATCH * VECTORS_MAX_LEN], ref_logprob[VECTORS_PPO_BATCH * VECTORS_MAX_LEN];
    double ref_logprob_sum[VECTORS_PPO_BATCH];
    int T;
} MethodCase;

/* the samples, their lengths and grades; Eq. 8-10; the selection and the weights */
static void vectors_weights(FILE *f, MethodCase *mc, double lambda) {
    enum { P = VECTORS_PROBLEMS, K = VECTORS_K, S = VECTORS_SAMPLES, M = VECTORS_M };
    int problem[S];
    for (int i = 0; i < S; i++) {
        snprintf(mc->text[i], VECTORS_MAX_LEN, "%s%s", VECTORS_PROMPTS[i / K], VECTORS_RESPONSES[i]);
        fprintf(f, "# sample %d: problem %d, prompt %s, response %s\n", i, i / K, VECTORS_PROMPTS[i / K],
                VECTORS_RESPONSES[i]);
    }
    vectors_examples(mc->ex, mc->text, S);
    for (int i = 0; i < S; i++) {
        problem[i] = i / K;
        mc->length[i] = mc->ex[i].length - mc->ex[i].prompt_len;
        mc->correct[i] =
            grade_response(&mc->ex[i].problem, mc->ex[i].text + mc->ex[i].prompt_len, mc->length[i]);
    }
    vec_write(f, "sample.problem", VEC_I32, problem, 1, (int[]){S});
    vec_write(f, "sample.length", VEC_I32, mc->length, 1, (int[]){S});
    vec_write(f, "sample.correct", VEC_I32, mc->correct, 1, (int[]){S});
    double L_ref[P], A_ref[P], reward[S], kept_reward[P * M];
    for (int p = 0; p < P; p++)
        reference_stats(mc->length + p * K, mc->correct + p * K, K, &L_ref[p], &A_ref[p]); /* Eq. 8-9 */
    vec_write(f, "problem.L_ref", VEC_F64, L_ref, 1, (int[]){P});
    vec_write(f, "problem.A_ref", VEC_F64, A_ref, 1, (int[]){P});
    for (int i = 0; i < S; i++)
        reward[i] = length_reward(L_ref[i / K], mc->length[i], mc->correct[i], A_ref[i / K], lambda);
    vec_write(f, "reward", VEC_F64, reward, 1, (int[]){S});
    for (int i = 0; i < P * M; i++) {
        mc->kept[i] = (i / M) * K + i % M;
        kept_reward[i] = reward[mc->kept[i]];
    }
    vec_write(f, "select.sample", VEC_I32, mc->kept, 1, (int[]){P * M});
    advantages(kept_reward, P * M, ADVANTAGE_OFFICIAL, mc->w[0]); /* over the whole kept set */
    advantages(kept_reward, P * M, ADVANTAGE_PAPER, mc->w[1]);
    vec_write(f, "advantage.official", VEC_F32, mc->w[0], 1, (int[]){P * M});
    vec_write(f, "advantage.paper", VEC_F32, mc->w[1], 1, (int[]){P * M});
    static const double guard_reward[4] = {4.5, 7.0, 4.25, 12.0}; /* all clip to 4: std 0 */
    float guard_w[4];
    advantages(guard_reward, 4, ADVANTAGE_OFFICIAL, guard_w);
    vec_write(f, "guard.reward", VEC_F64, guard_reward, 1, (int[]){4});
    vec_write(f, "guard.advantage.official", VEC_F32, guard_w, 1, (int[]){4});
}

/* pi_ref's and pi_theta's log-probs on the PPO batch, the ratios and Eq. 11 in its 4 variants */
static void vectors_ppo(FILE *f, MethodCase *mc, GPT *ref, GPT *policy, float clip_eps) {
    enum { B = VECTORS_PPO_BATCH };
    Example batch[B];
    int index[B];
    float w[2][B], dlogprob[B * VECTORS_MAX_LEN];
    for (int b = 0; b < B; b++) {
        index[b] = b; /* the first B of the kept samples */
        batch[b] = mc->ex[mc->kept[b]];
        w[0][b] = mc->w[0][b];
        w[1][b] = mc->w[1][b];
    }
    int T = mc->T = vectors_batch(batch, B, mc->inputs, mc->targets, mc->mask);
    vec_write(f, "batch.kept", VEC_I32, index, 1, (int[]){B});
    vec_write(f, "batch.inputs", VEC_I32, mc->inputs, 2, (int[]){B, T});
    vec_write(f, "batch.targets", VEC_I32, mc->targets, 2, (int[]){B, T});
    vec_write(f, "batch.mask", VEC_F32, mc->mask, 2, (int[]){B, T});
    gpt_forward(ref, mc->inputs, mc->targets, B, T);
    memcpy(mc->ref_logprob, ref->logprob, sizeof(float) * (size_t)(B * T));
    sequence_logprobs(mc->ref_logprob, mc->mask, B, T, mc->ref_logprob_sum);
    fprintf(f, "# pi_theta: the initial parameters of model.txt (pi_ref) plus noise\n");
    vec_params(f, "policy.", policy, policy->params);
    gpt_forward(policy, mc->inputs, mc->targets, B, T);
    vec_write(f, "ref_logprob", VEC_F32, mc->ref_logprob, 2, (int[]){B, T});
    vec_write(f, "ref_logprob_sum", VEC_F64, mc->ref_logprob_sum, 1, (int[]){B});
    vec_write(f, "policy_logprob", VEC_F32, policy->logprob, 2, (int[]){B, T});
    static const char *const ratio_names[2] = {"mean", "sum"}, *const weight_names[2] = {"official", "paper"};
    for (int r = 0; r < 2; r++) {
        double ratio[B];
        for (int a = 0; a < 2; a++) {
            PpoStats st = ppo_clip_loss(policy->logprob, mc->mask, mc->ref_logprob_sum, w[a], B, T,
                                        r == 0 ? RATIO_MEAN : RATIO_SUM, clip_eps, dlogprob, ratio);
            char name[96];
            if (a == 0) {
                snprintf(name, sizeof(name), "ratio.%s", ratio_names[r]);
                vec_write(f, name, VEC_F64, ratio, 1, (int[]){B});
            }
            snprintf(name, sizeof(name), "ppo.ratio_%s.advantage_%s.loss", ratio_names[r], weight_names[a]);
            vec_double(f, name, st.loss);
            snprintf(name, sizeof(name), "ppo.ratio_%s.advantage_%s.dlogprob", ratio_names[r],
                     weight_names[a]);
            vec_write(f, name, VEC_F32, dlogprob, 2, (int[]){B, T});
        }
    }
}

/* The loss conventions O1-Pruner's loss is confused with. GRPO-style trainers (TRL, verl, DAPO)
 * clip each TOKEN's ratio r_t = pi_theta(y_t|.) / pi_ref(y_t|.) and average the per-token terms
 * l_t = max(-w r_t, -w clip(r_t, 1-eps, 1+eps)) in one of three ways:
 *   TOKEN_GRPO     mean over sequences of each sequence's token mean       TRL loss_type "grpo"
 *   TOKEN_DAPO     one token mean over the whole batch                      DAPO; TRL "bnpo", "dapo"
 *   TOKEN_DR_GRPO  the batch's token sum / (B x max completion length)      Dr. GRPO; TRL "dr_grpo"
 * O1-Pruner instead clips one ratio per SEQUENCE (ppo_clip_loss); its official ratio, the exp of
 * the mean log-ratio, is GSPO's sequence ratio. Writes d loss / d logprob and each token's r_t
 * (0 where mask is 0); returns the loss. */
typedef enum { TOKEN_GRPO, TOKEN_DAPO, TOKEN_DR_GRPO } TokenNorm;
static double token_ppo_loss(const float *logprob, const float *ref_logprob, const float *mask,
                             const float *w, int B, int T, float eps, TokenNorm norm, int max_completion,
                             float *dlogprob, double *ratio) {
    double all_tokens = 0.0, loss = 0.0;
    for (int i = 0; i < B * T; i++) all_tokens += mask[i];
    for (int i = 0; i < B; i++) {
        double tokens = 0.0, row = 0.0;
        for (int t = 0; t < T; t++) tokens += mask[i * T + t];
        double divisor = norm == TOKEN_GRPO   ? B * fmax(tokens, 1.0)
                         : norm == TOKEN_DAPO ? fmax(all_tokens, 1.0)
                                              : (double)B * max_completion;
        for (int t = 0; t < T; t++) {
            int k = i * T + t;
            ratio[k] = dlogprob[k] = 0;
            if (mask[k] == 0) continue;
            double r = exp_f64((double)logprob[k] - ref_logprob[k]),
                   clipped = fmin(fmax(r, 1.0 - eps), 1.0 + eps);
            double unclipped_term = -w[i] * r, clipped_term = -w[i] * clipped;
            int use_clipped = clipped_term > unclipped_term;
            row += use_clipped ? clipped_term : unclipped_term;
            dlogprob[k] = use_clipped ? 0.0f : (float)(-w[i] * r / divisor);
            ratio[k] = r;
        }
        loss += row / divisor;
    }
    return loss;
}

static const char *const TOKEN_NORM_NAMES[3] = {"grpo", "dapo", "dr_grpo"};

/* the same batch's loss and gradient under the token-level conventions, with the official weights */
static void vectors_conventions(FILE *f, const MethodCase *mc, const GPT *policy, float clip_eps) {
    enum { B = VECTORS_PPO_BATCH };
    int T = mc->T, max_completion = VECTORS_CAP;
    double ratio[B * VECTORS_MAX_LEN];
    float dlogprob[B * VECTORS_MAX_LEN];
    fprintf(f, "# token-level PPO-clip under three normalisations (README \"Loss conventions\")\n");
    vec_int(f, "token.max_completion_length", max_completion);
    for (int n = 0; n < 3; n++) {
        double loss = token_ppo_loss(policy->logprob, mc->ref_logprob, mc->mask, mc->w[0], B, T, clip_eps,
                                     (TokenNorm)n, max_completion, dlogprob, ratio);
        char name[64];
        if (n == 0) vec_write(f, "token.ratio", VEC_F64, ratio, 2, (int[]){B, T});
        snprintf(name, sizeof(name), "token.%s.loss", TOKEN_NORM_NAMES[n]);
        vec_double(f, name, loss);
        snprintf(name, sizeof(name), "token.%s.dlogprob", TOKEN_NORM_NAMES[n]);
        vec_write(f, name, VEC_F32, dlogprob, 2, (int[]){B, T});
    }
}

static void vectors_method(FILE *f, GPT *ref, GPT *policy) {
    const double lambda = 2.0;
    const float clip_eps = 0.2f;
    MethodCase *mc = xcalloc(1, sizeof(MethodCase), "vectors");
    vectors_header(f, "the method (reward, advantages, ratios, PPO-clip loss, loss conventions)");
    vec_double(f, "method.lambda", lambda);
    vec_double(f, "method.clip_eps", clip_eps);
    vec_int(f, "method.k", VECTORS_K);
    vec_int(f, "method.m", VECTORS_M);
    vec_int(f, "method.length_cap", VECTORS_CAP);
    vectors_weights(f, mc, lambda);
    vectors_ppo(f, mc, ref, policy, clip_eps);
    vectors_conventions(f, mc, policy, clip_eps);
    free(mc);
}

/* writes DIR/model.txt and DIR/method.txt, each atomically */
static int write_vectors(const char *dir, char *err) {
    const int max_batch = VECTORS_SAMPLES, max_seq = VECTORS_CONFIG.block_size;
    GPT model, ref, policy;
    gpt_build(&model, &VECTORS_CONFIG);
    gpt_init_weights(&model, VECTORS_SEED);
    perturb(&model, model.params, VECTORS_INIT_NOISE, 3);
    gpt_alloc_training(&model, max_batch, max_seq);
    gpt_build(&ref, &VECTORS_CONFIG);
    memcpy(ref.params, model.params, model.num_params * sizeof(float));
    gpt_alloc_training(&ref, max_batch, max_seq);
    gpt_build(&policy, &VECTORS_CONFIG);
    gpt_alloc_training(&policy, max_batch, max_seq);
    memcpy(policy.params, ref.params, ref.num_params * sizeof(float));
    /* stream 22: a noise whose ratios hit every branch of the clip (README "method.txt") */
    perturb(&policy, policy.params, VECTORS_PERTURB, 22);
    char path[2][4200];
    snprintf(path[0], sizeof(path[0]), "%s/model.txt", dir);
    snprintf(path[1], sizeof(path[1]), "%s/method.txt", dir);
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        AtomicFile af;
        if (atomic_open(&af, path[i], err)) { rc = -1; break; }
        if (i == 0) vectors_model(af.f, &model);
        else vectors_method(af.f, &ref, &policy);
        rc = atomic_commit(&af, err);
    }
    gpt_free(&model); gpt_free(&ref); gpt_free(&policy);
    return rc;
}

/* A vectors file read back, every line validated: what `make test` compares and what another
 * implementation's test would read. */
typedef struct {
    char name[64];
    VecType type;
    int ndim, dims[VEC_MAX_DIMS];
    size_t count;
    double *values;
} Vector;
typedef struct { Vector *v; int count; } VectorFile;

/* what vectors_read allocated */
static void vectors_free(VectorFile *vf) {
    for (int i = 0; i < vf->count; i++) free(vf->v[i].values);
    free(vf->v);
    memset(vf, 0, sizeof(*vf));
}

/* the tensor of that name, or NULL */
static const Vector *vectors_find(const VectorFile *vf, const char *name) {
    for (int i = 0; i < vf->count; i++) if (!strcmp(vf->v[i].name, name)) return &vf->v[i];
    return NULL;
}

/* splits a line into at most `max` space-separated fields, in place; returns the count or max+1 */
static int split_fields(char *line, char **field, int max) {
    int n = 0;
    for (char *p = line; *p;) {
        while (*p == ' ') p++;
        if (!*p) break;
        if (n == max) return max + 1;
        field[n++] = p;
        while (*p && *p != ' ') p++;
        if (*p) *p++ = 0;
    }
    return n;
}

/* one number of a vectors file: the whole field, in the type's range, finite */
static int parse_value(const char *s, VecType type, double *out) {
    char *end;
    errno = 0;
    if (type == VEC_I32) {
        long x = strtol(s, &end, 10);
        if (*end || end == s || errno || x < INT32_MIN || x > INT32_MAX) return -1;
        *out = (double)x;
    } else if (type == VEC_F32) {
        float x = strtof(s, &end);
        if (*end || end == s || !isfinite(x)) return -1; /* ERANGE on an underflow to a denormal is fine */
        *out = x;
    } else {
        double x = strtod(s, &end);
        if (*end || end == s || !isfinite(x)) return -1;
        *out = x;
    }
    return 0;
}

/* the next line of a text buffer, NUL-terminated in place (a '\r' before its '\n' dropped), with
 * *at moved past it and *line counting; NULL at the end. The last line may lack its '\n'. */
static char *next_text_line(char **at, int *line) {
    char *l = *at, *nl = strchr(l, '\n');
    if (!*l) return NULL;
    (*line)++;
    if (nl) {
        *nl = 0;
        *at = nl + 1;
    } else {
        *at = l + strlen(l);
    }
    size_t n = strlen(l);
    if (n && l[n - 1] == '\r') l[n - 1] = 0;
    return l;
}

/* a tensor's header line "name type ndim dim..." (nf fields) into v; `room` bytes of the file
 * are left for its values. 0, or -1 with the reason in why */
static int vector_header(const VectorFile *vf, Vector *v, char **field, int nf, size_t room, char *why) {
    memset(v, 0, sizeof(*v));
    size_t len = strlen(field[0]);
    double x;
    if (len >= sizeof(v->name))
        return seterr(why, "tensor name longer than %d characters", (int)sizeof(v->name) - 1);
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)field[0][i]) && field[0][i] != '.' && field[0][i] != '_')
            return seterr(why, "tensor name '%.64s' has a character other than A-Z a-z 0-9 . _", field[0]);
    strcpy(v->name, field[0]);
    if (vectors_find(vf, v->name)) return seterr(why, "tensor '%s' appears twice", v->name);
    int type = -1;
    for (int t = 0; t < 3; t++) if (!strcmp(field[1], VEC_TYPE_NAMES[t])) type = t;
    if (type < 0) return seterr(why, "tensor '%s': type '%.16s' is not i32, f32 or f64", v->name, field[1]);
    v->type = (VecType)type;
    if (parse_value(field[2], VEC_I32, &x) || x < 0 || x > VEC_MAX_DIMS)
        return seterr(why, "tensor '%s': ndim '%.16s' is not 0..%d", v->name, field[2], VEC_MAX_DIMS);
    v->ndim = (int)x;
    if (nf != 3 + v->ndim)
        return seterr(why, "tensor '%s': ndim %d but %d dimensions", v->name, v->ndim, nf - 3);
    v->count = 1;
    for (int d = 0; d < v->ndim; d++) {
        if (parse_value(field[3 + d], VEC_I32, &x) || x < 1)
            return seterr(why, "tensor '%s': dimension '%.16s' is not a positive whole number", v->name,
                          field[3 + d]);
        v->dims[d] = (int)x;
        v->count *= (size_t)x;
        /* every value takes at least 2 bytes ("0\n"): bound the allocation by the file size */
        if (v->count > room / 2 + 1)
            return seterr(why, "tensor '%s': %zu+ values cannot fit in the rest of the file", v->name,
                          v->count);
    }
    return 0;
}

/* a tensor's values, one row (its last dimension) per line. 0, or -1 with the reason in why */
static int vector_rows(Vector *v, char **at, int *line, char *why) {
    int row = v->ndim > 0 ? v->dims[v->ndim - 1] : 1, rc = -1;
    size_t rows = v->count / (size_t)row;
    char **value = xmalloc(sizeof(char *) * ((size_t)row + 1), "vector row"), *l;
    for (size_t r = 0; r < rows; r++) {
        if (!(l = next_text_line(at, line))) {
            seterr(why, "tensor '%s': the file ends after %zu of %zu rows", v->name, r, rows);
            goto done;
        }
        int n = split_fields(l, value, row);
        if (n != row) {
            seterr(why, "tensor '%s': row %zu has %s values, expected %d", v->name, r,
                   n > row ? "more" : "fewer", row);
            goto done;
        }
        for (int i = 0; i < row; i++)
            if (parse_value(value[i], v->type, &v->values[r * (size_t)row + (size_t)i])) {
                seterr(why, "tensor '%s': '%.31s' is not %s", v->name, value[i],
                       v->type == VEC_I32 ? "a whole number in the i32 range" : "a finite number");
                goto done;
            }
    }
    rc = 0;
done:
    free(value);
    return rc;
}

#define VEC_MAX_TENSORS 100000
/* every tensor of a vectors file; an error names the file and the line */
static int vectors_read(VectorFile *vf, const char *path, char *err) {
    memset(vf, 0, sizeof(*vf));
    char *buf, *at, *l, *field[3 + VEC_MAX_DIMS + 1], why[O1P_ERR_LEN] = "";
    size_t size;
    int line = 0, cap = 0;
    if (read_text_file(path, "write it with 'o1pruner vectors --out DIR'", &buf, &size, err)) return -1;
    if (strlen(buf) != size) {
        seterr(err, "%s: contains a NUL byte; not a vectors file", path);
        goto fail;
    }
    for (at = buf; (l = next_text_line(&at, &line));) {
        if (l[0] == '#' || l[0] == 0) continue;
        int nf = split_fields(l, field, 3 + VEC_MAX_DIMS);
        if (nf < 3) {
            seterr(why, "expected a tensor header 'name type ndim dim...'");
            goto fail;
        }
        if (vf->count == cap && cap == VEC_MAX_TENSORS) {
            seterr(why, "more than %d tensors", VEC_MAX_TENSORS);
            goto fail;
        }
        if (vf->count == cap) {
            cap = cap ? 2 * cap : 64;
            vf->v = realloc(vf->v, sizeof(Vector) * (size_t)cap);
            if (!vf->v) { fprintf(stderr, "%s: out of memory reading %s\n", program_name, path); exit(1); }
        }
        Vector *v = &vf->v[vf->count];
        if (vector_header(vf, v, field, nf, size - (size_t)(at - buf), why)) goto fail;
        v->values = xmalloc(sizeof(double) * v->count, "vector values");
        vf->count++;
        if (vector_rows(v, &at, &line, why)) goto fail;
    }
    if (vf->count == 0) {
        seterr(err, "%s: no tensors; re-create the file with 'o1pruner vectors --out DIR'", path);
        goto fail;
    }
    free(buf);
    return 0;
fail:
    if (why[0])
        seterr(err, "%s:%d: %s; re-create the file with 'o1pruner vectors --out DIR'", path, line, why);
    free(buf);
    vectors_free(vf);
    return -1;
}

/* The tolerance a float32 implementation should meet on a tensor, by the README's error measure
 * max|x - ref| / max|ref| (README "Tolerances"). The inputs (config, batch, samples, settings,
 * the selection) must match exactly. */
static double vector_tolerance(const char *name) {
    static const char *const exact[] = {"config.", "batch.", "sample.", "adamw.", "method.", "select.",
                                        "token.max_completion_length"};
    static const char *const tight[] = {"problem.", "reward", "advantage.", "guard."};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (!strncmp(name, exact[i], strlen(exact[i]))) return 0.0;
    for (size_t i = 0; i < sizeof(tight) / sizeof(tight[0]); i++)
        if (!strncmp(name, tight[i], strlen(tight[i]))) return 1e-6;
    if (!strncmp(name, "grad.", 5)) return 1e-4;
    /* after an optimizer step: an exact float64 AdamW is 3.9e-6 from the file, every bug tried 1.3e-3+ */
    if (!strncmp(name, "step1.", 6) || !strncmp(name, "step2.", 6)) return 5e-5;
    return 1e-5; /* activations, logits, log-probs, losses, grad_norm, ratios, PPO and token-level numbers */
}

/* max|x - ref| / max|ref| (max|x - ref| where ref is all 0), or -1 if the shapes differ */
static double vector_error(const Vector *x, const Vector *r) {
    if (r->count != x->count || r->ndim != x->ndim || memcmp(r->dims, x->dims, sizeof(r->dims))) return -1;
    double worst = 0, scale = 0;
    for (size_t k = 0; k < x->count; k++) {
        worst = fmax(worst, fabs(x->values[k] - r->values[k]));
        scale = fmax(scale, fabs(r->values[k]));
    }
    return scale > 0 ? worst / scale : worst;
}

/* The losses a file's convention.loss and convention.dlogprob, computed on method.txt's PPO batch
 * with advantage.official, can be (README "Loss conventions"), each by its tensors' prefix */
static const char *const CONVENTIONS[][2] = {
    {"ppo.ratio_mean.advantage_official", "O1-Pruner, official code: one ratio per sequence, exp of the mean "
                                          "log-ratio (GSPO's sequence ratio)"},
    {"ppo.ratio_sum.advantage_official", "O1-Pruner, paper Eq. 11: one ratio per sequence, exp of the summed "
                                         "log-ratio"},
    {"ppo.ratio_mean.advantage_paper", "the official ratio with the raw rewards as weights"},
    {"ppo.ratio_sum.advantage_paper", "the paper's ratio with the raw rewards as weights"},
    {"token.grpo", "token-level ratios; each sequence's token mean, then the mean over sequences "
                   "(TRL loss_type \"grpo\")"},
    {"token.dapo", "token-level ratios; one token mean over the batch (DAPO; TRL \"bnpo\", \"dapo\")"},
    {"token.dr_grpo", "token-level ratios; the token sum / (batch x max completion length) (Dr. GRPO; "
                      "TRL \"dr_grpo\")"}};
#define CONVENTION_COUNT ((int)(sizeof(CONVENTIONS) / sizeof(CONVENTIONS[0])))

/* names the convention of mine's convention.loss and convention.dlogprob: 0 if one matches within
 * 1e-5 (or mine has neither), -1 if none does */
static int name_convention(const VectorFile *mine, const VectorFile *ref, FILE *out, char *err) {
    const Vector *given[2] = {vectors_find(mine, "convention.loss"),
                              vectors_find(mine, "convention.dlogprob")};
    static const char *const suffix[2] = {"loss", "dlogprob"};
    if (!given[0] && !given[1]) return 0;
    int best = -1;
    double best_error = INFINITY;
    fprintf(out, "your convention.loss / convention.dlogprob against each loss convention:\n");
    for (int c = 0; c < CONVENTION_COUNT; c++) {
        double e = 0;
        for (int k = 0; k < 2; k++) {
            char name[96];
            snprintf(name, sizeof(name), "%s.%s", CONVENTIONS[c][0], suffix[k]);
            const Vector *r = vectors_find(ref, name);
            if (!r)
                return seterr(err, "the reference has no %s: check convention.* against method.txt", name);
            double ek = given[k] ? vector_error(given[k], r) : 0;
            e = ek < 0 || e < 0 ? -1 : fmax(e, ek);
        }
        fprintf(out, "  %-36s %9.2e  %s\n", CONVENTIONS[c][0], e, e < 0 ? "(the shape differs)" : "");
        if (e >= 0 && e < best_error) { best_error = e; best = c; }
    }
    if (best >= 0 && best_error <= 1e-5) {
        fprintf(out, "convention: %s (error %.1e): %s\n", CONVENTIONS[best][0], best_error,
                CONVENTIONS[best][1]);
        return 0;
    }
    if (best < 0)
        return seterr(err, "convention.* has the wrong shape: the loss is a scalar, dlogprob B x T");
    fprintf(out, "convention: none within 1e-5; the nearest is %s (error %.1e): %s\n", CONVENTIONS[best][0],
            best_error, CONVENTIONS[best][1]);
    return seterr(err, "your loss matches none of the %d conventions; the nearest is %s (error %.1e)",
                  CONVENTION_COUNT, CONVENTIONS[best][0], best_error);
}

/* compares every tensor of `mine` with the one of the same name in `ref`, one line each to `out`,
 * and names the loss convention of mine's convention.*; 0 if all are within their tolerance */
static int vectors_check(const char *mine_path, const char *ref_path, FILE *out, char *err) {
    VectorFile mine, ref;
    if (vectors_read(&mine, mine_path, err)) return -1;
    if (vectors_read(&ref, ref_path, err)) { vectors_free(&mine); return -1; }
    fprintf(out, "%s against %s: error = max|x - ref| / max|ref|\n", mine_path, ref_path);
    int bad = 0, found = 0, compared = 0;
    for (int i = 0; i < mine.count; i++) {
        const Vector *x = &mine.v[i], *r = vectors_find(&ref, x->name);
        if (!strncmp(x->name, "convention.", 11)) continue; /* named below */
        double tol = vector_tolerance(x->name), e = r ? vector_error(x, r) : -1;
        found += r != NULL;
        compared++;
        if (e < 0) {
            fprintf(out, "  %-48s %s\n", x->name,
                    r ? "FAIL: the shape differs" : "FAIL: not a reference tensor");
            bad++;
            continue;
        }
        fprintf(out, "  %-48s %9.2e  (tolerance %.0e)  %s\n", x->name, e, tol, e <= tol ? "ok" : "FAIL");
        bad += e > tol;
    }
    fprintf(out, "%d of %d tensors within tolerance; %d reference tensors not compared\n", compared - bad,
            compared, ref.count - found);
    int rc = bad ? seterr(err, "%s: %d tensor(s) differ from %s", mine_path, bad, ref_path) : 0;
    if (rc == 0 && name_convention(&mine, &ref, out, err)) {
        char why[O1P_ERR_LEN];
        snprintf(why, sizeof(why), "%s", err);
        rc = seterr(err, "%s: %s", mine_path, why);
    }
    vectors_free(&mine);
    vectors_free(&ref);
    return rc;
}

/* safetensors (huggingface/safetensors): u64 N, N bytes of JSON header (padded with spaces to a
 * multiple of 8) naming each tensor's dtype, shape and byte range, then the raw little-endian
 * data. Names and layouts are nanoGPT's; lm_head.weight is written as a copy of the tied
 * transformer.wte.weight so that a nanoGPT model loads it with load_state_dict(strict=True). */
static int export_safetensors(const GPT *model, const char *path, char *err) {
    int n;
    NamedTensor *t = alloc_named_tensors(model, &n);
    t = realloc(t, sizeof(NamedTensor) * (size_t)(n + 1));
    if (!t) { fprintf(stderr, "%s: out of memory\n", program_name); exit(1); }
    t[n] = t[0];
    strcpy(t[n].name, "lm_head.weight");
    n++;
    size_t cap = 512 + (size_t)n * 256, len = 0, offset = 0;
    char *json = xmalloc(cap, "safetensors header");
    const GPTConfig *c = &model->config;
    len += (size_t)snprintf(json + len, cap - len,
                            "{\"__metadata__\":{\"format\":\"pt\",\"vocab\":\"%s\",\"vocab_size\":\"%d\","
                            "\"block_size\":\"%d\","
                            "\"n_layer\":\"%d\",\"n_head\":\"%d\",\"n_embd\":\"%d\"}",
                            c->vocab_size == VOCAB_SIZE ? VOCAB : "", c->vocab_size, c->block_size,
                            c->n_layer, c->n_head, c->n_embd);
    for (int i = 0; i < n; i++) {
        size_t bytes = t[i].size * sizeof(float);
        len += (size_t)snprintf(json + len, cap - len, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[%d", t[i].name,
                                t[i].shape[0]);
        if (t[i].ndim == 2) len += (size_t)snprintf(json + len, cap - len, ",%d", t[i].shape[1]);
        len += (size_t)snprintf(json + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", offset,
                                offset + bytes);
        offset += bytes;
    }
    len += (size_t)snprintf(json + len, cap - len, "}");
    while (len % 8) json[len++] = ' ';
    AtomicFile af;
    int rc = atomic_open(&af, path, err);
    if (rc == 0) {
        unsigned char header_size[8];
        put_u64(header_size, len);
        fwrite(header_size, 1, 8, af.f);
        fwrite(json, 1, len, af.f);
        for (int i = 0; i < n; i++) write_floats(af.f, NULL, model->params + t[i].offset, t[i].size);
        rc = atomic_commit(&af, err); /* checks every write above through ferror */
    }
    free(json);
    free(t);
    return rc;
}

/* ========================================================================================== */
/* 21. The official data step on a real model's samples: o1pruner weights                     */
/*     (README "The official data step on your samples")                                      */

/* Between sampling and training, the official o1_scripts/construct_dataset.py (StarDewXXX/
 * O1-Pruner) turns a real model's samples into the weighted training set. This section does the
 * same, bit for bit, on anyone's samples: per problem (K consecutive samples), Python's
 * random.shuffle of its K samples with random.seed(42) set once, the first m kept, each weighted
 *     w = (avg_length - length) / length + alpha (correct - avg_acc)      Eq. 10, in this order
 * (averages over all K), w = -2 if w <= -2, w = 4 if w > 4, then over the whole selected set
 * w = (w - np.mean(ws)) / np.std(ws). The same bits need three things of CPython and numpy:
 * MT19937, shuffle's _randbelow and numpy's pairwise summation. The tokenizer and the math
 * grader stay with the user: each sample brings its token count and whether it is correct. */

/* CPython's random module: MT19937 (Matsumoto and Nishimura), seeded as random.seed(n) seeds
 * it for 0 <= n < 2^32, that is init_by_array with the single word n */
#define MT_N 624
#define MT_M 397
typedef struct { uint32_t state[MT_N]; int next; } Mt19937;

static void mt_seed(Mt19937 *mt, uint32_t seed) {
    uint32_t *s = mt->state;
    s[0] = 19650218u; /* init_genrand(19650218) */
    for (int i = 1; i < MT_N; i++) s[i] = 1812433253u * (s[i - 1] ^ (s[i - 1] >> 30)) + (uint32_t)i;
    int i = 1;
    for (int k = MT_N; k > 0; k--) { /* init_by_array, key length 1 */
        s[i] = (s[i] ^ ((s[i - 1] ^ (s[i - 1] >> 30)) * 1664525u)) + seed;
        if (++i >= MT_N) { s[0] = s[MT_N - 1]; i = 1; }
    }
    for (int k = MT_N - 1; k > 0; k--) {
        s[i] = (s[i] ^ ((s[i - 1] ^ (s[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        if (++i >= MT_N) { s[0] = s[MT_N - 1]; i = 1; }
    }
    s[0] = 0x80000000u;
    mt->next = MT_N;
}

/* the next 32-bit output: the state regenerated every 624 outputs, then tempered */
static uint32_t mt_next(Mt19937 *mt) {
    uint32_t *s = mt->state, y;
    if (mt->next >= MT_N) {
        for (int k = 0; k < MT_N; k++) {
            y = (s[k] & 0x80000000u) | (s[(k + 1) % MT_N] & 0x7fffffffu);
            s[k] = s[(k + MT_M) % MT_N] ^ (y >> 1) ^ (y & 1u ? 0x9908b0dfu : 0u);
        }
        mt->next = 0;
    }
    y = s[mt->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
}

/* random.random(): 53 random bits from two outputs */
static double py_random(Mt19937 *mt) {
    uint32_t a = mt_next(mt) >> 5, b = mt_next(mt) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

/* random._randbelow(n), 1 <= n <= 2^31: getrandbits(n.bit_length()) until it is below n */
static uint32_t py_randbelow(Mt19937 *mt, uint32_t n) {
    int k = 0;
    while (k < 32 && (n >> k) != 0) k++;
    uint32_t r;
    do r = mt_next(mt) >> (32 - k); while (r >= n);
    return r;
}

/* random.shuffle(x): for i from n-1 down to 1, swap x[i] with x[_randbelow(i + 1)] */
static void py_shuffle(Mt19937 *mt, int *x, int n) {
    for (int i = n - 1; i >= 1; i--) {
        int j = (int)py_randbelow(mt, (uint32_t)i + 1), t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

/* numpy's pairwise summation of n doubles (pairwise_sum in loops_utils.h): below 8 a plain
 * loop, up to 128 eight interleaved partial sums, above that the two halves (cut at a multiple
 * of 8) summed separately */
static double numpy_pairwise(const double *a, size_t n) {
    if (n < 8) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) s += a[i];
        return s;
    }
    if (n <= 128) {
        double r[8];
        size_t i;
        for (int j = 0; j < 8; j++) r[j] = a[j];
        for (i = 8; i < n - n % 8; i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) s += a[i];
        return s;
    }
    size_t half = n / 2;
    half -= half % 8;
    return numpy_pairwise(a, half) + numpy_pairwise(a + half, n - half);
}

/* np.add.reduce as np.mean and np.std call it: a reduction runs through numpy's iterator
 * buffer, 8192 elements (np.getbufsize()), so the pairwise sums of its blocks are added left
 * to right (measured with numpy 1.24: every n up to 8192 is one block) */
#define NUMPY_BUFSIZE 8192
static double numpy_sum(const double *a, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i += NUMPY_BUFSIZE)
        s += numpy_pairwise(a + i, n - i < NUMPY_BUFSIZE ? n - i : NUMPY_BUFSIZE);
    return s;
}

/* np.mean(w) and np.std(w) (population: ddof 0), as numpy computes them */
static void numpy_mean_std(const double *w, size_t n, double *mean, double *std) {
    double *square = xmalloc(sizeof(double) * (n ? n : 1), "weights");
    *mean = numpy_sum(w, n) / (double)n;
    for (size_t i = 0; i < n; i++) square[i] = (w[i] - *mean) * (w[i] - *mean);
    *std = sqrt(numpy_sum(square, n) / (double)n);
    free(square);
}

/* One pre-sampled solution of a real model, as the user's file gives it. The strings point into
 * the file's buffer, decoded in place (a JSON string never grows when decoded), and may hold NULs. */
typedef struct {
    const char *problem, *solution;
    size_t problem_len, solution_len;
    int length;  /* tokens, as the user's tokenizer counts them (official: without the end token) */
    int correct; /* 0 or 1, as the user's grader says */
    int line;    /* where the record starts, for messages */
} RealSample;

/* A JSON reader (RFC 8259) over a NUL-terminated buffer: every valid document is accepted
 * (escapes, \u surrogate pairs, any nesting up to JSON_MAX_DEPTH in fields that are ignored),
 * everything else is refused with the line and the reason. Not accepted, though valid JSON:
 * a \u escape of a lone surrogate (no UTF-8 can hold it). */
#define JSON_MAX_DEPTH 512
typedef struct {
    char *at;      /* the next byte to read */
    int line;      /* of `at` */
    int semantic;  /* the error is in a sample's fields, not in the JSON */
    char why[256]; /* the first error */
} Json;

/* records the first error; returns -1 */
static int json_fail(Json *j, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (!j->why[0]) vsnprintf(j->why, sizeof(j->why), fmt, ap);
    va_end(ap);
    return -1;
}

/* the byte at `at`, as it would appear in a message */
static const char *json_shown(const char *at, char *buf) {
    unsigned char c = (unsigned char)*at;
    if (!c) return "the end of the file";
    if (c >= ' ' && c <= '~') snprintf(buf, 8, "'%c'", c);
    else snprintf(buf, 8, "byte %02x", c);
    return buf;
}

static void json_space(Json *j) {
    for (;; j->at++) {
        if (*j->at == '\n') j->line++;
        else if (*j->at != ' ' && *j->at != '\t' && *j->at != '\r') return;
    }
}

/* one UTF-8 character of at most 4 bytes: its length, or 0 if the bytes are not UTF-8
 * (overlong forms, surrogates and code points above U+10FFFF are not) */
static int utf8_decode(const unsigned char *s, uint32_t *cp) {
    int n;
    if (s[0] < 0x80) n = 1;
    else if (s[0] >= 0xc2 && s[0] < 0xe0) n = 2; /* 0xc0 and 0xc1 only start overlong forms */
    else if (s[0] >= 0xe0 && s[0] < 0xf0) n = 3;
    else if (s[0] >= 0xf0 && s[0] < 0xf5) n = 4; /* 0xf5 and up: above U+10FFFF */
    else return 0;
    *cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0; /* also stops at the terminating NUL */
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (*cp < least[n] || (*cp >= 0xd800 && *cp < 0xe000) || *cp > 0x10ffff) return 0;
    return n;
}

/* a code point as UTF-8 into out; returns the byte count */
static int utf8_encode(uint32_t cp, char *out) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xc0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* the 4 hex digits of a \u escape, `at` on the 'u' */
static int json_hex4(Json *j, uint32_t *u) {
    *u = 0;
    for (int i = 1; i <= 4; i++) {
        char c = j->at[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                               : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return json_fail(j, "a \\u escape needs 4 hex digits");
        *u = *u << 4 | (uint32_t)d;
    }
    j->at += 5;
    return 0;
}

/* the escape at `at` (on the backslash) decoded into out; returns its byte count or -1 */
static int json_escape(Json *j, char *out) {
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *e = j->at[1] ? strchr(from, j->at[1]) : NULL;
    if (e) { j->at += 2; *out = to[e - from]; return 1; }
    if (j->at[1] != 'u') return json_fail(j, "'\\%c' is not a JSON escape", j->at[1] ? j->at[1] : '0');
    uint32_t u, low;
    j->at++;
    if (json_hex4(j, &u)) return -1;
    if (u >= 0xdc00 && u < 0xe000) return json_fail(j, "\\u%04x is a lone low surrogate", (unsigned)u);
    if (u >= 0xd800 && u < 0xdc00) { /* a surrogate pair: \ud83d\ude00 is U+1F600 */
        if (j->at[0] != '\\' || j->at[1] != 'u')
            return json_fail(j, "\\u%04x is a high surrogate without its low half", (unsigned)u);
        j->at++;
        if (json_hex4(j, &low)) return -1;
        if (low < 0xdc00 || low >= 0xe000)
            return json_fail(j, "\\u%04x is a high surrogate without its low half", (unsigned)u);
        u = 0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00);
    }
    return utf8_encode(u, out);
}

/* a string, `at` on its opening quote, decoded in place: *text and *len (NULL: just checked) */
static int json_string(Json *j, const char **text, size_t *len) {
    char *out = ++j->at, *start = out;
    while (*j->at != '"') {
        unsigned char c = (unsigned char)*j->at;
        uint32_t cp;
        int n;
        if (c == 0) return json_fail(j, "a string is not closed");
        if (c < 0x20) return json_fail(j, "a raw control character (byte %02x) in a string; escape it", c);
        if (c == '\\') {
            char utf8[4];
            if ((n = json_escape(j, utf8)) < 0) return -1;
            memcpy(out, utf8, (size_t)n);
        } else {
            if ((n = utf8_decode((const unsigned char *)j->at, &cp)) == 0)
                return json_fail(j, "bytes that are not UTF-8 in a string");
            memmove(out, j->at, (size_t)n);
            j->at += n;
        }
        out += n;
    }
    j->at++;
    if (text) { *text = start; *len = (size_t)(out - start); }
    return 0;
}

/* a number, checked against JSON's grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
 * *integer tells whether it had neither a fraction nor an exponent */
static int json_number(Json *j, const char **start, int *integer) {
    char *p = j->at;
    *start = p;
    if (*p == '-') p++;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (isdigit((unsigned char)*p)) p++;
    else return json_fail(j, "a number needs a digit after its '-'");
    *integer = *p != '.' && *p != 'e' && *p != 'E';
    if (*p == '.') {
        if (!isdigit((unsigned char)*++p)) return json_fail(j, "a number needs a digit after its '.'");
        while (isdigit((unsigned char)*p)) p++;
    }
    if (*p == 'e' || *p == 'E') {
        if (*++p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return json_fail(j, "a number needs a digit in its exponent");
        while (isdigit((unsigned char)*p)) p++;
    }
    j->at = p;
    return 0;
}

/* true, false or null: 1, 0 or -1 in *value */
static int json_literal(Json *j, int *value) {
    static const char *const word[3] = {"null", "false", "true"};
    for (int i = 0; i < 3; i++)
        if (!strncmp(j->at, word[i], strlen(word[i]))) {
            j->at += strlen(word[i]);
            *value = i - 1;
            return 0;
        }
    char b[8];
    return json_fail(j, "expected a JSON value, found %s", json_shown(j->at, b));
}

static int json_skip(Json *j, int depth);

/* the members of an array or an object (`at` on its '[' or '{'), each value skipped */
static int json_skip_container(Json *j, int depth) {
    char close = *j->at == '[' ? ']' : '}', b[8];
    if (depth >= JSON_MAX_DEPTH) return json_fail(j, "nested deeper than %d levels", JSON_MAX_DEPTH);
    j->at++;
    json_space(j);
    if (*j->at == close) { j->at++; return 0; }
    for (;;) {
        if (close == '}') {
            if (*j->at != '"') return json_fail(j, "expected a field name in quotes, found %s",
                                                json_shown(j->at, b));
            if (json_string(j, NULL, NULL)) return -1;
            json_space(j);
            if (*j->at != ':') return json_fail(j, "expected ':' after a field name, found %s",
                                                json_shown(j->at, b));
            j->at++;
        }
        if (json_skip(j, depth + 1)) return -1;
        json_space(j);
        if (*j->at == close) { j->at++; return 0; }
        if (*j->at != ',') return json_fail(j, "expected ',' or '%c', found %s", close, json_shown(j->at, b));
        j->at++;
        json_space(j);
    }
}

/* any one value, checked and skipped */
static int json_skip(Json *j, int depth) {
    const char *start;
    int x;
    json_space(j);
    if (*j->at == '"') return json_string(j, NULL, NULL);
    if (*j->at == '[' || *j->at == '{') return json_skip_container(j, depth);
    if (*j->at == '-' || isdigit((unsigned char)*j->at)) return json_number(j, &start, &x);
    return json_literal(j, &x);
}

/* what each field of a sample must be, and where it comes from */
static const char *const SAMPLE_FIELDS[4] = {"problem", "solution", "length", "correct"};
static const char *const SAMPLE_FIELD_HINTS[4] = {
    "a string: the problem's text (the user message)", "a string: the model's solution",
    ("a whole number from 1 to 999999999: the solution's token count by your tokenizer "
     "(official: len(tokenizer(solution)['input_ids']))"),
    "true, false, 0 or 1: whether your grader accepts the solution (official: the first \\boxed{})"};

/* the value of field f of a sample, `at` on it */
static int json_sample_field(Json *j, RealSample *s, int f) {
    const char *start;
    int integer, literal = 0;
    if (f <= 1) {
        if (*j->at != '"') goto wrong;
        return f == 0 ? json_string(j, &s->problem, &s->problem_len)
                      : json_string(j, &s->solution, &s->solution_len);
    }
    if (*j->at == '-' || isdigit((unsigned char)*j->at)) {
        if (json_number(j, &start, &integer)) return -1;
        size_t len = (size_t)(j->at - start);
        long x = integer && len <= 9 && *start != '-' ? strtol(start, NULL, 10) : -1;
        if (f == 2 && x >= 1) { s->length = (int)x; return 0; }
        if (f == 3 && (x == 0 || x == 1)) { s->correct = (int)x; return 0; }
        goto wrong;
    }
    if (f == 3 && (*j->at == 't' || *j->at == 'f')) {
        if (json_literal(j, &literal)) return -1;
        s->correct = literal;
        return 0;
    }
wrong:
    j->semantic = 1;
    return json_fail(j, "bad value of field \"%s\"; it must be %s", SAMPLE_FIELDS[f], SAMPLE_FIELD_HINTS[f]);
}

/* one sample: an object with the four fields; any other field is checked and skipped */
static int json_sample(Json *j, RealSample *s) {
    char b[8];
    int have[4] = {0, 0, 0, 0};
    memset(s, 0, sizeof(*s));
    s->line = j->line;
    if (*j->at != '{') return json_fail(j, "expected a sample {...}, found %s", json_shown(j->at, b));
    j->at++;
    json_space(j);
    while (*j->at != '}') {
        const char *key;
        size_t key_len;
        int f = -1;
        if (*j->at != '"')
            return json_fail(j, "expected a field name in quotes, found %s", json_shown(j->at, b));
        if (json_string(j, &key, &key_len)) return -1;
        json_space(j);
        if (*j->at != ':')
            return json_fail(j, "expected ':' after a field name, found %s", json_shown(j->at, b));
        j->at++;
        json_space(j);
        for (int i = 0; i < 4; i++)
            if (key_len == strlen(SAMPLE_FIELDS[i]) && !memcmp(key, SAMPLE_FIELDS[i], key_len)) f = i;
        if (f < 0 ? json_skip(j, 1) : json_sample_field(j, s, f)) return -1;
        if (f >= 0) have[f] = 1; /* a field given twice: the last counts, as in Python */
        json_space(j);
        if (*j->at == ',') {
            j->at++;
            json_space(j);
            if (*j->at == '}') return json_fail(j, "a ',' before '}'");
        } else if (*j->at != '}') {
            return json_fail(j, "expected ',' or '}', found %s", json_shown(j->at, b));
        }
    }
    j->at++;
    for (int i = 0; i < 4; i++)
        if (!have[i]) {
            j->semantic = 1;
            return json_fail(j, "field \"%s\" is missing; it must be %s", SAMPLE_FIELDS[i],
                             SAMPLE_FIELD_HINTS[i]);
        }
    return 0;
}

/* the records of a JSON array [{...}, ...] (the official sampler writes one) or of JSON Lines */
static int json_samples(Json *j, RealSample **samples, int *count) {
    int array = *j->at == '[', cap = 0;
    char b[8];
    if (!array && *j->at != '{')
        return json_fail(j,
                         "expected a JSON array of samples [{...}, ...] or JSON Lines (one {...} per line), "
                         "found %s",
                         json_shown(j->at, b));
    if (array) { j->at++; json_space(j); }
    while (array ? *j->at != ']' : *j->at != 0) {
        if (*count == cap) {
            cap = cap ? 2 * cap : 256; /* at most one record per 2 bytes of a file under 2 GiB */
            *samples = realloc(*samples, sizeof(RealSample) * (size_t)cap);
            if (!*samples) {
                fprintf(stderr, "%s: out of memory reading the samples\n", program_name);
                exit(1);
            }
        }
        if (json_sample(j, &(*samples)[*count])) return -1;
        ++*count;
        json_space(j);
        if (!array || *j->at == ']') continue;
        if (*j->at != ',')
            return json_fail(j, "expected ',' or ']' after a sample, found %s", json_shown(j->at, b));
        j->at++;
        json_space(j);
        if (*j->at == ']') return json_fail(j, "a ',' before ']'");
    }
    if (array) { j->at++; json_space(j); }
    if (*j->at) return json_fail(j, "%s after the samples", json_shown(j->at, b));
    return 0;
}

/* A file of a real model's samples, read and checked: JSON, K consecutive samples per problem
 * with the same problem text. *buffer holds the text the samples point into (the caller frees
 * it and *samples). An error names the file, the line and the record, and what to do. */
static int real_samples_read(const char *path, int K, char **buffer, RealSample **samples, int *count,
                             char *err) {
    size_t size;
    Json j = {.line = 1};
    *samples = NULL;
    *count = 0;
    if (read_text_file(path, "give the samples as JSON (README \"The official data step on your samples\")",
                       buffer, &size, err))
        return -1;
    j.at = *buffer;
    if (strlen(*buffer) != size) {
        seterr(err, "%s: contains a NUL byte; JSON text has none: give the samples as UTF-8 JSON text", path);
        goto fail;
    }
    json_space(&j);
    if (json_samples(&j, samples, count)) {
        seterr(err, "%s: line %d, record %d: %s%s", path, j.line, *count + 1, j.why,
               j.semantic ? "" : "; not valid JSON: fix the file there");
        goto fail;
    }
    if (*count == 0 || *count % K != 0) {
        seterr(err, "%s: %d samples, not a positive multiple of --k %d; give K samples of each problem, "
                    "one problem after another", path, *count, K);
        goto fail;
    }
    for (int i = 0; i < *count; i++) {
        const RealSample *s = &(*samples)[i], *first = &(*samples)[i - i % K];
        if (s->problem_len != first->problem_len || memcmp(s->problem, first->problem, s->problem_len)) {
            seterr(err, "%s: line %d, record %d: its problem differs from record %d's, in the same group of "
                        "--k %d; give K samples of each problem, one problem after another",
                   path, s->line, i + 1, i - i % K + 1, K);
            goto fail;
        }
    }
    return 0;
fail:
    free(*buffer);
    free(*samples);
    *buffer = NULL;
    *samples = NULL;
    return -1;
}

/* What the official code computes: for each problem (K samples in a row), the samples in the
 * order random.shuffle leaves them (shuffle 0: as given), the first m kept. selected[i] is the
 * index of the i-th kept sample, raw[i] its clipped weight, weight[i] after the z-score over all
 * S = P m of them. Returns 0, or -1 if every raw weight is the same (std 0: the official code
 * divides by 0 there and writes NaN). */
typedef struct { int k, m, alpha, shuffle; } WeightsConfig;
static int official_weights(const RealSample *s, int n, const WeightsConfig *c, int *selected, double *raw,
                            double *weight, double *mean, double *std) {
    int S = 0, *order = xmalloc(sizeof(int) * (size_t)c->k, "weights");
    Mt19937 mt;
    mt_seed(&mt, 42); /* random.seed(42), once, at the top of construct_dataset.py */
    for (int p = 0; p < n / c->k; p++) {
        const RealSample *g = s + (size_t)p * c->k;
        long long length_sum = 0, correct_sum = 0; /* Python sums ints exactly */
        for (int i = 0; i < c->k; i++) {
            order[i] = i;
            length_sum += g[i].length;
            correct_sum += g[i].correct;
        }
        if (c->shuffle) py_shuffle(&mt, order, c->k);
        double avg_length = (double)length_sum / c->k, avg_acc = (double)correct_sum / c->k; /* Eq. 8-9 */
        for (int i = 0; i < c->m; i++, S++) {
            const RealSample *x = &g[order[i]];
            double w = (avg_length - x->length) / x->length + c->alpha * (x->correct - avg_acc); /* Eq. 10 */
            if (w <= REWARD_CLIP_LO) w = REWARD_CLIP_LO;
            if (w > REWARD_CLIP_HI) w = REWARD_CLIP_HI;
            selected[S] = p * c->k + order[i];
            raw[S] = w;
        }
    }
    free(order);
    numpy_mean_std(raw, (size_t)S, mean, std);
    if (!(*std > 0)) return -1;
    for (int i = 0; i < S; i++) weight[i] = (raw[i] - *mean) / *std;
    return 0;
}

/* a string as Python's json.dump writes it (ensure_ascii): printable ASCII as is, the short
 * escapes, every other character as \uxxxx (lower-case hex; a surrogate pair above U+FFFF) */
static void json_put_string(FILE *f, const char *s, size_t n) {
    static const char short_escapes[] = "\"\\\b\f\n\r\t";
    fputc('"', f);
    for (size_t i = 0; i < n;) {
        uint32_t cp = (unsigned char)s[i];
        int len = cp < 0x80 ? 1 : utf8_decode((const unsigned char *)s + i, &cp); /* checked on reading */
        i += (size_t)(len > 0 ? len : 1);
        const char *e = cp && cp < 0x80 ? strchr(short_escapes, (int)cp) : NULL;
        if (e) fprintf(f, "\\%c", "\"\\bfnrt"[e - short_escapes]);
        else if (cp >= ' ' && cp <= '~') fputc((int)cp, f);
        else if (cp < 0x10000) fprintf(f, "\\u%04x", (unsigned)cp);
        else fprintf(f, "\\u%04x\\u%04x", (unsigned)(0xd800 + ((cp - 0x10000) >> 10)),
                     (unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
    }
    fputc('"', f);
}

/* a double as Python's repr writes it (json.dump does too): the fewest significant digits that
 * read back to the same double, positional from 1e-4 up to 1e16 ("0.0001", "-2.0"), else
 * "1.5e-05", "1e+16" */
static void json_put_double(FILE *f, double x) {
    char text[40], digits[20];
    int p, exponent, n = 0;
    for (p = 1; p < 17; p++) { /* 17 significant digits always read back */
        snprintf(text, sizeof(text), "%.*e", p - 1, x);
        if (strtod(text, NULL) == x) break;
    }
    snprintf(text, sizeof(text), "%.*e", p - 1, x);
    char *t = text + (text[0] == '-');
    for (; *t != 'e'; t++) if (*t != '.') digits[n++] = *t;
    exponent = atoi(t + 1);
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = 0;
    if (text[0] == '-') fputc('-', f);
    int point = exponent + 1; /* the digits are 0.d1d2... times 10^point */
    if (point <= -4 || point > 16) {
        fprintf(f, "%c%s%s", digits[0], n > 1 ? "." : "", digits + 1);
        fprintf(f, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    } else if (point <= 0) {
        fputs("0.", f);
        for (int i = point; i < 0; i++) fputc('0', f);
        fputs(digits, f);
    } else if (point >= n) {
        fputs(digits, f);
        for (int i = n; i < point; i++) fputc('0', f);
        fputs(".0", f);
    } else {
        fprintf(f, "%.*s.%s", point, digits, digits + point);
    }
}

/* the weighted set as construct_dataset.py writes it for LLaMA-Factory's weighted stage: the
 * same text as its json.dump, a JSON array of {"messages": [system, user, assistant], "weight"} */
#define OFFICIAL_SYSTEM_PROMPT \
    "You are a helpful assistant. You should think step-by-step and put your final answer within \\boxed{}."
static int write_weighted_set(const char *path, const RealSample *s, const int *selected,
                              const double *weight, int S, char *err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    fputc('[', af.f);
    for (int i = 0; i < S; i++) {
        const RealSample *x = &s[selected[i]];
        fprintf(af.f, "%s{\"messages\": [{\"role\": \"system\", \"content\": ", i ? ", " : "");
        json_put_string(af.f, OFFICIAL_SYSTEM_PROMPT, strlen(OFFICIAL_SYSTEM_PROMPT));
        fprintf(af.f, "}, {\"role\": \"user\", \"content\": ");
        json_put_string(af.f, x->problem, x->problem_len);
        fprintf(af.f, "}, {\"role\": \"assistant\", \"content\": ");
        json_put_string(af.f, x->solution, x->solution_len);
        fprintf(af.f, "}], \"weight\": ");
        json_put_double(af.f, weight[i]);
        fputc('}', af.f);
    }
    fputc(']', af.f);
    return atomic_commit(&af, err);
}

/* o1pruner weights: the samples read, weighted and written, with a summary to `report` */
static int weights_run(const char *samples_path, const char *out, const WeightsConfig *c, FILE *report,
                       char *err) {
    char *text;
    RealSample *s;
    int n, rc = -1;
    if (real_samples_read(samples_path, c->k, &text, &s, &n, err)) return -1;
    int S = n / c->k * c->m, *selected = xmalloc(sizeof(int) * (size_t)S, "weights");
    double *raw = xmalloc(sizeof(double) * (size_t)S, "weights"),
           *w = xmalloc(sizeof(double) * (size_t)S, "weights");
    double mean, std;
    if (official_weights(s, n, c, selected, raw, w, &mean, &std)) {
        seterr(err, "%s: all %d kept samples have the same weight %.17g, so np.std is 0 (the official code "
                    "writes NaN weights); check the lengths and correctness", samples_path, S, raw[0]);
    } else if (write_weighted_set(out, s, selected, w, S, err) == 0) {
        int low = 0, high = 0;
        for (int i = 0; i < S; i++) { low += raw[i] == REWARD_CLIP_LO; high += raw[i] == REWARD_CLIP_HI; }
        fprintf(report, "%d problems x K = %d samples from %s; kept %d per problem (%s): %d samples\n",
                n / c->k, c->k, samples_path, c->m,
                c->shuffle ? "Python's shuffle, seed 42" : "the first, as given", S);
        fprintf(report,
                "weights before the z-score: mean %.6g, std %.6g (numpy); clipped to -2: %d, to 4: %d\n",
                mean, std, low, high);
        fprintf(report, "wrote %s\n", out);
        rc = 0;
    }
    free(selected); free(raw); free(w); free(s); free(text);
    return rc;
}

/* ========================================================================================== */
/* 22. The command line: o1pruner <command> [flags]. Exit 0 success, 1 bad input or failure,  */
/*     2 bad usage. Progress goes to stderr, results to stdout and files.                     */
#ifndef O1P_NO_MAIN

static void on_signal(int sig) { (void)sig; stop_requested = 1; }

/* Each command describes its flags in a table: name, type, where the value goes, the accepted
 * range and a help line. One parser checks every value against it, and --help is printed from it,
 * so the help text, the defaults and the checks cannot drift apart. */
typedef enum { FLAG_INT, FLAG_FLOAT, FLAG_STR, FLAG_BOOL, FLAG_U64 } FlagType;
typedef struct {
    const char *name; /* without the leading -- */
    FlagType type;
    void *value;      /* int*, float*, const char**, int*, uint64_t* */
    double min, max;  /* accepted range of numbers */
    const char *help;
} Flag;

typedef struct { const char *name, *args, *summary; } CommandHelp;

/* a command's --help: usage, what it does, every flag with its default */
static void print_help(FILE *out, const CommandHelp *h, const Flag *flags, int n) {
    fprintf(out, "usage: o1pruner %s %s\n\n%s\n\nflags:\n", h->name, h->args, h->summary);
    for (int i = 0; i < n; i++) {
        const Flag *f = &flags[i];
        char left[64], def[96] = "";
        snprintf(left, sizeof(left), "--%s%s", f->name,
                 f->type == FLAG_BOOL    ? ""
                 : f->type == FLAG_STR   ? " S"
                 : f->type == FLAG_FLOAT ? " X"
                                         : " N");
        switch (f->type) {
        case FLAG_INT: snprintf(def, sizeof(def), " (default %d)", *(int *)f->value); break;
        case FLAG_FLOAT: snprintf(def, sizeof(def), " (default %g)", *(float *)f->value); break;
        case FLAG_U64:
            snprintf(def, sizeof(def), " (default %llu)", (unsigned long long)*(uint64_t *)f->value);
            break;
        case FLAG_STR:
            if (*(const char **)f->value)
                snprintf(def, sizeof(def), " (default %s)", *(const char **)f->value);
            break;
        case FLAG_BOOL: break;
        }
        fprintf(out, "  %-18s %s%s\n", left, f->help, def);
    }
    fprintf(out, "  %-18s %s\n", "--help", "this text");
}

/* bad usage: one line saying what is wrong and where the help is; exit status 2 */
static void usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s %s: ", program_name, cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "; see 'o1pruner %s --help'\n", cmd);
    va_end(ap);
    exit(2);
}

/* parse argv[2..] against the table: --name value or --name=value; every value checked */
static void parse_flags(const CommandHelp *h, Flag *flags, int n, int argc, char **argv) {
    for (int a = 2; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) { print_help(stdout, h, flags, n); exit(0); }
        if (strncmp(arg, "--", 2) != 0) usage_error(h->name, "unexpected argument '%s'", arg);
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        Flag *f = NULL;
        for (int i = 0; i < n; i++)
            if (strlen(flags[i].name) == len && !strncmp(flags[i].name, arg + 2, len)) f = &flags[i];
        if (!f) usage_error(h->name, "unknown flag '%.*s'", (int)len + 2, arg);
        if (f->type == FLAG_BOOL) {
            if (eq) usage_error(h->name, "--%s takes no value", f->name);
            *(int *)f->value = 1;
            continue;
        }
        const char *val = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!val || !*val) usage_error(h->name, "--%s needs a value", f->name);
        if (f->type == FLAG_STR) { *(const char **)f->value = val; continue; }
        char *end;
        errno = 0;
        double x;
        if (f->type == FLAG_FLOAT) x = strtod(val, &end);
        else if (f->type == FLAG_U64)
            x = val[0] == '-' ? (end = (char *)val, 0.0) : (double)strtoull(val, &end, 10);
        else x = (double)strtoll(val, &end, 10);
        if (*end || errno || !isfinite(x))
            usage_error(h->name, "--%s '%s' is not a %s", f->name, val,
                        f->type == FLAG_FLOAT ? "number" : "whole number");
        if (f->type != FLAG_U64 && (x < f->min || x > f->max)) /* a seed may be any 64-bit value */
            usage_error(h->name, "--%s %s is outside [%g, %g]", f->name, val, f->min, f->max);
        if (f->type == FLAG_INT) *(int *)f->value = (int)x;
        else if (f->type == FLAG_FLOAT) *(float *)f->value = (float)x;
        else *(uint64_t *)f->value = strtoull(val, NULL, 10);
    }
}

/* a failure's message on stderr; exit status 1 */
static int fail(const char *err) {
    fprintf(stderr, "%s: %s\n", program_name, err);
    return 1;
}

#define NFLAGS(f) ((int)(sizeof(f) / sizeof((f)[0])))

/* the exit status of a stage: 0, 1 after an error, 130 after a clean stop on Ctrl-C (the shell's
 * code for SIGINT, so scripts see the interruption) */
static int stage_status(int rc, const char *err) {
    if (rc == -2) { fprintf(stderr, "%s\n", err); return 130; }
    return rc ? fail(err) : 0;
}

/* a whole text file, atomically */
static int write_text_file(const char *path, const char *text, size_t len, char *err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    if (fwrite(text, 1, len, af.f) != len) {
        seterr(err, "%s: write failed (%s); is the disk full?", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err);
}

#ifdef _WIN32
static int make_dir(const char *dir) { return _mkdir(dir); }
#else
static int make_dir(const char *dir) { return mkdir(dir, 0777); }
#endif

/* the directory exists (created if needed) and is a directory */
static int ensure_dir(const char *dir, char *err) {
    if (make_dir(dir) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
        seterr(err, "%s: exists and is not a directory", dir);
        return -1;
    }
    seterr(err, "%s: cannot create directory (%s)", dir, strerror(errno));
    return -1;
}


/* o1pruner data: the task's four splits as text files (make data; the tests check data/ matches) */
static int cmd_data(int argc, char **argv) {
    const char *out = "data";
    uint64_t seed = TASK_SEED;
    Flag flags[] = {{"out", FLAG_STR, &out, 0, 0, "directory to write train/valid/test/prune.txt into"},
                    {"seed", FLAG_U64, &seed, 0, 0, "task seed"}};
    CommandHelp h = {"data", "[--out DIR]", "Write the task's data splits (README \"Data\") as plain text."};
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    char err[O1P_ERR_LEN], path[4096];
    if (ensure_dir(out, err)) return fail(err);
    for (int i = 0; i < 4; i++) {
        int lines;
        char *text = split_text(split_names[i], seed, &lines);
        snprintf(path, sizeof(path), "%s/%s.txt", out, split_names[i]);
        int rc = write_text_file(path, text, strlen(text), err);
        free(text);
        if (rc) return fail(err);
        printf("wrote %s (%d lines)\n", path, lines);
    }
    return 0;
}

/* o1pruner sft: stage 1, the reference model (make reference) */
static int cmd_sft(int argc, char **argv) {
    SftConfig c;
    sft_defaults(&c);
    int threads = 0;
    Flag flags[] = {
        {"data", FLAG_STR, &c.data_dir, 0, 0, "directory with train.txt and valid.txt"},
        {"out", FLAG_STR, &c.out, 0, 0, "checkpoint to write (OUT.resume holds the state while training)"},
        {"steps", FLAG_INT, &c.steps, 1, 1e8, "optimizer steps"},
        {"batch", FLAG_INT, &c.batch, 1, 4096, "sequences per step"},
        {"lr", FLAG_FLOAT, &c.lr, 0, 1, "peak learning rate"},
        {"lr-min", FLAG_FLOAT, &c.lr_min, 0, 1, "final learning rate of the cosine"},
        {"warmup", FLAG_INT, &c.warmup, 0, 1e8, "linear warmup steps"},
        {"weight-decay", FLAG_FLOAT, &c.weight_decay, 0, 10, "AdamW decoupled weight decay"},
        {"grad-clip", FLAG_FLOAT, &c.grad_clip, 0, 1e9, "max global gradient norm (0: off)"},
        {"layers", FLAG_INT, &c.model.n_layer, 1, 64, "transformer blocks"},
        {"heads", FLAG_INT, &c.model.n_head, 1, 64, "attention heads"},
        {"embd", FLAG_INT, &c.model.n_embd, 8, 4096, "width"},
        {"context", FLAG_INT, &c.model.block_size, MAX_PROMPT + 16, 4096, "context length"},
        {"seed", FLAG_U64, &c.seed, 0, 0, "seed of the initial weights, batch order and validation"},
        {"log-every", FLAG_INT, &c.log_every, 1, 1e8, "steps between progress lines"},
        {"eval-every", FLAG_INT, &c.eval_every, 0, 1e8, "steps between validations (0: never)"},
        {"save-every", FLAG_INT, &c.save_every, 0, 1e8, "steps between resumable saves (0: only on Ctrl-C)"},
        {"threads", FLAG_INT, &threads, 0, 1024, "threads (0: OpenMP's default)"},
        {"quiet", FLAG_BOOL, &c.quiet, 0, 0, "no progress output"},
    };
    CommandHelp h = {"sft", "[flags]",
                     "Train the long-thought reference model from scratch on the teacher's traces\n"
                     "(loss on the response tokens). Resumes from OUT.resume if it exists."};
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    if (c.model.n_embd % c.model.n_head)
        usage_error("sft", "--heads %d does not divide --embd %d", c.model.n_head, c.model.n_embd);
    if (c.warmup > c.steps) usage_error("sft", "--warmup %d is longer than --steps %d", c.warmup, c.steps);
    set_threads(threads);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    char err[O1P_ERR_LEN];
    return stage_status(run_sft(&c, err), err);
}

/* o1pruner eval: a model (and a baseline) on the test split, the table and optionally the JSON */
static int cmd_eval(int argc, char **argv) {
    const char *model_path = "out/pruned.bin", *baseline = NULL, *data = "data", *json = NULL;
    int samples = 4, threads = 0, max_new = 160, quiet = 0;
    float top_p = 1.0f, temperature = 1.0f;
    uint64_t seed = 1;
    Flag flags[] = {
            {"model", FLAG_STR, &model_path, 0, 0, "checkpoint to evaluate"},
            {"baseline", FLAG_STR, &baseline, 0, 0,
             "checkpoint to compare with (AES baseline), e.g. data/reference.bin"},
            {"data", FLAG_STR, &data, 0, 0, "directory with test.txt"},
            {"json", FLAG_STR, &json, 0, 0, "also write the results to this JSON file"},
            {"samples", FLAG_INT, &samples, 0, 1000, "sampled responses per problem (0: greedy only)"},
            {"temperature", FLAG_FLOAT, &temperature, 0.01, 100, "temperature of the sampled evaluation"},
            {"top-p", FLAG_FLOAT, &top_p, 0.01, 1, "nucleus sampling mass (1: off)"},
            {"max-new", FLAG_INT, &max_new, 1, 4096, "generation cap in tokens"},
            {"seed", FLAG_U64, &seed, 0, 0, "sampling seed"},
            {"threads", FLAG_INT, &threads, 0, 1024, "threads (0: OpenMP's default)"},
            {"quiet", FLAG_BOOL, &quiet, 0, 0, "no progress output"},
    };
    CommandHelp h = {"eval", "[--model FILE] [--baseline FILE]",
                     "Accuracy and mean response length on the test split, per difficulty: greedy decoding,\n"
                     "and sampling several responses per problem. With --baseline, both models and the AES."};
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    set_threads(threads);
    char err[O1P_ERR_LEN];
    EvalResult r[2];
    const char *paths[2] = {baseline ? baseline : model_path, model_path};
    const char *names[2] = {baseline ? "baseline" : "model", "model"};
    int count = baseline ? 2 : 1;
    Dataset test;
    double t0 = now_seconds();
    if (evaluate_models(paths, names, count, data, samples, temperature, top_p, max_new, seed, quiet, r,
                        &test, err))
        return fail(err);
    printf("%d test problems; %s %s%s%s\n", test.count, count == 2 ? "baseline" : "model", paths[0],
           count == 2 ? ", model " : "", count == 2 ? paths[1] : "");
    print_comparison(stdout, r, count);
    const char *keys[2] = {"reference", "pruned"};
    int rc = json ? write_report(json, r, count, keys, NULL, NULL, 0, err) : 0;
    fflush(stdout);
    if (!quiet) fprintf(stderr, "eval: %.1f s\n", now_seconds() - t0);
    dataset_free(&test);
    return rc ? fail(err) : 0;
}

/* o1pruner sample: a model's responses to see with one's own eyes, with lengths and grades */
static int cmd_sample(int argc, char **argv) {
    const char *model_path = "data/reference.bin", *data = "data", *prompt = NULL;
    int count = 6, max_new = 160, threads = 0;
    float temperature = 1.0f, top_p = 1.0f;
    uint64_t seed = 1;
    Flag flags[] = {
        {"model", FLAG_STR, &model_path, 0, 0, "checkpoint to sample from"},
        {"data", FLAG_STR, &data, 0, 0, "directory with test.txt (problems to show)"},
        {"prompt", FLAG_STR, &prompt, 0, 0, "a problem of your own, like 3+5+2+7="},
        {"count", FLAG_INT, &count, 1, 1000, "problems (or samples of --prompt) to show"},
        {"temperature", FLAG_FLOAT, &temperature, 0, 100, "0: greedy"},
        {"top-p", FLAG_FLOAT, &top_p, 0.01, 1, "nucleus sampling mass (1: off)"},
        {"max-new", FLAG_INT, &max_new, 1, 4096, "generation cap in tokens"},
        {"seed", FLAG_U64, &seed, 0, 0, "sampling seed"},
        {"threads", FLAG_INT, &threads, 0, 1024, "threads (0: OpenMP's default)"},
    };
    CommandHelp h = {"sample", "[--model FILE] [--prompt 3+5+2+7=]",
                     "Show responses with their length, the minimal length, and whether they are right."};
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    set_threads(threads);
    char err[O1P_ERR_LEN];
    Problem own;
    if (prompt && parse_prompt(prompt, (int)strlen(prompt), &own, err))
        usage_error("sample", "--prompt '%s': %s", prompt, err);
    Problem *problems = xcalloc((size_t)count, sizeof(Problem), "problems");
    int n = count, k = 1;
    if (prompt) {
        problems[0] = own;
        n = 1;
        k = count;
    }
    GPT model;
    if (load_task_model(&model, model_path, err)) { free(problems); return fail(err); }
    if (!prompt) { /* spread over the test split: every difficulty shows up */
        Dataset test;
        if (dataset_load_split(&test, data, "test", model.config.block_size, err)) {
            free(problems);
            gpt_free(&model);
            return fail(err);
        }
        for (int i = 0; i < n; i++) problems[i] = test.ex[(size_t)i * (size_t)test.count / (size_t)n].problem;
        dataset_free(&test);
    }
    SampleConfig sc = {.temperature = temperature, .top_p = top_p, .max_new = max_new, .seed = seed};
    Response *r = xcalloc((size_t)n * k, sizeof(Response), "responses");
    char *arena = xmalloc((size_t)n * k * (size_t)(max_new + 1), "responses");
    generate(&model, problems, NULL, n, k, &sc, r, arena);
    for (int i = 0; i < n * k; i++) {
        char p[MAX_PROMPT + 1];
        prompt_text(&problems[i / k], p);
        printf("%s%s\n    %s, length %d, minimal %d\n", p, r[i].text, r[i].correct ? "correct" : "WRONG",
               r[i].length, minimal_length(problems[i / k].n));
    }
    free(r); free(arena); free(problems);
    gpt_free(&model);
    return 0;
}

/* K = 16 samples at temperature 1 without top-p: the samples come from the very distribution
 * whose log-probs the ratio of Eq. 11 uses (the official runs sampled at 0.5 / top-p 0.8) */
static void presample_defaults(PresampleConfig *c) {
    PresampleConfig d = {.ref = "data/reference.bin", .data_dir = "data", .out = "out/presampled.txt",
                         .k = 16, .max_new = 160, .limit = 0, .save_every = 512, .temperature = 1.0f,
                         .top_p = 1.0f, .seed = 1};
    *c = d;
}

/* the directory that will hold an output file must exist */
static int ensure_parent_dir(const char *path, char *err) {
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = 0;
    return ensure_dir(dir, err);
}

/* o1pruner presample: stage 2 */
static int cmd_presample(int argc, char **argv) {
    PresampleConfig c;
    presample_defaults(&c);
    int threads = 0;
    Flag flags[] = {
            {"ref", FLAG_STR, &c.ref, 0, 0, "the reference model pi_ref"},
            {"data", FLAG_STR, &c.data_dir, 0, 0, "directory with prune.txt (the training problems)"},
            {"out", FLAG_STR, &c.out, 0, 0,
             "the pre-sampled set to write (OUT.stats: L_ref, A_ref per problem)"},
            {"k", FLAG_INT, &c.k, 1, 1024, "samples per problem (K)"},
            {"temperature", FLAG_FLOAT, &c.temperature, 0, 100, "sampling temperature (0: greedy)"},
            {"top-p", FLAG_FLOAT, &c.top_p, 0.01, 1,
             "nucleus sampling mass (1: off; the official code used 0.8)"},
            {"max-new", FLAG_INT, &c.max_new, 1, 4096,
             "generation cap: a sample cut off here is wrong and has L = cap"},
            {"problems", FLAG_INT, &c.limit, 0, 1e8, "use only the first N problems of prune.txt (0: all)"},
            {"save-every", FLAG_INT, &c.save_every, 0, 1e8,
             "problems between resumable saves to OUT.partial (0: only on Ctrl-C)"},
            {"seed", FLAG_U64, &c.seed, 0, 0, "sampling seed"},
            {"threads", FLAG_INT, &threads, 0, 1024, "threads (0: OpenMP's default)"},
            {"quiet", FLAG_BOOL, &c.quiet, 0, 0, "no progress output"},
    };
    CommandHelp h = {"presample", "[--ref FILE] [--out FILE]",
                     "Pre-sample K solutions per training problem from the frozen reference model (paper\n"
                     "Alg. 1): each sample's length L and correctness A; per problem L_ref and A_ref."};
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    set_threads(threads);
    char err[O1P_ERR_LEN];
    if (ensure_parent_dir(c.out, err)) return fail(err);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return stage_status(run_presample(&c, err), err);
}

/* the flags of the method, shared by prune, run and compare */
static void add_prune_flags(Flag *f, int *n, PruneConfig *c, int *paper_advantage, int *paper_ratio) {
    Flag list[] = {
            {"m", FLAG_INT, &c->m, 1, 1024, "samples per problem to train on (the official code: 2)"},
            {"lambda", FLAG_FLOAT, &c->lambda, 0, 1000, "weight of the accuracy term of the reward"},
            {"epochs", FLAG_INT, &c->epochs, 1, 1000, "passes over the training samples"},
            {"batch", FLAG_INT, &c->batch, 1, 4096, "sequences per step"},
            {"lr", FLAG_FLOAT, &c->lr, 0, 1, "peak learning rate"},
            {"clip", FLAG_FLOAT, &c->clip_eps, 0, 10, "PPO clip range epsilon"},
            {"warmup", FLAG_FLOAT, &c->warmup_frac, 0, 1, "warmup, as a fraction of the steps"},
            {"weight-decay", FLAG_FLOAT, &c->weight_decay, 0, 10, "AdamW decoupled weight decay"},
            {"grad-clip", FLAG_FLOAT, &c->grad_clip, 0, 1e9, "max global gradient norm (0: off)"},
            {"save-every", FLAG_INT, &c->save_every, 0, 1e8,
             "steps between resumable saves to OUT.resume (0: only on Ctrl-C)"},
            {"curve-problems", FLAG_INT, &c->curve_problems, 0, 1e6,
             "valid problems decoded at each point of OUT.curve (0: none)"},
            {"paper-advantage", FLAG_BOOL, paper_advantage, 0, 0,
             "advantage = the raw reward (paper) instead of clip + z-score (official)"},
            {"paper-ratio", FLAG_BOOL, paper_ratio, 0, 0,
             "whole-sequence ratio (paper) instead of mean token log-prob (official)"},
            {"correct-only", FLAG_BOOL, &c->correct_only, 0, 0,
             "extension: train only on correct samples (not in the paper)"},
    };
    memcpy(f + *n, list, sizeof(list));
    *n += NFLAGS(list);
}

/* --method NAME: O1-Pruner or one of the paper's baselines */
static int parse_method(const char *name, Method *method) {
    for (int i = 0; i < (int)(sizeof(METHOD_NAMES) / sizeof(METHOD_NAMES[0])); i++)
        if (!strcmp(name, METHOD_NAMES[i])) { *method = (Method)i; return 0; }
    return -1;
}

/* o1pruner prune: stage 3, O1-Pruner or a baseline of the paper */
static int cmd_prune(int argc, char **argv) {
    PruneConfig c;
    prune_defaults(&c);
    const char *method = METHOD_NAMES[METHOD_O1_PRUNER];
    int threads = 0, paper_advantage = 0, paper_ratio = 0, n = 0;
    Flag flags[32];
    Flag own[] = {
            {"ref", FLAG_STR, &c.ref, 0, 0, "the reference model pi_ref (also the starting point)"},
            {"presampled", FLAG_STR, &c.presampled, 0, 0, "the pre-sampled set"},
            {"out", FLAG_STR, &c.out, 0, 0, "the pruned model to write"},
            {"data", FLAG_STR, &c.data_dir, 0, 0,
             "directory with valid.txt (the training curve's greedy length and accuracy)"},
            {"method", FLAG_STR, &method, 0, 0, "o1-pruner, or a baseline of the paper: sft-shortest or dpo"},
            {"beta", FLAG_FLOAT, &c.beta, 1e-6, 1000, "DPO: inverse temperature of the implicit reward"},
            {"seed", FLAG_U64, &c.seed, 0, 0, "seed of the sample selection and batch order"},
            {"threads", FLAG_INT, &threads, 0, 1024, "threads (0: OpenMP's default)"},
            {"quiet", FLAG_BOOL, &c.quiet, 0, 0, "no progress output"},
    };
    memcpy(flags, own, sizeof(own));
    n = NFLAGS(own);
    add_prune_flags(flags, &n, &c, &paper_advantage, &paper_ratio);
    CommandHelp h = {
            "prune", "[--ref FILE] [--presampled FILE] [--out FILE]",
            "Length-harmonizing fine-tuning (paper Eq. 10-11): reward m pre-sampled solutions per problem\n"
            "with L_ref/L - 1 + lambda(A - A_ref) and minimise the off-policy PPO-clip loss. --method\n"
            "sft-shortest / dpo train the paper's baselines on the same set instead."};
    parse_flags(&h, flags, n, argc, argv);
    c.advantage = paper_advantage ? ADVANTAGE_PAPER : ADVANTAGE_OFFICIAL;
    c.ratio = paper_ratio ? RATIO_SUM : RATIO_MEAN;
    if (parse_method(method, &c.method))
        usage_error("prune", "--method '%s' is not o1-pruner, sft-shortest or dpo", method);
    if (c.method == METHOD_DPO && c.batch % 2)
        usage_error("prune", "--batch %d: DPO needs an even batch (2 sequences a pair)", c.batch);
    set_threads(threads);
    char err[O1P_ERR_LEN];
    if (ensure_parent_dir(c.out, err)) return fail(err);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return stage_status(run_prune(&c, err), err);
}

/* does an existing pre-sampled set come from this model with these settings? */
static int presampled_matches(const char *path, const PresampleConfig *c, uint32_t crc, int problems) {
    PresampledSet ps;
    char err[O1P_ERR_LEN];
    if (presampled_read(&ps, path, err)) return 0;
    PresampledSet want = {.params_crc = crc, .k = c->k, .max_new = c->max_new, .temperature = c->temperature,
                          .top_p = c->top_p, .seed = c->seed};
    int same = same_sampling(&ps, &want) && ps.problems == problems;
    presampled_free(&ps);
    return same;
}

/* is the file's whole content exactly `text`? (a missing file: no) */
static int file_has_text(const char *path, const char *text) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return strcmp(buf, text) == 0;
}

/* stage 3 of run and compare: train a model on the pre-sampled set unless `out` holds one made
 * with the same settings (recorded beside it in OUT.settings) from the same set */
static int train_stage(PruneConfig *pc, const char *out, uint32_t presampled_crc, int redo, int quiet,
                       const char *what, char *err) {
    char settings[600], settings_path[4300];
    pc->out = out;
    prune_settings(settings, sizeof(settings), pc);
    snprintf(settings + strlen(settings), sizeof(settings) - strlen(settings), "presampled %08x\n",
             presampled_crc);
    snprintf(settings_path, sizeof(settings_path), "%s.settings", out);
    if (!redo && access(out, F_OK) == 0 && file_has_text(settings_path, settings)) {
        if (!quiet)
            fprintf(stderr, "reusing %s, trained with the same settings (--redo to train again)\n", out);
        return 0;
    }
    if (!quiet) fprintf(stderr, "training %s: %s\n", out, what);
    int rc = run_prune(pc, err);
    if (rc == 0)
        rc = write_text_file(settings_path, settings, strlen(settings),
                             err); /* after the model: a crash retrains */
    return rc;
}

/* The paper's Table 3 in miniature: O1-Pruner with each lambda, against the reference */
static void print_ablation(FILE *out, const EvalResult *reference, const EvalResult *const *pruned,
                           const float *lambda, int count) {
    fprintf(out, "O1-Pruner's lambda (paper Table 3): accuracy (%%), mean length (tokens), AES against the "
                 "reference\n");
    fprintf(out, "%-10s %23s", "", "greedy");
    if (reference->samples > 0) fprintf(out, " %23s", "sampled");
    fprintf(out, "\n");
    for (int i = 0; i < count; i++) {
        fprintf(out, "lambda %-3g", lambda[i]);
        for (int mode = 0; mode < (reference->samples > 0 ? 2 : 1); mode++) {
            const Tally *b = mode == 0 ? &reference->greedy.all : &reference->sampled.all;
            const Tally *t = mode == 0 ? &pruned[i]->greedy.all : &pruned[i]->sampled.all;
            fprintf(out, "  %6.1f %6.1f %+8.2f", 100 * accuracy(t), mean_length(t),
                    accuracy_efficiency_score(mean_length(b), mean_length(t), accuracy(b), accuracy(t)));
        }
        fprintf(out, "\n");
    }
}

/* run and compare: the settings of the whole pipeline */
typedef struct {
    const char *out, *data, *svg;
    int threads, redo, samples, quiet, compare;
    uint64_t seed;
    PresampleConfig pre;
    PruneConfig prune;
    float sft_lr, dpo_lr, dpo_beta;  /* compare's baselines */
} Pipeline;

/* run's and compare's flags: the pipeline's own, the method's, and compare's baselines */
static void pipeline_flags(Pipeline *pl, int argc, char **argv) {
    int paper_advantage = 0, paper_ratio = 0, n = 0;
    Flag flags[48];
    Flag own[] = {
            {"out", FLAG_STR, &pl->out, 0, 0, "directory for everything the run writes"},
            {"ref", FLAG_STR, &pl->pre.ref, 0, 0, "the reference model (make reference retrains it)"},
            {"data", FLAG_STR, &pl->data, 0, 0, "directory with prune.txt and test.txt"},
            {"k", FLAG_INT, &pl->pre.k, 1, 1024, "pre-sampled solutions per problem (K)"},
            {"problems", FLAG_INT, &pl->pre.limit, 0, 1e8,
             "use only the first N problems of prune.txt (0: all)"},
            {"samples", FLAG_INT, &pl->samples, 0, 1000,
             "sampled test responses per problem (0: greedy only)"},
            {"seed", FLAG_U64, &pl->seed, 0, 0, "seed of sampling, selection and batch order"},
            {"svg", FLAG_STR, &pl->svg, 0, 0,
             "also draw the length distributions and training curves into this SVG file"},
            {"redo", FLAG_BOOL, &pl->redo, 0, 0, "redo every stage instead of reusing what OUT holds"},
            {"threads", FLAG_INT, &pl->threads, 0, 1024, "threads (0: OpenMP's default)"},
            {"quiet", FLAG_BOOL, &pl->quiet, 0, 0, "no progress output"},
    };
    memcpy(flags, own, sizeof(own));
    n = NFLAGS(own);
    add_prune_flags(flags, &n, &pl->prune, &paper_advantage, &paper_ratio);
    Flag baseline_flags[] = {
        {"sft-lr", FLAG_FLOAT, &pl->sft_lr, 0, 1, "peak learning rate of the SFT-shortest baseline"},
        {"dpo-lr", FLAG_FLOAT, &pl->dpo_lr, 0, 1, "peak learning rate of the DPO baseline"},
        {"beta", FLAG_FLOAT, &pl->dpo_beta, 1e-6, 1000, "DPO's beta"},
    };
    if (pl->compare) {
        memcpy(flags + n, baseline_flags, sizeof(baseline_flags));
        n += NFLAGS(baseline_flags);
    }
    CommandHelp run_help = {
            "run", "[--out DIR]",
            "The whole method: pre-sample the reference model, prune it, evaluate both on the test\n"
            "split, print the before/after table (the paper's Table 2 in miniature), the length\n"
            "analysis and histograms, write report.json. Stages whose output OUT already holds are\n"
            "reused; --redo recomputes them."};
    CommandHelp compare_help = {
            "compare", "[--out DIR] [--svg FILE]",
            "O1-Pruner against the paper's baselines, from the same reference model and pre-sampled\n"
            "set: SFT on the two shortest correct samples per problem, and DPO (chosen: those two,\n"
            "rejected: the longest sample); then O1-Pruner with lambda 0, 1, 2, 5. Prints the paper's\n"
            "Tables 2, 3 and 1 in miniature and writes them to report.json. Reuses what OUT holds\n"
            "(what 'run' left there too); --redo recomputes."};
    parse_flags(pl->compare ? &compare_help : &run_help, flags, n, argc, argv);
    pl->prune.advantage = paper_advantage ? ADVANTAGE_PAPER : ADVANTAGE_OFFICIAL;
    pl->prune.ratio = paper_ratio ? RATIO_SUM : RATIO_MEAN;
    if (pl->compare && pl->prune.batch % 2)
        usage_error("compare", "--batch %d: DPO needs an even batch (2 sequences a pair)", pl->prune.batch);
}

/* One model of run / compare: how it is trained from the pre-sampled set and where it goes */
typedef struct {
    char path[4300];    /* OUT/NAME.bin (the reference: --ref) */
    char name[64];      /* its row in the tables */
    char key[32];       /* its object in report.json */
    char what[64];      /* the progress line while it trains */
    PruneConfig config;
} ModelEntry;

/* appends one model to the table */
static void add_model(ModelEntry *m, int *count, const char *file, const char *name, const char *key,
                      const char *what, const PruneConfig *config) {
    ModelEntry *e = &m[(*count)++];
    snprintf(e->path, sizeof(e->path), "%s", file);
    snprintf(e->name, sizeof(e->name), "%s", name);
    snprintf(e->key, sizeof(e->key), "%s", key);
    snprintf(e->what, sizeof(e->what), "%s", what);
    e->config = *config;
}

/* The paper's Table 3 in miniature: O1-Pruner with each lambda, against the reference */
static const float ABLATION_LAMBDAS[] = {0.0f, 1.0f, 2.0f, 5.0f};
#define NUM_ABLATION (int)(sizeof(ABLATION_LAMBDAS) / sizeof(ABLATION_LAMBDAS[0]))
#define MAX_MODELS (4 + NUM_ABLATION)

/* the models, in the tables' order: the reference; compare's baselines; O1-Pruner (returned);
 * compare's lambda ablation (ablation[i]: the model of ABLATION_LAMBDAS[i]) */
static int pipeline_models(const Pipeline *pl, ModelEntry *m, int *count, int *ablation) {
    char file[4300], label[64], key[32];
    PruneConfig pc = pl->prune, b = pl->prune;
    *count = 0;
    add_model(m, count, pl->pre.ref, "reference", "reference", "", &pc);
    if (pl->compare) {
        b.method = METHOD_SFT_SHORTEST;
        b.lr = pl->sft_lr;
        snprintf(file, sizeof(file), "%s/sft-shortest.bin", pl->out);
        add_model(m, count, file, "SFT-shortest", "sft_shortest", "the SFT-shortest baseline", &b);
        b.method = METHOD_DPO;
        b.lr = pl->dpo_lr;
        b.beta = pl->dpo_beta;
        snprintf(file, sizeof(file), "%s/dpo.bin", pl->out);
        add_model(m, count, file, "DPO", "dpo", "the DPO baseline", &b);
    }
    int main_model = *count;
    snprintf(file, sizeof(file), "%s/pruned.bin", pl->out);
    snprintf(label, sizeof(label), "O1-Pruner, m=%d, lambda=%g", pc.m, pc.lambda);
    add_model(m, count, file, "O1-Pruner", "pruned", label, &pc);
    for (int i = 0; pl->compare && i < NUM_ABLATION; i++) {
        ablation[i] = main_model;
        if (ABLATION_LAMBDAS[i] == pc.lambda) continue;
        PruneConfig a = pc;
        a.lambda = ABLATION_LAMBDAS[i];
        ablation[i] = *count;
        snprintf(file, sizeof(file), "%s/pruned-lambda%g.bin", pl->out, a.lambda);
        snprintf(label, sizeof(label), "O1-Pruner, lambda=%g", a.lambda);
        snprintf(key, sizeof(key), "pruned_lambda_%g", a.lambda);
        add_model(m, count, file, label + strlen("O1-Pruner, "), key, label, &a);
    }
    return main_model;
}

/* stage 2 of run/compare: pre-sample unless OUT holds a set from the same model and settings */
static int pipeline_presample(Pipeline *pl, char *err) {
    GPT ref;
    if (load_task_model(&ref, pl->pre.ref, err)) {
        if (access(pl->pre.ref, F_OK) != 0)
            seterr(err, "%s: no reference model; 'make reference' trains it (about 7 minutes on 2 cores)",
                   pl->pre.ref);
        return -1;
    }
    uint32_t ref_crc = params_crc(&ref);
    Dataset prune_set;
    int rc = dataset_load_split(&prune_set, pl->data, "prune", ref.config.block_size, err);
    gpt_free(&ref);
    if (rc) return -1;
    int problems = pl->pre.limit > 0 && pl->pre.limit < prune_set.count ? pl->pre.limit : prune_set.count;
    dataset_free(&prune_set);
    const char *cmd = pl->compare ? "compare" : "run";
    if (!pl->redo && presampled_matches(pl->pre.out, &pl->pre, ref_crc, problems)) {
        if (!pl->quiet) fprintf(stderr, "%s: reusing %s (--redo to sample again)\n", cmd, pl->pre.out);
        return 0;
    }
    if (!pl->quiet)
        fprintf(stderr, "%s: pre-sampling %d solutions per problem from %s\n", cmd, pl->pre.k, pl->pre.ref);
    return run_presample(&pl->pre, err);
}

/* stage 4 of run/compare: the tables on stdout, report.json, the picture */
static int pipeline_report(const Pipeline *pl, const ModelEntry *m, int count, int main_model,
                           const int *ablation, const EvalResult *r, int test_count, double t0, char *err) {
    int shown = main_model + 1; /* reference, the baselines, O1-Pruner */
    char report[4200];
    snprintf(report, sizeof(report), "%s/report.json", pl->out);
    printf("\n%s on the toy task: %d test problems, accuracy (%%) and mean response length (tokens)\n\n",
           pl->compare ? "O1-Pruner and the paper's baselines (Table 2)" : "O1-Pruner", test_count);
    print_comparison(stdout, r, shown);
    if (pl->compare) {
        const EvalResult *pruned[NUM_ABLATION];
        for (int i = 0; i < NUM_ABLATION; i++) pruned[i] = &r[ablation[i]];
        printf("\n");
        print_ablation(stdout, &r[0], pruned, ABLATION_LAMBDAS, NUM_ABLATION);
    }
    printf("\n");
    print_disharmony(stdout, r, shown);
    printf("\n");
    print_histograms(stdout, r, shown);
    const EvalResult *a = &r[0], *b = &r[main_model];
    double dl = mean_length(&b->greedy.all) / mean_length(&a->greedy.all) - 1;
    printf("\ngreedy: O1-Pruner's length %+.1f%%, accuracy %+.1f points; report: %s (%.0f s)\n", 100 * dl,
           100 * (accuracy(&b->greedy.all) - accuracy(&a->greedy.all)), report, now_seconds() - t0);
    const char *keys[MAX_MODELS], *paths[MAX_MODELS];
    for (int i = 0; i < count; i++) keys[i] = m[i].key, paths[i] = m[i].path;
    int rc = write_report(report, r, count, keys, ABLATION_LAMBDAS, ablation, pl->compare ? NUM_ABLATION : 0,
                          err);
    if (rc == 0 && pl->svg) rc = write_svg(pl->svg, r, shown, paths, main_model, err);
    if (rc == 0 && pl->svg && !pl->quiet)
        fprintf(stderr, "%s: wrote %s\n", pl->compare ? "compare" : "run", pl->svg);
    return rc;
}

/* run: presample, prune, evaluate both models, report. compare: the same stages, then the paper's
 * baselines (SFT-shortest, DPO) and the lambda ablation from the same pre-sampled set. Each stage
 * reuses what OUT holds from an earlier run with the same settings. */
static int run_pipeline(int argc, char **argv, int compare) {
    Pipeline pl = {.out = "out", .data = "data", .samples = 4, .compare = compare, .seed = 1,
                   .sft_lr = BASELINE_SFT_LR, .dpo_lr = BASELINE_DPO_LR};
    presample_defaults(&pl.pre);
    prune_defaults(&pl.prune);
    pl.dpo_beta = pl.prune.beta;
    pipeline_flags(&pl, argc, argv);
    set_threads(pl.threads);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    char err[O1P_ERR_LEN], presampled[4200];
    if (ensure_dir(pl.out, err) || (pl.svg && ensure_parent_dir(pl.svg, err))) return fail(err);
    snprintf(presampled, sizeof(presampled), "%s/presampled.txt", pl.out);
    double t0 = now_seconds();
    pl.pre = (PresampleConfig){.ref = pl.pre.ref,
                               .data_dir = pl.data,
                               .out = presampled,
                               .k = pl.pre.k,
                               .max_new = pl.pre.max_new,
                               .limit = pl.pre.limit,
                               .quiet = pl.quiet,
                               .save_every = pl.pre.save_every,
                               .discard_stale = 1,
                               .temperature = pl.pre.temperature,
                               .top_p = pl.pre.top_p,
                               .seed = pl.seed};
    int rc = pipeline_presample(&pl, err);
    if (rc) return stage_status(rc, err);
    /* stage 3: every model from the reference and the pre-sampled set (its CRC-32 in
     * OUT.settings: a model is reused only if trained on this very set) */
    char *bytes;
    size_t size;
    if (read_text_file(presampled, "run 'o1pruner presample' first", &bytes, &size, err)) return fail(err);
    uint32_t presampled_crc = crc32_update(0, bytes, size);
    free(bytes);
    PruneConfig *pc = &pl.prune;
    pc->ref = pl.pre.ref, pc->presampled = presampled, pc->data_dir = pl.data;
    pc->seed = pl.seed, pc->quiet = pl.quiet, pc->discard_stale = 1;
    ModelEntry m[MAX_MODELS];
    int count, ablation[NUM_ABLATION];
    int main_model = pipeline_models(&pl, m, &count, ablation);
    for (int i = 1; i < count; i++)
        if ((rc = train_stage(&m[i].config, m[i].path, presampled_crc, pl.redo, pl.quiet, m[i].what, err)) !=
            0)
            return stage_status(rc, err);
    /* stage 4: evaluation: nothing to resume, its one output is written at the end */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    if (!pl.quiet)
        fprintf(stderr, "%s: evaluating %d models on the test split\n", compare ? "compare" : "run", count);
    EvalResult r[MAX_MODELS];
    const char *paths[MAX_MODELS], *names[MAX_MODELS];
    for (int i = 0; i < count; i++) paths[i] = m[i].path, names[i] = m[i].name;
    Dataset test;
    if (evaluate_models(paths, names, count, pl.data, pl.samples, 1.0f, 1.0f, pl.pre.max_new, pl.seed,
                        pl.quiet, r, &test, err))
        return fail(err);
    rc = pipeline_report(&pl, m, count, main_model, ablation, r, test.count, t0, err);
    dataset_free(&test);
    return rc ? fail(err) : 0;
}

static int cmd_run(int argc, char **argv) { return run_pipeline(argc, argv, 0); }
static int cmd_compare(int argc, char **argv) { return run_pipeline(argc, argv, 1); }

/* o1pruner vectors: write the reference vectors, or --check a file of another implementation */
static int cmd_vectors(int argc, char **argv) {
    const char *out = "data/vectors", *check = NULL, *reference = "data/vectors/model.txt";
    int threads = 0;
    Flag flags[] = {
            {"out", FLAG_STR, &out, 0, 0, "directory for model.txt and method.txt"},
            {"check", FLAG_STR, &check, 0, 0,
             "instead: compare the tensors of this file (your implementation's) with --reference"},
            {"reference", FLAG_STR, &reference, 0, 0, "the reference vectors file for --check"},
        {"threads", FLAG_INT, &threads, 0, 1024, "threads (0: OpenMP's default; the vectors are the same)"},
    };
    CommandHelp h = {
            "vectors", "[--out DIR] | --check FILE [--reference FILE]",
            "Write the reference vectors other implementations check themselves against: a tiny model's\n"
            "parameters, forward pass, loss, gradients and two AdamW steps (model.txt); the reward,\n"
            "advantages, ratios and PPO-clip loss with its gradient, and the token-level losses of GRPO,\n"
            "DAPO and Dr. GRPO (method.txt). With --check, compare a file of your own in the same format,\n"
            "tensor by tensor, and exit 1 if one is off; its convention.loss and convention.dlogprob, if\n"
            "any, are named by the loss convention they match.\n"
            "README \"Validating another implementation\"."};
    const char *default_out = out, *default_reference = reference;
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    if (check && out != default_out)
        usage_error("vectors", "--out writes the vectors, --check compares a file with them: give one");
    if (!check && reference != default_reference)
        usage_error("vectors", "--reference is only used with --check FILE");
    set_threads(threads);
    char err[O1P_ERR_LEN];
    if (check) return vectors_check(check, reference, stdout, err) ? fail(err) : 0;
    if (ensure_dir(out, err) || write_vectors(out, err)) return fail(err);
    printf("wrote %s/model.txt and %s/method.txt\n", out, out);
    return 0;
}

/* o1pruner export: a checkpoint as safetensors with nanoGPT's names */
static int cmd_export(int argc, char **argv) {
    const char *model_path = "data/reference.bin", *out = NULL;
    Flag flags[] = {
        {"model", FLAG_STR, &model_path, 0, 0, "checkpoint to export"},
        {"safetensors", FLAG_STR, &out, 0, 0, "the safetensors file to write (required)"},
    };
    CommandHelp h = {
            "export", "--safetensors FILE [--model FILE]",
            "Write a checkpoint's parameters as safetensors with nanoGPT's tensor names, loadable without\n"
            "this program (README \"Validating another implementation\")."};
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    if (!out) usage_error("export", "--safetensors FILE is required");
    char err[O1P_ERR_LEN];
    GPT model;
    if (checkpoint_load(&model, model_path, NULL, err)) return fail(err);
    int rc = ensure_parent_dir(out, err) || export_safetensors(&model, out, err);
    if (rc == 0) printf("wrote %s (%zu parameters of %s)\n", out, model.num_params, model_path);
    gpt_free(&model);
    return rc ? fail(err) : 0;
}

/* o1pruner weights: the official data step (construct_dataset.py) on a real model's samples */
static int cmd_weights(int argc, char **argv) {
    const char *samples_path = NULL, *out = NULL, *shuffle = "python";
    WeightsConfig c = {.k = 0, .m = 2, .alpha = 2, .shuffle = 1};
    Flag flags[] = {
        {"samples", FLAG_STR, &samples_path, 0, 0,
         "a real model's samples: JSON array or JSON Lines (required)"},
        {"k", FLAG_INT, &c.k, 1, 1 << 20, "samples per problem, consecutive in the file (required)"},
        {"m", FLAG_INT, &c.m, 1, 1 << 20, "samples kept per problem (official: 2)"},
        {"lambda", FLAG_INT, &c.alpha, -1000000, 1000000,
         "lambda of Eq. 10, a whole number (official: --alpha)"},
        {"alpha", FLAG_INT, &c.alpha, -1000000, 1000000, "the same as --lambda, by its official name"},
        {"shuffle", FLAG_STR, &shuffle, 0, 0,
         "python: random.shuffle seeded with 42, as the official code; none"},
        {"out", FLAG_STR, &out, 0, 0, "the weighted set to write, LLaMA-Factory's JSON (required)"},
    };
    CommandHelp h = {
        "weights", "--samples FILE --k K [--m 2] [--lambda 2] --out FILE",
        "Compute what the official o1_scripts/construct_dataset.py computes from a real model's\n"
        "samples, bit for bit: per problem, Python's shuffle of its K samples (seed 42), the first m\n"
        "kept and weighted with Eq. 10, clipped to [-2, 4] and z-scored with numpy's mean and std.\n"
        "Each sample is an object with \"problem\", \"solution\", \"length\" (tokens, by your tokenizer)\n"
        "and \"correct\" (by your grader). README \"The official data step on your samples\"."};
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    if (!samples_path || !out) usage_error("weights", "--samples FILE and --out FILE are required");
    if (c.k == 0) usage_error("weights", "--k K is required: how many samples of each problem the file has");
    if (c.m > c.k) usage_error("weights", "--m %d is more than --k %d", c.m, c.k);
    if (strcmp(shuffle, "python") && strcmp(shuffle, "none"))
        usage_error("weights", "--shuffle '%s' is not python or none", shuffle);
    c.shuffle = !strcmp(shuffle, "python");
    Mt19937 mt;
    mt_seed(&mt, 42);
    if (py_random(&mt) != 0.6394267984578837) { /* CPython's random.seed(42); random.random() */
        fprintf(stderr, "%s: this build's MT19937 does not match CPython's; report the compiler\n",
                program_name);
        return 1;
    }
    char err[O1P_ERR_LEN];
    return ensure_parent_dir(out, err) || weights_run(samples_path, out, &c, stdout, err) ? fail(err) : 0;
}

/* ========================================================================================== */
/* 23. make bench: min / median / max over repetitions after a warm-up, plain clock_gettime   */

/* the rates of the fastest, the median and the slowest repetition */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* the machine's peak in GFLOP/s (bench_machine), for the "% of peak" column; 0: not measured */
static double bench_peak = 0.0;

static void bench_report(const char *what, double *seconds, int reps, double work, const char *unit) {
    qsort(seconds, (size_t)reps, sizeof(double), cmp_double);
    /* the fastest repetition gives the highest rate */
    printf("  %-44s %9.1f %9.1f %9.1f  %s", what, work / seconds[reps - 1], work / seconds[reps / 2],
           work / seconds[0], unit);
    if (bench_peak > 0 && !strcmp(unit, "GFLOP/s")) /* the median's share of the peak */
        printf("  %3.0f%%", 100.0 * work / seconds[reps / 2] / bench_peak);
    printf("\n");
}

/* the clock of the calling thread in GHz: a chain of dependent xor and add, one cycle each on any
 * x86 or ARM core of the last decade, so 2 per cycle; the compiler can neither fold nor vectorise it */
static double bench_clock(void) {
    volatile uint64_t sink = 1;
    uint64_t x = sink, y = sink | 2, n = 50000000;
    double t0 = now_seconds();
    for (uint64_t i = 0; i < n; i++) x = (x ^ i) + y;
    double t = now_seconds() - t0;
    sink = x;
    return 2.0 * (double)n / t * 1e-9;
}

static volatile float bench_sink;

/* float multiply-adds per second of the calling thread, as the matmul kernel does them (a multiply,
 * then an add: no FMA), PEAK_VECTORS independent chains of vectors held in registers: the most this
 * build can get out of a core, whatever the kernel. */
#define PEAK_VECTORS (VECTOR_REGISTERS * 3 / 4)
static double bench_flops(void) {
    float c[PEAK_VECTORS * VECTOR_FLOATS];
    for (int i = 0; i < PEAK_VECTORS * VECTOR_FLOATS; i++) c[i] = (float)i;
    long n = 8000000 / PEAK_VECTORS;
    double t0 = now_seconds();
    for (long it = 0; it < n; it++)
        for (int i = 0; i < PEAK_VECTORS * VECTOR_FLOATS; i++) c[i] = c[i] * 0.999f + 0.001f;
    double t = now_seconds() - t0;
    for (int i = 0; i < PEAK_VECTORS * VECTOR_FLOATS; i++) bench_sink += c[i]; /* or the loop is dead */
    return 2.0 * PEAK_VECTORS * VECTOR_FLOATS * (double)n / t;
}

/* The machine: the vector extension this build uses, the threads, the clock, the peak; all threads
 * measure at once (the clock of a busy chip). A core's peak FLOP/cycle is a power of two (pipes x
 * lanes x 2): the measured rate rounded up to one (unless within 10% of the one below), so the peak
 * = threads x GHz x that is the hardware's, not what a loop of ours happens to reach. */
static void bench_machine(void) {
    double ghz = 0.0, gflops = 0.0;
    int threads = get_threads();
#pragma omp parallel reduction(+ : ghz, gflops)
    { /* the best of 3 each: a thread descheduled for a moment measures low */
        double g = 0.0, f = 0.0;
        for (int i = 0; i < 3; i++) {
            double gi = bench_clock(), fi = bench_flops() * 1e-9;
            g = gi > g ? gi : g;
            f = fi > f ? fi : f;
        }
        ghz += g;
        gflops += f;
    }
    double per_cycle = gflops / ghz, peak_per_cycle = 1.0;
    while (peak_per_cycle * 1.1 < per_cycle) peak_per_cycle *= 2.0;
    ghz /= threads;
    bench_peak = threads * ghz * peak_per_cycle;
    printf("machine: %s (%d floats a vector, matmul tile %d x %d), %d thread(s), %.2f GHz (measured)\n",
           VECTOR_ISA, VECTOR_FLOATS, TILE_ROWS, TILE_COLS, threads, ghz);
    printf("peak: %d thread(s) x %.2f GHz x %.0f FLOP/cycle = %.1f GFLOP/s (multiply then add, no FMA: "
           "measured %.1f FLOP/cycle)\n", threads, ghz, peak_per_cycle, bench_peak, per_cycle);
}

/* forward, loss, backward, clip, AdamW on a random batch, as a training step does */
static void bench_training(GPT *model, int batch, int seq, int reps, double *t) {
    const GPTConfig *cfg = &model->config;
    int C = cfg->n_embd, L = cfg->n_layer, V = cfg->vocab_size, N = batch * seq;
    Rng rng;
    rng_seed(&rng, 1, 0, 0);
    int *inputs = xmalloc(sizeof(int) * (size_t)N, "batch"),
        *targets = xmalloc(sizeof(int) * (size_t)N, "batch");
    float *mask = xmalloc(sizeof(float) * (size_t)N, "batch");
    for (int i = 0; i < N; i++) {
        inputs[i] = (int)(rng_u64(&rng) % V);
        targets[i] = (int)(rng_u64(&rng) % V);
        mask[i] = 1.0f;
    }
    OptimConfig oc = {.lr_max = 1e-4f, .lr_min = 1e-4f, .warmup_steps = 0, .total_steps = 1, .beta1 = 0.9f,
                      .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f};
    for (int r = -1; r < reps; r++) { /* r = -1: the warm-up */
        double t0 = now_seconds();
        gpt_forward(model, inputs, targets, batch, seq);
        double loss = masked_mean_nll(model->logprob, mask, N, model->dlogprob);
        train_step(model, inputs, targets, &oc, 0, loss);
        if (r >= 0) t[r] = now_seconds() - t0;
    }
    /* forward FLOPs: 2 per multiply-add of the linear layers and of attention (scores and mix) */
    double fwd_flops = 2.0 * N * ((double)L * 12 * C * C + (double)C * V) +
                       2.0 * 2.0 * L * batch * (seq * (seq + 1) / 2.0) * C;
    char what[128];
    snprintf(what, sizeof(what), "training step, batch %dx%d: tokens/s", batch, seq);
    bench_report(what, t, reps, N, "tok/s");
    bench_report("training step: GFLOP/s (3x forward FLOPs)", t, reps, 3 * fwd_flops * 1e-9, "GFLOP/s");
    free(inputs); free(targets); free(mask);
}

/* KV-cache decoding as generate does it: the samples dealt to the threads, each thread stepping
 * its own through positions 0..127 with a KV cache of its own (one thread: gpt_decode_step) */
static void bench_sampling(GPT *model, int samples, int reps, double *t) {
    const GPTConfig *cfg = &model->config;
    int V = cfg->vocab_size, positions = 128, shares = get_threads() < samples ? get_threads() : samples;
    DecodeState *st = xcalloc((size_t)shares, sizeof(DecodeState), "decode states");
    for (int s = 0; s < shares; s++) {
        decode_state_alloc(&st[s], cfg, samples / shares + 1);
        decode_prepare(&st[s], model);
    }
    int *slot = xmalloc(sizeof(int) * (size_t)samples, "slots"),
        *tok = xmalloc(sizeof(int) * (size_t)samples, "slots");
    int *pos = xmalloc(sizeof(int) * (size_t)samples, "slots");
    for (int r = -1; r < reps; r++) {
        double t0 = now_seconds();
#pragma omp parallel for schedule(static, 1) if (shares > 1)
        for (int s = 0; s < shares; s++) {
            int i0 = (int)((long)samples * s / shares), n = (int)((long)samples * (s + 1) / shares) - i0;
            for (int p = 0; p < positions; p++) {
                for (int i = i0; i < i0 + n; i++) {
                    slot[i] = i - i0;
                    tok[i] = (i + p) % V;
                    pos[i] = p;
                }
                if (shares == 1) gpt_decode_step(model, &st[s], slot, tok, pos, n);
                else decode_rows(model, &st[s], slot + i0, tok + i0, pos + i0, 0, n);
            }
        }
        if (r >= 0) t[r] = now_seconds() - t0;
    }
    char what[128];
    snprintf(what, sizeof(what), "KV-cache sampling, %d samples x %d tokens", samples, positions);
    bench_report(what, t, reps, (double)samples * positions, "tok/s");
    for (int s = 0; s < shares; s++) decode_state_free(&st[s]);
    free(st); free(slot); free(tok); free(pos);
}

/* the matmul kernel alone, at the shapes of the training step */
static void bench_matmul(GPT *model, int N, int reps, double *t) {
    int C = model->config.n_embd;
    struct { const char *name; int in, out; } shapes[] = {
        {"qkv", C, 3 * C}, {"attn proj", C, C}, {"mlp up", C, 4 * C}, {"mlp down", 4 * C, C}};
    Rng rng;
    rng_seed(&rng, 1, 0, 1);
    float *x = xcalloc((size_t)N * 4 * C, sizeof(float), "bench"),
          *y = xcalloc((size_t)N * 4 * C, sizeof(float), "bench");
    float *w = xcalloc((size_t)16 * C * C, sizeof(float), "bench"),
          *dw = xcalloc((size_t)16 * C * C, sizeof(float), "bench");
    float *dx = xcalloc((size_t)N * 4 * C, sizeof(float), "bench");
    for (size_t i = 0; i < (size_t)N * 4 * C; i++) x[i] = rng_uniform(&rng);
    for (size_t i = 0; i < (size_t)16 * C * C; i++) w[i] = rng_uniform(&rng);
    for (int sh = 0; sh < 4; sh++) {
        int in = shapes[sh].in, out = shapes[sh].out;
        double flops = 2.0 * N * in * out * 1e-9;
        char what[128];
        for (int r = -1; r < reps; r++) {
            double t0 = now_seconds();
            matmul_forward(y, x, w, NULL, N, in, out, model->scratch);
            if (r >= 0) t[r] = now_seconds() - t0;
        }
        snprintf(what, sizeof(what), "matmul forward %-9s (%d x %d -> %d): GFLOP/s", shapes[sh].name, N, in,
                 out);
        bench_report(what, t, reps, flops, "GFLOP/s");
        for (int r = -1; r < reps; r++) {
            double t0 = now_seconds();
            matmul_backward(dx, dw, NULL, y, x, w, N, in, out, model->scratch);
            if (r >= 0) t[r] = now_seconds() - t0;
        }
        snprintf(what, sizeof(what), "matmul backward %-8s (both products): GFLOP/s", shapes[sh].name);
        bench_report(what, t, reps, 2 * flops, "GFLOP/s");
    }
    free(x); free(y); free(w); free(dw); free(dx);
}

/* o1pruner bench (make bench): the reference model's shapes, a random batch, random weights */
static int cmd_bench(int argc, char **argv) {
    int threads = 0, reps = 5, batch = 64, seq = 96, slots = DECODE_SLOTS; /* as generate decodes */
    Flag flags[] = {
        {"threads", FLAG_INT, &threads, 0, 1024, "threads (0: OpenMP's default)"},
        {"reps", FLAG_INT, &reps, 1, 1000, "timed repetitions of each measurement"},
        {"batch", FLAG_INT, &batch, 1, 1024, "training batch"},
        {"seq", FLAG_INT, &seq, 2, 160, "training sequence length"},
        {"samples", FLAG_INT, &slots, 1, 4096, "samples decoded together"},
    };
    CommandHelp h = {"bench", "[flags]",
                     "Throughput of the reference model's training step, of KV-cache sampling, and of\n"
                     "the matmul kernel at the model's shapes (min / median / max over --reps)."};
    parse_flags(&h, flags, NFLAGS(flags), argc, argv);
    set_threads(threads);
    SftConfig sc;
    sft_defaults(&sc);
    GPT model;
    gpt_build(&model, &sc.model);
    gpt_init_weights(&model, 1);
    gpt_alloc_training(&model, batch, seq);
    printf("o1pruner bench: model L=%d H=%d C=%d V=%d (%zu parameters), %d thread(s)\n", sc.model.n_layer,
           sc.model.n_head, sc.model.n_embd, sc.model.vocab_size, model.num_params, get_threads());
    bench_machine();
    printf("  %-44s %9s %9s %9s\n", "", "min", "median", "max");
    double *t = xmalloc(sizeof(double) * (size_t)reps, "timings");
    bench_training(&model, batch, seq, reps, t);
    bench_sampling(&model, slots, reps, t);
    bench_matmul(&model, batch * seq, reps, t);
    free(t);
    gpt_free(&model);
    return 0;
}

/* ========================================================================================== */
/* 24. main: the commands                                                                     */


/* the program's --help: the commands */
static void usage(FILE *out) {
    fprintf(out,
            "usage: o1pruner <command> [flags]\n"
            "\n"
            "O1-Pruner (arXiv 2501.12570): fine-tune a long-thought model to reason shorter.\n"
            "\n"
            "commands:\n"
            "  run        the whole method end to end (what 'make run' calls)\n"
            "  compare    O1-Pruner against the paper's baselines and its lambda ablation ('make compare')\n"
            "  sft        train the long-thought reference model on the verbose teacher's traces\n"
            "  presample  K solutions per training problem from the reference model\n"
            "  prune      O1-Pruner fine-tuning on the pre-sampled solutions\n"
            "  eval       accuracy, response length and AES on the test split, per difficulty\n"
            "  sample     show responses of a model, with their lengths\n"
            "  data       write the task's data splits as plain text\n"
            "  vectors    write reference vectors for checking another implementation\n"
            "  export     write a checkpoint as safetensors (nanoGPT tensor names)\n"
            "  weights    the official data step on a real model's samples (LLaMA-Factory JSON)\n"
            "  bench      throughput of training, sampling and the matmul kernel\n"
            "  help       this text\n"
            "\n"
            "Run 'o1pruner <command> --help' for a command's flags.\n");
}

/* Threads that wait for work spin briefly, then sleep (README "Speed"). Unless told otherwise,
 * libgomp spins up to about 3 ms at every barrier and between parallel regions: harmless on an idle
 * machine, ruinous when another program wants the core a spinning thread holds (one greedy sample
 * took 30x as long on 2 threads as on 1). Not spinning at all costs the training step a sleep and a
 * wake-up at each of its regions, about a hundred a step (prune on 2 threads, idle, 6% slower at the
 * median). So: a spin of 1000 rounds (GOMP_SPINCOUNT; about 10 us by libgomp's estimate), then sleep
 * (OMP_WAIT_POLICY=passive, which LLVM's libomp reads). Both are read once, as the library loads,
 * before main: so when neither is set, set them and start the program again (Linux,
 * /proc/self/exe; if that fails the program carries on as it was). Results do not depend on it. */
static void wait_briefly(char **argv) {
#if defined(_OPENMP) && defined(__linux__)
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) == 0 && setenv("GOMP_SPINCOUNT", "1000", 1) == 0)
        execv("/proc/self/exe", argv);
#else
    (void)argv;
#endif
}

/* o1pruner <command> [flags] */
int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    wait_briefly(argv);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "data")) return cmd_data(argc, argv);
    if (!strcmp(cmd, "sft")) return cmd_sft(argc, argv);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc, argv);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc, argv);
    if (!strcmp(cmd, "presample")) return cmd_presample(argc, argv);
    if (!strcmp(cmd, "prune")) return cmd_prune(argc, argv);
    if (!strcmp(cmd, "run")) return cmd_run(argc, argv);
    if (!strcmp(cmd, "compare")) return cmd_compare(argc, argv);
    if (!strcmp(cmd, "vectors")) return cmd_vectors(argc, argv);
    if (!strcmp(cmd, "export")) return cmd_export(argc, argv);
    if (!strcmp(cmd, "weights")) return cmd_weights(argc, argv);
    fprintf(stderr, "%s: unknown command '%s'; run 'o1pruner --help' for the list\n", program_name, cmd);
    return 2;
}
#endif
