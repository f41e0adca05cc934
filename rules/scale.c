/* scale (parameter s, default 1): y = s * x; dx = s * dy. s must be finite, as
 * tg_infer_same_shape requires of every parameter. */
#include "elementwise.h"

static float scale_elem(float x, const float *p) { return p[0] * x; }
static float scale_deriv(float x, const float *p) { (void)x; return p[0]; }

static tg_status scale_forward(tg_node *n) { return tg__map_forward(n, scale_elem); }
static tg_status scale_backward(tg_node *n) { return tg__map_backward(n, scale_deriv, NULL); }

const tg_rule tg__rule_scale = { .name = "scale", .arity = 1, .n_params = 1,
                                 .param_names = { "s" }, .param_defaults = { 1.0f },
                                 .infer = tg_infer_same_shape,
                                 .forward = scale_forward, .backward = scale_backward };

tg_tensor *tg_scale(tg_tape *t, tg_tensor *x, float s)
{
    return tg_apply(t, &tg__rule_scale, &x, 1, &s);
}
