/* The shared check behind each activations/<rule>_deriv_correct test: one elementwise
 * rule, its double local functions and its typed wrapper, checked three ways:
 *  (a) the local derivative against a Ridders-extrapolated central difference of the
 *      local value function on a few thousand points over every binade, and at the
 *      rule's limits (+-inf, -0, +-DBL_MAX), bit for bit;
 *  (b) kinks and bad parameters: `at` reports them, the tape counts kinks, tg_apply
 *      refuses a bad parameter with TG_ERR_PARAM and the rule's name;
 *  (c) the tape's float32 value and gradient against the local functions rounded to
 *      float, over random bit patterns of every binade and the special values. */
#ifndef TAPEGRAD_TESTS_UNARY_CHECK_H
#define TAPEGRAD_TESTS_UNARY_CHECK_H

#include <stddef.h>
#include <tapegrad.h>

/* An exact expectation: f(x) and f'(x), zeros compared with their sign. */
typedef struct {
    double x, f, df;
} uc_limit;

#define UC_MAX_LIMITS 16

typedef struct {
    const char *name;
    double (*f)(double x, double p);
    double (*df)(double x, double p, tg_point *at);
    tg_tensor *(*op)(tg_tape *t, tg_tensor *x, float p);
    float param;              /* passed to all three (ignored by parameterless rules) */
    int has_kink;             /* at x = 0, for this param */
    const float *bad;         /* parameters outside the domain */
    size_t n_bad;
    const uc_limit *limits;   /* at most UC_MAX_LIMITS */
    size_t n_limits;
} uc_rule;

/* Runs (a), (b) and (c) with Criterion assertions. */
void uc_check(const uc_rule *r);

#endif
