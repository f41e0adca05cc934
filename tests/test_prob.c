/* Probability utilities: the normal sampler's goodness of fit and stream, the facts of
 * the forward-noising law and kernel (rules.md, "Diffusion forward noising"), and the
 * DDPM schedules.
 *
 * Every statistical check uses a fixed seed, so it passes or fails the same way on each
 * run. Its stated false-alarm probability is the chance that a correct implementation
 * fails it for a seed picked at random; the seeds here were not picked to pass. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#define PI 3.14159265358979323846
#define SQRT1_2 0.70710678118654752440

/* two-sided: P(|N(0,1)| > Z_1E5) = 1e-5 */
#define Z_1E5 4.4171734
/* one-sided: P(N(0,1) > Z1_1E3) = 1e-3 */
#define Z1_1E3 3.0902323

static double phi_cdf(double x)
{
    return 0.5 * erfc(-x * SQRT1_2);
}

/* P(|Z| > c) */
static double two_sided_tail(double c)
{
    return erfc(c * SQRT1_2);
}

static void *xmalloc(size_t bytes)
{
    void *p = malloc(bytes);
    cr_assert_not_null(p, "test allocation of %zu bytes", bytes);
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Kolmogorov-Smirnov statistic of v[0..n) (sorted in place) against cdf(x, c). */
static double ks_statistic(double *v, size_t n, double (*cdf)(double, double), double c)
{
    double d = 0.0;
    size_t i;
    qsort(v, n, sizeof *v, cmp_double);
    for (i = 0; i < n; i++) {
        const double f = cdf(v[i], c);
        const double above = (double)(i + 1) / (double)n - f, below = f - (double)i / (double)n;
        if (above > d)
            d = above;
        if (below > d)
            d = below;
    }
    return d;
}

/* Critical D at false-alarm alpha: the first term of Kolmogorov's series,
 * P(sqrt(n) D > t) ~ 2 exp(-2 t^2), with Stephens' (1970) finite-n factor
 * sqrt(n) + 0.12 + 0.11/sqrt(n). For alpha <= 1e-3 the dropped terms, 2 exp(-8 t^2),
 * are below 1e-12. */
static double ks_critical(size_t n, double alpha)
{
    const double t = sqrt(-0.5 * log(alpha / 2.0));
    const double rn = sqrt((double)n);
    return t / (rn + 0.12 + 0.11 / rn);
}

static double std_normal_cdf(double x, double unused)
{
    (void)unused;
    return phi_cdf(x);
}

/* CDF of |Z| given |Z| > c */
static double abs_tail_cdf(double x, double c)
{
    return x <= c ? 0.0 : 1.0 - erfc(x * SQRT1_2) / erfc(c * SQRT1_2);
}

static void assert_ks(double *v, size_t n, double (*cdf)(double, double), double c,
                      const char *what)
{
    const double d = ks_statistic(v, n, cdf, c), crit = ks_critical(n, 1e-3);
    cr_assert(d < crit, "%s: KS D = %.6f >= %.6f (n = %zu, alpha = 1e-3)", what, d, crit, n);
}

/* Pearson chi-square over bins of width 0.1 on [-4, 4] plus the two tails (82 bins, the
 * smallest expecting 16 of 10^6 draws). Critical value at alpha = 1e-3 by the
 * Wilson-Hilferty cube approximation: 126.14 at 81 degrees of freedom, where the exact
 * quantile is 126.08, so the false-alarm probability is 0.99e-3. */
static void assert_chi2(const double *v, size_t n, const char *what)
{
    enum { BINS = 82 };
    size_t count[BINS] = {0};
    double chi2 = 0.0, crit;
    const double df = BINS - 1;
    size_t i, k;
    for (i = 0; i < n; i++) {
        const double b = floor((v[i] + 4.0) * 10.0) + 1.0;
        count[b < 0.0 ? 0 : b > BINS - 1 ? BINS - 1 : (size_t)b]++;
    }
    for (k = 0; k < BINS; k++) {
        const double lo = k == 0 ? -INFINITY : -4.0 + 0.1 * (double)(k - 1);
        const double hi = k == BINS - 1 ? INFINITY : -4.0 + 0.1 * (double)k;
        const double e = (double)n * (phi_cdf(hi) - phi_cdf(lo));
        const double d = (double)count[k] - e;
        chi2 += d * d / e;
    }
    crit = df * pow(1.0 - 2.0 / (9.0 * df) + Z1_1E3 * sqrt(2.0 / (9.0 * df)), 3.0);
    cr_assert(chi2 < crit, "%s: chi-square %.2f >= %.2f (81 df, alpha = 1e-3)", what, chi2, crit);
}

/* Sample mean within z/sqrt(n) of 0 and sample variance within z sqrt(2/n) of 1 (the
 * standard errors of both for N(0,1) data), z giving a two-sided 1e-5 each. */
static void assert_moments(const double *v, size_t n, double mean, double var,
                           const char *what)
{
    double s = 0.0, s2 = 0.0;
    size_t i;
    for (i = 0; i < n; i++)
        s += v[i];
    s /= (double)n;
    for (i = 0; i < n; i++)
        s2 += (v[i] - s) * (v[i] - s);
    s2 /= (double)(n - 1);
    cr_assert(fabs(s - mean) <= Z_1E5 * sqrt(var / (double)n), "%s: mean %.6g, want %.6g", what,
              s, mean);
    cr_assert(fabs(s2 / var - 1.0) <= Z_1E5 * sqrt(2.0 / (double)n),
              "%s: variance %.6g, want %.6g", what, s2, var);
}

/* A count of n Bernoulli(p) events within z = 4.42 standard deviations (two-sided 1e-5
 * under the normal approximation, sound here as n p >= 250). */
static void assert_count(size_t count, size_t n, double p, const char *what)
{
    const double e = (double)n * p, sd = sqrt(e * (1.0 - p));
    cr_assert(fabs((double)count - e) <= Z_1E5 * sd, "%s: %zu, expected %.1f +- %.1f", what,
              count, e, sd);
}

static double *normal_doubles_from_float(tg_pcg32 *g, size_t n)
{
    float *f = xmalloc(n * sizeof *f);
    double *v = xmalloc(n * sizeof *v);
    size_t i;
    cr_assert_eq(tg_normal_fill(g, f, n), TG_OK);
    for (i = 0; i < n; i++) {
        cr_assert(isfinite(f[i]), "value %zu is %g", i, f[i]);
        v[i] = f[i];
    }
    free(f);
    return v;
}

/* ---- the normal sampler -------------------------------------------------------------
 * False-alarm probability of each gof test: at most 1e-3 (KS) + 1e-3 (chi2) + 2e-5
 * (moments). The KS and chi-square tests were also run on 30 other seeds: no failure. */

Test(prob, normal_gof_float)
{
    enum { N = 1000000 };
    tg_pcg32 g;
    double *v;
    tg_pcg32_seed(&g, 20240601u, 1u);
    v = normal_doubles_from_float(&g, N);
    assert_moments(v, N, 0.0, 1.0, "float");
    assert_chi2(v, N, "float");
    assert_ks(v, N, std_normal_cdf, 0.0, "float");
    free(v);
}

Test(prob, normal_gof_double)
{
    enum { N = 1000000 };
    double *v = xmalloc(N * sizeof *v);
    size_t i, as_float = 0;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 20240601u, 2u);
    cr_assert_eq(tg_normal_fill_double(&g, v, N), TG_OK);
    for (i = 0; i < N; i++) {
        cr_assert(isfinite(v[i]), "value %zu is %g", i, v[i]);
        as_float += (double)(float)v[i] == v[i];
    }
    /* a double built from a 52-bit abscissa is a float with probability about 2^-28 per
     * value (the float path would make every one a float): 10 or more of 10^6 happens
     * with probability far below 1e-12 */
    cr_assert(as_float < 10, "%zu of %d double draws are floats", as_float, N);
    assert_moments(v, N, 0.0, 1.0, "double");
    assert_chi2(v, N, "double");
    assert_ks(v, N, std_normal_cdf, 0.0, "double");
    free(v);
}

typedef void (*draw_fn)(tg_pcg32 *g, double *out, size_t n);

static void draw_float(tg_pcg32 *g, double *out, size_t n)
{
    float *f = xmalloc(n * sizeof *f);
    size_t i;
    cr_assert_eq(tg_normal_fill(g, f, n), TG_OK);
    for (i = 0; i < n; i++)
        out[i] = f[i];
    free(f);
}

static void draw_double(tg_pcg32 *g, double *out, size_t n)
{
    cr_assert_eq(tg_normal_fill_double(g, out, n), TG_OK);
}

/* KS over 10^6 draws cannot see a broken tail: the mass beyond r = 3.44 is 6e-4, below
 * the KS critical D of 2e-3. So, over 10^7 draws, count those beyond several
 * thresholds against the exact mass (1e-5 each under the normal approximation), and
 * check the shape of the tail with KS on the draws beyond 2.5 (layers, wedges and tail
 * together; 124000 expected) and beyond 3.5 (the tail method alone; 4650 expected),
 * 1e-3 each. The second catches a tail whose excess over r is scaled by 0.9. */
static void check_tails(draw_fn draw, tg_pcg32 *g, const char *what)
{
    enum { N = 10000000, CHUNK = 1 << 16, KEEP = N / 40 };
    static const double cut[] = {1.0, 2.0, 3.0, 3.5, 4.0};
    size_t count[sizeof cut / sizeof *cut] = {0};
    double *v = xmalloc(CHUNK * sizeof *v), *t = xmalloc(KEEP * sizeof *t);
    size_t done, i, k, positive = 0, m = 0, m35 = 0;
    for (done = 0; done < N; done += CHUNK) {
        const size_t len = N - done < CHUNK ? N - done : CHUNK;
        draw(g, v, len);
        for (i = 0; i < len; i++) {
            const double a = fabs(v[i]);
            positive += v[i] > 0.0;
            for (k = 0; k < sizeof cut / sizeof *cut; k++)
                count[k] += a > cut[k];
            if (a > 2.5) {
                cr_assert(m < KEEP, "%s: far too many draws beyond 2.5", what);
                t[m++] = a;
            }
        }
    }
    assert_count(positive, N, 0.5, what);
    for (k = 0; k < sizeof cut / sizeof *cut; k++)
        assert_count(count[k], N, two_sided_tail(cut[k]), what);
    assert_ks(t, m, abs_tail_cdf, 2.5, what);   /* sorts t */
    while (m35 < m && t[m - 1 - m35] > 3.5)
        m35++;
    cr_assert(m35 > 1000, "%s: only %zu draws beyond 3.5", what, m35);
    assert_ks(t + (m - m35), m35, abs_tail_cdf, 3.5, what);
    free(v);
    free(t);
}

Test(prob, normal_tails_float)
{
    tg_pcg32 g;
    tg_pcg32_seed(&g, 77u, 3u);
    check_tails(draw_float, &g, "float tail");
}

Test(prob, normal_tails_double)
{
    tg_pcg32 g;
    tg_pcg32_seed(&g, 77u, 4u);
    check_tails(draw_double, &g, "double tail");
}

/* fill(n) then fill(m) equals fill(n + m): no spare is kept, odd sizes included. */
Test(prob, normal_stream_concatenates)
{
    static const size_t cuts[] = {0, 1, 2, 3, 7, 64, 255, 256, 257, 1000};
    enum { N = 2000 };
    float whole[N], parts[N];
    double whole_d[N], parts_d[N];
    size_t k;
    tg_pcg32 g, h;
    tg_pcg32_seed(&g, 5u, 6u);
    h = g;
    cr_assert_eq(tg_normal_fill(&g, whole, N), TG_OK);
    cr_assert_eq(tg_normal_fill_double(&g, whole_d, N), TG_OK);
    for (k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        tg_pcg32 p = h;
        cr_assert_eq(tg_normal_fill(&p, parts, cuts[k]), TG_OK);
        cr_assert_eq(tg_normal_fill(&p, parts + cuts[k], N - cuts[k]), TG_OK);
        cr_assert_eq(tg_normal_fill_double(&p, parts_d, cuts[k]), TG_OK);
        cr_assert_eq(tg_normal_fill_double(&p, parts_d + cuts[k], N - cuts[k]), TG_OK);
        cr_assert(memcmp(whole, parts, sizeof whole) == 0, "float, cut at %zu", cuts[k]);
        cr_assert(memcmp(whole_d, parts_d, sizeof whole_d) == 0, "double, cut at %zu", cuts[k]);
        cr_assert(p.state == g.state && p.inc == g.inc, "rng state, cut at %zu", cuts[k]);
    }
}

/* The draws come from the caller's PCG32 stream and nowhere else: after fill(n) the
 * generator is where some number k of tg_pcg32_next calls would have put it, k >= n
 * (one draw per float attempt). The mean of k/n is 1.04092 (from the tables:
 * attempts per value 1/0.98779, draws per attempt 1 + P(wedge) + 2 P(tail)/0.93111);
 * its standard deviation over 10^6 values is under 3e-4, so the band of +-0.003 is
 * more than 10 of them wide. Twice all that for double. */
Test(prob, normal_stream_consumption)
{
    enum { N = 1000000 };
    float *f = xmalloc(N * sizeof *f);
    double *d = xmalloc(N * sizeof *d);
    tg_pcg32 g, h;
    size_t k;
    tg_pcg32_seed(&g, 99u, 100u);
    h = g;
    cr_assert_eq(tg_normal_fill(&g, f, N), TG_OK);
    for (k = 0; k < 2 * (size_t)N && h.state != g.state; k++)
        tg_pcg32_next(&h);
    cr_assert_eq(h.state, g.state, "float: state not reached in 2n draws");
    cr_assert(fabs((double)k / N - 1.04092) < 0.003, "float: %.5f draws per value",
              (double)k / N);
    h = g;
    cr_assert_eq(tg_normal_fill_double(&g, d, N), TG_OK);
    for (k = 0; k < 3 * (size_t)N && h.state != g.state; k++)
        tg_pcg32_next(&h);
    cr_assert_eq(h.state, g.state, "double: state not reached in 3n draws");
    cr_assert(fabs((double)k / N - 2.08185) < 0.006, "double: %.5f draws per value",
              (double)k / N);
    free(f);
    free(d);
}

/* How many draws took the generator from before to after (up to 64), and the first
 * two draws after before. */
static unsigned draws_taken(tg_pcg32 before, const tg_pcg32 *after, uint32_t d[2])
{
    tg_pcg32 peek = before;
    unsigned k = 0;
    d[0] = tg_pcg32_next(&peek);
    d[1] = tg_pcg32_next(&peek);
    while (before.state != after->state && k < 64) {
        tg_pcg32_next(&before);
        k++;
    }
    return k;
}

static long double zig_f(long double x)
{
    return expl(-0.5L * x * x);
}

/* The ziggurat's table, read back through the stream layout prob.h documents. A double
 * value that took 2 draws (accepted at once) or 4 (accepted in a wedge at the first
 * attempt; later attempts and the tail take 6 or more) is u * x_i, with layer i, sign
 * and abscissa u read from the first two draws as documented, so |z| / u recovers
 * x_i to 2 ulps. Checks that each layer seen twice gives the same x_i and the sign
 * matches bit 7. x[128] = 0 by definition. */
static void recover_table(long double x[129])
{
    int seen[128] = {0};
    size_t nseen = 0, it;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 123u, 456u);
    for (it = 0; it < 50000 && nseen < 128; it++) {
        const tg_pcg32 before = g;
        uint32_t d[2];
        double z;
        unsigned k;
        cr_assert_eq(tg_normal_fill_double(&g, &z, 1), TG_OK);
        k = draws_taken(before, &g, d);
        if (k == 2 || k == 4) {
            const uint64_t m = ((uint64_t)(d[0] >> 8) << 28) | (d[1] >> 4);
            const long double u = ((long double)m + 0.5L) * 0x1p-52L;
            const long double xi = fabsl((long double)z) / u;
            const size_t i = d[0] & 0x7f;
            cr_assert((d[0] & 0x80) ? z < 0.0 : z > 0.0, "sign of %g against bit 7", z);
            if (!seen[i]) {
                seen[i] = 1;
                nseen++;
                x[i] = xi;
            }
            cr_assert(fabsl(xi / x[i] - 1.0L) < 5e-16L, "layer %zu: %.17Lg and %.17Lg", i, xi,
                      x[i]);
        }
    }
    cr_assert_eq(nseen, 128, "only %zu layers seen", nseen);
    x[128] = 0.0L;
}

/* The recovered table must satisfy the equations that define a ziggurat, with
 * f(x) = exp(-x^2/2): every layer i = 1..127 has area x_i (f(x_{i+1}) - f(x_i)) = v,
 * the base x_0 f(x_1) = v as well, and v is the base rectangle plus the tail,
 * x_1 f(x_1) + sqrt(pi/2) erfc(x_1/sqrt 2). Tolerance 1e-12 relative: the tables are
 * those equations' solution rounded to double, and f(x_{i+1}) - f(x_i) amplifies the
 * rounding at most 100-fold (f changes by at least 1% of itself between layers).
 * Then float values must be the same u * x_i with the float layout, rounded to float. */
Test(prob, normal_stream_layout)
{
    long double x[129], v;
    size_t it, i;
    tg_pcg32 g;
    recover_table(x);
    v = x[1] * zig_f(x[1]) + sqrtl((long double)PI / 2.0L) * erfcl(x[1] * (long double)SQRT1_2);
    cr_assert(fabsl(x[1] - 3.44261985589665L) < 1e-13L, "tail starts at %.17Lg", x[1]);
    cr_assert(fabsl(x[0] * zig_f(x[1]) / v - 1.0L) < 1e-12L, "base area");
    for (i = 1; i < 128; i++) {
        const long double area = x[i] * (zig_f(x[i + 1]) - zig_f(x[i]));
        cr_assert(fabsl(area / v - 1.0L) < 1e-12L, "layer %zu: area %.17Lg, v %.17Lg", i, area, v);
    }
    tg_pcg32_seed(&g, 321u, 654u);
    for (it = 0; it < 10000; it++) {
        const tg_pcg32 before = g;
        uint32_t d[2];
        float z;
        cr_assert_eq(tg_normal_fill(&g, &z, 1), TG_OK);
        /* 1 draw: accepted at once, 2: in a wedge at the first attempt; others take 3+ */
        if (draws_taken(before, &g, d) <= 2) {
            const long double u = ((long double)(d[0] >> 8) + 0.5L) * 0x1p-24L;
            const long double want = u * x[d[0] & 0x7f] * ((d[0] & 0x80) ? -1.0L : 1.0L);
            /* the library rounds u * x_i to double, then to float: half a float ulp,
             * at most 2^-24 relative, and a little for the double rounding */
            cr_assert(fabsl(z - want) <= 0x1.01p-24L * fabsl(want), "float %.9g, want %.12Lg",
                      (double)z, want);
        }
    }
}

/* The wedge decisions, one by one. In a float attempt whose abscissa x = u x_i lies in
 * the wedge of layer i >= 1 (x >= x_{i+1}), the second draw U gives the height
 * y = f(x_i) + (U + 1/2) 2^-32 (f(x_{i+1}) - f(x_i)) and the point is accepted iff
 * y < f(x); accepted means the value took exactly 2 draws. Predicting each decision
 * in long double from the recovered table checks the library's other table, f(x_i),
 * which no goodness-of-fit test of feasible size could: an entry off by a relative d
 * flips about 60 d of its layer's decisions. A correct library disagrees only when y
 * is within ~1e-15 of f(x), about 1e-13 per decision, so none may disagree. Every
 * layer must have been tested at least 200 times. */
Test(prob, normal_wedges)
{
    long double x[129];
    size_t count[128] = {0}, it, i;
    tg_pcg32 g;
    recover_table(x);
    tg_pcg32_seed(&g, 987u, 654u);
    for (it = 0; it < 6000000; it++) {
        const tg_pcg32 before = g;
        uint32_t d[2];
        float z;
        unsigned k;
        cr_assert_eq(tg_normal_fill(&g, &z, 1), TG_OK);
        k = draws_taken(before, &g, d);
        i = d[0] & 0x7f;
        if (i > 0) {
            const double u = ((double)(d[0] >> 8) + 0.5) * 0x1p-24;
            const long double xa = (long double)(u * (double)x[i]);
            if (xa >= x[i + 1]) {
                const long double uh = ((long double)d[1] + 0.5L) * 0x1p-32L;
                const long double y = zig_f(x[i]) + uh * (zig_f(x[i + 1]) - zig_f(x[i]));
                cr_assert_eq(k == 2, y < zig_f(xa), "layer %zu, x = %.17Lg, y = %.17Lg: the "
                             "library %s", i, xa, y, k == 2 ? "accepted" : "rejected");
                count[i]++;
            }
        }
    }
    for (i = 1; i < 128; i++)
        cr_assert(count[i] >= 200, "layer %zu: only %zu wedge decisions", i, count[i]);
}

Test(prob, normal_bad_arguments)
{
    float f[2];
    double d[2];
    tg_pcg32 g;
    tg_pcg32_seed(&g, 1u, 1u);
    cr_assert_eq(tg_normal_fill(NULL, f, 2), TG_ERR_NULL);
    cr_assert(strstr(tg_last_error(), "tg_normal_fill") != NULL, "%s", tg_last_error());
    cr_assert_eq(tg_normal_fill(&g, NULL, 2), TG_ERR_NULL);
    cr_assert_eq(tg_normal_fill_double(NULL, d, 2), TG_ERR_NULL);
    cr_assert_eq(tg_normal_fill_double(&g, NULL, 2), TG_ERR_NULL);
    /* n = 0 touches nothing */
    cr_assert_eq(tg_normal_fill(NULL, NULL, 0), TG_OK);
    cr_assert_eq(tg_normal_fill_double(NULL, NULL, 0), TG_OK);
}

/* ---- the forward-noising law and kernel --------------------------------------------- */

static void uniform_floats(tg_pcg32 *g, float *x, size_t n, float lo, float hi)
{
    size_t i;
    for (i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * tg_pcg32_float(g);
}

/* a and b cover: the generic case, a point mass, a = 0, a negative a with tiny b, an
 * a far below 1 with b far above, a subnormal b and a negative zero a. */
static const struct {
    double a, b;
} coefs[] = {
    {0.8, 0.6}, {1.0, 0.0}, {0.0, 1.0}, {-2.5, 1e-3}, {1e-30, 3e3}, {0.5, 4.9e-324}, {-0.0, 2.0},
};
#define NCOEFS (sizeof coefs / sizeof *coefs)

/* forwardNoising_eq_map: drawing from the law gives, bit for bit, a*x + b*z for the z
 * that tg_normal_fill draws from the same state, with the arithmetic prob.h documents:
 * the two products in double, then their sum rounded to float. n = 1001 crosses the
 * sampler's internal noise chunks and is odd. */
Test(prob, forwardNoising_eq_map)
{
    enum { N = 1001 };
    float x[N], z[N], want[N], got[N], again[N];
    size_t k, i;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 11u, 12u);
    uniform_floats(&g, x, N, -3.0f, 3.0f);
    for (k = 0; k < NCOEFS; k++) {
        const double a = coefs[k].a, b = coefs[k].b;
        tg_pcg32 g1, g2, g3;
        tg_forward_noising law;
        tg_pcg32_seed(&g1, 1000u + k, 7u);
        g2 = g3 = g1;
        cr_assert_eq(tg_forward_noising_sample(&g1, a, b, x, N, got), TG_OK);
        cr_assert_eq(tg_normal_fill(&g2, z, N), TG_OK);
        for (i = 0; i < N; i++) {
            const double ax = a * (double)x[i];
            const double bz = b * (double)z[i];
            want[i] = (float)(ax + bz);
        }
        cr_assert(memcmp(got, want, sizeof want) == 0, "a = %g, b = %g", a, b);
        cr_assert(g1.state == g2.state, "a = %g, b = %g: the rng ends elsewhere", a, b);
        /* the law object, the library's map and an in-place draw agree too */
        cr_assert_eq(tg_forward_noising_make(a, b, x, N, &law), TG_OK);
        cr_assert_eq(tg_forward_noising_draw(&law, &g3, again), TG_OK);
        cr_assert(memcmp(again, want, sizeof want) == 0, "law draw, a = %g, b = %g", a, b);
        cr_assert_eq(tg_forward_noising_map(a, b, x, z, N, again), TG_OK);
        cr_assert(memcmp(again, want, sizeof want) == 0, "map, a = %g, b = %g", a, b);
        memcpy(again, x, sizeof x);
        tg_pcg32_seed(&g3, 1000u + k, 7u);
        cr_assert_eq(tg_forward_noising_sample(&g3, a, b, again, N, again), TG_OK);
        cr_assert(memcmp(again, want, sizeof want) == 0, "in place, a = %g, b = %g", a, b);
    }
}

/* h * sum_k p(mu + k h) over |k h| <= 12 sigma. For a Gaussian the trapezoid rule is
 * exact up to 2 exp(-2 pi^2 sigma^2 / h^2) (Poisson summation), nothing at sigma/h = 16,
 * and the cut at 12 sigma loses erfc(12/sqrt 2) < 1e-32; what remains is rounding. */
static double mass_1d(const tg_forward_noising *law, double mu, double h)
{
    const long K = (long)ceil(12.0 * law->b / h);
    double sum = 0.0;
    long k;
    for (k = -K; k <= K; k++) {
        const float y = (float)(mu + (double)k * h);
        double lp;
        cr_assert_eq((double)y, mu + (double)k * h, "grid point not a float");
        cr_assert_eq(tg_forward_noising_log_density(law, &y, &lp), TG_OK);
        sum += exp(lp);
    }
    return sum * h;
}

static double mass_2d(const tg_forward_noising *law, const double *mu, double h)
{
    const long K = (long)ceil(12.0 * law->b / h);
    double sum = 0.0;
    long i, j;
    for (i = -K; i <= K; i++) {
        double row = 0.0;
        for (j = -K; j <= K; j++) {
            const float y[2] = {(float)(mu[0] + (double)i * h), (float)(mu[1] + (double)j * h)};
            double lp;
            cr_assert_eq(tg_forward_noising_log_density(law, y, &lp), TG_OK);
            row += exp(lp);
        }
        sum += row;
    }
    return sum * h * h;
}

/* forwardNoising_univ: the law has mass one. Grids are chosen so that every point is
 * a float (the density takes float points), at sigma/h = 16. What remains is rounding
 * in the density (a few ulps per term) and in the sum: in R^1 at most 400 terms, worst
 * case 1e-13; in R^2 150000 terms, worst case 2e-11 but, rounding errors being of
 * random sign, typically sqrt(150000) 1e-16 = 4e-14. Tolerances 1e-13 and 1e-12;
 * measured |mass - 1| <= 9e-16 in every case. */
Test(prob, forwardNoising_univ)
{
    static const float x1[1] = {1.25f}, x2[2] = {1.25f, -0.5f}, zero1[1] = {0.0f};
    static const struct {
        double a, b;
        const float *x;
        double mu;
    } c1[] = {
        {0.5, 0.75, x1, 0.625},          /* everyday scale */
        {0.5, 0x1p-20, x1, 0.625},       /* -log b = 13.9 of normalisation */
        {1.0, 0x1p20, zero1, 0.0},       /* wide */
    };
    const double mu2[2] = {0.625, -0.25};
    tg_forward_noising law;
    size_t k;
    for (k = 0; k < sizeof c1 / sizeof *c1; k++) {
        double m;
        cr_assert_eq(tg_forward_noising_make(c1[k].a, c1[k].b, c1[k].x, 1, &law), TG_OK);
        m = mass_1d(&law, c1[k].mu, c1[k].b / 16.0);
        cr_assert(fabs(m - 1.0) < 1e-13, "R^1, b = %g: mass %.17g", c1[k].b, m);
    }
    cr_assert_eq(tg_forward_noising_make(0.5, 0.5, x2, 2, &law), TG_OK);
    {
        const double m = mass_2d(&law, mu2, 0.5 / 16.0);
        cr_assert(fabs(m - 1.0) < 1e-12, "R^2: mass %.17g", m);
    }
}

/* The log-density against the closed form in long double, and as the sum of the n
 * one-dimensional log-densities. Relative 1e-14: the library rounds a sum of n = 5
 * squares, one logarithm and a few products, each within 1.1e-16 relative. */
Test(prob, forwardNoising_log_density)
{
    enum { N = 5 };
    float x[N], y[N];
    double lp, sum1 = 0.0;
    long double q = 0.0L, want;
    const double a = -1.3, b = 0.7;
    tg_forward_noising law, one;
    tg_pcg32 g;
    size_t i;
    tg_pcg32_seed(&g, 21u, 22u);
    uniform_floats(&g, x, N, -2.0f, 2.0f);
    uniform_floats(&g, y, N, -2.0f, 2.0f);
    cr_assert_eq(tg_forward_noising_make(a, b, x, N, &law), TG_OK);
    cr_assert_eq(tg_forward_noising_log_density(&law, y, &lp), TG_OK);
    for (i = 0; i < N; i++) {
        const long double d = (long double)y[i] - (long double)a * x[i];
        double l1;
        q += d * d;
        cr_assert_eq(tg_forward_noising_make(a, b, x + i, 1, &one), TG_OK);
        cr_assert_eq(tg_forward_noising_log_density(&one, y + i, &l1), TG_OK);
        sum1 += l1;
    }
    want = -0.5L * N * logl(2.0L * (long double)PI) - N * logl((long double)b) -
           q / (2.0L * (long double)b * (long double)b);
    cr_assert(fabsl((long double)lp - want) <= 1e-14L * fabsl(want), "log p %.17g, want %.17Lg",
              lp, want);
    cr_assert(fabs(lp - sum1) <= 1e-14 * fabs(lp), "log p %.17g, sum of 1-d %.17g", lp, sum1);
}

/* Edge cases: a point mass has no density; a subnormal b at the mean gives a large but
 * finite log-density and -inf away from it (never NaN); R^0 has log-density 0. */
Test(prob, forwardNoising_log_density_edges)
{
    const float x[2] = {1.0f, -2.0f}, at_mean[2] = {1.0f, -2.0f}, off[2] = {1.0f, -1.5f};
    tg_forward_noising law;
    double lp;
    cr_assert_eq(tg_forward_noising_make(1.0, 0.0, x, 2, &law), TG_OK);
    cr_assert_eq(tg_forward_noising_log_density(&law, at_mean, &lp), TG_ERR_STATE);
    cr_assert(strstr(tg_last_error(), "point mass") != NULL, "%s", tg_last_error());
    cr_assert_eq(tg_forward_noising_make(1.0, 4.9e-324, x, 2, &law), TG_OK);
    cr_assert_eq(tg_forward_noising_log_density(&law, at_mean, &lp), TG_OK);
    /* -2 log(2^-1074) - log(2 pi) = 1487.1, within 8 ulps (2e-12) */
    cr_assert(fabs(lp - (2.0 * 1074.0 * log(2.0) - log(2.0 * PI))) < 2e-12, "%.17g", lp);
    cr_assert_eq(tg_forward_noising_log_density(&law, off, &lp), TG_OK);
    cr_assert(isinf(lp) && lp < 0.0, "%g", lp);
    cr_assert_eq(tg_forward_noising_make(1.0, 1.0, NULL, 0, &law), TG_OK);
    cr_assert_eq(tg_forward_noising_log_density(&law, NULL, &lp), TG_OK);
    cr_assert_eq(lp, 0.0);
}

/* forwardKernel_apply: the kernel applied to x is forwardNoising(a, b, x): the same
 * object, mean, covariance and draws. */
Test(prob, forwardKernel_apply)
{
    enum { N = 300 };
    float x[N], d1[N], d2[N];
    double m1[N], m2[N];
    size_t k, i;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 31u, 32u);
    uniform_floats(&g, x, N, -5.0f, 5.0f);
    for (k = 0; k < NCOEFS; k++) {
        tg_forward_kernel ker;
        tg_forward_noising applied, law;
        tg_pcg32 g1, g2;
        cr_assert_eq(tg_forward_kernel_make(coefs[k].a, coefs[k].b, &ker), TG_OK);
        cr_assert_eq(tg_forward_kernel_apply(ker, x, N, &applied), TG_OK);
        cr_assert_eq(tg_forward_noising_make(coefs[k].a, coefs[k].b, x, N, &law), TG_OK);
        cr_assert(applied.a == law.a && applied.b == law.b && applied.x == law.x &&
                  applied.n == law.n);
        cr_assert_eq(tg_forward_noising_mean(&applied, m1), TG_OK);
        cr_assert_eq(tg_forward_noising_mean(&law, m2), TG_OK);
        cr_assert(memcmp(m1, m2, sizeof m1) == 0);
        for (i = 0; i < N; i++)
            cr_assert_eq(m1[i], coefs[k].a * (double)x[i]);
        cr_assert_eq(tg_forward_noising_variance(&applied), coefs[k].b * coefs[k].b);
        cr_assert_eq(tg_forward_noising_variance(&applied), tg_forward_noising_variance(&law));
        tg_pcg32_seed(&g1, 40u + k, 41u);
        g2 = g1;
        cr_assert_eq(tg_forward_noising_draw(&applied, &g1, d1), TG_OK);
        cr_assert_eq(tg_forward_noising_sample(&g2, coefs[k].a, coefs[k].b, x, N, d2), TG_OK);
        cr_assert(memcmp(d1, d2, sizeof d1) == 0, "a = %g, b = %g", coefs[k].a, coefs[k].b);
    }
}

/* isGaussian_forwardKernel: M = 40000 draws of the kernel (0.8, 0.6) applied to x in
 * R^8. Standardized, (y - a x)/b, all 320000 coordinates pass KS against N(0, 1)
 * (alpha 1e-3); each coordinate's sample mean is within z = 4.42 standard errors
 * (b/sqrt(M)) of a*x_i, each sample variance within 4.42 sqrt(2/M) relative of b^2,
 * each sample correlation within 4.42/sqrt(M) of 0 (each two-sided 1e-5). False alarm
 * in all: below 1e-3 + 44e-5 = 1.5e-3. */
Test(prob, isGaussian_forwardKernel)
{
    enum { D = 8, M = 40000 };
    const double a = 0.8, b = 0.6;
    float x[D], y[D];
    double *z = xmalloc((size_t)D * M * sizeof *z);
    double s[D] = {0}, c[D][D] = {{0}};
    tg_forward_kernel ker;
    tg_forward_noising law;
    tg_pcg32 g;
    size_t m, i, j;
    tg_pcg32_seed(&g, 51u, 52u);
    uniform_floats(&g, x, D, -2.0f, 2.0f);
    cr_assert_eq(tg_forward_kernel_make(a, b, &ker), TG_OK);
    cr_assert_eq(tg_forward_kernel_apply(ker, x, D, &law), TG_OK);
    for (m = 0; m < M; m++) {
        cr_assert_eq(tg_forward_noising_draw(&law, &g, y), TG_OK);
        for (i = 0; i < D; i++) {
            z[m * D + i] = ((double)y[i] - a * (double)x[i]) / b;
            s[i] += z[m * D + i];
        }
    }
    for (i = 0; i < D; i++)
        s[i] /= M;
    for (m = 0; m < M; m++)
        for (i = 0; i < D; i++)
            for (j = 0; j <= i; j++)
                c[i][j] += (z[m * D + i] - s[i]) * (z[m * D + j] - s[j]);
    for (i = 0; i < D; i++) {
        cr_assert(fabs(s[i]) <= Z_1E5 / sqrt((double)M), "mean of coordinate %zu: a x + %g b",
                  i, s[i]);
        cr_assert(fabs(c[i][i] / (M - 1) - 1.0) <= Z_1E5 * sqrt(2.0 / M),
                  "variance of coordinate %zu: %g b^2", i, c[i][i] / (M - 1));
        for (j = 0; j < i; j++)
            cr_assert(fabs(c[i][j] / sqrt(c[i][i] * c[j][j])) <= Z_1E5 / sqrt((double)M),
                      "correlation (%zu, %zu): %g", i, j, c[i][j] / sqrt(c[i][i] * c[j][j]));
    }
    assert_ks(z, (size_t)D * M, std_normal_cdf, 0.0, "standardized kernel draws");
    free(z);
}

Test(prob, forwardKernel_make_and_errors)
{
    tg_forward_kernel k, k2;
    tg_forward_noising law;
    const float x[1] = {1.0f};
    float out[1];
    tg_pcg32 g;
    tg_pcg32_seed(&g, 1u, 2u);
    cr_assert_eq(tg_forward_kernel_make(0.5, -0.0, &k), TG_OK);
    cr_assert(k.b == 0.0 && !signbit(k.b), "b = -0 is stored as +0");
    cr_assert_eq(tg_forward_kernel_make(0.5, -1e-300, &k), TG_ERR_PARAM);
    cr_assert(strstr(tg_last_error(), "tg_forward_kernel_make") != NULL, "%s", tg_last_error());
    cr_assert_eq(tg_forward_kernel_make(NAN, 1.0, &k), TG_ERR_PARAM);
    cr_assert_eq(tg_forward_kernel_make(INFINITY, 1.0, &k), TG_ERR_PARAM);
    cr_assert_eq(tg_forward_kernel_make(1.0, INFINITY, &k), TG_ERR_PARAM);
    cr_assert_eq(tg_forward_kernel_make(1.0, NAN, &k), TG_ERR_PARAM);
    cr_assert_eq(tg_forward_kernel_make(1.0, 1.0, NULL), TG_ERR_NULL);
    /* the checks hold on every entry point that takes coefficients */
    cr_assert_eq(tg_forward_noising_make(1.0, -1.0, x, 1, &law), TG_ERR_PARAM);
    cr_assert(strstr(tg_last_error(), "tg_forward_noising_make") != NULL, "%s", tg_last_error());
    cr_assert_eq(tg_forward_noising_make(1.0, 1.0, NULL, 1, &law), TG_ERR_NULL);
    cr_assert_eq(tg_forward_noising_sample(&g, NAN, 1.0, x, 1, out), TG_ERR_PARAM);
    cr_assert_eq(tg_forward_noising_sample(NULL, 1.0, 1.0, x, 1, out), TG_ERR_NULL);
    cr_assert_eq(tg_forward_noising_map(1.0, -2.0, x, x, 1, out), TG_ERR_PARAM);
    k.a = 1.0;
    k.b = -1.0;   /* built by hand, bypassing make */
    cr_assert_eq(tg_forward_kernel_apply(k, x, 1, &law), TG_ERR_PARAM);
    cr_assert_eq(tg_forward_kernel_make(1.0, 1.0, &k2), TG_OK);
    cr_assert_eq(tg_forward_kernel_compose(k, k2, &k2), TG_ERR_PARAM);
    /* composition that overflows is refused, one that only gets small is fine */
    cr_assert_eq(tg_forward_kernel_make(1e200, 1e200, &k), TG_OK);
    cr_assert_eq(tg_forward_kernel_compose(k, k, &k2), TG_ERR_PARAM);
    cr_assert(strstr(tg_last_error(), "overflows") != NULL, "%s", tg_last_error());
    cr_assert_eq(tg_forward_kernel_make(1e-200, 1e-200, &k), TG_OK);
    cr_assert_eq(tg_forward_kernel_compose(k, k, &k2), TG_OK);
    cr_assert(k2.a == 0.0 && k2.b == 1e-200, "(%g, %g)", k2.a, k2.b);
    /* NaN data passes through by IEEE rules, as documented */
    {
        const float nan_x[1] = {NAN};
        cr_assert_eq(tg_forward_noising_sample(&g, 1.0, 1.0, nan_x, 1, out), TG_OK);
        cr_assert(isnan(out[0]));
    }
    cr_assert(isnan(tg_forward_noising_variance(NULL)));
}

/* ---- DDPM schedules -------------------------------------------------------------- */

/* The closed form in long double: abar_t = prod alpha_s, q = (sqrt abar, sqrt(1 - abar)).
 * The product's rounding, at most t 2^-64 < 6e-17 absolute for t <= 1000, moves
 * sqrt(1 - abar) by under 6e-17 / (2 sqrt(1e-4)) = 3e-15 even at the smallest 1 - abar
 * of the schedules tested (4e-5 .. 1e-4): far inside the 1e-12 being checked. */
static void closed_form(const double *beta, size_t t, long double *a, long double *b)
{
    long double abar = 1.0L;
    size_t s;
    for (s = 1; s <= t; s++)
        abar *= 1.0L - (long double)beta[s];
    *a = sqrtl(abar);
    *b = sqrtl(1.0L - abar);
}

static void check_composition(const tg_ddpm_schedule *s, const char *what)
{
    tg_forward_kernel acc = {1.0, 0.0}, step, q;
    size_t t;
    for (t = 1; t <= s->T; t++) {
        long double a, b;
        cr_assert_eq(tg_ddpm_step(s, t, &step), TG_OK);
        cr_assert_eq(tg_forward_kernel_compose(acc, step, &acc), TG_OK);
        cr_assert_eq(tg_ddpm_q(s, t, &q), TG_OK);
        closed_form(s->beta, t, &a, &b);
        /* the composed kernel, by hand and as stored, within 1e-12 of the closed form */
        cr_assert(fabsl(acc.a - a) < 1e-12L && fabsl(acc.b - b) < 1e-12L,
                  "%s t = %zu: composed (%.17g, %.17g), closed (%.17Lg, %.17Lg)", what, t,
                  acc.a, acc.b, a, b);
        cr_assert(fabsl(q.a - a) < 1e-12L && fabsl(q.b - b) < 1e-12L, "%s t = %zu: q", what, t);
        cr_assert(fabsl(s->abar[t] - a * a) < 1e-12L, "%s t = %zu: abar", what, t);
        cr_assert(s->alpha[t] == 1.0 - s->beta[t]);
    }
}

/* Draw x_t by t successive steps for P particles, and compare with the closed-form
 * q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I): KS of the standardized particles
 * (alpha 1e-3) and their mean and variance (1e-5 each), at four values of t. Float
 * rounding over 1000 steps moves a particle by under 1e-4 standard deviations. */
static void check_composed_draws(const tg_ddpm_schedule *s, const char *what)
{
    enum { P = 20000 };
    static const size_t check_at[] = {1, 10, 100, 1000};
    float *x = xmalloc(P * sizeof *x);
    double *z = xmalloc(P * sizeof *z);
    const float x0 = 1.5f;
    size_t t, i, next = 0;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 61u, 62u);
    for (i = 0; i < P; i++)
        x[i] = x0;
    for (t = 1; t <= s->T && next < sizeof check_at / sizeof *check_at; t++) {
        tg_forward_kernel step;
        cr_assert_eq(tg_ddpm_step(s, t, &step), TG_OK);
        cr_assert_eq(tg_forward_noising_sample(&g, step.a, step.b, x, P, x), TG_OK);
        if (t == check_at[next]) {
            long double a, b;
            closed_form(s->beta, t, &a, &b);
            for (i = 0; i < P; i++)
                z[i] = ((double)x[i] - (double)(a * x0)) / (double)b;
            assert_moments(z, P, 0.0, 1.0, what);
            assert_ks(z, P, std_normal_cdf, 0.0, what);
            next++;
        }
    }
    cr_assert_eq(next, sizeof check_at / sizeof *check_at);
    free(x);
    free(z);
}

/* forwardKernel_compose: composing the T step kernels of a schedule gives the
 * closed-form q(x_t | x_0), in coefficients and in draws. */
Test(prob, forwardKernel_compose)
{
    tg_ddpm_schedule lin, cos_s;
    tg_forward_kernel k1, k2, k;
    long double a, b;
    /* the rule itself, against long double */
    cr_assert_eq(tg_forward_kernel_make(0.9, 0.3, &k1), TG_OK);
    cr_assert_eq(tg_forward_kernel_make(-1.7, 2.2, &k2), TG_OK);
    cr_assert_eq(tg_forward_kernel_compose(k1, k2, &k), TG_OK);
    a = 0.9L * -1.7L;
    b = sqrtl(1.7L * 1.7L * 0.3L * 0.3L + 2.2L * 2.2L);
    cr_assert(fabsl(k.a - a) < 1e-15L && fabsl(k.b - b) < 1e-15L, "(%.17g, %.17g)", k.a, k.b);
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &lin), TG_OK);
    cr_assert_eq(tg_ddpm_schedule_cosine(1000, &cos_s), TG_OK);
    check_composition(&lin, "linear");
    check_composition(&cos_s, "cosine");
    check_composed_draws(&lin, "linear draws");
    check_composed_draws(&cos_s, "cosine draws");
    tg_ddpm_schedule_free(&lin);
    tg_ddpm_schedule_free(&cos_s);
}

Test(prob, ddpm_schedule_linear)
{
    tg_ddpm_schedule s;
    size_t t;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    cr_assert_eq(s.T, 1000);
    cr_assert(s.beta[0] == 0.0 && s.alpha[0] == 1.0 && s.abar[0] == 1.0);
    cr_assert(s.q[0].a == 1.0 && s.q[0].b == 0.0);
    cr_assert(s.beta[1] == 1e-4 && s.beta[1000] == 0.02, "the ends are exact");
    for (t = 1; t <= 1000; t++) {
        const long double want = 1e-4L + (long double)(t - 1) / 999.0L * (0.02L - 1e-4L);
        /* a linear interpolation: two products and a sum, a few ulps */
        cr_assert(fabsl(s.beta[t] - want) <= 4e-16L * want, "beta_%zu = %.17g", t, s.beta[t]);
        cr_assert(s.abar[t] < s.abar[t - 1]);
    }
    tg_ddpm_schedule_free(&s);
    cr_assert(s.beta == NULL && s.T == 0);
    tg_ddpm_schedule_free(&s);   /* twice is harmless */
    /* beta_1 + 1 * (beta_T - beta_1) is not beta_T for these two */
    cr_assert_eq(tg_ddpm_schedule_linear(7, 0.3, 0.9, &s), TG_OK);
    cr_assert(s.beta[1] == 0.3 && s.beta[7] == 0.9, "beta_T = %.17g", s.beta[7]);
    tg_ddpm_schedule_free(&s);
    cr_assert_eq(tg_ddpm_schedule_linear(1, 0.3, 0.3, &s), TG_OK);
    cr_assert(s.T == 1 && s.beta[1] == 0.3 && s.abar[1] == 0.7);
    tg_ddpm_schedule_free(&s);
}

/* Nichol & Dhariwal's betas, 1 - abar(t)/abar(t-1) clipped at 0.999, computed naively
 * in long double: it cancels for the small early betas by at most a factor 1e5 of
 * relative size, leaving 1e-19 * 1e5 = 1e-14. The library's angle form has no
 * cancellation; its largest error is in cos(theta) near pi/2, where theta's rounding
 * (1e-16 absolute) over cos(theta) of about one angle step (4e-4 at T = 4000) gives
 * 3e-13 relative (measured: 2.4e-13). A naive 1 - ratio in double is off by 5e-12
 * at T = 1000 and 1.6e-11 at T = 4000. */
Test(prob, ddpm_schedule_cosine)
{
    tu_require_extended_long_double();
    static const size_t Ts[] = {1, 2, 10, 1000, 4000};
    size_t k, t;
    for (k = 0; k < sizeof Ts / sizeof *Ts; k++) {
        const size_t T = Ts[k];
        tg_ddpm_schedule s;
        long double abar = 1.0L;
        cr_assert_eq(tg_ddpm_schedule_cosine(T, &s), TG_OK);
        for (t = 1; t <= T; t++) {
            const long double s_off = 0.008L, hp = (long double)PI / 2.0L;
            const long double c1 = cosl(((long double)t / T + s_off) / (1.0L + s_off) * hp);
            const long double c0 = cosl(((long double)(t - 1) / T + s_off) / (1.0L + s_off) * hp);
            long double beta = 1.0L - (c1 * c1) / (c0 * c0);
            if (beta > 0.999L)
                beta = 0.999L;
            abar *= 1.0L - (long double)s.beta[t];
            cr_assert(fabsl(s.beta[t] - beta) <= 1e-12L * beta, "T = %zu: beta_%zu = %.17g, "
                      "want %.17Lg", T, t, s.beta[t], beta);
            cr_assert(fabsl(s.abar[t] - abar) <= 1e-12L * abar, "T = %zu: abar_%zu", T, t);
        }
        cr_assert_eq(s.beta[T], 0.999, "T = %zu: the last beta is clipped", T);
        tg_ddpm_schedule_free(&s);
    }
}

Test(prob, ddpm_schedule_errors)
{
    static const double bad[] = {0.0, -0.1, 1.0, 1.5, NAN, INFINITY, -INFINITY};
    double betas[4] = {0.1, 0.2, 0.3, 0.4};
    tg_ddpm_schedule s;
    tg_forward_kernel k;
    tg_ddpm_posterior_coef pc;
    size_t i;
    cr_assert_eq(tg_ddpm_schedule_linear(0, 1e-4, 0.02, &s), TG_ERR_PARAM);
    cr_assert(s.beta == NULL && s.T == 0, "a failed constructor leaves a zero schedule");
    cr_assert_eq(tg_ddpm_schedule_cosine(0, &s), TG_ERR_PARAM);
    cr_assert_eq(tg_ddpm_schedule_from_betas(0, betas, &s), TG_ERR_PARAM);
    cr_assert_eq(tg_ddpm_schedule_linear(1, 0.1, 0.2, &s), TG_ERR_PARAM);
    cr_assert_eq(tg_ddpm_schedule_linear(10, 0.1, 0.2, NULL), TG_ERR_NULL);
    cr_assert_eq(tg_ddpm_schedule_from_betas(4, NULL, &s), TG_ERR_NULL);
    cr_assert_eq(tg_ddpm_schedule_cosine((size_t)-1, &s), TG_ERR_SIZE);
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        cr_assert_eq(tg_ddpm_schedule_linear(10, bad[i], 0.02, &s), TG_ERR_PARAM, "%g", bad[i]);
        cr_assert_eq(tg_ddpm_schedule_linear(10, 1e-4, bad[i], &s), TG_ERR_PARAM, "%g", bad[i]);
        betas[2] = bad[i];
        cr_assert_eq(tg_ddpm_schedule_from_betas(4, betas, &s), TG_ERR_PARAM, "%g", bad[i]);
        cr_assert(strstr(tg_last_error(), "beta_3") != NULL, "names the step: %s",
                  tg_last_error());
        cr_assert(s.beta == NULL);
    }
    betas[2] = 0.3;
    cr_assert_eq(tg_ddpm_schedule_from_betas(4, betas, &s), TG_OK);
    cr_assert_eq(tg_ddpm_step(&s, 0, &k), TG_ERR_PARAM);
    cr_assert_eq(tg_ddpm_step(&s, 5, &k), TG_ERR_PARAM);
    cr_assert(strstr(tg_last_error(), "t = 5") != NULL, "%s", tg_last_error());
    cr_assert_eq(tg_ddpm_q(&s, 5, &k), TG_ERR_PARAM);
    cr_assert_eq(tg_ddpm_q(&s, 0, &k), TG_OK);
    cr_assert(k.a == 1.0 && k.b == 0.0);
    cr_assert_eq(tg_ddpm_posterior(&s, 0, &pc), TG_ERR_PARAM);
    cr_assert_eq(tg_ddpm_posterior(&s, 4, NULL), TG_ERR_NULL);
    tg_ddpm_schedule_free(&s);
    cr_assert_eq(tg_ddpm_q(&s, 0, &k), TG_ERR_STATE);
}

static void *refuse(size_t size, void *ctx)
{
    (void)size;
    (void)ctx;
    return NULL;
}

static void release(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

Test(prob, ddpm_schedule_nomem)
{
    const tg_allocator none = {refuse, release, NULL};
    tg_ddpm_schedule s;
    tg_set_allocator(&none);
    cr_assert_eq(tg_ddpm_schedule_cosine(100, &s), TG_ERR_NOMEM);
    cr_assert(s.beta == NULL && s.T == 0);
    cr_assert_eq(tg_ddpm_schedule_linear(100, 1e-4, 0.02, &s), TG_ERR_NOMEM);
    tg_set_allocator(NULL);
}

/* The posterior q(x_{t-1} | x_t, x_0) by Bayes' rule in long double, independently
 * of the library's formulas: prior x_{t-1} ~ N(m, v), m = sqrt(abar_{t-1}) x_0,
 * v = 1 - abar_{t-1}; likelihood x_t ~ N(sqrt(alpha_t) x_{t-1}, beta_t). Posterior
 * precision 1/v + alpha_t/beta_t, mean (m/v + sqrt(alpha_t) x_t / beta_t) / precision.
 * At t = 1 the prior is the point x_0. Relative 1e-13: the coefficients are a few
 * products and quotients of quantities each within a few ulps (1 - abar comes from the
 * composed kernels; measured worst error 3e-15), while 1 - abar_t taken by subtraction
 * would be off by 1e-16 / beta_1 = 1e-12 at t = 1. Also checks that the epsilon form
 * gives the same mean. */
Test(prob, ddpm_posterior)
{
    tu_require_extended_long_double();
    tg_ddpm_schedule s;
    size_t t;
    cr_assert_eq(tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s), TG_OK);
    for (t = 1; t <= 1000; t++) {
        tg_ddpm_posterior_coef pc;
        long double ap, bp, an, bn, c0, ct, var;
        const long double alpha = 1.0L - (long double)s.beta[t], beta = s.beta[t];
        cr_assert_eq(tg_ddpm_posterior(&s, t, &pc), TG_OK);
        closed_form(s.beta, t - 1, &ap, &bp);
        closed_form(s.beta, t, &an, &bn);
        if (t == 1) {
            c0 = 1.0L;
            ct = 0.0L;
            var = 0.0L;
        } else {
            const long double v = bp * bp, prec = 1.0L / v + alpha / beta;
            c0 = ap / v / prec;
            ct = sqrtl(alpha) / beta / prec;
            var = 1.0L / prec;
        }
        cr_assert(fabsl(pc.coef_x0 - c0) <= 1e-13L * fabsl(c0), "t = %zu: coef_x0 %.17g, "
                  "want %.17Lg", t, pc.coef_x0, c0);
        cr_assert(fabsl(pc.coef_xt - ct) <= 1e-13L * fabsl(ct), "t = %zu: coef_xt", t);
        cr_assert(fabsl(pc.variance - var) <= 1e-13L * var, "t = %zu: variance", t);
        {
            /* x_t = an x0 + bn eps; both forms of the mean must agree */
            const long double x0 = 0.7L, eps = -1.3L, xt = an * x0 + bn * eps;
            const long double m0 = pc.coef_x0 * x0 + pc.coef_xt * xt;
            const long double me = pc.inv_sqrt_alpha * (xt - pc.eps_coef * eps);
            cr_assert(fabsl(m0 - me) <= 1e-13L * (fabsl(m0) + 1.0L), "t = %zu: %.17Lg vs "
                      "%.17Lg", t, m0, me);
        }
    }
    tg_ddpm_schedule_free(&s);
}
