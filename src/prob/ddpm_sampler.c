/* The DDPM ancestral sampling step (Ho et al. 2020, Algorithm 2): the posterior mean for
 * an epsilon predictor plus Gaussian noise of a chosen variance. */
#include <math.h>
#include "internal.h"
#include "reverse_step.h"

static tg_status check(const char *who, const tg_ddpm_schedule *s, size_t t,
                       tg_ddpm_sigma sigma, const float *xt, const float *eps, size_t n,
                       const tg_pcg32 *rng, const float *out)
{
    if (!s)
        return tg__fail(TG_ERR_NULL, "%s: schedule is NULL", who);
    if (!s->beta)
        return tg__fail(TG_ERR_STATE, "%s: the schedule is empty (freed or failed)", who);
    if (t < 1 || t > s->T)
        return tg__fail(TG_ERR_PARAM, "%s: t = %zu is outside 1..%zu", who, t, s->T);
    if (sigma != TG_DDPM_SIGMA_POSTERIOR && sigma != TG_DDPM_SIGMA_BETA)
        return tg__fail(TG_ERR_PARAM, "%s: sigma = %d is neither TG_DDPM_SIGMA_POSTERIOR (0) "
                        "nor TG_DDPM_SIGMA_BETA (1)", who, (int)sigma);
    if (n > 0 && (!xt || !eps || !out))
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL (n = %zu)", who,
                        !xt ? "xt" : !eps ? "eps" : "out", n);
    if (n > 0 && t > 1 && !rng)
        return tg__fail(TG_ERR_NULL, "%s: rng is NULL, but step t = %zu > 1 draws noise "
                        "(n = %zu)", who, t, n);
    return TG_OK;
}

tg_status tg_ddpm_sample_step(const tg_ddpm_schedule *s, size_t t, tg_ddpm_sigma sigma,
                              const float *xt, const float *eps, size_t n, tg_pcg32 *rng,
                              float *out)
{
    tg_ddpm_posterior_coef pc;
    double cx, ce, sd;
    const tg_status st = check("tg_ddpm_sample_step", s, t, sigma, xt, eps, n, rng, out);
    if (st != TG_OK)
        return st;
    tg_ddpm_posterior(s, t, &pc);   /* cannot fail: s and t were checked */
    cx = pc.inv_sqrt_alpha;
    ce = -(pc.inv_sqrt_alpha * pc.eps_coef);
    sd = sqrt(sigma == TG_DDPM_SIGMA_BETA ? s->beta[t] : pc.variance);
    tg__reverse_step(cx, ce, sd, t > 1, xt, eps, n, rng, out);
    return TG_OK;
}
