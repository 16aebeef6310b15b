/* llama2.c checkpoints and tokenizer.bin: the shared models, and hostile inputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

enum { HEADER_BYTES = 28 };

static const char *write_temp(const char *name, const void *data, size_t size) {
    const char *path = rz_test_temp_path(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (size) assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void *read_shared(const char *rel, size_t *size) {
    void *data = rz_test_read_file(rz_test_shared_path(rel), size);
    assert_non_null(data);
    return data;
}

/* A failure must be one line, prefixed with the module. */
static void assert_one_line_error(const char *prefix) {
    const char *msg = rz_last_error();
    if (strncmp(msg, prefix, strlen(prefix)) != 0) fail_msg("message '%s' lacks prefix '%s'", msg, prefix);
    assert_null(strchr(msg, '\n'));
}

static void expect_model_error(const char *path, rz_status expected) {
    rz_llama2c *m = (rz_llama2c *)1;
    rz_status s = rz_llama2c_open(path, &m);
    if (s != expected)
        fail_msg("expected %s, got %s (%s)", rz_status_name(expected), rz_status_name(s), rz_last_error());
    assert_null(m);
    assert_one_line_error("llama2c: ");
}

static void check_config(const char *rel, int dim, int hidden, int layers, int heads, int kv_heads, int vocab,
                         int seq_len) {
    rz_llama2c *m;
    RZ_ASSERT_OK(rz_llama2c_open(rz_test_shared_path(rel), &m));
    const rz_llama2c_config *c = rz_llama2c_get_config(m);
    assert_int_equal(c->dim, dim);
    assert_int_equal(c->hidden_dim, hidden);
    assert_int_equal(c->n_layers, layers);
    assert_int_equal(c->n_heads, heads);
    assert_int_equal(c->n_kv_heads, kv_heads);
    assert_int_equal(c->vocab_size, vocab);
    assert_int_equal(c->seq_len, seq_len);
    assert_true(c->shared_classifier);

    /* Shared classifier: embedding, 9 per layer, final norm. */
    assert_int_equal(rz_llama2c_tensor_count(m), 2 + 9 * (uint64_t)layers);
    assert_null(rz_llama2c_tensor_at(m, rz_llama2c_tensor_count(m)));
    const int kv_dim = dim / heads * kv_heads;
    const struct {
        const char *name;
        uint32_t n_dims;
        uint64_t ne0, ne1;
    } want[] = {
        {"blk.%d.attn_norm.weight", 1, dim, 1},     {"blk.%d.attn_q.weight", 2, dim, dim},
        {"blk.%d.attn_k.weight", 2, dim, kv_dim},   {"blk.%d.attn_v.weight", 2, dim, kv_dim},
        {"blk.%d.attn_output.weight", 2, dim, dim}, {"blk.%d.ffn_norm.weight", 1, dim, 1},
        {"blk.%d.ffn_gate.weight", 2, dim, hidden}, {"blk.%d.ffn_down.weight", 2, hidden, dim},
        {"blk.%d.ffn_up.weight", 2, dim, hidden},
    };
    const rz_llama2c_tensor *t = rz_llama2c_tensor_at(m, 0);
    assert_string_equal(t->name, "token_embd.weight");
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], dim);
    assert_int_equal(t->ne[1], vocab);
    uint64_t floats = (uint64_t)dim * (uint64_t)vocab;
    for (int l = 0; l < layers; l++) {
        for (int k = 0; k < 9; k++) {
            char name[64];
            snprintf(name, sizeof name, want[k].name, l);
            t = rz_llama2c_tensor_at(m, 1 + 9 * (uint64_t)l + (uint64_t)k);
            assert_string_equal(t->name, name);
            assert_int_equal(t->n_dims, want[k].n_dims);
            assert_int_equal(t->ne[0], want[k].ne0);
            assert_int_equal(t->ne[1], want[k].ne1);
            floats += t->ne[0] * t->ne[1];
        }
    }
    t = rz_llama2c_tensor_at(m, rz_llama2c_tensor_count(m) - 1);
    assert_string_equal(t->name, "output_norm.weight");
    assert_int_equal(t->n_dims, 1);
    assert_int_equal(t->ne[0], dim);
    floats += (uint64_t)dim;

    /* Every tensor's data is where run.c's layout puts it in the file. */
    size_t size;
    unsigned char *file = read_shared(rel, &size);
    const float *weights = (const float *)(const void *)(file + HEADER_BYTES);
    t = rz_llama2c_tensor_at(m, 0);
    assert_memory_equal(t->data, weights, t->ne[0] * t->ne[1] * sizeof(float));
    /* Layer 1's wq follows all the embeddings, all rms_att and layer 0's wq. */
    t = rz_llama2c_tensor_at(m, 1 + 9 + 1);
    const uint64_t wq1 = (uint64_t)vocab * dim + (uint64_t)layers * dim + (uint64_t)dim * dim;
    assert_memory_equal(t->data, weights + wq1, (size_t)dim * dim * sizeof(float));
    t = rz_llama2c_tensor_at(m, rz_llama2c_tensor_count(m) - 1);
    assert_memory_equal(t->data, weights + floats - dim, (size_t)dim * sizeof(float));
    /* After the final norm only the two unused RoPE tables remain. */
    assert_int_equal(size, HEADER_BYTES + (floats + (uint64_t)seq_len * (dim / heads)) * sizeof(float));
    free(file);
    rz_llama2c_close(m);
}

static void test_shared_models(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    RZ_REQUIRE_SHARED("models/aidreams260K.bin");
    RZ_REQUIRE_SHARED("models/babyllama-tok105-model5000.bin");
    check_config("models/stories260K.bin", 64, 172, 5, 8, 4, 512, 512);
    check_config("models/aidreams260K.bin", 64, 172, 4, 4, 4, 512, 128);
    check_config("models/babyllama-tok105-model5000.bin", 128, 352, 5, 8, 4, 105, 256);
}

static void assert_piece(const rz_llama2c_vocab *v, uint32_t id, const char *text, float score) {
    rz_str p = rz_llama2c_vocab_piece(v, id);
    assert_int_equal(p.len, strlen(text));
    assert_memory_equal(p.ptr, text, p.len);
    assert_true(rz_llama2c_vocab_score(v, id) == score);
}

static void test_shared_tokenizers(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/tok512.bin");
    RZ_REQUIRE_SHARED("models/aidreams260K-tok512.bin");
    RZ_REQUIRE_SHARED("models/tok105.bin");
    rz_llama2c_vocab *v;
    RZ_ASSERT_OK(rz_llama2c_vocab_open(rz_test_shared_path("models/tok512.bin"), 512, &v));
    assert_int_equal(rz_llama2c_vocab_size(v), 512);
    assert_int_equal(rz_llama2c_vocab_max_token_length(v), 7);
    assert_piece(v, 0, "<unk>", 0.0f);
    assert_piece(v, 1, "\n<s>\n", 0.0f);
    assert_piece(v, 2, "\n</s>\n", 0.0f);
    assert_piece(v, 3, "<0x00>", 0.0f);
    assert_piece(v, 258, "<0xFF>", 0.0f);
    assert_piece(v, 259, " t", 0.0f);
    assert_piece(v, 260, "he", -1.0f);
    assert_piece(v, 511, "\xe2\x80\x8a", -252.0f);
    /* Out of range ids read as empty. */
    assert_int_equal(rz_llama2c_vocab_piece(v, 512).len, 0);
    assert_true(rz_llama2c_vocab_score(v, 512) == 0.0f);
    rz_llama2c_vocab_close(v);

    RZ_ASSERT_OK(rz_llama2c_vocab_open(rz_test_shared_path("models/aidreams260K-tok512.bin"), 512, &v));
    assert_int_equal(rz_llama2c_vocab_max_token_length(v), 10);
    assert_piece(v, 259, "in", 0.0f);
    assert_piece(v, 262, " a", -3.0f);
    assert_piece(v, 511, "\xce\xbc", -252.0f);
    rz_llama2c_vocab_close(v);

    RZ_ASSERT_OK(rz_llama2c_vocab_open(rz_test_shared_path("models/tok105.bin"), 105, &v));
    assert_int_equal(rz_llama2c_vocab_size(v), 105);
    assert_int_equal(rz_llama2c_vocab_max_token_length(v), 6);
    assert_piece(v, 2, "\n</s>\n", 0.0f);
    assert_piece(v, 3, " ", 0.0f);
    assert_piece(v, 4, "e", -1.0f);
    assert_piece(v, 104, "\xe2\x80\x8a", -101.0f);
    rz_llama2c_vocab_close(v);
}

static void test_truncated_models(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    size_t size;
    unsigned char *file = read_shared("models/stories260K.bin", &size);
    /* Every length through the header and the first weights, then a stride
     * through the rest, then the last few bytes. */
    for (size_t len = 0; len < 64; len++)
        expect_model_error(write_temp("cut.bin", file, len), RZ_ERR_FORMAT);
    for (size_t len = 64; len < size; len += 4093)
        expect_model_error(write_temp("cut.bin", file, len), RZ_ERR_FORMAT);
    for (size_t len = size - 16; len < size; len++)
        expect_model_error(write_temp("cut.bin", file, len), RZ_ERR_FORMAT);
    /* Trailing bytes mean the header does not describe the file either. */
    unsigned char *longer = malloc(size + 4);
    memcpy(longer, file, size);
    memset(longer + size, 0, 4);
    expect_model_error(write_temp("long.bin", longer, size + 4), RZ_ERR_FORMAT);
    assert_non_null(strstr(rz_last_error(), "file is 1056544 bytes but the header"));
    assert_non_null(strstr(rz_last_error(), "needs 1056540"));
    free(longer);
    free(file);
    expect_model_error(rz_test_temp_path("absent.bin"), RZ_ERR_IO);
}

static void set_field(unsigned char *file, int field, int32_t value) { memcpy(file + 4 * field, &value, 4); }

static void test_hostile_headers(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    size_t size;
    unsigned char *file = read_shared("models/stories260K.bin", &size);
    unsigned char *copy = malloc(size);
    const int32_t bad[] = {0, -1, -64, INT32_MIN, INT32_MAX, 1 << 20};
    for (int field = 0; field < 7; field++) {
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            memcpy(copy, file, size);
            set_field(copy, field, bad[b]);
            /* A negative vocab_size is valid (unshared classifier) but the
             * file then lacks the classifier; everything else is absurd. */
            expect_model_error(write_temp("bad.bin", copy, size), RZ_ERR_FORMAT);
        }
    }
    const struct {
        int field;
        int32_t value;
        const char *message;
    } cases[] = {
        {3, 7, "dim 64 is not a multiple of n_heads 7"},
        {4, 3, "n_heads 8 is not a multiple of n_kv_heads 3"},
        {3, 64, "head size 1 (dim / n_heads) is odd"},
        {1, -5, "header field hidden_dim is -5; it must be positive"},
        {5, 0, "header vocab_size is 0"},
        {5, -512, "vocab 512 unshared"},
        {2, INT32_MAX, "needs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(copy, file, size);
        set_field(copy, cases[i].field, cases[i].value);
        expect_model_error(write_temp("bad.bin", copy, size), RZ_ERR_FORMAT);
        if (!strstr(rz_last_error(), cases[i].message))
            fail_msg("'%s' does not say '%s'", rz_last_error(), cases[i].message);
    }
    /* Huge but consistent dims: the sizes overflow 64 bits. */
    const int32_t huge[7] = {1 << 30, INT32_MAX, INT32_MAX, 2, 2, INT32_MAX, INT32_MAX};
    for (int field = 0; field < 7; field++)
        set_field(copy, field, huge[field]);
    expect_model_error(write_temp("huge.bin", copy, size), RZ_ERR_FORMAT);
    assert_non_null(strstr(rz_last_error(), "more weights than any file can hold"));
    /* The versioned export is recognised and refused. */
    memcpy(copy, file, size);
    set_field(copy, 0, 0x616b3432);
    set_field(copy, 1, 2);
    expect_model_error(write_temp("v2.bin", copy, size), RZ_ERR_UNSUPPORTED);
    assert_non_null(strstr(rz_last_error(), "unsupported"));
    free(copy);
    free(file);
}

/* vocab_size < 0: a separate classifier follows the RoPE tables. */
static void test_unshared_classifier(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    size_t size;
    unsigned char *file = read_shared("models/stories260K.bin", &size);
    const size_t wcls_bytes = 512 * 64 * sizeof(float);
    unsigned char *unshared = malloc(size + wcls_bytes);
    memcpy(unshared, file, size);
    set_field(unshared, 5, -512);
    float *wcls = (float *)(void *)(unshared + size);
    for (size_t i = 0; i < 512 * 64; i++)
        wcls[i] = (float)i;
    rz_llama2c *m;
    RZ_ASSERT_OK(rz_llama2c_open(write_temp("unshared.bin", unshared, size + wcls_bytes), &m));
    assert_false(rz_llama2c_get_config(m)->shared_classifier);
    assert_int_equal(rz_llama2c_get_config(m)->vocab_size, 512);
    assert_int_equal(rz_llama2c_tensor_count(m), 2 + 9 * 5 + 1);
    const rz_llama2c_tensor *t = rz_llama2c_tensor_at(m, 2 + 9 * 5);
    assert_string_equal(t->name, "output.weight");
    assert_int_equal(t->ne[0], 64);
    assert_int_equal(t->ne[1], 512);
    assert_memory_equal(t->data, wcls, wcls_bytes);
    rz_llama2c_close(m);
    free(unshared);
    free(file);
}

static void expect_vocab_error(const char *path, int32_t vocab_size, rz_status expected) {
    rz_llama2c_vocab *v = (rz_llama2c_vocab *)1;
    rz_status s = rz_llama2c_vocab_open(path, vocab_size, &v);
    if (s != expected)
        fail_msg("expected %s, got %s (%s)", rz_status_name(expected), rz_status_name(s), rz_last_error());
    assert_null(v);
    assert_one_line_error("llama2c: ");
}

static void test_hostile_tokenizers(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/tok512.bin");
    size_t size;
    unsigned char *file = read_shared("models/tok512.bin", &size);
    for (size_t len = 0; len < size; len += len < 300 ? 1 : 97)
        expect_vocab_error(write_temp("cut.bin", file, len), 512, RZ_ERR_FORMAT);
    const char *path = write_temp("tok.bin", file, size);
    expect_vocab_error(path, 511, RZ_ERR_FORMAT);
    assert_non_null(strstr(rz_last_error(), "bytes after its 511 pieces"));
    expect_vocab_error(path, 513, RZ_ERR_FORMAT);
    expect_vocab_error(path, INT32_MAX, RZ_ERR_FORMAT);
    expect_vocab_error(path, 0, RZ_ERR_INVALID_ARG);
    expect_vocab_error(path, -5, RZ_ERR_INVALID_ARG);

    unsigned char *copy = malloc(size);
    memcpy(copy, file, size);
    set_field(copy, 0, -1); /* max_token_length */
    expect_vocab_error(write_temp("bad.bin", copy, size), 512, RZ_ERR_FORMAT);
    memcpy(copy, file, size);
    set_field(copy, 0, 4); /* shorter than "<unk>" */
    expect_vocab_error(write_temp("bad.bin", copy, size), 512, RZ_ERR_FORMAT);
    assert_non_null(strstr(rz_last_error(), "piece 0 has length 5"));
    /* Piece 0's length field (after max_token_length and its score). */
    const int32_t lengths[] = {-1, INT32_MIN, 8, INT32_MAX};
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        memcpy(copy, file, size);
        memcpy(copy + 8, &lengths[i], 4);
        expect_vocab_error(write_temp("bad.bin", copy, size), 512, RZ_ERR_FORMAT);
    }
    free(copy);
    free(file);
    expect_vocab_error(rz_test_temp_path("absent.bin"), 512, RZ_ERR_IO);
}

static void test_cli_info(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    RZ_REQUIRE_SHARED("models/tok512.bin");
    char cmd[8192], *output;
    snprintf(cmd, sizeof cmd, "'%s' info '%s' 2>&1", rz_test_cli(),
             rz_test_shared_path("models/stories260K.bin"));
    assert_int_equal(rz_test_run(cmd, &output), 0);
    const char *expected[] = {"llama2.c checkpoint", "n_kv_heads     4", "blk.4.ffn_down.weight", "172 x 64",
                              "47 tensors, 260032 parameters, 1040128 bytes"};
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        if (!strstr(output, expected[i])) fail_msg("'%s' is not in:\n%s", expected[i], output);
    free(output);
    snprintf(cmd, sizeof cmd, "'%s' info --json '%s' 2>&1", rz_test_cli(),
             rz_test_shared_path("models/stories260K.bin"));
    assert_int_equal(rz_test_run(cmd, &output), 0);
    if (!strstr(output, "\"format\":\t\"llama2c\"") || !strstr(output, "\"seq_len\":\t512"))
        fail_msg("unexpected JSON:\n%s", output);
    free(output);
    /* A tokenizer is neither GGUF nor a checkpoint. */
    snprintf(cmd, sizeof cmd, "'%s' info '%s' 2>&1", rz_test_cli(), rz_test_shared_path("models/tok512.bin"));
    assert_int_equal(rz_test_run(cmd, &output), 1);
    if (!strstr(output, "llama2c: header field hidden_dim is 0")) fail_msg("unclear: %s", output);
    free(output);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_models),
        cmocka_unit_test(test_shared_tokenizers),
        cmocka_unit_test(test_truncated_models),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_unshared_classifier),
        cmocka_unit_test(test_hostile_tokenizers),
        cmocka_unit_test(test_cli_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
