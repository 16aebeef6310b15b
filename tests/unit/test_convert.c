/* rz_convert_llama2c and `rz convert`: the GGUF it writes holds the
 * checkpoint's weights, llama.cpp's metadata and the SentencePiece vocab,
 * equal to a GGUF of the same model written by another tool. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"

#define STORIES   "models/stories260K.bin"
#define TOK512    "models/tok512.bin"
#define REFERENCE "models/stories260K.gguf"
#define BABYLLAMA "models/babyllama-tok105-model5000.bin"
#define TOK105    "models/tok105.bin"

/* Shared paths live in a static buffer: keep copies. */
static char *shared(const char *rel) { return strdup(rz_test_shared_path(rel)); }

static uint32_t get_u32(const rz_gguf *g, const char *key) {
    uint32_t v;
    RZ_ASSERT_OK(rz_gguf_get_u32(g, key, &v));
    return v;
}

static float get_f32(const rz_gguf *g, const char *key) {
    float v;
    RZ_ASSERT_OK(rz_gguf_get_f32(g, key, &v));
    return v;
}

static void assert_str(const rz_gguf *g, const char *key, const char *want) {
    rz_str v;
    RZ_ASSERT_OK(rz_gguf_get_str(g, key, &v));
    assert_int_equal(v.len, strlen(want));
    assert_memory_equal(v.ptr, want, v.len);
}

typedef struct progress_log {
    uint64_t calls, last, total;
    bool monotonic;
} progress_log;

static void log_progress(void *user, uint64_t done, uint64_t total) {
    progress_log *p = user;
    if (done < p->last || done > total || (p->calls && total != p->total)) p->monotonic = false;
    p->calls++;
    p->last = done;
    p->total = total;
}

/* Every checkpoint tensor is in the GGUF under its name, same shape, and
 * within `tolerance(value, block max)` after dequantizing (0: bit-identical). */
static void check_tensors(const rz_llama2c *m, const rz_gguf *g, rz_type weight_type) {
    assert_int_equal(rz_gguf_tensor_count(g), rz_llama2c_tensor_count(m));
    for (uint64_t i = 0; i < rz_llama2c_tensor_count(m); i++) {
        const rz_llama2c_tensor *t = rz_llama2c_tensor_at(m, i);
        const rz_gguf_tensor *o = rz_gguf_find_tensor(g, t->name);
        if (!o) fail_msg("%s is missing", t->name);
        assert_int_equal(o->n_dims, t->n_dims);
        assert_int_equal(o->ne[0], t->ne[0]);
        assert_int_equal(o->ne[1], t->ne[1]);
        const uint64_t n = t->ne[0] * t->ne[1];
        /* Rows the type's blocks cannot tile fall back to F16. */
        const rz_type matrix_type =
            t->ne[0] % rz_type_block_size(weight_type) == 0 ? weight_type : RZ_TYPE_F16;
        const rz_type type = t->n_dims == 2 ? matrix_type : RZ_TYPE_F32;
        assert_int_equal(o->type, type);
        if (type == RZ_TYPE_F32) {
            assert_int_equal(o->size, n * sizeof(float));
            assert_memory_equal(o->data, t->data, n * sizeof(float));
            continue;
        }
        float *values = malloc(n * sizeof(float));
        RZ_ASSERT_OK(rz_dequantize(type, o->data, values, n));
        /* Bounds per 32-value block: F16/BF16 round each value to 11/8
         * significant bits; Q8_0 errs by half a step of amax/127; Q4_0 by up
         * to one step of amax/8 (the value opposite the scale is clamped);
         * the quantized scales are F16, hence the small slack. */
        for (uint64_t b = 0; b < n; b += 32) {
            float amax = 0.0f;
            for (uint64_t j = b; j < b + 32 && j < n; j++)
                amax = fmaxf(amax, fabsf(t->data[j]));
            for (uint64_t j = b; j < b + 32 && j < n; j++) {
                const float x = t->data[j], err = fabsf(values[j] - x);
                float bound;
                switch (type) {
                case RZ_TYPE_F16: bound = fabsf(x) * 0x1p-11f + 0x1p-24f; break;
                case RZ_TYPE_BF16: bound = fabsf(x) * 0x1p-8f; break;
                case RZ_TYPE_Q8_0: bound = amax / 127.0f * 0.6f; break;
                default: bound = amax / 8.0f * 1.01f; break;
                }
                if (err > bound)
                    fail_msg("%s[%llu] (%s): %g became %g, error %g > %g", t->name, (unsigned long long)j,
                             rz_type_name(type), x, values[j], err, bound);
            }
        }
        free(values);
    }
}

static void test_convert_f32_matches_checkpoint_and_reference(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(STORIES);
    RZ_REQUIRE_SHARED(TOK512);
    RZ_REQUIRE_SHARED(REFERENCE);
    char *in = shared(STORIES), *tok = shared(TOK512), *ref_path = shared(REFERENCE);
    const char *out = rz_test_temp_path("stories260K.gguf");
    progress_log log = {.monotonic = true};
    const rz_convert_options options = {
        .type = RZ_TYPE_F32, .tokenizer_path = tok, .progress = log_progress, .progress_user = &log};
    RZ_ASSERT_OK(rz_convert_llama2c(in, out, &options));
    assert_true(log.monotonic);
    assert_true(log.calls > 1);
    assert_int_equal(log.last, log.total);

    rz_llama2c *m;
    rz_gguf *g, *ref;
    RZ_ASSERT_OK(rz_llama2c_open(in, &m));
    RZ_ASSERT_OK(rz_gguf_open(out, &g));
    RZ_ASSERT_OK(rz_gguf_open(ref_path, &ref));
    assert_int_equal(rz_gguf_version(g), 3);
    check_tensors(m, g, RZ_TYPE_F32);
    uint64_t weight_bytes = 0;
    for (uint64_t i = 0; i < rz_llama2c_tensor_count(m); i++)
        weight_bytes += rz_llama2c_tensor_at(m, i)->ne[0] * rz_llama2c_tensor_at(m, i)->ne[1] * sizeof(float);
    assert_int_equal(log.total, weight_bytes);

    assert_str(g, "general.architecture", "llama");
    assert_str(g, "general.name", "stories260K");
    assert_int_equal(get_u32(g, "general.file_type"), 0);
    assert_int_equal(get_u32(g, "llama.context_length"), 512);
    assert_int_equal(get_u32(g, "llama.embedding_length"), 64);
    assert_int_equal(get_u32(g, "llama.block_count"), 5);
    assert_int_equal(get_u32(g, "llama.feed_forward_length"), 172);
    assert_int_equal(get_u32(g, "llama.attention.head_count"), 8);
    assert_int_equal(get_u32(g, "llama.attention.head_count_kv"), 4);
    assert_int_equal(get_u32(g, "llama.rope.dimension_count"), 8);
    assert_int_equal(get_u32(g, "llama.vocab_size"), 512);
    assert_true(get_f32(g, "llama.attention.layer_norm_rms_epsilon") == 1e-5f);
    assert_true(get_f32(g, "llama.rope.freq_base") == 10000.0f);
    assert_str(g, "tokenizer.ggml.model", "llama");
    assert_int_equal(get_u32(g, "tokenizer.ggml.bos_token_id"), 1);
    assert_int_equal(get_u32(g, "tokenizer.ggml.eos_token_id"), 2);
    assert_int_equal(get_u32(g, "tokenizer.ggml.unknown_token_id"), 0);
    bool flag;
    RZ_ASSERT_OK(rz_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag));
    assert_true(flag);
    RZ_ASSERT_OK(rz_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &flag));
    assert_false(flag);

    /* Vocabulary: identical to the other tool's, token by token. */
    const rz_gguf_value *tokens, *ref_tokens, *scores, *ref_scores, *types, *ref_types;
    RZ_ASSERT_OK(rz_gguf_get_array(g, "tokenizer.ggml.tokens", RZ_GGUF_STRING, &tokens));
    RZ_ASSERT_OK(rz_gguf_get_array(ref, "tokenizer.ggml.tokens", RZ_GGUF_STRING, &ref_tokens));
    RZ_ASSERT_OK(rz_gguf_get_array(g, "tokenizer.ggml.scores", RZ_GGUF_FLOAT32, &scores));
    RZ_ASSERT_OK(rz_gguf_get_array(ref, "tokenizer.ggml.scores", RZ_GGUF_FLOAT32, &ref_scores));
    RZ_ASSERT_OK(rz_gguf_get_array(g, "tokenizer.ggml.token_type", RZ_GGUF_INT32, &types));
    RZ_ASSERT_OK(rz_gguf_get_array(ref, "tokenizer.ggml.token_type", RZ_GGUF_INT32, &ref_types));
    assert_int_equal(rz_gguf_array_len(tokens), 512);
    assert_int_equal(rz_gguf_array_len(ref_tokens), 512);
    for (uint64_t i = 0; i < 512; i++) {
        rz_str a = rz_gguf_array_str(tokens, i), b = rz_gguf_array_str(ref_tokens, i);
        if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
            fail_msg("token %llu: '%.*s' vs '%.*s'", (unsigned long long)i, (int)a.len, a.ptr, (int)b.len,
                     b.ptr);
    }
    assert_memory_equal(rz_gguf_array_data(scores), rz_gguf_array_data(ref_scores), 512 * sizeof(float));
    assert_memory_equal(rz_gguf_array_data(types), rz_gguf_array_data(ref_types), 512 * sizeof(int32_t));

    /* Weights: same names, shapes and bits as the other tool's file, which
     * also stores the shared classifier as output.weight. */
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *a = rz_gguf_tensor_at(g, i);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)a->name.len, a->name.ptr);
        const rz_gguf_tensor *b = rz_gguf_find_tensor(ref, name);
        if (!b) fail_msg("%s is not in the reference", name);
        assert_int_equal(a->type, b->type);
        assert_int_equal(a->n_dims, b->n_dims);
        assert_memory_equal(a->ne, b->ne, sizeof a->ne);
        assert_int_equal(a->size, b->size);
        assert_memory_equal(a->data, b->data, a->size);
    }
    const rz_gguf_tensor *ref_output = rz_gguf_find_tensor(ref, "output.weight");
    assert_non_null(ref_output);
    assert_null(rz_gguf_find_tensor(g, "output.weight"));
    assert_memory_equal(ref_output->data, rz_gguf_find_tensor(g, "token_embd.weight")->data,
                        ref_output->size);
    assert_int_equal(rz_gguf_tensor_count(ref), rz_gguf_tensor_count(g) + 1);

    rz_gguf_close(ref);
    rz_gguf_close(g);
    rz_llama2c_close(m);
    free(in);
    free(tok);
    free(ref_path);
}

static void convert_babyllama(rz_type type, uint32_t file_type) {
    RZ_REQUIRE_SHARED(BABYLLAMA);
    RZ_REQUIRE_SHARED(TOK105);
    if (!rz_type_can_quantize(type)) {
        printf("SKIP: this build cannot quantize to %s\n", rz_type_name(type));
        skip();
    }
    char *in = shared(BABYLLAMA), *tok = shared(TOK105);
    const char *out = rz_test_temp_path("babyllama.gguf");
    const rz_convert_options options = {.type = type, .tokenizer_path = tok};
    RZ_ASSERT_OK(rz_convert_llama2c(in, out, &options));
    rz_llama2c *m;
    rz_gguf *g;
    RZ_ASSERT_OK(rz_llama2c_open(in, &m));
    RZ_ASSERT_OK(rz_gguf_open(out, &g));
    assert_int_equal(get_u32(g, "general.file_type"), file_type);
    assert_int_equal(get_u32(g, "llama.vocab_size"), 105);
    check_tensors(m, g, type);
    /* tok105 has no byte pieces; its space piece becomes U+2581. */
    const rz_gguf_value *tokens;
    RZ_ASSERT_OK(rz_gguf_get_array(g, "tokenizer.ggml.tokens", RZ_GGUF_STRING, &tokens));
    rz_str space = rz_gguf_array_str(tokens, 3);
    assert_int_equal(space.len, 3);
    assert_memory_equal(space.ptr, "\xe2\x96\x81", 3);
    rz_gguf_close(g);
    rz_llama2c_close(m);
    free(in);
    free(tok);
}

/* stories260K's FFN is 172 wide: its down projection stays F16 under Q8_0. */
static void test_convert_falls_back_to_f16(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(STORIES);
    char *in = shared(STORIES);
    const char *out = rz_test_temp_path("stories-q8_0.gguf");
    const rz_convert_options options = {.type = RZ_TYPE_Q8_0};
    RZ_ASSERT_OK(rz_convert_llama2c(in, out, &options));
    rz_llama2c *m;
    rz_gguf *g;
    RZ_ASSERT_OK(rz_llama2c_open(in, &m));
    RZ_ASSERT_OK(rz_gguf_open(out, &g));
    assert_int_equal(rz_gguf_find_tensor(g, "blk.0.ffn_down.weight")->type, RZ_TYPE_F16);
    assert_int_equal(rz_gguf_find_tensor(g, "blk.0.ffn_up.weight")->type, RZ_TYPE_Q8_0);
    check_tensors(m, g, RZ_TYPE_Q8_0);
    rz_gguf_close(g);
    rz_llama2c_close(m);
    free(in);
}

static void test_convert_f16(void **state) {
    (void)state;
    convert_babyllama(RZ_TYPE_F16, 1);
}
static void test_convert_bf16(void **state) {
    (void)state;
    convert_babyllama(RZ_TYPE_BF16, 32);
}
static void test_convert_q8_0(void **state) {
    (void)state;
    convert_babyllama(RZ_TYPE_Q8_0, 7);
}
static void test_convert_q4_0(void **state) {
    (void)state;
    convert_babyllama(RZ_TYPE_Q4_0, 2);
}

/* A separate classifier becomes output.weight. */
static void test_convert_unshared_classifier(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(STORIES);
    size_t size;
    unsigned char *file = rz_test_read_file(rz_test_shared_path(STORIES), &size);
    assert_non_null(file);
    const size_t wcls_floats = 512 * 64;
    unsigned char *unshared = malloc(size + wcls_floats * sizeof(float));
    memcpy(unshared, file, size);
    const int32_t vocab = -512;
    memcpy(unshared + 20, &vocab, sizeof vocab);
    for (size_t i = 0; i < wcls_floats; i++) {
        const float v = (float)i * 0.25f;
        memcpy(unshared + size + i * sizeof v, &v, sizeof v);
    }
    char *in = strdup(rz_test_temp_path("unshared.bin"));
    FILE *f = fopen(in, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(unshared, 1, size + wcls_floats * sizeof(float), f),
                     size + wcls_floats * sizeof(float));
    fclose(f);
    const char *out = rz_test_temp_path("unshared.gguf");
    RZ_ASSERT_OK(rz_convert_llama2c(in, out, NULL));
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(out, &g));
    const rz_gguf_tensor *t = rz_gguf_find_tensor(g, "output.weight");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_memory_equal(t->data, unshared + size, wcls_floats * sizeof(float));
    /* Without a tokenizer there is no vocabulary. */
    assert_int_equal(rz_gguf_find_key(g, "tokenizer.ggml.tokens"), -1);
    rz_gguf_close(g);
    free(in);
    free(unshared);
    free(file);
}

static void expect_failure(const char *in, const rz_convert_options *o, rz_status expected,
                           const char *message) {
    const char *out = rz_test_temp_path("failed.gguf");
    unlink(out);
    rz_status s = rz_convert_llama2c(in, out, o);
    if (s != expected)
        fail_msg("expected %s, got %s (%s)", rz_status_name(expected), rz_status_name(s), rz_last_error());
    if (!strstr(rz_last_error(), message)) fail_msg("'%s' does not say '%s'", rz_last_error(), message);
    assert_null(strchr(rz_last_error(), '\n'));
    /* Nothing is left behind. */
    assert_int_not_equal(access(out, F_OK), 0);
}

static void test_convert_failures(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(STORIES);
    RZ_REQUIRE_SHARED(TOK105);
    char *in = shared(STORIES), *tok105 = shared(TOK105);
    rz_convert_options o = {.type = RZ_TYPE_Q4_K};
    expect_failure(in, &o, RZ_ERR_UNSUPPORTED, "weight type q4_K is not supported");
    o = (rz_convert_options){.type = RZ_TYPE_F32, .tokenizer_path = tok105};
    expect_failure(in, &o, RZ_ERR_FORMAT, "tokenizer");
    o.tokenizer_path = NULL;
    expect_failure(rz_test_temp_path("absent.bin"), &o, RZ_ERR_IO, "cannot open");
    expect_failure(rz_test_shared_path(TOK105), &o, RZ_ERR_FORMAT, "llama2c: ");
    assert_int_equal(rz_convert_llama2c(in, rz_test_temp_path("no-such-dir/out.gguf"), &o), RZ_ERR_IO);
    /* Writing over the input is refused before anything is truncated. */
    const char *copy = rz_test_temp_path("copy.bin");
    size_t size;
    void *data = rz_test_read_file(in, &size);
    FILE *f = fopen(copy, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
    assert_int_equal(rz_convert_llama2c(copy, copy, &o), RZ_ERR_INVALID_ARG);
    assert_non_null(strstr(rz_last_error(), "is the input file"));
    size_t after;
    void *still = rz_test_read_file(copy, &after);
    assert_int_equal(after, size);
    assert_memory_equal(still, data, size);
    free(still);
    free(data);
    free(in);
    free(tok105);
}

static void test_cli_convert(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(STORIES);
    RZ_REQUIRE_SHARED(TOK512);
    char *in = shared(STORIES), *tok = shared(TOK512);
    char *out = strdup(rz_test_temp_path("cli.gguf"));
    char cmd[8192], *output;
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' -z '%s' --type f16 2>&1", rz_test_cli(), in, out, tok);
    assert_int_equal(rz_test_run(cmd, &output), 0);
    if (!strstr(output, "47 tensors") || !strstr(output, "f16")) fail_msg("unexpected summary: %s", output);
    free(output);
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(out, &g));
    assert_int_equal(rz_gguf_find_tensor(g, "blk.0.attn_q.weight")->type, RZ_TYPE_F16);
    rz_gguf_close(g);

    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' 2>&1", rz_test_cli(), rz_test_temp_path("absent.bin"),
             out);
    assert_int_equal(rz_test_run(cmd, &output), 1);
    if (!strstr(output, "rz convert: ") || !strstr(output, "No such file")) fail_msg("unclear: %s", output);
    free(output);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' --type q9 2>&1", rz_test_cli(), in, out);
    assert_int_equal(rz_test_run(cmd, &output), 2);
    free(output);
    free(in);
    free(tok);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_f32_matches_checkpoint_and_reference),
        cmocka_unit_test(test_convert_f16),
        cmocka_unit_test(test_convert_bf16),
        cmocka_unit_test(test_convert_q8_0),
        cmocka_unit_test(test_convert_falls_back_to_f16),
        cmocka_unit_test(test_convert_q4_0),
        cmocka_unit_test(test_convert_unshared_classifier),
        cmocka_unit_test(test_convert_failures),
        cmocka_unit_test(test_cli_convert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
