/* exp, log, sqrt, square and neg: the float32 tape against the double local functions,
 * the local derivatives against finite differences, exact values at the edges (0, -0,
 * tiny, huge, inf, NaN), the domain refusals of log and sqrt, and gradcheck.
 *
 * Tolerances. Every kernel is the double local function rounded once to float (square
 * and neg are single float operations, which is the same thing), so the tape's value
 * and its derivative (seeded with ones: 0 + 1 * f' is exact) equal the local functions
 * rounded to float bit for bit; special values included, zeros with their sign except
 * in gradients (they accumulate into a zeroed buffer, and +0 + -0 = +0). With a random
 * cotangent onto an earlier gradient, g0 + gy * f' is two roundings: gamma_2 relative to
 * |g0| + |gy f'| (Higham, eq. 3.5). The local derivatives are checked against central
 * differences with step h = 1e-5 max(|x|, floor), floor 1 for exp and 0 for the others:
 * the truncation error h^2 |f'''| / 6 and the rounding error ~2^-52 |f| / h stay below
 * 2e-7 |f'| over the ranges used (exp: |x| <= 80, h^2 / 6 <= 1.1e-7; log: 2^-52 |log x|
 * x / h <= 1.6e-9; sqrt: 2^-51 x / h = 4e-11; square and neg are polynomials of degree
 * <= 2, exact up to rounding), so 1e-6 relative catches any wrong factor or term. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

typedef struct {
    double x, f, df;   /* exact local values */
} edge;

typedef struct {
    const char *name;
    double (*f)(double x);
    double (*df)(double x, tg_point *at);
    tg_tensor *(*op)(tg_tape *t, tg_tensor *x);
    int nonneg;        /* the domain is x >= 0 */
    double lo, hi;     /* |x| range of the finite-difference check (log-uniform) */
    double h_floor;    /* the step is 1e-5 max(|x|, h_floor) */
    const edge *edges;
    size_t n_edges;
} unary;

static const double inf = INFINITY;

static const edge exp_edges[] = {
    { 0.0, 1.0, 1.0 }, { -0.0, 1.0, 1.0 }, { -inf, 0.0, 0.0 }, { inf, inf, inf },
    { -1000.0, 0.0, 0.0 }, { 1000.0, inf, inf }, { 0x1p-1074, 1.0, 1.0 },
};
static const edge log_edges[] = {
    { 0.0, -inf, inf }, { -0.0, -inf, inf }, { inf, inf, 0.0 }, { 1.0, 0.0, 1.0 },
    { 0.5, -0x1.62e42fefa39efp-1, 2.0 }, { 0x1p-1074, -0x1.74385446d71c3p+9, inf },
};
static const edge sqrt_edges[] = {
    { 0.0, 0.0, inf }, { -0.0, -0.0, inf }, { inf, inf, 0.0 }, { 4.0, 2.0, 0.25 },
    { 0x1p-1074, 0x1p-537, 0x1p536 }, { 0x1p1000, 0x1p500, 0x1p-501 },
};
static const edge square_edges[] = {
    { 0.0, 0.0, 0.0 }, { -0.0, 0.0, -0.0 }, { inf, inf, inf }, { -inf, inf, -inf },
    { -3.0, 9.0, -6.0 }, { 0x1p-1074, 0.0, 0x1p-1073 }, { 1e200, inf, 2e200 },
};
static const edge neg_edges[] = {
    { 0.0, -0.0, -1.0 }, { -0.0, 0.0, -1.0 }, { inf, -inf, -1.0 }, { -inf, inf, -1.0 },
    { 0x1p-1074, -0x1p-1074, -1.0 }, { DBL_MAX, -DBL_MAX, -1.0 },
};

#define EDGES(e) .edges = e, .n_edges = sizeof e / sizeof e[0]
static const unary rules[] = {
    { "exp", tg_local_exp, tg_local_exp_deriv, tg_exp, 0, 1e-6, 80.0, 1.0, EDGES(exp_edges) },
    { "log", tg_local_log, tg_local_log_deriv, tg_log, 1, 1e-30, 1e30, 0.0, EDGES(log_edges) },
    { "sqrt", tg_local_sqrt, tg_local_sqrt_deriv, tg_sqrt, 1, 1e-30, 1e30, 0.0,
      EDGES(sqrt_edges) },
    { "square", tg_local_square, tg_local_square_deriv, tg_square, 0, 1e-30, 1e30, 0.0,
      EDGES(square_edges) },
    { "neg", tg_local_neg, tg_local_neg_deriv, tg_neg, 0, 1e-30, 1e30, 0.0, EDGES(neg_edges) },
};
#define N_RULES (sizeof rules / sizeof rules[0])

static const unary *find(const char *name)
{
    for (size_t i = 0; i < N_RULES; i++)
        if (strcmp(rules[i].name, name) == 0)
            return &rules[i];
    cr_assert_fail("no test table for %s", name);
    return NULL;
}

/* Float inputs in every binade of the domain, plus the special values. */
enum { N_RANDOM = 1 << 15 };
static const float special_in[] = {
    0.0f, -0.0f, 0x1p-149f, -0x1p-149f, 0x1p-126f, -0x1p-126f, 1.0f, -1.0f, FLT_MAX, -FLT_MAX,
    INFINITY, -INFINITY, NAN, 88.72f, 88.73f, -103.0f, -104.0f, -150.0f, 1e19f, 2e19f, 1e-23f,
    -1e-23f, 0.5f, 2.0f,
};
#define N_SPECIAL_IN (sizeof special_in / sizeof special_in[0])

static size_t inputs(const unary *u, float *x)
{
    tg_pcg32 rng;
    size_t n = 0;
    tg_pcg32_seed(&rng, 0x656c656d, 3);
    for (size_t i = 0; i < N_RANDOM; i++) {
        uint32_t bits = tg_pcg32_next(&rng);
        if (u->nonneg)
            bits &= 0x7fffffffu;
        memcpy(&x[n++], &bits, sizeof bits);
    }
    for (size_t i = 0; i < N_SPECIAL_IN; i++)
        if (!u->nonneg || !(special_in[i] < 0.0f))
            x[n++] = special_in[i];
    return n;
}

static void check_tape_against_local(const char *name)
{
    static float xs[N_RANDOM + N_SPECIAL_IN];
    const unary *u = find(name);
    const size_t n = inputs(u, xs);
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, &n), *ones = tg_tensor_new(TG_CONST, 1, &n);
    tg_tape *t = tg_tape_new();
    cr_assert(x && ones && t, "%s", tg_last_error());
    memcpy(x->data, xs, n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        ones->data[i] = 1.0f;
    tg_tensor *y = u->op(t, x);
    cr_assert_not_null(y, "%s: %s", name, tg_last_error());
    cr_assert_eq(tg_backward(t, y, ones), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < n; i++) {
        const float v = (float)u->f(xs[i]), d = (float)u->df(xs[i], NULL);
        cr_assert(tu_same(y->data[i], v), "%s(%a): tape %a, local %a", name, (double)xs[i],
                  (double)y->data[i], (double)v);
        cr_assert(tu_same(x->grad[i], d) || (x->grad[i] == 0.0f && d == 0.0f),
                  "%s'(%a): tape %a, local %a", name, (double)xs[i], (double)x->grad[i],
                  (double)d);
    }
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(ones);

    /* a random cotangent, added onto an earlier gradient; then the gradient checker */
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 0x636f74, 3);
    x = tu_random(TG_PARAM, 2, (size_t[]){ 3, 5 }, &rng, u->nonneg ? 0.25f : -3.0f, 3.0f);
    cr_assert_not_null(x);
    tg_tensor *g0 = tu_earlier_grad(x, &rng);
    t = tg_tape_new();
    y = u->op(t, x);
    cr_assert_not_null(y, "%s: %s", name, tg_last_error());
    tg_tensor *G = tu_backward_random(t, y, &rng);
    for (size_t i = 0; i < x->size; i++) {
        const double term = (double)G->data[i] * (float)u->df(x->data[i], NULL);
        const double want = g0->data[i] + term;
        cr_assert(fabs(x->grad[i] - want) <= tu_gamma(2, 0x1p-24) * (fabs(g0->data[i]) + fabs(term)),
                  "%s: gradient [%zu] %.9g, want %.17g", name, i, (double)x->grad[i], want);
    }
    tg_tape_free(t);
    tu_gradcheck(name, &x, 1, NULL);
    tg_tensor_free(x);
    tg_tensor_free(g0);
    tg_tensor_free(G);
}

Test(ops_elementwise, exp_grad_matches_local) { check_tape_against_local("exp"); }
Test(ops_elementwise, log_grad_matches_local) { check_tape_against_local("log"); }
Test(ops_elementwise, sqrt_grad_matches_local) { check_tape_against_local("sqrt"); }
Test(ops_elementwise, square_grad_matches_local) { check_tape_against_local("square"); }
Test(ops_elementwise, neg_grad_matches_local) { check_tape_against_local("neg"); }

/* The derivative law of each local function, numerically: central differences at
 * log-uniform |x| in [lo, hi] (both signs where the domain allows). */
Test(ops_elementwise, local_derivs_match_differences)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 0x6664, 3);
    for (size_t r = 0; r < N_RULES; r++) {
        const unary *u = &rules[r];
        for (size_t i = 0; i < 2000; i++) {
            const double e = log(u->lo) + (log(u->hi) - log(u->lo)) * tg_pcg32_double(&rng);
            double x = exp(e);
            if (!u->nonneg && (tg_pcg32_next(&rng) & 1u))
                x = -x;
            const double h = 1e-5 * fmax(fabs(x), u->h_floor);
            const double fd = (u->f(x + h) - u->f(x - h)) / ((x + h) - (x - h));
            tg_point at = TG_POINT_KINK;
            const double d = u->df(x, &at);
            cr_assert_eq(at, TG_POINT_SMOOTH, "%s at %a", u->name, x);
            cr_assert(fabs(fd - d) <= 1e-6 * fabs(d), "%s'(%.17g) = %.17g, difference %.17g",
                      u->name, x, d, fd);
        }
    }
}

/* Exact values at the edges, for the local functions and, rounded to float, on the tape;
 * NaN gives NaN; outside the domain of log and sqrt the local functions give NaN and
 * report it. */
Test(ops_elementwise, edges_exact_and_nan_propagates)
{
    for (size_t r = 0; r < N_RULES; r++) {
        const unary *u = &rules[r];
        const size_t n = u->n_edges + 1;
        tg_tensor *x = tg_tensor_new(TG_PARAM, 1, &n), *ones = tg_tensor_new(TG_CONST, 1, &n);
        cr_assert(x && ones);
        for (size_t i = 0; i < u->n_edges; i++) {
            const edge *e = &u->edges[i];
            cr_assert(tu_same(u->f(e->x), e->f), "%s(%a) = %a, want %a", u->name, e->x,
                      u->f(e->x), e->f);
            cr_assert(tu_same(u->df(e->x, NULL), e->df), "%s'(%a) = %a, want %a", u->name,
                      e->x, u->df(e->x, NULL), e->df);
            x->data[i] = (float)e->x;
            ones->data[i] = 1.0f;
        }
        x->data[n - 1] = NAN;
        ones->data[n - 1] = 1.0f;
        cr_assert(isnan(u->f(NAN)) && isnan(u->df(NAN, NULL)), "%s: NaN in, NaN out", u->name);
        if (u->nonneg) {
            tg_point at = TG_POINT_SMOOTH;
            cr_assert(isnan(u->f(-1.0)) && isnan(u->df(-1.0, &at)) && at == TG_POINT_BAD_PARAM,
                      "%s(-1): NaN and TG_POINT_BAD_PARAM", u->name);
        }
        tg_tape *t = tg_tape_new();
        tg_tensor *y = u->op(t, x);
        cr_assert_not_null(y, "%s: %s", u->name, tg_last_error());
        cr_assert_eq(tg_backward(t, y, ones), TG_OK, "%s", tg_last_error());
        for (size_t i = 0; i < n; i++) {
            const float xi = x->data[i];
            const float v = (float)u->f(xi), d = (float)u->df(xi, NULL);
            cr_assert(tu_same(y->data[i], v), "%s(%a) on the tape: %a, want %a", u->name,
                      (double)xi, (double)y->data[i], (double)v);
            cr_assert(tu_same(x->grad[i], d) || (x->grad[i] == 0.0f && d == 0.0f),
                      "%s'(%a) on the tape: %a, want %a", u->name, (double)xi,
                      (double)x->grad[i], (double)d);
        }
        cr_assert(isnan(y->data[n - 1]) && isnan(x->grad[n - 1]), "%s: NaN must propagate",
                  u->name);
        tg_tape_free(t);
        tg_tensor_free(x);
        tg_tensor_free(ones);
    }
}

/* In float32 the edges move: exp overflows above ln(FLT_MAX) = 88.72 and underflows
 * below about -103.97, square overflows above sqrt(FLT_MAX) = 1.8e19, and 1/x of a
 * subnormal x is beyond FLT_MAX: each gives +inf or +0, never NaN. */
Test(ops_elementwise, float_overflow_gives_inf)
{
    static const struct {
        const char *name;
        float x, y, dy;   /* NAN: finite, not checked here */
    } cases[] = {
        { "exp", 88.73f, INFINITY, INFINITY }, { "exp", -110.0f, 0.0f, 0.0f },
        { "square", 2e19f, INFINITY, 4e19f },  { "log", 0x1p-149f, NAN, INFINITY },
        { "log", 0.0f, -INFINITY, INFINITY },  { "sqrt", 0.0f, 0.0f, INFINITY },
    };
    const size_t one = 1;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_tensor *x = tg_tensor_new(TG_PARAM, 1, &one);
        tg_tape *t = tg_tape_new();
        cr_assert(x && t);
        x->data[0] = cases[c].x;
        tg_tensor *y = find(cases[c].name)->op(t, x);
        cr_assert_not_null(y, "%s", tg_last_error());
        cr_assert_eq(tg_backward(t, y, NULL), TG_OK, "%s", tg_last_error());
        if (isnan(cases[c].y))
            cr_assert(isfinite(y->data[0]), "%s(%a) = %a", cases[c].name, (double)cases[c].x,
                      (double)y->data[0]);
        else
            cr_assert(tu_same(y->data[0], cases[c].y), "%s(%a) = %a", cases[c].name,
                      (double)cases[c].x, (double)y->data[0]);
        cr_assert_eq(x->grad[0], cases[c].dy, "%s'(%a) = %a", cases[c].name, (double)cases[c].x,
                     (double)x->grad[0]);
        tg_tape_free(t);
        tg_tensor_free(x);
    }
}

static void check_refused(const char *name, float bad, size_t at, const char *value)
{
    const size_t shape[2] = { 2, 3 };
    tg_tensor *x = tg_tensor_new(TG_PARAM, 2, shape);
    cr_assert_not_null(x);
    for (size_t i = 0; i < 6; i++)
        x->data[i] = i == at ? bad : (float)i;
    if (at + 1 < 6)
        x->data[at + 1] = -1.0f;   /* a later negative: the first one is named */
    char why[96];
    snprintf(why, sizeof why, "element %zu is %s", at, value);
    tu_expect_refused(name, &x, 1, NULL, TG_ERR_DOMAIN, "[2,3]", why);
    tg_tensor_free(x);
}

/* Negative inputs are refused in forward, naming the first offending element and its
 * value; -0 and NaN are accepted. */
static void check_domain(const char *name)
{
    check_refused(name, -2.5f, 4, "-2.5");
    check_refused(name, -INFINITY, 0, "-inf");
    check_refused(name, -0x1p-149f, 2, "-1.4013e-45");
    check_refused(name, -FLT_MAX, 5, "-3.40282e+38");
    const size_t three = 3;
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, &three);
    cr_assert_not_null(x);
    x->data[0] = -0.0f;
    x->data[1] = NAN;
    x->data[2] = 0.0f;
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(tg_apply(t, tu_rule(name), &x, 1, NULL), "%s refused -0 or NaN: %s",
                       name, tg_last_error());
    tg_tape_free(t);
    tg_tensor_free(x);
}

Test(ops_elementwise, log_refuses_negative_input) { check_domain("log"); }
Test(ops_elementwise, sqrt_refuses_negative_input) { check_domain("sqrt"); }
