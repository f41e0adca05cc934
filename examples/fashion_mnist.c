/* Fashion-MNIST with an MLP: 784 -> hidden -> hidden -> 10 with ReLU, softmax
 * cross-entropy, AdamW with a linear warm-up and a cosine decay, shuffled mini-batches
 * from tg_batches. Each epoch prints the mean training loss, the test accuracy and the
 * time; the last line is "test accuracy 0.xxxx". Public API only.
 *
 * The data are the four IDX files of the Debian package dataset-fashion-mnist
 * (/usr/share/datasets/fashion-mnist), gzip-compressed or not; --data DIR reads them
 * from another folder. --save FILE checkpoints at the end of every epoch (the weights,
 * AdamW's state, the batch iterator, the epoch), --resume FILE continues from one: the
 * resumed run prints and ends with the same numbers as the uninterrupted one.
 *
 * The defaults (784-256-256-10, 15 epochs, batch 128, peak rate 2e-3, weight decay 0.3)
 * were tuned by running it; README.md ("Training a model") lists the runs. A run is
 * deterministic given --seed; the built-in matrix kernel gives the same numbers on any
 * --threads (with OpenBLAS, the sums' order follows its thread count). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>
#include "cli.h"

enum { PIXELS = 28 * 28, CLASSES = 10, EVAL_CHUNK = 1000 };

typedef struct {
    const char *data, *save, *resume;
    uint64_t epochs, seed, hidden, batch, threads, stop_after;
    double lr, weight_decay;
} options;

/* ---- data ------------------------------------------------------------------------------ */

typedef struct {
    tg_idx images, labels;   /* [n, 28, 28] scaled and centred; [n] class indices */
} split;

/* DIR/NAME.gz, or DIR/NAME when there is no .gz (tg_idx_load reads both kinds); errors
 * are printed, naming the file and the fault. */
static tg_status load_idx(const char *dir, const char *name, tg_idx *out)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.gz", dir, name);
    if (tg_idx_load(path, out) == TG_OK)
        return TG_OK;
    if (tg_last_status() == TG_ERR_IO) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (tg_idx_load(path, out) == TG_OK)
            return TG_OK;
        if (tg_last_status() == TG_ERR_IO) {
            fprintf(stderr, "fashion_mnist: cannot read %s/%s.gz (nor %s)\n", dir, name, path);
            return TG_ERR_IO;
        }
    }
    fprintf(stderr, "fashion_mnist: %s\n", tg_last_error());
    return tg_last_status();
}

/* Images and labels of one split, checked to be n 28x28 images with n labels in 0..9;
 * errors are printed. */
static tg_status load_split(const char *dir, const char *prefix, split *s)
{
    char im[64], lb[64];
    snprintf(im, sizeof im, "%s-images-idx3-ubyte", prefix);
    snprintf(lb, sizeof lb, "%s-labels-idx1-ubyte", prefix);
    tg_status st = load_idx(dir, im, &s->images);
    if (st != TG_OK || (st = load_idx(dir, lb, &s->labels)) != TG_OK)
        return st;
    if (s->images.rank != 3 || s->images.dims[1] != 28 || s->images.dims[2] != 28 ||
        s->labels.rank != 1 || s->labels.dims[0] != s->images.dims[0]) {
        fprintf(stderr, "fashion_mnist: %s/%s: expected n 28x28 images and n labels\n", dir,
                prefix);
        return TG_ERR_SHAPE;
    }
    for (size_t i = 0; i < s->labels.count; i++)
        if (!(s->labels.data[i] >= 0.0f && s->labels.data[i] < CLASSES)) {
            fprintf(stderr, "fashion_mnist: %s/%s: label %zu is %g, not a class 0..9\n", dir,
                    lb, i, (double)s->labels.data[i]);
            return TG_ERR_DOMAIN;
        }
    return TG_OK;
}

/* Pixels 0..255 to zero mean and unit variance, with the training set's mean and
 * standard deviation applied to both splits. */
static void standardize(split *train, split *test)
{
    double sum = 0.0, sq = 0.0;
    const size_t n = train->images.count;
    for (size_t i = 0; i < n; i++) {
        sum += train->images.data[i];
        sq += (double)train->images.data[i] * train->images.data[i];
    }
    const double mean = sum / (double)n, sd = sqrt(fmax(sq / (double)n - mean * mean, 1e-12));
    for (size_t i = 0; i < n; i++)
        train->images.data[i] = (float)((train->images.data[i] - mean) / sd);
    for (size_t i = 0; i < test->images.count; i++)
        test->images.data[i] = (float)((test->images.data[i] - mean) / sd);
}

/* ---- the model and its training state ---------------------------------------------------- */

typedef struct {
    tg_params *params;
    tg_mlp net;
    tg_optim *opt;
    tg_batches *batches;
    tg_checkpoint *ckpt;
    uint64_t epoch;          /* epochs completed */
} run;

static tg_status run_init(run *r, const options *o, const split *train)
{
    const size_t sizes[4] = { PIXELS, o->hidden, o->hidden, CLASSES };
    const size_t n = train->images.dims[0];
    tg_optim_config cfg = tg_optim_defaults(TG_ADAMW, o->lr);
    cfg.weight_decay = o->weight_decay;                          /* decoupled: w -= lr wd w */
    tg_pcg32 init_rng;
    tg_status s;
    memset(r, 0, sizeof *r);
    tg_pcg32_seed(&init_rng, o->seed, 1);
    r->params = tg_params_new();
    if (!r->params)
        return tg_last_status();
    if ((s = tg_mlp_init(&r->net, r->params, "mlp", sizes, 4, tg_rule_find("relu"), NULL,
                         &init_rng)) != TG_OK)
        return s;
    r->opt = tg_optim_new(r->params, &cfg);       /* after the layers: it sizes its state */
    r->batches = tg_batches_new(n, o->batch, 0, o->seed);
    r->ckpt = tg_checkpoint_new();
    if (!r->opt || !r->batches || !r->ckpt)
        return tg_last_status();
    /* warm-up over the first half epoch, then a cosine down to zero at the last step */
    const uint64_t steps = o->epochs * tg_batches_per_epoch(r->batches);
    const tg_lr_schedule sched = { .kind = TG_LR_COSINE, .total_steps = steps,
                                   .warmup_steps = tg_batches_per_epoch(r->batches) / 2 };
    if ((s = tg_optim_set_schedule(r->opt, &sched)) != TG_OK ||
        (s = tg_batches_add(r->batches, train->images.data, PIXELS, NULL)) != TG_OK ||
        (s = tg_batches_add(r->batches, train->labels.data, 1, NULL)) != TG_OK)
        return s;
    /* what a resumed run restores, and the choices it must share with the saved run */
    if ((s = tg_checkpoint_add_params(r->ckpt, "model.", r->params)) != TG_OK ||
        (s = tg_checkpoint_add_optim(r->ckpt, "adamw.", r->opt)) != TG_OK ||
        (s = tg_checkpoint_add_batches(r->ckpt, "batches", r->batches)) != TG_OK ||
        (s = tg_checkpoint_add_u64(r->ckpt, "epoch", &r->epoch)) != TG_OK ||
        (s = tg_checkpoint_add_tag(r->ckpt, "epochs", o->epochs)) != TG_OK ||
        (s = tg_checkpoint_add_tag(r->ckpt, "batch", o->batch)) != TG_OK ||
        (s = tg_checkpoint_add_tag(r->ckpt, "train_rows", n)) != TG_OK)
        return s;
    return TG_OK;
}

static void run_free(run *r)
{
    tg_checkpoint_free(r->ckpt);
    tg_batches_free(r->batches);
    tg_optim_free(r->opt);
    tg_params_free(r->params);
}

/* One pass over the shuffled training set; the mean loss through *loss. */
static tg_status train_epoch(run *r, tg_tape *tape, tg_progress *p, double *loss)
{
    double total = 0.0;
    size_t steps = 0;
    while (tg_batches_next(r->batches) > 0) {        /* 0: the epoch is over */
        tg_tensor *x = tg_batches_tensor(r->batches, 0, tape);
        tg_tensor *y = tg_batches_tensor(r->batches, 1, tape);
        tg_tensor *l = tg_softmax_cross_entropy(tape, tg_mlp_forward(tape, &r->net, x), y);
        tg_status s = l ? tg_backward(tape, l, NULL) : tg_tape_status(tape);
        if (s != TG_OK || (s = tg_optim_step(r->opt)) != TG_OK)
            return s;                                /* one check per step */
        const double value = l->data[0];            /* l lives in the tape: read it first */
        total += value;
        steps++;
        tg_params_zero_grad(r->params);
        tg_tape_reset(tape);
        tg_progress_update(p, tg_optim_steps(r->opt), value);
    }
    *loss = total / (double)steps;
    return TG_OK;
}

/* The class with the largest logit. */
static size_t argmax(const float *v, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Fraction of the split classified right, EVAL_CHUNK images at a time, recording off. */
static tg_status accuracy(const run *r, tg_tape *tape, const split *s, double *acc)
{
    const size_t n = s->images.dims[0];
    size_t correct = 0;
    const int was = tg_tape_set_recording(tape, 0);  /* inference: nothing kept for backward */
    for (size_t first = 0; first < n; first += EVAL_CHUNK) {
        const size_t rows = n - first < EVAL_CHUNK ? n - first : EVAL_CHUNK;
        tg_tensor *x = tg_tape_const(tape, 2, (size_t[]){ rows, PIXELS });
        if (x)
            memcpy(x->data, s->images.data + first * PIXELS, rows * PIXELS * sizeof(float));
        tg_tensor *logits = tg_mlp_forward(tape, &r->net, x);
        if (!logits) {
            tg_tape_set_recording(tape, was);
            return tg_tape_status(tape);
        }
        for (size_t i = 0; i < rows; i++)
            correct += argmax(logits->data + i * CLASSES, CLASSES) == (size_t)s->labels.data[first + i];
        tg_tape_reset(tape);
    }
    tg_tape_set_recording(tape, was);
    *acc = (double)correct / (double)n;
    return TG_OK;
}

/* ---- options --------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: fashion_mnist [options]\n"
        "  --data DIR        folder of the four IDX files (/usr/share/datasets/fashion-mnist)\n"
        "  --epochs N        epochs (15)\n"
        "  --seed S          seed of the initial weights and the batch order (1)\n"
        "  --hidden H        width of the two hidden layers (256)\n"
        "  --batch B         batch size (128)\n"
        "  --lr LR           AdamW peak learning rate, cosine schedule (2e-3)\n"
        "  --weight-decay W  AdamW's decoupled weight decay (0.3)\n"
        "  --threads N       threads for the kernels, 0 = one per processor (2)\n"
        "  --save FILE       checkpoint at the end of every epoch\n"
        "  --resume FILE     continue from a checkpoint (same --epochs and --batch)\n"
        "  --stop-after N    stop after epoch N as if interrupted\n"
        "  --help            this text\n");
}

/* 0 on success, 1 for --help, -1 after a message for a bad option. */
static int parse(int argc, char **argv, options *o)
{
    *o = (options){ .data = "/usr/share/datasets/fashion-mnist", .epochs = 15, .seed = 1,
                    .hidden = 256, .batch = 128, .lr = 2e-3,
                    .weight_decay = 0.3, .threads = 2 };
    for (int i = 1; i < argc; i += 2) {              /* every option but --help takes a value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strcmp(a, "--data") == 0)
            bad = !(o->data = v);
        else if (strcmp(a, "--epochs") == 0)
            bad = ex_parse_u64(v, 1, 10000, &o->epochs);
        else if (strcmp(a, "--seed") == 0)
            bad = ex_parse_u64(v, 0, UINT64_MAX, &o->seed);
        else if (strcmp(a, "--hidden") == 0)
            bad = ex_parse_u64(v, 1, 8192, &o->hidden);
        else if (strcmp(a, "--batch") == 0)
            bad = ex_parse_u64(v, 1, 65536, &o->batch);
        else if (strcmp(a, "--lr") == 0)
            bad = ex_parse_double(v, 0.0, 1.0, &o->lr);
        else if (strcmp(a, "--weight-decay") == 0)
            bad = ex_parse_double(v, 0.0, 10.0, &o->weight_decay);
        else if (strcmp(a, "--threads") == 0)
            bad = ex_parse_u64(v, 0, TG_MAX_THREADS, &o->threads);
        else if (strcmp(a, "--save") == 0)
            bad = !(o->save = v);
        else if (strcmp(a, "--resume") == 0)
            bad = !(o->resume = v);
        else if (strcmp(a, "--stop-after") == 0)
            bad = ex_parse_u64(v, 1, 10000, &o->stop_after);
        else {
            fprintf(stderr, "fashion_mnist: unknown option %s\n", a);
            return -1;
        }
        if (bad) {
            ex_bad_value("fashion_mnist", a, v);
            return -1;
        }
    }
    return 0;
}

/* ---- main ------------------------------------------------------------------------------ */

/* Loads both splits: 0, 2 after saying how to install the data when a file is missing,
 * 1 when one is damaged. */
static int load_data(const options *o, split *train, split *test)
{
    tg_status s = load_split(o->data, "train", train);
    if (s == TG_OK)
        s = load_split(o->data, "t10k", test);
    if (s == TG_OK) {
        standardize(train, test);
        return 0;
    }
    if (s != TG_ERR_IO)
        return 1;
    fprintf(stderr, "fashion_mnist: no Fashion-MNIST in %s: install it with\n"
                    "  apt-get install dataset-fashion-mnist\n"
                    "or pass --data DIR, a folder holding {train,t10k}-{images-idx3,"
                    "labels-idx1}-ubyte[.gz]\n", o->data);
    return 2;
}

/* Trains from r->epoch to o->epochs (or --stop-after), checkpointing each epoch. */
static tg_status train(run *r, const options *o, tg_tape *tape, const split *test, double *acc)
{
    const uint64_t last = o->stop_after && o->stop_after < o->epochs ? o->stop_after : o->epochs;
    tg_progress p;
    tg_status s = TG_OK;
    tg_progress_start(&p, "train", tg_optim_steps(r->opt), o->epochs * tg_batches_per_epoch(r->batches));
    while (s == TG_OK && r->epoch < last) {
        const double t0 = ex_seconds();
        double loss;
        if ((s = train_epoch(r, tape, &p, &loss)) != TG_OK || (s = accuracy(r, tape, test, acc)) != TG_OK)
            break;
        r->epoch++;
        printf("epoch %3llu  loss %.4f  test accuracy %.4f  %5.1f s\n",
               (unsigned long long)r->epoch, loss, *acc, ex_seconds() - t0);
        fflush(stdout);
        if (o->save)
            s = tg_checkpoint_save(r->ckpt, o->save);
    }
    tg_progress_end(&p);
    if (s == TG_OK && isnan(*acc))                     /* resumed after the last epoch */
        s = accuracy(r, tape, test, acc);
    return s;
}

/* Sets the threads, builds the run (resuming it with --resume), trains and prints the
 * final line; 0 on success, 1 after printing the error. */
static int run_all(const options *o, const split *train_set, const split *test_set, double t0)
{
    run r = { 0 };
    tg_tape *tape = NULL;
    double acc = NAN;
    tg_status s = tg_set_num_threads(o->threads);   /* 0: one per processor */
    if (s == TG_OK) {
        printf("Fashion-MNIST: %zu training and %zu test images; MLP 784-%llu-%llu-10, "
               "batch %llu, AdamW lr %g, %zu threads\n", train_set->images.dims[0],
               test_set->images.dims[0], (unsigned long long)o->hidden,
               (unsigned long long)o->hidden, (unsigned long long)o->batch, o->lr,
               tg_get_num_threads());
        fflush(stdout);                               /* before progress lines on stderr */
        s = run_init(&r, o, train_set);
    }
    if (s == TG_OK && o->resume && (s = tg_checkpoint_load(r.ckpt, o->resume)) == TG_OK)
        printf("resumed from %s after epoch %llu\n", o->resume, (unsigned long long)r.epoch);
    if (s == TG_OK && !(tape = tg_tape_new()))
        s = tg_last_status();
    if (s == TG_OK)
        s = train(&r, o, tape, test_set, &acc);
    if (s == TG_OK)
        printf("test accuracy %.4f (%.1f s)\n", acc, ex_seconds() - t0);
    else
        fprintf(stderr, "fashion_mnist: %s (%s)\n", tg_last_error(), tg_strerror(s));
    tg_tape_free(tape);
    run_free(&r);
    return s == TG_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    const double t0 = ex_seconds();
    options o;
    split train_set = { 0 }, test_set = { 0 };
    int rc = parse(argc, argv, &o);
    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        return rc > 0 ? EXIT_SUCCESS : 2;
    }
    if ((rc = load_data(&o, &train_set, &test_set)) == 0)
        rc = run_all(&o, &train_set, &test_set, t0);
    tg_idx_free(&train_set.images);
    tg_idx_free(&train_set.labels);
    tg_idx_free(&test_set.images);
    tg_idx_free(&test_set.labels);
    return rc;
}
