/* Qwen 2 / 2.5: Llama layers with biases on the Q, K and V projections,
 * NeoX RoPE, usually a tied output. */
#include "model/arch.h"
#include "model/blocks.h"

const rz_arch rz_arch_qwen2 = {
    .names = {"qwen2"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_SILU,
    .tensors = RZ_T_ATTN_NORM | RZ_T_ATTN_Q | RZ_T_ATTN_QKV_BIAS | RZ_T_ATTN_OUT | RZ_T_FFN_NORM | RZ_T_FFN,
    .layer = rz_g_prenorm_layer,
};
