/* PCG32, XSH-RR variant (pcg-random.org), checked against its published outputs. */
#include "internal.h"

void tg_pcg32_seed(tg_pcg32 *rng, uint64_t initstate, uint64_t initseq)
{
    rng->state = 0;
    rng->inc = (initseq << 1) | 1u;
    tg_pcg32_next(rng);
    rng->state += initstate;
    tg_pcg32_next(rng);
}

uint32_t tg_pcg32_next(tg_pcg32 *rng)
{
    const uint64_t old = rng->state;
    const uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    const uint32_t rot = (uint32_t)(old >> 59);
    rng->state = old * 6364136223846793005ULL + rng->inc;
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint32_t tg_pcg32_bounded(tg_pcg32 *rng, uint32_t bound)
{
    uint32_t threshold;
    if (bound == 0)
        return 0;
    /* 2^32 mod bound: rejecting draws below it leaves a multiple of bound values. */
    threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        const uint32_t r = tg_pcg32_next(rng);
        if (r >= threshold)
            return r % bound;
    }
}

float tg_pcg32_float(tg_pcg32 *rng)
{
    /* 24 bits fit a float exactly, so the result is below 1 (r * 2^-32 rounds to 1). */
    return (float)(tg_pcg32_next(rng) >> 8) * 0x1p-24f;
}

double tg_pcg32_double(tg_pcg32 *rng)
{
    const uint64_t hi = tg_pcg32_next(rng) >> 5;   /* 27 bits */
    const uint64_t lo = tg_pcg32_next(rng) >> 6;   /* 26 bits */
    return (double)((hi << 26) | lo) * 0x1p-53;
}
