/* Full training steps, tapegrad against PyTorch, measured in the same run.
 *
 * Each workload is a whole step: forward, loss, backward, optimizer step (and zeroing
 * the gradients). The program draws the initial weights and the batches, writes them to
 * a temporary file (format in bench/README.md and torch_train.py), and runs
 * bench/torch_train.py on it with /usr/bin/python3, which builds the identical model
 * (nn.Linear, weights [out, in] as ours), runs the same optimizer on the same batches,
 * and reports the losses of its first steps and its timings. The losses must agree with
 * ours within LOSS_RTOL, else the program prints MISMATCH and exits with status 1.
 * Without a working `import torch` it prints its own numbers alone and says why.
 *
 * Timing: warm-up, then the median of --reps repetitions, each a number of steps lasting
 * about REP_MS; the same procedure on both sides, which take turns, one repetition each
 * (the script is a peer process driven over pipes), so that both see the same load on a
 * shared machine; one thread, then two
 * (tg_set_num_threads, torch.set_num_threads). GFLOP/s count 2 M N K per matrix product:
 * the forward product and the two backward ones (dW, and dx except for the first layer,
 * whose input is data), nothing else. The FLOP bound is a 512^3 sgemm measured here:
 * OpenBLAS's cblas_sgemm when tapegrad was built with it, and tapegrad's own product,
 * whichever is faster (on CPUs where OpenBLAS has no kernel of the widest vector width,
 * the built-in one is).
 *
 *     bench_train [--script PATH] [--python PATH] [--reps N]
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tapegrad.h>
#include "../src/core/internal.h"   /* tg__gemm, for its 512^3 ceiling */
#include "peer.h"
#include "timing.h"

#ifdef TG_HAVE_CBLAS
#include <cblas.h>
#endif

enum {
    N_BATCHES = 4,       /* batches per workload, used in turn */
    CHECK_STEPS = 10,    /* losses compared from a fresh model */
    MAX_SIZES = 5,
    MAX_REPS = 201,
    CHAIN = 1000, CHAIN_N = 16,
    N_MLP = 4
};
static const double LOSS_RTOL = 1e-4;   /* see bench/README.md for why this bound */
static const double REP_MS = 10.0, WARMUP_MS = 100.0;

typedef enum { ACT_TANH = 0, ACT_RELU = 1, ACT_SILU = 2 } act_kind;
typedef enum { LOSS_MSE = 0, LOSS_CE = 1 } loss_kind;
typedef enum { OPT_SGD = 0, OPT_ADAM = 1 } opt_kind;

typedef struct {
    const char *name;
    size_t n_sizes, sizes[MAX_SIZES];
    act_kind act;
    loss_kind loss;
    opt_kind opt;
    double lr;
    size_t batch;
} spec;

static const spec specs[N_MLP] = {
    { "2-64-64-1 tanh b32 MSE SGD", 4, { 2, 64, 64, 1 }, ACT_TANH, LOSS_MSE, OPT_SGD, 0.01, 32 },
    { "2-128-128-2 relu b256 CE SGD", 4, { 2, 128, 128, 2 }, ACT_RELU, LOSS_CE, OPT_SGD, 0.01,
      256 },
    { "784-256-256-10 relu b64 CE Adam", 4, { 784, 256, 256, 10 }, ACT_RELU, LOSS_CE, OPT_ADAM,
      1e-3, 64 },
    { "34-128x3-2 silu b256 MSE Adam", 5, { 34, 128, 128, 128, 2 }, ACT_SILU, LOSS_MSE, OPT_ADAM,
      1e-3, 256 },
};
static const char *const act_names[] = { "tanh", "relu", "silu" };

/* One workload on the tapegrad side: everything allocated here, once. */
typedef struct {
    const spec *s;
    tg_params *ps;
    tg_mlp mlp;
    tg_optim *opt;
    tg_tape *tape;
    float *init;                    /* the initial flat parameter block */
    tg_tensor *x[N_BATCHES], *y[N_BATCHES];
    size_t k;                       /* steps taken since the last reset */
    float loss;                     /* of the last step; NaN after an error */
} model;

/* Every library allocation is counted: once warm, a training step must make none. */
static atomic_size_t n_allocs;

static void *count_alloc(size_t size, void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&n_allocs, 1);
    return malloc(size);
}

static void count_free(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

static const tg_allocator counting = { count_alloc, count_free, NULL };

/* Flops of one step's matrix products (see the header). */
static double step_flops(const spec *s)
{
    double f = 0.0;
    for (size_t l = 0; l + 1 < s->n_sizes; l++)
        f += 2.0 * (double)s->batch * (double)s->sizes[l] * (double)s->sizes[l + 1] *
             (l == 0 ? 2.0 : 3.0);
    return f;
}

/* ---- the tapegrad side ------------------------------------------------------------- */

static int fail(const char *what)
{
    fprintf(stderr, "bench_train: %s: %s\n", what, tg_last_error());
    return 0;
}

static int model_init(model *m, const spec *s, uint64_t seed)
{
    const size_t out = s->sizes[s->n_sizes - 1];
    tg_pcg32 rng;
    memset(m, 0, sizeof *m);
    m->s = s;
    tg_pcg32_seed(&rng, seed, 54);
    if (!(m->ps = tg_params_new()) || !(m->tape = tg_tape_new()))
        return fail("setup");
    if (tg_mlp_init(&m->mlp, m->ps, "mlp", s->sizes, s->n_sizes,
                    tg_rule_find(act_names[s->act]), NULL, &rng) != TG_OK)
        return fail("tg_mlp_init");
    m->init = malloc(tg_params_flat_size(m->ps) * sizeof(float));
    if (!m->init)
        return fail("malloc");
    memcpy(m->init, tg_params_data(m->ps), tg_params_flat_size(m->ps) * sizeof(float));
    for (int b = 0; b < N_BATCHES; b++) {
        const size_t xs[2] = { s->batch, s->sizes[0] }, ys[2] = { s->batch, out };
        m->x[b] = tg_tensor_new(TG_CONST, 2, xs);
        m->y[b] = tg_tensor_new(TG_CONST, s->loss == LOSS_MSE ? 2 : 1, ys);
        if (!m->x[b] || !m->y[b])
            return fail("batch");
        tg_normal_fill(&rng, m->x[b]->data, m->x[b]->size);
        if (s->loss == LOSS_MSE)
            tg_normal_fill(&rng, m->y[b]->data, m->y[b]->size);
        else
            for (size_t i = 0; i < s->batch; i++)
                m->y[b]->data[i] = (float)tg_pcg32_bounded(&rng, (uint32_t)out);
    }
    return 1;
}

static void model_free(model *m)
{
    for (int b = 0; b < N_BATCHES; b++) {
        tg_tensor_free(m->x[b]);
        tg_tensor_free(m->y[b]);
    }
    tg_optim_free(m->opt);
    tg_tape_free(m->tape);
    tg_params_free(m->ps);
    free(m->init);
}

/* Back to the initial weights, with a fresh optimizer (zero state, step 0). */
static int model_reset(model *m)
{
    tg_optim_config c = tg_optim_defaults(m->s->opt == OPT_SGD ? TG_SGD : TG_ADAM, m->s->lr);
    memcpy(tg_params_data(m->ps), m->init, tg_params_flat_size(m->ps) * sizeof(float));
    tg_params_zero_grad(m->ps);
    tg_optim_free(m->opt);
    m->k = 0;
    if (!(m->opt = tg_optim_new(m->ps, &c)))
        return fail("tg_optim_new");
    return 1;
}

/* One training step on the next batch; m->loss is NaN after an error. */
static void model_step(void *ctx)
{
    model *m = ctx;
    const size_t b = m->k++ % N_BATCHES;
    tg_tape *t = m->tape;
    tg_tensor *out = tg_mlp_forward(t, &m->mlp, m->x[b]);
    tg_tensor *loss = m->s->loss == LOSS_MSE ? tg_mse_loss(t, out, m->y[b])
                                             : tg_softmax_cross_entropy(t, out, m->y[b]);
    if (!loss || tg_backward(t, loss, NULL) != TG_OK || tg_optim_step(m->opt) != TG_OK) {
        fprintf(stderr, "bench_train: %s: step: %s\n", m->s->name,
                tg_tape_status(t) != TG_OK ? tg_tape_error(t) : tg_last_error());
        m->loss = NAN;
    } else {
        m->loss = loss->data[0];
    }
    tg_params_zero_grad(m->ps);
    tg_tape_reset(t);
}

/* Where a step's time goes: the same step as model_step, cut into parts timed apart
 * (the clock reads add a little). part[] receives mean ns per step. */
enum { P_LINEAR, P_ACT, P_LOSS, P_BACKWARD, P_OPTIM, P_RESET, N_PARTS };
static const char *const part_names[N_PARTS] = { "linear fwd", "act fwd", "loss fwd",
                                                 "backward", "optimizer", "zero+reset" };

static int model_parts(model *m, size_t steps, double part[N_PARTS])
{
    for (int p = 0; p < N_PARTS; p++)
        part[p] = 0.0;
    for (size_t s = 0; s < steps; s++) {
        const size_t b = m->k++ % N_BATCHES;
        tg_tape *t = m->tape;
        tg_tensor *h = m->x[b], *loss;
        double t0 = bench_now_ns(), t1;
        for (size_t l = 0; l < m->mlp.n_layers; l++) {
            h = tg_dense_forward(t, &m->mlp.layer[l], h);
            t1 = bench_now_ns();
            part[P_LINEAR] += t1 - t0;
            t0 = t1;
            if (l + 1 < m->mlp.n_layers) {
                h = tg_apply(t, m->mlp.act, &h, 1, NULL);
                t1 = bench_now_ns();
                part[P_ACT] += t1 - t0;
                t0 = t1;
            }
        }
        loss = m->s->loss == LOSS_MSE ? tg_mse_loss(t, h, m->y[b])
                                      : tg_softmax_cross_entropy(t, h, m->y[b]);
        t1 = bench_now_ns();
        part[P_LOSS] += t1 - t0;
        if (!loss || tg_backward(t, loss, NULL) != TG_OK)
            return fail(m->s->name);
        t0 = bench_now_ns();
        part[P_BACKWARD] += t0 - t1;
        if (tg_optim_step(m->opt) != TG_OK)
            return fail(m->s->name);
        t1 = bench_now_ns();
        part[P_OPTIM] += t1 - t0;
        tg_params_zero_grad(m->ps);
        tg_tape_reset(t);
        part[P_RESET] += bench_now_ns() - t1;
    }
    for (int p = 0; p < N_PARTS; p++)
        part[p] /= (double)steps;
    return 1;
}

/* The relu chain: CHAIN relu rules on CHAIN_N elements, forward and backward. */
typedef struct {
    tg_tape *tape;
    tg_tensor *x, *seed;
    double sum_y, sum_g;   /* of the output, and of x's gradient after one step */
    int ok;
} chain;

static int chain_init(chain *c)
{
    const size_t n[1] = { CHAIN_N };
    c->tape = tg_tape_new();
    c->x = tg_tensor_new(TG_PARAM, 1, n);
    c->seed = tg_tensor_new(TG_CONST, 1, n);
    if (!c->tape || !c->x || !c->seed)
        return fail("chain setup");
    for (int i = 0; i < CHAIN_N; i++) {   /* positive, so that the chain carries values */
        c->x->data[i] = 0.5f + (float)i / CHAIN_N;
        c->seed->data[i] = 1.0f;
    }
    return 1;
}

static void chain_free(chain *c)
{
    tg_tensor_free(c->x);
    tg_tensor_free(c->seed);
    tg_tape_free(c->tape);
}

static void chain_step(void *ctx)
{
    chain *c = ctx;
    tg_tensor *y = c->x;
    for (int k = 0; k < CHAIN; k++)
        y = tg_relu(c->tape, y);
    c->ok = y && tg_backward(c->tape, y, c->seed) == TG_OK;
    if (c->ok) {
        double s = 0.0;
        for (size_t i = 0; i < y->size; i++)
            s += y->data[i];
        c->sum_y = s;
    }
    tg_tape_reset(c->tape);
}

/* ---- timing ------------------------------------------------------------------------
 * Warm-up (at least 5 steps and WARMUP_MS), which also picks the number of steps that
 * makes one repetition last about REP_MS; then repetitions, taken in turn with the
 * PyTorch side (which does the same, torch_train.py's Timed), and the median of ns per
 * step. */
typedef void (*step_fn)(void *ctx);

static size_t warm_up(step_fn step, void *ctx)
{
    const double t0 = bench_now_ns();
    double per;
    size_t n = 0;
    while (n < 5 || bench_now_ns() - t0 < WARMUP_MS * 1e6) {
        step(ctx);
        n++;
    }
    per = (bench_now_ns() - t0) / (double)n;
    return per >= REP_MS * 1e6 ? 1 : (size_t)(REP_MS * 1e6 / per + 0.5);
}

/* CPU time of the calling thread: what one thread really spent, without the time the
 * system gave other jobs (the wall clock counts that too). */
static double thread_cpu_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* ns per step, by the wall clock and (*cpu) by the thread's CPU time, after LEADIN_MS of
 * untimed steps: after the pause between turns (settle) the second processor may have
 * gone idle, and under a hypervisor an idle virtual CPU takes a while to run again; the
 * lead-in brings the pool's workers back before the clock starts (torch_train.py's rep
 * does the same). */
#define LEADIN_MS 2.0

static double repetition(step_fn step, void *ctx, size_t steps, double *cpu)
{
    const double l0 = bench_now_ns();
    do
        step(ctx);
    while (bench_now_ns() - l0 < LEADIN_MS * 1e6);
    const double t0 = bench_now_ns(), c0 = thread_cpu_ns();
    for (size_t i = 0; i < steps; i++)
        step(ctx);
    *cpu = (thread_cpu_ns() - c0) / (double)steps;
    return (bench_now_ns() - t0) / (double)steps;
}

static double median(double *v, int n)
{
    bench_sort(v, (size_t)n);
    return v[n / 2];
}

/* The ceilings: GFLOP/s of C = A B at 512^3, the fastest of 21 after 2 warm-ups (a
 * ceiling is what the machine can do: a median on a shared machine would lower it and
 * flatter the workloads measured against it), through
 * OpenBLAS's cblas_sgemm (NaN when tapegrad was built without it) and through tapegrad's
 * own tg__gemm (its dispatch: the built-in blocked kernel, or OpenBLAS where that is
 * faster). The bound a workload is measured against is the higher of the two. */
typedef struct {
    double blas, builtin;
} ceilings;

static double sgemm_gflops(int blas, const float *A, const float *B, float *C)
{
    enum { D = 512, R = 21 };
    double v[R];
#ifndef TG_HAVE_CBLAS
    if (blas)
        return NAN;
#endif
    for (int r = -2; r < R; r++) {
        const double t0 = bench_now_ns();
#ifdef TG_HAVE_CBLAS
        if (blas)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, D, D, 1.0f, A, D, B, D,
                        0.0f, C, D);
        else
#endif
            tg__gemm(0, 0, D, D, D, 1.0f, A, D, B, D, 0.0f, C, D);
        if (r >= 0)
            v[r] = bench_now_ns() - t0;
    }
    bench_sort(v, R);
    return 2.0 * D * D * D / v[0];   /* flop per ns = GFLOP/s */
}

static ceilings sgemm_ceilings(void)
{
    const size_t n = 512 * 512;
    float *A = malloc(sizeof(float) * n), *B = malloc(sizeof(float) * n),
          *C = malloc(sizeof(float) * n);
    ceilings c = { NAN, NAN };
    tg_pcg32 rng;
    if (A && B && C) {
        tg_pcg32_seed(&rng, 512, 512);
        for (size_t i = 0; i < n; i++) {
            A[i] = tg_pcg32_float(&rng) - 0.5f;
            B[i] = tg_pcg32_float(&rng) - 0.5f;
        }
        /* the built-in kernel first: OpenBLAS's threads, once used, spin a while
         * (OPENBLAS_THREAD_TIMEOUT, torch_start) and would take the pool's core */
        c.builtin = sgemm_gflops(0, A, B, C);
        c.blas = sgemm_gflops(1, A, B, C);
    }
    free(A), free(B), free(C);
    return c;
}

static double bound(ceilings c) { return isnan(c.blas) ? c.builtin : fmax(c.blas, c.builtin); }

/* ---- the data file ------------------------------------------------------------------ */

static int put_u32(FILE *f, size_t v)
{
    const uint32_t u = (uint32_t)v;
    unsigned char b[4] = { (unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                           (unsigned char)(u >> 24) };
    return fwrite(b, 1, 4, f) == 4;
}

/* Floats and doubles as the machine stores them: the format is little-endian, so refuse
 * a big-endian host (checked in main). */
static int put_f32(FILE *f, const float *v, size_t n) { return fwrite(v, 4, n, f) == n; }
static int put_f64(FILE *f, double v) { return fwrite(&v, 8, 1, f) == 1; }

static int write_model(FILE *f, const model *m, int id)
{
    const spec *s = m->s;
    int ok = put_u32(f, (size_t)id) && put_u32(f, s->n_sizes);
    for (size_t i = 0; i < s->n_sizes; i++)
        ok = ok && put_u32(f, s->sizes[i]);
    ok = ok && put_u32(f, s->act) && put_u32(f, s->loss) && put_u32(f, s->opt) &&
         put_f64(f, s->lr) && put_u32(f, s->batch) && put_u32(f, N_BATCHES);
    for (size_t i = 0; i < tg_params_count(m->ps); i++) {   /* W0, b0, W1, b1, ... */
        const tg_tensor *p = tg_params_at(m->ps, i);
        ok = ok && put_f32(f, m->init + tg_params_offset(m->ps, i), p->size);
    }
    for (int b = 0; b < N_BATCHES; b++)
        ok = ok && put_f32(f, m->x[b]->data, m->x[b]->size) &&
             put_f32(f, m->y[b]->data, m->y[b]->size);
    return ok;
}

static int write_data(const char *path, const model *m, const chain *c)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite("TGBENCH1", 1, 8, f) == 8 && put_u32(f, N_MLP) &&
             put_u32(f, CHECK_STEPS);
    for (int i = 0; i < N_MLP; i++)
        ok = ok && write_model(f, &m[i], i + 1);
    ok = ok && put_u32(f, N_MLP + 1) && put_u32(f, CHAIN) && put_u32(f, CHAIN_N) &&
         put_f32(f, c->x->data, CHAIN_N);
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        fprintf(stderr, "bench_train: writing %s: %s\n", path, strerror(errno));
    return ok;
}

/* ---- the PyTorch side ------------------------------------------------------------------ */

typedef struct {
    bench_peer peer;
    int have;              /* the script runs, with torch */
    char why[700];         /* why not, when torch is missing */
    char version[64];
} torch_side;

/* Starts the script for `threads` threads. 0 on an error of ours (a broken script);
 * 1 otherwise, with t->have 0 and t->why set when there is no PyTorch to run. */
static int torch_start(torch_side *t, const char *python, const char *script, const char *data,
                       int threads)
{
    char th[16], line[700] = "";
    char *argv[] = { (char *)python, (char *)script, (char *)data, th, NULL };
    int e, n, st;
    t->have = 0;
    snprintf(th, sizeof th, "%d", threads);
    /* asked first: where posix_spawn cannot report a failed exec, the child exits 127 */
    if (access(python, X_OK) != 0) {
        snprintf(t->why, sizeof t->why, "cannot run %s: %s", python, strerror(errno));
        return 1;
    }
    /* torch's OpenMP pool and its BLAS (OpenBLAS) read these when they start. OpenBLAS's
     * idle threads otherwise spin (with sched_yield) for 2^28 cycles, about 0.1 s,
     * after each call: across tapegrad's turn and against torch's own OpenMP threads.
     * 2^4 cycles makes them sleep at once (measured: tapegrad's two-thread steps 0.5-0.7x
     * of its one-thread steps with the default, 1.2-1.6x with this; torch's own
     * two-thread steps faster too). */
    setenv("OMP_NUM_THREADS", th, 1);
    setenv("OPENBLAS_NUM_THREADS", th, 1);
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1);
    if ((e = bench_peer_start(&t->peer, argv)) != 0) {
        snprintf(t->why, sizeof t->why, "cannot run %s: %s", python, strerror(e));
        return e == ENOENT || e == EACCES;
    }
    if (bench_peer_read(&t->peer, line, sizeof line) == 0) {
        if (strncmp(line, "unavailable ", 12) == 0) {
            snprintf(t->why, sizeof t->why, "%s", line + 12);
            return bench_peer_stop(&t->peer) == 3;
        }
        if (sscanf(line, "ready %63s %d", t->version, &n) == 2 && n == threads) {
            t->have = 1;
            return 1;
        }
    }
    if ((st = bench_peer_stop(&t->peer)) == 127) {   /* the exec failed after all */
        snprintf(t->why, sizeof t->why, "cannot run %s (exit status 127)", python);
        return 1;
    }
    fprintf(stderr, "bench_train: %s %s did not start (\"%s\", exit status %d)\n", python,
            script, line, st);
    return 0;
}

/* Asks one command; the reply must start with `expect` and a space. */
static int torch_ask(torch_side *t, char *reply, size_t len, const char *expect,
                     const char *cmd, int id)
{
    const size_t n = strlen(expect);
    if (bench_peer_ask(&t->peer, reply, len, "%s %d %g %g", cmd, id, WARMUP_MS, REP_MS) != 0 ||
        strncmp(reply, expect, n) != 0 || reply[n] != ' ') {
        fprintf(stderr, "bench_train: the PyTorch side failed on \"%s %d\"\n", cmd, id);
        return 0;
    }
    return 1;
}

/* ---- one thread count ------------------------------------------------------------------ */

typedef struct {
    double tg_ns, torch_ns;      /* per step, medians */
    double tg_best, torch_best;  /* per step, the fastest repetition */
    double tg_cpu, torch_cpu;    /* per step, medians of the stepping thread's CPU time */
    double worst;                /* the largest relative loss difference; NaN: not compared */
    size_t allocs;               /* library allocations during tapegrad's timed steps */
    size_t steps;                /* tapegrad steps per repetition */
    double part[N_PARTS];        /* ns per step in each part, medians */
    int mismatch;
    double tg_loss[CHECK_STEPS], torch_loss[CHECK_STEPS];
} outcome;

/* Medians of the parts over (at most 9) repetitions. */
static int time_parts(model *m, int reps, outcome *o)
{
    enum { R = 9 };
    double v[N_PARTS][R], part[N_PARTS];
    const int n = reps < R ? reps : R;
    for (int r = 0; r < n; r++) {
        if (!model_parts(m, o->steps, part))
            return 0;
        for (int p = 0; p < N_PARTS; p++)
            v[p][r] = part[p];
    }
    for (int p = 0; p < N_PARTS; p++)
        o->part[p] = median(v[p], n);
    return 1;
}

/* tapegrad's thread count, which it passes on to OpenBLAS when it uses it. */
static int set_threads(int n)
{
    if (tg_set_num_threads((size_t)n) != TG_OK)
        return fail("tg_set_num_threads");
    return 1;
}

static double rel_diff(double a, double b)
{
    const double m = fmax(fabs(a), fabs(b));
    return a == b ? 0.0 : m > 0.0 && isfinite(m) ? fabs(a - b) / m : INFINITY;
}

/* The check steps of MLP workload i, on both sides, compared. */
static int check_mlp(model *m, torch_side *t, int id, outcome *o)
{
    char line[1024];
    if (!model_reset(m))
        return 0;
    for (int k = 0; k < CHECK_STEPS; k++) {
        model_step(m);
        if (isnan(m->loss))
            return 0;
        o->tg_loss[k] = m->loss;
    }
    o->worst = NAN;
    if (!t->have)
        return 1;
    if (!torch_ask(t, line, sizeof line, "loss", "check", id))
        return 0;
    o->worst = 0.0;
    {
        const char *p = line + 4;
        for (int k = 0; k < CHECK_STEPS; k++) {
            char *end;
            o->torch_loss[k] = strtod(p, &end);
            if (end == p)
                o->torch_loss[k] = NAN;
            p = end;
            o->worst = fmax(o->worst, rel_diff(o->tg_loss[k], o->torch_loss[k]));
        }
    }
    o->mismatch = !(o->worst <= LOSS_RTOL);
    return 1;
}

/* The relu chain checked on both sides: relu of positive inputs is the identity, so the
 * output sums to sum x (within rounding of the sum) and the gradient is 1 everywhere. */
static int check_chain(chain *c, torch_side *t, int id, outcome *o)
{
    char line[256];
    double sum_g = 0.0, ty, tgr;
    tg_zero_grad(c->x);
    chain_step(c);
    if (!c->ok)
        return fail("relu chain");
    for (int i = 0; i < CHAIN_N; i++)
        sum_g += c->x->grad[i];
    o->worst = NAN;
    o->mismatch = sum_g != (double)CHAIN_N;
    if (!t->have)
        return 1;
    if (!torch_ask(t, line, sizeof line, "chain", "check", id) ||
        sscanf(line, "chain %lf %lf", &ty, &tgr) != 2)
        return 0;
    o->worst = rel_diff(c->sum_y, ty);
    o->mismatch |= !(o->worst <= LOSS_RTOL) || tgr != (double)CHAIN_N;
    return 1;
}

/* Before each side's repetition: time for the other side's idle threads to stop
 * spinning and sleep (OpenMP's in the PyTorch process, the pool's here; both spin a while
 * after a parallel region, and a spinning thread on the second core would take it from
 * the side being timed). */
#define SETTLE_NS 20000000L

static void settle(void)
{
    struct timespec d = { 0, SETTLE_NS };
    while (nanosleep(&d, &d) != 0 && errno == EINTR)
        ;
}

/* One PyTorch repetition into *ns and *cpu. */
static int torch_rep(torch_side *t, int id, double *ns, double *cpu)
{
    char line[256];
    return torch_ask(t, line, sizeof line, "rep", "rep", id) &&
           sscanf(line, "rep %lf %lf", ns, cpu) == 2;
}

/* Warm-up and repetitions on both sides: in turn, one repetition each (in_turn), or all of
 * tapegrad's and then all of PyTorch's. In turn is fairer on a shared machine, whose
 * load then falls on both sides alike; at two threads it is not: each side's idle
 * threads (PyTorch's OpenMP threads above all) and the idle second processor leave
 * their trace in the other side's next repetition (measured on this machine: tapegrad's
 * two-thread steps 0.9-1.4x of its one-thread steps in turn, 1.6x in blocks). */
static int time_both(step_fn step, void *ctx, torch_side *t, int id, int reps, int in_turn,
                     outcome *o)
{
    double a[MAX_REPS], b[MAX_REPS], ac[MAX_REPS], bc[MAX_REPS];
    char line[256];
    const size_t steps = o->steps = warm_up(step, ctx);
    o->torch_ns = o->torch_best = o->torch_cpu = NAN;
    if (in_turn && t->have && !torch_ask(t, line, sizeof line, "warm", "warmup", id))
        return 0;
    for (int r = 0; r < reps; r++) {
        const size_t a0 = atomic_load(&n_allocs);
        if (in_turn)
            settle();
        a[r] = repetition(step, ctx, steps, &ac[r]);
        o->allocs += atomic_load(&n_allocs) - a0;
        if (in_turn && t->have) {
            settle();
            if (!torch_rep(t, id, &b[r], &bc[r]))
                return 0;
        }
    }
    if (!in_turn && t->have) {
        settle();
        if (!torch_ask(t, line, sizeof line, "warm", "warmup", id))
            return 0;
        for (int r = 0; r < reps; r++)
            if (!torch_rep(t, id, &b[r], &bc[r]))
                return 0;
    }
    o->tg_ns = median(a, reps);   /* sorts: a[0] is then the fastest */
    o->tg_best = a[0];
    o->tg_cpu = median(ac, reps);
    if (t->have)
        o->torch_ns = median(b, reps), o->torch_best = b[0], o->torch_cpu = median(bc, reps);
    return 1;
}

/* The 1-minute load average, to read the timings by: the benchmark shares the machine. */
static double load_average(void)
{
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = NAN;
        fclose(f);
    }
    return l;
}

static void print_table(int threads, const outcome *o, ceilings ceil, const torch_side *t,
                        double load0)
{
    const double ceiling = bound(ceil);
    printf("\n== %d thread%s ==\n", threads, threads > 1 ? "s" : "");
    printf("sgemm 512^3: OpenBLAS cblas_sgemm %.1f GFLOP/s, tapegrad tg__gemm %.1f GFLOP/s: "
           "the bound is %.1f\n", ceil.blas, ceil.builtin, ceiling);
    printf("load average %.2f before, %.2f after (%ld processors online)\n", load0,
           load_average(), sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-34s %10s %10s %9s %8s %7s %10s\n", "workload", "tapegrad", "PyTorch", "ratio",
           "GFLOP/s", "of", "loss");
    printf("%-34s %10s %10s %9s %8s %7s %10s\n", "", "us/step", "us/step", "torch/tg",
           "tapegrad", "bound", "rel diff");
    for (int i = 0; i <= N_MLP; i++) {
        const int chain_row = i == N_MLP;
        const double scale = chain_row ? 1.0 / CHAIN : 1e-3;   /* ns per rule, us per step */
        printf("%d %-32s %10.2f ", i + 1, chain_row ? "relu chain 1000x16 (ns/rule)"
                                                     : specs[i].name, o[i].tg_ns * scale);
        if (t->have)
            printf("%10.2f %8.2fx ", o[i].torch_ns * scale, o[i].torch_ns / o[i].tg_ns);
        else
            printf("%10s %9s ", "-", "-");
        if (chain_row) {
            printf("%8s %7s ", "-", "-");
        } else {
            const double gf = step_flops(&specs[i]) / o[i].tg_ns;
            printf("%8.2f %6.1f%% ", gf, 100.0 * gf / ceiling);
        }
        if (isnan(o[i].worst))
            printf("%10s%s\n", "-", o[i].mismatch ? "  MISMATCH" : "");
        else
            printf("%10.1e%s\n", o[i].worst, o[i].mismatch ? "  MISMATCH" : "");
    }
    if (threads == 1) {   /* with more threads, one thread's CPU time means little */
        printf("the same by the stepping thread's CPU time (what the time the system gave to "
               "other jobs\ndoes not count in), us/step:\n");
        for (int i = 0; i <= N_MLP; i++) {
            const double scale = i == N_MLP ? 1.0 / CHAIN : 1e-3;
            printf("%d %-32s %10.2f ", i + 1, i == N_MLP ? "relu chain 1000x16 (ns/rule)"
                                                          : specs[i].name, o[i].tg_cpu * scale);
            if (t->have)
                printf("%10.2f %8.2fx\n", o[i].torch_cpu * scale, o[i].torch_cpu / o[i].tg_cpu);
            else
                printf("%10s %9s\n", "-", "-");
        }
    }
    printf("where tapegrad's step goes, us per step:\n%-32s", "");
    for (int p = 0; p < N_PARTS; p++)
        printf(" %12s", part_names[p]);
    printf("\n");
    for (int i = 0; i < N_MLP; i++) {
        printf("%d %-30s", i + 1, specs[i].name);
        for (int p = 0; p < N_PARTS; p++)
            printf(" %12.2f", o[i].part[p] * 1e-3);
        printf("\n");
    }
    {
        size_t allocs = 0;
        for (int i = 0; i <= N_MLP; i++)
            allocs += o[i].allocs;
        printf("tapegrad allocations during the timed steps: %zu%s\n", allocs,
               allocs ? " (a warm step should make none)" : "");
    }
    if (!t->have)
        printf("PyTorch side not run: %s\n", t->why);
    for (int i = 0; i < N_MLP; i++)
        if (o[i].mismatch)
            for (int k = 0; k < CHECK_STEPS; k++)
                printf("  workload %d step %d: tapegrad %.9g  PyTorch %.9g\n", i + 1, k,
                       o[i].tg_loss[k], o[i].torch_loss[k]);
    fflush(stdout);
}

/* Two threads against one: time at one thread over time at two, from the medians and
 * from the fastest repetitions (what the second core gives when the system lets it). */
static void print_scaling(const outcome *one, const outcome *two, int have_torch)
{
    printf("\n== two threads against one: speed-up of the median (of the fastest "
           "repetition) ==\n");
    printf("%-34s %18s %18s\n", "workload", "tapegrad", "PyTorch");
    for (int i = 0; i <= N_MLP; i++) {
        printf("%d %-32s %8.2fx (%5.2fx)", i + 1,
               i == N_MLP ? "relu chain 1000x16" : specs[i].name, one[i].tg_ns / two[i].tg_ns,
               one[i].tg_best / two[i].tg_best);
        if (have_torch)
            printf(" %8.2fx (%5.2fx)\n", one[i].torch_ns / two[i].torch_ns,
                   one[i].torch_best / two[i].torch_best);
        else
            printf(" %18s\n", "-");
    }
}

/* Checks, times and prints everything at `threads` threads. 0 on an error, -1 on a
 * mismatch, 1 when all is well. *no_torch keeps the reason PyTorch was not run. */
static int run_threads(int threads, model *m, chain *c, const char *python, const char *script,
                       const char *data, int reps, char *no_torch, size_t no_torch_len,
                       outcome o[N_MLP + 1])
{
    torch_side t;
    ceilings ceil;
    double load0;
    int ok = 1, mismatch = 0, st;
    memset(o, 0, (N_MLP + 1) * sizeof *o);
    memset(&t, 0, sizeof t);
    if (!set_threads(threads))
        return 0;
    if (no_torch[0])
        snprintf(t.why, sizeof t.why, "%s", no_torch);
    else if (!torch_start(&t, python, script, data, threads))
        return 0;
    load0 = load_average();
    for (int i = 0; ok && i < N_MLP; i++)
        ok = check_mlp(&m[i], &t, i + 1, &o[i]) &&
             time_both(model_step, &m[i], &t, i + 1, reps, threads == 1, &o[i]) &&
             time_parts(&m[i], reps, &o[i]);
    ok = ok && check_chain(c, &t, N_MLP + 1, &o[N_MLP]) &&
         time_both(chain_step, c, &t, N_MLP + 1, reps, threads == 1, &o[N_MLP]) && c->ok;
    for (int i = 0; ok && i < N_MLP; i++)
        ok = !isnan(m[i].loss);
    /* after the timed steps: OpenBLAS's threads, once used, spin a while (above) */
    ceil = sgemm_ceilings();
    if (t.have && (st = bench_peer_stop(&t.peer)) != 0) {
        fprintf(stderr, "bench_train: the PyTorch side ended with status %d\n", st);
        ok = 0;
    }
    if (!ok)
        return 0;
    if (!t.have)
        snprintf(no_torch, no_torch_len, "%s", t.why);
    print_table(threads, o, ceil, &t, load0);
    for (int i = 0; i <= N_MLP; i++)
        mismatch |= o[i].mismatch;
    return mismatch ? -1 : 1;
}

int main(int argc, char **argv)
{
    const char *script = "bench/torch_train.py", *python = "/usr/bin/python3";
    const char *tmp = getenv("TMPDIR");
    char data[512], no_torch[700] = "";
    static outcome o[2][N_MLP + 1];
    int reps = 21, fd, status = 0;
    model m[N_MLP];
    chain c;
    const uint32_t one = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--script") == 0 && i + 1 < argc)
            script = argv[++i];
        else if (strcmp(argv[i], "--python") == 0 && i + 1 < argc)
            python = argv[++i];
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_train [--script PATH] [--python PATH] [--reps N]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_train: --reps must be 1..%d\n", MAX_REPS);
        return 2;
    }
    if (*(const unsigned char *)&one != 1) {
        fprintf(stderr, "bench_train: the data file is little-endian; this host is not\n");
        return 2;
    }
    tg_set_allocator(&counting);   /* before any tapegrad object exists */
    memset(m, 0, sizeof m);
    memset(&c, 0, sizeof c);
    for (int i = 0; i < N_MLP && status == 0; i++)
        status = !model_init(&m[i], &specs[i], 1000u + (uint64_t)i);
    if (status == 0)
        status = !chain_init(&c);
    if (status != 0)
        goto done;
    snprintf(data, sizeof data, "%s/tg_bench_train_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if ((fd = mkstemp(data)) < 0) {
        fprintf(stderr, "bench_train: mkstemp %s: %s\n", data, strerror(errno));
        status = 1;
        goto done;
    }
    close(fd);
    if (!write_data(data, m, &c)) {
        status = 1;
    } else {
        printf("bench_train: full training steps (forward, loss, backward, optimizer step),\n"
               "tapegrad vs PyTorch (%s %s) taking turns: median of %d repetitions of\n"
               "~%g ms each. GFLOP/s count 2MNK per product: y = x W^T, dW = D^T x and\n"
               "dx = D W (no dx for the first layer). Loss check: the first %d steps from the\n"
               "same weights, relative difference, MISMATCH above %.0e.\n",
               python, script, reps, REP_MS, CHECK_STEPS, LOSS_RTOL);
        for (int threads = 1; threads <= 2 && status == 0; threads++) {
            const int r = run_threads(threads, m, &c, python, script, data, reps, no_torch,
                                      sizeof no_torch, o[threads - 1]);
            status = r == 1 ? 0 : 1;
            if (r == -1)
                printf("MISMATCH: tapegrad and PyTorch disagree (see above)\n");
        }
        if (status == 0)
            print_scaling(o[0], o[1], no_torch[0] == '\0');
    }
    remove(data);
done:
    for (int i = 0; i < N_MLP; i++)
        model_free(&m[i]);
    chain_free(&c);
    tg_set_num_threads(1);   /* joins the pool's workers: nothing left running at exit */
    return status;
}
