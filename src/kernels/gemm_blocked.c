/* The built-in matrix product: blocking, packing and threading in plain C around the
 * micro-kernels of one instruction set (gemm_isa.h).
 *
 * Operands are read where they lie: the tile kernel takes A through row and column
 * strides (so A and A^T cost the same) and rows of B contiguous in j, which B has and
 * B^T has not. So only B^T is packed, kc x nr at a time into a buffer on the stack, and
 * reused down a block of mc rows: a small product pays for no packing it does not need,
 * and nothing is allocated. Products A B^T with few rows (a forward pass of a linear
 * layer) skip even that: the dot kernel reads both operands' rows along k.
 *
 * Large products are cut into blocks of output rows or columns that the threads share
 * (tg__parallel_for); every output element goes through the same operations whichever
 * block holds it and whichever thread runs it, so the result does not depend on the
 * thread count. */
#include "internal.h"
#include "gemm.h"
#include "gemm_isa.h"
#include "threads.h"

/* Below this many flops (2 M N K), about 9 us on one core, a product runs on the
 * calling thread: a sleeping worker takes tens of microseconds to wake, and a region
 * costs its publish and close even when no worker joins (measured: 1-6% of products
 * from 32x64x64 to 128^3 on a loaded machine where the workers rarely got to join). */
#define TG__GEMM_PARALLEL_FLOPS (1u << 21)
/* A B^T goes to the dot kernel (when the set has one) when it has one or two columns
 * (a layer with one or two outputs: the tile kernel would leave its vectors nearly
 * empty), or at least TG__GEMM_DOT_K terms and few columns, few rows, or (up to
 * TG__GEMM_DOT_ROWS rows) many terms, as the set's thresholds say (gemm_isa.h).
 * Otherwise packing B^T pays back. (Measured on the workloads' shapes and their
 * neighbours, each way: bench/README.md.) */
#define TG__GEMM_DOT_ROWS 64
#define TG__GEMM_DOT_K 64

static int use_dot(const tg__gemm_kernels *k, size_t M, size_t N, size_t K)
{
    if (N <= 2)
        return 1;
    if (K < TG__GEMM_DOT_K)
        return 0;
    return N <= k->dot_cols || M <= k->dot_rows ||
           (k->dot_long_k && M <= TG__GEMM_DOT_ROWS && K >= k->dot_long_k);
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

static const tg__gemm_kernels *kernels_of(tg__gemm_path p)
{
#ifdef TG__GEMM_X86
    if (p == TG__GEMM_AVX512)
        return &tg__gemm_kernels_avx512;
    if (p == TG__GEMM_AVX2)
        return &tg__gemm_kernels_avx2;
#endif
    (void)p;
    return &tg__gemm_kernels_portable;
}

typedef struct {
    const tg__gemm_kernels *k;
    int ta, tb;
    size_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    size_t lda, ldb, ldc;
    int dot;         /* use the dot kernel */
    int swap;        /* A^T B with few columns: tiles of C^T (block_tile_t) */
    int by_rows;     /* threads split the rows (else the columns) */
    size_t unit;     /* rows or columns per unit of the split */
} job;

/* C[i0:i1, j0:j1] with the tile kernel. */
static void block_tile(const job *g, size_t i0, size_t i1, size_t j0, size_t j1)
{
    const tg__gemm_kernels *k = g->k;
    _Alignas(64) float packed[TG__GEMM_PACK_FLOATS];
    const size_t rsa = g->ta ? 1 : g->lda, csa = g->ta ? g->lda : 1;
    for (size_t pc = 0; pc < g->K; pc += k->kc) {
        const size_t kb = min_size(k->kc, g->K - pc);
        const float beta = pc == 0 ? g->beta : 1.0f;   /* later k-blocks add on */
        for (size_t ic = i0; ic < i1; ic += k->mc) {
            const size_t ie = min_size(i1, ic + k->mc);
            for (size_t jr = j0; jr < j1; jr += k->nr) {
                const size_t nb = min_size(k->nr, j1 - jr);
                const float *b = g->B + pc * g->ldb + jr;
                size_t rsb = g->ldb;
                if (g->tb) {
                    k->pack_bt(kb, nb, g->B + jr * g->ldb + pc, g->ldb, packed);
                    b = packed;
                    rsb = k->nr;
                }
                for (size_t ir = ic; ir < ie; ir += k->mr)
                    k->tile(min_size(k->mr, ie - ir), nb, kb, g->A + ir * rsa + pc * csa, rsa,
                            csa, b, rsb, g->alpha, beta, g->C + ir * g->ldc + jr, g->ldc);
            }
        }
    }
}

/* C[i0:i1, j0:j1] with the dot kernel (A B^T only): a few rows of A stay in L1 while
 * the rows of B stream past. */
static void block_dot(const job *g, size_t i0, size_t i1, size_t j0, size_t j1)
{
    const tg__gemm_kernels *k = g->k;
    for (size_t i = i0; i < i1; i += k->dot_mr)
        for (size_t j = j0; j < j1; j += k->dot_nr)
            k->dot(min_size(k->dot_mr, i1 - i), min_size(k->dot_nr, j1 - j), g->K,
                   g->A + i * g->lda, g->lda, g->B + j * g->ldb, g->ldb, g->alpha, g->beta,
                   g->C + i * g->ldc + j, g->ldc);
}

/* C[i0:i1, j0:j1] of A^T B through tiles of C^T = B^T A, for products with few
 * columns (a weight gradient of a layer with 1 or 2 inputs): the tile kernel then runs
 * along the many rows of C instead of across the few columns. A tile of C^T goes to a
 * buffer, then into C: C = alpha T + beta C. */
static void block_tile_t(const job *g, size_t i0, size_t i1, size_t j0, size_t j1)
{
    const tg__gemm_kernels *k = g->k;
    float T[TG__GEMM_TILE_FLOATS];
    for (size_t pc = 0; pc < g->K; pc += k->kc) {
        const size_t kb = min_size(k->kc, g->K - pc);
        const float beta = pc == 0 ? g->beta : 1.0f;
        for (size_t ir = i0; ir < i1; ir += k->nr) {
            const size_t ni = min_size(k->nr, i1 - ir);
            for (size_t jr = j0; jr < j1; jr += k->mr) {
                const size_t mj = min_size(k->mr, j1 - jr);
                /* T[j][i] = sum_k B(k, j) A(k, i): A' = B^T read down columns of B */
                k->tile(mj, ni, kb, g->B + pc * g->ldb + jr, 1, g->ldb, g->A + pc * g->lda + ir,
                        g->lda, 1.0f, 0.0f, T, k->nr);
                for (size_t i = 0; i < ni; i++)
                    for (size_t j = 0; j < mj; j++) {
                        float *c = g->C + (ir + i) * g->ldc + jr + j;
                        *c = beta == 0.0f ? g->alpha * T[j * k->nr + i]
                                          : g->alpha * T[j * k->nr + i] + beta * *c;
                    }
            }
        }
    }
}

/* Units [begin, end) of the split: rows or columns of C. */
static void run_units(size_t begin, size_t end, void *ctx)
{
    const job *g = ctx;
    size_t i0 = 0, i1 = g->M, j0 = 0, j1 = g->N;
    if (g->by_rows) {
        i0 = begin * g->unit;
        i1 = min_size(end * g->unit, g->M);
    } else {
        j0 = begin * g->unit;
        j1 = min_size(end * g->unit, g->N);
    }
    if (g->dot)
        block_dot(g, i0, i1, j0, j1);
    else if (g->swap)
        block_tile_t(g, i0, i1, j0, j1);
    else
        block_tile(g, i0, i1, j0, j1);
}

void tg__gemm_blocked(tg__gemm_path p, int ta, int tb, size_t M, size_t N, size_t K,
                      float alpha, const float *A, size_t lda, const float *B, size_t ldb,
                      float beta, float *C, size_t ldc)
{
    job g;
    size_t rows, cols, units;
    if (M == 0 || N == 0)
        return;
    if (K == 0 || alpha == 0.0f) {
        tg__gemm_scale(M, N, beta, C, ldc);
        return;
    }
    g = (job){ .k = kernels_of(p), .ta = ta != 0, .tb = tb != 0, .M = M, .N = N, .K = K,
               .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C, .lda = lda, .ldb = ldb,
               .ldc = ldc };
    g.dot = g.k->dot && !g.ta && g.tb && use_dot(g.k, M, N, K);
    g.swap = g.ta && !g.tb && N <= g.k->nr / 4 && M >= 2 * N;
    rows = g.dot ? g.k->dot_mr : g.swap ? g.k->nr : g.k->mr;
    cols = g.dot ? g.k->dot_nr : g.swap ? g.k->mr : g.k->nr;
    /* split the dimension with more blocks; a packed B^T by columns, so that each
     * thread packs only its own */
    g.by_rows = !(g.tb && !g.dot) && (M + rows - 1) / rows >= (N + cols - 1) / cols;
    g.unit = g.by_rows ? rows : cols;
    units = ((g.by_rows ? M : N) + g.unit - 1) / g.unit;
    if (2.0 * (double)M * (double)N * (double)K < (double)TG__GEMM_PARALLEL_FLOPS)
        run_units(0, units, &g);
    else
        tg__parallel_for(units, 1, run_units, &g);
}
