/* Q4_K_G, the run-time layout of Q4_K weights, and A8_K, the activation
 * layout its kernels read (docs/layouts.md). None of these types ever
 * appears in a file.
 *
 * Q4_K_G has Q4_K's size (144 bytes per 256 values). Its nibbles are
 * reordered so that the four vectors of 64 codes of a block (low and high
 * nibbles of two 64-byte loads) each hold 8 codes of every sub-block of 32,
 * in the same two 32-bit lanes: four vpdpbusd then accumulate into one
 * vector whose lanes 2g and 2g + 1 hold the two halves of sub-block g.
 * The 6-bit scales and mins are plain bit strings that share 16 bytes with
 * d and dmin, so that one 16-byte broadcast and one vpmultishiftqb spread
 * them over the lanes (Q4_K's packing takes a dozen shifts and masks).
 *
 * A8_K holds the codes and scale of rz_quantize_row_q8_K in the weights'
 * order, plus the negated sums of the codes of each sub-block in the lanes
 * where the kernels weigh them by the mins. */
#ifndef RZ_TENSOR_QUANTS_KG_H
#define RZ_TENSOR_QUANTS_KG_H

#include <stdint.h>

#include "tensor/fp16.h"
#include "tensor/quants_k.h"

/* value = d * sc_g * code - dmin * m_g for code j of sub-block g (element
 * 32g + j), sc_g / m_g the 6 bits at bit 6g of sc / m (little-endian), code
 * j the nibble rz_q4_k_g_code reads. */
typedef struct rz_block_q4_k_g {
    uint8_t qs[128];
    uint8_t sc[6];
    rz_fp16 d;
    uint8_t m[6];
    rz_fp16 dmin;
} rz_block_q4_k_g;

/* codes[64v + 8g + i] = Q8_K code 8v + i of sub-block g; for k < 4,
 * msums[4k] = -(sum of the codes of sub-block 2k), msums[4k + 2] = the same
 * of 2k + 1, the other lanes 0; d = Q8_K's d. The tail pads the block to
 * whole cache lines, so that the loads are aligned. */
typedef struct rz_block_a8_k {
    int8_t qs[256];
    int32_t msums[16];
    float d;
    uint8_t pad[60];
} rz_block_a8_k;

_Static_assert(sizeof(rz_block_q4_k_g) == 144, "q4_k_g block: as large as a q4_K block");
_Static_assert(sizeof(rz_block_a8_k) == 384, "a8_k block: six cache lines");

/* Code j of sub-block g: nibble j / 8 % 2 of byte 64 (j / 16) + 8g + j % 8. */
static inline unsigned rz_q4_k_g_code(const uint8_t qs[128], int g, int j) {
    return (qs[64 * (j / 16) + 8 * g + j % 8] >> (4 * (j / 8 % 2))) & 15;
}

/* Index of code j of sub-block g in rz_block_a8_k.qs. */
static inline int rz_a8_k_index(int g, int j) { return 64 * (j / 8) + 8 * g + j % 8; }

/* Q4_K rows -> Q4_K_G rows (n a multiple of 256): lossless, and of the same
 * size (the loader sizes the repacked copy by the stored bytes). */
void rz_repack_q4_k_g(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows);
/* Bit-exact with rz_dequantize_row_q4_K on the stored blocks. */
void rz_dequantize_row_q4_k_g(const void *restrict src, float *restrict dst, int64_t n);

/* Activations: the codes and scale of rz_quantize_row_q8_K, rearranged; both
 * write the same bytes. */
void rz_quantize_row_a8_k(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_a8_k_avx2(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_a8_k_avx512(const float *restrict src, void *restrict dst, int64_t n);

/* Scalar reference: per block (float)isum * (d_x d_y) - (float)msum *
 * (dmin_x d_y) summed in block order, as rz_vec_dot_q4_K_q8_K. */
void rz_vec_dot_q4_k_g_a8_k(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q4_k_g_a8_k_avx2(int64_t n, float *restrict s, const void *restrict x,
                                 const void *restrict y);
void rz_vec_dot_q4_k_g_a8_k_avx512(int64_t n, float *restrict s, const void *restrict x,
                                   const void *restrict y);
/* rz_gemm_tile_fn (tensor/isa/gemm.h). */
void rz_gemm_tile_q4_k_g_a8_k_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_q4_k_g_a8_k_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride);

#endif
