/* Run-time layouts (docs/layouts.md): repacking is lossless, their scalar
 * references equal the stored type's, and every ISA path's kernels (vec_dot
 * and tiles, one token included) match those references on random data. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quants_k.h"
#include "tensor/quants_q4k_r8.h"
#include "tensor/quants_q6k_r8.h"
#include "tensor/quants_q4_0_r8.h"
#include "tensor/quants_ternary.h"
#include "tensor/type_traits.h"
#include "test_support.h"

static void random_floats(uint64_t *seed, float *v, int64_t n, float range) {
    for (int64_t i = 0; i < n; i++)
        v[i] = rz_test_rand_uniform(seed, -range, range);
}

/* A stored type, its run-time layout, the row lengths to try, and how to
 * make weight row r and the floats of token t. */
typedef struct layout_case {
    rz_type stored, layout;
    const int64_t *lengths;
    size_t n_lengths;
    uint64_t seed;
    void (*weight_row)(uint64_t *seed, int r, float *values, const rz_type_traits *st, void *w, int64_t n);
    void (*token)(uint64_t *seed, int t, float *values, int64_t n);
} layout_case;

static void check_layout(const layout_case *c) {
    const rz_type_traits *st = rz_type_traits_get(c->stored), *lt = rz_type_traits_get(c->layout),
                         *at = rz_type_traits_get(lt->vec_dot_type);
    const rz_vec_dot_fn ref = rz_type_vec_dot(c->stored, RZ_ISA_SCALAR);
    const rz_from_float_fn ref_act = rz_type_from_float_act(st->vec_dot_type, RZ_ISA_SCALAR);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t seed = c->seed;
    enum { ROWS = RZ_GEMM_MAX_ROWS, TOKENS = RZ_GEMM_MAX_TOKENS };
    for (size_t li = 0; li < c->n_lengths; li++) {
        const int64_t n = c->lengths[li];
        const uint64_t w_bytes = rz_row_bytes(st, (uint64_t)n), wl_bytes = rz_row_bytes(lt, (uint64_t)n),
                       x_bytes = rz_row_bytes(at, (uint64_t)n);
        const uint64_t ref_x_bytes = rz_row_bytes(rz_type_traits_get(st->vec_dot_type), (uint64_t)n);
        unsigned char *w = malloc(ROWS * w_bytes), *wl = malloc(ROWS * wl_bytes);
        unsigned char *x = malloc(TOKENS * ref_x_bytes), *xl = malloc(TOKENS * x_bytes),
                      *xli = malloc(x_bytes);
        float *values = malloc((size_t)n * sizeof(float)), *a = malloc((size_t)n * sizeof(float)),
              *b = malloc((size_t)n * sizeof(float));
        for (int r = 0; r < ROWS; r++) {
            c->weight_row(&seed, r, values, st, w + r * w_bytes, n);
            rz_type_repack(c->stored, c->layout)(w + r * w_bytes, wl + r * wl_bytes, n, 1);
            /* lossless: both layouts decode to the same floats */
            st->to_float(w + r * w_bytes, a, n);
            lt->to_float(wl + r * wl_bytes, b, n);
            assert_memory_equal(a, b, (size_t)n * sizeof(float));
        }
        for (int t = 0; t < TOKENS; t++) {
            c->token(&seed, t, values, n);
            ref_act(values, x + t * ref_x_bytes, n);
            rz_type_from_float_act(lt->vec_dot_type, RZ_ISA_SCALAR)(values, xl + t * x_bytes, n);
            /* every ISA writes the same activation bytes */
            for (int p = 0; p < n_paths; p++) {
                rz_type_from_float_act(lt->vec_dot_type, paths[p])(values, xli, n);
                assert_memory_equal(xli, xl + t * x_bytes, x_bytes);
            }
        }
        /* References and tolerances, once for the vec_dot and every tile shape. */
        float want[TOKENS][ROWS];
        double tol[TOKENS][ROWS];
        for (int r = 0; r < ROWS; r++) {
            for (int t = 0; t < TOKENS; t++) {
                float got;
                ref(n, &want[t][r], w + r * w_bytes, x + t * ref_x_bytes);
                /* the scalar reference sums in the same order: bit-exact */
                rz_type_vec_dot(c->layout, RZ_ISA_SCALAR)(n, &got, wl + r * wl_bytes, xl + t * x_bytes);
                assert_memory_equal(&got, &want[t][r], sizeof got);
                tol[t][r] = 1e-5 * rz_test_abs_dot(c->stored, w + r * w_bytes, x + t * ref_x_bytes, n) + 1e-6;
                for (int p = 0; p < n_paths; p++) {
                    rz_type_vec_dot(c->layout, paths[p])(n, &got, wl + r * wl_bytes, xl + t * x_bytes);
                    if (fabs((double)got - want[t][r]) > tol[t][r])
                        fail_msg("%s n=%lld isa %d vec_dot row %d token %d: %g vs %g", lt->name, (long long)n,
                                 paths[p], r, t, got, want[t][r]);
                }
            }
        }
        for (int p = 0; p < n_paths; p++) {
            const rz_gemm_kernel *g = rz_type_gemm(c->layout, paths[p]);
            if (!g) continue;
            for (int nr = 1; nr <= g->rows; nr++)
                for (int nt = 1; nt <= g->tokens; nt++) {
                    float y[TOKENS * ROWS] = {0};
                    g->tile(n, wl, wl_bytes, nr, xl, x_bytes, nt, y, ROWS);
                    for (int t = 0; t < TOKENS; t++)
                        for (int r = 0; r < ROWS; r++) {
                            if (t >= nt || r >= nr) {
                                assert_true(y[t * ROWS + r] == 0.0f); /* not stored */
                                continue;
                            }
                            if (fabs((double)y[t * ROWS + r] - want[t][r]) > tol[t][r])
                                fail_msg("%s n=%lld isa %d tile %dx%d at (%d, %d): %g vs %g", lt->name,
                                         (long long)n, paths[p], nr, nt, r, t, y[t * ROWS + r], want[t][r]);
                        }
                }
        }
        free(w);
        free(wl);
        free(x);
        free(xl);
        free(xli);
        free(values);
        free(a);
        free(b);
    }
}

/* Random weights with an outlier per row, through the reference quantizer. */
static void quantized_row(uint64_t *seed, int r, float *values, const rz_type_traits *st, void *w,
                          int64_t n) {
    random_floats(seed, values, n, 1.0f);
    values[r] = 3.0f;
    st->from_float(values, w, n);
}

static void random_token(uint64_t *seed, int t, float *values, int64_t n) {
    (void)t;
    random_floats(seed, values, n, 2.0f);
}

static const int64_t g4_lengths[] = {128, 256, 2048 + 128, 5632};

static void test_q4_0_g4(void **state) {
    (void)state;
    check_layout(
        &(layout_case){RZ_TYPE_Q4_0, RZ_TYPE_Q4_0_G4, g4_lengths, 4, 11, quantized_row, random_token});
}

/* Q4_0_R8 (row-interleaved, tiles only): a matrix of two row groups unpacks
 * to the same Q4_0 bytes; A8_R8 holds the Q8_0 quantizer's codes and scales
 * on every path; the scalar tile gives each row rz_vec_dot_q4_0_q8_0 bit for
 * bit, and every path's tile (each token count up to its own) matches it. */
static void test_q4_0_r8(void **state) {
    (void)state;
    enum { ROWS = 2 * RZ_R8_ROWS, TOKENS = RZ_GEMM_MAX_TOKENS };
    static const int64_t lengths[] = {32, 96, 2048 + 128, 5632};
    const rz_type_traits *st = rz_type_traits_get(RZ_TYPE_Q4_0);
    const rz_gemm_kernel *ref_tile = rz_type_gemm(RZ_TYPE_Q4_0_R8, RZ_ISA_SCALAR);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t seed = 23;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const int64_t n = lengths[li], nb = n / RZ_QK4_0;
        const uint64_t w_bytes = rz_row_bytes(st, (uint64_t)n);
        const uint64_t x_bytes = (uint64_t)nb * sizeof(rz_block_a8_r8),
                       q_bytes = (uint64_t)nb * sizeof(rz_block_q8_0);
        unsigned char *w = malloc(ROWS * w_bytes), *wl = malloc(ROWS * w_bytes),
                      *back = malloc(ROWS * w_bytes);
        unsigned char *x = malloc(TOKENS * x_bytes), *xi = malloc(x_bytes), *q = malloc(TOKENS * q_bytes);
        float *values = malloc((size_t)n * sizeof(float));
        for (int r = 0; r < ROWS; r++)
            quantized_row(&seed, r, values, st, w + r * w_bytes, n);
        rz_type_repack(RZ_TYPE_Q4_0, RZ_TYPE_Q4_0_R8)(w, wl, n, ROWS);
        rz_unpack_q4_0_r8(wl, back, n, ROWS);
        assert_memory_equal(back, w, ROWS * w_bytes); /* lossless */
        for (int t = 0; t < TOKENS; t++) {
            random_token(&seed, t, values, n);
            rz_quantize_row_q8_0(values, q + t * q_bytes, n);
            rz_type_from_float_act(RZ_TYPE_A8_R8, RZ_ISA_SCALAR)(values, x + t * x_bytes, n);
            for (int64_t b = 0; b < nb; b++) {
                const rz_block_q8_0 *qb = (const rz_block_q8_0 *)(const void *)(q + t * q_bytes) + b;
                const rz_block_a8_r8 *ab = (const rz_block_a8_r8 *)(const void *)(x + t * x_bytes) + b;
                int32_t sum = 0;
                for (int j = 0; j < RZ_QK8_0; j++)
                    sum += qb->qs[j];
                assert_memory_equal(ab->qs, qb->qs, sizeof ab->qs);
                assert_true(ab->d == rz_fp16_to_f32(qb->d) && ab->corr == -8 * sum);
            }
            for (int p = 0; p < n_paths; p++) { /* every ISA writes the same bytes */
                rz_type_from_float_act(RZ_TYPE_A8_R8, paths[p])(values, xi, n);
                assert_memory_equal(xi, x + t * x_bytes, x_bytes);
            }
        }
        float want[TOKENS][ROWS];
        double tol[TOKENS][ROWS];
        for (int t = 0; t < TOKENS; t++)
            for (int r = 0; r < ROWS; r++) {
                rz_vec_dot_q4_0_q8_0(n, &want[t][r], w + r * w_bytes, q + t * q_bytes);
                tol[t][r] = 1e-5 * rz_test_abs_dot(RZ_TYPE_Q4_0, w + r * w_bytes, q + t * q_bytes, n) + 1e-6;
            }
        for (int g = 0; g < ROWS / RZ_R8_ROWS; g++) {
            const unsigned char *wg = wl + g * RZ_R8_ROWS * w_bytes;
            for (int t = 0; t < TOKENS; t++) {
                float got[RZ_R8_ROWS];
                ref_tile->tile(n, wg, w_bytes, RZ_R8_ROWS, x + t * x_bytes, x_bytes, 1, got, RZ_R8_ROWS);
                assert_memory_equal(got, &want[t][g * RZ_R8_ROWS], sizeof got);
            }
            for (int p = 0; p < n_paths; p++) {
                const rz_gemm_kernel *k = rz_type_gemm(RZ_TYPE_Q4_0_R8, paths[p]);
                assert_true(k->interleaved && k->rows == RZ_R8_ROWS && k->tokens <= TOKENS);
                for (int nt = 1; nt <= k->tokens; nt++) {
                    float y[TOKENS * ROWS] = {0};
                    k->tile(n, wg, w_bytes, RZ_R8_ROWS, x, x_bytes, nt, y, ROWS);
                    for (int t = 0; t < TOKENS; t++)
                        for (int r = 0; r < ROWS; r++) {
                            if (t >= nt || r >= RZ_R8_ROWS) {
                                assert_true(y[t * ROWS + r] == 0.0f); /* not stored */
                                continue;
                            }
                            const float ref = want[t][g * RZ_R8_ROWS + r];
                            if (fabs((double)y[t * ROWS + r] - ref) > tol[t][g * RZ_R8_ROWS + r])
                                fail_msg("q4_0_r8 n=%lld isa %d group %d, %d tokens, (%d, %d): %g vs %g",
                                         (long long)n, paths[p], g, nt, r, t, y[t * ROWS + r], ref);
                        }
                }
            }
        }
        free(w);
        free(wl);
        free(back);
        free(x);
        free(xi);
        free(q);
        free(values);
    }
}

/* Whole groups of 16 blocks and rows that end in a shorter one. */
static const int64_t g16_lengths[] = {32, 96, 512, 2048 + 128 + 32, 5632};

static void test_q8_0_g16(void **state) {
    (void)state;
    check_layout(
        &(layout_case){RZ_TYPE_Q8_0, RZ_TYPE_Q8_0_G16, g16_lengths, 5, 11, quantized_row, random_token});
}

/* Q4_K rows: quantized ones, then raw random blocks (every 6-bit scale and
 * min pattern) and blocks of all-63 scales and mins with large d, dmin. */
static void q4_K_row(uint64_t *seed, int r, float *values, const rz_type_traits *st, void *row, int64_t n) {
    quantized_row(seed, r, values, st, row, n);
    if (r < 2) return;
    rz_block_q4_K *w = row;
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
    check_layout(&(layout_case){RZ_TYPE_Q4_K, RZ_TYPE_Q4_K_G, k_lengths, 4, 13, q4_K_row, a8_k_token});
}

/* Q6_K rows: quantized ones, then raw random blocks (every code and scale,
 * -128 included) under random d. */
static void q6_K_row(uint64_t *seed, int r, float *values, const rz_type_traits *st, void *row, int64_t n) {
    quantized_row(seed, r, values, st, row, n);
    if (r < 2) return;
    rz_block_q6_K *w = row;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        unsigned char *bytes = (unsigned char *)&w[b];
        for (size_t i = 0; i < sizeof w[b]; i++)
            bytes[i] = (unsigned char)rz_test_rand_u64(seed);
        w[b].d = rz_f32_to_fp16(rz_test_rand_uniform(seed, -2.0f, 2.0f));
    }
}

/* A row-interleaved layout of eight-row groups (tiles only): lossless
 * through its group unpacker, and the tiles of every path, one token to a
 * full tile and one more, give the stored type's scalar vec_dot floats bit
 * for bit (the same integer block sums, multiplied and added alike). */
typedef struct r8_case {
    rz_type stored, layout;
    uint64_t seed;
    void (*weight_row)(uint64_t *seed, int r, float *values, const rz_type_traits *st, void *w, int64_t n);
    void (*unpack)(const void *restrict src, float *restrict dst, int64_t n);
} r8_case;

static void check_r8(const r8_case *c) {
    enum { GROUP = 8, ROWS = 2 * GROUP, TOKENS = RZ_GEMM_MAX_TOKENS + 1 };
    static const int64_t lengths[] = {256, 512, 2048 + 256, 5632};
    const rz_type_traits *st = rz_type_traits_get(c->stored), *lt = rz_type_traits_get(c->layout),
                         *at = rz_type_traits_get(st->vec_dot_type);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t seed = c->seed;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const int64_t n = lengths[li];
        const uint64_t w_bytes = rz_row_bytes(st, (uint64_t)n), x_bytes = rz_row_bytes(at, (uint64_t)n);
        unsigned char *w = malloc(ROWS * w_bytes), *wl = malloc(ROWS * w_bytes),
                      *x = malloc(TOKENS * x_bytes);
        float *values = malloc((size_t)n * sizeof(float)), *a = malloc((size_t)(ROWS * n) * sizeof(float)),
              *b = malloc((size_t)(ROWS * n) * sizeof(float));
        for (int r = 0; r < ROWS; r++) {
            c->weight_row(&seed, r, values, st, w + r * w_bytes, n);
            st->to_float(w + r * w_bytes, a + r * n, n);
        }
        rz_type_repack(c->stored, c->layout)(w, wl, n, ROWS);
        for (int g = 0; g < ROWS / GROUP; g++)
            c->unpack(wl + g * GROUP * w_bytes, b + g * GROUP * n, n);
        assert_memory_equal(a, b, (size_t)(ROWS * n) * sizeof(float));
        for (int t = 0; t < TOKENS; t++) {
            a8_k_token(&seed, t, values, n);
            rz_type_from_float_act(st->vec_dot_type, RZ_ISA_SCALAR)(values, x + t * x_bytes, n);
        }
        float want[TOKENS][ROWS];
        for (int t = 0; t < TOKENS; t++)
            for (int r = 0; r < ROWS; r++)
                rz_type_vec_dot(c->stored, RZ_ISA_SCALAR)(n, &want[t][r], w + r * w_bytes, x + t * x_bytes);
        for (int p = -1; p < n_paths; p++) {
            const rz_isa isa = p < 0 ? RZ_ISA_SCALAR : paths[p];
            const rz_gemm_kernel *g = rz_type_gemm(c->layout, isa);
            assert_true(g && g->interleaved && g->rows == GROUP && g->tokens < TOKENS);
            for (int nt = 1; nt <= g->tokens + 1; nt++) {
                const int t0 = TOKENS - nt;
                float y[TOKENS * ROWS] = {0};
                /* a tile takes at most g->tokens: the runner's split */
                for (int t1 = 0; t1 < nt; t1 += g->tokens)
                    for (int grp = 0; grp < ROWS / GROUP; grp++)
                        g->tile(n, wl + grp * GROUP * w_bytes, w_bytes, GROUP,
                                x + (uint64_t)(t0 + t1) * x_bytes, x_bytes,
                                nt - t1 < g->tokens ? nt - t1 : g->tokens, y + t1 * ROWS + grp * GROUP, ROWS);
                for (int t = 0; t < TOKENS; t++)
                    for (int r = 0; r < ROWS; r++) {
                        if (t >= nt) {
                            assert_true(y[t * ROWS + r] == 0.0f); /* not stored */
                            continue;
                        }
                        if (memcmp(&y[t * ROWS + r], &want[t0 + t][r], sizeof(float)))
                            fail_msg("%s n=%lld isa %d tile of %d tokens at (%d, %d): %.9g vs %.9g", lt->name,
                                     (long long)n, isa, nt, r, t, y[t * ROWS + r], want[t0 + t][r]);
                    }
            }
        }
        free(w);
        free(wl);
        free(x);
        free(values);
        free(a);
        free(b);
    }
}

static void test_q6_k_r8(void **state) {
    (void)state;
    check_r8(&(r8_case){RZ_TYPE_Q6_K, RZ_TYPE_Q6_K_R8, 23, q6_K_row, rz_dequantize_q6_k_r8});
}

static void test_q4_k_r8(void **state) {
    (void)state;
    check_r8(&(r8_case){RZ_TYPE_Q4_K, RZ_TYPE_Q4_K_R8, 29, q4_K_row, rz_dequantize_q4_k_r8});
}

/* Ternary rows: quantized ones, then raw random code bytes (TQ2_0's code 3,
 * every TQ1_0 byte) with scales of either sign. */
static void tq_row(uint64_t *seed, int r, float *values, const rz_type_traits *st, void *row, int64_t n) {
    quantized_row(seed, r, values, st, row, n);
    if (r < 2) return;
    unsigned char *bytes = row;
    for (int64_t b = 0; b < n / (int64_t)st->block_size; b++) {
        unsigned char *block = bytes + b * st->block_bytes;
        for (uint32_t i = 0; i + sizeof(rz_fp16) < st->block_bytes; i++)
            block[i] = (unsigned char)rz_test_rand_u64(seed);
        const rz_fp16 d = rz_f32_to_fp16(rz_test_rand_uniform(seed, -2.0f, 2.0f));
        memcpy(block + st->block_bytes - sizeof d, &d, sizeof d); /* d ends both block types */
    }
}

static const int64_t tq_lengths[] = {256, 768, 2560};

static void test_tq2_0_g(void **state) {
    (void)state;
    check_layout(&(layout_case){RZ_TYPE_TQ2_0, RZ_TYPE_TQ2_0_G, tq_lengths, 3, 17, tq_row, a8_k_token});
    check_layout(&(layout_case){RZ_TYPE_TQ1_0, RZ_TYPE_TQ2_0_G, tq_lengths, 3, 19, tq_row, a8_k_token});
}

/* Repacked only where the ISA has the layout's own kernel and rows are whole
 * groups; never readable from a file. */
static void test_runtime_layout_choice(void **state) {
    (void)state;
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 256, 64, RZ_ISA_SCALAR), RZ_TYPE_Q4_0);
    /* AVX2: Q4_0_R8 where the rows are whole groups of 8, else Q4_0_G4 */
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 256, 64, RZ_ISA_AVX2), RZ_TYPE_Q4_0_R8);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 96, 24, RZ_ISA_AVX2), RZ_TYPE_Q4_0_R8);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 256, 60, RZ_ISA_AVX2), RZ_TYPE_Q4_0_G4);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 96, 60, RZ_ISA_AVX2), RZ_TYPE_Q4_0);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 256, 64, RZ_ISA_AVX512), RZ_TYPE_Q4_0_G4);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_0, 96, 64, RZ_ISA_AVX512), RZ_TYPE_Q4_0);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q8_0, 256, 64, RZ_ISA_AVX512), RZ_TYPE_Q8_0_G16);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q8_0, 96, 64, RZ_ISA_AVX512), RZ_TYPE_Q8_0_G16);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q8_0, 96, 64, RZ_ISA_AVX2), RZ_TYPE_Q8_0_G16);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_F16, 256, 64, RZ_ISA_AVX512), RZ_TYPE_F16);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_K, 256, 64, RZ_ISA_AVX512), RZ_TYPE_Q4_K_G);
    /* Q4_K on AVX2: rows interleaved where they are whole groups of eight */
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_K, 256, 64, RZ_ISA_AVX2), RZ_TYPE_Q4_K_R8);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q4_K, 256, 60, RZ_ISA_AVX2), RZ_TYPE_Q4_K_G);
    assert_true(rz_type_traits_get(RZ_TYPE_Q4_K_R8)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_Q4_0_G4)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_A8_G4)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_Q4_0_R8)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_A8_R8)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_Q8_0_G16)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_A8_G16)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_Q4_K_G)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_A8_K)->runtime_only);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_TQ2_0, 256, 64, RZ_ISA_AVX512), RZ_TYPE_TQ2_0_G);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_TQ1_0, 256, 64, RZ_ISA_AVX512), RZ_TYPE_TQ2_0_G);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_TQ1_0, 256, 64, RZ_ISA_AVX2), RZ_TYPE_TQ1_0);
    /* Q6_K: rows interleaved on AVX2 only, in whole groups of eight */
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q6_K, 256, 64, RZ_ISA_AVX2), RZ_TYPE_Q6_K_R8);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q6_K, 256, 60, RZ_ISA_AVX2), RZ_TYPE_Q6_K);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_Q6_K, 256, 64, RZ_ISA_AVX512), RZ_TYPE_Q6_K);
    assert_true(rz_type_traits_get(RZ_TYPE_Q6_K_R8)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_TQ2_0_G)->runtime_only);
    assert_false(rz_type_can_quantize(RZ_TYPE_Q4_0_G4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0_g4),  cmocka_unit_test(test_q4_0_r8),
        cmocka_unit_test(test_q8_0_g16), cmocka_unit_test(test_q4_k_g),
        cmocka_unit_test(test_q6_k_r8),  cmocka_unit_test(test_q4_k_r8),
        cmocka_unit_test(test_tq2_0_g),  cmocka_unit_test(test_runtime_layout_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
