/* o1pruner.c - O1-Pruner (Length-Harmonizing Fine-Tuning, arXiv 2501.12570) in one C file.
 *
 * Read top to bottom: utilities; the transformer layer by layer, each *_forward beside its
 * *_backward; the model; the optimizer; checkpoints; then the command line.
 * The exact model and file formats are written down in README.md "Specification".
 *
 * Build: make            Tests: make test           (test.c includes this file with O1P_NO_MAIN)
 */
#define _POSIX_C_SOURCE 200809L
#include "o1pruner.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
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

/* ========================================================================================== */
/* utilities */

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

static void *xcalloc(size_t count, size_t size, const char *what) {
    if (size && count > SIZE_MAX / 4 / size) count = SIZE_MAX / 4 / size; /* xmalloc refuses it */
    void *p = xmalloc(count * size, what);
    memset(p, 0, count * size);
    return p;
}

static void seterr(char *err, const char *fmt, ...) {
    if (!err) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, O1P_ERR_LEN, fmt, ap);
    va_end(ap);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void set_threads(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

static int get_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
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

void rng_seed(Rng *rng, uint64_t seed, uint64_t stream_a, uint64_t stream_b) {
    uint64_t x = seed;
    x = splitmix64(&x) ^ stream_a;
    x = splitmix64(&x) ^ stream_b;
    x = splitmix64(&x);
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

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

double rng_normal(Rng *rng) {
    double u1 = 1.0 - (double)(rng_u64(rng) >> 11) * 0x1.0p-53; /* (0, 1] */
    double u2 = (double)(rng_u64(rng) >> 11) * 0x1.0p-53;       /* [0, 1) */
    return sqrt(-2.0 * log(u1)) * cos(2.0 * PI * u2);
}

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

static void atomic_abort(AtomicFile *af) {
    if (af->f) fclose(af->f);
    af->f = NULL;
    remove(af->tmp);
}

static int atomic_commit(AtomicFile *af, char *err) {
    int ok = !ferror(af->f) && fflush(af->f) == 0 && fsync(fileno(af->f)) == 0;
    if (fclose(af->f) != 0) ok = 0;
    af->f = NULL;
    if (!ok || rename(af->tmp, af->path) != 0) {
        seterr(err, "%s: write failed (%s); is the disk full?", af->path, strerror(errno));
        remove(af->tmp);
        return -1;
    }
    /* make the rename itself durable: fsync the directory that holds the file */
    char dir[4096];
    strcpy(dir, af->path);
    char *slash = strrchr(dir, '/');
    if (slash) { if (slash == dir) slash[1] = 0; else *slash = 0; } else strcpy(dir, ".");
    int fd = open(dir, O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
    return 0;
}

/* ========================================================================================== */
/* the transformer, layer by layer. N = B*T rows of the residual stream.                      */
/* Parallel loops only ever split independent outputs, and every sum runs in one fixed order, */
/* so results are bitwise identical for any thread count.                                      */

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
static void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int N, int C) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double m = 0.0, v = 0.0;
        for (int i = 0; i < C; i++) m += x[i];
        m /= C;
        for (int i = 0; i < C; i++) v += (x[i] - m) * (x[i] - m);
        v /= C;
        float mf = (float)m, s = (float)(1.0 / sqrt(v + LN_EPS));
        float *o = out + (size_t)n * C;
        for (int i = 0; i < C; i++) o[i] = (x[i] - mf) * s * weight[i] + bias[i];
        mean[n] = mf;
        rstd[n] = s;
    }
}

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
    /* gain and bias gradients sum over rows: one channel per iteration, rows in order */
#pragma omp parallel for
    for (int i = 0; i < C; i++) {
        float dw = 0.0f, db = 0.0f;
        for (int n = 0; n < N; n++) {
            float d = dout[(size_t)n * C + i];
            dw += d * ((inp[(size_t)n * C + i] - mean[n]) * rstd[n]);
            db += d;
        }
        dweight[i] += dw;
        dbias[i] += db;
    }
}

/* The one matrix kernel behind every linear layer, forward and backward:
 *   out (N,M) = init + A (N,K) @ Bm (K,M),   A(r,k) = a[r*a_row + k*a_col],  Bm row-major,
 * init = bias broadcast (bias != NULL), else out itself (accumulate), else 0.
 * A tile of 8 rows x 32 columns is held in registers while k runs, so Bm is read along its rows and
 * the innermost loop vectorises without reassociating any sum: every output is accumulated in
 * order k = 0..K-1, in the tiled path and in the edge path alike, whatever the thread count. */
#define TILE_ROWS 8
#define TILE_COLS 32
static void matmul_tile(float *restrict out, const float *restrict a, const float *restrict bm,
                        const float *restrict bias, int accumulate, int a_row, int a_col, int K, int M) {
    float acc[TILE_ROWS][TILE_COLS];
    for (int r = 0; r < TILE_ROWS; r++)
        for (int j = 0; j < TILE_COLS; j++)
            acc[r][j] = bias ? bias[j] : accumulate ? out[(size_t)r * M + j] : 0.0f;
    for (int k = 0; k < K; k++) {
        const float *restrict b = bm + (size_t)k * M;
        for (int r = 0; r < TILE_ROWS; r++) {
            float x = a[(size_t)r * a_row + (size_t)k * a_col];
            for (int j = 0; j < TILE_COLS; j++) acc[r][j] += x * b[j];
        }
    }
    for (int r = 0; r < TILE_ROWS; r++)
        for (int j = 0; j < TILE_COLS; j++) out[(size_t)r * M + j] = acc[r][j];
}

static void matmul_kernel(float *out, const float *a, const float *bm, const float *bias, int accumulate,
                          int a_row, int a_col, int N, int K, int M) {
    int row_tiles = (N + TILE_ROWS - 1) / TILE_ROWS, col_tiles = (M + TILE_COLS - 1) / TILE_COLS;
#pragma omp parallel for collapse(2) schedule(static)
    for (int rt = 0; rt < row_tiles; rt++)
        for (int ct = 0; ct < col_tiles; ct++) {
            int r0 = rt * TILE_ROWS, c0 = ct * TILE_COLS;
            if (r0 + TILE_ROWS <= N && c0 + TILE_COLS <= M) {
                matmul_tile(out + (size_t)r0 * M + c0, a + (size_t)r0 * a_row, bm + c0, bias ? bias + c0 : NULL,
                            accumulate, a_row, a_col, K, M);
                continue;
            }
            for (int r = r0; r < N && r < r0 + TILE_ROWS; r++) /* edge tile, same order of operations */
                for (int j = c0; j < M && j < c0 + TILE_COLS; j++) {
                    float acc = bias ? bias[j] : accumulate ? out[(size_t)r * M + j] : 0.0f;
                    for (int k = 0; k < K; k++) acc += a[(size_t)r * a_row + (size_t)k * a_col] * bm[(size_t)k * M + j];
                    out[(size_t)r * M + j] = acc;
                }
        }
}

/* matmul: out (N,OC) = inp (N,C) @ weight^T + bias, weight (OC,C) like nn.Linear.weight.
 * The kernel wants weight^T (C,OC) row-major: transpose it into scratch first (C*OC floats, small
 * next to the N*C*OC multiply-adds). */
static void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                           int N, int C, int OC, float *scratch) {
#pragma omp parallel for
    for (int i = 0; i < C; i++)
        for (int o = 0; o < OC; o++) scratch[(size_t)i * OC + o] = weight[(size_t)o * C + i];
    matmul_kernel(out, inp, scratch, bias, 0, C, 1, N, C, OC);
}

/* dinp (N,C) += dout (N,OC) @ weight (OC,C);  dweight (OC,C) += dout^T @ inp (N,C);
 * dbias (OC) += column sums of dout */
static void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int N, int C, int OC) {
    matmul_kernel(dinp, dout, weight, NULL, 1, OC, 1, N, OC, C);
    matmul_kernel(dweight, dout, inp, NULL, 1, 1, OC, OC, N, C); /* A = dout^T: A(o,n) = dout[n*OC+o] */
    if (dbias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) dbias[o] += dout[(size_t)n * OC + o];
}

/* causal self-attention: qkv (B,T,3C) -> out (B,T,C), keeping att (B,H,T,T).
 * Head h uses channels h*hs..(h+1)*hs-1 of q, k and v; scores scaled by 1/sqrt(hs). */
static void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int H) {
    int hs = C / H;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                float *row = att + (((size_t)b * H + h) * T + t) * T;
                float maxv = -INFINITY;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = qkv + ((size_t)b * T + t2) * 3 * C + C + h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) s += q[i] * k[i];
                    s *= scale;
                    row[t2] = s;
                    if (s > maxv) maxv = s;
                }
                double sum = 0.0;
                for (int t2 = 0; t2 <= t; t2++) {
                    float e = expf(row[t2] - maxv);
                    row[t2] = e;
                    sum += e;
                }
                float inv = (float)(1.0 / sum);
                for (int t2 = 0; t2 <= t; t2++) row[t2] *= inv;
                for (int t2 = t + 1; t2 < T; t2++) row[t2] = 0.0f;
                float *o = out + ((size_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * hs;
                    float a = row[t2];
                    for (int i = 0; i < hs; i++) o[i] += a * v[i];
                }
            }
}

/* dqkv (B,T,3C) += from dout (B,T,C). datt (B,H,T,T) is scratch. Each (b,h) pair owns its slice
 * of dqkv, so the pairs run in parallel and positions accumulate in a fixed order. */
static void attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                               const float *att, int B, int T, int C, int H) {
    int hs = C / H;
    float scale = 1.0f / sqrtf((float)hs);
#pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const float *row = att + (((size_t)b * H + h) * T + t) * T;
                float *drow = datt + (((size_t)b * H + h) * T + t) * T;
                const float *d = dout + ((size_t)b * T + t) * C + h * hs;
                const float *q = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                float *dq = dqkv + ((size_t)b * T + t) * 3 * C + h * hs;
                /* through out = att @ v */
                double dot = 0.0;
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = qkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * hs;
                    float *dv = dqkv + ((size_t)b * T + t2) * 3 * C + 2 * C + h * hs;
                    float s = 0.0f;
                    for (int i = 0; i < hs; i++) { s += d[i] * v[i]; dv[i] += row[t2] * d[i]; }
                    drow[t2] = s;
                    dot += row[t2] * s;
                }
                /* through the softmax, then the scaled scores q.k */
                for (int t2 = 0; t2 <= t; t2++) {
                    float dpre = row[t2] * (drow[t2] - (float)dot) * scale;
                    const float *k = qkv + ((size_t)b * T + t2) * 3 * C + C + h * hs;
                    float *dk = dqkv + ((size_t)b * T + t2) * 3 * C + C + h * hs;
                    for (int i = 0; i < hs; i++) { dq[i] += dpre * k[i]; dk[i] += dpre * q[i]; }
                }
            }
}

/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */
static void gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_SCALE * (x + 0.044715f * x * x * x)));
    }
}

static void gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float th = tanhf(GELU_SCALE * (x + 0.044715f * x * x * x));
        float dudx = GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += dout[i] * (0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * dudx);
    }
}

/* residual: out = a + b */
static void residual_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void residual_backward(float *da, float *db, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) { da[i] += dout[i]; db[i] += dout[i]; }
}

/* log-softmax at the targets: logits (N,V) -> probs (N,V), logprob (N) = log p(target).
 * Every loss in this program (SFT, PPO-clip, DPO) is a function of these log-probabilities,
 * so the model's backward pass starts from d loss / d logprob. target < 0: no target. */
static void logprob_forward(float *logprob, float *probs, const float *logits, const int *targets,
                            int N, int V) {
#pragma omp parallel for
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * V;
        float *p = probs + (size_t)n * V;
        float maxv = z[0];
        for (int v = 1; v < V; v++) if (z[v] > maxv) maxv = z[v];
        double sum = 0.0;
        for (int v = 0; v < V; v++) sum += exp((double)(z[v] - maxv));
        double logsum = log(sum);
        for (int v = 0; v < V; v++) p[v] = (float)exp((double)(z[v] - maxv) - logsum);
        if (logprob) logprob[n] = targets && targets[n] >= 0 ? (float)((double)(z[targets[n]] - maxv) - logsum) : 0.0f;
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
/* the model */

int gpt_config_check(const GPTConfig *c, char *err) {
    if (c->vocab_size < 2 || c->vocab_size > 65536) { seterr(err, "vocab_size %d outside 2..65536", c->vocab_size); return -1; }
    if (c->block_size < 1 || c->block_size > 8192) { seterr(err, "block_size %d outside 1..8192", c->block_size); return -1; }
    if (c->n_layer < 1 || c->n_layer > 256) { seterr(err, "n_layer %d outside 1..256", c->n_layer); return -1; }
    if (c->n_embd < 1 || c->n_embd > 16384) { seterr(err, "n_embd %d outside 1..16384", c->n_embd); return -1; }
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

static void point_params(ParameterTensors *p, float *base, const TensorInfo *info) {
    float **ptrs[NUM_PARAM_TENSORS] = {
        &p->wte, &p->wpe, &p->ln1w, &p->ln1b, &p->qkvw, &p->qkvb, &p->attprojw, &p->attprojb,
        &p->ln2w, &p->ln2b, &p->fcw, &p->fcb, &p->fcprojw, &p->fcprojb, &p->lnfw, &p->lnfb};
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) *ptrs[i] = base + info[i].offset;
}

void gpt_build(GPT *model, const GPTConfig *config) {
    memset(model, 0, sizeof(*model));
    model->config = *config;
    fill_param_info(model->param_info, config, &model->num_params);
    model->params = xcalloc(model->num_params, sizeof(float), "parameters");
    point_params(&model->p, model->params, model->param_info);
    int C = config->n_embd, V = config->vocab_size;
    size_t widest = (size_t)(4 * C > V ? 4 * C : V);
    model->scratch = xcalloc(widest * 4 * C, sizeof(float), "matmul scratch");
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

void gpt_free(GPT *model) {
    free(model->params); free(model->grads); free(model->adam_m); free(model->adam_v);
    free(model->acts); free(model->grad_acts); free(model->logprob); free(model->dlogprob);
    free(model->scratch);
    memset(model, 0, sizeof(*model));
}

void gpt_zero_grad(GPT *model) { memset(model->grads, 0, model->num_params * sizeof(float)); }

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
        layernorm_forward(ln1, a->ln1_mean + (size_t)l * N, a->ln1_rstd + (size_t)l * N, residual,
                          p->ln1w + l * C, p->ln1b + l * C, N, C);
        matmul_forward(qkv, ln1, p->qkvw + l * 3 * CC, p->qkvb + l * 3 * C, N, C, 3 * C, model->scratch);
        attention_forward(atty, att, qkv, B, T, C, H);
        matmul_forward(attproj, atty, p->attprojw + l * CC, p->attprojb + l * C, N, C, C, model->scratch);
        residual_forward(residual2, residual, attproj, NC);
        layernorm_forward(ln2, a->ln2_mean + (size_t)l * N, a->ln2_rstd + (size_t)l * N, residual2,
                          p->ln2w + l * C, p->ln2b + l * C, N, C);
        matmul_forward(fch, ln2, p->fcw + l * 4 * CC, p->fcb + l * 4 * C, N, C, 4 * C, model->scratch);
        gelu_forward(fch_gelu, fch, 4 * NC);
        matmul_forward(fcproj, fch_gelu, p->fcprojw + l * 4 * CC, p->fcprojb + l * C, N, 4 * C, C, model->scratch);
        residual_forward(residual3, residual2, fcproj, NC);
    }
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, a->residual3 + (L - 1) * NC, p->lnfw, p->lnfb, N, C);
    matmul_forward(a->logits, a->lnf, p->wte, NULL, N, C, V, model->scratch);
    logprob_forward(targets ? model->logprob : NULL, a->probs, a->logits, targets, N, V);
}

void gpt_backward(GPT *model, const int *inputs, const int *targets, const float *dlogprob) {
    const GPTConfig *cfg = &model->config;
    int B = model->B, T = model->T;
    int L = cfg->n_layer, C = cfg->n_embd, H = cfg->n_head, V = cfg->vocab_size, N = B * T;
    size_t used = point_activations(&model->ga, model->grad_acts, cfg, B, T);
    memset(model->grad_acts, 0, used * sizeof(float)); /* every *_backward accumulates */
    ActivationTensors *a = &model->a, *ga = &model->ga;
    ParameterTensors *p = &model->p, *g = &model->g;
    size_t NC = (size_t)N * C, CC = (size_t)C * C;
    logprob_backward(ga->logits, dlogprob, a->probs, targets, N, V);
    matmul_backward(ga->lnf, g->wte, NULL, ga->logits, a->lnf, p->wte, N, C, V);
    layernorm_backward(ga->residual3 + (L - 1) * NC, g->lnfw, g->lnfb, ga->lnf, a->residual3 + (L - 1) * NC,
                       p->lnfw, a->lnf_mean, a->lnf_rstd, N, C);
    for (int l = L - 1; l >= 0; l--) {
        const float *residual = l == 0 ? a->encoded : a->residual3 + (l - 1) * NC;
        float *dresidual = l == 0 ? ga->encoded : ga->residual3 + (l - 1) * NC;
        size_t att_off = (size_t)l * B * H * T * T;
        residual_backward(ga->residual2 + l * NC, ga->fcproj + l * NC, ga->residual3 + l * NC, NC);
        matmul_backward(ga->fch_gelu + l * 4 * NC, g->fcprojw + l * 4 * CC, g->fcprojb + l * C,
                        ga->fcproj + l * NC, a->fch_gelu + l * 4 * NC, p->fcprojw + l * 4 * CC, N, 4 * C, C);
        gelu_backward(ga->fch + l * 4 * NC, a->fch + l * 4 * NC, ga->fch_gelu + l * 4 * NC, 4 * NC);
        matmul_backward(ga->ln2 + l * NC, g->fcw + l * 4 * CC, g->fcb + l * 4 * C, ga->fch + l * 4 * NC,
                        a->ln2 + l * NC, p->fcw + l * 4 * CC, N, C, 4 * C);
        layernorm_backward(ga->residual2 + l * NC, g->ln2w + l * C, g->ln2b + l * C, ga->ln2 + l * NC,
                           a->residual2 + l * NC, p->ln2w + l * C, a->ln2_mean + (size_t)l * N,
                           a->ln2_rstd + (size_t)l * N, N, C);
        residual_backward(dresidual, ga->attproj + l * NC, ga->residual2 + l * NC, NC);
        matmul_backward(ga->atty + l * NC, g->attprojw + l * CC, g->attprojb + l * C, ga->attproj + l * NC,
                        a->atty + l * NC, p->attprojw + l * CC, N, C, C);
        attention_backward(ga->qkv + l * 3 * NC, ga->att + att_off, ga->atty + l * NC, a->qkv + l * 3 * NC,
                           a->att + att_off, B, T, C, H);
        matmul_backward(ga->ln1 + l * NC, g->qkvw + l * 3 * CC, g->qkvb + l * 3 * C, ga->qkv + l * 3 * NC,
                        a->ln1 + l * NC, p->qkvw + l * 3 * CC, N, C, 3 * C);
        layernorm_backward(dresidual, g->ln1w + l * C, g->ln1b + l * C, ga->ln1 + l * NC, residual,
                           p->ln1w + l * C, a->ln1_mean + (size_t)l * N, a->ln1_rstd + (size_t)l * N, N, C);
    }
    encoder_backward(g->wte, g->wpe, ga->encoded, inputs, B, T, C);
}

double masked_mean_nll(const float *logprob, const float *mask, int n, float *dlogprob) {
    double total = 0.0, weight = 0.0;
    for (int i = 0; i < n; i++) { total -= (double)mask[i] * logprob[i]; weight += mask[i]; }
    if (dlogprob)
        for (int i = 0; i < n; i++) dlogprob[i] = weight > 0 ? (float)(-mask[i] / weight) : 0.0f;
    return weight > 0 ? total / weight : 0.0;
}

/* ========================================================================================== */
/* the optimizer: AdamW as torch.optim.AdamW computes it, global-norm clipping, lr schedule */

float lr_schedule(const OptimConfig *oc, long step) {
    if (step < oc->warmup_steps) return oc->lr_max * (float)(step + 1) / (float)oc->warmup_steps;
    long decay_steps = oc->total_steps - oc->warmup_steps;
    if (decay_steps <= 0 || step >= oc->total_steps) return oc->lr_min;
    double progress = (double)(step - oc->warmup_steps) / (double)decay_steps;
    return (float)(oc->lr_min + 0.5 * (oc->lr_max - oc->lr_min) * (1.0 + cos(PI * progress)));
}

double clip_grad_norm(float *grads, size_t n, float max_norm) {
    double sumsq = 0.0;
    for (size_t i = 0; i < n; i++) sumsq += (double)grads[i] * grads[i];
    double norm = sqrt(sumsq);
    if (max_norm > 0 && norm > max_norm) {
        float scale = (float)(max_norm / (norm + 1e-6)); /* torch.nn.utils.clip_grad_norm_ */
        for (size_t i = 0; i < n; i++) grads[i] *= scale;
    }
    return norm;
}

/* p *= 1 - lr*wd (decayed tensors only); m, v updated; p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps) */
void adamw_step(GPT *model, const OptimConfig *oc, float lr) {
    model->step++;
    double bc1 = 1.0 - pow(oc->beta1, (double)model->step), bc2 = 1.0 - pow(oc->beta2, (double)model->step);
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

/* ========================================================================================== */
/* checkpoints: little-endian; see README "Checkpoint format"                                  */
/*   0  char[8]  "O1PRUNER"           32  u32 flags (bit 0: AdamW state follows the params)   */
/*   8  u32      version (1)          36  u32 reserved (0)                                    */
/*  12  u32[5]   vocab_size, block_size, n_layer, n_head, n_embd                               */
/*  40  u64      step                 48  u64 num_params                                      */
/*  56  f32[num_params] params  [f32[num_params] adam_m, f32[num_params] adam_v]  u32 crc32    */

#define CKPT_MAGIC "O1PRUNER"
#define CKPT_VERSION 1u
#define CKPT_HEADER 56

static void put_u32(unsigned char *b, uint32_t v) { for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i)); }
static void put_u64(unsigned char *b, uint64_t v) { for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i)); }
static uint32_t get_u32(const unsigned char *b) { uint32_t v = 0; for (int i = 0; i < 4; i++) v |= (uint32_t)b[i] << (8 * i); return v; }
static uint64_t get_u64(const unsigned char *b) { uint64_t v = 0; for (int i = 0; i < 8; i++) v |= (uint64_t)b[i] << (8 * i); return v; }

/* float arrays are written as their little-endian bytes; this program runs on little-endian hosts */
static int host_is_little_endian(void) { uint32_t one = 1; unsigned char b; memcpy(&b, &one, 1); return b == 1; }

static int write_crc(FILE *f, uint32_t *crc, const void *data, size_t n) {
    *crc = crc32_update(*crc, data, n);
    return fwrite(data, 1, n, f) == n ? 0 : -1;
}

int checkpoint_save(const GPT *model, const char *path, int with_optimizer, char *err) {
    if (!host_is_little_endian()) { seterr(err, "%s: big-endian hosts are not supported", path); return -1; }
    with_optimizer = with_optimizer && model->adam_m && model->adam_v;
    unsigned char h[CKPT_HEADER] = {0};
    const GPTConfig *c = &model->config;
    memcpy(h, CKPT_MAGIC, 8);
    put_u32(h + 8, CKPT_VERSION);
    put_u32(h + 12, (uint32_t)c->vocab_size); put_u32(h + 16, (uint32_t)c->block_size);
    put_u32(h + 20, (uint32_t)c->n_layer);    put_u32(h + 24, (uint32_t)c->n_head);
    put_u32(h + 28, (uint32_t)c->n_embd);
    put_u32(h + 32, with_optimizer ? 1u : 0u);
    put_u64(h + 40, (uint64_t)model->step);
    put_u64(h + 48, (uint64_t)model->num_params);
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    uint32_t crc = 0;
    size_t bytes = model->num_params * sizeof(float);
    int bad = write_crc(af.f, &crc, h, sizeof(h)) || write_crc(af.f, &crc, model->params, bytes);
    if (with_optimizer) bad = bad || write_crc(af.f, &crc, model->adam_m, bytes) || write_crc(af.f, &crc, model->adam_v, bytes);
    unsigned char tail[4];
    put_u32(tail, crc);
    if (bad || fwrite(tail, 1, 4, af.f) != 4) {
        seterr(err, "%s: write failed (%s); is the disk full?", path, strerror(errno));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, err);
}

int checkpoint_load(GPT *model, const char *path, int *has_optimizer, char *err) {
    memset(model, 0, sizeof(*model));
    FILE *f = fopen(path, "rb");
    if (!f) { seterr(err, "%s: cannot open checkpoint (%s)", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        seterr(err, "%s: not a regular file; give the path of a checkpoint", path);
        fclose(f);
        return -1;
    }
    uint64_t file_size = (uint64_t)st.st_size;
    unsigned char h[CKPT_HEADER];
    const char *redo = "re-create it (o1pruner sft / prune) or restore a copy";
    if (file_size < CKPT_HEADER + 4 || fread(h, 1, CKPT_HEADER, f) != CKPT_HEADER) {
        seterr(err, "%s: truncated checkpoint (%llu bytes, the header alone is %d); %s", path,
               (unsigned long long)file_size, CKPT_HEADER + 4, redo);
        fclose(f);
        return -1;
    }
    if (memcmp(h, CKPT_MAGIC, 8) != 0) {
        seterr(err, "%s: not an o1pruner checkpoint (bad magic); give a file written by o1pruner", path);
        fclose(f);
        return -1;
    }
    uint32_t version = get_u32(h + 8);
    if (version != CKPT_VERSION) {
        seterr(err, "%s: checkpoint format version %u, this program reads version %u; use a matching o1pruner",
               path, version, CKPT_VERSION);
        fclose(f);
        return -1;
    }
    uint32_t fields[5];
    for (int i = 0; i < 5; i++) fields[i] = get_u32(h + 12 + 4 * i);
    GPTConfig c;
    int fields_ok = 1;
    for (int i = 0; i < 5; i++) fields_ok = fields_ok && fields[i] <= 65536;
    c.vocab_size = (int)(fields_ok ? fields[0] : 0); c.block_size = (int)(fields_ok ? fields[1] : 0);
    c.n_layer = (int)(fields_ok ? fields[2] : 0);    c.n_head = (int)(fields_ok ? fields[3] : 0);
    c.n_embd = (int)(fields_ok ? fields[4] : 0);
    char why[O1P_ERR_LEN];
    if (!fields_ok || gpt_config_check(&c, why) != 0) {
        if (!fields_ok) snprintf(why, sizeof(why), "a config field is above 65536");
        seterr(err, "%s: impossible model config in checkpoint (%s); the file is corrupt, %s", path, why, redo);
        fclose(f);
        return -1;
    }
    uint32_t flags = get_u32(h + 32);
    if (flags > 1u || get_u32(h + 36) != 0) {
        seterr(err, "%s: unknown flags in checkpoint header; the file is corrupt, %s", path, redo);
        fclose(f);
        return -1;
    }
    TensorInfo info[NUM_PARAM_TENSORS];
    size_t expected_params;
    fill_param_info(info, &c, &expected_params);
    uint64_t num_params = get_u64(h + 48);
    if (num_params != expected_params) {
        seterr(err, "%s: parameter count %llu does not match the config (expected %zu); the file is corrupt, %s",
               path, (unsigned long long)num_params, expected_params, redo);
        fclose(f);
        return -1;
    }
    uint64_t arrays = flags & 1u ? 3 : 1;
    uint64_t expected_size = CKPT_HEADER + arrays * num_params * sizeof(float) + 4;
    if (file_size != expected_size) {
        seterr(err, "%s: %s checkpoint: %llu bytes, the header implies %llu; %s", path,
               file_size < expected_size ? "truncated" : "oversized", (unsigned long long)file_size,
               (unsigned long long)expected_size, redo);
        fclose(f);
        return -1;
    }
    gpt_build(model, &c);
    model->step = (long)get_u64(h + 40);
    size_t bytes = model->num_params * sizeof(float);
    float *m = NULL, *v = NULL;
    if (flags & 1u) {
        m = xcalloc(model->num_params, sizeof(float), "AdamW first moments");
        v = xcalloc(model->num_params, sizeof(float), "AdamW second moments");
    }
    unsigned char tail[4];
    int ok = fread(model->params, 1, bytes, f) == bytes && (!m || (fread(m, 1, bytes, f) == bytes && fread(v, 1, bytes, f) == bytes)) &&
             fread(tail, 1, 4, f) == 4;
    fclose(f);
    uint32_t crc = crc32_update(0, h, CKPT_HEADER);
    crc = crc32_update(crc, model->params, bytes);
    if (m) { crc = crc32_update(crc, m, bytes); crc = crc32_update(crc, v, bytes); }
    if (!ok || crc != get_u32(tail)) {
        seterr(err, "%s: %s; the file is corrupt, %s", path, ok ? "CRC-32 mismatch" : "read error", redo);
        free(m); free(v);
        gpt_free(model);
        return -1;
    }
    if (has_optimizer) {
        *has_optimizer = m != NULL;
        model->adam_m = m; /* gpt_alloc_training keeps these if already there */
        model->adam_v = v;
    } else {
        free(m); free(v);
        model->step = 0;
    }
    return 0;
}

/* ========================================================================================== */
/* the command line */
#ifndef O1P_NO_MAIN

static void usage(FILE *out) {
    fprintf(out,
            "usage: o1pruner <command> [flags]\n"
            "\n"
            "O1-Pruner (arXiv 2501.12570): fine-tune a long-thought model to reason shorter.\n"
            "\n"
            "commands:\n"
            "  run        the whole method end to end (what 'make run' calls)\n"
            "  help       this text\n"
            "\n"
            "Run 'o1pruner <command> --help' for a command's flags.\n");
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "run")) {
        printf("o1pruner run: the end-to-end pipeline (reference model, pre-sampling, pruning, report)\n"
               "is being built; this version ships the transformer core. See README.md.\n");
        return 0;
    }
    fprintf(stderr, "%s: unknown command '%s'; run 'o1pruner --help' for the list\n", program_name, cmd);
    return 2;
}
#endif
