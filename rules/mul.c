/* mul: a * b, elementwise with NumPy-style broadcasting (broadcast.h). d/da = b,
 * d/db = a; a broadcast operand's gradient sums over its broadcast dimensions.
 * mul(x, x) works: each side adds its x * gy into the one gradient. */
#include "broadcast.h"

static float mul_elem(float a, float b) { return a * b; }
static float mul_grad_a(float gy, float a, float b) { (void)a; return gy * b; }
static float mul_grad_b(float gy, float a, float b) { (void)b; return gy * a; }

static tg_status mul_forward(tg_node *n) { return tg__bcast_forward(n, mul_elem); }
static tg_status mul_backward(tg_node *n) { return tg__bcast_backward(n, mul_grad_a, mul_grad_b); }

const tg_rule tg__rule_mul = { .name = "mul", .arity = 2, .infer = tg__bcast_infer,
                               .forward = mul_forward, .backward = mul_backward };

tg_tensor *tg_mul(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = { a, b };
    return tg_apply(t, &tg__rule_mul, in, 2, NULL);
}
