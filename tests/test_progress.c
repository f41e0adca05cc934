/* Progress lines: their content, the terminal redraw and the throttling of both modes.
 * Output goes to a temporary file; time passing is simulated by moving the recorded
 * times back (the struct's state is public), so no test sleeps more than 40 ms. */
#define _POSIX_C_SOURCE 200809L   /* nanosleep, clock_gettime */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <tapegrad.h>

static char text[1 << 16];

/* Everything written to f so far, as a string in text. */
static const char *contents(FILE *f)
{
    size_t n;
    fflush(f);
    rewind(f);
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    return text;
}

static size_t count(const char *s, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static tg_progress start(FILE *f, int tty, double interval, const char *label, uint64_t first,
                         uint64_t total)
{
    tg_progress p;
    tg_progress_start(&p, label, first, total);
    cr_assert_eq(p.out, stderr);
    cr_assert_eq(p.interval, 5.0, "the default interval is 5 s");
    cr_assert_eq(p.step, first);
    cr_assert_eq(p.printed, 0);
    p.out = f;
    p.tty = tty;
    p.interval = interval;
    return p;
}

/* A plain line: "train: step S/T (P%), loss L, R steps/s, elapsed m:ss, left m:ss", or
 * "..., done in m:ss" when final. */
static void check_line(const char *line, unsigned long long step, unsigned long long total,
                       int final)
{
    const char *when = final ? ", done in " : ", elapsed ";
    unsigned long long s, t;
    unsigned pct, m, sec;
    float loss;
    cr_assert_eq(sscanf(line, "train: step %llu/%llu (%u%%), loss %g,", &s, &t, &pct, &loss),
                 4, "line \"%s\"", line);
    cr_assert_eq(s, step, "line \"%s\"", line);
    cr_assert_eq(t, total);
    cr_assert_leq(fabs(pct - 100.0 * (double)step / (double)total), 0.5, "\"%s\"", line);
    cr_assert_float_eq(loss, 0.5f / (float)step, 1e-3f * 0.5f / (float)step);
    cr_assert_not_null(strstr(line, when), "line \"%s\"", line);
    cr_assert_eq(sscanf(strstr(line, when) + strlen(when), "%u:%u", &m, &sec), 2, "\"%s\"",
                 line);
    cr_assert_lt(sec, 60u);
    if (!final && step < total)
        cr_assert_not_null(strstr(line, ", left "), "line \"%s\"", line);
}

Test(progress, plain_lines_every_interval_zero)
{
    FILE *f = tmpfile();
    tg_progress p = start(f, 0, 0.0, "train", 0, 8);
    char *line, *save = NULL;
    int n = 0;
    for (uint64_t s = 1; s <= 8; s++)
        tg_progress_update(&p, s, 0.5 / (double)s);
    tg_progress_end(&p);
    cr_assert_eq(p.printed, 9);
    contents(f);
    cr_assert_eq(count(text, "\n"), 9u, "text \"%s\"", text);
    cr_assert_null(strchr(text, '\r'), "no carriage return in a log");
    cr_assert_null(strchr(text, '\033'), "no escape sequence in a log");
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        n++;
        check_line(line, n <= 8 ? (unsigned long long)n : 8, 8, n == 9);
    }
    cr_assert_eq(n, 9);
    fclose(f);
}

Test(progress, large_interval_prints_only_the_final_line)
{
    FILE *f = tmpfile();
    tg_progress p = start(f, 0, 1e9, "train", 0, 100000);
    for (uint64_t s = 1; s <= 100000; s++)
        tg_progress_update(&p, s, 0.5 / (double)s);
    tg_progress_end(&p);
    contents(f);
    cr_assert_eq(count(text, "\n"), 1u, "text \"%s\"", text);
    cr_assert_not_null(strstr(text, "train: step 100000/100000 (100%), loss 5e-06, "), "%s",
                       text);
    cr_assert_not_null(strstr(text, " steps/s, done in 0:"), "%s", text);
    fclose(f);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* With a 10 ms interval, 40 updates 1 ms or more apart: at least one line (the loop
 * lasts 40 ms or more), and never more lines than 10 ms periods have passed. */
Test(progress, interval_throttles_real_time)
{
    const struct timespec ms = { 0, 1000000 };
    FILE *f = tmpfile();
    const double t0 = seconds();
    tg_progress p = start(f, 0, 0.01, NULL, 0, 0);
    double elapsed;
    size_t lines;
    for (uint64_t s = 1; s <= 40; s++) {
        nanosleep(&ms, NULL);
        tg_progress_update(&p, s, NAN);
    }
    elapsed = seconds() - t0;
    lines = count(contents(f), "\n");
    cr_assert(lines >= 1 && (double)lines <= elapsed / 0.01,
              "%zu lines in %.3f s at one per 10 ms at most: \"%s\"", lines, elapsed, text);
    cr_assert_eq((size_t)p.printed, lines);
    /* no label, no total, no loss: those fields are left out */
    {
        unsigned long long step;
        double rate;
        cr_assert_eq(sscanf(text, "step %llu, %lf steps/s, elapsed 0:00\n", &step, &rate), 2,
                     "\"%s\"", text);
        cr_assert(step >= 1 && step <= 40 && rate > 0.0, "\"%s\"", text);
    }
    cr_assert_null(strstr(text, "loss"));
    cr_assert_null(strstr(text, "%)"));
    cr_assert_null(strstr(text, "left"));
    fclose(f);
}

Test(progress, terminal_redraws_one_line_at_most_ten_times_a_second)
{
    FILE *f = tmpfile();
    const double t0 = seconds();
    tg_progress p = start(f, 1, 5.0, "train", 0, 1000);
    size_t most, n;
    for (uint64_t s = 1; s <= 1000; s++)   /* microseconds apart: the first one draws */
        tg_progress_update(&p, s, 0.5 / (double)s);
    most = 1 + (size_t)((seconds() - t0) / 0.1);   /* 1 unless this machine stalled */
    contents(f);
    n = count(text, "\r");
    cr_assert(n >= 1 && n <= most, "%zu redraws, at most %zu: \"%s\"", n, most, text);
    cr_assert_eq((size_t)p.printed, n);
    cr_assert_eq(strncmp(text, "\rtrain: step 1/1000 (0%), loss 0.5, ", 36), 0, "\"%s\"", text);
    cr_assert_null(strchr(text, '\n'), "a redrawn line has no newline");
    cr_assert_eq(count(text, "\033[K"), n, "every redraw clears the rest of the line");
    p.t_last -= 0.11;                      /* a tenth of a second later */
    tg_progress_update(&p, 1001, 0.25);
    tg_progress_update(&p, 1002, 0.25);    /* at once after it: no redraw */
    contents(f);
    cr_assert_eq(count(text, "\r"), n + 1, "text \"%s\"", text);
    cr_assert_not_null(strstr(text, "\rtrain: step 1001/1000"), "\"%s\"", text);
    tg_progress_end(&p);
    contents(f);
    cr_assert_eq(count(text, "\r"), n + 2);
    cr_assert_eq(count(text, "\033[K"), n + 2);
    cr_assert_eq(count(text, "\n"), 1u, "the final line ends the redrawn line");
    cr_assert_not_null(strstr(text, "\rtrain: step 1002/1000 (100%), loss 0.25, "), "%s", text);
    cr_assert_eq(text[strlen(text) - 1], '\n');
    fclose(f);
}

/* Elapsed and left in m:ss below an hour and h:mm:ss above; a resumed run's speed
 * counts only its own steps. */
Test(progress, times_and_rates)
{
    FILE *f = tmpfile();
    tg_progress p = start(f, 0, 0.0, "train", 100, 300);
    unsigned h, m, s;
    double rate;
    p.t_start -= 3725.0;                   /* 1:02:05 ago */
    tg_progress_update(&p, 200, 1.0);      /* 100 steps in 3725 s: as long again to go */
    contents(f);
    cr_assert_not_null(strstr(text, "train: step 200/300 (67%), loss 1, 0.0268 steps/s, elapsed "
                                    "1:02:05, left 1:02:0"), "\"%s\"", text);
    cr_assert_eq(sscanf(strstr(text, "left ") + 5, "%u:%u:%u", &h, &m, &s), 3);
    cr_assert(h * 3600 + m * 60 + s >= 3724 && h * 3600 + m * 60 + s <= 3726, "\"%s\"", text);
    fclose(f);

    f = tmpfile();
    p = start(f, 0, 0.0, "train", 100, 1000);
    p.t_start -= 65.0;                     /* 1:05 ago */
    tg_progress_update(&p, 230, NAN);      /* 130 steps in 65 s: 2 steps/s, 385 s left */
    contents(f);
    cr_assert_eq(sscanf(strstr(text, "steps/s") - 4, "%lf", &rate), 1, "\"%s\"", text);
    cr_assert_float_eq(rate, 2.0, 0.01);
    cr_assert_not_null(strstr(text, "elapsed 1:05, left 6:25\n"), "\"%s\"", text);
    cr_assert_null(strstr(text, "loss"), "NaN loss is left out");
    fclose(f);
}

Test(progress, null_is_reported_not_a_crash)
{
    tg_progress_start(NULL, "x", 0, 1);
    cr_assert_eq(tg_last_status(), TG_ERR_NULL);
    tg_progress_update(NULL, 1, 0.0);
    cr_assert_not_null(strstr(tg_last_error(), "tg_progress_update: p is NULL"));
    tg_progress_end(NULL);
    cr_assert_not_null(strstr(tg_last_error(), "tg_progress_end: p is NULL"));
}
