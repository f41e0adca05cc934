/* The forward-noising law L(a*x + b*Z), Z ~ N(0, I_n), and its Markov kernel. */
#include <math.h>
#include "internal.h"

/* Noise is drawn through a stack buffer of this many values, so sampling allocates
 * nothing and out may equal x. Chunking cannot change the values: tg_normal_fill keeps
 * no spare between calls. */
#define NOISE_CHUNK 256

/* 0.5 * log(2 pi) */
#define HALF_LOG_2PI 0.918938533204672741780329736406

static tg_status check_coef(const char *who, double a, double b)
{
    if (!isfinite(a))
        return tg__fail(TG_ERR_PARAM, "%s: a = %g must be finite", who, a);
    if (!isfinite(b) || b < 0.0)
        return tg__fail(TG_ERR_PARAM, "%s: b = %g must be finite and >= 0", who, b);
    return TG_OK;
}

tg_status tg_forward_kernel_make(double a, double b, tg_forward_kernel *out)
{
    const tg_status st = check_coef("tg_forward_kernel_make", a, b);
    if (st != TG_OK)
        return st;
    if (!out)
        return tg__fail(TG_ERR_NULL, "tg_forward_kernel_make: out is NULL");
    out->a = a;
    out->b = b + 0.0;   /* -0 + 0 = +0: one representation of the point mass */
    return TG_OK;
}

tg_status tg_forward_kernel_compose(tg_forward_kernel first, tg_forward_kernel second,
                                    tg_forward_kernel *out)
{
    static const char who[] = "tg_forward_kernel_compose";
    tg_status st = check_coef(who, first.a, first.b);
    if (st == TG_OK)
        st = check_coef(who, second.a, second.b);
    if (st != TG_OK)
        return st;
    if (!out)
        return tg__fail(TG_ERR_NULL, "%s: out is NULL", who);
    {
        /* a2 (a1 x + b1 Z1) + b2 Z2 = a1 a2 x + hypot(a2 b1, b2) Z */
        const double a = first.a * second.a;
        const double b = hypot(second.a * first.b, second.b);
        if (!isfinite(a) || !isfinite(b))
            return tg__fail(TG_ERR_PARAM, "%s: (%g, %g) then (%g, %g) overflows", who,
                            first.a, first.b, second.a, second.b);
        out->a = a;
        out->b = b;
    }
    return TG_OK;
}

static tg_status make_law(const char *who, double a, double b, const float *x, size_t n,
                          tg_forward_noising *out)
{
    const tg_status st = check_coef(who, a, b);
    if (st != TG_OK)
        return st;
    if (!out || (n > 0 && !x))
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, out ? "x" : "out");
    out->a = a;
    out->b = b + 0.0;
    out->x = x;
    out->n = n;
    return TG_OK;
}

tg_status tg_forward_noising_make(double a, double b, const float *x, size_t n,
                                  tg_forward_noising *out)
{
    return make_law("tg_forward_noising_make", a, b, x, n, out);
}

tg_status tg_forward_kernel_apply(tg_forward_kernel k, const float *x, size_t n,
                                  tg_forward_noising *out)
{
    return make_law("tg_forward_kernel_apply", k.a, k.b, x, n, out);
}

/* Kept apart from the checks so the loop stays plain and vectorizable. The products
 * are separate statements so that no compiler fuses them into an fma: the documented
 * values are the rounded products, then the rounded sum. */
static void push_forward(double a, double b, const float *x, const float *z, size_t n,
                         float *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const double ax = a * (double)x[i];
        const double bz = b * (double)z[i];
        out[i] = (float)(ax + bz);
    }
}

tg_status tg_forward_noising_map(double a, double b, const float *x, const float *z,
                                 size_t n, float *out)
{
    const tg_status st = check_coef("tg_forward_noising_map", a, b);
    if (st != TG_OK)
        return st;
    if (n > 0 && (!x || !z || !out))
        return tg__fail(TG_ERR_NULL, "tg_forward_noising_map: %s is NULL",
                        !x ? "x" : !z ? "z" : "out");
    push_forward(a, b, x, z, n, out);
    return TG_OK;
}

/* `who` names the public function in messages (sample, or draw for a law). */
static tg_status sample(const char *who, tg_pcg32 *rng, double a, double b, const float *x,
                        size_t n, float *out)
{
    float z[NOISE_CHUNK];
    size_t i;
    const tg_status st = check_coef(who, a, b);
    if (st != TG_OK)
        return st;
    if (n > 0 && (!rng || !x || !out))
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, !rng ? "rng" : !x ? "x" : "out");
    for (i = 0; i < n; i += NOISE_CHUNK) {
        const size_t len = n - i < NOISE_CHUNK ? n - i : NOISE_CHUNK;
        tg_normal_fill(rng, z, len);
        push_forward(a, b, x + i, z, len, out + i);
    }
    return TG_OK;
}

tg_status tg_forward_noising_sample(tg_pcg32 *rng, double a, double b, const float *x,
                                    size_t n, float *out)
{
    return sample("tg_forward_noising_sample", rng, a, b, x, n, out);
}

tg_status tg_forward_noising_draw(const tg_forward_noising *law, tg_pcg32 *rng, float *out)
{
    if (!law)
        return tg__fail(TG_ERR_NULL, "tg_forward_noising_draw: law is NULL");
    return sample("tg_forward_noising_draw", rng, law->a, law->b, law->x, law->n, out);
}

/* A law is a plain struct a caller may fill by hand: the functions that read one check
 * it as tg_forward_noising_make would have. */
static tg_status check_law(const char *who, const tg_forward_noising *law)
{
    const tg_status st = check_coef(who, law->a, law->b);
    if (st == TG_OK && law->n > 0 && !law->x)
        return tg__fail(TG_ERR_NULL, "%s: the law's x is NULL (n = %zu)", who, law->n);
    return st;
}

tg_status tg_forward_noising_log_density(const tg_forward_noising *law, const float *y,
                                         double *out)
{
    double q = 0.0;
    size_t i;
    if (!law || !out || (law->n > 0 && !y))
        return tg__fail(TG_ERR_NULL, "tg_forward_noising_log_density: %s is NULL",
                        !law ? "law" : !out ? "out" : "y");
    if (check_law("tg_forward_noising_log_density", law) != TG_OK)
        return tg_last_status();
    if (law->b == 0.0)
        return tg__fail(TG_ERR_STATE, "tg_forward_noising_log_density: b = 0 is a point "
                                      "mass, which has no density");
    for (i = 0; i < law->n; i++) {
        /* divide before squaring: b^2 alone underflows for b below 1e-154 */
        const double d = ((double)y[i] - law->a * (double)law->x[i]) / law->b;
        q += d * d;
    }
    *out = -0.5 * q - (double)law->n * (log(law->b) + HALF_LOG_2PI);
    return TG_OK;
}

tg_status tg_forward_noising_mean(const tg_forward_noising *law, double *out)
{
    size_t i;
    if (!law || (law->n > 0 && !out))
        return tg__fail(TG_ERR_NULL, "tg_forward_noising_mean: %s is NULL",
                        !law ? "law" : "out");
    if (check_law("tg_forward_noising_mean", law) != TG_OK)
        return tg_last_status();
    for (i = 0; i < law->n; i++)
        out[i] = law->a * (double)law->x[i];
    return TG_OK;
}

double tg_forward_noising_variance(const tg_forward_noising *law)
{
    if (!law) {
        tg__fail(TG_ERR_NULL, "tg_forward_noising_variance: law is NULL");
        return NAN;
    }
    if (!isfinite(law->b) || law->b < 0.0) {   /* b*b would hide a negative b */
        tg__fail(TG_ERR_PARAM, "tg_forward_noising_variance: b = %g must be finite and >= 0",
                 law->b);
        return NAN;
    }
    return law->b * law->b;
}
