/* Internals of the OpenAI-compatible server: request parsing and validation,
 * response/SSE formatting, metrics and the slot scheduler.
 * Uses only the public API (server -> runtime). */
#ifndef RZ_SERVER_SERVER_H
#define RZ_SERVER_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ryzanstein.h"
#include "ryzanstein_server.h"

/* ------------------------------------------------------------ requests */

typedef enum srv_kind { SRV_CHAT, SRV_COMPLETION } srv_kind;

#define SRV_MAX_STOPS 4

typedef struct srv_request {
    srv_kind kind;
    char *model;
    rz_chat_message *messages; /* chat (strings owned by the request) */
    size_t n_messages;
    char *prompt;       /* completions */
    int32_t max_tokens; /* -1: not given */
    float temperature, top_p, presence_penalty, frequency_penalty;
    int n;
    char *stop[SRV_MAX_STOPS];
    size_t n_stop;
    bool has_seed;
    uint64_t seed;
    int logprobs; /* 0: off; else top alternatives + 1 (chat: top_logprobs + 1) */
    bool stream, include_usage;
} srv_request;

/* An OpenAI error: {"error":{"message","type","param","code"}}. */
typedef struct srv_error {
    int status; /* HTTP status */
    const char *type;
    const char *code; /* NULL: null */
    char param[64];   /* "": null */
    char message[256];
} srv_error;

typedef struct srv_limits {
    int32_t max_tokens; /* 0: no limit */
    int max_n;
} srv_limits;

/* Parse and validate a request body; false with *err filled on failure. */
bool srv_request_parse(srv_kind kind, const char *body, size_t len, const srv_limits *limits,
                       srv_request *out, srv_error *err);
void srv_request_free(srv_request *r);
void srv_error_set(srv_error *err, int status, const char *type, const char *param, const char *code,
                   const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* The error object as JSON text (malloc'd; NULL when out of memory). */
char *srv_error_json(const srv_error *err);

/* -------------------------------------------------- reasoning output */

/* A reply split, as it streams, into its reasoning and the answer proper,
 * dropping the markers: gpt-oss's harmony messages ("<|channel|>analysis
 * <|message|>...<|end|><|start|>assistant<|channel|>final<|message|>...":
 * the analysis is the reasoning, headers are dropped), or "<think>...
 * </think>" sections (Qwen3, DeepSeek-R1; llama-server's "deepseek"
 * reasoning format). Markers may be cut anywhere between pushes. */
#define SRV_REPLY_HELD 16 /* bytes held back at most: a marker's beginning */

typedef struct srv_reply {
    bool think; /* <think> sections, not harmony */
    int state;
    bool reasoning; /* the current text is reasoning */
    char held[SRV_REPLY_HELD];
    size_t n_held;
    char channel[16]; /* harmony: the current channel's name (n_channel may exceed it) */
    size_t n_channel;
} srv_reply;

/* Caller's buffers the parser appends to; each must hold the bytes pushed
 * since it was last emptied plus SRV_REPLY_HELD. */
typedef struct srv_channels {
    char *content, *reasoning;
    size_t n_content, n_reasoning;
} srv_channels;

void srv_reply_init_harmony(srv_reply *h);
/* `open`: the prompt ended in "<think>", so the reply starts inside it. */
void srv_reply_init_think(srv_reply *h, bool open);
void srv_reply_push(srv_reply *h, const char *text, size_t len, srv_channels *out);
/* At the end of the output: held text that did not become a marker. */
void srv_reply_flush(srv_reply *h, srv_channels *out);

/* ------------------------------------------------------------- metrics */

#define SRV_HIST_BUCKETS 12

typedef struct srv_histogram {
    const double *bounds;                  /* SRV_HIST_BUCKETS upper bounds */
    uint64_t counts[SRV_HIST_BUCKETS + 1]; /* last: +Inf */
    double sum;
    uint64_t count;
} srv_histogram;

#define SRV_MAX_ROUTES   10
#define SRV_MAX_STATUSES 12

typedef struct srv_metrics {
    pthread_mutex_t lock;
    uint64_t requests[SRV_MAX_ROUTES][SRV_MAX_STATUSES];
    uint64_t prompt_tokens, completion_tokens;
    srv_histogram prompt_tps, gen_tps, ttft, latency;
} srv_metrics;

/* Point-in-time values read from the scheduler for the gauges. */
typedef struct srv_gauges {
    int queue_depth, slots_active, slots_total;
    uint64_t kv_tokens, kv_capacity;
} srv_gauges;

extern const char *const srv_routes[SRV_MAX_ROUTES];
extern const int srv_statuses[SRV_MAX_STATUSES];

void srv_metrics_init(srv_metrics *m);
void srv_metrics_destroy(srv_metrics *m);
/* Route index (of srv_routes) for a path; the last entry is "other". */
int srv_route_index(const char *path);
void srv_metrics_request(srv_metrics *m, int route, int status);
/* Token counters, once per completed request (as its usage reports them). */
void srv_metrics_tokens(srv_metrics *m, uint32_t n_prompt, uint32_t n_completion);
/* Speed histograms, once per sequence: n_eval prompt tokens evaluated (the
 * rest came from the slot's cache) in prompt_s, n_gen generated in gen_s. */
void srv_metrics_generation(srv_metrics *m, uint32_t n_eval, uint32_t n_gen, double prompt_s, double gen_s,
                            double ttft_s);
void srv_metrics_latency(srv_metrics *m, double seconds);
/* Prometheus text exposition format. malloc'd; NULL when out of memory. */
char *srv_metrics_format(srv_metrics *m, const srv_gauges *g);

/* -------------------------------------------------------------- SSE */

/* "data: <json>\n\n" for a JSON object (consumed) or "data: [DONE]\n\n" for
 * NULL. malloc'd; NULL when out of memory. */
char *srv_sse_frame(cJSON *obj);

/* ----------------------------------------------------------- scheduler */

/* One generated token as the HTTP side sees it. */
typedef struct srv_logprob {
    int32_t token;
    float logprob;
} srv_logprob;

typedef enum srv_event_type { SRV_EV_TEXT, SRV_EV_DONE, SRV_EV_ERROR } srv_event_type;

typedef struct srv_event {
    struct srv_event *next;
    srv_event_type type;
    int index; /* choice */
    char *text;
    size_t len;
    /* SRV_EV_TEXT with logprobs: the sampled token first, then alternatives. */
    srv_logprob *logprobs;
    int n_logprobs;
    /* SRV_EV_DONE */
    const char *finish_reason;
    uint32_t n_eval, n_gen; /* prompt tokens evaluated (not reused), generated */
    double ttft_s, prompt_s, gen_s;
} srv_event;

/* A request's sequences (one per choice) and the events they produce. */
typedef struct srv_job {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    srv_event *head, *tail;
    int refs;
    _Atomic bool cancelled; /* client gone, timed out, or shutdown */
    int n_choices;
    int32_t *prompt;
    size_t n_prompt;
    int32_t max_tokens;
    rz_sampler_params sampling;
    char *stop[SRV_MAX_STOPS + RZ_CHAT_MAX_END_OF_TURN];
    size_t n_stop;
    int logprobs;
    double t_enqueued;
} srv_job;

typedef struct srv_sched srv_sched;

rz_status srv_sched_create(const rz_model *model, const rz_context_params *cp, int n_slots, int queue_size,
                           const rz_server_config *spec_cfg, srv_sched **out);
/* Refuse new jobs and cancel queued and running ones (their waiters get an
 * error event). */
void srv_sched_stop(srv_sched *s);
/* Stop, join the scheduler thread and free everything. */
void srv_sched_free(srv_sched *s);
uint32_t srv_sched_n_ctx(const srv_sched *s);
/* Queue a job's sequences; RZ_ERR_RANGE when the queue is full. Takes a reference. */
rz_status srv_sched_submit(srv_sched *s, srv_job *job);
void srv_sched_gauges(srv_sched *s, srv_gauges *g);
/* Sequences queued or running. */
int srv_sched_busy(srv_sched *s);
bool srv_sched_can_accept(srv_sched *s);

srv_job *srv_job_new(void);
void srv_job_release(srv_job *job);
/* Wait up to timeout_s for an event; NULL on timeout. Caller frees the event. */
srv_event *srv_job_next(srv_job *job, double timeout_s);
void srv_event_free(srv_event *ev);

/* ------------------------------------------------------------- web chat */

/* A file of the chat page (src/server/webui), embedded at build time. */
typedef struct srv_asset {
    const char *path; /* URL path, e.g. "/" */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
} srv_asset;

extern const srv_asset srv_webui_assets[];
extern const size_t srv_webui_n_assets;

struct MHD_Response;
/* The asset served at a URL path, or NULL. */
const srv_asset *srv_webui_find(const char *path);
/* A response for an asset with its type, caching and security headers; NULL
 * when out of memory. */
struct MHD_Response *srv_webui_response(const srv_asset *a);

#endif
