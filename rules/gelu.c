/* gelu, tanh form: gelu(x) = x/2 * (1 + tanh(u)) = x * s(2u), u = k*(x + c*x^3),
 * k = sqrt(2/pi), c = 0.044715, s the sigmoid; with t = tanh(u), 1 + t = 2 s(2u) and
 * 1 - t^2 = 4 s(2u) s(-2u), so
 *   gelu'(x) = s(2u) + x*(2u)'*s(2u)*s(-2u) = e*(1 + e + w) / (1+e)^2,  e = exp(2u),
 * with w = x*(2u)' = 2k*x*(1 + 3c*x^2); for x >= 0 the same with E = exp(-2u) <= 1.
 *
 * For x < 0 the result is about x*exp(2u), whose relative error is the absolute error
 * of 2u (up to 1e3 here): 2u is formed in double-double (fma) so that it adds ~1 ulp.
 * exp(2u) = h*h with h = exp(u) keeps the digits where exp(2u) alone would be
 * subnormal. 1 + e + w cancels at the derivative's root near -0.7525; within 1/4 of it
 * a Taylor polynomial about the root (double-double) gives full relative accuracy.
 * x^3 overflows past ~1e102, where gelu(x) is x or -0 (exact value negative, underflowed).
 * The float32 kernels are src/kernels/vmath_gelu.c. */
#include <math.h>
#include "elementwise.h"

/* 2k and 2k*c in double-double, from mpmath at 60 digits. */
static const double K2_HI = 0x1.9884533d43651p+0, K2_LO = -0x1.cbc0d30ebfd15p-54;
static const double KC2_HI = 0x1.2444f2a4d8b4bp-4, KC2_LO = -0x1.6c843a29d1c70p-61;
static const double C = 0.044715;
/* Below this 2u < -1500 and gelu, gelu' underflow to -0. */
static const double GONE = -28.0;
/* The root of gelu' in double-double and the Taylor coefficients of gelu' about it
 * (c1..c18, mpmath at 60 digits); the tail beyond |x - root| = 1/4 is < 2^-57. */
static const double ROOT_HI = -0x1.81429f9e97e4dp-1, ROOT_LO = 0x1.4f523ed77dbdcp-55;
static const double NEAR = 0.25;
static const double TAYLOR[] = {
    0.4304000910248585, 0.38751844613578895, -0.01578285352184803, -0.11394448308095899,
    -0.01661932834305256, 0.019682309459833118, 0.005261059254921912,
    -0.0024227318458750974, -0.0009274420230205449, 0.00026392764052681053,
    0.00012425227802639782, -3.4956171694436116e-05, -1.5950896871645105e-05,
    5.918611710894005e-06, 2.4335516344299543e-06, -9.898647747433667e-07,
    -4.3102482988029016e-07, 1.4157556987729473e-07,
};

static tg_status gelu_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__vgelu, tg__vgelu_both);
}
static tg_status gelu_backward(tg_node *n) { return tg__vec_backward(n, NULL); }

const tg_rule tg__rule_gelu = {
    .name = "gelu", .arity = 1, .infer = tg_infer_same_shape,
    .forward = gelu_forward, .backward = gelu_backward,
};

/* u = k*(x + c*x^3) as hi + *lo, for |x| small enough that x^3 is finite. */
static double half_arg(double x, double *lo)
{
    const double x2 = x * x, x2_lo = fma(x, x, -x2);
    const double x3 = x2 * x, x3_lo = fma(x2, x, -x3) + x2_lo * x;
    const double a = K2_HI * x, a_lo = fma(K2_HI, x, -a) + K2_LO * x;
    const double b = KC2_HI * x3, b_lo = fma(KC2_HI, x3, -b) + KC2_HI * x3_lo + KC2_LO * x3;
    const double s = a + b, z = s - a, s_lo = (a - (s - z)) + (b - z);
    *lo = 0.5 * (s_lo + a_lo + b_lo);
    return 0.5 * s;
}

/* 2u and w = x * (2u)' in plain double: enough for x >= 0, where exp(-2u) <= 1 damps
 * their rounding errors. */
static double two_u(double x) { return K2_HI * (x + C * x * x * x); }
static double slope_term(double x) { return K2_HI * x * (1.0 + 3.0 * C * x * x); }

/* exp(u) for x < 0, from the double-double u. */
static double exp_half(double x)
{
    double lo;
    const double hi = half_arg(x, &lo);
    return exp(hi) * (1.0 + lo);
}

double tg_local_gelu(double x)
{
    if (x >= 0.0)
        return x / (1.0 + exp(-two_u(x)));
    if (x < GONE)
        return -0.0;
    const double h = exp_half(x);
    return (x * h) * h / (1.0 + h * h);
}

static double near_root(double x)
{
    return tg__taylor_about_root(x, ROOT_HI, ROOT_LO, TAYLOR, sizeof TAYLOR / sizeof TAYLOR[0]);
}

double tg_local_gelu_deriv(double x, tg_point *at)
{
    if (at)
        *at = TG_POINT_SMOOTH;
    if (fabs(x - ROOT_HI) <= NEAR)
        return near_root(x);
    if (x >= 0.0) {
        const double E = exp(-two_u(x));   /* w * E is 0 * inf at x = inf */
        return (1.0 + E + (E > 0.0 ? slope_term(x) * E : 0.0)) / ((1.0 + E) * (1.0 + E));
    }
    if (x < GONE)
        return -0.0;
    const double h = exp_half(x), e = h * h;
    return h * ((1.0 + e + slope_term(x)) * h) / ((1.0 + e) * (1.0 + e));
}

tg_tensor *tg_gelu(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_gelu, &x, 1, NULL); }
