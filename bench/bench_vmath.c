/* The vector activation kernels alone (src/kernels/vmath.h), without the tape: ns per
 * element of the value kernel, of the fused backward (gx += gy * f'(x)) and of the
 * one-pass value and derivative (_both, what a rule's forward runs when a gradient will
 * be wanted) for each instruction set this CPU runs, on 4096 inputs in [-4, 4)
 * (bench_rules' inputs), and of the per-element loops the rules ran before, the double
 * local functions rounded to float. Medians over repetitions, all measured in the same run.
 *
 *     bench_vmath [repetitions]       (default 21) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <tapegrad.h>
#include "timing.h"
#include "../src/kernels/vmath.h"

enum { N = 4096, CALLS = 8, MAX_REPS = 1001 };

static float x[N], y[N], gy[N], gx[N], d[N];
static volatile float sink;

typedef struct {
    const char *name;
    tg__vm_map_isa_fn map;
    tg__vm_grad_isa_fn grad;
    tg__vm_both_isa_fn both;
    double (*local)(double x, double p); /* what the rules used to round, value */
    double (*dlocal)(double x, double p); /* and derivative */
    float p;
} kernel;

static double l_tanh(double v, double p) { (void)p; return tg_local_tanh(v); }
static double l_sigmoid(double v, double p) { (void)p; return tg_local_sigmoid(v); }
static double l_softplus(double v, double p) { (void)p; return tg_local_softplus(v); }
static double l_silu(double v, double p) { (void)p; return tg_local_silu(v); }
static double l_gelu(double v, double p) { (void)p; return tg_local_gelu(v); }
static double l_gelu_erf(double v, double p) { (void)p; return tg_local_gelu_erf(v); }
static double l_elu(double v, double p) { return tg_local_elu(v, p); }
static double l_safe_log(double v, double p) { return tg_local_safe_log(v, p); }
static double l_smooth_abs(double v, double p) { return tg_local_smooth_abs(v, p); }
static double d_tanh(double v, double p) { (void)p; return tg_local_tanh_deriv(v, NULL); }
static double d_sigmoid(double v, double p) { (void)p; return tg_local_sigmoid_deriv(v, NULL); }
static double d_softplus(double v, double p) { (void)p; return tg_local_softplus_deriv(v, NULL); }
static double d_silu(double v, double p) { (void)p; return tg_local_silu_deriv(v, NULL); }
static double d_gelu(double v, double p) { (void)p; return tg_local_gelu_deriv(v, NULL); }
static double d_gelu_erf(double v, double p) { (void)p; return tg_local_gelu_erf_deriv(v, NULL); }
static double d_elu(double v, double p) { return tg_local_elu_deriv(v, p, NULL); }
static double d_safe_log(double v, double p) { return tg_local_safe_log_deriv(v, p, NULL); }
static double d_smooth_abs(double v, double p) { return tg_local_smooth_abs_deriv(v, p, NULL); }

#define K(n, p)                                                                            \
    { #n, tg__v##n##_isa, tg__v##n##_grad_isa, tg__v##n##_both_isa, l_##n, d_##n, p }
static const kernel kernels[] = {
    K(tanh, 0.0f), K(sigmoid, 0.0f), K(softplus, 0.0f), K(silu, 0.0f), K(gelu, 0.0f),
    K(gelu_erf, 0.0f), K(elu, 1.0f), K(safe_log, 1e-6f), K(smooth_abs, 1e-6f),
};

static double median(double *v, int n)
{
    bench_sort(v, (size_t)n);
    return v[n / 2];
}

/* what = 0: value kernel, 1: backward kernel, 2 and 3: the old per-element loops, 4: both */
static double run(const kernel *k, tg__vm_isa isa, int what)
{
    const double t0 = bench_now_ns();
    for (int c = 0; c < CALLS; c++) {
        if (what == 0)
            k->map(isa, x, y, N, k->p);
        else if (what == 1)
            k->grad(isa, x, gy, gx, N, k->p);
        else if (what == 4)
            k->both(isa, x, y, d, N, k->p);
        else if (what == 2)
            for (size_t i = 0; i < N; i++)
                y[i] = (float)k->local(x[i], k->p);
        else
            for (size_t i = 0; i < N; i++)
                gx[i] += gy[i] * (float)k->dlocal(x[i], k->p);
    }
    sink = y[N - 1] + gx[N - 1] + d[N - 1];
    return (bench_now_ns() - t0) / (CALLS * N);
}

static double measure(const kernel *k, tg__vm_isa isa, int what, int reps)
{
    double t[MAX_REPS];
    for (int r = -3; r < reps; r++) { /* three warm-up rounds */
        const double v = run(k, isa, what);
        if (r >= 0)
            t[r] = v;
    }
    return median(t, reps);
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 21;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_vmath: repetitions must be 1..%d\n", MAX_REPS);
        return 2;
    }
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 5, 5);
    for (size_t i = 0; i < N; i++) {
        x[i] = 8.0f * tg_pcg32_float(&rng) - 4.0f;
        gy[i] = 1.0f;
    }
    printf("ns per element, n = %d; this CPU runs %s\n", N, tg__vm_isa_name(tg__vm_isa_best()));
    printf("%-12s %9s %9s", "kernel", "old value", "grad");
    for (int isa = TG__VM_BASE; isa < TG__VM_N_ISA; isa++)
        if (tg__vm_isa_available((tg__vm_isa)isa)) {
            char head[32];
            snprintf(head, sizeof head, "%s value", tg__vm_isa_name((tg__vm_isa)isa));
            printf(" %15s %9s %9s", head, "grad", "both");
        }
    printf("\n");
    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        printf("%-12s %9.2f %9.2f", kernels[k].name, measure(&kernels[k], TG__VM_BASE, 2, reps),
               measure(&kernels[k], TG__VM_BASE, 3, reps));
        for (int isa = TG__VM_BASE; isa < TG__VM_N_ISA; isa++)
            if (tg__vm_isa_available((tg__vm_isa)isa))
                printf(" %15.2f %9.2f %9.2f", measure(&kernels[k], (tg__vm_isa)isa, 0, reps),
                       measure(&kernels[k], (tg__vm_isa)isa, 1, reps),
                       measure(&kernels[k], (tg__vm_isa)isa, 4, reps));
        printf("\n");
    }
    return 0;
}
