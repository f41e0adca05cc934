/* softmax along the last axis. For each row x of n entries, with m = max_j x_j:
 *     y_i = exp(x_i - m) / sum_j exp(x_j - m)        (= exp(x_i) / sum_j exp(x_j))
 *     dx_i = y_i (dy_i - <dy, y>)                     (the vector-Jacobian product)
 * Subtracting m keeps every exp <= 1 with one term equal to 1, so nothing overflows and
 * the sum is at least 1. log_softmax (log_softmax.c) shares the row code below.
 *
 * Infinities, decided from the limits:
 *  - a -inf entry contributes exp(-inf) = 0: y_i = 0 and dx_i = 0 (a masked entry);
 *  - one +inf entry x_j: as x_j grows the row tends to e_j (1 at j, 0 elsewhere) and the
 *    Jacobian to 0, so y = e_j and dx = 0;
 *  - every entry -inf: exp(x_i) / sum is 0/0 with no limit; two or more +inf entries:
 *    the limit depends on how fast each grows. Both have no value: forward refuses the
 *    row with TG_ERR_DOMAIN, naming it;
 *  - a NaN entry makes its whole row NaN (and the anomaly mode can catch it).
 * The float rule widens each row to double, runs the double row functions that are also
 * the local API, and rounds once; backward does the same with the saved output. */
#include <math.h>
#include "internal.h"

/* The row's shift m = max x_i (NaN when an entry is NaN); TG_ERR_DOMAIN, with the
 * reason, for a row with no value. */
static tg_status row_max(size_t n, const double *x, double *m, const char **why)
{
    size_t posinf = 0;
    int nan = 0;
    *m = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        nan |= x[i] != x[i];
        posinf += x[i] == INFINITY;
        if (x[i] > *m)
            *m = x[i];
    }
    if (nan) {
        *m = NAN;
        return TG_OK;
    }
    if (*m == -INFINITY) {
        *why = "every entry is -inf, where softmax has no value";
        return TG_ERR_DOMAIN;
    }
    if (posinf > 1) {
        *why = "two or more entries are +inf, where softmax has no limit";
        return TG_ERR_DOMAIN;
    }
    return TG_OK;
}

tg_status tg__softmax_row(size_t n, const double *x, double *y, int log_form, const char **why)
{
    double m, s = 0.0;
    const tg_status st = row_max(n, x, &m, why);
    if (st != TG_OK || m != m) {
        for (size_t i = 0; i < n; i++)
            y[i] = NAN;
        return st;
    }
    if (m == INFINITY) {   /* one +inf entry: the limit e_j (log: 0 at j, -inf elsewhere) */
        for (size_t i = 0; i < n; i++)
            y[i] = x[i] == INFINITY ? (log_form ? 0.0 : 1.0) : (log_form ? -INFINITY : 0.0);
        return TG_OK;
    }
    for (size_t i = 0; i < n; i++) {
        y[i] = exp(x[i] - m);
        s += y[i];
    }
    if (log_form) {
        const double ls = log(s);
        for (size_t i = 0; i < n; i++)
            y[i] = (x[i] - m) - ls;   /* -inf stays -inf */
    } else {
        for (size_t i = 0; i < n; i++)
            y[i] /= s;
    }
    return TG_OK;
}

void tg__softmax_vjp_row(size_t n, const double *y, const double *dy, double *dx, int log_form)
{
    double c = 0.0;   /* <dy, y> for softmax, sum dy for log_softmax */
    for (size_t i = 0; i < n; i++)
        c += log_form ? dy[i] : dy[i] * y[i];
    for (size_t i = 0; i < n; i++)   /* dx may be dy: each dy[i] is read before dx[i] is written */
        dx[i] = log_form ? dy[i] - exp(y[i]) * c : y[i] * (dy[i] - c);
}

tg_status tg__softmax_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    if (n->in[0]->rank == 0) {
        n->why = "x needs a last axis to normalize along (rank >= 1)";
        return TG_ERR_SHAPE;
    }
    return tg_infer_same_shape(n, rank, shape);
}

/* forward of softmax and log_softmax: each row widened to double, the row function,
 * one rounding. The two row buffers stay in node->saved for backward. */
tg_status tg__softmax_forward(tg_node *n, int log_form)
{
    const tg_tensor *x = n->in[0];
    const size_t len = x->shape[x->rank - 1], rows = x->size / len;
    double *buf = tg_node_scratch(n, 2 * len * sizeof *buf);
    if (!buf)
        return TG_ERR_NOMEM;
    n->saved = buf;
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x->data + r * len;
        float *yr = n->out->data + r * len;
        const char *why = NULL;
        for (size_t i = 0; i < len; i++)
            buf[i] = xr[i];
        if (tg__softmax_row(len, buf, buf + len, log_form, &why) != TG_OK) {
            tg__why(n, "row %zu: %s", r, why);
            return TG_ERR_DOMAIN;
        }
        for (size_t i = 0; i < len; i++)
            yr[i] = (float)buf[len + i];
    }
    return TG_OK;
}

/* backward: the vector-Jacobian product of each row from the saved output, in double,
 * added into the gradient with one rounding. */
tg_status tg__softmax_backward(tg_node *n, int log_form)
{
    const size_t len = n->out->shape[n->out->rank - 1], rows = n->out->size / len;
    double *yd = n->saved, *dd = yd + len;
    float *gx = n->in[0]->grad;
    if (!gx)
        return TG_OK;
    for (size_t r = 0; r < rows; r++) {
        const float *yr = n->out->data + r * len, *gr = n->out->grad + r * len;
        float *gxr = gx + r * len;
        for (size_t i = 0; i < len; i++) {
            yd[i] = yr[i];
            dd[i] = gr[i];
        }
        tg__softmax_vjp_row(len, yd, dd, dd, log_form);
        for (size_t i = 0; i < len; i++)
            gxr[i] = (float)((double)gxr[i] + dd[i]);
    }
    return TG_OK;
}

static tg_status softmax_forward(tg_node *n) { return tg__softmax_forward(n, 0); }
static tg_status softmax_backward(tg_node *n) { return tg__softmax_backward(n, 0); }

const tg_rule tg__rule_softmax = { .name = "softmax", .arity = 1, .infer = tg__softmax_infer,
                                   .forward = softmax_forward, .backward = softmax_backward };

tg_status tg_local_softmax(size_t n, const double *x, double *y)
{
    const char *why = NULL;
    if (!x || !y)
        return tg__fail(TG_ERR_NULL, "tg_local_softmax: x and y must not be NULL");
    if (n == 0)
        return tg__fail(TG_ERR_SIZE, "tg_local_softmax: a row needs n >= 1 entries");
    if (tg__softmax_row(n, x, y, 0, &why) != TG_OK)
        return tg__fail(TG_ERR_DOMAIN, "tg_local_softmax: %s (n = %zu)", why, n);
    return TG_OK;
}

/* Nothing to return a status through: a NULL array records its message and nothing is
 * written. Shared with log_softmax's. */
int tg__local_vjp_ok(const char *who, size_t n, const double *y, const double *dy,
                     const double *dx)
{
    if (n > 0 && (!y || !dy || !dx)) {
        tg__fail(TG_ERR_NULL, "%s: y, dy and dx must not be NULL (n = %zu)", who, n);
        return 0;
    }
    return 1;
}

void tg_local_softmax_vjp(size_t n, const double *y, const double *dy, double *dx)
{
    if (tg__local_vjp_ok("tg_local_softmax_vjp", n, y, dy, dx))
        tg__softmax_vjp_row(n, y, dy, dx, 0);
}

tg_tensor *tg_softmax(tg_tape *t, tg_tensor *x)
{
    return tg_apply(t, &tg__rule_softmax, &x, 1, NULL);
}
