/* Q4_0_R8: Q4_0 weights with eight rows interleaved, one 32-bit ymm lane per
 * row, for AVX2 CPUs (no VNNI), and A8_R8, its activations (docs/layouts.md).
 *
 * Rows come in groups of RZ_R8_ROWS; a group stores, for each block column b
 * of its rows (one Q4_0 block of each), 144 bytes:
 *   d[8]    the fp16 scales of rows 0..7 (one vcvtph2ps);
 *   qs[128] qs[32 j + 4 r + k] = byte 4 j + k of row r's block: ymm j holds
 *           in lane r the low nibbles of columns 4j..4j+3 and the high ones of
 *           columns 16+4j..16+4j+3 of row r.
 * That is Q4_0's 18 bytes per row and block, so group g begins at row 8 g.
 *
 * A8_R8: per block of 32 activations, the Q8_0 codes of rz_quantize_row_q8_0
 * in the same order, d as float and corr = -8 * (sum of the codes): a
 * broadcast of codes 4j..4j+3 (16+4j..16+4j+3) multiplies all eight rows'
 * low (high) nibbles of ymm j, and corr turns the unsigned nibble sums into
 * those of the signed values. The integer block sums are Q4_0 x Q8_0's. */
#ifndef RZ_TENSOR_QUANTS_Q4_0_R8_H
#define RZ_TENSOR_QUANTS_Q4_0_R8_H

#include <stdint.h>

#include "tensor/quants.h"

enum { RZ_R8_ROWS = 8 };

typedef struct rz_block_q4_0_r8 {
    rz_fp16 d[RZ_R8_ROWS];
    uint8_t qs[RZ_R8_ROWS * RZ_QK4_0 / 2];
} rz_block_q4_0_r8;

typedef struct rz_block_a8_r8 {
    int8_t qs[RZ_QK8_0];
    float d;
    int32_t corr;
} rz_block_a8_r8;

_Static_assert(sizeof(rz_block_q4_0_r8) == RZ_R8_ROWS * sizeof(rz_block_q4_0), "eight q4_0 blocks");
_Static_assert(sizeof(rz_block_a8_r8) == 40, "a8_r8 block");

/* Q4_0 rows -> Q4_0_R8 (nrows a multiple of RZ_R8_ROWS), and back (tests). */
void rz_repack_q4_0_r8(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows);
void rz_unpack_q4_0_r8(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows);

/* Activations (rz_from_float_fn): the Q8_0 quantizer's codes, rearranged. */
void rz_quantize_row_a8_r8(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_a8_r8_avx2(const float *restrict src, void *restrict dst, int64_t n);

/* rz_gemm_tile_fn of one row group (nr == RZ_R8_ROWS). The scalar reference
 * gives each row exactly rz_vec_dot_q4_0_q8_0 on the unpacked blocks. */
void rz_gemm_tile_q4_0_r8_a8_r8(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_q4_0_r8_a8_r8_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride);

#endif
