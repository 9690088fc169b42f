/* test.c - the tests of o1pruner.c. `make test` builds and runs them; exit status 1 on any failure.
 *
 * Gradients are checked against central finite differences of an independent, naive
 * double-precision reimplementation of every layer (the `ref_*` functions below). In double, with
 * step h = 1e-5, the difference quotient is exact to ~1e-9, so what remains is the float32
 * rounding of the analytic gradient itself.
 */
#define O1P_NO_MAIN
#include "o1pruner.c"
#include <sys/wait.h>

static int tests_passed = 0, tests_failed = 0;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (cond) tests_passed++;                                              \
        else {                                                                 \
            tests_failed++;                                                    \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                        \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
        }                                                                      \
    } while (0)

/* the larger of two errors, and a NaN if either is one, so that a broken value fails its check
 * (fmax would drop it; gcc 12 also crashes vectorising some fmax reductions for arm64) */
static double worse(double a, double b) { return b > a || isnan(b) ? b : a; }

static void fill_uniform(float *x, size_t n, Rng *rng, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * rng_uniform(rng);
}

/* ========================================================================================== */
/* the double-precision reference: a plain transcription of README "Specification" */

static void ref_layernorm(double *out, const double *x, const double *w, const double *b, int N, int C) {
    for (int n = 0; n < N; n++) {
        double m = 0, v = 0;
        for (int i = 0; i < C; i++) m += x[n * C + i];
        m /= C;
        for (int i = 0; i < C; i++) v += (x[n * C + i] - m) * (x[n * C + i] - m);
        v /= C;
        for (int i = 0; i < C; i++) out[n * C + i] = (x[n * C + i] - m) / sqrt(v + 1e-5) * w[i] + b[i];
    }
}

static void ref_matmul(double *out, const double *x, const double *w, const double *bias, int N, int C,
                       int OC) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = bias ? bias[o] : 0;
            for (int i = 0; i < C; i++) s += x[n * C + i] * w[o * C + i];
            out[n * OC + o] = s;
        }
}

static void ref_attention(double *out, const double *qkv, int B, int T, int C, int H) {
    int hs = C / H;
    double *score = malloc(sizeof(double) * T);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const double *q = qkv + (b * T + t) * 3 * C + h * hs;
                double maxv = -1e300, sum = 0;
                for (int u = 0; u <= t; u++) {
                    const double *k = qkv + (b * T + u) * 3 * C + C + h * hs;
                    double s = 0;
                    for (int i = 0; i < hs; i++) s += q[i] * k[i];
                    score[u] = s / sqrt((double)hs);
                    if (score[u] > maxv) maxv = score[u];
                }
                for (int u = 0; u <= t; u++) sum += (score[u] = exp(score[u] - maxv));
                for (int i = 0; i < hs; i++) {
                    double y = 0;
                    for (int u = 0; u <= t; u++)
                        y += score[u] / sum * qkv[(b * T + u) * 3 * C + 2 * C + h * hs + i];
                    out[(b * T + t) * C + h * hs + i] = y;
                }
            }
    free(score);
}

static double ref_gelu1(double x) { return 0.5 * x * (1 + tanh(sqrt(2 / PI) * (x + 0.044715 * x * x * x))); }

static void ref_logprob(double *logprob, const double *logits, const int *targets, int N, int V) {
    for (int n = 0; n < N; n++) {
        double maxv = logits[n * V], sum = 0;
        for (int v = 1; v < V; v++) if (logits[n * V + v] > maxv) maxv = logits[n * V + v];
        for (int v = 0; v < V; v++) sum += exp(logits[n * V + v] - maxv);
        logprob[n] = targets[n] >= 0 ? logits[n * V + targets[n]] - maxv - log(sum) : 0;
    }
}

/* the whole model: masked mean NLL of targets, params in spec order (double copy); the logits
 * and per-token log-probs too if logits_out / logprob_out are not NULL */
static double ref_model_loss(const GPT *model, const double *params, const int *inp, const int *tgt,
                             const float *mask, int B, int T, double *logits_out, double *logprob_out) {
    const GPTConfig *c = &model->config;
    int L = c->n_layer, C = c->n_embd, H = c->n_head, V = c->vocab_size, N = B * T;
    const TensorInfo *ti = model->param_info;
    const double *wte = params + ti[0].offset, *wpe = params + ti[1].offset;
    double *x = malloc(sizeof(double) * N * C), *h = malloc(sizeof(double) * N * 4 * C);
    double *h2 = malloc(sizeof(double) * N * 4 * C), *y = malloc(sizeof(double) * N * C);
    double *logits = calloc((size_t)N * V, sizeof(double)), *lp = calloc((size_t)N, sizeof(double));
    for (int n = 0; n < N; n++)
        for (int i = 0; i < C; i++) x[n * C + i] = wte[inp[n] * C + i] + wpe[(n % T) * C + i];
    for (int l = 0; l < L; l++) {
        const double *ln1w = params + ti[2].offset + l * C, *ln1b = params + ti[3].offset + l * C;
        const double *qkvw = params + ti[4].offset + l * 3 * C * C, *qkvb = params + ti[5].offset + l * 3 * C;
        const double *apw = params + ti[6].offset + l * C * C, *apb = params + ti[7].offset + l * C;
        const double *ln2w = params + ti[8].offset + l * C, *ln2b = params + ti[9].offset + l * C;
        const double *fcw = params + ti[10].offset + l * 4 * C * C, *fcb = params + ti[11].offset + l * 4 * C;
        const double *fpw = params + ti[12].offset + l * 4 * C * C, *fpb = params + ti[13].offset + l * C;
        ref_layernorm(y, x, ln1w, ln1b, N, C);
        ref_matmul(h, y, qkvw, qkvb, N, C, 3 * C);
        ref_attention(y, h, B, T, C, H);
        ref_matmul(h2, y, apw, apb, N, C, C);
        for (int i = 0; i < N * C; i++) x[i] += h2[i];
        ref_layernorm(y, x, ln2w, ln2b, N, C);
        ref_matmul(h, y, fcw, fcb, N, C, 4 * C);
        for (int i = 0; i < N * 4 * C; i++) h[i] = ref_gelu1(h[i]);
        ref_matmul(h2, h, fpw, fpb, N, 4 * C, C);
        for (int i = 0; i < N * C; i++) x[i] += h2[i];
    }
    ref_layernorm(y, x, params + ti[14].offset, params + ti[15].offset, N, C);
    ref_matmul(logits, y, wte, NULL, N, C, V);
    ref_logprob(lp, logits, tgt, N, V);
    double loss = 0, weight = 0;
    for (int n = 0; n < N; n++) { loss -= mask[n] * lp[n]; weight += mask[n]; }
    if (logits_out) memcpy(logits_out, logits, sizeof(double) * (size_t)N * V);
    if (logprob_out) memcpy(logprob_out, lp, sizeof(double) * (size_t)N);
    free(x); free(h); free(h2); free(y); free(logits); free(lp);
    return loss / weight;
}

/* ========================================================================================== */
/* finite differences */

typedef double (*Objective)(const double *theta, void *ctx);

/* central differences of f at theta for the listed indices (all if idx == NULL) */
static void fd_gradient(Objective f, void *ctx, double *theta, const size_t *idx, size_t count,
                        double *grad) {
    const double h = 1e-5;
    for (size_t k = 0; k < count; k++) {
        size_t i = idx ? idx[k] : k;
        double saved = theta[i];
        theta[i] = saved + h; double fp = f(theta, ctx);
        theta[i] = saved - h; double fm = f(theta, ctx);
        theta[i] = saved;
        grad[k] = (fp - fm) / (2 * h);
    }
}

/* max |analytic - numeric| / max |numeric|: relative to the tensor's scale, so that entries whose
 * true gradient is ~0 do not turn float32 round-off into a huge elementwise ratio. */
static double grad_error(const float *analytic, const double *numeric, size_t n) {
    double maxdiff = 0, scale = 1e-12;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(analytic[i] - numeric[i]);
        if (d > maxdiff) maxdiff = d;
        if (fabs(numeric[i]) > scale) scale = fabs(numeric[i]);
    }
    return maxdiff / scale;
}

/* Tolerance for float32 analytic gradients against double finite differences. float32 rounds at
 * 6e-8 relative; the sums behind one gradient entry here have at most a few hundred terms and the
 * backward pass chains at most ~20 layers, so round-off stays near 1e-6 of the tensor's scale
 * (measured: <= 1e-6). 1e-4 leaves a wide margin, while any real error in a backward formula
 * (a wrong sign, factor, index or missing term) shows up at 1e-2..1. */
#define GRAD_TOL 1e-4

/* ------------------------------------------------------------------------------------------ */
/* per-layer checks: objective J = sum(layer(theta) * G) for a fixed random G */

typedef struct { int N, C, OC, B, T, H; const double *G; const int *targets; } LayerCtx;

static double *to_double(const float *x, size_t n) {
    double *d = malloc(sizeof(double) * n);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static double dot_with(const double *y, const double *G, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += y[i] * G[i];
    return s;
}

static double obj_layernorm(const double *th, void *vc) {
    LayerCtx *c = vc;
    double *y = malloc(sizeof(double) * c->N * c->C);
    ref_layernorm(y, th, th + c->N * c->C, th + c->N * c->C + c->C, c->N, c->C);
    double s = dot_with(y, c->G, (size_t)c->N * c->C);
    free(y);
    return s;
}

static double obj_matmul(const double *th, void *vc) {
    LayerCtx *c = vc;
    double *y = malloc(sizeof(double) * c->N * c->OC);
    ref_matmul(y, th, th + c->N * c->C, th + c->N * c->C + c->OC * c->C, c->N, c->C, c->OC);
    double s = dot_with(y, c->G, (size_t)c->N * c->OC);
    free(y);
    return s;
}

static double obj_attention(const double *th, void *vc) {
    LayerCtx *c = vc;
    double *y = malloc(sizeof(double) * c->B * c->T * c->C);
    ref_attention(y, th, c->B, c->T, c->C, c->H);
    double s = dot_with(y, c->G, (size_t)c->B * c->T * c->C);
    free(y);
    return s;
}

static double obj_gelu(const double *th, void *vc) {
    LayerCtx *c = vc;
    double s = 0;
    for (int i = 0; i < c->N; i++) s += ref_gelu1(th[i]) * c->G[i];
    return s;
}

static double obj_logprob(const double *th, void *vc) {
    LayerCtx *c = vc;
    double *lp = malloc(sizeof(double) * c->N);
    ref_logprob(lp, th, c->targets, c->N, c->OC);
    double s = dot_with(lp, c->G, (size_t)c->N);
    free(lp);
    return s;
}

/* encoder: theta = [wte (V,C), wpe (T,C)], ids fixed */
static double obj_encoder(const double *th, void *vc) {
    LayerCtx *c = vc;
    double s = 0;
    for (int n = 0; n < c->B * c->T; n++)
        for (int i = 0; i < c->C; i++)
            s += (th[c->targets[n] * c->C + i] + th[c->OC * c->C + (n % c->T) * c->C + i]) *
                 c->G[n * c->C + i];
    return s;
}

/* compare a float forward output with the double reference */
static double forward_error(const float *y, const double *yref, size_t n) {
    double maxdiff = 0, scale = 1e-12;
    for (size_t i = 0; i < n; i++) {
        if (fabs(y[i] - yref[i]) > maxdiff) maxdiff = fabs(y[i] - yref[i]);
        if (fabs(yref[i]) > scale) scale = fabs(yref[i]);
    }
    return maxdiff / scale;
}

static void check_layer_grad(const char *name, Objective f, LayerCtx *ctx, const float *theta_f,
                             const float *analytic, size_t n) {
    double *theta = to_double(theta_f, n), *numeric = malloc(sizeof(double) * n);
    fd_gradient(f, ctx, theta, NULL, n, numeric);
    double err = grad_error(analytic, numeric, n);
    printf("  %-10s backward vs finite differences: max rel error %.2e (%zu values)\n", name, err, n);
    CHECK(err < GRAD_TOL, "%s gradient error %.3e >= %.0e", name, err, GRAD_TOL);
    free(theta); free(numeric);
}

static void test_layer_gradients(void) {
    printf("layer gradients\n");
    Rng rng;
    rng_seed(&rng, 7, 0, 0);
    /* each layer at a small shape and at one that fills the kernels' blocks (LN_CHANNELS, the matmul
     * tile, ATT_LANES) with a remainder, so that every path of the vectorised loops is checked */
    for (int shape = 0; shape < 2; shape++) { /* layernorm: theta = [x (N,C), w (C), b (C)] */
        int N = 5, C = shape ? LN_CHANNELS + 8 : 12;
        size_t n = (size_t)N * C + 2 * C;
        float *th = malloc(sizeof(float) * n), *g = calloc(n, sizeof(float));
        float *y = malloc(sizeof(float) * N * C), *mean = malloc(sizeof(float) * N),
              *rstd = malloc(sizeof(float) * N);
        float *G = malloc(sizeof(float) * N * C);
        fill_uniform(th, n, &rng, -2, 2);
        fill_uniform(G, (size_t)N * C, &rng, -1, 1);
        double *Gd = to_double(G, (size_t)N * C);
        LayerCtx ctx = {.N = N, .C = C, .G = Gd};
        layernorm_forward(y, mean, rstd, th, th + N * C, th + N * C + C, N, C);
        double *thd = to_double(th, n), *yref = malloc(sizeof(double) * N * C);
        ref_layernorm(yref, thd, thd + N * C, thd + N * C + C, N, C);
        CHECK(forward_error(y, yref, (size_t)N * C) < 1e-5, "layernorm forward");
        layernorm_backward(g, g + N * C, g + N * C + C, G, th, th + N * C, mean, rstd, N, C);
        check_layer_grad("layernorm", obj_layernorm, &ctx, th, g, n);
        free(th); free(g); free(y); free(mean); free(rstd); free(G); free(Gd); free(thd); free(yref);
    }
    for (int shape = 0; shape < 2; shape++) { /* matmul: theta = [x (N,C), w (OC,C), bias (OC)] */
        int N = shape ? 2 * TILE_ROWS + 1 : 6, C = shape ? TILE_COLS + 1 : 5, OC = shape ? TILE_COLS + 8 : 20;
        size_t n = (size_t)N * C + (size_t)OC * C + OC;
        float *th = malloc(sizeof(float) * n), *g = calloc(n, sizeof(float));
        float *y = malloc(sizeof(float) * N * OC), *G = malloc(sizeof(float) * N * OC);
        float *scratch = malloc(sizeof(float) * matmul_scratch_floats(C, OC));
        fill_uniform(th, n, &rng, -1, 1);
        fill_uniform(G, (size_t)N * OC, &rng, -1, 1);
        double *Gd = to_double(G, (size_t)N * OC);
        LayerCtx ctx = {.N = N, .C = C, .OC = OC, .G = Gd};
        matmul_forward(y, th, th + N * C, th + N * C + OC * C, N, C, OC, scratch);
        double *thd = to_double(th, n), *yref = malloc(sizeof(double) * N * OC);
        ref_matmul(yref, thd, thd + N * C, thd + N * C + OC * C, N, C, OC);
        CHECK(forward_error(y, yref, (size_t)N * OC) < 1e-6, "matmul forward");
        matmul_backward(g, g + N * C, g + N * C + OC * C, G, th, th + N * C, N, C, OC, scratch);
        check_layer_grad("matmul", obj_matmul, &ctx, th, g, n);
        free(th); free(g); free(y); free(G); free(scratch); free(Gd); free(thd); free(yref);
    }
    for (int shape = 0; shape < 2; shape++) { /* attention: theta = qkv (B,T,3C) */
        int B = shape ? 1 : 2, T = shape ? ATT_LANES + 2 : 5, C = shape ? ATT_LANES + 4 : 8,
            H = shape ? 1 : 2;
        size_t n = (size_t)B * T * 3 * C;
        float *th = malloc(sizeof(float) * n), *g = calloc(n, sizeof(float));
        float *y = malloc(sizeof(float) * B * T * C), *G = malloc(sizeof(float) * B * T * C);
        float *att = malloc(sizeof(float) * B * H * T * T),
              *datt = calloc((size_t)B * H * T * T, sizeof(float));
        fill_uniform(th, n, &rng, -1.5f, 1.5f);
        fill_uniform(G, (size_t)B * T * C, &rng, -1, 1);
        double *Gd = to_double(G, (size_t)B * T * C);
        LayerCtx ctx = {.B = B, .T = T, .C = C, .H = H, .G = Gd};
        attention_forward(y, att, th, B, T, C, H);
        double *thd = to_double(th, n), *yref = malloc(sizeof(double) * B * T * C);
        ref_attention(yref, thd, B, T, C, H);
        CHECK(forward_error(y, yref, (size_t)B * T * C) < 1e-5, "attention forward");
        attention_backward(g, datt, G, th, att, B, T, C, H);
        check_layer_grad("attention", obj_attention, &ctx, th, g, n);
        free(th); free(g); free(y); free(G); free(att); free(datt); free(Gd); free(thd); free(yref);
    }
    for (int shape = 0; shape < 2; shape++) { /* GELU */
        int N = shape ? GELU_BLOCK + 40 : 40;
        float *x = malloc(sizeof(float) * N), *g = calloc(N, sizeof(float)), *y = malloc(sizeof(float) * N);
        float *G = malloc(sizeof(float) * N), *slope = malloc(sizeof(float) * N),
              *y2 = malloc(sizeof(float) * N);
        fill_uniform(x, N, &rng, -4, 4);
        fill_uniform(G, N, &rng, -1, 1);
        double *Gd = to_double(G, N);
        LayerCtx ctx = {.N = N, .G = Gd};
        gelu_forward(y, slope, x, N);
        double maxdiff = 0;
        for (int i = 0; i < N; i++) maxdiff = worse(maxdiff, fabs(y[i] - ref_gelu1(x[i])));
        CHECK(maxdiff < 1e-6, "gelu forward off by %g", maxdiff);
        gelu_backward(g, slope, G, N);
        check_layer_grad("gelu", obj_gelu, &ctx, x, g, N);
        /* without the slope (decoding), and with the slope written over the input (training) */
        gelu_forward(y2, NULL, x, N);
        CHECK(!memcmp(y, y2, sizeof(float) * N), "gelu forward without the slope differs");
        gelu_forward(y2, x, x, N);
        CHECK(!memcmp(y, y2, sizeof(float) * N) && !memcmp(x, slope, sizeof(float) * N),
              "gelu forward in place differs");
        free(x); free(g); free(y); free(G); free(Gd); free(slope); free(y2);
    }
    { /* encoder: theta = [wte (V,C), wpe (T,C)] */
        int B = 2, T = 4, C = 6, V = 5;
        int ids[8] = {1, 4, 1, 0, 3, 3, 2, 1};
        size_t n = (size_t)V * C + (size_t)T * C;
        float *th = malloc(sizeof(float) * n), *g = calloc(n, sizeof(float));
        float *y = malloc(sizeof(float) * B * T * C), *G = malloc(sizeof(float) * B * T * C);
        fill_uniform(th, n, &rng, -1, 1);
        fill_uniform(G, (size_t)B * T * C, &rng, -1, 1);
        double *Gd = to_double(G, (size_t)B * T * C);
        LayerCtx ctx = {.B = B, .T = T, .C = C, .OC = V, .G = Gd, .targets = ids};
        encoder_forward(y, ids, th, th + V * C, B, T, C);
        encoder_backward(g, g + V * C, G, ids, B, T, C);
        check_layer_grad("encoder", obj_encoder, &ctx, th, g, n);
        free(th); free(g); free(y); free(G); free(Gd);
    }
    { /* log-softmax at the targets (the cross-entropy layer), one position without a target */
        int N = 6, V = 7;
        int targets[6] = {0, 3, 6, -1, 2, 2};
        size_t n = (size_t)N * V;
        float *z = malloc(sizeof(float) * n), *g = calloc(n, sizeof(float)), *p = malloc(sizeof(float) * n);
        float lp[6], G[6];
        fill_uniform(z, n, &rng, -3, 3);
        fill_uniform(G, N, &rng, -1, 1);
        double *Gd = to_double(G, N), *zd = to_double(z, n), lpref[6];
        LayerCtx ctx = {.N = N, .OC = V, .G = Gd, .targets = targets};
        logprob_forward(lp, p, z, targets, N, V);
        ref_logprob(lpref, zd, targets, N, V);
        CHECK(forward_error(lp, lpref, N) < 1e-6, "logprob forward");
        logprob_backward(g, G, p, targets, N, V);
        check_layer_grad("logprob", obj_logprob, &ctx, z, g, n);
        free(z); free(g); free(p); free(Gd); free(zd);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* the whole model */

typedef struct { const GPT *model; const int *inp, *tgt; const float *mask; int B, T; } ModelCtx;

static double obj_model(const double *th, void *vc) {
    ModelCtx *c = vc;
    return ref_model_loss(c->model, th, c->inp, c->tgt, c->mask, c->B, c->T, NULL, NULL);
}

static void make_batch(int *inp, int *tgt, float *mask, int B, int T, int V, Rng *rng) {
    for (int i = 0; i < B * T; i++) {
        inp[i] = (int)(rng_u64(rng) % (uint64_t)V);
        tgt[i] = (int)(rng_u64(rng) % (uint64_t)V);
        mask[i] = rng_uniform(rng) < 0.75f ? 1.0f : 0.0f;
    }
    mask[0] = 1.0f;
    tgt[B * T - 1] = -1; /* a position without a target: must carry no gradient */
    mask[B * T - 1] = 0.0f;
}

static void test_model_gradient(void) {
    printf("model gradient\n");
    GPTConfig cfg = {.vocab_size = 11, .block_size = 9, .n_layer = 2, .n_head = 2, .n_embd = 16};
    GPT model;
    gpt_build(&model, &cfg);
    gpt_init_weights(&model, 42);
    /* larger than the init scale so that every layer's contribution is well above round-off */
    Rng rng;
    rng_seed(&rng, 3, 0, 0);
    for (size_t i = 0; i < model.num_params; i++) model.params[i] += 0.3f * (rng_uniform(&rng) - 0.5f);
    int B = 2, T = 7; /* T < block_size: positions beyond T are unused */
    gpt_alloc_training(&model, B, cfg.block_size);
    int inp[14], tgt[14];
    float mask[14];
    make_batch(inp, tgt, mask, B, T, cfg.vocab_size, &rng);
    gpt_forward(&model, inp, tgt, B, T);
    double loss = masked_mean_nll(model.logprob, mask, B * T, model.dlogprob);
    gpt_zero_grad(&model);
    gpt_backward(&model, inp, tgt, model.dlogprob);
    double *theta = to_double(model.params, model.num_params);
    ModelCtx ctx = {&model, inp, tgt, mask, B, T};
    double ref_loss = obj_model(theta, &ctx);
    CHECK(fabs(loss - ref_loss) < 1e-5 * fabs(ref_loss), "model loss %.9g vs double reference %.9g", loss,
          ref_loss);
    /* every tensor: all entries of small tensors, 96 spread over each large one (every layer) */
    for (int t = 0; t < NUM_PARAM_TENSORS; t++) {
        const TensorInfo *ti = &model.param_info[t];
        size_t count = ti->size < 96 ? ti->size : 96, idx[96];
        float analytic[96];
        double numeric[96];
        for (size_t k = 0; k < count; k++) {
            idx[k] = ti->offset +
                     (count == ti->size ? k : (k * ti->size) / count + rng_u64(&rng) % (ti->size / count));
            analytic[k] = model.grads[idx[k]];
        }
        fd_gradient(obj_model, &ctx, theta, idx, count, numeric);
        double err = grad_error(analytic, numeric, count);
        printf("  %-9s %3zu of %5zu entries: max rel error %.2e\n", ti->name, count, ti->size, err);
        CHECK(err < GRAD_TOL, "model gradient of %s: error %.3e", ti->name, err);
        /* wpe rows past T get no gradient at all */
        if (!strcmp(ti->name, "wpe")) {
            float worst = 0;
            for (size_t k = (size_t)T * cfg.n_embd; k < ti->size; k++)
                worst = worse(worst, fabsf(model.grads[ti->offset + k]));
            CHECK(worst == 0.0f, "unused positions got gradient %g", worst);
        }
    }
    free(theta);
    gpt_free(&model);
}

static void test_init_loss_and_overfit(void) {
    printf("init loss and overfitting\n");
    GPTConfig cfg = {.vocab_size = 18, .block_size = 32, .n_layer = 2, .n_head = 4, .n_embd = 32};
    GPT model;
    gpt_build(&model, &cfg);
    gpt_init_weights(&model, 1);
    int B = 4, T = 16;
    gpt_alloc_training(&model, B, T);
    Rng rng;
    rng_seed(&rng, 11, 0, 0);
    int inp[64], tgt[64];
    float mask[64];
    make_batch(inp, tgt, mask, B, T, cfg.vocab_size, &rng);
    gpt_forward(&model, inp, tgt, B, T);
    /* the expected loss over uniformly random targets, -mean_v log p(v), averaged over positions:
     * ln(V) for a uniform prediction; logits at init have std ~0.02*sqrt(C) = 0.11, which adds
     * about var/2 = 0.006 */
    double loss0 = 0.0;
    for (int n = 0; n < B * T; n++)
        for (int v = 0; v < 18; v++) loss0 -= log(model.a.probs[n * 18 + v]) / 18.0 / (B * T);
    printf("  expected loss at init %.4f, ln(V) = %.4f\n", loss0, log(18.0));
    CHECK(loss0 >= log(18.0) && loss0 - log(18.0) < 0.02, "init loss %.4f is not ~ln(18)", loss0);
    OptimConfig oc = {.lr_max = 1e-2f, .lr_min = 1e-2f, .warmup_steps = 1, .total_steps = 150,
                      .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f, .grad_clip = 1.0f};
    double loss = loss0;
    for (int step = 0; step < 150; step++) {
        gpt_forward(&model, inp, tgt, B, T);
        loss = masked_mean_nll(model.logprob, mask, B * T, model.dlogprob);
        gpt_zero_grad(&model);
        gpt_backward(&model, inp, tgt, model.dlogprob);
        clip_grad_norm(model.grads, model.num_params, oc.grad_clip);
        adamw_step(&model, &oc, lr_schedule(&oc, step));
    }
    printf("  loss after 150 steps on one fixed batch: %.4f\n", loss);
    CHECK(loss < 0.05, "did not overfit a fixed batch: loss %.4f", loss);
    gpt_free(&model);
}

/* ------------------------------------------------------------------------------------------ */
/* the optimizer */

static void test_adamw_clip_schedule(void) {
    printf("AdamW, clipping, schedule\n");
    GPTConfig cfg = {.vocab_size = 2, .block_size = 1, .n_layer = 1, .n_head = 1, .n_embd = 1};
    GPT model;
    gpt_build(&model, &cfg);
    gpt_alloc_training(&model, 1, 1);
    OptimConfig oc = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f};
    /* wte[0] is decayed, qkvb[0] is not */
    float *w = model.p.wte, *b = model.p.qkvb;
    w[0] = 1.0f; b[0] = 1.0f;
    model.g.wte[0] = 0.5f; model.g.qkvb[0] = -2.0f;
    adamw_step(&model, &oc, 0.1f);
    /* step 1: m = 0.1g, v = 0.05g^2, bias corrections 0.1 and 0.05 -> update = lr * g/|g|:
     * w = 1*(1 - 0.1*0.1) - 0.1 = 0.89 ; b = 1 + 0.1 = 1.1 (no decay) */
    CHECK(fabsf(w[0] - 0.89f) < 1e-6f, "AdamW step 1 decayed weight %.9g, expected 0.89", w[0]);
    CHECK(fabsf(b[0] - 1.1f) < 1e-6f, "AdamW step 1 bias %.9g, expected 1.1", b[0]);
    model.g.wte[0] = -1.0f;
    adamw_step(&model, &oc, 0.1f);
    /* step 2 by hand: m = 0.9*0.05 + 0.1*(-1) = -0.055; v = 0.95*0.0125 + 0.05*1 = 0.061875;
     * bc1 = 0.19, bc2 = 0.0975; w = 0.89*0.99 - (0.1/0.19) * (-0.055) / (sqrt(0.061875)/sqrt(0.0975) + 1e-8)
     *   = 0.8811 + 0.028947368 / 0.796615... = 0.8811 + 0.036338... = 0.917438... */
    double expect = 0.89 * 0.99 + (0.1 / 0.19) * 0.055 / (sqrt(0.061875) / sqrt(0.0975) + 1e-8);
    CHECK(fabs(w[0] - expect) < 1e-6, "AdamW step 2 weight %.9g, expected %.9g", w[0], expect);
    CHECK(model.step == 2, "step count %ld", model.step);
    gpt_free(&model);

    float g[3] = {3.0f, 4.0f, 0.0f};
    double norm = clip_grad_norm(g, 3, 1.0f);
    CHECK(fabs(norm - 5.0) < 1e-12 && fabsf(g[0] - 0.6f) < 1e-6f && fabsf(g[1] - 0.8f) < 1e-6f &&
                  g[2] == 0.0f,
          "clip to norm 1: norm %g -> (%g, %g, %g)", norm, g[0], g[1], g[2]);
    float h[2] = {0.3f, -0.4f};
    norm = clip_grad_norm(h, 2, 1.0f);
    CHECK(fabs(norm - 0.5) < 1e-7 && h[0] == 0.3f && h[1] == -0.4f,
          "a gradient under the limit must be untouched");

    OptimConfig s = {.lr_max = 1.0f, .lr_min = 0.1f, .warmup_steps = 10, .total_steps = 110};
    struct { long step; double lr; } table[] = {
        {0, 0.1}, {4, 0.5}, {9, 1.0}, {10, 1.0}, {60, 0.55}, {35, 0.1 + 0.45 * (1 + cos(PI * 0.25))},
        {109, 0.1 + 0.45 * (1 + cos(PI * 0.99))}, {110, 0.1}, {500, 0.1}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        float lr = lr_schedule(&s, table[i].step);
        CHECK(fabs(lr - table[i].lr) < 1e-6, "lr at step %ld: %.9g, expected %.9g", table[i].step, lr,
              table[i].lr);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* checkpoints */

static char tmpdir[256];

static void write_bytes(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

/* a whole file, NUL-terminated one byte past its end (n: its size); a file that cannot be read
 * gives an empty buffer, so that a failed save makes its tests fail instead of crashing them */
static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    long size = f && fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    *n = size > 0 ? (size_t)size : 0;
    unsigned char *d = calloc(*n + 1, 1);
    if (f && (fseek(f, 0, SEEK_SET) != 0 || fread(d, 1, *n, f) != *n)) *n = 0;
    if (f) fclose(f);
    return d;
}

/* load must fail, with a message naming the file and containing `expect` */
static void expect_load_error(const char *path, const char *expect, const char *what) {
    GPT m;
    char err[O1P_ERR_LEN] = "";
    int rc = checkpoint_load(&m, path, NULL, err);
    CHECK(rc != 0 && strstr(err, path) && strstr(err, expect), "%s: rc %d, message '%s' (wanted '%s')", what,
          rc, err, expect);
    if (rc == 0) gpt_free(&m);
}

static void test_checkpoints(void) {
    printf("checkpoints\n");
    GPTConfig cfg = {.vocab_size = 18, .block_size = 16, .n_layer = 2, .n_head = 2, .n_embd = 8};
    GPT model;
    gpt_build(&model, &cfg);
    gpt_init_weights(&model, 5);
    gpt_alloc_training(&model, 1, 1);
    for (size_t i = 0; i < model.num_params; i++) {
        model.adam_m[i] = (float)i;
        model.adam_v[i] = 1.0f / (float)(i + 1);
    }
    model.step = 123;
    char path[300], err[O1P_ERR_LEN];
    snprintf(path, sizeof(path), "%s/model.bin", tmpdir);
    CHECK(checkpoint_save(&model, path, 1, err) == 0, "save: %s", err);
    char tmp[320];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    CHECK(access(tmp, F_OK) != 0, "temporary file left behind");

    GPT back;
    int has_opt = 0;
    CHECK(checkpoint_load(&back, path, &has_opt, err) == 0, "load: %s", err);
    CHECK(!memcmp(&back.config, &cfg, sizeof(cfg)) && back.num_params == model.num_params,
          "config round trip");
    CHECK(!memcmp(back.params, model.params, model.num_params * sizeof(float)),
          "parameters not bit-identical");
    CHECK(has_opt && back.step == 123 &&
                  !memcmp(back.adam_m, model.adam_m, model.num_params * sizeof(float)) &&
                  !memcmp(back.adam_v, model.adam_v, model.num_params * sizeof(float)),
          "optimizer state round trip");
    gpt_free(&back);

    size_t n;
    unsigned char *good = read_bytes(path, &n);
    CHECK(n == 56 + 3 * model.num_params * 4 + 4, "file size %zu", n);
    if (n < 200 || n > 1000000) { /* and tells the compiler n is sane */
        free(good);
        gpt_free(&model);
        return;
    }
    CHECK(crc32_update(0, "123456789", 9) == 0xCBF43926u, "CRC-32 check value");
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/bad.bin", tmpdir);
    unsigned char *b = malloc(n + 1);

    expect_load_error("/nonexistent/model.bin", "cannot open", "missing file");
    write_bytes(bad, good, 0);
    expect_load_error(bad, "truncated", "empty file");
    write_bytes(bad, good, 30);
    expect_load_error(bad, "truncated", "truncated header");
    write_bytes(bad, good, n - 1);
    expect_load_error(bad, "truncated", "one byte short");
    memcpy(b, good, n); b[n] = 0;
    write_bytes(bad, b, n + 1);
    expect_load_error(bad, "oversized", "one byte extra");
    memcpy(b, good, n); b[0] = 'X';
    write_bytes(bad, b, n);
    expect_load_error(bad, "bad magic", "wrong magic");
    memcpy(b, good, n); put_u32(b + 8, 2);
    write_bytes(bad, b, n);
    expect_load_error(bad, "version 2", "wrong version");
    memcpy(b, good, n); put_u32(b + 24, 3); /* 3 heads do not divide 8 channels */
    write_bytes(bad, b, n);
    expect_load_error(bad, "impossible model config", "impossible config");
    memcpy(b, good, n); put_u32(b + 20, 0);
    write_bytes(bad, b, n);
    expect_load_error(bad, "impossible model config", "zero layers");
    memcpy(b, good, n); put_u32(b + 28, 0xFFFFFFFFu);
    write_bytes(bad, b, n);
    expect_load_error(bad, "impossible model config", "huge width");
    memcpy(b, good, n); put_u64(b + 40, (uint64_t)1 << 50);
    write_bytes(bad, b, n);
    expect_load_error(bad, "impossible optimizer step count", "huge step count");
    memcpy(b, good, n); put_u64(b + 48, 7);
    write_bytes(bad, b, n);
    expect_load_error(bad, "parameter count", "parameter count");
    memcpy(b, good, n); b[100] ^= 0x10;
    write_bytes(bad, b, n);
    expect_load_error(bad, "CRC-32 mismatch", "flipped bit in the parameters");
    /* every single corrupted byte, anywhere in a (tiny) checkpoint, is refused */
    GPTConfig tiny_cfg = {.vocab_size = 4, .block_size = 3, .n_layer = 1, .n_head = 1, .n_embd = 4};
    GPT tiny;
    gpt_build(&tiny, &tiny_cfg);
    gpt_init_weights(&tiny, 9);
    char tiny_path[300];
    snprintf(tiny_path, sizeof(tiny_path), "%s/tiny.bin", tmpdir);
    CHECK(checkpoint_save(&tiny, tiny_path, 0, err) == 0, "save: %s", err);
    gpt_free(&tiny);
    size_t tn;
    unsigned char *tgood = read_bytes(tiny_path, &tn), *tb = malloc(tn);
    int refused = 0;
    for (size_t i = 0; i < tn; i++) {
        memcpy(tb, tgood, tn);
        tb[i] ^= 0xA5;
        write_bytes(bad, tb, tn);
        GPT m;
        if (checkpoint_load(&m, bad, NULL, err) != 0 && strstr(err, bad)) refused++;
        else gpt_free(&m);
    }
    CHECK(refused == (int)tn, "only %d of %zu one-byte corruptions refused", refused, tn);
    printf("  %d of %zu one-byte corruptions refused with a message naming the file\n", refused, tn);
    free(tb); free(tgood);

    /* a save into a missing directory fails cleanly */
    snprintf(bad, sizeof(bad), "%s/no/such/dir/model.bin", tmpdir);
    CHECK(checkpoint_save(&model, bad, 0, err) != 0 && strstr(err, "cannot write"),
          "save into missing dir: %s", err);
    free(b); free(good);
    gpt_free(&model);
}

/* ------------------------------------------------------------------------------------------ */
/* determinism across thread counts */

static void test_thread_determinism(void) {
    printf("thread determinism: training steps (SFT and PPO-clip, with AdamW) for 1, 2 and 3 threads\n");
#ifndef _OPENMP
    printf("  skipped: built without OpenMP\n");
#else
    /* head size 36, 37 positions: every path of the attention kernels (see test_layer_gradients) */
    GPTConfig cfg = {.vocab_size = 18, .block_size = 40, .n_layer = 2, .n_head = 2, .n_embd = 72};
    int B = 3, T = 37;
    int inp[111], tgt[111];
    float mask[111], w[3] = {1.5f, -0.5f, 0.25f};
    double ref_sum[3];
    Rng rng;
    rng_seed(&rng, 9, 0, 0);
    make_batch(inp, tgt, mask, B, T, cfg.vocab_size, &rng);
    OptimConfig oc = {.lr_max = 1e-3f, .lr_min = 1e-3f, .warmup_steps = 0, .total_steps = 3, .beta1 = 0.9f,
                      .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f};
    float *logits[3], *grads[3], *params[3];
    for (int k = 0; k < 3; k++) {
        set_threads(k + 1);
        GPT model;
        gpt_build(&model, &cfg);
        gpt_init_weights(&model, 77);
        gpt_alloc_training(&model, B, T);
        size_t nl = (size_t)B * T * cfg.vocab_size;
        logits[k] = malloc(nl * sizeof(float));
        grads[k] = malloc(model.num_params * sizeof(float));
        params[k] = malloc(model.num_params * sizeof(float));
        for (int step = 0; step < 3; step++) { /* two SFT steps, then one PPO-clip step */
            gpt_forward(&model, inp, tgt, B, T);
            if (step < 2) {
                masked_mean_nll(model.logprob, mask, B * T, model.dlogprob);
            } else {
                ppo_clip_loss(model.logprob, mask, ref_sum, w, B, T, RATIO_MEAN, 0.2f, model.dlogprob, NULL);
            }
            if (step == 0) {
                memcpy(logits[k], model.a.logits, nl * sizeof(float));
                for (int b = 0; b < B; b++) { /* pi_ref: the initial model */
                    ref_sum[b] = 0;
                    for (int t = 0; t < T; t++)
                        ref_sum[b] += (double)mask[b * T + t] * model.logprob[b * T + t];
                }
            }
            gpt_zero_grad(&model);
            gpt_backward(&model, inp, tgt, model.dlogprob);
            if (step == 0) memcpy(grads[k], model.grads, model.num_params * sizeof(float));
            clip_grad_norm(model.grads, model.num_params, oc.grad_clip);
            adamw_step(&model, &oc, lr_schedule(&oc, step));
        }
        memcpy(params[k], model.params, model.num_params * sizeof(float));
        if (k > 0) {
            CHECK(!memcmp(logits[0], logits[k], nl * sizeof(float)), "logits differ between 1 and %d threads",
                  k + 1);
            CHECK(!memcmp(grads[0], grads[k], model.num_params * sizeof(float)),
                  "gradients differ between 1 and %d threads", k + 1);
            CHECK(!memcmp(params[0], params[k], model.num_params * sizeof(float)),
                  "parameters after 2 SFT + 1 PPO steps differ between 1 and %d threads", k + 1);
        }
        gpt_free(&model);
    }
    for (int k = 0; k < 3; k++) { free(logits[k]); free(grads[k]); free(params[k]); }
    set_threads(2);
#endif
}


/* The matmul kernel reads the weights packed into panels and the activations in place, on any
 * number of threads: the same bits as plain loops in float that add each output's terms in order
 * from its first term (bias, 0, or the gradient so far). Shapes with an edge in every direction. */
static void test_matmul_bits(void) {
    printf("matmul: weights in panels, 1 and 3 threads, the bits of plain loops in order\n");
    Rng rng;
    rng_seed(&rng, 11, 0, 0);
    int shapes[3][3] = {{2 * TILE_ROWS + 1, TILE_COLS + 3, 2 * TILE_COLS + 5},
                        {2 * TILE_ROWS + 1, 4 * TILE_COLS + 1, TILE_COLS + 3},
                        {3 * TILE_ROWS - 1, TILE_COLS + 3, 4 * TILE_COLS + 5}};
    for (int sh = 0; sh < 3; sh++) {
        int N = shapes[sh][0], C = shapes[sh][1], OC = shapes[sh][2];
        size_t nc = (size_t)N * C, no = (size_t)N * OC, oc = (size_t)OC * C;
        float *x = malloc(sizeof(float) * nc), *w = malloc(sizeof(float) * oc);
        float *bias = malloc(sizeof(float) * OC), *dout = malloc(sizeof(float) * no);
        float *y = malloc(sizeof(float) * no), *y_ref = malloc(sizeof(float) * no);
        float *dx = malloc(sizeof(float) * nc), *dx_ref = malloc(sizeof(float) * nc);
        float *dw = malloc(sizeof(float) * oc), *dw_ref = malloc(sizeof(float) * oc);
        float *db = malloc(sizeof(float) * OC), *db_ref = malloc(sizeof(float) * OC);
        float *scratch = malloc(sizeof(float) * matmul_scratch_floats(C, OC));
        fill_uniform(x, nc, &rng, -1, 1);
        fill_uniform(w, oc, &rng, -1, 1);
        fill_uniform(bias, OC, &rng, -1, 1);
        fill_uniform(dout, no, &rng, -1, 1); fill_uniform(dw_ref, oc, &rng, -1, 1);
        fill_uniform(db_ref, OC, &rng, -1, 1);
        for (int n = 0; n < N; n++) /* the plain loops, each sum in order */
            for (int o = 0; o < OC; o++) {
                float acc = bias[o];
                for (int c = 0; c < C; c++) acc += x[(size_t)n * C + c] * w[(size_t)o * C + c];
                y_ref[(size_t)n * OC + o] = acc;
            }
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {
                float acc = 0.0f;
                for (int o = 0; o < OC; o++) acc += dout[(size_t)n * OC + o] * w[(size_t)o * C + c];
                dx_ref[(size_t)n * C + c] = acc;
            }
        float *dw0 = malloc(sizeof(float) * oc), *db0 = malloc(sizeof(float) * OC);
        memcpy(dw0, dw_ref, sizeof(float) * oc);
        memcpy(db0, db_ref, sizeof(float) * OC);
        for (int o = 0; o < OC; o++) {
            for (int c = 0; c < C; c++)
                for (int n = 0; n < N; n++)
                    dw_ref[(size_t)o * C + c] += dout[(size_t)n * OC + o] * x[(size_t)n * C + c];
            for (int n = 0; n < N; n++) db_ref[o] += dout[(size_t)n * OC + o];
        }
        for (int threads = 1; threads <= 3; threads += 2) {
            set_threads(threads);
            memcpy(dw, dw0, sizeof(float) * oc);
            memcpy(db, db0, sizeof(float) * OC);
            matmul_forward(y, x, w, bias, N, C, OC, scratch);
            matmul_backward(dx, dw, db, dout, x, w, N, C, OC, scratch);
            CHECK(!memcmp(y, y_ref, sizeof(float) * no), "matmul forward %dx%d->%d, %d thread(s)", N, C, OC,
                  threads);
            CHECK(!memcmp(dx, dx_ref, sizeof(float) * nc), "matmul dinp %dx%d->%d, %d thread(s)", N, C, OC,
                  threads);
            CHECK(!memcmp(dw, dw_ref, sizeof(float) * oc), "matmul dweight %dx%d->%d, %d thread(s)", N, C, OC,
                  threads);
            CHECK(!memcmp(db, db_ref, sizeof(float) * OC), "matmul dbias %dx%d->%d, %d thread(s)", N, C, OC,
                  threads);
        }
        free(x); free(w); free(bias); free(dout); free(y); free(y_ref); free(dx); free(dx_ref);
        free(dw); free(dw_ref); free(db); free(db_ref); free(scratch); free(dw0); free(db0);
    }
    set_threads(2);
}

/* ------------------------------------------------------------------------------------------ */
/* KV-cache decoding */

static void test_kv_cache(void) {
    printf("KV-cache decoding\n");
    /* head size 36 and 37 positions: full and partial ATT_LANES tiles of the key cache, and a remainder */
    GPTConfig cfg = {.vocab_size = 18, .block_size = ATT_LANES + 8, .n_layer = 2, .n_head = 2,
                     .n_embd = 2 * (ATT_LANES + 4)};
    GPT model;
    gpt_build(&model, &cfg);
    gpt_init_weights(&model, 21);
    Rng rng;
    rng_seed(&rng, 4, 0, 0);
    for (size_t i = 0; i < model.num_params; i++) model.params[i] += 0.2f * (rng_uniform(&rng) - 0.5f);
    /* B sequences, more than DECODE_PARALLEL_MIN, so that steps run both on one thread and split
     * over 3 threads (uneven shares: every edge of the decoder's matmul tiles) */
    enum { B = DECODE_PARALLEL_MIN + 3, T = ATT_LANES + 5 };
    int V = cfg.vocab_size;
    gpt_alloc_training(&model, B, T);
    static int tokens[B * T];
    for (int i = 0; i < B * T; i++) tokens[i] = (int)(rng_u64(&rng) % (uint64_t)V);
    gpt_forward(&model, tokens, NULL, B, T);
    DecodeState st;
    decode_state_alloc(&st, &cfg, B + 1);
    decode_prepare(&st, &model);
    /* sequence b sits in slot (7b + 3) mod (B + 1) and begins at step 2b, so each step mixes
     * positions, and the number of sequences decoded together rises and falls */
    double worst = 0.0, scale = 0.0;
    int exact = 1;
    set_threads(3);
    for (int step = 0; step < T + 2 * B; step++) {
        int slot[B], tok[B], pos[B], which[B], n = 0;
        for (int b = 0; b < B; b++) {
            int t = step - 2 * b;
            if (t < 0 || t >= T) continue;
            slot[n] = (7 * b + 3) % (B + 1); tok[n] = tokens[b * T + t]; pos[n] = t; which[n] = b; n++;
        }
        if (!n) continue;
        gpt_decode_step(&model, &st, slot, tok, pos, n);
        for (int i = 0; i < n; i++) {
            const float *full = model.a.logits + ((size_t)which[i] * T + pos[i]) * V,
                        *inc = st.logits + (size_t)i * V;
            for (int v = 0; v < V; v++) {
                worst = worse(worst, fabs(full[v] - inc[v]));
                scale = worse(scale, fabs(full[v]));
                exact &= full[v] == inc[v];
            }
        }
    }
    printf("  logits of every position: max |cached - full| = %.3g (%s)\n", worst,
           exact ? "bitwise equal" : "not bitwise equal");
    CHECK(exact, "KV-cache logits differ from the full forward pass by %g (scale %g)", worst, scale);
    /* a sequence's logits are the same bits whatever else is in its batch and however long the
     * batch is: what lets the sampler's log pi_ref stand for a forward pass in any batch */
    enum { T2 = T - 3 };
    int pick[2] = {5, 0}, same = 1;
    static int pair[2 * T2];
    float *full = xmalloc(sizeof(float) * B * T * (size_t)V, "test");
    memcpy(full, model.a.logits, sizeof(float) * B * T * (size_t)V);
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < T2; t++) pair[r * T2 + t] = tokens[pick[r] * T + t];
    gpt_forward(&model, pair, NULL, 2, T2);
    for (int r = 0; r < 2; r++)
        for (int i = 0; i < T2 * V; i++) same &= model.a.logits[r * T2 * V + i] == full[pick[r] * T * V + i];
    printf("  two sequences, shortened, in a batch of their own: %s\n", same ? "bitwise equal" : "differ");
    CHECK(same, "a sequence's logits depend on the other sequences of its batch or on its length");
    free(full);
    set_threads(2);
    decode_state_free(&st);
    gpt_free(&model);
}

/* ------------------------------------------------------------------------------------------ */
/* the task */

static void test_task(void) {
    printf("task: teacher, grading, splits\n");
    /* every character's token: its index in VOCAB, or -1 (tcc once broke this with two copies of
     * the literal) */
    int bad_tokens = 0;
    for (int c = 0; c < 256; c++) {
        int want = -1;
        for (int i = 0; i < VOCAB_SIZE; i++)
            if ((unsigned char)VOCAB[i] == c && c != 0) want = i;
        bad_tokens += token_of((char)c) != want;
    }
    CHECK(bad_tokens == 0, "%d characters map to the wrong token", bad_tokens);
    Rng rng;
    rng_seed(&rng, 99, 0, 0);
    int bad_teacher = 0, bad_minimal = 0, bad_parse = 0, bad_extremes = 0;
    for (int trial = 0; trial < 5000; trial++) {
        Problem p, q;
        draw_digits(&p, MIN_TERMS + trial % (MAX_TERMS - MIN_TERMS + 1), &rng);
        char prompt[64], trace[256], err[O1P_ERR_LEN];
        int pl = prompt_text(&p, prompt);
        bad_parse += parse_prompt(prompt, pl, &q, err) != 0 || q.n != p.n ||
                     memcmp(q.digits, p.digits, sizeof(int) * (size_t)p.n);
        int len = teacher_trace(&p, rng_uniform(&rng), &rng, trace);
        bad_teacher += !grade_response(&p, trace, len) || len != (int)strlen(trace);
        len = minimal_trace(&p, trace);
        bad_minimal += len != minimal_length(p.n) || !grade_response(&p, trace, len);
        /* p = 0: exactly the minimal trace; p = 1: every verification and the restart */
        char t0[256], t1[256];
        int l0 = teacher_trace(&p, 0.0f, &rng, t0), l1 = teacher_trace(&p, 1.0f, &rng, t1);
        bad_extremes += strcmp(t0, trace) != 0 || l0 != minimal_length(p.n) ||
                        l1 != minimal_length(p.n) + 9 * (p.n - 1) + 1 + 8 * (p.n - 1);
    }
    CHECK(bad_teacher == 0, "%d teacher traces are wrong", bad_teacher);
    CHECK(bad_minimal == 0, "%d minimal traces are wrong or of the wrong length", bad_minimal);
    CHECK(bad_parse == 0, "%d prompts do not parse back", bad_parse);
    CHECK(bad_extremes == 0, "%d teacher traces at p = 0 or 1 are not as specified", bad_extremes);
    Problem ex = {.n = 4, .digits = {3, 5, 2, 7}};
    char buf[256];
    minimal_trace(&ex, buf);
    CHECK(!strcmp(buf, "03+5=08,08+2=10,10+7=17,A17$"), "minimal trace of 3+5+2+7: %s", buf);
    prompt_text(&ex, buf);
    CHECK(!strcmp(buf, "3+5+2+7="), "prompt: %s", buf);

    /* grading: only a final "A<sum>$" counts */
    struct { const char *response; int correct; } table[] = {{"03+5=08,08+2=10,10+7=17,A17$", 1},
                 {"A17$", 1},
                 {"v03+5=08,r,,A17$", 1},
                 {"A017$", 1},
                 {"03+5=08,08+2=10,10+7=17,A18$", 0},
                 {"03+5=08,08+2=10,10+7=17,A17", 0},
                 {"17$", 0},
                 {"A$", 0},
                 {"", 0},
                 {"$", 0},
                 {"A1$", 0},
                 {"A0017$", 0},
                 {"A17$A18$", 0},
                 {"A18$A17$", 1},
                 {"+17$", 0}};
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        int got = grade_response(&ex, table[i].response, (int)strlen(table[i].response));
        CHECK(got == table[i].correct, "grade(\"%s\") = %d, expected %d", table[i].response, got,
              table[i].correct);
    }
    const char *bad_prompts[] = {"3+5", "3+5=7", "3=", "0+5=", "3++5=", "3+5+2+7+1+1+1=", "a+b=", "35=", ""};
    for (size_t i = 0; i < sizeof(bad_prompts) / sizeof(bad_prompts[0]); i++) {
        Problem p;
        char err[O1P_ERR_LEN];
        CHECK(parse_prompt(bad_prompts[i], (int)strlen(bad_prompts[i]), &p, err) != 0,
              "prompt \"%s\" accepted", bad_prompts[i]);
    }

    /* the splits: the generator reproduces data/, and no test problem appears anywhere else */
    TestSet *ts = malloc(sizeof(TestSet));
    make_test_set(ts, TASK_SEED);
    long sorted[1024];
    memcpy(sorted, ts->keys, sizeof(long) * (size_t)ts->count);
    qsort(sorted, (size_t)ts->count, sizeof(long), cmp_long);
    for (int i = 0; i < 4; i++) {
        int lines;
        char *text = split_text(split_names[i], TASK_SEED, &lines), path[64];
        snprintf(path, sizeof(path), "data/%s.txt", split_names[i]);
        size_t n = 0;
        FILE *f = fopen(path, "rb");
        unsigned char *shipped = f ? (fclose(f), read_bytes(path, &n)) : NULL;
        CHECK(shipped && n == strlen(text) && !memcmp(shipped, text, n),
              "%s differs from what the generator writes (run 'o1pruner data')", path);
        Dataset ds;
        char err[O1P_ERR_LEN];
        CHECK(dataset_load(&ds, path, 160, err) == 0, "%s", err);
        int overlap = 0, level[MAX_TERMS + 1] = {0};
        for (int j = 0; j < ds.count; j++) {
            level[ds.ex[j].problem.n]++;
            if (strcmp(split_names[i], "test") != 0)
                overlap += in_test_set(sorted, ts->count, &ds.ex[j].problem);
        }
        CHECK(overlap == 0, "%d problems of %s are in the test split", overlap, path);
        printf("  %-15s %6d problems, n=2..6: %d %d %d %d %d, %d in the test split\n", path, ds.count,
               level[2], level[3], level[4], level[5], level[6], overlap);
        dataset_free(&ds);
        free(shipped);
        free(text);
    }
    free(ts);
}

/* Our elementary functions (o1pruner.c section 1) against libm in long double, on the domains
 * they serve: within their documented error in units of the last place (ulp) */
static double ulp_of(long double y, int float_type) {
    if (float_type) {
        float a = (float)fabsl(y);
        return a < FLT_MIN ? 0x1p-149 : nextafterf(a, INFINITY) - a;
    }
    double a = (double)fabsl(y);
    return a < DBL_MIN ? 0x1p-1074 : nextafter(a, INFINITY) - a;
}

static void test_elementary(void) {
    printf("elementary functions: exp, log, log1p, cos, pow of our own\n");
    if (LDBL_MANT_DIG < 64) {
        printf("  (no accuracy check: long double has only %d bits here)\n", LDBL_MANT_DIG);
        return;
    }
    Rng rng;
    rng_seed(&rng, 21, 0, 0);
    double err[6] = {0}, cos_abs = 0; /* exp_f32 exp_f64 log log1p cos pow */
    for (int i = 0; i < 20000; i++) {
        double u = (double)(rng_u64(&rng) >> 11) * 0x1p-53;
        float xf = -104.0f + 192.7f * (float)u;
        long double y = expl((long double)xf);
        if (y < FLT_MAX) err[0] = worse(err[0], fabsl(exp_f32(xf) - y) / ulp_of(y, 1));
        double x = -745.0 + 1454.5 * u;
        y = expl((long double)x);
        if (y < DBL_MAX) err[1] = worse(err[1], fabsl(exp_f64(x) - y) / ulp_of(y, 0));
        x = exp(-700.0 + 1400.0 * u); /* log over the whole range */
        y = logl((long double)x);
        err[2] = worse(err[2], fabsl(log_f64(x) - y) / ulp_of(y, 0));
        x = exp(-60.0 + 60.0 * u); /* log1p on (0, 1], as DPO uses it */
        y = log1pl((long double)x);
        err[3] = worse(err[3], fabsl(log1p_f64(x) - y) / ulp_of(y, 0));
        x = 2 * PI * u; /* cos on [0, 2 pi]: relative error, and absolute where cos is near 0 */
        y = cosl((long double)x);
        if (fabsl(y) > 1e-3) err[4] = worse(err[4], fabsl(cos_f64(x) - y) / ulp_of(y, 0));
        cos_abs = worse(cos_abs, fabsl(cos_f64(x) - y));
        long n = (long)(rng_u64(&rng) % 20000);
        double b = 0.9 + 0.0999 * u; /* AdamW's bias corrections: beta^step */
        y = powl((long double)b, (long double)n);
        if (y > 1e-290) err[5] = worse(err[5], fabsl(powi_f64(b, n) - y) / ulp_of(y, 0));
    }
    printf("  max error in ulp: expf %.2f, exp %.2f, log %.2f, log1p %.2f, cos %.2f (abs %.1e), pow %.2f\n",
           err[0], err[1], err[2], err[3], err[4], cos_abs, err[5]);
    CHECK(err[0] <= 1.25 && err[1] <= 1.25 && err[2] <= 1.0 && err[3] <= 1.25 && err[4] <= 1.5 &&
              cos_abs < 2e-16 && err[5] <= 0.51,
          "an elementary function beyond its documented error");
    CHECK(exp_f32(0.0f) == 1.0f && exp_f64(0.0) == 1.0 && log_f64(1.0) == 0.0 && log1p_f64(0.0) == 0.0 &&
              cos_f64(0.0) == 1.0 && powi_f64(0.95, 0) == 1.0 && powi_f64(0.5, 3) == 0.125,
          "exact values");
    CHECK(isinf(exp_f32(100.0f)) && exp_f32(-200.0f) == 0.0f && isinf(exp_f64(1000.0)) &&
              exp_f64(-1000.0) == 0.0 && exp_f32(-100.0f) > 0.0f && exp_f32(-100.0f) < FLT_MIN,
          "exp at its limits: inf, 0, denormals");
}

/* the (value, index) sort keys: an epoch's batches hold consecutive lengths, ties by index; the
 * length quartiles rank by length, ties by index (both once broke where a long has 32 bits) */
static void test_sort_keys(void) {
    printf("sort keys: batch order and length quartiles\n");
    enum { BATCH = 4, N = 2 * BATCH * BUCKET_BATCHES + 5 };
    int length[N], order[N], seen[N] = {0}, bad = 0;
    Rng rng;
    rng_seed(&rng, 3, 0, 0);
    for (int i = 0; i < N; i++) length[i] = 1 + (int)(rng_u64(&rng) % 7); /* many ties */
    epoch_order(order, N, length, BATCH, 11, 0);
    for (int i = 0; i < N; i++) seen[order[i]]++;
    for (int i = 0; i < N; i++) bad += seen[i] != 1;
    CHECK(bad == 0, "epoch_order is not a permutation (%d examples not once)", bad);
    for (int c0 = 0; c0 + BATCH * BUCKET_BATCHES <= N; c0 += BATCH * BUCKET_BATCHES) {
        uint64_t sorted[BATCH * BUCKET_BATCHES];
        for (int i = 0; i < BATCH * BUCKET_BATCHES; i++)
            sorted[i] = sort_key(length[order[c0 + i]], order[c0 + i]);
        qsort(sorted, BATCH * BUCKET_BATCHES, sizeof(uint64_t), cmp_u64);
        for (int b = 0; b < BUCKET_BATCHES; b++) { /* a batch is a run of the sorted chunk, in order */
            const int *batch = order + c0 + b * BATCH;
            int at = 0;
            while (at < BATCH * BUCKET_BATCHES && key_index(sorted[at]) != batch[0]) at++;
            for (int i = 0; i < BATCH; i++)
                bad += at + i >= BATCH * BUCKET_BATCHES || key_index(sorted[at + i]) != batch[i];
        }
    }
    CHECK(bad == 0, "%d examples of the epoch's batches out of (length, index) order", bad);
    /* 8 responses: sorted by (length, index) they are 3 7 | 1 5 | 0 2 | 6 4 */
    Problem p = {.n = 2, .digits = {1, 2}};
    int len[8] = {5, 3, 5, 1, 9, 3, 7, 2}, right[8] = {0, 1, 1, 0, 0, 0, 0, 0};
    Response r[8];
    char text[8][4] = {"A3$", "A3$", "A3$", "A3$", "A3$", "A3$", "A3$", "A3$"};
    for (int i = 0; i < 8; i++)
        r[i] = (Response){.length = len[i], .finished = 1, .correct = right[i], .text = text[i]};
    EvalStats es;
    tally_responses(&es, &p, r, 1, 8);
    const Tally *q = es.quartile;
    CHECK(q[0].length_sum == 3 && q[1].length_sum == 6 && q[2].length_sum == 10 && q[3].length_sum == 16 &&
              q[0].correct == 0 && q[1].correct == 1 && q[2].correct == 1 && q[3].correct == 0,
          "length quartiles: lengths %g %g %g %g", q[0].length_sum, q[1].length_sum, q[2].length_sum,
          q[3].length_sum);
}

static void test_dataset_errors(void) {
    printf("dataset validation\n");
    struct { const char *text, *expect; } table[] = {
            {"3+5=03+5=08,A08$\n3+5=03+5=08,A09$\n", ":2: the trace does not end in the right answer"},
            {"3+5=03+5=08,A08$\nhello\n", ":2: character outside the vocabulary"},
            {"3+5+03+5=08,A08$\n", ":1: term 3 is '0'"},
            {"3+5=03+5=08,A08$\n3+5+2=A10$\n3*5=A15$\n", ":3: character outside the vocabulary"},
            {"3+5+2+1+1+1+1=A14$\n", ":1: more than 6 terms"},
            {"3+5=03+5=08,A08$\n0+5=05,A05$\n", ":2: term 1 is '0'"},
            {"3+5A08$\n", ":1: no '=' ending a prompt"},
            {"3+5=A08$A08$\n", ":1: '$' before the end"},
            {"3+5=03+5=08,A08$\n3+5=..A08$\n", ":2: character outside the vocabulary"},
            {"", "0 lines"},
            {"3+5=000000000000000000000000000000000000000000000000000000000000000000000000000000000"
             "000000000000000000000000000000000000000000000000000000000000000000000000000000000A08$\n",
             ":1: 170 characters, the model's context holds 160"},
    };
    char path[300], err[O1P_ERR_LEN];
    snprintf(path, sizeof(path), "%s/bad.txt", tmpdir);
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        write_bytes(path, (const unsigned char *)table[i].text, strlen(table[i].text));
        Dataset ds;
        int rc = dataset_load(&ds, path, 160, err);
        CHECK(rc != 0 && strstr(err, path) && strstr(err, table[i].expect),
              "case %zu: rc %d, '%s' (wanted '%s')", i, rc, err, table[i].expect);
        if (rc == 0) dataset_free(&ds);
    }
    write_bytes(path, (const unsigned char *)"3+5=03+5=08,A08$\n2+2+2=A06$", 27); /* no final newline: fine */
    Dataset ds;
    CHECK(dataset_load(&ds, path, 160, err) == 0 && ds.count == 2 && ds.ex[1].length == 10 &&
                  ds.ex[1].prompt_len == 6,
          "a valid file without a final newline: %s", err);
    dataset_free(&ds);
    /* a text file of 2 GiB is refused by its size, before anything is read or allocated: a sparse
     * file, so it costs no disk (a 32-bit off_t cannot even make one: skipped there) */
    if (sizeof(off_t) >= 8) {
        snprintf(path, sizeof(path), "%s/huge.txt", tmpdir);
        FILE *f = fopen(path, "wb");
        int made = f && ftruncate(fileno(f), (off_t)((intmax_t)1 << 31)) == 0;
        if (f) fclose(f);
        char *buffer = NULL;
        size_t size;
        int rc = made ? read_text_file(path, "hint", &buffer, &size, err) : -1;
        CHECK(made && rc != 0 && strstr(err, "under 2 GiB") && !buffer,
              "a 2 GiB file: made %d, rc %d, '%s'", made, rc, err);
        remove(path);
    } else {
        printf("  (no test of a 2 GiB file: off_t has %d bits here)\n", (int)(8 * sizeof(off_t)));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* sampling */

/* how many of the sequences of ds carry a log-prob (logprob[i], summed over the response) that is
 * not, to the bit, what a forward pass of the model gives them, in batches of B <= 64 in order
 * (so of mixed lengths). prune's Eq. 11 reads pi_ref's from pre-sampling. The model's training
 * buffers hold B x block_size. */
static int logprobs_unlike_forward(GPT *model, const Dataset *ds, const double *logprob, int B) {
    int idx[64], T_max = model->config.block_size, wrong = 0;
    size_t cells = (size_t)(B * T_max);
    int *inputs = malloc(sizeof(int) * cells), *targets = malloc(sizeof(int) * cells);
    float *mask = malloc(sizeof(float) * cells);
    double sum[64];
    for (int b0 = 0; b0 < ds->count; b0 += B) {
        int n = ds->count - b0 < B ? ds->count - b0 : B;
        for (int i = 0; i < n; i++) idx[i] = b0 + i;
        int T = make_sft_batch(ds, idx, n, inputs, targets, mask);
        gpt_forward(model, inputs, targets, n, T);
        sequence_logprobs(model->logprob, mask, n, T, sum);
        for (int i = 0; i < n; i++) wrong += memcmp(&sum[i], &logprob[b0 + i], sizeof(double)) != 0;
    }
    free(inputs); free(targets); free(mask);
    return wrong;
}

/* the same for n <= 64 generated responses, k per problem, in one batch */
static int responses_unlike_forward(GPT *model, const Problem *problems, int k, const Response *r, int n) {
    static char text[64][200];
    Example ex[64];
    double logprob[64];
    if (n > 64) return n;
    for (int i = 0; i < n; i++) {
        int prompt_len = prompt_text(&problems[i / k], text[i]);
        snprintf(text[i] + prompt_len, sizeof(text[i]) - (size_t)prompt_len, "%s", r[i].text);
        ex[i] = (Example){.problem = problems[i / k], .prompt_len = prompt_len,
                          .length = prompt_len + r[i].length, .text = text[i]};
        logprob[i] = r[i].logprob;
    }
    Dataset ds = {.ex = ex, .count = n, .buffer = NULL};
    return logprobs_unlike_forward(model, &ds, logprob, n);
}

static void test_sampling(void) {
    printf("sampling\n");
    /* the sampler: greedy is the first argmax; temperature -> 0 gives the same token */
    float logits[6] = {0.3f, 2.0f, -1.0f, 2.0f, 1.99f, 0.0f};
    Rng rng;
    rng_seed(&rng, 5, 0, 0);
    CHECK(sample_token(logits, 6, 0.0f, 1.0f, &rng) == 1, "greedy must pick the first maximum");
    int agree = 1;
    float sharp[5] = {0.5f, -0.2f, 1.7f, 1.6f, 0.0f};
    for (int i = 0; i < 200; i++) agree &= sample_token(sharp, 5, 1e-3f, 1.0f, &rng) == 2;
    CHECK(agree, "temperature 1e-3 must give the argmax");
    /* top-p 0.5 over probabilities (0.5, 0.3, 0.2) keeps only the first token */
    float tp[3] = {logf(0.3f), logf(0.5f), logf(0.2f)};
    int only = 1, counts[3] = {0};
    for (int i = 0; i < 2000; i++) { int t = sample_token(tp, 3, 1.0f, 0.5f, &rng); only &= t == 1; }
    CHECK(only, "top-p 0.5 must keep only the most likely token here");
    for (int i = 0; i < 30000; i++) counts[sample_token(tp, 3, 1.0f, 1.0f, &rng)]++;
    CHECK(fabs(counts[1] / 30000.0 - 0.5) < 0.015 && fabs(counts[0] / 30000.0 - 0.3) < 0.015,
          "sampled frequencies %d %d %d do not follow (0.3, 0.5, 0.2)", counts[0], counts[1], counts[2]);

    /* generation: same seed, same samples, for 1, 2 and 3 threads (the problems dealt to the
     * threads: 5, 3 + 2, 2 + 2 + 1) and any batch composition */
    GPTConfig cfg = {.vocab_size = VOCAB_SIZE, .block_size = 48, .n_layer = 2, .n_head = 2, .n_embd = 32};
    GPT model;
    gpt_build(&model, &cfg);
    gpt_init_weights(&model, 8);
    Problem problems[5];
    for (int i = 0; i < 5; i++) draw_digits(&problems[i], 2 + i, &rng);
    SampleConfig sc = {.temperature = 1.0f, .top_p = 1.0f, .max_new = 30, .seed = 17};
    Response r[3][15], alone[3];
    char arena[3][15 * 31], arena1[3 * 31];
    for (int k = 0; k < 3; k++) {
        set_threads(k + 1);
        generate(&model, problems, NULL, 5, 3, &sc, r[k], arena[k]);
    }
    set_threads(2);
    int same = 1;
    for (int k = 1; k < 3; k++)
        for (int i = 0; i < 15; i++)
            same &= r[0][i].length == r[k][i].length && !strcmp(r[0][i].text, r[k][i].text) &&
                    !memcmp(&r[0][i].logprob, &r[k][i].logprob, sizeof(double));
    CHECK(same, "samples differ between 1, 2 and 3 threads");
    /* each sample's log pi(y|x), summed as it was drawn, is the forward pass's to the bit, at any
     * sampling temperature and top-p (it is always the model's own distribution, temperature 1) */
    gpt_alloc_training(&model, 15, cfg.block_size);
    int wrong = responses_unlike_forward(&model, problems, 3, r[0], 15);
    CHECK(wrong == 0, "%d of 15 samples' log-probs differ from a forward pass of the model", wrong);
    SampleConfig warm = {.temperature = 0.7f, .top_p = 0.9f, .max_new = 30, .seed = 3};
    generate(&model, problems, NULL, 5, 3, &warm, r[1], arena[1]);
    wrong = responses_unlike_forward(&model, problems, 3, r[1], 15);
    CHECK(wrong == 0, "temperature 0.7, top-p 0.9: %d of 15 log-probs differ from a forward pass", wrong);
    if (wrong == 0) printf("  log pi(y|x) of 30 samples, as drawn: the same bits as a forward pass\n");
    int ids[1] = {3};
    generate(&model, &problems[3], ids, 1, 3, &sc, alone, arena1);
    for (int j = 0; j < 3; j++) same &= !strcmp(alone[j].text, r[0][9 + j].text);
    CHECK(same, "a problem's samples depend on the other problems in the batch");
    int capped = 1;
    for (int i = 0; i < 15; i++) capped &= r[0][i].finished || (r[0][i].length == 30 && !r[0][i].correct);
    CHECK(capped, "a sample that reaches the cap must have length = cap and be wrong");
    printf("  an untrained model's sample: \"%s\" (length %d)\n", r[0][0].text, r[0][0].length);
    /* greedy generation equals sampling at a vanishing temperature */
    SampleConfig g = sc, cold = sc;
    g.temperature = 0.0f;
    cold.temperature = 1e-6f;
    generate(&model, problems, NULL, 5, 1, &g, r[0], arena[0]);
    generate(&model, problems, NULL, 5, 1, &cold, r[1], arena[1]);
    same = 1;
    for (int i = 0; i < 5; i++) same &= !strcmp(r[0][i].text, r[1][i].text);
    CHECK(same, "greedy decoding differs from temperature 1e-6");
    gpt_free(&model);
}

/* ------------------------------------------------------------------------------------------ */
/* the method: reward, advantage, PPO-clip, AES */

static void test_reward_advantage_aes(void) {
    printf("reward, advantage, AES\n");
    struct { double L_ref, L, A, A_ref, lambda, R; } rw[] = {
        {40, 20, 1, 0.75, 2, 1.5},   /* half the reference length, correct where the reference is 75% */
        {40, 80, 0, 0.75, 2, -2.0},  /* twice as long and wrong */
        {40, 10, 1, 0.5, 2, 4.0},
        {40, 5, 0, 1, 2, 5.0},       /* short but wrong: the length term wins (DESIGN.md §8) */
        {40, 40, 1, 1, 0, 0.0},
    };
    for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++) {
        double R = length_reward(rw[i].L_ref, rw[i].L, rw[i].A, rw[i].A_ref, rw[i].lambda);
        CHECK(fabs(R - rw[i].R) < 1e-12, "reward case %zu: %g, expected %g", i, R, rw[i].R);
    }
    /* official: clip to [-2, 4] -> (1.5, -2, 4, 4, -2); mean 1.1; population std sqrt(7.24) */
    double R[5] = {1.5, -2.0, 4.0, 5.0, -3.0};
    double expect[5] = {0.14865882924943322, -1.1521059266831077, 1.077776512058391, 1.077776512058391,
                        -1.1521059266831077};
    float w[5];
    advantages(R, 5, ADVANTAGE_OFFICIAL, w);
    for (int i = 0; i < 5; i++)
        CHECK(fabs(w[i] - expect[i]) < 1e-6, "official advantage %d: %.9g, expected %.9g", i, w[i],
              expect[i]);
    advantages(R, 5, ADVANTAGE_PAPER, w);
    for (int i = 0; i < 5; i++) CHECK(w[i] == (float)R[i], "paper advantage %d: %g", i, w[i]);
    double same[3] = {5.0, 6.0, 7.0}; /* all clip to 4: std 0 */
    advantages(same, 3, ADVANTAGE_OFFICIAL, w);
    CHECK(w[0] == 0.0f && w[1] == 0.0f && w[2] == 0.0f, "std = 0 must give zero advantages, got %g %g %g",
          w[0], w[1], w[2]);
    /* AES: dL = 0.6 in each case; accuracy same / +10% / -10% (relative) */
    CHECK(fabs(accuracy_efficiency_score(100, 40, 0.9, 0.9) - 0.6) < 1e-12, "AES, same accuracy");
    CHECK(fabs(accuracy_efficiency_score(100, 40, 0.9, 0.99) - 0.9) < 1e-12, "AES, accuracy up: dL + 3 dA");
    CHECK(fabs(accuracy_efficiency_score(100, 40, 0.9, 0.81) - 0.1) < 1e-12,
          "AES, accuracy down: dL - 5 |dA|");
    CHECK(fabs(accuracy_efficiency_score(100, 120, 0.5, 0.5) + 0.2) < 1e-12, "AES, longer");
}

/* one sequence of T response tokens, ratio set by ref_sum, loss and d/dlogprob checked by finite
 * differences on every branch of the clip */
static double ppo_loss_only(const float *lp, const float *mask, const double *ref, const float *w, int B,
                            int T, RatioMode mode) {
    float d[64];
    return ppo_clip_loss(lp, mask, ref, w, B, T, mode, 0.2f, d, NULL).loss;
}

static void test_ppo_clip(void) {
    printf("PPO-clip loss\n");
    int T = 5;
    float lp[5] = {-0.3f, -1.2f, -0.05f, -2.0f, 0.0f},
          mask[5] = {1, 1, 1, 1, 0}; /* the last position is not a response token */
    double sum = -0.3 - 1.2 - 0.05 - 2.0;
    struct { const char *what; float w; double r; int clipped; } cases[] = {{"w > 0, r inside", 1.5f, 1.1, 0},
                 {"w > 0, r above", 1.5f, 1.5, 1},
                 {"w > 0, r below", 1.5f, 0.6, 0},
                 {"w < 0, r inside", -0.7f, 0.9, 0},
                 {"w < 0, r above", -0.7f, 1.4, 0},
                 {"w < 0, r below", -0.7f, 0.5, 1},
                 {"w = 0", 0.0f, 1.3, 0}};
    for (int mode = 0; mode < 2; mode++) {
        RatioMode rm = mode == 0 ? RATIO_MEAN : RATIO_SUM;
        for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
            /* choose ref_sum so that r is the wanted value */
            double ref = rm == RATIO_MEAN ? sum - 4 * log(cases[c].r) : sum - log(cases[c].r);
            float d[5];
            PpoStats st = ppo_clip_loss(lp, mask, &ref, &cases[c].w, 1, T, rm, 0.2f, d, NULL);
            double r = cases[c].r, clipped = fmin(fmax(r, 0.8), 1.2);
            double expect = fmax(-cases[c].w * r, -cases[c].w * clipped);
            CHECK(fabs(st.loss - expect) < 1e-6 && fabs(st.mean_ratio - r) < 1e-6 &&
                          (st.clipped_fraction > 0.5) == cases[c].clipped,
                  "%s (%s ratio): loss %.9g expected %.9g, ratio %.9g, clipped %g", cases[c].what,
                  rm == RATIO_MEAN ? "mean" : "sum", st.loss, expect, st.mean_ratio, st.clipped_fraction);
            double worst = 0;
            for (int t = 0; t < T; t++) {
                float save = lp[t], h = 1e-3f;
                lp[t] = save + h; double fp = ppo_loss_only(lp, mask, &ref, &cases[c].w, 1, T, rm);
                lp[t] = save - h; double fm = ppo_loss_only(lp, mask, &ref, &cases[c].w, 1, T, rm);
                lp[t] = save;
                double num = (fp - fm) / (2.0 * h), scale = fmax(1.0, fabs(num));
                worst = worse(worst, fabs(num - d[t]) / scale);
            }
            CHECK(worst < 1e-4, "%s (%s ratio): d loss / d logprob off by %.3g", cases[c].what,
                  rm == RATIO_MEAN ? "mean" : "sum", worst);
        }
    }
    /* through the log-softmax to the logits: two sequences, both ratio variants */
    int B = 2, V = 6, N = B * T;
    int targets[10] = {1, 4, 0, 5, -1, 2, 2, 3, -1, -1};
    float m2[10] = {1, 1, 1, 1, 0, 1, 1, 1, 0, 0};
    float *z = malloc(sizeof(float) * N * V), *probs = malloc(sizeof(float) * N * V),
          *dz = malloc(sizeof(float) * N * V);
    float logp[10], dlp[10], w2[2] = {0.8f, -1.3f};
    double ref2[2];
    Rng rng;
    rng_seed(&rng, 12, 0, 0);
    fill_uniform(z, (size_t)N * V, &rng, -2, 2);
    for (int mode = 0; mode < 2; mode++) {
        RatioMode rm = mode == 0 ? RATIO_MEAN : RATIO_SUM;
        logprob_forward(logp, probs, z, targets, N, V);
        /* reference sums that put the ratios at 1.1 and 0.93: inside the clip range, so the
         * gradient flows (the clipped branches are checked above) */
        double want[2] = {1.1, 0.93};
        for (int b = 0; b < B; b++) {
            double sum = 0, count = 0;
            for (int t = 0; t < T; t++) { sum += m2[b * T + t] * logp[b * T + t]; count += m2[b * T + t]; }
            ref2[b] = rm == RATIO_MEAN ? sum - count * log(want[b]) : sum - log(want[b]);
        }
        ppo_clip_loss(logp, m2, ref2, w2, B, T, rm, 0.2f, dlp, NULL);
        memset(dz, 0, sizeof(float) * N * V);
        logprob_backward(dz, dlp, probs, targets, N, V);
        double worst = 0, scale = 1e-6;
        PpoStats st = ppo_clip_loss(logp, m2, ref2, w2, B, T, rm, 0.2f, dlp, NULL);
        CHECK(st.clipped_fraction == 0.0 && fabs(st.mean_ratio - 1.015) < 1e-5,
              "setup: ratios %g, clipped %g", st.mean_ratio, st.clipped_fraction);
        for (int i = 0; i < N * V; i++) {
            float save = z[i], h = 1e-3f;
            z[i] = save + h;
            logprob_forward(logp, probs, z, targets, N, V);
            double fp = ppo_loss_only(logp, m2, ref2, w2, B, T, rm);
            z[i] = save - h;
            logprob_forward(logp, probs, z, targets, N, V);
            double fm = ppo_loss_only(logp, m2, ref2, w2, B, T, rm);
            z[i] = save;
            double num = (fp - fm) / (2.0 * h);
            worst = worse(worst, fabs(num - dz[i]));
            scale = worse(scale, fabs(num));
        }
        printf("  d loss / d logits (%s ratio) vs finite differences: max rel error %.2e\n",
               rm == RATIO_MEAN ? "mean" : "sum", worst / scale);
        CHECK(worst / scale < 1e-3, "PPO gradient w.r.t. logits (%s ratio): error %.3g",
              rm == RATIO_MEAN ? "mean" : "sum", worst / scale);
    }
    free(z); free(probs); free(dz);
}

/* DPO (the paper's baseline): the loss on hand-computed pairs, its gradient by finite differences
 * with respect to the token log-probs and through the log-softmax to the logits, and which
 * sequences the baselines select from a pre-sampled set */
static double dpo_loss_only(const float *lp, const float *mask, const double *ref, int P, int T, float beta) {
    float d[64];
    return dpo_loss(lp, mask, ref, P, T, beta, d).loss;
}

static void test_dpo(void) {
    printf("DPO loss and the baselines' training sets\n");
    int T = 4;
    float lp[8] = {-0.5f, -1.0f, -0.25f, 0.0f, -2.0f, -0.5f, -1.5f, -0.75f},
          mask[8] = {1, 1, 1, 0, 1, 1, 1, 1};
    double chosen = -1.75, rejected = -4.75; /* the masked sums */
    double margins[] = {0.0, 1.0, -3.0, 500.0, -500.0};
    for (size_t c = 0; c < sizeof(margins) / sizeof(margins[0]); c++) {
        /* reference sums that put (log-ratio chosen - log-ratio rejected) at margins[c] */
        double ref[2] = {chosen - 0.3, rejected - 0.3 + margins[c]};
        float d[8];
        DpoStats st = dpo_loss(lp, mask, ref, 1, T, 0.1f, d);
        double z = 0.1 * margins[c], expect = log(1.0 + exp(-z));
        if (z < -30) expect = -z; /* log(1 + e^-z) = -z + log(1 + e^z) */
        double g = 0.1 / (1.0 + exp(z));
        int grad_ok = 1;
        for (int t = 0; t < T; t++)
            grad_ok &= fabs(d[t] + g * mask[t]) < 1e-7 && fabs(d[T + t] - g * mask[T + t]) < 1e-7;
        CHECK(fabs(st.loss - expect) <= 1e-6 * fmax(1, expect) && isfinite(st.loss) &&
                      fabs(st.margin - margins[c]) < 1e-6 && st.accuracy == (z > 0) && grad_ok,
              "DPO, margin %g: loss %.9g expected %.9g, margin %g, gradient %s", margins[c], st.loss, expect,
              st.margin, grad_ok ? "ok" : "wrong");
    }
    /* two pairs, finite differences with respect to every token log-prob, then through the logits */
    int P = 2, B = 2 * P, V = 5, N = B * T;
    int targets[16] = {1, 4, 0, -1, 2, 2, 3, 1, 0, 0, 4, 4, 3, -1, -1, -1};
    float m4[16] = {0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0};
    float *z = malloc(sizeof(float) * N * V), *probs = malloc(sizeof(float) * N * V),
          *dz = malloc(sizeof(float) * N * V);
    float logp[16], dlp[16];
    double ref4[4] = {-2.1, -4.4, -5.0, -0.9};
    Rng rng;
    rng_seed(&rng, 13, 0, 0);
    fill_uniform(z, (size_t)N * V, &rng, -2, 2);
    logprob_forward(logp, probs, z, targets, N, V);
    dpo_loss(logp, m4, ref4, P, T, 0.5f, dlp);
    double worst = 0, largest = 1e-6;
    for (int i = 0; i < N; i++) {
        float save = logp[i], h = 1e-3f;
        logp[i] = save + h; double fp = dpo_loss_only(logp, m4, ref4, P, T, 0.5f);
        logp[i] = save - h; double fm = dpo_loss_only(logp, m4, ref4, P, T, 0.5f);
        double num = (fp - fm) /
                     ((double)(save + h) - (double)(save - h)); /* the step float rounding really took */
        logp[i] = save;
        worst = worse(worst, fabs(num - dlp[i]));
        largest = worse(largest, fabs(num));
    }
    CHECK(worst / largest < 1e-4, "DPO d loss / d logprob off by %.3g (relative)", worst / largest);
    memset(dz, 0, sizeof(float) * N * V);
    logprob_backward(dz, dlp, probs, targets, N, V);
    double worst_z = 0, scale = 1e-6;
    for (int i = 0; i < N * V; i++) {
        float save = z[i], h = 1e-3f;
        z[i] = save + h;
        logprob_forward(logp, probs, z, targets, N, V);
        double fp = dpo_loss_only(logp, m4, ref4, P, T, 0.5f);
        z[i] = save - h;
        logprob_forward(logp, probs, z, targets, N, V);
        double fm = dpo_loss_only(logp, m4, ref4, P, T, 0.5f);
        z[i] = save;
        double num = (fp - fm) / (2.0 * h);
        worst_z = worse(worst_z, fabs(num - dz[i]));
        scale = worse(scale, fabs(num));
    }
    printf("  DPO: d loss / d logprob max rel error %.2e, d loss / d logits max rel error %.2e (finite "
           "differences)\n",
           worst / largest, worst_z / scale);
    CHECK(worst_z / scale < 1e-3, "DPO gradient w.r.t. logits: error %.3g", worst_z / scale);
    free(z); free(probs); free(dz);

    /* selection: problem 0 has samples of lengths 9 (wrong), 5, 7, 5 (correct) and 9: the two
     * shortest correct are samples 1 and 3 (tie: lower index first), the longest is sample 0 (tie:
     * lower index); problem 1 has one correct sample, as long as the longest: SFT keeps it, DPO
     * has no pair for it */
    static char text[2][5][40];
    PresampledSet ps = {.problems = 2, .k = 5};
    Example ex[10];
    int correct[10] = {0, 1, 1, 1, 1, 1, 0, 0, 0, 0}, length[10] = {9, 5, 7, 5, 9, 6, 6, 4, 3, 6};
    for (int i = 0; i < 10; i++) {
        snprintf(text[i / 5][i % 5], 40, "1+2=%.*s", length[i], "xxxxxxxxxxxxxxxxxxxx");
        ex[i].text = text[i / 5][i % 5];
        ex[i].prompt_len = 4;
        ex[i].length = 4 + length[i];
    }
    ps.sample = ex;
    ps.length = length;
    ps.correct = correct;
    int from[20];
    int n = select_baseline(METHOD_SFT_SHORTEST, &ps, from);
    CHECK(n == 3 && from[0] == 1 && from[1] == 3 && from[2] == 5, "SFT-shortest picked %d sequences", n);
    n = select_baseline(METHOD_DPO, &ps, from);
    CHECK(n == 4 && from[0] == 1 && from[1] == 0 && from[2] == 3 && from[3] == 0,
          "DPO picked %d sequences, not the pairs (1, 0) and (3, 0)", n);
}

/* at step 0 pi_theta = pi_ref: the ratio is exactly 1 and the loss exactly -mean(w) */
static void test_ppo_step_zero(void) {
    printf("PPO-clip at step 0\n");
    GPTConfig cfg = {.vocab_size = 18, .block_size = 16, .n_layer = 2, .n_head = 2, .n_embd = 16};
    GPT model;
    gpt_build(&model, &cfg);
    gpt_init_weights(&model, 3);
    int B = 4, T = 12;
    gpt_alloc_training(&model, B, T);
    int inp[48], tgt[48];
    float mask[48], w[4] = {1.2f, -0.4f, 0.1f, -2.0f};
    Rng rng;
    rng_seed(&rng, 2, 0, 0);
    make_batch(inp, tgt, mask, B, T, 18, &rng);
    gpt_forward(&model, inp, tgt, B, T);
    double ref[4];
    for (int b = 0; b < B; b++) {
        ref[b] = 0;
        for (int t = 0; t < T; t++) ref[b] += (double)mask[b * T + t] * model.logprob[b * T + t];
    }
    for (int mode = 0; mode < 2; mode++) {
        PpoStats st = ppo_clip_loss(model.logprob, mask, ref, w, B, T, mode == 0 ? RATIO_MEAN : RATIO_SUM,
                                    0.2f, model.dlogprob, NULL);
        double mean_w = ((double)w[0] + w[1] + w[2] + w[3]) / 4.0;
        CHECK(st.mean_ratio == 1.0 && st.loss == -mean_w && st.clipped_fraction == 0.0,
              "step 0: ratio %.17g, loss %.17g, expected 1 and %.17g", st.mean_ratio, st.loss, -mean_w);
    }
    gpt_free(&model);
}

/* ------------------------------------------------------------------------------------------ */
/* reference vectors and the safetensors export (README "Validating another implementation") */

/* max |x - ref| / max |ref|: README's error measure for a whole tensor */
static double tensor_error(const double *x, const double *ref, size_t n) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < n; i++) {
        worst = worse(worst, fabs(x[i] - ref[i]));
        scale = worse(scale, fabs(ref[i]));
    }
    return scale > 0 ? worst / scale : worst;
}

static const Vector *need(const VectorFile *vf, const char *name, size_t count) {
    const Vector *v = vectors_find(vf, name);
    CHECK(v && v->count == count, "vectors: %s missing or has %zu values (wanted %zu)", name,
          v ? v->count : 0, count);
    return v && v->count == count ? v : NULL;
}

static void test_vectors_shipped(void) {
    printf("reference vectors: data/vectors/ is what the code writes\n");
    char dir[400], err[O1P_ERR_LEN];
    snprintf(dir, sizeof(dir), "%s/vectors", tmpdir);
    mkdir(dir, 0777);
    CHECK(write_vectors(dir, err) == 0, "write_vectors: %s", err);
    const char *files[2] = {"model.txt", "method.txt"};
    for (int f = 0; f < 2; f++) {
        char shipped[400], fresh[500];
        snprintf(shipped, sizeof(shipped), "data/vectors/%s", files[f]);
        snprintf(fresh, sizeof(fresh), "%s/%s", dir, files[f]);
        VectorFile a, b;
        int ra = vectors_read(&a, shipped, err);
        CHECK(ra == 0, "%s", err);
        int rb = vectors_read(&b, fresh, err);
        CHECK(rb == 0, "%s", err);
        if (ra || rb) { if (!ra) vectors_free(&a); if (!rb) vectors_free(&b); continue; }
        /* tolerance 0: the same code does the same IEEE operations in the same order */
        int same = a.count == b.count, differ_at = -1;
        size_t values = 0;
        for (int i = 0; same && i < a.count; i++) {
            const Vector *x = &a.v[i], *y = &b.v[i];
            same = !strcmp(x->name, y->name) && x->type == y->type && x->ndim == y->ndim &&
                   x->count == y->count && !memcmp(x->dims, y->dims, sizeof(x->dims));
            for (size_t k = 0; same && k < x->count; k++)
                if (x->values[k] != y->values[k]) {
                    same = 0;
                    differ_at = i;
                }
            values += x->count;
        }
        if (differ_at >= 0) {
            const Vector *x = &a.v[differ_at], *y = &b.v[differ_at];
            printf("  %s: %s differs, max relative difference %.3g\n", files[f], x->name,
                   tensor_error(y->values, x->values, x->count));
        }
        printf("  %s: %d tensors, %zu values, identical: %s\n", files[f], a.count, values,
               same ? "yes" : "NO");
        CHECK(same,
              "%s no longer matches what the code writes; if the change is intended, run 'make vectors'",
              shipped);
        size_t na, nb;
        unsigned char *ta = read_bytes(shipped, &na), *tb = read_bytes(fresh, &nb);
        CHECK(na == nb && !memcmp(ta, tb, na), "%s and a fresh one differ byte for byte", shipped);
        free(ta); free(tb);
        vectors_free(&a); vectors_free(&b);
    }
}

/* The README's parameter table, transcribed: spec tensor i, layer l -> nanoGPT name */
static void nanogpt_name(char *out, size_t n, const char *prefix, int i, int layer) {
    static const char *const names[16] = {"transformer.wte.weight",
                                          "transformer.wpe.weight",
                                          "ln_1.weight",
                                          "ln_1.bias",
                                          "attn.c_attn.weight",
                                          "attn.c_attn.bias",
                                          "attn.c_proj.weight",
                                          "attn.c_proj.bias",
                                          "ln_2.weight",
                                          "ln_2.bias",
                                          "mlp.c_fc.weight",
                                          "mlp.c_fc.bias",
                                          "mlp.c_proj.weight",
                                          "mlp.c_proj.bias",
                                          "transformer.ln_f.weight",
                                          "transformer.ln_f.bias"};
    if (i >= 2 && i <= 13) snprintf(out, n, "%stransformer.h.%d.%s", prefix, layer, names[i]);
    else snprintf(out, n, "%s%s", prefix, names[i]);
}

/* prefix + every parameter from a vectors file into a spec-order double array; 0 if all found */
static int params_from_vectors(const VectorFile *vf, const char *prefix, const GPT *shape, double *params) {
    int L = shape->config.n_layer;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        const TensorInfo *ti = &shape->param_info[i];
        int per_layer = i >= 2 && i <= 13;
        size_t size = per_layer ? ti->size / (size_t)L : ti->size;
        for (int l = 0; l < (per_layer ? L : 1); l++) {
            char name[128];
            nanogpt_name(name, sizeof(name), prefix, i, l);
            const Vector *v = need(vf, name, size);
            if (!v) return -1;
            memcpy(params + ti->offset + (size_t)l * size, v->values, sizeof(double) * size);
        }
    }
    return 0;
}

static int vector_int(const VectorFile *vf, const char *name) {
    const Vector *v = need(vf, name, 1);
    return v ? (int)v->values[0] : 0;
}

/* method.txt's weights by the README's formulas: Eq. 8-10 over all K, the first m of each problem
 * kept, the official weights over the kept set, the std = 0 guard. Returns the worst error; writes
 * the kept samples' official and paper weights. */
static double check_method_weights(const VectorFile *me, double *w_official, double *w_paper) {
    double lambda = need(me, "method.lambda", 1)->values[0], worst = 0;
    int K = vector_int(me, "method.k"), M = vector_int(me, "method.m");
    const Vector *v_len = vectors_find(me, "sample.length"), *v_cor = vectors_find(me, "sample.correct");
    if (!v_len || !v_cor || K < 1 || M < 1 || v_len->count % (size_t)K || v_len->count > 64) {
        CHECK(0, "method.txt: samples");
        return 1;
    }
    int S = (int)v_len->count, P = S / K;
    const Vector *v_lref = need(me, "problem.L_ref", (size_t)P),
                 *v_aref = need(me, "problem.A_ref", (size_t)P), *v_rew = need(me, "reward", (size_t)S),
                 *v_sel = need(me, "select.sample", (size_t)(P * M)),
                 *v_wo = need(me, "advantage.official", (size_t)(P * M)),
                 *v_wp = need(me, "advantage.paper", (size_t)(P * M)), *v_gr = need(me, "guard.reward", 4),
                 *v_gw = need(me, "guard.advantage.official", 4);
    if (!v_lref || !v_aref || !v_rew || !v_sel || !v_wo || !v_wp || !v_gr || !v_gw) return 1;
    double L_ref[16] = {0}, A_ref[16] = {0}, reward[64], clipped[64], mean = 0, var = 0;
    for (int s = 0; s < S; s++) {
        L_ref[s / K] += v_len->values[s] / K;
        A_ref[s / K] += v_cor->values[s] / K;
    }
    for (int s = 0; s < S; s++)
        reward[s] = L_ref[s / K] / v_len->values[s] - 1 + lambda * (v_cor->values[s] - A_ref[s / K]);
    for (int i = 0; i < P * M; i++) {
        int s = (i / M) * K + i % M; /* the first m of each problem */
        CHECK(v_sel->values[i] == s, "select.sample[%d] = %g, wanted %d", i, v_sel->values[i], s);
        clipped[i] = fmin(fmax(reward[s], -2.0), 4.0);
        w_paper[i] = (float)reward[s];
        mean += clipped[i] / (P * M);
    }
    for (int i = 0; i < P * M; i++) var += (clipped[i] - mean) * (clipped[i] - mean) / (P * M);
    for (int i = 0; i < P * M; i++) w_official[i] = (float)((clipped[i] - mean) / sqrt(var));
    double guard_clipped[4], guard_mean = 0, guard_var = 0, guard_w[4];
    for (int i = 0; i < 4; i++) guard_mean += (guard_clipped[i] = fmin(fmax(v_gr->values[i], -2.0), 4.0)) / 4;
    for (int i = 0; i < 4; i++)
        guard_var += (guard_clipped[i] - guard_mean) * (guard_clipped[i] - guard_mean) / 4;
    for (int i = 0; i < 4; i++)
        guard_w[i] = guard_var > 0 ? (guard_clipped[i] - guard_mean) / sqrt(guard_var) : 0;
    worst = worse(worst, tensor_error(L_ref, v_lref->values, (size_t)P));
    worst = worse(worst, tensor_error(A_ref, v_aref->values, (size_t)P));
    worst = worse(worst, tensor_error(reward, v_rew->values, (size_t)S));
    worst = worse(worst, tensor_error(w_official, v_wo->values, (size_t)(P * M)));
    worst = worse(worst, tensor_error(w_paper, v_wp->values, (size_t)(P * M)));
    worst = worse(worst, tensor_error(guard_w, v_gw->values, 4));
    return worst;
}

/* the sequence-level PPO-clip (4 variants) and the token-level conventions (3) on the batch, from
 * the file's log-probs; returns the worst error */
static double check_method_losses(const VectorFile *me, const double *w_kept, int B, int T) {
    int N = B * T, cap = vector_int(me, "token.max_completion_length");
    double clip_eps = need(me, "method.clip_eps", 1)->values[0], worst = 0, w[2][16], length[16] = {0};
    const Vector *mask = need(me, "batch.mask", (size_t)N), *kept = need(me, "batch.kept", (size_t)B),
                 *rlp = need(me, "ref_logprob", (size_t)N), *plp = need(me, "policy_logprob", (size_t)N),
                 *rsum_v = need(me, "ref_logprob_sum", (size_t)B), *wp = vectors_find(me, "advantage.paper");
    if (!mask || !kept || !rlp || !plp || !rsum_v || !wp || B > 16 || T > 64) return 1;
    double ref_sum[16], dlp[16 * 64], token_ratio[16 * 64];
    for (int s = 0; s < B; s++) {
        w[0][s] = w_kept[(int)kept->values[s]];
        w[1][s] = wp->values[(int)kept->values[s]];
        ref_sum[s] = 0;
        for (int t = 0; t < T; t++) {
            ref_sum[s] += mask->values[s * T + t] * rlp->values[s * T + t];
            length[s] += mask->values[s * T + t];
        }
    }
    worst = worse(worst, tensor_error(ref_sum, rsum_v->values, (size_t)B));
    for (int variant = 0; variant < 7; variant++) {
        int r = variant & 1, a = (variant >> 1) & 1, token = variant >= 4, norm = variant - 4;
        double loss = 0, ratio[16], all_tokens = 0;
        for (int i = 0; i < N; i++) all_tokens += mask->values[i];
        for (int s = 0; s < B; s++) {
            double sum = 0, wt = token ? w[0][s] : w[a][s];
            for (int t = 0; t < T; t++) sum += mask->values[s * T + t] * plp->values[s * T + t];
            ratio[s] = exp(r == 0 ? (sum - ref_sum[s]) / length[s] : sum - ref_sum[s]);
            double divisor = !token ? B * (r == 0 ? length[s] : 1) : norm == 0 ? B * length[s]
                                                                   : norm == 1 ? all_tokens : (double)B * cap;
            for (int t = 0; t < T; t++) {
                int k = s * T + t;
                double rt = token ? exp(plp->values[k] - rlp->values[k]) : ratio[s];
                double c_ratio = fmin(fmax(rt, 1 - clip_eps), 1 + clip_eps);
                double plain = -wt * rt, clip_term = -wt * c_ratio;
                dlp[k] = mask->values[k] * (clip_term > plain ? 0 : -wt * rt / divisor);
                token_ratio[k] = mask->values[k] * rt;
                if (token && mask->values[k]) loss += fmax(plain, clip_term) / divisor;
                if (!token && t == 0) loss += fmax(plain, clip_term) / B;
            }
        }
        char name[96];
        const char *norms[3] = {"grpo", "dapo", "dr_grpo"}, *rn = r == 0 ? "mean" : "sum";
        if (token) snprintf(name, sizeof(name), "token.%s", norms[norm]);
        else snprintf(name, sizeof(name), "ppo.ratio_%s.advantage_%s", rn, a == 0 ? "official" : "paper");
        const Vector *v_ratio =
            token ? need(me, "token.ratio", (size_t)N) : vectors_find(me, r ? "ratio.sum" : "ratio.mean");
        char loss_name[112], dlp_name[112];
        snprintf(loss_name, sizeof(loss_name), "%s.loss", name);
        snprintf(dlp_name, sizeof(dlp_name), "%s.dlogprob", name);
        const Vector *v_loss = need(me, loss_name, 1), *v_dlp = need(me, dlp_name, (size_t)N);
        if (!v_ratio || !v_loss || !v_dlp) return 1;
        worst = worse(worst, token ? tensor_error(token_ratio, v_ratio->values, (size_t)N)
                                   : tensor_error(ratio, v_ratio->values, (size_t)B));
        worst = worse(worst, fabs(loss - v_loss->values[0]) / fabs(loss));
        worst = worse(worst, tensor_error(dlp, v_dlp->values, (size_t)N));
    }
    return worst;
}

static void test_vectors_independent(void) {
    printf("reference vectors: recomputed by test.c's double-precision model and formulas\n");
    VectorFile mv, me;
    char err[O1P_ERR_LEN];
    if (vectors_read(&mv, "data/vectors/model.txt", err)) { CHECK(0, "%s", err); return; }
    if (vectors_read(&me, "data/vectors/method.txt", err)) { CHECK(0, "%s", err); vectors_free(&mv); return; }
    GPTConfig c = {vector_int(&mv, "config.vocab_size"), vector_int(&mv, "config.block_size"),
                   vector_int(&mv, "config.n_layer"), vector_int(&mv, "config.n_head"),
                   vector_int(&mv, "config.n_embd")};
    if (gpt_config_check(&c, err)) {
        CHECK(0, "config: %s", err);
        vectors_free(&mv);
        vectors_free(&me);
        return;
    }
    GPT shape; /* only for the sizes and offsets of the spec-order parameter array */
    gpt_build(&shape, &c);
    size_t P = shape.num_params;
    double *params = calloc(P, sizeof(double)), *step1 = calloc(P, sizeof(double)),
           *grad = calloc(P, sizeof(double));
    double *policy = calloc(P, sizeof(double)), *expect = calloc(P, sizeof(double));
    const Vector *inp_v = vectors_find(&mv, "batch.inputs");
    if (!inp_v || inp_v->ndim != 2 || params_from_vectors(&mv, "", &shape, params) ||
        params_from_vectors(&mv, "grad.", &shape, grad) ||
        params_from_vectors(&mv, "step1.", &shape, step1) ||
        params_from_vectors(&me, "policy.", &shape, policy)) {
        CHECK(0, "vectors incomplete");
        goto done;
    }
    /* the model: forward pass and loss */
    int B = inp_v->dims[0], T = inp_v->dims[1], N = B * T, V = c.vocab_size;
    int *inp = malloc(sizeof(int) * (size_t)N), *tgt = malloc(sizeof(int) * (size_t)N);
    float *mask = malloc(sizeof(float) * (size_t)N);
    const Vector *tgt_v = need(&mv, "batch.targets", (size_t)N), *mask_v = need(&mv, "batch.mask", (size_t)N);
    const Vector *logits_v = need(&mv, "logits", (size_t)N * V), *logprob_v = need(&mv, "logprob", (size_t)N),
                 *loss_v = need(&mv, "loss", 1);
    if (!tgt_v || !mask_v || !logits_v || !logprob_v || !loss_v) {
        free(inp);
        free(tgt);
        free(mask);
        goto done;
    }
    for (int i = 0; i < N; i++) {
        inp[i] = (int)inp_v->values[i];
        tgt[i] = (int)tgt_v->values[i];
        mask[i] = (float)mask_v->values[i];
    }
    double *logits = malloc(sizeof(double) * (size_t)N * V), *logprob = malloc(sizeof(double) * (size_t)N);
    double loss = ref_model_loss(&shape, params, inp, tgt, mask, B, T, logits, logprob);
    double e_logits = tensor_error(logits, logits_v->values, (size_t)N * V),
           e_logprob = tensor_error(logprob, logprob_v->values, (size_t)N);
    double e_loss = fabs(loss - loss_v->values[0]) / fabs(loss);
    printf("  logits %.1e, logprob %.1e, loss %.1e (tolerance 1e-5)\n", e_logits, e_logprob, e_loss);
    CHECK(e_logits < 1e-5 && e_logprob < 1e-5 && e_loss < 1e-5, "forward pass: errors %.2e %.2e %.2e",
          e_logits, e_logprob, e_loss);
    /* gradients: central differences of the double model at a few entries of every tensor */
    ModelCtx ctx = {&shape, inp, tgt, mask, B, T};
    double worst_grad = 0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        const TensorInfo *ti = &shape.param_info[i];
        size_t count = ti->size < 12 ? ti->size : 12, idx[12];
        float analytic[12];
        double numeric[12], scale = 0;
        for (size_t k = 0; k < ti->size; k++) scale = worse(scale, fabs(grad[ti->offset + k]));
        for (size_t k = 0; k < count; k++) {
            idx[k] = ti->offset + k * ti->size / count + (k * 7) % (ti->size / count);
            analytic[k] = (float)grad[idx[k]];
        }
        fd_gradient(obj_model, &ctx, params, idx, count, numeric);
        for (size_t k = 0; k < count; k++)
            worst_grad = worse(worst_grad, fabs(numeric[k] - analytic[k]) / scale);
    }
    printf("  grad.* against finite differences: %.1e (tolerance 1e-4)\n", worst_grad);
    CHECK(worst_grad < 1e-4, "gradient vectors: error %.2e", worst_grad);
    /* AdamW step 1 from the gradients, in double: clip, then m = (1-b1) g, v = (1-b2) g^2 */
    double lr = need(&mv, "adamw.lr", 1)->values[0], b1 = need(&mv, "adamw.beta1", 1)->values[0];
    double b2 = need(&mv, "adamw.beta2", 1)->values[0], eps = need(&mv, "adamw.eps", 1)->values[0];
    double wd = need(&mv, "adamw.weight_decay", 1)->values[0],
           max_norm = need(&mv, "adamw.max_grad_norm", 1)->values[0];
    double norm = 0;
    for (size_t k = 0; k < P; k++) norm += grad[k] * grad[k];
    norm = sqrt(norm);
    double scale = norm > max_norm ? max_norm / (norm + 1e-6) : 1.0;
    for (int i = 0; i < NUM_PARAM_TENSORS; i++) {
        const TensorInfo *ti = &shape.param_info[i];
        int decay = ti->ndim - (i >= 2 && i <= 13) == 2; /* nanoGPT: every 2-D tensor */
        for (size_t k = ti->offset; k < ti->offset + ti->size; k++) {
            double g = grad[k] * scale, m = (1 - b1) * g, v = (1 - b2) * g * g;
            expect[k] = params[k] * (decay ? 1 - lr * wd : 1) -
                        lr / (1 - b1) * m / (sqrt(v) / sqrt(1 - b2) + eps);
        }
    }
    double e_norm = fabs(norm - need(&mv, "grad_norm", 1)->values[0]) / norm,
           e_step = tensor_error(step1, expect, P);
    double loss1 = ref_model_loss(&shape, step1, inp, tgt, mask, B, T, NULL, NULL),
           e_loss1 = fabs(loss1 - need(&mv, "step1.loss", 1)->values[0]) / loss1;
    printf("  grad_norm %.1e, step1.* %.1e, step1.loss %.1e (tolerance 1e-5)\n", e_norm, e_step, e_loss1);
    CHECK(e_norm < 1e-6 && e_step < 1e-5 && e_loss1 < 1e-5, "AdamW step: errors %.2e %.2e %.2e", e_norm,
          e_step, e_loss1);
    free(inp); free(tgt); free(mask); free(logits); free(logprob);

    /* the method: the batch's texts decoded and graded, then Eq. 8-11 and the conventions */
    const Vector *m_inp = vectors_find(&me, "batch.inputs");
    if (!m_inp || m_inp->ndim != 2 || m_inp->dims[0] > 16) {
        CHECK(0, "method.txt: batch.inputs");
        goto done;
    }
    int Bm = m_inp->dims[0];
    T = m_inp->dims[1];
    N = Bm * T;
    const Vector *m_tgt = need(&me, "batch.targets", (size_t)N), *m_mask = need(&me, "batch.mask", (size_t)N),
                 *m_kept = need(&me, "batch.kept", (size_t)Bm), *v_sel = vectors_find(&me, "select.sample"),
                 *v_len = vectors_find(&me, "sample.length"), *v_cor = vectors_find(&me, "sample.correct"),
                 *v_rlp = need(&me, "ref_logprob", (size_t)N),
                 *v_plp = need(&me, "policy_logprob", (size_t)N);
    if (!m_tgt || !m_mask || !m_kept || !v_sel || !v_len || !v_cor || !v_rlp || !v_plp) goto done;
    for (int s = 0; s < Bm; s++) {
        char text[128];
        int n = 0, sum = 0, answer = -1, sample = (int)v_sel->values[(int)m_kept->values[s]];
        double length = 0;
        text[n++] = VOCAB[(int)m_inp->values[s * T]]; /* the text: first input, then every target */
        for (int t = 0; t < T; t++) {
            length += m_mask->values[s * T + t];
            text[n++] = VOCAB[(int)m_tgt->values[s * T + t]];
        }
        while (text[n - 1] == '.') n--; /* padding */
        text[n] = 0;
        for (const char *p = text; *p != '='; p++) if (*p >= '1' && *p <= '9') sum += *p - '0';
        const char *a = strrchr(text, 'A');
        int correct = a && sscanf(a, "A%d$", &answer) == 1 && text[n - 1] == '$' && answer == sum;
        CHECK(length == v_len->values[sample] && correct == v_cor->values[sample],
              "batch row %d (%s): length %g correct %d, file %g %g", s, text, length, correct,
              v_len->values[sample], v_cor->values[sample]);
    }
    double w_official[64], w_paper[64], worst_method = check_method_weights(&me, w_official, w_paper);
    /* log-probs of pi_ref and pi_theta by the double model */
    int *m_in = malloc(sizeof(int) * (size_t)N), *m_tg = malloc(sizeof(int) * (size_t)N);
    float *m_mk = malloc(sizeof(float) * (size_t)N);
    double *lp_ref = malloc(sizeof(double) * (size_t)N), *lp_pol = malloc(sizeof(double) * (size_t)N);
    for (int i = 0; i < N; i++) {
        m_in[i] = (int)m_inp->values[i];
        m_tg[i] = (int)m_tgt->values[i];
        m_mk[i] = (float)m_mask->values[i];
    }
    ref_model_loss(&shape, params, m_in, m_tg, m_mk, Bm, T, NULL, lp_ref);
    ref_model_loss(&shape, policy, m_in, m_tg, m_mk, Bm, T, NULL, lp_pol);
    double e_lp = fmax(tensor_error(lp_ref, v_rlp->values, (size_t)N),
                       tensor_error(lp_pol, v_plp->values, (size_t)N));
    /* ratios, the PPO-clip losses, the token-level conventions and d loss / d logprob from the file's
     * own log-probs */
    worst_method = worse(worst_method, check_method_losses(&me, w_official, Bm, T));
    printf("  ref_logprob, policy_logprob %.1e (tolerance 1e-5); reward ... token.* %.1e (tolerance 1e-6)\n",
           e_lp, worst_method);
    CHECK(e_lp < 1e-5, "method log-probs: error %.2e", e_lp);
    CHECK(worst_method < 1e-6, "method vectors: error %.2e", worst_method);
    free(m_in); free(m_tg); free(m_mk); free(lp_ref); free(lp_pol);
done:
    free(params); free(step1); free(grad); free(policy); free(expect);
    gpt_free(&shape);
    vectors_free(&mv); vectors_free(&me);
}

static void test_vectors_reader(void) {
    printf("vectors reader: bad files\n");
    struct { const char *text; const char *expect; } cases[] = {
        {"", "no tensors"},
        {"# a comment only\n", "no tensors"},
        {"x\n", ":1: expected a tensor header"},
        {"x-y f32 0\n1\n", ":1: tensor name 'x-y' has a character other than"},
        {"x q32 0\n1\n", "type 'q32' is not i32, f32 or f64"},
        {"x f32 9 1\n", "ndim '9' is not 0..4"},
        {"x f32 2 3\n1 2 3\n", "ndim 2 but 1 dimensions"},
        {"x f32 1 0\n\n", "dimension '0' is not a positive whole number"},
        {"x f32 1 -3\n", "dimension '-3'"},
        {"x f32 1 99999999999\n", "dimension '99999999999'"},
        {"x f32 2 65536 65536\n1\n", "cannot fit in the rest of the file"},
        {"x f32 1 2\n1 2 3\n", ":2: tensor 'x': row 0 has more values, expected 2"},
        {"x f32 1 2\n1\n", "row 0 has fewer values"},
        {"x f32 2 2 1\n1\n", "the file ends after 1 of 2 rows"},
        {"x f64 0\nnan\n", "'nan' is not a finite number"},
        {"x f32 0\n1e39\n", "'1e39' is not a finite number"},
        {"x i32 0\n1.5\n", "'1.5' is not a whole number in the i32 range"},
        {"x i32 0\n99999999999\n", "'99999999999' is not a whole number"},
        {"x f32 1 2\n1 0x\n", "'0x' is not a finite number"},
        {"x f32 0\n1\nx f32 0\n2\n", ":3: tensor 'x' appears twice"},
        {"x f32 0\n1\n\0", "NUL byte"},
    };
    char path[400], err[O1P_ERR_LEN];
    snprintf(path, sizeof(path), "%s/bad_vectors.txt", tmpdir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].text) + (strstr(cases[i].expect, "NUL") ? 1 : 0);
        write_bytes(path, (const unsigned char *)cases[i].text, len);
        VectorFile vf;
        int rc = vectors_read(&vf, path, err);
        CHECK(rc == -1 && strstr(err, cases[i].expect) && !strncmp(err, path, strlen(path)),
              "vectors case %zu: rc %d, message '%s' (wanted '%s')", i, rc, err, cases[i].expect);
        if (rc == 0) vectors_free(&vf);
    }
    /* and a good one, with CRLF line ends, comments and a scalar */
    write_bytes(path, (const unsigned char *)"# c\r\nx f32 2 2 3\r\n1 2 3\r\n4 5 6.5\r\ny i32 0\n-7\n", 45);
    VectorFile vf;
    int rc = vectors_read(&vf, path, err);
    CHECK(rc == 0 && vf.count == 2 && vf.v[0].values[5] == 6.5 && vf.v[1].values[0] == -7,
          "good vectors file: %s", rc ? err : "wrong values");
    if (rc == 0) vectors_free(&vf);
    /* --check: the loss 1e-4 off fails (tolerance 1e-5), 1e-6 off passes */
    VectorFile ref;
    if (vectors_read(&ref, "data/vectors/model.txt", err)) { CHECK(0, "%s", err); return; }
    double loss = vectors_find(&ref, "loss")->values[0];
    vectors_free(&ref);
    for (int k = 0; k < 2; k++) {
        char text[100];
        snprintf(text, sizeof(text), "loss f64 0\n%.17g\n", loss * (1 + (k == 0 ? 1e-4 : 1e-6)));
        write_bytes(path, (const unsigned char *)text, strlen(text));
        FILE *quiet = fopen("/dev/null", "w");
        rc = vectors_check(path, "data/vectors/model.txt", quiet, err);
        fclose(quiet);
        CHECK(rc == (k == 0 ? -1 : 0), "vectors --check with the loss %s off: %d", k == 0 ? "1e-4" : "1e-6",
              rc);
    }
    /* --check names the loss convention of convention.loss and convention.dlogprob: each of the
     * file's own conventions is recognised as itself, and 1e-3 off as none (the nearest named) */
    VectorFile me;
    if (vectors_read(&me, "data/vectors/method.txt", err)) { CHECK(0, "%s", err); return; }
    static const char *const conventions[] = {"ppo.ratio_mean.advantage_official",
                                              "ppo.ratio_sum.advantage_official", "token.grpo", "token.dapo",
                                              "token.dr_grpo"};
    char out_path[400];
    snprintf(out_path, sizeof(out_path), "%s/check_out.txt", tmpdir);
    for (int c = 0; c < 5; c++)
        for (int off = 0; off < 2; off++) {
            char name[128];
            FILE *f = fopen(path, "w");
            snprintf(name, sizeof(name), "%s.loss", conventions[c]);
            fprintf(f, "convention.loss f64 0\n%.17g\n",
                    vectors_find(&me, name)->values[0] * (off ? 1.001 : 1));
            snprintf(name, sizeof(name), "%s.dlogprob", conventions[c]);
            const Vector *g = vectors_find(&me, name);
            fprintf(f, "convention.dlogprob f32 2 %d %d\n", g->dims[0], g->dims[1]);
            for (size_t k = 0; k < g->count; k++)
                fprintf(f, "%.9g%c", g->values[k], (k + 1) % (size_t)g->dims[1] ? ' ' : '\n');
            fclose(f);
            FILE *out = fopen(out_path, "w");
            rc = vectors_check(path, "data/vectors/method.txt", out, err);
            fclose(out);
            size_t n;
            char *text = (char *)read_bytes(out_path, &n), want[160];
            text = realloc(text, n + 1);
            text[n] = 0;
            snprintf(want, sizeof(want), off ? "the nearest is %s (" : "convention: %s (", conventions[c]);
            CHECK(rc == (off ? -1 : 0) && strstr(text, want), "convention %s%s: rc %d, wanted '%s' in:\n%s",
                  conventions[c], off ? " 1e-3 off" : "", rc, want, text);
            free(text);
        }
    vectors_free(&me);
}

/* the safetensors file read back by the format's definition, with the README's tensor names */
static void test_safetensors(void) {
    printf("safetensors export\n");
    GPTConfig cfg = {.vocab_size = VOCAB_SIZE, .block_size = 12, .n_layer = 2, .n_head = 2, .n_embd = 8};
    GPT model;
    gpt_build(&model, &cfg);
    gpt_init_weights(&model, 5);
    for (size_t i = 0; i < model.num_params; i++)
        model.params[i] += 0.001f * (float)i; /* every value distinct */
    char path[400], err[O1P_ERR_LEN];
    snprintf(path, sizeof(path), "%s/model.safetensors", tmpdir);
    CHECK(export_safetensors(&model, path, err) == 0, "export: %s", err);
    size_t size;
    unsigned char *file = read_bytes(path, &size);
    uint64_t n = size >= 8 ? get_u64(file) : 0;
    CHECK(n % 8 == 0 && n > 0 && 8 + n <= size && file[8] == '{', "header size %llu", (unsigned long long)n);
    if (n == 0 || 8 + n > size) {
        free(file);
        gpt_free(&model);
        return;
    }
    /* what the file must hold: the parameters as little-endian bytes, on any host */
    unsigned char *le = malloc(model.num_params * 4);
    floats_to_le(le, model.params, model.num_params);
    char *header = calloc(n + 1, 1);
    memcpy(header, file + 8, n);
    const unsigned char *data = file + 8 + n;
    size_t data_size = size - 8 - n, covered = 0;
    CHECK(strstr(header, "\"__metadata__\":{\"format\":\"pt\",\"vocab\":\".0123456789+=,vrA$\",\"vocab_"
                         "size\":\"18\",\"block_size\":\"12\","
                         "\"n_layer\":\"2\",\"n_head\":\"2\",\"n_embd\":\"8\"}") != NULL,
          "metadata: %.300s", header);
    int tensors = 0, bad = 0;
    for (int i = 0; i <= NUM_PARAM_TENSORS; i++) {
        const TensorInfo *ti = &model.param_info[i == NUM_PARAM_TENSORS ? 0 : i];
        int per_layer = i >= 2 && i <= 13;
        size_t size1 = per_layer ? ti->size / 2 : ti->size;
        for (int l = 0; l < (per_layer ? 2 : 1); l++) {
            char name[128], key[160];
            if (i == NUM_PARAM_TENSORS) snprintf(name, sizeof(name), "lm_head.weight");
            else nanogpt_name(name, sizeof(name), "", i, l);
            snprintf(key, sizeof(key), "\"%s\":{\"dtype\":\"F32\",\"shape\":[", name);
            char *at = strstr(header, key);
            size_t begin = 0, end = 0;
            int d0 = 0, d1 = 1, got = 0;
            if (at) {
                at += strlen(key);
                got = sscanf(at, "%d,%d],\"data_offsets\":[%zu,%zu]}", &d0, &d1, &begin, &end);
                if (got != 4) {
                    d1 = 1;
                    got = 1 + sscanf(at, "%d],\"data_offsets\":[%zu,%zu]}", &d0, &begin, &end);
                }
            }
            int ndim = ti->ndim - per_layer;
            int shape_ok = d0 == ti->shape[per_layer] && (ndim == 1 || d1 == ti->shape[per_layer + 1]);
            int ok = at && got == 4 && shape_ok && end - begin == size1 * 4 && end <= data_size &&
                     !memcmp(data + begin, le + 4 * (ti->offset + (size_t)l * size1), size1 * 4);
            if (!ok) { bad++; printf("  %s: missing or wrong\n", name); }
            tensors++;
            covered += end - begin;
        }
    }
    CHECK(bad == 0 && tensors == 4 + 12 * 2 + 1, "%d of %d tensors wrong", bad, tensors);
    CHECK(covered == data_size && data_size == (model.num_params + cfg.vocab_size * cfg.n_embd) * 4,
          "data %zu bytes, tensors cover %zu", data_size, covered);
    free(header); free(file); free(le);
    gpt_free(&model);
}

/* ------------------------------------------------------------------------------------------ */
/* the official data step (o1pruner weights): CPython's random, numpy's sums, the weights, the
 * JSON it writes. The expected values were printed by CPython 3.11 and numpy 1.24. */

static void test_python_random_numpy(void) {
    printf("official data step: CPython's random and numpy's sums\n");
    Mt19937 mt;
    mt_seed(&mt, 42);
    double first = py_random(&mt), last = first;
    for (int i = 1; i < 1000; i++) last = py_random(&mt); /* past the state's regeneration */
    CHECK(first == 0.6394267984578837 && last == 0.8554501933059546,
          "random.seed(42); random.random(): %.17g (want 0.6394267984578837), 1000th %.17g", first, last);
    static const int want16[16] = {7, 9, 5, 6, 14, 10, 12, 8, 1, 2, 13, 15, 4, 11, 0, 3};
    int x[1000];
    for (int i = 0; i < 16; i++) x[i] = i;
    mt_seed(&mt, 42);
    py_shuffle(&mt, x, 16);
    CHECK(!memcmp(x, want16, sizeof(want16)), "shuffle(range(16)) after seed(42): %d %d %d ...", x[0], x[1],
          x[2]);
    for (int i = 0; i < 1000; i++) x[i] = i;
    mt_seed(&mt, 42);
    py_shuffle(&mt, x, 1000);
    CHECK(x[0] == 776 && x[1] == 507 && x[4] == 33 && x[995] == 281 && x[999] == 654,
          "shuffle(range(1000)): %d %d ... %d", x[0], x[1], x[999]);
    /* np.sum of 12 numbers: 9.0 (pairwise), where a left-to-right sum gives 1.0 */
    double a[12] = {1e16, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1e16, 1}, left = 0;
    for (int i = 0; i < 12; i++) left += a[i];
    CHECK(numpy_sum(a, 12) == 9.0 && left == 1.0, "np.sum: %.17g (want 9.0), left to right %.17g",
          numpy_sum(a, 12), left);
    /* 9000 numbers: two buffer blocks of 8192 and 808, not one pairwise sum over all */
    double *b = malloc(sizeof(double) * 9000);
    for (int i = 0; i < 9000; i++) b[i] = 0.1 * (i % 13 + 1) * (i % 17 == 0 ? 1e9 : 1.0);
    CHECK(numpy_sum(b, 9000) == 371300005926.9001 && numpy_pairwise(b, 9000) == 371300005926.9,
          "np.add.reduce over 9000: %.17g (want 371300005926.9001)", numpy_sum(b, 9000));
    free(b);
}

/* the weights by hand: K = 4, lengths 10 200 40 50, correct 1 0 1 1, alpha 2; L_ref = 75,
 * A_ref = 0.75; w = 65/10 + 0.5 = 7 -> 4 (clipped), -125/200 - 1.5 = -2.125 -> -2 (clipped),
 * 35/40 + 0.5 = 1.375, 25/50 + 0.5 = 1; mean 1.09375, variance 18.10546875 / 4 */
static void test_official_weights(void) {
    printf("official data step: the weights, and the JSON written\n");
    RealSample s[8];
    static const int length[8] = {10, 200, 40, 50, 7, 7, 7, 7}, correct[8] = {1, 0, 1, 1, 1, 1, 0, 0};
    for (int i = 0; i < 8; i++)
        s[i] = (RealSample){.problem = "p", .problem_len = 1, .solution = "s", .solution_len = 1,
                            .length = length[i], .correct = correct[i]};
    WeightsConfig c = {.k = 4, .m = 4, .alpha = 2, .shuffle = 0};
    int selected[8];
    double raw[8], w[8], mean, std, want_raw[4] = {4, -2, 1.375, 1};
    CHECK(official_weights(s, 4, &c, selected, raw, w, &mean, &std) == 0, "weights refused");
    double want_std = sqrt(18.10546875 / 4), worst = 0;
    for (int i = 0; i < 4; i++) {
        CHECK(raw[i] == want_raw[i] && selected[i] == i, "weight %d: %.17g (want %g)", i, raw[i],
              want_raw[i]);
        worst = worse(worst, fabs(w[i] - (want_raw[i] - 1.09375) / want_std));
    }
    CHECK(mean == 1.09375 && std == want_std && worst == 0, "mean %.17g std %.17g, z off by %g", mean, std,
          worst);
    /* with the shuffle, the kept samples are Python's first 2 of each problem; problem 2's four
     * samples have the same length: the weight is alpha (correct - 0.5), +-1 */
    c.m = 2;
    c.shuffle = 1;
    CHECK(official_weights(s, 8, &c, selected, raw, w, &mean, &std) == 0, "weights refused");
    Mt19937 mt;
    int order[4] = {0, 1, 2, 3};
    mt_seed(&mt, 42);
    py_shuffle(&mt, order, 4);
    CHECK(selected[0] == order[0] && selected[1] == order[1] && raw[2] == (correct[selected[2]] ? 1 : -1),
          "shuffled selection: %d %d (want %d %d)", selected[0], selected[1], order[0], order[1]);
    /* every weight the same: refused (np.std = 0) */
    c.k = 4;
    CHECK(official_weights(s + 4, 4, &(WeightsConfig){4, 2, 0, 0}, selected, raw, w, &mean, &std) == -1,
          "a constant set of weights was not refused");
    /* json.dump's text: Python's float repr and string escapes */
    static const struct { double x; const char *text;
    } floats[] = {{0.0, "0.0"},
                  {-2.0, "-2.0"},
                  {0.1, "0.1"},
                  {1e-4, "0.0001"},
                  {1.5e-5, "1.5e-05"},
                  {1e16, "1e+16"},
                  {1234567890123456.0, "1234567890123456.0"},
                  {-0.27044789399227254, "-0.27044789399227254"},
                  {1.0 / 3, "0.3333333333333333"},
                  {2e-310, "2e-310"},
                  {1.7976931348623157e308, "1.7976931348623157e+308"},
                  {123.456, "123.456"},
                  {-0.0, "-0.0"}};
    char path[400];
    snprintf(path, sizeof(path), "%s/json_out.txt", tmpdir);
    for (size_t i = 0; i < sizeof(floats) / sizeof(floats[0]); i++) {
        FILE *f = fopen(path, "wb");
        json_put_double(f, floats[i].x);
        fclose(f);
        size_t n;
        char *text = (char *)read_bytes(path, &n);
        CHECK(n == strlen(floats[i].text) && !memcmp(text, floats[i].text, n),
              "repr(%.17g): '%.*s' (want '%s')", floats[i].x, (int)n, text, floats[i].text);
        free(text);
    }
    static const char raw_text[] = "a\"\\/\b\f\n\r\t\x01\x7f\0\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80~";
    const char *want = "\"a\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u007f\\u0000\\u00e9\\u4e2d\\ud83d\\ude00~\"";
    FILE *f = fopen(path, "wb");
    json_put_string(f, raw_text, sizeof(raw_text) - 1);
    fclose(f);
    size_t n;
    char *text = (char *)read_bytes(path, &n);
    CHECK(n == strlen(want) && !memcmp(text, want, n), "json.dumps: %.*s (want %s)", (int)n, text, want);
    free(text);
}

/* ========================================================================================== */
/* bad input: errors between stages, the command line, bad files. Every error is one line that  */
/* names the file (and line) and says what to do; exit 1 for bad input, 2 for bad usage.       */

/* a pre-sampled set edited one way: line `target` (1-based) replaced by `with` (NULL: dropped),
 * or `extra` appended */
static void edit_presampled(const char *from, const char *to, int target, const char *with,
                            const char *extra) {
    size_t n;
    char *text = (char *)read_bytes(from, &n);
    FILE *f = fopen(to, "wb");
    int line = 1;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] != '\n') continue;
        if (line == target) { if (with) fprintf(f, "%s\n", with); }
        else fwrite(text + start, 1, i + 1 - start, f);
        start = i + 1;
        line++;
    }
    if (extra) fputs(extra, f);
    fclose(f);
    free(text);
}

/* an OUT.partial this build cannot read (here: of the older format, without ref_logprob) is
 * refused with the advice to delete it, not to run the command that just failed; run discards it */
static void test_unreadable_partial(void) {
    char out[400], partial[420], err[O1P_ERR_LEN];
    snprintf(out, sizeof(out), "%s/old.txt", tmpdir);
    snprintf(partial, sizeof(partial), "%s.partial", out);
    const char *old = "# o1pruner presampled set, format 1\n";
    write_bytes(partial, (const unsigned char *)old, strlen(old));
    PresampleConfig pre = {.ref = "data/reference.bin", .data_dir = "data", .out = out, .k = 2, .limit = 2,
                           .max_new = 160, .temperature = 1.0f, .top_p = 1.0f, .seed = 1, .quiet = 1};
    int rc = run_presample(&pre, err);
    CHECK(rc != 0 && strstr(err, partial) && strstr(err, "format 2; delete it to start over"),
          "an unreadable partial file: rc %d, '%s'", rc, err);
    pre.discard_stale = 1;
    fflush(stdout);
    int saved = dup(1), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    rc = run_presample(&pre, err);
    fflush(stdout);
    dup2(saved, 1);
    close(devnull); close(saved);
    CHECK(rc == 0 && access(partial, F_OK) != 0, "run must discard an unreadable partial file: %s",
          rc ? err : "kept");
    /* a model whose logits overflow: presample stops instead of writing a set it cannot read back */
    GPT model;
    char path[400];
    snprintf(path, sizeof(path), "%s/overflow.bin", tmpdir);
    CHECK(checkpoint_load(&model, "data/reference.bin", NULL, err) == 0, "%s", err);
    for (int i = 0; i < model.config.n_embd; i++) model.p.lnfw[i] = 3e38f;
    CHECK(checkpoint_save(&model, path, 0, err) == 0, "%s", err);
    gpt_free(&model);
    pre.ref = path;
    remove(out);
    rc = run_presample(&pre, err);
    CHECK(rc != 0 && strstr(err, "is not finite") && access(out, F_OK) != 0,
          "a model with overflowing logits: rc %d, '%s'", rc, err);
}

static void test_stage_errors(const char *presampled) {
    printf("bad input between stages\n");
    test_unreadable_partial();
    char bad[400], err[O1P_ERR_LEN];
    snprintf(bad, sizeof(bad), "%s/bad_presampled.txt", tmpdir);
    /* line 5 is the first sample: problem 0 of the small prune set is 2+7= ... */
    PresampledSet ps;
    CHECK(presampled_read(&ps, presampled, err) == 0, "%s", err);
    char first[256];
    snprintf(first, sizeof(first), "%s", ps.sample[0].text);
    int first_correct = ps.correct[0], first_len = ps.sample[0].length - ps.sample[0].prompt_len;
    presampled_free(&ps);
    char line[400];
    struct { int target; const char *with, *extra, *expect; } cases[] = {
            {1, "# something else", NULL, ":1: not an o1pruner pre-sampled set"},
            {2, "# reference zz config 18 160 4 4 128", NULL, ":2: malformed reference line"},
            {3, "# problems 40 k 0 temperature 1 top_p 1 max_new 160 seed 1", NULL,
             ":3: malformed or out-of-range"},
            {3, "# problems 20000 k 1024 temperature 1 top_p 1 max_new 160 seed 1", NULL,
             ":3: the header promises 20000 x 1024"},
            {5, NULL, NULL, ":5: expected problem 0 sample 0 here"},
            {5, "0 0 1", NULL, ":5: expected 'problem sample correct length ref_logprob text'"},
            {5, line, NULL, ":5: 'correct' is"},
            {0, NULL, "40 0 1 4 -1 2+2=A04$\n", "more lines than the header"},
            {5, "0 0 1 5 -2.5 3+4=bogus", NULL, ":5: character 'b' outside the vocabulary"},
            {5, "0 0 1 12 2+7=02+7=09,A09$", NULL, ":5: ref_logprob '2+7=02+7=09,A09$' is not a log-prob"},
            {5, "0 0 1 12 0.25 2+7=02+7=09,A09$", NULL, ":5: ref_logprob '0.25' is not"},
            {5, "0 0 1 12 nan 2+7=02+7=09,A09$", NULL, ":5: ref_logprob 'nan' is not"},
            {5, "0 0 1 12 -1e999 2+7=02+7=09,A09$", NULL, ":5: ref_logprob '-1e999' is not"},
            {5, "0 0 1 12 -1.5x 2+7=02+7=09,A09$", NULL, ":5: ref_logprob '-1.5x' is not"},
            {5, "0 0 1 12 -0x1p-1 2+7=02+7=09,A09$", NULL, ":5: ref_logprob '-0x1p-1' is not"},
            {5, "0 0 1 12-1.5 2+7=02+7=09,A09$", NULL, ":5: ref_logprob '-1.5' is not"},
            {5, "0 0 1 12 -1.5", NULL, ":5: no prompt+response after ref_logprob"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (cases[i].with == line)
            snprintf(line, sizeof(line), "0 0 %d %d -1.25 %s", !first_correct, first_len, first);
        edit_presampled(presampled, bad, cases[i].target, cases[i].with, cases[i].extra);
        int rc = presampled_read(&ps, bad, err);
        CHECK(rc != 0 && strstr(err, bad) && strstr(err, cases[i].expect),
              "pre-sampled case %zu: rc %d, '%s' (wanted '%s')", i, rc, err, cases[i].expect);
        if (rc == 0) presampled_free(&ps);
    }
    snprintf(line, sizeof(line), "0 0 %d %d -1.25 %s", first_correct, first_len + 1, first);
    edit_presampled(presampled, bad, 5, line, NULL);
    CHECK(presampled_read(&ps, bad, err) != 0 && strstr(err, ":5: length"), "wrong length: %s", err);
    /* truncated: the last line dropped */
    size_t n;
    char *text = (char *)read_bytes(presampled, &n);
    size_t cut = n - 1;
    while (cut > 0 && text[cut - 1] != '\n') cut--; /* where the last line starts */
    write_bytes(bad, (unsigned char *)text, cut);
    free(text);
    CHECK(presampled_read(&ps, bad, err) != 0 && strstr(err, "file ends early"), "truncated set: %s", err);
    /* prune refuses: a reference that did not sample the set, and m > K */
    GPT other;
    CHECK(checkpoint_load(&other, "data/reference.bin", NULL, err) == 0, "%s", err);
    other.params[0] += 1e-3f;
    char other_path[400], out[400];
    snprintf(other_path, sizeof(other_path), "%s/other.bin", tmpdir);
    snprintf(out, sizeof(out), "%s/should_not_exist.bin", tmpdir);
    CHECK(checkpoint_save(&other, other_path, 0, err) == 0, "%s", err);
    gpt_free(&other);
    PruneConfig pc;
    prune_defaults(&pc);
    pc.ref = other_path;
    pc.presampled = presampled;
    pc.out = out;
    pc.quiet = 1;
    CHECK(run_prune(&pc, err) != 0 && strstr(err, "was sampled from another model") &&
                  strstr(err, presampled),
          "mismatched reference: %s", err);
    pc.ref = "data/reference.bin";
    pc.m = 9;
    CHECK(run_prune(&pc, err) != 0 && strstr(err, "--m 9 is more than the 8 samples"), "m > K: %s", err);
    CHECK(access(out, F_OK) != 0, "a failed prune left %s behind", out);
}

/* the command line: exit status 2 for bad usage, 1 for bad input, with a message naming the problem */
static void test_cli(void) {
    printf("command line\n");
    if (access("./o1pruner", X_OK) != 0) { CHECK(0, "./o1pruner not built (make test builds it)"); return; }
    char corrupt[400];
    snprintf(corrupt, sizeof(corrupt), "%s/corrupt.bin", tmpdir);
    size_t n;
    unsigned char *model = read_bytes("data/reference.bin", &n);
    model[1000] ^= 1;
    write_bytes(corrupt, model, n);
    free(model);
    struct { const char *args; int status; const char *expect; } cases[] = {
            {"", 2, "usage: o1pruner <command>"},
            {"frobnicate", 2, "unknown command 'frobnicate'"},
            {"prune --frob 1", 2, "unknown flag '--frob'"},
            {"prune --lambda -1", 2, "--lambda -1 is outside [0, 1000]"},
            {"prune --m", 2, "--m needs a value"},
            {"prune --m 3x", 2, "--m '3x' is not a whole number"},
            {"presample --k 0", 2, "--k 0 is outside [1, 1024]"},
            {"sft --heads 3", 2, "--heads 3 does not divide --embd 128"},
            {"eval --model /nonexistent.bin", 1, "/nonexistent.bin: cannot open checkpoint"},
            {"sample --prompt 3+x=", 2, "--prompt '3+x='"},
            {"prune --presampled /nonexistent.txt", 1, "/nonexistent.txt: cannot open"},
            {"sample --seed 18446744073709551615 --count 1", 0, "minimal"},
            {"sample --seed -1", 2, "--seed '-1' is not a whole number"},
            /* the shared flags: --threads on every command that runs the model, --quiet with progress */
            {"sample --threads 1 --count 1 --temperature 0", 0, "minimal"},
            {"sample --threads -1", 2, "--threads -1 is outside [0, 1024]"},
            {"eval --model /nonexistent.bin --quiet --threads 1", 1,
             "/nonexistent.bin: cannot open checkpoint"},
            {"vectors --threads 1 --check data/vectors/method.txt --reference data/vectors/method.txt", 0,
             "69 of 69 tensors within tolerance"},
            {"presample --max-new 200 --out /tmp/o1pruner_cli_unused.txt", 1,
             "--max-new 200 does not fit the context"},
            {"eval --help", 0, "usage: o1pruner eval"},
            {"export", 2, "--safetensors FILE is required"},
            {"export --safetensors /tmp/o1pruner_cli_unused.st --model /nonexistent.bin", 1,
             "/nonexistent.bin: cannot open"},
            {"vectors --out /dev/null/x", 1, "/dev/null/x: cannot create directory"},
            {"vectors --help", 0, "usage: o1pruner vectors"},
            {"vectors --out /tmp/o1pruner_cli_unused --check data/vectors/method.txt", 2,
             "--check compares a file with them: give one"},
            {"vectors --reference data/vectors/method.txt", 2, "--reference is only used with --check FILE"},
            {"prune --save-every -1", 2, "--save-every -1 is outside [0, 1e+08]"},
            {"presample --save-every x", 2, "--save-every 'x' is not a whole number"},
            {"vectors --check /nonexistent.txt", 1, "/nonexistent.txt: cannot open"},
            {"vectors --check data/vectors/method.txt --reference data/vectors/method.txt", 0,
             "69 of 69 tensors within tolerance"},
            {"vectors --check data/vectors/method.txt --reference data/vectors/model.txt", 1,
             "FAIL: the shape differs"},
            {"--help", 0, "commands:"},
            {"data --help", 0, "usage: o1pruner data"},
            {"sft --help", 0, "usage: o1pruner sft"},
            {"sample --help", 0, "usage: o1pruner sample"},
            {"presample --help", 0, "usage: o1pruner presample"},
            {"prune --help", 0, "usage: o1pruner prune"},
            {"run --help", 0, "usage: o1pruner run"},
            {"bench --help", 0, "usage: o1pruner bench"},
            {"export --help", 0, "usage: o1pruner export"},
            {"compare --help", 0, "usage: o1pruner compare"},
            {"compare --batch 31", 2, "--batch 31: DPO needs an even batch"},
            {"compare --dpo-lr 2", 2, "--dpo-lr 2 is outside [0, 1]"},
            {"run --dpo-lr 1e-5", 2, "unknown flag '--dpo-lr'"},
            {"prune --method ppo", 2, "--method 'ppo' is not o1-pruner, sft-shortest or dpo"},
            {"prune --method dpo --batch 7", 2, "--batch 7: DPO needs an even batch"},
            {"prune --curve-problems -1", 2, "--curve-problems -1 is outside"},
    };
    char cmd[1200], out[400];
    snprintf(out, sizeof(out), "%s/cli.txt", tmpdir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) + 1; i++) {
        char args[600];
        int status;
        const char *expect;
        if (i < sizeof(cases) / sizeof(cases[0])) {
            snprintf(args, sizeof(args), "%s", cases[i].args);
            status = cases[i].status;
            expect = cases[i].expect;
        } else {
            snprintf(args, sizeof(args), "eval --model %s", corrupt);
            status = 1;
            expect = "CRC-32 mismatch";
        }
        snprintf(cmd, sizeof(cmd), "./o1pruner %s > %s 2>&1", args, out);
        int rc = system(cmd);
        int got = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
        size_t len;
        char *text = (char *)read_bytes(out, &len);
        text = realloc(text, len + 1);
        text[len] = 0;
        CHECK(got == status && strstr(text, expect),
              "o1pruner %s: exit %d (wanted %d), output '%.200s' (wanted '%s')", args, got, status, text,
              expect);
        free(text);
    }
}

/* Every reader, through the command line, on a table of bad files made from good ones: exit
 * status 1, one line "o1pruner: FILE[:LINE]: what is wrong; what to do", no output file. */
enum { BAD_CUT, BAD_LINE, BAD_XOR, BAD_U32, BAD_U64, BAD_APPEND };

static void test_bad_files(void) {
    printf("bad files through the command line: each reader, exit status 1 and one line naming the file\n");
    if (access("./o1pruner", X_OK) != 0) { CHECK(0, "./o1pruner not built (make test builds it)"); return; }
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/badfiles", tmpdir);
    mkdir(dir, 0777);
    size_t ref_size;
    free(read_bytes("data/reference.bin", &ref_size));
    long params_end = (long)ref_size - 4; /* the CRC-32 follows the parameters */
    /* `at`: byte offset (BAD_CUT keeps `at` bytes; < 0 counts from the end) or line number (BAD_LINE) */
    struct {
        const char *good, *file, *command;
        int op;
        long at;
        uint64_t value;
        const char *with, *expect;
    } cases[] = {
            {"data/reference.bin", "model.bin", "eval --model F", BAD_CUT, 0, 0, NULL,
             "truncated checkpoint (0 bytes"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_CUT, 30, 0, NULL,
             "truncated checkpoint (30 bytes"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_CUT, 56, 0, NULL,
             "truncated checkpoint (56 bytes"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_CUT, 56 + 4000, 0, NULL,
             "truncated checkpoint: 4056 bytes"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_CUT, params_end, 0, NULL,
             "truncated checkpoint"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_CUT, -1, 0, NULL,
             "truncated checkpoint"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_APPEND, 0, 0, "x",
             "oversized checkpoint"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_XOR, 0, 0, NULL, "bad magic"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_U32, 8, 7, NULL, "format version 7"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_U32, 20, 0xFFFFFFFFu, NULL,
             "impossible model config"}, /* -1 layers */
            {"data/reference.bin", "model.bin", "eval --model F", BAD_U32, 28, 1u << 30, NULL,
             "impossible model config"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_U64, 48, (uint64_t)1 << 62, NULL,
             "parameter count"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_U64, 40, ~(uint64_t)0, NULL,
             "impossible optimizer step count"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_U32, 36, 5, NULL, "unknown flags"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_XOR, 123457, 0, NULL,
             "CRC-32 mismatch"},
            {"data/reference.bin", "model.bin", "eval --model F", BAD_XOR, -2, 0, NULL, "CRC-32 mismatch"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_CUT, 0, 0, NULL,
             ":1: file ends early"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_CUT, 20, 0, NULL,
             ":1: file ends early"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_CUT, 36, 0, NULL,
             ":2: file ends early"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_CUT, -9, 0, NULL,
             "file ends early"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_XOR, 2, 0, NULL,
             ":1: not an o1pruner pre-sampled set"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_LINE, 2, 0,
             "# reference 974f178e config 18 160 -4 4 128 (x)", ":2: malformed reference line"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_LINE, 3, 0,
             "# problems 999999999 k 1024 temperature 1 top_p 1 max_new 160 seed 1",
             ":3: malformed or out-of-range"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_LINE, 3, 0,
             "# problems 3 k -2 temperature 1 top_p 1 max_new 160 seed 1", ":3: malformed or out-of-range"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_LINE, 3, 0,
             "# problems 3 k 2 temperature warm top_p 1 max_new 160 seed 1", ":3: malformed or out-of-range"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_LINE, 3, 0,
             "# problems 300000 k 1000 temperature 1 top_p 1 max_new 160 seed 1",
             ":3: the header promises 300000 x 1000"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_LINE, 5, 0,
             "0 0 1 twelve -1 2+7=A09$", ":5: expected 'problem sample correct length ref_logprob text'"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_LINE, 5, 0,
             "0 0 1 4 -1 2+7=A0x$", ":5: character 'x' outside the vocabulary"},
            {"data/fuzz/presampled/small.txt", "presampled.txt", "prune --presampled F", BAD_LINE, 5, 0,
             "0 0 1 5 -1 2+7=A09$", ":5: length 5"},
            {"data/fuzz/dataset/train12.txt", "train.txt", "sft --data D", BAD_CUT, 0, 0, NULL, "0 lines"},
            {"data/fuzz/dataset/train12.txt", "train.txt", "sft --data D", BAD_CUT, 40, 0, NULL,
             ":1: the trace does not end in the right answer"},
            {"data/fuzz/dataset/train12.txt", "train.txt", "sft --data D", BAD_LINE, 2, 0,
             "8+2+8=08+2=10,10+8=18,A1x$", ":2: character outside the vocabulary"},
            {"data/fuzz/dataset/train12.txt", "train.txt", "sft --data D", BAD_LINE, 3, 0, "2+-7=A05$",
             ":3: character outside the vocabulary"},
            {"data/fuzz/dataset/train12.txt", "train.txt", "sft --data D", BAD_LINE, 3, 0, "2+7=A10$",
             ":3: the trace does not end in the right answer"},
            {"data/fuzz/dataset/train12.txt", "train.txt", "sft --data D", BAD_XOR, 0, 0, NULL,
             ":1: character outside the vocabulary"},
            {"data/fuzz/vectors/small.txt", "vectors.txt", "vectors --check F", BAD_CUT, 0, 0, NULL,
             "no tensors"},
            {"data/fuzz/vectors/small.txt", "vectors.txt", "vectors --check F", BAD_CUT, -15, 0, NULL,
             "the file ends after 1 of 2 rows"},
            {"data/fuzz/vectors/small.txt", "vectors.txt", "vectors --check F", BAD_LINE, 4, 0,
             "batch.mask f32 2 99999999999 3",
             ":4: tensor 'batch.mask': dimension '99999999999' is not a positive whole number"},
            {"data/fuzz/vectors/small.txt", "vectors.txt", "vectors --check F", BAD_LINE, 4, 0,
             "batch.mask f32 2 -2 3", ":4: tensor 'batch.mask': dimension '-2'"},
            {"data/fuzz/vectors/small.txt", "vectors.txt", "vectors --check F", BAD_LINE, 5, 0, "0 one 1",
             ":5: tensor 'batch.mask': 'one' is not a finite number"},
            {"data/fuzz/vectors/small.txt", "vectors.txt", "vectors --check F", BAD_LINE, 2, 0,
             "config.n_embd i32 0 x", "ndim"},
    };
    char bad[400], never[400], cmd[2000], log[400];
    snprintf(never, sizeof(never), "%s/never.bin", dir);
    snprintf(log, sizeof(log), "%s/log.txt", dir);
    int ok_cases = 0, n_cases = (int)(sizeof(cases) / sizeof(cases[0]));
    for (int i = 0; i < n_cases; i++) {
        size_t n;
        unsigned char *b = read_bytes(cases[i].good, &n);
        if (!b) { CHECK(0, "case %d: cannot read %s", i, cases[i].good); continue; }
        size_t extra = cases[i].with ? strlen(cases[i].with) + 2 : 0;
        b = realloc(b, n + extra + 1);
        long at = cases[i].at < 0 ? (long)n + cases[i].at : cases[i].at;
        if (cases[i].op == BAD_CUT) n = (size_t)at;
        else if (cases[i].op == BAD_XOR) b[at] ^= 0x5A;
        else if (cases[i].op == BAD_U32) put_u32(b + at, (uint32_t)cases[i].value);
        else if (cases[i].op == BAD_U64) put_u64(b + at, cases[i].value);
        else if (cases[i].op == BAD_APPEND) {
            memcpy(b + n, cases[i].with, strlen(cases[i].with));
            n += strlen(cases[i].with);
        } else if (cases[i].op == BAD_LINE) { /* replace line `at` */
            size_t start = 0;
            for (long ln = 1; ln < at && start < n; start++) ln += b[start] == '\n';
            size_t end = start;
            while (end < n && b[end] != '\n') end++;
            size_t w = strlen(cases[i].with);
            memmove(b + start + w, b + end, n - end);
            memcpy(b + start, cases[i].with, w);
            n = start + w + (n - end);
        }
        snprintf(bad, sizeof(bad), "%s/%s", dir, cases[i].file);
        write_bytes(bad, b, n);
        free(b);
        /* the command: F is the bad file, D its directory (the dataset reader reads D/train.txt) */
        char args[600];
        size_t k = 0;
        for (const char *q = cases[i].command; *q && k < sizeof(args) - 420; q++) {
            if (*q == 'F' && (q[1] == 0 || q[1] == ' '))
                k += (size_t)snprintf(args + k, sizeof(args) - k, "%s", bad);
            else if (*q == 'D' && (q[1] == 0 || q[1] == ' '))
                k += (size_t)snprintf(args + k, sizeof(args) - k, "%s", dir);
            else args[k++] = *q;
        }
        args[k] = 0;
        remove(never);
        snprintf(cmd, sizeof(cmd), "./o1pruner %s --out %s > %s 2>&1", args, never, log);
        if (!strncmp(args, "eval", 4) || !strncmp(args, "vectors", 7))
            snprintf(cmd, sizeof(cmd), "./o1pruner %s > %s 2>&1", args, log);
        int rc = system(cmd);
        size_t len;
        char *text = (char *)read_bytes(log, &len);
        text = realloc(text, len + 1);
        text[len] = 0;
        char prefix[500];
        snprintf(prefix, sizeof(prefix), "o1pruner: %s", bad);
        int lines = 0;
        for (size_t j = 0; j < len; j++) lines += text[j] == '\n';
        char *semi = strchr(text, ';');
        int good = WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && !strncmp(text, prefix, strlen(prefix)) &&
                   strstr(text, cases[i].expect) && lines == 1 && semi && semi[1] == ' ' && semi[2] != '\n' &&
                   access(never, F_OK) != 0;
        CHECK(good,
              "bad %s, case %d: exit %d, output '%s' (wanted exit 1, one line '%s...%s...; what to do')",
              cases[i].file, i, WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, text, prefix, cases[i].expect);
        ok_cases += good;
        free(text);
    }
    printf("  %d of %d bad checkpoints, pre-sampled sets, dataset splits and vectors files refused as "
           "expected\n",
           ok_cases, n_cases);
}

/* o1pruner weights on bad samples files: exit 1, one line naming the file and what to do, no
 * output; and on good but unusual ones (JSON Lines, escapes, nesting in ignored fields) */
#define GOOD_SAMPLE(p, len, c)                                                                               \
    "{\"problem\": \"" p "\", \"solution\": \"s\", \"length\": " len ", \"correct\": " c "}"
static void test_weights_bad_input(void) {
    printf("official data step: bad samples files\n");
    static const struct { const char *text, *expect;
    } cases[] = {
        {"", "expected a JSON array of samples"},
        {"[", "record 1: expected a sample {...}, found the end of the file"},
        {"[1]", "expected a sample {...}, found '1'"},
        {"[" GOOD_SAMPLE("p", "3", "true") ",]", "a ',' before ']'"},
        {"[" GOOD_SAMPLE("p", "3", "true") " " GOOD_SAMPLE("p", "3", "true") "]", "expected ',' or ']'"},
        {"[{\"problem\": \"p\", \"solution\": \"s\", \"correct\": true}]",
         "field \"length\" is missing; it must be"},
        {"[{\"problem\": \"p\", \"length\": 2, \"correct\": true}]", "field \"solution\" is missing"},
        {"[" GOOD_SAMPLE("p", "0", "true") "]", "bad value of field \"length\"; it must be a whole number"},
        {"[" GOOD_SAMPLE("p", "2.5", "true") "]", "bad value of field \"length\""},
        {"[" GOOD_SAMPLE("p", "-1", "true") "]", "bad value of field \"length\""},
        {"[" GOOD_SAMPLE("p", "1e3", "true") "]", "bad value of field \"length\""},
        {"[" GOOD_SAMPLE("p", "\"3\"", "true") "]", "bad value of field \"length\""},
        {"[" GOOD_SAMPLE("p", "9999999999", "true") "]", "bad value of field \"length\""},
        {"[" GOOD_SAMPLE("p", "3", "2") "]",
         "bad value of field \"correct\"; it must be true, false, 0 or 1"},
        {"[" GOOD_SAMPLE("p", "3", "null") "]", "bad value of field \"correct\""},
        {"[" GOOD_SAMPLE("p", "3", "\"yes\"") "]", "bad value of field \"correct\""},
        {"[{\"problem\": 5, \"solution\": \"s\", \"length\": 3, \"correct\": 1}]",
         "bad value of field \"problem\""},
        {"[" GOOD_SAMPLE("a\x01", "3", "true") "]", "raw control character (byte 01)"},
        {"[" GOOD_SAMPLE("a\xff", "3", "true") "]", "not UTF-8"},
        {"[" GOOD_SAMPLE("a\xc0\xaf", "3", "true") "]", "not UTF-8"},     /* an overlong '/' */
        {"[" GOOD_SAMPLE("a\xed\xa0\x80", "3", "true") "]", "not UTF-8"}, /* a surrogate in UTF-8 */
        {"[" GOOD_SAMPLE("\\ud800", "3", "true") "]", "\\ud800 is a high surrogate without its low half"},
        {"[" GOOD_SAMPLE("\\ud800\\u0041", "3", "true") "]", "high surrogate without its low half"},
        {"[" GOOD_SAMPLE("\\udc00", "3", "true") "]", "\\udc00 is a lone low surrogate"},
        {"[" GOOD_SAMPLE("\\x", "3", "true") "]", "'\\x' is not a JSON escape"},
        {"[" GOOD_SAMPLE("\\u12g4", "3", "true") "]", "needs 4 hex digits"},
        {"[{\"problem\": \"p", "a string is not closed"},
        {"[{\"problem\" \"p\"}]", "expected ':' after a field name"},
        {"[{problem: \"p\"}]", "expected a field name in quotes"},
        {"[{\"x\": NaN}]", "expected a JSON value, found 'N'"},
        {"[{\"x\": -, \"problem\": 1}]", "a number needs a digit after its '-'"},
        {"[{\"x\": 1., \"problem\": 1}]", "a number needs a digit after its '.'"},
        {"[{\"x\": 1e, \"problem\": 1}]", "a number needs a digit in its exponent"},
        {"[{\"x\": [1 2]}]", "expected ',' or ']', found '2'"},
        {"[" GOOD_SAMPLE("p", "3", "true") "] x", "'x' after the samples"},
        {"\xef\xbb\xbf[]", "expected a JSON array of samples [{...}, ...] or JSON Lines"},
        {"[" GOOD_SAMPLE("p", "3", "true") "]", "1 samples, not a positive multiple of --k 2"},
        {"[]", "0 samples, not a positive multiple of --k 2"},
        {"[" GOOD_SAMPLE("p", "3", "true") ",\n" GOOD_SAMPLE("q", "3", "true") "]",
         "line 2, record 2: its problem differs from record 1's"},
        {"[" GOOD_SAMPLE("p", "3", "true") ", " GOOD_SAMPLE("p", "3", "true") "]", "np.std is 0"},
        {"[" GOOD_SAMPLE("p", "3", "true") "]\0", "contains a NUL byte"},
    };
    char path[400], out[400], log[400], cmd[1400];
    snprintf(path, sizeof(path), "%s/samples.json", tmpdir);
    snprintf(out, sizeof(out), "%s/weighted.json", tmpdir);
    snprintf(log, sizeof(log), "%s/weights.log", tmpdir);
    int ok_cases = 0, n_cases = (int)(sizeof(cases) / sizeof(cases[0]));
    for (int i = 0; i < n_cases; i++) {
        size_t len = strlen(cases[i].text) + (strstr(cases[i].expect, "NUL") ? 1 : 0);
        write_bytes(path, (const unsigned char *)cases[i].text, len);
        remove(out);
        snprintf(cmd, sizeof(cmd), "./o1pruner weights --samples %s --k 2 --out %s > %s 2>&1", path, out,
                 log);
        int rc = system(cmd);
        size_t n;
        char *text = (char *)read_bytes(log, &n), prefix[500];
        text = realloc(text, n + 1);
        text[n] = 0;
        snprintf(prefix, sizeof(prefix), "o1pruner: %s: ", path);
        int good = WIFEXITED(rc) && WEXITSTATUS(rc) == 1 && !strncmp(text, prefix, strlen(prefix)) &&
                   strstr(text, cases[i].expect) && strchr(text, '\n') == text + n - 1 &&
                   strstr(text, "; ") && access(out, F_OK) != 0;
        CHECK(good, "bad samples case %d: exit %d, '%s' (wanted exit 1, '%s...%s...; what to do')", i,
              WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, text, prefix, cases[i].expect);
        ok_cases += good;
        free(text);
    }
    printf("  %d of %d bad samples files refused as expected\n", ok_cases, n_cases);
    /* deep nesting in an ignored field: 600 levels refused, 500 accepted */
    for (int depth = 500; depth <= 600; depth += 100) {
        FILE *f = fopen(path, "wb");
        fprintf(f, "{\"x\": ");
        for (int d = 0; d < depth; d++) fputc('[', f);
        for (int d = 0; d < depth; d++) fputc(']', f);
        fprintf(f, ", \"problem\": \"p\", \"solution\": \"s\", \"length\": 3, \"correct\": 1}\n" GOOD_SAMPLE(
                       "p", "9", "0"));
        fclose(f);
        snprintf(cmd, sizeof(cmd), "./o1pruner weights --samples %s --k 2 --out %s > %s 2>&1", path, out,
                 log);
        int rc = system(cmd);
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == (depth == 500 ? 0 : 1), "nesting %d: exit %d", depth,
              WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    }
    /* JSON Lines with escapes, a pair, a duplicate field (the last counts) and nested ignored fields */
    static const char good[] =
        "{\"problem\": \"\\u0032+2\", \"solution\": \"\\ud83d\\ude00 \\\"x\\\"\", \"length\": 1, "
        "\"correct\": 0,"
        " \"correct\": true, \"meta\": {\"a\": [1, -0.5e-3, {\"b\": null}], \"c\": \"\\u00e9\"}}\r\n"
        "\t{\"problem\":\"2+2\",\"solution\":\"\xc3\xa9\",\"length\":30,\"correct\":false}\n";
    write_bytes(path, (const unsigned char *)good, sizeof(good) - 1);
    char err[O1P_ERR_LEN];
    FILE *quiet = fopen("/dev/null", "w");
    int rc = weights_run(path, out, &(WeightsConfig){.k = 2, .m = 2, .alpha = 2, .shuffle = 0}, quiet, err);
    fclose(quiet);
    size_t n;
    char *text = rc == 0 ? (char *)read_bytes(out, &n) : NULL;
    CHECK(
        text &&
            strstr(
                text,
                "\"content\": \"2+2\"}, {\"role\": \"assistant\", \"content\": \"\\ud83d\\ude00 \\\"x\\\"\"}]"
                ", \"weight\": 1.0}") &&
            strstr(text, "\"content\": \"\\u00e9\"}], \"weight\": -1.0}]"),
        "a good JSON Lines file: %s", text ? text : err);
    free(text);
    /* bad usage: exit 2 */
    static const char *const usage[] = {"--samples X --out Y", "--samples X --k 2",
                                        "--samples X --k 2 --m 3 --out Y",
                                        "--samples X --k 2 --shuffle numpy --out Y", "--k 2 --out Y"};
    for (int i = 0; i < 5; i++) {
        snprintf(cmd, sizeof(cmd), "./o1pruner weights %s > %s 2>&1", usage[i], log);
        rc = system(cmd);
        CHECK(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "weights %s: exit %d, wanted 2", usage[i],
              WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* a small end-to-end O1-Pruner run on the shipped reference model (seconds) */

static void write_every_nth_line(const char *from, const char *to, int every) {
    size_t n;
    unsigned char *text = read_bytes(from, &n);
    FILE *f = fopen(to, "wb");
    int line = 0;
    for (size_t i = 0; i < n; i++) {
        if (line % every == 0) fputc(text[i], f);
        if (text[i] == '\n') line++;
    }
    fclose(f);
    free(text);
}

static int files_equal(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *x = read_bytes(a, &na), *y = read_bytes(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x); free(y);
    return same;
}

/* how many samples of a pre-sampled set carry a ref_logprob that is not, to the bit, what a
 * forward pass of the reference model gives (batches of 16): the sampler's sums survive the trip
 * through the file's text */
static int presampled_unlike_forward(const char *path, const char *ref_path, char *err) {
    PresampledSet ps;
    GPT ref;
    if (presampled_read(&ps, path, err)) return -1;
    if (checkpoint_load(&ref, ref_path, NULL, err)) { presampled_free(&ps); return -1; }
    gpt_alloc_training(&ref, 16, ref.config.block_size);
    Dataset ds = {.ex = ps.sample, .count = ps.problems * ps.k, .buffer = NULL};
    int wrong = logprobs_unlike_forward(&ref, &ds, ps.ref_logprob, 16);
    gpt_free(&ref);
    presampled_free(&ps);
    return wrong;
}

static void test_small_run(void) {
    printf("small end-to-end run: presample, prune, evaluate\n");
    if (access("data/reference.bin", F_OK) != 0) {
        CHECK(0, "data/reference.bin missing (make reference)");
        return;
    }
    char dir[280], path[400], presampled[400], pruned[400], err[O1P_ERR_LEN];
    snprintf(dir, sizeof(dir), "%s/small", tmpdir);
    mkdir(dir, 0777);
    snprintf(path, sizeof(path), "%s/prune.txt", dir);
    write_every_nth_line("data/prune.txt", path, 50); /* 40 problems, 8 per difficulty */
    snprintf(path, sizeof(path), "%s/test.txt", dir);
    write_every_nth_line("data/test.txt", path, 10);
    snprintf(presampled, sizeof(presampled), "%s/presampled.txt", dir);
    snprintf(pruned, sizeof(pruned), "%s/pruned.bin", dir);
    PresampleConfig pre = {.ref = "data/reference.bin", .data_dir = dir, .out = presampled, .k = 8,
                           .max_new = 160, .temperature = 1.0f, .top_p = 1.0f, .seed = 1, .quiet = 1};
    int saved = dup(1), devnull = open("/dev/null", O_WRONLY);
    fflush(stdout);
    dup2(devnull, 1);
    int rc = run_presample(&pre, err);
    PruneConfig pc;
    prune_defaults(&pc);
    pc.presampled = presampled;
    pc.out = pruned;
    pc.quiet = 1;
    pc.batch = 16;
    pc.epochs = 3;
    pc.lr = 1e-4f;
    pc.curve_problems = 0; /* the curve's loss and ratio only: decoding is slow under the sanitizers */
    if (rc == 0) rc = run_prune(&pc, err);
    fflush(stdout);
    dup2(saved, 1);
    close(devnull); close(saved);
    CHECK(rc == 0, "small run: %s", err);
    if (rc != 0) return;
    int wrong = presampled_unlike_forward(presampled, "data/reference.bin", err);
    CHECK(wrong == 0, "%d of 320 pre-sampled log pi_ref differ from a forward pass of pi_ref %s", wrong,
          wrong < 0 ? err : "");
    /* the paper's baselines on the same set: they train (their quality is make compare's business) */
    char sft_path[400], dpo_path[400];
    snprintf(sft_path, sizeof(sft_path), "%s/sft-shortest.bin", dir);
    snprintf(dpo_path, sizeof(dpo_path), "%s/dpo.bin", dir);
    PruneConfig bc = pc;
    bc.method = METHOD_SFT_SHORTEST;
    bc.out = sft_path;
    fflush(stdout);
    saved = dup(1); devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    rc = run_prune(&bc, err);
    bc.method = METHOD_DPO;
    bc.out = dpo_path;
    bc.lr = 3e-6f;
    if (rc == 0) rc = run_prune(&bc, err);
    fflush(stdout);
    dup2(saved, 1);
    close(devnull); close(saved);
    CHECK(rc == 0, "baselines: %s", err);
    if (rc != 0) return;
    Dataset test;
    EvalResult r[4];
    const char *paths[4] = {"data/reference.bin", pruned, sft_path, dpo_path},
               *names[4] = {"reference", "O1-Pruner", "SFT-shortest", "DPO"};
    rc = evaluate_models(paths, names, 2, dir, 0, 1.0f, 1.0f, 160, 1, 1, r, &test, err);
    CHECK(rc == 0, "evaluation: %s", err);
    if (rc != 0) return;
    double L0 = mean_length(&r[0].greedy.all), L1 = mean_length(&r[1].greedy.all);
    double A0 = accuracy(&r[0].greedy.all), A1 = accuracy(&r[1].greedy.all);
    printf("  %d test problems, greedy: reference %.1f%% / %.1f tokens -> pruned %.1f%% / %.1f tokens\n",
           test.count, 100 * A0, L0, 100 * A1, L1);
    CHECK(L1 < 0.9 * L0, "the mean length did not go down: %.1f -> %.1f", L0, L1);
    /* 40 problems x 8 samples is far too few to keep accuracy the way make run does (-0.9 points):
     * measured 98.8% -> 87.8% here. The check is for a collapse (DPO at lr 1e-4 reaches 0.5%). */
    CHECK(A1 >= A0 - 0.15, "accuracy collapsed: %.3f -> %.3f", A0, A1);
    /* the report: the table, and report.json with the fields DESIGN.md §6 names */
    print_comparison(stdout, r, 2);
    dataset_free(&test);
    /* the report of compare: all four models, 4 sampled responses per problem, on 6 problems */
    char mini[320];
    snprintf(mini, sizeof(mini), "%s/mini", dir);
    mkdir(mini, 0777);
    snprintf(path, sizeof(path), "%s/test.txt", mini);
    write_every_nth_line("data/test.txt", path, 150);
    rc = evaluate_models(paths, names, 4, mini, 4, 1.0f, 1.0f, 160, 1, 1, r, &test, err);
    CHECK(rc == 0, "evaluation: %s", err);
    if (rc != 0) return;
    print_comparison(stdout, r, 4);
    char json[400];
    snprintf(json, sizeof(json), "%s/report.json", dir);
    print_disharmony(stdout, r, 4);
    print_histograms(stdout, r, 4);
    const char *json_keys[4] = {"reference", "pruned", "sft_shortest", "dpo"};
    float lambda[1] = {2.0f};
    int ablation[1] = {1};
    CHECK(write_report(json, r, 4, json_keys, lambda, ablation, 1, err) == 0, "%s", err);
    size_t n;
    char *text = (char *)read_bytes(json, &n);
    const char *keys[] = {"\"reference\": {",
                          "\"pruned\": {",
                          "\"accuracy\": ",
                          "\"mean_length\": ",
                          "\"aes\": ",
                          "\"by_difficulty\": [",
                          "\"greedy\": ",
                          "\"minimal_length\": 44",
                          "\"sft_shortest\": {",
                          "\"dpo\": {",
                          "\"length_quartiles\": [",
                          "\"length_histogram\": {",
                          "\"lambda_ablation\": [{\"lambda\": 2, \"model\": \"pruned\"}]"};
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        CHECK(n && strstr(text, keys[k]), "report.json lacks %s", keys[k]);
    int depth = 0, balanced = 1;
    for (size_t i = 0; i < n; i++) {
        depth += (text[i] == '{' || text[i] == '[') - (text[i] == '}' || text[i] == ']');
        balanced &= depth >= 0;
    }
    CHECK(balanced && depth == 0, "report.json brackets do not balance");
    free(text);
    /* the SVG: well formed, a histogram line per model and difficulty, the training curves drawn */
    char svg[400];
    snprintf(svg, sizeof(svg), "%s/report.svg", dir);
    CHECK(write_svg(svg, r, 4, paths, 1, err) == 0, "%s", err);
    text = (char *)read_bytes(svg, &n);
    text = realloc(text, n + 1);
    text[n] = 0;
    int polylines = 0, polygons = 0, opened = 0, closed = 0;
    for (const char *q = text; (q = strstr(q, "<polyline")); q++) polylines++;
    for (const char *q = text; (q = strstr(q, "<polygon")); q++) polygons++;
    for (size_t i = 0; i < n; i++) { opened += text[i] == '<'; closed += text[i] == '>'; }
    CHECK(!strncmp(text, "<?xml", 5) && strstr(text, "</svg>\n") && opened == closed && polygons == 5 &&
                  polylines == 3 * 5 + 1 + 1 + 3 && !strstr(text, "no curve") && !strstr(text, "nan") &&
                  !strstr(text, "inf"),
          "report.svg: %d areas, %d lines (expected the reference's 5 areas, 3 models x 5 difficulties + "
          "loss + ratio + 3 valid "
          "lengths), tags %d/%d",
          polygons, polylines, opened, closed);
    free(text);
    dataset_free(&test);
    test_stage_errors(presampled);
}

/* ------------------------------------------------------------------------------------------ */
/* the shipped reference model: the SFT code still reproduces the start of its training */

static void test_sft_fingerprint(void) {
    printf("SFT (stopped and resumed) reproduces the start of the shipped reference training\n");
    FILE *f = fopen("data/reference.txt", "r");
    unsigned expected = 0;
    int found = 0;
    char line[512];
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "fingerprint: parameters after 3 steps have CRC-32 %x", &expected) == 1) found = 1;
    if (f) fclose(f);
    CHECK(found, "data/reference.txt has no fingerprint line (run 'make reference')");
    SftConfig c;
    sft_defaults(&c);
    char out[300], resume[320], err[O1P_ERR_LEN];
    snprintf(out, sizeof(out), "%s/ref.bin", tmpdir);
    snprintf(resume, sizeof(resume), "%s.resume", out);
    c.out = out;
    c.quiet = 1;
    int saved = dup(1); /* the fingerprint line goes to stdout: keep the test log clean */
    fflush(stdout);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    /* stop after 1 step, then resume from the saved state up to step 3: the same bits as the
     * uninterrupted training that made data/reference.bin */
    c.stop_after = 1;
    int rc = run_sft(&c, err);
    c.stop_after = FINGERPRINT_STEPS;
    if (rc == 0) rc = run_sft(&c, err);
    fflush(stdout);
    dup2(saved, 1);
    close(devnull); close(saved);
    CHECK(rc == 0, "sft: %s", err);
    GPT model;
    int has_opt;
    if (rc == 0 && checkpoint_load(&model, resume, &has_opt, err) == 0) {
        uint32_t crc = crc32_update(0, model.params, model.num_params * sizeof(float));
        printf("  parameters after 1 step, a stop, and 2 resumed steps: CRC-32 %08x, data/reference.txt says "
               "%08x\n",
               crc, expected);
        CHECK(crc == expected && model.step == FINGERPRINT_STEPS,
              "the SFT code no longer reproduces data/reference.bin");
        gpt_free(&model);
    } else {
        CHECK(0, "no resumable state after the stop: %s", err);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* kill -9 at random points: every output is absent, the old version or the complete new one,
 * every resumable state is valid, and rerunning finishes with the same bits as an uninterrupted run */

/* run ./o1pruner with args (split at spaces), SIGKILL it after delay_us (< 0: never); 1 if it was killed */
static int run_and_kill(const char *args, long delay_us, int *status) {
    char buf[1200], *argv[64];
    int argc = 0;
    snprintf(buf, sizeof(buf), "./o1pruner %s", args);
    for (char *tok = strtok(buf, " "); tok && argc < 63; tok = strtok(NULL, " ")) argv[argc++] = tok;
    argv[argc] = NULL;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1); dup2(devnull, 2);
        execv("./o1pruner", argv);
        _exit(127);
    }
    if (delay_us >= 0) {
        struct timespec ts = {delay_us / 1000000, (delay_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    *status = st;
    return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
}

typedef enum { KIND_CHECKPOINT, KIND_PRESAMPLED } FileKind;

static int file_is_valid(const char *path, FileKind kind) {
    char err[O1P_ERR_LEN];
    if (kind == KIND_CHECKPOINT) {
        GPT m;
        int has_opt;
        if (checkpoint_load(&m, path, &has_opt, err)) return 0;
        gpt_free(&m);
        return 1;
    }
    PresampledSet ps;
    if (presampled_read(&ps, path, err)) return 0;
    presampled_free(&ps);
    return 1;
}

#define KILLS 6
static void test_interruptions(void) {
    printf("interruptions: kill -9 at random points of sft, presample and prune, then resume\n");
    if (access("./o1pruner", X_OK) != 0) { CHECK(0, "./o1pruner not built (make test builds it)"); return; }
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/kill", tmpdir);
    mkdir(dir, 0777);
    struct {
        const char *name, *args, *resume_suffix; /* args: OUT is replaced by the output path */
        FileKind kind, resume_kind;
    } stages[] = {
            {"sft.bin",
             "sft --out OUT --layers 1 --heads 1 --embd 16 --steps 40 --batch 8 --warmup 2 --save-every 1 "
             "--eval-every 0 --threads 1 --quiet",
             ".resume", KIND_CHECKPOINT, KIND_CHECKPOINT},
            /* the tiny model sft.bin just trained stands in for the reference: quick under the sanitizers and
               valgrind */
            {"presampled.txt",
             "presample --ref DIR/sft.bin --out OUT --problems 400 --k 2 --save-every 16 --threads 1 --quiet",
             ".partial", KIND_PRESAMPLED, KIND_PRESAMPLED},
            {"pruned.bin",
             "prune --ref DIR/sft.bin --presampled DIR/presampled.txt --out OUT --m 2 --batch 8 --save-every "
             "10 --curve-problems 2 "
             "--threads 1 --quiet",
             ".resume", KIND_CHECKPOINT, KIND_CHECKPOINT},
    };
    Rng rng;
    rng_seed(&rng, 2026, 11, 26);
    for (size_t s = 0; s < sizeof(stages) / sizeof(stages[0]); s++) {
        char expected[400], out[400], resume[420], old[400], args[1000], with_out[1000];
        snprintf(expected, sizeof(expected), "%s/expected_%s", dir, stages[s].name);
        snprintf(out, sizeof(out), "%s/%s", dir, stages[s].name);
        snprintf(resume, sizeof(resume), "%s%s", out, stages[s].resume_suffix);
        snprintf(old, sizeof(old), "%s/old_%s", dir, stages[s].name);
        /* args with DIR and OUT filled in */
        const char *a = stages[s].args;
        size_t k = 0;
        for (const char *q = a; *q && k < sizeof(args) - 400;) {
            if (!strncmp(q, "DIR", 3)) {
                k += (size_t)snprintf(args + k, sizeof(args) - k, "%s", dir);
                q += 3;
            } else if (!strncmp(q, "OUT", 3)) {
                k += (size_t)snprintf(args + k, sizeof(args) - k, "%%s");
                q += 3;
            } else args[k++] = *q++;
        }
        args[k] = 0;
        /* the uninterrupted run, timed */
        snprintf(with_out, sizeof(with_out), args, expected);
        int status;
        double t0 = now_seconds();
        run_and_kill(with_out, -1, &status);
        double seconds = now_seconds() - t0;
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: the uninterrupted run failed",
              stages[s].name);
        /* an old version of the output: a valid file of the same kind, different from the new one */
        const char *old_from = stages[s].kind == KIND_CHECKPOINT ? "data/fuzz/checkpoint/tiny.bin"
                                                                 : "data/fuzz/presampled/small.txt";
        size_t n;
        unsigned char *bytes = read_bytes(old_from, &n);
        write_bytes(old, bytes, n);
        write_bytes(out, bytes, n);
        free(bytes);
        snprintf(with_out, sizeof(with_out), args, out);
        int kills = 0, torn = 0, bad_resume = 0;
        for (int i = 0; i < KILLS; i++) {
            long delay = (long)(rng_uniform(&rng) * seconds * 1.1e6);
            kills += run_and_kill(with_out, delay, &status);
            if (!files_equal(out, old) && !files_equal(out, expected)) torn++;
            if (access(resume, F_OK) == 0 && !file_is_valid(resume, stages[s].resume_kind)) bad_resume++;
        }
        run_and_kill(with_out, -1, &status);
        CHECK(torn == 0 && bad_resume == 0, "%s: %d torn outputs, %d invalid resumable states after %d kills",
              stages[s].name, torn, bad_resume, kills);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && files_equal(out, expected) &&
                      access(resume, F_OK) != 0,
              "%s: the run after %d kills did not finish with the uninterrupted run's bits", stages[s].name,
              kills);
        printf("  %-14s %d of %d runs killed at random in [0, %.2f s]; %d torn outputs, %d invalid states; "
               "resumed to the %s bits\n",
               stages[s].name, kills, KILLS, 1.1 * seconds, torn, bad_resume,
               files_equal(out, expected) ? "uninterrupted run's" : "WRONG");
    }
}

/* ========================================================================================== */

#ifdef O1P_FUZZ
/* libFuzzer entry (`make fuzz`): one binary per reader, FUZZ_READER 1 checkpoint, 2 pre-sampled
 * set, 3 vectors file, 4 dataset split. Any input must give 0 or -1 with a message, never a crash,
 * a sanitizer report, a leak or a hang. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof(path), "/tmp/o1pruner_fuzz_%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) { perror(path); abort(); }
    char err[O1P_ERR_LEN] = "";
    int rc;
#if FUZZ_READER == 1
    GPT model;
    rc = checkpoint_load(&model, path, NULL, err);
    if (rc == 0) gpt_free(&model);
#elif FUZZ_READER == 2
    PresampledSet ps;
    rc = presampled_read(&ps, path, err);
    if (rc == 0) presampled_free(&ps);
#elif FUZZ_READER == 3
    VectorFile vf;
    rc = vectors_read(&vf, path, err);
    if (rc == 0) vectors_free(&vf);
#elif FUZZ_READER == 4
    Dataset ds;
    rc = dataset_load(&ds, path, 160, err);
    if (rc == 0) dataset_free(&ds);
#elif FUZZ_READER == 5
    char *text;
    RealSample *samples;
    int count;
    rc = real_samples_read(path, 2, &text, &samples, &count, err);
    if (rc == 0) { free(samples); free(text); }
#else
#error "FUZZ_READER must be 1..5"
#endif
    if (rc != 0 && strncmp(err, path, strlen(path)) != 0) abort(); /* every error names the file */
    return 0;
}
#else
int main(void) {
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/o1pruner_test_XXXXXX");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    /* O1P_TESTS=name,name runs only those (e.g. under valgrind, to split the suite); -name,name all but those
     */
    const char *only = getenv("O1P_TESTS");
    if (only && !*only) only = NULL; /* set but empty (make memcheck without it): all */
    int exclude = only && only[0] == '-';
    if (exclude) only++;
    static const struct { const char *name; void (*run)(void); } tests[] = {
        {"layer_gradients", test_layer_gradients},
        {"model_gradient", test_model_gradient},
        {"init_loss_and_overfit", test_init_loss_and_overfit},
        {"adamw_clip_schedule", test_adamw_clip_schedule},
        {"checkpoints", test_checkpoints},
        {"thread_determinism", test_thread_determinism},
        {"matmul_bits", test_matmul_bits},
        {"kv_cache", test_kv_cache},
        {"task", test_task},
        {"elementary", test_elementary},
        {"sort_keys", test_sort_keys},
        {"dataset_errors", test_dataset_errors},
        {"sampling", test_sampling},
        {"reward_advantage_aes", test_reward_advantage_aes},
        {"ppo_clip", test_ppo_clip},
        {"ppo_step_zero", test_ppo_step_zero},
        {"dpo", test_dpo},
        {"sft_fingerprint", test_sft_fingerprint},
        {"vectors_shipped", test_vectors_shipped},
        {"vectors_independent", test_vectors_independent},
        {"vectors_reader", test_vectors_reader},
        {"safetensors", test_safetensors},
        {"python_random_numpy", test_python_random_numpy},
        {"official_weights", test_official_weights},
        {"small_run", test_small_run},
        {"cli", test_cli},
        {"bad_files", test_bad_files},
        {"weights_bad_input", test_weights_bad_input},
        {"interruptions", test_interruptions},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        char wanted[64];
        snprintf(wanted, sizeof(wanted), ",%s,", tests[i].name);
        char list[1024];
        snprintf(list, sizeof(list), ",%s,", only ? only : "");
        if (only && (strstr(list, wanted) != NULL) == exclude) continue;
        double t0 = now_seconds();
        tests[i].run();
        printf("  (%.1f s)\n", now_seconds() - t0);
    }
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmpdir);
    printf("%d passed, %d failed\n", tests_passed, tests_failed);
    return tests_failed ? 1 : 0;
}
#endif
