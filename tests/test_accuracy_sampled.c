/* The sampled accuracy check run by `make check`: the bounds of docs/accuracy.md
 * (every value and derivative within ACC_MAX_ULP float32 steps of the double reference,
 * so of the correctly rounded result; no wrong special value) on 2^20 inputs per rule
 * instead of 2^32. */
#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include "accuracy/accuracy.h"

#define CHUNK ((size_t)1 << 16)
#define PER_BINADE 2048u /* 2 signs x 256 exponents x 2048 = 2^20 inputs */
#define BINADES 512u

/* Every sign and exponent field gets the same number of random mantissas, so tiny,
 * subnormal and huge inputs weigh as much as those near 1; exponent 255 gives NaNs (and
 * +-inf when the mantissa draws zero). */
static void fill_binades(float *x, uint32_t first_binade, tg_pcg32 *rng)
{
    for (size_t i = 0; i < CHUNK; i++) {
        const uint32_t binade = first_binade + (uint32_t)(i / PER_BINADE);
        const uint32_t sign = binade >> 8, exponent = binade & 0xffu;
        x[i] = acc_float(sign << 31 | exponent << 23 | (tg_pcg32_next(rng) & 0x7fffffu));
    }
}

static void expect_within_bounds(const char *rule, int dir, const acc_stats *s)
{
    char what[512];
    const acc_sample *w = &s->worst;
    cr_expect(s->specials == 0, "%s %s: special values wrong at %" PRIu64 " inputs: %s", rule,
              acc_dir_name(dir), s->special_fails, acc_describe_specials(s, what, sizeof what));
    cr_expect(s->max_ulp <= ACC_MAX_ULP,
              "%s %s: %.4f ULP (bound %g) at x = %a (%.9g): got %a (%.9g), reference "
              "%a (%.17g); %" PRIu64 " inputs above 1 ULP",
              rule, acc_dir_name(dir), s->max_ulp, ACC_MAX_ULP, (double)w->x, (double)w->x,
              (double)w->got, (double)w->got, w->want, w->want, s->over1);
}

/* Runs rule r's kernel on the sampled inputs and the named specials through the tape. */
static void measure(const acc_rule *r, acc_stats st[ACC_N_DIRS])
{
    const char *name = r->name;
    acc_eval e;
    const tg_status init = acc_eval_init(&e, r, CHUNK);
    cr_assert_eq(init, TG_OK, "%s: setting up the tape failed: %s", name, tg_strerror(init));

    char msg[512];
    acc_stats_init(&st[ACC_VALUE]);
    acc_stats_init(&st[ACC_DERIV]);
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 0x6163637572616379u, 7u); /* fixed: a failure reproduces */
    tg_status s = TG_OK;
    for (uint32_t b = 0; b < BINADES && s == TG_OK; b += CHUNK / PER_BINADE) {
        fill_binades(e.x->data, b, &rng);
        s = acc_eval_measure(&e, CHUNK, st, msg, sizeof msg);
    }
    for (size_t i = 0; i < ACC_N_SPECIALS; i++)
        e.x->data[i] = acc_float(acc_specials[i]);
    if (s == TG_OK)
        s = acc_eval_measure(&e, ACC_N_SPECIALS, st, msg, sizeof msg);
    acc_eval_fini(&e);
    cr_assert_eq(s, TG_OK, "%s", msg);
    cr_assert_eq(st[ACC_VALUE].checked, (uint64_t)BINADES * PER_BINADE + ACC_N_SPECIALS);
}

static void check_rule(const char *name)
{
    const acc_rule *r = acc_rule_find(name);
    cr_assert_not_null(r, "no accuracy entry for %s", name);
    acc_stats st[ACC_N_DIRS];
    measure(r, st);
    expect_within_bounds(name, ACC_VALUE, &st[ACC_VALUE]);
    expect_within_bounds(name, ACC_DERIV, &st[ACC_DERIV]);
}

Test(accuracy, relu_sampled_accuracy) { check_rule("relu"); }
Test(accuracy, leaky_relu_sampled_accuracy) { check_rule("leaky_relu"); }
Test(accuracy, elu_sampled_accuracy) { check_rule("elu"); }
Test(accuracy, sigmoid_sampled_accuracy) { check_rule("sigmoid"); }
Test(accuracy, tanh_sampled_accuracy) { check_rule("tanh"); }
Test(accuracy, gelu_sampled_accuracy) { check_rule("gelu"); }
Test(accuracy, gelu_erf_sampled_accuracy) { check_rule("gelu_erf"); }
Test(accuracy, softplus_sampled_accuracy) { check_rule("softplus"); }
Test(accuracy, silu_sampled_accuracy) { check_rule("silu"); }
Test(accuracy, safe_log_sampled_accuracy) { check_rule("safe_log"); }
Test(accuracy, smooth_abs_sampled_accuracy) { check_rule("smooth_abs"); }

/* The table uses the default parameters; the kernels take any. A few far from them
 * (safe_log's root leaves x = log(e - 1) as eps grows), on the same sample. */
static void check_with_param(const char *name, float p)
{
    acc_rule r = *acc_rule_find(name);
    char label[64];
    acc_stats st[ACC_N_DIRS];
    r.param = p;
    measure(&r, st);
    snprintf(label, sizeof label, "%s(p = %g)", name, (double)p);
    expect_within_bounds(label, ACC_VALUE, &st[ACC_VALUE]);
    expect_within_bounds(label, ACC_DERIV, &st[ACC_DERIV]);
}

Test(accuracy, other_parameters_sampled_accuracy)
{
    static const float eps[] = { 0x1p-149f, 1e-30f, 1e-3f, 0.5f, 1.0f, 1e30f };
    static const float alpha[] = { -2.0f, 0.1f, 3.0f };
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++) {
        check_with_param("safe_log", eps[i]);
        check_with_param("smooth_abs", eps[i]);
    }
    for (size_t i = 0; i < sizeof alpha / sizeof alpha[0]; i++)
        check_with_param("elu", alpha[i]);
}

/* The measuring tool itself: a ULP count or a special check that cannot see an error
 * would let every rule pass. */
Test(accuracy, ulp_distance_counts_float_steps)
{
    const float one = 1.0f, tiny = acc_float(1u);
    cr_expect_eq(acc_ulp(one, one), 0);
    cr_expect_eq(acc_ulp(one, nextafterf(one, 2.0f)), 1);
    cr_expect_eq(acc_ulp(one, nextafterf(one, 0.0f)), 1, "steps below a power of two");
    cr_expect_eq(acc_ulp(one, 2.0f), 1u << 23, "one binade is 2^23 steps");
    cr_expect_eq(acc_ulp(0.0f, -0.0f), 0);
    cr_expect_eq(acc_ulp(tiny, -tiny), 2, "through zero, counted once");
    cr_expect_eq(acc_ulp(FLT_MIN, nextafterf(FLT_MIN, 0.0f)), 1, "normal to subnormal");
    cr_expect_eq(acc_ulp(FLT_MAX, INFINITY), 1);
    cr_expect_eq(acc_ulp(-2.0f, 2.0f), 2 * (uint64_t)acc_bits(2.0f));
}

Test(accuracy, comparison_flags_specials_and_counts_errors)
{
    acc_stats s;
    char what[512];
    acc_stats_init(&s);
    acc_compare(&s, NAN, NAN, NAN);
    acc_compare(&s, INFINITY, 1.0f, 1.0f);
    acc_compare(&s, -0.0f, -0.0f, -0.0f);
    acc_compare(&s, 3.0f, 3.0f, nextafterf(nextafterf(3.0f, 4.0f), 4.0f));
    cr_expect_eq(s.specials, 0u);
    cr_expect_eq(s.max_ulp, 2);
    cr_expect_eq(s.over1, 1);
    cr_expect_eq(s.worst.x, 3.0f);

    acc_compare(&s, NAN, 0.0f, NAN);                 /* NaN in, number out */
    acc_compare(&s, 2.0f, NAN, 1.0f);                /* NaN from a number */
    acc_compare(&s, INFINITY, nextafterf(1.0f, 0.0f), 1.0f); /* limit missed by 1 ULP */
    acc_compare(&s, FLT_MAX, FLT_MAX, INFINITY);     /* finite against inf */
    acc_compare(&s, -0.0f, 0.0f, -0.0f);             /* sign of zero */
    acc_compare(&s, 1e-3f, 0.0f, -0.0f);             /* away from input 0 the zeros agree */
    cr_expect_eq(s.specials, ACC_NAN_IN | ACC_NAN | ACC_INF_IN | ACC_INF | ACC_ZERO_SIGN, "%s",
                 acc_describe_specials(&s, what, sizeof what));
    cr_expect_eq(s.special[0].got, 0.0f, "the NaN input's example");
    cr_expect_eq(s.special[4].x, -0.0f, "the zero-sign example");
    cr_expect_eq(s.special_fails, 5);
    cr_expect_eq(s.max_ulp, 2, "special failures stay out of the ULP count");
    cr_expect_eq(s.checked, 10);
    cr_expect_not(acc_stats_pass(&s));
}

static int same_sample(const acc_sample *a, const acc_sample *b)
{
    return acc_bits(a->x) == acc_bits(b->x) && acc_bits(a->got) == acc_bits(b->got) &&
           acc_bits(a->want) == acc_bits(b->want);
}

/* Threads merge their statistics in any order; the table must not depend on it. */
Test(accuracy, merge_does_not_depend_on_order)
{
    acc_stats a, b, ab, ba;
    acc_stats_init(&a);
    acc_stats_init(&b);
    acc_compare(&a, 1.0f, acc_float(acc_bits(1.0f) + 3), 1.0f);
    acc_compare(&a, -0.0f, 0.0f, -0.0f); /* zero-sign failure, bit pattern 0x80000000 */
    acc_compare(&b, 0.5f, acc_float(acc_bits(0.5f) - 3), 0.5f);
    acc_compare(&b, 2.0f, NAN, 1.0f);    /* nan failure, bit pattern 0x40000000 */
    ab = a;
    acc_stats_merge(&ab, &b);
    ba = b;
    acc_stats_merge(&ba, &a);
    cr_expect(ab.max_ulp == ba.max_ulp && ab.over1 == ba.over1 && ab.checked == ba.checked &&
              ab.specials == ba.specials && ab.special_fails == ba.special_fails);
    cr_expect(same_sample(&ab.worst, &ba.worst));
    for (unsigned c = 0; c < ACC_N_CLASSES; c++)
        cr_expect(same_sample(&ab.special[c], &ba.special[c]), "class %u", c);
    cr_expect_eq(ab.max_ulp, 3);
    cr_expect_eq(ab.worst.x, 0.5f, "ties go to the lower bit pattern");
    cr_expect_eq(ab.checked, 4);
    cr_expect_eq(ab.specials, ACC_ZERO_SIGN | ACC_NAN);
    cr_expect_eq(ab.special[1].x, 2.0f);
    cr_expect_eq(ab.special[4].x, -0.0f);
}

/* The measure is the distance to the double reference in float32 steps, fractions
 * included, so that 1/2 is a correctly rounded result and the 4 ULP bound is a bound
 * from the exact value. */
Test(accuracy, ulp_error_measures_from_the_double_reference)
{
    const float tiny = acc_float(1u);
    cr_expect_eq(acc_ulp_error(1.0f, 1.0), 0.0);
    cr_expect_eq(acc_ulp_error(1.0f, 1.0 + 0x1p-25), 0.25, "a step above 1 is 2^-23");
    cr_expect_eq(acc_ulp_error(1.0f, 1.0 - 0x1p-26), 0.25, "a step below 1 is 2^-24");
    cr_expect_eq(acc_ulp_error(nextafterf(1.0f, 0.0f), 1.0 + 0x1p-24), 1.5, "across a binade");
    cr_expect_eq(acc_ulp_error(-1.0f, -1.0 - 0x1p-25), 0.25, "negative values");
    cr_expect_eq(acc_ulp_error(tiny, 1.5 * 0x1p-149), 0.5, "subnormal steps are 2^-149");
    cr_expect_eq(acc_ulp_error(FLT_MIN, 0x1p-126 - 0x1p-150), 0.5, "normal to subnormal");
    cr_expect_eq(acc_ulp_error(tiny, -0x1p-149), 2.0, "through zero");
    cr_expect_eq(acc_ulp_error(0.0f, -0.0), 0.0, "+0 and -0 are one point");
    cr_expect_eq(acc_ulp_error(1.0f, 1.0 + 0x1p-52), 0x1p-29, "2^-29 step resolves");
    cr_expect_eq(acc_ulp_error(FLT_MAX, 0x1p128), 1.0, "the last binade continues");
    cr_expect_eq(acc_midpoint_distance(1.0 + 0x1p-24), 0.0, "between 1 and its successor");
    cr_expect_eq(acc_midpoint_distance(1.0), 0.5);
    cr_expect_eq(acc_midpoint_distance(-0x1p-150), 0.0, "half the smallest subnormal");
    cr_expect_eq(acc_midpoint_distance(1.0 + 0x1p-24 + 0x1p-50), 0x1p-27);
}

Test(accuracy, bound_is_four_steps_from_the_exact_value)
{
    acc_stats s;
    const double want = 1.0 + 0x1p-25; /* a quarter step above 1 */
    acc_stats_init(&s);
    acc_compare(&s, 0.5f, acc_float(acc_bits(1.0f) + 4), want);
    cr_expect_eq(s.max_ulp, 3.75);
    cr_expect(acc_stats_pass(&s), "3.75 steps is within the bound");
    acc_compare(&s, 0.25f, acc_float(acc_bits(1.0f) - 4), want);
    cr_expect_eq(s.max_ulp, 4.25, "4 steps below 1 are 4.25 from the reference");
    cr_expect_eq(s.over_half, 2);
    cr_expect_not(acc_stats_pass(&s), "4.25 steps breaks the bound");
    acc_compare(&s, 0.125f, 1.0f, 1.0 + 0x1p-24); /* the reference on a midpoint */
    cr_expect_eq(s.mid_exact, 1);
    cr_expect_eq(s.mid_near, 1);
    cr_expect_eq(s.over_half, 2, "exactly 1/2 is not counted as misrounded");
}

/* The whole sampled check, run on a kernel that is wrong by 5 ULP (a user rule that
 * moves tanh's correctly rounded value 5 steps up), must report it. */
static tg_status off_forward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++) {
        const float x = n->in[0]->data[i], y = (float)tg_local_tanh(x);
        /* |y| moved 5 steps up */
        n->out->data[i] = isfinite(y) && x != 0.0f ? acc_float(acc_bits(y) + 5) : y;
    }
    return TG_OK;
}

static tg_status off_backward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++)
        n->in[0]->grad[i] += n->out->grad[i] * (float)tg_local_tanh_deriv(n->in[0]->data[i], NULL);
    return TG_OK;
}

static double tanh_v(double x, double p) { (void)p; return tg_local_tanh(x); }
static double tanh_d(double x, double p) { (void)p; return tg_local_tanh_deriv(x, NULL); }

Test(accuracy, sampled_check_fails_a_kernel_off_by_5_ulp)
{
    static const tg_rule off = { .name = "tanh_off_by_5_ulp", .arity = 1,
                                 .infer = tg_infer_same_shape, .forward = off_forward,
                                 .backward = off_backward };
    const acc_rule r = { "tanh_off_by_5_ulp", tanh_v, tanh_d, 0, 0.0f };
    acc_stats st[ACC_N_DIRS];
    cr_assert_eq(tg_rule_register(&off), TG_OK, "%s", tg_last_error());
    measure(&r, st);
    cr_expect(st[ACC_VALUE].max_ulp >= 4.5 && !acc_stats_pass(&st[ACC_VALUE]),
              "value: %.4f ULP passed the bound", st[ACC_VALUE].max_ulp);
    cr_expect(acc_stats_pass(&st[ACC_DERIV]), "derivative: %.4f ULP", st[ACC_DERIV].max_ulp);
}
