/* What the tape costs: for each elementwise rule, ns per element of forward plus
 * backward through tg_apply and tg_backward on a 4096-element tensor, against a plain
 * float loop computing the same value and derivative with the textbook formulas and
 * float libm (what a user would write by hand, less accurate); and the fixed cost of a
 * rule: a chain of 1000 `scale` rules on a 16-element tensor, forward and backward, in
 * ns per rule, against the same chain as plain loops. Medians over repetitions, both
 * sides measured in the same run.
 *
 *     bench_rules [repetitions]       (default 21) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "timing.h"

enum { N = 4096, CHAIN = 1000, SMALL = 16, MAX_REPS = 1001 };

static volatile float sink;

static double median(double *v, int n)
{
    bench_sort(v, (size_t)n);
    return v[n / 2];
}

/* ---- the hand-written references: value into y, derivative times gy added to gx ---- */
static float sig(float x) { return 1.0f / (1.0f + expf(-x)); }
static void ref_relu(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) { y[i] = x[i] > 0 ? x[i] : 0; g[i] += x[i] > 0 ? 1.0f : 0.0f; }
}
static void ref_leaky_relu(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) { y[i] = x[i] > 0 ? x[i] : 0.01f * x[i]; g[i] += x[i] > 0 ? 1.0f : 0.01f; }
}
static void ref_elu(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) { y[i] = x[i] > 0 ? x[i] : expm1f(x[i]); g[i] += x[i] > 0 ? 1.0f : expf(x[i]); }
}
static void ref_sigmoid(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) { const float s = sig(x[i]); y[i] = s; g[i] += s * (1 - s); }
}
static void ref_tanh(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) { const float t = tanhf(x[i]); y[i] = t; g[i] += 1 - t * t; }
}
static void ref_gelu(const float *x, float *y, float *g, size_t n)
{
    const float k = 0.7978845608f, c = 0.044715f;
    for (size_t i = 0; i < n; i++) {
        const float v = x[i], t = tanhf(k * (v + c * v * v * v));
        y[i] = 0.5f * v * (1 + t);
        g[i] += 0.5f * (1 + t + v * (1 - t * t) * k * (1 + 3 * c * v * v));
    }
}
static void ref_gelu_erf(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float v = x[i], p = 0.5f * (1 + erff(v * 0.70710678f));
        y[i] = v * p;
        g[i] += p + v * 0.39894228f * expf(-0.5f * v * v);
    }
}
static void ref_softplus(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) { y[i] = log1pf(expf(x[i])); g[i] += sig(x[i]); }
}
static void ref_silu(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) { const float s = sig(x[i]); y[i] = x[i] * s; g[i] += s + x[i] * s * (1 - s); }
}
static void ref_safe_log(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float sp = log1pf(expf(x[i])) + 1e-6f;
        y[i] = logf(sp);
        g[i] += sig(x[i]) / sp;
    }
}
static void ref_smooth_abs(const float *x, float *y, float *g, size_t n)
{
    for (size_t i = 0; i < n; i++) { const float r = sqrtf(x[i] * x[i] + 1e-6f); y[i] = r; g[i] += x[i] / r; }
}

typedef struct {
    const char *name;
    void (*ref)(const float *x, float *y, float *g, size_t n);
} case_t;

static const case_t cases[] = {
    { "relu", ref_relu }, { "leaky_relu", ref_leaky_relu }, { "elu", ref_elu },
    { "sigmoid", ref_sigmoid }, { "tanh", ref_tanh }, { "gelu", ref_gelu },
    { "gelu_erf", ref_gelu_erf }, { "softplus", ref_softplus }, { "silu", ref_silu },
    { "safe_log", ref_safe_log }, { "smooth_abs", ref_smooth_abs },
};

/* One forward and backward of `rule` over x on the tape; ns for the whole step. */
static double tape_step(tg_tape *t, const tg_rule *rule, tg_tensor *x, const size_t *shape)
{
    const double t0 = bench_now_ns();
    tg_tensor *y = tg_apply(t, rule, &x, 1, NULL);
    tg_tensor *seed = tg_tape_const(t, 1, shape);
    if (!y || !seed)
        return -1.0;
    for (size_t i = 0; i < N; i++)
        seed->data[i] = 1.0f;
    if (tg_backward(t, y, seed) != TG_OK)
        return -1.0;
    sink = y->data[N - 1] + x->grad[N - 1];
    tg_tape_reset(t);
    return bench_now_ns() - t0;
}

static int bench_elementwise(int reps)
{
    static const size_t shape[1] = { N };
    static float y[N], g[N];
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, shape);
    tg_tape *t = tg_tape_new();
    tg_pcg32 rng;
    double a[MAX_REPS], b[MAX_REPS];
    if (!x || !t)
        return 0;
    tg_pcg32_seed(&rng, 5, 5);
    for (size_t i = 0; i < N; i++)
        x->data[i] = 8.0f * tg_pcg32_float(&rng) - 4.0f;   /* [-4, 4) */
    printf("ns per element, forward + backward, n = %d\n", N);
    printf("%-12s %10s %10s %8s\n", "rule", "tape", "plain", "ratio");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const tg_rule *rule = tg_rule_find(cases[c].name);
        for (int r = -3; r < reps; r++) {   /* three warm-up rounds */
            const double ta = tape_step(t, rule, x, shape);
            double t0 = bench_now_ns();
            cases[c].ref(x->data, y, g, N);
            sink = y[N - 1] + g[N - 1];
            if (ta < 0)
                return 0;
            if (r >= 0) {
                a[r] = ta / N;
                b[r] = (bench_now_ns() - t0) / N;
            }
        }
        {
            const double ma = median(a, reps), mb = median(b, reps);
            printf("%-12s %10.2f %10.2f %7.2fx\n", cases[c].name, ma, mb, ma / mb);
        }
    }
    tg_tensor_free(x);
    tg_tape_free(t);
    return 1;
}

/* CHAIN scale rules forward, then the sweep back; ns per rule. */
static int bench_overhead(int reps)
{
    static const size_t shape[1] = { SMALL };
    static float h[CHAIN + 1][SMALL], gh[CHAIN + 1][SMALL];
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, shape);
    tg_tape *t = tg_tape_new();
    double a[MAX_REPS], b[MAX_REPS];
    if (!x || !t)
        return 0;
    for (int r = -3; r < reps; r++) {
        double t0 = bench_now_ns();
        tg_tensor *y = x, *seed;
        for (int k = 0; k < CHAIN; k++)
            y = tg_scale(t, y, 1.0f);
        seed = tg_tape_const(t, 1, shape);
        if (!y || !seed)
            return 0;
        for (int i = 0; i < SMALL; i++)
            seed->data[i] = 1.0f;
        if (tg_backward(t, y, seed) != TG_OK)
            return 0;
        tg_tape_reset(t);
        const double ta = bench_now_ns() - t0;
        /* the same arithmetic as plain loops, keeping every intermediate as the tape does */
        t0 = bench_now_ns();
        memcpy(h[0], x->data, sizeof h[0]);
        for (int k = 0; k < CHAIN; k++)
            for (int i = 0; i < SMALL; i++)
                h[k + 1][i] = 1.0f * h[k][i];
        for (int i = 0; i < SMALL; i++)
            gh[CHAIN][i] = 1.0f;
        for (int k = CHAIN; k > 0; k--)
            for (int i = 0; i < SMALL; i++)
                gh[k - 1][i] = 1.0f * gh[k][i];
        sink = gh[0][SMALL - 1] + h[CHAIN][0];
        if (r >= 0) {
            a[r] = ta / CHAIN;
            b[r] = (bench_now_ns() - t0) / CHAIN;
        }
    }
    printf("\nper rule, a chain of %d scale rules on %d elements, forward + backward\n", CHAIN,
           SMALL);
    printf("%-12s %10.1f ns   plain loops %6.1f ns\n", "tape", median(a, reps), median(b, reps));
    tg_tensor_free(x);
    tg_tape_free(t);
    return 1;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 21;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_rules: repetitions must be 1..%d\n", MAX_REPS);
        return 2;
    }
    if (!bench_elementwise(reps) || !bench_overhead(reps)) {
        fprintf(stderr, "bench_rules: %s\n", tg_last_error());
        return 1;
    }
    return 0;
}
