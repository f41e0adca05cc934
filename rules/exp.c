/* exp: y = e^x, y' = e^x. Overflows to +inf (x > ln(FLT_MAX), about 88.72, in float32)
 * and underflows to +0 by IEEE rules; exp(-inf) = 0, exp(+inf) = +inf, NaN propagates.
 * The float kernel evaluates in double and rounds once. */
#include <math.h>
#include "elementwise.h"

static inline float exp_value(float x, const float *p)
{
    (void)p;
    return (float)exp(x);
}

static tg_status exp_forward(tg_node *n) { return tg__map_forward(n, exp_value); }
static tg_status exp_backward(tg_node *n) { return tg__map_backward(n, exp_value, NULL); }

const tg_rule tg__rule_exp = { .name = "exp", .arity = 1, .infer = tg_infer_same_shape,
                               .forward = exp_forward, .backward = exp_backward };

double tg_local_exp(double x) { return exp(x); }

double tg_local_exp_deriv(double x, tg_point *at)
{
    if (at)
        *at = TG_POINT_SMOOTH;
    return exp(x);
}

tg_tensor *tg_exp(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_exp, &x, 1, NULL); }
