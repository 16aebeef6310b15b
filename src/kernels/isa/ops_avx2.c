/* AVX2 row operators. On AVX2 the scalar expf of the SiLU and of attention's
 * softmax cost about a tenth of prompt processing (glibc's expf, one value
 * at a time, for every FFN activation and every score). */
#include <immintrin.h>
#include <math.h>

#include "kernels/isa/exp_avx2_inl.h"
#include "kernels/isa/ops.h"
#include "tensor/isa/avx2_inl.h"

/* Sum of squares in double like the scalar path (float products widened). */
void rz_rms_norm_avx2(float *out, const float *x, const float *weight, int64_t n, float eps) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256 v = _mm256_maskload_ps(x + i, lanes_below(n - i));
        const __m256 sq = _mm256_mul_ps(v, v);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
    }
    const __m256d s = _mm256_add_pd(s0, s1);
    __m128d h = _mm_add_pd(_mm256_castpd256_pd128(s), _mm256_extractf128_pd(s, 1));
    h = _mm_add_sd(h, _mm_unpackhi_pd(h, h));
    const float mean = (float)(_mm_cvtsd_f64(h) / (double)n);
    const __m256 scale = _mm256_set1_ps(1.0f / sqrtf(mean + eps));
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = lanes_below(n - i);
        const __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), scale);
        _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(v, _mm256_maskload_ps(weight + i, m)));
    }
}

float rz_exp_sum_avx2(float *x, int64_t n, float shift) {
    const __m256 sh = _mm256_set1_ps(shift);
    __m256 sum = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = lanes_below(n - i);
        const __m256 e =
            _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), sh)), _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, e);
        sum = _mm256_add_ps(sum, e);
    }
    return hsum8(sum);
}

void rz_softmax_avx2(float *x, int64_t n) {
    __m256 vmax = _mm256_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = lanes_below(n - i);
        vmax =
            _mm256_max_ps(vmax, _mm256_blendv_ps(vmax, _mm256_maskload_ps(x + i, m), _mm256_castsi256_ps(m)));
    }
    const __m256 inv = _mm256_set1_ps(1.0f / rz_exp_sum_avx2(x, n, hmax8(vmax)));
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = lanes_below(n - i);
        _mm256_maskstore_ps(x + i, m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), inv));
    }
}

void rz_swiglu_avx2(float *gate, const float *up, int64_t n) {
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = lanes_below(n - i);
        const __m256 g = _mm256_maskload_ps(gate + i, m);
        const __m256 silu =
            _mm256_div_ps(g, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), g))));
        _mm256_maskstore_ps(gate + i, m, _mm256_mul_ps(silu, _mm256_maskload_ps(up + i, m)));
    }
}

/* 1 + e^-x, the denominator of the sigmoid and the SiLU. */
static inline __m256 one_plus_exp_neg(__m256 x) {
    return _mm256_add_ps(_mm256_set1_ps(1.0f), exp256(_mm256_sub_ps(_mm256_setzero_ps(), x)));
}

void rz_sigmoid_avx2(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = lanes_below(n - i);
        _mm256_maskstore_ps(
            x + i, m, _mm256_div_ps(_mm256_set1_ps(1.0f), one_plus_exp_neg(_mm256_maskload_ps(x + i, m))));
    }
}

void rz_silu_avx2(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = lanes_below(n - i);
        const __m256 v = _mm256_maskload_ps(x + i, m);
        _mm256_maskstore_ps(x + i, m, _mm256_div_ps(v, one_plus_exp_neg(v)));
    }
}

/* max(g, 0) gives 0 for NaN and -0 as the scalar comparison does, and the
 * products are in the same order: the same bits. */
void rz_relu_sqr_glu_avx2(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i += 8) {
        const __m256i m = lanes_below(n - i);
        const __m256 r = _mm256_max_ps(_mm256_maskload_ps(gate + i, m), _mm256_setzero_ps());
        _mm256_maskstore_ps(gate + i, m, _mm256_mul_ps(_mm256_mul_ps(r, r), _mm256_maskload_ps(up + i, m)));
    }
}
