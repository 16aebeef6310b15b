#include "model/llama.h"

#include <math.h>
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
    b->rope_cos = rz_calloc_aligned(n * (n_pairs ? n_pairs : 1), sizeof(float));
    b->rope_sin = rz_calloc_aligned(n * (n_pairs ? n_pairs : 1), sizeof(float));
    if (!b->x || !b->xb || !b->q || !b->k || !b->v || !b->att || !b->gate || !b->up || !b->logits ||
        !b->work || !b->scores || !b->q_conv || !b->rope_cos || !b->rope_sin || !b->token_seq ||
        !b->token_pos) {
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
    memset(b, 0, sizeof *b);
}

typedef struct attention_job {
    const rz_model *model;
    const rz_sequence_batch *seqs;
    rz_forward_buffers *b;
    rz_attn_kernels kern;
    uint32_t layer, n_tokens;
} attention_job;

/* One (token, head) pair at a time, each over its own sequence's cache. */
static void attention_task(void *arg, int ith, int nth) {
    const attention_job *job = arg;
    const rz_model *m = job->model;
    rz_forward_buffers *b = job->b;
    const int64_t hd = m->head_dim, n_head = m->desc.n_head;
    const int64_t group = n_head / m->desc.n_head_kv;
    /* All caches of one pass share types (checked by the caller). */
    const rz_kv_cache *c0 = job->seqs[0].cache;
    const uint64_t k_head_bytes = rz_row_bytes(rz_type_traits_get(c0->type_k), (uint64_t)hd);
    const uint64_t v_head_bytes = rz_row_bytes(rz_type_traits_get(c0->type_v), (uint64_t)hd);
    float *scores = b->scores + (size_t)ith * b->max_ctx;
    char *q_conv = b->q_conv + (size_t)ith * b->q_conv_stride;

    int64_t begin, end;
    rz_split_range((int64_t)job->n_tokens * n_head, 1, ith, nth, &begin, &end);
    for (int64_t job_index = begin; job_index < end; job_index++) {
        const int64_t t = job_index / n_head, h = job_index % n_head, kvh = h / group;
        const rz_kv_cache *c = job->seqs[b->token_seq[t]].cache;
        const rz_attn_head head = {
            .q = b->q + t * m->desc.n_embd + h * hd,
            .k = (const char *)rz_kv_k_row(c, job->layer, 0) + (uint64_t)kvh * k_head_bytes,
            .v = (const char *)rz_kv_v_row(c, job->layer, 0) + (uint64_t)kvh * v_head_bytes,
            .k_stride = c->k_row_bytes,
            .v_stride = c->v_row_bytes,
            .n_keys = b->token_pos[t] + 1,
            .head_dim = hd,
            .scale = 1.0f / sqrtf((float)hd),
        };
        rz_attention_head(&job->kern, &head, scores, q_conv, b->att + t * m->desc.n_embd + h * hd);
    }
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
    for (int32_t l = 0; l < d->n_layer; l++) {
        const rz_layer *L = &m->layers[l];
        for (uint32_t t = 0; t < n_tokens; t++)
            rz_rms_norm(b->xb + t * E, b->x + t * E, L->attn_norm.data, E, d->rms_eps);
        const rz_matmul_out qkv[] = {{&L->wq, b->q, E}, {&L->wk, b->k, kv_dim}, {&L->wv, b->v, kv_dim}};
        rz_matmul_fused(pool, qkv, 3, b->xb, E, n_tokens, b->work);
        for (uint32_t t = 0; t < n_tokens; t++) {
            const float *cs = b->rope_cos + t * n_pairs, *sn = b->rope_sin + t * n_pairs;
            rz_rope_apply(b->q + t * E, d->n_head, hd, d->n_rot, m->rope_style, cs, sn);
            rz_rope_apply(b->k + t * kv_dim, d->n_head_kv, hd, d->n_rot, m->rope_style, cs, sn);
        }
        store_kv(seqs, b, (uint32_t)l, n_tokens);
        attention_job job = {
            .model = m, .seqs = seqs, .b = b, .kern = kern, .layer = (uint32_t)l, .n_tokens = n_tokens};
        rz_threadpool_run(pool, attention_task, &job);
        if (L->attn_sub_norm.data)
            for (uint32_t t = 0; t < n_tokens; t++)
                rz_rms_norm(b->att + t * E, b->att + t * E, L->attn_sub_norm.data, E, d->rms_eps);
        rz_matmul(pool, &L->wo, b->att, E, b->xb, E, n_tokens, b->work);
        rz_add(b->x, b->xb, (int64_t)n_tokens * E);

        for (uint32_t t = 0; t < n_tokens; t++)
            rz_rms_norm(b->xb + t * E, b->x + t * E, L->ffn_norm.data, E, d->rms_eps);
        const rz_matmul_out gate_up[] = {{&L->ffn_gate, b->gate, F}, {&L->ffn_up, b->up, F}};
        rz_matmul_fused(pool, gate_up, 2, b->xb, E, n_tokens, b->work);
        if (m->arch->ffn_activation == RZ_FFN_SILU)
            rz_swiglu(b->gate, b->up, (int64_t)n_tokens * F);
        else
            rz_relu_sqr_glu(b->gate, b->up, (int64_t)n_tokens * F);
        if (L->ffn_sub_norm.data)
            for (uint32_t t = 0; t < n_tokens; t++)
                rz_rms_norm(b->gate + t * F, b->gate + t * F, L->ffn_sub_norm.data, F, d->rms_eps);
        rz_matmul(pool, &L->ffn_down, b->gate, F, b->xb, E, n_tokens, b->work);
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
