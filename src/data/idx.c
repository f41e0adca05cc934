/* IDX files (MNIST, Fashion-MNIST): a big-endian header (0, 0, type, rank, one 32-bit
 * size per dimension) and the values, plain or gzip-compressed.
 *
 * Nothing is trusted before it is checked: the header is validated whole (magic, type,
 * rank, sizes, products without overflow) and the length must match it exactly before
 * the values are allocated. A gzip stream is inflated into a buffer that grows with the
 * data actually produced, and stops one byte past what a valid header announces, so
 * neither a forged header nor a small bomb can make the loader allocate much more than
 * the real file holds. All memory, zlib's included, goes through tg__alloc. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include "idx.h"

typedef struct {
    unsigned type;
    size_t elsize;             /* bytes per value */
    size_t rank, dims[TG_MAX_RANK];
    size_t count;              /* values */
    size_t header, body;       /* bytes: 4 + 4 rank, count * elsize */
} header;

static size_t type_size(unsigned type)
{
    switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    }
    return 0;
}

static const char *type_name(unsigned type)
{
    switch (type) {
    case 0x08: return "u8";
    case 0x09: return "i8";
    case 0x0B: return "i16";
    case 0x0C: return "i32";
    case 0x0D: return "f32";
    case 0x0E: return "f64";
    }
    return "?";
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* "60000x28x28" */
static const char *dims_str(const header *h, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < h->rank && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? "x%zu" : "%zu", h->dims[i]);
    return buf;
}

/* Checks everything the header says, before a byte of the values is looked at. */
static tg_status read_header(const unsigned char *p, size_t len, header *h, const char *who)
{
    int overflow = 0;
    char d[64];
    memset(h, 0, sizeof *h);
    if ((len >= 1 && p[0] != 0) || (len >= 2 && p[1] != 0))
        return tg__fail(TG_ERR_FORMAT, "%s: not an IDX file (it starts %02x %02x, not 00 00)",
                        who, p[0], len >= 2 ? p[1] : 0u);
    if (len < 4)
        return tg__fail(TG_ERR_TRUNCATED, "%s: %zu bytes, shorter than the 4-byte IDX magic",
                        who, len);
    h->type = p[2];
    h->elsize = type_size(h->type);
    if (h->elsize == 0)
        return tg__fail(TG_ERR_FORMAT, "%s: unknown IDX value type 0x%02x (known: 08 u8, 09 "
                        "i8, 0B i16, 0C i32, 0D f32, 0E f64)", who, h->type);
    h->rank = p[3];
    if (h->rank < 1 || h->rank > TG_MAX_RANK)
        return tg__fail(TG_ERR_FORMAT, "%s: IDX rank %zu, not 1..%d", who, h->rank,
                        TG_MAX_RANK);
    h->header = 4 + 4 * h->rank;
    if (len < h->header)
        return tg__fail(TG_ERR_TRUNCATED, "%s: %zu bytes, shorter than the %zu-byte header "
                        "of rank %zu", who, len, h->header, h->rank);
    h->count = 1;
    for (size_t i = 0; i < h->rank; i++) {
        h->dims[i] = be32(p + 4 + 4 * i);   /* fits: size_t has at least 32 bits */
        if (h->dims[i] == 0)
            return tg__fail(TG_ERR_SIZE, "%s: dimension %zu is zero", who, i);
        h->count = tg__mul_size(h->count, h->dims[i], &overflow);
    }
    h->body = tg__mul_size(h->count, h->elsize, &overflow);
    (void)tg__mul_size(h->count, sizeof(float), &overflow);   /* the converted values */
    if (overflow || h->body > SIZE_MAX - h->header)
        return tg__fail(TG_ERR_SIZE, "%s: dimensions %s of %s overflow size_t", who,
                        dims_str(h, d, sizeof d), type_name(h->type));
    return TG_OK;
}

static double f64_at(const unsigned char *v, size_t i)
{
    const uint64_t u = (uint64_t)be32(v + 8 * i) << 32 | be32(v + 8 * i + 4);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Big-endian value i of the body as float: i32 and f64 round to nearest. */
static float value(const unsigned char *v, unsigned type, size_t i)
{
    switch (type) {
    case 0x08: return (float)v[i];
    case 0x09: return (float)((int)v[i] - (v[i] & 0x80 ? 256 : 0));
    case 0x0B: {
        const long u = (long)v[2 * i] << 8 | v[2 * i + 1];
        return (float)(u - (u & 0x8000 ? 65536L : 0));
    }
    case 0x0C: {
        const int64_t u = be32(v + 4 * i);
        return (float)(u - (u & 0x80000000 ? INT64_C(4294967296) : 0));
    }
    case 0x0D: {
        const uint32_t u = be32(v + 4 * i);
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    default:   /* 0x0E; the caller has checked the range */
        return (float)f64_at(v, i);
    }
}

/* An f64 value rounds to a float infinity from FLT_MAX + half an ulp (2^128 - 2^103)
 * up; those are refused rather than made infinite. NaN and infinities are the file's own
 * values and are kept. */
static tg_status check_f64_range(const unsigned char *v, size_t count, const char *who)
{
    for (size_t i = 0; i < count; i++) {
        const double d = f64_at(v, i);
        if ((d >= 0x1.ffffffp127 || d <= -0x1.ffffffp127) && d - d == 0.0)
            return tg__fail(TG_ERR_DOMAIN, "%s: f64 value %g at index %zu is beyond the float "
                            "range", who, d, i);
    }
    return TG_OK;
}

static tg_status parse(const void *bytes, size_t len, tg_idx *out, const char *who)
{
    const unsigned char *p = bytes;
    header h;
    char d[64];
    tg_status s;
    if (!out)
        return tg__fail(TG_ERR_NULL, "%s: out is NULL", who);
    memset(out, 0, sizeof *out);
    if (!bytes && len > 0)
        return tg__fail(TG_ERR_NULL, "%s: bytes is NULL (len %zu)", who, len);
    if ((s = read_header(p, len, &h, who)) != TG_OK)
        return s;
    if (len - h.header < h.body)
        return tg__fail(TG_ERR_TRUNCATED, "%s: the header says %s %s values (%zu bytes), the "
                        "file has %zu bytes of values", who, dims_str(&h, d, sizeof d),
                        type_name(h.type), h.body, len - h.header);
    if (len - h.header > h.body)
        return tg__fail(TG_ERR_CORRUPT, "%s: %zu byte%s after the last of %s %s values", who,
                        len - h.header - h.body, len - h.header - h.body == 1 ? "" : "s",
                        dims_str(&h, d, sizeof d), type_name(h.type));
    if (h.type == 0x0E && (s = check_f64_range(p + h.header, h.count, who)) != TG_OK)
        return s;
    out->data = tg__alloc(h.count * sizeof(float));
    if (!out->data)
        return tg__fail(TG_ERR_NOMEM, "%s: out of memory for %s values", who,
                        dims_str(&h, d, sizeof d));
    for (size_t i = 0; i < h.count; i++)
        out->data[i] = value(p + h.header, h.type, i);
    out->type = h.type;
    out->rank = h.rank;
    memcpy(out->dims, h.dims, sizeof h.dims);
    out->count = h.count;
    return TG_OK;
}

tg_status tg_idx_parse(const void *bytes, size_t len, tg_idx *out)
{
    return parse(bytes, len, out, "tg_idx_parse");
}

void tg_idx_free(tg_idx *idx)
{
    if (!idx)
        return;
    tg__free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* ---- a buffer that grows with the data ------------------------------------------- */

#define CHUNK ((size_t)64 * 1024)

typedef struct {
    unsigned char *p;
    size_t len, cap;
} buffer;

/* Room for at least one more byte, at most `limit` bytes in all: doubles the capacity,
 * starting from CHUNK. */
static tg_status grow(buffer *b, size_t limit, const char *who)
{
    size_t cap = b->cap ? (b->cap > SIZE_MAX / 2 ? SIZE_MAX : 2 * b->cap) : CHUNK;
    unsigned char *p;
    if (cap > limit)
        cap = limit;
    if (cap <= b->len)
        return tg__fail(TG_ERR_SIZE, "%s: the data is larger than size_t can hold", who);
    p = tg__alloc(cap);
    if (!p)
        return tg__fail(TG_ERR_NOMEM, "%s: out of memory for %zu bytes", who, cap);
    if (b->len)
        memcpy(p, b->p, b->len);
    tg__free(b->p);
    b->p = p;
    b->cap = cap;
    return TG_OK;
}

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return size == 0 || (size_t)items > SIZE_MAX / size ? Z_NULL : tg__alloc((size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    tg__free(p);
}

/* The most bytes worth inflating: one past a valid header's file length (so trailing
 * bytes are still seen), or everything while the header is incomplete. A header already
 * known to be invalid stops inflation at once: the parser reports it. */
static size_t inflate_limit(const buffer *out, const char *who)
{
    header h;
    const tg_status s = read_header(out->p, out->len, &h, who);
    if (s == TG_OK)
        return h.header + h.body < SIZE_MAX ? h.header + h.body + 1 : SIZE_MAX;
    return s == TG_ERR_TRUNCATED ? SIZE_MAX : out->len;
}

static tg_status z_status(int ret, const z_stream *z, const char *who)
{
    if (ret == Z_MEM_ERROR)
        return tg__fail(TG_ERR_NOMEM, "%s: out of memory in zlib", who);
    return tg__fail(TG_ERR_FORMAT, "%s: bad gzip data (%s)", who, z->msg ? z->msg : "error");
}

/* Inflates every gzip member of raw into out. */
static tg_status gunzip(const unsigned char *raw, size_t len, buffer *out, const char *who)
{
    z_stream z;
    size_t done = 0, limit = SIZE_MAX;   /* raw bytes consumed; output bound */
    tg_status s = TG_OK;
    int ret;
    memset(&z, 0, sizeof z);
    z.zalloc = z_alloc;
    z.zfree = z_free;
    ret = inflateInit2(&z, 16 + MAX_WBITS);   /* gzip wrapper only */
    if (ret != Z_OK)
        return z_status(ret, &z, who);
    while (s == TG_OK && out->len < limit) {
        size_t in_before, out_before, room;
        if (out->len == out->cap && (s = grow(out, limit, who)) != TG_OK)
            break;
        z.next_in = (unsigned char *)(uintptr_t)(raw + done);   /* zlib does not write it */
        z.avail_in = (uInt)(len - done < UINT_MAX ? len - done : UINT_MAX);
        room = (out->cap < limit ? out->cap : limit) - out->len;
        z.next_out = out->p + out->len;
        z.avail_out = (uInt)(room < UINT_MAX ? room : UINT_MAX);
        in_before = z.avail_in;
        out_before = z.avail_out;
        ret = inflate(&z, Z_NO_FLUSH);
        done += in_before - z.avail_in;
        out->len += out_before - z.avail_out;
        if (limit == SIZE_MAX)
            limit = inflate_limit(out, who);
        if (ret == Z_STREAM_END) {
            if (done == len)
                break;
            if (len - done < 2 || raw[done] != 0x1f || raw[done + 1] != 0x8b) {
                s = tg__fail(TG_ERR_FORMAT, "%s: %zu byte%s after the gzip data", who,
                             len - done, len - done == 1 ? "" : "s");
                break;
            }
            ret = inflateReset(&z);   /* another member: gzip concatenates them */
        }
        if (ret == Z_BUF_ERROR && done == len)
            s = tg__fail(TG_ERR_TRUNCATED, "%s: the gzip data ends early (after %zu bytes, "
                         "%zu inflated)", who, len, out->len);
        else if (ret != Z_OK && ret != Z_BUF_ERROR)
            s = z_status(ret, &z, who);
    }
    inflateEnd(&z);
    return s;
}

tg_status tg__idx_decode(const void *bytes, size_t len, tg_idx *out, const char *who)
{
    const unsigned char *p = bytes;
    buffer plain = { NULL, 0, 0 };
    tg_status s;
    if (!out)
        return tg__fail(TG_ERR_NULL, "%s: out is NULL", who);
    memset(out, 0, sizeof *out);
    if (!p || len < 2 || p[0] != 0x1f || p[1] != 0x8b)
        return parse(bytes, len, out, who);
    s = gunzip(p, len, &plain, who);
    if (s == TG_OK)
        s = parse(plain.p, plain.len, out, who);
    tg__free(plain.p);
    return s;
}

/* Reads the whole file, in chunks that grow with what is actually there. */
static tg_status read_file(FILE *f, buffer *b, const char *who)
{
    for (;;) {
        size_t n;
        tg_status s;
        if (b->len == b->cap && (s = grow(b, SIZE_MAX, who)) != TG_OK)
            return s;
        n = fread(b->p + b->len, 1, b->cap - b->len, f);
        b->len += n;
        if (n == 0 || feof(f) || ferror(f))
            break;
    }
    if (ferror(f)) {
        char e[128] = "read error";
        strerror_r(errno, e, sizeof e);
        return tg__fail(TG_ERR_IO, "%s: cannot read: %s", who, e);
    }
    return TG_OK;
}

tg_status tg_idx_load(const char *path, tg_idx *out)
{
    char who[300], e[128] = "cannot open";
    buffer raw = { NULL, 0, 0 };
    FILE *f;
    tg_status s;
    if (!out)
        return tg__fail(TG_ERR_NULL, "tg_idx_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return tg__fail(TG_ERR_NULL, "tg_idx_load: path is NULL");
    snprintf(who, sizeof who, "tg_idx_load: %s", path);
    f = fopen(path, "rb");
    if (!f) {
        strerror_r(errno, e, sizeof e);
        return tg__fail(TG_ERR_IO, "%s: cannot open: %s", who, e);
    }
    s = read_file(f, &raw, who);
    fclose(f);
    if (s == TG_OK)
        s = tg__idx_decode(raw.p, raw.len, out, who);
    tg__free(raw.p);
    return s;
}
