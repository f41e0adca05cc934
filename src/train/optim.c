/* Optimizers (optim.h): SGD (momentum, Nesterov, L2 weight decay), Adam (L2) and AdamW
 * (decoupled decay), with PyTorch 1.13's single-tensor formulas, over a parameter set's
 * flat blocks. The state buffers are as long as the blocks and allocated once, at
 * creation; a step is an optional pass for the gradient norm (clipping) and then ONE
 * fused loop over the flat buffers, in float, which the compiler vectorizes (for the
 * widest vectors the CPU has) and the threads share (tg_set_num_threads).
 *
 * Per element, with g the gradient times the clipping factor c (1 when not clipping):
 *   SGD    g += wd w;  v = mu v + g;  d = nesterov ? g + mu v : v (g without momentum);
 *          w -= lr d
 *   Adam   g += wd w (L2; AdamW instead first scales w *= 1 - lr wd);
 *          m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g g;
 *          w -= (lr / bc1) (m / (sqrt(v) / sqrt(bc2) + eps)),  bc_i = 1 - b_i^t, t = step + 1
 * The per-step scalars are computed in double and rounded to float once, as PyTorch
 * passes them to its float kernels. Padding between tensors (gradient 0, weight 0,
 * state 0) stays exactly 0 under every formula. */
#include <math.h>
#include <string.h>
#include "optim_state.h"
#include "../kernels/threads.h"
#include "../kernels/vmath.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF   /* the same roundings as the tests' plain reference loops */
#endif
#if defined(__GNUC__) && !defined(__clang__)
/* GCC's -O2 cost model ("very cheap") vectorizes a loop only when it needs no scalar
 * epilogue, which a loop over n floats does; -O3's model vectorizes these loops with one.
 * This keeps the optimization level the build chose and changes only that model. Clang
 * vectorizes them at -O2 as they are. */
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

/* sqrtf of a non-negative (or NaN) value never sets errno. Saying so lets GCC and Clang
 * vectorize the Adam loop at -O2 without -fno-math-errno: otherwise each element keeps a
 * possible library call and the loop stays scalar. */
float sqrtf(float x) __attribute__((const));

#if defined(__GNUC__) || defined(__clang__)
#define TG__INLINE static inline __attribute__((always_inline))
#else
#define TG__INLINE static inline
#endif

/* ---- the fused loops ----------------------------------------------------------------
 * The int flags are constants at every call site below, so each call is compiled into
 * its own branch-free loop. */

TG__INLINE void sgd_loop(size_t n, float *restrict w, const float *restrict g,
                         float *restrict v, float c, float lr, float wd, float mu,
                         const int decay, const int momentum, const int nesterov)
{
    for (size_t i = 0; i < n; i++) {
        float d = g[i] * c;
        if (decay)
            d = d + wd * w[i];
        if (momentum) {
            const float b = mu * v[i] + d;
            v[i] = b;
            d = nesterov ? d + mu * b : b;
        }
        w[i] = w[i] - lr * d;
    }
}

typedef struct {
    float c;        /* clipping factor */
    float wd;       /* Adam: L2 coefficient */
    float shrink;   /* AdamW: 1 - lr wd */
    float b1, c1;   /* beta1, 1 - beta1 */
    float b2, c2;   /* beta2, 1 - beta2 */
    float bc2s;     /* sqrt(1 - beta2^t) */
    float eps;
    float step;     /* lr / (1 - beta1^t) */
} adam_scalars;

TG__INLINE void adam_loop(size_t n, float *restrict w, const float *restrict g,
                          float *restrict m, float *restrict v, const adam_scalars k,
                          const int l2, const int decoupled)
{
    for (size_t i = 0; i < n; i++) {
        float wi = w[i], gi = g[i] * k.c, mi, vi;
        if (decoupled)
            wi = wi * k.shrink;
        if (l2)
            gi = gi + k.wd * wi;
        mi = k.b1 * m[i] + k.c1 * gi;
        vi = k.b2 * v[i] + k.c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = wi - k.step * (mi / (sqrtf(vi) / k.bc2s + k.eps));
    }
}

/* One update over elements [b, e) of the flat buffers: what a thread runs. The mode
 * picks a loop compiled for constant flags. */
typedef enum { SGD_PLAIN, SGD_DECAY, SGD_MOM, SGD_MOM_DECAY, SGD_NEST, SGD_NEST_DECAY,
               ADAM_PLAIN, ADAM_L2, ADAMW } update_mode;

typedef struct {
    update_mode mode;
    float *w, *m, *v;
    const float *g;
    float c, lr, wd, mu;   /* SGD */
    adam_scalars k;        /* Adam */
} update;

TG__INLINE void run_range(const update *u, size_t b, size_t e)
{
    float *w = u->w + b, *m = u->m ? u->m + b : NULL, *v = u->v ? u->v + b : NULL;
    const float *g = u->g + b;
    const size_t n = e - b;
    switch (u->mode) {
    case SGD_PLAIN: sgd_loop(n, w, g, m, u->c, u->lr, u->wd, u->mu, 0, 0, 0); break;
    case SGD_DECAY: sgd_loop(n, w, g, m, u->c, u->lr, u->wd, u->mu, 1, 0, 0); break;
    case SGD_MOM: sgd_loop(n, w, g, m, u->c, u->lr, u->wd, u->mu, 0, 1, 0); break;
    case SGD_MOM_DECAY: sgd_loop(n, w, g, m, u->c, u->lr, u->wd, u->mu, 1, 1, 0); break;
    case SGD_NEST: sgd_loop(n, w, g, m, u->c, u->lr, u->wd, u->mu, 0, 1, 1); break;
    case SGD_NEST_DECAY: sgd_loop(n, w, g, m, u->c, u->lr, u->wd, u->mu, 1, 1, 1); break;
    case ADAM_PLAIN: adam_loop(n, w, g, m, v, u->k, 0, 0); break;
    case ADAM_L2: adam_loop(n, w, g, m, v, u->k, 1, 0); break;
    case ADAMW: adam_loop(n, w, g, m, v, u->k, 0, 1); break;
    }
}

/* The loops compiled for the widest vectors the CPU has, chosen at run time as the
 * vector kernels are (src/kernels/vmath.h): Adam's square root and division are most
 * of its cost, and run 16 at once with AVX-512 against 4 at -O2's baseline. Every
 * variant does the same IEEE operations in the same order (no contraction into FMA:
 * -std=c11 turns it off in GCC, the pragma above in Clang), so all give the same bits
 * (tests/test_optim.c compares the chosen one with a plain loop, and two threads with one). */
static void run_base(const update *u, size_t b, size_t e) { run_range(u, b, e); }
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) static void run_avx2(const update *u, size_t b, size_t e)
{
    run_range(u, b, e);
}
__attribute__((target("avx512f"))) static void run_avx512(const update *u, size_t b, size_t e)
{
    run_range(u, b, e);
}
static void (*const runs[TG__VM_N_ISA])(const update *, size_t, size_t) = { run_base, run_avx2,
                                                                          run_avx512 };
#else
static void (*const runs[TG__VM_N_ISA])(const update *, size_t, size_t) = { run_base, run_base,
                                                                          run_base };
#endif

static void run_chunk(size_t b, size_t e, void *ctx)
{
    runs[tg__vm_isa_best()](ctx, b, e);
}

/* Elements per unit of the split between threads: 64 KiB of each buffer, on 64-byte
 * boundaries. Every element sees the same operations whichever thread runs it, so the
 * result does not depend on the thread count. */
#define TG__OPTIM_GRAIN 16384

static void run_update(const update *u, size_t n)
{
    tg__parallel_for(n, TG__OPTIM_GRAIN, run_chunk, (void *)u);
}

static void sgd_update(tg_optim *o, float *w, const float *g, float c, double lr)
{
    const int decay = o->cfg.weight_decay != 0.0;
    update u = { .w = w, .g = g, .m = o->m, .c = c, .lr = (float)lr,
                 .wd = (float)o->cfg.weight_decay, .mu = (float)o->cfg.momentum };
    if (!o->m)
        u.mode = decay ? SGD_DECAY : SGD_PLAIN;
    else if (!o->cfg.nesterov)
        u.mode = decay ? SGD_MOM_DECAY : SGD_MOM;
    else
        u.mode = decay ? SGD_NEST_DECAY : SGD_NEST;
    run_update(&u, o->n);
}

static void adam_update(tg_optim *o, float *w, const float *g, float c, double lr)
{
    const tg_optim_config *f = &o->cfg;
    const double t = (double)o->steps + 1.0;
    update u = { .w = w, .g = g, .m = o->m, .v = o->v };
    adam_scalars *k = &u.k;
    k->c = c;
    k->wd = (float)f->weight_decay;
    k->shrink = (float)(1.0 - lr * f->weight_decay);
    k->b1 = (float)f->beta1;
    k->c1 = (float)(1.0 - f->beta1);
    k->b2 = (float)f->beta2;
    k->c2 = (float)(1.0 - f->beta2);
    k->bc2s = (float)sqrt(1.0 - pow(f->beta2, t));
    k->eps = (float)f->eps;
    k->step = (float)(lr / (1.0 - pow(f->beta1, t)));
    u.mode = f->kind == TG_ADAMW ? ADAMW : f->weight_decay != 0.0 ? ADAM_L2 : ADAM_PLAIN;
    run_update(&u, o->n);
}

/* ---- configuration -------------------------------------------------------------------- */

tg_optim_config tg_optim_defaults(tg_optim_kind kind, double lr)
{
    tg_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.lr = lr;
    c.weight_decay = kind == TG_ADAMW ? 1e-2 : 0.0;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    return c;
}

static tg_status bad(const char *field, double value, const char *rule)
{
    return tg__fail(TG_ERR_PARAM, "tg_optim_new: %s = %g %s", field, value, rule);
}

static tg_status check_config(const tg_optim_config *c)
{
    const int adam = c->kind == TG_ADAM || c->kind == TG_ADAMW;
    if (c->kind != TG_SGD && !adam)
        return tg__fail(TG_ERR_PARAM, "tg_optim_new: kind = %d is not TG_SGD, TG_ADAM or "
                        "TG_ADAMW", (int)c->kind);
    if (!(c->lr >= 0.0) || !isfinite(c->lr))
        return bad("lr", c->lr, "must be >= 0 and finite");
    if (!(c->weight_decay >= 0.0) || !isfinite(c->weight_decay))
        return bad("weight_decay", c->weight_decay, "must be >= 0 and finite");
    if (!(c->clip_norm >= 0.0) || !isfinite(c->clip_norm))
        return bad("clip_norm", c->clip_norm, "must be >= 0 and finite (0: no clipping)");
    if (!(c->momentum >= 0.0) || !isfinite(c->momentum))
        return bad("momentum", c->momentum, "must be >= 0 and finite");
    if (adam) {   /* SGD ignores betas and eps: its defaults carry Adam's */
        if (c->momentum != 0.0 || c->nesterov)
            return tg__fail(TG_ERR_PARAM, "tg_optim_new: %s = %g is for TG_SGD (Adam's momentum "
                            "is beta1)", c->momentum != 0.0 ? "momentum" : "nesterov",
                            c->momentum != 0.0 ? c->momentum : (double)c->nesterov);
        if (!(c->beta1 >= 0.0 && c->beta1 < 1.0))
            return bad("beta1", c->beta1, "is outside [0, 1)");
        if (!(c->beta2 >= 0.0 && c->beta2 < 1.0))
            return bad("beta2", c->beta2, "is outside [0, 1)");
        if (!(c->eps > 0.0) || !isfinite(c->eps))
            return bad("eps", c->eps, "must be > 0 and finite");
    } else if (c->nesterov && c->momentum == 0.0) {
        return tg__fail(TG_ERR_PARAM, "tg_optim_new: nesterov = %d needs momentum > 0",
                        c->nesterov);
    }
    return TG_OK;
}

/* ---- life cycle ---------------------------------------------------------------------- */

tg_optim *tg_optim_new(tg_params *ps, const tg_optim_config *cfg)
{
    size_t n, buffers, bytes;
    int overflow = 0;
    tg_optim *o;
    if (!ps || !cfg) {
        tg__fail(TG_ERR_NULL, "tg_optim_new: %s is NULL", ps ? "config" : "parameter set");
        return NULL;
    }
    if (check_config(cfg) != TG_OK)
        return NULL;
    n = tg_params_flat_size(ps);
    if (n == 0) {
        tg__fail(TG_ERR_STATE, "tg_optim_new: the parameter set is empty (add the layers first)");
        return NULL;
    }
    buffers = cfg->kind == TG_SGD ? (cfg->momentum != 0.0) : 2;
    bytes = tg__mul_size(tg__mul_size(n, sizeof(float), &overflow), buffers, &overflow);
    if (overflow || bytes > SIZE_MAX - 64) {
        tg__fail(TG_ERR_SIZE, "tg_optim_new: %zu state buffers of %zu floats overflow size_t",
                 buffers, n);
        return NULL;
    }
    o = tg__alloc(sizeof *o);
    if (!o) {
        tg__fail(TG_ERR_NOMEM, "tg_optim_new: out of memory");
        return NULL;
    }
    memset(o, 0, sizeof *o);
    if (buffers) {
        o->raw = tg__alloc(bytes + 64);
        if (!o->raw) {
            tg__free(o);
            tg__fail(TG_ERR_NOMEM, "tg_optim_new: out of memory for %zu state floats",
                     buffers * n);
            return NULL;
        }
        o->m = (float *)(((uintptr_t)o->raw + 63) & ~(uintptr_t)63);   /* as the blocks */
        memset(o->m, 0, bytes);
        o->v = buffers == 2 ? o->m + n : NULL;
    }
    o->cfg = *cfg;
    o->cfg.nesterov = cfg->nesterov != 0;
    o->sched.kind = TG_LR_CONSTANT;
    o->ps = ps;
    o->layout = tg_params_layout(ps);
    o->n = n;
    o->last_norm = NAN;
    return o;
}

void tg_optim_free(tg_optim *o)
{
    if (!o)
        return;
    tg__free(o->raw);
    tg__free(o);
}

tg_status tg_optim_set_schedule(tg_optim *o, const tg_lr_schedule *s)
{
    tg_status st;
    if (!o)
        return tg__fail(TG_ERR_NULL, "tg_optim_set_schedule: optimizer is NULL");
    st = tg__lr_check("tg_optim_set_schedule", s, o->cfg.lr);
    if (st == TG_OK)
        o->sched = *s;
    return st;
}

/* ---- the step ------------------------------------------------------------------------ */

tg_status tg_optim_step(tg_optim *o)
{
    float c = 1.0f;
    double lr;
    if (!o)
        return tg__fail(TG_ERR_NULL, "tg_optim_step: optimizer is NULL");
    if (tg_params_layout(o->ps) != o->layout)
        return tg__fail(TG_ERR_STATE, "tg_optim_step: the parameter set has changed since "
                        "tg_optim_new (%zu floats then, %zu now): make a new optimizer", o->n,
                        tg_params_flat_size(o->ps));
    lr = tg_lr_at(&o->sched, o->cfg.lr, o->steps);   /* valid: checked when set */
    if (o->cfg.clip_norm > 0.0) {   /* the one extra pass; the factor joins the fused loop */
        const double norm = tg_params_grad_norm(o->ps);
        o->last_norm = norm;
        if (!isfinite(norm))
            return tg__fail(TG_ERR_NONFINITE, "tg_optim_step: the gradient norm is %g: step %llu "
                            "skipped, parameters unchanged", norm,
                            (unsigned long long)o->steps);
        if (norm > o->cfg.clip_norm)   /* the factor of tg_params_clip_grad_norm */
            c = (float)(o->cfg.clip_norm / norm);
    }
    if (o->cfg.kind == TG_SGD)
        sgd_update(o, tg_params_data(o->ps), tg_params_grad(o->ps), c, lr);
    else
        adam_update(o, tg_params_data(o->ps), tg_params_grad(o->ps), c, lr);
    o->steps++;
    return TG_OK;
}

uint64_t tg_optim_steps(const tg_optim *o)
{
    if (!o) {   /* 0 is also a fresh optimizer's count: the message tells them apart */
        tg__fail(TG_ERR_NULL, "tg_optim_steps: optimizer is NULL");
        return 0;
    }
    return o->steps;
}

double tg_optim_lr(const tg_optim *o)
{
    if (!o) {
        tg__fail(TG_ERR_NULL, "tg_optim_lr: optimizer is NULL");
        return NAN;
    }
    return tg_lr_at(&o->sched, o->cfg.lr, o->steps);
}

double tg_optim_last_grad_norm(const tg_optim *o)
{
    if (!o) {
        tg__fail(TG_ERR_NULL, "tg_optim_last_grad_norm: optimizer is NULL");
        return NAN;
    }
    return o->last_norm;
}
