#include "tensor/quants_q4k_r8.h"

#include <string.h>

void rz_repack_q4_k_r8(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows) {
    const int64_t nb = n / RZ_QK_K;
    const rz_block_q4_K *x = src;
    rz_block_q4_k_r8 *out = dst;
    for (int64_t g = 0; g < nrows / RZ_Q4_K_R8_ROWS; g++)
        for (int64_t b = 0; b < nb; b++) {
            rz_block_q4_k_r8 *o = &out[g * nb + b];
            memset(o, 0, sizeof *o);
            for (int r = 0; r < RZ_Q4_K_R8_ROWS; r++) {
                const rz_block_q4_K *in = &x[(g * RZ_Q4_K_R8_ROWS + r) * nb + b];
                for (int e = 0; e < RZ_QK_K; e++) {
                    /* Q4_K: element e is nibble e / 32 % 2 of qs[32 (e / 64) + e % 32] */
                    const unsigned code = (in->qs[32 * (e / 64) + e % 32] >> (4 * (e / 32 % 2))) & 15u;
                    o->qs[128 * (e / 32) + 32 * (e % 16 / 4) + 4 * r + e % 4] |=
                        (uint8_t)(code << (4 * (e % 32 / 16)));
                }
                for (int s = 0; s < 8; s++) {
                    uint8_t sc, m;
                    rz_k4_scale_min(in->scales, s, &sc, &m);
                    const int e = 16 * (s / 2) + 2 * r + s % 2;
                    o->sc[8 * s + r] |= sc;
                    o->m[e % 32] |= (uint8_t)((m & 15) << (4 * (e / 32)));
                    o->sc[e] |= (uint8_t)((m >> 4) << 6);
                }
                o->d[r] = in->d;
                o->dmin[r] = in->dmin;
            }
        }
}

void rz_dequantize_q4_k_r8(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q4_k_r8 *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++)
        for (int r = 0; r < RZ_Q4_K_R8_ROWS; r++) {
            const float d = rz_fp16_to_f32(x[b].d[r]), dmin = rz_fp16_to_f32(x[b].dmin[r]);
            for (int e = 0; e < RZ_QK_K; e++) {
                /* the products of rz_dequantize_row_q4_K */
                const float d1 = d * (float)rz_q4_k_r8_scale(&x[b], r, e / 32),
                            m1 = dmin * (float)rz_q4_k_r8_min(&x[b], r, e / 32);
                dst[r * n + b * RZ_QK_K + e] = d1 * (float)rz_q4_k_r8_code(&x[b], r, e) - m1;
            }
        }
}

void rz_gemm_tile_q4_k_r8_q8_K(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                               uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    (void)w_stride;
    (void)nr;
    const rz_block_q4_k_r8 *wb = w;
    for (int t = 0; t < nt; t++) {
        const rz_block_q8_K *a =
            (const rz_block_q8_K *)(const void *)((const char *)x + (uint64_t)t * x_stride);
        for (int r = 0; r < RZ_Q4_K_R8_ROWS; r++) {
            float sum = 0.0f;
            for (int64_t b = 0; b < n / RZ_QK_K; b++) {
                int32_t isum = 0, msum = 0;
                for (int s = 0; s < 8; s++) {
                    int32_t part = 0;
                    for (int e = 32 * s; e < 32 * s + 32; e++)
                        part += (int)rz_q4_k_r8_code(&wb[b], r, e) * a[b].qs[e];
                    isum += (int32_t)rz_q4_k_r8_scale(&wb[b], r, s) * part;
                    msum +=
                        (int32_t)rz_q4_k_r8_min(&wb[b], r, s) * (a[b].bsums[2 * s] + a[b].bsums[2 * s + 1]);
                }
                sum += (float)isum * (rz_fp16_to_f32(wb[b].d[r]) * a[b].d) -
                       (float)msum * (rz_fp16_to_f32(wb[b].dmin[r]) * a[b].d);
            }
            y[t * y_stride + r] = sum;
        }
    }
}
