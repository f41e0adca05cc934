/* PCG32 (64-bit state, XSH-RR output), as published at pcg-random.org. */
#ifndef TAPEGRAD_PCG32_H
#define TAPEGRAD_PCG32_H

#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint64_t state;
    uint64_t inc;   /* always odd */
} tg_pcg32;

/* A NULL rng is refused with TG_ERR_NULL as the last error: seed then does nothing, next
 * and bounded return 0, float and double NaN. */
TG_API void tg_pcg32_seed(tg_pcg32 *rng, uint64_t initstate, uint64_t initseq);
TG_API uint32_t tg_pcg32_next(tg_pcg32 *rng);
/* Uniform on [0, bound) without modulo bias; bound 0 returns 0. */
TG_API uint32_t tg_pcg32_bounded(tg_pcg32 *rng, uint32_t bound);
/* Uniform on [0, 1): 24 random bits, never 1.0f. */
TG_API float tg_pcg32_float(tg_pcg32 *rng);
/* Uniform on [0, 1): 53 random bits from two draws. */
TG_API double tg_pcg32_double(tg_pcg32 *rng);

#ifdef __cplusplus
}
#endif
#endif
