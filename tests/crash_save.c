/* Crash safety of tg_checkpoint_save under SIGKILL (run by .ci/crash.sh).
 *
 *   crash_save DIR [ROUNDS [SECONDS [SEED]]]     (defaults 300, 50, 1)
 *   crash_save --direct DIR [ROUNDS ...]         the control: an in-place writer
 *
 * A child saves checkpoints of a ~1 MB model to DIR/run.ckpt in a loop, generation
 * g = base, base + 1, ...: every float and the counter "generation" are a function of g
 * alone. The parent kills it with SIGKILL after a PCG32-drawn delay (0 to 3 times the
 * measured duration of one save, so most kills land inside a save), then loads the file
 * and checks that it is exactly one of the complete checkpoints ever written: it loads
 * without error, holds generation g with g the file's previous generation or one this
 * child started, and every byte equals what generation g wrote. Stale
 * "run.ckpt.tmp.<pid>" files of killed saves stay in DIR (removed every 25 rounds to
 * bound the disk used) and must not matter.
 *
 * --direct replaces the library's save with a plain in-place write of the same bytes,
 * in 64 KiB pieces: torn files must then be detected, which shows the checker can fail.
 * Exit status: 0 when every round passed (or, with --direct, when a torn file was
 * caught), 1 otherwise. Stops after ROUNDS kills or SECONDS seconds. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <tapegrad.h>

enum { ROWS = 500, COLS = 512, ROUND_GENS = 1000000 };   /* 256,000 + 500 floats: ~1 MB */

typedef struct {
    tg_params *ps;
    uint64_t generation;
    tg_pcg32 rng;
    tg_checkpoint *c;
} model;

static int model_new(model *m)
{
    memset(m, 0, sizeof *m);
    m->ps = tg_params_new();
    m->c = tg_checkpoint_new();
    return m->ps && m->c && tg_params_add(m->ps, "big.weight", 2, (size_t[]){ ROWS, COLS }) &&
           tg_params_add(m->ps, "big.bias", 1, (size_t[]){ ROWS }) &&
           tg_checkpoint_add_params(m->c, "", m->ps) == TG_OK &&
           tg_checkpoint_add_u64(m->c, "generation", &m->generation) == TG_OK &&
           tg_checkpoint_add_rng(m->c, "rng", &m->rng) == TG_OK &&
           tg_checkpoint_add_tag(m->c, "rows", ROWS) == TG_OK;
}

static void model_free(model *m)
{
    tg_checkpoint_free(m->c);
    tg_params_free(m->ps);
}

/* The content of generation g. */
static void fill(model *m, uint64_t g)
{
    tg_pcg32 r;
    tg_pcg32_seed(&r, g, 54);
    for (size_t i = 0; i < tg_params_count(m->ps); i++) {
        tg_tensor *t = tg_params_at(m->ps, i);
        for (size_t k = 0; k < t->size; k++)
            t->data[k] = tg_pcg32_float(&r) - 0.5f;
    }
    m->generation = g;
    tg_pcg32_seed(&m->rng, g, g + 1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_for(double seconds)
{
    struct timespec ts;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The control: the same bytes written in place, no temporary, no rename. */
static int save_direct(model *m, const char *stage, const char *path)
{
    FILE *f;
    unsigned char *buf;
    long n;
    int fd, ok;
    if (tg_checkpoint_save(m->c, stage) != TG_OK || !(f = fopen(stage, "rb")))
        return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n);
    ok = buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    fd = ok ? open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666) : -1;
    for (long off = 0; fd >= 0 && off < n; off += 65536) {
        const size_t piece = (size_t)(n - off < 65536 ? n - off : 65536);
        ok = ok && write(fd, buf + off, piece) == (ssize_t)piece;
    }
    if (fd >= 0)
        close(fd);
    free(buf);
    return ok && fd >= 0;
}

/* The child: saves generations base, base + 1, ... until it is killed. */
static void child(model *m, const char *path, const char *stage, uint64_t base, int direct)
{
    alarm(120);   /* a safety net should the parent die without killing it */
    for (uint64_t g = base; g < base + ROUND_GENS; g++) {
        fill(m, g);
        if (direct ? !save_direct(m, stage, path) : tg_checkpoint_save(m->c, path) != TG_OK) {
            fprintf(stderr, "crash_save: child: save of generation %llu failed: %s\n",
                    (unsigned long long)g, tg_last_error());
            _exit(3);
        }
    }
    _exit(0);
}

/* Stale temporaries in dir (their count), removing them when `remove_them`. */
static size_t stale_files(const char *dir, int remove_them)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[4200];
    size_t n = 0;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            n++;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (remove_them)
                unlink(p);
        }
    if (d)
        closedir(d);
    return n;
}

/* Loads path into `got` and checks it is a complete generation allowed here. */
static int check_file(model *got, model *want, const char *path, uint64_t prev, uint64_t base,
                      uint64_t *gen, size_t round)
{
    const size_t bytes = tg_params_flat_size(got->ps) * sizeof(float);
    tg_status s = tg_checkpoint_load(got->c, path);
    if (s != TG_OK) {
        fprintf(stderr, "crash_save: round %zu: the file does not load: %s\n", round,
                tg_last_error());
        return 0;
    }
    *gen = got->generation;
    if (*gen != prev && (*gen < base || *gen >= base + ROUND_GENS)) {
        fprintf(stderr, "crash_save: round %zu: generation %llu was never written (previous "
                "%llu, this child from %llu)\n", round, (unsigned long long)*gen,
                (unsigned long long)prev, (unsigned long long)base);
        return 0;
    }
    fill(want, *gen);
    if (memcmp(tg_params_data(got->ps), tg_params_data(want->ps), bytes) != 0 ||
        got->rng.state != want->rng.state || got->rng.inc != want->rng.inc) {
        fprintf(stderr, "crash_save: round %zu: generation %llu loads with other contents\n",
                round, (unsigned long long)*gen);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv)
{
    const int direct = argc > 1 && strcmp(argv[1], "--direct") == 0;
    const char *dir;
    size_t rounds, done = 0, newer = 0, stale = 0;
    double limit, t0, save_time;
    uint64_t prev = 0;
    char path[4096], stage[4096];
    tg_pcg32 delays;
    model m, got, want;
    int ok = 1, torn = 0;
    argv += direct;
    argc -= direct;
    if (argc < 2) {
        fprintf(stderr, "usage: crash_save [--direct] DIR [ROUNDS [SECONDS [SEED]]]\n");
        return 2;
    }
    dir = argv[1];
    rounds = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 300;
    limit = argc > 3 ? strtod(argv[3], NULL) : 50.0;
    tg_pcg32_seed(&delays, argc > 4 ? strtoull(argv[4], NULL, 10) : 1, 2024);
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    snprintf(stage, sizeof stage, "%s/stage.ckpt", dir);
    if (!model_new(&m) || !model_new(&got) || !model_new(&want)) {
        fprintf(stderr, "crash_save: %s\n", tg_last_error());
        return 1;
    }
    /* generation 0 exists before the first child; time a few saves to scale the delays */
    t0 = now();
    for (int i = 0; i < 3; i++) {
        fill(&m, 0);
        if (tg_checkpoint_save(m.c, path) != TG_OK) {
            fprintf(stderr, "crash_save: %s\n", tg_last_error());
            return 1;
        }
    }
    save_time = (now() - t0) / 3;
    printf("crash_save: %s writer, %zu floats (%zu bytes a file), one save %.2f ms\n",
           direct ? "in-place (control)" : "tg_checkpoint_save", tg_params_numel(m.ps),
           tg_params_numel(m.ps) * sizeof(float), 1e3 * save_time);

    t0 = now();
    while (done < rounds && now() - t0 < limit) {
        const uint64_t base = (uint64_t)(done + 1) * ROUND_GENS;
        uint64_t gen;
        int status;
        const pid_t pid = fork();
        if (pid < 0) {
            perror("crash_save: fork");
            return 1;
        }
        if (pid == 0)
            child(&m, path, stage, base, direct);
        sleep_for(3.0 * save_time * tg_pcg32_double(&delays));
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
            fprintf(stderr, "crash_save: the child failed before it was killed\n");
            return 1;
        }
        done++;
        if (!check_file(&got, &want, path, prev, base, &gen, done)) {
            ok = 0;
            torn++;
            if (direct)
                break;
            continue;
        }
        newer += gen != prev;
        prev = gen;
        stale += stale_files(dir, 0) > 0;
        if (done % 25 == 0)
            stale_files(dir, 1);
    }
    stale_files(dir, 1);
    unlink(stage);
    printf("crash_save: %zu kills in %.1f s, %d torn files; after a kill the file held a "
           "newer generation %zu times, the previous one %zu times; a stale temporary was "
           "present after %zu kills\n", done, now() - t0, torn, newer, done - newer - torn,
           stale);
    model_free(&m);
    model_free(&got);
    model_free(&want);
    if (direct) {
        printf("crash_save: control: %s\n", torn ? "the in-place writer left a torn file, "
               "and it was caught" : "no torn file seen (the control did not bite)");
        return torn ? 0 : 1;
    }
    if (done < 50) {
        fprintf(stderr, "crash_save: only %zu kills in %.0f s: too few to mean anything\n",
                done, limit);
        return 1;
    }
    return ok ? 0 : 1;
}
