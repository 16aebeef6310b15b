/* Row-wise operators against straightforward formulas. */
#include <math.h>
#include <string.h>

#include "ryzanstein.h"

#include "kernels/ops.h"
#include "tensor/fp16.h"
#include "test_support.h"

static void test_rope_styles(void **state) {
    (void)state;
    enum { HEADS = 2, HEAD_DIM = 8, N_ROT = 8, PAIRS = N_ROT / 2 };
    float freqs[PAIRS], cs[PAIRS], sn[PAIRS];
    for (int i = 0; i < PAIRS; i++)
        freqs[i] = 1.0f / powf(10000.0f, (float)(2 * i) / N_ROT);
    const int32_t pos = 7;
    rz_rope_angles(cs, sn, freqs, PAIRS, pos);
    float x[HEADS * HEAD_DIM], normal[HEADS * HEAD_DIM], neox[HEADS * HEAD_DIM];
    uint64_t seed = 1;
    for (int i = 0; i < HEADS * HEAD_DIM; i++)
        x[i] = rz_test_rand_uniform(&seed, -1, 1);
    memcpy(normal, x, sizeof x);
    memcpy(neox, x, sizeof x);
    rz_rope_apply(normal, HEADS, HEAD_DIM, N_ROT, RZ_ROPE_NORMAL, cs, sn);
    rz_rope_apply(neox, HEADS, HEAD_DIM, N_ROT, RZ_ROPE_NEOX, cs, sn);
    for (int h = 0; h < HEADS; h++) {
        const float *v = x + h * HEAD_DIM;
        for (int i = 0; i < PAIRS; i++) {
            const float c = cosf(pos * freqs[i]), s = sinf(pos * freqs[i]);
            /* Normal: pairs (2i, 2i+1); NeoX: pairs (i, i + n_rot/2). */
            assert_float_equal(normal[h * HEAD_DIM + 2 * i], v[2 * i] * c - v[2 * i + 1] * s, 1e-6);
            assert_float_equal(normal[h * HEAD_DIM + 2 * i + 1], v[2 * i] * s + v[2 * i + 1] * c, 1e-6);
            assert_float_equal(neox[h * HEAD_DIM + i], v[i] * c - v[i + PAIRS] * s, 1e-6);
            assert_float_equal(neox[h * HEAD_DIM + i + PAIRS], v[i] * s + v[i + PAIRS] * c, 1e-6);
        }
    }
}

static void test_partial_rope_leaves_tail(void **state) {
    (void)state;
    float freqs[2] = {1.0f, 0.1f}, cs[2], sn[2], x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    rz_rope_angles(cs, sn, freqs, 2, 3);
    rz_rope_apply(x, 1, 8, 4, RZ_ROPE_NEOX, cs, sn);
    for (int i = 4; i < 8; i++)
        assert_float_equal(x[i], (float)(i + 1), 0);
}

static void test_rms_norm_softmax_glu(void **state) {
    (void)state;
    float x[4] = {1, -2, 3, -4}, w[4] = {1, 2, 1, 0.5f}, y[4];
    rz_rms_norm(y, x, w, 4, 0.0f);
    const float rms = sqrtf((1 + 4 + 9 + 16) / 4.0f);
    for (int i = 0; i < 4; i++)
        assert_float_equal(y[i], x[i] / rms * w[i], 1e-6);
    float p[3] = {1, 2, 3};
    rz_softmax(p, 3);
    const float z = expf(1) + expf(2) + expf(3);
    for (int i = 0; i < 3; i++)
        assert_float_equal(p[i], expf((float)(i + 1)) / z, 1e-6);
    float g[3] = {-1, 0.5f, 2}, u[3] = {3, 3, 3};
    float g2[3];
    memcpy(g2, g, sizeof g);
    rz_swiglu(g, u, 3);
    rz_relu_sqr_glu(g2, u, 3);
    for (int i = 0; i < 3; i++) {
        const float in = i == 0 ? -1.0f : i == 1 ? 0.5f : 2.0f;
        assert_float_equal(g[i], in / (1 + expf(-in)) * 3, 1e-6);
        assert_float_equal(g2[i], (in > 0 ? in * in : 0) * 3, 1e-6);
    }
    const float ties[4] = {0, 5, 5, 1};
    assert_int_equal(rz_argmax(ties, 4), 1);
}

/* Every ISA path of the row operators against double-precision references,
 * on ragged lengths and, for the SiLU, inputs out to where exp overflows. */
static void test_row_ops_every_isa(void **state) {
    (void)state;
    enum { MAX = 5632 };
    static float x[MAX], w[MAX], y[MAX], up[MAX];
    const int64_t lengths[] = {1, 15, 16, 33, 2048, MAX};
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 5;
    for (int p = 0; p < n_paths; p++) {
        RZ_ASSERT_OK(rz_isa_set(paths[p]));
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            const int64_t n = lengths[li];
            double sq = 0.0;
            for (int64_t i = 0; i < n; i++) {
                x[i] = rz_test_rand_uniform(&rng, -8.0f, 8.0f);
                w[i] = rz_test_rand_uniform(&rng, -2.0f, 2.0f);
                up[i] = rz_test_rand_uniform(&rng, -2.0f, 2.0f);
                sq += (double)x[i] * x[i];
            }
            const double inv_rms = 1.0 / sqrt(sq / (double)n + 1e-5);
            rz_rms_norm(y, x, w, n, 1e-5f);
            for (int64_t i = 0; i < n; i++) {
                const double want = x[i] * inv_rms * w[i];
                if (fabs(y[i] - want) > 1e-6 * fabs(want) + 1e-30)
                    fail_msg("rms_norm on %s n=%lld [%lld]: %.9g vs %.9g", rz_isa_name(paths[p]),
                             (long long)n, (long long)i, y[i], want);
            }
            double z = 0.0, max = x[0];
            for (int64_t i = 0; i < n; i++)
                max = x[i] > max ? x[i] : max;
            for (int64_t i = 0; i < n; i++)
                z += exp(x[i] - max);
            memcpy(y, x, (size_t)n * sizeof *y);
            rz_softmax(y, n);
            for (int64_t i = 0; i < n; i++) {
                const double want = exp(x[i] - max) / z;
                if (fabs(y[i] - want) > 1e-5 * want + 1e-37) /* float sums of n terms */
                    fail_msg("softmax on %s n=%lld [%lld]: %.9g vs %.9g", rz_isa_name(paths[p]), (long long)n,
                             (long long)i, y[i], want);
            }
            const float extremes[] = {-120.0f, -100.0f, -88.5f, -20.0f, -1e-30f, 0.0f, 20.0f, 88.5f, 100.0f};
            for (size_t e = 0; e < sizeof extremes / sizeof extremes[0] && (int64_t)e < n; e++)
                x[e] = extremes[e];
            memcpy(y, x, (size_t)n * sizeof *y);
            rz_swiglu(y, up, n);
            for (int64_t i = 0; i < n; i++) {
                const double want = x[i] / (1.0 + exp(-(double)x[i])) * up[i];
                if (fabs(y[i] - want) > 1e-6 * fabs(want) + 1e-37)
                    fail_msg("swiglu on %s n=%lld [%lld] of %g: %.9g vs %.9g", rz_isa_name(paths[p]),
                             (long long)n, (long long)i, x[i], y[i], want);
            }
            memcpy(y, x, (size_t)n * sizeof *y);
            rz_sigmoid(y, n);
            memcpy(w, x, (size_t)n * sizeof *w); /* w: the SiLU */
            rz_silu(w, n);
            for (int64_t i = 0; i < n; i++) {
                const double sig = 1.0 / (1.0 + exp(-(double)x[i])), silu = x[i] * sig;
                if (fabs(y[i] - sig) > 1e-6 * sig + 1e-37 || fabs(w[i] - silu) > 1e-6 * fabs(silu) + 1e-37)
                    fail_msg("sigmoid, silu on %s n=%lld [%lld] of %g: %.9g, %.9g vs %.9g, %.9g",
                             rz_isa_name(paths[p]), (long long)n, (long long)i, x[i], y[i], w[i], sig, silu);
            }
            /* squared-ReLU GLU: exactly the scalar expression, NaN and -0 included */
            if (n > 2) x[1] = NAN, x[2] = -0.0f;
            memcpy(y, x, (size_t)n * sizeof *y);
            rz_relu_sqr_glu(y, up, n);
            for (int64_t i = 0; i < n; i++) {
                const float r = x[i] > 0.0f ? x[i] : 0.0f, want = r * r * up[i];
                if (memcmp(&y[i], &want, sizeof want) != 0)
                    fail_msg("relu_sqr_glu on %s n=%lld [%lld] of %g: %.9g vs %.9g", rz_isa_name(paths[p]),
                             (long long)n, (long long)i, x[i], y[i], want);
            }
        }
    }
    rz_isa_set(rz_isa_best());
}

/* GeGLU through ggml's fp16 GELU and gpt-oss's clamped SwiGLU against
 * double references of their formulas. */
static void test_gelu_and_oai_glu(void **state) {
    (void)state;
    const float xs[] = {-12.0f, -10.0f, -3.3f, -1.0f, -0.01f, 0.0f, 0.37f,
                        1.0f,   2.5f,   6.9f,  7.5f,  9.99f,  12.0f};
    enum { N = sizeof xs / sizeof xs[0] };
    float gate[N], up[N];
    for (int i = 0; i < N; i++) {
        const double x = xs[i], x16 = rz_fp16_to_f32(rz_f32_to_fp16(xs[i]));
        const double gelu = 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        const double gelu16 =
            0.5 * x16 * (1.0 + tanh(0.7978845608028654 * (x16 + 0.044715 * x16 * x16 * x16)));
        const double want = x <= -10.0 ? 0.0 : x >= 10.0 ? x : gelu16;
        /* the result is rounded to fp16's 11 significant bits */
        assert_true(fabs(rz_gelu_f16(xs[i]) - want) <= fabs(want) / 1024.0 + 1e-7);
        assert_true(fabs(rz_gelu(xs[i]) - gelu) <= 1e-6 * fabs(gelu) + 1e-7);
        gate[i] = xs[i];
        up[i] = 0.5f - xs[i];
    }
    rz_swiglu_oai(gate, up, N);
    for (int i = 0; i < N; i++) {
        const double g = fmin(xs[i], 7.0), u = fmax(fmin(0.5 - xs[i], 7.0), -7.0);
        const double want = g / (1.0 + exp(-1.702 * g)) * (u + 1.0);
        assert_true(fabs(gate[i] - want) <= 1e-5 * fabs(want) + 1e-6);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope_styles),          cmocka_unit_test(test_partial_rope_leaves_tail),
        cmocka_unit_test(test_rms_norm_softmax_glu), cmocka_unit_test(test_row_ops_every_isa),
        cmocka_unit_test(test_gelu_and_oai_glu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
