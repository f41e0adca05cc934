/* The energy distance (V-statistic) of tapegrad/diffusion.h: exact values where they are
 * known, the 1-D identity D = 2 int (F - G)^2, a long double pairwise reference, its
 * expected value over two samples of one law (the floor), and the errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#define U53 0x1p-53
#define HAS(msg) (strstr(tg_last_error(), (msg)) != NULL)

/* mean over all ordered pairs of |x_i - y_j|, in long double, the obvious way */
static long double mean_pair(const float *x, size_t n, const float *y, size_t m, size_t dim)
{
    long double total = 0.0L;
    size_t i, j, k;
    for (i = 0; i < n; i++)
        for (j = 0; j < m; j++) {
            long double d2 = 0.0L;
            for (k = 0; k < dim; k++) {
                const long double d = (long double)x[i * dim + k] - (long double)y[j * dim + k];
                d2 += d * d;
            }
            total += sqrtl(d2);
        }
    return total / ((long double)n * (long double)m);
}

/* The rounding bound of the library's sums: a mean over p x q pairs adds q terms per row,
 * then p rows, each term within dim + 2 roundings of exact (the differences of floats are
 * exact; the squares, their sum and the root are rounded). Higham's gamma_K over the
 * longest chain of the three means, K = 2 max(n, m) + dim + 4, bounds each mean's error
 * by gamma_K times the mean (all terms are >= 0), and D's by gamma_K (2 A + B + C), which
 * also covers the last three operations. Doubled for the reference's own rounding where
 * long double is no wider than double (under valgrind). */
static double rounding_bound(long double a, long double b, long double c, size_t n, size_t m,
                             size_t dim)
{
    const size_t len = (n > m ? n : m) * 2 + dim + 4;
    return 2.0 * tu_gamma(len, U53) * (double)(2.0L * a + b + c);
}

static void normals(tg_pcg32 *g, float *x, size_t n, float mean, float scale)
{
    size_t i;
    cr_assert_eq(tg_normal_fill(g, x, n), TG_OK);
    for (i = 0; i < n; i++)
        x[i] = mean + scale * x[i];
}

/* Identical samples give exactly 0: the three means run the same loop over the same
 * numbers, so 2a - a - a = 0 with no rounding. Also when x and y are one array. */
Test(energy, energy_distance_identical_samples_zero)
{
    enum { N = 333, DIM = 3 };
    static float x[N * DIM], y[N * DIM];
    double d = -1.0;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 1u, 2u);
    normals(&g, x, N * DIM, 0.5f, 2.0f);
    memcpy(y, x, sizeof x);
    cr_assert_eq(tg_energy_distance(x, N, y, N, DIM, &d), TG_OK);
    cr_assert(d == 0.0 && !signbit(d), "%.17g", d);
    cr_assert_eq(tg_energy_distance(x, N, x, N, DIM, &d), TG_OK);
    cr_assert(d == 0.0, "%.17g", d);
}

/* Two point masses r = 5 apart ((0,0) and (3,4)): E|X - Y| = 5, E|X - X'| = E|Y - Y'| = 0,
 * so D = 2 r = 10, exactly (every sum is of small integers). Unequal sizes. */
Test(energy, energy_distance_point_masses)
{
    enum { N = 3, M = 7 };
    float x[N * 2], y[M * 2];
    double d;
    size_t i;
    for (i = 0; i < N; i++)
        x[2 * i] = x[2 * i + 1] = 0.0f;
    for (i = 0; i < M; i++) {
        y[2 * i] = 3.0f;
        y[2 * i + 1] = 4.0f;
    }
    cr_assert_eq(tg_energy_distance(x, N, y, M, 2, &d), TG_OK);
    cr_assert(d == 10.0, "%.17g", d);
    /* one point each, 1-D, r = 0.25: D = 0.5 */
    cr_assert_eq(tg_energy_distance(&x[0], 1, (const float[]){0.25f}, 1, 1, &d), TG_OK);
    cr_assert(d == 0.5, "%.17g", d);
}

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* In 1-D the energy distance of two empirical laws is 2 int (F_n(t) - G_m(t))^2 dt
 * (Szekely & Rizzo 2013, eq. 2.2 with the Cramer distance): a formula with no pairs and no
 * square roots, computed here by merging the sorted samples, in long double. The samples
 * differ in mean, spread and size (and have ties within y). Tolerance: rounding_bound. */
Test(energy, energy_distance_1d_cdf_formula)
{
    enum { N = 300, M = 211 };
    float x[N], y[M], xs[N], ys[M];
    long double integral = 0.0L, prev;
    size_t i = 0, j = 0;
    double d;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 41u, 42u);
    normals(&g, x, N, 0.0f, 1.0f);
    normals(&g, y, M, 0.5f, 1.5f);
    y[10] = y[11] = y[12];
    memcpy(xs, x, sizeof x);
    memcpy(ys, y, sizeof y);
    qsort(xs, N, sizeof *xs, cmp_float);
    qsort(ys, M, sizeof *ys, cmp_float);
    /* F - G is constant between consecutive points of the merged sample */
    prev = xs[0] < ys[0] ? xs[0] : ys[0];
    while (i < N || j < M) {
        const long double next = j >= M || (i < N && xs[i] <= ys[j]) ? xs[i] : ys[j];
        const long double diff = (long double)i / N - (long double)j / M;
        integral += diff * diff * (next - prev);
        prev = next;
        while (i < N && xs[i] == next)
            i++;
        while (j < M && ys[j] == next)
            j++;
    }
    cr_assert_eq(tg_energy_distance(x, N, y, M, 1, &d), TG_OK);
    {
        const long double want = 2.0L * integral;
        const double tol = rounding_bound(mean_pair(x, N, y, M, 1), mean_pair(x, N, x, N, 1),
                                          mean_pair(y, M, y, M, 1), N, M, 1);
        cr_assert(fabsl(d - want) <= tol, "D = %.17g, 2 int (F - G)^2 = %.17Lg, tolerance "
                  "%.3g", d, want, tol);
        cr_assert(want > 0.05L, "the samples do differ: %.6Lg", want);
    }
}

/* In 3-D against the definition over all pairs in long double, and D(x, y) = D(y, x),
 * both within rounding_bound; D > 0 for different samples. */
Test(energy, energy_distance_matches_pairwise_reference)
{
    enum { N = 123, M = 77, DIM = 3 };
    static float x[N * DIM], y[M * DIM];
    double dxy, dyx;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 51u, 52u);
    normals(&g, x, N * DIM, 0.0f, 1.0f);
    normals(&g, y, M * DIM, 0.2f, 0.8f);
    cr_assert_eq(tg_energy_distance(x, N, y, M, DIM, &dxy), TG_OK);
    cr_assert_eq(tg_energy_distance(y, M, x, N, DIM, &dyx), TG_OK);
    {
        const long double a = mean_pair(x, N, y, M, DIM), b = mean_pair(x, N, x, N, DIM),
                          c = mean_pair(y, M, y, M, DIM);
        const long double want = 2.0L * a - b - c;
        const double tol = rounding_bound(a, b, c, N, M, DIM);
        cr_assert(fabsl(dxy - want) <= tol, "D = %.17g, want %.17Lg, tolerance %.3g", dxy,
                  want, tol);
        cr_assert(fabs(dxy - dyx) <= 2.0 * tol, "D(x,y) = %.17g, D(y,x) = %.17g", dxy, dyx);
        cr_assert(dxy > 0.0);
    }
}

/* The floor. For independent samples of sizes n and m from one law, the V-statistic has
 * expectation E|X - X'| (1/n + 1/m) exactly (the i = j pairs contribute 0 to the n^2 and
 * m^2 means); for the 2-D standard normal E|X - X'| = E|N(0, 2 I)| = sqrt(2) sqrt(pi/2)
 * = sqrt(pi). The mean of R = 200 replicates must be within 5 standard errors, the
 * standard error estimated from the replicates themselves (false alarm about 1e-6 for a
 * normal mean; D is skewed, but its mean over 200 is close to normal). */
Test(energy, energy_distance_same_law_mean_is_floor)
{
    enum { N = 100, M = 60, R = 200 };
    static float x[N * 2], y[M * 2];
    const double want = sqrt(3.14159265358979323846) * (1.0 / N + 1.0 / M);
    double sum = 0.0, sum2 = 0.0, mean, se;
    size_t r;
    tg_pcg32 g;
    tg_pcg32_seed(&g, 61u, 62u);
    for (r = 0; r < R; r++) {
        double d;
        normals(&g, x, N * 2, 0.0f, 1.0f);
        normals(&g, y, M * 2, 0.0f, 1.0f);
        cr_assert_eq(tg_energy_distance(x, N, y, M, 2, &d), TG_OK);
        cr_assert(d >= 0.0, "%.17g", d);
        sum += d;
        sum2 += d * d;
    }
    mean = sum / R;
    se = sqrt((sum2 / R - mean * mean) / (R - 1));
    cr_assert(fabs(mean - want) <= 5.0 * se, "mean D = %.6g, floor %.6g, standard error %.3g",
              mean, want, se);
}

Test(energy, energy_distance_errors)
{
    float x[6] = {0, 1, 2, 3, 4, 5}, y[6] = {0, 1, 2, 3, 4, 5};
    double d = 7.0;
    cr_assert_eq(tg_energy_distance(NULL, 3, y, 3, 2, &d), TG_ERR_NULL);
    cr_assert(HAS("tg_energy_distance") && HAS("x is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_energy_distance(x, 3, NULL, 3, 2, &d), TG_ERR_NULL);
    cr_assert(HAS("y is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_energy_distance(x, 3, y, 3, 2, NULL), TG_ERR_NULL);
    cr_assert(HAS("out is NULL"), "%s", tg_last_error());
    cr_assert_eq(tg_energy_distance(x, 0, y, 3, 2, &d), TG_ERR_SIZE);
    cr_assert(HAS("x has no points ([0,2])"), "%s", tg_last_error());
    cr_assert_eq(tg_energy_distance(x, 3, y, 0, 2, &d), TG_ERR_SIZE);
    cr_assert(HAS("y has no points"), "%s", tg_last_error());
    cr_assert_eq(tg_energy_distance(x, 3, y, 3, 0, &d), TG_ERR_SIZE);
    cr_assert(HAS("dim = 0"), "%s", tg_last_error());
    cr_assert_eq(tg_energy_distance(x, (size_t)-1 / 2, y, 3, 4, &d), TG_ERR_SIZE);
    cr_assert(HAS("overflows"), "%s", tg_last_error());
    y[5] = NAN;
    cr_assert_eq(tg_energy_distance(x, 3, y, 3, 2, &d), TG_ERR_DOMAIN);
    cr_assert(HAS("y[2][1] = nan is not finite (y is [3,2])"), "%s", tg_last_error());
    x[2] = -INFINITY;
    cr_assert_eq(tg_energy_distance(x, 3, y, 3, 2, &d), TG_ERR_DOMAIN);
    cr_assert(HAS("x[1][0] = -inf"), "%s", tg_last_error());
    cr_assert(d == 7.0, "a refused call leaves out alone");
}
