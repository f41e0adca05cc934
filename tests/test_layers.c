/* Layers: a dense layer registers its parameters under its name and initializes them
 * like PyTorch's nn.Linear; its forward is tg_linear; an MLP is the composition of its
 * layers and the activation, by name and by value; refusals have messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

static tg_tensor *batch(tg_tape *t, size_t rows, size_t cols, tg_pcg32 *rng)
{
    tg_tensor *x = tg_tape_const(t, 2, (size_t[]){ rows, cols });
    cr_assert_not_null(x, "%s", tg_last_error());
    for (size_t i = 0; i < x->size; i++)
        x->data[i] = tu_draw(rng);
    return x;
}

Test(layers, dense_registers_weight_and_bias_with_their_shapes)
{
    tg_params *ps = tg_params_new();
    tg_dense d;
    tg_pcg32 r;
    tg_pcg32_seed(&r, 1, 1);
    cr_assert_eq(tg_dense_init(&d, ps, "fc1", 5, 3, NULL, &r), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_params_count(ps), 2);
    cr_expect_str_eq(tg_params_name(ps, 0), "fc1.weight");
    cr_expect_str_eq(tg_params_name(ps, 1), "fc1.bias");
    cr_expect_eq(d.W, tg_params_find(ps, "fc1.weight"));
    cr_expect_eq(d.b, tg_params_find(ps, "fc1.bias"));
    cr_expect(d.W->rank == 2 && d.W->shape[0] == 3 && d.W->shape[1] == 5);
    cr_expect(d.b->rank == 1 && d.b->shape[0] == 3);
    cr_expect(d.in == 5 && d.out == 3);
    tg_params_free(ps);
}

/* PyTorch's nn.Linear: W and b both U(-1/sqrt(in), 1/sqrt(in)); W drawn first. */
Test(layers, dense_default_init_is_pytorch_linear)
{
    const size_t in = 50, out = 40;
    const float bound = (float)(1.0 / sqrt((double)in));
    tg_params *ps = tg_params_new();
    tg_tensor *W = tg_tensor_new(TG_PARAM, 2, (size_t[]){ out, in });
    tg_tensor *b = tg_tensor_new(TG_PARAM, 1, (size_t[]){ out });
    tg_dense d;
    tg_pcg32 r1, r2;
    float lo = 0.0f, hi = 0.0f;
    tg_pcg32_seed(&r1, 8, 8);
    r2 = r1;
    cr_assert_eq(tg_dense_init(&d, ps, "l", in, out, NULL, &r1), TG_OK);
    cr_assert_eq(tg_init_uniform(W, -bound, bound, &r2), TG_OK);
    cr_assert_eq(tg_init_uniform(b, -bound, bound, &r2), TG_OK);
    cr_expect_arr_eq(d.W->data, W->data, W->size * sizeof(float));
    cr_expect_arr_eq(d.b->data, b->data, b->size * sizeof(float));
    for (size_t i = 0; i < W->size; i++) {
        lo = fminf(lo, d.W->data[i]);
        hi = fmaxf(hi, d.W->data[i]);
    }
    /* 2000 draws: the extremes lie within 1% of the bounds unless p < 0.99^2000 = 2e-9 */
    cr_expect(lo >= -bound && hi < bound && lo < -0.99f * bound && hi > 0.99f * bound,
              "range [%g, %g], bound %g", (double)lo, (double)hi, (double)bound);
    cr_expect(r1.state == r2.state);
    tg_params_free(ps);
    tg_tensor_free(W);
    tg_tensor_free(b);
}

Test(layers, dense_options_choose_the_initializers)
{
    tg_params *ps = tg_params_new();
    tg_tensor *W = tg_tensor_new(TG_PARAM, 2, (size_t[]){ 6, 4 });
    const tg_dense_opts o = { 0, TG_INIT_HE_NORMAL, TG_INIT_ZEROS };
    tg_dense d;
    tg_pcg32 r1, r2;
    tg_pcg32_seed(&r1, 4, 4);
    r2 = r1;
    cr_assert_eq(tg_dense_init(&d, ps, "h", 4, 6, &o, &r1), TG_OK);
    cr_assert_eq(tg_init_he_normal(W, 0.0, &r2), TG_OK);
    cr_expect_arr_eq(d.W->data, W->data, W->size * sizeof(float));
    for (size_t i = 0; i < 6; i++)
        cr_expect(d.b->data[i] == 0.0f);
    cr_expect(r1.state == r2.state, "zeros draw nothing");
    tg_params_free(ps);
    tg_tensor_free(W);
}

Test(layers, dense_without_bias_registers_only_the_weight)
{
    tg_params *ps = tg_params_new();
    const tg_dense_opts o = { 1, TG_INIT_XAVIER_UNIFORM, TG_INIT_DEFAULT };
    tg_dense d;
    tg_pcg32 r;
    tg_pcg32_seed(&r, 2, 2);
    cr_assert_eq(tg_dense_init(&d, ps, "proj", 7, 2, &o, &r), TG_OK, "%s", tg_last_error());
    cr_expect_eq(tg_params_count(ps), 1);
    cr_expect_str_eq(tg_params_name(ps, 0), "proj.weight");
    cr_expect_null(d.b);
    cr_expect(d.W->shape[0] == 2 && d.W->shape[1] == 7);
    cr_expect_eq(tg_params_numel(ps), 14);
    tg_params_free(ps);
}

/* y = x W^T + b, by hand in double: each y is a sum of in + 1 float products, so within
 * gamma_{in+1} sum |terms| (Higham) of the exact value. */
static void expect_dense_output(const tg_tensor *y, const tg_tensor *x, const tg_dense *d)
{
    const size_t B = x->shape[0], in = d->in, out = d->out;
    for (size_t r = 0; r < B; r++)
        for (size_t i = 0; i < out; i++) {
            double s = d->b ? d->b->data[i] : 0.0, mag = fabs(s);
            for (size_t j = 0; j < in; j++) {
                s += (double)x->data[r * in + j] * d->W->data[i * in + j];
                mag += fabs((double)x->data[r * in + j] * d->W->data[i * in + j]);
            }
            cr_expect_leq(fabs(y->data[r * out + i] - s), tu_gamma(in + 1, 0x1p-24) * mag,
                          "y[%zu,%zu] = %g, want %g", r, i, (double)y->data[r * out + i], s);
        }
}

Test(layers, dense_forward_is_linear)
{
    tg_params *ps = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_dense d;
    tg_pcg32 r;
    tg_tensor *x, *y, *z;
    tg_pcg32_seed(&r, 3, 3);
    cr_assert_eq(tg_dense_init(&d, ps, "fc", 9, 4, NULL, &r), TG_OK);
    x = batch(t, 5, 9, &r);
    y = tg_dense_forward(t, &d, x);
    z = tg_linear(t, x, d.W, d.b);
    cr_assert(y && z, "%s", tg_tape_error(t));
    cr_expect(y->rank == 2 && y->shape[0] == 5 && y->shape[1] == 4);
    cr_expect_arr_eq(y->data, z->data, y->size * sizeof(float));
    expect_dense_output(y, x, &d);
    tg_tape_free(t);
    tg_params_free(ps);
}

Test(layers, dense_forward_without_bias)
{
    tg_params *ps = tg_params_new();
    tg_tape *t = tg_tape_new();
    const tg_dense_opts o = { 1, TG_INIT_DEFAULT, TG_INIT_DEFAULT };
    tg_dense d;
    tg_pcg32 r;
    tg_tensor *x, *y;
    tg_pcg32_seed(&r, 6, 6);
    cr_assert_eq(tg_dense_init(&d, ps, "fc", 6, 3, &o, &r), TG_OK);
    x = batch(t, 4, 6, &r);
    y = tg_dense_forward(t, &d, x);
    cr_assert_not_null(y, "%s", tg_last_error());
    expect_dense_output(y, x, &d);
    tg_tape_free(t);
    tg_params_free(ps);
}

Test(layers, dense_refusals_have_messages)
{
    tg_params *ps = tg_params_new();
    tg_dense d;
    tg_pcg32 r;
    char longname[TG_PARAM_NAME_MAX];
    tg_dense_opts bad = { 0, (tg_init_kind)42, TG_INIT_DEFAULT };
    tg_pcg32_seed(&r, 1, 1);
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';   /* fits alone, not with ".weight" */

    cr_expect_eq(tg_dense_init(NULL, ps, "a", 2, 2, NULL, &r), TG_ERR_NULL);
    cr_expect(strstr(tg_last_error(), "layer is NULL"));
    cr_expect_eq(tg_dense_init(&d, NULL, "a", 2, 2, NULL, &r), TG_ERR_NULL);
    cr_expect_eq(tg_dense_init(&d, ps, NULL, 2, 2, NULL, &r), TG_ERR_NULL);
    cr_expect_eq(tg_dense_init(&d, ps, "a", 2, 2, NULL, NULL), TG_ERR_NULL);
    cr_expect(strstr(tg_last_error(), "rng is NULL"));
    cr_expect_eq(tg_dense_init(&d, ps, "a", 0, 2, NULL, &r), TG_ERR_SIZE);
    cr_expect(strstr(tg_last_error(), "0 -> 2"));
    cr_expect_eq(tg_dense_init(&d, ps, "a", 2, 2, &bad, &r), TG_ERR_PARAM);
    cr_expect(strstr(tg_last_error(), "weight_init = 42"));
    cr_expect_eq(tg_dense_init(&d, ps, longname, 2, 2, NULL, &r), TG_ERR_PARAM);
    cr_expect(strstr(tg_last_error(), ".weight\" is longer than"));
    cr_expect_eq(tg_params_count(ps), 0, "nothing added by a refusal");

    cr_assert_eq(tg_dense_init(&d, ps, "a", 2, 2, NULL, &r), TG_OK);
    cr_expect_eq(tg_dense_init(&d, ps, "a", 3, 3, NULL, &r), TG_ERR_EXISTS);
    cr_expect(strstr(tg_last_error(), "\"a.weight\""));
    cr_expect_eq(tg_params_count(ps), 2);
    /* zero initializers need no generator */
    {
        const tg_dense_opts z = { 0, TG_INIT_ZEROS, TG_INIT_ZEROS };
        cr_expect_eq(tg_dense_init(&d, ps, "z", 2, 2, &z, NULL), TG_OK, "%s", tg_last_error());
    }
    cr_expect_null(tg_dense_forward(NULL, &d, NULL));
    cr_expect_null(tg_dense_forward(NULL, NULL, NULL));
    cr_expect(strstr(tg_last_error(), "tg_dense_forward: layer is NULL"));
    tg_params_free(ps);
}

Test(layers, mlp_names_and_shapes)
{
    const size_t sizes[4] = { 3, 8, 5, 2 };
    tg_params *ps = tg_params_new();
    tg_mlp m;
    tg_pcg32 r;
    static const char *const names[6] = { "net.0.weight", "net.0.bias", "net.1.weight",
                                          "net.1.bias", "net.2.weight", "net.2.bias" };
    tg_pcg32_seed(&r, 5, 5);
    cr_assert_eq(tg_mlp_init(&m, ps, "net", sizes, 4, tg_rule_find("silu"), NULL, &r), TG_OK,
                 "%s", tg_last_error());
    cr_expect_eq(m.n_layers, 3);
    cr_expect_eq(m.act, tg_rule_find("silu"));
    cr_assert_eq(tg_params_count(ps), 6);
    for (size_t i = 0; i < 6; i++)
        cr_expect_str_eq(tg_params_name(ps, i), names[i]);
    for (size_t l = 0; l < 3; l++) {
        cr_expect(m.layer[l].in == sizes[l] && m.layer[l].out == sizes[l + 1]);
        cr_expect(m.layer[l].W->shape[0] == sizes[l + 1] && m.layer[l].W->shape[1] == sizes[l]);
    }
    cr_expect_eq(tg_params_numel(ps), 3 * 8 + 8 + 8 * 5 + 5 + 5 * 2 + 2);
    tg_params_free(ps);
}

/* The MLP's forward (and so its gradient) is the composition done by hand with
 * tg_linear and the activation: the same operations, so the same bits. */
Test(layers, mlp_forward_is_the_composition_by_hand)
{
    const size_t sizes[4] = { 4, 16, 16, 3 };
    const char *const acts[3] = { "tanh", "relu", "gelu" };
    for (size_t a = 0; a < 3; a++) {
        const tg_rule *act = tg_rule_find(acts[a]);
        tg_params *ps = tg_params_new();
        tg_tape *t = tg_tape_new();
        tg_mlp m;
        tg_pcg32 r;
        tg_tensor *x, *y, *h, *l1, *l2;
        tg_pcg32_seed(&r, 10 + a, 1);
        cr_assert_eq(tg_mlp_init(&m, ps, "mlp", sizes, 4, act, NULL, &r), TG_OK);
        x = batch(t, 6, 4, &r);
        y = tg_mlp_forward(t, &m, x);
        h = tg_linear(t, x, m.layer[0].W, m.layer[0].b);
        h = tg_apply(t, act, &h, 1, NULL);
        h = tg_linear(t, h, m.layer[1].W, m.layer[1].b);
        h = tg_apply(t, act, &h, 1, NULL);
        h = tg_linear(t, h, m.layer[2].W, m.layer[2].b);
        cr_assert(y && h, "%s", tg_tape_error(t));
        cr_expect(y->rank == 2 && y->shape[0] == 6 && y->shape[1] == 3);
        cr_expect_arr_eq(y->data, h->data, y->size * sizeof(float), "activation %s", acts[a]);
        /* the record: linear, act, linear, act, linear, then the hand-made copy */
        cr_expect_eq(tg_tape_length(t), 10);
        cr_expect_str_eq(tg_tape_node(t, 1)->rule->name, acts[a]);
        cr_expect_str_eq(tg_tape_node(t, 4)->rule->name, "linear");
        /* one backward through each: the parameter gradients agree bit for bit */
        l1 = tg_sum(t, y);
        l2 = tg_sum(t, h);
        cr_assert_eq(tg_backward(t, l1, NULL), TG_OK, "%s", tg_tape_error(t));
        {
            const size_t n = tg_params_flat_size(ps);
            float *g1 = malloc(n * sizeof(float));
            cr_assert_not_null(g1);
            memcpy(g1, tg_params_grad(ps), n * sizeof(float));
            tg_params_zero_grad(ps);
            cr_assert_eq(tg_backward(t, l2, NULL), TG_OK, "%s", tg_tape_error(t));
            cr_expect_arr_eq(g1, tg_params_grad(ps), n * sizeof(float));
            free(g1);
        }
        tg_tape_free(t);
        tg_params_free(ps);
    }
}

Test(layers, mlp_of_one_layer_needs_no_activation)
{
    tg_params *ps = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_mlp m;
    tg_pcg32 r;
    tg_tensor *x, *y, *z;
    tg_pcg32_seed(&r, 7, 7);
    cr_assert_eq(tg_mlp_init(&m, ps, "lin", (size_t[]){ 3, 2 }, 2, NULL, NULL, &r), TG_OK,
                 "%s", tg_last_error());
    x = batch(t, 2, 3, &r);
    y = tg_mlp_forward(t, &m, x);
    z = tg_linear(t, x, m.layer[0].W, m.layer[0].b);
    cr_assert(y && z);
    cr_expect_arr_eq(y->data, z->data, y->size * sizeof(float));
    tg_tape_free(t);
    tg_params_free(ps);
}

Test(layers, mlp_refusals_have_messages)
{
    size_t sizes[TG_MLP_MAX_LAYERS + 2];
    const tg_rule *tanh_rule = tg_rule_find("tanh");
    tg_params *ps = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_mlp m;
    tg_pcg32 r;
    tg_pcg32_seed(&r, 1, 2);
    for (size_t i = 0; i < TG_MLP_MAX_LAYERS + 2; i++)
        sizes[i] = 2;

    cr_expect_eq(tg_mlp_init(&m, ps, "m", sizes, TG_MLP_MAX_LAYERS + 2, tanh_rule, NULL, &r),
                 TG_ERR_PARAM);
    cr_expect(strstr(tg_last_error(), "17 layers, not 1..16"), "%s", tg_last_error());
    cr_expect_eq(tg_mlp_init(&m, ps, "m", sizes, 1, tanh_rule, NULL, &r), TG_ERR_PARAM);
    cr_expect(strstr(tg_last_error(), "0 layers"));
    sizes[2] = 0;
    cr_expect_eq(tg_mlp_init(&m, ps, "m", sizes, 4, tanh_rule, NULL, &r), TG_ERR_SIZE);
    cr_expect(strstr(tg_last_error(), "sizes[2] is 0"));
    sizes[2] = 2;
    cr_expect_eq(tg_mlp_init(&m, ps, "m", sizes, 3, tg_rule_find("add"), NULL, &r),
                 TG_ERR_ARITY);
    cr_expect(strstr(tg_last_error(), "\"add\" takes 2 inputs"));
    cr_expect_eq(tg_mlp_init(&m, ps, "m", sizes, 3, NULL, NULL, &r), TG_ERR_NULL);
    cr_expect(strstr(tg_last_error(), "activation is NULL"));
    cr_expect_eq(tg_mlp_init(NULL, ps, "m", sizes, 3, tanh_rule, NULL, &r), TG_ERR_NULL);
    cr_expect_eq(tg_mlp_init(&m, ps, "m", NULL, 3, tanh_rule, NULL, &r), TG_ERR_NULL);
    cr_expect_eq(tg_params_count(ps), 0, "nothing added by a refusal");

    /* the most layers allowed */
    cr_expect_eq(tg_mlp_init(&m, ps, "deep", sizes, TG_MLP_MAX_LAYERS + 1, tanh_rule, NULL,
                             &r), TG_OK, "%s", tg_last_error());
    cr_expect_eq(m.n_layers, TG_MLP_MAX_LAYERS);
    cr_expect_str_eq(tg_params_name(ps, 2 * TG_MLP_MAX_LAYERS - 1), "deep.15.bias");
    /* a name taken: the MLP is left unusable and its forward says so */
    cr_expect_eq(tg_mlp_init(&m, ps, "deep", sizes, 3, tanh_rule, NULL, &r), TG_ERR_EXISTS);
    cr_expect_null(tg_mlp_forward(t, &m, tg_tape_const(t, 1, (size_t[]){ 2 })));
    cr_expect_eq(tg_last_status(), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "tg_mlp_forward"));
    cr_expect_null(tg_mlp_forward(t, NULL, NULL));
    cr_expect_eq(tg_last_status(), TG_ERR_NULL);
    tg_tape_free(t);
    tg_params_free(ps);
}

/* Fail each allocation of building a 4-layer MLP in turn: a clean TG_ERR_NOMEM, an MLP
 * its forward refuses, and nothing leaked once the set is freed. */
Test(layers, mlp_allocation_failure_anywhere_leaks_nothing)
{
    const size_t sizes[5] = { 3, 8, 8, 8, 2 };
    int succeeded = 0;
    for (size_t fail = 1; fail < 40; fail++) {
        tu_counter f = { .fail_at = fail };
        const tg_allocator hook = { tu_count_alloc, tu_count_free, &f };
        tg_params *ps;
        tg_mlp m;
        tg_pcg32 r;
        tg_status s;
        tg_pcg32_seed(&r, 1, 1);
        tg_set_allocator(&hook);
        ps = tg_params_new();
        s = ps ? tg_mlp_init(&m, ps, "m", sizes, 5, tg_rule_find("relu"), NULL, &r)
               : TG_ERR_NOMEM;
        if (s == TG_OK) {
            succeeded = 1;
            cr_expect_eq(tg_params_count(ps), 8);
        } else {
            cr_expect_eq(s, TG_ERR_NOMEM, "fail at %zu: %s", fail, tg_last_error());
            if (ps)
                cr_expect_eq(m.n_layers, 0);
        }
        tg_params_free(ps);
        tg_set_allocator(NULL);
        cr_expect_eq(f.live, 0, "fail at %zu: %ld blocks leaked", fail, f.live);
    }
    cr_expect(succeeded, "40 allocations were enough to succeed once");
}
