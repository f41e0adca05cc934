/* sum: every element of x added up into a rank-0 output; dx[i] += dy. */
#include "internal.h"

/* infer for reductions to a rank-0 output (sum, mean): any input shape is fine. */
tg_status tg__infer_scalar(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    (void)n;
    (void)shape;
    *rank = 0;
    return TG_OK;
}

/* A double accumulator: its error, at most size 2^-53 sum|x|, is 2^29 times below a
 * float accumulator's, and it cannot overflow where the float sum would (3e38 + 3e38
 * - 3e38 - 3e38 is 0, not inf). */
double tg__sum_double(const float *x, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

static tg_status sum_forward(tg_node *n)
{
    n->out->data[0] = (float)tg__sum_double(n->in[0]->data, n->in[0]->size);
    return TG_OK;
}

static tg_status sum_backward(tg_node *n)
{
    float *gx = n->in[0]->grad;
    const float g = n->out->grad[0];
    if (gx)
        for (size_t i = 0; i < n->in[0]->size; i++)
            gx[i] += g;
    return TG_OK;
}

const tg_rule tg__rule_sum = { .name = "sum", .arity = 1, .infer = tg__infer_scalar,
                               .forward = sum_forward, .backward = sum_backward };

tg_tensor *tg_sum(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_sum, &x, 1, NULL); }
