/* Our decoders and dot products against ggml's outputs on the shared
 * ggml-quants models: dequantization bit for bit, mat-vec (activations
 * converted as ggml does) to float rounding, and `rz tensor`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/type_traits.h"
#include "test_support.h"

#define DIR    "testdata/ggml-quants/"
#define TENSOR "blk.0.ffn_up.weight"

static float *read_floats(const char *rel, size_t expect_count) {
    size_t size = 0;
    float *data = rz_test_read_file(rz_test_shared_path(rel), &size);
    assert_non_null(data);
    assert_int_equal(size, expect_count * sizeof(float));
    return data;
}

static void check_dequantize(const char *name) {
    char gguf_rel[256], deq_rel[256];
    snprintf(gguf_rel, sizeof gguf_rel, DIR "%s.gguf", name);
    snprintf(deq_rel, sizeof deq_rel, DIR "%s.blk0_ffn_up.deq.f32", name);
    RZ_REQUIRE_SHARED(gguf_rel);
    RZ_REQUIRE_SHARED(deq_rel);
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path(gguf_rel), &g));
    const rz_gguf_tensor *t = rz_gguf_find_tensor(g, TENSOR);
    assert_non_null(t);
    float *expect = read_floats(deq_rel, t->n_elements);
    float *got = malloc(t->n_elements * sizeof *got);
    RZ_ASSERT_OK(rz_dequantize(t->type, t->data, got, t->n_elements));
    assert_memory_equal(got, expect, t->n_elements * sizeof *got);
    free(got);
    free(expect);
    rz_gguf_close(g);
}

static void test_dequantize_q8_0(void **state) {
    (void)state;
    check_dequantize("llama.Q8_0");
}

static void test_dequantize_q4_0(void **state) {
    (void)state;
    check_dequantize("llama.Q4_0");
}

/* y_v = W x_v for ggml's four activation vectors, on every ISA path. The
 * bound is relative to sum |w x| of the row: what is left once the
 * activations are converted like ggml is float summation order. */
static void check_matvec(const char *name) {
    char gguf_rel[256], y_rel[256];
    snprintf(gguf_rel, sizeof gguf_rel, DIR "%s.gguf", name);
    snprintf(y_rel, sizeof y_rel, DIR "%s.blk0_ffn_up.matvec.y.f32", name);
    RZ_REQUIRE_SHARED(gguf_rel);
    RZ_REQUIRE_SHARED(y_rel);
    RZ_REQUIRE_SHARED(DIR "matvec.x.f32");
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path(gguf_rel), &g));
    const rz_gguf_tensor *t = rz_gguf_find_tensor(g, TENSOR);
    assert_non_null(t);
    const uint64_t cols = t->ne[0], rows = t->ne[1];
    const rz_type_traits *tt = rz_type_traits_get(t->type);
    float *x = read_floats(DIR "matvec.x.f32", 4 * cols);
    float *y = read_floats(y_rel, 4 * rows);
    float *w = malloc(t->n_elements * sizeof *w);
    RZ_ASSERT_OK(rz_dequantize(t->type, t->data, w, t->n_elements));
    void *xq = malloc(cols * sizeof(float));
    const uint64_t row_bytes = rz_row_bytes(tt, cols);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (int p = 0; p < n_paths; p++) {
        double max_diff = 0.0, max_rel = 0.0;
        for (int v = 0; v < 4; v++) {
            rz_type_from_float_act(tt->vec_dot_type, paths[p])(x + v * cols, xq, (int64_t)cols);
            for (uint64_t r = 0; r < rows; r++) {
                float out;
                rz_type_vec_dot(t->type, paths[p])((int64_t)cols, &out, (const char *)t->data + r * row_bytes,
                                                   xq);
                double mag = 0.0;
                for (uint64_t k = 0; k < cols; k++)
                    mag += fabs((double)w[r * cols + k] * x[v * cols + k]);
                const double diff = fabs((double)out - y[v * rows + r]);
                if (diff > max_diff) max_diff = diff;
                if (diff / mag > max_rel) max_rel = diff / mag;
            }
        }
        printf("%s matvec on %s: max abs diff %.3g, max diff / sum|w x| %.3g\n", name, rz_isa_name(paths[p]),
               max_diff, max_rel);
        if (max_rel > 1e-5)
            fail_msg("%s on %s: relative difference %.3g", name, rz_isa_name(paths[p]), max_rel);
    }
    free(xq);
    free(w);
    free(x);
    free(y);
    rz_gguf_close(g);
}

static void test_matvec_f32(void **state) {
    (void)state;
    check_matvec("llama.F32");
}

static void test_matvec_f16(void **state) {
    (void)state;
    check_matvec("llama.F16");
}

static void test_matvec_q8_0(void **state) {
    (void)state;
    check_matvec("llama.Q8_0");
}

static void test_matvec_q4_0(void **state) {
    (void)state;
    check_matvec("llama.Q4_0");
}

static void test_cli_tensor(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(DIR "llama.Q4_0.gguf");
    RZ_REQUIRE_SHARED(DIR "llama.Q4_0.blk0_ffn_up.deq.f32");
    char gguf[1024], cmd[4096];
    snprintf(gguf, sizeof gguf, "%s", rz_test_shared_path(DIR "llama.Q4_0.gguf"));
    const char *out = rz_test_temp_path("ffn_up.f32");
    snprintf(cmd, sizeof cmd, "'%s' tensor '%s' " TENSOR " -o '%s' 2>&1", rz_test_cli(), gguf, out);
    assert_int_equal(rz_test_run(cmd, NULL), 0);
    size_t got_size = 0, expect_size = 0;
    void *got = rz_test_read_file(out, &got_size);
    void *expect = rz_test_read_file(rz_test_shared_path(DIR "llama.Q4_0.blk0_ffn_up.deq.f32"), &expect_size);
    assert_non_null(got);
    assert_non_null(expect);
    assert_int_equal(got_size, expect_size);
    assert_memory_equal(got, expect, expect_size);
    free(got);
    free(expect);

    char *output = NULL;
    snprintf(cmd, sizeof cmd, "'%s' tensor '%s' blk.9.missing.weight -o '%s' 2>&1", rz_test_cli(), gguf,
             rz_test_temp_path("missing.f32"));
    assert_int_equal(rz_test_run(cmd, &output), 1);
    assert_non_null(strstr(output, "no tensor 'blk.9.missing.weight'"));
    free(output);
}

/* A type without a decoder (IQ2_XXS, in a one-block file) is refused, and
 * no output file is left. */
static void test_cli_tensor_unsupported(void **state) {
    (void)state;
    char path[1024], cmd[4096];
    snprintf(path, sizeof path, "%s", rz_test_temp_path("iq2_xxs.gguf"));
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(path, &w));
    const uint64_t ne[2] = {256, 1};
    RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, "t.weight", RZ_TYPE_IQ2_XXS, 2, ne));
    RZ_ASSERT_OK(rz_gguf_writer_begin_data(w));
    const uint8_t block[66] = {0};
    RZ_ASSERT_OK(rz_gguf_writer_write(w, block, sizeof block));
    RZ_ASSERT_OK(rz_gguf_writer_close(w));
    const char *out = rz_test_temp_path("iq2_xxs.f32");
    snprintf(cmd, sizeof cmd, "'%s' tensor '%s' t.weight -o '%s' 2>&1", rz_test_cli(), path, out);
    char *output = NULL;
    assert_int_equal(rz_test_run(cmd, &output), 1);
    assert_non_null(strstr(output, "cannot dequantize"));
    assert_null(rz_test_read_file(out, NULL));
    free(output);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dequantize_q8_0), cmocka_unit_test(test_dequantize_q4_0),
        cmocka_unit_test(test_matvec_f32),      cmocka_unit_test(test_matvec_f16),
        cmocka_unit_test(test_matvec_q8_0),     cmocka_unit_test(test_matvec_q4_0),
        cmocka_unit_test(test_cli_tensor),      cmocka_unit_test(test_cli_tensor_unsupported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
