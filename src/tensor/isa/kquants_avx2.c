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

void rz_gemm_tile_iq4_nl_q8_0_avx2(int64_t n, const void *vx, uint64_t x_row_stride, int nr, const void *vy,
                                   uint64_t y_row_stride, int nt, float *y, int64_t y_stride) {
    KQ_LUT4_TILE(rz_block_iq4_nl, KQ_IQ4NL);
}

void rz_gemm_tile_mxfp4_q8_0_avx2(int64_t n, const void *vx, uint64_t x_row_stride, int nr, const void *vy,
                                  uint64_t y_row_stride, int nt, float *y, int64_t y_stride) {
    KQ_LUT4_TILE(rz_block_mxfp4, KQ_MXFP4);
}
