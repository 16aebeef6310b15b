/* Token-exact and logit-exact agreement with reference implementations:
 * llama2.c's run.c on three trained checkpoints (directly and through our
 * GGUF conversion), and llama.cpp on the synthetic ggml-quants models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

enum { MAX_IDS = 1024 };

typedef struct golden_case {
    char prompt[512];
    int32_t prompt_ids[MAX_IDS];
    size_t n_prompt;
    int32_t generated[MAX_IDS];
    size_t n_generated;
    float *logits; /* rows of n_vocab */
    size_t n_rows;
} golden_case;

static size_t parse_ids(const char *s, int32_t *out, size_t cap) {
    size_t n = 0;
    char *end;
    for (long v = strtol(s, &end, 10); end != s && n < cap; v = strtol(s, &end, 10)) {
        out[n++] = (int32_t)v;
        s = end;
    }
    return n;
}

/* Reads NAME.txt (prompt:, prompt_ids:, generated_ids:) and NAME.logits.f32. */
static void load_case(const char *dir, const char *name, int32_t n_vocab, golden_case *c) {
    char rel[256];
    snprintf(rel, sizeof rel, "testdata/%s/%s.txt", dir, name);
    char *text = rz_test_read_file(rz_test_shared_path(rel), NULL);
    assert_non_null(text);
    memset(c, 0, sizeof *c);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "prompt:", 7) == 0)
            snprintf(c->prompt, sizeof c->prompt, "%s", line[7] == ' ' ? line + 8 : line + 7);
        else if (strncmp(line, "prompt_ids:", 11) == 0)
            c->n_prompt = parse_ids(line + 11, c->prompt_ids, MAX_IDS);
        else if (strncmp(line, "generated_ids:", 14) == 0)
            c->n_generated = parse_ids(line + 14, c->generated, MAX_IDS);
    }
    free(text);
    snprintf(rel, sizeof rel, "testdata/%s/%s.logits.f32", dir, name);
    size_t bytes;
    c->logits = rz_test_read_file(rz_test_shared_path(rel), &bytes);
    assert_non_null(c->logits);
    c->n_rows = bytes / sizeof(float) / (size_t)n_vocab;
}

static bool collect_token(void *user, int32_t token, const char *text, size_t len) {
    (void)text;
    (void)len;
    golden_case *out = user;
    if (token >= 0 && out->n_generated < MAX_IDS) out->generated[out->n_generated++] = token;
    return true;
}

/* Greedy decoding of at most n_predict tokens, end tokens included. */
static void greedy(rz_context *ctx, const int32_t *prompt, size_t n_prompt, int32_t n_predict,
                   golden_case *out) {
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = 0.0f;
    rz_sampler *sampler;
    RZ_ASSERT_OK(rz_sampler_create(&sp, rz_model_describe(rz_context_model(ctx))->n_vocab, &sampler));
    rz_generate_params gp = {.n_predict = n_predict, .ignore_end_token = true};
    rz_generate_result r;
    out->n_generated = 0;
    RZ_ASSERT_OK(rz_generate(ctx, sampler, prompt, n_prompt, &gp, collect_token, out, &r));
    rz_sampler_free(sampler);
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

/* Every check of one case against one model file, on one ISA path. */
static void check_case(const rz_model *model, const golden_case *c, bool check_tokenizer, int n_threads) {
    const int32_t V = rz_model_describe(model)->n_vocab;
    if (check_tokenizer) {
        int32_t ids[MAX_IDS];
        size_t n;
        RZ_ASSERT_OK(rz_tokenize(model, c->prompt, strlen(c->prompt), true, false, ids, MAX_IDS, &n));
        assert_int_equal(n, c->n_prompt);
        assert_memory_equal(ids, c->prompt_ids, n * sizeof *ids);
    }
    rz_context_params cp = rz_context_default_params();
    cp.n_threads = n_threads;
    /* The references stop after 256 positions, or at the model's seq_len as run.c does. */
    const uint32_t n_train = (uint32_t)rz_model_describe(model)->n_ctx_train;
    cp.n_ctx = n_train < 256 ? n_train : 256;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));

    /* Greedy continuation: exact ids. run.c stops when the model emits BOS
     * (llama2.c's sequence delimiter) or the positions run out; llama.cpp
     * would go on past BOS, so check the ids and then that BOS comes next. */
    golden_case *got = malloc(sizeof *got);
    greedy(ctx, c->prompt_ids, c->n_prompt, (int32_t)c->n_generated + 1, got);
    assert_true(got->n_generated >= c->n_generated);
    assert_memory_equal(got->generated, c->generated, c->n_generated * sizeof(int32_t));
    if (got->n_generated > c->n_generated) assert_int_equal(got->generated[c->n_generated], 1);
    free(got);

    /* Logits of every position, evaluated as one batch. */
    int32_t all[2 * MAX_IDS];
    memcpy(all, c->prompt_ids, c->n_prompt * sizeof *all);
    memcpy(all + c->n_prompt, c->generated, c->n_generated * sizeof *all);
    const size_t n_eval = c->n_rows;
    assert_true(n_eval <= c->n_prompt + c->n_generated);
    bool *want = malloc(n_eval);
    for (size_t i = 0; i < n_eval; i++)
        want[i] = true;
    RZ_ASSERT_OK(rz_context_truncate(ctx, 0));
    RZ_ASSERT_OK(rz_decode(ctx, all, (uint32_t)n_eval, want));
    float worst = 0.0f;
    for (size_t i = 0; i < n_eval; i++)
        worst =
            fmaxf(worst, max_abs_diff(rz_get_logits(ctx, (int32_t)i), c->logits + i * (size_t)V, (size_t)V));
    if (worst > 1e-4f) fail_msg("logits differ by %g (> 1e-4) on %s", worst, rz_isa_name(rz_isa_active()));

    /* One token at a time gives the same logits as the batch. */
    RZ_ASSERT_OK(rz_context_truncate(ctx, 0));
    worst = 0.0f;
    for (size_t i = 0; i < n_eval; i++) {
        RZ_ASSERT_OK(rz_decode(ctx, &all[i], 1, NULL));
        worst = fmaxf(worst, max_abs_diff(rz_get_logits(ctx, -1), c->logits + i * (size_t)V, (size_t)V));
    }
    if (worst > 1e-4f) fail_msg("sequential logits differ by %g (> 1e-4)", worst);
    free(want);
    rz_context_free(ctx);
}

typedef struct checkpoint {
    const char *model, *tokenizer, *dir;
    const char *cases[3];
} checkpoint;

static const checkpoint checkpoints[] = {
    {"models/aidreams260K.bin",
     "models/aidreams260K-tok512.bin",
     "aidreams260K",
     {"empty", "i_dreamed", "neural"}},
    {"models/stories260K.bin", "models/tok512.bin", "stories260K", {"empty", "once", "tom"}},
    {"models/babyllama-tok105-model5000.bin",
     "models/tok105.bin",
     "babyllama-tok105",
     {"empty", "once", NULL}},
};

static void run_checkpoint(const checkpoint *cp) {
    RZ_REQUIRE_SHARED(cp->model);
    char model_path[4096], tok_path[4096], gguf_path[4096];
    snprintf(model_path, sizeof model_path, "%s", rz_test_shared_path(cp->model));
    snprintf(tok_path, sizeof tok_path, "%s", rz_test_shared_path(cp->tokenizer));
    snprintf(gguf_path, sizeof gguf_path, "%s", rz_test_temp_path("golden.gguf"));
    rz_convert_options co = {.type = RZ_TYPE_F32, .tokenizer_path = tok_path};
    RZ_ASSERT_OK(rz_convert_llama2c(model_path, gguf_path, &co));

    rz_model_params mp = rz_model_default_params();
    mp.tokenizer_path = tok_path;
    rz_model *direct, *converted;
    RZ_ASSERT_OK(rz_model_load(model_path, &mp, &direct));
    RZ_ASSERT_OK(rz_model_load(gguf_path, NULL, &converted));
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (int k = 0; k < 3 && cp->cases[k]; k++) {
        golden_case c;
        load_case(cp->dir, cp->cases[k], rz_model_describe(direct)->n_vocab, &c);
        for (int p = 0; p < n_paths; p++) {
            RZ_ASSERT_OK(rz_isa_set(paths[p]));
            check_case(direct, &c, true, 1);
            check_case(converted, &c, true, 1);
        }
        free(c.logits);
    }
    rz_isa_set(rz_isa_best());
    rz_model_free(direct);
    rz_model_free(converted);
    remove(gguf_path);
}

static void test_aidreams(void **state) {
    (void)state;
    run_checkpoint(&checkpoints[0]);
}

static void test_stories(void **state) {
    (void)state;
    run_checkpoint(&checkpoints[1]);
}

static void test_babyllama(void **state) {
    (void)state;
    run_checkpoint(&checkpoints[2]);
}

/* A GGUF of stories260K written by another tool behaves like the .bin. */
static void test_stories_foreign_gguf(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.gguf");
    rz_model *model;
    RZ_ASSERT_OK(rz_model_load(rz_test_shared_path("models/stories260K.gguf"), NULL, &model));
    const char *cases[] = {"empty", "once", "tom"};
    for (size_t k = 0; k < 3; k++) {
        golden_case c;
        load_case("stories260K", cases[k], 512, &c);
        /* Also covers the thread pool: rows and heads split over 2 threads. */
        check_case(model, &c, true, 2);
        free(c.logits);
    }
    rz_model_free(model);
}

/* stories260K.bin with tok512.model as a Hugging Face directory
 * (tests/tools/llama2c_to_hf.py, `options` added); the script's status. */
static int write_stories_hf(const char *dir, const char *options) {
    char model[4096], tokenizer[4096], args[16384]; /* rz_test_shared_path reuses its buffer */
    snprintf(model, sizeof model, "%s", rz_test_shared_path("models/stories260K.bin"));
    snprintf(tokenizer, sizeof tokenizer, "%s", rz_test_shared_path("models/tok512.model"));
    snprintf(args, sizeof args, "'%s' '%s' --tokenizer-model '%s' %s", model, dir, tokenizer, options);
    return rz_test_python("llama2c_to_hf.py", args, NULL);
}

/* stories260K written as Hugging Face directories (tests/tools/llama2c_to_hf.py:
 * HF's Q/K row order; safetensors and PyTorch .bin, whole and sharded)
 * gives llama2.c's logits; its tokenizer.model gives the prompt ids. */
static void test_stories_hf(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    static const struct {
        const char *dir, *args;
    } variants[] = {
        {"hf-st", ""},
        {"hf-shards", "--shards 3"},
        {"hf-torch", "--torch"},
        {"hf-torch-shards", "--torch --shards 2"},
    };
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", rz_test_temp_path(variants[v].dir));
        const int status = write_stories_hf(dir, variants[v].args);
        if (status == 77 || status == 127) {
            print_message("%s: no python3 with numpy (and torch): skipped\n", variants[v].dir);
            continue;
        }
        assert_int_equal(status, 0);
        rz_model *model;
        RZ_ASSERT_OK(rz_model_load(dir, NULL, &model));
        assert_string_equal(rz_model_describe(model)->format, "hf");
        const char *cases[] = {"empty", "once", "tom"};
        for (size_t k = 0; k < 3; k++) {
            golden_case c;
            load_case("stories260K", cases[k], 512, &c);
            check_case(model, &c, true, 1);
            free(c.logits);
        }
        rz_model_free(model);
    }
}

/* rz convert of that directory writes stories260K.gguf's tensors, bit for bit. */
static void test_stories_hf_convert(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.gguf");
    char dir[4096], out[4096], cmd[16384];
    snprintf(dir, sizeof dir, "%s", rz_test_temp_path("hf-convert"));
    snprintf(out, sizeof out, "%s", rz_test_temp_path("hf-convert.gguf"));
    const int status = write_stories_hf(dir, "");
    if (status == 77 || status == 127) skip();
    assert_int_equal(status, 0);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' --type f32 > /dev/null", rz_test_cli(), dir, out);
    assert_int_equal(rz_test_run(cmd, NULL), 0);
    rz_gguf *want, *got;
    RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path("models/stories260K.gguf"), &want));
    RZ_ASSERT_OK(rz_gguf_open(out, &got));
    rz_test_assert_same_tensors(want, got);
    rz_gguf_close(want);
    rz_gguf_close(got);
}

/* run.c's stdout for `-t 0.0 -n 200` from BOS, byte for byte, via the CLI. */
static void test_run_stdout(void **state) {
    (void)state;
    const struct {
        const char *model, *tokenizer, *expected;
    } runs[] = {
        {"models/stories260K.bin", "models/tok512.bin", "testdata/stories260K/run_t0_n200.stdout"},
        {"models/babyllama-tok105-model5000.bin", "models/tok105.bin",
         "testdata/babyllama-tok105/run_t0_n200.stdout"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        RZ_REQUIRE_SHARED(runs[i].model);
        char cmd[8192], model[4096];
        snprintf(model, sizeof model, "%s", rz_test_shared_path(runs[i].model));
        snprintf(cmd, sizeof cmd, "%s run -m %s -z %s --temp 0 -n 200 2>/dev/null", rz_test_cli(), model,
                 rz_test_shared_path(runs[i].tokenizer));
        char *out;
        assert_int_equal(rz_test_run(cmd, &out), 0);
        size_t n;
        char *expected = rz_test_read_file(rz_test_shared_path(runs[i].expected), &n);
        assert_non_null(expected);
        assert_string_equal(out, expected);
        free(out);
        free(expected);
    }
}

/* Quantized conversions against the F32 reference logits over the golden
 * sequences: top-1 agreement and logit error (figures printed; bounds are
 * loose multiples of what was measured, to catch a broken format, not noise). */
typedef struct quality_bound {
    rz_type type;
    double min_top1, max_mean_abs;
} quality_bound;

static void quantized_quality(const checkpoint *cp, const quality_bound *bound) {
    RZ_REQUIRE_SHARED(cp->model);
    char model_path[4096], tok_path[4096], gguf_path[4096];
    snprintf(model_path, sizeof model_path, "%s", rz_test_shared_path(cp->model));
    snprintf(tok_path, sizeof tok_path, "%s", rz_test_shared_path(cp->tokenizer));
    snprintf(gguf_path, sizeof gguf_path, "%s", rz_test_temp_path("quantized.gguf"));
    rz_convert_options co = {.type = bound->type, .tokenizer_path = tok_path};
    RZ_ASSERT_OK(rz_convert_llama2c(model_path, gguf_path, &co));
    rz_model *model;
    RZ_ASSERT_OK(rz_model_load(gguf_path, NULL, &model));
    const int32_t V = rz_model_describe(model)->n_vocab;
    size_t agree = 0, rows = 0;
    double sum_abs = 0.0;
    float max_abs = 0.0f;
    for (int k = 0; k < 3 && cp->cases[k]; k++) {
        golden_case c;
        load_case(cp->dir, cp->cases[k], V, &c);
        int32_t all[2 * MAX_IDS];
        memcpy(all, c.prompt_ids, c.n_prompt * sizeof *all);
        memcpy(all + c.n_prompt, c.generated, c.n_generated * sizeof *all);
        rz_context_params ctx_params = rz_context_default_params();
        ctx_params.n_threads = 1;
        rz_context *ctx;
        RZ_ASSERT_OK(rz_context_create(model, &ctx_params, &ctx));
        bool *want = malloc(c.n_rows);
        memset(want, 1, c.n_rows);
        RZ_ASSERT_OK(rz_decode(ctx, all, (uint32_t)c.n_rows, want));
        for (size_t i = 0; i < c.n_rows; i++) {
            const float *got = rz_get_logits(ctx, (int32_t)i), *ref = c.logits + i * (size_t)V;
            int32_t got_top = 0, ref_top = 0;
            for (int32_t v = 0; v < V; v++) {
                const float d = fabsf(got[v] - ref[v]);
                sum_abs += d;
                max_abs = fmaxf(max_abs, d);
                if (got[v] > got[got_top]) got_top = v;
                if (ref[v] > ref[ref_top]) ref_top = v;
            }
            agree += got_top == ref_top;
            rows++;
        }
        free(want);
        rz_context_free(ctx);
        free(c.logits);
    }
    const double top1 = (double)agree / (double)rows, mean_abs = sum_abs / ((double)rows * V);
    printf("%s %s: top-1 agreement %.4f (%zu/%zu), logits max abs %.4f, mean abs %.5f\n", cp->dir,
           rz_type_name(bound->type), top1, agree, rows, max_abs, mean_abs);
    if (top1 < bound->min_top1 || mean_abs > bound->max_mean_abs)
        fail_msg("%s %s: top-1 %.4f (min %.2f), mean abs %.5f (max %.3f)", cp->dir, rz_type_name(bound->type),
                 top1, bound->min_top1, mean_abs, bound->max_mean_abs);
    rz_model_free(model);
    remove(gguf_path);
}

static void test_quantized_conversions(void **state) {
    (void)state;
    const quality_bound bounds[] = {
        {RZ_TYPE_F16, 0.99, 0.01},
        {RZ_TYPE_Q8_0, 0.95, 0.2},
        {RZ_TYPE_Q4_0, 0.75, 1.5},
    };
    for (size_t m = 0; m < sizeof checkpoints / sizeof checkpoints[0]; m++)
        for (size_t b = 0; b < sizeof bounds / sizeof bounds[0]; b++)
            quantized_quality(&checkpoints[m], &bounds[b]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aidreams),   cmocka_unit_test(test_stories),
        cmocka_unit_test(test_babyllama),  cmocka_unit_test(test_stories_foreign_gguf),
        cmocka_unit_test(test_run_stdout), cmocka_unit_test(test_quantized_conversions),
        cmocka_unit_test(test_stories_hf), cmocka_unit_test(test_stories_hf_convert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
