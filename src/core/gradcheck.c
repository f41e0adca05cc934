/* The gradient checker. The graph's output is reduced to L = <u, f(x)> with a random
 * cotangent u, so one backward sweep gives dL/dx for every element; central
 * differences of L check it element by element, and one difference along a random
 * direction v checks the adjoint identity <J v, u> = <v, J^T u> for the whole Jacobian.
 * Sums are taken in double so that the float32 graph is the only source of error. */
#include <math.h>
#include <string.h>
#include "internal.h"

typedef struct {
    tg_graph_fn f;
    void *ctx;
    tg_tape *tape;
    const float *u;
    size_t n_out;
} objective;

/* L at the current data, or NAN (with the tape's error set) when the graph fails. */
static double eval(objective *o)
{
    tg_tensor *y;
    double L = 0.0;
    tg_tape_reset(o->tape);
    y = o->f(o->tape, o->ctx);
    if (!y || y->size != o->n_out)
        return NAN;
    for (size_t i = 0; i < y->size; i++)
        L += (double)o->u[i] * y->data[i];
    return L;
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
    if (!y && tg_tape_status(o->tape) != TG_OK)
        return tg_tape_status(o->tape);
    if (!y)
        return tg__fail(TG_ERR_STATE, "tg_gradcheck: the graph returned NULL");
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

/* One-sided slopes of L in one element at step h. The step actually taken is the float
 * difference of the moved values, not h, so rounding of x +- h does not bias them. */
static tg_status slopes(objective *o, float *x, double h, double L0, double *fwd, double *bwd)
{
    const float x0 = *x;
    const float xp = (float)(x0 + h), xm = (float)(x0 - h);
    double Lp, Lm;
    *x = xp;
    Lp = eval(o);
    *x = xm;
    Lm = eval(o);
    *x = x0;
    if ((isnan(Lp) || isnan(Lm)) && tg_tape_status(o->tape) != TG_OK)
        return tg_tape_status(o->tape);
    *fwd = (Lp - L0) / ((double)xp - x0);
    *bwd = (L0 - Lm) / ((double)x0 - xm);
    return TG_OK;
}

/* Is x at a kink? For smooth L the one-sided slopes differ by about L'' h, so the gap
 * shrinks eightfold with the step; across a kink it stays the size of the jump. */
static int at_kink(objective *o, float *x, double h, double L0, double gap)
{
    double fwd, bwd;
    if (slopes(o, x, h / 8, L0, &fwd, &bwd) != TG_OK)
        return 0;
    return fabs(fwd - bwd) > 0.5 * fabs(gap);
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

/* Moves every element by +-h v_j at once and compares L(x+hv) - L(x-hv) with
 * <J^T u, step>; orig holds the unmoved values, kink marks elements skipped as kinks. */
static tg_status adjoint(objective *o, tg_pcg32 *rng, tg_tensor *const *wrt, size_t n_wrt,
                         const double *grad, const float *orig, const unsigned char *kink,
                         double h, const tg_gradcheck_opts *op, tg_gradcheck_result *r)
{
    double L[2], rhs = 0.0, scale = 0.0;
    const tg_pcg32 start = *rng;
    for (int side = 0; side < 2; side++) {
        size_t at = 0;
        *rng = start;   /* the same v on both sides */
        for (size_t k = 0; k < n_wrt; k++)
            for (size_t j = 0; j < wrt[k]->size; j++, at++) {
                /* elements on a kink stay put: no derivative exists there */
                const double v = kink[at] ? 0.0 : 2.0 * tg_pcg32_float(rng) - 1.0;
                wrt[k]->data[j] = (float)(orig[at] + (side ? -h : h) * v);
            }
        L[side] = eval(o);
        at = 0;
        for (size_t k = 0; k < n_wrt; k++)
            for (size_t j = 0; j < wrt[k]->size; j++, at++) {
                const double term = grad[at] * ((double)wrt[k]->data[j] - orig[at]);
                rhs += side ? -term : term;
                scale += fabs(term);
                wrt[k]->data[j] = orig[at];
            }
        if (isnan(L[side]) && tg_tape_status(o->tape) != TG_OK)
            return tg_tape_status(o->tape);
    }
    r->adjoint_lhs = (L[0] - L[1]) / (2.0 * h);
    r->adjoint_rhs = rhs / (2.0 * h);
    if (!(fabs(r->adjoint_lhs - r->adjoint_rhs) <= op->atol + op->rtol * scale / (2.0 * h)))
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

/* Per-element central differences over every wrt element; an element that fails is
 * skipped instead when it sits on a kink, where no derivative exists to compare. */
static tg_status elements(objective *o, tg_tensor *const *wrt, size_t n_wrt,
                          const double *grad, unsigned char *kink, double h,
                          const tg_gradcheck_opts *op, tg_gradcheck_result *r)
{
    const double L0 = eval(o);
    size_t at = 0;
    if (isnan(L0) && tg_tape_status(o->tape) != TG_OK)
        return tg_tape_status(o->tape);
    for (size_t k = 0; k < n_wrt; k++)
        for (size_t j = 0; j < wrt[k]->size; j++, at++) {
            double fwd, bwd, numeric;
            const tg_status s = slopes(o, &wrt[k]->data[j], h, L0, &fwd, &bwd);
            if (s != TG_OK)
                return s;
            numeric = 0.5 * (fwd + bwd);
            kink[at] = !(fabs(grad[at] - numeric) <= op->atol + op->rtol * fabs(numeric)) &&
                       at_kink(o, &wrt[k]->data[j], h, L0, fwd - bwd);
            if (kink[at])
                r->skipped++;
            else
                consider(r, op, k, j, grad[at], numeric);
        }
    if (r->worst_excess > 1.0)
        r->pass = 0;
    return TG_OK;
}

tg_status tg_gradcheck(tg_graph_fn f, void *ctx, tg_tensor *const *wrt, size_t n_wrt,
                       const tg_gradcheck_opts *opts, tg_gradcheck_result *res)
{
    tg_gradcheck_opts op = { 0 };
    objective o = { f, ctx, NULL, NULL, 0 };
    tg_pcg32 rng;
    double *grad = NULL;
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
    kink = tg__alloc(total);
    if (!o.tape || !orig || !kink) {
        s = tg__fail(TG_ERR_NOMEM, "tg_gradcheck: out of memory");
        goto done;
    }
    for (size_t k = 0; k < n_wrt; k++)
        for (size_t j = 0; j < wrt[k]->size; j++)
            orig[at++] = wrt[k]->data[j];
    s = analytic(&o, &rng, wrt, n_wrt, &grad, &u);
    if (s == TG_OK)
        s = elements(&o, wrt, n_wrt, grad, kink, op.h, &op, res);
    if (s == TG_OK)
        s = adjoint(&o, &rng, wrt, n_wrt, grad, orig, kink, op.h, &op, res);
done:
    for (size_t k = 0; k < n_wrt; k++)
        tg_zero_grad(wrt[k]);
    tg__free(grad);
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
