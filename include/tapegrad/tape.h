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
 * clears the tape's error. After two warm-up steps, a step that records the same graph
 * again allocates nothing.
 *
 * Reset advances the tape's generation. An intermediate (or tg_tape_const) kept
 * across a reset is stale: using it as an input of tg_apply, as tg_backward's output
 * or as its seed is refused with TG_ERR_TAPE ("outlived a reset"). A pointer kept
 * across exactly one reset is always caught. One kept across two or more may point at
 * a tensor of the current step (the memory of a tensor struct is reused every other
 * generation) and is then taken as that tensor; it is never read as anything but a
 * tensor struct, so it cannot crash the library. */
TG_API void tg_tape_reset(tg_tape *tape);

/* Recording on (default) or off. Off is inference: rules still compute, outputs carry
 * no gradient and nothing is kept for backward. Returns the previous setting. */
TG_API int tg_tape_set_recording(tg_tape *tape, int on);

/* Anomaly mode, off by default (and free when off): every value a rule writes, its
 * forward output and the gradients its backward adds, is checked for NaN and
 * infinity. The first rule that turns finite values into non-finite ones (forward:
 * finite inputs; backward: a finite cotangent, finite inputs and a finite gradient
 * before it added) becomes the tape's error, TG_ERR_NONFINITE, naming the rule, its
 * record on the tape, the element and the input shapes; tg_apply then returns NULL,
 * tg_backward the status. Non-finite values that arrive from the data (a parameter, a
 * constant: a -inf mask, say) are passed along, not reported. Returns the previous
 * setting. */
TG_API int tg_tape_set_anomaly(tg_tape *tape, int on);

/* A constant in the tape's arena (for a step's input batch without a malloc),
 * zero-filled; freed by reset. */
TG_API tg_tensor *tg_tape_const(tg_tape *tape, size_t rank, const size_t *shape);

/* Backward sweep from `out`. seed NULL seeds a one-element output with 1; otherwise
 * seed must have out's shape and is the cotangent (a persistent tensor or one of this
 * step's). Gradients of the tape's intermediates are recomputed from zero on every
 * call: after a sweep, each intermediate it reached holds its gradient from that sweep,
 * and one no sweep reached holds zeros. Parameter gradients ACCUMULATE, so calling
 * backward twice on one record adds the gradient twice (as PyTorch's retain_graph
 * does), and tg_zero_grad clears them. Iterative: no recursion. */
TG_API tg_status tg_backward(tg_tape *tape, tg_tensor *out, const tg_tensor *seed);

/* The tape's first error since creation or reset (TG_OK if none) and its message. */
TG_API tg_status tg_tape_status(const tg_tape *tape);
TG_API const char *tg_tape_error(const tg_tape *tape);

/* Elements that hit a kink point (relu at 0, ...) during the last backward sweep. */
TG_API size_t tg_tape_kinks(const tg_tape *tape);
/* The records, in order: i in [0, tg_tape_length()); tg_tape_node returns NULL with
 * TG_ERR_TAPE set for an index out of range. */
TG_API size_t tg_tape_length(const tg_tape *tape);
TG_API const tg_node *tg_tape_node(const tg_tape *tape, size_t i);

#ifdef __cplusplus
}
#endif
#endif
