/* PCG32, XSH-RR variant (pcg-random.org), checked against its published outputs.
 *
 * A NULL generator is refused with a message. The draws cannot return a status, so they
 * return a value that cannot be drawn where there is one (NaN from the float and double
 * draws) and 0 otherwise; the message is set either way. */
#include <math.h>
#include "internal.h"

/* The generator step itself, for a checked rng. */
static uint32_t step(tg_pcg32 *rng)
{
    const uint64_t old = rng->state;
    const uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
    const uint32_t rot = (uint32_t)(old >> 59);
    rng->state = old * 6364136223846793005ULL + rng->inc;
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

static int no_rng(const tg_pcg32 *rng, const char *who)
{
    if (!rng)
        tg__fail(TG_ERR_NULL, "%s: rng is NULL", who);
    return !rng;
}

void tg_pcg32_seed(tg_pcg32 *rng, uint64_t initstate, uint64_t initseq)
{
    if (no_rng(rng, "tg_pcg32_seed"))
        return;
    rng->state = 0;
    rng->inc = (initseq << 1) | 1u;
    step(rng);
    rng->state += initstate;
    step(rng);
}

uint32_t tg_pcg32_next(tg_pcg32 *rng)
{
    return no_rng(rng, "tg_pcg32_next") ? 0 : step(rng);
}

uint32_t tg_pcg32_bounded(tg_pcg32 *rng, uint32_t bound)
{
    uint32_t threshold;
    if (no_rng(rng, "tg_pcg32_bounded") || bound == 0)
        return 0;
    /* 2^32 mod bound: rejecting draws below it leaves a multiple of bound values. */
    threshold = (uint32_t)(-bound) % bound;
    for (;;) {
        const uint32_t r = step(rng);
        if (r >= threshold)
            return r % bound;
    }
}

float tg_pcg32_float(tg_pcg32 *rng)
{
    if (no_rng(rng, "tg_pcg32_float"))
        return NAN;
    /* 24 bits fit a float exactly, so the result is below 1 (r * 2^-32 rounds to 1). */
    return (float)(step(rng) >> 8) * 0x1p-24f;
}

double tg_pcg32_double(tg_pcg32 *rng)
{
    uint64_t hi, lo;
    if (no_rng(rng, "tg_pcg32_double"))
        return NAN;
    hi = step(rng) >> 5;   /* 27 bits */
    lo = step(rng) >> 6;   /* 26 bits */
    return (double)((hi << 26) | lo) * 0x1p-53;
}
