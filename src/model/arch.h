/* What an architecture file (src/model/arch/NAME.c) declares: the GGUF
 * architecture names it serves, the layer tensors it reads, its settings
 * from GGUF keys, and its layer's forward pass. */
#ifndef RZ_MODEL_ARCH_H
#define RZ_MODEL_ARCH_H

#include "model/graph.h"
#include "model/model.h"

/* Layer tensors (llama.cpp's names after "blk.N."), one bit each. */
typedef enum rz_layer_tensor {
    RZ_T_ATTN_NORM = 1u << 0,
    RZ_T_ATTN_Q = 1u << 1,   /* attn_q, attn_k, attn_v */
    RZ_T_ATTN_QKV = 1u << 2, /* attn_qkv: Q, K and V rows in one matrix */
    RZ_T_ATTN_OUT = 1u << 3,
    RZ_T_ATTN_QKV_BIAS = 1u << 4, /* attn_{q,k,v}.bias */
    RZ_T_ATTN_OUT_BIAS = 1u << 5,
    RZ_T_ATTN_QK_NORM = 1u << 6, /* attn_q_norm, attn_k_norm: one head wide */
    RZ_T_ATTN_POST_NORM = 1u << 7,
    RZ_T_ATTN_SINKS = 1u << 8,
    RZ_T_SUB_NORMS = 1u << 9, /* attn_sub_norm, ffn_sub_norm (BitNet) */
    RZ_T_FFN_NORM = 1u << 10,
    RZ_T_FFN = 1u << 11,         /* ffn_gate, ffn_up, ffn_down */
    RZ_T_FFN_GATE_UP = 1u << 12, /* ffn_up holding gate and up rows, ffn_down */
    RZ_T_FFN_POST_NORM = 1u << 13,
    RZ_T_MOE = 1u << 14,               /* ffn_gate_inp, ffn_{gate,up,down}_exps */
    RZ_T_MOE_BIAS = 1u << 15,          /* ffn_gate_inp.bias, ffn_{gate,up,down}_exps.bias */
    RZ_T_FFN_UP = 1u << 16,            /* ffn_up, ffn_down without a gate: act(up) (BERT) */
    RZ_T_FFN_BIAS = 1u << 17,          /* ffn_up.bias, ffn_down.bias */
    RZ_T_POST_LN = 1u << 18,           /* attn_output_norm, layer_output_norm: LayerNorms with biases */
    RZ_T_ATTN_QK_NORM_FULL = 1u << 19, /* attn_q_norm, attn_k_norm over all of Q and K (OLMoE) */
} rz_layer_tensor;

/* Input tensors besides token_embd.weight, one bit each. */
typedef enum rz_input_tensor {
    RZ_I_TOKEN_TYPES = 1u << 0, /* token_types.weight: row 0 added to every token */
    RZ_I_POS_EMBD = 1u << 1,    /* position_embd.weight: learned absolute positions */
    RZ_I_EMBD_NORM = 1u << 2,   /* token_embd_norm.weight, .bias: LayerNorm of the input */
    RZ_I_OUTPUT_LN = 1u << 3,   /* output_norm.bias: the final norm is a LayerNorm (RWKV) */
} rz_input_tensor;

/* Sizes the dimensions of recurrent layers' tensors are given in. */
typedef enum rz_rec_dim {
    RZ_RD_1,
    RZ_RD_4,
    RZ_RD_5,
    RZ_RD_6,
    RZ_RD_E,
    RZ_RD_F,
    RZ_RD_HEAD,       /* RWKV head size */
    RZ_RD_HEADS,      /* RWKV heads: n_embd / head size */
    RZ_RD_MIX,        /* RWKV 6 token-shift LoRA rank */
    RZ_RD_MIX5,       /* five of them side by side */
    RZ_RD_DECAY,      /* RWKV 6 decay LoRA rank */
    RZ_RD_LORA_DECAY, /* RWKV 7 LoRA ranks */
    RZ_RD_LORA_ICLR,  /* in-context learning rate */
    RZ_RD_LORA_VALUE, /* value residual mix (layer 0 has the ICLR rank: its mix is unused) */
    RZ_RD_LORA_GATE,
    RZ_RD_CONV_K,      /* Mamba conv1d kernel size */
    RZ_RD_INNER,       /* d_inner */
    RZ_RD_INNER2,      /* 2 * d_inner */
    RZ_RD_STATE,       /* d_state */
    RZ_RD_DT_RANK,     /* Mamba 1: dt rank; Mamba 2: heads */
    RZ_RD_X_DB,        /* dt_rank + 2 * d_state */
    RZ_RD_CONV,        /* Mamba 2 conv channels: d_inner + 2 * n_group * d_state */
    RZ_RD_IN_PROJ,     /* Mamba 2 in_proj rows: 2 * d_inner + 2 * n_group * d_state + heads */
    RZ_RD_GROUP_INNER, /* d_inner / n_group */
    RZ_RD_GROUPS,      /* n_group */
} rz_rec_dim;

/* A tensor of a recurrent layer, in the slot of its index in the table. */
typedef struct rz_rec_tensor {
    const char *name; /* after "blk.N." */
    uint8_t ne[4];    /* rz_rec_dim of each dimension */
    bool matrix;      /* multiplied with activations: any type with a mat-mul kernel; else f32 */
    bool optional;
} rz_rec_tensor;

/* The size of d in layer l of m. */
int64_t rz_rec_dim_size(const rz_model *m, rz_rec_dim d, int32_t l);

struct rz_arch {
    const char *names[3]; /* general.architecture values served */
    rz_rope_style rope_style;
    rz_ffn_activation ffn_activation;
    uint32_t tensors;     /* layer tensors every layer has */
    uint32_t tensors_opt; /* layer tensors a layer may have (e.g. dense or MoE FFN) */
    bool rope_freqs;      /* may have rope_freqs.weight (Llama 3 frequency factors) */
    /* Input tensors (RZ_I_*) it has, and may have. */
    uint32_t inputs, inputs_opt;
    /* An encoder has no output norm and head: it makes embeddings only, its
     * attention sees the whole sequence (unless attention.causal says so). */
    bool encoder;
    /* A recurrent architecture keeps a fixed-size state per sequence
     * (read_hparams sets m->rec) and has these layer tensors instead of
     * the RZ_T_* groups. */
    const rz_rec_tensor *rec_tensors;
    int n_rec_tensors;
    /* Settings from the architecture's own GGUF keys, after the common ones
     * (sizes, norms eps, RoPE base and dimensions) are read; may be NULL. */
    rz_status (*read_hparams)(rz_model *m, const rz_gguf *g);
    /* One layer's pass over the graph's batch, from and to the residual
     * stream b->x. */
    void (*layer)(rz_graph *g, const rz_layer *L, int32_t l);
};

/* The architecture serving `name`, or NULL. */
const rz_arch *rz_arch_find(const char *name);

/* GGUF keys "<arch>.<suffix>" (fallback where absent). */
rz_status rz_arch_key_u32(const rz_gguf *g, const char *arch, const char *suffix, bool optional,
                          uint32_t fallback, int32_t *out);
rz_status rz_arch_key_f32(const rz_gguf *g, const char *arch, const char *suffix, float fallback, float *out);

/* Frequencies theta_i = base^(-2i / n_rot) times a linear position scale,
 * as llama.cpp computes them; mscale 1. */
rz_status rz_rope_set_init(rz_rope_set *set, const rz_model *m, float base, float scale);

/* The architectures (src/model/arch/). */
extern const rz_arch rz_arch_llama, rz_arch_bitnet, rz_arch_bitnet_b158, rz_arch_qwen2, rz_arch_qwen3,
    rz_arch_phi3, rz_arch_gemma2, rz_arch_gemma3, rz_arch_bert, rz_arch_nomic_bert, rz_arch_gpt_oss,
    rz_arch_olmoe, rz_arch_rwkv5, rz_arch_rwkv6, rz_arch_rwkv7, rz_arch_mamba, rz_arch_mamba2;

#endif
