/* AVX-512 VNNI kernels of the grouped weight layouts (tensor/quants_g4.h).
 * Q4_0_G4 times A8_G4, per 128-value group and weight row: the weight codes
 * come as two 64-byte vectors of unsigned bytes (one load, two masks and a
 * shift), two vpdpbusd seeded with the activations' offset correction give 16
 * int32 lanes (four per block), and one multiply-add by the per-lane scales
 * accumulates them in float: about a third of the instructions of the kernels
 * on the stored layouts, which gather 18/34-byte blocks and correct every
 * block on the fly. Q8_0_G16 times A8_G16 goes further: eight vpdpbusd over a
 * group of 16 blocks leave one whole block in each lane. */
#include <immintrin.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/gemm.h"
#include "tensor/quants_g4.h"

typedef struct group {
    __m512i lo, hi; /* unsigned codes matching the activations' lo / hi */
    __m512 d;       /* weight scale of each lane's block */
} group;

static inline __m512 spread_scales(const rz_fp16 d[4]) {
    const __m128 d4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)d));
    const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d4));
}

static inline group load_q4_0_g4(const rz_block_q4_0_g4 *g) {
    const __m512i mask = _mm512_set1_epi8(0x0f);
    const __m512i raw = _mm512_loadu_si512(g->qs);
    return (group){.lo = _mm512_and_si512(raw, mask),
                   .hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask),
                   .d = spread_scales(g->d)};
}

/* Offset correction: Q4_0 codes are value + 8. */
static inline __m512i seed_q4_0_g4(const rz_block_a8_g4 *x) { return _mm512_loadu_si512(x->corr); }

static inline __m512 group_dot(__m512 acc, const group *w, __m512i seed, const rz_block_a8_g4 *x) {
    __m512i dot = _mm512_dpbusd_epi32(seed, w->lo, _mm512_loadu_si512(x->lo));
    dot = _mm512_dpbusd_epi32(dot, w->hi, _mm512_loadu_si512(x->hi));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(w->d, _mm512_loadu_ps(x->scale)), acc);
}

/* The Q4_0_G4 GEMV works on ymm halves of each group (blocks 0-1 and 2-3):
 * with zmm vpdpbusd this dense (72 bytes per group) its rows of 2048 streamed
 * about 4 % slower here (bench_dot), as loops dense in 512-bit integer
 * multiplies do on this machine. */
typedef struct half_group {
    __m256i lo, hi;
    __m256 d;
} half_group;

/* Scales of blocks 2h and 2h + 1, four lanes each. */
static inline __m256 spread_scales_half(const rz_fp16 d[4], int h) {
    const __m128 d4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)d));
    const __m256i spread =
        _mm256_setr_epi32(2 * h, 2 * h, 2 * h, 2 * h, 2 * h + 1, 2 * h + 1, 2 * h + 1, 2 * h + 1);
    return _mm256_permutexvar_ps(spread, _mm256_castps128_ps256(d4));
}

static inline half_group load_q4_0_g4_half(const rz_block_q4_0_g4 *g, int h) {
    const __m256i mask = _mm256_set1_epi8(0x0f);
    const __m256i raw = _mm256_loadu_si256((const __m256i *)(g->qs + 32 * h));
    return (half_group){.lo = _mm256_and_si256(raw, mask),
                        .hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask),
                        .d = spread_scales_half(g->d, h)};
}

static inline __m256i seed_q4_0_g4_half(const rz_block_a8_g4 *x, int h) {
    return _mm256_loadu_si256((const __m256i *)(x->corr + 8 * h));
}
static inline __m256 half_group_dot(__m256 acc, const half_group *w, __m256i seed, const rz_block_a8_g4 *x,
                                    int h) {
    __m256i dot = _mm256_dpbusd_epi32(seed, w->lo, _mm256_loadu_si256((const __m256i *)(x->lo + 32 * h)));
    dot = _mm256_dpbusd_epi32(dot, w->hi, _mm256_loadu_si256((const __m256i *)(x->hi + 32 * h)));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(w->d, _mm256_loadu_ps(x->scale + 8 * h)),
                           acc);
}

void rz_vec_dot_q4_0_g4_a8_g4_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                     const void *restrict vy) {
    /* a group per step, each half with its own accumulator */
    const rz_block_q4_0_g4 *x = vx;
    const rz_block_a8_g4 *y = vy;
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t g = 0; g < n / RZ_QK_G4; g++) {
        prefetch_bytes(&x[g], PREFETCH_BYTES, sizeof(rz_block_q4_0_g4));
        for (int h = 0; h < 2; h++) {
            const half_group w = load_q4_0_g4_half(&x[g], h);
            acc[h] = half_group_dot(acc[h], &w, seed_q4_0_g4_half(&y[g], h), &y[g], h);
        }
    }
    *s = hsum8(_mm256_add_ps(acc[0], acc[1]));
}

/* NR_ rows by NT_ tokens; rows and tokens past
 * nr / nt repeat the last one and are not stored. The next row tile is
 * prefetched by the caller (run_tiles), once per row tile rather than once
 * per token tile, which cost about a fifth of the tile's time here. (Token
 * generation stays on vec_dot: four rows at once read DRAM at two thirds of
 * the speed of one long stream here.) */
#define G4_TILE(WTYPE, LOAD, SEED, NR_, NT_)                                                                 \
    enum { NR = NR_, NT = NT_ };                                                                             \
    const WTYPE *wr[NR];                                                                                     \
    const rz_block_a8_g4 *xr[NT];                                                                            \
    for (int i = 0; i < NR; i++)                                                                             \
        wr[i] = (const WTYPE *)((const char *)w + (uint64_t)(i < nr ? i : nr - 1) * w_stride);               \
    for (int i = 0; i < NT; i++)                                                                             \
        xr[i] = (const rz_block_a8_g4 *)((const char *)x + (uint64_t)(i < nt ? i : nt - 1) * x_stride);      \
    __m512 acc[NR][NT];                                                                                      \
    for (int r = 0; r < NR; r++)                                                                             \
        for (int t = 0; t < NT; t++)                                                                         \
            acc[r][t] = _mm512_setzero_ps();                                                                 \
    const int64_t ng = n / RZ_QK_G4;                                                                         \
    for (int64_t g = 0; g < ng; g++) {                                                                       \
        group q[NR];                                                                                         \
        for (int r = 0; r < NR; r++)                                                                         \
            q[r] = LOAD(&wr[r][g]);                                                                          \
        for (int t = 0; t < NT; t++) {                                                                       \
            const __m512i seed = SEED(&xr[t][g]);                                                            \
            for (int r = 0; r < NR; r++)                                                                     \
                acc[r][t] = group_dot(acc[r][t], &q[r], seed, &xr[t][g]);                                    \
        }                                                                                                    \
    }                                                                                                        \
    for (int t = 0; t < nt; t++)                                                                             \
        for (int r = 0; r < nr; r++)                                                                         \
    y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t])

void rz_gemm_tile_q4_0_g4_a8_g4_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                       uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    G4_TILE(rz_block_q4_0_g4, load_q4_0_g4, seed_q4_0_g4, RZ_GEMM_TILE, RZ_GEMM_TILE_TOKENS);
}

/* Q8_0_G16 x A8_G16 (quants_g4.h). A group of m blocks: chunk v of the
 * weights (4m bytes) and of the activations at 4m * v; the activations' corr
 * at 32m, scale at 36m; the weights' fp16 scales at 32m. Lanes past m load as
 * zeros and add nothing. */
static inline __mmask64 g16_chunk_mask(int m) { return m == RZ_G16_BLOCKS ? ~0ull : (1ull << (4 * m)) - 1; }
static inline __mmask16 g16_lane_mask(int m) { return (__mmask16)((1u << m) - 1); }

static inline __m512i g16_chunk(const uint8_t *g, int m, int v) {
    return _mm512_maskz_loadu_epi8(g16_chunk_mask(m), g + 4 * m * v);
}

/* Each block's scale in its lane: d_w of the weights, d_x of the activations. */
static inline __m512 g16_weight_scales(const uint8_t *w, int m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(g16_lane_mask(m), w + 32 * m));
}
static inline __m512 g16_act_scales(const uint8_t *x, int m) {
    return _mm512_maskz_loadu_ps(g16_lane_mask(m), x + 36 * m);
}

static inline __m512i g16_corr(const uint8_t *x, int m) {
    return _mm512_maskz_loadu_epi32(g16_lane_mask(m), x + 32 * m);
}

/* One group of one row; two dot chains so that the eight vpdpbusd do not
 * wait on each other. */
static inline __m512 g16_row_step(__m512 acc, const uint8_t *w, const uint8_t *x, int m) {
    __m512i d0 = g16_corr(x, m), d1 = _mm512_setzero_si512();
    for (int v = 0; v < 8; v += 2) {
        d0 = _mm512_dpbusd_epi32(d0, g16_chunk(w, m, v), g16_chunk(x, m, v));
        d1 = _mm512_dpbusd_epi32(d1, g16_chunk(w, m, v + 1), g16_chunk(x, m, v + 1));
    }
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(d0, d1)),
                           _mm512_mul_ps(g16_weight_scales(w, m), g16_act_scales(x, m)), acc);
}

void rz_vec_dot_q8_0_g16_a8_g16_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                       const void *restrict vy) {
    const uint8_t *x = vx, *y = vy;
    const int64_t nb = n / 32;
    __m512 acc = _mm512_setzero_ps();
    int64_t b = 0;
    for (; b + RZ_G16_BLOCKS <= nb; b += RZ_G16_BLOCKS) {
        /* one prefetch per line streamed 4-7 % slower (docs/layouts.md) */
        prefetch_bytes_twice(x + 34 * b, PREFETCH_BYTES, 34 * RZ_G16_BLOCKS);
        acc = g16_row_step(acc, x + 34 * b, y + RZ_A8_G16_BLOCK_BYTES * b, RZ_G16_BLOCKS);
    }
    if (b < nb) acc = g16_row_step(acc, x + 34 * b, y + RZ_A8_G16_BLOCK_BYTES * b, (int)(nb - b));
    *s = _mm512_reduce_add_ps(acc);
}

/* Tile of G16_ROWS x G16_TOKENS: the eight chunks of a group go through every
 * (row, token) pair's int32 dot before the float work (4 x 3 measured
 * fastest in cache: 0.65 ns per 128 values against 0.70 for 4 x 4, 0.71 for
 * 6 x 2, 0.85 for 5 x 3). Rows and tokens past nr / nt repeat the last one
 * and are not stored. */
enum { G16_ROWS = RZ_GEMM_TILE, G16_TOKENS = RZ_GEMM_TILE_TOKENS };

static inline __attribute__((always_inline)) void g16_tile_step(__m512 acc[G16_ROWS][G16_TOKENS],
                                                                const uint8_t *const w[G16_ROWS],
                                                                const uint8_t *const x[G16_TOKENS], int64_t b,
                                                                int m) {
    __m512i dot[G16_ROWS][G16_TOKENS];
    for (int t = 0; t < G16_TOKENS; t++) {
        const __m512i corr = g16_corr(x[t] + RZ_A8_G16_BLOCK_BYTES * b, m);
        for (int r = 0; r < G16_ROWS; r++)
            dot[r][t] = corr;
    }
    for (int v = 0; v < 8; v++) {
        __m512i wv[G16_ROWS];
        for (int r = 0; r < G16_ROWS; r++)
            wv[r] = g16_chunk(w[r] + 34 * b, m, v);
        for (int t = 0; t < G16_TOKENS; t++) {
            const __m512i xv = g16_chunk(x[t] + RZ_A8_G16_BLOCK_BYTES * b, m, v);
            for (int r = 0; r < G16_ROWS; r++)
                dot[r][t] = _mm512_dpbusd_epi32(dot[r][t], wv[r], xv);
        }
    }
    for (int r = 0; r < G16_ROWS; r++) {
        const __m512 dw = g16_weight_scales(w[r] + 34 * b, m); /* once per row, not per pair */
        for (int t = 0; t < G16_TOKENS; t++)
            acc[r][t] = _mm512_fmadd_ps(
                _mm512_cvtepi32_ps(dot[r][t]),
                _mm512_mul_ps(dw, g16_act_scales(x[t] + RZ_A8_G16_BLOCK_BYTES * b, m)), acc[r][t]);
    }
}

void rz_gemm_tile_q8_0_g16_a8_g16_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                         uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    const uint8_t *wr[G16_ROWS], *xr[G16_TOKENS];
    for (int i = 0; i < G16_ROWS; i++)
        wr[i] = (const uint8_t *)w + (uint64_t)(i < nr ? i : nr - 1) * w_stride;
    for (int i = 0; i < G16_TOKENS; i++)
        xr[i] = (const uint8_t *)x + (uint64_t)(i < nt ? i : nt - 1) * x_stride;
    __m512 acc[G16_ROWS][G16_TOKENS];
    for (int r = 0; r < G16_ROWS; r++)
        for (int t = 0; t < G16_TOKENS; t++)
            acc[r][t] = _mm512_setzero_ps();
    const int64_t nb = n / 32;
    int64_t b = 0;
    for (; b + RZ_G16_BLOCKS <= nb; b += RZ_G16_BLOCKS)
        g16_tile_step(acc, wr, xr, b, RZ_G16_BLOCKS);
    if (b < nb) g16_tile_step(acc, wr, xr, b, (int)(nb - b));
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}
