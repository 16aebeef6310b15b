/* The architectures against llama.cpp on the random-weight models of
 * ../shared/testdata/arch (README there): with an F32 KV cache, batch and
 * one-token-at-a-time logits and the greedy continuation's logits (teacher
 * forced) within the bounds on every ISA path; with an F16 cache
 * within twice llama.cpp's own F16-vs-F32 difference (both away from MoE
 * router near-ties). gpt-oss also runs with MXFP4 experts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_ref.h"

enum { MAX_TOKENS = 256 };

typedef struct arch_case {
    const char *name;
    float bound; /* max abs logit difference against the F32-KV files */
    bool hf;     /* also round-tripped through a Hugging Face directory */
} arch_case;

/* Gemma's GeGLU: llama.cpp's CPU GELU reads an f16 table. */
static const arch_case cases[] = {
    {"llama3", 1e-3f, true},   {"qwen2", 1e-3f, true},   {"qwen3", 1e-3f, true},
    {"qwen3moe", 1e-3f, true}, {"mixtral", 1e-3f, true}, {"phi3", 1e-3f, true},
    {"gemma2", 5e-3f, true},   {"gemma3", 5e-3f, true},  {"gpt-oss", 1e-3f, true},
};

/* The llama3 file's rope_freqs, as the config.json rope_scaling it comes
 * from (README: factor 8, low 1, high 4, original context 256). */
static const char llama3_rope_scaling[] =
    "{\"rope_type\":\"llama3\",\"factor\":8.0,\"low_freq_factor\":1.0,"
    "\"high_freq_factor\":4.0,\"original_max_position_embeddings\":256}";

typedef struct reference {
    int32_t prompt[MAX_TOKENS], greedy[MAX_TOKENS];
    size_t n_prompt, n_greedy;
    bool fragile[MAX_TOKENS]; /* MoE positions with a router near-tie */
} reference;

static void load_reference(const char *name, reference *r) {
    memset(r, 0, sizeof *r);
    cJSON *j = arch_json(name);
    r->n_prompt = arch_ids(cJSON_GetObjectItem(j, "prompt_ids"), r->prompt, MAX_TOKENS);
    const cJSON *f32 = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "runs"), "f32");
    r->n_greedy = arch_ids(cJSON_GetObjectItem(f32, "greedy"), r->greedy, MAX_TOKENS);
    arch_fragile(j, r->fragile, MAX_TOKENS);
    cJSON_Delete(j);
    assert_true(r->n_prompt > 0 && r->n_greedy > 0);
}

/* Largest |a - b| over rows (skipping the fragile ones), and its row. */
static float rows_diff(const float *a, const float *b, size_t rows, int32_t n_vocab, const bool *skip,
                       size_t *worst_row) {
    float m = 0.0f;
    for (size_t r = 0; r < rows; r++) {
        if (skip && skip[r]) continue;
        for (int32_t i = 0; i < n_vocab; i++) {
            const float d = fabsf(a[r * (size_t)n_vocab + (size_t)i] - b[r * (size_t)n_vocab + (size_t)i]);
            if (!(d <= m)) m = d, *worst_row = r; /* NaN counts as worst */
        }
    }
    return m;
}

static rz_context *new_context(const rz_model *model, rz_type kv, uint32_t n_batch) {
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = MAX_TOKENS;
    cp.n_batch = n_batch;
    cp.n_threads = 2;
    cp.type_k = cp.type_v = kv;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
    return ctx;
}

/* Logits of every prompt position: in one call (passes of n_batch tokens),
 * or one token per call. */
static void prompt_logits(const rz_model *model, rz_type kv, uint32_t n_batch, const reference *r,
                          bool one_by_one, float *out) {
    const int32_t n_vocab = rz_model_describe(model)->n_vocab;
    rz_context *ctx = new_context(model, kv, n_batch);
    bool want[MAX_TOKENS];
    for (size_t i = 0; i < r->n_prompt; i++)
        want[i] = true;
    if (one_by_one) {
        for (size_t i = 0; i < r->n_prompt; i++) {
            RZ_ASSERT_OK(rz_decode(ctx, &r->prompt[i], 1, NULL));
            memcpy(out + i * (size_t)n_vocab, rz_get_logits(ctx, -1), (size_t)n_vocab * sizeof(float));
        }
    } else {
        RZ_ASSERT_OK(rz_decode(ctx, r->prompt, (uint32_t)r->n_prompt, want));
        for (size_t i = 0; i < r->n_prompt; i++)
            memcpy(out + i * (size_t)n_vocab, rz_get_logits(ctx, (int32_t)i),
                   (size_t)n_vocab * sizeof(float));
    }
    rz_context_free(ctx);
}

/* The prompt (in passes of 7 tokens), then the greedy ids fed one at a
 * time: the logits each greedy step was chosen from. */
static void greedy_logits(const rz_model *model, const reference *r, float *out) {
    const int32_t n_vocab = rz_model_describe(model)->n_vocab;
    rz_context *ctx = new_context(model, RZ_TYPE_F32, 7);
    RZ_ASSERT_OK(rz_decode(ctx, r->prompt, (uint32_t)r->n_prompt, NULL));
    for (size_t k = 0; k < r->n_greedy; k++) {
        memcpy(out + k * (size_t)n_vocab, rz_get_logits(ctx, -1), (size_t)n_vocab * sizeof(float));
        if (k + 1 < r->n_greedy) RZ_ASSERT_OK(rz_decode(ctx, &r->greedy[k], 1, NULL));
    }
    rz_context_free(ctx);
}

/* The rows' largest difference against the bound (computed before the row
 * is printed). */
static void check(const char *what, const char *name, const char *isa, const float *ours, const float *ref,
                  size_t rows, int32_t n_vocab, const bool *skip, float bound) {
    size_t row = 0;
    const float diff = rows_diff(ours, ref, rows, n_vocab, skip, &row);
    printf("%-9s %-7s %-26s max abs %.3g (row %zu, bound %.3g)\n", name, isa, what, (double)diff, row,
           (double)bound);
    if (!(diff <= bound))
        fail_msg("%s %s on %s: max abs %g at row %zu > %g", name, what, isa, (double)diff, row,
                 (double)bound);
}

static void run_case(const arch_case *c) {
    char rel[128];
    snprintf(rel, sizeof rel, "testdata/arch/%s.gguf", c->name);
    if (!rz_test_shared_available(rel)) return;
    reference *r = malloc(sizeof *r);
    assert_non_null(r);
    load_reference(c->name, r);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (int p = 0; p < n_paths; p++) {
        RZ_ASSERT_OK(rz_isa_set(paths[p]));
        const char *isa = rz_isa_name(paths[p]);
        rz_model *model;
        RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(rel), NULL, &model));
        const int32_t V = rz_model_describe(model)->n_vocab;
        const size_t n = r->n_prompt, n_g = r->n_greedy;
        float *ours = malloc(n * (size_t)V * sizeof(float)),
              *ours_g = malloc(n_g * (size_t)V * sizeof(float));
        assert_non_null(ours);
        assert_non_null(ours_g);
        float *ref = arch_floats(c->name, "f32kv.logits.f32", n * (size_t)V);
        prompt_logits(model, RZ_TYPE_F32, MAX_TOKENS, r, false, ours);
        check("batch (F32 KV)", c->name, isa, ours, ref, n, V, r->fragile, c->bound);
        free(ref);
        ref = arch_floats(c->name, "f32kv.seq.logits.f32", n * (size_t)V);
        prompt_logits(model, RZ_TYPE_F32, MAX_TOKENS, r, true, ours);
        check("one by one (F32 KV)", c->name, isa, ours, ref, n, V, r->fragile, c->bound);
        /* Passes of 7 tokens: sliding-window layers keep rings of window + 6
         * positions, far fewer than the prompt's. */
        prompt_logits(model, RZ_TYPE_F32, 7, r, false, ours);
        check("passes of 7 (F32 KV)", c->name, isa, ours, ref, n, V, r->fragile, c->bound);
        free(ref);
        ref = arch_floats(c->name, "f32kv.greedy.logits.f32", n_g * (size_t)V);
        greedy_logits(model, r, ours_g);
        check("greedy, teacher forced", c->name, isa, ours_g, ref, n_g, V, NULL, c->bound);
        free(ref);
        /* llama.cpp's own F16-KV noise, away from router near-ties */
        ref = arch_floats(c->name, "logits.f32", n * (size_t)V);
        float *ref32 = arch_floats(c->name, "f32kv.logits.f32", n * (size_t)V);
        size_t row;
        const float f16_noise = rows_diff(ref, ref32, n, V, r->fragile, &row);
        prompt_logits(model, RZ_TYPE_F16, MAX_TOKENS, r, false, ours);
        check("batch (F16 KV)", c->name, isa, ours, ref, n, V, r->fragile, 2.0f * f16_noise);
        free(ref);
        free(ref32);
        free(ours);
        free(ours_g);
        rz_model_free(model);
    }
    RZ_ASSERT_OK(rz_isa_set(paths[n_paths - 1]));
    free(r);
}

/* The GGUF written as the Hugging Face directory it would come from
 * (tests/tools/gguf_to_hf.py), loaded by rz_hf_open: the same logits. */
static void run_hf_case(const arch_case *c) {
    char rel[128], dir[4096], args[8192];
    snprintf(rel, sizeof rel, "testdata/arch/%s.gguf", c->name);
    if (!c->hf || !rz_test_shared_available(rel)) return;
    snprintf(dir, sizeof dir, "%s", rz_test_temp_path(c->name));
    const bool llama3 = strcmp(c->name, "llama3") == 0;
    snprintf(args, sizeof args, "'%s' '%s'%s%s%s", rz_test_shared_path(rel), dir,
             llama3 ? " --rope-scaling '" : "", llama3 ? llama3_rope_scaling : "", llama3 ? "'" : "");
    const int status = rz_test_python("gguf_to_hf.py", args, NULL);
    if (status == 77 || status == 127) {
        print_message("%s: no python3 with numpy: HF round trip skipped\n", c->name);
        return;
    }
    assert_int_equal(status, 0);
    reference *r = malloc(sizeof *r);
    assert_non_null(r);
    load_reference(c->name, r);
    rz_model *model, *vocab;
    RZ_ASSERT_OK(rz_model_load(dir, NULL, &model));
    /* The vocabulary went along as tokenizer.json: the same ids. */
    rz_model_params vp = rz_model_default_params();
    vp.vocab_only = true;
    RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(rel), &vp, &vocab));
    static const char text[] = "Once upon a time, a fox met 3 owls.";
    int32_t ids[2][64];
    size_t n_ids[2];
    RZ_ASSERT_OK(rz_tokenize(model, text, strlen(text), true, false, ids[0], 64, &n_ids[0]));
    RZ_ASSERT_OK(rz_tokenize(vocab, text, strlen(text), true, false, ids[1], 64, &n_ids[1]));
    assert_int_equal(n_ids[0], n_ids[1]);
    assert_memory_equal(ids[0], ids[1], n_ids[0] * sizeof(int32_t));
    rz_model_free(vocab);
    const int32_t V = rz_model_describe(model)->n_vocab;
    const size_t n = r->n_prompt, n_g = r->n_greedy;
    float *ours = malloc(n * (size_t)V * sizeof(float)), *ours_g = malloc(n_g * (size_t)V * sizeof(float));
    assert_non_null(ours);
    assert_non_null(ours_g);
    const char *isa = rz_isa_name(rz_isa_active());
    float *ref = arch_floats(c->name, "f32kv.logits.f32", n * (size_t)V);
    prompt_logits(model, RZ_TYPE_F32, MAX_TOKENS, r, false, ours);
    check("HF dir: batch (F32 KV)", c->name, isa, ours, ref, n, V, r->fragile, c->bound);
    free(ref);
    ref = arch_floats(c->name, "f32kv.greedy.logits.f32", n_g * (size_t)V);
    greedy_logits(model, r, ours_g);
    check("HF dir: greedy", c->name, isa, ours_g, ref, n_g, V, NULL, c->bound);
    free(ref);
    free(ours);
    free(ours_g);
    rz_model_free(model);
    free(r);
}

static void test_arch(void **state) {
    run_case(*state);
    run_hf_case(*state);
}

/* The F32 gpt-oss file with its expert matrices quantized to MXFP4 (the
 * form the released models ship them in), or with those MXFP4 values
 * decoded back to F32; every other tensor as it is. */
static void write_mxfp4_experts(const char *in_path, const char *out_path, bool decoded) {
    rz_gguf *in;
    RZ_ASSERT_OK(rz_gguf_open(in_path, &in));
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(out_path, &w));
    char name[128];
    for (uint64_t i = 0; i < rz_gguf_kv_count(in); i++) {
        const rz_str key = rz_gguf_kv_key(in, i);
        snprintf(name, sizeof name, "%.*s", (int)key.len, key.ptr);
        RZ_ASSERT_OK(rz_gguf_writer_add_value(w, name, rz_gguf_kv_value(in, i)));
    }
    const uint64_t n = rz_gguf_tensor_count(in);
    bool *expert = calloc(n, sizeof *expert);
    assert_non_null(expert);
    for (uint64_t i = 0; i < n; i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(in, i);
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        expert[i] = strstr(name, "_exps.weight") != NULL;
        const rz_type type = expert[i] && !decoded ? RZ_TYPE_MXFP4 : t->type;
        RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, name, type, t->n_dims, t->ne));
    }
    RZ_ASSERT_OK(rz_gguf_writer_begin_data(w));
    for (uint64_t i = 0; i < n; i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(in, i);
        if (!expert[i]) {
            RZ_ASSERT_OK(rz_gguf_writer_write(w, t->data, t->size));
            continue;
        }
        uint64_t bytes;
        RZ_ASSERT_OK(rz_type_tensor_bytes(RZ_TYPE_MXFP4, t->n_elements, &bytes));
        void *q = malloc(bytes);
        float *f = malloc(t->size);
        assert_true(q && f);
        RZ_ASSERT_OK(rz_quantize(RZ_TYPE_MXFP4, t->data, q, t->n_elements));
        RZ_ASSERT_OK(rz_dequantize(RZ_TYPE_MXFP4, q, f, t->n_elements));
        RZ_ASSERT_OK(decoded ? rz_gguf_writer_write(w, f, t->size) : rz_gguf_writer_write(w, q, bytes));
        free(q);
        free(f);
    }
    RZ_ASSERT_OK(rz_gguf_writer_close(w));
    rz_gguf_close(in);
    free(expert);
}

static size_t argmax(const float *v, int32_t n) {
    size_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (v[i] > v[best]) best = (size_t)i;
    return best;
}

/* Share of the rows whose top-1 agrees. */
static double top1_agreement(const float *a, const float *b, size_t rows, int32_t n_vocab) {
    size_t agree = 0;
    for (size_t i = 0; i < rows; i++)
        agree += argmax(a + i * (size_t)n_vocab, n_vocab) == argmax(b + i * (size_t)n_vocab, n_vocab);
    return (double)agree / (double)rows;
}

/* MXFP4 experts through every ISA's kernels, against the same weights
 * decoded to F32 (F32 KV, batch): the MXFP4 mat-muls round their
 * activations to Q8_0, as llama.cpp's do, which moves most rows' logits by
 * about 0.1 (more where a router choice flips), so the top-1 must agree at
 * 90% of the positions or more. Against llama.cpp's F32 model (printed,
 * not checked) the quantization itself dominates: its 12% RMS error per
 * weight moves this random model's logits by several units. */
static void test_gpt_oss_mxfp4(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/arch/gpt-oss.gguf");
    char path[2][512];
    snprintf(path[0], sizeof path[0], "%s", rz_test_temp_path("gpt-oss-mxfp4.gguf"));
    snprintf(path[1], sizeof path[1], "%s", rz_test_temp_path("gpt-oss-mxfp4-decoded.gguf"));
    for (int k = 0; k < 2; k++)
        write_mxfp4_experts(rz_test_shared_path("testdata/arch/gpt-oss.gguf"), path[k], k == 1);
    reference *r = malloc(sizeof *r);
    assert_non_null(r);
    load_reference("gpt-oss", r);
    const size_t n = r->n_prompt;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (int p = 0; p < n_paths; p++) {
        RZ_ASSERT_OK(rz_isa_set(paths[p]));
        const char *isa = rz_isa_name(paths[p]);
        float *logits[2] = {NULL, NULL};
        int32_t V = 0;
        for (int k = 0; k < 2; k++) {
            rz_model *model;
            RZ_ASSERT_OK(rz_model_load(path[k], NULL, &model));
            V = rz_model_describe(model)->n_vocab;
            logits[k] = malloc(n * (size_t)V * sizeof(float));
            assert_non_null(logits[k]);
            prompt_logits(model, RZ_TYPE_F32, MAX_TOKENS, r, false, logits[k]);
            rz_model_free(model);
        }
        float *ref = arch_floats("gpt-oss", "f32kv.logits.f32", n * (size_t)V);
        size_t row;
        const double share = top1_agreement(logits[0], logits[1], n, V);
        printf("gpt-oss   %-7s MXFP4 experts vs decoded   top-1 agreement %.3f, max abs %.3g; vs llama.cpp "
               "F32: %.3f\n",
               isa, share, (double)rows_diff(logits[0], logits[1], n, V, NULL, &row),
               top1_agreement(logits[0], ref, n, V));
        if (!(share >= 0.9)) fail_msg("gpt-oss MXFP4 experts on %s: top-1 agreement %.3f < 0.9", isa, share);
        free(ref);
        free(logits[0]);
        free(logits[1]);
    }
    RZ_ASSERT_OK(rz_isa_set(paths[n_paths - 1]));
    free(r);

    /* As transformers stores them (_blocks and _scales, gate and up rows
     * interleaved), the MXFP4 experts come back byte for byte. */
    char dir[4096], args[8192];
    snprintf(dir, sizeof dir, "%s", rz_test_temp_path("gpt-oss-mxfp4-hf"));
    snprintf(args, sizeof args, "'%s' '%s'", path[0], dir);
    const int status = rz_test_python("gguf_to_hf.py", args, NULL);
    if (status == 77 || status == 127) return;
    assert_int_equal(status, 0);
    rz_gguf *g, *h;
    RZ_ASSERT_OK(rz_gguf_open(path[0], &g));
    RZ_ASSERT_OK(rz_hf_open(dir, &h));
    rz_test_assert_same_tensors(g, h);
    rz_gguf_close(g);
    rz_gguf_close(h);
}

/* A file of an architecture we do not run fails with one clear line. */
static void test_unsupported_arch(void **state) {
    (void)state;
    rz_model *model;
    assert_int_equal(rz_model_load(rz_test_unknown_arch_gguf(), NULL, &model), RZ_ERR_UNSUPPORTED);
    assert_non_null(strstr(rz_last_error(), "architecture 'jamba' is not supported"));
}

int main(void) {
    struct CMUnitTest tests[sizeof cases / sizeof cases[0] + 2];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tests[i] = (struct CMUnitTest){
            .name = cases[i].name, .test_func = test_arch, .initial_state = (void *)&cases[i]};
    tests[sizeof cases / sizeof cases[0]] = (struct CMUnitTest)cmocka_unit_test(test_gpt_oss_mxfp4);
    tests[sizeof cases / sizeof cases[0] + 1] = (struct CMUnitTest)cmocka_unit_test(test_unsupported_arch);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
