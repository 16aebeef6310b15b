/* AVX2 + FMA + F16C attention value kernels: 8 floats per step. */
#include <immintrin.h>
#include <stdbool.h>

#include "kernels/isa/attention.h"
#include "tensor/isa/avx2_inl.h"
#include "tensor/quants.h"

static inline void fma_store(float *out, __m256 p, __m256 x) {
    _mm256_storeu_ps(out, _mm256_fmadd_ps(p, x, _mm256_loadu_ps(out)));
}

void rz_attn_axpy_f32_avx2(int64_t n, float p, const void *restrict v, float *restrict out) {
    const float *x = v;
    const __m256 vp = _mm256_set1_ps(p);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        fma_store(out + i, vp, _mm256_loadu_ps(x + i));
    for (; i < n; i++)
        out[i] += p * x[i];
}

void rz_attn_axpy_f16_avx2(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_fp16 *x = v;
    const __m256 vp = _mm256_set1_ps(p);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        fma_store(out + i, vp, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
    for (; i < n; i++)
        out[i] += p * rz_fp16_to_f32(x[i]);
}

void rz_attn_axpy_bf16_avx2(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_bf16 *x = v;
    const __m256 vp = _mm256_set1_ps(p);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        fma_store(out + i, vp, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++)
        out[i] += p * rz_bf16_to_f32(x[i]);
}

/* Eight signed bytes at b to floats. */
static inline __m256 i8x8(const int8_t *b) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)b)));
}

void rz_attn_axpy_q8_0_avx2(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_block_q8_0 *x = v;
    for (int64_t b = 0; b < n / RZ_QK8_0; b++, out += RZ_QK8_0) {
        const __m256 pd = _mm256_set1_ps(p * _cvtsh_ss(x[b].d));
        for (int j = 0; j < RZ_QK8_0; j += 8)
            fma_store(out + j, pd, i8x8(x[b].qs + j));
    }
}

void rz_attn_axpy_q4_0_avx2(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_block_q4_0 *x = v;
    const __m128i mask = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    for (int64_t b = 0; b < n / RZ_QK4_0; b++, out += RZ_QK4_0) {
        const __m256 pd = _mm256_set1_ps(p * _cvtsh_ss(x[b].d));
        const __m128i raw = _mm_loadu_si128((const __m128i *)x[b].qs);
        /* Low nibbles are elements 0..15, high nibbles 16..31. */
        const __m128i lo = _mm_sub_epi8(_mm_and_si128(raw, mask), eight);
        const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), eight);
        const __m128i parts[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
        for (int k = 0; k < 4; k++)
            fma_store(out + 8 * k, pd, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(parts[k])));
    }
}

/* Six rows of a by 16 columns of b per step: 12 accumulators, two of b and
 * a broadcast fill 15 of the 16 ymm registers (the AVX-512 shape, 4 x 32,
 * spilled its accumulators to the stack on every step). Columns past n
 * (the last step's) are masked off with vmaskmov, which costs more than
 * plain loads, so whole steps use those. */
enum { GEMM_MR = 6, GEMM_NV = 2 };

static inline __attribute__((always_inline)) void gemm_step(int k, const float *const ar[GEMM_MR],
                                                            float *const *cr, int nr, const float *b,
                                                            int64_t ldb, int left, bool whole) {
    __m256i mask[GEMM_NV];
    __m256 acc[GEMM_MR][GEMM_NV];
    for (int v = 0; v < GEMM_NV; v++)
        mask[v] = lanes_below(left - 8 * v);
    for (int r = 0; r < GEMM_MR; r++)
        for (int v = 0; v < GEMM_NV; v++)
            acc[r][v] = whole ? _mm256_loadu_ps(cr[r] + 8 * v) : _mm256_maskload_ps(cr[r] + 8 * v, mask[v]);
    for (int l = 0; l < k; l++) {
        __m256 bv[GEMM_NV];
        for (int v = 0; v < GEMM_NV; v++)
            bv[v] = whole ? _mm256_loadu_ps(b + l * ldb + 8 * v)
                          : _mm256_maskload_ps(b + l * ldb + 8 * v, mask[v]);
        for (int r = 0; r < GEMM_MR; r++) {
            const __m256 av = _mm256_broadcast_ss(&ar[r][l]);
            for (int v = 0; v < GEMM_NV; v++)
                acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    /* a constant trip count: with r < nr, GCC kept acc in memory as well */
    for (int r = 0; r < GEMM_MR; r++)
        for (int v = 0; v < GEMM_NV; v++) {
            if (r >= nr) break;
            if (whole)
                _mm256_storeu_ps(cr[r] + 8 * v, acc[r][v]);
            else
                _mm256_maskstore_ps(cr[r] + 8 * v, mask[v], acc[r][v]);
        }
}

void rz_attn_gemm_avx2(int m, int n, int k, const float *a, int64_t lda, const float *b, int64_t ldb,
                       float *c, int64_t ldc) {
    for (int i = 0; i < m; i += GEMM_MR) {
        const int nr = m - i < GEMM_MR ? m - i : GEMM_MR;
        const float *ar[GEMM_MR];
        float *cr[GEMM_MR];
        for (int r = 0; r < GEMM_MR; r++) {
            const int row = i + (r < nr ? r : nr - 1);
            ar[r] = a + row * lda;
            cr[r] = c + row * ldc;
        }
        int j = 0;
        for (; j + 8 * GEMM_NV <= n; j += 8 * GEMM_NV) {
            float *cj[GEMM_MR];
            for (int r = 0; r < GEMM_MR; r++)
                cj[r] = cr[r] + j;
            gemm_step(k, ar, cj, nr, b + j, ldb, 8 * GEMM_NV, true);
        }
        if (j < n) {
            float *cj[GEMM_MR];
            for (int r = 0; r < GEMM_MR; r++)
                cj[r] = cr[r] + j;
            gemm_step(k, ar, cj, nr, b + j, ldb, n - j, false);
        }
    }
}
