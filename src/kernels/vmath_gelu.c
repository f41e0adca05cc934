/* gelu, tanh form (rules/gelu.c): with 2u = 2k (x + c x^3) and e = e^-|2u| <= 1,
 *   x >= 0:  gelu = x / (1 + e),     gelu' = (1 + e + w e) / (1 + e)^2
 *   x <  0:  gelu = x e / (1 + e),   gelu' = e (1 + e + w) / (1 + e)^2,
 * w = x (2u)' = 2k x (1 + 3c x^2). In double, x^3 cannot overflow for a float x and 2u
 * is good to 2^-51 of itself: e^(2u), whose relative error is 2u's absolute one
 * (|2u| < 110 where gelu(x) is not yet an underflowed -0), stays within 2^-44.
 * 1 + e + w cancels at the derivative's root near -0.7525: within 2^-6 of it a Taylor
 * polynomial about the root (double-double root, coefficients of rules/gelu.c) takes
 * over; outside, the direct form is within 2^-44. x is clamped to +-30 where it enters
 * 2u, w and products with e; beyond, the results round as the exact ones (x, 1, -0). */
#include "vmath_core.h"

/* 2k = 2 sqrt(2/pi), c, and the root of gelu' with the Taylor coefficients c1..c7 of
 * gelu' about it, all from rules/gelu.c (mpmath, 60 digits). */
static const double K2 = 0x1.9884533d43651p+0, C = 0.044715;
static const double ROOT_HI = -0x1.81429f9e97e4dp-1, ROOT_LO = 0x1.4f523ed77dbdcp-55;
static const double NEAR = 0x1p-6, CLAMP = 30.0;

TG__VM_INLINE double gelu_clamp(double X)
{
    const double Xc = X < -CLAMP ? -CLAMP : X;
    return Xc > CLAMP ? CLAMP : Xc;
}

/* e^-|2u| for the clamped x */
TG__VM_INLINE double gelu_e(double Xc)
{
    return tg__vm_exp(-fabs(K2 * (Xc + C * (Xc * Xc * Xc))));
}

TG__VM_INLINE float gelu_value(float x, double p)
{
    (void)p;
    const double X = x, Xc = gelu_clamp(X), e = gelu_e(Xc);
    return (float)((X < 0.0 ? Xc * e : X) / (1.0 + e));
}

TG__VM_INLINE double gelu_near_root(double X)
{
    static const double T[7] = {
        0.4304000910248585,   0.38751844613578895,  -0.01578285352184803,
        -0.11394448308095899, -0.01661932834305256, 0.019682309459833118,
        0.005261059254921912,
    };
    const double d = (X - ROOT_HI) - ROOT_LO; /* X - ROOT_HI is exact (Sterbenz) */
    double t = T[6];
    t = t * d + T[5];
    t = t * d + T[4];
    t = t * d + T[3];
    t = t * d + T[2];
    t = t * d + T[1];
    t = t * d + T[0];
    return t * d;
}

TG__VM_INLINE float gelu_deriv(float x, double p)
{
    (void)p;
    const double X = x, Xc = gelu_clamp(X), e = gelu_e(Xc);
    const double w = K2 * Xc * (1.0 + 3.0 * C * Xc * Xc);
    const double den = (1.0 + e) * (1.0 + e);
    const double right = (1.0 + e + w * e) / den;
    const double left = fabs(X - ROOT_HI) < NEAR ? gelu_near_root(X) : e * (1.0 + e + w) / den;
    return (float)(X >= 0.0 ? right : left);
}

TG__VM_DEFINE(gelu, gelu_value, gelu_deriv)
