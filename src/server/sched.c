/* The slot scheduler: one thread owns every context. Each slot is one
 * sequence (one choice of a request) with its own KV cache; every step puts
 * the next token of each decoding slot and prompt chunks of prefilling
 * slots into a single rz_decode_batch pass (continuous batching). HTTP
 * threads submit jobs and read their events. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "server/server.h"

typedef struct srv_seq {
    struct srv_seq *next;
    srv_job *job;
    int index;
} srv_seq;

typedef struct slot {
    rz_context *ctx;
    int32_t *cached; /* the tokens in the KV cache, for prefix reuse */
    uint32_t n_cached;
    srv_job *job; /* NULL: free */
    int index;
    uint32_t n_prefilled; /* prompt tokens in the cache */
    int32_t next_token;   /* sampled, to be decoded in the next step */
    uint32_t n_gen;
    uint32_t n_prompt_eval; /* prompt tokens actually evaluated (after reuse) */
    double t_start, t_first;
    rz_sampler *sampler;
    rz_stop_filter *stops;
    rz_detokenizer detok;
    rz_context *draft;   /* draft model context (speculation with a draft) */
    rz_speculator *spec; /* NULL: no speculation */
    /* Recurrent models: a state cannot be taken back, so the slot keeps it
     * as it was after its last prompt (rz_state_get), for a later prompt
     * that extends that one but not the reply after it. */
    void *snap;
    size_t snap_size;
    int32_t *snap_tokens; /* that prompt */
    uint32_t n_snap;
} slot;

struct srv_sched {
    const rz_model *model;
    bool recurrent;
    slot *slots;
    int n_slots, queue_size;
    uint32_t n_batch, n_ctx;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    srv_seq *queue_head, *queue_tail;
    int n_queued, n_active;
    uint64_t kv_tokens;
    bool stopping;
    pthread_t thread;
    /* scratch for one pass */
    rz_context **ctxs;
    const int32_t **toks;
    uint32_t *n_toks;
    int *slot_of;
    int32_t *spec_out; /* tokens of one speculative step */
};

/* ------------------------------------------------------------------ jobs */

srv_job *srv_job_new(void) {
    srv_job *job = calloc(1, sizeof *job);
    if (!job) return NULL;
    pthread_mutex_init(&job->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&job->cond, &attr);
    pthread_condattr_destroy(&attr);
    job->refs = 1;
    job->n_choices = 1;
    return job;
}

void srv_event_free(srv_event *ev) {
    if (!ev) return;
    free(ev->text);
    free(ev->logprobs);
    free(ev);
}

void srv_job_release(srv_job *job) {
    if (!job) return;
    pthread_mutex_lock(&job->lock);
    const int refs = --job->refs;
    pthread_mutex_unlock(&job->lock);
    if (refs > 0) return;
    for (srv_event *ev = job->head, *next; ev; ev = next) {
        next = ev->next;
        srv_event_free(ev);
    }
    free(job->prompt);
    for (size_t i = 0; i < job->n_stop; i++)
        free(job->stop[i]);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->cond);
    free(job);
}

static void job_push(srv_job *job, srv_event *ev) {
    pthread_mutex_lock(&job->lock);
    if (job->tail)
        job->tail->next = ev;
    else
        job->head = ev;
    job->tail = ev;
    pthread_cond_signal(&job->cond);
    pthread_mutex_unlock(&job->lock);
}

srv_event *srv_job_next(srv_job *job, double timeout_s) {
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    const double t = (double)until.tv_sec + (double)until.tv_nsec * 1e-9 + timeout_s;
    until.tv_sec = (time_t)t;
    until.tv_nsec = (long)((t - (double)until.tv_sec) * 1e9);
    pthread_mutex_lock(&job->lock);
    while (!job->head)
        if (pthread_cond_timedwait(&job->cond, &job->lock, &until) != 0) break;
    srv_event *ev = job->head;
    if (ev) {
        job->head = ev->next;
        if (!job->head) job->tail = NULL;
        ev->next = NULL;
    }
    pthread_mutex_unlock(&job->lock);
    return ev;
}

static void emit_error(srv_job *job, int index, const char *message) {
    srv_event *ev = calloc(1, sizeof *ev);
    if (!ev) return; /* the HTTP side times out instead */
    ev->type = SRV_EV_ERROR;
    ev->index = index;
    ev->text = strdup(message);
    job_push(job, ev);
}

/* ----------------------------------------------------------------- slots */

static void slot_release(srv_sched *s, slot *sl) {
    rz_sampler_free(sl->sampler);
    rz_stop_filter_free(sl->stops);
    sl->sampler = NULL;
    sl->stops = NULL;
    srv_job_release(sl->job);
    sl->job = NULL;
    s->n_active--;
}

static void emit_text(slot *sl, const char *text, size_t len, srv_logprob *lp, int n_lp) {
    if (len == 0 && !lp) return;
    srv_event *ev = calloc(1, sizeof *ev);
    if (!ev || !(ev->text = malloc(len + 1))) {
        free(ev);
        free(lp);
        return;
    }
    memcpy(ev->text, text, len);
    ev->text[len] = '\0';
    ev->len = len;
    ev->type = SRV_EV_TEXT;
    ev->index = sl->index;
    ev->logprobs = lp;
    ev->n_logprobs = n_lp;
    job_push(sl->job, ev);
}

static void slot_finish(srv_sched *s, slot *sl, const char *reason) {
    const char *rest;
    size_t rest_len;
    if (sl->detok.n_pending > 0) {
        const char *out;
        size_t out_len;
        bool hit;
        if (rz_stop_filter_push(sl->stops, (const char *)sl->detok.pending, (size_t)sl->detok.n_pending, &out,
                                &out_len, &hit) == RZ_OK)
            emit_text(sl, out, out_len, NULL, 0);
    }
    rz_stop_filter_flush(sl->stops, &rest, &rest_len);
    emit_text(sl, rest, rest_len, NULL, 0);
    srv_event *ev = calloc(1, sizeof *ev);
    if (ev) {
        const double now = rz_time_seconds();
        ev->type = SRV_EV_DONE;
        ev->index = sl->index;
        ev->finish_reason = reason;
        ev->n_eval = sl->n_prompt_eval; /* the reused prefix is not evaluated */
        ev->n_gen = sl->n_gen;
        ev->ttft_s = sl->t_first > 0 ? sl->t_first - sl->job->t_enqueued : -1;
        ev->prompt_s = sl->t_first > 0 ? sl->t_first - sl->t_start : 0;
        ev->gen_s = sl->t_first > 0 ? now - sl->t_first : 0;
        job_push(sl->job, ev);
    }
    slot_release(s, sl);
}

static uint32_t common_prefix(const int32_t *a, uint32_t na, const int32_t *b, size_t nb) {
    uint32_t i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* Prompt tokens the slot already holds. A KV cache keeps its longest common
 * prefix, but evaluates at least the last prompt token: its logits start the
 * generation. A recurrent state is kept whole when the prompt extends it;
 * else the snapshot (*from_snap), with its logits, when the prompt is or
 * extends the snapshot's; else nothing. */
static uint32_t reusable(const srv_sched *s, const slot *sl, const srv_job *job, bool *from_snap) {
    const uint32_t keep = common_prefix(sl->cached, sl->n_cached, job->prompt, job->n_prompt);
    *from_snap = false;
    if (!s->recurrent) return keep < job->n_prompt ? keep : (uint32_t)job->n_prompt - 1;
    if (keep == sl->n_cached && keep < job->n_prompt) return keep;
    if (sl->n_snap > 0 &&
        common_prefix(sl->snap_tokens, sl->n_snap, job->prompt, job->n_prompt) == sl->n_snap) {
        *from_snap = true;
        return sl->n_snap;
    }
    return 0;
}

static void prompt_done(srv_sched *s, slot *sl);

static bool slot_start(srv_sched *s, slot *sl, srv_job *job, int index) {
    bool from_snap;
    const uint32_t keep = reusable(s, sl, job, &from_snap);
    rz_sampler_params sp = job->sampling;
    sp.seed += (uint64_t)index;
    const rz_status kept = from_snap ? rz_state_set(sl->ctx, sl->snap, sl->snap_size, NULL, 0, NULL)
                                     : rz_context_truncate(sl->ctx, keep);
    if (kept == RZ_OK) {
        if (from_snap) memcpy(sl->cached, sl->snap_tokens, keep * sizeof *sl->cached);
        sl->n_cached = keep;
    }
    if (kept != RZ_OK ||
        rz_sampler_create(&sp, rz_model_describe(s->model)->n_vocab, &sl->sampler) != RZ_OK ||
        rz_stop_filter_create((const char *const *)job->stop, job->n_stop, &sl->stops) != RZ_OK) {
        rz_sampler_free(sl->sampler);
        sl->sampler = NULL;
        emit_error(job, index, rz_last_error());
        srv_job_release(job);
        return false;
    }
    for (size_t i = 0; i < job->n_prompt; i++)
        rz_sampler_accept(sl->sampler, job->prompt[i]);
    rz_detokenizer_init(&sl->detok, s->model);
    sl->detok.prev_token = job->prompt[job->n_prompt - 1];
    sl->job = job;
    sl->index = index;
    sl->n_prefilled = keep;
    sl->n_prompt_eval = (uint32_t)job->n_prompt - keep;
    sl->n_gen = 0;
    sl->t_start = rz_time_seconds();
    sl->t_first = 0;
    s->n_active++;
    if (keep == job->n_prompt) prompt_done(s, sl); /* the snapshot's logits are the prompt's */
    return true;
}

/* Free slot whose cache shares the longest prefix with the job's prompt. */
static slot *pick_slot(srv_sched *s, const srv_job *job) {
    slot *best = NULL;
    uint32_t best_len = 0;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job) continue;
        bool from_snap;
        const uint32_t len = reusable(s, sl, job, &from_snap);
        if (!best || len > best_len) {
            best = sl;
            best_len = len;
        }
    }
    return best;
}

/* The sampled token's log-probability, then the top alternatives. */
static srv_logprob *logprobs_of(const float *logits, int32_t n_vocab, int32_t token, int n_top) {
    srv_logprob *lp = calloc((size_t)n_top + 1, sizeof *lp);
    if (!lp) return NULL;
    float max = logits[0];
    for (int32_t i = 1; i < n_vocab; i++)
        max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int32_t i = 0; i < n_vocab; i++)
        sum += exp((double)(logits[i] - max));
    const float log_z = max + (float)log(sum);
    lp[0] = (srv_logprob){token, logits[token] - log_z};
    for (int k = 0; k < n_top; k++) {
        int32_t best = -1;
        for (int32_t i = 0; i < n_vocab; i++) {
            bool taken = false;
            for (int j = 0; j < k && !taken; j++)
                taken = lp[1 + j].token == i;
            if (!taken && (best < 0 || logits[i] > logits[best])) best = i;
        }
        lp[1 + k] = (srv_logprob){best, logits[best] - log_z};
    }
    return lp;
}

/* Passes a chosen (and sampler-accepted) token on: text, stop strings and
 * the end conditions. logits, when given, feed the logprobs. Returns false
 * once the slot has finished. */
static bool slot_emit(srv_sched *s, slot *sl, int32_t token, const float *logits) {
    const rz_model_desc *d = rz_model_describe(s->model);
    if (sl->t_first == 0) sl->t_first = rz_time_seconds();
    if (rz_token_is_end(s->model, token)) {
        slot_finish(s, sl, "stop");
        return false;
    }
    sl->n_gen++;
    srv_logprob *lp = NULL;
    const int n_top = sl->job->logprobs - 1;
    if (sl->job->logprobs && logits) lp = logprobs_of(logits, d->n_vocab, token, n_top);
    char piece[1024];
    size_t len = 0;
    bool hit = false;
    const char *out = "";
    size_t out_len = 0;
    if (d->has_vocab && rz_detokenizer_push(&sl->detok, token, piece, sizeof piece, &len) != RZ_OK) len = 0;
    if (rz_stop_filter_push(sl->stops, piece, len, &out, &out_len, &hit) != RZ_OK) {
        free(lp);
        emit_error(sl->job, sl->index, rz_last_error());
        slot_release(s, sl);
        return false;
    }
    emit_text(sl, out, out_len, lp, lp ? n_top + 1 : 0);
    if (hit)
        slot_finish(s, sl, "stop");
    else if (sl->n_gen >= (uint32_t)sl->job->max_tokens || rz_context_n_past(sl->ctx) >= s->n_ctx)
        slot_finish(s, sl, "length");
    else {
        sl->next_token = token;
        return true;
    }
    return false;
}

/* After a pass that ended the slot's prompt or decoded its last token. */
static void slot_sample(srv_sched *s, slot *sl) {
    const float *logits = rz_get_logits(sl->ctx, -1);
    const int32_t token = rz_sampler_sample(sl->sampler, logits);
    rz_sampler_accept(sl->sampler, token);
    slot_emit(s, sl, token, logits);
}

static bool speculates(const slot *sl) {
    return sl->spec && !sl->job->logprobs && sl->n_prefilled >= sl->job->n_prompt;
}

/* One speculative step of a decoding slot: its next token and the accepted
 * proposals in one verification pass of its own (run without the lock, like
 * the shared pass). */
static void slot_speculate(srv_sched *s, slot *sl) {
    uint32_t max_new = (uint32_t)sl->job->max_tokens - sl->n_gen;
    const uint32_t room = s->n_ctx - rz_context_n_past(sl->ctx);
    if (max_new > room) max_new = room;
    uint32_t n_out = 0;
    const rz_status st =
        rz_speculator_step(sl->spec, sl->ctx, sl->sampler, sl->next_token, max_new, s->spec_out, &n_out);
    pthread_mutex_lock(&s->lock);
    if (st != RZ_OK) {
        emit_error(sl->job, sl->index, rz_last_error());
        s->kv_tokens -= sl->n_cached;
        sl->n_cached = 0;
        rz_context_truncate(sl->ctx, 0);
        slot_release(s, sl);
        pthread_mutex_unlock(&s->lock);
        return;
    }
    /* The cache now holds the old next token and all outputs but the last. */
    sl->cached[sl->n_cached++] = sl->next_token;
    memcpy(sl->cached + sl->n_cached, s->spec_out, (n_out - 1) * sizeof(int32_t));
    sl->n_cached += n_out - 1;
    s->kv_tokens += n_out;
    for (uint32_t i = 0; i < n_out && slot_emit(s, sl, s->spec_out[i], NULL); i++) {
    }
    pthread_mutex_unlock(&s->lock);
}

static void decode_shared(srv_sched *s, int n);
static void snapshot(slot *sl);

/* One forward pass over every busy slot. Called without the lock: only this
 * thread touches slot state besides job assignment, which holds the lock. */
static void step(srv_sched *s) {
    uint32_t budget = s->n_batch;
    int n = 0;
    for (int pass = 0; pass < 2; pass++) /* decodes first: they are latency-bound */
        for (int i = 0; i < s->n_slots && budget > 0; i++) {
            slot *sl = &s->slots[i];
            if (!sl->job) continue;
            const bool prefilling = sl->n_prefilled < sl->job->n_prompt;
            if (prefilling != (pass == 1) || speculates(sl)) continue;
            uint32_t count = 1;
            const int32_t *t = &sl->next_token;
            if (prefilling) {
                count = (uint32_t)sl->job->n_prompt - sl->n_prefilled;
                if (count > budget) count = budget;
                t = sl->job->prompt + sl->n_prefilled;
            }
            s->ctxs[n] = sl->ctx;
            s->toks[n] = t;
            s->n_toks[n] = count;
            s->slot_of[n++] = i;
            budget -= count;
        }
    if (n > 0) decode_shared(s, n);
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].job && speculates(&s->slots[i])) slot_speculate(s, &s->slots[i]);
}

/* The shared pass of step(): prompt chunks and single-token decodes. */
static void decode_shared(srv_sched *s, int n) {
    if (rz_decode_batch(s->ctxs, s->toks, s->n_toks, (size_t)n) != RZ_OK) {
        const char *why = rz_last_error();
        pthread_mutex_lock(&s->lock);
        for (int k = 0; k < n; k++) {
            slot *sl = &s->slots[s->slot_of[k]];
            emit_error(sl->job, sl->index, why);
            s->kv_tokens -= sl->n_cached;
            sl->n_cached = 0;
            rz_context_truncate(sl->ctx, 0);
            slot_release(s, sl);
        }
        pthread_mutex_unlock(&s->lock);
        return;
    }
    pthread_mutex_lock(&s->lock);
    for (int k = 0; k < n; k++) {
        slot *sl = &s->slots[s->slot_of[k]];
        memcpy(sl->cached + sl->n_cached, s->toks[k], s->n_toks[k] * sizeof(int32_t));
        sl->n_cached += s->n_toks[k];
        s->kv_tokens += s->n_toks[k];
        if (sl->n_prefilled < sl->job->n_prompt) {
            sl->n_prefilled += s->n_toks[k];
            if (sl->n_prefilled < sl->job->n_prompt) continue;
            if (s->recurrent) snapshot(sl);
            prompt_done(s, sl);
        } else {
            slot_sample(s, sl);
        }
    }
    pthread_mutex_unlock(&s->lock);
}

/* The recurrent state after the prompt, in place of the last snapshot. */
static void snapshot(slot *sl) {
    const size_t size = rz_state_size(sl->ctx, 0);
    sl->n_snap = 0;
    if (size > sl->snap_size) {
        void *snap = realloc(sl->snap, size);
        if (!snap) return; /* no snapshot: a later prompt starts over */
        sl->snap = snap;
    }
    sl->snap_size = size;
    if (rz_state_get(sl->ctx, NULL, 0, sl->snap, size) != RZ_OK) return;
    memcpy(sl->snap_tokens, sl->job->prompt, sl->job->n_prompt * sizeof *sl->snap_tokens);
    sl->n_snap = (uint32_t)sl->job->n_prompt;
}

/* The whole prompt is in the slot's context: the first token. */
static void prompt_done(srv_sched *s, slot *sl) {
    /* The speculator's record is the cache: the prompt (its reused prefix
     * included). */
    if (sl->spec) {
        rz_speculator_reset(sl->spec);
        if (rz_speculator_push(sl->spec, sl->job->prompt, sl->job->n_prompt) != RZ_OK) {
            emit_error(sl->job, sl->index, rz_last_error());
            slot_release(s, sl);
            return;
        }
    }
    slot_sample(s, sl);
}

static void *sched_main(void *arg) {
    srv_sched *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        /* Cancelled sequences leave their slots at once. */
        for (int i = 0; i < s->n_slots; i++)
            if (s->slots[i].job && s->slots[i].job->cancelled) {
                emit_error(s->slots[i].job, s->slots[i].index,
                           s->stopping ? "the server is shutting down" : "request cancelled");
                slot_release(s, &s->slots[i]);
            }
        while (s->queue_head && s->n_active < s->n_slots) {
            srv_seq *q = s->queue_head;
            s->queue_head = q->next;
            if (!s->queue_head) s->queue_tail = NULL;
            s->n_queued--;
            if (q->job->cancelled) {
                emit_error(q->job, q->index,
                           s->stopping ? "the server is shutting down" : "request cancelled");
                srv_job_release(q->job);
            } else {
                slot *sl = pick_slot(s, q->job);
                s->kv_tokens -= sl->n_cached;
                slot_start(s, sl, q->job, q->index);
                s->kv_tokens += sl->n_cached;
            }
            free(q);
        }
        if (s->n_active == 0) {
            if (s->stopping) break;
            pthread_cond_wait(&s->cond, &s->lock);
            continue;
        }
        pthread_mutex_unlock(&s->lock);
        step(s);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ------------------------------------------------------------- lifetime */

rz_status srv_sched_create(const rz_model *model, const rz_context_params *cp, int n_slots, int queue_size,
                           const rz_server_config *spec_cfg, srv_sched **out) {
    *out = NULL;
    if (n_slots < 1 || n_slots > 256 || queue_size < 0)
        return rz_error(RZ_ERR_INVALID_ARG, "serve: %d slots and a queue of %d: slots must be 1..256",
                        n_slots, queue_size);
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return rz_error(RZ_ERR_NOMEM, "out of memory");
    s->model = model;
    s->recurrent = rz_model_describe(model)->recurrent;
    s->n_slots = n_slots;
    s->queue_size = queue_size;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    rz_status st = rz_error(RZ_ERR_NOMEM, "out of memory");
    s->slots = calloc((size_t)n_slots, sizeof *s->slots);
    s->ctxs = calloc((size_t)n_slots, sizeof *s->ctxs);
    s->toks = calloc((size_t)n_slots, sizeof *s->toks);
    s->n_toks = calloc((size_t)n_slots, sizeof *s->n_toks);
    s->slot_of = calloc((size_t)n_slots, sizeof *s->slot_of);
    if (s->slots && s->ctxs && s->toks && s->n_toks && s->slot_of) {
        st = RZ_OK;
        for (int i = 0; i < n_slots && st == RZ_OK; i++) {
            slot *sl = &s->slots[i];
            st = rz_context_create(model, cp, &sl->ctx);
            if (st == RZ_OK && !(sl->cached = calloc(rz_context_n_ctx(sl->ctx), sizeof(int32_t))))
                st = rz_error(RZ_ERR_NOMEM, "out of memory");
            if (st == RZ_OK && s->recurrent &&
                !(sl->snap_tokens = calloc(rz_context_n_ctx(sl->ctx), sizeof(int32_t))))
                st = rz_error(RZ_ERR_NOMEM, "out of memory");
            if (st == RZ_OK && (spec_cfg->draft_model || spec_cfg->lookup)) {
                rz_speculative_params sp = rz_speculative_default_params();
                if (spec_cfg->n_draft > 0) sp.n_draft = spec_cfg->n_draft;
                if (spec_cfg->draft_model) st = rz_context_create(spec_cfg->draft_model, cp, &sl->draft);
                sp.draft = sl->draft;
                if (st == RZ_OK) st = rz_speculator_create(sl->ctx, &sp, &sl->spec);
            }
        }
    }
    if (st == RZ_OK) {
        s->n_ctx = rz_context_n_ctx(s->slots[0].ctx);
        /* One pass carries a token of every slot at least. */
        s->n_batch = cp->n_batch ? cp->n_batch : 256;
        if (s->n_batch > s->n_ctx) s->n_batch = s->n_ctx;
        if (s->n_batch < (uint32_t)n_slots)
            st = rz_error(RZ_ERR_INVALID_ARG, "serve: the batch size %u is below the %d slots", s->n_batch,
                          n_slots);
    }
    if (st == RZ_OK && !(s->spec_out = calloc(s->n_ctx, sizeof *s->spec_out)))
        st = rz_error(RZ_ERR_NOMEM, "out of memory");
    if (st == RZ_OK && pthread_create(&s->thread, NULL, sched_main, s) != 0)
        st = rz_error(RZ_ERR_NOMEM, "serve: cannot start the scheduler thread");
    if (st != RZ_OK) {
        for (int i = 0; s->slots && i < n_slots; i++) {
            rz_speculator_free(s->slots[i].spec);
            rz_context_free(s->slots[i].draft);
            rz_context_free(s->slots[i].ctx);
            free(s->slots[i].cached);
            free(s->slots[i].snap);
            free(s->slots[i].snap_tokens);
        }
        free(s->spec_out);
        free(s->slots);
        free(s->ctxs);
        free(s->toks);
        free(s->n_toks);
        free(s->slot_of);
        free(s);
        return st;
    }
    *out = s;
    return RZ_OK;
}

void srv_sched_stop(srv_sched *s) {
    pthread_mutex_lock(&s->lock);
    s->stopping = true;
    /* Whatever is still running or queued now is cancelled. */
    for (srv_seq *q = s->queue_head; q; q = q->next)
        q->job->cancelled = true;
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].job) s->slots[i].job->cancelled = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    srv_sched_stop(s);
    pthread_join(s->thread, NULL);
    for (int i = 0; i < s->n_slots; i++) {
        rz_speculator_free(s->slots[i].spec);
        rz_context_free(s->slots[i].draft);
        rz_context_free(s->slots[i].ctx);
        free(s->slots[i].cached);
        free(s->slots[i].snap);
        free(s->slots[i].snap_tokens);
    }
    free(s->spec_out);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->slots);
    free(s->ctxs);
    free(s->toks);
    free(s->n_toks);
    free(s->slot_of);
    free(s);
}

uint32_t srv_sched_n_ctx(const srv_sched *s) { return s->n_ctx; }

static int waiting_after(const srv_sched *s, int extra) {
    const int free_slots = s->n_slots - s->n_active;
    const int waiting = s->n_queued + extra - free_slots;
    return waiting > 0 ? waiting : 0;
}

rz_status srv_sched_submit(srv_sched *s, srv_job *job) {
    srv_seq *seqs[64];
    if (job->n_choices < 1 || job->n_choices > 64 || job->n_prompt == 0)
        return rz_error(RZ_ERR_INVALID_ARG, "serve: %d choices of %zu prompt tokens", job->n_choices,
                        job->n_prompt);
    for (int i = 0; i < job->n_choices; i++)
        if (!(seqs[i] = calloc(1, sizeof *seqs[i]))) {
            while (i-- > 0)
                free(seqs[i]);
            return rz_error(RZ_ERR_NOMEM, "out of memory");
        }
    pthread_mutex_lock(&s->lock);
    if (s->stopping || waiting_after(s, job->n_choices) > s->queue_size) {
        const bool stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);
        for (int i = 0; i < job->n_choices; i++)
            free(seqs[i]);
        return rz_error(RZ_ERR_RANGE, stopping ? "the server is shutting down" : "the request queue is full");
    }
    pthread_mutex_lock(&job->lock);
    job->refs += job->n_choices;
    pthread_mutex_unlock(&job->lock);
    for (int i = 0; i < job->n_choices; i++) {
        seqs[i]->job = job;
        seqs[i]->index = i;
        if (s->queue_tail)
            s->queue_tail->next = seqs[i];
        else
            s->queue_head = seqs[i];
        s->queue_tail = seqs[i];
        s->n_queued++;
    }
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return RZ_OK;
}

void srv_sched_gauges(srv_sched *s, srv_gauges *g) {
    pthread_mutex_lock(&s->lock);
    g->queue_depth = waiting_after(s, 0);
    g->slots_active = s->n_active;
    g->slots_total = s->n_slots;
    g->kv_tokens = s->kv_tokens;
    g->kv_capacity = (uint64_t)s->n_ctx * (uint64_t)s->n_slots;
    pthread_mutex_unlock(&s->lock);
}

int srv_sched_busy(srv_sched *s) {
    pthread_mutex_lock(&s->lock);
    const int busy = s->n_active + s->n_queued;
    pthread_mutex_unlock(&s->lock);
    return busy;
}

bool srv_sched_can_accept(srv_sched *s) {
    pthread_mutex_lock(&s->lock);
    const bool ok = !s->stopping && waiting_after(s, 1) <= s->queue_size;
    pthread_mutex_unlock(&s->lock);
    return ok;
}
