/* Error reporting: a status code plus a message naming the call and the shapes, kept
 * per thread so concurrent training loops do not overwrite each other's errors. */
#include <stdio.h>
#include "internal.h"

static _Thread_local tg_status last_status;
static _Thread_local char last_message[512];

const char *tg_strerror(tg_status s)
{
    switch (s) {
    case TG_OK: return "success";
    case TG_ERR_NULL: return "a required pointer is NULL";
    case TG_ERR_ARITY: return "wrong number of inputs or parameters";
    case TG_ERR_SHAPE: return "shapes do not fit the rule";
    case TG_ERR_RANK: return "rank above TG_MAX_RANK";
    case TG_ERR_SIZE: return "zero dimension or element count overflow";
    case TG_ERR_PARAM: return "rule parameter outside its domain";
    case TG_ERR_DOMAIN: return "tensor data outside the rule's domain";
    case TG_ERR_NOMEM: return "out of memory";
    case TG_ERR_NOT_FOUND: return "no such rule";
    case TG_ERR_EXISTS: return "a rule of that name exists";
    case TG_ERR_FULL: return "rule registry is full";
    case TG_ERR_TAPE: return "tensor or record not on this tape";
    case TG_ERR_STATE: return "call not valid in this state";
    case TG_ERR_IO: return "input/output error";
    case TG_ERR_FORMAT: return "not a file of the expected format";
    case TG_ERR_VERSION: return "unsupported format version";
    case TG_ERR_TRUNCATED: return "file is truncated";
    case TG_ERR_CORRUPT: return "checksum mismatch: file is corrupted";
    case TG_ERR_MISMATCH: return "file does not match the model";
    case TG_ERR_NONFINITE: return "a rule produced NaN or infinity";
    }
    return "unknown status";
}

const char *tg_last_error(void)
{
    return last_message;
}

tg_status tg_last_status(void)
{
    return last_status;
}

tg_status tg__fail(tg_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_message, sizeof last_message, fmt, ap);
    va_end(ap);
    last_status = s;
    return s;
}
