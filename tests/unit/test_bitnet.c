/* BitNet models end to end: synthetic bitnet / bitnet-b1.58 models written
 * by rz synth's code, requantized by rz quantize's code to the ternary types
 * (lossless for ternary weights), and run on every ISA path. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "tensor/quants_ternary.h"
#include "test_support.h"

enum { N_PROMPT = 12, N_GEN = 12 };

static const rz_type ternary_types[] = {RZ_TYPE_I2_S, RZ_TYPE_TQ2_0, RZ_TYPE_TQ1_0};

static rz_synth_params tiny_bitnet(const char *arch, rz_type type) {
    rz_synth_params p;
    RZ_ASSERT_OK(rz_synth_preset("bitnet-large", &p));
    p.arch = arch;
    p.n_embd = 256;
    p.n_layer = 2;
    p.n_ff = 768;
    p.n_head = 4;
    p.n_head_kv = 2;
    p.n_vocab = 320;
    p.n_ctx = 64;
    p.type = type;
    p.seed = 7;
    return p;
}

/* rz_test_temp_path's result is overwritten by its next call: a copy per
 * use (the input model, its quantized form, that converted back). */
enum { PATH_MODEL, PATH_QUANTIZED, PATH_BACK };
static char *temp_path(const char *name, int slot) {
    static char paths[3][512];
    snprintf(paths[slot], sizeof paths[slot], "%s", rz_test_temp_path(name));
    return paths[slot];
}

static const char *write_model(const rz_synth_params *p, const char *name) {
    const char *path = temp_path(name, PATH_MODEL);
    RZ_ASSERT_OK(rz_synth_write(p, path, NULL, NULL));
    return path;
}

/* Logits after each prompt token (one batch) and the greedy ids after it. */
static void run_with(const char *path, const rz_model_params *mp, float *logits, int32_t *greedy) {
    rz_model *m;
    RZ_ASSERT_OK(rz_model_load(path, mp, &m));
    const int V = rz_model_describe(m)->n_vocab;
    rz_context_params cp = rz_context_default_params();
    cp.n_threads = 1;
    rz_context *ctx;
    RZ_ASSERT_OK(rz_context_create(m, &cp, &ctx));
    int32_t prompt[N_PROMPT];
    bool want[N_PROMPT];
    for (int i = 0; i < N_PROMPT; i++) {
        prompt[i] = 3 + (37 * i * i + 11 * i) % (V - 3);
        want[i] = true;
    }
    RZ_ASSERT_OK(rz_decode(ctx, prompt, N_PROMPT, want));
    if (logits)
        for (int i = 0; i < N_PROMPT; i++)
            memcpy(logits + (size_t)i * V, rz_get_logits(ctx, i), V * sizeof(float));
    for (int k = 0; k < N_GEN && greedy; k++) {
        const float *l = rz_get_logits(ctx, -1);
        int32_t best = 0;
        for (int i = 1; i < V; i++)
            if (l[i] > l[best]) best = i;
        greedy[k] = best;
        RZ_ASSERT_OK(rz_decode(ctx, &best, 1, NULL));
    }
    rz_context_free(ctx);
    rz_model_free(m);
}

static void run(const char *path, float *logits, int32_t *greedy) { run_with(path, NULL, logits, greedy); }

static float max_diff(const float *a, const float *b, size_t n) {
    float d = 0.0f;
    for (size_t i = 0; i < n; i++)
        d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

/* F32 model with ternary weights -> each ternary type -> F32 again: the
 * weights come back bit for bit, so the logits do too; the ternary model
 * itself differs from the F32 one only by its int8 activations. */
static void check_round_trip(const char *arch) {
    const rz_synth_params p = tiny_bitnet(arch, RZ_TYPE_F32);
    const char *f32 = write_model(&p, "bitnet-f32.gguf");
    const size_t n = (size_t)N_PROMPT * (size_t)p.n_vocab;
    float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    run(f32, ref, NULL);
    for (size_t k = 0; k < sizeof ternary_types / sizeof ternary_types[0]; k++) {
        rz_quantize_params qp;
        rz_quantize_params_init(&qp);
        qp.preset = rz_type_name(ternary_types[k]);
        const char *q = temp_path("bitnet-q.gguf", PATH_QUANTIZED),
                   *back = temp_path("bitnet-back.gguf", PATH_BACK);
        RZ_ASSERT_OK(rz_quantize_model(f32, q, &qp));
        run(q, got, NULL);
        const float d_q = max_diff(got, ref, n);
        qp.preset = "F32";
        qp.token_embedding_type = RZ_TYPE_F16; /* as in the source: the tied output's type */
        RZ_ASSERT_OK(rz_quantize_model(q, back, &qp));
        run(back, got, NULL);
        const float d_back = max_diff(got, ref, n);
        printf("%s %s: max logit diff %.3g quantized, %.3g round trip\n", arch,
               rz_type_name(ternary_types[k]), (double)d_q, (double)d_back);
        assert_true(d_back <= 1e-3f);
        assert_true(d_q <= 5e-2f);
        /* the matrices themselves came back exactly */
        rz_gguf *a, *b;
        RZ_ASSERT_OK(rz_gguf_open(f32, &a));
        RZ_ASSERT_OK(rz_gguf_open(back, &b));
        const rz_gguf_tensor *ta = rz_gguf_find_tensor(a, "blk.1.ffn_down.weight");
        const rz_gguf_tensor *tb = rz_gguf_find_tensor(b, "blk.1.ffn_down.weight");
        assert_non_null(ta);
        assert_non_null(tb);
        assert_int_equal(ta->size, tb->size);
        assert_memory_equal(ta->data, tb->data, ta->size);
        rz_gguf_close(a);
        rz_gguf_close(b);
    }
    free(ref);
    free(got);
}

static void test_round_trip_bitnet(void **state) {
    (void)state;
    check_round_trip("bitnet");
}

static void test_round_trip_b158(void **state) {
    (void)state;
    check_round_trip("bitnet-b1.58");
}

/* The same greedy tokens from every ISA path, for every ternary type. */
static void test_greedy_every_isa(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    for (size_t k = 0; k < sizeof ternary_types / sizeof ternary_types[0]; k++) {
        const rz_synth_params p = tiny_bitnet("bitnet-b1.58", ternary_types[k]);
        const char *path = write_model(&p, "bitnet-isa.gguf");
        int32_t ref[N_GEN], got[N_GEN];
        for (int i = 0; i < n_paths; i++) {
            RZ_ASSERT_OK(rz_isa_set(paths[i]));
            run(path, NULL, i == 0 ? ref : got);
            if (i > 0) assert_memory_equal(got, ref, sizeof ref);
        }
        rz_isa_set(rz_isa_best());
    }
}

/* I2_S with and without its lookup-table layout (on request, where the ISA
 * has its kernel): integer sums either way, so the same logits bit for bit. */
static void test_lut_layout_optional(void **state) {
    (void)state;
    const rz_synth_params p = tiny_bitnet("bitnet-b1.58", RZ_TYPE_I2_S);
    const char *path = write_model(&p, "bitnet-lut.gguf");
    const size_t n = (size_t)N_PROMPT * (size_t)p.n_vocab;
    float *with = malloc(n * sizeof *with), *without = malloc(n * sizeof *without);
    int32_t greedy_with[N_GEN], greedy_without[N_GEN];
    run_with(path, &(rz_model_params){.lut = true}, with, greedy_with);
    run_with(path, &(rz_model_params){0}, without, greedy_without);
    assert_memory_equal(with, without, n * sizeof *with);
    assert_memory_equal(greedy_with, greedy_without, sizeof greedy_with);
    for (int lut = 0; lut < 2; lut++) {
        rz_model *m;
        RZ_ASSERT_OK(rz_model_load(path, &(rz_model_params){.lut = lut}, &m));
        const bool repacked = lut && rz_isa_active() == RZ_ISA_AVX512;
        assert_int_equal(m->layers[0].wq.type, repacked ? RZ_TYPE_I2_TL : RZ_TYPE_I2_S);
        rz_model_free(m);
    }
    free(with);
    free(without);
}

/* TQ2_0 / TQ1_0 matrices of one scale run as I2_S where the TQ layouts
 * would be repacked (AVX-512): the same logits bit for bit as the I2_S
 * quantization of the same weights; elsewhere, and without repacking, they
 * stay as stored. */
static void test_tq_runs_as_i2_s(void **state) {
    (void)state;
    const rz_synth_params p = tiny_bitnet("bitnet-b1.58", RZ_TYPE_F32);
    const char *f32 = write_model(&p, "bitnet-f32.gguf");
    const size_t n = (size_t)N_PROMPT * (size_t)p.n_vocab;
    float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    for (size_t k = 0; k < sizeof ternary_types / sizeof ternary_types[0]; k++) {
        rz_quantize_params qp;
        rz_quantize_params_init(&qp);
        qp.preset = rz_type_name(ternary_types[k]);
        const char *q = temp_path("bitnet-q.gguf", PATH_QUANTIZED);
        RZ_ASSERT_OK(rz_quantize_model(f32, q, &qp));
        run(q, k == 0 ? ref : got, NULL);
        for (int no_repack = 0; no_repack < 2; no_repack++) {
            rz_model *m;
            RZ_ASSERT_OK(rz_model_load(q, &(rz_model_params){.no_repack = no_repack}, &m));
            const bool as_i2_s = !no_repack && rz_isa_active() == RZ_ISA_AVX512;
            assert_int_equal(m->layers[1].ffn_down.type, as_i2_s ? RZ_TYPE_I2_S : ternary_types[k]);
            rz_model_free(m);
        }
        if (k > 0 && rz_isa_active() == RZ_ISA_AVX512) assert_memory_equal(got, ref, n * sizeof *got);
    }
    free(ref);
    free(got);
}

/* The presets have exactly the reference shapes. */
/* An I2_S model written as a Hugging Face BitNetForCausalLM directory
 * (tests/tools/gguf_to_hf.py: transformers' 4-per-byte packing with a
 * weight_scale, read as BitLinear's divisor or AutoBitLinear's factor) comes
 * back as the same I2_S tensors and logits. */
static void test_hf_packed(void **state) {
    (void)state;
    const rz_synth_params p = tiny_bitnet("bitnet-b1.58", RZ_TYPE_I2_S);
    const char *path = write_model(&p, "bitnet-hf.gguf");
    static const char *const classes[] = {"autobitlinear", "bitlinear"};
    const int V = p.n_vocab;
    float *want = malloc((size_t)N_PROMPT * V * sizeof(float)),
          *got = malloc((size_t)N_PROMPT * V * sizeof(float));
    int32_t want_ids[N_GEN], got_ids[N_GEN];
    run(path, want, want_ids);
    for (size_t k = 0; k < 2; k++) {
        char dir[4096], args[8192];
        snprintf(dir, sizeof dir, "%s", temp_path(classes[k], PATH_BACK));
        snprintf(args, sizeof args, "'%s' '%s' --bitnet-linear %s", path, dir, classes[k]);
        const int status = rz_test_python("gguf_to_hf.py", args, NULL);
        if (status == 77 || status == 127) skip();
        assert_int_equal(status, 0);
        rz_gguf *g, *h;
        RZ_ASSERT_OK(rz_gguf_open(path, &g));
        RZ_ASSERT_OK(rz_hf_open(dir, &h));
        const rz_gguf_tensor *a = rz_gguf_find_tensor(g, "blk.1.ffn_down.weight"),
                             *b = rz_gguf_find_tensor(h, "blk.1.ffn_down.weight");
        assert_non_null(b);
        assert_int_equal(b->type, RZ_TYPE_I2_S);
        assert_int_equal(b->size, a->size);
        /* the codes exactly; the scale exactly when stored as is, within
         * an ulp when stored as its reciprocal */
        assert_memory_equal(b->data, a->data, a->size - 32);
        const float sa = rz_i2s_scale(a->data, (int64_t)a->n_elements),
                    sb = rz_i2s_scale(b->data, (int64_t)b->n_elements);
        assert_true(k == 0 ? sa == sb : fabsf(sa - sb) <= 1e-6f * sa);
        rz_gguf_close(g);
        rz_gguf_close(h);
        run(dir, got, got_ids);
        const float d = max_diff(want, got, (size_t)N_PROMPT * V);
        printf("%s: logits max abs %.3g\n", classes[k], (double)d);
        assert_true(k == 0 ? d == 0.0f : d <= 1e-4f);
        assert_memory_equal(got_ids, want_ids, sizeof want_ids);
    }
    free(want);
    free(got);
}

static void test_presets(void **state) {
    (void)state;
    rz_synth_params p;
    RZ_ASSERT_OK(rz_synth_preset("bitnet-large", &p));
    assert_string_equal(p.arch, "bitnet");
    assert_true(p.n_embd == 1536 && p.n_layer == 24 && p.n_ff == 4096 && p.n_head == 16 &&
                p.n_head_kv == 16 && p.n_vocab == 32002 && p.tied_output && p.type == RZ_TYPE_I2_S &&
                p.output_type == RZ_TYPE_F16);
    RZ_ASSERT_OK(rz_synth_preset("bitnet-2b-4t", &p));
    assert_string_equal(p.arch, "bitnet-b1.58");
    assert_true(p.n_embd == 2560 && p.n_layer == 30 && p.n_ff == 6912 && p.n_head == 20 && p.n_head_kv == 5 &&
                p.n_vocab == 128256 && p.tied_output && p.rope_freq_base == 500000.0f);
}

/* The lm_head (tied token_embd) may take its own type. */
static void test_output_types(void **state) {
    (void)state;
    const rz_type outputs[] = {RZ_TYPE_F16, RZ_TYPE_Q8_0, RZ_TYPE_Q6_K};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        rz_synth_params p = tiny_bitnet("bitnet", RZ_TYPE_I2_S);
        p.output_type = outputs[i];
        const char *path = write_model(&p, "bitnet-out.gguf");
        rz_model *m;
        RZ_ASSERT_OK(rz_model_load(path, NULL, &m));
        assert_int_equal(rz_model_describe(m)->output_type, outputs[i]);
        assert_true(rz_model_describe(m)->tied_output);
        rz_model_free(m);
        int32_t greedy[N_GEN];
        run(path, NULL, greedy);
    }
    /* a tensor-scaled type cannot be the (row-decoded) embedding */
    rz_synth_params p = tiny_bitnet("bitnet", RZ_TYPE_I2_S);
    p.output_type = RZ_TYPE_I2_S;
    assert_int_equal(rz_synth_write(&p, rz_test_temp_path("bitnet-bad.gguf"), NULL, NULL),
                     RZ_ERR_UNSUPPORTED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_round_trip_bitnet),
        cmocka_unit_test(test_hf_packed),
        cmocka_unit_test(test_round_trip_b158),
        cmocka_unit_test(test_greedy_every_isa),
        cmocka_unit_test(test_output_types),
        cmocka_unit_test(test_lut_layout_optional),
        cmocka_unit_test(test_tq_runs_as_i2_s),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
