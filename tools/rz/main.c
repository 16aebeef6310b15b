/* rz: the Ryzanstein command-line tool. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "rz_revision.h"

typedef struct rz_command {
    const char *name;
    rz_command_fn run;
    const char *summary;
} rz_command;

static const rz_command commands[] = {
    {"info", rz_cmd_info, "describe a model file (GGUF or llama2.c) or the CPU"},
    {"convert", rz_cmd_convert, "convert a llama2.c checkpoint to GGUF"},
    {"quantize", rz_cmd_quantize, "requantize a GGUF model (llama.cpp's presets)"},
    {"run", rz_cmd_run, "generate text from a prompt"},
    {"eval", rz_cmd_eval, "evaluate token ids and write their logits"},
    {"embed", rz_cmd_embed, "embedding vectors of a text or token ids"},
    {"tokenize", rz_cmd_tokenize, "text to token ids with a model's tokenizer"},
    {"tensor", rz_cmd_tensor, "write one tensor of a model as float32"},
    {"synth", rz_cmd_synth, "write a Llama-shaped GGUF with random weights"},
    {"bench", rz_cmd_bench, "measure prompt and generation throughput"},
    {"perplexity", rz_cmd_perplexity, "perplexity of a model on a text file"},
    {"serve", rz_cmd_serve, "OpenAI-compatible HTTP server"},
};

static void usage(FILE *out) {
    fprintf(out, "usage: rz COMMAND [ARGS]   (rz COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rz %s (%s)\n", RZ_VERSION_STRING, RZ_GIT_REVISION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "rz: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
