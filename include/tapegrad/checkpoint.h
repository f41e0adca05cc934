/* Checkpoints: save and restore a training run so that a resumed run continues bit for
 * bit. A tg_checkpoint is a list of named entries that point at the caller's objects
 * (parameter sets, an optimizer, PCG32 states, counters, float arrays); save writes
 * them, load overwrites them.
 *
 * The file (format version 1, little-endian) holds a header with a magic, the version
 * and the total length, then every entry with its name, type and shape, then a CRC-32
 * of everything before it. Saving writes "<path>.tmp.<pid>" in the same folder, fsyncs
 * it, renames it over path and fsyncs the folder, so a crash leaves either the old or
 * the new file. Loading reads the whole file, checks length, magic, version, CRC and
 * that every entry matches what is registered (names, types, shapes), and only then
 * copies into the objects: on any error nothing registered is modified.
 *
 * Errors: TG_ERR_IO (open, read, write, fsync, rename), TG_ERR_FORMAT (wrong magic, or
 * an inconsistent layout), TG_ERR_VERSION, TG_ERR_TRUNCATED (shorter than it says),
 * TG_ERR_CORRUPT (CRC mismatch, or bytes past the end), TG_ERR_MISMATCH (an entry
 * missing, extra or of another type), TG_ERR_SHAPE (an entry of another shape); the
 * message names the file and the entry. */
#ifndef TAPEGRAD_CHECKPOINT_H
#define TAPEGRAD_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"
#include "nn.h"
#include "optim.h"
#include "pcg32.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tg_checkpoint tg_checkpoint;

#define TG_CHECKPOINT_NAME_MAX 127   /* longest entry name, prefix included */

TG_API tg_checkpoint *tg_checkpoint_new(void);
TG_API void tg_checkpoint_free(tg_checkpoint *c);

/* Every tensor of ps, as "<prefix><tensor name>" with its shape (data only: gradients
 * are not saved). */
TG_API tg_status tg_checkpoint_add_params(tg_checkpoint *c, const char *prefix, tg_params *ps);
/* The optimizer's kind (which must match on load), step count and state buffers, as
 * "<prefix>..." entries. (Defined with the optimizer, through the calls below.) */
TG_API tg_status tg_checkpoint_add_optim(tg_checkpoint *c, const char *prefix, tg_optim *o);
/* A PCG32 generator's state, restored on load. */
TG_API tg_status tg_checkpoint_add_rng(tg_checkpoint *c, const char *name, tg_pcg32 *rng);
/* A counter (epoch, step, ...), restored on load. */
TG_API tg_status tg_checkpoint_add_u64(tg_checkpoint *c, const char *name, uint64_t *value);
/* A value that is checked, not restored: load fails with TG_ERR_MISMATCH when the file
 * holds another value (a format choice, an optimizer kind, a model size). */
TG_API tg_status tg_checkpoint_add_tag(tg_checkpoint *c, const char *name, uint64_t value);
/* n floats at data, restored on load (shape [n]). */
TG_API tg_status tg_checkpoint_add_floats(tg_checkpoint *c, const char *name, float *data,
                                          size_t n);

TG_API tg_status tg_checkpoint_save(const tg_checkpoint *c, const char *path);
TG_API tg_status tg_checkpoint_load(tg_checkpoint *c, const char *path);
/* The same checks and restore from a file image in memory (tests, fuzzing). */
TG_API tg_status tg_checkpoint_load_buffer(tg_checkpoint *c, const void *bytes, size_t len);

#ifdef __cplusplus
}
#endif
#endif
