/* Ternary mat-mul benchmark: rz_matmul on the BitNet b1.58 2B-4T shapes
 * ([1x2560]x[2560x6912], [1x6912]x[6912x2560], [128x2560]x[2560x2560]) for
 * I2_S, I2_TL (its lookup-table layout), TQ2_0, TQ1_0 and TQ2_0_G (the
 * run-time layout of both, made from TQ2_0 here) on every ISA path at
 * 1 and 2 threads. Weights
 * rotate through copies totalling more than the last-level cache, so GEMV
 * streams them from DRAM as token generation does. Reports the median time,
 * GOPS (2 ops per multiply-add) and GB/s of weights, activation conversion
 * included (GB/s: the bytes the kernel reads; I2_TL's allotment is a little
 * larger). On a shared machine the 1-thread rows also give GOPS per second
 * of CPU time this process got ("cpu GOPS"), which other load hardly
 * changes.
 *
 *   bench_ternary [--runs N] [--mib M] [--type NAME]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mem.h"
#include "bench_util.h"
#include "base/threadpool.h"
#include "kernels/matmul.h"
#include "tensor/quants_tl.h"
#include "tensor/type_traits.h"

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

enum { MAX_RUNS = 64 };

typedef struct shape {
    int64_t tokens, k, n;
} shape;

/* A benchmarked type and the stored type it is made from at load (itself
 * when stored as it is). */
typedef struct bench_type {
    rz_type type, from;
} bench_type;

static int bench(bench_type bt, shape sh, uint64_t mib, int runs, rz_threadpool *pools[2]) {
    const rz_type type = bt.type;
    const rz_type_traits *t = rz_type_traits_get(type), *qt = rz_type_traits_get(bt.from);
    uint64_t bytes, q_bytes;
    if (rz_type_tensor_bytes(type, (uint64_t)(sh.k * sh.n), &bytes) != RZ_OK ||
        rz_type_tensor_bytes(bt.from, (uint64_t)(sh.k * sh.n), &q_bytes) != RZ_OK)
        return 1;
    const uint64_t read_bytes =
        type == RZ_TYPE_I2_TL ? (uint64_t)(sh.n / RZ_TL_ROWS * RZ_TL_PAIR_BYTES * rz_tl_pairs(sh.k)) : bytes;
    /* GEMM reuses its weights 128 times: one copy; GEMV rotates copies. */
    const uint64_t copies = sh.tokens > 1 ? 1 : (mib << 20) / bytes + 1;
    float *f = malloc((size_t)(sh.k * sh.n) * sizeof *f);
    float *x = rz_alloc_aligned((size_t)(sh.tokens * sh.k) * sizeof(float));
    float *y = rz_alloc_aligned((size_t)(sh.tokens * sh.n) * sizeof(float));
    /* Weights in huge pages, as the engine holds them after loading. */
    const size_t w_total = copies * rz_align_up(bytes, 64);
    unsigned char *w = rz_alloc_large(w_total);
    if (!f || !x || !y || !w) return fprintf(stderr, "bench_ternary: out of memory\n"), 1;
    uint64_t rng = 42;
    for (int64_t i = 0; i < sh.k * sh.n; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        f[i] = (float)((int)(rng >> 62) % 3 - 1) * 0.03f;
    }
    for (int64_t i = 0; i < sh.tokens * sh.k; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)(rng >> 40) * 0x1.0p-24f - 0.5f;
    }
    if (qt != t) {
        unsigned char *q = malloc(q_bytes);
        if (!q) return fprintf(stderr, "bench_ternary: out of memory\n"), 1;
        qt->quantize_tensor(f, q, sh.n, sh.k);
        rz_type_repack(bt.from, type)(q, w, sh.k, sh.n);
        free(q);
    } else {
        t->quantize_tensor(f, w, sh.n, sh.k);
    }
    for (uint64_t c = 1; c < copies; c++)
        memcpy(w + c * rz_align_up(bytes, 64), w, bytes);
    rz_tensor wt = {.type = type, .ne = {sh.k, sh.n, 1, 1}, .row_bytes = rz_row_bytes(t, (uint64_t)sh.k)};
    wt.scale = qt->trailer_bytes ? 0.03f : 0.0f;
    void *work = rz_alloc_aligned(rz_matmul_work_size(&wt, sh.tokens) + 64);
    for (int isa = 0; isa <= (int)rz_isa_best(); isa++) {
        if (isa > 0 && rz_type_vec_dot(type, (rz_isa)isa) == rz_type_vec_dot(type, (rz_isa)(isa - 1)) &&
            rz_type_gemm(type, (rz_isa)isa) == rz_type_gemm(type, (rz_isa)(isa - 1)))
            continue;
        rz_isa_set((rz_isa)isa);
        for (int p = 0; p < 2; p++) {
            double times[MAX_RUNS], cpu[MAX_RUNS];
            /* enough calls per run for about 20 ms of work */
            const int reps = sh.tokens > 1 ? 1 : (int)copies;
            for (int run = -1; run < runs; run++) {
                const double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
                for (int r = 0; r < reps; r++) {
                    wt.data = w + (uint64_t)r % copies * rz_align_up(bytes, 64);
                    rz_matmul(pools[p], &wt, x, sh.k, y, sh.n, sh.tokens, work);
                }
                if (run >= 0) {
                    times[run] = (clock_s(CLOCK_MONOTONIC) - t0) / reps;
                    cpu[run] = (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0) / reps;
                }
            }
            const double med = bench_median(times, runs), cpu_med = bench_median(cpu, runs);
            const double ops = 2.0 * (double)(sh.tokens * sh.k * sh.n);
            printf("%-6s %-7s t%d  [%4lld x %4lld] x [%4lld x %4lld]  %9.1f us  %8.1f GOPS  %6.2f GB/s",
                   t->name, rz_isa_name((rz_isa)isa), p + 1, (long long)sh.tokens, (long long)sh.k,
                   (long long)sh.k, (long long)sh.n, med * 1e6, ops / med * 1e-9,
                   (double)read_bytes / med * 1e-9);
            if (p == 0) printf("  %8.1f cpu GOPS", ops / cpu_med * 1e-9);
            printf("\n");
            fflush(stdout);
        }
    }
    rz_isa_set(rz_isa_best());
    rz_free_aligned(work);
    rz_free_large(w, w_total);
    rz_free_aligned(x);
    rz_free_aligned(y);
    free(f);
    return 0;
}

int main(int argc, char **argv) {
    int runs = 7;
    uint64_t mib = 256;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--mib") == 0)
            mib = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--type") == 0)
            only = argv[++i];
        else
            return fprintf(stderr, "usage: bench_ternary [--runs N] [--mib M] [--type NAME]\n"), 2;
    }
    if (runs < 1 || runs > MAX_RUNS) return fprintf(stderr, "bench_ternary: --runs 1..%d\n", MAX_RUNS), 2;
    rz_threadpool *pools[2] = {NULL, NULL};
    if (rz_threadpool_create(2, &pools[1]) != RZ_OK) return 1;
    const shape shapes[] = {{1, 2560, 6912}, {1, 6912, 2560}, {128, 2560, 2560}};
    const bench_type types[] = {{RZ_TYPE_I2_S, RZ_TYPE_I2_S},
                                {RZ_TYPE_I2_TL, RZ_TYPE_I2_S},
                                {RZ_TYPE_TQ2_0, RZ_TYPE_TQ2_0},
                                {RZ_TYPE_TQ1_0, RZ_TYPE_TQ1_0},
                                {RZ_TYPE_TQ2_0_G, RZ_TYPE_TQ2_0}};
    printf("median of %d runs; GEMV weights rotate through %llu MiB of copies\n", runs,
           (unsigned long long)mib);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            if (only && strcmp(only, rz_type_name(types[i].type)) != 0) continue;
            if (bench(types[i], shapes[s], mib, runs, pools) != 0) return 1;
        }
    rz_threadpool_free(pools[1]);
    return 0;
}
