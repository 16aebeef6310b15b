/* Speculative decoding: a draft model (or an n-gram match in the context)
 * proposes tokens, the target scores all of them in one batched pass, and
 * the standard rejection rule (accept d with probability min(1, p(d)/q(d)),
 * else draw from max(0, p - q) normalized) keeps the output distribution
 * the target's; with greedy sampling p is one-hot, so the output is the
 * target's greedy output. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"

struct rz_speculator {
    rz_speculative_params params;
    int32_t n_vocab;
    int32_t *hist; /* tokens the target holds, then `last` during a step */
    size_t n_hist, hist_cap;
    int32_t *draft_hist; /* tokens the draft context holds */
    size_t n_draft_hist;
    int32_t *batch; /* [n_draft + 1]: last, then the proposals */
    bool *wants;    /* [n_draft + 1] all true */
    float *q;       /* [n_draft][n_vocab]: draft distributions (draft model only) */
    float *p;       /* [n_vocab] */
    /* A recurrent target cannot drop rejected proposals: its state before
     * the verifying pass, to go back to and re-read the accepted ones. */
    bool recurrent;
    void *snapshot;
    size_t snapshot_size, snapshot_cap;
    rz_speculative_stats stats;
};

rz_speculative_params rz_speculative_default_params(void) {
    return (rz_speculative_params){.draft = NULL, .n_draft = 8, .ngram_min = 1, .ngram_max = 3};
}

rz_status rz_speculator_create(const rz_context *target, const rz_speculative_params *params,
                               rz_speculator **out) {
    *out = NULL;
    const rz_speculative_params p = params ? *params : rz_speculative_default_params();
    if (p.n_draft < 1 || p.n_draft > 256)
        return rz_error(RZ_ERR_INVALID_ARG, "speculation: draft length %d is outside [1, 256]", p.n_draft);
    const int32_t n_vocab = rz_model_describe(rz_context_model(target))->n_vocab;
    if (p.draft) {
        if (rz_model_describe(rz_context_model(p.draft))->recurrent)
            return rz_error(RZ_ERR_UNSUPPORTED,
                            "speculation: the draft model is recurrent (%s): its state cannot drop rejected "
                            "proposals; use a transformer draft or --lookup",
                            rz_model_describe(rz_context_model(p.draft))->arch);
        const int32_t draft_vocab = rz_model_describe(rz_context_model(p.draft))->n_vocab;
        if (draft_vocab != n_vocab)
            return rz_error(RZ_ERR_INVALID_ARG,
                            "speculation: the draft's vocabulary has %d tokens, the target's %d", draft_vocab,
                            n_vocab);
        if (rz_context_n_ctx(p.draft) < rz_context_n_ctx(target))
            return rz_error(RZ_ERR_INVALID_ARG,
                            "speculation: the draft context (%u) is shorter than the target's (%u)",
                            rz_context_n_ctx(p.draft), rz_context_n_ctx(target));
    } else if (p.ngram_min < 1 || p.ngram_max < p.ngram_min) {
        return rz_error(RZ_ERR_INVALID_ARG, "speculation: n-gram lengths %d..%d are invalid", p.ngram_min,
                        p.ngram_max);
    }
    rz_speculator *s = calloc(1, sizeof *s);
    if (!s) return rz_error(RZ_ERR_NOMEM, "out of memory");
    s->params = p;
    s->n_vocab = n_vocab;
    const size_t n_batch = (size_t)p.n_draft + 1;
    s->hist_cap = (size_t)rz_context_n_ctx(target) + 1;
    s->hist = malloc(s->hist_cap * sizeof *s->hist);
    s->draft_hist = malloc(s->hist_cap * sizeof *s->draft_hist);
    s->batch = malloc(n_batch * sizeof *s->batch);
    s->wants = malloc(n_batch * sizeof *s->wants);
    s->p = malloc((size_t)n_vocab * sizeof *s->p);
    s->q = p.draft ? malloc((size_t)p.n_draft * (size_t)n_vocab * sizeof *s->q) : NULL;
    s->recurrent = rz_model_describe(rz_context_model(target))->recurrent;
    if (!s->hist || !s->draft_hist || !s->batch || !s->wants || !s->p || (p.draft && !s->q)) {
        rz_speculator_free(s);
        return rz_error(RZ_ERR_NOMEM, "out of memory for a speculator");
    }
    for (size_t i = 0; i < n_batch; i++)
        s->wants[i] = true;
    if (p.draft) RZ_TRY(rz_context_truncate(p.draft, 0));
    *out = s;
    return RZ_OK;
}

void rz_speculator_free(rz_speculator *s) {
    if (!s) return;
    free(s->hist);
    free(s->draft_hist);
    free(s->batch);
    free(s->wants);
    free(s->p);
    free(s->q);
    free(s->snapshot);
    free(s);
}

/* The recurrent target's state into s->snapshot (its size grows once the
 * context holds logits). */
static rz_status take_snapshot(rz_speculator *s, const rz_context *target) {
    s->snapshot_size = rz_state_size(target, 0);
    if (s->snapshot_size > s->snapshot_cap) {
        void *grown = realloc(s->snapshot, s->snapshot_size);
        if (!grown) return rz_error(RZ_ERR_NOMEM, "out of memory for a %zu-byte state", s->snapshot_size);
        s->snapshot = grown;
        s->snapshot_cap = s->snapshot_size;
    }
    return rz_state_get(target, NULL, 0, s->snapshot, s->snapshot_size);
}

rz_status rz_speculator_push(rz_speculator *s, const int32_t *tokens, size_t n) {
    if (n > s->hist_cap - 1 - s->n_hist)
        return rz_error(RZ_ERR_RANGE, "speculation: %zu tokens do not fit the record of %zu", n, s->n_hist);
    memcpy(s->hist + s->n_hist, tokens, n * sizeof *tokens);
    s->n_hist += n;
    return RZ_OK;
}

void rz_speculator_reset(rz_speculator *s) {
    s->n_hist = 0;
    s->n_draft_hist = 0;
    if (s->params.draft) (void)rz_context_truncate(s->params.draft, 0);
}

rz_status rz_speculator_shift(rz_speculator *s, uint32_t n_keep, uint32_t n_discard) {
    if (n_keep > s->n_hist || n_discard > s->n_hist - n_keep)
        return rz_error(RZ_ERR_INVALID_ARG, "speculation: cannot drop %u of %zu recorded tokens after %u",
                        n_discard, s->n_hist, n_keep);
    memmove(s->hist + n_keep, s->hist + n_keep + n_discard,
            (s->n_hist - n_keep - n_discard) * sizeof *s->hist);
    s->n_hist -= n_discard;
    rz_context *draft = s->params.draft;
    if (!draft) return RZ_OK;
    const uint32_t n_draft_past = rz_context_n_past(draft);
    if (n_draft_past >= n_keep + n_discard) {
        RZ_TRY(rz_context_shift(draft, n_keep, n_discard));
        memmove(s->draft_hist + n_keep, s->draft_hist + n_keep + n_discard,
                (n_draft_past - n_keep - n_discard) * sizeof *s->draft_hist);
        s->n_draft_hist = n_draft_past - n_discard;
    } else {
        s->n_draft_hist = n_draft_past < n_keep ? n_draft_past : n_keep;
        RZ_TRY(rz_context_truncate(draft, (uint32_t)s->n_draft_hist));
    }
    return RZ_OK;
}

rz_speculative_stats rz_speculator_stats(const rz_speculator *s) { return s->stats; }

/* Draw from probs (n values summing to ~1). */
static int32_t draw(rz_sampler *sampler, const float *probs, int32_t n) {
    double total = 0.0;
    for (int32_t i = 0; i < n; i++)
        total += probs[i];
    const double r = rz_sampler_uniform(sampler) * total;
    double acc = 0.0;
    int32_t last_nonzero = 0;
    for (int32_t i = 0; i < n; i++) {
        if (probs[i] <= 0.0f) continue;
        acc += probs[i];
        last_nonzero = i;
        if (r < acc) return i;
    }
    return last_nonzero;
}

/* Prompt lookup: the continuation of the latest earlier occurrence of the
 * record's longest matching suffix (n-gram), up to k tokens. */
static uint32_t propose_lookup(const rz_speculator *s, uint32_t k) {
    const int32_t *h = s->hist;
    const size_t n = s->n_hist;
    for (int32_t g = s->params.ngram_max; g >= s->params.ngram_min; g--) {
        if ((size_t)g >= n) continue;
        const int32_t *suffix = h + n - g;
        for (size_t start = n - g; start-- > 0;) {
            if (memcmp(h + start, suffix, (size_t)g * sizeof *h) != 0) continue;
            const size_t from = start + (size_t)g;
            uint32_t m = 0;
            while (m < k && from + m < n) {
                s->batch[1 + m] = h[from + m];
                m++;
            }
            return m;
        }
    }
    return 0;
}

/* Draft model: bring the draft context to the record (reusing the common
 * prefix), then propose k tokens autoregressively from its distributions. */
static rz_status propose_draft(rz_speculator *s, rz_sampler *sampler, uint32_t k, uint32_t *n_proposed) {
    rz_context *draft = s->params.draft;
    size_t common = 0;
    const size_t held =
        rz_context_n_past(draft) < s->n_draft_hist ? rz_context_n_past(draft) : s->n_draft_hist;
    while (common < held && common < s->n_hist && s->draft_hist[common] == s->hist[common])
        common++;
    /* Re-decode at least the newest token to get its logits. */
    if (common == s->n_hist) common--;
    RZ_TRY(rz_context_truncate(draft, (uint32_t)common));
    const uint32_t room = rz_context_n_ctx(draft) - (uint32_t)s->n_hist;
    if (k > room) k = room;
    RZ_TRY(rz_decode(draft, s->hist + common, (uint32_t)(s->n_hist - common), NULL));
    memcpy(s->draft_hist, s->hist, s->n_hist * sizeof *s->hist);
    s->n_draft_hist = s->n_hist;
    for (uint32_t i = 0; i < k; i++) {
        float *q = s->q + (size_t)i * (size_t)s->n_vocab;
        rz_sampler_probs(sampler, rz_get_logits(draft, -1), q);
        const int32_t d = draw(sampler, q, s->n_vocab);
        s->batch[1 + i] = d;
        if (i + 1 < k) {
            RZ_TRY(rz_decode(draft, &d, 1, NULL));
            s->draft_hist[s->n_draft_hist++] = d;
        }
    }
    *n_proposed = k;
    return RZ_OK;
}

rz_status rz_speculator_step(rz_speculator *s, rz_context *target, rz_sampler *sampler, int32_t last,
                             uint32_t max_new, int32_t *out, uint32_t *n_out) {
    *n_out = 0;
    const uint32_t base = rz_context_n_past(target), n_ctx = rz_context_n_ctx(target);
    if (max_new == 0) return rz_error(RZ_ERR_INVALID_ARG, "speculation: no room for output tokens");
    if (base >= n_ctx) return rz_error(RZ_ERR_RANGE, "speculation: the context is full (%u tokens)", n_ctx);
    if (s->n_hist < base)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "speculation: the context holds %u tokens but only %zu were recorded", base,
                        s->n_hist);
    s->n_hist = base; /* the target was truncated: the record follows */
    s->hist[s->n_hist++] = last;

    uint32_t k = (uint32_t)s->params.n_draft;
    if (k > max_new - 1) k = max_new - 1;
    if (k > n_ctx - base - 1) k = n_ctx - base - 1;
    uint32_t n_proposed = 0;
    rz_status st = RZ_OK;
    if (k > 0)
        st = s->params.draft ? propose_draft(s, sampler, k, &n_proposed)
                             : (n_proposed = propose_lookup(s, k), RZ_OK);
    if (st == RZ_OK && s->recurrent) st = take_snapshot(s, target);
    if (st == RZ_OK) {
        s->batch[0] = last;
        st = rz_decode(target, s->batch, n_proposed + 1, s->wants);
    }
    if (st != RZ_OK) {
        s->n_hist--;
        return st;
    }
    s->stats.n_target_passes++;
    s->stats.n_drafted += n_proposed;

    uint32_t n = 0;
    for (uint32_t i = 0; i <= n_proposed; i++) {
        rz_sampler_probs(sampler, rz_get_logits(target, (int32_t)i), s->p);
        int32_t token;
        if (i == n_proposed) {
            token = draw(sampler, s->p, s->n_vocab);
        } else {
            const int32_t d = s->batch[1 + i];
            /* Prompt lookup proposes deterministically: q is one-hot at d. */
            const float *q = s->q ? s->q + (size_t)i * (size_t)s->n_vocab : NULL;
            const float qd = q ? q[d] : 1.0f;
            if ((double)s->p[d] >= (double)qd || rz_sampler_uniform(sampler) * qd < s->p[d]) {
                out[n++] = d;
                rz_sampler_accept(sampler, d);
                s->stats.n_accepted++;
                continue;
            }
            double residual = 0.0;
            for (int32_t v = 0; v < s->n_vocab; v++) {
                const float qv = q ? q[v] : (v == d ? 1.0f : 0.0f);
                s->p[v] = s->p[v] > qv ? s->p[v] - qv : 0.0f;
                residual += s->p[v];
            }
            /* p == q up to rounding: rejection had probability ~0. */
            if (residual <= 0.0) rz_sampler_probs(sampler, rz_get_logits(target, (int32_t)i), s->p);
            token = draw(sampler, s->p, s->n_vocab);
        }
        out[n++] = token;
        rz_sampler_accept(sampler, token);
        break;
    }
    /* Keep `last` and the accepted proposals; the final token is not decoded. */
    if (s->recurrent && n < n_proposed + 1) {
        RZ_TRY(rz_state_set(target, s->snapshot, s->snapshot_size, NULL, 0, NULL));
        RZ_TRY(rz_decode(target, s->batch, n, NULL));
    } else {
        RZ_TRY(rz_context_truncate(target, base + n));
    }
    memcpy(s->hist + s->n_hist, out, (n - 1) * sizeof *out);
    s->n_hist += n - 1;
    s->stats.n_tokens += n;
    *n_out = n;
    return RZ_OK;
}
