/* rz quantize: GGUF -> GGUF with requantized weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
    "usage: rz quantize IN.gguf OUT.gguf --type TYPE [--output-type TYPE]\n"
    "                   [--token-embedding-type TYPE] [--pure]\n"
    "  --type TYPE                   preset (llama.cpp's names): the weights' type and,\n"
    "                                for the mixes, which tensors get more bits\n"
    "  --output-type TYPE            tensor type of output.weight (or the tied token_embd)\n"
    "  --token-embedding-type TYPE   tensor type of token_embd.weight\n"
    "  --pure                        the preset's base type for every weight matrix\n"
    "  -t, --threads N               threads (default: physical cores)\n"
    "Vectors, norms and the MoE router are copied as they are; rows the type\n"
    "cannot tile take llama.cpp's fallback (e.g. Q4_K -> Q5_0, Q6_K -> Q8_0).\n";

static void print_presets(FILE *out) {
    fputs("presets:", out);
    for (size_t i = 0; rz_quantize_preset_name(i); i++)
        fprintf(out, " %s", rz_quantize_preset_name(i));
    fputs(" (Q3_K, Q4_K, Q5_K mean the _M mixes)\n", out);
}

/* Tensor count and bytes per type, and the size the same tensors would
 * have in F16 (the usual unquantized download). */
static int summarize(const char *path, const char *in_path) {
    rz_gguf *out;
    if (rz_gguf_open(path, &out) != RZ_OK) return rz_cli_fail("quantize", "reading back the output");
    uint64_t count[RZ_TYPE_COUNT] = {0}, bytes[RZ_TYPE_COUNT] = {0}, total = 0, f16 = 0;
    for (uint64_t i = 0; i < rz_gguf_tensor_count(out); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(out, i);
        count[t->type]++;
        bytes[t->type] += t->size;
        total += t->size;
        f16 += t->n_elements * 2;
    }
    printf("wrote %s (from %s): %llu tensors, %llu bytes\n", path, in_path,
           (unsigned long long)rz_gguf_tensor_count(out), (unsigned long long)rz_gguf_file_size(out));
    for (int type = 0; type < RZ_TYPE_COUNT; type++)
        if (count[type])
            printf("  %-8s %5llu tensors %12llu bytes\n", rz_type_name((rz_type)type),
                   (unsigned long long)count[type], (unsigned long long)bytes[type]);
    printf("tensor data %.2f MiB, %.2f bits per weight, compression %.2fx vs F16\n",
           (double)total / 1048576.0, f16 ? 16.0 * (double)total / (double)f16 : 0.0,
           total ? (double)f16 / (double)total : 0.0);
    rz_gguf_close(out);
    return 0;
}

static int parse_type(const char *arg, const char *value, rz_type *out) {
    if (rz_type_from_name(value, out) == RZ_OK && rz_type_can_quantize(*out)) return 0;
    return rz_cli_usage_error("quantize", "%s: '%s' is not a tensor type this build can write", arg, value);
}

int rz_cmd_quantize(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    rz_quantize_params params;
    rz_quantize_params_init(&params);
    params.preset = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_text, stdout);
            print_presets(stdout);
            return 0;
        }
        if (strcmp(arg, "--pure") == 0) {
            params.pure = true;
            continue;
        }
        const bool type = strcmp(arg, "--type") == 0;
        if (strcmp(arg, "-t") == 0 || strcmp(arg, "--threads") == 0) {
            if (i + 1 == argc) return rz_cli_usage_error("quantize", "%s needs a value", arg);
            char *end;
            const long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1 || n > 1024)
                return rz_cli_usage_error("quantize", "%s: '%s' is not a thread count", arg, argv[i]);
            params.n_threads = (int32_t)n;
            continue;
        }
        const bool output = strcmp(arg, "--output-type") == 0;
        const bool embd = strcmp(arg, "--token-embedding-type") == 0;
        if (type || output || embd) {
            if (i + 1 == argc) return rz_cli_usage_error("quantize", "%s needs a value", arg);
            const char *value = argv[++i];
            if (type)
                params.preset = value;
            else if (parse_type(arg, value, output ? &params.output_type : &params.token_embedding_type))
                return 2;
        } else if (arg[0] == '-') {
            return rz_cli_usage_error("quantize", "unknown option '%s'", arg);
        } else if (n_paths < 2) {
            paths[n_paths++] = arg;
        } else {
            return rz_cli_usage_error("quantize", "unexpected argument '%s'", arg);
        }
    }
    if (n_paths != 2 || !params.preset) {
        fputs(usage_text, stderr);
        print_presets(stderr);
        return 2;
    }

    rz_cli_progress bar;
    rz_cli_progress_init(&bar, "quantizing");
    params.progress = rz_cli_progress_update;
    params.progress_user = &bar;
    rz_status s = rz_quantize_model(paths[0], paths[1], &params);
    rz_cli_progress_finish(&bar);
    if (s == RZ_ERR_NOT_FOUND) {
        print_presets(stderr);
        return rz_cli_fail("quantize", params.preset);
    }
    if (s != RZ_OK) return rz_cli_fail("quantize", paths[0]);
    return summarize(paths[1], paths[0]);
}
