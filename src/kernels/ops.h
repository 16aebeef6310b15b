/* Element-wise and row-wise operators of transformer layers (float32). */
#ifndef RZ_KERNELS_OPS_H
#define RZ_KERNELS_OPS_H

#include <stdint.h>

/* out = x / rms(x) * weight; sum of squares in double (as ggml). */
void rz_rms_norm(float *out, const float *x, const float *weight, int64_t n, float eps);

/* out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias (LayerNorm; bias
 * may be NULL); sums in double, as ggml's norm. out may be x. */
void rz_layer_norm(float *out, const float *x, const float *weight, const float *bias, int64_t n, float eps);

typedef enum rz_rope_style {
    RZ_ROPE_NORMAL, /* rotate adjacent pairs (2i, 2i+1): llama.cpp "normal", llama2.c */
    RZ_ROPE_NEOX,   /* rotate (i, i + n_rot/2): GPT-NeoX / HF layout */
    RZ_ROPE_NONE,   /* no rotation (BERT: learned absolute positions) */
} rz_rope_style;

/* Angles for one position: cos/sin of pos * freq[i], i < n_rot/2. */
void rz_rope_angles(float *cos_out, float *sin_out, const float *freqs, int64_t n_pairs, int32_t pos);
/* Rotate the first n_rot dims of each of n_heads vectors of head_dim floats. */
void rz_rope_apply(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, rz_rope_style style,
                   const float *cos_v, const float *sin_v);

/* x[i] = exp(x[i] - shift); returns their sum (float). */
float rz_exp_sum(float *x, int64_t n, float shift);

/* In-place softmax over n values (max-subtracted, float). */
void rz_softmax(float *x, int64_t n);

/* gate[i] = silu(gate[i]) * up[i] */
void rz_swiglu(float *gate, const float *up, int64_t n);

/* x[i] = 1 / (1 + exp(-x[i])) */
void rz_sigmoid(float *x, int64_t n);

/* x[i] = x[i] / (1 + exp(-x[i])) */
void rz_silu(float *x, int64_t n);

/* gate[i] = max(gate[i], 0)^2 * up[i] */
void rz_relu_sqr_glu(float *gate, const float *up, int64_t n);

/* GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
float rz_gelu(float x);
/* rz_gelu as ggml's CPU computes it: input and result rounded to fp16 (its
 * lookup table), identity past |x| >= 10, 0 below -10. */
float rz_gelu_f16(float x);

/* gate[i] = rz_gelu_f16(gate[i]) * up[i] (Gemma's GeGLU) */
void rz_geglu(float *gate, const float *up, int64_t n);

/* gpt-oss's clamped SwiGLU: g = min(gate, 7), u = clamp(up, -7, 7),
 * gate[i] = g * sigmoid(1.702 g) * (u + 1) */
void rz_swiglu_oai(float *gate, const float *up, int64_t n);

/* y[i] += x[i] */
void rz_add(float *y, const float *x, int64_t n);

/* Index of the largest value; ties go to the lowest index. */
int64_t rz_argmax(const float *x, int64_t n);

#endif
