/* Matrix products: the built-in blocked kernel against OpenBLAS's cblas_sgemm (when
 * ./configure found it), at the products training makes and at 256^3 and 512^3. For
 * each workload (layer widths and batch), the forward product y = x W^T, the input
 * gradient dx = D W (not for the first layer, whose input is data) and the weight
 * gradient dW = D^T x, as rules/linear.c calls them (beta 1). GFLOP/s are medians of
 * repeated runs, each run long enough for the clock; one thread, then two; then two
 * threads against one on the large products.
 *
 *     bench_gemm [repetitions]        (default 21) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "timing.h"
#include "../src/kernels/gemm.h"
#ifdef TG_HAVE_CBLAS
#include <cblas.h>
#endif

enum { MAX_REPS = 101, MAX_DIM = 1024 };

typedef struct {
    const char *what;
    int ta, tb;
    size_t M, N, K;
} product;

typedef struct {
    const char *name;
    size_t batch, n;
    size_t width[6];
} workload;

static const workload workloads[] = {
    { "2-64-64-1 batch 32", 32, 4, { 2, 64, 64, 1 } },
    { "2-128-128-2 batch 256", 256, 4, { 2, 128, 128, 2 } },
    { "784-256-256-10 batch 64", 64, 4, { 784, 256, 256, 10 } },
    { "34-128-128-128-2 batch 256", 256, 5, { 34, 128, 128, 128, 2 } },
};

static float *A, *B, *C;

static void fill(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

/* One product on `path` (TG__GEMM_BLAS calls cblas_sgemm directly); ld = the stored row
 * lengths. C accumulates (beta 1) from a small start, as gradients do. */
static void run(tg__gemm_path path, const product *p)
{
    const size_t lda = p->ta ? p->M : p->K, ldb = p->tb ? p->K : p->N;
#ifdef TG_HAVE_CBLAS
    if (path == TG__GEMM_BLAS) {
        cblas_sgemm(CblasRowMajor, p->ta ? CblasTrans : CblasNoTrans,
                    p->tb ? CblasTrans : CblasNoTrans, (int)p->M, (int)p->N, (int)p->K, 1.0f,
                    A, (int)lda, B, (int)ldb, 1.0f, C, (int)p->N);
        return;
    }
#endif
    tg__gemm_on(path, p->ta, p->tb, p->M, p->N, p->K, 1.0f, A, lda, B, ldb, 1.0f, C, p->N);
}

/* Median seconds per product on each of n paths, over `reps` runs of enough products
 * to last about 0.5 ms. The paths take turns within each repetition, so that a change
 * in the machine's load (it is shared) falls on all of them alike. */
static void seconds(const tg__gemm_path *paths, size_t n, const product *p, int reps,
                    double *out)
{
    static double t[4][MAX_REPS];
    size_t inner[4];
    for (size_t q = 0; q < n; q++) {
        double t0;
        fill(C, p->M * p->N, 7);
        run(paths[q], p);   /* warm: caches, pages, the pool */
        t0 = bench_now_ns();
        run(paths[q], p);
        t0 = bench_now_ns() - t0;
        inner[q] = t0 < 5e5 ? (size_t)(5e5 / (t0 > 50 ? t0 : 50)) + 1 : 1;
    }
    for (int r = 0; r < reps; r++)
        for (size_t q = 0; q < n; q++) {
            const double t0 = bench_now_ns();
            for (size_t i = 0; i < inner[q]; i++)
                run(paths[q], p);
            t[q][r] = (bench_now_ns() - t0) * 1e-9 / (double)inner[q];
        }
    for (size_t q = 0; q < n; q++) {
        bench_sort(t[q], (size_t)reps);
        out[q] = t[q][reps / 2];
    }
}

static double gflops(const product *p, double s)
{
    return 2.0 * (double)p->M * (double)p->N * (double)p->K / s * 1e-9;
}

/* One row: the product on the built-in path, on AVX2 too when the built-in is wider,
 * and on OpenBLAS; returns the built-in's seconds (and OpenBLAS's in *blas, 0 without). */
static double row(const product *p, int reps, double *blas)
{
    tg__gemm_path paths[3] = { tg__gemm_builtin_path() };
    double t[3];
    size_t n = 1, avx2 = 0, ob = 0;
    char shape[64];
    if (paths[0] == TG__GEMM_AVX512 && tg__gemm_path_available(TG__GEMM_AVX2))
        paths[avx2 = n++] = TG__GEMM_AVX2;
    if (tg__gemm_path_available(TG__GEMM_BLAS))
        paths[ob = n++] = TG__GEMM_BLAS;
    seconds(paths, n, p, reps, t);
    snprintf(shape, sizeof shape, "%s %c%c %zux%zux%zu", p->what, p->ta ? 't' : 'n',
             p->tb ? 't' : 'n', p->M, p->N, p->K);
    printf("| %-22s | %8.3f | %7.1f |", shape, t[0] * 1e6, gflops(p, t[0]));
    if (avx2)
        printf(" %7.1f |", gflops(p, t[avx2]));
    *blas = 0.0;
    if (ob) {
        *blas = t[ob];
        printf(" %8.3f | %7.1f | %5.2fx |", *blas * 1e6, gflops(p, *blas), *blas / t[0]);
    }
    printf("\n");
    return t[0];
}

static void header(void)
{
    const int avx2 = tg__gemm_builtin_path() == TG__GEMM_AVX512 &&
                     tg__gemm_path_available(TG__GEMM_AVX2);
    printf("| product (M x N x K) | %s us | GFLOP/s |%s",
           tg__gemm_path_name(tg__gemm_builtin_path()), avx2 ? " avx2 GFLOP/s |" : "");
    if (tg__gemm_path_available(TG__GEMM_BLAS))
        printf(" OpenBLAS us | GFLOP/s | speed-up |");
    printf("\n|---|--:|--:|%s%s\n", avx2 ? "--:|" : "",
           tg__gemm_path_available(TG__GEMM_BLAS) ? "--:|--:|--:|" : "");
}

static void table(int reps)
{
    static const product squares[] = { { "square", 0, 0, 256, 256, 256 },
                                       { "square", 0, 0, 512, 512, 512 } };
    header();
    for (size_t w = 0; w < sizeof workloads / sizeof workloads[0]; w++) {
        const workload *wl = &workloads[w];
        double ours = 0.0, theirs = 0.0, b;
        for (size_t l = 1; l < wl->n; l++) {
            const size_t in = wl->width[l - 1], out = wl->width[l], Bt = wl->batch;
            const product fwd = { "fwd", 0, 1, Bt, out, in };
            const product dx = { "dx", 0, 0, Bt, in, out };
            const product dw = { "dW", 1, 0, out, in, Bt };
            ours += row(&fwd, reps, &b);
            theirs += b;
            if (l > 1) {
                ours += row(&dx, reps, &b);
                theirs += b;
            }
            ours += row(&dw, reps, &b);
            theirs += b;
        }
        printf("| **%s: all** | %8.3f | |%s", wl->name, ours * 1e6,
               tg__gemm_builtin_path() == TG__GEMM_AVX512 &&
                       tg__gemm_path_available(TG__GEMM_AVX2) ? " |" : "");
        if (theirs > 0.0)
            printf(" %8.3f | | %5.2fx |", theirs * 1e6, theirs / ours);
        printf("\n");
    }
    for (size_t s = 0; s < 2; s++) {
        double b;
        row(&squares[s], reps, &b);
    }
}

/* Two threads against one on the large products, the built-in kernel: the two counts
 * take turns within each repetition (the pool is made and unmade in between, outside
 * the clock), so that the machine's load falls on both alike. The median says what a
 * loaded machine gives, the minimum what the code gives when the second core is free. */
static void scaling(int reps)
{
    static const product large[] = {
        { "fwd", 0, 1, 256, 128, 128 }, { "dx", 0, 0, 256, 128, 128 },
        { "dW", 1, 0, 128, 128, 256 },  { "fwd", 0, 1, 64, 256, 784 },
        { "dW", 1, 0, 256, 784, 64 },   { "square", 0, 0, 256, 256, 256 },
        { "square", 0, 0, 512, 512, 512 },
    };
    static double t[3][MAX_REPS];
    const tg__gemm_path path = tg__gemm_builtin_path();
    printf("\ntwo threads against one, built-in path %s; %d runs each\n\n",
           tg__gemm_path_name(path), reps);
    printf("| product (M x N x K) | 1 thread GFLOP/s | 2 threads GFLOP/s | speed-up, median | "
           "speed-up, best |\n|---|--:|--:|--:|--:|\n");
    for (size_t s = 0; s < sizeof large / sizeof large[0]; s++) {
        const product *p = &large[s];
        char shape[64];
        fill(C, p->M * p->N, 7);
        for (int r = 0; r < reps; r++)
            for (size_t n = 1; n <= 2; n++) {
                double t0;
                if (tg_set_num_threads(n) != TG_OK)
                    return;
                /* warm for 1 ms: a new pool's worker must be created and scheduled,
                 * which one product (the earlier warm-up) often did not wait for */
                t0 = bench_now_ns();
                do
                    run(path, p);
                while (bench_now_ns() - t0 < 1e6);
                t0 = bench_now_ns();
                run(path, p);
                t[n][r] = (bench_now_ns() - t0) * 1e-9;
            }
        bench_sort(t[1], (size_t)reps);
        bench_sort(t[2], (size_t)reps);
        snprintf(shape, sizeof shape, "%s %c%c %zux%zux%zu", p->what, p->ta ? 't' : 'n',
                 p->tb ? 't' : 'n', p->M, p->N, p->K);
        printf("| %-22s | %7.1f | %7.1f | %5.2fx | %5.2fx |\n", shape,
               gflops(p, t[1][reps / 2]), gflops(p, t[2][reps / 2]),
               t[1][reps / 2] / t[2][reps / 2], t[1][0] / t[2][0]);
    }
    tg_set_num_threads(1);
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 21;
    if (reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "bench_gemm: repetitions must be 1..%d\n", MAX_REPS);
        return 1;
    }
    A = malloc(MAX_DIM * MAX_DIM * sizeof *A);
    B = malloc(MAX_DIM * MAX_DIM * sizeof *B);
    C = malloc(MAX_DIM * MAX_DIM * sizeof *C);
    if (!A || !B || !C) {
        fprintf(stderr, "bench_gemm: out of memory\n");
        return 1;
    }
    fill(A, MAX_DIM * MAX_DIM, 1);
    fill(B, MAX_DIM * MAX_DIM, 2);
    for (size_t threads = 1; threads <= 2; threads++) {
        if (tg_set_num_threads(threads) != TG_OK) {   /* OpenBLAS's count too */
            fprintf(stderr, "bench_gemm: %s\n", tg_last_error());
            return 1;
        }
        printf("\n%zu thread%s, built-in path %s%s; median of %d runs\n\n", threads,
               threads > 1 ? "s" : "", tg__gemm_path_name(tg__gemm_builtin_path()),
               tg__gemm_path_available(TG__GEMM_BLAS) ? ", against OpenBLAS cblas_sgemm"
                                                      : " (no OpenBLAS in this build)",
               reps);
        table(reps);
    }
    scaling(reps);
    tg_set_num_threads(1);
    free(A);
    free(B);
    free(C);
    return 0;
}
