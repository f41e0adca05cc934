/* The linear layer without a bias, tg_linear(t, x, W, NULL): the rule linear_nobias,
 * against the local gradients of local.h (the bias-free layer is the same map minus b).
 *
 * Tolerances as in test_linear.c: a float32 dot product or sum of K terms is within
 * gamma_K sum|terms| of the exact value (Higham eq. 3.5, u = 2^-24), the double
 * reference within gamma_K with u = 2^-53; the tape adds its K terms onto an earlier
 * gradient, K + 1 terms in all. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#define MAXE 1024

static double tol(size_t K, double mag)
{
    return (tu_gamma(K, 0x1p-24) + tu_gamma(K, 0x1p-53)) * mag;
}

static void check_nobias(size_t xrank, size_t B, size_t in, size_t out, uint64_t seed)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 7);
    const size_t xs[2] = { B, in };
    tg_tensor *x = tu_random(TG_PARAM, xrank, xrank == 2 ? xs : xs + 1, &rng, -1.0f, 1.0f);
    tg_tensor *W = tu_random(TG_PARAM, 2, (size_t[]){ out, in }, &rng, -1.0f, 1.0f);
    cr_assert(x && W);
    tg_tensor *gx0 = tu_earlier_grad(x, &rng), *gW0 = tu_earlier_grad(W, &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_linear(t, x, W, NULL);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_str_eq(tg_tape_node(t, 0)->rule->name, "linear_nobias");
    cr_assert_eq(y->rank, xrank);
    cr_assert_eq(y->shape[xrank - 1], out);
    const size_t rows = xrank == 2 ? B : 1;
    double Wd[MAXE], xr[MAXE], d[MAXE], dW[MAXE], dx[MAXE], ref_dW[MAXE], mag_dW[MAXE];
    cr_assert_leq(out * in, MAXE);
    for (size_t i = 0; i < out * in; i++) {
        Wd[i] = W->data[i];
        ref_dW[i] = gW0->data[i];
        mag_dW[i] = fabs(ref_dW[i]);
    }
    /* forward: y = W x per row, no bias */
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < out; i++) {
            double want = 0.0, mag = 0.0;
            for (size_t j = 0; j < in; j++) {
                want += (double)x->data[r * in + j] * W->data[i * in + j];
                mag += fabs((double)x->data[r * in + j] * W->data[i * in + j]);
            }
            cr_assert(fabs(y->data[r * out + i] - want) <= tol(in, mag), "y[%zu,%zu]", r, i);
        }
    tg_tensor *D = tu_backward_random(t, y, &rng);
    for (size_t r = 0; r < rows; r++) {
        /* per row: dx_r = W^T d_r (local), and d_r x_r^T summed over the batch into dW */
        for (size_t j = 0; j < in; j++)
            xr[j] = x->data[r * in + j];
        for (size_t i = 0; i < out; i++)
            d[i] = D->data[r * out + i];
        tg_local_linear_grad_input(out, in, Wd, d, dx);
        tg_local_linear_grad_weight(out, in, d, xr, dW);
        for (size_t j = 0; j < in; j++) {
            double mag = fabs(gx0->data[r * in + j]);
            for (size_t i = 0; i < out; i++)
                mag += fabs(d[i] * Wd[i * in + j]);
            const double want = gx0->data[r * in + j] + dx[j];
            cr_assert(fabs(x->grad[r * in + j] - want) <= tol(out + 1, mag),
                      "dx[%zu,%zu]: %.9g, want %.17g", r, j, (double)x->grad[r * in + j], want);
        }
        for (size_t i = 0; i < out * in; i++) {
            ref_dW[i] += dW[i];
            mag_dW[i] += fabs(dW[i]);
        }
    }
    for (size_t i = 0; i < out * in; i++)
        cr_assert(fabs(W->grad[i] - ref_dW[i]) <= tol(rows + 1, mag_dW[i]),
                  "dW[%zu]: %.9g, want %.17g", i, (double)W->grad[i], ref_dW[i]);
    tg_tape_free(t);
    tu_gradcheck("linear_nobias", (tg_tensor *[]){ x, W }, 2, NULL);
    tg_tensor *all[] = { x, W, gx0, gW0, D };
    for (size_t i = 0; i < 5; i++)
        tg_tensor_free(all[i]);
}

Test(ops_linear, linear_nobias_grad_matches_local)
{
    check_nobias(2, 4, 3, 5, 3100);
    check_nobias(2, 1, 1, 1, 3101);
    check_nobias(2, 32, 9, 17, 3102);
    check_nobias(1, 1, 7, 3, 3103);   /* x [in] -> y [out] */
}

/* linear with a zero bias and linear without one give the same bits: the products are
 * the same, and adding a zero bias is exact. */
Test(ops_linear, linear_nobias_equals_linear_with_zero_bias)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 3200, 7);
    tg_tensor *x = tu_random(TG_PARAM, 2, (size_t[]){ 6, 5 }, &rng, -1.0f, 1.0f);
    tg_tensor *W = tu_random(TG_PARAM, 2, (size_t[]){ 4, 5 }, &rng, -1.0f, 1.0f);
    tg_tensor *b = tg_tensor_new(TG_CONST, 1, (size_t[]){ 4 });
    cr_assert(x && W && b);
    tg_tape *t = tg_tape_new();
    tg_tensor *y1 = tg_linear(t, x, W, NULL), *y2 = tg_linear(t, x, W, b);
    cr_assert(y1 && y2, "%s", tg_last_error());
    cr_assert(memcmp(y1->data, y2->data, y1->size * sizeof(float)) == 0);
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(W);
    tg_tensor_free(b);
}

Test(ops_linear, linear_nobias_shape_mismatch_refused)
{
    tg_tensor *x = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 4 });
    tg_tensor *W = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 3, 5 });
    tg_tensor *v = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 5 });
    cr_assert(x && W && v);
    tu_expect_refused("linear_nobias", (tg_tensor *[]){ x, W }, 2, NULL, TG_ERR_SHAPE,
                      "[2,4], [3,5]", "x must be [B,in] or [in]");
    tu_expect_refused("linear_nobias", (tg_tensor *[]){ x, v }, 2, NULL, TG_ERR_SHAPE,
                      "[2,4], [5]", "W must be a matrix");
    tg_tape *t = tg_tape_new();
    cr_assert_null(tg_linear(t, x, W, NULL));
    cr_assert(strstr(tg_tape_error(t), "linear_nobias"), "%s", tg_tape_error(t));
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(W);
    tg_tensor_free(v);
}
