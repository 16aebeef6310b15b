/* BERT and nomic-bert (Nomic Embed): encoders for embeddings. The input is
 * the token embedding plus token type 0's row (BERT also adds learned
 * positions), LayerNormed; each layer is post-LN: attention over the whole
 * sequence, residual, LayerNorm, FFN, residual, LayerNorm. No final norm or
 * output head: the last layer's outputs are pooled (rz_embed).
 * BERT: separate Q/K/V, biases everywhere, FFN gelu(up). nomic-bert: fused
 * attn_qkv without biases, NeoX RoPE, SwiGLU FFN. */
#include <stdio.h>
#include <string.h>

#include "base/error.h"
#include "model/arch.h"
#include "model/blocks.h"

static void bert_layer(rz_graph *g, const rz_layer *L, int32_t l) {
    rz_forward_buffers *b = g->b;
    const size_t bytes = (size_t)g->n_tokens * (size_t)g->m->desc.n_embd * sizeof(float);
    memcpy(b->xb, b->x, bytes); /* post-LN: the blocks read the residual stream itself */
    rz_g_attention(g, L, l);
    rz_g_residual(g);
    rz_g_layer_norm(g, b->x, b->x, &L->attn_out_norm, &L->attn_out_norm_b);
    memcpy(b->xb, b->x, bytes);
    rz_g_ffn(g, L, l);
    rz_g_residual(g);
    rz_g_layer_norm(g, b->x, b->x, &L->layer_out_norm, &L->layer_out_norm_b);
}

/* llama.cpp's keys: the LayerNorm epsilon and the token type count are
 * required, attention.causal is optional. */
static rz_status bert_hparams(rz_model *m, const rz_gguf *g) {
    char key[96];
    snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", m->desc.arch);
    rz_status s = rz_gguf_get_f32(g, key, &m->norm_eps);
    if (s == RZ_OK && !(m->norm_eps > 0.0f)) s = rz_error(RZ_ERR_FORMAT, "%s must be positive", key);
    snprintf(key, sizeof key, "%s.attention.causal", m->desc.arch);
    const rz_status causal = rz_gguf_get_bool(g, key, &m->causal);
    if (s == RZ_OK && causal != RZ_ERR_NOT_FOUND) s = causal;
    uint32_t n_types = 0;
    if (s == RZ_OK) s = rz_gguf_get_u32(g, "tokenizer.ggml.token_type_count", &n_types);
    if (s == RZ_OK && (n_types == 0 || n_types > 1024))
        s = rz_error(RZ_ERR_FORMAT, "%u token types", n_types);
    m->n_token_types = (int32_t)n_types;
    return s == RZ_OK ? RZ_OK : rz_error_prefix(s, "model");
}

const rz_arch rz_arch_bert = {
    .names = {"bert"},
    .rope_style = RZ_ROPE_NONE,
    .ffn_activation = RZ_FFN_GELU,
    .tensors = RZ_T_ATTN_Q | RZ_T_ATTN_QKV_BIAS | RZ_T_ATTN_OUT | RZ_T_ATTN_OUT_BIAS | RZ_T_POST_LN |
               RZ_T_FFN_UP | RZ_T_FFN_BIAS,
    .inputs = RZ_I_POS_EMBD | RZ_I_EMBD_NORM,
    .inputs_opt = RZ_I_TOKEN_TYPES,
    .encoder = true,
    .read_hparams = bert_hparams,
    .layer = bert_layer,
};

const rz_arch rz_arch_nomic_bert = {
    .names = {"nomic-bert"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_SILU,
    .tensors = RZ_T_ATTN_QKV | RZ_T_ATTN_OUT | RZ_T_POST_LN | RZ_T_FFN,
    .inputs = RZ_I_EMBD_NORM,
    .inputs_opt = RZ_I_TOKEN_TYPES,
    .encoder = true,
    .read_hparams = bert_hparams,
    .layer = bert_layer,
};
