/* IEEE half and bfloat16 conversions, bit-exact with ggml's scalar code. */
#ifndef RZ_TENSOR_FP16_H
#define RZ_TENSOR_FP16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t rz_fp16;
typedef uint16_t rz_bf16;

static inline uint32_t rz_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float rz_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Exact widening of a half (all values, including subnormals, inf, NaN). */
static inline float rz_fp16_to_f32(rz_fp16 h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu;
    const uint32_t mantissa = h & 0x3ffu;
    if (exponent == 0) {
        /* Zero or subnormal: mantissa * 2^-24 is exact in float. */
        const float magnitude = (float)mantissa * 0x1.0p-24f;
        return rz_bits_f32(rz_f32_bits(magnitude) | sign);
    }
    if (exponent == 31) return rz_bits_f32(sign | 0x7f800000u | (mantissa << 13));
    return rz_bits_f32(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

/* Round to nearest even, as F16C's vcvtps2ph in its default mode. */
static inline rz_fp16 rz_f32_to_fp16(float f) {
    const uint32_t bits = rz_f32_bits(f);
    const uint16_t sign = (uint16_t)((bits >> 16) & 0x8000u);
    const uint32_t magnitude = bits & 0x7fffffffu;
    if (magnitude > 0x7f800000u) return sign | 0x7e00u;  /* NaN */
    if (magnitude >= 0x477ff000u) return sign | 0x7c00u; /* rounds to infinity */
    if (magnitude < 0x38800000u) {
        /* Below the smallest normal half: the result is round(|f| * 2^24)
         * ulps of 2^-24; 1024 ulps carries into the smallest normal. */
        const float scaled = rz_bits_f32(magnitude) * 0x1.0p24f;
        uint32_t ulps = (uint32_t)scaled;
        const float rest = scaled - (float)ulps;
        if (rest > 0.5f || (rest == 0.5f && (ulps & 1u))) ulps++;
        return sign | (uint16_t)ulps;
    }
    uint32_t half = (((magnitude >> 23) - 112u) << 10) | ((magnitude >> 13) & 0x3ffu);
    const uint32_t dropped = magnitude & 0x1fffu;
    if (dropped > 0x1000u || (dropped == 0x1000u && (half & 1u))) half++;
    return sign | (uint16_t)half;
}

static inline float rz_bf16_to_f32(rz_bf16 h) { return rz_bits_f32((uint32_t)h << 16); }

/* Round to nearest even; a NaN keeps its top bits and is made quiet. */
static inline rz_bf16 rz_f32_to_bf16(float f) {
    const uint32_t bits = rz_f32_bits(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (rz_bf16)((bits >> 16) | 0x40u);
    const uint32_t round_bias = 0x7fffu + ((bits >> 16) & 1u);
    return (rz_bf16)((bits + round_bias) >> 16);
}

#endif
