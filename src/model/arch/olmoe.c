/* OLMoE: Llama layers with an RMSNorm over the whole query and key vectors
 * (not per head) before RoPE (NeoX), and a mixture of SwiGLU experts
 * whose softmax router's top-k weights are used as they are, not
 * renormalized (llama.cpp's norm_w false); experts are
 * feed_forward_length wide. */
#include "model/arch.h"
#include "model/blocks.h"

static rz_status olmoe_hparams(rz_model *m, const rz_gguf *g) {
    (void)g;
    m->moe_norm_weights = false;
    return RZ_OK;
}

const rz_arch rz_arch_olmoe = {
    .names = {"olmoe"},
    .rope_style = RZ_ROPE_NEOX,
    .ffn_activation = RZ_FFN_SILU,
    .tensors =
        RZ_T_ATTN_NORM | RZ_T_ATTN_Q | RZ_T_ATTN_QK_NORM_FULL | RZ_T_ATTN_OUT | RZ_T_FFN_NORM | RZ_T_MOE,
    .read_hparams = olmoe_hparams,
    .layer = rz_g_prenorm_layer,
};
