/* The fixed set of entries the checkpoint fuzzer registers, shared with the program that
 * writes its seed corpus (make_corpus.c) so the seeds match what the harness expects. */
#ifndef TAPEGRAD_FUZZ_FIXTURE_H
#define TAPEGRAD_FUZZ_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <tapegrad.h>

enum { FZ_NFLOATS = 6 };

/* Variants of the registration, for seeds of files of another model. */
typedef enum {
    FZ_STANDARD = 0,   /* model.enc.weight [3,4], model.enc.bias [4], tag "format" 3,
                          u64 "step", rng "rng", floats "ema" [6] */
    FZ_EXTRA,          /* plus a u64 "epoch" */
    FZ_NO_RNG,         /* without the rng */
    FZ_RESHAPED,       /* model.enc.bias [5] */
    FZ_OTHER_TAG       /* tag "format" 4 */
} fz_variant;

typedef struct {
    tg_params *ps;
    uint64_t step, epoch;
    tg_pcg32 rng;
    float floats[FZ_NFLOATS];
    tg_checkpoint *c;
} fz_fixture;

/* 1 on success; frees what it made on failure. */
int fz_fixture_init(fz_fixture *f, fz_variant v);
void fz_fixture_free(fz_fixture *f);
/* Deterministic contents for `seed`. */
void fz_fixture_fill(fz_fixture *f, uint32_t seed);
/* Copies every byte a load may write into out (cap bytes); returns the count, 0 if short. */
size_t fz_fixture_snapshot(const fz_fixture *f, unsigned char *out, size_t cap);

#endif
