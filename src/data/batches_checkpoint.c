/* A batch iterator in a checkpoint: its position (epoch, batch within it, and the
 * generator as it was at the epoch's start) is restored, so a resumed run draws the same
 * permutation and the same batches; its configuration (rows, batch size, drop_last) is
 * checked, so a resume with another one fails instead of drawing other batches. The
 * permutation itself is not saved: it is drawn again from the restored generator. */
#include <stdio.h>
#include "batches.h"

tg_status tg_checkpoint_add_batches(tg_checkpoint *c, const char *name, tg_batches *b)
{
    static const char *const suffix[] = { ".epoch", ".batch", ".rng", ".n_rows",
                                          ".batch_size", ".drop_last" };
    char key[6][TG_CHECKPOINT_NAME_MAX + 1];
    if (!c || !name || !b)
        return tg__fail(TG_ERR_NULL, "tg_checkpoint_add_batches: %s is NULL",
                        !c ? "checkpoint" : !name ? "name" : "iterator");
    for (size_t i = 0; i < 6; i++) {
        const int n = snprintf(key[i], sizeof key[i], "%s%s", name, suffix[i]);
        if (n < 0 || (size_t)n >= sizeof key[i])
            return tg__fail(TG_ERR_PARAM, "tg_checkpoint_add_batches: name \"%s%s\" is longer "
                            "than %d characters", name, suffix[i], TG_CHECKPOINT_NAME_MAX);
    }
    /* a refusal of the calls below names them: put this function in front */
    if (tg_checkpoint_add_u64(c, key[0], &b->epoch) != TG_OK ||
        tg_checkpoint_add_u64(c, key[1], &b->batch) != TG_OK ||
        tg_checkpoint_add_rng(c, key[2], &b->rng) != TG_OK ||
        tg_checkpoint_add_tag(c, key[3], b->n_rows) != TG_OK ||
        tg_checkpoint_add_tag(c, key[4], b->batch_size) != TG_OK ||
        tg_checkpoint_add_tag(c, key[5], (uint64_t)b->drop_last) != TG_OK)
        return tg__fail_in("tg_checkpoint_add_batches");
    return TG_OK;
}
