/* OpenAI request bodies: parsing and validation, and error objects. Wrong
 * types and out-of-range values are 400 invalid_request_error naming the
 * parameter; unknown fields are ignored; null means "not given". */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

void srv_error_set(srv_error *err, int status, const char *type, const char *param, const char *code,
                   const char *fmt, ...) {
    err->status = status;
    err->type = type;
    err->code = code;
    snprintf(err->param, sizeof err->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
}

char *srv_error_json(const srv_error *err) {
    cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
    if (!e) {
        cJSON_Delete(root);
        return NULL;
    }
    cJSON_AddStringToObject(e, "message", err->message);
    cJSON_AddStringToObject(e, "type", err->type);
    if (err->param[0])
        cJSON_AddStringToObject(e, "param", err->param);
    else
        cJSON_AddNullToObject(e, "param");
    if (err->code)
        cJSON_AddStringToObject(e, "code", err->code);
    else
        cJSON_AddNullToObject(e, "code");
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static bool bad(srv_error *err, const char *param, const char *fmt, const char *detail) {
    srv_error_set(err, 400, "invalid_request_error", param, NULL, fmt, param, detail);
    return false;
}

/* The field, or NULL when absent or null. */
static const cJSON *field(const cJSON *obj, const char *name) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static bool get_number(const cJSON *obj, const char *name, double lo, double hi, float *out, srv_error *err) {
    const cJSON *v = field(obj, name);
    if (!v) return true;
    if (!cJSON_IsNumber(v)) return bad(err, name, "'%s' must be a number%s", "");
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        char range[64];
        snprintf(range, sizeof range, " between %g and %g", lo, hi);
        return bad(err, name, "'%s' must be a number%s", range);
    }
    *out = (float)v->valuedouble;
    return true;
}

static bool get_int(const cJSON *obj, const char *name, double lo, double hi, bool *given, double *out,
                    srv_error *err) {
    const cJSON *v = field(obj, name);
    *given = v != NULL;
    if (!v) return true;
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        return bad(err, name, "'%s' must be an integer%s", "");
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) {
        char range[64];
        snprintf(range, sizeof range, " between %.0f and %.0f", lo, hi);
        return bad(err, name, "'%s' must be an integer%s", range);
    }
    *out = v->valuedouble;
    return true;
}

static bool get_bool(const cJSON *obj, const char *name, bool *out, srv_error *err) {
    const cJSON *v = field(obj, name);
    if (!v) return true;
    if (!cJSON_IsBool(v)) return bad(err, name, "'%s' must be a boolean%s", "");
    *out = cJSON_IsTrue(v);
    return true;
}

static bool oom(srv_error *err) {
    srv_error_set(err, 500, "server_error", NULL, NULL, "out of memory");
    return false;
}

static bool dup_string(const char *s, char **out, srv_error *err) {
    return (*out = strdup(s)) != NULL || oom(err);
}

/* Message content: a string, or an array of {"type":"text","text":...} parts. */
static bool parse_content(const cJSON *c, const char *param, char **out, srv_error *err) {
    if (!c) return dup_string("", out, err);
    if (cJSON_IsString(c)) return dup_string(c->valuestring, out, err);
    if (!cJSON_IsArray(c)) return bad(err, param, "'%s' must be a string or an array of content parts%s", "");
    size_t total = 1;
    const cJSON *part;
    cJSON_ArrayForEach(part, c) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (!cJSON_IsObject(part) || !cJSON_IsString(type) || strcmp(type->valuestring, "text") != 0 ||
            !cJSON_IsString(text))
            return bad(err, param, "'%s' parts must be {\"type\": \"text\", \"text\": string}%s", "");
        total += strlen(text->valuestring);
    }
    char *s = malloc(total);
    if (!s) return oom(err);
    size_t at = 0;
    cJSON_ArrayForEach(part, c) {
        const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
        const size_t n = strlen(t);
        memcpy(s + at, t, n);
        at += n;
    }
    s[at] = '\0';
    *out = s;
    return true;
}

static bool parse_messages(const cJSON *root, srv_request *r, srv_error *err) {
    const cJSON *msgs = field(root, "messages");
    if (!msgs) return bad(err, "messages", "'%s' is required%s", "");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return bad(err, "messages", "'%s' must be a non-empty array%s", "");
    const size_t n = (size_t)cJSON_GetArraySize(msgs);
    if (!(r->messages = calloc(n, sizeof *r->messages))) return oom(err);
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        char param[48];
        snprintf(param, sizeof param, "messages[%zu]", r->n_messages);
        rz_chat_message *out = &r->messages[r->n_messages++];
        if (!cJSON_IsObject(m)) return bad(err, param, "'%s' must be an object%s", "");
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        static const char *const roles[] = {"system", "developer", "user", "assistant", "tool"};
        bool known = false;
        for (size_t k = 0; cJSON_IsString(role) && k < sizeof roles / sizeof roles[0]; k++)
            known |= strcmp(role->valuestring, roles[k]) == 0;
        snprintf(param, sizeof param, "messages[%zu].role", r->n_messages - 1);
        if (!known)
            return bad(err, param, "'%s' must be one of system, developer, user, assistant, tool%s", "");
        char *copy;
        if (!dup_string(strcmp(role->valuestring, "developer") == 0 ? "system" : role->valuestring, &copy,
                        err))
            return false;
        out->role = copy;
        snprintf(param, sizeof param, "messages[%zu].content", r->n_messages - 1);
        if (!parse_content(field(m, "content"), param, &copy, err)) return false;
        out->content = copy;
    }
    return true;
}

static bool parse_prompt(const cJSON *root, srv_request *r, srv_error *err) {
    const cJSON *p = field(root, "prompt");
    if (!p) return bad(err, "prompt", "'%s' is required%s", "");
    if (cJSON_IsArray(p)) {
        if (cJSON_GetArraySize(p) != 1 || !cJSON_IsString(cJSON_GetArrayItem(p, 0)))
            return bad(err, "prompt", "'%s' must be a string or an array of exactly one string%s", "");
        p = cJSON_GetArrayItem(p, 0);
    }
    if (!cJSON_IsString(p)) return bad(err, "prompt", "'%s' must be a string%s", "");
    return dup_string(p->valuestring, &r->prompt, err);
}

static bool parse_stop(const cJSON *root, srv_request *r, srv_error *err) {
    const cJSON *s = field(root, "stop");
    if (!s) return true;
    if (cJSON_IsString(s)) return dup_string(s->valuestring, &r->stop[r->n_stop++], err);
    if (!cJSON_IsArray(s) || cJSON_GetArraySize(s) > SRV_MAX_STOPS)
        return bad(err, "stop", "'%s' must be a string or an array of at most 4 strings%s", "");
    const cJSON *item;
    cJSON_ArrayForEach(item, s) {
        if (!cJSON_IsString(item))
            return bad(err, "stop", "'%s' must be a string or an array of strings%s", "");
        if (!dup_string(item->valuestring, &r->stop[r->n_stop++], err)) return false;
    }
    return true;
}

static bool parse_fields(const cJSON *root, const srv_limits *limits, srv_request *r, srv_error *err) {
    const cJSON *model = field(root, "model");
    if (!model) {
        srv_error_set(err, 400, "invalid_request_error", "model", NULL, "you must provide a model parameter");
        return false;
    }
    if (!cJSON_IsString(model)) return bad(err, "model", "'%s' must be a string%s", "");
    if (!dup_string(model->valuestring, &r->model, err)) return false;
    if (!(r->kind == SRV_CHAT ? parse_messages(root, r, err) : parse_prompt(root, r, err))) return false;

    bool given;
    double v;
    const double max_tokens = limits->max_tokens > 0 ? limits->max_tokens : INT32_MAX;
    static const char *const max_names[] = {"max_tokens", "max_completion_tokens"};
    for (size_t k = 0; k < 2; k++) {
        if (!get_int(root, max_names[k], 1, INT32_MAX, &given, &v, err)) return false;
        if (!given) continue;
        if (v > max_tokens) {
            srv_error_set(err, 400, "invalid_request_error", max_names[k], NULL,
                          "'%s' is %.0f, above this server's limit of %.0f tokens", max_names[k], v,
                          max_tokens);
            return false;
        }
        r->max_tokens = (int32_t)v;
    }
    if (!get_number(root, "temperature", 0, 2, &r->temperature, err)) return false;
    if (!get_number(root, "top_p", 0, 1, &r->top_p, err)) return false;
    if (!get_number(root, "presence_penalty", -2, 2, &r->presence_penalty, err)) return false;
    if (!get_number(root, "frequency_penalty", -2, 2, &r->frequency_penalty, err)) return false;
    if (!get_int(root, "n", 1, limits->max_n, &given, &v, err)) return false;
    if (given) r->n = (int)v;
    /* Seeds are 64-bit in the engine; JSON numbers are exact to 2^53. */
    if (!get_int(root, "seed", -9007199254740992.0, 9007199254740992.0, &r->has_seed, &v, err)) return false;
    if (r->has_seed) r->seed = (uint64_t)(int64_t)v;
    if (!parse_stop(root, r, err)) return false;

    if (r->kind == SRV_CHAT) {
        bool logprobs = false;
        if (!get_bool(root, "logprobs", &logprobs, err)) return false;
        if (!get_int(root, "top_logprobs", 0, 20, &given, &v, err)) return false;
        if (given && !logprobs) return bad(err, "top_logprobs", "'%s' needs 'logprobs' set to true%s", "");
        r->logprobs = logprobs ? 1 + (given ? (int)v : 0) : 0;
    } else {
        if (!get_int(root, "logprobs", 0, 5, &given, &v, err)) return false;
        r->logprobs = given ? 1 + (int)v : 0;
    }
    if (!get_bool(root, "stream", &r->stream, err)) return false;
    const cJSON *so = field(root, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so)) return bad(err, "stream_options", "'%s' must be an object%s", "");
        if (!r->stream) return bad(err, "stream_options", "'%s' is only allowed when 'stream' is true%s", "");
        if (!get_bool(so, "include_usage", &r->include_usage, err)) return false;
    }
    return true;
}

bool srv_request_parse(srv_kind kind, const char *body, size_t len, const srv_limits *limits, srv_request *r,
                       srv_error *err) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->max_tokens = -1;
    r->temperature = 1.0f;
    r->top_p = 1.0f;
    r->n = 1;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        srv_error_set(err, 400, "invalid_request_error", NULL, NULL,
                      "We could not parse the JSON body of your request: it must be a JSON object.");
        return false;
    }
    const bool ok = parse_fields(root, limits, r, err);
    cJSON_Delete(root);
    if (!ok) srv_request_free(r);
    return ok;
}

void srv_request_free(srv_request *r) {
    free(r->model);
    for (size_t i = 0; i < r->n_messages; i++) {
        free((char *)r->messages[i].role);
        free((char *)r->messages[i].content);
    }
    free(r->messages);
    free(r->prompt);
    for (size_t i = 0; i < r->n_stop; i++)
        free(r->stop[i]);
    memset(r, 0, sizeof *r);
}
