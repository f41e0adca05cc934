/* softplus(x) = log(1 + exp(x)) = x + log1p(exp(-x)) for x > 0, else log1p(exp(x)):
 * exp never sees a positive argument, so nothing overflows, and softplus(x) -> x for
 * large x, -> +0 at -inf. softplus' = sigmoid, whose stable form lives in sigmoid.c.
 * The float32 kernels are src/kernels/vmath_softplus.c. */
#include <math.h>
#include "elementwise.h"

static tg_status softplus_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__vsoftplus, tg__vsoftplus_both);
}

static tg_status softplus_backward(tg_node *n) { return tg__vec_backward(n, NULL); }

const tg_rule tg__rule_softplus = {
    .name = "softplus", .arity = 1, .infer = tg_infer_same_shape,
    .forward = softplus_forward, .backward = softplus_backward,
};

double tg_local_softplus(double x)
{
    return x > 0.0 ? x + log1p(exp(-x)) : log1p(exp(x));
}

double tg_local_softplus_deriv(double x, tg_point *at)
{
    if (at)
        *at = TG_POINT_SMOOTH;
    return tg_local_sigmoid(x);
}

tg_tensor *tg_softplus(tg_tape *t, tg_tensor *x)
{
    return tg_apply(t, &tg__rule_softplus, &x, 1, NULL);
}
