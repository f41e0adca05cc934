/* sigmoid(x) = 1/(1 + exp(-x)); sigmoid'(x) = s(1 - s).
 * Both sides are computed from e = exp(-|x|) <= 1, which cannot overflow: the value is
 * 1/(1+e) or e/(1+e), the derivative e/(1+e)^2. The textbook s*(1 - s) cancels for
 * large x (1 - s loses every digit once s rounds to 1). The derivative is even and never
 * negative: +0 in both tails. The float32 kernels are src/kernels/vmath_sigmoid.c. */
#include <math.h>
#include "elementwise.h"

static tg_status sigmoid_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__vsigmoid, tg__vsigmoid_both);
}

static tg_status sigmoid_backward(tg_node *n) { return tg__vec_backward(n, NULL); }

const tg_rule tg__rule_sigmoid = {
    .name = "sigmoid", .arity = 1, .infer = tg_infer_same_shape,
    .forward = sigmoid_forward, .backward = sigmoid_backward,
};

double tg_local_sigmoid(double x)
{
    const double e = exp(-fabs(x));
    return x >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

double tg_local_sigmoid_deriv(double x, tg_point *at)
{
    const double e = exp(-fabs(x));
    if (at)
        *at = TG_POINT_SMOOTH;
    return e / ((1.0 + e) * (1.0 + e));
}

tg_tensor *tg_sigmoid(tg_tape *t, tg_tensor *x)
{
    return tg_apply(t, &tg__rule_sigmoid, &x, 1, NULL);
}
