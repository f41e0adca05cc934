/* Progress of a long loop on stderr: step, loss, steps per second and time left. On a
 * terminal one line is redrawn in place (at most ~10 times a second); otherwise a plain
 * summary line is written at most every `interval` seconds (default 5), so logs stay
 * short. The last line is always written by tg_progress_end. */
#ifndef TAPEGRAD_PROGRESS_H
#define TAPEGRAD_PROGRESS_H

#include <stdint.h>
#include <stdio.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /* set by tg_progress_start; the caller may change out, tty and interval after it */
    FILE *out;            /* stderr */
    int tty;              /* isatty(out): redraw in place */
    double interval;      /* seconds between plain lines when not a terminal */
    const char *label;    /* printed first, borrowed */
    uint64_t first, total;/* steps from first to total */
    /* state */
    double t_start, t_last;
    uint64_t step;
    double loss;
    int printed;
} tg_progress;

/* Starts timing a loop that runs steps first+1 .. total (first > 0 when resuming). */
TG_API void tg_progress_start(tg_progress *p, const char *label, uint64_t first,
                              uint64_t total);
/* Reports that `step` is done with this loss (NaN: none); prints when it is time. */
TG_API void tg_progress_update(tg_progress *p, uint64_t step, double loss);
/* Prints the final line (with the total time) and ends the redrawn line. */
TG_API void tg_progress_end(tg_progress *p);

#ifdef __cplusplus
}
#endif
#endif
