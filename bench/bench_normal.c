/* ns per standard normal draw: tg_normal_fill (ziggurat) against a straightforward
 * Box-Muller with libm on the same PCG32 stream, measured in the same run.
 *
 *     bench_normal [repetitions]       (default 31)
 *
 * Each repetition times about 2^20 draws made in calls of n values, for a small n (a
 * diffusion batch of 128 2-D points) and a large one; the table gives the median over
 * repetitions, with the min and max to show the noise. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <tapegrad.h>
#include "timing.h"

#define TWO_PI 6.283185307179586476925
#define MAX_N ((size_t)1 << 16)
#define DRAWS_PER_REP ((size_t)1 << 20)
#define MAX_REPS 1001

typedef void (*fill_fn)(tg_pcg32 *rng, void *out, size_t n);

static volatile double sink;   /* keeps the compiler from dropping the draws */

static void zig_float(tg_pcg32 *rng, void *out, size_t n)
{
    tg_normal_fill(rng, out, n);
}

static void zig_double(tg_pcg32 *rng, void *out, size_t n)
{
    tg_normal_fill_double(rng, out, n);
}

/* Box-Muller as a user would write it: a uniform in (0, 1] for the logarithm, one in
 * [0, 1) for the angle, both values of each pair used; an odd n drops the spare. */
static void bm_float(tg_pcg32 *rng, void *out, size_t n)
{
    float *z = out;
    size_t i;
    for (i = 0; i < n; i += 2) {
        const float u1 = (float)((tg_pcg32_next(rng) >> 8) + 1) * 0x1p-24f;
        const float u2 = (float)(tg_pcg32_next(rng) >> 8) * 0x1p-24f;
        const float r = sqrtf(-2.0f * logf(u1));
        const float t = (float)TWO_PI * u2;
        z[i] = r * cosf(t);
        if (i + 1 < n)
            z[i + 1] = r * sinf(t);
    }
}

static void bm_double(tg_pcg32 *rng, void *out, size_t n)
{
    double *z = out;
    size_t i;
    for (i = 0; i < n; i += 2) {
        const double u1 = 1.0 - tg_pcg32_double(rng);
        const double u2 = tg_pcg32_double(rng);
        const double r = sqrt(-2.0 * log(u1));
        const double t = TWO_PI * u2;
        z[i] = r * cos(t);
        if (i + 1 < n)
            z[i + 1] = r * sin(t);
    }
}

/* ns per draw of one repetition: about DRAWS_PER_REP draws in calls of n. */
static double time_rep(fill_fn f, tg_pcg32 *rng, void *buf, size_t n)
{
    const size_t calls = DRAWS_PER_REP / n;
    const double t0 = bench_now_ns();
    size_t c;
    for (c = 0; c < calls; c++)
        f(rng, buf, n);
    sink += ((const unsigned char *)buf)[0];
    return (bench_now_ns() - t0) / (double)(calls * n);
}

/* Repetitions alternate between the method and its reference, so that a change of load
 * on a shared machine hits both; each of the three arrays comes back sorted, ratio
 * holding reference time / method time per repetition. */
static void measure(fill_fn f, fill_fn ref, size_t n, void *buf, size_t reps, double *ns,
                    double *ref_ns, double *ratio)
{
    tg_pcg32 a, b;
    size_t r;
    tg_pcg32_seed(&a, 2024, 7);
    b = a;   /* the same stream for both */
    f(&a, buf, n);   /* warm the caches and the buffer's pages */
    ref(&b, buf, n);
    for (r = 0; r < reps; r++) {
        ns[r] = time_rep(f, &a, buf, n);
        ref_ns[r] = time_rep(ref, &b, buf, n);
        ratio[r] = ref_ns[r] / ns[r];
    }
    bench_sort(ns, reps);
    bench_sort(ref_ns, reps);
    bench_sort(ratio, reps);
}

/* median, min and max of sorted ns */
static void report(const char *name, size_t n, const double *ns, size_t reps)
{
    printf("%-26s %6zu %8.2f %8.2f %8.2f", name, n, ns[reps / 2], ns[0], ns[reps - 1]);
}

int main(int argc, char **argv)
{
    /* each of ours next to its Box-Muller reference, of the same precision */
    static const struct {
        const char *name, *ref_name;
        fill_fn f, ref;
    } pair[] = {
        {"tg_normal_fill", "Box-Muller float (libm)", zig_float, bm_float},
        {"tg_normal_fill_double", "Box-Muller double (libm)", zig_double, bm_double},
    };
    static const size_t sizes[] = {256, MAX_N};
    static double ns[MAX_REPS], ref_ns[MAX_REPS], ratio[MAX_REPS];
    const long r = argc > 1 ? strtol(argv[1], NULL, 10) : 31;
    double *buf = malloc(MAX_N * sizeof *buf);
    size_t s, k;

    if (!buf || r < 1 || r > MAX_REPS) {
        fprintf(stderr, "usage: bench_normal [repetitions, 1..%d]\n", MAX_REPS);
        free(buf);
        return 2;
    }
    printf("%ld repetitions of %zu draws; BM/this is the median of the per-repetition "
           "ratios\n", r, (size_t)DRAWS_PER_REP);
    printf("%-26s %6s %8s %8s %8s %9s\n", "ns per draw", "n", "median", "min", "max",
           "BM/this");
    for (s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        for (k = 0; k < sizeof pair / sizeof *pair; k++) {
            const size_t reps = (size_t)r, n = sizes[s];
            measure(pair[k].f, pair[k].ref, n, buf, reps, ns, ref_ns, ratio);
            report(pair[k].name, n, ns, reps);
            printf(" %7.2fx\n", ratio[reps / 2]);
            report(pair[k].ref_name, n, ref_ns, reps);
            printf("\n");
        }
    }
    free(buf);
    return 0;
}
