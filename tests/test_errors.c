/* Bad input gets a status and a message naming the call and the shapes; the tape keeps
 * its first error so a step is checked once. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>

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
