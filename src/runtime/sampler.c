/* Token sampling: penalties, greedy, top-k / top-p / min-p, temperature,
 * with a seeded generator so that a seed reproduces a run exactly. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "kernels/ops.h"

typedef struct candidate {
    float logit;
    int32_t id;
} candidate;

struct rz_sampler {
    rz_sampler_params params;
    int32_t n_vocab;
    uint64_t rng;
    candidate *candidates;
    float *logits;    /* penalized copy */
    int32_t *counts;  /* occurrences in the penalty window, zero between calls */
    int32_t *history; /* ring of the last penalty_last_n tokens */
    uint32_t history_len, history_head;
};

rz_sampler_params rz_sampler_default_params(void) {
    return (rz_sampler_params){.temperature = 0.8f,
                               .top_k = 40,
                               .top_p = 0.95f,
                               .min_p = 0.05f,
                               .repeat_penalty = 1.0f,
                               .frequency_penalty = 0.0f,
                               .presence_penalty = 0.0f,
                               .penalty_last_n = 64,
                               .seed = 0x5eed};
}

rz_status rz_sampler_create(const rz_sampler_params *params, int32_t n_vocab, rz_sampler **out) {
    *out = NULL;
    if (n_vocab <= 0) return rz_error(RZ_ERR_INVALID_ARG, "sampler: vocabulary size %d", n_vocab);
    rz_sampler_params p = params ? *params : rz_sampler_default_params();
    if (p.penalty_last_n < 0) p.penalty_last_n = 0;
    if (!(p.repeat_penalty > 0.0f))
        return rz_error(RZ_ERR_INVALID_ARG, "sampler: repeat penalty must be > 0");
    rz_sampler *s = calloc(1, sizeof *s);
    if (!s) return rz_error(RZ_ERR_NOMEM, "out of memory");
    s->params = p;
    s->n_vocab = n_vocab;
    s->candidates = malloc((size_t)n_vocab * sizeof *s->candidates);
    s->logits = malloc((size_t)n_vocab * sizeof *s->logits);
    s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
    s->history = malloc(((size_t)p.penalty_last_n + 1) * sizeof *s->history);
    if (!s->candidates || !s->logits || !s->counts || !s->history) {
        rz_sampler_free(s);
        return rz_error(RZ_ERR_NOMEM, "out of memory for a sampler over %d tokens", n_vocab);
    }
    rz_sampler_reset(s);
    *out = s;
    return RZ_OK;
}

void rz_sampler_free(rz_sampler *s) {
    if (!s) return;
    free(s->candidates);
    free(s->logits);
    free(s->counts);
    free(s->history);
    free(s);
}

void rz_sampler_reset(rz_sampler *s) {
    s->rng = s->params.seed;
    s->history_len = 0;
    s->history_head = 0;
}

void rz_sampler_accept(rz_sampler *s, int32_t token) {
    const uint32_t window = (uint32_t)s->params.penalty_last_n;
    if (window == 0 || token < 0 || token >= s->n_vocab) return;
    s->history[s->history_head] = token;
    s->history_head = (s->history_head + 1) % window;
    if (s->history_len < window) s->history_len++;
}

/* splitmix64: small, fast, and identical on every platform. */
static uint64_t next_random(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void apply_penalties(rz_sampler *s) {
    const rz_sampler_params *p = &s->params;
    if (s->history_len == 0 ||
        (p->repeat_penalty == 1.0f && p->frequency_penalty == 0.0f && p->presence_penalty == 0.0f))
        return;
    for (uint32_t i = 0; i < s->history_len; i++)
        s->counts[s->history[i]]++;
    for (uint32_t i = 0; i < s->history_len; i++) {
        const int32_t id = s->history[i];
        const int32_t count = s->counts[id];
        if (count == 0) continue; /* already penalized */
        float *l = &s->logits[id];
        /* As llama.cpp: divide positive logits, multiply negative ones. */
        *l = *l > 0.0f ? *l / p->repeat_penalty : *l * p->repeat_penalty;
        *l -= (float)count * p->frequency_penalty + p->presence_penalty;
        s->counts[id] = 0;
    }
}

static int compare_candidates(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Penalties and filters: the kept candidates are s->candidates[0 .. n) with
 * unnormalized weights s->logits[0 .. n) summing to *total. Greedy keeps
 * only the argmax. */
static size_t filter(rz_sampler *s, const float *logits, double *total) {
    const rz_sampler_params *p = &s->params;
    memcpy(s->logits, logits, (size_t)s->n_vocab * sizeof *logits);
    apply_penalties(s);
    if (p->temperature <= 0.0f) {
        s->candidates[0] = (candidate){.logit = 0.0f, .id = (int32_t)rz_argmax(s->logits, s->n_vocab)};
        s->logits[0] = 1.0f;
        *total = 1.0;
        return 1;
    }

    size_t n = (size_t)s->n_vocab;
    for (size_t i = 0; i < n; i++)
        s->candidates[i] = (candidate){.logit = s->logits[i], .id = (int32_t)i};
    /* Sorting costs ~1 ms for 128k entries, small next to a forward pass. */
    qsort(s->candidates, n, sizeof *s->candidates, compare_candidates);
    if (p->top_k > 0 && (size_t)p->top_k < n) n = (size_t)p->top_k;

    /* Probabilities at temperature 1 decide top-p and min-p (as llama.cpp). */
    const float max_logit = s->candidates[0].logit;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += exp((double)(s->candidates[i].logit - max_logit));
    if (p->top_p < 1.0f) {
        double cumulative = 0.0;
        for (size_t i = 0; i < n; i++) {
            cumulative += exp((double)(s->candidates[i].logit - max_logit)) / sum;
            if (cumulative >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        /* Keep tokens with prob >= min_p * max prob, i.e. logit >= max + ln(min_p). */
        const float threshold = max_logit + logf(p->min_p);
        size_t keep = 1;
        while (keep < n && s->candidates[keep].logit >= threshold)
            keep++;
        n = keep;
    }
    *total = 0.0;
    for (size_t i = 0; i < n; i++) {
        double w = exp((double)(s->candidates[i].logit - max_logit) / (double)p->temperature);
        s->logits[i] = (float)w;
        *total += w;
    }
    return n;
}

int32_t rz_sampler_sample(rz_sampler *s, const float *logits) {
    double total;
    const size_t n = filter(s, logits, &total);
    if (s->params.temperature <= 0.0f) return s->candidates[0].id;
    const double r = rz_sampler_uniform(s) * total;
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) {
        acc += (double)s->logits[i];
        if (r < acc) return s->candidates[i].id;
    }
    return s->candidates[n - 1].id;
}

void rz_sampler_probs(rz_sampler *s, const float *logits, float *probs) {
    double total;
    const size_t n = filter(s, logits, &total);
    memset(probs, 0, (size_t)s->n_vocab * sizeof *probs);
    for (size_t i = 0; i < n; i++)
        probs[s->candidates[i].id] = (float)((double)s->logits[i] / total);
}

double rz_sampler_uniform(rz_sampler *s) { return (double)(next_random(&s->rng) >> 11) * 0x1.0p-53; }
