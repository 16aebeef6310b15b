/* rwkv.cpp's own model files (../shared/models/tiny-rwkv-*-FP32.bin, RWKV
 * v5.2 and v7) against rwkv.cpp (../shared/testdata/tiny-rwkv): the logits
 * after the bytes "in within 1e-4 of its reference on every ISA path, in
 * one pass and one byte per call, and its greedy continuations byte for
 * byte, also through rz run; converted to GGUF, the same logits; malformed
 * files fail with a message, never a crash. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/rwkv_cpp.h"
#include "test_support.h"

enum { N_VOCAB = 256, N_GREEDY = 200, MAX_TOKENS = 512 };
#define BOUND 1e-4f

static const char *const versions[] = {"5v2-730K", "7v0-834K"};
static const char *const prompts[] = {"\"in", "Once upon a time"};

static const char *model_rel(const char *version) {
    static char rel[128];
    snprintf(rel, sizeof rel, "models/tiny-rwkv-%s-FP32.bin", version);
    return rel;
}

static rz_context *new_context(const rz_model *model) {
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = MAX_TOKENS;
    cp.n_batch = MAX_TOKENS;
    cp.n_threads = 1; /* tiny matrices: threads would only add waits */
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
    return ctx;
}

/* The prompt's bytes as tokens: the byte-level vocabulary's ids are the
 * byte values. */
static size_t tokenize(const rz_model *model, const char *text, int32_t *ids) {
    size_t n;
    RZ_ASSERT_OK(rz_tokenize(model, text, strlen(text), true, false, ids, MAX_TOKENS, &n));
    assert_int_equal(n, strlen(text));
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids[i], (unsigned char)text[i]);
    return n;
}

static void test_logits(void **state) {
    (void)state;
    for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++) {
        char ref_rel[128];
        snprintf(ref_rel, sizeof ref_rel, "testdata/tiny-rwkv/expected-logits-%s.bin", versions[v]);
        if (!rz_test_shared_available(model_rel(versions[v])) || !rz_test_shared_available(ref_rel)) continue;
        size_t size;
        float *ref = rz_test_read_file(rz_test_shared_path(ref_rel), &size);
        assert_non_null(ref);
        assert_int_equal(size, N_VOCAB * sizeof(float));
        rz_isa paths[RZ_ISA_COUNT];
        const int n_paths = rz_test_isa_paths(paths);
        for (int p = 0; p < n_paths; p++) {
            RZ_ASSERT_OK(rz_isa_set(paths[p]));
            rz_model *model;
            RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(model_rel(versions[v])), NULL, &model));
            assert_string_equal(rz_model_describe(model)->format, "rwkv.cpp");
            assert_int_equal(rz_model_describe(model)->n_vocab, N_VOCAB);
            int32_t ids[MAX_TOKENS];
            const size_t n = tokenize(model, "\"in", ids);
            for (int one_by_one = 0; one_by_one < 2; one_by_one++) {
                rz_context *ctx = new_context(model);
                if (one_by_one)
                    for (size_t i = 0; i < n; i++)
                        RZ_ASSERT_OK(rz_decode(ctx, &ids[i], 1, NULL));
                else
                    RZ_ASSERT_OK(rz_decode(ctx, ids, (uint32_t)n, NULL));
                const float *logits = rz_get_logits(ctx, -1);
                float worst = 0.0f;
                for (size_t i = 0; i < N_VOCAB; i++) {
                    const float d = fabsf(logits[i] - ref[i]);
                    if (!(d <= worst)) worst = d; /* NaN counts as worst */
                }
                printf("%s %-7s %-10s max abs %.3g (bound %.3g)\n", versions[v], rz_isa_name(paths[p]),
                       one_by_one ? "one by one" : "batch", (double)worst, (double)BOUND);
                if (!(worst <= BOUND))
                    fail_msg("%s on %s: max abs %g", versions[v], rz_isa_name(paths[p]), (double)worst);
                rz_context_free(ctx);
            }
            rz_model_free(model);
        }
        RZ_ASSERT_OK(rz_isa_set(paths[n_paths - 1]));
        free(ref);
    }
}

/* greedy-VERSION.txt: "greedy: " + prompt + 200 bytes, each followed by a
 * newline (the continuations hold newlines of their own). Returns the
 * continuation of `prompt`. */
static const char *expected_greedy(const char *text, const char *prompt) {
    char want[64];
    snprintf(want, sizeof want, "greedy: %s", prompt);
    for (const char *p = text; p; p = strstr(p + 1, "\ngreedy: ")) {
        const char *line = *p == '\n' ? p + 1 : p;
        if (strncmp(line, want, strlen(want)) == 0) return line + strlen(want);
    }
    fail_msg("no greedy line for '%s'", prompt);
    return NULL;
}

static void test_greedy(void **state) {
    (void)state;
    for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++) {
        char ref_rel[128];
        snprintf(ref_rel, sizeof ref_rel, "testdata/tiny-rwkv/greedy-%s.txt", versions[v]);
        if (!rz_test_shared_available(model_rel(versions[v])) || !rz_test_shared_available(ref_rel)) continue;
        char *text = rz_test_read_file(rz_test_shared_path(ref_rel), NULL);
        assert_non_null(text);
        rz_model *model;
        RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(model_rel(versions[v])), NULL, &model));
        for (size_t k = 0; k < sizeof prompts / sizeof prompts[0]; k++) {
            const char *want = expected_greedy(text, prompts[k]);
            assert_true(strlen(want) >= N_GREEDY);
            int32_t ids[MAX_TOKENS];
            const size_t n = tokenize(model, prompts[k], ids);
            rz_context *ctx = new_context(model);
            RZ_ASSERT_OK(rz_decode(ctx, ids, (uint32_t)n, NULL));
            int32_t out[N_GREEDY];
            for (int i = 0; i < N_GREEDY; i++) {
                const float *logits = rz_get_logits(ctx, -1);
                int32_t best = 0; /* ties to the lowest id, as rwkv.cpp's argmax */
                for (int32_t t = 1; t < N_VOCAB; t++)
                    if (logits[t] > logits[best]) best = t;
                out[i] = best;
                if (i + 1 < N_GREEDY) RZ_ASSERT_OK(rz_decode(ctx, &best, 1, NULL));
            }
            char got[4 * N_GREEDY];
            size_t len;
            RZ_ASSERT_OK(rz_detokenize(model, out, N_GREEDY, got, sizeof got, &len));
            printf("%s greedy after '%s': %s\n", versions[v], prompts[k],
                   len == N_GREEDY && memcmp(got, want, N_GREEDY) == 0 ? "same 200 bytes" : "DIFFERENT");
            assert_int_equal(len, N_GREEDY);
            assert_memory_equal(got, want, N_GREEDY);
            rz_context_free(ctx);
        }
        rz_model_free(model);
        free(text);
    }
}

/* rz convert's path (the quantizer reading the view): a GGUF that gives the
 * same logits as the file itself. */
static void test_convert(void **state) {
    (void)state;
    for (size_t v = 0; v < sizeof versions / sizeof versions[0]; v++) {
        if (!rz_test_shared_available(model_rel(versions[v]))) continue;
        const char *in = rz_test_shared_path(model_rel(versions[v]));
        char out[4096];
        snprintf(out, sizeof out, "%s", rz_test_temp_path("converted.gguf"));
        rz_quantize_params params;
        rz_quantize_params_init(&params);
        params.preset = "f32";
        RZ_ASSERT_OK(rz_quantize_model(in, out, &params));
        float logits[2][N_VOCAB];
        for (int k = 0; k < 2; k++) {
            rz_model *model;
            RZ_ASSERT_OK(rz_model_load(k ? out : in, NULL, &model));
            int32_t ids[MAX_TOKENS];
            const size_t n = tokenize(model, "\"in", ids);
            rz_context *ctx = new_context(model);
            RZ_ASSERT_OK(rz_decode(ctx, ids, (uint32_t)n, NULL));
            memcpy(logits[k], rz_get_logits(ctx, -1), sizeof logits[k]);
            rz_context_free(ctx);
            rz_model_free(model);
        }
        assert_memory_equal(logits[0], logits[1], sizeof logits[0]);
    }
}

/* The CLI: rz info names the format, rz run prints the greedy text. */
static void test_cli(void **state) {
    (void)state;
    const char *rel = model_rel(versions[0]);
    RZ_REQUIRE_SHARED(rel);
    char cmd[8192], *out;
    snprintf(cmd, sizeof cmd, "%s info '%s' --json 2>&1", rz_test_cli(), rz_test_shared_path(rel));
    assert_int_equal(rz_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"rwkv.cpp\""));
    assert_non_null(strstr(out, "\"rwkv5\""));
    free(out);
    snprintf(cmd, sizeof cmd, "%s run -m '%s' -p '\"in' -n 40 --temp 0 -t 1 2>/dev/null", rz_test_cli(),
             rz_test_shared_path(rel));
    assert_int_equal(rz_test_run(cmd, &out), 0);
    assert_non_null(strstr(out, "\"input\": \"\",\n        \"output\": \"T"));
    free(out);
}

/* ------------------------------------------------------------ malformed */

typedef struct file_buf {
    unsigned char bytes[1024];
    size_t len;
} file_buf;

static void put_u32(file_buf *b, uint32_t v) {
    for (int i = 0; i < 4; i++)
        b->bytes[b->len++] = (unsigned char)(v >> 8 * i);
}

static void put_header(file_buf *b, uint32_t magic, uint32_t version) {
    b->len = 0;
    put_u32(b, magic);
    put_u32(b, version);
    put_u32(b, 256); /* n_vocab */
    put_u32(b, 4);   /* n_embed */
    put_u32(b, 1);   /* n_layer */
    put_u32(b, 0);   /* FP32 */
}

/* A tensor's header and key; `data` bytes of zeros follow. */
static void put_tensor(file_buf *b, const char *key, uint32_t type, uint32_t n_dims, const uint32_t *ne,
                       size_t data) {
    put_u32(b, n_dims);
    put_u32(b, (uint32_t)strlen(key));
    put_u32(b, type);
    for (uint32_t d = 0; d < n_dims; d++)
        put_u32(b, ne[d]);
    memcpy(b->bytes + b->len, key, strlen(key));
    b->len += strlen(key);
    memset(b->bytes + b->len, 0, data);
    b->len += data;
}

static void expect_error(const file_buf *b, rz_status want, const char *needle) {
    rz_gguf *g = (rz_gguf *)1;
    assert_int_equal(rz_rwkv_cpp_open_memory(b->bytes, b->len, &g), want);
    assert_null(g);
    const char *msg = rz_last_error();
    printf("  %s\n", msg);
    assert_non_null(strstr(msg, needle));
    assert_null(strchr(msg, '\n'));
}

static void test_malformed(void **state) {
    (void)state;
    file_buf b;
    const uint32_t vec[1] = {4}, mat[2] = {4, 4};
    put_header(&b, 0x67676d66u, 101);
    b.len = 23;
    expect_error(&b, RZ_ERR_FORMAT, "no header");
    put_header(&b, 0x46554747u, 101); /* "GGUF" */
    expect_error(&b, RZ_ERR_FORMAT, "bad magic");
    put_header(&b, 0x67676d66u, 7);
    expect_error(&b, RZ_ERR_UNSUPPORTED, "version 7");
    /* tensors: truncated header, too many dimensions, a key past the end,
     * data past the end, huge and zero dimensions, a removed type */
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "emb.weight", 0, 2, mat, 64);
    b.len -= 64 + 10 + 6;
    expect_error(&b, RZ_ERR_FORMAT, "truncated");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "emb.weight", 0, 4, (const uint32_t[4]){4, 4, 1, 1}, 64);
    expect_error(&b, RZ_ERR_FORMAT, "4 dimensions");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "emb.weight", 0, 2, mat, 0);
    b.len -= 3;
    expect_error(&b, RZ_ERR_FORMAT, "truncated");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "emb.weight", 0, 2, mat, 63);
    expect_error(&b, RZ_ERR_FORMAT, "needs 64 bytes");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "emb.weight", 0, 3, (const uint32_t[3]){0x7fffffff, 0x7fffffff, 0x7fffffff}, 0);
    expect_error(&b, RZ_ERR_FORMAT, "emb.weight");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "emb.weight", 0, 2, (const uint32_t[2]){0xffffffffu, 4}, 0);
    expect_error(&b, RZ_ERR_FORMAT, "dimension of 4294967295");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "emb.weight", 0, 1, (const uint32_t[1]){0}, 0);
    expect_error(&b, RZ_ERR_FORMAT, "dimension of 0");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "emb.weight", 5, 1, vec, 16);
    expect_error(&b, RZ_ERR_UNSUPPORTED, "data type 5");
    put_header(&b, 0x67676d66u, 100);
    put_tensor(&b, "emb.weight", 2, 1, (const uint32_t[1]){32}, 18);
    expect_error(&b, RZ_ERR_UNSUPPORTED, "version 100");
    /* a well-formed container of no known RWKV version, or with a tensor of
     * no GGUF counterpart */
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "blocks.0.ln1.weight", 0, 1, vec, 16);
    expect_error(&b, RZ_ERR_UNSUPPORTED, "not supported");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "blocks.0.att.r_k", 0, 2, (const uint32_t[2]){4, 1}, 16);
    put_tensor(&b, "blocks.0.att.mystery", 0, 1, vec, 16);
    expect_error(&b, RZ_ERR_UNSUPPORTED, "no GGUF counterpart");
    put_header(&b, 0x67676d66u, 101);
    put_tensor(&b, "blocks.0.att.r_k", 0, 2, (const uint32_t[2]){4, 1}, 16);
    put_tensor(&b, "blocks.1.ln1.weight", 0, 1, vec, 16); /* the header says one layer */
    expect_error(&b, RZ_ERR_UNSUPPORTED, "blocks.1.ln1.weight");
}

/* The real files cut short anywhere inside a tensor: a clean error from the
 * view, and from the loader for a file on disk. */
static void test_truncated(void **state) {
    (void)state;
    const char *rel = model_rel(versions[1]);
    RZ_REQUIRE_SHARED(rel);
    size_t size;
    unsigned char *bytes = rz_test_read_file(rz_test_shared_path(rel), &size);
    assert_non_null(bytes);
    const size_t cuts[] = {0, 4, 25, 40, 60, size / 3, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        rz_gguf *g;
        assert_int_equal(rz_rwkv_cpp_open_memory(bytes, cuts[i], &g), RZ_ERR_FORMAT);
        assert_non_null(strstr(rz_last_error(), "rwkv.cpp: "));
    }
    rz_gguf *g;
    RZ_ASSERT_OK(rz_rwkv_cpp_open_memory(bytes, size, &g));
    rz_str arch;
    RZ_ASSERT_OK(rz_gguf_get_str(g, "general.architecture", &arch));
    assert_true(arch.len == 5 && memcmp(arch.ptr, "rwkv7", 5) == 0);
    rz_gguf_close(g);
    const char *path = rz_test_temp_path("cut.bin");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, size / 2, f), size / 2);
    fclose(f);
    rz_model *model;
    assert_int_equal(rz_model_load(path, NULL, &model), RZ_ERR_FORMAT);
    printf("  %s\n", rz_last_error());
    free(bytes);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logits), cmocka_unit_test(test_greedy),    cmocka_unit_test(test_convert),
        cmocka_unit_test(test_cli),    cmocka_unit_test(test_malformed), cmocka_unit_test(test_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
