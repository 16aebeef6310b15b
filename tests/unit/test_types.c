/* Type traits of F32, F16, BF16, Q8_0, Q4_0: reference (de)quantizers against
 * hand-computed blocks, round-trip bounds, and every ISA path's kernels
 * against the scalar ones; every type's vec_dot2 against its vec_dot. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quants.h"
#include "tensor/type_traits.h"
#include "test_support.h"

enum { MAX_BLOCKS = 40, MAX_N = MAX_BLOCKS * 32 + 37 };

static const rz_type dot_types[] = {RZ_TYPE_F32, RZ_TYPE_F16, RZ_TYPE_BF16, RZ_TYPE_Q8_0, RZ_TYPE_Q4_0};

static void fill_uniform(uint64_t *rng, float *x, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++)
        x[i] = rz_test_rand_uniform(rng, lo, hi);
}

static void test_golden_q8_0(void **state) {
    (void)state;
    /* amax 127 gives d = id = 1: ties show roundf (away from zero) in the
     * reference and round-half-even in the activation quantizer. */
    float x[32] = {127.0f, -127.0f, 0.5f, -0.5f, 1.5f, 2.5f, -2.5f, 3.49f, 100.0f, -3.0f};
    rz_block_q8_0 ref, act;
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_Q8_0, x, &ref, 32));
    rz_quantize_row_q8_0(x, &act, 32);
    const int8_t ref_q[10] = {127, -127, 1, -1, 2, 3, -3, 3, 100, -3};
    const int8_t act_q[10] = {127, -127, 0, 0, 2, 2, -2, 3, 100, -3};
    const uint8_t *bytes = (const uint8_t *)&ref;
    assert_int_equal(bytes[0], 0x00); /* fp16 1.0 = 0x3c00, little-endian */
    assert_int_equal(bytes[1], 0x3c);
    assert_int_equal(act.d, 0x3c00);
    for (int j = 0; j < 32; j++) {
        assert_int_equal(ref.qs[j], j < 10 ? ref_q[j] : 0);
        assert_int_equal(act.qs[j], j < 10 ? act_q[j] : 0);
    }

    /* d = 12.7/127 is stored as fp16 0x2e66 (0.0999756). */
    float y[32] = {12.7f, -1.0f, 0.26f, 0.0f, -12.0f};
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_Q8_0, y, &ref, 32));
    assert_int_equal(ref.d, 0x2e66);
    assert_int_equal(ref.qs[0], 127);
    assert_int_equal(ref.qs[1], -10);
    assert_int_equal(ref.qs[2], 3);
    assert_int_equal(ref.qs[3], 0);
    assert_int_equal(ref.qs[4], -120);

    float back[32];
    RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_Q8_0, &ref, back, 32));
    assert_true(back[0] == 127.0f * 0.0999755859375f);
    assert_true(back[4] == -120.0f * 0.0999755859375f);
}

static void test_golden_q4_0(void **state) {
    (void)state;
    /* The signed extreme -8 gives d = 1; codes are trunc(x + 8.5) capped at 15. */
    float x[32] = {0};
    x[0] = -8.0f, x[16] = 7.9f;  /* 0, 15 (16.4 capped) */
    x[1] = 0.5f, x[17] = -0.5f;  /* 9, 8 */
    x[2] = 1.2f, x[18] = -0.51f; /* 9, 7 */
    x[3] = 7.0f, x[19] = 0.0f;   /* 15, 8 */
    rz_block_q4_0 b;
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_Q4_0, x, &b, 32));
    const uint8_t *bytes = (const uint8_t *)&b;
    assert_int_equal(bytes[0], 0x00);
    assert_int_equal(bytes[1], 0x3c);
    const uint8_t expect[16] = {0xf0, 0x89, 0x79, 0x8f, 0x88, 0x88, 0x88, 0x88,
                                0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88, 0x88};
    assert_memory_equal(b.qs, expect, 16);

    /* A positive extreme flips the scale: max 4 gives d = -0.5. */
    float y[32] = {0};
    y[0] = 4.0f, y[16] = -4.0f; /* 0, 15 (16.5 capped) */
    y[1] = 1.0f;                /* 6 */
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_Q4_0, y, &b, 32));
    assert_int_equal(b.d, 0xb800);
    assert_int_equal(b.qs[0], 0xf0);
    assert_int_equal(b.qs[1], 0x86);
    for (int j = 2; j < 16; j++)
        assert_int_equal(b.qs[j], 0x88);

    float back[32];
    RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_Q4_0, &b, back, 32));
    assert_true(back[0] == 4.0f);   /* (0 - 8) * -0.5 */
    assert_true(back[16] == -3.5f); /* (15 - 8) * -0.5 */
    assert_true(back[1] == 1.0f);   /* (6 - 8) * -0.5 */
}

static void test_roundtrip_q8_0(void **state) {
    (void)state;
    uint64_t rng = 1;
    enum { NB = 64 };
    float x[NB * 32], back[NB * 32];
    rz_block_q8_0 q[NB];
    for (int b = 0; b < NB; b++) {
        const float range = b == 0 ? 0.0f : ldexpf(1.0f, b % 24 - 12);
        fill_uniform(&rng, x + b * 32, 32, -range, range);
    }
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_Q8_0, x, q, NB * 32));
    RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_Q8_0, q, back, NB * 32));
    for (int b = 0; b < NB; b++) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[b * 32 + j]));
        const float d = amax / 127.0f, d16 = rz_fp16_to_f32(q[b].d);
        /* Half a step, plus the fp16 rounding of the scale times the code. */
        const float bound = 0.5f * d + 127.0f * fabsf(d - d16) + 1e-6f * amax;
        for (int j = 0; j < 32; j++)
            assert_true(fabsf(back[b * 32 + j] - x[b * 32 + j]) <= bound);
    }
    for (int j = 0; j < 32; j++)
        assert_true(back[j] == 0.0f);
}

static void test_roundtrip_q4_0(void **state) {
    (void)state;
    uint64_t rng = 2;
    enum { NB = 64 };
    float x[NB * 32], back[NB * 32];
    rz_block_q4_0 q[NB];
    for (int b = 0; b < NB; b++) {
        const float range = b == 0 ? 0.0f : ldexpf(1.0f, b % 24 - 12);
        fill_uniform(&rng, x + b * 32, 32, -range, range);
    }
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_Q4_0, x, q, NB * 32));
    RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_Q4_0, q, back, NB * 32));
    for (int b = 0; b < NB; b++) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++)
            if (fabsf(x[b * 32 + j]) > amax) amax = fabsf(x[b * 32 + j]), max = x[b * 32 + j];
        const float d = fabsf(max / 8.0f), d16 = fabsf(rz_fp16_to_f32(q[b].d));
        const float fp16_err = 8.0f * fabsf(d - d16) + 1e-6f * amax;
        for (int j = 0; j < 32; j++) {
            const float xi = x[b * 32 + j], err = fabsf(back[b * 32 + j] - xi);
            /* Half a step, except on the side opposite the extreme, where
             * values beyond 7.5 steps are capped at code 15. */
            const float bound = (xi * max < 0.0f && fabsf(xi) > 7.5f * d ? 1.0f : 0.5f) * d + fp16_err;
            assert_true(err <= bound);
        }
    }
}

/* Every finite half / bfloat16 survives float and back bit for bit. */
static void test_roundtrip_f16_bf16(void **state) {
    (void)state;
    enum { N = 1 << 16 };
    uint16_t *bits = malloc(N * sizeof *bits), *back = malloc(N * sizeof *back);
    float *f = malloc(N * sizeof *f);
    int n = 0;
    for (uint32_t h = 0; h < N; h++)
        if ((h & 0x7c00u) != 0x7c00u) bits[n++] = (uint16_t)h;
    RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_F16, bits, f, (uint64_t)n));
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_F16, f, back, (uint64_t)n));
    assert_memory_equal(bits, back, (size_t)n * 2);
    n = 0;
    for (uint32_t h = 0; h < N; h++)
        if ((h & 0x7f80u) != 0x7f80u) bits[n++] = (uint16_t)h;
    RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_BF16, bits, f, (uint64_t)n));
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_BF16, f, back, (uint64_t)n));
    assert_memory_equal(bits, back, (size_t)n * 2);
    float g[3] = {1.5f, -2.0f, 0.25f}, g_back[3];
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_F32, g, g_back, 3));
    assert_memory_equal(g, g_back, sizeof g);
    free(bits);
    free(back);
    free(f);
}

/* Random weights of `type` and activations already in its vec_dot_type. */
/* Weights from random floats, or random code bytes for types quantized
 * whole tensors at a time (I2_S); activations from random floats. */
static void make_operands(uint64_t *rng, rz_type type, int64_t n, void *w, void *a, float *scratch) {
    const rz_type_traits *t = rz_type_traits_get(type);
    const rz_type_traits *vt = rz_type_traits_get(t->vec_dot_type);
    fill_uniform(rng, scratch, n, -1.0f, 1.0f);
    if (t->from_float) {
        t->from_float(scratch, w, n);
    } else {
        for (uint64_t i = 0; i < rz_row_bytes(t, (uint64_t)n); i++)
            ((unsigned char *)w)[i] = (unsigned char)rz_test_rand_u64(rng);
    }
    fill_uniform(rng, scratch, n, -2.0f, 2.0f);
    vt->from_float_act[RZ_ISA_SCALAR](scratch, a, n);
}

static void test_vec_dot_isa_matches_scalar(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 3;
    float *scratch = malloc(MAX_N * sizeof *scratch);
    void *w = malloc(MAX_N * 4), *a = malloc(MAX_N * 4);
    for (size_t ti = 0; ti < sizeof dot_types / sizeof dot_types[0]; ti++) {
        const rz_type type = dot_types[ti];
        const uint32_t bs = rz_type_block_size(type);
        for (int64_t len = 1; len <= MAX_N; len += bs == 1 ? 13 : 1) {
            const int64_t n = bs == 1 ? len : (len % MAX_BLOCKS + 1) * 32;
            if (bs != 1 && len > MAX_BLOCKS) break;
            make_operands(&rng, type, n, w, a, scratch);
            float ref;
            rz_type_traits_get(type)->vec_dot[RZ_ISA_SCALAR](n, &ref, w, a);
            const double tol = 1e-5 * rz_test_abs_dot(type, w, a, n) + 1e-30;
            for (int p = 1; p < n_paths; p++) {
                float got = NAN;
                rz_type_vec_dot(type, paths[p])(n, &got, w, a);
                if (!(fabs((double)got - ref) <= tol))
                    fail_msg("%s n=%lld on %s: %.9g vs scalar %.9g (tol %.3g)", rz_type_name(type),
                             (long long)n, rz_isa_name(paths[p]), got, ref, tol);
            }
        }
    }
    free(scratch);
    free(w);
    free(a);
}

/* vec_dot2 gives each of its two rows bit for bit what vec_dot gives it, at
 * every length (tails included), for every type and path that has one. */
static void test_vec_dot2_matches_vec_dot(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 9;
    float *scratch = malloc(MAX_N * sizeof *scratch);
    void *w0 = malloc(MAX_N * 4), *w1 = malloc(MAX_N * 4), *a = malloc(MAX_N * 4),
         *unused = malloc(MAX_N * 4);
    int checked = 0;
    for (int type = 0; type < RZ_TYPE_COUNT; type++) {
        const rz_type_traits *t = rz_type_traits_get((rz_type)type);
        if (!t || !(t->from_float || t->quantize_tensor)) continue;
        const int64_t bs = t->block_size, step = bs == 1 ? 7 : bs;
        for (int p = 0; p < n_paths; p++) {
            const rz_vec_dot2_fn dot2 = rz_type_vec_dot2((rz_type)type, paths[p]);
            if (!dot2) continue;
            checked++;
            for (int64_t n = bs; n <= MAX_N; n += step) {
                make_operands(&rng, (rz_type)type, n, w0, a, scratch);
                make_operands(&rng, (rz_type)type, n, w1, unused, scratch);
                float ref[2], got[2] = {NAN, NAN};
                rz_type_vec_dot((rz_type)type, paths[p])(n, &ref[0], w0, a);
                rz_type_vec_dot((rz_type)type, paths[p])(n, &ref[1], w1, a);
                dot2(n, got, w0, w1, a);
                if (memcmp(got, ref, sizeof got))
                    fail_msg("%s vec_dot2 n=%lld on %s: %.9g, %.9g vs %.9g, %.9g", t->name, (long long)n,
                             rz_isa_name(paths[p]), got[0], got[1], ref[0], ref[1]);
            }
        }
    }
    if (rz_isa_best() >= RZ_ISA_AVX512) assert_true(checked >= 2); /* F16 and I2_S there */
    free(scratch);
    free(w0);
    free(w1);
    free(a);
    free(unused);
}

/* With unit scales the quantized dots are integers below 2^24, so every
 * path must return the exact block-sum total. */
static void test_quant_dot_integer_exact(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 4;
    rz_block_q8_0 x8[30], y8[30];
    rz_block_q4_0 x4[30];
    for (int nb = 1; nb <= 30; nb++) {
        for (int b = 0; b < nb; b++) {
            x8[b].d = y8[b].d = x4[b].d = 0x3c00;
            for (int j = 0; j < 32; j++) {
                /* Include -128 in x: |x| must be handled as unsigned 128. */
                x8[b].qs[j] = (int8_t)(rz_test_rand_u64(&rng) % 256 - 128);
                y8[b].qs[j] = (int8_t)(rz_test_rand_u64(&rng) % 255 - 127);
            }
            for (int j = 0; j < 16; j++)
                x4[b].qs[j] = (uint8_t)rz_test_rand_u64(&rng);
        }
        int64_t sum8 = 0, sum4 = 0;
        for (int b = 0; b < nb; b++) {
            int32_t s8 = 0, s4 = 0;
            for (int j = 0; j < 32; j++) {
                s8 += x8[b].qs[j] * y8[b].qs[j];
                const int nib = j < 16 ? x4[b].qs[j] & 15 : x4[b].qs[j - 16] >> 4;
                s4 += (nib - 8) * y8[b].qs[j];
            }
            assert_int_equal(rz_block_dot_q8_0_q8_0(&x8[b], &y8[b]), s8);
            assert_int_equal(rz_block_dot_q4_0_q8_0(&x4[b], &y8[b]), s4);
            sum8 += s8;
            sum4 += s4;
        }
        for (int p = 0; p < n_paths; p++) {
            float got8, got4;
            rz_type_vec_dot(RZ_TYPE_Q8_0, paths[p])(nb * 32, &got8, x8, y8);
            rz_type_vec_dot(RZ_TYPE_Q4_0, paths[p])(nb * 32, &got4, x4, y8);
            if (got8 != (float)sum8 || got4 != (float)sum4)
                fail_msg("%s nb=%d: q8_0 %.1f vs %lld, q4_0 %.1f vs %lld", rz_isa_name(paths[p]), nb, got8,
                         (long long)sum8, got4, (long long)sum4);
        }
    }
}

/* Activation converters: identical bytes on every path, ties, zeros and
 * non-finite values included. */
static void test_from_float_act_paths_identical(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 5;
    enum { NB = 48, N = NB * 32 };
    float *x = malloc(N * sizeof *x);
    for (int b = 0; b < NB; b++)
        fill_uniform(&rng, x + b * 32, 32, -ldexpf(1.0f, b % 20 - 10), ldexpf(1.0f, b % 20 - 10));
    /* Block 0: amax 127 (id 1) and exact .5 ties; block 1: zeros; block 2:
     * NaN and infinity; block 3: random bit patterns (denormals, NaNs). */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16) + 0.5f;
    x[31] = 127.0f;
    memset(x + 32, 0, 32 * sizeof *x);
    x[64] = NAN, x[65] = INFINITY, x[66] = -1.0f;
    for (int j = 96; j < 128; j++)
        x[j] = rz_bits_f32((uint32_t)rz_test_rand_u64(&rng));
    const rz_type types[] = {RZ_TYPE_F32,  RZ_TYPE_F16,     RZ_TYPE_BF16,
                             RZ_TYPE_Q8_0, RZ_TYPE_F16_ACT, RZ_TYPE_BF16_ACT};
    unsigned char *ref = malloc(N * 4), *got = malloc(N * 4);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const rz_type type = types[ti];
        const uint32_t bs = rz_type_block_size(type);
        for (int64_t n = bs; n <= N; n += bs == 1 ? 7 : 32) {
            uint64_t bytes;
            RZ_ASSERT_OK(rz_type_tensor_bytes(type, (uint64_t)n, &bytes));
            rz_type_from_float_act(type, RZ_ISA_SCALAR)(x, ref, n);
            for (int p = 1; p < n_paths; p++) {
                memset(got, 0xa5, bytes);
                rz_type_from_float_act(type, paths[p])(x, got, n);
                if (memcmp(ref, got, bytes) != 0)
                    fail_msg("%s n=%lld differs on %s", rz_type_name(type), (long long)n,
                             rz_isa_name(paths[p]));
            }
        }
    }
    /* Against the reference quantizer: same scales, codes within one. */
    rz_block_q8_0 *qa = (rz_block_q8_0 *)ref, *qr = (rz_block_q8_0 *)got;
    rz_quantize_row_q8_0(x + 128, qa, N - 128);
    rz_quantize_row_q8_0_ref(x + 128, qr, N - 128);
    for (int b = 0; b < NB - 4; b++) {
        assert_int_equal(qa[b].d, qr[b].d);
        for (int j = 0; j < 32; j++)
            assert_true(abs(qa[b].qs[j] - qr[b].qs[j]) <= 1);
    }
    free(x);
    free(ref);
    free(got);
}

static void test_traits_table(void **state) {
    (void)state;
    for (size_t ti = 0; ti < sizeof dot_types / sizeof dot_types[0]; ti++) {
        const rz_type type = dot_types[ti];
        assert_true(rz_type_can_dequantize(type));
        assert_true(rz_type_can_quantize(type));
        const rz_type_traits *t = rz_type_traits_get(type);
        for (int i = 0; i < RZ_ISA_COUNT; i++)
            assert_non_null(t->vec_dot[i]);
        assert_non_null(rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR));
    }
    assert_int_equal(rz_type_traits_get(RZ_TYPE_Q4_0)->vec_dot_type, RZ_TYPE_Q8_0);
    assert_false(rz_type_can_dequantize(RZ_TYPE_IQ2_XXS));
    float f[256];
    assert_int_equal(rz_dequantize(RZ_TYPE_IQ2_XXS, f, f, 256), RZ_ERR_UNSUPPORTED);
    assert_int_equal(rz_quantize(RZ_TYPE_Q8_0, f, f, 33), RZ_ERR_INVALID_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_q8_0),
        cmocka_unit_test(test_golden_q4_0),
        cmocka_unit_test(test_roundtrip_q8_0),
        cmocka_unit_test(test_roundtrip_q4_0),
        cmocka_unit_test(test_roundtrip_f16_bf16),
        cmocka_unit_test(test_vec_dot_isa_matches_scalar),
        cmocka_unit_test(test_vec_dot2_matches_vec_dot),
        cmocka_unit_test(test_quant_dot_integer_exact),
        cmocka_unit_test(test_from_float_act_paths_identical),
        cmocka_unit_test(test_traits_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
