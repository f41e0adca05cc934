/* A stress program for ThreadSanitizer (.ci/tsan.sh builds it and the library with
 * clang -fsanitize=thread): trainer threads train small models, each on its own tape,
 * while registrar threads register rules and a reader thread looks rules up and
 * enumerates the registry, all at once. Besides TSan's verdict it checks that every
 * trainer ends with exactly the loss a lone run gives (threads do not disturb each
 * other's numbers), that every registration succeeds and is found, and that each
 * thread's last error message stays its own. Then two trainers run on the thread pool
 * (products, activation kernels and optimizer updates split) while the thread count
 * changes, and must end with the bits of one thread.
 *
 *     tsan_stress [steps]       (default 600) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tapegrad.h>

enum { TRAINERS = 3, REGISTRARS = 2, PER_REGISTRAR = 48, BATCH = 16, HID = 8 };

static int steps = 600;

/* ---- the rules the registrars add: softsign, under many names ---------------------- */

static tg_status softsign_forward(tg_node *n)
{
    for (size_t i = 0; i < n->out->size; i++)
        n->out->data[i] = n->in[0]->data[i] / (1.0f + fabsf(n->in[0]->data[i]));
    return TG_OK;
}

static tg_status softsign_backward(tg_node *n)
{
    if (n->in[0]->grad)
        for (size_t i = 0; i < n->out->size; i++) {
            const float d = 1.0f + fabsf(n->in[0]->data[i]);
            n->in[0]->grad[i] += n->out->grad[i] / (d * d);
        }
    return TG_OK;
}

/* Names and structs are filled in before any thread starts and never change after:
 * the registry keeps pointers to them. */
static char names[REGISTRARS][PER_REGISTRAR][32];
static tg_rule rules[REGISTRARS][PER_REGISTRAR];

static void make_rules(void)
{
    for (int r = 0; r < REGISTRARS; r++)
        for (int i = 0; i < PER_REGISTRAR; i++) {
            snprintf(names[r][i], sizeof names[r][i], "stress_softsign_%d_%d", r, i);
            rules[r][i] = (tg_rule){ .name = names[r][i], .arity = 1,
                                     .infer = tg_infer_same_shape,
                                     .forward = softsign_forward,
                                     .backward = softsign_backward };
        }
}

/* ---- a trainer: a 2-8-1 MLP by SGD on its own data, with its own tape -------------- */

typedef struct {
    unsigned id;
    int use_user_rule;   /* the hidden activation: tanh, or a registrar's softsign */
    float final_loss;
    int failed;
} trainer;

static void fail(trainer *tr, const char *what)
{
    fprintf(stderr, "trainer %u: %s: %s\n", tr->id, what, tg_last_error());
    tr->failed = 1;
}

/* The activation: tanh, or (once registrar 0 has added it) its first softsign. The
 * lookup goes through the registry on every step, as a program finding rules by name
 * would, while registrars write to it. */
static tg_tensor *activation(tg_tape *t, tg_tensor *x, int user)
{
    const tg_rule *r = user ? tg_rule_find(names[0][0]) : NULL;
    return r ? tg_apply(t, r, &x, 1, NULL) : tg_tanh(t, x);
}

static void *train(void *arg)
{
    trainer *tr = arg;
    const size_t xs[2] = { BATCH, 2 }, ys[2] = { BATCH, 1 }, w1[2] = { HID, 2 },
                 b1[1] = { HID }, w2[2] = { 1, HID }, b2[1] = { 1 };
    tg_pcg32 rng;
    tg_tape *t = tg_tape_new();
    tg_tensor *W1 = tg_tensor_new(TG_PARAM, 2, w1), *B1 = tg_tensor_new(TG_PARAM, 1, b1);
    tg_tensor *W2 = tg_tensor_new(TG_PARAM, 2, w2), *B2 = tg_tensor_new(TG_PARAM, 1, b2);
    tg_tensor *p[4] = { W1, B1, W2, B2 };
    if (!t || !W1 || !B1 || !W2 || !B2) {
        fail(tr, "set-up");
        return NULL;
    }
    tg_pcg32_seed(&rng, tr->id, 77);
    for (int k = 0; k < 4; k++)
        for (size_t i = 0; i < p[k]->size; i++)
            p[k]->data[i] = tg_pcg32_float(&rng) - 0.5f;
    tg_tape_set_anomaly(t, tr->id == 1);   /* one trainer checks every value */
    for (int s = 0; s < steps && !tr->failed; s++) {
        tg_tensor *x = tg_tape_const(t, 2, xs), *y = tg_tape_const(t, 2, ys), *loss;
        char mine[64];
        if (!x || !y) {
            fail(tr, "batch");
            break;
        }
        for (size_t i = 0; i < BATCH; i++) {
            x->data[2 * i] = 2.0f * tg_pcg32_float(&rng) - 1.0f;
            x->data[2 * i + 1] = 2.0f * tg_pcg32_float(&rng) - 1.0f;
            y->data[i] = x->data[2 * i] * x->data[2 * i + 1];
        }
        loss = tg_mse_loss(t, tg_linear(t, activation(t, tg_linear(t, x, W1, B1),
                                                      tr->use_user_rule), W2, B2), y);
        if (!loss || tg_backward(t, loss, NULL) != TG_OK) {
            fail(tr, "step");
            break;
        }
        tr->final_loss = loss->data[0];
        for (int k = 0; k < 4; k++) {
            for (size_t i = 0; i < p[k]->size; i++)
                p[k]->data[i] -= 0.2f * p[k]->grad[i];
            tg_zero_grad(p[k]);
        }
        tg_tape_reset(t);
        /* this thread's last error is its own, whatever the others fail at */
        snprintf(mine, sizeof mine, "no_rule_from_trainer_%u", tr->id);
        if (tg_rule_find(mine) || !strstr(tg_last_error(), mine))
            fail(tr, "thread-local error");
    }
    for (int k = 0; k < 4; k++)
        tg_tensor_free(p[k]);
    tg_tape_free(t);
    return NULL;
}

/* ---- registrars and a reader ----------------------------------------------------- */

typedef struct {
    int id;
    int failed;
} registrar;

static void *register_rules(void *arg)
{
    registrar *rg = arg;
    for (int i = 0; i < PER_REGISTRAR; i++) {
        const int other = (rg->id + 1) % REGISTRARS;
        if (tg_rule_register(&rules[rg->id][i]) != TG_OK) {
            fprintf(stderr, "registrar %d: %s\n", rg->id, tg_last_error());
            rg->failed = 1;
        }
        if (tg_rule_find(names[rg->id][i]) != &rules[rg->id][i]) {
            fprintf(stderr, "registrar %d: rule %d not found after registering\n", rg->id, i);
            rg->failed = 1;
        }
        (void)tg_rule_find(names[other][i]);   /* may or may not be there yet */
        for (int k = 0; k < 200; k++)   /* spread the registrations over the training */
            if (!tg_rule_find(k % 2 ? "linear" : "tanh")) {
                rg->failed = 1;
                break;
            }
        if (tg_rule_register(&rules[rg->id][i]) != TG_ERR_EXISTS) {   /* a second time */
            fprintf(stderr, "registrar %d: duplicate accepted\n", rg->id);
            rg->failed = 1;
        }
    }
    return NULL;
}

static int readers_stop;   /* set once by main, after the writers have joined */
static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;

static int stopped(void)
{
    int s;
    pthread_mutex_lock(&stop_lock);
    s = readers_stop;
    pthread_mutex_unlock(&stop_lock);
    return s;
}

static void *read_registry(void *arg)
{
    int *failed = arg;
    while (!stopped()) {
        const size_t n = tg_rule_count();
        for (size_t i = 0; i < n; i++) {
            const tg_rule *r = tg_rule_at(i);
            if (!r || tg_rule_find(r->name) != r) {
                fprintf(stderr, "reader: rule %zu: %s\n", i, tg_last_error());
                *failed = 1;
                return NULL;
            }
        }
        if (tg_rule_at(tg_rule_count() + 1000) != NULL) {
            *failed = 1;
            return NULL;
        }
    }
    return NULL;
}

/* ---- the thread pool: split kernels, while the setting changes --------------------
 * Two user threads train a 64-256-256-1 silu MLP with AdamW on batches of 128, each on
 * its own tape and parameter set: products, activation kernels and optimizer updates all
 * large enough to be split over the pool. Meanwhile main changes the thread count
 * between 2 and 3. Each run must end with the bits of the same run on one thread. */

enum { POOL_STEPS = 12, POOL_TRAINERS = 2 };

typedef struct {
    unsigned id;
    float final_loss;
    int failed;
} pool_trainer;

static void *train_pooled(void *arg)
{
    pool_trainer *pt = arg;
    const size_t sizes[4] = { 64, 256, 256, 1 }, xs[2] = { 128, 64 }, ys[2] = { 128, 1 };
    tg_params *ps = tg_params_new();
    tg_tape *t = tg_tape_new();
    tg_optim *o = NULL;
    tg_mlp mlp;
    tg_pcg32 rng;
    tg_pcg32_seed(&rng, 900 + pt->id, 5);
    if (ps && t &&
        tg_mlp_init(&mlp, ps, "m", sizes, 4, tg_rule_find("silu"), NULL, &rng) == TG_OK) {
        const tg_optim_config c = tg_optim_defaults(TG_ADAMW, 1e-3);
        o = tg_optim_new(ps, &c);
    }
    pt->failed = !o;
    for (int s = 0; s < POOL_STEPS && !pt->failed; s++) {
        tg_tensor *x = tg_tape_const(t, 2, xs), *y = tg_tape_const(t, 2, ys), *loss = NULL;
        if (x && y) {
            tg_normal_fill(&rng, x->data, x->size);
            tg_normal_fill(&rng, y->data, y->size);
            loss = tg_mse_loss(t, tg_mlp_forward(t, &mlp, x), y);
        }
        if (!loss || tg_backward(t, loss, NULL) != TG_OK || tg_optim_step(o) != TG_OK) {
            fprintf(stderr, "pooled trainer %u: %s\n", pt->id, tg_last_error());
            pt->failed = 1;
            break;
        }
        pt->final_loss = loss->data[0];
        tg_params_zero_grad(ps);
        tg_tape_reset(t);
    }
    tg_optim_free(o);
    tg_tape_free(t);
    tg_params_free(ps);
    return NULL;
}

static int pool_phase(void)
{
    pool_trainer alone[POOL_TRAINERS], tr[POOL_TRAINERS];
    pthread_t tt[POOL_TRAINERS];
    int failed = 0;
    for (unsigned i = 0; i < POOL_TRAINERS; i++) {   /* the reference, one thread */
        alone[i] = (pool_trainer){ .id = i };
        train_pooled(&alone[i]);
        failed |= alone[i].failed;
    }
    if (failed || tg_set_num_threads(2) != TG_OK)
        return 1;
    for (unsigned i = 0; i < POOL_TRAINERS; i++) {
        tr[i] = (pool_trainer){ .id = i };
        if (pthread_create(&tt[i], NULL, train_pooled, &tr[i]) != 0)
            return 1;
    }
    for (int k = 0; k < 6; k++)   /* the pool replaced under the trainers' feet */
        if (tg_set_num_threads(k % 2 ? 2 : 3) != TG_OK) {
            fprintf(stderr, "tg_set_num_threads: %s\n", tg_last_error());
            failed = 1;
        }
    for (unsigned i = 0; i < POOL_TRAINERS; i++) {
        pthread_join(tt[i], NULL);
        failed |= tr[i].failed;
        if (tr[i].final_loss != alone[i].final_loss) {
            fprintf(stderr, "pooled trainer %u: loss %.9g on one thread, %.9g on the pool\n",
                    i, (double)alone[i].final_loss, (double)tr[i].final_loss);
            failed = 1;
        }
        printf("pooled trainer %u: final loss %.6f\n", i, (double)tr[i].final_loss);
    }
    failed |= tg_set_num_threads(1) != TG_OK;
    printf("tsan_stress: %d pooled trainers x %d steps while the thread count changed: %s\n",
           POOL_TRAINERS, POOL_STEPS, failed ? "FAILED" : "ok");
    return failed;
}

/* ---- main ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    pthread_t tt[TRAINERS], rt[REGISTRARS], reader;
    trainer tr[TRAINERS], alone[TRAINERS];
    registrar rg[REGISTRARS];
    int reader_failed = 0, failed = 0;
    if (argc > 1)
        steps = atoi(argv[1]);
    if (steps < 1) {
        fprintf(stderr, "tsan_stress: steps must be positive\n");
        return 2;
    }
    make_rules();
    /* the reference: each trainer with tanh, alone, before any thread starts */
    for (unsigned i = 0; i < TRAINERS; i++) {
        alone[i] = (trainer){ .id = i };
        train(&alone[i]);
        if (alone[i].failed)
            return 1;
    }
    for (unsigned i = 0; i < TRAINERS; i++)
        tr[i] = (trainer){ .id = i, .use_user_rule = i == TRAINERS - 1 };
    for (int i = 0; i < REGISTRARS; i++)
        rg[i] = (registrar){ .id = i };
    if (pthread_create(&reader, NULL, read_registry, &reader_failed) != 0)
        return 1;
    for (unsigned i = 0; i < TRAINERS; i++)
        if (pthread_create(&tt[i], NULL, train, &tr[i]) != 0)
            return 1;
    for (int i = 0; i < REGISTRARS; i++)
        if (pthread_create(&rt[i], NULL, register_rules, &rg[i]) != 0)
            return 1;
    for (unsigned i = 0; i < TRAINERS; i++)
        pthread_join(tt[i], NULL);
    for (int i = 0; i < REGISTRARS; i++)
        pthread_join(rt[i], NULL);
    pthread_mutex_lock(&stop_lock);
    readers_stop = 1;
    pthread_mutex_unlock(&stop_lock);
    pthread_join(reader, NULL);
    for (unsigned i = 0; i < TRAINERS; i++) {
        failed |= tr[i].failed;
        /* tanh trainers must match their lone run bit for bit */
        if (!tr[i].use_user_rule && tr[i].final_loss != alone[i].final_loss) {
            fprintf(stderr, "trainer %u: loss %.9g alone, %.9g among threads\n", i,
                    (double)alone[i].final_loss, (double)tr[i].final_loss);
            failed = 1;
        }
        printf("trainer %u: final loss %.6f (%s)\n", i, (double)tr[i].final_loss,
               tr[i].use_user_rule ? "softsign once registered" : "tanh");
    }
    for (int i = 0; i < REGISTRARS; i++)
        failed |= rg[i].failed;
    failed |= reader_failed;
    if (tg_rule_count() < (size_t)(REGISTRARS * PER_REGISTRAR)) {
        fprintf(stderr, "only %zu rules registered\n", tg_rule_count());
        failed = 1;
    }
    printf("tsan_stress: %d trainers x %d steps, %d rules registered concurrently: %s\n",
           TRAINERS, steps, REGISTRARS * PER_REGISTRAR, failed ? "FAILED" : "ok");
    failed |= pool_phase();
    return failed;
}
