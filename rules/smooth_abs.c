/* smooth_abs(x; eps) = sqrt(x^2 + eps) (eps is not squared: f(0) = sqrt(eps)),
 * derivative x / sqrt(x^2 + eps). eps must be > 0 and finite.
 * hypot(x, sqrt(eps)) does not overflow or underflow where x^2 would, so
 * smooth_abs(x) ~ |x| for huge x and smooth_abs(+-inf) = inf; the derivative's
 * inf/inf at +-inf is replaced by its limit +-1. The derivative is odd: -0 at -0.
 * The float32 kernels are src/kernels/vmath_smooth_abs.c. */
#include <math.h>
#include "elementwise.h"

static double smooth_abs(double x, double eps) { return hypot(x, sqrt(eps)); }

static double smooth_abs_slope(double x, double eps)
{
    return isinf(x) ? copysign(1.0, x) : x / hypot(x, sqrt(eps));
}

static tg_status smooth_abs_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__vsmooth_abs, tg__vsmooth_abs_both);
}

static tg_status smooth_abs_backward(tg_node *n) { return tg__vec_backward(n, NULL); }

const tg_rule tg__rule_smooth_abs = {
    .name = "smooth_abs", .arity = 1, .n_params = 1, .param_names = { "eps" },
    .param_defaults = { 1e-6f }, .infer = tg__infer_param_positive,
    .forward = smooth_abs_forward, .backward = smooth_abs_backward,
};

double tg_local_smooth_abs(double x, double eps)
{
    return tg__positive_finite(eps) ? smooth_abs(x, eps) : NAN;
}

double tg_local_smooth_abs_deriv(double x, double eps, tg_point *at)
{
    const int ok = tg__positive_finite(eps);
    if (at)
        *at = ok ? TG_POINT_SMOOTH : TG_POINT_BAD_PARAM;
    return ok ? smooth_abs_slope(x, eps) : NAN;
}

tg_tensor *tg_smooth_abs(tg_tape *t, tg_tensor *x, float eps)
{
    return tg_apply(t, &tg__rule_smooth_abs, &x, 1, &eps);
}
