/* In-memory model: hyperparameters, weight views over the mapped file, and
 * the vocabulary. */
#ifndef RZ_MODEL_MODEL_H
#define RZ_MODEL_MODEL_H

#include "kernels/ops.h"
#include "tensor/tensor.h"
#include "tokenizer/vocab.h"

enum { RZ_MAX_REC_TENSORS = 32 };

/* A layer's weights; tensors an architecture does not have keep data NULL
 * (vectors: biases and norms are float32 and read directly). */
typedef struct rz_layer {
    rz_tensor attn_norm, attn_norm_b;
    rz_tensor wq, wk, wv, wo; /* fused attn_qkv files: views of its row ranges */
    rz_tensor bq, bk, bv, bo; /* Qwen 2, gpt-oss, BERT */
    rz_tensor q_norm, k_norm; /* RMSNorm before RoPE: per head (Qwen 3, Gemma 3) or whole (OLMoE) */
    rz_tensor attn_post_norm; /* on the attention output (Gemma 2/3) */
    rz_tensor attn_sinks;     /* one logit per head (gpt-oss) */
    rz_tensor attn_sub_norm;  /* before the output projection (BitNet) */
    rz_tensor ffn_norm, ffn_norm_b;
    rz_tensor ffn_gate, ffn_up, ffn_down; /* fused gate/up files: views of ffn_up's halves */
    rz_tensor ffn_up_b, ffn_down_b;
    rz_tensor ffn_sub_norm;  /* before the down projection (BitNet) */
    rz_tensor ffn_post_norm; /* on the FFN output (Gemma 2/3) */
    /* Post-LN encoders (BERT): LayerNorms after the attention and after the
     * FFN residual. */
    rz_tensor attn_out_norm, attn_out_norm_b;
    rz_tensor layer_out_norm, layer_out_norm_b;
    /* Mixture of experts: router and one view per expert of the 3-D tensors. */
    rz_tensor gate_inp, gate_inp_b;
    rz_tensor *exp_gate, *exp_up, *exp_down;
    rz_tensor exp_gate_b, exp_up_b, exp_down_b; /* [n_expert] rows of biases (gpt-oss) */
    /* Recurrent layers (RWKV, Mamba): tensors in the slots of the
     * architecture's table (rz_arch.rec_tensors). */
    rz_tensor rec[RZ_MAX_REC_TENSORS];
    uint32_t window;  /* sliding window: a query at p sees keys p - window < k <= p; 0 = all */
    uint8_t rope_set; /* which of the model's RoPE frequency sets this layer rotates with */
} rz_layer;

typedef enum rz_ffn_activation {
    RZ_FFN_SILU,       /* SwiGLU: silu(gate) * up */
    RZ_FFN_RELU_SQR,   /* relu(gate)^2 * up (BitNet b1.58 2B-4T) */
    RZ_FFN_GELU,       /* GeGLU: gelu_tanh(gate) * up (Gemma) */
    RZ_FFN_SWIGLU_OAI, /* gpt-oss: clamped, (g * sigmoid(1.702 g)) * (u + 1) */
} rz_ffn_activation;

/* How a MoE layer weighs its chosen experts. */
typedef enum rz_moe_gating {
    RZ_MOE_SOFTMAX,          /* softmax over all experts, top-k of it */
    RZ_MOE_SOFTMAX_SELECTED, /* top-k of the logits, softmax over those (gpt-oss) */
} rz_moe_gating;

/* Sizes of recurrent architectures (RWKV, Mamba) from their GGUF keys. */
typedef struct rz_rec_hparams {
    int32_t head_size;                                  /* RWKV: WKV head size */
    int32_t mix_extra, decay_extra;                     /* RWKV 6: token-shift and decay LoRA ranks */
    int32_t lora_decay, lora_iclr, lora_mix, lora_gate; /* RWKV 7 LoRA ranks */
    int32_t rescale_every;                              /* RWKV 6: halve the stream every n layers */
    int32_t d_conv, d_inner, d_state, dt_rank, n_group; /* Mamba; Mamba 2: dt_rank = heads */
    bool dt_b_c_rms;                                    /* Mamba: RMS norms on dt, B and C */
    int64_t state_floats;                               /* a layer's state for one sequence */
    int64_t scratch_floats;                             /* a token's working space in a layer */
} rz_rec_hparams;

typedef struct rz_arch rz_arch;
typedef struct rz_graph rz_graph;

/* One set of RoPE frequencies: layers of an architecture may differ in base
 * and scaling (Gemma 3's local and global layers). */
typedef struct rz_rope_set {
    float *freqs; /* n_rot / 2 inverse frequencies, scaling folded in */
    float mscale; /* YaRN's magnitude factor on cos and sin; 1 otherwise */
} rz_rope_set;

enum { RZ_MAX_ROPE_SETS = 2 };

struct rz_model {
    rz_model_desc desc;
    const rz_arch *arch;
    int32_t head_dim;
    int64_t q_dim, kv_dim; /* n_head * head_dim, n_head_kv * head_dim */
    rz_rope_style rope_style;
    rz_rope_set rope[RZ_MAX_ROPE_SETS];
    int n_rope_sets;
    float *rope_freqs;                 /* rope[0].freqs: what cached keys are re-rotated with */
    float attn_scale;                  /* on q.k; 1/sqrt(head_dim) unless the architecture says */
    float attn_softcap, final_softcap; /* 0 = none (Gemma 2) */
    float embd_scale;                  /* token embeddings times this (Gemma: sqrt(n_embd)); 1 */
    /* Sliding-window layers (llama.cpp's set_swa_pattern): with n_swa > 0,
     * layer l attends over a window of n_swa keys when swa_pattern is 0 or
     * l % swa_pattern < swa_pattern - 1; they rotate with RoPE set 1 when the
     * model has two. */
    uint32_t n_swa, swa_pattern;
    rz_ffn_activation ffn_activation;
    int32_t n_expert, n_expert_used, n_ff_exp;
    rz_moe_gating moe_gating;
    bool moe_norm_weights; /* renormalize the chosen experts' weights to sum 1 */
    rz_tensor tok_embd, output_norm, output;
    /* Encoders (BERT) have no output_norm and output; token type 0's row
     * and learned positions are added to their token embeddings, then a
     * LayerNorm; absent elsewhere. */
    rz_tensor token_types, pos_embd, embd_norm, embd_norm_b;
    int32_t n_token_types;
    float norm_eps; /* LayerNorm epsilon (attention.layer_norm_epsilon) */
    bool causal;    /* a token attends to those before it; encoders: to all of its sequence */
    bool recurrent; /* fixed-size state per sequence (RWKV, Mamba) instead of a KV cache */
    rz_rec_hparams rec;
    rz_tensor output_norm_b; /* LayerNorm heads (RWKV) */
    rz_layer *layers;
    rz_tensor *experts; /* storage behind the layers' expert views */
    bool vocab_only;    /* loaded without hyperparameters and weights */
    bool has_vocab;
    rz_vocab vocab;
    char vocab_error[160]; /* why there is no usable tokenizer */
    int32_t end_tokens[4];
    int n_end_tokens;
    rz_tensor **matrices; /* every matrix (mat-mul weight), output first */
    int64_t n_matrices;
    void *weights; /* the matrices, copied out of the mapping (and repacked) */
    size_t weights_bytes;
    rz_gguf *gguf;
    rz_llama2c *llama2c;
};

#endif
