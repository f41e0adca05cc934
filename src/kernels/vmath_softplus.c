/* softplus(x) = max(x, 0) + log1p(e^-|x|), the one-expression form of rules/softplus.c:
 * exp never sees a positive argument, softplus(x) -> x for large x and -> +0 at -inf.
 * softplus' = sigmoid. */
#include "vmath_core.h"

TG__VM_INLINE float softplus_value(float x, double p)
{
    (void)p;
    const double X = x;
    return (float)((X > 0.0 ? X : 0.0) + tg__vm_log1p(tg__vm_exp(-fabs(X))));
}

TG__VM_INLINE float softplus_deriv(float x, double p)
{
    (void)p;
    const double X = x;
    return (float)tg__vm_sigmoid(X, tg__vm_exp(-fabs(X)));
}

TG__VM_DEFINE(softplus, softplus_value, softplus_deriv)
