/* rz convert: llama2.c checkpoint, Hugging Face directory or rwkv.cpp file
 * -> GGUF. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
    "usage: rz convert MODEL.bin OUT.gguf [-z TOKENIZER.bin] [--type TYPE]\n"
    "       rz convert HF_DIR|RWKV_CPP.bin OUT.gguf [--type TYPE]\n"
    "  -z, --tokenizer FILE  llama2.c tokenizer.bin to embed as the vocabulary\n"
    "  -t, --type TYPE       type of the weight matrices: f32 (default), f16, bf16,\n"
    "                        q8_0 or q4_0 (a directory or rwkv.cpp file: any\n"
    "                        rz quantize preset);\n"
    "                        norms stay f32\n";

/* A Hugging Face directory or rwkv.cpp file goes through the quantizer,
 * which reads it as the GGUF it stands for and streams it out tensor by
 * tensor. */
static rz_status convert_hf(const char *dir, const char *out, const char *type, rz_cli_progress *bar) {
    rz_quantize_params params;
    rz_quantize_params_init(&params);
    params.preset = type;
    params.progress = rz_cli_progress_update;
    params.progress_user = bar;
    return rz_quantize_model(dir, out, &params);
}

int rz_cmd_convert(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    rz_convert_options options = {.type = RZ_TYPE_F32};
    const char *type_name = "f32";
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        const bool tokenizer = strcmp(arg, "-z") == 0 || strcmp(arg, "--tokenizer") == 0;
        const bool type = strcmp(arg, "-t") == 0 || strcmp(arg, "--type") == 0;
        if (tokenizer || type) {
            if (i + 1 == argc) return rz_cli_usage_error("convert", "%s needs a value", arg);
            const char *value = argv[++i];
            if (tokenizer)
                options.tokenizer_path = value;
            else
                type_name = value; /* checked once the input is known */
        } else if (arg[0] == '-') {
            return rz_cli_usage_error("convert", "unknown option '%s'", arg);
        } else if (n_paths < 2) {
            paths[n_paths++] = arg;
        } else {
            return rz_cli_usage_error("convert", "unexpected argument '%s'", arg);
        }
    }
    if (n_paths != 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    const bool hf = rz_hf_probe(paths[0]) || rz_rwkv_cpp_probe(paths[0]);
    if (hf && options.tokenizer_path)
        return rz_cli_usage_error("convert", "-z is for llama2.c checkpoints; %s has its own tokenizer",
                                  paths[0]);
    if (!hf && rz_type_from_name(type_name, &options.type) != RZ_OK)
        return rz_cli_usage_error("convert", "unknown type '%s' (f32, f16, bf16, q8_0, q4_0)", type_name);

    rz_cli_progress bar;
    rz_cli_progress_init(&bar, "converting");
    options.progress = rz_cli_progress_update;
    options.progress_user = &bar;
    rz_status s = hf ? convert_hf(paths[0], paths[1], type_name, &bar)
                     : rz_convert_llama2c(paths[0], paths[1], &options);
    rz_cli_progress_finish(&bar);
    if (s != RZ_OK) return rz_cli_fail("convert", paths[0]);

    /* Reopening validates what was written and gives the summary's figures. */
    rz_gguf *out;
    if (rz_gguf_open(paths[1], &out) != RZ_OK) return rz_cli_fail("convert", "reading back the output");
    printf("wrote %s: %llu tensors, %llu bytes, weights %s\n", paths[1],
           (unsigned long long)rz_gguf_tensor_count(out), (unsigned long long)rz_gguf_file_size(out),
           hf ? type_name : rz_type_name(options.type));
    rz_gguf_close(out);
    return 0;
}
