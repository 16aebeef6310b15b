/* AVX-512 VBMI kernels of I2_TL (tensor/quants_tl.h). Per quad and 16 rows,
 * one vpermb per byte plane looks up 64 slots at once in the quad's 64-byte
 * table, and two vpdpbusd multiply the unsigned entries with the signed
 * signs (+-1 for lo, +-64 for hi) and add the four slots of each row into
 * its int32 lane. */
#include <immintrin.h>
#include <string.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/quants_ternary.h"
#include "tensor/quants_tl.h"

/* Per quad: the I8_S codes of its 12 activations (zero past n), the 64
 * biased entries U as words (two slots per vector), then the low bytes of
 * U and of 4 (U >> 8) gathered into the two tables. */
void rz_quantize_row_i8_tl_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    uint8_t *y = dst;
    const float a = rz_i8_s_scale_avx512(src, n);
    memset(y, 0, RZ_TL_ACT_HEADER);
    memcpy(y, &a, sizeof a);
    /* word w of half H is entry w % 16 of slot 2H + w / 16: the index of its
     * k-th activation in the quad, and the weight digit k of the entry */
    __m512i act[2][3], digit[3];
    for (int k = 0; k < 3; k++) {
        int16_t ai[2][32], di[32];
        for (int w = 0; w < 32; w++) {
            const int e = w % 16;
            int p[3], r = e;
            for (int j = 2; j >= 0; j--) {
                p[j] = (r + 1) % 3 - 1;
                r = (r - p[j]) / 3;
            }
            di[w] = (int16_t)(e < 14 ? p[k] : 0);
            for (int h = 0; h < 2; h++)
                ai[h][w] = (int16_t)(3 * (2 * h + w / 16) + k);
        }
        digit[k] = _mm512_loadu_si512(di);
        act[0][k] = _mm512_loadu_si512(ai[0]);
        act[1][k] = _mm512_loadu_si512(ai[1]);
    }
    uint8_t even[64];
    for (int i = 0; i < 64; i++)
        even[i] = (uint8_t)(2 * i);
    const __m512i low_bytes = _mm512_loadu_si512(even);
    const __m512 va = _mm512_set1_ps(a);
    const __m512i qmin = _mm512_set1_epi32(-128), qmax = _mm512_set1_epi32(127),
                  bias = _mm512_set1_epi16(384);
    for (int64_t quad = 0; quad < 2 * rz_tl_pairs(n); quad++) {
        const int64_t left = n - 12 * quad;
        const __mmask16 k = (__mmask16)(left >= 12 ? 0xfff : left > 0 ? (1u << left) - 1 : 0);
        __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, src + 12 * quad), va));
        q = _mm512_max_epi32(_mm512_min_epi32(q, qmax), qmin);
        const __m512i qw = _mm512_castsi256_si512(_mm512_cvtepi32_epi16(q));
        __m512i lo[2], hi[2];
        for (int h = 0; h < 2; h++) {
            const __m512i u = _mm512_add_epi16(
                _mm512_add_epi16(_mm512_mullo_epi16(_mm512_permutexvar_epi16(act[h][0], qw), digit[0]),
                                 _mm512_mullo_epi16(_mm512_permutexvar_epi16(act[h][1], qw), digit[1])),
                _mm512_add_epi16(_mm512_mullo_epi16(_mm512_permutexvar_epi16(act[h][2], qw), digit[2]),
                                 bias));
            lo[h] = u; /* its low byte */
            hi[h] = _mm512_slli_epi16(_mm512_srli_epi16(u, 8), 2);
        }
        uint8_t *tab = y + RZ_TL_ACT_HEADER + RZ_TL_QUAD_TABLES * quad;
        _mm512_storeu_si512(tab, _mm512_permutex2var_epi8(lo[0], low_bytes, lo[1]));
        _mm512_storeu_si512(tab + 64, _mm512_permutex2var_epi8(hi[0], low_bytes, hi[1]));
    }
}

/* G consecutive row groups (group_bytes apart) against NT tokens; tokens
 * past nt repeat the last one and are not stored. Per 16 rows of a quad, the
 * indices (nibble | slot << 4, the slot being the byte's place in its 32-bit
 * lane = row) and the signs as bytes (+-1, +-64) are decoded once for all
 * tokens; a token then costs two vpermb and two vpdpbusd per group, from one
 * load of its tables for all G groups. corr sums the signs of each row. */
static inline __attribute__((always_inline)) void tl_tile(int64_t n, const uint8_t *w, uint64_t group_bytes,
                                                          const uint8_t *x, uint64_t x_stride, int nt,
                                                          float *y, int64_t y_stride, const int NT,
                                                          const int G) {
    enum { MAX_G = 2 };
    const uint8_t *tabs[RZ_TL_TOKENS];
    for (int t = 0; t < NT; t++)
        tabs[t] = x + (uint64_t)(t < nt ? t : nt - 1) * x_stride + RZ_TL_ACT_HEADER;
    const __m512i low = _mm512_set1_epi8(15), slot = _mm512_set1_epi32(0x30201000), one = _mm512_set1_epi8(1),
                  minus_one = _mm512_set1_epi8(-1), c64 = _mm512_set1_epi8(64),
                  minus_64 = _mm512_set1_epi8(-64);
    __m512i acc[MAX_G][RZ_TL_TOKENS][4], corr[MAX_G][4];
    for (int g = 0; g < G; g++)
        for (int i = 0; i < 4; i++) {
            corr[g][i] = _mm512_setzero_si512();
            for (int t = 0; t < NT; t++)
                acc[g][t][i] = _mm512_setzero_si512();
        }
    const int64_t pairs = rz_tl_pairs(n);
    for (int64_t p = 0; p < pairs; p++) {
        const uint8_t *wp[MAX_G];
        for (int g = 0; g < G; g++) {
            wp[g] = w + g * group_bytes + RZ_TL_PAIR_BYTES * p;
            for (int l = 0; l < RZ_TL_PAIR_BYTES; l += 64)
                _mm_prefetch((const char *)(wp[g] + PREFETCH_BYTES + l), _MM_HINT_T0);
        }
        for (int h = 0; h < 2; h++) {
            const uint64_t quad = (uint64_t)(2 * p + h) * RZ_TL_QUAD_TABLES;
            for (int v = 0; v < 2; v++) {
                __m512i nib[MAX_G];
                for (int g = 0; g < G; g++)
                    nib[g] = _mm512_loadu_si512(wp[g] + 64 * (2 * h + v));
                for (int s = 0; s < 2; s++) {
                    const int i = 2 * v + s;
                    __m512i idx[MAX_G], s1[MAX_G], s64[MAX_G];
                    for (int g = 0; g < G; g++) {
                        uint64_t bits;
                        memcpy(&bits, wp[g] + 256 + 8 * (4 * h + i), sizeof bits);
                        const __mmask64 neg = _cvtu64_mask64(bits);
                        /* (nibble & 15) | slot */
                        idx[g] = _mm512_ternarylogic_epi32(s ? _mm512_srli_epi16(nib[g], 4) : nib[g], low,
                                                           slot, 0xEA);
                        s1[g] = _mm512_mask_blend_epi8(neg, one, minus_one);
                        s64[g] = _mm512_mask_blend_epi8(neg, c64, minus_64);
                        corr[g][i] = _mm512_dpbusd_epi32(corr[g][i], one, s1[g]);
                    }
                    for (int t = 0; t < NT; t++) {
                        const __m512i tlo = _mm512_loadu_si512(tabs[t] + quad),
                                      thi = _mm512_loadu_si512(tabs[t] + quad + 64);
                        for (int g = 0; g < G; g++) {
                            acc[g][t][i] = _mm512_dpbusd_epi32(acc[g][t][i],
                                                               _mm512_permutexvar_epi8(idx[g], tlo), s1[g]);
                            acc[g][t][i] = _mm512_dpbusd_epi32(acc[g][t][i],
                                                               _mm512_permutexvar_epi8(idx[g], thi), s64[g]);
                        }
                    }
                }
            }
        }
    }
    for (int t = 0; t < nt && t < NT; t++) {
        float a;
        memcpy(&a, tabs[t] - RZ_TL_ACT_HEADER, sizeof a);
        for (int g = 0; g < G; g++)
            for (int i = 0; i < 4; i++) {
                /* the tables hold T + 384 */
                const __m512i sum =
                    _mm512_sub_epi32(acc[g][t][i], _mm512_mullo_epi32(corr[g][i], _mm512_set1_epi32(384)));
                _mm512_storeu_ps(y + t * y_stride + RZ_TL_ROWS * g + 16 * i,
                                 _mm512_div_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(a)));
            }
    }
}

void rz_gemm_tile_i2_tl_i8_tl_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    (void)nr;
    /* RZ_TL_TILE_ROWS rows. One token: both row groups in one pass, so that
     * each table line is read once for 128 rows; a batch: one group after the
     * other (the accumulators of two groups by four tokens would not fit the
     * registers). */
    const uint64_t group_bytes = RZ_TL_ROWS * w_stride;
    if (nt == 1)
        tl_tile(n, w, group_bytes, x, x_stride, 1, y, y_stride, 1, 2);
    else
        for (int g = 0; g < 2; g++)
            tl_tile(n, (const uint8_t *)w + g * group_bytes, 0, x, x_stride, nt, y + RZ_TL_ROWS * g, y_stride,
                    RZ_TL_TOKENS, 1);
}
