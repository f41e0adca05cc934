/* AVX2 + FMA micro-kernels of the blocked GEMM (the contract is in gemm_isa.h), for
 * x86-64 CPUs without AVX-512 (and, forced, tested on those with it). Every function
 * carries the target attribute, so the default build needs no -mavx2.
 *
 * tile: 6 rows x 16 columns, 12 ymm accumulators; per k one row of B (two vectors,
 * masked at the right edge) and six broadcasts of A; the row count is a compile-time
 * constant in each of the 6 x 2 instances. dot: 4 x 2 dot products along k. */
#include "gemm_isa.h"

#ifdef TG__GEMM_X86
#include <immintrin.h>

#define TG__TARGET __attribute__((target("avx2,fma")))
#define TG__INLINE static inline __attribute__((always_inline))

enum { MR = 6, NR = 16, KC = 256, MC = 240, DOT_MR = 4, DOT_NR = 2 };
_Static_assert(KC * NR <= TG__GEMM_PACK_FLOATS && MR * NR <= TG__GEMM_TILE_FLOATS &&
               MC % MR == 0, "gemm_isa.h's buffer sizes hold this set's blocks");

/* The first n (<= 8) of 8 lanes, as maskload wants it: the sign bit set. */
TG__TARGET TG__INLINE __m256i lanes(size_t n)
{
    const int k = n >= 8 ? 8 : (int)n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* p[lanes] = alpha acc + beta p (alpha acc alone when beta is 0: p is not read). */
TG__TARGET TG__INLINE void put(float *p, __m256i k, __m256 acc, __m256 alpha, float beta)
{
    __m256 r;
    if (beta == 0.0f)
        r = _mm256_mul_ps(alpha, acc);
    else
        r = _mm256_fmadd_ps(alpha, acc,
                            _mm256_mul_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(p, k)));
    _mm256_maskstore_ps(p, k, r);
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define DECL(i) __m256 c##i##0 = _mm256_setzero_ps(), c##i##1 = _mm256_setzero_ps();
#define FMA(i)                                                                  \
    if (i < m) {                                                                \
        const __m256 ai = _mm256_broadcast_ss(a + i * rsa);                     \
        c##i##0 = _mm256_fmadd_ps(ai, b0, c##i##0);                             \
        if (two)                                                                \
            c##i##1 = _mm256_fmadd_ps(ai, b1, c##i##1);                         \
    }
#define PUT(i)                                                                  \
    if (i < m) {                                                                \
        put(c + i * ldc, k0, c##i##0, va, beta);                                \
        if (two)                                                                \
            put(c + i * ldc + 8, k1, c##i##1, va, beta);                        \
    }

TG__TARGET TG__INLINE void tile_m(const size_t m, const int two, size_t n, size_t kc,
                                  const float *a, size_t rsa, size_t csa, const float *b,
                                  size_t rsb, float alpha, float beta, float *c, size_t ldc)
{
    const __m256i k0 = lanes(n), k1 = lanes(two ? n - 8 : 0);
    const __m256 va = _mm256_set1_ps(alpha);
    ROWS(DECL)
    for (size_t k = 0; k < kc; k++, a += csa, b += rsb) {
        const __m256 b0 = _mm256_maskload_ps(b, k0);
        const __m256 b1 = two ? _mm256_maskload_ps(b + 8, k1) : _mm256_setzero_ps();
        ROWS(FMA)
    }
    ROWS(PUT)
}

TG__TARGET static void tile(size_t m, size_t n, size_t kc, const float *a, size_t rsa,
                            size_t csa, const float *b, size_t rsb, float alpha, float beta,
                            float *c, size_t ldc)
{
#define CASE(mm)                                                                     \
    case mm:                                                                         \
        if (n > 8)                                                                   \
            tile_m(mm, 1, n, kc, a, rsa, csa, b, rsb, alpha, beta, c, ldc);          \
        else                                                                         \
            tile_m(mm, 0, n, kc, a, rsa, csa, b, rsb, alpha, beta, c, ldc);          \
        break;
    switch (m) {
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6)
    default:
        break;
    }
#undef CASE
}

/* 8 x 8 block of B transposed in registers: dst row c = column c of the block. */
TG__TARGET TG__INLINE void transpose8(const float *src, size_t ld, float *dst, size_t ldd)
{
    __m256 r[8], t[8];
    TG__UNROLL
    for (int i = 0; i < 8; i++)
        r[i] = _mm256_loadu_ps(src + i * ld);
    TG__UNROLL
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    TG__UNROLL
    for (int i = 0; i < 8; i += 4) {
        r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    /* r[c] (c < 4) holds column c of rows 0-3 (low half) and column c + 4 of rows 0-3
     * (high half); r[c + 4] the same for rows 4-7 */
    TG__UNROLL
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
        _mm256_storeu_ps(dst + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
    }
}

/* Transposed B into the tile kernel's layout: full panels by 8 x 8 blocks, the rest row
 * by row of B. */
TG__TARGET static void pack_bt(size_t kc, size_t n, const float *b, size_t ldb, float *dst)
{
    size_t k0 = 0;
    if (n == NR)
        for (; k0 + 8 <= kc; k0 += 8) {
            transpose8(b + k0, ldb, dst + k0 * NR, NR);
            transpose8(b + 8 * ldb + k0, ldb, dst + k0 * NR + 8, NR);
        }
    for (size_t j = 0; j < n; j++) {
        const float *bj = b + j * ldb;
        for (size_t k = k0; k < kc; k++)
            dst[k * NR + j] = bj[k];
    }
}

/* The 8 lanes of v0 and of v1 summed by one tree that treats both alike:
 * ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)); result lanes 0 and 1. */
TG__TARGET TG__INLINE __m128 sum2(__m256 v0, __m256 v1)
{
    const __m256 t = _mm256_hadd_ps(v0, v1);   /* v0 01 23, v1 01 23 | v0 45 67, v1 45 67 */
    const __m256 u = _mm256_hadd_ps(t, t);     /* v0 0123, v1 0123, .. | v0 4567, v1 4567 */
    return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));
}

/* c[0..n) = alpha r + beta c (alpha r alone when beta is 0), n <= 2. */
TG__TARGET TG__INLINE void put2(float *c, size_t n, __m128 r, float alpha, float beta)
{
    float old[4] = { 0.0f, 0.0f, 0.0f, 0.0f }, out[4];
    __m128 v;
    if (beta != 0.0f)
        for (size_t j = 0; j < n; j++)
            old[j] = c[j];
    v = beta == 0.0f ? _mm_mul_ps(_mm_set1_ps(alpha), r)
                     : _mm_fmadd_ps(_mm_set1_ps(alpha), r,
                                    _mm_mul_ps(_mm_set1_ps(beta), _mm_loadu_ps(old)));
    _mm_storeu_ps(out, v);
    for (size_t j = 0; j < n; j++)
        c[j] = out[j];
}

/* c[i * ldc], i < m <= 2, = alpha r_i + beta c (as put2, down a column). */
TG__TARGET TG__INLINE void put_col(float *c, size_t ldc, size_t m, __m128 r, float alpha,
                                   float beta)
{
    float old[4] = { 0.0f, 0.0f, 0.0f, 0.0f }, out[4];
    __m128 v;
    if (beta != 0.0f)
        for (size_t i = 0; i < m; i++)
            old[i] = c[i * ldc];
    v = beta == 0.0f ? _mm_mul_ps(_mm_set1_ps(alpha), r)
                     : _mm_fmadd_ps(_mm_set1_ps(alpha), r,
                                    _mm_mul_ps(_mm_set1_ps(beta), _mm_loadu_ps(old)));
    _mm_storeu_ps(out, v);
    for (size_t i = 0; i < m; i++)
        c[i * ldc] = out[i];
}

/* s_ij += x_i y_j over one step of 8 k, for the nc (1 or 2, a constant) columns. */
#define DOT_STEP(LOAD)                                                              \
    {                                                                               \
        const __m256 y0 = LOAD(b0), y1 = nc > 1 ? LOAD(b1) : y0;                    \
        __m256 x = LOAD(a0);                                                        \
        s00 = _mm256_fmadd_ps(x, y0, s00);                                          \
        if (nc > 1)                                                                 \
            s01 = _mm256_fmadd_ps(x, y1, s01);                                      \
        x = LOAD(a1);                                                               \
        s10 = _mm256_fmadd_ps(x, y0, s10);                                          \
        if (nc > 1)                                                                 \
            s11 = _mm256_fmadd_ps(x, y1, s11);                                      \
        x = LOAD(a2);                                                               \
        s20 = _mm256_fmadd_ps(x, y0, s20);                                          \
        if (nc > 1)                                                                 \
            s21 = _mm256_fmadd_ps(x, y1, s21);                                      \
        x = LOAD(a3);                                                               \
        s30 = _mm256_fmadd_ps(x, y0, s30);                                          \
        if (nc > 1)                                                                 \
            s31 = _mm256_fmadd_ps(x, y1, s31);                                      \
    }
#define LOAD_FULL(p) _mm256_loadu_ps((p) + k)
#define LOAD_TAIL(p) _mm256_maskload_ps((p) + k, kk)

/* Up to 4 x nc dot products; one column reduces two rows per tree, two columns one row.
 * sum2 treats its two inputs alike, so both give the same bits for the same element. */
TG__TARGET TG__INLINE void dot_nc(const size_t nc, size_t m, size_t n, size_t K,
                                  const float *a, size_t lda, const float *b, size_t ldb,
                                  float alpha, float beta, float *c, size_t ldc)
{
    /* rows past m or n repeat row 0: valid memory, results not stored */
    const float *a0 = a, *a1 = m > 1 ? a + lda : a, *a2 = m > 2 ? a + 2 * lda : a,
                *a3 = m > 3 ? a + 3 * lda : a;
    const float *b0 = b, *b1 = n > 1 ? b + ldb : b;
    __m256 s00 = _mm256_setzero_ps(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00,
           s30 = s00, s31 = s00;
    size_t k = 0;
    for (; k + 8 <= K; k += 8)
        DOT_STEP(LOAD_FULL)
    if (k < K) {
        const __m256i kk = lanes(K - k);
        DOT_STEP(LOAD_TAIL)
    }
    if (nc == 1) {
        put_col(c, ldc, m < 2 ? m : 2, sum2(s00, s10), alpha, beta);
        if (m > 2)
            put_col(c + 2 * ldc, ldc, m - 2, sum2(s20, s30), alpha, beta);
    } else {
        put2(c, n, sum2(s00, s01), alpha, beta);
        if (m > 1)
            put2(c + ldc, n, sum2(s10, s11), alpha, beta);
        if (m > 2)
            put2(c + 2 * ldc, n, sum2(s20, s21), alpha, beta);
        if (m > 3)
            put2(c + 3 * ldc, n, sum2(s30, s31), alpha, beta);
    }
}

TG__TARGET static void dot(size_t m, size_t n, size_t K, const float *a, size_t lda,
                           const float *b, size_t ldb, float alpha, float beta, float *c,
                           size_t ldc)
{
    if (n == 1)
        dot_nc(1, m, n, K, a, lda, b, ldb, alpha, beta, c, ldc);
    else
        dot_nc(2, m, n, K, a, lda, b, ldb, alpha, beta, c, ldc);
}

const tg__gemm_kernels tg__gemm_kernels_avx2 = {
    .mr = MR, .nr = NR, .kc = KC, .mc = MC, .tile = tile, .pack_bt = pack_bt,
    .dot = dot, .dot_mr = DOT_MR, .dot_nr = DOT_NR,
    .dot_cols = 12, .dot_rows = 0, .dot_long_k = 0,
};

#else
typedef int tg__gemm_avx2_unused; /* ISO C wants a declaration in every file */
#endif
