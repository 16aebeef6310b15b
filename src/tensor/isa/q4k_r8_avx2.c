/* AVX2 tile of Q4_K_R8 (tensor/quants_q4k_r8.h), which is also its GEMV.
 * Per sub-block of 32 columns and token: eight vpmaddubsw of eight rows'
 * codes (0..15) by four activation codes broadcast to every lane, seven
 * int16 adds (eight products of at most 2 * 15 * 128 fit), one vpmaddwd by
 * the rows' scales and one int32 add: 17 instructions for 256 products. The
 * mins weigh Q8_K's code sums of each sub-block (pairs of its sums of 16),
 * four vpmaddwd per block and token. A sub-block's codes are decoded once
 * (two code vectors per 32-byte load: a mask, a shift and a mask) for all
 * the tile's tokens. */
#include <immintrin.h>
#include <string.h>

#include "tensor/quants_q4k_r8.h"

static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* isum + scale * (codes c[0..7] . the 32 activation codes y), the products
 * added pairwise (a chain of eight adds per token measured slower). */
static inline __m256i sub_block(__m256i isum, const __m256i c[8], const int8_t *y, __m256i scale) {
    __m256i p[4];
    for (int j = 0; j < 4; j++)
        p[j] = _mm256_add_epi16(_mm256_maddubs_epi16(c[2 * j], bcast4(y + 8 * j)),
                                _mm256_maddubs_epi16(c[2 * j + 1], bcast4(y + 8 * j + 4)));
    const __m256i q = _mm256_add_epi16(_mm256_add_epi16(p[0], p[1]), _mm256_add_epi16(p[2], p[3]));
    return _mm256_add_epi32(isum, _mm256_madd_epi16(q, scale));
}

static inline __attribute__((always_inline)) void tile(int64_t n, const rz_block_q4_k_r8 *w, const void *x,
                                                       uint64_t x_stride, float *y, int64_t y_stride,
                                                       const int nt) {
    const rz_block_q8_K *a[RZ_Q4_K_R8_AVX2_TOKENS];
    __m256 acc[RZ_Q4_K_R8_AVX2_TOKENS];
    for (int t = 0; t < nt; t++) {
        a[t] = (const rz_block_q8_K *)(const void *)((const char *)x + (uint64_t)t * x_stride);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i low4 = _mm256_set1_epi8(15), low6 = _mm256_set1_epi16(63), high2 = _mm256_set1_epi8(0x30);
    /* byte r of the scales into both int16 halves of lane r (then a mask) */
    const __m256i dup = _mm256_setr_epi8(0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1, 4, -1, 4, -1,
                                         5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7, -1);
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const rz_block_q4_k_r8 *wb = &w[b];
        __m256i isum[RZ_Q4_K_R8_AVX2_TOKENS];
        for (int t = 0; t < nt; t++)
            isum[t] = _mm256_setzero_si256();
        for (int s = 0; s < 8; s++) {
            /* A GEMV or a short batch streams on this prefetch (the group's
             * 144 bytes per sub-block, two blocks ahead); run_tiles
             * prefetches the next group for full tiles. */
            if (nt < RZ_Q4_K_R8_AVX2_TOKENS)
                for (int l = 0; l < 3; l++)
                    _mm_prefetch((const char *)(wb + 2) + 144 * s + 48 * l, _MM_HINT_T0);
            int64_t sc8;
            memcpy(&sc8, wb->sc + 8 * s, 8);
            const __m256i sc = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi64x(sc8), dup), low6);
            const uint8_t *q = wb->qs + 128 * s;
            __m256i c[8];
            for (int k = 0; k < 4; k++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(q + 32 * k));
                c[k] = _mm256_and_si256(raw, low4);
                c[k + 4] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
            }
            for (int t = 0; t < nt; t++)
                isum[t] = sub_block(isum[t], c, a[t][b].qs + 32 * s, sc);
        }
        /* The mins as int16 pairs of sub-blocks 2k, 2k + 1 in the rows'
         * lanes: nibbles of m, high bits from the top of sc. */
        const __m256i mlo = _mm256_loadu_si256((const __m256i *)wb->m);
        const __m256i m01 = _mm256_or_si256(
            _mm256_and_si256(mlo, low4),
            _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)wb->sc), 2), high2));
        const __m256i m23 = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16(mlo, 4), low4),
            _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256((const __m256i *)(wb->sc + 32)), 2),
                             high2));
        const __m256i mins[4] = {_mm256_cvtepu8_epi16(_mm256_castsi256_si128(m01)),
                                 _mm256_cvtepu8_epi16(_mm256_extracti128_si256(m01, 1)),
                                 _mm256_cvtepu8_epi16(_mm256_castsi256_si128(m23)),
                                 _mm256_cvtepu8_epi16(_mm256_extracti128_si256(m23, 1))};
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->d)),
                     dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->dmin));
        for (int t = 0; t < nt; t++) {
            /* the code sums of the eight sub-blocks, as int16 pairs */
            const int16_t *bs = a[t][b].bsums;
            const __m256i sums = _mm256_broadcastsi128_si256(_mm_hadd_epi16(
                _mm_loadu_si128((const __m128i *)bs), _mm_loadu_si128((const __m128i *)(bs + 8))));
            const __m256i msum = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_madd_epi16(mins[0], _mm256_shuffle_epi32(sums, 0x00)),
                                 _mm256_madd_epi16(mins[1], _mm256_shuffle_epi32(sums, 0x55))),
                _mm256_add_epi32(_mm256_madd_epi16(mins[2], _mm256_shuffle_epi32(sums, 0xaa)),
                                 _mm256_madd_epi16(mins[3], _mm256_shuffle_epi32(sums, 0xff))));
            /* multiply, subtract, then add: the scalar reference's rounding */
            const __m256 dy = _mm256_set1_ps(a[t][b].d);
            acc[t] = _mm256_add_ps(
                acc[t], _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dy)),
                                      _mm256_mul_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(dmin, dy))));
        }
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

void rz_gemm_tile_q4_k_r8_q8_K_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    (void)w_stride;
    (void)nr;
    /* the token count as a constant, so that the sums stay in registers */
    switch (nt) {
#define CASE(k)                                                                                              \
    case k: tile(n, w, x, x_stride, y, y_stride, k); break;
        CASE(1)
        CASE(2)
        CASE(3)
        CASE(4)
        CASE(5)
        CASE(6)
        CASE(7)
    default: tile(n, w, x, x_stride, y, y_stride, RZ_Q4_K_R8_AVX2_TOKENS); break;
#undef CASE
    }
}
