/* RWKV 5.2, 6 and 7 (llama.cpp's "rwkv6", "rwkv7"; "rwkv5" is ours, for
 * rwkv.cpp's files, as llama.cpp has no RWKV 5): LayerNormed time mixing (a
 * WKV recurrence per head over a head-size-squared state) and channel
 * mixing, both fed by a token shift; the state of a layer is the last
 * time-mix and channel-mix inputs, then the WKV matrices. */
#include <math.h>
#include <string.h>

#include "base/error.h"
#include "base/threadpool.h"
#include "kernels/ops.h"
#include "kernels/recurrent.h"
#include "model/arch.h"
#include "model/rec_blocks.h"

/* The group norm of each head's WKV output: llama.cpp's and rwkv.cpp's for
 * RWKV 6 and 7; rwkv.cpp's for 5.2, whose reference logits need it (with
 * 64e-5 those of its tiny test model move by up to 1.1). */
#define WKV_NORM_EPS  64e-5f
#define WKV5_NORM_EPS 1e-5f

enum { N_LERP5 = 4, N_LERP6 = 5, N_LERP7 = 6 };

/* Tensors both versions have, in the first slots. */
enum {
    ATTN_NORM,
    ATTN_NORM_B,
    FFN_NORM,
    FFN_NORM_B,
    KEY,
    VALUE,
    RECEPTANCE,
    LN,
    LN_B,
    OUTPUT,
    CM_LERP_K,
    CM_KEY,
    CM_VALUE,
    LERP_FUSED,
    N_COMMON
};

#define COMMON_TENSORS(n_lerp)                                                                               \
    [ATTN_NORM] = {"attn_norm.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},                  \
    [ATTN_NORM_B] = {"attn_norm.bias", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},                  \
    [FFN_NORM] = {"attn_norm_2.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},                 \
    [FFN_NORM_B] = {"attn_norm_2.bias", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},                 \
    [KEY] = {"time_mix_key.weight", {RZ_RD_E, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},                      \
    [VALUE] = {"time_mix_value.weight", {RZ_RD_E, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},                  \
    [RECEPTANCE] = {"time_mix_receptance.weight", {RZ_RD_E, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},        \
    [LN] = {"time_mix_ln.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},                       \
    [LN_B] = {"time_mix_ln.bias", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},                       \
    [OUTPUT] = {"time_mix_output.weight", {RZ_RD_E, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},                \
    [CM_LERP_K] = {"channel_mix_lerp_k.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},         \
    [CM_KEY] = {"channel_mix_key.weight", {RZ_RD_E, RZ_RD_F, RZ_RD_1, RZ_RD_1}, true, false},                \
    [CM_VALUE] = {"channel_mix_value.weight", {RZ_RD_F, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},            \
    [LERP_FUSED] = {"time_mix_lerp_fused.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, n_lerp}, false, false}

/* RWKV 6's own tensors. */
enum { LERP_X = N_COMMON, W1, W2, FIRST, DECAY, DECAY_W1, DECAY_W2, GATE, CM_LERP_R, CM_RECEPTANCE, N_RWKV6 };

static const rz_rec_tensor rwkv6_tensors[N_RWKV6] = {
    COMMON_TENSORS(RZ_RD_5),
    [LERP_X] = {"time_mix_lerp_x.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [W1] = {"time_mix_w1.weight", {RZ_RD_E, RZ_RD_MIX5, RZ_RD_1, RZ_RD_1}, true, false},
    [W2] = {"time_mix_w2.weight", {RZ_RD_MIX, RZ_RD_E, RZ_RD_5, RZ_RD_1}, true, false},
    [FIRST] = {"time_mix_first.weight", {RZ_RD_HEAD, RZ_RD_HEADS, RZ_RD_1, RZ_RD_1}, false, false},
    [DECAY] = {"time_mix_decay.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [DECAY_W1] = {"time_mix_decay_w1.weight", {RZ_RD_E, RZ_RD_DECAY, RZ_RD_1, RZ_RD_1}, true, false},
    [DECAY_W2] = {"time_mix_decay_w2.weight", {RZ_RD_DECAY, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [GATE] = {"time_mix_gate.weight", {RZ_RD_E, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [CM_LERP_R] = {"channel_mix_lerp_r.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [CM_RECEPTANCE] = {"channel_mix_receptance.weight", {RZ_RD_E, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
};

/* RWKV 7's own tensors. */
enum { W0 = N_COMMON, W1_7, W2_7, A0, A1, A2, V0, V1, V2, G1, G2, K_K, K_A, R_K, N_RWKV7 };

static const rz_rec_tensor rwkv7_tensors[N_RWKV7] = {
    COMMON_TENSORS(RZ_RD_6),
    [W0] = {"time_mix_w0.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [W1_7] = {"time_mix_w1.weight", {RZ_RD_E, RZ_RD_LORA_DECAY, RZ_RD_1, RZ_RD_1}, true, false},
    [W2_7] = {"time_mix_w2.weight", {RZ_RD_LORA_DECAY, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [A0] = {"time_mix_a0.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [A1] = {"time_mix_a1.weight", {RZ_RD_E, RZ_RD_LORA_ICLR, RZ_RD_1, RZ_RD_1}, true, false},
    [A2] = {"time_mix_a2.weight", {RZ_RD_LORA_ICLR, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [V0] = {"time_mix_v0.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [V1] = {"time_mix_v1.weight", {RZ_RD_E, RZ_RD_LORA_VALUE, RZ_RD_1, RZ_RD_1}, true, false},
    [V2] = {"time_mix_v2.weight", {RZ_RD_LORA_VALUE, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [G1] = {"time_mix_g1.weight", {RZ_RD_E, RZ_RD_LORA_GATE, RZ_RD_1, RZ_RD_1}, true, false},
    [G2] = {"time_mix_g2.weight", {RZ_RD_LORA_GATE, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [K_K] = {"time_mix_k_k.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [K_A] = {"time_mix_k_a.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [R_K] = {"time_mix_r_k.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
};

/* RWKV 5.2's own tensors: a static decay and bonus per channel, and the
 * token-shift mixes as its checkpoints have them, the current token's share
 * (k, v, r, g fused; k, r of the channel mix). */
enum { FIRST5 = N_COMMON, DECAY5, GATE5, CM_LERP_R5, CM_RECEPTANCE5, N_RWKV5 };

static const rz_rec_tensor rwkv5_tensors[N_RWKV5] = {
    COMMON_TENSORS(RZ_RD_4),
    [FIRST5] = {"time_mix_first.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    /* the decay factor exp(-exp(time_decay)), as rwkv.cpp stores it */
    [DECAY5] = {"time_mix_decay.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [GATE5] = {"time_mix_gate.weight", {RZ_RD_E, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
    [CM_LERP_R5] = {"channel_mix_lerp_r.weight", {RZ_RD_E, RZ_RD_1, RZ_RD_1, RZ_RD_1}, false, false},
    [CM_RECEPTANCE5] = {"channel_mix_receptance.weight", {RZ_RD_E, RZ_RD_E, RZ_RD_1, RZ_RD_1}, true, false},
};

static const float *f32(const rz_layer *L, int slot) { return L->rec[slot].data; }

/* Matrix c of a stack of equal matrices (RWKV 6's time_mix_w2). */
static rz_tensor stacked(const rz_tensor *t, int c, int64_t rows) {
    rz_tensor v = *t;
    v.data = rz_tensor_row(t, c * rows);
    v.ne[1] = rows;
    return v;
}

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* State of a layer: [time-mix shift][channel-mix shift][WKV]. */
static int64_t wkv_at(const rz_model *m) { return 2 * (int64_t)m->desc.n_embd; }

/* Group norm of head h's WKV output y (N values), then the layer's affine. */
static void wkv_norm(const rz_layer *L, float *y, int64_t h, int64_t N, float eps) {
    rz_layer_norm(y, y, f32(L, LN) + h * N, f32(L, LN_B) + h * N, N, eps);
}

/* The per-token work of a time mix, from the decay to the gated output:
 * heads are independent, so each thread takes a range of them (one
 * parallel region per layer) and walks each head through all the tokens in
 * order, its state staying in cache between tokens rather than all of the
 * layer's going by once per token. */
typedef struct wkv_job {
    const rz_graph *g;
    const rz_layer *L;
    int32_t l;
    float *r, *k, *v, *w, *gate, *y;
    float *a, *kk, *mixv, *v_first, *wa, *wb; /* RWKV 7 */
} wkv_job;

/* Heads [h0, h1) of thread ith. */
static void wkv_heads(const rz_graph *g, int ith, int nth, int64_t *h0, int64_t *h1) {
    rz_split_range(g->m->desc.n_embd / g->m->rec.head_size, 1, ith, nth, h0, h1);
}

/* x[t] + sx[t] * mix (mix: n_embd wide) into out. */
static void lerp(const rz_graph *g, float *out, const float *x, const float *sx, const float *mix) {
    const int64_t E = g->m->desc.n_embd;
    for (uint32_t t = 0; t < g->n_tokens; t++)
        for (int64_t i = 0; i < E; i++)
            out[t * E + i] = x[t * E + i] + sx[t * E + i] * mix[i];
}

/* RWKV 5's x[t] mix + x[t-1] (1 - mix), as x[t] + sx[t] (1 - mix). */
static void mix_current(const rz_graph *g, float *out, const float *x, const float *sx, const float *mix) {
    const int64_t E = g->m->desc.n_embd;
    for (uint32_t t = 0; t < g->n_tokens; t++)
        for (int64_t i = 0; i < E; i++)
            out[t * E + i] = x[t * E + i] + sx[t * E + i] * (1.0f - mix[i]);
}

typedef void (*mix_fn)(const rz_graph *g, float *out, const float *x, const float *sx, const float *mix);

/* b->xb = LayerNorm(b->x) with the slots' weight and bias. */
static void norm(rz_graph *g, const rz_layer *L, int w, int b) {
    const int64_t E = g->m->desc.n_embd;
    for (uint32_t t = 0; t < g->n_tokens; t++)
        rz_layer_norm(g->b->xb + t * E, g->b->x + t * E, f32(L, w), f32(L, b), E, g->m->norm_eps);
}

static void rwkv6_wkv_task(void *arg, int ith, int nth) {
    const wkv_job *j = arg;
    const rz_graph *g = j->g;
    const int64_t E = g->m->desc.n_embd, N = g->m->rec.head_size;
    int64_t first, end;
    wkv_heads(g, ith, nth, &first, &end);
    for (int64_t h = first; h < end; h++)
        for (uint32_t t = 0; t < g->n_tokens; t++) {
            const uint64_t o = t * E + h * N; /* the head's values of token t */
            const int64_t e = h * N;          /* and of the layer's vectors */
            float *w = j->w + o, *gate = j->gate + o, *y = j->y + o;
            for (int64_t i = 0; i < N; i++) /* w = exp(-exp(w + decay)) */
                w[i] += f32(j->L, DECAY)[e + i];
            rz_exp_sum(w, N, 0.0f); /* in place; the sum goes unused */
            for (int64_t i = 0; i < N; i++)
                w[i] = -w[i];
            rz_exp_sum(w, N, 0.0f);
            rz_wkv6(y, rz_rec_state_of(g, t, j->l) + wkv_at(g->m) + e * N, j->r + o, j->k + o, j->v + o, w,
                    f32(j->L, FIRST) + e, 1, N);
            wkv_norm(j->L, y, h, N, WKV_NORM_EPS);
            rz_silu(gate, N);
            for (int64_t i = 0; i < N; i++)
                y[i] *= gate[i];
        }
}

static void rwkv6_time_mix(rz_graph *g, const rz_layer *L, int32_t l, rz_rec_scratch *s) {
    const rz_model *m = g->m;
    const int64_t E = m->desc.n_embd, mix = m->rec.mix_extra;
    const uint32_t n = g->n_tokens;
    float *a = g->b->xb, *sx = rz_rec_take(s, E), *xxx = rz_rec_take(s, E), *t1 = rz_rec_take(s, 5 * mix);
    float *lerps = rz_rec_take(s, N_LERP6 * E), *r = rz_rec_take(s, E), *k = rz_rec_take(s, E),
          *v = rz_rec_take(s, E), *gate = rz_rec_take(s, E), *w = rz_rec_take(s, E),
          *dt = rz_rec_take(s, m->rec.decay_extra), *y = rz_rec_take(s, E);
    rz_rec_token_shift(g, sx, a, l, 0);
    lerp(g, xxx, a, sx, f32(L, LERP_X));
    rz_rec_matmul(g, &L->rec[W1], xxx, E, t1, 5 * mix);
    for (uint64_t i = 0; i < (uint64_t)n * 5 * mix; i++)
        t1[i] = tanhf(t1[i]);
    /* lerps in the order w, k, v, r, g: x + sx * (lora_c + lerp_fused_c) */
    for (int c = 0; c < N_LERP6; c++) {
        const rz_tensor w2 = stacked(&L->rec[W2], c, E);
        float *out = lerps + (uint64_t)c * n * E;
        rz_rec_matmul(g, &w2, t1 + c * mix, 5 * mix, out, E);
        const float *fused = f32(L, LERP_FUSED) + c * E;
        for (uint32_t t = 0; t < n; t++)
            for (int64_t i = 0; i < E; i++)
                out[t * E + i] = (out[t * E + i] + fused[i]) * sx[t * E + i] + a[t * E + i];
    }
    const float *xw = lerps, *xk = lerps + (uint64_t)n * E, *xv = lerps + 2 * (uint64_t)n * E,
                *xr = lerps + 3 * (uint64_t)n * E, *xg = lerps + 4 * (uint64_t)n * E;
    rz_rec_matmul(g, &L->rec[RECEPTANCE], xr, E, r, E);
    rz_rec_matmul(g, &L->rec[KEY], xk, E, k, E);
    rz_rec_matmul(g, &L->rec[VALUE], xv, E, v, E);
    rz_rec_matmul(g, &L->rec[GATE], xg, E, gate, E);
    rz_rec_matmul(g, &L->rec[DECAY_W1], xw, E, dt, m->rec.decay_extra);
    for (uint64_t i = 0; i < (uint64_t)n * m->rec.decay_extra; i++)
        dt[i] = tanhf(dt[i]);
    rz_rec_matmul(g, &L->rec[DECAY_W2], dt, m->rec.decay_extra, w, E);
    wkv_job job = {.g = g, .L = L, .l = l, .r = r, .k = k, .v = v, .w = w, .gate = gate, .y = y};
    rz_threadpool_run(rz_rec_pool(g, (uint64_t)n * E * m->rec.head_size), rwkv6_wkv_task, &job);
    rz_rec_matmul(g, &L->rec[OUTPUT], y, E, g->b->xb, E);
}

/* RWKV 5 and 6's channel mix, gated by a receptance (the slots of its
 * lerp and matrix given). */
static void channel_mix_gated(rz_graph *g, const rz_layer *L, int32_t l, rz_rec_scratch *s, mix_fn mix,
                              int lerp_r, int receptance) {
    const int64_t E = g->m->desc.n_embd, F = g->m->desc.n_ff;
    const float *x = g->b->xb;
    float *sx = rz_rec_take(s, E), *xk = rz_rec_take(s, E), *xr = rz_rec_take(s, E), *k = rz_rec_take(s, F),
          *r = rz_rec_take(s, E);
    rz_rec_token_shift(g, sx, x, l, E);
    mix(g, xk, x, sx, f32(L, CM_LERP_K));
    mix(g, xr, x, sx, f32(L, lerp_r));
    rz_rec_matmul(g, &L->rec[receptance], xr, E, r, E);
    rz_rec_matmul(g, &L->rec[CM_KEY], xk, E, k, F);
    for (uint64_t i = 0; i < (uint64_t)g->n_tokens * F; i++)
        k[i] = k[i] > 0.0f ? k[i] * k[i] : 0.0f;
    rz_rec_matmul(g, &L->rec[CM_VALUE], k, F, g->b->xb, E);
    for (uint64_t i = 0; i < (uint64_t)g->n_tokens * E; i++)
        g->b->xb[i] *= sigmoid(r[i]);
}

static void rwkv6_layer(rz_graph *g, const rz_layer *L, int32_t l) {
    const rz_model *m = g->m;
    rz_rec_scratch s = rz_rec_scratch_begin(g);
    norm(g, L, ATTN_NORM, ATTN_NORM_B);
    rwkv6_time_mix(g, L, l, &s);
    rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * m->desc.n_embd);
    norm(g, L, FFN_NORM, FFN_NORM_B);
    s = rz_rec_scratch_begin(g);
    channel_mix_gated(g, L, l, &s, lerp, CM_LERP_R, CM_RECEPTANCE);
    rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * m->desc.n_embd);
    if (m->rec.rescale_every > 0 && (l + 1) % m->rec.rescale_every == 0)
        for (uint64_t i = 0; i < (uint64_t)g->n_tokens * m->desc.n_embd; i++)
            g->b->x[i] *= 0.5f;
}

static void rwkv5_time_mix(rz_graph *g, const rz_layer *L, int32_t l, rz_rec_scratch *s) {
    const rz_model *m = g->m;
    const int64_t E = m->desc.n_embd, N = m->rec.head_size;
    const uint32_t n = g->n_tokens;
    const uint64_t nE = (uint64_t)n * E;
    float *a = g->b->xb, *sx = rz_rec_take(s, E), *lerps = rz_rec_take(s, N_LERP5 * E),
          *r = rz_rec_take(s, E), *k = rz_rec_take(s, E), *v = rz_rec_take(s, E), *gate = rz_rec_take(s, E),
          *y = rz_rec_take(s, E);
    rz_rec_token_shift(g, sx, a, l, 0);
    for (int c = 0; c < N_LERP5; c++)
        mix_current(g, lerps + c * nE, a, sx, f32(L, LERP_FUSED) + c * E);
    rz_rec_matmul(g, &L->rec[KEY], lerps, E, k, E);
    rz_rec_matmul(g, &L->rec[VALUE], lerps + nE, E, v, E);
    rz_rec_matmul(g, &L->rec[RECEPTANCE], lerps + 2 * nE, E, r, E);
    rz_rec_matmul(g, &L->rec[GATE5], lerps + 3 * nE, E, gate, E);
    rz_silu(gate, (int64_t)nE);
    /* RWKV 6's recurrence with the same decay at every token */
    for (uint32_t t = 0; t < n; t++)
        rz_wkv6(y + t * E, rz_rec_state_of(g, t, l) + wkv_at(m), r + t * E, k + t * E, v + t * E,
                f32(L, DECAY5), f32(L, FIRST5), E / N, N);
    for (uint32_t t = 0; t < n; t++)
        for (int64_t h = 0; h < E / N; h++)
            wkv_norm(L, y + t * E + h * N, h, N, WKV5_NORM_EPS);
    for (uint64_t i = 0; i < nE; i++)
        y[i] *= gate[i];
    rz_rec_matmul(g, &L->rec[OUTPUT], y, E, g->b->xb, E);
}

static void rwkv5_layer(rz_graph *g, const rz_layer *L, int32_t l) {
    const int64_t E = g->m->desc.n_embd;
    rz_rec_scratch s = rz_rec_scratch_begin(g);
    norm(g, L, ATTN_NORM, ATTN_NORM_B);
    rwkv5_time_mix(g, L, l, &s);
    rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * E);
    norm(g, L, FFN_NORM, FFN_NORM_B);
    s = rz_rec_scratch_begin(g);
    channel_mix_gated(g, L, l, &s, mix_current, CM_LERP_R5, CM_RECEPTANCE5);
    rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * E);
}

/* y = w2 act(w1 x) (+ bias) for every token: RWKV 7's LoRAs; act NULL is
 * the identity. */
static void lora(rz_graph *g, const rz_layer *L, int w1, int w2, float (*act)(float), const float *x,
                 float *tmp, float *y) {
    const int64_t E = g->m->desc.n_embd, rank = L->rec[w1].ne[1];
    rz_rec_matmul(g, &L->rec[w1], x, E, tmp, rank);
    for (uint64_t i = 0; act && i < (uint64_t)g->n_tokens * rank; i++)
        tmp[i] = act(tmp[i]);
    rz_rec_matmul(g, &L->rec[w2], tmp, rank, y, E);
}

/* The largest RWKV 7 LoRA rank. */
static int64_t rwkv7_max_rank(const rz_rec_hparams *r) {
    int64_t max = r->lora_decay;
    const int64_t others[] = {r->lora_iclr, r->lora_mix, r->lora_gate};
    for (int i = 0; i < 3; i++)
        max = others[i] > max ? others[i] : max;
    return max;
}

static void rwkv7_wkv_task(void *arg, int ith, int nth) {
    const wkv_job *j = arg;
    const rz_graph *g = j->g;
    const rz_layer *L = j->L;
    const int64_t E = g->m->desc.n_embd, N = g->m->rec.head_size;
    int64_t first, end;
    wkv_heads(g, ith, nth, &first, &end);
    for (int64_t h = first; h < end; h++)
        for (uint32_t t = 0; t < g->n_tokens; t++) {
            const uint64_t o = t * E + h * N; /* the head's values of token t */
            const int64_t e = h * N;          /* and of the layer's vectors */
            float *w = j->w + o, *k = j->k + o, *v = j->v + o, *a = j->a + o, *kk = j->kk + o,
                  *mixv = j->mixv + o, *y = j->y + o;
            for (int64_t i = 0; i < N; i++) { /* the sigmoids' arguments */
                w[i] += f32(L, W0)[e + i];
                a[i] += f32(L, A0)[e + i];
            }
            rz_sigmoid(w, N);
            rz_sigmoid(a, N);
            for (int64_t i = 0; i < N; i++) /* w = exp(-0.606531 sigmoid(w0 + lora(xw))) */
                w[i] *= -0.606531f;
            rz_exp_sum(w, N, 0.0f); /* in place; the sum goes unused */
            if (j->l > 0) {         /* value residual: v + (v_first - v) * sigmoid(v0 + lora(xv)) */
                for (int64_t i = 0; i < N; i++)
                    mixv[i] += f32(L, V0)[e + i];
                rz_sigmoid(mixv, N);
                for (int64_t i = 0; i < N; i++)
                    v[i] += (j->v_first[o + i] - v[i]) * mixv[i];
            }
            double sum = 0.0; /* kk: k * k_k, L2-normed */
            for (int64_t i = 0; i < N; i++) {
                kk[i] = k[i] * f32(L, K_K)[e + i];
                sum += (double)(kk[i] * kk[i]);
            }
            const float scale = 1.0f / fmaxf(sqrtf((float)sum), 1e-12f);
            for (int64_t i = 0; i < N; i++) {
                kk[i] *= scale;
                const float ka = k[i] * f32(L, K_A)[e + i];
                k[i] += a[i] * ka - ka;
                j->wa[o + i] = -kk[i];
                j->wb[o + i] = kk[i] * a[i];
            }
            rz_wkv7(y, rz_rec_state_of(g, t, j->l) + wkv_at(g->m) + e * N, j->r + o, w, k, v, j->wa + o,
                    j->wb + o, 1, N);
            wkv_norm(L, y, h, N, WKV_NORM_EPS);
            float rk = 0.0f; /* plus v times the head's bonus sum(r k r_k), gated */
            for (int64_t i = 0; i < N; i++)
                rk += k[i] * j->r[o + i] * f32(L, R_K)[e + i];
            for (int64_t i = 0; i < N; i++)
                y[i] = (y[i] + v[i] * rk) * j->gate[o + i];
        }
}

static void rwkv7_time_mix(rz_graph *g, const rz_layer *L, int32_t l, rz_rec_scratch *s) {
    const rz_model *m = g->m;
    const int64_t E = m->desc.n_embd;
    const uint32_t n = g->n_tokens;
    const uint64_t nE = (uint64_t)n * E;
    float *a_in = g->b->xb;
    float *v_first = rz_rec_take(s, E); /* layer 0's values, for every later layer */
    float *sx = rz_rec_take(s, E), *lerps = rz_rec_take(s, N_LERP7 * E), *r = rz_rec_take(s, E),
          *w = rz_rec_take(s, E), *k = rz_rec_take(s, E), *v = rz_rec_take(s, E), *a = rz_rec_take(s, E),
          *gate = rz_rec_take(s, E), *kk = rz_rec_take(s, E), *mixv = rz_rec_take(s, E),
          *tmp = rz_rec_take(s, rwkv7_max_rank(&m->rec)), *y = rz_rec_take(s, E);
    rz_rec_token_shift(g, sx, a_in, l, 0);
    for (int c = 0; c < N_LERP7; c++)
        lerp(g, lerps + c * nE, a_in, sx, f32(L, LERP_FUSED) + c * E);
    const float *xr = lerps, *xw = lerps + nE, *xk = lerps + 2 * nE, *xv = lerps + 3 * nE,
                *xa = lerps + 4 * nE, *xg = lerps + 5 * nE;
    rz_rec_matmul(g, &L->rec[RECEPTANCE], xr, E, r, E);
    lora(g, L, W1_7, W2_7, tanhf, xw, tmp, w);
    rz_rec_matmul(g, &L->rec[KEY], xk, E, k, E);
    rz_rec_matmul(g, &L->rec[VALUE], xv, E, v, E);
    if (l == 0)
        memcpy(v_first, v, nE * sizeof *v);
    else
        lora(g, L, V1, V2, NULL, xv, tmp, mixv);
    lora(g, L, G1, G2, sigmoid, xg, tmp, gate);
    lora(g, L, A1, A2, NULL, xa, tmp, a);
    /* The WKV's a and b, -kk and kk * a, go to sx and mixv (free by then). */
    wkv_job job = {.g = g,
                   .L = L,
                   .l = l,
                   .r = r,
                   .k = k,
                   .v = v,
                   .w = w,
                   .gate = gate,
                   .y = y,
                   .a = a,
                   .kk = kk,
                   .mixv = mixv,
                   .v_first = v_first,
                   .wa = sx,
                   .wb = mixv};
    rz_threadpool_run(rz_rec_pool(g, (uint64_t)n * E * m->rec.head_size), rwkv7_wkv_task, &job);
    rz_rec_matmul(g, &L->rec[OUTPUT], y, E, g->b->xb, E);
}

static void rwkv7_channel_mix(rz_graph *g, const rz_layer *L, int32_t l, rz_rec_scratch *s) {
    const int64_t E = g->m->desc.n_embd, F = g->m->desc.n_ff;
    const float *x = g->b->xb;
    float *sx = rz_rec_take(s, E), *xk = rz_rec_take(s, E), *k = rz_rec_take(s, F);
    rz_rec_token_shift(g, sx, x, l, E);
    lerp(g, xk, x, sx, f32(L, CM_LERP_K));
    rz_rec_matmul(g, &L->rec[CM_KEY], xk, E, k, F);
    for (uint64_t i = 0; i < (uint64_t)g->n_tokens * F; i++)
        k[i] = k[i] > 0.0f ? k[i] * k[i] : 0.0f;
    rz_rec_matmul(g, &L->rec[CM_VALUE], k, F, g->b->xb, E);
}

static void rwkv7_layer(rz_graph *g, const rz_layer *L, int32_t l) {
    const int64_t E = g->m->desc.n_embd;
    rz_rec_scratch s = rz_rec_scratch_begin(g);
    norm(g, L, ATTN_NORM, ATTN_NORM_B);
    rwkv7_time_mix(g, L, l, &s);
    rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * E);
    norm(g, L, FFN_NORM, FFN_NORM_B);
    s = rz_rec_scratch_begin(g);
    rz_rec_take(&s, E); /* v_first stays */
    rwkv7_channel_mix(g, L, l, &s);
    rz_add(g->b->x, g->b->xb, (int64_t)g->n_tokens * E);
}

/* Keys both versions read; the state and scratch sizes. */
static rz_status rwkv_common(rz_model *m, const rz_gguf *g, int64_t scratch) {
    const char *a = m->desc.arch;
    rz_rec_hparams *r = &m->rec;
    RZ_TRY(rz_arch_key_u32(g, a, "wkv.head_size", false, 0, &r->head_size));
    int32_t shifts;
    RZ_TRY(rz_arch_key_u32(g, a, "token_shift_count", true, 2, &shifts));
    if (shifts != 2)
        return rz_error(RZ_ERR_UNSUPPORTED, "model: %s with %d token shifts is not supported", a, shifts);
    if (r->head_size <= 0 || r->head_size > 1024 || m->desc.n_embd % r->head_size != 0)
        return rz_error(RZ_ERR_FORMAT, "model: WKV head size %d does not divide n_embd %d", r->head_size,
                        m->desc.n_embd);
    if (m->desc.n_ff <= 0) return rz_error(RZ_ERR_FORMAT, "model: %s needs a feed_forward_length", a);
    r->state_floats = 2 * (int64_t)m->desc.n_embd + (int64_t)m->desc.n_embd * r->head_size;
    r->scratch_floats = scratch;
    return RZ_OK;
}

static bool rank_ok(int32_t rank) { return rank > 0 && rank <= 1 << 16; }

static rz_status rwkv5_hparams(rz_model *m, const rz_gguf *g) {
    /* the time mix's regions; the channel mix needs fewer */
    return rwkv_common(m, g, (2 + N_LERP5 + 4) * (int64_t)m->desc.n_embd + m->desc.n_ff);
}

static rz_status rwkv6_hparams(rz_model *m, const rz_gguf *g) {
    const char *a = m->desc.arch;
    rz_rec_hparams *r = &m->rec;
    RZ_TRY(rz_arch_key_u32(g, a, "time_mix_extra_dim", false, 0, &r->mix_extra));
    RZ_TRY(rz_arch_key_u32(g, a, "time_decay_extra_dim", false, 0, &r->decay_extra));
    RZ_TRY(rz_arch_key_u32(g, a, "rescale_every_n_layers", true, 0, &r->rescale_every));
    if (!rank_ok(r->mix_extra) || !rank_ok(r->decay_extra))
        return rz_error(RZ_ERR_FORMAT, "model: RWKV 6 LoRA ranks %d and %d are out of range", r->mix_extra,
                        r->decay_extra);
    const int64_t E = m->desc.n_embd;
    /* the time mix's regions; the channel mix needs fewer */
    return rwkv_common(m, g,
                       2 * E + 5 * (int64_t)r->mix_extra + N_LERP6 * E + 5 * E + r->decay_extra + E +
                           (4 * E + m->desc.n_ff));
}

static rz_status rwkv7_hparams(rz_model *m, const rz_gguf *g) {
    const char *a = m->desc.arch;
    rz_rec_hparams *r = &m->rec;
    RZ_TRY(rz_arch_key_u32(g, a, "attention.decay_lora_rank", false, 0, &r->lora_decay));
    RZ_TRY(rz_arch_key_u32(g, a, "attention.iclr_lora_rank", false, 0, &r->lora_iclr));
    RZ_TRY(rz_arch_key_u32(g, a, "attention.value_residual_mix_lora_rank", false, 0, &r->lora_mix));
    RZ_TRY(rz_arch_key_u32(g, a, "attention.gate_lora_rank", false, 0, &r->lora_gate));
    if (!rank_ok(r->lora_decay) || !rank_ok(r->lora_iclr) || !rank_ok(r->lora_mix) || !rank_ok(r->lora_gate))
        return rz_error(RZ_ERR_FORMAT, "model: RWKV 7 LoRA ranks (%d, %d, %d, %d) are out of range",
                        r->lora_decay, r->lora_iclr, r->lora_mix, r->lora_gate);
    const int64_t E = m->desc.n_embd;
    return rwkv_common(m, g, (2 + N_LERP7 + 9) * E + rwkv7_max_rank(r) + m->desc.n_ff);
}

const rz_arch rz_arch_rwkv5 = {
    .names = {"rwkv5"},
    .inputs = RZ_I_EMBD_NORM | RZ_I_OUTPUT_LN,
    .rec_tensors = rwkv5_tensors,
    .n_rec_tensors = N_RWKV5,
    .read_hparams = rwkv5_hparams,
    .layer = rwkv5_layer,
};

const rz_arch rz_arch_rwkv6 = {
    .names = {"rwkv6"},
    .inputs = RZ_I_EMBD_NORM | RZ_I_OUTPUT_LN,
    .rec_tensors = rwkv6_tensors,
    .n_rec_tensors = N_RWKV6,
    .read_hparams = rwkv6_hparams,
    .layer = rwkv6_layer,
};

const rz_arch rz_arch_rwkv7 = {
    .names = {"rwkv7"},
    .inputs = RZ_I_EMBD_NORM | RZ_I_OUTPUT_LN,
    .rec_tensors = rwkv7_tensors,
    .n_rec_tensors = N_RWKV7,
    .read_hparams = rwkv7_hparams,
    .layer = rwkv7_layer,
};
