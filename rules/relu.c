/* relu(x) = max(x, 0); relu'(x) = 1 for x > 0, else 0. x = 0 (either sign) is a kink:
 * the derivative returned there is the one-sided value 0 and the point is reported.
 * Every x <= 0, -0 included, maps to +0: max(x, 0) has no reason to keep x's sign.
 * NaN stays NaN in the value and the derivative. Exact in float, so no double detour. */
#include "elementwise.h"

static inline float relu_value(float x, const float *p)
{
    (void)p;
    return x > 0.0f ? x : x != x ? x : 0.0f;
}

/* Written as two selects rather than a chain of conditions: GCC -O2 turns the chain
 * into branches, mispredicted half the time on a layer's pre-activations, and these
 * selects into vector blends. */
static inline float relu_deriv(float x, const float *p)
{
    (void)p;
    const float d = x > 0.0f ? 1.0f : 0.0f;
    return x != x ? x : d;
}

static inline int relu_kink(float x, const float *p)
{
    (void)p;
    return x == 0.0f;
}

static tg_status relu_forward(tg_node *n) { return tg__map_forward(n, relu_value); }
static tg_status relu_backward(tg_node *n) { return tg__map_backward(n, relu_deriv, relu_kink); }

const tg_rule tg__rule_relu = {
    .name = "relu", .arity = 1, .infer = tg_infer_same_shape,
    .forward = relu_forward, .backward = relu_backward,
};

double tg_local_relu(double x)
{
    return x > 0.0 ? x : x != x ? x : 0.0;
}

double tg_local_relu_deriv(double x, tg_point *at)
{
    if (at)
        *at = x == 0.0 ? TG_POINT_KINK : TG_POINT_SMOOTH;
    return x > 0.0 ? 1.0 : x != x ? x : 0.0;
}

tg_tensor *tg_relu(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_relu, &x, 1, NULL); }
