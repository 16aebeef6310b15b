/* rz perplexity: perplexity of a text file, following llama.cpp's
 * convention so the figures compare: non-overlapping windows of n_ctx tokens,
 * each starting with BOS, scoring only the predictions in the second half of
 * each window (the first half is context). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const char usage[] =
    "usage: rz perplexity -m MODEL -f TEXT [-c CTX] [--json] [options]\n"
    "Splits the tokenized text into non-overlapping windows of CTX tokens (the first token of each\n"
    "replaced by BOS, as llama.cpp does), evaluates each window as one batch and scores the tokens\n"
    "predicted from position CTX/2 onward: PPL = exp(mean negative log-likelihood) ± its standard error.\n"
    "  -f, --file PATH       text to score\n"
    "  -c, --ctx-size N      window size (default: 512)\n"
    "  --json                final figures as JSON on stdout\n";

/* -log softmax(logits)[target], in double so long vocabularies keep precision. */
static double token_nll(const float *logits, int32_t n_vocab, int32_t target) {
    double max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++)
        if (logits[i] > max) max = logits[i];
    double sum = 0.0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum += exp((double)logits[i] - max);
    return log(sum) - ((double)logits[target] - max);
}

/* The whole text with BOS (a second pass if the first guess is short);
 * returns the exit code. */
static int tokenize_all(const rz_model *model, const char *text, size_t len, int32_t **tokens, size_t *n) {
    size_t cap = len + 2;
    for (int pass = 0; pass < 2; pass++) {
        free(*tokens);
        if (!(*tokens = malloc(cap * sizeof **tokens)))
            return rz_cli_usage_error("perplexity", "out of memory");
        rz_status s = rz_tokenize(model, text, len, true, false, *tokens, cap, n);
        if (s == RZ_OK) return 0;
        if (s != RZ_ERR_RANGE || pass == 1) break;
        cap = *n;
    }
    return rz_cli_fail("perplexity", "cannot tokenize the text");
}

typedef struct ppl_sums {
    double nll, nll2;
    uint64_t count;
} ppl_sums;

/* Evaluates window tokens[0..n_ctx) (tokens[0] already BOS) and adds its scores. */
static int score_window(rz_context *ctx, const int32_t *tokens, uint32_t n_ctx, int32_t n_vocab, bool *want,
                        ppl_sums *s) {
    const uint32_t first = n_ctx / 2;
    for (uint32_t i = 0; i < n_ctx; i++)
        want[i] = i >= first && i + 1 < n_ctx;
    if (rz_context_truncate(ctx, 0) != RZ_OK || rz_decode(ctx, tokens, n_ctx, want) != RZ_OK)
        return rz_cli_fail("perplexity", "decode failed");
    for (uint32_t i = first; i + 1 < n_ctx; i++) {
        const double nll = token_nll(rz_get_logits(ctx, (int32_t)i), n_vocab, tokens[i + 1]);
        s->nll += nll;
        s->nll2 += nll * nll;
        s->count++;
    }
    return 0;
}

int rz_cmd_perplexity(int argc, char **argv) {
    rz_cli_model_opts o;
    rz_cli_model_opts_init(&o);
    const char *text_path = NULL;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        int r = rz_cli_parse_model_opt("perplexity", &o, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s%s", usage, rz_cli_model_opts_help);
            return 0;
        } else if ((!strcmp(argv[i], "-f") || !strcmp(argv[i], "--file")) && i + 1 < argc) {
            text_path = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            json = true;
        } else {
            return rz_cli_usage_error(
                "perplexity", "unknown or incomplete option '%s' (see rz perplexity --help)", argv[i]);
        }
    }
    if (!text_path) return rz_cli_usage_error("perplexity", "no text given (-f TEXT)");
    size_t text_len;
    char *text = rz_cli_read_file(text_path, &text_len);
    if (!text) return rz_cli_usage_error("perplexity", "cannot read '%s'", text_path);
    if (o.context.n_ctx == 0) o.context.n_ctx = 512;

    rz_model *model;
    rz_context *ctx;
    int rc = rz_cli_load("perplexity", &o, &model, &ctx);
    if (rc != 0) {
        free(text);
        return rc;
    }
    const rz_model_desc *d = rz_model_describe(model);
    const uint32_t n_ctx = rz_context_n_ctx(ctx);
    int32_t *tokens = NULL;
    bool *want = malloc(n_ctx * sizeof *want);
    size_t n_tokens = 0;
    rc = want ? tokenize_all(model, text, text_len, &tokens, &n_tokens)
              : rz_cli_usage_error("perplexity", "out of memory");
    const size_t n_windows = n_ctx >= 2 ? n_tokens / n_ctx : 0;
    if (rc == 0 && n_windows == 0)
        rc = rz_cli_usage_error("perplexity", "%zu tokens are fewer than one window of %u; use a smaller -c",
                                n_tokens, n_ctx);
    if (rc == 0)
        fprintf(stderr, "%zu tokens, %zu windows of %u, scoring %u tokens each\n", n_tokens, n_windows, n_ctx,
                n_ctx - 1 - n_ctx / 2);
    ppl_sums s = {0};
    const double t0 = rz_time_seconds();
    for (size_t w = 0; w < n_windows && rc == 0; w++) {
        int32_t *window = tokens + w * n_ctx;
        const int32_t saved = window[0];
        if (d->bos >= 0) window[0] = d->bos;
        rc = score_window(ctx, window, n_ctx, d->n_vocab, want, &s);
        window[0] = saved;
        if (rc == 0)
            fprintf(stderr, "[%zu]%.4f%s", w + 1, exp(s.nll / (double)s.count),
                    w + 1 < n_windows ? "," : "\n");
    }
    if (rc == 0) {
        const double mean = s.nll / (double)s.count;
        const double var = s.nll2 / (double)s.count - mean * mean;
        /* Standard error of the mean NLL, carried through exp(). */
        const double err = s.count > 1 && var > 0 ? sqrt(var / (double)(s.count - 1)) : 0.0;
        const double ppl = exp(mean);
        fprintf(stderr, "%.1f s, %.1f tokens/s\n", rz_time_seconds() - t0,
                (double)(n_windows * n_ctx) / (rz_time_seconds() - t0));
        if (json) {
            cJSON *root = cJSON_CreateObject();
            cJSON_AddNumberToObject(root, "ppl", ppl);
            cJSON_AddNumberToObject(root, "ppl_stderr", ppl * err);
            cJSON_AddNumberToObject(root, "mean_nll", mean);
            cJSON_AddNumberToObject(root, "mean_nll_stderr", err);
            cJSON_AddNumberToObject(root, "n_ctx", n_ctx);
            cJSON_AddNumberToObject(root, "n_windows", (double)n_windows);
            cJSON_AddNumberToObject(root, "n_tokens", (double)n_tokens);
            cJSON_AddNumberToObject(root, "n_scored", (double)s.count);
            char *out = cJSON_Print(root);
            if (out) puts(out);
            cJSON_free(out);
            cJSON_Delete(root);
        } else {
            printf("PPL = %.4f +/- %.5f\n", ppl, ppl * err);
        }
    }
    free(want);
    free(tokens);
    free(text);
    rz_context_free(ctx);
    rz_model_free(model);
    return rc;
}
