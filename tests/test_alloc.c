/* Memory: a warm training loop allocates nothing, and an allocation failure anywhere
 * in a step is a clean error that leaks nothing. Both use the allocator hook. */
#include <criterion/criterion.h>
#include <string.h>
#include <stdlib.h>
#include <tapegrad.h>
#include "testutil.h"

enum { IN = 2, HID = 16, OUT = 2, BATCH = 8 };

typedef struct {
    tg_tensor *W1, *b1, *W2, *b2;
} mlp;

static void mlp_free(mlp *m)
{
    tg_tensor_free(m->W1);
    tg_tensor_free(m->b1);
    tg_tensor_free(m->W2);
    tg_tensor_free(m->b2);
}

static int mlp_new(mlp *m, tg_pcg32 *rng)
{
    const size_t w1[2] = { HID, IN }, b1[1] = { HID }, w2[2] = { OUT, HID }, b2[1] = { OUT };
    m->W1 = tu_random(TG_PARAM, 2, w1, rng, -0.5f, 0.5f);
    m->b1 = tu_random(TG_PARAM, 1, b1, rng, -0.1f, 0.1f);
    m->W2 = tu_random(TG_PARAM, 2, w2, rng, -0.5f, 0.5f);
    m->b2 = tu_random(TG_PARAM, 1, b2, rng, -0.1f, 0.1f);
    return m->W1 && m->b1 && m->W2 && m->b2;
}

/* One SGD step: the batch goes into the tape's arena, so nothing outside it is needed. */
static tg_status step(tg_tape *t, mlp *m, tg_pcg32 *rng)
{
    const size_t xs[2] = { BATCH, IN }, ys[1] = { BATCH };
    tg_tensor *x = tg_tape_const(t, 2, xs), *y = tg_tape_const(t, 1, ys), *loss;
    tg_tensor *p[4] = { m->W1, m->b1, m->W2, m->b2 };
    if (!x || !y)
        return tg_tape_status(t);
    for (size_t i = 0; i < BATCH; i++) {
        x->data[2 * i] = tg_pcg32_float(rng) - 0.5f;
        x->data[2 * i + 1] = tg_pcg32_float(rng) - 0.5f;
        y->data[i] = x->data[2 * i] > 0 ? 1.0f : 0.0f;
    }
    loss = tg_softmax_cross_entropy(t, tg_linear(t, tg_tanh(t, tg_linear(t, x, m->W1, m->b1)),
                                                 m->W2, m->b2), y);
    if (!loss || tg_backward(t, loss, NULL) != TG_OK)
        return tg_tape_status(t);
    for (size_t k = 0; k < 4; k++) {
        for (size_t i = 0; i < p[k]->size; i++)
            p[k]->data[i] -= 0.1f * p[k]->grad[i];
        tg_zero_grad(p[k]);
    }
    tg_tape_reset(t);
    return TG_OK;
}

Test(alloc, warm_training_step_allocates_nothing)
{
    tu_counter c = { 0 };
    const tg_allocator hook = { tu_count_alloc, tu_count_free, &c };
    tg_pcg32 rng;
    tg_tape *t;
    mlp m;
    size_t before;
    tg_set_allocator(&hook);
    tg_pcg32_seed(&rng, 1, 1);
    t = tg_tape_new();
    cr_assert(mlp_new(&m, &rng));
    for (int i = 0; i < 3; i++)   /* warm-up: the arena and the record grow to size */
        cr_assert_eq(step(t, &m, &rng), TG_OK, "%s", tg_last_error());
    before = c.calls;
    for (int i = 0; i < 200; i++)
        cr_assert_eq(step(t, &m, &rng), TG_OK, "%s", tg_last_error());
    cr_assert_eq(c.calls, before, "%zu allocations in 200 warm steps", c.calls - before);
    tg_tape_free(t);
    mlp_free(&m);
    cr_assert_eq(c.live, 0, "%ld blocks leaked", c.live);
    tg_set_allocator(NULL);
}

/* Set-up plus two steps from cold, with the Nth allocation refused: returns the status
 * of the first failure and frees everything either way. */
static tg_status cold_run(void)
{
    tg_pcg32 rng;
    tg_tape *t;
    mlp m;
    tg_status s = TG_OK;
    tg_pcg32_seed(&rng, 2, 2);
    t = tg_tape_new();
    if (!mlp_new(&m, &rng) || !t)
        s = tg_last_status();
    for (int i = 0; i < 2 && s == TG_OK; i++)
        s = step(t, &m, &rng);
    tg_tape_free(t);
    mlp_free(&m);
    return s;
}

Test(alloc, every_allocation_failure_is_clean)
{
    tu_counter c = { 0 };
    const tg_allocator hook = { tu_count_alloc, tu_count_free, &c };
    size_t total;
    tg_set_allocator(&hook);
    cr_assert_eq(cold_run(), TG_OK, "%s", tg_last_error());
    total = c.calls;
    cr_assert_gt(total, 4u);
    for (size_t n = 1; n <= total; n++) {
        c = (tu_counter){ 0, 0, n };
        cr_assert_eq(cold_run(), TG_ERR_NOMEM, "allocation %zu of %zu refused: %s", n, total,
                     tg_last_error());
        cr_assert_eq(c.live, 0, "allocation %zu refused: %ld blocks leaked", n, c.live);
    }
    tg_set_allocator(NULL);
}

/* A smooth activation keeps its derivative for backward in the tape's arena: when that
 * memory is refused, the application fails with TG_ERR_NOMEM like any other allocation
 * of the step (a tensor of 8192 floats needs arena pieces of its own). */
static tg_status tanh_run(tg_tensor *x)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *y;
    tg_status s;
    if (!t)
        return tg_last_status();
    y = tg_tanh(t, x);
    s = y ? tg_backward(t, tg_sum(t, y), NULL) : tg_tape_status(t);
    if (s == TG_OK)
        s = tg_tape_status(t);
    tg_tape_free(t);
    return s;
}

Test(alloc, a_refused_kept_derivative_is_nomem)
{
    const size_t shape[1] = { 8192 };
    tu_counter c = { 0 };
    const tg_allocator hook = { tu_count_alloc, tu_count_free, &c };
    tg_pcg32 rng;
    tg_tensor *x;
    size_t total;
    tg_pcg32_seed(&rng, 11, 11);
    x = tu_random(TG_PARAM, 1, shape, &rng, -3.0f, 3.0f);
    cr_assert(x);
    tg_set_allocator(&hook);
    cr_assert_eq(tanh_run(x), TG_OK, "%s", tg_last_error());
    total = c.calls;
    for (size_t n = 1; n <= total; n++) {
        c = (tu_counter){ 0, 0, n };
        cr_expect_eq(tanh_run(x), TG_ERR_NOMEM, "allocation %zu of %zu refused: %s", n, total,
                     tg_last_error());
        cr_expect_eq(c.live, 0, "allocation %zu refused: %ld blocks leaked", n, c.live);
    }
    tg_set_allocator(NULL);
    tg_tensor_free(x);
}
