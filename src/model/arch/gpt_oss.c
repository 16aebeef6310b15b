/* gpt-oss (GGUF "gpt-oss", llama.cpp's LLM_ARCH_OPENAI_MOE): attention with
 * Q/K/V and output biases, NeoX RoPE (YaRN-scaled in the released models),
 * a learned sink logit per head, and a sliding window on the even layers;
 * then post_attention_norm, which is the MoE's input norm (there is no
 * ffn_norm), and a mixture of clamped-SwiGLU experts with biases, whose
 * router softmaxes the top-k biased logits without renormalizing. */
#include "base/error.h"
#include "model/arch.h"
#include "model/blocks.h"

static rz_status read_hparams(rz_model *m, const rz_gguf *g) {
    int32_t n_swa;
    RZ_TRY(rz_arch_key_u32(g, m->desc.arch, "attention.sliding_window", false, 0, &n_swa));
    m->n_swa = (uint32_t)n_swa;
    m->swa_pattern = 2; /* llama.cpp's set_swa_pattern(2): layers 0, 2, 4, ... */
    m->moe_gating = RZ_MOE_SOFTMAX_SELECTED;
    m->moe_norm_weights = false;
    if (m->n_expert <= 0) return rz_error(RZ_ERR_FORMAT, "model: gpt-oss needs experts");
    return RZ_OK;
}

static void layer(rz_graph *g, const rz_layer *L, int32_t l) {
    rz_g_rms_norm(g, g->b->xb, g->b->x, &L->attn_norm);
    rz_g_attention(g, L, l);
    rz_g_residual(g);
    rz_g_rms_norm(g, g->b->xb, g->b->x, &L->attn_post_norm);
    rz_g_moe(g, L, l);
    rz_g_residual(g);
}

const rz_arch rz_arch_gpt_oss = {
    .names = {"gpt-oss"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_SWIGLU_OAI,
    .tensors = RZ_T_ATTN_NORM | RZ_T_ATTN_Q | RZ_T_ATTN_QKV_BIAS | RZ_T_ATTN_OUT | RZ_T_ATTN_OUT_BIAS |
               RZ_T_ATTN_SINKS | RZ_T_ATTN_POST_NORM | RZ_T_MOE | RZ_T_MOE_BIAS,
    .read_hparams = read_hparams,
    .layer = layer,
};
