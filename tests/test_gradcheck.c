/* The gradient checker: it passes every registered rule, and it catches a wrong one. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

/* Example inputs for each built-in rule: up to three inputs (rank, shape, range), and
 * whether the last input holds class labels (a constant of integers). */
typedef struct {
    size_t rank;
    size_t shape[2];
} dims;

typedef struct {
    const char *rule;
    size_t n;
    dims in[3];
    int labels;          /* last input: integer labels in [0, 5) */
    float param;         /* first parameter, or NAN for the default */
} example;

static const example examples[] = {
    { "relu", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "leaky_relu", 1, { { 2, { 3, 4 } } }, 0, 0.2f },
    { "elu", 1, { { 2, { 3, 4 } } }, 0, 0.7f },
    { "sigmoid", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "tanh", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "gelu", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "gelu_erf", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "softplus", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "silu", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "safe_log", 1, { { 2, { 3, 4 } } }, 0, NAN },
    /* eps = 0.1 keeps the curvature near 0 (1/sqrt(eps)) within reach of h = 1e-2 */
    { "smooth_abs", 1, { { 2, { 3, 4 } } }, 0, 0.1f },
    { "linear", 3, { { 2, { 3, 4 } }, { 2, { 5, 4 } }, { 1, { 5 } } }, 0, NAN },
    { "add", 2, { { 2, { 3, 4 } }, { 1, { 4 } } }, 0, NAN },
    { "sub", 2, { { 1, { 4 } }, { 2, { 3, 4 } } }, 0, NAN },
    { "mul", 2, { { 2, { 3, 4 } }, { 1, { 4 } } }, 0, NAN },
    { "scale", 1, { { 2, { 3, 4 } } }, 0, 2.5f },
    { "sum", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "mean", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "matmul", 2, { { 2, { 3, 4 } }, { 2, { 4, 5 } } }, 0, NAN },
    { "concat", 2, { { 2, { 3, 2 } }, { 2, { 3, 4 } } }, 0, NAN },
    { "mse_loss", 2, { { 2, { 3, 4 } }, { 2, { 3, 4 } } }, 0, NAN },
    { "softmax_cross_entropy", 2, { { 2, { 4, 5 } }, { 1, { 4 } } }, 1, NAN },
    { "softsign", 1, { { 2, { 3, 4 } } }, 0, NAN },   /* the user's rule below */
    /* the operations models need; div's [B,1] against [B,n] takes the general
     * broadcasting path */
    { "div", 2, { { 2, { 3, 4 } }, { 2, { 3, 1 } } }, 0, NAN },
    { "exp", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "log", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "sqrt", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "square", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "neg", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "reshape", 1, { { 2, { 3, 4 } } }, 0, NAN },     /* the default flattens */
    { "transpose", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "sum_axis", 1, { { 2, { 3, 4 } } }, 0, 0.0f },   /* over the first axis */
    { "mean_axis", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "softmax", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "log_softmax", 1, { { 2, { 3, 4 } } }, 0, NAN },
    { "linear_nobias", 2, { { 2, { 3, 4 } }, { 2, { 5, 4 } } }, 0, NAN },
};

/* Inputs whose data must stay in the rule's domain or away from a pole, instead of the
 * default [-2, 2): div's divisor, log's and sqrt's argument. */
static void data_range(const char *rule, size_t input, float *lo, float *hi)
{
    static const struct {
        const char *rule;
        size_t input;
        float lo, hi;
    } ranges[] = { { "div", 1, 0.5f, 2.0f }, { "log", 0, 0.5f, 3.0f }, { "sqrt", 0, 0.5f, 3.0f } };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if (strcmp(ranges[i].rule, rule) == 0 && ranges[i].input == input) {
            *lo = ranges[i].lo;
            *hi = ranges[i].hi;
        }
}

static const example *example_for(const char *name)
{
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++)
        if (strcmp(examples[i].rule, name) == 0)
            return &examples[i];
    return NULL;
}

static void check_rule(const tg_rule *r, const example *ex, tg_pcg32 *rng)
{
    tg_tensor *in[3] = { NULL, NULL, NULL };
    float params[TG_MAX_PARAMS];
    tg_gradcheck_result res;
    tg_status s;
    for (size_t k = 0; k < r->n_params; k++)
        params[k] = r->param_defaults[k];
    if (!isnan(ex->param))
        params[0] = ex->param;
    for (size_t k = 0; k < ex->n; k++) {
        const int is_labels = ex->labels && k + 1 == ex->n;
        float lo = -2.0f, hi = 2.0f;
        data_range(r->name, k, &lo, &hi);
        in[k] = tu_random(is_labels ? TG_CONST : TG_PARAM, ex->in[k].rank, ex->in[k].shape, rng,
                          lo, hi);
        if (is_labels)
            for (size_t i = 0; i < in[k]->size; i++)
                in[k]->data[i] = (float)tg_pcg32_bounded(rng, 5);
    }
    s = tg_gradcheck_rule(r, in, ex->n, params, NULL, &res);
    cr_expect_eq(s, TG_OK, "%s: %s", r->name, tg_last_error());
    cr_expect(res.pass, "%s: input %zu element %zu: tape %g, difference %g (excess %g); "
              "adjoint %g vs %g", r->name, res.worst_wrt, res.worst_index, res.worst_analytic,
              res.worst_numeric, res.worst_excess, res.adjoint_lhs, res.adjoint_rhs);
    cr_expect_gt(res.checked, 0u, "%s", r->name);
    cr_expect_eq(res.skipped, 0u, "%s: %zu elements at kinks", r->name, res.skipped);
    for (size_t k = 0; k < ex->n; k++)
        tg_tensor_free(in[k]);
}

/* A user's rule, softsign(x) = x / (1 + |x|), registered like any other. */
static tg_status softsign_forward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++)
        n->out->data[i] = n->in[0]->data[i] / (1.0f + fabsf(n->in[0]->data[i]));
    return TG_OK;
}

static tg_status softsign_backward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++) {
        const float d = 1.0f + fabsf(n->in[0]->data[i]);
        n->in[0]->grad[i] += n->out->grad[i] / (d * d);
    }
    return TG_OK;
}

static const tg_rule softsign = { .name = "softsign", .arity = 1, .infer = tg_infer_same_shape,
                                  .forward = softsign_forward, .backward = softsign_backward };

/* Every rule in the registry, the user's included, must have an example here: a new
 * built-in without one fails this test until it is given one. */
Test(gradcheck, every_registered_rule)
{
    tg_pcg32 rng;
    cr_assert_eq(tg_rule_register(&softsign), TG_OK, "%s", tg_last_error());
    tg_pcg32_seed(&rng, 2024, 1);
    for (size_t i = 0; i < tg_rule_count(); i++) {
        const tg_rule *r = tg_rule_at(i);
        const example *ex = example_for(r->name);
        cr_assert_not_null(ex, "rule %s has no gradcheck example", r->name);
        check_rule(r, ex, &rng);
    }
}

/* A user rule whose backward is wrong (2x instead of 3x^2 for x^3) must fail, and the
 * worst element must be reported. */
static tg_status cube_forward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++)
        n->out->data[i] = n->in[0]->data[i] * n->in[0]->data[i] * n->in[0]->data[i];
    return TG_OK;
}

static tg_status wrong_backward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++)
        n->in[0]->grad[i] += n->out->grad[i] * 2.0f * n->in[0]->data[i];
    return TG_OK;
}

Test(gradcheck, catches_a_wrong_gradient)
{
    static const tg_rule wrong = { .name = "wrong_cube", .arity = 1,
                                   .infer = tg_infer_same_shape, .forward = cube_forward,
                                   .backward = wrong_backward };
    static const size_t s8[1] = { 8 };
    tg_pcg32 rng;
    tg_tensor *x;
    tg_gradcheck_result res;
    tg_pcg32_seed(&rng, 5, 5);
    x = tu_random(TG_PARAM, 1, s8, &rng, 0.5f, 2.0f);
    cr_assert_eq(tg_rule_register(&wrong), TG_OK);
    cr_assert_eq(tg_gradcheck_rule(&wrong, &x, 1, NULL, NULL, &res), TG_OK, "%s",
                 tg_last_error());
    cr_assert_not(res.pass);
    cr_assert_gt(res.worst_excess, 1.0);
    cr_assert_lt(res.worst_index, 8u);
    /* both sides carry the same cotangent factor u_i, so their ratio is 2x / 3x^2 */
    cr_assert_float_eq(res.worst_analytic / res.worst_numeric,
                       2.0 / (3.0 * x->data[res.worst_index]), 0.01);
    cr_assert_gt(fabs(res.adjoint_lhs - res.adjoint_rhs), 0.1);
    tg_tensor_free(x);
}

/* A graph of the user's: two layers sharing one weight matrix. */
typedef struct {
    tg_tensor *x, *W, *b;
} shared_net;

static tg_tensor *shared_graph(tg_tape *t, void *ctx)
{
    shared_net *n = ctx;
    tg_tensor *h = tg_tanh(t, tg_linear(t, n->x, n->W, n->b));
    return tg_mean(t, tg_silu(t, tg_linear(t, h, n->W, n->b)));
}

Test(gradcheck, user_graph_with_a_shared_parameter)
{
    static const size_t xs[2] = { 3, 4 }, ws[2] = { 4, 4 }, bs[1] = { 4 };
    tg_pcg32 rng;
    shared_net n;
    tg_gradcheck_result res;
    tg_tensor *wrt[2];
    tg_pcg32_seed(&rng, 8, 9);
    n.x = tu_random(TG_CONST, 2, xs, &rng, -1.0f, 1.0f);
    n.W = tu_random(TG_PARAM, 2, ws, &rng, -1.0f, 1.0f);
    n.b = tu_random(TG_PARAM, 1, bs, &rng, -0.5f, 0.5f);
    wrt[0] = n.W;
    wrt[1] = n.b;
    cr_assert_eq(tg_gradcheck(shared_graph, &n, wrt, 2, NULL, &res), TG_OK, "%s",
                 tg_last_error());
    cr_assert(res.pass, "worst excess %g at %zu/%zu", res.worst_excess, res.worst_wrt,
              res.worst_index);
    cr_assert_eq(res.checked, 20u);
    tg_tensor_free(n.x);
    tg_tensor_free(n.W);
    tg_tensor_free(n.b);
}

/* relu exactly at 0 has no derivative to compare: the checker skips and counts it. */
Test(gradcheck, kinks_are_skipped_not_failed)
{
    static const size_t s4[1] = { 4 };
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s4);
    tg_gradcheck_result res;
    const float v[4] = { 0.0f, 1.0f, -1.0f, 0.0f };
    memcpy(x->data, v, sizeof v);
    cr_assert_eq(tg_gradcheck_rule(tg_rule_find("relu"), &x, 1, NULL, NULL, &res), TG_OK);
    cr_assert(res.pass, "excess %g, adjoint %g vs %g", res.worst_excess, res.adjoint_lhs,
              res.adjoint_rhs);
    cr_assert_eq(res.checked + res.skipped, 4u);
    tg_tensor_free(x);
}

Test(gradcheck, refuses_bad_arguments)
{
    static const size_t s4[1] = { 4 };
    tg_tensor *c = tg_tensor_new(TG_CONST, 1, s4);
    tg_gradcheck_result res;
    cr_assert_eq(tg_gradcheck_rule(tg_rule_find("relu"), &c, 1, NULL, NULL, &res), TG_ERR_STATE);
    cr_assert_eq(tg_gradcheck_rule(NULL, &c, 1, NULL, NULL, &res), TG_ERR_NULL);
    cr_assert_eq(tg_gradcheck(NULL, NULL, &c, 1, NULL, &res), TG_ERR_NULL);
    tg_tensor_free(c);
}
