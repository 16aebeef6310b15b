/* Ternary types (TQ1_0, TQ2_0, I2_S): layouts against ggml / bitnet.cpp's
 * golden data, lossless absmean round trips of ternary weights, and every
 * ISA path's kernels against the scalar references on ragged shapes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/matmul.h"
#include "tensor/quants_k.h"
#include "tensor/quants_ternary.h"
#include "tensor/type_traits.h"
#include "test_support.h"

static const rz_type ternary_types[] = {RZ_TYPE_TQ1_0, RZ_TYPE_TQ2_0, RZ_TYPE_I2_S};

/* n weights t * s with t uniform in {-1, 0, 1} and s exact in fp16. */
static float *ternary_weights(uint64_t *rng, int64_t n, float *s) {
    float *w = malloc((size_t)n * sizeof *w);
    assert_non_null(w);
    *s = rz_fp16_to_f32(rz_f32_to_fp16(rz_test_rand_uniform(rng, 0.01f, 0.04f)));
    for (int64_t i = 0; i < n; i++)
        w[i] = (float)((int)(rz_test_rand_u64(rng) % 3) - 1) * *s;
    return w;
}

static void *quantize_whole(rz_type type, const float *w, int64_t rows, int64_t cols) {
    uint64_t bytes;
    RZ_ASSERT_OK(rz_type_tensor_bytes(type, (uint64_t)(rows * cols), &bytes));
    void *q = malloc(bytes);
    assert_non_null(q);
    RZ_ASSERT_OK(rz_type_traits_get(type)->quantize_tensor(w, q, rows, cols));
    return q;
}

static void test_round_trip_lossless(void **state) {
    (void)state;
    uint64_t rng = 5;
    const int64_t rows = 7, cols = 768;
    for (size_t k = 0; k < sizeof ternary_types / sizeof ternary_types[0]; k++) {
        float s;
        float *w = ternary_weights(&rng, rows * cols, &s);
        void *q = quantize_whole(ternary_types[k], w, rows, cols);
        float *back = malloc((size_t)(rows * cols) * sizeof *back);
        RZ_ASSERT_OK(rz_dequantize(ternary_types[k], q, back, (uint64_t)(rows * cols)));
        assert_memory_equal(back, w, (size_t)(rows * cols) * sizeof *w);
        /* the per-block reference quantizers agree on ternary input */
        if (ternary_types[k] != RZ_TYPE_I2_S) {
            RZ_ASSERT_OK(rz_quantize(ternary_types[k], w, q, (uint64_t)(rows * cols)));
            RZ_ASSERT_OK(rz_dequantize(ternary_types[k], q, back, (uint64_t)(rows * cols)));
            assert_memory_equal(back, w, (size_t)(rows * cols) * sizeof *w);
        }
        free(back);
        free(q);
        free(w);
    }
}

/* Absmean: codes round(w / mean|w|) clamped; zero stays zero. */
static void test_absmean_codes(void **state) {
    (void)state;
    enum { N = 640 }; /* a multiple of both 5 and 128 */
    float w[N], back[N];
    for (int i = 0; i < N; i++)
        w[i] = (float)((i % 5) - 2) * 0.5f; /* -1 -0.5 0 0.5 1: mean 0.6 */
    void *q = quantize_whole(RZ_TYPE_I2_S, w, 1, N);
    RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_I2_S, q, back, N));
    /* |w| / 0.6 = 1.67 and 0.83 both give code 1; s = mean |w| over them */
    for (int i = 0; i < N; i++)
        assert_true(back[i] == (w[i] > 0 ? 0.75f : w[i] < 0 ? -0.75f : 0.0f));
    free(q);
}

static void fill(uint64_t *rng, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = rz_test_rand_uniform(rng, -1.0f, 1.0f);
}

/* Every ISA's activation converter writes the scalar bytes, and every
 * vec_dot agrees with scalar: bit-exact for I2_S (exact integer sums, same
 * float steps), 1e-5 relative otherwise. */
static void test_isa_matches_scalar(void **state) {
    (void)state;
    uint64_t rng = 11;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (size_t k = 0; k < sizeof ternary_types / sizeof ternary_types[0]; k++) {
        const rz_type type = ternary_types[k];
        const rz_type_traits *t = rz_type_traits_get(type);
        const rz_type_traits *at = rz_type_traits_get(t->vec_dot_type);
        if (!t->vec_dot[0] || !rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR)) continue;
        for (int nb = 1; nb <= 29; nb += 3) {
            const int64_t n = nb * (int64_t)t->block_size; /* I2_S: odd group counts too */
            float s, *x = malloc((size_t)n * sizeof *x);
            fill(&rng, x, n);
            if (nb == 4) x[n / 3] = 40.0f; /* an outlier sets the activation scale */
            float *w = ternary_weights(&rng, n, &s);
            void *q = quantize_whole(type, w, 1, n);
            const size_t act_bytes = rz_row_bytes(at, (uint64_t)n);
            char *ref_act = malloc(act_bytes), *act = malloc(act_bytes);
            rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR)(x, ref_act, n);
            float ref;
            t->vec_dot[0](n, &ref, q, ref_act);
            for (int p = 0; p < n_paths; p++) {
                rz_type_from_float_act(t->vec_dot_type, paths[p])(x, act, n);
                if (memcmp(act, ref_act, act_bytes) != 0)
                    fail_msg("%s activations differ on %s, n=%lld", at->name, rz_isa_name(paths[p]),
                             (long long)n);
                float got;
                rz_type_vec_dot(type, paths[p])(n, &got, q, act);
                const float tol = type == RZ_TYPE_I2_S ? 0.0f : 1e-5f * fmaxf(1.0f, fabsf(ref));
                if (fabsf(got - ref) > tol)
                    fail_msg("%s vec_dot on %s, n=%lld: %.9g vs %.9g", t->name, rz_isa_name(paths[p]),
                             (long long)n, got, ref);
            }
            free(ref_act);
            free(act);
            free(q);
            free(w);
            free(x);
        }
    }
}

/* rz_matmul on batches (the tiled kernels where an ISA has them) against
 * the scalar rows of vec_dot, ragged rows and tokens included. */
static void test_matmul_batches_match_scalar(void **state) {
    (void)state;
    uint64_t rng = 17;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    const int64_t shapes[][3] = {{384, 37, 7}, {128, 5, 2}, {1024, 16, 13},
                                 {768, 9, 4},  {256, 6, 5}, {512, 7, 3}}; /* k, rows, tokens */
    for (size_t k = 0; k < sizeof ternary_types / sizeof ternary_types[0]; k++) {
        const rz_type type = ternary_types[k];
        const rz_type_traits *t = rz_type_traits_get(type);
        if (!t->vec_dot[0] || !rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR)) continue;
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const int64_t cols = shapes[i][0], rows = shapes[i][1], tokens = shapes[i][2];
            if (cols % t->block_size) continue;
            float s, *x = malloc((size_t)(tokens * cols) * sizeof *x);
            float *ref = malloc((size_t)(tokens * rows) * sizeof *ref),
                  *y = malloc((size_t)(tokens * rows) * sizeof *y);
            fill(&rng, x, tokens * cols);
            float *w = ternary_weights(&rng, rows * cols, &s);
            void *q = quantize_whole(type, w, rows, cols);
            const rz_tensor wt = {.type = type,
                                  .ne = {cols, rows, 1, 1},
                                  .row_bytes = rz_row_bytes(t, (uint64_t)cols),
                                  .data = q,
                                  .scale = type == RZ_TYPE_I2_S ? rz_i2s_scale(q, rows * cols) : 0.0f};
            void *work = malloc(rz_matmul_work_size(&wt, tokens));
            RZ_ASSERT_OK(rz_isa_set(RZ_ISA_SCALAR));
            rz_matmul(NULL, &wt, x, cols, ref, rows, tokens, work);
            for (int p = 0; p < n_paths; p++) {
                RZ_ASSERT_OK(rz_isa_set(paths[p]));
                rz_matmul(NULL, &wt, x, cols, y, rows, tokens, work);
                for (int64_t j = 0; j < tokens * rows; j++) {
                    const float tol = type == RZ_TYPE_I2_S ? 0.0f : 1e-5f * fmaxf(1.0f, fabsf(ref[j]));
                    if (fabsf(y[j] - ref[j]) > tol)
                        fail_msg("%s matmul on %s, %lldx%lld x %lld tokens, [%lld]: %.9g vs %.9g", t->name,
                                 rz_isa_name(paths[p]), (long long)rows, (long long)cols, (long long)tokens,
                                 (long long)j, y[j], ref[j]);
                }
            }
            rz_isa_set(rz_isa_best());
            free(work);
            free(q);
            free(w);
            free(x);
            free(y);
            free(ref);
        }
    }
}

/* TQ blocks of arbitrary bytes (TQ1_0 bytes the quantizer never writes
 * included) against arbitrary int8 activations, all scales 1: every partial
 * sum is an integer below 2^24, so each ISA's vec_dot and every shape of its
 * tile must return the scalar reference's integer exactly. */
static void test_tq_raw_bytes_exact(void **state) {
    (void)state;
    uint64_t rng = 23;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    const rz_type types[] = {RZ_TYPE_TQ1_0, RZ_TYPE_TQ2_0};
    const int64_t nb = 7, n = nb * RZ_QK_TQ;
    const rz_fp16 one = rz_f32_to_fp16(1.0f);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const rz_type_traits *t = rz_type_traits_get(types[k]);
        const uint64_t w_bytes = rz_row_bytes(t, (uint64_t)n);
        unsigned char *w = malloc(RZ_GEMM_MAX_ROWS * w_bytes);
        rz_block_q8_K *x = malloc(RZ_GEMM_MAX_TOKENS * nb * sizeof *x);
        assert_non_null(w);
        assert_non_null(x);
        for (uint64_t i = 0; i < RZ_GEMM_MAX_ROWS * w_bytes; i++)
            w[i] = (unsigned char)rz_test_rand_u64(&rng);
        for (int64_t b = 0; b < RZ_GEMM_MAX_ROWS * nb; b++) /* d ends both block types */
            memcpy(w + (b + 1) * t->block_bytes - sizeof one, &one, sizeof one);
        for (int64_t b = 0; b < RZ_GEMM_MAX_TOKENS * nb; b++) {
            x[b].d = 1.0f;
            for (int j = 0; j < RZ_QK_TQ; j++)
                x[b].qs[j] = (int8_t)rz_test_rand_u64(&rng);
            for (int g = 0; g < RZ_QK_TQ / 16; g++) {
                int sum = 0;
                for (int j = 0; j < 16; j++)
                    sum += x[b].qs[16 * g + j];
                x[b].bsums[g] = (int16_t)sum;
            }
        }
        float ref[RZ_GEMM_MAX_TOKENS][RZ_GEMM_MAX_ROWS];
        for (int tok = 0; tok < RZ_GEMM_MAX_TOKENS; tok++)
            for (int r = 0; r < RZ_GEMM_MAX_ROWS; r++)
                t->vec_dot[0](n, &ref[tok][r], w + r * w_bytes, x + tok * nb);
        for (int p = 0; p < n_paths; p++) {
            for (int tok = 0; tok < RZ_GEMM_MAX_TOKENS; tok++)
                for (int r = 0; r < RZ_GEMM_MAX_ROWS; r++) {
                    float got;
                    rz_type_vec_dot(types[k], paths[p])(n, &got, w + r * w_bytes, x + tok * nb);
                    if (got != ref[tok][r])
                        fail_msg("%s vec_dot on %s, row %d token %d: %.9g vs %.9g", t->name,
                                 rz_isa_name(paths[p]), r, tok, got, ref[tok][r]);
                }
            const rz_gemm_kernel *g = rz_type_gemm(types[k], paths[p]);
            if (!g) continue;
            for (int nr = 1; nr <= g->rows; nr++)
                for (int nt = 1; nt <= g->tokens; nt++) {
                    float y[RZ_GEMM_MAX_TOKENS][RZ_GEMM_MAX_ROWS];
                    g->tile(n, w, w_bytes, nr, x, (uint64_t)nb * sizeof *x, nt, &y[0][0], RZ_GEMM_MAX_ROWS);
                    for (int tok = 0; tok < nt; tok++)
                        for (int r = 0; r < nr; r++)
                            if (y[tok][r] != ref[tok][r])
                                fail_msg("%s tile %dx%d on %s, [%d,%d]: %.9g vs %.9g", t->name, nr, nt,
                                         rz_isa_name(paths[p]), r, tok, y[tok][r], ref[tok][r]);
                }
        }
        free(x);
        free(w);
    }
}

/* rz_tq_to_i2_s on raw code bytes (TQ2_0's code 3, every TQ1_0 byte) of
 * one scale, with blocks of zeros under scales of their own: the I2_S
 * tensor decodes to the same values. Scales that differ, or a block of
 * zeros under a scale that is not finite, keep a tensor from I2_S. */
static void test_tq_as_i2_s(void **state) {
    (void)state;
    uint64_t rng = 41;
    const rz_type types[] = {RZ_TYPE_TQ1_0, RZ_TYPE_TQ2_0};
    const int64_t nb = 9, n = nb * RZ_QK_TQ;
    const rz_fp16 shared = rz_f32_to_fp16(-0.75f), own = rz_f32_to_fp16(3.0f), nan = 0x7e00;
    float zeros[RZ_QK_TQ] = {0}, *want = malloc((size_t)n * sizeof *want),
          *got = malloc((size_t)n * sizeof *got);
    uint8_t *i2_s = malloc((size_t)n / 4 + 32);
    assert_non_null(want);
    assert_non_null(got);
    assert_non_null(i2_s);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        const rz_type_traits *t = rz_type_traits_get(types[k]);
        uint8_t *w = malloc((size_t)nb * t->block_bytes);
        assert_non_null(w);
        for (int64_t i = 0; i < nb * (int64_t)t->block_bytes; i++)
            w[i] = (uint8_t)rz_test_rand_u64(&rng);
        for (int64_t b = 0; b < nb; b++) {
            uint8_t *block = w + b * t->block_bytes;
            if (b % 4 == 1) t->from_float(zeros, block, RZ_QK_TQ); /* codes of zeros */
            memcpy(block + t->block_bytes - sizeof(rz_fp16), b % 4 == 1 ? &own : &shared, sizeof(rz_fp16));
        }
        float scale;
        assert_true(rz_tq_shared_scale(types[k], w, n, &scale));
        assert_true(scale == -0.75f);
        rz_tq_to_i2_s(types[k], w, i2_s, n, scale);
        t->to_float(w, want, n);
        rz_dequantize_i2_s(i2_s, got, n);
        for (int64_t i = 0; i < n; i++)
            if (got[i] != want[i])
                fail_msg("%s as I2_S, value %lld: %g vs %g", t->name, (long long)i, got[i], want[i]);

        memcpy(w + 2 * t->block_bytes - sizeof(rz_fp16), &nan, sizeof nan); /* the zeros' scale */
        assert_false(rz_tq_shared_scale(types[k], w, n, &scale));
        memcpy(w + 2 * t->block_bytes - sizeof(rz_fp16), &own, sizeof own);
        memcpy(w + t->block_bytes - sizeof(rz_fp16), &own, sizeof own); /* a block of codes */
        assert_false(rz_tq_shared_scale(types[k], w, n, &scale));
        free(w);
    }
    assert_false(rz_tq_shared_scale(RZ_TYPE_I2_S, i2_s, n, &(float){0}));
    free(i2_s);
    free(got);
    free(want);
}

/* The scalar I2_S path against a double product with the dequantized
 * weights: only the activation rounding separates them. */
static void test_i2_s_matmul_close_to_exact(void **state) {
    (void)state;
    uint64_t rng = 3;
    const int64_t rows = 37, cols = 640, tokens = 3;
    float s, *x = malloc((size_t)(tokens * cols) * sizeof *x),
             *y = malloc((size_t)(tokens * rows) * sizeof *y);
    fill(&rng, x, tokens * cols);
    float *w = ternary_weights(&rng, rows * cols, &s);
    void *q = quantize_whole(RZ_TYPE_I2_S, w, rows, cols);
    const rz_tensor wt = {.type = RZ_TYPE_I2_S,
                          .ne = {cols, rows, 1, 1},
                          .row_bytes = (uint64_t)cols / 4,
                          .data = q,
                          .scale = rz_i2s_scale(q, rows * cols)};
    void *work = malloc(rz_matmul_work_size(&wt, tokens));
    rz_matmul(NULL, &wt, x, cols, y, rows, tokens, work);
    for (int64_t t = 0; t < tokens; t++)
        for (int64_t r = 0; r < rows; r++) {
            double exact = 0.0;
            for (int64_t c = 0; c < cols; c++)
                exact += (double)w[r * cols + c] * x[t * cols + c];
            assert_true(fabs(y[t * rows + r] - exact) < 0.02);
        }
    free(work);
    free(q);
    free(w);
    free(x);
    free(y);
}

/* ---------------------------------------------------------- golden */

static const rz_gguf_tensor *golden_tensor(const char *model, rz_gguf **g) {
    char rel[128];
    snprintf(rel, sizeof rel, "testdata/ggml-quants/%s.gguf", model);
    RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path(rel), g));
    const rz_gguf_tensor *t = rz_gguf_find_tensor(*g, "blk.0.ffn_up.weight");
    assert_non_null(t);
    return t;
}

static float *golden_floats(const char *model, const char *suffix, size_t n) {
    char rel[128];
    snprintf(rel, sizeof rel, "testdata/ggml-quants/%s.%s", model, suffix);
    size_t bytes;
    float *v = rz_test_read_file(rz_test_shared_path(rel), &bytes);
    assert_non_null(v);
    assert_int_equal(bytes, n * sizeof(float));
    return v;
}

/* Dequantized blk.0.ffn_up bit-exact with ggml's, and the mat-vec within
 * float summation order of ggml's (same activation quantization). */
static void check_golden(const char *model) {
    char rel[128];
    snprintf(rel, sizeof rel, "testdata/ggml-quants/%s.gguf", model);
    RZ_REQUIRE_SHARED(rel);
    rz_gguf *g;
    const rz_gguf_tensor *t = golden_tensor(model, &g);
    const int64_t E = (int64_t)t->ne[0], F = (int64_t)t->ne[1];
    float *deq = malloc((size_t)(E * F) * sizeof *deq);
    RZ_ASSERT_OK(rz_dequantize(t->type, t->data, deq, (uint64_t)(E * F)));
    float *want = golden_floats(model, "blk0_ffn_up.deq.f32", (size_t)(E * F));
    assert_memory_equal(deq, want, (size_t)(E * F) * sizeof *deq);

    const rz_type_traits *tt = rz_type_traits_get(t->type);
    if (tt->vec_dot[0] && rz_type_from_float_act(tt->vec_dot_type, RZ_ISA_SCALAR)) {
        const int n_x = 4;
        float *x = golden_floats("matvec", "x.f32", (size_t)(n_x * E));
        float *y_want = golden_floats(model, "blk0_ffn_up.matvec.y.f32", (size_t)(n_x * F));
        float *y = malloc((size_t)(n_x * F) * sizeof *y);
        const rz_tensor wt = {.type = t->type,
                              .ne = {E, F, 1, 1},
                              .row_bytes = rz_row_bytes(tt, (uint64_t)E),
                              .data = t->data,
                              .scale = t->type == RZ_TYPE_I2_S ? rz_i2s_scale(t->data, E * F) : 0.0f};
        void *work = malloc(rz_matmul_work_size(&wt, 1));
        rz_isa paths[RZ_ISA_COUNT];
        const int n_paths = rz_test_isa_paths(paths);
        for (int p = 0; p < n_paths; p++) {
            RZ_ASSERT_OK(rz_isa_set(paths[p]));
            for (int v = 0; v < n_x; v++)
                rz_matmul(NULL, &wt, x + v * E, E, y + v * F, F, 1, work);
            /* differences relative to each vector's largest output */
            float worst = 0.0f;
            for (int v = 0; v < n_x; v++) {
                float diff = 0.0f, big = 0.0f;
                for (int64_t i = v * F; i < (v + 1) * F; i++) {
                    diff = fmaxf(diff, fabsf(y[i] - y_want[i]));
                    big = fmaxf(big, fabsf(y_want[i]));
                }
                worst = fmaxf(worst, diff / big);
            }
            printf("%s matvec on %s: max diff %.3g of the largest output\n", model, rz_isa_name(paths[p]),
                   (double)worst);
            assert_true(worst < 1e-5f);
        }
        rz_isa_set(rz_isa_best());
        free(work);
        free(y);
        free(y_want);
        free(x);
    }
    free(want);
    free(deq);
    rz_gguf_close(g);
}

static void test_golden_bitnet_i2_s(void **state) {
    (void)state;
    check_golden("bitnet.I2_S");
}
static void test_golden_bitnet_tq2_0(void **state) {
    (void)state;
    check_golden("bitnet.TQ2_0");
}
static void test_golden_llama_tq2_0(void **state) {
    (void)state;
    check_golden("llama.TQ2_0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_lossless), cmocka_unit_test(test_absmean_codes),
        cmocka_unit_test(test_isa_matches_scalar),  cmocka_unit_test(test_matmul_batches_match_scalar),
        cmocka_unit_test(test_tq_raw_bytes_exact),  cmocka_unit_test(test_i2_s_matmul_close_to_exact),
        cmocka_unit_test(test_tq_as_i2_s),          cmocka_unit_test(test_golden_bitnet_i2_s),
        cmocka_unit_test(test_golden_bitnet_tq2_0), cmocka_unit_test(test_golden_llama_tq2_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
