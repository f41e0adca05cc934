/* div: a / b, elementwise with NumPy-style broadcasting (broadcast.h).
 * d/da = 1/b, d/db = -a/b^2; a broadcast operand's gradient sums over its broadcast
 * dimensions. Division by zero follows IEEE 754: a/0 = +-inf, 0/0 = NaN, and the
 * partials at b = 0 are infinite (NaN where a = 0) in the same way.
 *
 * The value a / b and gy / b are one float operation each, correctly rounded. The
 * b-partial gy * (-a / b^2) is formed in double: gy * a and b * b are exact there (two
 * floats' product has at most 48 bits), so one double division and one rounding to
 * float remain, and b^2 neither overflows (|b| up to 3.4e38) nor underflows (down to
 * 2^-149) as it would in float. */
#include "broadcast.h"

static float div_elem(float a, float b) { return a / b; }
static float div_grad_a(float gy, float a, float b) { (void)a; return gy / b; }

static float div_grad_b(float gy, float a, float b)
{
    return (float)(-((double)gy * (double)a) / ((double)b * (double)b));
}

static tg_status div_forward(tg_node *n) { return tg__bcast_forward(n, div_elem); }
static tg_status div_backward(tg_node *n) { return tg__bcast_backward(n, div_grad_a, div_grad_b); }

const tg_rule tg__rule_div = { .name = "div", .arity = 2, .infer = tg__bcast_infer,
                               .forward = div_forward, .backward = div_backward };

double tg_local_div(double a, double b) { return a / b; }

/* -a/b^2 as -(a/b)/b: a / (b * b) would overflow or underflow in b * b first for
 * |b| beyond 1e154 or below 1e-154, where the quotient itself can still be finite. */
void tg_local_div_grad(double a, double b, double *da, double *db)
{
    if (da)
        *da = 1.0 / b;
    if (db)
        *db = -(a / b) / b;
}

tg_tensor *tg_div(tg_tape *t, tg_tensor *a, tg_tensor *b)
{
    tg_tensor *in[2] = { a, b };
    return tg_apply(t, &tg__rule_div, in, 2, NULL);
}
