/* The reference matrix product: the plain loops every other back end is tested
 * against. Row-major; loop orders keep the innermost loop contiguous in memory. It is
 * never dispatched to; tg__gemm_on(TG__GEMM_REF, ...) and the tests call it. */
#include <string.h>
#include "internal.h"
#include "gemm.h"

void tg__gemm_scale(size_t M, size_t N, float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, N * sizeof *c);
        else if (beta != 1.0f)
            for (size_t j = 0; j < N; j++)
                c[j] *= beta;
    }
}

/* C += alpha A B: rows of C gather scaled rows of B. */
static void gemm_nn(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                    const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        for (size_t k = 0; k < K; k++) {
            const float a = alpha * A[i * lda + k];
            const float *b = B + k * ldb;
            for (size_t j = 0; j < N; j++)
                c[j] += a * b[j];
        }
    }
}

/* C += alpha A B^T: each element is a dot product of two contiguous rows. */
static void gemm_nt(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                    const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++) {
        const float *a = A + i * lda;
        for (size_t j = 0; j < N; j++) {
            const float *b = B + j * ldb;
            float s = 0.0f;
            for (size_t k = 0; k < K; k++)
                s += a[k] * b[k];
            C[i * ldc + j] += alpha * s;
        }
    }
}

/* C += alpha A^T B: rank-one updates, one per row k of A and B. */
static void gemm_tn(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                    const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t k = 0; k < K; k++) {
        const float *b = B + k * ldb;
        for (size_t i = 0; i < M; i++) {
            const float a = alpha * A[k * lda + i];
            float *c = C + i * ldc;
            for (size_t j = 0; j < N; j++)
                c[j] += a * b[j];
        }
    }
}

/* C += alpha A^T B^T: rare; plain triple loop. */
static void gemm_tt(size_t M, size_t N, size_t K, float alpha, const float *A, size_t lda,
                    const float *B, size_t ldb, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            float s = 0.0f;
            for (size_t k = 0; k < K; k++)
                s += A[k * lda + i] * B[j * ldb + k];
            C[i * ldc + j] += alpha * s;
        }
}

void tg__gemm_ref(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                  size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    if (M == 0 || N == 0)   /* nothing to do; C may be NULL */
        return;
    tg__gemm_scale(M, N, beta, C, ldc);
    if (alpha == 0.0f)      /* BLAS semantics: A and B are not read */
        return;
    if (!ta && !tb)
        gemm_nn(M, N, K, alpha, A, lda, B, ldb, C, ldc);
    else if (!ta)
        gemm_nt(M, N, K, alpha, A, lda, B, ldb, C, ldc);
    else if (!tb)
        gemm_tn(M, N, K, alpha, A, lda, B, ldb, C, ldc);
    else
        gemm_tt(M, N, K, alpha, A, lda, B, ldb, C, ldc);
}
