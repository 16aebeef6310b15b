/* Ryzanstein: OpenAI-compatible HTTP server (library libryzanstein_server).
 * Kept apart from ryzanstein.h so that the inference library itself does not
 * depend on the HTTP and JSON libraries. */
#ifndef RYZANSTEIN_SERVER_H
#define RYZANSTEIN_SERVER_H

#include <signal.h>

#include "ryzanstein.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rz_server_config {
    const rz_model *model;
    const char *model_id;        /* name reported by /v1/models; NULL = "default" */
    rz_context_params context;   /* per slot; n_batch is the tokens of one shared forward pass */
    const char *host;            /* listen address; NULL = "127.0.0.1" */
    uint16_t port;               /* 0 = any free port (printed on stderr) */
    int n_parallel;              /* slots (sequences decoded together) */
    int queue_size;              /* sequences waiting for a slot before 503 */
    const char *const *api_keys; /* Bearer keys (for everything but /health, /metrics); none: open */
    size_t n_api_keys;
    bool protect_ops;                       /* also require a key for /health and /metrics */
    size_t max_body_bytes;                  /* larger request bodies get 413 */
    int32_t max_tokens;                     /* per request and choice; 0 = up to the context */
    int max_n;                              /* largest `n` accepted */
    double timeout_s;                       /* per request; 0 = none */
    double grace_s;                         /* on stop: how long in-flight requests may finish */
    const char *chat_template;              /* family name overriding the model's; NULL = detect */
    bool keep_think;                        /* <think> sections stay in the content (llama-server's
                                               --reasoning-format none); else reasoning_content */
    const char *tls_cert_pem, *tls_key_pem; /* PEM text; both or neither */
    bool log_prompts;                       /* include prompts in the access log */
    int max_connections;                    /* concurrent HTTP connections (one thread each) */
    /* Speculative decoding per slot: with a draft model (same vocabulary) or
     * by prompt lookup. A speculating slot verifies its proposals in a pass
     * of its own; requests that ask for logprobs keep the shared passes. */
    const rz_model *draft_model;
    bool lookup;
    int32_t n_draft; /* proposals per verification pass (0: the default) */
} rz_server_config;

RZ_API rz_server_config rz_server_default_config(void);
/* Serve until *stop becomes nonzero (a signal handler may set it), then stop
 * accepting, let in-flight requests finish within grace_s, and return. */
RZ_API rz_status rz_server_run(const rz_server_config *config, volatile sig_atomic_t *stop);

#ifdef __cplusplus
}
#endif
#endif
