/* STREAM-like read bandwidth: sum the int64 values of a buffer much larger
 * than the caches, with scalar, AVX2 and AVX-512 loads, the scalar and
 * AVX-512 ones also with a software prefetch (AVX-512: in one stream and in
 * two), on 1..N threads.
 * Prints the median GB/s (1e9 bytes) of several runs: the memory roofline for
 * token generation, which streams every weight once per token. The buffer is
 * allocated like the weights (rz_alloc_large: huge pages requested); --small-
 * pages uses 4 KB pages instead, as weights computed on the file mapping
 * (--no-repack) have.
 *
 *   bench_bandwidth [--mib M] [--runs N] [--threads LIST] [--small-pages]
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "bench_util.h"

enum { MAX_RUNS = 64, MAX_THREADS = 256 };

typedef int64_t (*sum_fn)(const int64_t *p, size_t n);

/* Four independent accumulators everywhere, so the adds never limit the loads.
 * n is a multiple of 32 values. */
static int64_t sum_scalar(const int64_t *p, size_t n) {
    int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n; i += 4) {
        s0 += p[i];
        s1 += p[i + 1];
        s2 += p[i + 2];
        s3 += p[i + 3];
    }
    return s0 + s1 + s2 + s3;
}

/* As sum_scalar with a software prefetch 1 KB ahead per cache line. */
static int64_t sum_scalar_prefetch(const int64_t *p, size_t n) {
    int64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n; i += 8) {
        __builtin_prefetch((const char *)(p + i) + 1024);
        s0 += p[i] + p[i + 4];
        s1 += p[i + 1] + p[i + 5];
        s2 += p[i + 2] + p[i + 6];
        s3 += p[i + 3] + p[i + 7];
    }
    return s0 + s1 + s2 + s3;
}

__attribute__((target("avx2"))) static int64_t sum_avx2(const int64_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 16) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 4)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 8)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    int64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes,
                        _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3)));
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

__attribute__((target("avx512f"))) static int64_t sum_avx512(const int64_t *p, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 32) {
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 8));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 16));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 24));
    }
    return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
}

/* As sum_avx512 with a software prefetch 1 KB ahead, as the kernels have.
 * On the Xeon of stops 9-12 the prefetch added 10-15 % to the AVX-512 loads
 * and 10-13 % to the scalar ones (2 KB: a little less, 4 KB: no gain), and
 * made the scalar loop the fastest reader of all. */
__attribute__((target("avx512f"))) static int64_t sum_avx512_prefetch(const int64_t *p, size_t n) {
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 32) {
        for (int line = 0; line < 4; line++)
            _mm_prefetch((const char *)(p + i + 8 * line) + 1024, _MM_HINT_T0);
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 8));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(p + i + 16));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(p + i + 24));
    }
    return _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
}

/* As sum_avx512_prefetch over the two halves of the slice at once, a cache
 * line of each per step: two streams far apart read faster than one here
 * (about 18 against 15-16 GB/s at 1 thread), which the GEMV kernels use. */
__attribute__((target("avx512f"))) static int64_t sum_avx512_prefetch_two(const int64_t *p, size_t n) {
    const size_t half = n / 2 / 16 * 16;
    const int64_t *q = p + half;
    __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < half; i += 16) {
        for (int line = 0; line < 2; line++) {
            _mm_prefetch((const char *)(p + i + 8 * line) + 1024, _MM_HINT_T0);
            _mm_prefetch((const char *)(q + i + 8 * line) + 1024, _MM_HINT_T0);
        }
        a0 = _mm512_add_epi64(a0, _mm512_load_si512(p + i));
        a1 = _mm512_add_epi64(a1, _mm512_load_si512(p + i + 8));
        a2 = _mm512_add_epi64(a2, _mm512_load_si512(q + i));
        a3 = _mm512_add_epi64(a3, _mm512_load_si512(q + i + 8));
    }
    int64_t tail = 0;
    for (size_t i = 2 * half; i < n; i++)
        tail += p[i];
    return tail +
           _mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a0, a1), _mm512_add_epi64(a2, a3)));
}

typedef struct job {
    sum_fn fn;
    int64_t *p;
    size_t n;
    int64_t result;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    j->result = j->fn(j->p, j->n);
    return NULL;
}

static void *fill_job(void *arg) {
    job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->p[i] = (int64_t)i;
    return NULL;
}

/* Splits the buffer into n_threads slices (multiples of 32 values) and runs
 * fn over them in parallel; the caller's thread takes slice 0. */
static int64_t run_threads(void *(*body)(void *), sum_fn fn, int64_t *buf, size_t n, int n_threads) {
    job jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    const size_t slice = n / 32 / (size_t)n_threads * 32;
    for (int t = 0; t < n_threads; t++)
        jobs[t] = (job){fn, buf + (size_t)t * slice, t == n_threads - 1 ? n - (size_t)t * slice : slice, 0};
    for (int t = 1; t < n_threads; t++)
        pthread_create(&tids[t], NULL, body, &jobs[t]);
    body(&jobs[0]);
    int64_t total = jobs[0].result;
    for (int t = 1; t < n_threads; t++) {
        pthread_join(tids[t], NULL);
        total += jobs[t].result;
    }
    return total;
}

int main(int argc, char **argv) {
    size_t mib = 2048;
    int runs = 7;
    int threads[MAX_THREADS], n_counts = 0;
    bool small_pages = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--small-pages")) {
            small_pages = true;
        } else if (!strcmp(argv[i], "--mib") && i + 1 < argc) {
            mib = strtoull(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            char *s = argv[++i], *end;
            do {
                threads[n_counts++] = (int)strtol(s, &end, 10);
                s = end + 1;
            } while (*end == ',' && n_counts < MAX_THREADS);
            if (*end) threads[0] = 0; /* rejected below */
        } else {
            fprintf(stderr, "usage: bench_bandwidth [--mib M] [--runs N] [--threads LIST] [--small-pages]\n");
            return 2;
        }
    }
    if (n_counts == 0) {
        const long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (long t = 1; t <= n && n_counts < MAX_THREADS; t *= 2)
            threads[n_counts++] = (int)t;
        if (threads[n_counts - 1] != n && n_counts < MAX_THREADS) threads[n_counts++] = (int)n;
    }
    for (int i = 0; i < n_counts; i++)
        if (threads[i] < 1 || threads[i] > MAX_THREADS) {
            fprintf(stderr, "bench_bandwidth: thread counts must be 1..%d\n", MAX_THREADS);
            return 2;
        }
    if (mib < 1 || runs < 1 || runs > MAX_RUNS) {
        fprintf(stderr, "bench_bandwidth: need --mib >= 1 and --runs 1..%d\n", MAX_RUNS);
        return 2;
    }
    const size_t n = mib << 20 >> 3;
    int64_t *buf = small_pages ? rz_alloc_aligned(n * sizeof *buf) : rz_alloc_large(n * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "bench_bandwidth: cannot allocate %zu MiB\n", mib);
        return 1;
    }
    /* Touch every page from all threads first, so page faults are not timed. */
    run_threads(fill_job, NULL, buf, n, threads[n_counts - 1]);

    __builtin_cpu_init();
    const struct {
        const char *name;
        sum_fn fn;
        bool ok;
    } kernels[] = {
        {"scalar", sum_scalar, true},
        {"scalar+prefetch", sum_scalar_prefetch, true},
        {"avx2", sum_avx2, __builtin_cpu_supports("avx2")},
        {"avx512", sum_avx512, __builtin_cpu_supports("avx512f")},
        {"avx512+prefetch", sum_avx512_prefetch, __builtin_cpu_supports("avx512f")},
        {"avx512+prefetch, two streams", sum_avx512_prefetch_two, __builtin_cpu_supports("avx512f")},
    };
    printf("buffer %zu MiB (%s pages), median of %d runs, GB/s = 1e9 bytes/s\n", mib,
           small_pages ? "4 KB" : "huge", runs);
    printf("| loads | threads | GB/s | min | max |\n| --- | ---: | ---: | ---: | ---: |\n");
    int64_t checksum = 0;
    for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        if (!kernels[k].ok) continue;
        for (int c = 0; c < n_counts; c++) {
            double gbs[MAX_RUNS];
            run_threads(run_job, kernels[k].fn, buf, n, threads[c]); /* warm-up */
            for (int r = 0; r < runs; r++) {
                const double t0 = rz_time_seconds();
                checksum += run_threads(run_job, kernels[k].fn, buf, n, threads[c]);
                gbs[r] = (double)(n * sizeof *buf) / (rz_time_seconds() - t0) / 1e9;
            }
            const double median = bench_median(gbs, runs);
            printf("| %s | %d | %.2f | %.2f | %.2f |\n", kernels[k].name, threads[c], median, gbs[0],
                   gbs[runs - 1]);
            fflush(stdout);
        }
    }
    /* Printing the sums keeps the compiler from dropping the loads. */
    fprintf(stderr, "checksum %lld\n", (long long)checksum);
    if (small_pages)
        rz_free_aligned(buf);
    else
        rz_free_large(buf, n * sizeof *buf);
    return 0;
}
