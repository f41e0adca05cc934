/* The sampling pieces of tapegrad/diffusion.h, one fact at a time: the time embedding
 * against its definition, the DDPM and DDIM steps against their documented arithmetic
 * and random stream, the DDIM coefficients against Song et al.'s eq. 12, the timesteps,
 * the errors, and that none of it allocates. (The samplers' laws are checked in
 * test_diffusion_gaussian.c, the energy distance in test_energy_distance.c.) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#define HAS(msg) (strstr(tg_last_error(), (msg)) != NULL)

/* The spacing of floats at |v|: 2^(e - 24) for |v| in [2^(e-1), 2^e), never below the
 * smallest subnormal. */
static double ulpf(double v)
{
    int e;
    if (v == 0.0)
        return 0x1p-149;
    frexp(v, &e);
    return ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
}

static void random_floats(tg_pcg32 *g, float *x, size_t n, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * tg_pcg32_float(g);
}

/* ---- time embedding -------------------------------------------------------------- */

/* Table values of sin and cos (to 16 digits) at t freq for freq = 1 and 0.01, the two
 * frequencies of dim = 4, max_period = 1e4 (10000^(-1/2) = 0.01). Within one float ulp:
 * the library's frequency and phase carry relative errors near 1e-16, so its double value
 * is within 1e-13 of these, and only a value that close to a rounding boundary of float
 * could round to the neighbour. */
Test(diffusion, time_embedding_hand_values)
{
    static const float t[3] = {1.0f, 2.5f, 1000.0f};
    static const double want[3][4] = {
        {0.8414709848078965, 0.009999833334166665, 0.5403023058681398, 0.9999500004166653},
        {0.5984721441039565, 0.02499739591471233, -0.8011436155469337, 0.9996875162757026},
        {0.8268795405320025, -0.5440211108893698, 0.5623790762907029, -0.8390715290764524},
    };
    /* dim = 6, max_period = 100: frequencies 1, 100^(-1/3), 100^(-2/3), at t = 3 */
    static const double want6[6] = {0.1411200080598672, 0.6022610340763316,
                                    0.1387981010800505, -0.9899924966004454,
                                    0.7982992213658409, 0.990320699135675};
    const float three = 3.0f;
    float out[12], out6[6];
    size_t k, i;
    cr_assert_eq(tg_time_embedding(t, 3, 4, TG_TIME_EMBEDDING_MAX_PERIOD, out), TG_OK);
    for (k = 0; k < 3; k++)
        for (i = 0; i < 4; i++)
            cr_assert(fabs(out[k * 4 + i] - want[k][i]) <= ulpf(want[k][i]),
                      "t = %g, column %zu: %.9g, want %.16g", (double)t[k], i,
                      (double)out[k * 4 + i], want[k][i]);
    cr_assert_eq(tg_time_embedding(&three, 1, 6, 100.0, out6), TG_OK);
    for (i = 0; i < 6; i++)
        cr_assert(fabs(out6[i] - want6[i]) <= ulpf(want6[i]), "column %zu: %.9g, want %.16g",
                  i, (double)out6[i], want6[i]);
}

/* Against the definition in long double, for many t and several dims and periods: within
 * one float ulp of the exact value (the reason is given above; this is what "computed in
 * double, rounded once" buys). Most values are exactly the rounded reference; all are
 * required to be within the ulp. */
Test(diffusion, time_embedding_matches_definition)
{
    static const size_t dims[] = {2, 8, 64, 128};
    static const double periods[] = {10000.0, 100.0, 1.0, 0.5};
    enum { N = 97 };
    float t[N], out[N * 128];
    size_t d, p, k, i, exact = 0, total = 0;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 2024u, 1u);
    random_floats(&g, t, N, 0.0f, 1000.0f);
    t[0] = 0.0f;
    t[1] = 1e-30f;
    t[2] = 999.9999f;
    t[3] = -17.25f;
    for (d = 0; d < sizeof dims / sizeof *dims; d++)
        for (p = 0; p < sizeof periods / sizeof *periods; p++) {
            const size_t dim = dims[d], half = dim / 2;
            cr_assert_eq(tg_time_embedding(t, N, dim, periods[p], out), TG_OK);
            for (k = 0; k < N; k++)
                for (i = 0; i < half; i++) {
                    const long double freq = powl((long double)periods[p],
                                                  -(long double)i / (long double)half);
                    const long double ph = (long double)t[k] * freq;
                    const double s = (double)sinl(ph), c = (double)cosl(ph);
                    const float gs = out[k * dim + i], gc = out[k * dim + half + i];
                    cr_assert(fabs(gs - s) <= ulpf(s), "sin: dim %zu, period %g, t = %.9g, "
                              "i = %zu: %.9g, want %.17g", dim, periods[p], (double)t[k], i,
                              (double)gs, s);
                    cr_assert(fabs(gc - c) <= ulpf(c), "cos: dim %zu, period %g, t = %.9g, "
                              "i = %zu: %.9g, want %.17g", dim, periods[p], (double)t[k], i,
                              (double)gc, c);
                    exact += (gs == (float)s) + (gc == (float)c);
                    total += 2;
                }
        }
    cr_log_info("correctly rounded in %zu of %zu values", exact, total);
    cr_assert(exact >= total - total / 1000, "correctly rounded in %zu of %zu", exact, total);
}

/* |sin|, |cos| <= 1 and sin^2 + cos^2 = 1 up to the two roundings to float (each value
 * off by at most 2^-24 relative, so the sum by at most 2^-22 + 2^-48), even for huge t
 * whose phase is meaningless; t = 0 gives exactly 0 and 1, t = -0 gives -0 and 1. */
Test(diffusion, time_embedding_bounded_and_zero_at_t0)
{
    static const float t[] = {0.0f, -0.0f, 1e-45f, 3e38f, -3e38f, 1e20f, 123456.7f, -5.0f};
    enum { N = sizeof t / sizeof *t, DIM = 32, HALF = DIM / 2 };
    float out[N * DIM];
    size_t k, i;
    cr_assert_eq(tg_time_embedding(t, N, DIM, TG_TIME_EMBEDDING_MAX_PERIOD, out), TG_OK);
    for (k = 0; k < N; k++)
        for (i = 0; i < HALF; i++) {
            const double s = out[k * DIM + i], c = out[k * DIM + HALF + i];
            cr_assert(fabs(s) <= 1.0 && fabs(c) <= 1.0, "t = %g, i = %zu", (double)t[k], i);
            cr_assert(fabs(s * s + c * c - 1.0) <= 0x1p-22 + 0x1p-48, "t = %g, i = %zu: "
                      "sin^2 + cos^2 = %.17g", (double)t[k], i, s * s + c * c);
        }
    for (i = 0; i < HALF; i++) {
        cr_assert(out[i] == 0.0f && !signbit(out[i]) && out[HALF + i] == 1.0f);
        cr_assert(out[DIM + i] == 0.0f && signbit(out[DIM + i]) && out[DIM + HALF + i] == 1.0f);
    }
}

Test(diffusion, time_embedding_errors)
{
    const float t[3] = {1.0f, NAN, 2.0f};
    const float inf = INFINITY;
    float out[12];
    size_t i;
    for (i = 0; i < 12; i++)
        out[i] = 42.0f;
    cr_assert_eq(tg_time_embedding(t, 1, 3, 1e4, out), TG_ERR_SHAPE);
    cr_assert(HAS("tg_time_embedding") && HAS("dim = 3") && HAS("even"), "%s", tg_last_error());
    cr_assert_eq(tg_time_embedding(t, 1, 0, 1e4, out), TG_ERR_SIZE);
    cr_assert(HAS("dim = 0"), "%s", tg_last_error());
    cr_assert_eq(tg_time_embedding(t, (size_t)-1 / 2, 4, 1e4, out), TG_ERR_SIZE);
    cr_assert(HAS("overflows"), "%s", tg_last_error());
    cr_assert_eq(tg_time_embedding(t, 1, 4, 0.0, out), TG_ERR_PARAM);
    cr_assert(HAS("max_period = 0"), "%s", tg_last_error());
    cr_assert_eq(tg_time_embedding(t, 1, 4, -10.0, out), TG_ERR_PARAM);
    cr_assert_eq(tg_time_embedding(t, 1, 4, NAN, out), TG_ERR_PARAM);
    cr_assert_eq(tg_time_embedding(t, 1, 4, INFINITY, out), TG_ERR_PARAM);
    cr_assert_eq(tg_time_embedding(NULL, 1, 4, 1e4, out), TG_ERR_NULL);
    cr_assert(HAS("t is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_time_embedding(t, 1, 4, 1e4, NULL), TG_ERR_NULL);
    cr_assert(HAS("out is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_time_embedding(t, 3, 4, 1e4, out), TG_ERR_DOMAIN);
    cr_assert(HAS("t[1] = nan"), "%s", tg_last_error());
    cr_assert_eq(tg_time_embedding(&inf, 1, 4, 1e4, out), TG_ERR_DOMAIN);
    cr_assert(HAS("t[0] = inf"), "%s", tg_last_error());
    for (i = 0; i < 12; i++)
        cr_assert(out[i] == 42.0f, "a refused call writes nothing");
    cr_assert_eq(tg_time_embedding(NULL, 0, 4, 1e4, NULL), TG_OK, "n = 0 touches nothing");
    cr_assert_eq(tg_time_embedding(NULL, 0, 5, 1e4, NULL), TG_ERR_SHAPE,
                 "the shape is checked even when n = 0");
}

/* ---- the DDPM step --------------------------------------------------------------- */

/* The documented arithmetic, written out: products, then sums, one rounding. */
static float step_value(double cx, double ce, double sigma, float x, float e, const float *z)
{
    const double px = cx * (double)x;
    const double pe = ce * (double)e;
    const double mean = px + pe;
    if (!z)
        return (float)mean;
    {
        const double pz = sigma * (double)*z;
        return (float)(mean + pz);
    }
}

/* x_{t-1} = cx x_t + ce eps + sigma z, bit for bit, with cx, ce and sigma from
 * tg_ddpm_posterior as diffusion.h states and z the values tg_normal_fill draws from the
 * same state, which the call then leaves in the same state. n = 1001 is odd and crosses
 * the sampler's internal noise chunks. Both variance choices, early, middle and last t. */
Test(diffusion, ddpm_step_is_posterior_mean_plus_noise)
{
    enum { N = 1001 };
    static const size_t ts[] = {2, 3, 500, 1000};
    static float x[N], e[N], z[N], got[N];
    tg_ddpm_schedule s;
    size_t k, v, i;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 5u, 6u);
    random_floats(&g, x, N, -3.0f, 3.0f);
    random_floats(&g, e, N, -2.0f, 2.0f);
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    for (k = 0; k < sizeof ts / sizeof *ts; k++)
        for (v = 0; v < 2; v++) {
            const size_t t = ts[k];
            const tg_ddpm_sigma choice = v ? TG_DDPM_SIGMA_BETA : TG_DDPM_SIGMA_POSTERIOR;
            tg_ddpm_posterior_coef pc;
            tg_pcg32 g1, g2;
            double cx, ce, sigma;
            tg_pcg32_seed(&g1, 100u + t, v);
            g2 = g1;
            cr_assert_eq(tg_ddpm_sample_step(&s, t, choice, x, e, N, &g1, got), TG_OK);
            cr_assert_eq(tg_normal_fill(&g2, z, N), TG_OK);
            cr_assert(g1.state == g2.state, "t = %zu: the step draws exactly n normals", t);
            cr_assert_eq(tg_ddpm_posterior(&s, t, &pc), TG_OK);
            cx = pc.inv_sqrt_alpha;
            ce = -(pc.inv_sqrt_alpha * pc.eps_coef);
            sigma = sqrt(v ? s.beta[t] : pc.variance);
            for (i = 0; i < N; i++) {
                const float want = step_value(cx, ce, sigma, x[i], e[i], &z[i]);
                cr_assert(got[i] == want, "t = %zu, %s, i = %zu: %.9g, want %.9g", t,
                          v ? "beta" : "posterior", i, (double)got[i], (double)want);
            }
        }
    tg_ddpm_schedule_free(&s);
}

/* At t = 1 the step adds no noise, under either choice: no draws (rng may be NULL, and a
 * given rng is left alone) and out = cx x + ce eps, which is x_0 predicted from eps. */
Test(diffusion, ddpm_step_draws_nothing_at_t1)
{
    enum { N = 300 };
    static float x[N], e[N], a[N], b[N];
    tg_ddpm_schedule s;
    tg_ddpm_posterior_coef pc;
    tg_pcg32 g, before;
    size_t i;
    tg_pcg32_seed(&g, 8u, 9u);
    random_floats(&g, x, N, -3.0f, 3.0f);
    random_floats(&g, e, N, -2.0f, 2.0f);
    before = g;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    cr_assert_eq(tg_ddpm_sample_step(&s, 1, TG_DDPM_SIGMA_POSTERIOR, x, e, N, NULL, a), TG_OK);
    cr_assert_eq(tg_ddpm_sample_step(&s, 1, TG_DDPM_SIGMA_BETA, x, e, N, &g, b), TG_OK);
    cr_assert(g.state == before.state, "no draws at t = 1");
    cr_assert_eq(tg_ddpm_posterior(&s, 1, &pc), TG_OK);
    for (i = 0; i < N; i++) {
        const float want = step_value(pc.inv_sqrt_alpha, -(pc.inv_sqrt_alpha * pc.eps_coef),
                                      0.0, x[i], e[i], NULL);
        cr_assert(a[i] == want && b[i] == want, "i = %zu", i);
    }
    /* the x_0 prediction (x - sqrt(1 - abar_1) eps) / sqrt(abar_1), relative 1e-6:
     * float output of a few double operations */
    for (i = 0; i < N; i++) {
        const double x0 = ((double)x[i] - s.q[1].b * (double)e[i]) / s.q[1].a;
        cr_assert(fabs(a[i] - x0) <= 1e-6 * (fabs(x0) + 1e-3), "i = %zu", i);
    }
    tg_ddpm_schedule_free(&s);
}

/* out may be xt, or eps: the same values as into a separate array. */
Test(diffusion, ddpm_step_in_place)
{
    enum { N = 700 };
    static float x[N], e[N], sep[N], in_x[N], in_e[N];
    tg_ddpm_schedule s;
    tg_pcg32 g, g1, g2, g3;
    tg_pcg32_seed(&g, 18u, 19u);
    random_floats(&g, x, N, -3.0f, 3.0f);
    random_floats(&g, e, N, -2.0f, 2.0f);
    memcpy(in_x, x, sizeof x);
    memcpy(in_e, e, sizeof e);
    cr_assert_eq(tg_ddpm_schedule_cosine(200, &s), TG_OK);
    g1 = g2 = g3 = g;
    cr_assert_eq(tg_ddpm_sample_step(&s, 150, TG_DDPM_SIGMA_POSTERIOR, x, e, N, &g1, sep), TG_OK);
    cr_assert_eq(tg_ddpm_sample_step(&s, 150, TG_DDPM_SIGMA_POSTERIOR, in_x, e, N, &g2, in_x),
                 TG_OK);
    cr_assert_eq(tg_ddpm_sample_step(&s, 150, TG_DDPM_SIGMA_POSTERIOR, x, in_e, N, &g3, in_e),
                 TG_OK);
    cr_assert(memcmp(sep, in_x, sizeof sep) == 0 && memcmp(sep, in_e, sizeof sep) == 0);
    tg_ddpm_schedule_free(&s);
}

Test(diffusion, ddpm_step_errors)
{
    float x[4] = {0}, e[4] = {0}, out[4];
    tg_ddpm_schedule s;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 1u, 1u);
    cr_assert_eq(tg_ddpm_schedule_linear(10, 1e-4, 0.02, &s), TG_OK);
    cr_assert_eq(tg_ddpm_sample_step(&s, 0, TG_DDPM_SIGMA_POSTERIOR, x, e, 4, &g, out),
                 TG_ERR_PARAM);
    cr_assert(HAS("tg_ddpm_sample_step") && HAS("t = 0 is outside 1..10"), "%s",
              tg_last_error());
    cr_assert_eq(tg_ddpm_sample_step(&s, 11, TG_DDPM_SIGMA_POSTERIOR, x, e, 4, &g, out),
                 TG_ERR_PARAM);
    cr_assert(HAS("t = 11"), "%s", tg_last_error());
    cr_assert_eq(tg_ddpm_sample_step(&s, 5, (tg_ddpm_sigma)2, x, e, 4, &g, out), TG_ERR_PARAM);
    cr_assert(HAS("sigma = 2"), "%s", tg_last_error());
    cr_assert_eq(tg_ddpm_sample_step(NULL, 5, TG_DDPM_SIGMA_POSTERIOR, x, e, 4, &g, out),
                 TG_ERR_NULL);
    cr_assert(HAS("schedule is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_ddpm_sample_step(&s, 5, TG_DDPM_SIGMA_POSTERIOR, NULL, e, 4, &g, out),
                 TG_ERR_NULL);
    cr_assert(HAS("xt is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_ddpm_sample_step(&s, 5, TG_DDPM_SIGMA_POSTERIOR, x, NULL, 4, &g, out),
                 TG_ERR_NULL);
    cr_assert(HAS("eps is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_ddpm_sample_step(&s, 5, TG_DDPM_SIGMA_POSTERIOR, x, e, 4, &g, NULL),
                 TG_ERR_NULL);
    cr_assert(HAS("out is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_ddpm_sample_step(&s, 5, TG_DDPM_SIGMA_POSTERIOR, x, e, 4, NULL, out),
                 TG_ERR_NULL);
    cr_assert(HAS("rng is NULL") && HAS("t = 5"), "%s", tg_last_error());
    cr_assert_eq(tg_ddpm_sample_step(&s, 5, TG_DDPM_SIGMA_POSTERIOR, NULL, NULL, 0, NULL, NULL),
                 TG_OK, "n = 0 touches nothing");
    tg_ddpm_schedule_free(&s);
    cr_assert_eq(tg_ddpm_sample_step(&s, 5, TG_DDPM_SIGMA_POSTERIOR, x, e, 4, &g, out),
                 TG_ERR_STATE);
    cr_assert(HAS("empty"), "%s", tg_last_error());
}

/* ---- DDIM ------------------------------------------------------------------------- */

/* Song et al.'s eq. 12 as printed, in long double from the betas: abar as the product
 * of the alphas, x0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t), then
 * x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z. Expanded:
 * coef_xt = sqrt(abar_s / abar_t), coef_eps = dir - sqrt(abar_s / abar_t) sqrt(1 - abar_t).
 * The subtractions cancel at most about 1e5-fold here (1 - abar_1 = 1e-4; coef_eps near
 * s = t - 1), so the 64-bit long double keeps 1e-14 relative. */
static long double ddim_reference(const tg_ddpm_schedule *s, size_t t, size_t sp,
                                  long double eta, long double *cx, long double *ce,
                                  long double *sigma)
{
    long double abar_t = 1.0L, abar_s = 1.0L, dir2;
    size_t u;
    for (u = 1; u <= t; u++) {
        abar_t *= 1.0L - (long double)s->beta[u];
        if (u == sp)
            abar_s = abar_t;
    }
    *sigma = eta * sqrtl((1.0L - abar_s) / (1.0L - abar_t)) * sqrtl(1.0L - abar_t / abar_s);
    dir2 = 1.0L - abar_s - *sigma * *sigma;
    *cx = sqrtl(abar_s / abar_t);
    *ce = sqrtl(dir2 > 0.0L ? dir2 : 0.0L) - *cx * sqrtl(1.0L - abar_t);
    return dir2 / (1.0L - abar_s);   /* < 0: eta is too large for this step */
}

static void check_rel(long double got, long double want, long double tol, const char *what,
                      size_t t, size_t sp, double eta)
{
    cr_assert(fabsl(got - want) <= tol * fabsl(want), "%s(t = %zu, s = %zu, eta = %g) = "
              "%.17Lg, want %.17Lg (relative %.3Lg)", what, t, sp, eta, got, want,
              want != 0.0L ? fabsl(got - want) / fabsl(want) : fabsl(got));
}

/* The coefficients against eq. 12 over the step pairs a sampler uses (50 and 1000 steps,
 * the first and last steps, jumps to the data level), both schedules, and eta in
 * {0, 0.5, 1, 1.2}; eta = 1.2 must be refused exactly where sigma^2 > 1 - abar_s.
 * Relative 2e-14, ten times the measured worst (1.9e-15): the library's forms have no
 * cancellation, and their inputs (the composed kernels' sqrt(abar) and sqrt(1 - abar),
 * a sum of log1p) carry errors of a few ulps that grow at most like t ulps. Eq. 12
 * evaluated as printed in double is 7.7e-13 off on these cases (coef_eps near s = t - 1
 * and at small t): this tolerance tells the two apart. */
Test(diffusion, ddim_coefs_match_song_eq12)
{
    tu_require_extended_long_double();
    static const size_t pairs[][2] = {
        {1, 0}, {2, 1}, {2, 0}, {20, 0}, {40, 20}, {500, 499}, {500, 480}, {999, 998},
        {1000, 999}, {1000, 980}, {1000, 0}, {1000, 500}, {980, 960},
    };
    static const double etas[] = {0.0, 0.5, 1.0, 1.2};
    tg_ddpm_schedule sched[2];
    size_t k, p, j;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &sched[0]), TG_OK);
    cr_assert_eq(tg_ddpm_schedule_cosine(1000, &sched[1]), TG_OK);
    for (k = 0; k < 2; k++)
        for (p = 0; p < sizeof pairs / sizeof *pairs; p++)
            for (j = 0; j < sizeof etas / sizeof *etas; j++) {
                const size_t t = pairs[p][0], sp = pairs[p][1];
                const double eta = etas[j];
                long double cx, ce, sg, room;
                tg_ddim_coef c;
                const tg_status st = tg_ddim_coefs(&sched[k], t, sp, eta, &c);
                room = ddim_reference(&sched[k], t, sp, eta, &cx, &ce, &sg);
                cr_assert(eta <= 1.0 || sp == 0 || fabsl(room) > 1e-6L, "not on the limit");
                if (sp > 0 && room < 0.0L) {
                    cr_assert_eq(st, TG_ERR_PARAM, "eta = %g too large for %zu -> %zu", eta, t,
                                 sp);
                    continue;
                }
                cr_assert_eq(st, TG_OK, "%s", tg_last_error());
                check_rel(c.coef_xt, cx, 2e-14L, "coef_xt", t, sp, eta);
                check_rel(c.coef_eps, ce, 2e-14L, "coef_eps", t, sp, eta);
                check_rel(c.sigma, sg, 2e-14L, "sigma", t, sp, eta);
                if (eta == 0.0 || sp == 0)
                    cr_assert(c.sigma == 0.0, "sigma is exactly 0 when eta = 0 or s = 0");
            }
    tg_ddpm_schedule_free(&sched[0]);
    tg_ddpm_schedule_free(&sched[1]);
}

/* eta = 1 from t to t - 1 is the DDPM step with the posterior variance (Song et al., 4.1):
 * the same mean coefficients and sigma^2 = beta~_t; and s = 0 predicts
 * x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t) with no noise. Relative 2e-14: two
 * routes to the same numbers, each a few ulps off (measured worst 3.1e-15, for the x_0
 * eps coefficient, whose 1 - abar_t comes from a sum of up to 1000 log1p here). */
Test(diffusion, ddim_eta1_one_step_is_ddpm)
{
    tg_ddpm_schedule s;
    size_t t;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    for (t = 1; t <= 1000; t++) {
        tg_ddpm_posterior_coef pc;
        tg_ddim_coef c, z;
        cr_assert_eq(tg_ddpm_posterior(&s, t, &pc), TG_OK);
        cr_assert_eq(tg_ddim_coefs(&s, t, t - 1, 1.0, &c), TG_OK);
        check_rel(c.coef_xt, pc.inv_sqrt_alpha, 2e-14L, "coef_xt", t, t - 1, 1.0);
        check_rel(c.coef_eps, -(pc.inv_sqrt_alpha * pc.eps_coef), 2e-14L, "coef_eps", t,
                  t - 1, 1.0);
        check_rel(c.sigma * c.sigma, pc.variance, 2e-14L, "sigma^2", t, t - 1, 1.0);
        cr_assert_eq(tg_ddim_coefs(&s, t, 0, 0.7, &z), TG_OK);
        check_rel(z.coef_xt, 1.0 / s.q[t].a, 2e-14L, "x0 coef_xt", t, 0, 0.7);
        check_rel(z.coef_eps, -s.q[t].b / s.q[t].a, 2e-14L, "x0 coef_eps", t, 0, 0.7);
        cr_assert(z.sigma == 0.0);
    }
    tg_ddpm_schedule_free(&s);
}

/* Bit for bit the documented arithmetic with the coefficients of tg_ddim_coefs; the
 * noise is one tg_normal_fill of n values when eta > 0 and s > 0, and there are no draws
 * at all otherwise (eta = 0, or the last step to s = 0), when rng may be NULL. */
Test(diffusion, ddim_step_stream)
{
    enum { N = 1001 };
    static const struct {
        size_t t, s;
        double eta;
    } cases[] = {{1000, 980, 0.7}, {20, 1, 1.0}, {1000, 980, 0.0}, {20, 0, 1.0}, {3, 2, 1.1}};
    static float x[N], e[N], z[N], got[N];
    tg_ddpm_schedule sched;
    size_t k, i;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 31u, 32u);
    random_floats(&g, x, N, -3.0f, 3.0f);
    random_floats(&g, e, N, -2.0f, 2.0f);
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &sched), TG_OK);
    for (k = 0; k < sizeof cases / sizeof *cases; k++) {
        const int draws = cases[k].eta > 0.0 && cases[k].s > 0;
        tg_ddim_coef c;
        tg_pcg32 g1, g2;
        tg_pcg32_seed(&g1, 300u + k, 1u);
        g2 = g1;
        cr_assert_eq(tg_ddim_coefs(&sched, cases[k].t, cases[k].s, cases[k].eta, &c), TG_OK,
                     "%s", tg_last_error());
        cr_assert_eq(tg_ddim_sample_step(&sched, cases[k].t, cases[k].s, cases[k].eta, x, e, N,
                                         draws ? &g1 : NULL, got), TG_OK, "%s", tg_last_error());
        if (draws)
            cr_assert_eq(tg_normal_fill(&g2, z, N), TG_OK);
        cr_assert(g1.state == g2.state, "case %zu: the draws are those documented", k);
        for (i = 0; i < N; i++) {
            const float want = step_value(c.coef_xt, c.coef_eps, c.sigma, x[i], e[i],
                                          draws ? &z[i] : NULL);
            cr_assert(got[i] == want, "case %zu, i = %zu: %.9g, want %.9g", k, i,
                      (double)got[i], (double)want);
        }
        if (!draws) {
            /* a given rng is left alone too */
            tg_pcg32 g3 = g1;
            cr_assert_eq(tg_ddim_sample_step(&sched, cases[k].t, cases[k].s, cases[k].eta, x,
                                             e, N, &g3, got), TG_OK);
            cr_assert(g3.state == g1.state);
        }
    }
    tg_ddpm_schedule_free(&sched);
}

/* A fixed linear "predictor" eps = 0.3 x + 0.1, standing in for a network. */
static void fake_eps(const float *x, size_t n, float *eps)
{
    size_t i;
    for (i = 0; i < n; i++)
        eps[i] = 0.3f * x[i] + 0.1f;
}

static void ddim_chain(const tg_ddpm_schedule *s, const size_t *tau, size_t K, float *x,
                       float *eps, size_t n)
{
    size_t k;
    for (k = K; k >= 1; k--) {
        fake_eps(x, n, eps);
        cr_assert_eq(tg_ddim_sample_step(s, tau[k], tau[k - 1], 0.0, x, eps, n, NULL, x), TG_OK,
                     "%s", tg_last_error());
    }
}

/* DDIM at eta = 0 is a deterministic map of x_T: the same x_T gives the same x_0 twice,
 * bit for bit, with no random numbers at all; and distinct x_T give distinct x_0 (the map
 * is affine with positive coefficient on x_t at every step, so it cannot merge points). */
Test(diffusion, ddim_eta0_is_deterministic)
{
    enum { N = 512, K = 50 };
    static float x1[N], x2[N], x3[N], eps[N];
    size_t tau[K + 1], i;
    tg_ddpm_schedule s;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 77u, 78u);
    cr_assert_eq(tg_normal_fill(&g, x1, N), TG_OK);
    memcpy(x2, x1, sizeof x1);
    for (i = 0; i < N; i++)
        x3[i] = x1[i] + 1e-3f;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    cr_assert_eq(tg_ddim_timesteps(1000, K, tau), TG_OK);
    ddim_chain(&s, tau, K, x1, eps, N);
    ddim_chain(&s, tau, K, x2, eps, N);
    ddim_chain(&s, tau, K, x3, eps, N);
    cr_assert(memcmp(x1, x2, sizeof x1) == 0, "same x_T, same x_0");
    for (i = 0; i < N; i++) {
        cr_assert(isfinite(x1[i]));
        cr_assert(x3[i] != x1[i], "i = %zu: distinct x_T, distinct x_0", i);
    }
    tg_ddpm_schedule_free(&s);
}

Test(diffusion, ddim_timesteps_even)
{
    size_t tau[1001], k, K;
    static const size_t want3[] = {0, 3, 6, 10};
    cr_assert_eq(tg_ddim_timesteps(1000, 50, tau), TG_OK);
    for (k = 0; k <= 50; k++)
        cr_assert_eq(tau[k], 20 * k);
    cr_assert_eq(tg_ddim_timesteps(10, 3, tau), TG_OK);
    cr_assert(memcmp(tau, want3, sizeof want3) == 0, "%zu %zu %zu %zu", tau[0], tau[1], tau[2],
              tau[3]);
    cr_assert_eq(tg_ddim_timesteps(7, 1, tau), TG_OK);
    cr_assert(tau[0] == 0 && tau[1] == 7);
    /* every K for a prime T: from 0 to T, strictly increasing, gaps floor(T/K) or one more */
    for (K = 1; K <= 97; K++) {
        cr_assert_eq(tg_ddim_timesteps(97, K, tau), TG_OK);
        cr_assert(tau[0] == 0 && tau[K] == 97, "K = %zu", K);
        for (k = 1; k <= K; k++) {
            const size_t gap = tau[k] - tau[k - 1];
            cr_assert(tau[k] > tau[k - 1] && (gap == 97 / K || gap == 97 / K + 1), "K = %zu",
                      K);
        }
    }
}

Test(diffusion, ddim_errors)
{
    float x[4] = {0}, e[4] = {0}, out[4];
    size_t tau[4];
    tg_ddpm_schedule s;
    tg_ddim_coef c;
    tg_pcg32 g;
    static const double bad_eta[] = {-0.1, -INFINITY, INFINITY, NAN};
    size_t i;
    tg_pcg32_seed(&g, 1u, 1u);
    cr_assert_eq(tg_ddpm_schedule_linear(10, 1e-4, 0.02, &s), TG_OK);
    cr_assert_eq(tg_ddim_sample_step(&s, 11, 0, 0.0, x, e, 4, NULL, out), TG_ERR_PARAM);
    cr_assert(HAS("tg_ddim_sample_step") && HAS("t = 11 is outside 1..10"), "%s",
              tg_last_error());
    cr_assert_eq(tg_ddim_sample_step(&s, 0, 0, 0.0, x, e, 4, NULL, out), TG_ERR_PARAM);
    cr_assert_eq(tg_ddim_sample_step(&s, 5, 5, 0.0, x, e, 4, NULL, out), TG_ERR_PARAM);
    cr_assert(HAS("s = 5 must be below t = 5"), "%s", tg_last_error());
    cr_assert_eq(tg_ddim_sample_step(&s, 5, 7, 0.0, x, e, 4, NULL, out), TG_ERR_PARAM);
    cr_assert_eq(tg_ddim_coefs(&s, 5, 6, 0.0, &c), TG_ERR_PARAM);
    cr_assert(HAS("tg_ddim_coefs") && HAS("s = 6"), "%s", tg_last_error());
    for (i = 0; i < sizeof bad_eta / sizeof *bad_eta; i++) {
        cr_assert_eq(tg_ddim_sample_step(&s, 5, 3, bad_eta[i], x, e, 4, &g, out), TG_ERR_PARAM);
        cr_assert(HAS("eta = ") && HAS("finite and >= 0"), "%s", tg_last_error());
        cr_assert_eq(tg_ddim_coefs(&s, 5, 3, bad_eta[i], &c), TG_ERR_PARAM);
    }
    /* eta > 1 is refused once sigma^2 would exceed 1 - abar_s; the message gives the limit */
    cr_assert_eq(tg_ddim_coefs(&s, 10, 1, 50.0, &c), TG_ERR_PARAM);
    cr_assert(HAS("eta = 50 is too large") && HAS("at most"), "%s", tg_last_error());
    cr_assert_eq(tg_ddim_sample_step(&s, 5, 3, 0.5, x, e, 4, NULL, out), TG_ERR_NULL);
    cr_assert(HAS("rng is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_ddim_sample_step(&s, 5, 3, 0.5, NULL, e, 4, &g, out), TG_ERR_NULL);
    cr_assert(HAS("xt is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_ddim_sample_step(&s, 5, 3, 0.5, x, NULL, 4, &g, out), TG_ERR_NULL);
    cr_assert_eq(tg_ddim_sample_step(&s, 5, 3, 0.5, x, e, 4, &g, NULL), TG_ERR_NULL);
    cr_assert_eq(tg_ddim_sample_step(NULL, 5, 3, 0.5, x, e, 4, &g, out), TG_ERR_NULL);
    cr_assert_eq(tg_ddim_coefs(&s, 5, 3, 0.5, NULL), TG_ERR_NULL);
    cr_assert_eq(tg_ddim_sample_step(&s, 5, 3, 0.5, NULL, NULL, 0, NULL, NULL), TG_OK);
    tg_ddpm_schedule_free(&s);
    cr_assert_eq(tg_ddim_coefs(&s, 5, 3, 0.5, &c), TG_ERR_STATE);
    cr_assert(HAS("empty"), "%s", tg_last_error());
    /* a schedule that destroys the signal: abar_400 = 0.01^400 underflows (so does its
     * square root, 1e-400), and x_0 cannot be recovered from x_400; at t = 300,
     * sqrt(abar_s / abar_t) = 1e300 still fits, at t = 320 (subnormal 1e-320) it overflows */
    {
        static double betas[400];
        for (i = 0; i < 400; i++)
            betas[i] = 0.99;
        cr_assert_eq(tg_ddpm_schedule_from_betas(400, betas, &s), TG_OK);
        cr_assert_eq(tg_ddim_coefs(&s, 400, 0, 0.0, &c), TG_ERR_PARAM);
        cr_assert(HAS("abar_400 underflows to 0"), "%s", tg_last_error());
        cr_assert_eq(tg_ddim_coefs(&s, 300, 0, 0.0, &c), TG_OK);
        cr_assert(c.coef_xt > 1e299 && isfinite(c.coef_xt));
        cr_assert_eq(tg_ddim_sample_step(&s, 320, 0, 0.0, x, e, 4, NULL, out), TG_ERR_PARAM);
        cr_assert(HAS("overflow"), "%s", tg_last_error());
        tg_ddpm_schedule_free(&s);
    }
    /* the timesteps */
    cr_assert_eq(tg_ddim_timesteps(10, 0, tau), TG_ERR_PARAM);
    cr_assert(HAS("tg_ddim_timesteps") && HAS("K = 0"), "%s", tg_last_error());
    cr_assert_eq(tg_ddim_timesteps(10, 11, tau), TG_ERR_PARAM);
    cr_assert_eq(tg_ddim_timesteps(0, 0, tau), TG_ERR_PARAM);
    cr_assert_eq(tg_ddim_timesteps(10, 3, NULL), TG_ERR_NULL);
    cr_assert_eq(tg_ddim_timesteps((size_t)-1, (size_t)-1 / 2, tau), TG_ERR_SIZE);
    cr_assert(HAS("overflows"), "%s", tg_last_error());
}

/* ---- no allocation ----------------------------------------------------------------- */

static void *refuse(size_t size, void *ctx)
{
    (void)size;
    (void)ctx;
    return NULL;
}

static void release(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

/* With an allocator that refuses everything installed, every call still succeeds. */
Test(diffusion, sampling_allocates_nothing)
{
    enum { N = 600 };
    static float x[N], e[N], out[N], y[N];
    const tg_allocator none = {refuse, release, NULL};
    const float t[3] = {0.0f, 10.0f, 999.0f};
    float emb[3 * 16];
    size_t tau[11];
    double d;
    tg_ddpm_schedule s;
    tg_ddim_coef c;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 4u, 4u);
    random_floats(&g, x, N, -1.0f, 1.0f);
    random_floats(&g, e, N, -1.0f, 1.0f);
    random_floats(&g, y, N, -1.0f, 1.0f);
    cr_assert_eq(tg_ddpm_schedule_linear(100, 1e-4, 0.02, &s), TG_OK);
    tg_set_allocator(&none);
    cr_assert_eq(tg_time_embedding(t, 3, 16, TG_TIME_EMBEDDING_MAX_PERIOD, emb), TG_OK);
    cr_assert_eq(tg_ddpm_sample_step(&s, 50, TG_DDPM_SIGMA_POSTERIOR, x, e, N, &g, out), TG_OK);
    cr_assert_eq(tg_ddim_timesteps(100, 10, tau), TG_OK);
    cr_assert_eq(tg_ddim_coefs(&s, 50, 40, 1.0, &c), TG_OK);
    cr_assert_eq(tg_ddim_sample_step(&s, 50, 40, 1.0, x, e, N, &g, out), TG_OK);
    cr_assert_eq(tg_energy_distance(x, N / 2, y, N / 3, 2, &d), TG_OK);
    tg_set_allocator(NULL);
    tg_ddpm_schedule_free(&s);
}
