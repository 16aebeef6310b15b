/* AVX-512 VNNI kernels of Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4 and the K-quants: the
 * 256-bit bodies of kquants_inl.h with the integer steps fused by VNNI
 * (vpdpbusd for code x activation sums, vpdpwssd for scaling the int16 pair
 * products). A 512-bit Q4_K (both nibble groups of 32 bytes per maddubs)
 * measured 15-20% slower here: the inserts and wide shuffles cost more than
 * the halved multiply count saves. */
#include <immintrin.h>

#define KQ_FN(name) name##_avx512
#define KQ_SC16_NT  RZ_GEMM_TILE_TOKENS

static inline __m256i kq_dot_u8i8(__m256i acc, __m256i u, __m256i y) {
    return _mm256_dpbusd_epi32(acc, u, y);
}

static inline __m256i kq_madd_acc(__m256i acc, __m256i p, __m256i s) {
    return _mm256_dpwssd_epi32(acc, p, s);
}

#include "tensor/isa/kquants_inl.h"
