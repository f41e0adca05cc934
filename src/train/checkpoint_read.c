/* Reading a checkpoint image: validate everything, then restore. The image may be any
 * bytes at all (a fuzzer feeds this), so every length is checked against what is left
 * before it is used, sizes are computed in uint64_t with explicit overflow checks, and
 * nothing is allocated: the per-entry bookkeeping lives in the registered entries.
 * Nothing the caller registered is written until the whole image has passed. */
#include <inttypes.h>
#include <stdio.h>
#include "ckpt_format.h"

/* Where the messages come from: the public function and the file. */
typedef struct {
    const char *who, *file;
} origin;

/* A cursor over [pos, end) of the image. */
typedef struct {
    const unsigned char *p;
    size_t pos, end;
} reader;

/* The next n bytes, or NULL (and nothing consumed) when fewer are left. */
static const unsigned char *take(reader *r, uint64_t n)
{
    const unsigned char *q = r->p + r->pos;
    if (n > (uint64_t)(r->end - r->pos))
        return NULL;
    r->pos += (size_t)n;
    return q;
}

/* A name from the file made safe to print: bytes outside ASCII 32..126 become '?'. */
static const char *printable(const unsigned char *name, size_t len, char *buf)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = name[i] >= 32 && name[i] < 127 ? (char)name[i] : '?';
    buf[len] = '\0';
    return buf;
}

static char *shape_str(size_t rank, const uint64_t *dims, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (size_t k = 0; k < rank && used < cap; k++)
        used += (size_t)snprintf(buf + used, cap - used, k ? ",%" PRIu64 : "%" PRIu64, dims[k]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

/* Magic, version, length and CRC; the entry count in *count. */
static tg_status check_header(const unsigned char *p, size_t len, const origin *o,
                              uint32_t *count)
{
    uint64_t total;
    uint32_t version, crc, want;
    /* A prefix of the magic is not yet wrong: every cut of a real checkpoint says
     * "truncated", whatever its length, and any other bytes say "format". */
    if (len > 0 && memcmp(p, tg__ck_magic, len < 8 ? len : 8) != 0)
        return tg__fail(TG_ERR_FORMAT, "%s: %s is not a tapegrad checkpoint (wrong magic)",
                        o->who, o->file);
    if (len >= 12 && (version = tg__get32(p + 8)) != TG__CK_VERSION)
        return tg__fail(TG_ERR_VERSION, "%s: %s has format version %" PRIu32 ", this build "
                        "reads version %u", o->who, o->file, version, TG__CK_VERSION);
    if (len < TG__CK_HEADER + TG__CK_TRAILER)
        return tg__fail(TG_ERR_TRUNCATED, "%s: %s is truncated: %zu bytes, fewer than the %d of "
                        "a header and checksum", o->who, o->file, len,
                        TG__CK_HEADER + TG__CK_TRAILER);
    total = tg__get64(p + 16);
    if (total > (uint64_t)len)
        return tg__fail(TG_ERR_TRUNCATED, "%s: %s is truncated: %zu bytes, the header says %"
                        PRIu64, o->who, o->file, len, total);
    if (total < (uint64_t)len)
        return tg__fail(TG_ERR_CORRUPT, "%s: %s has %zu bytes, the header says %" PRIu64
                        ": bytes past the end", o->who, o->file, len, total);
    crc = tg__crc32(0, p, len - TG__CK_TRAILER);
    want = tg__get32(p + len - TG__CK_TRAILER);
    if (crc != want)
        return tg__fail(TG_ERR_CORRUPT, "%s: %s is corrupted: CRC-32 %08" PRIx32 ", the file "
                        "says %08" PRIx32, o->who, o->file, crc, want);
    *count = tg__get32(p + 12);
    return TG_OK;
}

/* The registered entry called name; the one at `hint` first, since files are written in
 * registration order. */
static tg__ck_entry *find(tg_checkpoint *c, const unsigned char *name, size_t len, size_t hint)
{
    if (hint < c->n && c->e[hint].name_len == len && memcmp(c->e[hint].name, name, len) == 0)
        return &c->e[hint];
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].name_len == len && memcmp(c->e[i].name, name, len) == 0)
            return &c->e[i];
    return NULL;
}

/* Checks the entry the file gives (type, dims) against the registered one. */
static tg_status match(const tg__ck_entry *e, uint32_t type, size_t rank, const uint64_t *dims,
                       const unsigned char *payload, const origin *o)
{
    char sf[120], sm[120];
    uint64_t mine[TG_MAX_RANK];
    int same = rank == e->rank;
    for (size_t k = 0; k < e->rank; k++)
        mine[k] = e->shape[k];
    for (size_t k = 0; same && k < rank; k++)
        same = dims[k] == mine[k];
    if (type != e->type)
        return tg__fail(TG_ERR_MISMATCH, "%s: %s: entry \"%s\" is a %s in the file, a %s in the "
                        "checkpoint", o->who, o->file, e->name, tg__ck_type_name(type),
                        tg__ck_type_name(e->type));
    if (!same)
        return tg__fail(TG_ERR_SHAPE, "%s: %s: entry \"%s\" is %s in the file, %s in the "
                        "checkpoint", o->who, o->file, e->name,
                        shape_str(rank, dims, sf, sizeof sf),
                        shape_str(e->rank, mine, sm, sizeof sm));
    if (type == TG__CK_TAG && tg__get64(payload) != e->tag)
        return tg__fail(TG_ERR_MISMATCH, "%s: %s: tag \"%s\" is %" PRIu64 " in the file, %"
                        PRIu64 " in the checkpoint", o->who, o->file, e->name,
                        tg__get64(payload), e->tag);
    return TG_OK;
}

/* Entry i of count: its layout must fit what is left of the image, and it must match a
 * registered entry not seen before. */
static tg_status parse_entry(tg_checkpoint *c, reader *r, uint32_t i, uint32_t count,
                             const origin *o)
{
    const unsigned char *h, *name, *d, *payload;
    uint64_t dims[TG_MAX_RANK], numel = 1, bytes;
    uint32_t type, rank, nlen;
    char nbuf[TG_CHECKPOINT_NAME_MAX + 1];
    tg__ck_entry *e;
    tg_status s;
    if (!(h = take(r, TG__CK_ENTRY_HEAD)))
        return tg__fail(TG_ERR_FORMAT, "%s: %s: entry %" PRIu32 " of %" PRIu32 " runs past the "
                        "end", o->who, o->file, i, count);
    type = tg__get32(h);
    rank = tg__get32(h + 4);
    nlen = tg__get32(h + 8);
    if (nlen == 0 || nlen > TG_CHECKPOINT_NAME_MAX)
        return tg__fail(TG_ERR_FORMAT, "%s: %s: entry %" PRIu32 " has a name of %" PRIu32
                        " bytes, not 1..%d", o->who, o->file, i, nlen, TG_CHECKPOINT_NAME_MAX);
    if (!(name = take(r, nlen)))
        return tg__fail(TG_ERR_FORMAT, "%s: %s: the name of entry %" PRIu32 " runs past the end",
                        o->who, o->file, i);
    printable(name, nlen, nbuf);
    if (type < TG__CK_F32 || type > TG__CK_RNG)
        return tg__fail(TG_ERR_FORMAT, "%s: %s: entry \"%s\" has unknown type %" PRIu32, o->who,
                        o->file, nbuf, type);
    if (rank > TG_MAX_RANK || (type != TG__CK_F32 && rank != 0))
        return tg__fail(TG_ERR_FORMAT, "%s: %s: entry \"%s\" (a %s) has rank %" PRIu32, o->who,
                        o->file, nbuf, tg__ck_type_name(type), rank);
    if (!(d = take(r, 8 * (uint64_t)rank)))
        return tg__fail(TG_ERR_FORMAT, "%s: %s: the shape of entry \"%s\" runs past the end",
                        o->who, o->file, nbuf);
    for (uint32_t k = 0; k < rank; k++) {
        dims[k] = tg__get64(d + 8 * k);
        if (dims[k] == 0 || dims[k] > UINT64_MAX / sizeof(float) / numel)
            return tg__fail(TG_ERR_FORMAT, "%s: %s: entry \"%s\" has dimension %" PRIu32 " = %"
                            PRIu64 ", zero or too large", o->who, o->file, nbuf, k, dims[k]);
        numel *= dims[k];
    }
    bytes = type == TG__CK_F32 ? numel * sizeof(float) : type == TG__CK_RNG ? 16 : 8;
    if (!(payload = take(r, bytes)))
        return tg__fail(TG_ERR_FORMAT, "%s: %s: the data of entry \"%s\" (%" PRIu64 " bytes) "
                        "run past the end", o->who, o->file, nbuf, bytes);
    if (!(e = find(c, name, nlen, i)))
        return tg__fail(TG_ERR_MISMATCH, "%s: %s: the file has an entry \"%s\" the checkpoint "
                        "does not register", o->who, o->file, nbuf);
    if (e->found)
        return tg__fail(TG_ERR_FORMAT, "%s: %s: entry \"%s\" appears twice", o->who, o->file,
                        nbuf);
    if ((s = match(e, type, rank, dims, payload, o)) != TG_OK)
        return s;
    e->found = payload;
    return TG_OK;
}

/* Every check has passed: copy each entry's payload into its object. */
static void restore(tg_checkpoint *c)
{
    for (size_t i = 0; i < c->n; i++) {
        const tg__ck_entry *e = &c->e[i];
        const unsigned char *q = e->found;
        switch (e->type) {
        case TG__CK_F32: {
            float *f = tg__ck_floats(e);
            for (size_t k = 0; k < e->n; k++)
                f[k] = tg__get_f32(q + 4 * k);
            break;
        }
        case TG__CK_U64: *e->u = tg__get64(q); break;
        case TG__CK_RNG:
            e->rng->state = tg__get64(q);
            e->rng->inc = tg__get64(q + 8);
            break;
        default: break;   /* a tag was checked, not restored */
        }
    }
}

tg_status tg__ck_read_image(tg_checkpoint *c, const unsigned char *p, size_t len,
                            const char *file, const char *who)
{
    const origin o = { who, file };
    uint32_t count = 0;
    reader r;
    tg_status s;
    if ((s = tg__ck_check_layouts(c, who)) != TG_OK || (s = check_header(p, len, &o, &count)) != TG_OK)
        return s;
    for (size_t i = 0; i < c->n; i++)
        c->e[i].found = NULL;
    r = (reader){ p, TG__CK_HEADER, len - TG__CK_TRAILER };
    for (uint32_t i = 0; i < count; i++)
        if ((s = parse_entry(c, &r, i, count, &o)) != TG_OK)
            return s;
    if (r.pos != r.end)
        return tg__fail(TG_ERR_FORMAT, "%s: %s: %zu bytes follow the last of its %" PRIu32
                        " entries", who, file, r.end - r.pos, count);
    for (size_t i = 0; i < c->n; i++)
        if (!c->e[i].found)
            return tg__fail(TG_ERR_MISMATCH, "%s: %s: entry \"%s\" of the checkpoint is missing "
                            "from the file", who, file, c->e[i].name);
    restore(c);
    return TG_OK;
}
