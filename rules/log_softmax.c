/* log_softmax along the last axis. For each row x, with m = max_j x_j:
 *     y_i = (x_i - m) - log sum_j exp(x_j - m)      (= x_i - log sum_j exp(x_j))
 *     dx_i = dy_i - softmax(x)_i sum_j dy_j = dy_i - exp(y_i) sum_j dy_j
 * computed as (x_i - m) - log(s) so that no exp overflows and the largest entry's
 * y = -log(s) keeps its accuracy. The infinities follow softmax's limits (softmax.c):
 * a -inf entry gives y_i = -inf and dx_i = dy_i (its softmax weight is 0); one +inf entry
 * gives y = 0 there and -inf elsewhere, dx = dy - e_j sum dy; a row all -inf or with two
 * or more +inf entries is refused with TG_ERR_DOMAIN; NaN makes its row NaN.
 * Backward recovers softmax(x) as exp(y) from the saved float output. */
#include "internal.h"

static tg_status log_softmax_forward(tg_node *n) { return tg__softmax_forward(n, 1); }
static tg_status log_softmax_backward(tg_node *n) { return tg__softmax_backward(n, 1); }

const tg_rule tg__rule_log_softmax = {
    .name = "log_softmax", .arity = 1, .infer = tg__softmax_infer,
    .forward = log_softmax_forward, .backward = log_softmax_backward,
};

tg_status tg_local_log_softmax(size_t n, const double *x, double *y)
{
    const char *why = NULL;
    if (!x || !y)
        return tg__fail(TG_ERR_NULL, "tg_local_log_softmax: x and y must not be NULL");
    if (n == 0)
        return tg__fail(TG_ERR_SIZE, "tg_local_log_softmax: a row needs n >= 1 entries");
    if (tg__softmax_row(n, x, y, 1, &why) != TG_OK)
        return tg__fail(TG_ERR_DOMAIN, "tg_local_log_softmax: %s (n = %zu)", why, n);
    return TG_OK;
}

void tg_local_log_softmax_vjp(size_t n, const double *y, const double *dy, double *dx)
{
    if (tg__local_vjp_ok("tg_local_log_softmax_vjp", n, y, dy, dx))
        tg__softmax_vjp_row(n, y, dy, dx, 1);
}

tg_tensor *tg_log_softmax(tg_tape *t, tg_tensor *x)
{
    return tg_apply(t, &tg__rule_log_softmax, &x, 1, NULL);
}
