/* A persistent pool of worker threads: a parallel region runs one function
 * on every thread (the caller is thread 0) and returns when all are done.
 * Workers spin briefly between regions, then sleep, so back-to-back regions
 * (one per mat-mul during generation) cost no thread wake-ups. */
#ifndef RZ_BASE_THREADPOOL_H
#define RZ_BASE_THREADPOOL_H

#include "ryzanstein.h"

typedef struct rz_threadpool rz_threadpool;
typedef void (*rz_task_fn)(void *arg, int ith, int nth);

rz_status rz_threadpool_create(int n_threads, rz_threadpool **out);
/* As rz_threadpool_create, with thread i on the CPUs cpus[i] alone when cpus
 * is not NULL, and every thread at nice value `nice` unless it is 0. Thread 0
 * is the caller's: rz_threadpool_free, called from that thread, gives it
 * back its affinity, and its nice value where the system lets it lower it. */
rz_status rz_threadpool_create_placed(int n_threads, const rz_cpu_set *cpus, int nice, rz_threadpool **out);
void rz_threadpool_free(rz_threadpool *pool);
int rz_threadpool_size(const rz_threadpool *pool);
/* Runs fn(arg, i, n) for i in [0, n) concurrently; pool may be NULL (runs inline). */
void rz_threadpool_run(rz_threadpool *pool, rz_task_fn fn, void *arg);

/* Bytes [p, p + bytes). */
typedef struct rz_byte_range {
    const void *p;
    size_t bytes;
} rz_byte_range;

enum { RZ_IDLE_PREFETCH_RANGES = 2 };

/* For a task to call from thread ith: what that thread will read first in
 * the next region (up to RZ_IDLE_PREFETCH_RANGES ranges, read at once), for
 * it to prefetch into L2 while it waits for the others to finish this one or
 * for the next to start (memory would otherwise sit idle through those
 * waits). Regions in between that set none leave it in place. */
void rz_threadpool_prefetch_while_idle(rz_threadpool *pool, int ith, const rz_byte_range *ranges,
                                       int n_ranges);

/* Rows [begin, end) of `total` for thread ith of nth, in chunks of `align`. */
static inline void rz_split_range(int64_t total, int64_t align, int ith, int nth, int64_t *begin,
                                  int64_t *end) {
    int64_t chunks = (total + align - 1) / align;
    int64_t per = chunks / nth, extra = chunks % nth;
    int64_t first = ith * per + (ith < extra ? ith : extra);
    int64_t count = per + (ith < extra ? 1 : 0);
    *begin = first * align < total ? first * align : total;
    *end = (first + count) * align < total ? (first + count) * align : total;
}

#endif
