/* I2_TL: a lookup-table run-time layout of I2_S ternary weights (T-MAC /
 * bitnet.cpp TL2 style, docs/layouts.md), and I8_TL, its activations: the
 * tables of partial sums the kernels look the weights up in.
 *
 * A row is cut into slots of three weights (the last slot padded with zero
 * weights). A slot's weights t0, t1, t2 in {-1, 0, 1} read as the balanced
 * ternary number m = 9 t0 + 3 t1 + t2 in -13..13: its magnitude is a 4-bit
 * index, its sign one bit (5 bits per slot, 1.67 bits per weight), and the
 * slot's product with activations q0, q1, q2 is sign(m) * T[|m|], where
 * T[e] = p0 q0 + p1 q1 + p2 q2 for the balanced ternary digits p of e; the
 * 14 table entries are shared by every row.
 *
 * Weights: rows interleave in groups of RZ_TL_ROWS. Slots come in quads
 * (4 slots, 12 weights: one table of 64 bytes per plane), quads in pairs
 * (24 weights), and a row group stores for every quad pair 320 bytes:
 *   nib[h][v][64]  (h: quad of the pair, v: half of the group, 32 rows):
 *                  byte b holds, low nibble, the index of row 32v + b/4 and
 *                  slot 4q + b%4 (q the quad), high nibble the same for row
 *                  32v + 16 + b/4;
 *   sign[h][v][s]  64-bit words, bit b the sign of the index in nibble s of
 *                  byte b of nib[h][v].
 * Rows of n weights are allotted RZ_TL_BLOCK_BYTES per 256 (n / 256 blocks),
 * a little more than the 320 * ceil(n / 24) / RZ_TL_ROWS bytes they use, so
 * that row group g begins at row 64 g of a matrix of whole blocks.
 *
 * Activations, per token: a 64-byte header (the I8_S scale a, as float),
 * then per quad 128 bytes: the entries T of its four slots (|T| <= 384) biased
 * to U = T + 384 in 0..768, in two unsigned byte planes, lo[64] = U & 255 then
 * hi[64] = 4 (U >> 8) (byte 16 s + e: slot s, entry e < 14; T = 0 above), so
 * that U = lo + 64 hi and s U is what VNNI computes exactly from the unsigned
 * table bytes and the signed weight signs s = +-1 and +-64; a row then
 * subtracts 384 times its sum of signs. The codes q are those of I8_S
 * (rz_quantize_row_i8_s), so integer sums equal I2_S's. */
#ifndef RZ_TENSOR_QUANTS_TL_H
#define RZ_TENSOR_QUANTS_TL_H

#include <stdint.h>

enum {
    RZ_TL_ROWS = 64,         /* rows per interleaved group */
    RZ_TL_PAIR_BYTES = 320,  /* weights of one quad pair of a row group */
    RZ_TL_BLOCK_BYTES = 55,  /* bytes allotted per 256 weights of a row */
    RZ_TL_QUAD_TABLES = 128, /* activation table bytes per quad */
    RZ_TL_ACT_HEADER = 64,   /* activation row header (the scale a) */
    RZ_TL_ACT_BLOCK = 2880,  /* activation bytes allotted per 256 values */
    RZ_TL_TOKENS = 4,        /* tokens of the AVX-512 tile */
    RZ_TL_TILE_ROWS = 128,   /* rows of the AVX-512 tile: two row groups */
};

/* Quad pairs of a row of n weights. */
static inline int64_t rz_tl_pairs(int64_t n) { return (n + 23) / 24; }

/* Repacks an I2_S matrix of nrows rows of n weights (nrows a multiple of
 * RZ_TL_ROWS, n of 256) into I2_TL (rz_repack_fn); the per-tensor scale
 * stays with the tensor (rz_tensor.scale). */
void rz_repack_i2_s_tl(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows);

/* The ternary weights t[r * n + c] of an I2_TL matrix (tests, docs). */
void rz_unpack_i2_tl(const void *restrict src, int8_t *restrict t, int64_t n, int64_t nrows);

/* Activations to I8_TL (rz_from_float_fn): I8_S codes, then the tables. */
void rz_quantize_row_i8_tl(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_i8_tl_avx512(const float *restrict src, void *restrict dst, int64_t n);

/* rz_gemm_tile_fn of one row group (nr == RZ_TL_ROWS) against nt tokens:
 * sum t * q exactly, divided by a, as I2_S's vec_dot (unscaled). */
void rz_gemm_tile_i2_tl_i8_tl(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                              uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_i2_tl_i8_tl_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride);

#endif
