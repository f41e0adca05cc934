/* PCG32 against the published reference outputs, and its derived draws. */
#include <math.h>
#include <criterion/criterion.h>
#include <tapegrad.h>

Test(pcg32, reproduces_published_outputs)
{
    /* pcg32-demo, initstate 42, initseq 54 (docs/pcg32.md) */
    static const uint32_t expect[6] = { 0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                        0x83d2f293u, 0xbfa4784bu, 0xcbed606eu };
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 42u, 54u);
    for (int i = 0; i < 6; i++) {
        const uint32_t got = tg_pcg32_next(&rng);
        cr_assert_eq(got, expect[i], "draw %d: got 0x%08x, expected 0x%08x", i, got, expect[i]);
    }
}

Test(pcg32, streams_differ_by_sequence)
{
    tg_pcg32 a, b;
    int same = 0;
    tg_pcg32_seed(&a, 42u, 54u);
    tg_pcg32_seed(&b, 42u, 55u);
    for (int i = 0; i < 100; i++)
        same += tg_pcg32_next(&a) == tg_pcg32_next(&b);
    cr_assert_lt(same, 3);
}

/* Bound 3 * 2^30: a plain r % bound would return values below 2^30 half of the time
 * instead of a third. n = 2e5 draws: the binomial std of the fraction is 1.05e-3, so
 * |frac - 1/3| < 7e-3 fails a correct generator with probability below 1e-10. */
Test(pcg32, bounded_has_no_modulo_bias)
{
    const uint32_t bound = 3u << 30;
    const int n = 200000;
    tg_pcg32 rng;
    int low = 0;
    tg_pcg32_seed(&rng, 7u, 11u);
    for (int i = 0; i < n; i++) {
        const uint32_t r = tg_pcg32_bounded(&rng, bound);
        cr_assert_lt(r, bound);
        low += r < (1u << 30);
    }
    cr_assert_lt(fabs((double)low / n - 1.0 / 3.0), 7e-3, "fraction below 2^30: %g",
                 (double)low / n);
}

/* Chi-square over 11 cells, 10 degrees of freedom: P(chi2 > 46.86) = 1e-6. */
Test(pcg32, bounded_is_uniform)
{
    const uint32_t bound = 11;
    const int n = 110000;
    int count[11] = { 0 };
    double chi2 = 0.0;
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 1234u, 5678u);
    for (int i = 0; i < n; i++)
        count[tg_pcg32_bounded(&rng, bound)]++;
    for (uint32_t k = 0; k < bound; k++) {
        const double e = (double)n / bound;
        chi2 += (count[k] - e) * (count[k] - e) / e;
    }
    cr_assert_lt(chi2, 46.86, "chi2 = %g", chi2);
    cr_assert_eq(tg_pcg32_bounded(&rng, 1), 0u);
    cr_assert_eq(tg_pcg32_bounded(&rng, 0), 0u);
}

Test(pcg32, float_is_top_24_bits_and_below_one)
{
    tg_pcg32 a, b;
    tg_pcg32_seed(&a, 99u, 1u);
    b = a;
    for (int i = 0; i < 10000; i++) {
        const float f = tg_pcg32_float(&a);
        const uint32_t r = tg_pcg32_next(&b);
        cr_assert_eq(f, (float)(r >> 8) * 0x1p-24f);
        cr_assert(f >= 0.0f && f < 1.0f);
    }
    /* the largest draw, 0xffffffff, must stay below one (r * 2^-32 would round to 1) */
    cr_assert_lt((float)(0xffffffffu >> 8) * 0x1p-24f, 1.0f);
    cr_assert_eq((float)0xffffffffu * (1.0f / 4294967296.0f), 1.0f);
}

Test(pcg32, double_in_unit_interval)
{
    tg_pcg32 rng;
    double lo = 1.0, hi = 0.0, sum = 0.0;
    tg_pcg32_seed(&rng, 3u, 4u);
    for (int i = 0; i < 100000; i++) {
        const double d = tg_pcg32_double(&rng);
        cr_assert(d >= 0.0 && d < 1.0);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        sum += d;
    }
    /* mean of 1e5 uniforms: std 9.1e-4, so 0.005 is over 5 sigma */
    cr_assert_lt(fabs(sum / 100000 - 0.5), 0.005);
    cr_assert_lt(lo, 1e-3);
    cr_assert_gt(hi, 1.0 - 1e-3);
}
