/* Per-ISA kernels behind the type-traits table. Each is only entered after
 * run-time detection of its ISA; semantics are those of the scalar versions
 * in tensor/quants.h (float results may differ in summation order, the
 * converters write the same bytes). */
#ifndef RZ_TENSOR_ISA_DOT_H
#define RZ_TENSOR_ISA_DOT_H

#include <stdint.h>

void rz_vec_dot_f32_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_f16_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_bf16_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q8_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q4_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_f32_to_fp16_row_avx2(const float *restrict src, void *restrict dst, int64_t n);
void rz_f32_to_bf16_row_avx2(const float *restrict src, void *restrict dst, int64_t n);
void rz_f32_to_f16_act_row_avx2(const float *restrict src, void *restrict dst, int64_t n);
void rz_f32_to_bf16_act_row_avx2(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q8_0_avx2(const float *restrict src, void *restrict dst, int64_t n);

void rz_vec_dot_f32_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_f16_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot2_f16_avx512(int64_t n, float *restrict s, const void *restrict x0, const void *restrict x1,
                            const void *restrict y);
void rz_vec_dot_bf16_avx512(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
void rz_vec_dot_q8_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict x,
                                 const void *restrict y);
void rz_vec_dot_q4_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict x,
                                 const void *restrict y);
void rz_f32_to_fp16_row_avx512(const float *restrict src, void *restrict dst, int64_t n);
void rz_f32_to_bf16_row_avx512(const float *restrict src, void *restrict dst, int64_t n);
void rz_f32_to_f16_act_row_avx512(const float *restrict src, void *restrict dst, int64_t n);
void rz_f32_to_bf16_act_row_avx512(const float *restrict src, void *restrict dst, int64_t n);
void rz_quantize_row_q8_0_avx512(const float *restrict src, void *restrict dst, int64_t n);

#endif
