/* Context, sampling and generation behaviour on a small real model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

static rz_model *model;

static int load_model(void **state) {
    (void)state;
    if (!rz_test_shared_available("models/stories260K.bin")) return 0;
    char tok[4096];
    snprintf(tok, sizeof tok, "%s", rz_test_shared_path("models/tok512.bin"));
    rz_model_params mp = rz_model_default_params();
    mp.tokenizer_path = tok;
    return rz_model_load(rz_test_shared_path("models/stories260K.bin"), &mp, &model) == RZ_OK ? 0 : -1;
}

static int free_model(void **state) {
    (void)state;
    rz_model_free(model);
    return 0;
}

#define REQUIRE_MODEL()                                                                                      \
    do {                                                                                                     \
        if (!model) skip();                                                                                  \
    } while (0)

static rz_context *new_context(uint32_t n_ctx) {
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = 1;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
    return ctx;
}

typedef struct collected {
    int32_t ids[1024];
    size_t n;
    char text[8192];
    size_t text_len;
    int stop_after; /* callback returns false after this many tokens (0 = never) */
} collected;

static bool collect(void *user, int32_t token, const char *text, size_t len) {
    collected *c = user;
    if (token >= 0) c->ids[c->n++] = token;
    memcpy(c->text + c->text_len, text, len);
    c->text_len += len;
    c->text[c->text_len] = '\0';
    return c->stop_after == 0 || (int)c->n < c->stop_after;
}

static rz_generate_result generate(rz_context *ctx, const rz_sampler_params *sp, const char *prompt,
                                   const rz_generate_params *gp, collected *out) {
    int32_t ids[256];
    size_t n;
    RZ_ASSERT_OK(rz_tokenize(model, prompt, strlen(prompt), true, false, ids, 256, &n));
    rz_sampler *sampler;
    RZ_ASSERT_OK(rz_sampler_create(sp, rz_model_describe(model)->n_vocab, &sampler));
    rz_generate_result r;
    memset(out, 0, offsetof(collected, stop_after));
    RZ_ASSERT_OK(rz_generate(ctx, sampler, ids, n, gp, collect, out, &r));
    rz_sampler_free(sampler);
    return r;
}

static void test_seed_reproduces_sampling(void **state) {
    (void)state;
    REQUIRE_MODEL();
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = 1.0f;
    sp.seed = 42;
    rz_generate_params gp = {.n_predict = 60, .ignore_end_token = true};
    collected a, b, c;
    a.stop_after = b.stop_after = c.stop_after = 0;
    rz_context *ctx = new_context(256);
    generate(ctx, &sp, "Once upon a time", &gp, &a);
    rz_context_truncate(ctx, 0);
    generate(ctx, &sp, "Once upon a time", &gp, &b);
    rz_context_truncate(ctx, 0);
    sp.seed = 43;
    generate(ctx, &sp, "Once upon a time", &gp, &c);
    assert_int_equal(a.n, 60);
    assert_memory_equal(a.ids, b.ids, a.n * sizeof(int32_t));
    assert_memory_not_equal(a.ids, c.ids, a.n * sizeof(int32_t));
    rz_context_free(ctx);
}

static void test_top_k_one_is_greedy(void **state) {
    (void)state;
    REQUIRE_MODEL();
    rz_sampler_params greedy = rz_sampler_default_params(), topk = greedy;
    greedy.temperature = 0.0f;
    topk.temperature = 1.5f;
    topk.top_k = 1;
    rz_generate_params gp = {.n_predict = 40, .ignore_end_token = true};
    collected a = {0}, b = {0};
    rz_context *ctx = new_context(256);
    generate(ctx, &greedy, "Tom", &gp, &a);
    rz_context_truncate(ctx, 0);
    generate(ctx, &topk, "Tom", &gp, &b);
    assert_memory_equal(a.ids, b.ids, 40 * sizeof(int32_t));
    rz_context_free(ctx);
}

static void test_sampler_filters(void **state) {
    (void)state;
    /* Logits 0..9: token 9 is the most likely. */
    float logits[10];
    for (int i = 0; i < 10; i++)
        logits[i] = (float)i;
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.3f; /* keeps 9 (p=1x) and 8 (e^-1 = 0.37x), drops 7 (0.14x) */
    rz_sampler *s;
    RZ_ASSERT_OK(rz_sampler_create(&sp, 10, &s));
    int seen[10] = {0};
    for (int i = 0; i < 2000; i++)
        seen[rz_sampler_sample(s, logits)]++;
    for (int i = 0; i < 8; i++)
        assert_int_equal(seen[i], 0);
    assert_true(seen[8] > 300 && seen[9] > 1000);
    rz_sampler_free(s);

    /* Repetition penalty flips the winner once token 9 is in the history. */
    sp = rz_sampler_default_params();
    sp.temperature = 0.0f;
    sp.repeat_penalty = 2.0f;
    RZ_ASSERT_OK(rz_sampler_create(&sp, 10, &s));
    assert_int_equal(rz_sampler_sample(s, logits), 9);
    rz_sampler_accept(s, 9);
    assert_int_equal(rz_sampler_sample(s, logits), 8);
    rz_sampler_free(s);

    /* Presence and frequency penalties subtract from seen tokens. */
    sp.repeat_penalty = 1.0f;
    sp.frequency_penalty = 0.6f;
    RZ_ASSERT_OK(rz_sampler_create(&sp, 10, &s));
    rz_sampler_accept(s, 9);
    assert_int_equal(rz_sampler_sample(s, logits), 9); /* 9 - 0.6 > 8 */
    rz_sampler_accept(s, 9);
    assert_int_equal(rz_sampler_sample(s, logits), 8); /* 9 - 1.2 < 8 */
    rz_sampler_free(s);

    /* Top-p 0.5 keeps only the head of the distribution. */
    sp = rz_sampler_default_params();
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.min_p = 0.0f;
    sp.top_p = 0.5f; /* p(9) = 0.63 already covers it */
    RZ_ASSERT_OK(rz_sampler_create(&sp, 10, &s));
    for (int i = 0; i < 200; i++)
        assert_int_equal(rz_sampler_sample(s, logits), 9);
    rz_sampler_free(s);
}

static void test_stop_string(void **state) {
    (void)state;
    REQUIRE_MODEL();
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = 0.0f;
    rz_generate_params gp = {.n_predict = 100};
    collected full = {0}, cut = {0};
    rz_context *ctx = new_context(256);
    generate(ctx, &sp, "Once upon a time", &gp, &full);
    /* The greedy text contains "Lily"; stopping on it keeps what came before. */
    const char *hit = strstr(full.text, "Lily");
    assert_non_null(hit);
    const char *stops[] = {"Lily"};
    gp.stop_strings = stops;
    gp.n_stop_strings = 1;
    rz_context_truncate(ctx, 0);
    rz_generate_result r = generate(ctx, &sp, "Once upon a time", &gp, &cut);
    assert_int_equal(r.stop_reason, RZ_STOP_STRING);
    assert_int_equal(cut.text_len, (size_t)(hit - full.text));
    assert_memory_equal(cut.text, full.text, cut.text_len);
    rz_context_free(ctx);
}

static void test_context_full_stops_cleanly(void **state) {
    (void)state;
    REQUIRE_MODEL();
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = 0.0f;
    rz_generate_params gp = {.n_predict = -1, .ignore_end_token = true};
    collected out = {0};
    rz_context *ctx = new_context(32);
    rz_generate_result r = generate(ctx, &sp, "Once upon a time", &gp, &out);
    assert_int_equal(r.stop_reason, RZ_STOP_CONTEXT);
    assert_int_equal(rz_context_n_past(ctx), 32);
    assert_int_equal(r.n_prompt + r.n_generated, 33); /* the last token needs no position */
    int32_t one = 5;
    assert_int_equal(rz_decode(ctx, &one, 1, NULL), RZ_ERR_RANGE);
    assert_int_equal(rz_context_n_past(ctx), 32);
    rz_context_free(ctx);
}

static void test_callback_and_length_stop(void **state) {
    (void)state;
    REQUIRE_MODEL();
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = 0.0f;
    rz_generate_params gp = {.n_predict = 7, .ignore_end_token = true};
    collected out = {0};
    rz_context *ctx = new_context(128);
    rz_generate_result r = generate(ctx, &sp, "Tom", &gp, &out);
    assert_int_equal(r.stop_reason, RZ_STOP_LENGTH);
    assert_int_equal(out.n, 7);
    rz_context_truncate(ctx, 0);
    gp.n_predict = 50;
    out.stop_after = 3;
    r = generate(ctx, &sp, "Tom", &gp, &out);
    assert_int_equal(r.stop_reason, RZ_STOP_CALLBACK);
    assert_int_equal(out.n, 3);
    rz_context_free(ctx);
}

/* The pull API gives rz_generate's tokens and text step by step (a stop
 * string included), and ending early stops as the callback would. */
static void test_generation_steps(void **state) {
    (void)state;
    REQUIRE_MODEL();
    rz_sampler_params sp = rz_sampler_default_params();
    sp.seed = 11;
    const char *stops[] = {"Lily"};
    rz_generate_params gp = {.n_predict = 60, .stop_strings = stops, .n_stop_strings = 1};
    collected whole = {0}, stepped = {0};
    rz_context *ctx = new_context(256);
    const rz_generate_result expected = generate(ctx, &sp, "Once upon a time", &gp, &whole);
    int32_t ids[64];
    size_t n;
    RZ_ASSERT_OK(rz_tokenize(model, "Once upon a time", 16, true, false, ids, 64, &n));
    for (int early = 0; early < 2; early++) {
        rz_context_truncate(ctx, 0);
        rz_sampler *sampler;
        RZ_ASSERT_OK(rz_sampler_create(&sp, rz_model_describe(model)->n_vocab, &sampler));
        rz_generation *g;
        RZ_ASSERT_OK(rz_generation_begin(ctx, sampler, ids, n, &gp, &g));
        memset(&stepped, 0, offsetof(collected, stop_after));
        bool done = false;
        int steps = 0;
        while (!done && !(early && steps == 3)) {
            RZ_ASSERT_OK(rz_generation_step(g, collect, &stepped, &done));
            steps++;
        }
        rz_generate_result r;
        RZ_ASSERT_OK(rz_generation_end(g, &r));
        rz_sampler_free(sampler);
        if (early) {
            assert_int_equal(r.stop_reason, RZ_STOP_CALLBACK);
            assert_int_equal(r.n_generated, 3);
            assert_int_equal(rz_context_n_past(ctx), n + 3);
        } else {
            assert_int_equal(r.stop_reason, expected.stop_reason);
            assert_int_equal(r.n_generated, expected.n_generated);
            assert_int_equal(stepped.n, whole.n);
            assert_memory_equal(stepped.ids, whole.ids, whole.n * sizeof whole.ids[0]);
            assert_string_equal(stepped.text, whole.text);
        }
    }
    assert_int_equal(rz_generation_end(NULL, NULL), RZ_OK);
    rz_context_free(ctx);
}

static void test_independent_contexts(void **state) {
    (void)state;
    REQUIRE_MODEL();
    rz_context *a = new_context(64), *b = new_context(64);
    int32_t xs[] = {1, 403, 407, 261, 378}, ys[] = {1, 300, 301, 302};
    RZ_ASSERT_OK(rz_decode(a, xs, 3, NULL));
    RZ_ASSERT_OK(rz_decode(b, ys, 4, NULL)); /* interleaved work on the other context */
    RZ_ASSERT_OK(rz_decode(a, xs + 3, 2, NULL));
    const int32_t V = rz_model_describe(model)->n_vocab;
    float *interleaved = malloc((size_t)V * sizeof(float));
    memcpy(interleaved, rz_get_logits(a, -1), (size_t)V * sizeof(float));
    rz_context *alone = new_context(64);
    RZ_ASSERT_OK(rz_decode(alone, xs, 5, NULL));
    assert_memory_equal(interleaved, rz_get_logits(alone, -1), (size_t)V * sizeof(float));
    /* Truncation rewinds: re-decoding the tail gives the same logits again. */
    RZ_ASSERT_OK(rz_context_truncate(alone, 3));
    RZ_ASSERT_OK(rz_decode(alone, xs + 3, 2, NULL));
    assert_memory_equal(interleaved, rz_get_logits(alone, -1), (size_t)V * sizeof(float));
    assert_int_equal(rz_context_truncate(alone, 9), RZ_ERR_INVALID_ARG);
    int32_t bad = V;
    assert_int_equal(rz_decode(alone, &bad, 1, NULL), RZ_ERR_INVALID_ARG);
    assert_null(rz_get_logits(alone, 5));
    free(interleaved);
    rz_context_free(a);
    rz_context_free(b);
    rz_context_free(alone);
}

/* Continuous batching: one pass over several contexts, mixing a prompt with
 * single-token decodes, gives each context exactly its own logits. */
static void test_decode_batch_matches_single(void **state) {
    (void)state;
    REQUIRE_MODEL();
    const int32_t V = rz_model_describe(model)->n_vocab;
    const int32_t a[] = {1, 403, 407, 261, 378}, b[] = {1, 300, 301}, c[] = {1, 450};
    rz_context *solo[3] = {new_context(64), new_context(64), new_context(64)};
    rz_context *batched[3] = {new_context(64), new_context(64), new_context(64)};
    /* Context 0 already holds a prefix; 1 and 2 start empty. */
    RZ_ASSERT_OK(rz_decode(solo[0], a, 3, NULL));
    RZ_ASSERT_OK(rz_decode(batched[0], a, 3, NULL));
    RZ_ASSERT_OK(rz_decode(solo[0], a + 3, 2, NULL));
    RZ_ASSERT_OK(rz_decode(solo[1], b, 3, NULL));
    RZ_ASSERT_OK(rz_decode(solo[2], c, 2, NULL));
    const int32_t *tokens[3] = {a + 3, b, c};
    const uint32_t counts[3] = {2, 3, 2};
    RZ_ASSERT_OK(rz_decode_batch(batched, tokens, counts, 3));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rz_context_n_past(batched[i]), rz_context_n_past(solo[i]));
        assert_memory_equal(rz_get_logits(batched[i], -1), rz_get_logits(solo[i], -1),
                            (size_t)V * sizeof(float));
    }
    /* The same context twice, or one that is full, is refused untouched. */
    rz_context *twice[2] = {batched[1], batched[1]};
    assert_int_equal(rz_decode_batch(twice, tokens, counts, 2), RZ_ERR_INVALID_ARG);
    assert_int_equal(rz_context_n_past(batched[1]), 3);
    for (int i = 0; i < 3; i++) {
        rz_context_free(solo[i]);
        rz_context_free(batched[i]);
    }
}

/* Embeddings: unit length, independent of the batch split and of what the
 * context held before, and different for different texts. */
static void test_embed(void **state) {
    (void)state;
    REQUIRE_MODEL();
    const int32_t E = rz_model_describe(model)->n_embd;
    const int32_t a[] = {1, 403, 407, 261, 378, 300, 301}, b[] = {1, 300, 301};
    float *one = malloc((size_t)E * sizeof(float)), *split = malloc((size_t)E * sizeof(float));
    float *other = malloc((size_t)E * sizeof(float));
    rz_context *ctx = new_context(64);
    RZ_ASSERT_OK(rz_decode(ctx, b, 3, NULL)); /* stale cache content must not matter */
    RZ_ASSERT_OK(rz_embed(ctx, a, 7, one));
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 3; /* three forward passes */
    cp.n_threads = 1;
    rz_context *small_batch;
    RZ_ASSERT_OK(rz_context_create(model, &cp, &small_batch));
    RZ_ASSERT_OK(rz_embed(small_batch, a, 7, split));
    RZ_ASSERT_OK(rz_embed(ctx, b, 3, other));
    double norm = 0.0, diff = 0.0;
    for (int32_t i = 0; i < E; i++) {
        norm += (double)one[i] * one[i];
        assert_float_equal(one[i], split[i], 1e-5);
        diff += fabs((double)one[i] - other[i]);
    }
    assert_float_equal(norm, 1.0, 1e-5);
    assert_true(diff > 0.1);
    assert_int_equal(rz_embed(ctx, a, 0, one), RZ_ERR_INVALID_ARG);
    free(one);
    free(split);
    free(other);
    rz_context_free(ctx);
    rz_context_free(small_batch);
}

static void test_streaming_detokenizer_utf8(void **state) {
    (void)state;
    REQUIRE_MODEL();
    /* "é" is not a piece of this vocabulary: it becomes two byte tokens, and
     * the stream must hold the first byte back until the second arrives. */
    const char *text = "caf\xc3\xa9!";
    int32_t ids[32];
    size_t n;
    RZ_ASSERT_OK(rz_tokenize(model, text, strlen(text), false, false, ids, 32, &n));
    rz_detokenizer d;
    rz_detokenizer_init(&d, model);
    char out[64] = {0}, buf[64];
    size_t total = 0, len;
    for (size_t i = 0; i < n; i++) {
        RZ_ASSERT_OK(rz_detokenizer_push(&d, ids[i], buf, sizeof buf, &len));
        memcpy(out + total, buf, len);
        total += len;
        if (len > 0)
            assert_true(((unsigned char)out[total - 1] & 0xc0) != 0xc0); /* never ends mid-character */
    }
    assert_string_equal(out, " caf\xc3\xa9!");
    char whole[64];
    RZ_ASSERT_OK(rz_detokenize(model, ids, n, whole, sizeof whole, &len));
    assert_int_equal(len, strlen(" caf\xc3\xa9!"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_reproduces_sampling),
        cmocka_unit_test(test_top_k_one_is_greedy),
        cmocka_unit_test(test_sampler_filters),
        cmocka_unit_test(test_stop_string),
        cmocka_unit_test(test_context_full_stops_cleanly),
        cmocka_unit_test(test_callback_and_length_stop),
        cmocka_unit_test(test_independent_contexts),
        cmocka_unit_test(test_generation_steps),
        cmocka_unit_test(test_decode_batch_matches_single),
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_streaming_detokenizer_utf8),
    };
    return cmocka_run_group_tests(tests, load_model, free_model);
}
