/* The vectorized activation kernels (src/kernels/vmath*): their double-precision range
 * reductions against libm, and every compiled instruction set against the plain scalar
 * loop, bit for bit. Their accuracy against the local functions is the accuracy suite's
 * job (test_accuracy_sampled.c, make check-exhaustive). */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include "../src/kernels/vmath_core.h"
#include "accuracy/accuracy.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF   /* gy * d then the sum, as the kernels round them */
#endif

typedef struct {
    const char *name;
    tg__vm_map_fn map;
    tg__vm_grad_fn grad;
    tg__vm_map_isa_fn map_isa;
    tg__vm_grad_isa_fn grad_isa;
    tg__vm_map_fn map_ref;
    tg__vm_grad_fn grad_ref;
    tg__vm_both_isa_fn both_isa;
    float p; /* the rule's default parameter */
} kernel;

#define K(n, p) { #n, tg__v##n, tg__v##n##_grad, tg__v##n##_isa, tg__v##n##_grad_isa,     \
                  tg__v##n##_ref, tg__v##n##_grad_ref, tg__v##n##_both_isa, p }
static const kernel kernels[] = {
    K(tanh, 0.0f),     K(sigmoid, 0.0f), K(softplus, 0.0f), K(silu, 0.0f),
    K(gelu, 0.0f),     K(gelu_erf, 0.0f), K(elu, 1.0f),     K(safe_log, 1e-6f),
    K(smooth_abs, 1e-6f),
};
#define N_KERNELS (sizeof kernels / sizeof kernels[0])

/* ---- the range reductions ------------------------------------------------------------
 * Tolerances: the fits' errors (vmath_coeffs.py) where they enter the result plus a few
 * double roundings; they guard the tables and the reductions. (The kernels need far
 * less: a float32 ULP is 2^-24, and the tightest spot, the cancelling windows, needs
 * 2^-36.) The libm functions are within an ULP of double. */
static double rel(double got, double want) { return fabs(got - want) / fabs(want); }

static double draw(tg_pcg32 *rng, double lo, double hi)
{
    return lo + (hi - lo) * tg_pcg32_double(rng);
}

/* Fit error 7.3e-15 times r^2 <= 0.12, then 1 + q and the scaling: 2^-48 */
Test(vmath, exp_within_2e_48)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 1, 1);
    for (int i = 0; i < 200000; i++) {
        const double x = draw(&rng, -708.0, 709.0);
        cr_expect(rel(tg__vm_exp(x), exp(x)) <= 0x1p-48, "exp(%a) = %a, libm %a", x,
                  tg__vm_exp(x), exp(x));
    }
    cr_expect_eq(tg__vm_exp(0.0), 1.0);
    cr_expect_eq(tg__vm_exp(-INFINITY), tg__vm_exp(-708.0), "clamped below");
    cr_expect_eq(tg__vm_exp(INFINITY), tg__vm_exp(709.0), "clamped above");
    cr_expect(isfinite(tg__vm_exp(709.0)) && tg__vm_exp(-708.0) >= DBL_MIN, "normal at both ends");
    cr_expect(isnan(tg__vm_exp(NAN)));
}

/* Relative to e^x - 1: the fit's error times |r| <= 0.35 where k = 0, and a cancellation
 * of at most 2 in s q + (s - 1) elsewhere: 2^-46 */
Test(vmath, expm1_within_2e_46)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 2, 2);
    for (int i = 0; i < 200000; i++) {
        const double m = ldexp(draw(&rng, 1.0, 2.0), (int)tg_pcg32_bounded(&rng, 70) - 60);
        const double x = tg_pcg32_next(&rng) & 1 ? -m : m;
        if (fabs(x) > 700.0)
            continue;
        cr_expect(rel(tg__vm_expm1(x), expm1(x)) <= 0x1p-46, "expm1(%a) = %a, libm %a", x,
                  tg__vm_expm1(x), expm1(x));
    }
    cr_expect(tg__vm_expm1(-0.0) == 0.0 && signbit(tg__vm_expm1(-0.0)), "-0 stays -0");
    cr_expect_eq(tg__vm_expm1(0x1p-1074), 0x1p-1074);
    cr_expect_eq(tg__vm_expm1(-INFINITY), -1.0);
    cr_expect(isnan(tg__vm_expm1(NAN)));
}

/* log: the fit's 2.4e-14 times z <= 0.03 and the rounding of s: 2^-48 relative, also
 * near y = 1 (log1p(m - 1) with m - 1 exact). log1p adds the rounding of 1 + v back. */
Test(vmath, log_and_log1p_within_2e_48)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 3, 3);
    for (int i = 0; i < 200000; i++) {
        const double y = ldexp(draw(&rng, 1.0, 2.0), (int)tg_pcg32_bounded(&rng, 2044) - 1022);
        const double z = draw(&rng, 0.5, 2.0);
        const double v = ldexp(draw(&rng, 1.0, 2.0), -(int)tg_pcg32_bounded(&rng, 80)) *
                         (tg_pcg32_next(&rng) & 1 ? -0.25 : 1.0);
        cr_expect(rel(tg__vm_log(y), log(y)) <= 0x1p-48, "log(%a) = %a, libm %a", y,
                  tg__vm_log(y), log(y));
        cr_expect(z == 1.0 || rel(tg__vm_log(z), log(z)) <= 0x1p-48, "log(%a) = %a, libm %a",
                  z, tg__vm_log(z), log(z));
        cr_expect(rel(tg__vm_log1p(v), log1p(v)) <= 0x1p-48, "log1p(%a) = %a, libm %a", v,
                  tg__vm_log1p(v), log1p(v));
    }
    cr_expect_eq(tg__vm_log(1.0), 0.0);
    cr_expect_eq(tg__vm_log(INFINITY), INFINITY);
    cr_expect(isnan(tg__vm_log(NAN)));
    cr_expect_eq(tg__vm_log1p(0x1p-60), 0x1p-60, "tiny v: log1p(v) = v");
}

/* erfcx(t) = e^(t^2) erfc(t), the reference with t^2 split exactly (fma) so that it
 * adds only 2^-52: the fit's relative error is 2^-43.4; bound 2^-42. */
Test(vmath, erfcx_within_2e_42)
{
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 4, 4);
    for (int i = 0; i < 200000; i++) {
        const double t = draw(&rng, 0.0, 10.5);
        const double hi = t * t, lo = fma(t, t, -hi);
        const double want = erfc(t) * exp(hi) * (1.0 + lo);
        cr_expect(rel(tg__vm_erfcx(t), want) <= 0x1p-42, "erfcx(%a) = %a, reference %a", t,
                  tg__vm_erfcx(t), want);
    }
    cr_expect(rel(tg__vm_erfcx(0.0), 1.0) <= 0x1p-42);
    cr_expect_eq(tg__vm_erfcx(INFINITY), tg__vm_erfcx(10.5), "held at t = 10.5");
}

/* ---- the kernels: every instruction set against the scalar loop --------------------- */

/* Random bit patterns (every binade, subnormals, NaNs), the specials, a dense stretch
 * of [-8, 8] and the cancelling windows of silu', gelu', gelu_erf' and safe_log. */
#define N_IN 8192
static size_t inputs(float *x)
{
    static const float hard[] = { -1.2784645f, -0.7524614f, -0.7517915f, 0.5413249f,
                                  -14.5f,      -28.0f,      -40.0f,      1e-6f };
    tg_pcg32 rng;
    size_t n = 0;
    tg_pcg32_seed(&rng, 0x766d617468u, 5);
    for (size_t i = 0; i < ACC_N_SPECIALS; i++)
        x[n++] = acc_float(acc_specials[i]);
    for (size_t h = 0; h < sizeof hard / sizeof hard[0]; h++)
        for (int k = -64; k < 64; k++)
            x[n++] = acc_float(acc_bits(hard[h]) + (uint32_t)k);
    while (n < N_IN / 2)
        x[n++] = 16.0f * tg_pcg32_float(&rng) - 8.0f;
    while (n < N_IN)
        x[n++] = acc_float(tg_pcg32_next(&rng));
    return n;
}

/* Equal bits, or both NaN (a NaN's payload is not part of the result). */
static int same_bits(float a, float b)
{
    return (isnan(a) && isnan(b)) || acc_bits(a) == acc_bits(b);
}

static void expect_same(const kernel *k, const char *what, tg__vm_isa isa, const float *x,
                        const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_expect(same_bits(got[i], want[i]), "%s %s on %s at x = %a (element %zu of %zu): %a, "
                  "scalar loop %a", k->name, what, tg__vm_isa_name(isa), (double)x[i], i, n,
                  (double)got[i], (double)want[i]);
}

/* n elements from x at offset off (lengths around the block size exercise the padded
 * tail), value and gradient, and both from _both, on one instruction set. */
static void compare_run(const kernel *k, tg__vm_isa isa, const float *x, const float *gy,
                        size_t n)
{
    static float y[N_IN], yr[N_IN], gx[N_IN], gxr[N_IN];
    for (size_t i = 0; i < n; i++)
        gx[i] = gxr[i] = 0.25f * (float)i - 3.0f; /* gradients add onto what is there */
    k->map_isa(isa, x, y, n, k->p);
    k->map_ref(x, yr, n, k->p);
    k->grad_isa(isa, x, gy, gx, n, k->p);
    k->grad_ref(x, gy, gxr, n, k->p);
    expect_same(k, "value", isa, x, y, yr, n);
    expect_same(k, "gradient", isa, x, gx, gxr, n);
    /* value and derivative in one pass: the same value, and the derivative that gives
     * the gradient's bits through the same float product and sum */
    static float yb[N_IN], d[N_IN];
    k->both_isa(isa, x, yb, d, n, k->p);
    for (size_t i = 0; i < n; i++)
        gx[i] = (0.25f * (float)i - 3.0f) + gy[i] * d[i];
    expect_same(k, "value of _both", isa, x, yb, yr, n);
    expect_same(k, "gradient from _both's derivative", isa, x, gx, gxr, n);
    for (size_t i = 0; i < n; i++)
        gx[i] = 0.25f * (float)i - 3.0f;
    tg__vsaved_grad(gy, d, gx, n);
    expect_same(k, "gradient by tg__vsaved_grad", tg__vm_isa_best(), x, gx, gxr, n);
}

Test(vmath, every_isa_matches_the_scalar_loop_bit_for_bit)
{
    static float x[N_IN], gy[N_IN];
    const size_t n = inputs(x);
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 6, 6);
    for (size_t i = 0; i < n; i++)
        gy[i] = 4.0f * tg_pcg32_float(&rng) - 2.0f;
    int ran = 0;
    for (int isa = TG__VM_BASE; isa < TG__VM_N_ISA; isa++) {
        if (!tg__vm_isa_available((tg__vm_isa)isa))
            continue;
        ran++;
        for (size_t k = 0; k < N_KERNELS; k++) {
            compare_run(&kernels[k], (tg__vm_isa)isa, x, gy, n);
            for (size_t len = 0; len <= 3 * TG__VM_BLOCK + 1; len++)
                compare_run(&kernels[k], (tg__vm_isa)isa, x + 1000 + len, gy, len);
        }
    }
    cr_log_info("vmath: compared %d instruction sets; this CPU runs %s", ran,
                tg__vm_isa_name(tg__vm_isa_best()));
    cr_expect_geq(ran, 1);
}

/* The dispatched entry points run the best instruction set. */
Test(vmath, dispatch_runs_the_best_isa)
{
    static float x[N_IN], y[N_IN], yb[N_IN], gy[N_IN], gx[N_IN], gxb[N_IN];
    const size_t n = inputs(x);
    const tg__vm_isa best = tg__vm_isa_best();
    cr_expect(tg__vm_isa_available(best) && tg__vm_isa_available(TG__VM_BASE));
    cr_expect_not(tg__vm_isa_available(TG__VM_N_ISA));
    for (size_t i = 0; i < n; i++)
        gy[i] = 1.0f;
    for (size_t k = 0; k < N_KERNELS; k++) {
        const kernel *kr = &kernels[k];
        memset(gx, 0, sizeof gx);
        memset(gxb, 0, sizeof gxb);
        kr->map(x, y, n, kr->p);
        kr->map_isa(best, x, yb, n, kr->p);
        kr->grad(x, gy, gx, n, kr->p);
        kr->grad_isa(best, x, gy, gxb, n, kr->p);
        expect_same(kr, "dispatched value", best, x, y, yb, n);
        expect_same(kr, "dispatched gradient", best, x, gx, gxb, n);
    }
}

/* A kernel that differs from the scalar loop must be seen: the comparison itself. */
Test(vmath, comparison_sees_one_bit)
{
    cr_expect(same_bits(NAN, -NAN));
    cr_expect_not(same_bits(1.0f, nextafterf(1.0f, 2.0f)));
    cr_expect_not(same_bits(0.0f, -0.0f), "the sign of zero is part of the result");
}
