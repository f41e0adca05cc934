/* The one path to memory. Every allocation of the library goes through tg__alloc, so a
 * hook installed with tg_set_allocator sees (and can refuse) all of them. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include "internal.h"

/* Process-wide configuration rather than mutable state: set before use, read after. The
 * pointer is atomic so a thread reading it never sees a torn value. */
static _Atomic(const tg_allocator *) hook;

void tg_set_allocator(const tg_allocator *a)
{
    atomic_store(&hook, (a && a->alloc && a->free) ? a : NULL);
}

void *tg__alloc(size_t size)
{
    const tg_allocator *h = atomic_load(&hook);
    if (size == 0)
        size = 1;
    return h ? h->alloc(size, h->ctx) : malloc(size);
}

void tg__free(void *ptr)
{
    const tg_allocator *h;
    if (!ptr)
        return;
    h = atomic_load(&hook);
    if (h)
        h->free(ptr, h->ctx);
    else
        free(ptr);
}

size_t tg__mul_size(size_t a, size_t b, int *overflow)
{
    if (a != 0 && b > SIZE_MAX / a) {
        *overflow = 1;
        return 0;
    }
    return a * b;
}
