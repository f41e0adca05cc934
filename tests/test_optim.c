/* Optimizers and learning-rate schedules: each update against steps computed by hand in
 * double, the fused loop against a plain float loop bit for bit, clipping, convergence
 * on least squares, schedules at their boundaries, refusals, and no allocation per step.
 *
 * Tolerances. u = 2^-24. A float step rounds each of its few (<= 10) operations once, on
 * values of magnitude <= 4 here (|w|, |g| < 1, lr <= 0.1), and the reference in double
 * does not round; three steps stay within 3 * 10 * 4 u = 7.2e-6 of it, so TOL = 2^-17
 * (7.6e-6). A wrong formula (a missing momentum or decay term) is off by >= 1e-4. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF   /* the library's loops do not contract either */
#endif

#define TOL 0x1p-17

/* A set of three tensors whose sizes (15, 7, 12) leave padding after each. */
static tg_params *three_tensors(void)
{
    tg_params *ps = tg_params_new();
    cr_assert(ps && tg_params_add(ps, "a", 2, (size_t[]){ 3, 5 }) &&
              tg_params_add(ps, "b", 1, (size_t[]){ 7 }) &&
              tg_params_add(ps, "c", 3, (size_t[]){ 2, 2, 3 }), "%s", tg_last_error());
    cr_assert_eq(tg_params_flat_size(ps), 48);
    return ps;
}

/* Whether flat position i holds an element (not padding). */
static int is_element(tg_params *ps, size_t i)
{
    for (size_t k = 0; k < tg_params_count(ps); k++) {
        const size_t off = tg_params_offset(ps, k);
        if (i >= off && i < off + tg_params_at(ps, k)->size)
            return 1;
    }
    return 0;
}

/* Random weights in [-1, 1) for the elements; padding stays 0. */
static void random_data(tg_params *ps, tg_pcg32 *r)
{
    for (size_t k = 0; k < tg_params_count(ps); k++) {
        tg_tensor *t = tg_params_at(ps, k);
        for (size_t i = 0; i < t->size; i++)
            t->data[i] = tu_draw(r);
    }
}

static void random_grad(tg_params *ps, tg_pcg32 *r, float scale)
{
    for (size_t k = 0; k < tg_params_count(ps); k++) {
        tg_tensor *t = tg_params_at(ps, k);
        for (size_t i = 0; i < t->size; i++)
            t->grad[i] = scale * tu_draw(r);
    }
}

static tg_optim *make(tg_params *ps, const tg_optim_config *c)
{
    tg_optim *o = tg_optim_new(ps, c);
    cr_assert_not_null(o, "%s", tg_last_error());
    return o;
}

static void expect_close(tg_params *ps, const double *want, double tol, const char *what)
{
    const float *w = tg_params_data(ps);
    for (size_t i = 0; i < tg_params_flat_size(ps); i++) {
        if (!is_element(ps, i))
            cr_assert(w[i] == 0.0f, "%s: padding at %zu became %g", what, i, (double)w[i]);
        else
            cr_assert_leq(fabs(w[i] - want[i]), tol, "%s: w[%zu] = %.9g, want %.9g", what, i,
                          (double)w[i], want[i]);
    }
}

/* ---- SGD ------------------------------------------------------------------------------ */

typedef struct {
    const char *what;
    double wd, mu;
    int nesterov;
} sgd_case;

/* PyTorch's SGD in double: g += wd w; v = mu v + g; d = nesterov ? g + mu v : v; w -= lr d */
Test(optim, sgd_three_steps_by_hand)
{
    const sgd_case cases[] = {
        { "plain", 0.0, 0.0, 0 },          { "weight decay", 0.05, 0.0, 0 },
        { "momentum", 0.0, 0.9, 0 },       { "nesterov", 0.0, 0.9, 1 },
        { "all three", 0.01, 0.8, 1 },     { "momentum + decay", 0.1, 0.5, 0 },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        tg_params *ps = three_tensors();
        tg_optim_config cfg = tg_optim_defaults(TG_SGD, 0.1);
        double w[48], v[48] = { 0 };
        tg_optim *o;
        tg_pcg32 r;
        cfg.weight_decay = cases[c].wd;
        cfg.momentum = cases[c].mu;
        cfg.nesterov = cases[c].nesterov;
        o = make(ps, &cfg);
        tg_pcg32_seed(&r, 100 + c, 1);
        random_data(ps, &r);
        for (size_t i = 0; i < 48; i++)
            w[i] = tg_params_data(ps)[i];
        for (int step = 0; step < 3; step++) {
            const float *g = tg_params_grad(ps);
            random_grad(ps, &r, 1.0f);
            for (size_t i = 0; i < 48; i++) {
                double d = g[i] + cases[c].wd * w[i];
                v[i] = cases[c].mu * v[i] + d;
                d = cases[c].mu == 0.0 ? d : cases[c].nesterov ? d + cases[c].mu * v[i] : v[i];
                w[i] -= 0.1 * d;
            }
            cr_assert_eq(tg_optim_step(o), TG_OK, "%s", tg_last_error());
            expect_close(ps, w, TOL, cases[c].what);
        }
        cr_expect_eq(tg_optim_steps(o), 3);
        tg_optim_free(o);
        tg_params_free(ps);
    }
}

/* ---- Adam and AdamW --------------------------------------------------------------------- */

/* Step 1 with bias correction: m / (1 - b1) = g and sqrt(v / (1 - b2)) = |g|, so
 * w1 = w0 - lr g / (|g| + eps) for each element. The float step rounds about 10 times
 * (each <= u relative on the step) and then w once: within ulp(w1) + 16 u |step|. */
Test(optim, adam_first_step_is_lr_g_over_abs_g_plus_eps)
{
    const float gs[] = { 0.5f, -0.25f, 1e-3f, -3e-8f, 1e-8f, 0.0f, -0.0f, 1e15f, -1e-30f,
                         7.0f, 1e-12f, -2.5f };
    const double lr = 0.01, eps = 1e-8;
    tg_params *ps = tg_params_new();
    tg_tensor *t = tg_params_add(ps, "w", 1, (size_t[]){ 12 });
    tg_optim *o = make(ps, &(tg_optim_config){ .kind = TG_ADAM, .lr = lr, .beta1 = 0.9,
                                               .beta2 = 0.999, .eps = eps });
    float w0[12];
    for (size_t i = 0; i < 12; i++) {
        w0[i] = t->data[i] = 1.0f - 0.15f * (float)i;
        t->grad[i] = gs[i];
    }
    cr_assert_eq(tg_optim_step(o), TG_OK);
    for (size_t i = 0; i < 12; i++) {
        const double g = gs[i], step = lr * g / (fabs(g) + eps), want = w0[i] - step;
        const double ulp = (double)nextafterf(fabsf((float)want), INFINITY) - fabsf((float)want);
        cr_expect_leq(fabs(t->data[i] - want), 2 * ulp + 16 * 0x1p-24 * fabs(step),
                      "g = %g: w = %.9g, want %.9g", g, (double)t->data[i], want);
    }
    cr_expect(t->data[5] == w0[5] && t->data[6] == w0[6], "a zero gradient moves nothing");
    tg_optim_free(o);
    tg_params_free(ps);
}

typedef struct {
    const char *what;
    tg_optim_kind kind;
    double wd, b1, b2;
} adam_case;

/* PyTorch 1.13's Adam/AdamW in double over three steps. */
Test(optim, adam_and_adamw_three_steps_by_hand)
{
    const adam_case cases[] = {
        { "adam", TG_ADAM, 0.0, 0.9, 0.999 },     { "adam L2", TG_ADAM, 0.1, 0.9, 0.999 },
        { "adamw", TG_ADAMW, 0.1, 0.9, 0.999 },   { "adam betas", TG_ADAM, 0.0, 0.5, 0.9 },
        { "adamw b1 0", TG_ADAMW, 0.5, 0.0, 0.99 },
    };
    const double lr = 0.05, eps = 1e-8;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const adam_case *k = &cases[c];
        tg_params *ps = three_tensors();
        double w[48], m[48] = { 0 }, v[48] = { 0 };
        tg_optim *o = make(ps, &(tg_optim_config){ .kind = k->kind, .lr = lr,
                                                   .weight_decay = k->wd, .beta1 = k->b1,
                                                   .beta2 = k->b2, .eps = eps });
        tg_pcg32 r;
        tg_pcg32_seed(&r, 200 + c, 2);
        random_data(ps, &r);
        for (size_t i = 0; i < 48; i++)
            w[i] = tg_params_data(ps)[i];
        for (int t = 1; t <= 3; t++) {
            const float *g = tg_params_grad(ps);
            const double bc1 = 1 - pow(k->b1, t), bc2 = 1 - pow(k->b2, t);
            random_grad(ps, &r, 1.0f);
            for (size_t i = 0; i < 48; i++) {
                double gi = g[i];
                if (k->kind == TG_ADAMW)
                    w[i] -= lr * k->wd * w[i];   /* decoupled, before the update */
                else
                    gi += k->wd * w[i];          /* L2 into the gradient */
                m[i] = k->b1 * m[i] + (1 - k->b1) * gi;
                v[i] = k->b2 * v[i] + (1 - k->b2) * gi * gi;
                w[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
            }
            cr_assert_eq(tg_optim_step(o), TG_OK, "%s", tg_last_error());
            expect_close(ps, w, TOL, k->what);
        }
        tg_optim_free(o);
        tg_params_free(ps);
    }
}

/* AdamW's decay is decoupled: with a zero gradient Adam's part is 0, and each step only
 * scales w by 1 - lr wd; Adam's L2 instead feeds wd w through the moments, a step of
 * about lr sign(w) at first. */
Test(optim, adamw_decay_is_decoupled)
{
    const double lr = 0.1, wd = 0.2;
    tg_params *ps = tg_params_new();
    tg_tensor *t = tg_params_add(ps, "w", 1, (size_t[]){ 4 });
    tg_params *qs = tg_params_new();
    tg_tensor *u = tg_params_add(qs, "w", 1, (size_t[]){ 4 });
    tg_optim_config cw = tg_optim_defaults(TG_ADAMW, lr), ca = tg_optim_defaults(TG_ADAM, lr);
    tg_optim *ow, *oa;
    const float w0[4] = { 2.0f, -1.0f, 0.5f, 0.0f };
    cw.weight_decay = ca.weight_decay = wd;
    ow = make(ps, &cw);
    oa = make(qs, &ca);
    memcpy(t->data, w0, sizeof w0);
    memcpy(u->data, w0, sizeof w0);
    for (int s = 1; s <= 3; s++) {
        cr_assert_eq(tg_optim_step(ow), TG_OK);
        cr_assert_eq(tg_optim_step(oa), TG_OK);
        for (size_t i = 0; i < 4; i++) {
            const double want = w0[i] * pow(1 - lr * wd, s);
            cr_expect_leq(fabs(t->data[i] - want), 4 * 0x1p-24 * fabs(want), "adamw step %d w[%zu]",
                          s, i);
        }
    }
    /* Adam + L2 moves w by lr g'/(|g'| + eps) = lr sign(w) on step 1 (g' = wd w), and by
     * nearly lr on the next two (g' changes slowly, so m / sqrt(v) stays near 1): about
     * 0.3 in all, where AdamW moved 2 by 0.11 and -1 by 0.06. */
    cr_expect(fabs(u->data[0] - (2.0 - 0.3)) < 5e-3, "adam L2: %g", (double)u->data[0]);
    cr_expect(fabs(u->data[1] - (-1.0 + 0.3)) < 5e-3, "adam L2: %g", (double)u->data[1]);
    cr_expect(t->data[3] == 0.0f && u->data[3] == 0.0f, "w = 0 stays 0");
    tg_optim_free(ow);
    tg_optim_free(oa);
    tg_params_free(ps);
    tg_params_free(qs);
}

/* ---- the fused loop against a plain one ---------------------------------------------- */

/* The formulas of optim.c written as plain scalar float loops, with the scalars rounded
 * from double as there; the library's specialized, vectorized loops must give the same
 * bits (no reassociation, no contraction: the same roundings in the same order). */
typedef struct {
    tg_optim_config cfg;
    float m[48], v[48];
    uint64_t t;
} ref_optim;

static void ref_step(ref_optim *o, float *w, const float *g, float c, double lr)
{
    const tg_optim_config *f = &o->cfg;
    if (f->kind == TG_SGD) {
        const float flr = (float)lr, wd = (float)f->weight_decay, mu = (float)f->momentum;
        for (size_t i = 0; i < 48; i++) {
            float d = g[i] * c;
            if (f->weight_decay != 0.0)
                d = d + wd * w[i];
            if (f->momentum != 0.0) {
                o->m[i] = mu * o->m[i] + d;
                d = f->nesterov ? d + mu * o->m[i] : o->m[i];
            }
            w[i] = w[i] - flr * d;
        }
    } else {
        const double t = (double)++o->t;
        const float b1 = (float)f->beta1, c1 = (float)(1 - f->beta1), b2 = (float)f->beta2,
                    c2 = (float)(1 - f->beta2), bc2s = (float)sqrt(1 - pow(f->beta2, t)),
                    eps = (float)f->eps, step = (float)(lr / (1 - pow(f->beta1, t))),
                    shrink = (float)(1 - lr * f->weight_decay), wd = (float)f->weight_decay;
        for (size_t i = 0; i < 48; i++) {
            float wi = w[i], gi = g[i] * c;
            if (f->kind == TG_ADAMW)
                wi = wi * shrink;
            else if (f->weight_decay != 0.0)
                gi = gi + wd * wi;
            o->m[i] = b1 * o->m[i] + c1 * gi;
            o->v[i] = b2 * o->v[i] + c2 * gi * gi;
            w[i] = wi - step * (o->m[i] / (sqrtf(o->v[i]) / bc2s + eps));
        }
    }
}

Test(optim, fused_loops_equal_the_plain_loops_bit_for_bit)
{
    tg_optim_config cfgs[8];
    cfgs[0] = tg_optim_defaults(TG_SGD, 0.1);
    cfgs[1] = cfgs[0], cfgs[1].weight_decay = 0.01;
    cfgs[2] = cfgs[0], cfgs[2].momentum = 0.9;
    cfgs[3] = cfgs[2], cfgs[3].nesterov = 1, cfgs[3].weight_decay = 1e-3;
    cfgs[4] = tg_optim_defaults(TG_ADAM, 1e-2);
    cfgs[5] = cfgs[4], cfgs[5].weight_decay = 0.05, cfgs[5].clip_norm = 1.0;
    cfgs[6] = tg_optim_defaults(TG_ADAMW, 3e-3);
    cfgs[7] = cfgs[2], cfgs[7].clip_norm = 0.5;
    for (size_t c = 0; c < 8; c++) {
        tg_params *ps = three_tensors();
        tg_optim *o = make(ps, &cfgs[c]);
        const tg_lr_schedule s = { .kind = TG_LR_COSINE, .warmup_steps = 3, .total_steps = 20 };
        ref_optim ref;
        float w[48];
        tg_pcg32 r;
        memset(&ref, 0, sizeof ref);
        ref.cfg = cfgs[c];
        cr_assert_eq(tg_optim_set_schedule(o, &s), TG_OK);
        tg_pcg32_seed(&r, 300 + c, 3);
        random_data(ps, &r);
        memcpy(w, tg_params_data(ps), sizeof w);
        for (uint64_t k = 0; k < 25; k++) {
            float cf = 1.0f;
            random_grad(ps, &r, 2.0f);
            if (cfgs[c].clip_norm > 0) {
                const double norm = tg_params_grad_norm(ps);
                if (norm > cfgs[c].clip_norm)
                    cf = (float)(cfgs[c].clip_norm / norm);
            }
            ref_step(&ref, w, tg_params_grad(ps), cf, tg_lr_at(&s, cfgs[c].lr, k));
            cr_assert_eq(tg_optim_step(o), TG_OK, "%s", tg_last_error());
            cr_assert_arr_eq(tg_params_data(ps), w, sizeof w, "config %zu, step %llu", c,
                             (unsigned long long)k);
        }
        tg_optim_free(o);
        tg_params_free(ps);
    }
}

/* A set large enough to be split between threads (100003 floats: several units of the
 * split and a ragged end): two threads give the bits one thread gives, for SGD with
 * momentum and for AdamW. */
static void step_large(size_t threads, const tg_optim_config *cfg, float *out, size_t n)
{
    tg_params *ps = tg_params_new();
    tg_optim *o;
    tg_pcg32 r;
    cr_assert(ps && tg_params_add(ps, "w", 1, (size_t[]){ n }), "%s", tg_last_error());
    cr_assert_eq(tg_set_num_threads(threads), TG_OK, "%s", tg_last_error());
    o = make(ps, cfg);
    tg_pcg32_seed(&r, 77, 1);
    random_data(ps, &r);
    for (int k = 0; k < 4; k++) {
        random_grad(ps, &r, 2.0f);
        cr_assert_eq(tg_optim_step(o), TG_OK, "%s", tg_last_error());
    }
    memcpy(out, tg_params_data(ps), n * sizeof *out);
    tg_optim_free(o);
    tg_params_free(ps);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

Test(optim, two_threads_give_the_bits_of_one)
{
    enum { N = 100003 };
    tg_optim_config cfgs[2];
    float *one = malloc(N * sizeof *one), *two = malloc(N * sizeof *two);
    cr_assert(one && two);
    cfgs[0] = tg_optim_defaults(TG_SGD, 0.1), cfgs[0].momentum = 0.9;
    cfgs[1] = tg_optim_defaults(TG_ADAMW, 3e-3);
    for (size_t c = 0; c < 2; c++) {
        step_large(1, &cfgs[c], one, N);
        step_large(2, &cfgs[c], two, N);
        cr_expect_arr_eq(one, two, N * sizeof *one, "config %zu", c);
    }
    free(one);
    free(two);
}

/* ---- clipping ------------------------------------------------------------------------ */

Test(optim, clipping_equals_tg_params_clip_grad_norm_then_the_step)
{
    tg_params *p = three_tensors(), *q = three_tensors();
    tg_optim_config clip = tg_optim_defaults(TG_ADAM, 0.01), plain = clip;
    tg_optim *oc, *op;
    tg_pcg32 r;
    clip.clip_norm = 1.5;
    oc = make(p, &clip);
    op = make(q, &plain);
    cr_expect(isnan(tg_optim_last_grad_norm(oc)), "nothing measured yet");
    tg_pcg32_seed(&r, 4, 4);
    random_data(p, &r);
    cr_assert_eq(tg_params_copy(q, p), TG_OK);
    for (int k = 0; k < 6; k++) {
        /* large gradients on even steps (clipped), small ones on odd steps (not) */
        const float scale = k % 2 ? 0.05f : 3.0f;
        double before, after;
        random_grad(p, &r, scale);
        memcpy(tg_params_grad(q), tg_params_grad(p), 48 * sizeof(float));
        before = tg_params_grad_norm(p);
        after = tg_params_clip_grad_norm(q, 1.5);
        cr_assert_eq(after, before);
        cr_assert_eq(tg_optim_step(oc), TG_OK);
        cr_assert_eq(tg_optim_step(op), TG_OK);
        cr_expect_eq(tg_optim_last_grad_norm(oc), before, "the norm before clipping");
        cr_expect((k % 2 == 0) == (before > 1.5), "step %d norm %g", k, before);
        cr_assert_arr_eq(tg_params_data(p), tg_params_data(q), 48 * sizeof(float), "step %d", k);
    }
    cr_expect(isnan(tg_optim_last_grad_norm(op)), "not measured without clipping");
    tg_optim_free(oc);
    tg_optim_free(op);
    tg_params_free(p);
    tg_params_free(q);
}

Test(optim, a_nonfinite_gradient_norm_skips_the_step)
{
    tg_params *ps = three_tensors();
    tg_optim_config cfg = tg_optim_defaults(TG_SGD, 0.1);
    tg_optim *o;
    float before[48];
    tg_pcg32 r;
    cfg.momentum = 0.9;
    cfg.clip_norm = 1.0;
    o = make(ps, &cfg);
    tg_pcg32_seed(&r, 5, 5);
    random_data(ps, &r);
    random_grad(ps, &r, 1.0f);
    cr_assert_eq(tg_optim_step(o), TG_OK);
    memcpy(before, tg_params_data(ps), sizeof before);
    tg_params_at(ps, 1)->grad[3] = NAN;
    cr_expect_eq(tg_optim_step(o), TG_ERR_NONFINITE);
    cr_expect(strstr(tg_last_error(), "tg_optim_step: the gradient norm is nan"), "%s",
              tg_last_error());
    cr_expect(isnan(tg_optim_last_grad_norm(o)));
    tg_params_at(ps, 1)->grad[3] = INFINITY;
    cr_expect_eq(tg_optim_step(o), TG_ERR_NONFINITE);
    cr_expect(isinf(tg_optim_last_grad_norm(o)));
    cr_expect_arr_eq(tg_params_data(ps), before, sizeof before, "parameters unchanged");
    cr_expect_eq(tg_optim_steps(o), 1, "the count did not advance");
    tg_optim_free(o);
    tg_params_free(ps);
}

/* ---- state, layout, refusals ------------------------------------------------------------ */

Test(optim, padding_stays_zero)
{
    const tg_optim_kind kinds[3] = { TG_SGD, TG_ADAM, TG_ADAMW };
    for (size_t k = 0; k < 3; k++) {
        tg_params *ps = three_tensors();
        tg_optim_config cfg = tg_optim_defaults(kinds[k], 0.1);
        tg_optim *o;
        tg_pcg32 r;
        cfg.weight_decay = 0.1;
        cfg.momentum = kinds[k] == TG_SGD ? 0.9 : 0.0;
        o = make(ps, &cfg);
        tg_pcg32_seed(&r, 6, k);
        random_data(ps, &r);
        for (int s = 0; s < 10; s++) {
            random_grad(ps, &r, 1.0f);
            cr_assert_eq(tg_optim_step(o), TG_OK);
        }
        for (size_t i = 0; i < 48; i++)
            if (!is_element(ps, i))
                cr_expect(tg_params_data(ps)[i] == 0.0f && !signbit(tg_params_data(ps)[i]),
                          "kind %zu: padding at %zu is %g", k, i,
                          (double)tg_params_data(ps)[i]);
        tg_optim_free(o);
        tg_params_free(ps);
    }
}

Test(optim, a_set_that_grew_is_refused)
{
    tg_params *ps = three_tensors();
    const tg_optim_config cfg = tg_optim_defaults(TG_ADAM, 0.1);
    tg_optim *o = make(ps, &cfg);
    cr_assert_eq(tg_optim_step(o), TG_OK);
    cr_assert(tg_params_add(ps, "late", 1, (size_t[]){ 3 }));
    cr_expect_eq(tg_optim_step(o), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "changed since tg_optim_new (48 floats then, 64 now)"),
              "%s", tg_last_error());
    cr_expect_eq(tg_optim_steps(o), 1);
    tg_optim_free(o);
    tg_params_free(ps);
}

Test(optim, defaults_are_pytorchs)
{
    const tg_optim_config s = tg_optim_defaults(TG_SGD, 0.1), a = tg_optim_defaults(TG_ADAM, 1e-3),
                          w = tg_optim_defaults(TG_ADAMW, 1e-3);
    cr_expect(s.kind == TG_SGD && s.lr == 0.1 && s.momentum == 0.0 && !s.nesterov &&
              s.weight_decay == 0.0 && s.clip_norm == 0.0);
    cr_expect(a.kind == TG_ADAM && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8 &&
              a.weight_decay == 0.0);
    cr_expect(w.kind == TG_ADAMW && w.weight_decay == 1e-2 && w.lr == 1e-3);
}

typedef struct {
    const char *field;
    tg_optim_config cfg;
} bad_config;

Test(optim, bad_configs_are_refused_naming_the_field)
{
    const tg_optim_config sgd = tg_optim_defaults(TG_SGD, 0.1), adam = tg_optim_defaults(TG_ADAM,
                                                                                         0.1);
    bad_config bad[14];
    tg_params *ps = three_tensors(), *empty = tg_params_new();
    size_t n = 0;
#define BAD(name, base, set) \
    bad[n].field = name, bad[n].cfg = base, bad[n].cfg.set, n++
    BAD("kind = 7", sgd, kind = (tg_optim_kind)7);
    BAD("lr = -0.1", sgd, lr = -0.1);
    BAD("lr = nan", adam, lr = NAN);
    BAD("weight_decay = -1", sgd, weight_decay = -1);
    BAD("weight_decay = inf", adam, weight_decay = INFINITY);
    BAD("momentum = -0.5", sgd, momentum = -0.5);
    BAD("nesterov = 1 needs momentum > 0", sgd, nesterov = 1);
    BAD("momentum = 0.9 is for TG_SGD", adam, momentum = 0.9);
    BAD("beta1 = 1", adam, beta1 = 1.0);
    BAD("beta2 = -0.1", adam, beta2 = -0.1);
    BAD("eps = 0", adam, eps = 0.0);
    BAD("eps = nan", adam, eps = NAN);
    BAD("clip_norm = -1", sgd, clip_norm = -1);
    BAD("clip_norm = inf", adam, clip_norm = INFINITY);
#undef BAD
    for (size_t i = 0; i < n; i++) {
        cr_expect_null(tg_optim_new(ps, &bad[i].cfg), "%s accepted", bad[i].field);
        cr_expect_eq(tg_last_status(), TG_ERR_PARAM, "%s", bad[i].field);
        cr_expect(strstr(tg_last_error(), bad[i].field), "\"%s\" lacks \"%s\"", tg_last_error(),
                  bad[i].field);
    }
    /* SGD carries Adam's defaults without complaint: it ignores betas and eps */
    {
        tg_optim_config c = sgd;
        tg_optim *o;
        c.beta1 = 7.0;
        o = tg_optim_new(ps, &c);
        cr_expect_not_null(o, "%s", tg_last_error());
        tg_optim_free(o);
    }
    cr_expect_null(tg_optim_new(NULL, &sgd));
    cr_expect_eq(tg_last_status(), TG_ERR_NULL);
    cr_expect_null(tg_optim_new(ps, NULL));
    cr_expect(strstr(tg_last_error(), "config is NULL"));
    cr_expect_null(tg_optim_new(empty, &sgd));
    cr_expect_eq(tg_last_status(), TG_ERR_STATE);
    cr_expect(strstr(tg_last_error(), "empty"));
    cr_expect_eq(tg_optim_step(NULL), TG_ERR_NULL);
    cr_expect(isnan(tg_optim_lr(NULL)));
    cr_expect(isnan(tg_optim_last_grad_norm(NULL)));
    cr_expect_eq(tg_optim_steps(NULL), 0);
    tg_optim_free(NULL);
    tg_params_free(ps);
    tg_params_free(empty);
}

/* ---- schedules --------------------------------------------------------------------------- */

Test(schedule, constant_with_warmup)
{
    const tg_lr_schedule c = { .kind = TG_LR_CONSTANT }, w = { .kind = TG_LR_CONSTANT,
                                                               .warmup_steps = 4 };
    cr_expect_eq(tg_lr_at(&c, 0.3, 0), 0.3);
    cr_expect_eq(tg_lr_at(&c, 0.3, UINT64_MAX), 0.3);
    cr_expect_eq(tg_lr_at(&w, 0.3, 0), 0.3 * 0.25, "step 0: lr / warmup");
    cr_expect_eq(tg_lr_at(&w, 0.3, 1), 0.3 * 0.5);
    cr_expect_eq(tg_lr_at(&w, 0.3, 3), 0.3, "the last warm-up step reaches lr exactly");
    cr_expect_eq(tg_lr_at(&w, 0.3, 4), 0.3, "the first step after");
}

Test(schedule, step_decay_at_its_edges)
{
    const tg_lr_schedule s = { .kind = TG_LR_STEP, .warmup_steps = 2, .step_size = 3,
                               .gamma = 0.5 };
    const double want[12] = { 0.5, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125 };
    for (uint64_t k = 0; k < 12; k++)
        cr_expect_eq(tg_lr_at(&s, 1.0, k), want[k], "k = %llu: %g", (unsigned long long)k,
                     tg_lr_at(&s, 1.0, k));
    /* gamma 1 is allowed: a constant */
    cr_expect_eq(tg_lr_at(&(tg_lr_schedule){ .kind = TG_LR_STEP, .step_size = 1, .gamma = 1.0 },
                          0.2, 1000), 0.2);
}

Test(schedule, cosine_at_its_edges)
{
    const tg_lr_schedule s = { .kind = TG_LR_COSINE, .warmup_steps = 10, .total_steps = 110,
                               .min_lr = 0.25 };
    const double lr = 2.0;
    cr_expect_eq(tg_lr_at(&s, lr, 0), 0.2, "step 0 of the warm-up");
    cr_expect_eq(tg_lr_at(&s, lr, 9), lr, "last warm-up step");
    cr_expect_eq(tg_lr_at(&s, lr, 10), lr, "first step after: p = 0");
    cr_expect(fabs(tg_lr_at(&s, lr, 60) - (0.25 + 1.75 / 2)) < 1e-15, "half way");
    cr_expect(fabs(tg_lr_at(&s, lr, 35) - (0.25 + 1.75 * (1 + cos(3.14159265358979323846 / 4)) / 2)) < 1e-15);
    cr_expect_gt(tg_lr_at(&s, lr, 109), 0.25, "one step before the end");
    cr_expect_eq(tg_lr_at(&s, lr, 110), 0.25, "at total_steps: min_lr exactly");
    cr_expect_eq(tg_lr_at(&s, lr, 111), 0.25, "beyond: min_lr");
    cr_expect_eq(tg_lr_at(&s, lr, UINT64_MAX), 0.25);
    for (uint64_t k = 10; k < 110; k++)
        cr_expect_geq(tg_lr_at(&s, lr, k), tg_lr_at(&s, lr, k + 1), "decreasing at %llu",
                      (unsigned long long)k);
    /* without warm-up: step 0 is lr */
    cr_expect_eq(tg_lr_at(&(tg_lr_schedule){ .kind = TG_LR_COSINE, .total_steps = 5 }, 0.1, 0),
                 0.1);
}

Test(schedule, invalid_schedules_give_nan_and_a_message)
{
    const struct {
        tg_lr_schedule s;
        double lr;
        const char *text;
    } bad[] = {
        { { .kind = TG_LR_STEP, .step_size = 0, .gamma = 0.5 }, 1.0, "step_size" },
        { { .kind = TG_LR_STEP, .step_size = 2, .gamma = 0.0 }, 1.0, "gamma = 0" },
        { { .kind = TG_LR_STEP, .step_size = 2, .gamma = 1.5 }, 1.0, "gamma = 1.5" },
        { { .kind = TG_LR_STEP, .step_size = 2, .gamma = NAN }, 1.0, "gamma = nan" },
        { { .kind = TG_LR_COSINE, .warmup_steps = 5, .total_steps = 5 }, 1.0, "total_steps = 5" },
        { { .kind = TG_LR_COSINE, .total_steps = 5, .min_lr = 2.0 }, 1.0, "min_lr = 2" },
        { { .kind = TG_LR_COSINE, .total_steps = 5, .min_lr = -0.1 }, 1.0, "min_lr = -0.1" },
        { { .kind = (tg_lr_kind)9 }, 1.0, "kind 9" },
        { { .kind = TG_LR_CONSTANT }, -1.0, "lr = -1" },
        { { .kind = TG_LR_CONSTANT }, INFINITY, "lr = inf" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_expect(isnan(tg_lr_at(&bad[i].s, bad[i].lr, 3)), "case %zu accepted", i);
        cr_expect_eq(tg_last_status(), TG_ERR_PARAM);
        cr_expect(strstr(tg_last_error(), bad[i].text), "\"%s\" lacks \"%s\"", tg_last_error(),
                  bad[i].text);
    }
    cr_expect(isnan(tg_lr_at(NULL, 1.0, 0)));
    cr_expect_eq(tg_last_status(), TG_ERR_NULL);
}

/* The optimizer takes its rate from the schedule at its step count: plain SGD moves w
 * by exactly lr_k g (g = 1, lr_k a power of two). */
Test(schedule, the_optimizer_follows_its_schedule)
{
    tg_params *ps = tg_params_new();
    tg_tensor *w = tg_params_add(ps, "w", 1, (size_t[]){ 1 });
    tg_optim *o = make(ps, &(tg_optim_config){ .kind = TG_SGD, .lr = 1.0 });
    const tg_lr_schedule s = { .kind = TG_LR_STEP, .warmup_steps = 0, .step_size = 2,
                               .gamma = 0.5 };
    const tg_lr_schedule wrong = { .kind = TG_LR_COSINE, .total_steps = 10, .min_lr = 2.0 };
    cr_expect_eq(tg_optim_set_schedule(o, &wrong), TG_ERR_PARAM, "min_lr above the base lr");
    cr_expect(strstr(tg_last_error(), "tg_optim_set_schedule: cosine schedule: min_lr = 2"));
    cr_expect_eq(tg_optim_set_schedule(o, NULL), TG_ERR_NULL);
    cr_expect_eq(tg_optim_set_schedule(NULL, &s), TG_ERR_NULL);
    cr_expect_eq(tg_optim_lr(o), 1.0, "constant until set");
    cr_assert_eq(tg_optim_set_schedule(o, &s), TG_OK);
    w->data[0] = 0.0f;
    w->grad[0] = 1.0f;
    for (uint64_t k = 0; k < 8; k++) {
        const double lr = ldexp(1.0, -(int)(k / 2));
        const float before = w->data[0];
        cr_expect_eq(tg_optim_lr(o), lr, "k = %llu", (unsigned long long)k);
        cr_assert_eq(tg_optim_step(o), TG_OK);
        cr_expect_eq(w->data[0], before - (float)lr);
    }
    cr_expect_eq(tg_optim_steps(o), 8);
    tg_optim_free(o);
    tg_params_free(ps);
}

/* ---- convergence --------------------------------------------------------------------------- */

/* Least squares with a known minimizer: y = x . w* + b* exactly representable targets
 * (up to one rounding), fitted by a dense layer 4 -> 1 through the tape with MSE. Every
 * optimizer must bring (W, b) within 1e-3 of (w*, b*): the targets' rounding moves the
 * minimizer by ~1e-7 and AdamW's decay (1e-4) pulls it ~5e-5 toward 0 (measured here:
 * 1e-7 to 6e-7 for the others), while the initial error is ~1. */
typedef struct {
    const char *what;
    tg_optim_config cfg;
    tg_lr_schedule sched;
    int steps;
} fit_case;

static double fit(const fit_case *fc)
{
    enum { N = 64, D = 4 };
    const float wstar[D] = { 0.5f, -1.0f, 2.0f, 0.25f }, bstar = 0.3f;
    tg_params *ps = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_dense layer;
    tg_optim *o;
    tg_pcg32 r;
    float x[N * D], y[N];
    double err = 0.0;
    tg_pcg32_seed(&r, 99, 1);
    cr_assert_eq(tg_dense_init(&layer, ps, "fit", D, 1, NULL, &r), TG_OK);
    for (size_t i = 0; i < N; i++) {
        double s = bstar;
        for (size_t j = 0; j < D; j++) {
            x[i * D + j] = tu_draw(&r);
            s += (double)x[i * D + j] * wstar[j];
        }
        y[i] = (float)s;
    }
    o = make(ps, &fc->cfg);
    cr_assert_eq(tg_optim_set_schedule(o, &fc->sched), TG_OK, "%s", tg_last_error());
    for (int k = 0; k < fc->steps; k++) {
        tg_tensor *xt = tg_tape_const(t, 2, (size_t[]){ N, D });
        tg_tensor *yt = tg_tape_const(t, 2, (size_t[]){ N, 1 });
        tg_tensor *loss;
        cr_assert(xt && yt);
        memcpy(xt->data, x, sizeof x);
        memcpy(yt->data, y, sizeof y);
        loss = tg_mse_loss(t, tg_dense_forward(t, &layer, xt), yt);
        cr_assert(loss && tg_backward(t, loss, NULL) == TG_OK, "%s", tg_tape_error(t));
        cr_assert_eq(tg_optim_step(o), TG_OK, "%s", tg_last_error());
        tg_params_zero_grad(ps);
        tg_tape_reset(t);
    }
    for (size_t j = 0; j < D; j++)
        err = fmax(err, fabs(layer.W->data[j] - wstar[j]));
    err = fmax(err, fabs(layer.b->data[0] - bstar));
    tg_optim_free(o);
    tg_tape_free(t);
    tg_params_free(ps);
    return err;
}

Test(optim, every_optimizer_solves_least_squares)
{
    const tg_lr_schedule constant = { .kind = TG_LR_CONSTANT };
    const tg_lr_schedule cosine = { .kind = TG_LR_COSINE, .warmup_steps = 20,
                                    .total_steps = 1500 };
    fit_case cases[5] = {
        { "sgd", tg_optim_defaults(TG_SGD, 0.2), constant, 1500 },
        { "sgd momentum", tg_optim_defaults(TG_SGD, 0.05), constant, 800 },
        { "sgd nesterov", tg_optim_defaults(TG_SGD, 0.05), constant, 800 },
        { "adam", tg_optim_defaults(TG_ADAM, 0.05), cosine, 1500 },
        { "adamw", tg_optim_defaults(TG_ADAMW, 0.05), cosine, 1500 },
    };
    cases[1].cfg.momentum = 0.9;
    cases[2].cfg.momentum = 0.9;
    cases[2].cfg.nesterov = 1;
    cases[4].cfg.weight_decay = 1e-4;
    for (size_t c = 0; c < 5; c++) {
        const double err = fit(&cases[c]);
        cr_expect_lt(err, 1e-3, "%s: max |(W, b) - (w*, b*)| = %g", cases[c].what, err);
    }
}

/* ---- memory --------------------------------------------------------------------------------- */

/* A warm training step (forward, backward, clipped Adam step on a schedule) allocates
 * nothing: the optimizer's state was allocated at creation. */
Test(optim, a_warm_step_allocates_nothing)
{
    const tg_optim_kind kinds[3] = { TG_SGD, TG_ADAM, TG_ADAMW };
    for (size_t k = 0; k < 3; k++) {
        tu_counter c = { 0 };
        const tg_allocator hook = { tu_count_alloc, tu_count_free, &c };
        const size_t sizes[3] = { 2, 16, 2 };
        const tg_lr_schedule s = { .kind = TG_LR_COSINE, .warmup_steps = 5, .total_steps = 100 };
        tg_params *ps;
        tg_tape *t;
        tg_mlp m;
        tg_optim *o;
        tg_optim_config cfg = tg_optim_defaults(kinds[k], 0.01);
        tg_pcg32 r;
        size_t before = 0;
        tg_set_allocator(&hook);
        tg_pcg32_seed(&r, 1, 1);
        ps = tg_params_new();
        t = tg_tape_new();
        cr_assert_eq(tg_mlp_init(&m, ps, "m", sizes, 3, tg_rule_find("tanh"), NULL, &r), TG_OK);
        cfg.momentum = kinds[k] == TG_SGD ? 0.9 : 0.0;
        cfg.clip_norm = 1.0;
        o = make(ps, &cfg);
        cr_assert_eq(tg_optim_set_schedule(o, &s), TG_OK);
        for (int step = 0; step < 103; step++) {
            tg_tensor *x = tg_tape_const(t, 2, (size_t[]){ 8, 2 });
            tg_tensor *y = tg_tape_const(t, 1, (size_t[]){ 8 }), *loss;
            cr_assert(x && y);
            for (size_t i = 0; i < 8; i++) {
                x->data[2 * i] = tu_draw(&r);
                x->data[2 * i + 1] = tu_draw(&r);
                y->data[i] = x->data[2 * i] > 0 ? 1.0f : 0.0f;
            }
            loss = tg_softmax_cross_entropy(t, tg_mlp_forward(t, &m, x), y);
            cr_assert(loss && tg_backward(t, loss, NULL) == TG_OK, "%s", tg_tape_error(t));
            cr_assert_eq(tg_optim_step(o), TG_OK);
            tg_params_zero_grad(ps);
            tg_tape_reset(t);
            if (step == 2)   /* warm: the arena and the record have their size */
                before = c.calls;
        }
        cr_expect_eq(c.calls, before, "kind %zu: %zu allocations in 100 warm steps", k,
                     c.calls - before);
        tg_optim_free(o);
        tg_tape_free(t);
        tg_params_free(ps);
        tg_set_allocator(NULL);
        cr_expect_eq(c.live, 0, "%ld blocks leaked", c.live);
    }
}

Test(optim, allocation_failure_is_a_clean_error)
{
    tg_params *ps = three_tensors();
    const tg_optim_config cfg = tg_optim_defaults(TG_ADAM, 0.1);
    for (size_t fail = 1; fail <= 3; fail++) {
        tu_counter f = { .fail_at = fail };
        const tg_allocator hook = { tu_count_alloc, tu_count_free, &f };
        tg_optim *o;
        tg_set_allocator(&hook);
        o = tg_optim_new(ps, &cfg);
        if (fail <= 2) {
            cr_expect_null(o, "allocation %zu failed", fail);
            cr_expect_eq(tg_last_status(), TG_ERR_NOMEM);
            cr_expect(strstr(tg_last_error(), "tg_optim_new: out of memory"));
        } else {
            cr_expect_not_null(o, "two allocations suffice");
        }
        tg_optim_free(o);
        tg_set_allocator(NULL);
        cr_expect_eq(f.live, 0, "fail at %zu: %ld leaked", fail, f.live);
    }
    tg_params_free(ps);
}
