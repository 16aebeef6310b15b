#include "tensor/quants_ternary.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tensor/quants.h"
#include "tensor/quants_k.h"
#include "tensor/type_traits.h"

static const uint8_t pow3[6] = {1, 3, 9, 27, 81, 243};

/* Digit k (0 = most significant) of a TQ1_0 byte, as ggml extracts it. */
static inline int trit(uint8_t q, int k) { return (int)(((uint16_t)(uint8_t)(q * pow3[k]) * 3) >> 8); }

/* ggml's nearest_int: round half to even (the default FP rounding mode). */
static inline int nearest(float v) { return (int)lrintf(v); }

/* ------------------------------------ TQ1_0, TQ2_0, TQ2_0_G: decoding */

/* The 256 codes (value + 1) of one block of each TQ layout, in element
 * order, and its scale: the row converters, the vec_dot references and the
 * repacks to TQ2_0_G all go through them. */
typedef rz_fp16 (*tq_codes_fn)(const void *block, uint8_t codes[RZ_QK_TQ]);

/* Every TQ1_0 byte decodes to digits 0..2 (ggml's formula), which serve as
 * 2-bit codes as they are. */
static rz_fp16 tq1_0_codes(const void *block, uint8_t codes[RZ_QK_TQ]) {
    const rz_block_tq1_0 *b = block;
    int e = 0;
    for (int k = 0; k < 5; k++)
        for (int m = 0; m < 32; m++)
            codes[e++] = (uint8_t)trit(b->qs[m], k);
    for (int k = 0; k < 5; k++)
        for (int m = 0; m < 16; m++)
            codes[e++] = (uint8_t)trit(b->qs[32 + m], k);
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 4; j++)
            codes[e++] = (uint8_t)trit(b->qh[j], k);
    return b->d;
}

static rz_fp16 tq2_0_codes(const void *block, uint8_t codes[RZ_QK_TQ]) {
    const rz_block_tq2_0 *b = block;
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 4; l++)
            for (int m = 0; m < 32; m++)
                codes[128 * h + 32 * l + m] = (uint8_t)((b->qs[32 * h + m] >> (2 * l)) & 3);
    return b->d;
}

static rz_fp16 tq2_0_g_codes(const void *block, uint8_t codes[RZ_QK_TQ]) {
    const rz_block_tq2_0_g *b = block;
    for (int e = 0; e < RZ_QK_TQ; e++)
        codes[e] = (uint8_t)((b->qs[e % 64] >> (2 * (e / 64))) & 3);
    return b->d;
}

static void tq_dequantize(const void *src, size_t block_bytes, tq_codes_fn codes_of, float *dst, int64_t n) {
    uint8_t codes[RZ_QK_TQ];
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        const float d = rz_fp16_to_f32(codes_of((const char *)src + b * block_bytes, codes));
        for (int e = 0; e < RZ_QK_TQ; e++)
            *dst++ = (float)(codes[e] - 1) * d;
    }
}

/* Sum over blocks of (float)sumi * (d * d8), as ggml. */
static float tq_vec_dot(int64_t n, const void *vx, size_t block_bytes, tq_codes_fn codes_of,
                        const rz_block_q8_K *y) {
    uint8_t codes[RZ_QK_TQ];
    float sumf = 0.0f;
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        const rz_fp16 d = codes_of((const char *)vx + b * block_bytes, codes);
        int32_t sum = 0;
        for (int e = 0; e < RZ_QK_TQ; e++)
            sum += (codes[e] - 1) * y[b].qs[e];
        sumf += (float)sum * (rz_fp16_to_f32(d) * y[b].d);
    }
    return sumf;
}

/* Field l of byte m of a TQ2_0_G block is element 64l + m. */
static void tq_repack_g(const void *src, size_t block_bytes, tq_codes_fn codes_of, void *dst,
                        int64_t n_blocks) {
    rz_block_tq2_0_g *y = dst;
    uint8_t codes[RZ_QK_TQ];
    for (int64_t b = 0; b < n_blocks; b++) {
        y[b].d = codes_of((const char *)src + b * block_bytes, codes);
        for (int m = 0; m < RZ_QK_TQ / 4; m++) {
            unsigned q = 0;
            for (int l = 0; l < 4; l++)
                q |= (unsigned)codes[64 * l + m] << (2 * l);
            y[b].qs[m] = (uint8_t)q;
        }
    }
}

_Static_assert(offsetof(rz_block_tq1_0, d) == sizeof(rz_block_tq1_0) - sizeof(rz_fp16), "tq1_0 ends in d");
_Static_assert(offsetof(rz_block_tq2_0, d) == sizeof(rz_block_tq2_0) - sizeof(rz_fp16), "tq2_0 ends in d");

/* The decoder and block size of the stored TQ types (NULL for others). */
static tq_codes_fn tq_stored_layout(rz_type type, size_t *block_bytes) {
    switch (type) {
    case RZ_TYPE_TQ1_0: *block_bytes = sizeof(rz_block_tq1_0); return tq1_0_codes;
    case RZ_TYPE_TQ2_0: *block_bytes = sizeof(rz_block_tq2_0); return tq2_0_codes;
    default: return NULL;
    }
}

/* A block whose codes all mean 0 (TQ2_0: every byte 0x55; TQ1_0: every
 * digit 1) under a finite scale is 0 under any other. */
static bool tq_block_is_zero(const uint8_t codes[RZ_QK_TQ], rz_fp16 d) {
    if (!isfinite(rz_fp16_to_f32(d))) return false;
    for (int e = 0; e < RZ_QK_TQ; e++)
        if (codes[e] != 1) return false;
    return true;
}

bool rz_tq_shared_scale(rz_type type, const void *data, int64_t n, float *scale) {
    size_t bytes = 0;
    const tq_codes_fn codes_of = tq_stored_layout(type, &bytes);
    if (!codes_of || n % RZ_QK_I2S != 0) return false;
    uint8_t codes[RZ_QK_TQ];
    bool have = false;
    rz_fp16 shared = 0;
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        /* the scale ends both blocks: codes are decoded only where it differs */
        const char *block = (const char *)data + (size_t)b * bytes;
        rz_fp16 d;
        memcpy(&d, block + bytes - sizeof d, sizeof d);
        if (have && d == shared) continue;
        codes_of(block, codes);
        if (tq_block_is_zero(codes, d)) continue;
        if (have) return false;
        shared = d;
        have = true;
    }
    *scale = rz_fp16_to_f32(shared);
    return true;
}

void rz_tq_to_i2_s(rz_type type, const void *restrict src, void *restrict dst, int64_t n, float scale) {
    size_t bytes = 0;
    const tq_codes_fn codes_of = tq_stored_layout(type, &bytes);
    if (!codes_of) return;
    uint8_t *out = dst, codes[RZ_QK_TQ];
    memset(out, 0, (size_t)(n / 4) + 32);
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        codes_of((const char *)src + (size_t)b * bytes, codes);
        for (int e = 0; e < RZ_QK_TQ; e++) {
            const int64_t i = b * RZ_QK_TQ + e, g = i / RZ_QK_I2S, j = i % RZ_QK_I2S;
            out[32 * g + j % 32] |= (uint8_t)(codes[e] << (6 - 2 * (j / 32)));
        }
    }
    memcpy(out + n / 4, &scale, sizeof scale);
}

void rz_dequantize_row_tq1_0(const void *restrict src, float *restrict dst, int64_t n) {
    tq_dequantize(src, sizeof(rz_block_tq1_0), tq1_0_codes, dst, n);
}

void rz_dequantize_row_tq2_0(const void *restrict src, float *restrict dst, int64_t n) {
    tq_dequantize(src, sizeof(rz_block_tq2_0), tq2_0_codes, dst, n);
}

void rz_dequantize_row_tq2_0_g(const void *restrict src, float *restrict dst, int64_t n) {
    tq_dequantize(src, sizeof(rz_block_tq2_0_g), tq2_0_g_codes, dst, n);
}

void rz_vec_dot_tq1_0_q8_K(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    *s = tq_vec_dot(n, vx, sizeof(rz_block_tq1_0), tq1_0_codes, vy);
}

void rz_vec_dot_tq2_0_q8_K(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    *s = tq_vec_dot(n, vx, sizeof(rz_block_tq2_0), tq2_0_codes, vy);
}

void rz_vec_dot_tq2_0_g_q8_K(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    *s = tq_vec_dot(n, vx, sizeof(rz_block_tq2_0_g), tq2_0_g_codes, vy);
}

void rz_repack_tq1_0_g(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows) {
    tq_repack_g(src, sizeof(rz_block_tq1_0), tq1_0_codes, dst, n_per_row / RZ_QK_TQ * nrows);
}

void rz_repack_tq2_0_g(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows) {
    tq_repack_g(src, sizeof(rz_block_tq2_0), tq2_0_codes, dst, n_per_row / RZ_QK_TQ * nrows);
}

/* ------------------------------------------------------------- TQ1_0 */

/* Packs `digits` trits (0..2, most significant first) of elements stride
 * apart, padded to five, into one byte. */
static uint8_t pack_trits(const float *x, int stride, int digits, float id) {
    int q = 0;
    for (int k = 0; k < digits; k++)
        q = q * 3 + (int)lroundf(x[k * stride] * id) + 1;
    for (int k = digits; k < 5; k++)
        q *= 3;
    return (uint8_t)((q * 256 + 242) / 243);
}

static float block_absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++)
        amax = fmaxf(amax, fabsf(x[j]));
    return amax;
}

void rz_quantize_row_tq1_0_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_tq1_0 *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        const float *x = src + b * RZ_QK_TQ;
        const float d = block_absmax(x, RZ_QK_TQ);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int m = 0; m < 32; m++)
            y[b].qs[m] = pack_trits(x + m, 32, 5, id);
        for (int m = 0; m < 16; m++)
            y[b].qs[32 + m] = pack_trits(x + 160 + m, 16, 5, id);
        for (int j = 0; j < 4; j++)
            y[b].qh[j] = pack_trits(x + 240 + j, 4, 4, id);
        y[b].d = rz_f32_to_fp16(d);
    }
}

/* ------------------------------------------------------------- TQ2_0 */

void rz_quantize_row_tq2_0_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_tq2_0 *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        const float *x = src + b * RZ_QK_TQ;
        const float d = block_absmax(x, RZ_QK_TQ);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        for (int h = 0; h < 2; h++)
            for (int m = 0; m < 32; m++) {
                int q = 0;
                for (int l = 0; l < 4; l++)
                    q |= (((int)lroundf(x[128 * h + 32 * l + m] * id) + 1) & 3) << (2 * l);
                y[b].qs[32 * h + m] = (uint8_t)q;
            }
        y[b].d = rz_f32_to_fp16(d);
    }
}

/* -------------------------------------------------------------- I2_S */

float rz_i2s_scale(const void *data, int64_t n) {
    float s;
    memcpy(&s, (const uint8_t *)data + n / 4, sizeof s);
    return s;
}

void rz_dequantize_i2_s(const void *restrict src, float *restrict dst, int64_t n) {
    const uint8_t *codes = src;
    const float s = rz_i2s_scale(src, n);
    for (int64_t g = 0; g < n / RZ_QK_I2S; g++)
        for (int j = 0; j < RZ_QK_I2S; j++)
            *dst++ = (float)(rz_i2s_code(codes + 32 * g, j) - 1) * s;
}

void rz_i2_s_from_ternary(const int8_t *restrict t, float s, void *restrict out, int64_t n) {
    uint8_t *dst = out;
    memset(dst, 0, (size_t)(n / 4) + 32);
    for (int64_t i = 0; i < n; i++) {
        const int64_t g = i / RZ_QK_I2S, j = i % RZ_QK_I2S;
        dst[32 * g + j % 32] |= (uint8_t)((t[i] + 1) << (6 - 2 * (j / 32)));
    }
    memcpy(dst + n / 4, &s, sizeof s);
}

float rz_i8_s_scale(const float *x, int64_t n) {
    double m = 1e-5;
    for (int64_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)x[i]));
    return (float)(127.0 / m);
}

void rz_quantize_row_i8_s(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_i8_s *y = dst;
    const float a = rz_i8_s_scale(src, n);
    int32_t sum = 0;
    for (int64_t b = 0; b < n / RZ_QK_I2S; b++)
        for (int j = 0; j < RZ_QK_I2S; j++) {
            int q = nearest(src[b * RZ_QK_I2S + j] * a);
            q = q < -128 ? -128 : q > 127 ? 127 : q;
            y[b].qs[j] = (int8_t)q;
            sum += q;
        }
    for (int64_t b = 0; b < n / RZ_QK_I2S; b++) {
        y[b].a = a;
        y[b].sum = sum;
    }
}

/* ------------------------------------------------- absmean ternarizer */

/* Codes t in {-1, 0, 1} and the scale of n weights (see the header). */
static rz_status ternarize(const float *w, int64_t n, int8_t **codes, float *scale) {
    int8_t *t = malloc((size_t)n);
    if (!t) return rz_error(RZ_ERR_NOMEM, "out of memory ternarizing %lld weights", (long long)n);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs((double)w[i]);
    const double mean = sum / (double)n;
    double kept = 0.0;
    int64_t n_kept = 0;
    for (int64_t i = 0; i < n; i++) {
        const double r = mean > 0.0 ? round((double)w[i] / mean) : 0.0;
        t[i] = (int8_t)(r > 1.0 ? 1 : r < -1.0 ? -1 : r);
        if (t[i]) {
            kept += fabs((double)w[i]);
            n_kept++;
        }
    }
    *codes = t;
    *scale = n_kept ? (float)(kept / (double)n_kept) : 0.0f;
    return RZ_OK;
}

static rz_status quantize_tensor_tq(const float *src, void *dst, int64_t n, rz_from_float_fn quantize_row,
                                    size_t block_bytes) {
    if (n % RZ_QK_TQ != 0)
        return rz_error(RZ_ERR_INVALID_ARG, "tq: needs a multiple of %d values, not %lld", RZ_QK_TQ,
                        (long long)n);
    int8_t *t;
    float s;
    RZ_TRY(ternarize(src, n, &t, &s));
    /* Every block's d is the absmax of t*s, i.e. s as fp16 unless the block
     * is all zero; rounding s first makes the block quantizer see it exactly. */
    s = rz_fp16_to_f32(rz_f32_to_fp16(s));
    float *v = malloc(RZ_QK_TQ * sizeof *v);
    if (!v) {
        free(t);
        return rz_error(RZ_ERR_NOMEM, "out of memory");
    }
    for (int64_t b = 0; b < n / RZ_QK_TQ; b++) {
        for (int j = 0; j < RZ_QK_TQ; j++)
            v[j] = (float)t[b * RZ_QK_TQ + j] * s;
        quantize_row(v, (uint8_t *)dst + (size_t)b * block_bytes, RZ_QK_TQ);
    }
    free(v);
    free(t);
    return RZ_OK;
}

rz_status rz_quantize_tensor_tq1_0(const float *restrict src, void *restrict dst, int64_t nrows,
                                   int64_t n_per_row) {
    return quantize_tensor_tq(src, dst, nrows * n_per_row, rz_quantize_row_tq1_0_ref, sizeof(rz_block_tq1_0));
}

rz_status rz_quantize_tensor_tq2_0(const float *restrict src, void *restrict dst, int64_t nrows,
                                   int64_t n_per_row) {
    return quantize_tensor_tq(src, dst, nrows * n_per_row, rz_quantize_row_tq2_0_ref, sizeof(rz_block_tq2_0));
}

rz_status rz_quantize_tensor_i2_s(const float *restrict src, void *restrict dst, int64_t nrows,
                                  int64_t n_per_row) {
    const int64_t n = nrows * n_per_row;
    if (n % RZ_QK_I2S != 0)
        return rz_error(RZ_ERR_INVALID_ARG, "i2_s needs a multiple of %d values, not %lld", RZ_QK_I2S,
                        (long long)n);
    int8_t *t;
    float s;
    RZ_TRY(ternarize(src, n, &t, &s));
    rz_i2_s_from_ternary(t, s, dst, n);
    free(t);
    return RZ_OK;
}

/* ---------------------------------------------------------- vec_dot */

void rz_vec_dot_i2_s_i8_s(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const uint8_t *x = vx;
    const rz_block_i8_s *y = vy;
    int32_t dot = 0;
    for (int64_t g = 0; g < n / RZ_QK_I2S; g++)
        for (int j = 0; j < RZ_QK_I2S; j++)
            dot += rz_i2s_code(x + 32 * g, j) * y[g].qs[j];
    *s = ((float)dot - (float)y[0].sum) / y[0].a;
}
