/* Accuracy of the float32 elementwise kernels against the double-precision local
 * functions (local.h), measured in float32 ULPs from the double value itself (not from
 * that value rounded to float32): an error of at most 4 then means at most 4 float32
 * steps from the exact result, so from the correctly rounded one too, up to the
 * reference's own error of a few double ULPs (2^-26 of a float32 ULP). One
 * implementation of the comparison, shared by the sampled Criterion test and the
 * exhaustive program (tests/exhaustive). */
#ifndef TAPEGRAD_TESTS_ACCURACY_H
#define TAPEGRAD_TESTS_ACCURACY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <tapegrad.h>

/* The bound the issue sets for every value and derivative, in float32 ULPs. */
#define ACC_MAX_ULP 4.0
/* A reference this close to a float32 midpoint (in float32 ULPs) might round to the
 * wrong neighbour: 2^-20 ULP is 512 double ULPs, far above the reference's own error. */
#define ACC_MID_NEAR 0x1p-20

/* A measured rule: its name on the tape, its double reference and its default
 * parameter (the reference gets exactly (double)param, as the kernel sees param). */
typedef struct {
    const char *name;
    double (*value)(double x, double p);
    double (*deriv)(double x, double p);
    int has_param;
    float param;
} acc_rule;

extern const acc_rule acc_rules[];
extern const size_t acc_n_rules;
const acc_rule *acc_rule_find(const char *name);

enum { ACC_VALUE = 0, ACC_DERIV = 1, ACC_N_DIRS = 2 };
const char *acc_dir_name(int dir);

/* Classes of special-value failures, as bits of acc_stats.specials. */
enum {
    ACC_NAN_IN = 1u << 0,    /* a NaN input did not give NaN (kernel or reference) */
    ACC_NAN = 1u << 1,       /* NaN from a non-NaN input (none of these rules has one) */
    ACC_INF_IN = 1u << 2,    /* +-inf input did not give the reference's limit exactly */
    ACC_INF = 1u << 3,       /* finite against infinite, or infinities of opposite sign */
    ACC_ZERO_SIGN = 1u << 4, /* at input +-0, a zero result with the wrong sign */
    ACC_N_CLASSES = 5
};

typedef struct {
    float x, got;
    double want; /* the double reference */
} acc_sample;

/* Comparison results of one rule in one direction. */
typedef struct {
    uint64_t checked;      /* inputs compared */
    double max_ulp;        /* over the inputs without a special failure */
    acc_sample worst;      /* where max_ulp occurs (lowest bit pattern among ties);
                              meaningless while max_ulp is 0 */
    uint64_t over_half;    /* inputs above 1/2 ULP: not correctly rounded */
    uint64_t over1;        /* inputs with an error above 1 ULP */
    uint64_t mid_exact;    /* inputs whose reference is a float32 midpoint exactly */
    uint64_t mid_near;     /* ... or within ACC_MID_NEAR of one (exact ones included) */
    unsigned specials;     /* ACC_* classes that failed somewhere */
    uint64_t special_fails;
    /* per class, its failing input with the lowest bit pattern */
    acc_sample special[ACC_N_CLASSES];
} acc_stats;

void acc_stats_init(acc_stats *s);
/* Adds `from` into `into`; ties resolve to the lower bit pattern, so the merged result
 * does not depend on how inputs were split among threads. */
void acc_stats_merge(acc_stats *into, const acc_stats *from);
/* Counts one input x whose kernel gave `got` where the reference is `want`. */
void acc_compare(acc_stats *s, float x, float got, double want);
/* 1 when s is within ACC_MAX_ULP and has no special failure. */
int acc_stats_pass(const acc_stats *s);
/* Names each failed special class with its example, as
 * "nan-in at x = nan (0x7fc00000): got 0, want nan"; "" when none failed. Returns buf. */
char *acc_describe_specials(const acc_stats *s, char *buf, size_t len);

/* Distance between two floats in representable steps (exact across binades and
 * subnormals); +0 and -0 are the same point. */
uint64_t acc_ulp(float a, float b);
/* Distance from the float `got` to the finite double `want` in float32 steps: a double
 * between two adjacent floats sits proportionally between them, so consecutive floats
 * are 1 apart in every binade and the subnormals, and a correctly rounded result is at
 * most 1/2 from its exact value. Exact to 2^-29 of a step. */
double acc_ulp_error(float got, double want);
/* How far the finite double v is from the nearest float32 midpoint (the boundary where
 * rounding to float32 changes), in float32 steps: 0 on a midpoint, 1/2 on a float. */
double acc_midpoint_distance(double v);

/* Inline: the exhaustive sweep converts every one of its 2^32 inputs. */
static inline uint32_t acc_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static inline float acc_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* The inputs every run checks by name: +-0, +-min subnormal, +-FLT_MIN, +-FLT_MAX,
 * +-inf and three NaNs. */
#define ACC_N_SPECIALS 13
extern const uint32_t acc_specials[ACC_N_SPECIALS];

/* The float32 kernel, evaluated through the tape with the public API only: one tape and
 * fixed tensors of n elements, reused for every batch (nothing is allocated per batch). */
typedef struct {
    const acc_rule *rule;
    const tg_rule *tg;
    tg_tape *tape;
    tg_tensor *x;     /* TG_PARAM [n]: write the inputs into x->data */
    tg_tensor *seed;  /* ones: the gradient read back is f'(x) itself */
    size_t n;
} acc_eval;

/* Returns TG_OK; TG_ERR_NOT_FOUND when no rule is registered under r->name, or the error of
 * the tape or tensor allocation (tg_last_error() then describes it). */
tg_status acc_eval_init(acc_eval *e, const acc_rule *r, size_t n);
void acc_eval_fini(acc_eval *e);
/* Runs the kernel on e->x->data and compares the first `count` results of both
 * directions with the reference, adding into st[ACC_VALUE] and st[ACC_DERIV]. On a
 * tape error returns it, with the message in msg. */
tg_status acc_eval_measure(acc_eval *e, size_t count, acc_stats st[ACC_N_DIRS], char *msg,
                           size_t msg_len);

#endif
