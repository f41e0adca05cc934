/* The checkpoint file format, version 1, shared by the writer (checkpoint.c) and the
 * reader (checkpoint_read.c). docs/checkpoint.md gives the byte layout:
 *
 *   header   magic[8] = 89 'T' 'G' 'C' 'K' 'P' 'T' '\n', u32 version, u32 entry count,
 *            u64 total length of the file in bytes
 *   entry    u32 type, u32 rank, u32 name length, name (no terminator), u64 dims[rank],
 *            payload (f32[numel] | u64 | u64 | u64 state, u64 inc)
 *   trailer  u32 CRC-32 (zlib's, ISO-HDLC) of every byte before it
 *
 * Every integer and float is little-endian whatever the host: bytes are written and read
 * one by one, never by casting a pointer. */
#ifndef TAPEGRAD_CKPT_FORMAT_H
#define TAPEGRAD_CKPT_FORMAT_H

#include <stdint.h>
#include <string.h>
#include "internal.h"

#define TG__CK_VERSION 1u
#define TG__CK_HEADER 24       /* magic, version, count, total length */
#define TG__CK_TRAILER 4       /* CRC-32 */
#define TG__CK_ENTRY_HEAD 12   /* type, rank, name length */

extern const unsigned char tg__ck_magic[8];

/* Entry types. A tag is stored like a counter but checked instead of restored. */
enum { TG__CK_F32 = 1, TG__CK_U64 = 2, TG__CK_TAG = 3, TG__CK_RNG = 4 };

/* One registered entry: what it is called, its shape, and the caller's object. */
typedef struct {
    char name[TG_CHECKPOINT_NAME_MAX + 1];
    size_t name_len;
    uint32_t type;
    size_t rank;                   /* 0 except for float tensors */
    size_t shape[TG_MAX_RANK];
    size_t n;                      /* floats in a float entry */
    tg_params *ps;                 /* parameter tensors: set, index, layout when added */
    size_t index, layout;
    float *f;                      /* add_floats */
    uint64_t *u;                   /* add_u64 */
    tg_pcg32 *rng;                 /* add_rng */
    uint64_t tag;                  /* add_tag */
    const unsigned char *found;    /* load: the entry's payload in the image, NULL until seen */
} tg__ck_entry;

struct tg_checkpoint {
    tg__ck_entry *e;
    size_t n, cap;
};

static inline void tg__put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void tg__put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t tg__get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t tg__get64(const unsigned char *p)
{
    return (uint64_t)tg__get32(p) | (uint64_t)tg__get32(p + 4) << 32;
}

static inline void tg__put_f32(unsigned char *p, float f)
{
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    tg__put32(p, bits);
}

static inline float tg__get_f32(const unsigned char *p)
{
    const uint32_t bits = tg__get32(p);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Payload bytes of a registered entry (fits: checked when it was added). */
size_t tg__ck_payload_bytes(const tg__ck_entry *e);
/* Where a float entry's data are now (a parameter set's blocks may have moved). */
float *tg__ck_floats(const tg__ck_entry *e);
/* TG_ERR_STATE when a registered parameter set has grown since it was added. */
tg_status tg__ck_check_layouts(const tg_checkpoint *c, const char *who);
/* CRC-32 continued over n bytes (zlib's crc32 in chunks its uInt length can take). */
uint32_t tg__crc32(uint32_t crc, const unsigned char *p, size_t n);
/* "float tensor", "counter", ... for messages. */
const char *tg__ck_type_name(uint32_t type);
/* Validates the whole image and only then restores every entry (checkpoint_read.c).
 * `file` names the source in messages, `who` the public function. */
tg_status tg__ck_read_image(tg_checkpoint *c, const unsigned char *p, size_t len,
                            const char *file, const char *who);

#endif
