/* Run-time layouts (docs/layouts.md): repacking is lossless, their scalar
 * references equal the stored type's, and every ISA path's kernels (vec_dot
 * and tiles, one token included) match those references on random data. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quants.h"
#include "tensor/quants_g4.h"
#include "tensor/quants_kg.h"
#include "tensor/type_traits.h"
#include "test_support.h"

static const int64_t lengths[] = {128, 256, 2048 + 128, 5632};

static void random_floats(uint64_t *seed, float *v, int64_t n, float range) {
    for (int64_t i = 0; i < n; i++)
        v[i] = rz_test_rand_uniform(seed, -range, range);
}

/* sum |w_i x_i| over the decoded rows: the scale of the rounding error. */
static double abs_dot(const rz_type_traits *wt, const void *w, const void *x_q8_0, int64_t n) {
    float *wf = malloc((size_t)n * sizeof *wf), *xf = malloc((size_t)n * sizeof *xf);
    wt->to_float(w, wf, n);
    rz_dequantize_row_q8_0(x_q8_0, xf, n);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs((double)wf[i] * xf[i]);
    free(wf);
    free(xf);
    return sum;
}

/* A stored type against its grouped layout. */
static void check_grouped(rz_type stored, rz_type grouped) {
    const rz_type_traits *st = rz_type_traits_get(stored), *g4 = rz_type_traits_get(grouped),
                         *a4 = rz_type_traits_get(RZ_TYPE_A8_G4);
    const rz_vec_dot_fn ref = rz_type_vec_dot(stored, RZ_ISA_SCALAR);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t seed = 11;
    enum { ROWS = RZ_GEMM_TILE, TOKENS = RZ_GEMM_TILE_TOKENS };
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const int64_t n = lengths[li];
        const uint64_t w_bytes = rz_row_bytes(g4, (uint64_t)n), x_bytes = rz_row_bytes(a4, (uint64_t)n);
        const uint64_t q8_bytes = (uint64_t)n / 32 * sizeof(rz_block_q8_0);
        assert_int_equal(w_bytes, rz_row_bytes(st, (uint64_t)n));
        unsigned char *w = malloc(ROWS * w_bytes), *w4 = malloc(ROWS * w_bytes);
        unsigned char *x = malloc(TOKENS * q8_bytes), *x4 = malloc(TOKENS * x_bytes), *x4i = malloc(x_bytes);
        float *values = malloc((size_t)n * sizeof(float)), *a = malloc((size_t)n * sizeof(float)),
              *b = malloc((size_t)n * sizeof(float));
        for (int r = 0; r < ROWS; r++) {
            random_floats(&seed, values, n, 1.0f);
            values[r] = 3.0f; /* an outlier per row */
            st->from_float(values, w + r * w_bytes, n);
            st->repack(w + r * w_bytes, w4 + r * w_bytes, n);
            /* lossless: both layouts decode to the same floats */
            st->to_float(w + r * w_bytes, a, n);
            g4->to_float(w4 + r * w_bytes, b, n);
            assert_memory_equal(a, b, (size_t)n * sizeof(float));
        }
        for (int t = 0; t < TOKENS; t++) {
            random_floats(&seed, values, n, 2.0f);
            rz_quantize_row_q8_0(values, x + t * q8_bytes, n);
            rz_type_from_float_act(RZ_TYPE_A8_G4, RZ_ISA_SCALAR)(values, x4 + t * x_bytes, n);
            /* every ISA writes the same activation bytes */
            for (int p = 0; p < n_paths; p++) {
                rz_type_from_float_act(RZ_TYPE_A8_G4, paths[p])(values, x4i, n);
                assert_memory_equal(x4i, x4 + t * x_bytes, x_bytes);
            }
        }
        for (int r = 0; r < ROWS; r++) {
            for (int t = 0; t < TOKENS; t++) {
                float want, got;
                ref(n, &want, w + r * w_bytes, x + t * q8_bytes);
                /* the scalar reference sums in the same order: bit-exact */
                rz_type_vec_dot(grouped, RZ_ISA_SCALAR)(n, &got, w4 + r * w_bytes, x4 + t * x_bytes);
                assert_memory_equal(&got, &want, sizeof got);
                const double tol = 1e-5 * abs_dot(st, w + r * w_bytes, x + t * q8_bytes, n) + 1e-6;
                for (int p = 0; p < n_paths; p++) {
                    rz_type_vec_dot(grouped, paths[p])(n, &got, w4 + r * w_bytes, x4 + t * x_bytes);
                    if (fabs((double)got - want) > tol)
                        fail_msg("n=%lld isa %d vec_dot row %d token %d: %g vs %g", (long long)n, paths[p], r,
                                 t, got, want);
                }
            }
        }
        for (int p = 0; p < n_paths; p++) {
            rz_gemm_tile_fn tile = rz_type_gemm_tile(grouped, paths[p]);
            if (!tile) continue;
            for (int nr = 1; nr <= ROWS; nr++)
                for (int nt = 1; nt <= TOKENS; nt++) {
                    float y[TOKENS * ROWS] = {0};
                    tile(n, w4, w_bytes, nr, x4, x_bytes, nt, y, ROWS);
                    for (int t = 0; t < TOKENS; t++)
                        for (int r = 0; r < ROWS; r++) {
                            if (t >= nt || r >= nr) {
                                assert_true(y[t * ROWS + r] == 0.0f); /* not stored */
                                continue;
                            }
                            float want;
                            ref(n, &want, w + r * w_bytes, x + t * q8_bytes);
                            const double tol =
                                1e-5 * abs_dot(st, w + r * w_bytes, x + t * q8_bytes, n) + 1e-6;
                            if (fabs((double)y[t * ROWS + r] - want) > tol)
                                fail_msg("n=%lld isa %d tile %dx%d at (%d, %d): %g vs %g", (long long)n,
                                         paths[p], nr, nt, r, t, y[t * ROWS + r], want);
                        }
                }
        }
        free(w);
        free(w4);
        free(x);
        free(x4);
        free(x4i);
        free(values);
        free(a);
        free(b);
    }
}

static void test_q4_0_g4(void **state) {
    (void)state;
    check_grouped(RZ_TYPE_Q4_0, RZ_TYPE_Q4_0_G4);
}

static void test_q8_0_g4(void **state) {
    (void)state;
    check_grouped(RZ_TYPE_Q8_0, RZ_TYPE_Q8_0_G4);
}

/* sum |w_i x_i| of a Q4_K row and Q8_K activations. */
static double abs_dot_k(const void *w_q4_K, const void *x_q8_K, int64_t n) {
    float *wf = malloc((size_t)n * sizeof *wf), *xf = malloc((size_t)n * sizeof *xf);
    rz_dequantize_row_q4_K(w_q4_K, wf, n);
    rz_dequantize_row_q8_K(x_q8_K, xf, n);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs((double)wf[i] * xf[i]);
    free(wf);
    free(xf);
    return sum;
}

/* Q4_K rows: quantized ones, then raw random blocks (every 6-bit scale and
 * min pattern) and blocks of all-63 scales and mins with large d, dmin. */
static void q4_K_row(uint64_t *seed, int r, float *values, rz_block_q4_K *w, int64_t n) {
    random_floats(seed, values, n, 1.0f);
    values[r] = 3.0f; /* an outlier per row */
    rz_quantize_row_q4_K_ref(values, w, n);
    if (r < 2) return;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        unsigned char *bytes = (unsigned char *)&w[b];
        for (size_t i = 0; i < sizeof w[b]; i++)
            bytes[i] = (unsigned char)rz_test_rand_u64(seed);
        if (r == 3) memset(w[b].scales, 0xff, sizeof w[b].scales);
        w[b].d = rz_f32_to_fp16(rz_test_rand_uniform(seed, -300.0f, 300.0f));
        w[b].dmin = rz_f32_to_fp16(rz_test_rand_uniform(seed, -300.0f, 300.0f));
    }
}

/* Activations: random, then with ties of opposite sign at the extreme (the
 * first one sets the sign of d) and an all-zero first block. */
static void a8_k_token(uint64_t *seed, int t, float *values, int64_t n) {
    random_floats(seed, values, n, 2.0f);
    if (t == 1)
        for (int64_t b = 0; b < n / RZ_QK_K; b++) {
            values[b * RZ_QK_K + 37] = -5.0f;
            values[b * RZ_QK_K + 200] = 5.0f;
        }
    if (t == 2) memset(values, 0, RZ_QK_K * sizeof *values);
}

static void test_q4_k_g(void **state) {
    (void)state;
    static const int64_t k_lengths[] = {256, 512, 2048, 5632};
    const rz_type_traits *st = rz_type_traits_get(RZ_TYPE_Q4_K), *kg = rz_type_traits_get(RZ_TYPE_Q4_K_G),
                         *ak = rz_type_traits_get(RZ_TYPE_A8_K);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t seed = 13;
    enum { ROWS = RZ_GEMM_TILE, TOKENS = RZ_GEMM_TILE_TOKENS };
    for (size_t li = 0; li < sizeof k_lengths / sizeof k_lengths[0]; li++) {
        const int64_t n = k_lengths[li];
        const uint64_t w_bytes = rz_row_bytes(st, (uint64_t)n), g_bytes = rz_row_bytes(kg, (uint64_t)n),
                       x_bytes = rz_row_bytes(ak, (uint64_t)n);
        const uint64_t q8_bytes = (uint64_t)n / RZ_QK_K * sizeof(rz_block_q8_K);
        assert_int_equal(g_bytes, w_bytes); /* the loader's assumption */
        unsigned char *w = malloc(ROWS * w_bytes), *wg = malloc(ROWS * g_bytes);
        unsigned char *x = malloc(TOKENS * q8_bytes), *xk = malloc(TOKENS * x_bytes), *xki = malloc(x_bytes);
        float *values = malloc((size_t)n * sizeof(float)), *a = malloc((size_t)n * sizeof(float)),
              *b = malloc((size_t)n * sizeof(float));
        for (int r = 0; r < ROWS; r++) {
            q4_K_row(&seed, r, values, (rz_block_q4_K *)(w + r * w_bytes), n);
            st->repack(w + r * w_bytes, wg + r * g_bytes, n);
            /* lossless: both layouts decode to the same floats */
            st->to_float(w + r * w_bytes, a, n);
            kg->to_float(wg + r * g_bytes, b, n);
            assert_memory_equal(a, b, (size_t)n * sizeof(float));
        }
        for (int t = 0; t < TOKENS; t++) {
            a8_k_token(&seed, t, values, n);
            rz_quantize_row_q8_K(values, x + t * q8_bytes, n);
            rz_type_from_float_act(RZ_TYPE_A8_K, RZ_ISA_SCALAR)(values, xk + t * x_bytes, n);
            /* every ISA writes the same activation bytes */
            for (int p = 0; p < n_paths; p++) {
                rz_type_from_float_act(RZ_TYPE_A8_K, paths[p])(values, xki, n);
                assert_memory_equal(xki, xk + t * x_bytes, x_bytes);
            }
        }
        for (int r = 0; r < ROWS; r++)
            for (int t = 0; t < TOKENS; t++) {
                float want, got;
                rz_vec_dot_q4_K_q8_K(n, &want, w + r * w_bytes, x + t * q8_bytes);
                /* the scalar reference sums in the same order: bit-exact */
                rz_type_vec_dot(RZ_TYPE_Q4_K_G, RZ_ISA_SCALAR)(n, &got, wg + r * g_bytes, xk + t * x_bytes);
                assert_memory_equal(&got, &want, sizeof got);
                const double tol = 1e-5 * abs_dot_k(w + r * w_bytes, x + t * q8_bytes, n) + 1e-6;
                for (int p = 0; p < n_paths; p++) {
                    rz_type_vec_dot(RZ_TYPE_Q4_K_G, paths[p])(n, &got, wg + r * g_bytes, xk + t * x_bytes);
                    if (fabs((double)got - want) > tol)
                        fail_msg("n=%lld isa %d vec_dot row %d token %d: %g vs %g", (long long)n, paths[p], r,
                                 t, got, want);
                }
            }
        for (int p = 0; p < n_paths; p++) {
            rz_gemm_tile_fn tile = rz_type_gemm_tile(RZ_TYPE_Q4_K_G, paths[p]);
            if (!tile) continue;
            for (int nr = 1; nr <= ROWS; nr++)
                for (int nt = 1; nt <= TOKENS; nt++) {
                    float y[TOKENS * ROWS] = {0};
                    tile(n, wg, g_bytes, nr, xk, x_bytes, nt, y, ROWS);
                    for (int t = 0; t < TOKENS; t++)
                        for (int r = 0; r < ROWS; r++) {
                            if (t >= nt || r >= nr) {
                                assert_true(y[t * ROWS + r] == 0.0f); /* not stored */
                                continue;
                            }
                            float want;
                            rz_vec_dot_q4_K_q8_K(n, &want, w + r * w_bytes, x + t * q8_bytes);
                            const double tol = 1e-5 * abs_dot_k(w + r * w_bytes, x + t * q8_bytes, n) + 1e-6;
                            if (fabs((double)y[t * ROWS + r] - want) > tol)
                                fail_msg("n=%lld isa %d tile %dx%d at (%d, %d): %g vs %g", (long long)n,
                                         paths[p], nr, nt, r, t, y[t * ROWS + r], want);
                        }
                }
        }
        free(w);
        free(wg);
        free(x);
        free(xk);
        free(xki);
        free(values);
        free(a);
        free(b);
    }
}

/* Repacked only where the ISA has the layout's own kernel and rows are whole
 * groups; never readable from a file. */
static void test_runtime_layout_choice(void **state) {
    (void)state;
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 256, RZ_ISA_SCALAR), RZ_TYPE_Q4_0);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 256, RZ_ISA_AVX2), RZ_TYPE_Q4_0);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 256, RZ_ISA_AVX512), RZ_TYPE_Q4_0_G4);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 96, RZ_ISA_AVX512), RZ_TYPE_Q4_0);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q8_0, 256, RZ_ISA_AVX512), RZ_TYPE_Q8_0_G4);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_F16, 256, RZ_ISA_AVX512), RZ_TYPE_F16);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_K, 256, RZ_ISA_AVX512), RZ_TYPE_Q4_K_G);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_K, 256, RZ_ISA_AVX2), RZ_TYPE_Q4_K);
    assert_true(rz_type_traits_get(RZ_TYPE_Q4_0_G4)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_A8_G4)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_Q8_0_G4)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_Q4_K_G)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_A8_K)->runtime_only);
    assert_false(rz_type_can_quantize(RZ_TYPE_Q4_0_G4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0_g4),
        cmocka_unit_test(test_q8_0_g4),
        cmocka_unit_test(test_q4_k_g),
        cmocka_unit_test(test_runtime_layout_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
