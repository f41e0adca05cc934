/* gelu_erf, the exact GELU: f(x) = x*Phi(x), f'(x) = Phi(x) + x*phi(x), with
 * Phi(x) = erfc(-x/sqrt2)/2 (erfc, not 1 + erf, so the left tail does not cancel) and
 * phi(x) = exp(-x^2/2)/sqrt(2pi).
 *
 * In the left tail the relative error of Phi is ~x^2 times that of its argument, so
 * x/sqrt2 and x^2 are formed in double-double (fma) and the low parts applied as a
 * first-order correction. Below x = -32, x*Phi(x) = -phi(x)*S and f'(x) = phi(x)*(x - S/x)
 * with S the asymptotic series of the Mills ratio in q = 1/x^2 (its error is below the
 * first omitted term, < 1e-19 there); phi = h*h/sqrt(2pi) with h = exp(-x^2/4) keeps the
 * digits where phi alone would be subnormal. Phi + x*phi cancels at the derivative's root
 * near -0.7518; within 1/4 of it a Taylor polynomial about the root (double-double) is used.
 * Both left tails end in -0 (the exact values are negative).
 * The float32 kernels are src/kernels/vmath_gelu_erf.c. */
#include <math.h>
#include "elementwise.h"

/* 1/sqrt2 in double-double, 1/sqrt(2pi) and 2/sqrt(pi) (mpmath at 40 digits). */
static const double RS2_HI = 0x1.6a09e667f3bcdp-1, RS2_LO = -0x1.bdd3413b26456p-55;
static const double RS2PI = 0x1.9884533d43651p-2, TWO_RSPI = 0x1.20dd750429b6dp+0;
static const double TAIL = -32.0;
/* The root of f' in double-double and the Taylor coefficients of f' about it
 * (c1..c17, mpmath at 60 digits); the tail beyond |x - root| = 1/4 is < 2^-57. */
static const double ROOT_HI = -0x1.80ead197f00b4p-1, ROOT_LO = 0x1.13e74c58cada8p-56;
static const double NEAR = 0.25;
static const double TAYLOR[] = {
    0.4314939923140469, 0.388284982990552, -0.018199676398671087, -0.1140082332972217,
    -0.014771522148244337, 0.019421679838189067, 0.004539228379125415,
    -0.002239538068073497, -0.0007448268386746817, 0.00018633974623233514,
    8.615947861116571e-05, -1.121438018842664e-05, -7.74846130700372e-06,
    4.3284506257392273e-07, 5.702764979242107e-07, -1.6044265494246427e-09,
    -3.5459866461783865e-08,
};

static tg_status gelu_erf_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__vgelu_erf, tg__vgelu_erf_both);
}

static tg_status gelu_erf_backward(tg_node *n) { return tg__vec_backward(n, NULL); }

const tg_rule tg__rule_gelu_erf = {
    .name = "gelu_erf", .arity = 1, .infer = tg_infer_same_shape,
    .forward = gelu_erf_forward, .backward = gelu_erf_backward,
};

/* exp(-x^2/4) with x^2 in double-double; phi(x) = RS2PI * h * h. Once h underflows
 * (|x| > 54.6) x2_lo may be infinite, so 0 is returned as it stands. */
static double root_gauss(double x)
{
    const double x2 = x * x, x2_lo = fma(x, x, -x2);
    const double h = exp(-0.25 * x2);
    return h == 0.0 ? h : h * (1.0 - 0.25 * x2_lo);
}

/* Phi(x) for TAIL <= x < 0: erfc(t) at t = -x/sqrt2 = -(p + p_lo), corrected to first
 * order in p_lo with erfc'(t) = -2/sqrt(pi) exp(-t^2). */
static double left_cdf(double x)
{
    const double p = x * RS2_HI, p_lo = fma(x, RS2_HI, -p) + x * RS2_LO;
    return 0.5 * (erfc(-p) + p_lo * TWO_RSPI * exp(-p * p));
}

/* 1 - 1/x^2 + 3/x^4 - ...: x Phi(x) = -phi(x) S for x -> -inf. */
static double mills_series(double x)
{
    static const double c[] = { 1, -1, 3, -15, 105, -945, 10395, -135135, 2027025 };
    const double q = 1.0 / (x * x);
    double s = 0.0;
    for (size_t i = sizeof c / sizeof c[0]; i-- > 0;)
        s = s * q + c[i];
    return s;
}

double tg_local_gelu_erf(double x)
{
    if (x >= 0.0)
        return x * (0.5 * erfc(-x * RS2_HI));   /* x * erfc overflows for x near DBL_MAX */
    if (x >= TAIL)
        return x * left_cdf(x);
    const double h = root_gauss(x);
    return -(RS2PI * h * mills_series(x)) * h;
}

static double near_root(double x)
{
    return tg__taylor_about_root(x, ROOT_HI, ROOT_LO, TAYLOR, sizeof TAYLOR / sizeof TAYLOR[0]);
}

double tg_local_gelu_erf_deriv(double x, tg_point *at)
{
    if (at)
        *at = TG_POINT_SMOOTH;
    if (fabs(x - ROOT_HI) <= NEAR)
        return near_root(x);
    const double h = root_gauss(x);
    if (x >= 0.0)
        return 0.5 * erfc(-x * RS2_HI) + (h > 0.0 ? x * (RS2PI * h * h) : 0.0);
    if (x >= TAIL)
        return left_cdf(x) + x * (RS2PI * h * h);
    if (h == 0.0)
        return -0.0;
    return (RS2PI * h * (x - mills_series(x) / x)) * h;
}

tg_tensor *tg_gelu_erf(tg_tape *t, tg_tensor *x)
{
    return tg_apply(t, &tg__rule_gelu_erf, &x, 1, NULL);
}
