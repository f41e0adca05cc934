/* The micro-kernels one instruction set provides to the blocked GEMM driver
 * (gemm_blocked.c). The driver does the blocking and the threading in plain C; a kernel
 * set does the arithmetic on one small block. Operands are read where they lie whenever
 * their layout allows it; only a transposed B is packed (by pack_bt, into a buffer on
 * the caller's stack), because the tile kernel wants rows of B contiguous in j.
 *
 * The arithmetic, which every kernel set follows so that a result depends on the shape
 * alone (see gemm.h), for one output element:
 *   tile: K is cut into blocks of kc; for each block, acc = 0 then acc = acc + a_k b_k
 *         in increasing k (one fused multiply-add per term where the set has FMA), then
 *         C = alpha acc (beta 0, first block) or alpha acc + beta C (fused where FMA),
 *         later blocks with beta 1.
 *   dot:  lane l of a W-wide vector accumulates the terms k = l (mod W) in increasing k;
 *         the W lanes are summed by a fixed tree; then C as above, in one block. */
#ifndef TAPEGRAD_KERNELS_GEMM_ISA_H
#define TAPEGRAD_KERNELS_GEMM_ISA_H

#include <stddef.h>
#include "internal.h"   /* TG__UNROLL */

/* C[m,n] = alpha A B + beta C over one micro-tile, m <= mr, n <= nr, where
 * A(i,k) = a[i * rsa + k * csa] and B(k,j) = b[k * rsb + j], k < kc. beta 0 never reads
 * C. Reads no element of A or B outside the m x kc and kc x n blocks. */
typedef void (*tg__gemm_tile_fn)(size_t m, size_t n, size_t kc, const float *a, size_t rsa,
                                 size_t csa, const float *b, size_t rsb, float alpha,
                                 float beta, float *c, size_t ldc);

/* dst[k * nr + j] = b[j * ldb + k] for j < n <= nr, k < kc: a transposed B as the tile
 * kernel reads it (columns j >= n of dst are left as they are: the kernel masks them). */
typedef void (*tg__gemm_pack_fn)(size_t kc, size_t n, const float *b, size_t ldb, float *dst);

/* C[m,n] = alpha A B^T + beta C as dot products along k, m <= dot_mr, n <= dot_nr, with
 * A's rows a + i * lda and B's rows b + j * ldb each K contiguous floats. */
typedef void (*tg__gemm_dot_fn)(size_t m, size_t n, size_t K, const float *a, size_t lda,
                                const float *b, size_t ldb, float alpha, float beta, float *c,
                                size_t ldc);

typedef struct {
    size_t mr, nr;       /* micro-tile of the tile kernel */
    size_t kc;           /* k-block: a tile's accumulators span at most kc terms */
    size_t mc;           /* rows of A per block, sized so that mc x kc floats sit in L2 */
    tg__gemm_tile_fn tile;
    tg__gemm_pack_fn pack_bt;
    tg__gemm_dot_fn dot; /* NULL: products A B^T also use tile */
    size_t dot_mr, dot_nr;
    /* When A B^T takes the dot kernel rather than packing B^T for the tile kernel (with
     * N <= 2 it always does): with K >= 64 and at most dot_cols columns or at most
     * dot_rows rows, or at most 64 rows and K >= dot_long_k (0: never). Measured per
     * set (bench/README.md): the AVX2 dot kernel loses to packing on most shapes. */
    size_t dot_cols, dot_rows, dot_long_k;
} tg__gemm_kernels;

/* The largest kc * nr of any set: the size of the stack buffer a packed B takes; and
 * the largest mr * nr, a tile. */
#define TG__GEMM_PACK_FLOATS (256 * 32)
#define TG__GEMM_TILE_FLOATS (12 * 32)

extern const tg__gemm_kernels tg__gemm_kernels_portable;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TG__GEMM_X86 1
extern const tg__gemm_kernels tg__gemm_kernels_avx2, tg__gemm_kernels_avx512;
#endif

#endif
