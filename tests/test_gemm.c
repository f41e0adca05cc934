/* The matrix product: every back end (the reference loops, the blocked kernel on each
 * instruction set this CPU runs, OpenBLAS when configured) against a double-precision
 * product and against the reference, over many shapes, all four transpose combinations,
 * several alpha and beta, padded leading dimensions and non-finite values.
 *
 * Tolerance. Each back end sums the K products in float32 (u = 2^-24) in some order,
 * cut into k-blocks of at least 64 terms that are added onto C one after another, and
 * applies alpha and beta: at most K + ceil(K/64) + 3 roundings along any term's path, so
 * |C - exact| <= gamma_n (|alpha| sum_k |a_ik b_kj| + |beta c_ij|) with
 * n = K + ceil(K/64) + 3 and gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability of
 * Numerical Algorithms, 2nd ed., eq. 3.5, applied to the summation tree). The double
 * reference is exact to 2^-53 relative on the same magnitude, added to the bound. Two
 * back ends then agree within twice the bound. A wrong or missing term is off by about
 * |a b| ~ magnitude / K, far above the bound for every K here. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"
#include "../src/core/internal.h"
#include "../src/kernels/gemm.h"

/* A padded operand: rows x cols inside ld >= cols, the padding filled with NaN so that
 * a back end reading outside the matrix poisons its result. */
typedef struct {
    size_t rows, cols, ld;
    float *v;
} mat;

static mat mat_new(size_t rows, size_t cols, size_t pad, tg_pcg32 *rng)
{
    mat m = { rows, cols, cols + pad, NULL };
    m.v = malloc((rows * m.ld + 1) * sizeof *m.v);
    cr_assert_not_null(m.v);
    for (size_t i = 0; i < rows * m.ld + 1; i++)
        m.v[i] = NAN;
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            m.v[i * m.ld + j] = tu_draw(rng);
    return m;
}

static float *copy_of(const mat *m)
{
    float *c = malloc((m->rows * m->ld + 1) * sizeof *c);
    cr_assert_not_null(c);
    memcpy(c, m->v, (m->rows * m->ld + 1) * sizeof *c);
    return c;
}

typedef struct {
    int ta, tb;
    size_t M, N, K;
    float alpha, beta;
    size_t pad;          /* extra columns in every leading dimension */
} problem;

/* Operands of a problem: A stored [M,K] or [K,M], B [K,N] or [N,K], C [M,N]. */
typedef struct {
    mat A, B, C;
} operands;

static operands operands_new(const problem *p, uint64_t seed)
{
    tg_pcg32 rng;
    operands o;
    tg_pcg32_seed(&rng, seed, 11);
    o.A = p->ta ? mat_new(p->K, p->M, p->pad, &rng) : mat_new(p->M, p->K, p->pad, &rng);
    o.B = p->tb ? mat_new(p->N, p->K, p->pad, &rng) : mat_new(p->K, p->N, p->pad, &rng);
    o.C = mat_new(p->M, p->N, p->pad, &rng);
    return o;
}

static void operands_free(operands *o)
{
    free(o->A.v);
    free(o->B.v);
    free(o->C.v);
}

static float at_a(const problem *p, const mat *A, size_t i, size_t k)
{
    return p->ta ? A->v[k * A->ld + i] : A->v[i * A->ld + k];
}

static float at_b(const problem *p, const mat *B, size_t k, size_t j)
{
    return p->tb ? B->v[j * B->ld + k] : B->v[k * B->ld + j];
}

static double bound(size_t K, double mag)
{
    const size_t n = K + (K + 63) / 64 + 3;
    return (tu_gamma(n, 0x1p-24) + tu_gamma(K + 3, 0x1p-53)) * mag;
}

static void run(tg__gemm_path path, const problem *p, const operands *o, float *C)
{
    tg__gemm_on(path, p->ta, p->tb, p->M, p->N, p->K, p->alpha, o->A.v, o->A.ld, o->B.v,
                o->B.ld, p->beta, C, o->C.ld);
}

static const char *name_of(const problem *p, char *buf, size_t len)
{
    snprintf(buf, len, "%c%c M=%zu N=%zu K=%zu alpha=%g beta=%g pad=%zu", p->ta ? 't' : 'n',
             p->tb ? 't' : 'n', p->M, p->N, p->K, (double)p->alpha, (double)p->beta, p->pad);
    return buf;
}

/* The double product and the error bound of every element of C, computed once per
 * problem. */
typedef struct {
    double *want, *tol;
} exact;

static exact exact_new(const problem *p, const operands *o)
{
    exact e = { malloc(p->M * p->N * sizeof(double)), malloc(p->M * p->N * sizeof(double)) };
    double *row = malloc((p->K + 1) * sizeof *row);
    cr_assert(e.want && e.tol && row);
    for (size_t i = 0; i < p->M; i++) {
        for (size_t k = 0; k < p->K; k++)
            row[k] = at_a(p, &o->A, i, k);
        for (size_t j = 0; j < p->N; j++) {
            const double c0 = o->C.v[i * o->C.ld + j];
            double s = 0.0, mag = 0.0;
            if (p->alpha != 0.0f)
                for (size_t k = 0; k < p->K; k++) {
                    const double t = row[k] * at_b(p, &o->B, k, j);
                    s += t;
                    mag += fabs(t);
                }
            e.want[i * p->N + j] =
                (double)p->alpha * s + (p->beta == 0.0f ? 0.0 : (double)p->beta * c0);
            e.tol[i * p->N + j] = bound(p->K, fabs((double)p->alpha) * mag +
                                                  (p->beta == 0.0f ? 0.0 : fabs(p->beta * c0)));
        }
    }
    free(row);
    return e;
}

/* got (a product on `path`, from the C of o) against the double product and against the
 * reference ref; C's padding must be untouched. */
static void judge(tg__gemm_path path, const problem *p, const operands *o, const exact *e,
                  const float *got, const float *ref)
{
    char what[128];
    name_of(p, what, sizeof what);
    for (size_t i = 0; i < p->M; i++) {
        for (size_t j = 0; j < p->N; j++) {
            const float g = got[i * o->C.ld + j], r = ref[i * o->C.ld + j];
            const double want = e->want[i * p->N + j], tol = e->tol[i * p->N + j];
            cr_assert(fabs(g - want) <= tol, "%s %s: C[%zu][%zu] = %.9g, exact %.9g, bound %.3g",
                      tg__gemm_path_name(path), what, i, j, (double)g, want, tol);
            cr_assert(fabs(g - r) <= 2.0 * tol, "%s %s: C[%zu][%zu] = %.9g, reference %.9g",
                      tg__gemm_path_name(path), what, i, j, (double)g, (double)r);
        }
        for (size_t j = p->N; j < o->C.ld; j++)
            cr_assert(isnan(got[i * o->C.ld + j]), "%s %s: wrote C[%zu][%zu] outside C",
                      tg__gemm_path_name(path), what, i, j);
    }
}

/* Runs p on every available path and judges each. */
static void check_all_paths(const problem *p, uint64_t seed)
{
    operands o = operands_new(p, seed);
    exact e = exact_new(p, &o);
    float *ref = copy_of(&o.C), *got = copy_of(&o.C);
    run(TG__GEMM_REF, p, &o, ref);
    for (int path = 0; path < TG__GEMM_N_PATHS; path++) {
        if (!tg__gemm_path_available((tg__gemm_path)path))
            continue;
        memcpy(got, o.C.v, (o.C.rows * o.C.ld + 1) * sizeof *got);
        run((tg__gemm_path)path, p, &o, got);
        judge((tg__gemm_path)path, p, &o, &e, got, ref);
    }
    free(e.want);
    free(e.tol);
    free(ref);
    free(got);
    operands_free(&o);
}

Test(gemm, paths_available_and_widest_dispatched)
{
    const tg__gemm_path b = tg__gemm_builtin_path();
    cr_assert(tg__gemm_path_available(TG__GEMM_REF));
    cr_assert(tg__gemm_path_available(TG__GEMM_PORTABLE));
    cr_assert(tg__gemm_path_available(b));
    for (int p = b + 1; p < TG__GEMM_BLAS; p++)
        cr_assert(!tg__gemm_path_available((tg__gemm_path)p),
                  "%s is available but tg__gemm dispatches to %s",
                  tg__gemm_path_name((tg__gemm_path)p), tg__gemm_path_name(b));
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    cr_assert_eq(tg__gemm_path_available(TG__GEMM_AVX512),
                 __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma"));
    cr_assert_eq(tg__gemm_path_available(TG__GEMM_AVX2),
                 __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
#endif
#ifdef TG_HAVE_CBLAS
    cr_assert(tg__gemm_path_available(TG__GEMM_BLAS));
#else
    cr_assert(!tg__gemm_path_available(TG__GEMM_BLAS));
#endif
}

/* Every small shape around the micro-tile edges (4, 6, 12 rows; 8, 16, 32 columns; the
 * dot kernel's 4 x 4 and 4 x 2), all four transposes. */
Test(gemm, small_shapes_all_transposes_agree)
{
    static const size_t mn[] = { 1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 16, 17, 31, 32, 33 };
    static const size_t ks[] = { 1, 2, 3, 7, 16, 17, 65 };
    uint64_t seed = 1;
    for (int t = 0; t < 4; t++)
        for (size_t a = 0; a < sizeof mn / sizeof mn[0]; a++)
            for (size_t b = 0; b < sizeof mn / sizeof mn[0]; b++)
                for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++) {
                    const problem p = { t >> 1, t & 1, mn[a], mn[b], ks[c], 1.0f, 1.0f, 0 };
                    check_all_paths(&p, seed++);
                }
}

/* Larger shapes from 1..300: primes, and the edges of the k-block (256), the row block
 * (240) and the dot kernel's limits (16, 64), with padded leading dimensions. Every
 * value comes once as M, once as N and once as K for each transpose combination, but
 * for a few products over 2^22 terms that take a smaller K (to keep the suite fast
 * under valgrind: the double reference is a plain loop). */
Test(gemm, shapes_to_300_all_transposes_agree)
{
    static const size_t dims[] = { 1,   2,   5,   13,  16,  31,  47,  63,  64,  65,  97,
                                   127, 129, 191, 239, 240, 241, 255, 256, 257, 263, 300 };
    const size_t nd = sizeof dims / sizeof dims[0];
    for (int t = 0; t < 4; t++)
        for (size_t r = 0; r < nd; r++) {
            problem p = { t >> 1, t & 1, dims[r], dims[(7 * r + 3 + (size_t)t) % nd],
                          dims[(13 * r + 5 + 3 * (size_t)t) % nd], 1.0f, r % 2 ? 1.0f : 0.0f,
                          (r % 3) * 5 };
            if (p.M * p.N * p.K > (1u << 22))
                p.K = dims[(r + (size_t)t) % 11];
            check_all_paths(&p, 1000 + r);
        }
}

/* The products training makes (y = x W^T; dx = D W; dW = D^T x) for the layers of the
 * benchmark's workloads at their batch sizes, and at batch 1. */
Test(gemm, training_shapes_agree)
{
    static const struct { size_t batch, n, width[5]; } nets[] = {
        { 32, 4, { 2, 64, 64, 1 } },          { 256, 4, { 2, 128, 128, 2 } },
        { 64, 4, { 784, 256, 256, 10 } },     { 256, 5, { 34, 128, 128, 128, 2 } },
    };
    uint64_t seed = 1;
    for (size_t w = 0; w < sizeof nets / sizeof nets[0]; w++)
        for (size_t l = 1; l < nets[w].n; l++)
            for (size_t b = 0; b < 2; b++) {
                const size_t B = b ? nets[w].batch : 1, in = nets[w].width[l - 1],
                             out = nets[w].width[l];
                const problem fwd = { 0, 1, B, out, in, 1.0f, 1.0f, 0 };
                const problem dx = { 0, 0, B, in, out, 1.0f, 1.0f, 0 };
                const problem dw = { 1, 0, out, in, B, 1.0f, 1.0f, 0 };
                check_all_paths(&fwd, seed++);
                check_all_paths(&dx, seed++);
                check_all_paths(&dw, seed++);
            }
}

Test(gemm, alpha_beta_combinations_agree)
{
    static const float alphas[] = { 1.0f, -0.5f, 3.0f, 0.0f };
    static const float betas[] = { 0.0f, 1.0f, -2.0f, 0.25f };
    /* K > 256 crosses a k-block (later blocks add on with beta 1); few columns take the
     * dot kernel or the tiles of C^T */
    static const size_t shapes[][3] = { { 7, 5, 3 }, { 13, 33, 17 }, { 29, 37, 300 },
                                        { 70, 2, 65 } };
    uint64_t seed = 5;
    for (int t = 0; t < 4; t++)
        for (size_t s = 0; s < 4; s++)
            for (size_t a = 0; a < 4; a++)
                for (size_t b = 0; b < 4; b++) {
                    const problem p = { t >> 1, t & 1, shapes[s][0], shapes[s][1],
                                        shapes[s][2], alphas[a], betas[b], 3 };
                    check_all_paths(&p, seed++);
                }
}

/* beta 0 ignores what C held, NaN included; alpha 0 does not read A or B (BLAS
 * semantics), and neither does K 0. */
Test(gemm, beta_zero_and_alpha_zero_semantics)
{
    for (int path = 0; path < TG__GEMM_N_PATHS; path++) {
        if (!tg__gemm_path_available((tg__gemm_path)path))
            continue;
        for (int t = 0; t < 4; t++) {
            const size_t M = 37, N = 45, K = 29;
            float *A = malloc(M * K * sizeof *A), *B = malloc(K * N * sizeof *B),
                  *C = malloc(M * N * sizeof *C);
            const int ta = t >> 1, tb = t & 1;
            cr_assert(A && B && C);
            for (size_t i = 0; i < M * K; i++)
                A[i] = 1.0f;
            for (size_t i = 0; i < K * N; i++)
                B[i] = 0.5f;
            for (size_t i = 0; i < M * N; i++)
                C[i] = NAN;
            tg__gemm_on((tg__gemm_path)path, ta, tb, M, N, K, 2.0f, A, ta ? M : K, B,
                        tb ? K : N, 0.0f, C, N);
            for (size_t i = 0; i < M * N; i++)
                cr_assert_eq(C[i], (float)K, "%s: beta 0 kept C's NaN at %zu",
                             tg__gemm_path_name((tg__gemm_path)path), i);
            for (size_t i = 0; i < M * K; i++)
                A[i] = NAN;
            tg__gemm_on((tg__gemm_path)path, ta, tb, M, N, K, 0.0f, A, ta ? M : K, B,
                        tb ? K : N, -0.5f, C, N);
            for (size_t i = 0; i < M * N; i++)
                cr_assert_eq(C[i], -0.5f * (float)K, "%s: alpha 0 read A",
                             tg__gemm_path_name((tg__gemm_path)path));
            tg__gemm_on((tg__gemm_path)path, ta, tb, M, N, 0, 1.0f, A, 1, B, 1, 0.0f, C, N);
            for (size_t i = 0; i < M * N; i++)
                cr_assert_eq(C[i], 0.0f, "%s: K 0 with beta 0 left %g",
                             tg__gemm_path_name((tg__gemm_path)path), (double)C[i]);
            /* M or N zero: nothing is touched */
            tg__gemm_on((tg__gemm_path)path, ta, tb, 0, N, K, 1.0f, A, 1, B, 1, 0.0f, NULL, N);
            tg__gemm_on((tg__gemm_path)path, ta, tb, M, 0, K, 1.0f, A, 1, B, 1, 0.0f, NULL, 1);
            free(A);
            free(B);
            free(C);
        }
    }
}

/* Infinities and NaN in A or B reach exactly the outputs they should, as in the
 * reference: an infinite a_ik makes row i infinite (or NaN where it meets a 0 or an
 * opposite infinity), -0 and tiny values pass through. */
Test(gemm, nonfinite_and_signed_zero_propagate_as_in_reference)
{
    const size_t M = 29, N = 41, K = 70;
    for (int path = 0; path < TG__GEMM_N_PATHS; path++) {
        if (!tg__gemm_path_available((tg__gemm_path)path))
            continue;
        for (int t = 0; t < 4; t++) {
            const int ta = t >> 1, tb = t & 1;
            tg_pcg32 rng;
            float *A = malloc(M * K * sizeof *A), *B = malloc(K * N * sizeof *B),
                  *C = malloc(M * N * sizeof *C), *R = malloc(M * N * sizeof *R);
            cr_assert(A && B && C && R);
            tg_pcg32_seed(&rng, 3, (uint64_t)t);
            for (size_t i = 0; i < M * K; i++)
                A[i] = tu_draw(&rng);
            for (size_t i = 0; i < K * N; i++)
                B[i] = tu_draw(&rng);
            /* op(A)(3, 5) = +inf, op(A)(7, 0..K) = -0, op(B)(9, 4) = NaN, tiny values */
            A[ta ? 5 * M + 3 : 3 * K + 5] = INFINITY;
            for (size_t k = 0; k < K; k++)
                A[ta ? k * M + 7 : 7 * K + k] = -0.0f;
            B[tb ? 4 * K + 9 : 9 * N + 4] = NAN;
            A[ta ? 2 * M + 11 : 11 * K + 2] = 0x1p-140f;   /* subnormal */
            for (size_t i = 0; i < M * N; i++)
                C[i] = R[i] = -0.0f;
            tg__gemm_on(TG__GEMM_REF, ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N,
                        1.0f, R, N);
            tg__gemm_on((tg__gemm_path)path, ta, tb, M, N, K, 1.0f, A, ta ? M : K, B,
                        tb ? K : N, 1.0f, C, N);
            for (size_t i = 0; i < M; i++)
                for (size_t j = 0; j < N; j++) {
                    const float c = C[i * N + j], r = R[i * N + j];
                    const char *pn = tg__gemm_path_name((tg__gemm_path)path);
                    if (isnan(r) || isinf(r)) {
                        cr_assert(isnan(r) ? isnan(c) : c == r, "%s t=%d C[%zu][%zu] = %g, "
                                  "reference %g", pn, t, i, j, (double)c, (double)r);
                    } else {
                        cr_assert(isfinite(c), "%s t=%d C[%zu][%zu] = %g", pn, t, i, j,
                                  (double)c);
                        if (i == 7)   /* a row of -0 times finite values: a zero */
                            cr_assert(c == 0.0f, "%s: row of -0 gave %g", pn, (double)c);
                    }
                }
            cr_assert(isinf(C[3 * N + 0]), "an infinity in row 3 of op(A) must reach C[3][0]");
            cr_assert(isnan(C[0 * N + 4]), "a NaN in column 4 of op(B) must reach C[0][4]");
            free(A);
            free(B);
            free(C);
            free(R);
        }
    }
}

/* Large values: a product past FLT_MAX overflows to infinity in every back end, and
 * huge terms that cancel leave a finite result. */
Test(gemm, huge_values_overflow_or_cancel)
{
    enum { M = 6, N = 33, K = 3 };
    for (int path = 0; path < TG__GEMM_N_PATHS; path++) {
        float A[M * K], B[K * N], C[M * N];
        if (!tg__gemm_path_available((tg__gemm_path)path))
            continue;
        for (size_t i = 0; i < M; i++) {   /* even rows 2^100 1 1, odd rows 2^60 2^60 1 */
            A[i * K + 0] = i % 2 ? 0x1p60f : 0x1p100f;
            A[i * K + 1] = i % 2 ? 0x1p60f : 1.0f;
            A[i * K + 2] = 1.0f;
        }
        for (size_t j = 0; j < N; j++) {   /* every column 2^60 -2^60 1 */
            B[0 * N + j] = 0x1p60f;
            B[1 * N + j] = -0x1p60f;
            B[2 * N + j] = 1.0f;
        }
        tg__gemm_on((tg__gemm_path)path, 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
        for (size_t i = 0; i < M; i++)
            for (size_t j = 0; j < N; j++)
                cr_assert(i % 2 ? isfinite(C[i * N + j]) : C[i * N + j] == INFINITY,
                          "%s: C[%zu][%zu] = %g", tg__gemm_path_name((tg__gemm_path)path), i,
                          j, (double)C[i * N + j]);
    }
}

/* With two threads, every path still agrees with the double product: the built-in
 * kernel's split (bit-identical to one thread, test_threads.c) and OpenBLAS's own. */
Test(gemm, paths_agree_on_two_threads)
{
    static const size_t shapes[][3] = { { 200, 160, 130 }, { 61, 257, 300 }, { 300, 2, 129 } };
    cr_assert_eq(tg_set_num_threads(2), TG_OK, "%s", tg_last_error());
    for (size_t s = 0; s < 3; s++)
        for (int t = 0; t < 4; t++) {
            const problem p = { t >> 1, t & 1, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f,
                                0.5f, 1 };
            check_all_paths(&p, 70 + s);
        }
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

/* tg__gemm itself: what linear and matmul call gives the chosen back end's result, bit
 * for bit; small products never go to OpenBLAS. */
Test(gemm, entry_point_matches_dispatched_path)
{
    static const size_t shapes[][3] = { { 32, 64, 2 }, { 256, 128, 64 }, { 64, 100, 300 },
                                        { 3, 1, 5 } };
    for (size_t s = 0; s < 4; s++)
        for (int t = 0; t < 4; t++) {
            const problem p = { t >> 1, t & 1, shapes[s][0], shapes[s][1], shapes[s][2], 1.0f,
                                1.0f, 0 };
            operands o = operands_new(&p, 40 + s);
            exact e = exact_new(&p, &o);
            float *ref = copy_of(&o.C), *got = copy_of(&o.C), *on = copy_of(&o.C);
            tg__gemm(p.ta, p.tb, p.M, p.N, p.K, 1.0f, o.A.v, o.A.ld, o.B.v, o.B.ld, 1.0f, got,
                     o.C.ld);
            run(TG__GEMM_REF, &p, &o, ref);
            judge(tg__gemm_builtin_path(), &p, &o, &e, got, ref);
            run(tg__gemm_dispatch(p.M, p.N, p.K, o.A.ld, o.B.ld, o.C.ld), &p, &o, on);
            cr_assert_eq(memcmp(on, got, p.M * o.C.ld * sizeof *got), 0,
                         "tg__gemm differs from the path it dispatches to");
            if (2.0 * (double)p.M * (double)p.N * (double)p.K < 1e6)
                cr_assert_neq(tg__gemm_dispatch(p.M, p.N, p.K, o.A.ld, o.B.ld, o.C.ld),
                              TG__GEMM_BLAS);
            free(e.want);
            free(e.tol);
            free(ref);
            free(got);
            free(on);
            operands_free(&o);
        }
}
