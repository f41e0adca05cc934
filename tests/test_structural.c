/* The structural rules (linear, add, sub, mul, scale, sum, mean, matmul, concat,
 * mse_loss, softmax_cross_entropy): forward against a double computation, gradients
 * against hand-derived double gradients and through tg_gradcheck_rule, broadcasting
 * both ways, the stability of softmax_cross_entropy, and the refusals.
 *
 * Tolerances. A float32 result assembled from K roundings (a sum or dot product of
 * K terms, in any order) is within gamma_K * sum|terms| of the exact value,
 * gamma_K = K u / (1 - K u), u = 2^-24 (Higham, Accuracy and Stability of Numerical
 * Algorithms, 2nd ed., eq. 3.5). Inputs are float32 values, exact in double, and the
 * references are computed in double (K 2^-53 relative at most, far below the float
 * bounds) or, for softmax_cross_entropy, in long double. One correctly rounded float
 * operation (+, -, *) is compared bit for bit: rounding a double result of two floats
 * to float gives the correctly rounded float result (53 >= 2 * 24 + 2). Every
 * backward starts from a random earlier gradient, which the rule must add onto. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#define MAXN 256   /* elements of the largest tensor below */

static double gamma_k(size_t K) { return tu_gamma(K, 0x1p-24); }

static tg_tensor *random_tensor(tg_kind kind, size_t rank, const size_t *shape, tg_pcg32 *rng)
{
    tg_tensor *t = tu_random(kind, rank, shape, rng, -1.0f, 1.0f);
    cr_assert_not_null(t, "tg_tensor_new: %s", tg_last_error());
    cr_assert_leq(t->size, MAXN);
    return t;
}

static const tg_rule *rule(const char *name)
{
    const tg_rule *r = tg_rule_find(name);
    cr_assert_not_null(r, "rule %s is not registered", name);
    return r;
}

static void expect_near(const char *what, size_t i, double got, double want, double tol)
{
    cr_assert(fabs(got - want) <= tol, "%s[%zu]: got %.9g, want %.17g, |diff| %.3g > tol %.3g",
              what, i, got, want, fabs(got - want), tol);
}

static void expect_shape(const tg_tensor *t, size_t rank, const size_t *shape)
{
    cr_assert_eq(t->rank, rank, "rank %zu, want %zu", t->rank, rank);
    for (size_t i = 0; i < rank; i++)
        cr_assert_eq(t->shape[i], shape[i], "dimension %zu is %zu, want %zu", i, t->shape[i],
                     shape[i]);
}

/* Runs backward from y with a random cotangent of y's shape; returns the cotangent. */
static tg_tensor *backward_random(tg_tape *t, tg_tensor *y, tg_pcg32 *rng)
{
    tg_tensor *seed = random_tensor(TG_CONST, y->rank, y->shape, rng);
    cr_assert_eq(tg_backward(t, y, seed), TG_OK, "tg_backward: %s", tg_last_error());
    return seed;
}

/* tg_gradcheck_rule with its default step and tolerances (tuned for float32 data). */
static void gradcheck(const char *name, tg_tensor *const *in, size_t n, const float *params)
{
    const tg_gradcheck_opts opts = { .seed = 11 };
    tg_gradcheck_result r;
    const tg_status s = tg_gradcheck_rule(rule(name), in, n, params, &opts, &r);
    cr_assert_eq(s, TG_OK, "gradcheck %s: %s", name, tg_last_error());
    cr_assert_gt(r.checked, 0, "gradcheck %s checked nothing", name);
    cr_assert(r.pass,
              "gradcheck %s: input %zu element %zu: tape %.9g, numeric %.9g (excess %.3g); "
              "adjoint %.9g vs %.9g",
              name, r.worst_wrt, r.worst_index, r.worst_analytic, r.worst_numeric,
              r.worst_excess, r.adjoint_lhs, r.adjoint_rhs);
}

/* tg_apply must refuse with `want`, and the message must name the rule and the input
 * shapes (as "[2,3], [2]"). */
static void expect_refused(const char *name, tg_tensor *const *in, size_t n, const float *params,
                           tg_status want, const char *shapes)
{
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(t);
    cr_assert_null(tg_apply(t, rule(name), in, n, params), "%s accepted %s", name, shapes);
    cr_assert_eq(tg_tape_status(t), want, "%s %s: status %d (%s), want %d", name, shapes,
                 tg_tape_status(t), tg_tape_error(t), want);
    cr_assert_eq(tg_last_status(), want);
    const char *msg = tg_last_error();
    cr_assert(strstr(msg, name) && strstr(msg, shapes),
              "message \"%s\" must name %s and the shapes %s", msg, name, shapes);
    tg_tape_free(t);
}

static void free_all(tg_tensor **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tg_tensor_free(t[i]);
}

/* ---- add, sub, mul, with broadcasting ------------------------------------------ */

static double binary_value(char op, double a, double b)
{
    return op == '+' ? a + b : op == '-' ? a - b : a * b;
}

/* d(a op b)/d(operand k) */
static double binary_partial(char op, size_t k, double a, double b)
{
    if (op == '*')
        return k == 0 ? b : a;
    return op == '-' && k == 1 ? -1.0 : 1.0;
}

/* Applies `name` to random a (shape sa) and b (shape sb), one of which may be the
 * trailing part of the other. The reference indexes the flat output directly: element
 * i reads a[i % size(a)] and b[i % size(b)] (the repeated operand is the trailing part,
 * stored row-major), and an operand's gradient collects every output element that read
 * it, which is the sum over repeats. */
static void check_binary(const char *name, char op, size_t ra, const size_t *sa, size_t rb,
                         const size_t *sb, uint64_t seed)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 3);
    /* one statement per draw: the order of an initializer list's calls is unspecified */
    tg_tensor *in[2], *g0[2];
    in[0] = random_tensor(TG_PARAM, ra, sa, &rng);
    in[1] = random_tensor(TG_PARAM, rb, sb, &rng);
    g0[0] = tu_earlier_grad(in[0], &rng);
    g0[1] = tu_earlier_grad(in[1], &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_apply(t, rule(name), in, 2, NULL);
    cr_assert_not_null(y, "%s: %s", name, tg_last_error());
    const tg_tensor *big = ra >= rb ? in[0] : in[1];
    expect_shape(y, big->rank, big->shape);
    for (size_t i = 0; i < y->size; i++) {
        const double a = in[0]->data[i % in[0]->size], b = in[1]->data[i % in[1]->size];
        cr_assert_eq(y->data[i], (float)binary_value(op, a, b), "%s forward [%zu]", name, i);
    }
    tg_tensor *G = backward_random(t, y, &rng);
    for (size_t k = 0; k < 2; k++) {
        double ref[MAXN], mag[MAXN];
        for (size_t j = 0; j < in[k]->size; j++) {
            ref[j] = g0[k]->data[j];
            mag[j] = fabs(ref[j]);
        }
        for (size_t i = 0; i < y->size; i++) {
            const double a = in[0]->data[i % in[0]->size], b = in[1]->data[i % in[1]->size];
            const double term = G->data[i] * binary_partial(op, k, a, b);
            ref[i % in[k]->size] += term;
            mag[i % in[k]->size] += fabs(term);
        }
        /* runs terms, each at most one rounding (mul), added onto the earlier gradient */
        const size_t runs = y->size / in[k]->size;
        for (size_t j = 0; j < in[k]->size; j++)
            expect_near(k ? "grad b" : "grad a", j, in[k]->grad[j], ref[j],
                        gamma_k(runs + 2) * mag[j]);
    }
    tg_tape_free(t);
    gradcheck(name, in, 2, NULL);
    tg_tensor *all[] = { in[0], in[1], g0[0], g0[1], G };
    free_all(all, 5);
}

/* Each shape pair is tried in both orders: either operand may be the repeated one. */
static void check_binary_both_ways(const char *name, char op, uint64_t seed)
{
    static const struct { size_t ra, sa[4], rb, sb[4]; } pairs[] = {
        { 2, { 3, 5 }, 2, { 3, 5 } },           /* same shape */
        { 2, { 4, 6 }, 1, { 6 } },              /* a bias [n] against [B,n] */
        { 4, { 2, 3, 4, 5 }, 2, { 4, 5 } },     /* [C,D] against [A,B,C,D] */
        { 3, { 2, 3, 4 }, 0, { 0 } },           /* a rank-0 scalar against anything */
        { 2, { 1, 7 }, 1, { 7 } },              /* equal sizes, different ranks */
        { 1, { 1 }, 1, { 1 } },
    };
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        check_binary(name, op, pairs[p].ra, pairs[p].sa, pairs[p].rb, pairs[p].sb, seed + p);
        check_binary(name, op, pairs[p].rb, pairs[p].sb, pairs[p].ra, pairs[p].sa, seed + 50 + p);
    }
}

Test(structural, add_forward_backward_broadcast)
{
    check_binary_both_ways("add", '+', 1000);
}

Test(structural, sub_forward_backward_broadcast)
{
    check_binary_both_ways("sub", '-', 2000);
}

Test(structural, mul_forward_backward_broadcast)
{
    check_binary_both_ways("mul", '*', 3000);
}

/* mul(x, x) is x^2: both sides add into the one gradient, 2 x dy in all. */
Test(structural, mul_same_tensor_twice)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 3100, 3);
    tg_tensor *x = random_tensor(TG_PARAM, 1, (size_t[]){ 9 }, &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_mul(t, x, x);
    cr_assert_not_null(y, "%s", tg_last_error());
    tg_tensor *G = backward_random(t, y, &rng);
    /* x dy + x dy: one rounded product added to itself, which is exact */
    for (size_t i = 0; i < 9; i++)
        cr_assert_eq(x->grad[i], 2.0f * (G->data[i] * x->data[i]), "element %zu", i);
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(G);
}

Test(structural, binary_shape_mismatch_refused)
{
    tg_tensor *a = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
    tg_tensor *b = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 2 });
    tg_tensor *c = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 3, 2 });
    cr_assert(a && b && c);
    static const char *const ops[] = { "add", "sub", "mul" };
    for (size_t k = 0; k < 3; k++) {
        /* [2] is a leading, not trailing, part of [2,3]; [3,2] has the same size as
         * [2,3] but not its shape. ([1,3] against [2,3] broadcasts: test_ops_broadcast.c) */
        expect_refused(ops[k], (tg_tensor *[]){ a, b }, 2, NULL, TG_ERR_SHAPE, "[2,3], [2]");
        expect_refused(ops[k], (tg_tensor *[]){ b, a }, 2, NULL, TG_ERR_SHAPE, "[2], [2,3]");
        expect_refused(ops[k], (tg_tensor *[]){ a, c }, 2, NULL, TG_ERR_SHAPE, "[2,3], [3,2]");
    }
    tg_tensor *all[] = { a, b, c };
    free_all(all, 3);
}

/* ---- scale ------------------------------------------------------------------------ */

Test(structural, scale_forward_backward)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 4000, 3);
    tg_tensor *x = random_tensor(TG_PARAM, 3, (size_t[]){ 2, 3, 4 }, &rng);
    tg_tensor *g0 = tu_earlier_grad(x, &rng);
    const float s = -2.75f;
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_scale(t, x, s);
    cr_assert_not_null(y, "%s", tg_last_error());
    expect_shape(y, x->rank, x->shape);
    for (size_t i = 0; i < x->size; i++)
        cr_assert_eq(y->data[i], (float)((double)s * x->data[i]), "forward [%zu]", i);
    tg_tensor *G = backward_random(t, y, &rng);
    for (size_t i = 0; i < x->size; i++) {
        const double term = (double)s * G->data[i];
        expect_near("grad x", i, x->grad[i], g0->data[i] + term,
                    gamma_k(2) * (fabs(g0->data[i]) + fabs(term)));
    }
    /* the default s is 1: the identity */
    tg_tape_reset(t);
    y = tg_apply(t, rule("scale"), &x, 1, NULL);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert(memcmp(y->data, x->data, x->size * sizeof(float)) == 0, "default scale is not 1");
    tg_tape_free(t);
    gradcheck("scale", &x, 1, &s);
    expect_refused("scale", &x, 1, (float[]){ NAN }, TG_ERR_PARAM, "[2,3,4]");
    expect_refused("scale", &x, 1, (float[]){ INFINITY }, TG_ERR_PARAM, "[2,3,4]");
    tg_tensor *all[] = { x, g0, G };
    free_all(all, 3);
}

/* ---- sum, mean -------------------------------------------------------------------- */

/* Forward of sum (mean when `mean`) of x against a long double sum: the double
 * accumulator is within gamma_n(2^-53) sum|x|, then one rounding to float. */
static void check_reduction(const char *name, int mean, tg_tensor *x)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_apply(t, rule(name), &x, 1, NULL);
    cr_assert_not_null(y, "%s: %s", name, tg_last_error());
    cr_assert_eq(y->rank, 0);
    long double s = 0.0L, mag = 0.0L;
    for (size_t i = 0; i < x->size; i++) {
        s += x->data[i];
        mag += fabsl((long double)x->data[i]);
    }
    const double n = (double)x->size;
    const double want = (double)(mean ? s / n : s);
    const double tol = 0x1p-24 * fabs(want) + (n + 1) * 0x1p-52 * (double)mag / (mean ? n : 1.0);
    expect_near(name, 0, y->data[0], want, tol);
    tg_tape_free(t);
}

static void check_reduction_backward(const char *name, int mean, uint64_t seed)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 3);
    tg_tensor *x = random_tensor(TG_PARAM, 3, (size_t[]){ 3, 4, 5 }, &rng);
    check_reduction(name, mean, x);
    tg_tensor *g0 = tu_earlier_grad(x, &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_apply(t, rule(name), &x, 1, NULL);
    tg_tensor *G = backward_random(t, y, &rng);
    /* dy (sum) or dy / n rounded once (mean), added onto the earlier gradient */
    const double term = mean ? G->data[0] / (double)x->size : G->data[0];
    for (size_t i = 0; i < x->size; i++)
        expect_near("grad x", i, x->grad[i], g0->data[i] + term,
                    gamma_k(2) * (fabs(g0->data[i]) + fabs(term)));
    tg_tape_free(t);
    gradcheck(name, &x, 1, NULL);
    tg_tensor *all[] = { x, g0, G };
    free_all(all, 3);
}

/* Sums a float accumulator gets wrong: 1 + 1e8 - 1e8 loses the 1, and 3e38 + 3e38
 * overflows; the exact results are 1 and 0. A rank-0 input is its own sum. */
static void check_reduction_edges(const char *name, int mean)
{
    static const float cases[][4] = { { 1.0f, 1e8f, -1e8f, 0.0f },
                                      { 3e38f, 3e38f, -3e38f, -3e38f },
                                      { 0x1p-149f, 0x1p-149f, -0.0f, 0.0f } };
    static const double exact[] = { 1.0, 0.0, 0x1p-148 };
    for (size_t c = 0; c < 3; c++) {
        tg_tensor *x = tg_tensor_new(TG_CONST, 1, (size_t[]){ 4 });
        cr_assert_not_null(x);
        memcpy(x->data, cases[c], sizeof cases[c]);
        tg_tape *t = tg_tape_new();
        tg_tensor *y = tg_apply(t, rule(name), &x, 1, NULL);
        cr_assert_not_null(y, "%s", tg_last_error());
        cr_assert_eq(y->data[0], (float)(mean ? exact[c] / 4 : exact[c]), "%s case %zu: %.9g",
                     name, c, y->data[0]);
        tg_tape_free(t);
        tg_tensor_free(x);
    }
    tg_tensor *s = tg_tensor_new(TG_PARAM, 0, NULL);
    cr_assert_not_null(s);
    s->data[0] = -3.5f;
    check_reduction(name, mean, s);
    tg_tensor_free(s);
}

Test(structural, sum_forward_backward)
{
    check_reduction_backward("sum", 0, 5000);
    check_reduction_edges("sum", 0);
}

Test(structural, mean_forward_backward)
{
    check_reduction_backward("mean", 1, 5100);
    check_reduction_edges("mean", 1);
}

/* ---- matmul ----------------------------------------------------------------------- */

static void check_matmul(size_t M, size_t K, size_t N, uint64_t seed)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 3);
    tg_tensor *A = random_tensor(TG_PARAM, 2, (size_t[]){ M, K }, &rng);
    tg_tensor *B = random_tensor(TG_PARAM, 2, (size_t[]){ K, N }, &rng);
    tg_tensor *gA = tu_earlier_grad(A, &rng), *gB = tu_earlier_grad(B, &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *C = tg_matmul(t, A, B);
    cr_assert_not_null(C, "%s", tg_last_error());
    expect_shape(C, 2, (size_t[]){ M, N });
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double want = 0.0, mag = 0.0;
            for (size_t k = 0; k < K; k++) {
                want += (double)A->data[i * K + k] * B->data[k * N + j];
                mag += fabs((double)A->data[i * K + k] * B->data[k * N + j]);
            }
            expect_near("C", i * N + j, C->data[i * N + j], want, gamma_k(K) * mag);
        }
    tg_tensor *G = backward_random(t, C, &rng);
    /* dA = G B^T: N terms per element; dB = A^T G: M terms; plus the earlier gradient */
    for (size_t i = 0; i < M; i++)
        for (size_t k = 0; k < K; k++) {
            double want = gA->data[i * K + k], mag = fabs(want);
            for (size_t j = 0; j < N; j++) {
                want += (double)G->data[i * N + j] * B->data[k * N + j];
                mag += fabs((double)G->data[i * N + j] * B->data[k * N + j]);
            }
            expect_near("dA", i * K + k, A->grad[i * K + k], want, gamma_k(N + 1) * mag);
        }
    for (size_t k = 0; k < K; k++)
        for (size_t j = 0; j < N; j++) {
            double want = gB->data[k * N + j], mag = fabs(want);
            for (size_t i = 0; i < M; i++) {
                want += (double)A->data[i * K + k] * G->data[i * N + j];
                mag += fabs((double)A->data[i * K + k] * G->data[i * N + j]);
            }
            expect_near("dB", k * N + j, B->grad[k * N + j], want, gamma_k(M + 1) * mag);
        }
    tg_tape_free(t);
    gradcheck("matmul", (tg_tensor *[]){ A, B }, 2, NULL);
    tg_tensor *all[] = { A, B, gA, gB, G };
    free_all(all, 5);
}

Test(structural, matmul_forward_backward)
{
    check_matmul(1, 1, 1, 6000);
    check_matmul(3, 4, 5, 6001);
    check_matmul(1, 7, 1, 6002);   /* a dot product */
    check_matmul(6, 1, 6, 6003);   /* an outer product */
    check_matmul(8, 16, 3, 6004);
}

Test(structural, matmul_shape_mismatch_refused)
{
    tg_tensor *a = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
    tg_tensor *v = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 3 });
    cr_assert(a && v);
    expect_refused("matmul", (tg_tensor *[]){ a, a }, 2, NULL, TG_ERR_SHAPE, "[2,3], [2,3]");
    expect_refused("matmul", (tg_tensor *[]){ a, v }, 2, NULL, TG_ERR_SHAPE, "[2,3], [3]");
    tg_tensor_free(a);
    tg_tensor_free(v);
}

/* ---- linear (its gradients against local.h are in test_linear.c) ------------------ */

static void check_linear_forward(size_t xrank, size_t B, size_t in, size_t out, uint64_t seed)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 3);
    const size_t xs[2] = { B, in };
    tg_tensor *x = random_tensor(TG_PARAM, xrank, xrank == 2 ? xs : xs + 1, &rng);
    tg_tensor *W = random_tensor(TG_PARAM, 2, (size_t[]){ out, in }, &rng);
    tg_tensor *b = random_tensor(TG_PARAM, 1, (size_t[]){ out }, &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_linear(t, x, W, b);
    cr_assert_not_null(y, "%s", tg_last_error());
    const size_t rows = xrank == 2 ? B : 1;
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < out; i++) {
            double want = b->data[i], mag = fabs(want);
            for (size_t j = 0; j < in; j++) {
                want += (double)x->data[r * in + j] * W->data[i * in + j];
                mag += fabs((double)x->data[r * in + j] * W->data[i * in + j]);
            }
            /* in products and the bias: in + 1 terms */
            expect_near("y", r * out + i, y->data[r * out + i], want, gamma_k(in + 1) * mag);
        }
    tg_tape_free(t);
    gradcheck("linear", (tg_tensor *[]){ x, W, b }, 3, NULL);
    tg_tensor *all[] = { x, W, b };
    free_all(all, 3);
}

Test(structural, linear_forward)
{
    check_linear_forward(2, 4, 3, 5, 6500);
    check_linear_forward(2, 1, 1, 1, 6501);
    check_linear_forward(2, 6, 16, 2, 6502);
    check_linear_forward(1, 1, 7, 3, 6503);   /* x [in] -> y [out] */
}

Test(structural, linear_shape_mismatch_refused)
{
    tg_tensor *x = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 4 });
    tg_tensor *W = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 3, 5 });
    tg_tensor *b = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 3 });
    tg_tensor *b4 = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 4 });
    tg_tensor *x5 = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 5 });
    cr_assert(x && W && b && b4 && x5);
    expect_refused("linear", (tg_tensor *[]){ x, W, b }, 3, NULL, TG_ERR_SHAPE,
                   "[2,4], [3,5], [3]");
    expect_refused("linear", (tg_tensor *[]){ x5, W, b4 }, 3, NULL, TG_ERR_SHAPE,
                   "[2,5], [3,5], [4]");
    expect_refused("linear", (tg_tensor *[]){ x5, b, b }, 3, NULL, TG_ERR_SHAPE,
                   "[2,5], [3], [3]");
    tg_tensor *all[] = { x, W, b, b4, x5 };
    free_all(all, 5);
}

/* ---- concat ----------------------------------------------------------------------- */

static void check_concat(size_t rank, const size_t *sa, const size_t *sb, uint64_t seed)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 3);
    tg_tensor *a = random_tensor(TG_PARAM, rank, sa, &rng);
    tg_tensor *b = random_tensor(TG_PARAM, rank, sb, &rng);
    tg_tensor *ga = tu_earlier_grad(a, &rng), *gb = tu_earlier_grad(b, &rng);
    const size_t p = sa[rank - 1], q = sb[rank - 1], rows = a->size / p;
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_concat(t, a, b);
    cr_assert_not_null(y, "%s", tg_last_error());
    size_t want[4];
    memcpy(want, sa, rank * sizeof *want);
    want[rank - 1] = p + q;
    expect_shape(y, rank, want);
    /* copies: exact; gradients: one addition onto the earlier gradient, rounded once */
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < p + q; j++) {
            const float want_y = j < p ? a->data[r * p + j] : b->data[r * q + j - p];
            cr_assert_eq(y->data[r * (p + q) + j], want_y, "forward row %zu column %zu", r, j);
        }
    tg_tensor *G = backward_random(t, y, &rng);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < p + q; j++) {
            const float g = G->data[r * (p + q) + j];
            if (j < p)
                cr_assert_eq(a->grad[r * p + j], ga->data[r * p + j] + g);
            else
                cr_assert_eq(b->grad[r * q + j - p], gb->data[r * q + j - p] + g);
        }
    tg_tape_free(t);
    gradcheck("concat", (tg_tensor *[]){ a, b }, 2, NULL);
    tg_tensor *all[] = { a, b, ga, gb, G };
    free_all(all, 5);
}

Test(structural, concat_forward_backward)
{
    check_concat(1, (size_t[]){ 3 }, (size_t[]){ 2 }, 7000);
    check_concat(2, (size_t[]){ 4, 1 }, (size_t[]){ 4, 5 }, 7001);
    check_concat(3, (size_t[]){ 2, 3, 2 }, (size_t[]){ 2, 3, 4 }, 7002);
    check_concat(4, (size_t[]){ 2, 1, 2, 3 }, (size_t[]){ 2, 1, 2, 1 }, 7003);
}

Test(structural, concat_shape_mismatch_refused)
{
    tg_tensor *a = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
    tg_tensor *b = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 3, 3 });
    tg_tensor *c = tg_tensor_new(TG_PARAM, 3, (size_t[]){ 2, 3, 1 });
    tg_tensor *s = tg_tensor_new(TG_PARAM, 0, NULL);
    cr_assert(a && b && c && s);
    expect_refused("concat", (tg_tensor *[]){ a, b }, 2, NULL, TG_ERR_SHAPE, "[2,3], [3,3]");
    expect_refused("concat", (tg_tensor *[]){ a, c }, 2, NULL, TG_ERR_SHAPE, "[2,3], [2,3,1]");
    expect_refused("concat", (tg_tensor *[]){ s, s }, 2, NULL, TG_ERR_SHAPE, "[], []");
    tg_tensor *all[] = { a, b, c, s };
    free_all(all, 4);
}

/* ---- mse_loss --------------------------------------------------------------------- */

Test(structural, mse_loss_forward_backward)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 8000, 3);
    tg_tensor *p = random_tensor(TG_PARAM, 2, (size_t[]){ 4, 5 }, &rng);
    tg_tensor *q = random_tensor(TG_PARAM, 2, (size_t[]){ 4, 5 }, &rng);
    tg_tensor *gp = tu_earlier_grad(p, &rng), *gq = tu_earlier_grad(q, &rng);
    const double n = (double)p->size;
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_mse_loss(t, p, q);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(y->rank, 0);
    long double s = 0.0L;
    for (size_t i = 0; i < p->size; i++) {
        const long double d = (long double)p->data[i] - q->data[i];
        s += d * d;
    }
    /* every term is >= 0, so the double sum is within n 2^-53 of the exact one; then
     * one rounding to float */
    const double want = (double)(s / n);
    expect_near("mse", 0, y->data[0], want, (0x1p-24 + (n + 2) * 0x1p-53) * want);
    tg_tensor *G = backward_random(t, y, &rng);
    /* 2 dy (p - q) / n in double, rounded once, then added once */
    for (size_t i = 0; i < p->size; i++) {
        const double term = 2.0 * G->data[0] * ((double)p->data[i] - q->data[i]) / n;
        expect_near("dpred", i, p->grad[i], gp->data[i] + term,
                    gamma_k(2) * (fabs(gp->data[i]) + fabs(term)));
        expect_near("dtarget", i, q->grad[i], gq->data[i] - term,
                    gamma_k(2) * (fabs(gq->data[i]) + fabs(term)));
    }
    tg_tape_free(t);
    gradcheck("mse_loss", (tg_tensor *[]){ p, q }, 2, NULL);
    tg_tensor *all[] = { p, q, gp, gq, G };
    free_all(all, 5);
}

/* mse_loss(x, x) is identically 0: loss 0, gradient 0 (the earlier one unchanged). */
Test(structural, mse_loss_same_tensor_is_zero)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 8100, 3);
    tg_tensor *x = random_tensor(TG_PARAM, 1, (size_t[]){ 6 }, &rng);
    tg_tensor *g0 = tu_earlier_grad(x, &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_mse_loss(t, x, x);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(y->data[0], 0.0f);
    cr_assert_eq(tg_backward(t, y, NULL), TG_OK, "%s", tg_last_error());
    cr_assert(memcmp(x->grad, g0->data, x->size * sizeof(float)) == 0);
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(g0);
}

Test(structural, mse_loss_shape_mismatch_refused)
{
    tg_tensor *a = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
    tg_tensor *b = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 3, 2 });
    tg_tensor *c = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 3 });
    cr_assert(a && b && c);
    expect_refused("mse_loss", (tg_tensor *[]){ a, b }, 2, NULL, TG_ERR_SHAPE, "[2,3], [3,2]");
    expect_refused("mse_loss", (tg_tensor *[]){ a, c }, 2, NULL, TG_ERR_SHAPE, "[2,3], [3]");
    tg_tensor *all[] = { a, b, c };
    free_all(all, 3);
}

/* ---- softmax_cross_entropy -------------------------------------------------------- */

/* Row b's loss logsumexp(l) - l[y] and probabilities p, in long double. */
static long double sce_row_ref(const float *l, size_t C, size_t y, long double *p)
{
    long double m = l[0], s = 0.0L;
    for (size_t c = 1; c < C; c++)
        m = l[c] > m ? l[c] : m;
    for (size_t c = 0; c < C; c++)
        s += expl((long double)l[c] - m);
    for (size_t c = 0; c < C; c++)
        p[c] = expl((long double)l[c] - m) / s;
    return (m - l[y]) + logl(s);
}

/* Forward and backward of softmax_cross_entropy on logits [B,C] and labels against a
 * long double reference. Forward: each row's loss in double is within about
 * (C + 4) 2^-53 (1 + |max - l[y]|) (the sum of C exps, log, one addition), then one
 * rounding to float. Backward: p is rounded to float twice (exp term, quotient), then
 * dy p / B once and the addition once: within gamma_4 relative; entries below 2^-126
 * are float subnormals with an absolute precision of 2^-149 instead. Without an
 * earlier gradient (`earlier` 0) this bounds the relative error of each entry, also
 * where p[y] is so near 1 that p[y] - 1 computed in float would lose every digit. */
static void check_sce(tg_tensor *logits, tg_tensor *labels, tg_pcg32 *rng, int earlier)
{
    const size_t B = logits->shape[0], C = logits->shape[1];
    tg_tensor *g0 = earlier ? tu_earlier_grad(logits, rng)
                            : tg_tensor_new(TG_CONST, logits->rank, logits->shape);
    cr_assert_not_null(g0);
    if (!earlier)
        tg_zero_grad(logits);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_softmax_cross_entropy(t, logits, labels);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(y->rank, 0);
    long double total = 0.0L, p[MAXN];
    double gap = 0.0;
    for (size_t b = 0; b < B; b++) {
        const size_t yb = (size_t)labels->data[b];
        total += sce_row_ref(logits->data + b * C, C, yb, p + b * C);
        for (size_t c = 0; c < C; c++)
            gap = fmax(gap, fabs((double)logits->data[b * C + c] - logits->data[b * C + yb]));
    }
    const double want = (double)(total / B);
    cr_assert(isfinite(y->data[0]), "loss %g is not finite", y->data[0]);
    expect_near("loss", 0, y->data[0], want,
                0x1p-24 * fabs(want) + (double)(C + 4) * 0x1p-53 * (1.0 + gap));
    tg_tensor *G = backward_random(t, y, rng);
    for (size_t b = 0; b < B; b++)
        for (size_t c = 0; c < C; c++) {
            const size_t i = b * C + c;
            const long double onehot = c == (size_t)labels->data[b] ? 1.0L : 0.0L;
            const double term = (double)((long double)G->data[0] * (p[i] - onehot) / B);
            cr_assert(isfinite(logits->grad[i]), "gradient [%zu] is not finite", i);
            expect_near("dlogits", i, logits->grad[i], g0->data[i] + term,
                        gamma_k(4) * (fabs(g0->data[i]) + fabs(term)) + 0x1p-148);
        }
    tg_tape_free(t);
    tg_tensor_free(g0);
    tg_tensor_free(G);
}

static tg_tensor *random_labels(size_t B, size_t C, tg_pcg32 *rng)
{
    tg_tensor *labels = tg_tensor_new(TG_CONST, 1, (size_t[]){ B });
    cr_assert_not_null(labels);
    for (size_t b = 0; b < B; b++)
        labels->data[b] = (float)tg_pcg32_bounded(rng, (uint32_t)C);
    return labels;
}

Test(structural, softmax_cross_entropy_forward_backward)
{
    static const size_t shapes[][2] = { { 1, 1 }, { 1, 2 }, { 5, 7 }, { 16, 10 }, { 3, 40 } };
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 9000, 3);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const size_t B = shapes[s][0], C = shapes[s][1];
        tg_tensor *logits = random_tensor(TG_PARAM, 2, shapes[s], &rng);
        for (size_t i = 0; i < logits->size; i++)
            logits->data[i] *= 4.0f;   /* spread the probabilities out */
        tg_tensor *labels = random_labels(B, C, &rng);
        check_sce(logits, labels, &rng, 1);
        gradcheck("softmax_cross_entropy", (tg_tensor *[]){ logits, labels }, 2, NULL);
        tg_tensor_free(logits);
        tg_tensor_free(labels);
    }
}

/* exp(1e4) overflows even a double and exp(-1e4) underflows it: a naive loss is inf or
 * NaN. Row 0 has its label at the large logit, row 1 at the small one (a loss of
 * 2e4), row 2 is all near -1e4, row 3 has a near tie at 1e4, row 4 a confident
 * prediction (1 - p[y] about 1.4e-10, below float's resolution at 1). */
Test(structural, softmax_cross_entropy_stable_at_extremes)
{
    tu_require_extended_long_double();
    static const float rows[5][4] = { { 1e4f, -1e4f, 0.0f, 3.0f },
                                      { 1e4f, -1e4f, 0.0f, 3.0f },
                                      { -1e4f, -1e4f + 1.0f, -1e4f - 3.0f, -1e4f + 0.5f },
                                      { 1e4f, 1e4f - 1.0f, -1e4f, 1e4f - 0.25f },
                                      { 24.0f, 0.0f, -3.0f, 1.0f } };
    static const float lab[5] = { 0.0f, 1.0f, 3.0f, 1.0f, 0.0f };
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 9100, 3);
    tg_tensor *logits = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 5, 4 });
    tg_tensor *labels = tg_tensor_new(TG_CONST, 1, (size_t[]){ 5 });
    cr_assert(logits && labels);
    memcpy(logits->data, rows, sizeof rows);
    memcpy(labels->data, lab, sizeof lab);
    check_sce(logits, labels, &rng, 0);
    tg_tensor_free(logits);
    tg_tensor_free(labels);
}

/* labels are indices: a labels tensor with a gradient keeps it untouched, and
 * -0.0 is class 0. Recording off gives the same loss. */
Test(structural, softmax_cross_entropy_labels_get_no_gradient)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 9200, 3);
    tg_tensor *logits = random_tensor(TG_PARAM, 2, (size_t[]){ 3, 4 }, &rng);
    tg_tensor *labels = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 3 });
    cr_assert_not_null(labels);
    const float lab[3] = { -0.0f, 3.0f, 1.0f };
    memcpy(labels->data, lab, sizeof lab);
    for (size_t b = 0; b < 3; b++)
        labels->grad[b] = 7.0f;
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_softmax_cross_entropy(t, logits, labels);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, y, NULL), TG_OK, "%s", tg_last_error());
    for (size_t b = 0; b < 3; b++)
        cr_assert_eq(labels->grad[b], 7.0f, "labels gradient [%zu] was touched", b);
    /* row 0's label -0.0 is class 0: its gradient there is negative, elsewhere positive */
    cr_assert_lt(logits->grad[0], 0.0f);
    for (size_t c = 1; c < 4; c++)
        cr_assert_gt(logits->grad[c], 0.0f);
    const float recorded = y->data[0];
    tg_tape_reset(t);
    tg_tape_set_recording(t, 0);
    y = tg_softmax_cross_entropy(t, logits, labels);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(y->data[0], recorded, "inference gives %.9g, recording %.9g", y->data[0],
                 recorded);
    tg_tape_free(t);
    tg_tensor_free(logits);
    tg_tensor_free(labels);
}

Test(structural, softmax_cross_entropy_bad_label_refused)
{
    static const float bad[] = { 3.0f, -1.0f, 0.5f, 2.000001f, 1e9f, NAN, INFINITY, -INFINITY };
    tg_tensor *logits = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
    tg_tensor *labels = tg_tensor_new(TG_CONST, 1, (size_t[]){ 2 });
    cr_assert(logits && labels);
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        labels->data[0] = 2.0f;   /* the largest valid class */
        labels->data[1] = bad[k];
        expect_refused("softmax_cross_entropy", (tg_tensor *[]){ logits, labels }, 2, NULL,
                       TG_ERR_DOMAIN, "[2,3], [2]");
        cr_assert(strstr(tg_last_error(), "label"), "message \"%s\" must say why",
                  tg_last_error());
    }
    tg_tensor_free(logits);
    tg_tensor_free(labels);
}

Test(structural, softmax_cross_entropy_shape_mismatch_refused)
{
    tg_tensor *logits = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
    tg_tensor *l3 = tg_tensor_new(TG_CONST, 1, (size_t[]){ 3 });
    tg_tensor *l2 = tg_tensor_new(TG_CONST, 2, (size_t[]){ 2, 1 });
    tg_tensor *flat = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 3 });
    cr_assert(logits && l3 && l2 && flat);
    expect_refused("softmax_cross_entropy", (tg_tensor *[]){ logits, l3 }, 2, NULL,
                   TG_ERR_SHAPE, "[2,3], [3]");
    expect_refused("softmax_cross_entropy", (tg_tensor *[]){ logits, l2 }, 2, NULL,
                   TG_ERR_SHAPE, "[2,3], [2,1]");
    expect_refused("softmax_cross_entropy", (tg_tensor *[]){ flat, l3 }, 2, NULL,
                   TG_ERR_SHAPE, "[3], [3]");
    tg_tensor *all[] = { logits, l3, l2, flat };
    free_all(all, 4);
}
