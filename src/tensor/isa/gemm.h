/* Register-tiled products of up to RZ_GEMM_TILE weight rows with up to
 * RZ_GEMM_TILE activation rows: each weight block is decoded once per tile
 * instead of once per token, which is what prompt processing is bound by. */
#ifndef RZ_TENSOR_ISA_GEMM_H
#define RZ_TENSOR_ISA_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "ryzanstein.h"

/* The tile shape most kernels use: RZ_GEMM_TILE weight rows by
 * RZ_GEMM_TILE_TOKENS tokens. No kernel's tile exceeds the MAX bounds. */
enum { RZ_GEMM_TILE = 4, RZ_GEMM_TILE_TOKENS = 3, RZ_GEMM_MAX_ROWS = 16, RZ_GEMM_MAX_TOKENS = 16 };

/* y[t * y_stride + r] = dot(row r of w, row t of x) for r < nr <= the
 * kernel's rows, t < nt <= its tokens; w rows are w_stride bytes apart, x rows
 * (in the kernel's activation type) x_stride bytes apart. */
typedef void (*rz_gemm_tile_fn)(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                uint64_t x_stride, int nt, float *y, int64_t y_stride);

/* A tile kernel, the largest tile it takes, and the type of the activation
 * rows it reads: act_type where the tile wants another layout than one-row
 * vec_dot (GEMV) does, else (0) the weight type's vec_dot_type. An
 * interleaved layout stores its rows in groups of `rows` (which may exceed
 * RZ_GEMM_MAX_ROWS): rows have no vec_dot, the tile serves every token count,
 * one included, and each call covers one whole group (nr == rows, the
 * tensor's rows a multiple of it). */
typedef struct rz_gemm_kernel {
    rz_gemm_tile_fn tile;
    int rows, tokens;
    rz_type act_type;
    bool interleaved;
} rz_gemm_kernel;

#define RZ_GEMM_DEFAULT_SHAPE(fn)                                                                            \
    { .tile = (fn), .rows = RZ_GEMM_TILE, .tokens = RZ_GEMM_TILE_TOKENS }

void rz_gemm_tile_q4_0_q8_0_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_iq4_nl_q8_0_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_mxfp4_q8_0_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_q8_0_q8_0_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_q8_0_g16_a8_g16_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                         uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_q4_0_g4_a8_g4_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                       uint64_t x_stride, int nt, float *y, int64_t y_stride);
/* AVX2 tile shapes of the grouped layouts (g4_avx2.c): sixteen ymm registers. */
enum { RZ_G4_AVX2_ROWS = 2, RZ_G4_AVX2_TOKENS = 4, RZ_G16_AVX2_ROWS = 2, RZ_G16_AVX2_TOKENS = 4 };

void rz_gemm_tile_q8_0_g16_a8_g16_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                       uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_q4_0_g4_a8_g4_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride);

/* AVX2 tokens of the Q4_0_R8 tile (q4_0_r8_avx2.c), whose rows are its group of 8. */
enum { RZ_R8_AVX2_TOKENS = 4 };

/* AVX2 tokens of the Q3_K / Q6_K tiles (kquants_avx2.c), a row at a time. */
enum { RZ_SC16_AVX2_TOKENS = 4 };

/* AVX2 tile shape of Q4_K_G (kg_avx2.c). */
enum { RZ_KG_AVX2_ROWS = 2, RZ_KG_AVX2_TOKENS = 4 };

/* AVX2 float tiles (gemm_avx2.c). */
enum { RZ_FLOAT_AVX2_ROWS = 3, RZ_FLOAT_AVX2_TOKENS = 4 };

void rz_gemm_tile_f16_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                           uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_bf16_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                            uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_f16_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                             uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_bf16_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                              uint64_t x_stride, int nt, float *y, int64_t y_stride);

#endif
