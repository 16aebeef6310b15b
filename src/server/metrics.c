/* Server metrics in the Prometheus text format, and SSE framing. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

const char *const srv_routes[SRV_MAX_ROUTES] = {"/v1/chat/completions",
                                                "/v1/completions",
                                                "/v1/models",
                                                "/v1/embeddings",
                                                "/tokenize",
                                                "/detokenize",
                                                "/health",
                                                "/metrics",
                                                "/",
                                                "other"};
const int srv_statuses[SRV_MAX_STATUSES] = {200, 400, 401, 404, 405, 408, 413, 429, 500, 501, 503, 0};

static const double tps_bounds[SRV_HIST_BUCKETS] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
static const double time_bounds[SRV_HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10,  30};

void srv_metrics_init(srv_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->prompt_tps.bounds = tps_bounds;
    m->gen_tps.bounds = tps_bounds;
    m->ttft.bounds = time_bounds;
    m->latency.bounds = time_bounds;
}

void srv_metrics_destroy(srv_metrics *m) { pthread_mutex_destroy(&m->lock); }

int srv_route_index(const char *path) {
    for (int i = 0; i < SRV_MAX_ROUTES - 1; i++)
        if (strcmp(path, srv_routes[i]) == 0) return i;
    return SRV_MAX_ROUTES - 1;
}

static void observe(srv_histogram *h, double v) {
    int i = 0;
    while (i < SRV_HIST_BUCKETS && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void srv_metrics_request(srv_metrics *m, int route, int status) {
    int s = SRV_MAX_STATUSES - 1; /* 0: any other status */
    for (int i = 0; i < SRV_MAX_STATUSES - 1; i++)
        if (srv_statuses[i] == status) s = i;
    if (route < 0 || route >= SRV_MAX_ROUTES) route = SRV_MAX_ROUTES - 1;
    pthread_mutex_lock(&m->lock);
    m->requests[route][s]++;
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_tokens(srv_metrics *m, uint32_t n_prompt, uint32_t n_completion) {
    pthread_mutex_lock(&m->lock);
    m->prompt_tokens += n_prompt;
    m->completion_tokens += n_completion;
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_generation(srv_metrics *m, uint32_t n_eval, uint32_t n_gen, double prompt_s, double gen_s,
                            double ttft_s) {
    pthread_mutex_lock(&m->lock);
    if (n_eval > 0 && prompt_s > 0) observe(&m->prompt_tps, n_eval / prompt_s);
    if (n_gen > 1 && gen_s > 0) observe(&m->gen_tps, (n_gen - 1) / gen_s);
    if (ttft_s >= 0) observe(&m->ttft, ttft_s);
    pthread_mutex_unlock(&m->lock);
}

void srv_metrics_latency(srv_metrics *m, double seconds) {
    pthread_mutex_lock(&m->lock);
    observe(&m->latency, seconds);
    pthread_mutex_unlock(&m->lock);
}

typedef struct out {
    char *s;
    size_t len, cap;
    bool failed;
} out;

static void emit(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void emit(out *o, const char *fmt, ...) {
    if (o->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->s + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            o->failed = true;
            return;
        }
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n + 1) * 2;
        char *s = realloc(o->s, cap);
        if (!s) {
            o->failed = true;
            return;
        }
        o->s = s;
        o->cap = cap;
    }
}

static void histogram(out *o, const char *name, const char *help, const srv_histogram *h) {
    emit(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < SRV_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        emit(o, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
    }
    emit(o, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name, (unsigned long long)h->count,
         name, h->sum, name, (unsigned long long)h->count);
}

static void scalar(out *o, const char *name, const char *type, const char *help, double v) {
    emit(o, "# HELP %s %s\n# TYPE %s %s\n%s %.9g\n", name, help, name, type, name, v);
}

char *srv_metrics_format(srv_metrics *m, const srv_gauges *g) {
    out o = {.s = malloc(4096), .cap = 4096};
    if (!o.s) return NULL;
    pthread_mutex_lock(&m->lock);
    emit(&o, "# HELP rz_requests_total HTTP requests by route and status code.\n# TYPE rz_requests_total "
             "counter\n");
    for (int r = 0; r < SRV_MAX_ROUTES; r++)
        for (int s = 0; s < SRV_MAX_STATUSES; s++)
            if (m->requests[r][s])
                emit(&o, "rz_requests_total{route=\"%s\",code=\"%.0d%s\"} %llu\n", srv_routes[r],
                     srv_statuses[s], srv_statuses[s] ? "" : "other", (unsigned long long)m->requests[r][s]);
    scalar(&o, "rz_prompt_tokens_total", "counter", "Prompt tokens of completed generation requests.",
           (double)m->prompt_tokens);
    scalar(&o, "rz_completion_tokens_total", "counter", "Tokens generated for completed generation requests.",
           (double)m->completion_tokens);
    histogram(&o, "rz_prompt_tokens_per_second",
              "Prompt evaluation speed per sequence (tokens not reused from the cache).", &m->prompt_tps);
    histogram(&o, "rz_generation_tokens_per_second", "Generation speed per sequence.", &m->gen_tps);
    histogram(&o, "rz_time_to_first_token_seconds", "Time from request arrival to its first generated token.",
              &m->ttft);
    histogram(&o, "rz_request_duration_seconds", "Time to complete generation requests.", &m->latency);
    pthread_mutex_unlock(&m->lock);
    scalar(&o, "rz_queue_depth", "gauge", "Sequences waiting for a slot.", g->queue_depth);
    scalar(&o, "rz_slots_active", "gauge", "Slots generating.", g->slots_active);
    scalar(&o, "rz_slots", "gauge", "Slots configured.", g->slots_total);
    scalar(&o, "rz_kv_cache_tokens", "gauge",
           "Tokens held in the slots' KV caches (idle slots keep theirs for prefix reuse).",
           (double)g->kv_tokens);
    scalar(&o, "rz_kv_cache_usage_ratio", "gauge", "Used fraction of the KV cache capacity.",
           g->kv_capacity ? (double)g->kv_tokens / (double)g->kv_capacity : 0.0);
    if (o.failed) {
        free(o.s);
        return NULL;
    }
    return o.s;
}

char *srv_sse_frame(cJSON *obj) {
    char *json = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (obj && !json) return NULL;
    const char *body = json ? json : "[DONE]";
    const size_t n = strlen(body) + sizeof "data: \n\n";
    char *frame = malloc(n);
    if (frame) snprintf(frame, n, "data: %s\n\n", body);
    free(json);
    return frame;
}
