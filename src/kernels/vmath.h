/* Vectorized float32 kernels of the smooth activations: whole-array value and fused
 * backward, within 4 ULP of the correctly rounded result on every float32 input
 * (docs/accuracy.md). The rules in rules/ call them through src/core/elementwise.h.
 *
 * Every kernel has one signature, so that tables of them are possible:
 *   tg__vNAME(x, y, n, p)            y[i] = f(x[i])
 *   tg__vNAME_grad(x, gy, gx, n, p)  gx[i] += gy[i] * f'(x[i])   (float product and sum)
 *   tg__vNAME_both(x, y, d, n, p)    y[i] = f(x[i]) and d[i] = f'(x[i]) in one pass
 * _both is what a rule's forward runs when a gradient will be wanted: the value and the
 * derivative share their exponential, and backward is then gx += gy * d
 * (tg__vsaved_grad), the same float product and sum as _grad's, so the same bits. The
 * rules no longer call _grad; it stays as the one-call backward the tests check that
 * pair against, and bench_vmath times.
 * p is the rule's parameter (elu's alpha, safe_log's and smooth_abs's eps); the other
 * kernels ignore it. The arrays must not overlap.
 *
 * Each kernel is compiled for three instruction sets and picks the widest the CPU has
 * at every call (AVX-512F, AVX2, the baseline); all three give the same bits, because
 * the arithmetic is IEEE operations only, without contraction into FMA
 * (tests/test_vmath.c checks it against a plain scalar loop, the _ref variants). */
#ifndef TAPEGRAD_KERNELS_VMATH_H
#define TAPEGRAD_KERNELS_VMATH_H

#include <stddef.h>

typedef enum { TG__VM_BASE = 0, TG__VM_AVX2 = 1, TG__VM_AVX512 = 2, TG__VM_N_ISA = 3 } tg__vm_isa;

/* The widest instruction set this CPU (and OS) runs; TG__VM_BASE off x86-64. */
tg__vm_isa tg__vm_isa_best(void);
/* 1 when `isa` was compiled in and this CPU runs it. */
int tg__vm_isa_available(tg__vm_isa isa);
/* "avx512f", "avx2", "baseline" */
const char *tg__vm_isa_name(tg__vm_isa isa);

typedef void (*tg__vm_map_fn)(const float *x, float *y, size_t n, float p);
typedef void (*tg__vm_grad_fn)(const float *x, const float *gy, float *gx, size_t n, float p);
typedef void (*tg__vm_both_fn)(const float *x, float *y, float *d, size_t n, float p);
typedef void (*tg__vm_map_isa_fn)(tg__vm_isa isa, const float *x, float *y, size_t n, float p);
typedef void (*tg__vm_grad_isa_fn)(tg__vm_isa isa, const float *x, const float *gy, float *gx,
                                   size_t n, float p);
typedef void (*tg__vm_both_isa_fn)(tg__vm_isa isa, const float *x, float *y, float *d, size_t n,
                                   float p);

/* Per kernel: the dispatched pair, the same on a chosen instruction set (an unavailable
 * one runs the baseline), and the plain scalar loops the vector code must match. */
#define TG__VM_DECLARE(name)                                                               \
    void tg__v##name(const float *x, float *y, size_t n, float p);                         \
    void tg__v##name##_grad(const float *x, const float *gy, float *gx, size_t n, float p); \
    void tg__v##name##_isa(tg__vm_isa isa, const float *x, float *y, size_t n, float p);   \
    void tg__v##name##_grad_isa(tg__vm_isa isa, const float *x, const float *gy, float *gx, \
                                size_t n, float p);                                        \
    void tg__v##name##_both(const float *x, float *y, float *d, size_t n, float p);        \
    void tg__v##name##_both_isa(tg__vm_isa isa, const float *x, float *y, float *d,        \
                                size_t n, float p);                                        \
    void tg__v##name##_ref(const float *x, float *y, size_t n, float p);                   \
    void tg__v##name##_grad_ref(const float *x, const float *gy, float *gx, size_t n, float p)

/* gx[i] += gy[i] * d[i]: a smooth rule's backward from the derivative its forward kept
 * (the _both kernels' d), with the bits the _grad kernel gives. */
void tg__vsaved_grad(const float *gy, const float *d, float *gx, size_t n);

TG__VM_DECLARE(tanh);
TG__VM_DECLARE(sigmoid);
TG__VM_DECLARE(softplus);
TG__VM_DECLARE(silu);
TG__VM_DECLARE(gelu);
TG__VM_DECLARE(gelu_erf);
TG__VM_DECLARE(elu);
TG__VM_DECLARE(safe_log);
TG__VM_DECLARE(smooth_abs);

#endif
