/* linear: y = x W^T + b with W [out,in] (the PyTorch layout) and b [out].
 * x is a batch [B,in] giving y [B,out], or one vector [in] giving y [out] (the
 * rules.md form y = W x + b; it is the batch of one, stored the same way).
 * Backward, with D = dy [B,out]: dx += D W, dW += D^T x, db += the column sums of D.
 * The products go through tg__gemm, the one GEMM entry point.
 *
 * linear_nobias is the same layer without b (tg_linear with a NULL bias): a 2-input
 * rule sharing these functions, which look for b only when there are 3 inputs.
 *
 * Also the double-precision local gradients of one vector (local.h), the reference
 * the tape is tested against. */
#include <string.h>
#include "internal.h"

static tg_status linear_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *x = n->in[0], *W = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    if (W->rank != 2) {
        n->why = "W must be a matrix [out,in]";
        return TG_ERR_SHAPE;
    }
    if ((x->rank != 1 && x->rank != 2) || x->shape[x->rank - 1] != W->shape[1]) {
        n->why = "x must be [B,in] or [in], with in the columns of W";
        return TG_ERR_SHAPE;
    }
    if (b && (b->rank != 1 || b->shape[0] != W->shape[0])) {
        n->why = "b must be [out], with out the rows of W";
        return TG_ERR_SHAPE;
    }
    *rank = x->rank;
    shape[0] = x->shape[0];
    shape[x->rank - 1] = W->shape[0];
    return TG_OK;
}

/* Rows of x: B for a batch, 1 for a single vector. */
static size_t batch_rows(const tg_tensor *x) { return x->rank == 2 ? x->shape[0] : 1; }

static tg_status linear_forward(tg_node *n)
{
    const tg_tensor *x = n->in[0], *W = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    const size_t B = batch_rows(x), out = W->shape[0], in = W->shape[1];
    float *y = n->out->data;
    /* start every row at b, so the GEMM adds x W^T onto it (beta = 1); without b the
     * GEMM ignores y's old contents (beta = 0) */
    for (size_t r = 0; b && r < B; r++)
        memcpy(y + r * out, b->data, out * sizeof *y);
    tg__gemm(0, 1, B, out, in, 1.0f, x->data, in, W->data, in, b ? 1.0f : 0.0f, y, out);
    return TG_OK;
}

/* db[i] += the sum over rows r of D[r, i], row by row: each db[i] receives the additions
 * in row order, the same sums whatever the blocking. Blocks of 16 columns are summed down
 * the rows in registers and stored once: adding each row into db in memory made every
 * row wait for the previous row's store (a quarter of linear's backward on small
 * layers). db and D never overlap (a parameter's gradient and an output's); restrict and
 * the fixed-size blocks let GCC -O2 vectorize. */
#define TG__BIAS_BLOCK 16

static void add_rows(float *restrict db, const float *restrict D, size_t B, size_t out)
{
    size_t i = 0;
    for (; i + TG__BIAS_BLOCK <= out; i += TG__BIAS_BLOCK) {
        float acc[TG__BIAS_BLOCK];
        for (size_t j = 0; j < TG__BIAS_BLOCK; j++)
            acc[j] = db[i + j];
        for (size_t r = 0; r < B; r++) {
            TG__UNROLL   /* acc[] in registers */
            for (size_t j = 0; j < TG__BIAS_BLOCK; j++)
                acc[j] += D[r * out + i + j];
        }
        for (size_t j = 0; j < TG__BIAS_BLOCK; j++)
            db[i + j] = acc[j];
    }
    for (; i < out; i++) {
        float acc = db[i];
        for (size_t r = 0; r < B; r++)
            acc += D[r * out + i];
        db[i] = acc;
    }
}

static tg_status linear_backward(tg_node *n)
{
    const tg_tensor *x = n->in[0], *W = n->in[1], *b = n->n_in == 3 ? n->in[2] : NULL;
    const size_t B = batch_rows(x), out = W->shape[0], in = W->shape[1];
    const float *D = n->out->grad;
    if (x->grad) /* [B,in] += D [B,out] * W [out,in] */
        tg__gemm(0, 0, B, in, out, 1.0f, D, out, W->data, in, 1.0f, x->grad, in);
    if (W->grad) /* [out,in] += D^T, D stored [B,out], * x [B,in] */
        tg__gemm(1, 0, out, in, B, 1.0f, D, out, x->data, in, 1.0f, W->grad, in);
    if (b && b->grad)
        add_rows(b->grad, D, B, out);
    return TG_OK;
}

const tg_rule tg__rule_linear = { .name = "linear", .arity = 3, .infer = linear_infer,
                                  .forward = linear_forward, .backward = linear_backward };

const tg_rule tg__rule_linear_nobias = { .name = "linear_nobias", .arity = 2,
                                         .infer = linear_infer, .forward = linear_forward,
                                         .backward = linear_backward };

tg_tensor *tg_linear(tg_tape *t, tg_tensor *x, tg_tensor *W, tg_tensor *b)
{
    tg_tensor *in[3] = { x, W, b };
    return b ? tg_apply(t, &tg__rule_linear, in, 3, NULL)
             : tg_apply(t, &tg__rule_linear_nobias, in, 2, NULL);
}

/* The local functions return nothing, so a refusal (a NULL array, or sizes whose
 * product overflows and so cannot describe real arrays) records its message and
 * writes nothing. Returns whether to go on. */
static int local_ok(const char *who, size_t out, size_t in, const void *a, const void *b,
                    const void *c)
{
    int overflow = 0;
    (void)tg__mul_size(out, in, &overflow);
    if (overflow) {
        tg__fail(TG_ERR_SIZE, "%s: out * in = %zu * %zu overflows size_t", who, out, in);
        return 0;
    }
    if (out > 0 && in > 0 && (!a || !b || !c)) {
        tg__fail(TG_ERR_NULL, "%s: an array is NULL (out = %zu, in = %zu)", who, out, in);
        return 0;
    }
    return 1;
}

void tg_local_linear_grad_weight(size_t out, size_t in, const double *d, const double *x,
                                 double *dW)
{
    if (!local_ok("tg_local_linear_grad_weight", out, in, d, x, dW))
        return;
    for (size_t i = 0; i < out; i++)
        for (size_t j = 0; j < in; j++)
            dW[i * in + j] = d[i] * x[j];
}

void tg_local_linear_grad_input(size_t out, size_t in, const double *W, const double *d,
                                double *dx)
{
    if (!local_ok("tg_local_linear_grad_input", out, in, W, d, dx))
        return;
    for (size_t j = 0; j < in; j++)
        dx[j] = 0.0;
    /* row by row, so W is read in storage order */
    for (size_t i = 0; i < out; i++)
        for (size_t j = 0; j < in; j++)
            dx[j] += d[i] * W[i * in + j];
}

void tg_local_linear_grad_bias(size_t out, const double *d, double *db)
{
    if (!local_ok("tg_local_linear_grad_bias", out, 1, d, db, db))
        return;
    for (size_t i = 0; i < out; i++)
        db[i] = d[i];
}
