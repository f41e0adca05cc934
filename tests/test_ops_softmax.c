/* softmax and log_softmax along the last axis: the tape against the local row
 * functions, the local functions against a long double reference and against finite
 * differences, stability at extreme logits, the infinities, and the refusals.
 *
 * Tolerances.
 *  - Forward: the rule widens each row to double and runs the local row function, so
 *    the tape equals the local result rounded to float, bit for bit.
 *  - The local functions against long double: d = x_i - m is rounded once (an error of
 *    2^-53 |d|, which exp turns into a relative one), and y is exp(d) over a sum of n
 *    terms (or d minus a log): within about (n + 4 + |d|) 2^-53 relative (softmax) or
 *    (n + 4) 2^-53 (|d| + |log s| + 1) absolute (log_softmax); allowed: twice that.
 *  - Backward: the rule works from the float output yf = y (1 + d), |d| <= 2^-24. For
 *    softmax that moves y_i (dy_i - <dy, y>) by at most 2^-24 y_i (|dy_i| + 2 sum_j y_j
 *    |dy_j|); for log_softmax exp(yf_i) = p_i (1 + y_i d) moves dy_i - p_i S by at most
 *    2^-24 p_i |y_i| |S|. Then the sum onto the earlier gradient is rounded once:
 *    2^-24 (|g0| + |dx|). Allowed: twice the sum, plus 2^-149 for subnormal results.
 *  - The local vjp against a central difference of <u, f(x)> along a random direction
 *    with h = 1e-5: the truncation error is O(h^2) = 1e-10 and rounding O(1e-16 / h), so
 *    1e-7 of the terms' magnitude. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#define MAXN 512

static tg_status local_row(int log_form, size_t n, const double *x, double *y)
{
    return log_form ? tg_local_log_softmax(n, x, y) : tg_local_softmax(n, x, y);
}

static void local_vjp(int log_form, size_t n, const double *y, const double *dy, double *dx)
{
    (log_form ? tg_local_log_softmax_vjp : tg_local_softmax_vjp)(n, y, dy, dx);
}

static tg_tensor *apply(int log_form, tg_tape *t, tg_tensor *x)
{
    return log_form ? tg_log_softmax(t, x) : tg_softmax(t, x);
}

/* The tape on x (any shape; its data may hold infinities) against the local functions,
 * forward and backward with a random cotangent onto an earlier gradient. */
static void check_against_local(int log_form, tg_tensor *x, tg_pcg32 *rng)
{
    const char *name = log_form ? "log_softmax" : "softmax";
    const size_t n = x->shape[x->rank - 1], rows = x->size / n;
    cr_assert_leq(x->size, MAXN);
    tg_tensor *g0 = tu_earlier_grad(x, rng);
    tg_tape *t = tg_tape_new();
    tg_tensor *y = apply(log_form, t, x);
    cr_assert_not_null(y, "%s: %s", name, tg_last_error());
    cr_assert_eq(y->rank, x->rank);
    for (size_t i = 0; i < x->rank; i++)
        cr_assert_eq(y->shape[i], x->shape[i]);
    double xd[MAXN], yd[MAXN], gd[MAXN], dx[MAXN];
    for (size_t i = 0; i < x->size; i++)
        xd[i] = x->data[i];
    for (size_t r = 0; r < rows; r++)
        cr_assert_eq(local_row(log_form, n, xd + r * n, yd + r * n), TG_OK, "%s",
                     tg_last_error());
    for (size_t i = 0; i < x->size; i++)
        cr_assert(tu_same(y->data[i], (float)yd[i]), "%s forward [%zu]: tape %a, local %a", name,
                  i, (double)y->data[i], (double)(float)yd[i]);
    tg_tensor *G = tu_backward_random(t, y, rng);
    for (size_t i = 0; i < x->size; i++)
        gd[i] = G->data[i];
    for (size_t r = 0; r < rows; r++)
        local_vjp(log_form, n, yd + r * n, gd + r * n, dx + r * n);
    for (size_t r = 0; r < rows; r++) {
        double s = 0.0, c = 0.0;   /* sum |dy| y and |sum dy| of the row */
        for (size_t j = 0; j < n; j++) {
            s += fabs(gd[r * n + j]) * (log_form ? exp(yd[r * n + j]) : yd[r * n + j]);
            c += gd[r * n + j];
        }
        for (size_t j = 0; j < n; j++) {
            const size_t i = r * n + j;
            const double move = log_form
                ? (yd[i] == -INFINITY ? 0.0 : exp(yd[i]) * fabs(yd[i]) * fabs(c))
                : yd[i] * (fabs(gd[i]) + 2.0 * s);
            const double tol = 2.0 * 0x1p-24 * (move + fabs(g0->data[i]) + fabs(dx[i])) + 0x1p-149;
            const double want = g0->data[i] + dx[i];
            cr_assert(isfinite(x->grad[i]), "%s gradient [%zu] is %g", name, i, x->grad[i]);
            cr_assert(fabs(x->grad[i] - want) <= tol, "%s gradient [%zu]: %.9g, want %.17g (tol %g)",
                      name, i, (double)x->grad[i], want, tol);
        }
    }
    tg_tape_free(t);
    tg_tensor_free(g0);
    tg_tensor_free(G);
}

static void check_shapes(int log_form, uint64_t seed)
{
    static const struct { size_t rank, shape[4]; float scale; } cases[] = {
        { 1, { 7 }, 1.0f },          { 2, { 3, 5 }, 4.0f },        { 3, { 2, 3, 7 }, 8.0f },
        { 2, { 1, 1 }, 1.0f },       { 4, { 2, 1, 1, 40 }, 4.0f }, { 2, { 16, 10 }, 20.0f },
    };
    const char *name = log_form ? "log_softmax" : "softmax";
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, seed, 5);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_tensor *x = tu_random(TG_PARAM, cases[c].rank, cases[c].shape, &rng, -1.0f, 1.0f);
        cr_assert_not_null(x);
        for (size_t i = 0; i < x->size; i++)
            x->data[i] *= cases[c].scale;   /* spread the probabilities out */
        check_against_local(log_form, x, &rng);
        if (x->size <= 40)
            tu_gradcheck(name, &x, 1, NULL);
        tg_tensor_free(x);
    }
}

Test(ops_softmax, softmax_grad_matches_local) { check_shapes(0, 2100); }
Test(ops_softmax, log_softmax_grad_matches_local) { check_shapes(1, 2200); }

/* ---- the local functions ------------------------------------------------------------ */

/* Rows with extreme logits (exp(1e4) overflows even a double, exp(-1e4) underflows it),
 * near ties, a confident row, and random ones, against long double. */
Test(ops_softmax, local_functions_match_long_double)
{
    tu_require_extended_long_double();
    static const double extreme[][4] = { { 1e4, -1e4, 0.0, 3.0 },
                                         { -1e4, -1e4 + 1.0, -1e4 - 3.0, -1e4 + 0.5 },
                                         { 1e4, 1e4 - 1.0, -1e4, 1e4 - 0.25 },
                                         { 24.0, 0.0, -3.0, 1.0 },
                                         { 88.0, 89.0, 90.0, -750.0 } };
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 2300, 5);
    for (size_t c = 0; c < 5 + 200; c++) {
        double x[64], y[64], ly[64];
        const size_t n = c < 5 ? 4 : 1 + tg_pcg32_bounded(&rng, 64);
        for (size_t i = 0; i < n; i++)
            x[i] = c < 5 ? extreme[c][i] : 30.0 * (2.0 * tg_pcg32_double(&rng) - 1.0);
        cr_assert_eq(tg_local_softmax(n, x, y), TG_OK);
        cr_assert_eq(tg_local_log_softmax(n, x, ly), TG_OK);
        long double m = x[0], s = 0.0L;
        for (size_t i = 1; i < n; i++)
            m = x[i] > m ? x[i] : m;
        for (size_t i = 0; i < n; i++)
            s += expl((long double)x[i] - m);
        for (size_t i = 0; i < n; i++) {
            const long double d = (long double)x[i] - m;
            const double want = (double)(expl(d) / s), lwant = (double)(d - logl(s));
            const double rel = 2.0 * (double)(n + 4) * 0x1p-53;
            cr_assert(fabs(y[i] - want) <= (rel + 0x1p-52 * (double)fabsl(d)) * want + 0x1p-1074,
                      "softmax case %zu [%zu]: %.17g, want %.17g", c, i, y[i], want);
            cr_assert(fabs(ly[i] - lwant) <= rel * ((double)fabsl(d) + (double)logl(s) + 1.0),
                      "log_softmax case %zu [%zu]: %.17g, want %.17g", c, i, ly[i], lwant);
        }
    }
}

/* <v, vjp(u)> against the central difference of <u, f(x)> along v. */
Test(ops_softmax, local_vjps_match_differences)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 2400, 5);
    for (int log_form = 0; log_form < 2; log_form++)
        for (size_t c = 0; c < 100; c++) {
            double x[32], v[32], u[32], y[32], dx[32], xp[32], xm[32], yp[32], ym[32];
            const size_t n = 1 + tg_pcg32_bounded(&rng, 32);
            const double h = 1e-5;
            for (size_t i = 0; i < n; i++) {
                x[i] = 6.0 * (2.0 * tg_pcg32_double(&rng) - 1.0);
                v[i] = 2.0 * tg_pcg32_double(&rng) - 1.0;
                u[i] = 2.0 * tg_pcg32_double(&rng) - 1.0;
                xp[i] = x[i] + h * v[i];
                xm[i] = x[i] - h * v[i];
            }
            cr_assert_eq(local_row(log_form, n, x, y), TG_OK);
            cr_assert_eq(local_row(log_form, n, xp, yp), TG_OK);
            cr_assert_eq(local_row(log_form, n, xm, ym), TG_OK);
            local_vjp(log_form, n, y, u, dx);
            double fd = 0.0, an = 0.0, mag = 0.0;
            for (size_t i = 0; i < n; i++) {
                fd += u[i] * (yp[i] - ym[i]) / (2.0 * h);
                an += v[i] * dx[i];
                mag += fabs(v[i] * dx[i]) + fabs(u[i] * y[i]);
            }
            cr_assert(fabs(fd - an) <= 1e-7 * mag, "%s n = %zu: vjp %.17g, difference %.17g",
                      log_form ? "log_softmax" : "softmax", n, an, fd);
        }
}

/* ---- infinities, NaN and refusals ----------------------------------------------------- */

/* -inf entries are masked; one +inf entry gives the one-hot limit; nothing is NaN, and
 * the tape agrees with the local functions there too. */
Test(ops_softmax, infinities_take_their_limits)
{
    static const float rows[5][4] = { { 0.0f, -INFINITY, 1.0f, -INFINITY },
                                      { 1.0f, INFINITY, 3.0f, -INFINITY },
                                      { -INFINITY, -INFINITY, -INFINITY, 5.0f },
                                      { INFINITY, -INFINITY, -INFINITY, -INFINITY },
                                      { -3e38f, 3e38f, 0.0f, -INFINITY } };
    static const float soft[5][4] = { { 0.26894142f, 0.0f, 0.73105858f, 0.0f },
                                      { 0.0f, 1.0f, 0.0f, 0.0f },
                                      { 0.0f, 0.0f, 0.0f, 1.0f },
                                      { 1.0f, 0.0f, 0.0f, 0.0f },
                                      { 0.0f, 1.0f, 0.0f, 0.0f } };
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 2500, 5);
    for (int log_form = 0; log_form < 2; log_form++) {
        tg_tensor *x = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 5, 4 });
        cr_assert_not_null(x);
        memcpy(x->data, rows, sizeof rows);
        check_against_local(log_form, x, &rng);
        tg_tape *t = tg_tape_new();
        tg_tensor *y = apply(log_form, t, x);
        cr_assert_not_null(y, "%s", tg_last_error());
        for (size_t i = 0; i < 20; i++) {
            const float want = log_form ? logf(soft[i / 4][i % 4]) : soft[i / 4][i % 4];
            cr_assert(fabsf(y->data[i] - want) <= 0x1p-23f * fabsf(want) || y->data[i] == want,
                      "%s [%zu]: %a, want %a", log_form ? "log_softmax" : "softmax", i,
                      (double)y->data[i], (double)want);
        }
        /* softmax's -inf entries and one-hot rows pass no gradient; log_softmax's -inf
         * entries pass the cotangent through unchanged */
        tg_zero_grad(x);
        tg_tensor *G = tu_backward_random(t, y, &rng);
        for (size_t i = 0; i < 20; i++)
            if (rows[i / 4][i % 4] == -INFINITY)
                cr_assert_eq(x->grad[i], log_form ? G->data[i] : 0.0f, "[%zu]: %g", i, x->grad[i]);
        for (size_t i = 4; i < 16 && !log_form; i++)
            cr_assert_eq(x->grad[i], 0.0f, "one-hot row gradient [%zu]: %g", i, x->grad[i]);
        tg_tape_free(t);
        tg_tensor_free(x);
        tg_tensor_free(G);
    }
}

/* A NaN makes its row NaN and leaves the other rows alone. */
Test(ops_softmax, nan_makes_its_row_nan)
{
    for (int log_form = 0; log_form < 2; log_form++) {
        tg_tensor *x = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 2, 3 });
        cr_assert_not_null(x);
        x->data[1] = NAN;
        x->data[3] = INFINITY;   /* with the NaN row first, the second still has its limit */
        tg_tape *t = tg_tape_new();
        tg_tensor *y = apply(log_form, t, x);
        cr_assert_not_null(y, "%s", tg_last_error());
        for (size_t i = 0; i < 3; i++)
            cr_assert(isnan(y->data[i]));
        cr_assert_eq(y->data[3], log_form ? 0.0f : 1.0f);
        cr_assert_eq(y->data[4], log_form ? -INFINITY : 0.0f);
        double d[2] = { NAN, 1.0 }, out[2];
        cr_assert_eq(local_row(log_form, 2, d, out), TG_OK);
        cr_assert(isnan(out[0]) && isnan(out[1]));
        tg_tape_free(t);
        tg_tensor_free(x);
    }
}

Test(ops_softmax, rows_without_value_refused)
{
    static const char *const names[] = { "softmax", "log_softmax" };
    tg_tensor *x = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 3, 2 });
    tg_tensor *s = tg_tensor_new(TG_PARAM, 0, NULL);
    cr_assert(x && s);
    for (int log_form = 0; log_form < 2; log_form++) {
        memset(x->data, 0, 6 * sizeof(float));
        x->data[2] = x->data[3] = -INFINITY;   /* row 1 all -inf */
        tu_expect_refused(names[log_form], &x, 1, NULL, TG_ERR_DOMAIN, "[3,2]",
                          "row 1: every entry is -inf");
        x->data[2] = x->data[3] = 0.0f;
        x->data[4] = x->data[5] = INFINITY;   /* row 2: two +inf */
        tu_expect_refused(names[log_form], &x, 1, NULL, TG_ERR_DOMAIN, "[3,2]",
                          "row 2: two or more entries are +inf");
        tu_expect_refused(names[log_form], &s, 1, NULL, TG_ERR_SHAPE, "[]", "rank >= 1");

        double y[2];
        cr_assert_eq(local_row(log_form, 2, (double[]){ -INFINITY, -INFINITY }, y), TG_ERR_DOMAIN);
        cr_assert(strstr(tg_last_error(), names[log_form]) && strstr(tg_last_error(), "-inf"),
                  "%s", tg_last_error());
        cr_assert(isnan(y[0]) && isnan(y[1]));
        cr_assert_eq(local_row(log_form, 2, (double[]){ INFINITY, INFINITY }, y), TG_ERR_DOMAIN);
        cr_assert_eq(local_row(log_form, 0, y, y), TG_ERR_SIZE);
        cr_assert_eq(local_row(log_form, 2, NULL, y), TG_ERR_NULL);
    }
    tg_tensor_free(x);
    tg_tensor_free(s);
}
