/* AVX-512 VNNI kernels of the grouped weight layouts (Q4_0_G4, Q8_0_G4) times
 * A8_G4 activations (tensor/quants_g4.h). Per 128-value group and weight
 * row: the weight codes come as two 64-byte vectors of unsigned bytes
 * (Q4_0_G4: one load, two masks and a shift; Q8_0_G4: two loads), two
 * vpdpbusd seeded with the activations' offset correction give 16 int32
 * lanes (four per block), and one multiply-add by the per-lane scales
 * accumulates them in float: about a third of the instructions of the kernels
 * on the stored layouts, which gather 18/34-byte blocks and correct every
 * block on the fly. */
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

static inline group load_q8_0_g4(const rz_block_q8_0_g4 *g) {
    return (group){
        .lo = _mm512_loadu_si512(g->lo), .hi = _mm512_loadu_si512(g->hi), .d = spread_scales(g->d)};
}

/* Offset corrections: Q4_0 codes are value + 8, Q8_0_G4 codes value + 128. */
static inline __m512i seed_q4_0_g4(const rz_block_a8_g4 *x) { return _mm512_loadu_si512(x->corr); }
static inline __m512i seed_q8_0_g4(const rz_block_a8_g4 *x) {
    return _mm512_slli_epi32(_mm512_loadu_si512(x->corr), 4);
}

static inline __m512 group_dot(__m512 acc, const group *w, __m512i seed, const rz_block_a8_g4 *x) {
    __m512i dot = _mm512_dpbusd_epi32(seed, w->lo, _mm512_loadu_si512(x->lo));
    dot = _mm512_dpbusd_epi32(dot, w->hi, _mm512_loadu_si512(x->hi));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(w->d, _mm512_loadu_ps(x->scale)), acc);
}

/* The Q4_0_G4 GEMV works on ymm halves of each group (blocks 0-1 and 2-3):
 * with zmm vpdpbusd this dense (72 bytes per group) its rows of 2048 streamed
 * about 4 % slower here (bench_dot), as loops dense in 512-bit integer
 * multiplies do on this machine; Q8_0_G4's (136 bytes) streamed faster on
 * zmm. */
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

/* One row; two groups per step, each with its own accumulator. */
#define G4_VEC_DOT(WTYPE, LOAD, SEED)                                                                        \
    const WTYPE *x = vx;                                                                                     \
    const rz_block_a8_g4 *y = vy;                                                                            \
    const int64_t ng = n / RZ_QK_G4;                                                                         \
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();                                               \
    int64_t g = 0;                                                                                           \
    for (; g + 2 <= ng; g += 2) {                                                                            \
        prefetch_bytes(&x[g], PREFETCH_BYTES, 2 * sizeof(WTYPE));                                            \
        const group w0 = LOAD(&x[g]), w1 = LOAD(&x[g + 1]);                                                  \
        a0 = group_dot(a0, &w0, SEED(&y[g]), &y[g]);                                                         \
        a1 = group_dot(a1, &w1, SEED(&y[g + 1]), &y[g + 1]);                                                 \
    }                                                                                                        \
    if (g < ng) {                                                                                            \
        const group w0 = LOAD(&x[g]);                                                                        \
        a0 = group_dot(a0, &w0, SEED(&y[g]), &y[g]);                                                         \
    }                                                                                                        \
    *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1))

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

void rz_vec_dot_q8_0_g4_a8_g4_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                     const void *restrict vy) {
    G4_VEC_DOT(rz_block_q8_0_g4, load_q8_0_g4, seed_q8_0_g4);
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

void rz_gemm_tile_q8_0_g4_a8_g4_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                       uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    G4_TILE(rz_block_q8_0_g4, load_q8_0_g4, seed_q8_0_g4, RZ_Q8_0_G4_TILE_ROWS, RZ_Q8_0_G4_TILE_TOKENS);
}
