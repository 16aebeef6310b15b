/* Agreement with llama.cpp on the synthetic ggml-quants models: logits of a
 * 32-token prompt (batch and one token at a time) and the greedy
 * continuation, within the tolerances the data's README derives from
 * llama.cpp's own batch-vs-sequential spread. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "tensor/type_traits.h"
#include "test_support.h"

enum { N_VOCAB = 512, N_PROMPT = 32, N_GREEDY = 32 };

typedef struct tolerance {
    const char *type;
    float max_abs, mean_abs;
} tolerance;

/* "Q8_0" names llama.Q8_0; a name with a dot ("bitnet.I2_S") is the file's. */
static void model_name(const tolerance *tol, char *name, size_t size) {
    snprintf(name, size, strchr(tol->type, '.') ? "%s" : "llama.%s", tol->type);
}

static const tolerance cases[] = {
    {"F32", 2e-3f, 1e-3f},    {"F16", 2e-3f, 1e-3f},  {"Q8_0", 5e-2f, 1e-2f}, {"Q4_0", 5e-2f, 1e-2f},
    {"Q4_1", 5e-2f, 1e-2f},   {"Q5_1", 5e-2f, 1e-2f}, {"Q2_K", 5e-2f, 1e-2f}, {"Q4_K_M", 5e-2f, 1e-2f},
    {"Q5_K_M", 5e-2f, 1e-2f}, {"Q6_K", 5e-2f, 1e-2f},
};

static float *read_rows(const char *name, const char *suffix, size_t rows) {
    char rel[256];
    snprintf(rel, sizeof rel, "testdata/ggml-quants/%s.%s", name, suffix);
    size_t bytes;
    float *data = rz_test_read_file(rz_test_shared_path(rel), &bytes);
    assert_non_null(data);
    assert_int_equal(bytes, rows * N_VOCAB * sizeof(float));
    return data;
}

static void read_ids(const char *rel, int32_t *ids, size_t n) {
    char *text = rz_test_read_file(rz_test_shared_path(rel), NULL);
    assert_non_null(text);
    char *p = text, *end;
    for (size_t i = 0; i < n; i++, p = end) {
        ids[i] = (int32_t)strtol(p, &end, 10);
        assert_true(end != p);
    }
    free(text);
}

static void compare_rows(const char *what, const float *got, const float *want, const tolerance *tol) {
    float max_abs = 0.0f;
    double sum = 0.0;
    for (size_t i = 0; i < (size_t)N_PROMPT * N_VOCAB; i++) {
        float d = fabsf(got[i] - want[i]);
        max_abs = fmaxf(max_abs, d);
        sum += d;
    }
    const float mean_abs = (float)(sum / ((double)N_PROMPT * N_VOCAB));
    char name[32];
    model_name(tol, name, sizeof name);
    printf("%s %s: max abs %.3g, mean abs %.3g\n", name, what, max_abs, mean_abs);
    if (max_abs > tol->max_abs || mean_abs > tol->mean_abs)
        fail_msg("%s %s logits: max %g (limit %g), mean %g (limit %g)", name, what, max_abs, tol->max_abs,
                 mean_abs, tol->mean_abs);
}

static float top_margin(const float *row) {
    float a = -INFINITY, b = -INFINITY;
    for (int i = 0; i < N_VOCAB; i++) {
        if (row[i] > a) {
            b = a;
            a = row[i];
        } else if (row[i] > b) {
            b = row[i];
        }
    }
    return a - b;
}

/* no_repack: the file's layouts; otherwise the run-time layouts of the
 * ISA active at load (docs/layouts.md), run by every ISA path. */
static void check_model_layout(const tolerance *tol, bool no_repack) {
    char name[32], rel[128];
    model_name(tol, name, sizeof name);
    snprintf(rel, sizeof rel, "testdata/ggml-quants/%s.gguf", name);
    rz_model *model;
    rz_model_params mp = rz_model_default_params();
    mp.no_repack = no_repack;
    RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(rel), &mp, &model));
    if (strcmp(tol->type, "Q4_0") == 0) { /* Q4_0_R8 on AVX2, Q4_0_G4 on AVX-512 */
        const rz_tensor *wq = &model->layers[0].wq;
        assert_int_equal(wq->type, no_repack ? RZ_TYPE_Q4_0
                                             : rz_type_runtime_layout(RZ_TYPE_Q4_0, wq->ne[0], wq->ne[1],
                                                                      rz_isa_active()));
        if (!no_repack && rz_isa_active() == RZ_ISA_AVX2) assert_int_equal(wq->type, RZ_TYPE_Q4_0_R8);
    }
    int32_t prompt[N_PROMPT], expected[N_GREEDY];
    read_ids("testdata/ggml-quants/prompt.txt", prompt, N_PROMPT);
    snprintf(rel, sizeof rel, "testdata/ggml-quants/%s.greedy.txt", name);
    read_ids(rel, expected, N_GREEDY);
    float *batch_ref = read_rows(name, "logits.f32", N_PROMPT);
    float *seq_ref = read_rows(name, "seq.logits.f32", N_PROMPT);
    float *greedy_ref = read_rows(name, "greedy.logits.f32", N_GREEDY);
    float *got = malloc((size_t)N_PROMPT * N_VOCAB * sizeof *got);

    rz_context_params cp = rz_context_default_params();
    cp.n_threads = 1;
    cp.type_k = cp.type_v = RZ_TYPE_F16; /* as the reference run */
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (int p = 0; p < n_paths; p++) {
        RZ_ASSERT_OK(rz_isa_set(paths[p]));
        rz_context *ctx;
        RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
        bool want[N_PROMPT];
        for (int i = 0; i < N_PROMPT; i++)
            want[i] = true;
        RZ_ASSERT_OK(rz_decode(ctx, prompt, N_PROMPT, want));
        for (int i = 0; i < N_PROMPT; i++)
            memcpy(got + (size_t)i * N_VOCAB, rz_get_logits(ctx, i), N_VOCAB * sizeof(float));
        compare_rows("batch", got, batch_ref, tol);

        /* Greedy continuation, compared up to the first step where the
         * reference's top two logits are closer than our tolerance. */
        int32_t token = (int32_t)expected[0];
        for (int k = 0; k < N_GREEDY; k++) {
            const float *logits = rz_get_logits(ctx, -1);
            if (top_margin(greedy_ref + (size_t)k * N_VOCAB) < tol->max_abs) break;
            int32_t best = 0;
            for (int i = 1; i < N_VOCAB; i++)
                if (logits[i] > logits[best]) best = i;
            if (best != expected[k])
                fail_msg("%s greedy step %d: got %d, want %d", name, k, best, expected[k]);
            token = best;
            RZ_ASSERT_OK(rz_decode(ctx, &token, 1, NULL));
        }

        RZ_ASSERT_OK(rz_context_truncate(ctx, 0));
        for (int i = 0; i < N_PROMPT; i++) {
            RZ_ASSERT_OK(rz_decode(ctx, &prompt[i], 1, NULL));
            memcpy(got + (size_t)i * N_VOCAB, rz_get_logits(ctx, -1), N_VOCAB * sizeof(float));
        }
        compare_rows("one token at a time", got, seq_ref, tol);
        rz_context_free(ctx);
    }
    rz_isa_set(rz_isa_best());
    free(got);
    free(batch_ref);
    free(seq_ref);
    free(greedy_ref);
    rz_model_free(model);
}

static void check_model(const tolerance *tol) {
    char name[32], rel[128];
    model_name(tol, name, sizeof name);
    snprintf(rel, sizeof rel, "testdata/ggml-quants/%s.gguf", name);
    RZ_REQUIRE_SHARED(rel);
    check_model_layout(tol, true);
    check_model_layout(tol, false);
}

/* Ternary types: TQ2_0 on llama, and the bitnet graph (sub-norms, tied
 * F16 output) with I2_S and TQ2_0. */
static const tolerance ternary_cases[] = {
    {"TQ2_0", 5e-2f, 1e-2f},
    {"bitnet.I2_S", 5e-2f, 1e-2f},
    {"bitnet.TQ2_0", 5e-2f, 1e-2f},
};

static void test_llama_tq2_0(void **state) {
    (void)state;
    check_model(&ternary_cases[0]);
}
static void test_bitnet_i2_s(void **state) {
    (void)state;
    check_model(&ternary_cases[1]);
}
static void test_bitnet_tq2_0(void **state) {
    (void)state;
    check_model(&ternary_cases[2]);
}

static void test_f32(void **state) {
    (void)state;
    check_model(&cases[0]);
}
static void test_f16(void **state) {
    (void)state;
    check_model(&cases[1]);
}
static void test_q8_0(void **state) {
    (void)state;
    check_model(&cases[2]);
}
static void test_q4_0(void **state) {
    (void)state;
    check_model(&cases[3]);
}
static void test_q4_1(void **state) {
    (void)state;
    check_model(&cases[4]);
}
static void test_q5_1(void **state) {
    (void)state;
    check_model(&cases[5]);
}
static void test_q2_K(void **state) {
    (void)state;
    check_model(&cases[6]);
}
static void test_q4_K_M(void **state) {
    (void)state;
    check_model(&cases[7]);
}
static void test_q5_K_M(void **state) {
    (void)state;
    check_model(&cases[8]);
}
static void test_q6_K(void **state) {
    (void)state;
    check_model(&cases[9]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),          cmocka_unit_test(test_f16),
        cmocka_unit_test(test_q8_0),         cmocka_unit_test(test_q4_0),
        cmocka_unit_test(test_q4_1),         cmocka_unit_test(test_q5_1),
        cmocka_unit_test(test_q2_K),         cmocka_unit_test(test_q4_K_M),
        cmocka_unit_test(test_q5_K_M),       cmocka_unit_test(test_q6_K),
        cmocka_unit_test(test_llama_tq2_0),  cmocka_unit_test(test_bitnet_i2_s),
        cmocka_unit_test(test_bitnet_tq2_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
