/* Anomaly mode: the first rule that turns finite values into NaN or infinity is named,
 * in forward and in backward; values that arrive non-finite from the data are not
 * blamed on the rules they pass through; off by default. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>

#define assert_mentions(text) \
    cr_assert(strstr(tg_last_error(), (text)) != NULL, "message \"%s\" lacks \"%s\"", \
              tg_last_error(), (text))

static const size_t s3[1] = { 3 };

static tg_tensor *param3(float a, float b, float c)
{
    tg_tensor *x = tg_tensor_new(TG_PARAM, 1, s3);
    x->data[0] = a;
    x->data[1] = b;
    x->data[2] = c;
    return x;
}

Test(anomaly, off_by_default_and_returns_the_previous_setting)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = param3(1e30f, 1.0f, 2.0f), *y;
    y = tg_mul(t, x, x);   /* 1e60 overflows: silently, anomaly mode being off */
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert(isinf(y->data[0]));
    cr_assert_eq(tg_tape_status(t), TG_OK);
    cr_assert_eq(tg_tape_set_anomaly(t, 1), 0);
    cr_assert_eq(tg_tape_set_anomaly(t, 0), 1);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* a = 2x is finite, b = a*a overflows, c = relu(b) only passes the infinity on:
 * mul is named, with its record, the element and the input shapes. */
Test(anomaly, forward_names_the_first_rule_that_overflows)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = param3(1.0f, 1e30f, 2.0f), *a, *b;
    tg_tape_set_anomaly(t, 1);
    a = tg_scale(t, x, 2.0f);
    cr_assert_not_null(a, "%s", tg_last_error());
    b = tg_mul(t, a, a);
    cr_assert_null(b);
    cr_assert_eq(tg_last_status(), TG_ERR_NONFINITE);
    assert_mentions("anomaly: mul (record 1) produced +inf at output element 1");
    assert_mentions("inputs [3], [3]");
    cr_assert_eq(tg_tape_status(t), TG_ERR_NONFINITE);
    cr_assert_null(tg_relu(t, a));   /* the step stops at the first error */
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* With recording off (inference) there is no record number to give. */
Test(anomaly, forward_while_not_recording)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = param3(0.0f, 1.0f, 2.0f);
    tg_tape_set_anomaly(t, 1);
    tg_tape_set_recording(t, 0);
    cr_assert_null(tg_scale(t, x, 3e38f));   /* 2 * 3e38 overflows float */
    assert_mentions("anomaly: scale (not recorded) produced +inf at output element 2");
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* A -inf mask from the data passes through add and relu without blame: those rules
 * were given an infinity, they did not make one. */
Test(anomaly, values_non_finite_in_the_data_are_not_blamed)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = param3(1.0f, 2.0f, 3.0f), *mask = tg_tensor_new(TG_CONST, 1, s3), *y;
    mask->data[1] = -INFINITY;
    tg_tape_set_anomaly(t, 1);
    y = tg_relu(t, tg_add(t, x, mask));
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(y->data[1], 0.0f);
    cr_assert_eq(tg_tape_status(t), TG_OK);
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(mask);
}

/* y = scale(scale(x, 1e30), 1e30) is finite forward (x = 1e-40), but its gradient is
 * 1e30 * 1e30: the inner scale's backward overflows from a finite cotangent (1e30). */
Test(anomaly, backward_names_the_rule_whose_gradient_overflows)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = param3(1e-40f, 0.0f, 1e-41f), *y, *seed;
    tg_tape_set_anomaly(t, 1);
    y = tg_scale(t, tg_scale(t, x, 1e30f), 1e30f);
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert(isfinite(y->data[0]));
    seed = tg_tape_const(t, 1, s3);
    seed->data[0] = seed->data[1] = seed->data[2] = 1.0f;
    cr_assert_eq(tg_backward(t, y, seed), TG_ERR_NONFINITE);
    assert_mentions("anomaly: backward of scale (record 0) produced +inf in the gradient of "
                    "input 0 at element 0");
    assert_mentions("(inputs [3])");
    cr_assert_eq(tg_tape_status(t), TG_ERR_NONFINITE);
    /* off, the same sweep completes with the infinity in the gradient */
    tg_tape_reset(t);
    tg_tape_set_anomaly(t, 0);
    tg_zero_grad(x);
    y = tg_scale(t, tg_scale(t, x, 1e30f), 1e30f);
    seed = tg_tape_const(t, 1, s3);
    seed->data[0] = 1.0f;
    cr_assert_eq(tg_backward(t, y, seed), TG_OK);
    cr_assert(isinf(x->grad[0]));
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* A user rule whose backward makes NaN (0/0) out of finite numbers is named. */
static tg_status id_forward(tg_node *n)
{
    memcpy(n->out->data, n->in[0]->data, n->out->size * sizeof(float));
    return TG_OK;
}

static tg_status nan_backward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++) {
        const float x = n->in[0]->data[i];
        n->in[0]->grad[i] += n->out->grad[i] * (x / x);   /* NaN at x = 0 */
    }
    return TG_OK;
}

Test(anomaly, backward_names_a_user_rule_that_makes_nan)
{
    static const tg_rule buggy = { .name = "buggy_identity", .arity = 1,
                                   .infer = tg_infer_same_shape, .forward = id_forward,
                                   .backward = nan_backward };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = param3(1.0f, 0.0f, 2.0f), *h, *y;
    tg_tape_set_anomaly(t, 1);
    h = tg_tanh(t, x);
    y = tg_sum(t, tg_apply(t, &buggy, &h, 1, NULL));
    cr_assert_not_null(y, "%s", tg_last_error());
    cr_assert_eq(tg_backward(t, y, NULL), TG_ERR_NONFINITE);
    assert_mentions("backward of buggy_identity (record 1) produced NaN in the gradient of "
                    "input 0 at element 1");
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* A parameter gradient that was already infinite (an earlier step's) is not blamed on
 * the rule that adds a finite contribution to it. */
Test(anomaly, an_already_infinite_gradient_is_not_blamed)
{
    tg_tape *t = tg_tape_new();
    tg_tensor *x = param3(1.0f, 2.0f, 3.0f), *y;
    x->grad[1] = INFINITY;
    tg_tape_set_anomaly(t, 1);
    y = tg_sum(t, tg_tanh(t, x));
    cr_assert_eq(tg_backward(t, y, NULL), TG_OK, "%s", tg_last_error());
    cr_assert(isinf(x->grad[1]));
    cr_assert(isfinite(x->grad[0]) && x->grad[0] > 0.0f);
    tg_tape_free(t);
    tg_tensor_free(x);
}

/* A clean training-like step passes with anomaly mode on, and gives the same numbers. */
Test(anomaly, a_clean_step_is_unchanged)
{
    static const size_t s23[2] = { 2, 3 }, s43[2] = { 4, 3 }, s4[1] = { 4 };
    tg_tape *t = tg_tape_new();
    tg_tensor *x = tg_tensor_new(TG_CONST, 2, s23), *W = tg_tensor_new(TG_PARAM, 2, s43);
    tg_tensor *b = tg_tensor_new(TG_PARAM, 1, s4), *loss;
    float g_off[12], v_off;
    for (size_t i = 0; i < 6; i++)
        x->data[i] = 0.3f * (float)i - 0.7f;
    for (size_t i = 0; i < 12; i++)
        W->data[i] = 0.1f * (float)i - 0.5f;
    for (int on = 0; on < 2; on++) {
        tg_tape_reset(t);
        tg_tape_set_anomaly(t, on);
        tg_zero_grad(W);
        loss = tg_mean(t, tg_gelu(t, tg_linear(t, x, W, b)));
        cr_assert_not_null(loss, "%s", tg_last_error());
        cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s", tg_last_error());
        if (!on) {
            v_off = loss->data[0];
            memcpy(g_off, W->grad, sizeof g_off);
        } else {
            cr_assert_eq(loss->data[0], v_off);
            cr_assert_arr_eq(W->grad, g_off, sizeof g_off);
        }
    }
    tg_tape_free(t);
    tg_tensor_free(x);
    tg_tensor_free(W);
    tg_tensor_free(b);
}
