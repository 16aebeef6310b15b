/* AVX2 tile of Q4_0_R8 x A8_R8 (tensor/quants_q4_0_r8.h): eight rows, one per
 * 32-bit lane, so a block column needs no horizontal sums and is decoded
 * once for all the tile's tokens.
 *
 * Per token and block column: eight vpmaddubsw of the unsigned nibbles by a
 * broadcast of four activation codes (the same four for every row), summed in
 * int16 (at most 8 * 2 * 15 * 127 = 30480), one vpmaddwd into int32, corr
 * added, then one convert and multiply-add by the rows' scales times the
 * token's. */
#include <immintrin.h>
#include <string.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/gemm.h"
#include "tensor/quants_q4_0_r8.h"

enum { R8_TOKENS = RZ_R8_AVX2_TOKENS };

/* A block column decoded: lo[j] / hi[j] the low / high nibbles of ymm j. */
typedef struct r8_block {
    __m256i lo[4], hi[4];
    __m256 d;
} r8_block;

static inline __attribute__((always_inline)) r8_block r8_load(const rz_block_q4_0_r8 *g) {
    const __m256i mask = _mm256_set1_epi8(0x0f);
    r8_block q;
    for (int j = 0; j < 4; j++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(const void *)(g->qs + 32 * j));
        q.lo[j] = _mm256_and_si256(raw, mask);
        q.hi[j] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
    }
    q.d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)g->d));
    return q;
}

/* Codes k..k+3 of a block in every lane (one vpbroadcastd from memory). */
static inline __m256i codes4(const rz_block_a8_r8 *a, int k) {
    int32_t v;
    memcpy(&v, a->qs + k, sizeof v);
    return _mm256_set1_epi32(v);
}

static inline __attribute__((always_inline)) __m256 r8_dot(__m256 acc, const r8_block *q,
                                                           const rz_block_a8_r8 *a) {
    __m256i p[2];
    for (int j = 0; j < 2; j++)
        p[j] = _mm256_add_epi16(_mm256_maddubs_epi16(q->lo[j], codes4(a, 4 * j)),
                                _mm256_maddubs_epi16(q->hi[j], codes4(a, 16 + 4 * j)));
    for (int j = 2; j < 4; j++)
        p[j & 1] = _mm256_add_epi16(p[j & 1],
                                    _mm256_add_epi16(_mm256_maddubs_epi16(q->lo[j], codes4(a, 4 * j)),
                                                     _mm256_maddubs_epi16(q->hi[j], codes4(a, 16 + 4 * j))));
    const __m256i s = _mm256_add_epi32(_mm256_madd_epi16(_mm256_add_epi16(p[0], p[1]), _mm256_set1_epi16(1)),
                                       _mm256_set1_epi32(a->corr));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(q->d, _mm256_set1_ps(a->d)), acc);
}

/* nt tokens, a constant where inlined. One token (a GEMV) prefetches its
 * stream itself; batches get the next group from the caller (run_tiles). */
static inline __attribute__((always_inline)) void r8_tile(int64_t nb, const rz_block_q4_0_r8 *w,
                                                          const char *x, uint64_t x_stride, int nt, float *y,
                                                          int64_t y_stride) {
    const rz_block_a8_r8 *xr[R8_TOKENS];
    __m256 acc[R8_TOKENS];
    for (int t = 0; t < nt; t++) {
        xr[t] = (const rz_block_a8_r8 *)(const void *)(x + (uint64_t)t * x_stride);
        acc[t] = _mm256_setzero_ps();
    }
    for (int64_t b = 0; b < nb; b++) {
        if (nt == 1) prefetch_bytes(&w[b], PREFETCH_BYTES, sizeof w[b]);
        const r8_block q = r8_load(&w[b]);
        for (int t = 0; t < nt; t++)
            acc[t] = r8_dot(acc[t], &q, &xr[t][b]);
    }
    for (int t = 0; t < nt; t++)
        _mm256_storeu_ps(y + t * y_stride, acc[t]);
}

void rz_gemm_tile_q4_0_r8_a8_r8_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    (void)w_stride;
    (void)nr;
    const int64_t nb = n / RZ_QK4_0;
    if (nt == R8_TOKENS)
        r8_tile(nb, w, x, x_stride, R8_TOKENS, y, y_stride);
    else if (nt == 1)
        r8_tile(nb, w, x, x_stride, 1, y, y_stride);
    else /* the last tile of a batch */
        r8_tile(nb, w, x, x_stride, nt, y, y_stride);
}
