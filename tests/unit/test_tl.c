/* I2_TL (tensor/quants_tl.h): repacking I2_S is lossless, every ISA writes
 * the same I8_TL activation bytes, and every ISA's tile and rz_matmul give
 * bit for bit the results of I2_S's scalar reference (same integers, same
 * I8_S codes), on the BitNet shapes, rows of every length mod 24 included. */
#include <stdlib.h>
#include <string.h>

#include "base/threadpool.h"
#include "kernels/matmul.h"
#include "tensor/quants_ternary.h"
#include "tensor/quants_tl.h"
#include "tensor/type_traits.h"
#include "test_support.h"

/* Ternary weights: random with a density per row group, and rows of all +1,
 * all -1 and all 0 (the extreme table entries). */
static int8_t *random_ternary(uint64_t *seed, int64_t k, int64_t rows) {
    int8_t *t = malloc((size_t)(k * rows));
    for (int64_t r = 0; r < rows; r++) {
        const int zero_in_8 = (int)(r / RZ_TL_ROWS % 4) * 2; /* 0, 2, 4, 6 of 8 are zero */
        for (int64_t c = 0; c < k; c++) {
            const uint64_t u = rz_test_rand_u64(seed);
            t[r * k + c] = (int8_t)(u % 8 < (uint64_t)zero_in_8 ? 0 : (u >> 8) % 2 ? 1 : -1);
            if (r % RZ_TL_ROWS < 3) t[r * k + c] = (int8_t)(1 - (int)(r % RZ_TL_ROWS)); /* 1, 0, -1 */
        }
    }
    return t;
}

/* The I2_S tensor of t, trailer (scale 0.5) included. */
static uint8_t *to_i2_s(const int8_t *t, int64_t k, int64_t rows) {
    const int64_t n = k * rows;
    uint8_t *w = calloc((size_t)(n / 4 + 32), 1);
    for (int64_t i = 0; i < n; i++) {
        const int64_t g = i / RZ_QK_I2S, j = i % RZ_QK_I2S;
        w[32 * g + j % 32] |= (uint8_t)((t[i] + 1) << (6 - 2 * (j / 32)));
    }
    const float s = 0.5f;
    memcpy(w + n / 4, &s, sizeof s);
    return w;
}

/* Token floats: random, then one at full scale everywhere (codes +-127, the
 * largest partial sums), then one with ties at the rounding boundary. */
static void token(uint64_t *seed, int t, float *x, int64_t k) {
    for (int64_t c = 0; c < k; c++) {
        x[c] = rz_test_rand_uniform(seed, -2.0f, 2.0f);
        if (t == 1) x[c] = c % 7 == 3 ? -1.0f : 1.0f;
        if (t == 2) x[c] = (float)(c % 255 - 127) / 127.0f * 0.75f + (c % 2 ? 0.5f / 127.0f : 0.0f);
    }
}

enum { TOKENS = 5, ROWS = 2 * RZ_TL_TILE_ROWS };

static void check_shape(int64_t k, uint64_t seed) {
    const rz_type_traits *lt = rz_type_traits_get(RZ_TYPE_I2_TL), *at = rz_type_traits_get(RZ_TYPE_I8_TL);
    const uint64_t w_bytes = rz_row_bytes(lt, (uint64_t)k), x_bytes = rz_row_bytes(at, (uint64_t)k);
    const uint64_t s_bytes = (uint64_t)(k / RZ_QK_I2S) * sizeof(rz_block_i8_s);
    /* the allotment holds the row groups */
    assert_true(RZ_TL_ROWS * w_bytes >= (uint64_t)(RZ_TL_PAIR_BYTES * rz_tl_pairs(k)));
    assert_true(x_bytes >= (uint64_t)(RZ_TL_ACT_HEADER + 2 * RZ_TL_QUAD_TABLES * rz_tl_pairs(k)));

    int8_t *t = random_ternary(&seed, k, ROWS), *back = malloc((size_t)(k * ROWS));
    uint8_t *w = to_i2_s(t, k, ROWS), *wl = malloc(ROWS * w_bytes);
    rz_repack_i2_s_tl(w, wl, k, ROWS);
    rz_unpack_i2_tl(wl, back, k, ROWS);
    assert_memory_equal(back, t, (size_t)(k * ROWS)); /* lossless */

    float *xf = malloc((size_t)(TOKENS * k) * sizeof *xf);
    uint8_t *xs = malloc(TOKENS * s_bytes), *xl = malloc(TOKENS * x_bytes), *xi = malloc(x_bytes);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (int i = 0; i < TOKENS; i++) {
        token(&seed, i, xf + i * k, k);
        rz_quantize_row_i8_s(xf + i * k, xs + i * s_bytes, k);
        rz_quantize_row_i8_tl(xf + i * k, xl + i * x_bytes, k);
        for (int p = 0; p < n_paths; p++) {
            memset(xi, 0xa5, x_bytes);
            rz_type_from_float_act(RZ_TYPE_I8_TL, paths[p])(xf + i * k, xi, k);
            assert_memory_equal(xi, xl + i * x_bytes,
                                RZ_TL_ACT_HEADER + 2 * RZ_TL_QUAD_TABLES * rz_tl_pairs(k));
        }
    }
    float want[TOKENS][ROWS];
    for (int i = 0; i < TOKENS; i++)
        for (int r = 0; r < ROWS; r++)
            rz_vec_dot_i2_s_i8_s(k, &want[i][r], w + (uint64_t)r * (uint64_t)(k / 4), xs + i * s_bytes);

    /* every path's tile, every token count, every row group */
    for (int p = 0; p < n_paths; p++) {
        const rz_gemm_kernel *g = rz_type_gemm(RZ_TYPE_I2_TL, paths[p]);
        assert_true(g && g->interleaved && g->rows % RZ_TL_ROWS == 0 && ROWS % g->rows == 0);
        for (int nt = 1; nt <= g->tokens; nt++)
            for (int r0 = 0; r0 < ROWS; r0 += g->rows) {
                float y[TOKENS][ROWS];
                memset(y, 0, sizeof y);
                g->tile(k, wl + r0 * w_bytes, w_bytes, g->rows, xl, x_bytes, nt, &y[0][r0], ROWS);
                for (int i = 0; i < TOKENS; i++)
                    for (int r = r0; r < r0 + g->rows; r++) {
                        if (i >= nt) {
                            assert_true(y[i][r] == 0.0f); /* not stored */
                            continue;
                        }
                        if (memcmp(&y[i][r], &want[i][r], sizeof(float)) != 0)
                            fail_msg("k=%lld isa %d nt=%d row %d token %d: %.9g vs %.9g", (long long)k,
                                     paths[p], nt, r, i, y[i][r], want[i][r]);
                    }
            }
    }
    free(t);
    free(back);
    free(w);
    free(wl);
    free(xf);
    free(xs);
    free(xl);
    free(xi);
}

static void test_shapes(void **state) {
    (void)state;
    /* 256: a single allotment block; 2560 and 4096 end in a part quad pair */
    static const int64_t ks[] = {256, 512, 1536, 2560, 4096, 6912};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++)
        check_shape(ks[i], 100 + i);
}

/* rz_matmul through the layout (one token and a batch, one and two threads,
 * every path) equals it on the stored I2_S, bit for bit, on a kv-sized
 * matrix: chunks are whole row groups, the per-tensor scale applies. */
static void test_matmul(void **state) {
    (void)state;
    const int64_t k = 2560, rows = 640;
    uint64_t seed = 7;
    int8_t *t = random_ternary(&seed, k, rows);
    uint8_t *w = to_i2_s(t, k, rows);
    const rz_type_traits *lt = rz_type_traits_get(RZ_TYPE_I2_TL);
    const uint64_t w_bytes = rz_row_bytes(lt, (uint64_t)k);
    uint8_t *wl = malloc(rows * w_bytes);
    rz_repack_i2_s_tl(w, wl, k, rows);
    rz_tensor ws = {.type = RZ_TYPE_I2_S,
                    .ne = {k, rows, 1, 1},
                    .row_bytes = (uint64_t)k / 4,
                    .data = w,
                    .scale = rz_i2s_scale(w, k * rows)};
    rz_tensor wt = {
        .type = RZ_TYPE_I2_TL, .ne = {k, rows, 1, 1}, .row_bytes = w_bytes, .data = wl, .scale = ws.scale};
    float *x = malloc((size_t)(TOKENS * k) * sizeof *x);
    for (int i = 0; i < TOKENS; i++)
        token(&seed, i, x + i * k, k);
    float *ys = malloc((size_t)(TOKENS * rows) * sizeof *ys),
          *yl = malloc((size_t)(TOKENS * rows) * sizeof *yl);
    void *work = malloc(rz_matmul_work_size(&wt, TOKENS) + rz_matmul_work_size(&ws, TOKENS));
    rz_threadpool *pool;
    RZ_ASSERT_OK(rz_threadpool_create(2, &pool));
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    const rz_isa active = rz_isa_active();
    for (int p = 0; p < n_paths; p++) {
        RZ_ASSERT_OK(rz_isa_set(paths[p]));
        for (int n_tokens = 1; n_tokens <= TOKENS; n_tokens += TOKENS - 1)
            for (int th = 0; th < 2; th++) {
                rz_threadpool *use = th ? pool : NULL;
                rz_matmul(use, &ws, x, k, ys, rows, n_tokens, work);
                rz_matmul(use, &wt, x, k, yl, rows, n_tokens, work);
                assert_memory_equal(yl, ys, (size_t)(n_tokens * rows) * sizeof *ys);
            }
    }
    RZ_ASSERT_OK(rz_isa_set(active));
    rz_threadpool_free(pool);
    free(work);
    free(ys);
    free(yl);
    free(x);
    free(t);
    free(w);
    free(wl);
}

/* Chosen where the ISA has the kernel and the rows are whole row groups;
 * never readable from a file. */
static void test_layout_choice(void **state) {
    (void)state;
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_I2_S, 2560, 640, RZ_ISA_SCALAR), RZ_TYPE_I2_S);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_I2_S, 2560, 640, RZ_ISA_AVX2), RZ_TYPE_I2_S);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_I2_S, 2560, 640, RZ_ISA_AVX512), RZ_TYPE_I2_TL);
    assert_int_equal(rz_type_runtime_layout(RZ_TYPE_I2_S, 2560, 672, RZ_ISA_AVX512), RZ_TYPE_I2_S);
    assert_true(rz_type_traits_get(RZ_TYPE_I2_TL)->runtime_only);
    assert_true(rz_type_traits_get(RZ_TYPE_I8_TL)->runtime_only);
    assert_false(rz_type_can_quantize(RZ_TYPE_I2_TL));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes),
        cmocka_unit_test(test_matmul),
        cmocka_unit_test(test_layout_choice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
