/* Resuming: a run saved after N steps (model, optimizer state and step count, the data
 * generator) and loaded into a fresh model and optimizer continues bit for bit as the
 * uninterrupted run does; an optimizer of another kind or size is refused on load.
 * (Listed in Makefile.am once the checkpoint's generic calls, branch ckpt, are merged.) */
#define _POSIX_C_SOURCE 200809L
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tapegrad.h>

typedef struct {
    tg_params *ps;
    tg_mlp mlp;
    tg_optim *opt;
    tg_tape *tape;
    tg_pcg32 data;   /* the batches' generator, saved with the run */
} run;

static void run_new(run *r, const tg_optim_config *cfg, uint64_t model_seed)
{
    const size_t sizes[4] = { 2, 16, 16, 2 };
    const tg_lr_schedule s = { .kind = TG_LR_COSINE, .warmup_steps = 5, .total_steps = 60,
                               .min_lr = 1e-4 };
    tg_pcg32 init;
    tg_pcg32_seed(&init, model_seed, 1);
    tg_pcg32_seed(&r->data, 2024, 2);
    r->ps = tg_params_new();
    r->tape = tg_tape_new();
    cr_assert(r->ps && r->tape);
    cr_assert_eq(tg_mlp_init(&r->mlp, r->ps, "mlp", sizes, 4, tg_rule_find("silu"), NULL, &init),
                 TG_OK, "%s", tg_last_error());
    r->opt = tg_optim_new(r->ps, cfg);
    cr_assert_not_null(r->opt, "%s", tg_last_error());
    cr_assert_eq(tg_optim_set_schedule(r->opt, &s), TG_OK);
}

static void run_free(run *r)
{
    tg_optim_free(r->opt);
    tg_tape_free(r->tape);
    tg_params_free(r->ps);
}

/* One step on a fresh batch of two blobs drawn from r->data. */
static void run_step(run *r)
{
    tg_tensor *x = tg_tape_const(r->tape, 2, (size_t[]){ 16, 2 });
    tg_tensor *y = tg_tape_const(r->tape, 1, (size_t[]){ 16 }), *loss;
    cr_assert(x && y);
    for (size_t i = 0; i < 16; i++) {
        const float c = (float)(i % 2);
        y->data[i] = c;
        x->data[2 * i] = 2.0f * c - 1.0f + 0.5f * (2.0f * tg_pcg32_float(&r->data) - 1.0f);
        x->data[2 * i + 1] = 0.5f * (2.0f * tg_pcg32_float(&r->data) - 1.0f);
    }
    loss = tg_softmax_cross_entropy(r->tape, tg_mlp_forward(r->tape, &r->mlp, x), y);
    cr_assert(loss && tg_backward(r->tape, loss, NULL) == TG_OK, "%s", tg_tape_error(r->tape));
    cr_assert_eq(tg_optim_step(r->opt), TG_OK, "%s", tg_last_error());
    tg_params_zero_grad(r->ps);
    tg_tape_reset(r->tape);
}

static tg_checkpoint *checkpoint_of(run *r)
{
    tg_checkpoint *c = tg_checkpoint_new();
    cr_assert_not_null(c, "%s", tg_last_error());
    cr_assert_eq(tg_checkpoint_add_params(c, "model.", r->ps), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_checkpoint_add_optim(c, "optim.", r->opt), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_checkpoint_add_rng(c, "data_rng", &r->data), TG_OK, "%s", tg_last_error());
    return c;
}

static void temp_path(char *path, size_t len)
{
    int fd;
    snprintf(path, len, "/tmp/tg_optim_resume_XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp");
    close(fd);
}

/* Train 20 steps, save, train 25 more: the reference. A second model (another seed, so
 * every byte must come from the file) loads the save and trains the 25 steps too. */
static void expect_resume_is_exact(const tg_optim_config *cfg)
{
    run a, b;
    tg_checkpoint *ca, *cb;
    char path[64];
    temp_path(path, sizeof path);
    run_new(&a, cfg, 1);
    for (int k = 0; k < 20; k++)
        run_step(&a);
    ca = checkpoint_of(&a);
    cr_assert_eq(tg_checkpoint_save(ca, path), TG_OK, "%s", tg_last_error());
    for (int k = 0; k < 25; k++)
        run_step(&a);

    run_new(&b, cfg, 99);
    cb = checkpoint_of(&b);
    cr_assert_eq(tg_checkpoint_load(cb, path), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_optim_steps(b.opt), 20);
    for (int k = 0; k < 25; k++)
        run_step(&b);
    cr_expect_eq(tg_optim_steps(b.opt), tg_optim_steps(a.opt));
    cr_expect_eq(tg_optim_lr(b.opt), tg_optim_lr(a.opt));
    cr_expect_arr_eq(tg_params_data(b.ps), tg_params_data(a.ps),
                     tg_params_flat_size(a.ps) * sizeof(float), "kind %d", (int)cfg->kind);
    tg_checkpoint_free(ca);
    tg_checkpoint_free(cb);
    run_free(&a);
    run_free(&b);
    remove(path);
}

Test(optim_resume, adam_resumed_run_equals_the_uninterrupted_one)
{
    tg_optim_config cfg = tg_optim_defaults(TG_ADAM, 1e-2);
    cfg.clip_norm = 1.0;
    expect_resume_is_exact(&cfg);
}

Test(optim_resume, adamw_and_sgd_momentum_resume_exactly)
{
    tg_optim_config w = tg_optim_defaults(TG_ADAMW, 1e-2), s = tg_optim_defaults(TG_SGD, 0.1);
    s.momentum = 0.9;
    s.nesterov = 1;
    expect_resume_is_exact(&w);
    expect_resume_is_exact(&s);
}

Test(optim_resume, another_kind_of_optimizer_is_refused)
{
    tg_optim_config adam = tg_optim_defaults(TG_ADAM, 1e-2), adamw = adam;
    run a, b;
    tg_checkpoint *ca, *cb;
    char path[64];
    float before[1024];
    adamw.kind = TG_ADAMW;
    temp_path(path, sizeof path);
    run_new(&a, &adam, 1);
    run_step(&a);
    ca = checkpoint_of(&a);
    cr_assert_eq(tg_checkpoint_save(ca, path), TG_OK, "%s", tg_last_error());
    run_new(&b, &adamw, 2);
    cr_assert_leq(tg_params_flat_size(b.ps), 1024);
    memcpy(before, tg_params_data(b.ps), tg_params_flat_size(b.ps) * sizeof(float));
    cb = checkpoint_of(&b);
    cr_expect_eq(tg_checkpoint_load(cb, path), TG_ERR_MISMATCH);
    cr_expect(strstr(tg_last_error(), "optim.kind"), "%s", tg_last_error());
    cr_expect_arr_eq(tg_params_data(b.ps), before, tg_params_flat_size(b.ps) * sizeof(float),
                     "nothing restored on a refused load");
    cr_expect_eq(tg_optim_steps(b.opt), 0);
    tg_checkpoint_free(ca);
    tg_checkpoint_free(cb);
    run_free(&a);
    run_free(&b);
    remove(path);
}

Test(optim_resume, add_optim_refusals)
{
    tg_optim_config cfg = tg_optim_defaults(TG_ADAM, 1e-2);
    tg_checkpoint *c = tg_checkpoint_new();
    char prefix[TG_CHECKPOINT_NAME_MAX];
    run r;
    run_new(&r, &cfg, 1);
    memset(prefix, 'p', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = '\0';   /* 126 bytes: "kind" does not fit after it */
    cr_expect_eq(tg_checkpoint_add_optim(NULL, "o.", r.opt), TG_ERR_NULL);
    cr_expect_eq(tg_checkpoint_add_optim(c, "o.", NULL), TG_ERR_NULL);
    cr_expect(strstr(tg_last_error(), "optimizer is NULL"));
    cr_expect_eq(tg_checkpoint_add_optim(c, prefix, r.opt), TG_ERR_PARAM);
    cr_expect(strstr(tg_last_error(), "is longer than 127 bytes"));
    tg_checkpoint_free(c);
    run_free(&r);
}
