/* safe_log(x; eps) = log(softplus(x) + eps), derivative s(x) / (softplus(x) + eps),
 * s the sigmoid. eps must be > 0 and finite. safe_log(-inf) = log(eps).
 *
 * log(y) cancels where y = softplus(x) + eps is near 1. For small eps that is near
 * x1 = log(e - 1), where softplus(x1) = 1 exactly; with d = x - x1 in double-double,
 * softplus(x) - 1 = log1p((1 - 1/e) * expm1(d)) holds exactly, so y - 1 is formed without
 * cancellation and log1p(y - 1) stays accurate. (For eps near 1 or above, the root of
 * safe_log moves away from x1 and the error there is absolute, ~1e-16.)
 * Far left, s(x) and softplus(x) both equal e^x to double precision; e^x/eps is formed as
 * (h/eps)*h with h = exp(x/2) so that a subnormal e^x does not lose digits.
 * The float32 kernels are src/kernels/vmath_safe_log.c. */
#include <math.h>
#include "elementwise.h"

/* x1 = X1_HI + X1_LO and 1 - 1/e, from mpmath at 60 digits. */
static const double X1_HI = 0x1.15288806261ccp-1, X1_LO = -0x1.4e98fab9069acp-56;
static const double C = 0x1.43a54e4e98864p-1;
/* Below this, s(x) = softplus(x) = e^x within 2^-57 relative. */
static const double FAR_LEFT = -40.0;

static double safe_log(double x, double eps)
{
    if (x >= 0.5 * X1_HI && x <= 2.0 * X1_HI) {
        const double d = (x - X1_HI) - X1_LO;   /* x - X1_HI is exact (Sterbenz) */
        return log1p(log1p(C * expm1(d)) + eps);
    }
    return log(tg_local_softplus(x) + eps);
}

static double safe_log_slope(double x, double eps)
{
    if (x < FAR_LEFT) {
        const double h = exp(0.5 * x), q = (h / eps) * h;   /* e^x / eps */
        return q == INFINITY ? 1.0 : q / (1.0 + q);
    }
    return tg_local_sigmoid(x) / (tg_local_softplus(x) + eps);
}

static tg_status safe_log_forward(tg_node *n)
{
    return tg__vec_forward(n, tg__vsafe_log, tg__vsafe_log_both);
}

static tg_status safe_log_backward(tg_node *n) { return tg__vec_backward(n, NULL); }

const tg_rule tg__rule_safe_log = {
    .name = "safe_log", .arity = 1, .n_params = 1, .param_names = { "eps" },
    .param_defaults = { 1e-6f }, .infer = tg__infer_param_positive,
    .forward = safe_log_forward, .backward = safe_log_backward,
};

double tg_local_safe_log(double x, double eps)
{
    return tg__positive_finite(eps) ? safe_log(x, eps) : NAN;
}

double tg_local_safe_log_deriv(double x, double eps, tg_point *at)
{
    const int ok = tg__positive_finite(eps);
    if (at)
        *at = ok ? TG_POINT_SMOOTH : TG_POINT_BAD_PARAM;
    return ok ? safe_log_slope(x, eps) : NAN;
}

tg_tensor *tg_safe_log(tg_tape *t, tg_tensor *x, float eps)
{
    return tg_apply(t, &tg__rule_safe_log, &x, 1, &eps);
}
