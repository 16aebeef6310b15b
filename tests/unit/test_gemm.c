/* Tiled products against rows of the type's vec_dot (their reference), on
 * random blocks, every tile shape and odd block counts; tiles that read
 * another activation type (rz_type_act_type) get the same floats in it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/matmul.h"
#include "tensor/quants.h"
#include "tensor/type_traits.h"
#include "test_support.h"

static void check_type(rz_type type) {
    enum { ROWS = RZ_GEMM_MAX_ROWS, TOKENS = RZ_GEMM_MAX_TOKENS };
    const rz_type_traits *t = rz_type_traits_get(type);
    const rz_type_traits *at = rz_type_traits_get(t->vec_dot_type);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    const int64_t lengths[] = {32, 64, 96, 256, 1280, 2048 + 32, 2048 + 48};
    const rz_vec_dot_fn dot = rz_type_vec_dot(type, RZ_ISA_SCALAR);
    uint64_t seed = 7;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const int64_t n = lengths[li];
        if (n % t->block_size) continue;
        const uint64_t w_bytes = rz_row_bytes(t, (uint64_t)n), x_bytes = rz_row_bytes(at, (uint64_t)n);
        unsigned char *w = malloc(ROWS * w_bytes + t->trailer_bytes);
        unsigned char *x = malloc(TOKENS * x_bytes);
        float *values = malloc(ROWS * (size_t)n * sizeof(float)),
              *tokens = malloc(TOKENS * (size_t)n * sizeof(float));
        for (int r = 0; r < ROWS; r++) {
            for (int64_t i = 0; i < n; i++)
                values[r * n + i] = rz_test_rand_uniform(&seed, -1.0f, 1.0f);
            values[r * n + r] = 3.0f; /* an outlier per row */
            if (t->from_float) t->from_float(values + r * n, w + r * w_bytes, n);
        }
        /* I2_S: no row quantizer, one scale for the matrix */
        if (!t->from_float) RZ_ASSERT_OK(t->quantize_tensor(values, w, ROWS, n));
        for (int k = 0; k < TOKENS; k++) {
            for (int64_t i = 0; i < n; i++)
                tokens[k * n + i] = rz_test_rand_uniform(&seed, -2.0f, 2.0f);
            rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR)(tokens + k * n, x + k * x_bytes, n);
        }
        /* References and tolerances, computed once for every tile shape. */
        float ref[TOKENS][ROWS], tol[TOKENS][ROWS];
        for (int k = 0; k < TOKENS; k++)
            for (int r = 0; r < ROWS; r++) {
                dot(n, &ref[k][r], w + r * w_bytes, x + k * x_bytes);
                /* Summation order differs: bound by the size of the terms. I2_S
                 * sums whole rows in integers, then takes vec_dot's float steps. */
                tol[k][r] = type == RZ_TYPE_I2_S
                                ? 0.0f
                                : 1e-5f * fmaxf(1.0f, (float)rz_test_abs_dot(type, w + r * w_bytes,
                                                                             x + k * x_bytes, n));
            }
        for (int p = 0; p < n_paths; p++) {
            const rz_gemm_kernel *g = rz_type_gemm(type, paths[p]);
            if (!g) continue;
            assert_true(g->rows >= 1 && g->rows <= ROWS && g->tokens >= 1 && g->tokens <= TOKENS);
            const rz_type gt = rz_type_act_type(type, g);
            const uint64_t gx_bytes = rz_row_bytes(rz_type_traits_get(gt), (uint64_t)n);
            unsigned char *gx = malloc(TOKENS * gx_bytes);
            for (int k = 0; k < TOKENS; k++)
                rz_type_from_float_act(gt, RZ_ISA_SCALAR)(tokens + k * n, gx + k * gx_bytes, n);
            for (int nr = 1; nr <= g->rows; nr++) {
                for (int nt = 1; nt <= g->tokens; nt++) {
                    float y[TOKENS * ROWS];
                    memset(y, 0, sizeof y);
                    g->tile(n, w, w_bytes, nr, gx, gx_bytes, nt, y, ROWS);
                    for (int k = 0; k < TOKENS; k++)
                        for (int r = 0; r < ROWS; r++) {
                            const float got = y[k * ROWS + r];
                            if (k >= nt || r >= nr) {
                                assert_true(got == 0.0f); /* outside the tile: not stored */
                                continue;
                            }
                            if (fabsf(got - ref[k][r]) > tol[k][r])
                                fail_msg("%s %s n=%lld tile %dx%d [%d,%d]: %.9g vs %.9g", rz_type_name(type),
                                         rz_isa_name(paths[p]), (long long)n, nr, nt, r, k, got, ref[k][r]);
                        }
                }
            }
            free(gx);
        }
        free(w);
        free(x);
        free(values);
        free(tokens);
    }
}

static void test_q4_0(void **state) {
    (void)state;
    check_type(RZ_TYPE_Q4_0);
}

static void test_q8_0(void **state) {
    (void)state;
    check_type(RZ_TYPE_Q8_0);
}

static void test_f16(void **state) {
    (void)state;
    check_type(RZ_TYPE_F16);
}

static void test_bf16(void **state) {
    (void)state;
    check_type(RZ_TYPE_BF16);
}

static void test_q3_K(void **state) {
    (void)state;
    check_type(RZ_TYPE_Q3_K);
}

static void test_q4_K(void **state) {
    (void)state;
    check_type(RZ_TYPE_Q4_K);
}

static void test_q5_K(void **state) {
    (void)state;
    check_type(RZ_TYPE_Q5_K);
}

static void test_q6_K(void **state) {
    (void)state;
    check_type(RZ_TYPE_Q6_K);
}

static void test_iq4_nl(void **state) {
    (void)state;
    check_type(RZ_TYPE_IQ4_NL);
}

static void test_mxfp4(void **state) {
    (void)state;
    check_type(RZ_TYPE_MXFP4);
}

static void test_tq1_0(void **state) {
    (void)state;
    check_type(RZ_TYPE_TQ1_0);
}

static void test_tq2_0(void **state) {
    (void)state;
    check_type(RZ_TYPE_TQ2_0);
}

static void test_i2_s(void **state) {
    (void)state;
    check_type(RZ_TYPE_I2_S);
}

/* rz_matmul on batches against its scalar path (rows of the scalar
 * vec_dot, or the scalar tile of a row-interleaved layout), on every ISA
 * path, one thread and two, the stored layout and each run-time one on the
 * paths that would repack into it (Q4_0: Q4_0_R8 on AVX2 where rows are
 * groups of 8, else Q4_0_G4): ragged row and token tiles, rows in whole
 * groups of 8 but not of the 16-row chunks, one token and odd counts, and
 * batches whose activations (F16_ACT, BF16_ACT: 16 KB a token here) are
 * split into several token blocks. */
static void test_matmul_batches(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    const rz_type types[] = {RZ_TYPE_F16,  RZ_TYPE_BF16, RZ_TYPE_Q8_0,
                             RZ_TYPE_Q4_0, RZ_TYPE_Q6_K, RZ_TYPE_Q4_K};
    const int64_t shapes[][3] = {{4096, 9, 70}, {4096, 21, 33}, {512, 7, 5}, {4096, 40, 70},
                                 {1024, 24, 9}, {1024, 24, 1},  {256, 8, 3}}; /* k, rows, tokens */
    rz_threadpool *pool2;
    RZ_ASSERT_OK(rz_threadpool_create(2, &pool2));
    rz_threadpool *const pools[] = {NULL, pool2};
    uint64_t seed = 11;
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const rz_type_traits *st = rz_type_traits_get(types[ti]);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int64_t cols = shapes[si][0], rows = shapes[si][1], tokens = shapes[si][2];
            const uint64_t row_bytes = rz_row_bytes(st, (uint64_t)cols);
            float *x = malloc((size_t)(tokens * cols) * sizeof *x),
                  *values = malloc((size_t)cols * sizeof *values);
            float *ref = malloc((size_t)(tokens * rows) * sizeof *ref),
                  *y = malloc((size_t)(tokens * rows) * sizeof *y);
            unsigned char *w = malloc(rows * row_bytes), *wl = malloc(rows * row_bytes);
            for (int64_t i = 0; i < tokens * cols; i++)
                x[i] = rz_test_rand_uniform(&seed, -2.0f, 2.0f);
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t i = 0; i < cols; i++)
                    values[i] = rz_test_rand_uniform(&seed, -1.0f, 1.0f);
                st->from_float(values, w + r * row_bytes, cols);
            }
            /* the stored layout, then the run-time ones the paths pick */
            rz_type layouts[1 + RZ_ISA_COUNT] = {types[ti]};
            int n_layouts = 1;
            for (int p = 0; p < n_paths; p++) {
                const rz_type l = rz_type_runtime_layout(types[ti], cols, rows, paths[p]);
                int seen = 0;
                while (seen < n_layouts && layouts[seen] != l)
                    seen++;
                if (seen == n_layouts) layouts[n_layouts++] = l;
            }
            for (int li = 0; li < n_layouts; li++) {
                if (li) rz_type_repack(types[ti], layouts[li])(w, wl, cols, rows);
                const rz_tensor wt = {.type = layouts[li],
                                      .ne = {cols, rows, 1, 1},
                                      .row_bytes = row_bytes,
                                      .data = li ? wl : w};
                size_t work_size = 0;
                for (int p = 0; p < n_paths; p++) {
                    RZ_ASSERT_OK(rz_isa_set(paths[p]));
                    const size_t size = rz_matmul_work_size(&wt, tokens);
                    work_size = size > work_size ? size : work_size;
                }
                void *work = malloc(work_size);
                RZ_ASSERT_OK(rz_isa_set(RZ_ISA_SCALAR));
                rz_matmul(NULL, &wt, x, cols, ref, rows, tokens, work);
                for (int p = 0; p < n_paths; p++) {
                    /* a layout only on the paths that repack into it, not its scalar reference */
                    if (li && rz_type_runtime_layout(types[ti], cols, rows, paths[p]) != layouts[li])
                        continue;
                    RZ_ASSERT_OK(rz_isa_set(paths[p]));
                    for (size_t pi = 0; pi < sizeof pools / sizeof pools[0]; pi++) {
                        for (int64_t j = 0; j < tokens * rows; j++)
                            y[j] = NAN; /* every output written */
                        rz_matmul(pools[pi], &wt, x, cols, y, rows, tokens, work);
                        for (int64_t j = 0; j < tokens * rows; j++)
                            if (!(fabsf(y[j] - ref[j]) <= 1e-4f * fmaxf(1.0f, fabsf(ref[j]))))
                                fail_msg("%s matmul on %s, %zu threads, %lldx%lld x %lld tokens, [%lld]: "
                                         "%.9g vs %.9g",
                                         rz_type_name(layouts[li]), rz_isa_name(paths[p]), pi + 1,
                                         (long long)rows, (long long)cols, (long long)tokens, (long long)j,
                                         y[j], ref[j]);
                    }
                }
                RZ_ASSERT_OK(rz_isa_set(rz_isa_best()));
                free(work);
            }
            free(x);
            free(values);
            free(ref);
            free(y);
            free(w);
            free(wl);
        }
    }
    rz_threadpool_free(pool2);
}

/* One token through rz_matmul_fused on 1-3 threads, whose rows are read two
 * claims at a time per thread (gemv_task), against the rows of the type's
 * vec_dot on the same activations: bit for bit, every row written once. Three
 * parts of ragged sizes, in the stored layout and the run-time one; the last
 * on an input of its own (as a token's experts are). */
static void test_matmul_gemv_threads(void **state) {
    (void)state;
    enum { COLS = 512, PARTS = 3 };
    const int64_t part_rows[PARTS] = {301, 40, 57};
    const rz_type types[] = {RZ_TYPE_F16, RZ_TYPE_Q8_0, RZ_TYPE_Q4_0};
    uint64_t seed = 5;
    float x[COLS], x_own[COLS];
    for (int i = 0; i < COLS; i++) {
        x[i] = rz_test_rand_uniform(&seed, -2.0f, 2.0f);
        x_own[i] = rz_test_rand_uniform(&seed, -2.0f, 2.0f);
    }
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const rz_type_traits *st = rz_type_traits_get(types[ti]);
        const uint64_t row_bytes = rz_row_bytes(st, COLS);
        const rz_type layouts[] = {types[ti], rz_type_runtime_layout(types[ti], COLS, 40, rz_isa_best())};
        for (int li = 0; li < (layouts[1] != layouts[0] ? 2 : 1); li++) {
            const rz_type_traits *lt = rz_type_traits_get(layouts[li]);
            unsigned char *w[PARTS];
            rz_tensor wt[PARTS];
            float *y[PARTS], *ref[PARTS];
            for (int p = 0; p < PARTS; p++) {
                unsigned char *stored = malloc(part_rows[p] * row_bytes);
                float values[COLS];
                for (int64_t r = 0; r < part_rows[p]; r++) {
                    for (int i = 0; i < COLS; i++)
                        values[i] = rz_test_rand_uniform(&seed, -1.0f, 1.0f);
                    st->from_float(values, stored + r * row_bytes, COLS);
                }
                w[p] = stored;
                if (li) {
                    w[p] = malloc(part_rows[p] * row_bytes);
                    rz_type_repack(types[ti], layouts[li])(stored, w[p], COLS, part_rows[p]);
                    free(stored);
                }
                wt[p] = (rz_tensor){.type = layouts[li],
                                    .ne = {COLS, part_rows[p], 1, 1},
                                    .row_bytes = row_bytes,
                                    .data = w[p]};
                y[p] = malloc((size_t)part_rows[p] * sizeof(float));
                ref[p] = malloc((size_t)part_rows[p] * sizeof(float));
            }
            const rz_type at = lt->vec_dot_type;
            unsigned char *xq = malloc(rz_row_bytes(rz_type_traits_get(at), COLS));
            unsigned char *xq_own = malloc(rz_row_bytes(rz_type_traits_get(at), COLS));
            rz_type_from_float_act(at, rz_isa_best())(x, xq, COLS);
            rz_type_from_float_act(at, rz_isa_best())(x_own, xq_own, COLS);
            for (int p = 0; p < PARTS; p++)
                for (int64_t r = 0; r < part_rows[p]; r++)
                    rz_type_vec_dot(layouts[li], rz_isa_best())(COLS, &ref[p][r], w[p] + r * row_bytes,
                                                                p == PARTS - 1 ? xq_own : xq);
            const rz_tensor *ws[PARTS] = {&wt[0], &wt[1], &wt[2]};
            void *work = malloc(rz_matmul_fused_work_size(ws, PARTS, 1));
            for (int n_threads = 1; n_threads <= 3; n_threads++) {
                rz_threadpool *pool;
                RZ_ASSERT_OK(rz_threadpool_create(n_threads, &pool));
                for (int rep = 0; rep < 20; rep++) {
                    rz_matmul_out outs[PARTS];
                    for (int p = 0; p < PARTS; p++) {
                        for (int64_t r = 0; r < part_rows[p]; r++)
                            y[p][r] = NAN;
                        outs[p] = (rz_matmul_out){.w = &wt[p], .y = y[p], .y_stride = part_rows[p]};
                    }
                    outs[PARTS - 1].x = x_own;
                    rz_matmul_fused(pool, outs, PARTS, x, COLS, 1, work, NULL, 0);
                    for (int p = 0; p < PARTS; p++)
                        for (int64_t r = 0; r < part_rows[p]; r++)
                            if (memcmp(&y[p][r], &ref[p][r], sizeof(float)))
                                fail_msg("%s, %d threads, part %d row %lld: %.9g vs %.9g",
                                         rz_type_name(layouts[li]), n_threads, p, (long long)r, y[p][r],
                                         ref[p][r]);
                }
                rz_threadpool_free(pool);
            }
            free(work);
            free(xq);
            free(xq_own);
            for (int p = 0; p < PARTS; p++) {
                free(w[p]);
                free(y[p]);
                free(ref[p]);
            }
        }
    }
}

/* More parts than one region takes (RZ_MATMUL_MAX_PARTS), each on inputs
 * of its own with a token count of its own (a pass's experts), against
 * rz_matmul of each part alone: bit for bit. */
static void test_matmul_parts_own_inputs(void **state) {
    (void)state;
    enum { COLS = 256, ROWS = 48, PARTS = RZ_MATMUL_MAX_PARTS + 9, MAX_T = 5 };
    const rz_type type = RZ_TYPE_Q8_0;
    const rz_type_traits *tt = rz_type_traits_get(type);
    const uint64_t row_bytes = rz_row_bytes(tt, COLS);
    uint64_t seed = 17;
    unsigned char *w = malloc(PARTS * ROWS * row_bytes);
    float *x = malloc(PARTS * MAX_T * COLS * sizeof(float)), values[COLS];
    float *y = malloc(PARTS * MAX_T * ROWS * sizeof(float)),
          *ref = malloc(PARTS * MAX_T * ROWS * sizeof(float));
    assert_true(w && x && y && ref);
    for (int r = 0; r < PARTS * ROWS; r++) {
        for (int i = 0; i < COLS; i++)
            values[i] = rz_test_rand_uniform(&seed, -1.0f, 1.0f);
        tt->from_float(values, w + (size_t)r * row_bytes, COLS);
    }
    for (int i = 0; i < PARTS * MAX_T * COLS; i++)
        x[i] = rz_test_rand_uniform(&seed, -2.0f, 2.0f);
    rz_tensor wt[PARTS];
    rz_matmul_out outs[PARTS];
    const rz_tensor *ws[PARTS];
    for (int p = 0; p < PARTS; p++) {
        wt[p] = (rz_tensor){.type = type,
                            .ne = {COLS, ROWS, 1, 1},
                            .row_bytes = row_bytes,
                            .data = w + (size_t)p * ROWS * row_bytes};
        ws[p] = &wt[p];
        outs[p] = (rz_matmul_out){.w = &wt[p],
                                  .y = y + p * MAX_T * ROWS,
                                  .y_stride = ROWS,
                                  .x = x + p * MAX_T * COLS,
                                  .n_tokens = 1 + p % MAX_T};
    }
    void *work = malloc(rz_matmul_fused_work_size(ws, PARTS, MAX_T));
    assert_non_null(work);
    rz_threadpool *pool;
    RZ_ASSERT_OK(rz_threadpool_create(2, &pool));
    for (int p = 0; p < PARTS; p++)
        rz_matmul(pool, &wt[p], outs[p].x, COLS, ref + p * MAX_T * ROWS, ROWS, outs[p].n_tokens, work);
    memset(y, 0, PARTS * MAX_T * ROWS * sizeof(float));
    rz_matmul_fused(pool, outs, PARTS, x, COLS, MAX_T, work, NULL, 0);
    for (int p = 0; p < PARTS; p++)
        for (int64_t i = 0; i < outs[p].n_tokens * ROWS; i++)
            if (memcmp(&outs[p].y[i], &ref[p * MAX_T * ROWS + i], sizeof(float)))
                fail_msg("part %d value %lld: %.9g vs %.9g", p, (long long)i, outs[p].y[i],
                         ref[p * MAX_T * ROWS + i]);
    rz_threadpool_free(pool);
    free(work);
    free(w);
    free(x);
    free(y);
    free(ref);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0),
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_q3_K),
        cmocka_unit_test(test_q4_K),
        cmocka_unit_test(test_q5_K),
        cmocka_unit_test(test_q6_K),
        cmocka_unit_test(test_iq4_nl),
        cmocka_unit_test(test_mxfp4),
        cmocka_unit_test(test_tq1_0),
        cmocka_unit_test(test_tq2_0),
        cmocka_unit_test(test_i2_s),
        cmocka_unit_test(test_matmul_batches),
        cmocka_unit_test(test_matmul_gemv_threads),
        cmocka_unit_test(test_matmul_parts_own_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
