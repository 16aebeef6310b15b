#include "tensor/quants.h"

#include <math.h>
#include <string.h>

void rz_f32_to_f32_row(const void *restrict src, float *restrict dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void rz_f32_from_f32_row(const float *restrict src, void *restrict dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void rz_fp16_to_f32_row(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_fp16 *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = rz_fp16_to_f32(x[i]);
}

void rz_f32_to_fp16_row(const float *restrict src, void *restrict dst, int64_t n) {
    rz_fp16 *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[i] = rz_f32_to_fp16(src[i]);
}

void rz_bf16_to_f32_row(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_bf16 *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = rz_bf16_to_f32(x[i]);
}

void rz_f32_to_bf16_row(const float *restrict src, void *restrict dst, int64_t n) {
    rz_bf16 *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[i] = rz_f32_to_bf16(src[i]);
}

void rz_f32_to_f16_act_row(const float *restrict src, void *restrict dst, int64_t n) {
    float *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[i] = rz_fp16_to_f32(rz_f32_to_fp16(src[i]));
}

/* Position of value i in a BF16_ACT row of n values. */
static int64_t bf16_act_pos(int64_t i, int64_t n) {
    if (i >= n / 32 * 32) return i;
    return i / 32 * 32 + (i % 2) * 16 + (i % 32) / 2;
}

void rz_f32_to_bf16_act_row(const float *restrict src, void *restrict dst, int64_t n) {
    float *y = dst;
    for (int64_t i = 0; i < n; i++)
        y[bf16_act_pos(i, n)] = rz_bf16_to_f32(rz_f32_to_bf16(src[i]));
}

void rz_bf16_act_to_f32_row(const void *restrict src, float *restrict dst, int64_t n) {
    const float *x = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = x[bf16_act_pos(i, n)];
}

void rz_dequantize_row_q8_0(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q8_0 *x = src;
    for (int64_t b = 0; b < n / RZ_QK8_0; b++) {
        const float d = rz_fp16_to_f32(x[b].d);
        for (int j = 0; j < RZ_QK8_0; j++)
            dst[b * RZ_QK8_0 + j] = (float)x[b].qs[j] * d;
    }
}

void rz_dequantize_row_q4_0(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q4_0 *x = src;
    for (int64_t b = 0; b < n / RZ_QK4_0; b++) {
        const float d = rz_fp16_to_f32(x[b].d);
        float *out = dst + b * RZ_QK4_0;
        for (int j = 0; j < RZ_QK4_0 / 2; j++) {
            out[j] = (float)((x[b].qs[j] & 15) - 8) * d;
            out[j + RZ_QK4_0 / 2] = (float)((x[b].qs[j] >> 4) - 8) * d;
        }
    }
}

/* Largest |x| of a block; NaNs are ignored as in ggml's compare-and-keep. */
static float block_amax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]);
    return amax;
}

void rz_quantize_row_q8_0_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / RZ_QK8_0; b++) {
        const float *x = src + b * RZ_QK8_0;
        const float d = block_amax(x, RZ_QK8_0) / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = rz_f32_to_fp16(d);
        for (int j = 0; j < RZ_QK8_0; j++) {
            /* |x*id| <= 127 up to rounding; the clamp only keeps non-finite
             * input (x NaN, id infinite) away from an undefined conversion. */
            const float v = roundf(x[j] * id);
            y[b].qs[j] = isnan(v) ? 0 : (int8_t)fminf(fmaxf(v, -127.0f), 127.0f);
        }
    }
}

void rz_quantize_row_q4_0_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q4_0 *y = dst;
    for (int64_t b = 0; b < n / RZ_QK4_0; b++) {
        const float *x = src + b * RZ_QK4_0;
        /* The scale maps the signed extreme to code 0 (-8), so the other
         * side gets the full 7 steps. */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < RZ_QK4_0; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = rz_f32_to_fp16(d);
        for (int j = 0; j < RZ_QK4_0 / 2; j++) {
            /* Truncation of x*id + 8.5 (>= 0 for finite input), capped at 15. */
            const float v0 = x[j] * id + 8.5f;
            const float v1 = x[j + RZ_QK4_0 / 2] * id + 8.5f;
            const int q0 = v0 >= 15.0f ? 15 : v0 > 0.0f ? (int)v0 : 0;
            const int q1 = v1 >= 15.0f ? 15 : v1 > 0.0f ? (int)v1 : 0;
            y[b].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

void rz_quantize_row_q8_0(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / RZ_QK8_0; b++) {
        const float *x = src + b * RZ_QK8_0;
        const float amax = block_amax(x, RZ_QK8_0);
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[b].d = rz_f32_to_fp16(amax / 127.0f);
        for (int j = 0; j < RZ_QK8_0; j++) {
            /* Clamp written like SIMD min/max (a NaN becomes 127) so that the
             * ISA versions agree even on non-finite input. */
            float v = x[j] * id;
            v = v < 127.0f ? v : 127.0f;
            v = v > -127.0f ? v : -127.0f;
            y[b].qs[j] = (int8_t)lrintf(v);
        }
    }
}

int32_t rz_block_dot_q8_0_q8_0(const rz_block_q8_0 *x, const rz_block_q8_0 *y) {
    int32_t sum = 0;
    for (int j = 0; j < RZ_QK8_0; j++)
        sum += x->qs[j] * y->qs[j];
    return sum;
}

int32_t rz_block_dot_q4_0_q8_0(const rz_block_q4_0 *x, const rz_block_q8_0 *y) {
    int32_t sum = 0;
    for (int j = 0; j < RZ_QK4_0 / 2; j++) {
        sum += ((x->qs[j] & 15) - 8) * y->qs[j];
        sum += ((x->qs[j] >> 4) - 8) * y->qs[j + RZ_QK4_0 / 2];
    }
    return sum;
}

/* Eight interleaved partial sums, like one 8-lane SIMD accumulator, then the
 * tail; FLOAT_AT(p, i) widens element i. */
#define DOT_FLOAT_LANES(X_AT, Y_AT)                                                                          \
    float lanes[8] = {0};                                                                                    \
    int64_t i = 0;                                                                                           \
    for (; i + 8 <= n; i += 8)                                                                               \
        for (int k = 0; k < 8; k++)                                                                          \
            lanes[k] += X_AT(x, i + k) * Y_AT(y, i + k);                                                     \
    float sum =                                                                                              \
        ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));   \
    for (; i < n; i++)                                                                                       \
        sum += X_AT(x, i) * Y_AT(y, i);                                                                      \
    *s = sum

#define F32_AT(p, i)  ((p)[i])
#define F16_AT(p, i)  rz_fp16_to_f32((p)[i])
#define BF16_AT(p, i) rz_bf16_to_f32((p)[i])

void rz_vec_dot_f32(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const float *x = vx, *y = vy;
    DOT_FLOAT_LANES(F32_AT, F32_AT);
}

void rz_vec_dot_f16(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_fp16 *x = vx;
    const float *y = vy; /* F16_ACT */
    DOT_FLOAT_LANES(F16_AT, F32_AT);
}

void rz_vec_dot_bf16(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_bf16 *x = vx, *y = vy;
    DOT_FLOAT_LANES(BF16_AT, BF16_AT);
}

void rz_vec_dot_q8_0_q8_0(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_block_q8_0 *x = vx, *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / RZ_QK8_0; b++)
        sum +=
            (float)rz_block_dot_q8_0_q8_0(&x[b], &y[b]) * (rz_fp16_to_f32(x[b].d) * rz_fp16_to_f32(y[b].d));
    *s = sum;
}

void rz_vec_dot_q4_0_q8_0(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_block_q4_0 *x = vx;
    const rz_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / RZ_QK4_0; b++)
        sum +=
            (float)rz_block_dot_q4_0_q8_0(&x[b], &y[b]) * (rz_fp16_to_f32(x[b].d) * rz_fp16_to_f32(y[b].d));
    *s = sum;
}
