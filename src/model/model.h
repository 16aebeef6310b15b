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
} rz_layer;

struct rz_model {
    rz_model_desc desc;
    int32_t head_dim;
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
    rz_gguf *gguf;
    rz_llama2c *llama2c;
};

#endif
