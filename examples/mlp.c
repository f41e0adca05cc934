/* A two-moons classifier in a page: a 2-32-32-2 MLP with tanh, trained by plain SGD on
 * data generated with PCG32, using only the public tapegrad API: a parameter set holds
 * the weights, tg_mlp builds the layers (Glorot-uniform weights, zero biases) and
 * tg_optim updates the whole set in one loop.
 *
 *   moons: t ~ U[0, pi]; class 0 at (cos t, sin t), class 1 at (1 - cos t, 0.5 - sin t),
 *          plus Gaussian noise of std 0.1 on each coordinate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <tapegrad.h>

enum { N_TRAIN = 1024, N_TEST = 512, BATCH = 32, EPOCHS = 60, HIDDEN = 32 };
static const double LEARNING_RATE = 0.1;

static void moons(tg_pcg32 *rng, size_t n, float *x, float *label)
{
    float noise[2];
    for (size_t i = 0; i < n; i++) {
        const double t = 3.14159265358979323846 * tg_pcg32_double(rng);
        const int c = (int)(i % 2);
        tg_normal_fill(rng, noise, 2);
        x[2 * i] = (float)(c ? 1.0 - cos(t) : cos(t)) + 0.1f * noise[0];
        x[2 * i + 1] = (float)(c ? 0.5 - sin(t) : sin(t)) + 0.1f * noise[1];
        label[i] = (float)c;
    }
}

/* Copies rows [first, first + n) of (x, y) into tape constants: no malloc per step. */
static tg_status batch(tg_tape *t, const float *x, const float *y, size_t first, size_t n,
                       tg_tensor **bx, tg_tensor **by)
{
    *bx = tg_tape_const(t, 2, (size_t[]){ n, 2 });
    *by = tg_tape_const(t, 1, (size_t[]){ n });
    if (!*bx || !*by)
        return tg_tape_status(t);
    for (size_t i = 0; i < n; i++) {
        (*bx)->data[2 * i] = x[2 * (first + i)];
        (*bx)->data[2 * i + 1] = x[2 * (first + i) + 1];
        (*by)->data[i] = y[first + i];
    }
    return TG_OK;
}

/* One epoch of SGD over the training set in order; returns the mean loss, or NaN. */
static double train_epoch(tg_tape *t, const tg_mlp *net, tg_params *ps, tg_optim *opt,
                          const float *x, const float *y)
{
    double total = 0.0;
    for (size_t first = 0; first < N_TRAIN; first += BATCH) {
        tg_tensor *bx, *by, *loss = NULL;
        if (batch(t, x, y, first, BATCH, &bx, &by) == TG_OK)
            loss = tg_softmax_cross_entropy(t, tg_mlp_forward(t, net, bx), by);
        if (!loss || tg_backward(t, loss, NULL) != TG_OK || tg_optim_step(opt) != TG_OK)
            return NAN;                     /* one check per step: the tape kept the error */
        total += loss->data[0];
        tg_params_zero_grad(ps);
        tg_tape_reset(t);
    }
    return total / (N_TRAIN / BATCH);
}

static double accuracy(tg_tape *t, const tg_mlp *net, const float *x, const float *y, size_t n)
{
    tg_tensor *bx, *by, *logits = NULL;
    size_t correct = 0;
    const int was = tg_tape_set_recording(t, 0);   /* inference: nothing kept for backward */
    if (batch(t, x, y, 0, n, &bx, &by) == TG_OK)
        logits = tg_mlp_forward(t, net, bx);
    for (size_t i = 0; logits && i < n; i++)
        correct += (logits->data[2 * i + 1] > logits->data[2 * i]) == (y[i] > 0.5f);
    tg_tape_set_recording(t, was);
    tg_tape_reset(t);
    return logits ? (double)correct / (double)n : -1.0;
}

int main(void)
{
    static float xtr[2 * N_TRAIN], ytr[N_TRAIN], xte[2 * N_TEST], yte[N_TEST];
    const tg_dense_opts glorot = { .weight_init = TG_INIT_XAVIER_UNIFORM,
                                   .bias_init = TG_INIT_ZEROS };
    const tg_optim_config sgd = tg_optim_defaults(TG_SGD, LEARNING_RATE);
    tg_pcg32 rng;
    tg_mlp net;
    tg_tape *tape = tg_tape_new();
    tg_params *ps = tg_params_new();
    tg_optim *opt = NULL;
    int ok = tape && ps;
    tg_pcg32_seed(&rng, 42, 1);
    moons(&rng, N_TRAIN, xtr, ytr);
    moons(&rng, N_TEST, xte, yte);
    ok = ok && tg_mlp_init(&net, ps, "net", (size_t[]){ 2, HIDDEN, HIDDEN, 2 }, 4,
                           tg_rule_find("tanh"), &glorot, &rng) == TG_OK;
    ok = ok && (opt = tg_optim_new(ps, &sgd)) != NULL;   /* after the layers: it sizes its state */
    for (int epoch = 1; ok && epoch <= EPOCHS; epoch++) {
        const double loss = train_epoch(tape, &net, ps, opt, xtr, ytr);
        ok = !isnan(loss);
        if (ok && (epoch == 1 || epoch % 10 == 0))
            printf("epoch %3d  loss %.4f\n", epoch, loss);
    }
    if (ok)
        printf("test accuracy %.3f (%d points)\n", accuracy(tape, &net, xte, yte, N_TEST), N_TEST);
    else
        fprintf(stderr, "mlp: %s\n", tg_last_error());
    tg_optim_free(opt);
    tg_params_free(ps);
    tg_tape_free(tape);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
