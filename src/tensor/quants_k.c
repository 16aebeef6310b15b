#include "tensor/quants_k.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Round half to even, as ggml's nearest_int (for |v| < 2^22). */
static inline int nearest_int(float v) { return (int)lrintf(v); }

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ----------------------------------------------------------- dequantize */

void rz_dequantize_row_q4_1(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q4_1 *x = src;
    for (int64_t b = 0; b < n / 32; b++, dst += 32) {
        const float d = rz_fp16_to_f32(x[b].d), m = rz_fp16_to_f32(x[b].m);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)(x[b].qs[j] & 15) * d + m;
            dst[j + 16] = (float)(x[b].qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t load_qh(const uint8_t qh[4]) {
    uint32_t v;
    memcpy(&v, qh, 4);
    return v;
}

/* The 5-bit codes of elements j and j + 16. */
static inline void q5_codes(const uint8_t *qs, uint32_t qh, int j, int *c0, int *c1) {
    *c0 = (qs[j] & 15) | (int)(((qh >> j) << 4) & 0x10);
    *c1 = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
}

void rz_dequantize_row_q5_0(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q5_0 *x = src;
    for (int64_t b = 0; b < n / 32; b++, dst += 32) {
        const float d = rz_fp16_to_f32(x[b].d);
        const uint32_t qh = load_qh(x[b].qh);
        for (int j = 0; j < 16; j++) {
            int c0, c1;
            q5_codes(x[b].qs, qh, j, &c0, &c1);
            dst[j] = (float)(c0 - 16) * d;
            dst[j + 16] = (float)(c1 - 16) * d;
        }
    }
}

void rz_dequantize_row_q5_1(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q5_1 *x = src;
    for (int64_t b = 0; b < n / 32; b++, dst += 32) {
        const float d = rz_fp16_to_f32(x[b].d), m = rz_fp16_to_f32(x[b].m);
        const uint32_t qh = load_qh(x[b].qh);
        for (int j = 0; j < 16; j++) {
            int c0, c1;
            q5_codes(x[b].qs, qh, j, &c0, &c1);
            dst[j] = (float)c0 * d + m;
            dst[j + 16] = (float)c1 * d + m;
        }
    }
}

const int8_t rz_iq4nl_values[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

void rz_dequantize_row_iq4_nl(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_iq4_nl *x = src;
    for (int64_t b = 0; b < n / 32; b++, dst += 32) {
        const float d = rz_fp16_to_f32(x[b].d);
        for (int j = 0; j < 16; j++) {
            dst[j] = d * (float)rz_iq4nl_values[x[b].qs[j] & 15];
            dst[j + 16] = d * (float)rz_iq4nl_values[x[b].qs[j] >> 4];
        }
    }
}

const int8_t rz_mxfp4_values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

void rz_dequantize_row_mxfp4(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_mxfp4 *x = src;
    for (int64_t b = 0; b < n / 32; b++, dst += 32) {
        const float d = rz_e8m0_to_f32_half(x[b].e);
        for (int j = 0; j < 16; j++) {
            dst[j] = (float)rz_mxfp4_values[x[b].qs[j] & 15] * d;
            dst[j + 16] = (float)rz_mxfp4_values[x[b].qs[j] >> 4] * d;
        }
    }
}

void rz_dequantize_row_q8_1(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q8_1 *x = src;
    for (int64_t b = 0; b < n / 32; b++, dst += 32) {
        const float d = rz_fp16_to_f32(x[b].d);
        for (int j = 0; j < 32; j++)
            dst[j] = (float)x[b].qs[j] * d;
    }
}

void rz_dequantize_row_q2_K(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q2_K *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float d = rz_fp16_to_f32(x[b].d), dmin = rz_fp16_to_f32(x[b].dmin);
        const uint8_t *q = x[b].qs;
        int g = 0;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++, g++) {
                    const float dl = d * (float)(x[b].scales[g] & 15);
                    const float ml = dmin * (float)(x[b].scales[g] >> 4);
                    for (int l = 0; l < 16; l++)
                        *dst++ = dl * (float)((q[16 * part + l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

void rz_q3_K_scales(const uint8_t packed[12], int8_t out[16]) {
    /* Low 4 bits: nibbles of bytes 0..7 (low nibbles are groups 0..7, high
     * nibbles groups 8..15); high 2 bits: bytes 8..11, 2 bits per group. */
    for (int j = 0; j < 16; j++) {
        const int low = j < 8 ? packed[j] & 15 : packed[j - 8] >> 4;
        const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((low | high << 4) - 32);
    }
}

void rz_dequantize_row_q3_K(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q3_K *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float d = rz_fp16_to_f32(x[b].d);
        int8_t sc[16];
        rz_q3_K_scales(x[b].scales, sc);
        const uint8_t *q = x[b].qs;
        int g = 0;
        uint8_t mask = 1;
        for (int half = 0; half < 2; half++, q += 32) {
            for (int shift = 0; shift < 8; shift += 2, mask = (uint8_t)(mask << 1)) {
                for (int part = 0; part < 2; part++, g++) {
                    const float dl = d * (float)sc[g];
                    for (int l = 0; l < 16; l++) {
                        const int i = 16 * part + l;
                        const int v = ((q[i] >> shift) & 3) - ((x[b].hmask[i] & mask) ? 0 : 4);
                        *dst++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

void rz_dequantize_row_q4_K(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q4_K *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float d = rz_fp16_to_f32(x[b].d), dmin = rz_fp16_to_f32(x[b].dmin);
        const uint8_t *q = x[b].qs;
        for (int g = 0; g < 8; g += 2, q += 32) {
            uint8_t sc, m;
            rz_k4_scale_min(x[b].scales, g, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            rz_k4_scale_min(x[b].scales, g + 1, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (float)(q[l] & 15) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void rz_dequantize_row_q5_K(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q5_K *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float d = rz_fp16_to_f32(x[b].d), dmin = rz_fp16_to_f32(x[b].dmin);
        const uint8_t *ql = x[b].qs, *qh = x[b].qh;
        uint8_t u1 = 1, u2 = 2;
        for (int g = 0; g < 8; g += 2, ql += 32, u1 = (uint8_t)(u1 << 2), u2 = (uint8_t)(u2 << 2)) {
            uint8_t sc, m;
            rz_k4_scale_min(x[b].scales, g, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            rz_k4_scale_min(x[b].scales, g + 1, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                *dst++ = d1 * (float)((ql[l] & 15) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *dst++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
        }
    }
}

void rz_q6_K_codes(const rz_block_q6_K *x, int8_t out[RZ_QK_K]) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = x->ql + 64 * h, *qh = x->qh + 32 * h;
        int8_t *o = out + 128 * h;
        for (int l = 0; l < 32; l++) {
            o[l] = (int8_t)(((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32);
            o[l + 32] = (int8_t)(((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32);
            o[l + 64] = (int8_t)(((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32);
            o[l + 96] = (int8_t)(((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32);
        }
    }
}

void rz_dequantize_row_q6_K(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q6_K *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float d = rz_fp16_to_f32(x[b].d);
        int8_t q[RZ_QK_K];
        rz_q6_K_codes(&x[b], q);
        for (int i = 0; i < RZ_QK_K; i++)
            *dst++ = d * (float)x[b].scales[i / 16] * (float)q[i];
    }
}

void rz_dequantize_row_q8_K(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q8_K *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++)
        for (int j = 0; j < RZ_QK_K; j++)
            *dst++ = x[b].d * (float)x[b].qs[j];
}

/* ------------------------------------------------------ legacy quantizers */

static void min_max(const float *x, int n, float *min, float *max) {
    *min = INFINITY;
    *max = -INFINITY;
    for (int j = 0; j < n; j++) {
        if (x[j] < *min) *min = x[j];
        if (x[j] > *max) *max = x[j];
    }
}

/* Truncation of v (>= 0 up to rounding for finite input), capped at hi. */
static inline int trunc_code(float v, int hi) { return v >= (float)hi ? hi : v > 0.0f ? (int)v : 0; }

void rz_quantize_row_q4_1_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q4_1 *y = dst;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *x = src + b * 32;
        float min, max;
        min_max(x, 32, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = rz_f32_to_fp16(d);
        y[b].m = rz_f32_to_fp16(min);
        for (int j = 0; j < 16; j++) {
            const int q0 = trunc_code((x[j] - min) * id + 0.5f, 15);
            const int q1 = trunc_code((x[j + 16] - min) * id + 0.5f, 15);
            y[b].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Low nibbles into qs, bit 4 into qh (element j at bit j). */
static void pack_q5(const int codes[32], uint8_t qs[16], uint8_t qh_out[4]) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((codes[j] & 15) | (codes[j + 16] & 15) << 4);
        qh |= (uint32_t)(codes[j] >> 4) << j;
        qh |= (uint32_t)(codes[j + 16] >> 4) << (j + 16);
    }
    memcpy(qh_out, &qh, 4);
}

void rz_quantize_row_q5_0_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q5_0 *y = dst;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *x = src + b * 32;
        /* As Q4_0: the signed extreme maps to code 0 (-16). */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = rz_f32_to_fp16(d);
        int codes[32];
        for (int j = 0; j < 32; j++)
            codes[j] = trunc_code(x[j] * id + 16.5f, 31);
        pack_q5(codes, y[b].qs, y[b].qh);
    }
}

void rz_quantize_row_q5_1_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q5_1 *y = dst;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *x = src + b * 32;
        float min, max;
        min_max(x, 32, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = rz_f32_to_fp16(d);
        y[b].m = rz_f32_to_fp16(min);
        int codes[32];
        for (int j = 0; j < 32; j++)
            codes[j] = trunc_code((x[j] - min) * id + 0.5f, 31);
        pack_q5(codes, y[b].qs, y[b].qh);
    }
}

/* Index of the IQ4_NL level nearest to v (ties to the lower one). */
static int iq4nl_index(float v) {
    const int8_t *val = rz_iq4nl_values;
    if (!(v > val[0])) return 0;
    if (v >= val[15]) return 15;
    int lo = 0, hi = 15;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (v < val[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - val[hi - 1] < val[hi] - v ? hi - 1 : hi;
}

/* Weighted least-squares scale of the levels chosen with 1/id. */
static float iq4nl_fit(const float *x, const float *w, float id, uint8_t *L, float *sumq2_out) {
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < 32; j++) {
        const int l = iq4nl_index(id * x[j]);
        if (L) L[j] = (uint8_t)l;
        const float q = rz_iq4nl_values[l];
        sumqx += w[j] * q * x[j];
        sumq2 += w[j] * q * q;
    }
    *sumq2_out = sumq2;
    return sumqx;
}

void rz_quantize_row_iq4_nl_ref(const float *restrict src, void *restrict dst, int64_t n) {
    enum { NTRY = 7 };
    rz_block_iq4_nl *y = dst;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *x = src + b * 32;
        float w[32], amax = 0, max = 0;
        for (int j = 0; j < 32; j++) {
            w[j] = x[j] * x[j];
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        memset(y[b].qs, 0, sizeof y[b].qs);
        y[b].d = rz_f32_to_fp16(0.0f);
        if (amax < 1e-15f) continue;
        /* The extreme on the outermost level, then 2*NTRY+1 nearby scales. */
        float sumq2, d = -max / rz_iq4nl_values[0];
        float sumqx = iq4nl_fit(x, w, 1.0f / d, NULL, &sumq2);
        d = sumq2 > 0 ? sumqx / sumq2 : d;
        float best = d * sumqx;
        for (int t = -NTRY; t <= NTRY; t++) {
            sumqx = iq4nl_fit(x, w, ((float)t + rz_iq4nl_values[0]) / max, NULL, &sumq2);
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        y[b].d = rz_f32_to_fp16(d);
        uint8_t L[32];
        iq4nl_fit(x, w, d != 0.0f ? 1.0f / d : 0.0f, L, &sumq2);
        for (int j = 0; j < 16; j++)
            y[b].qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
    }
}

/* Index of the MXFP4 level nearest to v at scale d: the first of equally
 * near ones, so zero takes code 0 and NaN code 0, as ggml's search. */
static int mxfp4_index(float v, float d) {
    int best = 0;
    float best_err = fabsf((float)rz_mxfp4_values[0] * d - v);
    for (int i = 1; i < 16; i++) {
        const float err = fabsf((float)rz_mxfp4_values[i] * d - v);
        if (err < best_err) best = i, best_err = err;
    }
    return best;
}

void rz_quantize_row_mxfp4_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_mxfp4 *y = dst;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *x = src + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        /* e = floor(log2 amax) - 2 + 127 puts the top level (6 in E2M1) at
         * 1.5 * 2^floor(log2 amax); values beyond it clip. ggml converts that
         * float to uint8_t: below 2^-125 it is negative and wraps as on x86
         * (such blocks encode zeros at any e), an infinite amax gives 0 as
         * there. */
        const uint8_t e = amax > 0.0f && amax <= FLT_MAX ? (uint8_t)((int)floorf(log2f(amax)) - 2 + 127) : 0;
        y[b].e = e;
        const float d = rz_e8m0_to_f32_half(e);
        for (int j = 0; j < 16; j++)
            y[b].qs[j] = (uint8_t)(mxfp4_index(x[j], d) | mxfp4_index(x[j + 16], d) << 4);
    }
}

/* ---------------------------------------------- K-quant scale searches */

/* Scale and min (returned negated in *neg_min, >= 0) of n values with codes
 * 0..nmax, minimizing the weighted error (absolute if use_mad, squared
 * otherwise) over nstep+1 trial scales around the range's, each refined by
 * weighted least squares. L gets the codes. */
static float make_qkx2_quants(int n, int nmax, const float *x, const float *w, uint8_t *L, float *neg_min,
                              float rmin, float rdelta, int nstep, bool use_mad) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (!(max > min)) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1.0f / iscale, best = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        const float diff = scale * L[i] + min - x[i];
        best += w[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    uint8_t aux[32];
    for (int step = 0; step <= nstep; step++) {
        iscale = (rmin + rdelta * (float)step + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            const int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            aux[i] = (uint8_t)l;
            sum_l += w[i] * (float)l;
            sum_l2 += w[i] * (float)(l * l);
            sum_xl += w[i] * (float)l * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (!(det > 0)) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            const float diff = this_scale * aux[i] + this_min - x[i];
            err += w[i] * (use_mad ? fabsf(diff) : diff * diff);
        }
        if (err < best) {
            memcpy(L, aux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Signed extreme of x (the value of largest magnitude). */
static float signed_max(const float *x, int n, float *amax) {
    float max = 0.0f;
    *amax = 0.0f;
    for (int i = 0; i < n; i++) {
        if (fabsf(x[i]) > *amax) {
            *amax = fabsf(x[i]);
            max = x[i];
        }
    }
    return max;
}

/* Symmetric scale of n values with codes -nmax..nmax-1 (stored + nmax in
 * L): the extreme maps to -nmax, then 18 nearby scales are tried, keeping
 * the best x^2-weighted least-squares fit. */
static float make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = signed_max(x, n, &amax);
    if (amax < 1e-30f) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float best = -1.0f, scale = 0.0f;
    for (int is = -9; is <= 9; is++) {
        const float iscale = -((float)nmax + 0.1f * (float)is) / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; i++) {
            const int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)(l * l);
        }
        if (suml2 > 0 && (best < 0 || sumlx * sumlx > best * suml2)) {
            for (int i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Q3_K's search: start from the extreme's scale, then move single codes
 * while the x^2-weighted fit improves (at most 5 passes). */
static float make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float amax;
    const float max = signed_max(x, n, &amax);
    if (amax < 1e-30f) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    const float iscale = -(float)nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        const int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)(l * l);
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * (float)L[i];
            if (!(slx > 0)) continue;
            float sl2 = suml2 - w * (float)(L[i] * L[i]);
            const int l = clampi(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
            if (l == L[i]) continue;
            slx += w * x[i] * (float)l;
            sl2 += w * (float)(l * l);
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                L[i] = (int8_t)l;
                sumlx = slx;
                suml2 = sl2;
                changed++;
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++)
        L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0 ? sumlx / suml2 : 0.0f;
}

/* -------------------------------------------------------- K quantizers */

void rz_quantize_row_q2_K_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q2_K *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float *x = src + b * RZ_QK_K;
        uint8_t L[RZ_QK_K];
        float w[16], scales[16], mins[16], max_scale = 0, max_min = 0;
        for (int g = 0; g < 16; g++) {
            for (int l = 0; l < 16; l++)
                w[l] = fabsf(x[16 * g + l]);
            scales[g] = make_qkx2_quants(16, 3, x + 16 * g, w, L + 16 * g, &mins[g], -0.5f, 0.1f, 15, true);
            if (scales[g] > max_scale) max_scale = scales[g];
            if (mins[g] > max_min) max_min = mins[g];
        }
        /* 4-bit scales and mins relative to the block's largest. */
        memset(y[b].scales, 0, sizeof y[b].scales);
        const float is = max_scale > 0 ? 15.0f / max_scale : 0.0f, im = max_min > 0 ? 15.0f / max_min : 0.0f;
        for (int g = 0; g < 16; g++)
            y[b].scales[g] = (uint8_t)(clampi(nearest_int(is * scales[g]), 0, 15) |
                                       clampi(nearest_int(im * mins[g]), 0, 15) << 4);
        y[b].d = rz_f32_to_fp16(max_scale / 15.0f);
        y[b].dmin = rz_f32_to_fp16(max_min / 15.0f);
        /* Codes again, against the stored (rounded) scales. */
        for (int g = 0; g < 16; g++) {
            const float d = rz_fp16_to_f32(y[b].d) * (float)(y[b].scales[g] & 15);
            if (d == 0.0f) continue;
            const float dm = rz_fp16_to_f32(y[b].dmin) * (float)(y[b].scales[g] >> 4);
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (uint8_t)clampi(nearest_int((x[16 * g + l] + dm) / d), 0, 3);
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const uint8_t *q = L + 128 * h + l;
                y[b].qs[32 * h + l] = (uint8_t)(q[0] | q[32] << 2 | q[64] << 4 | q[96] << 6);
            }
    }
}

void rz_quantize_row_q3_K_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q3_K *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float *x = src + b * RZ_QK_K;
        int8_t L[RZ_QK_K];
        float scales[16], amax = 0, max_scale = 0;
        for (int g = 0; g < 16; g++) {
            scales[g] = make_q3_quants(16, 4, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > amax) {
                amax = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        memset(y[b].scales, 0, sizeof y[b].scales);
        if (max_scale != 0.0f) {
            const float iscale = -32.0f / max_scale;
            for (int g = 0; g < 16; g++) {
                const int l = clampi(nearest_int(iscale * scales[g]), -32, 31) + 32;
                if (g < 8)
                    y[b].scales[g] = (uint8_t)(l & 15);
                else
                    y[b].scales[g - 8] |= (uint8_t)((l & 15) << 4);
                y[b].scales[8 + g % 4] |= (uint8_t)((l >> 4) << (2 * (g / 4)));
            }
            y[b].d = rz_f32_to_fp16(1.0f / iscale);
        } else {
            y[b].d = rz_f32_to_fp16(0.0f);
        }
        int8_t sc[16];
        rz_q3_K_scales(y[b].scales, sc);
        for (int g = 0; g < 16; g++) {
            const float d = rz_fp16_to_f32(y[b].d) * (float)sc[g];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (int8_t)(clampi(nearest_int(x[16 * g + l] / d), -4, 3) + 4);
        }
        /* Bit 2 of the code of element j into bit j/32 of hmask[j % 32]. */
        memset(y[b].hmask, 0, sizeof y[b].hmask);
        for (int j = 0; j < RZ_QK_K; j++) {
            if (L[j] > 3) {
                y[b].hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                L[j] = (int8_t)(L[j] - 4);
            }
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const int8_t *q = L + 128 * h + l;
                y[b].qs[32 * h + l] = (uint8_t)(q[0] | q[32] << 2 | q[64] << 4 | q[96] << 6);
            }
    }
}

/* Scales and mins of 8 groups of 32 (Q4_K/Q5_K): search per group, store
 * as 6 bits relative to the block's largest, then return the codes
 * recomputed against the stored values. */
static void quantize_k4_groups(const float *x, int nmax, float rmin, int nstep, uint8_t scales_out[12],
                               rz_fp16 *d_out, rz_fp16 *dmin_out, uint8_t L[RZ_QK_K]) {
    float w[32], scales[8], mins[8], max_scale = 0, max_min = 0;
    for (int g = 0; g < 8; g++) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++)
            sum_x2 += x[32 * g + l] * x[32 * g + l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++)
            w[l] = av_x + fabsf(x[32 * g + l]);
        scales[g] = make_qkx2_quants(32, nmax, x + 32 * g, w, L + 32 * g, &mins[g], rmin, 0.1f, nstep, false);
        if (scales[g] > max_scale) max_scale = scales[g];
        if (mins[g] > max_min) max_min = mins[g];
    }
    const float is = max_scale > 0 ? 63.0f / max_scale : 0.0f, im = max_min > 0 ? 63.0f / max_min : 0.0f;
    memset(scales_out, 0, 12);
    for (int g = 0; g < 8; g++) {
        const int ls = clampi(nearest_int(is * scales[g]), 0, 63);
        const int lm = clampi(nearest_int(im * mins[g]), 0, 63);
        if (g < 4) {
            scales_out[g] = (uint8_t)ls;
            scales_out[g + 4] = (uint8_t)lm;
        } else {
            scales_out[g + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            scales_out[g - 4] |= (uint8_t)((ls >> 4) << 6);
            scales_out[g] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    *d_out = rz_f32_to_fp16(max_scale / 63.0f);
    *dmin_out = rz_f32_to_fp16(max_min / 63.0f);
    for (int g = 0; g < 8; g++) {
        uint8_t sc, m;
        rz_k4_scale_min(scales_out, g, &sc, &m);
        const float d = rz_fp16_to_f32(*d_out) * (float)sc;
        if (d == 0.0f) continue;
        const float dm = rz_fp16_to_f32(*dmin_out) * (float)m;
        for (int l = 0; l < 32; l++)
            L[32 * g + l] = (uint8_t)clampi(nearest_int((x[32 * g + l] + dm) / d), 0, nmax);
    }
}

void rz_quantize_row_q4_K_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q4_K *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        uint8_t L[RZ_QK_K];
        quantize_k4_groups(src + b * RZ_QK_K, 15, -1.0f, 20, y[b].scales, &y[b].d, &y[b].dmin, L);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++)
                y[b].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
    }
}

void rz_quantize_row_q5_K_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q5_K *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        uint8_t L[RZ_QK_K];
        quantize_k4_groups(src + b * RZ_QK_K, 31, -0.5f, 15, y[b].scales, &y[b].d, &y[b].dmin, L);
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                const int l1 = L[64 * c + l], l2 = L[64 * c + 32 + l];
                y[b].qs[32 * c + l] = (uint8_t)((l1 & 15) | (l2 & 15) << 4);
                y[b].qh[l] |= (uint8_t)((l1 >> 4) << (2 * c) | (l2 >> 4) << (2 * c + 1));
            }
    }
}

void rz_quantize_row_q6_K_ref(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q6_K *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float *x = src + b * RZ_QK_K;
        int8_t L[RZ_QK_K];
        float scales[16], amax = 0, max_scale = 0;
        for (int g = 0; g < 16; g++) {
            scales[g] = make_qx_quants(16, 32, x + 16 * g, L + 16 * g);
            if (fabsf(scales[g]) > amax) {
                amax = fabsf(scales[g]);
                max_scale = scales[g];
            }
        }
        memset(y[b].ql, 0, sizeof y[b].ql);
        memset(y[b].qh, 0, sizeof y[b].qh);
        if (max_scale == 0.0f) {
            memset(y[b].scales, 0, sizeof y[b].scales);
            y[b].d = rz_f32_to_fp16(0.0f);
            continue;
        }
        const float iscale = -128.0f / max_scale;
        y[b].d = rz_f32_to_fp16(1.0f / iscale);
        for (int g = 0; g < 16; g++)
            y[b].scales[g] = (int8_t)clampi(nearest_int(iscale * scales[g]), -128, 127);
        for (int g = 0; g < 16; g++) {
            const float d = rz_fp16_to_f32(y[b].d) * (float)y[b].scales[g];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++)
                L[16 * g + l] = (int8_t)(clampi(nearest_int(x[16 * g + l] / d), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++)
            for (int l = 0; l < 32; l++) {
                const int8_t *q = L + 128 * h + l;
                y[b].ql[64 * h + l] = (uint8_t)((q[0] & 15) | (q[64] & 15) << 4);
                y[b].ql[64 * h + l + 32] = (uint8_t)((q[32] & 15) | (q[96] & 15) << 4);
                y[b].qh[32 * h + l] =
                    (uint8_t)((q[0] >> 4) | (q[32] >> 4) << 2 | (q[64] >> 4) << 4 | (q[96] >> 4) << 6);
            }
    }
}

/* ------------------------------------------------ activation quantizers */

void rz_quantize_row_q8_1(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q8_1 *y = dst;
    for (int64_t b = 0; b < n / 32; b++) {
        const float *x = src + b * 32;
        float amax = 0.0f;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            /* Clamp as rz_quantize_row_q8_0 (a NaN becomes 127). */
            float v = x[j] * id;
            v = v < 127.0f ? v : 127.0f;
            v = v > -127.0f ? v : -127.0f;
            y[b].qs[j] = (int8_t)lrintf(v);
            sum += y[b].qs[j];
        }
        y[b].d = rz_f32_to_fp16(d);
        y[b].s = rz_f32_to_fp16(d * (float)sum);
    }
}

void rz_quantize_row_q8_K(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_q8_K *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float *x = src + b * RZ_QK_K;
        float amax;
        const float max = signed_max(x, RZ_QK_K, &amax);
        memset(&y[b], 0, sizeof y[b]);
        if (amax == 0.0f) continue;
        /* The extreme maps to -127 (not -128), keeping codes symmetric. */
        const float iscale = -127.0f / max;
        for (int j = 0; j < RZ_QK_K; j++) {
            float v = iscale * x[j];
            v = v < 127.0f ? v : 127.0f;
            v = v > -128.0f ? v : -128.0f;
            y[b].qs[j] = (int8_t)lrintf(v);
        }
        for (int g = 0; g < RZ_QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[b].qs[16 * g + l];
            y[b].bsums[g] = (int16_t)sum;
        }
        y[b].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------- dot products */

int32_t rz_block_dot_q4_1_q8_1(const rz_block_q4_1 *x, const rz_block_q8_1 *y) {
    int32_t sum = 0;
    for (int j = 0; j < 16; j++)
        sum += (x->qs[j] & 15) * y->qs[j] + (x->qs[j] >> 4) * y->qs[j + 16];
    return sum;
}

int32_t rz_block_dot_q5_0_q8_0(const rz_block_q5_0 *x, const rz_block_q8_0 *y) {
    const uint32_t qh = load_qh(x->qh);
    int32_t sum = 0;
    for (int j = 0; j < 16; j++) {
        int c0, c1;
        q5_codes(x->qs, qh, j, &c0, &c1);
        sum += (c0 - 16) * y->qs[j] + (c1 - 16) * y->qs[j + 16];
    }
    return sum;
}

int32_t rz_block_dot_iq4_nl_q8_0(const rz_block_iq4_nl *x, const rz_block_q8_0 *y) {
    int32_t sum = 0;
    for (int j = 0; j < 16; j++)
        sum += rz_iq4nl_values[x->qs[j] & 15] * y->qs[j] + rz_iq4nl_values[x->qs[j] >> 4] * y->qs[j + 16];
    return sum;
}

int32_t rz_block_dot_mxfp4_q8_0(const rz_block_mxfp4 *x, const rz_block_q8_0 *y) {
    int32_t sum = 0;
    for (int j = 0; j < 16; j++)
        sum += rz_mxfp4_values[x->qs[j] & 15] * y->qs[j] + rz_mxfp4_values[x->qs[j] >> 4] * y->qs[j + 16];
    return sum;
}

int32_t rz_block_dot_q5_1_q8_1(const rz_block_q5_1 *x, const rz_block_q8_1 *y) {
    const uint32_t qh = load_qh(x->qh);
    int32_t sum = 0;
    for (int j = 0; j < 16; j++) {
        int c0, c1;
        q5_codes(x->qs, qh, j, &c0, &c1);
        sum += c0 * y->qs[j] + c1 * y->qs[j + 16];
    }
    return sum;
}

rz_kdot rz_block_dot_q2_K_q8_K(const rz_block_q2_K *x, const rz_block_q8_K *y) {
    rz_kdot r = {0, 0};
    for (int g = 0; g < 16; g++) {
        /* Group g: elements 16g..16g+15, codes at bits 2*((g/2)%4) of
         * qs[32*(g/8) + 16*(g%2) + l]. */
        const uint8_t *q = x->qs + 32 * (g / 8) + 16 * (g % 2);
        const int shift = 2 * ((g / 2) % 4);
        int32_t sum = 0;
        for (int l = 0; l < 16; l++)
            sum += ((q[l] >> shift) & 3) * y->qs[16 * g + l];
        r.isum += (x->scales[g] & 15) * sum;
        r.msum += (x->scales[g] >> 4) * y->bsums[g];
    }
    return r;
}

rz_kdot rz_block_dot_q3_K_q8_K(const rz_block_q3_K *x, const rz_block_q8_K *y) {
    int8_t sc[16];
    rz_q3_K_scales(x->scales, sc);
    rz_kdot r = {0, 0};
    for (int g = 0; g < 16; g++) {
        const int i0 = 16 * (g % 2), shift = 2 * ((g / 2) % 4);
        const uint8_t *q = x->qs + 32 * (g / 8) + i0;
        const uint8_t mask = (uint8_t)(1u << (g / 2));
        int32_t sum = 0;
        for (int l = 0; l < 16; l++) {
            const int v = ((q[l] >> shift) & 3) - ((x->hmask[i0 + l] & mask) ? 0 : 4);
            sum += v * y->qs[16 * g + l];
        }
        r.isum += sc[g] * sum;
    }
    return r;
}

rz_kdot rz_block_dot_q4_K_q8_K(const rz_block_q4_K *x, const rz_block_q8_K *y) {
    rz_kdot r = {0, 0};
    for (int g = 0; g < 8; g++) {
        uint8_t sc, m;
        rz_k4_scale_min(x->scales, g, &sc, &m);
        const uint8_t *q = x->qs + 32 * (g / 2);
        const int shift = 4 * (g % 2);
        int32_t sum = 0;
        for (int l = 0; l < 32; l++)
            sum += ((q[l] >> shift) & 15) * y->qs[32 * g + l];
        r.isum += sc * sum;
        r.msum += m * (y->bsums[2 * g] + y->bsums[2 * g + 1]);
    }
    return r;
}

rz_kdot rz_block_dot_q5_K_q8_K(const rz_block_q5_K *x, const rz_block_q8_K *y) {
    rz_kdot r = {0, 0};
    for (int g = 0; g < 8; g++) {
        uint8_t sc, m;
        rz_k4_scale_min(x->scales, g, &sc, &m);
        const uint8_t *q = x->qs + 32 * (g / 2);
        const int shift = 4 * (g % 2);
        int32_t sum = 0;
        for (int l = 0; l < 32; l++) {
            const int v = ((q[l] >> shift) & 15) | ((x->qh[l] >> g) & 1) << 4;
            sum += v * y->qs[32 * g + l];
        }
        r.isum += sc * sum;
        r.msum += m * (y->bsums[2 * g] + y->bsums[2 * g + 1]);
    }
    return r;
}

rz_kdot rz_block_dot_q6_K_q8_K(const rz_block_q6_K *x, const rz_block_q8_K *y) {
    int8_t q[RZ_QK_K];
    rz_q6_K_codes(x, q);
    rz_kdot r = {0, 0};
    for (int g = 0; g < 16; g++) {
        int32_t sum = 0;
        for (int l = 0; l < 16; l++)
            sum += q[16 * g + l] * y->qs[16 * g + l];
        r.isum += x->scales[g] * sum;
    }
    return r;
}

void rz_vec_dot_q4_1_q8_1(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_block_q4_1 *x = vx;
    const rz_block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / 32; b++)
        sum +=
            (float)rz_block_dot_q4_1_q8_1(&x[b], &y[b]) * (rz_fp16_to_f32(x[b].d) * rz_fp16_to_f32(y[b].d)) +
            rz_fp16_to_f32(x[b].m) * rz_fp16_to_f32(y[b].s);
    *s = sum;
}

void rz_vec_dot_q5_0_q8_0(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_block_q5_0 *x = vx;
    const rz_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / 32; b++)
        sum +=
            (float)rz_block_dot_q5_0_q8_0(&x[b], &y[b]) * (rz_fp16_to_f32(x[b].d) * rz_fp16_to_f32(y[b].d));
    *s = sum;
}

void rz_vec_dot_q5_1_q8_1(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_block_q5_1 *x = vx;
    const rz_block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / 32; b++)
        sum +=
            (float)rz_block_dot_q5_1_q8_1(&x[b], &y[b]) * (rz_fp16_to_f32(x[b].d) * rz_fp16_to_f32(y[b].d)) +
            rz_fp16_to_f32(x[b].m) * rz_fp16_to_f32(y[b].s);
    *s = sum;
}

void rz_vec_dot_iq4_nl_q8_0(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_block_iq4_nl *x = vx;
    const rz_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / 32; b++)
        sum +=
            (float)rz_block_dot_iq4_nl_q8_0(&x[b], &y[b]) * (rz_fp16_to_f32(x[b].d) * rz_fp16_to_f32(y[b].d));
    *s = sum;
}

void rz_vec_dot_mxfp4_q8_0(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_block_mxfp4 *x = vx;
    const rz_block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / 32; b++)
        sum += (float)rz_block_dot_mxfp4_q8_0(&x[b], &y[b]) *
               (rz_e8m0_to_f32_half(x[b].e) * rz_fp16_to_f32(y[b].d));
    *s = sum;
}

/* K-quant blocks with a min (dmin) and without. */
#define K_DOT_MIN(TYPE, BLOCK_DOT)                                                                           \
    const TYPE *x = vx;                                                                                      \
    const rz_block_q8_K *y = vy;                                                                             \
    float sum = 0.0f;                                                                                        \
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {                                                              \
        const rz_kdot r = BLOCK_DOT(&x[b], &y[b]);                                                           \
        sum += (float)r.isum * (rz_fp16_to_f32(x[b].d) * y[b].d) -                                           \
               (float)r.msum * (rz_fp16_to_f32(x[b].dmin) * y[b].d);                                         \
    }                                                                                                        \
    *s = sum

#define K_DOT(TYPE, BLOCK_DOT)                                                                               \
    const TYPE *x = vx;                                                                                      \
    const rz_block_q8_K *y = vy;                                                                             \
    float sum = 0.0f;                                                                                        \
    for (int64_t b = 0; b < n / RZ_QK_K; b++)                                                                \
        sum += (float)BLOCK_DOT(&x[b], &y[b]).isum * (rz_fp16_to_f32(x[b].d) * y[b].d);                      \
    *s = sum

void rz_vec_dot_q2_K_q8_K(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    K_DOT_MIN(rz_block_q2_K, rz_block_dot_q2_K_q8_K);
}

void rz_vec_dot_q3_K_q8_K(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    K_DOT(rz_block_q3_K, rz_block_dot_q3_K_q8_K);
}

void rz_vec_dot_q4_K_q8_K(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    K_DOT_MIN(rz_block_q4_K, rz_block_dot_q4_K_q8_K);
}

void rz_vec_dot_q5_K_q8_K(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    K_DOT_MIN(rz_block_q5_K, rz_block_dot_q5_K_q8_K);
}

void rz_vec_dot_q6_K_q8_K(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    K_DOT(rz_block_q6_K, rz_block_dot_q6_K_q8_K);
}
