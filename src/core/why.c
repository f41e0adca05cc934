/* Reasons for refusals that carry values: a rule's infer or forward formats its reason
 * into the tape's arena, so node->why can name the offending index, value or dimension
 * and still lives as long as the message needs it (tg_apply copies it at once). */
#include <stdio.h>
#include "internal.h"

const char *tg__why(tg_node *n, const char *fmt, ...)
{
    enum { LEN = 192 };
    char *buf = tg_node_scratch(n, LEN);
    va_list ap;
    if (!buf) {   /* out of memory: the unformatted reason still says what is wrong */
        n->why = fmt;
        return n->why;
    }
    va_start(ap, fmt);
    vsnprintf(buf, LEN, fmt, ap);
    va_end(ap);
    n->why = buf;
    return n->why;
}

tg_status tg__refuse_negative(tg_node *n)
{
    const float *x = n->in[0]->data;
    const size_t len = n->in[0]->size;
    for (size_t i = 0; i < len; i++)
        if (x[i] < 0.0f) {   /* -0 and NaN pass: -0 is 0, NaN propagates */
            tg__why(n, "element %zu is %g, below the domain x >= 0", i, (double)x[i]);
            return TG_ERR_DOMAIN;
        }
    return TG_OK;
}
