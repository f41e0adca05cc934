/* Threads: how many the library's kernels may use.
 *
 * One process-wide setting (with the rule registry, the library's only process-wide
 * state). The default is 1: every kernel runs on the calling thread and no thread is
 * created. Setting n > 1 creates a persistent pool of n - 1 worker threads at once (never
 * per call); the calling thread of a kernel is the n-th. Large matrix products (by
 * blocks of the output), the smooth activations' kernels (tanh, sigmoid, softplus, silu,
 * gelu, gelu_erf, elu, safe_log, smooth_abs: forward and backward, by runs of elements)
 * and the optimizers' updates (by runs of parameters) are then split over the pool, and
 * every element is computed by the same arithmetic as on one thread: results are
 * bit-identical whatever the setting. The cheap elementwise rules (relu, add, scale, ...)
 * and the reductions stay on the calling thread: they run at memory speed, and a
 * reduction split between threads would change its summation order. Idle workers spin
 * for up to 0.3 ms after each split kernel before they sleep (a sleeping worker wakes too
 * late for the next product of a step), so a program with 2 threads set uses up to 2
 * processors while it trains. When
 * tapegrad uses OpenBLAS, the setting is passed on to it (openblas_set_num_threads);
 * the products OpenBLAS computes do change with its thread count, within rounding.
 *
 * Thread safety: any thread may call these at any time. Tapes in several user threads
 * may run products at the same time; one of them uses the pool, the others, finding it
 * busy, run on their own thread, with the same results. tg_set_num_threads waits for
 * the products running on the pool to finish before it replaces it. After fork(), the
 * child has no pool (its kernels run on one thread) until it sets the count again. */
#ifndef TAPEGRAD_THREADS_H
#define TAPEGRAD_THREADS_H

#include <stddef.h>
#include "status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most threads tg_set_num_threads accepts. */
#define TG_MAX_THREADS 256

/* Uses n threads from now on: 0 means one per online processor, n > TG_MAX_THREADS is
 * refused (TG_ERR_PARAM). Creating the pool can fail (TG_ERR_NOMEM: memory, or the
 * system refused a thread); the previous setting then stays in force. */
TG_API tg_status tg_set_num_threads(size_t n);

/* The current setting (1 until tg_set_num_threads changes it). */
TG_API size_t tg_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
