/* AVX-512 VNNI kernels of the ternary types: vpdpbusd multiplies the
 * unsigned codes (2-bit fields, TQ1_0's base-3 bytes) with the signed int8
 * activations and adds into int32 lanes directly; the -1 offset is removed
 * via the activation sums. */
#include <immintrin.h>
#include <math.h>
#include <stdbool.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/gemm.h"
#include "tensor/quants_k.h"
#include "tensor/quants_ternary.h"

/* acc + sum codes*q over one 32-byte code vector c whose 2-bit field at
 * shift s_l pairs with the 32 activations at q + 32*l. */
static inline __m256i dpbusd_codes4(__m256i acc, __m256i c, const int8_t *q, int s0, int s1, int s2, int s3) {
    const __m256i m3 = _mm256_set1_epi8(3);
    acc = _mm256_dpbusd_epi32(acc, _mm256_and_si256(_mm256_srli_epi16(c, s0), m3),
                              _mm256_loadu_si256((const __m256i *)q));
    acc = _mm256_dpbusd_epi32(acc, _mm256_and_si256(_mm256_srli_epi16(c, s1), m3),
                              _mm256_loadu_si256((const __m256i *)(q + 32)));
    acc = _mm256_dpbusd_epi32(acc, _mm256_and_si256(_mm256_srli_epi16(c, s2), m3),
                              _mm256_loadu_si256((const __m256i *)(q + 64)));
    return _mm256_dpbusd_epi32(acc, _mm256_and_si256(_mm256_srli_epi16(c, s3), m3),
                               _mm256_loadu_si256((const __m256i *)(q + 96)));
}

/* Per 128-group, the 32 code bytes are broadcast into both halves of a zmm
 * and fields 0 / 1 (then 2 / 3) masked in place, one per half: each 64-byte
 * activation load (slices l and l + 1) then feeds one vpdpbusd. A masked
 * field (code << (6 - 2l) <= 128) still fits the unsigned operand, so the
 * lanes are exact multiples of 4^(3 - l), shifted back once per row. Two
 * groups per step, each with its own accumulators, so the vpdpbusd chains
 * do not limit the loads. */
typedef struct i2s_acc {
    __m512i a01[2], a23[2]; /* fields 0 / 1 and 2 / 3, per group parity */
} i2s_acc;

static inline void i2s_group(i2s_acc *acc, int k, const uint8_t *codes, const rz_block_i8_s *y) {
    const __m512i m01 = _mm512_inserti64x4(_mm512_set1_epi8((char)0xC0), _mm256_set1_epi8(0x30), 1);
    const __m512i m23 = _mm512_inserti64x4(_mm512_set1_epi8(0x0C), _mm256_set1_epi8(0x03), 1);
    const __m512i c = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)codes));
    acc->a01[k] = _mm512_dpbusd_epi32(acc->a01[k], _mm512_and_si512(c, m01), _mm512_loadu_si512(y->qs));
    acc->a23[k] = _mm512_dpbusd_epi32(acc->a23[k], _mm512_and_si512(c, m23), _mm512_loadu_si512(y->qs + 64));
}

/* Two groups per step, each with its own accumulators. */
static inline void i2s_step(i2s_acc *acc, const uint8_t *x, const rz_block_i8_s *y, int64_t g) {
    _mm_prefetch((const char *)(x + 32 * g + PREFETCH_BYTES), _MM_HINT_T0);
    i2s_group(acc, 0, x + 32 * g, &y[g]);
    i2s_group(acc, 1, x + 32 * (g + 1), &y[g + 1]);
}

static inline float i2s_finish(i2s_acc *acc, const uint8_t *x, const rz_block_i8_s *y, int64_t g,
                               int64_t ng) {
    if (g < ng) i2s_group(acc, 0, x + 32 * g, &y[g]);
    const __m512i shift01 = _mm512_inserti64x4(_mm512_set1_epi32(6), _mm256_set1_epi32(4), 1);
    const __m512i shift23 = _mm512_inserti64x4(_mm512_set1_epi32(2), _mm256_set1_epi32(0), 1);
    const __m512i t =
        _mm512_add_epi32(_mm512_srav_epi32(_mm512_add_epi32(acc->a01[0], acc->a01[1]), shift01),
                         _mm512_srav_epi32(_mm512_add_epi32(acc->a23[0], acc->a23[1]), shift23));
    return ((float)_mm512_reduce_add_epi32(t) - (float)y[0].sum) / y[0].a;
}

void rz_vec_dot_i2_s_i8_s_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    const uint8_t *x = vx;
    const rz_block_i8_s *y = vy;
    const int64_t ng = n / RZ_QK_I2S;
    i2s_acc acc = {{_mm512_setzero_si512(), _mm512_setzero_si512()},
                   {_mm512_setzero_si512(), _mm512_setzero_si512()}};
    int64_t g = 0;
    for (; g + 2 <= ng; g += 2)
        i2s_step(&acc, x, y, g);
    *s = i2s_finish(&acc, x, y, g, ng);
}

void rz_vec_dot2_i2_s_i8_s_avx512(int64_t n, float *restrict s, const void *restrict vx0,
                                  const void *restrict vx1, const void *restrict vy) {
    const uint8_t *x0 = vx0, *x1 = vx1;
    const rz_block_i8_s *y = vy;
    const int64_t ng = n / RZ_QK_I2S;
    i2s_acc acc0 = {{_mm512_setzero_si512(), _mm512_setzero_si512()},
                    {_mm512_setzero_si512(), _mm512_setzero_si512()}},
            acc1 = acc0;
    int64_t g = 0;
    for (; g + 2 <= ng; g += 2) {
        i2s_step(&acc0, x0, y, g);
        i2s_step(&acc1, x1, y, g);
    }
    s[0] = i2s_finish(&acc0, x0, y, g, ng);
    s[1] = i2s_finish(&acc1, x1, y, g, ng);
}

/* -sum q of a Q8_K block over eight int32 lanes: the seed that makes the
 * vpdpbusd of codes (value + 1) sum the values. */
static inline __m256i tq_seed(const rz_block_q8_K *y) {
    return _mm256_sub_epi32(
        _mm256_setzero_si256(),
        _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)y->bsums), _mm256_set1_epi16(1)));
}

void rz_vec_dot_tq2_0_q8_K_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                  const void *restrict vy) {
    const rz_block_tq2_0 *x = vx;
    const rz_block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);
        __m256i v = tq_seed(&y[b]);
        v = dpbusd_codes4(v, _mm256_loadu_si256((const __m256i *)x[b].qs), y[b].qs, 0, 2, 4, 6);
        v = dpbusd_codes4(v, _mm256_loadu_si256((const __m256i *)(x[b].qs + 32)), y[b].qs + 128, 0, 2, 4, 6);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[b].d) * y[b].d), _mm256_cvtepi32_ps(v), acc);
    }
    *s = hsum8(acc);
}

/* Bits 2l and 2l + 1 of every byte as its value 0..3: one GF(2) affine
 * map (output bit i is the parity of the byte ANDed with matrix byte 7 - i)
 * instead of a shift and a mask. */
static inline __m512i tq_field(__m512i c, int l) {
    const uint64_t rows = (1ull << (2 * l)) << 56 | (1ull << (2 * l + 1)) << 48;
    return _mm512_gf2p8affine_epi64_epi8(c, _mm512_set1_epi64((long long)rows), 0);
}

/* TQ2_0_G: per block one 64-byte code load and, per field, one affine
 * extraction and one vpdpbusd against 64 contiguous activations. */
void rz_vec_dot_tq2_0_g_q8_K_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                    const void *restrict vy) {
    const rz_block_tq2_0_g *x = vx;
    const rz_block_q8_K *y = vy;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);
        const __m512i c = _mm512_loadu_si512(x[b].qs);
        __m512i v = _mm512_zextsi256_si512(tq_seed(&y[b]));
        for (int l = 0; l < 4; l++)
            v = _mm512_dpbusd_epi32(v, tq_field(c, l), _mm512_loadu_si512(y[b].qs + 64 * l));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(_cvtsh_ss(x[b].d) * y[b].d), _mm512_cvtepi32_ps(v), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* acc + u * s on vpdpbusd in place: GCC 12 otherwise gives every
 * accumulator of a tile loop a fresh register and copies it back each step. */
static inline __m512i dpbusd_acc(__m512i acc, __m512i u, __m512i s) {
    __asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(u), "v"(s));
    return acc;
}

enum { I2S_ROWS = RZ_I2S_TILE_ROWS, I2S_TOKENS = RZ_I2S_TILE_TOKENS };

/* Sums of the 16 lanes of a[0..3], in lanes 0..3. */
static inline __m128i hsum4_epi32(const __m512i *a) {
    const __m512i s01 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(a[0], a[1]), _mm512_unpackhi_epi32(a[0], a[1]));
    const __m512i s23 =
        _mm512_add_epi32(_mm512_unpacklo_epi32(a[2], a[3]), _mm512_unpackhi_epi32(a[2], a[3]));
    /* lanes 4k + j: partial sums of a[j] */
    const __m512i s = _mm512_add_epi32(_mm512_unpacklo_epi64(s01, s23), _mm512_unpackhi_epi64(s01, s23));
    const __m256i h = _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
    return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
}

/* I2_S tile: I2S_ROWS rows by up to I2S_TOKENS tokens. A row's 32 code
 * bytes of a 128-group are broadcast to both halves of a zmm; masking bits
 * 6-7 in the low half and 4-5 in the high half leaves fields 0 and 1 (times
 * 64 and 16) in line with activations 0..63 of the group, one load; the same
 * mask on the codes shifted left by 4 does fields 2 and 3 against 64..127.
 * So each group costs a row three ALU ops for 2 * NT vpdpbusd, and one
 * accumulator per row and token holds 64x the sum in its low and 16x in its
 * high lanes. Rows past nr repeat the first (not stored); nt picks NT. */
static inline __attribute__((always_inline)) void i2s_tile(int64_t n, const void *w, uint64_t w_stride,
                                                           int nr, const void *x, uint64_t x_stride, float *y,
                                                           int64_t y_stride, const int NT) {
    const uint8_t *rows[I2S_ROWS];
    const rz_block_i8_s *xs[I2S_TOKENS];
    for (int r = 0; r < I2S_ROWS; r++)
        rows[r] = (const uint8_t *)w + (r < nr ? (uint64_t)r : 0) * w_stride;
    for (int t = 0; t < NT; t++)
        xs[t] = (const rz_block_i8_s *)(const void *)((const char *)x + (uint64_t)t * x_stride);
    const __m512i mask = _mm512_inserti64x4(_mm512_set1_epi8((char)0xC0), _mm256_set1_epi8(0x30), 1);
    __m512i acc[I2S_TOKENS][I2S_ROWS];
    for (int t = 0; t < NT; t++)
        for (int r = 0; r < I2S_ROWS; r++)
            acc[t][r] = _mm512_setzero_si512();
    const int64_t ng = n / RZ_QK_I2S;
    for (int64_t g = 0; g < ng; g++) {
        for (int r = 0; r < I2S_ROWS; r++)
            _mm_prefetch((const char *)(rows[r] + 32 * g + PREFETCH_BYTES), _MM_HINT_T0);
        for (int h = 0; h < 2; h++) {
            __m512i f[I2S_ROWS];
            for (int r = 0; r < I2S_ROWS; r++) {
                const uint8_t *p = rows[r] + 32 * g;
                /* The accumulators leave room for one set of codes: the
                 * opaque pointer makes the second half load them again
                 * instead of GCC keeping the first load live (a spill). */
                if (h) __asm__("" : "+r"(p));
                const __m512i c = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
                f[r] = _mm512_and_si512(h ? _mm512_slli_epi16(c, 4) : c, mask);
            }
            for (int t = 0; t < NT; t++) {
                const __m512i q = _mm512_loadu_si512(xs[t][g].qs + 64 * h);
                for (int r = 0; r < I2S_ROWS; r++)
                    acc[t][r] = dpbusd_acc(acc[t][r], f[r], q);
            }
        }
    }
    const __m512i unscale = _mm512_inserti64x4(_mm512_set1_epi32(6), _mm256_set1_epi32(4), 1);
    const __mmask8 store = (__mmask8)((1u << nr) - 1);
    for (int t = 0; t < NT; t++) {
        __m512i a[I2S_ROWS];
        for (int r = 0; r < I2S_ROWS; r++)
            a[r] = _mm512_srav_epi32(acc[t][r], unscale);
        const __m128 v = _mm_cvtepi32_ps(_mm_sub_epi32(hsum4_epi32(a), _mm_set1_epi32(xs[t][0].sum)));
        _mm_mask_storeu_ps(y + t * y_stride, store, _mm_div_ps(v, _mm_set1_ps(xs[t][0].a)));
    }
}

void rz_gemm_tile_i2_s_i8_s_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    switch (nt) {
    case 1: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 1); break;
    case 2: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 2); break;
    case 3: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 3); break;
    case 4: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 4); break;
    case 5: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, 5); break;
    default: i2s_tile(n, w, w_stride, nr, x, x_stride, y, y_stride, I2S_TOKENS); break;
    }
}

enum { TR = RZ_GEMM_TILE, TT = RZ_GEMM_TILE_TOKENS };

/* The 64 activations that field l of a code vector meets: 32l.. and
 * 128 + 32l.. for TQ2_0's halves, 64l.. for TQ2_0_G. */
static inline __m512i tq2_acts(const rz_block_q8_K *x, int l, bool grouped) {
    if (grouped) return _mm512_loadu_si512(x->qs + 64 * l);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * l))),
                              _mm256_loadu_si256((const __m256i *)(x->qs + 128 + 32 * l)), 1);
}

/* TQ2_0 and TQ2_0_G tile: four rows against the tokens two at a time (float
 * accumulators per block scale leave no room for four). Field l of a 64-byte
 * code vector meets tq2_acts(l); each product starts from -sum q in lane 0,
 * so the lanes add up to the exact sum (t - 1) q of the block before its
 * scale is applied. */
#define TQ2_TILE_STEP(L)                                                                                     \
    do {                                                                                                     \
        __m512i c[4];                                                                                        \
        for (int r = 0; r < 4; r++)                                                                          \
            c[r] = tq_field(codes[r], L);                                                                    \
        for (int t = 0; t < 2; t++) {                                                                        \
            const __m512i q = tq2_acts(xb[t], L, grouped);                                                   \
            for (int r = 0; r < 4; r++)                                                                      \
                acc[t][r] = _mm512_dpbusd_epi32(acc[t][r], c[r], q);                                         \
        }                                                                                                    \
    } while (0)

_Static_assert(RZ_GEMM_TILE == 4 && RZ_GEMM_TILE_TOKENS <= 4,
               "the TQ2_0 tile holds 4 rows, tokens in two pairs");

/* TQ2_0 and TQ2_0_G blocks differ only in the order of their codes. */
static inline __attribute__((always_inline)) void tq2_tile(int64_t n, const void *w, uint64_t w_stride,
                                                           int nr, const void *x, uint64_t x_stride, int nt,
                                                           float *y, int64_t y_stride, const bool grouped) {
    const rz_block_tq2_0 *rows[4];
    const rz_block_q8_K *xs[4]; /* tokens in pairs: room for RZ_GEMM_TILE_TOKENS rounded up */
    for (int i = 0; i < 4; i++) {
        rows[i] =
            (const rz_block_tq2_0 *)(const void *)((const char *)w + (i < nr ? (uint64_t)i : 0) * w_stride);
        xs[i] =
            (const rz_block_q8_K *)(const void *)((const char *)x + (i < nt ? (uint64_t)i : 0) * x_stride);
    }
    for (int t0 = 0; t0 < nt; t0 += 2) {
        const rz_block_q8_K *pair[2] = {xs[t0], xs[t0 + 1]};
        __m512 facc[2][4];
        for (int t = 0; t < 2; t++)
            for (int r = 0; r < 4; r++)
                facc[t][r] = _mm512_setzero_ps();
        for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
            __m512i codes[4], acc[2][4];
            const rz_block_q8_K *xb[2] = {&pair[0][b], &pair[1][b]};
            for (int r = 0; r < 4; r++)
                codes[r] = _mm512_loadu_si512(rows[r][b].qs);
            for (int t = 0; t < 2; t++) {
                int32_t sum = 0;
                for (int j = 0; j < RZ_QK_TQ / 16; j++)
                    sum += xb[t]->bsums[j];
                for (int r = 0; r < 4; r++)
                    acc[t][r] = _mm512_zextsi128_si512(_mm_cvtsi32_si128(-sum));
            }
            TQ2_TILE_STEP(0);
            TQ2_TILE_STEP(1);
            TQ2_TILE_STEP(2);
            TQ2_TILE_STEP(3);
            for (int r = 0; r < 4; r++) {
                const float dr = _cvtsh_ss(rows[r][b].d);
                for (int t = 0; t < 2; t++)
                    facc[t][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[t][r]), _mm512_set1_ps(dr * xb[t]->d),
                                                 facc[t][r]);
            }
        }
        for (int t = 0; t < 2 && t0 + t < nt; t++)
            for (int r = 0; r < nr; r++)
                y[(t0 + t) * y_stride + r] = _mm512_reduce_add_ps(facc[t][r]);
    }
}

void rz_gemm_tile_tq2_0_q8_K_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    tq2_tile(n, w, w_stride, nr, x, x_stride, nt, y, y_stride, false);
}

void rz_gemm_tile_tq2_0_g_q8_K_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                      uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    tq2_tile(n, w, w_stride, nr, x, x_stride, nt, y, y_stride, true);
}

/* TQ1_0. With x_k = q * 3^k mod 256, trit k of a byte q is 3 x_k >> 8, so
 * 3 x_k = 256 trit_k + x_{k+1}: the trits are never extracted, the sum of
 * trit_k * a is (3 sum x_k a - sum x_{k+1} a) / 256, two vpdpbusd on the
 * plain bytes, exact in int32 (lanes stay below 2^22), and x_{k+1} = 3 x_k is
 * two byte additions. x_0 is the block's first 52 bytes, qs then qh, zero
 * above: byte m of x_k pairs with element 32k + m (m < 32), 160 + 16k + m - 32
 * (m < 48) or, for k < 4, 240 + 4k + m - 48; the fifth qh trit is padding. */
#define TQ1_CODE_BYTES ((1ull << 52) - 1)

/* The activations matching x_k, k = 0..4, in that layout. Lane 3 holds the
 * four qh activations; its other 12 bytes meet zero weights (at k = 3 they
 * reach into bsums, still inside the block), and at k = 4 it is zero. */
static inline void tq1_acts(const rz_block_q8_K *y, __m512i a[5]) {
    for (int k = 0; k < 5; k++) {
        const __m512i v =
            _mm512_inserti32x4(_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(y->qs + 32 * k))),
                               _mm_loadu_si128((const __m128i *)(y->qs + 160 + 16 * k)), 2);
        a[k] = k < 4 ? _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(y->qs + 240 + 4 * k)), 3) : v;
    }
}

/* 256 * sum of the block's activations, spread over the lanes: the -1 of
 * every trit, subtracted once. */
static inline __m512i tq1_bsums(const rz_block_q8_K *y) {
    return _mm512_slli_epi32(_mm512_cvtepi16_epi32(_mm256_loadu_si256((const __m256i *)y->bsums)), 8);
}

/* v[t] = 256 * sum (trit - 1) * q of one weight block against the
 * activations a[t] (bsums bs[t]) of NT tokens, over 16 lanes. */
static inline __attribute__((always_inline)) void tq1_block(const rz_block_tq1_0 *w, __m512i a[][5],
                                                            const __m512i *bs, const int NT, __m512i *v) {
    __m512i x = _mm512_maskz_loadu_epi8(TQ1_CODE_BYTES, w);
    __m512i p[TT], m[TT];
    for (int t = 0; t < NT; t++) {
        p[t] = _mm512_setzero_si512();
        m[t] = bs[t];
    }
    for (int k = 0; k < 5; k++) {
        const __m512i x3 = _mm512_add_epi8(_mm512_add_epi8(x, x), x);
        for (int t = 0; t < NT; t++) {
            p[t] = _mm512_dpbusd_epi32(p[t], x, a[t][k]);
            m[t] = _mm512_dpbusd_epi32(m[t], x3, a[t][k]);
        }
        x = x3;
    }
    for (int t = 0; t < NT; t++)
        v[t] = _mm512_sub_epi32(_mm512_add_epi32(_mm512_add_epi32(p[t], p[t]), p[t]), m[t]);
}

void rz_vec_dot_tq1_0_q8_K_avx512(int64_t n, float *restrict s, const void *restrict vx,
                                  const void *restrict vy) {
    const rz_block_tq1_0 *x = vx;
    const rz_block_q8_K *y = vy;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);
        __m512i a[1][5], v;
        const __m512i bs = tq1_bsums(&y[b]);
        tq1_acts(&y[b], a[0]);
        tq1_block(&x[b], a, &bs, 1, &v);
        /* v is 256 times the block's sum: the power of two folds into the
         * scale without rounding */
        acc =
            _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(_cvtsh_ss(x[b].d) * y[b].d / 256.0f), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* RZ_GEMM_TILE rows by NT tokens: each token's activations are laid out once
 * per block for all rows, each row's block is decoded once for all tokens.
 * Rows and tokens past nr / nt repeat the last one and are not stored. */
static inline __attribute__((always_inline)) void tq1_tile(int64_t n, const void *w, uint64_t w_stride,
                                                           int nr, const void *x, uint64_t x_stride, int nt,
                                                           float *y, int64_t y_stride, const int NT) {
    const rz_block_tq1_0 *rows[TR];
    const rz_block_q8_K *xs[TT];
    for (int i = 0; i < TR; i++)
        rows[i] = (const rz_block_tq1_0 *)(const void *)((const char *)w +
                                                         (uint64_t)(i < nr ? i : nr - 1) * w_stride);
    for (int i = 0; i < NT; i++)
        xs[i] = (const rz_block_q8_K *)(const void *)((const char *)x +
                                                      (uint64_t)(i < nt ? i : nt - 1) * x_stride);
    __m512 acc[TR][TT];
    for (int r = 0; r < TR; r++)
        for (int t = 0; t < NT; t++)
            acc[r][t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        __m512i a[TT][5], bs[TT];
        for (int t = 0; t < NT; t++) {
            tq1_acts(&xs[t][b], a[t]);
            bs[t] = tq1_bsums(&xs[t][b]);
        }
        for (int r = 0; r < TR; r++) {
            _mm_prefetch((const char *)&rows[r][b] + PREFETCH_BYTES, _MM_HINT_T0);
            __m512i v[TT];
            tq1_block(&rows[r][b], a, bs, NT, v);
            const float dr = _cvtsh_ss(rows[r][b].d) / 256.0f; /* v is 256 times the sum */
            for (int t = 0; t < NT; t++)
                acc[r][t] =
                    _mm512_fmadd_ps(_mm512_cvtepi32_ps(v[t]), _mm512_set1_ps(dr * xs[t][b].d), acc[r][t]);
        }
    }
    for (int t = 0; t < nt; t++)
        for (int r = 0; r < nr; r++)
            y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]);
}

void rz_gemm_tile_tq1_0_q8_K_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    if (nt == 1)
        tq1_tile(n, w, w_stride, nr, x, x_stride, 1, y, y_stride, 1);
    else
        tq1_tile(n, w, w_stride, nr, x, x_stride, nt, y, y_stride, TT);
}

float rz_i8_s_scale_avx512(const float *x, int64_t n) {
    __m512 mx = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16)
        mx = _mm512_max_ps(mx, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
    return (float)(127.0 / fmax((double)_mm512_reduce_max_ps(mx), 1e-5));
}

/* Same bytes as rz_quantize_row_i8_s (round half to even, exact clamp). */
void rz_quantize_row_i8_s_avx512(const float *restrict x, void *restrict dst, int64_t n) {
    rz_block_i8_s *y = dst;
    const float a = rz_i8_s_scale_avx512(x, n);
    const __m512 va = _mm512_set1_ps(a);
    const __m512i lo = _mm512_set1_epi32(-128), hi = _mm512_set1_epi32(127);
    __m512i sumv = _mm512_setzero_si512();
    for (int64_t b = 0; b < n / RZ_QK_I2S; b++) {
        const float *xb = x + b * RZ_QK_I2S;
        for (int j = 0; j < RZ_QK_I2S; j += 16) {
            __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xb + j), va));
            v = _mm512_max_epi32(_mm512_min_epi32(v, hi), lo);
            sumv = _mm512_add_epi32(sumv, v);
            _mm_storeu_si128((__m128i *)(y[b].qs + j), _mm512_cvtepi32_epi8(v));
        }
    }
    const int32_t sum = _mm512_reduce_add_epi32(sumv);
    for (int64_t b = 0; b < n / RZ_QK_I2S; b++) {
        y[b].a = a;
        y[b].sum = sum;
    }
}
