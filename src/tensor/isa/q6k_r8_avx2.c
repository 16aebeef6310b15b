/* AVX2 tile of Q6_K_R8 (tensor/quants_q6k_r8.h), which is also its GEMV.
 * Per sub-block of 16 columns and token: four vpmaddubsw of eight rows' codes
 * (0..63) by four activation codes broadcast to every lane, two int16 adds
 * (two such products, at most 2 * 2 * 63 * 128, fit), two vpmaddwd by the
 * rows' scales and two int32 adds: 10 instructions for 128 products (the
 * stored layout's tile: 12, and a float step and a horizontal sum per row).
 * The codes' offset of 32 comes off through Q8_K's sums of 16 codes, one
 * vpmaddwd per two sub-blocks. A sub-block's codes are decoded once (11
 * instructions) for all the tile's tokens. */
#include <immintrin.h>
#include <string.h>

#include "tensor/quants_q6k_r8.h"

static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* isum + scale * (codes c[0..3] . the 16 activation codes y), each row's
 * scale in both int16 halves of its lane. */
static inline __m256i sub_block(__m256i isum, const __m256i c[4], const int8_t *y, __m256i scale) {
    const __m256i p01 =
        _mm256_add_epi16(_mm256_maddubs_epi16(c[0], bcast4(y)), _mm256_maddubs_epi16(c[1], bcast4(y + 4)));
    const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(c[2], bcast4(y + 8)),
                                         _mm256_maddubs_epi16(c[3], bcast4(y + 12)));
    return _mm256_add_epi32(isum,
                            _mm256_add_epi32(_mm256_madd_epi16(p01, scale), _mm256_madd_epi16(p23, scale)));
}

static inline __attribute__((always_inline)) void tile(int64_t n, const rz_block_q6_k_r8 *w, const void *x,
                                                       uint64_t x_stride, float *y, int64_t y_stride,
                                                       const int nt) {
    const rz_block_q8_K *a[RZ_Q6_K_R8_AVX2_TOKENS];
    __m256 acc[RZ_Q6_K_R8_AVX2_TOKENS];
    for (int t = 0; t < nt; t++) {
        a[t] = (const rz_block_q8_K *)(const void *)((const char *)x + (uint64_t)t * x_stride);
        acc[t] = _mm256_setzero_ps();
    }
    const __m256i low6 = _mm256_set1_epi8(63), low4 = _mm256_set1_epi8(15), high2 = _mm256_set1_epi8(0x30);
    /* Byte r of the scales into the high byte of int16 2r and 2r + 1 (then
     * an arithmetic shift); pairs: s's and s + 1's into 2r and 2r + 1. */
    const __m256i dup = _mm256_setr_epi8(-1, 0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3, -1, 4, -1, 4,
                                         -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7);
    const __m256i pair = _mm256_setr_epi8(-1, 0, -1, 8, -1, 1, -1, 9, -1, 2, -1, 10, -1, 3, -1, 11, -1, 4, -1,
                                          12, -1, 5, -1, 13, -1, 6, -1, 14, -1, 7, -1, 15);
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const rz_block_q6_k_r8 *wb = &w[b];
        __m256i isum[RZ_Q6_K_R8_AVX2_TOKENS];
        for (int t = 0; t < nt; t++)
            isum[t] = _mm256_setzero_si256();
        for (int s = 0; s < 16; s += 2) {
            /* A GEMV or a short batch streams on this prefetch (210 bytes of
             * the group per two sub-blocks, two blocks ahead); full tiles
             * are one of several on the group, and run_tiles prefetches the
             * next group for those (twice the prefetches cost them 2-4%). */
            if (nt < RZ_Q6_K_R8_AVX2_TOKENS)
                for (int l = 0; l < 4; l++)
                    _mm_prefetch((const char *)(wb + 2) + 105 * s + 64 * l, _MM_HINT_T0);
            /* 32 x scale (at most 4096), against the sums of 16 codes */
            const __m256i sc32 = _mm256_srai_epi16(
                _mm256_shuffle_epi8(
                    _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(wb->scales + 8 * s))),
                    pair),
                3);
            for (int t = 0; t < nt; t++) {
                int32_t sums;
                memcpy(&sums, &a[t][b].bsums[s], 4);
                isum[t] = _mm256_sub_epi32(isum[t], _mm256_madd_epi16(sc32, _mm256_set1_epi32(sums)));
            }
            for (int h = s; h < s + 2; h++) {
                int64_t sc8;
                memcpy(&sc8, wb->scales + 8 * h, 8);
                const __m256i sc = _mm256_srai_epi16(_mm256_shuffle_epi8(_mm256_set1_epi64x(sc8), dup), 8);
                const uint8_t *q = wb->qs + 96 * h;
                const __m256i q0 = _mm256_loadu_si256((const __m256i *)q),
                              q1 = _mm256_loadu_si256((const __m256i *)(q + 32)),
                              nib = _mm256_loadu_si256((const __m256i *)(q + 64));
                const __m256i c[4] = {_mm256_and_si256(q0, low6), _mm256_and_si256(q1, low6),
                                      _mm256_or_si256(_mm256_and_si256(nib, low4),
                                                      _mm256_and_si256(_mm256_srli_epi16(q0, 2), high2)),
                                      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(nib, 4), low4),
                                                      _mm256_and_si256(_mm256_srli_epi16(q1, 2), high2))};
                for (int t = 0; t < nt; t++)
                    isum[t] = sub_block(isum[t], c, a[t][b].qs + 16 * h, sc);
            }
        }
        /* multiply, then add: the scalar reference's rounding */
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)wb->d));
        for (int t = 0; t < nt; t++)
            acc[t] = _mm256_add_ps(acc[t], _mm256_mul_ps(_mm256_cvtepi32_ps(isum[t]),
                                                         _mm256_mul_ps(d, _mm256_set1_ps(a[t][b].d))));
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

void rz_gemm_tile_q6_k_r8_q8_K_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
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
        CASE(8)
        CASE(9)
        CASE(10)
        CASE(11)
    default: tile(n, w, x, x_stride, y, y_stride, RZ_Q6_K_R8_AVX2_TOKENS); break;
#undef CASE
    }
}
