/* The exhaustive accuracy table (`make check-exhaustive`): every elementwise rule's
 * float32 value and derivative on every one of the 2^32 float32 inputs, measured in
 * float32 ULPs against the double local functions, written as docs/accuracy.md.
 *
 *   exhaustive [--threads N] [--out FILE] [--rule NAME] [--stride K]
 *
 * --threads defaults to 2, --out to stdout, --rule to all eleven. --stride K checks the
 * bit patterns 0, K, 2K, ... (plus the named specials) for quick runs.
 * Exit status: 0 when every bound and special holds, 1 when one fails, 2 on an error. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "accuracy/accuracy.h"
#include "../../src/kernels/vmath.h" /* only to name the instruction set the kernels ran */

#define CHUNK ((size_t)1 << 16) /* inputs per tape run: 1 MiB of tensors per thread */
#define N_PATTERNS ((uint64_t)1 << 32)
#define MAX_THREADS 64

typedef struct {
    unsigned threads;
    const char *out;
    const acc_rule *rule; /* NULL: all */
    uint64_t stride;
} options;

typedef struct {
    const acc_rule *rule;
    uint64_t stride, count; /* the inputs are the bit patterns i * stride, i < count */
    unsigned index, n_threads;
    acc_stats st[ACC_N_DIRS];
    tg_status status;
    char msg[512];
} worker;

typedef struct {
    const acc_rule *rule;
    acc_stats st[ACC_N_DIRS];
    uint64_t specials; /* named specials measured off the stride */
    double seconds;
} result;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *sweep(void *arg)
{
    worker *w = arg;
    acc_eval e;
    w->status = acc_eval_init(&e, w->rule, CHUNK);
    if (w->status != TG_OK) {
        snprintf(w->msg, sizeof w->msg, "%s: %s", w->rule->name, tg_last_error());
        return NULL;
    }
    /* Chunks are dealt round-robin, so that each thread gets a share of every region
     * (NaNs are cheap, large arguments of exp are not) and the threads end together. */
    const uint64_t n_chunks = (w->count + CHUNK - 1) / CHUNK;
    for (uint64_t c = w->index; c < n_chunks && w->status == TG_OK; c += w->n_threads) {
        const uint64_t first = c * CHUNK;
        const size_t n = (size_t)(w->count - first < CHUNK ? w->count - first : CHUNK);
        /* In a short last chunk the tail keeps old inputs: run, but not compared. */
        for (size_t i = 0; i < n; i++)
            e.x->data[i] = acc_float((uint32_t)((first + i) * w->stride));
        w->status = acc_eval_measure(&e, n, w->st, w->msg, sizeof w->msg);
    }
    acc_eval_fini(&e);
    return NULL;
}

/* The named specials that a strided sweep steps over. */
static tg_status measure_specials(const acc_rule *r, uint64_t stride, result *res, char *msg,
                                  size_t len)
{
    acc_eval e;
    const tg_status s = acc_eval_init(&e, r, ACC_N_SPECIALS);
    if (s != TG_OK) {
        snprintf(msg, len, "%s: %s", r->name, tg_last_error());
        return s;
    }
    size_t n = 0;
    for (size_t i = 0; i < ACC_N_SPECIALS; i++)
        if (acc_specials[i] % stride != 0)
            e.x->data[n++] = acc_float(acc_specials[i]);
    const tg_status m = acc_eval_measure(&e, n, res->st, msg, len);
    res->specials = n;
    acc_eval_fini(&e);
    return m;
}

static tg_status measure_rule(const acc_rule *r, const options *o, result *res, char *msg,
                              size_t len)
{
    worker w[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    const uint64_t count = (N_PATTERNS + o->stride - 1) / o->stride;
    unsigned started = 0;
    tg_status s = TG_OK;

    res->rule = r;
    res->specials = 0;
    for (int d = 0; d < ACC_N_DIRS; d++)
        acc_stats_init(&res->st[d]);
    const double t0 = now();
    for (unsigned t = 0; t < o->threads; t++) {
        w[t] = (worker){ .rule = r, .stride = o->stride, .count = count, .index = t,
                         .n_threads = o->threads };
        for (int d = 0; d < ACC_N_DIRS; d++)
            acc_stats_init(&w[t].st[d]);
        if (pthread_create(&tid[t], NULL, sweep, &w[t]) != 0) {
            snprintf(msg, len, "%s: cannot start thread %u", r->name, t);
            s = TG_ERR_STATE;
            break;
        }
        started++;
    }
    for (unsigned t = 0; t < started; t++) {
        pthread_join(tid[t], NULL);
        if (s == TG_OK && w[t].status != TG_OK) {
            s = w[t].status;
            snprintf(msg, len, "%s", w[t].msg);
        }
        for (int d = 0; d < ACC_N_DIRS; d++)
            acc_stats_merge(&res->st[d], &w[t].st[d]);
    }
    if (s == TG_OK && o->stride > 1)
        s = measure_specials(r, o->stride, res, msg, len);
    res->seconds = now() - t0;
    return s;
}

/* --- the report --- */

static void print_sample_cells(FILE *f, const acc_stats *s)
{
    if (s->max_ulp == 0) {
        fputs(" - | - | - | - |", f);
        return;
    }
    fprintf(f, " %a | %.9g | %.9g | %.12g |", (double)s->worst.x, (double)s->worst.x,
            (double)s->worst.got, s->worst.want);
}

static void print_specials_cell(FILE *f, const acc_stats *s)
{
    char what[512];
    if (s->specials == 0) {
        fputs(" ok |", f);
        return;
    }
    fprintf(f, " **%" PRIu64 " inputs fail**: %s |", s->special_fails,
            acc_describe_specials(s, what, sizeof what));
}

static void print_coverage(FILE *f, const options *o, const result *r)
{
    if (o->stride == 1) {
        fputs("every one of the 2^32 float32 inputs (all bit patterns, NaNs included)", f);
        return;
    }
    fprintf(f, "the bit patterns 0, K, 2K, ... with K = %" PRIu64 ", plus %" PRIu64
               " named specials off that stride (%" PRIu64 " inputs); **not exhaustive**",
            o->stride, r->specials, r->st[ACC_VALUE].checked);
}

static int write_report(FILE *f, int argc, char **argv, const options *o, const result *res,
                        size_t n, double wall)
{
    char date[64];
    const time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    int pass = 1;
    for (size_t i = 0; i < n; i++)
        pass &= acc_stats_pass(&res[i].st[ACC_VALUE]) & acc_stats_pass(&res[i].st[ACC_DERIV]);

    fputs("# Accuracy of the float32 elementwise kernels\n\nGenerated by `", f);
    for (int i = 0; i < argc; i++)
        fprintf(f, "%s%s", i ? " " : "", argv[i]);
    fprintf(f, "` on %s, %u threads, wall time %.1f s. Inputs per rule and direction: ", date,
            o->threads, wall);
    print_coverage(f, o, &res[0]);
    fprintf(f, ". The vector kernels ran their %s variant, this CPU's widest "
               "(`tests/test_vmath.c` checks that the other instruction sets give the same bits).",
            tg__vm_isa_name(tg__vm_isa_best()));
    fprintf(f, "\n\nResult: **%s**: bound %g ULP.\n\n", pass ? "pass" : "FAIL", ACC_MAX_ULP);

    fputs("| rule | direction | max ULP | at x | at x (decimal) | got | reference | > 1/2 ULP | "
          "> 1 ULP | reference on a midpoint | within 2^-20 ULP of one | specials |\n"
          "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|---|\n",
          f);
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < ACC_N_DIRS; d++) {
            const acc_stats *s = &res[i].st[d];
            fprintf(f, "| %s | %s | %.6f%s |", res[i].rule->name, acc_dir_name(d), s->max_ulp,
                    s->max_ulp > ACC_MAX_ULP ? " **over**" : "");
            print_sample_cells(f, s);
            fprintf(f, " %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " |", s->over_half,
                    s->over1, s->mid_exact, s->mid_near);
            print_specials_cell(f, s);
            fputc('\n', f);
        }

    fprintf(f,
            "\n## What the numbers mean\n\n"
            "- Each rule runs on the tape through the public API (`tg_apply`, then "
            "`tg_backward` seeded with ones), so *value* is the forward kernel's output and "
            "*derivative* the gradient it leaves in the input. Parameters are the defaults: "
            "leaky_relu alpha 0.01, elu alpha 1, safe_log and smooth_abs eps 1e-6 (the "
            "reference gets the same float32 value, widened to double).\n"
            "- *reference* is the double-precision local function "
            "(`include/tapegrad/local.h`) at the same input, kept in double: those functions "
            "are accurate to a few double ULPs, and a float32 ULP is 2^29 double ULPs.\n"
            "- *max ULP* is the largest distance from *got* to the reference in float32 "
            "steps: a double between two adjacent floats sits proportionally between them, "
            "and consecutive floats are 1 apart in every binade and among the subnormals "
            "(+0 and -0 are the same point). A correctly rounded result scores at most 1/2; "
            "a score of at most %g means at most %g steps from the exact value, hence (both "
            "being floats) at most %g from the correctly rounded result, up to the "
            "reference's own error of ~2^-26 step. *at x* is the lowest-bit-pattern input "
            "where the maximum occurs. *> 1/2 ULP* counts the results that are not the "
            "correctly rounded one as far as the reference can tell (see the midpoints "
            "below), *> 1 ULP* those more than one step from the exact value.\n",
            ACC_MAX_ULP, ACC_MAX_ULP, ACC_MAX_ULP);
    fputs("- Why not compare with the reference rounded to float32, as this table did "
          "before: that rounding is not the correctly rounded result everywhere. *reference "
          "on a midpoint* counts the inputs where the double reference lies exactly halfway "
          "between two floats, *within 2^-20 ULP of one* those within 2^-20 step of a "
          "midpoint (512 double ULPs, far above the reference's own error), exact ones "
          "included. Only at these inputs can the reference's error decide its rounding; "
          "at every other input the rounded reference is the correctly rounded result. "
          "The exact midpoints are of two kinds. Where the reference is exact they are true "
          "ties, and rounding to even is correct: leaky_relu's x * alpha is a product of two "
          "floats, exact in double. Elsewhere a term below double precision was dropped and "
          "the exact value lies on a side of the midpoint that the double cannot show. "
          "gelu, gelu_erf and silu are x/2 + c x^2 + ... (c = 0.399, 0.399, 1/4): for "
          "|x| < 2^-125 with an odd last bit (2^24 inputs) c x^2 is some 2^-100 of x/2, so "
          "the reference is exactly x/2, a midpoint, while the exact value lies just above "
          "it. sigmoid (and softplus') and silu' are 1/2 + x/4 - x^3/48 and "
          "1/2 + x/2 - x^3/12 near 0, whose cubic term drops below a double ULP of 1/2 for "
          "tiny x. At such inputs rounding the reference to even picks the wrong float "
          "about half of the time. Besides these families a few inputs per rule land on a "
          "midpoint by chance (the double carries 29 bits below a float32 step, so about "
          "one input in 2^29 does), and there the reference's own error decides, as it "
          "does near one. The kernels drop the same terms and score exactly 1/2 "
          "there (either neighbour of a midpoint does), which is their true error up to "
          "2^-100 step; against the rounded reference they would have scored 0 or 1 "
          "depending on the tie-break alone.\n"
          "- A kernel rounds its own double value, which differs from the reference by far "
          "less than a step (its polynomials are good to 2^-43 relative, 2^-19 step), so it "
          "can round differently from the reference only that close to a midpoint: the "
          "inputs counted in *> 1/2 ULP* are such ones, and *max ULP* shows how little "
          "they exceed 1/2.\n"
          "- *specials* must all hold; inputs failing one are left out of the ULP columns. "
          "`nan-in`: a NaN input gives NaN (value and derivative). `nan`: no NaN from a "
          "non-NaN input. `inf-in`: +-inf give exactly the reference's limit. `inf`: no "
          "infinity where the reference is finite or the reverse. `zero-sign`: at input "
          "+-0 a zero result has the reference's sign (the derivative is read from a "
          "gradient that starts at -0, so its sign survives the accumulation).\n"
          "- `make check` enforces the same bounds and specials on 2^20 inputs per rule "
          "(every sign and exponent, random mantissas) in `tests/test_accuracy_sampled.c`; "
          "`make check-exhaustive` regenerates this file.\n",
          f);
    return pass;
}

/* --- options --- */

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *v)
{
    char *end;
    errno = 0;
    const unsigned long long x = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || x < lo || x > hi)
        return 0;
    *v = x;
    return 1;
}

static int usage(const char *msg)
{
    fprintf(stderr,
            "exhaustive: %s\nusage: exhaustive [--threads N] [--out FILE] [--rule NAME] "
            "[--stride K]\n",
            msg);
    return 0;
}

static int parse_options(int argc, char **argv, options *o)
{
    *o = (options){ .threads = 2, .out = NULL, .rule = NULL, .stride = 1 };
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t v;
        if (!arg)
            return usage("missing value after the last option");
        i++;
        if (strcmp(opt, "--threads") == 0) {
            if (!parse_u64(arg, 1, MAX_THREADS, &v))
                return usage("--threads takes 1..64");
            o->threads = (unsigned)v;
        } else if (strcmp(opt, "--stride") == 0) {
            if (!parse_u64(arg, 1, N_PATTERNS, &v))
                return usage("--stride takes 1..2^32");
            o->stride = v;
        } else if (strcmp(opt, "--out") == 0) {
            o->out = arg;
        } else if (strcmp(opt, "--rule") == 0) {
            if (!(o->rule = acc_rule_find(arg)))
                return usage("--rule: not an elementwise rule");
        } else {
            return usage("unknown option");
        }
    }
    return 1;
}

/* Writes the table to --out (or stdout); returns the exit status. */
static int publish(const options *o, int argc, char **argv, const result *res, size_t n,
                   double wall)
{
    FILE *f = o->out ? fopen(o->out, "w") : stdout;
    const int pass = f ? write_report(f, argc, argv, o, res, n, wall) : 0;
    if (!f || (o->out ? fclose(f) != 0 : fflush(f) != 0)) {
        fprintf(stderr, "exhaustive: writing %s failed\n", o->out ? o->out : "stdout");
        return 2;
    }
    if (!pass)
        fputs("exhaustive: a bound or special fails (see the table)\n", stderr);
    return pass ? 0 : 1;
}

/* Measures the selected rules into res[]; 0 after printing the error that stopped it. */
static int measure_all(const options *o, result *res, size_t n)
{
    char msg[512];
    for (size_t i = 0; i < n; i++) {
        const acc_rule *r = o->rule ? o->rule : &acc_rules[i];
        const tg_status s = measure_rule(r, o, &res[i], msg, sizeof msg);
        if (s != TG_OK) {
            fprintf(stderr, "exhaustive: %s (%s)\n", msg, tg_strerror(s));
            return 0;
        }
        const acc_stats *st = res[i].st;
        fprintf(stderr, "%-10s %8.1f s  value %.4f ULP, derivative %.4f ULP%s\n",
                r->name, res[i].seconds, st[ACC_VALUE].max_ulp, st[ACC_DERIV].max_ulp,
                st[ACC_VALUE].specials | st[ACC_DERIV].specials ? ", specials fail" : "");
    }
    return 1;
}

int main(int argc, char **argv)
{
    options o;
    if (!parse_options(argc, argv, &o))
        return 2;
    /* Find an unwritable --out before the long run, without truncating the old table. */
    FILE *probe = o.out ? fopen(o.out, "a") : NULL;
    if (o.out && (!probe || fclose(probe) != 0)) {
        fprintf(stderr, "exhaustive: cannot write %s: %s\n", o.out, strerror(errno));
        return 2;
    }

    const size_t n = o.rule ? 1 : acc_n_rules;
    result *res = calloc(n, sizeof *res);
    if (!res) {
        fputs("exhaustive: out of memory\n", stderr);
        return 2;
    }
    const double t0 = now();
    const int status = measure_all(&o, res, n) ? publish(&o, argc, argv, res, n, now() - t0) : 2;
    free(res);
    return status;
}
