/* softmax_cross_entropy(logits [B,C], labels [B]) = mean over the batch of
 * logsumexp(logits_b) - logits_b[label_b], rank 0.
 *
 * labels hold class indices as floats; forward refuses any that is not an integer in
 * [0, C) with TG_ERR_DOMAIN. Each row is shifted by its maximum before exp, so no exp
 * overflows and at least one term of the sum is 1 (its log is finite). Forward keeps
 * the softmax probabilities p for backward, as q = p - onehot(label) (per row, in
 * tg_node_scratch): dlogits += dy * q / B.
 * labels get no gradient: they are indices, not a differentiable input. If labels has
 * a gradient buffer anyway, backward leaves it untouched.
 *
 * Non-finite logits follow the limits (docs/rules.md, "softmax_cross_entropy with
 * infinite logits"): +inf logits count as equal to one another and above every finite
 * logit, so the softmax puts 1/k on each of the k of them and 0 elsewhere (a row of all
 * -inf ties all C classes the same way). The row's loss is +inf when the label is not
 * among them, log k when it is (0 for a lone +inf on the label), and its gradient is
 * that softmax minus the one-hot label: finite, pushing the infinite logits down. A
 * NaN logit makes the row's loss and gradient NaN. */
#include <math.h>
#include "internal.h"

static tg_status sce_infer(tg_node *n, size_t *rank, size_t shape[TG_MAX_RANK])
{
    const tg_tensor *logits = n->in[0], *labels = n->in[1];
    (void)shape;
    if (logits->rank != 2) {
        n->why = "logits must be [B,C]";
        return TG_ERR_SHAPE;
    }
    if (labels->rank != 1 || labels->shape[0] != logits->shape[0]) {
        n->why = "labels must be [B], one per row of logits";
        return TG_ERR_SHAPE;
    }
    *rank = 0;
    return TG_OK;
}

/* An integer in [0, C); NaN and infinities fail the comparisons. */
static int valid_label(float v, size_t C)
{
    return v >= 0.0f && (double)v < (double)C && v == floorf(v);
}

/* A row with a NaN, or whose maximum m is infinite (see the top of the file): the
 * logits equal to m are tied and share the softmax, k of them. */
static double row_loss_nonfinite(const float *l, size_t C, size_t y, float m, int nan,
                                 float *q)
{
    size_t k = 0;
    if (nan) {
        for (size_t c = 0; c < C; c++)
            q[c] = NAN;
        return NAN;
    }
    for (size_t c = 0; c < C; c++)
        k += l[c] == m;
    for (size_t c = 0; c < C; c++)
        q[c] = (l[c] == m ? 1.0f / (float)k : 0.0f) - (c == y ? 1.0f : 0.0f);
    return l[y] == m ? log((double)k) : INFINITY;
}

/* One row: writes q = softmax(l) - onehot(y), the row loss's gradient, and returns
 * logsumexp(l) - l[y], in double. 1 - p[y] is summed from the other classes' terms,
 * not subtracted from 1, so it keeps its relative precision when p[y] is near 1. */
static double row_loss(const float *l, size_t C, size_t y, float *q)
{
    float m = l[0];
    int nan = l[0] != l[0];
    for (size_t c = 1; c < C; c++) {
        nan |= l[c] != l[c];
        if (l[c] > m)
            m = l[c];
    }
    if (nan || m - m != 0.0f)   /* m - m is 0 unless m is infinite (or NaN) */
        return row_loss_nonfinite(l, C, y, m, nan, q);
    double s = 0.0, rest = 0.0;
    for (size_t c = 0; c < C; c++) {
        const double e = exp((double)l[c] - (double)m);
        q[c] = (float)e;
        s += e;
        rest += c == y ? 0.0 : e;
    }
    for (size_t c = 0; c < C; c++)
        q[c] = (float)((double)q[c] / s);
    q[y] = (float)(-rest / s);
    /* both terms are >= 0, so the sum has no cancellation (unlike m + log(s) - l[y]) */
    return ((double)m - (double)l[y]) + log(s);
}

static tg_status sce_forward(tg_node *n)
{
    const tg_tensor *logits = n->in[0];
    const float *labels = n->in[1]->data;
    const size_t B = logits->shape[0], C = logits->shape[1];
    for (size_t b = 0; b < B; b++)
        if (!valid_label(labels[b], C)) {
            n->why = "labels must be integers in [0, C)";
            return TG_ERR_DOMAIN;
        }
    /* without an output gradient there is no backward: one row of room is enough */
    const size_t stride = n->out->grad ? C : 0;
    float *q = tg_node_scratch(n, (stride ? logits->size : C) * sizeof(float));
    if (!q)
        return TG_ERR_NOMEM;
    double total = 0.0;
    for (size_t b = 0; b < B; b++)
        total += row_loss(logits->data + b * C, C, (size_t)labels[b], q + b * stride);
    n->saved = q;
    n->out->data[0] = (float)(total / (double)B);
    return TG_OK;
}

/* Reads the q saved by forward, not the labels: a label changed after forward is
 * checked by nobody, and indexing with it could write outside the row. */
static tg_status sce_backward(tg_node *n)
{
    const tg_tensor *logits = n->in[0];
    const float *q = n->saved;
    float *gl = logits->grad;
    const double g = (double)n->out->grad[0] / (double)logits->shape[0];
    if (gl)
        for (size_t i = 0; i < logits->size; i++)
            gl[i] += (float)(g * (double)q[i]);
    return TG_OK;
}

const tg_rule tg__rule_softmax_cross_entropy = {
    .name = "softmax_cross_entropy", .arity = 2, .infer = sce_infer,
    .forward = sce_forward, .backward = sce_backward
};

tg_tensor *tg_softmax_cross_entropy(tg_tape *t, tg_tensor *logits, tg_tensor *labels)
{
    tg_tensor *in[2] = { logits, labels };
    return tg_apply(t, &tg__rule_softmax_cross_entropy, in, 2, NULL);
}
