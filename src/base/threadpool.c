#include "base/threadpool.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/affinity.h"
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
    /* The caller's thread as it was before the pool pinned or reniced it. */
    pthread_t owner;
    bool owner_pinned, owner_reniced;
    cpu_set_t owner_affinity;
    int owner_nice;
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

static int thread_id(void) { return (int)syscall(SYS_gettid); }

/* The caller's nice value to `nice`: workers started after inherit it. */
static rz_status renice_owner(rz_threadpool *pool, int nice) {
    errno = 0;
    const int old = getpriority(PRIO_PROCESS, (id_t)thread_id());
    if (old == -1 && errno)
        return rz_error(RZ_ERR_IO, "cannot read the thread priority: %s", strerror(errno));
    if (setpriority(PRIO_PROCESS, (id_t)thread_id(), nice) != 0)
        return rz_error(RZ_ERR_IO, "cannot set the threads' nice value to %d: %s%s", nice, strerror(errno),
                        nice < old ? " (raising priority needs CAP_SYS_NICE)" : "");
    pool->owner_reniced = true;
    pool->owner_nice = old;
    return RZ_OK;
}

static rz_status pin_owner(rz_threadpool *pool, const rz_cpu_set *cpus) {
    cpu_set_t want;
    rz_cpu_set_to_os(cpus, &want);
    int e = pthread_getaffinity_np(pool->owner, sizeof pool->owner_affinity, &pool->owner_affinity);
    if (e == 0) e = pthread_setaffinity_np(pool->owner, sizeof want, &want);
    if (e != 0) {
        char list[256];
        rz_cpu_set_format(cpus, list, sizeof list);
        return rz_error(RZ_ERR_IO, "cannot pin thread 0 to CPUs %s: %s", list, strerror(e));
    }
    pool->owner_pinned = true;
    return RZ_OK;
}

static rz_status start_worker(rz_threadpool *pool, int i, const rz_cpu_set *cpus) {
    worker_start *start = malloc(sizeof *start);
    if (!start) return rz_error(RZ_ERR_NOMEM, "out of memory starting threads");
    start->pool = pool;
    start->index = i;
    pthread_attr_t attr;
    int e = pthread_attr_init(&attr);
    if (e == 0 && cpus) {
        cpu_set_t want;
        rz_cpu_set_to_os(cpus, &want);
        e = pthread_attr_setaffinity_np(&attr, sizeof want, &want);
    }
    if (e == 0) e = pthread_create(&pool->threads[i], &attr, worker_main, start);
    pthread_attr_destroy(&attr);
    if (e == 0) return RZ_OK;
    free(start);
    if (!cpus) return rz_error(RZ_ERR_IO, "cannot start worker thread %d: %s", i, strerror(e));
    char list[256];
    rz_cpu_set_format(cpus, list, sizeof list);
    return rz_error(RZ_ERR_IO, "cannot start worker thread %d on CPUs %s: %s", i, list, strerror(e));
}

rz_status rz_threadpool_create_placed(int n_threads, const rz_cpu_set *cpus, int nice, rz_threadpool **out) {
    if (n_threads < 1 || n_threads > 1024)
        return rz_error(RZ_ERR_INVALID_ARG, "thread count %d is out of range [1, 1024]", n_threads);
    rz_threadpool *pool = rz_calloc_aligned(1, sizeof *pool);
    if (!pool) return RZ_ERR_NOMEM;
    pool->n_threads = 1; /* the workers started so far, for rz_threadpool_free */
    pool->owner = pthread_self();
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = rz_calloc((size_t)n_threads, sizeof(pthread_t));
    pool->idle = rz_calloc_aligned((size_t)n_threads, sizeof *pool->idle);
    rz_status s = pool->threads && pool->idle ? RZ_OK : RZ_ERR_NOMEM;
    if (s == RZ_OK && nice != 0) s = renice_owner(pool, nice);
    for (int i = 1; s == RZ_OK && i < n_threads; i++)
        if ((s = start_worker(pool, i, cpus ? &cpus[i] : NULL)) == RZ_OK) pool->n_threads = i + 1;
    if (s == RZ_OK && cpus) s = pin_owner(pool, &cpus[0]);
    if (s != RZ_OK) {
        rz_threadpool_free(pool);
        return s;
    }
    *out = pool;
    return RZ_OK;
}

rz_status rz_threadpool_create(int n_threads, rz_threadpool **out) {
    return rz_threadpool_create_placed(n_threads, NULL, 0, out);
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
    if (pthread_equal(pool->owner, pthread_self())) {
        if (pool->owner_pinned)
            (void)pthread_setaffinity_np(pool->owner, sizeof pool->owner_affinity, &pool->owner_affinity);
        if (pool->owner_reniced) (void)setpriority(PRIO_PROCESS, (id_t)thread_id(), pool->owner_nice);
    }
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
