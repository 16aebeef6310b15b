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
    "usage: rz bench -m MODEL [-p LIST] [-n LIST] [-t LIST] [-r N] [--json] [options]\n"
    "For each thread count: prompt processing of P random tokens as one batch (test ppP), and generation\n"
    "of N tokens one at a time after a 1-token warm-up (test tgN), each in a fresh context, after one\n"
    "untimed warm-up run. Reports the median tok/s over the repetitions ± their standard deviation.\n"
    "  -p, --n-prompt LIST   prompt sizes, comma-separated; 0 skips (default 512)\n"
    "  -n, --n-gen LIST      generation lengths, comma-separated; 0 skips (default 128)\n"
    "  -t, --threads LIST    thread counts, comma-separated (default: physical cores)\n"
    "  -r, --repetitions N   timed runs per test (default 5)\n"
    "  --json                a JSON array with every figure (adds bytes_per_token, gb_per_s of token\n"
    "                        generation, peak resident memory)\n"
    "  -c, --ctx-size N      context size (default: what the test needs)\n"
    "  -m, -z, --cache-type-k, --cache-type-v as for rz run\n";

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
    int32_t *tokens; /* [max prompt] random ids */
} bench;

static int32_t random_token(bench *b) {
    b->rng = b->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (int32_t)((b->rng >> 33) % (uint64_t)rz_model_describe(b->model)->n_vocab);
}

/* One run: seconds spent on the timed part, or < 0 after printing the error. */
static double run_once(bench *b, rz_context *ctx, bool prompt, int n) {
    if (rz_context_truncate(ctx, 0) != RZ_OK) return rz_cli_fail("bench", "cannot reset the context"), -1;
    for (int i = 0; i < n; i++)
        b->tokens[i] = random_token(b);
    if (prompt) {
        const double t0 = rz_time_seconds();
        if (rz_decode(ctx, b->tokens, (uint32_t)n, NULL) != RZ_OK)
            return rz_cli_fail("bench", "decode failed"), -1;
        return rz_time_seconds() - t0;
    }
    int32_t token = random_token(b);
    if (rz_decode(ctx, &token, 1, NULL) != RZ_OK) return rz_cli_fail("bench", "decode failed"), -1;
    const double t0 = rz_time_seconds();
    for (int i = 0; i < n; i++)
        if (rz_decode(ctx, &b->tokens[i], 1, NULL) != RZ_OK) return rz_cli_fail("bench", "decode failed"), -1;
    return rz_time_seconds() - t0;
}

typedef struct result {
    int threads;
    bool prompt;
    int n;
    uint32_t n_ctx;
    stats tps;
    double samples[MAX_REPS];
    uint64_t max_rss;
} result;

static int run_test(bench *b, int threads, bool prompt, int n, result *r) {
    rz_context_params cp = b->base;
    cp.n_threads = threads;
    if (!b->user_ctx) cp.n_ctx = (uint32_t)(prompt ? n : n + 1);
    if (prompt && cp.n_batch < (uint32_t)n) cp.n_batch = (uint32_t)n; /* one forward pass */
    rz_context *ctx;
    if (rz_context_create(b->model, &cp, &ctx) != RZ_OK) return rz_cli_fail("bench", "cannot create context");
    int rc = 0;
    if (run_once(b, ctx, prompt, prompt ? n : 1) < 0) rc = 1;
    for (int i = 0; i < b->reps && rc == 0; i++) {
        const double t = run_once(b, ctx, prompt, n);
        if (t < 0) rc = 1;
        r->samples[i] = t > 0 ? n / t : INFINITY;
    }
    r->threads = threads;
    r->prompt = prompt;
    r->n = n;
    r->n_ctx = rz_context_n_ctx(ctx);
    rz_context_free(ctx);
    if (rc != 0) return rc;
    r->tps = compute_stats(r->samples, b->reps);
    struct rusage ru;
    r->max_rss = getrusage(RUSAGE_SELF, &ru) == 0 ? (uint64_t)ru.ru_maxrss * 1024 : 0;
    return 0;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static void print_row(const char *model_path, const rz_model_desc *d, const result *r) {
    char size[32], params[32], test[32], tps[48];
    if (d->weight_bytes >= (1ull << 30))
        snprintf(size, sizeof size, "%.2f GiB", (double)d->weight_bytes / (1ull << 30));
    else
        snprintf(size, sizeof size, "%.2f MiB", (double)d->weight_bytes / (1ull << 20));
    if (d->n_params >= 1000000000ull)
        snprintf(params, sizeof params, "%.2f B", d->n_params / 1e9);
    else
        snprintf(params, sizeof params, "%.2f M", d->n_params / 1e6);
    snprintf(test, sizeof test, "%s%d", r->prompt ? "pp" : "tg", r->n);
    snprintf(tps, sizeof tps, "%.2f ± %.2f", r->tps.median, r->tps.stddev);
    printf("| %s | %s | %s | %s | %d | %s | %s |\n", base_name(model_path), size, params,
           rz_type_name(d->weight_type), r->threads, test, tps);
}

static cJSON *json_row(const char *model_path, const rz_model *m, const result *r, int reps) {
    const rz_model_desc *d = rz_model_describe(m);
    const double bpt = (double)rz_model_bytes_per_token(m);
    char test[32];
    snprintf(test, sizeof test, "%s%d", r->prompt ? "pp" : "tg", r->n);
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
    int_list pp = {{512}, 1}, tg = {{128}, 1}, threads = {{rz_cpu_info_get()->physical_cores}, 1};
    int reps = 5;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int_list *list = !strcmp(a, "-p") || !strcmp(a, "--n-prompt")  ? &pp
                         : !strcmp(a, "-n") || !strcmp(a, "--n-gen")   ? &tg
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
        } else {
            return rz_cli_usage_error("bench", "unknown or incomplete option '%s' (see rz bench --help)", a);
        }
    }
    if (!o.model_path) return rz_cli_usage_error("bench", "no model given (-m MODEL)");
    int max_prompt = 1;
    for (int i = 0; i < pp.n; i++)
        max_prompt = pp.v[i] > max_prompt ? pp.v[i] : max_prompt;
    for (int i = 0; i < tg.n; i++)
        max_prompt = tg.v[i] > max_prompt ? tg.v[i] : max_prompt;

    rz_model *model;
    if (rz_model_load(o.model_path, &o.model, &model) != RZ_OK)
        return rz_cli_fail("bench", "cannot load model");
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
                if (sizes->v[k] == 0) continue;
                rc = run_test(&b, threads.v[ti], kind == 0, sizes->v[k], r);
                if (rc != 0) break;
                if (json)
                    cJSON_AddItemToArray(rows, json_row(o.model_path, model, r, reps));
                else
                    print_row(o.model_path, d, r);
                fflush(stdout);
            }
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
    rz_model_free(model);
    return rc;
}
