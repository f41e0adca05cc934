/* Small helpers shared by the engine tests. */
#ifndef TAPEGRAD_TESTUTIL_H
#define TAPEGRAD_TESTUTIL_H

#include <tapegrad.h>

/* A TG_PARAM or TG_CONST tensor filled uniformly in [lo, hi) from rng. */
tg_tensor *tu_random(tg_kind kind, size_t rank, const size_t *shape, tg_pcg32 *rng, float lo,
                     float hi);
/* max_i |a_i - b_i| / max(max_i |b_i|, floor): an error relative to the reference's scale. */
double tu_scaled_diff(const float *a, const double *b, size_t n, double floor);

#endif
