/* Parameter sets: flat, aligned blocks; names; growth keeps values; norms, clipping,
 * copy and EMA; refusals with messages; no leak when an allocation fails. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

static tg_tensor *add2(tg_params *ps, const char *name, size_t a, size_t b)
{
    return tg_params_add(ps, name, 2, (size_t[]){ a, b });
}

Test(params, tensors_are_slices_of_two_aligned_blocks)
{
    tg_params *ps = tg_params_new();
    tg_tensor *W = add2(ps, "fc1.weight", 3, 5);
    tg_tensor *b = tg_params_add(ps, "fc1.bias", 1, (size_t[]){ 3 });
    cr_assert(W && b);
    cr_expect_eq(tg_params_count(ps), 2);
    cr_expect_eq(tg_params_numel(ps), 18);
    cr_expect_eq(tg_params_offset(ps, 0), 0);
    cr_expect_eq(tg_params_offset(ps, 1), 16);   /* 15 floats rounded up to 64 bytes */
    cr_expect_eq(tg_params_flat_size(ps), 32);
    cr_expect_eq(W->data, tg_params_data(ps));
    cr_expect_eq(b->data, tg_params_data(ps) + 16);
    cr_expect_eq(b->grad, tg_params_grad(ps) + 16);
    cr_expect_eq((uintptr_t)b->data % 64, 0);
    cr_expect_eq((uintptr_t)b->grad % 64, 0);
    cr_expect_eq(W->kind, TG_PARAM);
    cr_expect_str_eq(tg_params_name(ps, 1), "fc1.bias");
    cr_expect_eq(tg_params_find(ps, "fc1.weight"), W);
    cr_expect_eq(tg_params_at(ps, 1), b);
    for (size_t i = 0; i < tg_params_flat_size(ps); i++)
        cr_expect(tg_params_data(ps)[i] == 0.0f && tg_params_grad(ps)[i] == 0.0f);
    tg_params_free(ps);
}

Test(params, growth_keeps_values_and_moves_every_tensor)
{
    tg_params *ps = tg_params_new();
    tg_tensor *t[40];
    char name[32];
    for (size_t i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "p%zu", i);
        t[i] = add2(ps, name, i + 1, 7);
        cr_assert(t[i]);
        for (size_t k = 0; k < t[i]->size; k++) {
            t[i]->data[k] = (float)(i * 1000 + k);
            t[i]->grad[k] = -(float)(i * 1000 + k);
        }
    }
    for (size_t i = 0; i < 40; i++) {
        cr_expect_eq(t[i]->data, tg_params_data(ps) + tg_params_offset(ps, i));
        for (size_t k = 0; k < t[i]->size; k++) {
            cr_expect_eq(t[i]->data[k], (float)(i * 1000 + k));
            cr_expect_eq(t[i]->grad[k], -(float)(i * 1000 + k));
        }
    }
    tg_params_free(ps);
}

Test(params, refusals_have_messages)
{
    tg_params *ps = tg_params_new();
    char longname[TG_PARAM_NAME_MAX + 2];
    cr_assert(add2(ps, "w", 2, 2));
    cr_expect_null(add2(ps, "w", 2, 2));
    cr_expect_eq(tg_last_status(), TG_ERR_EXISTS);
    cr_expect(strstr(tg_last_error(), "\"w\""));
    cr_expect_null(add2(ps, "", 2, 2));
    cr_expect_eq(tg_last_status(), TG_ERR_PARAM);
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    cr_expect_null(add2(ps, longname, 2, 2));
    cr_expect_eq(tg_last_status(), TG_ERR_PARAM);
    cr_expect_null(add2(ps, "z", 0, 2));
    cr_expect_eq(tg_last_status(), TG_ERR_SIZE);
    cr_expect_null(tg_params_add(NULL, "x", 0, NULL));
    cr_expect_eq(tg_last_status(), TG_ERR_NULL);
    cr_expect_null(tg_params_find(ps, "nope"));
    cr_expect_eq(tg_last_status(), TG_ERR_NOT_FOUND);
    cr_expect_null(tg_params_at(ps, 1));
    cr_expect(strstr(tg_last_error(), "out of range"));
    /* a set's tensor is not freed by tg_tensor_free */
    tg_tensor_free(tg_params_at(ps, 0));
    cr_expect_eq(tg_last_status(), TG_ERR_STATE);
    cr_expect_eq(tg_params_count(ps), 1);
    tg_params_free(ps);
}

Test(params, grad_norm_and_clipping)
{
    tg_params *ps = tg_params_new();
    tg_tensor *a = tg_params_add(ps, "a", 1, (size_t[]){ 2 });
    tg_tensor *b = tg_params_add(ps, "b", 1, (size_t[]){ 1 });
    a->grad[0] = 3.0f;
    a->grad[1] = 0.0f;
    b->grad[0] = 4.0f;
    cr_expect_eq(tg_params_grad_norm(ps), 5.0);
    cr_expect_eq(tg_params_clip_grad_norm(ps, 10.0), 5.0);   /* below: untouched */
    cr_expect_eq(a->grad[0], 3.0f);
    cr_expect_eq(tg_params_clip_grad_norm(ps, 1.0), 5.0);
    cr_expect_float_eq(a->grad[0], 0.6f, 1e-7f);
    cr_expect_float_eq(b->grad[0], 0.8f, 1e-7f);
    cr_expect(fabs(tg_params_grad_norm(ps) - 1.0) < 1e-6);
    b->grad[0] = INFINITY;
    cr_expect(isinf(tg_params_clip_grad_norm(ps, 1.0)));
    cr_expect_eq(tg_last_status(), TG_ERR_NONFINITE);
    cr_expect_eq(a->grad[0], 0.6f);   /* left alone */
    cr_expect(isnan(tg_params_clip_grad_norm(ps, 0.0)));
    cr_expect_eq(tg_last_status(), TG_ERR_PARAM);
    tg_params_zero_grad(ps);
    cr_expect_eq(tg_params_grad_norm(ps), 0.0);
    tg_params_free(ps);
}

Test(params, copy_and_ema_need_the_same_layout)
{
    tg_params *p = tg_params_new(), *q = tg_params_new(), *r = tg_params_new();
    tg_tensor *pw = add2(p, "w", 2, 3), *qw = add2(q, "w", 2, 3);
    cr_assert(add2(r, "w", 3, 2));
    for (size_t i = 0; i < 6; i++) {
        pw->data[i] = (float)i;
        qw->data[i] = 10.0f;
    }
    cr_expect_eq(tg_params_ema(q, p, 0.75), TG_OK);
    for (size_t i = 0; i < 6; i++)
        cr_expect_float_eq(qw->data[i], 0.75f * 10.0f + 0.25f * (float)i, 1e-6f);
    cr_expect_eq(tg_params_copy(q, p), TG_OK);
    cr_expect_arr_eq(qw->data, pw->data, 6 * sizeof(float));
    cr_expect_eq(tg_params_copy(r, p), TG_ERR_SHAPE);
    cr_expect(strstr(tg_last_error(), "[3,2]") && strstr(tg_last_error(), "[2,3]"));
    cr_expect_eq(tg_params_ema(q, p, 1.5), TG_ERR_PARAM);
    cr_assert(add2(q, "extra", 1, 1));
    cr_expect_eq(tg_params_copy(q, p), TG_ERR_MISMATCH);
    tg_params_free(p);
    tg_params_free(q);
    tg_params_free(r);
}

/* Fail each allocation of building a 30-tensor set in turn: a clean NULL, the set still
 * usable and its values intact, nothing leaked. */
Test(params, allocation_failure_anywhere_leaks_nothing)
{
    for (size_t fail = 1; fail < 80; fail++) {
        tu_counter c = { .fail_at = fail };
        const tg_allocator a = { tu_count_alloc, tu_count_free, &c };
        tg_params *ps;
        size_t added = 0;
        tg_set_allocator(&a);
        ps = tg_params_new();
        for (size_t i = 0; ps && i < 30; i++) {
            char name[16];
            tg_tensor *t;
            snprintf(name, sizeof name, "t%zu", i);
            t = add2(ps, name, i + 1, 3);
            if (t) {
                t->data[0] = (float)i;
                added++;
            } else {
                cr_expect_eq(tg_last_status(), TG_ERR_NOMEM);
            }
        }
        if (ps) {
            cr_expect_eq(tg_params_count(ps), added);
            for (size_t i = 0; i < added; i++) {   /* names t<k> hold k in their first float */
                const tg_tensor *t = tg_params_at(ps, i);
                cr_expect_eq(t->data[0], (float)atoi(tg_params_name(ps, i) + 1));
                cr_expect_eq(t->data, tg_params_data(ps) + tg_params_offset(ps, i));
            }
        }
        tg_params_free(ps);
        tg_set_allocator(NULL);
        cr_expect_eq(c.live, 0, "fail at %zu: %ld blocks leaked", fail, c.live);
    }
}
