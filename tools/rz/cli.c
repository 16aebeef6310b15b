#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <unistd.h>

int rz_cli_fail(const char *command, const char *what) {
    fprintf(stderr, "rz %s: %s: %s\n", command, what, rz_last_error());
    return 1;
}

int rz_cli_usage_error(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rz %s: ", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

char *rz_cli_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n < cap) continue;
        char *grown = realloc(buf, 2 * cap + 1);
        if (!grown) {
            free(buf);
            buf = NULL;
            errno = ENOMEM;
        }
        buf = grown;
        cap *= 2;
    }
    const int failed = buf && ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

void rz_cli_progress_init(rz_cli_progress *p, const char *label) {
    p->label = label;
    p->enabled = isatty(STDERR_FILENO);
    p->last_permille = -1;
}

void rz_cli_progress_update(void *user, uint64_t done, uint64_t total) {
    rz_cli_progress *p = user;
    if (!p->enabled || total == 0) return;
    int permille = (int)(done * 1000 / total);
    if (permille == p->last_permille) return;
    p->last_permille = permille;
    enum { WIDTH = 40 };
    int filled = permille * WIDTH / 1000;
    fprintf(stderr, "\r%s [", p->label);
    for (int i = 0; i < WIDTH; i++)
        fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %5.1f%%", permille / 10.0);
    fflush(stderr);
}

void rz_cli_progress_finish(rz_cli_progress *p) {
    if (p->enabled && p->last_permille >= 0) fputc('\n', stderr);
}

void rz_cli_model_opts_init(rz_cli_model_opts *o) {
    memset(o, 0, sizeof *o);
    o->model = rz_model_default_params();
    o->context = rz_context_default_params();
    o->sampling = rz_sampler_default_params();
}

const char rz_cli_model_opts_help[] =
    "  -m, --model PATH          model: GGUF, or llama2.c checkpoint\n"
    "  -z, --tokenizer PATH      llama2.c tokenizer.bin (for llama2.c checkpoints)\n"
    "  -t, --threads N           threads (default: physical cores)\n"
    "  -c, --ctx-size N          context size (default: the model's)\n"
    "  -b, --batch-size N        tokens per forward pass (default 256)\n"
    "  --no-repack               compute on the mapped file as stored (no copy into huge pages,\n"
    "                            no run-time layouts)\n"
    "  --lut                     ternary (I2_S) weights in the lookup-table layout (AVX-512):\n"
    "                            generation 4-13% faster, prompt processing 15-30% slower\n"
    "  -C, --cpu-mask M          CPUs the threads may use, a hex mask (0xff: CPUs 0-7); adds to -Cr\n"
    "  -Cr, --cpu-range lo-hi    CPUs lo..hi the threads may use; adds to -C\n"
    "  --cpu-strict 0|1          1: thread i runs on the i-th CPU of the mask alone (default 0: the OS\n"
    "                            moves the threads within the mask)\n"
    "  --prio N                  thread priority: -1 low, 0 normal, 1 medium, 2 high, 3 realtime\n"
    "                            (nice 5, 0, -5, -10, -20; above 0 needs CAP_SYS_NICE)\n"
    "  --numa TYPE               distribute: threads spread over the NUMA nodes, each node's weight rows\n"
    "                            moved to it; isolate: threads on the starting node's CPUs;\n"
    "                            numactl: threads on the CPUs the process was given (numactl, taskset)\n"
    "  -ctk, --cache-type-k TYPE K cache type: f32, f16, bf16, q8_0, q4_0 (default f32)\n"
    "  -ctv, --cache-type-v TYPE V cache type (default f32)\n"
    "  --temp T                  temperature; 0 = greedy (default 0.8)\n"
    "  --top-k N                 top-k (default 40; 0 = off)\n"
    "  --top-p P                 top-p (default 0.95; 1 = off)\n"
    "  --min-p P                 min-p (default 0.05; 0 = off)\n"
    "  --repeat-penalty F        repetition penalty (default 1 = off)\n"
    "  --repeat-last-n N         penalty window (default 64)\n"
    "  --presence-penalty F      presence penalty (default 0)\n"
    "  --frequency-penalty F     frequency penalty (default 0)\n"
    "  -s, --seed N              RNG seed\n";

static bool parse_long(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_float(const char *s, float *out) {
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || v != v) return false;
    *out = v;
    return true;
}

int rz_cli_parse_model_opt(const char *command, rz_cli_model_opts *o, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "--no-repack")) {
        o->model.no_repack = true;
        return 1;
    }
    if (!strcmp(a, "--lut")) {
        o->model.lut = true;
        return 1;
    }
    static const char *const with_value[] = {"-m",
                                             "--model",
                                             "-z",
                                             "--tokenizer",
                                             "-t",
                                             "--threads",
                                             "-c",
                                             "--ctx-size",
                                             "-b",
                                             "--batch-size",
                                             "-ctk",
                                             "--cache-type-k",
                                             "-ctv",
                                             "--cache-type-v",
                                             "--temp",
                                             "--top-k",
                                             "--top-p",
                                             "--min-p",
                                             "--repeat-penalty",
                                             "--repeat-last-n",
                                             "--presence-penalty",
                                             "--frequency-penalty",
                                             "-s",
                                             "--seed",
                                             "-C",
                                             "--cpu-mask",
                                             "-Cr",
                                             "--cpu-range",
                                             "--cpu-strict",
                                             "--prio",
                                             "--numa"};
    bool known = false;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
        known |= strcmp(a, with_value[k]) == 0;
    if (!known) return 0;
    if (*i + 1 >= argc) {
        rz_cli_usage_error(command, "option %s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    long long n;
    float f;
    bool ok = true;
    const char *why = NULL; /* the library's reason, when it gave one */
    if (!strcmp(a, "-C") || !strcmp(a, "--cpu-mask") || !strcmp(a, "-Cr") || !strcmp(a, "--cpu-range")) {
        rz_cpu_set *mask = &o->context.cpu_mask;
        ok = (!strcmp(a, "-Cr") || !strcmp(a, "--cpu-range") ? rz_cpu_set_parse_range(v, mask)
                                                             : rz_cpu_set_parse_mask(v, mask)) == RZ_OK &&
             rz_cpu_set_check(mask) == RZ_OK;
        why = ok ? NULL : rz_last_error();
    } else if (!strcmp(a, "--cpu-strict"))
        ok = (!strcmp(v, "0") || !strcmp(v, "1")) && (o->context.cpu_strict = v[0] == '1', true);
    else if (!strcmp(a, "--prio"))
        ok = parse_long(v, -1, 3, &n) && (o->context.prio = (int32_t)n, true);
    else if (!strcmp(a, "--numa")) {
        ok = rz_numa_parse(v, &o->context.numa) == RZ_OK;
        why = ok ? NULL : rz_last_error();
    } else if (!strcmp(a, "-m") || !strcmp(a, "--model"))
        o->model_path = v;
    else if (!strcmp(a, "-z") || !strcmp(a, "--tokenizer"))
        o->model.tokenizer_path = v;
    else if (!strcmp(a, "-t") || !strcmp(a, "--threads"))
        ok = parse_long(v, 1, 1024, &n) && (o->context.n_threads = (int32_t)n, true);
    else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size"))
        ok = parse_long(v, 0, INT32_MAX, &n) && (o->context.n_ctx = (uint32_t)n, true);
    else if (!strcmp(a, "-b") || !strcmp(a, "--batch-size"))
        ok = parse_long(v, 1, 1 << 16, &n) && (o->context.n_batch = (uint32_t)n, true);
    else if (!strcmp(a, "-ctk") || !strcmp(a, "--cache-type-k"))
        ok = rz_type_from_name(v, &o->context.type_k) == RZ_OK;
    else if (!strcmp(a, "-ctv") || !strcmp(a, "--cache-type-v"))
        ok = rz_type_from_name(v, &o->context.type_v) == RZ_OK;
    else if (!strcmp(a, "--temp"))
        ok = parse_float(v, &o->sampling.temperature);
    else if (!strcmp(a, "--top-k"))
        ok = parse_long(v, 0, INT32_MAX, &n) && (o->sampling.top_k = (int32_t)n, true);
    else if (!strcmp(a, "--top-p"))
        ok = parse_float(v, &o->sampling.top_p);
    else if (!strcmp(a, "--min-p"))
        ok = parse_float(v, &o->sampling.min_p);
    else if (!strcmp(a, "--repeat-penalty"))
        ok = parse_float(v, &f) && f > 0 && (o->sampling.repeat_penalty = f, true);
    else if (!strcmp(a, "--repeat-last-n"))
        ok = parse_long(v, 0, 1 << 20, &n) && (o->sampling.penalty_last_n = (int32_t)n, true);
    else if (!strcmp(a, "--presence-penalty"))
        ok = parse_float(v, &o->sampling.presence_penalty);
    else if (!strcmp(a, "--frequency-penalty"))
        ok = parse_float(v, &o->sampling.frequency_penalty);
    else if (!strcmp(a, "-s") || !strcmp(a, "--seed"))
        ok = parse_long(v, 0, INT64_MAX, &n) && (o->sampling.seed = (uint64_t)n, true);
    if (!ok) {
        rz_cli_usage_error(command, "invalid value '%s' for %s%s%s", v, a, why ? ": " : "", why ? why : "");
        return -1;
    }
    return 1;
}

void rz_cli_placement_warn(const char *command, const rz_context_params *p) {
    if (p->numa != RZ_NUMA_NONE && !rz_cpu_topology_get()->sysfs)
        fprintf(stderr,
                "rz %s: warning: cannot read the CPU topology under /sys/devices/system: --numa %s ignored "
                "(threads placed as without it)\n",
                command, rz_numa_name(p->numa));
}

bool rz_cli_placement_asked(const rz_context_params *p) {
    return rz_cpu_set_count(&p->cpu_mask) > 0 || p->cpu_strict || p->numa != RZ_NUMA_NONE;
}

int rz_cli_load(const char *command, const rz_cli_model_opts *o, rz_model **model, rz_context **ctx) {
    if (!o->model_path) return rz_cli_usage_error(command, "no model given (-m MODEL)");
    double t0 = rz_time_seconds();
    if (rz_model_load(o->model_path, &o->model, model) != RZ_OK)
        return rz_cli_fail(command, "cannot load model");
    rz_cli_placement_warn(command, &o->context);
    if (rz_context_create(*model, &o->context, ctx) != RZ_OK) {
        rz_model_free(*model);
        *model = NULL;
        return rz_cli_fail(command, "cannot create context");
    }
    if (rz_cli_placement_asked(&o->context)) fprintf(stderr, "placement: %s\n", rz_context_placement(*ctx));
    fprintf(stderr, "load time: %.1f ms\n", (rz_time_seconds() - t0) * 1e3);
    return 0;
}

int rz_cli_parse_ids(const char *command, const char *list, int32_t **ids, size_t *n) {
    size_t cap = 16, count = 0;
    int32_t *out = malloc(cap * sizeof *out);
    const char *p = list;
    while (out && *p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n')
            p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX) {
            free(out);
            return rz_cli_usage_error(command, "invalid token id list near '%.16s'", p);
        }
        if (count == cap) {
            int32_t *grown = realloc(out, 2 * cap * sizeof *out);
            if (!grown) break;
            out = grown;
            cap *= 2;
        }
        out[count++] = (int32_t)v;
        p = end;
    }
    if (!out) return rz_cli_usage_error(command, "out of memory");
    *ids = out;
    *n = count;
    return 0;
}
