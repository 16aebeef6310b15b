/* rz_synth_write: synthetic models load with the requested shape and types,
 * generate, and are reproducible from their seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

enum { N_GEN = 12 };

typedef struct token_log {
    int32_t tokens[64];
    int n;
} token_log;

static bool record_token(void *user, int32_t token, const char *text, size_t len) {
    (void)text;
    (void)len;
    token_log *log = user;
    if (token >= 0 && log->n < 64) log->tokens[log->n++] = token; /* -1: held-back text at the end */
    return true;
}

/* Greedy generation after a short prompt. */
static void generate(const char *path, token_log *log) {
    rz_model *model;
    RZ_ASSERT_OK(rz_model_load(path, NULL, &model));
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(model, NULL, &ctx));
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = 0.0f;
    rz_sampler *sampler;
    RZ_ASSERT_OK(rz_sampler_create(&sp, rz_model_describe(model)->n_vocab, &sampler));
    int32_t prompt[8];
    size_t n_prompt;
    RZ_ASSERT_OK(rz_tokenize(model, "Hi", 2, true, false, prompt, 8, &n_prompt));
    const rz_generate_params gp = {.n_predict = N_GEN, .ignore_end_token = true};
    rz_generate_result result;
    memset(log, 0, sizeof *log);
    RZ_ASSERT_OK(rz_generate(ctx, sampler, prompt, n_prompt, &gp, record_token, log, &result));
    assert_int_equal(result.n_generated, N_GEN);
    assert_int_equal(log->n, N_GEN);
    rz_sampler_free(sampler);
    rz_context_free(ctx);
    rz_model_free(model);
}

static void assert_same_file(const char *a, const char *b, int expect_same) {
    size_t na, nb;
    void *da = rz_test_read_file(a, &na), *db = rz_test_read_file(b, &nb);
    assert_non_null(da);
    assert_non_null(db);
    assert_int_equal(na == nb && memcmp(da, db, na) == 0, expect_same);
    free(da);
    free(db);
}

static void test_types(void **state) {
    (void)state;
    static const rz_type types[] = {RZ_TYPE_F32, RZ_TYPE_F16, RZ_TYPE_BF16, RZ_TYPE_Q8_0, RZ_TYPE_Q4_0};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        rz_synth_params p;
        RZ_ASSERT_OK(rz_synth_preset("tiny", &p));
        p.type = p.output_type = types[i];
        p.seed = 42;
        char path_a[4096], path_b[4096];
        snprintf(path_a, sizeof path_a, "%s", rz_test_temp_path("a.gguf"));
        snprintf(path_b, sizeof path_b, "%s", rz_test_temp_path("b.gguf"));
        RZ_ASSERT_OK(rz_synth_write(&p, path_a, NULL, NULL));
        RZ_ASSERT_OK(rz_synth_write(&p, path_b, NULL, NULL));
        assert_same_file(path_a, path_b, 1);

        rz_model *model;
        RZ_ASSERT_OK(rz_model_load(path_a, NULL, &model));
        const rz_model_desc *d = rz_model_describe(model);
        assert_string_equal(d->arch, "llama");
        assert_int_equal(d->n_embd, 64);
        assert_int_equal(d->n_layer, 2);
        assert_int_equal(d->n_ff, 128);
        assert_int_equal(d->n_head, 4);
        assert_int_equal(d->n_head_kv, 2);
        assert_int_equal(d->n_vocab, 512);
        assert_int_equal(d->n_ctx_train, 256);
        assert_int_equal(d->n_rot, 16);
        assert_int_equal(d->weight_type, types[i]);
        assert_int_equal(d->output_type, types[i]);
        assert_false(d->tied_output);
        assert_true(d->has_vocab);
        assert_int_equal(d->bos, 1);
        assert_int_equal(d->eos, 2);
        rz_model_free(model);

        token_log first, second;
        generate(path_a, &first);
        generate(path_b, &second);
        assert_memory_equal(first.tokens, second.tokens, sizeof first.tokens);

        p.seed = 43;
        RZ_ASSERT_OK(rz_synth_write(&p, path_b, NULL, NULL));
        assert_same_file(path_a, path_b, 0);
    }
}

static void test_tied_output_type(void **state) {
    (void)state;
    rz_synth_params p;
    RZ_ASSERT_OK(rz_synth_preset("tiny", &p));
    p.type = RZ_TYPE_Q4_0;
    p.output_type = RZ_TYPE_Q8_0;
    p.tied_output = true;
    p.rope_freq_base = 500000.0f;
    const char *path = rz_test_temp_path("tied.gguf");
    RZ_ASSERT_OK(rz_synth_write(&p, path, NULL, NULL));
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(path, &g));
    assert_null(rz_gguf_find_tensor(g, "output.weight"));
    assert_int_equal(rz_gguf_find_tensor(g, "token_embd.weight")->type, RZ_TYPE_Q8_0);
    assert_int_equal(rz_gguf_find_tensor(g, "blk.1.ffn_down.weight")->type, RZ_TYPE_Q4_0);
    assert_int_equal(rz_gguf_find_tensor(g, "blk.0.attn_norm.weight")->type, RZ_TYPE_F32);
    float base;
    RZ_ASSERT_OK(rz_gguf_get_f32(g, "llama.rope.freq_base", &base));
    assert_true(base == 500000.0f);
    uint32_t file_type;
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "general.file_type", &file_type));
    assert_int_equal(file_type, 2);
    rz_gguf_close(g);
    rz_model *model;
    RZ_ASSERT_OK(rz_model_load(path, NULL, &model));
    assert_true(rz_model_describe(model)->tied_output);
    assert_int_equal(rz_model_describe(model)->output_type, RZ_TYPE_Q8_0);
    rz_model_free(model);
}

/* Mean and deviation of an F32 tensor's values. */
static void tensor_moments(const rz_gguf *g, const char *name, double *mean, double *std) {
    const rz_gguf_tensor *t = rz_gguf_find_tensor(g, name);
    assert_non_null(t);
    assert_int_equal(t->type, RZ_TYPE_F32);
    const float *v = t->data;
    double s = 0, s2 = 0;
    for (uint64_t i = 0; i < t->n_elements; i++) {
        s += v[i];
        s2 += (double)v[i] * v[i];
    }
    *mean = s / (double)t->n_elements;
    *std = sqrt(s2 / (double)t->n_elements - *mean * *mean);
}

static void test_values_and_vocab(void **state) {
    (void)state;
    rz_synth_params p;
    RZ_ASSERT_OK(rz_synth_preset("tiny", &p));
    p.type = p.output_type = RZ_TYPE_F32;
    const char *path = rz_test_temp_path("f32.gguf");
    RZ_ASSERT_OK(rz_synth_write(&p, path, NULL, NULL));
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(path, &g));
    double mean, std;
    tensor_moments(g, "token_embd.weight", &mean, &std);
    assert_true(fabs(mean) < 0.001 && fabs(std - 0.02) < 0.001);
    tensor_moments(g, "blk.1.ffn_gate.weight", &mean, &std);
    assert_true(fabs(mean) < 0.001 && fabs(std - 0.02) < 0.001);
    tensor_moments(g, "output_norm.weight", &mean, &std);
    assert_true(fabs(mean - 1.0) < 0.01 && std > 0.0 && std < 0.05);
    const rz_gguf_value *tokens;
    RZ_ASSERT_OK(rz_gguf_get_array(g, "tokenizer.ggml.tokens", RZ_GGUF_STRING, &tokens));
    assert_int_equal(rz_gguf_array_len(tokens), 512);
    rz_str piece = rz_gguf_array_str(tokens, 3 + 0x41);
    assert_int_equal(piece.len, 6);
    assert_memory_equal(piece.ptr, "<0x41>", 6);
    rz_gguf_close(g);

    /* Text falls back to byte tokens and detokenizes to itself. */
    rz_model *model;
    RZ_ASSERT_OK(rz_model_load(path, NULL, &model));
    int32_t ids[32];
    size_t n;
    RZ_ASSERT_OK(rz_tokenize(model, "a\xC3\xA9", 3, true, false, ids, 32, &n));
    assert_true(n >= 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[n - 3], 3 + 'a');
    char text[64];
    size_t len;
    RZ_ASSERT_OK(rz_detokenize(model, ids + 1, n - 1, text, sizeof text, &len));
    assert_true(len >= 3 && memcmp(text + len - 3, "a\xC3\xA9", 3) == 0);
    rz_model_free(model);
}

static void test_bad_params(void **state) {
    (void)state;
    rz_synth_params p, bad;
    RZ_ASSERT_OK(rz_synth_preset("tiny", &p));
    const char *path = rz_test_temp_path("bad.gguf");
    bad = p;
    bad.n_vocab = 100;
    assert_int_equal(rz_synth_write(&bad, path, NULL, NULL), RZ_ERR_INVALID_ARG);
    bad = p;
    bad.n_head_kv = 3;
    assert_int_equal(rz_synth_write(&bad, path, NULL, NULL), RZ_ERR_INVALID_ARG);
    bad = p;
    bad.n_embd = 48; /* 48 / 4 heads is fine, but not a whole number of q4_0 blocks */
    bad.type = RZ_TYPE_Q4_0;
    assert_int_equal(rz_synth_write(&bad, path, NULL, NULL), RZ_ERR_INVALID_ARG);
    bad = p;
    bad.output_type = RZ_TYPE_IQ2_XXS;
    assert_int_equal(rz_synth_write(&bad, path, NULL, NULL), RZ_ERR_UNSUPPORTED);
    assert_int_equal(rz_synth_preset("nope", &bad), RZ_ERR_NOT_FOUND);
    assert_non_null(strstr(rz_last_error(), "tinyllama-1.1b"));
    assert_string_equal(rz_synth_preset_name(0), "tiny");
    size_t n = 0;
    while (rz_synth_preset_name(n))
        RZ_ASSERT_OK(rz_synth_preset(rz_synth_preset_name(n++), &bad));
    assert_true(n >= 3);
    RZ_ASSERT_OK(rz_synth_preset("llama3.2-1b", &bad));
    assert_true(bad.tied_output);
    assert_int_equal(bad.n_vocab, 128256);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_tied_output_type),
        cmocka_unit_test(test_values_and_vocab),
        cmocka_unit_test(test_bad_params),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
