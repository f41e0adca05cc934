/* Option values and a clock for the example programs; see cli.h. */
#define _POSIX_C_SOURCE 200809L   /* clock_gettime */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int ex_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;
    /* digits only: strtoull skips leading spaces and negates "-1" (or " -1") into a
     * huge value */
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int ex_parse_size(const char *s, size_t lo, size_t hi, size_t *out)
{
    uint64_t v;
    if (ex_parse_u64(s, lo, hi, &v) != 0)
        return -1;
    *out = (size_t)v;   /* v <= hi, a size_t */
    return 0;
}

int ex_parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    if (!s || *s == '\0')
        return -1;
    *out = strtod(s, &end);
    return (*end || !(*out >= lo && *out <= hi)) ? -1 : 0;   /* NaN fails the range */
}

int ex_parse_choice(const char *s, const char *const *names, int n)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void ex_bad_value(const char *prog, const char *opt, const char *value)
{
    fprintf(stderr, "%s: bad or missing value for %s%s%s\n", prog, opt, value ? ": " : "",
            value ? value : "");
}

double ex_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
