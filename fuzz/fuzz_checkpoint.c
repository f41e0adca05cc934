/* libFuzzer harness for the checkpoint loader (.ci/fuzz_checkpoint.sh builds and runs it).
 *
 * Every input goes to tg_checkpoint_load_buffer against the fixed registration of
 * fixture.h twice: as it is, and (when it is long enough for a header) with its length
 * field and CRC-32 repaired, so that mutations get past the two checks that would
 * otherwise stop nearly all of them and reach the entry parser. Any crash, out-of-bounds
 * read, leak or undefined behaviour is reported by the sanitizers; beyond those the
 * harness aborts when a refused load changed a registered byte, returned a status a
 * loader should not, or left no message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "fixture.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fz_fixture fx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!fz_fixture_init(&fx, FZ_STANDARD)) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", tg_last_error());
        abort();
    }
    return 0;
}

static int expected_refusal(tg_status s)
{
    return s == TG_ERR_FORMAT || s == TG_ERR_VERSION || s == TG_ERR_TRUNCATED ||
           s == TG_ERR_CORRUPT || s == TG_ERR_MISMATCH || s == TG_ERR_SHAPE;
}

static void check_one(const uint8_t *data, size_t size)
{
    static unsigned char before[1024], after[1024];
    size_t n;
    tg_status s;
    fz_fixture_fill(&fx, 1);
    n = fz_fixture_snapshot(&fx, before, sizeof before);
    s = tg_checkpoint_load_buffer(fx.c, data, size);
    if (s == TG_OK)
        return;
    if (!expected_refusal(s) || tg_last_status() != s || tg_last_error()[0] == '\0') {
        fprintf(stderr, "fuzz_checkpoint: status %d (%s), message \"%s\"\n", (int)s,
                tg_strerror(s), tg_last_error());
        abort();
    }
    if (n == 0 || fz_fixture_snapshot(&fx, after, sizeof after) != n ||
        memcmp(before, after, n) != 0) {
        fprintf(stderr, "fuzz_checkpoint: a refused load (%s) changed the model\n",
                tg_last_error());
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *fixed;
    uLong crc;
    check_one(data, size);
    if (size < 28 || !(fixed = malloc(size)))
        return 0;
    memcpy(fixed, data, size);
    for (int i = 0; i < 8; i++)   /* total length, little-endian */
        fixed[16 + i] = (unsigned char)((uint64_t)size >> (8 * i));
    crc = crc32(0L, fixed, (uInt)(size - 4));
    for (int i = 0; i < 4; i++)
        fixed[size - 4 + i] = (unsigned char)(crc >> (8 * i));
    check_one(fixed, size);
    free(fixed);
    return 0;
}
