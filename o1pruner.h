/* o1pruner.h - the public API of o1pruner.c
 *
 * O1-Pruner (Length-Harmonizing Fine-Tuning, arXiv 2501.12570) and the small GPT-2 style
 * transformer it runs on, in C11 with libc and libm only. The whole implementation lives in
 * o1pruner.c; this header is what other C code (and test.c) calls: the model, the method's
 * functions with their shape and mask contracts, checkpoints, the task and sampling. Every function
 * that reads something from outside the program reports failure as a return value -1 and a one-line
 * message in `err` (O1P_ERR_LEN bytes); it never exits, so callers decide what to do.
 */
#ifndef O1PRUNER_H
#define O1PRUNER_H

#include <stddef.h>
#include <stdint.h>

#define O1P_ERR_LEN 512

/* ------------------------------------------------------------------------------------------ */
/* model configuration (README "Specification") */

typedef struct {
    int vocab_size; /* V: number of token ids */
    int block_size; /* maximum sequence length (positions 0..block_size-1) */
    int n_layer;    /* L: transformer blocks */
    int n_head;     /* H: attention heads; head size is n_embd / n_head */
    int n_embd;     /* C: width of the residual stream */
} GPTConfig;

/* Returns 0 if the config describes a model this program can build, else -1 with a reason. */
int gpt_config_check(const GPTConfig *config, char *err);

/* ------------------------------------------------------------------------------------------ */
/* parameters: one contiguous float32 array, cut into these tensors, in this order ("spec order") */

#define NUM_PARAM_TENSORS 16
typedef struct {
    float *wte;      /* (V, C)     token embedding, also the output projection (tied) */
    float *wpe;      /* (T, C)     position embedding, T = block_size */
    float *ln1w;     /* (L, C)     LayerNorm before attention: gain */
    float *ln1b;     /* (L, C)     bias */
    float *qkvw;     /* (L, 3C, C) fused q,k,v projection, rows: q then k then v */
    float *qkvb;     /* (L, 3C) */
    float *attprojw; /* (L, C, C)  attention output projection */
    float *attprojb; /* (L, C) */
    float *ln2w;     /* (L, C)     LayerNorm before the MLP: gain */
    float *ln2b;     /* (L, C)     bias */
    float *fcw;      /* (L, 4C, C) MLP up projection */
    float *fcb;      /* (L, 4C) */
    float *fcprojw;  /* (L, C, 4C) MLP down projection */
    float *fcprojb;  /* (L, C) */
    float *lnfw;     /* (C)        final LayerNorm gain */
    float *lnfb;     /* (C)        final LayerNorm bias */
} ParameterTensors;

typedef struct {
    const char *name; /* the field name above */
    int ndim;         /* 1..3 */
    int shape[3];
    size_t offset;    /* in floats, from the start of the parameter array */
    size_t size;      /* in floats */
    int decay;        /* 1: weight decay applies (2-D weights and embeddings) */
} TensorInfo;

/* ------------------------------------------------------------------------------------------ */
/* activations of a training forward pass, kept for the backward pass. Shapes for a batch of
 * B sequences of T tokens (T <= block_size); buffers are sized for the largest B*T allowed. */

#define NUM_ACTIVATION_TENSORS 21
typedef struct {
    float *encoded;   /* (B, T, C)    wte[token] + wpe[position] */
    float *ln1;       /* (L, B, T, C) */
    float *ln1_mean;  /* (L, B, T) */
    float *ln1_rstd;  /* (L, B, T)    1 / sqrt(var + eps) */
    float *qkv;       /* (L, B, T, 3C) */
    float *att;       /* (L, B, H, T, T) softmax attention weights (row t: keys 0..t) */
    float *atty;      /* (L, B, T, C) attention output before its projection */
    float *attproj;   /* (L, B, T, C) */
    float *residual2; /* (L, B, T, C) residual stream after attention */
    float *ln2;       /* (L, B, T, C) */
    float *ln2_mean;  /* (L, B, T) */
    float *ln2_rstd;  /* (L, B, T) */
    float *fch;       /* (L, B, T, 4C) MLP hidden before GELU; after the forward pass, GELU's slope there */
    float *fch_gelu;  /* (L, B, T, 4C) */
    float *fcproj;    /* (L, B, T, C) */
    float *residual3; /* (L, B, T, C) residual stream after the block */
    float *lnf;       /* (B, T, C) */
    float *lnf_mean;  /* (B, T) */
    float *lnf_rstd;  /* (B, T) */
    float *logits;    /* (B, T, V) */
    float *probs;     /* (B, T, V)    softmax(logits) */
} ActivationTensors;

/* ------------------------------------------------------------------------------------------ */
/* the model */

typedef struct {
    GPTConfig config;
    TensorInfo param_info[NUM_PARAM_TENSORS];
    size_t num_params;
    float *params; ParameterTensors p;       /* the weights */
    float *grads;  ParameterTensors g;       /* d loss / d weights, accumulated by gpt_backward */
    float *adam_m, *adam_v;                  /* AdamW moments (allocated by gpt_alloc_training) */
    long step;                               /* optimizer steps taken */
    uint32_t resume_tag;                     /* of a resumable state: CRC-32 of the stage's settings */
    int max_batch, max_seq;                  /* capacity of the activation buffers */
    int B, T;                                /* shape of the last forward pass */
    float *acts;      ActivationTensors a;   /* forward activations */
    float *grad_acts; ActivationTensors ga;  /* their gradients, same layout */
    float *logprob;   /* (B, T) log p(target) of the last forward pass, 0 where target < 0 */
    float *dlogprob;  /* (B, T) scratch for losses */
    float *scratch;   /* a weight packed into the matmul kernel's panels (gpt_scratch_floats) */
} GPT;

/* Build a model with the given config: parameters allocated, zero. Exits on out-of-memory. */
void gpt_build(GPT *model, const GPTConfig *config);
/* Initialise the weights (README "Initialisation") from a seed. */
void gpt_init_weights(GPT *model, uint64_t seed);
/* Allocate gradients, optimizer state and activations for batches of up to max_batch x max_seq. */
void gpt_alloc_training(GPT *model, int max_batch, int max_seq);
void gpt_free(GPT *model);

/* Forward pass over inputs (B, T). If targets (B, T) is given, model->logprob[b,t] receives
 * log p(targets[b,t] | inputs[b, 0..t]); a target < 0 means "no target" (logprob 0). */
void gpt_forward(GPT *model, const int *inputs, const int *targets, int B, int T);
/* Backward pass of the last forward: given d loss / d logprob (B, T), ACCUMULATE d loss / d weight
 * into model->grads. Call gpt_zero_grad first. */
void gpt_backward(GPT *model, const int *inputs, const int *targets, const float *dlogprob);
void gpt_zero_grad(GPT *model);

/* Masked mean negative log-likelihood: sum(-mask*logprob) / sum(mask). Writes d loss / d logprob
 * into dlogprob (may be NULL). A mask summing to 0 gives loss 0 and zero gradient. */
double masked_mean_nll(const float *logprob, const float *mask, int n, float *dlogprob);

/* ------------------------------------------------------------------------------------------ */
/* incremental decoding with a KV cache: one forward step per new token */

typedef struct {
    int max_samples;                /* slots in the cache */
    float *key_cache;   /* (L, max_samples, H, block_size/32 rounded up, C/H, 32): keys as columns */
    float *value_cache; /* (L, max_samples, H, block_size, C/H) */
    float *x, *ln, *qkv, *atty, *proj, *fch, *fch_gelu; /* (n, C|3C|4C) rows of the active samples */
    float *mean, *rstd, *att;       /* (n), (n), (n, H, block_size) */
    float *logits;                  /* (n, V) */
    float *weights_t;               /* the linear layers' weights transposed, in the kernel's panels */
} DecodeState;

void decode_state_alloc(DecodeState *st, const GPTConfig *config, int max_samples);
void decode_state_free(DecodeState *st);
/* Transpose the model's weights into st once, instead of at every step: call it before decoding
 * and again whenever the weights change. */
void decode_prepare(DecodeState *st, const GPT *model);
/* Feed one token to each of n samples: sample i lives in cache slot slot[i] (slots all distinct),
 * its token[i] sits at position pos[i], and positions 0..pos[i]-1 of that slot are already cached.
 * Writes st->logits (n, V) for the next token. Each row's result does not depend on the other rows. */
void gpt_decode_step(GPT *model, DecodeState *st, const int *slot, const int *token, const int *pos, int n);

/* ------------------------------------------------------------------------------------------ */
/* optimisation */

typedef struct {
    float lr_max, lr_min;         /* peak learning rate, floor of the cosine */
    int warmup_steps, total_steps;
    float beta1, beta2, eps;
    float weight_decay;           /* decoupled, on TensorInfo.decay tensors only */
    float grad_clip;              /* max global gradient norm; <= 0 disables clipping */
} OptimConfig;

/* learning rate at step (0-based): linear warmup then cosine decay to lr_min */
float lr_schedule(const OptimConfig *oc, long step);
/* global L2 norm of the gradient; if above max_norm (> 0), scale the gradient to max_norm.
 * Returns the norm before clipping. */
double clip_grad_norm(float *grads, size_t n, float max_norm);
/* one AdamW step on all parameters with learning rate lr; increments model->step */
void adamw_step(GPT *model, const OptimConfig *oc, float lr);

/* ------------------------------------------------------------------------------------------ */
/* the method: O1-Pruner (paper Sec. 3, Eq. 8-11), its baselines and its score (README "The method").
 * Shapes: B sequences of T tokens, row-major (B, T). mask[b,t] = 1 where token t+1 of sequence b
 * is a response token (its log-prob counts), else 0; logprob[b,t] = log pi_theta(that token | the
 * tokens before it), as gpt_forward writes them. Sums over a sequence run in double, t in order. */

/* Eq. 8-9: L_ref(x) = mean of length[0..K), A_ref(x) = mean of correct[0..K) (each 0 or 1), the
 * reference model's K pre-sampled solutions of one problem */
void reference_stats(const int *length, const int *correct, int K, double *L_ref, double *A_ref);
/* Eq. 10: R = L_ref / L - 1 + lambda (A - A_ref), the length-harmonizing reward of one solution */
double length_reward(double L_ref, double L, double A, double A_ref, double lambda);

typedef enum {
    ADVANTAGE_OFFICIAL, /* w = z-score of clip(R, -2, 4) over all n samples (population std; 0 if std = 0) */
    ADVANTAGE_PAPER     /* w = R */
} AdvantageMode;
/* the weights w[0..n) of n rewards, the whole training set at once */
void advantages(const double *reward, int n, AdvantageMode mode, float *w);

typedef enum {
    RATIO_MEAN, /* official: r = exp(mean_t log pi_theta - mean_t log pi_ref), means over the mask */
    RATIO_SUM   /* paper:    r = exp(sum_t log pi_theta - sum_t log pi_ref) */
} RatioMode;
typedef struct { double loss, mean_ratio, clipped_fraction, mean_advantage; } PpoStats;
/* Eq. 11: loss = mean_b max(-w_b r_b, -w_b clip(r_b, 1-eps, 1+eps)). logprob, mask (B, T);
 * ref_logprob_sum[b] = sum_t mask * log pi_ref; w (B). Writes dlogprob (B, T) = d loss / d logprob
 * (0 where mask is 0 and on the clipped branch) and, if ratio is not NULL, r (B). */
PpoStats ppo_clip_loss(const float *logprob, const float *mask, const double *ref_logprob_sum, const float *w,
                       int B, int T, RatioMode mode, float eps, float *dlogprob, double *ratio);

typedef struct { double loss, margin, accuracy; } DpoStats; /* margin: mean z / beta; accuracy: z > 0 */
/* The DPO baseline over P pairs, chosen y_w = sequence 2p, rejected y_l = 2p+1 of logprob, mask
 * (2P, T): loss = mean_p -log sigmoid(z_p), z_p = beta ((log pi_theta - log pi_ref)(y_w) -
 * (log pi_theta - log pi_ref)(y_l)), log pi summed over the mask. Writes dlogprob (2P, T). */
DpoStats dpo_loss(const float *logprob, const float *mask, const double *ref_logprob_sum, int P, int T,
                  float beta, float *dlogprob);

/* AES (paper Sec. 4): dL = (L_base - L) / L_base, dA = (acc - acc_base) / acc_base;
 * dL + 3 dA if dA >= 0, else dL - 5 |dA| */
double accuracy_efficiency_score(double L_base, double L, double acc_base, double acc);

/* ------------------------------------------------------------------------------------------ */
/* checkpoints (README "Checkpoint format") */

uint32_t crc32_update(uint32_t crc, const void *data, size_t n);
/* Atomic save: write path.tmp, fsync, rename. with_optimizer also stores step and Adam moments. */
int checkpoint_save(const GPT *model, const char *path, int with_optimizer, char *err);
/* Load into an unbuilt GPT (it is built from the file's config). Restores step and Adam moments
 * if the file has them and *has_optimizer is non-NULL (set to 1 then). On failure the model is
 * left freed and err names the file and the problem. */
int checkpoint_load(GPT *model, const char *path, int *has_optimizer, char *err);

/* ------------------------------------------------------------------------------------------ */
/* random numbers: splitmix64-seeded xoshiro256** (README "Random numbers") */

typedef struct { uint64_t s[4]; } Rng;
void rng_seed(Rng *rng, uint64_t seed, uint64_t stream_a, uint64_t stream_b);
uint64_t rng_u64(Rng *rng);
float rng_uniform(Rng *rng);  /* [0, 1) with 24 random bits */
double rng_normal(Rng *rng);  /* standard normal, Box-Muller */

void set_threads(int n);

/* ------------------------------------------------------------------------------------------ */
/* the task (README "The task"): add n single digits, with running sums as the reasoning */

#define VOCAB ".0123456789+=,vrA$" /* token id = index; '.' (0) pads */
#define VOCAB_SIZE 18
#define MIN_TERMS 2
#define MAX_TERMS 6
#define MAX_PROMPT (2 * MAX_TERMS) /* "d+d+...+d=" */

typedef struct {
    int n;                 /* number of terms = difficulty */
    int digits[MAX_TERMS]; /* each 1..9 */
} Problem;

int problem_sum(const Problem *p);
int minimal_length(int n);                      /* 8(n-1) + 4 response tokens */
int prompt_text(const Problem *p, char *out);   /* "3+5+2+7=", returns its length */
int minimal_trace(const Problem *p, char *out); /* "03+5=08,08+2=10,10+7=17,A17$" */
/* the verbose teacher at over-thinking level p; returns the trace length */
int teacher_trace(const Problem *pr, float p, Rng *rng, char *out);
/* 1 if the response ends in "A<number>$" with number = the sum, else 0 */
int grade_response(const Problem *p, const char *response, int length);
/* parse "d+d+...+d=" (exactly, nothing after) into p; returns 0 or -1 with a reason in err */
int parse_prompt(const char *text, int length, Problem *p, char *err);

/* ------------------------------------------------------------------------------------------ */
/* sampling */

typedef struct {
    float temperature; /* 0: greedy (argmax) */
    float top_p;       /* 1: off; else nucleus sampling */
    int max_new;       /* generation cap in tokens */
    uint64_t seed;     /* sample k of problem i draws from stream (seed, i, k) */
} SampleConfig;

typedef struct {
    int length;     /* generated tokens, up to and including '$'; = the cap if it never came */
    int finished;   /* 1 if '$' was generated */
    int correct;    /* grade_response */
    char *text;     /* the response (NUL-terminated), into Generation's arena */
    double logprob; /* log p(response | prompt) at temperature 1: the model's log-softmax at each
                       drawn token, summed in double, the same bits as its forward pass gives */
} Response;

int sample_token(const float *logits, int V, float temperature, float top_p, Rng *rng);
/* k samples for each of n problems; responses[i*k + j] is sample j of problem i. problem_ids
 * (NULL: 0..n-1) name the RNG streams, so a problem's samples do not depend on the batch. */
void generate(GPT *model, const Problem *problems, const int *problem_ids, int n, int k,
              const SampleConfig *sc, Response *responses, char *arena);

#endif
