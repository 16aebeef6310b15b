/* AVX2 kernels of the grouped weight layouts (tensor/quants_g4.h), without
 * VNNI: vpmaddubsw multiplies unsigned by signed bytes into int16 pairs and
 * vpmaddwd sums those into int32 lanes.
 *
 * Q4_0_G4: the nibbles are the unsigned operand; a low and a high nibble
 * product pair (at most 2 * 2 * 15 * 127) add up in int16 before one
 * vpmaddwd, and the lanes' offset correction (corr) is added in int32. A ymm
 * holds half a group (two blocks, four lanes each).
 *
 * Q8_0_G16: codes + 128 times int8 activations would overflow int16 pairs,
 * so the weights go back to signed codes w, and |w| times the activations
 * carrying w's sign is summed (corr is not needed). A ymm holds eight of the
 * group's blocks, one per lane from the first chunk to the last, so the
 * float work is one convert and multiply-add per eight blocks. */
#include <immintrin.h>
#include <string.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/gemm.h"
#include "tensor/quants_g4.h"

typedef struct half_group {
    __m256i lo, hi; /* unsigned codes matching the activations' lo / hi */
    __m256 d;       /* weight scale of each lane's block */
} half_group;

/* Half h of a Q4_0_G4 group: blocks 2h and 2h + 1. */
static inline half_group load_q4_0_g4_half(const rz_block_q4_0_g4 *g, int h) {
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const __m256i raw = _mm256_loadu_si256((const __m256i *)(g->qs + 32 * h));
    const __m256 d4 = _mm256_castps128_ps256(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)g->d)));
    return (half_group){
        .lo = _mm256_and_si256(raw, mask),
        .hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask),
        .d = _mm256_permutevar8x32_ps(
            d4, _mm256_setr_epi32(2 * h, 2 * h, 2 * h, 2 * h, 2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1))};
}

static inline __m256 half_group_dot(__m256 acc, const half_group *w, const rz_block_a8_g4 *x, int h) {
    const __m256i p =
        _mm256_add_epi16(_mm256_maddubs_epi16(w->lo, _mm256_loadu_si256((const __m256i *)(x->lo + 32 * h))),
                         _mm256_maddubs_epi16(w->hi, _mm256_loadu_si256((const __m256i *)(x->hi + 32 * h))));
    const __m256i dot = _mm256_add_epi32(_mm256_madd_epi16(p, _mm256_set1_epi16(1)),
                                         _mm256_loadu_si256((const __m256i *)(x->corr + 8 * h)));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(w->d, _mm256_loadu_ps(x->scale + 8 * h)),
                           acc);
}

void rz_vec_dot_q4_0_g4_a8_g4_avx2(int64_t n, float *restrict s, const void *restrict vx,
                                   const void *restrict vy) {
    const rz_block_q4_0_g4 *x = vx;
    const rz_block_a8_g4 *y = vy;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t g = 0; g < n / RZ_QK_G4; g++) {
        prefetch_bytes(&x[g], PREFETCH_BYTES, sizeof(rz_block_q4_0_g4));
        for (int h = 0; h < 2; h++) {
            const half_group w = load_q4_0_g4_half(&x[g], h);
            acc[h] = half_group_dot(acc[h], &w, &y[g], h);
        }
    }
    *s = hsum8(_mm256_add_ps(acc[0], acc[1]));
}

/* G4_ROWS x G4_TOKENS, half a group at a time; rows and tokens past nr / nt
 * repeat the last one and are not stored (the caller prefetches the next row
 * tile, as for the AVX-512 tile). */
enum { G4_ROWS = RZ_G4_AVX2_ROWS, G4_TOKENS = RZ_G4_AVX2_TOKENS };

void rz_gemm_tile_q4_0_g4_a8_g4_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    const rz_block_q4_0_g4 *wr[G4_ROWS];
    const rz_block_a8_g4 *xr[G4_TOKENS];
    for (int i = 0; i < G4_ROWS; i++)
        wr[i] = (const rz_block_q4_0_g4 *)((const char *)w + (uint64_t)(i < nr ? i : nr - 1) * w_stride);
    for (int i = 0; i < G4_TOKENS; i++)
        xr[i] = (const rz_block_a8_g4 *)((const char *)x + (uint64_t)(i < nt ? i : nt - 1) * x_stride);
    __m256 acc[G4_ROWS][G4_TOKENS];
    for (int r = 0; r < G4_ROWS; r++)
        for (int t = 0; t < G4_TOKENS; t++)
            acc[r][t] = _mm256_setzero_ps();
    for (int64_t g = 0; g < n / RZ_QK_G4; g++)
        for (int h = 0; h < 2; h++) {
            half_group q[G4_ROWS];
            for (int r = 0; r < G4_ROWS; r++)
                q[r] = load_q4_0_g4_half(&wr[r][g], h);
            for (int t = 0; t < G4_TOKENS; t++)
                for (int r = 0; r < G4_ROWS; r++)
                    acc[r][t] = half_group_dot(acc[r][t], &q[r], &xr[t][g], h);
        }
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = hsum8(acc[r][t]);
}

/* Q8_0_G16 x A8_G16. A group of m blocks: chunk v of the weights (4m bytes)
 * and of the activations at 4m * v, the weights' fp16 scales at 32m, the
 * activations' float scales at 36m. Half h of a chunk is the lanes of blocks
 * 8h..8h+7; in a short group (m < 16) lanes past m load as zeros. The kernels
 * call these with m a constant 16 for whole groups, which drops the masks. */
static inline __m256i g16_lanes(int m, int h) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(m - 8 * h), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __m256i g16_chunk(const uint8_t *g, int m, int v, int h) {
    const uint8_t *p = g + 4 * m * v + 32 * h;
    if (m == RZ_G16_BLOCKS) return _mm256_loadu_si256((const __m256i *)p);
    return _mm256_maskload_epi32((const int *)(const void *)p, g16_lanes(m, h));
}

static inline __m256 g16_weight_scales(const uint8_t *w, int m, int h) {
    rz_fp16 d[8] = {0};
    const int k = m - 8 * h < 8 ? m - 8 * h : 8;
    memcpy(d, w + 32 * m + 16 * h, 2 * (size_t)k);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d));
}

static inline __m256 g16_act_scales(const uint8_t *x, int m, int h) {
    const float *p = (const float *)(const void *)(x + 36 * m) + 8 * h;
    if (m == RZ_G16_BLOCKS) return _mm256_loadu_ps(p);
    return _mm256_maskload_ps(p, g16_lanes(m, h));
}

/* Signed weight codes (the stored codes are + 128). */
static inline __m256i g16_signed(__m256i u) { return _mm256_xor_si256(u, _mm256_set1_epi8((char)0x80)); }

/* dot + the int32 lane sums of w * x, given |w| and w. */
static inline __m256i g16_dot(__m256i dot, __m256i abs_w, __m256i w, __m256i x) {
    return _mm256_add_epi32(
        dot, _mm256_madd_epi16(_mm256_maddubs_epi16(abs_w, _mm256_sign_epi8(x, w)), _mm256_set1_epi16(1)));
}

/* Half h of one group of one row; two dot chains. */
static inline __attribute__((always_inline)) __m256 g16_row_step(__m256 acc, const uint8_t *w,
                                                                 const uint8_t *x, int m, int h) {
    __m256i d[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
    for (int v = 0; v < 8; v++) {
        const __m256i wv = g16_signed(g16_chunk(w, m, v, h));
        d[v & 1] = g16_dot(d[v & 1], _mm256_abs_epi8(wv), wv, g16_chunk(x, m, v, h));
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(d[0], d[1])),
                           _mm256_mul_ps(g16_weight_scales(w, m, h), g16_act_scales(x, m, h)), acc);
}

void rz_vec_dot_q8_0_g16_a8_g16_avx2(int64_t n, float *restrict s, const void *restrict vx,
                                     const void *restrict vy) {
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / 32;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t b = 0;
    for (; b + RZ_G16_BLOCKS <= nb; b += RZ_G16_BLOCKS) {
        prefetch_bytes_twice(x + 34 * b, PREFETCH_BYTES, 34 * RZ_G16_BLOCKS);
        for (int h = 0; h < 2; h++)
            acc[h] = g16_row_step(acc[h], x + 34 * b, y + RZ_A8_G16_BLOCK_BYTES * b, RZ_G16_BLOCKS, h);
    }
    for (int h = 0; 8 * h < nb - b; h++)
        acc[h] = g16_row_step(acc[h], x + 34 * b, y + RZ_A8_G16_BLOCK_BYTES * b, (int)(nb - b), h);
    *s = hsum8(_mm256_add_ps(acc[0], acc[1]));
}

/* G16_ROWS x G16_TOKENS: the eight chunks of a half group go through every
 * (row, token) pair's int32 dot before the float work. */
enum { G16_ROWS = RZ_G16_AVX2_ROWS, G16_TOKENS = RZ_G16_AVX2_TOKENS };

static inline __attribute__((always_inline)) void g16_tile_step(__m256 acc[G16_ROWS][G16_TOKENS],
                                                                const uint8_t *const w[G16_ROWS],
                                                                const uint8_t *const x[G16_TOKENS], int64_t b,
                                                                int m, int h) {
    __m256i dot[G16_ROWS][G16_TOKENS];
    for (int r = 0; r < G16_ROWS; r++)
        for (int t = 0; t < G16_TOKENS; t++)
            dot[r][t] = _mm256_setzero_si256();
    for (int v = 0; v < 8; v++) {
        __m256i wv[G16_ROWS], aw[G16_ROWS];
        for (int r = 0; r < G16_ROWS; r++) {
            wv[r] = g16_signed(g16_chunk(w[r] + 34 * b, m, v, h));
            aw[r] = _mm256_abs_epi8(wv[r]);
        }
        for (int t = 0; t < G16_TOKENS; t++) {
            const __m256i xv = g16_chunk(x[t] + RZ_A8_G16_BLOCK_BYTES * b, m, v, h);
            for (int r = 0; r < G16_ROWS; r++)
                dot[r][t] = g16_dot(dot[r][t], aw[r], wv[r], xv);
        }
    }
    for (int r = 0; r < G16_ROWS; r++) {
        const __m256 dw = g16_weight_scales(w[r] + 34 * b, m, h);
        for (int t = 0; t < G16_TOKENS; t++)
            acc[r][t] = _mm256_fmadd_ps(
                _mm256_cvtepi32_ps(dot[r][t]),
                _mm256_mul_ps(dw, g16_act_scales(x[t] + RZ_A8_G16_BLOCK_BYTES * b, m, h)), acc[r][t]);
    }
}

void rz_gemm_tile_q8_0_g16_a8_g16_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                       uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    const uint8_t *wr[G16_ROWS], *xr[G16_TOKENS];
    for (int i = 0; i < G16_ROWS; i++)
        wr[i] = (const uint8_t *)w + (uint64_t)(i < nr ? i : nr - 1) * w_stride;
    for (int i = 0; i < G16_TOKENS; i++)
        xr[i] = (const uint8_t *)x + (uint64_t)(i < nt ? i : nt - 1) * x_stride;
    __m256 acc[G16_ROWS][G16_TOKENS];
    for (int r = 0; r < G16_ROWS; r++)
        for (int t = 0; t < G16_TOKENS; t++)
            acc[r][t] = _mm256_setzero_ps();
    const int64_t nb = n / 32;
    int64_t b = 0;
    for (; b + RZ_G16_BLOCKS <= nb; b += RZ_G16_BLOCKS)
        for (int h = 0; h < 2; h++)
            g16_tile_step(acc, wr, xr, b, RZ_G16_BLOCKS, h);
    for (int h = 0; 8 * h < nb - b; h++)
        g16_tile_step(acc, wr, xr, b, (int)(nb - b), h);
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = hsum8(acc[r][t]);
}
