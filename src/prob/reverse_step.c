/* The shared loop of the DDPM and DDIM sampling steps. */
#include "reverse_step.h"

/* Noise goes through a stack buffer of this many values: no allocation, and out may be
 * x. Chunking cannot change the values: tg_normal_fill keeps no spare between calls. */
#define NOISE_CHUNK 256

/* The products are separate statements so that no compiler fuses them into an fma: the
 * documented values are the rounded products, then the rounded sums, left to right. */
static void deterministic(double cx, double ce, const float *x, const float *e, size_t n,
                          float *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const double px = cx * (double)x[i];
        const double pe = ce * (double)e[i];
        out[i] = (float)(px + pe);
    }
}

static void noisy(double cx, double ce, double sigma, const float *x, const float *e,
                  const float *z, size_t n, float *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const double px = cx * (double)x[i];
        const double pe = ce * (double)e[i];
        const double pz = sigma * (double)z[i];
        const double mean = px + pe;
        out[i] = (float)(mean + pz);
    }
}

void tg__reverse_step(double cx, double ce, double sigma, int draw, const float *x,
                      const float *e, size_t n, tg_pcg32 *rng, float *out)
{
    float z[NOISE_CHUNK];
    size_t i;
    if (!draw) {
        deterministic(cx, ce, x, e, n, out);
        return;
    }
    for (i = 0; i < n; i += NOISE_CHUNK) {
        const size_t len = n - i < NOISE_CHUNK ? n - i : NOISE_CHUNK;
        tg_normal_fill(rng, z, len);   /* cannot fail: rng and z are not NULL */
        noisy(cx, ce, sigma, x + i, e + i, z, len, out + i);
    }
}
