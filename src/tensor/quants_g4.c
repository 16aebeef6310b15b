#include "tensor/quants_g4.h"

#include <string.h>

#include "tensor/isa/dot.h"

static void unpack_weights(const rz_block_q4_0_g4 *g, rz_block_q4_0 out[4]) {
    for (int k = 0; k < 4; k++) {
        out[k].d = g->d[k];
        memcpy(out[k].qs, g->qs + 16 * k, 16);
    }
}

static void unpack_q8_0(const rz_block_q8_0_g4 *g, rz_block_q8_0 out[4]) {
    for (int k = 0; k < 4; k++) {
        out[k].d = g->d[k];
        for (int j = 0; j < 16; j++) {
            out[k].qs[j] = (int8_t)(g->lo[16 * k + j] ^ 0x80);
            out[k].qs[j + 16] = (int8_t)(g->hi[16 * k + j] ^ 0x80);
        }
    }
}

static void unpack_acts(const rz_block_a8_g4 *g, rz_block_q8_0 out[4]) {
    for (int k = 0; k < 4; k++) {
        out[k].d = rz_f32_to_fp16(g->scale[4 * k]);
        memcpy(out[k].qs, g->lo + 16 * k, 16);
        memcpy(out[k].qs + 16, g->hi + 16 * k, 16);
    }
}

void rz_repack_q4_0_g4(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows) {
    const int64_t n = n_per_row * nrows; /* blocks never straddle rows */
    const rz_block_q4_0 *x = src;
    rz_block_q4_0_g4 *y = dst;
    for (int64_t g = 0; g < n / RZ_QK_G4; g++)
        for (int k = 0; k < 4; k++) {
            y[g].d[k] = x[4 * g + k].d;
            memcpy(y[g].qs + 16 * k, x[4 * g + k].qs, 16);
        }
}

void rz_dequantize_row_q4_0_g4(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q4_0_g4 *x = src;
    for (int64_t g = 0; g < n / RZ_QK_G4; g++) {
        rz_block_q4_0 blocks[4];
        unpack_weights(&x[g], blocks);
        rz_dequantize_row_q4_0(blocks, dst + g * RZ_QK_G4, RZ_QK_G4);
    }
}

void rz_repack_q8_0_g4(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows) {
    const int64_t n = n_per_row * nrows; /* blocks never straddle rows */
    const rz_block_q8_0 *x = src;
    rz_block_q8_0_g4 *y = dst;
    for (int64_t g = 0; g < n / RZ_QK_G4; g++)
        for (int k = 0; k < 4; k++) {
            const rz_block_q8_0 *b = &x[4 * g + k];
            y[g].d[k] = b->d;
            for (int j = 0; j < 16; j++) {
                y[g].lo[16 * k + j] = (uint8_t)b->qs[j] ^ 0x80;
                y[g].hi[16 * k + j] = (uint8_t)b->qs[j + 16] ^ 0x80;
            }
        }
}

void rz_dequantize_row_q8_0_g4(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q8_0_g4 *x = src;
    for (int64_t g = 0; g < n / RZ_QK_G4; g++) {
        rz_block_q8_0 blocks[4];
        unpack_q8_0(&x[g], blocks);
        rz_dequantize_row_q8_0(blocks, dst + g * RZ_QK_G4, RZ_QK_G4);
    }
}

/* Rearranges four Q8_0 blocks into a group and derives the lane terms. */
static void pack_acts(const rz_block_q8_0 in[4], rz_block_a8_g4 *g) {
    for (int k = 0; k < 4; k++) {
        memcpy(g->lo + 16 * k, in[k].qs, 16);
        memcpy(g->hi + 16 * k, in[k].qs + 16, 16);
        const float d = rz_fp16_to_f32(in[k].d);
        for (int l = 4 * k; l < 4 * k + 4; l++)
            g->scale[l] = d;
    }
    for (int l = 0; l < 16; l++) {
        int32_t sum = 0;
        for (int j = 4 * l; j < 4 * l + 4; j++)
            sum += g->lo[j] + g->hi[j];
        g->corr[l] = -8 * sum;
    }
}

static void quantize_g4(const float *restrict src, void *restrict dst, int64_t n,
                        void (*quantize_q8_0)(const float *restrict, void *restrict, int64_t)) {
    rz_block_a8_g4 *y = dst;
    for (int64_t g = 0; g < n / RZ_QK_G4; g++) {
        rz_block_q8_0 blocks[4];
        quantize_q8_0(src + g * RZ_QK_G4, blocks, RZ_QK_G4);
        pack_acts(blocks, &y[g]);
    }
}

void rz_quantize_row_a8_g4(const float *restrict src, void *restrict dst, int64_t n) {
    quantize_g4(src, dst, n, rz_quantize_row_q8_0);
}

/* The AVX-512 Q8_0 quantizer writes the same codes; the rearrangement is a
 * small share of a mat-vec, so it stays scalar. */
void rz_quantize_row_a8_g4_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    quantize_g4(src, dst, n, rz_quantize_row_q8_0_avx512);
}

void rz_vec_dot_q4_0_g4_a8_g4(int64_t n, float *restrict s, const void *restrict vx,
                              const void *restrict vy) {
    const rz_block_q4_0_g4 *x = vx;
    const rz_block_a8_g4 *y = vy;
    float sum = 0.0f;
    for (int64_t g = 0; g < n / RZ_QK_G4; g++) {
        rz_block_q4_0 w[4];
        rz_block_q8_0 a[4];
        unpack_weights(&x[g], w);
        unpack_acts(&y[g], a);
        for (int k = 0; k < 4; k++)
            sum += (float)rz_block_dot_q4_0_q8_0(&w[k], &a[k]) *
                   (rz_fp16_to_f32(w[k].d) * rz_fp16_to_f32(a[k].d));
    }
    *s = sum;
}

void rz_vec_dot_q8_0_g4_a8_g4(int64_t n, float *restrict s, const void *restrict vx,
                              const void *restrict vy) {
    const rz_block_q8_0_g4 *x = vx;
    const rz_block_a8_g4 *y = vy;
    float sum = 0.0f;
    for (int64_t g = 0; g < n / RZ_QK_G4; g++) {
        rz_block_q8_0 w[4], a[4];
        unpack_q8_0(&x[g], w);
        unpack_acts(&y[g], a);
        for (int k = 0; k < 4; k++)
            sum += (float)rz_block_dot_q8_0_q8_0(&w[k], &a[k]) *
                   (rz_fp16_to_f32(w[k].d) * rz_fp16_to_f32(a[k].d));
    }
    *s = sum;
}
