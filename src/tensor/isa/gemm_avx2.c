/* AVX2 tiles of float weights (F16 through F16C, BF16 by shifts) times
 * activations already rounded to the weight type and widened to float once
 * per matmul (F16_ACT, BF16_ACT): only the weights are widened here, each
 * 8-value slice once for FLOAT_TOKENS tokens. FLOAT_ROWS x FLOAT_TOKENS
 * accumulators, a weight vector per row and one activation vector take the
 * sixteen ymm registers. */
#include <immintrin.h>
#include <string.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/gemm.h"

enum { FLOAT_ROWS = RZ_FLOAT_AVX2_ROWS, FLOAT_TOKENS = RZ_FLOAT_AVX2_TOKENS };

#define FLOAT_TILE_BEGIN(w_t)                                                                                \
    const w_t *wr[FLOAT_ROWS];                                                                               \
    const float *xr[FLOAT_TOKENS];                                                                           \
    for (int r = 0; r < FLOAT_ROWS; r++)                                                                     \
        wr[r] = (const w_t *)((const char *)w + (uint64_t)(r < nr ? r : nr - 1) * w_stride);                 \
    for (int t = 0; t < FLOAT_TOKENS; t++)                                                                   \
        xr[t] = (const float *)((const char *)x + (uint64_t)(t < nt ? t : nt - 1) * x_stride);               \
    __m256 acc[FLOAT_ROWS][FLOAT_TOKENS];                                                                    \
    for (int r = 0; r < FLOAT_ROWS; r++)                                                                     \
        for (int t = 0; t < FLOAT_TOKENS; t++)                                                               \
            acc[r][t] = _mm256_setzero_ps();

/* acc[r][t] += (weights of row r) * (8 floats of token t at x_at(xr[t])). */
#define FLOAT_TILE_STEP(load_w, x_at)                                                                        \
    do {                                                                                                     \
        __m256 wv[FLOAT_ROWS];                                                                               \
        for (int r = 0; r < FLOAT_ROWS; r++)                                                                 \
            wv[r] = load_w(wr[r]);                                                                           \
        for (int t = 0; t < FLOAT_TOKENS; t++) {                                                             \
            const __m256 xv = x_at(xr[t]);                                                                   \
            for (int r = 0; r < FLOAT_ROWS; r++)                                                             \
                acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);                                           \
        }                                                                                                    \
    } while (0)

#define FLOAT_TILE_END                                                                                       \
    for (int t = 0; t < nt; t++)                                                                             \
        for (int r = 0; r < nr; r++)                                                                         \
            y[t * y_stride + r] = hsum8(acc[r][t]);

/* The k < 8 values at p (16 bits each) zero-padded to eight. */
static inline __m128i load_partial16(const void *p, int64_t k) {
    uint16_t v[8] = {0};
    memcpy(v, p, 2 * (size_t)k);
    return _mm_loadu_si128((const __m128i *)v);
}

/* Loads of the slice at i of a row p (the kernels' i, tail length k, and for
 * BF16 the mask high). */
#define W_F16(p)      _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((p) + i)))
#define W_F16_PART(p) _mm256_cvtph_ps(load_partial16((p) + i, k))
#define X_FULL(p)     _mm256_loadu_ps((p) + i)
#define X_PART(p)     _mm256_maskload_ps((p) + i, lanes_below(k))
#define W_EVEN(p)     _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)((p) + i)), 16))
#define W_ODD(p)      _mm256_castsi256_ps(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)((p) + i)), high))
#define W_EVEN_B(p)   W_EVEN((p) + 16)
#define W_ODD_B(p)    W_ODD((p) + 16)
#define X_8(p)        _mm256_loadu_ps((p) + i + 8)
#define X_16(p)       _mm256_loadu_ps((p) + i + 16)
#define X_24(p)       _mm256_loadu_ps((p) + i + 24)
#define W_BF16_PART(p)                                                                                       \
    _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load_partial16((p) + i, k)), 16))

void rz_gemm_tile_f16_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                           uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    FLOAT_TILE_BEGIN(rz_fp16)
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        FLOAT_TILE_STEP(W_F16, X_FULL);
    const int64_t k = n - i;
    if (k) FLOAT_TILE_STEP(W_F16_PART, X_PART);
    FLOAT_TILE_END
}

/* A 32-byte load holds 16 bf16: each 32-bit lane's low half (even index)
 * shifted up, and its high half (odd index) masked, are those values as
 * float. BF16_ACT stores each 32-value block's even-indexed values, then its
 * odd ones, so the evens of the block's first 16 weights pair with its
 * activations 0-7, those of the next 16 with 8-15, the odds with 16-23 and
 * 24-31. */
void rz_gemm_tile_bf16_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                            uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    FLOAT_TILE_BEGIN(rz_bf16)
    const __m256i high = _mm256_set1_epi32((int)0xffff0000u);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        FLOAT_TILE_STEP(W_EVEN, X_FULL);
        FLOAT_TILE_STEP(W_EVEN_B, X_8);
        FLOAT_TILE_STEP(W_ODD, X_16);
        FLOAT_TILE_STEP(W_ODD_B, X_24);
    }
    /* the last n % 32 values, in order */
    for (; i < n; i += 8) {
        const int64_t k = n - i < 8 ? n - i : 8;
        FLOAT_TILE_STEP(W_BF16_PART, X_PART);
    }
    FLOAT_TILE_END
}
