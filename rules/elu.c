/* elu(x; a) = x for x > 0, else a*(exp(x) - 1); the derivative is 1 or a*exp(x).
 * x = 0 is a kink unless a == 1: the left derivative a*exp(0) = a meets the right one,
 * 1, only then (at a == 1 ELU is C1 at 0, so 0 is not reported). The derivative returned
 * at 0 is the left value a. expm1 keeps the value accurate near 0, and -0 maps to
 * a*(-0). a must be finite. The float32 kernels are src/kernels/vmath_elu.c. */
#include <math.h>
#include "elementwise.h"

static double elu(double x, double a) { return x > 0.0 ? x : a * expm1(x); }
static double elu_slope(double x, double a) { return x > 0.0 ? 1.0 : a * exp(x); }

static inline int elu_kink(float x, const float *p) { return x == 0.0f && p[0] != 1.0f; }

static tg_status elu_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__velu, tg__velu_both);
}
static tg_status elu_backward(tg_node *n) { return tg__vec_backward(n, elu_kink); }

const tg_rule tg__rule_elu = {
    .name = "elu", .arity = 1, .n_params = 1, .param_names = { "alpha" },
    .param_defaults = { 1.0f }, .infer = tg_infer_same_shape,
    .forward = elu_forward, .backward = elu_backward,
};

double tg_local_elu(double x, double a) { return isfinite(a) ? elu(x, a) : NAN; }

double tg_local_elu_deriv(double x, double a, tg_point *at)
{
    const tg_point where = !isfinite(a) ? TG_POINT_BAD_PARAM
                           : x == 0.0 && a != 1.0 ? TG_POINT_KINK : TG_POINT_SMOOTH;
    if (at)
        *at = where;
    return where == TG_POINT_BAD_PARAM ? NAN : elu_slope(x, a);
}

tg_tensor *tg_elu(tg_tape *t, tg_tensor *x, float alpha)
{
    return tg_apply(t, &tg__rule_elu, &x, 1, &alpha);
}
