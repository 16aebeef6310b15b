/* Block layouts (byte-identical with ggml) and scalar converters and dot
 * products of the legacy types Q4_1, Q5_0, Q5_1 (with their activation type
 * Q8_1), of IQ4_NL and MXFP4 and of the K-quants Q2_K..Q6_K (with Q8_K). The
 * scalar functions are the reference the ISA kernels are tested against. */
#ifndef RZ_TENSOR_QUANTS_K_H
#define RZ_TENSOR_QUANTS_K_H

#include <stdint.h>

#include "tensor/fp16.h"
#include "tensor/quants.h"

#define RZ_QK_K 256

/* value[j] = (qs[j] & 15) * d + m, value[j + 16] = (qs[j] >> 4) * d + m */
typedef struct rz_block_q4_1 {
    rz_fp16 d, m;
    uint8_t qs[16];
} rz_block_q4_1;

/* 5-bit codes: low nibbles as Q4_0, bit 4 of element j in bit j of qh;
 * value = (code - 16) * d */
typedef struct rz_block_q5_0 {
    rz_fp16 d;
    uint8_t qh[4];
    uint8_t qs[16];
} rz_block_q5_0;

/* Codes as Q5_0; value = code * d + m */
typedef struct rz_block_q5_1 {
    rz_fp16 d, m;
    uint8_t qh[4];
    uint8_t qs[16];
} rz_block_q5_1;

/* Non-linear 4-bit: value = d * rz_iq4nl_values[code], codes as Q4_0. */
typedef struct rz_block_iq4_nl {
    rz_fp16 d;
    uint8_t qs[16];
} rz_block_iq4_nl;

/* IQ4_NL's 16 levels (ggml's kvalues_iq4nl). */
extern const int8_t rz_iq4nl_values[16];

/* OCP microscaling FP4: value = rz_mxfp4_values[code] * 2^(e - 128), codes
 * as Q4_0; e is an E8M0 exponent (bias 127), halved because the levels are
 * twice the E2M1 values. */
typedef struct rz_block_mxfp4 {
    uint8_t e;
    uint8_t qs[16];
} rz_block_mxfp4;

/* The E2M1 values doubled to integers (ggml's kvalues_mxfp4): code bit 3
 * is the sign. */
extern const int8_t rz_mxfp4_values[16];

/* 2^(e - 128), as ggml's GGML_E8M0_TO_FP32_HALF: e 0 and 1 are subnormal,
 * e 255 is 2^127 (not NaN). */
static inline float rz_e8m0_to_f32_half(uint8_t e) {
    return rz_bits_f32(e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23);
}

/* Q8_0 plus s = d * sum(qs), which folds Q4_1/Q5_1's offset m into one
 * product per block. */
typedef struct rz_block_q8_1 {
    rz_fp16 d, s;
    int8_t qs[32];
} rz_block_q8_1;

/* 16 groups of 16: value = d * (scales & 15) * q - dmin * (scales >> 4),
 * q the 2-bit code; codes of 128 elements share 32 bytes, 2 bits each. */
typedef struct rz_block_q2_K {
    uint8_t scales[16];
    uint8_t qs[64];
    rz_fp16 d, dmin;
} rz_block_q2_K;

/* 16 groups of 16: value = d * (s - 32) * (q - 4 * !h), s a 6-bit scale
 * packed in 12 bytes, q a 2-bit code, h the bit in hmask. */
typedef struct rz_block_q3_K {
    uint8_t hmask[32];
    uint8_t qs[64];
    uint8_t scales[12];
    rz_fp16 d;
} rz_block_q3_K;

/* 8 groups of 32: value = d * sc * q - dmin * m, 6-bit sc and m packed in
 * 12 bytes, 4-bit q (low nibbles of 32 bytes, then their high nibbles). */
typedef struct rz_block_q4_K {
    rz_fp16 d, dmin;
    uint8_t scales[12];
    uint8_t qs[128];
} rz_block_q4_K;

/* As Q4_K with a fifth bit per code in qh. */
typedef struct rz_block_q5_K {
    rz_fp16 d, dmin;
    uint8_t scales[12];
    uint8_t qh[32];
    uint8_t qs[128];
} rz_block_q5_K;

/* 16 groups of 16: value = d * scales * (q - 32), q 6 bits (low 4 in ql,
 * high 2 in qh). */
typedef struct rz_block_q6_K {
    uint8_t ql[128];
    uint8_t qh[64];
    int8_t scales[16];
    rz_fp16 d;
} rz_block_q6_K;

/* Activations for K-quant dots: value = d * qs; bsums = sums of 16 codes. */
typedef struct rz_block_q8_K {
    float d;
    int8_t qs[RZ_QK_K];
    int16_t bsums[RZ_QK_K / 16];
} rz_block_q8_K;

_Static_assert(sizeof(rz_block_q4_1) == 20, "q4_1 block must match ggml");
_Static_assert(sizeof(rz_block_q5_0) == 22, "q5_0 block must match ggml");
_Static_assert(sizeof(rz_block_q5_1) == 24, "q5_1 block must match ggml");
_Static_assert(sizeof(rz_block_iq4_nl) == 18, "iq4_nl block must match ggml");
_Static_assert(sizeof(rz_block_mxfp4) == 17, "mxfp4 block must match ggml");
_Static_assert(sizeof(rz_block_q8_1) == 36, "q8_1 block must match ggml");
_Static_assert(sizeof(rz_block_q2_K) == 84, "q2_K block must match ggml");
_Static_assert(sizeof(rz_block_q3_K) == 110, "q3_K block must match ggml");
_Static_assert(sizeof(rz_block_q4_K) == 144, "q4_K block must match ggml");
_Static_assert(sizeof(rz_block_q5_K) == 176, "q5_K block must match ggml");
_Static_assert(sizeof(rz_block_q6_K) == 210, "q6_K block must match ggml");
_Static_assert(sizeof(rz_block_q8_K) == 292, "q8_K block must match ggml");

/* Dequantizers, bit-exact with ggml's dequantize_row_*. */
void rz_dequantize_row_q4_1(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q5_0(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q5_1(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_iq4_nl(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_mxfp4(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q8_1(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q2_K(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q3_K(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q4_K(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q5_K(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q6_K(const void *restrict src, float *restrict dst, int64_t n);
/* The 256 6-bit codes of a Q6_K block, minus 32, in element order. */
void rz_q6_K_codes(const rz_block_q6_K *x, int8_t out[RZ_QK_K]);
void rz_dequantize_row_q8_K(const void *restrict src, float *restrict dst, int64_t n);

/* Reference quantizers following ggml's quantize_row_*_ref (scale search
 * of make_qkx2_quants / make_qx_quants / make_q3_quants). */
void rz_quantize_row_q4_1_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q5_0_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q5_1_ref(const float *restrict src, void *restrict dst, int64_t n);
/* IQ4_NL: ggml's quantize_iq4_nl without importance weights (scale search
 * over 15 trial scales, x^2-weighted). */
void rz_quantize_row_iq4_nl_ref(const float *restrict src, void *restrict dst, int64_t n);
/* MXFP4: ggml's quantize_row_mxfp4_ref, bit for bit: e from the block's
 * absolute maximum, then each value's nearest level. */
void rz_quantize_row_mxfp4_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q2_K_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q3_K_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q4_K_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q5_K_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q6_K_ref(const float *restrict src, void *restrict dst, int64_t n);

/* Activation quantizers, as ggml's x86 quantize_row_q8_1 (the codes of
 * rz_quantize_row_q8_0, s = fp16(amax/127 * sum)) and quantize_row_q8_K
 * (its scalar reference, used on x86 too). */
void rz_quantize_row_q8_1(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q8_K(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q8_K_avx2(const float *restrict src, void *restrict dst, int64_t n);

/* Exact integer parts of one block pair. Legacy: the code dot product
 * (codes as stored for Q4_1/Q5_1, centered for Q5_0). K-quants: isum, the
 * scale-weighted sum of code products (codes centered for Q3_K/Q6_K), and
 * msum, the min-weighted sum of activation sums (Q2_K, Q4_K, Q5_K). */
int32_t rz_block_dot_q4_1_q8_1(const rz_block_q4_1 *x, const rz_block_q8_1 *y);
int32_t rz_block_dot_q5_0_q8_0(const rz_block_q5_0 *x, const rz_block_q8_0 *y);
int32_t rz_block_dot_iq4_nl_q8_0(const rz_block_iq4_nl *x, const rz_block_q8_0 *y);
int32_t rz_block_dot_mxfp4_q8_0(const rz_block_mxfp4 *x, const rz_block_q8_0 *y);
int32_t rz_block_dot_q5_1_q8_1(const rz_block_q5_1 *x, const rz_block_q8_1 *y);
typedef struct rz_kdot {
    int32_t isum, msum;
} rz_kdot;
rz_kdot rz_block_dot_q2_K_q8_K(const rz_block_q2_K *x, const rz_block_q8_K *y);
rz_kdot rz_block_dot_q3_K_q8_K(const rz_block_q3_K *x, const rz_block_q8_K *y);
rz_kdot rz_block_dot_q4_K_q8_K(const rz_block_q4_K *x, const rz_block_q8_K *y);
rz_kdot rz_block_dot_q5_K_q8_K(const rz_block_q5_K *x, const rz_block_q8_K *y);
rz_kdot rz_block_dot_q6_K_q8_K(const rz_block_q6_K *x, const rz_block_q8_K *y);

/* The 6-bit scale and min of group j (0..7) of Q4_K/Q5_K. */
static inline void rz_k4_scale_min(const uint8_t *scales, int j, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = scales[j] & 63;
        *m = scales[j + 4] & 63;
    } else {
        *sc = (uint8_t)((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4));
        *m = (uint8_t)((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
    }
}

/* The 16 signed 6-bit scales of Q3_K, in group order. */
void rz_q3_K_scales(const uint8_t packed[12], int8_t out[16]);

/* Scalar vec_dot kernels. Per block: legacy ones (float)sumi * (d_x d_y)
 * (+ m_x s_y for Q4_1/Q5_1); K-quants (float)isum * (d_x d_y) -
 * (float)msum * (dmin_x d_y); summed over blocks in float. */
void rz_vec_dot_q4_1_q8_1(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q5_0_q8_0(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q5_1_q8_1(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_iq4_nl_q8_0(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_mxfp4_q8_0(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q2_K_q8_K(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q3_K_q8_K(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q4_K_q8_K(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q5_K_q8_K(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q6_K_q8_K(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);

#endif
