/* Writes the checkpoint fuzzer's seed corpus into DIR (run by
 * `.ci/fuzz_checkpoint.sh --corpus`; the output is committed in fuzz/corpus/checkpoint/):
 * valid checkpoints of the fuzzer's registration, files of other registrations (an extra
 * entry, a missing one, another shape, another tag) and damaged ones (truncated, a
 * flipped byte, a later version, wrong magic, empty). Deterministic: the same bytes on
 * every run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "fixture.h"

static const char *dir;

static void path_of(char *p, size_t cap, const char *name)
{
    snprintf(p, cap, "%s/%s", dir, name);
}

static int save(fz_variant v, uint32_t seed, const char *name)
{
    fz_fixture f;
    char p[4096];
    tg_status s;
    if (!fz_fixture_init(&f, v))
        return 0;
    fz_fixture_fill(&f, seed);
    path_of(p, sizeof p, name);
    s = tg_checkpoint_save(f.c, p);
    fz_fixture_free(&f);
    if (s != TG_OK)
        fprintf(stderr, "make_corpus: %s\n", tg_last_error());
    return s == TG_OK;
}

static unsigned char *slurp(const char *name, size_t *n)
{
    char p[4096];
    FILE *f;
    unsigned char *b = malloc(1 << 16);
    path_of(p, sizeof p, name);
    if (!b || !(f = fopen(p, "rb")))
        exit(1);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void spill(const char *name, const unsigned char *b, size_t n)
{
    char p[4096];
    FILE *f;
    path_of(p, sizeof p, name);
    if (!(f = fopen(p, "wb")) || fwrite(b, 1, n, f) != n)
        exit(1);
    fclose(f);
}

/* A damaged copy of valid.ckpt: byte `at` XORed with x, cut to `len`, CRC fixed or not. */
static void damaged(const char *name, size_t at, unsigned char x, size_t len, int fix_crc)
{
    size_t n;
    unsigned char *b = slurp("valid.ckpt", &n);
    b[at] ^= x;
    if (fix_crc) {
        const uLong c = crc32(0L, b, (uInt)(n - 4));
        for (int i = 0; i < 4; i++)
            b[n - 4 + i] = (unsigned char)(c >> (8 * i));
    }
    spill(name, b, len < n ? len : n);
    free(b);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus DIR\n");
        return 2;
    }
    dir = argv[1];
    if (!save(FZ_STANDARD, 1, "valid.ckpt") || !save(FZ_STANDARD, 2, "valid-2.ckpt") ||
        !save(FZ_EXTRA, 1, "extra-entry.ckpt") || !save(FZ_NO_RNG, 1, "missing-entry.ckpt") ||
        !save(FZ_RESHAPED, 1, "reshaped.ckpt") || !save(FZ_OTHER_TAG, 1, "other-tag.ckpt"))
        return 1;
    damaged("truncated.ckpt", 0, 0, 100, 0);
    damaged("flipped-byte.ckpt", 60, 0x10, (size_t)-1, 0);
    damaged("version-2.ckpt", 8, 0x03, (size_t)-1, 1);
    damaged("wrong-magic.ckpt", 1, 0x20, (size_t)-1, 0);
    spill("empty.ckpt", (const unsigned char *)"", 0);
    return 0;
}
