/* IDX files: values of every type read exactly, plain and gzip, and every malformed file
 * refused with the right status before anything is allocated for it. The files are
 * written by the tests themselves; Fashion-MNIST is checked when it is installed. */
#define _POSIX_C_SOURCE 200809L   /* mkdtemp, access, unlink, rmdir */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <tapegrad.h>

#define FMNIST "/usr/share/datasets/fashion-mnist/"

/* An IDX image: header for (type, rank, dims) followed by `body` raw bytes. */
static size_t idx_image(unsigned char *buf, unsigned type, size_t rank, const uint32_t *dims,
                        const void *body, size_t body_len)
{
    size_t n = 4;
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)rank;
    for (size_t i = 0; i < rank; i++, n += 4) {
        buf[n] = (unsigned char)(dims[i] >> 24);
        buf[n + 1] = (unsigned char)(dims[i] >> 16);
        buf[n + 2] = (unsigned char)(dims[i] >> 8);
        buf[n + 3] = (unsigned char)dims[i];
    }
    if (body_len)
        memcpy(buf + n, body, body_len);
    return n + body_len;
}

static void put_be(unsigned char *p, uint64_t v, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
}

/* Files in a fresh temporary folder per test, removed after it (Criterion runs each
 * test in its own process). The returned name stays valid until the next call. */
static char tmp_dir[64];
static char tmp_names[32][128];
static size_t tmp_count;

static const char *tmp_path(const char *name)
{
    static char path[128];
    if (!tmp_dir[0]) {
        strcpy(tmp_dir, "/tmp/tg_idx_XXXXXX");
        cr_assert_not_null(mkdtemp(tmp_dir));
    }
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    for (size_t i = 0; i < tmp_count; i++)
        if (strcmp(tmp_names[i], path) == 0)
            return path;
    cr_assert_lt(tmp_count, 32u);
    strcpy(tmp_names[tmp_count++], path);
    return path;
}

static void tmp_cleanup(void)
{
    for (size_t i = 0; i < tmp_count; i++)
        unlink(tmp_names[i]);
    if (tmp_dir[0])
        rmdir(tmp_dir);
}

TestSuite(idx, .fini = tmp_cleanup);

static void write_plain(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Through zlib's own gzip writer, as the data sets are made. mode "wb" or "ab" (another
 * member appended). */
static void write_gz(const char *path, const char *mode, const void *p, size_t n)
{
    gzFile g = gzopen(path, mode);
    cr_assert_not_null(g);
    cr_assert_eq(gzwrite(g, p, (unsigned)n), (int)n);
    cr_assert_eq(gzclose(g), Z_OK);
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *p;
    long n;
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = malloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void assert_zero(const tg_idx *x)
{
    static const tg_idx zero;
    cr_assert(memcmp(x, &zero, sizeof zero) == 0, "*out is not all zero after an error");
}

static void expect(tg_status got, tg_status want, const char *needle)
{
    cr_assert_eq(got, want, "status %d, expected %d: %s", got, want, tg_last_error());
    cr_assert_eq(tg_last_status(), want);
    cr_assert_not_null(strstr(tg_last_error(), needle), "message \"%s\" lacks \"%s\"",
                       tg_last_error(), needle);
}

/* A 2x3x4 u8 image with values 0..23 scaled to 0..253 (the top bit set in some). */
static size_t u8_image(unsigned char *buf)
{
    unsigned char v[24];
    for (int i = 0; i < 24; i++)
        v[i] = (unsigned char)(i * 11);
    return idx_image(buf, 0x08, 3, (uint32_t[]){ 2, 3, 4 }, v, sizeof v);
}

static void check_u8(const tg_idx *x)
{
    cr_assert_eq(x->type, 0x08u);
    cr_assert_eq(x->rank, 3u);
    cr_assert_eq(x->dims[0], 2u);
    cr_assert_eq(x->dims[1], 3u);
    cr_assert_eq(x->dims[2], 4u);
    cr_assert_eq(x->dims[3], 0u);
    cr_assert_eq(x->count, 24u);
    for (int i = 0; i < 24; i++)
        cr_assert_eq(x->data[i], (float)(i * 11), "value %d: %g", i, (double)x->data[i]);
}

Test(idx, u8_plain_and_gzip_files_load)
{
    unsigned char img[64];
    const size_t n = u8_image(img);
    tg_idx x;
    write_plain(tmp_path("u8.idx"), img, n);
    cr_assert_eq(tg_idx_load(tmp_path("u8.idx"), &x), TG_OK, "%s", tg_last_error());
    check_u8(&x);
    tg_idx_free(&x);
    assert_zero(&x);
    write_gz(tmp_path("u8.idx.gz"), "wb", img, n);
    cr_assert_eq(tg_idx_load(tmp_path("u8.idx.gz"), &x), TG_OK, "%s", tg_last_error());
    check_u8(&x);
    tg_idx_free(&x);
    cr_assert_eq(tg_idx_parse(img, n, &x), TG_OK, "%s", tg_last_error());
    check_u8(&x);
    tg_idx_free(&x);
    tg_idx_free(&x);   /* a zeroed struct is fine */
    tg_idx_free(NULL);
}

/* gzip files may hold several members (gzip a b > c): they are one stream. */
Test(idx, gzip_members_concatenate)
{
    unsigned char img[64];
    const size_t n = u8_image(img);
    tg_idx x;
    write_gz(tmp_path("two.gz"), "wb", img, 10);
    write_gz(tmp_path("two.gz"), "ab", img + 10, n - 10);
    cr_assert_eq(tg_idx_load(tmp_path("two.gz"), &x), TG_OK, "%s", tg_last_error());
    check_u8(&x);
    tg_idx_free(&x);
}

/* f32 keeps every bit: signed zeros, subnormals, the extremes, infinities and NaN. */
Test(idx, f32_values_exact)
{
    const float v[] = { 0.0f, -0.0f, 1.0f, -2.5f, FLT_MIN, 0x1p-149f, -0x1p-149f, FLT_MAX,
                        -FLT_MAX, INFINITY, -INFINITY, NAN, 0.1f, 3.14159274f };
    enum { K = sizeof v / sizeof v[0] };
    unsigned char body[4 * K], img[128];
    size_t n;
    tg_idx x;
    for (size_t i = 0; i < K; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        put_be(body + 4 * i, u, 4);
    }
    n = idx_image(img, 0x0D, 2, (uint32_t[]){ 2, K / 2 }, body, sizeof body);
    write_gz(tmp_path("f32.gz"), "wb", img, n);
    cr_assert_eq(tg_idx_load(tmp_path("f32.gz"), &x), TG_OK, "%s", tg_last_error());
    cr_assert_eq(x.count, (size_t)K);
    cr_assert_eq(x.rank, 2u);
    for (size_t i = 0; i < K; i++)
        cr_assert(memcmp(&x.data[i], &v[i], 4) == 0, "value %zu: %a, not %a", i,
                  (double)x.data[i], (double)v[i]);
    tg_idx_free(&x);
}

Test(idx, signed_integers_sign_extend)
{
    const int16_t s16[] = { -32768, -1, 0, 1, 32767, -12345 };
    const int8_t s8[] = { -128, -1, 0, 1, 127, -100 };
    unsigned char b16[12], b8[6], img[64];
    size_t n;
    tg_idx x;
    for (int i = 0; i < 6; i++) {
        put_be(b16 + 2 * i, (uint16_t)s16[i], 2);
        b8[i] = (unsigned char)s8[i];
    }
    n = idx_image(img, 0x0B, 1, (uint32_t[]){ 6 }, b16, sizeof b16);
    write_plain(tmp_path("i16.idx"), img, n);
    cr_assert_eq(tg_idx_load(tmp_path("i16.idx"), &x), TG_OK, "%s", tg_last_error());
    cr_assert_eq(x.type, 0x0Bu);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(x.data[i], (float)s16[i], "i16 value %d: %g", i, (double)x.data[i]);
    tg_idx_free(&x);
    n = idx_image(img, 0x09, 1, (uint32_t[]){ 6 }, b8, sizeof b8);
    cr_assert_eq(tg_idx_parse(img, n, &x), TG_OK, "%s", tg_last_error());
    for (int i = 0; i < 6; i++)
        cr_assert_eq(x.data[i], (float)s8[i], "i8 value %d: %g", i, (double)x.data[i]);
    tg_idx_free(&x);
}

/* i32 and f64 round to the nearest float (ties to even). */
Test(idx, i32_and_f64_round_to_nearest)
{
    const int32_t s32[] = { INT32_MIN, -1, 16777217, 16777219, INT32_MAX, 123 };
    const float s32_want[] = { -0x1p31f, -1.0f, 16777216.0f, 16777220.0f, 0x1p31f, 123.0f };
    const double f64[] = { 0.1, -0.0, 0x1.fffffefffffffp127, -0x1.fffffefffffffp127, 1e-50,
                           INFINITY, NAN, 0x1.000001p0 };
    const float f64_want[] = { 0.1f, -0.0f, FLT_MAX, -FLT_MAX, 0.0f, INFINITY, NAN, 1.0f };
    unsigned char b32[24], b64[64], img[128];
    size_t n;
    tg_idx x;
    for (int i = 0; i < 6; i++)
        put_be(b32 + 4 * i, (uint32_t)s32[i], 4);
    for (int i = 0; i < 8; i++) {
        uint64_t u;
        memcpy(&u, &f64[i], 8);
        put_be(b64 + 8 * i, u, 8);
    }
    n = idx_image(img, 0x0C, 1, (uint32_t[]){ 6 }, b32, sizeof b32);
    cr_assert_eq(tg_idx_parse(img, n, &x), TG_OK, "%s", tg_last_error());
    for (int i = 0; i < 6; i++)
        cr_assert_eq(x.data[i], s32_want[i], "i32 value %d: %a", i, (double)x.data[i]);
    tg_idx_free(&x);
    n = idx_image(img, 0x0E, 2, (uint32_t[]){ 4, 2 }, b64, sizeof b64);
    cr_assert_eq(tg_idx_parse(img, n, &x), TG_OK, "%s", tg_last_error());
    for (int i = 0; i < 8; i++)
        cr_assert(memcmp(&x.data[i], &f64_want[i], 4) == 0 ||
                      (isnan(x.data[i]) && isnan(f64_want[i])),
                  "f64 value %d: %a, not %a", i, (double)x.data[i], (double)f64_want[i]);
    cr_assert(signbit(x.data[1]), "-0.0 keeps its sign");
    tg_idx_free(&x);
}

/* A finite f64 that would round to a float infinity is refused, not made infinite. */
Test(idx, f64_beyond_float_range_refused)
{
    const double bad[] = { 0x1.ffffffp127, -1e300, 1e39 };
    for (int k = 0; k < 3; k++) {
        unsigned char b64[16], img[64];
        uint64_t u;
        size_t n;
        tg_idx x;
        memcpy(&u, &bad[k], 8);
        put_be(b64, 0, 8);
        put_be(b64 + 8, u, 8);
        n = idx_image(img, 0x0E, 1, (uint32_t[]){ 2 }, b64, sizeof b64);
        memset(&x, 0xAB, sizeof x);
        expect(tg_idx_parse(img, n, &x), TG_ERR_DOMAIN, "at index 1 is beyond the float range");
        assert_zero(&x);
    }
}

/* Every proper prefix of a valid file is truncated, plain or gzip; the header's prefixes
 * too. (A one-byte prefix of a gzip file is not gzip yet: 1f is a bad IDX magic.) */
Test(idx, truncated_at_every_length)
{
    unsigned char img[64], *gz;
    const size_t n = u8_image(img);
    size_t gz_len;
    tg_idx x;
    for (size_t len = 0; len < n; len++) {
        memset(&x, 0xAB, sizeof x);
        expect(tg_idx_parse(len ? img : NULL, len, &x), TG_ERR_TRUNCATED, "tg_idx_parse: ");
        assert_zero(&x);
        write_plain(tmp_path("cut.idx"), img, len);
        expect(tg_idx_load(tmp_path("cut.idx"), &x), TG_ERR_TRUNCATED, tmp_path("cut.idx"));
        assert_zero(&x);
    }
    write_gz(tmp_path("full.gz"), "wb", img, n);
    gz = read_all(tmp_path("full.gz"), &gz_len);
    cr_assert_gt(gz_len, 20u);
    for (size_t len = 1; len < gz_len; len++) {
        write_plain(tmp_path("cut.gz"), gz, len);
        memset(&x, 0xAB, sizeof x);
        expect(tg_idx_load(tmp_path("cut.gz"), &x), len == 1 ? TG_ERR_FORMAT : TG_ERR_TRUNCATED,
               tmp_path("cut.gz"));
        assert_zero(&x);
    }
    free(gz);
}

Test(idx, trailing_bytes_are_corrupt)
{
    unsigned char img[64];
    const size_t n = u8_image(img);
    tg_idx x;
    img[n] = 7;
    expect(tg_idx_parse(img, n + 1, &x), TG_ERR_CORRUPT, "1 byte after the last of 2x3x4 u8");
    write_gz(tmp_path("trail.gz"), "wb", img, n + 1);
    expect(tg_idx_load(tmp_path("trail.gz"), &x), TG_ERR_CORRUPT, "after the last");
    assert_zero(&x);
}

Test(idx, bad_headers_refused)
{
    unsigned char img[64];
    size_t n = u8_image(img);
    tg_idx x;
    img[0] = 0x01;   /* wrong magic */
    expect(tg_idx_parse(img, n, &x), TG_ERR_FORMAT, "not an IDX file (it starts 01 00");
    img[0] = 0;
    img[1] = 0x08;
    expect(tg_idx_parse(img, n, &x), TG_ERR_FORMAT, "not an IDX file");
    img[1] = 0;
    img[2] = 0x0A;   /* no such type */
    expect(tg_idx_parse(img, n, &x), TG_ERR_FORMAT, "unknown IDX value type 0x0a");
    img[2] = 0x08;
    img[3] = 0;      /* rank 0 */
    expect(tg_idx_parse(img, n, &x), TG_ERR_FORMAT, "IDX rank 0, not 1..4");
    /* rank 5: a valid-looking file of five dimensions of 1 */
    n = idx_image(img, 0x08, 5, (uint32_t[]){ 1, 1, 1, 1, 1 }, "z", 1);
    expect(tg_idx_parse(img, n, &x), TG_ERR_FORMAT, "IDX rank 5");
    n = idx_image(img, 0x08, 2, (uint32_t[]){ 3, 0 }, NULL, 0);
    expect(tg_idx_parse(img, n, &x), TG_ERR_SIZE, "dimension 1 is zero");
    write_plain(tmp_path("bad.idx"), img, n);
    expect(tg_idx_load(tmp_path("bad.idx"), &x), TG_ERR_SIZE, tmp_path("bad.idx"));
    assert_zero(&x);
}

/* Sizes whose products overflow are refused before anything is allocated or read. */
Test(idx, overflowing_dimensions_refused)
{
    unsigned char img[64];
    size_t n;
    tg_idx x;
    n = idx_image(img, 0x08, 3, (uint32_t[]){ 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF }, NULL, 0);
    expect(tg_idx_parse(img, n, &x), TG_ERR_SIZE,
           "dimensions 4294967295x4294967295x4294967295 of u8 overflow");
    assert_zero(&x);
    /* (2^32-1)^2 values fit in size_t, their bytes as f64 or as floats do not */
    n = idx_image(img, 0x0E, 2, (uint32_t[]){ 0xFFFFFFFF, 0xFFFFFFFF }, NULL, 0);
    expect(tg_idx_parse(img, n, &x), TG_ERR_SIZE, "overflow");
    n = idx_image(img, 0x08, 2, (uint32_t[]){ 0xFFFFFFFF, 0xFFFFFFFF }, NULL, 0);
    expect(tg_idx_parse(img, n, &x), TG_ERR_SIZE, "overflow");
    n = idx_image(img, 0x08, 4, (uint32_t[]){ 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF }, NULL, 0);
    expect(tg_idx_parse(img, n, &x), TG_ERR_SIZE, "overflow");
}

Test(idx, missing_file_and_bad_arguments)
{
    tg_idx x;
    memset(&x, 0xAB, sizeof x);
    expect(tg_idx_load("/nonexistent/dir/train-images-idx3-ubyte.gz", &x), TG_ERR_IO,
           "tg_idx_load: /nonexistent/dir/train-images-idx3-ubyte.gz: cannot open: No such "
           "file");
    assert_zero(&x);
    expect(tg_idx_load("/", &x), TG_ERR_IO, "tg_idx_load: /: cannot read");
    expect(tg_idx_load(NULL, &x), TG_ERR_NULL, "path is NULL");
    expect(tg_idx_load("x", NULL), TG_ERR_NULL, "out is NULL");
    expect(tg_idx_parse("", 0, NULL), TG_ERR_NULL, "out is NULL");
    expect(tg_idx_parse(NULL, 5, &x), TG_ERR_NULL, "bytes is NULL");
}

/* Damaged gzip data is a format error; a damaged gzip checksum too. */
Test(idx, bad_gzip_data_refused)
{
    unsigned char img[64], *gz;
    const size_t n = u8_image(img);
    size_t gz_len;
    tg_idx x;
    write_gz(tmp_path("ok.gz"), "wb", img, n);
    gz = read_all(tmp_path("ok.gz"), &gz_len);
    gz[gz_len - 6] ^= 0x40;   /* the CRC-32 in the trailer */
    write_plain(tmp_path("crc.gz"), gz, gz_len);
    expect(tg_idx_load(tmp_path("crc.gz"), &x), TG_ERR_FORMAT, "bad gzip data (incorrect data "
           "check)");
    gz[gz_len - 6] ^= 0x40;
    gz[2] = 7;                /* compression method 7 does not exist */
    write_plain(tmp_path("method.gz"), gz, gz_len);
    expect(tg_idx_load(tmp_path("method.gz"), &x), TG_ERR_FORMAT, "bad gzip data");
    gz[2] = 8;
    gz = realloc(gz, gz_len + 3);
    memcpy(gz + gz_len, "abc", 3);   /* not another gzip member */
    write_plain(tmp_path("junk.gz"), gz, gz_len + 3);
    expect(tg_idx_load(tmp_path("junk.gz"), &x), TG_ERR_FORMAT, "3 bytes after the gzip data");
    assert_zero(&x);
    free(gz);
}

typedef struct {
    size_t calls, fail_at, largest;
    long live;
} counter;

static void *count_alloc(size_t n, void *ctx)
{
    counter *c = ctx;
    if (++c->calls == c->fail_at)
        return NULL;
    if (n > c->largest)
        c->largest = n;
    c->live++;
    return malloc(n);
}

static void count_free(void *p, void *ctx)
{
    ((counter *)ctx)->live--;
    free(p);
}

/* A header that promises 60000x28x28 values over a 20-byte file, and a 2x2 header over
 * 16 MB of zeros in gzip: neither makes the loader allocate more than the file's size
 * in chunks (64 KB here). */
Test(idx, forged_sizes_allocate_by_the_data)
{
    counter c = { 0, 0, 0, 0 };
    const tg_allocator hook = { count_alloc, count_free, &c };
    unsigned char img[64], *big;
    const size_t big_len = (size_t)16 << 20;
    size_t n;
    tg_idx x;
    n = idx_image(img, 0x08, 3, (uint32_t[]){ 60000, 28, 28 }, "abcd", 4);
    write_plain(tmp_path("forged.idx"), img, n);
    write_gz(tmp_path("forged.gz"), "wb", img, n);
    big = calloc(1, big_len);
    n = idx_image(big, 0x08, 2, (uint32_t[]){ 2, 2 }, "abcd", 4);
    write_gz(tmp_path("bomb.gz"), "wb", big, big_len);
    free(big);

    tg_set_allocator(&hook);
    expect(tg_idx_load(tmp_path("forged.idx"), &x), TG_ERR_TRUNCATED, "60000x28x28 u8");
    expect(tg_idx_load(tmp_path("forged.gz"), &x), TG_ERR_TRUNCATED, "60000x28x28 u8");
    expect(tg_idx_load(tmp_path("bomb.gz"), &x), TG_ERR_CORRUPT, "after the last of 2x2 u8");
    tg_set_allocator(NULL);
    cr_assert_leq(c.largest, (size_t)128 * 1024, "largest allocation %zu bytes", c.largest);
    cr_assert_eq(c.live, 0, "%ld blocks leaked", c.live);
}

/* Each allocation of a gzip load refused in turn: a clean TG_ERR_NOMEM, nothing leaked. */
Test(idx, every_allocation_failure_is_clean)
{
    counter c = { 0, 0, 0, 0 };
    const tg_allocator hook = { count_alloc, count_free, &c };
    unsigned char img[64];
    const size_t n = u8_image(img);
    size_t total;
    tg_idx x;
    write_gz(tmp_path("nomem.gz"), "wb", img, n);
    tg_set_allocator(&hook);
    cr_assert_eq(tg_idx_load(tmp_path("nomem.gz"), &x), TG_OK, "%s", tg_last_error());
    tg_idx_free(&x);
    total = c.calls;
    cr_assert_geq(total, 4u, "raw buffer, zlib state and window, output, values");
    for (size_t k = 1; k <= total; k++) {
        c = (counter){ 0, k, 0, 0 };
        memset(&x, 0xAB, sizeof x);
        expect(tg_idx_load(tmp_path("nomem.gz"), &x), TG_ERR_NOMEM, "out of memory");
        assert_zero(&x);
        cr_assert_eq(c.live, 0, "allocation %zu of %zu refused: %ld blocks leaked", k, total,
                     c.live);
    }
    tg_set_allocator(NULL);
}

/* The real data set, when installed: shapes, value ranges and the balanced classes
 * (Fashion-MNIST has 6000 training and 1000 test images of each of its 10 classes). */
static void check_fmnist(const char *images, const char *labels, size_t n)
{
    tg_idx im, lb;
    size_t per_class[10] = { 0 };
    double sum = 0.0;
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0)
        cr_skip_test("Fashion-MNIST is not installed at " FMNIST);
    cr_assert_eq(tg_idx_load(images, &im), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_idx_load(labels, &lb), TG_OK, "%s", tg_last_error());
    cr_assert_eq(im.type, 0x08u);
    cr_assert_eq(im.rank, 3u);
    cr_assert_eq(im.dims[0], n);
    cr_assert_eq(im.dims[1], 28u);
    cr_assert_eq(im.dims[2], 28u);
    cr_assert_eq(im.count, n * 784);
    cr_assert_eq(lb.rank, 1u);
    cr_assert_eq(lb.dims[0], n);
    for (size_t i = 0; i < im.count; i++) {
        cr_assert(im.data[i] >= 0.0f && im.data[i] <= 255.0f && im.data[i] == floorf(im.data[i]));
        sum += im.data[i];
    }
    for (size_t i = 0; i < n; i++) {
        cr_assert(lb.data[i] >= 0.0f && lb.data[i] <= 9.0f && lb.data[i] == floorf(lb.data[i]));
        per_class[(size_t)lb.data[i]]++;
    }
    for (size_t k = 0; k < 10; k++)
        cr_assert_eq(per_class[k], n / 10, "class %zu: %zu images", k, per_class[k]);
    /* the data set's published mean intensity is 0.286 of 255 */
    cr_assert(sum / (double)im.count > 0.28 * 255 && sum / (double)im.count < 0.29 * 255,
              "mean pixel %g", sum / (double)im.count);
    tg_idx_free(&im);
    tg_idx_free(&lb);
}

Test(idx, fashion_mnist_train_loads)
{
    check_fmnist(FMNIST "train-images-idx3-ubyte.gz", FMNIST "train-labels-idx1-ubyte.gz",
                 60000);
}

Test(idx, fashion_mnist_test_loads)
{
    check_fmnist(FMNIST "t10k-images-idx3-ubyte.gz", FMNIST "t10k-labels-idx1-ubyte.gz",
                 10000);
}
