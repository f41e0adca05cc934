/* Status codes, error messages and the allocation hook. */
#ifndef TAPEGRAD_STATUS_H
#define TAPEGRAD_STATUS_H

#include <stddef.h>

#if defined(__GNUC__) || defined(__clang__)
#define TG_API __attribute__((visibility("default")))
#else
#define TG_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    TG_OK = 0,
    TG_ERR_NULL,       /* a required pointer argument was NULL */
    TG_ERR_ARITY,      /* wrong number of inputs or parameters for a rule */
    TG_ERR_SHAPE,      /* shapes do not fit the rule */
    TG_ERR_RANK,       /* rank above TG_MAX_RANK */
    TG_ERR_SIZE,       /* a zero dimension, or an element count that overflows size_t */
    TG_ERR_PARAM,      /* a rule parameter outside its domain (eps <= 0, non-finite, ...) */
    TG_ERR_DOMAIN,     /* tensor data outside a rule's domain (a class label out of range) */
    TG_ERR_NOMEM,      /* the allocator returned NULL */
    TG_ERR_NOT_FOUND,  /* no rule of that name */
    TG_ERR_EXISTS,     /* a rule of that name is already registered */
    TG_ERR_FULL,       /* the registry has no room for another rule */
    TG_ERR_TAPE,       /* tensor belongs to another tape, or the tape holds no such record */
    TG_ERR_STATE,      /* the call makes no sense now (backward on a gradient-free output) */
    /* files: checkpoints and data sets */
    TG_ERR_IO,         /* a file could not be opened, read, written, synced or renamed */
    TG_ERR_FORMAT,     /* not a file of the expected kind (wrong magic) or malformed */
    TG_ERR_VERSION,    /* a format version this build does not read */
    TG_ERR_TRUNCATED,  /* the file ends before its contents do */
    TG_ERR_CORRUPT,    /* the checksum does not match: the bytes were damaged */
    TG_ERR_MISMATCH,   /* a checkpoint's tensors (names, count) do not match the model */
    /* numerics */
    TG_ERR_NONFINITE   /* anomaly mode: a rule produced a NaN or an infinity */
} tg_status;

/* A fixed English description of a status code; never NULL. */
TG_API const char *tg_strerror(tg_status s);

/* The message of the last failed tapegrad call in the calling thread: it names the
 * function or rule and the shapes involved. "" when nothing has failed yet. */
TG_API const char *tg_last_error(void);
TG_API tg_status tg_last_status(void);

/* Every allocation of the library goes through this hook. Install it before creating
 * any tapegrad object and keep it (and the struct, which is not copied) until all of
 * them are freed; NULL restores malloc/free. alloc must return memory aligned as malloc's
 * is; the library aligns tensor data itself. This one process-wide setting exists so that
 * tests and embedders can count allocations or make the Nth one fail. */
typedef struct {
    void *(*alloc)(size_t size, void *ctx);
    void (*free)(void *ptr, void *ctx);
    void *ctx;
} tg_allocator;

TG_API void tg_set_allocator(const tg_allocator *a);

#ifdef __cplusplus
}
#endif
#endif
