/* reshape, transpose, sum_axis and mean_axis: the tape against their local functions,
 * the view semantics of reshape, and the refusals.
 *
 * Tolerances. reshape and transpose move values: outputs are exact, and each gradient
 * element is one float addition onto the earlier gradient, computed here the same way,
 * so both compare bit for bit. The axis sums are accumulated in double and rounded
 * once: within 2^-24 |want| + (n + 1) 2^-53 sum|x| of the exact sum (the double
 * accumulator's bound, Higham eq. 3.5, plus the final rounding), divided by n for the
 * mean. Their gradients are dy (or dy / n rounded once) added once: within gamma_2 of
 * |g0| + |term|. */
#include <criterion/criterion.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#define MAXN 256

static void free_all(tg_tensor **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tg_tensor_free(t[i]);
}

/* ---- reshape -------------------------------------------------------------------------- */

/* Targets for 24 elements, their resolved shapes as tg_local_reshape_shape gives them. */
Test(ops_shape, reshape_grad_matches_local)
{
    static const struct { size_t rank; long target[4]; } targets[] = {
        { 2, { 4, 6 } }, { 1, { -1 } }, { 3, { 2, -1, 2 } }, { 4, { 24, 1, 1, 1 } },
        { 2, { 1, 24 } }, { 4, { 2, 3, 2, -1 } }, { 3, { 4, 3, 2 } },
    };
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 1100, 5);
    tg_tensor *x = tu_random(TG_PARAM, 3, (size_t[]){ 2, 3, 4 }, &rng, -1.0f, 1.0f);
    cr_assert_not_null(x);
    for (size_t c = 0; c < sizeof targets / sizeof targets[0]; c++) {
        size_t want[4];
        cr_assert_eq(tg_local_reshape_shape(24, targets[c].rank, targets[c].target, want), TG_OK,
                     "%s", tg_last_error());
        tg_tensor *g0 = tu_earlier_grad(x, &rng);
        tg_tape *t = tg_tape_new();
        tg_tensor *y = tg_reshape(t, x, targets[c].rank, targets[c].target);
        cr_assert_not_null(y, "target %zu: %s", c, tg_last_error());
        cr_assert_eq(y->rank, targets[c].rank);
        for (size_t i = 0; i < y->rank; i++)
            cr_assert_eq(y->shape[i], want[i], "target %zu dimension %zu: %zu, want %zu", c, i,
                         y->shape[i], want[i]);
        cr_assert_eq(y->size, x->size);
        cr_assert_eq(y->data, x->data, "reshape must be a view, not a copy");
        tg_tensor *G = tu_backward_random(t, y, &rng);
        for (size_t i = 0; i < x->size; i++)   /* the identity on the flat data, added once */
            cr_assert_eq(x->grad[i], g0->data[i] + G->data[i], "gradient [%zu]", i);
        tg_tape_free(t);
        tg_tensor_free(g0);
        tg_tensor_free(G);
    }
    tu_gradcheck("reshape", &x, 1, (float[]){ 4, -1, 3, 0 });
    tg_tensor_free(x);
}

/* The output's data is the input's: a change to either shows in the other, through a
 * chain of views too, with recording off as well; the gradients are separate buffers,
 * and gradients flow through the view inside a larger graph. */
Test(ops_shape, reshape_is_a_view)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 1200, 5);
    tg_tensor *x = tu_random(TG_PARAM, 2, (size_t[]){ 3, 4 }, &rng, -1.0f, 1.0f);
    cr_assert_not_null(x);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_reshape(t, x, 2, (long[]){ 2, 6 });
    tg_tensor *z = tg_reshape(t, y, 3, (long[]){ 6, 1, 2 });
    cr_assert(y && z, "%s", tg_last_error());
    cr_assert(y->data == x->data && z->data == x->data);
    cr_assert(y->grad && z->grad && y->grad != x->grad && z->grad != y->grad);
    x->data[7] = 42.0f;
    cr_assert_eq(z->data[7], 42.0f);
    z->data[3] = -5.0f;
    cr_assert_eq(x->data[3], -5.0f);

    /* d/dx sum(tanh(reshape(x))^2) = 2 tanh(x) (1 - tanh(x)^2), elementwise */
    tg_tape_reset(t);
    tg_tensor *loss = tg_sum(t, tg_square(t, tg_tanh(t, tg_reshape(t, x, 1, (long[]){ -1 }))));
    cr_assert_not_null(loss, "%s", tg_last_error());
    tg_zero_grad(x);
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < x->size; i++) {
        const double th = tanh((double)x->data[i]);
        const double want = 2.0 * th * tg_local_tanh_deriv(x->data[i], NULL);
        cr_assert(fabs(x->grad[i] - want) <= 4 * 0x1p-24 * fabs(want) + 0x1p-126,
                  "gradient [%zu] %.9g, want %.17g", i, (double)x->grad[i], want);
    }

    /* inference: still a view, and no gradient */
    tg_tape_reset(t);
    tg_tape_set_recording(t, 0);
    y = tg_reshape(t, x, 1, (long[]){ 12 });
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert(y->data == x->data && y->grad == NULL);

    /* a one-element tensor reshapes to rank 0 and back */
    tg_tape_set_recording(t, 1);
    tg_tensor *one = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 1, 1 });
    cr_assert_not_null(one);
    one->data[0] = 3.0f;
    tg_tensor *s = tg_reshape(t, one, 0, NULL);
    cr_assert(s && s->rank == 0 && s->data[0] == 3.0f, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, s, NULL), TG_OK, "%s", tg_last_error());
    cr_assert_eq(one->grad[0], 1.0f);
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(one);
}

Test(ops_shape, reshape_refuses_bad_targets)
{
    tg_tensor *x = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 4, 6 });
    cr_assert_not_null(x);
    /* through tg_apply, the parameters as they travel */
    tu_expect_refused("reshape", &x, 1, (float[]){ 4, 5, 0, 0 }, TG_ERR_SHAPE, "[4,6]",
                      "24 elements do not fit the target [4,5]");
    tu_expect_refused("reshape", &x, 1, (float[]){ -1, 5, 0, 0 }, TG_ERR_SHAPE, "[4,6]",
                      "24 elements do not fit the target [-1,5]");
    tu_expect_refused("reshape", &x, 1, (float[]){ 7, 7, 7, 7 }, TG_ERR_SHAPE, "[4,6]",
                      "do not fit");
    tu_expect_refused("reshape", &x, 1, (float[]){ -1, -1, 4, 0 }, TG_ERR_PARAM, "[4,6]",
                      "at most one dimension may be -1");
    tu_expect_refused("reshape", &x, 1, (float[]){ 4, 0, 6, 0 }, TG_ERR_PARAM, "[4,6]",
                      "no dimension may follow");
    tu_expect_refused("reshape", &x, 1, (float[]){ 2.5f, -1, 0, 0 }, TG_ERR_PARAM,
                      "[4,6]", "integers");
    tu_expect_refused("reshape", &x, 1, (float[]){ -2, -1, 0, 0 }, TG_ERR_PARAM, "[4,6]",
                      "d0 = -2");
    tu_expect_refused("reshape", &x, 1, (float[]){ INFINITY, 0, 0, 0 }, TG_ERR_PARAM,
                      "[4,6]", "integers");
    tu_expect_refused("reshape", &x, 1, (float[]){ 0, 0, 0, 0 }, TG_ERR_SHAPE, "[4,6]",
                      "24 elements do not fit the target []");

    /* through tg_reshape: what a float parameter cannot carry arrives as NaN */
    static const struct { size_t rank; long shape[5]; } bad[] = {
        { 2, { 0, 24 } }, { 2, { 24, 0 } }, { 2, { -3, 8 } }, { 5, { 1, 2, 3, 2, 2 } },
        { 1, { (1L << 24) + 1 } },
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++) {
        tg_tape *t = tg_tape_new();
        cr_assert_null(tg_reshape(t, x, bad[c].rank, bad[c].shape), "case %zu accepted", c);
        cr_assert_eq(tg_tape_status(t), TG_ERR_PARAM, "case %zu: %s", c, tg_tape_error(t));
        cr_assert(strstr(tg_tape_error(t), "reshape") && strstr(tg_tape_error(t), "NaN") &&
                  strstr(tg_tape_error(t), "[4,6]"), "case %zu: %s", c, tg_tape_error(t));
        tg_tape_free(t);
    }
    tg_tape *t = tg_tape_new();
    cr_assert_null(tg_reshape(t, x, 2, NULL));
    cr_assert_eq(tg_tape_status(t), TG_ERR_PARAM, "%s", tg_tape_error(t));
    tg_tape_free(t);

    /* the local shape function refuses the same, with a message */
    size_t shape[4];
    cr_assert_eq(tg_local_reshape_shape(24, 2, (long[]){ 5, -1 }, shape), TG_ERR_SHAPE);
    cr_assert(strstr(tg_last_error(), "tg_local_reshape_shape"), "%s", tg_last_error());
    cr_assert_eq(tg_local_reshape_shape(24, 2, (long[]){ -1, -1 }, shape), TG_ERR_PARAM);
    cr_assert_eq(tg_local_reshape_shape(24, 2, (long[]){ 0, 24 }, shape), TG_ERR_PARAM);
    cr_assert_eq(tg_local_reshape_shape(24, 2, NULL, shape), TG_ERR_NULL);
    cr_assert_eq(tg_local_reshape_shape(24, 2, (long[]){ 6, -1 }, shape), TG_OK);
    cr_assert(shape[0] == 6 && shape[1] == 4);
    cr_assert_eq(tg_local_reshape_shape(24, 2, (long[]){ LONG_MAX, 2 }, shape), TG_ERR_SHAPE);
    tg_tensor_free(x);
}

/* A user's view rule whose infer claims more elements than its input has would read
 * past the input's data: tg_apply refuses it. A fitting one is a view like reshape. */
static tg_status grow_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    *rank = 1;
    shape[0] = n->in[0]->size + (size_t)n->param[0];
    return TG_OK;
}

static tg_status view_forward(tg_node *n)
{
    (void)n;
    return TG_OK;
}

Test(ops_shape, view_rule_cannot_outgrow_its_input)
{
    static const tg_rule grow = { .name = "grow_view", .arity = 1, .n_params = 1,
                                  .param_names = { "extra" }, .infer = grow_infer,
                                  .forward = view_forward, .backward = view_forward,
                                  .flags = TG_RULE_VIEW };
    tg_tensor *x = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
    cr_assert_not_null(x);
    cr_assert_eq(tg_rule_register(&grow), TG_OK, "%s", tg_last_error());
    tu_expect_refused("grow_view", &x, 1, (float[]){ 1 }, TG_ERR_SHAPE, "[2,3]",
                      "a view needs an input 0 with at least as many elements");
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_apply(t, &grow, &x, 1, (float[]){ 0 });
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert(y->data == x->data && y->size == 6);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* ---- transpose ------------------------------------------------------------------------ */

static void check_transpose(size_t M, size_t N, uint64_t seed)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 5);
    tg_tensor *x = tu_random(TG_PARAM, 2, (size_t[]){ M, N }, &rng, -1.0f, 1.0f);
    cr_assert_not_null(x);
    tg_tensor *g0 = tu_earlier_grad(x, &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_transpose(t, x);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert(y->rank == 2 && y->shape[0] == N && y->shape[1] == M);
    double xd[MAXN], yd[MAXN], gd[MAXN], dx[MAXN];
    for (size_t i = 0; i < M * N; i++)
        xd[i] = x->data[i];
    tg_local_transpose(M, N, xd, yd);
    for (size_t i = 0; i < M * N; i++)
        cr_assert_eq(y->data[i], (float)yd[i], "[%zu,%zu] forward [%zu]", M, N, i);
    tg_tensor *G = tu_backward_random(t, y, &rng);
    for (size_t i = 0; i < M * N; i++)
        gd[i] = G->data[i];
    tg_local_transpose(N, M, gd, dx);   /* its own vector-Jacobian product */
    for (size_t i = 0; i < M * N; i++)
        cr_assert_eq(x->grad[i], g0->data[i] + (float)dx[i], "[%zu,%zu] gradient [%zu]", M, N, i);
    tg_tape_free(t);
    tu_gradcheck("transpose", &x, 1, NULL);
    tg_tensor *all[] = { x, g0, G };
    free_all(all, 3);
}

Test(ops_shape, transpose_grad_matches_local)
{
    check_transpose(1, 1, 1300);
    check_transpose(3, 5, 1301);
    check_transpose(7, 2, 1302);
    check_transpose(1, 9, 1303);
    check_transpose(16, 16, 1304);
}

Test(ops_shape, transpose_refuses_other_ranks)
{
    tg_tensor *v = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 3 });
    tg_tensor *c = tg_tensor_new(TG_PARAM, 3, (size_t[]){ 2, 3, 4 });
    tg_tensor *s = tg_tensor_new(TG_PARAM, 0, NULL);
    cr_assert(v && c && s);
    tu_expect_refused("transpose", &v, 1, NULL, TG_ERR_SHAPE, "[3]", "matrix");
    tu_expect_refused("transpose", &c, 1, NULL, TG_ERR_SHAPE, "[2,3,4]", "matrix");
    tu_expect_refused("transpose", &s, 1, NULL, TG_ERR_SHAPE, "[]", "matrix");
    tg_tensor *all[] = { v, c, s };
    free_all(all, 3);
}

/* ---- sum_axis, mean_axis ---------------------------------------------------------------- */

/* x [2,3,4] (or any shape) reduced along every axis, both keepdims, against the local
 * functions. */
static void check_axis(int mean, size_t rank, const size_t *shape, uint64_t seed)
{
    const char *name = mean ? "mean_axis" : "sum_axis";
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 5);
    tg_tensor *x = tu_random(TG_PARAM, rank, shape, &rng, -1.0f, 1.0f);
    cr_assert_not_null(x);
    for (int axis = -(int)rank; axis < (int)rank; axis++)
        for (int keep = 0; keep < 2; keep++) {
            const size_t a = (size_t)(axis < 0 ? axis + (int)rank : axis);
            size_t outer = 1, inner = 1;
            for (size_t i = 0; i < a; i++)
                outer *= shape[i];
            for (size_t i = a + 1; i < rank; i++)
                inner *= shape[i];
            const size_t n = shape[a];
            tg_tensor *g0 = tu_earlier_grad(x, &rng);
            tg_tape *t = tg_tape_new();
            tg_tensor *y = mean ? tg_mean_axis(t, x, axis, keep) : tg_sum_axis(t, x, axis, keep);
            cr_assert_not_null(y, "%s: %s", name, tg_last_error());
            /* the shape: the axis dropped, or kept as 1 */
            cr_assert_eq(y->rank, keep ? rank : rank - 1, "%s axis %d", name, axis);
            for (size_t i = 0, j = 0; i < rank; i++) {
                if (i == a && !keep)
                    continue;
                cr_assert_eq(y->shape[j], i == a ? 1 : shape[i], "%s axis %d dim %zu", name,
                             axis, j);
                j++;
            }
            double xd[MAXN], yd[MAXN], mag[MAXN], gd[MAXN], dx[MAXN];
            for (size_t i = 0; i < x->size; i++)
                xd[i] = x->data[i];
            (mean ? tg_local_mean_axis : tg_local_sum_axis)(outer, n, inner, xd, yd);
            for (size_t i = 0; i < x->size; i++)
                xd[i] = fabs(xd[i]);
            tg_local_sum_axis(outer, n, inner, xd, mag);
            for (size_t i = 0; i < y->size; i++) {
                const double tol = 0x1p-24 * fabs(yd[i]) +
                                   (double)(n + 1) * 0x1p-53 * mag[i] / (mean ? (double)n : 1.0);
                cr_assert(fabs(y->data[i] - yd[i]) <= tol, "%s axis %d keep %d [%zu]: %.9g, "
                          "want %.17g", name, axis, keep, i, (double)y->data[i], yd[i]);
            }
            tg_tensor *G = tu_backward_random(t, y, &rng);
            for (size_t i = 0; i < y->size; i++)
                gd[i] = G->data[i];
            (mean ? tg_local_mean_axis_vjp : tg_local_sum_axis_vjp)(outer, n, inner, gd, dx);
            for (size_t i = 0; i < x->size; i++) {
                const double want = g0->data[i] + dx[i];
                cr_assert(fabs(x->grad[i] - want) <=
                          tu_gamma(2, 0x1p-24) * (fabs(g0->data[i]) + fabs(dx[i])),
                          "%s axis %d gradient [%zu]: %.9g, want %.17g", name, axis, i,
                          (double)x->grad[i], want);
            }
            tg_tape_free(t);
            tg_tensor_free(g0);
            tg_tensor_free(G);
            if (keep == 0)
                tu_gradcheck(name, &x, 1, (float[]){ (float)axis, 0.0f });
        }
    tg_tensor_free(x);
}

Test(ops_shape, sum_axis_grad_matches_local)
{
    check_axis(0, 3, (size_t[]){ 2, 3, 4 }, 1400);
    check_axis(0, 1, (size_t[]){ 7 }, 1401);                 /* to rank 0 */
    check_axis(0, 4, (size_t[]){ 2, 1, 3, 5 }, 1402);
    check_axis(0, 2, (size_t[]){ 1, 1 }, 1403);
}

Test(ops_shape, mean_axis_grad_matches_local)
{
    check_axis(1, 3, (size_t[]){ 2, 3, 4 }, 1500);
    check_axis(1, 1, (size_t[]){ 7 }, 1501);
    check_axis(1, 4, (size_t[]){ 2, 1, 3, 5 }, 1502);
    check_axis(1, 2, (size_t[]){ 3, 1 }, 1503);
}

/* Sums a float accumulator gets wrong, along the middle axis of [2,4,1]: 1 + 1e8 - 1e8
 * loses the 1, 3e38 + 3e38 overflows; the exact sums are 1 and 0. */
Test(ops_shape, axis_sums_accumulate_in_double)
{
    static const float v[8] = { 1.0f, 1e8f, -1e8f, 0.0f, 3e38f, 3e38f, -3e38f, -3e38f };
    tg_tensor *x = tg_tensor_new(TG_CONST, 3, (size_t[]){ 2, 4, 1 });
    cr_assert_not_null(x);
    memcpy(x->data, v, sizeof v);
    tg_tape *t = tg_tape_new();
    tg_tensor *s = tg_sum_axis(t, x, 1, 0), *m = tg_mean_axis(t, x, -2, 1);
    cr_assert(s && m, "%s", tg_last_error());
    cr_assert(s->rank == 2 && s->shape[0] == 2 && s->shape[1] == 1);
    cr_assert(m->rank == 3 && m->shape[0] == 2 && m->shape[1] == 1 && m->shape[2] == 1);
    cr_assert(s->data[0] == 1.0f && s->data[1] == 0.0f, "%g %g", s->data[0], s->data[1]);
    cr_assert(m->data[0] == 0.25f && m->data[1] == 0.0f, "%g %g", m->data[0], m->data[1]);
    tg_tape_free(t);
    tg_tensor_free(x);
}

Test(ops_shape, axis_reductions_refuse_bad_params)
{
    tg_tensor *x = tg_tensor_new(TG_PARAM, 3, (size_t[]){ 2, 3, 4 });
    tg_tensor *s = tg_tensor_new(TG_PARAM, 0, NULL);
    cr_assert(x && s);
    static const char *const names[] = { "sum_axis", "mean_axis" };
    for (size_t k = 0; k < 2; k++) {
        const char *r = names[k];
        tu_expect_refused(r, &x, 1, (float[]){ 3, 0 }, TG_ERR_PARAM, "[2,3,4]", "axis = 3");
        tu_expect_refused(r, &x, 1, (float[]){ -4, 0 }, TG_ERR_PARAM, "[2,3,4]",
                          "axis must be an integer in [-rank, rank)");
        tu_expect_refused(r, &x, 1, (float[]){ 0.5f, 0 }, TG_ERR_PARAM, "[2,3,4]", "axis");
        tu_expect_refused(r, &x, 1, (float[]){ NAN, 0 }, TG_ERR_PARAM, "[2,3,4]", "axis");
        tu_expect_refused(r, &x, 1, (float[]){ 0, 2 }, TG_ERR_PARAM, "[2,3,4]",
                          "keepdims must be 0 or 1");
        tu_expect_refused(r, &s, 1, NULL, TG_ERR_SHAPE, "[]", "rank 0");
    }
    tg_tape *t = tg_tape_new();
    cr_assert_null(tg_sum_axis(t, x, 7, 0));
    cr_assert_eq(tg_tape_status(t), TG_ERR_PARAM);
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(s);
}
