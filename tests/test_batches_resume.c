/* A batch iterator in a checkpoint: a run interrupted anywhere (mid-epoch, at an epoch's
 * end, before the first batch) and resumed from the file draws exactly the batches the
 * uninterrupted run draws; another configuration is refused and changes nothing. */
#define _POSIX_C_SOURCE 200809L   /* mkdtemp, unlink, rmdir */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <tapegrad.h>

enum { N = 23, BS = 5, LEN = 2, CALLS = 40 };

static float x[N * LEN], y[N];

/* What one call to next() gave: the row count and the rows of both arrays. */
typedef struct {
    size_t rows;
    float x[BS * LEN], y[BS];
} draw;

static tg_batches *make(size_t batch_size, uint64_t seed)
{
    tg_batches *b = tg_batches_new(N, batch_size, 0, seed);
    for (size_t r = 0; r < N; r++) {
        x[r * LEN] = (float)r;
        x[r * LEN + 1] = -(float)r;
        y[r] = (float)r;
    }
    cr_assert_not_null(b, "%s", tg_last_error());
    cr_assert_eq(tg_batches_add(b, x, LEN, NULL), TG_OK);
    cr_assert_eq(tg_batches_add(b, y, 1, NULL), TG_OK);
    return b;
}

static void take(tg_batches *b, draw *d)
{
    memset(d, 0, sizeof *d);
    d->rows = tg_batches_next(b);
    if (d->rows) {
        cr_assert_eq(tg_batches_fill(b, 0, d->x), TG_OK, "%s", tg_last_error());
        cr_assert_eq(tg_batches_fill(b, 1, d->y), TG_OK, "%s", tg_last_error());
    }
}

static char dir[64], path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/tg_resume_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

TestSuite(batches_resume, .init = setup, .fini = teardown);

static tg_status save(tg_batches *b)
{
    tg_checkpoint *c = tg_checkpoint_new();
    tg_status s;
    cr_assert_not_null(c);
    cr_assert_eq(tg_checkpoint_add_batches(c, "data", b), TG_OK, "%s", tg_last_error());
    s = tg_checkpoint_save(c, path);
    tg_checkpoint_free(c);
    return s;
}

static tg_status load(tg_batches *b)
{
    tg_checkpoint *c = tg_checkpoint_new();
    tg_status s;
    cr_assert_not_null(c);
    cr_assert_eq(tg_checkpoint_add_batches(c, "data", b), TG_OK, "%s", tg_last_error());
    s = tg_checkpoint_load(c, path);
    tg_checkpoint_free(c);
    return s;
}

Test(batches_resume, resumed_run_draws_the_same_batches)
{
    /* 5 batches and one 0 per epoch: stops mid-epoch, at an epoch's end, first call */
    static const size_t stops[] = { 0, 1, 3, 5, 6, 7, 13, 17, 18, 29 };
    static draw whole[CALLS];
    tg_batches *ref = make(BS, 9);
    for (size_t i = 0; i < CALLS; i++)
        take(ref, &whole[i]);
    tg_batches_free(ref);
    for (size_t k = 0; k < sizeof stops / sizeof stops[0]; k++) {
        tg_batches *first = make(BS, 9), *resumed = make(BS, 1234);   /* seed overwritten */
        draw d;
        for (size_t i = 0; i < stops[k]; i++)
            take(first, &d);
        cr_assert_eq(save(first), TG_OK, "%s", tg_last_error());
        cr_assert_eq(load(resumed), TG_OK, "%s", tg_last_error());
        cr_assert_eq(tg_batches_epoch(resumed), tg_batches_epoch(first));
        for (size_t i = stops[k]; i < CALLS; i++) {
            take(resumed, &d);
            cr_assert(memcmp(&d, &whole[i], sizeof d) == 0,
                      "stopped after %zu calls: call %zu differs", stops[k], i);
        }
        tg_batches_free(first);
        tg_batches_free(resumed);
    }
}

Test(batches_resume, other_configuration_refused_and_nothing_changes)
{
    tg_batches *a = make(BS, 9), *b = make(BS + 1, 9);
    draw before, after;
    tg_batches *probe;
    take(a, &before);
    cr_assert_eq(save(a), TG_OK, "%s", tg_last_error());
    take(b, &before);
    cr_assert_eq(load(b), TG_ERR_MISMATCH, "batch size 6 loads a batch size 5 state");
    cr_assert_not_null(strstr(tg_last_error(), "data.batch_size"), "%s", tg_last_error());
    probe = make(BS + 1, 9);   /* b goes on as if nothing happened */
    take(probe, &after);
    take(probe, &after);
    take(b, &before);
    cr_assert(memcmp(&before, &after, sizeof before) == 0);
    tg_batches_free(a);
    tg_batches_free(b);
    tg_batches_free(probe);
}

Test(batches_resume, refusals)
{
    char longname[TG_CHECKPOINT_NAME_MAX + 1];
    tg_checkpoint *c = tg_checkpoint_new();
    tg_batches *b = make(BS, 1);
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_assert_eq(tg_checkpoint_add_batches(c, longname, b), TG_ERR_PARAM);
    cr_assert_not_null(strstr(tg_last_error(), "longer than"));
    cr_assert_eq(tg_checkpoint_add_batches(c, "x", NULL), TG_ERR_NULL);
    cr_assert_eq(tg_checkpoint_add_batches(NULL, "x", b), TG_ERR_NULL);
    cr_assert_eq(tg_checkpoint_add_batches(c, NULL, b), TG_ERR_NULL);
    tg_checkpoint_free(c);
    tg_batches_free(b);
}
