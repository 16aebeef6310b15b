/* Gemma 2 and Gemma 3: token embeddings times sqrt(n_embd); pre-norm
 * attention and GeGLU FFN whose outputs are RMS-normed again before the
 * residual; NeoX RoPE; layers alternating a sliding window with global
 * attention. Gemma 2 soft-caps attention scores and the final logits;
 * Gemma 3 norms each query and key head, and rotates its local layers with
 * a RoPE base of their own, unscaled, while linear scaling applies to the
 * global ones. */
#include <math.h>

#include "base/error.h"
#include "model/arch.h"
#include "model/blocks.h"

static void gemma_layer(rz_graph *g, const rz_layer *L, int32_t l) {
    rz_forward_buffers *b = g->b;
    rz_g_rms_norm(g, b->xb, b->x, &L->attn_norm);
    rz_g_attention(g, L, l);
    rz_g_rms_norm(g, b->xb, b->xb, &L->attn_post_norm);
    rz_g_residual(g);
    rz_g_rms_norm(g, b->xb, b->x, &L->ffn_norm);
    rz_g_ffn(g, L, l);
    rz_g_rms_norm(g, b->xb, b->xb, &L->ffn_post_norm);
    rz_g_residual(g);
}

/* Settings both share: the embedding scale, and Gemma's query scale, which
 * the 27B models take from n_embd / n_head rather than the head size (as
 * llama.cpp tells them apart: by layer count). */
static void gemma_common(rz_model *m, int32_t layers_27b) {
    const rz_model_desc *d = &m->desc;
    m->embd_scale = sqrtf((float)d->n_embd);
    if (d->n_layer == layers_27b) m->attn_scale = 1.0f / sqrtf((float)(d->n_embd / d->n_head));
}

static rz_status gemma2_hparams(rz_model *m, const rz_gguf *g) {
    const char *a = m->desc.arch;
    gemma_common(m, 46);
    /* llama.cpp's defaults where the keys are absent */
    int32_t n_swa;
    RZ_TRY(rz_arch_key_u32(g, a, "attention.sliding_window", true, 4096, &n_swa));
    m->n_swa = (uint32_t)n_swa;
    m->swa_pattern = 2;
    RZ_TRY(rz_arch_key_f32(g, a, "attn_logit_softcapping", 50.0f, &m->attn_softcap));
    RZ_TRY(rz_arch_key_f32(g, a, "final_logit_softcapping", 30.0f, &m->final_softcap));
    return RZ_OK;
}

static rz_status gemma3_hparams(rz_model *m, const rz_gguf *g) {
    const char *a = m->desc.arch;
    gemma_common(m, 62);
    int32_t n_swa, pattern;
    RZ_TRY(rz_arch_key_u32(g, a, "attention.sliding_window", false, 0, &n_swa));
    RZ_TRY(rz_arch_key_u32(g, a, "attention.sliding_window_pattern", true, 6, &pattern));
    m->n_swa = (uint32_t)n_swa;
    m->swa_pattern = (uint32_t)pattern;
    float base_swa;
    RZ_TRY(rz_arch_key_f32(g, a, "rope.freq_base_swa", 10000.0f, &base_swa));
    RZ_TRY(rz_rope_set_init(&m->rope[1], m, base_swa, 1.0f));
    m->desc.rope_freq_base_swa = base_swa;
    m->n_rope_sets = 2;
    return RZ_OK;
}

const rz_arch rz_arch_gemma2 = {
    .names = {"gemma2"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_GELU,
    .tensors = RZ_T_ATTN_NORM | RZ_T_ATTN_Q | RZ_T_ATTN_OUT | RZ_T_ATTN_POST_NORM | RZ_T_FFN_NORM | RZ_T_FFN |
               RZ_T_FFN_POST_NORM,
    .read_hparams = gemma2_hparams,
    .layer = gemma_layer,
};

const rz_arch rz_arch_gemma3 = {
    .names = {"gemma3"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_GELU,
    .tensors = RZ_T_ATTN_NORM | RZ_T_ATTN_Q | RZ_T_ATTN_QK_NORM | RZ_T_ATTN_OUT | RZ_T_ATTN_POST_NORM |
               RZ_T_FFN_NORM | RZ_T_FFN | RZ_T_FFN_POST_NORM,
    .read_hparams = gemma3_hparams,
    .layer = gemma_layer,
};
