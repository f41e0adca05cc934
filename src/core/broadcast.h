/* Trailing-shape broadcasting for the binary elementwise rules (add, sub, mul).
 *
 * One operand may have the trailing shape of the other ([n] against [B,n], [C,D]
 * against [A,B,C,D], a rank-0 scalar against anything); it is then repeated over the
 * leading dimensions. The output is therefore `runs` consecutive runs of `len`
 * elements, where `len` is the smaller operand's size: within run r, operand k is read
 * at offset r * step[k], with step[k] = len for the full-size operand and 0 for the
 * repeated one. No index arithmetic per element is needed. */
#ifndef TAPEGRAD_BROADCAST_H
#define TAPEGRAD_BROADCAST_H

#include "elementwise.h"

typedef struct {
    size_t runs;     /* repeats of the smaller operand */
    size_t len;      /* elements per run: the smaller operand's size */
    size_t step[2];  /* per-run offset of operand 0 and 1: len or 0 */
} tg__bcast;

/* infer for add, sub, mul: equal shapes, or one a trailing part of the other; the
 * output has the larger shape. */
tg_status tg__bcast_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK]);

/* The run layout of a node whose shapes tg__bcast_infer accepted. */
tg__bcast tg__bcast_plan(const tg_node *n);

/* backward for add, sub, mul: adds sign[k] * gy (times the other operand's data when
 * `times_other`, as mul needs) into each input gradient that exists, summed over the
 * runs where that input is the repeated one. */
tg_status tg__bcast_backward(tg_node *n, const float sign[2], int times_other);

typedef float (*tg__binary_fn)(float a, float b);

/* y = f(a, b) run by run; f is a constant at each call site and gets inlined. */
TG__INLINE tg_status tg__bcast_forward(tg_node *n, tg__binary_fn f)
{
    const tg__bcast p = tg__bcast_plan(n);
    const float *a = n->in[0]->data;
    const float *b = n->in[1]->data;
    float *y = n->out->data;
    for (size_t r = 0; r < p.runs; r++) {
        const float *ar = a + r * p.step[0];
        const float *br = b + r * p.step[1];
        float *yr = y + r * p.len;
        for (size_t j = 0; j < p.len; j++)
            yr[j] = f(ar[j], br[j]);
    }
    return TG_OK;
}

#endif
