/* A bump allocator for tape memory. Reset keeps the memory: when a step needed several
 * blocks, reset merges them into one of the total size, so from the next step on the
 * same graph fits in one block and no allocation happens at all. */
#include <stdint.h>
#include "internal.h"

#define ALIGN 64
#define MIN_BLOCK ((size_t)64 * 1024)

struct tg__block {
    tg__block *next;
    size_t cap;            /* usable bytes at base */
    unsigned char *base;   /* ALIGN-aligned */
};

static tg__block *block_new(size_t cap)
{
    tg__block *b;
    uintptr_t p;
    if (cap > SIZE_MAX - sizeof *b - ALIGN)
        return NULL;
    b = tg__alloc(sizeof *b + cap + ALIGN);
    if (!b)
        return NULL;
    p = ((uintptr_t)(b + 1) + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    b->base = (unsigned char *)p;
    b->cap = cap;
    b->next = NULL;
    return b;
}

void *tg__arena_alloc(tg__arena *a, size_t bytes)
{
    tg__block *b;
    size_t cap;
    if (bytes > SIZE_MAX - ALIGN)
        return NULL;
    bytes = (bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (a->head && bytes <= a->head->cap - a->used) {
        void *p = a->head->base + a->used;
        a->used += bytes;
        return p;
    }
    cap = a->head ? 2 * a->head->cap : MIN_BLOCK;
    if (cap < bytes)
        cap = bytes;
    b = block_new(cap);
    if (!b)
        return NULL;
    b->next = a->head;
    a->head = b;
    a->total += cap;
    a->used = bytes;
    return b->base;
}

void tg__arena_reset(tg__arena *a)
{
    a->used = 0;
    if (a->head && a->head->next) {
        const size_t total = a->total;
        tg__arena_free(a);
        a->head = block_new(total);   /* on failure the next step simply allocates again */
        a->total = a->head ? total : 0;
    }
}

void tg__arena_free(tg__arena *a)
{
    tg__block *b = a->head;
    while (b) {
        tg__block *next = b->next;
        tg__free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
    a->total = 0;
}
