/* tanh'(x) = 1 - tanh(x)^2, computed as 4e/(1+e)^2 with e = exp(-2|x|) <= 1: the
 * textbook form cancels once |tanh(x)| rounds to 1 (|x| > ~19), this one keeps full
 * relative accuracy in the tails, where the derivative decays to +0.
 * The float32 kernels are src/kernels/vmath_tanh.c. */
#include <math.h>
#include "elementwise.h"

static tg_status tanh_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__vtanh, tg__vtanh_both);
}
static tg_status tanh_backward(tg_node *n) { return tg__vec_backward(n, NULL); }

const tg_rule tg__rule_tanh = {
    .name = "tanh", .arity = 1, .infer = tg_infer_same_shape,
    .forward = tanh_forward, .backward = tanh_backward,
};

double tg_local_tanh(double x) { return tanh(x); }

double tg_local_tanh_deriv(double x, tg_point *at)
{
    const double e = exp(-2.0 * fabs(x));
    if (at)
        *at = TG_POINT_SMOOTH;
    return 4.0 * e / ((1.0 + e) * (1.0 + e));
}

tg_tensor *tg_tanh(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_tanh, &x, 1, NULL); }
