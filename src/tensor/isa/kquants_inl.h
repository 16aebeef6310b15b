/* Bodies of the Q4_1/Q5_0/Q5_1, IQ4_NL/MXFP4 and K-quant dot kernels on
 * 256-bit vectors, shared by kquants_avx2.c and kquants_avx512.c. The
 * including file defines KQ_FN(name) (the ISA suffix) and two integer steps:
 *   kq_dot_u8i8(acc, u, y): acc + per-lane sums of 4 products u*y (u
 *     unsigned codes <= 63, y int8);
 *   kq_madd_acc(acc, p, s): acc + p[2i]*s[2i] + p[2i+1]*s[2i+1] (int16).
 * Codes stay unsigned (offsets are subtracted through the activation block
 * sums), so maddubs products never saturate. Include only from files
 * compiled with the AVX2 flags. */
#ifndef RZ_TENSOR_ISA_KQUANTS_INL_H
#define RZ_TENSOR_ISA_KQUANTS_INL_H

#include <immintrin.h>
#include <string.h>

#include "tensor/isa/avx2_inl.h"
#include "tensor/isa/dot_k.h"
#include "tensor/isa/gemm.h"
#include "tensor/quants_k.h"

/* The 32 4-bit codes of a legacy block in element order (low nibbles, then
 * high nibbles). */
static inline __m256i kq_nibbles(const uint8_t qs[16]) {
    const __m256i raw = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_srlv_epi32(raw, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
                            _mm256_set1_epi8(15));
}

/* 0x10 in byte j where bit j of qh is set: the fifth bit of Q5 codes. */
static inline __m256i kq_q5_high(const uint8_t qh[4]) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)bits), _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2,
                                                       2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

static inline __m256i kq_load(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* int16 element a of each 128-bit lane of v in the low lane, element b in
 * the high lane (v holds 8 int16 scales, the same in both lanes). */
static inline __m256i kq_pick2(__m256i v, int a, int b) {
    return _mm256_shuffle_epi8(v, _mm256_set_m128i(_mm_set1_epi16((short)(0x0100 + 0x0202 * b)),
                                                   _mm_set1_epi16((short)(0x0100 + 0x0202 * a))));
}

/* 16 int16 scales as the 8 of group half h (0 or 1) in both lanes. */
static inline __m256i kq_half(__m256i sc16, int h) {
    return h ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00);
}

/* Legacy blocks: one float FMA per block; Q4_1/Q5_1 add m_x * s_y
 * (MIN_TERM). */
#define KQ_LEGACY_DOT(XTYPE, YTYPE, CODES, OFFSET, MIN_TERM)                                                 \
    const XTYPE *x = vx;                                                                                     \
    const YTYPE *y = vy;                                                                                     \
    __m256 acc = _mm256_setzero_ps();                                                                        \
    float mins = 0.0f;                                                                                       \
    for (int64_t b = 0; b < n / 32; b++) {                                                                   \
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);                                     \
        const __m256i yq = kq_load(y[b].qs);                                                                 \
        __m256i sum = kq_dot_u8i8(_mm256_setzero_si256(), CODES, yq);                                        \
        if (OFFSET)                                                                                          \
            sum = _mm256_sub_epi32(sum, kq_dot_u8i8(_mm256_setzero_si256(), _mm256_set1_epi8(OFFSET), yq));  \
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d)),                         \
                              _mm256_cvtepi32_ps(sum), acc);                                                 \
        mins += MIN_TERM;                                                                                    \
    }                                                                                                        \
    *s = hsum8(acc) + mins

#define KQ_MIN_TERM (_cvtsh_ss(x[b].m) * _cvtsh_ss(y[b].s))

void KQ_FN(rz_vec_dot_q4_1_q8_1)(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    KQ_LEGACY_DOT(rz_block_q4_1, rz_block_q8_1, kq_nibbles(x[b].qs), 0, KQ_MIN_TERM);
}

void KQ_FN(rz_vec_dot_q5_0_q8_0)(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    KQ_LEGACY_DOT(rz_block_q5_0, rz_block_q8_0, _mm256_or_si256(kq_nibbles(x[b].qs), kq_q5_high(x[b].qh)), 16,
                  0.0f);
}

void KQ_FN(rz_vec_dot_q5_1_q8_1)(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    KQ_LEGACY_DOT(rz_block_q5_1, rz_block_q8_1, _mm256_or_si256(kq_nibbles(x[b].qs), kq_q5_high(x[b].qh)), 0,
                  KQ_MIN_TERM);
}

/* Non-linear 4-bit blocks (IQ4_NL, MXFP4): the 16 levels by table lookup,
 * then a signed dot (|level| <= 127 as the unsigned operand, y with the
 * level's sign); one float FMA per block with the scale product. LUT is
 * KQ_IQ4NL or KQ_MXFP4: the type's LEVELS and its weight block's SCALE. */
#define KQ_IQ4NL_LEVELS   rz_iq4nl_values
#define KQ_IQ4NL_SCALE(x) _cvtsh_ss((x).d)
#define KQ_MXFP4_LEVELS   rz_mxfp4_values
#define KQ_MXFP4_SCALE(x) rz_e8m0_to_f32_half((x).e)

static inline __m256i kq_lut4_table(const int8_t levels[16]) {
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)levels));
}

/* acc + dx * d_y * (levels v of a weight block, av = |v|, dot y's codes). */
static inline __m256 kq_lut4_step(__m256 acc, __m256i v, __m256i av, const rz_block_q8_0 *y, float dx) {
    const __m256i sum = kq_dot_u8i8(_mm256_setzero_si256(), av, _mm256_sign_epi8(kq_load(y->qs), v));
    return _mm256_fmadd_ps(_mm256_set1_ps(dx * _cvtsh_ss(y->d)), _mm256_cvtepi32_ps(sum), acc);
}

#define KQ_LUT4_DOT(XTYPE, LUT)                                                                              \
    const XTYPE *x = vx;                                                                                     \
    const rz_block_q8_0 *y = vy;                                                                             \
    const __m256i table = kq_lut4_table(LUT##_LEVELS);                                                       \
    __m256 acc = _mm256_setzero_ps();                                                                        \
    for (int64_t b = 0; b < n / 32; b++) {                                                                   \
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);                                     \
        const __m256i v = _mm256_shuffle_epi8(table, kq_nibbles(x[b].qs));                                   \
        acc = kq_lut4_step(acc, v, _mm256_sign_epi8(v, v), &y[b], LUT##_SCALE(x[b]));                        \
    }                                                                                                        \
    *s = hsum8(acc)

void KQ_FN(rz_vec_dot_iq4_nl_q8_0)(int64_t n, float *restrict s, const void *restrict vx,
                                   const void *restrict vy) {
    KQ_LUT4_DOT(rz_block_iq4_nl, KQ_IQ4NL);
}

void KQ_FN(rz_vec_dot_mxfp4_q8_0)(int64_t n, float *restrict s, const void *restrict vx,
                                  const void *restrict vy) {
    KQ_LUT4_DOT(rz_block_mxfp4, KQ_MXFP4);
}

/* A tile's activation rows (y_row_stride bytes apart) as xt[NT] of YTYPE;
 * past nt the last one repeats (its sums are computed but not stored). */
#define KQ_TILE_TOKENS(YTYPE)                                                                                \
    const YTYPE *xt[NT];                                                                                     \
    for (int t = 0; t < NT; t++)                                                                             \
    xt[t] = (const YTYPE *)(const void *)((const char *)vy + (uint64_t)(t < nt ? t : nt - 1) * y_row_stride)

/* KQ_LUT4_DOT as an rz_gemm_tile_fn over up to RZ_GEMM_TILE_TOKENS tokens, a
 * weight row at a time: each block's levels are looked up once for all the
 * tile's tokens, with the dot's integer sums and float steps (AVX2's tiles;
 * AVX-512 has 512-bit ones in gemm_avx512.c). */
#define KQ_LUT4_TILE(XTYPE, LUT)                                                                             \
    enum { NT = RZ_GEMM_TILE_TOKENS };                                                                       \
    KQ_TILE_TOKENS(rz_block_q8_0);                                                                           \
    const __m256i table = kq_lut4_table(LUT##_LEVELS);                                                       \
    for (int r = 0; r < nr; r++) {                                                                           \
        const XTYPE *x = (const XTYPE *)(const void *)((const char *)vx + (uint64_t)r * x_row_stride);       \
        __m256 acc[NT];                                                                                      \
        for (int t = 0; t < NT; t++)                                                                         \
            acc[t] = _mm256_setzero_ps();                                                                    \
        for (int64_t b = 0; b < n / 32; b++) {                                                               \
            const __m256i v = _mm256_shuffle_epi8(table, kq_nibbles(x[b].qs)), av = _mm256_sign_epi8(v, v);  \
            const float dx = LUT##_SCALE(x[b]);                                                              \
            for (int t = 0; t < NT; t++)                                                                     \
                acc[t] = kq_lut4_step(acc[t], v, av, &xt[t][b], dx);                                         \
        }                                                                                                    \
        for (int t = 0; t < nt; t++)                                                                         \
            y[t * y_stride + r] = hsum8(acc[t]);                                                             \
    }

/* Per block: isum in eight int32 lanes (exact), msum likewise; then
 * acc += d * isum, acc_min += dmin * msum, in float. isum is built in two
 * halves (is[0], is[1]) so that the VNNI accumulations form two short
 * dependency chains instead of one long one. */
#define KQ_FINISH_BLOCK(ISUM, D) acc = _mm256_fmadd_ps(_mm256_set1_ps(D), _mm256_cvtepi32_ps(ISUM), acc)

void KQ_FN(rz_vec_dot_q2_K_q8_K)(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    const rz_block_q2_K *x = vx;
    const rz_block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();
    const __m256i three = _mm256_set1_epi8(3);
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);
        const float d = y[b].d * _cvtsh_ss(x[b].d), dmin = y[b].d * _cvtsh_ss(x[b].dmin);
        const __m128i packed = _mm_loadu_si128((const __m128i *)x[b].scales);
        const __m256i mins =
            _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(15)));
        acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dmin),
                                  _mm256_cvtepi32_ps(_mm256_madd_epi16(kq_load(y[b].bsums), mins)), acc_min);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(15)));
        __m256i is[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int h = 0; h < 2; h++) {
            __m256i q = kq_load(x[b].qs + 32 * h);
            const __m256i sc = kq_half(sc16, h);
            for (int k = 0; k < 4; k++, q = _mm256_srli_epi16(q, 2)) {
                const __m256i p =
                    _mm256_maddubs_epi16(_mm256_and_si256(q, three), kq_load(y[b].qs + 128 * h + 32 * k));
                is[k & 1] = kq_madd_acc(is[k & 1], p, kq_pick2(sc, 2 * k, 2 * k + 1));
            }
        }
        KQ_FINISH_BLOCK(_mm256_add_epi32(is[0], is[1]), d);
    }
    *s = hsum8(acc) - hsum8(acc_min);
}

/* rz_q3_K_scales, four groups per 32-bit word, as 16 int16. */
static inline __m256i kq_q3_scales(const uint8_t packed[12]) {
    uint32_t a[3];
    memcpy(a, packed, 12);
    const __m128i v = _mm_setr_epi32((int)((a[0] & 0x0f0f0f0fu) | (a[2] & 0x03030303u) << 4),
                                     (int)((a[1] & 0x0f0f0f0fu) | ((a[2] >> 2) & 0x03030303u) << 4),
                                     (int)(((a[0] >> 4) & 0x0f0f0f0fu) | ((a[2] >> 4) & 0x03030303u) << 4),
                                     (int)(((a[1] >> 4) & 0x0f0f0f0fu) | ((a[2] >> 6) & 0x03030303u) << 4));
    return _mm256_sub_epi16(_mm256_cvtepu8_epi16(v), _mm256_set1_epi16(32));
}

/* The codes of Q3_K and Q6_K blocks, for their dots and their tiles
 * (KQ_SC16_TILE): the 16 scales as int16, the code offset 2^SHIFT (taken
 * off through the block sums), what a block and a half of it load, and the
 * half's next 32 codes. */
/* Code k of a Q3_K half: 2 bits of q and 1 of hm, both advanced. */
static inline __m256i kq_q3_next_code(__m256i *q, __m256i *hm) {
    const __m256i code = _mm256_or_si256(_mm256_and_si256(*q, _mm256_set1_epi8(3)),
                                         _mm256_slli_epi16(_mm256_and_si256(*hm, _mm256_set1_epi8(1)), 2));
    *q = _mm256_srli_epi16(*q, 2);
    *hm = _mm256_srli_epi16(*hm, 1);
    return code;
}

#define KQ_Q3_SCALES  kq_q3_scales(x[b].scales)
#define KQ_Q3_SHIFT   2
#define KQ_Q3_BLOCK   __m256i hm = kq_load(x[b].hmask)
#define KQ_Q3_HALF(h) __m256i q = kq_load(x[b].qs + 32 * (h))
#define KQ_Q3_CODE    kq_q3_next_code(&q, &hm)

void KQ_FN(rz_vec_dot_q3_K_q8_K)(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    const rz_block_q3_K *x = vx;
    const rz_block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);
        const float d = y[b].d * _cvtsh_ss(x[b].d);
        /* Codes q + 4h in 0..7: value = code - 4, the 4 via the block sums. */
        const __m256i sc16 = KQ_Q3_SCALES;
        __m256i is[2] = {
            _mm256_sub_epi32(_mm256_setzero_si256(),
                             _mm256_slli_epi32(_mm256_madd_epi16(kq_load(y[b].bsums), sc16), KQ_Q3_SHIFT)),
            _mm256_setzero_si256()};
        KQ_Q3_BLOCK;
        for (int h = 0; h < 2; h++) {
            KQ_Q3_HALF(h);
            const __m256i sch = kq_half(sc16, h);
            for (int k = 0; k < 4; k++) {
                const __m256i p = _mm256_maddubs_epi16(KQ_Q3_CODE, kq_load(y[b].qs + 128 * h + 32 * k));
                is[k & 1] = kq_madd_acc(is[k & 1], p, kq_pick2(sch, 2 * k, 2 * k + 1));
            }
        }
        KQ_FINISH_BLOCK(_mm256_add_epi32(is[0], is[1]), d);
    }
    *s = hsum8(acc);
}

/* The 6-bit scales and mins of a Q4_K/Q5_K block (rz_k4_scale_min on four
 * groups at a time): scales as 8 int16 in both lanes, mins as int16 pairs
 * (m_g twice) to weigh the pairs of 16-sums in bsums. */
static inline void kq_k4_scales(const uint8_t packed[12], __m256i *scales, __m256i *mins) {
    uint32_t u[3];
    memcpy(u, packed, 12);
    const uint32_t sc_lo = u[0] & 0x3f3f3f3fu, m_lo = u[1] & 0x3f3f3f3fu;
    const uint32_t sc_hi = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 6) & 0x03030303u) << 4;
    const uint32_t m_hi = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 6) & 0x03030303u) << 4;
    const __m128i sc = _mm_cvtepu8_epi16(_mm_setr_epi32((int)sc_lo, (int)sc_hi, 0, 0));
    const __m128i m = _mm_cvtepu8_epi16(_mm_setr_epi32((int)m_lo, (int)m_hi, 0, 0));
    *scales = _mm256_broadcastsi128_si256(sc);
    *mins = _mm256_set_m128i(_mm_unpackhi_epi16(m, m), _mm_unpacklo_epi16(m, m));
}

#define KQ_K4_DOT(XTYPE, HIGH_BITS)                                                                          \
    const XTYPE *x = vx;                                                                                     \
    const rz_block_q8_K *y = vy;                                                                             \
    __m256 acc = _mm256_setzero_ps(), acc_min = _mm256_setzero_ps();                                         \
    const __m256i low4 = _mm256_set1_epi8(15);                                                               \
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {                                                              \
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES, _MM_HINT_T0);                                     \
        _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES + 64, _MM_HINT_T0);                                \
        const float d = y[b].d * _cvtsh_ss(x[b].d), dmin = y[b].d * _cvtsh_ss(x[b].dmin);                    \
        __m256i scales, mins;                                                                                \
        kq_k4_scales(x[b].scales, &scales, &mins);                                                           \
        acc_min =                                                                                            \
            _mm256_fmadd_ps(_mm256_set1_ps(dmin),                                                            \
                            _mm256_cvtepi32_ps(_mm256_madd_epi16(kq_load(y[b].bsums), mins)), acc_min);      \
        __m256i is[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};                                    \
        HIGH_BITS##_INIT;                                                                                    \
        for (int c = 0; c < 4; c++) {                                                                        \
            const __m256i raw = kq_load(x[b].qs + 32 * c);                                                   \
            __m256i lo = _mm256_and_si256(raw, low4),                                                        \
                    hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);                                  \
            HIGH_BITS##_ADD(lo, hi);                                                                         \
            const __m256i p_lo = _mm256_maddubs_epi16(lo, kq_load(y[b].qs + 64 * c));                        \
            const __m256i p_hi = _mm256_maddubs_epi16(hi, kq_load(y[b].qs + 64 * c + 32));                   \
            is[0] = kq_madd_acc(is[0], p_lo, kq_pick2(scales, 2 * c, 2 * c));                                \
            is[1] = kq_madd_acc(is[1], p_hi, kq_pick2(scales, 2 * c + 1, 2 * c + 1));                        \
        }                                                                                                    \
        KQ_FINISH_BLOCK(_mm256_add_epi32(is[0], is[1]), d);                                                  \
    }                                                                                                        \
    *s = hsum8(acc) - hsum8(acc_min)

#define KQ_NO_HIGH_INIT
#define KQ_NO_HIGH_ADD(lo, hi)
/* Q5_K: bit 2c of qh[l] completes the low code, bit 2c+1 the high one. */
#define KQ_Q5_HIGH_INIT                                                                                      \
    __m256i qh = kq_load(x[b].qh);                                                                           \
    const __m256i bit0 = _mm256_set1_epi8(1)
#define KQ_Q5_HIGH_ADD(lo, hi)                                                                               \
    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(qh, bit0), 4));                              \
    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), bit0), 4));        \
    qh = _mm256_srli_epi16(qh, 2)

/* KQ_K4_DOT as an rz_gemm_tile_fn over up to RZ_GEMM_TILE_TOKENS tokens, a
 * weight row at a time: each block's scales and codes are decoded once for
 * all the tile's tokens, with the dot's integer sums and float steps. */
#define KQ_K4_TILE(XTYPE, HIGH_BITS)                                                                         \
    enum { NT = RZ_GEMM_TILE_TOKENS };                                                                       \
    KQ_TILE_TOKENS(rz_block_q8_K);                                                                           \
    const __m256i low4 = _mm256_set1_epi8(15);                                                               \
    for (int r = 0; r < nr; r++) {                                                                           \
        const XTYPE *x = (const XTYPE *)(const void *)((const char *)vx + (uint64_t)r * x_row_stride);       \
        __m256 acc[NT], acc_min[NT];                                                                         \
        for (int t = 0; t < NT; t++)                                                                         \
            acc[t] = acc_min[t] = _mm256_setzero_ps();                                                       \
        for (int64_t b = 0; b < n / RZ_QK_K; b++) {                                                          \
            __m256i scales, mins, is[NT][2];                                                                 \
            kq_k4_scales(x[b].scales, &scales, &mins);                                                       \
            for (int t = 0; t < NT; t++) {                                                                   \
                acc_min[t] = _mm256_fmadd_ps(                                                                \
                    _mm256_set1_ps(xt[t][b].d * _cvtsh_ss(x[b].dmin)),                                       \
                    _mm256_cvtepi32_ps(_mm256_madd_epi16(kq_load(xt[t][b].bsums), mins)), acc_min[t]);       \
                is[t][0] = is[t][1] = _mm256_setzero_si256();                                                \
            }                                                                                                \
            HIGH_BITS##_INIT;                                                                                \
            for (int c = 0; c < 4; c++) {                                                                    \
                const __m256i raw = kq_load(x[b].qs + 32 * c);                                               \
                __m256i lo = _mm256_and_si256(raw, low4),                                                    \
                        hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), low4);                              \
                HIGH_BITS##_ADD(lo, hi);                                                                     \
                const __m256i s_lo = kq_pick2(scales, 2 * c, 2 * c),                                         \
                              s_hi = kq_pick2(scales, 2 * c + 1, 2 * c + 1);                                 \
                for (int t = 0; t < NT; t++) {                                                               \
                    is[t][0] = kq_madd_acc(is[t][0],                                                         \
                                           _mm256_maddubs_epi16(lo, kq_load(xt[t][b].qs + 64 * c)), s_lo);   \
                    is[t][1] = kq_madd_acc(                                                                  \
                        is[t][1], _mm256_maddubs_epi16(hi, kq_load(xt[t][b].qs + 64 * c + 32)), s_hi);       \
                }                                                                                            \
            }                                                                                                \
            for (int t = 0; t < NT; t++)                                                                     \
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xt[t][b].d * _cvtsh_ss(x[b].d)),                     \
                                         _mm256_cvtepi32_ps(_mm256_add_epi32(is[t][0], is[t][1])), acc[t]);  \
        }                                                                                                    \
        for (int t = 0; t < nt; t++)                                                                         \
            y[t * y_stride + r] = hsum8(acc[t]) - hsum8(acc_min[t]);                                         \
    }

void KQ_FN(rz_vec_dot_q4_K_q8_K)(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    KQ_K4_DOT(rz_block_q4_K, KQ_NO_HIGH);
}

void KQ_FN(rz_vec_dot_q5_K_q8_K)(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    KQ_K4_DOT(rz_block_q5_K, KQ_Q5_HIGH);
}

void KQ_FN(rz_gemm_tile_q4_K_q8_K)(int64_t n, const void *vx, uint64_t x_row_stride, int nr, const void *vy,
                                   uint64_t y_row_stride, int nt, float *y, int64_t y_stride) {
    KQ_K4_TILE(rz_block_q4_K, KQ_NO_HIGH);
}

void KQ_FN(rz_gemm_tile_q5_K_q8_K)(int64_t n, const void *vx, uint64_t x_row_stride, int nr, const void *vy,
                                   uint64_t y_row_stride, int nt, float *y, int64_t y_stride) {
    KQ_K4_TILE(rz_block_q5_K, KQ_Q5_HIGH);
}

/* Code k of a Q6_K half: its low nibble and 2 bits of qh (advanced). */
static inline __m256i kq_q6_next_code(__m256i low, __m256i *qh) {
    const __m256i code =
        _mm256_or_si256(low, _mm256_slli_epi16(_mm256_and_si256(*qh, _mm256_set1_epi8(3)), 4));
    *qh = _mm256_srli_epi16(*qh, 2);
    return code;
}

#define KQ_Q6_SCALES _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[b].scales))
#define KQ_Q6_SHIFT  5
#define KQ_Q6_BLOCK  const __m256i low4 = _mm256_set1_epi8(15)
#define KQ_Q6_HALF(h)                                                                                        \
    const __m256i ql0 = kq_load(x[b].ql + 64 * (h)), ql1 = kq_load(x[b].ql + 64 * (h) + 32);                 \
    __m256i qh = kq_load(x[b].qh + 32 * (h));                                                                \
    const __m256i low[4] = {_mm256_and_si256(ql0, low4), _mm256_and_si256(ql1, low4),                        \
                            _mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4),                               \
                            _mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4)}
#define KQ_Q6_CODE kq_q6_next_code(low[k], &qh)

void KQ_FN(rz_vec_dot_q6_K_q8_K)(int64_t n, float *restrict s, const void *restrict vx,
                                 const void *restrict vy) {
    const rz_block_q6_K *x = vx;
    const rz_block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        for (int pf = 0; pf < 4; pf++)
            _mm_prefetch((const char *)&x[b] + PREFETCH_BYTES + 64 * pf, _MM_HINT_T0);
        const float d = y[b].d * _cvtsh_ss(x[b].d);
        /* Codes 0..63, value = code - 32: the 32 via the block sums. */
        const __m256i sc16 = KQ_Q6_SCALES;
        __m256i is[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        const __m256i offset = _mm256_slli_epi32(_mm256_madd_epi16(kq_load(y[b].bsums), sc16), KQ_Q6_SHIFT);
        KQ_Q6_BLOCK;
        for (int h = 0; h < 2; h++) {
            KQ_Q6_HALF(h);
            const __m256i sc = kq_half(sc16, h);
            for (int k = 0; k < 4; k++) {
                const __m256i p = _mm256_maddubs_epi16(KQ_Q6_CODE, kq_load(y[b].qs + 128 * h + 32 * k));
                is[k & 1] = kq_madd_acc(is[k & 1], p, kq_pick2(sc, 2 * k, 2 * k + 1));
            }
        }
        KQ_FINISH_BLOCK(_mm256_sub_epi32(_mm256_add_epi32(is[0], is[1]), offset), d);
    }
    *s = hsum8(acc);
}

/* Q3_K and Q6_K (16 scales per block, codes offset by a constant) as an
 * rz_gemm_tile_fn over up to RZ_GEMM_TILE_TOKENS tokens, a weight row at a
 * time: each block's codes are decoded once for all the tile's tokens instead
 * of once per token, with vec_dot's integer sums and float steps (the same
 * results). CODES is KQ_Q3 or KQ_Q6, the hooks their dots use too. */
#define KQ_SC16_TILE(XTYPE, CODES)                                                                           \
    enum { NT = KQ_SC16_NT };                                                                                \
    KQ_TILE_TOKENS(rz_block_q8_K);                                                                           \
    for (int r = 0; r < nr; r++) {                                                                           \
        const XTYPE *x = (const XTYPE *)(const void *)((const char *)vx + (uint64_t)r * x_row_stride);       \
        __m256 acc[NT];                                                                                      \
        for (int t = 0; t < NT; t++)                                                                         \
            acc[t] = _mm256_setzero_ps();                                                                    \
        for (int64_t b = 0; b < n / RZ_QK_K; b++) {                                                          \
            const __m256i sc16 = CODES##_SCALES;                                                             \
            __m256i is[NT];                                                                                  \
            for (int t = 0; t < NT; t++)                                                                     \
                is[t] = _mm256_sub_epi32(                                                                    \
                    _mm256_setzero_si256(),                                                                  \
                    _mm256_slli_epi32(_mm256_madd_epi16(kq_load(xt[t][b].bsums), sc16), CODES##_SHIFT));     \
            CODES##_BLOCK;                                                                                   \
            for (int h = 0; h < 2; h++) {                                                                    \
                CODES##_HALF(h);                                                                             \
                const __m256i sc = kq_half(sc16, h);                                                         \
                for (int k = 0; k < 4; k++) {                                                                \
                    const __m256i code = CODES##_CODE, pair_scales = kq_pick2(sc, 2 * k, 2 * k + 1);         \
                    for (int t = 0; t < NT; t++)                                                             \
                        is[t] = kq_madd_acc(                                                                 \
                            is[t], _mm256_maddubs_epi16(code, kq_load(xt[t][b].qs + 128 * h + 32 * k)),      \
                            pair_scales);                                                                    \
                }                                                                                            \
            }                                                                                                \
            for (int t = 0; t < NT; t++)                                                                     \
                acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(xt[t][b].d * _cvtsh_ss(x[b].d)),                     \
                                         _mm256_cvtepi32_ps(is[t]), acc[t]);                                 \
        }                                                                                                    \
        for (int t = 0; t < nt; t++)                                                                         \
            y[t * y_stride + r] = hsum8(acc[t]);                                                             \
    }

void KQ_FN(rz_gemm_tile_q3_K_q8_K)(int64_t n, const void *vx, uint64_t x_row_stride, int nr, const void *vy,
                                   uint64_t y_row_stride, int nt, float *y, int64_t y_stride) {
    KQ_SC16_TILE(rz_block_q3_K, KQ_Q3);
}

void KQ_FN(rz_gemm_tile_q6_K_q8_K)(int64_t n, const void *vx, uint64_t x_row_stride, int nr, const void *vy,
                                   uint64_t y_row_stride, int nt, float *y, int64_t y_stride) {
    KQ_SC16_TILE(rz_block_q6_K, KQ_Q6);
}

#endif
