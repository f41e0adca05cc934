/* The backward sweep without a zeroing pass: gradients start at zero when a tensor is
 * made, a later sweep over the same record zeroes an intermediate's gradient when its
 * first contribution arrives, and records no gradient reached are skipped. And the
 * blocked elementwise loops: every length gives what the element function gives. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

static const size_t v5[1] = { 5 };

Test(sweep, unreached_intermediates_hold_zero_gradients)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *side, *f;
    tg_pcg32_seed(&rng, 21, 1);
    x = tu_random(TG_PARAM, 1, v5, &rng, -1.0f, 1.0f);
    side = tg_relu(t, x);                 /* recorded, but f does not use it */
    f = tg_sum(t, tg_tanh(t, x));
    cr_assert_not_null(f, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, f, NULL), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(side->grad[i], 0.0f);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* Sweep from h = tanh(x) with a seed s, then from f = sum(h * h): the second sweep
 * must see h's gradient restart from zero (2h, not s + 2h). */
Test(sweep, a_second_sweep_restarts_each_intermediate_from_zero)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *h, *f, *seed;
    float first[5];
    tg_pcg32_seed(&rng, 22, 1);
    x = tu_random(TG_PARAM, 1, v5, &rng, -1.0f, 1.0f);
    h = tg_tanh(t, x);
    f = tg_sum(t, tg_mul(t, h, h));
    seed = tg_tape_const(t, 1, v5);
    for (size_t i = 0; i < 5; i++)
        seed->data[i] = 3.0f;
    cr_assert_not_null(f, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, h, seed), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < 5; i++) {
        first[i] = x->grad[i];
        cr_assert_eq(h->grad[i], 3.0f);
    }
    tg_zero_grad(x);
    cr_assert_eq(tg_backward(t, f, NULL), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < 5; i++) {
        const float d = 1.0f - h->data[i] * h->data[i];   /* tanh' */
        cr_assert_eq(h->grad[i], 2.0f * h->data[i], "h grad %zu", i);
        cr_assert_float_eq(x->grad[i], 2.0f * h->data[i] * d, 1e-6f, "x grad %zu", i);
        cr_assert_float_eq(first[i], 3.0f * d, 1e-6f);
    }
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* Many sweeps over one record: each gives the same parameter gradient as a fresh tape. */
Test(sweep, repeated_sweeps_equal_a_fresh_one)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new(), *fresh = tg_tape_new();
    tg_tensor *x, *f;
    float want[5];
    tg_pcg32_seed(&rng, 23, 1);
    x = tu_random(TG_PARAM, 1, v5, &rng, -2.0f, 2.0f);
    f = tg_mean(t, tg_silu(t, tg_add(t, tg_mul(t, x, x), tg_sigmoid(t, x))));
    cr_assert_eq(tg_backward(fresh, tg_mean(fresh, tg_silu(fresh, tg_add(fresh,
                 tg_mul(fresh, x, x), tg_sigmoid(fresh, x)))), NULL), TG_OK);
    memcpy(want, x->grad, sizeof want);
    for (int k = 0; k < 4; k++) {
        tg_zero_grad(x);
        cr_assert_eq(tg_backward(t, f, NULL), TG_OK, "%s", tg_last_error());
        cr_assert_arr_eq(x->grad, want, sizeof want, "sweep %d", k);
    }
    tg_tape_free(t);
    tg_tape_free(fresh);
    tg_tensor_free(x);
}

/* The elementwise loops run in blocks of 8 plus a tail: every length from 1 to 41
 * gives, element by element, exactly what the rule's function gives (the local double
 * function rounded once, for these rules), forward and backward. */
static void check_lengths(const char *name, const float *param,
                          double (*value)(double, const float *),
                          double (*deriv)(double, const float *))
{
    const tg_rule *rule = tg_rule_find(name);
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 24, 1);
    for (size_t n = 1; n <= 41; n++) {
        tg_tape *t = tg_tape_new();
        tg_tensor *x = tu_random(TG_PARAM, 1, &n, &rng, -3.0f, 3.0f);
        tg_tensor *y, *seed;
        x->data[0] = 0.0f;   /* a kink for the piecewise ones */
        y = tg_apply(t, rule, &x, 1, param);
        seed = tg_tape_const(t, 1, &n);
        cr_assert_not_null(seed, "%s", tg_last_error());
        for (size_t i = 0; i < n; i++)
            seed->data[i] = tu_draw(&rng);
        cr_assert_eq(tg_backward(t, y, seed), TG_OK, "%s", tg_last_error());
        for (size_t i = 0; i < n; i++) {
            const float v = (float)value(x->data[i], param);
            const float g = seed->data[i] * (float)deriv(x->data[i], param);
            cr_assert_eq(y->data[i], v, "%s n=%zu value %zu", name, n, i);
            cr_assert_eq(x->grad[i], g, "%s n=%zu gradient %zu", name, n, i);
        }
        tg_tape_free(t);
        tg_tensor_free(x);
    }
}

static double relu_v(double x, const float *p) { (void)p; return tg_local_relu(x); }
static double relu_d(double x, const float *p) { (void)p; return tg_local_relu_deriv(x, NULL); }
static double leaky_v(double x, const float *p) { return tg_local_leaky_relu(x, p[0]); }
static double leaky_d(double x, const float *p) { return tg_local_leaky_relu_deriv(x, p[0], NULL); }
static double scale_v(double x, const float *p) { return (double)(p[0] * (float)x); }
static double scale_d(double x, const float *p) { (void)x; return p[0]; }
static double tanh_v(double x, const float *p) { (void)p; return tg_local_tanh(x); }
static double tanh_d(double x, const float *p) { (void)p; return tg_local_tanh_deriv(x, NULL); }

Test(sweep, elementwise_blocks_and_tail_match_the_element_function)
{
    const float alpha = 0.25f, s = -1.5f;
    check_lengths("relu", NULL, relu_v, relu_d);
    check_lengths("leaky_relu", &alpha, leaky_v, leaky_d);
    check_lengths("scale", &s, scale_v, scale_d);
    check_lengths("tanh", NULL, tanh_v, tanh_d);
}
