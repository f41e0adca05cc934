/* The thread pool kernels share (threads.c); the public setting is in
 * include/tapegrad/threads.h. */
#ifndef TAPEGRAD_KERNELS_THREADS_H
#define TAPEGRAD_KERNELS_THREADS_H

#include <stddef.h>

/* Runs fn(begin, end, ctx) over disjoint ranges covering [0, n), each starting on a
 * multiple of grain (the last may end short at n), on the pool's workers and on the
 * calling thread, and returns when all are done. How [0, n) is cut and which thread
 * runs which range is unspecified: fn must give the same result however it is cut (it
 * writes disjoint outputs per index). Runs fn(0, n, ctx) on the calling thread alone
 * when the setting is 1 thread, when n <= grain, when the pool is busy with another
 * caller's work, or when called from inside fn. Allocates nothing. */
void tg__parallel_for(size_t n, size_t grain, void (*fn)(size_t begin, size_t end, void *ctx),
                      void *ctx);

/* Before the first OpenBLAS call: gives OpenBLAS the library's thread count (its own
 * default is every processor, the library's is 1). Cheap after the first call. */
void tg__threads_blas_init(void);

#endif
