/* The comparison behind the accuracy table: float32 kernels run through the tape,
 * measured in float32 ULPs against the double local functions. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "accuracy/accuracy.h"

/* local.h spells the reference functions with and without a parameter and with a
 * kink report; these adapters give them all one shape for the table below. */
#define ACC_PLAIN(f)                                                                  \
    static double f##_v(double x, double p) { (void)p; return tg_local_##f(x); }      \
    static double f##_d(double x, double p)                                           \
    {                                                                                 \
        (void)p;                                                                      \
        return tg_local_##f##_deriv(x, NULL);                                         \
    }
#define ACC_PARAM(f)                                                                  \
    static double f##_v(double x, double p) { return tg_local_##f(x, p); }            \
    static double f##_d(double x, double p) { return tg_local_##f##_deriv(x, p, NULL); }

ACC_PLAIN(relu)
ACC_PARAM(leaky_relu)
ACC_PARAM(elu)
ACC_PLAIN(sigmoid)
ACC_PLAIN(tanh)
ACC_PLAIN(gelu)
ACC_PLAIN(gelu_erf)
ACC_PLAIN(softplus)
ACC_PLAIN(silu)
ACC_PARAM(safe_log)
ACC_PARAM(smooth_abs)

/* Parameters are the rules' defaults (rules.md). */
const acc_rule acc_rules[] = {
    { "relu", relu_v, relu_d, 0, 0.0f },
    { "leaky_relu", leaky_relu_v, leaky_relu_d, 1, 0.01f },
    { "elu", elu_v, elu_d, 1, 1.0f },
    { "sigmoid", sigmoid_v, sigmoid_d, 0, 0.0f },
    { "tanh", tanh_v, tanh_d, 0, 0.0f },
    { "gelu", gelu_v, gelu_d, 0, 0.0f },
    { "gelu_erf", gelu_erf_v, gelu_erf_d, 0, 0.0f },
    { "softplus", softplus_v, softplus_d, 0, 0.0f },
    { "silu", silu_v, silu_d, 0, 0.0f },
    { "safe_log", safe_log_v, safe_log_d, 1, 1e-6f },
    { "smooth_abs", smooth_abs_v, smooth_abs_d, 1, 1e-6f },
};
const size_t acc_n_rules = sizeof acc_rules / sizeof acc_rules[0];

const acc_rule *acc_rule_find(const char *name)
{
    for (size_t i = 0; i < acc_n_rules; i++)
        if (strcmp(acc_rules[i].name, name) == 0)
            return &acc_rules[i];
    return NULL;
}

const char *acc_dir_name(int dir) { return dir == ACC_VALUE ? "value" : "derivative"; }

/* +-0, +-min subnormal, +-FLT_MIN, +-FLT_MAX, +-inf, quiet NaN of both signs and a
 * signalling NaN. */
const uint32_t acc_specials[ACC_N_SPECIALS] = {
    0x00000000u, 0x80000000u, 0x00000001u, 0x80000001u, 0x00800000u, 0x80800000u, 0x7f7fffffu,
    0xff7fffffu, 0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00000u, 0x7f800001u,
};

/* Maps the sign-magnitude encoding to integers in the floats' order, with +0 and -0
 * both at 0: consecutive floats are consecutive integers, subnormals included. */
static int64_t ordered(float f)
{
    const uint32_t b = acc_bits(f);
    const int64_t mag = (int64_t)(b & 0x7fffffffu);
    return (b >> 31) ? -mag : mag;
}

uint64_t acc_ulp(float a, float b)
{
    const int64_t d = ordered(a) - ordered(b);
    return (uint64_t)(d < 0 ? -d : d);
}

/* |v| as whole float32 steps from 0 (*steps) plus a fraction of the next (*frac, in
 * [0, 1)): the ordered() coordinate extended to doubles. Both parts are exact: a normal
 * double's 52 mantissa bits are the float32 step (its top 23 bits) and 29 bits of
 * fraction; below FLT_MIN the steps are 2^-149 wide, and |v| 2^149 < 2^23 keeps 29
 * bits of fraction as well. Past FLT_MAX the last binade's steps continue. */
static void position(double v, int64_t *steps, double *frac)
{
    const double a = fabs(v);
    if (a < 0x1p-126) {
        const double s = a * 0x1p149;
        *steps = (int64_t)s;
        *frac = s - (double)*steps;
        return;
    }
    uint64_t b;
    memcpy(&b, &a, sizeof b);
    const int64_t e = (int64_t)(b >> 52) - 1023 + 127; /* float32 exponent field */
    const uint64_t m = b & 0x000fffffffffffffu;
    *steps = e * ((int64_t)1 << 23) + (int64_t)(m >> 29);
    *frac = (double)(m & 0x1fffffffu) * 0x1p-29;
}

double acc_ulp_error(float got, double want)
{
    int64_t steps;
    double frac;
    position(want, &steps, &frac);
    const int neg = signbit(want) != 0;
    /* got - want = (ordered(got) -+ steps) -+ frac: an exact integer, then one rounding */
    const int64_t whole = ordered(got) - (neg ? -steps : steps);
    const double d = (double)whole - (neg ? -frac : frac);
    return fabs(d);
}

double acc_midpoint_distance(double v)
{
    int64_t steps;
    double frac;
    position(v, &steps, &frac);
    return fabs(frac - 0.5);
}

void acc_stats_init(acc_stats *s) { memset(s, 0, sizeof *s); }

/* The class of special-value failure at x, or 0 when there is none. None of the rules
 * has a NaN at a non-NaN input or an infinity at a finite one, and every one has a limit
 * at +-inf, so these are checked outright; the reference still decides which limit. */
static unsigned special_failure(float x, float got, float want)
{
    if (isnan(x))
        return isnan(got) && isnan(want) ? 0 : ACC_NAN_IN;
    if (isnan(got) || isnan(want))
        return ACC_NAN;
    if (isinf(x))
        return got == want ? 0 : ACC_INF_IN;
    if (isinf(got) || isinf(want))
        return got == want ? 0 : ACC_INF;
    /* The ULP count merges the zeros; their sign matters where the input is a zero. */
    if (x == 0.0f && got == 0.0f && want == 0.0f && !signbit(got) != !signbit(want))
        return ACC_ZERO_SIGN;
    return 0;
}

static int lower(float a, float b) { return acc_bits(a) < acc_bits(b); }

static unsigned special_class(unsigned bit)
{
    unsigned c = 0;
    while (bit >>= 1)
        c++;
    return c;
}

void acc_compare(acc_stats *s, float x, float got, double want)
{
    s->checked++;
    const acc_sample here = { x, got, want };
    /* Specials compare with the reference rounded to float32: its NaN, its infinity
     * (a finite double past FLT_MAX rounds to one), its zero's sign. */
    const unsigned bad = special_failure(x, got, (float)want);
    if (bad) {
        const unsigned c = special_class(bad);
        if (!(s->specials & bad) || lower(x, s->special[c].x))
            s->special[c] = here;
        s->specials |= bad;
        s->special_fails++;
        return;
    }
    if (isnan(got) || isinf(got))
        return; /* NaN for NaN, or the reference's infinity: agreed */
    const double mid = acc_midpoint_distance(want);
    s->mid_exact += mid == 0.0;
    s->mid_near += mid < ACC_MID_NEAR;
    const double u = acc_ulp_error(got, want);
    s->over_half += u > 0.5;
    s->over1 += u > 1.0;
    if (u > s->max_ulp || (u == s->max_ulp && u > 0 && lower(x, s->worst.x))) {
        s->max_ulp = u;
        s->worst = here;
    }
}

void acc_stats_merge(acc_stats *into, const acc_stats *from)
{
    if (from->max_ulp > into->max_ulp ||
        (from->max_ulp == into->max_ulp && from->max_ulp > 0 &&
         lower(from->worst.x, into->worst.x))) {
        into->max_ulp = from->max_ulp;
        into->worst = from->worst;
    }
    for (unsigned c = 0; c < ACC_N_CLASSES; c++) {
        const unsigned bit = 1u << c;
        if ((from->specials & bit) &&
            (!(into->specials & bit) || lower(from->special[c].x, into->special[c].x)))
            into->special[c] = from->special[c];
    }
    into->checked += from->checked;
    into->over_half += from->over_half;
    into->over1 += from->over1;
    into->mid_exact += from->mid_exact;
    into->mid_near += from->mid_near;
    into->specials |= from->specials;
    into->special_fails += from->special_fails;
}

int acc_stats_pass(const acc_stats *s) { return s->specials == 0 && s->max_ulp <= ACC_MAX_ULP; }

char *acc_describe_specials(const acc_stats *s, char *buf, size_t len)
{
    static const char *const names[ACC_N_CLASSES] = { "nan-in", "nan", "inf-in", "inf",
                                                      "zero-sign" };
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned c = 0; c < ACC_N_CLASSES && used < len; c++) {
        if (!(s->specials & (1u << c)))
            continue;
        const acc_sample *e = &s->special[c];
        /* The bit pattern tells NaNs and zeros apart where %a cannot. */
        const int w = snprintf(buf + used, len - used,
                               "%s%s at x = %a (0x%08" PRIx32 "): got %.9g, want %.9g",
                               used ? "; " : "", names[c], (double)e->x, acc_bits(e->x),
                               (double)e->got, (double)e->want);
        used += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

tg_status acc_eval_init(acc_eval *e, const acc_rule *r, size_t n)
{
    const size_t shape[1] = { n };
    memset(e, 0, sizeof *e);
    e->rule = r;
    e->n = n;
    e->tg = tg_rule_find(r->name);
    if (!e->tg)
        return TG_ERR_NOT_FOUND;
    e->tape = tg_tape_new();
    e->x = tg_tensor_new(TG_PARAM, 1, shape);
    e->seed = tg_tensor_new(TG_CONST, 1, shape);
    if (!e->tape || !e->x || !e->seed) {
        acc_eval_fini(e);
        return TG_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++)
        e->seed->data[i] = 1.0f;
    return TG_OK;
}

void acc_eval_fini(acc_eval *e)
{
    tg_tensor_free(e->seed);
    tg_tensor_free(e->x);
    tg_tape_free(e->tape);
    e->seed = e->x = NULL;
    e->tape = NULL;
}

/* Copies the tape's error (it names the rule and shapes), or the thread's when the tape
 * holds none. */
static tg_status fail(const acc_eval *e, tg_status s, char *msg, size_t len)
{
    const char *why = tg_tape_status(e->tape) != TG_OK ? tg_tape_error(e->tape) : tg_last_error();
    snprintf(msg, len, "%s", why);
    return s;
}

tg_status acc_eval_measure(acc_eval *e, size_t count, acc_stats st[ACC_N_DIRS], char *msg,
                           size_t msg_len)
{
    const acc_rule *r = e->rule;
    const float param[1] = { r->param };
    float *gx = e->x->grad;
    /* Backward adds f'(x) * 1 into the gradient. Starting from -0 rather than
     * tg_zero_grad's +0 reads f'(x) back bit for bit: -0 is the exact additive identity
     * (-0 + v == v for every v, -0 included), while +0 would turn a -0 derivative into
     * +0 and hide its sign. */
    for (size_t i = 0; i < e->n; i++)
        gx[i] = -0.0f;
    tg_tape_reset(e->tape);
    tg_tensor *y = tg_apply(e->tape, e->tg, &e->x, 1, r->has_param ? param : NULL);
    if (!y)
        return fail(e, tg_tape_status(e->tape), msg, msg_len);
    const tg_status s = tg_backward(e->tape, y, e->seed);
    if (s != TG_OK)
        return fail(e, s, msg, msg_len);

    const float *x = e->x->data;
    const double p = r->param;
    for (size_t i = 0; i < count; i++) {
        acc_compare(&st[ACC_VALUE], x[i], y->data[i], r->value(x[i], p));
        acc_compare(&st[ACC_DERIV], x[i], gx[i], r->deriv(x[i], p));
    }
    return TG_OK;
}
