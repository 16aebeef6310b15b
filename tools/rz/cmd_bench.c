/* rz bench: prompt-processing and token-generation throughput, as
 * llama-bench measures them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const char usage[] =
    "usage: rz bench -m MODEL [-p LIST] [-n LIST] [-d LIST] [-t LIST] [-r N] [--json] [options]\n"
    "For each thread count: prompt processing of P random tokens as one batch (test ppP), and generation\n"
    "of N tokens one at a time after a 1-token warm-up (test tgN), each in a fresh context, after one\n"
    "untimed warm-up run. Reports the median tok/s over the repetitions ± their standard deviation.\n"
    "  -p, --n-prompt LIST   prompt sizes, comma-separated; 0 skips (default 512)\n"
    "  -n, --n-gen LIST      generation lengths, comma-separated; 0 skips (default 128)\n"
    "  -d, --n-depth LIST    run each test after this many random tokens already in the cache, untimed\n"
    "                        (test \"tg32 @ d4096\"; default 0)\n"
    "  -t, --threads LIST    thread counts, comma-separated (default: physical cores)\n"
    "  -r, --repetitions N   timed runs per test (default 5)\n"
    "  --json                a JSON array with every figure (adds bytes_per_token, gb_per_s of token\n"
    "                        generation, peak resident memory)\n"
    "  -c, --ctx-size N      context size (default: what the test needs)\n"
    "  -m, -z, -ctk / --cache-type-k, -ctv / --cache-type-v as for rz run\n"
    "  -C / --cpu-mask, -Cr / --cpu-range, --cpu-strict, --prio, --numa: thread placement as for rz run\n"
    "Speculative decoding (test specN, for each generation length N): greedy generation of N tokens after\n"
    "--spec-prompt, without and with speculation; reports the speedup, the share of proposals accepted\n"
    "and the tokens per target forward pass.\n"
    "  --draft-model PATH    draft model (same vocabulary)\n"
    "  --draft-max N         tokens proposed per target pass (default 8)\n"
    "  --lookup              prompt lookup (n-gram match in the context) instead of a draft model\n"
    "  --spec-prompt TEXT    prompt of the speculation test (default: \"Once upon a time\")\n";

enum { MAX_LIST = 32, MAX_REPS = 1000 };

typedef struct int_list {
    int v[MAX_LIST];
    int n;
} int_list;

static bool parse_list(const char *s, int lo, int_list *out) {
    out->n = 0;
    while (*s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (errno || end == s || v < lo || v > 1 << 20 || out->n == MAX_LIST) return false;
        out->v[out->n++] = (int)v;
        if (*end == ',')
            end++;
        else if (*end)
            return false;
        s = end;
    }
    return out->n > 0;
}

typedef struct stats {
    double median, mean, stddev, min, max;
} stats;

static int compare_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static stats compute_stats(const double *samples, int n) {
    double sorted[MAX_REPS];
    memcpy(sorted, samples, (size_t)n * sizeof *sorted);
    qsort(sorted, (size_t)n, sizeof *sorted, compare_double);
    stats s = {.min = sorted[0], .max = sorted[n - 1]};
    s.median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    for (int i = 0; i < n; i++)
        s.mean += sorted[i];
    s.mean /= n;
    for (int i = 0; i < n && n > 1; i++)
        s.stddev += (sorted[i] - s.mean) * (sorted[i] - s.mean);
    s.stddev = n > 1 ? sqrt(s.stddev / (n - 1)) : 0.0;
    return s;
}

typedef struct bench {
    const rz_model *model;
    rz_context_params base;
    bool user_ctx; /* -c given */
    int reps;
    uint64_t rng;
    int32_t *tokens;     /* [longest prompt, generation or depth] random ids */
    int placement_shown; /* thread count whose placement went to stderr last */
} bench;

static int32_t random_token(bench *b) {
    b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((b->rng >> 33) % (uint64_t)rz_model_describe(b->model)->n_vocab);
}

/* One run after depth tokens: seconds spent on the timed part, or < 0
 * after printing the error. */
static double run_once(bench *b, rz_context *ctx, int depth, bool prompt, int n) {
    if (rz_context_truncate(ctx, 0) != RZ_OK) return rz_cli_fail("bench", "cannot reset the context"), -1;
    for (int i = 0; i < depth; i++)
        b->tokens[i] = random_token(b);
    if (depth > 0 && rz_decode(ctx, b->tokens, (uint32_t)depth, NULL) != RZ_OK)
        return rz_cli_fail("bench", "decode failed"), -1;
    if (prompt) {
        for (int i = 0; i < n; i++)
            b->tokens[i] = random_token(b);
        const double t0 = rz_time_seconds();
        if (rz_decode(ctx, b->tokens, (uint32_t)n, NULL) != RZ_OK)
            return rz_cli_fail("bench", "decode failed"), -1;
        return rz_time_seconds() - t0;
    }
    int32_t token = random_token(b);
    if (rz_decode(ctx, &token, 1, NULL) != RZ_OK) return rz_cli_fail("bench", "decode failed"), -1;
    /* Each token drawn as it goes, as llama-bench does: no memory grows with
     * the generation length but the context's. */
    const double t0 = rz_time_seconds();
    for (int i = 0; i < n; i++) {
        token = random_token(b);
        if (rz_decode(ctx, &token, 1, NULL) != RZ_OK) return rz_cli_fail("bench", "decode failed"), -1;
    }
    return rz_time_seconds() - t0;
}

typedef struct result {
    int threads;
    bool prompt;
    int n, depth;
    uint32_t n_ctx;
    stats tps;
    double samples[MAX_REPS];
    uint64_t max_rss;
} result;

static int run_test(bench *b, int threads, int depth, bool prompt, int n, result *r) {
    rz_context_params cp = b->base;
    cp.n_threads = threads;
    if (!b->user_ctx) cp.n_ctx = (uint32_t)(depth + (prompt ? n : n + 1));
    if (prompt && cp.n_batch < (uint32_t)n) cp.n_batch = (uint32_t)n; /* one forward pass */
    rz_context *ctx;
    if (rz_context_create(b->model, &cp, &ctx) != RZ_OK) return rz_cli_fail("bench", "cannot create context");
    if (rz_cli_placement_asked(&cp) && b->placement_shown != threads) {
        fprintf(stderr, "placement: %s\n", rz_context_placement(ctx));
        b->placement_shown = threads;
    }
    int rc = 0;
    if (run_once(b, ctx, depth, prompt, prompt ? n : 1) < 0) rc = 1;
    for (int i = 0; i < b->reps && rc == 0; i++) {
        const double t = run_once(b, ctx, depth, prompt, n);
        if (t < 0) rc = 1;
        r->samples[i] = t > 0 ? n / t : INFINITY;
    }
    r->threads = threads;
    r->prompt = prompt;
    r->n = n;
    r->depth = depth;
    r->n_ctx = rz_context_n_ctx(ctx);
    rz_context_free(ctx);
    if (rc != 0) return rc;
    r->tps = compute_stats(r->samples, b->reps);
    struct rusage ru;
    r->max_rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
    return 0;
}

typedef struct spec_bench {
    const char *draft_path, *prompt;
    int draft_max;
    bool lookup;
    rz_model *draft_model;
} spec_bench;

typedef struct spec_result {
    double base_tps, spec_tps, acceptance, tokens_per_pass;
} spec_result;

/* Greedy generation of n tokens after the prompt in a fresh cache: tok/s of
 * the generation part (the prompt is not timed); < 0 after an error. */
static double generate_tps(rz_context *ctx, rz_speculator *spec, const int32_t *prompt, size_t n_prompt,
                           int n) {
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = 0.0f;
    rz_sampler *sampler;
    if (rz_sampler_create(&sp, rz_model_describe(rz_context_model(ctx))->n_vocab, &sampler) != RZ_OK)
        return rz_cli_fail("bench", "cannot create sampler"), -1;
    rz_generate_params gp = {.n_predict = n, .ignore_end_token = true, .speculator = spec};
    rz_generate_result r;
    rz_status st = rz_context_truncate(ctx, 0);
    if (spec) rz_speculator_reset(spec);
    if (st == RZ_OK) st = rz_generate(ctx, sampler, prompt, n_prompt, &gp, NULL, NULL, &r);
    rz_sampler_free(sampler);
    if (st != RZ_OK) return rz_cli_fail("bench", "generation failed"), -1;
    return r.generate_seconds > 0 ? r.n_generated / r.generate_seconds : INFINITY;
}

static int run_spec_test(bench *b, const spec_bench *sb, int threads, int n, spec_result *out) {
    const rz_model *m = b->model;
    const size_t len = strlen(sb->prompt);
    size_t n_prompt = 0;
    /* The first call only counts the tokens. */
    rz_status ts = rz_tokenize(m, sb->prompt, len, true, false, NULL, 0, &n_prompt);
    int32_t *prompt = malloc((n_prompt + 1) * sizeof *prompt);
    if (!prompt) return rz_cli_usage_error("bench", "out of memory");
    if ((ts != RZ_OK && ts != RZ_ERR_RANGE) ||
        rz_tokenize(m, sb->prompt, len, true, false, prompt, n_prompt + 1, &n_prompt) != RZ_OK) {
        free(prompt);
        return rz_cli_fail("bench", "cannot tokenize the speculation prompt");
    }
    rz_context_params cp = b->base;
    cp.n_threads = threads;
    if (!b->user_ctx) cp.n_ctx = (uint32_t)(n_prompt + (size_t)n + (size_t)sb->draft_max + 1);
    rz_context *ctx = NULL, *draft = NULL;
    rz_speculator *spec = NULL;
    int rc = 0;
    if (rz_context_create(m, &cp, &ctx) != RZ_OK) rc = rz_cli_fail("bench", "cannot create context");
    if (rc == 0 && sb->draft_model) {
        cp.n_ctx = rz_context_n_ctx(ctx);
        if (rz_context_create(sb->draft_model, &cp, &draft) != RZ_OK)
            rc = rz_cli_fail("bench", "cannot create the draft context");
    }
    rz_speculative_params sp = rz_speculative_default_params();
    sp.draft = draft;
    sp.n_draft = sb->draft_max;
    if (rc == 0 && rz_speculator_create(ctx, &sp, &spec) != RZ_OK)
        rc = rz_cli_fail("bench", "cannot set up speculation");
    double base[MAX_REPS], fast[MAX_REPS];
    /* One untimed warm-up of each, then alternate so that noise hits both. */
    if (rc == 0 && (generate_tps(ctx, NULL, prompt, n_prompt, n) < 0 ||
                    generate_tps(ctx, spec, prompt, n_prompt, n) < 0))
        rc = 1;
    const rz_speculative_stats before = rc == 0 ? rz_speculator_stats(spec) : (rz_speculative_stats){0};
    for (int i = 0; i < b->reps && rc == 0; i++) {
        base[i] = generate_tps(ctx, NULL, prompt, n_prompt, n);
        fast[i] = generate_tps(ctx, spec, prompt, n_prompt, n);
        if (base[i] < 0 || fast[i] < 0) rc = 1;
    }
    if (rc == 0) {
        const rz_speculative_stats after = rz_speculator_stats(spec);
        const double drafted = (double)(after.n_drafted - before.n_drafted);
        const double passes = (double)(after.n_target_passes - before.n_target_passes);
        out->base_tps = compute_stats(base, b->reps).median;
        out->spec_tps = compute_stats(fast, b->reps).median;
        out->acceptance = drafted > 0 ? (double)(after.n_accepted - before.n_accepted) / drafted : 0.0;
        out->tokens_per_pass = passes > 0 ? (double)(after.n_tokens - before.n_tokens) / passes : 0.0;
    }
    rz_speculator_free(spec);
    rz_context_free(draft);
    rz_context_free(ctx);
    free(prompt);
    return rc;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* llama-bench's test names: "pp512", "tg32 @ d4096". */
static void test_name(const result *r, char *out, size_t size) {
    int n = snprintf(out, size, "%s%d", r->prompt ? "pp" : "tg", r->n);
    if (r->depth > 0 && n > 0 && (size_t)n < size) snprintf(out + n, size - (size_t)n, " @ d%d", r->depth);
}

static void print_row(const char *model_path, const rz_model_desc *d, const result *r) {
    char size[32], params[32], test[48], tps[48];
    if (d->weight_bytes >= (1ull << 30))
        snprintf(size, sizeof size, "%.2f GiB", (double)d->weight_bytes / (1ull << 30));
    else
        snprintf(size, sizeof size, "%.2f MiB", (double)d->weight_bytes / (1ull << 20));
    if (d->n_params >= 1000000000ull)
        snprintf(params, sizeof params, "%.2f B", d->n_params / 1e9);
    else
        snprintf(params, sizeof params, "%.2f M", d->n_params / 1e6);
    test_name(r, test, sizeof test);
    snprintf(tps, sizeof tps, "%.2f ± %.2f", r->tps.median, r->tps.stddev);
    printf("| %s | %s | %s | %s | %d | %s | %s |\n", base_name(model_path), size, params,
           rz_type_name(d->weight_type), r->threads, test, tps);
}

static cJSON *json_row(const char *model_path, const rz_model *m, const result *r, int reps) {
    const rz_model_desc *d = rz_model_describe(m);
    const double bpt = (double)rz_model_bytes_per_token(m);
    char test[48];
    test_name(r, test, sizeof test);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", base_name(model_path));
    cJSON_AddStringToObject(o, "model_path", model_path);
    cJSON_AddNumberToObject(o, "size_bytes", (double)d->weight_bytes);
    cJSON_AddNumberToObject(o, "n_params", (double)d->n_params);
    cJSON_AddStringToObject(o, "type", rz_type_name(d->weight_type));
    cJSON_AddStringToObject(o, "isa", rz_isa_name(rz_isa_active()));
    cJSON_AddNumberToObject(o, "threads", r->threads);
    cJSON_AddStringToObject(o, "test", test);
    cJSON_AddNumberToObject(o, "n_prompt", r->prompt ? r->n : 0);
    cJSON_AddNumberToObject(o, "n_gen", r->prompt ? 0 : r->n);
    cJSON_AddNumberToObject(o, "n_depth", r->depth);
    cJSON_AddNumberToObject(o, "n_ctx", r->n_ctx);
    cJSON_AddNumberToObject(o, "repetitions", reps);
    cJSON_AddNumberToObject(o, "tok_s_median", r->tps.median);
    cJSON_AddNumberToObject(o, "tok_s_mean", r->tps.mean);
    cJSON_AddNumberToObject(o, "tok_s_stddev", r->tps.stddev);
    cJSON_AddNumberToObject(o, "tok_s_min", r->tps.min);
    cJSON_AddNumberToObject(o, "tok_s_max", r->tps.max);
    cJSON *samples = cJSON_AddArrayToObject(o, "samples_tok_s");
    for (int i = 0; i < reps; i++)
        cJSON_AddItemToArray(samples, cJSON_CreateNumber(r->samples[i]));
    cJSON_AddNumberToObject(o, "bytes_per_token", bpt);
    /* Generation streams every weight once per token; a prompt batch shares one pass. */
    if (r->prompt)
        cJSON_AddNullToObject(o, "gb_per_s");
    else
        cJSON_AddNumberToObject(o, "gb_per_s", r->tps.median * bpt / 1e9);
    cJSON_AddNumberToObject(o, "max_rss_bytes", (double)r->max_rss);
    return o;
}

int rz_cmd_bench(int argc, char **argv) {
    rz_cli_model_opts o;
    rz_cli_model_opts_init(&o);
    int_list pp = {{512}, 1}, tg = {{128}, 1}, depths = {{0}, 1};
    int_list threads = {{rz_cpu_info_get()->physical_cores}, 1};
    int reps = 5;
    bool json = false;
    spec_bench sb = {.prompt = "Once upon a time", .draft_max = 8};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int_list *list = !strcmp(a, "-p") || !strcmp(a, "--n-prompt")  ? &pp
                         : !strcmp(a, "-n") || !strcmp(a, "--n-gen")   ? &tg
                         : !strcmp(a, "-d") || !strcmp(a, "--n-depth") ? &depths
                         : !strcmp(a, "-t") || !strcmp(a, "--threads") ? &threads
                                                                       : NULL;
        if (list) {
            if (!v || !parse_list(v, list == &threads ? 1 : 0, list))
                return rz_cli_usage_error("bench", "invalid list '%s' for %s", v ? v : "", a);
            i++;
            continue;
        }
        if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) {
            char *end;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || n < 1 || n > MAX_REPS)
                return rz_cli_usage_error("bench", "invalid value '%s' for %s (1..%d)", v ? v : "", a,
                                          MAX_REPS);
            reps = (int)n;
            i++;
            continue;
        }
        int r = rz_cli_parse_model_opt("bench", &o, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--lookup")) {
            sb.lookup = true;
        } else if (!strcmp(a, "--draft-model") && v) {
            sb.draft_path = argv[++i];
        } else if (!strcmp(a, "--spec-prompt") && v) {
            sb.prompt = argv[++i];
        } else if (!strcmp(a, "--draft-max") && v) {
            char *end;
            long n = strtol(v, &end, 10);
            if (*end || n < 1 || n > 256)
                return rz_cli_usage_error("bench", "invalid value '%s' for %s (1..256)", v, a);
            sb.draft_max = (int)n;
            i++;
        } else {
            return rz_cli_usage_error("bench", "unknown or incomplete option '%s' (see rz bench --help)", a);
        }
    }
    if (!o.model_path) return rz_cli_usage_error("bench", "no model given (-m MODEL)");
    int max_prompt = 1; /* tokens of a prompt or depth (generation draws them one by one) */
    for (int i = 0; i < pp.n; i++)
        max_prompt = pp.v[i] > max_prompt ? pp.v[i] : max_prompt;
    for (int i = 0; i < depths.n; i++)
        max_prompt = depths.v[i] > max_prompt ? depths.v[i] : max_prompt;

    rz_cli_placement_warn("bench", &o.context);
    rz_model *model;
    if (rz_model_load(o.model_path, &o.model, &model) != RZ_OK)
        return rz_cli_fail("bench", "cannot load model");
    if (sb.draft_path) {
        if (rz_model_load(sb.draft_path, &o.model, &sb.draft_model) != RZ_OK) {
            rz_model_free(model);
            return rz_cli_fail("bench", "cannot load the draft model");
        }
    }
    bench b = {
        .model = model, .base = o.context, .user_ctx = o.context.n_ctx != 0, .reps = reps, .rng = 1234};
    b.tokens = malloc((size_t)max_prompt * sizeof *b.tokens);
    result *r = malloc(sizeof *r);
    cJSON *rows = cJSON_CreateArray();
    int rc = !b.tokens || !r || !rows ? rz_cli_usage_error("bench", "out of memory") : 0;
    const rz_model_desc *d = rz_model_describe(model);
    if (rc == 0 && !json) {
        printf("| model | size | params | type | threads | test | tok/s |\n");
        printf("| --- | ---: | ---: | --- | ---: | --- | ---: |\n");
    }
    for (int ti = 0; ti < threads.n && rc == 0; ti++) {
        for (int kind = 0; kind < 2 && rc == 0; kind++) {
            const int_list *sizes = kind == 0 ? &pp : &tg;
            for (int k = 0; k < sizes->n && rc == 0; k++) {
                for (int di = 0; di < depths.n && rc == 0 && sizes->v[k] > 0; di++) {
                    rc = run_test(&b, threads.v[ti], depths.v[di], kind == 0, sizes->v[k], r);
                    if (rc != 0) break;
                    if (json)
                        cJSON_AddItemToArray(rows, json_row(o.model_path, model, r, reps));
                    else
                        print_row(o.model_path, d, r);
                    fflush(stdout);
                }
            }
        }
    }
    const bool speculate = sb.draft_model || sb.lookup;
    if (rc == 0 && speculate && !json) {
        printf("\n| model | speculation | threads | test | tok/s without | tok/s with | speedup | accepted | "
               "tokens/pass |\n");
        printf("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n");
    }
    for (int ti = 0; ti < threads.n && rc == 0 && speculate; ti++) {
        for (int k = 0; k < tg.n && rc == 0; k++) {
            if (tg.v[k] == 0) continue;
            spec_result sr;
            rc = run_spec_test(&b, &sb, threads.v[ti], tg.v[k], &sr);
            if (rc != 0) break;
            char what[300];
            snprintf(what, sizeof what, "%s, %d", sb.draft_model ? base_name(sb.draft_path) : "lookup",
                     sb.draft_max);
            if (json) {
                cJSON *row = cJSON_CreateObject();
                char test[32];
                snprintf(test, sizeof test, "spec%d", tg.v[k]);
                cJSON_AddStringToObject(row, "model", base_name(o.model_path));
                cJSON_AddStringToObject(row, "speculation", sb.draft_model ? "draft" : "lookup");
                if (sb.draft_model) cJSON_AddStringToObject(row, "draft_model", sb.draft_path);
                cJSON_AddNumberToObject(row, "draft_max", sb.draft_max);
                cJSON_AddNumberToObject(row, "threads", threads.v[ti]);
                cJSON_AddStringToObject(row, "test", test);
                cJSON_AddNumberToObject(row, "repetitions", reps);
                cJSON_AddNumberToObject(row, "tok_s_without", sr.base_tps);
                cJSON_AddNumberToObject(row, "tok_s_with", sr.spec_tps);
                cJSON_AddNumberToObject(row, "speedup", sr.spec_tps / sr.base_tps);
                cJSON_AddNumberToObject(row, "acceptance_rate", sr.acceptance);
                cJSON_AddNumberToObject(row, "tokens_per_target_pass", sr.tokens_per_pass);
                cJSON_AddItemToArray(rows, row);
            } else {
                printf("| %s | %s | %d | spec%d | %.2f | %.2f | %.2fx | %.1f%% | %.2f |\n",
                       base_name(o.model_path), what, threads.v[ti], tg.v[k], sr.base_tps, sr.spec_tps,
                       sr.spec_tps / sr.base_tps, 100.0 * sr.acceptance, sr.tokens_per_pass);
            }
            fflush(stdout);
        }
    }
    if (rc == 0 && json) {
        char *text = cJSON_Print(rows);
        if (text)
            puts(text);
        else
            rc = rz_cli_usage_error("bench", "out of memory");
        cJSON_free(text);
    }
    cJSON_Delete(rows);
    free(r);
    free(b.tokens);
    rz_model_free(sb.draft_model);
    rz_model_free(model);
    return rc;
}
