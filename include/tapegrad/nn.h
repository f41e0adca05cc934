/* Building models: parameter sets (flat memory), initializers and layers. */
#ifndef TAPEGRAD_NN_H
#define TAPEGRAD_NN_H

#include <stddef.h>
#include "status.h"
#include "tensor.h"
#include "tape.h"
#include "pcg32.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- parameter sets ----------------------------------------------------------------
 * A named collection of parameters ("fc1.weight", ...) whose data live in ONE
 * contiguous float block and whose gradients live in another, in the order the
 * parameters were added. Each tensor starts at a multiple of 16 floats (64 bytes); the
 * padding between tensors is zero in both blocks and stays zero under every optimizer,
 * so an optimizer step, a checkpoint or an all-reduce is one loop over one buffer.
 *
 * The tensors are ordinary TG_PARAM tensors for the tape, owned by the set:
 * tg_tensor_free ignores them, tg_params_free frees them. Adding a parameter may move
 * the blocks: tensor pointers stay valid, but raw float pointers (t->data,
 * tg_params_data) taken before an add are stale after it. Optimizers and checkpoints
 * remember the set's layout when they are created and refuse to work on a set that has
 * grown since (TG_ERR_STATE). */
typedef struct tg_params tg_params;

#define TG_PARAM_NAME_MAX 63   /* longest parameter name, in bytes */

TG_API tg_params *tg_params_new(void);
/* Frees the set, its blocks and its tensors; NULL is ignored. */
TG_API void tg_params_free(tg_params *ps);
/* A new parameter, data and gradient zero-filled (initialize it: see tg_init_*).
 * The name is copied; it must be 1..TG_PARAM_NAME_MAX bytes and unique in the set
 * (TG_ERR_EXISTS). NULL on error, with tg_last_error() set. */
TG_API tg_tensor *tg_params_add(tg_params *ps, const char *name, size_t rank,
                                const size_t *shape);

TG_API size_t tg_params_count(const tg_params *ps);          /* tensors in the set */
TG_API tg_tensor *tg_params_at(const tg_params *ps, size_t i);
TG_API const char *tg_params_name(const tg_params *ps, size_t i);
TG_API tg_tensor *tg_params_find(const tg_params *ps, const char *name);
/* Offset of tensor i's first element in the flat blocks. */
TG_API size_t tg_params_offset(const tg_params *ps, size_t i);
TG_API size_t tg_params_numel(const tg_params *ps);          /* trainable scalars */
TG_API size_t tg_params_flat_size(const tg_params *ps);      /* block length, padding included */
/* The flat blocks, tg_params_flat_size floats each, 64-byte aligned (NULL when empty,
 * with TG_ERR_STATE as the last error). The counts above return 0 for a NULL set, with
 * TG_ERR_NULL as the last error. */
TG_API float *tg_params_data(tg_params *ps);
TG_API float *tg_params_grad(tg_params *ps);
/* Layout generation: changes every time a parameter is added. */
TG_API size_t tg_params_layout(const tg_params *ps);

TG_API void tg_params_zero_grad(tg_params *ps);
/* The global L2 norm of all gradients, accumulated in double; NaN for a NULL set. */
TG_API double tg_params_grad_norm(const tg_params *ps);
/* Scales every gradient by max_norm / norm when the global norm exceeds max_norm (> 0)
 * and returns the norm before clipping. A non-finite norm leaves the gradients alone,
 * returns it, and sets tg_last_error() (TG_ERR_NONFINITE): check with isfinite. */
TG_API double tg_params_clip_grad_norm(tg_params *ps, double max_norm);
/* dst = src, data only; the two sets must have the same names and shapes in the same
 * order (TG_ERR_MISMATCH / TG_ERR_SHAPE otherwise). */
TG_API tg_status tg_params_copy(tg_params *dst, const tg_params *src);
/* An exponential moving average of the weights: ema = decay ema + (1 - decay) src,
 * with 0 <= decay <= 1; same layout rule as tg_params_copy. */
TG_API tg_status tg_params_ema(tg_params *ema, const tg_params *src, double decay);

/* ---- initializers ------------------------------------------------------------------
 * Each fills t->data from the PCG32 stream rng (float draws, documented in pcg32.h;
 * normals from tg_normal_fill) and works on any float tensor. Fans follow PyTorch: for
 * a weight [out, in, k...] fan_in = in * prod(k), fan_out = out * prod(k); for rank 1
 * (a bias [n]) fan_in = fan_out = n; rank 0 is refused where a fan is needed. */
TG_API tg_status tg_fans(const tg_tensor *t, size_t *fan_in, size_t *fan_out);
TG_API tg_status tg_init_zeros(tg_tensor *t);
TG_API tg_status tg_init_constant(tg_tensor *t, float value);
/* U[lo, hi), lo < hi finite. */
TG_API tg_status tg_init_uniform(tg_tensor *t, float lo, float hi, tg_pcg32 *rng);
/* N(mean, std^2), std >= 0 finite. */
TG_API tg_status tg_init_normal(tg_tensor *t, float mean, float std, tg_pcg32 *rng);
/* Glorot & Bengio: std = gain sqrt(2 / (fan_in + fan_out)); uniform on +-sqrt(3) std.
 * gain 0 means 1. */
TG_API tg_status tg_init_xavier_uniform(tg_tensor *t, double gain, tg_pcg32 *rng);
TG_API tg_status tg_init_xavier_normal(tg_tensor *t, double gain, tg_pcg32 *rng);
/* He / Kaiming, fan_in mode: std = gain / sqrt(fan_in); uniform on +-sqrt(3) std.
 * gain 0 means sqrt(2) (ReLU). */
TG_API tg_status tg_init_he_uniform(tg_tensor *t, double gain, tg_pcg32 *rng);
TG_API tg_status tg_init_he_normal(tg_tensor *t, double gain, tg_pcg32 *rng);

typedef enum {
    TG_INIT_DEFAULT = 0,     /* PyTorch's nn.Linear: U(+-1/sqrt(fan_in)), for W and b alike
                                (the bias uses the weight's fan_in) */
    TG_INIT_ZEROS,
    TG_INIT_XAVIER_UNIFORM,
    TG_INIT_XAVIER_NORMAL,
    TG_INIT_HE_UNIFORM,
    TG_INIT_HE_NORMAL
} tg_init_kind;

/* ---- layers ------------------------------------------------------------------------
 * Plain structs holding pointers to parameters that live in a tg_params set. */
typedef struct {
    tg_tensor *W;   /* [out, in] (PyTorch layout): "<name>.weight" */
    tg_tensor *b;   /* [out]: "<name>.bias", NULL without a bias */
    size_t in, out;
} tg_dense;

typedef struct {
    int no_bias;                /* 1: y = x W^T */
    tg_init_kind weight_init;   /* TG_INIT_DEFAULT unless set */
    tg_init_kind bias_init;     /* TG_INIT_DEFAULT unless set */
} tg_dense_opts;

/* Adds "<name>.weight" (and "<name>.bias") to ps and initializes them from rng (opts
 * NULL: bias on, PyTorch's default initialization). */
TG_API tg_status tg_dense_init(tg_dense *layer, tg_params *ps, const char *name, size_t in,
                               size_t out, const tg_dense_opts *opts, tg_pcg32 *rng);
/* y = x W^T + b for x [B, in] (or [in]). */
TG_API tg_tensor *tg_dense_forward(tg_tape *t, const tg_dense *layer, tg_tensor *x);

#define TG_MLP_MAX_LAYERS 16

/* sizes[0] -> sizes[1] -> ... -> sizes[n-1]: n-1 dense layers named "<name>.0",
 * "<name>.1", ..., with the activation rule `act` (any rule of arity 1, e.g.
 * tg_rule_find("silu"); its default parameters) after every layer but the last. */
typedef struct {
    size_t n_layers;
    tg_dense layer[TG_MLP_MAX_LAYERS];
    const tg_rule *act;
} tg_mlp;

TG_API tg_status tg_mlp_init(tg_mlp *m, tg_params *ps, const char *name, const size_t *sizes,
                             size_t n_sizes, const tg_rule *act, const tg_dense_opts *opts,
                             tg_pcg32 *rng);
TG_API tg_tensor *tg_mlp_forward(tg_tape *t, const tg_mlp *m, tg_tensor *x);

#ifdef __cplusplus
}
#endif
#endif
