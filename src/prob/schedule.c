/* DDPM noise schedules (Ho et al. 2020; Nichol & Dhariwal 2021): betas, alphas, their
 * running product, q(x_t | x_0) by composing step kernels, and posterior coefficients. */
#include <math.h>
#include "internal.h"

#define COSINE_S 0.008
#define COSINE_MAX_BETA 0.999
#define HALF_PI 1.57079632679489661923

static void zero(tg_ddpm_schedule *s)
{
    s->T = 0;
    s->beta = s->alpha = s->abar = NULL;
    s->q = NULL;
}

static int beta_ok(double beta)
{
    return beta > 0.0 && beta < 1.0;   /* false for NaN too */
}

/* One block holds beta, alpha, abar and q, each of T + 1 entries; beta owns it. */
static tg_status alloc_arrays(const char *who, size_t T, tg_ddpm_schedule *s)
{
    const size_t per_step = 3 * sizeof(double) + sizeof(tg_forward_kernel);
    int overflow = T == (size_t)-1;
    const size_t len = T + 1;
    const size_t bytes = tg__mul_size(len, per_step, &overflow);
    double *block;
    if (overflow)
        return tg__fail(TG_ERR_SIZE, "%s: T = %zu steps overflow the arrays' size", who, T);
    block = tg__alloc(bytes);
    if (!block)
        return tg__fail(TG_ERR_NOMEM, "%s: no memory for T = %zu steps", who, T);
    s->T = T;
    s->beta = block;
    s->alpha = block + len;
    s->abar = block + 2 * len;
    s->q = (tg_forward_kernel *)(block + 3 * len);
    return TG_OK;
}

/* The step kernel q(x_t | x_{t-1}) = (sqrt(alpha_t), sqrt(beta_t)): one definition for
 * the composition in finish and for tg_ddpm_step. */
static tg_forward_kernel step_kernel(const tg_ddpm_schedule *s, size_t t)
{
    const tg_forward_kernel k = { sqrt(s->alpha[t]), sqrt(s->beta[t]) };
    return k;
}

/* Given beta[1..T], fills everything else; frees and zeroes s on a bad beta. */
static tg_status finish(const char *who, tg_ddpm_schedule *s)
{
    size_t t;
    s->beta[0] = 0.0;
    s->alpha[0] = 1.0;
    s->abar[0] = 1.0;
    s->q[0].a = 1.0;
    s->q[0].b = 0.0;
    for (t = 1; t <= s->T; t++) {
        const double beta = s->beta[t];
        if (!beta_ok(beta)) {
            tg_ddpm_schedule_free(s);
            return tg__fail(TG_ERR_PARAM, "%s: beta_%zu = %g is outside (0, 1)", who, t, beta);
        }
        s->alpha[t] = 1.0 - beta;
        s->abar[t] = s->abar[t - 1] * s->alpha[t];
        /* cannot fail: every coefficient lies in [0, 1] */
        tg_forward_kernel_compose(s->q[t - 1], step_kernel(s, t), &s->q[t]);
    }
    return TG_OK;
}

static tg_status check_T(const char *who, size_t T, tg_ddpm_schedule *out)
{
    if (!out)
        return tg__fail(TG_ERR_NULL, "%s: out is NULL", who);
    zero(out);
    if (T < 1)
        return tg__fail(TG_ERR_PARAM, "%s: T = 0, need at least one step", who);
    return TG_OK;
}

tg_status tg_ddpm_schedule_from_betas(size_t T, const double *beta_1_to_T,
                                      tg_ddpm_schedule *out)
{
    static const char who[] = "tg_ddpm_schedule_from_betas";
    size_t t;
    tg_status st = check_T(who, T, out);
    if (st != TG_OK)
        return st;
    if (!beta_1_to_T)
        return tg__fail(TG_ERR_NULL, "%s: beta is NULL", who);
    st = alloc_arrays(who, T, out);
    if (st != TG_OK)
        return st;
    for (t = 1; t <= T; t++)
        out->beta[t] = beta_1_to_T[t - 1];
    return finish(who, out);
}

tg_status tg_ddpm_schedule_linear(size_t T, double beta_1, double beta_T,
                                  tg_ddpm_schedule *out)
{
    static const char who[] = "tg_ddpm_schedule_linear";
    size_t t;
    tg_status st = check_T(who, T, out);
    if (st != TG_OK)
        return st;
    if (!beta_ok(beta_1) || !beta_ok(beta_T))
        return tg__fail(TG_ERR_PARAM, "%s: beta_1 = %g and beta_T = %g must lie in (0, 1)",
                        who, beta_1, beta_T);
    if (T == 1 && beta_1 != beta_T)
        return tg__fail(TG_ERR_PARAM, "%s: T = 1 has one beta, but beta_1 = %g != beta_T = %g",
                        who, beta_1, beta_T);
    st = alloc_arrays(who, T, out);
    if (st != TG_OK)
        return st;
    out->beta[1] = beta_1;
    for (t = 2; t <= T; t++) {
        /* (1 - w) b1 + w bT hits both ends exactly, unlike b1 + w (bT - b1) */
        const double w = (double)(t - 1) / (double)(T - 1);
        out->beta[t] = (1.0 - w) * beta_1 + w * beta_T;
    }
    return finish(who, out);
}

/* theta(t) = (t/T + s) / (1 + s) * pi/2, so that abar(t) = cos^2(theta(t)) / cos^2(theta(0)). */
static double cosine_theta(size_t t, size_t T)
{
    return ((double)t / (double)T + COSINE_S) / (1.0 + COSINE_S) * HALF_PI;
}

tg_status tg_ddpm_schedule_cosine(size_t T, tg_ddpm_schedule *out)
{
    static const char who[] = "tg_ddpm_schedule_cosine";
    double sin_step;
    size_t t;
    tg_status st = check_T(who, T, out);
    if (st != TG_OK)
        return st;
    st = alloc_arrays(who, T, out);
    if (st != TG_OK)
        return st;
    sin_step = sin(HALF_PI / ((1.0 + COSINE_S) * (double)T));
    for (t = 1; t <= T; t++) {
        /* 1 - cos^2(th1)/cos^2(th0) = sin(th0 + th1) sin(th1 - th0) / cos^2(th0): the
         * left side cancels for the small early betas; the right side subtracts nothing
         * (th1 - th0 is the constant step, whose sine is sin_step). */
        const double th0 = cosine_theta(t - 1, T), th1 = cosine_theta(t, T);
        const double c0 = cos(th0);
        const double beta = sin(th0 + th1) * sin_step / (c0 * c0);
        out->beta[t] = beta < COSINE_MAX_BETA ? beta : COSINE_MAX_BETA;
    }
    return finish(who, out);
}

void tg_ddpm_schedule_free(tg_ddpm_schedule *s)
{
    if (!s)
        return;
    tg__free(s->beta);
    zero(s);
}

static tg_status check_t(const char *who, const tg_ddpm_schedule *s, size_t t, size_t lo,
                         const void *out)
{
    if (!s || !out)
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, s ? "out" : "schedule");
    if (!s->beta)
        return tg__fail(TG_ERR_STATE, "%s: the schedule is empty (freed or failed)", who);
    if (t < lo || t > s->T)
        return tg__fail(TG_ERR_PARAM, "%s: t = %zu is outside %zu..%zu", who, t, lo, s->T);
    return TG_OK;
}

tg_status tg_ddpm_step(const tg_ddpm_schedule *s, size_t t, tg_forward_kernel *out)
{
    const tg_status st = check_t("tg_ddpm_step", s, t, 1, out);
    if (st != TG_OK)
        return st;
    *out = step_kernel(s, t);
    return TG_OK;
}

tg_status tg_ddpm_q(const tg_ddpm_schedule *s, size_t t, tg_forward_kernel *out)
{
    const tg_status st = check_t("tg_ddpm_q", s, t, 0, out);
    if (st != TG_OK)
        return st;
    *out = s->q[t];
    return TG_OK;
}

tg_status tg_ddpm_posterior(const tg_ddpm_schedule *s, size_t t, tg_ddpm_posterior_coef *out)
{
    const tg_status st = check_t("tg_ddpm_posterior", s, t, 1, out);
    if (st != TG_OK)
        return st;
    {
        /* 1 - abar from the composed kernels: accurate where 1 - abar[t] cancels */
        const double var_now = s->q[t].b * s->q[t].b;
        const double var_prev = s->q[t - 1].b * s->q[t - 1].b;
        const double beta = s->beta[t];
        out->coef_x0 = s->q[t - 1].a * beta / var_now;
        out->coef_xt = sqrt(s->alpha[t]) * var_prev / var_now;
        out->variance = var_prev / var_now * beta;
        out->eps_coef = beta / s->q[t].b;
        out->inv_sqrt_alpha = 1.0 / sqrt(s->alpha[t]);
    }
    return TG_OK;
}
