/* rz tokenize: text to token ids with a model's tokenizer (weights are not
 * loaded, so vocab-only GGUFs work too). */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "cli.h"

static const char usage[] =
    "usage: rz tokenize -m MODEL (-p TEXT | -f FILE) [--ids] [--add-special] [--parse-special]\n"
    "  -m, --model PATH      GGUF (vocab-only is enough), or llama2.c checkpoint with -z\n"
    "  -z, --tokenizer PATH  llama2.c tokenizer.bin\n"
    "  -p, --prompt TEXT     text to tokenize\n"
    "  -f, --file FILE       read the text from FILE, byte for byte\n"
    "  --ids                 print one line of space-separated ids\n"
    "                        (default: one line per token, \"ID<tab>'PIECE'\")\n"
    "  --add-special         add BOS/EOS as the vocabulary asks\n"
    "  --parse-special       match control-token texts in the input\n";

int rz_cmd_tokenize(int argc, char **argv) {
    rz_cli_model_opts o;
    rz_cli_model_opts_init(&o);
    const char *prompt = NULL, *file = NULL;
    bool ids_only = false, add_special = false, parse_special = false;
    for (int i = 1; i < argc; i++) {
        int r = rz_cli_parse_model_opt("tokenize", &o, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if ((!strcmp(argv[i], "-p") || !strcmp(argv[i], "--prompt")) && i + 1 < argc) {
            prompt = argv[++i];
        } else if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) && i + 1 < argc) {
            file = argv[++i];
        } else if (!strcmp(argv[i], "--ids")) {
            ids_only = true;
        } else if (!strcmp(argv[i], "--add-special")) {
            add_special = true;
        } else if (!strcmp(argv[i], "--parse-special")) {
            parse_special = true;
        } else {
            return rz_cli_usage_error("tokenize",
                                      "unknown or incomplete option '%s' (see rz tokenize --help)", argv[i]);
        }
    }
    if (!o.model_path) return rz_cli_usage_error("tokenize", "no model given (-m MODEL)");
    if (!prompt == !file)
        return rz_cli_usage_error("tokenize", "give the text with exactly one of -p and -f");
    size_t len;
    char *text;
    if (file) {
        if (!(text = rz_cli_read_file(file, &len))) {
            fprintf(stderr, "rz tokenize: cannot read '%s': %s\n", file, strerror(errno));
            return 1;
        }
    } else {
        len = strlen(prompt);
        text = malloc(len + 1);
        if (!text) return rz_cli_usage_error("tokenize", "out of memory");
        memcpy(text, prompt, len + 1);
    }
    o.model.vocab_only = true;
    rz_model *model;
    if (rz_model_load(o.model_path, &o.model, &model) != RZ_OK) {
        free(text);
        return rz_cli_fail("tokenize", "cannot load the tokenizer");
    }
    /* Usually fewer tokens than bytes; if not, the first call says how many. */
    size_t cap = len + 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    rz_status s =
        ids ? rz_tokenize(model, text, len, add_special, parse_special, ids, cap, &n) : RZ_ERR_NOMEM;
    if (s == RZ_ERR_RANGE) {
        free(ids);
        cap = n;
        ids = malloc(cap * sizeof *ids);
        s = ids ? rz_tokenize(model, text, len, add_special, parse_special, ids, cap, &n) : RZ_ERR_NOMEM;
    }
    int rc = 0;
    if (!ids) {
        rc = rz_cli_usage_error("tokenize", "out of memory");
    } else if (s != RZ_OK) {
        rc = rz_cli_fail("tokenize", "cannot tokenize");
    } else if (ids_only) {
        for (size_t i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    } else {
        for (size_t i = 0; i < n; i++) {
            const char *piece;
            size_t piece_len;
            if (rz_token_piece(model, ids[i], &piece, &piece_len) != RZ_OK) {
                rc = rz_cli_fail("tokenize", "cannot read a token");
                break;
            }
            printf("%d\t'", ids[i]);
            fwrite(piece, 1, piece_len, stdout);
            fputs("'\n", stdout);
        }
    }
    free(ids);
    free(text);
    rz_model_free(model);
    return rc;
}
