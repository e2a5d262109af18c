/* team.c: helper threads for the passes around a multithreaded GEMM.
 *
 * With more than one BLAS thread, GEMM runs on every core while im2col and
 * the bias fill before it ran on one: on two cores that held ResNet-50's
 * 3x3 layers to 50-80% of a bare GEMM. ck_parallel_for shares such a pass
 * among as many threads as BLAS uses.
 *
 * The helpers live for one pass and nothing is shared between calls, so
 * the kernels stay safe to call from many threads at once, and no helper
 * is left to compete with BLAS for the cores during the GEMM. What it
 * costs, measured on a 2-core Zen 4 VM: pthread_create takes about 20 us
 * of the caller's time and the helper starts running 35-110 us after the
 * call began; collecting it with pthread_join took another 20-60 us of
 * wake-up. So the work is not cut in fixed parts but taken in small grabs
 * by whoever is free (the caller starts at once, a helper joins in when it
 * runs), and a helper is detached and counts itself done on an atomic the
 * caller watches, instead of being joined. A pool of sleeping threads
 * would start faster (a wake-up measured about 18 us), but it would be
 * state kept across calls, which the header promises there is none of. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE      /* sched_getcpu, pthread_attr_setaffinity_np */
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "team.h"

/* Keeps the helpers off the caller's core (Linux only).
 *
 * Left to itself the scheduler often started a helper on the caller's own
 * core, both busy, and moved it only at the next load balance: the shared
 * pass was then often slower than one thread doing it all. Between GEMMs
 * the other cores are not idle either: OpenBLAS's idle threads spin
 * (yielding) for a while after each GEMM, and a helper gets such a core
 * from them (a yielding thread gives way), but only if placed there.
 * Measured after a GEMM on 2 cores, median of 61: im2col of ResNet-50's
 * 3x3 layers 1.3-1.8x faster shared with a pinned helper. */
static void pin_off_this_core(pthread_attr_t *attr) {
#if defined(__linux__)
    cpu_set_t set;
    int cpu = sched_getcpu();
    if (cpu < 0 || sched_getaffinity(0, sizeof set, &set) != 0 || !CPU_ISSET(cpu, &set) || CPU_COUNT(&set) < 2)
        return;
    CPU_CLR(cpu, &set);
    (void)pthread_attr_setaffinity_np(attr, sizeof set, &set);
#else
    (void)attr;
#endif
}

/* The work a call shares out: items [0, items) in grabs of `grab`, taken
 * in order by whoever is free. Lives on the caller's stack; a helper's
 * last touch of it is its increment of `done`, and the caller returns
 * only once every helper it started has made it. */
typedef struct shared {
    ck_items *fn;
    void *ctx;
    int64_t items, grab;
    atomic_llong next;
    atomic_int done;
} shared;

static void take_items(shared *s) {
    for (;;) {
        int64_t b = atomic_fetch_add_explicit(&s->next, s->grab, memory_order_relaxed);
        if (b >= s->items) return;
        s->fn(s->ctx, b, b + s->grab < s->items ? b + s->grab : s->items);
    }
}

static void *helper_main(void *arg) {
    shared *s = arg;
    take_items(s);
    atomic_fetch_add_explicit(&s->done, 1, memory_order_release);
    return NULL;
}

void ck_parallel_for(ck_items *fn, void *ctx, int64_t items, int threads) {
    if (threads > CK_PARALLEL_MAX) threads = CK_PARALLEL_MAX;
    if (threads > items) threads = (int)items;
    if (threads < 2) {
        if (items > 0) fn(ctx, 0, items);
        return;
    }
    shared s;
    int64_t grab = items / ((int64_t)threads * GRABS);
    s.fn = fn;
    s.ctx = ctx;
    s.items = items;
    s.grab = grab > 1 ? grab : 1;
    atomic_init(&s.next, 0);
    atomic_init(&s.done, 0);
    pthread_attr_t attr;
    int started = 0;
    if (pthread_attr_init(&attr) == 0) {
        if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0) {
            pin_off_this_core(&attr);
            for (int i = 1; i < threads; i++) {
                pthread_t t;
                if (pthread_create(&t, &attr, helper_main, &s) != 0) break;
                started++;
            }
        }
        pthread_attr_destroy(&attr);
    }
    take_items(&s);
    /* Wait out the helpers' last grabs; one that starts only now finds
     * nothing left and counts itself done at once. Yielding, in case a
     * helper is waiting for this very core. */
    while (atomic_load_explicit(&s.done, memory_order_acquire) < started) sched_yield();
}
