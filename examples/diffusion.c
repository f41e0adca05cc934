/* A diffusion model trained end to end in C: an MLP epsilon predictor on 2-D data
 * (two moons, eight Gaussians on a ring, a swiss roll), sampled with DDPM or DDIM,
 * scored by the energy distance to fresh data. Public tapegrad API only.
 *
 *   train:  x_0 from the data, t ~ U{1..T}, eps ~ N(0, I),
 *           x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps    (q(x_t | x_0): one kernel)
 *           loss = |eps_theta(x_t, t) - eps|^2                 (the epsilon objective)
 *   sample: x_T ~ N(0, I), then the reverse steps x_t -> x_{t-1} (DDPM) or x_t -> x_s (DDIM)
 *
 * The model works on standardized coordinates (the data's mean and spread, measured once
 * from a fixed stream); samples.csv and the plot are in the data's own coordinates.
 * Every random draw comes from PCG32 streams of --seed, so a run is deterministic, and a
 * checkpoint holds everything a resumed run needs to continue bit for bit. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tapegrad.h>
#include "cli.h"
#include "svg_plot.h"

enum { DIM = 2, EMB = 32, MAX_SAMPLES = 1000000 };
enum { STREAM_INIT = 1, STREAM_DATA, STREAM_NOISE, STREAM_SAMPLE, STREAM_EVAL, STREAM_STATS };
static const double PI = 3.14159265358979323846;

typedef enum { MOONS, RINGS, SWISSROLL } dataset;
static const char *const DATASETS[] = { "moons", "rings", "swissroll" };

typedef struct {
    dataset data;
    uint64_t seed;
    uint64_t train_steps, stop_after, save_every;
    size_t batch, T, hidden, sample_steps, samples, threads;
    int cosine, ddim;
    double lr, ema_decay, eta;
    const char *out, *save, *resume;
} options;

/* ---- data: each point from one PCG32 stream, defined exactly in README.md ---------- */
static void draw_point(dataset d, tg_pcg32 *rng, float *p)
{
    float z[2];
    double x, y, s;
    if (d == MOONS) {
        const double t = PI * tg_pcg32_double(rng);
        const int lower = (int)(tg_pcg32_next(rng) >> 31);
        x = lower ? 1.0 - cos(t) : cos(t);
        y = lower ? 0.5 - sin(t) : sin(t);
        s = 0.05;
    } else if (d == RINGS) {
        const double a = 2.0 * PI * (double)tg_pcg32_bounded(rng, 8) / 8.0;
        x = 2.0 * cos(a);
        y = 2.0 * sin(a);
        s = 0.1;
    } else {
        const double t = 1.5 * PI * (1.0 + 2.0 * tg_pcg32_double(rng));
        x = t * cos(t) / 5.0;
        y = t * sin(t) / 5.0;
        s = 0.05;
    }
    tg_normal_fill(rng, z, 2);
    p[0] = (float)(x + s * z[0]);
    p[1] = (float)(y + s * z[1]);
}

static void draw_points(dataset d, tg_pcg32 *rng, float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        draw_point(d, rng, p + DIM * i);
}

/* ---- the model: [x_t, embedding(t)] -> 3 hidden SiLU layers -> epsilon ------------- */
typedef struct {
    tg_params *params, *ema;
    tg_mlp net, net_ema;
    float mean[DIM], scale[DIM];   /* standardization: z = (x - mean) / scale */
} model;

static tg_status model_init(model *m, const options *o)
{
    const size_t sizes[5] = { DIM + EMB, o->hidden, o->hidden, o->hidden, DIM };
    const tg_rule *silu = tg_rule_find("silu");
    tg_pcg32 rng;
    tg_status s;
    float *pts = malloc(sizeof(float) * DIM * 20000);
    double sum[DIM] = { 0 }, sq[DIM] = { 0 };
    memset(m, 0, sizeof *m);
    if (!pts)
        return TG_ERR_NOMEM;
    tg_pcg32_seed(&rng, o->seed, STREAM_STATS);
    draw_points(o->data, &rng, pts, 20000);
    for (size_t i = 0; i < 20000; i++)
        for (int k = 0; k < DIM; k++) {
            sum[k] += pts[DIM * i + k];
            sq[k] += (double)pts[DIM * i + k] * pts[DIM * i + k];
        }
    for (int k = 0; k < DIM; k++) {
        m->mean[k] = (float)(sum[k] / 20000);
        m->scale[k] = (float)sqrt(sq[k] / 20000 - (sum[k] / 20000) * (sum[k] / 20000));
    }
    free(pts);
    m->params = tg_params_new();
    m->ema = tg_params_new();
    if (!m->params || !m->ema)
        return TG_ERR_NOMEM;
    tg_pcg32_seed(&rng, o->seed, STREAM_INIT);
    s = tg_mlp_init(&m->net, m->params, "eps", sizes, 5, silu, NULL, &rng);
    if (s == TG_OK)
        s = tg_mlp_init(&m->net_ema, m->ema, "eps", sizes, 5, silu, NULL, &rng);
    return s == TG_OK ? tg_params_copy(m->ema, m->params) : s;
}

static void model_free(model *m)
{
    tg_params_free(m->params);
    tg_params_free(m->ema);
}

/* The network's input for n points at times t: [n, DIM + EMB] on the tape. */
static tg_tensor *net_input(tg_tape *tape, const float *z, const float *t, size_t n, float *emb)
{
    tg_tensor *x = tg_tape_const(tape, 2, (size_t[]){ n, DIM + EMB });
    if (!x || tg_time_embedding(t, n, EMB, 10000.0, emb) != TG_OK)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        memcpy(x->data + i * (DIM + EMB), z + DIM * i, DIM * sizeof(float));
        memcpy(x->data + i * (DIM + EMB) + DIM, emb + EMB * i, EMB * sizeof(float));
    }
    return x;
}

/* ---- training ---------------------------------------------------------------------- */
typedef struct {
    tg_optim *opt;
    tg_pcg32 data_rng, noise_rng;
    uint64_t step;
    tg_checkpoint *ckpt;
} trainer;

static tg_status trainer_init(trainer *tr, model *m, const options *o)
{
    tg_optim_config cfg = tg_optim_defaults(TG_ADAMW, o->lr);
    const tg_lr_schedule sched = { .kind = TG_LR_COSINE, .warmup_steps = o->train_steps / 50,
                                   .total_steps = o->train_steps, .min_lr = o->lr / 20 };
    tg_status s;
    memset(tr, 0, sizeof *tr);
    cfg.weight_decay = 1e-4;
    cfg.clip_norm = 1.0;
    tg_pcg32_seed(&tr->data_rng, o->seed, STREAM_DATA);
    tg_pcg32_seed(&tr->noise_rng, o->seed, STREAM_NOISE);
    tr->opt = tg_optim_new(m->params, &cfg);
    tr->ckpt = tg_checkpoint_new();
    if (!tr->opt || !tr->ckpt)
        return tg_last_status();
    if ((s = tg_optim_set_schedule(tr->opt, &sched)) != TG_OK)
        return s;
    /* what a resumed run needs, and the choices it must share with the saved run */
    if ((s = tg_checkpoint_add_params(tr->ckpt, "model.", m->params)) != TG_OK ||
        (s = tg_checkpoint_add_params(tr->ckpt, "ema.", m->ema)) != TG_OK ||
        (s = tg_checkpoint_add_optim(tr->ckpt, "adamw.", tr->opt)) != TG_OK ||
        (s = tg_checkpoint_add_rng(tr->ckpt, "rng.data", &tr->data_rng)) != TG_OK ||
        (s = tg_checkpoint_add_rng(tr->ckpt, "rng.noise", &tr->noise_rng)) != TG_OK ||
        (s = tg_checkpoint_add_u64(tr->ckpt, "step", &tr->step)) != TG_OK ||
        (s = tg_checkpoint_add_tag(tr->ckpt, "data", (uint64_t)o->data)) != TG_OK ||
        (s = tg_checkpoint_add_tag(tr->ckpt, "T", o->T)) != TG_OK ||
        (s = tg_checkpoint_add_tag(tr->ckpt, "schedule", (uint64_t)o->cosine)) != TG_OK)
        return s;
    return TG_OK;
}

/* One step: a fresh batch, noised by q(x_t | x_0), the MSE to the noise, AdamW, EMA. */
static tg_status train_step(trainer *tr, model *m, const tg_ddpm_schedule *sched,
                            const options *o, tg_tape *tape, float *buf, double *loss_out)
{
    const size_t B = o->batch;
    float *x0 = buf, *eps = x0 + DIM * B, *t = eps + DIM * B, *emb = t + B;
    tg_tensor *in, *target, *loss;
    tg_status s;
    draw_points(o->data, &tr->data_rng, x0, B);
    tg_normal_fill(&tr->noise_rng, eps, DIM * B);
    for (size_t i = 0; i < B; i++) {
        const size_t ti = 1 + tg_pcg32_bounded(&tr->noise_rng, (uint32_t)o->T);
        tg_forward_kernel q;
        tg_ddpm_q(sched, ti, &q);
        for (int k = 0; k < DIM; k++)
            x0[DIM * i + k] = (x0[DIM * i + k] - m->mean[k]) / m->scale[k];
        tg_forward_noising_map(q.a, q.b, x0 + DIM * i, eps + DIM * i, DIM, x0 + DIM * i);
        t[i] = (float)ti;
    }
    in = net_input(tape, x0, t, B, emb);
    target = tg_tape_const(tape, 2, (size_t[]){ B, DIM });
    if (target)
        memcpy(target->data, eps, DIM * B * sizeof(float));
    loss = tg_mse_loss(tape, tg_mlp_forward(tape, &m->net, in), target);
    if (!loss || (s = tg_backward(tape, loss, NULL)) != TG_OK)
        return tg_tape_status(tape) != TG_OK ? tg_tape_status(tape) : tg_last_status();
    *loss_out = loss->data[0];
    tg_tape_reset(tape);
    if ((s = tg_optim_step(tr->opt)) != TG_OK)
        return s;
    tg_params_zero_grad(m->params);
    tr->step++;
    return tg_params_ema(m->ema, m->params, tr->step < 1000 ? 0.9 : o->ema_decay);
}

/* ---- sampling: every point at once, the EMA weights, inference mode ----------------- */
static tg_status sample(const model *m, const tg_ddpm_schedule *sched, const options *o,
                        tg_tape *tape, float *x, size_t n)
{
    const size_t K = o->ddim ? o->sample_steps : o->T;
    size_t *taus = malloc((K + 1) * sizeof *taus);
    float *t = malloc(n * sizeof *t), *emb = malloc(n * EMB * sizeof *emb);
    tg_pcg32 rng;
    tg_status s = taus && t && emb ? TG_OK : TG_ERR_NOMEM;
    tg_pcg32_seed(&rng, o->seed, STREAM_SAMPLE);
    if (s == TG_OK)
        s = tg_ddim_timesteps(o->T, K, taus);
    if (s == TG_OK)
        s = tg_normal_fill(&rng, x, DIM * n);
    tg_tape_set_recording(tape, 0);
    for (size_t k = K; s == TG_OK && k >= 1; k--) {
        const size_t now = taus[k], next = taus[k - 1];
        tg_tensor *eps;
        for (size_t i = 0; i < n; i++)
            t[i] = (float)now;
        eps = tg_mlp_forward(tape, &m->net_ema, net_input(tape, x, t, n, emb));
        if (!eps)
            s = tg_tape_status(tape);
        else if (o->ddim)
            s = tg_ddim_sample_step(sched, now, next, o->eta, x, eps->data, DIM * n, &rng, x);
        else
            s = tg_ddpm_sample_step(sched, now, TG_DDPM_SIGMA_POSTERIOR, x, eps->data, DIM * n,
                                    &rng, x);
        tg_tape_reset(tape);
    }
    for (size_t i = 0; s == TG_OK && i < n; i++)   /* back to the data's coordinates */
        for (int k = 0; k < DIM; k++)
            x[DIM * i + k] = x[DIM * i + k] * m->scale[k] + m->mean[k];
    tg_tape_set_recording(tape, 1);
    free(taus);
    free(t);
    free(emb);
    return s;
}

/* ---- output ------------------------------------------------------------------------ */
static char *out_path(const options *o, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->out, name);
    return path;
}

static int write_csv(const char *path, const float *x, size_t n)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "# x,y: %zu samples\n", n);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%.9g,%.9g\n", x[DIM * i], x[DIM * i + 1]);
    return fclose(f) == 0 ? 0 : -1;
}

/* Mean loss over windows of the run, for loss.svg. */
static int write_loss_plot(const char *path, const double *loss, uint64_t first, uint64_t n)
{
    enum { POINTS = 400 };
    double xs[POINTS], ys[POINTS];
    const uint64_t w = n / POINTS + 1;
    size_t m = 0;
    for (uint64_t a = 0; a < n && m < POINTS; a += w, m++) {
        double s = 0.0;
        uint64_t c = 0;
        for (uint64_t i = a; i < a + w && i < n; i++, c++)
            s += loss[i];
        xs[m] = (double)(first + a + c);
        ys[m] = s / (double)c;
    }
    return svg_line(path, "training loss (mean per window)", "step", "MSE (log scale)", xs, ys,
                    m, 1);
}

/* ---- options ----------------------------------------------------------------------- */
static void usage(FILE *f)
{
    fprintf(f,
        "usage: diffusion [options]\n"
        "  --data moons|rings|swissroll  data set (moons)\n"
        "  --seed S                      random seed (1)\n"
        "  --train-steps N               total training steps (12000)\n"
        "  --batch B                     batch size (256)\n"
        "  --hidden H                    width of the 3 hidden layers (128)\n"
        "  --lr LR                       AdamW peak learning rate, cosine schedule (2e-3)\n"
        "  --ema-decay D                 decay of the weights' moving average, sampled from (0.995)\n"
        "  --T T                         diffusion steps (1000)\n"
        "  --schedule linear|cosine      noise schedule (linear)\n"
        "  --sampler ddpm|ddim           sampler (ddpm)\n"
        "  --sample-steps K              DDIM steps (50; DDPM always takes T)\n"
        "  --eta E                       DDIM noise, 0 = deterministic (0)\n"
        "  --samples N                   samples to draw (2000)\n"
        "  --out DIR                     where samples.csv, samples.svg, loss.svg go (.)\n"
        "  --save FILE                   checkpoint at the end (and with --save-every)\n"
        "  --save-every N                also checkpoint every N steps\n"
        "  --stop-after N                stop after step N as if interrupted (with --save)\n"
        "  --resume FILE                 continue from a checkpoint\n"
        "  --threads N                   threads for the kernels, 0 = one per processor (2)\n"
        "  --help                        this text\n");
}

/* 0 on success, 1 for --help, -1 with a message for a bad option. */
static int parse(int argc, char **argv, options *o)
{
    static const char *const schedules[] = { "linear", "cosine" }, *const samplers[] = { "ddpm", "ddim" };
    *o = (options){ .data = MOONS, .seed = 1, .train_steps = 12000, .batch = 256, .T = 1000,
                    .hidden = 128, .sample_steps = 50, .samples = 2000, .threads = 2, .lr = 2e-3,
                    .ema_decay = 0.995, .out = "." };
    for (int i = 1; i < argc; i += 2) {   /* every option but --help takes one value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int k = 0, bad = 0;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return 1;
        if (strcmp(a, "--data") == 0)
            bad = (k = ex_parse_choice(v, DATASETS, 3)) < 0, o->data = (dataset)k;
        else if (strcmp(a, "--schedule") == 0)
            bad = (o->cosine = ex_parse_choice(v, schedules, 2)) < 0;
        else if (strcmp(a, "--sampler") == 0)
            bad = (o->ddim = ex_parse_choice(v, samplers, 2)) < 0;
        else if (strcmp(a, "--seed") == 0)
            bad = ex_parse_u64(v, 0, UINT64_MAX, &o->seed);
        else if (strcmp(a, "--train-steps") == 0)
            bad = ex_parse_u64(v, 0, UINT32_MAX, &o->train_steps);
        else if (strcmp(a, "--save-every") == 0)
            bad = ex_parse_u64(v, 1, UINT32_MAX, &o->save_every);
        else if (strcmp(a, "--stop-after") == 0)
            bad = ex_parse_u64(v, 1, UINT32_MAX, &o->stop_after);
        else if (strcmp(a, "--batch") == 0)
            bad = ex_parse_size(v, 1, 65536, &o->batch);
        else if (strcmp(a, "--hidden") == 0)
            bad = ex_parse_size(v, 1, 4096, &o->hidden);
        else if (strcmp(a, "--threads") == 0)
            bad = ex_parse_size(v, 0, 256, &o->threads);
        else if (strcmp(a, "--T") == 0)
            bad = ex_parse_size(v, 1, 100000, &o->T);
        else if (strcmp(a, "--sample-steps") == 0)
            bad = ex_parse_size(v, 1, 100000, &o->sample_steps);
        else if (strcmp(a, "--samples") == 0)
            bad = ex_parse_size(v, 2, MAX_SAMPLES, &o->samples);
        else if (strcmp(a, "--lr") == 0)
            bad = ex_parse_double(v, 0.0, 1.0, &o->lr);
        else if (strcmp(a, "--ema-decay") == 0)
            bad = ex_parse_double(v, 0.0, 1.0, &o->ema_decay);
        else if (strcmp(a, "--eta") == 0)
            bad = ex_parse_double(v, 0.0, 10.0, &o->eta);
        else if (strcmp(a, "--out") == 0)
            bad = !(o->out = v);
        else if (strcmp(a, "--save") == 0)
            bad = !(o->save = v);
        else if (strcmp(a, "--resume") == 0)
            bad = !(o->resume = v);
        else {
            fprintf(stderr, "diffusion: unknown option %s\n", a);
            return -1;
        }
        if (bad) {
            ex_bad_value("diffusion", a, v);
            return -1;
        }
    }
    if (o->ddim && o->sample_steps > o->T) {
        fprintf(stderr, "diffusion: --sample-steps %zu is more than --T %zu\n", o->sample_steps,
                o->T);
        return -1;
    }
    return 0;
}

/* ---- main -------------------------------------------------------------------------- */
static int fail(const char *what, tg_status s)
{
    fprintf(stderr, "diffusion: %s: %s (%s)\n", what, tg_last_error(), tg_strerror(s));
    return 1;
}

static tg_status run(const options *o, tg_tape *tape, model *m, trainer *tr,
                     tg_ddpm_schedule *sched, double **loss_log, uint64_t *first)
{
    tg_progress prog;
    tg_status s;
    const uint64_t end = o->stop_after && o->stop_after < o->train_steps ? o->stop_after
                                                                         : o->train_steps;
    float *buf = malloc(sizeof(float) * o->batch * (2 * DIM + 1 + EMB));
    *first = tr->step;
    *loss_log = malloc(sizeof(double) * (end > tr->step ? end - tr->step : 1));
    if (!buf || !*loss_log) {
        free(buf);
        return TG_ERR_NOMEM;
    }
    tg_progress_start(&prog, "train", tr->step, end);
    s = TG_OK;
    while (s == TG_OK && tr->step < end) {
        double loss = NAN;
        s = train_step(tr, m, sched, o, tape, buf, &loss);
        (*loss_log)[tr->step - 1 - *first] = loss;
        tg_progress_update(&prog, tr->step, loss);
        if (s == TG_OK && o->save && o->save_every && tr->step % o->save_every == 0)
            s = tg_checkpoint_save(tr->ckpt, o->save);
    }
    tg_progress_end(&prog);
    free(buf);
    if (s == TG_OK && o->save)
        s = tg_checkpoint_save(tr->ckpt, o->save);
    return s;
}

/* The energy distance of a single draw is noisy at this N (the floor's standard deviation
 * is about half its mean), so each figure is the mean over DRAWS independent draws of the
 * fresh data (and of the second data set, or of the normal points), with its standard
 * error. Every draw comes from the evaluation stream, the same for every run of a seed. */
enum { DRAWS = 8 };

typedef struct {
    double sum, sq;
} tally;

static void tally_add(tally *t, double v)
{
    t->sum += v;
    t->sq += v * v;
}

static double tally_mean(const tally *t) { return t->sum / DRAWS; }

static double tally_se(const tally *t)
{
    const double m = tally_mean(t), var = (t->sq - DRAWS * m * m) / (DRAWS - 1);
    return sqrt(var > 0.0 ? var / DRAWS : 0.0);
}

static tg_status report_quality(const options *o, const float *samples)
{
    const size_t n = o->samples;
    float *a = malloc(sizeof(float) * DIM * n), *b = malloc(sizeof(float) * DIM * n),
          *g = malloc(sizeof(float) * DIM * n);
    tally mod = { 0 }, floor_ = { 0 }, normal = { 0 };
    tg_pcg32 rng;
    tg_status s = a && b && g ? TG_OK : TG_ERR_NOMEM;
    tg_pcg32_seed(&rng, o->seed, STREAM_EVAL);
    for (int r = 0; s == TG_OK && r < DRAWS; r++) {
        double dm, df, dn;
        draw_points(o->data, &rng, a, n);
        draw_points(o->data, &rng, b, n);
        tg_normal_fill(&rng, g, DIM * n);
        if ((s = tg_energy_distance(samples, n, a, n, DIM, &dm)) == TG_OK &&
            (s = tg_energy_distance(b, n, a, n, DIM, &df)) == TG_OK &&
            (s = tg_energy_distance(g, n, a, n, DIM, &dn)) == TG_OK) {
            tally_add(&mod, dm);
            tally_add(&floor_, df);
            tally_add(&normal, dn);
        }
    }
    if (s == TG_OK) {
        printf("energy distance to %zu fresh data points (mean +- s.e. over %d draws):\n", n,
               DRAWS);
        printf("  model samples   %.5f +- %.5f  (%.2fx the floor)\n", tally_mean(&mod),
               tally_se(&mod), tally_mean(&mod) / tally_mean(&floor_));
        printf("  data vs data    %.5f +- %.5f  (the floor: two independent data draws)\n",
               tally_mean(&floor_), tally_se(&floor_));
        printf("  N(0, I) points  %.5f +- %.5f  (the untrained baseline)\n", tally_mean(&normal),
               tally_se(&normal));
    }
    free(a);
    free(b);
    free(g);
    return s;
}

int main(int argc, char **argv)
{
    options o;
    model m;
    trainer tr;
    tg_ddpm_schedule sched = { 0 };
    tg_tape *tape = NULL;
    double *loss_log = NULL, t0 = ex_seconds(), t_train;
    uint64_t first = 0;
    float *samples = NULL;
    tg_status s;
    int rc = 0;
    const int p = parse(argc, argv, &o);
    if (p != 0) {
        usage(p > 0 ? stdout : stderr);
        return p > 0 ? 0 : 2;
    }
    mkdir(o.out, 0777);   /* may exist already; a failure shows when writing */
    s = tg_set_num_threads(o.threads);
    if (s == TG_OK)
        s = o.cosine ? tg_ddpm_schedule_cosine(o.T, &sched)
                 : tg_ddpm_schedule_linear(o.T, 1e-4, 0.02, &sched);
    if (s == TG_OK)
        s = model_init(&m, &o);
    if (s == TG_OK)
        s = trainer_init(&tr, &m, &o);
    if (s == TG_OK && !(tape = tg_tape_new()))
        s = TG_ERR_NOMEM;
    if (s == TG_OK && o.resume && (s = tg_checkpoint_load(tr.ckpt, o.resume)) == TG_OK)
        printf("resumed from %s at step %llu\n", o.resume, (unsigned long long)tr.step);
    if (s != TG_OK)
        return fail("setup", s);
    printf("diffusion on %s: %zu-%zu-%zu-%zu-%d SiLU MLP (%zu parameters), T = %zu %s, "
           "batch %zu, %llu steps\n", DATASETS[o.data], (size_t)(DIM + EMB), o.hidden, o.hidden,
           o.hidden, DIM, tg_params_numel(m.params), o.T, o.cosine ? "cosine" : "linear", o.batch,
           (unsigned long long)o.train_steps);
    fflush(stdout);   /* before the progress lines on stderr */
    s = run(&o, tape, &m, &tr, &sched, &loss_log, &first);
    t_train = ex_seconds() - t0;
    if (s != TG_OK) {
        rc = fail("training", s);
    } else if (o.stop_after && tr.step < o.train_steps) {
        printf("stopped after step %llu (%.1f s)\n", (unsigned long long)tr.step, t_train);
    } else {
        if (tr.step > first) {
            const uint64_t n = tr.step - first, k = n < 100 ? n : 100;
            double head = 0.0, tail = 0.0;
            for (uint64_t i = 0; i < k; i++) {
                head += loss_log[i];
                tail += loss_log[n - k + i];
            }
            printf("trained to step %llu in %.1f s; loss %.4f -> %.4f (means of the first and "
                   "last %llu steps)\n", (unsigned long long)tr.step, t_train, head / (double)k,
                   tail / (double)k, (unsigned long long)k);
        }
        samples = malloc(sizeof(float) * DIM * o.samples);
        s = samples ? sample(&m, &sched, &o, tape, samples, o.samples) : TG_ERR_NOMEM;
        if (s != TG_OK) {
            rc = fail("sampling", s);
        } else {
            float *data = malloc(sizeof(float) * DIM * o.samples);
            tg_pcg32 rng;
            tg_pcg32_seed(&rng, o.seed, STREAM_EVAL);
            printf("sampled %zu points with %s (%zu steps) in %.1f s\n", o.samples,
                   o.ddim ? "DDIM" : "DDPM", o.ddim ? o.sample_steps : o.T,
                   ex_seconds() - t0 - t_train);
            if (report_quality(&o, samples) != TG_OK)
                rc = fail("energy distance", tg_last_status());
            if (data) {
                draw_points(o.data, &rng, data, o.samples);
                const svg_panel panels[2] = {
                    { "data", data, o.samples, "#1f77b4", DATASETS[o.data] },
                    { "samples", samples, o.samples, "#d62728", o.ddim ? "DDIM samples" : "DDPM samples" },
                };
                if (svg_scatter(out_path(&o, "samples.svg"), panels, 2) != 0)
                    rc = 1, fprintf(stderr, "diffusion: cannot write %s\n", out_path(&o, "samples.svg"));
            }
            free(data);
            if (write_csv(out_path(&o, "samples.csv"), samples, o.samples) != 0)
                rc = 1, fprintf(stderr, "diffusion: cannot write %s\n", out_path(&o, "samples.csv"));
            if (tr.step > first && write_loss_plot(out_path(&o, "loss.svg"), loss_log, first,
                                                   tr.step - first) != 0)
                rc = 1, fprintf(stderr, "diffusion: cannot write %s\n", out_path(&o, "loss.svg"));
            printf("wrote %s/samples.csv, samples.svg, loss.svg; total %.1f s\n", o.out,
                   ex_seconds() - t0);
        }
    }
    free(samples);
    free(loss_log);
    tg_checkpoint_free(tr.ckpt);
    tg_optim_free(tr.opt);
    tg_tape_free(tape);
    model_free(&m);
    tg_ddpm_schedule_free(&sched);
    return rc;
}
