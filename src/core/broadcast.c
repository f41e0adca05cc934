/* Trailing-shape broadcasting shared by add, sub and mul (see broadcast.h). */
#include "broadcast.h"

/* Is `small` the trailing part of `big` (rank small <= rank big)? */
static int is_trailing(const tg_tensor *small, const tg_tensor *big)
{
    const size_t lead = big->rank - small->rank;
    for (size_t i = 0; i < small->rank; i++)
        if (small->shape[i] != big->shape[lead + i])
            return 0;
    return 1;
}

tg_status tg__bcast_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const tg_tensor *big = a->rank >= b->rank ? a : b;
    const tg_tensor *small = big == a ? b : a;
    if (!is_trailing(small, big)) {
        n->why = "shapes must be equal, or one the trailing part of the other";
        return TG_ERR_SHAPE;
    }
    *rank = big->rank;
    for (size_t i = 0; i < big->rank; i++)
        shape[i] = big->shape[i];
    return TG_OK;
}

tg__bcast tg__bcast_plan(const tg_node *n)
{
    const size_t na = n->in[0]->size, nb = n->in[1]->size;
    const size_t len = na < nb ? na : nb;
    const size_t total = na < nb ? nb : na;
    tg__bcast p;
    p.len = len;
    p.runs = total / len;
    p.step[0] = na == total ? len : 0;
    p.step[1] = nb == total ? len : 0;
    return p;
}

/* g_k[r*step[k] + j] += s * gy[r*len + j] * w[r*step[1-k] + j], with w = 1 where NULL. */
static void add_grad(const tg__bcast *p, size_t k, float s, const float *gy, const float *w,
                     float *g)
{
    for (size_t r = 0; r < p->runs; r++) {
        float *gr = g + r * p->step[k];
        const float *gyr = gy + r * p->len;
        if (w) {
            const float *wr = w + r * p->step[1 - k];
            for (size_t j = 0; j < p->len; j++)
                gr[j] += s * gyr[j] * wr[j];
        } else {
            for (size_t j = 0; j < p->len; j++)
                gr[j] += s * gyr[j];
        }
    }
}

tg_status tg__bcast_backward(tg_node *n, const float sign[2], int times_other)
{
    const tg__bcast p = tg__bcast_plan(n);
    for (size_t k = 0; k < 2; k++) {
        const float *w = times_other ? n->in[1 - k]->data : NULL;
        if (n->in[k]->grad)
            add_grad(&p, k, sign[k], n->out->grad, w, n->in[k]->grad);
    }
    return TG_OK;
}
