/* AVX-512 VNNI kernels of Q4_K_G weights times A8_K activations
 * (tensor/quants_kg.h). Per 256-value block and weight row: two 64-byte
 * loads and masks give four vectors of codes and four chained vpdpbusd
 * their products with the activations, two 32-bit lanes per sub-block
 * (sums of 16 codes: they fit int16). One vpackssdw joins them with the
 * activations' negated sub-block sums, one vpmaddwd weighs both by the
 * scales and mins (spread over the lanes by one vpmultishiftqb), and one
 * float multiply-add by d or dmin per lane, times the activation scale,
 * accumulates: about 23 instructions per block, against about 100 in the
 * kernel on the stored Q4_K blocks. The GEMV does the same on ymm halves. */
#include <immintrin.h>
#include <string.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/gemm.h"
#include "tensor/quants_kg.h"

void rz_quantize_row_a8_k_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_a8_k *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float *x = src + b * RZ_QK_K;
        memset(&y[b], 0, sizeof y[b]);
        /* NaNs never win the maximum (|x| goes first), as in the scalar
         * quantizer. */
        __m512 amax_v = _mm512_setzero_ps();
        for (int i = 0; i < RZ_QK_K; i += 16)
            amax_v = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + i)), amax_v);
        const float amax = _mm512_reduce_max_ps(amax_v);
        if (amax == 0.0f) continue;
        /* The first value of largest magnitude, with its sign. */
        float max = 0.0f;
        for (int i = 0; i < RZ_QK_K; i += 16) {
            const __mmask16 hit =
                _mm512_cmpeq_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + i)), _mm512_set1_ps(amax));
            if (hit) {
                max = x[i + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        for (int g = 0; g < 8; g++) {
            __m512i sum = _mm512_setzero_si512();
            for (int k = 0; k < 2; k++) {
                __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + 32 * g + 16 * k), _mm512_set1_ps(iscale));
                v = _mm512_max_ps(_mm512_min_ps(v, _mm512_set1_ps(127.0f)), _mm512_set1_ps(-128.0f));
                const __m512i q = _mm512_cvtps_epi32(v); /* nearest-even, as lrintf */
                const __m128i codes = _mm512_cvtsepi32_epi8(q);
                _mm_storel_epi64((__m128i *)(y[b].qs + rz_a8_k_index(g, 16 * k)), codes);
                _mm_storel_epi64((__m128i *)(y[b].qs + rz_a8_k_index(g, 16 * k + 8)),
                                 _mm_unpackhi_epi64(codes, codes));
                sum = _mm512_add_epi32(sum, q);
            }
            y[b].msums[4 * (g / 2) + 2 * (g % 2)] = -_mm512_reduce_add_epi32(sum);
        }
        y[b].d = 1.0f / iscale;
    }
}

/* One weight block, decoded. */
typedef struct kg_block {
    __m512i codes[4]; /* codes[v]: codes 8v..8v+7 of sub-block g in bytes 8g.. */
    __m512i sm;       /* int16 words per 128-bit lane k: sc_2k twice, sc_2k+1 twice, m_2k, -, m_2k+1, - */
    __m512 d;         /* per 128-bit lane: d, d, dmin, dmin */
} kg_block;

/* vpmultishiftqb offsets that make sm from the 16-byte tail broadcast to
 * every 128-bit lane (scales in its low, mins in its high 64-bit word). */
static inline __m512i sm_offsets(void) {
#define KG_SC(g) ((uint64_t)(6 * (g)) * 0x10001ull + (uint64_t)(6 * (g) + 6) * 0x1000100000000ull)
#define KG_M(g)  ((uint64_t)(6 * (g)) + ((uint64_t)(6 * (g) + 6) << 32))
    return _mm512_set_epi64((long long)KG_M(6), (long long)KG_SC(6), (long long)KG_M(4), (long long)KG_SC(4),
                            (long long)KG_M(2), (long long)KG_SC(2), (long long)KG_M(0), (long long)KG_SC(0));
#undef KG_SC
#undef KG_M
}

/* d, d, dmin, dmin, twice: kg_block.d for one 256-bit half. */
static inline __m256 d_lanes(const rz_block_q4_k_g *b) {
    const __m128i d_words = _mm_setr_epi8(6, 7, 6, 7, 14, 15, 14, 15, 6, 7, 6, 7, 14, 15, 14, 15);
    return _mm256_cvtph_ps(_mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)b->sc), d_words));
}

/* Scales and mins of a block as int16 words, laid out as kg_block.sm. */
static inline __m512i sm_of(const rz_block_q4_k_g *b) {
    const __m512i tail = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)b->sc));
    return _mm512_and_si512(_mm512_multishift_epi64_epi8(sm_offsets(), tail), _mm512_set1_epi16(63));
}

static inline kg_block kg_load(const rz_block_q4_k_g *b) {
    const __m512i low4 = _mm512_set1_epi8(15);
    kg_block w;
    for (int r = 0; r < 2; r++) {
        const __m512i raw = _mm512_loadu_si512(b->qs + 64 * r);
        w.codes[2 * r] = _mm512_and_si512(raw, low4);
        w.codes[2 * r + 1] = _mm512_and_si512(_mm512_srli_epi16(raw, 4), low4);
    }
    w.sm = sm_of(b);
    w.d = _mm512_broadcast_f32x8(d_lanes(b));
    return w;
}

/* acc + d_x d_y isum - dmin_x d_y msum, spread over the lanes. The lanes
 * of dot hold at most 16 * 15 * 128 in magnitude (the pack is exact), those
 * of sums less than 2^24 (so is their conversion). */
static inline __m512 kg_dot(__m512 acc, const kg_block *w, const rz_block_a8_k *y) {
    __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w->codes[0], _mm512_loadu_si512(y->qs));
    for (int v = 1; v < 4; v++)
        dot = _mm512_dpbusd_epi32(dot, w->codes[v], _mm512_loadu_si512(y->qs + 64 * v));
    const __m512i sums = _mm512_madd_epi16(_mm512_packs_epi32(dot, _mm512_loadu_si512(y->msums)), w->sm);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(w->d, _mm512_set1_ps(y->d)), acc);
}

/* A row's dot product on ymm halves of each block (sub-blocks 0-3 and 4-7):
 * with four zmm vpdpbusd per 144 bytes this GEMV streamed 3-5 % slower
 * (bench_dot, rows of 2048 and 5632) than with the same work on ymm, as
 * loops dense in 512-bit integer multiplies do on this machine. Two chains
 * of two vpdpbusd rather than one of four: rows of 5632 streamed 3-4 %
 * faster. */
static inline __m256 kg_half(__m256 acc, const uint8_t *qs, __m256i sm, __m256 d, const rz_block_a8_k *y,
                             int h) {
    const __m256i low4 = _mm256_set1_epi8(15);
    const __m256i r0 = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
    const __m256i r1 = _mm256_loadu_si256((const __m256i *)(qs + 64 + 32 * h));
    __m256i dot = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_and_si256(r0, low4),
                                      _mm256_loadu_si256((const __m256i *)(y->qs + 32 * h)));
    __m256i dot1 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_and_si256(r1, low4),
                                       _mm256_loadu_si256((const __m256i *)(y->qs + 128 + 32 * h)));
    dot = _mm256_dpbusd_epi32(dot, _mm256_and_si256(_mm256_srli_epi16(r0, 4), low4),
                              _mm256_loadu_si256((const __m256i *)(y->qs + 64 + 32 * h)));
    dot1 = _mm256_dpbusd_epi32(dot1, _mm256_and_si256(_mm256_srli_epi16(r1, 4), low4),
                               _mm256_loadu_si256((const __m256i *)(y->qs + 192 + 32 * h)));
    dot = _mm256_add_epi32(dot, dot1);
    const __m256i sums = _mm256_madd_epi16(
        _mm256_packs_epi32(dot, _mm256_loadu_si256((const __m256i *)(y->msums + 8 * h))), sm);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), d, acc);
}

void rz_vec_dot_q4_k_g_a8_k_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                   const void *restrict vy) {
    const rz_block_q4_k_g *x = vx;
    const rz_block_a8_k *y = vy;
    const int64_t nb = n / RZ_QK_K;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        prefetch_bytes(&x[b], PREFETCH_BYTES, sizeof *x);
        const __m512i sm = sm_of(&x[b]);
        const __m256 d = _mm256_mul_ps(d_lanes(&x[b]), _mm256_set1_ps(y[b].d));
        a0 = kg_half(a0, x[b].qs, _mm512_castsi512_si256(sm), d, &y[b], 0);
        a1 = kg_half(a1, x[b].qs, _mm512_extracti64x4_epi64(sm, 1), d, &y[b], 1);
    }
    *s = hsum8(_mm256_add_ps(a0, a1));
}

/* As G4_TILE (g4_avx512.c), one weight row at a time: a decoded block takes
 * six vector registers, too many to hold four rows next to twelve
 * accumulators. */
void rz_gemm_tile_q4_k_g_a8_k_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    enum { NR = RZ_GEMM_TILE, NT = RZ_GEMM_TILE_TOKENS };
    const rz_block_q4_k_g *wr[NR];
    const rz_block_a8_k *xr[NT];
    for (int i = 0; i < NR; i++)
        wr[i] = (const rz_block_q4_k_g *)((const char *)w + (uint64_t)(i < nr ? i : nr - 1) * w_stride);
    for (int i = 0; i < NT; i++)
        xr[i] = (const rz_block_a8_k *)((const char *)x + (uint64_t)(i < nt ? i : nt - 1) * x_stride);
    __m512 acc[NR][NT];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++)
            acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_K; b++)
        for (int r = 0; r < NR; r++) {
            prefetch_bytes(&wr[r][b], NR * w_stride, sizeof(rz_block_q4_k_g));
            const kg_block q = kg_load(&wr[r][b]);
            for (int t = 0; t < NT; t++)
                acc[r][t] = kg_dot(acc[r][t], &q, &xr[t][b]);
        }
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}
