/* Sampling pieces for diffusion models, over plain float arrays (no tape): the
 * sinusoidal time embedding, the DDPM ancestral step, the DDIM step and its timesteps,
 * and the energy distance between two samples, the quality number of a sampler.
 * None of them allocates. The mathematics is in docs/rules.md, section "Diffusion
 * sampling". */
#ifndef TAPEGRAD_DIFFUSION_H
#define TAPEGRAD_DIFFUSION_H

#include <stddef.h>
#include "pcg32.h"
#include "prob.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- sinusoidal time embedding (Vaswani et al. 2017; Ho et al. 2020) ----------------
 * For each of the n time values t[k] and an even dim, with half = dim / 2 and
 * freq_i = max_period^(-i / half), i = 0..half-1:
 *     out[k*dim + i] = sin(t[k] freq_i),   out[k*dim + half + i] = cos(t[k] freq_i).
 * Each value is computed in double and rounded once to float, so it is within one float
 * ulp of the exact value while |t freq| 2^-53, the phase error of the double product, stays
 * far below that ulp (|t| up to 1e6 or so). t = 0 gives 0 and 1; t = -0 gives -0 and 1.
 * TG_ERR_SIZE for dim = 0 or n * dim overflowing, TG_ERR_SHAPE for an odd dim,
 * TG_ERR_PARAM for max_period not finite or <= 0, TG_ERR_DOMAIN for a non-finite t[k]
 * (out is then untouched), TG_ERR_NULL for t or out NULL with n > 0. */
#define TG_TIME_EMBEDDING_MAX_PERIOD 10000.0
TG_API tg_status tg_time_embedding(const float *t, size_t n, size_t dim, double max_period,
                                   float *out);

/* ---- the DDPM ancestral step (Ho et al. 2020, Algorithm 2 and eq. 11) ---------------
 * x_{t-1} = (x_t - eps_coef_t eps) / sqrt(alpha_t) + sigma_t z, z ~ N(0, I), for t = 1..T,
 * with the coefficients of tg_ddpm_posterior and the variance sigma_t^2 chosen by the
 * caller: the posterior variance beta~_t (TG_DDPM_SIGMA_POSTERIOR, the default value 0,
 * the lower of Ho et al.'s two choices, exact when x_0 is one point) or beta_t
 * (TG_DDPM_SIGMA_BETA, the upper one, exact when x_0 ~ N(0, I)). At t = 1 no noise is
 * added, whatever the choice. */
typedef enum {
    TG_DDPM_SIGMA_POSTERIOR = 0,   /* sigma_t^2 = beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t */
    TG_DDPM_SIGMA_BETA = 1         /* sigma_t^2 = beta_t */
} tg_ddpm_sigma;

/* One step from x_t to x_{t-1} over n floats: xt, the predicted noise eps, out. With
 * pc = tg_ddpm_posterior(s, t), the coefficients are, in double,
 *     cx = pc.inv_sqrt_alpha,  ce = -(pc.inv_sqrt_alpha * pc.eps_coef),
 *     sigma = sqrt(pc.variance) or sqrt(s->beta[t]),
 * and each value is, in double with one rounding at the end (no fused multiply-add),
 *     out[i] = (float)(cx xt[i] + ce eps[i] + sigma z[i])      (t > 1)
 *     out[i] = (float)(cx xt[i] + ce eps[i])                   (t = 1)
 * where z is what tg_normal_fill(rng, z, n) would draw: for t > 1 the call consumes
 * exactly the draws of one tg_normal_fill of n values, for t = 1 none (rng may then be
 * NULL). The noise goes through a small stack buffer. out may be xt or eps but must not
 * overlap them otherwise. Non-finite inputs pass through by IEEE rules (NaN in, NaN out).
 * TG_ERR_NULL (s; xt, eps, out with n > 0; rng when t > 1 and n > 0), TG_ERR_STATE
 * (empty schedule), TG_ERR_PARAM (t outside 1..T, an unknown sigma). */
TG_API tg_status tg_ddpm_sample_step(const tg_ddpm_schedule *s, size_t t, tg_ddpm_sigma sigma,
                                     const float *xt, const float *eps, size_t n,
                                     tg_pcg32 *rng, float *out);

/* ---- DDIM (Song, Meng & Ermon 2021, eq. 12) ------------------------------------------
 * From step t to an earlier s, 0 <= s < t <= T (s = 0 is the data level, abar_0 = 1):
 *     x0    = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)
 *     sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)
 *     x_s   = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z,
 * that is x_s = coef_xt x_t + coef_eps eps + sigma z. eta = 0 is deterministic; eta = 1
 * with s = t - 1 is the DDPM step with the posterior variance. */
typedef struct {
    double coef_xt;    /* sqrt(abar_s / abar_t) */
    double coef_eps;   /* sqrt(1 - abar_s - sigma^2) - sqrt(abar_s / abar_t) sqrt(1 - abar_t) */
    double sigma;      /* as above; 0 when eta = 0 or s = 0 */
} tg_ddim_coef;

/* The coefficients, in double, without cancellation (docs/rules.md gives the forms).
 * eta must be finite and >= 0; eta > 1 is accepted while sigma^2 <= 1 - abar_s, i.e.
 * eta <= sqrt(1 - abar_t) / sqrt(1 - abar_t / abar_s) (any eta when s = 0, where
 * sigma = 0). TG_ERR_NULL, TG_ERR_STATE (empty schedule), TG_ERR_PARAM (t outside 1..T,
 * s >= t, bad eta, or a schedule so long that sqrt(abar_t) underflows or
 * sqrt(abar_s / abar_t) overflows: x_0 is then lost in x_t). */
TG_API tg_status tg_ddim_coefs(const tg_ddpm_schedule *sched, size_t t, size_t s, double eta,
                               tg_ddim_coef *out);

/* One DDIM step over n floats. With c = tg_ddim_coefs(sched, t, s, eta), each value is,
 * in double with one rounding (no fused multiply-add),
 *     out[i] = (float)(c.coef_xt xt[i] + c.coef_eps eps[i] + c.sigma z[i])   (eta > 0, s > 0)
 *     out[i] = (float)(c.coef_xt xt[i] + c.coef_eps eps[i])                  (otherwise)
 * where z is what tg_normal_fill(rng, z, n) would draw. Draws are made exactly when
 * eta > 0 and s > 0, then the draws of one tg_normal_fill of n values; otherwise none,
 * and rng may be NULL. Aliasing, NaN and errors as for tg_ddpm_sample_step, plus those
 * of tg_ddim_coefs. */
TG_API tg_status tg_ddim_sample_step(const tg_ddpm_schedule *sched, size_t t, size_t s,
                                     double eta, const float *xt, const float *eps, size_t n,
                                     tg_pcg32 *rng, float *out);

/* The K + 1 evenly spaced timesteps of a K-step DDIM sampler over T steps:
 * out[k] = tau_k = floor(k T / K), k = 0..K, so tau_0 = 0 < tau_1 < ... < tau_K = T
 * (strictly: consecutive ones differ by at least floor(T / K) >= 1). A sampler steps from
 * tau_k to tau_{k-1} for k = K down to 1. TG_ERR_PARAM unless 1 <= K <= T,
 * TG_ERR_SIZE when K T overflows, TG_ERR_NULL for out. */
TG_API tg_status tg_ddim_timesteps(size_t T, size_t K, size_t *out);

/* ---- energy distance (Szekely & Rizzo) -----------------------------------------------
 * Between the samples x [n, dim] and y [m, dim] (row-major), with Euclidean norms,
 *     D = 2 E|X - Y| - E|X - X'| - E|Y - Y'|,
 * each expectation the mean over ALL ordered pairs, i = j included (the V-statistic):
 * D is the energy distance between the two empirical distributions, so it is >= 0 and
 * 0 exactly when the two samples are equal as multisets (identical arrays give exactly
 * 0.0; rounding may otherwise leave a negative value of order 1e-16 times the mean
 * distance where D is near 0). Its expected value over two independent samples of one
 * law is E|X - X'| (1/n + 1/m) > 0: the floor a sampler's D is judged against.
 * Every pair is computed in double, summed per row, then over rows, in O((n^2 + n m +
 * m^2) dim) time. TG_ERR_NULL, TG_ERR_SIZE (n, m or dim is 0, or an array size
 * overflows), TG_ERR_DOMAIN (a non-finite coordinate, named). */
TG_API tg_status tg_energy_distance(const float *x, size_t n, const float *y, size_t m,
                                    size_t dim, double *out);

#ifdef __cplusplus
}
#endif
#endif
