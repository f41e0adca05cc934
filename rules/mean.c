/* mean: the average of every element of x, rank 0; dx[i] += dy / size. */
#include "internal.h"

static tg_status mean_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    (void)n;
    (void)shape;
    *rank = 0;
    return TG_OK;
}

/* A double accumulator, for the reasons given in sum.c. */
static tg_status mean_forward(tg_node *n)
{
    const float *x = n->in[0]->data;
    const size_t len = n->in[0]->size;
    double s = 0.0;
    for (size_t i = 0; i < len; i++)
        s += x[i];
    n->out->data[0] = (float)(s / (double)len);
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

const tg_rule tg__rule_mean = { .name = "mean", .arity = 1, .infer = mean_infer,
                                .forward = mean_forward, .backward = mean_backward };

tg_tensor *tg_mean(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_mean, &x, 1, NULL); }
