/* The IDX loader's in-memory entry point, shared by idx.c and the fuzzer. */
#ifndef TAPEGRAD_DATA_IDX_H
#define TAPEGRAD_DATA_IDX_H

#include "internal.h"

/* Decodes a file image: gzip-compressed (detected by its magic 1f 8b) or plain. Messages
 * start with `who` ("tg_idx_load: <path>"). Errors and *out as tg_idx_load. */
tg_status tg__idx_decode(const void *bytes, size_t len, tg_idx *out, const char *who);

#endif
