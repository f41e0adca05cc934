/* safe_log(x; eps) = log(sp(x) + eps), safe_log' = s(x) / (sp(x) + eps), sp = softplus,
 * s = sigmoid (rules/safe_log.c); sp(x) = max(x, 0) + log1p(e^-|x|).
 *
 * log(y) cancels where y = sp(x) + eps is near 1: for small eps near x1 = log(e - 1),
 * where sp(x1) = 1. Within 2^-5 of x1, g = sp(x) - 1 comes from d = x - x1 instead, by
 * the Taylor series of log1p((1 - 1/e) expm1(d)) (= g exactly; terms past d^9 are below
 * 2^-60 of it), and the value is log1p(g + eps): y - 1 is then never formed by
 * subtracting. Outside the window log(y) is within 2^-43 of itself. For eps near 1 or
 * above the root of safe_log leaves that window and the error near it is absolute,
 * ~1e-15, as the reference's is. */
#include "vmath_core.h"

/* x1 = X1_HI + X1_LO (rules/safe_log.c) and the Taylor coefficients of sp(x1 + d) - 1,
 * d^1..d^9 (src/kernels/vmath_coeffs.py); the first is 1 - 1/e = s(x1). */
static const double X1_HI = 0x1.15288806261ccp-1, X1_LO = -0x1.4e98fab9069acp-56;
static const double NEAR = 0x1p-5;

TG__VM_INLINE double safe_log_g_near(double d)
{
    static const double G[9] = {
        0x1.43a54e4e98864p-1,  0x1.dc401c89a5ca4p-4,  -0x1.4f962695c83b6p-7,
        -0x1.f5fca84296f77p-9, 0x1.e0b3c1296300fp-11, 0x1.5b65c121a6eaep-13,
        -0x1.4d283c97c74c2p-14, -0x1.418ce8e9415c7p-18, 0x1.b64fdde307874p-18,
    };
    double g = G[8];
    g = g * d + G[7];
    g = g * d + G[6];
    g = g * d + G[5];
    g = g * d + G[4];
    g = g * d + G[3];
    g = g * d + G[2];
    g = g * d + G[1];
    g = g * d + G[0];
    return g * d;
}

TG__VM_INLINE float safe_log_value(float x, double eps)
{
    const double X = x;
    const double sp = (X > 0.0 ? X : 0.0) + tg__vm_log1p(tg__vm_exp(-fabs(X)));
    const double d = (X - X1_HI) - X1_LO; /* X - X1_HI is exact near x1 (Sterbenz) */
    const int near = fabs(d) < NEAR;
    const double v = safe_log_g_near(d) + eps;
    /* log(m) + c/m: log y, or near x1 log1p(v) with c what rounding 1 + v lost */
    const double m = near ? 1.0 + v : sp + eps;
    const double c = near ? v - (m - 1.0) : 0.0;
    return (float)(tg__vm_log(m) + c / m);
}

TG__VM_INLINE float safe_log_deriv(float x, double eps)
{
    const double X = x, e = tg__vm_exp(-fabs(X));
    const double sp = (X > 0.0 ? X : 0.0) + tg__vm_log1p(e);
    return (float)(tg__vm_sigmoid(X, e) / (sp + eps));
}

TG__VM_DEFINE(safe_log, safe_log_value, safe_log_deriv)
