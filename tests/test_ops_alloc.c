/* The operations models need, inside a training step: once warm, a step allocates
 * nothing (softmax's and the axis reductions' row buffers and the refusal messages come
 * from the tape's arena), and a failure of any allocation from cold is a clean
 * TG_ERR_NOMEM that leaks nothing. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

enum { B = 32, D = 64, H = 128, C = 10 };

typedef struct {
    tg_tensor *W1, *b1, *W2;
} model;

static int model_new(model *m, tg_pcg32 *rng)
{
    m->W1 = tu_random(TG_PARAM, 2, (size_t[]){ H, D }, rng, -0.2f, 0.2f);
    m->b1 = tu_random(TG_PARAM, 1, (size_t[]){ H }, rng, -0.1f, 0.1f);
    m->W2 = tu_random(TG_PARAM, 2, (size_t[]){ C, H }, rng, -0.2f, 0.2f);
    return m->W1 && m->b1 && m->W2;
}

static void model_free(model *m)
{
    tg_tensor_free(m->W1);
    tg_tensor_free(m->b1);
    tg_tensor_free(m->W2);
}

/* Every new rule once: a normalized hidden layer (mean_axis, sub and div broadcasting
 * [B,1] against [B,H], square, sqrt, a scalar add), exp, neg, log, reshape, transpose,
 * linear without bias, softmax, log_softmax, sum_axis; then SGD. The caller resets. */
static tg_status step(tg_tape *t, model *m, tg_pcg32 *rng)
{
    tg_tensor *x = tg_tape_const(t, 2, (size_t[]){ B, D }), *eps = tg_tape_const(t, 0, NULL);
    tg_tensor *one = tg_tape_const(t, 0, NULL);
    if (!x || !eps || !one)
        return tg_tape_status(t);
    for (size_t i = 0; i < x->size; i++)
        x->data[i] = tu_draw(rng);
    eps->data[0] = 1e-5f;
    one->data[0] = 1.0f;
    tg_tensor *z = tg_linear(t, x, m->W1, m->b1);
    tg_tensor *c = tg_sub(t, z, tg_mean_axis(t, z, -1, 1));
    tg_tensor *sd = tg_sqrt(t, tg_add(t, tg_mean_axis(t, tg_square(t, c), 1, 1), eps));
    tg_tensor *h = tg_log(t, tg_add(t, tg_exp(t, tg_neg(t, tg_div(t, c, sd))), one));
    tg_tensor *ht = tg_transpose(t, tg_reshape(t, h, 2, (long[]){ H, -1 }));   /* [B,H] */
    tg_tensor *logits = tg_linear(t, ht, m->W2, NULL);
    tg_tensor *ent = tg_mul(t, tg_softmax(t, logits), tg_log_softmax(t, logits));
    tg_tensor *loss = tg_mean(t, tg_sum_axis(t, ent, 1, 0));
    if (!loss || tg_backward(t, loss, NULL) != TG_OK)
        return tg_tape_status(t);
    tg_tensor *p[3] = { m->W1, m->b1, m->W2 };
    for (size_t k = 0; k < 3; k++) {
        for (size_t i = 0; i < p[k]->size; i++)
            p[k]->data[i] -= 0.05f * p[k]->grad[i];
        tg_zero_grad(p[k]);
    }
    return TG_OK;
}

Test(ops_alloc, warm_step_with_new_ops_allocates_nothing)
{
    tu_counter c = { 0 };
    const tg_allocator hook = { tu_count_alloc, tu_count_free, &c };
    tg_pcg32 rng;
    model m;
    tg_set_allocator(&hook);
    tg_pcg32_seed(&rng, 3, 3);
    tg_tape *t = tg_tape_new();
    cr_assert(t && model_new(&m, &rng));
    for (int i = 0; i < 3; i++) {   /* warm-up: the arena and the record grow to size */
        cr_assert_eq(step(t, &m, &rng), TG_OK, "%s", tg_last_error());
        tg_tape_reset(t);
    }
    const size_t before = c.calls;
    for (int i = 0; i < 50; i++) {
        cr_assert_eq(step(t, &m, &rng), TG_OK, "%s", tg_last_error());
        tg_tape_reset(t);
    }
    cr_assert_eq(c.calls, before, "%zu allocations in 50 warm steps", c.calls - before);
    tg_tape_free(t);
    model_free(&m);
    cr_assert_eq(c.live, 0, "%ld blocks leaked", c.live);
    tg_set_allocator(NULL);
}

/* Set-up and two steps from cold. *in_reset is set when the refused allocation was
 * tg_tape_reset merging the arena's blocks into one: the arena then simply keeps
 * allocating as it did, and the run succeeds by design. */
static tg_status cold_run(const tu_counter *c, int *in_reset)
{
    tg_pcg32 rng;
    model m;
    tg_status s = TG_OK;
    *in_reset = 0;
    tg_pcg32_seed(&rng, 4, 4);
    tg_tape *t = tg_tape_new();
    if (!model_new(&m, &rng) || !t)
        s = tg_last_status();
    for (int i = 0; i < 2 && s == TG_OK; i++) {
        s = step(t, &m, &rng);
        const size_t at = c->calls;
        tg_tape_reset(t);
        *in_reset |= c->fail_at > at && c->fail_at <= c->calls;
    }
    tg_tape_free(t);
    model_free(&m);
    return s;
}

Test(ops_alloc, every_allocation_failure_is_clean)
{
    tu_counter c = { 0 };
    const tg_allocator hook = { tu_count_alloc, tu_count_free, &c };
    int in_reset;
    size_t refused = 0;
    tg_set_allocator(&hook);
    cr_assert_eq(cold_run(&c, &in_reset), TG_OK, "%s", tg_last_error());
    const size_t total = c.calls;
    cr_assert_gt(total, 6u, "only %zu allocations: the graph no longer grows the arena", total);
    for (size_t n = 1; n <= total; n++) {
        c = (tu_counter){ 0, 0, n };
        const tg_status s = cold_run(&c, &in_reset);
        cr_assert(s == TG_ERR_NOMEM || (s == TG_OK && in_reset),
                  "allocation %zu of %zu refused: status %d, %s", n, total, s, tg_last_error());
        refused += s == TG_ERR_NOMEM;
        cr_assert_eq(c.live, 0, "allocation %zu refused: %ld blocks leaked", n, c.live);
    }
    cr_assert_geq(refused + 2, total, "%zu of %zu refusals reached the caller", refused, total);
    tg_set_allocator(NULL);
}

/* The rules that take tape memory in forward (softmax's row buffers, the axis
 * reductions' accumulators) refuse cleanly when that memory is not there. On a fresh
 * tape, a constant of `pad` floats and then the rule's output fill the arena's first
 * block; sweeping pad in steps of 64 bytes across the whole block makes the forward's
 * buffer, for some pad, the allocation that needs a new block, whatever the arena's
 * exact layout (small outputs, for one, come from 16 KiB pieces of it). */
static tg_status one_rule(const char *name, size_t pad, int *forward_refused)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 8, 64 });
    tg_status s = TG_OK;
    if (!t || !x)
        s = tg_last_status();
    else if (!tg_tape_const(t, 1, &pad) ||
             !tg_apply(t, tg_rule_find(name), &x, 1, (const float[]){ 0.0f, 0.0f })) {
        s = tg_tape_status(t);
        *forward_refused |= strstr(tg_tape_error(t), "forward: out of memory") != NULL;
    }
    tg_tape_free(t);
    tg_tensor_free(x);
    return s;
}

Test(ops_alloc, forward_scratch_failure_is_clean)
{
    static const char *const names[] = { "softmax", "log_softmax", "sum_axis", "mean_axis" };
    tu_counter c = { 0 };
    const tg_allocator hook = { tu_count_alloc, tu_count_free, &c };
    tg_set_allocator(&hook);
    for (size_t k = 0; k < 4; k++) {
        int forward_refused = 0;
        for (size_t pad = 16; pad <= 16384; pad += 16) {
            c = (tu_counter){ 0, 0, 0 };
            cr_assert_eq(one_rule(names[k], pad, &forward_refused), TG_OK, "%s", tg_last_error());
            const size_t total = c.calls;
            for (size_t n = 1; n <= total; n++) {
                c = (tu_counter){ 0, 0, n };
                cr_assert_eq(one_rule(names[k], pad, &forward_refused), TG_ERR_NOMEM,
                             "%s after %zu floats, allocation %zu refused: %s", names[k], pad,
                             n, tg_last_error());
                cr_assert_eq(c.live, 0, "%s: %ld blocks leaked", names[k], c.live);
            }
        }
        cr_assert(forward_refused, "%s: no refusal reached its forward's tape memory", names[k]);
    }
    tg_set_allocator(NULL);
}
