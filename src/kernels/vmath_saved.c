/* The backward of a smooth rule whose forward kept its derivative (src/core/elementwise.h):
 * gx[i] += gy[i] * d[i], a float product and then a sum, as the _grad kernels round
 * them (this file, like them, is compiled without contraction into FMA), so the same
 * bits. Compiled for each instruction set and picked at every call, like them: at -O2's
 * baseline the loop runs 4 floats at a time, with AVX-512F 16. */
#include "vmath_core.h"

TG__VM_INLINE void saved_loop(const float *restrict gy, const float *restrict d,
                              float *restrict gx, size_t n)
{
    size_t i = 0;
    for (; n - i >= TG__VM_BLOCK; i += TG__VM_BLOCK)
        for (size_t j = 0; j < TG__VM_BLOCK; j++)
            gx[i + j] += gy[i + j] * d[i + j];
    for (; i < n; i++)
        gx[i] += gy[i] * d[i];
}

static void saved_base(const float *gy, const float *d, float *gx, size_t n)
{
    saved_loop(gy, d, gx, n);
}

#ifdef TG__VM_X86
__attribute__((target("avx2"))) static void saved_avx2(const float *gy, const float *d,
                                                       float *gx, size_t n)
{
    saved_loop(gy, d, gx, n);
}

__attribute__((target("avx512f"))) static void saved_avx512(const float *gy, const float *d,
                                                           float *gx, size_t n)
{
    saved_loop(gy, d, gx, n);
}
#endif

void tg__vsaved_grad(const float *gy, const float *d, float *gx, size_t n)
{
    switch (tg__vm_isa_best()) {
#ifdef TG__VM_X86
    case TG__VM_AVX512:
        saved_avx512(gy, d, gx, n);
        return;
    case TG__VM_AVX2:
        saved_avx2(gy, d, gx, n);
        return;
#endif
    default:
        saved_base(gy, d, gx, n);
        return;
    }
}
