/* Q4_K_R8, the AVX2 run-time layout of Q4_K weights (docs/layouts.md): rows
 * interleaved in groups of eight, row r of a group in 32-bit lane r, so that
 * a kernel multiplies four codes of each of the eight rows by four
 * activation codes broadcast to every lane, sums a sub-block's products in
 * int16, applies the eight rows' sub-block scales with one vpmaddwd and
 * leaves each row's sum in its own lane (no horizontal sums, float work once
 * per eight rows). It keeps Q4_K's size, 8 x 144 bytes per 256 columns of a
 * group, with the 6-bit scales and mins unpacked into bytes the kernel loads
 * as they are. Its activations are Q8_K. */
#ifndef RZ_TENSOR_QUANTS_Q4K_R8_H
#define RZ_TENSOR_QUANTS_Q4K_R8_H

#include <stdint.h>

#include "tensor/fp16.h"
#include "tensor/quants_k.h"

/* Rows per group; tokens of the AVX2 tile (a sub-block's codes are decoded
 * once for that many tokens). */
enum { RZ_Q4_K_R8_ROWS = 8, RZ_Q4_K_R8_AVX2_TOKENS = 8 };

/* Columns 256b..256b+255 of a group's eight rows. Sub-block s (32 columns)
 * is the 128 bytes qs + 128s: byte 32k + 4r + i holds code 32s + 4k + i of
 * row r in its low nibble and code 32s + 16 + 4k + i in its high one (k, i
 * 0..3), so a 32-byte load gives two code vectors. Bits 0-5 of sc[8s + r]
 * are row r's scale of sub-block s. Min entry e = 16k + 2r + h is row r's
 * min of sub-block 2k + h (so that 16 bytes widen to the int16 pairs of two
 * sub-blocks in the rows' lanes): its bits 0-3 in nibble e / 32 of m[e %
 * 32], bits 4-5 in bits 6-7 of sc[e]. value = d[r] * scale * code - dmin[r]
 * * min. */
typedef struct rz_block_q4_k_r8 {
    uint8_t qs[1024];
    uint8_t sc[64];
    uint8_t m[32];
    rz_fp16 d[RZ_Q4_K_R8_ROWS];
    rz_fp16 dmin[RZ_Q4_K_R8_ROWS];
} rz_block_q4_k_r8;

_Static_assert(sizeof(rz_block_q4_k_r8) == RZ_Q4_K_R8_ROWS * sizeof(rz_block_q4_K),
               "q4_k_r8 block: eight q4_K blocks");

/* Code (0..15) of element e of row r. */
static inline unsigned rz_q4_k_r8_code(const rz_block_q4_k_r8 *b, int r, int e) {
    const unsigned q = b->qs[128 * (e / 32) + 32 * (e % 16 / 4) + 4 * r + e % 4];
    return e % 32 < 16 ? q & 15u : q >> 4;
}

static inline unsigned rz_q4_k_r8_scale(const rz_block_q4_k_r8 *b, int r, int s) {
    return b->sc[8 * s + r] & 63u;
}

static inline unsigned rz_q4_k_r8_min(const rz_block_q4_k_r8 *b, int r, int s) {
    const int e = 16 * (s / 2) + 2 * r + s % 2;
    return ((b->m[e % 32] >> (4 * (e / 32))) & 15u) | (unsigned)(b->sc[e] >> 6) << 4;
}

/* Q4_K rows -> Q4_K_R8 groups (nrows a multiple of 8, n a multiple of 256):
 * lossless, and of the same size. */
void rz_repack_q4_k_r8(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows);
/* The eight rows of one group as floats (row r at dst + r * n): bit-exact
 * with rz_dequantize_row_q4_K on the stored rows. Rows of an interleaved
 * layout have no decoder of their own (the type's to_float). */
void rz_dequantize_q4_k_r8(const void *restrict src, float *restrict dst, int64_t n);

/* rz_gemm_tile_fn (tensor/isa/gemm.h) over one group (nr == 8): the scalar
 * reference sums as rz_vec_dot_q4_K_q8_K does, and the AVX2 tile (up to
 * RZ_Q4_K_R8_AVX2_TOKENS tokens) gives the same floats. */
void rz_gemm_tile_q4_k_r8_q8_K(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                               uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_q4_k_r8_q8_K_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride);

#endif
