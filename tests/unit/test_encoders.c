/* The encoders (bert, nomic-bert) against llama.cpp's embeddings of the
 * random-weight models of ../shared/testdata/arch (README there): mean,
 * CLS and last pooling and the per-token outputs, unnormalized, on every
 * ISA path; the defaults (the model's pooling, unit length); the refusals;
 * and `rz embed` and the server's /v1/embeddings giving the API's vectors. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch_ref.h"

enum { MAX_TOKENS = 256 };

/* llama.cpp's CPU GELU reads an f16 table (BERT); ours is exact. */
static const float max_abs_bound = 5e-3f;
static const double min_cosine = 0.99999;

typedef struct prompt {
    int32_t ids[MAX_TOKENS];
    uint32_t n;
} prompt;

static const char *model_path(const char *name) {
    static char rel[128];
    snprintf(rel, sizeof rel, "testdata/arch/%s.gguf", name);
    return rel;
}

static void load_prompt(const char *name, prompt *p) {
    cJSON *j = arch_json(name);
    p->n = (uint32_t)arch_ids(cJSON_GetObjectItem(j, "prompt_ids"), p->ids, MAX_TOKENS);
    cJSON_Delete(j);
    assert_true(p->n > 0);
}

static double cosine(const float *a, const float *b, int32_t n) {
    double ab = 0.0, aa = 0.0, bb = 0.0;
    for (int32_t i = 0; i < n; i++)
        ab += (double)a[i] * b[i], aa += (double)a[i] * a[i], bb += (double)b[i] * b[i];
    return ab / sqrt(aa * bb);
}

/* ours against the reference, rows of E: largest |difference| and the
 * smallest cosine of a row, printed and held to the bounds. */
static void compare(const char *name, const char *isa, const char *what, const float *ours, const float *ref,
                    size_t rows, int32_t E) {
    float max_abs = 0.0f;
    double min_cos = 1.0;
    for (size_t r = 0; r < rows; r++) {
        const float *a = ours + r * (size_t)E, *b = ref + r * (size_t)E;
        for (int32_t i = 0; i < E; i++) {
            const float d = fabsf(a[i] - b[i]);
            if (!(d <= max_abs)) max_abs = d; /* NaN counts as worst */
        }
        const double c = cosine(a, b, E);
        if (!(c >= min_cos)) min_cos = c;
    }
    printf("%-10s %-7s %-6s max abs %.3g, min cosine %.9f\n", name, isa, what, (double)max_abs, min_cos);
    if (!(max_abs <= max_abs_bound) || !(min_cos >= min_cosine))
        fail_msg("%s %s on %s: max abs %g (bound %g), cosine %.9f (bound %g)", name, what, isa,
                 (double)max_abs, (double)max_abs_bound, min_cos, min_cosine);
}

static rz_context *new_context(const rz_model *model, uint32_t n_ctx, uint32_t n_batch) {
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_batch;
    cp.n_threads = 2;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
    return ctx;
}

/* `path`: the shared GGUF of `name`, or a directory standing for it. */
static void run_case(const char *name, const char *path) {
    RZ_REQUIRE_SHARED(model_path(name));
    prompt p;
    load_prompt(name, &p);
    static const struct {
        rz_pooling pooling;
        const char *what, *file;
    } poolings[] = {{RZ_POOLING_MEAN, "mean", "embd.f32"},
                    {RZ_POOLING_CLS, "cls", "embd_cls.f32"},
                    {RZ_POOLING_LAST, "last", "embd_last.f32"},
                    {RZ_POOLING_NONE, "tokens", "tok_embd.f32"}};
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    /* restored afterwards: test_server compares with an `rz serve` on the
     * path the environment chose (RZ_ISA) */
    const rz_isa active = rz_isa_active();
    for (int k = 0; k < n_paths; k++) {
        RZ_ASSERT_OK(rz_isa_set(paths[k]));
        rz_model *model;
        RZ_ASSERT_OK(rz_model_load(path ? path : rz_test_shared_path(model_path(name)), NULL, &model));
        const rz_model_desc *d = rz_model_describe(model);
        assert_true(d->encoder);
        assert_int_equal(d->pooling, RZ_POOLING_MEAN);
        const int32_t E = d->n_embd;
        /* a batch smaller than the input: an encoder takes it in one pass anyway */
        rz_context *ctx = new_context(model, MAX_TOKENS, 16);
        float *ours = malloc((size_t)p.n * (size_t)E * sizeof(float));
        assert_non_null(ours);
        for (size_t i = 0; i < sizeof poolings / sizeof poolings[0]; i++) {
            const size_t rows = poolings[i].pooling == RZ_POOLING_NONE ? p.n : 1;
            const rz_embed_params ep = {.pooling = poolings[i].pooling, .normalize = false};
            RZ_ASSERT_OK(rz_embed_ext(ctx, p.ids, p.n, &ep, ours));
            float *ref = arch_floats(name, poolings[i].file, rows * (size_t)E);
            compare(name, rz_isa_name(paths[k]), poolings[i].what, ours, ref, rows, E);
            free(ref);
        }
        /* The defaults: the model's pooling (mean), unit length. */
        float *unit = malloc((size_t)E * sizeof(float));
        assert_non_null(unit);
        const rz_embed_params mean = {.pooling = RZ_POOLING_MEAN, .normalize = false};
        RZ_ASSERT_OK(rz_embed_ext(ctx, p.ids, p.n, &mean, ours));
        RZ_ASSERT_OK(rz_embed(ctx, p.ids, p.n, unit));
        double norm = 0.0;
        for (int32_t i = 0; i < E; i++)
            norm += (double)ours[i] * ours[i];
        for (int32_t i = 0; i < E; i++)
            assert_float_equal(unit[i], ours[i] / sqrt(norm), 1e-6);
        free(unit);
        free(ours);
        rz_context_free(ctx);
        rz_model_free(model);
    }
    RZ_ASSERT_OK(rz_isa_set(active));
}

static void test_bert(void **state) {
    (void)state;
    run_case("bert", NULL);
}

/* NAME.gguf written as the Hugging Face directory it would come from
 * (BertModel, NomicBertModel, with sentence-transformers' pooling config)
 * by tests/tools/gguf_to_hf.py. */
static void run_hf_case(const char *name) {
    RZ_REQUIRE_SHARED(model_path(name));
    char dir[4096], args[8192];
    snprintf(dir, sizeof dir, "%s", rz_test_temp_path(name));
    snprintf(args, sizeof args, "'%s' '%s'", rz_test_shared_path(model_path(name)), dir);
    const int status = rz_test_python("gguf_to_hf.py", args, NULL);
    if (status == 77 || status == 127) skip();
    assert_int_equal(status, 0);
    run_case(name, dir);
}

static void test_bert_hf(void **state) {
    (void)state;
    run_hf_case("bert");
}

static void test_nomic_bert_hf(void **state) {
    (void)state;
    run_hf_case("nomic-bert");
}

static void test_nomic_bert(void **state) {
    (void)state;
    run_case("nomic-bert", NULL);
}

/* No logits from an encoder; no input longer than the context. */
static void test_refusals(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(model_path("bert"));
    rz_model *model;
    RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(model_path("bert")), NULL, &model));
    rz_context *ctx = new_context(model, 8, 0);
    const int32_t ids[9] = {3, 4, 5, 6, 7, 8, 9, 10, 11};
    assert_int_equal(rz_decode(ctx, ids, 2, NULL), RZ_ERR_UNSUPPORTED);
    assert_non_null(strstr(rz_last_error(), "'bert' is an encoder"));
    rz_context *ctxs[] = {ctx};
    const int32_t *tokens[] = {ids};
    const uint32_t n_tokens[] = {2};
    assert_int_equal(rz_decode_batch(ctxs, tokens, n_tokens, 1), RZ_ERR_UNSUPPORTED);
    float out[128];
    assert_int_equal(rz_embed(ctx, ids, 9, out), RZ_ERR_RANGE);
    RZ_ASSERT_OK(rz_embed(ctx, ids, 8, out));
    const rz_embed_params bad = {.pooling = (rz_pooling)7};
    assert_int_equal(rz_embed_ext(ctx, ids, 8, &bad, out), RZ_ERR_INVALID_ARG);
    rz_context_free(ctx);
    /* learned positions end at the training context: a longer one is capped */
    const uint32_t n_train = (uint32_t)rz_model_describe(model)->n_ctx_train;
    ctx = new_context(model, n_train + 64, 0);
    assert_int_equal(rz_context_n_ctx(ctx), n_train);
    rz_context_free(ctx);
    rz_model_free(model);
}

static char *id_list(const prompt *p, const char *sep) {
    char *s = malloc((size_t)p->n * 8 + 1);
    assert_non_null(s);
    size_t len = 0;
    for (uint32_t i = 0; i < p->n; i++)
        len += (size_t)sprintf(s + len, "%s%d", i ? sep : "", p->ids[i]);
    return s;
}

/* The values of `rz embed` output (one line of floats). */
static size_t parse_floats(const char *text, float *out, size_t cap) {
    size_t n = 0;
    char *end;
    for (const char *p = text; n < cap; p = end) {
        const float v = strtof(p, &end);
        if (end == p) break;
        out[n++] = v;
    }
    return n;
}

static void test_cli(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(model_path("bert"));
    prompt p;
    load_prompt("bert", &p);
    char *ids = id_list(&p, ",");
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "'%s' embed -m '%s' --ids %s --pooling cls --embd-normalize -1 -t 2 2>/dev/null", rz_test_cli(),
             rz_test_shared_path(model_path("bert")), ids);
    assert_int_equal(rz_test_run(cmd, &out), 0);
    float v[129];
    assert_int_equal(parse_floats(out, v, 129), 128);
    float *ref = arch_floats("bert", "embd_cls.f32", 128);
    compare("bert", "cli", "cls", v, ref, 1, 128);
    free(ref);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' embed -m '%s' --ids 1 --pooling max 2>&1", rz_test_cli(),
             rz_test_shared_path(model_path("bert")));
    assert_int_equal(rz_test_run(cmd, &out), 2);
    assert_non_null(strstr(out, "--pooling must be"));
    free(out);
    free(ids);
}

/* `rz serve` on bert: /v1/embeddings of token ids is rz_embed's vector. */
static void test_server(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(model_path("bert"));
    if (rz_test_run("command -v curl >/dev/null", NULL) != 0) skip();
    prompt p;
    load_prompt("bert", &p);
    const char *log = rz_test_temp_path("serve.log");
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' serve -m '%s' --host 127.0.0.1 --port 0 -t 2 >/dev/null 2>'%s' & echo $!",
             rz_test_cli(), rz_test_shared_path(model_path("bert")), log);
    assert_int_equal(rz_test_run(cmd, &out), 0);
    const pid_t pid = (pid_t)atoi(out);
    free(out);
    assert_true(pid > 0);
    unsigned port = 0;
    for (int tries = 0; tries < 200 && !port; tries++) { /* up to 20 s */
        char *text = rz_test_read_file(log, NULL);
        const char *at = text ? strstr(text, "listening on http://127.0.0.1:") : NULL;
        if (at) port = (unsigned)atoi(at + strlen("listening on http://127.0.0.1:"));
        free(text);
        if (!port) usleep(100000);
    }
    char *ids = id_list(&p, ",");
    if (port) {
        snprintf(cmd, sizeof cmd,
                 "curl -s -X POST http://127.0.0.1:%u/v1/embeddings -H 'content-type: application/json' "
                 "-d '{\"input\":[%s]}'",
                 port, ids);
        rz_test_run(cmd, &out);
    }
    kill(pid, SIGTERM);
    free(ids);
    if (!port) fail_msg("rz serve did not start");
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *values =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0), "embedding");
    assert_int_equal(cJSON_GetArraySize(values), 128);
    rz_model *model;
    RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(model_path("bert")), NULL, &model));
    rz_context *ctx = new_context(model, MAX_TOKENS, 0);
    float api[128];
    RZ_ASSERT_OK(rz_embed(ctx, p.ids, p.n, api));
    for (int i = 0; i < 128; i++)
        assert_float_equal(cJSON_GetArrayItem(values, i)->valuedouble, api[i], 1e-6);
    cJSON_Delete(j);
    free(out);
    rz_context_free(ctx);
    rz_model_free(model);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert),       cmocka_unit_test(test_bert_hf),
        cmocka_unit_test(test_nomic_bert), cmocka_unit_test(test_nomic_bert_hf),
        cmocka_unit_test(test_refusals),   cmocka_unit_test(test_cli),
        cmocka_unit_test(test_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
