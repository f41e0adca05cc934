/* Checkpoints: the list of registered entries, saving it crash-safely, and reading a
 * file into memory for checkpoint_read.c to validate and restore. The format is in
 * ckpt_format.h and docs/checkpoint.md.
 *
 * Saving never leaves a torn file at the target path: the bytes go to
 * "<path>.tmp.<pid>" in the same folder (so the rename cannot cross file systems), which
 * is fsynced before it is renamed over the target, and the folder is fsynced after so
 * the rename itself is durable. A crash at any moment leaves the old file or the new
 * one, plus at worst a stale temporary that nothing reads. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include "ckpt_format.h"

const unsigned char tg__ck_magic[8] = { 0x89, 'T', 'G', 'C', 'K', 'P', 'T', '\n' };

enum { IO_BUF = 1 << 16 };   /* bytes staged between write() calls during a save */

/* ---- shared helpers ------------------------------------------------------------------ */

uint32_t tg__crc32(uint32_t crc, const unsigned char *p, size_t n)
{
    uLong c = crc;
    while (n > 0) {
        const size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        c = crc32(c, p, (uInt)chunk);
        p += chunk;
        n -= chunk;
    }
    return (uint32_t)c;
}

size_t tg__ck_payload_bytes(const tg__ck_entry *e)
{
    switch (e->type) {
    case TG__CK_F32: return e->n * sizeof(float);
    case TG__CK_RNG: return 16;
    default: return 8;
    }
}

float *tg__ck_floats(const tg__ck_entry *e)
{
    return e->ps ? tg_params_at(e->ps, e->index)->data : e->f;
}

const char *tg__ck_type_name(uint32_t type)
{
    switch (type) {
    case TG__CK_F32: return "float tensor";
    case TG__CK_U64: return "counter";
    case TG__CK_TAG: return "tag";
    case TG__CK_RNG: return "rng";
    default: return "unknown";
    }
}

tg_status tg__ck_check_layouts(const tg_checkpoint *c, const char *who)
{
    for (size_t i = 0; i < c->n; i++) {
        const tg__ck_entry *e = &c->e[i];
        if (e->ps && tg_params_layout(e->ps) != e->layout)
            return tg__fail(TG_ERR_STATE, "%s: the parameter set of \"%s\" has grown since it "
                            "was added to the checkpoint", who, e->name);
    }
    return TG_OK;
}

/* ---- registration -------------------------------------------------------------------- */

tg_checkpoint *tg_checkpoint_new(void)
{
    tg_checkpoint *c = tg__alloc(sizeof *c);
    if (!c) {
        tg__fail(TG_ERR_NOMEM, "tg_checkpoint_new: out of memory");
        return NULL;
    }
    memset(c, 0, sizeof *c);
    return c;
}

void tg_checkpoint_free(tg_checkpoint *c)
{
    if (!c)
        return;
    tg__free(c->e);
    tg__free(c);
}

/* Room for k more entries; nothing changes on failure. */
static tg_status reserve(tg_checkpoint *c, size_t k, const char *who)
{
    size_t cap = c->cap ? c->cap : 8;
    tg__ck_entry *e;
    if (k > SIZE_MAX / sizeof *e - c->n)
        return tg__fail(TG_ERR_SIZE, "%s: too many entries", who);
    if (c->n + k <= c->cap)
        return TG_OK;
    while (cap < c->n + k)
        cap = cap > SIZE_MAX / sizeof *e / 2 ? c->n + k : 2 * cap;
    e = tg__alloc(cap * sizeof *e);
    if (!e)
        return tg__fail(TG_ERR_NOMEM, "%s: out of memory for %zu entries", who, cap);
    if (c->n)
        memcpy(e, c->e, c->n * sizeof *e);
    tg__free(c->e);
    c->e = e;
    c->cap = cap;
    return TG_OK;
}

/* Appends an entry named prefix + name (room reserved by the caller) after checking the
 * name: 1..TG_CHECKPOINT_NAME_MAX bytes, unique. */
static tg__ck_entry *append(tg_checkpoint *c, const char *who, const char *prefix,
                            const char *name, uint32_t type)
{
    const size_t lp = strlen(prefix), ln = strlen(name);
    tg__ck_entry *e;
    if (lp + ln == 0 || ln > TG_CHECKPOINT_NAME_MAX || lp > TG_CHECKPOINT_NAME_MAX - ln) {
        tg__fail(TG_ERR_PARAM, "%s: name \"%.40s%.80s\" has %zu bytes, not 1..%d", who, prefix,
                 name, lp + ln, TG_CHECKPOINT_NAME_MAX);
        return NULL;
    }
    for (size_t i = 0; i < c->n; i++)
        if (c->e[i].name_len == lp + ln && memcmp(c->e[i].name, prefix, lp) == 0 &&
            memcmp(c->e[i].name + lp, name, ln) == 0) {
            tg__fail(TG_ERR_EXISTS, "%s: the checkpoint already has an entry \"%s\"", who,
                     c->e[i].name);
            return NULL;
        }
    e = &c->e[c->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->name, prefix, lp);
    memcpy(e->name + lp, name, ln);
    e->name[lp + ln] = '\0';
    e->name_len = lp + ln;
    e->type = type;
    e->n = 1;
    return e;
}

/* The checks and the append shared by the single-entry calls. */
static tg__ck_entry *add_one(tg_checkpoint *c, const char *who, const char *name,
                             const void *obj, uint32_t type)
{
    if (!c || !name || !obj) {
        tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, !c ? "checkpoint" : !name ? "name" : "object");
        return NULL;
    }
    if (reserve(c, 1, who) != TG_OK)
        return NULL;
    return append(c, who, "", name, type);
}

tg_status tg_checkpoint_add_params(tg_checkpoint *c, const char *prefix, tg_params *ps)
{
    static const char who[] = "tg_checkpoint_add_params";
    const size_t n0 = c ? c->n : 0, count = tg_params_count(ps);
    tg_status s;
    if (!c || !ps)
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, c ? "parameter set" : "checkpoint");
    /* An empty set would save nothing, and parameters added later would be missed. */
    if (count == 0)
        return tg__fail(TG_ERR_STATE, "%s: the set is empty: add its parameters first", who);
    if ((s = reserve(c, count, who)) != TG_OK)
        return s;
    for (size_t i = 0; i < count; i++) {
        const tg_tensor *t = tg_params_at(ps, i);
        tg__ck_entry *e = append(c, who, prefix ? prefix : "", tg_params_name(ps, i), TG__CK_F32);
        if (!e) {
            c->n = n0;   /* all or nothing */
            return tg_last_status();
        }
        e->rank = t->rank;
        for (size_t k = 0; k < t->rank; k++)
            e->shape[k] = t->shape[k];
        e->n = t->size;
        e->ps = ps;
        e->index = i;
        e->layout = tg_params_layout(ps);
    }
    return TG_OK;
}

tg_status tg_checkpoint_add_rng(tg_checkpoint *c, const char *name, tg_pcg32 *rng)
{
    tg__ck_entry *e = add_one(c, "tg_checkpoint_add_rng", name, rng, TG__CK_RNG);
    if (!e)
        return tg_last_status();
    e->rng = rng;
    return TG_OK;
}

tg_status tg_checkpoint_add_u64(tg_checkpoint *c, const char *name, uint64_t *value)
{
    tg__ck_entry *e = add_one(c, "tg_checkpoint_add_u64", name, value, TG__CK_U64);
    if (!e)
        return tg_last_status();
    e->u = value;
    return TG_OK;
}

tg_status tg_checkpoint_add_tag(tg_checkpoint *c, const char *name, uint64_t value)
{
    /* a tag points at nothing: the value is kept in the entry ("" passes the NULL check) */
    tg__ck_entry *e = add_one(c, "tg_checkpoint_add_tag", name, "", TG__CK_TAG);
    if (!e)
        return tg_last_status();
    e->tag = value;
    return TG_OK;
}

tg_status tg_checkpoint_add_floats(tg_checkpoint *c, const char *name, float *data, size_t n)
{
    static const char who[] = "tg_checkpoint_add_floats";
    tg__ck_entry *e;
    if (c && name && data && (n == 0 || n > SIZE_MAX / 4 / sizeof(float)))
        return tg__fail(TG_ERR_SIZE, "%s: \"%.*s\" has %zu floats, not 1..%zu", who,
                        TG_CHECKPOINT_NAME_MAX, name, n, SIZE_MAX / 4 / sizeof(float));
    if (!(e = add_one(c, who, name, data, TG__CK_F32)))
        return tg_last_status();
    e->rank = 1;
    e->shape[0] = n;
    e->n = n;
    e->f = data;
    return TG_OK;
}

/* ---- save ---------------------------------------------------------------------------- */

/* The bytes of the file, in order; the CRC runs over them as they leave the buffer. */
typedef struct {
    int fd;
    unsigned char *buf;
    size_t used;
    uint32_t crc;
    int err;   /* errno of the first failed write, 0 while all is well */
} writer;

static void flush(writer *w)
{
    size_t done = 0;
    if (w->err)
        return;
    w->crc = tg__crc32(w->crc, w->buf, w->used);
    while (done < w->used) {
        const ssize_t k = write(w->fd, w->buf + done, w->used - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            w->err = k < 0 ? errno : EIO;
            return;
        }
        done += (size_t)k;
    }
    w->used = 0;
}

/* Room for k (<= IO_BUF) bytes at w->buf + w->used. */
static unsigned char *room(writer *w, size_t k)
{
    if (IO_BUF - w->used < k)
        flush(w);
    if (w->err)
        w->used = 0;   /* keep writing into the buffer harmlessly; the error is reported */
    return w->buf + w->used;
}

static void put_u32(writer *w, uint32_t v)
{
    tg__put32(room(w, 4), v);
    w->used += 4;
}

static void put_u64(writer *w, uint64_t v)
{
    tg__put64(room(w, 8), v);
    w->used += 8;
}

static void put_entry(writer *w, const tg__ck_entry *e)
{
    put_u32(w, e->type);
    put_u32(w, (uint32_t)e->rank);
    put_u32(w, (uint32_t)e->name_len);
    memcpy(room(w, e->name_len), e->name, e->name_len);
    w->used += e->name_len;
    for (size_t k = 0; k < e->rank; k++)
        put_u64(w, e->shape[k]);
    switch (e->type) {
    case TG__CK_F32: {
        const float *f = tg__ck_floats(e);
        for (size_t i = 0; i < e->n; i++) {
            tg__put_f32(room(w, 4), f[i]);
            w->used += 4;
        }
        break;
    }
    case TG__CK_U64: put_u64(w, *e->u); break;
    case TG__CK_TAG: put_u64(w, e->tag); break;
    case TG__CK_RNG:
        put_u64(w, e->rng->state);
        put_u64(w, e->rng->inc);
        break;
    default: break;
    }
}

/* The file's length in bytes, or 0 when it does not fit in size_t. */
static size_t file_length(const tg_checkpoint *c)
{
    size_t total = TG__CK_HEADER + TG__CK_TRAILER;
    for (size_t i = 0; i < c->n; i++) {
        const tg__ck_entry *e = &c->e[i];
        const size_t head = TG__CK_ENTRY_HEAD + e->name_len + 8 * e->rank;
        const size_t body = tg__ck_payload_bytes(e);
        if (head > SIZE_MAX - total || body > SIZE_MAX - total - head)
            return 0;
        total += head + body;
    }
    return total;
}

/* Writes the image to fd; 0 or the errno of the failure. */
static int write_image(const tg_checkpoint *c, int fd, unsigned char *buf, size_t total)
{
    writer w = { fd, buf, 0, 0, 0 };
    unsigned char crc[4];
    memcpy(room(&w, 8), tg__ck_magic, 8);
    w.used += 8;
    put_u32(&w, TG__CK_VERSION);
    put_u32(&w, (uint32_t)c->n);
    put_u64(&w, total);
    for (size_t i = 0; i < c->n; i++)
        put_entry(&w, &c->e[i]);
    flush(&w);
    tg__put32(crc, w.crc);
    memcpy(room(&w, 4), crc, 4);   /* the buffer is empty after the flush above */
    w.used += 4;
    flush(&w);
    return w.err;
}

/* Syncs the folder holding path so the rename that put the file there is on disk. Some
 * file systems cannot sync a folder (EINVAL): the rename then is as durable as they make it. */
static int sync_folder(const char *path, char *dir)
{
    const char *slash = strrchr(path, '/');
    int fd, err = 0;
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    while (fsync(fd) != 0)
        if (errno != EINTR) {
            err = errno == EINVAL ? 0 : errno;
            break;
        }
    close(fd);
    return err;
}

tg_status tg_checkpoint_save(const tg_checkpoint *c, const char *path)
{
    static const char who[] = "tg_checkpoint_save";
    size_t total, plen;
    char *tmp, *dir;
    unsigned char *buf;
    void *block;
    int fd, err;
    tg_status s;
    if (!c || !path)
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, c ? "path" : "checkpoint");
    if ((plen = strlen(path)) == 0)
        return tg__fail(TG_ERR_IO, "%s: the path is empty", who);
    if ((s = tg__ck_check_layouts(c, who)) != TG_OK)
        return s;
    if ((total = file_length(c)) == 0 || plen > SIZE_MAX / 2 - IO_BUF - 64)
        return tg__fail(TG_ERR_SIZE, "%s: %s: the checkpoint's size overflows", who, path);
    /* One block: the I/O buffer, "<path>.tmp.<pid>" and the folder's name. */
    if (!(block = tg__alloc(IO_BUF + 2 * plen + 64)))
        return tg__fail(TG_ERR_NOMEM, "%s: %s: out of memory", who, path);
    buf = block;
    tmp = (char *)buf + IO_BUF;
    dir = tmp + plen + 40;
    snprintf(tmp, plen + 40, "%s.tmp.%ld", path, (long)getpid());

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        s = tg__fail(TG_ERR_IO, "%s: cannot create %s: %s", who, tmp, strerror(errno));
        tg__free(block);
        return s;
    }
    if ((err = write_image(c, fd, buf, total)) != 0)
        s = tg__fail(TG_ERR_IO, "%s: cannot write %s: %s", who, tmp, strerror(err));
    while (s == TG_OK && fsync(fd) != 0)
        if (errno != EINTR)
            s = tg__fail(TG_ERR_IO, "%s: cannot sync %s: %s", who, tmp, strerror(errno));
    if (close(fd) != 0 && s == TG_OK)
        s = tg__fail(TG_ERR_IO, "%s: cannot close %s: %s", who, tmp, strerror(errno));
    if (s == TG_OK && rename(tmp, path) != 0)
        s = tg__fail(TG_ERR_IO, "%s: cannot rename %s to %s: %s", who, tmp, path,
                     strerror(errno));
    if (s != TG_OK)
        unlink(tmp);   /* the target is untouched; leave no temporary behind either */
    else if ((err = sync_folder(path, dir)) != 0)
        s = tg__fail(TG_ERR_IO, "%s: cannot sync the folder of %s: %s", who, path,
                     strerror(err));
    tg__free(block);
    return s;
}

/* ---- load ---------------------------------------------------------------------------- */

tg_status tg_checkpoint_load_buffer(tg_checkpoint *c, const void *bytes, size_t len)
{
    static const char who[] = "tg_checkpoint_load_buffer";
    if (!c || (!bytes && len > 0))
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, c ? "bytes" : "checkpoint");
    return tg__ck_read_image(c, bytes, len, "<buffer>", who);
}

/* Reads the whole of fd (size bytes by fstat, fewer if it shrank meanwhile). */
static tg_status read_all(int fd, const char *path, unsigned char *buf, size_t size,
                          size_t *got)
{
    *got = 0;
    while (*got < size) {
        const ssize_t k = read(fd, buf + *got, size - *got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return tg__fail(TG_ERR_IO, "tg_checkpoint_load: cannot read %s: %s", path,
                            strerror(errno));
        if (k == 0)
            break;
        *got += (size_t)k;
    }
    return TG_OK;
}

tg_status tg_checkpoint_load(tg_checkpoint *c, const char *path)
{
    static const char who[] = "tg_checkpoint_load";
    struct stat st;
    unsigned char *buf;
    size_t size, got = 0;
    tg_status s;
    int fd;
    if (!c || !path)
        return tg__fail(TG_ERR_NULL, "%s: %s is NULL", who, c ? "path" : "checkpoint");
    /* Refuse a grown set before reading what may be a large file. */
    if ((s = tg__ck_check_layouts(c, who)) != TG_OK)
        return s;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return tg__fail(TG_ERR_IO, "%s: cannot open %s: %s", who, path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        s = tg__fail(TG_ERR_IO, "%s: cannot stat %s: %s", who, path, strerror(errno));
        close(fd);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return tg__fail(TG_ERR_IO, "%s: %s is not a regular file", who, path);
    }
    /* The allocation is sized by the file's real length, never by a field inside it. */
    if (st.st_size < 0 || (uintmax_t)st.st_size >= SIZE_MAX) {
        close(fd);
        return tg__fail(TG_ERR_SIZE, "%s: %s: %jd bytes do not fit in memory", who, path,
                        (intmax_t)st.st_size);
    }
    size = (size_t)st.st_size;
    if (!(buf = tg__alloc(size))) {
        close(fd);
        return tg__fail(TG_ERR_NOMEM, "%s: %s: out of memory for %zu bytes", who, path, size);
    }
    s = read_all(fd, path, buf, size, &got);
    close(fd);
    if (s == TG_OK)
        s = tg__ck_read_image(c, buf, got, path, who);
    tg__free(buf);
    return s;
}
