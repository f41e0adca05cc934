/* Bad input gets a status and a message naming the call and the shapes; the tape keeps
 * its first error so a step is checked once. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#define assert_mentions(text) \
    cr_assert(strstr(tg_last_error(), (text)) != NULL, "message \"%s\" lacks \"%s\"", \
              tg_last_error(), (text))

Test(errors, shape_mismatch_names_rule_and_shapes)
{
    static const size_t s23[2] = { 2, 3 }, s4[1] = { 4 };
    tg_tape *t = tg_tape_new();
    tg_tensor *a = tg_tensor_new(TG_PARAM, 2, s23);
    tg_tensor *b = tg_tensor_new(TG_CONST, 1, s4);
    cr_assert_null(tg_add(t, a, b));
    cr_assert_eq(tg_last_status(), TG_ERR_SHAPE);
    assert_mentions("add");
    assert_mentions("[2,3]");
    assert_mentions("[4]");
    cr_assert_eq(tg_tape_status(t), TG_ERR_SHAPE);
    cr_assert_str_eq(tg_tape_error(t), tg_last_error());
    tg_tape_free(t);
    tg_tensor_free(a);
    tg_tensor_free(b);
}

/* After the first error, later calls on the tape return NULL without doing anything,
 * and the tape still reports the first error. */
Test(errors, first_error_sticks_until_reset)
{
    static const size_t s3[1] = { 3 }, s2[1] = { 2 };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3);
    tg_tensor *y = tg_tensor_new(TG_PARAM, 1, s2);
    cr_assert_null(tg_mul(t, x, y));
    cr_assert_null(tg_relu(t, x));          /* fine on its own, refused after an error */
    cr_assert_null(tg_safe_log(t, x, -1.0f));
    cr_assert_eq(tg_tape_status(t), TG_ERR_SHAPE);
    assert_mentions("mul");
    cr_assert_neq(tg_backward(t, x, NULL), TG_OK);
    tg_tape_reset(t);
    cr_assert_not_null(tg_relu(t, x), "%s", tg_last_error());
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(y);
}

Test(errors, bad_parameter_is_refused)
{
    static const size_t s3[1] = { 3 };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3);
    cr_assert_null(tg_safe_log(t, x, 0.0f));
    cr_assert_eq(tg_last_status(), TG_ERR_PARAM);
    assert_mentions("safe_log");
    tg_tape_reset(t);
    cr_assert_null(tg_smooth_abs(t, x, NAN));
    cr_assert_eq(tg_last_status(), TG_ERR_PARAM);
    assert_mentions("smooth_abs");
    tg_tape_reset(t);
    cr_assert_null(tg_leaky_relu(t, x, -0.1f));
    cr_assert_eq(tg_last_status(), TG_ERR_PARAM);
    tg_tape_free(t);
    tg_tensor_free(x);
}

Test(errors, null_arity_and_foreign_tape)
{
    static const size_t s3[1] = { 3 };
    tg_tape *t = tg_tape_new(), *other = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3);
    tg_tensor *two[2] = { x, x };
    tg_tensor *y;
    cr_assert_null(tg_relu(t, NULL));
    cr_assert_eq(tg_last_status(), TG_ERR_NULL);
    assert_mentions("relu");
    tg_tape_reset(t);
    cr_assert_null(tg_apply(t, tg_rule_find("relu"), two, 2, NULL));
    cr_assert_eq(tg_last_status(), TG_ERR_ARITY);
    tg_tape_reset(t);
    cr_assert_null(tg_apply(t, NULL, &x, 1, NULL));
    cr_assert_eq(tg_last_status(), TG_ERR_NULL);
    tg_tape_reset(t);
    y = tg_relu(other, x);
    cr_assert_not_null(y);
    cr_assert_null(tg_relu(t, y));
    cr_assert_eq(tg_last_status(), TG_ERR_TAPE);
    cr_assert_null(tg_relu(NULL, x));
    cr_assert_eq(tg_last_status(), TG_ERR_NULL);
    cr_assert_eq(tg_backward(NULL, y, NULL), TG_ERR_NULL);
    tg_tape_free(t);
    tg_tape_free(other);
    tg_tensor_free(x);
}

Test(errors, bad_shapes_are_refused_at_creation)
{
    const size_t five[5] = { 1, 1, 1, 1, 1 };
    const size_t zero[2] = { 3, 0 };
    const size_t huge[3] = { (size_t)1 << 31, (size_t)1 << 31, (size_t)1 << 31 };
    cr_assert_null(tg_tensor_new(TG_PARAM, 5, five));
    cr_assert_eq(tg_last_status(), TG_ERR_RANK);
    cr_assert_null(tg_tensor_new(TG_PARAM, 2, zero));
    cr_assert_eq(tg_last_status(), TG_ERR_SIZE);
    assert_mentions("dimension 1 is zero");
    cr_assert_null(tg_tensor_new(TG_CONST, 3, huge));
    cr_assert_eq(tg_last_status(), TG_ERR_SIZE);
    cr_assert_null(tg_tensor_new(TG_INTERMEDIATE, 1, five));
    cr_assert_null(tg_tensor_new(TG_PARAM, 1, NULL));
    cr_assert_eq(tg_last_status(), TG_ERR_NULL);
}

Test(errors, unknown_rule)
{
    cr_assert_null(tg_rule_find("no_such_rule"));
    cr_assert_eq(tg_last_status(), TG_ERR_NOT_FOUND);
    assert_mentions("no_such_rule");
    cr_assert_null(tg_rule_find(NULL));
    cr_assert_eq(tg_last_status(), TG_ERR_NULL);
}

Test(errors, every_status_has_a_distinct_description)
{
    for (int a = TG_OK; a <= TG_ERR_STATE; a++) {
        cr_assert_gt(strlen(tg_strerror((tg_status)a)), 0u);
        for (int b = TG_OK; b < a; b++)
            cr_assert_str_neq(tg_strerror((tg_status)a), tg_strerror((tg_status)b));
    }
}

/* ---- intermediates that outlive a reset ------------------------------------------------
 * Each of these crashed or silently aliased before tensors carried their tape's
 * generation: a pointer kept from the last step pointed at the same slot as this step's
 * tensor, or (after a larger step) into float data. */

typedef struct {
    tg_tensor *x, *W, *b;
} layer;

static void layer_new(layer *L, tg_pcg32 *rng)
{
    static const size_t xs[2] = { 4, 3 }, ws[2] = { 5, 3 }, bs[1] = { 5 };
    L->x = tu_random(TG_CONST, 2, xs, rng, -1.0f, 1.0f);
    L->W = tu_random(TG_PARAM, 2, ws, rng, -1.0f, 1.0f);
    L->b = tu_random(TG_PARAM, 1, bs, rng, -0.5f, 0.5f);
}

static void layer_free(layer *L)
{
    tg_tensor_free(L->x);
    tg_tensor_free(L->W);
    tg_tensor_free(L->b);
}

/* The same graph every step: loss = sum(relu(x W^T + b)); *hidden gets the relu. */
static tg_tensor *layer_step(tg_tape *t, const layer *L, tg_tensor **hidden)
{
    tg_tensor *h = tg_relu(t, tg_linear(t, L->x, L->W, L->b));
    if (hidden)
        *hidden = h;
    return tg_sum(t, h);
}

static int all_zero(const tg_tensor *p)
{
    for (size_t i = 0; i < p->size; i++)
        if (p->grad[i] != 0.0f)
            return 0;
    return 1;
}

Test(errors, stale_output_of_the_same_graph_is_refused)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    layer L;
    tg_tensor *old_loss, *loss;
    tg_pcg32_seed(&rng, 11, 1);
    layer_new(&L, &rng);
    old_loss = layer_step(t, &L, NULL);
    cr_assert_eq(tg_backward(t, old_loss, NULL), TG_OK, "%s", tg_last_error());
    tg_zero_grad(L.W);
    tg_zero_grad(L.b);
    tg_tape_reset(t);
    loss = layer_step(t, &L, NULL);   /* the next step records the same graph */
    cr_assert_not_null(loss, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, old_loss, NULL), TG_ERR_TAPE);
    assert_mentions("tg_backward");
    assert_mentions("outlived a reset");
    cr_assert(all_zero(L.W) && all_zero(L.b), "a refused backward wrote gradients");
    cr_assert_eq(tg_tape_status(t), TG_ERR_TAPE);   /* the step is known to be broken */
    tg_tape_reset(t);
    loss = layer_step(t, &L, NULL);
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s", tg_last_error());
    cr_assert(!all_zero(L.W));
    tg_tape_free(t);
    layer_free(&L);
}

Test(errors, stale_input_of_the_same_graph_is_refused)
{
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    layer L;
    tg_tensor *old_hidden, *hidden;
    tg_pcg32_seed(&rng, 12, 1);
    layer_new(&L, &rng);
    cr_assert_not_null(layer_step(t, &L, &old_hidden), "%s", tg_last_error());
    tg_tape_reset(t);
    cr_assert_not_null(layer_step(t, &L, &hidden), "%s", tg_last_error());
    cr_assert_null(tg_sum(t, old_hidden));
    cr_assert_eq(tg_last_status(), TG_ERR_TAPE);
    assert_mentions("sum: input 0 [4,5]");
    assert_mentions("outlived a reset");
    tg_tape_free(t);
    layer_free(&L);
}

Test(errors, stale_seed_is_refused)
{
    static const size_t s5[1] = { 5 };
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *old_seed, *y;
    tg_pcg32_seed(&rng, 13, 1);
    x = tu_random(TG_PARAM, 1, s5, &rng, -1.0f, 1.0f);
    old_seed = tg_tape_const(t, 1, s5);
    cr_assert_not_null(old_seed);
    tg_tape_reset(t);
    y = tg_tanh(t, x);
    cr_assert_eq(tg_backward(t, y, old_seed), TG_ERR_TAPE);
    assert_mentions("seed");
    assert_mentions("outlived a reset");
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* The crash as reported: a small step, then a larger one whose float data covers the
 * memory where the old tensor used to be, then the old tensor as an input. Under ASan
 * and UBSan (CI) this also proves nothing reads it as anything but a tensor. */
Test(errors, stale_tensor_after_a_larger_step_is_refused)
{
    static const size_t s23[2] = { 2, 3 }, big[2] = { 64, 64 };
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *x, *X, *old, *y, *c;
    tg_pcg32_seed(&rng, 14, 1);
    x = tu_random(TG_PARAM, 2, s23, &rng, -1.0f, 1.0f);
    X = tu_random(TG_PARAM, 2, big, &rng, -1.0f, 1.0f);
    old = tg_relu(t, x);
    cr_assert_not_null(old);
    tg_tape_reset(t);
    c = tg_tape_const(t, 2, big);   /* bytes that would read as absurd ranks and shapes */
    memset(c->data, 0x7f, c->size * sizeof(float));
    y = X;
    for (int i = 0; i < 40; i++)
        y = tg_relu(t, tg_add(t, y, c));
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_null(tg_relu(t, old));
    cr_assert_eq(tg_last_status(), TG_ERR_TAPE);
    assert_mentions("relu: input 0 [2,3]");
    assert_mentions("outlived a reset");
    /* the same as backward's output */
    tg_tape_reset(t);
    old = tg_sum(t, tg_relu(t, x));
    cr_assert_not_null(old);
    tg_tape_reset(t);
    for (int i = 0; i < 40; i++)
        cr_assert_not_null(tg_tape_const(t, 2, big));
    cr_assert_eq(tg_backward(t, old, NULL), TG_ERR_TAPE);
    assert_mentions("tg_backward: output [] is an intermediate");
    assert_mentions("outlived a reset");
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(X);
}

/* The documented limit (tape.h): tensor structs are reused every other generation, so a
 * pointer kept across two resets is refused while its slot still holds the old tensor,
 * and is the current tensor once this step has reused the slot; never anything else. */
Test(errors, stale_tensor_two_resets_later_is_refused_or_current)
{
    static const size_t s4[1] = { 4 };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s4), *kept, *y, *fourth = NULL;
    x->data[0] = 1.0f;
    y = x;
    kept = NULL;
    for (int i = 0; i < 5; i++) {   /* generation 1: kept is the 4th tensor made */
        y = tg_relu(t, y);
        if (i == 3)
            kept = y;
    }
    tg_tape_reset(t);
    cr_assert_not_null(tg_relu(t, x));     /* generation 2: the other pool */
    tg_tape_reset(t);
    cr_assert_not_null(tg_relu(t, tg_relu(t, x)));   /* 3: two tensors, kept's slot untouched */
    cr_assert_null(tg_relu(t, kept));
    assert_mentions("outlived a reset");
    tg_tape_reset(t);
    tg_tape_reset(t);   /* generation 5: five tensors; the 4th takes kept's slot */
    y = x;
    for (int i = 0; i < 5; i++) {
        y = tg_relu(t, y);
        if (i == 3)
            fourth = y;
    }
    cr_assert_eq(kept, fourth);
    y = tg_relu(t, kept);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(y->data[0], 1.0f);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* ---- rules tg_apply refuses: as strict as tg_rule_register, registered or not ------- */

static tg_status copy_forward(tg_node *n)
{
    memcpy(n->out->data, n->in[0]->data, n->out->size * sizeof(float));
    return TG_OK;
}

static tg_status copy_backward(tg_node *n)
{
    if (n->in[0]->grad)
        for (size_t i = 0; i < n->out->size; i++)
            n->in[0]->grad[i] += n->out->grad[i];
    return TG_OK;
}

static void expect_refused(tg_tape *t, const tg_rule *r, tg_tensor *const *in, size_t n,
                           tg_status status, const char *text)
{
    tg_tape_reset(t);
    cr_expect_null(tg_apply(t, r, in, n, NULL), "rule with %s was applied", text);
    cr_expect_eq(tg_last_status(), status, "%s: status %d: %s", text, tg_last_status(),
                 tg_last_error());
    cr_expect(strstr(tg_last_error(), "tg_apply") != NULL, "%s", tg_last_error());
    cr_expect(strstr(tg_last_error(), text) != NULL, "\"%s\" lacks \"%s\"", tg_last_error(),
              text);
    cr_expect_eq(tg_tape_status(t), status);
}

Test(errors, apply_refuses_malformed_rules)
{
    static const size_t s3[1] = { 3 };
    const tg_rule good = { .name = "user_copy", .arity = 1, .infer = tg_infer_same_shape,
                           .forward = copy_forward, .backward = copy_backward };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3);
    tg_tensor *five[5] = { x, x, x, x, x };
    tg_rule r;
    expect_refused(t, NULL, &x, 1, TG_ERR_NULL, "rule is NULL");
    r = good, r.name = NULL;
    expect_refused(t, &r, &x, 1, TG_ERR_NULL, "no name");
    r = good, r.name = "";
    expect_refused(t, &r, &x, 1, TG_ERR_NULL, "no name");
    r = good, r.infer = NULL;
    expect_refused(t, &r, &x, 1, TG_ERR_NULL, "user_copy: infer, forward and backward");
    r = good, r.forward = NULL;
    expect_refused(t, &r, &x, 1, TG_ERR_NULL, "user_copy: infer, forward and backward");
    r = good, r.backward = NULL;
    expect_refused(t, &r, &x, 1, TG_ERR_NULL, "user_copy: infer, forward and backward");
    r = good, r.arity = 0;
    expect_refused(t, &r, &x, 0, TG_ERR_ARITY, "arity 0 is outside 1..4");
    r = good, r.arity = TG_MAX_ARITY + 1;
    expect_refused(t, &r, five, 5, TG_ERR_ARITY, "arity 5 is outside 1..4");
    r = good, r.n_params = TG_MAX_PARAMS + 1;
    expect_refused(t, &r, &x, 1, TG_ERR_ARITY, "5 parameters, at most 4");
    r = good, r.n_params = 2, r.param_names[0] = "a";
    expect_refused(t, &r, &x, 1, TG_ERR_NULL, "parameter 1 has no name");
    /* a well-formed rule need not be registered */
    tg_tape_reset(t);
    cr_assert_not_null(tg_apply(t, &good, &x, 1, NULL), "%s", tg_last_error());
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* ---- a rule's callbacks may not use their own tape ------------------------------------
 * A forward that applies rules, sweeps or resets its own tape would write the record it
 * is part of (and a backward that applies rules would grow the record under the sweep):
 * refused, with the tape's error telling the step's end. */

static tg_tape *nested_tape;
static int nested_what;   /* 0: apply, 1: backward, 2: reset, 3: recording off */

static tg_status nested_forward(tg_node *n)
{
    tg_tensor *x = n->in[0];
    if (nested_what == 0)
        (void)tg_relu(nested_tape, x);
    else if (nested_what == 1)
        (void)tg_backward(nested_tape, x, NULL);
    else if (nested_what == 2)
        tg_tape_reset(nested_tape);
    else
        tg_tape_set_recording(nested_tape, 0);
    return copy_forward(n);
}

static tg_status nested_backward(tg_node *n)
{
    (void)tg_relu(nested_tape, n->in[0]);
    return copy_backward(n);
}

Test(errors, callbacks_may_not_use_their_own_tape)
{
    static const size_t s3[1] = { 3 };
    const tg_rule nested = { .name = "nested", .arity = 1, .infer = tg_infer_same_shape,
                             .forward = nested_forward, .backward = copy_backward };
    const tg_rule nested_b = { .name = "nested_b", .arity = 1, .infer = tg_infer_same_shape,
                               .forward = copy_forward, .backward = nested_backward };
    static const char *const who[3] = { "tg_apply", "tg_backward", "tg_tape_reset" };
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3), *y;
    nested_tape = tg_tape_new();
    for (nested_what = 0; nested_what < 3; nested_what++) {
        tg_tape_reset(nested_tape);
        y = tg_apply(nested_tape, &nested, &x, 1, NULL);
        cr_assert_eq(tg_tape_status(nested_tape), TG_ERR_STATE, "%s", who[nested_what]);
        cr_assert(strstr(tg_tape_error(nested_tape), who[nested_what]) != NULL, "%s",
                  tg_tape_error(nested_tape));
        cr_assert(strstr(tg_tape_error(nested_tape), "from inside a rule's") != NULL);
        cr_assert_eq(tg_tape_length(nested_tape), y ? 1u : 0u);
        cr_assert_eq(tg_backward(nested_tape, tg_sum(nested_tape, y), NULL), TG_ERR_STATE);
    }
    /* recording switched off inside forward (allowed): this application, begun while
     * recording, is still recorded whole */
    tg_tape_reset(nested_tape);
    nested_what = 3;
    y = tg_apply(nested_tape, &nested, &x, 1, NULL);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_not_null(y->grad);
    cr_assert_eq(tg_tape_length(nested_tape), 1u);
    cr_assert_eq(tg_tape_node(nested_tape, 0)->out, y);
    cr_assert_eq(tg_tape_status(nested_tape), TG_OK);
    /* a backward that applies rules */
    tg_tape_reset(nested_tape);
    tg_tape_set_recording(nested_tape, 1);
    y = tg_sum(nested_tape, tg_apply(nested_tape, &nested_b, &x, 1, NULL));
    cr_assert_eq(tg_backward(nested_tape, y, NULL), TG_ERR_STATE);
    assert_mentions("tg_apply: called from inside a rule's");
    tg_tape_free(nested_tape);
    tg_tensor_free(x);
}

/* ---- every refusal of the core names the call ---------------------------------------- */

Test(errors, tape_node_out_of_range_has_a_message)
{
    static const size_t s3[1] = { 3 };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3);
    cr_assert_not_null(tg_relu(t, tg_relu(t, x)));
    cr_assert_not_null(tg_tape_node(t, 1));
    cr_assert_null(tg_tape_node(t, 2));
    cr_assert_eq(tg_last_status(), TG_ERR_TAPE);
    assert_mentions("tg_tape_node: record 2 is out of range (the tape holds 2)");
    cr_assert_null(tg_tape_node(t, SIZE_MAX));
    cr_assert_eq(tg_last_status(), TG_ERR_TAPE);
    cr_assert_null(tg_tape_node(NULL, 0));
    cr_assert_eq(tg_last_status(), TG_ERR_NULL);
    assert_mentions("tg_tape_node");
    tg_tape_free(t);
    tg_tensor_free(x);
}

Test(errors, rule_at_out_of_range_has_a_message)
{
    const size_t n = tg_rule_count();
    cr_assert_not_null(tg_rule_at(n - 1));
    cr_assert_null(tg_rule_at(n));
    cr_assert_eq(tg_last_status(), TG_ERR_NOT_FOUND);
    assert_mentions("tg_rule_at: index");
    assert_mentions("out of range");
    cr_assert_null(tg_rule_at(SIZE_MAX));
    cr_assert_eq(tg_last_status(), TG_ERR_NOT_FOUND);
}

/* Each call given a NULL tape (or node, or buffer) says so, whatever it returns. */
Test(errors, null_arguments_have_a_message)
{
    static const size_t s3[1] = { 3 };
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3);
#define EXPECT_NULL_ARG(call, name) \
    do { \
        tg_rule_find("reset the last error"); \
        (void)(call); \
        cr_expect_eq(tg_last_status(), TG_ERR_NULL, "%s", name); \
        cr_expect(strstr(tg_last_error(), name) != NULL, "%s: \"%s\"", name, tg_last_error()); \
    } while (0)
    EXPECT_NULL_ARG(tg_tape_status(NULL), "tg_tape_status");
    EXPECT_NULL_ARG(tg_tape_error(NULL), "tg_tape_error");
    EXPECT_NULL_ARG(tg_tape_kinks(NULL), "tg_tape_kinks");
    EXPECT_NULL_ARG(tg_tape_length(NULL), "tg_tape_length");
    EXPECT_NULL_ARG(tg_tape_node(NULL, 0), "tg_tape_node");
    EXPECT_NULL_ARG(tg_tape_set_recording(NULL, 1), "tg_tape_set_recording");
    EXPECT_NULL_ARG(tg_tape_set_anomaly(NULL, 1), "tg_tape_set_anomaly");
    EXPECT_NULL_ARG(tg_tape_const(NULL, 1, s3), "tg_tape_const");
    EXPECT_NULL_ARG(tg_apply(NULL, tg_rule_find("relu"), &x, 1, NULL), "tg_apply");
    EXPECT_NULL_ARG(tg_backward(NULL, x, NULL), "tg_backward");
    EXPECT_NULL_ARG(tg_node_scratch(NULL, 8), "tg_node_scratch");
    EXPECT_NULL_ARG(tg_infer_same_shape(NULL, NULL, NULL), "tg_infer_same_shape");
    EXPECT_NULL_ARG(tg_shape_str(x, NULL, 8), "tg_shape_str");
#undef EXPECT_NULL_ARG
    tg_tensor_free(x);
}

/* A rule's scratch request the allocator refuses: tg_node_scratch says so, and the
 * rule's refusal reaches the tape with the rule's name. */
static void *refuse_large(size_t n, void *ctx)
{
    (void)ctx;
    return n > ((size_t)1 << 20) ? NULL : malloc(n);
}

static void plain_free(void *p, void *ctx)
{
    (void)ctx;
    free(p);
}

static tg_status greedy_forward(tg_node *n)
{
    if (!tg_node_scratch(n, (size_t)4 << 20))
        return TG_ERR_NOMEM;
    return copy_forward(n);
}

Test(errors, node_scratch_out_of_memory_has_a_message)
{
    static const tg_allocator hook = { refuse_large, plain_free, NULL };
    static const size_t s3[1] = { 3 };
    const tg_rule greedy = { .name = "greedy", .arity = 1, .infer = tg_infer_same_shape,
                             .forward = greedy_forward, .backward = copy_backward };
    tg_tape *t;
    tg_tensor *x;
    tg_set_allocator(&hook);
    t = tg_tape_new();
    x = tg_tensor_new(TG_PARAM, 1, s3);
    cr_assert_null(tg_apply(t, &greedy, &x, 1, NULL));
    cr_assert_eq(tg_last_status(), TG_ERR_NOMEM);
    assert_mentions("greedy: forward: out of memory");
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_set_allocator(NULL);
}

/* ---- softmax_cross_entropy with infinite logits follows the limits (docs/rules.md) ---- */

/* One row of 3 logits and a label: the loss and the logits' gradient. */
static float sce_row(const float l[3], float label, float grad[3])
{
    static const size_t s13[2] = { 1, 3 }, s1[1] = { 1 };
    tg_tape *t = tg_tape_new();
    tg_tensor *logits = tg_tensor_new(TG_PARAM, 2, s13), *labels = tg_tensor_new(TG_CONST, 1, s1);
    tg_tensor *loss;
    float value;
    memcpy(logits->data, l, 3 * sizeof(float));
    labels->data[0] = label;
    loss = tg_softmax_cross_entropy(t, logits, labels);
    cr_assert_not_null(loss, "%s", tg_last_error());
    value = loss->data[0];
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s", tg_last_error());
    memcpy(grad, logits->grad, 3 * sizeof(float));
    tg_tape_free(t);
    tg_tensor_free(logits);
    tg_tensor_free(labels);
    return value;
}

#define EXPECT_GRAD(g, a, b, c) \
    do { \
        cr_expect_float_eq((g)[0], (a), 1e-7f, "grad[0] %g", (double)(g)[0]); \
        cr_expect_float_eq((g)[1], (b), 1e-7f, "grad[1] %g", (double)(g)[1]); \
        cr_expect_float_eq((g)[2], (c), 1e-7f, "grad[2] %g", (double)(g)[2]); \
    } while (0)

Test(errors, softmax_cross_entropy_inf_logit_in_another_class_gives_inf_loss)
{
    static const size_t s23[2] = { 2, 3 }, s2[1] = { 2 };
    const float l[6] = { 1.0f, INFINITY, 2.0f, 0.5f, -1.0f, 3.0f };
    tg_tape *t = tg_tape_new();
    tg_tensor *logits = tg_tensor_new(TG_PARAM, 2, s23), *labels = tg_tensor_new(TG_CONST, 1, s2);
    tg_tensor *loss;
    memcpy(logits->data, l, sizeof l);
    labels->data[0] = 0.0f;
    labels->data[1] = 2.0f;
    loss = tg_softmax_cross_entropy(t, logits, labels);
    cr_assert_not_null(loss, "%s", tg_last_error());
    cr_assert(isinf(loss->data[0]) && loss->data[0] > 0, "loss %g", (double)loss->data[0]);
    cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s", tg_last_error());
    /* row 0: (softmax - onehot) / B, the softmax all on the +inf logit */
    EXPECT_GRAD(logits->grad, -0.5f, 0.5f, 0.0f);
    for (size_t i = 3; i < 6; i++)   /* row 1 is an ordinary finite row */
        cr_expect(isfinite(logits->grad[i]), "grad[%zu] %g", i, (double)logits->grad[i]);
    tg_tape_free(t);
    tg_tensor_free(logits);
    tg_tensor_free(labels);
}

Test(errors, softmax_cross_entropy_infinite_logits_follow_the_limits)
{
    float g[3];
    /* a lone +inf on the label: the loss tends to 0, and so does the gradient */
    cr_expect_eq(sce_row((float[]){ 1.0f, INFINITY, 2.0f }, 1.0f, g), 0.0f);
    EXPECT_GRAD(g, 0.0f, 0.0f, 0.0f);
    /* two +inf, the label one of them: tied, log 2 */
    cr_expect_float_eq(sce_row((float[]){ INFINITY, INFINITY, 2.0f }, 0.0f, g), logf(2.0f), 1e-7f);
    EXPECT_GRAD(g, -0.5f, 0.5f, 0.0f);
    /* two +inf, the label elsewhere: +inf */
    cr_expect(isinf(sce_row((float[]){ INFINITY, INFINITY, 2.0f }, 2.0f, g)));
    EXPECT_GRAD(g, 0.5f, 0.5f, -1.0f);
    /* -inf on the label, the rest finite: +inf, probability 0 on the label */
    cr_expect(isinf(sce_row((float[]){ -INFINITY, 0.0f, 0.0f }, 0.0f, g)));
    EXPECT_GRAD(g, -1.0f, 0.5f, 0.5f);
    /* every logit -inf: all tied, log 3 */
    cr_expect_float_eq(sce_row((float[]){ -INFINITY, -INFINITY, -INFINITY }, 1.0f, g),
                       logf(3.0f), 1e-7f);
    EXPECT_GRAD(g, 1.0f / 3.0f, 1.0f / 3.0f - 1.0f, 1.0f / 3.0f);
    /* NaN stays NaN */
    cr_expect(isnan(sce_row((float[]){ NAN, INFINITY, 2.0f }, 0.0f, g)));
    cr_expect(isnan(g[0]) && isnan(g[1]) && isnan(g[2]));
}

/* ---- the gradient checker: no false alarms at kinks, real errors still caught -------- */

typedef struct {
    tg_tensor *x, *W, *b;
    const tg_rule *act;     /* applied to x W^T + b */
    const float *param;
} act_layer;

static tg_tensor *act_layer_graph(tg_tape *t, void *ctx)
{
    act_layer *L = ctx;
    tg_tensor *z = tg_linear(t, L->x, L->W, L->b);
    return tg_apply(t, L->act, &z, 1, L->param);
}

/* A random 8 -> 16 layer on a batch of 4, the activation applied to its output; checks
 * x, W and b. Returns how many of `seeds` seeds failed; *skipped sums the skipped. */
static int layer_failures(const tg_rule *act, const float *param, int seeds, size_t *skipped)
{
    static const size_t xs[2] = { 4, 8 }, ws[2] = { 16, 8 }, bs[1] = { 16 };
    int failed = 0;
    *skipped = 0;
    for (int seed = 0; seed < seeds; seed++) {
        tg_pcg32 rng;
        act_layer L;
        tg_gradcheck_result res;
        tg_gradcheck_opts opts = { 0 };
        tg_tensor *wrt[3];
        tg_pcg32_seed(&rng, (uint64_t)seed, 7);
        L.x = tu_random(TG_PARAM, 2, xs, &rng, -1.0f, 1.0f);
        L.W = tu_random(TG_PARAM, 2, ws, &rng, -0.5f, 0.5f);
        L.b = tu_random(TG_PARAM, 1, bs, &rng, -0.1f, 0.1f);
        L.act = act;
        L.param = param;
        wrt[0] = L.x, wrt[1] = L.W, wrt[2] = L.b;
        opts.seed = (uint64_t)seed;
        cr_assert_eq(tg_gradcheck(act_layer_graph, &L, wrt, 3, &opts, &res), TG_OK, "%s",
                     tg_last_error());
        cr_expect_eq(res.checked + res.skipped, 4 * 8 + 16 * 8 + 16);
        failed += !res.pass;
        *skipped += res.skipped;
        tg_tensor_free(L.x);
        tg_tensor_free(L.W);
        tg_tensor_free(L.b);
    }
    return failed;
}

/* Before, 10 of these 20 seeds failed: a central difference straddling relu's kink
 * within h of a point. skipped > 0 shows the kinks were there to be handled. */
Test(errors, gradcheck_no_false_alarm_on_a_relu_layer)
{
    size_t skipped;
    cr_assert_eq(layer_failures(tg_rule_find("relu"), NULL, 20, &skipped), 0);
    cr_assert_gt(skipped, 0u);
}

Test(errors, gradcheck_no_false_alarm_on_a_leaky_relu_layer)
{
    const float alpha = 0.1f;
    size_t skipped;
    cr_assert_eq(layer_failures(tg_rule_find("leaky_relu"), &alpha, 20, &skipped), 0);
    cr_assert_gt(skipped, 0u);
}

/* A user's leaky relu (slope 0.2) whose backward uses 0.19 on the negative side: the
 * kink handling must not excuse it, on any seed. */
static tg_status leaky_forward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++) {
        const float x = n->in[0]->data[i];
        n->out->data[i] = x > 0.0f ? x : 0.2f * x;
    }
    return TG_OK;
}

static tg_status leaky_wrong_backward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++)
        n->in[0]->grad[i] += n->out->grad[i] * (n->in[0]->data[i] > 0.0f ? 1.0f : 0.19f);
    return TG_OK;
}

Test(errors, gradcheck_still_catches_a_wrong_derivative_with_a_kink)
{
    static const tg_rule wrong = { .name = "leaky_wrong", .arity = 1,
                                   .infer = tg_infer_same_shape, .forward = leaky_forward,
                                   .backward = leaky_wrong_backward };
    size_t skipped;
    cr_assert_eq(layer_failures(&wrong, NULL, 20, &skipped), 20);
}

/* The checker's own refusals name what went wrong. */
static int calls;
static tg_tensor *changing_graph(tg_tape *t, void *ctx)
{
    return calls++ == 0 ? tg_sum(t, ctx) : tg_relu(t, ctx);   /* 1 element, then 2 */
}

static tg_tensor *null_graph(tg_tape *t, void *ctx)
{
    (void)t;
    (void)ctx;
    return NULL;
}

static tg_tensor *overflow_graph(tg_tape *t, void *ctx)
{
    return tg_scale(t, ctx, 1e30f);
}

static tg_tensor *bad_param_graph(tg_tape *t, void *ctx)
{
    return tg_scale(t, ctx, INFINITY);
}

Test(errors, gradcheck_refusals_have_a_message)
{
    static const size_t s2[1] = { 2 };
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s2);
    tg_gradcheck_result res;
    x->data[0] = 1e30f;
    x->data[1] = 1.0f;
    cr_assert_eq(tg_gradcheck(null_graph, NULL, &x, 1, NULL, &res), TG_ERR_STATE);
    assert_mentions("returned NULL");
    calls = 0;
    cr_assert_eq(tg_gradcheck(changing_graph, x, &x, 1, NULL, &res), TG_ERR_SHAPE);
    assert_mentions("changed from 1 to 2 elements");
    cr_assert_eq(tg_gradcheck(overflow_graph, x, &x, 1, NULL, &res), TG_ERR_DOMAIN);
    assert_mentions("not finite");
    cr_assert_eq(tg_gradcheck(bad_param_graph, x, &x, 1, NULL, &res), TG_ERR_PARAM);
    assert_mentions("scale");
    tg_tensor_free(x);
}
