/* Two ways to one gradient must agree: the tape's float32 gradient of a two-layer MLP
 * loss, and the chain of standalone local functions composed by hand in double. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <tapegrad.h>
#include "testutil.h"

enum { B = 6, IN = 3, HID = 7, OUT = 2 };

typedef struct {
    const char *name;
    tg_tensor *(*tape)(tg_tape *, tg_tensor *);
    double (*value)(double);
    double (*deriv)(double, tg_point *);
} activation;

static tg_tensor *elu1(tg_tape *t, tg_tensor *x) { return tg_elu(t, x, 1.0f); }
static double elu1_v(double x) { return tg_local_elu(x, 1.0); }
static double elu1_d(double x, tg_point *at) { return tg_local_elu_deriv(x, 1.0, at); }

static const activation acts[] = {
    { "tanh", tg_tanh, tg_local_tanh, tg_local_tanh_deriv },
    { "sigmoid", tg_sigmoid, tg_local_sigmoid, tg_local_sigmoid_deriv },
    { "gelu", tg_gelu, tg_local_gelu, tg_local_gelu_deriv },
    { "gelu_erf", tg_gelu_erf, tg_local_gelu_erf, tg_local_gelu_erf_deriv },
    { "silu", tg_silu, tg_local_silu, tg_local_silu_deriv },
    { "softplus", tg_softplus, tg_local_softplus, tg_local_softplus_deriv },
    { "relu", tg_relu, tg_local_relu, tg_local_relu_deriv },
    { "elu", elu1, elu1_v, elu1_d },
};

typedef struct {
    double W1[HID * IN], b1[HID], W2[OUT * HID], b2[OUT];
} grads;

static void to_double(const tg_tensor *t, double *d)
{
    for (size_t i = 0; i < t->size; i++)
        d[i] = t->data[i];
}

/* The reference: forward in double, then the local rules applied in reverse order. */
static void local_chain(const activation *a, const tg_tensor *x, const tg_tensor *target,
                        const tg_tensor *W1, const tg_tensor *b1, const tg_tensor *W2,
                        const tg_tensor *b2, grads *g)
{
    double w1[HID * IN], c1[HID], w2[OUT * HID], c2[OUT];
    memset(g, 0, sizeof *g);
    to_double(W1, w1);
    to_double(b1, c1);
    to_double(W2, w2);
    to_double(b2, c2);
    for (size_t s = 0; s < B; s++) {
        double xs[IN], z1[HID], h1[HID], y[OUT], dy[OUT], dh[HID], dz[HID];
        double dW1[HID * IN], db1[HID], dW2[OUT * HID], db2[OUT];
        for (size_t j = 0; j < IN; j++)
            xs[j] = x->data[s * IN + j];
        for (size_t i = 0; i < HID; i++) {
            z1[i] = c1[i];
            for (size_t j = 0; j < IN; j++)
                z1[i] += w1[i * IN + j] * xs[j];
            h1[i] = a->value(z1[i]);
        }
        for (size_t o = 0; o < OUT; o++) {
            y[o] = c2[o];
            for (size_t i = 0; i < HID; i++)
                y[o] += w2[o * HID + i] * h1[i];
            /* mse over B*OUT elements: d/dy (y - t)^2 / (B OUT) */
            dy[o] = 2.0 * (y[o] - target->data[s * OUT + o]) / (B * OUT);
        }
        tg_local_linear_grad_weight(OUT, HID, dy, h1, dW2);
        tg_local_linear_grad_bias(OUT, dy, db2);
        tg_local_linear_grad_input(OUT, HID, w2, dy, dh);
        for (size_t i = 0; i < HID; i++)
            dz[i] = dh[i] * a->deriv(z1[i], NULL);
        tg_local_linear_grad_weight(HID, IN, dz, xs, dW1);
        tg_local_linear_grad_bias(HID, dz, db1);
        for (size_t k = 0; k < HID * IN; k++)
            g->W1[k] += dW1[k];
        for (size_t k = 0; k < HID; k++)
            g->b1[k] += db1[k];
        for (size_t k = 0; k < OUT * HID; k++)
            g->W2[k] += dW2[k];
        for (size_t k = 0; k < OUT; k++)
            g->b2[k] += db2[k];
    }
}

/* Tolerance 3e-5 of the largest gradient entry: every float32 gradient entry is a sum of
 * at most B * HID = 42 products computed through about six float operations each, so the
 * classic bound gamma_n = n u (u = 2^-24 = 6e-8) gives about 42 * 6 * 6e-8 = 1.5e-5
 * relative to the sum of magnitudes; the activations add a few ULP each. */
#define TOL 3e-5

Test(tape_vs_local, two_layer_mlp_gradient)
{
    const size_t xs[2] = { B, IN }, ts[2] = { B, OUT }, w1s[2] = { HID, IN }, b1s[1] = { HID },
                 w2s[2] = { OUT, HID }, b2s[1] = { OUT };
    for (size_t k = 0; k < sizeof acts / sizeof acts[0]; k++) {
        const activation *a = &acts[k];
        tg_pcg32 rng;
        tg_tape *t = tg_tape_new();
        tg_tensor *x, *target, *W1, *b1, *W2, *b2, *loss;
        grads g;
        tg_pcg32_seed(&rng, 100 + k, 7);
        x = tu_random(TG_CONST, 2, xs, &rng, -2.0f, 2.0f);
        target = tu_random(TG_CONST, 2, ts, &rng, -1.0f, 1.0f);
        W1 = tu_random(TG_PARAM, 2, w1s, &rng, -1.0f, 1.0f);
        b1 = tu_random(TG_PARAM, 1, b1s, &rng, -0.5f, 0.5f);
        W2 = tu_random(TG_PARAM, 2, w2s, &rng, -1.0f, 1.0f);
        b2 = tu_random(TG_PARAM, 1, b2s, &rng, -0.5f, 0.5f);
        loss = tg_mse_loss(t, tg_linear(t, a->tape(t, tg_linear(t, x, W1, b1)), W2, b2), target);
        cr_assert_not_null(loss, "%s: %s", a->name, tg_last_error());
        cr_assert_eq(tg_backward(t, loss, NULL), TG_OK, "%s: %s", a->name, tg_last_error());
        local_chain(a, x, target, W1, b1, W2, b2, &g);
        cr_expect_leq(tu_scaled_diff(W1->grad, g.W1, W1->size, 1e-3), TOL, "%s: W1 %g", a->name,
                      tu_scaled_diff(W1->grad, g.W1, W1->size, 1e-3));
        cr_expect_leq(tu_scaled_diff(b1->grad, g.b1, b1->size, 1e-3), TOL, "%s: b1", a->name);
        cr_expect_leq(tu_scaled_diff(W2->grad, g.W2, W2->size, 1e-3), TOL, "%s: W2", a->name);
        cr_expect_leq(tu_scaled_diff(b2->grad, g.b2, b2->size, 1e-3), TOL, "%s: b2", a->name);
        tg_tape_free(t);
        tg_tensor_free(x);
        tg_tensor_free(target);
        tg_tensor_free(W1);
        tg_tensor_free(b1);
        tg_tensor_free(W2);
        tg_tensor_free(b2);
    }
}

/* One parameter used twice (a weight shared by two layers): the tape's gradient is the
 * sum of both uses, which the hand chain adds explicitly. */
Test(tape_vs_local, shared_weight_receives_both_uses)
{
    const size_t ws[2] = { 3, 3 }, xs[2] = { 1, 3 }, bs[1] = { 3 };
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *W, *b, *x, *f;
    double w[9], xv[3], z1[3], h[3], z2[3], d2[3], dh[3], d1[3], g1[9], g2[9];
    tg_pcg32_seed(&rng, 31, 4);
    W = tu_random(TG_PARAM, 2, ws, &rng, -1.0f, 1.0f);
    b = tg_tensor_new(TG_CONST, 1, bs);
    x = tu_random(TG_CONST, 2, xs, &rng, -1.0f, 1.0f);
    f = tg_sum(t, tg_tanh(t, tg_linear(t, tg_tanh(t, tg_linear(t, x, W, b)), W, b)));
    cr_assert_eq(tg_backward(t, f, NULL), TG_OK, "%s", tg_last_error());
    to_double(W, w);
    to_double(x, xv);
    for (int i = 0; i < 3; i++) {
        z1[i] = 0;
        for (int j = 0; j < 3; j++)
            z1[i] += w[i * 3 + j] * xv[j];
        h[i] = tg_local_tanh(z1[i]);
    }
    for (int i = 0; i < 3; i++) {
        z2[i] = 0;
        for (int j = 0; j < 3; j++)
            z2[i] += w[i * 3 + j] * h[j];
        d2[i] = tg_local_tanh_deriv(z2[i], NULL);
    }
    tg_local_linear_grad_weight(3, 3, d2, h, g2);
    tg_local_linear_grad_input(3, 3, w, d2, dh);
    for (int i = 0; i < 3; i++)
        d1[i] = dh[i] * tg_local_tanh_deriv(z1[i], NULL);
    tg_local_linear_grad_weight(3, 3, d1, xv, g1);
    for (int k = 0; k < 9; k++)
        g1[k] += g2[k];
    cr_assert_leq(tu_scaled_diff(W->grad, g1, 9, 1e-3), TOL);
    tg_tape_free(t);
    tg_tensor_free(W);
    tg_tensor_free(b);
    tg_tensor_free(x);
}
