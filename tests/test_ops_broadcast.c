/* NumPy-style broadcasting of add, sub, mul and div, and div itself: forward and
 * backward against a plain per-element reference, the fast (runs) and general (strided)
 * paths against each other, div against its local functions, IEEE division by zero,
 * and the refusals.
 *
 * The reference indexes every output element with full index arithmetic: output
 * position (i_0, ..., i_{r-1}) reads operand k at the position whose coordinate is 0
 * in every dimension where k has size 1 (or no dimension), i_j elsewhere. An operand's
 * gradient collects every output element that read it.
 *
 * Tolerances. Forward values are one float operation each; the double result of two
 * floats rounded to float is the correctly rounded float result for +, -, * and /
 * (53 >= 2 * 24 + 2), so they are compared bit for bit. A gradient element is K terms
 * (each at most one rounding) added onto an earlier gradient, so it is within
 * gamma_{K+2} sum|terms| of the double reference (Higham, eq. 3.5, u = 2^-24; as in
 * test_structural.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"
#include "../src/core/broadcast.h"   /* the plan, to test both paths against each other */

#define MAXN 256

static double gamma_k(size_t K) { return tu_gamma(K, 0x1p-24); }

typedef struct {
    size_t ra, sa[4], rb, sb[4];
} shape_pair;

/* Every kind of pair: equal, trailing (the fast path), size-1 dimensions inside and in
 * front, a scalar, both operands broadcast, rank 4. Each is also tried swapped. */
static const shape_pair pairs[] = {
    { 2, { 3, 5 }, 2, { 3, 5 } },           /* equal shapes */
    { 2, { 4, 6 }, 1, { 6 } },              /* [n] against [B,n]: a bias */
    { 2, { 4, 6 }, 2, { 1, 6 } },           /* [1,n] against [B,n] */
    { 4, { 2, 3, 4, 5 }, 2, { 4, 5 } },     /* trailing [C,D] against [A,B,C,D] */
    { 2, { 4, 6 }, 2, { 4, 1 } },           /* [B,1] against [B,n]: per-row scale */
    { 3, { 2, 3, 5 }, 3, { 2, 1, 5 } },     /* [B,1,n] against [B,m,n] */
    { 3, { 2, 3, 4 }, 0, { 0 } },           /* a scalar against anything */
    { 2, { 3, 1 }, 2, { 1, 4 } },           /* both broadcast: an outer product */
    { 4, { 2, 1, 4, 1 }, 3, { 3, 1, 5 } },  /* [2,1,4,1] with [3,1,5] -> [2,3,4,5] */
    { 3, { 2, 1, 3 }, 2, { 4, 1 } },        /* -> [2,4,3] */
    { 3, { 5, 1, 1 }, 1, { 1 } },           /* size-1 dimensions only */
    { 2, { 1, 7 }, 1, { 7 } },              /* equal sizes, different ranks */
    { 1, { 1 }, 1, { 1 } },
    { 0, { 0 }, 0, { 0 } },
};
#define N_PAIRS (sizeof pairs / sizeof pairs[0])

/* Dimension i of t aligned from the right into rank r (1 where t has none). */
static size_t dim_at(const tg_tensor *t, size_t r, size_t i)
{
    return i < r - t->rank ? 1 : t->shape[i - (r - t->rank)];
}

/* The flat index into t read by the output element at flat index i of shape (r, out). */
static size_t source_index(const tg_tensor *t, size_t r, const size_t *out, size_t i)
{
    size_t coord[4], flat = 0;
    for (size_t j = r; j-- > 0;) {
        coord[j] = i % out[j];
        i /= out[j];
    }
    for (size_t j = 0; j < r; j++) {
        const size_t d = dim_at(t, r, j);
        flat = flat * d + (d == 1 ? 0 : coord[j]);
    }
    return flat;
}

static double value(char op, double a, double b)
{
    return op == '+' ? a + b : op == '-' ? a - b : op == '*' ? a * b : a / b;
}

/* d(a op b)/d(operand k); div from its local functions */
static double partial(char op, size_t k, double a, double b)
{
    double da, db;
    switch (op) {
    case '*': return k == 0 ? b : a;
    case '/': tg_local_div_grad(a, b, &da, &db); return k == 0 ? da : db;
    case '-': return k == 0 ? 1.0 : -1.0;
    default: return 1.0;
    }
}

static const char *name_of(char op)
{
    return op == '+' ? "add" : op == '-' ? "sub" : op == '*' ? "mul" : "div";
}

/* Inputs for a pair: uniform in [-1, 1), except div's divisor in +-[0.5, 2), away from
 * 0 where the gradient check's differences would not converge. */
static void make_inputs(char op, const shape_pair *p, int swap, tg_pcg32 *rng, tg_tensor **in)
{
    const size_t ra = swap ? p->rb : p->ra, rb = swap ? p->ra : p->rb;
    const size_t *sa = swap ? p->sb : p->sa, *sb = swap ? p->sa : p->sb;
    in[0] = tu_random(TG_PARAM, ra, sa, rng, -1.0f, 1.0f);
    in[1] = tu_random(TG_PARAM, rb, sb, rng, -1.0f, 1.0f);
    cr_assert(in[0] && in[1], "%s", tg_last_error());
    if (op == '/')
        for (size_t i = 0; i < in[1]->size; i++)
            in[1]->data[i] = (in[1]->data[i] < 0 ? -0.5f : 0.5f) + 1.5f * in[1]->data[i];
}

static void check_pair(char op, const shape_pair *p, int swap, uint64_t seed)
{
    const char *name = name_of(op);
    tg_pcg32 rng;
    tg_tensor *in[2], *g0[2];
    tg_pcg32_seed(&rng, seed, 5);
    make_inputs(op, p, swap, &rng, in);
    g0[0] = tu_earlier_grad(in[0], &rng);
    g0[1] = tu_earlier_grad(in[1], &rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_apply(t, tu_rule(name), in, 2, NULL);
    cr_assert_not_null(y, "%s: %s", name, tg_last_error());
    /* the output shape: per dimension the larger size (sizes are equal or one is 1) */
    const size_t r = in[0]->rank > in[1]->rank ? in[0]->rank : in[1]->rank;
    size_t out[4];
    cr_assert_eq(y->rank, r, "%s: rank %zu, want %zu", name, y->rank, r);
    for (size_t j = 0; j < r; j++) {
        const size_t da = dim_at(in[0], r, j), db = dim_at(in[1], r, j);
        out[j] = da > db ? da : db;
        cr_assert_eq(y->shape[j], out[j], "%s: dimension %zu is %zu, want %zu", name, j,
                     y->shape[j], out[j]);
    }
    cr_assert_leq(y->size, MAXN);
    for (size_t i = 0; i < y->size; i++) {
        const double a = in[0]->data[source_index(in[0], r, out, i)];
        const double b = in[1]->data[source_index(in[1], r, out, i)];
        cr_assert_eq(y->data[i], (float)value(op, a, b), "%s forward [%zu]: %a vs %a", name, i,
                     (double)y->data[i], (double)(float)value(op, a, b));
    }
    tg_tensor *G = tu_backward_random(t, y, &rng);
    for (size_t k = 0; k < 2; k++) {
        double ref[MAXN], mag[MAXN];
        size_t terms[MAXN] = { 0 };
        for (size_t j = 0; j < in[k]->size; j++) {
            ref[j] = g0[k]->data[j];
            mag[j] = fabs(ref[j]);
        }
        for (size_t i = 0; i < y->size; i++) {
            const double a = in[0]->data[source_index(in[0], r, out, i)];
            const double b = in[1]->data[source_index(in[1], r, out, i)];
            const double term = G->data[i] * partial(op, k, a, b);
            const size_t at = source_index(in[k], r, out, i);
            ref[at] += term;
            mag[at] += fabs(term);
            terms[at]++;
        }
        for (size_t j = 0; j < in[k]->size; j++)
            cr_assert(fabs(in[k]->grad[j] - ref[j]) <= gamma_k(terms[j] + 2) * mag[j],
                      "%s grad %c [%zu]: %.9g, want %.17g", name, k ? 'b' : 'a', j,
                      (double)in[k]->grad[j], ref[j]);
    }
    tg_tape_free(t);
    tu_gradcheck(name, in, 2, NULL);
    tg_tensor *all[] = { in[0], in[1], g0[0], g0[1], G };
    for (size_t i = 0; i < 5; i++)
        tg_tensor_free(all[i]);
}

static void check_op(char op, uint64_t seed)
{
    for (size_t p = 0; p < N_PAIRS; p++) {
        check_pair(op, &pairs[p], 0, seed + 2 * p);
        check_pair(op, &pairs[p], 1, seed + 2 * p + 1);
    }
}

Test(ops_broadcast, add_broadcasts_like_numpy) { check_op('+', 100); }
Test(ops_broadcast, sub_broadcasts_like_numpy) { check_op('-', 200); }
Test(ops_broadcast, mul_broadcasts_like_numpy) { check_op('*', 300); }
Test(ops_broadcast, div_broadcasts_like_numpy) { check_op('/', 400); }

/* ---- the two paths ------------------------------------------------------------- */

static tg__bcast plan_of(size_t ra, const size_t *sa, size_t rb, const size_t *sb,
                         int allow_runs)
{
    tg_tensor a = { .rank = ra }, b = { .rank = rb };
    memcpy(a.shape, sa, ra * sizeof *sa);
    memcpy(b.shape, sb, rb * sizeof *sb);
    return tg__bcast_plan(&a, &b, allow_runs);
}

/* Equal shapes and trailing operands take the runs layout (one product per row, no
 * odometer), with the documented runs and steps; the rest take the strided one. */
Test(ops_broadcast, fast_path_taken_where_documented)
{
    tg__bcast p = plan_of(2, (size_t[]){ 3, 5 }, 2, (size_t[]){ 3, 5 }, 1);
    cr_assert(p.runs_layout && p.runs == 1 && p.len == 15);
    p = plan_of(2, (size_t[]){ 4, 6 }, 1, (size_t[]){ 6 }, 1);
    cr_assert(p.runs_layout && p.runs == 4 && p.len == 6 && p.step[0] == 6 && p.step[1] == 0);
    p = plan_of(2, (size_t[]){ 1, 6 }, 2, (size_t[]){ 4, 6 }, 1);
    cr_assert(p.runs_layout && p.runs == 4 && p.len == 6 && p.step[0] == 0 && p.step[1] == 6);
    p = plan_of(4, (size_t[]){ 2, 3, 4, 5 }, 2, (size_t[]){ 4, 5 }, 1);
    cr_assert(p.runs_layout && p.runs == 6 && p.len == 20);
    /* [B,1] against [B,n]: the row is one repeated value of the first operand */
    p = plan_of(2, (size_t[]){ 4, 1 }, 2, (size_t[]){ 4, 6 }, 1);
    cr_assert(!p.runs_layout && p.rank == 2 && p.stride[0][1] == 0 && p.stride[1][1] == 1);
    /* [B,1,n] against [B,m,n]: three dimensions remain */
    p = plan_of(3, (size_t[]){ 2, 1, 5 }, 3, (size_t[]){ 2, 3, 5 }, 1);
    cr_assert(!p.runs_layout && p.rank == 3 && p.rows == 6);
    /* a scalar: one row of the whole output, the scalar repeated */
    p = plan_of(0, (size_t[]){ 0 }, 3, (size_t[]){ 2, 3, 4 }, 1);
    cr_assert(!p.runs_layout && p.rank == 1 && p.rows == 1 && p.shape[0] == 24);
}

/* Element functions as the div and mul rules have them, for the drivers by hand. */
static float div_f(float a, float b) { return a / b; }
static float div_ha(float gy, float a, float b) { (void)a; return gy / b; }
static float div_hb(float gy, float a, float b)
{
    return (float)(-((double)gy * (double)a) / ((double)b * (double)b));
}
static float mul_f(float a, float b) { return a * b; }
static float mul_ha(float gy, float a, float b) { (void)a; return gy * b; }
static float mul_hb(float gy, float a, float b) { (void)b; return gy * a; }

/* Forward and both gradients of one plan into y, g[0], g[1] (gradients from zero). */
static void run_plan(const tg__bcast *p, int use_div, tg_tensor *const *in, const float *gy,
                     float *y, float g[2][MAXN])
{
    memset(g, 0, 2 * MAXN * sizeof(float));
    if (use_div) {
        tg__bcast_map(p, in[0]->data, in[1]->data, y, div_f);
        tg__bcast_grad(p, 0, gy, in[0]->data, in[1]->data, g[0], div_ha);
        tg__bcast_grad(p, 1, gy, in[0]->data, in[1]->data, g[1], div_hb);
    } else {
        tg__bcast_map(p, in[0]->data, in[1]->data, y, mul_f);
        tg__bcast_grad(p, 0, gy, in[0]->data, in[1]->data, g[0], mul_ha);
        tg__bcast_grad(p, 1, gy, in[0]->data, in[1]->data, g[1], mul_hb);
    }
}

/* Where the runs layout applies, the strided path computes the same thing in the same
 * order: outputs and gradients agree bit for bit. */
Test(ops_broadcast, fast_and_general_paths_agree)
{
    tg_pcg32 rng;
    size_t compared = 0;
    tg_pcg32_seed(&rng, 77, 5);
    for (size_t p = 0; p < N_PAIRS; p++)
        for (int swap = 0; swap < 2; swap++) {
            tg_tensor *in[2];
            make_inputs('/', &pairs[p], swap, &rng, in);
            const tg__bcast fast = tg__bcast_plan(in[0], in[1], 1);
            const tg__bcast slow = tg__bcast_plan(in[0], in[1], 0);
            cr_assert(!slow.runs_layout);
            const size_t n = slow.rows * slow.shape[slow.rank - 1];   /* output elements */
            cr_assert_leq(n, MAXN);
            float gy[MAXN], y1[MAXN], y2[MAXN], g1[2][MAXN], g2[2][MAXN];
            for (size_t i = 0; i < n; i++)
                gy[i] = tu_draw(&rng);
            for (int use_div = 0; fast.runs_layout && use_div < 2; use_div++) {
                run_plan(&fast, use_div, in, gy, y1, g1);
                run_plan(&slow, use_div, in, gy, y2, g2);
                cr_assert(memcmp(y1, y2, n * sizeof(float)) == 0, "pair %zu: forward differs", p);
                for (size_t k = 0; k < 2; k++)
                    cr_assert(memcmp(g1[k], g2[k], in[k]->size * sizeof(float)) == 0,
                              "pair %zu swap %d: gradient %zu differs", p, swap, k);
                compared++;
            }
            tg_tensor_free(in[0]);
            tg_tensor_free(in[1]);
        }
    cr_assert_geq(compared, 14u, "only %zu comparisons ran", compared);
}

/* ---- div against its local functions ----------------------------------------------- */

/* The tape's value, and its gradients for a cotangent of ones, against tg_local_div and
 * tg_local_div_grad rounded to float, over values across the binades and the special
 * ones: 0, -0, subnormals, huge, inf, NaN. Each tape result is one float operation (a/b,
 * gy/b) or one rounding of a double computed from exact products (the b-partial), so it
 * is the correctly rounded result; the local function is within a few double ulps of
 * the exact one, so its rounding to float is the same but within 1 ULP where the exact
 * value lies that close to a midpoint of floats. Allowed: 1 ULP; special results
 * (infinities, NaN, zeros with their sign) must match exactly, except the sign of a zero
 * gradient: gradients accumulate into a zeroed buffer, and +0 + -0 = +0. */
static const float specials[] = { 0.0f, -0.0f, 1.0f, -1.0f, 0x1p-149f, -0x1p-149f, 0x1p-126f,
                                  3e38f, -3e38f, INFINITY, -INFINITY, NAN, 1e-30f, 1e30f,
                                  0.5f, 3.0f, -7.25f };
#define N_SPECIAL (sizeof specials / sizeof specials[0])

static float ulp_of(float v)
{
    return nextafterf(fabsf(v), INFINITY) - fabsf(v);
}

static void expect_close_1ulp(const char *what, float a, float b, float got, double want_d,
                              int is_grad)
{
    const float want = (float)want_d;
    if (is_grad && got == 0.0f && want == 0.0f)
        return;
    if (isnan(want) || isinf(want) || want == 0.0f || isnan(got) || isinf(got) || got == 0.0f)
        cr_assert(tu_same(got, want), "%s(%a, %a): tape %a, local %a", what, (double)a,
                  (double)b, (double)got, (double)want);
    else
        cr_assert(fabsf(got - want) <= ulp_of(want), "%s(%a, %a): tape %a, local %a (> 1 ULP)",
                  what, (double)a, (double)b, (double)got, (double)want);
}

Test(ops_broadcast, div_grad_matches_local)
{
    enum { RANDOM = 2000 };
    const size_t n = N_SPECIAL * N_SPECIAL + RANDOM;
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 500, 5);
    tg_tensor *a = tg_tensor_new(TG_PARAM, 1, &n), *b = tg_tensor_new(TG_PARAM, 1, &n);
    tg_tensor *ones = tg_tensor_new(TG_CONST, 1, &n);
    cr_assert(a && b && ones, "%s", tg_last_error());
    for (size_t i = 0; i < N_SPECIAL * N_SPECIAL; i++) {
        a->data[i] = specials[i / N_SPECIAL];
        b->data[i] = specials[i % N_SPECIAL];
    }
    for (size_t i = N_SPECIAL * N_SPECIAL; i < n; i++) {   /* random finite floats */
        uint32_t bits;
        do
            bits = tg_pcg32_next(&rng);
        while (((bits >> 23) & 0xffu) == 0xffu);
        memcpy(&a->data[i], &bits, sizeof bits);
        b->data[i] = ldexpf(1.0f + tg_pcg32_float(&rng), (int)tg_pcg32_bounded(&rng, 200) - 100);
    }
    for (size_t i = 0; i < n; i++)
        ones->data[i] = 1.0f;
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_div(t, a, b);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, y, ones), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < n; i++) {
        double da, db;
        tg_local_div_grad(a->data[i], b->data[i], &da, &db);
        expect_close_1ulp("a/b", a->data[i], b->data[i], y->data[i],
                          tg_local_div(a->data[i], b->data[i]), 0);
        expect_close_1ulp("d/da", a->data[i], b->data[i], a->grad[i], da, 1);
        expect_close_1ulp("d/db", a->data[i], b->data[i], b->grad[i], db, 1);
    }
    tg_tape_free(t);
    tg_tensor_free(a);
    tg_tensor_free(b);
    tg_tensor_free(ones);
}

/* IEEE 754 division by zero, spelled out: 1/0 = inf, -1/0 = -inf, 1/-0 = -inf, 0/0 = NaN;
 * d/da = 1/b is inf with b's sign; d/db = -a/b^2 is -inf for a > 0, +inf for a < 0 and
 * NaN for a = 0 (0/0). */
Test(ops_broadcast, div_by_zero_follows_ieee)
{
    static const float av[4] = { 1.0f, -1.0f, 1.0f, 0.0f }, bv[4] = { 0.0f, 0.0f, -0.0f, 0.0f };
    static const float y_want[4] = { INFINITY, -INFINITY, -INFINITY, NAN };
    static const float da_want[4] = { INFINITY, INFINITY, -INFINITY, INFINITY };
    static const float db_want[4] = { -INFINITY, INFINITY, -INFINITY, NAN };
    const size_t four = 4;
    tg_tensor *a = tg_tensor_new(TG_PARAM, 1, &four), *b = tg_tensor_new(TG_PARAM, 1, &four);
    tg_tensor *ones = tg_tensor_new(TG_CONST, 1, &four);
    cr_assert(a && b && ones);
    memcpy(a->data, av, sizeof av);
    memcpy(b->data, bv, sizeof bv);
    for (size_t i = 0; i < 4; i++)
        ones->data[i] = 1.0f;
    tg_tape *t = tg_tape_new();
    tg_tensor *y = tg_div(t, a, b);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, y, ones), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < 4; i++) {
        cr_assert(tu_same(y->data[i], y_want[i]), "%g/%g = %g", av[i], bv[i], y->data[i]);
        cr_assert(tu_same(a->grad[i], da_want[i]), "d/da at %zu: %g", i, a->grad[i]);
        cr_assert(tu_same(b->grad[i], db_want[i]), "d/db at %zu: %g", i, b->grad[i]);
    }
    tg_tape_free(t);
    tg_tensor_free(a);
    tg_tensor_free(b);
    tg_tensor_free(ones);
}

/* ---- refusals ------------------------------------------------------------------------ */

Test(ops_broadcast, incompatible_shapes_refused_naming_both)
{
    tg_tensor *a = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
    tg_tensor *b = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 2 });
    tg_tensor *c = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 3, 2 });
    tg_tensor *d = tg_tensor_new(TG_PARAM, 3, (size_t[]){ 3, 1, 3 });
    tg_tensor *e = tg_tensor_new(TG_PARAM, 3, (size_t[]){ 2, 4, 3 });
    cr_assert(a && b && c && d && e);
    static const char *const ops[] = { "add", "sub", "mul", "div" };
    for (size_t k = 0; k < 4; k++) {
        /* [2] against [2,3]: aligned from the right, 2 meets 3 */
        tu_expect_refused(ops[k], (tg_tensor *[]){ a, b }, 2, NULL, TG_ERR_SHAPE, "[2,3], [2]",
                          "dimension 1 from the right is 3 against 2");
        tu_expect_refused(ops[k], (tg_tensor *[]){ b, a }, 2, NULL, TG_ERR_SHAPE, "[2], [2,3]",
                          "dimension 1 from the right is 2 against 3");
        tu_expect_refused(ops[k], (tg_tensor *[]){ a, c }, 2, NULL, TG_ERR_SHAPE, "[2,3], [3,2]",
                          "do not broadcast");
        /* the last dimensions fit; the first, 3 against 2, does not */
        tu_expect_refused(ops[k], (tg_tensor *[]){ d, e }, 2, NULL, TG_ERR_SHAPE,
                          "[3,1,3], [2,4,3]", "dimension 3 from the right is 3 against 2");
    }
    tg_tensor *all[] = { a, b, c, d, e };
    for (size_t i = 0; i < 5; i++)
        tg_tensor_free(all[i]);
}
