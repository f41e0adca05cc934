#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include "accuracy/accuracy.h"
#include "unary_check.h"

#define N_BINADES 3000 /* doubles log-uniform over every binade, both signs */
#define N_CORE 2000    /* uniform in [-40, 40], where every rule bends */
#define N_TAPE 4096    /* random float32 bit patterns for the tape */

/* Besides random points: +-0, subnormal, tiny, large and huge magnitudes, and the hard
 * spots of the accuracy work (roots of silu', gelu', gelu_erf', safe_log). */
static const double fixed[] = {
    0.0, -0.0, 0x1p-1074, -0x1p-1074, 0x1p-1022, -0x1p-1022, 1e-300, -1e-300, 1e-30, -1e-30,
    1e-8, -1e-8, 1.0, -1.0, 1e3, -1e3, 1e5, -1e5, 1e7, -1e7, 1e10, -1e10, 1e30, -1e30,
    1e100, -1e100, 1e200, -1e200, 1e300, -1e300, -1.2784645427610737, -0.7524614220710163,
    -0.7517915246935645, 0.5413248546129181, -28.0, -32.0, -37.55, -40.0, -705.0, -720.0,
};
#define N_FIXED (sizeof fixed / sizeof fixed[0])

static double point(tg_pcg32 *rng, size_t i)
{
    if (i < N_FIXED)
        return fixed[i];
    if (i < N_FIXED + N_CORE)
        return -40.0 + 80.0 * tg_pcg32_double(rng);
    const int e = -1074 + (int)tg_pcg32_bounded(rng, 1074 + 1000);   /* up to 2^1000 */
    const double m = ldexp(1.0 + tg_pcg32_double(rng), e);
    return tg_pcg32_next(rng) & 1u ? -m : m;
}

/* Ridders' extrapolation of central differences (Numerical Recipes' dfridr), steps
 * shrinking from h by 1.4; returns the estimate and its own error estimate in *err.
 * x +- h are rounded, so the difference quotient divides by the step actually taken;
 * its centre is within an ulp of x. */
static double ridders(const uc_rule *r, double x, double h, double *err)
{
    enum { N = 10 };
    const double c2 = 1.4 * 1.4;
    double a[N][N], best = NAN;
    *err = INFINITY;
    for (int i = 0; i < N; i++, h /= 1.4) {
        const double xp = x + h, xm = x - h;
        a[0][i] = (r->f(xp, r->param) - r->f(xm, r->param)) / (xp - xm);
        double fac = c2;
        for (int j = 1; j <= i; j++, fac *= c2) {
            a[j][i] = (a[j - 1][i] * fac - a[j - 1][i - 1]) / (fac - 1.0);
            const double e = fmax(fabs(a[j][i] - a[j - 1][i]), fabs(a[j][i] - a[j - 1][i - 1]));
            if (e <= *err) {
                *err = e;
                best = a[j][i];
            }
        }
        if (i > 0 && fabs(a[i][i] - a[i - 1][i - 1]) >= 2.0 * *err)
            break;
    }
    return best;
}

/* The first step: 1/8 of the scale on which f changes, estimated as |f/f'| (the decay
 * length of an exponential tail, |x| where f is about linear), at most 1 and |x| (2^-10
 * near 0 for a smooth rule); never below 2^12 ulps of x, so that x +- h are distinct.
 * f' here is a crude difference, not the derivative under test, which must not choose
 * its own step (a wrong, huge f' would shrink the step and widen the floor below). */
static double first_step(const uc_rule *r, double x, double f)
{
    double s = fmin(r->has_kink ? fabs(x) : fmax(fabs(x), 0x1p-10), 1.0);
    const double slope = (r->f(x + s / 8, r->param) - r->f(x - s / 8, r->param)) / (s / 4);
    if (slope != 0.0 && fabs(f / slope) < s)
        s = fabs(f / slope);
    return fmax(0x1p-3 * s, 0x1p12 * (nextafter(fabs(x), INFINITY) - fabs(x)));
}

/* (a) Tolerance: |fd - f'| <= 1e-9 |f'| + floor. Ridders' tableau on these analytic
 * functions converges to ~1e-12 relative; 1e-9 leaves room and still catches any wrong
 * factor or term. The floor is what rounding of the values allows: each value is within
 * ~8 ulps (measured against mpmath), the last step can be h/21 and the extrapolation
 * weights sum below 6, so 2048 (eps F + the smallest subnormal) / h bounds it, F the
 * largest |f| on the stencil. It decides only where f' is far below f/h: saturated
 * tails, roots of f', underflow. Points within the first step of a kink are skipped. */
static size_t check_fd(const uc_rule *r, double *worst, double *worst_x)
{
    tg_pcg32 rng;
    size_t skipped = 0;
    tg_pcg32_seed(&rng, 0x756e617279u, 11u);
    for (size_t i = 0; i < N_FIXED + N_CORE + N_BINADES; i++) {
        const double x = point(&rng, i), f = r->f(x, r->param), d = r->df(x, r->param, NULL);
        const double h = first_step(r, x, f);
        if (r->has_kink && fabs(x) <= h) {
            skipped++;
            continue;
        }
        const double F = fmax(fabs(f), fmax(fabs(r->f(x - h, r->param)),
                                             fabs(r->f(x + h, r->param))));
        const double floor = 2048.0 * (DBL_EPSILON * F + DBL_TRUE_MIN) / h;
        double err;
        const double fd = ridders(r, x, h, &err);
        const double tol = 1e-9 * fabs(d) + floor;
        cr_expect(fabs(fd - d) <= tol, "%s'(%a = %.17g) = %.17g, finite difference %.17g (step %g)",
                  r->name, x, x, d, fd, h);
        const double ratio = fd == d ? 0.0 : fabs(fd - d) / tol;
        if (!(ratio <= *worst)) {
            *worst = ratio;
            *worst_x = x;
        }
    }
    return skipped;
}

/* Same value, zeros with their sign, NaN matching NaN. */
static int same(double a, double b)
{
    return a != a ? b != b : a == b && signbit(a) == signbit(b);
}

/* (a) at +-inf, -0, +-DBL_MAX, ...: the limits the rule promises, exactly; NaN gives NaN. */
static void check_limits(const uc_rule *r)
{
    for (size_t i = 0; i < r->n_limits; i++) {
        const uc_limit *l = &r->limits[i];
        const double f = r->f(l->x, r->param), d = r->df(l->x, r->param, NULL);
        cr_expect(same(f, l->f), "%s(%a) = %a, expected %a", r->name, l->x, f, l->f);
        cr_expect(same(d, l->df), "%s'(%a) = %a, expected %a", r->name, l->x, d, l->df);
    }
    cr_expect(isnan(r->f(NAN, r->param)) && isnan(r->df(NAN, r->param, NULL)),
              "%s: NaN must give NaN value and derivative", r->name);
}

/* (a) at the kink x = 0: the derivative returned is the left one-sided derivative,
 * (f(0) - f(-h)) / h, whose error on these pieces (linear, or a*e^x) is below h = 2^-20;
 * just right of it the right one. */
static void check_one_sided(const uc_rule *r)
{
    const double h = 0x1p-20, p = r->param;
    const double left = (r->f(0.0, p) - r->f(-h, p)) / h, right = (r->f(h, p) - r->f(0.0, p)) / h;
    cr_expect(fabs(r->df(0.0, p, NULL) - left) <= h, "%s'(0) = %g, left derivative %g", r->name,
              r->df(0.0, p, NULL), left);
    cr_expect(same(r->df(-0.0, p, NULL), r->df(0.0, p, NULL)), "%s'(-0) != %s'(0)", r->name,
              r->name);
    cr_expect(fabs(r->df(0x1p-60, p, NULL) - right) <= h, "%s'(0+) = %g, right derivative %g",
              r->name, r->df(0x1p-60, p, NULL), right);
}

static void check_local(const uc_rule *r)
{
    double worst = 0.0, worst_x = 0.0;
    const size_t skipped = check_fd(r, &worst, &worst_x);
    /* Only the points within a step of x = 0 may be skipped, and only for a kinked rule:
     * the fixed +-0 and the subnormal random points. */
    cr_expect(skipped <= (r->has_kink ? 40u : 0u), "%s: %zu points skipped", r->name, skipped);
    check_limits(r);
    if (r->has_kink)
        check_one_sided(r);
}

/* (b) `at` is TG_POINT_KINK exactly at +-0 for a kinked rule, TG_POINT_SMOOTH at every
 * other fixed point; a bad parameter gives NaN and TG_POINT_BAD_PARAM locally, and on a
 * tape NULL with TG_ERR_PARAM and a message naming the rule. */
static void check_reports(const uc_rule *r)
{
    for (size_t i = 0; i < N_FIXED; i++) {
        tg_point at = TG_POINT_BAD_PARAM;
        r->df(fixed[i], r->param, &at);
        const int kink = r->has_kink && fixed[i] == 0.0;
        cr_expect_eq(at, kink ? TG_POINT_KINK : TG_POINT_SMOOTH, "%s at %a: at = %d", r->name,
                     fixed[i], (int)at);
    }
    const size_t one = 1;
    for (size_t i = 0; i < r->n_bad; i++) {
        const float p = r->bad[i];
        tg_point at = TG_POINT_SMOOTH;
        const double d = r->df(1.0, p, &at);
        cr_expect(isnan(r->f(1.0, p)) && isnan(d) && at == TG_POINT_BAD_PARAM,
                  "%s with parameter %g: value, derivative and `at` must report it", r->name,
                  (double)p);
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tg_tensor_new(TG_PARAM, 1, &one);
        cr_assert(t && x, "%s", tg_last_error());
        cr_expect_null(r->op(t, x, p), "%s accepted parameter %g", r->name, (double)p);
        cr_expect_eq(tg_tape_status(t), TG_ERR_PARAM, "%s: %s", r->name, tg_tape_error(t));
        cr_expect(strstr(tg_tape_error(t), r->name) != NULL, "message \"%s\" does not name %s",
                  tg_tape_error(t), r->name);
        tg_tape_free(t);
        tg_tensor_free(x);
    }
}

/* (c) Within 4 float32 ULPs of the local function's double value (acc_ulp_error): the
 * bound every kernel is held to (docs/accuracy.md). The vector kernels (src/kernels/
 * vmath*) do their own float-in, float-out arithmetic, so they need not agree to the bit
 * with the local function rounded to float: they measure within a hair of 1/2 ULP, and
 * 4 is the bound they are promised. relu and leaky_relu are exact. Special inputs (NaN,
 * +-inf, +-0) and NaN or infinite results must agree exactly, zeros with their sign
 * except in gradients: they accumulate into a zeroed buffer, and +0 + -0 = +0. */
static int tape_agrees(float x, float got, double want_d, int is_grad)
{
    const float want = (float)want_d;
    if (is_grad && got == 0.0f && want == 0.0f)
        return 1;
    if (isnan(x) || isinf(x) || x == 0.0f || isnan(want) || isinf(want) || isnan(got) || isinf(got))
        return same(got, want);
    return acc_ulp_error(got, want_d) <= ACC_MAX_ULP;
}

static size_t tape_inputs(const uc_rule *r, float *x)
{
    tg_pcg32 rng;
    size_t n = 0;
    tg_pcg32_seed(&rng, 0x74617065u, 13u);
    for (size_t i = 0; i < N_TAPE; i++)   /* every binade, subnormals, infinities, NaNs */
        x[n++] = acc_float(tg_pcg32_next(&rng));
    for (size_t i = 0; i < N_FIXED; i++)
        x[n++] = (float)fixed[i];
    for (size_t i = 0; i < r->n_limits; i++)
        x[n++] = (float)r->limits[i].x;
    x[n++] = NAN;
    return n;
}

static void check_tape(const uc_rule *r)
{
    static float in[N_TAPE + N_FIXED + UC_MAX_LIMITS + 1];
    cr_assert_leq(r->n_limits, UC_MAX_LIMITS);
    const size_t n = tape_inputs(r, in);
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, &n), *seed = tg_tensor_new(TG_CONST, 1, &n);
    cr_assert(t && x && seed, "%s", tg_last_error());
    size_t kinks = 0;
    for (size_t i = 0; i < n; i++) {
        x->data[i] = in[i];
        seed->data[i] = 1.0f;
        kinks += r->has_kink && in[i] == 0.0f;
    }
    tg_tensor *y = r->op(t, x, r->param);
    cr_assert_not_null(y, "%s: %s", r->name, tg_tape_error(t));
    cr_assert_eq(tg_backward(t, y, seed), TG_OK, "%s: %s", r->name, tg_tape_error(t));
    cr_expect_eq(tg_tape_kinks(t), kinks, "%s: %zu kinks counted, %zu in the batch", r->name,
                 tg_tape_kinks(t), kinks);
    for (size_t i = 0; i < n; i++) {
        const float xi = in[i];
        const double f = r->f(xi, r->param), d = r->df(xi, r->param, NULL);
        cr_expect(tape_agrees(xi, y->data[i], f, 0), "%s(%a) on the tape %a, local %a", r->name,
                  (double)xi, (double)y->data[i], f);
        cr_expect(tape_agrees(xi, x->grad[i], d, 1), "%s'(%a) on the tape %a, local %a", r->name,
                  (double)xi, (double)x->grad[i], d);
    }
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(seed);
}

void uc_check(const uc_rule *r)
{
    check_local(r);
    check_reports(r);
    check_tape(r);
}
