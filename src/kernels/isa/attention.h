/* Per-ISA versions of the attention value kernels (kernels/attention.h);
 * entered only after run-time detection of their ISA. Same semantics as the
 * scalar ones, up to float rounding (they fuse the multiply-add). */
#ifndef RZ_KERNELS_ISA_ATTENTION_H
#define RZ_KERNELS_ISA_ATTENTION_H

#include <stdint.h>

void rz_attn_axpy_f32_avx2(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_f16_avx2(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_bf16_avx2(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_q8_0_avx2(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_q4_0_avx2(int64_t n, float p, const void *restrict v, float *restrict out);

void rz_attn_axpy_f32_avx512(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_f16_avx512(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_bf16_avx512(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_q8_0_avx512(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_q4_0_avx512(int64_t n, float p, const void *restrict v, float *restrict out);

/* Decoding with F32 keys and values (kernels/attention.h, rz_attn_kernels):
 * head_dim a multiple of 16. */
void rz_attn_scores_f32_avx512(int64_t head_dim, const float *q, const char *k, uint64_t k_stride,
                               uint32_t n_keys, float scale, float *scores);
void rz_attn_sum_f32_avx512(int64_t head_dim, const float *p, const char *v, uint64_t v_stride,
                            uint32_t n_keys, float *out);

void rz_attn_gemm_avx2(int m, int n, int k, const float *a, int64_t lda, const float *b, int64_t ldb,
                       float *c, int64_t ldc);
void rz_attn_gemm_avx512(int m, int n, int k, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float *c, int64_t ldc);

#endif
