/* Plain C micro-kernels of the blocked GEMM (the contract is in gemm_isa.h): the path
 * for any architecture, and for x86-64 CPUs older than AVX2. A 4 x 8 tile whose full
 * instance has constant loop bounds, so the compiler can keep it in vector registers;
 * no dot kernel (A B^T packs B like any transposed B). */
#include "gemm_isa.h"

enum { MR = 4, NR = 8, KC = 256, MC = 240 };
_Static_assert(KC * NR <= TG__GEMM_PACK_FLOATS && MR * NR <= TG__GEMM_TILE_FLOATS &&
               MC % MR == 0, "gemm_isa.h's buffer sizes hold this set's blocks");

/* C[m,n] = alpha acc + beta C, acc[i][j] over the kc terms. */
static void put(size_t m, size_t n, float acc[MR][NR], float alpha, float beta, float *c,
                size_t ldc)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? alpha * acc[i][j]
                                          : alpha * acc[i][j] + beta * c[i * ldc + j];
}

static void tile(size_t m, size_t n, size_t kc, const float *a, size_t rsa, size_t csa,
                 const float *b, size_t rsb, float alpha, float beta, float *c, size_t ldc)
{
    float acc[MR][NR] = { { 0.0f } };
    if (m == MR && n == NR) {   /* the full tile: constant bounds */
        for (size_t k = 0; k < kc; k++, a += csa, b += rsb)
            for (size_t i = 0; i < MR; i++) {
                const float ai = a[i * rsa];
                for (size_t j = 0; j < NR; j++)
                    acc[i][j] += ai * b[j];
            }
    } else {
        for (size_t k = 0; k < kc; k++, a += csa, b += rsb)
            for (size_t i = 0; i < m; i++) {
                const float ai = a[i * rsa];
                for (size_t j = 0; j < n; j++)
                    acc[i][j] += ai * b[j];
            }
    }
    put(m, n, acc, alpha, beta, c, ldc);
}

static void pack_bt(size_t kc, size_t n, const float *b, size_t ldb, float *dst)
{
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < kc; k++)
            dst[k * NR + j] = b[j * ldb + k];
}

const tg__gemm_kernels tg__gemm_kernels_portable = {
    .mr = MR, .nr = NR, .kc = KC, .mc = MC, .tile = tile, .pack_bt = pack_bt,
    .dot = NULL, .dot_mr = 0, .dot_nr = 0,
    .dot_cols = 0, .dot_rows = 0, .dot_long_k = 0,
};
