/* sigmoid(x) and sigmoid'(x) = e / (1 + e)^2 from e = e^-|x| <= 1, as in rules/sigmoid.c:
 * no overflow, no cancellation; the derivative is +0 in both far tails. */
#include "vmath_core.h"

TG__VM_INLINE float sigmoid_value(float x, double p)
{
    (void)p;
    const double X = x;
    return (float)tg__vm_sigmoid(X, tg__vm_exp(-fabs(X)));
}

TG__VM_INLINE float sigmoid_deriv(float x, double p)
{
    (void)p;
    const double e = tg__vm_exp(-fabs((double)x));
    return (float)(e / ((1.0 + e) * (1.0 + e)));
}

TG__VM_DEFINE(sigmoid, sigmoid_value, sigmoid_deriv)
