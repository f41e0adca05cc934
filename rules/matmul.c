/* matmul: C = A B, A [M,K], B [K,N], C [M,N]; dA += G B^T, dB += A^T G.
 * Every product goes through tg__gemm, the one GEMM entry point. */
#include "internal.h"

static tg_status matmul_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    if (a->rank != 2 || b->rank != 2) {
        n->why = "both operands must be matrices (rank 2)";
        return TG_ERR_SHAPE;
    }
    if (a->shape[1] != b->shape[0]) {
        n->why = "inner dimensions differ: [M,K] x [K,N] needed";
        return TG_ERR_SHAPE;
    }
    *rank = 2;
    shape[0] = a->shape[0];
    shape[1] = b->shape[1];
    return TG_OK;
}

static tg_status matmul_forward(tg_node *n)
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const size_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    tg__gemm(0, 0, M, N, K, 1.0f, a->data, K, b->data, N, 0.0f, n->out->data, N);
    return TG_OK;
}

static tg_status matmul_backward(tg_node *n)
{
    const tg_tensor *a = n->in[0], *b = n->in[1];
    const size_t M = a->shape[0], K = a->shape[1], N = b->shape[1];
    const float *g = n->out->grad;
    if (a->grad) /* [M,K] += G [M,N] * B^T, B stored [K,N] */
        tg__gemm(0, 1, M, K, N, 1.0f, g, N, b->data, N, 1.0f, a->grad, K);
    if (b->grad) /* [K,N] += A^T, A stored [M,K], * G [M,N] */
        tg__gemm(1, 0, K, N, M, 1.0f, a->data, K, g, N, 1.0f, b->grad, N);
    return TG_OK;
}

const tg_rule tg__rule_matmul = { .name = "matmul", .arity = 2, .infer = matmul_infer,
                                  .forward = matmul_forward, .backward = matmul_backward };

tg_tensor *tg_matmul(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = { a, b };
    return tg_apply(t, &tg__rule_matmul, in, 2, NULL);
}
