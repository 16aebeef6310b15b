#include "kernels/ops.h"

#include <math.h>

#include "kernels/isa/ops.h"
#include "tensor/fp16.h"
#include "ryzanstein.h"

/* Row operators go through the active ISA's path where there is one. */

void rz_rms_norm(float *out, const float *x, const float *weight, int64_t n, float eps) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_rms_norm_avx512(out, x, weight, n, eps); return;
    case RZ_ISA_AVX2: rz_rms_norm_avx2(out, x, weight, n, eps); return;
    default: break;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++)
        out[i] = x[i] * scale * weight[i];
}

void rz_layer_norm(float *out, const float *x, const float *weight, const float *bias, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)x[i];
    const float mean = (float)(sum / (double)n);
    double sum2 = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i] - mean;
        out[i] = v;
        sum2 += (double)(v * v);
    }
    const float scale = 1.0f / sqrtf((float)(sum2 / (double)n) + eps);
    for (int64_t i = 0; i < n; i++)
        out[i] = out[i] * scale * weight[i] + (bias ? bias[i] : 0.0f);
}

void rz_rope_angles(float *cos_out, float *sin_out, const float *freqs, int64_t n_pairs, int32_t pos) {
    for (int64_t i = 0; i < n_pairs; i++) {
        const float theta = (float)pos * freqs[i];
        cos_out[i] = cosf(theta);
        sin_out[i] = sinf(theta);
    }
}

void rz_rope_apply(float *x, int64_t n_heads, int64_t head_dim, int64_t n_rot, rz_rope_style style,
                   const float *cos_v, const float *sin_v) {
    if (style == RZ_ROPE_NONE) return;
    const int64_t half = n_rot / 2;
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < half; i++) {
            const int64_t a = style == RZ_ROPE_NORMAL ? 2 * i : i;
            const int64_t b = style == RZ_ROPE_NORMAL ? 2 * i + 1 : i + half;
            const float x0 = v[a], x1 = v[b];
            v[a] = x0 * cos_v[i] - x1 * sin_v[i];
            v[b] = x0 * sin_v[i] + x1 * cos_v[i];
        }
    }
}

float rz_exp_sum(float *x, int64_t n, float shift) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: return rz_exp_sum_avx512(x, n, shift);
    case RZ_ISA_AVX2: return rz_exp_sum_avx2(x, n, shift);
    default: break;
    }
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - shift);
        sum += x[i];
    }
    return sum;
}

void rz_softmax(float *x, int64_t n) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_softmax_avx512(x, n); return;
    case RZ_ISA_AVX2: rz_softmax_avx2(x, n); return;
    default: break;
    }
    float max = x[0];
    for (int64_t i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    const float inv = 1.0f / rz_exp_sum(x, n, max);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

void rz_swiglu(float *gate, const float *up, int64_t n) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_swiglu_avx512(gate, up, n); return;
    case RZ_ISA_AVX2: rz_swiglu_avx2(gate, up, n); return;
    default: break;
    }
    for (int64_t i = 0; i < n; i++)
        gate[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

void rz_sigmoid(float *x, int64_t n) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_sigmoid_avx512(x, n); return;
    case RZ_ISA_AVX2: rz_sigmoid_avx2(x, n); return;
    default: break;
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void rz_silu(float *x, int64_t n) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_silu_avx512(x, n); return;
    case RZ_ISA_AVX2: rz_silu_avx2(x, n); return;
    default: break;
    }
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + expf(-x[i]));
}

float rz_gelu(float x) {
    const float sqrt_2_over_pi = 0.79788456080286535588f;
    return 0.5f * x * (1.0f + tanhf(sqrt_2_over_pi * x * (1.0f + 0.044715f * x * x)));
}

/* The reference logits come from ggml's table, which differs from the
 * exact function by up to ~1e-3 relative. */
float rz_gelu_f16(float x) {
    if (x <= -10.0f) return 0.0f;
    if (x >= 10.0f) return x;
    return rz_fp16_to_f32(rz_f32_to_fp16(rz_gelu(rz_fp16_to_f32(rz_f32_to_fp16(x)))));
}

void rz_geglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        gate[i] = rz_gelu_f16(gate[i]) * up[i];
}

void rz_swiglu_oai(float *gate, const float *up, int64_t n) {
    const float alpha = 1.702f, limit = 7.0f;
    for (int64_t i = 0; i < n; i++) {
        const float g = fminf(gate[i], limit), u = fmaxf(fminf(up[i], limit), -limit);
        gate[i] = g / (1.0f + expf(-alpha * g)) * (u + 1.0f);
    }
}

void rz_relu_sqr_glu(float *gate, const float *up, int64_t n) {
    switch (rz_isa_active()) { /* the scalar loop branches on every sign */
    case RZ_ISA_AVX512: rz_relu_sqr_glu_avx512(gate, up, n); return;
    case RZ_ISA_AVX2: rz_relu_sqr_glu_avx2(gate, up, n); return;
    default: break;
    }
    for (int64_t i = 0; i < n; i++) {
        const float r = gate[i] > 0.0f ? gate[i] : 0.0f;
        gate[i] = r * r * up[i];
    }
}

void rz_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i];
}

int64_t rz_argmax(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}
