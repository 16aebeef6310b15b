/* Sequence state (rz_state_*): a context that saves after part A of a prompt
 * and one that loads that state give bit-identical logits for part B, on a
 * recurrent RWKV 7 and Mamba 2 and on Gemma 3, whose sliding-window layers
 * keep rings; states that do not fit a context, truncated or corrupt ones
 * are refused with the context unchanged. Recurrent contexts decode
 * together through rz_decode_batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

enum { N_CTX = 256, N_BATCH = 8, N_A = 60, N_B = 40 };

static rz_model *load(const char *arch) {
    char rel[64];
    snprintf(rel, sizeof rel, "testdata/arch/%s.gguf", arch);
    if (!rz_test_shared_available(rel)) return NULL;
    rz_model *m;
    RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(rel), NULL, &m));
    return m;
}

static rz_context *new_context(const rz_model *m, uint32_t n_ctx, uint32_t n_batch, rz_type type_kv) {
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = 2;
    cp.type_k = cp.type_v = type_kv;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(m, &cp, &ctx));
    return ctx;
}

/* A fixed pseudo-random prompt: A is [0, N_A), B is [N_A, N_A + N_B). */
static void prompt(const rz_model *m, int32_t *t) {
    const int32_t V = rz_model_describe(m)->n_vocab;
    for (int i = 0; i < N_A + N_B; i++)
        t[i] = (int32_t)((i * 7919u + 13u) % (uint32_t)V);
}

/* Every logits row of part B, decoded after what ctx holds. */
static float *decode_b(rz_context *ctx, const int32_t *t) {
    const size_t V = (size_t)rz_model_describe(rz_context_model(ctx))->n_vocab;
    bool want[N_B];
    for (int i = 0; i < N_B; i++)
        want[i] = true;
    RZ_ASSERT_OK(rz_decode(ctx, t + N_A, N_B, want));
    float *rows = malloc(N_B * V * sizeof *rows);
    assert_non_null(rows);
    for (int i = 0; i < N_B; i++)
        memcpy(rows + i * V, rz_get_logits(ctx, i), V * sizeof *rows);
    return rows;
}

static void round_trip(const char *arch, rz_type type_kv) {
    rz_model *m = load(arch);
    if (!m) skip();
    const size_t V = (size_t)rz_model_describe(m)->n_vocab;
    int32_t t[N_A + N_B];
    prompt(m, t);
    rz_context *a = new_context(m, N_CTX, N_BATCH, type_kv);
    RZ_ASSERT_OK(rz_decode(a, t, N_A, NULL));
    const size_t size = rz_state_size(a, N_A);
    void *buf = malloc(size);
    assert_non_null(buf);
    RZ_ASSERT_OK(rz_state_get(a, t, N_A, buf, size));
    const char *path = rz_test_temp_path("state.bin");
    RZ_ASSERT_OK(rz_state_save(a, path, t, N_A));
    float *l1 = decode_b(a, t);

    /* From memory: the tokens come back, the logits of A's last token too. */
    rz_context *b = new_context(m, N_CTX, N_BATCH, type_kv);
    int32_t got[N_CTX];
    uint32_t n_got = 0;
    RZ_ASSERT_OK(rz_state_set(b, buf, size, got, N_CTX, &n_got));
    assert_int_equal(n_got, N_A);
    assert_memory_equal(got, t, N_A * sizeof *t);
    assert_int_equal(rz_context_n_past(b), N_A);
    float *l2 = decode_b(b, t);
    assert_memory_equal(l1, l2, N_B * V * sizeof *l1);

    /* From the file, over a context that held something else. */
    RZ_ASSERT_OK(rz_decode(b, t + 5, 3, NULL));
    RZ_ASSERT_OK(rz_state_load(b, path, NULL, 0, NULL));
    assert_int_equal(rz_context_n_past(b), N_A);
    free(l2);
    l2 = decode_b(b, t);
    assert_memory_equal(l1, l2, N_B * V * sizeof *l1);

    free(l1);
    free(l2);
    free(buf);
    rz_context_free(a);
    rz_context_free(b);
    rz_model_free(m);
}

static void test_rwkv7(void **state) {
    (void)state;
    round_trip("rwkv7", RZ_TYPE_F32);
}
static void test_mamba2(void **state) {
    (void)state;
    round_trip("mamba2", RZ_TYPE_F32);
}
static void test_gemma3_rings(void **state) {
    (void)state;
    round_trip("gemma3", RZ_TYPE_F32);
}
static void test_gemma3_f16_cache(void **state) {
    (void)state;
    round_trip("gemma3", RZ_TYPE_F16);
}

/* dst holds 3 tokens; setting buf must fail with `want` and change nothing. */
static void refused(rz_context *dst, const void *buf, size_t size, rz_status want) {
    const rz_model *m = rz_context_model(dst);
    const size_t V = (size_t)rz_model_describe(m)->n_vocab;
    int32_t t[N_A + N_B];
    prompt(m, t);
    RZ_ASSERT_OK(rz_context_truncate(dst, 0));
    RZ_ASSERT_OK(rz_decode(dst, t, 3, NULL));
    float *before = malloc(V * sizeof *before);
    assert_non_null(before);
    memcpy(before, rz_get_logits(dst, -1), V * sizeof *before);
    assert_int_equal(rz_state_set(dst, buf, size, NULL, 0, NULL), want);
    assert_true(strlen(rz_last_error()) > 0);
    assert_int_equal(rz_context_n_past(dst), 3);
    assert_memory_equal(rz_get_logits(dst, -1), before, V * sizeof *before);
    RZ_ASSERT_OK(rz_decode(dst, t + 3, 1, NULL));
    free(before);
}

static void test_refusals(void **state) {
    (void)state;
    rz_model *gemma = load("gemma3"), *rwkv = load("rwkv7"), *mamba = load("mamba2");
    if (!gemma || !rwkv || !mamba) skip();
    int32_t t[N_A + N_B];
    prompt(gemma, t);
    rz_context *src = new_context(gemma, N_CTX, N_BATCH, RZ_TYPE_F32);
    RZ_ASSERT_OK(rz_decode(src, t, N_A, NULL));
    const size_t size = rz_state_size(src, 0);
    unsigned char *buf = malloc(size);
    assert_non_null(buf);
    RZ_ASSERT_OK(rz_state_get(src, NULL, 0, buf, size));
    /* Tokens are all or none. */
    assert_int_equal(rz_state_get(src, t, 5, buf, size), RZ_ERR_INVALID_ARG);
    assert_int_equal(rz_state_get(src, NULL, 0, buf, size - 1), RZ_ERR_RANGE);

    rz_context *dst = new_context(gemma, N_CTX, N_BATCH, RZ_TYPE_F32);
    refused(dst, buf, size - 1, RZ_ERR_FORMAT); /* truncated */
    refused(dst, buf, 10, RZ_ERR_FORMAT);
    buf[size - 7] ^= 1; /* corrupt payload */
    refused(dst, buf, size, RZ_ERR_FORMAT);
    buf[size - 7] ^= 1;
    buf[0] ^= 1; /* bad magic */
    refused(dst, buf, size, RZ_ERR_FORMAT);
    buf[0] ^= 1;
    RZ_ASSERT_OK(rz_state_set(dst, buf, size, NULL, 0, NULL)); /* intact again */
    /* Any byte of the header changed: refused (the context as it was) or,
     * where the byte does not matter, taken; never a crash. */
    uint64_t rng = 1;
    for (int i = 0; i < 300; i++) {
        const size_t at = rz_test_rand_u64(&rng) % 128;
        const unsigned char flip = (unsigned char)(1 + rz_test_rand_u64(&rng) % 255);
        buf[at] ^= flip;
        RZ_ASSERT_OK(rz_context_truncate(dst, 0));
        RZ_ASSERT_OK(rz_decode(dst, t, 3, NULL));
        if (rz_state_set(dst, buf, size, NULL, 0, NULL) != RZ_OK) assert_int_equal(rz_context_n_past(dst), 3);
        buf[at] ^= flip;
    }
    int32_t few[4];
    assert_int_equal(rz_state_load(dst, rz_test_temp_path("missing.bin"), few, 4, NULL), RZ_ERR_IO);
    rz_context_free(dst);

    /* Another cache type, a context too short, rings wider than saved. */
    dst = new_context(gemma, N_CTX, N_BATCH, RZ_TYPE_F16);
    refused(dst, buf, size, RZ_ERR_INVALID_ARG);
    rz_context_free(dst);
    dst = new_context(gemma, 32, N_BATCH, RZ_TYPE_F32);
    refused(dst, buf, size, RZ_ERR_RANGE);
    rz_context_free(dst);
    dst = new_context(gemma, N_CTX, 32, RZ_TYPE_F32);
    refused(dst, buf, size, RZ_ERR_UNSUPPORTED);
    rz_context_free(dst);

    /* Other models, both ways between recurrent and attention. */
    dst = new_context(rwkv, N_CTX, N_BATCH, RZ_TYPE_F32);
    refused(dst, buf, size, RZ_ERR_INVALID_ARG);
    free(buf);
    rz_context *r = new_context(rwkv, N_CTX, N_BATCH, RZ_TYPE_F32);
    RZ_ASSERT_OK(rz_decode(r, t, 10, NULL));
    const size_t rsize = rz_state_size(r, 0);
    buf = malloc(rsize);
    assert_non_null(buf);
    RZ_ASSERT_OK(rz_state_get(r, NULL, 0, buf, rsize));
    rz_context *g = new_context(gemma, N_CTX, N_BATCH, RZ_TYPE_F32);
    refused(g, buf, rsize, RZ_ERR_INVALID_ARG);
    rz_context *mm = new_context(mamba, N_CTX, N_BATCH, RZ_TYPE_F32);
    refused(mm, buf, rsize, RZ_ERR_INVALID_ARG);
    /* Recurrent states ignore the cache types. */
    rz_context *r16 = new_context(rwkv, N_CTX, N_BATCH, RZ_TYPE_F16);
    RZ_ASSERT_OK(rz_state_set(r16, buf, rsize, NULL, 0, NULL));
    assert_int_equal(rz_context_n_past(r16), 10);

    free(buf);
    rz_context_free(r16);
    rz_context_free(mm);
    rz_context_free(g);
    rz_context_free(r);
    rz_context_free(dst);
    rz_context_free(src);
    rz_model_free(gemma);
    rz_model_free(rwkv);
    rz_model_free(mamba);
}

/* Two recurrent sequences in one rz_decode_batch pass (as rz serve runs its
 * slots) give each the logits of its own rz_decode calls. */
static void test_recurrent_decode_batch(void **state) {
    (void)state;
    rz_model *m = load("mamba2");
    if (!m) skip();
    const size_t V = (size_t)rz_model_describe(m)->n_vocab;
    int32_t t[N_A + N_B];
    prompt(m, t);
    rz_context *ctx[2] = {new_context(m, N_CTX, 32, RZ_TYPE_F32), new_context(m, N_CTX, 32, RZ_TYPE_F16)};
    rz_context *solo[2] = {new_context(m, N_CTX, 32, RZ_TYPE_F32), new_context(m, N_CTX, 32, RZ_TYPE_F32)};
    const int32_t *toks[2] = {t, t + 20};
    const uint32_t n[2] = {5, 9};
    RZ_ASSERT_OK(rz_decode_batch(ctx, toks, n, 2));
    const int32_t *next[2] = {t + 40, t + 50};
    const uint32_t one[2] = {1, 1};
    RZ_ASSERT_OK(rz_decode_batch(ctx, next, one, 2));
    for (int i = 0; i < 2; i++) {
        RZ_ASSERT_OK(rz_decode(solo[i], toks[i], n[i], NULL));
        RZ_ASSERT_OK(rz_decode(solo[i], next[i], 1, NULL));
        assert_int_equal(rz_context_n_past(ctx[i]), n[i] + 1);
        const float *x = rz_get_logits(ctx[i], -1), *y = rz_get_logits(solo[i], -1);
        float worst = 0;
        for (size_t v = 0; v < V; v++)
            worst = fabsf(x[v] - y[v]) > worst ? fabsf(x[v] - y[v]) : worst;
        assert_true(worst < 1e-4f);
        rz_context_free(ctx[i]);
        rz_context_free(solo[i]);
    }
    rz_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rwkv7),        cmocka_unit_test(test_mamba2),
        cmocka_unit_test(test_gemma3_rings), cmocka_unit_test(test_gemma3_f16_cache),
        cmocka_unit_test(test_refusals),     cmocka_unit_test(test_recurrent_decode_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
