/* Chat templates: the common families, recognized in a model's Jinja
 * template by distinctive markers and rendered here in C (no Jinja engine).
 * The BOS token is left to the tokenizer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

static const char *const names[SRV_TMPL_COUNT] = {"chatml", "llama2", "llama3", "mistral",
                                                  "gemma",  "phi3",   "bitnet"};

const char *srv_template_name(srv_template t) { return (unsigned)t < SRV_TMPL_COUNT ? names[t] : "?"; }

bool srv_template_from_name(const char *name, srv_template *out) {
    for (int t = 0; t < SRV_TMPL_COUNT; t++)
        if (strcmp(name, names[t]) == 0) {
            *out = (srv_template)t;
            return true;
        }
    return false;
}

static bool has(const char *s, size_t len, const char *needle) {
    return memmem(s, len, needle, strlen(needle)) != NULL;
}

bool srv_template_detect(const char *j, size_t len, srv_template *out) {
    /* Most specific markers first: BitNet's template shares Llama 3's
     * <|eot_id|> but has plain "Role: " headers. */
    if (has(j, len, "<|im_start|>"))
        *out = SRV_TMPL_CHATML;
    else if (has(j, len, "<|start_header_id|>"))
        *out = SRV_TMPL_LLAMA3;
    else if (has(j, len, "<|eot_id|>") && has(j, len, "Assistant: "))
        *out = SRV_TMPL_BITNET;
    else if (has(j, len, "<start_of_turn>"))
        *out = SRV_TMPL_GEMMA;
    else if (has(j, len, "<|assistant|>") && has(j, len, "<|end|>"))
        *out = SRV_TMPL_PHI3;
    else if (has(j, len, "[INST]"))
        *out = has(j, len, "<<SYS>>") ? SRV_TMPL_LLAMA2 : SRV_TMPL_MISTRAL;
    else {
        *out = SRV_TMPL_CHATML;
        return false;
    }
    return true;
}

const char *srv_template_end_of_turn(srv_template t) {
    switch (t) {
    case SRV_TMPL_CHATML: return "<|im_end|>";
    case SRV_TMPL_LLAMA3:
    case SRV_TMPL_BITNET: return "<|eot_id|>";
    case SRV_TMPL_GEMMA: return "<end_of_turn>";
    case SRV_TMPL_PHI3: return "<|end|>";
    case SRV_TMPL_LLAMA2:
    case SRV_TMPL_MISTRAL:
    case SRV_TMPL_COUNT: break;
    }
    return "</s>";
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

static bool is(const srv_message *m, const char *role) { return strcmp(m->role, role) == 0; }

/* Llama 2 / Mistral: [INST] blocks; a system message joins the first user turn. */
static void render_inst(sbuf *b, const srv_message *m, size_t n, bool llama2) {
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

char *srv_template_render(srv_template t, const srv_message *m, size_t n) {
    sbuf b = {.s = malloc(256), .cap = 256};
    if (!b.s) return NULL;
    b.s[0] = '\0';
    switch (t) {
    case SRV_TMPL_LLAMA2:
    case SRV_TMPL_MISTRAL: render_inst(&b, m, n, t == SRV_TMPL_LLAMA2); break;
    case SRV_TMPL_LLAMA3:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>", m[i].role, m[i].content);
        put(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case SRV_TMPL_GEMMA: {
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
    case SRV_TMPL_PHI3:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|%s|>\n%s<|end|>\n", m[i].role, m[i].content);
        put(&b, "<|assistant|>\n");
        break;
    case SRV_TMPL_BITNET:
        for (size_t i = 0; i < n; i++) {
            const char *r = m[i].role;
            put(&b, "%c%s: %s<|eot_id|>", r[0] >= 'a' && r[0] <= 'z' ? r[0] - 'a' + 'A' : r[0], r + 1,
                m[i].content);
        }
        put(&b, "Assistant: ");
        break;
    case SRV_TMPL_CHATML:
    case SRV_TMPL_COUNT:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, m[i].content);
        put(&b, "<|im_start|>assistant\n");
        break;
    }
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
