/* AVX2 kernels of Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4 and the K-quants (kquants_inl.h). */
#include <immintrin.h>

#define KQ_FN(name) name##_avx2
#define KQ_SC16_NT  RZ_SC16_AVX2_TOKENS

/* Products u*y in int16 pairs (maddubs), then summed to int32 pairs. */
static inline __m256i kq_dot_u8i8(__m256i acc, __m256i u, __m256i y) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1)));
}

static inline __m256i kq_madd_acc(__m256i acc, __m256i p, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
}

#include "tensor/isa/kquants_inl.h"

/* Bit-exact with rz_quantize_row_q8_K (which took a tenth of a Q6_K prompt's
 * time on AVX2); AVX-512 uses it too. */
void rz_quantize_row_q8_K_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q8_K *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float *x = src + b * RZ_QK_K;
        memset(&y[b], 0, sizeof y[b]);
        const float iscale = q8_K_iscale(x);
        if (iscale == 0.0f) continue;
        for (int g = 0; g < 8; g++) {
            __m256i q[4];
            _mm256_storeu_si256((__m256i *)(y[b].qs + 32 * g), q8_K_codes32(x + 32 * g, iscale, q));
            y[b].bsums[2 * g] = (int16_t)hsum_epi32(_mm256_add_epi32(q[0], q[1]));
            y[b].bsums[2 * g + 1] = (int16_t)hsum_epi32(_mm256_add_epi32(q[2], q[3]));
        }
        y[b].d = 1.0f / iscale;
    }
}

void rz_gemm_tile_iq4_nl_q8_0_avx2(int64_t n, const void *vx, uint64_t x_row_stride, int nr, const void *vy,
                                   uint64_t y_row_stride, int nt, float *y, int64_t y_stride) {
    KQ_LUT4_TILE(rz_block_iq4_nl, KQ_IQ4NL);
}

void rz_gemm_tile_mxfp4_q8_0_avx2(int64_t n, const void *vx, uint64_t x_row_stride, int nr, const void *vy,
                                  uint64_t y_row_stride, int nt, float *y, int64_t y_stride) {
    KQ_LUT4_TILE(rz_block_mxfp4, KQ_MXFP4);
}
