/* rz run: generate text from a prompt, streaming it to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum { MAX_STOP_STRINGS = 16 };

typedef struct run_output {
    bool ids;
    bool first;
    /* Every token the context has seen, for --save-state; `lost` once they
     * no longer fit, i.e. a context shift dropped some. */
    int32_t *history;
    size_t n_history, cap;
    bool lost;
} run_output;

static void remember(run_output *out, const int32_t *tokens, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (out->n_history == out->cap) {
            out->lost = true;
            return;
        }
        out->history[out->n_history++] = tokens[i];
    }
}

static bool print_token(void *user, int32_t token, const char *text, size_t len) {
    run_output *out = user;
    if (token >= 0) remember(out, &token, 1);
    if (out->ids) {
        if (token >= 0) printf(out->first ? "%d" : " %d", token);
        out->first = false;
    } else {
        fwrite(text, 1, len, stdout);
    }
    fflush(stdout);
    return true;
}

static int tokenize_text(const char *command, const rz_model *model, const char *text, bool add_special,
                         int32_t **tokens, size_t *n) {
    size_t len = strlen(text), needed = 0;
    size_t cap = len + 8;
    *tokens = malloc(cap * sizeof **tokens);
    if (!*tokens) return rz_cli_usage_error(command, "out of memory");
    if (rz_tokenize(model, text, len, add_special, false, *tokens, cap, &needed) != RZ_OK) {
        free(*tokens);
        *tokens = NULL;
        return rz_cli_fail(command, "cannot tokenize the prompt");
    }
    *n = needed;
    return 0;
}

static void report(const rz_generate_result *r) {
    fprintf(stderr, "prompt: %u tokens, %.1f ms, %.2f tok/s\n", r->n_prompt, r->prompt_seconds * 1e3,
            r->prompt_seconds > 0 ? r->n_prompt / r->prompt_seconds : 0.0);
    fprintf(stderr, "generation: %u tokens, %.1f ms, %.2f tok/s\n", r->n_generated, r->generate_seconds * 1e3,
            r->generate_seconds > 0 ? r->n_generated / r->generate_seconds : 0.0);
}

static void report_speculation(const rz_speculator *spec) {
    const rz_speculative_stats st = rz_speculator_stats(spec);
    fprintf(stderr,
            "speculation: %llu target passes, %llu proposed, %llu accepted (%.1f%%), %.2f tokens per pass\n",
            (unsigned long long)st.n_target_passes, (unsigned long long)st.n_drafted,
            (unsigned long long)st.n_accepted,
            st.n_drafted ? 100.0 * (double)st.n_accepted / (double)st.n_drafted : 0.0,
            st.n_target_passes ? (double)st.n_tokens / (double)st.n_target_passes : 0.0);
}

static int interactive(rz_model *model, rz_context *ctx, rz_sampler *sampler, const rz_generate_params *gp) {
    char line[8192];
    bool first_turn = true;
    run_output out = {.first = true};
    while (fputs("> ", stderr), fgets(line, sizeof line, stdin)) {
        int32_t *tokens = NULL;
        size_t n = 0;
        if (tokenize_text("run", model, line, first_turn, &tokens, &n) != 0) return 1;
        first_turn = false;
        rz_generate_result r;
        rz_status s = rz_generate(ctx, sampler, tokens, n, gp, print_token, &out, &r);
        free(tokens);
        if (s != RZ_OK) return rz_cli_fail("run", "generation failed");
        printf("\n");
        fflush(stdout);
        if (r.stop_reason == RZ_STOP_CONTEXT) {
            fprintf(stderr, "context is full (%u tokens)\n", rz_context_n_ctx(ctx));
            break;
        }
    }
    return 0;
}

/* The prompt (appended to a loaded state, if any) and its continuation. */
static int generate(rz_model *model, rz_context *ctx, rz_sampler *sampler, rz_speculator *spec,
                    const rz_generate_params *gp, const char *prompt, bool ids, const char *load_state,
                    const char *save_state) {
    const uint32_t n_ctx = rz_context_n_ctx(ctx);
    /* One more than the context: the token a stop string ends on is never decoded. */
    run_output out = {.ids = ids, .first = true, .cap = (size_t)n_ctx + 1};
    if (!(out.history = malloc(out.cap * sizeof *out.history))) return rz_cli_fail("run", "out of memory");
    int rc = 0;
    uint32_t n_loaded = 0;
    if (load_state) {
        if (rz_state_load(ctx, load_state, out.history, n_ctx, &n_loaded) != RZ_OK) {
            free(out.history);
            return rz_cli_fail("run", "cannot load the state");
        }
        out.n_history = n_loaded;
        /* Penalties and speculation see the earlier tokens as an uninterrupted run's would. */
        for (uint32_t i = 0; i < n_loaded; i++)
            rz_sampler_accept(sampler, out.history[i]);
        if (spec && rz_speculator_push(spec, out.history, n_loaded) != RZ_OK)
            rc = rz_cli_fail("run", "cannot set up speculation");
    }
    int32_t *tokens = NULL;
    size_t n_tokens = 0;
    if (rc == 0) rc = tokenize_text("run", model, prompt, !load_state, &tokens, &n_tokens);
    if (rc == 0) {
        remember(&out, tokens, n_tokens);
        if (!ids) {
            fputs(prompt, stdout);
            fflush(stdout);
        }
        rz_generate_result r;
        if (rz_generate(ctx, sampler, tokens, n_tokens, gp, print_token, &out, &r) != RZ_OK) {
            rc = rz_cli_fail("run", "generation failed");
        } else {
            printf("\n");
            report(&r);
            if (spec) report_speculation(spec);
        }
    }
    /* The history's first n_past tokens are the context's unless a shift dropped some. */
    const uint32_t n_keep = out.lost ? 0 : rz_context_n_past(ctx);
    if (rc == 0 && save_state && rz_state_save(ctx, save_state, out.history, n_keep) != RZ_OK)
        rc = rz_cli_fail("run", "cannot save the state");
    free(tokens);
    free(out.history);
    return rc;
}

static const char usage[] =
    "usage: rz run -m MODEL [-z TOKENIZER] [-p PROMPT | -f FILE] [-n N] [options]\n"
    "  -p, --prompt TEXT         prompt (default: empty, i.e. generate from BOS)\n"
    "  -f, --file PATH           read the prompt from a file\n"
    "  -n, --n-predict N         tokens to generate (default 128; -1 = until the context is full)\n"
    "  -r, --reverse-prompt S    stop string (repeatable)\n"
    "  --ignore-eos              keep generating past the end-of-generation token\n"
    "  --ids                     print generated token ids instead of text\n"
    "  -i, --interactive         read prompts from stdin, keeping the KV cache between turns\n"
    "  --ctx-shift               when the context is full, drop the oldest half of it (after --keep)\n"
    "  --keep N                  tokens at the start (BOS included) that --ctx-shift keeps (default 0)\n"
    "  --draft-model PATH        speculative decoding with this draft model (same vocabulary)\n"
    "  --draft-max N             tokens proposed per target pass (default 8)\n"
    "  --lookup                  speculative decoding by prompt lookup (n-gram match in the context)\n"
    "  --lookup-ngram N          longest n-gram matched by --lookup (default 3)\n"
    "  --save-state FILE         after generating, save the context (cache or recurrent state, last\n"
    "                            logits, tokens) to FILE\n"
    "  --load-state FILE         start from a state saved by --save-state with the same model and\n"
    "                            context options; the prompt is appended to it (no BOS)\n";

int rz_cmd_run(int argc, char **argv) {
    rz_cli_model_opts o;
    rz_cli_model_opts_init(&o);
    const char *prompt = "", *prompt_file = NULL;
    const char *stops[MAX_STOP_STRINGS];
    size_t n_stops = 0;
    long n_predict = 128;
    bool ids = false, is_interactive = false, ignore_eos = false, ctx_shift = false, lookup = false;
    long n_keep = 0, draft_max = 8, lookup_ngram = 3;
    const char *draft_path = NULL, *save_state = NULL, *load_state = NULL;
    for (int i = 1; i < argc; i++) {
        int r = rz_cli_parse_model_opt("run", &o, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s%s", usage, rz_cli_model_opts_help);
            return 0;
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && has_value) {
            prompt = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && has_value) {
            prompt_file = argv[++i];
        } else if ((!strcmp(a, "-n") || !strcmp(a, "--n-predict")) && has_value) {
            char *end;
            n_predict = strtol(argv[++i], &end, 10);
            if (*end || n_predict < -1)
                return rz_cli_usage_error("run", "invalid value '%s' for -n", argv[i]);
        } else if ((!strcmp(a, "-r") || !strcmp(a, "--reverse-prompt")) && has_value) {
            if (n_stops == MAX_STOP_STRINGS)
                return rz_cli_usage_error("run", "at most %d stop strings", MAX_STOP_STRINGS);
            stops[n_stops++] = argv[++i];
        } else if (!strcmp(a, "--ids")) {
            ids = true;
        } else if (!strcmp(a, "-i") || !strcmp(a, "--interactive")) {
            is_interactive = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            ignore_eos = true;
        } else if (!strcmp(a, "--ctx-shift")) {
            ctx_shift = true;
        } else if (!strcmp(a, "--lookup")) {
            lookup = true;
        } else if (!strcmp(a, "--save-state") && has_value) {
            save_state = argv[++i];
        } else if (!strcmp(a, "--load-state") && has_value) {
            load_state = argv[++i];
        } else if (!strcmp(a, "--draft-model") && has_value) {
            draft_path = argv[++i];
        } else if ((!strcmp(a, "--keep") || !strcmp(a, "--draft-max") || !strcmp(a, "--lookup-ngram")) &&
                   has_value) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            const long lo = !strcmp(a, "--keep") ? 0 : 1, hi = !strcmp(a, "--draft-max") ? 256 : 1 << 20;
            if (*end || v < lo || v > hi)
                return rz_cli_usage_error("run", "invalid value '%s' for %s", argv[i], a);
            *(!strcmp(a, "--keep") ? &n_keep : !strcmp(a, "--draft-max") ? &draft_max : &lookup_ngram) = v;
        } else {
            return rz_cli_usage_error("run", "unknown or incomplete option '%s' (see rz run --help)", a);
        }
    }
    if (is_interactive && (save_state || load_state))
        return rz_cli_usage_error("run", "--save-state and --load-state do not go with -i");
    char *file_prompt = NULL;
    if (prompt_file) {
        file_prompt = rz_cli_read_file(prompt_file, NULL);
        if (!file_prompt) return rz_cli_usage_error("run", "cannot read prompt file '%s'", prompt_file);
        prompt = file_prompt;
    }
    rz_model *model;
    rz_context *ctx;
    int rc = rz_cli_load("run", &o, &model, &ctx);
    if (rc != 0) {
        free(file_prompt);
        return rc;
    }
    rz_sampler *sampler = NULL;
    rz_generate_params gp = {.n_predict = (int32_t)n_predict,
                             .stop_strings = stops,
                             .n_stop_strings = n_stops,
                             .ignore_end_token = ignore_eos,
                             .ctx_shift = ctx_shift,
                             .n_keep = (uint32_t)n_keep};
    rz_model *draft_model = NULL;
    rz_context *draft_ctx = NULL;
    rz_speculator *spec = NULL;
    if (draft_path || lookup) {
        rz_speculative_params sp = rz_speculative_default_params();
        sp.n_draft = (int32_t)draft_max;
        sp.ngram_max = (int32_t)lookup_ngram;
        if (sp.ngram_min > sp.ngram_max) sp.ngram_min = sp.ngram_max;
        if (draft_path) {
            rz_cli_model_opts d = o;
            d.model_path = draft_path;
            d.context.n_ctx = rz_context_n_ctx(ctx);
            rc = rz_cli_load("run", &d, &draft_model, &draft_ctx);
            sp.draft = draft_ctx;
        }
        if (rc == 0 && rz_speculator_create(ctx, &sp, &spec) != RZ_OK)
            rc = rz_cli_fail("run", "cannot set up speculation");
        gp.speculator = spec;
    }
    if (rc != 0) {
        /* the draft or the speculator failed; already reported */
    } else if (rz_sampler_create(&o.sampling, rz_model_describe(model)->n_vocab, &sampler) != RZ_OK) {
        rc = rz_cli_fail("run", "cannot create sampler");
    } else if (is_interactive) {
        rc = interactive(model, ctx, sampler, &gp);
    } else {
        rc = generate(model, ctx, sampler, spec, &gp, prompt, ids, load_state, save_state);
    }
    rz_speculator_free(spec);
    rz_context_free(draft_ctx);
    rz_model_free(draft_model);
    free(file_prompt);
    rz_sampler_free(sampler);
    rz_context_free(ctx);
    rz_model_free(model);
    return rc;
}
