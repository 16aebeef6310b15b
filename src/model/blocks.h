/* The blocks architectures build their layers from. Each works on every
 * token of the pass: norms and residuals over b->x / b->xb, attention and
 * feed-forward blocks from b->xb (the normed input) back into b->xb. */
#ifndef RZ_MODEL_BLOCKS_H
#define RZ_MODEL_BLOCKS_H

#include "model/graph.h"

/* out = RMSNorm(in) * w, row by row (n_embd wide). */
void rz_g_rms_norm(rz_graph *g, float *out, const float *in, const rz_tensor *w);

/* out = LayerNorm(in) * w + b, row by row (n_embd wide); out may be in. */
void rz_g_layer_norm(rz_graph *g, float *out, const float *in, const rz_tensor *w, const rz_tensor *b);

/* b->x += b->xb */
void rz_g_residual(rz_graph *g);

/* Self-attention of layer l: Q/K/V projections (with the biases and per-head
 * norms the layer has), RoPE, the KV cache, causal attention (sliding window,
 * soft-capping and sinks as set; encoders: over the whole sequence), output
 * projection. */
void rz_g_attention(rz_graph *g, const rz_layer *L, int32_t l);

/* Gated feed-forward (the model's activation) of layer l; without a gate
 * matrix, gelu(up) (BERT). */
void rz_g_ffn(rz_graph *g, const rz_layer *L, int32_t l);

/* Mixture of experts of layer l: the router picks n_expert_used experts per
 * token; the tokens of each expert go through its FFN together, so each
 * expert's weights are read once per pass. */
void rz_g_moe(rz_graph *g, const rz_layer *L, int32_t l);

/* The layer of most decoders: pre-norm attention and FFN (or MoE), each
 * added to the residual stream. */
void rz_g_prenorm_layer(rz_graph *g, const rz_layer *L, int32_t l);

#endif
