/* Llama 1-3 and Mistral / Mixtral (GGUF "llama"): pre-norm layers of
 * grouped-query attention with RoPE on adjacent pairs and a SwiGLU FFN, or
 * a mixture of SwiGLU experts (softmax router, top-k, weights renormalized).
 * Llama 3.1+ divides the RoPE frequencies by rope_freqs.weight. */
#include "model/arch.h"
#include "model/blocks.h"

const rz_arch rz_arch_llama = {
    .names = {"llama"},
    .rope_style = RZ_ROPE_NORMAL,
    .ffn_activation = RZ_FFN_SILU,
    .tensors = RZ_T_ATTN_NORM | RZ_T_ATTN_Q | RZ_T_ATTN_OUT | RZ_T_FFN_NORM,
    .tensors_opt = RZ_T_FFN | RZ_T_MOE,
    .rope_freqs = true,
    .layer = rz_g_prenorm_layer,
};
