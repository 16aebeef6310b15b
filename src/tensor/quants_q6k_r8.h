/* Q6_K_R8, the AVX2 run-time layout of Q6_K weights (docs/layouts.md): rows
 * interleaved in groups of eight, row r of a group in 32-bit lane r, so that
 * a kernel multiplies four codes of each of the eight rows by four
 * activation codes broadcast to every lane, applies the eight rows' sub-block
 * scales with one vpmaddwd and leaves each row's sum in its own lane (no
 * horizontal sums, float work once per eight rows). It holds Q6_K's bytes:
 * 8 x 210 per 256 columns of a group. Its activations are Q8_K. */
#ifndef RZ_TENSOR_QUANTS_Q6K_R8_H
#define RZ_TENSOR_QUANTS_Q6K_R8_H

#include <stdint.h>

#include "tensor/fp16.h"
#include "tensor/quants_k.h"

/* Rows per group; tokens of the AVX2 tile (a block's codes are decoded once
 * for that many tokens). */
enum { RZ_Q6_K_R8_ROWS = 8, RZ_Q6_K_R8_AVX2_TOKENS = 12 };

/* Columns 256b..256b+255 of a group's eight rows. Code vector k (0..3) of
 * sub-block s holds code 16s + 4k + j of row r in byte i = 4r + j; the
 * sub-block's 96 bytes q = qs + 96s keep them as whole 6-bit codes where one
 * mask gives them: q[i] holds code vector 0's in bits 0-5 and the two high
 * bits of vector 2's in bits 6-7, q[32 + i] vector 1's and vector 3's high
 * bits, q[64 + i] the low nibbles of vectors 2 and 3. scales[8s + r] is row
 * r's scale of sub-block s, d[r] its block scale; value = d * scale *
 * (code - 32). */
typedef struct rz_block_q6_k_r8 {
    uint8_t qs[1536];
    int8_t scales[128];
    rz_fp16 d[RZ_Q6_K_R8_ROWS];
} rz_block_q6_k_r8;

_Static_assert(sizeof(rz_block_q6_k_r8) == RZ_Q6_K_R8_ROWS * sizeof(rz_block_q6_K),
               "q6_k_r8 block: eight q6_K blocks");

/* Code (0..63) of element e of row r. */
static inline unsigned rz_q6_k_r8_code(const rz_block_q6_k_r8 *b, int r, int e) {
    const uint8_t *q = b->qs + 96 * (e / 16);
    const int k = e % 16 / 4, i = 4 * r + e % 4;
    if (k < 2) return q[i + 32 * k] & 63u;
    return ((q[64 + i] >> (4 * (k - 2))) & 15u) | (unsigned)(q[i + 32 * (k - 2)] >> 6) << 4;
}

/* Q6_K rows -> Q6_K_R8 groups (nrows a multiple of 8, n a multiple of 256):
 * lossless, and of the same size. */
void rz_repack_q6_k_r8(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows);
/* The eight rows of one group as floats (row r at dst + r * n): bit-exact
 * with rz_dequantize_row_q6_K on the stored rows. Rows of an interleaved
 * layout have no decoder of their own (the type's to_float). */
void rz_dequantize_q6_k_r8(const void *restrict src, float *restrict dst, int64_t n);

/* rz_gemm_tile_fn (tensor/isa/gemm.h) over one group (nr == 8): the scalar
 * reference sums as rz_vec_dot_q6_K_q8_K does, and the AVX2 tile (up to
 * RZ_Q6_K_R8_AVX2_TOKENS tokens) gives the same floats. */
void rz_gemm_tile_q6_k_r8_q8_K(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                               uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_q6_k_r8_q8_K_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride);

#endif
