/* Parameter sets: named TG_PARAM tensors whose data and gradients are slices of two
 * flat blocks (nn.h). Both blocks live in one allocation; adding a parameter grows it
 * geometrically and points every tensor at its slice again. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"
#include "../kernels/threads.h"

#define ALIGN_FLOATS 16   /* 64 bytes: every tensor starts on a cache line */

typedef struct {
    tg_tensor *t;
    size_t offset;
    char name[TG_PARAM_NAME_MAX + 1];
} entry;

struct tg_params {
    void *raw;            /* the one allocation holding both blocks */
    float *data, *grad;   /* 64-byte aligned, cap floats each */
    size_t flat, cap;     /* floats in use / capacity, per block */
    entry *e;
    size_t n, cap_e;
    size_t layout;        /* bumped by every add */
};

static size_t round_floats(size_t n) { return (n + ALIGN_FLOATS - 1) & ~(size_t)(ALIGN_FLOATS - 1); }

tg_params *tg_params_new(void)
{
    tg_params *ps = tg__alloc(sizeof *ps);
    if (!ps) {
        tg__fail(TG_ERR_NOMEM, "tg_params_new: out of memory");
        return NULL;
    }
    memset(ps, 0, sizeof *ps);
    return ps;
}

void tg_params_free(tg_params *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        tg__free(ps->e[i].t);
    tg__free(ps->e);
    tg__free(ps->raw);
    tg__free(ps);
}

/* Moves the blocks into an allocation of `cap` floats each; nothing changes on failure. */
static tg_status grow_blocks(tg_params *ps, size_t cap)
{
    int overflow = 0;
    const size_t bytes = tg__mul_size(cap, 2 * sizeof(float), &overflow);
    void *raw;
    float *data;
    if (overflow || bytes > SIZE_MAX - 64)
        return tg__fail(TG_ERR_SIZE, "tg_params_add: %zu floats overflow size_t", cap);
    raw = tg__alloc(bytes + 64);
    if (!raw)
        return tg__fail(TG_ERR_NOMEM, "tg_params_add: out of memory for %zu floats", 2 * cap);
    data = (float *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    memset(data, 0, bytes);
    if (ps->flat) {
        memcpy(data, ps->data, ps->flat * sizeof(float));
        memcpy(data + cap, ps->grad, ps->flat * sizeof(float));
    }
    tg__free(ps->raw);
    ps->raw = raw;
    ps->data = data;
    ps->grad = data + cap;
    ps->cap = cap;
    for (size_t i = 0; i < ps->n; i++) {
        ps->e[i].t->data = ps->data + ps->e[i].offset;
        ps->e[i].t->grad = ps->grad + ps->e[i].offset;
    }
    return TG_OK;
}

static tg_status grow_entries(tg_params *ps)
{
    const size_t cap = ps->cap_e ? 2 * ps->cap_e : 16;
    entry *e;
    if (cap > SIZE_MAX / sizeof *e)
        return tg__fail(TG_ERR_SIZE, "tg_params_add: too many parameters");
    e = tg__alloc(cap * sizeof *e);
    if (!e)
        return tg__fail(TG_ERR_NOMEM, "tg_params_add: out of memory");
    if (ps->n)
        memcpy(e, ps->e, ps->n * sizeof *e);
    tg__free(ps->e);
    ps->e = e;
    ps->cap_e = cap;
    return TG_OK;
}

/* The entry called name, or NULL; unlike tg_params_find, records no error. */
static const entry *lookup(const tg_params *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->e[i].name, name) == 0)
            return &ps->e[i];
    return NULL;
}

static tg_status check_name(const tg_params *ps, const char *name)
{
    size_t len;
    if (!name)
        return tg__fail(TG_ERR_NULL, "tg_params_add: name is NULL");
    len = strlen(name);
    if (len == 0 || len > TG_PARAM_NAME_MAX)
        return tg__fail(TG_ERR_PARAM, "tg_params_add: name \"%.*s\" has %zu bytes, not 1..%d",
                        TG_PARAM_NAME_MAX, name, len, TG_PARAM_NAME_MAX);
    if (lookup(ps, name))
        return tg__fail(TG_ERR_EXISTS, "tg_params_add: a parameter named \"%s\" exists", name);
    return TG_OK;
}

tg_tensor *tg_params_add(tg_params *ps, const char *name, size_t rank, const size_t *shape)
{
    size_t n, offset, need;
    tg_tensor *t;
    if (!ps) {
        tg__fail(TG_ERR_NULL, "tg_params_add: parameter set is NULL");
        return NULL;
    }
    if (check_name(ps, name) != TG_OK || tg__check_shape("tg_params_add", rank, shape, &n) != TG_OK)
        return NULL;
    offset = round_floats(ps->flat);
    if (n > SIZE_MAX / 4 - ALIGN_FLOATS - offset) {
        tg__fail(TG_ERR_SIZE, "tg_params_add: %s: the set's size overflows", name);
        return NULL;
    }
    need = offset + round_floats(n);
    if (ps->n == ps->cap_e && grow_entries(ps) != TG_OK)
        return NULL;
    t = tg__alloc(sizeof *t);
    if (!t) {
        tg__fail(TG_ERR_NOMEM, "tg_params_add: %s: out of memory", name);
        return NULL;
    }
    if (need > ps->cap && grow_blocks(ps, need > 2 * ps->cap ? need : 2 * ps->cap) != TG_OK) {
        tg__free(t);
        return NULL;
    }
    memset(t, 0, sizeof *t);
    t->data = ps->data + offset;
    t->grad = ps->grad + offset;
    t->size = n;
    t->rank = rank;
    for (size_t i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    t->kind = TG_PARAM;
    t->owner = ps;
    ps->e[ps->n].t = t;
    ps->e[ps->n].offset = offset;
    strcpy(ps->e[ps->n].name, name);
    ps->n++;
    ps->flat = need;
    ps->layout++;
    return t;
}

/* The accessors' refusal of a NULL set: 0 or NULL is also a valid answer for an empty
 * set, so the message is what tells the two apart. */
static int no_set(const tg_params *ps, const char *who)
{
    if (!ps)
        tg__fail(TG_ERR_NULL, "%s: parameter set is NULL", who);
    return !ps;
}

size_t tg_params_count(const tg_params *ps) { return no_set(ps, "tg_params_count") ? 0 : ps->n; }

size_t tg_params_flat_size(const tg_params *ps)
{
    return no_set(ps, "tg_params_flat_size") ? 0 : ps->flat;
}

size_t tg_params_layout(const tg_params *ps)
{
    return no_set(ps, "tg_params_layout") ? 0 : ps->layout;
}

/* NULL for an empty set too (it has no blocks yet), with a message like any NULL. */
static float *block(tg_params *ps, int grad, const char *who)
{
    if (no_set(ps, who))
        return NULL;
    if (!ps->flat) {
        tg__fail(TG_ERR_STATE, "%s: the set is empty (no blocks until a parameter is added)",
                 who);
        return NULL;
    }
    return grad ? ps->grad : ps->data;
}

float *tg_params_data(tg_params *ps) { return block(ps, 0, "tg_params_data"); }
float *tg_params_grad(tg_params *ps) { return block(ps, 1, "tg_params_grad"); }

static int in_range(const tg_params *ps, size_t i, const char *who)
{
    if (!ps) {
        tg__fail(TG_ERR_NULL, "%s: parameter set is NULL", who);
        return 0;
    }
    if (i >= ps->n) {
        tg__fail(TG_ERR_PARAM, "%s: index %zu is out of range (the set has %zu)", who, i, ps->n);
        return 0;
    }
    return 1;
}

tg_tensor *tg_params_at(const tg_params *ps, size_t i)
{
    return in_range(ps, i, "tg_params_at") ? ps->e[i].t : NULL;
}

const char *tg_params_name(const tg_params *ps, size_t i)
{
    return in_range(ps, i, "tg_params_name") ? ps->e[i].name : NULL;
}

size_t tg_params_offset(const tg_params *ps, size_t i)
{
    return in_range(ps, i, "tg_params_offset") ? ps->e[i].offset : 0;
}

tg_tensor *tg_params_find(const tg_params *ps, const char *name)
{
    const entry *e;
    if (!ps || !name) {
        tg__fail(TG_ERR_NULL, "tg_params_find: %s is NULL", ps ? "name" : "parameter set");
        return NULL;
    }
    if ((e = lookup(ps, name)) != NULL)
        return e->t;
    tg__fail(TG_ERR_NOT_FOUND, "tg_params_find: no parameter named \"%s\"", name);
    return NULL;
}

size_t tg_params_numel(const tg_params *ps)
{
    size_t n = 0;
    if (no_set(ps, "tg_params_numel"))
        return 0;
    for (size_t i = 0; i < ps->n; i++)
        n += ps->e[i].t->size;
    return n;
}

static void zero_range(size_t b, size_t e, void *grad)
{
    memset((float *)grad + b, 0, (e - b) * sizeof(float));
}

/* Split between the threads in runs of 64K floats: a large model's gradient is
 * megabytes, which one core clears at a fraction of the memory bandwidth two reach. */
void tg_params_zero_grad(tg_params *ps)
{
    if (!no_set(ps, "tg_params_zero_grad") && ps->flat)
        tg__parallel_for(ps->flat, 65536, zero_range, ps->grad);
}

double tg_params_grad_norm(const tg_params *ps)
{
    double s = 0.0;
    if (no_set(ps, "tg_params_grad_norm"))
        return NAN;   /* not 0: a missing set must not pass for a zero gradient */
    for (size_t i = 0; i < ps->flat; i++)
        s += (double)ps->grad[i] * ps->grad[i];
    return sqrt(s);
}

double tg_params_clip_grad_norm(tg_params *ps, double max_norm)
{
    double norm;
    if (no_set(ps, "tg_params_clip_grad_norm"))
        return NAN;
    norm = tg_params_grad_norm(ps);
    if (!(max_norm > 0.0) || !isfinite(max_norm)) {
        tg__fail(TG_ERR_PARAM, "tg_params_clip_grad_norm: max_norm = %g must be > 0 and finite",
                 max_norm);
        return NAN;
    }
    if (!isfinite(norm)) {
        tg__fail(TG_ERR_NONFINITE, "tg_params_clip_grad_norm: the gradient norm is %g", norm);
        return norm;
    }
    if (norm > max_norm) {
        const float s = (float)(max_norm / norm);
        for (size_t i = 0; i < ps->flat; i++)
            ps->grad[i] *= s;
    }
    return norm;
}

/* Same names and shapes in the same order. */
static tg_status same_layout(const char *who, const tg_params *a, const tg_params *b)
{
    char sa[96], sb[96];
    if (!a || !b)
        return tg__fail(TG_ERR_NULL, "%s: parameter set is NULL", who);
    if (a->n != b->n)
        return tg__fail(TG_ERR_MISMATCH, "%s: the sets hold %zu and %zu parameters", who, a->n,
                        b->n);
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->e[i].name, b->e[i].name) != 0)
            return tg__fail(TG_ERR_MISMATCH, "%s: parameter %zu is \"%s\" in one set, \"%s\" in "
                            "the other", who, i, a->e[i].name, b->e[i].name);
        if (!tg__same_shape(a->e[i].t, b->e[i].t))
            return tg__fail(TG_ERR_SHAPE, "%s: %s is %s in one set, %s in the other", who,
                            a->e[i].name, tg_shape_str(a->e[i].t, sa, sizeof sa),
                            tg_shape_str(b->e[i].t, sb, sizeof sb));
    }
    return TG_OK;
}

tg_status tg_params_copy(tg_params *dst, const tg_params *src)
{
    tg_status s = same_layout("tg_params_copy", dst, src);
    if (s == TG_OK && dst != src && src->flat)
        memcpy(dst->data, src->data, src->flat * sizeof(float));
    return s;
}

tg_status tg_params_ema(tg_params *ema, const tg_params *src, double decay)
{
    tg_status s = same_layout("tg_params_ema", ema, src);
    if (s != TG_OK)
        return s;
    if (!(decay >= 0.0 && decay <= 1.0))
        return tg__fail(TG_ERR_PARAM, "tg_params_ema: decay = %g is outside [0, 1]", decay);
    {
        const float d = (float)decay, c = (float)(1.0 - decay);
        float *e = ema->data;
        const float *x = src->data;
        for (size_t i = 0; i < src->flat; i++)
            e[i] = d * e[i] + c * x[i];
    }
    return TG_OK;
}
