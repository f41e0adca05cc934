/* Loop drivers for elementwise rules. The element functions are passed as constants
 * to always-inlined drivers, so each rule compiles to a plain loop with the element
 * function inlined: no call through a pointer per element. Rules whose kernels are
 * whole-array vector functions (src/kernels/vmath.h: the smooth activations) use the
 * tg__vec_* drivers instead: one call per tensor. */
#ifndef TAPEGRAD_ELEMENTWISE_H
#define TAPEGRAD_ELEMENTWISE_H

#include "internal.h"
#include "../kernels/threads.h"
#include "../kernels/vmath.h"

#if defined(__GNUC__) || defined(__clang__)
#define TG__INLINE static inline __attribute__((always_inline))
#else
#define TG__INLINE static inline
#endif

typedef float (*tg__elem_fn)(float x, const float *param);
typedef int (*tg__kink_fn)(float x, const float *param);

/* The loops below take their arrays as restrict-qualified parameters (they never
 * overlap: a rule's output is fresh arena memory, and a tensor's data and gradient are
 * separate arrays) and end in a plain loop, which clang vectorizes at -O2. GCC at -O2
 * (its "very cheap" cost model) vectorizes only a loop of a fixed trip count, so for
 * GCC blocks of TG__BLOCK elements run first and the plain loop does the tail; cheap
 * element functions (scale, relu, ...) then become vector code with either compiler.
 * Each element is the same f(x[i]) either way, so the results are identical
 * (tests/test_sweep.c checks every length up to a few blocks). */
#define TG__BLOCK 8
#if defined(__GNUC__) && !defined(__clang__)
#define TG__BLOCKED 1
#else
#define TG__BLOCKED 0
#endif

TG__INLINE void tg__map_loop(float *restrict y, const float *restrict x,
                             const float *restrict param, size_t len, tg__elem_fn f)
{
    /* a local copy: loads of it are loop-invariant at once */
    const float p[TG_MAX_PARAMS] = { param[0], param[1], param[2], param[3] };
    size_t i = 0;
    for (; TG__BLOCKED && i + TG__BLOCK <= len; i += TG__BLOCK)
        for (size_t j = 0; j < TG__BLOCK; j++)
            y[i + j] = f(x[i + j], p);
    for (; i < len; i++)
        y[i] = f(x[i], p);
}

TG__INLINE void tg__map_grad_loop(float *restrict gx, const float *restrict gy,
                                  const float *restrict x, const float *restrict param,
                                  size_t len, tg__elem_fn df)
{
    const float p[TG_MAX_PARAMS] = { param[0], param[1], param[2], param[3] };
    size_t i = 0;
    for (; TG__BLOCKED && i + TG__BLOCK <= len; i += TG__BLOCK)
        for (size_t j = 0; j < TG__BLOCK; j++)
            gx[i + j] += gy[i + j] * df(x[i + j], p);
    for (; i < len; i++)
        gx[i] += gy[i] * df(x[i], p);
}

/* How many x[i] are kink points. Blocks of TG__BLOCK counted into a small integer
 * first, like the loops above, so that GCC -O2 vectorizes the count too. */
TG__INLINE size_t tg__count_kinks(const float *restrict x, const float *restrict param,
                                  size_t len, tg__kink_fn kink)
{
    const float p[TG_MAX_PARAMS] = { param[0], param[1], param[2], param[3] };
    size_t k = 0, i = 0;
    for (; TG__BLOCKED && i + TG__BLOCK <= len; i += TG__BLOCK) {
        unsigned b = 0;
        for (size_t j = 0; j < TG__BLOCK; j++)
            b += (unsigned)kink(x[i + j], p);
        k += b;
    }
    for (; i < len; i++)
        k += (size_t)kink(x[i], p);
    return k;
}

/* y[i] = f(x[i]) */
TG__INLINE tg_status tg__map_forward(tg_node *n, tg__elem_fn f)
{
    tg__map_loop(n->out->data, n->in[0]->data, n->param, n->out->size, f);
    return TG_OK;
}

/* gx[i] += gy[i] * f'(x[i]); counts x[i] at kinks when kink is non-NULL. */
TG__INLINE tg_status tg__map_backward(tg_node *n, tg__elem_fn df, tg__kink_fn kink)
{
    const float *x = n->in[0]->data;
    float *gx = n->in[0]->grad;
    const float *p = n->param;
    const size_t len = n->out->size;
    if (gx)
        tg__map_grad_loop(gx, n->out->grad, x, p, len, df);
    if (kink)
        n->kinks += tg__count_kinks(x, p, len, kink);
    return TG_OK;
}

/* ---- the smooth rules' whole-array kernels ------------------------------------------
 * When the input will want a gradient, forward runs the kernel's _both variant: value
 * and derivative in one pass (they share their exponential), the derivative kept in
 * node->saved for backward, which is then gx += gy * d: the float product and sum the
 * _grad kernel does, so the same bits, at the cost of one more array on the tape.
 * Without a gradient (sampling, evaluation) forward computes the value alone.
 *
 * All three loops are split between the threads (tg_set_num_threads) in units of
 * TG__VEC_GRAIN elements; each element's result does not depend on the unit it falls in,
 * so the thread count does not change any bit. */
#define TG__VEC_GRAIN 8192

typedef struct {
    tg__vm_map_fn map;     /* forward, value only */
    tg__vm_both_fn both;   /* forward, value and derivative (when d is set) */
    const float *x, *gy, *saved;   /* saved set: backward */
    float *y, *d, *gx;
    float p;
} tg__vec_job;

static inline void tg__vec_range(size_t b, size_t e, void *ctx)
{
    const tg__vec_job *j = ctx;
    if (j->saved)
        tg__vsaved_grad(j->gy + b, j->saved + b, j->gx + b, e - b);
    else if (j->d)
        j->both(j->x + b, j->y + b, j->d + b, e - b, j->p);
    else
        j->map(j->x + b, j->y + b, e - b, j->p);
}

/* y = f(x) by a whole-array kernel, with f' kept for backward when x has a gradient; p
 * is the rule's first parameter (0 when it has none, which those kernels ignore). Memory
 * for f' refused is TG_ERR_NOMEM, as any other allocation of the step. */
TG__INLINE tg_status tg__vec_forward(tg_node *n, tg__vm_map_fn f, tg__vm_both_fn both)
{
    const size_t len = n->out->size;
    tg__vec_job j = { .map = f, .both = both, .x = n->in[0]->data, .y = n->out->data,
                      .p = n->param[0] };
    if (n->in[0]->grad && len > 0 && !(j.d = tg_node_scratch(n, len * sizeof(float)))) {
        n->why = "out of memory for the derivative kept for backward";
        return TG_ERR_NOMEM;
    }
    n->saved = j.d;
    tg__parallel_for(len, TG__VEC_GRAIN, tg__vec_range, &j);
    return TG_OK;
}

/* gx += gy * f'(x) from the derivative forward kept (x has a gradient exactly when it
 * did), and the kinks counted as tg__map_backward does when kink is non-NULL. */
TG__INLINE tg_status tg__vec_backward(tg_node *n, tg__kink_fn kink)
{
    const float *x = n->in[0]->data;
    const float *p = n->param;
    const size_t len = n->out->size;
    if (n->in[0]->grad && n->saved) {
        tg__vec_job j = { .x = x, .gy = n->out->grad, .saved = n->saved,
                          .gx = n->in[0]->grad, .p = p[0] };
        tg__parallel_for(len, TG__VEC_GRAIN, tg__vec_range, &j);
    }
    if (kink)
        n->kinks += tg__count_kinks(x, p, len, kink);
    return TG_OK;
}

/* Parameter domains shared by the one-parameter rules (eps, alpha), on the tape (float)
 * and in the local functions (double). */
TG__INLINE int tg__positive_finite(double v) { return v > 0.0 && v - v == 0.0; }

/* A derivative near its root x0 = root_hi + root_lo (double-double), where evaluating
 * the formula cancels: the Taylor polynomial sum_k c[k] d^(k+1), d = x - x0, keeps full
 * relative accuracy. */
TG__INLINE double tg__taylor_about_root(double x, double root_hi, double root_lo,
                                        const double *c, size_t n)
{
    const double d = (x - root_hi) - root_lo;   /* x - root_hi is exact (Sterbenz) */
    double p = 0.0;
    for (size_t i = n; i-- > 0;)
        p = p * d + c[i];
    return p * d;
}

/* infer for rules whose one parameter must be positive (eps, leaky_relu's alpha); the
 * shared tg_infer_same_shape already refuses non-finite parameters. */
static inline tg_status tg__infer_param_positive(tg_node *n, size_t *rank,
                                                 size_t shape[TG_MAX_RANK])
{
    if (!tg__positive_finite(n->param[0])) {
        n->why = "parameter must be > 0 and finite";
        return TG_ERR_PARAM;
    }
    return tg_infer_same_shape(n, rank, shape);
}

#endif
