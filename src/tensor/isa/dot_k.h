/* Per-ISA dot kernels of Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4 and the K-quants,
 * the Q3_K, Q4_K, Q5_K and Q6_K GEMM tiles and AVX2's IQ4_NL and MXFP4 tiles
 * (bodies in kquants_inl.h). Semantics: the scalar rz_vec_dot_* of tensor/quants_k.h, with the same exact
 * integer parts and float sums in another order; the tiles are rz_gemm_tile_fn (tensor/isa/gemm.h). */
#ifndef RZ_TENSOR_ISA_DOT_K_H
#define RZ_TENSOR_ISA_DOT_K_H

#include <stdint.h>

#define RZ_DECLARE_KQ_DOTS(SUFFIX)                                                                           \
    void rz_vec_dot_q4_1_q8_1_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                 \
                                       const void *restrict y);                                              \
    void rz_vec_dot_q5_0_q8_0_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                 \
                                       const void *restrict y);                                              \
    void rz_vec_dot_q5_1_q8_1_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                 \
                                       const void *restrict y);                                              \
    void rz_vec_dot_iq4_nl_q8_0_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,               \
                                         const void *restrict y);                                            \
    void rz_vec_dot_mxfp4_q8_0_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                \
                                        const void *restrict y);                                             \
    void rz_vec_dot_q2_K_q8_K_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                 \
                                       const void *restrict y);                                              \
    void rz_vec_dot_q3_K_q8_K_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                 \
                                       const void *restrict y);                                              \
    void rz_vec_dot_q4_K_q8_K_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                 \
                                       const void *restrict y);                                              \
    void rz_vec_dot_q5_K_q8_K_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                 \
                                       const void *restrict y);                                              \
    void rz_vec_dot_q6_K_q8_K_##SUFFIX(int64_t n, float *restrict s, const void *restrict x,                 \
                                       const void *restrict y);                                              \
    void rz_gemm_tile_q3_K_q8_K_##SUFFIX(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x, \
                                         uint64_t x_stride, int nt, float *y, int64_t y_stride);             \
    void rz_gemm_tile_q4_K_q8_K_##SUFFIX(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x, \
                                         uint64_t x_stride, int nt, float *y, int64_t y_stride);             \
    void rz_gemm_tile_q5_K_q8_K_##SUFFIX(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x, \
                                         uint64_t x_stride, int nt, float *y, int64_t y_stride);             \
    void rz_gemm_tile_q6_K_q8_K_##SUFFIX(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x, \
                                         uint64_t x_stride, int nt, float *y, int64_t y_stride)

RZ_DECLARE_KQ_DOTS(avx2);
RZ_DECLARE_KQ_DOTS(avx512);

void rz_gemm_tile_iq4_nl_q8_0_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride);
void rz_gemm_tile_mxfp4_q8_0_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                  uint64_t x_stride, int nt, float *y, int64_t y_stride);

#endif
