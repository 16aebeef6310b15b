/* rz serve: the OpenAI-compatible HTTP server (flags as llama-server's). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ryzanstein_server.h"

#define MAX_API_KEYS 64

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static const char usage[] =
    "usage: rz serve -m MODEL [options]\n"
    "  --host ADDR               listen address (default 127.0.0.1)\n"
    "  --port N                  port (default 8080; 0 = any free port)\n"
    "  -np, --parallel N         slots decoded together (default 1); -c is per slot\n"
    "  --queue N                 requests waiting for a slot before 503 (default 64)\n"
    "  -a, --alias NAME          model id in the API (default: the file name)\n"
    "  --api-key KEY             require 'Authorization: Bearer KEY' (repeatable)\n"
    "  --api-key-file PATH       keys, one per line\n"
    "  --metrics-auth            require a key for /health and /metrics too\n"
    "  --max-body BYTES          largest request body (default 1048576)\n"
    "  --max-tokens N            largest max_tokens per choice (default: up to the context)\n"
    "  --max-n N                 largest n (default 16)\n"
    "  --timeout SECONDS         per-request limit (default 0 = none)\n"
    "  --grace SECONDS           on SIGTERM, time to finish requests (default 30)\n"
    "  --max-connections N       concurrent connections (default 256)\n"
    "  --chat-template NAME      chatml, llama2, llama3, mistral, gemma, phi3, bitnet, harmony\n"
    "  --reasoning-format F      deepseek (default: <think> sections as reasoning_content)\n"
    "                            or none (left in the content)\n"
    "  --tls-cert PATH, --tls-key PATH   serve HTTPS\n"
    "  --log-prompts             include prompts in the access log\n"
    "  --draft-model PATH        speculative decoding with this draft model (same vocabulary)\n"
    "  --draft-max N             tokens proposed per verification pass (default 8)\n"
    "  --lookup                  speculative decoding by prompt lookup\n";

static bool parse_num(const char *s, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    const double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

int rz_cmd_serve(int argc, char **argv) {
    rz_cli_model_opts o;
    rz_cli_model_opts_init(&o);
    rz_server_config cfg = rz_server_default_config();
    const char *keys[MAX_API_KEYS];
    size_t n_keys = 0;
    const char *key_file = NULL, *cert_path = NULL, *key_path = NULL, *draft_path = NULL;
    bool batch_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        batch_given |= !strcmp(a, "-b") || !strcmp(a, "--batch-size");
        int r = rz_cli_parse_model_opt("serve", &o, argc, argv, &i);
        if (r < 0) return 2;
        if (r > 0) continue;
        const bool has_value = i + 1 < argc;
        double v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s%s", usage, rz_cli_model_opts_help);
            return 0;
        } else if (!strcmp(a, "--metrics-auth")) {
            cfg.protect_ops = true;
        } else if (!strcmp(a, "--log-prompts")) {
            cfg.log_prompts = true;
        } else if (!strcmp(a, "--lookup")) {
            cfg.lookup = true;
        } else if (!has_value) {
            return rz_cli_usage_error("serve", "unknown or incomplete option '%s' (see rz serve --help)", a);
        } else if (!strcmp(a, "--host")) {
            cfg.host = argv[++i];
        } else if (!strcmp(a, "--port")) {
            if (!parse_num(argv[++i], 0, 65535, &v))
                return rz_cli_usage_error("serve", "invalid port '%s'", argv[i]);
            cfg.port = (uint16_t)v;
        } else if (!strcmp(a, "-np") || !strcmp(a, "--parallel")) {
            if (!parse_num(argv[++i], 1, 256, &v))
                return rz_cli_usage_error("serve", "--parallel must be 1..256");
            cfg.n_parallel = (int)v;
        } else if (!strcmp(a, "--queue")) {
            if (!parse_num(argv[++i], 0, 1 << 20, &v)) return rz_cli_usage_error("serve", "invalid --queue");
            cfg.queue_size = (int)v;
        } else if (!strcmp(a, "-a") || !strcmp(a, "--alias")) {
            cfg.model_id = argv[++i];
        } else if (!strcmp(a, "--api-key")) {
            if (n_keys == MAX_API_KEYS)
                return rz_cli_usage_error("serve", "at most %d API keys", MAX_API_KEYS);
            if (!argv[++i][0]) return rz_cli_usage_error("serve", "empty --api-key");
            keys[n_keys++] = argv[i];
        } else if (!strcmp(a, "--api-key-file")) {
            key_file = argv[++i];
        } else if (!strcmp(a, "--max-body")) {
            if (!parse_num(argv[++i], 64, 1 << 30, &v))
                return rz_cli_usage_error("serve", "--max-body must be 64..2^30");
            cfg.max_body_bytes = (size_t)v;
        } else if (!strcmp(a, "--max-tokens")) {
            if (!parse_num(argv[++i], 0, INT32_MAX, &v))
                return rz_cli_usage_error("serve", "invalid --max-tokens");
            cfg.max_tokens = (int32_t)v;
        } else if (!strcmp(a, "--max-n")) {
            if (!parse_num(argv[++i], 1, 64, &v)) return rz_cli_usage_error("serve", "--max-n must be 1..64");
            cfg.max_n = (int)v;
        } else if (!strcmp(a, "--timeout")) {
            if (!parse_num(argv[++i], 0, 1e6, &v)) return rz_cli_usage_error("serve", "invalid --timeout");
            cfg.timeout_s = v;
        } else if (!strcmp(a, "--grace")) {
            if (!parse_num(argv[++i], 0, 1e6, &v)) return rz_cli_usage_error("serve", "invalid --grace");
            cfg.grace_s = v;
        } else if (!strcmp(a, "--max-connections")) {
            if (!parse_num(argv[++i], 1, 1 << 16, &v))
                return rz_cli_usage_error("serve", "invalid --max-connections");
            cfg.max_connections = (int)v;
        } else if (!strcmp(a, "--chat-template")) {
            cfg.chat_template = argv[++i];
        } else if (!strcmp(a, "--reasoning-format")) {
            const char *f = argv[++i];
            if (strcmp(f, "none") != 0 && strcmp(f, "deepseek") != 0)
                return rz_cli_usage_error("serve", "--reasoning-format is none or deepseek");
            cfg.keep_think = strcmp(f, "none") == 0;
        } else if (!strcmp(a, "--draft-model")) {
            draft_path = argv[++i];
        } else if (!strcmp(a, "--draft-max")) {
            if (!parse_num(argv[++i], 1, 256, &v))
                return rz_cli_usage_error("serve", "--draft-max must be 1..256");
            cfg.n_draft = (int32_t)v;
        } else if (!strcmp(a, "--tls-cert")) {
            cert_path = argv[++i];
        } else if (!strcmp(a, "--tls-key")) {
            key_path = argv[++i];
        } else {
            return rz_cli_usage_error("serve", "unknown option '%s' (see rz serve --help)", a);
        }
    }
    if (!o.model_path) return rz_cli_usage_error("serve", "no model given (-m MODEL)");
    if (!cert_path != !key_path) return rz_cli_usage_error("serve", "--tls-cert and --tls-key go together");
    /* One forward pass must hold a token of every slot. */
    if (!batch_given && o.context.n_batch < (uint32_t)cfg.n_parallel)
        o.context.n_batch = (uint32_t)cfg.n_parallel;
    cfg.context = o.context;
    rz_cli_placement_warn("serve", &o.context);

    int rc = 0;
    char *key_text = NULL, *cert = NULL, *key = NULL;
    if (key_file) {
        if (!(key_text = rz_cli_read_file(key_file, NULL)))
            return rz_cli_usage_error("serve", "cannot read '%s'", key_file);
        for (char *save = NULL, *line = strtok_r(key_text, "\r\n", &save); line;
             line = strtok_r(NULL, "\r\n", &save)) {
            if (!line[0] || line[0] == '#') continue;
            if (n_keys == MAX_API_KEYS) {
                free(key_text);
                return rz_cli_usage_error("serve", "at most %d API keys", MAX_API_KEYS);
            }
            keys[n_keys++] = line;
        }
    }
    cfg.api_keys = keys;
    cfg.n_api_keys = n_keys;
    if (cert_path &&
        (!(cert = rz_cli_read_file(cert_path, NULL)) || !(key = rz_cli_read_file(key_path, NULL)))) {
        rc = rz_cli_usage_error("serve", "cannot read '%s'", cert ? key_path : cert_path);
    }
    rz_model *model = NULL, *draft = NULL;
    if (rc == 0 && rz_model_load(o.model_path, &o.model, &model) != RZ_OK)
        rc = rz_cli_fail("serve", "cannot load model");
    if (rc == 0 && draft_path) {
        if (rz_model_load(draft_path, NULL, &draft) != RZ_OK)
            rc = rz_cli_fail("serve", "cannot load the draft model");
        cfg.draft_model = draft;
    }
    if (rc == 0) {
        if (!cfg.model_id) {
            const char *slash = strrchr(o.model_path, '/');
            cfg.model_id = slash ? slash + 1 : o.model_path;
        }
        cfg.model = model;
        cfg.tls_cert_pem = cert;
        cfg.tls_key_pem = key;
        struct sigaction sa = {0};
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        if (rz_server_run(&cfg, &stop_requested) != RZ_OK) rc = rz_cli_fail("serve", "server failed");
    }
    rz_model_free(draft);
    rz_model_free(model);
    free(key_text);
    free(cert);
    free(key);
    return rc;
}
