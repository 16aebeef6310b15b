/* Row-wise operators against straightforward formulas. */
#include <math.h>
#include <string.h>

#include "kernels/ops.h"
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rope_styles),
        cmocka_unit_test(test_partial_rope_leaves_tail),
        cmocka_unit_test(test_rms_norm_softmax_glu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
