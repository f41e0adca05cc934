/* Data: a shuffling mini-batch iterator over in-memory arrays, and the IDX file format
 * (MNIST, Fashion-MNIST), plain or gzip-compressed. */
#ifndef TAPEGRAD_DATA_H
#define TAPEGRAD_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"
#include "tensor.h"
#include "tape.h"
#include "checkpoint.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- mini-batches ------------------------------------------------------------------
 * Up to TG_BATCHES_MAX_ARRAYS arrays of n_rows rows each (features, labels, ...),
 * BORROWED: the caller keeps them alive and unchanged. Each epoch visits the rows in a
 * fresh PCG32 permutation (Fisher-Yates with tg_pcg32_bounded, drawn at the epoch's
 * first batch from the iterator's own generator, seeded by `seed`), in batches of
 * batch_size rows; the last, partial batch is kept or dropped (drop_last). Everything
 * is allocated at creation: a training loop allocates nothing. */
#define TG_BATCHES_MAX_ARRAYS 4

typedef struct tg_batches tg_batches;

TG_API tg_batches *tg_batches_new(size_t n_rows, size_t batch_size, int drop_last,
                                  uint64_t seed);
TG_API void tg_batches_free(tg_batches *b);
/* Adds an array of n_rows rows of row_len floats; returns its index (0, 1, ...) through
 * *index (may be NULL). */
TG_API tg_status tg_batches_add(tg_batches *b, const float *data, size_t row_len,
                                size_t *index);
/* Moves to the next batch and returns its row count; 0 when the epoch is over (the call
 * after that starts the next epoch with a new permutation). */
TG_API size_t tg_batches_next(tg_batches *b);
/* The current batch of array i as a tape constant (tg_tape_const: arena memory, no
 * malloc once warm): [rows, row_len], or [rows] when row_len is 1 (labels). NULL on
 * error (recorded on the tape). */
TG_API tg_tensor *tg_batches_tensor(tg_batches *b, size_t i, tg_tape *tape);
/* The current batch of array i copied into out (rows * row_len floats). */
TG_API tg_status tg_batches_fill(const tg_batches *b, size_t i, float *out);
TG_API uint64_t tg_batches_epoch(const tg_batches *b);        /* epochs started */
TG_API size_t tg_batches_per_epoch(const tg_batches *b);      /* batches in one epoch */
/* The iterator's position (epoch, batch, generator) so a resumed run draws the same
 * batches. */
TG_API tg_status tg_checkpoint_add_batches(tg_checkpoint *c, const char *name, tg_batches *b);

/* ---- IDX files ---------------------------------------------------------------------
 * The format of MNIST and Fashion-MNIST: a big-endian header (two zero bytes, a type
 * byte, a rank byte, one 32-bit size per dimension), then the values. */
typedef struct {
    unsigned type;                /* 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 */
    size_t rank;                  /* 1..TG_MAX_RANK */
    size_t dims[TG_MAX_RANK];
    size_t count;                 /* the product of dims */
    float *data;                  /* count values converted to float (i32 and f64 round) */
} tg_idx;

/* Loads path, gzip-compressed or not (detected from the content). Errors: TG_ERR_IO
 * (missing or unreadable: the message names the file), TG_ERR_FORMAT (bad magic, type
 * or rank, bad gzip data), TG_ERR_TRUNCATED (fewer values than the header says),
 * TG_ERR_CORRUPT (bytes after the last value), TG_ERR_SIZE (dimensions that overflow),
 * TG_ERR_DOMAIN (a finite f64 value beyond the float range; NaN and infinities are kept),
 * TG_ERR_NOMEM. On error *out is all zero. */
TG_API tg_status tg_idx_load(const char *path, tg_idx *out);
/* The same from an uncompressed file image in memory. */
TG_API tg_status tg_idx_parse(const void *bytes, size_t len, tg_idx *out);
/* Frees the data and zeroes *idx; NULL and zeroed structs are fine. */
TG_API void tg_idx_free(tg_idx *idx);

#ifdef __cplusplus
}
#endif
#endif
