/* Speculative decoding and context shifting. Greedy speculation (a draft
 * model, a draft for a converted copy, prompt lookup) reproduces the target's
 * greedy tokens; sampled speculation draws from the target's distribution
 * (chi-square over many seeds); shifted caches equal freshly computed ones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/kv_cache.h"
#include "test_support.h"

enum { MAX_TOKENS = 512 };

typedef struct collected {
    int32_t tokens[MAX_TOKENS];
    size_t n;
} collected;

static bool collect(void *user, int32_t token, const char *text, size_t len) {
    (void)text, (void)len;
    collected *c = user;
    if (token >= 0 && c->n < MAX_TOKENS) c->tokens[c->n++] = token;
    return true;
}

/* A llama2.c checkpoint (under the shared folder unless absolute) with its tokenizer. */
static rz_model *load(const char *path, const char *tokenizer) {
    char model_path[1024], tok_path[1024];
    snprintf(model_path, sizeof model_path, "%s", path[0] == '/' ? path : rz_test_shared_path(path));
    snprintf(tok_path, sizeof tok_path, "%s", rz_test_shared_path(tokenizer));
    rz_model_params mp = rz_model_default_params();
    mp.tokenizer_path = tok_path;
    rz_model *m;
    RZ_ASSERT_OK(rz_model_load(model_path, &mp, &m));
    return m;
}

static rz_context *new_context(const rz_model *m, uint32_t n_ctx) {
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_threads = 1;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(m, &cp, &ctx));
    return ctx;
}

static size_t tokenize(const rz_model *m, const char *text, int32_t *out) {
    size_t n;
    RZ_ASSERT_OK(rz_tokenize(m, text, strlen(text), true, false, out, MAX_TOKENS, &n));
    return n;
}

/* Greedy generation of n tokens, with spec or without (NULL). */
static void greedy(const rz_model *m, const char *prompt, int32_t n, const rz_speculative_params *sp,
                   collected *out, rz_speculative_stats *stats) {
    rz_context *ctx = new_context(m, 0);
    rz_sampler_params spp = rz_sampler_default_params();
    spp.temperature = 0.0f;
    rz_sampler *sampler;
    RZ_ASSERT_OK(rz_sampler_create(&spp, rz_model_describe(m)->n_vocab, &sampler));
    rz_speculator *spec = NULL;
    if (sp) RZ_ASSERT_OK(rz_speculator_create(ctx, sp, &spec));
    int32_t tokens[MAX_TOKENS];
    const size_t n_prompt = tokenize(m, prompt, tokens);
    rz_generate_params gp = {.n_predict = n, .ignore_end_token = true, .speculator = spec};
    rz_generate_result r;
    out->n = 0;
    RZ_ASSERT_OK(rz_generate(ctx, sampler, tokens, n_prompt, &gp, collect, out, &r));
    assert_int_equal(r.n_generated, n);
    /* Every emitted token is in the cache, as without speculation. */
    assert_int_equal(rz_context_n_past(ctx), n_prompt + (size_t)n);
    if (spec) *stats = rz_speculator_stats(spec);
    rz_speculator_free(spec);
    rz_sampler_free(sampler);
    rz_context_free(ctx);
}

static void assert_same_greedy(const rz_model *target, rz_context *draft, const char *prompt, int32_t n,
                               double min_rate) {
    collected *plain = malloc(sizeof *plain), *fast = malloc(sizeof *fast);
    greedy(target, prompt, n, NULL, plain, NULL);
    rz_speculative_params sp = rz_speculative_default_params();
    sp.draft = draft;
    sp.n_draft = 5;
    rz_speculative_stats st;
    greedy(target, prompt, n, &sp, fast, &st);
    assert_int_equal(plain->n, fast->n);
    for (size_t i = 0; i < plain->n; i++)
        if (plain->tokens[i] != fast->tokens[i])
            fail_msg("token %zu: %d != %d", i, fast->tokens[i], plain->tokens[i]);
    const double rate = st.n_drafted ? (double)st.n_accepted / (double)st.n_drafted : 0.0;
    print_message("%s: %llu passes for %d tokens, acceptance %.3f\n", draft ? "draft" : "lookup",
                  (unsigned long long)st.n_target_passes, n, rate);
    assert_true(st.n_tokens >= (uint64_t)n - 1);
    assert_true(rate >= min_rate);
    free(plain);
    free(fast);
}

static void test_greedy_self_draft(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/aidreams260K.bin");
    rz_model *m = load("models/aidreams260K.bin", "models/aidreams260K-tok512.bin");
    rz_context *draft = new_context(m, 0);
    /* A model drafting for itself is always right. */
    assert_same_greedy(m, draft, "Echoes of", 100, 0.999);
    rz_context_free(draft);
    rz_model_free(m);
}

static void test_greedy_draft_for_f16_copy(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    const char *f16 = rz_test_temp_path("stories260K-f16.gguf");
    char tok[1024];
    snprintf(tok, sizeof tok, "%s", rz_test_shared_path("models/tok512.bin"));
    rz_convert_options co = {.type = RZ_TYPE_F16, .tokenizer_path = tok};
    RZ_ASSERT_OK(rz_convert_llama2c(rz_test_shared_path("models/stories260K.bin"), f16, &co));
    rz_model *target = load(f16, "models/tok512.bin");
    rz_model *dm = load("models/stories260K.bin", "models/tok512.bin");
    rz_context *draft = new_context(dm, 0);
    assert_same_greedy(target, draft, "Lily wanted to play", 150, 0.5);
    rz_context_free(draft);
    rz_model_free(dm);
    rz_model_free(target);
}

static void test_greedy_prompt_lookup(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    rz_model *m = load("models/stories260K.bin", "models/tok512.bin");
    assert_same_greedy(
        m, NULL, "The cat sat on the mat. The dog sat on the log. The cat sat on the mat. The dog", 150, 0.0);
    rz_model_free(m);
}

/* A recurrent target (rwkv.cpp's tiny RWKV 7, which repeats itself: many
 * proposals accepted, some rejected) goes back to its state before the
 * verifying pass and re-reads the accepted tokens: the same greedy output.
 * A recurrent draft is refused. */
static void test_recurrent_target(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/tiny-rwkv-7v0-834K-FP32.bin");
    rz_model *m;
    RZ_ASSERT_OK(rz_model_load(rz_test_shared_path("models/tiny-rwkv-7v0-834K-FP32.bin"), NULL, &m));
    assert_same_greedy(m, NULL, "the cat and the dog and the cat and the", 120, 0.0);
    rz_context *target = new_context(m, 0), *draft = new_context(m, 0);
    rz_speculative_params sp = rz_speculative_default_params();
    sp.draft = draft;
    rz_speculator *spec;
    assert_int_equal(rz_speculator_create(target, &sp, &spec), RZ_ERR_UNSUPPORTED);
    assert_non_null(strstr(rz_last_error(), "draft model is recurrent"));
    rz_context_free(draft);
    rz_context_free(target);
    rz_model_free(m);
}

/* Two turns in one context (the second continues the first's cache), the
 * first ending at a stop string: text, stop reasons and cache length agree
 * with and without speculation. */
static void two_turns(const rz_model *m, bool speculate, collected *out, uint32_t *n_past,
                      rz_stop_reason *reasons) {
    rz_context *ctx = new_context(m, 0);
    rz_sampler_params spp = rz_sampler_default_params();
    spp.temperature = 0.0f;
    rz_sampler *sampler;
    RZ_ASSERT_OK(rz_sampler_create(&spp, rz_model_describe(m)->n_vocab, &sampler));
    rz_speculator *spec = NULL;
    if (speculate) RZ_ASSERT_OK(rz_speculator_create(ctx, NULL, &spec));
    const char *stops[] = {"ball"};
    const char *turns[] = {
        "Once upon a time, there was a little girl named Lily. She loved to play with her ball",
        " The next day"};
    out->n = 0;
    for (int t = 0; t < 2; t++) {
        int32_t tokens[MAX_TOKENS];
        size_t n;
        RZ_ASSERT_OK(rz_tokenize(m, turns[t], strlen(turns[t]), t == 0, false, tokens, MAX_TOKENS, &n));
        rz_generate_params gp = {
            .n_predict = 60, .stop_strings = stops, .n_stop_strings = t == 0, .speculator = spec};
        rz_generate_result r;
        RZ_ASSERT_OK(rz_generate(ctx, sampler, tokens, n, &gp, collect, out, &r));
        reasons[t] = r.stop_reason;
        n_past[t] = rz_context_n_past(ctx);
    }
    rz_speculator_free(spec);
    rz_sampler_free(sampler);
    rz_context_free(ctx);
}

static void test_stops_and_turns(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    rz_model *m = load("models/stories260K.bin", "models/tok512.bin");
    collected *plain = malloc(sizeof *plain), *fast = malloc(sizeof *fast);
    uint32_t past_plain[2], past_fast[2];
    rz_stop_reason why_plain[2], why_fast[2];
    two_turns(m, false, plain, past_plain, why_plain);
    two_turns(m, true, fast, past_fast, why_fast);
    assert_int_equal(why_plain[0], RZ_STOP_STRING);
    for (int t = 0; t < 2; t++) {
        assert_int_equal(why_fast[t], why_plain[t]);
        assert_int_equal(past_fast[t], past_plain[t]);
    }
    assert_int_equal(fast->n, plain->n);
    assert_memory_equal(fast->tokens, plain->tokens, plain->n * sizeof *plain->tokens);
    free(plain);
    free(fast);
    rz_model_free(m);
}

/* Chi-square statistic of counts against probabilities, pooling bins with
 * fewer than 5 expected draws; *df gets the degrees of freedom. */
static double chi_square(const uint32_t *counts, const float *probs, int32_t n_bins, uint32_t n_draws,
                         int *df) {
    double stat = 0.0, pooled_expected = 0.0, pooled_count = 0.0;
    int bins = 0;
    for (int32_t i = 0; i < n_bins; i++) {
        const double e = (double)probs[i] * n_draws;
        if (e < 5.0) {
            pooled_expected += e;
            pooled_count += counts[i];
            if (e == 0.0 && counts[i] > 0)
                fail_msg("token %d drawn %u times with probability 0", i, counts[i]);
            continue;
        }
        stat += (counts[i] - e) * (counts[i] - e) / e;
        bins++;
    }
    if (pooled_expected >= 5.0) {
        stat += (pooled_count - pooled_expected) * (pooled_count - pooled_expected) / pooled_expected;
        bins++;
    }
    *df = bins - 1;
    return stat;
}

/* Upper 0.1% point of chi-square (Wilson-Hilferty). */
static double chi_square_critical(int df) {
    const double k = df, z = 3.09;
    const double t = 1.0 - 2.0 / (9.0 * k) + z * sqrt(2.0 / (9.0 * k));
    return k * t * t * t;
}

enum { N_SEEDS = 1500 };

/* The first token a speculative step outputs after `prompt` (its last
 * token is `last`), over many seeds, against the target's distribution. */
static void check_step_distribution(const rz_model *m, rz_context *draft, const char *prompt) {
    const int32_t n_vocab = rz_model_describe(m)->n_vocab;
    rz_context *ctx = new_context(m, 128);
    int32_t tokens[MAX_TOKENS];
    const size_t n = tokenize(m, prompt, tokens);
    RZ_ASSERT_OK(rz_decode(ctx, tokens, (uint32_t)n, NULL));
    rz_sampler_params spp = rz_sampler_default_params();
    spp.temperature = 0.9f;
    spp.top_k = 30;
    spp.min_p = 0.01f;
    rz_sampler *sampler;
    RZ_ASSERT_OK(rz_sampler_create(&spp, n_vocab, &sampler));
    float *p = malloc((size_t)n_vocab * sizeof *p);
    rz_sampler_probs(sampler, rz_get_logits(ctx, -1), p);
    rz_sampler_free(sampler);
    RZ_ASSERT_OK(rz_context_truncate(ctx, (uint32_t)n - 1));

    rz_speculative_params sp = rz_speculative_default_params();
    sp.draft = draft;
    sp.n_draft = 2;
    rz_speculator *spec;
    RZ_ASSERT_OK(rz_speculator_create(ctx, &sp, &spec));
    RZ_ASSERT_OK(rz_speculator_push(spec, tokens, n - 1));
    uint32_t *counts = calloc((size_t)n_vocab, sizeof *counts);
    for (uint32_t seed = 0; seed < N_SEEDS; seed++) {
        spp.seed = seed;
        RZ_ASSERT_OK(rz_sampler_create(&spp, n_vocab, &sampler));
        for (size_t i = 0; i + 1 < n; i++)
            rz_sampler_accept(sampler, tokens[i]);
        rz_sampler_accept(sampler, tokens[n - 1]);
        int32_t out[5];
        uint32_t n_out;
        RZ_ASSERT_OK(rz_speculator_step(spec, ctx, sampler, tokens[n - 1], 5, out, &n_out));
        counts[out[0]]++;
        RZ_ASSERT_OK(rz_context_truncate(ctx, (uint32_t)n - 1));
        rz_sampler_free(sampler);
    }
    const rz_speculative_stats st = rz_speculator_stats(spec);
    int df;
    const double stat = chi_square(counts, p, n_vocab, N_SEEDS, &df);
    print_message("%s: chi-square %.1f, %d dof (critical %.1f), acceptance %.3f\n",
                  draft ? "draft" : "lookup", stat, df, chi_square_critical(df),
                  (double)st.n_accepted / (double)(st.n_drafted ? st.n_drafted : 1));
    assert_true(df >= 3);
    assert_true(st.n_drafted > 0);
    assert_true(stat < chi_square_critical(df));
    free(counts);
    free(p);
    rz_speculator_free(spec);
    rz_context_free(ctx);
}

static void test_sampled_distribution(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    RZ_REQUIRE_SHARED("models/aidreams260K.bin");
    /* aidreams260K's vocabulary has the same size but other pieces: a poor
     * draft, so that rejections and residual draws are exercised. */
    rz_model *m = load("models/stories260K.bin", "models/tok512.bin");
    rz_model *dm = load("models/aidreams260K.bin", "models/aidreams260K-tok512.bin");
    rz_context *draft = new_context(dm, 0);
    check_step_distribution(m, draft, "Once upon a time, there was a");
    check_step_distribution(m, NULL, "Tom and Sue went to the park. Tom and Sue went to the");
    rz_context_free(draft);
    rz_model_free(dm);
    /* A Q4_0 copy: close to the target, so both acceptance branches run. */
    const char *q4 = rz_test_temp_path("stories260K-q4_0.gguf");
    char tok[1024];
    snprintf(tok, sizeof tok, "%s", rz_test_shared_path("models/tok512.bin"));
    rz_convert_options co = {.type = RZ_TYPE_Q4_0, .tokenizer_path = tok};
    RZ_ASSERT_OK(rz_convert_llama2c(rz_test_shared_path("models/stories260K.bin"), q4, &co));
    dm = load(q4, "models/tok512.bin");
    draft = new_context(dm, 128);
    check_step_distribution(m, draft, "Once upon a time, there was a");
    rz_context_free(draft);
    rz_model_free(dm);
    rz_model_free(m);
}

/* rz_sampler_sample draws from rz_sampler_probs. */
static void test_sampler_probs(void **state) {
    (void)state;
    enum { V = 64 };
    float logits[V], p[V];
    uint64_t rng = 9;
    for (int i = 0; i < V; i++)
        logits[i] = rz_test_rand_uniform(&rng, -3.0f, 3.0f);
    rz_sampler_params spp = rz_sampler_default_params();
    spp.top_k = 20;
    rz_sampler *s;
    RZ_ASSERT_OK(rz_sampler_create(&spp, V, &s));
    rz_sampler_probs(s, logits, p);
    double sum = 0;
    int nonzero = 0;
    for (int i = 0; i < V; i++)
        sum += p[i], nonzero += p[i] > 0;
    assert_true(fabs(sum - 1.0) < 1e-5);
    assert_true(nonzero > 1 && nonzero <= 20);
    uint32_t counts[V] = {0};
    for (uint32_t i = 0; i < 20000; i++)
        counts[rz_sampler_sample(s, logits)]++;
    int df;
    assert_true(chi_square(counts, p, V, 20000, &df) < chi_square_critical(df));
    rz_sampler_free(s);
    spp.temperature = 0.0f;
    RZ_ASSERT_OK(rz_sampler_create(&spp, V, &s));
    rz_sampler_probs(s, logits, p);
    assert_true(p[rz_sampler_sample(s, logits)] == 1.0f);
    rz_sampler_free(s);
}

/* Shifting a cache of keys rotated at positions j gives the keys rotated at
 * j - n_discard, for every cache type. */
static void test_kv_shift_rotation(void **state) {
    (void)state;
    enum { HD = 32, HEADS = 2, KV = HD * HEADS, N = 24, KEEP = 3, DISCARD = 8 };
    const rz_type types[] = {RZ_TYPE_F32, RZ_TYPE_F16, RZ_TYPE_BF16, RZ_TYPE_Q8_0, RZ_TYPE_Q4_0};
    const float tols[] = {1e-5f, 4e-3f, 3e-2f, 4e-2f, 0.35f};
    float freqs[HD / 2], x[N][KV], rot[KV], cs[HD], got[KV];
    for (int i = 0; i < HD / 2; i++)
        freqs[i] = powf(10000.0f, -2.0f * i / HD);
    uint64_t rng = 21;
    for (int j = 0; j < N; j++)
        for (int i = 0; i < KV; i++)
            x[j][i] = rz_test_rand_uniform(&rng, -1.0f, 1.0f);
    const rz_kv_rope rope = {
        .freqs = freqs, .n_rot = HD, .head_dim = HD, .n_heads = HEADS, .style = RZ_ROPE_NORMAL};
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        rz_kv_cache c;
        RZ_ASSERT_OK(rz_kv_cache_init(&c, types[t], types[t], N, 1, KV, HD, NULL, 1));
        for (int j = 0; j < N; j++) {
            memcpy(rot, x[j], sizeof rot);
            rz_rope_angles(cs, cs + HD / 2, freqs, HD / 2, j);
            rz_rope_apply(rot, HEADS, HD, HD, RZ_ROPE_NORMAL, cs, cs + HD / 2);
            RZ_ASSERT_OK(rz_quantize(types[t], rot, rz_kv_k_row(&c, 0, (uint32_t)j), KV));
            RZ_ASSERT_OK(rz_quantize(types[t], x[j], rz_kv_v_row(&c, 0, (uint32_t)j), KV));
        }
        RZ_ASSERT_OK(rz_kv_cache_shift(&c, KEEP, DISCARD, N, &rope));
        for (int j = 0; j < N - DISCARD; j++) {
            const int src = j < KEEP ? j : j + DISCARD;
            memcpy(rot, x[src], sizeof rot);
            rz_rope_angles(cs, cs + HD / 2, freqs, HD / 2, j);
            rz_rope_apply(rot, HEADS, HD, HD, RZ_ROPE_NORMAL, cs, cs + HD / 2);
            RZ_ASSERT_OK(rz_dequantize(types[t], rz_kv_k_row(&c, 0, (uint32_t)j), got, KV));
            for (int i = 0; i < KV; i++)
                if (fabsf(got[i] - rot[i]) > tols[t])
                    fail_msg("%s K row %d [%d]: %g != %g", rz_type_name(types[t]), j, i, got[i], rot[i]);
            RZ_ASSERT_OK(rz_dequantize(types[t], rz_kv_v_row(&c, 0, (uint32_t)j), got, KV));
            for (int i = 0; i < KV; i++)
                if (fabsf(got[i] - x[src][i]) > tols[t])
                    fail_msg("%s V row %d moved wrong", rz_type_name(types[t]), j);
        }
        assert_int_equal(rz_kv_cache_shift(&c, KEEP, N, N, &rope), RZ_ERR_INVALID_ARG);
        rz_kv_cache_free(&c);
    }
}

/* In a one-layer model keys and values depend only on the token and its
 * position, so after a shift the next logits must equal a fresh evaluation
 * of the kept tokens at their new positions. */
static void test_shift_matches_fresh(void **state) {
    (void)state;
    enum { N = 40, KEEP = 4, DISCARD = 18 };
    rz_synth_params sp;
    RZ_ASSERT_OK(rz_synth_preset("tiny", &sp));
    sp.n_layer = 1;
    sp.n_embd = 128; /* head size 32: Q8_0 caches need whole blocks */
    sp.type = RZ_TYPE_F32;
    sp.output_type = RZ_TYPE_F32;
    sp.seed = 5;
    const char *path = rz_test_temp_path("one-layer.gguf");
    RZ_ASSERT_OK(rz_synth_write(&sp, path, NULL, NULL));
    rz_model *m;
    RZ_ASSERT_OK(rz_model_load(path, NULL, &m));
    const int32_t n_vocab = rz_model_describe(m)->n_vocab;
    int32_t tokens[N + 1], kept[N + 1];
    uint64_t rng = 77;
    for (int i = 0; i <= N; i++)
        tokens[i] = (int32_t)(rz_test_rand_u64(&rng) % (uint64_t)n_vocab);
    const rz_type kinds[] = {RZ_TYPE_F32, RZ_TYPE_Q8_0};
    for (size_t t = 0; t < 2; t++) {
        rz_context_params cp = rz_context_default_params();
        cp.n_ctx = N + 1;
        cp.n_threads = 1;
        cp.type_k = cp.type_v = kinds[t];
        rz_context *shifted, *fresh;
        RZ_ASSERT_OK(rz_context_create(m, &cp, &shifted));
        RZ_ASSERT_OK(rz_context_create(m, &cp, &fresh));
        RZ_ASSERT_OK(rz_decode(shifted, tokens, N, NULL));
        RZ_ASSERT_OK(rz_context_shift(shifted, KEEP, DISCARD));
        assert_int_equal(rz_context_n_past(shifted), N - DISCARD);
        RZ_ASSERT_OK(rz_decode(shifted, &tokens[N], 1, NULL));
        size_t n_kept = 0;
        for (int i = 0; i <= N; i++)
            if (i < KEEP || i >= KEEP + DISCARD) kept[n_kept++] = tokens[i];
        RZ_ASSERT_OK(rz_decode(fresh, kept, (uint32_t)n_kept, NULL));
        const float *a = rz_get_logits(shifted, -1), *b = rz_get_logits(fresh, -1);
        float max_diff = 0.0f;
        for (int32_t i = 0; i < n_vocab; i++)
            max_diff = fmaxf(max_diff, fabsf(a[i] - b[i]));
        print_message("%s cache: shifted vs fresh logits max abs diff %g\n", rz_type_name(kinds[t]),
                      max_diff);
        assert_true(max_diff < (kinds[t] == RZ_TYPE_F32 ? 1e-4f : 5e-2f));
        rz_context_free(shifted);
        rz_context_free(fresh);
    }
    rz_model_free(m);
}

/* Generation runs past the context size with --ctx-shift and stops without. */
static void test_generate_past_context(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    rz_model *m = load("models/stories260K.bin", "models/tok512.bin");
    rz_context *ctx = new_context(m, 64);
    rz_sampler_params spp = rz_sampler_default_params();
    spp.temperature = 0.0f;
    rz_sampler *sampler;
    RZ_ASSERT_OK(rz_sampler_create(&spp, rz_model_describe(m)->n_vocab, &sampler));
    int32_t tokens[MAX_TOKENS];
    const size_t n_prompt = tokenize(m, "Once upon a time", tokens);
    rz_generate_params gp = {.n_predict = 200, .ignore_end_token = true};
    rz_generate_result r;
    RZ_ASSERT_OK(rz_generate(ctx, sampler, tokens, n_prompt, &gp, NULL, NULL, &r));
    assert_int_equal(r.stop_reason, RZ_STOP_CONTEXT);
    assert_true(r.n_generated < 64);
    /* Without speculation, with prompt lookup, with the model drafting for
     * itself (its draft context shifts along): the same tokens. */
    rz_context *draft = new_context(m, 64);
    collected *first = malloc(sizeof *first);
    for (int mode = 0; mode < 3; mode++) {
        RZ_ASSERT_OK(rz_context_truncate(ctx, 0));
        rz_sampler_reset(sampler);
        rz_speculator *spec = NULL;
        rz_speculative_params sp = rz_speculative_default_params();
        sp.draft = mode == 2 ? draft : NULL;
        if (mode > 0) RZ_ASSERT_OK(rz_speculator_create(ctx, &sp, &spec));
        gp.ctx_shift = true;
        gp.n_keep = (uint32_t)n_prompt;
        gp.speculator = spec;
        collected *out = malloc(sizeof *out);
        out->n = 0;
        RZ_ASSERT_OK(rz_generate(ctx, sampler, tokens, n_prompt, &gp, collect, out, &r));
        assert_int_equal(r.stop_reason, RZ_STOP_LENGTH);
        assert_int_equal(r.n_generated, 200);
        assert_true(rz_context_n_past(ctx) <= 64);
        /* Coherent: the model keeps producing varied text, not one token. */
        int distinct = 0;
        for (size_t i = 150; i < out->n; i++) {
            bool seen = false;
            for (size_t j = 150; j < i; j++)
                seen = seen || out->tokens[j] == out->tokens[i];
            distinct += !seen;
        }
        assert_true(distinct >= 10);
        if (mode == 0) *first = *out;
        assert_memory_equal(out->tokens, first->tokens, out->n * sizeof *out->tokens);
        free(out);
        rz_speculator_free(spec);
    }
    free(first);
    rz_context_free(draft);
    rz_sampler_free(sampler);
    rz_context_free(ctx);
    rz_model_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_self_draft),    cmocka_unit_test(test_greedy_draft_for_f16_copy),
        cmocka_unit_test(test_greedy_prompt_lookup), cmocka_unit_test(test_recurrent_target),
        cmocka_unit_test(test_stops_and_turns),      cmocka_unit_test(test_sampler_probs),
        cmocka_unit_test(test_sampled_distribution), cmocka_unit_test(test_kv_shift_rotation),
        cmocka_unit_test(test_shift_matches_fresh),  cmocka_unit_test(test_generate_past_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
