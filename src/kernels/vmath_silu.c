/* silu(x) = x s(x) and silu'(x) = s(x) (1 + x s(-x)), from e = e^-|x| as in rules/silu.c:
 *   x >= 0:  silu = x / (1 + e),      silu' = (1 + x e / (1 + e)) / (1 + e)
 *   x <  0:  silu = x e / (1 + e),    silu' = e N / (1 + e)^2,  N = 1 + x + e^x.
 * N cancels at its root x0 = -1.2785 (silu's minimum). Within 2^-6 of it N comes from
 * d = x - x0 instead: N = d + e^x0 expm1(d) exactly (1 + x0 + e^x0 = 0), a Taylor
 * series of one sign whose terms beyond d^6 are below 2^-50 of the sum. Outside that
 * window the direct N is within 2^-46 of itself. x is clamped to +-200 where it
 * multiplies e (avoiding inf * 0); the results there round as the exact ones (x, 1, -0). */
#include "vmath_core.h"

/* x0 = X0_HI + X0_LO and e^x0 = -(1 + x0), as in rules/silu.c (mpmath, 60 digits). */
static const double X0_HI = -0x1.474973c84120bp+0, X0_LO = -0x1.f8d74bc9ac154p-54;
static const double E0 = 0x1.1d25cf210482ep-2;
static const double NEAR = 0x1p-6, CLAMP = 200.0;

TG__VM_INLINE float silu_value(float x, double p)
{
    (void)p;
    const double X = x, e = tg__vm_exp(-fabs(X));
    const double Xc = X < -CLAMP ? -CLAMP : X;
    return (float)((X < 0.0 ? Xc * e : X) / (1.0 + e));
}

/* N = 1 + x + e^x about x0, from d = x - x0 (x - X0_HI is exact: Sterbenz). */
TG__VM_INLINE double silu_bracket_near(double d)
{
    const double t = 1.0 / 2 + d * (1.0 / 6 + d * (1.0 / 24 + d * (1.0 / 120 + d * (1.0 / 720))));
    return d * (1.0 + E0) + E0 * (d * d) * t;
}

TG__VM_INLINE float silu_deriv(float x, double p)
{
    (void)p;
    const double X = x, e = tg__vm_exp(-fabs(X));
    double Xc = X < -CLAMP ? -CLAMP : X;
    Xc = Xc > CLAMP ? CLAMP : Xc;
    const double right = (1.0 + Xc * e / (1.0 + e)) / (1.0 + e);
    const double d = (X - X0_HI) - X0_LO;
    const double N = fabs(d) < NEAR ? silu_bracket_near(d) : (1.0 + Xc) + e;
    const double left = e * N / ((1.0 + e) * (1.0 + e));
    return (float)(X >= 0.0 ? right : left);
}

TG__VM_DEFINE(silu, silu_value, silu_deriv)
