/* Every refusal has a message: for each public function of the model, training, data,
 * probability, local-gradient and typed-operation APIs, at least one bad call (a NULL
 * where a pointer is needed, a value out of range, a non-finite parameter, a size whose
 * product overflows), checking
 *   - the returned status, NULL, NaN or 0,
 *   - that tg_last_status() is that status (or the one named, for NULL/NaN/0 returns),
 *   - that tg_last_error() is a new message (not the sentinel a deliberate earlier
 *     failure left) and begins with the name of the function called ("tg_params_add:")
 *     or, for a typed operation, of its rule ("linear:"), which the tape records too.
 * A successful call does not clear the last error (it is errno-like), so each bad call
 * is preceded by sentinel(), a refusal of a function outside these APIs.
 *
 * Functions with no refusal at all are listed where their API is tested, with the reason. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

static char sentinel_text[512];

/* A deliberate refusal, so that a message left unchanged by the call under test shows. */
static void sentinel(void)
{
    cr_assert_null(tg_tensor_new((tg_kind)99, 0, NULL));
    cr_assert_neq(tg_last_status(), TG_OK);
    snprintf(sentinel_text, sizeof sentinel_text, "%s", tg_last_error());
    cr_assert(sentinel_text[0] != '\0');
}

/* The last error is `want` (any failure for ANY) and a new message starting "name:". */
#define ANY ((tg_status)-1)
static void check_message(const char *call, tg_status want, const char *name)
{
    const char *m = tg_last_error();
    const size_t n = strlen(name);
    if (want == ANY)
        cr_expect_neq(tg_last_status(), TG_OK, "%s: last status is TG_OK", call);
    else
        cr_expect_eq(tg_last_status(), want, "%s: last status %d (%s), expected %d (%s)", call,
                     (int)tg_last_status(), tg_strerror(tg_last_status()), (int)want,
                     tg_strerror(want));
    cr_expect(strcmp(m, sentinel_text) != 0, "%s: no message was recorded", call);
    cr_expect(strncmp(m, name, n) == 0 && m[n] == ':', "%s: message \"%s\" does not begin "
              "with \"%s:\"", call, m, name);
}

/* A call returning a status. */
#define REFUSES(want, name, call)                                                          \
    do {                                                                                   \
        tg_status got_;                                                                    \
        sentinel();                                                                        \
        got_ = (call);                                                                     \
        cr_expect_eq(got_, want, "%s returned %d (%s), expected %d", #call, (int)got_,     \
                     tg_strerror(got_), (int)(want));                                      \
        check_message(#call, want, name);                                                  \
    } while (0)

/* A call returning a pointer: NULL. */
#define REFUSES_NULL(want, name, call)                                                     \
    do {                                                                                   \
        sentinel();                                                                        \
        cr_expect_null((void *)(call), "%s did not return NULL", #call);                  \
        check_message(#call, want, name);                                                  \
    } while (0)

/* A call returning a double (or float): NaN. */
#define REFUSES_NAN(want, name, call)                                                      \
    do {                                                                                   \
        double got_;                                                                       \
        sentinel();                                                                        \
        got_ = (double)(call);                                                             \
        cr_expect(isnan(got_), "%s returned %g, not NaN", #call, got_);                    \
        check_message(#call, want, name);                                                  \
    } while (0)

/* A call returning a count or draw: 0. */
#define REFUSES_ZERO(want, name, call)                                                     \
    do {                                                                                   \
        sentinel();                                                                        \
        cr_expect_eq((call), 0, "%s did not return 0", #call);                             \
        check_message(#call, want, name);                                                  \
    } while (0)

/* A void call: only the message can tell. */
#define REFUSES_VOID(want, name, call)                                                     \
    do {                                                                                   \
        sentinel();                                                                        \
        call;                                                                              \
        check_message(#call, want, name);                                                  \
    } while (0)

/* An allocator that refuses everything, for the calls whose only refusal is memory. */
static void *no_alloc(size_t n, void *ctx)
{
    (void)n;
    (void)ctx;
    return NULL;
}

static void no_free(void *p, void *ctx)
{
    (void)ctx;
    cr_assert_null(p, "nothing was allocated, so nothing is freed");
}

static const tg_allocator refuse_all = { no_alloc, no_free, NULL };

static tg_tensor *tensor(tg_kind kind, size_t rank, const size_t *shape, float fill)
{
    tg_tensor *t = tg_tensor_new(kind, rank, shape);
    cr_assert_not_null(t);
    for (size_t i = 0; i < t->size; i++)
        t->data[i] = fill;
    return t;
}

/* ---- nn.h ------------------------------------------------------------------------------
 * No refusal: tg_params_free (NULL is ignored, as free does). */
Test(refusals, params_have_messages)
{
    tg_params *ps = tg_params_new(), *other = tg_params_new(), *empty = tg_params_new();
    const size_t huge[2] = { SIZE_MAX / 2, 4 }, five[5] = { 1, 1, 1, 1, 1 };
    tg_tensor *w;
    cr_assert(ps && other && empty);
    w = tg_params_add(ps, "w", 2, (size_t[]){ 2, 3 });
    cr_assert_not_null(w);
    cr_assert_not_null(tg_params_add(other, "v", 1, (size_t[]){ 4 }));

    tg_set_allocator(&refuse_all);
    REFUSES_NULL(TG_ERR_NOMEM, "tg_params_new", tg_params_new());
    tg_set_allocator(NULL);

    REFUSES_NULL(TG_ERR_NULL, "tg_params_add", tg_params_add(NULL, "b", 1, (size_t[]){ 2 }));
    REFUSES_NULL(TG_ERR_NULL, "tg_params_add", tg_params_add(ps, NULL, 1, (size_t[]){ 2 }));
    REFUSES_NULL(TG_ERR_PARAM, "tg_params_add", tg_params_add(ps, "", 1, (size_t[]){ 2 }));
    REFUSES_NULL(TG_ERR_EXISTS, "tg_params_add", tg_params_add(ps, "w", 1, (size_t[]){ 2 }));
    REFUSES_NULL(TG_ERR_SIZE, "tg_params_add", tg_params_add(ps, "big", 2, huge));
    REFUSES_NULL(TG_ERR_SIZE, "tg_params_add", tg_params_add(ps, "z", 1, (size_t[]){ 0 }));
    REFUSES_NULL(TG_ERR_RANK, "tg_params_add", tg_params_add(ps, "r5", 5, five));
    REFUSES_NULL(TG_ERR_NULL, "tg_params_add", tg_params_add(ps, "s", 2, NULL));
    cr_expect_eq(tg_params_count(ps), 1, "a refused add leaves the set as it was");

    REFUSES_ZERO(TG_ERR_NULL, "tg_params_count", tg_params_count(NULL));
    REFUSES_NULL(TG_ERR_PARAM, "tg_params_at", tg_params_at(ps, 1));
    REFUSES_NULL(TG_ERR_NULL, "tg_params_at", tg_params_at(NULL, 0));
    REFUSES_NULL(TG_ERR_PARAM, "tg_params_name", tg_params_name(ps, SIZE_MAX));
    REFUSES_NULL(TG_ERR_NOT_FOUND, "tg_params_find", tg_params_find(ps, "nope"));
    REFUSES_NULL(TG_ERR_NULL, "tg_params_find", tg_params_find(ps, NULL));
    REFUSES_ZERO(TG_ERR_PARAM, "tg_params_offset", tg_params_offset(ps, 9));
    REFUSES_ZERO(TG_ERR_NULL, "tg_params_numel", tg_params_numel(NULL));
    REFUSES_ZERO(TG_ERR_NULL, "tg_params_flat_size", tg_params_flat_size(NULL));
    REFUSES_NULL(TG_ERR_NULL, "tg_params_data", tg_params_data(NULL));
    REFUSES_NULL(TG_ERR_STATE, "tg_params_data", tg_params_data(empty));
    REFUSES_NULL(TG_ERR_NULL, "tg_params_grad", tg_params_grad(NULL));
    REFUSES_NULL(TG_ERR_STATE, "tg_params_grad", tg_params_grad(empty));
    REFUSES_ZERO(TG_ERR_NULL, "tg_params_layout", tg_params_layout(NULL));
    REFUSES_VOID(TG_ERR_NULL, "tg_params_zero_grad", tg_params_zero_grad(NULL));
    REFUSES_NAN(TG_ERR_NULL, "tg_params_grad_norm", tg_params_grad_norm(NULL));

    REFUSES_NAN(TG_ERR_NULL, "tg_params_clip_grad_norm", tg_params_clip_grad_norm(NULL, 1.0));
    REFUSES_NAN(TG_ERR_PARAM, "tg_params_clip_grad_norm", tg_params_clip_grad_norm(ps, NAN));
    REFUSES_NAN(TG_ERR_PARAM, "tg_params_clip_grad_norm", tg_params_clip_grad_norm(ps, 0.0));
    w->grad[0] = INFINITY;   /* a non-finite norm: returned as it is, gradients untouched */
    w->grad[1] = 2.0f;
    sentinel();
    cr_expect(isinf(tg_params_clip_grad_norm(ps, 1.0)));
    check_message("tg_params_clip_grad_norm(inf gradient)", TG_ERR_NONFINITE,
                  "tg_params_clip_grad_norm");
    cr_expect_eq(w->grad[1], 2.0f);

    REFUSES(TG_ERR_NULL, "tg_params_copy", tg_params_copy(ps, NULL));
    REFUSES(TG_ERR_MISMATCH, "tg_params_copy", tg_params_copy(ps, other));
    REFUSES(TG_ERR_MISMATCH, "tg_params_ema", tg_params_ema(other, ps, 0.5));
    REFUSES(TG_ERR_PARAM, "tg_params_ema", tg_params_ema(ps, ps, NAN));
    REFUSES(TG_ERR_PARAM, "tg_params_ema", tg_params_ema(ps, ps, 1.5));
    REFUSES(TG_ERR_NULL, "tg_params_ema", tg_params_ema(NULL, ps, 0.5));

    tg_params_free(NULL);   /* ignored, as free(NULL) is */
    tg_params_free(ps);
    tg_params_free(other);
    tg_params_free(empty);
}

Test(refusals, initializers_have_messages)
{
    tg_tensor *t = tensor(TG_PARAM, 2, (size_t[]){ 3, 4 }, 7.0f);
    tg_tensor *scalar = tensor(TG_PARAM, 0, NULL, 7.0f);
    tg_pcg32 rng, before;
    size_t fi, fo;
    tg_pcg32_seed(&rng, 1, 2);
    before = rng;

    REFUSES(TG_ERR_NULL, "tg_fans", tg_fans(NULL, &fi, &fo));
    REFUSES(TG_ERR_SHAPE, "tg_fans", tg_fans(scalar, &fi, &fo));
    REFUSES(TG_ERR_NULL, "tg_init_zeros", tg_init_zeros(NULL));
    REFUSES(TG_ERR_NULL, "tg_init_constant", tg_init_constant(NULL, 1.0f));
    REFUSES(TG_ERR_PARAM, "tg_init_constant", tg_init_constant(t, NAN));
    REFUSES(TG_ERR_PARAM, "tg_init_constant", tg_init_constant(t, -INFINITY));
    REFUSES(TG_ERR_PARAM, "tg_init_uniform", tg_init_uniform(t, 1.0f, 0.0f, &rng));
    REFUSES(TG_ERR_PARAM, "tg_init_uniform", tg_init_uniform(t, 0.0f, INFINITY, &rng));
    REFUSES(TG_ERR_PARAM, "tg_init_uniform", tg_init_uniform(t, NAN, 1.0f, &rng));
    REFUSES(TG_ERR_NULL, "tg_init_uniform", tg_init_uniform(t, 0.0f, 1.0f, NULL));
    REFUSES(TG_ERR_PARAM, "tg_init_normal", tg_init_normal(t, 0.0f, -1.0f, &rng));
    REFUSES(TG_ERR_PARAM, "tg_init_normal", tg_init_normal(t, NAN, 1.0f, &rng));
    REFUSES(TG_ERR_NULL, "tg_init_normal", tg_init_normal(NULL, 0.0f, 1.0f, &rng));
    REFUSES(TG_ERR_PARAM, "tg_init_xavier_uniform", tg_init_xavier_uniform(t, NAN, &rng));
    REFUSES(TG_ERR_SHAPE, "tg_init_xavier_uniform", tg_init_xavier_uniform(scalar, 1.0, &rng));
    REFUSES(TG_ERR_PARAM, "tg_init_xavier_normal", tg_init_xavier_normal(t, -1.0, &rng));
    REFUSES(TG_ERR_NULL, "tg_init_xavier_normal", tg_init_xavier_normal(t, 1.0, NULL));
    REFUSES(TG_ERR_PARAM, "tg_init_he_uniform", tg_init_he_uniform(t, INFINITY, &rng));
    REFUSES(TG_ERR_NULL, "tg_init_he_uniform", tg_init_he_uniform(NULL, 0.0, &rng));
    REFUSES(TG_ERR_SHAPE, "tg_init_he_normal", tg_init_he_normal(scalar, 0.0, &rng));
    REFUSES(TG_ERR_PARAM, "tg_init_he_normal", tg_init_he_normal(t, -0.5, &rng));

    /* every refusal came before a draw: the tensor and the generator are untouched */
    for (size_t i = 0; i < t->size; i++)
        cr_expect_eq(t->data[i], 7.0f);
    cr_expect(rng.state == before.state && rng.inc == before.inc);
    tg_tensor_free(t);
    tg_tensor_free(scalar);
}

Test(refusals, layers_have_messages)
{
    tg_params *ps = tg_params_new();
    tg_pcg32 rng;
    tg_dense d, d2, blank;   /* d2 takes the refusals: a failed init leaves it zeroed */
    tg_mlp m, blank_mlp;
    const tg_dense_opts bad_init = { 0, (tg_init_kind)42, TG_INIT_DEFAULT };
    const size_t sizes[3] = { 2, 4, 1 }, zero[3] = { 2, 0, 1 }, huge[2] = { SIZE_MAX / 2, 4 };
    tg_tensor *x = tensor(TG_CONST, 2, (size_t[]){ 5, 2 }, 0.5f);
    tg_tape *t;
    cr_assert_not_null(ps);
    tg_pcg32_seed(&rng, 3, 4);
    memset(&blank, 0, sizeof blank);
    memset(&blank_mlp, 0, sizeof blank_mlp);
    cr_assert_eq(tg_dense_init(&d, ps, "fc", 2, 3, NULL, &rng), TG_OK);

    REFUSES(TG_ERR_NULL, "tg_dense_init", tg_dense_init(NULL, ps, "a", 2, 3, NULL, &rng));
    REFUSES(TG_ERR_NULL, "tg_dense_init", tg_dense_init(&d2, ps, NULL, 2, 3, NULL, &rng));
    REFUSES(TG_ERR_NULL, "tg_dense_init", tg_dense_init(&d2, ps, "a", 2, 3, NULL, NULL));
    REFUSES(TG_ERR_SIZE, "tg_dense_init", tg_dense_init(&d2, ps, "a", 0, 3, NULL, &rng));
    REFUSES(TG_ERR_PARAM, "tg_dense_init", tg_dense_init(&d2, ps, "a", 2, 3, &bad_init, &rng));
    REFUSES(TG_ERR_EXISTS, "tg_dense_init", tg_dense_init(&d2, ps, "fc", 2, 3, NULL, &rng));
    /* the product overflows inside tg_params_add: the message names both */
    REFUSES(TG_ERR_SIZE, "tg_dense_init", tg_dense_init(&d2, ps, "big", SIZE_MAX / 2, 4, NULL,
                                                        &rng));
    cr_expect(strstr(tg_last_error(), "big") && strstr(tg_last_error(), "tg_params_add"),
              "%s", tg_last_error());

    REFUSES(TG_ERR_NULL, "tg_mlp_init", tg_mlp_init(NULL, ps, "m", sizes, 3, NULL, NULL, &rng));
    REFUSES(TG_ERR_PARAM, "tg_mlp_init", tg_mlp_init(&m, ps, "m", sizes, 1, NULL, NULL, &rng));
    REFUSES(TG_ERR_SIZE, "tg_mlp_init", tg_mlp_init(&m, ps, "m", zero, 3, tg_rule_find("relu"),
                                                    NULL, &rng));
    REFUSES(TG_ERR_NULL, "tg_mlp_init", tg_mlp_init(&m, ps, "m", sizes, 3, NULL, NULL, &rng));
    REFUSES(TG_ERR_ARITY, "tg_mlp_init", tg_mlp_init(&m, ps, "m", sizes, 3, tg_rule_find("add"),
                                                     NULL, &rng));
    REFUSES(TG_ERR_SIZE, "tg_mlp_init", tg_mlp_init(&m, ps, "h", huge, 2, NULL, NULL, &rng));
    cr_expect(strstr(tg_last_error(), "tg_dense_init: h.0: tg_params_add"), "%s",
              tg_last_error());
    cr_expect_eq(m.n_layers, 0, "a failed mlp is marked unusable");

    /* forward refusals are the thread's last error and the tape's first */
    t = tg_tape_new();
    REFUSES_NULL(TG_ERR_NULL, "tg_dense_forward", tg_dense_forward(t, NULL, x));
    cr_expect_eq(tg_tape_status(t), TG_ERR_NULL);
    tg_tape_reset(t);
    REFUSES_NULL(TG_ERR_STATE, "tg_dense_forward", tg_dense_forward(t, &blank, x));
    cr_expect_eq(tg_tape_status(t), TG_ERR_STATE);
    tg_tape_reset(t);
    REFUSES_NULL(TG_ERR_NULL, "linear", tg_dense_forward(t, &d, NULL));
    tg_tape_reset(t);
    REFUSES_NULL(TG_ERR_NULL, "tg_mlp_forward", tg_mlp_forward(t, NULL, x));
    cr_expect_eq(tg_tape_status(t), TG_ERR_NULL);
    tg_tape_reset(t);
    REFUSES_NULL(TG_ERR_STATE, "tg_mlp_forward", tg_mlp_forward(t, &blank_mlp, x));
    tg_tape_reset(t);
    cr_assert_eq(tg_mlp_init(&m, ps, "m", sizes, 3, tg_rule_find("tanh"), NULL, &rng), TG_OK);
    m.act = NULL;   /* a struct changed by hand */
    REFUSES_NULL(TG_ERR_STATE, "tg_mlp_forward", tg_mlp_forward(t, &m, x));
    cr_expect_eq(tg_tape_status(t), TG_ERR_STATE);
    REFUSES_NULL(TG_ERR_STATE, "tg_dense_forward", tg_dense_forward(NULL, &blank, x));

    tg_tape_free(t);
    tg_tensor_free(x);
    tg_params_free(ps);
}

/* ---- optim.h ---------------------------------------------------------------------------
 * No refusal: tg_optim_defaults builds a value (its fields are checked by tg_optim_new,
 * tested here), tg_optim_free ignores NULL. */
Test(refusals, optim_have_messages)
{
    tg_params *ps = tg_params_new(), *empty = tg_params_new();
    tg_optim_config cfg = tg_optim_defaults(TG_ADAM, 1e-3), bad;
    tg_lr_schedule sched;
    tg_optim *o;
    tg_tensor *w;
    cr_assert(ps && empty);
    w = tg_params_add(ps, "w", 1, (size_t[]){ 3 });
    cr_assert_not_null(w);

    memset(&sched, 0, sizeof sched);
    REFUSES_NAN(TG_ERR_NULL, "tg_lr_at", tg_lr_at(NULL, 0.1, 0));
    REFUSES_NAN(TG_ERR_PARAM, "tg_lr_at", tg_lr_at(&sched, NAN, 0));
    REFUSES_NAN(TG_ERR_PARAM, "tg_lr_at", tg_lr_at(&sched, -1.0, 0));
    sched.kind = TG_LR_STEP;   /* step_size 0 */
    REFUSES_NAN(TG_ERR_PARAM, "tg_lr_at", tg_lr_at(&sched, 0.1, 5));
    sched.step_size = 10;
    sched.gamma = NAN;
    REFUSES_NAN(TG_ERR_PARAM, "tg_lr_at", tg_lr_at(&sched, 0.1, 5));
    sched.kind = TG_LR_COSINE;   /* total_steps 0 <= warmup_steps 0 */
    REFUSES_NAN(TG_ERR_PARAM, "tg_lr_at", tg_lr_at(&sched, 0.1, 5));
    sched.total_steps = 100;
    sched.min_lr = 1.0;   /* above lr */
    REFUSES_NAN(TG_ERR_PARAM, "tg_lr_at", tg_lr_at(&sched, 0.1, 5));
    sched.kind = (tg_lr_kind)7;
    REFUSES_NAN(TG_ERR_PARAM, "tg_lr_at", tg_lr_at(&sched, 0.1, 5));

    REFUSES_NULL(TG_ERR_NULL, "tg_optim_new", tg_optim_new(NULL, &cfg));
    REFUSES_NULL(TG_ERR_NULL, "tg_optim_new", tg_optim_new(ps, NULL));
    REFUSES_NULL(TG_ERR_STATE, "tg_optim_new", tg_optim_new(empty, &cfg));
    bad = tg_optim_defaults((tg_optim_kind)9, 0.1);
    REFUSES_NULL(TG_ERR_PARAM, "tg_optim_new", tg_optim_new(ps, &bad));
    bad = tg_optim_defaults(TG_SGD, NAN);
    REFUSES_NULL(TG_ERR_PARAM, "tg_optim_new", tg_optim_new(ps, &bad));
    cr_expect(strstr(tg_last_error(), "lr"), "%s", tg_last_error());
    bad = tg_optim_defaults(TG_ADAMW, 0.1);
    bad.beta2 = 1.0;
    REFUSES_NULL(TG_ERR_PARAM, "tg_optim_new", tg_optim_new(ps, &bad));
    bad = tg_optim_defaults(TG_ADAM, 0.1);
    bad.eps = 0.0;
    REFUSES_NULL(TG_ERR_PARAM, "tg_optim_new", tg_optim_new(ps, &bad));
    bad = tg_optim_defaults(TG_SGD, 0.1);
    bad.nesterov = 1;   /* without momentum */
    REFUSES_NULL(TG_ERR_PARAM, "tg_optim_new", tg_optim_new(ps, &bad));
    bad = tg_optim_defaults(TG_SGD, 0.1);
    bad.clip_norm = INFINITY;
    REFUSES_NULL(TG_ERR_PARAM, "tg_optim_new", tg_optim_new(ps, &bad));
    tg_set_allocator(&refuse_all);
    REFUSES_NULL(TG_ERR_NOMEM, "tg_optim_new", tg_optim_new(ps, &cfg));
    tg_set_allocator(NULL);

    cfg.clip_norm = 1.0;
    o = tg_optim_new(ps, &cfg);
    cr_assert_not_null(o);
    REFUSES(TG_ERR_NULL, "tg_optim_set_schedule", tg_optim_set_schedule(NULL, &sched));
    REFUSES(TG_ERR_NULL, "tg_optim_set_schedule", tg_optim_set_schedule(o, NULL));
    sched.kind = TG_LR_STEP;
    sched.gamma = 2.0;
    REFUSES(TG_ERR_PARAM, "tg_optim_set_schedule", tg_optim_set_schedule(o, &sched));
    REFUSES(TG_ERR_NULL, "tg_optim_step", tg_optim_step(NULL));
    w->grad[0] = NAN;
    w->data[0] = 1.0f;
    REFUSES(TG_ERR_NONFINITE, "tg_optim_step", tg_optim_step(o));
    cr_expect_eq(w->data[0], 1.0f, "a skipped step leaves the parameters alone");
    cr_expect_eq(tg_optim_steps(o), 0);
    w->grad[0] = 0.0f;
    cr_assert_not_null(tg_params_add(ps, "late", 1, (size_t[]){ 2 }));
    REFUSES(TG_ERR_STATE, "tg_optim_step", tg_optim_step(o));
    REFUSES_ZERO(TG_ERR_NULL, "tg_optim_steps", tg_optim_steps(NULL));
    REFUSES_NAN(TG_ERR_NULL, "tg_optim_lr", tg_optim_lr(NULL));
    REFUSES_NAN(TG_ERR_NULL, "tg_optim_last_grad_norm", tg_optim_last_grad_norm(NULL));

    tg_optim_free(NULL);
    tg_optim_free(o);
    tg_params_free(ps);
    tg_params_free(empty);
}

/* ---- checkpoint.h ----------------------------------------------------------------------
 * No refusal: tg_checkpoint_free ignores NULL. */
Test(refusals, checkpoints_have_messages)
{
    tg_checkpoint *c = tg_checkpoint_new();
    tg_params *ps = tg_params_new(), *empty = tg_params_new();
    tg_optim_config cfg = tg_optim_defaults(TG_SGD, 0.1);
    tg_optim *o;
    tg_pcg32 rng;
    uint64_t counter = 0;
    float f[3] = { 0 };
    char long_prefix[TG_CHECKPOINT_NAME_MAX + 2];
    static const unsigned char garbage[8] = "garbage";
    cr_assert(c && ps && empty);
    cr_assert_not_null(tg_params_add(ps, "w", 1, (size_t[]){ 3 }));
    o = tg_optim_new(ps, &cfg);
    cr_assert_not_null(o);
    tg_pcg32_seed(&rng, 1, 1);
    memset(long_prefix, 'p', sizeof long_prefix - 1);
    long_prefix[sizeof long_prefix - 1] = '\0';

    tg_set_allocator(&refuse_all);
    REFUSES_NULL(TG_ERR_NOMEM, "tg_checkpoint_new", tg_checkpoint_new());
    tg_set_allocator(NULL);

    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_params", tg_checkpoint_add_params(NULL, "", ps));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_params", tg_checkpoint_add_params(c, "", NULL));
    REFUSES(TG_ERR_STATE, "tg_checkpoint_add_params", tg_checkpoint_add_params(c, "", empty));
    REFUSES(TG_ERR_PARAM, "tg_checkpoint_add_params",
            tg_checkpoint_add_params(c, long_prefix, ps));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_optim", tg_checkpoint_add_optim(c, "o.", NULL));
    REFUSES(TG_ERR_PARAM, "tg_checkpoint_add_optim",
            tg_checkpoint_add_optim(c, long_prefix, o));
    cr_assert_eq(tg_checkpoint_add_u64(c, "o.kind", &counter), TG_OK);
    /* the clash is found by tg_checkpoint_add_tag: the message names both */
    REFUSES(TG_ERR_EXISTS, "tg_checkpoint_add_optim", tg_checkpoint_add_optim(c, "o.", o));
    cr_expect(strstr(tg_last_error(), "tg_checkpoint_add_tag") != NULL, "%s", tg_last_error());
    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_rng", tg_checkpoint_add_rng(c, "rng", NULL));
    REFUSES(TG_ERR_EXISTS, "tg_checkpoint_add_rng", tg_checkpoint_add_rng(c, "o.kind", &rng));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_u64", tg_checkpoint_add_u64(c, NULL, &counter));
    REFUSES(TG_ERR_PARAM, "tg_checkpoint_add_u64", tg_checkpoint_add_u64(c, "", &counter));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_tag", tg_checkpoint_add_tag(NULL, "t", 1));
    REFUSES(TG_ERR_PARAM, "tg_checkpoint_add_tag", tg_checkpoint_add_tag(c, long_prefix, 1));
    REFUSES(TG_ERR_SIZE, "tg_checkpoint_add_floats", tg_checkpoint_add_floats(c, "f", f, 0));
    REFUSES(TG_ERR_SIZE, "tg_checkpoint_add_floats",
            tg_checkpoint_add_floats(c, "f", f, SIZE_MAX / 2));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_floats", tg_checkpoint_add_floats(c, "f", NULL, 3));

    REFUSES(TG_ERR_NULL, "tg_checkpoint_save", tg_checkpoint_save(NULL, "x.ckpt"));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_save", tg_checkpoint_save(c, NULL));
    REFUSES(TG_ERR_IO, "tg_checkpoint_save", tg_checkpoint_save(c, ""));
    REFUSES(TG_ERR_IO, "tg_checkpoint_save", tg_checkpoint_save(c, "/nonexistent-dir/x.ckpt"));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_load", tg_checkpoint_load(c, NULL));
    REFUSES(TG_ERR_IO, "tg_checkpoint_load", tg_checkpoint_load(c, "/nonexistent-dir/x.ckpt"));
    REFUSES(TG_ERR_IO, "tg_checkpoint_load", tg_checkpoint_load(c, "/"));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_load_buffer", tg_checkpoint_load_buffer(NULL, f, 4));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_load_buffer", tg_checkpoint_load_buffer(c, NULL, 4));
    REFUSES(TG_ERR_FORMAT, "tg_checkpoint_load_buffer",
            tg_checkpoint_load_buffer(c, garbage, sizeof garbage));
    REFUSES(TG_ERR_TRUNCATED, "tg_checkpoint_load_buffer", tg_checkpoint_load_buffer(c, "", 0));

    tg_checkpoint_free(NULL);
    tg_checkpoint_free(c);
    tg_optim_free(o);
    tg_params_free(ps);
    tg_params_free(empty);
}

/* ---- data.h, progress.h ----------------------------------------------------------------
 * No refusal: tg_batches_free and tg_idx_free ignore NULL (and a zeroed tg_idx). */
Test(refusals, data_have_messages)
{
    float rows[4 * 2] = { 0 }, out[4 * 2];
    tg_batches *b = tg_batches_new(4, 2, 0, 7), *big = tg_batches_new(1u << 20, 8, 0, 7);
    tg_batches *bare = tg_batches_new(4, 2, 0, 7);
    tg_checkpoint *c = tg_checkpoint_new();
    tg_tape *t = tg_tape_new();
    tg_idx idx;
    static const unsigned char bad_magic[8] = { 1, 2, 8, 1, 0, 0, 0, 1 };
    static const unsigned char huge_dims[20] = { 0, 0, 8, 4, 0xff, 0xff, 0xff, 0xff,
                                                 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                 0xff, 0xff, 0xff, 0xff, 0xff };
    cr_assert(b && big && bare && c && t);

    REFUSES_NULL(TG_ERR_SIZE, "tg_batches_new", tg_batches_new(0, 2, 0, 1));
    REFUSES_NULL(TG_ERR_SIZE, "tg_batches_new", tg_batches_new(4, 0, 0, 1));
    REFUSES_NULL(TG_ERR_SIZE, "tg_batches_new", tg_batches_new(4, 5, 1, 1));
    REFUSES_NULL(TG_ERR_SIZE, "tg_batches_new", tg_batches_new((size_t)UINT32_MAX + 1, 2, 0, 1));
    tg_set_allocator(&refuse_all);
    REFUSES_NULL(TG_ERR_NOMEM, "tg_batches_new", tg_batches_new(4, 2, 0, 1));
    tg_set_allocator(NULL);

    REFUSES(TG_ERR_NULL, "tg_batches_add", tg_batches_add(NULL, rows, 2, NULL));
    REFUSES(TG_ERR_NULL, "tg_batches_add", tg_batches_add(b, NULL, 2, NULL));
    REFUSES(TG_ERR_SIZE, "tg_batches_add", tg_batches_add(b, rows, 0, NULL));
    REFUSES(TG_ERR_SIZE, "tg_batches_add", tg_batches_add(big, rows, SIZE_MAX / 8, NULL));
    for (int i = 0; i < TG_BATCHES_MAX_ARRAYS; i++)
        cr_assert_eq(tg_batches_add(b, rows, 2, NULL), TG_OK);
    REFUSES(TG_ERR_FULL, "tg_batches_add", tg_batches_add(b, rows, 2, NULL));

    REFUSES_ZERO(TG_ERR_NULL, "tg_batches_next", tg_batches_next(NULL));
    REFUSES_ZERO(TG_ERR_STATE, "tg_batches_next", tg_batches_next(bare));
    /* before the first batch: no current batch, refused on the tape too */
    REFUSES_NULL(TG_ERR_STATE, "tg_batches_tensor", tg_batches_tensor(b, 0, t));
    cr_expect_eq(tg_tape_status(t), TG_ERR_STATE);
    tg_tape_reset(t);
    REFUSES(TG_ERR_STATE, "tg_batches_fill", tg_batches_fill(b, 0, out));
    cr_assert_eq(tg_batches_next(b), 2);
    REFUSES_NULL(TG_ERR_NULL, "tg_batches_tensor", tg_batches_tensor(b, 0, NULL));
    REFUSES_NULL(TG_ERR_PARAM, "tg_batches_tensor", tg_batches_tensor(b, 9, t));
    cr_expect_eq(tg_tape_status(t), TG_ERR_PARAM);
    tg_tape_reset(t);
    REFUSES_NULL(TG_ERR_NULL, "tg_batches_tensor", tg_batches_tensor(NULL, 0, t));
    REFUSES(TG_ERR_NULL, "tg_batches_fill", tg_batches_fill(b, 0, NULL));
    REFUSES(TG_ERR_NULL, "tg_batches_fill", tg_batches_fill(NULL, 0, out));
    REFUSES(TG_ERR_PARAM, "tg_batches_fill", tg_batches_fill(b, TG_BATCHES_MAX_ARRAYS, out));
    REFUSES_ZERO(TG_ERR_NULL, "tg_batches_epoch", tg_batches_epoch(NULL));
    REFUSES_ZERO(TG_ERR_NULL, "tg_batches_per_epoch", tg_batches_per_epoch(NULL));

    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_batches", tg_checkpoint_add_batches(c, NULL, b));
    REFUSES(TG_ERR_NULL, "tg_checkpoint_add_batches", tg_checkpoint_add_batches(c, "it", NULL));
    cr_assert_eq(tg_checkpoint_add_tag(c, "it.epoch", 1), TG_OK);
    REFUSES(TG_ERR_EXISTS, "tg_checkpoint_add_batches", tg_checkpoint_add_batches(c, "it", b));

    REFUSES(TG_ERR_NULL, "tg_idx_load", tg_idx_load(NULL, &idx));
    REFUSES(TG_ERR_NULL, "tg_idx_load", tg_idx_load("x.idx", NULL));
    REFUSES(TG_ERR_IO, "tg_idx_load", tg_idx_load("/nonexistent-dir/x.idx", &idx));
    cr_expect(idx.data == NULL && idx.count == 0, "on error *out is all zero");
    REFUSES(TG_ERR_IO, "tg_idx_load", tg_idx_load("/", &idx));
    REFUSES(TG_ERR_NULL, "tg_idx_parse", tg_idx_parse(NULL, 4, &idx));
    REFUSES(TG_ERR_NULL, "tg_idx_parse", tg_idx_parse(bad_magic, sizeof bad_magic, NULL));
    REFUSES(TG_ERR_FORMAT, "tg_idx_parse", tg_idx_parse(bad_magic, sizeof bad_magic, &idx));
    REFUSES(TG_ERR_SIZE, "tg_idx_parse", tg_idx_parse(huge_dims, sizeof huge_dims, &idx));
    REFUSES(TG_ERR_TRUNCATED, "tg_idx_parse", tg_idx_parse(huge_dims, 3, &idx));
    tg_idx_free(NULL);
    tg_idx_free(&idx);

    tg_batches_free(NULL);
    tg_batches_free(b);
    tg_batches_free(big);
    tg_batches_free(bare);
    tg_checkpoint_free(c);
    tg_tape_free(t);
}

/* The progress functions return nothing: a NULL tg_progress leaves its message. */
Test(refusals, progress_has_messages)
{
    REFUSES_VOID(TG_ERR_NULL, "tg_progress_start", tg_progress_start(NULL, "x", 0, 10));
    REFUSES_VOID(TG_ERR_NULL, "tg_progress_update", tg_progress_update(NULL, 1, 0.5));
    REFUSES_VOID(TG_ERR_NULL, "tg_progress_end", tg_progress_end(NULL));
}

/* ---- pcg32.h, prob.h -------------------------------------------------------------------
 * No refusal: tg_ddpm_schedule_free ignores NULL and an all-zero schedule. */
Test(refusals, random_numbers_have_messages)
{
    tg_pcg32 rng;
    float out[3];
    double outd[3];
    tg_pcg32_seed(&rng, 5, 6);
    REFUSES_VOID(TG_ERR_NULL, "tg_pcg32_seed", tg_pcg32_seed(NULL, 1, 2));
    REFUSES_ZERO(TG_ERR_NULL, "tg_pcg32_next", tg_pcg32_next(NULL));
    REFUSES_ZERO(TG_ERR_NULL, "tg_pcg32_bounded", tg_pcg32_bounded(NULL, 10));
    REFUSES_NAN(TG_ERR_NULL, "tg_pcg32_float", tg_pcg32_float(NULL));
    REFUSES_NAN(TG_ERR_NULL, "tg_pcg32_double", tg_pcg32_double(NULL));
    REFUSES(TG_ERR_NULL, "tg_normal_fill", tg_normal_fill(NULL, out, 3));
    REFUSES(TG_ERR_NULL, "tg_normal_fill", tg_normal_fill(&rng, NULL, 3));
    REFUSES(TG_ERR_NULL, "tg_normal_fill_double", tg_normal_fill_double(&rng, NULL, 3));
    REFUSES(TG_ERR_NULL, "tg_normal_fill_double", tg_normal_fill_double(NULL, outd, 3));
}

Test(refusals, forward_noising_has_messages)
{
    const float x[3] = { 1, 2, 3 };
    float out[3], z[3] = { 0 };
    double mean[3], ld;
    tg_pcg32 rng;
    tg_forward_kernel k, good = { 0.5, 0.5 }, bad_k = { 1.0, -1.0 };
    tg_forward_noising law, hand;
    tg_pcg32_seed(&rng, 5, 6);
    cr_assert_eq(tg_forward_noising_make(1.0, 0.0, x, 3, &law), TG_OK);

    REFUSES(TG_ERR_PARAM, "tg_forward_kernel_make", tg_forward_kernel_make(NAN, 1.0, &k));
    REFUSES(TG_ERR_PARAM, "tg_forward_kernel_make", tg_forward_kernel_make(1.0, -1.0, &k));
    REFUSES(TG_ERR_PARAM, "tg_forward_kernel_make", tg_forward_kernel_make(1.0, INFINITY, &k));
    REFUSES(TG_ERR_NULL, "tg_forward_kernel_make", tg_forward_kernel_make(1.0, 1.0, NULL));
    REFUSES(TG_ERR_PARAM, "tg_forward_kernel_compose",
            tg_forward_kernel_compose(good, bad_k, &k));
    REFUSES(TG_ERR_PARAM, "tg_forward_kernel_compose",
            tg_forward_kernel_compose((tg_forward_kernel){ 1e300, 0.0 },
                                      (tg_forward_kernel){ 1e300, 0.0 }, &k));
    REFUSES(TG_ERR_NULL, "tg_forward_kernel_compose", tg_forward_kernel_compose(good, good, NULL));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_make", tg_forward_noising_make(1, 1, NULL, 3, &law));
    REFUSES(TG_ERR_PARAM, "tg_forward_noising_make", tg_forward_noising_make(NAN, 1, x, 3, &law));
    REFUSES(TG_ERR_PARAM, "tg_forward_kernel_apply", tg_forward_kernel_apply(bad_k, x, 3, &law));
    REFUSES(TG_ERR_NULL, "tg_forward_kernel_apply", tg_forward_kernel_apply(good, x, 3, NULL));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_map", tg_forward_noising_map(1, 1, x, NULL, 3, out));
    REFUSES(TG_ERR_PARAM, "tg_forward_noising_map",
            tg_forward_noising_map(1, -0.5, x, z, 3, out));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_sample",
            tg_forward_noising_sample(NULL, 1, 1, x, 3, out));
    REFUSES(TG_ERR_PARAM, "tg_forward_noising_sample",
            tg_forward_noising_sample(&rng, INFINITY, 1, x, 3, out));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_draw", tg_forward_noising_draw(NULL, &rng, out));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_draw", tg_forward_noising_draw(&law, NULL, out));
    REFUSES(TG_ERR_STATE, "tg_forward_noising_log_density",
            tg_forward_noising_log_density(&law, x, &ld));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_log_density",
            tg_forward_noising_log_density(&law, NULL, &ld));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_mean", tg_forward_noising_mean(NULL, mean));
    REFUSES_NAN(TG_ERR_NULL, "tg_forward_noising_variance", tg_forward_noising_variance(NULL));

    /* a law filled by hand is checked as tg_forward_noising_make would have */
    hand = (tg_forward_noising){ 1.0, 1.0, NULL, 3 };
    REFUSES(TG_ERR_NULL, "tg_forward_noising_draw", tg_forward_noising_draw(&hand, &rng, out));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_mean", tg_forward_noising_mean(&hand, mean));
    REFUSES(TG_ERR_NULL, "tg_forward_noising_log_density",
            tg_forward_noising_log_density(&hand, x, &ld));
    hand = (tg_forward_noising){ NAN, 1.0, x, 3 };
    REFUSES(TG_ERR_PARAM, "tg_forward_noising_mean", tg_forward_noising_mean(&hand, mean));
    REFUSES(TG_ERR_PARAM, "tg_forward_noising_log_density",
            tg_forward_noising_log_density(&hand, x, &ld));
    hand = (tg_forward_noising){ 1.0, -2.0, x, 3 };
    REFUSES_NAN(TG_ERR_PARAM, "tg_forward_noising_variance", tg_forward_noising_variance(&hand));
    REFUSES(TG_ERR_PARAM, "tg_forward_noising_draw", tg_forward_noising_draw(&hand, &rng, out));
}

Test(refusals, schedules_have_messages)
{
    tg_ddpm_schedule s, empty;
    tg_forward_kernel k;
    tg_ddpm_posterior_coef pc;
    const double betas[3] = { 0.1, 1.0, 0.2 }, fine[3] = { 0.1, 0.2, 0.3 };
    memset(&empty, 0, sizeof empty);

    REFUSES(TG_ERR_NULL, "tg_ddpm_schedule_from_betas", tg_ddpm_schedule_from_betas(3, NULL, &s));
    REFUSES(TG_ERR_NULL, "tg_ddpm_schedule_from_betas", tg_ddpm_schedule_from_betas(3, fine, NULL));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_schedule_from_betas",
            tg_ddpm_schedule_from_betas(3, betas, &s));
    cr_expect(s.beta == NULL && s.T == 0, "on failure the schedule is all zero");
    REFUSES(TG_ERR_PARAM, "tg_ddpm_schedule_from_betas", tg_ddpm_schedule_from_betas(0, fine, &s));
    REFUSES(TG_ERR_SIZE, "tg_ddpm_schedule_from_betas",
            tg_ddpm_schedule_from_betas(SIZE_MAX, fine, &s));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_schedule_linear", tg_ddpm_schedule_linear(10, 0.0, 0.02, &s));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_schedule_linear", tg_ddpm_schedule_linear(10, 1e-4, NAN, &s));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_schedule_linear", tg_ddpm_schedule_linear(1, 1e-4, 0.02, &s));
    REFUSES(TG_ERR_SIZE, "tg_ddpm_schedule_linear",
            tg_ddpm_schedule_linear(SIZE_MAX / 16, 1e-4, 0.02, &s));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_schedule_cosine", tg_ddpm_schedule_cosine(0, &s));
    REFUSES(TG_ERR_NULL, "tg_ddpm_schedule_cosine", tg_ddpm_schedule_cosine(10, NULL));
    tg_ddpm_schedule_free(NULL);
    tg_ddpm_schedule_free(&empty);

    cr_assert_eq(tg_ddpm_schedule_linear(10, 1e-4, 0.02, &s), TG_OK);
    REFUSES(TG_ERR_PARAM, "tg_ddpm_step", tg_ddpm_step(&s, 0, &k));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_step", tg_ddpm_step(&s, 11, &k));
    REFUSES(TG_ERR_STATE, "tg_ddpm_step", tg_ddpm_step(&empty, 1, &k));
    REFUSES(TG_ERR_NULL, "tg_ddpm_q", tg_ddpm_q(NULL, 1, &k));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_q", tg_ddpm_q(&s, SIZE_MAX, &k));
    REFUSES(TG_ERR_NULL, "tg_ddpm_posterior", tg_ddpm_posterior(&s, 1, NULL));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_posterior", tg_ddpm_posterior(&s, 0, &pc));
    tg_ddpm_schedule_free(&s);
}

/* ---- diffusion.h ------------------------------------------------------------------------ */
Test(refusals, diffusion_has_messages)
{
    const float t[2] = { 1.0f, NAN }, xt[4] = { 0 }, eps[4] = { 0 };
    float out[16];
    size_t steps[4];
    double d;
    tg_ddpm_schedule s, empty;
    tg_ddim_coef c;
    tg_pcg32 rng;
    memset(&empty, 0, sizeof empty);
    tg_pcg32_seed(&rng, 9, 9);
    cr_assert_eq(tg_ddpm_schedule_linear(10, 1e-4, 0.02, &s), TG_OK);

    REFUSES(TG_ERR_SIZE, "tg_time_embedding", tg_time_embedding(t, 1, 0, 1e4, out));
    REFUSES(TG_ERR_SHAPE, "tg_time_embedding", tg_time_embedding(t, 1, 3, 1e4, out));
    REFUSES(TG_ERR_SIZE, "tg_time_embedding", tg_time_embedding(t, SIZE_MAX / 2, 4, 1e4, out));
    REFUSES(TG_ERR_PARAM, "tg_time_embedding", tg_time_embedding(t, 1, 4, NAN, out));
    REFUSES(TG_ERR_PARAM, "tg_time_embedding", tg_time_embedding(t, 1, 4, -1.0, out));
    REFUSES(TG_ERR_DOMAIN, "tg_time_embedding", tg_time_embedding(t, 2, 4, 1e4, out));
    REFUSES(TG_ERR_NULL, "tg_time_embedding", tg_time_embedding(t, 1, 4, 1e4, NULL));

    REFUSES(TG_ERR_NULL, "tg_ddpm_sample_step",
            tg_ddpm_sample_step(NULL, 2, TG_DDPM_SIGMA_BETA, xt, eps, 4, &rng, out));
    REFUSES(TG_ERR_STATE, "tg_ddpm_sample_step",
            tg_ddpm_sample_step(&empty, 2, TG_DDPM_SIGMA_BETA, xt, eps, 4, &rng, out));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_sample_step",
            tg_ddpm_sample_step(&s, 0, TG_DDPM_SIGMA_BETA, xt, eps, 4, &rng, out));
    REFUSES(TG_ERR_PARAM, "tg_ddpm_sample_step",
            tg_ddpm_sample_step(&s, 2, (tg_ddpm_sigma)7, xt, eps, 4, &rng, out));
    REFUSES(TG_ERR_NULL, "tg_ddpm_sample_step",
            tg_ddpm_sample_step(&s, 2, TG_DDPM_SIGMA_BETA, xt, eps, 4, NULL, out));
    REFUSES(TG_ERR_NULL, "tg_ddpm_sample_step",
            tg_ddpm_sample_step(&s, 2, TG_DDPM_SIGMA_BETA, xt, NULL, 4, &rng, out));

    REFUSES(TG_ERR_PARAM, "tg_ddim_coefs", tg_ddim_coefs(&s, 3, 3, 0.0, &c));
    REFUSES(TG_ERR_PARAM, "tg_ddim_coefs", tg_ddim_coefs(&s, 3, 1, NAN, &c));
    REFUSES(TG_ERR_PARAM, "tg_ddim_coefs", tg_ddim_coefs(&s, 3, 1, -1.0, &c));
    REFUSES(TG_ERR_PARAM, "tg_ddim_coefs", tg_ddim_coefs(&s, 3, 2, 1e9, &c));
    REFUSES(TG_ERR_PARAM, "tg_ddim_coefs", tg_ddim_coefs(&s, 11, 1, 0.0, &c));
    REFUSES(TG_ERR_NULL, "tg_ddim_coefs", tg_ddim_coefs(&s, 3, 1, 0.0, NULL));
    REFUSES(TG_ERR_STATE, "tg_ddim_coefs", tg_ddim_coefs(&empty, 3, 1, 0.0, &c));

    REFUSES(TG_ERR_PARAM, "tg_ddim_sample_step",
            tg_ddim_sample_step(&s, 3, 1, INFINITY, xt, eps, 4, &rng, out));
    REFUSES(TG_ERR_NULL, "tg_ddim_sample_step",
            tg_ddim_sample_step(&s, 3, 1, 0.0, NULL, eps, 4, &rng, out));
    REFUSES(TG_ERR_NULL, "tg_ddim_sample_step",
            tg_ddim_sample_step(&s, 3, 1, 0.5, xt, eps, 4, NULL, out));
    REFUSES(TG_ERR_PARAM, "tg_ddim_sample_step",
            tg_ddim_sample_step(&s, 3, 2, 1e9, xt, eps, 4, &rng, out));

    REFUSES(TG_ERR_PARAM, "tg_ddim_timesteps", tg_ddim_timesteps(10, 0, steps));
    REFUSES(TG_ERR_PARAM, "tg_ddim_timesteps", tg_ddim_timesteps(2, 3, steps));
    REFUSES(TG_ERR_SIZE, "tg_ddim_timesteps",
            tg_ddim_timesteps((size_t)1 << 40, (size_t)1 << 40, steps));
    REFUSES(TG_ERR_NULL, "tg_ddim_timesteps", tg_ddim_timesteps(10, 3, NULL));

    REFUSES(TG_ERR_NULL, "tg_energy_distance", tg_energy_distance(xt, 2, eps, 2, 2, NULL));
    REFUSES(TG_ERR_NULL, "tg_energy_distance", tg_energy_distance(NULL, 2, eps, 2, 2, &d));
    REFUSES(TG_ERR_SIZE, "tg_energy_distance", tg_energy_distance(xt, 2, eps, 2, 0, &d));
    REFUSES(TG_ERR_SIZE, "tg_energy_distance", tg_energy_distance(xt, 0, eps, 2, 2, &d));
    REFUSES(TG_ERR_SIZE, "tg_energy_distance",
            tg_energy_distance(xt, SIZE_MAX / 2, eps, 2, 4, &d));
    REFUSES(TG_ERR_DOMAIN, "tg_energy_distance", tg_energy_distance(xt, 2, t, 1, 2, &d));
    tg_ddpm_schedule_free(&s);
}

/* ---- local.h ----------------------------------------------------------------------------
 * No refusal, by contract (value functions defined on all of their domain, with NaN in,
 * NaN out): relu, div, div_grad (NULL outputs are skipped), exp, log and sqrt (NaN below
 * 0 is their value, reported through `at`), square, neg. The nine smooth activations'
 * local functions are outside this test (rewritten on another branch). */
Test(refusals, local_functions_have_messages)
{
    double a[6] = { 1, 2, 3, 4, 5, 6 }, b[6], keep[6];
    size_t shape[2];
    tg_point at = TG_POINT_SMOOTH;
    const long good[2] = { 2, -1 }, wrong[2] = { 4, -1 }, two_free[2] = { -1, -1 };
    const double inf_row[2] = { -INFINITY, -INFINITY };
    for (int i = 0; i < 6; i++)
        b[i] = keep[i] = 100.0 + i;

    REFUSES_NAN(TG_ERR_PARAM, "tg_local_leaky_relu", tg_local_leaky_relu(1.0, 0.0));
    REFUSES_NAN(TG_ERR_PARAM, "tg_local_leaky_relu", tg_local_leaky_relu(-1.0, -0.1));
    REFUSES_NAN(TG_ERR_PARAM, "tg_local_leaky_relu_deriv",
                tg_local_leaky_relu_deriv(1.0, NAN, &at));
    cr_expect_eq(at, TG_POINT_BAD_PARAM);

    /* the void functions write nothing when they refuse */
    REFUSES_VOID(TG_ERR_NULL, "tg_local_linear_grad_weight",
                 tg_local_linear_grad_weight(2, 3, NULL, a, b));
    REFUSES_VOID(TG_ERR_SIZE, "tg_local_linear_grad_weight",
                 tg_local_linear_grad_weight(SIZE_MAX / 2, 3, a, a, b));
    REFUSES_VOID(TG_ERR_NULL, "tg_local_linear_grad_input",
                 tg_local_linear_grad_input(2, 3, a, a, NULL));
    REFUSES_VOID(TG_ERR_NULL, "tg_local_linear_grad_bias", tg_local_linear_grad_bias(2, NULL, b));
    REFUSES_VOID(TG_ERR_NULL, "tg_local_transpose", tg_local_transpose(2, 3, NULL, b));
    REFUSES_VOID(TG_ERR_SIZE, "tg_local_transpose", tg_local_transpose(SIZE_MAX, 2, a, b));
    REFUSES_VOID(TG_ERR_NULL, "tg_local_sum_axis", tg_local_sum_axis(1, 2, 3, a, NULL));
    REFUSES_VOID(TG_ERR_SIZE, "tg_local_sum_axis_vjp",
                 tg_local_sum_axis_vjp(SIZE_MAX / 2, 2, 3, a, b));
    REFUSES_VOID(TG_ERR_NULL, "tg_local_mean_axis_vjp",
                 tg_local_mean_axis_vjp(1, 2, 3, NULL, b));
    REFUSES_VOID(TG_ERR_NULL, "tg_local_softmax_vjp", tg_local_softmax_vjp(3, a, NULL, b));
    REFUSES_VOID(TG_ERR_NULL, "tg_local_log_softmax_vjp",
                 tg_local_log_softmax_vjp(3, NULL, a, b));
    for (int i = 0; i < 6; i++)
        cr_expect_eq(b[i], keep[i], "b[%d] was written by a refused call", i);
    REFUSES_VOID(TG_ERR_SIZE, "tg_local_mean_axis", tg_local_mean_axis(2, 0, 3, a, b));
    for (int i = 0; i < 6; i++)
        cr_expect(isnan(b[i]), "the mean of no entries is NaN, b[%d] = %g", i, b[i]);

    REFUSES(TG_ERR_SHAPE, "tg_local_reshape_shape", tg_local_reshape_shape(6, 2, wrong, shape));
    REFUSES(TG_ERR_PARAM, "tg_local_reshape_shape",
            tg_local_reshape_shape(6, 2, two_free, shape));
    REFUSES(TG_ERR_NULL, "tg_local_reshape_shape", tg_local_reshape_shape(6, 2, good, NULL));
    REFUSES(TG_ERR_SIZE, "tg_local_reshape_shape", tg_local_reshape_shape(0, 2, good, shape));
    REFUSES(TG_ERR_SIZE, "tg_local_softmax", tg_local_softmax(0, a, b));
    REFUSES(TG_ERR_NULL, "tg_local_softmax", tg_local_softmax(3, NULL, b));
    REFUSES(TG_ERR_DOMAIN, "tg_local_softmax", tg_local_softmax(2, inf_row, b));
    REFUSES(TG_ERR_DOMAIN, "tg_local_log_softmax", tg_local_log_softmax(2, inf_row, b));
    REFUSES(TG_ERR_NULL, "tg_local_log_softmax", tg_local_log_softmax(2, a, NULL));
}

/* ---- ops.h ------------------------------------------------------------------------------
 * A typed operation is a tg_apply of its rule: the message begins with the rule's name and
 * the tape keeps the refusal as its first error. Each call gets a fresh tape, since a
 * failed tape refuses everything after its first error. */
#define OP_REFUSES(want, rule, call)                                                       \
    do {                                                                                   \
        tg_tape *T = tg_tape_new();                                                        \
        cr_assert_not_null(T);                                                             \
        REFUSES_NULL(want, rule, call);                                                    \
        cr_expect_eq(tg_tape_status(T), want, "%s: the tape's status is %d", #call,        \
                     (int)tg_tape_status(T));                                              \
        cr_expect(strcmp(tg_tape_error(T), tg_last_error()) == 0, "%s: the tape says "     \
                  "\"%s\"", #call, tg_tape_error(T));                                      \
        tg_tape_free(T);                                                                   \
    } while (0)

Test(refusals, operations_have_messages)
{
    tg_tensor *x = tensor(TG_PARAM, 2, (size_t[]){ 2, 3 }, 0.5f);
    tg_tensor *neg = tensor(TG_CONST, 2, (size_t[]){ 2, 3 }, -1.0f);
    tg_tensor *v4 = tensor(TG_CONST, 1, (size_t[]){ 4 }, 1.0f);
    tg_tensor *W = tensor(TG_PARAM, 2, (size_t[]){ 5, 4 }, 0.1f);
    tg_tensor *s0 = tensor(TG_CONST, 0, NULL, 1.0f);
    tg_tensor *labels = tensor(TG_CONST, 1, (size_t[]){ 2 }, 3.0f);   /* C = 3: out of range */
    tg_tensor *masked = tensor(TG_CONST, 2, (size_t[]){ 2, 3 }, -INFINITY);
    const long bad_shape[2] = { 4, -1 };

    /* every wrapper with a NULL input */
    OP_REFUSES(TG_ERR_NULL, "relu", tg_relu(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "leaky_relu", tg_leaky_relu(T, NULL, 0.1f));
    OP_REFUSES(TG_ERR_NULL, "elu", tg_elu(T, NULL, 1.0f));
    OP_REFUSES(TG_ERR_NULL, "sigmoid", tg_sigmoid(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "tanh", tg_tanh(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "gelu", tg_gelu(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "gelu_erf", tg_gelu_erf(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "softplus", tg_softplus(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "silu", tg_silu(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "safe_log", tg_safe_log(T, NULL, 1e-6f));
    OP_REFUSES(TG_ERR_NULL, "smooth_abs", tg_smooth_abs(T, NULL, 1e-6f));
    OP_REFUSES(TG_ERR_NULL, "linear", tg_linear(T, NULL, W, v4));
    OP_REFUSES(TG_ERR_NULL, "linear_nobias", tg_linear(T, x, NULL, NULL));
    OP_REFUSES(TG_ERR_NULL, "add", tg_add(T, x, NULL));
    OP_REFUSES(TG_ERR_NULL, "sub", tg_sub(T, NULL, x));
    OP_REFUSES(TG_ERR_NULL, "mul", tg_mul(T, x, NULL));
    OP_REFUSES(TG_ERR_NULL, "div", tg_div(T, NULL, x));
    OP_REFUSES(TG_ERR_NULL, "scale", tg_scale(T, NULL, 2.0f));
    OP_REFUSES(TG_ERR_NULL, "sum", tg_sum(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "mean", tg_mean(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "matmul", tg_matmul(T, NULL, x));
    OP_REFUSES(TG_ERR_NULL, "concat", tg_concat(T, x, NULL));
    OP_REFUSES(TG_ERR_NULL, "mse_loss", tg_mse_loss(T, NULL, x));
    OP_REFUSES(TG_ERR_NULL, "softmax_cross_entropy", tg_softmax_cross_entropy(T, x, NULL));
    OP_REFUSES(TG_ERR_NULL, "exp", tg_exp(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "log", tg_log(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "sqrt", tg_sqrt(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "square", tg_square(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "neg", tg_neg(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "reshape", tg_reshape(T, NULL, 1, (const long[]){ 6 }));
    OP_REFUSES(TG_ERR_NULL, "transpose", tg_transpose(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "sum_axis", tg_sum_axis(T, NULL, 0, 0));
    OP_REFUSES(TG_ERR_NULL, "mean_axis", tg_mean_axis(T, NULL, 0, 0));
    OP_REFUSES(TG_ERR_NULL, "softmax", tg_softmax(T, NULL));
    OP_REFUSES(TG_ERR_NULL, "log_softmax", tg_log_softmax(T, NULL));

    /* bad parameters, shapes and data */
    OP_REFUSES(TG_ERR_PARAM, "leaky_relu", tg_leaky_relu(T, x, -1.0f));
    OP_REFUSES(TG_ERR_PARAM, "elu", tg_elu(T, x, NAN));
    OP_REFUSES(TG_ERR_PARAM, "safe_log", tg_safe_log(T, x, 0.0f));
    OP_REFUSES(TG_ERR_PARAM, "smooth_abs", tg_smooth_abs(T, x, -1.0f));
    OP_REFUSES(TG_ERR_PARAM, "scale", tg_scale(T, x, INFINITY));
    OP_REFUSES(TG_ERR_SHAPE, "linear", tg_linear(T, x, W, v4));
    OP_REFUSES(TG_ERR_SHAPE, "linear_nobias", tg_linear(T, x, W, NULL));
    OP_REFUSES(TG_ERR_SHAPE, "add", tg_add(T, x, v4));
    OP_REFUSES(TG_ERR_SHAPE, "sub", tg_sub(T, v4, x));
    OP_REFUSES(TG_ERR_SHAPE, "mul", tg_mul(T, x, W));
    OP_REFUSES(TG_ERR_SHAPE, "div", tg_div(T, W, x));
    OP_REFUSES(TG_ERR_SHAPE, "matmul", tg_matmul(T, x, W));
    OP_REFUSES(TG_ERR_SHAPE, "concat", tg_concat(T, x, v4));
    OP_REFUSES(TG_ERR_SHAPE, "mse_loss", tg_mse_loss(T, x, W));
    OP_REFUSES(TG_ERR_DOMAIN, "softmax_cross_entropy", tg_softmax_cross_entropy(T, x, labels));
    OP_REFUSES(TG_ERR_DOMAIN, "log", tg_log(T, neg));
    OP_REFUSES(TG_ERR_DOMAIN, "sqrt", tg_sqrt(T, neg));
    OP_REFUSES(TG_ERR_SHAPE, "reshape", tg_reshape(T, x, 2, bad_shape));
    OP_REFUSES(TG_ERR_PARAM, "reshape", tg_reshape(T, x, 2, NULL));
    OP_REFUSES(TG_ERR_PARAM, "reshape", tg_reshape(T, x, 5, bad_shape));
    OP_REFUSES(TG_ERR_SHAPE, "transpose", tg_transpose(T, v4));
    OP_REFUSES(TG_ERR_PARAM, "sum_axis", tg_sum_axis(T, x, 2, 0));
    OP_REFUSES(TG_ERR_PARAM, "sum_axis", tg_sum_axis(T, x, -2147483647 - 1, 0));
    OP_REFUSES(TG_ERR_SHAPE, "sum_axis", tg_sum_axis(T, s0, 0, 0));
    OP_REFUSES(TG_ERR_PARAM, "mean_axis", tg_mean_axis(T, x, 0, 2));
    OP_REFUSES(TG_ERR_SHAPE, "softmax", tg_softmax(T, s0));
    OP_REFUSES(TG_ERR_DOMAIN, "log_softmax", tg_log_softmax(T, masked));

    /* a NULL tape: tg_apply's own refusal (no tape to record it on) */
    sentinel();
    cr_expect_null(tg_relu(NULL, x));
    cr_expect_eq(tg_last_status(), TG_ERR_NULL);
    cr_expect(strcmp(tg_last_error(), sentinel_text) != 0 &&
              strstr(tg_last_error(), "tape is NULL") != NULL, "%s", tg_last_error());

    tg_tensor_free(x);
    tg_tensor_free(neg);
    tg_tensor_free(v4);
    tg_tensor_free(W);
    tg_tensor_free(s0);
    tg_tensor_free(labels);
    tg_tensor_free(masked);
}
