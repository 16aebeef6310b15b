/* BitNet b1.58 (docs/bitnet.md): Llama layers with RMSNorms before the
 * attention output and FFN down projections, NeoX RoPE. */
#include "model/arch.h"
#include "model/blocks.h"

enum {
    BITNET_TENSORS = RZ_T_ATTN_NORM | RZ_T_ATTN_Q | RZ_T_ATTN_OUT | RZ_T_SUB_NORMS | RZ_T_FFN_NORM | RZ_T_FFN
};

/* bitnet.cpp's llama.cpp fork (1bitLLM bitnet_b1_58-*): SiLU gating; its
 * converter keeps HF's Q/K order, so RoPE is NeoX-style (llama.cpp lists
 * LLM_ARCH_BITNET under LLAMA_ROPE_TYPE_NEOX; the golden logits agree). */
const rz_arch rz_arch_bitnet = {
    .names = {"bitnet"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_SILU,
    .tensors = BITNET_TENSORS,
    .layer = rz_g_prenorm_layer,
};

/* BitNet-b1.58-2B-4T (microsoft/BitNet PR #212): squared-ReLU gating. */
const rz_arch rz_arch_bitnet_b158 = {
    .names = {"bitnet-b1.58"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_RELU_SQR,
    .tensors = BITNET_TENSORS,
    .layer = rz_g_prenorm_layer,
};
