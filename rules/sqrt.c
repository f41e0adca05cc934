/* sqrt: y = sqrt(x), y' = 1/(2 sqrt(x)), for x >= 0. Forward refuses a negative input
 * with TG_ERR_DOMAIN naming the first one (tg__refuse_negative). sqrt(-0) = -0 (IEEE);
 * the derivative at 0, either sign, is +inf, the limit from the right, so a zero
 * cotangent there gives 0 * inf = NaN. sqrt(+inf) = +inf with derivative +0; NaN
 * propagates. The float kernel evaluates in double and rounds once (for the value that
 * is sqrtf itself: 53 >= 2 * 24 + 2 makes the double rounding harmless). */
#include <math.h>
#include "elementwise.h"

static double sqrt_slope(double x) { return x == 0.0 ? INFINITY : 0.5 / sqrt(x); }

static inline float sqrt_value(float x, const float *p)
{
    (void)p;
    return (float)sqrt(x);
}

static inline float sqrt_deriv(float x, const float *p)
{
    (void)p;
    return (float)sqrt_slope(x);
}

static tg_status sqrt_forward(tg_node *n)
{
    const tg_status s = tg__refuse_negative(n);
    return s != TG_OK ? s : tg__map_forward(n, sqrt_value);
}

static tg_status sqrt_backward(tg_node *n) { return tg__map_backward(n, sqrt_deriv, NULL); }

const tg_rule tg__rule_sqrt = { .name = "sqrt", .arity = 1, .infer = tg_infer_same_shape,
                                .forward = sqrt_forward, .backward = sqrt_backward };

double tg_local_sqrt(double x) { return x < 0.0 ? NAN : sqrt(x); }

double tg_local_sqrt_deriv(double x, tg_point *at)
{
    if (at)
        *at = x < 0.0 ? TG_POINT_BAD_PARAM : TG_POINT_SMOOTH;
    return x < 0.0 ? NAN : sqrt_slope(x);
}

tg_tensor *tg_sqrt(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_sqrt, &x, 1, NULL); }
