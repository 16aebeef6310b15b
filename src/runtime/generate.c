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

rz_status rz_generate(rz_context *ctx, rz_sampler *sampler, const int32_t *prompt, size_t n_prompt,
                      const rz_generate_params *params, rz_token_callback on_token, void *user,
                      rz_generate_result *result) {
    memset(result, 0, sizeof *result);
    const rz_model *model = rz_context_model(ctx);
    const uint32_t n_ctx = rz_context_n_ctx(ctx);
    if (n_prompt > n_ctx - rz_context_n_past(ctx))
        return rz_error(RZ_ERR_RANGE, "prompt of %zu tokens does not fit in the context (%u of %u used)",
                        n_prompt, rz_context_n_past(ctx), n_ctx);
    if (n_prompt == 0 && rz_get_logits(ctx, -1) == NULL)
        return rz_error(RZ_ERR_INVALID_ARG, "generate: empty prompt and no logits to continue from");

    double t0 = rz_time_seconds();
    rz_speculator *spec = params->speculator;
    if (n_prompt > 0) RZ_TRY(rz_decode(ctx, prompt, (uint32_t)n_prompt, NULL));
    if (spec) RZ_TRY(rz_speculator_push(spec, prompt, n_prompt));
    for (size_t i = 0; i < n_prompt; i++)
        rz_sampler_accept(sampler, prompt[i]);
    result->n_prompt = (uint32_t)n_prompt;
    double t1 = rz_time_seconds();
    result->prompt_seconds = t1 - t0;

    rz_stop_filter *stops;
    RZ_TRY(rz_stop_filter_create(params->stop_strings, params->n_stop_strings, &stops));
    rz_detokenizer detok;
    rz_detokenizer_init(&detok, model);
    if (n_prompt > 0) detok.prev_token = prompt[n_prompt - 1];
    char piece[1024];
    rz_status status = RZ_OK;
    rz_stop_reason reason = RZ_STOP_NONE;
    /* Speculation: queued[qi .. nq) are output tokens of the last step not
     * yet emitted; all but the final one are in the cache already. */
    enum { QUEUE = 257 };
    int32_t queued[QUEUE];
    uint32_t nq = 0, qi = 0;
    uint32_t n_committed = rz_context_n_past(ctx); /* cache length matching the emitted tokens */
    while (reason == RZ_STOP_NONE) {
        if (params->n_predict >= 0 && result->n_generated >= (uint32_t)params->n_predict) {
            reason = RZ_STOP_LENGTH;
            break;
        }
        const bool from_queue = qi < nq;
        int32_t token;
        if (from_queue) {
            token = queued[qi++]; /* the step had the sampler accept it */
        } else {
            token = rz_sampler_sample(sampler, rz_get_logits(ctx, -1));
            rz_sampler_accept(sampler, token);
        }
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
        status = stream_push(stops, on_token, user, token, piece, len, &keep_going, &hit_stop);
        if (status != RZ_OK) break;
        if (!keep_going) {
            reason = hit_stop ? RZ_STOP_STRING : RZ_STOP_CALLBACK;
            break;
        }
        if (from_queue && qi < nq) {
            n_committed++; /* an accepted proposal: decoded by the step */
            continue;
        }
        if (rz_context_n_past(ctx) >= n_ctx) {
            const uint32_t keep = params->n_keep < n_ctx ? params->n_keep : n_ctx;
            const uint32_t discard = (n_ctx - keep) / 2;
            if (!params->ctx_shift || discard == 0) {
                reason = RZ_STOP_CONTEXT;
                break;
            }
            status = rz_context_shift(ctx, keep, discard);
            if (status == RZ_OK && spec) status = rz_speculator_shift(spec, keep, discard);
            if (status != RZ_OK) break;
        }
        const uint32_t remaining =
            params->n_predict < 0 ? QUEUE : (uint32_t)params->n_predict - result->n_generated;
        if (spec && remaining > 0) {
            status = rz_speculator_step(spec, ctx, sampler, token, remaining < QUEUE ? remaining : QUEUE,
                                        queued, &nq);
            qi = 0;
            if (status == RZ_OK) n_committed = rz_context_n_past(ctx) - (nq - 1);
        } else {
            status = rz_decode(ctx, &token, 1, NULL);
            if (status == RZ_OK && spec) status = rz_speculator_push(spec, &token, 1);
            n_committed = rz_context_n_past(ctx);
        }
        if (status != RZ_OK) break;
    }
    /* Proposals the step accepted past the point where generation stopped. */
    if (status == RZ_OK && rz_context_n_past(ctx) > n_committed)
        status = rz_context_truncate(ctx, n_committed);
    /* Flush what was held back: a partial stop string or UTF-8 tail. */
    if (status == RZ_OK && reason != RZ_STOP_STRING && reason != RZ_STOP_CALLBACK) {
        if (detok.n_pending > 0) {
            bool keep_going, hit_stop;
            status = stream_push(stops, on_token, user, -1, (const char *)detok.pending,
                                 (size_t)detok.n_pending, &keep_going, &hit_stop);
        }
        const char *rest;
        size_t rest_len;
        rz_stop_filter_flush(stops, &rest, &rest_len);
        if (status == RZ_OK && rest_len > 0 && on_token) on_token(user, -1, rest, rest_len);
    }
    rz_stop_filter_free(stops);
    result->stop_reason = reason;
    result->generate_seconds = rz_time_seconds() - t1;
    return status;
}
