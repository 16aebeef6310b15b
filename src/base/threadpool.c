#include "base/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "base/error.h"
#include "base/mem.h"

/* ~100 us of pause: covers the gap between mat-muls of one forward pass;
 * longer spinning only steals the CPU when cores are oversubscribed. */
enum { SPIN_ITERATIONS = 10000 };

/* Lines of an idle prefetch issued between two looks at the pool's state. */
enum { IDLE_PREFETCH_LINES = 8 };

/* What a thread prefetches while it waits; written and read by that thread
 * only. */
typedef struct idle_prefetch {
    _Alignas(RZ_CACHE_LINE) const char *next[RZ_IDLE_PREFETCH_RANGES];
    const char *end[RZ_IDLE_PREFETCH_RANGES];
} idle_prefetch;

struct rz_threadpool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    /* Each region bumps `generation`; workers run it and count `done` up. */
    _Alignas(RZ_CACHE_LINE) atomic_uint_fast64_t generation;
    _Alignas(RZ_CACHE_LINE) atomic_int done;
    _Alignas(RZ_CACHE_LINE) atomic_int sleeping;
    rz_task_fn fn;
    void *arg;
    atomic_bool stop;
    idle_prefetch *idle; /* one per thread */
};

typedef struct worker_start {
    rz_threadpool *pool;
    int index;
} worker_start;

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

/* A few more lines of the thread's idle prefetch into L2; false when none is
 * left. */
static bool idle_prefetch_step(idle_prefetch *ip) {
    bool any = false;
    for (int r = 0; r < RZ_IDLE_PREFETCH_RANGES; r++)
        for (int i = 0; i < IDLE_PREFETCH_LINES / RZ_IDLE_PREFETCH_RANGES && ip->next[r] < ip->end[r];
             i++, ip->next[r] += RZ_CACHE_LINE) {
            __builtin_prefetch(ip->next[r], 0, 2);
            any = true;
        }
    return any;
}

void rz_threadpool_prefetch_while_idle(rz_threadpool *pool, int ith, const rz_byte_range *ranges,
                                       int n_ranges) {
    if (!pool || pool->n_threads == 1) return;
    idle_prefetch *ip = &pool->idle[ith];
    for (int r = 0; r < RZ_IDLE_PREFETCH_RANGES; r++) {
        ip->next[r] = r < n_ranges ? ranges[r].p : NULL;
        ip->end[r] = r < n_ranges ? (const char *)ranges[r].p + ranges[r].bytes : NULL;
    }
}

static void *worker_main(void *p) {
    worker_start start = *(worker_start *)p;
    free(p);
    rz_threadpool *pool = start.pool;
    uint_fast64_t seen = 0;
    idle_prefetch *idle = &pool->idle[start.index];
    for (;;) {
        uint_fast64_t gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen) {
            if (idle_prefetch_step(idle)) continue;
            if (++spins < SPIN_ITERATIONS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&pool->mutex);
            atomic_fetch_add(&pool->sleeping, 1);
            while (atomic_load(&pool->generation) == seen && !atomic_load(&pool->stop))
                pthread_cond_wait(&pool->wake, &pool->mutex);
            atomic_fetch_sub(&pool->sleeping, 1);
            pthread_mutex_unlock(&pool->mutex);
            spins = 0;
        }
        if (atomic_load(&pool->stop)) return NULL;
        seen = gen;
        pool->fn(pool->arg, start.index, pool->n_threads);
        atomic_fetch_add_explicit(&pool->done, 1, memory_order_acq_rel);
    }
}

rz_status rz_threadpool_create(int n_threads, rz_threadpool **out) {
    if (n_threads < 1 || n_threads > 1024)
        return rz_error(RZ_ERR_INVALID_ARG, "thread count %d is out of range [1, 1024]", n_threads);
    rz_threadpool *pool = rz_calloc_aligned(1, sizeof *pool);
    if (!pool) return RZ_ERR_NOMEM;
    pool->n_threads = n_threads;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = rz_calloc((size_t)n_threads, sizeof(pthread_t));
    pool->idle = rz_calloc_aligned((size_t)n_threads, sizeof *pool->idle);
    if (!pool->threads || !pool->idle) {
        rz_threadpool_free(pool);
        return RZ_ERR_NOMEM;
    }
    for (int i = 1; i < n_threads; i++) {
        worker_start *start = malloc(sizeof *start);
        if (!start) {
            pool->n_threads = i;
            rz_threadpool_free(pool);
            return rz_error(RZ_ERR_NOMEM, "out of memory starting threads");
        }
        start->pool = pool;
        start->index = i;
        if (pthread_create(&pool->threads[i], NULL, worker_main, start) != 0) {
            free(start);
            pool->n_threads = i;
            rz_threadpool_free(pool);
            return rz_error(RZ_ERR_IO, "cannot start worker thread %d", i);
        }
    }
    *out = pool;
    return RZ_OK;
}

void rz_threadpool_free(rz_threadpool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stop, true);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 1; i < pool->n_threads; i++)
        if (pool->threads) pthread_join(pool->threads[i], NULL);
    free(pool->threads);
    rz_free_aligned(pool->idle);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    rz_free_aligned(pool);
}

int rz_threadpool_size(const rz_threadpool *pool) { return pool ? pool->n_threads : 1; }

void rz_threadpool_run(rz_threadpool *pool, rz_task_fn fn, void *arg) {
    if (!pool || pool->n_threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    pool->fn = fn;
    pool->arg = arg;
    atomic_store_explicit(&pool->done, 0, memory_order_relaxed);
    /* seq_cst: the bump must be visible before we read `sleeping`. */
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleeping) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
    idle_prefetch *idle = &pool->idle[0];
    fn(arg, 0, pool->n_threads);
    int spins = 0;
    while (atomic_load_explicit(&pool->done, memory_order_acquire) < pool->n_threads - 1) {
        if (idle_prefetch_step(idle)) continue;
        if (++spins < SPIN_ITERATIONS)
            cpu_relax();
        else
            sched_yield();
    }
}
