#include "tensor/quants_q6k_r8.h"

#include <string.h>

void rz_repack_q6_k_r8(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows) {
    const int64_t nb = n / RZ_QK_K;
    const rz_block_q6_K *x = src;
    rz_block_q6_k_r8 *out = dst;
    for (int64_t g = 0; g < nrows / RZ_Q6_K_R8_ROWS; g++)
        for (int64_t b = 0; b < nb; b++) {
            rz_block_q6_k_r8 *o = &out[g * nb + b];
            memset(o, 0, sizeof *o);
            for (int r = 0; r < RZ_Q6_K_R8_ROWS; r++) {
                const rz_block_q6_K *in = &x[(g * RZ_Q6_K_R8_ROWS + r) * nb + b];
                int8_t q[RZ_QK_K];
                rz_q6_K_codes(in, q);
                for (int e = 0; e < RZ_QK_K; e++) {
                    uint8_t *qs = o->qs + 96 * (e / 16);
                    const int k = e % 16 / 4, i = 4 * r + e % 4;
                    const unsigned code = (unsigned)(q[e] + 32);
                    if (k < 2) {
                        qs[i + 32 * k] |= (uint8_t)code;
                    } else {
                        qs[64 + i] |= (uint8_t)((code & 15) << (4 * (k - 2)));
                        qs[i + 32 * (k - 2)] |= (uint8_t)((code >> 4) << 6);
                    }
                }
                for (int s = 0; s < 16; s++)
                    o->scales[8 * s + r] = in->scales[s];
                o->d[r] = in->d;
            }
        }
}

void rz_dequantize_q6_k_r8(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q6_k_r8 *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++)
        for (int r = 0; r < RZ_Q6_K_R8_ROWS; r++) {
            const float d = rz_fp16_to_f32(x[b].d[r]);
            for (int e = 0; e < RZ_QK_K; e++)
                dst[r * n + b * RZ_QK_K + e] = d * (float)x[b].scales[8 * (e / 16) + r] *
                                               (float)((int)rz_q6_k_r8_code(&x[b], r, e) - 32);
        }
}

void rz_gemm_tile_q6_k_r8_q8_K(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                               uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    (void)w_stride;
    (void)nr;
    const rz_block_q6_k_r8 *wb = w;
    for (int t = 0; t < nt; t++) {
        const rz_block_q8_K *a =
            (const rz_block_q8_K *)(const void *)((const char *)x + (uint64_t)t * x_stride);
        for (int r = 0; r < RZ_Q6_K_R8_ROWS; r++) {
            float sum = 0.0f;
            for (int64_t b = 0; b < n / RZ_QK_K; b++) {
                int32_t isum = 0;
                for (int s = 0; s < 16; s++) {
                    int32_t part = 0;
                    for (int e = 16 * s; e < 16 * s + 16; e++)
                        part += ((int)rz_q6_k_r8_code(&wb[b], r, e) - 32) * a[b].qs[e];
                    isum += wb[b].scales[8 * s + r] * part;
                }
                sum += (float)isum * (rz_fp16_to_f32(wb[b].d[r]) * a[b].d);
            }
            y[t * y_stride + r] = sum;
        }
    }
}
