/* Stop strings over streamed text: text is passed on only once it can no
 * longer be the start of a stop string, and nothing from a stop string on. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

struct rz_stop_filter {
    char **stops;
    size_t n_stops;
    char *held; /* text not yet passed on: it may start a stop string */
    size_t held_len, held_cap;
    size_t consumed; /* bytes handed out by the last push, dropped on the next */
    bool stopped;
};

rz_status rz_stop_filter_create(const char *const *stops, size_t n_stops, rz_stop_filter **out) {
    *out = NULL;
    rz_stop_filter *f = calloc(1, sizeof *f);
    if (!f || (n_stops && !(f->stops = calloc(n_stops, sizeof *f->stops)))) {
        free(f);
        return rz_error(RZ_ERR_NOMEM, "out of memory");
    }
    for (size_t k = 0; k < n_stops; k++) {
        if (!stops[k] || !stops[k][0]) continue; /* an empty stop string never matches */
        if (!(f->stops[f->n_stops++] = strdup(stops[k]))) {
            rz_stop_filter_free(f);
            return rz_error(RZ_ERR_NOMEM, "out of memory");
        }
    }
    *out = f;
    return RZ_OK;
}

void rz_stop_filter_free(rz_stop_filter *f) {
    if (!f) return;
    for (size_t k = 0; k < f->n_stops; k++)
        free(f->stops[k]);
    free(f->stops);
    free(f->held);
    free(f);
}

/* Length of the longest suffix of s that is a proper prefix of a stop string. */
static size_t partial_stop_suffix(const rz_stop_filter *f, const char *s, size_t n) {
    size_t best = 0;
    for (size_t k = 0; k < f->n_stops; k++) {
        const size_t sl = strlen(f->stops[k]);
        for (size_t len = sl - 1 < n ? sl - 1 : n; len > best; len--)
            if (memcmp(s + n - len, f->stops[k], len) == 0) {
                best = len;
                break;
            }
    }
    return best;
}

static void drop_consumed(rz_stop_filter *f) {
    if (f->consumed == 0) return;
    memmove(f->held, f->held + f->consumed, f->held_len - f->consumed);
    f->held_len -= f->consumed;
    f->consumed = 0;
}

rz_status rz_stop_filter_push(rz_stop_filter *f, const char *text, size_t len, const char **out,
                              size_t *out_len, bool *hit_stop) {
    *out = "";
    *out_len = 0;
    *hit_stop = f->stopped;
    if (f->stopped) return RZ_OK;
    drop_consumed(f);
    if (f->held_len + len + 1 > f->held_cap) {
        const size_t cap = (f->held_len + len + 1) * 2;
        char *held = realloc(f->held, cap);
        if (!held) return rz_error(RZ_ERR_NOMEM, "out of memory");
        f->held = held;
        f->held_cap = cap;
    }
    if (len) memcpy(f->held + f->held_len, text, len);
    f->held_len += len;
    f->held[f->held_len] = '\0';
    size_t emit = f->held_len;
    for (size_t k = 0; k < f->n_stops; k++) {
        const size_t sl = strlen(f->stops[k]);
        if (sl > f->held_len) continue;
        const char *found = memmem(f->held, f->held_len, f->stops[k], sl);
        if (found && (size_t)(found - f->held) < emit) {
            emit = (size_t)(found - f->held);
            f->stopped = true;
        }
    }
    if (!f->stopped) emit -= partial_stop_suffix(f, f->held, f->held_len);
    *out = f->held;
    *out_len = emit;
    *hit_stop = f->stopped;
    /* After a stop the rest of the text is dropped with the next call. */
    f->consumed = f->stopped ? f->held_len : emit;
    return RZ_OK;
}

void rz_stop_filter_flush(rz_stop_filter *f, const char **out, size_t *out_len) {
    drop_consumed(f);
    *out = f->stopped || !f->held ? "" : f->held;
    *out_len = f->stopped ? 0 : f->held_len;
    f->consumed = f->held_len;
}
