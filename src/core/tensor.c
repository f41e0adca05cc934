/* Persistent tensors (parameters and constants) and shape checks shared by the engine. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

#define ALIGN 64

tg_status tg__check_shape(const char *who, size_t rank, const size_t *shape, size_t *size)
{
    size_t n = 1;
    int overflow = 0;
    if (rank > TG_MAX_RANK)
        return tg__fail(TG_ERR_RANK, "%s: rank %zu is above the maximum %d", who, rank,
                        TG_MAX_RANK);
    if (rank > 0 && !shape)
        return tg__fail(TG_ERR_NULL, "%s: shape is NULL for rank %zu", who, rank);
    for (size_t i = 0; i < rank; i++) {
        if (shape[i] == 0)
            return tg__fail(TG_ERR_SIZE, "%s: dimension %zu is zero", who, i);
        n = tg__mul_size(n, shape[i], &overflow);
    }
    /* data and grad are each n floats, plus alignment slack: keep the byte count in range */
    if (overflow || n > (SIZE_MAX - 4 * ALIGN) / (2 * sizeof(float)))
        return tg__fail(TG_ERR_SIZE, "%s: element count overflows size_t", who);
    *size = n;
    return TG_OK;
}

int tg__same_shape(const tg_tensor *a, const tg_tensor *b)
{
    if (a->rank != b->rank)
        return 0;
    for (size_t i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

static size_t round_up(size_t n)
{
    return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* One allocation holds the struct, the data and the gradient, each 64-byte aligned. */
tg_tensor *tg_tensor_new(tg_kind kind, size_t rank, const size_t *shape)
{
    size_t n, bytes;
    unsigned char *base, *p;
    tg_tensor *t;
    if (kind != TG_PARAM && kind != TG_CONST) {
        tg__fail(TG_ERR_STATE, "tg_tensor_new: kind must be TG_PARAM or TG_CONST");
        return NULL;
    }
    if (tg__check_shape("tg_tensor_new", rank, shape, &n) != TG_OK)
        return NULL;
    bytes = round_up(n * sizeof(float));
    base = tg__alloc(2 * ALIGN + round_up(sizeof *t) + bytes * (kind == TG_PARAM ? 2 : 1));
    if (!base) {
        tg__fail(TG_ERR_NOMEM, "tg_tensor_new: out of memory for %zu elements", n);
        return NULL;
    }
    p = (unsigned char *)(((uintptr_t)base + sizeof(void *) + ALIGN - 1) &
                          ~(uintptr_t)(ALIGN - 1));
    ((void **)p)[-1] = base;   /* for tg_tensor_free */
    t = (tg_tensor *)p;
    memset(t, 0, sizeof *t);
    t->data = (float *)(p + round_up(sizeof *t));
    t->grad = kind == TG_PARAM ? t->data + bytes / sizeof(float) : NULL;
    memset(t->data, 0, bytes * (kind == TG_PARAM ? 2 : 1));
    t->size = n;
    t->rank = rank;
    for (size_t i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    t->kind = kind;
    return t;
}

void tg_tensor_free(tg_tensor *t)
{
    if (!t || t->kind == TG_INTERMEDIATE)   /* intermediates go with their tape */
        return;
    if (t->owner) {   /* a parameter set's tensor goes with its set */
        tg__fail(TG_ERR_STATE, "tg_tensor_free: the tensor belongs to a parameter set "
                 "(freed by tg_params_free)");
        return;
    }
    tg__free(((void **)t)[-1]);
}

void tg_zero_grad(tg_tensor *t)
{
    if (t && t->grad)
        memset(t->grad, 0, t->size * sizeof(float));
}

char *tg_shape_str(const tg_tensor *t, char *buf, size_t len)
{
    size_t used = 0;
    if (!buf) {
        tg__fail(TG_ERR_NULL, "tg_shape_str: buf is NULL");
        return NULL;
    }
    if (len == 0)
        return buf;
    if (!t) {
        snprintf(buf, len, "(null)");
        return buf;
    }
    used += (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < t->rank && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ",%zu" : "%zu", t->shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

void tg__shapes_str(tg_tensor *const *t, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used + 1 < len; i++) {
        char one[96];
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "",
                                 tg_shape_str(t[i], one, sizeof one));
    }
}
