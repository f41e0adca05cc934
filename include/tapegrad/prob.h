/* Probability utilities for diffusion models: standard normal draws from PCG32, the
 * forward-noising law L(a*x + b*Z), its Markov kernel, and DDPM noise schedules.
 * The mathematics is in docs/rules.md, section "Diffusion forward noising". */
#ifndef TAPEGRAD_PROB_H
#define TAPEGRAD_PROB_H

#include <stddef.h>
#include "pcg32.h"
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- standard normal draws ---------------------------------------------------------
 * Ziggurat method (Marsaglia & Tsang 2000) with 128 layers, disjoint random bits for
 * layer, sign and abscissa (so they are independent, unlike the original paper), and
 * Marsaglia's exact rejection method for the tail beyond r = 3.4426. Nothing is
 * approximated except that the abscissa is a midpoint-rounded uniform of fixed width.
 *
 * The stream. Each value is made by attempts; an attempt starts with fresh draws:
 *   float:  one 32-bit draw d: layer = d & 0x7f, negative iff d & 0x80, abscissa
 *           u = ((d >> 8) + 0.5) * 2^-24;
 *   double: two draws d1 then d2: layer = d1 & 0x7f, negative iff d1 & 0x80,
 *           u = ((d1 >> 8) * 2^28 + (d2 >> 4) + 0.5) * 2^-52.
 * About 97.2% of attempts end at their first draw. An attempt landing in a
 * wedge takes one more uniform (float: 1 draw, double: 2) and may be rejected, which
 * starts a new attempt; an attempt in the base layer beyond r goes to the tail, which
 * takes 2 uniforms per try (float: 2 draws, double: 4) until one is accepted. So the
 * number of draws per value varies (1.0409 on average for float, twice that for
 * double, from the tables), but the values depend only on the stream: no
 * spare value is kept between calls, and fill(n) then fill(m) gives exactly the values
 * of one fill(n + m) from the same state. Batches of any size, odd or even, cut one
 * stream the same way.
 *
 * n = 0 does nothing. Returns TG_ERR_NULL when rng or out is NULL (and n > 0). */
TG_API tg_status tg_normal_fill(tg_pcg32 *rng, float *out, size_t n);
TG_API tg_status tg_normal_fill_double(tg_pcg32 *rng, double *out, size_t n);

/* ---- the forward kernel ------------------------------------------------------------
 * forwardKernel(a, b): the Markov kernel x -> L(a*x + b*Z), Z ~ N(0, I). A plain value:
 * a and b finite, b >= 0 (b = 0 is a point mass at a*x; b = -0 is stored as +0). */
typedef struct {
    double a;
    double b;
} tg_forward_kernel;

/* Validates and builds; TG_ERR_PARAM on a non-finite coefficient or b < 0. */
TG_API tg_status tg_forward_kernel_make(double a, double b, tg_forward_kernel *out);
/* The kernel "first, then second": (a1*a2, sqrt(a2^2 b1^2 + b2^2)), computed with
 * hypot so that it neither overflows nor underflows early. TG_ERR_PARAM when an input
 * is invalid or the result is not finite. out may alias an input. */
TG_API tg_status tg_forward_kernel_compose(tg_forward_kernel first, tg_forward_kernel second,
                                           tg_forward_kernel *out);

/* ---- the forward-noising law -------------------------------------------------------
 * forwardNoising(a, b, x) = L(a*x + b*Z), Z ~ N(0, I_n): a Gaussian on R^n with mean a*x
 * and covariance b^2 I_n. The law BORROWS x: it keeps the pointer, not a copy, so that
 * making one per batch costs no allocation; the caller keeps x alive and unchanged
 * while the law is used. Non-finite entries of x pass through the arithmetic by IEEE
 * rules (NaN in, NaN out); they are not checked. */
typedef struct {
    double a;
    double b;
    const float *x;   /* n values, borrowed */
    size_t n;
} tg_forward_noising;

/* Validates a and b as tg_forward_kernel_make does; x may be NULL only when n = 0. */
TG_API tg_status tg_forward_noising_make(double a, double b, const float *x, size_t n,
                                         tg_forward_noising *out);
/* The kernel applied to x: the law forwardNoising(k.a, k.b, x). */
TG_API tg_status tg_forward_kernel_apply(tg_forward_kernel k, const float *x, size_t n,
                                         tg_forward_noising *out);

/* The affine push-forward of a given noise z: for each i, in double,
 *     ax = a * x[i];  bz = b * z[i];  out[i] = (float)(ax + bz)
 * (two products, one sum, one rounding to float; no fused multiply-add). out may be x
 * or z, but must not overlap them otherwise. */
TG_API tg_status tg_forward_noising_map(double a, double b, const float *x, const float *z,
                                        size_t n, float *out);
/* One draw of forwardNoising(a, b, x) into out[0..n): the values of
 * tg_forward_noising_map(a, b, x, z, n, out) where z is tg_normal_fill(rng, z, n) from
 * the same state; rng ends in the same state too. No allocation (the noise goes through
 * a small stack buffer); out may be x, but must not overlap it otherwise. */
TG_API tg_status tg_forward_noising_sample(tg_pcg32 *rng, double a, double b, const float *x,
                                           size_t n, float *out);
/* One draw of the law into out[0..law->n); the same as tg_forward_noising_sample. */
TG_API tg_status tg_forward_noising_draw(const tg_forward_noising *law, tg_pcg32 *rng,
                                         float *out);
/* log p(y) = -n/2 log(2 pi) - n log b - |y - a*x|^2 / (2 b^2), in double. TG_ERR_STATE
 * when b = 0: a point mass has no density. */
TG_API tg_status tg_forward_noising_log_density(const tg_forward_noising *law, const float *y,
                                                double *out);
/* The mean a*x[i], each computed in double (exact up to one rounding). */
TG_API tg_status tg_forward_noising_mean(const tg_forward_noising *law, double *out);
/* The covariance is this variance, b^2, times the identity I_n. NaN for a NULL law or
 * one with an invalid b (a law filled by hand: the functions reading a law check it). */
TG_API double tg_forward_noising_variance(const tg_forward_noising *law);

/* ---- DDPM schedules ----------------------------------------------------------------
 * Steps are 1-based as in Ho et al. (2020): t = 1..T. Each array has T + 1 entries,
 * indexed by t directly; entry 0 is the data level x_0: beta[0] = 0, alpha[0] = 1,
 * abar[0] = 1 and q[0] = (1, 0), the identity kernel. Fields are read-only for users;
 * the arrays share one allocation owned by the schedule. */
typedef struct {
    size_t T;
    double *beta;            /* 0 < beta[t] < 1 for t >= 1 */
    double *alpha;           /* alpha[t] = 1 - beta[t] */
    double *abar;            /* abar[t] = alpha[1] * ... * alpha[t] */
    tg_forward_kernel *q;    /* q(x_t | x_0) = (sqrt(abar_t), sqrt(1 - abar_t)), built by
                                composing the step kernels, which keeps 1 - abar_t accurate
                                for small t where the subtraction would cancel */
} tg_ddpm_schedule;

/* The constructors overwrite *out (an old schedule there is not freed); on failure *out
 * is all zero (safe to free) and the status is TG_ERR_PARAM (bad T or beta),
 * TG_ERR_SIZE (T + 1 entries overflow) or TG_ERR_NOMEM. Every beta must satisfy
 * 0 < beta < 1, T >= 1. */
TG_API tg_status tg_ddpm_schedule_from_betas(size_t T, const double *beta_1_to_T,
                                             tg_ddpm_schedule *out);
/* beta_t = (1 - w) beta_1 + w beta_T, w = (t - 1) / (T - 1), which hits both ends
 * exactly; with T = 1 the one step uses beta_1, and beta_T must equal it. Ho et al. use
 * (1e-4, 0.02) with T = 1000. */
TG_API tg_status tg_ddpm_schedule_linear(size_t T, double beta_1, double beta_T,
                                         tg_ddpm_schedule *out);
/* Nichol & Dhariwal (2021): abar(t) = g(t) / g(0), g(t) = cos^2((t/T + s) / (1 + s) pi/2),
 * s = 0.008, beta_t = min(1 - abar(t) / abar(t-1), 0.999); abar is then recomputed as
 * the product of the clipped alphas. 1 - abar(t)/abar(t-1) is evaluated as
 * sin(th0 + th1) sin(th1 - th0) / cos^2(th0), which does not cancel for small betas. */
TG_API tg_status tg_ddpm_schedule_cosine(size_t T, tg_ddpm_schedule *out);
/* Frees the arrays and zeroes *s; NULL or an all-zero schedule is fine. */
TG_API void tg_ddpm_schedule_free(tg_ddpm_schedule *s);

/* The accessors below return TG_ERR_PARAM for t out of range and TG_ERR_STATE for an
 * empty (freed or failed) schedule.
 *
 * A training step with one t per example needs no allocation: draw all the noise with
 * one tg_normal_fill(rng, eps, n), then per example take k = q(x_t | x_0) from tg_ddpm_q
 * and write x_t with tg_forward_noising_map(k.a, k.b, x0, eps, dim, xt); eps is the
 * regression target of an epsilon predictor.
 *
 * The step kernel q(x_t | x_{t-1}) = (sqrt(alpha_t), sqrt(beta_t)), t = 1..T. */
TG_API tg_status tg_ddpm_step(const tg_ddpm_schedule *s, size_t t, tg_forward_kernel *out);
/* q(x_t | x_0) = q[t], t = 0..T. */
TG_API tg_status tg_ddpm_q(const tg_ddpm_schedule *s, size_t t, tg_forward_kernel *out);

/* The posterior q(x_{t-1} | x_t, x_0) = N(coef_x0 x_0 + coef_xt x_t, variance I), and
 * the same mean for an epsilon predictor, x_0 = (x_t - sqrt(1 - abar_t) eps)/sqrt(abar_t):
 *     mean = inv_sqrt_alpha * (x_t - eps_coef * eps). */
typedef struct {
    double coef_x0;          /* sqrt(abar_{t-1}) beta_t / (1 - abar_t) */
    double coef_xt;          /* sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) */
    double variance;         /* beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t; 0 at t = 1 */
    double eps_coef;         /* beta_t / sqrt(1 - abar_t) */
    double inv_sqrt_alpha;   /* 1 / sqrt(alpha_t) */
} tg_ddpm_posterior_coef;

/* For t = 1..T. */
TG_API tg_status tg_ddpm_posterior(const tg_ddpm_schedule *s, size_t t,
                                   tg_ddpm_posterior_coef *out);

#ifdef __cplusplus
}
#endif
#endif
