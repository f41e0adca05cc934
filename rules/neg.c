/* neg: y = -x, y' = -1. Exact: the sign bit flips, so neg(0) = -0. NaN stays NaN in the
 * value and, as in every rule, in the derivative. */
#include "elementwise.h"

static inline float neg_value(float x, const float *p)
{
    (void)p;
    return -x;
}

static inline float neg_deriv(float x, const float *p)
{
    (void)p;
    return x != x ? x : -1.0f;
}

static tg_status neg_forward(tg_node *n) { return tg__map_forward(n, neg_value); }
static tg_status neg_backward(tg_node *n) { return tg__map_backward(n, neg_deriv, NULL); }

const tg_rule tg__rule_neg = { .name = "neg", .arity = 1, .infer = tg_infer_same_shape,
                               .forward = neg_forward, .backward = neg_backward };

double tg_local_neg(double x) { return -x; }

double tg_local_neg_deriv(double x, tg_point *at)
{
    if (at)
        *at = TG_POINT_SMOOTH;
    return x != x ? x : -1.0;
}

tg_tensor *tg_neg(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_neg, &x, 1, NULL); }
