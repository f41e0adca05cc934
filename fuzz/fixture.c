/* The fuzzer's fixed registration (fixture.h). */
#include <string.h>
#include "fixture.h"

int fz_fixture_init(fz_fixture *f, fz_variant v)
{
    const size_t bias = v == FZ_RESHAPED ? 5 : 4;
    int ok;
    memset(f, 0, sizeof *f);
    f->ps = tg_params_new();
    f->c = tg_checkpoint_new();
    ok = f->ps && f->c && tg_params_add(f->ps, "enc.weight", 2, (size_t[]){ 3, 4 }) &&
         tg_params_add(f->ps, "enc.bias", 1, (size_t[]){ bias }) &&
         tg_checkpoint_add_params(f->c, "model.", f->ps) == TG_OK &&
         tg_checkpoint_add_tag(f->c, "format", v == FZ_OTHER_TAG ? 4 : 3) == TG_OK &&
         tg_checkpoint_add_u64(f->c, "step", &f->step) == TG_OK &&
         (v == FZ_NO_RNG || tg_checkpoint_add_rng(f->c, "rng", &f->rng) == TG_OK) &&
         tg_checkpoint_add_floats(f->c, "ema", f->floats, FZ_NFLOATS) == TG_OK &&
         (v != FZ_EXTRA || tg_checkpoint_add_u64(f->c, "epoch", &f->epoch) == TG_OK);
    if (!ok)
        fz_fixture_free(f);
    else
        fz_fixture_fill(f, 1);
    return ok;
}

void fz_fixture_free(fz_fixture *f)
{
    tg_checkpoint_free(f->c);
    tg_params_free(f->ps);
    memset(f, 0, sizeof *f);
}

void fz_fixture_fill(fz_fixture *f, uint32_t seed)
{
    tg_pcg32 g;
    float *d = tg_params_data(f->ps);
    tg_pcg32_seed(&g, seed, 5);
    for (size_t i = 0; i < tg_params_flat_size(f->ps); i++)
        d[i] = 0.0f;   /* the padding too: a load must leave it alone */
    for (size_t i = 0; i < tg_params_count(f->ps); i++) {
        tg_tensor *t = tg_params_at(f->ps, i);
        for (size_t k = 0; k < t->size; k++)
            t->data[k] = tg_pcg32_float(&g) - 0.5f;
    }
    f->step = 100 + seed;
    f->epoch = seed;
    tg_pcg32_seed(&f->rng, seed, 11);
    for (size_t k = 0; k < FZ_NFLOATS; k++)
        f->floats[k] = tg_pcg32_float(&g);
}

size_t fz_fixture_snapshot(const fz_fixture *f, unsigned char *out, size_t cap)
{
    const size_t flat = tg_params_flat_size(f->ps) * sizeof(float);
    const size_t n = flat + sizeof f->step + sizeof f->epoch + sizeof f->rng + sizeof f->floats;
    if (n > cap)
        return 0;
    memcpy(out, tg_params_data(f->ps), flat);
    memcpy(out + flat, &f->step, sizeof f->step);
    memcpy(out + flat + 8, &f->epoch, sizeof f->epoch);
    memcpy(out + flat + 16, &f->rng, sizeof f->rng);
    memcpy(out + flat + 16 + sizeof f->rng, f->floats, sizeof f->floats);
    return n;
}
