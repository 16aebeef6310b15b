/* The generation loop: prompt evaluation, sampling, stop conditions, and
 * text streaming that never splits a UTF-8 character or shows a stop string. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

typedef struct text_stream {
    rz_token_callback on_token;
    void *user;
    const char *const *stops;
    size_t n_stops;
    char *held; /* text not yet passed on: it may start a stop string */
    size_t held_len, held_cap;
} text_stream;

/* Length of the longest suffix of s that is a proper prefix of a stop string. */
static size_t partial_stop_suffix(const text_stream *ts, const char *s, size_t n) {
    size_t best = 0;
    for (size_t k = 0; k < ts->n_stops; k++) {
        const size_t sl = strlen(ts->stops[k]);
        for (size_t len = sl - 1 < n ? sl - 1 : n; len > best; len--)
            if (memcmp(s + n - len, ts->stops[k], len) == 0) {
                best = len;
                break;
            }
    }
    return best;
}

/* Feeds a token's text; returns false when a stop string or the callback
 * ends generation (*hit_stop tells which). */
static rz_status stream_push(text_stream *ts, int32_t token, const char *text, size_t len, bool *keep_going,
                             bool *hit_stop) {
    *keep_going = true;
    *hit_stop = false;
    if (ts->held_len + len + 1 > ts->held_cap) {
        size_t cap = (ts->held_len + len + 1) * 2;
        char *held = realloc(ts->held, cap);
        if (!held) return rz_error(RZ_ERR_NOMEM, "out of memory");
        ts->held = held;
        ts->held_cap = cap;
    }
    memcpy(ts->held + ts->held_len, text, len);
    ts->held_len += len;
    ts->held[ts->held_len] = '\0';
    size_t emit = ts->held_len;
    for (size_t k = 0; k < ts->n_stops; k++) {
        const size_t sl = strlen(ts->stops[k]);
        if (sl == 0 || sl > ts->held_len) continue;
        const char *found = memmem(ts->held, ts->held_len, ts->stops[k], sl);
        if (found && (size_t)(found - ts->held) < emit) {
            emit = (size_t)(found - ts->held);
            *hit_stop = true;
        }
    }
    if (!*hit_stop) emit -= partial_stop_suffix(ts, ts->held, ts->held_len);
    if (ts->on_token && !ts->on_token(ts->user, token, ts->held, emit)) *keep_going = false;
    if (*hit_stop) {
        *keep_going = false;
        ts->held_len = 0;
        return RZ_OK;
    }
    memmove(ts->held, ts->held + emit, ts->held_len - emit);
    ts->held_len -= emit;
    return RZ_OK;
}

rz_status rz_generate(rz_context *ctx, rz_sampler *sampler, const int32_t *prompt, size_t n_prompt,
                      const rz_generate_params *params, rz_token_callback on_token, void *user,
                      rz_generate_result *result) {
    memset(result, 0, sizeof *result);
    const rz_model *model = rz_context_model(ctx);
    const uint32_t n_ctx = rz_context_n_ctx(ctx);
    if (n_prompt > n_ctx - rz_context_n_past(ctx))
        return rz_error(RZ_ERR_RANGE, "prompt of %zu tokens does not fit in the context (%u of %u used)", n_prompt,
                        rz_context_n_past(ctx), n_ctx);
    if (n_prompt == 0 && rz_get_logits(ctx, -1) == NULL)
        return rz_error(RZ_ERR_INVALID_ARG, "generate: empty prompt and no logits to continue from");

    double t0 = rz_time_seconds();
    if (n_prompt > 0) RZ_TRY(rz_decode(ctx, prompt, (uint32_t)n_prompt, NULL));
    for (size_t i = 0; i < n_prompt; i++) rz_sampler_accept(sampler, prompt[i]);
    result->n_prompt = (uint32_t)n_prompt;
    double t1 = rz_time_seconds();
    result->prompt_seconds = t1 - t0;

    text_stream ts = {.on_token = on_token, .user = user, .stops = params->stop_strings,
                      .n_stops = params->n_stop_strings};
    rz_detokenizer detok;
    rz_detokenizer_init(&detok, model);
    if (n_prompt > 0) detok.prev_token = prompt[n_prompt - 1];
    char piece[1024];
    rz_status status = RZ_OK;
    rz_stop_reason reason = RZ_STOP_NONE;
    while (reason == RZ_STOP_NONE) {
        if (params->n_predict >= 0 && result->n_generated >= (uint32_t)params->n_predict) {
            reason = RZ_STOP_LENGTH;
            break;
        }
        const int32_t token = rz_sampler_sample(sampler, rz_get_logits(ctx, -1));
        rz_sampler_accept(sampler, token);
        if (!params->ignore_end_token && rz_token_is_end(model, token)) {
            reason = RZ_STOP_END_TOKEN;
            break;
        }
        result->n_generated++;
        size_t len = 0;
        if (rz_model_describe(model)->has_vocab) {
            status = rz_detokenizer_push(&detok, token, piece, sizeof piece, &len);
            if (status != RZ_OK) break;
        }
        bool keep_going, hit_stop;
        status = stream_push(&ts, token, piece, len, &keep_going, &hit_stop);
        if (status != RZ_OK) break;
        if (!keep_going) {
            reason = hit_stop ? RZ_STOP_STRING : RZ_STOP_CALLBACK;
            break;
        }
        if (rz_context_n_past(ctx) >= n_ctx) {
            reason = RZ_STOP_CONTEXT;
            break;
        }
        status = rz_decode(ctx, &token, 1, NULL);
        if (status != RZ_OK) break;
    }
    /* Flush what was held back: a partial stop string or UTF-8 tail. */
    if (status == RZ_OK && reason != RZ_STOP_STRING && reason != RZ_STOP_CALLBACK) {
        if (detok.n_pending > 0) {
            bool keep_going, hit_stop;
            status = stream_push(&ts, -1, (const char *)detok.pending, (size_t)detok.n_pending, &keep_going,
                                 &hit_stop);
        }
        if (status == RZ_OK && ts.held_len > 0 && on_token) on_token(user, -1, ts.held, ts.held_len);
    }
    free(ts.held);
    result->stop_reason = reason;
    result->generate_seconds = rz_time_seconds() - t1;
    return status;
}
