/* Checkpoints: a round trip is bit-exact, a resumed run equals an uninterrupted one, the
 * file is the documented little-endian layout, and every damaged, foreign or mismatched
 * file is refused with its own status, a message naming the file and the entry, and
 * the registered objects byte-identical to before. */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <tapegrad.h>
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* CRC-32 (ISO-HDLC: reflected 0xEDB88320, init and final xor ~0), bit by bit: an
 * independent reference for the library's (zlib's) table-driven one. */
static uint32_t crc32_ref(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* A fresh folder under /tmp, and the path of a file in it. */
typedef struct {
    char dir[64];
    char path[128];
} tmpdir;

static void tmp_make(tmpdir *t)
{
    strcpy(t->dir, "/tmp/tg_ckpt_XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/run.ckpt", t->dir);
}

/* Files in t's folder (a save must leave exactly the target behind). */
static size_t tmp_count(const tmpdir *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *e;
    size_t n = 0;
    cr_assert_not_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void tmp_remove(tmpdir *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *e;
    char p[400];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", t->dir, e->d_name);
        if (remove(p) != 0) {   /* a folder made by a test */
            rmdir(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(t->dir);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)n + 1);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void write_file(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* ---- the small model every test registers ---------------------------------------------
 * A parameter set with two tensors, a tag, a counter, a generator and a float array. */
enum { NMOM = 5 };

typedef struct {
    tg_params *ps;
    uint64_t step;
    tg_pcg32 rng;
    float mom[NMOM];
    uint64_t epoch;      /* registered by one of the foreign models only */
    tg_checkpoint *c;
} model;

static void model_fill(model *m, uint64_t seed)
{
    tg_pcg32 g;
    tg_pcg32_seed(&g, seed, 99);
    for (size_t i = 0; i < tg_params_count(m->ps); i++) {
        tg_tensor *t = tg_params_at(m->ps, i);
        for (size_t k = 0; k < t->size; k++)
            t->data[k] = tg_pcg32_float(&g) - 0.5f;
    }
    m->step = 1000 + seed;
    tg_pcg32_seed(&m->rng, seed, 7);
    for (size_t k = 0; k < NMOM; k++)
        m->mom[k] = (float)k - tg_pcg32_float(&g);
}

/* How a model's registrations differ from the standard model's, which is all zero here:
 * "model." with fc.weight [3,5] and fc.bias [3], tag "format" = 7, counter "step",
 * generator "rng", "momentum" of NMOM floats, in that order. */
typedef struct {
    const char *weight;   /* the weight's name instead of "fc.weight" */
    size_t rows;          /* the weight's rows instead of 3 */
    uint64_t format;      /* the tag's value instead of 7 */
    size_t n_mom;         /* floats of "momentum" instead of NMOM */
    int step_is_tag;      /* "step" a tag (12) instead of a counter */
    int no_rng;           /* no "rng" */
    int epoch;            /* one more counter, "epoch", at the end */
} variant;

static const variant standard = { 0 };

/* Registers the entries v describes; 0 when a call is refused (the last error says why). */
static int model_init_as(model *m, uint64_t seed, const variant *v)
{
    memset(m, 0, sizeof *m);
    m->ps = tg_params_new();
    m->c = tg_checkpoint_new();
    if (!m->ps || !m->c ||
        !tg_params_add(m->ps, v->weight ? v->weight : "fc.weight", 2,
                       (size_t[]){ v->rows ? v->rows : 3, 5 }) ||
        !tg_params_add(m->ps, "fc.bias", 1, (size_t[]){ 3 }))
        return 0;
    model_fill(m, seed);
    m->epoch = 3;
    return tg_checkpoint_add_params(m->c, "model.", m->ps) == TG_OK &&
           tg_checkpoint_add_tag(m->c, "format", v->format ? v->format : 7) == TG_OK &&
           (v->step_is_tag ? tg_checkpoint_add_tag(m->c, "step", 12)
                           : tg_checkpoint_add_u64(m->c, "step", &m->step)) == TG_OK &&
           (v->no_rng || tg_checkpoint_add_rng(m->c, "rng", &m->rng) == TG_OK) &&
           tg_checkpoint_add_floats(m->c, "momentum", m->mom, v->n_mom ? v->n_mom : NMOM) ==
               TG_OK &&
           (!v->epoch || tg_checkpoint_add_u64(m->c, "epoch", &m->epoch) == TG_OK);
}

static void model_init(model *m, uint64_t seed)
{
    cr_assert(model_init_as(m, seed, &standard), "%s", tg_last_error());
}

static void model_free(model *m)
{
    tg_checkpoint_free(m->c);
    tg_params_free(m->ps);
}

/* Every byte a load could write: the flat block (padding included), counter, rng, floats. */
typedef struct {
    unsigned char b[4096];
    size_t n;
} snapshot;

static void snap(const model *m, snapshot *s)
{
    const size_t flat = tg_params_flat_size(m->ps) * sizeof(float);
    cr_assert_leq(flat + sizeof m->step + sizeof m->rng + sizeof m->mom, sizeof s->b);
    memcpy(s->b, tg_params_data(m->ps), flat);
    s->n = flat;
    memcpy(s->b + s->n, &m->step, sizeof m->step);
    s->n += sizeof m->step;
    memcpy(s->b + s->n, &m->rng, sizeof m->rng);
    s->n += sizeof m->rng;
    memcpy(s->b + s->n, m->mom, sizeof m->mom);
    s->n += sizeof m->mom;
}

static int same_snap(const snapshot *a, const snapshot *b)
{
    return a->n == b->n && memcmp(a->b, b->b, a->n) == 0;
}

/* The bytes of model `seed`'s checkpoint, saved through the library. */
static unsigned char *saved_image(uint64_t seed, size_t *len)
{
    tmpdir t;
    model m;
    unsigned char *b;
    tmp_make(&t);
    model_init(&m, seed);
    cr_assert_eq(tg_checkpoint_save(m.c, t.path), TG_OK, "%s", tg_last_error());
    b = read_file(t.path, len);
    model_free(&m);
    tmp_remove(&t);
    return b;
}

/* Loads an image into a fresh model 2 and checks the refusal: status, message fragments,
 * and every registered byte unchanged. `row` names the case in every failure. */
static void expect_refused(const char *row, const unsigned char *img, size_t len,
                           tg_status want, const char *frag1, const char *frag2)
{
    model m;
    snapshot before, after;
    tg_status s;
    model_init(&m, 2);
    snap(&m, &before);
    s = tg_checkpoint_load_buffer(m.c, img, len);
    snap(&m, &after);
    cr_expect_eq(s, want, "%s: status %s, want %s: %s", row, tg_strerror(s),
                 tg_strerror(want), tg_last_error());
    cr_expect_eq(tg_last_status(), want, "%s", row);
    cr_expect(same_snap(&before, &after), "%s: a refused load changed the model", row);
    if (frag1)
        cr_expect(strstr(tg_last_error(), frag1), "%s: \"%s\" not in: %s", row, frag1,
                  tg_last_error());
    if (frag2)
        cr_expect(strstr(tg_last_error(), frag2), "%s: \"%s\" not in: %s", row, frag2,
                  tg_last_error());
    model_free(&m);
}

/* ---- round trip, format, resume -------------------------------------------------------- */

Test(checkpoint, round_trip_restores_every_entry_bit_for_bit)
{
    tmpdir t;
    model a, b;
    snapshot sa, sb;
    const uint32_t nan_payload = 0x7fc12345u;
    float nanp;
    tmp_make(&t);
    model_init(&a, 1);
    model_init(&b, 2);
    /* values a float round trip could disturb: -0, a subnormal, infinities, a NaN payload */
    memcpy(&nanp, &nan_payload, sizeof nanp);
    tg_params_at(a.ps, 0)->data[0] = -0.0f;
    tg_params_at(a.ps, 0)->data[1] = 1e-45f;
    tg_params_at(a.ps, 0)->data[2] = INFINITY;
    tg_params_at(a.ps, 1)->data[0] = -INFINITY;
    a.mom[0] = nanp;
    a.step = UINT64_MAX;
    a.rng.state = 0x8000000000000001ull;
    snap(&a, &sa);
    snap(&b, &sb);
    cr_assert(!same_snap(&sa, &sb));
    cr_assert_eq(tg_checkpoint_save(a.c, t.path), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_checkpoint_load(b.c, t.path), TG_OK, "%s", tg_last_error());
    snap(&b, &sb);
    cr_expect(same_snap(&sa, &sb), "the loaded model differs from the saved one");
    cr_expect_eq(tg_pcg32_next(&a.rng), tg_pcg32_next(&b.rng));
    /* the save left only the target in the folder, and saving again replaces it */
    cr_expect_eq(tmp_count(&t), 1);
    cr_assert_eq(tg_checkpoint_save(b.c, t.path), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tmp_count(&t), 1);
    model_free(&a);
    model_free(&b);
    tmp_remove(&t);
}

Test(checkpoint, crc_reference_matches_the_standard_check_value)
{
    cr_expect_eq(crc32_ref((const unsigned char *)"123456789", 9), 0xCBF43926u);
}

/* The exact bytes of a tiny checkpoint, written out by hand from docs/checkpoint.md:
 * every integer and float little-endian, whatever the host. */
Test(checkpoint, file_is_the_documented_little_endian_layout)
{
    tmpdir t;
    tg_checkpoint *c = tg_checkpoint_new();
    tg_params *ps = tg_params_new();
    tg_tensor *w = tg_params_add(ps, "w", 2, (size_t[]){ 1, 2 });
    uint64_t k = 0x0102030405060708ull;
    tg_pcg32 rng = { 0x1122334455667788ull, 0x99AABBCCDDEEFF01ull };
    float f = -2.0f;
    unsigned char want[256], *got;
    size_t n = 0, len;
    tmp_make(&t);
    cr_assert(c && ps && w);
    w->data[0] = 1.0f;       /* 0x3F800000 */
    w->data[1] = 0.5f;       /* 0x3F000000 */
    cr_assert_eq(tg_checkpoint_add_params(c, "p.", ps), TG_OK);
    cr_assert_eq(tg_checkpoint_add_u64(c, "k", &k), TG_OK);
    cr_assert_eq(tg_checkpoint_add_tag(c, "t", 42), TG_OK);
    cr_assert_eq(tg_checkpoint_add_rng(c, "r", &rng), TG_OK);
    cr_assert_eq(tg_checkpoint_add_floats(c, "f", &f, 1), TG_OK);
    cr_assert_eq(tg_checkpoint_save(c, t.path), TG_OK, "%s", tg_last_error());

    memcpy(want, "\x89TGCKPT\n", 8);
    put32(want + 8, 1);           /* version */
    put32(want + 12, 5);          /* entries */
    n = 24;                       /* total length at 16, filled below */
    /* "p.w": float tensor, rank 2, [1,2], 1.0f 0.5f */
    put32(want + n, 1), put32(want + n + 4, 2), put32(want + n + 8, 3), n += 12;
    memcpy(want + n, "p.w", 3), n += 3;
    put64(want + n, 1), put64(want + n + 8, 2), n += 16;
    memcpy(want + n, "\x00\x00\x80\x3f\x00\x00\x00\x3f", 8), n += 8;
    /* "k": counter */
    put32(want + n, 2), put32(want + n + 4, 0), put32(want + n + 8, 1), n += 12;
    memcpy(want + n, "k\x08\x07\x06\x05\x04\x03\x02\x01", 9), n += 9;
    /* "t": tag 42 */
    put32(want + n, 3), put32(want + n + 4, 0), put32(want + n + 8, 1), n += 12;
    memcpy(want + n, "t", 1), put64(want + n + 1, 42), n += 9;
    /* "r": rng state, inc */
    put32(want + n, 4), put32(want + n + 4, 0), put32(want + n + 8, 1), n += 12;
    memcpy(want + n, "r\x88\x77\x66\x55\x44\x33\x22\x11\x01\xff\xee\xdd\xcc\xbb\xaa\x99", 17);
    n += 17;
    /* "f": float tensor [1], -2.0f = 0xC0000000 */
    put32(want + n, 1), put32(want + n + 4, 1), put32(want + n + 8, 1), n += 12;
    memcpy(want + n, "f", 1), put64(want + n + 1, 1), n += 9;
    memcpy(want + n, "\x00\x00\x00\xc0", 4), n += 4;
    put64(want + 16, n + 4);
    put32(want + n, crc32_ref(want, n)), n += 4;

    got = read_file(t.path, &len);
    cr_assert_eq(len, n, "file has %zu bytes, the layout %zu", len, n);
    for (size_t i = 0; i < n; i++)
        cr_expect_eq(got[i], want[i], "byte %zu is %02x, the layout says %02x", i, got[i],
                     want[i]);
    free(got);
    tg_checkpoint_free(c);
    tg_params_free(ps);
    tmp_remove(&t);
}

/* ---- a resumed run equals an uninterrupted one ----------------------------------------
 * A 2-8-1 tanh network fitted to y = sin(3 x0) x1 by hand-written SGD with momentum over
 * the parameter set's flat blocks; batches come from a registered PCG32 stream. */
enum { B = 16, H = 8 };

typedef struct {
    tg_params *ps;
    tg_tensor *W1, *b1, *W2, *b2;
    float *vel;          /* momentum, one float per slot of the flat block */
    tg_pcg32 data;       /* the batch stream */
    uint64_t step;
    tg_checkpoint *c;
    tg_tape *tape;
} trainer;

static void trainer_new(trainer *tr, uint64_t seed)
{
    tg_pcg32 init;
    size_t flat;
    memset(tr, 0, sizeof *tr);
    tr->ps = tg_params_new();
    tr->W1 = tg_params_add(tr->ps, "l1.weight", 2, (size_t[]){ H, 2 });
    tr->b1 = tg_params_add(tr->ps, "l1.bias", 1, (size_t[]){ H });
    tr->W2 = tg_params_add(tr->ps, "l2.weight", 2, (size_t[]){ 1, H });
    tr->b2 = tg_params_add(tr->ps, "l2.bias", 1, (size_t[]){ 1 });
    cr_assert(tr->W1 && tr->b1 && tr->W2 && tr->b2, "%s", tg_last_error());
    flat = tg_params_flat_size(tr->ps);
    tr->vel = calloc(flat, sizeof(float));
    tg_pcg32_seed(&init, seed, 1);
    for (size_t i = 0; i < tg_params_count(tr->ps); i++) {
        tg_tensor *t = tg_params_at(tr->ps, i);
        for (size_t k = 0; k < t->size; k++)
            t->data[k] = tg_pcg32_float(&init) - 0.5f;
    }
    tg_pcg32_seed(&tr->data, seed, 2);
    tr->c = tg_checkpoint_new();
    tr->tape = tg_tape_new();
    cr_assert(tr->vel && tr->c && tr->tape);
    cr_assert_eq(tg_checkpoint_add_params(tr->c, "net.", tr->ps), TG_OK);
    cr_assert_eq(tg_checkpoint_add_floats(tr->c, "sgd.velocity", tr->vel, flat), TG_OK);
    cr_assert_eq(tg_checkpoint_add_rng(tr->c, "data.rng", &tr->data), TG_OK);
    cr_assert_eq(tg_checkpoint_add_u64(tr->c, "step", &tr->step), TG_OK);
    cr_assert_eq(tg_checkpoint_add_tag(tr->c, "hidden", H), TG_OK);
}

static void trainer_free(trainer *tr)
{
    tg_checkpoint_free(tr->c);
    tg_tape_free(tr->tape);
    tg_params_free(tr->ps);
    free(tr->vel);
}

static void train_step(trainer *tr)
{
    tg_tape *t = tr->tape;
    tg_tensor *x = tg_tape_const(t, 2, (size_t[]){ B, 2 }), *y = tg_tape_const(t, 2, (size_t[]){ B, 1 });
    tg_tensor *loss;
    float *w = tg_params_data(tr->ps), *g = tg_params_grad(tr->ps);
    cr_assert(x && y);
    for (size_t i = 0; i < B; i++) {
        x->data[2 * i] = 2 * tg_pcg32_float(&tr->data) - 1;
        x->data[2 * i + 1] = 2 * tg_pcg32_float(&tr->data) - 1;
        y->data[i] = sinf(3 * x->data[2 * i]) * x->data[2 * i + 1];
    }
    loss = tg_mse_loss(t, tg_linear(t, tg_tanh(t, tg_linear(t, x, tr->W1, tr->b1)), tr->W2,
                                    tr->b2), y);
    cr_assert(loss && tg_backward(t, loss, NULL) == TG_OK, "%s", tg_tape_error(t));
    for (size_t i = 0; i < tg_params_flat_size(tr->ps); i++) {
        tr->vel[i] = 0.9f * tr->vel[i] + g[i];
        w[i] -= 0.05f * tr->vel[i];
    }
    tg_params_zero_grad(tr->ps);
    tg_tape_reset(t);
    tr->step++;
}

Test(checkpoint, resumed_run_equals_uninterrupted_run)
{
    enum { N = 60, K = 23 };
    tmpdir t;
    trainer whole, first, resumed;
    size_t flat;
    tmp_make(&t);
    trainer_new(&whole, 5);
    while (whole.step < N)
        train_step(&whole);

    trainer_new(&first, 5);
    while (first.step < K)
        train_step(&first);
    cr_assert_eq(tg_checkpoint_save(first.c, t.path), TG_OK, "%s", tg_last_error());
    trainer_free(&first);

    trainer_new(&resumed, 77);   /* other weights, stream and counter until the load */
    cr_assert_eq(tg_checkpoint_load(resumed.c, t.path), TG_OK, "%s", tg_last_error());
    cr_assert_eq(resumed.step, K);
    while (resumed.step < N)
        train_step(&resumed);

    flat = tg_params_flat_size(whole.ps);
    cr_expect_eq(memcmp(tg_params_data(whole.ps), tg_params_data(resumed.ps),
                        flat * sizeof(float)), 0, "weights differ");
    cr_expect_eq(memcmp(whole.vel, resumed.vel, flat * sizeof(float)), 0, "velocities differ");
    cr_expect_eq(whole.data.state, resumed.data.state);
    cr_expect_eq(whole.data.inc, resumed.data.inc);
    cr_expect_eq(whole.step, resumed.step);
    /* and the training did move the weights: the comparison is not of two untouched sets */
    trainer_new(&first, 5);
    cr_expect_neq(memcmp(tg_params_data(whole.ps), tg_params_data(first.ps),
                         flat * sizeof(float)), 0);
    trainer_free(&first);
    trainer_free(&whole);
    trainer_free(&resumed);
    tmp_remove(&t);
}

/* ---- damaged files ---------------------------------------------------------------------- */

/* Every length short of the whole file, 0 included: the header's length field (or, below
 * 28 bytes, the missing header itself) says the file ends early. */
Test(checkpoint, every_truncation_is_rejected_and_changes_nothing)
{
    size_t len;
    unsigned char *img = saved_image(1, &len);
    model m;
    snapshot before, after;
    model_init(&m, 2);
    snap(&m, &before);
    for (size_t n = 0; n < len; n++) {
        const tg_status s = tg_checkpoint_load_buffer(m.c, img, n);
        cr_expect_eq(s, TG_ERR_TRUNCATED, "%zu of %zu bytes: %s", n, len, tg_last_error());
        cr_expect(strstr(tg_last_error(), "truncated"), "%s", tg_last_error());
        snap(&m, &after);
        cr_assert(same_snap(&before, &after), "%zu bytes: the model changed", n);
    }
    cr_expect_eq(tg_checkpoint_load_buffer(m.c, img, len), TG_OK, "%s", tg_last_error());
    model_free(&m);
    free(img);
}

/* Each byte XORed with several patterns: the magic says FORMAT, the version VERSION, a
 * length too large TRUNCATED, anything else CORRUPT (CRC-32 catches every error confined
 * to one byte). */
Test(checkpoint, every_byte_flip_is_rejected_and_changes_nothing)
{
    static const unsigned char pattern[] = { 0x01, 0x80, 0xFF, 0x5A };
    size_t len;
    unsigned char *img = saved_image(1, &len);
    model m;
    snapshot before, after;
    model_init(&m, 2);
    snap(&m, &before);
    for (size_t i = 0; i < len; i++)
        for (size_t p = 0; p < sizeof pattern; p++) {
            tg_status s;
            img[i] ^= pattern[p];
            s = tg_checkpoint_load_buffer(m.c, img, len);
            img[i] ^= pattern[p];
            if (i < 8)
                cr_expect_eq(s, TG_ERR_FORMAT, "byte %zu ^ %02x: %s", i, pattern[p],
                             tg_last_error());
            else if (i < 12)
                cr_expect_eq(s, TG_ERR_VERSION, "byte %zu ^ %02x: %s", i, pattern[p],
                             tg_last_error());
            else
                cr_expect(s == TG_ERR_CORRUPT || (s == TG_ERR_TRUNCATED && i >= 16 && i < 24),
                          "byte %zu ^ %02x: %s: %s", i, pattern[p], tg_strerror(s),
                          tg_last_error());
            snap(&m, &after);
            cr_assert(same_snap(&before, &after), "byte %zu ^ %02x changed the model", i,
                      pattern[p]);
        }
    model_free(&m);
    free(img);
}

Test(checkpoint, bytes_past_the_end_are_corruption)
{
    size_t len;
    unsigned char *img = saved_image(1, &len), *longer = calloc(len + 3, 1);
    memcpy(longer, img, len);
    expect_refused("3 zero bytes appended", longer, len + 3, TG_ERR_CORRUPT, "<buffer>",
                   "past the end");
    free(longer);
    free(img);
}

Test(checkpoint, wrong_magic_is_a_format_error)
{
    size_t len;
    unsigned char *img = saved_image(1, &len);
    expect_refused("a zip header", (const unsigned char *)"PK\x03\x04", 4, TG_ERR_FORMAT,
                   "wrong magic", NULL);
    img[3] = 'X';
    expect_refused("magic byte 3 changed", img, len, TG_ERR_FORMAT,
                   "not a tapegrad checkpoint", NULL);
    free(img);
}

Test(checkpoint, wrong_version_is_a_version_error)
{
    size_t len;
    unsigned char *img = saved_image(1, &len);
    /* a well-formed file of a later version, CRC and all */
    put32(img + 8, 2);
    put32(img + len - 4, crc32_ref(img, len - 4));
    expect_refused("version 2", img, len, TG_ERR_VERSION, "version 2", "reads version 1");
    put32(img + 8, 0);
    put32(img + len - 4, crc32_ref(img, len - 4));
    expect_refused("version 0", img, len, TG_ERR_VERSION, "version 0", NULL);
    free(img);
}

Test(checkpoint, refusals_name_the_file)
{
    tmpdir t;
    size_t len;
    unsigned char *img = saved_image(1, &len);
    model m;
    snapshot before, after;
    tmp_make(&t);
    img[len / 2] ^= 0x10;
    write_file(t.path, img, len);
    model_init(&m, 2);
    snap(&m, &before);
    cr_expect_eq(tg_checkpoint_load(m.c, t.path), TG_ERR_CORRUPT);
    cr_expect(strstr(tg_last_error(), t.path), "%s", tg_last_error());
    cr_expect(strstr(tg_last_error(), "tg_checkpoint_load"), "%s", tg_last_error());
    write_file(t.path, img, len / 3);
    cr_expect_eq(tg_checkpoint_load(m.c, t.path), TG_ERR_TRUNCATED);
    cr_expect(strstr(tg_last_error(), t.path), "%s", tg_last_error());
    write_file(t.path, img, 0);
    cr_expect_eq(tg_checkpoint_load(m.c, t.path), TG_ERR_TRUNCATED, "%s", tg_last_error());
    snap(&m, &after);
    cr_expect(same_snap(&before, &after));
    model_free(&m);
    tmp_remove(&t);
    free(img);
}

/* ---- files of another model ------------------------------------------------------------- */

/* Each row saves a model registered as `other` describes and loads the file into the
 * standard model 2, which must refuse it. */
static const struct {
    const char *row;
    variant other;
    tg_status want;
    const char *frag1, *frag2;
} foreign[] = {
    { "renamed entry", { .weight = "fc.W" }, TG_ERR_MISMATCH, "\"model.fc.W\"", "<buffer>" },
    { "reshaped entry", { .rows = 4 }, TG_ERR_SHAPE, "\"model.fc.weight\" is [4,5] in the file",
      "[3,5] in the checkpoint" },
    { "shorter float array", { .n_mom = NMOM - 1 }, TG_ERR_SHAPE,
      "\"momentum\" is [4] in the file", "[5] in the checkpoint" },
    { "extra entry", { .epoch = 1 }, TG_ERR_MISMATCH, "\"epoch\"", "does not register" },
    { "missing entry", { .no_rng = 1 }, TG_ERR_MISMATCH, "\"rng\"", "missing" },
    { "other tag value", { .format = 8 }, TG_ERR_MISMATCH, "tag \"format\" is 8 in the file",
      "7 in the checkpoint" },
    { "other entry type", { .step_is_tag = 1 }, TG_ERR_MISMATCH,
      "\"step\" is a tag in the file", "a counter in the checkpoint" },
};

Test(checkpoint, files_of_another_model_are_refused_naming_the_entry)
{
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        tmpdir t;
        model other;
        unsigned char *img;
        size_t len;
        tmp_make(&t);
        cr_assert(model_init_as(&other, 1, &foreign[i].other), "%s: %s", foreign[i].row,
                  tg_last_error());
        cr_assert_eq(tg_checkpoint_save(other.c, t.path), TG_OK, "%s: %s", foreign[i].row,
                     tg_last_error());
        img = read_file(t.path, &len);
        expect_refused(foreign[i].row, img, len, foreign[i].want, foreign[i].frag1,
                       foreign[i].frag2);
        free(img);
        model_free(&other);
        tmp_remove(&t);
    }
}

Test(checkpoint, entries_match_by_name_in_any_order)
{
    tmpdir t;
    model a, b;
    snapshot sa, sb;
    tmp_make(&t);
    model_init(&a, 1);
    /* b registers the same entries in reverse order */
    memset(&b, 0, sizeof b);
    b.ps = tg_params_new();
    b.c = tg_checkpoint_new();
    cr_assert(tg_params_add(b.ps, "fc.weight", 2, (size_t[]){ 3, 5 }) &&
              tg_params_add(b.ps, "fc.bias", 1, (size_t[]){ 3 }));
    cr_assert_eq(tg_checkpoint_add_floats(b.c, "momentum", b.mom, NMOM), TG_OK);
    cr_assert_eq(tg_checkpoint_add_rng(b.c, "rng", &b.rng), TG_OK);
    cr_assert_eq(tg_checkpoint_add_u64(b.c, "step", &b.step), TG_OK);
    cr_assert_eq(tg_checkpoint_add_tag(b.c, "format", 7), TG_OK);
    cr_assert_eq(tg_checkpoint_add_params(b.c, "model.", b.ps), TG_OK);
    cr_assert_eq(tg_checkpoint_save(a.c, t.path), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_checkpoint_load(b.c, t.path), TG_OK, "%s", tg_last_error());
    snap(&a, &sa);
    snap(&b, &sb);
    cr_expect(same_snap(&sa, &sb));
    model_free(&a);
    model_free(&b);
    tmp_remove(&t);
}

/* ---- crafted files: valid CRC and length, inconsistent inside ----------------------------
 * What only a forger (or a fuzzer) makes: each must be TG_ERR_FORMAT or a model refusal,
 * never a read outside the image. */
typedef struct {
    unsigned char b[1024];
    size_t n;
} image;

/* A crafted file: a header announcing `count` entries, the body's fields, then the
 * length and the CRC that make it pass the checks of the file as a whole. */
typedef struct {
    char kind;           /* 'w' a u32, 'q' a u64, 's' the bytes of str; 0 ends the body */
    uint64_t v;          /* the number, or the length of str */
    const char *str;
} field;

enum { MAX_FIELDS = 12 };   /* a body ends at the first kind 0 or after MAX_FIELDS */

#define W(x) { 'w', (x), NULL }
#define Q(x) { 'q', (x), NULL }
#define S(s) { 's', sizeof(s) - 1, (s) }
/* an entry's type, rank, name length and name (a string literal) */
#define ENTRY(type, rank, name) W(type), W(rank), W(sizeof(name) - 1), S(name)

static void im_build(image *im, uint32_t count, const field *body)
{
    memcpy(im->b, "\x89TGCKPT\n", 8);
    put32(im->b + 8, 1);
    put32(im->b + 12, count);
    im->n = 24;
    for (const field *f = body; f < body + MAX_FIELDS && f->kind; f++) {
        const size_t size = f->kind == 'w' ? 4 : f->kind == 'q' ? 8 : (size_t)f->v;
        cr_assert_leq(im->n + size + 4, sizeof im->b);
        if (f->kind == 'w')
            put32(im->b + im->n, (uint32_t)f->v);
        else if (f->kind == 'q')
            put64(im->b + im->n, f->v);
        else
            memcpy(im->b + im->n, f->str, size);
        im->n += size;
    }
    put64(im->b + 16, im->n + 4);
    put32(im->b + im->n, crc32_ref(im->b, im->n));
    im->n += 4;
}

static const struct {
    const char *row;
    uint32_t count;      /* entries the header announces */
    field body[MAX_FIELDS];
    tg_status want;
    const char *frag;
} crafted[] = {
    { "more entries announced than present", 1, { { 0 } }, TG_ERR_FORMAT,
      "entry 0 of 1 runs past the end" },
    { "a name of length 0", 1, { W(2), W(0), W(0) }, TG_ERR_FORMAT, "name of 0 bytes" },
    { "a name longer than the maximum", 1, { W(2), W(0), W(0xFFFFFFFFu) }, TG_ERR_FORMAT,
      "name of 4294967295 bytes" },
    { "a name that runs past the end", 1, { W(2), W(0), W(100), S("step") }, TG_ERR_FORMAT,
      "runs past the end" },
    { "an unknown type", 1, { ENTRY(9, 0, "step"), Q(1) }, TG_ERR_FORMAT, "unknown type 9" },
    { "a rank above the maximum", 1, { ENTRY(1, 5, "momentum") }, TG_ERR_FORMAT, "rank 5" },
    { "a counter with a rank", 1, { ENTRY(2, 1, "step"), Q(1), Q(1) }, TG_ERR_FORMAT,
      "rank 1" },
    { "a zero dimension", 1, { ENTRY(1, 1, "momentum"), Q(0) }, TG_ERR_FORMAT,
      "zero or too large" },
    { "dimensions whose product overflows 64 bits", 1,
      { ENTRY(1, 2, "momentum"), Q(1ull << 32), Q(1ull << 31) }, TG_ERR_FORMAT,
      "zero or too large" },
    { "2^40 floats announced, none present", 1, { ENTRY(1, 1, "momentum"), Q(1ull << 40) },
      TG_ERR_FORMAT, "run past the end" },
    { "the same entry twice", 2, { ENTRY(2, 0, "step"), Q(1), ENTRY(2, 0, "step"), Q(2) },
      TG_ERR_FORMAT, "appears twice" },
    { "bytes after the last entry", 1, { ENTRY(2, 0, "step"), Q(1), W(0) }, TG_ERR_FORMAT,
      "4 bytes follow the last" },
    /* a name that is not printable is shown with '?' in the message */
    { "an unprintable name", 1, { ENTRY(2, 0, "a\nb\x01"), Q(1) }, TG_ERR_MISMATCH,
      "\"a?b?\"" },
    /* the header alone, with the length and CRC of an empty checkpoint, is consistent:
     * what it lacks is every registered entry */
    { "the header alone", 0, { { 0 } }, TG_ERR_MISMATCH, "missing" },
};

Test(checkpoint, inconsistent_layouts_are_format_errors)
{
    for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++) {
        image im;
        im_build(&im, crafted[i].count, crafted[i].body);
        expect_refused(crafted[i].row, im.b, im.n, crafted[i].want, crafted[i].frag, NULL);
    }
}

Test(checkpoint, an_empty_checkpoint_round_trips)
{
    tmpdir t;
    tg_checkpoint *c = tg_checkpoint_new();
    size_t len;
    unsigned char *img;
    tmp_make(&t);
    cr_assert_eq(tg_checkpoint_save(c, t.path), TG_OK, "%s", tg_last_error());
    img = read_file(t.path, &len);
    cr_expect_eq(len, 28);
    cr_expect_eq(tg_checkpoint_load_buffer(c, img, len), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_checkpoint_load(c, t.path), TG_OK, "%s", tg_last_error());
    free(img);
    tg_checkpoint_free(c);
    tmp_remove(&t);
}

/* ---- files and folders -------------------------------------------------------------------- */

Test(checkpoint, save_into_a_missing_folder_is_an_io_error_naming_the_path)
{
    model m;
    model_init(&m, 1);
    cr_expect_eq(tg_checkpoint_save(m.c, "/nonexistent-tg-folder/sub/run.ckpt"), TG_ERR_IO);
    cr_expect_eq(tg_last_status(), TG_ERR_IO);
    cr_expect(strstr(tg_last_error(), "/nonexistent-tg-folder/sub/run.ckpt"), "%s",
              tg_last_error());
    cr_expect(strstr(tg_last_error(), "No such file or directory"), "%s", tg_last_error());
    cr_expect_eq(tg_checkpoint_save(m.c, ""), TG_ERR_IO);
    model_free(&m);
}

/* The rename fails (the target is a folder): the error names both paths, and the
 * temporary is gone. */
Test(checkpoint, failed_rename_leaves_no_temporary)
{
    tmpdir t;
    model m;
    tmp_make(&t);
    model_init(&m, 1);
    cr_assert_eq(mkdir(t.path, 0700), 0);
    {
        char sub[200];
        snprintf(sub, sizeof sub, "%s/x", t.path);   /* non-empty: rename cannot replace it */
        write_file(sub, (const unsigned char *)"x", 1);
        cr_expect_eq(tg_checkpoint_save(m.c, t.path), TG_ERR_IO);
        cr_expect(strstr(tg_last_error(), "cannot rename"), "%s", tg_last_error());
        cr_expect(strstr(tg_last_error(), ".tmp."), "%s", tg_last_error());
        cr_expect_eq(tmp_count(&t), 1, "a temporary was left behind");
        remove(sub);
    }
    model_free(&m);
    tmp_remove(&t);
}

Test(checkpoint, load_of_a_missing_file_or_a_folder_is_an_io_error)
{
    tmpdir t;
    model m;
    snapshot before, after;
    tmp_make(&t);
    model_init(&m, 1);
    snap(&m, &before);
    cr_expect_eq(tg_checkpoint_load(m.c, t.path), TG_ERR_IO);
    cr_expect(strstr(tg_last_error(), t.path), "%s", tg_last_error());
    cr_expect_eq(tg_checkpoint_load(m.c, t.dir), TG_ERR_IO);
    cr_expect(strstr(tg_last_error(), "not a regular file"), "%s", tg_last_error());
    snap(&m, &after);
    cr_expect(same_snap(&before, &after));
    model_free(&m);
    tmp_remove(&t);
}

/* A stale "<path>.tmp.<pid>" from a crashed save does not disturb a save or a load. */
Test(checkpoint, stale_temporaries_do_not_matter)
{
    tmpdir t;
    model a, b;
    snapshot sa, sb;
    char stale[200];
    tmp_make(&t);
    model_init(&a, 1);
    model_init(&b, 2);
    snprintf(stale, sizeof stale, "%s.tmp.%ld", t.path, (long)getpid());
    write_file(stale, (const unsigned char *)"torn", 4);
    snprintf(stale, sizeof stale, "%s.tmp.1", t.path);
    write_file(stale, (const unsigned char *)"torn", 4);
    cr_assert_eq(tg_checkpoint_save(a.c, t.path), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_checkpoint_load(b.c, t.path), TG_OK, "%s", tg_last_error());
    snap(&a, &sa);
    snap(&b, &sb);
    cr_expect(same_snap(&sa, &sb));
    cr_expect_eq(tmp_count(&t), 2);   /* ours was replaced and renamed; the other remains */
    model_free(&a);
    model_free(&b);
    tmp_remove(&t);
}

/* ---- registration ------------------------------------------------------------------------- */

Test(checkpoint, grown_parameter_set_is_refused)
{
    tmpdir t;
    model m;
    tmp_make(&t);
    model_init(&m, 1);
    cr_assert_eq(tg_checkpoint_save(m.c, t.path), TG_OK);
    cr_assert(tg_params_add(m.ps, "late", 1, (size_t[]){ 2 }));
    cr_expect_eq(tg_checkpoint_save(m.c, t.path), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "grown"), "%s", tg_last_error());
    cr_expect_eq(tg_checkpoint_load(m.c, t.path), TG_ERR_STATE);
    model_free(&m);
    tmp_remove(&t);
}

Test(checkpoint, bad_registrations_are_refused_with_messages)
{
    tg_checkpoint *c = tg_checkpoint_new();
    tg_params *ps = tg_params_new(), *empty = tg_params_new();
    uint64_t u = 0;
    float f[2] = { 1.0f, 2.0f };
    tg_pcg32 rng;
    char longname[TG_CHECKPOINT_NAME_MAX + 2];
    size_t len;
    unsigned char *img;
    cr_assert(tg_params_add(ps, "a", 1, (size_t[]){ 2 }) && tg_params_add(ps, "b", 1, (size_t[]){ 2 }));
    cr_expect_eq(tg_checkpoint_add_u64(NULL, "u", &u), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_add_u64(c, NULL, &u), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_add_u64(c, "u", NULL), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_add_rng(c, "r", NULL), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_add_floats(c, "f", NULL, 2), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_add_params(c, "p.", NULL), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_add_floats(c, "f", f, 0), TG_ERR_SIZE);
    cr_expect(strstr(tg_last_error(), "\"f\""), "%s", tg_last_error());
    cr_expect_eq(tg_checkpoint_add_u64(c, "", &u), TG_ERR_PARAM);
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_expect_eq(tg_checkpoint_add_u64(c, longname, &u), TG_ERR_PARAM);
    cr_expect(strstr(tg_last_error(), "128 bytes"), "%s", tg_last_error());
    longname[TG_CHECKPOINT_NAME_MAX] = '\0';   /* the longest allowed */
    cr_expect_eq(tg_checkpoint_add_u64(c, longname, &u), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_checkpoint_add_params(c, longname, ps), TG_ERR_PARAM);   /* prefix too */
    cr_expect_eq(tg_checkpoint_add_params(c, "p.", empty), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "empty"), "%s", tg_last_error());
    cr_expect_eq(tg_checkpoint_add_u64(c, "x", &u), TG_OK);
    cr_expect_eq(tg_checkpoint_add_tag(c, "x", 1), TG_ERR_EXISTS);
    cr_expect(strstr(tg_last_error(), "\"x\""), "%s", tg_last_error());
    /* all or nothing: "p.b" clashes, so "p.a" must not stay registered either */
    cr_expect_eq(tg_checkpoint_add_floats(c, "p.b", f, 2), TG_OK);
    cr_expect_eq(tg_checkpoint_add_params(c, "p.", ps), TG_ERR_EXISTS);
    cr_expect_eq(tg_checkpoint_add_floats(c, "p.a", f, 2), TG_OK, "%s", tg_last_error());
    tg_pcg32_seed(&rng, 1, 1);
    cr_expect_eq(tg_checkpoint_add_rng(c, "r", &rng), TG_OK);
    cr_expect_eq(tg_checkpoint_save(NULL, "x"), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_save(c, NULL), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_load(c, NULL), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_load(NULL, "x"), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_load_buffer(c, NULL, 3), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_load_buffer(NULL, "x", 1), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_load_buffer(c, NULL, 0), TG_ERR_TRUNCATED);
    /* the 127-byte name survives a round trip */
    {
        tmpdir t;
        tmp_make(&t);
        cr_assert_eq(tg_checkpoint_save(c, t.path), TG_OK, "%s", tg_last_error());
        img = read_file(t.path, &len);
        cr_expect_eq(tg_checkpoint_load_buffer(c, img, len), TG_OK, "%s", tg_last_error());
        free(img);
        tmp_remove(&t);
    }
    tg_checkpoint_free(NULL);
    tg_checkpoint_free(c);
    tg_params_free(ps);
    tg_params_free(empty);
}

/* ---- allocation failures ------------------------------------------------------------------ */

/* Every allocation of building, saving and loading a checkpoint, refused in turn: each
 * is TG_ERR_NOMEM, leaks nothing, leaves the file on disk and the model as they were. */
Test(checkpoint, every_allocation_failure_is_clean)
{
    tu_counter k = { 0 };
    const tg_allocator hook = { tu_count_alloc, tu_count_free, &k };
    tmpdir t;
    model m, src;
    snapshot before, after;
    unsigned char *old, *now;
    size_t old_len, now_len, build, save, load;
    tmp_make(&t);
    tg_set_allocator(&hook);

    /* building: new, the parameter set and every add */
    model_init(&m, 1);
    build = k.calls;
    model_free(&m);
    cr_assert_eq(k.live, 0);
    for (size_t n = 1; n <= build; n++) {
        k = (tu_counter){ .fail_at = n };
        cr_expect(!model_init_as(&m, 1, &standard), "allocation %zu of %zu", n, build);
        cr_expect_eq(tg_last_status(), TG_ERR_NOMEM, "allocation %zu: %s", n, tg_last_error());
        model_free(&m);
        cr_expect_eq(k.live, 0, "allocation %zu of %zu refused: %ld blocks leaked", n, build,
                     k.live);
    }

    /* saving over an existing file */
    k = (tu_counter){ 0 };
    model_init(&src, 3);
    cr_assert_eq(tg_checkpoint_save(src.c, t.path), TG_OK, "%s", tg_last_error());
    old = read_file(t.path, &old_len);
    model_init(&m, 1);
    k.calls = 0;
    cr_assert_eq(tg_checkpoint_save(m.c, t.path), TG_OK, "%s", tg_last_error());
    save = k.calls;
    cr_assert_gt(save, 0);
    cr_assert_eq(tg_checkpoint_save(src.c, t.path), TG_OK);
    for (size_t n = 1; n <= save; n++) {
        k.calls = 0;
        k.fail_at = n;
        cr_expect_eq(tg_checkpoint_save(m.c, t.path), TG_ERR_NOMEM, "allocation %zu", n);
        k.fail_at = 0;
        now = read_file(t.path, &now_len);
        cr_expect(now_len == old_len && memcmp(now, old, old_len) == 0,
                  "a failed save changed the file");
        free(now);
        cr_expect_eq(tmp_count(&t), 1);
    }

    /* loading it into m */
    snap(&m, &before);
    k.calls = 0;
    cr_assert_eq(tg_checkpoint_load(m.c, t.path), TG_OK, "%s", tg_last_error());
    load = k.calls;
    cr_assert_gt(load, 0);
    model_free(&m);
    model_init(&m, 1);
    for (size_t n = 1; n <= load; n++) {
        k.calls = 0;
        k.fail_at = n;
        cr_expect_eq(tg_checkpoint_load(m.c, t.path), TG_ERR_NOMEM, "allocation %zu", n);
        cr_expect(strstr(tg_last_error(), t.path), "%s", tg_last_error());
        k.fail_at = 0;
        snap(&m, &after);
        cr_expect(same_snap(&before, &after), "a failed load changed the model");
    }
    model_free(&m);
    model_free(&src);
    cr_expect_eq(k.live, 0, "%ld blocks leaked", k.live);
    tg_set_allocator(NULL);
    free(old);
    tmp_remove(&t);
}
