/* rz eval: evaluate given token ids and write the logits of every position. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: rz eval -m MODEL --ids \"ID ID ...\" --logits-out FILE [--seq] [options]\n"
    "  --ids LIST          token ids (spaces or commas between them)\n"
    "  --logits-out FILE   logits of every position, little-endian float32 rows of n_vocab\n"
    "  --seq               evaluate one token per forward pass instead of one batch\n";

int rz_cmd_eval(int argc, char **argv) {
    rz_cli_model_opts o;
    rz_cli_model_opts_init(&o);
    const char *id_list = NULL, *out_path = NULL;
    bool seq = false;
    for (int i = 1; i < argc; i++) {
        int r = rz_cli_parse_model_opt("eval", &o, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s%s", usage, rz_cli_model_opts_help);
            return 0;
        } else if (!strcmp(argv[i], "--ids") && i + 1 < argc) {
            id_list = argv[++i];
        } else if (!strcmp(argv[i], "--logits-out") && i + 1 < argc) {
            out_path = argv[++i];
        } else if (!strcmp(argv[i], "--seq")) {
            seq = true;
        } else {
            return rz_cli_usage_error("eval", "unknown or incomplete option '%s' (see rz eval --help)",
                                      argv[i]);
        }
    }
    if (!id_list || !out_path) return rz_cli_usage_error("eval", "--ids and --logits-out are required");
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = rz_cli_parse_ids("eval", id_list, &ids, &n);
    if (rc != 0) return rc;
    if (n == 0) {
        free(ids);
        return rz_cli_usage_error("eval", "no token ids given");
    }
    rz_model *model;
    rz_context *ctx;
    if ((rc = rz_cli_load("eval", &o, &model, &ctx)) != 0) {
        free(ids);
        return rc;
    }
    const size_t n_vocab = (size_t)rz_model_describe(model)->n_vocab;
    FILE *out = fopen(out_path, "wb");
    bool *all = calloc(n, sizeof *all);
    if (!out || !all) {
        rc = rz_cli_usage_error("eval", "cannot open '%s' for writing", out_path);
    } else if (seq) {
        for (size_t i = 0; i < n && rc == 0; i++) {
            if (rz_decode(ctx, &ids[i], 1, NULL) != RZ_OK)
                rc = rz_cli_fail("eval", "decode failed");
            else if (fwrite(rz_get_logits(ctx, -1), sizeof(float), n_vocab, out) != n_vocab)
                rc = rz_cli_usage_error("eval", "write to '%s' failed", out_path);
        }
    } else {
        for (size_t i = 0; i < n; i++)
            all[i] = true;
        if (rz_decode(ctx, ids, (uint32_t)n, all) != RZ_OK) rc = rz_cli_fail("eval", "decode failed");
        for (size_t i = 0; i < n && rc == 0; i++)
            if (fwrite(rz_get_logits(ctx, (int32_t)i), sizeof(float), n_vocab, out) != n_vocab)
                rc = rz_cli_usage_error("eval", "write to '%s' failed", out_path);
    }
    if (out && fclose(out) != 0 && rc == 0) rc = rz_cli_usage_error("eval", "write to '%s' failed", out_path);
    free(all);
    free(ids);
    rz_context_free(ctx);
    rz_model_free(model);
    return rc;
}
