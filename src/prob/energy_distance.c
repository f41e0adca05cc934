/* The energy distance between two samples (Szekely & Rizzo 2013), the V-statistic:
 * every mean is over all ordered pairs, i = j included. */
#include <math.h>
#include "internal.h"

static tg_status check_sample(const char *who, const char *name, const float *x, size_t n,
                              size_t dim)
{
    int overflow = 0;
    size_t len, i;
    if (!x)
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, name);
    if (n == 0)
        return tg__fail(TG_ERR_SIZE, "%s: %s has no points ([0,%zu])", who, name, dim);
    len = tg__mul_size(n, dim, &overflow);
    if (overflow)
        return tg__fail(TG_ERR_SIZE, "%s: %s [%zu,%zu] overflows size_t", who, name, n, dim);
    for (i = 0; i < len; i++)
        if (!isfinite(x[i]))
            return tg__fail(TG_ERR_DOMAIN, "%s: %s[%zu][%zu] = %g is not finite (%s is "
                            "[%zu,%zu])", who, name, i / dim, i % dim, (double)x[i], name, n,
                            dim);
    return TG_OK;
}

/* sum over j of |xi - y_j|, for one point xi against all of y: the inner loop, plain so
 * that it stays readable and the compiler may vectorize it; the differences of floats
 * are exact in double. */
static double row_sum(const float *xi, const float *y, size_t m, size_t dim)
{
    double row = 0.0;
    size_t j, k;
    for (j = 0; j < m; j++) {
        const float *yj = y + j * dim;
        double d2 = 0.0;
        for (k = 0; k < dim; k++) {
            const double d = (double)xi[k] - (double)yj[k];
            d2 += d * d;
        }
        row += sqrt(d2);
    }
    return row;
}

/* The mean of |x_i - y_j| over all n m pairs: per row, then over rows. One function for
 * all three terms, so identical samples give three identical sums and D = 0 exactly. */
static double mean_distance(const float *x, size_t n, const float *y, size_t m, size_t dim)
{
    double total = 0.0;
    size_t i;
    for (i = 0; i < n; i++)
        total += row_sum(x + i * dim, y, m, dim);
    return total / ((double)n * (double)m);
}

tg_status tg_energy_distance(const float *x, size_t n, const float *y, size_t m, size_t dim,
                             double *out)
{
    static const char who[] = "tg_energy_distance";
    tg_status st;
    if (!out)
        return tg__fail(TG_ERR_NULL, "%s: out is NULL", who);
    if (dim == 0)
        return tg__fail(TG_ERR_SIZE, "%s: dim = 0 (x [%zu,0], y [%zu,0])", who, n, m);
    st = check_sample(who, "x", x, n, dim);
    if (st == TG_OK)
        st = check_sample(who, "y", y, m, dim);
    if (st != TG_OK)
        return st;
    {
        const double xy = mean_distance(x, n, y, m, dim);
        const double xx = mean_distance(x, n, x, n, dim);
        const double yy = mean_distance(y, m, y, m, dim);
        *out = 2.0 * xy - xx - yy;
    }
    return TG_OK;
}
