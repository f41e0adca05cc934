/* What the example programs share on their command lines: option values checked
 * against a range, and a wall clock. Examples are not the library, so these are ex_
 * names, compiled into each program (Makefile.am lists cli.c in their SOURCES). */
#ifndef TAPEGRAD_EXAMPLES_CLI_H
#define TAPEGRAD_EXAMPLES_CLI_H

#include <stddef.h>
#include <stdint.h>

/* A whole number in lo..hi, decimal, nothing after it: 0 and *out set, or -1 (NULL,
 * empty, a leading '-', out of range or trailing characters) with *out untouched. */
int ex_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);
/* The same, for a size_t option (lo and hi fit in size_t). */
int ex_parse_size(const char *s, size_t lo, size_t hi, size_t *out);
/* A number in lo..hi, nothing after it: 0, or -1 (NULL, empty, NaN, out of range or
 * trailing characters). *out may change on failure. */
int ex_parse_double(const char *s, double lo, double hi, double *out);
/* The index of s in names[0..n), or -1 (s NULL or none of them). */
int ex_parse_choice(const char *s, const char *const *names, int n);

/* "PROG: bad or missing value for OPT: VALUE" (": VALUE" only when there is one) on
 * stderr: the message every example gives for an option value it refuses. */
void ex_bad_value(const char *prog, const char *opt, const char *value);

/* Seconds on the monotonic clock, for timing a run. */
double ex_seconds(void);

#endif
