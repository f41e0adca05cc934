/* mean: the average of every element of x, rank 0; dx[i] += dy / size. */
#include "internal.h"

/* The sum in double (tg__sum_double, sum.c), divided once. */
static tg_status mean_forward(tg_node *n)
{
    const size_t len = n->in[0]->size;
    n->out->data[0] = (float)(tg__sum_double(n->in[0]->data, len) / (double)len);
    return TG_OK;
}

static tg_status mean_backward(tg_node *n)
{
    float *gx = n->in[0]->grad;
    const size_t len = n->in[0]->size;
    const float g = (float)((double)n->out->grad[0] / (double)len);
    if (gx)
        for (size_t i = 0; i < len; i++)
            gx[i] += g;
    return TG_OK;
}

const tg_rule tg__rule_mean = { .name = "mean", .arity = 1, .infer = tg__infer_scalar,
                                .forward = mean_forward, .backward = mean_backward };

tg_tensor *tg_mean(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_mean, &x, 1, NULL); }
