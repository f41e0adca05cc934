/* The optimizer's state, shared by optim.c and optim_checkpoint.c (library-internal). */
#ifndef TAPEGRAD_OPTIM_STATE_H
#define TAPEGRAD_OPTIM_STATE_H

#include <stdint.h>
#include "internal.h"

struct tg_optim {
    tg_optim_config cfg;
    tg_lr_schedule sched;
    tg_params *ps;          /* borrowed: the set must outlive the optimizer */
    size_t layout;          /* tg_params_layout(ps) at creation */
    size_t n;               /* tg_params_flat_size(ps) at creation: every buffer's length */
    uint64_t steps;         /* updates done; Adam's bias correction uses steps + 1 */
    double last_norm;       /* gradient norm before clipping, NaN when not measured */
    void *raw;              /* the one allocation behind the buffers */
    float *m;               /* SGD: momentum buffer v (NULL without momentum); Adam: m */
    float *v;               /* Adam: second moment v; SGD: NULL */
};

/* The checks of tg_lr_at and tg_optim_set_schedule (lr_schedule.c); `who` names the
 * public caller in the message. */
tg_status tg__lr_check(const char *who, const tg_lr_schedule *s, double lr);

#endif
