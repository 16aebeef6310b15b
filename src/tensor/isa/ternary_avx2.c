/* AVX2 kernels of the ternary types: maddubs of the unsigned 2-bit codes
 * (0..2) with the signed int8 activations; the -1 offset is removed once per
 * row (I2_S) or block (TQ2_0) by subtracting the activation sums. */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/quants_k.h"
#include "tensor/quants_ternary.h"

/* int16 lanes of sum codes*q over one 32-byte code vector c whose 2-bit field
 * at shift SH[l] pairs with the 32 activations at q + 32*l: each lane at
 * most 4 * 2 * 3 * 128 = 3072 (2048 for I2_S's codes up to 2). */
static inline __m256i dot_codes4_16(__m256i c, const int8_t *q, int s0, int s1, int s2, int s3) {
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(c, s0), m3);
    const __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(c, s1), m3);
    const __m256i c2 = _mm256_and_si256(_mm256_srli_epi16(c, s2), m3);
    const __m256i c3 = _mm256_and_si256(_mm256_srli_epi16(c, s3), m3);
    const __m256i p01 =
        _mm256_add_epi16(_mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)q)),
                         _mm256_maddubs_epi16(c1, _mm256_loadu_si256((const __m256i *)(q + 32))));
    const __m256i p23 =
        _mm256_add_epi16(_mm256_maddubs_epi16(c2, _mm256_loadu_si256((const __m256i *)(q + 64))),
                         _mm256_maddubs_epi16(c3, _mm256_loadu_si256((const __m256i *)(q + 96))));
    return _mm256_add_epi16(p01, p23);
}

/* The same in int32 lanes. */
static inline __m256i dot_codes4(__m256i c, const int8_t *q, int s0, int s1, int s2, int s3) {
    return _mm256_madd_epi16(dot_codes4_16(c, q, s0, s1, s2, s3), _mm256_set1_epi16(1));
}

void rz_vec_dot_i2_s_i8_s_avx2(int64_t n, float *restrict s, const void *restrict vx,
                               const void *restrict vy) {
    const uint8_t *x = vx;
    const rz_block_i8_s *y = vy;
    const int64_t ng = n / RZ_QK_I2S;
    __m256i acc = _mm256_setzero_si256();
    int64_t g = 0;
    for (; g + 2 <= ng; g += 2) {
        _mm_prefetch((const char *)(x + 32 * g + PREFETCH_BYTES), _MM_HINT_T0);
        /* two groups' int16 lanes (at most 2 * 2048) widened at once */
        const __m256i p0 =
            dot_codes4_16(_mm256_loadu_si256((const __m256i *)(x + 32 * g)), y[g].qs, 6, 4, 2, 0);
        const __m256i p1 =
            dot_codes4_16(_mm256_loadu_si256((const __m256i *)(x + 32 * g + 32)), y[g + 1].qs, 6, 4, 2, 0);
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_add_epi16(p0, p1), _mm256_set1_epi16(1)));
    }
    for (; g < ng; g++)
        acc = _mm256_add_epi32(
            acc, dot_codes4(_mm256_loadu_si256((const __m256i *)(x + 32 * g)), y[g].qs, 6, 4, 2, 0));
    *s = ((float)hsum_epi32(acc) - (float)y[0].sum) / y[0].a;
}

void rz_vec_dot_tq2_0_q8_K_avx2(int64_t n, float *restrict s, const void *restrict vx,
                                const void *restrict vy) {
    const rz_block_tq2_0 *x = vx;
    const rz_block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);
        /* Only the block's total counts, so the codes' products (lanes up to
         * 6144) and the activations' sums (up to 2048) meet in int16 lanes
         * in any pairing, widened once. */
        const __m256i lo = dot_codes4_16(_mm256_loadu_si256((const __m256i *)x[b].qs), y[b].qs, 0, 2, 4, 6);
        const __m256i hi =
            dot_codes4_16(_mm256_loadu_si256((const __m256i *)(x[b].qs + 32)), y[b].qs + 128, 0, 2, 4, 6);
        const __m256i v16 =
            _mm256_sub_epi16(_mm256_add_epi16(lo, hi), _mm256_loadu_si256((const __m256i *)y[b].bsums));
        const __m256i v = _mm256_madd_epi16(v16, _mm256_set1_epi16(1));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[b].d) * y[b].d), _mm256_cvtepi32_ps(v), acc);
    }
    *s = hsum8(acc);
}

/* Digit k of the 16 TQ1_0 bytes in q (zero-extended to 16-bit lanes), each
 * times its lane's power of three: ((q * 3^k) mod 256 * 3) >> 8. */
static inline __m256i trits16(__m256i q, __m256i pow3k) {
    const __m256i t = _mm256_and_si256(_mm256_mullo_epi16(q, pow3k), _mm256_set1_epi16(0xFF));
    return _mm256_srli_epi16(_mm256_mullo_epi16(t, _mm256_set1_epi16(3)), 8);
}

static inline __m256i load_q16(const int8_t *q) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)q));
}

/* TQ1_0: digits decoded in 16-bit lanes and multiplied with madd; per block
 * the integer sum and then the float step are those of the scalar version,
 * so the result is bit-identical to it. */
void rz_vec_dot_tq1_0_q8_K_avx2(int64_t n, float *restrict s, const void *restrict vx,
                                const void *restrict vy) {
    const rz_block_tq1_0 *x = vx;
    const rz_block_q8_K *y = vy;
    static const int16_t qh_pow3[16] = {1, 1, 1, 1, 3, 3, 3, 3, 9, 9, 9, 9, 27, 27, 27, 27};
    const __m256i qh_mul = _mm256_loadu_si256((const __m256i *)qh_pow3);
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        const int8_t *q = y[b].qs;
        const __m256i lo = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)x[b].qs));
        const __m256i hi = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x[b].qs + 16)));
        const __m256i mid = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(x[b].qs + 32)));
        __m256i acc = _mm256_setzero_si256();
        int p = 1;
        for (int k = 0; k < 5; k++, p *= 3) {
            const __m256i pk = _mm256_set1_epi16((short)p);
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(trits16(lo, pk), load_q16(q + 32 * k)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(trits16(hi, pk), load_q16(q + 32 * k + 16)));
            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(trits16(mid, pk), load_q16(q + 160 + 16 * k)));
        }
        uint32_t qh4;
        memcpy(&qh4, x[b].qh, sizeof qh4);
        const __m256i qh = _mm256_cvtepu8_epi16(_mm_set1_epi32((int)qh4));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(trits16(qh, qh_mul), load_q16(q + 240)));
        const __m256i bs =
            _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y[b].bsums), _mm256_set1_epi16(1));
        const int32_t sum = hsum_epi32(_mm256_sub_epi32(acc, bs));
        sumf += (float)sum * (_cvtsh_ss(x[b].d) * y[b].d);
    }
    *s = sumf;
}

/* Writes the same bytes as rz_quantize_row_i8_s: cvtps rounds half to even
 * like lrintf, and the clamp is exact before the saturating packs. */
void rz_quantize_row_i8_s_avx2(const float *restrict x, void *restrict dst, int64_t n) {
    rz_block_i8_s *y = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 mx = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 8)
        mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const double m = fmax((double)_mm_cvtss_f32(m4), 1e-5);
    const float a = (float)(127.0 / m);
    const __m256 va = _mm256_set1_ps(a);
    const __m256i lo = _mm256_set1_epi32(-128), hi = _mm256_set1_epi32(127);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i sumv = _mm256_setzero_si256();
    for (int64_t b = 0; b < n / RZ_QK_I2S; b++) {
        const float *xb = x + b * RZ_QK_I2S;
        for (int j = 0; j < RZ_QK_I2S; j += 32) {
            __m256i v[4];
            for (int k = 0; k < 4; k++) {
                v[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xb + j + 8 * k), va));
                v[k] = _mm256_max_epi32(_mm256_min_epi32(v[k], hi), lo);
                sumv = _mm256_add_epi32(sumv, v[k]);
            }
            const __m256i p =
                _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]), _mm256_packs_epi32(v[2], v[3]));
            _mm256_storeu_si256((__m256i *)(y[b].qs + j), _mm256_permutevar8x32_epi32(p, order));
        }
    }
    const int32_t sum = hsum_epi32(sumv);
    for (int64_t b = 0; b < n / RZ_QK_I2S; b++) {
        y[b].a = a;
        y[b].sum = sum;
    }
}

/* The tiles below take a block (TQ2_0) or a run of groups (I2_S) of all
 * their rows at a time, one row after the other: a row's code fields are
 * extracted once for all the tokens, whose products sum in int16 registers,
 * one per token, while the rows' running sums wait in memory. So rows cost no
 * registers, and a tile takes up to 16 to share each copy of the activations
 * (copy_acts) among.
 *
 * acc + maddubs(u, the 32 activations at q), in that order: GCC otherwise
 * sums a tile's maddubs among themselves first, which takes more registers
 * than there are (spills). */
static inline __m256i add_maddubs(__m256i acc, __m256i u, const int8_t *q) {
    acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(u, _mm256_load_si256((const __m256i *)q)));
    __asm__("" : "+x"(acc));
    return acc;
}

/* The 32-byte chunks of activations the tiles read from Q8_K and I8_S blocks
 * (qs at byte 4 of 292, 8 of 136) straddle cache lines about half the time,
 * which cost the tiles 12-14%: each token's are copied to aligned dst (n
 * bytes, a multiple of 32) once for all the rows. A compiler barrier after
 * the copy keeps GCC from forwarding the copied registers to the loads. */
static inline void copy_acts(int8_t *dst, const int8_t *src, int n) {
    for (int k = 0; k < n; k += 32)
        _mm256_store_si256((__m256i *)(dst + k), _mm256_loadu_si256((const __m256i *)(src + k)));
}

/* TQ2_0 tile, up to TQ2_ROWS rows by TQ2_TOKENS tokens. Per block, row and
 * token: eight maddubs of a code field (0..3) and 32 activations, lanes
 * within +-768, and the block's -bsums, within +-2048, sum in int16 (within
 * +-8192), then one madd, and the block's scales in float. TQ2_0_G (the
 * AVX-512 layout) would save AVX2 nothing: the 32-byte halves of its fields
 * meet 32 contiguous activations just as TQ2_0's do, the same instructions;
 * so TQ2_0 stays as stored here. */
enum { TQ2_ROWS = RZ_TQ2_AVX2_ROWS, TQ2_TOKENS = RZ_TQ2_AVX2_TOKENS };

static inline __attribute__((always_inline)) void tq2_tile(int64_t n, const void *w, uint64_t w_stride,
                                                           int nr, const void *x, uint64_t x_stride, float *y,
                                                           int64_t y_stride, const int NT) {
    const rz_block_q8_K *xs[TQ2_TOKENS];
    for (int t = 0; t < NT; t++)
        xs[t] = (const rz_block_q8_K *)(const void *)((const char *)x + (uint64_t)t * x_stride);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc[TQ2_ROWS][TQ2_TOKENS];
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < NT; t++)
            acc[r][t] = _mm256_setzero_ps();
    _Alignas(32) int8_t q[TQ2_TOKENS][RZ_QK_TQ];
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        for (int t = 0; t < NT; t++)
            copy_acts(q[t], xs[t][b].qs, RZ_QK_TQ);
        __asm__("" : : "r"(q) : "memory");
        for (int r = 0; r < nr; r++) {
            const rz_block_tq2_0 *wb =
                (const rz_block_tq2_0 *)(const void *)((const char *)w + (uint64_t)r * w_stride) + b;
            __m256i p[TQ2_TOKENS];
            for (int t = 0; t < NT; t++)
                p[t] = _mm256_sub_epi16(_mm256_setzero_si256(),
                                        _mm256_loadu_si256((const __m256i *)xs[t][b].bsums));
            for (int h = 0; h < 2; h++) {
                const __m256i c = _mm256_loadu_si256((const __m256i *)(wb->qs + 32 * h));
                for (int l = 0; l < 4; l++) {
                    const __m256i f = _mm256_and_si256(_mm256_srli_epi16(c, 2 * l), m3);
                    for (int t = 0; t < NT; t++)
                        p[t] = add_maddubs(p[t], f, &q[t][128 * h + 32 * l]);
                }
            }
            const __m256 dw = _mm256_set1_ps(_cvtsh_ss(wb->d));
            for (int t = 0; t < NT; t++)
                acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p[t], _mm256_set1_epi16(1))),
                                            _mm256_mul_ps(dw, _mm256_broadcast_ss(&xs[t][b].d)), acc[r][t]);
        }
    }
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = hsum8(acc[r][t]);
}

void rz_gemm_tile_tq2_0_q8_K_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                  uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    _Static_assert(TQ2_TOKENS == 6, "a case for every token count");
    switch (nt) {
    case 1: tq2_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 1); break;
    case 2: tq2_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 2); break;
    case 3: tq2_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 3); break;
    case 4: tq2_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 4); break;
    case 5: tq2_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 5); break;
    default: tq2_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 6); break;
    }
}

/* I2_S tile, up to I2S_ROWS rows by I2S_TOKENS tokens. There is no scale
 * per group, so a row and token's maddubs (code fields 0..3, lanes within
 * +-768) sum in int16 over a run of I2S_RUN groups (32 maddubs, within
 * +-24576) before one madd into its int32 sum: per group 4 maddubs and 4
 * int16 adds. */
enum { I2S_ROWS = RZ_I2S_AVX2_ROWS, I2S_TOKENS = RZ_I2S_AVX2_TOKENS, I2S_RUN = 8 };

static inline __attribute__((always_inline)) void i2s_tile(int64_t n, const void *w, uint64_t w_stride,
                                                           int nr, const void *x, uint64_t x_stride, float *y,
                                                           int64_t y_stride, const int NT) {
    const rz_block_i8_s *xs[I2S_TOKENS];
    for (int t = 0; t < NT; t++)
        xs[t] = (const rz_block_i8_s *)(const void *)((const char *)x + (uint64_t)t * x_stride);
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256i acc[I2S_ROWS][I2S_TOKENS];
    for (int r = 0; r < nr; r++)
        for (int t = 0; t < NT; t++)
            acc[r][t] = _mm256_setzero_si256();
    _Alignas(32) int8_t q[I2S_RUN][I2S_TOKENS][RZ_QK_I2S];
    const int64_t ng = n / RZ_QK_I2S;
    for (int64_t g0 = 0; g0 < ng; g0 += I2S_RUN) {
        const int run = ng - g0 < I2S_RUN ? (int)(ng - g0) : I2S_RUN;
        for (int g = 0; g < run; g++)
            for (int t = 0; t < NT; t++)
                copy_acts(q[g][t], xs[t][g0 + g].qs, RZ_QK_I2S);
        __asm__("" : : "r"(q) : "memory");
        for (int r = 0; r < nr; r++) {
            const uint8_t *codes = (const uint8_t *)w + (uint64_t)r * w_stride + 32 * g0;
            __m256i p[I2S_TOKENS];
            for (int t = 0; t < NT; t++)
                p[t] = _mm256_setzero_si256();
            for (int g = 0; g < run; g++) {
                const __m256i c = _mm256_loadu_si256((const __m256i *)(codes + 32 * g));
                for (int l = 0; l < 4; l++) {
                    const __m256i f = _mm256_and_si256(_mm256_srli_epi16(c, 6 - 2 * l), m3);
                    for (int t = 0; t < NT; t++)
                        p[t] = add_maddubs(p[t], f, &q[g][t][32 * l]);
                }
            }
            for (int t = 0; t < NT; t++)
                acc[r][t] = _mm256_add_epi32(acc[r][t], _mm256_madd_epi16(p[t], _mm256_set1_epi16(1)));
        }
    }
    /* the float steps of rz_vec_dot_i2_s_i8_s_avx2, so the results are its */
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = ((float)hsum_epi32(acc[r][t]) - (float)xs[t][0].sum) / xs[t][0].a;
}

void rz_gemm_tile_i2_s_i8_s_avx2(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                 uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    _Static_assert(I2S_TOKENS == 8, "a case for every token count");
    switch (nt) {
    case 1: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 1); break;
    case 2: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 2); break;
    case 3: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 3); break;
    case 4: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 4); break;
    case 5: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 5); break;
    case 6: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 6); break;
    case 7: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 7); break;
    default: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 8); break;
    }
}
