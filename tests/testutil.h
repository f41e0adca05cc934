/* Small helpers shared by the engine tests. */
#ifndef TAPEGRAD_TESTUTIL_H
#define TAPEGRAD_TESTUTIL_H

#include <tapegrad.h>

/* A TG_PARAM or TG_CONST tensor filled uniformly in [lo, hi) from rng. */
tg_tensor *tu_random(tg_kind kind, size_t rank, const size_t *shape, tg_pcg32 *rng, float lo,
                     float hi);
/* Uniform in [-1, 1): a float32 value, so exact in double. */
float tu_draw(tg_pcg32 *rng);
/* Higham's gamma_K = K u / (1 - K u): a sum or dot product of K terms computed with unit
 * roundoff u, in any order, is within gamma_K * sum|terms| of the exact value. */
double tu_gamma(size_t K, double u);
/* Puts a random gradient into a parameter (as earlier steps would have: parameter
 * gradients accumulate) and returns a copy of it, to check that backward adds onto it. */
tg_tensor *tu_earlier_grad(tg_tensor *param, tg_pcg32 *rng);
/* Skips the calling Criterion test when long double is not wider than double here. Tests
 * whose references are computed in long double need the extra bits; Valgrind, for one,
 * emulates x87 80-bit arithmetic with 64-bit doubles (a documented limitation). */
void tu_require_extended_long_double(void);
/* max_i |a_i - b_i| / max(max_i |b_i|, floor): an error relative to the reference's scale. */
double tu_scaled_diff(const float *a, const double *b, size_t n, double floor);

/* ---- shared by the tests of the operations models need (test_ops_*.c) ---- */
/* The named rule; the calling test fails when it is not registered. */
const tg_rule *tu_rule(const char *name);
/* tg_apply of the named rule must return NULL with status `want` on the tape and as the
 * last error, and the message must name the rule, contain `shapes` (as "[2,3], [2]")
 * and, when `why` is not NULL, contain `why` too. */
void tu_expect_refused(const char *rule, tg_tensor *const *in, size_t n, const float *params,
                       tg_status want, const char *shapes, const char *why);
/* tg_gradcheck_rule with its default step and tolerances must run and pass. */
void tu_gradcheck(const char *rule, tg_tensor *const *in, size_t n, const float *params);
/* Backward from y with a random cotangent of y's shape in [-1, 1); returns it. */
tg_tensor *tu_backward_random(tg_tape *t, tg_tensor *y, tg_pcg32 *rng);
/* Same value, zeros compared with their sign, NaN matching NaN. */
int tu_same(double a, double b);

/* An allocator hook (tg_set_allocator) that counts the library's allocations and can
 * refuse the Nth: install { tu_count_alloc, tu_count_free, &counter }. */
typedef struct {
    size_t calls;     /* allocations requested */
    long live;        /* allocated minus freed: 0 when nothing leaked */
    size_t fail_at;   /* refuse the Nth request (1-based); 0 never */
} tu_counter;
void *tu_count_alloc(size_t n, void *ctx);
void tu_count_free(void *p, void *ctx);

#endif
