/* The samplers against a closed form. For Gaussian data x_0 ~ N(mu, Sigma) in 2-D,
 *     x_t ~ N(sqrt(abar_t) mu, C_t),  C_t = abar_t Sigma + (1 - abar_t) I,
 * and the optimal epsilon predictor is exactly
 *     eps*(x_t, t) = E[eps | x_t] = sqrt(1 - abar_t) C_t^{-1} (x_t - sqrt(abar_t) mu).
 * Sampling from x_T ~ N(0, I) with eps* must give back mu and Sigma. Not exactly: x_T is
 * not quite N(sqrt(abar_T) mu, C_T), and a sampler with finitely many steps of fixed
 * variance does not reproduce the reverse process exactly. Because every step is affine
 * in x with Gaussian noise, the law of the sampler's output is itself Gaussian, and its
 * mean m and covariance P follow exactly by pushing (m, P) through each step:
 *     x' = cx x + ce eps*(x) + sigma z = A x + c + sigma z,
 *     A = cx I + ce b_t C_t^{-1},  c = -ce b_t a_t C_t^{-1} mu,
 *     m' = A m + c,  P' = A P A^T + sigma^2 I,
 * with cx, ce, sigma taken from the papers' formulas in long double (not from the
 * library). Each test checks, with N samples of the library's sampler:
 *   1. the discretization bias |m - mu|, |P - Sigma| is within the bound stated for that
 *      sampler (the value of the propagation, rounded up: what we expect it to be);
 *   2. the sample mean and covariance match (m, P) within 5 standard errors, with
 *      SE(mean_j) = sqrt(P_jj / N) and SE(cov_jk) = sqrt((P_jj P_kk + P_jk^2) / N)
 *      (Gaussian fourth moments); two-sided false alarm 5.7e-7 per statistic;
 *   3. and so match (mu, Sigma) within 5 standard errors plus the bias bound.
 * Check 2 is the sharp one: the DDIM covariance biases are several times 5 standard
 * errors, so a sampler that hit (mu, Sigma) by some other route would fail it. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

static const double MU[2] = {1.0, -0.5};
static const double SIGMA[2][2] = {{1.0, 0.6}, {0.6, 0.5}};   /* correlation 0.85 */

#define NSE 5.0

typedef struct {
    int ddim;              /* 0: DDPM with every step; 1: DDIM with K steps */
    tg_ddpm_sigma var;     /* DDPM's variance */
    size_t K;              /* DDIM's step count */
    double eta;            /* DDIM's eta */
} sampler;

typedef struct {
    long double m[2];
    long double P[2][2];
} law2;

/* C^{-1} for C = abar Sigma + (1 - abar) I, given abar and 1 - abar separately (the
 * latter accurate for small t). */
static void c_inverse(long double abar, long double one_minus, long double Ci[2][2])
{
    const long double c00 = abar * SIGMA[0][0] + one_minus, c01 = abar * SIGMA[0][1];
    const long double c11 = abar * SIGMA[1][1] + one_minus;
    const long double det = c00 * c11 - c01 * c01;
    Ci[0][0] = c11 / det;
    Ci[1][1] = c00 / det;
    Ci[0][1] = Ci[1][0] = -c01 / det;
}

/* abar[0..T] in long double, and 1 - abar as the sum it is, without cancellation:
 * 1 - abar_t = 1 - abar_{t-1} + abar_{t-1} beta_t. */
static void abars(const tg_ddpm_schedule *s, long double *abar, long double *om)
{
    size_t t;
    abar[0] = 1.0L;
    om[0] = 0.0L;
    for (t = 1; t <= s->T; t++) {
        abar[t] = abar[t - 1] * (1.0L - (long double)s->beta[t]);
        om[t] = om[t - 1] + abar[t - 1] * (long double)s->beta[t];
    }
}

/* One affine step of the law: x' = cx x + ce eps*(x, t) + sigma z. */
static void push(law2 *L, long double cx, long double ce, long double sigma, long double abar,
                 long double om)
{
    long double Ci[2][2], A[2][2], c[2], m[2], AP[2][2];
    const long double a = sqrtl(abar), b = sqrtl(om);
    int i, j, k;
    c_inverse(abar, om, Ci);
    for (i = 0; i < 2; i++) {
        for (j = 0; j < 2; j++)
            A[i][j] = (i == j ? cx : 0.0L) + ce * b * Ci[i][j];
        c[i] = -ce * b * a * (Ci[i][0] * MU[0] + Ci[i][1] * MU[1]);
    }
    for (i = 0; i < 2; i++)
        m[i] = A[i][0] * L->m[0] + A[i][1] * L->m[1] + c[i];
    for (i = 0; i < 2; i++)
        for (j = 0; j < 2; j++)
            AP[i][j] = A[i][0] * L->P[0][j] + A[i][1] * L->P[1][j];
    for (i = 0; i < 2; i++) {
        L->m[i] = m[i];
        for (j = 0; j < 2; j++) {
            long double v = 0.0L;
            for (k = 0; k < 2; k++)
                v += AP[i][k] * A[j][k];
            L->P[i][j] = v + (i == j ? sigma * sigma : 0.0L);
        }
    }
}

/* The exact law of the sampler's output, from x_T ~ N(0, I). DDPM (Ho et al., Alg. 2):
 * cx = 1/sqrt(alpha_t), ce = -beta_t / (sqrt(alpha_t) sqrt(1 - abar_t)), sigma^2 =
 * beta~_t or beta_t, none at t = 1. DDIM (Song et al., eq. 12) from tau_k to tau_{k-1}:
 * cx = sqrt(abar_s / abar_t), ce = sqrt(1 - abar_s - sigma^2) - cx sqrt(1 - abar_t). */
static void propagate(const tg_ddpm_schedule *s, const sampler *sp, law2 *L)
{
    long double *abar = malloc((s->T + 1) * sizeof *abar), *om = malloc((s->T + 1) * sizeof *om);
    cr_assert(abar && om);
    abars(s, abar, om);
    memset(L, 0, sizeof *L);
    L->P[0][0] = L->P[1][1] = 1.0L;
    if (!sp->ddim) {
        size_t t;
        for (t = s->T; t >= 1; t--) {
            const long double beta = s->beta[t], alpha = 1.0L - beta;
            const long double var = t == 1 ? 0.0L : sp->var == TG_DDPM_SIGMA_BETA ? beta
                                                                    : om[t - 1] / om[t] * beta;
            push(L, 1.0L / sqrtl(alpha), -beta / (sqrtl(alpha) * sqrtl(om[t])), sqrtl(var),
                 abar[t], om[t]);
        }
    } else {
        size_t k;
        for (k = sp->K; k >= 1; k--) {
            const size_t t = k * s->T / sp->K, u = (k - 1) * s->T / sp->K;
            const long double sigma = sp->eta * sqrtl(om[u] / om[t]) *
                                      sqrtl(1.0L - abar[t] / abar[u]);
            const long double cx = sqrtl(abar[u] / abar[t]);
            const long double dir2 = om[u] - sigma * sigma;
            push(L, cx, sqrtl(dir2 > 0.0L ? dir2 : 0.0L) - cx * sqrtl(om[t]), sigma, abar[t],
                 om[t]);
        }
    }
    free(abar);
    free(om);
}

/* eps*(x, t) for n points, in double, rounded to float as a network's output would be. */
static void optimal_eps(const tg_ddpm_schedule *s, size_t t, const float *x, size_t n,
                        float *eps)
{
    const double a = s->q[t].a, b = s->q[t].b;
    const double c00 = a * a * SIGMA[0][0] + b * b, c01 = a * a * SIGMA[0][1];
    const double c11 = a * a * SIGMA[1][1] + b * b;
    const double det = c00 * c11 - c01 * c01;
    const double i00 = b * c11 / det, i01 = -b * c01 / det, i11 = b * c00 / det;
    size_t k;
    for (k = 0; k < n; k++) {
        const double d0 = (double)x[2 * k] - a * MU[0], d1 = (double)x[2 * k + 1] - a * MU[1];
        eps[2 * k] = (float)(i00 * d0 + i01 * d1);
        eps[2 * k + 1] = (float)(i01 * d0 + i11 * d1);
    }
}

/* N samples from the library's sampler with eps*; their mean and covariance (N - 1). */
static void run_sampler(const tg_ddpm_schedule *s, const sampler *sp, size_t N, uint64_t seed,
                        double mean[2], double cov[2][2])
{
    float *x = malloc(2 * N * sizeof *x), *eps = malloc(2 * N * sizeof *eps);
    size_t tau[1001], k, i;
    tg_pcg32 g;
    cr_assert(x && eps);
    tg_pcg32_seed(&g, seed, 17u);
    cr_assert_eq(tg_normal_fill(&g, x, 2 * N), TG_OK);
    if (!sp->ddim) {
        size_t t;
        for (t = s->T; t >= 1; t--) {
            optimal_eps(s, t, x, N, eps);
            cr_assert_eq(tg_ddpm_sample_step(s, t, sp->var, x, eps, 2 * N, &g, x), TG_OK, "%s",
                         tg_last_error());
        }
    } else {
        cr_assert_eq(tg_ddim_timesteps(s->T, sp->K, tau), TG_OK);
        for (k = sp->K; k >= 1; k--) {
            optimal_eps(s, tau[k], x, N, eps);
            cr_assert_eq(tg_ddim_sample_step(s, tau[k], tau[k - 1], sp->eta, x, eps, 2 * N, &g,
                                             x), TG_OK, "%s", tg_last_error());
        }
    }
    mean[0] = mean[1] = 0.0;
    for (i = 0; i < N; i++) {
        mean[0] += x[2 * i];
        mean[1] += x[2 * i + 1];
    }
    mean[0] /= (double)N;
    mean[1] /= (double)N;
    memset(cov, 0, 4 * sizeof(double));
    for (i = 0; i < N; i++) {
        const double d0 = x[2 * i] - mean[0], d1 = x[2 * i + 1] - mean[1];
        cov[0][0] += d0 * d0;
        cov[0][1] += d0 * d1;
        cov[1][1] += d1 * d1;
    }
    cov[0][0] /= (double)(N - 1);
    cov[0][1] /= (double)(N - 1);
    cov[1][1] /= (double)(N - 1);
    cov[1][0] = cov[0][1];
    free(x);
    free(eps);
}

/* The three checks of the header comment. */
static void check_sampler(const char *name, const tg_ddpm_schedule *s, const sampler *sp,
                          size_t N, uint64_t seed, double mean_bias, double cov_bias)
{
    law2 L;
    double mean[2], cov[2][2];
    int j, k;
    propagate(s, sp, &L);
    run_sampler(s, sp, N, seed, mean, cov);
    cr_log_info("%s, N = %zu: sample mean (%.5f, %.5f) cov (%.5f, %.5f, %.5f); the sampler's "
                "law (%.5f, %.5f) (%.5f, %.5f, %.5f)", name, N, mean[0], mean[1], cov[0][0],
                cov[0][1], cov[1][1], (double)L.m[0], (double)L.m[1], (double)L.P[0][0],
                (double)L.P[0][1], (double)L.P[1][1]);
    for (j = 0; j < 2; j++) {
        const double se = sqrt((double)L.P[j][j] / (double)N);
        const double bias = (double)L.m[j] - MU[j];
        cr_assert(fabs(bias) <= mean_bias, "%s: the sampler's law has mean_%d = %.6f, mu = "
                  "%.6f: bias %.3g above the stated %.3g", name, j, (double)L.m[j], MU[j],
                  bias, mean_bias);
        cr_assert(fabs(mean[j] - (double)L.m[j]) <= NSE * se, "%s: sample mean_%d = %.5f, "
                  "the sampler's law %.5f, 5 SE = %.4f", name, j, mean[j], (double)L.m[j],
                  NSE * se);
        cr_assert(fabs(mean[j] - MU[j]) <= NSE * se + mean_bias, "%s: sample mean_%d = %.5f, "
                  "mu = %.5f", name, j, mean[j], MU[j]);
        for (k = j; k < 2; k++) {
            const double se_c = sqrt((double)(L.P[j][j] * L.P[k][k] + L.P[j][k] * L.P[j][k]) /
                                     (double)N);
            const double cbias = (double)L.P[j][k] - SIGMA[j][k];
            cr_assert(fabs(cbias) <= cov_bias, "%s: the sampler's law has cov_%d%d = %.6f, "
                      "Sigma = %.6f: bias %.3g above the stated %.3g", name, j, k,
                      (double)L.P[j][k], SIGMA[j][k], cbias, cov_bias);
            cr_assert(fabs(cov[j][k] - (double)L.P[j][k]) <= NSE * se_c, "%s: sample cov_%d%d "
                      "= %.5f, the sampler's law %.5f, 5 SE = %.4f", name, j, k, cov[j][k],
                      (double)L.P[j][k], NSE * se_c);
            cr_assert(fabs(cov[j][k] - SIGMA[j][k]) <= NSE * se_c + cov_bias, "%s: sample "
                      "cov_%d%d = %.5f, Sigma = %.5f", name, j, k, cov[j][k], SIGMA[j][k]);
        }
    }
}

/* DDPM, all T = 1000 steps of Ho et al.'s linear schedule (1e-4 .. 0.02), posterior
 * variance. Expected bias (propagated): mean 2.8e-5 (x_T ~ N(0, I) ignores
 * sqrt(abar_T) mu = 0.0064 mu, which the chain then shrinks), covariance 0.0085 (beta~
 * leaves out the posterior's uncertainty about x_0). N = 20000: 5 SE = 0.035 (mean),
 * 0.05 (variance). */
Test(diffusion_gaussian, ddpm_sampler_reproduces_gaussian)
{
    const sampler sp = {0, TG_DDPM_SIGMA_POSTERIOR, 0, 0.0};
    tg_ddpm_schedule s;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    check_sampler("DDPM linear", &s, &sp, 20000, 1001u, 1e-4, 0.01);
    tg_ddpm_schedule_free(&s);
}

/* DDPM on the cosine schedule (T = 1000, the last beta clipped at 0.999), with the other
 * variance, sigma_t^2 = beta_t. Expected bias: mean 1.7e-9 (abar_T = 2.4e-9), covariance
 * 4.3e-4. N = 20000. */
Test(diffusion_gaussian, ddpm_sampler_beta_variance_reproduces_gaussian_cosine)
{
    const sampler sp = {0, TG_DDPM_SIGMA_BETA, 0, 0.0};
    tg_ddpm_schedule s;
    cr_assert_eq(tg_ddpm_schedule_cosine(1000, &s), TG_OK);
    check_sampler("DDPM cosine, beta", &s, &sp, 20000, 1002u, 1e-6, 1e-3);
    tg_ddpm_schedule_free(&s);
}

/* DDIM, 50 steps (tau_k = 20 k) of the linear schedule, eta = 0: deterministic after x_T.
 * Expected bias: mean 0.0043, covariance 0.070 (first order in the step: 0.036 at 100
 * steps, 0.0037 at 1000), three times 5 SE at N = 100000 (0.021 for a variance), so
 * check 2 tells the sampler's own law from the data's. */
Test(diffusion_gaussian, ddim_sampler_reproduces_gaussian_eta0)
{
    const sampler sp = {1, TG_DDPM_SIGMA_POSTERIOR, 50, 0.0};
    tg_ddpm_schedule s;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    check_sampler("DDIM 50, eta 0", &s, &sp, 100000, 1003u, 0.005, 0.075);
    tg_ddpm_schedule_free(&s);
}

/* DDIM, 50 steps, eta = 1: the posterior variance of the 20-step jumps, which leaves out
 * more of the x_0 uncertainty than one step does. Expected bias: mean 2.8e-5,
 * covariance 0.137 (0.075 at 100 steps; at 1000 it is DDPM's 0.0085). N = 100000. */
Test(diffusion_gaussian, ddim_sampler_reproduces_gaussian_eta1)
{
    const sampler sp = {1, TG_DDPM_SIGMA_POSTERIOR, 50, 1.0};
    tg_ddpm_schedule s;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    check_sampler("DDIM 50, eta 1", &s, &sp, 100000, 1004u, 1e-4, 0.14);
    tg_ddpm_schedule_free(&s);
}
