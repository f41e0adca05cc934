/* AVX-512F micro-kernels of the blocked GEMM (the contract is in gemm_isa.h). Every
 * function carries the target attribute, so the default build compiles them without
 * -mavx512f and gemm_blocked.c calls them only where the CPU has AVX-512F.
 *
 * tile: 12 rows x 32 columns, 24 zmm accumulators; per k one row of B (two vectors,
 * masked at the right edge) and twelve broadcasts of A. The row count is a
 * compile-time constant in each of the 12 x 2 instances (switch in tile()), so a
 * short edge tile neither reads past A nor wastes multiply-adds.
 * dot: 4 x 4 dot products along k, 16 lanes each, masked at the end of k. */
#include "gemm_isa.h"

#ifdef TG__GEMM_X86
#include <immintrin.h>

#define TG__TARGET __attribute__((target("avx512f,fma")))
#define TG__INLINE static inline __attribute__((always_inline))

enum { MR = 12, NR = 32, KC = 256, MC = 240, DOT_MR = 4, DOT_NR = 4 };
_Static_assert(KC * NR <= TG__GEMM_PACK_FLOATS && MR * NR <= TG__GEMM_TILE_FLOATS &&
               MC % MR == 0, "gemm_isa.h's buffer sizes hold this set's blocks");

/* The first n (<= 16) of 16 lanes. */
TG__TARGET TG__INLINE __mmask16 lanes(size_t n)
{
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* p[lanes] = alpha acc + beta p (alpha acc alone when beta is 0: p is not read). Full
 * rows use plain loads and stores (measured faster than all-ones masks); beta 1 skips
 * its exact multiply. */
TG__TARGET TG__INLINE void put(float *p, __mmask16 k, __m512 acc, __m512 alpha, float beta)
{
    const int full = k == (__mmask16)0xFFFF;
    __m512 r;
    if (beta == 0.0f) {
        r = _mm512_mul_ps(alpha, acc);
    } else {
        __m512 old = full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(k, p);
        if (beta != 1.0f)
            old = _mm512_mul_ps(_mm512_set1_ps(beta), old);
        r = _mm512_fmadd_ps(alpha, acc, old);
    }
    if (full)
        _mm512_storeu_ps(p, r);
    else
        _mm512_mask_storeu_ps(p, k, r);
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define DECL(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = _mm512_setzero_ps();
#define FMA(i)                                                                  \
    if (i < m) {                                                                \
        const __m512 ai = _mm512_set1_ps(a[i * rsa]);                           \
        c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                             \
        if (two)                                                                \
            c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                         \
    }
#define PUT(i)                                                                  \
    if (i < m) {                                                                \
        put(c + i * ldc, k0, c##i##0, va, beta);                                \
        if (two)                                                                \
            put(c + i * ldc + 16, k1, c##i##1, va, beta);                       \
    }

/* One tile of m rows (a constant after inlining); two: n > 16, a second vector. */
TG__TARGET TG__INLINE void tile_m(const size_t m, const int two, size_t n, size_t kc,
                                  const float *a, size_t rsa, size_t csa, const float *b,
                                  size_t rsb, float alpha, float beta, float *c, size_t ldc)
{
    const __mmask16 k0 = lanes(n), k1 = two ? lanes(n - 16) : 0;
    const __m512 va = _mm512_set1_ps(alpha);
    ROWS(DECL)
    for (size_t k = 0; k < kc; k++, a += csa, b += rsb) {
        const __m512 b0 = _mm512_maskz_loadu_ps(k0, b);
        const __m512 b1 = two ? _mm512_maskz_loadu_ps(k1, b + 16) : _mm512_setzero_ps();
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
        if (n > 16)                                                                  \
            tile_m(mm, 1, n, kc, a, rsa, csa, b, rsb, alpha, beta, c, ldc);          \
        else                                                                         \
            tile_m(mm, 0, n, kc, a, rsa, csa, b, rsb, alpha, beta, c, ldc);          \
        break;
    switch (m) {
        CASE(1) CASE(2) CASE(3) CASE(4) CASE(5) CASE(6)
        CASE(7) CASE(8) CASE(9) CASE(10) CASE(11) CASE(12)
    default:
        break;
    }
#undef CASE
}

/* Transposed B into the tile kernel's layout. Full panels: 16 x 16 blocks of B
 * transposed in registers (TG__UNROLL keeps r[] and t[] there); the rest row by row. */
TG__TARGET TG__INLINE void transpose16(const float *src, size_t ld, float *dst, size_t ldd)
{
    __m512 r[16], t[16];
    TG__UNROLL
    for (int i = 0; i < 16; i++)
        r[i] = _mm512_loadu_ps(src + i * ld);
    TG__UNROLL
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    TG__UNROLL
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
        r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
        r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    TG__UNROLL
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0x88);
        t[i + 4] = _mm512_shuffle_f32x4(r[i], r[i + 4], 0xDD);
        t[i + 8] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0x88);
        t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], 0xDD);
    }
    TG__UNROLL
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
        r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
    }
    TG__UNROLL
    for (int i = 0; i < 16; i++)
        _mm512_storeu_ps(dst + i * ldd, r[i]);
}

TG__TARGET static void pack_bt(size_t kc, size_t n, const float *b, size_t ldb, float *dst)
{
    size_t k0 = 0;
    if (n == NR)
        for (; k0 + 16 <= kc; k0 += 16) {
            transpose16(b + k0, ldb, dst + k0 * NR, NR);
            transpose16(b + 16 * ldb + k0, ldb, dst + k0 * NR + 16, NR);
        }
    for (size_t j = 0; j < n; j++) {
        const float *bj = b + j * ldb;
        for (size_t k = k0; k < kc; k++)
            dst[k * NR + j] = bj[k];
    }
}

/* Sums the 16 lanes of each of v0..v3 into the four lanes of the result, by one tree
 * that treats the four alike: every sum is ((l0+l2)+(l1+l3)) within each 128-bit
 * quarter, then (q0+q2)+(q1+q3) across quarters. */
TG__TARGET TG__INLINE __m128 sum4(__m512 v0, __m512 v1, __m512 v2, __m512 v3)
{
    const __m512 t01 = _mm512_add_ps(_mm512_unpacklo_ps(v0, v1), _mm512_unpackhi_ps(v0, v1));
    const __m512 t23 = _mm512_add_ps(_mm512_unpacklo_ps(v2, v3), _mm512_unpackhi_ps(v2, v3));
    /* per quarter: [v0, v1, v2, v3] */
    const __m512 u = _mm512_add_ps(_mm512_shuffle_ps(t01, t23, 0x44),
                                   _mm512_shuffle_ps(t01, t23, 0xEE));
    const __m512 h = _mm512_add_ps(u, _mm512_shuffle_f32x4(u, u, 0x4E)); /* q0+q2, q1+q3 */
    return _mm_add_ps(_mm512_castps512_ps128(h),
                      _mm512_castps512_ps128(_mm512_shuffle_f32x4(h, h, 0x01)));
}

/* c[0..n) = alpha r + beta c (alpha r alone when beta is 0), n <= 4. */
TG__TARGET TG__INLINE void put4(float *c, size_t n, __m128 r, float alpha, float beta)
{
    float old[4] = { 0.0f, 0.0f, 0.0f, 0.0f }, out[4];
    __m128 v;
    if (n == 4) {
        v = beta == 0.0f ? _mm_mul_ps(_mm_set1_ps(alpha), r)
                         : _mm_fmadd_ps(_mm_set1_ps(alpha), r,
                                        _mm_mul_ps(_mm_set1_ps(beta), _mm_loadu_ps(c)));
        _mm_storeu_ps(c, v);
        return;
    }
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

/* c[i * ldc], i < m <= 4, = alpha r_i + beta c (as put4, down a column). */
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

/* s_ij += x_i y_j over one step of 16 k, for the nc columns in use (a constant). */
#define FMA_ROW(i)                                                                  \
    s##i##0 = _mm512_fmadd_ps(x##i, y0, s##i##0);                                   \
    if (nc > 1)                                                                     \
        s##i##1 = _mm512_fmadd_ps(x##i, y1, s##i##1);                               \
    if (nc > 2) {                                                                   \
        s##i##2 = _mm512_fmadd_ps(x##i, y2, s##i##2);                               \
        s##i##3 = _mm512_fmadd_ps(x##i, y3, s##i##3);                               \
    }
#define DOT_STEP(LOAD)                                                              \
    {                                                                               \
        const __m512 x0 = LOAD(a0), x1 = LOAD(a1), x2 = LOAD(a2), x3 = LOAD(a3);   \
        const __m512 y0 = LOAD(b0), y1 = nc > 1 ? LOAD(b1) : x0,                    \
                     y2 = nc > 2 ? LOAD(b2) : x0, y3 = nc > 2 ? LOAD(b3) : x0;      \
        FMA_ROW(0) FMA_ROW(1) FMA_ROW(2) FMA_ROW(3)                                 \
    }
#define LOAD_FULL(p) _mm512_loadu_ps((p) + k)
#define LOAD_TAIL(p) _mm512_maskz_loadu_ps(kk, (p) + k)

/* Up to 4 x nc dot products, nc = 1, 2 or 4 a constant: the columns used decide how
 * many accumulators run, so a product with one or two columns (a layer with one or two
 * outputs) does no idle multiply-adds. Every sum goes through the same tree (sum4), so
 * the three instances give the same bits for the same element. */
TG__TARGET TG__INLINE void dot_nc(const size_t nc, size_t m, size_t n, size_t K,
                                  const float *a, size_t lda, const float *b, size_t ldb,
                                  float alpha, float beta, float *c, size_t ldc)
{
    /* rows past m or n repeat row 0: valid memory, results not stored */
    const float *a0 = a, *a1 = m > 1 ? a + lda : a, *a2 = m > 2 ? a + 2 * lda : a,
                *a3 = m > 3 ? a + 3 * lda : a;
    const float *b0 = b, *b1 = n > 1 ? b + ldb : b, *b2 = n > 2 ? b + 2 * ldb : b,
                *b3 = n > 3 ? b + 3 * ldb : b;
    __m512 s00 = _mm512_setzero_ps(), s01 = s00, s02 = s00, s03 = s00, s10 = s00, s11 = s00,
           s12 = s00, s13 = s00, s20 = s00, s21 = s00, s22 = s00, s23 = s00, s30 = s00,
           s31 = s00, s32 = s00, s33 = s00;
    size_t k = 0;
    for (; k + 16 <= K; k += 16)
        DOT_STEP(LOAD_FULL)
    if (k < K) {
        const __mmask16 kk = lanes(K - k);
        DOT_STEP(LOAD_TAIL)
    }
    if (nc == 1) {   /* one column: the four rows' sums in one tree */
        put_col(c, ldc, m, sum4(s00, s10, s20, s30), alpha, beta);
    } else if (nc == 2) {   /* two columns: two rows per tree */
        const __m128 r01 = sum4(s00, s01, s10, s11), r23 = sum4(s20, s21, s30, s31);
        put4(c, n, r01, alpha, beta);
        if (m > 1)
            put4(c + ldc, n, _mm_movehl_ps(r01, r01), alpha, beta);
        if (m > 2)
            put4(c + 2 * ldc, n, r23, alpha, beta);
        if (m > 3)
            put4(c + 3 * ldc, n, _mm_movehl_ps(r23, r23), alpha, beta);
    } else {
        put4(c, n, sum4(s00, s01, s02, s03), alpha, beta);
        if (m > 1)
            put4(c + ldc, n, sum4(s10, s11, s12, s13), alpha, beta);
        if (m > 2)
            put4(c + 2 * ldc, n, sum4(s20, s21, s22, s23), alpha, beta);
        if (m > 3)
            put4(c + 3 * ldc, n, sum4(s30, s31, s32, s33), alpha, beta);
    }
}

TG__TARGET static void dot(size_t m, size_t n, size_t K, const float *a, size_t lda,
                           const float *b, size_t ldb, float alpha, float beta, float *c,
                           size_t ldc)
{
    if (n == 1)
        dot_nc(1, m, n, K, a, lda, b, ldb, alpha, beta, c, ldc);
    else if (n == 2)
        dot_nc(2, m, n, K, a, lda, b, ldb, alpha, beta, c, ldc);
    else
        dot_nc(4, m, n, K, a, lda, b, ldb, alpha, beta, c, ldc);
}

const tg__gemm_kernels tg__gemm_kernels_avx512 = {
    .mr = MR, .nr = NR, .kc = KC, .mc = MC, .tile = tile, .pack_bt = pack_bt,
    .dot = dot, .dot_mr = DOT_MR, .dot_nr = DOT_NR,
    .dot_cols = 16, .dot_rows = 8, .dot_long_k = 256,
};

#else
typedef int tg__gemm_avx512_unused; /* ISO C wants a declaration in every file */
#endif
