/* The mini-batch iterator's layout, shared by batches.c and batches_checkpoint.c. */
#ifndef TAPEGRAD_DATA_BATCHES_H
#define TAPEGRAD_DATA_BATCHES_H

#include "internal.h"

/* The permutation of the current epoch is a pure function of the generator's state at
 * the epoch's start, so it is a cache: a checkpoint saves only the position (epoch,
 * batch, generator) and the permutation is drawn again when the state it came from
 * changed. It lives behind a pointer so the const accessors can refresh it. */
typedef struct {
    uint32_t *perm;          /* n_rows row indices */
    tg_pcg32 from;           /* the generator state perm was drawn from */
    tg_pcg32 after;          /* the generator after drawing it: the next epoch's start */
    int valid;
} tg__perm_cache;

struct tg_batches {
    size_t n_rows, batch_size, per_epoch;
    int drop_last;
    size_t n_arrays;
    const float *data[TG_BATCHES_MAX_ARRAYS];   /* borrowed */
    size_t row_len[TG_BATCHES_MAX_ARRAYS];
    /* the position: all a checkpoint saves */
    uint64_t epoch;          /* epochs started */
    uint64_t batch;          /* batches handed out in this epoch; per_epoch + 1 once over */
    tg_pcg32 rng;            /* the generator at the start of this epoch */
    tg__perm_cache *cache;
};

#endif
