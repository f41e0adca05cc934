/* libFuzzer harness for the IDX loader (run by .ci/fuzz_idx.sh).
 *
 * Every input goes through tg_idx_parse. An input that starts with the gzip magic also
 * goes through the loader's gzip path (tg__idx_decode, what tg_idx_load calls after
 * reading the file), so damaged gzip streams are explored. Any other input is also
 * compressed here (a small, fast deflate setting) and decoded through the gzip path,
 * which must agree with the direct parse: same status, same values. The library's
 * contract is checked on every result: on success the shape and values are coherent;
 * on error *out is all zero and a message is set. A violation aborts, which the fuzzer
 * reports as a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(tg_status s, const tg_idx *x)
{
    static const tg_idx zero;
    if (s != TG_OK) {
        if (memcmp(x, &zero, sizeof zero) != 0 || tg_last_status() != s || !tg_last_error()[0])
            abort();
        return;
    }
    size_t count = 1;
    if (x->rank < 1 || x->rank > TG_MAX_RANK || !x->data)
        abort();
    for (size_t i = 0; i < x->rank; i++)
        count *= x->dims[i];
    if (count != x->count)
        abort();
    for (size_t i = x->rank; i < TG_MAX_RANK; i++)
        if (x->dims[i] != 0)
            abort();
    /* every value was written: reading them all lets ASan and MSan see any gap */
    volatile float sink = 0.0f;
    for (size_t i = 0; i < x->count; i++)
        sink += x->data[i];
    (void)sink;
}

/* data as a gzip stream with the smallest window and memory level: quick per input.
 * Returns NULL when zlib cannot (no memory), which skips the comparison. */
static unsigned char *gzip(const uint8_t *data, size_t size, size_t *len)
{
    z_stream z;
    unsigned char *out;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 16 + 9, 1, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    *len = deflateBound(&z, (uLong)size);
    out = malloc(*len);
    z.next_in = (unsigned char *)(uintptr_t)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)*len;
    if (!out || deflate(&z, Z_FINISH) != Z_STREAM_END) {
        free(out);
        deflateEnd(&z);
        return NULL;
    }
    *len = z.total_out;
    deflateEnd(&z);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tg_idx direct, via;
    tg_status s = tg_idx_parse(data, size, &direct), t;
    unsigned char *gz;
    size_t gz_len;
    check(s, &direct);
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        t = tg__idx_decode(data, size, &via, "fuzz");
        check(t, &via);
        tg_idx_free(&via);
    } else if (size < (1u << 20) && (gz = gzip(data, size, &gz_len)) != NULL) {
        t = tg__idx_decode(gz, gz_len, &via, "fuzz");
        check(t, &via);
        if (t != s)
            abort();
        if (s == TG_OK && (via.count != direct.count || via.rank != direct.rank ||
                           memcmp(via.dims, direct.dims, sizeof via.dims) != 0 ||
                           memcmp(via.data, direct.data, via.count * sizeof(float)) != 0))
            abort();
        tg_idx_free(&via);
        free(gz);
    }
    tg_idx_free(&direct);
    return 0;
}
