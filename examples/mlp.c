/* A two-moons classifier in a page: a 2-32-32-2 MLP with tanh, trained by plain SGD on
 * data generated with PCG32, using only the public tapegrad API.
 *
 *   moons: t ~ U[0, pi]; class 0 at (cos t, sin t), class 1 at (1 - cos t, 0.5 - sin t),
 *          plus Gaussian noise of std 0.1 on each coordinate. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <tapegrad.h>

enum { N_TRAIN = 1024, N_TEST = 512, BATCH = 32, EPOCHS = 60, HIDDEN = 32 };
static const float LEARNING_RATE = 0.1f;

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

/* Glorot-uniform weights, zero biases. */
static tg_tensor *layer_weight(tg_pcg32 *rng, size_t out, size_t in)
{
    const size_t shape[2] = { out, in };
    tg_tensor *W = tg_tensor_new(TG_PARAM, 2, shape);
    const float limit = sqrtf(6.0f / (float)(in + out));
    for (size_t i = 0; W && i < W->size; i++)
        W->data[i] = limit * (2.0f * tg_pcg32_float(rng) - 1.0f);
    return W;
}

typedef struct {
    tg_tensor *W[3], *b[3];
} mlp;

static tg_tensor *forward(tg_tape *t, const mlp *m, tg_tensor *x)
{
    tg_tensor *h = tg_tanh(t, tg_linear(t, x, m->W[0], m->b[0]));
    h = tg_tanh(t, tg_linear(t, h, m->W[1], m->b[1]));
    return tg_linear(t, h, m->W[2], m->b[2]);   /* logits [batch, 2] */
}

static void sgd_step(mlp *m)
{
    for (int l = 0; l < 3; l++) {
        tg_tensor *p[2] = { m->W[l], m->b[l] };
        for (int k = 0; k < 2; k++) {
            for (size_t i = 0; i < p[k]->size; i++)
                p[k]->data[i] -= LEARNING_RATE * p[k]->grad[i];
            tg_zero_grad(p[k]);
        }
    }
}

/* Copies rows [first, first + n) of (x, y) into tape constants. */
static tg_status batch(tg_tape *t, const float *x, const float *y, size_t first, size_t n,
                       tg_tensor **bx, tg_tensor **by)
{
    const size_t xs[2] = { n, 2 }, ys[1] = { n };
    *bx = tg_tape_const(t, 2, xs);
    *by = tg_tape_const(t, 1, ys);
    if (!*bx || !*by)
        return tg_tape_status(t);
    for (size_t i = 0; i < n; i++) {
        (*bx)->data[2 * i] = x[2 * (first + i)];
        (*bx)->data[2 * i + 1] = x[2 * (first + i) + 1];
        (*by)->data[i] = y[first + i];
    }
    return TG_OK;
}

static double accuracy(tg_tape *t, const mlp *m, const float *x, const float *y, size_t n)
{
    tg_tensor *bx, *by, *logits = NULL;
    size_t correct = 0;
    const int was = tg_tape_set_recording(t, 0);   /* inference: nothing kept for backward */
    if (batch(t, x, y, 0, n, &bx, &by) == TG_OK)
        logits = forward(t, m, bx);
    for (size_t i = 0; logits && i < n; i++)
        correct += (logits->data[2 * i + 1] > logits->data[2 * i]) == (y[i] > 0.5f);
    tg_tape_set_recording(t, was);
    tg_tape_reset(t);
    return logits ? (double)correct / (double)n : -1.0;
}

int main(void)
{
    static float xtr[2 * N_TRAIN], ytr[N_TRAIN], xte[2 * N_TEST], yte[N_TEST];
    tg_pcg32 rng;
    tg_tape *tape = tg_tape_new();
    mlp m;
    const size_t sizes[4] = { 2, HIDDEN, HIDDEN, 2 };
    int ok = tape != NULL;
    tg_pcg32_seed(&rng, 42, 1);
    moons(&rng, N_TRAIN, xtr, ytr);
    moons(&rng, N_TEST, xte, yte);
    for (int l = 0; l < 3; l++) {
        m.W[l] = layer_weight(&rng, sizes[l + 1], sizes[l]);
        m.b[l] = tg_tensor_new(TG_PARAM, 1, &sizes[l + 1]);
        ok = ok && m.W[l] && m.b[l];
    }
    for (int epoch = 1; ok && epoch <= EPOCHS; epoch++) {
        double total = 0.0;
        for (size_t first = 0; ok && first < N_TRAIN; first += BATCH) {
            tg_tensor *bx, *by, *loss = NULL;
            if (batch(tape, xtr, ytr, first, BATCH, &bx, &by) == TG_OK)
                loss = tg_softmax_cross_entropy(tape, forward(tape, &m, bx), by);
            ok = loss && tg_backward(tape, loss, NULL) == TG_OK;   /* one check per step */
            if (ok) {
                total += loss->data[0];
                sgd_step(&m);
            }
            tg_tape_reset(tape);
        }
        if (ok && (epoch == 1 || epoch % 10 == 0))
            printf("epoch %3d  loss %.4f\n", epoch, total / (N_TRAIN / BATCH));
    }
    if (ok)
        printf("test accuracy %.3f (%d points)\n", accuracy(tape, &m, xte, yte, N_TEST), N_TEST);
    else
        fprintf(stderr, "mlp: %s\n", tg_last_error());
    for (int l = 0; l < 3; l++) {
        tg_tensor_free(m.W[l]);
        tg_tensor_free(m.b[l]);
    }
    tg_tape_free(tape);
    return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}
