/* The sampled accuracy check run by `make check`: the bounds of docs/accuracy.md
 * (every value and derivative within ACC_MAX_ULP of the correctly rounded result, no
 * wrong special value) on 2^20 inputs per rule instead of 2^32. */
#include <criterion/criterion.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
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
              "%s %s: %" PRIu64 " ULP (bound %u) at x = %a (%.9g): got %a (%.9g), expected "
              "%a (%.9g); %" PRIu64 " inputs above 1 ULP",
              rule, acc_dir_name(dir), s->max_ulp, ACC_MAX_ULP, (double)w->x, (double)w->x,
              (double)w->got, (double)w->got, (double)w->want, (double)w->want, s->over1);
}

static void check_rule(const char *name)
{
    const acc_rule *r = acc_rule_find(name);
    cr_assert_not_null(r, "no accuracy entry for %s", name);
    acc_eval e;
    const tg_status init = acc_eval_init(&e, r, CHUNK);
    cr_assert_eq(init, TG_OK, "%s: setting up the tape failed: %s", name, tg_strerror(init));

    acc_stats st[ACC_N_DIRS];
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
