/* A reply split as it streams into the answer and the reasoning: gpt-oss's
 * harmony channels, or <think> sections. A marker may arrive in parts (the
 * stop filter hands on text cut where a stop string might begin; a marker
 * may be spelled in ordinary tokens), so a text that may begin one is held
 * back until it is known. */
#include <string.h>

#include "server/server.h"

enum { IDLE, HEADER, CHANNEL, BODY, DONE };

static const char *const markers[] = {"<|start|>",  "<|channel|>", "<|message|>",  "<|end|>",
                                      "<|return|>", "<|call|>",    "<|constrain|>"};
enum { M_START, M_CHANNEL, M_MESSAGE, M_END, M_RETURN, M_CALL, M_CONSTRAIN, N_MARKERS };
static const char *const think_markers[] = {"<think>", "</think>"};
enum { M_THINK, M_UNTHINK, N_THINK_MARKERS };
enum { NO_MARKER = -1, PARTIAL = -2 };

_Static_assert(sizeof "<|constrain|>" <= SRV_REPLY_HELD, "the longest marker fits in held");

void srv_reply_init_harmony(srv_reply *h) { memset(h, 0, sizeof *h); }

void srv_reply_init_think(srv_reply *h, bool open) {
    memset(h, 0, sizeof *h);
    h->think = true;
    h->state = BODY;
    h->reasoning = open;
}

static int match(const srv_reply *h, const char *s, size_t n) {
    const char *const *list = h->think ? think_markers : markers;
    const int count = h->think ? N_THINK_MARKERS : N_MARKERS;
    int found = NO_MARKER;
    for (int k = 0; k < count; k++) {
        const size_t len = strlen(list[k]);
        if (n <= len && memcmp(s, list[k], n) == 0) {
            if (n == len) return k;
            found = PARTIAL;
        }
    }
    return found;
}

static void on_marker(srv_reply *h, int m) {
    if (h->think) {
        h->reasoning = m == M_THINK;
        return;
    }
    if (h->state == DONE) return;
    switch (m) {
    case M_START:
    case M_CONSTRAIN: h->state = HEADER; break;
    case M_CHANNEL:
        h->state = CHANNEL;
        h->n_channel = 0;
        break;
    case M_MESSAGE:
        h->state = BODY;
        h->reasoning = h->n_channel == 8 && memcmp(h->channel, "analysis", 8) == 0;
        break;
    case M_END: h->state = IDLE; break;
    default: h->state = DONE; break; /* <|return|>, <|call|>: the turn is over */
    }
}

static void on_text(srv_reply *h, char c, srv_channels *out) {
    switch (h->state) {
    case IDLE:
        /* Text outside any message (a model that does not speak harmony):
         * the answer itself. */
        h->state = BODY;
        h->reasoning = false;
        out->content[out->n_content++] = c;
        break;
    case CHANNEL:
        /* The name ends at a space ("commentary json", " to=..."). */
        if (c == ' ')
            h->state = HEADER;
        else if (h->n_channel++ < sizeof h->channel)
            h->channel[h->n_channel - 1] = c;
        break;
    case BODY:
        if (h->reasoning)
            out->reasoning[out->n_reasoning++] = c;
        else
            out->content[out->n_content++] = c;
        break;
    default: break; /* a header's role, recipient or content type */
    }
}

void srv_reply_push(srv_reply *h, const char *text, size_t len, srv_channels *out) {
    for (size_t i = 0; i < len; i++) {
        h->held[h->n_held++] = text[i];
        /* Until the held text is a marker or a marker's beginning, its first
         * byte is plain text. */
        while (h->n_held > 0) {
            const int m = match(h, h->held, h->n_held);
            if (m == PARTIAL) break;
            if (m != NO_MARKER) {
                h->n_held = 0;
                on_marker(h, m);
                break;
            }
            on_text(h, h->held[0], out);
            memmove(h->held, h->held + 1, --h->n_held);
        }
    }
}

void srv_reply_flush(srv_reply *h, srv_channels *out) {
    for (size_t i = 0; i < h->n_held; i++)
        on_text(h, h->held[i], out);
    h->n_held = 0;
}
