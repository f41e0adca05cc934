/* The thread-count setting and the pool of worker threads behind tg__parallel_for.
 *
 * State: the setting, and the pool that exists while it is above 1, guarded by one
 * mutex (`use`) that a parallel region holds for its duration and tg_set_num_threads
 * for the swap. A parallel region only try-locks it: a caller that finds the pool busy
 * (another user thread's product, or a nested region) runs its range itself.
 *
 * A region is cut into a few chunks per thread that the caller and the workers take
 * from a shared counter, so the caller never idles behind a worker the system has not
 * scheduled: it takes the chunks itself, and waits only for workers already inside.
 * Workers spin for TG__SPIN_NS after a job, then sleep on a condition variable. The
 * regions of a training step (its products, the activation kernels, the optimizer) come
 * tens to hundreds of microseconds apart, and a sleeping worker woken through the
 * kernel arrives too late to take a chunk of a product that lasts 20-100 us: with a 20 us
 * spin, two threads made bench_train's steps slower than one. The price is CPU time: an
 * idle worker burns up to TG__SPIN_NS after the last region before it sleeps (OpenMP
 * runtimes spin by default for the same reason). */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "gemm.h"
#include "threads.h"

/* How long a waiting thread spins before it sleeps, in nanoseconds. bench_train, two
 * threads against one on this project's 2-core machine: 1.63x on the 784-256-256-10 and
 * diffusion-predictor steps with 300 us, 0.77-0.79x with 20 us. */
#define TG__SPIN_NS 300000
/* Chunks per thread a region is cut into, so that a thread the system delays does not
 * hold the others up: whoever is free takes the next chunk. */
#define TG__CHUNKS_PER_THREAD 4

/* The pool's state word: the job's generation (high 32 bits), whether it is closed to
 * newcomers (bit 31) and how many workers are inside it (low 31 bits). One atomic word,
 * so that a worker joins a job only while it is open and the caller, once it has
 * closed it, waits for exactly the workers inside, never for one the system has not
 * yet woken. */
#define GEN(s) ((uint32_t)((s) >> 32))
#define CLOSED ((uint64_t)1 << 31)
#define ACTIVE(s) ((s) & (CLOSED - 1))

typedef struct pool pool;

typedef struct {
    pool *p;
    pthread_t thread;
} worker;

struct pool {
    size_t n;                     /* threads, the caller of a region included */
    worker *workers;              /* n - 1 of them */
    size_t started;               /* workers created so far */
    pthread_mutex_t m;
    pthread_cond_t go, done;
    _Atomic uint64_t state;
    _Atomic size_t next;          /* the open job's next chunk */
    _Atomic int quit;             /* read by workers at any time */
    /* the current job, written before its generation is published */
    void (*fn)(size_t, size_t, void *);
    void *ctx;
    size_t len, grain, chunks;
};

static pthread_mutex_t use = PTHREAD_MUTEX_INITIALIZER;
static pool *current;                 /* NULL while the setting is 1; guarded by use */
static pool *orphan;                  /* a pool inherited by a fork child: no workers */
static _Atomic size_t setting = 1;

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* A spin of TG__SPIN_NS: returns 0 once it is over. Checks the clock every 16 calls (a
 * pause lasts from a few to about 100 ns depending on the CPU). */
typedef struct {
    long long end;
    unsigned calls;
} spin;

static int spinning(spin *sp)
{
    if (sp->calls++ % 16 == 0) {
        const long long t = now_ns();
        if (sp->end == 0)
            sp->end = t + TG__SPIN_NS;
        else if (t >= sp->end)
            return 0;
    }
    relax();
    return 1;
}

/* Takes chunks of the current job until none is left. Chunk c is the c-th of `chunks`
 * near-equal runs of whole grains over [0, len). */
static void work(pool *p)
{
    const size_t grains = p->len / p->grain + (p->len % p->grain != 0);
    for (;;) {
        const size_t c = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        size_t b, e;
        if (c >= p->chunks)
            return;
        b = grains * c / p->chunks * p->grain;
        e = grains * (c + 1) / p->chunks * p->grain;
        if (e > p->len)
            e = p->len;
        if (b < e)
            p->fn(b, e, p->ctx);
    }
}

/* A state word whose generation differs from `seen`: spins a while, then sleeps. */
static uint64_t next_job(pool *p, uint32_t seen)
{
    uint64_t s;
    spin sp = { 0, 0 };
    do {
        s = atomic_load_explicit(&p->state, memory_order_acquire);
        if (GEN(s) != seen)
            return s;
    } while (spinning(&sp));
    pthread_mutex_lock(&p->m);
    while (GEN(s = atomic_load_explicit(&p->state, memory_order_acquire)) == seen)
        pthread_cond_wait(&p->go, &p->m);
    pthread_mutex_unlock(&p->m);
    return s;
}

static void *worker_main(void *arg)
{
    pool *p = ((worker *)arg)->p;
    uint32_t seen = 0;
    for (;;) {
        uint64_t s = next_job(p, seen);
        seen = GEN(s);
        if (atomic_load_explicit(&p->quit, memory_order_acquire))
            return NULL;
        /* join while the job is open; a closed or newer one is not ours to touch */
        while (GEN(s) == seen && !(s & CLOSED)) {
            if (atomic_compare_exchange_weak_explicit(&p->state, &s, s + 1,
                                                      memory_order_acq_rel,
                                                      memory_order_acquire)) {
                work(p);
                s = atomic_fetch_sub_explicit(&p->state, 1, memory_order_acq_rel) - 1;
                if ((s & CLOSED) && ACTIVE(s) == 0) {
                    pthread_mutex_lock(&p->m);
                    pthread_cond_signal(&p->done);
                    pthread_mutex_unlock(&p->m);
                }
                break;
            }
        }
    }
}

/* Opens a new job (fields already written), waking the workers. */
static void publish(pool *p)
{
    const uint64_t s = atomic_load_explicit(&p->state, memory_order_relaxed);
    atomic_store_explicit(&p->next, 0, memory_order_relaxed);
    pthread_mutex_lock(&p->m);
    atomic_store_explicit(&p->state, (uint64_t)(GEN(s) + 1u) << 32, memory_order_release);
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->m);
}

/* Closes the job to newcomers and waits for the workers inside it. */
static void close_job(pool *p)
{
    uint64_t s = atomic_fetch_or_explicit(&p->state, CLOSED, memory_order_acq_rel) | CLOSED;
    spin sp = { 0, 0 };
    while (ACTIVE(s) != 0 && spinning(&sp))
        s = atomic_load_explicit(&p->state, memory_order_acquire);
    if (ACTIVE(s) == 0)
        return;
    pthread_mutex_lock(&p->m);
    while (ACTIVE(atomic_load_explicit(&p->state, memory_order_acquire)) != 0)
        pthread_cond_wait(&p->done, &p->m);
    pthread_mutex_unlock(&p->m);
}

/* Stops and joins the workers, frees the pool. */
static void pool_free(pool *p)
{
    if (!p)
        return;
    if (p->started) {
        atomic_store_explicit(&p->quit, 1, memory_order_release);
        publish(p);
        for (size_t i = 0; i < p->started; i++)
            pthread_join(p->workers[i].thread, NULL);
    }
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->go);
    pthread_mutex_destroy(&p->m);
    tg__free(p->workers);
    tg__free(p);
}

static tg_status pool_new(size_t n, pool **out)
{
    sigset_t all, old;
    int err = 0;
    pool *p = tg__alloc(sizeof *p);
    if (!p)
        return tg__fail(TG_ERR_NOMEM, "tg_set_num_threads: out of memory for a pool of %zu",
                        n);
    memset(p, 0, sizeof *p);
    p->n = n;
    p->workers = tg__alloc((n - 1) * sizeof *p->workers);
    if (!p->workers) {
        tg__free(p);
        return tg__fail(TG_ERR_NOMEM, "tg_set_num_threads: out of memory for a pool of %zu",
                        n);
    }
    if (pthread_mutex_init(&p->m, NULL) != 0 || pthread_cond_init(&p->go, NULL) != 0 ||
        pthread_cond_init(&p->done, NULL) != 0) {
        /* glibc's init cannot fail; elsewhere treat it as out of resources */
        tg__free(p->workers);
        tg__free(p);
        return tg__fail(TG_ERR_NOMEM, "tg_set_num_threads: cannot create the pool's locks");
    }
    atomic_init(&p->state, 0);
    atomic_init(&p->next, 0);
    atomic_init(&p->quit, 0);
    /* workers block every signal, so signals go to the application's threads */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (size_t i = 0; i < n - 1 && err == 0; i++) {
        p->workers[i].p = p;
        err = pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i]);
        if (err == 0)
            p->started++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0) {
        const size_t started = p->started;
        pool_free(p);
        return tg__fail(TG_ERR_NOMEM, "tg_set_num_threads: the system refused thread %zu of "
                        "%zu (%s)", started + 2, n, strerror(err));
    }
    *out = p;
    return TG_OK;
}

/* fork(): the child keeps only the forking thread, so it must not wait for workers it
 * does not have. The pool's memory stays reachable (orphan) until the child sets a
 * count again. */
static pthread_mutex_t blas_lock = PTHREAD_MUTEX_INITIALIZER;   /* see blas_sync */

static void fork_prepare(void)
{
    pthread_mutex_lock(&use);
    pthread_mutex_lock(&blas_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&blas_lock);
    pthread_mutex_unlock(&use);
}

static void fork_child(void)
{
    if (current && !orphan)
        orphan = current;
    current = NULL;
    atomic_store(&setting, 1);
    pthread_mutex_unlock(&blas_lock);
    pthread_mutex_unlock(&use);
}

static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static int fork_registered;
static void register_fork(void)
{
    fork_registered = pthread_atfork(fork_prepare, fork_parent, fork_child) == 0;
}

/* OpenBLAS's thread count follows the setting. Its own lock, not `use`: the first
 * OpenBLAS call may come from inside a parallel region, which holds `use`. Every
 * change of the setting is passed on after it is made, so the last word is right. */
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_sync(void)
{
    pthread_mutex_lock(&blas_lock);
    tg__gemm_blas_set_threads(atomic_load(&setting));
    pthread_mutex_unlock(&blas_lock);
}

void tg__threads_blas_init(void)
{
    pthread_once(&blas_once, blas_sync);
}

static size_t online_processors(void)
{
#ifdef _SC_NPROCESSORS_ONLN
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n > 0)
        return (size_t)n;
#endif
    return 1;
}

tg_status tg_set_num_threads(size_t n)
{
    pool *fresh = NULL, *old, *stale;
    if (n == 0)
        n = online_processors();
    if (n > TG_MAX_THREADS)
        return tg__fail(TG_ERR_PARAM, "tg_set_num_threads: n = %zu, at most %d", n,
                        TG_MAX_THREADS);
    pthread_once(&fork_once, register_fork);
    if (!fork_registered)
        return tg__fail(TG_ERR_NOMEM, "tg_set_num_threads: pthread_atfork failed");
    pthread_mutex_lock(&use);
    if (n == atomic_load(&setting)) {
        pthread_mutex_unlock(&use);
        blas_sync();   /* OpenBLAS may not have heard of the setting yet */
        return TG_OK;
    }
    if (n > 1) {
        const tg_status s = pool_new(n, &fresh);
        if (s != TG_OK) {
            pthread_mutex_unlock(&use);
            return s;
        }
    }
    old = current;
    stale = orphan;
    current = fresh;
    orphan = NULL;
    atomic_store(&setting, n);
    pthread_mutex_unlock(&use);
    blas_sync();
    pool_free(old);   /* no region can reach it any more: join outside the lock */
    if (stale) {      /* inherited through fork: its threads never existed here */
        tg__free(stale->workers);
        tg__free(stale);
    }
    return TG_OK;
}

size_t tg_get_num_threads(void)
{
    return atomic_load(&setting);
}

void tg__parallel_for(size_t n, size_t grain, void (*fn)(size_t begin, size_t end, void *ctx),
                      void *ctx)
{
    pool *p;
    if (grain == 0)
        grain = 1;
    if (n <= grain || atomic_load_explicit(&setting, memory_order_relaxed) == 1 ||
        pthread_mutex_trylock(&use) != 0) {
        if (n > 0)
            fn(0, n, ctx);
        return;
    }
    p = current;
    if (!p) {
        pthread_mutex_unlock(&use);
        fn(0, n, ctx);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    p->len = n;
    p->grain = grain;
    p->chunks = n / grain + (n % grain != 0);
    if (p->chunks > TG__CHUNKS_PER_THREAD * p->n)
        p->chunks = TG__CHUNKS_PER_THREAD * p->n;
    publish(p);
    work(p);
    close_job(p);
    pthread_mutex_unlock(&use);
}
