/* sum_axis (parameters axis = -1, keepdims = 0): the sum of x along one axis.
 * With x viewed as [outer, n, inner], n the size of the summed axis:
 *     y[o][i] = sum_k x[o][k][i],   dx[o][k][i] += dy[o][i].
 * axis is an integer in [-rank, rank), a negative one counting from the end; keepdims 1
 * keeps the axis with size 1, 0 drops it (so a vector sums to rank 0). Each sum is
 * accumulated in double, as tg__sum_double does, and rounded once. mean_axis shares all
 * of this and divides by n. */
#include <math.h>
#include "internal.h"

tg_status tg__axis_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *x = n->in[0];
    const float axis = n->param[0], keep = n->param[1];
    const float r = (float)x->rank;
    if (x->rank == 0) {
        n->why = "x has no axis to reduce (rank 0)";
        return TG_ERR_SHAPE;
    }
    if (axis != floorf(axis) || axis < -r || axis >= r) {
        n->why = "axis must be an integer in [-rank, rank)";
        return TG_ERR_PARAM;
    }
    if (keep != 0.0f && keep != 1.0f) {
        n->why = "keepdims must be 0 or 1";
        return TG_ERR_PARAM;
    }
    const size_t a = axis < 0 ? (size_t)(axis + r) : (size_t)axis;
    *rank = 0;
    for (size_t i = 0; i < x->rank; i++)
        if (i != a)
            shape[(*rank)++] = x->shape[i];
        else if (keep == 1.0f)
            shape[(*rank)++] = 1;
    return TG_OK;
}

tg__axis_split tg__axis_split_of(const tg_node *n)
{
    const tg_tensor *x = n->in[0];
    const float axis = n->param[0];
    const size_t a = axis < 0 ? (size_t)(axis + (float)x->rank) : (size_t)axis;
    tg__axis_split s = { 1, x->shape[a], 1 };
    for (size_t i = 0; i < a; i++)
        s.outer *= x->shape[i];
    for (size_t i = a + 1; i < x->rank; i++)
        s.inner *= x->shape[i];
    return s;
}

/* One double accumulator per output element of a block of `inner`, so every loop runs
 * along contiguous memory. */
tg_status tg__axis_reduce(tg_node *n, int mean)
{
    const tg__axis_split s = tg__axis_split_of(n);
    const float *x = n->in[0]->data;
    float *y = n->out->data;
    double *acc = tg_node_scratch(n, s.inner * sizeof *acc);
    if (!acc)
        return TG_ERR_NOMEM;
    for (size_t o = 0; o < s.outer; o++) {
        const float *xo = x + o * s.n * s.inner;
        for (size_t i = 0; i < s.inner; i++)
            acc[i] = 0.0;
        for (size_t k = 0; k < s.n; k++)
            for (size_t i = 0; i < s.inner; i++)
                acc[i] += xo[k * s.inner + i];
        for (size_t i = 0; i < s.inner; i++)
            y[o * s.inner + i] = (float)(mean ? acc[i] / (double)s.n : acc[i]);
    }
    return TG_OK;
}

tg_status tg__axis_spread(tg_node *n, int mean)
{
    const tg__axis_split s = tg__axis_split_of(n);
    const float *gy = n->out->grad;
    float *gx = n->in[0]->grad;
    if (!gx)
        return TG_OK;
    for (size_t o = 0; o < s.outer; o++)
        for (size_t k = 0; k < s.n; k++) {
            float *gk = gx + (o * s.n + k) * s.inner;
            const float *go = gy + o * s.inner;
            for (size_t i = 0; i < s.inner; i++)
                gk[i] += mean ? (float)((double)go[i] / (double)s.n) : go[i];
        }
    return TG_OK;
}

static tg_status sum_axis_forward(tg_node *n) { return tg__axis_reduce(n, 0); }
static tg_status sum_axis_backward(tg_node *n) { return tg__axis_spread(n, 0); }

const tg_rule tg__rule_sum_axis = {
    .name = "sum_axis", .arity = 1, .n_params = 2, .param_names = { "axis", "keepdims" },
    .param_defaults = { -1.0f, 0.0f }, .infer = tg__axis_infer,
    .forward = sum_axis_forward, .backward = sum_axis_backward,
};

/* The checks of the local axis functions, which return nothing: a refusal records its
 * message and the function writes nothing. Returns whether to go on. */
int tg__local_axis_ok(const char *who, size_t outer, size_t n, size_t inner, const void *in,
                      const void *out)
{
    int overflow = 0;
    (void)tg__mul_size(tg__mul_size(outer, n, &overflow), inner, &overflow);
    if (overflow) {
        tg__fail(TG_ERR_SIZE, "%s: outer * n * inner = %zu * %zu * %zu overflows size_t", who,
                 outer, n, inner);
        return 0;
    }
    if (outer > 0 && inner > 0 && (!in || !out)) {
        tg__fail(TG_ERR_NULL, "%s: an array is NULL ([%zu, %zu, %zu])", who, outer, n, inner);
        return 0;
    }
    return 1;
}

void tg_local_sum_axis(size_t outer, size_t n, size_t inner, const double *x, double *y)
{
    if (!tg__local_axis_ok("tg_local_sum_axis", outer, n, inner, x, y))
        return;
    for (size_t o = 0; o < outer; o++)
        for (size_t i = 0; i < inner; i++) {
            double s = 0.0;
            for (size_t k = 0; k < n; k++)
                s += x[(o * n + k) * inner + i];
            y[o * inner + i] = s;
        }
}

void tg_local_sum_axis_vjp(size_t outer, size_t n, size_t inner, const double *dy, double *dx)
{
    if (!tg__local_axis_ok("tg_local_sum_axis_vjp", outer, n, inner, dy, dx))
        return;
    for (size_t o = 0; o < outer; o++)
        for (size_t k = 0; k < n; k++)
            for (size_t i = 0; i < inner; i++)
                dx[(o * n + k) * inner + i] = dy[o * inner + i];
}

tg_tensor *tg_sum_axis(tg_tape *t, tg_tensor *x, int axis, int keepdims)
{
    const float p[2] = { (float)axis, (float)keepdims };
    return tg_apply(t, &tg__rule_sum_axis, &x, 1, p);
}
