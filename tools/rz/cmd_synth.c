/* rz synth: write a GGUF of a real model's shape with seeded random weights. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: rz synth OUT.gguf (--preset NAME | --n-embd N --n-layer N --n-ff N --n-head N --n-head-kv N\n"
    "                          --n-vocab N) [options]\n"
    "Writes a GGUF with random weights (matrices ~ N(0, 0.02), norms ~ 1, biases ~ N(0, 0.02)) in\n"
    "llama.cpp's tensor names, shapes and keys for the architecture, and a synthetic SentencePiece\n"
    "vocabulary (<unk>, <s>, </s>, 256 byte tokens, filler pieces). Contexts above 8192 are stored\n"
    "as 8192 (recurrent models': as llama.cpp's converters write them, 2^20). Presets (embd / layers /\n"
    "ffn / heads / KV heads / vocab):\n"
    "  tiny             llama 64/2/128/4/2/512\n"
    "  tinyllama-1.1b   llama 2048/22/5632/32/4/32000\n"
    "  llama3.2-1b      llama 2048/16/8192/32/8/128256, tied, RoPE base 500000, Llama 3 rope_freqs\n"
    "                   (factor 32, original context 8192)\n"
    "  bitnet-large     bitnet 1536/24/4096/16/16/32002, tied; ternary matrices (t * s, one s per\n"
    "                   tensor), i2_s by default, f16 output\n"
    "  bitnet-2b-4t     bitnet-b1.58 2560/30/6912/20/5/128256, tied, RoPE base 500000; as above\n"
    "  qwen2.5-0.5b     qwen2 896/24/4864/14/2/151936, Q/K/V biases, tied, RoPE base 1e6\n"
    "  qwen3-1.7b       qwen3 2048/28/6144/16/8/151936, head 128, q/k norms, tied, RoPE base 1e6\n"
    "  gemma3-1b        gemma3 1152/26/6912/4/1/262144, head 256, q/k and post norms, tied, window\n"
    "                   512 on 5 of 6 layers (RoPE base 10000 there, 1e6 on the others)\n"
    "  phi3-mini        phi3 3072/32/8192/32/32/32064, fused attn_qkv and gate/up\n"
    "  qwen3-30b-a3b    qwen3moe 2048/48/6144/32/4/151936, head 128, 128 experts (8 used) of 768\n"
    "  olmoe-1b-7b      olmoe 2048/16/1024/16/16/50304, 64 experts (8 used) of 1024\n"
    "  gpt-oss-20b      gpt-oss 2880/24/2880/64/8/201088, head 64, 32 experts (4 used) of 2880 in\n"
    "                   mxfp4, biases, sinks, window 128 on even layers, YaRN factor 32 of 4096,\n"
    "                   RoPE base 150000\n"
    "  rwkv7-1.5b       rwkv7 2048/24/8192, head size 64, LoRA ranks decay 96, ICLR 96, value mix 64,\n"
    "                   gate 256, vocab 65536; LoRAs stay f16 under a quantized --type, as llama.cpp's\n"
    "                   quantize leaves them\n"
    "  mamba2-1.3b      mamba2 2048/48, d_inner 4096, d_state 128, 64 heads, 1 group, conv 4, vocab\n"
    "                   50288, tied\n"
    "  tiny-rwkv6, tiny-rwkv7, tiny-mamba, tiny-mamba2   n_embd 128, 2 layers, vocab 512 (tests)\n"
    "  The options below override single values of a preset.\n"
    "  --n-embd N           embedding size\n"
    "  --n-layer N          layers\n"
    "  --n-ff N             feed-forward size\n"
    "  --n-head N           attention heads\n"
    "  --n-head-kv N        key/value heads (grouped-query attention)\n"
    "  --head-dim N         head size, when not n_embd / n_head\n"
    "  --n-expert N         experts (of an architecture that has them)\n"
    "  --n-expert-used N    experts per token\n"
    "  --n-ff-exp N         expert feed-forward size\n"
    "  --n-vocab N          vocabulary size (at least 259)\n"
    "  --n-ctx N            training context length stored in the file (default 2048)\n"
    "  --rope-base F        RoPE frequency base (default 10000)\n"
    "  --tied               no output.weight: the output reuses token_embd\n"
    "  --type TYPE          matrices, experts included: f32, f16, bf16, q8_0, q4_0, q5_0, q4_K, q5_K,\n"
    "                       q6_K, mxfp4, tq1_0, tq2_0, i2_s (default f16); rows a K-quant cannot\n"
    "                       tile take llama.cpp's replacement (q4_K -> q5_0, q6_K -> q8_0, ...)\n"
    "  --output-type TYPE   output.weight (token_embd when tied); default: --type, f16 for a\n"
    "                       ternary --type\n"
    "  --seed N             random seed (default 0); the same options give the same file\n";

static bool parse_i32(const char *s, int32_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0 || v > INT32_MAX) return false;
    *out = (int32_t)v;
    return true;
}

int rz_cmd_synth(int argc, char **argv) {
    const char *out_path = NULL, *preset = NULL, *type_name = NULL, *output_type_name = NULL;
    int32_t embd = 0, layers = 0, ff = 0, heads = 0, heads_kv = 0, vocab = 0, n_ctx = 0, hd = 0, experts = 0,
            experts_used = 0, ff_exp = 0;
    float rope_base = 0.0f;
    bool tied = false, have_seed = false;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int32_t *dim = !strcmp(a, "--n-embd")          ? &embd
                       : !strcmp(a, "--n-layer")       ? &layers
                       : !strcmp(a, "--n-ff")          ? &ff
                       : !strcmp(a, "--n-head")        ? &heads
                       : !strcmp(a, "--n-head-kv")     ? &heads_kv
                       : !strcmp(a, "--n-vocab")       ? &vocab
                       : !strcmp(a, "--n-ctx")         ? &n_ctx
                       : !strcmp(a, "--head-dim")      ? &hd
                       : !strcmp(a, "--n-expert")      ? &experts
                       : !strcmp(a, "--n-expert-used") ? &experts_used
                       : !strcmp(a, "--n-ff-exp")      ? &ff_exp
                                                       : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--tied")) {
            tied = true;
        } else if (!v && (dim || !strcmp(a, "--preset") || !strcmp(a, "--type") ||
                          !strcmp(a, "--output-type") || !strcmp(a, "--rope-base") || !strcmp(a, "--seed"))) {
            return rz_cli_usage_error("synth", "option %s needs a value", a);
        } else if (dim) {
            if (!parse_i32(v, dim)) return rz_cli_usage_error("synth", "invalid value '%s' for %s", v, a);
            i++;
        } else if (!strcmp(a, "--preset")) {
            preset = argv[++i];
        } else if (!strcmp(a, "--type")) {
            type_name = argv[++i];
        } else if (!strcmp(a, "--output-type")) {
            output_type_name = argv[++i];
        } else if (!strcmp(a, "--rope-base")) {
            char *end;
            rope_base = strtof(v, &end);
            if (end == v || *end || !(rope_base > 0.0f))
                return rz_cli_usage_error("synth", "invalid value '%s' for %s", v, a);
            i++;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            seed = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-')
                return rz_cli_usage_error("synth", "invalid value '%s' for %s", v, a);
            have_seed = true;
            i++;
        } else if (a[0] != '-' && !out_path) {
            out_path = a;
        } else {
            return rz_cli_usage_error("synth", "unknown option or extra argument '%s' (see rz synth --help)",
                                      a);
        }
    }
    if (!out_path) return rz_cli_usage_error("synth", "no output file given (see rz synth --help)");

    rz_synth_params p;
    if (preset) {
        if (rz_synth_preset(preset, &p) != RZ_OK) return rz_cli_usage_error("synth", "%s", rz_last_error());
    } else {
        if (!embd || !layers || !ff || !heads || !heads_kv || !vocab)
            return rz_cli_usage_error("synth",
                                      "give --preset or all of --n-embd, --n-layer, --n-ff, --n-head, "
                                      "--n-head-kv and --n-vocab");
        rz_synth_preset("tiny", &p); /* defaults for what the shape options leave out */
        p.name = "synthetic";
        p.n_ctx = 2048;
    }
    if (embd) p.n_embd = embd;
    if (layers) p.n_layer = layers;
    if (ff) p.n_ff = ff;
    if (heads) p.n_head = heads;
    if (heads_kv) p.n_head_kv = heads_kv;
    if (vocab) p.n_vocab = vocab;
    if (n_ctx) p.n_ctx = n_ctx;
    if (hd) p.head_dim = hd;
    if (experts) p.n_expert = experts;
    if (experts_used) p.n_expert_used = experts_used;
    if (ff_exp) p.n_ff_exp = ff_exp;
    if (rope_base > 0.0f) p.rope_freq_base = rope_base;
    if (tied) p.tied_output = true;
    if (have_seed) p.seed = seed;
    if (type_name && rz_type_from_name(type_name, &p.type) != RZ_OK)
        return rz_cli_usage_error("synth", "unknown type '%s'", type_name);
    if (type_name) p.expert_type = p.type;
    /* A ternary type suits only the ternary matrices: the output stays F16. */
    if (type_name && p.type != RZ_TYPE_TQ1_0 && p.type != RZ_TYPE_TQ2_0 && p.type != RZ_TYPE_I2_S)
        p.output_type = p.type;
    if (output_type_name && rz_type_from_name(output_type_name, &p.output_type) != RZ_OK)
        return rz_cli_usage_error("synth", "unknown type '%s'", output_type_name);

    rz_cli_progress bar;
    rz_cli_progress_init(&bar, "synth");
    const double t0 = rz_time_seconds();
    rz_status s = rz_synth_write(&p, out_path, rz_cli_progress_update, &bar);
    rz_cli_progress_finish(&bar);
    if (s != RZ_OK) return rz_cli_fail("synth", "cannot write model");
    fprintf(stderr, "wrote %s (%s, %s weights%s%s) in %.1f s\n", out_path, p.name, rz_type_name(p.type),
            p.n_expert ? ", experts " : "", p.n_expert ? rz_type_name(p.expert_type) : "",
            rz_time_seconds() - t0);
    return 0;
}
