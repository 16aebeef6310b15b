/* AVX2 kernels of Q4_K_G weights times A8_K activations (tensor/quants_kg.h),
 * without VNNI: the AVX-512 kernels' scheme (kg_avx512.c) on ymm halves of a
 * block, with vpmaddubsw pairs summed in int16 (four of them, at most
 * 4 * 2 * 15 * 128, fit) before one vpmaddwd stands for four vpdpbusd. The
 * scales and mins (vpmultishiftqb there) come from one vpshufb of the block's
 * 16-byte tail and one variable shift per half. */
#include <immintrin.h>
#include <string.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/gemm.h"
#include "tensor/quants_kg.h"

void rz_quantize_row_a8_k_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_a8_k *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float *x = src + b * RZ_QK_K;
        memset(&y[b], 0, sizeof y[b]);
        const float iscale = q8_K_iscale(x);
        if (iscale == 0.0f) continue;
        for (int g = 0; g < 8; g++) {
            __m256i q[4];
            const __m256i bytes = q8_K_codes32(x + 32 * g, iscale, q);
            /* Codes 8v.. of the sub-block go to qs[64v + 8g ..]. */
            int64_t part[4];
            memcpy(part, &bytes, sizeof part);
            for (int v = 0; v < 4; v++)
                memcpy(y[b].qs + 64 * v + 8 * g, &part[v], 8);
            const __m256i sum = _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3]));
            y[b].msums[4 * (g / 2) + 2 * (g % 2)] = -hsum_epi32(sum);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* Half h of a decoded block (sub-blocks 4h..4h+3). */
typedef struct kg_half {
    __m256i codes[4]; /* codes[v]: codes 8v..8v+7 of each sub-block, 8 bytes a sub-block */
    __m256i sm;       /* int16 words per 128-bit lane: sc_a twice, sc_b twice, m_a, (any), m_b, (any) */
} kg_half;

/* Scales and mins of sub-blocks 4h..4h+3 as kg_half.sm. The 24 bits of each
 * half's 6-bit fields go to every 32-bit lane (scales, scales, mins, mins
 * per 128-bit lane), a variable shift brings each lane's field down, and the
 * scales are doubled into both words. The words against the zero lanes of
 * the activations' msums are left holding a copy of the min. */
static inline __m256i sm_half(const rz_block_q4_k_g *b, int h) {
    const __m256i tail = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->sc));
    const char s = (char)(3 * h), m = (char)(8 + 3 * h), z = (char)0x80;
    const __m256i spread =
        _mm256_setr_epi8(s, s + 1, s + 2, z, s, s + 1, s + 2, z, m, m + 1, m + 2, z, m, m + 1, m + 2, z, s,
                         s + 1, s + 2, z, s, s + 1, s + 2, z, m, m + 1, m + 2, z, m, m + 1, m + 2, z);
    const __m256i fields = _mm256_and_si256(
        _mm256_srlv_epi32(_mm256_shuffle_epi8(tail, spread), _mm256_setr_epi32(0, 6, 0, 6, 12, 18, 12, 18)),
        _mm256_set1_epi32(63));
    return _mm256_or_si256(fields, _mm256_slli_epi32(fields, 16));
}

/* d, d, dmin, dmin, twice. */
static inline __m256 d_lanes(const rz_block_q4_k_g *b) {
    const __m128i d_words = _mm_setr_epi8(6, 7, 6, 7, 14, 15, 14, 15, 6, 7, 6, 7, 14, 15, 14, 15);
    return _mm256_cvtph_ps(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)b->sc), d_words));
}

static inline kg_half kg_load_half(const rz_block_q4_k_g *b, int h) {
    const __m256i low4 = _mm256_set1_epi8(15);
    kg_half w;
    for (int r = 0; r < 2; r++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(b->qs + 64 * r + 32 * h));
        w.codes[2 * r] = _mm256_and_si256(raw, low4);
        w.codes[2 * r + 1] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);
    }
    w.sm = sm_half(b, h);
    return w;
}

/* Int32 lanes sc * isum and m * msum of half h's four sub-blocks (at most
 * 63 * 32 * 15 * 128 < 2^22 in magnitude, so two halves add up exactly and
 * convert to float exactly). Lanes of dot hold at most 16 * 15 * 128: the
 * pack is exact. */
static inline __m256i kg_half_sums(const kg_half *w, const rz_block_a8_k *y, int h) {
    const __m256i p01 = _mm256_add_epi16(
        _mm256_maddubs_epi16(w->codes[0], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * h))),
        _mm256_maddubs_epi16(w->codes[1], _mm256_loadu_si256((const __m256i *)(y->qs + 64 + 32 * h))));
    const __m256i p23 = _mm256_add_epi16(
        _mm256_maddubs_epi16(w->codes[2], _mm256_loadu_si256((const __m256i *)(y->qs + 128 + 32 * h))),
        _mm256_maddubs_epi16(w->codes[3], _mm256_loadu_si256((const __m256i *)(y->qs + 192 + 32 * h))));
    const __m256i dot = _mm256_madd_epi16(_mm256_add_epi16(p01, p23), _mm256_set1_epi16(1));
    return _mm256_madd_epi16(_mm256_packs_epi32(dot, _mm256_loadu_si256((const __m256i *)(y->msums + 8 * h))),
                             w->sm);
}

void rz_vec_dot_q4_k_g_a8_k_avx2(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    const rz_block_q4_k_g *x = vx;
    const rz_block_a8_k *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        prefetch_bytes(&x[b], PREFETCH_BYTES, sizeof *x);
        const kg_half w0 = kg_load_half(&x[b], 0);
        const kg_half w1 = kg_load_half(&x[b], 1);
        const __m256i sums = _mm256_add_epi32(kg_half_sums(&w0, &y[b], 0), kg_half_sums(&w1, &y[b], 1));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(d_lanes(&x[b]), _mm256_set1_ps(y[b].d)),
                              acc);
    }
    *s = hsum8(acc);
}

/* One weight row at a time against RZ_KG_AVX2_TOKENS tokens: a decoded half
 * block takes five registers, the tokens' int sums one each, and the float
 * accumulators (rows x tokens) the rest of the sixteen. */
void rz_gemm_tile_q4_k_g_a8_k_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    enum { NR = RZ_KG_AVX2_ROWS, NT = RZ_KG_AVX2_TOKENS };
    const rz_block_q4_k_g *wr[NR];
    const rz_block_a8_k *xr[NT];
    for (int i = 0; i < NR; i++)
        wr[i] = (const rz_block_q4_k_g *)((const char *)w + (uint64_t)(i < nr ? i : nr - 1) * w_stride);
    for (int i = 0; i < NT; i++)
        xr[i] = (const rz_block_a8_k *)((const char *)x + (uint64_t)(i < nt ? i : nt - 1) * x_stride);
    __m256 acc[NR][NT];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++)
            acc[r][t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_K; b++)
        for (int r = 0; r < NR; r++) {
            prefetch_bytes(&wr[r][b], NR * w_stride, sizeof(rz_block_q4_k_g));
            __m256i sums[NT];
            const kg_half w0 = kg_load_half(&wr[r][b], 0);
            for (int t = 0; t < NT; t++)
                sums[t] = kg_half_sums(&w0, &xr[t][b], 0);
            const kg_half w1 = kg_load_half(&wr[r][b], 1);
            for (int t = 0; t < NT; t++)
                sums[t] = _mm256_add_epi32(sums[t], kg_half_sums(&w1, &xr[t][b], 1));
            const __m256 d = d_lanes(&wr[r][b]);
            for (int t = 0; t < NT; t++)
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums[t]),
                                            _mm256_mul_ps(d, _mm256_set1_ps(xr[t][b].d)), acc[r][t]);
        }
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = hsum8(acc[r][t]);
}
