/* rz embed: the embedding of a text or of token ids (llama.cpp's
 * llama-embedding options). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: rz embed -m MODEL (-p TEXT | -f FILE | --ids LIST) [--pooling TYPE] [--embd-normalize N]\n"
    "  -p, --prompt TEXT     text to embed, with the special tokens the vocabulary adds\n"
    "                        (BERT: [CLS] ... [SEP])\n"
    "  -f, --file FILE       read the text from FILE\n"
    "  --ids LIST            token ids instead of text (spaces or commas between them), as given\n"
    "  --pooling TYPE        mean, cls, last, or none (a vector per token); default: the model's\n"
    "  --embd-normalize N    2: unit length (Euclidean, the default); -1: as computed\n"
    "prints one line per vector, its n_embd floats separated by spaces\n";

static int parse_pooling(const char *s, rz_pooling *out) {
    static const char *const names[] = {[RZ_POOLING_NONE] = "none",
                                        [RZ_POOLING_MEAN] = "mean",
                                        [RZ_POOLING_CLS] = "cls",
                                        [RZ_POOLING_LAST] = "last"};
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (!strcmp(s, names[i])) {
            *out = (rz_pooling)i;
            return 0;
        }
    return rz_cli_usage_error("embed", "--pooling must be mean, cls, last or none, not '%s'", s);
}

/* The input as token ids: the list, or the tokenized text. */
static int input_ids(const rz_model *model, const char *id_list, const char *prompt, const char *file,
                     int32_t **ids, size_t *n) {
    if (id_list) return rz_cli_parse_ids("embed", id_list, ids, n);
    size_t len;
    char *text = file ? rz_cli_read_file(file, &len) : NULL;
    if (file && !text) {
        fprintf(stderr, "rz embed: cannot read '%s': %s\n", file, strerror(errno));
        return 1;
    }
    if (!file) text = (char *)prompt, len = strlen(prompt);
    /* The first call only counts the tokens. */
    rz_status s = rz_tokenize(model, text, len, true, true, NULL, 0, n);
    const bool counted = s == RZ_OK || s == RZ_ERR_RANGE;
    if (counted && (*ids = malloc((*n + 1) * sizeof **ids)))
        s = rz_tokenize(model, text, len, true, true, *ids, *n + 1, n);
    if (file) free(text);
    if (counted && !*ids) return rz_cli_usage_error("embed", "out of memory");
    return s == RZ_OK ? 0 : rz_cli_fail("embed", "cannot tokenize the input");
}

int rz_cmd_embed(int argc, char **argv) {
    rz_cli_model_opts o;
    rz_cli_model_opts_init(&o);
    const char *prompt = NULL, *file = NULL, *id_list = NULL;
    rz_embed_params params = rz_embed_default_params();
    for (int i = 1; i < argc; i++) {
        int r = rz_cli_parse_model_opt("embed", &o, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s%s", usage, rz_cli_model_opts_help);
            return 0;
        } else if ((!strcmp(argv[i], "-p") || !strcmp(argv[i], "--prompt")) && i + 1 < argc) {
            prompt = argv[++i];
        } else if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) && i + 1 < argc) {
            file = argv[++i];
        } else if (!strcmp(argv[i], "--ids") && i + 1 < argc) {
            id_list = argv[++i];
        } else if (!strcmp(argv[i], "--pooling") && i + 1 < argc) {
            if (parse_pooling(argv[++i], &params.pooling) != 0) return 2;
        } else if (!strcmp(argv[i], "--embd-normalize") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "2") != 0 && strcmp(v, "-1") != 0)
                return rz_cli_usage_error("embed", "--embd-normalize supports 2 (Euclidean) and -1 (none)");
            params.normalize = !strcmp(v, "2");
        } else {
            return rz_cli_usage_error("embed", "unknown or incomplete option '%s' (see rz embed --help)",
                                      argv[i]);
        }
    }
    if ((prompt != NULL) + (file != NULL) + (id_list != NULL) != 1)
        return rz_cli_usage_error("embed", "give the input with exactly one of -p, -f and --ids");
    rz_model *model;
    rz_context *ctx;
    int rc = rz_cli_load("embed", &o, &model, &ctx);
    if (rc != 0) return rc;
    int32_t *ids = NULL;
    size_t n = 0;
    float *out = NULL;
    rc = input_ids(model, id_list, prompt, file, &ids, &n);
    const size_t E = (size_t)rz_model_describe(model)->n_embd;
    const size_t n_vectors = params.pooling == RZ_POOLING_NONE ? n : 1;
    if (rc == 0 && n == 0) rc = rz_cli_usage_error("embed", "no tokens to embed");
    if (rc == 0 && !(out = malloc(n_vectors * E * sizeof *out)))
        rc = rz_cli_usage_error("embed", "out of memory");
    if (rc == 0 && rz_embed_ext(ctx, ids, (uint32_t)n, &params, out) != RZ_OK)
        rc = rz_cli_fail("embed", "embedding failed");
    for (size_t v = 0; rc == 0 && v < n_vectors; v++)
        for (size_t i = 0; i < E; i++)
            printf("%.9g%c", (double)out[v * E + i], i + 1 == E ? '\n' : ' ');
    free(out);
    free(ids);
    rz_context_free(ctx);
    rz_model_free(model);
    return rc;
}
