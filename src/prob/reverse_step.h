/* The one loop of every reverse (sampling) step: out = cx x + ce e (+ sigma z). Shared by
 * the DDPM and DDIM samplers so that both follow one documented arithmetic. */
#ifndef TAPEGRAD_REVERSE_STEP_H
#define TAPEGRAD_REVERSE_STEP_H

#include <stddef.h>
#include "internal.h"

/* For each i, in double with one rounding at the end:
 *     out[i] = (float)(cx x[i] + ce e[i] + sigma z[i])   when draw (z from rng)
 *     out[i] = (float)(cx x[i] + ce e[i])                otherwise (rng unused)
 * z is drawn in chunks through a stack buffer: the values of one tg_normal_fill(rng, z, n).
 * out may be x or e. The caller has checked every argument. */
void tg__reverse_step(double cx, double ce, double sigma, int draw, const float *x,
                      const float *e, size_t n, tg_pcg32 *rng, float *out);

#endif
