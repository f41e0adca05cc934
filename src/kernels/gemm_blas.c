/* The CBLAS back end: cblas_sgemm from OpenBLAS, when ./configure found it
 * (--with-blas=auto|openblas). Without it this file only keeps the thread-count hook. */
#include <limits.h>
#include "internal.h"
#include "gemm.h"

#ifdef TG_HAVE_CBLAS
#include <pthread.h>
#include <strings.h>
#include <cblas.h>

/* OpenBLAS's kernels for these cores are AVX-512 (0.3.21 names them so). */
static const char *const avx512_cores[] = { "SkylakeX", "Cooperlake", "SapphireRapids" };

static pthread_once_t prefer_once = PTHREAD_ONCE_INIT;
static int prefer;

static void decide(void)
{
    const char *core = openblas_get_corename();
    int avx512 = 0;
    for (size_t i = 0; core && i < sizeof avx512_cores / sizeof avx512_cores[0]; i++)
        avx512 |= strcasecmp(core, avx512_cores[i]) == 0;
    prefer = avx512 || tg__gemm_builtin_path() != TG__GEMM_AVX512;
}

int tg__gemm_blas_preferred(void)
{
    pthread_once(&prefer_once, decide);
    return prefer;
}

int tg__gemm_blas_ok(size_t M, size_t N, size_t K, size_t lda, size_t ldb, size_t ldc)
{
    /* blasint is int in the usual (LP64) builds */
    const size_t most = (size_t)INT_MAX;
    return M <= most && N <= most && K <= most && lda <= most && ldb <= most && ldc <= most;
}

void tg__gemm_blas(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

void tg__gemm_blas_set_threads(size_t n)
{
    openblas_set_num_threads((int)n);
}

#else

int tg__gemm_blas_preferred(void)
{
    return 0;
}

int tg__gemm_blas_ok(size_t M, size_t N, size_t K, size_t lda, size_t ldb, size_t ldc)
{
    (void)M, (void)N, (void)K, (void)lda, (void)ldb, (void)ldc;
    return 0;
}

void tg__gemm_blas(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
                   size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    tg__gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void tg__gemm_blas_set_threads(size_t n)
{
    (void)n;
}

#endif
