/* sub: a - b, elementwise, either operand repeated over the other's leading dimensions
 * (broadcast.h). d/da = 1, d/db = -1; a repeated operand's gradient sums over its
 * repeats. */
#include "broadcast.h"

static float sub_elem(float a, float b) { return a - b; }

static tg_status sub_forward(tg_node *n) { return tg__bcast_forward(n, sub_elem); }

static tg_status sub_backward(tg_node *n)
{
    static const float sign[2] = { 1.0f, -1.0f };
    return tg__bcast_backward(n, sign, 0);
}

const tg_rule tg__rule_sub = { .name = "sub", .arity = 2, .infer = tg__bcast_infer,
                               .forward = sub_forward, .backward = sub_backward };

tg_tensor *tg_sub(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = { a, b };
    return tg_apply(t, &tg__rule_sub, in, 2, NULL);
}
