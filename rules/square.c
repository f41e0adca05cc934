/* square: y = x^2, y' = 2x. Both are one float operation, correctly rounded: x^2
 * overflows to +inf for |x| above about 1.8e19 and underflows to +0 below about 1e-23;
 * 2x overflows only beyond FLT_MAX / 2. square(-0) = +0 with derivative -0. */
#include "elementwise.h"

static inline float square_value(float x, const float *p)
{
    (void)p;
    return x * x;
}

static inline float square_deriv(float x, const float *p)
{
    (void)p;
    return 2.0f * x;
}

static tg_status square_forward(tg_node *n) { return tg__map_forward(n, square_value); }
static tg_status square_backward(tg_node *n) { return tg__map_backward(n, square_deriv, NULL); }

const tg_rule tg__rule_square = { .name = "square", .arity = 1, .infer = tg_infer_same_shape,
                                  .forward = square_forward, .backward = square_backward };

double tg_local_square(double x) { return x * x; }

double tg_local_square_deriv(double x, tg_point *at)
{
    if (at)
        *at = TG_POINT_SMOOTH;
    return 2.0 * x;
}

tg_tensor *tg_square(tg_tape *t, tg_tensor *x)
{
    return tg_apply(t, &tg__rule_square, &x, 1, NULL);
}
