/* Inference context: KV cache, activation buffers, thread pool and the
 * logits of the last decode. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/affinity.h"
#include "base/error.h"
#include "base/mem.h"
#include "base/threadpool.h"
#include "kernels/ops.h"
#include "runtime/context.h"

rz_context_params rz_context_default_params(void) {
    return (rz_context_params){
        .n_ctx = 0, .n_threads = 0, .n_batch = 256, .type_k = RZ_TYPE_F32, .type_v = RZ_TYPE_F32};
}

/* Nearest huge-page boundary: a page goes to the node that reads most of it. */
static char *huge_page_boundary(const char *p) {
    return (char *)(((uintptr_t)p + RZ_HUGE_PAGE / 2) / RZ_HUGE_PAGE * RZ_HUGE_PAGE);
}

/* --numa distribute: each node's share of every matrix copied into the
 * weights buffer, the rows its threads start on in a mat-mul (rz_split_range
 * of each 2-D slice's rows), moves to that node. Fused mat-muls (Q, K, V)
 * split their matrices together and stealing moves rows between threads, so
 * this is where most of each thread's reads are, not all. */
static rz_status move_weights(const rz_model *m, const rz_thread_plan *plan, uint64_t *moved) {
    const char *lo = m->weights, *hi = lo + m->weights_bytes;
    const int nth = plan->n_threads;
    *moved = 0;
    for (int64_t i = 0; i < m->n_matrices; i++) {
        const rz_tensor *t = m->matrices[i];
        const char *data = t->data;
        if (data < lo || data >= hi) continue; /* not copied: still in the mapping */
        const int64_t rows = t->ne[1], slices = t->ne[2] * t->ne[3];
        for (int64_t sl = 0; sl < slices; sl++) {
            for (int first = 0, end; first < nth; first = end) {
                end = first + 1;
                while (end < nth && plan->node[end] == plan->node[first])
                    end++;
                int64_t b, e, unused;
                rz_split_range(rows, 1, first, nth, &b, &unused);
                rz_split_range(rows, 1, end - 1, nth, &unused, &e);
                char *from = huge_page_boundary(data + (uint64_t)(sl * rows + b) * t->row_bytes);
                char *to = huge_page_boundary(data + (uint64_t)(sl * rows + e) * t->row_bytes);
                if (from >= to) continue;
                RZ_TRY(rz_mem_bind_node(from, (size_t)(to - from), plan->node[first]));
                *moved += (uint64_t)(to - from);
            }
        }
    }
    return RZ_OK;
}

/* ctx->placement, and the weights moved under --numa distribute. */
static void place(rz_context *ctx, const rz_thread_plan *plan, rz_numa numa, bool strict) {
    char *out = ctx->placement;
    const size_t cap = sizeof ctx->placement;
    if (!plan->pinned) {
        snprintf(out, cap, "threads unpinned");
        return;
    }
    rz_cpu_set all = {0};
    for (int i = 0; i < plan->n_threads; i++)
        for (int w = 0; w < RZ_MAX_CPUS / 64; w++)
            all.bits[w] |= plan->cpus[i].bits[w];
    char list[256];
    rz_cpu_set_format(&all, list, sizeof list);
    int len =
        snprintf(out, cap, "%d thread%s on CPU%s %s%s", plan->n_threads, plan->n_threads == 1 ? "" : "s",
                 rz_cpu_set_count(&all) == 1 ? "" : "s", list, strict ? " (one each)" : "");
    if (numa != RZ_NUMA_DISTRIBUTE) return;
    int n_nodes = 0;
    for (int i = 0; i < plan->n_threads; i++)
        n_nodes += i == 0 || plan->node[i] != plan->node[i - 1];
    len += snprintf(out + len, cap - (size_t)len, " over %d node%s", n_nodes, n_nodes == 1 ? "" : "s");
    const rz_model *m = ctx->model;
    uint64_t moved;
    if (n_nodes < 2)
        snprintf(out + len, cap - (size_t)len, "; weights left where they are");
    else if (!m->weights)
        snprintf(out + len, cap - (size_t)len, "; weights not moved: they were not copied (--no-repack)");
    else if (move_weights(m, plan, &moved) != RZ_OK)
        snprintf(out + len, cap - (size_t)len, "; weights not all moved: %s", rz_last_error());
    else
        snprintf(out + len, cap - (size_t)len, "; %.1f MiB of weights on their threads' nodes",
                 (double)moved / (1 << 20));
}

rz_status rz_context_create(const rz_model *model, const rz_context_params *params, rz_context **out) {
    *out = NULL;
    if (model->vocab_only)
        return rz_error(RZ_ERR_UNSUPPORTED, "model was loaded vocab-only: it has no weights to run");
    rz_context_params p = params ? *params : rz_context_default_params();
    const rz_model_desc *d = &model->desc;
    /* RoPE goes on past the training context (llama.cpp allows it too);
     * learned position embeddings have no row there. */
    uint32_t n_ctx = p.n_ctx ? p.n_ctx : (uint32_t)d->n_ctx_train;
    if (model->pos_embd.data && n_ctx > (uint32_t)d->n_ctx_train) n_ctx = (uint32_t)d->n_ctx_train;
    if (p.n_threads < 0 || p.n_threads > 1024)
        return rz_error(RZ_ERR_INVALID_ARG, "thread count %d is out of range", p.n_threads);
    int32_t n_threads = p.n_threads ? p.n_threads : rz_cpu_info_get()->physical_cores;
    uint32_t n_batch = p.n_batch ? p.n_batch : 256;
    if (n_batch > n_ctx || d->encoder) n_batch = n_ctx; /* an encoder sees its input in one pass */
    int nice;
    if (!rz_prio_nice(p.prio, &nice))
        return rz_error(RZ_ERR_INVALID_ARG, "priority %d is out of range [-1, 3]", p.prio);
    rz_thread_plan plan;
    RZ_TRY(rz_thread_plan_make(rz_cpu_topology_get(), &p.cpu_mask, p.cpu_strict, p.numa, n_threads, &plan));
    rz_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        rz_thread_plan_free(&plan);
        return rz_error(RZ_ERR_NOMEM, "out of memory");
    }
    ctx->model = model;
    ctx->n_threads = n_threads;
    ctx->n_batch = n_batch;
    rz_status s = rz_seq_memory_init(&ctx->mem, model, p.type_k, p.type_v, n_ctx, n_batch);
    if (s == RZ_OK) s = rz_forward_buffers_init(&ctx->buffers, model, &ctx->mem, n_batch, n_threads);
    if (s == RZ_OK)
        s = rz_threadpool_create_placed(n_threads, plan.pinned ? plan.cpus : NULL, nice, &ctx->pool);
    if (s == RZ_OK && !(ctx->chunk_wants = calloc(n_batch, sizeof *ctx->chunk_wants)))
        s = rz_error(RZ_ERR_NOMEM, "out of memory");
    if (s == RZ_OK) place(ctx, &plan, p.numa, p.cpu_strict);
    rz_thread_plan_free(&plan);
    if (s != RZ_OK) {
        rz_context_free(ctx);
        return s;
    }
    *out = ctx;
    return RZ_OK;
}

void rz_context_free(rz_context *ctx) {
    if (!ctx) return;
    rz_threadpool_free(ctx->pool);
    rz_forward_buffers_free(&ctx->buffers);
    rz_seq_memory_free(&ctx->mem);
    free(ctx->logits);
    free(ctx->row_of);
    free(ctx->chunk_wants);
    free(ctx);
}

const rz_model *rz_context_model(const rz_context *ctx) { return ctx->model; }
uint32_t rz_context_n_ctx(const rz_context *ctx) { return ctx->mem.kv.n_ctx; }
int32_t rz_context_n_threads(const rz_context *ctx) { return ctx->n_threads; }
const char *rz_context_placement(const rz_context *ctx) { return ctx->placement; }
uint32_t rz_context_n_past(const rz_context *ctx) { return ctx->n_past; }

rz_status rz_context_truncate(rz_context *ctx, uint32_t n_past) {
    if (n_past > ctx->n_past)
        return rz_error(RZ_ERR_INVALID_ARG, "cannot truncate the KV cache to %u: it holds %u tokens", n_past,
                        ctx->n_past);
    /* A recurrent state has folded every token in: it can only start over. */
    if (ctx->model->recurrent && n_past > 0 && n_past < ctx->n_past)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "cannot take the recurrent state of a %s model back to %u tokens (only to 0)",
                        ctx->model->desc.arch, n_past);
    if (n_past == 0) rz_seq_memory_clear(&ctx->mem);
    /* A sliding window's ring no longer holds what the earlier positions
     * saw past that. */
    const rz_kv_cache *c = &ctx->mem.kv;
    if (c->any_ring && n_past > 0 && ctx->n_past - n_past > c->rewind)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "cannot take a sliding-window KV cache back by %u tokens (at most %u, or to 0)",
                        ctx->n_past - n_past, c->rewind);
    ctx->n_past = n_past;
    return RZ_OK;
}

rz_status rz_context_shift(rz_context *ctx, uint32_t n_keep, uint32_t n_discard) {
    const rz_model *m = ctx->model;
    if (m->recurrent)
        return rz_error(RZ_ERR_UNSUPPORTED, "context shift: a %s model has no KV cache to shift",
                        m->desc.arch);
    if (m->n_rope_sets > 1 || m->rope[0].mscale != 1.0f)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "context shift: the %s model's RoPE differs between layers or is YaRN-scaled",
                        m->desc.arch);
    const rz_kv_rope rope = {.freqs = m->rope_freqs,
                             .n_rot = m->desc.n_rot,
                             .head_dim = m->head_dim,
                             .n_heads = m->desc.n_head_kv,
                             .style = m->rope_style};
    RZ_TRY(rz_kv_cache_shift(&ctx->mem.kv, n_keep, n_discard, ctx->n_past, &rope));
    ctx->n_past -= n_discard;
    return RZ_OK;
}

rz_status rz_context_reserve(rz_context *ctx, uint32_t n_tokens, uint32_t n_rows) {
    const size_t n_vocab = (size_t)ctx->model->desc.n_vocab;
    if (n_tokens > ctx->row_of_cap) {
        int32_t *row_of = realloc(ctx->row_of, n_tokens * sizeof *row_of);
        if (!row_of) return rz_error(RZ_ERR_NOMEM, "out of memory for %u logits rows", n_tokens);
        ctx->row_of = row_of;
        ctx->row_of_cap = n_tokens;
    }
    if (n_rows > ctx->logits_cap_rows) {
        float *logits = realloc(ctx->logits, n_rows * n_vocab * sizeof *logits);
        if (!logits) return rz_error(RZ_ERR_NOMEM, "out of memory for %u logits rows", n_rows);
        ctx->logits = logits;
        ctx->logits_cap_rows = n_rows;
    }
    return RZ_OK;
}

static rz_status no_logits(const rz_model *m) {
    return rz_error(RZ_ERR_UNSUPPORTED, "decode: '%s' is an encoder: it has no logits, only embeddings",
                    m->desc.arch);
}

rz_status rz_decode(rz_context *ctx, const int32_t *tokens, uint32_t n_tokens, const bool *want_logits) {
    const rz_model *m = ctx->model;
    if (m->desc.encoder) return no_logits(m);
    if (n_tokens == 0) return rz_error(RZ_ERR_INVALID_ARG, "decode: no tokens");
    if (n_tokens > ctx->mem.kv.n_ctx - ctx->n_past)
        return rz_error(RZ_ERR_RANGE, "decode: %u tokens do not fit: the context holds %u of %u", n_tokens,
                        ctx->n_past, ctx->mem.kv.n_ctx);
    uint32_t n_rows = 0;
    for (uint32_t i = 0; i < n_tokens; i++) {
        if (tokens[i] < 0 || tokens[i] >= m->desc.n_vocab)
            return rz_error(RZ_ERR_INVALID_ARG, "decode: token %d is outside the vocabulary [0, %d)",
                            tokens[i], m->desc.n_vocab);
        n_rows += want_logits ? want_logits[i] : i + 1 == n_tokens;
    }
    RZ_TRY(rz_context_reserve(ctx, n_tokens, n_rows));
    const size_t n_vocab = (size_t)m->desc.n_vocab;
    uint32_t row = 0;
    for (uint32_t start = 0; start < n_tokens; start += ctx->n_batch) {
        const uint32_t n = n_tokens - start < ctx->n_batch ? n_tokens - start : ctx->n_batch;
        for (uint32_t i = 0; i < n; i++) {
            /* Without flags only the very last token of the call wants logits. */
            ctx->chunk_wants[i] = want_logits ? want_logits[start + i] : start + i + 1 == n_tokens;
            ctx->row_of[start + i] = ctx->chunk_wants[i] ? (int32_t)row++ : -1;
        }
        uint32_t n_out;
        const rz_sequence_batch seq = {
            .mem = &ctx->mem, .tokens = tokens + start, .n_tokens = n, .pos0 = ctx->n_past};
        rz_model_forward(m, &seq, 1, &ctx->buffers, ctx->pool, ctx->chunk_wants, &n_out);
        memcpy(ctx->logits + (size_t)(row - n_out) * n_vocab, ctx->buffers.logits,
               n_out * n_vocab * sizeof(float));
        ctx->n_past += n;
    }
    ctx->n_last = n_tokens;
    return RZ_OK;
}

rz_status rz_decode_batch(rz_context *const *ctxs, const int32_t *const *tokens, const uint32_t *n_tokens,
                          size_t n_ctxs) {
    if (n_ctxs == 0) return rz_error(RZ_ERR_INVALID_ARG, "decode batch: no contexts");
    rz_context *runner = ctxs[0];
    const rz_model *m = runner->model;
    if (m->desc.encoder) return no_logits(m);
    if (n_ctxs > runner->n_batch)
        return rz_error(RZ_ERR_RANGE, "decode batch: %zu contexts exceed the batch size %u", n_ctxs,
                        runner->n_batch);
    rz_sequence_batch *seqs = calloc(n_ctxs, sizeof *seqs);
    if (!seqs) return rz_error(RZ_ERR_NOMEM, "out of memory");
    uint32_t total = 0;
    rz_status s = RZ_OK;
    for (size_t i = 0; i < n_ctxs && s == RZ_OK; i++) {
        rz_context *c = ctxs[i];
        /* Recurrent states are float32 whatever the cache types say. */
        const bool other_types = !m->recurrent && (c->mem.kv.type_k != runner->mem.kv.type_k ||
                                                   c->mem.kv.type_v != runner->mem.kv.type_v);
        if (c->model != m || other_types || c->mem.kv.n_ctx > runner->buffers.max_ctx)
            s = rz_error(RZ_ERR_INVALID_ARG,
                         "decode batch: context %zu differs in model, cache type or exceeds "
                         "the first context's size",
                         i);
        else if (n_tokens[i] == 0 || n_tokens[i] > c->mem.kv.n_ctx - c->n_past ||
                 (c->mem.kv.any_ring && n_tokens[i] > c->mem.kv.rewind))
            s = rz_error(RZ_ERR_RANGE, "decode batch: %u tokens for context %zu do not fit (%u of %u used)",
                         n_tokens[i], i, c->n_past, c->mem.kv.n_ctx);
        for (size_t j = 0; j < i && s == RZ_OK; j++)
            if (ctxs[j] == c) s = rz_error(RZ_ERR_INVALID_ARG, "decode batch: context %zu appears twice", i);
        for (uint32_t k = 0; k < n_tokens[i] && s == RZ_OK; k++)
            if (tokens[i][k] < 0 || tokens[i][k] >= m->desc.n_vocab)
                s = rz_error(RZ_ERR_INVALID_ARG, "decode batch: token %d is outside the vocabulary",
                             tokens[i][k]);
        if (s == RZ_OK) s = rz_context_reserve(c, n_tokens[i], 1);
        seqs[i] = (rz_sequence_batch){
            .mem = &c->mem, .tokens = tokens[i], .n_tokens = n_tokens[i], .pos0 = c->n_past};
        total += n_tokens[i];
    }
    if (s == RZ_OK && total > runner->n_batch)
        s = rz_error(RZ_ERR_RANGE, "decode batch: %u tokens exceed the batch size %u", total,
                     runner->n_batch);
    if (s != RZ_OK) {
        free(seqs);
        return s;
    }
    /* Each context wants the logits of its last token. */
    uint32_t t = 0;
    for (size_t i = 0; i < n_ctxs; i++)
        for (uint32_t k = 0; k < n_tokens[i]; k++, t++)
            runner->chunk_wants[t] = k + 1 == n_tokens[i];
    uint32_t n_out;
    rz_model_forward(m, seqs, (uint32_t)n_ctxs, &runner->buffers, runner->pool, runner->chunk_wants, &n_out);
    const size_t n_vocab = (size_t)m->desc.n_vocab;
    for (size_t i = 0; i < n_ctxs; i++) {
        rz_context *c = ctxs[i];
        memcpy(c->logits, runner->buffers.logits + i * n_vocab, n_vocab * sizeof(float));
        for (uint32_t k = 0; k < n_tokens[i]; k++)
            c->row_of[k] = k + 1 == n_tokens[i] ? 0 : -1;
        c->n_last = n_tokens[i];
        c->n_past += n_tokens[i];
    }
    free(seqs);
    return RZ_OK;
}

rz_embed_params rz_embed_default_params(void) {
    return (rz_embed_params){.pooling = RZ_POOLING_MODEL, .normalize = true};
}

static void l2_normalize(float *v, int32_t n) {
    double norm = 0.0;
    for (int32_t i = 0; i < n; i++)
        norm += (double)v[i] * v[i];
    const float scale = norm > 0.0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
    for (int32_t i = 0; i < n; i++)
        v[i] *= scale;
}

rz_status rz_embed_ext(rz_context *ctx, const int32_t *tokens, uint32_t n_tokens,
                       const rz_embed_params *params, float *out) {
    const rz_model *m = ctx->model;
    const int32_t E = m->desc.n_embd;
    const rz_embed_params p = params ? *params : rz_embed_default_params();
    rz_pooling pooling = p.pooling;
    if (pooling == RZ_POOLING_MODEL)
        pooling = m->desc.pooling == RZ_POOLING_NONE ? RZ_POOLING_MEAN : m->desc.pooling;
    if (pooling < RZ_POOLING_NONE || pooling > RZ_POOLING_LAST)
        return rz_error(RZ_ERR_INVALID_ARG, "embed: unknown pooling type %d", (int)p.pooling);
    if (n_tokens == 0) return rz_error(RZ_ERR_INVALID_ARG, "embed: no tokens");
    if (n_tokens > ctx->mem.kv.n_ctx)
        return rz_error(RZ_ERR_RANGE, "embed: %u tokens exceed the context of %u", n_tokens,
                        ctx->mem.kv.n_ctx);
    for (uint32_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= m->desc.n_vocab)
            return rz_error(RZ_ERR_INVALID_ARG, "embed: token %d is outside the vocabulary [0, %d)",
                            tokens[i], m->desc.n_vocab);
    if (pooling == RZ_POOLING_MEAN) memset(out, 0, (size_t)E * sizeof *out);
    ctx->n_past = 0;
    rz_seq_memory_clear(&ctx->mem);
    ctx->n_last = 0; /* the logits of an earlier decode are gone with the cache */
    const float *x = ctx->buffers.x;
    for (uint32_t start = 0; start < n_tokens; start += ctx->n_batch) {
        const uint32_t n = n_tokens - start < ctx->n_batch ? n_tokens - start : ctx->n_batch;
        const rz_sequence_batch seq = {
            .mem = &ctx->mem, .tokens = tokens + start, .n_tokens = n, .pos0 = ctx->n_past};
        rz_model_forward_hidden(m, &seq, 1, &ctx->buffers, ctx->pool);
        ctx->n_past += n;
        switch (pooling) {
        case RZ_POOLING_NONE: memcpy(out + (size_t)start * E, x, (size_t)n * E * sizeof *out); break;
        case RZ_POOLING_MEAN:
            for (uint32_t t = 0; t < n; t++)
                rz_add(out, x + (size_t)t * E, E);
            break;
        case RZ_POOLING_CLS:
            if (start == 0) memcpy(out, x, (size_t)E * sizeof *out);
            break;
        case RZ_POOLING_LAST:
            if (start + n == n_tokens) memcpy(out, x + (size_t)(n - 1) * E, (size_t)E * sizeof *out);
            break;
        case RZ_POOLING_MODEL: break; /* resolved above */
        }
    }
    if (pooling == RZ_POOLING_MEAN)
        for (int32_t i = 0; i < E; i++)
            out[i] /= (float)n_tokens;
    const uint32_t n_vectors = pooling == RZ_POOLING_NONE ? n_tokens : 1;
    for (uint32_t v = 0; p.normalize && v < n_vectors; v++)
        l2_normalize(out + (size_t)v * E, E);
    return RZ_OK;
}

rz_status rz_embed(rz_context *ctx, const int32_t *tokens, uint32_t n_tokens, float *out) {
    return rz_embed_ext(ctx, tokens, n_tokens, NULL, out);
}

const float *rz_get_logits(const rz_context *ctx, int32_t i) {
    if (ctx->n_last == 0) return NULL;
    if (i < 0) i = (int32_t)ctx->n_last - 1;
    if ((uint32_t)i >= ctx->n_last || ctx->row_of[i] < 0) return NULL;
    return ctx->logits + (size_t)ctx->row_of[i] * (size_t)ctx->model->desc.n_vocab;
}

double rz_time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
