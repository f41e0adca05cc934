/* smooth_abs(x; eps) = sqrt(x^2 + eps), smooth_abs' = x / sqrt(x^2 + eps) (rules/
 * smooth_abs.c). In double x^2 is exact for a float x and cannot overflow or underflow,
 * so this is three correctly rounded operations before the one rounding to float. For
 * the derivative x is clamped to +-1e30, where the result is +-1 in double anyway: the
 * limit at +-inf without inf/inf; -0 gives -0. */
#include "vmath_core.h"

TG__VM_INLINE float smooth_abs_value(float x, double eps)
{
    const double X = x;
    return (float)sqrt(X * X + eps);
}

TG__VM_INLINE float smooth_abs_deriv(float x, double eps)
{
    double X = x;
    X = X < -1e30 ? -1e30 : X;
    X = X > 1e30 ? 1e30 : X;
    return (float)(X / sqrt(X * X + eps));
}

TG__VM_DEFINE(smooth_abs, smooth_abs_value, smooth_abs_deriv)
