/* Training: optimizers over a parameter set, learning-rate schedules. State lives in
 * flat buffers the length of the set's blocks, so a step is one fused loop. */
#ifndef TAPEGRAD_OPTIM_H
#define TAPEGRAD_OPTIM_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- learning-rate schedules -------------------------------------------------------
 * A schedule maps the optimizer's step count k (0 for the first update) to a learning
 * rate, from the optimizer's base rate lr. Every kind may start with a linear warm-up:
 * for k < warmup_steps, rate = lr (k + 1) / warmup_steps. After it:
 *   TG_LR_CONSTANT  lr
 *   TG_LR_STEP      lr gamma^floor((k - warmup_steps) / step_size)
 *   TG_LR_COSINE    min_lr + (lr - min_lr) (1 + cos(pi p)) / 2,
 *                   p = (k - warmup_steps) / (total_steps - warmup_steps), clamped to 1 */
typedef enum { TG_LR_CONSTANT = 0, TG_LR_STEP, TG_LR_COSINE } tg_lr_kind;

typedef struct {
    tg_lr_kind kind;
    uint64_t warmup_steps;
    uint64_t step_size;    /* TG_LR_STEP: > 0 */
    double gamma;          /* TG_LR_STEP: in (0, 1] */
    uint64_t total_steps;  /* TG_LR_COSINE: > warmup_steps */
    double min_lr;         /* TG_LR_COSINE: 0 <= min_lr <= lr */
} tg_lr_schedule;

/* The rate for step k; NaN (and tg_last_error()) for an invalid schedule. */
TG_API double tg_lr_at(const tg_lr_schedule *s, double lr, uint64_t k);

/* ---- optimizers --------------------------------------------------------------------- */
typedef enum { TG_SGD = 0, TG_ADAM, TG_ADAMW } tg_optim_kind;

typedef struct {
    tg_optim_kind kind;
    double lr;             /* base learning rate, >= 0 */
    double weight_decay;   /* >= 0. SGD and Adam: L2, g += wd w; AdamW: decoupled, w -= lr wd w */
    double momentum;       /* SGD: >= 0 (0: plain SGD); v = momentum v + g (PyTorch) */
    int nesterov;          /* SGD: step along g + momentum v; needs momentum > 0 */
    double beta1, beta2;   /* Adam, AdamW: in [0, 1) */
    double eps;            /* Adam, AdamW: > 0 */
    double clip_norm;      /* > 0: clip the global gradient norm to this before the step
                              (inside the step: the set's gradients are left as they are) */
} tg_optim_config;

/* PyTorch's defaults for `kind` with learning rate lr: betas (0.9, 0.999), eps 1e-8,
 * weight decay 0 (1e-2 for AdamW), no momentum, no clipping. */
TG_API tg_optim_config tg_optim_defaults(tg_optim_kind kind, double lr);

typedef struct tg_optim tg_optim;

/* Validates cfg (TG_ERR_PARAM names the bad field) and allocates the state (zero)
 * for ps's current layout; NULL on error. The schedule starts as TG_LR_CONSTANT. */
TG_API tg_optim *tg_optim_new(tg_params *ps, const tg_optim_config *cfg);
TG_API void tg_optim_free(tg_optim *o);
TG_API tg_status tg_optim_set_schedule(tg_optim *o, const tg_lr_schedule *s);
/* One update from the gradients in the set (which it does not zero: call
 * tg_params_zero_grad before the next backward), at the rate the schedule gives for the
 * current step count, which it then advances. Adam's bias correction uses that count.
 * TG_ERR_STATE when the set has grown since tg_optim_new. Allocates nothing. */
TG_API tg_status tg_optim_step(tg_optim *o);
TG_API uint64_t tg_optim_steps(const tg_optim *o);     /* updates done so far */
TG_API double tg_optim_lr(const tg_optim *o);          /* the rate of the next update */
/* The global gradient norm before clipping, measured by the last step when clip_norm
 * > 0; NaN otherwise. */
TG_API double tg_optim_last_grad_norm(const tg_optim *o);

#ifdef __cplusplus
}
#endif
#endif
