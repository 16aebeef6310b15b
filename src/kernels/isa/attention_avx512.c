/* AVX-512 attention value kernels: 16 floats per step (a Q8_0/Q4_0 block is
 * two steps). */
#include <immintrin.h>

#include "kernels/isa/attention.h"
#include "tensor/quants.h"

static inline void fma_store(float *out, __m512 p, __m512 x) {
    _mm512_storeu_ps(out, _mm512_fmadd_ps(p, x, _mm512_loadu_ps(out)));
}

void rz_attn_axpy_f32_avx512(int64_t n, float p, const void *restrict v, float *restrict out) {
    const float *x = v;
    const __m512 vp = _mm512_set1_ps(p);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        fma_store(out + i, vp, _mm512_loadu_ps(x + i));
    for (; i < n; i++)
        out[i] += p * x[i];
}

void rz_attn_axpy_f16_avx512(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_fp16 *x = v;
    const __m512 vp = _mm512_set1_ps(p);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        fma_store(out + i, vp, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    for (; i < n; i++)
        out[i] += p * rz_fp16_to_f32(x[i]);
}

void rz_attn_axpy_bf16_avx512(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_bf16 *x = v;
    const __m512 vp = _mm512_set1_ps(p);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(x + i)));
        fma_store(out + i, vp, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    for (; i < n; i++)
        out[i] += p * rz_bf16_to_f32(x[i]);
}

static inline __m512 i8x16(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(b)); }

void rz_attn_axpy_q8_0_avx512(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_block_q8_0 *x = v;
    for (int64_t b = 0; b < n / RZ_QK8_0; b++, out += RZ_QK8_0) {
        const __m512 pd = _mm512_set1_ps(p * _cvtsh_ss(x[b].d));
        fma_store(out, pd, i8x16(_mm_loadu_si128((const __m128i *)x[b].qs)));
        fma_store(out + 16, pd, i8x16(_mm_loadu_si128((const __m128i *)(x[b].qs + 16))));
    }
}

void rz_attn_axpy_q4_0_avx512(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_block_q4_0 *x = v;
    const __m128i mask = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    for (int64_t b = 0; b < n / RZ_QK4_0; b++, out += RZ_QK4_0) {
        const __m512 pd = _mm512_set1_ps(p * _cvtsh_ss(x[b].d));
        const __m128i raw = _mm_loadu_si128((const __m128i *)x[b].qs);
        fma_store(out, pd, i8x16(_mm_sub_epi8(_mm_and_si128(raw, mask), eight)));
        fma_store(out + 16, pd, i8x16(_mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(raw, 4), mask), eight)));
    }
}

/* Four rows of a by 64 columns of b per step: each b vector loaded once
 * feeds four rows; rows past m repeat the last and are not stored, columns
 * past n are masked off. */
void rz_attn_gemm_avx512(int m, int n, int k, const float *a, int64_t lda, const float *b, int64_t ldb,
                         float *c, int64_t ldc) {
    enum { MR = 4, NV = 4 };
    for (int i = 0; i < m; i += MR) {
        const int nr = m - i < MR ? m - i : MR;
        const float *ar[MR];
        float *cr[MR];
        for (int r = 0; r < MR; r++) {
            const int row = i + (r < nr ? r : nr - 1);
            ar[r] = a + row * lda;
            cr[r] = c + row * ldc;
        }
        for (int j = 0; j < n; j += 16 * NV) {
            __mmask16 mask[NV];
            for (int v = 0; v < NV; v++) {
                const int left = n - j - 16 * v;
                mask[v] = left >= 16 ? (__mmask16)0xffff : left > 0 ? (__mmask16)((1u << left) - 1) : 0;
            }
            __m512 acc[MR][NV];
            for (int r = 0; r < MR; r++)
                for (int v = 0; v < NV; v++)
                    acc[r][v] = _mm512_maskz_loadu_ps(mask[v], cr[r] + j + 16 * v);
            for (int l = 0; l < k; l++) {
                __m512 bv[NV];
                for (int v = 0; v < NV; v++)
                    bv[v] = _mm512_maskz_loadu_ps(mask[v], b + l * ldb + j + 16 * v);
                for (int r = 0; r < MR; r++) {
                    const __m512 av = _mm512_set1_ps(ar[r][l]);
                    for (int v = 0; v < NV; v++)
                        acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
                }
            }
            /* a constant trip count: with r < nr, GCC kept acc in memory as well */
            for (int r = 0; r < MR; r++)
                for (int v = 0; v < NV; v++) {
                    if (r >= nr) break;
                    _mm512_mask_storeu_ps(cr[r] + j + 16 * v, mask[v], acc[r][v]);
                }
        }
    }
}

/* Four keys per step, each with its own accumulator over the head. */
void rz_attn_scores_f32_avx512(int64_t head_dim, const float *q, const char *k, uint64_t k_stride,
                               uint32_t n_keys, float scale, float *scores) {
    uint32_t j = 0;
    for (; j + 4 <= n_keys; j += 4) {
        const float *kr[4];
        __m512 acc[4];
        for (int r = 0; r < 4; r++) {
            kr[r] = (const float *)(k + (uint64_t)(j + r) * k_stride);
            acc[r] = _mm512_setzero_ps();
        }
        for (int64_t d = 0; d < head_dim; d += 16) {
            const __m512 qv = _mm512_loadu_ps(q + d);
            for (int r = 0; r < 4; r++)
                acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(kr[r] + d), qv, acc[r]);
        }
        for (int r = 0; r < 4; r++)
            scores[j + r] = _mm512_reduce_add_ps(acc[r]) * scale;
    }
    for (; j < n_keys; j++) {
        const float *kr = (const float *)(k + (uint64_t)j * k_stride);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t d = 0; d < head_dim; d += 16)
            acc = _mm512_fmadd_ps(_mm512_loadu_ps(kr + d), _mm512_loadu_ps(q + d), acc);
        scores[j] = _mm512_reduce_add_ps(acc) * scale;
    }
}

/* The whole head's output in nv registers, keys in order, two sets of
 * accumulators taking turns (each key's row is read as it lies; passes of
 * sixteen outputs over all keys instead met rows 6 KB apart in two L1 sets). */
static inline void sum_rows(int nv, const float *p, const char *v, uint64_t v_stride, uint32_t n_keys,
                            float *out) {
    __m512 a[2][8];
    for (int c = 0; c < nv; c++)
        a[0][c] = a[1][c] = _mm512_setzero_ps();
    for (uint32_t j = 0; j < n_keys; j++) {
        const float *row = (const float *)(v + (uint64_t)j * v_stride);
        const __m512 pj = _mm512_set1_ps(p[j]);
        for (int c = 0; c < nv; c++)
            a[j & 1][c] = _mm512_fmadd_ps(pj, _mm512_loadu_ps(row + 16 * c), a[j & 1][c]);
    }
    for (int c = 0; c < nv; c++)
        _mm512_storeu_ps(out + 16 * c, _mm512_add_ps(a[0][c], a[1][c]));
}

/* Heads of up to 128 values at once, longer ones in 128-value slices. */
void rz_attn_sum_f32_avx512(int64_t head_dim, const float *p, const char *v, uint64_t v_stride,
                            uint32_t n_keys, float *out) {
    for (int64_t d = 0; d < head_dim; d += 128) {
        const int nv = head_dim - d >= 128 ? 8 : (int)(head_dim - d) / 16;
        const char *vd = v + d * (int64_t)sizeof(float);
        switch (nv) { /* constant register counts */
        case 8: sum_rows(8, p, vd, v_stride, n_keys, out + d); break;
        case 6: sum_rows(6, p, vd, v_stride, n_keys, out + d); break;
        case 4: sum_rows(4, p, vd, v_stride, n_keys, out + d); break;
        default:
            for (int c = 0; c < nv; c++)
                sum_rows(1, p, vd + 64 * c, v_stride, n_keys, out + d + 16 * c);
        }
    }
}
