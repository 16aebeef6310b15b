/* rz synth: write a Llama-shaped GGUF with seeded random weights. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: rz synth OUT.gguf (--preset NAME | --n-embd N --n-layer N --n-ff N --n-head N --n-head-kv N\n"
    "                          --n-vocab N) [options]\n"
    "Writes a GGUF with random weights (matrices ~ N(0, 0.02), norms ~ 1) and a synthetic\n"
    "SentencePiece vocabulary (<unk>, <s>, </s>, 256 byte tokens, filler pieces).\n"
    "  --preset NAME        tiny (64/2 layers/128/4/2/512), tinyllama-1.1b, llama3.2-1b (tied output,\n"
    "                       RoPE base 500000; context 8192 in the file instead of 131072);\n"
    "                       bitnet-large (bitnet: 1536/24/4096/16/16/32002, tied) and bitnet-2b-4t\n"
    "                       (bitnet-b1.58: 2560/30/6912/20/5/128256, tied, RoPE base 500000): ternary\n"
    "                       matrices (t * s, one s per tensor), i2_s by default, f16 output;\n"
    "                       the shape options below override single values\n"
    "  --n-embd N           embedding size\n"
    "  --n-layer N          layers\n"
    "  --n-ff N             feed-forward size\n"
    "  --n-head N           attention heads\n"
    "  --n-head-kv N        key/value heads (grouped-query attention)\n"
    "  --n-vocab N          vocabulary size (at least 259)\n"
    "  --n-ctx N            training context length stored in the file (default 2048)\n"
    "  --rope-base F        RoPE frequency base (default 10000)\n"
    "  --tied               no output.weight: the output reuses token_embd\n"
    "  --type TYPE          matrices: f32, f16, bf16, q8_0, q4_0, q6_K, tq1_0, tq2_0, i2_s (default f16)\n"
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
    int32_t embd = 0, layers = 0, ff = 0, heads = 0, heads_kv = 0, vocab = 0, n_ctx = 0;
    float rope_base = 0.0f;
    bool tied = false, have_seed = false;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int32_t *dim = !strcmp(a, "--n-embd")      ? &embd
                       : !strcmp(a, "--n-layer")   ? &layers
                       : !strcmp(a, "--n-ff")      ? &ff
                       : !strcmp(a, "--n-head")    ? &heads
                       : !strcmp(a, "--n-head-kv") ? &heads_kv
                       : !strcmp(a, "--n-vocab")   ? &vocab
                       : !strcmp(a, "--n-ctx")     ? &n_ctx
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
    if (rope_base > 0.0f) p.rope_freq_base = rope_base;
    if (tied) p.tied_output = true;
    if (have_seed) p.seed = seed;
    if (type_name && rz_type_from_name(type_name, &p.type) != RZ_OK)
        return rz_cli_usage_error("synth", "unknown type '%s'", type_name);
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
    fprintf(stderr, "wrote %s (%s, %s weights) in %.1f s\n", out_path, p.name, rz_type_name(p.type),
            rz_time_seconds() - t0);
    return 0;
}
