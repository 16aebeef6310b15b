#include "model/llama.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "tensor/type_traits.h"

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

rz_status rz_forward_buffers_init(rz_forward_buffers *b, const rz_model *model, const rz_kv_cache *cache,
                                  uint32_t n_batch, int n_threads) {
    memset(b, 0, sizeof *b);
    const rz_model_desc *d = &model->desc;
    const size_t n = n_batch;
    const int64_t kv_dim = (int64_t)d->n_head_kv * model->head_dim;
    size_t work = rz_matmul_work_size(&model->output, (int64_t)n);
    for (int32_t l = 0; l < d->n_layer; l++) {
        const rz_layer *L = &model->layers[l];
        const rz_tensor *qkv[] = {&L->wq, &L->wk, &L->wv}, *gate_up[] = {&L->ffn_gate, &L->ffn_up};
        work = max_size(work, rz_matmul_fused_work_size(qkv, 3, (int64_t)n));
        work = max_size(work, rz_matmul_fused_work_size(gate_up, 2, (int64_t)n));
        work = max_size(work, rz_matmul_work_size(&L->wo, (int64_t)n));
        work = max_size(work, rz_matmul_work_size(&L->ffn_down, (int64_t)n));
    }
    rz_attn_kernels kern;
    RZ_TRY(rz_attn_kernels_get(cache->type_k, cache->type_v, model->head_dim, RZ_ISA_SCALAR, &kern));
    b->q_conv_stride = rz_align_up(kern.q_conv_bytes, RZ_CACHE_LINE);
    const size_t n_pairs = (size_t)(d->n_rot / 2);
    b->n_batch = n_batch;
    b->max_ctx = cache->n_ctx;
    b->n_threads = n_threads;
    b->token_seq = rz_calloc_aligned(n, sizeof *b->token_seq);
    b->token_pos = rz_calloc_aligned(n, sizeof *b->token_pos);
    b->x = rz_calloc_aligned(n * d->n_embd, sizeof(float));
    b->xb = rz_calloc_aligned(n * d->n_embd, sizeof(float));
    b->q = rz_calloc_aligned(n * d->n_embd, sizeof(float));
    b->k = rz_calloc_aligned(n * (size_t)kv_dim, sizeof(float));
    b->v = rz_calloc_aligned(n * (size_t)kv_dim, sizeof(float));
    b->att = rz_calloc_aligned(n * d->n_embd, sizeof(float));
    b->gate = rz_calloc_aligned(n * d->n_ff, sizeof(float));
    b->up = rz_calloc_aligned(n * d->n_ff, sizeof(float));
    b->logits = rz_calloc_aligned(n * d->n_vocab, sizeof(float));
    b->work = rz_alloc_aligned(work);
    b->scores = rz_calloc_aligned((size_t)n_threads * cache->n_ctx, sizeof(float));
    b->q_conv = rz_alloc_aligned((size_t)n_threads * b->q_conv_stride);
    b->attn_scratch_stride = rz_align_up(rz_attn_block_scratch_bytes(&kern, model->head_dim), RZ_CACHE_LINE);
    b->attn_scratch = rz_alloc_aligned((size_t)n_threads * b->attn_scratch_stride);
    b->attn_blocks = rz_calloc_aligned(n + 1, sizeof *b->attn_blocks);
    b->rope_cos = rz_calloc_aligned(n * (n_pairs ? n_pairs : 1), sizeof(float));
    b->rope_sin = rz_calloc_aligned(n * (n_pairs ? n_pairs : 1), sizeof(float));
    if (!b->x || !b->xb || !b->q || !b->k || !b->v || !b->att || !b->gate || !b->up || !b->logits ||
        !b->work || !b->scores || !b->q_conv || !b->rope_cos || !b->rope_sin || !b->token_seq ||
        !b->token_pos || !b->attn_scratch || !b->attn_blocks) {
        rz_forward_buffers_free(b);
        return rz_error(RZ_ERR_NOMEM, "out of memory for activations of a %u-token batch", n_batch);
    }
    return RZ_OK;
}

void rz_forward_buffers_free(rz_forward_buffers *b) {
    float *floats[] = {b->x,    b->xb, b->q,      b->k,      b->v,        b->att,
                       b->gate, b->up, b->logits, b->scores, b->rope_cos, b->rope_sin};
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        rz_free_aligned(floats[i]);
    rz_free_aligned(b->work);
    rz_free_aligned(b->q_conv);
    rz_free_aligned(b->token_seq);
    rz_free_aligned(b->token_pos);
    rz_free_aligned(b->attn_scratch);
    rz_free_aligned(b->attn_blocks);
    memset(b, 0, sizeof *b);
}

typedef struct attention_job {
    const rz_model *model;
    const rz_sequence_batch *seqs;
    rz_forward_buffers *b;
    rz_attn_kernels kern;
    uint32_t layer, n_tokens;
    uint32_t n_blocks; /* 0: one token per sequence (decoding), (token, head) pairs split evenly */
    atomic_uint next;  /* next unclaimed (block, KV head) unit */
} attention_job;

typedef struct attention_ctx {
    const rz_model *m;
    rz_forward_buffers *b;
    uint64_t k_head_bytes, v_head_bytes;
    float *scores;
    char *q_conv;
} attention_ctx;

static void attend_head(const attention_job *job, const attention_ctx *x, uint32_t t, int64_t h) {
    const int64_t hd = x->m->head_dim, kvh = h / (x->m->desc.n_head / x->m->desc.n_head_kv);
    const rz_kv_cache *c = job->seqs[x->b->token_seq[t]].cache;
    const rz_attn_head head = {
        .q = x->b->q + t * x->m->desc.n_embd + h * hd,
        .k = (const char *)rz_kv_k_row(c, job->layer, 0) + (uint64_t)kvh * x->k_head_bytes,
        .v = (const char *)rz_kv_v_row(c, job->layer, 0) + (uint64_t)kvh * x->v_head_bytes,
        .k_stride = c->k_row_bytes,
        .v_stride = c->v_row_bytes,
        .n_keys = x->b->token_pos[t] + 1,
        .head_dim = hd,
        .scale = 1.0f / sqrtf((float)hd),
    };
    rz_attention_head(&job->kern, &head, x->scores, x->q_conv, x->b->att + t * x->m->desc.n_embd + h * hd);
}

/* The tokens t0 .. t1 - 1 of one sequence with every query head of KV head
 * kvh, keys read once for all of them. */
static void attend_block(const attention_job *job, const attention_ctx *x, uint32_t t0, uint32_t t1,
                         int64_t kvh, void *scratch) {
    const rz_model *m = x->m;
    const int64_t hd = m->head_dim, E = m->desc.n_embd, group = m->desc.n_head / m->desc.n_head_kv;
    const rz_kv_cache *c = job->seqs[x->b->token_seq[t0]].cache;
    rz_attn_block a = {
        .k = (const char *)rz_kv_k_row(c, job->layer, 0) + (uint64_t)kvh * x->k_head_bytes,
        .v = (const char *)rz_kv_v_row(c, job->layer, 0) + (uint64_t)kvh * x->v_head_bytes,
        .k_stride = c->k_row_bytes,
        .v_stride = c->v_row_bytes,
        .head_dim = hd,
        .scale = 1.0f / sqrtf((float)hd),
    };
    for (uint32_t t = t0; t < t1; t++)
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++, a.n_rows++) {
            a.q[a.n_rows] = x->b->q + t * E + h * hd;
            a.out[a.n_rows] = x->b->att + t * E + h * hd;
            a.n_keys[a.n_rows] = x->b->token_pos[t] + 1;
        }
    rz_attention_block(&job->kern, &a, scratch);
}

/* Decoding: (token, head) pairs split evenly. Prompts: (token block, KV
 * head) units claimed one at a time, the longest blocks (the last) first. */
static void attention_task(void *arg, int ith, int nth) {
    attention_job *job = arg;
    const rz_model *m = job->model;
    rz_forward_buffers *b = job->b;
    const int64_t n_head = m->desc.n_head, n_head_kv = m->desc.n_head_kv;
    /* All caches of one pass share types (checked by the caller). */
    const rz_kv_cache *c0 = job->seqs[0].cache;
    const attention_ctx x = {
        .m = m,
        .b = b,
        .k_head_bytes = rz_row_bytes(rz_type_traits_get(c0->type_k), (uint64_t)m->head_dim),
        .v_head_bytes = rz_row_bytes(rz_type_traits_get(c0->type_v), (uint64_t)m->head_dim),
        .scores = b->scores + (size_t)ith * b->max_ctx,
        .q_conv = b->q_conv + (size_t)ith * b->q_conv_stride,
    };
    if (job->n_blocks == 0) {
        int64_t begin, end;
        rz_split_range((int64_t)job->n_tokens * n_head, 1, ith, nth, &begin, &end);
        for (int64_t i = begin; i < end; i++)
            attend_head(job, &x, (uint32_t)(i / n_head), i % n_head);
        return;
    }
    void *scratch = b->attn_scratch + (size_t)ith * b->attn_scratch_stride;
    const uint32_t n_units = job->n_blocks * (uint32_t)n_head_kv;
    for (uint32_t u; (u = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed)) < n_units;) {
        const uint32_t block = job->n_blocks - 1 - u / (uint32_t)n_head_kv;
        const int64_t kvh = u % (uint32_t)n_head_kv, group = n_head / n_head_kv;
        const uint32_t t0 = b->attn_blocks[block], t1 = b->attn_blocks[block + 1];
        if (t1 - t0 >= 2) {
            attend_block(job, &x, t0, t1, kvh, scratch);
        } else {
            for (int64_t h = kvh * group; h < (kvh + 1) * group; h++)
                attend_head(job, &x, t0, h);
        }
    }
}

/* Splits the pass into blocks of consecutive tokens of one sequence whose
 * query heads fill at most RZ_ATTN_BLOCK_ROWS rows; 0 when every sequence
 * has one token (nothing to share keys between). */
static uint32_t attention_blocks(const rz_model *m, rz_forward_buffers *b, uint32_t n_tokens) {
    const uint32_t group = (uint32_t)(m->desc.n_head / m->desc.n_head_kv);
    const uint32_t per_block = group < RZ_ATTN_BLOCK_ROWS ? RZ_ATTN_BLOCK_ROWS / group : 1;
    uint32_t n_blocks = 0, longest = 0;
    for (uint32_t t = 0; t < n_tokens; t++) {
        const uint32_t first = n_blocks ? b->attn_blocks[n_blocks - 1] : 0;
        if (n_blocks == 0 || b->token_seq[t] != b->token_seq[first] || t - first == per_block)
            b->attn_blocks[n_blocks++] = t;
        const uint32_t len = t + 1 - b->attn_blocks[n_blocks - 1];
        longest = len > longest ? len : longest;
    }
    b->attn_blocks[n_blocks] = n_tokens;
    return longest >= 2 ? n_blocks : 0;
}

static void store_kv(const rz_sequence_batch *seqs, const rz_forward_buffers *b, uint32_t layer,
                     uint32_t n_tokens) {
    for (uint32_t t = 0; t < n_tokens; t++) {
        rz_kv_cache *c = seqs[b->token_seq[t]].cache;
        const int64_t kv_dim = c->kv_dim;
        rz_type_traits_get(c->type_k)->from_float(b->k + (int64_t)t * kv_dim,
                                                  rz_kv_k_row(c, layer, b->token_pos[t]), kv_dim);
        rz_type_traits_get(c->type_v)->from_float(b->v + (int64_t)t * kv_dim,
                                                  rz_kv_v_row(c, layer, b->token_pos[t]), kv_dim);
    }
}

/* Every layer of the pass; the final hidden states are left in b->x. */
static uint32_t forward_layers(const rz_model *m, const rz_sequence_batch *seqs, uint32_t n_seqs,
                               rz_forward_buffers *b, rz_threadpool *pool) {
    const rz_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, F = d->n_ff, hd = m->head_dim;
    const int64_t kv_dim = (int64_t)d->n_head_kv * hd;
    const int64_t n_pairs = d->n_rot / 2;
    const rz_type_traits *et = rz_type_traits_get(m->tok_embd.type);
    /* Resolved per pass so that rz_isa_set applies; the types were checked
     * when the buffers were made, and every ISA path has each kernel. */
    rz_attn_kernels kern;
    (void)rz_attn_kernels_get(seqs[0].cache->type_k, seqs[0].cache->type_v, hd, rz_isa_active(), &kern);

    uint32_t n_tokens = 0;
    for (uint32_t s = 0; s < n_seqs; s++) {
        for (uint32_t i = 0; i < seqs[s].n_tokens; i++, n_tokens++) {
            b->token_seq[n_tokens] = s;
            b->token_pos[n_tokens] = seqs[s].pos0 + i;
        }
    }
    for (uint32_t t = 0; t < n_tokens; t++) {
        const rz_sequence_batch *seq = &seqs[b->token_seq[t]];
        et->to_float(rz_tensor_row(&m->tok_embd, seq->tokens[b->token_pos[t] - seq->pos0]), b->x + t * E, E);
        rz_rope_angles(b->rope_cos + t * n_pairs, b->rope_sin + t * n_pairs, m->rope_freqs, n_pairs,
                       (int32_t)b->token_pos[t]);
    }
    const uint32_t n_blocks = attention_blocks(m, b, n_tokens);
    for (int32_t l = 0; l < d->n_layer; l++) {
        const rz_layer *L = &m->layers[l];
        for (uint32_t t = 0; t < n_tokens; t++)
            rz_rms_norm(b->xb + t * E, b->x + t * E, L->attn_norm.data, E, d->rms_eps);
        /* Each mat-mul names the next, whose first chunks threads out of
         * work prefetch (through the serial steps in between too). */
        const rz_tensor *wo[] = {&L->wo}, *gate_up_w[] = {&L->ffn_gate, &L->ffn_up}, *down[] = {&L->ffn_down};
        const rz_tensor *after_down[3] = {&m->output};
        int n_after_down = 1;
        if (l + 1 < d->n_layer) {
            const rz_layer *N = &m->layers[l + 1];
            after_down[0] = &N->wq, after_down[1] = &N->wk, after_down[2] = &N->wv, n_after_down = 3;
        }
        const rz_matmul_out qkv[] = {{&L->wq, b->q, E}, {&L->wk, b->k, kv_dim}, {&L->wv, b->v, kv_dim}};
        rz_matmul_fused(pool, qkv, 3, b->xb, E, n_tokens, b->work, wo, 1);
        for (uint32_t t = 0; t < n_tokens; t++) {
            const float *cs = b->rope_cos + t * n_pairs, *sn = b->rope_sin + t * n_pairs;
            rz_rope_apply(b->q + t * E, d->n_head, hd, d->n_rot, m->rope_style, cs, sn);
            rz_rope_apply(b->k + t * kv_dim, d->n_head_kv, hd, d->n_rot, m->rope_style, cs, sn);
        }
        store_kv(seqs, b, (uint32_t)l, n_tokens);
        attention_job job = {.model = m,
                             .seqs = seqs,
                             .b = b,
                             .kern = kern,
                             .layer = (uint32_t)l,
                             .n_tokens = n_tokens,
                             .n_blocks = n_blocks};
        atomic_init(&job.next, 0);
        rz_threadpool_run(pool, attention_task, &job);
        if (L->attn_sub_norm.data)
            for (uint32_t t = 0; t < n_tokens; t++)
                rz_rms_norm(b->att + t * E, b->att + t * E, L->attn_sub_norm.data, E, d->rms_eps);
        const rz_matmul_out attn_out[] = {{&L->wo, b->xb, E}};
        rz_matmul_fused(pool, attn_out, 1, b->att, E, n_tokens, b->work, gate_up_w, 2);
        rz_add(b->x, b->xb, (int64_t)n_tokens * E);

        for (uint32_t t = 0; t < n_tokens; t++)
            rz_rms_norm(b->xb + t * E, b->x + t * E, L->ffn_norm.data, E, d->rms_eps);
        const rz_matmul_out gate_up[] = {{&L->ffn_gate, b->gate, F}, {&L->ffn_up, b->up, F}};
        rz_matmul_fused(pool, gate_up, 2, b->xb, E, n_tokens, b->work, down, 1);
        if (m->arch->ffn_activation == RZ_FFN_SILU)
            rz_swiglu(b->gate, b->up, (int64_t)n_tokens * F);
        else
            rz_relu_sqr_glu(b->gate, b->up, (int64_t)n_tokens * F);
        if (L->ffn_sub_norm.data)
            for (uint32_t t = 0; t < n_tokens; t++)
                rz_rms_norm(b->gate + t * F, b->gate + t * F, L->ffn_sub_norm.data, F, d->rms_eps);
        const rz_matmul_out ffn_out[] = {{&L->ffn_down, b->xb, E}};
        rz_matmul_fused(pool, ffn_out, 1, b->gate, F, n_tokens, b->work, after_down, n_after_down);
        rz_add(b->x, b->xb, (int64_t)n_tokens * E);
    }
    return n_tokens;
}

void rz_llama_forward(const rz_model *m, const rz_sequence_batch *seqs, uint32_t n_seqs,
                      rz_forward_buffers *b, rz_threadpool *pool, const bool *want_logits,
                      uint32_t *n_logits) {
    const rz_model_desc *d = &m->desc;
    const int64_t E = d->n_embd;
    const uint32_t n_tokens = forward_layers(m, seqs, n_seqs, b, pool);
    /* Only the rows whose logits were asked for go through the head. */
    uint32_t n_out = 0;
    for (uint32_t t = 0; t < n_tokens; t++) {
        bool wanted = want_logits ? want_logits[t] : t + 1 == n_tokens;
        if (wanted)
            rz_rms_norm(b->xb + (int64_t)n_out++ * E, b->x + t * E, m->output_norm.data, E, d->rms_eps);
    }
    if (n_out > 0) rz_matmul(pool, &m->output, b->xb, E, b->logits, d->n_vocab, n_out, b->work);
    *n_logits = n_out;
}

void rz_llama_forward_hidden(const rz_model *m, const rz_sequence_batch *seqs, uint32_t n_seqs,
                             rz_forward_buffers *b, rz_threadpool *pool, float *hidden_sum) {
    const int64_t E = m->desc.n_embd;
    const uint32_t n_tokens = forward_layers(m, seqs, n_seqs, b, pool);
    for (uint32_t t = 0; t < n_tokens; t++) {
        rz_rms_norm(b->xb, b->x + t * E, m->output_norm.data, E, m->desc.rms_eps);
        rz_add(hidden_sum, b->xb, E);
    }
}
