/* The registry: built-ins are found by name, and a user's rule is a first-class citizen
 * (found, applied, differentiated, gradient-checked) like any built-in. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

/* A user rule: y = x^3, dy/dx = 3x^2, written only against the public headers. */
static tg_status cube_forward(tg_node *n)
{
    const float *x = n->in[0]->data;
    for (size_t i = 0; i < n->out->size; i++)
        n->out->data[i] = x[i] * x[i] * x[i];
    return TG_OK;
}

static tg_status cube_backward(tg_node *n)
{
    const float *x = n->in[0]->data, *gy = n->out->grad;
    float *gx = n->in[0]->grad;
    if (gx)
        for (size_t i = 0; i < n->out->size; i++)
            gx[i] += gy[i] * 3.0f * x[i] * x[i];
    return TG_OK;
}

static const tg_rule cube = { .name = "cube", .arity = 1, .infer = tg_infer_same_shape,
                              .forward = cube_forward, .backward = cube_backward };

Test(registry, builtins_are_found_by_name)
{
    static const char *names[] = { "relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu",
                                   "gelu_erf", "softplus", "silu", "safe_log", "smooth_abs",
                                   "linear", "add", "sub", "mul", "scale", "sum", "mean",
                                   "matmul", "concat", "mse_loss", "softmax_cross_entropy",
                                   /* the operations models need */
                                   "div", "exp", "log", "sqrt", "square", "neg", "reshape",
                                   "transpose", "sum_axis", "mean_axis", "softmax",
                                   "log_softmax", "linear_nobias" };
    const size_t n = sizeof names / sizeof names[0];
    cr_assert_eq(tg_rule_count(), n);
    for (size_t i = 0; i < n; i++) {
        const tg_rule *r = tg_rule_find(names[i]);
        cr_assert_not_null(r, "%s", names[i]);
        cr_assert_str_eq(r->name, names[i]);
        cr_assert_eq(tg_rule_at(i), r, "enumeration order at %zu", i);
    }
    cr_assert_null(tg_rule_at(n));
}

Test(registry, user_rule_is_first_class)
{
    static const size_t s6[1] = { 6 };
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *y;
    tg_gradcheck_result res;
    const tg_rule *found;
    tg_pcg32_seed(&rng, 11, 12);
    x = tu_random(TG_PARAM, 1, s6, &rng, -1.5f, 1.5f);
    cr_assert_eq(tg_rule_register(&cube), TG_OK, "%s", tg_last_error());
    found = tg_rule_find("cube");
    cr_assert_eq(found, &cube);
    cr_assert_eq(tg_rule_at(tg_rule_count() - 1), &cube);
    /* composed with built-ins on one tape: d/dx sum(tanh(x)^3) = 3 tanh^2 (1 - tanh^2) */
    y = tg_sum(t, tg_apply(t, found, (tg_tensor *[]){ tg_tanh(t, x) }, 1, NULL));
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, y, NULL), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < 6; i++) {
        const double th = tanh((double)x->data[i]);
        cr_assert_float_eq(x->grad[i], 3.0 * th * th * (1.0 - th * th), 1e-6);
    }
    tg_zero_grad(x);
    cr_assert_eq(tg_gradcheck_rule(found, &x, 1, NULL, NULL, &res), TG_OK, "%s",
                 tg_last_error());
    cr_assert(res.pass, "worst excess %g", res.worst_excess);
    tg_tape_free(t);
    tg_tensor_free(x);
}

Test(registry, bad_registrations_are_refused)
{
    tg_rule bad = cube;
    cr_assert_eq(tg_rule_register(&cube), TG_OK);
    cr_assert_eq(tg_rule_register(&cube), TG_ERR_EXISTS);
    bad.name = "relu";
    cr_assert_eq(tg_rule_register(&bad), TG_ERR_EXISTS);
    cr_assert(strstr(tg_last_error(), "relu") != NULL);
    bad.name = "no_backward";
    bad.backward = NULL;
    cr_assert_eq(tg_rule_register(&bad), TG_ERR_NULL);
    bad = cube;
    bad.name = "too_many_inputs";
    bad.arity = TG_MAX_ARITY + 1;
    cr_assert_eq(tg_rule_register(&bad), TG_ERR_ARITY);
    bad.arity = 1;
    bad.name = "";
    cr_assert_eq(tg_rule_register(&bad), TG_ERR_NULL);
    cr_assert_eq(tg_rule_register(NULL), TG_ERR_NULL);
}

/* Several threads register at once; every rule lands exactly once. */
enum { THREADS = 8, PER_THREAD = 20 };
static char names[THREADS * PER_THREAD][16];
static tg_rule rules[THREADS * PER_THREAD];

static void *register_some(void *arg)
{
    const size_t first = (size_t)(uintptr_t)arg * PER_THREAD;
    for (size_t i = first; i < first + PER_THREAD; i++)
        if (tg_rule_register(&rules[i]) != TG_OK)
            return (void *)1;
    return NULL;
}

Test(registry, concurrent_registration)
{
    pthread_t th[THREADS];
    const size_t before = tg_rule_count();
    for (size_t i = 0; i < THREADS * PER_THREAD; i++) {
        snprintf(names[i], sizeof names[i], "user_%zu", i);
        rules[i] = cube;
        rules[i].name = names[i];
    }
    for (size_t k = 0; k < THREADS; k++)
        pthread_create(&th[k], NULL, register_some, (void *)(uintptr_t)k);
    for (size_t k = 0; k < THREADS; k++) {
        void *ret;
        pthread_join(th[k], &ret);
        cr_assert_null(ret, "thread %zu failed to register", k);
    }
    cr_assert_eq(tg_rule_count(), before + THREADS * PER_THREAD);
    for (size_t i = 0; i < THREADS * PER_THREAD; i++)
        cr_assert_eq(tg_rule_find(names[i]), &rules[i]);
}

Test(registry, registry_has_a_fixed_capacity)
{
    static char many[TG_MAX_USER_RULES + 1][16];
    static tg_rule r[TG_MAX_USER_RULES + 1];
    size_t i;
    for (i = 0; i < TG_MAX_USER_RULES; i++) {
        snprintf(many[i], sizeof many[i], "cap_%zu", i);
        r[i] = cube;
        r[i].name = many[i];
        cr_assert_eq(tg_rule_register(&r[i]), TG_OK);
    }
    snprintf(many[i], sizeof many[i], "cap_%zu", i);
    r[i] = cube;
    r[i].name = many[i];
    cr_assert_eq(tg_rule_register(&r[i]), TG_ERR_FULL);
}
