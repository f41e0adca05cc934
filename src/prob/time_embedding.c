/* The sinusoidal time embedding of Vaswani et al. (2017), as DDPM uses it (Ho et al. 2020):
 * sines in the first half of each row, cosines in the second, geometric frequencies. */
#include <math.h>
#include "internal.h"

static tg_status check(const char *who, const float *t, size_t n, size_t dim,
                       double max_period, const float *out)
{
    int overflow = 0;
    size_t k;
    if (dim == 0)
        return tg__fail(TG_ERR_SIZE, "%s: dim = 0", who);
    if (dim % 2 != 0)
        return tg__fail(TG_ERR_SHAPE, "%s: dim = %zu must be even (a sine and a cosine per "
                        "frequency)", who, dim);
    tg__mul_size(n, dim, &overflow);
    if (overflow)
        return tg__fail(TG_ERR_SIZE, "%s: n * dim = %zu * %zu overflows size_t", who, n, dim);
    if (!isfinite(max_period) || max_period <= 0.0)
        return tg__fail(TG_ERR_PARAM, "%s: max_period = %g must be finite and > 0", who,
                        max_period);
    if (n > 0 && (!t || !out))
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL (n = %zu)", who, t ? "out" : "t", n);
    for (k = 0; k < n; k++)
        if (!isfinite(t[k]))
            return tg__fail(TG_ERR_DOMAIN, "%s: t[%zu] = %g is not finite", who, k,
                            (double)t[k]);
    return TG_OK;
}

tg_status tg_time_embedding(const float *t, size_t n, size_t dim, double max_period,
                            float *out)
{
    const size_t half = dim / 2;
    double log_period;
    size_t i, k;
    const tg_status st = check("tg_time_embedding", t, n, dim, max_period, out);
    if (st != TG_OK)
        return st;
    log_period = log(max_period);
    /* frequency outer, time inner: one exp per frequency, not one per value */
    for (i = 0; i < half; i++) {
        const double freq = exp(-log_period * ((double)i / (double)half));
        for (k = 0; k < n; k++) {
            const double phase = (double)t[k] * freq;
            out[k * dim + i] = (float)sin(phase);
            out[k * dim + half + i] = (float)cos(phase);
        }
    }
    return TG_OK;
}
