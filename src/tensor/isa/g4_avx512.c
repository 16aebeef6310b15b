/* AVX-512 VNNI kernels of Q4_0_G4 weights times Q8_0_G4 activations
 * (tensor/quants_g4.h). Per 128-value group and weight row: one 64-byte load,
 * two masks and a shift give the low and high nibbles, two vpdpbusd seeded
 * with the activations' -8 correction give 16 int32 lanes (four per block),
 * and one multiply-add by the per-lane scales accumulates them in float —
 * about a third of the instructions of the Q4_0 kernels, which have to
 * gather 18-byte blocks and correct every block on the fly. */
#include <immintrin.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/gemm.h"
#include "tensor/quants_g4.h"

typedef struct nibbles {
    __m512i lo, hi;
    __m512 d; /* weight scale of each lane's block */
} nibbles;

static inline nibbles load_group(const rz_block_q4_0_g4 *g) {
    const __m512i mask = _mm512_set1_epi8(0x0f);
    const __m512i raw = _mm512_loadu_si512(g->qs);
    const __m128 d4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)g->d));
    const __m512i spread = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    return (nibbles){.lo = _mm512_and_si512(raw, mask),
                     .hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask),
                     .d = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d4))};
}

static inline __m512 group_dot(__m512 acc, const nibbles *w, const rz_block_q8_0_g4 *x) {
    __m512i dot = _mm512_loadu_si512(x->corr);
    dot = _mm512_dpbusd_epi32(dot, w->lo, _mm512_loadu_si512(x->lo));
    dot = _mm512_dpbusd_epi32(dot, w->hi, _mm512_loadu_si512(x->hi));
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(w->d, _mm512_loadu_ps(x->scale)), acc);
}

static inline void prefetch_group(const rz_block_q4_0_g4 *g, uint64_t ahead) {
    _mm_prefetch((const char *)g + ahead, _MM_HINT_T0);
    _mm_prefetch((const char *)g + ahead + 64, _MM_HINT_T0);
}

void rz_vec_dot_q4_0_g4_q8_0_g4_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                       const void *restrict vy) {
    const rz_block_q4_0_g4 *x = vx;
    const rz_block_q8_0_g4 *y = vy;
    const int64_t ng = n / RZ_QK_G4;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t g = 0;
    for (; g + 2 <= ng; g += 2) {
        prefetch_group(&x[g], PREFETCH_BYTES);
        const nibbles w0 = load_group(&x[g]), w1 = load_group(&x[g + 1]);
        a0 = group_dot(a0, &w0, &y[g]);
        a1 = group_dot(a1, &w1, &y[g + 1]);
    }
    if (g < ng) {
        const nibbles w0 = load_group(&x[g]);
        a0 = group_dot(a0, &w0, &y[g]);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
}

/* RZ_GEMM_TILE rows by RZ_GEMM_TILE_TOKENS tokens; rows and tokens past
 * nr / nt repeat the last one and are not stored. (Token generation stays on
 * vec_dot: four rows at once are four short interleaved streams, which read
 * DRAM at two thirds of the speed of one long one here.) */
void rz_gemm_tile_q4_0_g4_q8_0_g4_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                         uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    enum { NR = RZ_GEMM_TILE, NT = RZ_GEMM_TILE_TOKENS };
    const rz_block_q4_0_g4 *wr[NR];
    const rz_block_q8_0_g4 *xr[NT];
    for (int i = 0; i < NR; i++)
        wr[i] = (const rz_block_q4_0_g4 *)((const char *)w + (uint64_t)(i < nr ? i : nr - 1) * w_stride);
    for (int i = 0; i < NT; i++)
        xr[i] = (const rz_block_q8_0_g4 *)((const char *)x + (uint64_t)(i < nt ? i : nt - 1) * x_stride);
    __m512 acc[NR][NT];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++)
            acc[r][t] = _mm512_setzero_ps();
    const int64_t ng = n / RZ_QK_G4;
    for (int64_t g = 0; g < ng; g++) {
        nibbles q[NR];
        for (int r = 0; r < NR; r++) {
            prefetch_group(&wr[r][g], NR * w_stride); /* the next tile's rows */
            q[r] = load_group(&wr[r][g]);
        }
        for (int t = 0; t < NT; t++)
            for (int r = 0; r < NR; r++)
                acc[r][t] = group_dot(acc[r][t], &q[r], &xr[t][g]);
    }
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}
