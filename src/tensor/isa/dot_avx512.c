/* AVX-512 (F/BW/VL/DQ + VNNI + BF16) kernels. Tails use masked loads, so
 * there is no scalar remainder loop. */
#include <immintrin.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/dot.h"
#include "tensor/quants.h"

void rz_vec_dot_f32_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const float *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(),
           a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), a3);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a0);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* Whole 64-value steps on ymm, eight accumulators: with zmm conversions and
 * multiply-adds the row streamed 2-3 % slower here (bench_dot, rows of 1536
 * to 2560), as loops dense in 512-bit arithmetic do on this machine. */
/* 64 values of x against y (F16_ACT: floats) into eight accumulators. */
static inline void f16_step(__m256 a[8], const rz_fp16 *x, const float *y) {
    prefetch_bytes(x, PREFETCH_BYTES, 64 * sizeof(rz_fp16));
    for (int k = 0; k < 8; k++)
        a[k] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + 8 * k))),
                               _mm256_loadu_ps(y + 8 * k), a[k]);
}

static inline float f16_finish(__m256 a[8], int64_t i, int64_t n, const rz_fp16 *x, const float *y) {
    __m512 tail = _mm512_setzero_ps();
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 xv = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i));
        const __m512 yv = _mm512_maskz_loadu_ps(m, y + i);
        tail = _mm512_fmadd_ps(xv, yv, tail);
    }
    for (int k = 0; k < 4; k++)
        a[k] = _mm256_add_ps(a[k], a[k + 4]);
    const __m256 sum = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
    return _mm512_reduce_add_ps(_mm512_add_ps(tail, _mm512_castps256_ps512(sum)));
}

void rz_vec_dot_f16_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_fp16 *x = vx;
    const float *y = vy;
    __m256 a[8];
    for (int k = 0; k < 8; k++)
        a[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        f16_step(a, x + i, y + i);
    *s = f16_finish(a, i, n, x, y);
}

void rz_vec_dot2_f16_avx512(int64_t n, float *restrict s, const void *restrict vx0, const void *restrict vx1,
                            const void *restrict vy) {
    const rz_fp16 *x0 = vx0, *x1 = vx1;
    const float *y = vy;
    __m256 a[8], b[8];
    for (int k = 0; k < 8; k++)
        a[k] = b[k] = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        f16_step(a, x0 + i, y + i);
        f16_step(b, x1 + i, y + i);
    }
    s[0] = f16_finish(a, i, n, x0, y);
    s[1] = f16_finish(b, i, n, x1, y);
}

/* vdpbf16ps: bf16 products are exact in float, and are added in float like
 * the other paths (with denormals flushed, far below our tolerance). */
static inline __m512 dot_bf16x32(__m512 acc, __m512i x, __m512i y) {
    return _mm512_dpbf16_ps(acc, (__m512bh)x, (__m512bh)y);
}

/* Half the usual prefetch distance: this loop, the lightest of all (one
 * vdpbf16ps per 64 bytes), streamed rows of 2048 at 15.4-16.3 GB/s with it
 * against 13.9-14.6 at PREFETCH_BYTES, rows of 5632 as fast (bench_dot,
 * alternating builds), while every other kernel lost 3-10 % at 1 KB. */
enum { BF16_PREFETCH_BYTES = 1024 };

void rz_vec_dot_bf16_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_bf16 *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(),
           a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 128 <= n; i += 128) {
        prefetch_bytes(x + i, BF16_PREFETCH_BYTES, 128 * sizeof(rz_bf16));
        a0 = dot_bf16x32(a0, _mm512_loadu_si512(x + i), _mm512_loadu_si512(y + i));
        a1 = dot_bf16x32(a1, _mm512_loadu_si512(x + i + 32), _mm512_loadu_si512(y + i + 32));
        a2 = dot_bf16x32(a2, _mm512_loadu_si512(x + i + 64), _mm512_loadu_si512(y + i + 64));
        a3 = dot_bf16x32(a3, _mm512_loadu_si512(x + i + 96), _mm512_loadu_si512(y + i + 96));
    }
    for (; i < n; i += 32) {
        const __mmask32 m = n - i >= 32 ? (__mmask32)0xffffffffu : (__mmask32)((1u << (n - i)) - 1);
        a0 = dot_bf16x32(a0, _mm512_maskz_loadu_epi16(m, x + i), _mm512_maskz_loadu_epi16(m, y + i));
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* Quantized dots: the AVX2 loop of avx2_inl.h with 256-bit VNNI, one block
 * per register. Two blocks per 512-bit register measured slower here: the
 * inserts, mask ops and paired scales cost more than the wider multiply saves. */

/* Eight int32 partial sums of x*y: vpdpbusd wants x unsigned, so it gets |x|
 * and y takes x's sign. */
static inline __m256i dot_i8(__m256i x, __m256i y) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

/* Q4_0 codes q in [0, 15] in element order: sum (q - 8) y = sum q y - 8 sum y. */
static inline __m256i dot_q4(__m256i q, __m256i y) {
    const __m256i zero = _mm256_setzero_si256();
    return _mm256_sub_epi32(_mm256_dpbusd_epi32(zero, q, y),
                            _mm256_dpbusd_epi32(zero, _mm256_set1_epi8(8), y));
}

void rz_vec_dot_q8_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    const rz_block_q8_0 *x = vx, *y = vy;
    QUANT_DOT_BODY(load_q8, dot_i8);
}

void rz_vec_dot_q4_0_q8_0_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    const rz_block_q4_0 *x = vx;
    const rz_block_q8_0 *y = vy;
    QUANT_DOT_BODY(load_q4, dot_q4);
}

/* rz_f32_to_fp16 on 16 lanes: NaNs become its canonical 0x7e00 (see the AVX2
 * version). */
static inline __m256i to_fp16x16(__m512 v) {
    const __m512 quiet = _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32((int)0x80000000u)),
                        _mm512_set1_epi32(0x7fc00000)));
    v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), quiet);
    return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
}

void rz_f32_to_fp16_row_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    rz_fp16 *y = dst;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(y + i, m, to_fp16x16(_mm512_maskz_loadu_ps(m, src + i)));
    }
}

void rz_f32_to_f16_act_row_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    float *y = dst;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(to_fp16x16(_mm512_maskz_loadu_ps(m, src + i))));
    }
}

/* rz_f32_to_bf16 on 16 lanes, the bf16 bits in the low half of each lane:
 * integer rounding (vcvtneps2bf16 would flush denormals). */
static inline __m512i to_bf16x16(__m512 v) {
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i top = _mm512_srli_epi32(bits, 16);
    const __m512i bias =
        _mm512_add_epi32(_mm512_and_si512(top, _mm512_set1_epi32(1)), _mm512_set1_epi32(0x7fff));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    const __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, bias), 16);
    return _mm512_mask_or_epi32(r, nan, top, _mm512_set1_epi32(0x40));
}

void rz_f32_to_bf16_row_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    rz_bf16 *y = dst;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm256_mask_storeu_epi16(y + i, m,
                                 _mm512_cvtepi32_epi16(to_bf16x16(_mm512_maskz_loadu_ps(m, src + i))));
    }
}

void rz_f32_to_bf16_act_row_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    float *y = dst;
    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512i a = _mm512_slli_epi32(to_bf16x16(_mm512_loadu_ps(src + i)), 16);
        const __m512i b = _mm512_slli_epi32(to_bf16x16(_mm512_loadu_ps(src + i + 16)), 16);
        _mm512_storeu_si512(y + i, _mm512_permutex2var_epi32(a, even, b));
        _mm512_storeu_si512(y + i + 16, _mm512_permutex2var_epi32(a, odd, b));
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_epi32(y + i, m,
                                 _mm512_slli_epi32(to_bf16x16(_mm512_maskz_loadu_ps(m, src + i)), 16));
    }
}

void rz_quantize_row_q8_0_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q8_0 *y = dst;
    for (int64_t b = 0; b < n / RZ_QK8_0; b++) {
        const float *x = src + b * RZ_QK8_0;
        const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        /* max(|x|, amax) keeps amax when |x| is NaN, like the scalar compare;
         * the reduction's operands are NaN-free after that. */
        const __m512 m =
            _mm512_max_ps(_mm512_abs_ps(v1), _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps()));
        const float amax = _mm512_reduce_max_ps(m);
        const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        y[b].d = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
        const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
        const __m512 t0 = _mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(v0, id), hi), lo);
        const __m512 t1 = _mm512_max_ps(_mm512_min_ps(_mm512_mul_ps(v1, id), hi), lo);
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(t0)));
        _mm_storeu_si128((__m128i *)(y[b].qs + 16), _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(t1)));
    }
}
