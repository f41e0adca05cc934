/* mean_axis (parameters axis = -1, keepdims = 0): the mean of x along one axis,
 *     y[o][i] = (1/n) sum_k x[o][k][i],   dx[o][k][i] += dy[o][i] / n,
 * with the axes, parameters and double accumulation of sum_axis (sum_axis.c); the sum
 * is divided by n once, in double, as mean does. */
#include "internal.h"

static tg_status mean_axis_forward(tg_node *n) { return tg__axis_reduce(n, 1); }
static tg_status mean_axis_backward(tg_node *n) { return tg__axis_spread(n, 1); }

const tg_rule tg__rule_mean_axis = {
    .name = "mean_axis", .arity = 1, .n_params = 2, .param_names = { "axis", "keepdims" },
    .param_defaults = { -1.0f, 0.0f }, .infer = tg__axis_infer,
    .forward = mean_axis_forward, .backward = mean_axis_backward,
};

/* The mean of no entries (n = 0) is 0/0: NaN is written, and the message says why. */
void tg_local_mean_axis(size_t outer, size_t n, size_t inner, const double *x, double *y)
{
    if (!tg__local_axis_ok("tg_local_mean_axis", outer, n, inner, x, y))
        return;
    if (n == 0)
        tg__fail(TG_ERR_SIZE, "tg_local_mean_axis: the mean over n = 0 entries is NaN");
    tg_local_sum_axis(outer, n, inner, x, y);
    for (size_t i = 0; i < outer * inner; i++)
        y[i] /= (double)n;
}

void tg_local_mean_axis_vjp(size_t outer, size_t n, size_t inner, const double *dy, double *dx)
{
    if (!tg__local_axis_ok("tg_local_mean_axis_vjp", outer, n, inner, dy, dx))
        return;
    tg_local_sum_axis_vjp(outer, n, inner, dy, dx);
    for (size_t i = 0; i < outer * n * inner; i++)
        dx[i] /= (double)n;
}

tg_tensor *tg_mean_axis(tg_tape *t, tg_tensor *x, int axis, int keepdims)
{
    const float p[2] = { (float)axis, (float)keepdims };
    return tg_apply(t, &tg__rule_mean_axis, &x, 1, p);
}
