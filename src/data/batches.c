/* Mini-batches: each epoch visits the rows of the registered arrays in a fresh PCG32
 * permutation, batch_size rows at a time. The iterator, its permutation cache and the
 * permutation are one allocation made at creation; a training loop allocates nothing
 * (tg_batches_tensor takes its memory from the tape's arena). */
#include <stdint.h>
#include <string.h>
#include "batches.h"

/* The iterator's generator is tg_pcg32_seed(seed, STREAM): a stream of its own, so a
 * program that seeds its other generators with the same seed draws unrelated numbers. */
#define STREAM 0xba7c4e5ULL

typedef struct {
    struct tg_batches b;
    tg__perm_cache c;
    /* uint32_t perm[n_rows] follows */
} whole;

static tg_status check_new(size_t n_rows, size_t batch_size, int drop_last)
{
    if (n_rows == 0 || batch_size == 0)
        return tg__fail(TG_ERR_SIZE, "tg_batches_new: n_rows (%zu) and batch_size (%zu) must "
                        "be > 0", n_rows, batch_size);
    if (n_rows > UINT32_MAX)   /* tg_pcg32_bounded draws below a 32-bit bound */
        return tg__fail(TG_ERR_SIZE, "tg_batches_new: n_rows %zu is above 2^32 - 1", n_rows);
    if (drop_last && batch_size > n_rows)
        return tg__fail(TG_ERR_SIZE, "tg_batches_new: batch_size %zu > n_rows %zu with "
                        "drop_last leaves no batch at all", batch_size, n_rows);
    return TG_OK;
}

tg_batches *tg_batches_new(size_t n_rows, size_t batch_size, int drop_last, uint64_t seed)
{
    int overflow = 0;
    const size_t bytes = tg__mul_size(n_rows, sizeof(uint32_t), &overflow);
    whole *w;
    if (check_new(n_rows, batch_size, drop_last) != TG_OK)
        return NULL;
    if (overflow || bytes > SIZE_MAX - sizeof *w) {   /* only where size_t is 32 bits */
        tg__fail(TG_ERR_SIZE, "tg_batches_new: %zu rows overflow size_t", n_rows);
        return NULL;
    }
    w = tg__alloc(sizeof *w + bytes);
    if (!w) {
        tg__fail(TG_ERR_NOMEM, "tg_batches_new: out of memory for %zu rows", n_rows);
        return NULL;
    }
    memset(w, 0, sizeof *w);
    w->b.n_rows = n_rows;
    w->b.batch_size = batch_size;
    w->b.drop_last = drop_last != 0;
    w->b.per_epoch = n_rows / batch_size + (!drop_last && n_rows % batch_size != 0);
    tg_pcg32_seed(&w->b.rng, seed, STREAM);
    w->c.perm = (uint32_t *)(w + 1);
    w->b.cache = &w->c;
    return &w->b;
}

void tg_batches_free(tg_batches *b)
{
    tg__free(b);   /* the first member of the one allocation */
}

tg_status tg_batches_add(tg_batches *b, const float *data, size_t row_len, size_t *index)
{
    int overflow = 0;
    if (!b || !data)
        return tg__fail(TG_ERR_NULL, "tg_batches_add: %s is NULL", b ? "data" : "iterator");
    if (b->n_arrays == TG_BATCHES_MAX_ARRAYS)
        return tg__fail(TG_ERR_FULL, "tg_batches_add: already %d arrays, the most an iterator "
                        "takes", TG_BATCHES_MAX_ARRAYS);
    if (row_len == 0)
        return tg__fail(TG_ERR_SIZE, "tg_batches_add: row_len is 0 (array %zu, %zu rows)",
                        b->n_arrays, b->n_rows);
    /* the whole array must be addressable, and a batch of it must fit a tape tensor */
    (void)tg__mul_size(tg__mul_size(b->n_rows, row_len, &overflow), sizeof(float), &overflow);
    if (overflow)
        return tg__fail(TG_ERR_SIZE, "tg_batches_add: %zu rows of %zu floats overflow size_t",
                        b->n_rows, row_len);
    b->data[b->n_arrays] = data;
    b->row_len[b->n_arrays] = row_len;
    if (index)
        *index = b->n_arrays;
    b->n_arrays++;
    return TG_OK;
}

/* Fisher-Yates from the identity with a copy of the epoch's starting generator, so the
 * permutation depends on that state alone (and can be drawn again after a resume). */
static void draw_perm(const tg_batches *b)
{
    tg__perm_cache *c = b->cache;
    tg_pcg32 g = b->rng;
    if (c->valid && c->from.state == b->rng.state && c->from.inc == b->rng.inc)
        return;
    for (size_t i = 0; i < b->n_rows; i++)
        c->perm[i] = (uint32_t)i;
    for (size_t i = b->n_rows - 1; i > 0; i--) {
        const uint32_t j = tg_pcg32_bounded(&g, (uint32_t)(i + 1));
        const uint32_t t = c->perm[i];
        c->perm[i] = c->perm[j];
        c->perm[j] = t;
    }
    c->from = b->rng;
    c->after = g;
    c->valid = 1;
}

size_t tg_batches_next(tg_batches *b)
{
    size_t start;
    if (!b) {
        tg__fail(TG_ERR_NULL, "tg_batches_next: iterator is NULL");
        return 0;
    }
    if (b->n_arrays == 0) {
        tg__fail(TG_ERR_STATE, "tg_batches_next: no array added (tg_batches_add) to the "
                 "iterator of %zu rows", b->n_rows);
        return 0;
    }
    if (b->epoch == 0 || b->batch > b->per_epoch) {   /* start an epoch */
        if (b->epoch > 0) {
            draw_perm(b);                             /* its end state seeds this epoch */
            b->rng = b->cache->after;
        }
        b->epoch++;
        b->batch = 0;
        draw_perm(b);
    }
    if (b->batch == b->per_epoch) {                   /* the epoch is over */
        b->batch++;
        return 0;
    }
    start = (size_t)b->batch * b->batch_size;
    b->batch++;
    return b->n_rows - start < b->batch_size ? b->n_rows - start : b->batch_size;
}

/* Checks the request and finds the current batch: its first position in the
 * permutation and its row count. */
static tg_status current(const tg_batches *b, size_t i, const char *who, size_t *start,
                         size_t *rows)
{
    if (!b)
        return tg__fail(TG_ERR_NULL, "%s: iterator is NULL", who);
    if (i >= b->n_arrays)
        return tg__fail(TG_ERR_PARAM, "%s: array %zu out of range (the iterator has %zu)",
                        who, i, b->n_arrays);
    if (b->epoch == 0 || b->batch == 0 || b->batch > b->per_epoch)
        return tg__fail(TG_ERR_STATE, "%s: no current batch (epoch %llu, batch %llu of %zu): "
                        "call tg_batches_next and use its batch while it returns rows", who,
                        (unsigned long long)b->epoch, (unsigned long long)b->batch,
                        b->per_epoch);
    *start = (size_t)(b->batch - 1) * b->batch_size;
    *rows = b->n_rows - *start < b->batch_size ? b->n_rows - *start : b->batch_size;
    return TG_OK;
}

/* Gathers rows [start, start + rows) of the permutation: plain row copies. */
static void gather(const tg_batches *b, size_t i, size_t start, size_t rows, float *out)
{
    const size_t len = b->row_len[i];
    const uint32_t *perm = b->cache->perm + start;
    draw_perm(b);   /* a no-op unless a checkpoint load moved the generator */
    for (size_t r = 0; r < rows; r++)
        memcpy(out + r * len, b->data[i] + (size_t)perm[r] * len, len * sizeof(float));
}

tg_status tg_batches_fill(const tg_batches *b, size_t i, float *out)
{
    size_t start, rows;
    tg_status s = current(b, i, "tg_batches_fill", &start, &rows);
    if (s != TG_OK)
        return s;
    if (!out)
        return tg__fail(TG_ERR_NULL, "tg_batches_fill: out is NULL (array %zu, %zu rows of "
                        "%zu)", i, rows, b->row_len[i]);
    gather(b, i, start, rows, out);
    return TG_OK;
}

tg_tensor *tg_batches_tensor(tg_batches *b, size_t i, tg_tape *tape)
{
    size_t start, rows, shape[2];
    tg_tensor *x;
    if (!tape) {
        tg__fail(TG_ERR_NULL, "tg_batches_tensor: tape is NULL");
        return NULL;
    }
    if (tg_tape_status(tape) != TG_OK) {   /* a failed step stays failed, as tg_apply does */
        tg__fail(tg_tape_status(tape), "%s", tg_tape_error(tape));
        return NULL;
    }
    if (current(b, i, "tg_batches_tensor", &start, &rows) != TG_OK) {
        tg__tape_adopt_error(tape);
        return NULL;
    }
    shape[0] = rows;
    shape[1] = b->row_len[i];
    x = tg_tape_const(tape, b->row_len[i] == 1 ? 1 : 2, shape);   /* records its own error */
    if (!x)
        return NULL;
    gather(b, i, start, rows, x->data);
    return x;
}

/* 0 is also a fresh iterator's epoch count: the message tells the two apart. */
uint64_t tg_batches_epoch(const tg_batches *b)
{
    if (!b)
        tg__fail(TG_ERR_NULL, "tg_batches_epoch: iterator is NULL");
    return b ? b->epoch : 0;
}

size_t tg_batches_per_epoch(const tg_batches *b)
{
    if (!b)
        tg__fail(TG_ERR_NULL, "tg_batches_per_epoch: iterator is NULL");
    return b ? b->per_epoch : 0;
}
