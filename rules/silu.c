/* silu(x) = x*s(x), silu'(x) = s(x)*(1 + x*s(-x)), s the sigmoid.
 *
 * With e = exp(-|x|) nothing overflows. For x < 0 the derivative is e*N/(1+e)^2 with
 * N = 1 + x + e^x, which cancels at its root x0 = -1 - W(1/e) = -1.2784...: there,
 * with d = x - x0 taken in double-double, N = d + e^x0 * expm1(d) exactly (because
 * 1 + x0 + e^x0 = 0), a sum of two terms of one sign. Far left, e^x is subnormal while
 * x*e^x is not: e^x = h*h with h = exp(x/2) keeps the digits. Both tails end in -0
 * (the exact values are negative). The float32 kernels are src/kernels/vmath_silu.c. */
#include <math.h>
#include "elementwise.h"

/* x0 = X0_HI + X0_LO and e^x0 = -(1 + x0), from mpmath at 60 digits. */
static const double X0_HI = -0x1.474973c84120bp+0, X0_LO = -0x1.f8d74bc9ac154p-54;
static const double E0 = 0x1.1d25cf210482ep-2;
/* Below this exp(x) is subnormal or nearly so. */
static const double DEEP = -700.0;

static tg_status silu_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__vsilu, tg__vsilu_both);
}
static tg_status silu_backward(tg_node *n) { return tg__vec_backward(n, NULL); }

const tg_rule tg__rule_silu = {
    .name = "silu", .arity = 1, .infer = tg_infer_same_shape,
    .forward = silu_forward, .backward = silu_backward,
};

double tg_local_silu(double x)
{
    if (x >= 0.0)
        return x / (1.0 + exp(-x));
    if (x == -INFINITY)
        return -0.0;
    if (x < DEEP) {
        const double h = exp(0.5 * x);
        return (x * h) * h;
    }
    const double e = exp(x);
    return x * e / (1.0 + e);
}

/* 1 + x + exp(x) for x < 0, without cancellation near its root. */
static double silu_bracket(double x, double e)
{
    if (x >= 2.0 * X0_HI && x <= 0.5 * X0_HI) {
        const double d = (x - X0_HI) - X0_LO;   /* x - X0_HI is exact (Sterbenz) */
        return d + E0 * expm1(d);
    }
    return (1.0 + x) + e;
}

double tg_local_silu_deriv(double x, tg_point *at)
{
    if (at)
        *at = TG_POINT_SMOOTH;
    if (x >= 0.0) {
        const double e = exp(-x);
        return x == INFINITY ? 1.0 : (1.0 + x * e / (1.0 + e)) / (1.0 + e);
    }
    if (x == -INFINITY)
        return -0.0;
    if (x < DEEP) {
        const double h = exp(0.5 * x);
        return h * (silu_bracket(x, 0.0) * h);
    }
    const double e = exp(x);
    return e * silu_bracket(x, e) / ((1.0 + e) * (1.0 + e));
}

tg_tensor *tg_silu(tg_tape *t, tg_tensor *x) { return tg_apply(t, &tg__rule_silu, &x, 1, NULL); }
