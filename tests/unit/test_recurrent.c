/* Attention-free models (RWKV 6 and 7, Mamba 1 and 2) against llama.cpp on
 * the random-weight models of ../shared/testdata/arch: batch logits, one
 * token per call, passes of 7 tokens, and the greedy continuation's logits
 * (teacher forced) within 1e-4 on every ISA path; their ids are the argmax
 * of each row. The same GGUFs written as the Hugging Face directories they
 * would come from (tests/tools/gguf_to_hf.py) give the same tensors and
 * logits through rz_hf_open. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_ref.h"

enum { MAX_TOKENS = 256 };
#define BOUND 1e-4f

static const char *const archs[] = {"rwkv6", "rwkv7", "mamba", "mamba2"};

typedef struct reference {
    int32_t prompt[MAX_TOKENS], greedy[MAX_TOKENS];
    size_t n_prompt, n_greedy;
} reference;

static void load_reference(const char *name, reference *r) {
    memset(r, 0, sizeof *r);
    cJSON *j = arch_json(name);
    r->n_prompt = arch_ids(cJSON_GetObjectItem(j, "prompt_ids"), r->prompt, MAX_TOKENS);
    const cJSON *run = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "runs"), "default");
    r->n_greedy = arch_ids(cJSON_GetObjectItem(run, "greedy"), r->greedy, MAX_TOKENS);
    cJSON_Delete(j);
    assert_true(r->n_prompt > 0 && r->n_greedy > 0);
}

static rz_context *new_context(const rz_model *model, uint32_t n_batch) {
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = MAX_TOKENS;
    cp.n_batch = n_batch;
    cp.n_threads = 2;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
    return ctx;
}

/* Every prompt position's logits: in passes of n_batch tokens, or one
 * token per call. */
static void prompt_logits(const rz_model *model, uint32_t n_batch, const reference *r, bool one_by_one,
                          float *out) {
    const size_t V = (size_t)rz_model_describe(model)->n_vocab;
    rz_context *ctx = new_context(model, n_batch);
    bool want[MAX_TOKENS];
    for (size_t i = 0; i < r->n_prompt; i++)
        want[i] = true;
    if (one_by_one) {
        for (size_t i = 0; i < r->n_prompt; i++) {
            RZ_ASSERT_OK(rz_decode(ctx, &r->prompt[i], 1, NULL));
            memcpy(out + i * V, rz_get_logits(ctx, -1), V * sizeof(float));
        }
    } else {
        RZ_ASSERT_OK(rz_decode(ctx, r->prompt, (uint32_t)r->n_prompt, want));
        for (size_t i = 0; i < r->n_prompt; i++)
            memcpy(out + i * V, rz_get_logits(ctx, (int32_t)i), V * sizeof(float));
    }
    rz_context_free(ctx);
}

/* The prompt, then the greedy ids one at a time: the logits each greedy
 * step was chosen from. */
static void greedy_logits(const rz_model *model, const reference *r, float *out) {
    const size_t V = (size_t)rz_model_describe(model)->n_vocab;
    rz_context *ctx = new_context(model, MAX_TOKENS);
    RZ_ASSERT_OK(rz_decode(ctx, r->prompt, (uint32_t)r->n_prompt, NULL));
    for (size_t k = 0; k < r->n_greedy; k++) {
        memcpy(out + k * V, rz_get_logits(ctx, -1), V * sizeof(float));
        if (k + 1 < r->n_greedy) RZ_ASSERT_OK(rz_decode(ctx, &r->greedy[k], 1, NULL));
    }
    rz_context_free(ctx);
}

static void check(const char *what, const char *name, const char *isa, const float *ours, const float *ref,
                  size_t rows, size_t V) {
    float worst = 0.0f;
    size_t worst_row = 0;
    for (size_t i = 0; i < rows * V; i++) {
        const float d = fabsf(ours[i] - ref[i]);
        if (!(d <= worst)) worst = d, worst_row = i / V; /* NaN counts as worst */
    }
    printf("%-7s %-7s %-24s max abs %.3g (row %zu, bound %.3g)\n", name, isa, what, (double)worst, worst_row,
           (double)BOUND);
    if (!(worst <= BOUND))
        fail_msg("%s %s on %s: max abs %g at row %zu", name, what, isa, (double)worst, worst_row);
}

static void test_against_llama_cpp(void **state) {
    (void)state;
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        char rel[128];
        snprintf(rel, sizeof rel, "testdata/arch/%s.gguf", archs[a]);
        if (!rz_test_shared_available(rel)) continue;
        reference r;
        load_reference(archs[a], &r);
        rz_isa paths[RZ_ISA_COUNT];
        const int n_paths = rz_test_isa_paths(paths);
        for (int p = 0; p < n_paths; p++) {
            RZ_ASSERT_OK(rz_isa_set(paths[p]));
            const char *isa = rz_isa_name(paths[p]);
            rz_model *model;
            RZ_ASSERT_OK(rz_model_load(rz_test_shared_path(rel), NULL, &model));
            const size_t V = (size_t)rz_model_describe(model)->n_vocab, n = r.n_prompt, n_g = r.n_greedy;
            float *ours = malloc(n * V * sizeof(float)), *ours_g = malloc(n_g * V * sizeof(float));
            assert_non_null(ours);
            assert_non_null(ours_g);
            float *ref = arch_floats(archs[a], "logits.f32", n * V);
            prompt_logits(model, MAX_TOKENS, &r, false, ours);
            check("batch", archs[a], isa, ours, ref, n, V);
            free(ref);
            ref = arch_floats(archs[a], "seq.logits.f32", n * V);
            prompt_logits(model, MAX_TOKENS, &r, true, ours);
            check("one by one", archs[a], isa, ours, ref, n, V);
            prompt_logits(model, 7, &r, false, ours);
            check("passes of 7", archs[a], isa, ours, ref, n, V);
            free(ref);
            ref = arch_floats(archs[a], "greedy.logits.f32", n_g * V);
            greedy_logits(model, &r, ours_g);
            check("greedy, teacher forced", archs[a], isa, ours_g, ref, n_g, V);
            for (size_t k = 0; k < n_g; k++) { /* the greedy ids: each row's argmax (ties to the lowest) */
                size_t best = 0;
                for (size_t i = 1; i < V; i++)
                    if (ours_g[k * V + i] > ours_g[k * V + best]) best = i;
                assert_int_equal(best, r.greedy[k]);
            }
            free(ref);
            free(ours);
            free(ours_g);
            rz_model_free(model);
        }
        RZ_ASSERT_OK(rz_isa_set(paths[n_paths - 1]));
    }
}

static void test_hf_round_trip(void **state) {
    (void)state;
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        char rel[128], dir[4096], args[8192];
        snprintf(rel, sizeof rel, "testdata/arch/%s.gguf", archs[a]);
        if (!rz_test_shared_available(rel)) continue;
        snprintf(dir, sizeof dir, "%s", rz_test_temp_path(archs[a]));
        snprintf(args, sizeof args, "'%s' '%s'", rz_test_shared_path(rel), dir);
        const int status = rz_test_python("gguf_to_hf.py", args, NULL);
        if (status == 77 || status == 127) {
            print_message("%s: no python3 with numpy: HF round trip skipped\n", archs[a]);
            return;
        }
        assert_int_equal(status, 0);
        rz_gguf *g, *h;
        RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path(rel), &g));
        RZ_ASSERT_OK(rz_hf_open(dir, &h));
        /* Mamba's A comes back as -exp(A_log): within a few float steps */
        rz_test_assert_close_tensors(g, h, ".ssm_a", 4e-7f);
        rz_gguf_close(g);
        rz_gguf_close(h);
        reference r;
        load_reference(archs[a], &r);
        rz_model *model;
        RZ_ASSERT_OK(rz_model_load(dir, NULL, &model));
        const size_t V = (size_t)rz_model_describe(model)->n_vocab, n = r.n_prompt, n_g = r.n_greedy;
        float *ours = malloc(n * V * sizeof(float)), *ours_g = malloc(n_g * V * sizeof(float));
        assert_non_null(ours);
        assert_non_null(ours_g);
        const char *isa = rz_isa_name(rz_isa_active());
        float *ref = arch_floats(archs[a], "logits.f32", n * V);
        prompt_logits(model, MAX_TOKENS, &r, false, ours);
        check("HF dir: batch", archs[a], isa, ours, ref, n, V);
        free(ref);
        ref = arch_floats(archs[a], "greedy.logits.f32", n_g * V);
        greedy_logits(model, &r, ours_g);
        check("HF dir: greedy", archs[a], isa, ours_g, ref, n_g, V);
        free(ref);
        free(ours);
        free(ours_g);
        rz_model_free(model);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_llama_cpp),
        cmocka_unit_test(test_hf_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
