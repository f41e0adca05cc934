/* gelu_erf, the exact GELU (rules/gelu_erf.c): f(x) = x Phi(x), f'(x) = Phi(x) + x phi(x),
 * with h = e^(-x^2/2) and T = Phi(-|x|) = erfc(|x|/sqrt2)/2 = h erfcx(|x|/sqrt2)/2:
 *   x <  0:  f = x T,        f' = h (erfcx/2 + x/sqrt(2pi))
 *   x >= 0:  f = x (1 - T),  f' = (1 - T) + x h/sqrt(2pi).
 * -x^2/2 is exact in double for a float x, so h is good to 2^-50 however large x is, and
 * the left tail loses nothing (no 1 + erf(x) there). f' cancels at its root near -0.7518:
 * within 2^-5 of it a Taylor polynomial about the root (double-double root, coefficients
 * of rules/gelu_erf.c) takes over; outside, the direct form is within 2^-39. x is clamped
 * to +-40 where it enters h and products; beyond, the results round as the exact ones. */
#include "vmath_core.h"

/* 1/sqrt2, 1/sqrt(2pi), and the root of f' with the Taylor coefficients c1..c8 of f'
 * about it, from rules/gelu_erf.c (mpmath). */
static const double RS2 = 0x1.6a09e667f3bcdp-1, RS2PI = 0x1.9884533d43651p-2;
static const double ROOT_HI = -0x1.80ead197f00b4p-1, ROOT_LO = 0x1.13e74c58cada8p-56;
static const double NEAR = 0x1p-5, CLAMP = 40.0;

typedef struct {
    double x, h, r; /* the clamped x, e^(-x^2/2), erfcx(|x|/sqrt2) */
} gelu_erf_parts;

TG__VM_INLINE gelu_erf_parts gelu_erf_eval(double X)
{
    gelu_erf_parts g;
    g.x = X < -CLAMP ? -CLAMP : X;
    g.x = g.x > CLAMP ? CLAMP : g.x;
    g.h = tg__vm_exp(-0.5 * (g.x * g.x));
    g.r = tg__vm_erfcx(fabs(g.x) * RS2);
    return g;
}

TG__VM_INLINE float gelu_erf_value(float x, double p)
{
    (void)p;
    const double X = x;
    const gelu_erf_parts g = gelu_erf_eval(X);
    const double T = 0.5 * g.h * g.r;
    return (float)(X < 0.0 ? g.x * T : X * (1.0 - T));
}

TG__VM_INLINE double gelu_erf_near_root(double X)
{
    static const double T[8] = {
        0.4314939923140469,   0.388284982990552,     -0.018199676398671087,
        -0.1140082332972217,  -0.014771522148244337, 0.019421679838189067,
        0.004539228379125415, -0.002239538068073497,
    };
    const double d = (X - ROOT_HI) - ROOT_LO; /* X - ROOT_HI is exact (Sterbenz) */
    double t = T[7];
    t = t * d + T[6];
    t = t * d + T[5];
    t = t * d + T[4];
    t = t * d + T[3];
    t = t * d + T[2];
    t = t * d + T[1];
    t = t * d + T[0];
    return t * d;
}

TG__VM_INLINE float gelu_erf_deriv(float x, double p)
{
    (void)p;
    const double X = x;
    const gelu_erf_parts g = gelu_erf_eval(X);
    const double T = 0.5 * g.h * g.r;
    const double right = (1.0 - T) + g.x * RS2PI * g.h;
    const double left = fabs(X - ROOT_HI) < NEAR ? gelu_erf_near_root(X)
                                                 : g.h * (0.5 * g.r + g.x * RS2PI);
    return (float)(X >= 0.0 ? right : left);
}

TG__VM_DEFINE(gelu_erf, gelu_erf_value, gelu_erf_deriv)
