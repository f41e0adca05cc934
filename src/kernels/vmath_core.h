/* The shared pieces of the vmath kernels (vmath.h): double-precision range reductions
 * for exp, expm1, log, log1p and erfcx written as straight-line arithmetic, so that a
 * loop over them vectorizes; the loop drivers; and the macro that compiles a kernel for
 * each instruction set. Included by src/kernels/vmath_*.c and by tests/test_vmath.c.
 *
 * Why double inside float32 kernels: the result must be within 4 ULP of the correctly
 * rounded one on every input, and the hard spots (the roots of silu', gelu', gelu_erf'
 * and safe_log, the exponential tails) magnify the error of e^x or log y. In double,
 * with polynomials accurate to 2^-43 or better, every kernel's value before its one
 * rounding to float is within 2^-19 of a float32 step of the local function's (measured
 * on every 257th float: gelu_erf is the worst, the others 2^-21 or less), with no
 * fallback path. A double lane costs what two float lanes cost, and these loops run 4
 * (AVX2) or 8 (AVX-512) at once.
 *
 * The polynomial coefficients come from src/kernels/vmath_coeffs.py (mpmath). The
 * library compiles these files with -ffp-contract=off (every ISA variant gives the same
 * bits), -fno-math-errno and -fno-trapping-math (selects and sqrt may then vectorize;
 * nothing here reads errno or the exception flags). */
#ifndef TAPEGRAD_KERNELS_VMATH_CORE_H
#define TAPEGRAD_KERNELS_VMATH_CORE_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "vmath.h"

#if defined(__GNUC__) || defined(__clang__)
#define TG__VM_INLINE static inline __attribute__((always_inline))
#else
#define TG__VM_INLINE static inline
#endif

TG__VM_INLINE uint64_t tg__vm_bits(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    return b;
}

TG__VM_INLINE double tg__vm_from_bits(uint64_t b)
{
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

/* ---- exp and expm1 ------------------------------------------------------------------
 * e^x = s (1 + q) with s = 2^k, k = rint(x / ln2), and q = e^r - 1 for the reduced
 * r = x - k ln2, |r| <= ln2/2: q = r (1 + r P(r)), P a degree-8 fit of
 * (e^r - 1 - r) / r^2 (error 7e-15, so q is within 2^-48 relative). k ln2 is split
 * (Cody-Waite): k * LN2_HI is exact and x - k * LN2_HI too (Sterbenz), so r is good to
 * 2^-53 of itself. x is clamped to [-708, 709], where s is a normal double: callers
 * clamp or select where that matters (it never does for a float32 result). NaN passes
 * through, as q. */
#define TG__VM_EXP_LO (-708.0)
#define TG__VM_EXP_HI 709.0

typedef struct {
    double s, q;
} tg__vm_expq;

TG__VM_INLINE tg__vm_expq tg__vm_exp_split(double x)
{
    static const double P[9] = {
        0x1.0000000000000p-1, 0x1.5555555553b78p-3, 0x1.5555555554cb7p-5,
        0x1.1111111c478ebp-7, 0x1.6c16c1738ff55p-10, 0x1.a019ada3609f3p-13,
        0x1.a019c9a5652d3p-16, 0x1.72c72ca338df0p-19, 0x1.2880411bad1aap-22,
    };
    const double log2e = 0x1.71547652b82fep+0, shift = 0x1.8p52;
    const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    x = x < TG__VM_EXP_LO ? TG__VM_EXP_LO : x;
    x = x > TG__VM_EXP_HI ? TG__VM_EXP_HI : x;
    /* Adding 1.5 * 2^52 rounds to an integer, which then sits in t's low bits. */
    const double t = x * log2e + shift;
    const double k = t - shift;
    const double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = P[8];
    p = p * r + P[7];
    p = p * r + P[6];
    p = p * r + P[5];
    p = p * r + P[4];
    p = p * r + P[3];
    p = p * r + P[2];
    p = p * r + P[1];
    p = p * r + P[0];
    tg__vm_expq e;
    e.q = r * (1.0 + r * p); /* r times: a zero r keeps its sign */
    /* t's low 12 bits are k mod 4096 and k + 1023 is in [1, 2046]: the exponent of 2^k */
    e.s = tg__vm_from_bits((tg__vm_bits(t) + 1023u) << 52);
    return e;
}

TG__VM_INLINE double tg__vm_exp(double x)
{
    const tg__vm_expq e = tg__vm_exp_split(x);
    return e.s * (1.0 + e.q);
}

/* e^x - 1 within 2^-50 relative: q itself when k = 0 (|x| < ln2/2, where e^x - 1
 * would cancel; -0 stays -0), else s q + (s - 1), which cancels by at most a factor 2. */
TG__VM_INLINE double tg__vm_expm1(double x)
{
    const tg__vm_expq e = tg__vm_exp_split(x);
    return e.s == 1.0 ? e.q : e.s * e.q + (e.s - 1.0);
}

/* ---- log and log1p --------------------------------------------------------------------
 * y = 2^e m with m in [sqrt(1/2), sqrt(2)); log y = e ln2 + log1p(f), f = m - 1 (exact),
 * and log1p(f) = 2 atanh(s) = 2s + 2s z L(z), s = f / (2 + f), z = s^2 <= 0.0295, L a
 * degree-5 fit of (atanh(s)/s - 1) / z (error 2.4e-14, 2^-50 of the result). For y > 0
 * normal (every caller's y is at least a float32 eps); +inf and NaN are returned as they
 * are. */
TG__VM_INLINE double tg__vm_log(double y)
{
    static const double L[6] = {
        0x1.55555555553b6p-2, 0x1.9999999b88f9dp-3, 0x1.24924627dc195p-3,
        0x1.c71fcf7df6060p-4, 0x1.7382687cd8370p-4, 0x1.54710166f7a8cp-4,
    };
    const double ln2_hi = 0x1.62e42fee00000p-1, ln2_lo = 0x1.a39ef35793c76p-33;
    const uint64_t b = tg__vm_bits(y);
    double m = tg__vm_from_bits((b & 0x000fffffffffffffu) | 0x3ff0000000000000u);
    /* the biased exponent as a double: 2^52 + e, less 2^52 and the bias */
    double e = tg__vm_from_bits((b >> 52) | 0x4330000000000000u) - (0x1p52 + 1023.0);
    const int big = m > 0x1.6a09e667f3bcdp+0;
    m = big ? 0.5 * m : m;
    e = big ? e + 1.0 : e;
    const double f = m - 1.0, s = f / (2.0 + f), z = s * s;
    double l = L[5];
    l = l * z + L[4];
    l = l * z + L[3];
    l = l * z + L[2];
    l = l * z + L[1];
    l = l * z + L[0];
    const double s2 = 2.0 * s;
    const double r = e * ln2_hi + (e * ln2_lo + (s2 + s2 * (z * l)));
    return y < INFINITY ? r : y;
}

/* log(1 + v) for finite v > -1: log of m = 1 + v plus what rounding m lost, c/m. */
TG__VM_INLINE double tg__vm_log1p(double v)
{
    const double m = 1.0 + v;
    return tg__vm_log(m) + (v - (m - 1.0)) / m;
}

/* ---- erfcx ---------------------------------------------------------------------------
 * erfcx(t) = e^(t^2) erfc(t) for t >= 0, a degree-16 polynomial in z = (t - 4)/(t + 4)
 * on t in [0, 10.5] (relative error 2^-43.4; the coefficients stay below 0.3, so Horner
 * adds a few 2^-53). Beyond 10.5 the value at 10.5 is returned: the callers multiply it
 * by e^(-t^2) < 1e-47, whose products are zeros in float32. */
TG__VM_INLINE double tg__vm_erfcx(double t)
{
    static const double R[17] = {
        0x1.18932bf08e198p-3,  -0x1.0949227373a34p-2, 0x1.bff01a5f8b1bdp-3,
        -0x1.506666f717753p-3, 0x1.be502c3807791p-4,  -0x1.027d5725fc98ap-4,
        0x1.0066e0f124263p-5,  -0x1.a4dee1c578c27p-7, 0x1.0a17d91ee5beep-8,
        -0x1.a2f32e0f5c0bap-11, -0x1.6c046614daac7p-16, 0x1.4ac82adcd661bp-14,
        -0x1.7fc69e9d26e22p-16, -0x1.03bc5fc949261p-19, 0x1.d064dd6702802p-19,
        0x1.05b0662a7f456p-23, -0x1.89576cb2e541ap-23,
    };
    t = t > 10.5 ? 10.5 : t;
    const double z = (t - 4.0) / (t + 4.0);
    double r = R[16];
    r = r * z + R[15];
    r = r * z + R[14];
    r = r * z + R[13];
    r = r * z + R[12];
    r = r * z + R[11];
    r = r * z + R[10];
    r = r * z + R[9];
    r = r * z + R[8];
    r = r * z + R[7];
    r = r * z + R[6];
    r = r * z + R[5];
    r = r * z + R[4];
    r = r * z + R[3];
    r = r * z + R[2];
    r = r * z + R[1];
    r = r * z + R[0];
    return r;
}

/* ---- the logistic function ---------------------------------------------------------------
 * s(x) from e = e^-|x| <= 1 (rules/sigmoid.c): 1/(1+e) for x >= 0, e/(1+e) below; never
 * 1 - something, so nothing cancels. Shared by sigmoid, softplus' and safe_log'. */
TG__VM_INLINE double tg__vm_sigmoid(double x, double e)
{
    return (x >= 0.0 ? 1.0 : e) / (1.0 + e);
}

/* ---- loop drivers ----------------------------------------------------------------------
 * The element functions (float x, double parameter) -> float are passed as constants to
 * always-inlined drivers, so each kernel is a plain loop with its element function
 * inlined. Blocks have a fixed trip count, which compilers vectorize at -O2 (gcc's
 * default cost model refuses loops that would need a scalar epilogue); the tail goes
 * through a zero-padded copy of a block, so every element takes the same vector path.
 * The block loops read and write the arrays directly, declared restrict (vmath.h: they
 * must not overlap): copying each block into locals instead made gcc store it in 16-byte
 * pieces and load it in 32-byte ones, which the CPU cannot forward: the AVX2 kernels
 * were 1.5x slower (tanh 6.3 against 4.0 ns per element, value and derivative). */
#define TG__VM_BLOCK 16

typedef float (*tg__vm_elem)(float x, double p);

TG__VM_INLINE void tg__vm_map_block(tg__vm_elem f, const float *restrict x, float *restrict y,
                                    double p)
{
    for (size_t j = 0; j < TG__VM_BLOCK; j++)
        y[j] = f(x[j], p);
}

TG__VM_INLINE void tg__vm_grad_block(tg__vm_elem df, const float *restrict x,
                                     const float *restrict gy, float *restrict gx, double p)
{
    for (size_t j = 0; j < TG__VM_BLOCK; j++)
        gx[j] += gy[j] * df(x[j], p);
}

TG__VM_INLINE void tg__vm_map(tg__vm_elem f, const float *x, float *y, size_t n, double p)
{
    size_t i = 0;
    for (; n - i >= TG__VM_BLOCK; i += TG__VM_BLOCK)
        tg__vm_map_block(f, x + i, y + i, p);
    if (i < n) {
        float xb[TG__VM_BLOCK] = { 0 }, yb[TG__VM_BLOCK];
        memcpy(xb, x + i, (n - i) * sizeof *x);
        tg__vm_map_block(f, xb, yb, p);
        memcpy(y + i, yb, (n - i) * sizeof *y);
    }
}

TG__VM_INLINE void tg__vm_grad(tg__vm_elem df, const float *x, const float *gy, float *gx,
                               size_t n, double p)
{
    size_t i = 0;
    for (; n - i >= TG__VM_BLOCK; i += TG__VM_BLOCK)
        tg__vm_grad_block(df, x + i, gy + i, gx + i, p);
    if (i < n) {
        float xb[TG__VM_BLOCK] = { 0 }, gyb[TG__VM_BLOCK] = { 0 }, gxb[TG__VM_BLOCK] = { 0 };
        memcpy(xb, x + i, (n - i) * sizeof *x);
        memcpy(gyb, gy + i, (n - i) * sizeof *gy);
        memcpy(gxb, gx + i, (n - i) * sizeof *gx);
        tg__vm_grad_block(df, xb, gyb, gxb, p);
        memcpy(gx + i, gxb, (n - i) * sizeof *gx);
    }
}

/* Value and derivative in one pass; the element functions are inlined side by side, so
 * the compiler computes what they share (the exponential) once. */
TG__VM_INLINE void tg__vm_both_block(tg__vm_elem f, tg__vm_elem df, const float *restrict x,
                                     float *restrict y, float *restrict d, double p)
{
    for (size_t j = 0; j < TG__VM_BLOCK; j++) {
        y[j] = f(x[j], p);
        d[j] = df(x[j], p);
    }
}

TG__VM_INLINE void tg__vm_both(tg__vm_elem f, tg__vm_elem df, const float *x, float *y,
                               float *d, size_t n, double p)
{
    size_t i = 0;
    for (; n - i >= TG__VM_BLOCK; i += TG__VM_BLOCK)
        tg__vm_both_block(f, df, x + i, y + i, d + i, p);
    if (i < n) {
        float xb[TG__VM_BLOCK] = { 0 }, yb[TG__VM_BLOCK], db[TG__VM_BLOCK];
        memcpy(xb, x + i, (n - i) * sizeof *x);
        tg__vm_both_block(f, df, xb, yb, db, p);
        memcpy(y + i, yb, (n - i) * sizeof *y);
        memcpy(d + i, db, (n - i) * sizeof *d);
    }
}

/* The plain reference loops: one element at a time. The empty asm is a compiler
 * barrier that keeps these loops scalar, so that the test comparing them with the
 * vector kernels compares two different code paths. */
#if defined(__GNUC__) || defined(__clang__)
#define TG__VM_SCALAR_BARRIER() __asm__ volatile("" ::: "memory")
#else
#define TG__VM_SCALAR_BARRIER() ((void)0)
#endif

TG__VM_INLINE void tg__vm_map_scalar(tg__vm_elem f, const float *x, float *y, size_t n, double p)
{
    for (size_t i = 0; i < n; i++) {
        y[i] = f(x[i], p);
        TG__VM_SCALAR_BARRIER();
    }
}

TG__VM_INLINE void tg__vm_grad_scalar(tg__vm_elem df, const float *x, const float *gy, float *gx,
                                      size_t n, double p)
{
    for (size_t i = 0; i < n; i++) {
        gx[i] += gy[i] * df(x[i], p);
        TG__VM_SCALAR_BARRIER();
    }
}

/* ---- one kernel, three instruction sets ------------------------------------------------
 * TG__VM_DEFINE(name, value, deriv) defines everything vmath.h declares for `name`. On
 * x86 with gcc or clang the drivers are compiled three times, with target attributes
 * (no -march needed), and each call picks the widest the CPU runs. */
#define TG__VM_VARIANT(name, value, deriv, isa, attr)                                      \
    attr static void name##_map_##isa(const float *x, float *y, size_t n, float p)         \
    {                                                                                      \
        tg__vm_map(value, x, y, n, p);                                                     \
    }                                                                                      \
    attr static void name##_grad_##isa(const float *x, const float *gy, float *gx,         \
                                       size_t n, float p)                                  \
    {                                                                                      \
        tg__vm_grad(deriv, x, gy, gx, n, p);                                               \
    }                                                                                      \
    attr static void name##_both_##isa(const float *x, float *y, float *d, size_t n,       \
                                       float p)                                            \
    {                                                                                      \
        tg__vm_both(value, deriv, x, y, d, n, p);                                          \
    }

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define TG__VM_X86 1
#define TG__VM_VARIANTS(name, value, deriv)                                                \
    TG__VM_VARIANT(name, value, deriv, base, )                                             \
    TG__VM_VARIANT(name, value, deriv, avx2, __attribute__((target("avx2"))))              \
    TG__VM_VARIANT(name, value, deriv, avx512, __attribute__((target("avx512f"))))         \
    static const tg__vm_map_fn name##_maps[TG__VM_N_ISA] = { name##_map_base,              \
                                                             name##_map_avx2,              \
                                                             name##_map_avx512 };          \
    static const tg__vm_grad_fn name##_grads[TG__VM_N_ISA] = { name##_grad_base,           \
                                                               name##_grad_avx2,           \
                                                               name##_grad_avx512 };       \
    static const tg__vm_both_fn name##_boths[TG__VM_N_ISA] = { name##_both_base,           \
                                                               name##_both_avx2,           \
                                                               name##_both_avx512 };
#else
#define TG__VM_VARIANTS(name, value, deriv)                                                \
    TG__VM_VARIANT(name, value, deriv, base, )                                             \
    static const tg__vm_map_fn name##_maps[TG__VM_N_ISA] = { name##_map_base,              \
                                                             name##_map_base,              \
                                                             name##_map_base };            \
    static const tg__vm_grad_fn name##_grads[TG__VM_N_ISA] = { name##_grad_base,           \
                                                               name##_grad_base,           \
                                                               name##_grad_base };         \
    static const tg__vm_both_fn name##_boths[TG__VM_N_ISA] = { name##_both_base,           \
                                                               name##_both_base,           \
                                                               name##_both_base };
#endif

#define TG__VM_DEFINE(name, value, deriv)                                                  \
    TG__VM_VARIANTS(name, value, deriv)                                                    \
    void tg__v##name##_isa(tg__vm_isa isa, const float *x, float *y, size_t n, float p)    \
    {                                                                                      \
        name##_maps[tg__vm_isa_available(isa) ? isa : TG__VM_BASE](x, y, n, p);            \
    }                                                                                      \
    void tg__v##name##_grad_isa(tg__vm_isa isa, const float *x, const float *gy,           \
                                float *gx, size_t n, float p)                              \
    {                                                                                      \
        name##_grads[tg__vm_isa_available(isa) ? isa : TG__VM_BASE](x, gy, gx, n, p);      \
    }                                                                                      \
    void tg__v##name(const float *x, float *y, size_t n, float p)                          \
    {                                                                                      \
        name##_maps[tg__vm_isa_best()](x, y, n, p);                                        \
    }                                                                                      \
    void tg__v##name##_grad(const float *x, const float *gy, float *gx, size_t n, float p) \
    {                                                                                      \
        name##_grads[tg__vm_isa_best()](x, gy, gx, n, p);                                  \
    }                                                                                      \
    void tg__v##name##_both_isa(tg__vm_isa isa, const float *x, float *y, float *d,        \
                                size_t n, float p)                                         \
    {                                                                                      \
        name##_boths[tg__vm_isa_available(isa) ? isa : TG__VM_BASE](x, y, d, n, p);        \
    }                                                                                      \
    void tg__v##name##_both(const float *x, float *y, float *d, size_t n, float p)         \
    {                                                                                      \
        name##_boths[tg__vm_isa_best()](x, y, d, n, p);                                    \
    }                                                                                      \
    void tg__v##name##_ref(const float *x, float *y, size_t n, float p)                    \
    {                                                                                      \
        tg__vm_map_scalar(value, x, y, n, p);                                              \
    }                                                                                      \
    void tg__v##name##_grad_ref(const float *x, const float *gy, float *gx, size_t n,      \
                                float p)                                                   \
    {                                                                                      \
        tg__vm_grad_scalar(deriv, x, gy, gx, n, p);                                        \
    }

#endif
