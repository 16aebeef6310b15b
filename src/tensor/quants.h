/* Block layouts (byte-identical with ggml) and the scalar converters and dot
 * products of the types we compute with: F32, F16, BF16, Q8_0, Q4_0. The
 * scalar functions are the reference the ISA kernels are tested against. */
#ifndef RZ_TENSOR_QUANTS_H
#define RZ_TENSOR_QUANTS_H

#include <stdint.h>

#include "tensor/fp16.h"

#define RZ_QK8_0 32
#define RZ_QK4_0 32

/* value[j] = qs[j] * d */
typedef struct rz_block_q8_0 {
    rz_fp16 d;
    int8_t qs[RZ_QK8_0];
} rz_block_q8_0;

/* value[j] = ((qs[j] & 15) - 8) * d, value[j + 16] = ((qs[j] >> 4) - 8) * d */
typedef struct rz_block_q4_0 {
    rz_fp16 d;
    uint8_t qs[RZ_QK4_0 / 2];
} rz_block_q4_0;

_Static_assert(sizeof(rz_block_q8_0) == 34, "q8_0 block must match ggml");
_Static_assert(sizeof(rz_block_q4_0) == 18, "q4_0 block must match ggml");

/* Row converters; n is a multiple of the block size. Signatures match the
 * type-traits function pointers. */
void rz_f32_to_f32_row(const void *restrict src, float *restrict dst, int64_t n);
void rz_f32_from_f32_row(const float *restrict src, void *restrict dst, int64_t n);
void rz_fp16_to_f32_row(const void *restrict src, float *restrict dst, int64_t n);
void rz_f32_to_fp16_row(const float *restrict src, void *restrict dst, int64_t n);
void rz_bf16_to_f32_row(const void *restrict src, float *restrict dst, int64_t n);
void rz_f32_to_bf16_row(const float *restrict src, void *restrict dst, int64_t n);
/* Activations of the F16 and BF16 tiles (F16_ACT, BF16_ACT): floats rounded
 * to fp16 / bf16 and kept as float, so that the tiles convert only the
 * weights and still compute what fp16 / bf16 activation rows give. BF16_ACT
 * stores each whole 32-value block as its 16 even-indexed values, then its 16
 * odd-indexed ones (the two halves a shift and a mask split a 64-byte bf16
 * load into); the last n % 32 values stay in order. */
void rz_f32_to_f16_act_row(const float *restrict src, void *restrict dst, int64_t n);
void rz_f32_to_bf16_act_row(const float *restrict src, void *restrict dst, int64_t n);
void rz_bf16_act_to_f32_row(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q8_0(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_q4_0(const void *restrict src, float *restrict dst, int64_t n);

/* ggml's reference quantizers (quantize_row_*_ref): same bytes, so that the
 * files we write equal llama-quantize's. */
void rz_quantize_row_q8_0_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q4_0_ref(const float *restrict src, void *restrict dst, int64_t n);

/* Activation quantizer used before Q8_0/Q4_0 dot products. It follows ggml's
 * x86 quantize_row_q8_0 (the one that produced the reference outputs), not
 * the _ref one: id = 127/amax instead of 1/(amax/127), and codes rounded
 * half to even instead of away from zero, so a code can differ by one from
 * rz_quantize_row_q8_0_ref. The ISA versions write the same bytes. */
void rz_quantize_row_q8_0(const float *restrict src, void *restrict dst, int64_t n);

/* Exact integer dot product of one block pair (without the scales). */
int32_t rz_block_dot_q8_0_q8_0(const rz_block_q8_0 *x, const rz_block_q8_0 *y);
int32_t rz_block_dot_q4_0_q8_0(const rz_block_q4_0 *x, const rz_block_q8_0 *y);

/* Scalar vec_dot kernels (rz_vec_dot_fn). Quantized ones sum, per block,
 * (float)sumi * (d_x * d_y) in float, in ggml's order. */
void rz_vec_dot_f32(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_f16(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_bf16(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q8_0_q8_0(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q4_0_q8_0(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);

#endif
