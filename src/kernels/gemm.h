/* The matrix product's back ends, behind the one entry point tg__gemm (internal.h).
 *
 * Every back end computes C[M,N] = alpha op(A) op(B) + beta C, row-major, with the
 * semantics of tg__gemm: beta 0 ignores C's old contents (NaN included), and alpha 0
 * or K 0 leaves C = beta C without reading A or B (as BLAS does). C must not overlap A
 * or B. Leading dimensions are at least the stored row lengths.
 *
 * A back end's result depends only on the shape, the transposes, the scalars and the
 * back end: never on the thread count, on which thread runs which block, or on whether
 * another thread holds the pool. That is what makes training runs reproducible bit for
 * bit on one machine and build. */
#ifndef TAPEGRAD_KERNELS_GEMM_H
#define TAPEGRAD_KERNELS_GEMM_H

#include <stddef.h>

typedef enum {
    TG__GEMM_REF,       /* the plain loops (gemm_ref.c): the reference, never dispatched to */
    TG__GEMM_PORTABLE,  /* the blocked kernel in plain C: any architecture */
    TG__GEMM_AVX2,      /* the blocked kernel, AVX2 + FMA micro-kernels (x86-64) */
    TG__GEMM_AVX512,    /* the blocked kernel, AVX-512F micro-kernels (x86-64) */
    TG__GEMM_BLAS,      /* cblas_sgemm (when configure found OpenBLAS) */
    TG__GEMM_N_PATHS
} tg__gemm_path;

/* Name of a path ("avx512", ...), for messages and benchmarks. */
const char *tg__gemm_path_name(tg__gemm_path p);
/* 1 when the path is compiled in and this CPU runs it. */
int tg__gemm_path_available(tg__gemm_path p);
/* The built-in path tg__gemm uses on this CPU: the widest available. */
tg__gemm_path tg__gemm_builtin_path(void);
/* The product on one chosen path (an internal override of the dispatch, for tests and
 * benchmarks); a path that is not available falls back to the reference loops. The
 * built-in paths split large products over the thread pool. */
void tg__gemm_on(tg__gemm_path p, int ta, int tb, size_t M, size_t N, size_t K, float alpha,
                 const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                 size_t ldc);

/* The reference: plain loops, one output row or rank-one update at a time. */
void tg__gemm_ref(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                  size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);

/* The blocked kernel (gemm_blocked.c) on a built-in path. */
void tg__gemm_blocked(tg__gemm_path p, int ta, int tb, size_t M, size_t N, size_t K,
                      float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                      float beta, float *C, size_t ldc);

/* cblas_sgemm (gemm_blas.c); tg__gemm_blas_ok says whether the shape fits its int
 * arguments. Only when TG_HAVE_CBLAS is defined. */
int tg__gemm_blas_ok(size_t M, size_t N, size_t K, size_t lda, size_t ldb, size_t ldc);
void tg__gemm_blas(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc);
/* Whether large products go to OpenBLAS: not when the built-in kernel is AVX-512 and
 * OpenBLAS runs no AVX-512 kernel on this CPU (its core name says which), as the
 * Debian build does on AMD Zen 4/5: there the built-in is faster at every size
 * (bench/README.md). Fixed for the process, so dispatch stays reproducible. 0 without
 * CBLAS. */
int tg__gemm_blas_preferred(void);
/* The path tg__gemm takes for this product. */
tg__gemm_path tg__gemm_dispatch(size_t M, size_t N, size_t K, size_t lda, size_t ldb,
                                size_t ldc);
/* Passes the library's thread count on to OpenBLAS; a no-op without CBLAS. */
void tg__gemm_blas_set_threads(size_t n);

/* C = beta C over an M x N block (beta 0 writes zeros whatever C held). */
void tg__gemm_scale(size_t M, size_t N, float beta, float *C, size_t ldc);

#endif
