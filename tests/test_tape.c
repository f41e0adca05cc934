/* The tape's sweep: fan-out, repeated backward, seeds, partial sweeps, no-record mode,
 * kink counting, and a chain deep enough to break a recursive sweep. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

static const size_t v5[1] = { 5 };

/* f = sum(relu(x) + x*x): x feeds three uses, so its gradient is the sum of three
 * contributions, relu'(x) + 2x. */
Test(tape, fanout_accumulates)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x;
    tg_pcg32_seed(&rng, 1, 2);
    x = tu_random(TG_PARAM, 1, v5, &rng, -2.0f, 2.0f);
    tg_tensor *f = tg_sum(t, tg_add(t, tg_relu(t, x), tg_mul(t, x, x)));
    cr_assert_not_null(f, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, f, NULL), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < 5; i++) {
        const float expect = (x->data[i] > 0 ? 1.0f : 0.0f) + 2.0f * x->data[i];
        cr_assert_float_eq(x->grad[i], expect, 1e-6f, "element %zu", i);
    }
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* Backward twice on one record adds the gradient twice to parameters; intermediates
 * restart from zero, so the second sweep is not polluted by the first. */
Test(tape, backward_twice_accumulates_exactly)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *f;
    float once[5];
    tg_pcg32_seed(&rng, 3, 4);
    x = tu_random(TG_PARAM, 1, v5, &rng, -1.0f, 1.0f);
    f = tg_sum(t, tg_tanh(t, tg_mul(t, x, x)));
    cr_assert_eq(tg_backward(t, f, NULL), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < 5; i++)
        once[i] = x->grad[i];
    cr_assert_eq(tg_backward(t, f, NULL), TG_OK);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(x->grad[i], 2.0f * once[i]);   /* a + a is exact */
    tg_zero_grad(x);
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(x->grad[i], 0.0f);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* An explicit seed on a non-scalar output equals the scalar sum(seed * out). */
Test(tape, explicit_seed_is_cotangent)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *c, *y, *seed;
    float g1[5];
    tg_pcg32_seed(&rng, 5, 6);
    x = tu_random(TG_PARAM, 1, v5, &rng, -1.0f, 1.0f);
    c = tu_random(TG_CONST, 1, v5, &rng, -1.0f, 1.0f);
    y = tg_sigmoid(t, x);
    seed = tg_tape_const(t, 1, v5);
    for (size_t i = 0; i < 5; i++)
        seed->data[i] = c->data[i];
    cr_assert_eq(tg_backward(t, y, seed), TG_OK, "%s", tg_last_error());
    for (size_t i = 0; i < 5; i++)
        g1[i] = x->grad[i];
    tg_zero_grad(x);
    tg_tape_reset(t);
    cr_assert_eq(tg_backward(t, tg_sum(t, tg_mul(t, tg_sigmoid(t, x), c)), NULL), TG_OK);
    for (size_t i = 0; i < 5; i++)
        cr_assert_float_eq(x->grad[i], g1[i], 1e-7f);
    /* without a seed, a 5-element output is refused with a message */
    tg_tape_reset(t);
    cr_assert_eq(tg_backward(t, tg_sigmoid(t, x), NULL), TG_ERR_SHAPE);
    cr_assert(strstr(tg_last_error(), "[5]") != NULL, "%s", tg_last_error());
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(c);
}

/* Backward from an intermediate ignores what was recorded after it. */
Test(tape, sweep_from_an_intermediate)
{
    static const size_t one[1] = { 1 };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, one);
    tg_tensor *a, *b;
    x->data[0] = 3.0f;
    a = tg_mul(t, x, x);          /* 9, da/dx = 6 */
    b = tg_scale(t, a, 10.0f);    /* recorded after a; must not contribute */
    cr_assert_not_null(b, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, a, NULL), TG_OK, "%s", tg_last_error());
    cr_assert_eq(x->grad[0], 6.0f);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* 200000 records: a recursive sweep would need a deep stack; the loop needs none. */
Test(tape, deep_chain_without_recursion)
{
    static const size_t one[1] = { 1 };
    const size_t depth = 200000;
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, one);
    tg_tensor *y;
    x->data[0] = 0.5f;
    y = x;
    for (size_t i = 0; i < depth; i++)
        y = tg_scale(t, y, 1.0f);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(tg_tape_length(t), depth);
    cr_assert_eq(tg_backward(t, y, NULL), TG_OK, "%s", tg_last_error());
    cr_assert_eq(x->grad[0], 1.0f);
    tg_tape_free(t);
    tg_tensor_free(x);
}

Test(tape, no_record_mode_for_inference)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *y;
    tg_pcg32_seed(&rng, 7, 8);
    x = tu_random(TG_PARAM, 1, v5, &rng, -1.0f, 1.0f);
    cr_assert_eq(tg_tape_set_recording(t, 0), 1);
    y = tg_tanh(t, x);
    cr_assert_not_null(y);
    cr_assert_null(y->grad);
    cr_assert_eq(tg_tape_length(t), 0u);
    for (size_t i = 0; i < 5; i++)
        cr_assert_float_eq(y->data[i], tanhf(x->data[i]), 2e-7f);
    cr_assert_eq(tg_backward(t, tg_sum(t, y), NULL), TG_ERR_TAPE);
    cr_assert_eq(tg_tape_set_recording(t, 1), 0);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* relu at +0 and -0 is a kink; the count is readable after the sweep. */
Test(tape, kinks_are_counted)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, v5);
    const float v[5] = { 0.0f, -0.0f, 1.0f, -1.0f, 0.0f };
    for (size_t i = 0; i < 5; i++)
        x->data[i] = v[i];
    cr_assert_eq(tg_backward(t, tg_sum(t, tg_relu(t, x)), NULL), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_tape_kinks(t), 3u);
    cr_assert_eq(x->grad[0], 0.0f);   /* the one-sided value from rules.md */
    cr_assert_eq(x->grad[2], 1.0f);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* Reset drops the record and the error, and the same graph runs again. */
Test(tape, reset_and_rerun)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *bad;
    float first = 0.0f;
    static const size_t v4[1] = { 4 };
    tg_pcg32_seed(&rng, 9, 10);
    x = tu_random(TG_PARAM, 1, v5, &rng, -1.0f, 1.0f);
    bad = tg_tensor_new(TG_CONST, 1, v4);
    for (int step = 0; step < 3; step++) {
        tg_tensor *f = tg_sum(t, tg_softplus(t, x));
        cr_assert_not_null(f, "%s", tg_last_error());
        if (step == 0)
            first = f->data[0];
        cr_assert_eq(f->data[0], first);
        cr_assert_null(tg_add(t, x, bad));
        cr_assert_eq(tg_tape_status(t), TG_ERR_SHAPE);
        tg_tape_reset(t);
        cr_assert_eq(tg_tape_status(t), TG_OK);
        cr_assert_eq(tg_tape_length(t), 0u);
    }
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(bad);
}

/* Tapes share nothing: four threads training their own model from the same seed end
 * with exactly the weights of the same training run on one thread. */
typedef struct {
    float w[8];
    tg_status status;
} run_result;

static void *train(void *arg)
{
    static const size_t ws[2] = { 4, 2 }, bs[1] = { 4 }, xs[2] = { 16, 2 }, ys[2] = { 16, 4 };
    run_result *r = arg;
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *W, *b;
    tg_pcg32_seed(&rng, 77, 1);
    W = tu_random(TG_PARAM, 2, ws, &rng, -1.0f, 1.0f);
    b = tu_random(TG_PARAM, 1, bs, &rng, -1.0f, 1.0f);
    r->status = TG_OK;
    for (int step = 0; step < 300 && r->status == TG_OK; step++) {
        tg_tensor *x = tg_tape_const(t, 2, xs), *y = tg_tape_const(t, 2, ys);
        for (size_t i = 0; x && i < x->size; i++)
            x->data[i] = tu_draw(&rng);
        for (size_t i = 0; y && i < y->size; i++)
            y->data[i] = 0.5f * tu_draw(&rng);
        r->status = tg_backward(t, tg_mse_loss(t, tg_tanh(t, tg_linear(t, x, W, b)), y), NULL);
        for (size_t i = 0; i < W->size; i++)
            W->data[i] -= 0.05f * W->grad[i];
        for (size_t i = 0; i < b->size; i++)
            b->data[i] -= 0.05f * b->grad[i];
        tg_zero_grad(W);
        tg_zero_grad(b);
        tg_tape_reset(t);
    }
    memcpy(r->w, W->data, sizeof r->w);
    tg_tensor_free(W);
    tg_tensor_free(b);
    tg_tape_free(t);
    return NULL;
}

Test(tape, independent_tapes_in_threads)
{
    enum { THREADS = 4 };
    pthread_t th[THREADS];
    run_result alone, r[THREADS];
    train(&alone);
    cr_assert_eq(alone.status, TG_OK, "%s", tg_last_error());
    for (int k = 0; k < THREADS; k++)
        cr_assert_eq(pthread_create(&th[k], NULL, train, &r[k]), 0);
    for (int k = 0; k < THREADS; k++) {
        pthread_join(th[k], NULL);
        cr_assert_eq(r[k].status, TG_OK);
        cr_assert_eq(memcmp(r[k].w, alone.w, sizeof alone.w), 0, "thread %d diverged", k);
    }
}
