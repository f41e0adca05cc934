/* tg_checkpoint_add_optim (checkpoint.h): an optimizer as checkpoint entries, made only
 * of the generic calls, so the checkpoint needs no knowledge of optimizers:
 *   "<prefix>kind"      tag: TG_SGD, TG_ADAM or TG_ADAMW (checked on load)
 *   "<prefix>flat"      tag: the state buffers' length, the set's flat size (checked)
 *   "<prefix>step"      u64: updates done (the schedule and bias correction follow it)
 *   "<prefix>momentum"  floats: SGD's momentum buffer, when momentum > 0
 *   "<prefix>m", "<prefix>v"  floats: Adam's and AdamW's moments
 * A NULL prefix is the empty one. When an entry cannot be added, the ones before it stay
 * registered (the checkpoint has no call to remove one). */
#include <stdio.h>
#include "optim_state.h"

static tg_status entry_name(char *buf, const char *prefix, const char *field)
{
    const int n = snprintf(buf, TG_CHECKPOINT_NAME_MAX + 1, "%s%s", prefix, field);
    if (n < 0 || n > TG_CHECKPOINT_NAME_MAX)
        return tg__fail(TG_ERR_PARAM, "tg_checkpoint_add_optim: entry name \"%s%s\" is longer "
                        "than %d bytes", prefix, field, TG_CHECKPOINT_NAME_MAX);
    return TG_OK;
}

tg_status tg_checkpoint_add_optim(tg_checkpoint *c, const char *prefix, tg_optim *o)
{
    char kind[TG_CHECKPOINT_NAME_MAX + 1], flat[TG_CHECKPOINT_NAME_MAX + 1],
        step[TG_CHECKPOINT_NAME_MAX + 1], m[TG_CHECKPOINT_NAME_MAX + 1],
        v[TG_CHECKPOINT_NAME_MAX + 1];
    const int sgd = o && o->cfg.kind == TG_SGD;
    tg_status s;
    if (!c || !o)
        return tg__fail(TG_ERR_NULL, "tg_checkpoint_add_optim: %s is NULL",
                        c ? "optimizer" : "checkpoint");
    if (!prefix)
        prefix = "";
    /* every name is checked before the first entry is added */
    if ((s = entry_name(kind, prefix, "kind")) != TG_OK ||
        (s = entry_name(flat, prefix, "flat")) != TG_OK ||
        (s = entry_name(step, prefix, "step")) != TG_OK ||
        (s = entry_name(m, prefix, sgd ? "momentum" : "m")) != TG_OK ||
        (s = entry_name(v, prefix, "v")) != TG_OK)
        return s;
    /* a refusal of the calls below names them: put this function in front */
    if (tg_checkpoint_add_tag(c, kind, (uint64_t)o->cfg.kind) != TG_OK ||
        tg_checkpoint_add_tag(c, flat, (uint64_t)o->n) != TG_OK ||
        tg_checkpoint_add_u64(c, step, &o->steps) != TG_OK ||
        (o->m && tg_checkpoint_add_floats(c, m, o->m, o->n) != TG_OK) ||
        (o->v && tg_checkpoint_add_floats(c, v, o->v, o->n) != TG_OK))
        return tg__fail_in("tg_checkpoint_add_optim");
    return TG_OK;
}
