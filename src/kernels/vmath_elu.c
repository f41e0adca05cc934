/* elu(x; a) = x for x > 0, else a * expm1(x); elu'(x; a) = 1 or a * e^x, with the left
 * value a at the kink x = 0 (rules/elu.c). expm1 keeps the value accurate near 0 and
 * maps -0 to a * -0; at -inf the reduction's clamp gives expm1 = -1 exactly, so -a. */
#include "vmath_core.h"

TG__VM_INLINE float elu_value(float x, double a)
{
    const double X = x;
    return (float)(X > 0.0 ? X : a * tg__vm_expm1(X));
}

TG__VM_INLINE float elu_deriv(float x, double a)
{
    const double X = x;
    return (float)(X > 0.0 ? 1.0 : a * tg__vm_exp(X));
}

TG__VM_DEFINE(elu, elu_value, elu_deriv)
