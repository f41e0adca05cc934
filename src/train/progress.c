/* Progress of a long loop: one line redrawn in place on a terminal, a plain line every
 * `interval` seconds otherwise, and always a final line. Times come from the monotonic
 * clock, so a change of the wall clock neither stalls nor floods the output. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"

#define REDRAW 0.1   /* seconds between redraws on a terminal: ~10 a second at most */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* "1:02:05" from an hour on, "4:07" below. */
static const char *clock_str(double seconds, char *buf, size_t len)
{
    unsigned long t;
    if (!(seconds >= 0.0))
        seconds = 0.0;
    if (seconds > 1e9)   /* 31 years: more says nothing and would not fit */
        seconds = 1e9;
    t = (unsigned long)(seconds + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%lu:%02lu:%02lu", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%lu:%02lu", t / 60, t % 60);
    return buf;
}

/* Appends to buf at *used, never past len (snprintf's count is clamped). */
static void add(char *buf, size_t len, size_t *used, const char *fmt, ...) TG__PRINTF(4, 5);
static void add(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (*used >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *used, len - *used, fmt, ap);
    va_end(ap);
    if (n > 0)
        *used = (size_t)n < len - *used ? *used + (size_t)n : len;
}

/* "label: step 120/1000 (12%), loss 0.4321, 250.0 steps/s, elapsed 0:01, left 0:04", or
 * "..., done in 0:04" for the final line. Fields without a value are left out. */
static void format_line(const tg_progress *p, double t, int final, char *buf, size_t len)
{
    const double elapsed = t - p->t_start;
    const double done = p->step > p->first ? (double)(p->step - p->first) : 0.0;
    const double rate = elapsed > 0.0 ? done / elapsed : 0.0;
    char c[32];
    size_t used = 0;
    buf[0] = '\0';
    if (p->label && p->label[0])
        add(buf, len, &used, "%s: ", p->label);
    add(buf, len, &used, "step %llu", (unsigned long long)p->step);
    if (p->total > 0)
        add(buf, len, &used, "/%llu (%.0f%%)", (unsigned long long)p->total,
            100.0 * (double)p->step / (double)p->total);
    if (!isnan(p->loss))
        add(buf, len, &used, ", loss %.4g", p->loss);
    if (rate > 0.0)   /* slow loops keep three digits instead of showing 0.0 */
        add(buf, len, &used, rate < 1.0 ? ", %.3g steps/s" : ", %.1f steps/s", rate);
    if (final) {
        add(buf, len, &used, ", done in %s", clock_str(elapsed, c, sizeof c));
        return;
    }
    add(buf, len, &used, ", elapsed %s", clock_str(elapsed, c, sizeof c));
    if (rate > 0.0 && p->total > p->step)
        add(buf, len, &used, ", left %s", clock_str((double)(p->total - p->step) / rate, c,
                                                   sizeof c));
}

/* On a terminal: back to the line's start, the line, clear what a longer earlier line
 * left; elsewhere one line per call. */
static void print(tg_progress *p, double t, int final)
{
    char line[256];
    if (!p->out)
        return;
    format_line(p, t, final, line, sizeof line);
    if (p->tty)
        fprintf(p->out, "\r%s\033[K%s", line, final ? "\n" : "");
    else
        fprintf(p->out, "%s\n", line);
    fflush(p->out);
    p->t_last = t;
    if (p->printed < INT_MAX)
        p->printed++;
}

void tg_progress_start(tg_progress *p, const char *label, uint64_t first, uint64_t total)
{
    if (!p) {
        tg__fail(TG_ERR_NULL, "tg_progress_start: p is NULL");
        return;
    }
    p->out = stderr;
    p->tty = isatty(fileno(stderr));
    p->interval = 5.0;
    p->label = label;
    p->first = first;
    p->total = total;
    p->t_start = p->t_last = now();
    p->step = first;
    p->loss = NAN;
    p->printed = 0;
}

void tg_progress_update(tg_progress *p, uint64_t step, double loss)
{
    double t;
    if (!p) {
        tg__fail(TG_ERR_NULL, "tg_progress_update: p is NULL");
        return;
    }
    p->step = step;
    p->loss = loss;
    t = now();
    /* the first redraw at once, so a terminal shows the loop has started */
    if (p->tty ? (p->printed > 0 && t - p->t_last < REDRAW) : t - p->t_last < p->interval)
        return;
    print(p, t, 0);
}

void tg_progress_end(tg_progress *p)
{
    if (!p) {
        tg__fail(TG_ERR_NULL, "tg_progress_end: p is NULL");
        return;
    }
    print(p, now(), 1);
}
