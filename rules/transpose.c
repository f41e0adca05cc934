/* transpose: y = x^T for a matrix, [M,N] -> [N,M], y[j][i] = x[i][j]; other ranks are
 * refused. A copy, not a view: every tensor is row-major and contiguous. The Jacobian
 * is a permutation, so backward adds the transposed cotangent: dx[i][j] += dy[j][i].
 * Exact: values are moved, and each gradient element gets one addition. */
#include "internal.h"

static tg_status transpose_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *x = n->in[0];
    if (x->rank != 2) {
        n->why = "x must be a matrix [M,N] (rank 2)";
        return TG_ERR_SHAPE;
    }
    *rank = 2;
    shape[0] = x->shape[1];
    shape[1] = x->shape[0];
    return TG_OK;
}

static tg_status transpose_forward(tg_node *n)
{
    const size_t M = n->in[0]->shape[0], N = n->in[0]->shape[1];
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            y[j * M + i] = x[i * N + j];
    return TG_OK;
}

static tg_status transpose_backward(tg_node *n)
{
    const size_t M = n->in[0]->shape[0], N = n->in[0]->shape[1];
    const float *gy = n->out->grad;
    float *gx = n->in[0]->grad;
    if (gx)
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                gx[i * N + j] += gy[j * M + i];
    return TG_OK;
}

const tg_rule tg__rule_transpose = { .name = "transpose", .arity = 1, .infer = transpose_infer,
                                     .forward = transpose_forward,
                                     .backward = transpose_backward };

void tg_local_transpose(size_t M, size_t N, const double *x, double *y)
{
    int overflow = 0;
    (void)tg__mul_size(M, N, &overflow);
    /* nothing to return a status through: the message is recorded, nothing written */
    if (overflow || (M > 0 && N > 0 && (!x || !y))) {
        tg__fail(overflow ? TG_ERR_SIZE : TG_ERR_NULL, "tg_local_transpose: %s (M = %zu, "
                 "N = %zu)", overflow ? "M * N overflows size_t" : "x or y is NULL", M, N);
        return;
    }
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++)
            y[j * M + i] = x[i * N + j];
}

tg_tensor *tg_transpose(tg_tape *t, tg_tensor *x)
{
    return tg_apply(t, &tg__rule_transpose, &x, 1, NULL);
}
