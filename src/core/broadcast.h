/* NumPy-style broadcasting for the binary elementwise rules (add, sub, mul, div).
 *
 * Shapes align from the right; a missing leading dimension counts as 1; a dimension of
 * size 1 broadcasts against any size, and otherwise the sizes must be equal. The output
 * has the broadcast shape, and an operand's gradient is the output cotangent summed over
 * the dimensions where that operand was broadcast.
 *
 * A plan describes the output as rows: its dimensions with size-1 ones dropped and
 * neighbours merged wherever both operands are laid out alike, so [4,5] + [5] is two
 * dimensions, [2,3,4] + [2,3,4] one. In the innermost (row) dimension each operand is
 * either contiguous (stride 1) or one repeated value (stride 0). Two layouts:
 *  - runs (the fast path): at most two dimensions and both operands contiguous along
 *    the row, i.e. equal shapes or one operand the trailing part of the other ([n] or
 *    [1,n] against [B,n]). Row r of operand k starts at r * step[k] (step is len or 0):
 *    no index arithmetic beyond one product per row.
 *  - strided (the general path): up to TG_MAX_RANK dimensions with per-operand strides,
 *    0 where broadcast ([B,1] against [B,n], [B,1,n] against [B,m,n], a scalar against
 *    anything); an odometer moves the row offsets, so the index work is per row, never
 *    per element. */
#ifndef TAPEGRAD_BROADCAST_H
#define TAPEGRAD_BROADCAST_H

#include "elementwise.h"

typedef struct {
    int runs_layout;                  /* 1: the fast path below applies */
    size_t runs, len, step[2];        /* fast path: runs of len elements, operand offsets */
    size_t rank;                      /* strided: merged output dimensions, >= 1 */
    size_t shape[TG_MAX_RANK];
    size_t stride[2][TG_MAX_RANK];    /* per operand, in elements; 0 where broadcast */
    size_t rows;                      /* product of all but the last dimension */
} tg__bcast;

/* infer for add, sub, mul, div: refuses incompatible shapes with a reason naming the
 * first dimension that does not broadcast; tg_apply adds both shapes to the message. */
tg_status tg__bcast_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK]);

/* The plan for operands of the given shapes, which must broadcast. allow_runs 0 forces
 * the strided layout, so the two paths can be tested against each other. */
tg__bcast tg__bcast_plan(const tg_tensor *a, const tg_tensor *b, int allow_runs);

/* Moves the strided plan's odometer to the next row: idx holds the row's position in
 * the leading dimensions, off[k] operand k's offset (both start at 0). */
void tg__bcast_next_row(const tg__bcast *p, size_t idx[TG_MAX_RANK], size_t off[2]);

typedef float (*tg__binary_fn)(float a, float b);
/* One output element's contribution to an operand's gradient: the cotangent gy times
 * the partial derivative at (a, b). */
typedef float (*tg__binary_grad_fn)(float gy, float a, float b);

/* y[j] = f(a[j*sa], b[j*sb]) over one row; sa, sb are 1 (contiguous) or 0 (one value).
 * One loop per case, so each is a plain loop the compiler can vectorize. */
TG__INLINE void tg__bcast_row(size_t len, const float *a, size_t sa, const float *b,
                              size_t sb, float *y, tg__binary_fn f)
{
    if (sa && sb) {
        for (size_t j = 0; j < len; j++)
            y[j] = f(a[j], b[j]);
    } else if (sb) {
        const float a0 = a[0];
        for (size_t j = 0; j < len; j++)
            y[j] = f(a0, b[j]);
    } else if (sa) {
        const float b0 = b[0];
        for (size_t j = 0; j < len; j++)
            y[j] = f(a[j], b0);
    } else {
        const float v = f(a[0], b[0]);
        for (size_t j = 0; j < len; j++)
            y[j] = v;
    }
}

/* y = f(a, b) over the whole output of plan p; f is a constant at each call site and
 * gets inlined. */
TG__INLINE void tg__bcast_map(const tg__bcast *p, const float *a, const float *b, float *y,
                              tg__binary_fn f)
{
    if (p->runs_layout) {
        for (size_t r = 0; r < p->runs; r++)
            tg__bcast_row(p->len, a + r * p->step[0], 1, b + r * p->step[1], 1,
                          y + r * p->len, f);
        return;
    }
    const size_t last = p->rank - 1, len = p->shape[last];
    size_t idx[TG_MAX_RANK] = { 0 }, off[2] = { 0, 0 };
    for (size_t r = 0; r < p->rows; r++) {
        tg__bcast_row(len, a + off[0], p->stride[0][last], b + off[1], p->stride[1][last],
                      y + r * len, f);
        tg__bcast_next_row(p, idx, off);
    }
}

/* Over one row: g[j*sg] += h(gy[j], a[j*sa], b[j*sb]). Where operand k is broadcast along
 * the row (sg 0) the row's terms are summed in double and added once. */
TG__INLINE void tg__bcast_grad_row(size_t len, const float *gy, const float *a, size_t sa,
                                   const float *b, size_t sb, float *g, size_t sg,
                                   tg__binary_grad_fn h)
{
    if (sg) {
        for (size_t j = 0; j < len; j++)
            g[j] += h(gy[j], a[j * sa], b[j * sb]);
    } else {
        double s = 0.0;
        for (size_t j = 0; j < len; j++)
            s += h(gy[j], a[j * sa], b[j * sb]);
        g[0] = (float)((double)g[0] + s);
    }
}

/* Adds into g, the gradient of operand k, h(gy, a, b) for every output element, which
 * sums over the dimensions where operand k is broadcast. */
TG__INLINE void tg__bcast_grad(const tg__bcast *p, size_t k, const float *gy, const float *a,
                               const float *b, float *g, tg__binary_grad_fn h)
{
    if (p->runs_layout) {
        for (size_t r = 0; r < p->runs; r++)
            tg__bcast_grad_row(p->len, gy + r * p->len, a + r * p->step[0], 1,
                               b + r * p->step[1], 1, g + r * p->step[k], 1, h);
        return;
    }
    const size_t last = p->rank - 1, len = p->shape[last];
    size_t idx[TG_MAX_RANK] = { 0 }, off[2] = { 0, 0 };
    for (size_t r = 0; r < p->rows; r++) {
        tg__bcast_grad_row(len, gy + r * len, a + off[0], p->stride[0][last], b + off[1],
                           p->stride[1][last], g + off[k], p->stride[k][last], h);
        tg__bcast_next_row(p, idx, off);
    }
}

/* forward of a binary rule: out = f(in0, in1). */
TG__INLINE tg_status tg__bcast_forward(tg_node *n, tg__binary_fn f)
{
    const tg__bcast p = tg__bcast_plan(n->in[0], n->in[1], 1);
    tg__bcast_map(&p, n->in[0]->data, n->in[1]->data, n->out->data, f);
    return TG_OK;
}

/* backward of a binary rule: ha and hb give each element's contribution to the first
 * and second operand's gradient; inputs without a gradient are skipped. */
TG__INLINE tg_status tg__bcast_backward(tg_node *n, tg__binary_grad_fn ha,
                                        tg__binary_grad_fn hb)
{
    const tg__bcast p = tg__bcast_plan(n->in[0], n->in[1], 1);
    const float *a = n->in[0]->data, *b = n->in[1]->data, *gy = n->out->grad;
    if (n->in[0]->grad)
        tg__bcast_grad(&p, 0, gy, a, b, n->in[0]->grad, ha);
    if (n->in[1]->grad)
        tg__bcast_grad(&p, 1, gy, a, b, n->in[1]->grad, hb);
    return TG_OK;
}

#endif
