#include "model/blocks.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "kernels/matmul.h"
#include "kernels/ops.h"
#include "tensor/type_traits.h"

void rz_g_rms_norm(rz_graph *g, float *out, const float *in, const rz_tensor *w) {
    const int64_t E = g->m->desc.n_embd;
    for (uint32_t t = 0; t < g->n_tokens; t++)
        rz_rms_norm(out + t * E, in + t * E, w->data, E, g->m->desc.rms_eps);
}

void rz_g_layer_norm(rz_graph *g, float *out, const float *in, const rz_tensor *w, const rz_tensor *b) {
    const int64_t E = g->m->desc.n_embd;
    for (uint32_t t = 0; t < g->n_tokens; t++)
        rz_layer_norm(out + t * E, in + t * E, w->data, b->data, E, g->m->norm_eps);
}

void rz_g_residual(rz_graph *g) { rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * g->m->desc.n_embd); }

/* y[t] += bias for every token (rows of y `stride` floats apart). */
static void add_bias(const rz_graph *g, float *y, int64_t stride, const rz_tensor *bias) {
    if (!bias->data) return;
    for (uint32_t t = 0; t < g->n_tokens; t++)
        rz_add(y + t * stride, bias->data, bias->ne[0]);
}

/* The first mat-muls of a layer's FFN, which a mat-mul before them names
 * for prefetching. */
static int ffn_first(const rz_layer *L, const rz_tensor **out) {
    if (L->exp_up) {
        out[0] = &L->gate_inp;
        return 1;
    }
    if (!L->ffn_gate.data) {
        out[0] = &L->ffn_up;
        return 1;
    }
    out[0] = &L->ffn_gate, out[1] = &L->ffn_up;
    return 2;
}

/* What comes after layer l's last mat-mul: the next layer's Q/K/V, or the
 * output head (encoders: nothing). */
static int after_layer(const rz_model *m, int32_t l, const rz_tensor **out) {
    if (l + 1 == m->desc.n_layer) {
        out[0] = &m->output;
        return m->output.data ? 1 : 0;
    }
    const rz_layer *N = &m->layers[l + 1];
    out[0] = &N->wq, out[1] = &N->wk, out[2] = &N->wv;
    return 3;
}

/* ------------------------------------------------------------ attention */

typedef struct attention_job {
    const rz_graph *g;
    const rz_layer *L;
    uint32_t layer;
    atomic_uint next; /* next unclaimed (block, KV head) unit */
} attention_job;

typedef struct attention_ctx {
    const rz_model *m;
    rz_forward_buffers *b;
    uint64_t k_head_bytes, v_head_bytes;
    float *scores;
    char *q_conv;
} attention_ctx;

/* Keys token t attends to: those up to its own position, or in an
 * encoder all of its sequence (every one is in the cache before attention
 * runs). */
static uint32_t n_keys(const rz_graph *g, uint32_t t) {
    const rz_sequence_batch *seq = &g->seqs[g->b->token_seq[t]];
    return g->m->causal ? g->b->token_pos[t] + 1 : seq->pos0 + seq->n_tokens;
}

/* The first key a query at position pos sees: its layer's window. */
static uint32_t first_key(const rz_layer *L, uint32_t pos) {
    return L->window && pos + 1 > L->window ? pos + 1 - L->window : 0;
}

static void attend_head(const attention_job *job, const attention_ctx *x, uint32_t t, int64_t h) {
    const rz_model *m = x->m;
    const rz_layer *L = job->L;
    const int64_t hd = m->head_dim, kvh = h / (m->desc.n_head / m->desc.n_head_kv);
    const rz_kv_cache *c = &job->g->seqs[x->b->token_seq[t]].mem->kv;
    const uint32_t pos = x->b->token_pos[t], first = first_key(L, pos);
    /* A ring holds the window in consecutive rows from its first key's. */
    const uint32_t key0 = c->ring[job->layer] ? first : 0, row0 = rz_kv_row_of(c, job->layer, key0);
    const rz_attn_head head = {
        .q = x->b->q + t * m->q_dim + h * hd,
        .k = (const char *)rz_kv_k_row(c, job->layer, row0) + (uint64_t)kvh * x->k_head_bytes,
        .v = (const char *)rz_kv_v_row(c, job->layer, row0) + (uint64_t)kvh * x->v_head_bytes,
        .k_stride = c->k_row_bytes,
        .v_stride = c->v_row_bytes,
        .n_keys = n_keys(job->g, t) - key0,
        .first_key = first - key0,
        .head_dim = hd,
        .scale = m->attn_scale,
        .softcap = m->attn_softcap,
        .has_sink = L->attn_sinks.data != NULL,
        .sink = L->attn_sinks.data ? ((const float *)L->attn_sinks.data)[h] : 0.0f,
    };
    rz_attention_head(&job->g->kern, &head, x->scores, x->q_conv, x->b->att + t * m->q_dim + h * hd);
}

/* The tokens t0 .. t1 - 1 of one sequence with every query head of KV head
 * kvh, keys read once for all of them. */
static void attend_block(const attention_job *job, const attention_ctx *x, uint32_t t0, uint32_t t1,
                         int64_t kvh, void *scratch) {
    const rz_model *m = x->m;
    const int64_t hd = m->head_dim, Q = m->q_dim, group = m->desc.n_head / m->desc.n_head_kv;
    const rz_kv_cache *c = &job->g->seqs[x->b->token_seq[t0]].mem->kv;
    /* The block's tokens are consecutive: the first sees the earliest key. */
    const uint32_t key0 = c->ring[job->layer] ? first_key(job->L, x->b->token_pos[t0]) : 0;
    const uint32_t row0 = rz_kv_row_of(c, job->layer, key0);
    rz_attn_block a = {
        .k = (const char *)rz_kv_k_row(c, job->layer, row0) + (uint64_t)kvh * x->k_head_bytes,
        .v = (const char *)rz_kv_v_row(c, job->layer, row0) + (uint64_t)kvh * x->v_head_bytes,
        .k_stride = c->k_row_bytes,
        .v_stride = c->v_row_bytes,
        .head_dim = hd,
        .scale = m->attn_scale,
        .softcap = m->attn_softcap,
        .has_sink = job->L->attn_sinks.data != NULL,
    };
    for (uint32_t t = t0; t < t1; t++)
        for (int64_t h = kvh * group; h < (kvh + 1) * group; h++, a.n_rows++) {
            a.q[a.n_rows] = x->b->q + t * Q + h * hd;
            a.out[a.n_rows] = x->b->att + t * Q + h * hd;
            a.n_keys[a.n_rows] = n_keys(job->g, t) - key0;
            a.first_key[a.n_rows] = first_key(job->L, x->b->token_pos[t]) - key0;
            if (a.has_sink) a.sink[a.n_rows] = ((const float *)job->L->attn_sinks.data)[h];
        }
    rz_attention_block(&job->g->kern, &a, scratch);
}

/* Decoding: (token, head) pairs split evenly. Prompts: (token block, KV
 * head) units claimed one at a time, the longest blocks (the last) first. */
static void attention_task(void *arg, int ith, int nth) {
    attention_job *job = arg;
    const rz_graph *g = job->g;
    const rz_model *m = g->m;
    rz_forward_buffers *b = g->b;
    const int64_t n_head = m->desc.n_head, n_head_kv = m->desc.n_head_kv;
    /* All caches of one pass share types (checked by the caller). */
    const rz_kv_cache *c0 = &g->seqs[0].mem->kv;
    const attention_ctx x = {
        .m = m,
        .b = b,
        .k_head_bytes = rz_row_bytes(rz_type_traits_get(c0->type_k), (uint64_t)m->head_dim),
        .v_head_bytes = rz_row_bytes(rz_type_traits_get(c0->type_v), (uint64_t)m->head_dim),
        .scores = b->scores + (size_t)ith * (b->max_ctx + 1),
        .q_conv = b->q_conv + (size_t)ith * b->q_conv_stride,
    };
    if (g->n_blocks == 0) {
        int64_t begin, end;
        rz_split_range((int64_t)g->n_tokens * n_head, 1, ith, nth, &begin, &end);
        for (int64_t i = begin; i < end; i++)
            attend_head(job, &x, (uint32_t)(i / n_head), i % n_head);
        return;
    }
    void *scratch = b->attn_scratch + (size_t)ith * b->attn_scratch_stride;
    const uint32_t n_units = g->n_blocks * (uint32_t)n_head_kv;
    for (uint32_t u; (u = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed)) < n_units;) {
        const uint32_t block = g->n_blocks - 1 - u / (uint32_t)n_head_kv;
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

static void store_kv(const rz_graph *g, uint32_t layer) {
    const rz_forward_buffers *b = g->b;
    const int64_t KV = g->m->kv_dim;
    for (uint32_t t = 0; t < g->n_tokens; t++)
        rz_kv_cache_store(&g->seqs[b->token_seq[t]].mem->kv, layer, b->token_pos[t], b->k + t * KV,
                          b->v + t * KV);
}

/* RMSNorm over groups of w's width in the n floats per token: one head
 * (Qwen 3's and Gemma 3's q/k norms) or the whole vector (OLMoE's). */
static void qk_norm(const rz_graph *g, float *x, int64_t n, const rz_tensor *w) {
    if (!w->data) return;
    const int64_t width = w->ne[0];
    for (uint32_t t = 0; t < g->n_tokens; t++)
        for (int64_t i = 0; i < n; i += width)
            rz_rms_norm(x + t * n + i, x + t * n + i, w->data, width, g->m->desc.rms_eps);
}

void rz_g_attention(rz_graph *g, const rz_layer *L, int32_t l) {
    const rz_model *m = g->m;
    const rz_model_desc *d = &m->desc;
    rz_forward_buffers *b = g->b;
    const int64_t E = d->n_embd, Q = m->q_dim, KV = m->kv_dim, hd = m->head_dim;
    const uint32_t n = g->n_tokens;
    const rz_tensor *wo[] = {&L->wo}, *ffn[2];
    const rz_matmul_out qkv[] = {{.w = &L->wq, .y = b->q, .y_stride = Q},
                                 {.w = &L->wk, .y = b->k, .y_stride = KV},
                                 {.w = &L->wv, .y = b->v, .y_stride = KV}};
    rz_matmul_fused(g->pool, qkv, 3, b->xb, E, n, b->work, wo, 1);
    add_bias(g, b->q, Q, &L->bq);
    add_bias(g, b->k, KV, &L->bk);
    add_bias(g, b->v, KV, &L->bv);
    qk_norm(g, b->q, Q, &L->q_norm);
    qk_norm(g, b->k, KV, &L->k_norm);
    const int64_t n_pairs = d->n_rot / 2;
    for (uint32_t t = 0; t < n; t++) {
        const float *cs = b->rope_cos[L->rope_set] + t * n_pairs,
                    *sn = b->rope_sin[L->rope_set] + t * n_pairs;
        rz_rope_apply(b->q + t * Q, d->n_head, hd, d->n_rot, m->rope_style, cs, sn);
        rz_rope_apply(b->k + t * KV, d->n_head_kv, hd, d->n_rot, m->rope_style, cs, sn);
    }
    store_kv(g, (uint32_t)l);
    attention_job job = {.g = g, .L = L, .layer = (uint32_t)l};
    atomic_init(&job.next, 0);
    rz_threadpool_run(g->pool, attention_task, &job);
    if (L->attn_sub_norm.data)
        for (uint32_t t = 0; t < n; t++)
            rz_rms_norm(b->att + t * Q, b->att + t * Q, L->attn_sub_norm.data, Q, d->rms_eps);
    const rz_matmul_out out[] = {{.w = &L->wo, .y = b->xb, .y_stride = E}};
    rz_matmul_fused(g->pool, out, 1, b->att, Q, n, b->work, ffn, ffn_first(L, ffn));
    add_bias(g, b->xb, E, &L->bo);
}

/* ------------------------------------------------------------------ FFN */

/* gate = act(gate) * up over n values. */
static void activate(const rz_model *m, float *gate, float *up, int64_t n) {
    switch (m->ffn_activation) {
    case RZ_FFN_SILU: rz_swiglu(gate, up, n); break;
    case RZ_FFN_RELU_SQR: rz_relu_sqr_glu(gate, up, n); break;
    case RZ_FFN_GELU: rz_geglu(gate, up, n); break;
    case RZ_FFN_SWIGLU_OAI: rz_swiglu_oai(gate, up, n); break;
    }
}

void rz_g_ffn(rz_graph *g, const rz_layer *L, int32_t l) {
    const rz_model *m = g->m;
    rz_forward_buffers *b = g->b;
    const int64_t E = m->desc.n_embd, F = m->desc.n_ff;
    const uint32_t n = g->n_tokens;
    const rz_tensor *down[] = {&L->ffn_down}, *after[3];
    const rz_matmul_out gate_up[] = {{.w = &L->ffn_gate, .y = b->gate, .y_stride = F},
                                     {.w = &L->ffn_up, .y = b->up, .y_stride = F}};
    const bool gated = L->ffn_gate.data;
    rz_matmul_fused(g->pool, gated ? gate_up : gate_up + 1, gated ? 2 : 1, b->xb, E, n, b->work, down, 1);
    add_bias(g, b->up, F, &L->ffn_up_b);
    if (gated) {
        activate(m, b->gate, b->up, (int64_t)n * F);
    } else { /* BERT: gelu(up), the one ungated activation there is (ggml's, as Gemma's) */
        for (int64_t i = 0; i < (int64_t)n * F; i++)
            b->gate[i] = rz_gelu_f16(b->up[i]);
    }
    if (L->ffn_sub_norm.data)
        for (uint32_t t = 0; t < n; t++)
            rz_rms_norm(b->gate + t * F, b->gate + t * F, L->ffn_sub_norm.data, F, m->desc.rms_eps);
    const rz_matmul_out out[] = {{.w = &L->ffn_down, .y = b->xb, .y_stride = E}};
    rz_matmul_fused(g->pool, out, 1, b->gate, F, n, b->work, after, after_layer(m, l, after));
    add_bias(g, b->xb, E, &L->ffn_down_b);
}

/* ------------------------------------------------------------------ MoE */

/* Picks token t's experts and their weights from its router logits. Ties
 * go to the lower expert index. */
static void route(const rz_model *m, float *logits, int32_t *ids, float *weights) {
    const int32_t n_exp = m->n_expert, k = m->n_expert_used;
    if (m->moe_gating == RZ_MOE_SOFTMAX) rz_softmax(logits, n_exp);
    for (int32_t i = 0; i < k; i++) {
        int32_t best = -1;
        for (int32_t e = 0; e < n_exp; e++) {
            bool taken = false;
            for (int32_t j = 0; j < i; j++)
                taken |= ids[j] == e;
            if (!taken && (best < 0 || logits[e] > logits[best])) best = e;
        }
        ids[i] = best;
        weights[i] = logits[best];
    }
    if (m->moe_gating == RZ_MOE_SOFTMAX_SELECTED) rz_softmax(weights, k);
    if (m->moe_norm_weights) {
        float sum = 0.0f;
        for (int32_t i = 0; i < k; i++)
            sum += weights[i];
        for (int32_t i = 0; i < k; i++)
            weights[i] /= sum;
    }
}

/* The experts a pass chose, each with its tokens gathered into consecutive
 * rows (expert by expert): every expert's gate and up projections run in
 * one parallel region, the down projections in another (a region per
 * expert cost a synchronization each), and each expert's weights are read
 * once per pass. */
void rz_g_moe(rz_graph *g, const rz_layer *L, int32_t l) {
    const rz_model *m = g->m;
    rz_forward_buffers *b = g->b;
    const int64_t E = m->desc.n_embd, F = m->n_ff_exp, X = m->n_expert, K = m->n_expert_used;
    const uint32_t n = g->n_tokens;
    rz_matmul(g->pool, &L->gate_inp, b->xb, E, b->router, X, n, b->work);
    add_bias(g, b->router, X, &L->gate_inp_b);
    for (uint32_t t = 0; t < n; t++)
        route(m, b->router + t * X, b->moe_ids + t * K, b->moe_weights + t * K);
    uint32_t rows = 0;
    int n_active = 0;
    for (int32_t e = 0; e < (int32_t)X; e++) {
        const uint32_t first = rows;
        for (uint32_t t = 0; t < n; t++)
            for (int64_t i = 0; i < K; i++)
                if (b->moe_ids[t * K + i] == e) {
                    b->moe_tokens[rows] = t;
                    b->moe_slot[rows] = (uint32_t)i;
                    memcpy(b->moe_x + rows * E, b->xb + t * E, (size_t)E * sizeof(float));
                    rows++;
                }
        if (rows == first) continue;
        const rz_matmul_out gate = {.w = &L->exp_gate[e],
                                    .y = b->gate + first * F,
                                    .y_stride = F,
                                    .x = b->moe_x + first * E,
                                    .n_tokens = rows - first};
        b->moe_gate_up[2 * n_active] = gate;
        b->moe_gate_up[2 * n_active + 1] = gate;
        b->moe_gate_up[2 * n_active + 1].w = &L->exp_up[e];
        b->moe_gate_up[2 * n_active + 1].y = b->up + first * F;
        b->moe_down[n_active] = (rz_matmul_out){.w = &L->exp_down[e],
                                                .y = b->moe_out + first * E,
                                                .y_stride = E,
                                                .x = b->gate + first * F,
                                                .n_tokens = rows - first};
        b->moe_first_down[n_active < 3 ? n_active : 2] = &L->exp_down[e];
        n_active++;
    }
    const rz_tensor *after[3];
    rz_matmul_fused(g->pool, b->moe_gate_up, 2 * n_active, b->moe_x, E, rows, b->work, b->moe_first_down,
                    n_active < 3 ? n_active : 3);
    for (uint32_t r = 0; r < rows && L->exp_gate_b.data; r++) {
        const int32_t e = b->moe_ids[b->moe_tokens[r] * K + b->moe_slot[r]];
        rz_add(b->gate + r * F, rz_tensor_row(&L->exp_gate_b, e), F);
        rz_add(b->up + r * F, rz_tensor_row(&L->exp_up_b, e), F);
    }
    activate(m, b->gate, b->up, (int64_t)rows * F);
    rz_matmul_fused(g->pool, b->moe_down, n_active, b->gate, F, rows, b->work, after,
                    after_layer(m, l, after));
    memset(b->xb, 0, (size_t)n * (size_t)E * sizeof *b->xb);
    for (uint32_t r = 0; r < rows; r++) {
        const uint32_t t = b->moe_tokens[r];
        const int32_t e = b->moe_ids[t * K + b->moe_slot[r]];
        float *y = b->moe_out + r * E, *x = b->xb + t * E;
        if (L->exp_down_b.data) rz_add(y, rz_tensor_row(&L->exp_down_b, e), E);
        const float w = b->moe_weights[t * K + b->moe_slot[r]];
        for (int64_t j = 0; j < E; j++)
            x[j] += w * y[j];
    }
}

void rz_g_prenorm_layer(rz_graph *g, const rz_layer *L, int32_t l) {
    rz_g_rms_norm(g, g->b->xb, g->b->x, &L->attn_norm);
    rz_g_attention(g, L, l);
    rz_g_residual(g);
    rz_g_rms_norm(g, g->b->xb, g->b->x, &L->ffn_norm);
    if (L->exp_up)
        rz_g_moe(g, L, l);
    else
        rz_g_ffn(g, L, l);
    rz_g_residual(g);
}
