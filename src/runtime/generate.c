/* The generation loop: prompt evaluation, sampling, stop conditions, and
 * text streaming that never splits a UTF-8 character or shows a stop string. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"

/* Feeds a token's text through the stop filter to the callback; *keep_going
 * is false when a stop string or the callback ends generation. */
static rz_status stream_push(rz_stop_filter *f, rz_token_callback on_token, void *user, int32_t token,
                             const char *text, size_t len, bool *keep_going, bool *hit_stop) {
    const char *out;
    size_t out_len;
    RZ_TRY(rz_stop_filter_push(f, text, len, &out, &out_len, hit_stop));
    *keep_going = !*hit_stop;
    if (on_token && !on_token(user, token, out, out_len)) *keep_going = false;
    return RZ_OK;
}

enum { QUEUE = 257 }; /* most tokens one speculation step yields */

struct rz_generation {
    rz_context *ctx;
    rz_sampler *sampler;
    rz_generate_params params;
    uint32_t n_ctx;
    rz_stop_filter *stops;
    rz_detokenizer detok;
    /* Speculation: queued[qi .. nq) are output tokens of the last step not
     * yet emitted; all but the final one are in the cache already. */
    int32_t queued[QUEUE];
    uint32_t nq, qi;
    uint32_t n_committed; /* cache length matching the emitted tokens */
    rz_stop_reason reason;
    bool done;
    double t1; /* when generation (after the prompt) began */
    rz_generate_result result;
    char piece[1024];
};

rz_status rz_generation_begin(rz_context *ctx, rz_sampler *sampler, const int32_t *prompt, size_t n_prompt,
                              const rz_generate_params *params, rz_generation **out) {
    *out = NULL;
    const uint32_t n_ctx = rz_context_n_ctx(ctx);
    if (n_prompt > n_ctx - rz_context_n_past(ctx))
        return rz_error(RZ_ERR_RANGE, "prompt of %zu tokens does not fit in the context (%u of %u used)",
                        n_prompt, rz_context_n_past(ctx), n_ctx);
    if (n_prompt == 0 && rz_get_logits(ctx, -1) == NULL)
        return rz_error(RZ_ERR_INVALID_ARG, "generate: empty prompt and no logits to continue from");
    rz_generation *g = calloc(1, sizeof *g);
    if (!g) return rz_error(RZ_ERR_NOMEM, "generate: out of memory");
    *g = (rz_generation){.ctx = ctx, .sampler = sampler, .params = *params, .n_ctx = n_ctx};
    const double t0 = rz_time_seconds();
    rz_speculator *spec = params->speculator;
    rz_status status = n_prompt > 0 ? rz_decode(ctx, prompt, (uint32_t)n_prompt, NULL) : RZ_OK;
    if (status == RZ_OK && spec) status = rz_speculator_push(spec, prompt, n_prompt);
    if (status == RZ_OK)
        status = rz_stop_filter_create(params->stop_strings, params->n_stop_strings, &g->stops);
    if (status != RZ_OK) {
        free(g);
        return status;
    }
    for (size_t i = 0; i < n_prompt; i++)
        rz_sampler_accept(sampler, prompt[i]);
    g->result.n_prompt = (uint32_t)n_prompt;
    g->t1 = rz_time_seconds();
    g->result.prompt_seconds = g->t1 - t0;
    rz_detokenizer_init(&g->detok, rz_context_model(ctx));
    if (n_prompt > 0) g->detok.prev_token = prompt[n_prompt - 1];
    g->n_committed = rz_context_n_past(ctx);
    *out = g;
    return RZ_OK;
}

/* One token: sample it (or take it from the speculation queue), stream its
 * text, and evaluate it; g->reason is set when generation stops instead. */
static rz_status next_token(rz_generation *g, rz_token_callback on_token, void *user) {
    const rz_generate_params *params = &g->params;
    const rz_model *model = rz_context_model(g->ctx);
    rz_generate_result *result = &g->result;
    if (params->n_predict >= 0 && result->n_generated >= (uint32_t)params->n_predict) {
        g->reason = RZ_STOP_LENGTH;
        return RZ_OK;
    }
    const bool from_queue = g->qi < g->nq;
    int32_t token;
    if (from_queue) {
        token = g->queued[g->qi++]; /* the step had the sampler accept it */
    } else {
        token = rz_sampler_sample(g->sampler, rz_get_logits(g->ctx, -1));
        rz_sampler_accept(g->sampler, token);
    }
    if (!params->ignore_end_token && rz_token_is_end(model, token)) {
        g->reason = RZ_STOP_END_TOKEN;
        return RZ_OK;
    }
    result->n_generated++;
    size_t len = 0;
    if (rz_model_describe(model)->has_vocab)
        RZ_TRY(rz_detokenizer_push(&g->detok, token, g->piece, sizeof g->piece, &len));
    bool keep_going, hit_stop;
    RZ_TRY(stream_push(g->stops, on_token, user, token, g->piece, len, &keep_going, &hit_stop));
    if (!keep_going) {
        g->reason = hit_stop ? RZ_STOP_STRING : RZ_STOP_CALLBACK;
        return RZ_OK;
    }
    if (from_queue && g->qi < g->nq) {
        g->n_committed++; /* an accepted proposal: decoded by the step */
        return RZ_OK;
    }
    rz_speculator *spec = params->speculator;
    if (rz_context_n_past(g->ctx) >= g->n_ctx) {
        const uint32_t keep = params->n_keep < g->n_ctx ? params->n_keep : g->n_ctx;
        const uint32_t discard = (g->n_ctx - keep) / 2;
        if (!params->ctx_shift || discard == 0) {
            g->reason = RZ_STOP_CONTEXT;
            return RZ_OK;
        }
        RZ_TRY(rz_context_shift(g->ctx, keep, discard));
        if (spec) RZ_TRY(rz_speculator_shift(spec, keep, discard));
    }
    const uint32_t remaining =
        params->n_predict < 0 ? QUEUE : (uint32_t)params->n_predict - result->n_generated;
    if (spec && remaining > 0) {
        RZ_TRY(rz_speculator_step(spec, g->ctx, g->sampler, token, remaining < QUEUE ? remaining : QUEUE,
                                  g->queued, &g->nq));
        g->qi = 0;
        g->n_committed = rz_context_n_past(g->ctx) - (g->nq - 1);
    } else {
        RZ_TRY(rz_decode(g->ctx, &token, 1, NULL));
        if (spec) RZ_TRY(rz_speculator_push(spec, &token, 1));
        g->n_committed = rz_context_n_past(g->ctx);
    }
    return RZ_OK;
}

/* After the last token (status RZ_OK) or a failure: drops speculated
 * tokens past the stop and, unless a stop string or the caller ended it,
 * flushes what was held back (a partial stop string, a UTF-8 tail). */
static rz_status finish(rz_generation *g, rz_status status, rz_token_callback on_token, void *user) {
    g->done = true;
    if (status == RZ_OK && rz_context_n_past(g->ctx) > g->n_committed)
        status = rz_context_truncate(g->ctx, g->n_committed);
    if (status == RZ_OK && g->reason != RZ_STOP_STRING && g->reason != RZ_STOP_CALLBACK) {
        if (g->detok.n_pending > 0) {
            bool keep_going, hit_stop;
            status = stream_push(g->stops, on_token, user, -1, (const char *)g->detok.pending,
                                 (size_t)g->detok.n_pending, &keep_going, &hit_stop);
        }
        const char *rest;
        size_t rest_len;
        rz_stop_filter_flush(g->stops, &rest, &rest_len);
        if (status == RZ_OK && rest_len > 0 && on_token) on_token(user, -1, rest, rest_len);
    }
    g->result.stop_reason = g->reason;
    g->result.generate_seconds = rz_time_seconds() - g->t1;
    return status;
}

rz_status rz_generation_step(rz_generation *g, rz_token_callback on_token, void *user, bool *done) {
    rz_status status = RZ_OK;
    if (!g->done) {
        status = next_token(g, on_token, user);
        if (status != RZ_OK || g->reason != RZ_STOP_NONE) status = finish(g, status, on_token, user);
    }
    *done = g->done;
    return status;
}

rz_status rz_generation_end(rz_generation *g, rz_generate_result *result) {
    rz_status status = RZ_OK;
    if (g && !g->done) {
        g->reason = RZ_STOP_CALLBACK; /* the caller stopped pulling */
        status = finish(g, RZ_OK, NULL, NULL);
    }
    if (result) *result = g ? g->result : (rz_generate_result){0};
    if (g) rz_stop_filter_free(g->stops);
    free(g);
    return status;
}

rz_status rz_generate(rz_context *ctx, rz_sampler *sampler, const int32_t *prompt, size_t n_prompt,
                      const rz_generate_params *params, rz_token_callback on_token, void *user,
                      rz_generate_result *result) {
    memset(result, 0, sizeof *result);
    rz_generation *g;
    RZ_TRY(rz_generation_begin(ctx, sampler, prompt, n_prompt, params, &g));
    rz_status status = RZ_OK;
    for (bool done = false; status == RZ_OK && !done;)
        status = rz_generation_step(g, on_token, user, &done);
    const rz_status ended = rz_generation_end(g, result);
    return status != RZ_OK ? status : ended;
}
