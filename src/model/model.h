/* In-memory model: hyperparameters, weight views over the mapped file, and
 * the vocabulary. */
#ifndef RZ_MODEL_MODEL_H
#define RZ_MODEL_MODEL_H

#include "kernels/ops.h"
#include "tensor/tensor.h"
#include "tokenizer/vocab.h"

typedef struct rz_layer {
    rz_tensor attn_norm, wq, wk, wv, wo;
    rz_tensor ffn_norm, ffn_gate, ffn_up, ffn_down;
    /* BitNet: RMSNorms before the attention output and FFN down projections
     * (data NULL when the architecture has none). */
    rz_tensor attn_sub_norm, ffn_sub_norm;
} rz_layer;

typedef enum rz_ffn_activation {
    RZ_FFN_SILU,     /* SwiGLU: silu(gate) * up */
    RZ_FFN_RELU_SQR, /* relu(gate)^2 * up (BitNet b1.58 2B-4T) */
} rz_ffn_activation;

/* How an architecture differs from plain Llama. */
typedef struct rz_arch_info {
    const char *name;
    rz_rope_style rope_style;
    rz_ffn_activation ffn_activation;
    bool sub_norms;
} rz_arch_info;

struct rz_model {
    rz_model_desc desc;
    int32_t head_dim;
    const rz_arch_info *arch;
    rz_rope_style rope_style;
    float *rope_freqs; /* n_rot / 2 inverse frequencies */
    rz_tensor tok_embd, output_norm, output;
    rz_layer *layers;
    bool vocab_only; /* loaded without hyperparameters and weights */
    bool has_vocab;
    rz_vocab vocab;
    char vocab_error[160]; /* why there is no usable tokenizer */
    int32_t end_tokens[4];
    int n_end_tokens;
    void *weights; /* the matrices, copied out of the mapping (and repacked) */
    size_t weights_bytes;
    rz_gguf *gguf;
    rz_llama2c *llama2c;
};

#endif
