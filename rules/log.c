/* log: y = ln x, y' = 1/x, for x >= 0. Forward refuses a negative input with
 * TG_ERR_DOMAIN naming the first one (tg__refuse_negative); -0 is 0. At 0 (either sign)
 * the value is -inf and the derivative +inf, the limit from the right; log(+inf) = +inf
 * with derivative +0; NaN propagates. The float kernel evaluates in double and rounds
 * once: 1/x of a float subnormal exceeds FLT_MAX and rounds to +inf. */
#include <math.h>
#include "elementwise.h"

static double log_slope(double x) { return x == 0.0 ? INFINITY : 1.0 / x; }

static inline float log_value(float x, const float *p)
{
    (void)p;
    return (float)log(x);
}

static inline float log_deriv(float x, const float *p)
{
    (void)p;
    return (float)log_slope(x);
}

static tg_status log_forward(tg_node *n)
{
    const tg_status s = tg__refuse_negative(n);
    return s != TG_OK ? s : tg__map_forward(n, log_value);
}

static tg_status log_backward(tg_node *n) { return tg__map_backward(n, log_deriv, NULL); }

const tg_rule tg__rule_log = { .name = "log", .arity = 1, .infer = tg_infer_same_shape,
                               .forward = log_forward, .backward = log_backward };

double tg_local_log(double x) { return x < 0.0 ? NAN : log(x); }

double tg_local_log_deriv(double x, tg_point *at)
{
    if (at)
        *at = x < 0.0 ? TG_POINT_BAD_PARAM : TG_POINT_SMOOTH;
    return x < 0.0 ? NAN : log_slope(x);
}

tg_tensor *tg_log(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_log, &x, 1, NULL); }
