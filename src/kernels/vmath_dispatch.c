/* Which instruction set the vmath kernels run: asked of the CPU at every call (a few
 * loads from the compiler runtime's CPU model, no state of ours). __builtin_cpu_supports
 * also checks that the OS saves the wide registers; under Valgrind, which does not
 * emulate AVX-512, it answers no and the AVX2 code runs. */
#include "vmath_core.h"

tg__vm_isa tg__vm_isa_best(void)
{
#ifdef TG__VM_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return TG__VM_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return TG__VM_AVX2;
#endif
    return TG__VM_BASE;
}

int tg__vm_isa_available(tg__vm_isa isa)
{
    /* every CPU with AVX-512F has AVX2 */
    return (unsigned)isa <= (unsigned)tg__vm_isa_best();
}

const char *tg__vm_isa_name(tg__vm_isa isa)
{
    static const char *const names[TG__VM_N_ISA] = { "baseline", "avx2", "avx512f" };
    return (unsigned)isa < TG__VM_N_ISA ? names[isa] : "unknown";
}
