/* AVX-512 VNNI tiles for Q4_0 / Q8_0 weights times Q8_0 activations.
 *
 * Two 32-value blocks share one 512-bit register, and each weight block is
 * decoded once per tile of tokens. vpdpbusd multiplies unsigned by signed
 * bytes, so the accumulator is seeded with a correction instead of spending
 * an instruction per product:
 *   Q4_0: weights are nibbles n in [0, 15] (unsigned), value n - 8, so
 *         dpbusd(-8 * sum(x), n, x) = sum((n - 8) * x), the seed computed
 *         once per token;
 *   Q8_0: activations are offset to unsigned (x ^ 0x80 = x + 128), so
 *         dpbusd(-128 * sum(w), x + 128, w) = sum(x * w), the seed computed
 *         once per weight block.
 * Per-lane partial sums are scaled per block (d_w * d_x) in float, as
 * ggml's vec_dot does per block, and reduced once at the end. */
#include <immintrin.h>

#include "tensor/isa/gemm.h"
#include "tensor/quants.h"
#include "tensor/quants_k.h"

enum { NR = RZ_GEMM_TILE, NT = 3 };

/* Lane l of a two-block register belongs to block (l / 4) % 2 (Q4_0 order:
 * low nibbles of both blocks, then high nibbles) or l / 8 (Q8_0 order). */
static inline __m512 pair_scales_q4_ps(__m128 d) {
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(d));
}

static inline __m512 pair_scales_q4(rz_fp16 d0, rz_fp16 d1) {
    return pair_scales_q4_ps(_mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, 0, 0, (short)d1, (short)d0)));
}

static inline __m512 pair_scales_q8(rz_fp16 d0, rz_fp16 d1) {
    const __m128 d = _mm_cvtph_ps(_mm_set_epi16(0, 0, 0, 0, 0, 0, (short)d1, (short)d0));
    const __m512i idx = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(d));
}

static inline __m512i join(__m256i lo, __m256i hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Row and token pointers of a tile; missing ones repeat the last (their
 * results are not stored), so edge tiles need no second code path. */
#define TILE_POINTERS(wblock)                                                                                \
    const wblock *wr[NR];                                                                                    \
    const rz_block_q8_0 *xr[NT];                                                                             \
    for (int i = 0; i < NR; i++)                                                                             \
        wr[i] = (const wblock *)((const char *)w + (uint64_t)(i < nr ? i : nr - 1) * w_stride);              \
    for (int i = 0; i < NT; i++)                                                                             \
        xr[i] = (const rz_block_q8_0 *)((const char *)x + (uint64_t)(i < nt ? i : nt - 1) * x_stride);       \
    __m512 acc[NR][NT];                                                                                      \
    for (int r = 0; r < NR; r++)                                                                             \
        for (int t = 0; t < NT; t++)                                                                         \
            acc[r][t] = _mm512_setzero_ps();                                                                 \
    const int64_t nb = n / 32;

/* Tail block (odd block count, weight scale wscale(block)) and the final
 * reduction. */
#define TILE_FINISH(tail_weights, tail_seed_for, wscale)                                                     \
    float tail[NR][NT] = {{0}};                                                                              \
    if (nb % 2) {                                                                                            \
        const int64_t b = nb - 1;                                                                            \
        for (int r = 0; r < NR; r++) {                                                                       \
            const __m256i q = tail_weights;                                                                  \
            for (int t = 0; t < NT; t++) {                                                                   \
                const __m256i xv = _mm256_loadu_si256((const __m256i *)xr[t][b].qs);                         \
                const __m256i dot = tail_seed_for;                                                           \
                const float s = wscale(wr[r][b]) * _cvtsh_ss(xr[t][b].d);                                    \
                tail[r][t] = hsum256(_mm256_cvtepi32_ps(dot)) * s;                                           \
            }                                                                                                \
        }                                                                                                    \
    }                                                                                                        \
    for (int t = 0; t < nt; t++)                                                                             \
        for (int r = 0; r < nr; r++)                                                                         \
            y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]) + tail[r][t];

#define FP16_SCALE(blk)   _cvtsh_ss((blk).d)
#define E8M0_SCALE(blk)   rz_e8m0_to_f32_half((blk).e)
#define FP16_PAIR(b0, b1) pair_scales_q4((b0).d, (b1).d)
#define E8M0_PAIR(b0, b1) pair_scales_q4_ps(_mm_setr_ps(E8M0_SCALE(b0), E8M0_SCALE(b1), 0.0f, 0.0f))
#define NO_DECODE(q)      (q)
/* IQ4_NL / MXFP4: levels + 128 (unsigned) from the function's table. */
#define LUT4_DECODE(q) _mm512_shuffle_epi8(table, q)

/* Blocks of 32 nibble codes (Q4_0 order) with a 16-bit or E8M0 scale:
 * decode(codes) maps them to unsigned bytes `offset` above their values,
 * through the seed as Q4_0's 8; wscale / wpair give one / two blocks'
 * scales. */
#define NIBBLE_TILE(wblock, decode, offset, wscale, wpair)                                                   \
    TILE_POINTERS(wblock)                                                                                    \
    const __m256i nibble = _mm256_set1_epi8(0x0f);                                                           \
    const __m512i off = _mm512_set1_epi8((char)(offset));                                                    \
    for (int64_t b = 0; b + 1 < nb; b += 2) {                                                                \
        __m512i q[NR];                                                                                       \
        __m512 dw[NR];                                                                                       \
        for (int r = 0; r < NR; r++) {                                                                       \
            const __m256i v = _mm256_set_m128i(_mm_loadu_si128((const __m128i *)wr[r][b + 1].qs),            \
                                               _mm_loadu_si128((const __m128i *)wr[r][b].qs));               \
            q[r] = decode(                                                                                   \
                join(_mm256_and_si256(v, nibble), _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble)));       \
            dw[r] = wpair(wr[r][b], wr[r][b + 1]);                                                           \
        }                                                                                                    \
        for (int t = 0; t < NT; t++) {                                                                       \
            /* Activation order matching the nibbles: x0[0:16] x1[0:16] x0[16:32] x1[16:32]. */              \
            const __m512i xz = join(_mm256_loadu_si256((const __m256i *)xr[t][b].qs),                        \
                                    _mm256_loadu_si256((const __m256i *)xr[t][b + 1].qs));                   \
            const __m512i xv = _mm512_shuffle_i64x2(xz, xz, _MM_SHUFFLE(3, 1, 2, 0));                        \
            const __m512i seed = _mm512_sub_epi32(_mm512_setzero_si512(),                                    \
                                                  _mm512_dpbusd_epi32(_mm512_setzero_si512(), off, xv));     \
            const __m512 dx = pair_scales_q4(xr[t][b].d, xr[t][b + 1].d);                                    \
            for (int r = 0; r < NR; r++) {                                                                   \
                const __m512i dot = _mm512_dpbusd_epi32(seed, q[r], xv);                                     \
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], dx), acc[r][t]);   \
            }                                                                                                \
        }                                                                                                    \
    }                                                                                                        \
    TILE_FINISH(_mm512_castsi512_si256(decode(_mm512_castsi256_si512(_mm256_and_si256(                       \
                    _mm256_set_m128i(_mm_srli_epi16(_mm_loadu_si128((const __m128i *)wr[r][b].qs), 4),       \
                                     _mm_loadu_si128((const __m128i *)wr[r][b].qs)),                         \
                    nibble)))),                                                                              \
                _mm256_dpbusd_epi32(_mm256_sub_epi32(_mm256_setzero_si256(),                                 \
                                                     _mm256_dpbusd_epi32(_mm256_setzero_si256(),             \
                                                                         _mm512_castsi512_si256(off), xv)),  \
                                    q, xv),                                                                  \
                wscale)

void rz_gemm_tile_q4_0_q8_0_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    NIBBLE_TILE(rz_block_q4_0, NO_DECODE, 8, FP16_SCALE, FP16_PAIR)
}

/* The levels + 128 broadcast to every 128-bit lane (vpshufb's table). */
static inline __m512i lut4_table(const int8_t levels[16]) {
    return _mm512_xor_si512(_mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)levels)),
                            _mm512_set1_epi8((char)0x80));
}

void rz_gemm_tile_iq4_nl_q8_0_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                     uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    const __m512i table = lut4_table(rz_iq4nl_values);
    NIBBLE_TILE(rz_block_iq4_nl, LUT4_DECODE, 0x80, FP16_SCALE, FP16_PAIR)
}

void rz_gemm_tile_mxfp4_q8_0_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                    uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    const __m512i table = lut4_table(rz_mxfp4_values);
    NIBBLE_TILE(rz_block_mxfp4, LUT4_DECODE, 0x80, E8M0_SCALE, E8M0_PAIR)
}

void rz_gemm_tile_q8_0_q8_0_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                   uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    TILE_POINTERS(rz_block_q8_0)
    const __m512i offset = _mm512_set1_epi8((char)0x80);
    for (int64_t b = 0; b + 1 < nb; b += 2) {
        __m512i q[NR], seed[NR];
        __m512 dw[NR];
        for (int r = 0; r < NR; r++) {
            q[r] = join(_mm256_loadu_si256((const __m256i *)wr[r][b].qs),
                        _mm256_loadu_si256((const __m256i *)wr[r][b + 1].qs));
            seed[r] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                       _mm512_dpbusd_epi32(_mm512_setzero_si512(), offset, q[r]));
            dw[r] = pair_scales_q8(wr[r][b].d, wr[r][b + 1].d);
        }
        for (int t = 0; t < NT; t++) {
            const __m512i xu = _mm512_xor_si512(join(_mm256_loadu_si256((const __m256i *)xr[t][b].qs),
                                                     _mm256_loadu_si256((const __m256i *)xr[t][b + 1].qs)),
                                                offset);
            const __m512 dx = pair_scales_q8(xr[t][b].d, xr[t][b + 1].d);
            for (int r = 0; r < NR; r++) {
                const __m512i dot = _mm512_dpbusd_epi32(seed[r], xu, q[r]);
                acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw[r], dx), acc[r][t]);
            }
        }
    }
    TILE_FINISH(_mm256_loadu_si256((const __m256i *)wr[r][b].qs),
                _mm256_dpbusd_epi32(_mm256_sub_epi32(_mm256_setzero_si256(),
                                                     _mm256_dpbusd_epi32(_mm256_setzero_si256(),
                                                                         _mm256_set1_epi8((char)0x80), q)),
                                    _mm256_xor_si256(xv, _mm256_set1_epi8((char)0x80)), q),
                FP16_SCALE)
}

/* Float weights times activations already rounded to the weight type and
 * widened to float once per matmul (F16_ACT, BF16_ACT): only the weights are
 * widened here, each 16-value slice once for FLOAT_TOKENS tokens. Widening
 * F16 costs two uops on the FMA ports (BF16: one), so against 24 FMAs it
 * leaves most of their time to the products. */
enum { FLOAT_ROWS = 4, FLOAT_TOKENS = 6 };

#define FLOAT_TILE_BEGIN(w_t)                                                                                \
    const w_t *wr[FLOAT_ROWS];                                                                               \
    const float *xr[FLOAT_TOKENS];                                                                           \
    for (int r = 0; r < FLOAT_ROWS; r++)                                                                     \
        wr[r] = (const w_t *)((const char *)w + (uint64_t)(r < nr ? r : nr - 1) * w_stride);                 \
    for (int t = 0; t < FLOAT_TOKENS; t++)                                                                   \
        xr[t] = (const float *)((const char *)x + (uint64_t)(t < nt ? t : nt - 1) * x_stride);               \
    __m512 acc[FLOAT_ROWS][FLOAT_TOKENS];                                                                    \
    for (int r = 0; r < FLOAT_ROWS; r++)                                                                     \
        for (int t = 0; t < FLOAT_TOKENS; t++)                                                               \
            acc[r][t] = _mm512_setzero_ps();

/* acc[r][t] += (weights of row r) * (16 floats of token t at x_at(xr[t])). */
#define FLOAT_TILE_STEP(load_w, x_at)                                                                        \
    do {                                                                                                     \
        __m512 wv[FLOAT_ROWS];                                                                               \
        for (int r = 0; r < FLOAT_ROWS; r++)                                                                 \
            wv[r] = load_w(wr[r]);                                                                           \
        for (int t = 0; t < FLOAT_TOKENS; t++) {                                                             \
            const __m512 xv = x_at(xr[t]);                                                                   \
            for (int r = 0; r < FLOAT_ROWS; r++)                                                             \
                acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);                                           \
        }                                                                                                    \
    } while (0)

/* Loads of the slice at i of a row p (the kernels' i, tail mask m, and for
 * BF16 the mask high). */
#define W_FULL(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((p) + i)))
#define X_FULL(p) _mm512_loadu_ps((p) + i)
#define W_PART(p) _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (p) + i))
#define X_PART(p) _mm512_maskz_loadu_ps(m, (p) + i)
#define W_EVEN(p) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512((p) + i), 16))
#define W_ODD(p)  _mm512_castsi512_ps(_mm512_and_si512(_mm512_loadu_si512((p) + i), high))
#define X_ODD(p)  _mm512_loadu_ps((p) + i + 16)
#define W_BF16(p)                                                                                            \
    _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, (p) + i)), 16))

#define FLOAT_TILE_END                                                                                       \
    for (int t = 0; t < nt; t++)                                                                             \
        for (int r = 0; r < nr; r++)                                                                         \
            y[t * y_stride + r] = _mm512_reduce_add_ps(acc[r][t]);

void rz_gemm_tile_f16_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                             uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    FLOAT_TILE_BEGIN(rz_fp16)
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        FLOAT_TILE_STEP(W_FULL, X_FULL);
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    if (i < n) FLOAT_TILE_STEP(W_PART, X_PART);
    FLOAT_TILE_END
}

/* A 64-byte load holds 32 bf16: each 32-bit lane's low half (even index)
 * shifted up, and its high half (odd index) masked, are those values as
 * float, which BF16_ACT matches by storing each 32-value block evens first. */
void rz_gemm_tile_bf16_avx512(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                              uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    FLOAT_TILE_BEGIN(rz_bf16)
    const __m512i high = _mm512_set1_epi32((int)0xffff0000u);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        FLOAT_TILE_STEP(W_EVEN, X_FULL);
        FLOAT_TILE_STEP(W_ODD, X_ODD);
    }
    /* the last n % 32 values, in order */
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        FLOAT_TILE_STEP(W_BF16, X_PART);
    }
    FLOAT_TILE_END
}
