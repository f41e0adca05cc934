/* Learning-rate schedules (optim.h): a pure function of the step count, so a resumed
 * run that restores the count continues on the same curve. */
#include <math.h>
#include "optim_state.h"

static const double pi = 3.14159265358979323846;

tg_status tg__lr_check(const char *who, const tg_lr_schedule *s, double lr)
{
    if (!s)
        return tg__fail(TG_ERR_NULL, "%s: schedule is NULL", who);
    if (!(lr >= 0.0) || !isfinite(lr))
        return tg__fail(TG_ERR_PARAM, "%s: lr = %g must be >= 0 and finite", who, lr);
    switch (s->kind) {
    case TG_LR_CONSTANT:
        return TG_OK;
    case TG_LR_STEP:
        if (s->step_size == 0)
            return tg__fail(TG_ERR_PARAM, "%s: step schedule: step_size must be > 0", who);
        if (!(s->gamma > 0.0 && s->gamma <= 1.0))
            return tg__fail(TG_ERR_PARAM, "%s: step schedule: gamma = %g is outside (0, 1]",
                            who, s->gamma);
        return TG_OK;
    case TG_LR_COSINE:
        if (s->total_steps <= s->warmup_steps)
            return tg__fail(TG_ERR_PARAM, "%s: cosine schedule: total_steps = %llu must exceed "
                            "warmup_steps = %llu", who, (unsigned long long)s->total_steps,
                            (unsigned long long)s->warmup_steps);
        if (!(s->min_lr >= 0.0 && s->min_lr <= lr))
            return tg__fail(TG_ERR_PARAM, "%s: cosine schedule: min_lr = %g is outside [0, lr = "
                            "%g]", who, s->min_lr, lr);
        return TG_OK;
    }
    return tg__fail(TG_ERR_PARAM, "%s: unknown schedule kind %d", who, (int)s->kind);
}

double tg_lr_at(const tg_lr_schedule *s, double lr, uint64_t k)
{
    uint64_t after;
    if (tg__lr_check("tg_lr_at", s, lr) != TG_OK)
        return NAN;
    if (k < s->warmup_steps)   /* the fraction is exactly 1 at the last warm-up step */
        return lr * (((double)k + 1.0) / (double)s->warmup_steps);
    after = k - s->warmup_steps;
    switch (s->kind) {
    case TG_LR_STEP:
        return lr * pow(s->gamma, (double)(after / s->step_size));
    case TG_LR_COSINE: {
        const uint64_t span = s->total_steps - s->warmup_steps;
        /* at p = 1, cos(pi) = -1 exactly, so the rate lands on min_lr exactly */
        const double p = after >= span ? 1.0 : (double)after / (double)span;
        return s->min_lr + (lr - s->min_lr) * (1.0 + cos(pi * p)) / 2.0;
    }
    default:
        return lr;
    }
}
