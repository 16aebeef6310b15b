#include "tensor/quants_q4_0_r8.h"

#include <string.h>

#include "tensor/isa/dot.h"

/* Row r's block out of a group's block column. */
static void unpack_block(const rz_block_q4_0_r8 *g, int r, rz_block_q4_0 *out) {
    out->d = g->d[r];
    for (int j = 0; j < 4; j++)
        memcpy(out->qs + 4 * j, g->qs + 32 * j + 4 * r, 4);
}

void rz_repack_q4_0_r8(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows) {
    const int64_t nb = n / RZ_QK4_0;
    const rz_block_q4_0 *x = src;
    rz_block_q4_0_r8 *y = dst;
    for (int64_t g = 0; g < nrows / RZ_R8_ROWS; g++)
        for (int64_t b = 0; b < nb; b++) {
            rz_block_q4_0_r8 *out = &y[g * nb + b];
            for (int r = 0; r < RZ_R8_ROWS; r++) {
                const rz_block_q4_0 *in = &x[(g * RZ_R8_ROWS + r) * nb + b];
                out->d[r] = in->d;
                for (int j = 0; j < 4; j++)
                    memcpy(out->qs + 32 * j + 4 * r, in->qs + 4 * j, 4);
            }
        }
}

void rz_unpack_q4_0_r8(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows) {
    const int64_t nb = n / RZ_QK4_0;
    const rz_block_q4_0_r8 *x = src;
    rz_block_q4_0 *y = dst;
    for (int64_t g = 0; g < nrows / RZ_R8_ROWS; g++)
        for (int64_t b = 0; b < nb; b++)
            for (int r = 0; r < RZ_R8_ROWS; r++)
                unpack_block(&x[g * nb + b], r, &y[(g * RZ_R8_ROWS + r) * nb + b]);
}

enum { QUANT_CHUNK = 16 }; /* blocks quantized per call of the Q8_0 quantizer */

static void quantize_r8(const float *restrict src, void *restrict dst, int64_t n,
                        void (*quantize_q8_0)(const float *restrict, void *restrict, int64_t)) {
    const int64_t nb = n / RZ_QK8_0;
    rz_block_a8_r8 *y = dst;
    for (int64_t b0 = 0; b0 < nb; b0 += QUANT_CHUNK) {
        const int m = nb - b0 < QUANT_CHUNK ? (int)(nb - b0) : QUANT_CHUNK;
        rz_block_q8_0 q[QUANT_CHUNK];
        quantize_q8_0(src + b0 * RZ_QK8_0, q, (int64_t)m * RZ_QK8_0);
        for (int k = 0; k < m; k++) {
            rz_block_a8_r8 *out = &y[b0 + k];
            int32_t sum = 0;
            for (int j = 0; j < RZ_QK8_0; j++)
                sum += q[k].qs[j];
            memcpy(out->qs, q[k].qs, sizeof out->qs);
            out->d = rz_fp16_to_f32(q[k].d);
            out->corr = -8 * sum;
        }
    }
}

void rz_quantize_row_a8_r8(const float *restrict src, void *restrict dst, int64_t n) {
    quantize_r8(src, dst, n, rz_quantize_row_q8_0);
}

/* Only the Q8_0 quantizer is vectorized: the rest is a small share of a
 * mat-mul, as for A8_G4. */
void rz_quantize_row_a8_r8_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    quantize_r8(src, dst, n, rz_quantize_row_q8_0_avx2);
}

void rz_gemm_tile_q4_0_r8_a8_r8(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                                uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    (void)w_stride;
    (void)nr;
    const int64_t nb = n / RZ_QK4_0;
    const rz_block_q4_0_r8 *g = w;
    for (int t = 0; t < nt; t++) {
        const rz_block_a8_r8 *a = (const rz_block_a8_r8 *)(const void *)((const char *)x + t * x_stride);
        for (int r = 0; r < RZ_R8_ROWS; r++) {
            float sum = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                rz_block_q4_0 wb;
                rz_block_q8_0 ab = {.d = rz_f32_to_fp16(a[b].d)}; /* exact: d came from an fp16 */
                unpack_block(&g[b], r, &wb);
                memcpy(ab.qs, a[b].qs, sizeof ab.qs);
                sum +=
                    (float)rz_block_dot_q4_0_q8_0(&wb, &ab) * (rz_fp16_to_f32(wb.d) * rz_fp16_to_f32(ab.d));
            }
            y[t * y_stride + r] = sum;
        }
    }
}
