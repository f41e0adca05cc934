/* Can the tape be trusted? Two independent computations of one derivative must agree:
 *
 *  1. Every elementwise rule: the float32 derivative the tape leaves in x->grad after
 *     tg_backward (seeded with 1 per element) against the rule's double-precision local
 *     function (tapegrad/local.h) rounded to float, on a sweep through the awkward
 *     points: +-0, the kinks, tiny and subnormal inputs, huge ones, saturation, +-inf,
 *     NaN, and every binade. The bound is docs/accuracy.md's: 4 ULP.
 *  2. A whole model: the gradient of a 3-5-4-2 tanh MLP with a softmax cross-entropy
 *     from the tape, against the chain of local functions composed by hand in double
 *     (tg_local_log_softmax_vjp, tg_local_linear_grad_*, tg_local_tanh_deriv).
 *
 * It prints both tables and exits with status 1 if any bound is exceeded, so `make
 * check` runs it as a test (tests/examples_smoke.sh). Public API only. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

#define MAX_ULP 4u   /* docs/accuracy.md: the bound for every float32 value and derivative */

/* ---- 1. elementwise rules ------------------------------------------------------------ */

/* A rule's local pair, with its parameter (the rule's default) passed as p. */
typedef struct {
    const char *name;
    double (*value)(double x, double p);
    double (*deriv)(double x, double p, tg_point *at);
} local_pair;

/* Adapters giving the parameter-free local functions the two-argument form. */
#define NO_PARAM(f)                                                                        \
    static double f##_v(double x, double p) { (void)p; return tg_local_##f(x); }           \
    static double f##_d(double x, double p, tg_point *at) { (void)p; return tg_local_##f##_deriv(x, at); }
NO_PARAM(relu)
NO_PARAM(sigmoid)
NO_PARAM(tanh)
NO_PARAM(gelu)
NO_PARAM(gelu_erf)
NO_PARAM(softplus)
NO_PARAM(silu)
NO_PARAM(exp)
NO_PARAM(log)
NO_PARAM(sqrt)
NO_PARAM(square)
NO_PARAM(neg)

static const local_pair pairs[] = {
    { "relu", relu_v, relu_d },
    { "leaky_relu", tg_local_leaky_relu, tg_local_leaky_relu_deriv },
    { "elu", tg_local_elu, tg_local_elu_deriv },
    { "sigmoid", sigmoid_v, sigmoid_d },
    { "tanh", tanh_v, tanh_d },
    { "gelu", gelu_v, gelu_d },
    { "gelu_erf", gelu_erf_v, gelu_erf_d },
    { "softplus", softplus_v, softplus_d },
    { "silu", silu_v, silu_d },
    { "safe_log", tg_local_safe_log, tg_local_safe_log_deriv },
    { "smooth_abs", tg_local_smooth_abs, tg_local_smooth_abs_deriv },
    { "exp", exp_v, exp_d },
    { "log", log_v, log_d },
    { "sqrt", sqrt_v, sqrt_d },
    { "square", square_v, square_d },
    { "neg", neg_v, neg_d },
};
enum { N_PAIRS = sizeof pairs / sizeof pairs[0] };

static const local_pair *find_pair(const char *name)
{
    for (size_t i = 0; i < N_PAIRS; i++)
        if (strcmp(pairs[i].name, name) == 0)
            return &pairs[i];
    return NULL;
}

/* The awkward points; the sweep adds a grid and every binade (make_sweep). */
static const float awkward[] = {
    0.0f, -0.0f,                              /* the kinks of relu, leaky_relu, elu */
    1e-30f, -1e-30f, 1e-40f, -1e-40f,         /* tiny; 1e-40 is subnormal */
    FLT_TRUE_MIN, -FLT_TRUE_MIN, FLT_MIN, -FLT_MIN,
    1e-7f, -1e-7f, 0.5f, -0.5f, 1.0f, -1.0f,
    20.0f, -20.0f, 100.0f, -100.0f,           /* saturation */
    1e30f, -1e30f, FLT_MAX, -FLT_MAX,         /* huge */
    INFINITY, -INFINITY, NAN,
};
enum { N_AWKWARD = sizeof awkward / sizeof awkward[0], N_GRID = 2001, N_BINADES = 2 * 277,
       MAX_POINTS = N_AWKWARD + N_GRID + N_BINADES };

/* The awkward points, a grid of step 0.01 on [-10, 10], and 1.37 * 2^e for every
 * binade e = -149 .. 127, both signs (subnormals included). Returns the count. */
static size_t make_sweep(float *x)
{
    size_t n = 0;
    for (size_t i = 0; i < N_AWKWARD; i++)
        x[n++] = awkward[i];
    for (int i = 0; i < N_GRID; i++)
        x[n++] = (float)(-10.0 + 0.01 * i);
    for (int e = -149; e <= 127; e++) {
        x[n++] = ldexpf(1.37f, e);
        x[n++] = -ldexpf(1.37f, e);
    }
    return n;
}

/* Distance in representable floats (+0 and -0 are one point, subnormals count). Two
 * NaNs, or two equal infinities, agree; NaN or infinity against anything else is
 * UINT64_MAX, a failure whatever the bound. */
static uint64_t ulp_diff(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) ? 0 : UINT64_MAX;
    if (isinf(a) || isinf(b))
        return a == b ? 0 : UINT64_MAX;
    int32_t ia, ib;
    memcpy(&ia, &a, sizeof ia);
    memcpy(&ib, &b, sizeof ib);
    const int64_t oa = ia < 0 ? -(int64_t)(ia & 0x7fffffff) : ia;   /* ordered integers */
    const int64_t ob = ib < 0 ? -(int64_t)(ib & 0x7fffffff) : ib;
    return (uint64_t)(oa > ob ? oa - ob : ob - oa);
}

typedef struct {
    size_t points, outside;        /* compared; dropped as outside the rule's domain */
    uint64_t ulp_value, ulp_deriv; /* largest distances */
    float worst_x;                 /* where the derivative's largest distance is */
    size_t kinks_tape, kinks_local;
} rule_row;

/* Keeps the points inside the rule's domain: the local derivative flags the others
 * TG_POINT_BAD_PARAM (the tape refuses them, as log and sqrt refuse x < 0). */
static size_t in_domain(const local_pair *lp, double p, const float *x, size_t n, float *kept)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        tg_point at;
        lp->deriv(x[i], p, &at);
        if (at != TG_POINT_BAD_PARAM)
            kept[k++] = x[i];
    }
    return k;
}

/* x as a parameter, y = rule(x), one backward sweep with a seed of ones: x->grad then
 * holds f'(x) per element, exactly (the gradient starts at 0 and is multiplied by 1). */
static tg_status tape_derivative(const tg_rule *rule, const float *x, size_t n, float *value,
                                 float *deriv, size_t *kinks)
{
    tg_tape *tape = tg_tape_new();
    tg_tensor *xt = tg_tensor_new(TG_PARAM, 1, &n), *seed = tg_tensor_new(TG_CONST, 1, &n);
    tg_status s = tape && xt && seed ? TG_OK : tg_last_status();
    tg_tensor *y = NULL;
    if (s == TG_OK) {
        memcpy(xt->data, x, n * sizeof *x);
        for (size_t i = 0; i < n; i++)
            seed->data[i] = 1.0f;
        y = tg_apply(tape, rule, &xt, 1, NULL);   /* NULL: the rule's default parameters */
        s = y ? tg_backward(tape, y, seed) : tg_tape_status(tape);
    }
    if (s == TG_OK) {
        memcpy(value, y->data, n * sizeof *value);
        memcpy(deriv, xt->grad, n * sizeof *deriv);
        *kinks = tg_tape_kinks(tape);
    }
    tg_tensor_free(xt);
    tg_tensor_free(seed);
    tg_tape_free(tape);
    return s;
}

static tg_status measure_rule(const tg_rule *rule, const local_pair *lp, const float *sweep,
                              size_t n_sweep, rule_row *row)
{
    static float x[MAX_POINTS], value[MAX_POINTS], deriv[MAX_POINTS];
    /* the kernel sees the float default; the reference gets exactly that value */
    const double p = rule->n_params ? (double)rule->param_defaults[0] : 0.0;
    const size_t n = in_domain(lp, p, sweep, n_sweep, x);
    tg_status s;
    memset(row, 0, sizeof *row);
    row->points = n;
    row->outside = n_sweep - n;
    if ((s = tape_derivative(rule, x, n, value, deriv, &row->kinks_tape)) != TG_OK)
        return s;
    for (size_t i = 0; i < n; i++) {
        tg_point at;
        const float want_d = (float)lp->deriv(x[i], p, &at);
        const uint64_t uv = ulp_diff(value[i], (float)lp->value(x[i], p));
        const uint64_t ud = ulp_diff(deriv[i], want_d);
        row->kinks_local += at == TG_POINT_KINK;
        if (uv > row->ulp_value)
            row->ulp_value = uv;
        if (ud > row->ulp_deriv) {
            row->ulp_deriv = ud;
            row->worst_x = x[i];
        }
    }
    return TG_OK;
}

static void print_ulp(uint64_t u)
{
    if (u == UINT64_MAX)
        printf(" %9s", "mismatch");
    else
        printf(" %9llu", (unsigned long long)u);
}

/* The table over every registered rule of arity 1 that has a local pair; returns the
 * number of rules over a bound or whose kinks disagree. */
static int elementwise_table(void)
{
    static float sweep[MAX_POINTS];
    const size_t n_sweep = make_sweep(sweep);
    int failures = 0;
    printf("1. Elementwise rules: tape (float32, through tg_backward) against local (double),\n"
           "   %zu sweep points per rule, bound %u ULP\n\n", n_sweep, MAX_ULP);
    printf("%-11s %6s %7s %9s %9s %13s %12s  %s\n", "rule", "points", "outside", "value ULP",
           "deriv ULP", "worst deriv x", "kinks tape", "local");
    for (size_t i = 0; i < tg_rule_count(); i++) {
        const tg_rule *r = tg_rule_at(i);
        const local_pair *lp = r->arity == 1 ? find_pair(r->name) : NULL;
        rule_row row;
        if (!lp)
            continue;
        if (measure_rule(r, lp, sweep, n_sweep, &row) != TG_OK) {
            printf("%-11s the tape refused the sweep: %s\n", r->name, tg_last_error());
            failures++;
            continue;
        }
        printf("%-11s %6zu %7zu", r->name, row.points, row.outside);
        print_ulp(row.ulp_value);
        print_ulp(row.ulp_deriv);
        if (row.ulp_deriv > 0)
            printf(" %13.6g", (double)row.worst_x);
        else
            printf(" %13s", "-");
        printf(" %12zu  %zu\n", row.kinks_tape, row.kinks_local);
        failures += row.ulp_value > MAX_ULP || row.ulp_deriv > MAX_ULP ||
                    row.kinks_tape != row.kinks_local;
    }
    return failures;
}

/* Explains the columns and names the arity-1 rules the table leaves out: they have no
 * scalar local pair. */
static void print_notes(void)
{
    printf("\n   outside: points outside the rule's domain (log, sqrt: x < 0), which the tape\n"
           "   refuses; kinks: elements tg_tape_kinks counted, and where the local function\n"
           "   says TG_POINT_KINK. Arity-1 rules without a tg_local_* pair, not in the table:\n  ");
    for (size_t i = 0; i < tg_rule_count(); i++) {
        const tg_rule *r = tg_rule_at(i);
        if (r->arity == 1 && !find_pair(r->name))
            printf(" %s", r->name);
    }
    printf("\n\n");
}

/* ---- 2. a whole MLP ----------------------------------------------------------------- */

enum { BATCH = 8, N_LAYERS = 3, WIDEST = 5 };
static const size_t sizes[N_LAYERS + 1] = { 3, 5, 4, 2 };

/* Tolerance, relative to each tensor's largest gradient entry. The tape's float32
 * gradient of the first layer passes through about 60 rounded operations on its
 * longest path (three dot products of up to 5 terms forward and back, two tanh and
 * their derivatives, the softmax, the sum over 8 samples); first-order error analysis
 * bounds the error by gamma_60 = 60 u (u = 2^-24, so 3.6e-6) times the ratio of the sum
 * of magnitudes to the result, a few units for these well-scaled random weights.
 * 2^-15 = 3.1e-5 is 512 u; a wrong rule (a missing term, a transposed weight) is off by
 * order 1. */
#define MLP_TOL 0x1p-15

typedef struct {
    double W[N_LAYERS][WIDEST * WIDEST], b[N_LAYERS][WIDEST];
} mlp_grads;

/* The local chain for one sample: the forward pass in double, the loss
 * -log_softmax(z)[label] / BATCH (the mean over the batch), its gradient from
 * tg_local_log_softmax_vjp, pulled back through each layer with tg_local_linear_grad_*
 * and tanh' (tg_local_tanh_deriv). */
static tg_status local_chain_sample(const tg_mlp *net, const float *x, size_t label,
                                    mlp_grads *g)
{
    double a[N_LAYERS + 1][WIDEST], z[N_LAYERS][WIDEST], W[WIDEST * WIDEST];
    double d[WIDEST], dW[WIDEST * WIDEST], db[WIDEST], da[WIDEST], ls[WIDEST], dls[WIDEST];
    const size_t C = sizes[N_LAYERS];
    for (size_t j = 0; j < sizes[0]; j++)
        a[0][j] = x[j];
    for (size_t l = 0; l < N_LAYERS; l++) {          /* forward */
        const tg_dense *L = &net->layer[l];
        for (size_t o = 0; o < L->out; o++) {
            z[l][o] = L->b->data[o];
            for (size_t i = 0; i < L->in; i++)
                z[l][o] += (double)L->W->data[o * L->in + i] * a[l][i];
            a[l + 1][o] = l + 1 < N_LAYERS ? tg_local_tanh(z[l][o]) : z[l][o];
        }
    }
    const tg_status s = tg_local_log_softmax(C, z[N_LAYERS - 1], ls);
    if (s != TG_OK)
        return s;
    for (size_t c = 0; c < C; c++)                   /* d loss / d log_softmax */
        dls[c] = c == label ? -1.0 / BATCH : 0.0;
    tg_local_log_softmax_vjp(C, ls, dls, d);
    for (size_t l = N_LAYERS; l-- > 0;) {            /* backward */
        const tg_dense *L = &net->layer[l];
        for (size_t k = 0; k < L->out * L->in; k++)
            W[k] = L->W->data[k];
        tg_local_linear_grad_weight(L->out, L->in, d, a[l], dW);
        tg_local_linear_grad_bias(L->out, d, db);
        tg_local_linear_grad_input(L->out, L->in, W, d, da);
        for (size_t k = 0; k < L->out * L->in; k++)
            g->W[l][k] += dW[k];
        for (size_t k = 0; k < L->out; k++)
            g->b[l][k] += db[k];
        for (size_t i = 0; l > 0 && i < L->in; i++)  /* through the tanh before layer l */
            d[i] = da[i] * tg_local_tanh_deriv(z[l - 1][i], NULL);
    }
    return TG_OK;
}

/* max |got - want| / max |want| over one tensor. */
static double rel_diff(const float *got, const double *want, size_t n)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs(got[i] - want[i]));
        scale = fmax(scale, fabs(want[i]));
    }
    return scale > 0.0 ? diff / scale : diff;
}

static int compare_tensor(const char *name, const tg_tensor *t, const double *want)
{
    const double r = rel_diff(t->grad, want, t->size);
    printf("%-14s %7zu %16.3e %s\n", name, t->size, r, r <= MLP_TOL ? "ok" : "OVER THE BOUND");
    return r > MLP_TOL;
}

/* The MLP, a random batch, the tape's gradient and the local chain's; returns the
 * number of tensors over the bound, or -1 if the tape failed. */
static int mlp_table(void)
{
    tg_pcg32 rng;
    tg_mlp net;
    mlp_grads g;
    tg_params *ps = tg_params_new();
    tg_tape *tape = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_CONST, 2, (size_t[]){ BATCH, sizes[0] });
    tg_tensor *labels = tg_tensor_new(TG_CONST, 1, (size_t[]){ BATCH });
    tg_tensor *loss = NULL;
    int failures = -1;
    tg_pcg32_seed(&rng, 2024, 5);
    if (ps && tape && x && labels &&
        tg_mlp_init(&net, ps, "net", sizes, N_LAYERS + 1, tg_rule_find("tanh"), NULL, &rng) == TG_OK) {
        for (size_t i = 0; i < x->size; i++)
            x->data[i] = 4.0f * tg_pcg32_float(&rng) - 2.0f;            /* U[-2, 2) */
        for (size_t i = 0; i < BATCH; i++)
            labels->data[i] = (float)tg_pcg32_bounded(&rng, (uint32_t)sizes[N_LAYERS]);
        loss = tg_softmax_cross_entropy(tape, tg_mlp_forward(tape, &net, x), labels);
    }
    tg_status st = loss ? tg_backward(tape, loss, NULL) : tg_last_status();
    memset(&g, 0, sizeof g);
    for (size_t s = 0; st == TG_OK && s < BATCH; s++)
        st = local_chain_sample(&net, &x->data[s * sizes[0]], (size_t)labels->data[s], &g);
    if (st == TG_OK) {
        printf("2. The gradient of a 3-5-4-2 tanh MLP with softmax cross-entropy, batch %d:\n"
               "   tape (float32) against the local chain (double), bound %.2g relative to\n"
               "   each tensor's largest entry\n\n", BATCH, MLP_TOL);
        printf("%-14s %7s %16s\n", "parameter", "entries", "max rel. diff");
        failures = 0;
        for (size_t l = 0; l < N_LAYERS; l++) {
            failures += compare_tensor(tg_params_name(ps, 2 * l), net.layer[l].W, g.W[l]);
            failures += compare_tensor(tg_params_name(ps, 2 * l + 1), net.layer[l].b, g.b[l]);
        }
    } else {
        fprintf(stderr, "tape_vs_local: the MLP failed: %s (%s)\n", tg_last_error(),
                tg_strerror(st));
    }
    tg_tensor_free(x);
    tg_tensor_free(labels);
    tg_tape_free(tape);
    tg_params_free(ps);
    return failures;
}

int main(void)
{
    const int bad_rules = elementwise_table();
    print_notes();
    const int bad_mlp = mlp_table();
    const int ok = bad_rules == 0 && bad_mlp == 0;
    printf("\n%s\n", ok ? "all within bounds" : "FAILED: see the rows above");
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
