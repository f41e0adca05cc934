/* Initializers (nn.h): fill a tensor's data from a PCG32 stream.
 *
 * The streams, so that a seed reproduces a model bit for bit:
 *   uniform  element i takes the i-th tg_pcg32_float draw u_i and becomes
 *            (float)(lo + (hi - lo) * u_i), evaluated in double; a value that rounds up
 *            to hi is replaced by the float just below it, so the range is [lo, hi).
 *   normal   tg_normal_fill(rng, data, n) writes the standard normals z_i in place,
 *            then element i becomes (float)(mean + std * z_i), evaluated in double.
 * The Xavier and He initializers are these two with a deviation std from the tensor's
 * fans, computed in double: uniform on [-a, a) with a = (float)(sqrt(3) std), or normal
 * with mean 0 and that std. Every function checks all its arguments before it draws, so a refusal
 * leaves both the tensor and the generator untouched. */
#include <float.h>
#include <math.h>
#include "internal.h"

tg_status tg_fans(const tg_tensor *t, size_t *fan_in, size_t *fan_out)
{
    size_t fi, fo, field = 1;
    char s[96];
    if (!t)
        return tg__fail(TG_ERR_NULL, "tg_fans: tensor is NULL");
    if (t->rank == 0 || t->rank > TG_MAX_RANK)
        return tg__fail(TG_ERR_SHAPE, "tg_fans: a tensor of shape %s has no fans (rank 1..%d "
                        "needed)", tg_shape_str(t, s, sizeof s), TG_MAX_RANK);
    if (t->rank == 1) {
        fi = fo = t->shape[0];
    } else {
        /* [out, in, k...]: the receptive field prod(k) divides size, so nothing overflows */
        for (size_t i = 2; i < t->rank; i++)
            field *= t->shape[i];
        fi = t->shape[1] * field;
        fo = t->shape[0] * field;
    }
    if (fan_in)
        *fan_in = fi;
    if (fan_out)
        *fan_out = fo;
    return TG_OK;
}

static tg_status need_tensor(const char *who, const tg_tensor *t)
{
    if (!t)
        return tg__fail(TG_ERR_NULL, "%s: tensor is NULL", who);
    if (!t->data)
        return tg__fail(TG_ERR_STATE, "%s: the tensor has no data", who);
    return TG_OK;
}

static tg_status need_rng(const char *who, const tg_pcg32 *rng)
{
    return rng ? TG_OK : tg__fail(TG_ERR_NULL, "%s: rng is NULL", who);
}

/* `who` names the public function in messages. */
static tg_status fill_constant(const char *who, tg_tensor *t, float value)
{
    tg_status s = need_tensor(who, t);
    if (s != TG_OK)
        return s;
    if (!isfinite(value))
        return tg__fail(TG_ERR_PARAM, "%s: value = %g must be finite", who, (double)value);
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = value;
    return TG_OK;
}

tg_status tg_init_zeros(tg_tensor *t) { return fill_constant("tg_init_zeros", t, 0.0f); }

tg_status tg_init_constant(tg_tensor *t, float value)
{
    return fill_constant("tg_init_constant", t, value);
}

/* The uniform fill itself, arguments already checked (lo < hi, both finite). */
static void fill_uniform(float *x, size_t n, float lo, float hi, tg_pcg32 *rng)
{
    const float top = nextafterf(hi, -INFINITY);
    const double width = (double)hi - lo;   /* in double: finite floats cannot overflow it */
    for (size_t i = 0; i < n; i++) {
        const float v = (float)(lo + width * (double)tg_pcg32_float(rng));
        x[i] = v < hi ? v : top;
    }
}

/* The normal fill itself, arguments already checked. */
static tg_status fill_normal(float *x, size_t n, double mean, double std, tg_pcg32 *rng)
{
    const tg_status s = tg_normal_fill(rng, x, n);
    if (s != TG_OK)
        return s;
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(mean + std * (double)x[i]);
    return TG_OK;
}

/* The checks of a uniform fill; `who` names the public function. */
static tg_status check_uniform(const char *who, const tg_tensor *t, float lo, float hi,
                               const tg_pcg32 *rng)
{
    tg_status s = need_tensor(who, t);
    if (s == TG_OK)
        s = need_rng(who, rng);
    if (s != TG_OK)
        return s;
    if (!isfinite(lo) || !isfinite(hi))
        return tg__fail(TG_ERR_PARAM, "%s: the bounds [%g, %g) must be finite", who,
                        (double)lo, (double)hi);
    if (!(lo < hi))
        return tg__fail(TG_ERR_PARAM, "%s: the bounds [%g, %g) need lo < hi", who, (double)lo,
                        (double)hi);
    return TG_OK;
}

static tg_status check_normal(const char *who, const tg_tensor *t, double mean, double std,
                              const tg_pcg32 *rng)
{
    tg_status s = need_tensor(who, t);
    if (s == TG_OK)
        s = need_rng(who, rng);
    if (s != TG_OK)
        return s;
    if (!isfinite(mean) || fabs(mean) > FLT_MAX)
        return tg__fail(TG_ERR_PARAM, "%s: mean = %g must be a finite float", who, mean);
    if (!(std >= 0.0) || !isfinite(std) || std > FLT_MAX)
        return tg__fail(TG_ERR_PARAM, "%s: std = %g must be >= 0 and finite", who, std);
    return TG_OK;
}

tg_status tg_init_uniform(tg_tensor *t, float lo, float hi, tg_pcg32 *rng)
{
    const tg_status s = check_uniform("tg_init_uniform", t, lo, hi, rng);
    if (s == TG_OK)
        fill_uniform(t->data, t->size, lo, hi, rng);
    return s;
}

tg_status tg_init_normal(tg_tensor *t, float mean, float std, tg_pcg32 *rng)
{
    const tg_status s = check_normal("tg_init_normal", t, mean, std, rng);
    return s == TG_OK ? fill_normal(t->data, t->size, mean, std, rng) : s;
}

/* The standard deviation of a Xavier (fan_in + fan_out) or He (fan_in) initializer. */
static tg_status fan_std(const char *who, const tg_tensor *t, double gain, double gain0,
                         int xavier, double *std)
{
    size_t fi, fo;
    char s[96];
    if (!t)
        return tg__fail(TG_ERR_NULL, "%s: tensor is NULL", who);
    if (!(gain >= 0.0) || !isfinite(gain))
        return tg__fail(TG_ERR_PARAM, "%s: gain = %g must be >= 0 and finite (0: the default)",
                        who, gain);
    if (tg_fans(t, &fi, &fo) != TG_OK)
        return tg__fail(TG_ERR_SHAPE, "%s: a tensor of shape %s has no fans (rank 1..%d needed)",
                        who, tg_shape_str(t, s, sizeof s), TG_MAX_RANK);
    if (gain == 0.0)
        gain = gain0;
    *std = xavier ? gain * sqrt(2.0 / ((double)fi + (double)fo)) : gain / sqrt((double)fi);
    return TG_OK;
}

static tg_status fan_uniform(const char *who, tg_tensor *t, double gain, double gain0,
                             int xavier, tg_pcg32 *rng)
{
    double std;
    float bound;
    tg_status s = fan_std(who, t, gain, gain0, xavier, &std);
    if (s != TG_OK)
        return s;
    bound = (float)(sqrt(3.0) * std);   /* U(-a, a) has variance a^2 / 3 */
    s = check_uniform(who, t, -bound, bound, rng);
    if (s == TG_OK)
        fill_uniform(t->data, t->size, -bound, bound, rng);
    return s;
}

static tg_status fan_normal(const char *who, tg_tensor *t, double gain, double gain0,
                            int xavier, tg_pcg32 *rng)
{
    double std;
    tg_status s = fan_std(who, t, gain, gain0, xavier, &std);
    if (s == TG_OK)
        s = check_normal(who, t, 0.0, std, rng);
    return s == TG_OK ? fill_normal(t->data, t->size, 0.0, std, rng) : s;
}

tg_status tg_init_xavier_uniform(tg_tensor *t, double gain, tg_pcg32 *rng)
{
    return fan_uniform("tg_init_xavier_uniform", t, gain, 1.0, 1, rng);
}

tg_status tg_init_xavier_normal(tg_tensor *t, double gain, tg_pcg32 *rng)
{
    return fan_normal("tg_init_xavier_normal", t, gain, 1.0, 1, rng);
}

tg_status tg_init_he_uniform(tg_tensor *t, double gain, tg_pcg32 *rng)
{
    return fan_uniform("tg_init_he_uniform", t, gain, sqrt(2.0), 0, rng);
}

tg_status tg_init_he_normal(tg_tensor *t, double gain, tg_pcg32 *rng)
{
    return fan_normal("tg_init_he_normal", t, gain, sqrt(2.0), 0, rng);
}
