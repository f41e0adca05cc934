/* Refusals passed up through a public function: when tg_dense_init fails because
 * tg_params_add did, the message should name the function the user called, with the
 * callee's reason after it ("tg_dense_init: fc1: tg_params_add: ..."). */
#include <stdio.h>
#include <string.h>
#include "internal.h"

tg_status tg__fail_in(const char *fmt, ...)
{
    char prefix[160], reason[512];
    const char *last = tg_last_error();
    size_t n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    n = strlen(prefix);
    if (strncmp(last, prefix, n) == 0 && last[n] == ':')   /* already names it */
        return tg_last_status();
    snprintf(reason, sizeof reason, "%s", last);   /* tg__fail overwrites `last` */
    return tg__fail(tg_last_status(), "%s: %s", prefix, reason);
}
