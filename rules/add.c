/* add: a + b, elementwise with NumPy-style broadcasting (broadcast.h). d/da = d/db = 1;
 * a broadcast operand's gradient sums the cotangent over its broadcast dimensions. */
#include "broadcast.h"

static float add_elem(float a, float b) { return a + b; }
static float add_grad(float gy, float a, float b) { (void)a; (void)b; return gy; }

static tg_status add_forward(tg_node *n) { return tg__bcast_forward(n, add_elem); }
static tg_status add_backward(tg_node *n) { return tg__bcast_backward(n, add_grad, add_grad); }

const tg_rule tg__rule_add = { .name = "add", .arity = 2, .infer = tg__bcast_infer,
                               .forward = add_forward, .backward = add_backward };

tg_tensor *tg_add(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = { a, b };
    return tg_apply(t, &tg__rule_add, in, 2, NULL);
}
