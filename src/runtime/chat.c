/* Chat templates: the common families, recognized in a model's Jinja
 * template by distinctive markers and rendered here in C (no Jinja engine).
 * The BOS token is left to the tokenizer. The server and the bindings share
 * this one rendering. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "ryzanstein.h"

static const char *const names[RZ_CHAT_TEMPLATE_COUNT] = {"chatml", "llama2", "llama3", "mistral",
                                                          "gemma",  "phi3",   "bitnet", "harmony"};

const char *rz_chat_template_name(rz_chat_template t) {
    return (unsigned)t < RZ_CHAT_TEMPLATE_COUNT ? names[t] : "?";
}

rz_status rz_chat_template_from_name(const char *name, rz_chat_template *out) {
    for (int t = 0; t < RZ_CHAT_TEMPLATE_COUNT; t++)
        if (strcmp(name, names[t]) == 0) {
            *out = (rz_chat_template)t;
            return RZ_OK;
        }
    return rz_error(
        RZ_ERR_NOT_FOUND,
        "unknown chat template '%s' (chatml, llama2, llama3, mistral, gemma, phi3, bitnet, harmony)", name);
}

static bool has(const char *s, size_t len, const char *needle) {
    return memmem(s, len, needle, strlen(needle)) != NULL;
}

bool rz_chat_template_detect(const char *j, size_t len, rz_chat_template *out) {
    /* Most specific markers first: BitNet's template shares Llama 3's
     * <|eot_id|> but has plain "Role: " headers; gpt-oss's harmony shares
     * Phi-3's <|end|>. */
    if (has(j, len, "<|start|>") && has(j, len, "<|channel|>") && has(j, len, "<|message|>"))
        *out = RZ_CHAT_HARMONY;
    else if (has(j, len, "<|im_start|>"))
        *out = RZ_CHAT_CHATML;
    else if (has(j, len, "<|start_header_id|>"))
        *out = RZ_CHAT_LLAMA3;
    else if (has(j, len, "<|eot_id|>") && has(j, len, "Assistant: "))
        *out = RZ_CHAT_BITNET;
    else if (has(j, len, "<start_of_turn>"))
        *out = RZ_CHAT_GEMMA;
    else if (has(j, len, "<|assistant|>") && has(j, len, "<|end|>"))
        *out = RZ_CHAT_PHI3;
    else if (has(j, len, "[INST]"))
        *out = has(j, len, "<<SYS>>") ? RZ_CHAT_LLAMA2 : RZ_CHAT_MISTRAL;
    else {
        *out = RZ_CHAT_CHATML;
        return false;
    }
    return true;
}

const char *const *rz_chat_end_of_turn(rz_chat_template t) {
    static const char *const chatml[] = {"<|im_end|>", NULL};
    static const char *const llama3[] = {"<|eot_id|>", NULL};
    static const char *const gemma[] = {"<end_of_turn>", NULL};
    static const char *const phi3[] = {"<|end|>", NULL};
    static const char *const eos[] = {"</s>", NULL};
    /* <|end|> closes a harmony message, not the turn. */
    static const char *const harmony[] = {"<|return|>", "<|call|>", NULL};
    switch (t) {
    case RZ_CHAT_CHATML: return chatml;
    case RZ_CHAT_LLAMA3:
    case RZ_CHAT_BITNET: return llama3;
    case RZ_CHAT_GEMMA: return gemma;
    case RZ_CHAT_PHI3: return phi3;
    case RZ_CHAT_HARMONY: return harmony;
    case RZ_CHAT_LLAMA2:
    case RZ_CHAT_MISTRAL:
    case RZ_CHAT_TEMPLATE_COUNT: break;
    }
    return eos;
}

typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool failed;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = true;
            return;
        }
        b->s = s;
        b->cap = cap;
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

static bool is(const rz_chat_message *m, const char *role) { return strcmp(m->role, role) == 0; }

/* Llama 2 / Mistral: [INST] blocks; a system message joins the first user turn. */
static void render_inst(sbuf *b, const rz_chat_message *m, size_t n, bool llama2) {
    const char *sys = NULL;
    bool first = true;
    for (size_t i = 0; i < n; i++) {
        if (is(&m[i], "system")) {
            sys = m[i].content;
        } else if (is(&m[i], "assistant")) {
            put(b, llama2 ? " %s </s>" : "%s</s>", m[i].content);
        } else {
            put(b, "%s[INST] ", first ? "" : (llama2 ? "<s>" : ""));
            if (sys && llama2)
                put(b, "<<SYS>>\n%s\n<</SYS>>\n\n", sys);
            else if (sys)
                put(b, "%s\n\n", sys);
            sys = NULL;
            put(b, "%s [/INST]", m[i].content);
            first = false;
        }
    }
}

static rz_status refuse(rz_chat_fault *fault, size_t i, const char *field, const char *why) {
    if (fault) *fault = (rz_chat_fault){.message = i, .field = field};
    return rz_error(RZ_ERR_INVALID_ARG, "'messages[%zu].%s'%s", i, field, why);
}

/* gpt-oss's harmony format as its template renders a conversation without
 * tools, with its defaults: a fixed system message dated `now` (UTC), the
 * first system (or developer) message as the developer's instructions, user
 * and assistant turns (earlier assistant turns on the final channel alone:
 * the template drops their analysis), later system messages dropped. It
 * refuses what the template refuses. */
static rz_status render_harmony(sbuf *b, const rz_chat_message *m, size_t n, time_t now,
                                rz_chat_fault *fault) {
    char date[32];
    struct tm tm;
    strftime(date, sizeof date, "%Y-%m-%d", gmtime_r(&now, &tm));
    put(b,
        "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
        "Knowledge cutoff: 2024-06\nCurrent date: %s\n\nReasoning: medium\n\n# Valid channels: analysis, "
        "commentary, final. Channel must be included for every message.<|end|>",
        date);
    size_t i = 0;
    if (n > 0 && is(&m[0], "system")) {
        if (m[0].content[0])
            put(b, "<|start|>developer<|message|># Instructions\n\n%s\n\n<|end|>", m[0].content);
        i = 1;
    }
    for (; i < n; i++) {
        if (is(&m[i], "assistant")) {
            if (strstr(m[i].content, "<|channel|>analysis<|message|>") ||
                strstr(m[i].content, "<|channel|>final<|message|>"))
                return refuse(fault, i, "content",
                              " must not contain <|channel|> tags: pass the final text alone");
            put(b, "<|start|>assistant<|channel|>final<|message|>%s<|end|>", m[i].content);
        } else if (is(&m[i], "user")) {
            put(b, "<|start|>user<|message|>%s<|end|>", m[i].content);
        } else if (is(&m[i], "tool")) {
            return refuse(fault, i, "role", ": a tool message needs an earlier assistant tool call");
        }
    }
    put(b, "<|start|>assistant");
    return RZ_OK;
}

rz_status rz_chat_render(rz_chat_template t, const rz_chat_message *m, size_t n, int64_t now, char **out,
                         rz_chat_fault *fault) {
    *out = NULL;
    sbuf b = {.s = malloc(256), .cap = 256};
    if (!b.s) return rz_error(RZ_ERR_NOMEM, "chat: out of memory");
    b.s[0] = '\0';
    switch (t) {
    case RZ_CHAT_HARMONY: {
        const rz_status s = render_harmony(&b, m, n, (time_t)now, fault);
        if (s != RZ_OK) {
            free(b.s);
            return s;
        }
        break;
    }
    case RZ_CHAT_LLAMA2:
    case RZ_CHAT_MISTRAL: render_inst(&b, m, n, t == RZ_CHAT_LLAMA2); break;
    case RZ_CHAT_LLAMA3:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>", m[i].role, m[i].content);
        put(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case RZ_CHAT_GEMMA: {
        /* Gemma has no system role: the system text opens the next user turn. */
        const char *sys = NULL;
        for (size_t i = 0; i < n; i++) {
            if (is(&m[i], "system")) {
                sys = m[i].content;
                continue;
            }
            put(&b, "<start_of_turn>%s\n", is(&m[i], "assistant") ? "model" : "user");
            if (sys && !is(&m[i], "assistant")) {
                put(&b, "%s\n\n", sys);
                sys = NULL;
            }
            put(&b, "%s<end_of_turn>\n", m[i].content);
        }
        put(&b, "<start_of_turn>model\n");
        break;
    }
    case RZ_CHAT_PHI3:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|%s|>\n%s<|end|>\n", m[i].role, m[i].content);
        put(&b, "<|assistant|>\n");
        break;
    case RZ_CHAT_BITNET:
        for (size_t i = 0; i < n; i++) {
            const char *r = m[i].role;
            put(&b, "%c%s: %s<|eot_id|>", r[0] >= 'a' && r[0] <= 'z' ? r[0] - 'a' + 'A' : r[0], r + 1,
                m[i].content);
        }
        put(&b, "Assistant: ");
        break;
    case RZ_CHAT_CHATML:
    case RZ_CHAT_TEMPLATE_COUNT:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, m[i].content);
        put(&b, "<|im_start|>assistant\n");
        break;
    }
    if (b.failed) {
        free(b.s);
        return rz_error(RZ_ERR_NOMEM, "chat: out of memory");
    }
    *out = b.s;
    return RZ_OK;
}

rz_status rz_model_chat_template(const rz_model *model, rz_chat_template *out) {
    rz_str jinja;
    *out = RZ_CHAT_CHATML;
    if (rz_model_meta_str(model, "tokenizer.chat_template", &jinja) != RZ_OK)
        return rz_error(RZ_ERR_NOT_FOUND, "the model declares no chat template");
    if (!rz_chat_template_detect(jinja.ptr, (size_t)jinja.len, out))
        return rz_error(RZ_ERR_UNSUPPORTED, "unrecognized chat template");
    return RZ_OK;
}

void rz_free(void *p) { free(p); }
