/* The tape: records rule applications and runs the backward sweep. */
#ifndef TAPEGRAD_TAPE_H
#define TAPEGRAD_TAPE_H

#include <stddef.h>
#include "status.h"
#include "tensor.h"
#include "rule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A new, empty tape, recording. NULL on allocation failure. */
TG_API tg_tape *tg_tape_new(void);
TG_API void tg_tape_free(tg_tape *tape);

/* Drops the record and every intermediate, keeps the memory for the next step and
 * clears the tape's error. After a warm-up step, a step that records the same graph
 * again allocates nothing. */
TG_API void tg_tape_reset(tg_tape *tape);

/* Recording on (default) or off. Off is inference: rules still compute, outputs carry
 * no gradient and nothing is kept for backward. Returns the previous setting. */
TG_API int tg_tape_set_recording(tg_tape *tape, int on);

/* A constant in the tape's arena (for a step's input batch without a malloc),
 * zero-filled; freed by reset. */
TG_API tg_tensor *tg_tape_const(tg_tape *tape, size_t rank, const size_t *shape);

/* Backward sweep from `out`. seed NULL seeds a one-element output with 1; otherwise
 * seed must have out's shape and is the cotangent. Gradients of the tape's
 * intermediates are recomputed from zero on every call; parameter gradients
 * ACCUMULATE, so calling backward twice on one record adds the gradient twice (as
 * PyTorch's retain_graph does), and tg_zero_grad clears them. Iterative: no recursion. */
TG_API tg_status tg_backward(tg_tape *tape, tg_tensor *out, const tg_tensor *seed);

/* The tape's first error since creation or reset (TG_OK if none) and its message. */
TG_API tg_status tg_tape_status(const tg_tape *tape);
TG_API const char *tg_tape_error(const tg_tape *tape);

/* Elements that hit a kink point (relu at 0, ...) during the last backward sweep. */
TG_API size_t tg_tape_kinks(const tg_tape *tape);
/* The records, in order: i in [0, tg_tape_length()). */
TG_API size_t tg_tape_length(const tg_tape *tape);
TG_API const tg_node *tg_tape_node(const tg_tape *tape, size_t i);

#ifdef __cplusplus
}
#endif
#endif
