/* leaky_relu(x; a) = x for x > 0, else a*x; the derivative is 1 or a. x = 0 is a kink,
 * where the derivative returned is the left value a. -0 maps to a*(-0) = -0. The slope a
 * must be > 0 and finite: a bad a gives NaN from the local functions and TG_ERR_PARAM on
 * the tape. Exact in float (a*x rounds once either way), so no double detour. */
#include <math.h>
#include "elementwise.h"

static inline float leaky_relu_value(float x, const float *p)
{
    return x > 0.0f ? x : p[0] * x;
}

static inline float leaky_relu_deriv(float x, const float *p)
{
    return x > 0.0f ? 1.0f : x != x ? x : p[0];
}

static inline int leaky_relu_kink(float x, const float *p)
{
    (void)p;
    return x == 0.0f;
}

static tg_status leaky_relu_forward(tg_node *n) { return tg__map_forward(n, leaky_relu_value); }

static tg_status leaky_relu_backward(tg_node *n)
{
    return tg__map_backward(n, leaky_relu_deriv, leaky_relu_kink);
}

const tg_rule tg__rule_leaky_relu = {
    .name = "leaky_relu", .arity = 1, .n_params = 1, .param_names = { "alpha" },
    .param_defaults = { 0.01f }, .infer = tg__infer_param_positive,
    .forward = leaky_relu_forward, .backward = leaky_relu_backward,
};

/* A bad slope is a refusal, so the NaN comes with a message (only on that path: the
 * accuracy sweeps call these with valid slopes, billions of times). */
static double bad_slope(const char *who, double a)
{
    tg__fail(TG_ERR_PARAM, "%s: alpha = %g must be > 0 and finite", who, a);
    return NAN;
}

double tg_local_leaky_relu(double x, double a)
{
    if (!tg__positive_finite(a))
        return bad_slope("tg_local_leaky_relu", a);
    return x > 0.0 ? x : a * x;
}

double tg_local_leaky_relu_deriv(double x, double a, tg_point *at)
{
    const tg_point where = !tg__positive_finite(a) ? TG_POINT_BAD_PARAM
                           : x == 0.0 ? TG_POINT_KINK : TG_POINT_SMOOTH;
    if (at)
        *at = where;
    if (where == TG_POINT_BAD_PARAM)
        return bad_slope("tg_local_leaky_relu_deriv", a);
    return x > 0.0 ? 1.0 : x != x ? x : a;
}

tg_tensor *tg_leaky_relu(tg_tape *t, tg_tensor *x, float alpha)
{
    return tg_apply(t, &tg__rule_leaky_relu, &x, 1, &alpha);
}
