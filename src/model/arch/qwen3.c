/* Qwen 3 and Qwen 3 MoE: Llama layers with a per-head RMSNorm of queries
 * and keys before RoPE (NeoX), heads whose width is set apart from
 * n_embd (attention.key_length), and for the MoE a softmax router over
 * all experts whose top-k weights are renormalized. */
#include "model/arch.h"
#include "model/blocks.h"

const rz_arch rz_arch_qwen3 = {
    .names = {"qwen3", "qwen3moe"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_SILU,
    .tensors = RZ_T_ATTN_NORM | RZ_T_ATTN_Q | RZ_T_ATTN_QK_NORM | RZ_T_ATTN_OUT | RZ_T_FFN_NORM,
    .tensors_opt = RZ_T_FFN | RZ_T_MOE,
    .layer = rz_g_prenorm_layer,
};
