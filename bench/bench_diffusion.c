/* The sampling pieces of tapegrad/diffusion.h against the plain float loops a user would
 * write, measured in the same run:
 *   - tg_energy_distance on two samples of 2000 points in 2-D (the brief: well under a
 *     second), against the same pairs summed in float with sqrtf;
 *   - a DDPM step and a deterministic DDIM step on 256 points in 2-D (512 values), against
 *     the float loop x' = cx x + ce eps (+ sigma z) with tg_normal_fill for the noise.
 *
 *     bench_diffusion [repetitions]       (default 21)
 *
 * Repetitions alternate between ours and the reference; the table gives medians, min and
 * max over repetitions. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <tapegrad.h>
#include "timing.h"

#define MAX_REPS 1001
#define POINTS 2000
#define BATCH 512      /* 256 points in 2-D */
#define STEPS 1000     /* steps per timed repetition */

static volatile double sink;

/* the float loop: one float accumulator per row, then a float total */
static double energy_float(const float *x, size_t n, const float *y, size_t m)
{
    const float *a[3] = {x, x, y}, *b[3] = {y, x, y};
    const size_t na[3] = {n, n, m}, nb[3] = {m, n, m};
    double mean[3];
    size_t k, i, j;
    for (k = 0; k < 3; k++) {
        float total = 0.0f;
        for (i = 0; i < na[k]; i++) {
            float row = 0.0f;
            for (j = 0; j < nb[k]; j++) {
                const float d0 = a[k][2 * i] - b[k][2 * j], d1 = a[k][2 * i + 1] - b[k][2 * j + 1];
                row += sqrtf(d0 * d0 + d1 * d1);
            }
            total += row;
        }
        mean[k] = total / ((float)na[k] * (float)nb[k]);
    }
    return 2.0 * mean[0] - mean[1] - mean[2];
}

static void float_step(float cx, float ce, float sigma, const float *x, const float *e,
                       tg_pcg32 *rng, float *z, float *out)
{
    size_t i;
    if (rng)
        tg_normal_fill(rng, z, BATCH);
    for (i = 0; i < BATCH; i++)
        out[i] = cx * x[i] + ce * e[i] + (rng ? sigma * z[i] : 0.0f);
}

static void report(const char *name, const char *unit, double *v, size_t reps)
{
    bench_sort(v, reps);
    printf("%-34s %10.3f %10.3f %10.3f  %s\n", name, v[reps / 2], v[0], v[reps - 1], unit);
}

int main(int argc, char **argv)
{
    static float x[POINTS * 2], y[POINTS * 2], xt[BATCH], e[BATCH], z[BATCH], out[BATCH];
    static double t_ed[MAX_REPS], t_edf[MAX_REPS], t_ddpm[MAX_REPS], t_ddpmf[MAX_REPS],
        t_ddim[MAX_REPS], t_ddimf[MAX_REPS];
    const long r = argc > 1 ? strtol(argv[1], NULL, 10) : 21;
    tg_ddpm_schedule s;
    tg_ddpm_posterior_coef pc;
    tg_ddim_coef dc;
    tg_pcg32 g;
    size_t rep, k;
    double d = 0.0, df = 0.0;

    if (r < 1 || r > MAX_REPS) {
        fprintf(stderr, "usage: bench_diffusion [repetitions, 1..%d]\n", MAX_REPS);
        return 2;
    }
    tg_pcg32_seed(&g, 2024, 9);
    tg_normal_fill(&g, x, POINTS * 2);
    tg_normal_fill(&g, y, POINTS * 2);
    tg_normal_fill(&g, xt, BATCH);
    tg_normal_fill(&g, e, BATCH);
    if (tg_ddpm_schedule_linear(1000, 1e-4, 0.02, &s) != TG_OK) {
        fprintf(stderr, "%s\n", tg_last_error());
        return 1;
    }
    tg_ddpm_posterior(&s, 500, &pc);
    tg_ddim_coefs(&s, 500, 480, 0.0, &dc);
    for (rep = 0; rep < (size_t)r; rep++) {
        double t0 = bench_now_ns();
        tg_energy_distance(x, POINTS, y, POINTS, 2, &d);
        t_ed[rep] = (bench_now_ns() - t0) * 1e-6;
        t0 = bench_now_ns();
        df = energy_float(x, POINTS, y, POINTS);
        t_edf[rep] = (bench_now_ns() - t0) * 1e-6;

        t0 = bench_now_ns();
        for (k = 0; k < STEPS; k++)
            tg_ddpm_sample_step(&s, 500, TG_DDPM_SIGMA_POSTERIOR, xt, e, BATCH, &g, out);
        t_ddpm[rep] = (bench_now_ns() - t0) / (STEPS * BATCH);
        t0 = bench_now_ns();
        for (k = 0; k < STEPS; k++)
            float_step((float)pc.inv_sqrt_alpha, (float)(-pc.inv_sqrt_alpha * pc.eps_coef),
                       (float)sqrt(pc.variance), xt, e, &g, z, out);
        t_ddpmf[rep] = (bench_now_ns() - t0) / (STEPS * BATCH);

        t0 = bench_now_ns();
        for (k = 0; k < STEPS; k++)
            tg_ddim_sample_step(&s, 500, 480, 0.0, xt, e, BATCH, NULL, out);
        t_ddim[rep] = (bench_now_ns() - t0) / (STEPS * BATCH);
        t0 = bench_now_ns();
        for (k = 0; k < STEPS; k++)
            float_step((float)dc.coef_xt, (float)dc.coef_eps, 0.0f, xt, e, NULL, z, out);
        t_ddimf[rep] = (bench_now_ns() - t0) / (STEPS * BATCH);
        sink += out[0];
    }
    printf("%ld repetitions; D = %.6g (float loop: %.6g)\n", r, d, df);
    printf("%-34s %10s %10s %10s\n", "", "median", "min", "max");
    report("tg_energy_distance 2000 x 2000, 2-D", "ms", t_ed, (size_t)r);
    report("  float loop, sqrtf", "ms", t_edf, (size_t)r);
    report("tg_ddpm_sample_step, 512 values", "ns per value", t_ddpm, (size_t)r);
    report("  float loop + tg_normal_fill", "ns per value", t_ddpmf, (size_t)r);
    report("tg_ddim_sample_step eta 0, 512", "ns per value", t_ddim, (size_t)r);
    report("  float loop", "ns per value", t_ddimf, (size_t)r);
    tg_ddpm_schedule_free(&s);
    return 0;
}
