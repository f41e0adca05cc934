/* n-d float32 tensors: parameters, constants and tape intermediates. */
#ifndef TAPEGRAD_TENSOR_H
#define TAPEGRAD_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TG_MAX_RANK 4

typedef enum {
    TG_PARAM = 0,     /* persistent, owns a gradient that accumulates until tg_zero_grad */
    TG_CONST = 1,     /* persistent, no gradient */
    TG_INTERMEDIATE = 2 /* made by a rule on a tape; lives in the tape's arena until reset */
} tg_kind;

typedef struct tg_tape tg_tape;

/* Row-major, contiguous. data and grad are each one contiguous array of `size` floats
 * (grad is NULL when the tensor carries no gradient). Users read and write data and
 * grad; the shape fields and everything below them belong to the library. */
typedef struct tg_tensor {
    float *data;
    float *grad;
    size_t size;               /* number of elements (1 for rank 0) */
    size_t rank;               /* 0..TG_MAX_RANK */
    size_t shape[TG_MAX_RANK];
    tg_kind kind;
    /* engine bookkeeping */
    tg_tape *tape;             /* owning tape of an intermediate, else NULL */
    size_t node;               /* 1 + index of the producing record, 0 for none */
    uint64_t gen;              /* an intermediate's tape generation: tg_tape_reset advances it */
    uint64_t sweep;            /* the last backward sweep that reached it, 0 for none */
    const void *owner;         /* the parameter set whose blocks hold data and grad, or NULL */
} tg_tensor;

/* A persistent tensor (TG_PARAM or TG_CONST), data and gradient zero-filled.
 * Returns NULL and sets tg_last_error() on a bad shape or allocation failure. */
TG_API tg_tensor *tg_tensor_new(tg_kind kind, size_t rank, const size_t *shape);
/* Frees a persistent tensor; NULL is ignored. Intermediates are freed with their tape,
 * and a parameter set's tensors with their set (tg_params_free): both are left alone. */
TG_API void tg_tensor_free(tg_tensor *t);
/* Sets a parameter's gradient to zero; no-op when t has no gradient. */
TG_API void tg_zero_grad(tg_tensor *t);
/* Writes the shape as "[2,3]" (with "[]" for rank 0); returns buf. */
TG_API char *tg_shape_str(const tg_tensor *t, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
