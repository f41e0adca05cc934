#include <criterion/criterion.h>
#include <math.h>
#include "testutil.h"

tg_tensor *tu_random(tg_kind kind, size_t rank, const size_t *shape, tg_pcg32 *rng, float lo,
                     float hi)
{
    tg_tensor *t = tg_tensor_new(kind, rank, shape);
    if (t)
        for (size_t i = 0; i < t->size; i++)
            t->data[i] = lo + (hi - lo) * tg_pcg32_float(rng);
    return t;
}

double tu_scaled_diff(const float *a, const double *b, size_t n, double floor)
{
    double worst = 0.0, scale = floor;
    for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)a[i] - b[i]);
        if (!(d <= worst))
            worst = d;   /* NaN propagates as the worst */
    }
    return worst / scale;
}

float tu_draw(tg_pcg32 *rng)
{
    return 2.0f * tg_pcg32_float(rng) - 1.0f;
}

double tu_gamma(size_t K, double u)
{
    return (double)K * u / (1.0 - (double)K * u);
}

tg_tensor *tu_earlier_grad(tg_tensor *param, tg_pcg32 *rng)
{
    tg_tensor *copy = tg_tensor_new(TG_CONST, param->rank, param->shape);
    cr_assert_not_null(copy, "%s", tg_last_error());
    for (size_t i = 0; i < param->size; i++)
        param->grad[i] = copy->data[i] = tu_draw(rng);
    return copy;
}

void tu_require_extended_long_double(void)
{
    volatile long double one = 1.0L, tiny = 0x1p-60L;
    if (one + tiny == one)
        cr_skip_test("long double has no more precision than double here (under valgrind?): "
                     "the long double reference of this test cannot judge");
}
