/* Phi-3 / Phi-3.5: Llama layers whose Q, K and V are one matrix
 * (attn_qkv) and whose FFN gate and up are one (ffn_up: gate rows, then
 * up rows); NeoX RoPE. The loader splits both into row views, so the
 * layer is the plain pre-norm one. */
#include "model/arch.h"
#include "model/blocks.h"

const rz_arch rz_arch_phi3 = {
    .names = {"phi3"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_SILU,
    .tensors = RZ_T_ATTN_NORM | RZ_T_ATTN_QKV | RZ_T_ATTN_OUT | RZ_T_FFN_NORM | RZ_T_FFN_GATE_UP,
    .layer = rz_g_prenorm_layer,
};
