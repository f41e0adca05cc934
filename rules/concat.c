/* concat: [..., p] and [..., q] joined along the last axis into [..., p+q]; the leading
 * dimensions must be equal. Backward hands each input its slice of every row of dy. */
#include "internal.h"

static tg_status concat_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    if (a->rank == 0 || a->rank != b->rank) {
        n->why = "operands must have the same rank, at least 1";
        return TG_ERR_SHAPE;
    }
    const size_t last = a->rank - 1;
    for (size_t i = 0; i < last; i++) {
        if (a->shape[i] != b->shape[i]) {
            n->why = "leading dimensions differ";
            return TG_ERR_SHAPE;
        }
        shape[i] = a->shape[i];
    }
    /* no overflow: tg__check_shape keeps every tensor below SIZE_MAX / 8 elements */
    shape[last] = a->shape[last] + b->shape[last];
    *rank = a->rank;
    return TG_OK;
}

/* The leading dimensions flattened: rows of length p (a), q (b) and p+q (y). */
typedef struct { size_t rows, p, q; } concat_dims;

static concat_dims dims_of(const tg_node *n)
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const size_t p = a->shape[a->rank - 1], q = b->shape[b->rank - 1];
    const concat_dims d = { a->size / p, p, q };
    return d;
}

static tg_status concat_forward(tg_node *n)
{
    const concat_dims d = dims_of(n);
    const float *a = n->in[0]->data, *b = n->in[1]->data;
    float *y = n->out->data;
    for (size_t r = 0; r < d.rows; r++) {
        float *yr = y + r * (d.p + d.q);
        for (size_t j = 0; j < d.p; j++)
            yr[j] = a[r * d.p + j];
        for (size_t j = 0; j < d.q; j++)
            yr[d.p + j] = b[r * d.q + j];
    }
    return TG_OK;
}

static tg_status concat_backward(tg_node *n)
{
    const concat_dims d = dims_of(n);
    const float *gy = n->out->grad;
    float *ga = n->in[0]->grad, *gb = n->in[1]->grad;
    for (size_t r = 0; r < d.rows; r++) {
        const float *gr = gy + r * (d.p + d.q);
        if (ga)
            for (size_t j = 0; j < d.p; j++)
                ga[r * d.p + j] += gr[j];
        if (gb)
            for (size_t j = 0; j < d.q; j++)
                gb[r * d.q + j] += gr[d.p + j];
    }
    return TG_OK;
}

const tg_rule tg__rule_concat = { .name = "concat", .arity = 2, .infer = concat_infer,
                                  .forward = concat_forward, .backward = concat_backward };

tg_tensor *tg_concat(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = { a, b };
    return tg_apply(t, &tg__rule_concat, in, 2, NULL);
}
