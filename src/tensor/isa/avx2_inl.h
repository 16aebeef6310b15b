/* Inline AVX2 pieces of the quantized dot products, shared by dot_avx2.c and
 * dot_avx512.c (which is compiled with AVX2 enabled as well). Include it only
 * from files compiled with the AVX2 flags. */
#ifndef RZ_TENSOR_ISA_AVX2_INL_H
#define RZ_TENSOR_ISA_AVX2_INL_H

#include <immintrin.h>
#include <stdint.h>

#include "tensor/quants.h"

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* All-ones in the int32 lanes below k (every lane for k >= 8, none for
 * k <= 0): the mask of a tail's masked loads and stores. */
static inline __m256i lanes_below(int64_t k) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k >= 8   ? 8
                                                : k <= 0 ? 0
                                                         : (int)k),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* d_x * d_y of one block, in every lane. */
static inline __m256 scale(rz_fp16 a, rz_fp16 b) { return _mm256_set1_ps(_cvtsh_ss(a) * _cvtsh_ss(b)); }

/* d_x * d_y of blocks b..b+3 in lanes 0..3: one conversion of all eight
 * halves instead of eight scalar ones (measured 12-15% faster in cache). */
#define SCALES4(x, y, b)                                                                                     \
    scales4(_mm_setr_epi16((short)x[b].d, (short)x[b + 1].d, (short)x[b + 2].d, (short)x[b + 3].d,           \
                           (short)y[b].d, (short)y[b + 1].d, (short)y[b + 2].d, (short)y[b + 3].d))
static inline __m256 scales4(__m128i halves) {
    const __m256 f = _mm256_cvtph_ps(halves);
    return _mm256_castps128_ps256(_mm_mul_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1)));
}
static inline __m256 lane(__m256 v, int k) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(k)); }

static inline __m256i load_q8(const rz_block_q8_0 *b) { return _mm256_loadu_si256((const __m256i *)b->qs); }

/* The 32 Q4_0 codes in [0, 15], in element order (low nibbles, then high
 * nibbles): the 16 bytes go to both 128-bit lanes (a load, no shuffle) and
 * the upper lane is shifted to expose the high nibbles. */
static inline __m256i load_q4(const rz_block_q4_0 *b) {
    const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->qs));
    return _mm256_and_si256(_mm256_srlv_epi32(raw, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                            _mm256_set1_epi8(15));
}

/* rz_quantize_row_q8_K's steps on 256 values. iscale: -127 / the first value
 * of largest magnitude, 0 when all are 0 (NaNs never win the maximum: |x|
 * goes first). */
static inline float q8_K_iscale(const float *x) {
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 amax_v = _mm256_setzero_ps();
    for (int i = 0; i < 256; i += 8)
        amax_v = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), amax_v);
    const float amax = hmax8(amax_v);
    if (amax == 0.0f) return 0.0f;
    for (int i = 0;; i += 8) {
        const int hit = _mm256_movemask_ps(
            _mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask), _mm256_set1_ps(amax), _CMP_EQ_OQ));
        if (hit) return -127.0f / x[i + __builtin_ctz((unsigned)hit)];
    }
}

/* The codes of 32 values: q[v] those of values 8v.. as int32, returned as
 * bytes in order (clamped, then rounded to nearest even as lrintf). */
static inline __m256i q8_K_codes32(const float *x, float iscale, __m256i q[4]) {
    for (int v = 0; v < 4; v++) {
        __m256 f = _mm256_mul_ps(_mm256_loadu_ps(x + 8 * v), _mm256_set1_ps(iscale));
        f = _mm256_max_ps(_mm256_min_ps(f, _mm256_set1_ps(127.0f)), _mm256_set1_ps(-128.0f));
        q[v] = _mm256_cvtps_epi32(f);
    }
    return _mm256_permutevar8x32_epi32(
        _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3])),
        _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Software prefetch of the weights, this many bytes ahead: with only the
 * hardware prefetcher these loops streamed Q8_0 1.3x and Q4_0 2-2.5x slower
 * from DRAM (the float loops gained too little to bother). */
#define PREFETCH_BYTES 2048

/* Prefetches every cache line of the `size` bytes `ahead` bytes past p. */
static inline void prefetch_bytes(const void *p, uint64_t ahead, size_t size) {
    for (size_t off = 0; off < size; off += 64)
        _mm_prefetch((const char *)p + ahead + off, _MM_HINT_T0);
}

/* The same, each line twice (a prefetch every 32 bytes). */
static inline void prefetch_bytes_twice(const void *p, uint64_t ahead, size_t size) {
    for (size_t off = 0; off < size; off += 32)
        _mm_prefetch((const char *)p + ahead + off, _MM_HINT_T0);
}

/* *s = sum over blocks of d_x d_y * DOT(codes of x, codes of y), where DOT
 * gives eight int32 partial sums; four blocks per step, one accumulator each.
 * Expects n, s, x, y in scope. */
#define QUANT_DOT_STEP(ACC, B, D, LOAD_X, DOT)                                                               \
    ACC = _mm256_fmadd_ps(D, _mm256_cvtepi32_ps(DOT(LOAD_X(&x[B]), load_q8(&y[B]))), ACC)

#define QUANT_DOT_BODY(LOAD_X, DOT)                                                                          \
    const int64_t nb = n / 32;                                                                               \
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(),                     \
           a3 = _mm256_setzero_ps();                                                                         \
    int64_t b = 0;                                                                                           \
    for (; b + 4 <= nb; b += 4) {                                                                            \
        for (size_t pf = 0; pf < 4 * sizeof *x; pf += 64)                                                    \
            _mm_prefetch((const char *)((uintptr_t)&x[b] + PREFETCH_BYTES + pf), _MM_HINT_T0);               \
        const __m256 d4 = SCALES4(x, y, b);                                                                  \
        QUANT_DOT_STEP(a0, b, lane(d4, 0), LOAD_X, DOT);                                                     \
        QUANT_DOT_STEP(a1, b + 1, lane(d4, 1), LOAD_X, DOT);                                                 \
        QUANT_DOT_STEP(a2, b + 2, lane(d4, 2), LOAD_X, DOT);                                                 \
        QUANT_DOT_STEP(a3, b + 3, lane(d4, 3), LOAD_X, DOT);                                                 \
    }                                                                                                        \
    for (; b < nb; b++)                                                                                      \
        QUANT_DOT_STEP(a0, b, scale(x[b].d, y[b].d), LOAD_X, DOT);                                           \
    *s = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)))

#endif
