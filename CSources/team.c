/* team.c: the kernels' threads.
 *
 * OpenBLAS runs single-threaded, always; the kernels split their own work
 * (column or row blocks of a GEMM with the im2col and epilogue that go with
 * them, depthwise channels) over a small pool of threads kept for the
 * life of the process.
 *
 * Why not OpenBLAS's threads: its pool spins (yielding) between GEMMs, and
 * the passes around each GEMM (im2col, bias, activation, pooling, Swift
 * code) then fought it for the cores. On a 2-core VM that made ResNet-18's
 * forward bimodal: 33 ms in one process, 50-90 ms in the next, with a
 * fifth of the time in sched_yield. It also made the thread count a
 * process-wide setting where a caller wants it per call (one image per
 * thread wants one thread each).
 *
 * The pool: workers sleep on a condition variable and spin briefly after a
 * job, since jobs come in bursts (one per layer). A call shares its items
 * in small grabs: the caller starts at once and a worker joins when it
 * wakes, so a late worker never holds the caller up. One call uses the
 * pool at a time; a second caller finding it busy (another thread's
 * localization, or a kernel inside a pool task) runs its items alone,
 * which is the right thing when cores are already taken and rules out
 * nested waits. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "team.h"

/* ---- thread counts ------------------------------------------------------- */

static atomic_int process_threads;          /* 0: not set, use the default */
static _Thread_local int local_threads;     /* 0: follow the process setting */

/* One thread per usable core, unless an environment variable asks for
 * fewer (the names OpenBLAS and OpenMP users already set). */
static int default_threads(void) {
    long procs = sysconf(_SC_NPROCESSORS_ONLN);
    if (procs < 1) procs = 1;
    static const char *const vars[] = {"CAMKIT_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *s = getenv(vars[i]);
        long v = s ? strtol(s, NULL, 10) : 0;
        if (v > 0) return (int)(v < procs ? v : procs);
    }
    return (int)(procs < CK_PARALLEL_MAX ? procs : CK_PARALLEL_MAX);
}

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single(void) { openblas_set_num_threads(1); }

void ck_blas_single_threaded(void) { (void)pthread_once(&blas_once, blas_single); }

int ck_set_threads(int threads) {
    ck_blas_single_threaded();
    int previous = atomic_exchange(&process_threads, threads > 0 ? (threads < CK_PARALLEL_MAX ? threads : CK_PARALLEL_MAX) : 0);
    return previous > 0 ? previous : default_threads();
}

int ck_set_local_threads(int threads) {
    int previous = local_threads;
    local_threads = threads > 0 ? (threads < CK_PARALLEL_MAX ? threads : CK_PARALLEL_MAX) : 0;
    return previous;
}

int ck_threads(void) {
    if (local_threads > 0) return local_threads;
    int t = atomic_load_explicit(&process_threads, memory_order_relaxed);
    if (t > 0) return t;
    static atomic_int cached;
    t = atomic_load_explicit(&cached, memory_order_relaxed);
    if (t == 0) {
        t = default_threads();
        atomic_store_explicit(&cached, t, memory_order_relaxed);
    }
    return t;
}

/* ---- the pool -------------------------------------------------------------- */

typedef struct job {
    ck_items *fn;
    void *ctx;
    int64_t items, grab;
    atomic_llong next;
    int helpers_wanted, helpers_joined;   /* under pool.lock */
    atomic_int helpers_done;              /* written under pool.lock; the caller also polls it */
} job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    job *current;                 /* the job workers may join; NULL between jobs */
    atomic_uint generation;       /* bumped for each job */
    int workers;                  /* started so far */
    atomic_int busy;              /* a caller owns the pool */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0};

/* Pauses a thread spins before it sleeps: a worker after a job, the
 * caller waiting for the workers that joined its job. The gap between two
 * layers' jobs is usually shorter, and a wake-up from sleep costs 20-50
 * us. A pause is about 25 ns on Zen 4 (20000: 0.49 ms), 10-140 cycles
 * elsewhere. */
enum { SPIN = 20000 };

static inline void pause_once(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void take_items(job *j) {
    for (;;) {
        int64_t b = atomic_fetch_add_explicit(&j->next, j->grab, memory_order_relaxed);
        if (b >= j->items) return;
        j->fn(j->ctx, b, b + j->grab < j->items ? b + j->grab : j->items);
    }
}

static void *worker_main(void *arg) {
    (void)arg;
    ck_blas_single_threaded();
    unsigned seen = atomic_load_explicit(&pool.generation, memory_order_acquire);
    for (;;) {
        for (int i = 0; i < SPIN && atomic_load_explicit(&pool.generation, memory_order_acquire) == seen; i++)
            pause_once();
        pthread_mutex_lock(&pool.lock);
        while (atomic_load_explicit(&pool.generation, memory_order_acquire) == seen)
            pthread_cond_wait(&pool.wake, &pool.lock);
        seen = atomic_load_explicit(&pool.generation, memory_order_acquire);
        job *j = pool.current;
        if (!j || j->helpers_joined >= j->helpers_wanted) {
            pthread_mutex_unlock(&pool.lock);
            continue;
        }
        j->helpers_joined++;
        pthread_mutex_unlock(&pool.lock);
        take_items(j);
        pthread_mutex_lock(&pool.lock);
        /* The last touch of j: the caller may return as soon as it sees this. */
        atomic_fetch_add_explicit(&j->helpers_done, 1, memory_order_release);
        pthread_cond_signal(&pool.done);
        pthread_mutex_unlock(&pool.lock);
    }
    return NULL;
}

/* Starts workers up to `wanted` (under pool.lock); fewer if the system
 * refuses a thread, which only means less help. */
static void grow(int wanted) {
    while (pool.workers < wanted) {
        pthread_attr_t attr;
        pthread_t t;
        if (pthread_attr_init(&attr) != 0) return;
        (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        (void)pthread_attr_setstacksize(&attr, 256 * 1024);
        int ok = pthread_create(&t, &attr, worker_main, NULL) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) return;
        pool.workers++;
    }
}

void ck_parallel_for(ck_items *fn, void *ctx, int64_t items, int threads) {
    if (items <= 0) return;
    if (threads > CK_PARALLEL_MAX) threads = CK_PARALLEL_MAX;
    if (threads > items) threads = (int)items;
    int expected = 0;
    if (threads < 2 || !atomic_compare_exchange_strong(&pool.busy, &expected, 1)) {
        fn(ctx, 0, items);
        return;
    }
    job j;
    int64_t grab = items / ((int64_t)threads * GRABS);
    j.fn = fn;
    j.ctx = ctx;
    j.items = items;
    j.grab = grab > 1 ? grab : 1;
    atomic_init(&j.next, 0);
    j.helpers_joined = 0;
    atomic_init(&j.helpers_done, 0);

    pthread_mutex_lock(&pool.lock);
    grow(threads - 1);
    j.helpers_wanted = threads - 1;
    pool.current = &j;
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    take_items(&j);

    /* No one joins from now on; wait for those who did, spinning first:
     * they are usually a grab behind, and sleeping here put a futex wake-up
     * (tens of us) into every layer whose helper finished last.
     * MobileNetV2's forward on 2 threads went 4.37-4.41 -> 3.92-4.13 ms
     * (alternated processes; 8.1 -> 7.5 in one of this VM's slow spells). */
    pthread_mutex_lock(&pool.lock);
    pool.current = NULL;
    int joined = j.helpers_joined;
    pthread_mutex_unlock(&pool.lock);
    for (int i = 0; i < SPIN && atomic_load_explicit(&j.helpers_done, memory_order_acquire) < joined; i++)
        pause_once();
    if (atomic_load_explicit(&j.helpers_done, memory_order_acquire) < joined) {
        pthread_mutex_lock(&pool.lock);
        while (atomic_load_explicit(&j.helpers_done, memory_order_acquire) < joined)
            pthread_cond_wait(&pool.done, &pool.lock);
        pthread_mutex_unlock(&pool.lock);
    }
    atomic_store_explicit(&pool.busy, 0, memory_order_release);
}
