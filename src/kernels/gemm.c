/* The one matrix product of the library: linear and matmul call tg__gemm, and it picks
 * the back end. OpenBLAS (when configured) for products large enough to repay its call
 * overhead, unless its kernels are narrower than the built-in's (gemm.h); otherwise the
 * built-in blocked kernel on the widest instruction set this CPU has: AVX-512F,
 * AVX2 + FMA, or plain C on any other machine. */
#include <pthread.h>
#include "internal.h"
#include "gemm.h"
#include "threads.h"

/* Products of fewer flops (2 M N K) than this stay on the built-in kernel even when
 * OpenBLAS is there. bench/bench_gemm measured OpenBLAS's fixed cost per call at about
 * 0.2 us (its smallest products) and the built-in kernel 1.15-3.5x faster on the
 * workloads' small products, most of them with the dot kernel or the tiles of C^T;
 * from 2^20 flops (about 5 us of OpenBLAS) the fixed cost is a few percent. */
#define TG__GEMM_BLAS_FLOPS (1u << 20)

const char *tg__gemm_path_name(tg__gemm_path p)
{
    switch (p) {
    case TG__GEMM_REF: return "reference";
    case TG__GEMM_PORTABLE: return "portable";
    case TG__GEMM_AVX2: return "avx2";
    case TG__GEMM_AVX512: return "avx512";
    case TG__GEMM_BLAS: return "openblas";
    case TG__GEMM_N_PATHS: break;
    }
    return "unknown";
}

int tg__gemm_path_available(tg__gemm_path p)
{
    switch (p) {
    case TG__GEMM_REF:
    case TG__GEMM_PORTABLE:
        return 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case TG__GEMM_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case TG__GEMM_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
    case TG__GEMM_BLAS:
#ifdef TG_HAVE_CBLAS
        return 1;
#else
        return 0;
#endif
    default:
        return 0;
    }
}

/* The CPU does not change under a process: the widest path is found once. */
static pthread_once_t widest_once = PTHREAD_ONCE_INIT;
static tg__gemm_path widest;

static void find_widest(void)
{
    widest = tg__gemm_path_available(TG__GEMM_AVX512) ? TG__GEMM_AVX512
             : tg__gemm_path_available(TG__GEMM_AVX2) ? TG__GEMM_AVX2
                                                      : TG__GEMM_PORTABLE;
}

tg__gemm_path tg__gemm_builtin_path(void)
{
    pthread_once(&widest_once, find_widest);
    return widest;
}

static void blas_product(int ta, int tb, size_t M, size_t N, size_t K, float alpha,
                         const float *A, size_t lda, const float *B, size_t ldb, float beta,
                         float *C, size_t ldc)
{
    if (M == 0 || N == 0)
        return;
    if (K == 0 || alpha == 0.0f) {   /* BLAS would too; this also spares it K = 0 */
        tg__gemm_scale(M, N, beta, C, ldc);
        return;
    }
    tg__threads_blas_init();
    tg__gemm_blas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void tg__gemm_on(tg__gemm_path p, int ta, int tb, size_t M, size_t N, size_t K, float alpha,
                 const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
                 size_t ldc)
{
    if (p == TG__GEMM_BLAS && tg__gemm_path_available(p) &&
        tg__gemm_blas_ok(M, N, K, lda, ldb, ldc))
        blas_product(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else if (p != TG__GEMM_REF && p != TG__GEMM_BLAS && tg__gemm_path_available(p))
        tg__gemm_blocked(p, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        tg__gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

tg__gemm_path tg__gemm_dispatch(size_t M, size_t N, size_t K, size_t lda, size_t ldb,
                                size_t ldc)
{
    if (tg__gemm_path_available(TG__GEMM_BLAS) &&
        2.0 * (double)M * (double)N * (double)K >= (double)TG__GEMM_BLAS_FLOPS &&
        tg__gemm_blas_ok(M, N, K, lda, ldb, ldc) && tg__gemm_blas_preferred())
        return TG__GEMM_BLAS;
    return tg__gemm_builtin_path();
}

void tg__gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, const float *A,
              size_t lda, const float *B, size_t ldb, float beta, float *C, size_t ldc)
{
    const tg__gemm_path p = tg__gemm_dispatch(M, N, K, lda, ldb, ldc);
    if (p == TG__GEMM_BLAS)
        blas_product(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    else
        tg__gemm_blocked(p, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
