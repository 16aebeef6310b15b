#include "model/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "model/arch.h"
#include "tensor/type_traits.h"

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* A recurrent model's buffers: the residual stream, its layers' working
 * space, logits and mat-mul scratch; nothing that grows with the context. */
static rz_status rec_buffers_init(rz_forward_buffers *b, const rz_model *model, uint32_t n_batch,
                                  int n_threads, size_t work) {
    const size_t n = n_batch, E = (size_t)model->desc.n_embd;
    b->n_batch = n_batch;
    b->max_ctx = UINT32_MAX; /* no attention scores: any context */
    b->n_threads = n_threads;
    b->token_seq = rz_calloc_aligned(n, sizeof *b->token_seq);
    b->token_pos = rz_calloc_aligned(n, sizeof *b->token_pos);
    b->x = rz_calloc_aligned(n * E, sizeof(float));
    b->xb = rz_calloc_aligned(n * E, sizeof(float));
    b->logits = rz_calloc_aligned(n * (size_t)model->desc.n_vocab, sizeof(float));
    b->work = rz_alloc_aligned(work);
    b->rec_scratch = rz_calloc_aligned(n * (size_t)model->rec.scratch_floats, sizeof(float));
    if (!b->token_seq || !b->token_pos || !b->x || !b->xb || !b->logits || !b->work || !b->rec_scratch) {
        rz_forward_buffers_free(b);
        return rz_error(RZ_ERR_NOMEM, "out of memory for activations of a %u-token batch", n_batch);
    }
    return RZ_OK;
}

rz_status rz_forward_buffers_init(rz_forward_buffers *b, const rz_model *model, const rz_seq_memory *mem,
                                  uint32_t n_batch, int n_threads) {
    memset(b, 0, sizeof *b);
    const rz_kv_cache *cache = &mem->kv;
    const rz_model_desc *d = &model->desc;
    const size_t n = n_batch, E = (size_t)d->n_embd;
    /* a token's experts side by side, or a batch's FFN rows */
    const size_t ff = max_size((size_t)d->n_ff, (size_t)model->n_ff_exp * (size_t)model->n_expert_used);
    size_t work = 0;
    for (int64_t i = 0; i < model->n_matrices; i++)
        work = max_size(work, rz_matmul_work_size(model->matrices[i], (int64_t)n));
    for (int32_t l = 0; l < d->n_layer; l++) {
        const rz_layer *L = &model->layers[l];
        const rz_tensor *qkv[] = {&L->wq, &L->wk, &L->wv}, *gate_up[] = {&L->ffn_gate, &L->ffn_up};
        work = max_size(work, rz_matmul_fused_work_size(qkv, 3, (int64_t)n));
        if (L->ffn_up.data) {
            const bool gated = L->ffn_gate.data;
            work = max_size(
                work, rz_matmul_fused_work_size(gated ? gate_up : gate_up + 1, gated ? 2 : 1, (int64_t)n));
        }
        if (L->exp_up) { /* every expert's rows at once: n * K rows, each input converted once */
            const size_t rows = n * (size_t)model->n_expert_used, align = 64 * (size_t)model->n_expert;
            work = max_size(work, rz_matmul_work_size(&L->exp_gate[0], (int64_t)rows) +
                                      rz_matmul_work_size(&L->exp_up[0], (int64_t)rows) + 2 * align);
            work = max_size(work, rz_matmul_work_size(&L->exp_down[0], (int64_t)rows) + align);
        }
    }
    if (model->recurrent) return rec_buffers_init(b, model, n_batch, n_threads, work);
    rz_attn_kernels kern;
    RZ_TRY(rz_attn_kernels_get(cache->type_k, cache->type_v, model->head_dim, RZ_ISA_SCALAR, &kern));
    b->q_conv_stride = rz_align_up(kern.q_conv_bytes, RZ_CACHE_LINE);
    const size_t n_pairs = (size_t)(d->n_rot / 2) ? (size_t)(d->n_rot / 2) : 1;
    const size_t X = (size_t)model->n_expert, K = (size_t)model->n_expert_used;
    b->n_batch = n_batch;
    b->max_ctx = cache->n_ctx; /* score rows hold one more: a sink */
    b->n_threads = n_threads;
    b->token_seq = rz_calloc_aligned(n, sizeof *b->token_seq);
    b->token_pos = rz_calloc_aligned(n, sizeof *b->token_pos);
    b->x = rz_calloc_aligned(n * E, sizeof(float));
    b->xb = rz_calloc_aligned(n * E, sizeof(float));
    b->q = rz_calloc_aligned(n * (size_t)model->q_dim, sizeof(float));
    b->att = rz_calloc_aligned(n * (size_t)model->q_dim, sizeof(float));
    b->k = rz_calloc_aligned(n * (size_t)model->kv_dim, sizeof(float));
    b->v = rz_calloc_aligned(n * (size_t)model->kv_dim, sizeof(float));
    b->gate = rz_calloc_aligned(n * ff, sizeof(float));
    b->up = rz_calloc_aligned(n * ff, sizeof(float));
    /* encoders have no head: no logits */
    b->logits = rz_calloc_aligned(model->output.data ? n * (size_t)d->n_vocab : 1, sizeof(float));
    b->work = rz_alloc_aligned(work);
    b->scores = rz_calloc_aligned((size_t)n_threads * (cache->n_ctx + 1), sizeof(float));
    b->q_conv = rz_alloc_aligned((size_t)n_threads * b->q_conv_stride);
    b->attn_scratch_stride = rz_align_up(rz_attn_block_scratch_bytes(&kern, model->head_dim), RZ_CACHE_LINE);
    b->attn_scratch = rz_alloc_aligned((size_t)n_threads * b->attn_scratch_stride);
    b->attn_blocks = rz_calloc_aligned(n + 1, sizeof *b->attn_blocks);
    bool ok = b->x && b->xb && b->q && b->k && b->v && b->att && b->gate && b->up && b->logits && b->work &&
              b->scores && b->q_conv && b->token_seq && b->token_pos && b->attn_scratch && b->attn_blocks;
    for (int s = 0; s < model->n_rope_sets; s++) {
        b->rope_cos[s] = rz_calloc_aligned(n * n_pairs, sizeof(float));
        b->rope_sin[s] = rz_calloc_aligned(n * n_pairs, sizeof(float));
        ok = ok && b->rope_cos[s] && b->rope_sin[s];
    }
    if (X) {
        b->router = rz_calloc_aligned(n * X, sizeof(float));
        b->moe_ids = rz_calloc_aligned(n * K, sizeof *b->moe_ids);
        b->moe_weights = rz_calloc_aligned(n * K, sizeof(float));
        b->moe_tokens = rz_calloc_aligned(n * K, sizeof *b->moe_tokens);
        b->moe_slot = rz_calloc_aligned(n * K, sizeof *b->moe_slot);
        b->moe_x = rz_calloc_aligned(n * K * E, sizeof(float));
        b->moe_out = rz_calloc_aligned(n * K * E, sizeof(float));
        b->moe_gate_up = rz_calloc_aligned(2 * X, sizeof *b->moe_gate_up);
        b->moe_down = rz_calloc_aligned(X, sizeof *b->moe_down);
        ok = ok && b->router && b->moe_ids && b->moe_weights && b->moe_tokens && b->moe_slot && b->moe_x &&
             b->moe_out && b->moe_gate_up && b->moe_down;
    }
    if (!ok) {
        rz_forward_buffers_free(b);
        return rz_error(RZ_ERR_NOMEM, "out of memory for activations of a %u-token batch", n_batch);
    }
    return RZ_OK;
}

void rz_forward_buffers_free(rz_forward_buffers *b) {
    void *all[] = {b->x,           b->xb,          b->q,           b->k,           b->v,
                   b->att,         b->gate,        b->up,          b->logits,      b->scores,
                   b->work,        b->q_conv,      b->token_seq,   b->token_pos,   b->attn_scratch,
                   b->attn_blocks, b->rope_cos[0], b->rope_sin[0], b->rope_cos[1], b->rope_sin[1],
                   b->router,      b->moe_ids,     b->moe_weights, b->moe_tokens,  b->moe_slot,
                   b->moe_x,       b->moe_out,     b->moe_gate_up, b->moe_down,    b->rec_scratch};
    _Static_assert(RZ_MAX_ROPE_SETS == 2, "every RoPE table freed");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        rz_free_aligned(all[i]);
    memset(b, 0, sizeof *b);
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

/* An encoder's additions to token t's embedding in b->x: the row of token
 * type 0 ("sentence A": inputs carry no types), its position's learned
 * embedding, then a LayerNorm; b->xb is scratch. */
static void encoder_inputs(const rz_model *m, rz_forward_buffers *b, uint32_t t) {
    const int64_t E = m->desc.n_embd;
    float *x = b->x + t * E, *row = b->xb + t * E;
    if (m->token_types.data) {
        rz_type_traits_get(m->token_types.type)->to_float(rz_tensor_row(&m->token_types, 0), row, E);
        rz_add(x, row, E);
    }
    if (m->pos_embd.data) {
        rz_type_traits_get(m->pos_embd.type)->to_float(rz_tensor_row(&m->pos_embd, b->token_pos[t]), row, E);
        rz_add(x, row, E);
    }
    if (m->embd_norm.data) rz_layer_norm(x, x, m->embd_norm.data, m->embd_norm_b.data, E, m->norm_eps);
}

/* Embeddings, RoPE angles and every layer of the pass; the final hidden
 * states are left in b->x. */
static uint32_t forward_layers(const rz_model *m, const rz_sequence_batch *seqs, uint32_t n_seqs,
                               rz_forward_buffers *b, rz_threadpool *pool) {
    const rz_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, n_pairs = d->n_rot / 2;
    const rz_type_traits *et = rz_type_traits_get(m->tok_embd.type);
    rz_graph g = {.m = m, .seqs = seqs, .b = b, .pool = pool};
    /* Resolved per pass so that rz_isa_set applies; the types were checked
     * when the buffers were made, and every ISA path has each kernel. */
    if (!m->recurrent)
        (void)rz_attn_kernels_get(seqs[0].mem->kv.type_k, seqs[0].mem->kv.type_v, m->head_dim,
                                  rz_isa_active(), &g.kern);
    for (uint32_t s = 0; s < n_seqs; s++) {
        for (uint32_t i = 0; i < seqs[s].n_tokens; i++, g.n_tokens++) {
            b->token_seq[g.n_tokens] = s;
            b->token_pos[g.n_tokens] = seqs[s].pos0 + i;
        }
    }
    for (uint32_t t = 0; t < g.n_tokens; t++) {
        const rz_sequence_batch *seq = &seqs[b->token_seq[t]];
        float *x = b->x + t * E;
        et->to_float(rz_tensor_row(&m->tok_embd, seq->tokens[b->token_pos[t] - seq->pos0]), x, E);
        if (m->embd_scale != 1.0f)
            for (int64_t i = 0; i < E; i++)
                x[i] *= m->embd_scale;
        encoder_inputs(m, b, t);
        for (int s = 0; s < m->n_rope_sets; s++) {
            float *cs = b->rope_cos[s] + t * n_pairs, *sn = b->rope_sin[s] + t * n_pairs;
            rz_rope_angles(cs, sn, m->rope[s].freqs, n_pairs, (int32_t)b->token_pos[t]);
            for (int64_t i = 0; m->rope[s].mscale != 1.0f && i < n_pairs; i++)
                cs[i] *= m->rope[s].mscale, sn[i] *= m->rope[s].mscale;
        }
    }
    if (!m->recurrent) g.n_blocks = attention_blocks(m, b, g.n_tokens);
    for (int32_t l = 0; l < d->n_layer; l++)
        m->arch->layer(&g, &m->layers[l], l);
    return g.n_tokens;
}

/* The output norm: RMS, or a LayerNorm where it has a bias (RWKV). */
static void final_norm(const rz_model *m, float *out, const float *in) {
    const int64_t E = m->desc.n_embd;
    if (m->output_norm_b.data)
        rz_layer_norm(out, in, m->output_norm.data, m->output_norm_b.data, E, m->norm_eps);
    else
        rz_rms_norm(out, in, m->output_norm.data, E, m->desc.rms_eps);
}

void rz_model_forward(const rz_model *m, const rz_sequence_batch *seqs, uint32_t n_seqs,
                      rz_forward_buffers *b, rz_threadpool *pool, const bool *want_logits,
                      uint32_t *n_logits) {
    const rz_model_desc *d = &m->desc;
    const int64_t E = d->n_embd;
    const uint32_t n_tokens = forward_layers(m, seqs, n_seqs, b, pool);
    /* Only the rows whose logits were asked for go through the head. */
    uint32_t n_out = 0;
    for (uint32_t t = 0; t < n_tokens; t++) {
        bool wanted = want_logits ? want_logits[t] : t + 1 == n_tokens;
        if (!wanted) continue;
        final_norm(m, b->xb + (int64_t)n_out++ * E, b->x + t * E);
    }
    if (n_out > 0) rz_matmul(pool, &m->output, b->xb, E, b->logits, d->n_vocab, n_out, b->work);
    if (m->final_softcap > 0.0f)
        for (int64_t i = 0; i < (int64_t)n_out * d->n_vocab; i++)
            b->logits[i] = m->final_softcap * tanhf(b->logits[i] / m->final_softcap);
    *n_logits = n_out;
}

void rz_model_forward_hidden(const rz_model *m, const rz_sequence_batch *seqs, uint32_t n_seqs,
                             rz_forward_buffers *b, rz_threadpool *pool) {
    const int64_t E = m->desc.n_embd;
    const uint32_t n_tokens = forward_layers(m, seqs, n_seqs, b, pool);
    for (uint32_t t = 0; m->output_norm.data && t < n_tokens; t++)
        final_norm(m, b->x + t * E, b->x + t * E);
}
