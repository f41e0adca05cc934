/* Mini-batches: every row once per epoch in a fresh, seeded, unbiased permutation, the
 * arrays' rows kept together, the last batch kept or dropped, no allocation in a warm
 * loop, and clear refusals. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

enum { N = 103, BS = 10, XLEN = 3 };

/* x row r is (r, r + 0.5, -r) and y row r is r: a row's origin can be read back. */
typedef struct {
    float x[N * XLEN], y[N];
} data;

static void data_fill(data *d)
{
    for (size_t r = 0; r < N; r++) {
        d->x[r * XLEN] = (float)r;
        d->x[r * XLEN + 1] = (float)r + 0.5f;
        d->x[r * XLEN + 2] = -(float)r;
        d->y[r] = (float)r;
    }
}

static tg_batches *make(const data *d, size_t n_rows, size_t bs, int drop_last, uint64_t seed)
{
    tg_batches *b = tg_batches_new(n_rows, bs, drop_last, seed);
    size_t ix = 9, iy = 9;
    cr_assert_not_null(b, "%s", tg_last_error());
    cr_assert_eq(tg_batches_add(b, d->x, XLEN, &ix), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_batches_add(b, d->y, 1, &iy), TG_OK, "%s", tg_last_error());
    cr_assert_eq(ix, 0u);
    cr_assert_eq(iy, 1u);
    return b;
}

/* Runs one epoch, writing the row order into order[] and the batch sizes into sizes[];
 * returns the number of batches. Checks that x and y rows stay aligned. */
static size_t epoch(tg_batches *b, float *order, size_t *sizes)
{
    size_t nb = 0, seen = 0, rows;
    float x[BS * XLEN + 64], y[BS + 64];
    while ((rows = tg_batches_next(b)) > 0) {
        cr_assert_leq(rows, BS);
        cr_assert_eq(tg_batches_fill(b, 0, x), TG_OK, "%s", tg_last_error());
        cr_assert_eq(tg_batches_fill(b, 1, y), TG_OK, "%s", tg_last_error());
        for (size_t r = 0; r < rows; r++) {
            cr_assert_eq(x[r * XLEN], y[r], "batch %zu row %zu: x and y rows differ", nb, r);
            cr_assert_eq(x[r * XLEN + 1], y[r] + 0.5f);
            cr_assert_eq(x[r * XLEN + 2], -y[r]);
            order[seen++] = y[r];
        }
        sizes[nb++] = rows;
    }
    return nb;
}

Test(batches, every_row_visited_exactly_once_per_epoch)
{
    static data d;
    float order[N];
    size_t sizes[N];
    tg_batches *b;
    data_fill(&d);
    b = make(&d, N, BS, 0, 7);
    cr_assert_eq(tg_batches_per_epoch(b), 11u);
    cr_assert_eq(tg_batches_epoch(b), 0u);
    for (uint64_t e = 1; e <= 5; e++) {
        int count[N] = { 0 };
        const size_t nb = epoch(b, order, sizes);
        cr_assert_eq(tg_batches_epoch(b), e);
        cr_assert_eq(nb, 11u);
        for (size_t i = 0; i < N; i++)
            count[(size_t)order[i]]++;
        for (size_t r = 0; r < N; r++)
            cr_assert_eq(count[r], 1, "epoch %llu: row %zu visited %d times",
                         (unsigned long long)e, r, count[r]);
    }
    tg_batches_free(b);
}

Test(batches, epochs_differ_and_same_seed_same_order)
{
    static data d;
    float a1[N], a2[N], b1[N], b2[N], c1[N];
    size_t sizes[N];
    tg_batches *a, *b, *c;
    data_fill(&d);
    a = make(&d, N, BS, 0, 42);
    b = make(&d, N, BS, 0, 42);
    c = make(&d, N, BS, 0, 43);
    epoch(a, a1, sizes);
    epoch(a, a2, sizes);
    epoch(b, b1, sizes);
    epoch(b, b2, sizes);
    epoch(c, c1, sizes);
    cr_assert(memcmp(a1, a2, sizeof a1) != 0, "epochs 1 and 2 visit rows in the same order");
    cr_assert(memcmp(a1, b1, sizeof a1) == 0, "same seed, different first epoch");
    cr_assert(memcmp(a2, b2, sizeof a2) == 0, "same seed, different second epoch");
    cr_assert(memcmp(a1, c1, sizeof a1) != 0, "seeds 42 and 43 give the same order");
    tg_batches_free(a);
    tg_batches_free(b);
    tg_batches_free(c);
}

Test(batches, last_batch_kept_or_dropped)
{
    static data d;
    float order[N];
    size_t sizes[N], nb;
    tg_batches *b;
    data_fill(&d);
    b = make(&d, N, BS, 0, 1);                    /* keep: 10 batches of 10, one of 3 */
    nb = epoch(b, order, sizes);
    cr_assert_eq(nb, 11u);
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq(sizes[i], 10u);
    cr_assert_eq(sizes[10], 3u);
    tg_batches_free(b);

    b = make(&d, N, BS, 1, 1);                    /* drop: 10 batches of 10 */
    cr_assert_eq(tg_batches_per_epoch(b), 10u);
    for (int e = 0; e < 3; e++) {
        int count[N] = { 0 }, twice = 0;
        size_t visited = 0;
        nb = epoch(b, order, sizes);
        cr_assert_eq(nb, 10u);
        for (size_t i = 0; i < nb; i++)
            cr_assert_eq(sizes[i], 10u);
        for (size_t i = 0; i < 100; i++)
            count[(size_t)order[i]]++;
        for (size_t r = 0; r < N; r++) {
            visited += count[r] == 1;
            twice += count[r] > 1;
        }
        cr_assert_eq(visited, 100u, "drop_last visits 100 distinct rows, not %zu", visited);
        cr_assert_eq(twice, 0);
    }
    tg_batches_free(b);

    b = make(&d, 100, BS, 0, 1);                  /* exact: no partial batch to keep */
    cr_assert_eq(tg_batches_per_epoch(b), 10u);
    cr_assert_eq(epoch(b, order, sizes), 10u);
    tg_batches_free(b);

    b = make(&d, 4, BS, 0, 1);                    /* batch above n_rows: one batch of all */
    cr_assert_eq(tg_batches_per_epoch(b), 1u);
    cr_assert_eq(epoch(b, order, sizes), 1u);
    cr_assert_eq(sizes[0], 4u);
    tg_batches_free(b);

    b = make(&d, 1, 1, 1, 1);                     /* one row */
    cr_assert_eq(epoch(b, order, sizes), 1u);
    cr_assert_eq(order[0], 0.0f);
    tg_batches_free(b);
}

/* next() returns 0 once at the end of an epoch; the call after that starts the next. */
Test(batches, next_returns_zero_once_between_epochs)
{
    static data d;
    tg_batches *b;
    data_fill(&d);
    b = make(&d, 25, BS, 0, 3);
    cr_assert_eq(tg_batches_next(b), 10u);
    cr_assert_eq(tg_batches_epoch(b), 1u);
    cr_assert_eq(tg_batches_next(b), 10u);
    cr_assert_eq(tg_batches_next(b), 5u);
    cr_assert_eq(tg_batches_next(b), 0u);
    cr_assert_eq(tg_batches_epoch(b), 1u);
    cr_assert_eq(tg_batches_fill(b, 0, (float[BS * XLEN]){ 0 }), TG_ERR_STATE,
                 "no current batch once the epoch is over");
    cr_assert_eq(tg_batches_next(b), 10u);
    cr_assert_eq(tg_batches_epoch(b), 2u);
    tg_batches_free(b);
}

/* Over 24000 epochs of 4 rows, each of the 24 orders should come up about 1000 times:
 * Pearson's chi-square with 23 degrees of freedom stays below 70.55 with probability
 * 1 - 1e-6 for a uniform shuffle (a classic off-by-one Fisher-Yates fails by far). */
Test(batches, permutations_are_uniform)
{
    static const float v[4] = { 0, 1, 2, 3 };
    long count[256] = { 0 };
    double chi2 = 0.0;
    int distinct = 0;
    tg_batches *b = tg_batches_new(4, 4, 0, 2024);
    cr_assert_not_null(b);
    cr_assert_eq(tg_batches_add(b, v, 1, NULL), TG_OK);
    for (int e = 0; e < 24000; e++) {
        float o[4];
        cr_assert_eq(tg_batches_next(b), 4u);
        cr_assert_eq(tg_batches_fill(b, 0, o), TG_OK);
        count[(int)o[0] * 64 + (int)o[1] * 16 + (int)o[2] * 4 + (int)o[3]]++;
        cr_assert_eq(tg_batches_next(b), 0u);
    }
    for (int k = 0; k < 256; k++)
        if (count[k]) {
            distinct++;
            chi2 += (count[k] - 1000.0) * (count[k] - 1000.0) / 1000.0;
        }
    cr_assert_eq(distinct, 24);
    cr_assert_lt(chi2, 70.55, "chi-square %.2f over the 24 orders", chi2);
    tg_batches_free(b);
}

Test(batches, tensor_is_the_batch_on_the_tape)
{
    static data d;
    float x[BS * XLEN], y[BS];
    tg_tape *t = tg_tape_new();
    tg_batches *b;
    size_t rows;
    data_fill(&d);
    b = make(&d, N, BS, 0, 11);
    while ((rows = tg_batches_next(b)) > 0) {
        tg_tensor *tx = tg_batches_tensor(b, 0, t), *ty = tg_batches_tensor(b, 1, t);
        cr_assert(tx && ty, "%s", tg_tape_error(t));
        cr_assert_eq(tx->kind, TG_INTERMEDIATE);
        cr_assert_null(tx->grad);
        cr_assert_eq(tx->rank, 2u);
        cr_assert_eq(tx->shape[0], rows);
        cr_assert_eq(tx->shape[1], (size_t)XLEN);
        cr_assert_eq(ty->rank, 1u, "labels (row_len 1) are [rows]");
        cr_assert_eq(ty->shape[0], rows);
        cr_assert_eq(tg_batches_fill(b, 0, x), TG_OK);
        cr_assert_eq(tg_batches_fill(b, 1, y), TG_OK);
        cr_assert(memcmp(tx->data, x, rows * XLEN * sizeof(float)) == 0);
        cr_assert(memcmp(ty->data, y, rows * sizeof(float)) == 0);
        tg_tape_reset(t);
    }
    tg_batches_free(b);
    tg_tape_free(t);
}

typedef struct {
    size_t calls;
    long live;
} counter;

static void *count_alloc(size_t n, void *ctx)
{
    counter *c = ctx;
    c->calls++;
    c->live++;
    return malloc(n);
}

static void count_free(void *p, void *ctx)
{
    ((counter *)ctx)->live--;
    free(p);
}

/* A training step on the batches: linear + softmax cross-entropy, backward, SGD. */
static void train_step(tg_tape *t, tg_batches *b, tg_tensor *W, tg_tensor *bias)
{
    tg_tensor *x, *y, *loss;
    if (tg_batches_next(b) == 0)
        cr_assert_gt(tg_batches_next(b), 0u);
    x = tg_batches_tensor(b, 0, t);
    y = tg_batches_tensor(b, 1, t);
    loss = tg_softmax_cross_entropy(t, tg_linear(t, x, W, bias), y);
    cr_assert(loss && tg_backward(t, loss, NULL) == TG_OK, "%s", tg_tape_error(t));
    for (size_t i = 0; i < W->size; i++)
        W->data[i] -= 0.01f * W->grad[i];
    tg_zero_grad(W);
    tg_zero_grad(bias);
    tg_tape_reset(t);
}

Test(batches, warm_loop_allocates_nothing)
{
    static float x[N * XLEN], y[N];
    counter c = { 0, 0 };
    const tg_allocator hook = { count_alloc, count_free, &c };
    tg_tape *t;
    tg_batches *b;
    tg_tensor *W, *bias;
    size_t before;
    for (size_t r = 0; r < N; r++) {
        x[r * XLEN] = (float)r / N;
        x[r * XLEN + 1] = 1.0f - (float)r / N;
        x[r * XLEN + 2] = 0.5f;
        y[r] = (float)(r % 4);
    }
    tg_set_allocator(&hook);
    t = tg_tape_new();
    b = tg_batches_new(N, BS, 0, 5);
    W = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 4, XLEN });
    bias = tg_tensor_new(TG_PARAM, 1, (size_t[]){ 4 });
    cr_assert(t && b && W && bias);
    cr_assert_eq(tg_batches_add(b, x, XLEN, NULL), TG_OK);
    cr_assert_eq(tg_batches_add(b, y, 1, NULL), TG_OK);
    for (int i = 0; i < 15; i++)   /* more than an epoch: arena and record grow to size */
        train_step(t, b, W, bias);
    before = c.calls;
    for (int i = 0; i < 200; i++)  /* 18 epochs, partial batches included */
        train_step(t, b, W, bias);
    cr_assert_eq(c.calls, before, "%zu allocations in 200 warm steps", c.calls - before);
    cr_assert_geq(tg_batches_epoch(b), 19u);
    tg_batches_free(b);
    tg_tensor_free(W);
    tg_tensor_free(bias);
    tg_tape_free(t);
    cr_assert_eq(c.live, 0, "%ld blocks leaked", c.live);
    tg_set_allocator(NULL);
}

static void expect_error(tg_status got, tg_status want, const char *needle)
{
    cr_assert_eq(got, want, "status %d (%s), expected %d", got, tg_last_error(), want);
    cr_assert_eq(tg_last_status(), want);
    cr_assert_not_null(strstr(tg_last_error(), needle), "message \"%s\" lacks \"%s\"",
                       tg_last_error(), needle);
}

Test(batches, refusals_have_messages)
{
    static const float v[8] = { 0 };
    float out[8];
    tg_batches *b;
    tg_tape *t = tg_tape_new();

    cr_assert_null(tg_batches_new(10, 0, 0, 1));
    expect_error(tg_last_status(), TG_ERR_SIZE, "batch_size (0)");
    cr_assert_null(tg_batches_new(0, 4, 0, 1));
    expect_error(tg_last_status(), TG_ERR_SIZE, "n_rows (0)");
    cr_assert_null(tg_batches_new(3, 4, 1, 1));
    expect_error(tg_last_status(), TG_ERR_SIZE, "drop_last");
#if SIZE_MAX > UINT32_MAX
    cr_assert_null(tg_batches_new((size_t)UINT32_MAX + 1, 4, 0, 1));
    expect_error(tg_last_status(), TG_ERR_SIZE, "2^32");
#endif

    b = tg_batches_new(8, 4, 0, 1);
    cr_assert_not_null(b);
    cr_assert_eq(tg_batches_next(b), 0u, "next() before any array");
    expect_error(tg_last_status(), TG_ERR_STATE, "no array added");
    expect_error(tg_batches_add(b, NULL, 1, NULL), TG_ERR_NULL, "data is NULL");
    expect_error(tg_batches_add(NULL, v, 1, NULL), TG_ERR_NULL, "iterator is NULL");
    expect_error(tg_batches_add(b, v, 0, NULL), TG_ERR_SIZE, "row_len is 0");
#if SIZE_MAX > UINT32_MAX
    expect_error(tg_batches_add(b, v, SIZE_MAX / 4, NULL), TG_ERR_SIZE, "overflow");
#endif
    for (int i = 0; i < TG_BATCHES_MAX_ARRAYS; i++)
        cr_assert_eq(tg_batches_add(b, v, 1, NULL), TG_OK);
    expect_error(tg_batches_add(b, v, 1, NULL), TG_ERR_FULL, "already 4 arrays");

    expect_error(tg_batches_fill(b, 0, out), TG_ERR_STATE, "no current batch");
    cr_assert_null(tg_batches_tensor(b, 0, t));
    expect_error(tg_last_status(), TG_ERR_STATE, "tg_batches_tensor: no current batch");
    cr_assert_eq(tg_tape_status(t), TG_ERR_STATE, "the failure is recorded on the tape");
    cr_assert_not_null(strstr(tg_tape_error(t), "no current batch"));
    tg_tape_reset(t);

    cr_assert_eq(tg_batches_next(b), 4u);
    expect_error(tg_batches_fill(b, 4, out), TG_ERR_PARAM, "array 4 out of range");
    expect_error(tg_batches_fill(b, 0, NULL), TG_ERR_NULL, "out is NULL");
    expect_error(tg_batches_fill(NULL, 0, out), TG_ERR_NULL, "iterator is NULL");
    cr_assert_null(tg_batches_tensor(b, 7, t));
    expect_error(tg_last_status(), TG_ERR_PARAM, "array 7 out of range (the iterator has 4)");
    cr_assert_eq(tg_tape_status(t), TG_ERR_PARAM);
    /* the tape keeps its first error: a valid request fails too until reset */
    cr_assert_null(tg_batches_tensor(b, 0, t));
    cr_assert_not_null(strstr(tg_tape_error(t), "array 7"));
    tg_tape_reset(t);
    cr_assert_not_null(tg_batches_tensor(b, 0, t), "%s", tg_tape_error(t));
    cr_assert_null(tg_batches_tensor(b, 0, NULL));
    expect_error(tg_last_status(), TG_ERR_NULL, "tape is NULL");
    cr_assert_null(tg_batches_tensor(NULL, 0, t));
    expect_error(tg_last_status(), TG_ERR_NULL, "iterator is NULL");

    cr_assert_eq(tg_batches_next(NULL), 0u);
    expect_error(tg_last_status(), TG_ERR_NULL, "iterator is NULL");
    cr_assert_eq(tg_batches_epoch(NULL), 0u);
    cr_assert_eq(tg_batches_per_epoch(NULL), 0u);
    tg_batches_free(NULL);
    tg_batches_free(b);
    tg_tape_free(t);
}

static void *refuse_alloc(size_t n, void *ctx)
{
    (void)n;
    (void)ctx;
    return NULL;
}

static void refuse_free(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

Test(batches, out_of_memory_is_an_error)
{
    const tg_allocator hook = { refuse_alloc, refuse_free, NULL };
    tg_set_allocator(&hook);
    cr_assert_null(tg_batches_new(1000, 10, 0, 1));
    tg_set_allocator(NULL);
    expect_error(tg_last_status(), TG_ERR_NOMEM, "tg_batches_new: out of memory");
}
