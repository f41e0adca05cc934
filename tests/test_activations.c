/* The derivative laws of the eleven elementwise rules (rules.md), each checked by the
 * shared unary_check: local derivative against an extrapolated finite difference, kinks
 * and bad parameters reported, and the float32 tape against the double local functions. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <tapegrad.h>
#include "unary_check.h"

/* Adapters to the checker's one signature; parameterless rules ignore p. */
#define PLAIN(r)                                                                            \
    static double r##_f(double x, double p) { (void)p; return tg_local_##r(x); }            \
    static double r##_df(double x, double p, tg_point *at)                                  \
    {                                                                                       \
        (void)p;                                                                            \
        return tg_local_##r##_deriv(x, at);                                                 \
    }                                                                                       \
    static tg_tensor *r##_op(tg_tape *t, tg_tensor *x, float p) { (void)p; return tg_##r(t, x); }
#define WITH_PARAM(r)                                                                       \
    static double r##_f(double x, double p) { return tg_local_##r(x, p); }                  \
    static double r##_df(double x, double p, tg_point *at)                                  \
    {                                                                                       \
        return tg_local_##r##_deriv(x, p, at);                                              \
    }                                                                                       \
    static tg_tensor *r##_op(tg_tape *t, tg_tensor *x, float p) { return tg_##r(t, x, p); }

PLAIN(relu)
PLAIN(sigmoid)
PLAIN(tanh)
PLAIN(gelu)
PLAIN(gelu_erf)
PLAIN(softplus)
PLAIN(silu)
WITH_PARAM(leaky_relu)
WITH_PARAM(elu)
WITH_PARAM(safe_log)
WITH_PARAM(smooth_abs)

#define RULE(r, p) .name = #r, .f = r##_f, .df = r##_df, .op = r##_op, .param = (p)
#define LIMITS(...)                                                                         \
    .limits = (const uc_limit[]){ __VA_ARGS__ },                                            \
    .n_limits = sizeof((const uc_limit[]){ __VA_ARGS__ }) / sizeof(uc_limit)
#define BAD(...)                                                                            \
    .bad = (const float[]){ __VA_ARGS__ },                                                  \
    .n_bad = sizeof((const float[]){ __VA_ARGS__ }) / sizeof(float)

static const double inf = INFINITY, big = DBL_MAX;

Test(activations, relu_deriv_correct)
{
    uc_check(&(uc_rule){ RULE(relu, 0), .has_kink = 1,
                         LIMITS({ -inf, 0, 0 }, { inf, inf, 1 }, { -0.0, 0, 0 },
                                { big, big, 1 }, { -big, 0, 0 }) });
}

Test(activations, leaky_relu_deriv_correct)
{
    const double a = 0.01f;
    uc_check(&(uc_rule){ RULE(leaky_relu, 0.01f), .has_kink = 1,
                         BAD(0.0f, -0.01f, INFINITY, -INFINITY, NAN),
                         LIMITS({ -inf, -inf, a }, { inf, inf, 1 }, { -0.0, -0.0, a },
                                { big, big, 1 }, { -big, -big * a, a }) });
}

/* At alpha = 1 ELU is C1 at 0 (both one-sided derivatives are 1): no kink there. */
Test(activations, elu_deriv_correct)
{
    uc_check(&(uc_rule){ RULE(elu, 0.5f), .has_kink = 1, BAD(INFINITY, -INFINITY, NAN),
                         LIMITS({ -inf, -0.5, 0 }, { inf, inf, 1 }, { -0.0, -0.0, 0.5 },
                                { big, big, 1 }, { -big, -0.5, 0 }) });
    uc_check(&(uc_rule){ RULE(elu, 1.0f), LIMITS({ -0.0, -0.0, 1 }, { 0.0, 0.0, 1 }) });
}

Test(activations, sigmoid_deriv_correct)
{
    uc_check(&(uc_rule){ RULE(sigmoid, 0),
                         LIMITS({ -inf, 0, 0 }, { inf, 1, 0 }, { -0.0, 0.5, 0.25 },
                                { 0x1p-1074, 0.5, 0.25 }, { big, 1, 0 }, { -big, 0, 0 }) });
}

Test(activations, tanh_deriv_correct)
{
    uc_check(&(uc_rule){ RULE(tanh, 0),
                         LIMITS({ -inf, -1, 0 }, { inf, 1, 0 }, { -0.0, -0.0, 1 },
                                { 0x1p-1074, 0x1p-1074, 1 }, { big, 1, 0 }, { -big, -1, 0 }) });
}

/* The exact values left of ~-28 are negative and underflow: -0. */
Test(activations, gelu_deriv_correct)
{
    uc_check(&(uc_rule){ RULE(gelu, 0),
                         LIMITS({ -inf, -0.0, -0.0 }, { inf, inf, 1 }, { -0.0, -0.0, 0.5 },
                                { 1e200, 1e200, 1 }, { big, big, 1 }, { -big, -0.0, -0.0 },
                                { -40.0, -0.0, -0.0 }) });
}

Test(activations, gelu_erf_deriv_correct)
{
    uc_check(&(uc_rule){ RULE(gelu_erf, 0),
                         LIMITS({ -inf, -0.0, -0.0 }, { inf, inf, 1 }, { -0.0, -0.0, 0.5 },
                                { 1e200, 1e200, 1 }, { big, big, 1 }, { -big, -0.0, -0.0 },
                                { -60.0, -0.0, -0.0 }) });
}

Test(activations, softplus_deriv_correct)
{
    uc_check(&(uc_rule){ RULE(softplus, 0),
                         LIMITS({ -inf, 0, 0 }, { inf, inf, 1 }, { -0.0, log(2.0), 0.5 },
                                { big, big, 1 }, { -big, 0, 0 }) });
}

Test(activations, silu_deriv_correct)
{
    uc_check(&(uc_rule){ RULE(silu, 0),
                         LIMITS({ -inf, -0.0, -0.0 }, { inf, inf, 1 }, { -0.0, -0.0, 0.5 },
                                { big, big, 1 }, { -big, -0.0, -0.0 }) });
}

Test(activations, safe_log_deriv_correct)
{
    const double eps = 1e-6f;
    uc_check(&(uc_rule){ RULE(safe_log, 1e-6f), BAD(0.0f, -1e-6f, INFINITY, NAN),
                         LIMITS({ -inf, log(eps), 0 }, { inf, inf, 0 },
                                { big, log(big), 1.0 / big }, { -big, log(eps), 0 }) });
}

Test(activations, smooth_abs_deriv_correct)
{
    const double r = sqrt((double)1e-6f);
    uc_check(&(uc_rule){ RULE(smooth_abs, 1e-6f), BAD(0.0f, -1e-6f, INFINITY, NAN),
                         LIMITS({ -inf, inf, -1 }, { inf, inf, 1 }, { 0.0, r, 0.0 },
                                { -0.0, r, -0.0 }, { big, big, 1 }, { -big, big, -1 }) });
}
