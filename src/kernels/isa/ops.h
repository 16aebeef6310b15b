/* Per-ISA versions of row operators (kernels/ops.h), entered only after
 * run-time detection of their ISA; same results as the scalar ones up to
 * float rounding. */
#ifndef RZ_KERNELS_ISA_OPS_H
#define RZ_KERNELS_ISA_OPS_H

#include <stdint.h>

void rz_rms_norm_avx2(float *out, const float *x, const float *weight, int64_t n, float eps);
float rz_exp_sum_avx2(float *x, int64_t n, float shift);
void rz_softmax_avx2(float *x, int64_t n);
void rz_swiglu_avx2(float *gate, const float *up, int64_t n);
void rz_sigmoid_avx2(float *x, int64_t n);
void rz_silu_avx2(float *x, int64_t n);
void rz_relu_sqr_glu_avx2(float *gate, const float *up, int64_t n);

void rz_rms_norm_avx512(float *out, const float *x, const float *weight, int64_t n, float eps);
float rz_exp_sum_avx512(float *x, int64_t n, float shift);
void rz_softmax_avx512(float *x, int64_t n);
void rz_swiglu_avx512(float *gate, const float *up, int64_t n);
void rz_sigmoid_avx512(float *x, int64_t n);
void rz_silu_avx512(float *x, int64_t n);
void rz_relu_sqr_glu_avx512(float *gate, const float *up, int64_t n);

#endif
