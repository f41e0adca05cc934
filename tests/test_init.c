/* Initializers: the documented streams reproduced exactly, the bounds (including the
 * draw that would round up to hi), the moments of large draws within sampling error,
 * fans of ranks 1..4, and refusals that leave tensor and generator untouched. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>

/* Sample mean and (population) variance, in double. */
static void moments(const float *x, size_t n, double *mean, double *var)
{
    double s = 0.0, q = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        q += ((double)x[i] - *mean) * ((double)x[i] - *mean);
    *var = q / (double)n;
}

static tg_tensor *tensor(size_t rank, const size_t *shape)
{
    tg_tensor *t = tg_tensor_new(TG_PARAM, rank, shape);
    cr_assert_not_null(t, "%s", tg_last_error());
    return t;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

Test(init, uniform_follows_the_documented_stream)
{
    tg_tensor *t = tensor(2, (size_t[]){ 37, 5 });
    tg_pcg32 a, b;
    tg_pcg32_seed(&a, 42, 7);
    b = a;
    cr_assert_eq(tg_init_uniform(t, -2.0f, 3.0f, &a), TG_OK);
    for (size_t i = 0; i < t->size; i++) {   /* (float)(lo + (hi - lo) u) in double */
        const float want = (float)(-2.0 + 5.0 * (double)tg_pcg32_float(&b));
        cr_assert(t->data[i] == want, "element %zu: %a, want %a", i, (double)t->data[i],
                  (double)want);
    }
    cr_expect(a.state == b.state, "one draw per element");
    tg_tensor_free(t);
}

Test(init, same_seed_same_tensor_bit_for_bit)
{
    tg_tensor *x = tensor(3, (size_t[]){ 4, 6, 3 }), *y = tensor(3, (size_t[]){ 4, 6, 3 });
    tg_status (*const fills[4])(tg_tensor *, double, tg_pcg32 *) = {
        tg_init_xavier_uniform, tg_init_xavier_normal, tg_init_he_uniform, tg_init_he_normal
    };
    for (size_t f = 0; f < 4; f++) {
        tg_pcg32 r1, r2;
        tg_pcg32_seed(&r1, 2024, f);
        tg_pcg32_seed(&r2, 2024, f);
        cr_assert_eq(fills[f](x, 0.0, &r1), TG_OK);
        cr_assert_eq(fills[f](y, 0.0, &r2), TG_OK);
        cr_expect(same_bits(x->data, y->data, x->size), "initializer %zu", f);
        cr_expect(r1.state == r2.state);
    }
    tg_tensor_free(x);
    tg_tensor_free(y);
}

Test(init, uniform_stays_below_hi_even_when_the_draw_rounds_up)
{
    /* U[1, 2) with u = 1 - 2^-24 is 2 - 2^-24, a tie that rounds to 2.0f: the fill must
     * give the float below 2 instead. Find that draw in a stream, then fill from it. */
    tg_pcg32 r, before;
    tg_tensor *t = tensor(1, (size_t[]){ 1 });
    size_t k = 0;
    tg_pcg32_seed(&r, 5, 5);
    do {
        before = r;
        k++;
    } while ((tg_pcg32_next(&r) >> 8) != 0xFFFFFFu && k < ((size_t)1 << 28));
    cr_assert_lt(k, (size_t)1 << 28, "no draw of 24 one bits found");
    cr_assert_eq(tg_init_uniform(t, 1.0f, 2.0f, &before), TG_OK);
    cr_expect(t->data[0] == nextafterf(2.0f, 0.0f), "got %a", (double)t->data[0]);
    tg_tensor_free(t);
}

Test(init, uniform_bounds_and_moments_of_a_large_draw)
{
    const size_t n = (size_t)1 << 20;
    tg_tensor *t = tensor(1, (size_t[]){ n });
    tg_pcg32 r;
    double mean, var, lo = 1.0, hi = -1.0;
    tg_pcg32_seed(&r, 11, 3);
    cr_assert_eq(tg_init_uniform(t, -1.0f, 1.0f, &r), TG_OK);
    for (size_t i = 0; i < n; i++) {
        cr_assert(t->data[i] >= -1.0f && t->data[i] < 1.0f, "element %zu = %g", i,
                  (double)t->data[i]);
        lo = fmin(lo, t->data[i]);
        hi = fmax(hi, t->data[i]);
    }
    cr_expect(lo < -0.9999 && hi > 0.9999, "range used: [%g, %g]", lo, hi);
    moments(t->data, n, &mean, &var);
    /* U(-1,1): mean 0, variance 1/3, fourth central moment 1/5. Standard errors:
     * sqrt(1/3 / n) = 5.6e-4 for the mean, sqrt((1/5 - 1/9) / n) = 2.9e-4 for the
     * variance. 5 standard errors: a false alarm about once in 3.5 million runs. */
    cr_expect_lt(fabs(mean), 5 * sqrt(1.0 / 3.0 / (double)n), "mean %g", mean);
    cr_expect_lt(fabs(var - 1.0 / 3.0), 5 * sqrt((0.2 - 1.0 / 9.0) / (double)n), "var %g", var);
    tg_tensor_free(t);
}

Test(init, normal_follows_tg_normal_fill)
{
    tg_tensor *t = tensor(2, (size_t[]){ 9, 11 });
    float z[99];
    tg_pcg32 a, b;
    tg_pcg32_seed(&a, 9, 9);
    b = a;
    cr_assert_eq(tg_init_normal(t, 0.25f, 3.0f, &a), TG_OK);
    cr_assert_eq(tg_normal_fill(&b, z, 99), TG_OK);
    for (size_t i = 0; i < 99; i++)
        cr_assert(t->data[i] == (float)(0.25 + 3.0 * (double)z[i]), "element %zu", i);
    cr_expect(a.state == b.state);
    tg_tensor_free(t);
}

Test(init, normal_moments_of_a_large_draw)
{
    const size_t n = (size_t)1 << 20;
    tg_tensor *t = tensor(1, (size_t[]){ n });
    tg_pcg32 r;
    double mean, var;
    tg_pcg32_seed(&r, 12, 4);
    cr_assert_eq(tg_init_normal(t, 0.5f, 2.0f, &r), TG_OK);
    moments(t->data, n, &mean, &var);
    /* N(0.5, 4): standard errors 2/sqrt(n) = 2.0e-3 (mean) and sqrt(2) 4/sqrt(n) =
     * 5.5e-3 (variance); 5 of them. */
    cr_expect_lt(fabs(mean - 0.5), 5 * 2.0 / sqrt((double)n), "mean %g", mean);
    cr_expect_lt(fabs(var - 4.0), 5 * sqrt(2.0) * 4.0 / sqrt((double)n), "var %g", var);
    /* std 0 is allowed: a constant */
    cr_assert_eq(tg_init_normal(t, -1.5f, 0.0f, &r), TG_OK);
    cr_expect(t->data[0] == -1.5f && t->data[n - 1] == -1.5f);
    tg_tensor_free(t);
}

Test(init, fans_of_ranks_one_to_four)
{
    const struct {
        size_t rank, shape[4], fi, fo;
    } c[] = {
        { 1, { 7 }, 7, 7 },               /* a bias [n] */
        { 2, { 3, 5 }, 5, 3 },            /* [out, in] */
        { 3, { 4, 3, 5 }, 15, 20 },       /* [out, in, k] */
        { 4, { 8, 4, 3, 2 }, 24, 48 },    /* [out, in, kh, kw] */
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        tg_tensor *t = tensor(c[i].rank, c[i].shape);
        size_t fi = 0, fo = 0;
        cr_assert_eq(tg_fans(t, &fi, &fo), TG_OK);
        cr_expect_eq(fi, c[i].fi, "rank %zu fan_in %zu", c[i].rank, fi);
        cr_expect_eq(fo, c[i].fo, "rank %zu fan_out %zu", c[i].rank, fo);
        tg_tensor_free(t);
    }
}

/* Xavier and He are the uniform and normal fills with the deviation from the fans. */
Test(init, xavier_and_he_use_the_fans)
{
    const size_t shape[4] = { 16, 8, 3, 3 };   /* fan_in 72, fan_out 144 */
    tg_tensor *t = tensor(4, shape), *u = tensor(4, shape);
    const double xs = sqrt(2.0 / (72.0 + 144.0)), hs = sqrt(2.0) / sqrt(72.0);
    tg_pcg32 a, b;
    float bound;

    tg_pcg32_seed(&a, 1, 2);
    b = a;
    cr_assert_eq(tg_init_xavier_uniform(t, 0.0, &a), TG_OK);
    bound = (float)(sqrt(3.0) * xs);
    cr_assert_eq(tg_init_uniform(u, -bound, bound, &b), TG_OK);
    cr_expect(same_bits(t->data, u->data, t->size), "xavier_uniform = U(-%g, %g)",
              (double)bound, (double)bound);

    cr_assert_eq(tg_init_he_uniform(t, 3.0, &a), TG_OK);   /* an explicit gain */
    bound = (float)(sqrt(3.0) * 3.0 / sqrt(72.0));
    cr_assert_eq(tg_init_uniform(u, -bound, bound, &b), TG_OK);
    cr_expect(same_bits(t->data, u->data, t->size), "he_uniform(gain 3)");

    cr_assert_eq(tg_init_xavier_normal(t, 2.0, &a), TG_OK);
    cr_assert_eq(tg_normal_fill(&b, u->data, u->size), TG_OK);
    for (size_t i = 0; i < t->size; i++)
        cr_assert(t->data[i] == (float)(2.0 * xs * (double)u->data[i]), "xavier_normal %zu", i);

    cr_assert_eq(tg_init_he_normal(t, 0.0, &a), TG_OK);   /* gain 0: sqrt 2 */
    cr_assert_eq(tg_normal_fill(&b, u->data, u->size), TG_OK);
    for (size_t i = 0; i < t->size; i++)
        cr_assert(t->data[i] == (float)(hs * (double)u->data[i]), "he_normal %zu", i);
    tg_tensor_free(t);
    tg_tensor_free(u);
}

Test(init, he_normal_variance_of_a_large_draw)
{
    const size_t in = 1024, out = 1024, n = in * out;
    tg_tensor *t = tensor(2, (size_t[]){ out, in });
    tg_pcg32 r;
    double mean, var;
    const double want = 2.0 / (double)in;   /* gain^2 / fan_in */
    tg_pcg32_seed(&r, 77, 1);
    cr_assert_eq(tg_init_he_normal(t, 0.0, &r), TG_OK);
    moments(t->data, n, &mean, &var);
    /* standard errors sqrt(want / n) for the mean, sqrt(2) want / sqrt(n) for the
     * variance; 5 of them */
    cr_expect_lt(fabs(mean), 5 * sqrt(want / (double)n), "mean %g", mean);
    cr_expect_lt(fabs(var - want), 5 * sqrt(2.0) * want / sqrt((double)n), "var %g, want %g",
                 var, want);
    tg_tensor_free(t);
}

Test(init, zeros_and_constant)
{
    tg_tensor *t = tensor(2, (size_t[]){ 3, 3 });
    cr_assert_eq(tg_init_constant(t, -0.75f), TG_OK);
    for (size_t i = 0; i < 9; i++)
        cr_expect(t->data[i] == -0.75f);
    cr_assert_eq(tg_init_zeros(t), TG_OK);
    for (size_t i = 0; i < 9; i++)
        cr_expect(t->data[i] == 0.0f && !signbit(t->data[i]));
    tg_tensor_free(t);
}

/* A refusal names the function and leaves the tensor and the generator as they were. */
#define EXPECT_REFUSED(call, status, text)                                                   \
    do {                                                                                     \
        cr_expect_eq((call), (status), "%s", #call);                                         \
        cr_expect(strstr(tg_last_error(), (text)), "%s: message \"%s\" lacks \"%s\"", #call, \
                  tg_last_error(), (text));                                                  \
    } while (0)

Test(init, refusals_have_messages_and_touch_nothing)
{
    tg_tensor *t = tensor(2, (size_t[]){ 2, 2 });
    tg_tensor *s = tensor(0, NULL);
    tg_pcg32 r, r0;
    size_t fi;
    tg_pcg32_seed(&r, 3, 3);
    r0 = r;
    for (size_t i = 0; i < 4; i++)
        t->data[i] = 9.0f;

    EXPECT_REFUSED(tg_fans(NULL, &fi, NULL), TG_ERR_NULL, "tg_fans");
    EXPECT_REFUSED(tg_fans(s, &fi, NULL), TG_ERR_SHAPE, "[]");
    EXPECT_REFUSED(tg_init_zeros(NULL), TG_ERR_NULL, "tensor is NULL");
    EXPECT_REFUSED(tg_init_constant(t, NAN), TG_ERR_PARAM, "finite");
    EXPECT_REFUSED(tg_init_constant(t, INFINITY), TG_ERR_PARAM, "tg_init_constant");
    EXPECT_REFUSED(tg_init_uniform(NULL, 0.0f, 1.0f, &r), TG_ERR_NULL, "tensor is NULL");
    EXPECT_REFUSED(tg_init_uniform(t, 0.0f, 1.0f, NULL), TG_ERR_NULL, "rng is NULL");
    EXPECT_REFUSED(tg_init_uniform(t, 1.0f, 1.0f, &r), TG_ERR_PARAM, "lo < hi");
    EXPECT_REFUSED(tg_init_uniform(t, 2.0f, 1.0f, &r), TG_ERR_PARAM, "[2, 1)");
    EXPECT_REFUSED(tg_init_uniform(t, NAN, 1.0f, &r), TG_ERR_PARAM, "finite");
    EXPECT_REFUSED(tg_init_uniform(t, -INFINITY, 1.0f, &r), TG_ERR_PARAM, "finite");
    EXPECT_REFUSED(tg_init_normal(t, 0.0f, NAN, &r), TG_ERR_PARAM, "std = nan");
    EXPECT_REFUSED(tg_init_normal(t, 0.0f, -1.0f, &r), TG_ERR_PARAM, "std = -1");
    EXPECT_REFUSED(tg_init_normal(t, INFINITY, 1.0f, &r), TG_ERR_PARAM, "mean = inf");
    EXPECT_REFUSED(tg_init_normal(t, 0.0f, 1.0f, NULL), TG_ERR_NULL, "tg_init_normal");
    EXPECT_REFUSED(tg_init_xavier_uniform(s, 0.0, &r), TG_ERR_SHAPE, "tg_init_xavier_uniform");
    EXPECT_REFUSED(tg_init_xavier_normal(s, 0.0, &r), TG_ERR_SHAPE, "no fans");
    EXPECT_REFUSED(tg_init_he_uniform(s, 0.0, &r), TG_ERR_SHAPE, "tg_init_he_uniform");
    EXPECT_REFUSED(tg_init_he_normal(s, 0.0, &r), TG_ERR_SHAPE, "[]");
    EXPECT_REFUSED(tg_init_he_normal(t, -1.0, &r), TG_ERR_PARAM, "gain = -1");
    EXPECT_REFUSED(tg_init_xavier_uniform(t, NAN, &r), TG_ERR_PARAM, "gain = nan");
    EXPECT_REFUSED(tg_init_xavier_uniform(t, 1e300, &r), TG_ERR_PARAM, "finite");
    EXPECT_REFUSED(tg_init_he_uniform(t, 1.0, NULL), TG_ERR_NULL, "rng is NULL");

    for (size_t i = 0; i < 4; i++)
        cr_expect(t->data[i] == 9.0f, "element %zu was changed", i);
    cr_expect(r.state == r0.state && r.inc == r0.inc, "the generator was advanced");
    tg_tensor_free(t);
    tg_tensor_free(s);
}
