/* The gradient checker. The graph's output is reduced to L = <u, f(x)> with a random
 * cotangent u, so one backward sweep gives dL/dx for every element; differences of L
 * check it element by element, and differences along a random direction v check the
 * adjoint identity <J v, u> = <v, J^T u> for the whole Jacobian. Sums are taken in
 * double so that the float32 graph is the only source of error.
 *
 * Kinks. A central difference at step h means nothing when L has a kink within h of
 * the point (relu's 0 anywhere in [x - h, x + h]): it averages the slopes of two
 * pieces. So an element (or the adjoint direction) that fails at h is looked at more
 * closely: the step is halved, down to h / 2^REFINE, until L is smooth between two
 * successive steps, i.e. the four one-sided slopes (forward and backward, at both
 * steps) agree with the tape up to one common error, within the tolerance. For smooth
 * L they differ by about L'' h, which halving shrinks; across a kink they differ by the
 * jump in slope, which stays until the kink falls outside the step. The central
 * difference at the first smooth step decides. A wrong derivative does not hide there:
 * where L is smooth, all four slopes share its error, and the comparison fails. */
#include <math.h>
#include <string.h>
#include "internal.h"

#define REFINE 6   /* halvings of h: steps down to h / 64 */

typedef struct {
    tg_graph_fn f;
    void *ctx;
    tg_tape *tape;
    const float *u;
    size_t n_out;
} objective;

/* Why the graph gave no output: the tape's error, or a graph that returned NULL
 * without one. */
static tg_status graph_failed(const objective *o)
{
    const tg_status s = tg_tape_status(o->tape);
    if (s != TG_OK)
        return tg__fail(s, "%s", tg_tape_error(o->tape));
    return tg__fail(TG_ERR_STATE, "tg_gradcheck: the graph returned NULL without an error "
                    "on its tape");
}

/* L at the current data into *L. */
static tg_status eval(objective *o, double *L)
{
    tg_tensor *y;
    double sum = 0.0;
    tg_tape_reset(o->tape);
    y = o->f(o->tape, o->ctx);
    if (!y)
        return graph_failed(o);
    if (y->size != o->n_out)
        return tg__fail(TG_ERR_SHAPE, "tg_gradcheck: the graph's output changed from %zu to "
                        "%zu elements between calls", o->n_out, y->size);
    for (size_t i = 0; i < y->size; i++)
        sum += (double)o->u[i] * y->data[i];
    *L = sum;
    return TG_OK;
}

static void fill_uniform(tg_pcg32 *rng, float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        v[i] = 2.0f * tg_pcg32_float(rng) - 1.0f;
}

/* First pass: the output size, u, and the tape's gradient J^T u for every wrt element. */
static tg_status analytic(objective *o, tg_pcg32 *rng, tg_tensor *const *wrt, size_t n_wrt,
                          double **grad, float **u)
{
    tg_tensor *y, *seed;
    size_t total = 0;
    tg_status s;
    tg_tape_reset(o->tape);
    y = o->f(o->tape, o->ctx);
    if (!y)
        return graph_failed(o);
    o->n_out = y->size;
    for (size_t k = 0; k < n_wrt; k++)
        total += wrt[k]->size;
    *u = tg__alloc(y->size * sizeof **u);
    *grad = tg__alloc(total * sizeof **grad);
    if (!*u || !*grad)
        return tg__fail(TG_ERR_NOMEM, "tg_gradcheck: out of memory");
    fill_uniform(rng, *u, y->size);
    o->u = *u;
    seed = tg_tape_const(o->tape, y->rank, y->shape);
    if (!seed)
        return tg_tape_status(o->tape);
    memcpy(seed->data, *u, y->size * sizeof(float));
    for (size_t k = 0; k < n_wrt; k++)
        tg_zero_grad(wrt[k]);
    s = tg_backward(o->tape, y, seed);
    if (s != TG_OK)
        return s;
    total = 0;
    for (size_t k = 0; k < n_wrt; k++) {
        for (size_t j = 0; j < wrt[k]->size; j++)
            (*grad)[total + j] = wrt[k]->grad[j];
        total += wrt[k]->size;
        tg_zero_grad(wrt[k]);
    }
    return TG_OK;
}

/* A line through the point: one element (dir NULL), or every element along dir. */
typedef struct {
    tg_tensor *const *wrt;
    size_t n_wrt;
    const float *orig;    /* the point: every wrt element, in order */
    const double *grad;   /* the tape's J^T u there, in the same order */
    const double *dir;    /* the adjoint test's direction v, or NULL */
    size_t k, j, at;      /* with dir NULL: tensor, index and flat index of the element */
} line;

/* The slopes of L (*num) and of the tape's linear model (*an) over the step from the
 * point to point + s dir, and the size of the model's terms (*mag, for the adjoint's
 * tolerance). The step is the one the float data actually took, so the rounding of
 * x + s biases nothing; an element step that rounds to nothing gives NaN. */
static tg_status side(objective *o, const line *ln, double L0, double s, double *num,
                      double *an, double *mag)
{
    double L, dot = 0.0, size = 0.0;
    tg_status st;
    if (!ln->dir) {
        float *x = &ln->wrt[ln->k]->data[ln->j];
        const float x0 = ln->orig[ln->at];
        double step;
        *x = (float)(x0 + s);
        step = (double)*x - x0;
        st = eval(o, &L);
        *x = x0;
        if (st != TG_OK)
            return st;
        *num = step != 0.0 ? (L - L0) / step : NAN;
        *an = ln->grad[ln->at];
        *mag = fabs(*an);
        return TG_OK;
    }
    for (size_t k = 0, at = 0; k < ln->n_wrt; k++)
        for (size_t j = 0; j < ln->wrt[k]->size; j++, at++) {
            const float moved = (float)(ln->orig[at] + s * ln->dir[at]);
            const double term = ln->grad[at] * ((double)moved - ln->orig[at]);
            ln->wrt[k]->data[j] = moved;
            dot += term;
            size += fabs(term);
        }
    st = eval(o, &L);
    for (size_t k = 0, at = 0; k < ln->n_wrt; k++)
        for (size_t j = 0; j < ln->wrt[k]->size; j++, at++)
            ln->wrt[k]->data[j] = ln->orig[at];
    if (st != TG_OK)
        return st;
    *num = (L - L0) / s;
    *an = dot / s;
    *mag = size / fabs(s);
    return TG_OK;
}

/* Differences at one step h: central slopes, one-sided errors and the tolerance. */
typedef struct {
    double num, an;   /* central slopes: of L, and of the tape's model */
    double ef, eb;    /* one-sided errors (L's slope - the model's), forward and backward */
    double tol;       /* atol + rtol * scale */
} probe;

static tg_status probe_at(objective *o, const line *ln, double L0, double h,
                          const tg_gradcheck_opts *op, probe *p)
{
    double nf, af, mf, nb, ab, mb;
    tg_status st = side(o, ln, L0, h, &nf, &af, &mf);
    if (st == TG_OK)
        st = side(o, ln, L0, -h, &nb, &ab, &mb);
    if (st != TG_OK)
        return st;
    p->num = 0.5 * (nf + nb);
    p->an = 0.5 * (af + ab);
    p->ef = nf - af;
    p->eb = nb - ab;
    /* elements: relative to the difference, as always; the adjoint: to its terms */
    p->tol = op->atol + op->rtol * (ln->dir ? 0.5 * (mf + mb) : fabs(p->num));
    return TG_OK;
}

static int agrees(const probe *p) { return fabs(p->num - p->an) <= p->tol; }

/* The comparison along one line (see the top of the file). *p receives the probe that
 * decides; *kinked: L is not smooth within h; *compared: 0 when no step down to
 * h / 2^REFINE is smooth (the point is on a kink, or as good as on one). */
static tg_status verdict(objective *o, const line *ln, double L0, double h,
                         const tg_gradcheck_opts *op, probe *p, int *kinked, int *compared)
{
    tg_status st = probe_at(o, ln, L0, h, op, p);
    *kinked = 0;
    *compared = 1;
    if (st != TG_OK || agrees(p) || !isfinite(p->an))   /* a non-finite gradient fails */
        return st;
    for (int k = 0; k < REFINE; k++, h *= 0.5) {
        probe q;
        double lo, hi;
        st = probe_at(o, ln, L0, 0.5 * h, op, &q);
        if (st != TG_OK)
            return st;
        lo = fmin(fmin(p->ef, p->eb), fmin(q.ef, q.eb));
        hi = fmax(fmax(p->ef, p->eb), fmax(q.ef, q.eb));
        /* fmin/fmax drop NaN: a NaN slope (a step lost to rounding, L undefined
         * there) must count as not smooth */
        if (hi - lo <= fmin(p->tol, q.tol) && !isnan(p->ef + p->eb + q.ef + q.eb)) {
            *kinked = k > 0;   /* smooth already at h: the failure at h stands */
            return TG_OK;
        }
        *p = q;
    }
    *kinked = 1;
    *compared = 0;
    return TG_OK;
}

static void consider(tg_gradcheck_result *r, const tg_gradcheck_opts *op, size_t k, size_t j,
                     double a, double n)
{
    double excess = fabs(a - n) / (op->atol + op->rtol * fabs(n));
    if (isnan(excess))
        excess = INFINITY;
    if (r->checked++ == 0 || excess > r->worst_excess) {
        r->worst_excess = excess;
        r->worst_wrt = k;
        r->worst_index = j;
        r->worst_analytic = a;
        r->worst_numeric = n;
    }
}

/* Every wrt element along its own axis. An element where L is not smooth within h is
 * counted as skipped, unless it is smooth at a finer step and fails there; kink marks
 * the skipped ones, which the adjoint test then leaves in place. */
static tg_status elements(objective *o, tg_tensor *const *wrt, size_t n_wrt,
                          const float *orig, const double *grad, double L0,
                          unsigned char *kink, const tg_gradcheck_opts *op,
                          tg_gradcheck_result *r)
{
    size_t at = 0;
    for (size_t k = 0; k < n_wrt; k++)
        for (size_t j = 0; j < wrt[k]->size; j++, at++) {
            const line ln = { wrt, n_wrt, orig, grad, NULL, k, j, at };
            probe p;
            int kinked, compared;
            const tg_status s = verdict(o, &ln, L0, op->h, op, &p, &kinked, &compared);
            if (s != TG_OK)
                return s;
            kink[at] = (unsigned char)kinked;
            if (!compared || (kinked && agrees(&p)))
                r->skipped++;
            else
                consider(r, op, k, j, p.an, p.num);
        }
    if (r->worst_excess > 1.0)
        r->pass = 0;
    return TG_OK;
}

/* Moves every element not marked as a kink along a random direction v at once and
 * compares the difference of L with <J^T u, step>, refining the step as for elements. */
static tg_status adjoint(objective *o, tg_pcg32 *rng, tg_tensor *const *wrt, size_t n_wrt,
                         const float *orig, const double *grad, double L0,
                         const unsigned char *kink, double *dir, const tg_gradcheck_opts *op,
                         tg_gradcheck_result *r)
{
    size_t total = 0;
    line ln;
    probe p;
    int kinked, compared;
    tg_status s;
    for (size_t k = 0; k < n_wrt; k++)
        total += wrt[k]->size;
    for (size_t at = 0; at < total; at++)   /* elements on a kink stay put */
        dir[at] = kink[at] ? 0.0 : 2.0 * tg_pcg32_float(rng) - 1.0;
    ln = (line){ wrt, n_wrt, orig, grad, dir, 0, 0, 0 };
    s = verdict(o, &ln, L0, op->h, op, &p, &kinked, &compared);
    if (s != TG_OK)
        return s;
    r->adjoint_lhs = p.num;
    r->adjoint_rhs = p.an;
    r->adjoint_skipped = !compared;
    if (compared && !agrees(&p))
        r->pass = 0;
    return TG_OK;
}

static tg_status check_args(tg_graph_fn f, tg_tensor *const *wrt, size_t n_wrt,
                            tg_gradcheck_result *res)
{
    if (!f || !wrt || !res)
        return tg__fail(TG_ERR_NULL, "tg_gradcheck: graph, wrt and result must not be NULL");
    if (n_wrt == 0)
        return tg__fail(TG_ERR_ARITY, "tg_gradcheck: nothing to check (n_wrt is 0)");
    for (size_t k = 0; k < n_wrt; k++) {
        if (!wrt[k])
            return tg__fail(TG_ERR_NULL, "tg_gradcheck: wrt[%zu] is NULL", k);
        if (!wrt[k]->grad)
            return tg__fail(TG_ERR_STATE, "tg_gradcheck: wrt[%zu] has no gradient", k);
    }
    return TG_OK;
}

/* L at the unmoved point: it must be finite, or no difference means anything. */
static tg_status base_value(objective *o, double *L0)
{
    const tg_status s = eval(o, L0);
    if (s == TG_OK && !isfinite(*L0))
        return tg__fail(TG_ERR_DOMAIN, "tg_gradcheck: the graph's value at the point is not "
                        "finite (<u, f(x)> = %g): nothing to compare", *L0);
    return s;
}

tg_status tg_gradcheck(tg_graph_fn f, void *ctx, tg_tensor *const *wrt, size_t n_wrt,
                       const tg_gradcheck_opts *opts, tg_gradcheck_result *res)
{
    tg_gradcheck_opts op = { 0 };
    objective o = { f, ctx, NULL, NULL, 0 };
    tg_pcg32 rng;
    double *grad = NULL, *dir = NULL, L0 = 0.0;
    float *u = NULL, *orig = NULL;
    unsigned char *kink = NULL;
    size_t total = 0, at = 0;
    tg_status s = check_args(f, wrt, n_wrt, res);
    if (s != TG_OK)
        return s;
    if (opts)
        op = *opts;
    op.h = op.h > 0 ? op.h : 1e-2;
    op.rtol = op.rtol > 0 ? op.rtol : 2e-2;
    op.atol = op.atol > 0 ? op.atol : 2e-3;
    memset(res, 0, sizeof *res);
    res->pass = 1;
    tg_pcg32_seed(&rng, op.seed, 0x9e3779b97f4a7c15ULL);
    for (size_t k = 0; k < n_wrt; k++)
        total += wrt[k]->size;
    o.tape = tg_tape_new();
    orig = tg__alloc(total * sizeof *orig);
    dir = tg__alloc(total * sizeof *dir);
    kink = tg__alloc(total);
    if (!o.tape || !orig || !dir || !kink) {
        s = tg__fail(TG_ERR_NOMEM, "tg_gradcheck: out of memory");
        goto done;
    }
    for (size_t k = 0; k < n_wrt; k++)
        for (size_t j = 0; j < wrt[k]->size; j++)
            orig[at++] = wrt[k]->data[j];
    s = analytic(&o, &rng, wrt, n_wrt, &grad, &u);
    if (s == TG_OK)
        s = base_value(&o, &L0);
    if (s == TG_OK)
        s = elements(&o, wrt, n_wrt, orig, grad, L0, kink, &op, res);
    if (s == TG_OK)
        s = adjoint(&o, &rng, wrt, n_wrt, orig, grad, L0, kink, dir, &op, res);
done:
    for (size_t k = 0; k < n_wrt; k++)
        tg_zero_grad(wrt[k]);
    tg__free(grad);
    tg__free(dir);
    tg__free(u);
    tg__free(orig);
    tg__free(kink);
    tg_tape_free(o.tape);
    return s;
}

typedef struct {
    const tg_rule *rule;
    tg_tensor *const *inputs;
    size_t n;
    const float *params;
} rule_graph;

static tg_tensor *apply_rule(tg_tape *tape, void *ctx)
{
    const rule_graph *g = ctx;
    return tg_apply(tape, g->rule, g->inputs, g->n, g->params);
}

tg_status tg_gradcheck_rule(const tg_rule *rule, tg_tensor *const *inputs, size_t n,
                            const float *params, const tg_gradcheck_opts *opts,
                            tg_gradcheck_result *res)
{
    rule_graph g = { rule, inputs, n, params };
    tg_tensor *wrt[TG_MAX_ARITY];
    size_t n_wrt = 0;
    if (!rule || !inputs)
        return tg__fail(TG_ERR_NULL, "tg_gradcheck_rule: rule and inputs must not be NULL");
    if (!rule->name || rule->arity > TG_MAX_ARITY)   /* tg_apply names the rest */
        return tg__fail(rule->name ? TG_ERR_ARITY : TG_ERR_NULL,
                        "tg_gradcheck_rule: the rule has no name or more than %d inputs",
                        TG_MAX_ARITY);
    if (n != rule->arity)
        return tg__fail(TG_ERR_ARITY, "tg_gradcheck_rule: %s takes %zu inputs, got %zu",
                        rule->name, rule->arity, n);
    for (size_t i = 0; i < n; i++) {
        if (!inputs[i])
            return tg__fail(TG_ERR_NULL, "tg_gradcheck_rule: %s: input %zu is NULL",
                            rule->name, i);
        if (inputs[i]->grad)
            wrt[n_wrt++] = inputs[i];
    }
    if (n_wrt == 0)
        return tg__fail(TG_ERR_STATE, "tg_gradcheck_rule: %s: no input has a gradient",
                        rule->name);
    return tg_gradcheck(apply_rule, &g, wrt, n_wrt, opts, res);
}
