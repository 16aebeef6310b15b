/* Per-ISA versions of the recurrences (kernels/recurrent.h), entered only
 * after run-time detection of their ISA. */
#ifndef RZ_KERNELS_ISA_RECURRENT_H
#define RZ_KERNELS_ISA_RECURRENT_H

#include <stdint.h>

void rz_wkv6_avx2(float *y, float *state, const float *r, const float *k, const float *v, const float *w,
                  const float *u, int64_t n_heads, int64_t N);
void rz_wkv7_avx2(float *y, float *state, const float *r, const float *w, const float *k, const float *v,
                  const float *a, const float *b, int64_t n_heads, int64_t N);
void rz_ssm_conv_avx2(float *y, int64_t y_stride, float *window, const float *x, int64_t x_stride,
                      int64_t n_tokens, const float *w, int64_t n_ch, int64_t k);
void rz_ssm_scan1_avx2(float *y, float *state, const float *x, const float *dt, const float *A,
                       const float *B, const float *C, int64_t n_inner, int64_t d_state);
void rz_ssm_scan2_avx2(float *y, float *state, const float *x, const float *dt, const float *A,
                       const float *B, const float *C, int64_t h0, int64_t h1, int64_t n_heads,
                       int64_t head_dim, int64_t d_state, int64_t n_group);

void rz_wkv6_avx512(float *y, float *state, const float *r, const float *k, const float *v, const float *w,
                    const float *u, int64_t n_heads, int64_t N);
void rz_wkv7_avx512(float *y, float *state, const float *r, const float *w, const float *k, const float *v,
                    const float *a, const float *b, int64_t n_heads, int64_t N);
void rz_ssm_conv_avx512(float *y, int64_t y_stride, float *window, const float *x, int64_t x_stride,
                        int64_t n_tokens, const float *w, int64_t n_ch, int64_t k);
void rz_ssm_scan1_avx512(float *y, float *state, const float *x, const float *dt, const float *A,
                         const float *B, const float *C, int64_t n_inner, int64_t d_state);
void rz_ssm_scan2_avx512(float *y, float *state, const float *x, const float *dt, const float *A,
                         const float *B, const float *C, int64_t h0, int64_t h1, int64_t n_heads,
                         int64_t head_dim, int64_t d_state, int64_t n_group);

#endif
