/* AVX2 + FMA + F16C kernels. */
#include <immintrin.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/dot.h"
#include "tensor/quants.h"

void rz_vec_dot_f32_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const float *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

static inline __m256 load_f16x8(const rz_fp16 *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

/* y is F16_ACT (floats): one conversion per product instead of two, and the
 * row prefetched (TinyLlama F16 tg32 at one thread, RZ_ISA=avx2: 6-8 tok/s
 * before, 8-10 with both, 6-7 without the prefetch). */
void rz_vec_dot_f16_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_fp16 *x = vx;
    const float *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        prefetch_bytes(x + i, PREFETCH_BYTES, 32 * sizeof(rz_fp16));
        a0 = _mm256_fmadd_ps(load_f16x8(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(load_f16x8(x + i), _mm256_loadu_ps(y + i), a0);
    float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += rz_fp16_to_f32(x[i]) * y[i];
    *s = sum;
}

/* 16 bf16 become two float vectors by moving each into the top half of a
 * 32-bit lane; the element order is permuted, identically for x and y. */
static inline __m256 bf16_lo(__m256i v) {
    return _mm256_castsi256_ps(_mm256_unpacklo_epi16(_mm256_setzero_si256(), v));
}
static inline __m256 bf16_hi(__m256i v) {
    return _mm256_castsi256_ps(_mm256_unpackhi_epi16(_mm256_setzero_si256(), v));
}

void rz_vec_dot_bf16_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_bf16 *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),
           a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y + i));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + i + 16));
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y + i + 16));
        a0 = _mm256_fmadd_ps(bf16_lo(x0), bf16_lo(y0), a0);
        a1 = _mm256_fmadd_ps(bf16_hi(x0), bf16_hi(y0), a1);
        a2 = _mm256_fmadd_ps(bf16_lo(x1), bf16_lo(y1), a2);
        a3 = _mm256_fmadd_ps(bf16_hi(x1), bf16_hi(y1), a3);
    }
    for (; i + 16 <= n; i += 16) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y + i));
        a0 = _mm256_fmadd_ps(bf16_lo(x0), bf16_lo(y0), a0);
        a1 = _mm256_fmadd_ps(bf16_hi(x0), bf16_hi(y0), a1);
    }
    float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++)
        sum += rz_bf16_to_f32(x[i]) * rz_bf16_to_f32(y[i]);
    *s = sum;
}

/* Eight int32 partial sums of x*y over 32 int8 pairs. maddubs wants one
 * unsigned operand: |x| and y carrying x's sign (pairs stay below 2^15). */
static inline __m256i dot_i8(__m256i x, __m256i y) {
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* Q4_0 codes q in [0, 15]: sum (q - 8) y = sum q y - 8 sum y, both pair sums
 * (and their difference) well inside int16. */
static inline __m256i dot_q4(__m256i q, __m256i y) {
    const __m256i p16 =
        _mm256_sub_epi16(_mm256_maddubs_epi16(q, y), _mm256_maddubs_epi16(_mm256_set1_epi8(8), y));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

void rz_vec_dot_q8_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict vx,
                               const void *restrict vy) {
    const rz_block_q8_0 *x = vx, *y = vy;
    QUANT_DOT_BODY(load_q8, dot_i8);
}

void rz_vec_dot_q4_0_q8_0_avx2(int64_t n, float *restrict s, const void *restrict vx,
                               const void *restrict vy) {
    const rz_block_q4_0 *x = vx;
    const rz_block_q8_0 *y = vy;
    QUANT_DOT_BODY(load_q4, dot_q4);
}

/* F16C keeps a NaN's payload; rz_f32_to_fp16 writes the canonical quiet NaN
 * 0x7e00 (with the sign), which is what F16C makes of +-0x7fc00000. */
static inline __m256 canonical_nan(__m256 v) {
    const __m256 quiet = _mm256_or_ps(_mm256_and_ps(v, _mm256_set1_ps(-0.0f)),
                                      _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000)));
    return _mm256_blendv_ps(v, quiet, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

void rz_f32_to_fp16_row_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    rz_fp16 *y = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(canonical_nan(_mm256_loadu_ps(src + i)), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        y[i] = rz_f32_to_fp16(src[i]);
}

/* F16_ACT: each value rounded to fp16 as rz_f32_to_fp16 does, widened back. */
void rz_f32_to_f16_act_row_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    float *y = dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm256_cvtps_ph(canonical_nan(_mm256_loadu_ps(src + i)),
                                                                _MM_FROUND_TO_NEAREST_INT)));
    for (; i < n; i++)
        y[i] = rz_fp16_to_f32(rz_f32_to_fp16(src[i]));
}

/* rz_f32_to_bf16 on 8 lanes: round to nearest even, NaN kept quiet. The
 * results (< 2^16) sit in the low half of each 32-bit lane. */
static inline __m256i f32_to_bf16x8(__m256 v) {
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_epi8(rounded, quiet, nan);
}

void rz_f32_to_bf16_row_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    rz_bf16 *y = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i lo = f32_to_bf16x8(_mm256_loadu_ps(src + i));
        const __m256i hi = f32_to_bf16x8(_mm256_loadu_ps(src + i + 8));
        /* packus interleaves 128-bit lanes; the permute restores order. */
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(y + i), packed);
    }
    for (; i < n; i++)
        y[i] = rz_f32_to_bf16(src[i]);
}

/* BF16_ACT: each 32-value block as the floats of its 16 even-indexed bf16
 * values, then its 16 odd ones; the last n % 32 values in order. */
void rz_f32_to_bf16_act_row_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    float *y = dst;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256 v[4];
        for (int k = 0; k < 4; k++)
            v[k] =
                _mm256_castsi256_ps(_mm256_slli_epi32(f32_to_bf16x8(_mm256_loadu_ps(src + i + 8 * k)), 16));
        /* shuffle_ps picks within 128-bit lanes; the permute restores order */
        for (int h = 0; h < 2; h++) {
            const __m256 even = _mm256_shuffle_ps(v[2 * h], v[2 * h + 1], _MM_SHUFFLE(2, 0, 2, 0));
            const __m256 odd = _mm256_shuffle_ps(v[2 * h], v[2 * h + 1], _MM_SHUFFLE(3, 1, 3, 1));
            _mm256_storeu_ps(y + i + 8 * h, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even),
                                                                                   _MM_SHUFFLE(3, 1, 2, 0))));
            _mm256_storeu_ps(y + i + 16 + 8 * h, _mm256_castpd_ps(_mm256_permute4x64_pd(
                                                     _mm256_castps_pd(odd), _MM_SHUFFLE(3, 1, 2, 0))));
        }
    }
    for (; i < n; i++)
        y[i] = rz_bf16_to_f32(rz_f32_to_bf16(src[i]));
}

void rz_quantize_row_q8_0_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q8_0 *y = dst;
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    for (int64_t b = 0; b < n / RZ_QK8_0; b++) {
        const float *x = src + b * RZ_QK8_0;
        __m256 v[4];
        for (int k = 0; k < 4; k++)
            v[k] = _mm256_loadu_ps(x + 8 * k);
        /* max(amax, |x|) keeps amax when |x| is NaN, like the scalar compare. */
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 4; k++)
            m = _mm256_max_ps(_mm256_and_ps(v[k], abs_mask), m);
        const float amax = hmax8(m);
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        y[b].d = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
        __m256i q[4];
        for (int k = 0; k < 4; k++) {
            __m256 t = _mm256_mul_ps(v[k], id);
            t = _mm256_min_ps(t, _mm256_set1_ps(127.0f));
            t = _mm256_max_ps(t, _mm256_set1_ps(-127.0f));
            q[k] = _mm256_cvtps_epi32(t);
        }
        const __m256i q16 =
            _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
        const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        _mm256_storeu_si256((__m256i *)y[b].qs, _mm256_permutevar8x32_epi32(q16, order));
    }
}
