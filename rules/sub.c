/* sub: a - b, elementwise with NumPy-style broadcasting (broadcast.h). d/da = 1,
 * d/db = -1; a broadcast operand's gradient sums the cotangent over its broadcast
 * dimensions. */
#include "broadcast.h"

static float sub_elem(float a, float b) { return a - b; }
static float sub_grad_a(float gy, float a, float b) { (void)a; (void)b; return gy; }
static float sub_grad_b(float gy, float a, float b) { (void)a; (void)b; return -gy; }

static tg_status sub_forward(tg_node *n) { return tg__bcast_forward(n, sub_elem); }
static tg_status sub_backward(tg_node *n) { return tg__bcast_backward(n, sub_grad_a, sub_grad_b); }

const tg_rule tg__rule_sub = { .name = "sub", .arity = 2, .infer = tg__bcast_infer,
                               .forward = sub_forward, .backward = sub_backward };

tg_tensor *tg_sub(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = { a, b };
    return tg_apply(t, &tg__rule_sub, in, 2, NULL);
}
