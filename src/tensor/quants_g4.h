/* Grouped run-time layouts of Q4_0 and Q8_0 weights (Q4_0_G4, Q8_0_G16),
 * repacked once at load, and A8_G4 / A8_G16, the activation layouts their
 * kernels read (docs/layouts.md).
 *
 * Consecutive blocks of a row become one group whose codes are contiguous and
 * unsigned (what vpdpbusd multiplies) and whose scales follow them. The
 * activations are Q8_0 blocks (the same codes and scales as
 * rz_quantize_row_q8_0) rearranged to match the weights' order, plus what
 * the kernels would otherwise recompute for every weight row: the offset
 * correction of each lane and the scales as floats. None of these types ever
 * appears in a file. */
#ifndef RZ_TENSOR_QUANTS_G4_H
#define RZ_TENSOR_QUANTS_G4_H

#include <stdint.h>

#include "tensor/fp16.h"
#include "tensor/quants.h"

#define RZ_QK_G4 128 /* values per group: four Q4_0 blocks */

/* qs[16 * k + j] is byte j of Q4_0 block k of the group; d[k] its scale. */
typedef struct rz_block_q4_0_g4 {
    uint8_t qs[64];
    rz_fp16 d[4];
} rz_block_q4_0_g4;

/* lo[16 * k + j] = code j of Q8_0 block k, hi[16 * k + j] = code j + 16:
 * the activations of the low and the high nibbles of weight byte 16k + j.
 * corr[l] = -8 * (sum of the four lo and four hi codes of 32-bit lane l),
 * scale[l] = d of block l / 4 (as float). */
typedef struct rz_block_a8_g4 {
    int8_t lo[64];
    int8_t hi[64];
    int32_t corr[16];
    float scale[16];
} rz_block_a8_g4;

_Static_assert(sizeof(rz_block_q4_0_g4) == 72, "q4_0_g4 group: 4 q4_0 blocks");
_Static_assert(sizeof(rz_block_a8_g4) == 256, "a8_g4 group");

/* Q8_0_G16 takes a row's Q8_0 blocks sixteen at a time (the last group of a
 * row holds the m < 16 left over). A group of m blocks stores their codes +
 * 128 as eight chunks of 4m bytes, chunk v holding codes 4v..4v+3 of each
 * block in turn, then the m fp16 scales: 34m bytes, Q8_0's size, for any row
 * of whole blocks. A 32-bit lane of a 64-byte chunk thus carries one block
 * throughout, eight vpdpbusd leave each block's whole dot in its lane, and
 * the float work is one conversion and multiply-add per 16 blocks (a 4-block
 * layout needs one per 4 blocks: twice the instructions of a tile). */
#define RZ_G16_BLOCKS 16

/* A8_G16, its activations: per group of m blocks, the Q8_0 codes in the same
 * chunk order (signed), then int32 corr[m] = -128 * (sum of block k's codes)
 * and float scale[m] = block k's d: 40 bytes per block. */
enum { RZ_A8_G16_BLOCK_BYTES = 40 };

/* Q4_0 rows -> Q4_0_G4 rows (n a multiple of 128), byte for byte reversible. */
void rz_repack_q4_0_g4(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows);
void rz_dequantize_row_q4_0_g4(const void *restrict src, float *restrict dst, int64_t n);
/* Q8_0 rows -> Q8_0_G16 rows (any whole blocks), byte for byte reversible. */
void rz_repack_q8_0_g16(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows);
void rz_dequantize_row_q8_0_g16(const void *restrict src, float *restrict dst, int64_t n);

/* Activations: the Q8_0 codes of rz_quantize_row_q8_0, rearranged. */
void rz_quantize_row_a8_g4(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_a8_g4_avx2(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_a8_g4_avx512(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_a8_g16(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_a8_g16_avx2(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_a8_g16_avx512(const float *restrict src, void *restrict dst, int64_t n);

/* Scalar references: per block, (float)sumi * (d_x * d_y) summed in float in
 * block order, exactly as rz_vec_dot_q4_0_q8_0 / rz_vec_dot_q8_0_q8_0 on the
 * unpacked blocks. */
void rz_vec_dot_q4_0_g4_a8_g4(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q4_0_g4_a8_g4_avx2(int64_t n, float *restrict s, const void *restrict x,
                                   const void *restrict y);
void rz_vec_dot_q4_0_g4_a8_g4_avx512(int64_t n, float *restrict s, const void *restrict x,
                                     const void *restrict y);

void rz_vec_dot_q8_0_g16_a8_g16(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q8_0_g16_a8_g16_avx2(int64_t n, float *restrict s, const void *restrict x,
                                     const void *restrict y);
void rz_vec_dot_q8_0_g16_a8_g16_avx512(int64_t n, float *restrict s, const void *restrict x,
                                       const void *restrict y);

#endif
