/* rz_quantize_model on the architectures of ../shared/testdata/arch, to
 * Q8_0, Q4_K_M and Q4_0: the tensors take llama-quantize's types (experts
 * quantized as 3-D tensors, the router and vectors kept F32, fused QKV as
 * attn_v, 128-wide rows falling back from the 256-element K-quant blocks;
 * recurrent models' LoRAs, lerps and conv weights kept F32),
 * hold the reference quantizer's bytes of the source, and the model runs
 * close to llama.cpp's F32 logits (F32 KV cache, one batch).
 *
 * These random-weight models magnify weight rounding: F16 weights alone
 * move the logits by up to 0.04 (row std 2, median top-1 gap 0.44), Q8_0
 * rounding (also dequantized back to F32) changes 4-17% of the argmaxes,
 * and 4-bit rounding most of them. The floors below are therefore far from
 * 90% for 4 bits; a broken file or kernel scores near chance (1/512). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch_ref.h"

enum { MAX_TOKENS = 64 };

static const char *const models[] = {"llama3", "qwen2", "qwen3", "qwen3moe", "mixtral",
                                     "phi3",   "rwkv6", "rwkv7", "mamba",    "mamba2"};
static const struct {
    const char *name;
    double min_top1; /* top-1 agreement with llama.cpp's F32 logits */
} presets[] = {{"Q8_0", 0.75}, {"Q4_K_M", 0.35}, {"Q4_0", 0.15}};

/* RWKV 6's data-dependent decay, exp(-exp(.)) of a LoRA of rounded inputs,
 * magnifies 4-bit rounding further (the same on every ISA path). */
static double min_top1(const char *model, size_t preset) {
    return strcmp(model, "rwkv6") == 0 && strcmp(presets[preset].name, "Q4_0") == 0
               ? 0.1
               : presets[preset].min_top1;
}

/* Types llama-quantize picks for n_embd 128, two layers. */
static const struct {
    const char *model, *preset, *tensor;
    rz_type type;
} expected[] = {
    /* output: 128 % 256 != 0 makes it Q8_0; Q4_0's Q6_K falls back to Q8_0 */
    {"llama3", "Q4_K_M", "output.weight", RZ_TYPE_Q8_0},
    {"llama3", "Q4_0", "output.weight", RZ_TYPE_Q8_0},
    {"llama3", "Q4_K_M", "blk.0.attn_q.weight", RZ_TYPE_Q5_0},
    {"llama3", "Q4_K_M", "blk.0.ffn_down.weight", RZ_TYPE_Q4_K}, /* rows of 256 */
    {"llama3", "Q4_K_M", "blk.1.ffn_down.weight", RZ_TYPE_Q6_K},
    {"llama3", "Q4_K_M", "rope_freqs.weight", RZ_TYPE_F32},
    {"qwen2", "Q4_K_M", "token_embd.weight", RZ_TYPE_Q8_0}, /* tied: the output's rule */
    {"qwen2", "Q4_0", "token_embd.weight", RZ_TYPE_Q8_0},
    {"qwen2", "Q4_0", "blk.0.attn_q.bias", RZ_TYPE_F32},
    {"qwen3", "Q4_K_M", "blk.0.attn_output.weight", RZ_TYPE_Q4_K}, /* rows of 256 */
    {"qwen3", "Q4_K_M", "blk.0.attn_q_norm.weight", RZ_TYPE_F32},
    {"phi3", "Q4_K_M", "blk.0.attn_qkv.weight", RZ_TYPE_Q5_0}, /* Q4_K, as attn_v */
    {"phi3", "Q4_K_M", "blk.1.attn_qkv.weight", RZ_TYPE_Q8_0}, /* Q6_K, as attn_v */
    {"phi3", "Q4_K_M", "blk.0.ffn_up.weight", RZ_TYPE_Q5_0},
    /* 8 experts: attn_v and attn_k Q8_0 in every mix, attn_output Q5_K */
    {"mixtral", "Q4_0", "blk.0.attn_v.weight", RZ_TYPE_Q8_0},
    {"mixtral", "Q4_0", "blk.0.attn_k.weight", RZ_TYPE_Q8_0},
    {"mixtral", "Q4_0", "blk.0.ffn_down_exps.weight", RZ_TYPE_Q4_0},
    {"mixtral", "Q4_0", "blk.0.ffn_gate_inp.weight", RZ_TYPE_F32},
    {"mixtral", "Q4_K_M", "blk.0.attn_output.weight", RZ_TYPE_Q5_1},
    {"mixtral", "Q4_K_M", "blk.0.ffn_down_exps.weight", RZ_TYPE_Q5_0},
    {"mixtral", "Q4_K_M", "blk.1.ffn_down_exps.weight", RZ_TYPE_Q8_0},
    {"qwen3moe", "Q4_K_M", "blk.1.ffn_down_exps.weight", RZ_TYPE_Q8_0}, /* rows of 64 */
    {"qwen3moe", "Q4_K_M", "blk.1.ffn_gate_exps.weight", RZ_TYPE_Q5_0},
    {"qwen3moe", "Q8_0", "blk.1.ffn_gate_inp.weight", RZ_TYPE_F32},
    /* recurrent: LoRAs, lerps, decay and conv weights stay F32 */
    {"rwkv6", "Q8_0", "blk.0.time_mix_w1.weight", RZ_TYPE_F32},
    {"rwkv6", "Q8_0", "blk.0.time_mix_decay_w2.weight", RZ_TYPE_F32},
    {"rwkv6", "Q8_0", "blk.0.time_mix_key.weight", RZ_TYPE_Q8_0},
    {"rwkv7", "Q8_0", "blk.0.time_mix_a1.weight", RZ_TYPE_F32},
    {"rwkv7", "Q8_0", "blk.0.channel_mix_value.weight", RZ_TYPE_Q8_0},
    {"mamba", "Q8_0", "blk.0.ssm_conv1d.weight", RZ_TYPE_F32},
    {"mamba", "Q8_0", "blk.0.ssm_a", RZ_TYPE_F32},
    {"mamba", "Q8_0", "blk.0.ssm_x.weight", RZ_TYPE_Q8_0},
    {"mamba2", "Q8_0", "blk.0.ssm_in.weight", RZ_TYPE_Q8_0},
};

typedef struct reference {
    int32_t prompt[MAX_TOKENS];
    size_t n_prompt;
    bool fragile[MAX_TOKENS]; /* MoE positions with a router near-tie */
} reference;

static void load_reference(const char *name, reference *r) {
    memset(r, 0, sizeof *r);
    cJSON *j = arch_json(name);
    r->n_prompt = arch_ids(cJSON_GetObjectItem(j, "prompt_ids"), r->prompt, MAX_TOKENS);
    arch_fragile(j, r->fragile, MAX_TOKENS);
    cJSON_Delete(j);
    assert_true(r->n_prompt > 0);
}

static int argmax(const float *row, int32_t n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (row[i] > row[best]) best = i;
    return best;
}

/* Tensors per type, for the report. */
static void print_types(const char *path) {
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(path, &g));
    int count[RZ_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++)
        count[rz_gguf_tensor_at(g, i)->type]++;
    printf("   ");
    for (int t = 0; t < RZ_TYPE_COUNT; t++)
        if (count[t]) printf(" %s x%d", rz_type_name((rz_type)t), count[t]);
    printf("\n");
    rz_gguf_close(g);
}

static void check_types(const char *model, const char *preset, const char *path) {
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(path, &g));
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        if (strcmp(expected[i].model, model) != 0 || strcmp(expected[i].preset, preset) != 0) continue;
        const rz_gguf_tensor *t = rz_gguf_find_tensor(g, expected[i].tensor);
        if (!t) fail_msg("%s %s: no tensor %s", model, preset, expected[i].tensor);
        if (t->type != expected[i].type)
            fail_msg("%s %s: %s is %s, llama.cpp makes it %s", model, preset, expected[i].tensor,
                     rz_type_name(t->type), rz_type_name(expected[i].type));
    }
    rz_gguf_close(g);
}

/* Each tensor is the source's, copied, or quantized by the reference
 * quantizer block after block (experts slice after slice). */
static void check_data(const rz_gguf *in, const char *path) {
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(path, &g));
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        const rz_gguf_tensor *src = rz_gguf_find_tensor(in, name);
        assert_non_null(src);
        assert_int_equal(src->type, RZ_TYPE_F32);
        assert_int_equal(src->n_dims, t->n_dims);
        assert_memory_equal(src->ne, t->ne, sizeof t->ne);
        if (t->type == RZ_TYPE_F32) {
            assert_memory_equal(src->data, t->data, t->size);
            continue;
        }
        void *q = malloc(t->size);
        assert_non_null(q);
        RZ_ASSERT_OK(rz_quantize(t->type, src->data, q, src->n_elements));
        if (memcmp(q, t->data, t->size) != 0) fail_msg("%s: %s differs from its source", path, name);
        free(q);
    }
    rz_gguf_close(g);
}

static void run_model(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "testdata/arch/%s.gguf", name);
    if (!rz_test_shared_available(rel)) skip();
    char in_path[1024];
    snprintf(in_path, sizeof in_path, "%s", rz_test_shared_path(rel));
    reference r;
    load_reference(name, &r);
    rz_gguf *in;
    RZ_ASSERT_OK(rz_gguf_open(in_path, &in));
    /* recurrent models have no KV cache: one set of logits */
    const bool recurrent = strncmp(name, "rwkv", 4) == 0 || strncmp(name, "mamba", 5) == 0;
    snprintf(rel, sizeof rel, "testdata/arch/%s.%slogits.f32", name, recurrent ? "" : "f32kv.");
    size_t bytes;
    float *ref = rz_test_read_file(rz_test_shared_path(rel), &bytes);
    assert_non_null(ref);
    const int32_t V = (int32_t)(bytes / sizeof(float) / r.n_prompt);
    assert_int_equal(bytes, r.n_prompt * (size_t)V * sizeof(float));
    float *ours = malloc(bytes);
    assert_non_null(ours);
    bool want[MAX_TOKENS];
    for (size_t i = 0; i < r.n_prompt; i++)
        want[i] = true;
    for (size_t p = 0; p < sizeof presets / sizeof presets[0]; p++) {
        char out_name[64], out_path[1024];
        const char *preset = presets[p].name;
        snprintf(out_name, sizeof out_name, "%s.%s.gguf", name, preset);
        snprintf(out_path, sizeof out_path, "%s", rz_test_temp_path(out_name));
        rz_quantize_params qp;
        rz_quantize_params_init(&qp);
        qp.preset = preset;
        qp.n_threads = 2;
        RZ_ASSERT_OK(rz_quantize_model(in_path, out_path, &qp));
        check_types(name, preset, out_path);
        check_data(in, out_path);

        rz_model *model;
        RZ_ASSERT_OK(rz_model_load(out_path, NULL, &model));
        assert_int_equal(rz_model_describe(model)->n_vocab, V);
        rz_context_params cp = rz_context_default_params();
        cp.n_ctx = MAX_TOKENS;
        cp.n_threads = 2;
        cp.type_k = cp.type_v = RZ_TYPE_F32;
        rz_context *ctx;
        RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
        RZ_ASSERT_OK(rz_decode(ctx, r.prompt, (uint32_t)r.n_prompt, want));
        for (size_t i = 0; i < r.n_prompt; i++)
            memcpy(ours + i * (size_t)V, rz_get_logits(ctx, (int32_t)i), (size_t)V * sizeof(float));
        rz_context_free(ctx);
        rz_model_free(model);

        int agree = 0, rows = 0;
        float max_abs = 0.0f;
        for (size_t i = 0; i < r.n_prompt; i++) {
            if (r.fragile[i]) continue;
            const float *a = ours + i * (size_t)V, *b = ref + i * (size_t)V;
            rows++;
            agree += argmax(a, V) == argmax(b, V);
            for (int32_t k = 0; k < V; k++) {
                const float d = fabsf(a[k] - b[k]);
                if (!(d <= max_abs)) max_abs = d; /* NaN counts as worst */
            }
        }
        const double top1 = (double)agree / rows;
        printf("%-9s %-7s top-1 agreement %2d/%d = %.3f, max abs logit diff %.3g\n", name, preset, agree,
               rows, top1, (double)max_abs);
        print_types(out_path);
        remove(out_path);
        if (!(top1 >= min_top1(name, p)) || !isfinite(max_abs))
            fail_msg("%s %s: top-1 agreement %.3f < %.2f (max abs %g)", name, preset, top1, min_top1(name, p),
                     (double)max_abs);
    }
    rz_gguf_close(in);
    free(ours);
    free(ref);
}

/* On a trained model the presets keep the top-1 at 0.9 and more: its logits
 * have clear winners that rounding seldom overturns, unlike the random ones
 * above (on which ik_llama.cpp, given the same quantized files, agrees
 * with the F32 logits no more often than we do). stories260K is a
 * llama of width 64: the K-quant presets fall back to 32-element blocks. */
static void test_trained_model(void **state) {
    (void)state;
    static const char rel[] = "models/stories260K.gguf";
    if (!rz_test_shared_available(rel)) skip();
    static const char text[] =
        "Once upon a time, there was a little boy named Tom. Tom liked to play in the park with his red "
        "ball. "
        "One day, the ball rolled under a big tree. Tom looked and looked, but he could not find it. His mom "
        "came and helped him. They found the ball next to a small dog. The dog wanted to play too, so Tom "
        "threw the ball and the dog ran after it. Tom was very happy and said thank you to his mom.";
    enum { MAX_IDS = 256 };
    char in_path[1024];
    snprintf(in_path, sizeof in_path, "%s", rz_test_shared_path(rel));
    int32_t ids[MAX_IDS];
    size_t n_ids;
    float *logits[1 + sizeof presets / sizeof presets[0]];
    int32_t V = 0;
    for (size_t p = 0; p <= sizeof presets / sizeof presets[0]; p++) {
        char out_path[1024];
        const char *path = in_path;
        if (p > 0) {
            snprintf(out_path, sizeof out_path, "%s", rz_test_temp_path("stories260K.quant.gguf"));
            rz_quantize_params qp;
            rz_quantize_params_init(&qp);
            qp.preset = presets[p - 1].name;
            qp.n_threads = 2;
            RZ_ASSERT_OK(rz_quantize_model(in_path, out_path, &qp));
            path = out_path;
        }
        rz_model *model;
        RZ_ASSERT_OK(rz_model_load(path, NULL, &model));
        if (p == 0) {
            RZ_ASSERT_OK(rz_tokenize(model, text, strlen(text), true, false, ids, MAX_IDS, &n_ids));
            V = rz_model_describe(model)->n_vocab;
        }
        rz_context_params cp = rz_context_default_params();
        cp.n_ctx = MAX_IDS;
        cp.n_threads = 2;
        cp.type_k = cp.type_v = RZ_TYPE_F32;
        rz_context *ctx;
        RZ_ASSERT_OK(rz_context_create(model, &cp, &ctx));
        bool want[MAX_IDS];
        for (size_t i = 0; i < n_ids; i++)
            want[i] = true;
        RZ_ASSERT_OK(rz_decode(ctx, ids, (uint32_t)n_ids, want));
        logits[p] = malloc(n_ids * (size_t)V * sizeof(float));
        assert_non_null(logits[p]);
        for (size_t i = 0; i < n_ids; i++)
            memcpy(logits[p] + i * (size_t)V, rz_get_logits(ctx, (int32_t)i), (size_t)V * sizeof(float));
        rz_context_free(ctx);
        rz_model_free(model);
        if (p > 0) remove(out_path);
    }
    for (size_t p = 1; p <= sizeof presets / sizeof presets[0]; p++) {
        int agree = 0;
        for (size_t i = 0; i < n_ids; i++)
            agree += argmax(logits[p] + i * (size_t)V, V) == argmax(logits[0] + i * (size_t)V, V);
        const double top1 = (double)agree / (double)n_ids;
        printf("stories260K %-7s top-1 agreement with F32 %3d/%zu = %.3f\n", presets[p - 1].name, agree,
               n_ids, top1);
        if (!(top1 >= 0.9)) fail_msg("stories260K %s: top-1 agreement %.3f < 0.9", presets[p - 1].name, top1);
    }
    for (size_t p = 0; p <= sizeof presets / sizeof presets[0]; p++)
        free(logits[p]);
}

#define MODEL_TEST(i)                                                                                        \
    static void test_##i(void **state) {                                                                     \
        (void)state;                                                                                         \
        run_model(models[i]);                                                                                \
    }
MODEL_TEST(0)
MODEL_TEST(1)
MODEL_TEST(2)
MODEL_TEST(3)
MODEL_TEST(4)
MODEL_TEST(5)
MODEL_TEST(6)
MODEL_TEST(7)
MODEL_TEST(8)
MODEL_TEST(9)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_0),
        cmocka_unit_test(test_1),
        cmocka_unit_test(test_2),
        cmocka_unit_test(test_3),
        cmocka_unit_test(test_4),
        cmocka_unit_test(test_5),
        cmocka_unit_test(test_6),
        cmocka_unit_test(test_7),
        cmocka_unit_test(test_8),
        cmocka_unit_test(test_9),
        cmocka_unit_test(test_trained_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
