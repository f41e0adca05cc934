/* Timing helpers shared by the benchmarks: a monotonic clock and sorting of samples,
 * so that every benchmark reports medians the same way. */
#ifndef TAPEGRAD_BENCH_TIMING_H
#define TAPEGRAD_BENCH_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double bench_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static inline int bench_cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts v in place, so that v[n / 2] is the median, v[0] the min, v[n - 1] the max. */
static inline void bench_sort(double *v, size_t n)
{
    qsort(v, n, sizeof *v, bench_cmp_double);
}

#endif
