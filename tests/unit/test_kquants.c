/* Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4 and the K-quants: ggml-exact decoding and
 * mat-vec on llama.cpp's golden data, quantizer quality against llama.cpp's,
 * MXFP4 against hand-computed blocks, and every ISA kernel against the
 * scalar reference. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quants_k.h"
#include "tensor/type_traits.h"
#include "test_support.h"

enum { E = 256, F = 768, N_X = 4 };

typedef struct golden {
    const char *file; /* NAME in the ggml-quants folder */
    rz_type type;
} golden;

static const golden goldens[] = {
    {"Q4_1", RZ_TYPE_Q4_1},   {"Q5_1", RZ_TYPE_Q5_1},   {"Q2_K", RZ_TYPE_Q2_K},
    {"Q4_K_M", RZ_TYPE_Q4_K}, {"Q5_K_M", RZ_TYPE_Q5_K}, {"Q6_K", RZ_TYPE_Q6_K},
};

static const rz_type new_types[] = {RZ_TYPE_Q4_1, RZ_TYPE_Q5_0, RZ_TYPE_Q5_1, RZ_TYPE_IQ4_NL, RZ_TYPE_MXFP4,
                                    RZ_TYPE_Q2_K, RZ_TYPE_Q3_K, RZ_TYPE_Q4_K, RZ_TYPE_Q5_K,   RZ_TYPE_Q6_K};

static float *read_floats(const char *rel, size_t n) {
    size_t bytes;
    float *data = rz_test_read_file(rz_test_shared_path(rel), &bytes);
    assert_non_null(data);
    assert_int_equal(bytes, n * sizeof(float));
    return data;
}

/* blk.0.ffn_up.weight of llama.NAME.gguf, dequantized. */
static float *ffn_up(const char *name, rz_type want, rz_gguf **file, const void **raw) {
    char rel[128];
    snprintf(rel, sizeof rel, "testdata/ggml-quants/llama.%s.gguf", name);
    RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path(rel), file));
    const rz_gguf_tensor *t = rz_gguf_find_tensor(*file, "blk.0.ffn_up.weight");
    assert_non_null(t);
    assert_int_equal(t->type, want);
    assert_int_equal(t->ne[0], E);
    assert_int_equal(t->ne[1], F);
    float *w = malloc((size_t)E * F * sizeof *w);
    RZ_ASSERT_OK(rz_dequantize(t->type, t->data, w, (uint64_t)E * F));
    if (raw) *raw = t->data;
    return w;
}

/* sum |w_i x_i|: the scale of a dot product's rounding error. */
static double magnitude(const float *w, const float *x, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        m += fabs((double)w[i] * x[i]);
    return m;
}

static void test_golden_dequantize_and_matvec(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/ggml-quants/matvec.x.f32");
    float *x = read_floats("testdata/ggml-quants/matvec.x.f32", (size_t)N_X * E);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (size_t g = 0; g < sizeof goldens / sizeof goldens[0]; g++) {
        char rel[128];
        snprintf(rel, sizeof rel, "testdata/ggml-quants/llama.%s.blk0_ffn_up.deq.f32", goldens[g].file);
        float *want = read_floats(rel, (size_t)E * F);
        rz_gguf *file;
        const void *raw;
        float *w = ffn_up(goldens[g].file, goldens[g].type, &file, &raw);
        if (memcmp(w, want, (size_t)E * F * sizeof *w) != 0)
            fail_msg("%s: dequantized values differ", goldens[g].file);

        snprintf(rel, sizeof rel, "testdata/ggml-quants/llama.%s.blk0_ffn_up.matvec.y.f32", goldens[g].file);
        float *y = read_floats(rel, (size_t)N_X * F);
        const rz_type_traits *t = rz_type_traits_get(goldens[g].type);
        uint8_t act[E * 2];
        const uint64_t row = rz_row_bytes(t, E);
        for (int p = 0; p < n_paths; p++) {
            double max_abs = 0, max_rel = 0;
            for (int v = 0; v < N_X; v++) {
                rz_type_from_float_act(t->vec_dot_type, paths[p])(x + v * E, act, E);
                for (int r = 0; r < F; r++) {
                    float got;
                    rz_type_vec_dot(goldens[g].type, paths[p])(E, &got, (const uint8_t *)raw + r * row, act);
                    const double diff = fabs((double)got - y[v * F + r]);
                    const double rel_err = diff / magnitude(w + r * E, x + v * E, E);
                    if (diff > max_abs) max_abs = diff;
                    if (rel_err > max_rel) max_rel = rel_err;
                }
            }
            printf("%-7s %-6s matvec vs ggml: max abs %.3g, max rel (to sum|w x|) %.3g\n", goldens[g].file,
                   rz_isa_name(paths[p]), max_abs, max_rel);
            if (max_rel > 1e-5)
                fail_msg("%s on %s: matvec off by %g relative", goldens[g].file, rz_isa_name(paths[p]),
                         max_rel);
        }
        free(y);
        free(w);
        free(want);
        rz_gguf_close(file);
    }
    free(x);
}

static double rms_error(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s / (double)n);
}

/* Our reference quantizers on the F32 source of blk.0.ffn_up: the error
 * may exceed llama-quantize's (the golden deq files) by at most 5%. */
static void test_quantizer_quality_vs_llama_cpp(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/ggml-quants/llama.F32.gguf");
    rz_gguf *src_file;
    float *src = ffn_up("F32", RZ_TYPE_F32, &src_file, NULL);
    float *back = malloc((size_t)E * F * sizeof *back);
    void *q = malloc((size_t)E * F * 2);
    for (size_t g = 0; g < sizeof goldens / sizeof goldens[0]; g++) {
        char rel[128];
        snprintf(rel, sizeof rel, "testdata/ggml-quants/llama.%s.blk0_ffn_up.deq.f32", goldens[g].file);
        float *theirs = read_floats(rel, (size_t)E * F);
        RZ_ASSERT_OK(rz_quantize(goldens[g].type, src, q, (uint64_t)E * F));
        RZ_ASSERT_OK(rz_dequantize(goldens[g].type, q, back, (uint64_t)E * F));
        const double ours = rms_error(src, back, (size_t)E * F), ref = rms_error(src, theirs, (size_t)E * F);
        printf("%-7s rms error: ours %.4g, llama.cpp %.4g (ratio %.3f)\n", goldens[g].file, ours, ref,
               ours / ref);
        if (ours > 1.05 * ref) fail_msg("%s: rms error %g vs llama.cpp %g", goldens[g].file, ours, ref);
        free(theirs);
    }
    free(q);
    free(back);
    free(src);
    rz_gguf_close(src_file);
}

static void fill_normal(uint64_t *rng, float *x, size_t n, float sigma) {
    for (size_t i = 0; i < n; i += 2) {
        const float u1 = rz_test_rand_uniform(rng, 1e-7f, 1.0f), u2 = rz_test_rand_uniform(rng, 0.0f, 1.0f);
        const float r = sigma * sqrtf(-2.0f * logf(u1));
        x[i] = r * cosf(6.2831853f * u2);
        if (i + 1 < n) x[i + 1] = r * sinf(6.2831853f * u2);
    }
}

/* Relative rms error of a round trip of Gaussian weights; the bounds sit
 * just above what llama.cpp's reference quantizers reach on such data. */
static void test_roundtrip_bounds(void **state) {
    (void)state;
    static const struct {
        rz_type type;
        double bound;
    } cases[] = {
        {RZ_TYPE_Q4_1, 0.115},  {RZ_TYPE_Q5_0, 0.060}, {RZ_TYPE_Q5_1, 0.056}, {RZ_TYPE_IQ4_NL, 0.105},
        {RZ_TYPE_MXFP4, 0.125}, {RZ_TYPE_Q2_K, 0.36},  {RZ_TYPE_Q3_K, 0.20},  {RZ_TYPE_Q4_K, 0.100},
        {RZ_TYPE_Q5_K, 0.050},  {RZ_TYPE_Q6_K, 0.026},
    };
    enum { N = 256 * 64 };
    uint64_t rng = 7;
    float *x = malloc(N * sizeof *x), *back = malloc(N * sizeof *back);
    void *q = malloc(N * 2);
    fill_normal(&rng, x, N, 0.02f);
    /* Zero blocks and a block with one outlier must survive too. */
    memset(x, 0, 256 * sizeof *x);
    x[300] = 1.0f;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        RZ_ASSERT_OK(rz_quantize(cases[c].type, x, q, N));
        RZ_ASSERT_OK(rz_dequantize(cases[c].type, q, back, N));
        for (int i = 0; i < 256; i++)
            assert_true(back[i] == 0.0f);
        const double rel = rms_error(x + 512, back + 512, N - 512) / 0.02;
        printf("%-5s relative rms error %.4f (bound %.3f)\n", rz_type_name(cases[c].type), rel,
               cases[c].bound);
        if (!(rel <= cases[c].bound)) fail_msg("%s: relative rms error %g", rz_type_name(cases[c].type), rel);
    }
    free(q);
    free(back);
    free(x);
}

/* Random weights of `type` (quantized from uniform values, so the scales
 * are realistic) and activations in its vec_dot_type. */
static void make_operands(uint64_t *rng, rz_type type, int64_t n, void *w, void *a, float *fw, float *fa) {
    const rz_type_traits *t = rz_type_traits_get(type);
    for (int64_t i = 0; i < n; i++)
        fw[i] = rz_test_rand_uniform(rng, -1.0f, 1.0f);
    t->from_float(fw, w, n);
    t->to_float(w, fw, n);
    for (int64_t i = 0; i < n; i++)
        fa[i] = rz_test_rand_uniform(rng, -2.0f, 2.0f);
    rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR)(fa, a, n);
    rz_type_traits_get(t->vec_dot_type)->to_float(a, fa, n);
}

static void test_isa_matches_scalar(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    enum { MAX_N = 256 * 9 };
    uint64_t rng = 11;
    float *fw = malloc(MAX_N * sizeof *fw), *fa = malloc(MAX_N * sizeof *fa);
    void *w = malloc(MAX_N * 2), *a = malloc(MAX_N * 2);
    for (size_t ti = 0; ti < sizeof new_types / sizeof new_types[0]; ti++) {
        const rz_type type = new_types[ti];
        const int64_t bs = rz_type_block_size(type);
        for (int64_t n = bs; n <= MAX_N; n += bs) {
            make_operands(&rng, type, n, w, a, fw, fa);
            float ref;
            rz_type_vec_dot(type, RZ_ISA_SCALAR)(n, &ref, w, a);
            const double tol = 1e-5 * magnitude(fw, fa, (int)n) + 1e-30;
            for (int p = 1; p < n_paths; p++) {
                float got = NAN;
                rz_type_vec_dot(type, paths[p])(n, &got, w, a);
                if (!(fabs((double)got - ref) <= tol))
                    fail_msg("%s n=%lld on %s: %.9g vs scalar %.9g (tol %.3g)", rz_type_name(type),
                             (long long)n, rz_isa_name(paths[p]), got, ref, tol);
            }
        }
    }
    free(fw);
    free(fa);
    free(w);
    free(a);
}

static void random_bytes(uint64_t *rng, void *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)p)[i] = (uint8_t)rz_test_rand_u64(rng);
}

/* Random codes and scales with unit super-scales: every path's result is
 * then the exact integer isum - msum of the scalar block functions. */
static void test_integer_parts_exact(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 13;
    enum { NB = 7 };
    rz_block_q8_K yk[NB];
    rz_block_q8_1 y1[NB * 8];
    rz_block_q8_0 y0[NB * 8];
    static uint8_t w[NB * 8 * 24 + NB * 210];
    const rz_fp16 one = 0x3c00;
    for (int iter = 0; iter < 20; iter++) {
        for (int b = 0; b < NB; b++) {
            yk[b].d = 1.0f;
            for (int j = 0; j < RZ_QK_K; j++)
                yk[b].qs[j] = (int8_t)(rz_test_rand_u64(&rng) % 255 - 127);
            for (int g = 0; g < 16; g++) {
                int s = 0;
                for (int l = 0; l < 16; l++)
                    s += yk[b].qs[16 * g + l];
                yk[b].bsums[g] = (int16_t)s;
            }
        }
        for (int b = 0; b < NB * 8; b++) {
            y0[b].d = y1[b].d = one;
            y1[b].s = 0;
            for (int j = 0; j < 32; j++)
                y0[b].qs[j] = y1[b].qs[j] = (int8_t)(rz_test_rand_u64(&rng) % 255 - 127);
        }
        for (size_t ti = 0; ti < sizeof new_types / sizeof new_types[0]; ti++) {
            const rz_type type = new_types[ti];
            const rz_type_traits *t = rz_type_traits_get(type);
            const int64_t n = t->block_size == 32 ? NB * 8 * 32 : NB * 256;
            const int64_t nb = n / t->block_size;
            random_bytes(&rng, w, (size_t)(nb * t->block_bytes));
            int64_t want = 0;
            for (int64_t b = 0; b < nb; b++) {
                uint8_t *blk = w + b * t->block_bytes;
                switch (type) {
                case RZ_TYPE_Q4_1: {
                    rz_block_q4_1 *x = (rz_block_q4_1 *)blk;
                    x->d = one, x->m = 0;
                    want += rz_block_dot_q4_1_q8_1(x, &y1[b]);
                    break;
                }
                case RZ_TYPE_Q5_0: {
                    rz_block_q5_0 *x = (rz_block_q5_0 *)blk;
                    x->d = one;
                    want += rz_block_dot_q5_0_q8_0(x, &y0[b]);
                    break;
                }
                case RZ_TYPE_Q5_1: {
                    rz_block_q5_1 *x = (rz_block_q5_1 *)blk;
                    x->d = one, x->m = 0;
                    want += rz_block_dot_q5_1_q8_1(x, &y1[b]);
                    break;
                }
                case RZ_TYPE_IQ4_NL: {
                    rz_block_iq4_nl *x = (rz_block_iq4_nl *)blk;
                    x->d = one;
                    want += rz_block_dot_iq4_nl_q8_0(x, &y0[b]);
                    break;
                }
                case RZ_TYPE_MXFP4: {
                    rz_block_mxfp4 *x = (rz_block_mxfp4 *)blk;
                    x->e = 128; /* 2^(e - 128) = 1 */
                    want += rz_block_dot_mxfp4_q8_0(x, &y0[b]);
                    break;
                }
                case RZ_TYPE_Q2_K: {
                    rz_block_q2_K *x = (rz_block_q2_K *)blk;
                    x->d = x->dmin = one;
                    const rz_kdot r = rz_block_dot_q2_K_q8_K(x, &yk[b]);
                    want += r.isum - r.msum;
                    break;
                }
                case RZ_TYPE_Q3_K: {
                    rz_block_q3_K *x = (rz_block_q3_K *)blk;
                    x->d = one;
                    want += rz_block_dot_q3_K_q8_K(x, &yk[b]).isum;
                    break;
                }
                case RZ_TYPE_Q4_K: {
                    rz_block_q4_K *x = (rz_block_q4_K *)blk;
                    x->d = x->dmin = one;
                    const rz_kdot r = rz_block_dot_q4_K_q8_K(x, &yk[b]);
                    want += r.isum - r.msum;
                    break;
                }
                case RZ_TYPE_Q5_K: {
                    rz_block_q5_K *x = (rz_block_q5_K *)blk;
                    x->d = x->dmin = one;
                    const rz_kdot r = rz_block_dot_q5_K_q8_K(x, &yk[b]);
                    want += r.isum - r.msum;
                    break;
                }
                case RZ_TYPE_Q6_K: {
                    rz_block_q6_K *x = (rz_block_q6_K *)blk;
                    x->d = one;
                    want += rz_block_dot_q6_K_q8_K(x, &yk[b]).isum;
                    break;
                }
                default: fail();
                }
            }
            /* Totals below 2^24 are exact in float: every path must return
             * exactly isum - msum (larger ones, rare here, are skipped). */
            const void *y = t->vec_dot_type == RZ_TYPE_Q8_K   ? (const void *)yk
                            : t->vec_dot_type == RZ_TYPE_Q8_1 ? (const void *)y1
                                                              : (const void *)y0;
            for (int p = 0; p < n_paths; p++) {
                float got;
                rz_type_vec_dot(type, paths[p])(n, &got, w, y);
                if ((double)got != (double)(float)want && llabs(want) < (1 << 24))
                    fail_msg("%s on %s: %.1f, want %lld", rz_type_name(type), rz_isa_name(paths[p]), got,
                             (long long)want);
            }
        }
    }
}

/* MXFP4 decoding: levels {0, 1, 2, 3, 4, 6, 8, 12} with code bit 3 the
 * sign, times 2^(e - 128); element j in the low nibble of byte j, element
 * j + 16 in the high one. */
static void test_mxfp4_dequantize(void **state) {
    (void)state;
    assert_true(rz_e8m0_to_f32_half(0) == 0x1p-128f); /* subnormal */
    assert_true(rz_e8m0_to_f32_half(1) == 0x1p-127f);
    assert_true(rz_e8m0_to_f32_half(2) == 0x1p-126f);
    assert_true(rz_e8m0_to_f32_half(128) == 1.0f);
    assert_true(rz_e8m0_to_f32_half(255) == 0x1p127f);

    rz_block_mxfp4 b[3];
    b[0].e = 128;
    for (int j = 0; j < 16; j++)
        b[0].qs[j] = (uint8_t)(j | (15 - j) << 4);
    b[1].e = 130; /* scale 4 */
    memset(b[1].qs, 0, 16);
    b[1].qs[0] = 0x7d; /* element 0: code 13 (-6), element 16: code 7 (12) */
    b[1].qs[5] = 0x20; /* element 21: code 2 (2) */
    b[2].e = 0;        /* scale 2^-128 */
    memset(b[2].qs, 0, 16);
    b[2].qs[1] = 0xa1; /* element 1: 2^-128, element 17: -2 * 2^-128 */
    float y[96];
    RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_MXFP4, b, y, 96));
    const float low[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    for (int j = 0; j < 16; j++) {
        assert_true(y[j] == low[j]);
        assert_true(y[j + 16] == low[15 - j]);
    }
    for (int j = 32; j < 64; j++) {
        const float want = j == 32 ? -24.0f : j == 48 ? 48.0f : j == 53 ? 8.0f : 0.0f;
        assert_true(y[j] == want);
    }
    assert_true(y[65] == 0x1p-128f);
    assert_true(y[81] == -0x1p-127f);
}

/* MXFP4 quantization as ggml's quantize_row_mxfp4_ref: e = floor(log2
 * amax) + 125, so the level 12 lands at or below amax; each value takes its
 * nearest level, the lower code on ties. */
static void test_mxfp4_quantize(void **state) {
    (void)state;
    /* amax 7.9: e = 2 + 125 = 127, scale 0.5: levels 0 .. 6 in steps of
     * 0.5, 1 and 2. */
    const float x[32] = {7.9f,  0.5f, 0.74f, 0.76f, -2.9f, 3.1f, 5.1f, 4.9f,  -0.25f, 0.25f, 2.5f,
                         -5.0f, 5.0f, -6.0f, 0.0f,  1.2f,  4.0f, 1.0f, -1.0f, 7.0f,   -0.8f, -1.75f};
    const uint8_t codes[32] = {7, 1, 1,  2, 13, 5,  7, 6, 0, 0, 4, 14, 6, 15, 0, 2,
                               6, 2, 10, 7, 10, 11, 0, 0, 0, 0, 0, 0,  0, 0,  0, 0};
    rz_block_mxfp4 q;
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_MXFP4, x, &q, 32));
    assert_int_equal(q.e, 127);
    for (int j = 0; j < 16; j++)
        assert_int_equal(q.qs[j], codes[j] | codes[j + 16] << 4);

    /* A power of two is its own floor: amax 8 gives e 128 (scale 1), and 8
     * is level 8 exactly. */
    float z[32] = {0};
    z[3] = -8.0f, z[30] = 0.6f;
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_MXFP4, z, &q, 32));
    assert_int_equal(q.e, 128);
    assert_int_equal(q.qs[3], 14);        /* -8 */
    assert_int_equal(q.qs[14], 0x1 << 4); /* 0.6 -> 1 */

    /* Zeros: e 0, codes 0. Below 2^-125 ggml's e wraps past 0 (here to
     * 255) and the codes are all 0; an infinite amax gives e 0. */
    memset(z, 0, sizeof z);
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_MXFP4, z, &q, 32));
    assert_int_equal(q.e, 0);
    z[9] = 0x1p-126f, z[25] = -0x1p-127f;
    rz_block_mxfp4 tiny;
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_MXFP4, z, &tiny, 32));
    assert_int_equal(tiny.e, 255);
    assert_memory_equal(tiny.qs, q.qs, 16);
    z[0] = INFINITY, z[1] = 3 * 0x1p-128f;
    RZ_ASSERT_OK(rz_quantize(RZ_TYPE_MXFP4, z, &q, 32));
    assert_int_equal(q.e, 0);
    assert_int_equal(q.qs[0], 0);
    assert_int_equal(q.qs[1], 3);
}

/* Q8_K activations follow ggml's quantize_row_q8_K: the extreme maps to
 * -127, d = 1/iscale, bsums are sums of 16 codes. */
static void test_q8_K_activations(void **state) {
    (void)state;
    float x[256];
    uint64_t rng = 17;
    for (int i = 0; i < 256; i++)
        x[i] = rz_test_rand_uniform(&rng, -1.0f, 1.0f);
    x[77] = 3.0f;
    rz_block_q8_K y;
    rz_quantize_row_q8_K(x, &y, 256);
    assert_int_equal(y.qs[77], -127);
    assert_true(y.d == 1.0f / (-127.0f / 3.0f));
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++) {
            s += y.qs[16 * g + l];
            assert_int_equal(y.qs[16 * g + l], (int)lrintf(-127.0f / 3.0f * x[16 * g + l]));
        }
        assert_int_equal(y.bsums[g], s);
    }
    memset(x, 0, sizeof x);
    rz_quantize_row_q8_K(x, &y, 256);
    assert_true(y.d == 0.0f);
    for (int g = 0; g < 16; g++)
        assert_int_equal(y.bsums[g], 0);
    /* Every ISA path writes the scalar quantizer's bytes: random blocks, ties
     * of opposite sign at the extreme (the first one wins), a block of zeros,
     * one of zeros but a tiny value. */
    enum { BLOCKS = 6 };
    float row[BLOCKS * 256];
    for (int i = 0; i < BLOCKS * 256; i++)
        row[i] = rz_test_rand_uniform(&rng, -2.0f, 2.0f);
    row[256 + 40] = 4.0f;
    row[256 + 200] = -4.0f;
    memset(row + 2 * 256, 0, 256 * sizeof *row);
    row[3 * 256 + 9] = -4.0f;
    row[3 * 256 + 10] = 4.0f;
    memset(row + 4 * 256, 0, 256 * sizeof *row);
    row[4 * 256 + 5] = 1e-30f;
    rz_block_q8_K want[BLOCKS], got[BLOCKS];
    rz_type_from_float_act(RZ_TYPE_Q8_K, RZ_ISA_SCALAR)(row, want, BLOCKS * 256);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (int p = 0; p < n_paths; p++) {
        rz_type_from_float_act(RZ_TYPE_Q8_K, paths[p])(row, got, BLOCKS * 256);
        assert_memory_equal(got, want, sizeof want);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_dequantize_and_matvec),
        cmocka_unit_test(test_quantizer_quality_vs_llama_cpp),
        cmocka_unit_test(test_roundtrip_bounds),
        cmocka_unit_test(test_isa_matches_scalar),
        cmocka_unit_test(test_integer_parts_exact),
        cmocka_unit_test(test_q8_K_activations),
        cmocka_unit_test(test_mxfp4_dequantize),
        cmocka_unit_test(test_mxfp4_quantize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
