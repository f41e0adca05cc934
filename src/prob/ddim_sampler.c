/* DDIM (Song, Meng & Ermon 2021, eq. 12): a step from t to any earlier s, deterministic at
 * eta = 0, and the evenly spaced timesteps of a K-step sampler. */
#include <math.h>
#include "internal.h"
#include "reverse_step.h"

static tg_status check_steps(const char *who, const tg_ddpm_schedule *sched, size_t t,
                             size_t s, double eta)
{
    if (!sched)
        return tg__fail(TG_ERR_NULL, "%s: schedule is NULL", who);
    if (!sched->beta)
        return tg__fail(TG_ERR_STATE, "%s: the schedule is empty (freed or failed)", who);
    if (t < 1 || t > sched->T)
        return tg__fail(TG_ERR_PARAM, "%s: t = %zu is outside 1..%zu", who, t, sched->T);
    if (s >= t)
        return tg__fail(TG_ERR_PARAM, "%s: s = %zu must be below t = %zu (a step goes "
                        "back in time, to 0 <= s < t)", who, s, t);
    if (!isfinite(eta) || eta < 0.0)
        return tg__fail(TG_ERR_PARAM, "%s: eta = %g must be finite and >= 0", who, eta);
    return TG_OK;
}

/* 1 - abar_t / abar_s = 1 - prod_{u=s+1..t} alpha_u, as -expm1(sum log1p(-beta_u)): no
 * cancellation when s is close to t, where the ratio is close to 1. */
static double one_minus_ratio(const tg_ddpm_schedule *sched, size_t t, size_t s)
{
    double log_ratio = 0.0;
    size_t u;
    for (u = s + 1; u <= t; u++)
        log_ratio += log1p(-sched->beta[u]);
    return -expm1(log_ratio);
}

/* With a = sqrt(abar), b = sqrt(1 - abar) (the schedule's composed kernels q, accurate
 * for small t) and r = 1 - abar_t / abar_s:
 *   sigma      = eta (b_s / b_t) sqrt(r)
 *   dir^2      = b_s^2 - sigma^2 = b_s^2 ((a_t b_s / (a_s b_t))^2 + (1 - eta)(1 + eta) r / b_t^2)
 *   coef_xt    = a_s / a_t
 *   coef_eps   = dir - a_s b_t / a_t = (dir - b_s) + (b_s - a_s b_t / a_t)
 *              = -sigma^2 / (dir + b_s) - abar_s r / (a_t (a_t b_s + a_s b_t)).
 * Every sum adds terms of one sign when eta <= 1: nothing cancels (docs/rules.md). */
static tg_status coefs(const char *who, const tg_ddpm_schedule *sched, size_t t, size_t s,
                       double eta, tg_ddim_coef *out)
{
    const double at = sched->q[t].a, bt = sched->q[t].b;
    const double as = sched->q[s].a, bs = sched->q[s].b;
    const double r = one_minus_ratio(sched, t, s);
    const double sigma = eta * (bs / bt) * sqrt(r);
    const double kept = at * bs / (as * bt);
    const double dir2 = bs * bs * (kept * kept + (1.0 - eta) * (1.0 + eta) * (r / (bt * bt)));
    double dir, to_dir;
    if (!(at > 0.0))
        return tg__fail(TG_ERR_PARAM, "%s: abar_%zu underflows to 0: x_0 cannot be "
                        "recovered from x_t", who, t);
    if (dir2 < 0.0)
        return tg__fail(TG_ERR_PARAM, "%s: eta = %g is too large for t = %zu -> s = %zu: "
                        "sigma^2 exceeds 1 - abar_s (eta may be at most %g here)", who, eta,
                        t, s, bt / sqrt(r));
    dir = sqrt(dir2);
    to_dir = dir + bs > 0.0 ? -(sigma * sigma) / (dir + bs) : 0.0;   /* 0 when s = 0 */
    out->coef_xt = as / at;
    out->coef_eps = to_dir - as * as * r / (at * (at * bs + as * bt));
    out->sigma = sigma;
    if (!isfinite(out->coef_xt) || !isfinite(out->coef_eps) || !isfinite(out->sigma))
        return tg__fail(TG_ERR_PARAM, "%s: the coefficients of t = %zu -> s = %zu overflow "
                        "(abar_t = %g)", who, t, s, sched->abar[t]);
    return TG_OK;
}

tg_status tg_ddim_coefs(const tg_ddpm_schedule *sched, size_t t, size_t s, double eta,
                        tg_ddim_coef *out)
{
    static const char who[] = "tg_ddim_coefs";
    const tg_status st = check_steps(who, sched, t, s, eta);
    if (st != TG_OK)
        return st;
    if (!out)
        return tg__fail(TG_ERR_NULL, "%s: out is NULL", who);
    return coefs(who, sched, t, s, eta, out);
}

tg_status tg_ddim_sample_step(const tg_ddpm_schedule *sched, size_t t, size_t s, double eta,
                              const float *xt, const float *eps, size_t n, tg_pcg32 *rng,
                              float *out)
{
    static const char who[] = "tg_ddim_sample_step";
    const int draw = eta > 0.0 && s > 0;
    tg_ddim_coef c;
    tg_status st = check_steps(who, sched, t, s, eta);
    if (st != TG_OK)
        return st;
    if (n > 0 && (!xt || !eps || !out))
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL (n = %zu)", who,
                        !xt ? "xt" : !eps ? "eps" : "out", n);
    if (n > 0 && draw && !rng)
        return tg__fail(TG_ERR_NULL, "%s: rng is NULL, but eta = %g > 0 and s = %zu > 0 "
                        "draw noise (n = %zu)", who, eta, s, n);
    st = coefs(who, sched, t, s, eta, &c);
    if (st != TG_OK)
        return st;
    tg__reverse_step(c.coef_xt, c.coef_eps, c.sigma, draw, xt, eps, n, rng, out);
    return TG_OK;
}

tg_status tg_ddim_timesteps(size_t T, size_t K, size_t *out)
{
    static const char who[] = "tg_ddim_timesteps";
    int overflow = 0;
    size_t k;
    if (!out)
        return tg__fail(TG_ERR_NULL, "%s: out is NULL", who);
    if (K < 1 || K > T)
        return tg__fail(TG_ERR_PARAM, "%s: K = %zu sampling steps must lie in 1..T = %zu",
                        who, K, T);
    tg__mul_size(K, T, &overflow);
    if (overflow)
        return tg__fail(TG_ERR_SIZE, "%s: K T = %zu * %zu overflows size_t", who, K, T);
    for (k = 0; k <= K; k++)
        out[k] = k * T / K;   /* floor(k T / K), exact in integers */
    return TG_OK;
}
