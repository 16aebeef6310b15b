/* rz_quantize_model / rz quantize: llama.cpp's presets and recipe on the
 * ggml-quants F32 model, metadata copied, logits close to the F32 model's,
 * untileable rows falling back, whole-file errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#define F32_MODEL "testdata/ggml-quants/llama.F32.gguf"

enum { N_VOCAB = 512, N_PROMPT = 32 };

static rz_type tensor_type(const rz_gguf *g, const char *name) {
    const rz_gguf_tensor *t = rz_gguf_find_tensor(g, name);
    if (!t) fail_msg("no tensor %s", name);
    return t->type;
}

static bool key_is(rz_str key, const char *s) {
    return key.len == strlen(s) && memcmp(key.ptr, s, key.len) == 0;
}

/* Every key of the input is in the output with the same type (and, for
 * scalars and strings, value), except general.file_type. */
static void check_metadata(const rz_gguf *in, const rz_gguf *out, uint32_t file_type) {
    for (uint64_t i = 0; i < rz_gguf_kv_count(in); i++) {
        const rz_str key = rz_gguf_kv_key(in, i);
        char k[256];
        snprintf(k, sizeof k, "%.*s", (int)key.len, key.ptr);
        if (key_is(key, "general.file_type")) continue;
        const int64_t j = rz_gguf_find_key(out, k);
        if (j < 0) fail_msg("key %s missing", k);
        const rz_gguf_value *a = rz_gguf_kv_value(in, i), *b = rz_gguf_kv_value(out, (uint64_t)j);
        assert_int_equal(rz_gguf_value_type(a), rz_gguf_value_type(b));
        if (rz_gguf_value_type(a) == RZ_GGUF_ARRAY) {
            assert_int_equal(rz_gguf_array_len(a), rz_gguf_array_len(b));
        } else if (rz_gguf_value_type(a) == RZ_GGUF_STRING) {
            const rz_str sa = rz_gguf_value_str(a), sb = rz_gguf_value_str(b);
            assert_true(sa.len == sb.len && memcmp(sa.ptr, sb.ptr, sa.len) == 0);
        } else {
            assert_true(rz_gguf_value_f64(a) == rz_gguf_value_f64(b));
        }
    }
    uint32_t ft;
    RZ_ASSERT_OK(rz_gguf_get_u32(out, "general.file_type", &ft));
    assert_int_equal(ft, file_type);
}

/* Logits of the golden prompt, one batch. */
static void prompt_logits(const char *path, float *out) {
    char *text = rz_test_read_file(rz_test_shared_path("testdata/ggml-quants/prompt.txt"), NULL);
    assert_non_null(text);
    int32_t prompt[N_PROMPT];
    char *p = text, *end;
    for (int i = 0; i < N_PROMPT; i++, p = end)
        prompt[i] = (int32_t)strtol(p, &end, 10);
    free(text);
    rz_model *model;
    RZ_ASSERT_OK(rz_model_load(path, NULL, &model));
    rz_context_params cp = rz_context_default_params();
    cp.n_threads = 1;
    cp.type_k = cp.type_v = RZ_TYPE_F16;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
    bool want[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++)
        want[i] = true;
    RZ_ASSERT_OK(rz_decode(ctx, prompt, N_PROMPT, want));
    for (int i = 0; i < N_PROMPT; i++)
        memcpy(out + (size_t)i * N_VOCAB, rz_get_logits(ctx, i), N_VOCAB * sizeof(float));
    rz_context_free(ctx);
    rz_model_free(model);
}

static int argmax(const float *row) {
    int best = 0;
    for (int i = 1; i < N_VOCAB; i++)
        if (row[i] > row[best]) best = i;
    return best;
}

typedef struct preset_case {
    const char *preset;
    uint32_t file_type;
    /* Expected types: matrices, blk.0 and blk.1 attn_v / ffn_down, output. */
    rz_type base, v0, v1, down0, down1, output;
    float max_mean_abs; /* logits vs the F32 model */
} preset_case;

/* Two layers: llama.cpp's use_more_bits(i, 2) picks layer 1 only. */
static const preset_case cases[] = {
    {"Q4_K_M", 15, RZ_TYPE_Q4_K, RZ_TYPE_Q4_K, RZ_TYPE_Q6_K, RZ_TYPE_Q4_K, RZ_TYPE_Q6_K, RZ_TYPE_Q6_K, 0.05f},
    {"Q5_K_M", 17, RZ_TYPE_Q5_K, RZ_TYPE_Q5_K, RZ_TYPE_Q6_K, RZ_TYPE_Q5_K, RZ_TYPE_Q6_K, RZ_TYPE_Q6_K,
     0.025f},
    {"Q6_K", 18, RZ_TYPE_Q6_K, RZ_TYPE_Q6_K, RZ_TYPE_Q6_K, RZ_TYPE_Q6_K, RZ_TYPE_Q6_K, RZ_TYPE_Q6_K, 0.015f},
    {"Q8_0", 7, RZ_TYPE_Q8_0, RZ_TYPE_Q8_0, RZ_TYPE_Q8_0, RZ_TYPE_Q8_0, RZ_TYPE_Q8_0, RZ_TYPE_Q8_0, 0.006f},
    {"Q4_0", 2, RZ_TYPE_Q4_0, RZ_TYPE_Q4_0, RZ_TYPE_Q4_0, RZ_TYPE_Q4_0, RZ_TYPE_Q4_0, RZ_TYPE_Q6_K, 0.06f},
    {"F16", 1, RZ_TYPE_F16, RZ_TYPE_F16, RZ_TYPE_F16, RZ_TYPE_F16, RZ_TYPE_F16, RZ_TYPE_F16, 0.001f},
    {"BF16", 32, RZ_TYPE_BF16, RZ_TYPE_BF16, RZ_TYPE_BF16, RZ_TYPE_BF16, RZ_TYPE_BF16, RZ_TYPE_BF16, 0.01f},
};

static void test_presets(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(F32_MODEL);
    const char *in_path = rz_test_shared_path(F32_MODEL);
    char in_copy[1024];
    snprintf(in_copy, sizeof in_copy, "%s", in_path);
    rz_gguf *in;
    RZ_ASSERT_OK(rz_gguf_open(in_copy, &in));
    float *ref = malloc((size_t)N_PROMPT * N_VOCAB * sizeof *ref),
          *got = malloc((size_t)N_PROMPT * N_VOCAB * sizeof *got);
    prompt_logits(in_copy, ref);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const preset_case *pc = &cases[c];
        char name[64];
        snprintf(name, sizeof name, "out.%s.gguf", pc->preset);
        const char *out_path = rz_test_temp_path(name);
        rz_quantize_params params;
        rz_quantize_params_init(&params);
        params.preset = pc->preset;
        RZ_ASSERT_OK(rz_quantize_model(in_copy, out_path, &params));
        rz_gguf *out;
        RZ_ASSERT_OK(rz_gguf_open(out_path, &out));
        check_metadata(in, out, pc->file_type);
        assert_int_equal(rz_gguf_tensor_count(out), rz_gguf_tensor_count(in));
        assert_int_equal(tensor_type(out, "token_embd.weight"), pc->base);
        assert_int_equal(tensor_type(out, "blk.0.attn_q.weight"), pc->base);
        assert_int_equal(tensor_type(out, "blk.1.ffn_up.weight"), pc->base);
        assert_int_equal(tensor_type(out, "blk.0.attn_v.weight"), pc->v0);
        assert_int_equal(tensor_type(out, "blk.1.attn_v.weight"), pc->v1);
        assert_int_equal(tensor_type(out, "blk.0.ffn_down.weight"), pc->down0);
        assert_int_equal(tensor_type(out, "blk.1.ffn_down.weight"), pc->down1);
        assert_int_equal(tensor_type(out, "output.weight"), pc->output);
        assert_int_equal(tensor_type(out, "blk.0.attn_norm.weight"), RZ_TYPE_F32);
        rz_gguf_close(out);

        prompt_logits(out_path, got);
        double sum = 0;
        int agree = 0;
        for (int i = 0; i < N_PROMPT; i++) {
            agree += argmax(got + i * N_VOCAB) == argmax(ref + i * N_VOCAB);
            for (int j = 0; j < N_VOCAB; j++)
                sum += fabs((double)got[i * N_VOCAB + j] - ref[i * N_VOCAB + j]);
        }
        const double mean = sum / (N_PROMPT * N_VOCAB);
        printf("%-7s vs F32: top-1 agreement %d/%d, mean abs logit diff %.4f\n", pc->preset, agree, N_PROMPT,
               mean);
        if (mean > pc->max_mean_abs) fail_msg("%s: mean abs %g", pc->preset, mean);
    }
    free(ref);
    free(got);
    rz_gguf_close(in);
}

/* --pure: one type everywhere; overrides of output and embedding types;
 * requantizing a quantized file (same type copies bytes). */
static void test_pure_and_overrides(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(F32_MODEL);
    char in_path[1024];
    snprintf(in_path, sizeof in_path, "%s", rz_test_shared_path(F32_MODEL));
    char pure_path[1024];
    snprintf(pure_path, sizeof pure_path, "%s", rz_test_temp_path("pure.gguf"));
    rz_quantize_params params;
    rz_quantize_params_init(&params);
    params.preset = "q4_k"; /* alias of Q4_K_M */
    params.pure = true;
    RZ_ASSERT_OK(rz_quantize_model(in_path, pure_path, &params));
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(pure_path, &g));
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        assert_int_equal(t->type, t->n_dims == 2 ? RZ_TYPE_Q4_K : RZ_TYPE_F32);
    }
    /* Our quantizer follows llama.cpp's, so nearly all values equal those
     * of llama-quantize --pure Q4_K_M (float rounding order differs). */
    const rz_gguf_tensor *t = rz_gguf_find_tensor(g, "blk.0.ffn_up.weight");
    size_t bytes;
    float *golden = rz_test_read_file(
        rz_test_shared_path("testdata/ggml-quants/llama.Q4_K_M.blk0_ffn_up.deq.f32"), &bytes);
    assert_non_null(golden);
    float *deq = malloc(bytes);
    RZ_ASSERT_OK(rz_dequantize(t->type, t->data, deq, t->n_elements));
    uint64_t same = 0;
    for (uint64_t i = 0; i < t->n_elements; i++)
        same += deq[i] == golden[i];
    printf("pure Q4_K blk.0.ffn_up: %.3f%% of values equal to llama-quantize's\n",
           100.0 * (double)same / (double)t->n_elements);
    assert_true(same >= t->n_elements * 99 / 100);
    free(deq);
    free(golden);
    rz_gguf_close(g);

    const char *over_path = rz_test_temp_path("over.gguf");
    rz_quantize_params_init(&params);
    params.preset = "Q4_K_M";
    params.output_type = RZ_TYPE_Q8_0;
    params.token_embedding_type = RZ_TYPE_F16;
    RZ_ASSERT_OK(rz_quantize_model(pure_path, over_path, &params));
    RZ_ASSERT_OK(rz_gguf_open(over_path, &g));
    assert_int_equal(tensor_type(g, "output.weight"), RZ_TYPE_Q8_0);
    assert_int_equal(tensor_type(g, "token_embd.weight"), RZ_TYPE_F16);
    assert_int_equal(tensor_type(g, "blk.1.ffn_down.weight"), RZ_TYPE_Q6_K);
    /* Q4_K input to Q4_K output: the bytes are copied, not requantized. */
    rz_gguf *src;
    RZ_ASSERT_OK(rz_gguf_open(pure_path, &src));
    const rz_gguf_tensor *a = rz_gguf_find_tensor(src, "blk.0.ffn_up.weight"),
                         *b = rz_gguf_find_tensor(g, "blk.0.ffn_up.weight");
    assert_int_equal(a->size, b->size);
    assert_memory_equal(a->data, b->data, a->size);
    rz_gguf_close(src);
    rz_gguf_close(g);
}

/* Rows of 64 (stories260K) cannot hold 256-blocks: K-quants fall back as in
 * llama.cpp (Q4_K -> Q5_0, Q6_K -> Q8_0). */
static void test_untileable_rows_fall_back(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.gguf");
    const char *out_path = rz_test_temp_path("small.gguf");
    rz_quantize_params params;
    rz_quantize_params_init(&params);
    params.preset = "Q4_K_M";
    RZ_ASSERT_OK(rz_quantize_model(rz_test_shared_path("models/stories260K.gguf"), out_path, &params));
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(out_path, &g));
    assert_int_equal(tensor_type(g, "blk.0.attn_q.weight"), RZ_TYPE_Q5_0);
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        if (t->n_dims == 2)
            assert_true(t->type == RZ_TYPE_Q5_0 || t->type == RZ_TYPE_Q8_0 || t->type == RZ_TYPE_F16);
    }
    rz_gguf_close(g);
}

static void test_errors_and_cli(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(F32_MODEL);
    char in_path[1024];
    snprintf(in_path, sizeof in_path, "%s", rz_test_shared_path(F32_MODEL));
    const char *out_path = rz_test_temp_path("cli.gguf");
    rz_quantize_params params;
    rz_quantize_params_init(&params);
    params.preset = "Q9_X";
    assert_int_equal(rz_quantize_model(in_path, out_path, &params), RZ_ERR_NOT_FOUND);
    params.preset = "Q6_K";
    assert_int_equal(rz_quantize_model("/nonexistent.gguf", out_path, &params), RZ_ERR_IO);
    params.output_type = RZ_TYPE_IQ2_XXS; /* known, but we cannot write it */
    assert_int_equal(rz_quantize_model(in_path, out_path, &params), RZ_ERR_UNSUPPORTED);
    FILE *f = fopen(out_path, "rb");
    assert_null(f); /* nothing left behind */

    char cmd[4096], *output = NULL;
    snprintf(cmd, sizeof cmd, "%s quantize '%s' '%s' --type Q5_K_M --output-type q8_0 2>&1", rz_test_cli(),
             in_path, out_path);
    assert_int_equal(rz_test_run(cmd, &output), 0);
    assert_non_null(strstr(output, "compression"));
    assert_non_null(strstr(output, "q5_K"));
    free(output);
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(out_path, &g));
    assert_int_equal(tensor_type(g, "output.weight"), RZ_TYPE_Q8_0);
    rz_gguf_close(g);
    snprintf(cmd, sizeof cmd, "%s quantize '%s' '%s' --type nope 2>&1", rz_test_cli(), in_path, out_path);
    assert_int_not_equal(rz_test_run(cmd, &output), 0);
    assert_non_null(strstr(output, "Q4_K_M"));
    free(output);
    snprintf(cmd, sizeof cmd, "%s quantize '%s' 2>&1", rz_test_cli(), in_path);
    assert_int_equal(rz_test_run(cmd, &output), 2);
    free(output);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_pure_and_overrides),
        cmocka_unit_test(test_untileable_rows_fall_back),
        cmocka_unit_test(test_errors_and_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
