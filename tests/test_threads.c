/* Threads: the setting, the pool behind tg__parallel_for, and matrix products split over
 * it: bit-identical to one thread, safe from several user threads at once, no
 * allocation per call, clean failure when the pool cannot be made, usable after fork. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <tapegrad.h>
#include "testutil.h"
#include "../src/core/internal.h"
#include "../src/kernels/gemm.h"
#include "../src/kernels/threads.h"

/* Tests that could deadlock if the pool were wrong end by SIGALRM (a crash Criterion
 * reports) rather than hang; generous for valgrind. (Criterion's own .timeout leaks in
 * its runner when two such tests run in parallel.) */
#define WATCHDOG 600

Test(threads, default_is_one_and_setting_round_trips)
{
    cr_assert_eq(tg_get_num_threads(), 1u);
    cr_assert_eq(tg_set_num_threads(3), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_get_num_threads(), 3u);
    cr_assert_eq(tg_set_num_threads(3), TG_OK);
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    cr_assert_eq(tg_get_num_threads(), 2u);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
    cr_assert_eq(tg_get_num_threads(), 1u);
}

Test(threads, zero_means_one_per_processor)
{
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    cr_assert_eq(tg_set_num_threads(0), TG_OK, "%s", tg_last_error());
    cr_assert_eq(tg_get_num_threads(), online > 0 ? (size_t)online : 1u);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

Test(threads, too_many_refused_with_message)
{
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    cr_assert_eq(tg_set_num_threads(TG_MAX_THREADS + 1), TG_ERR_PARAM);
    cr_assert_eq(tg_last_status(), TG_ERR_PARAM);
    cr_assert_not_null(strstr(tg_last_error(), "tg_set_num_threads"), "%s", tg_last_error());
    cr_assert_not_null(strstr(tg_last_error(), "257"), "%s", tg_last_error());
    cr_assert_eq(tg_get_num_threads(), 2u, "a refused setting changes nothing");
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

#ifdef TG_HAVE_CBLAS
int openblas_get_num_threads(void);   /* cblas.h's, without its include path */

/* OpenBLAS runs on the library's count from the first setting on, whether it changes
 * the count or not (OpenBLAS's own default is every processor). */
Test(threads, openblas_follows_the_setting)
{
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
    cr_assert_eq(openblas_get_num_threads(), 1);
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    cr_assert_eq(openblas_get_num_threads(), 2);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
    cr_assert_eq(openblas_get_num_threads(), 1);
}
#endif

/* --- tg__parallel_for --- */

typedef struct {
    _Atomic unsigned hits[1000];
    _Atomic size_t calls;
    size_t grain;
    int bad;   /* a range that does not start on a grain, or is empty */
} cover;

static void mark(size_t b, size_t e, void *ctx)
{
    cover *c = ctx;
    atomic_fetch_add(&c->calls, 1);
    if (b >= e || b % c->grain != 0)
        c->bad = 1;
    for (size_t i = b; i < e; i++)
        atomic_fetch_add(&c->hits[i], 1);
}

Test(threads, parallel_for_covers_every_index_once)
{
    static const size_t threads[] = { 1, 2, 3, 7 };
    static const size_t lens[] = { 0, 1, 2, 5, 64, 999, 1000 };
    static const size_t grains[] = { 1, 3, 64, 1000, 0 };
    for (size_t t = 0; t < 4; t++) {
        cr_assert_eq(tg_set_num_threads(threads[t]), TG_OK);
        for (size_t l = 0; l < 7; l++)
            for (size_t g = 0; g < 5; g++) {
                static cover c;
                memset(&c, 0, sizeof c);
                c.grain = grains[g] ? grains[g] : 1;
                tg__parallel_for(lens[l], grains[g], mark, &c);
                for (size_t i = 0; i < lens[l]; i++)
                    cr_assert_eq(c.hits[i], 1u, "threads %zu n %zu grain %zu: index %zu run %u "
                                 "times", threads[t], lens[l], grains[g], i, c.hits[i]);
                cr_assert(!c.bad, "a range was empty or did not start on a grain");
                cr_assert_leq(c.calls, lens[l] / c.grain + 1, "more ranges than grains");
                if (lens[l] == 0)
                    cr_assert_eq(c.calls, 0u);
            }
    }
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

typedef struct {
    _Atomic unsigned hits[64];
    _Atomic int inner_parallel;   /* an inner region that got more than one range */
} nest;

static void inner(size_t b, size_t e, void *ctx)
{
    nest *n = ctx;
    if (b != 0 || e != 16)
        atomic_store(&n->inner_parallel, 1);
}

static void outer(size_t b, size_t e, void *ctx)
{
    nest *n = ctx;
    for (size_t i = b; i < e; i++) {
        atomic_fetch_add(&n->hits[i], 1);
        tg__parallel_for(16, 1, inner, n);   /* must run serially, not deadlock */
    }
}

Test(threads, nested_regions_run_serially)
{
    static nest n;
    alarm(WATCHDOG);
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    tg__parallel_for(64, 1, outer, &n);
    for (size_t i = 0; i < 64; i++)
        cr_assert_eq(n.hits[i], 1u);
    cr_assert(!n.inner_parallel);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

/* --- products over the pool --- */

/* A region whose ranges run products (as a batched kernel would): the inner products
 * find the pool busy and run on their own thread, with the same bits as outside; in
 * BLAS builds the first OpenBLAS call of the process happens in there too. */
enum { IN_N = 160, IN_RANGES = 4 };

typedef struct {
    const float *A, *B;
    float *C[IN_RANGES], *D[IN_RANGES];   /* dispatched, and OpenBLAS (when built in) */
} inner_products;

static void run_products(size_t b, size_t e, void *ctx)
{
    inner_products *ip = ctx;
    for (size_t i = b; i < e; i++) {
        tg__gemm(0, 1, IN_N, IN_N, IN_N, 1.0f, ip->A, IN_N, ip->B, IN_N, 0.0f, ip->C[i], IN_N);
        tg__gemm_on(TG__GEMM_BLAS, 0, 1, IN_N, IN_N, IN_N, 1.0f, ip->A, IN_N, ip->B, IN_N,
                    0.0f, ip->D[i], IN_N);
    }
}

static float *filled(size_t n, uint64_t seed);

Test(threads, products_inside_a_region_run_serially)
{
    static inner_products ip;
    const size_t bytes = IN_N * IN_N * sizeof(float);
    float *A = filled(IN_N * IN_N, 1), *B = filled(IN_N * IN_N, 2);
    float *C = filled(IN_N * IN_N, 3), *D = filled(IN_N * IN_N, 3);
    alarm(WATCHDOG);
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    ip.A = A;
    ip.B = B;
    for (size_t i = 0; i < IN_RANGES; i++) {
        ip.C[i] = filled(IN_N * IN_N, 4);
        ip.D[i] = filled(IN_N * IN_N, 4);
    }
    tg__parallel_for(IN_RANGES, 1, run_products, &ip);
    tg__gemm(0, 1, IN_N, IN_N, IN_N, 1.0f, A, IN_N, B, IN_N, 0.0f, C, IN_N);
    tg__gemm_on(TG__GEMM_BLAS, 0, 1, IN_N, IN_N, IN_N, 1.0f, A, IN_N, B, IN_N, 0.0f, D, IN_N);
    for (size_t i = 0; i < IN_RANGES; i++) {
        cr_assert_eq(memcmp(ip.C[i], C, bytes), 0, "range %zu: product differs", i);
        cr_assert_eq(memcmp(ip.D[i], D, bytes), 0, "range %zu: OpenBLAS product differs", i);
        free(ip.C[i]);
        free(ip.D[i]);
    }
    free(A);
    free(B);
    free(C);
    free(D);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

typedef struct {
    int ta, tb;
    size_t M, N, K;
} shape;

/* Shapes that split over the pool (at least 2^21 flops): each transpose combination,
 * the dot kernel's (A B^T with at most 64 rows, or 2 columns), tiles of C^T (A^T B with
 * 2 columns), odd edges. */
static const shape split[] = {
    { 0, 0, 200, 160, 130 }, { 0, 1, 256, 128, 128 }, { 1, 0, 128, 128, 256 },
    { 0, 1, 64, 200, 300 },  { 0, 0, 64, 300, 200 },  { 1, 0, 200, 300, 64 },
    { 0, 1, 61, 257, 300 },  { 1, 1, 131, 77, 301 },  { 0, 0, 300, 19, 263 },
    { 0, 1, 255, 2, 500 },   { 1, 0, 300, 2, 257 },
};
#define N_SPLIT (sizeof split / sizeof split[0])

static float *filled(size_t n, uint64_t seed)
{
    tg_pcg32 rng;
    float *v = malloc(n * sizeof *v);
    cr_assert_not_null(v);
    tg_pcg32_seed(&rng, seed, 5);
    for (size_t i = 0; i < n; i++)
        v[i] = tu_draw(&rng);
    return v;
}

/* C = 0.75 A B + 0.5 C0 on a path for shape s; caller frees. */
static float *product(tg__gemm_path path, const shape *s, uint64_t seed)
{
    float *A = filled(s->M * s->K, seed), *B = filled(s->K * s->N, seed + 1),
          *C = filled(s->M * s->N, seed + 2);
    tg__gemm_on(path, s->ta, s->tb, s->M, s->N, s->K, 0.75f, A, s->ta ? s->M : s->K, B,
                s->tb ? s->K : s->N, 0.5f, C, s->N);
    free(A);
    free(B);
    return C;
}

Test(threads, products_bit_identical_for_every_thread_count)
{
    static const size_t counts[] = { 2, 3, 4 };
    for (int path = TG__GEMM_PORTABLE; path <= TG__GEMM_AVX512; path++) {
        if (!tg__gemm_path_available((tg__gemm_path)path))
            continue;
        for (size_t s = 0; s < N_SPLIT; s++) {
            float *one;
            cr_assert_eq(tg_set_num_threads(1), TG_OK);
            one = product((tg__gemm_path)path, &split[s], s);
            for (size_t c = 0; c < 3; c++) {
                float *many;
                cr_assert_eq(tg_set_num_threads(counts[c]), TG_OK);
                many = product((tg__gemm_path)path, &split[s], s);
                cr_assert_eq(memcmp(one, many, split[s].M * split[s].N * sizeof *one), 0,
                             "%s %zux%zux%zu: %zu threads differ from one",
                             tg__gemm_path_name((tg__gemm_path)path), split[s].M, split[s].N,
                             split[s].K, counts[c]);
                free(many);
            }
            free(one);
        }
    }
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

/* Several user threads run products at once while the pool exists (one gets it, the
 * others run on their own), and one thread keeps changing the setting: every result is
 * bit-identical to the product computed alone. */
enum { USERS = 3, ROUNDS = 5 };
static float *alone[N_SPLIT];
static _Atomic int stop_changing;

typedef struct {
    size_t id;
    int ok;
} user;

static void *user_main(void *arg)
{
    user *u = arg;
    u->ok = 1;
    for (size_t r = 0; r < ROUNDS; r++) {
        const size_t s = (u->id + r) % N_SPLIT;
        float *C = product(tg__gemm_builtin_path(), &split[s], s);
        if (memcmp(C, alone[s], split[s].M * split[s].N * sizeof *C) != 0)
            u->ok = 0;
        free(C);
    }
    return NULL;
}

static void *changer_main(void *arg)
{
    size_t n = 1;
    (void)arg;
    while (!atomic_load(&stop_changing)) {
        n = n % 3 + 1;
        if (tg_set_num_threads(n) != TG_OK)
            return (void *)1;
    }
    return NULL;
}

Test(threads, concurrent_products_and_setting_changes_are_safe)
{
    pthread_t th[USERS], changer;
    user u[USERS];
    void *ret;
    alarm(WATCHDOG);
    for (size_t s = 0; s < N_SPLIT; s++)
        alone[s] = product(tg__gemm_builtin_path(), &split[s], s);
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    /* first with a fixed pool, then with the setting changing underneath */
    for (int phase = 0; phase < 2; phase++) {
        if (phase == 1)
            cr_assert_eq(pthread_create(&changer, NULL, changer_main, NULL), 0);
        for (size_t k = 0; k < USERS; k++) {
            u[k] = (user){ k, 0 };
            cr_assert_eq(pthread_create(&th[k], NULL, user_main, &u[k]), 0);
        }
        for (size_t k = 0; k < USERS; k++) {
            pthread_join(th[k], NULL);
            cr_assert(u[k].ok, "phase %d: user thread %zu got a different product", phase, k);
        }
        if (phase == 1) {
            atomic_store(&stop_changing, 1);
            pthread_join(changer, &ret);
            cr_assert_null(ret, "tg_set_num_threads failed: %s", tg_last_error());
        }
    }
    for (size_t s = 0; s < N_SPLIT; s++)
        free(alone[s]);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}

/* --- memory --- */

typedef struct {
    _Atomic size_t calls;
    _Atomic long live;
    size_t fail_at;
} counter;

static void *count_alloc(size_t n, void *ctx)
{
    counter *c = ctx;
    if (atomic_fetch_add(&c->calls, 1) + 1 == c->fail_at)
        return NULL;
    atomic_fetch_add(&c->live, 1);
    return malloc(n);
}

static void count_free(void *p, void *ctx)
{
    counter *c = ctx;
    atomic_fetch_sub(&c->live, 1);
    free(p);
}

Test(threads, products_allocate_nothing)
{
    static counter c;
    static const size_t ns[] = { 1, 2, 37, 200 };   /* dot, C^T tiles, packing, the pool */
    const tg_allocator hook = { count_alloc, count_free, &c };
    float *A = filled(200 * 200, 1), *B = filled(200 * 200, 2), *C = filled(200 * 200, 3);
    tg_set_allocator(&hook);
    for (size_t threads = 1; threads <= 2; threads++) {
        size_t before;
        cr_assert_eq(tg_set_num_threads(threads), TG_OK);
        before = atomic_load(&c.calls);
        for (int t = 0; t < 4; t++)
            for (size_t i = 0; i < 4; i++) {
                const size_t n = ns[i];
                tg__gemm(t >> 1, t & 1, n, 200, n, 1.0f, A, 200, B, 200, 1.0f, C, 200);
                tg__gemm(t >> 1, t & 1, 200, n, 200, 1.0f, A, 200, B, 200, 0.0f, C, 200);
            }
        cr_assert_eq(atomic_load(&c.calls), before, "%zu allocations in products on %zu threads",
                     atomic_load(&c.calls) - before, threads);
    }
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
    cr_assert_eq(atomic_load(&c.live), 0, "the pool leaked %ld blocks", atomic_load(&c.live));
    tg_set_allocator(NULL);
    free(A);
    free(B);
    free(C);
}

Test(threads, pool_allocation_failure_is_clean)
{
    static counter c;
    const tg_allocator hook = { count_alloc, count_free, &c };
    size_t total;
    tg_set_allocator(&hook);
    cr_assert_eq(tg_set_num_threads(4), TG_OK);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
    total = atomic_load(&c.calls);
    cr_assert_gt(total, 0u);
    cr_assert_eq(atomic_load(&c.live), 0);
    for (size_t n = 1; n <= total; n++) {
        atomic_store(&c.calls, 0);
        c.fail_at = n;
        cr_assert_eq(tg_set_num_threads(4), TG_ERR_NOMEM, "allocation %zu refused", n);
        cr_assert_not_null(strstr(tg_last_error(), "tg_set_num_threads"), "%s",
                           tg_last_error());
        cr_assert_eq(tg_get_num_threads(), 1u, "a failed setting changes nothing");
        cr_assert_eq(atomic_load(&c.live), 0, "allocation %zu refused: %ld blocks leaked", n,
                     atomic_load(&c.live));
    }
    c.fail_at = 0;
    tg_set_allocator(NULL);
}

/* A child forked while the pool exists has no workers; its products run on its one
 * thread, give the same result, and it can make a pool of its own. */
Test(threads, fork_child_runs_products)
{
    const shape *s = &split[0];
    float *want;
    pid_t pid;
    int status = 0;
    alarm(WATCHDOG);
    cr_assert_eq(tg_set_num_threads(2), TG_OK);
    want = product(tg__gemm_builtin_path(), s, 9);
    pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        float *got = product(tg__gemm_builtin_path(), s, 9);
        int bad = memcmp(got, want, s->M * s->N * sizeof *got) != 0;
        bad |= tg_get_num_threads() != 1;
        bad |= tg_set_num_threads(2) != TG_OK;
        free(got);
        got = product(tg__gemm_builtin_path(), s, 9);
        bad |= memcmp(got, want, s->M * s->N * sizeof *got) != 0;
        bad |= tg_set_num_threads(1) != TG_OK;
        free(got);
        free(want);
        _exit(bad);
    }
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %d)",
              status);
    free(want);
    cr_assert_eq(tg_set_num_threads(1), TG_OK);
}
