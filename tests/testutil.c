#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <stdlib.h>
#include "testutil.h"

tg_tensor *tu_random(tg_kind kind, size_t rank, const size_t *shape, tg_pcg32 *rng, float lo,
                     float hi)
{
    tg_tensor *t = tg_tensor_new(kind, rank, shape);
    if (t)
        for (size_t i = 0; i < t->size; i++)
            t->data[i] = lo + (hi - lo) * tg_pcg32_float(rng);
    return t;
}

double tu_scaled_diff(const float *a, const double *b, size_t n, double floor)
{
    double worst = 0.0, scale = floor;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst))
            worst = d;   /* NaN propagates as the worst */
    }
    return worst / scale;
}

float tu_draw(tg_pcg32 *rng)
{
    return 2.0f * tg_pcg32_float(rng) - 1.0f;
}

double tu_gamma(size_t K, double u)
{
    return (double)K * u / (1.0 - (double)K * u);
}

tg_tensor *tu_earlier_grad(tg_tensor *param, tg_pcg32 *rng)
{
    tg_tensor *copy = tg_tensor_new(TG_CONST, param->rank, param->shape);
    cr_assert_not_null(copy, "%s", tg_last_error());
    for (size_t i = 0; i < param->size; i++)
        param->grad[i] = copy->data[i] = tu_draw(rng);
    return copy;
}

void tu_require_extended_long_double(void)
{
    volatile long double one = 1.0L, tiny = 0x1p-60L;
    if (one + tiny == one)
        cr_skip_test("long double has no more precision than double here (under valgrind?): "
                     "the long double reference of this test cannot judge");
}

/* ---- shared by the tests of the operations models need (test_ops_*.c) ---- */

const tg_rule *tu_rule(const char *name)
{
    const tg_rule *r = tg_rule_find(name);
    cr_assert_not_null(r, "rule %s is not registered", name);
    return r;
}

void tu_expect_refused(const char *rule, tg_tensor *const *in, size_t n, const float *params,
                       tg_status want, const char *shapes, const char *why)
{
    tg_tape *t = tg_tape_new();
    cr_assert_not_null(t);
    cr_assert_null(tg_apply(t, tu_rule(rule), in, n, params), "%s accepted %s", rule, shapes);
    cr_assert_eq(tg_tape_status(t), want, "%s %s: status %d (%s), want %d", rule, shapes,
                 tg_tape_status(t), tg_tape_error(t), want);
    cr_assert_eq(tg_last_status(), want);
    const char *msg = tg_last_error();
    cr_assert(strstr(msg, rule) && strstr(msg, shapes),
              "message \"%s\" must name %s and the shapes %s", msg, rule, shapes);
    cr_assert(!why || strstr(msg, why), "message \"%s\" must say \"%s\"", msg, why);
    cr_assert_str_eq(tg_tape_error(t), msg);
    tg_tape_free(t);
}

void tu_gradcheck(const char *rule, tg_tensor *const *in, size_t n, const float *params)
{
    const tg_gradcheck_opts opts = { .seed = 17 };
    tg_gradcheck_result r;
    const tg_status s = tg_gradcheck_rule(tu_rule(rule), in, n, params, &opts, &r);
    cr_assert_eq(s, TG_OK, "gradcheck %s: %s", rule, tg_last_error());
    cr_assert_gt(r.checked, 0, "gradcheck %s checked nothing", rule);
    cr_assert(r.pass,
              "gradcheck %s: input %zu element %zu: tape %.9g, numeric %.9g (excess %.3g); "
              "adjoint %.9g vs %.9g",
              rule, r.worst_wrt, r.worst_index, r.worst_analytic, r.worst_numeric,
              r.worst_excess, r.adjoint_lhs, r.adjoint_rhs);
}

tg_tensor *tu_backward_random(tg_tape *t, tg_tensor *y, tg_pcg32 *rng)
{
    tg_tensor *seed = tu_random(TG_CONST, y->rank, y->shape, rng, -1.0f, 1.0f);
    cr_assert_not_null(seed, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, y, seed), TG_OK, "tg_backward: %s", tg_last_error());
    return seed;
}

int tu_same(double a, double b)
{
    return a != a ? b != b : a == b && signbit(a) == signbit(b);
}

void *tu_count_alloc(size_t n, void *ctx)
{
    tu_counter *c = ctx;
    if (++c->calls == c->fail_at)
        return NULL;
    c->live++;
    return malloc(n);
}

void tu_count_free(void *p, void *ctx)
{
    tu_counter *c = ctx;
    c->live--;
    free(p);
}
