/* Ternary (BitNet b1.58) weight types and their scalar references:
 * TQ1_0 and TQ2_0 (byte-identical with ggml, activations in Q8_K) and
 * bitnet.cpp's I2_S (2-bit codes with one float scale per tensor,
 * activations in I8_S). docs/bitnet.md describes the layouts. */
#ifndef RZ_TENSOR_QUANTS_TERNARY_H
#define RZ_TENSOR_QUANTS_TERNARY_H

#include <stdint.h>

#include "ryzanstein.h"
#include "tensor/fp16.h"

#define RZ_QK_TQ  256 /* TQ1_0 / TQ2_0 block */
#define RZ_QK_I2S 128 /* I2_S code group and I8_S block */

/* 5 trits per byte in qs (first 240 elements), 4 per byte in qh (last 16),
 * stored as ceil(value * 256 / 243) so that digit k is (q * 3^k * 3) >> 8. */
typedef struct rz_block_tq1_0 {
    uint8_t qs[(RZ_QK_TQ - 4 * RZ_QK_TQ / 64) / 5];
    uint8_t qh[RZ_QK_TQ / 64];
    rz_fp16 d;
} rz_block_tq1_0;

/* Element 128*h + 32*l + m is ((qs[32*h + m] >> 2l) & 3) - 1, times d. */
typedef struct rz_block_tq2_0 {
    uint8_t qs[RZ_QK_TQ / 4];
    rz_fp16 d;
} rz_block_tq2_0;

/* TQ2_0_G, the run-time layout of TQ2_0 and TQ1_0 weights on AVX-512
 * (docs/layouts.md): TQ2_0's block with its codes regrouped so that field l
 * of the 64 code bytes holds elements 64l..64l+63, in line with one 64-byte
 * load of Q8_K activations, so one zmm vpdpbusd per field (stored TQ2_0
 * pairs each field's two 32-byte halves with activations 128 apart).
 * Element 64*l + m is ((qs[m] >> 2l) & 3) - 1, times d. TQ1_0 blocks grow
 * from 54 to 66 bytes in it. */
typedef struct rz_block_tq2_0_g {
    uint8_t qs[RZ_QK_TQ / 4];
    rz_fp16 d;
} rz_block_tq2_0_g;

/* I2_S activations (our run-time type; the fork's I8_S id): per token,
 * q = clamp(nearest(x * a), -128, 127) with a = 127 / max|x|. Every block of
 * a row carries the same a, and sum, the row's sum of q (read once per row
 * instead of summed per block by every dot product and tile). */
typedef struct rz_block_i8_s {
    float a;
    int32_t sum;
    int8_t qs[RZ_QK_I2S];
} rz_block_i8_s;

_Static_assert(sizeof(rz_block_tq1_0) == 54, "tq1_0 block must match ggml");
_Static_assert(sizeof(rz_block_tq2_0) == 66, "tq2_0 block must match ggml");
_Static_assert(sizeof(rz_block_tq2_0_g) == 66, "tq2_0_g block: as large as a tq2_0 block");
_Static_assert(sizeof(rz_block_i8_s) == 136, "i8_s block size");

/* I2_S code of element 32*l + m of a 128-group is (g[m] >> (6 - 2l)) & 3:
 * 0 -> -s, 1 -> 0, 2 -> +s. */
static inline int rz_i2s_code(const uint8_t *group, int j) {
    return (group[j % 32] >> (6 - 2 * (j / 32))) & 3;
}

/* The I2_S tensor (codes and trailer) of n ternary values t in {-1, 0, 1}
 * times s; n a multiple of RZ_QK_I2S. */
void rz_i2_s_from_ternary(const int8_t *restrict t, float s, void *restrict dst, int64_t n);

/* The per-tensor scale of an I2_S tensor of n elements (from its trailer). */
float rz_i2s_scale(const void *data, int64_t n);

/* Row converters (rz_to_float_fn / rz_from_float_fn). The I2_S decoder works
 * on a WHOLE tensor of n elements, trailer included. The TQ quantizers are
 * ggml's quantize_row_tq*_0_ref (per-block absmax). */
void rz_dequantize_row_tq1_0(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_tq2_0(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_row_tq2_0_g(const void *restrict src, float *restrict dst, int64_t n);
void rz_dequantize_i2_s(const void *restrict src, float *restrict dst, int64_t n);
void rz_quantize_row_tq1_0_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_tq2_0_ref(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_i8_s(const float *restrict src, void *restrict dst, int64_t n);
/* The I8_S scale of a row: 127 / max(|x|, 1e-5) (shared with I8_TL). */
float rz_i8_s_scale(const float *x, int64_t n);

/* TQ2_0 / TQ1_0 rows -> TQ2_0_G rows (rz_repack_fn): lossless, every byte
 * pattern of the stored blocks included. */
void rz_repack_tq2_0_g(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows);
void rz_repack_tq1_0_g(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows);

/* TQ1_0 / TQ2_0 tensors of n values whose blocks all have one scale (bit
 * for bit, blocks of zeros aside), as BitNet's do, hold an I2_S tensor:
 * rz_tq_shared_scale tells whether (false for other types, and for n not
 * a multiple of RZ_QK_I2S) and gives that scale; rz_tq_to_i2_s writes the
 * I2_S tensor (codes and trailer), whose values equal the source's
 * (TQ2_0's code 3, value 2, included). */
bool rz_tq_shared_scale(rz_type type, const void *data, int64_t n, float *scale);
void rz_tq_to_i2_s(rz_type type, const void *restrict src, void *restrict dst, int64_t n, float scale);

/* Absmean ternarization of a whole tensor (rz_quantize_tensor_fn): codes
 * t = clamp(round(w / mean|w|), -1, 1), and the scale that reproduces the
 * weights best for those codes, s = mean |w| over t != 0 (so already-ternary
 * weights t*s come back exactly); TQ types store s as fp16 in every block. */
rz_status rz_quantize_tensor_tq1_0(const float *restrict src, void *restrict dst, int64_t nrows,
                                   int64_t n_per_row);
rz_status rz_quantize_tensor_tq2_0(const float *restrict src, void *restrict dst, int64_t nrows,
                                   int64_t n_per_row);
rz_status rz_quantize_tensor_i2_s(const float *restrict src, void *restrict dst, int64_t nrows,
                                  int64_t n_per_row);

/* Scalar vec_dot references. TQ: sum over blocks of (float)sumi * (d * d8),
 * as ggml. I2_S: ((float)sum code*q - (float)sum q) / a, WITHOUT the
 * per-tensor scale, which rz_matmul applies (rz_tensor.scale). */
void rz_vec_dot_tq1_0_q8_K(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_tq2_0_q8_K(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_tq2_0_g_q8_K(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_i2_s_i8_s(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);

/* Per-ISA kernels (tensor/isa/ternary_*.c): same integers, float results
 * in a different summation order. */
void rz_vec_dot_tq1_0_q8_K_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_tq2_0_q8_K_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_i2_s_i8_s_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_quantize_row_i8_s_avx2(const float *restrict src, void *restrict dst, int64_t n);
/* rz_gemm_tile_fn of TQ2_0 and I2_S (unscaled, as its vec_dot), and their
 * largest tiles (rows cost these no registers). */
enum { RZ_TQ2_AVX2_ROWS = 16, RZ_TQ2_AVX2_TOKENS = 6, RZ_I2S_AVX2_ROWS = 16, RZ_I2S_AVX2_TOKENS = 8 };
void rz_gemm_tile_tq2_0_q8_K_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                  uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_i2_s_i8_s_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                 uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_vec_dot_tq1_0_q8_K_avx512(int64_t n, float *restrict s, const void *restrict x,
                                  const void *restrict y);
void rz_vec_dot_tq2_0_q8_K_avx512(int64_t n, float *restrict s, const void *restrict x,
                                  const void *restrict y);
void rz_vec_dot_tq2_0_g_q8_K_avx512(int64_t n, float *restrict s, const void *restrict x,
                                    const void *restrict y);
void rz_vec_dot_i2_s_i8_s_avx512(int64_t n, float *restrict s, const void *restrict x,
                                 const void *restrict y);
void rz_vec_dot2_i2_s_i8_s_avx512(int64_t n, float *restrict s, const void *restrict x0,
                                  const void *restrict x1, const void *restrict y);
void rz_quantize_row_i8_s_avx512(const float *restrict src, void *restrict dst, int64_t n);
float rz_i8_s_scale_avx512(const float *x, int64_t n); /* n a multiple of 16 */
/* rz_gemm_tile_fn of TQ1_0, TQ2_0 and TQ2_0_G, and of I2_S (unscaled, as its vec_dot;
 * its own tile shape). */
enum { RZ_I2S_TILE_ROWS = 4, RZ_I2S_TILE_TOKENS = 6 };
void rz_gemm_tile_tq1_0_q8_K_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_tq2_0_q8_K_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_tq2_0_g_q8_K_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                      uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_i2_s_i8_s_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride);

#endif
