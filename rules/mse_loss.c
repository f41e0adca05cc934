/* mse_loss(pred, target) = mean over all elements of (pred - target)^2, rank 0; both
 * inputs may carry gradients: dpred += dy * 2 (pred - target) / size, dtarget -= the same.
 * The shapes must be equal (no broadcasting: a loss against a repeated target is
 * better written explicitly). */
#include "internal.h"

static tg_status mse_loss_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    (void)shape;
    if (!tg__same_shape(n->in[0], n->in[1])) {
        n->why = "pred and target must have the same shape";
        return TG_ERR_SHAPE;
    }
    *rank = 0;
    return TG_OK;
}

/* The differences and the sum in double: each (pred - target)^2 is within 3 2^-53 of
 * exact (relative), and the sum of these nonnegative terms within size 2^-53, far
 * below the final rounding to float. */
static tg_status mse_loss_forward(tg_node *n)
{
    const float *p = n->in[0]->data, *t = n->in[1]->data;
    const size_t len = n->in[0]->size;
    double s = 0.0;
    for (size_t i = 0; i < len; i++) {
        const double d = (double)p[i] - (double)t[i];
        s += d * d;
    }
    n->out->data[0] = (float)(s / (double)len);
    return TG_OK;
}

static tg_status mse_loss_backward(tg_node *n)
{
    const float *p = n->in[0]->data, *t = n->in[1]->data;
    float *gp = n->in[0]->grad, *gt = n->in[1]->grad;
    const size_t len = n->in[0]->size;
    const double c = 2.0 * (double)n->out->grad[0] / (double)len;
    for (size_t i = 0; i < len; i++) {
        const float g = (float)(c * ((double)p[i] - (double)t[i]));
        if (gp)
            gp[i] += g;
        if (gt)
            gt[i] -= g;
    }
    return TG_OK;
}

const tg_rule tg__rule_mse_loss = { .name = "mse_loss", .arity = 2, .infer = mse_loss_infer,
                                    .forward = mse_loss_forward, .backward = mse_loss_backward };

tg_tensor *tg_mse_loss(tg_tape *t, tg_tensor *pred, tg_tensor *target)
{
    tg_tensor *in[2] = { pred, target };
    return tg_apply(t, &tg__rule_mse_loss, in, 2, NULL);
}
