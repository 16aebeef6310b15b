/* GEMV-style benchmark of the vec_dot kernels: y[r] = dot(W[r], x) over a
 * weight matrix bigger than the last-level cache, one thread, for every type
 * and ISA path, and for the run-time layouts the loader repacks the type into
 * on this machine's ISA paths (timed with that layout's own vec_dot, or for a
 * row-interleaved one its tile on one token). Reports the median of several
 * runs as ns per row and GB/s of weights streamed.
 *
 * With --tokens T (> 1) it times batches instead: rz_matmul of the matrix
 * with T tokens on one thread (tiles where the path has them, activation
 * conversion included), in GMAC/s, on every ISA path, the run-time layout on
 * the paths that repack into it (use --rows to keep the matrix in cache).
 *
 *   bench_dot [--cols K] [--mib M | --rows R] [--runs N] [--type NAME] [--tokens T]
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "kernels/matmul.h"
#include "bench_util.h"
#include "tensor/type_traits.h"

static float rand_uniform(uint64_t *state) {
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(*state >> 40) * 0x1.0p-24f * 2.0f - 1.0f;
}

enum { PATTERN_ROWS = 64, MAX_RUNS = 64 };

/* Times rows of `type`'s vec_dot over w on every ISA path (with own_only,
 * those with a kernel of their own: a run-time layout's fallbacks are only
 * references); an interleaved layout's rows have no vec_dot, its row groups
 * go through its tile, one token at a time (not its scalar reference). */
static void bench_rows(rz_type type, bool own_only, const unsigned char *w, uint64_t cols, uint64_t rows,
                       const float *f, void *xq, float *y, int runs) {
    const rz_type_traits *t = rz_type_traits_get(type);
    const uint64_t row_bytes = rz_row_bytes(t, cols), w_bytes = rows * row_bytes;
    for (int isa = 0; isa <= (int)rz_isa_best(); isa++) {
        const rz_gemm_kernel *g = &t->gemm[isa];
        const bool groups = own_only && isa != RZ_ISA_SCALAR && g->tile && g->interleaved;
        rz_vec_dot_fn dot = rz_type_vec_dot(type, (rz_isa)isa);
        if (!groups && (!dot || (own_only && !t->vec_dot[isa]))) continue;
        rz_type_from_float_act(t->vec_dot_type, (rz_isa)isa)(f, xq, (int64_t)cols);
        double times[MAX_RUNS];
        for (int run = -1; run < runs; run++) { /* run -1 warms up */
            const double t0 = rz_time_seconds();
            if (groups)
                for (uint64_t r = 0; r < rows; r += (uint64_t)g->rows)
                    g->tile((int64_t)cols, w + r * row_bytes, row_bytes, g->rows, xq, 0, 1, &y[r], 0);
            else
                for (uint64_t r = 0; r < rows; r++)
                    dot((int64_t)cols, &y[r], w + r * row_bytes, xq);
            if (run >= 0) times[run] = rz_time_seconds() - t0;
        }
        const double median = bench_median(times, runs);
        printf("%-7s %-7s %8llu x %-6llu %7.1f MiB  %9.1f ns/row  %7.2f GB/s   x: %s\n", t->name,
               rz_isa_name((rz_isa)isa), (unsigned long long)rows, (unsigned long long)cols,
               w_bytes / 1048576.0, median / (double)rows * 1e9, (double)w_bytes / median * 1e-9,
               rz_type_name(t->vec_dot_type));
        fflush(stdout);
    }
}

/* rz_matmul of w (stored as `type`, or repacked into `layout` when not type)
 * times `tokens` rows of f, on every ISA path (a layout only on those that
 * repack into it). */
static void bench_gemm(rz_type type, rz_type layout, const unsigned char *w, uint64_t cols, uint64_t rows,
                       const float *f, int64_t tokens, int runs) {
    float *y = rz_alloc_aligned((size_t)tokens * rows * sizeof(float));
    for (int isa = 0; isa <= (int)rz_isa_best(); isa++) {
        if (layout != type &&
            rz_type_runtime_layout(type, (int64_t)cols, (int64_t)rows, (rz_isa)isa) != layout)
            continue;
        if (rz_isa_set((rz_isa)isa) != RZ_OK) continue;
        const rz_tensor wt = {.type = layout,
                              .ne = {(int64_t)cols, (int64_t)rows, 1, 1},
                              .row_bytes = rz_row_bytes(rz_type_traits_get(layout), cols),
                              .data = (void *)w};
        void *work = rz_alloc_aligned(rz_matmul_work_size(&wt, tokens));
        double times[MAX_RUNS];
        for (int run = -1; run < runs; run++) {
            const double t0 = rz_time_seconds();
            rz_matmul(NULL, &wt, f, (int64_t)cols, y, (int64_t)rows, tokens, work);
            if (run >= 0) times[run] = rz_time_seconds() - t0;
        }
        const double median = bench_median(times, runs);
        const rz_gemm_kernel *g = rz_type_gemm(layout, (rz_isa)isa);
        char tile[32] = "rows";
        if (g) snprintf(tile, sizeof tile, "tile %dx%d", g->rows, g->tokens);
        printf("%-8s %-7s %6llu x %-6llu x %3lld tokens %10.1f us  %7.2f GMAC/s  (%s)\n",
               rz_type_name(layout), rz_isa_name((rz_isa)isa), (unsigned long long)rows,
               (unsigned long long)cols, (long long)tokens, median * 1e6,
               (double)rows * (double)cols * (double)tokens / median * 1e-9, tile);
        fflush(stdout);
        rz_free_aligned(work);
    }
    rz_isa_set(rz_isa_best());
    rz_free_aligned(y);
}

static int bench_type(rz_type type, uint64_t cols, uint64_t rows, uint64_t target_bytes, int runs,
                      int64_t tokens) {
    const rz_type_traits *t = rz_type_traits_get(type);
    if (cols % t->block_size) {
        printf("%-7s skipped: --cols not a multiple of its %u-element blocks\n", t->name, t->block_size);
        return 0;
    }
    const uint64_t row_bytes = rz_row_bytes(t, cols);
    /* whole groups of any row-interleaved layout */
    if (!rows) rows = target_bytes / row_bytes >= 64 ? target_bytes / row_bytes / 64 * 64 : 1;
    const uint64_t pattern = rows < PATTERN_ROWS ? rows : PATTERN_ROWS;
    const uint64_t w_bytes = rows * row_bytes;
    /* huge pages, as the engine's weights; room for a trailer after the pattern rows */
    unsigned char *w = rz_alloc_large(w_bytes + t->trailer_bytes);
    const uint64_t f_rows = (uint64_t)tokens > pattern ? (uint64_t)tokens : pattern;
    float *f = rz_alloc_aligned(cols * sizeof(float) * f_rows);
    void *xq = rz_alloc_aligned(cols * sizeof(float) * 2); /* room for the widest activation layout */
    float *y = rz_alloc_aligned(rows * sizeof(float));
    if (!w || !f || !xq || !y) {
        fprintf(stderr, "bench_dot: out of memory (%s, %llu MiB)\n", t->name,
                (unsigned long long)(w_bytes >> 20));
        return 1;
    }
    /* A few random rows, tiled: the values do not matter, the traffic does. */
    uint64_t rng = 42;
    for (uint64_t i = 0; i < cols * f_rows; i++)
        f[i] = rand_uniform(&rng) * 0.05f;
    if (t->from_float) {
        t->from_float(f, w, (int64_t)(cols * pattern));
    } else if (t->quantize_tensor(f, w, (int64_t)pattern, (int64_t)cols) != RZ_OK) {
        /* I2_S: a whole tensor, its scale in a trailer (which the rows below overwrite) */
        fprintf(stderr, "bench_dot: %s\n", rz_last_error());
        return 1;
    }
    for (uint64_t r = pattern; r < rows; r++)
        memcpy(w + r * row_bytes, w + r % pattern * row_bytes, row_bytes);
    if (tokens > 1)
        bench_gemm(type, type, w, cols, rows, f, tokens, runs);
    else
        bench_rows(type, false, w, cols, rows, f, xq, y, runs);
    /* Each ISA path's run-time layout (ISAs may want different ones), as the
     * loader takes them: lookup layouts only on request. */
    rz_type done[RZ_ISA_COUNT];
    int n_done = 0;
    for (int isa = 0; isa <= (int)rz_isa_best(); isa++) {
        const rz_type layout = rz_type_runtime_layout(type, (int64_t)cols, (int64_t)rows, (rz_isa)isa);
        bool skip = layout == type || rz_type_traits_get(layout)->batches_slower;
        for (int i = 0; i < n_done; i++)
            skip = skip || done[i] == layout;
        if (skip) continue;
        done[n_done++] = layout;
        const uint64_t layout_bytes = rows * rz_row_bytes(rz_type_traits_get(layout), cols);
        unsigned char *wl = rz_alloc_large(layout_bytes);
        if (!wl) {
            fprintf(stderr, "bench_dot: out of memory (%s)\n", rz_type_name(layout));
            return 1;
        }
        rz_type_repack(type, layout)(w, wl, (int64_t)cols, (int64_t)rows);
        if (tokens > 1)
            bench_gemm(type, layout, wl, cols, rows, f, tokens, runs);
        else
            bench_rows(layout, true, wl, cols, rows, f, xq, y, runs);
        rz_free_large(wl, layout_bytes);
    }
    rz_free_large(w, w_bytes + t->trailer_bytes);
    rz_free_aligned(f);
    rz_free_aligned(xq);
    rz_free_aligned(y);
    return 0;
}

int main(int argc, char **argv) {
    uint64_t cols = 4096, rows = 0, mib = 1024;
    int runs = 5;
    int64_t tokens = 1;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--cols") == 0)
            cols = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--rows") == 0)
            rows = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--mib") == 0)
            mib = strtoull(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--type") == 0)
            only = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--tokens") == 0)
            tokens = strtoll(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_dot [--cols K] [--mib M | --rows R] [--runs N] [--type NAME] "
                            "[--tokens T]\n");
            return 2;
        }
    }
    if (cols == 0 || cols % 32 != 0 || runs < 1 || runs > MAX_RUNS || tokens < 1) {
        fprintf(stderr, "bench_dot: --cols must be a positive multiple of 32, --runs 1..%d, --tokens >= 1\n",
                MAX_RUNS);
        return 2;
    }
    printf("weights per type: %s; median of %d runs, 1 thread, activations converted %s the timing\n",
           rows ? "fixed rows" : "about --mib MiB", runs, tokens > 1 ? "within" : "outside");
    const rz_type types[] = {RZ_TYPE_F32,  RZ_TYPE_F16,    RZ_TYPE_BF16, RZ_TYPE_Q8_0,  RZ_TYPE_Q4_0,
                             RZ_TYPE_Q4_1, RZ_TYPE_Q5_0,   RZ_TYPE_Q5_1, RZ_TYPE_Q2_K,  RZ_TYPE_Q3_K,
                             RZ_TYPE_Q4_K, RZ_TYPE_Q5_K,   RZ_TYPE_Q6_K, RZ_TYPE_TQ1_0, RZ_TYPE_TQ2_0,
                             RZ_TYPE_I2_S, RZ_TYPE_IQ4_NL, RZ_TYPE_MXFP4};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (only && strcmp(only, rz_type_name(types[i])) != 0) continue;
        if (bench_type(types[i], cols, rows, mib << 20, runs, tokens) != 0) return 1;
    }
    return 0;
}
