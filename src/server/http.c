/* HTTP side of rz serve: libmicrohttpd with one thread per connection (so a
 * handler may block on its job's events), routing, Bearer auth, OpenAI
 * response/stream formatting, the access log and graceful shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "ryzanstein_server.h"
#include "server/server.h"

typedef struct server {
    const rz_server_config *cfg;
    const char *model_id;
    srv_sched *sched;
    srv_metrics metrics;
    rz_chat_template tmpl;
    srv_limits limits;
    atomic_ulong next_id;
    atomic_int in_flight;
    time_t created;
    /* /v1/embeddings runs outside the generation slots, one request at a
     * time, on a context made on first use. */
    pthread_mutex_t embed_lock;
    rz_context *embed_ctx;
} server;

/* Per-choice accumulation (non-streaming) */
typedef struct choice {
    char *text;
    size_t len, cap;
    cJSON *logprobs; /* chat: content array; completions: the logprobs object */
    const char *finish_reason;
    bool done;
} choice;

typedef struct conn {
    server *srv;
    char id[40];
    unsigned long num;
    const char *method;
    int route;
    char *body;
    size_t len;
    bool too_large;
    double t0;
    int status;
    uint32_t prompt_tokens, completion_tokens;
    char *log_prompt;
    /* generation */
    srv_request req;
    bool have_req;
    srv_job *job;
    int fd;
    /* streaming */
    char *out;
    size_t out_len, out_pos, out_cap;
    int n_done;
    bool stream_done, stream_failed;
    srv_reply *reply; /* per choice: a chat stream split into reasoning and content */
    bool think_open;  /* the chat prompt ends inside a <think> section */
    time_t created;
} conn;

/* ---------------------------------------------------------------- helpers */

/* Model text as valid UTF-8 (invalid bytes become U+FFFD), for JSON. */
static char *utf8_clean(const char *s, size_t n) {
    char *out = malloc(n * 3 + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        const unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (ok && c != 0) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = '\0';
    return out;
}

static void add_clean_string(cJSON *obj, const char *key, const char *s, size_t n) {
    char *clean = utf8_clean(s, n);
    cJSON_AddStringToObject(obj, key, clean ? clean : "");
    free(clean);
}

static enum MHD_Result send_text(struct MHD_Connection *c, conn *cn, int status, char *text,
                                 const char *type) {
    if (!text) {
        status = 500;
        text = strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,"
                      "\"code\":null}}");
        if (!text) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 503) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    MHD_add_response_header(r, "X-Request-Id", cn->id);
    cn->status = status;
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, conn *cn, int status, cJSON *obj) {
    char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    return send_text(c, cn, status, text, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *c, conn *cn, const srv_error *err) {
    return send_text(c, cn, err->status, srv_error_json(err), "application/json");
}

static enum MHD_Result fail(struct MHD_Connection *c, conn *cn, int status, const char *type,
                            const char *code, const char *message) {
    srv_error err;
    srv_error_set(&err, status, type, NULL, code, "%s", message);
    return send_error(c, cn, &err);
}

/* Constant-time comparison, so keys cannot be guessed byte by byte. */
static bool key_matches(const char *given, const char *key) {
    const size_t n = strlen(key);
    if (strlen(given) != n) return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(given[i] ^ key[i]);
    return diff == 0;
}

static bool authorized(const server *srv, struct MHD_Connection *c) {
    if (srv->cfg->n_api_keys == 0) return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ')
        h++;
    bool ok = false;
    for (size_t i = 0; i < srv->cfg->n_api_keys; i++)
        ok |= key_matches(h, srv->cfg->api_keys[i]);
    return ok;
}

static bool client_gone(const conn *cn) {
    if (cn->fd < 0) return false;
    char b;
    const ssize_t r = recv(cn->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static bool timed_out(const conn *cn) {
    return cn->srv->cfg->timeout_s > 0 && rz_time_seconds() - cn->t0 > cn->srv->cfg->timeout_s;
}

/* Text to a malloc'd token array, sized by a second call when the first guess
 * is short (some vocabularies give more tokens than bytes). */
static rz_status tokenize_alloc(const rz_model *model, const char *text, bool add_special, bool parse_special,
                                int32_t **out, size_t *n) {
    const size_t len = strlen(text);
    size_t cap = len + 8;
    for (int attempt = 0; attempt < 2; attempt++) {
        int32_t *ids = malloc(cap * sizeof *ids);
        if (!ids) return rz_error(RZ_ERR_NOMEM, "out of memory");
        const rz_status st = rz_tokenize(model, text, len, add_special, parse_special, ids, cap, n);
        if (st == RZ_OK) {
            *out = ids;
            return RZ_OK;
        }
        free(ids);
        if (st != RZ_ERR_RANGE) return st;
        cap = *n;
    }
    return rz_error(RZ_ERR_RANGE, "tokenize: the token count changed between calls");
}

/* ------------------------------------------------------ simple endpoints */

static enum MHD_Result handle_models(struct MHD_Connection *c, conn *cn) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", cn->srv->model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)cn->srv->created);
    cJSON_AddStringToObject(m, "owned_by", "ryzanstein");
    cJSON_AddNumberToObject(m, "context_length", srv_sched_n_ctx(cn->srv->sched));
    cJSON_AddItemToArray(data, m);
    return send_json(c, cn, 200, root);
}

static enum MHD_Result handle_health(struct MHD_Connection *c, conn *cn) {
    const bool ok = srv_sched_can_accept(cn->srv->sched);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "status", ok ? "ok" : "busy");
    return send_json(c, cn, ok ? 200 : 503, root);
}

static enum MHD_Result handle_metrics(struct MHD_Connection *c, conn *cn) {
    srv_gauges g;
    srv_sched_gauges(cn->srv->sched, &g);
    return send_text(c, cn, 200, srv_metrics_format(&cn->srv->metrics, &g), "text/plain; version=0.0.4");
}

static cJSON *parse_object(struct MHD_Connection *c, conn *cn, enum MHD_Result *ret) {
    cJSON *root = cJSON_ParseWithLength(cn->body ? cn->body : "", cn->len);
    if (root && cJSON_IsObject(root)) return root;
    cJSON_Delete(root);
    *ret = fail(c, cn, 400, "invalid_request_error", NULL,
                "We could not parse the JSON body of your request: it must be a JSON object.");
    return NULL;
}

static enum MHD_Result handle_tokenize(struct MHD_Connection *c, conn *cn) {
    enum MHD_Result ret;
    cJSON *root = parse_object(c, cn, &ret);
    if (!root) return ret;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(root, "content");
    const cJSON *add = cJSON_GetObjectItemCaseSensitive(root, "add_special");
    if (!cJSON_IsString(content) || (add && !cJSON_IsBool(add))) {
        cJSON_Delete(root);
        return fail(c, cn, 400, "invalid_request_error", NULL,
                    "'content' must be a string and 'add_special' a boolean");
    }
    size_t n = 0;
    int32_t *ids = NULL;
    if (tokenize_alloc(cn->srv->cfg->model, content->valuestring, !add || cJSON_IsTrue(add), true, &ids,
                       &n) != RZ_OK) {
        cJSON_Delete(root);
        return fail(c, cn, 500, "server_error", NULL, rz_last_error());
    }
    cJSON_Delete(root);
    cn->prompt_tokens = (uint32_t)n;
    cJSON *out = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(out, "tokens");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateNumber(ids[i]));
    free(ids);
    return send_json(c, cn, 200, out);
}

/* OpenAI's clients ask for base64 by default: little-endian float32 bytes. */
static char *base64_floats(const float *v, size_t n) {
    static const char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *bytes = (const unsigned char *)v;
    const size_t len = n * sizeof *v;
    char *out = malloc((len + 2) / 3 * 4 + 1), *w = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len; i += 3) {
        const uint32_t chunk = (uint32_t)bytes[i] << 16 | (i + 1 < len ? (uint32_t)bytes[i + 1] << 8 : 0) |
                               (i + 2 < len ? bytes[i + 2] : 0);
        *w++ = digits[chunk >> 18];
        *w++ = digits[(chunk >> 12) & 63];
        *w++ = i + 1 < len ? digits[(chunk >> 6) & 63] : '=';
        *w++ = i + 2 < len ? digits[chunk & 63] : '=';
    }
    *w = '\0';
    return out;
}

/* One input of /v1/embeddings: a string, or an array of token ids. */
static rz_status embedding_tokens(const rz_model *model, const cJSON *item, int32_t **ids, size_t *n) {
    if (cJSON_IsString(item)) return tokenize_alloc(model, item->valuestring, true, false, ids, n);
    const int32_t n_vocab = rz_model_describe(model)->n_vocab;
    const int count = cJSON_GetArraySize(item);
    if (!cJSON_IsArray(item) || count == 0 || !(*ids = malloc((size_t)count * sizeof **ids)))
        return rz_error(RZ_ERR_INVALID_ARG,
                        "'input' must be a string, an array of strings, or token id arrays");
    const cJSON *t;
    *n = 0;
    cJSON_ArrayForEach(t, item) {
        if (!cJSON_IsNumber(t) || t->valuedouble < 0 || t->valuedouble >= n_vocab ||
            t->valuedouble != (int32_t)t->valuedouble) {
            free(*ids);
            *ids = NULL;
            return rz_error(RZ_ERR_INVALID_ARG, "'input' token ids must be integers in [0, %d)", n_vocab);
        }
        (*ids)[(*n)++] = (int32_t)t->valuedouble;
    }
    return RZ_OK;
}

static enum MHD_Result handle_embeddings(struct MHD_Connection *c, conn *cn) {
    server *srv = cn->srv;
    enum MHD_Result ret;
    cJSON *root = parse_object(c, cn, &ret);
    if (!root) return ret;
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(root, "encoding_format");
    const bool base64 = cJSON_IsString(format) && strcmp(format->valuestring, "base64") == 0;
    if ((format && !base64 && !(cJSON_IsString(format) && strcmp(format->valuestring, "float") == 0)) ||
        !(cJSON_IsString(input) || cJSON_IsArray(input))) {
        cJSON_Delete(root);
        srv_error err;
        srv_error_set(&err, 400, "invalid_request_error",
                      cJSON_IsString(input) || cJSON_IsArray(input) ? "encoding_format" : "input", NULL,
                      "'input' must be a string or an array; 'encoding_format' must be 'float' or 'base64'");
        return send_error(c, cn, &err);
    }
    /* A flat array of numbers is one tokenized input; any other array is a list of inputs. */
    const bool single =
        cJSON_IsString(input) || (cJSON_GetArraySize(input) > 0 && cJSON_IsNumber(input->child));
    const int n_inputs = single ? 1 : cJSON_GetArraySize(input);
    if (n_inputs == 0) {
        cJSON_Delete(root);
        srv_error err;
        srv_error_set(&err, 400, "invalid_request_error", "input", NULL, "'input' must not be empty");
        return send_error(c, cn, &err);
    }
    const int32_t n_embd = rz_model_describe(srv->cfg->model)->n_embd;
    float *vec = malloc((size_t)n_embd * sizeof *vec);
    cJSON *out = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(out, "data");
    int status = 200;
    const char *param = NULL;
    char message[300] = "";
    uint32_t total_tokens = 0;
    pthread_mutex_lock(&srv->embed_lock);
    if (!vec || (!srv->embed_ctx &&
                 rz_context_create(srv->cfg->model, &srv->cfg->context, &srv->embed_ctx) != RZ_OK)) {
        status = 500;
        snprintf(message, sizeof message, "%s", rz_last_error());
    }
    for (int i = 0; i < n_inputs && status == 200; i++) {
        const cJSON *item = single ? input : cJSON_GetArrayItem(input, i);
        int32_t *ids = NULL;
        size_t n = 0;
        rz_status st = embedding_tokens(srv->cfg->model, item, &ids, &n);
        if (st == RZ_OK) st = rz_embed(srv->embed_ctx, ids, (uint32_t)n, vec);
        free(ids);
        if (st != RZ_OK) {
            status = st == RZ_ERR_INVALID_ARG || st == RZ_ERR_RANGE ? 400 : 500;
            param = "input";
            snprintf(message, sizeof message, "input %d: %s", i, rz_last_error());
            break;
        }
        total_tokens += (uint32_t)n;
        cJSON *entry = cJSON_CreateObject();
        cJSON_AddStringToObject(entry, "object", "embedding");
        cJSON_AddNumberToObject(entry, "index", i);
        if (base64) {
            char *text = base64_floats(vec, (size_t)n_embd);
            cJSON_AddStringToObject(entry, "embedding", text ? text : "");
            free(text);
        } else {
            cJSON *values = cJSON_AddArrayToObject(entry, "embedding");
            for (int32_t k = 0; k < n_embd; k++)
                cJSON_AddItemToArray(values, cJSON_CreateNumber(vec[k]));
        }
        cJSON_AddItemToArray(data, entry);
    }
    pthread_mutex_unlock(&srv->embed_lock);
    cJSON_Delete(root);
    free(vec);
    if (status != 200) {
        cJSON_Delete(out);
        srv_error err;
        srv_error_set(&err, status, status == 400 ? "invalid_request_error" : "server_error", param, NULL,
                      "%s", message);
        return send_error(c, cn, &err);
    }
    cn->prompt_tokens = total_tokens;
    cJSON_AddStringToObject(out, "object", "list");
    cJSON_AddStringToObject(out, "model", srv->model_id);
    cJSON *usage = cJSON_AddObjectToObject(out, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", total_tokens);
    cJSON_AddNumberToObject(usage, "total_tokens", total_tokens);
    return send_json(c, cn, 200, out);
}

static enum MHD_Result handle_detokenize(struct MHD_Connection *c, conn *cn) {
    enum MHD_Result ret;
    cJSON *root = parse_object(c, cn, &ret);
    if (!root) return ret;
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "tokens"), *t;
    const int32_t n_vocab = rz_model_describe(cn->srv->cfg->model)->n_vocab;
    bool ok = cJSON_IsArray(tokens);
    const cJSON *list = ok ? tokens : NULL;
    cJSON_ArrayForEach(t, list) ok &= cJSON_IsNumber(t) && t->valuedouble >= 0 && t->valuedouble < n_vocab &&
                                      t->valuedouble == (int32_t)t->valuedouble;
    if (!ok) {
        cJSON_Delete(root);
        return fail(c, cn, 400, "invalid_request_error", NULL, "'tokens' must be an array of token ids");
    }
    const size_t n = (size_t)cJSON_GetArraySize(tokens);
    int32_t *ids = malloc((n + 1) * sizeof *ids);
    size_t i = 0, cap = n * 64 + 16, len = 0;
    char *text = malloc(cap);
    list = ids ? tokens : NULL;
    cJSON_ArrayForEach(t, list) ids[i++] = (int32_t)t->valuedouble;
    cJSON_Delete(root);
    if (!ids || !text || rz_detokenize(cn->srv->cfg->model, ids, n, text, cap, &len) != RZ_OK) {
        free(ids);
        free(text);
        return fail(c, cn, 500, "server_error", NULL, rz_last_error());
    }
    cJSON *out = cJSON_CreateObject();
    add_clean_string(out, "content", text, len);
    free(ids);
    free(text);
    return send_json(c, cn, 200, out);
}

/* ------------------------------------------------------------ generation */

static bool is_chat(const conn *cn) { return cn->req.kind == SRV_CHAT; }

static cJSON *new_object(const conn *cn, bool chunk) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", cn->id);
    cJSON_AddStringToObject(root, "object",
                            is_chat(cn) ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                        : "text_completion");
    cJSON_AddNumberToObject(root, "created", (double)cn->created);
    cJSON_AddStringToObject(root, "model", cn->srv->model_id);
    cJSON_AddStringToObject(root, "system_fingerprint", "rz-" RZ_VERSION_STRING);
    return root;
}

static cJSON *usage_object(const conn *cn) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", cn->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", cn->completion_tokens);
    cJSON_AddNumberToObject(u, "total_tokens", (double)cn->prompt_tokens + cn->completion_tokens);
    return u;
}

static cJSON *token_entry(const rz_model *model, int32_t token, double logprob, bool with_bytes) {
    char buf[256];
    size_t len = 0;
    if (rz_detokenize(model, &token, 1, buf, sizeof buf, &len) != RZ_OK) len = 0;
    cJSON *e = cJSON_CreateObject();
    add_clean_string(e, "token", buf, len);
    cJSON_AddNumberToObject(e, "logprob", logprob);
    if (with_bytes) {
        cJSON *bytes = cJSON_AddArrayToObject(e, "bytes");
        for (size_t i = 0; i < len; i++)
            cJSON_AddItemToArray(bytes, cJSON_CreateNumber((unsigned char)buf[i]));
    }
    return e;
}

/* Adds an event's token log-probabilities to a choice's logprobs JSON. */
static void add_logprobs(const conn *cn, cJSON *lp, const srv_event *ev, size_t text_offset) {
    const rz_model *model = cn->srv->cfg->model;
    if (is_chat(cn)) {
        cJSON *content = cJSON_GetObjectItemCaseSensitive(lp, "content");
        cJSON *e = token_entry(model, ev->logprobs[0].token, ev->logprobs[0].logprob, true);
        cJSON *top = cJSON_AddArrayToObject(e, "top_logprobs");
        for (int k = 1; k < ev->n_logprobs; k++)
            cJSON_AddItemToArray(top,
                                 token_entry(model, ev->logprobs[k].token, ev->logprobs[k].logprob, true));
        cJSON_AddItemToArray(content, e);
        return;
    }
    cJSON *e = token_entry(model, ev->logprobs[0].token, ev->logprobs[0].logprob, false);
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "tokens"),
                         cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "token"), true));
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs"),
                         cJSON_CreateNumber(ev->logprobs[0].logprob));
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "text_offset"),
                         cJSON_CreateNumber((double)text_offset));
    cJSON *top = cJSON_CreateObject();
    for (int k = 1; k < ev->n_logprobs; k++) {
        cJSON *t = token_entry(model, ev->logprobs[k].token, ev->logprobs[k].logprob, false);
        const char *key = cJSON_GetObjectItemCaseSensitive(t, "token")->valuestring;
        if (!cJSON_GetObjectItemCaseSensitive(top, key))
            cJSON_AddNumberToObject(top, key, ev->logprobs[k].logprob);
        cJSON_Delete(t);
    }
    cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(lp, "top_logprobs"), top);
    cJSON_Delete(e);
}

static cJSON *new_logprobs(const conn *cn) {
    cJSON *lp = cJSON_CreateObject();
    if (is_chat(cn)) {
        cJSON_AddArrayToObject(lp, "content");
    } else {
        cJSON_AddArrayToObject(lp, "tokens");
        cJSON_AddArrayToObject(lp, "token_logprobs");
        cJSON_AddArrayToObject(lp, "top_logprobs");
        cJSON_AddArrayToObject(lp, "text_offset");
    }
    return lp;
}

static void record_done(conn *cn, const srv_event *ev) {
    cn->completion_tokens += ev->n_gen;
    srv_metrics_generation(&cn->srv->metrics, ev->n_eval, ev->n_gen, ev->prompt_s, ev->gen_s, ev->ttft_s);
}

static enum MHD_Result generation_error(struct MHD_Connection *c, conn *cn, const char *message) {
    if (timed_out(cn)) {
        char msg[160];
        snprintf(msg, sizeof msg, "the request did not complete within the server's timeout of %g s",
                 cn->srv->cfg->timeout_s);
        return fail(c, cn, 408, "invalid_request_error", "timeout", msg);
    }
    if (strcmp(message, "the server is shutting down") == 0)
        return fail(c, cn, 503, "server_error", "shutting_down", message);
    return fail(c, cn, 500, "server_error", NULL, message);
}

static bool choice_append(const conn *cn, choice *h, const srv_event *ev) {
    if (h->len + ev->len + 1 > h->cap) {
        const size_t cap = (h->len + ev->len + 1) * 2;
        char *t = realloc(h->text, cap);
        if (!t) return false;
        h->text = t;
        h->cap = cap;
    }
    if (ev->n_logprobs) {
        if (!h->logprobs) h->logprobs = new_logprobs(cn);
        add_logprobs(cn, h->logprobs, ev, h->len);
    }
    memcpy(h->text + h->len, ev->text, ev->len);
    h->len += ev->len;
    h->text[h->len] = '\0';
    return true;
}

/* Splits harmony output (and, at its end, what was held back) into out,
 * whose buffers are one allocation: free out->content. */
static bool reply_split(srv_reply *h, const char *text, size_t len, bool end, srv_channels *out) {
    const size_t cap = len + SRV_REPLY_HELD;
    char *buf = malloc(2 * cap);
    if (!buf) return false;
    *out = (srv_channels){.content = buf, .reasoning = buf + cap};
    srv_reply_push(h, text, len, out);
    if (end) srv_reply_flush(h, out);
    return true;
}

/* Chat replies are split into reasoning and content: harmony channels, or
 * <think> sections unless the server keeps them. */
static bool splits_reply(const conn *cn) {
    return is_chat(cn) && (cn->srv->tmpl == RZ_CHAT_HARMONY || !cn->srv->cfg->keep_think);
}

static void reply_init(const conn *cn, srv_reply *r) {
    if (cn->srv->tmpl == RZ_CHAT_HARMONY)
        srv_reply_init_harmony(r);
    else
        srv_reply_init_think(r, cn->think_open);
}

/* A chat message: the text, or its answer as the content and its reasoning
 * (harmony's analysis, <think> sections) as "reasoning_content" (llama-server's name). */
static bool add_message(const conn *cn, cJSON *o, const choice *h) {
    cJSON *msg = cJSON_AddObjectToObject(o, "message");
    cJSON_AddStringToObject(msg, "role", "assistant");
    if (!splits_reply(cn)) {
        add_clean_string(msg, "content", h->text ? h->text : "", h->len);
        return true;
    }
    srv_reply parser;
    reply_init(cn, &parser);
    srv_channels out;
    if (!reply_split(&parser, h->text ? h->text : "", h->len, true, &out)) return false;
    add_clean_string(msg, "content", out.content, out.n_content);
    if (out.n_reasoning) add_clean_string(msg, "reasoning_content", out.reasoning, out.n_reasoning);
    free(out.content);
    return true;
}

static enum MHD_Result respond_whole(struct MHD_Connection *c, conn *cn) {
    const int n = cn->req.n;
    choice *ch = calloc((size_t)n, sizeof *ch);
    if (!ch) return fail(c, cn, 500, "server_error", NULL, "out of memory");
    char error[256] = "";
    int n_done = 0;
    double next_check = rz_time_seconds() + 0.1;
    while (n_done < n && !error[0]) {
        /* Every 100 ms, even while tokens flow: is the client still there, is time up? */
        if (rz_time_seconds() >= next_check) {
            next_check = rz_time_seconds() + 0.1;
            if (client_gone(cn) || timed_out(cn)) {
                cn->job->cancelled = true;
                snprintf(error, sizeof error, "request cancelled");
                break;
            }
        }
        srv_event *ev = srv_job_next(cn->job, 0.1);
        if (!ev) continue;
        choice *h = &ch[ev->index];
        if (ev->type == SRV_EV_TEXT) {
            if (!choice_append(cn, h, ev)) snprintf(error, sizeof error, "out of memory");
        } else if (ev->type == SRV_EV_DONE) {
            h->finish_reason = ev->finish_reason;
            h->done = true;
            n_done++;
            record_done(cn, ev);
        } else {
            snprintf(error, sizeof error, "%s", ev->text ? ev->text : "generation failed");
        }
        srv_event_free(ev);
    }
    enum MHD_Result ret;
    if (error[0]) {
        ret = generation_error(c, cn, error);
    } else {
        cJSON *root = new_object(cn, false);
        cJSON *choices = cJSON_AddArrayToObject(root, "choices");
        bool ok = true;
        for (int i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", i);
            if (is_chat(cn))
                ok &= add_message(cn, o, &ch[i]);
            else
                add_clean_string(o, "text", ch[i].text ? ch[i].text : "", ch[i].len);
            if (ch[i].logprobs) {
                cJSON_AddItemToObject(o, "logprobs", ch[i].logprobs);
                ch[i].logprobs = NULL;
            } else if (cn->req.logprobs)
                cJSON_AddItemToObject(o, "logprobs", new_logprobs(cn));
            else
                cJSON_AddNullToObject(o, "logprobs");
            cJSON_AddStringToObject(o, "finish_reason", ch[i].finish_reason);
            cJSON_AddItemToArray(choices, o);
        }
        cJSON_AddItemToObject(root, "usage", usage_object(cn));
        if (ok) {
            ret = send_json(c, cn, 200, root);
        } else {
            cJSON_Delete(root);
            ret = fail(c, cn, 500, "server_error", NULL, "out of memory");
        }
    }
    for (int i = 0; i < n; i++) {
        free(ch[i].text);
        cJSON_Delete(ch[i].logprobs);
    }
    free(ch);
    return ret;
}

static bool out_append(conn *cn, char *frame) {
    if (!frame) return false;
    const size_t n = strlen(frame);
    if (cn->out_len + n > cn->out_cap) {
        size_t cap = (cn->out_len + n) * 2;
        char *o = realloc(cn->out, cap);
        if (!o) {
            free(frame);
            return false;
        }
        cn->out = o;
        cn->out_cap = cap;
    }
    memcpy(cn->out + cn->out_len, frame, n);
    cn->out_len += n;
    free(frame);
    return true;
}

static cJSON *stream_chunk(const conn *cn, int index, cJSON **choice_out) {
    cJSON *root = new_object(cn, true);
    cJSON *choices = cJSON_AddArrayToObject(root, "choices");
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "index", index);
    cJSON_AddItemToArray(choices, o);
    if (cn->req.include_usage) cJSON_AddNullToObject(root, "usage");
    *choice_out = o;
    return root;
}

/* A text event's chunk; when the reply is split, the delta has its parts (and
 * `end` adds what the parser held back), and a chunk with neither nor
 * logprobs is left out. */
static bool stream_text(conn *cn, const srv_event *ev, bool end) {
    cJSON *o, *root = stream_chunk(cn, ev->index, &o);
    if (!is_chat(cn)) {
        add_clean_string(o, "text", ev->text, ev->len);
    } else if (!cn->reply) {
        add_clean_string(cJSON_AddObjectToObject(o, "delta"), "content", ev->text, ev->len);
    } else {
        srv_channels out;
        if (!reply_split(&cn->reply[ev->index], ev->text, ev->len, end, &out)) {
            cJSON_Delete(root);
            return false;
        }
        cJSON *delta = cJSON_AddObjectToObject(o, "delta");
        if (out.n_reasoning) add_clean_string(delta, "reasoning_content", out.reasoning, out.n_reasoning);
        if (out.n_content) add_clean_string(delta, "content", out.content, out.n_content);
        free(out.content);
        if (!out.n_reasoning && !out.n_content && !ev->n_logprobs) {
            cJSON_Delete(root);
            return true;
        }
    }
    if (ev->n_logprobs) {
        cJSON *lp = new_logprobs(cn);
        add_logprobs(cn, lp, ev, 0);
        cJSON_AddItemToObject(o, "logprobs", lp);
    } else {
        cJSON_AddNullToObject(o, "logprobs");
    }
    cJSON_AddNullToObject(o, "finish_reason");
    return out_append(cn, srv_sse_frame(root));
}

/* Turns one event into SSE frames in the output buffer. */
static bool stream_event(conn *cn, srv_event *ev) {
    cJSON *o, *root;
    if (ev->type == SRV_EV_ERROR) {
        srv_error err;
        srv_error_set(&err, 500, "server_error", NULL, NULL, "%s", ev->text ? ev->text : "generation failed");
        char *json = srv_error_json(&err);
        root = json ? cJSON_Parse(json) : NULL;
        free(json);
        cn->stream_failed = true;
        cn->stream_done = true;
        return out_append(cn, srv_sse_frame(root)) && out_append(cn, srv_sse_frame(NULL));
    }
    if (ev->type == SRV_EV_TEXT) return stream_text(cn, ev, false);
    if (cn->reply && !stream_text(cn, &(srv_event){.index = ev->index}, true)) return false;
    root = stream_chunk(cn, ev->index, &o);
    if (is_chat(cn))
        cJSON_AddObjectToObject(o, "delta");
    else
        cJSON_AddStringToObject(o, "text", "");
    cJSON_AddNullToObject(o, "logprobs");
    cJSON_AddStringToObject(o, "finish_reason", ev->finish_reason);
    record_done(cn, ev);
    bool ok = out_append(cn, srv_sse_frame(root));
    if (++cn->n_done == cn->req.n) {
        if (cn->req.include_usage) {
            cJSON *u = new_object(cn, true);
            cJSON_AddArrayToObject(u, "choices");
            cJSON_AddItemToObject(u, "usage", usage_object(cn));
            ok = ok && out_append(cn, srv_sse_frame(u));
        }
        ok = ok && out_append(cn, srv_sse_frame(NULL));
        cn->stream_done = true;
    }
    return ok;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    conn *cn = cls;
    while (cn->out_pos == cn->out_len) {
        if (cn->stream_done) return MHD_CONTENT_READER_END_OF_STREAM;
        cn->out_pos = cn->out_len = 0;
        /* A vanished client shows as a failed write; time is checked here. */
        srv_event *ev = timed_out(cn) ? NULL : srv_job_next(cn->job, 0.1);
        if (!ev) {
            if (client_gone(cn)) {
                cn->job->cancelled = true;
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            if (timed_out(cn)) {
                cn->job->cancelled = true;
                srv_error err;
                srv_error_set(&err, 408, "invalid_request_error", NULL, "timeout",
                              "the request did not complete within the server's timeout of %g s",
                              cn->srv->cfg->timeout_s);
                char *json = srv_error_json(&err);
                cJSON *root = json ? cJSON_Parse(json) : NULL;
                free(json);
                cn->stream_failed = cn->stream_done = true;
                if (!out_append(cn, srv_sse_frame(root)) || !out_append(cn, srv_sse_frame(NULL)))
                    return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            continue;
        }
        const bool ok = stream_event(cn, ev);
        srv_event_free(ev);
        if (!ok) {
            cn->job->cancelled = true;
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    size_t n = cn->out_len - cn->out_pos;
    if (n > max) n = max;
    memcpy(buf, cn->out + cn->out_pos, n);
    cn->out_pos += n;
    return (ssize_t)n;
}

static enum MHD_Result respond_stream(struct MHD_Connection *c, conn *cn) {
    if (splits_reply(cn)) {
        if (!(cn->reply = calloc((size_t)cn->req.n, sizeof *cn->reply)))
            return fail(c, cn, 500, "server_error", NULL, "out of memory");
        for (int i = 0; i < cn->req.n; i++)
            reply_init(cn, &cn->reply[i]);
    }
    if (is_chat(cn))
        for (int i = 0; i < cn->req.n; i++) {
            cJSON *o, *root = stream_chunk(cn, i, &o);
            cJSON *delta = cJSON_AddObjectToObject(o, "delta");
            cJSON_AddStringToObject(delta, "role", "assistant");
            cJSON_AddStringToObject(delta, "content", "");
            cJSON_AddNullToObject(o, "logprobs");
            cJSON_AddNullToObject(o, "finish_reason");
            if (!out_append(cn, srv_sse_frame(root)))
                return fail(c, cn, 500, "server_error", NULL, "out of memory");
        }
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, cn, NULL);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Request-Id", cn->id);
    cn->status = 200;
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* Whether a rendered chat prompt leaves the reply inside <think> (DeepSeek-R1's
 * template opens it; Qwen3's closes an empty one when thinking is off). */
static bool ends_in_think(const char *text) {
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    return n >= 7 && memcmp(text + n - 7, "<think>", 7) == 0;
}

static enum MHD_Result handle_generation(struct MHD_Connection *c, conn *cn, srv_kind kind) {
    server *srv = cn->srv;
    srv_error err;
    if (!srv_request_parse(kind, cn->body ? cn->body : "", cn->len, &srv->limits, &cn->req, &err))
        return send_error(c, cn, &err);
    cn->have_req = true;
    snprintf(cn->id, sizeof cn->id, "%s-%lu", kind == SRV_CHAT ? "chatcmpl" : "cmpl", cn->num);
    char *text = NULL;
    if (kind == SRV_CHAT) {
        rz_chat_fault fault;
        const rz_status s =
            rz_chat_render(srv->tmpl, cn->req.messages, cn->req.n_messages, time(NULL), &text, &fault);
        if (s == RZ_ERR_INVALID_ARG) {
            char param[48];
            snprintf(param, sizeof param, "messages[%zu].%s", fault.message, fault.field);
            srv_error_set(&err, 400, "invalid_request_error", param, NULL, "%s", rz_last_error());
            return send_error(c, cn, &err);
        }
        if (s != RZ_OK) return fail(c, cn, 500, "server_error", NULL, rz_last_error());
    } else if (!(text = strdup(cn->req.prompt))) {
        return fail(c, cn, 500, "server_error", NULL, "out of memory");
    }
    if (srv->cfg->log_prompts) cn->log_prompt = strdup(text);
    cn->think_open = kind == SRV_CHAT && ends_in_think(text);
    srv_job *job = cn->job = srv_job_new();
    if (!job || tokenize_alloc(srv->cfg->model, text, true, kind == SRV_CHAT, &job->prompt, &job->n_prompt) !=
                    RZ_OK) {
        free(text);
        return fail(c, cn, 500, "server_error", NULL, job ? rz_last_error() : "out of memory");
    }
    free(text);
    cn->prompt_tokens = (uint32_t)job->n_prompt;
    const uint32_t n_ctx = srv_sched_n_ctx(srv->sched);
    if (job->n_prompt == 0 || job->n_prompt >= n_ctx) {
        srv_error_set(&err, 400, "invalid_request_error", kind == SRV_CHAT ? "messages" : "prompt",
                      "context_length_exceeded",
                      "This model's maximum context length is %u tokens, but the prompt has %zu tokens "
                      "(at least one must be left to generate).",
                      n_ctx, job->n_prompt);
        return send_error(c, cn, &err);
    }
    int32_t room = (int32_t)(n_ctx - job->n_prompt);
    if (srv->cfg->max_tokens > 0 && srv->cfg->max_tokens < room) room = srv->cfg->max_tokens;
    job->max_tokens = cn->req.max_tokens > 0 && cn->req.max_tokens < room ? cn->req.max_tokens : room;
    job->n_choices = cn->req.n;
    job->logprobs = cn->req.logprobs;
    rz_sampler_params sp = rz_sampler_default_params();
    sp.temperature = cn->req.temperature;
    sp.top_k = 0;
    sp.top_p = cn->req.top_p;
    sp.min_p = 0;
    sp.repeat_penalty = 1;
    sp.presence_penalty = cn->req.presence_penalty;
    sp.frequency_penalty = cn->req.frequency_penalty;
    sp.seed = cn->req.has_seed ? cn->req.seed
                               : (uint64_t)time(NULL) * 6364136223846793005ull + atomic_load(&srv->next_id);
    job->sampling = sp;
    for (size_t i = 0; i < cn->req.n_stop; i++)
        if (!(job->stop[job->n_stop++] = strdup(cn->req.stop[i])))
            return fail(c, cn, 500, "server_error", NULL, "out of memory");
    for (const char *const *end = rz_chat_end_of_turn(srv->tmpl); kind == SRV_CHAT && *end; end++)
        if (!(job->stop[job->n_stop++] = strdup(*end)))
            return fail(c, cn, 500, "server_error", NULL, "out of memory");
    job->t_enqueued = cn->t0;
    if (srv_sched_submit(srv->sched, job) != RZ_OK)
        return fail(c, cn, 503, "server_error", "overloaded", rz_last_error());
    return cn->req.stream ? respond_stream(c, cn) : respond_whole(c, cn);
}

/* ----------------------------------------------------------------- router */

static enum MHD_Result handle_webui(struct MHD_Connection *c, conn *cn, const srv_asset *a) {
    if (strcmp(cn->method, "GET") != 0 && strcmp(cn->method, "HEAD") != 0)
        return fail(c, cn, 405, "invalid_request_error", "method_not_allowed", "use GET");
    struct MHD_Response *r = srv_webui_response(a);
    if (!r) return send_text(c, cn, 500, NULL, "application/json");
    MHD_add_response_header(r, "X-Request-Id", cn->id);
    cn->status = 200;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result route(struct MHD_Connection *c, conn *cn, const char *url) {
    server *srv = cn->srv;
    /* The chat page is public: it holds no secret, and asks the user for the key. */
    const srv_asset *asset = srv_webui_find(url);
    if (asset && !cn->too_large) return handle_webui(c, cn, asset);
    const bool get = strcmp(cn->method, "GET") == 0, post = strcmp(cn->method, "POST") == 0;
    const bool ops = strcmp(url, "/health") == 0 || strcmp(url, "/metrics") == 0;
    if ((!ops || srv->cfg->protect_ops) && !authorized(srv, c)) {
        const bool given =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION) != NULL;
        return fail(c, cn, 401, "invalid_request_error", "invalid_api_key",
                    given ? "Incorrect API key provided."
                          : "You didn't provide an API key: use 'Authorization: Bearer KEY'.");
    }
    if (cn->too_large) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body exceeds this server's limit of %zu bytes",
                 srv->cfg->max_body_bytes);
        return fail(c, cn, 413, "invalid_request_error", "request_too_large", msg);
    }
    static const struct {
        const char *path;
        bool post;
    } known[] = {{"/v1/chat/completions", true},
                 {"/v1/completions", true},
                 {"/v1/models", false},
                 {"/v1/embeddings", true},
                 {"/tokenize", true},
                 {"/detokenize", true},
                 {"/health", false},
                 {"/metrics", false}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(url, known[i].path) != 0) continue;
        if (known[i].post ? !post : !get)
            return fail(c, cn, 405, "invalid_request_error", "method_not_allowed",
                        known[i].post ? "use POST" : "use GET");
        switch (i) {
        case 0: return handle_generation(c, cn, SRV_CHAT);
        case 1: return handle_generation(c, cn, SRV_COMPLETION);
        case 2: return handle_models(c, cn);
        case 3: return handle_embeddings(c, cn);
        case 4: return handle_tokenize(c, cn);
        case 5: return handle_detokenize(c, cn);
        case 6: return handle_health(c, cn);
        default: return handle_metrics(c, cn);
        }
    }
    return fail(c, cn, 404, "invalid_request_error", "unknown_url", "unknown URL");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size,
                                  void **con_cls) {
    (void)version;
    server *srv = cls;
    conn *cn = *con_cls;
    if (!cn) {
        if (!(cn = calloc(1, sizeof *cn))) return MHD_NO;
        cn->srv = srv;
        cn->t0 = rz_time_seconds();
        cn->created = time(NULL);
        cn->method = method;
        cn->route = srv_route_index(url);
        cn->fd = -1;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) cn->fd = ci->connect_fd;
        cn->num = (unsigned long)atomic_fetch_add(&srv->next_id, 1);
        snprintf(cn->id, sizeof cn->id, "req-%lu", cn->num);
        atomic_fetch_add(&srv->in_flight, 1);
        *con_cls = cn;
        /* A declared oversized body is refused before it is sent. */
        const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (length && strtoull(length, NULL, 10) > srv->cfg->max_body_bytes) {
            cn->too_large = true;
            return route(c, cn, url);
        }
        return MHD_YES;
    }
    if (*upload_size > 0) {
        /* Without a Content-Length the excess is read and dropped, then refused. */
        if (cn->too_large || cn->len + *upload_size > srv->cfg->max_body_bytes) {
            cn->too_large = true;
        } else {
            char *b = realloc(cn->body, cn->len + *upload_size + 1);
            if (!b) return MHD_NO;
            memcpy(b + cn->len, upload, *upload_size);
            cn->body = b;
            cn->len += *upload_size;
            cn->body[cn->len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (cn->status) return MHD_YES; /* answered already (oversized body) */
    return route(c, cn, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    (void)c;
    server *srv = cls;
    conn *cn = *con_cls;
    if (!cn) return;
    *con_cls = NULL;
    const double latency = rz_time_seconds() - cn->t0;
    const bool aborted = toe != MHD_REQUEST_TERMINATED_COMPLETED_OK;
    if (cn->job) {
        cn->job->cancelled = true; /* frees the slot at once if still generating */
        srv_job_release(cn->job);
    }
    const int status = cn->status ? cn->status : 500;
    srv_metrics_request(&srv->metrics, cn->route, status);
    if (cn->route <= 1 && status == 200) {
        srv_metrics_latency(&srv->metrics, latency);
        srv_metrics_tokens(&srv->metrics, cn->prompt_tokens, cn->completion_tokens);
    }
    cJSON *log = cJSON_CreateObject();
    char ts[32];
    const time_t now = time(NULL);
    struct tm tm;
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    cJSON_AddStringToObject(log, "time", ts);
    cJSON_AddStringToObject(log, "id", cn->id);
    cJSON_AddStringToObject(log, "method", cn->method);
    cJSON_AddStringToObject(log, "route", srv_routes[cn->route]);
    cJSON_AddNumberToObject(log, "status", status);
    cJSON_AddNumberToObject(log, "prompt_tokens", cn->prompt_tokens);
    cJSON_AddNumberToObject(log, "completion_tokens", cn->completion_tokens);
    cJSON_AddNumberToObject(log, "latency_ms", (double)(int64_t)(latency * 1e4) / 10.0);
    if (aborted || cn->stream_failed) cJSON_AddBoolToObject(log, "incomplete", true);
    if (cn->log_prompt) add_clean_string(log, "prompt", cn->log_prompt, strlen(cn->log_prompt));
    char *line = cJSON_PrintUnformatted(log);
    if (line) fprintf(stderr, "%s\n", line);
    free(line);
    cJSON_Delete(log);
    if (cn->have_req) srv_request_free(&cn->req);
    free(cn->body);
    free(cn->out);
    free(cn->reply);
    free(cn->log_prompt);
    free(cn);
    atomic_fetch_sub(&srv->in_flight, 1);
}

/* ------------------------------------------------------------------- run */

/* Until no request is in flight, or for at most `seconds`. */
static void wait_idle(server *srv, double seconds) {
    const double until = rz_time_seconds() + seconds;
    while (atomic_load(&srv->in_flight) > 0 && rz_time_seconds() < until) {
        const struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
}

rz_server_config rz_server_default_config(void) {
    return (rz_server_config){.context = rz_context_default_params(),
                              .host = "127.0.0.1",
                              .port = 8080,
                              .n_parallel = 1,
                              .queue_size = 64,
                              .max_body_bytes = 1 << 20,
                              .max_n = 16,
                              .grace_s = 30,
                              .max_connections = 256};
}

rz_status rz_server_run(const rz_server_config *cfg, volatile sig_atomic_t *stop) {
    if (!cfg->model) return rz_error(RZ_ERR_INVALID_ARG, "serve: no model");
    if (!rz_model_describe(cfg->model)->has_vocab)
        return rz_error(RZ_ERR_UNSUPPORTED, "serve: the model has no tokenizer");
    if (!cfg->tls_cert_pem != !cfg->tls_key_pem)
        return rz_error(RZ_ERR_INVALID_ARG, "serve: TLS needs both a certificate and a key");
    server srv = {.cfg = cfg,
                  .model_id = cfg->model_id ? cfg->model_id : "default",
                  .created = time(NULL),
                  .limits = {.max_tokens = cfg->max_tokens, .max_n = cfg->max_n > 0 ? cfg->max_n : 1}};
    atomic_init(&srv.next_id, 1);
    pthread_mutex_init(&srv.embed_lock, NULL);
    atomic_init(&srv.in_flight, 0);
    if (cfg->chat_template) {
        if (rz_chat_template_from_name(cfg->chat_template, &srv.tmpl) != RZ_OK) {
            char why[256]; /* rz_error writes over rz_last_error's text */
            snprintf(why, sizeof why, "%s", rz_last_error());
            return rz_error(RZ_ERR_INVALID_ARG, "serve: %s", why);
        }
    } else {
        const rz_status s = rz_model_chat_template(cfg->model, &srv.tmpl);
        if (s == RZ_ERR_NOT_FOUND)
            fprintf(stderr, "rz serve: the model declares no chat template; using chatml\n");
        else if (s != RZ_OK)
            fprintf(stderr, "rz serve: warning: unrecognized chat template; falling back to chatml\n");
    }
    struct sockaddr_in6 a6 = {0};
    struct sockaddr_in a4 = {0};
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    const bool v6 = strchr(host, ':') != NULL;
    if (v6 ? inet_pton(AF_INET6, host, &a6.sin6_addr) != 1 : inet_pton(AF_INET, host, &a4.sin_addr) != 1)
        return rz_error(RZ_ERR_INVALID_ARG, "serve: '%s' is not an IP address", host);
    a6.sin6_family = AF_INET6;
    a6.sin6_port = htons(cfg->port);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(cfg->port);
    RZ_TRY(srv_sched_create(cfg->model, &cfg->context, cfg->n_parallel, cfg->queue_size, cfg, &srv.sched));
    srv_metrics_init(&srv.metrics);
    unsigned flags =
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (v6) flags |= MHD_USE_IPv6;
    if (cfg->tls_cert_pem) flags |= MHD_USE_TLS;
    struct MHD_OptionItem opts[] = {
        {MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, &srv},
        {MHD_OPTION_SOCK_ADDR, 0, v6 ? (void *)&a6 : (void *)&a4},
        {MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections > 0 ? cfg->max_connections : 256, NULL},
        {MHD_OPTION_CONNECTION_TIMEOUT, 60, NULL},
        {cfg->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, (void *)cfg->tls_cert_pem},
        {cfg->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, (void *)cfg->tls_key_pem},
        {MHD_OPTION_END, 0, NULL}};
    struct MHD_Daemon *d = MHD_start_daemon(flags, cfg->port, NULL, NULL, on_request, &srv, MHD_OPTION_ARRAY,
                                            opts, MHD_OPTION_END);
    if (!d) {
        srv_sched_free(srv.sched);
        srv_metrics_destroy(&srv.metrics);
        return rz_error(RZ_ERR_IO,
                        "serve: cannot listen on %s port %u (in use, or TLS key/certificate invalid)", host,
                        cfg->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr,
            "rz serve: listening on %s://%s%s%s:%u (model '%s', %d slots of %u tokens, chat template %s)\n",
            cfg->tls_cert_pem ? "https" : "http", v6 ? "[" : "", host, v6 ? "]" : "",
            di ? di->port : cfg->port, srv.model_id, cfg->n_parallel, srv_sched_n_ctx(srv.sched),
            rz_chat_template_name(srv.tmpl));
    while (!*stop) {
        const struct timespec nap = {0, 50 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    /* Stop accepting, give in-flight requests the grace period, then cancel. */
    fprintf(stderr, "rz serve: stopping; waiting up to %g s for %d requests\n", cfg->grace_s,
            atomic_load(&srv.in_flight));
    const int listen_fd = MHD_quiesce_daemon(d);
    if (listen_fd >= 0) close(listen_fd);
    wait_idle(&srv, cfg->grace_s);
    /* Cancelled requests get a 503; give them a moment to reach their clients. */
    srv_sched_stop(srv.sched);
    wait_idle(&srv, 1.0);
    MHD_stop_daemon(d);
    srv_sched_free(srv.sched);
    srv_metrics_destroy(&srv.metrics);
    rz_context_free(srv.embed_ctx);
    pthread_mutex_destroy(&srv.embed_lock);
    fprintf(stderr, "rz serve: stopped\n");
    return RZ_OK;
}
