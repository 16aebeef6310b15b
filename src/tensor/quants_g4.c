#include "tensor/quants_g4.h"

#include <string.h>

#include "tensor/isa/dot.h"

static void unpack_weights(const rz_block_q4_0_g4 *g, rz_block_q4_0 out[4]) {
    for (int k = 0; k < 4; k++) {
        out[k].d = g->d[k];
        memcpy(out[k].qs, g->qs + 16 * k, 16);
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

/* The AVX2 and AVX-512 Q8_0 quantizers write the same codes; the
 * rearrangement is a small share of a mat-vec, so it stays scalar. */
void rz_quantize_row_a8_g4_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    quantize_g4(src, dst, n, rz_quantize_row_q8_0_avx2);
}

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

/* Q8_0_G16 and A8_G16: byte j of chunk v of a group of m blocks (4m bytes
 * each) is byte 4v + j % 4 of block j / 4. */
static int g16_blocks(int64_t nb, int64_t b) {
    return nb - b < RZ_G16_BLOCKS ? (int)(nb - b) : RZ_G16_BLOCKS;
}

static void g16_scatter(const int8_t *codes, int m, int k, uint8_t *group, uint8_t flip) {
    for (int v = 0; v < 8; v++)
        for (int j = 0; j < 4; j++)
            group[4 * m * v + 4 * k + j] = (uint8_t)codes[4 * v + j] ^ flip;
}

static void g16_gather(const uint8_t *group, int m, int k, uint8_t flip, int8_t *codes) {
    for (int v = 0; v < 8; v++)
        for (int j = 0; j < 4; j++)
            codes[4 * v + j] = (int8_t)(group[4 * m * v + 4 * k + j] ^ flip);
}

static void unpack_q8_0_g16(const uint8_t *group, int m, rz_block_q8_0 *out) {
    for (int k = 0; k < m; k++) {
        memcpy(&out[k].d, group + 32 * m + 2 * k, sizeof out[k].d);
        g16_gather(group, m, k, 0x80, out[k].qs);
    }
}

static void unpack_a8_g16(const uint8_t *group, int m, rz_block_q8_0 *out) {
    for (int k = 0; k < m; k++) {
        float d;
        memcpy(&d, group + 36 * m + 4 * k, sizeof d);
        out[k].d = rz_f32_to_fp16(d); /* exact: d came from an fp16 */
        g16_gather(group, m, k, 0, out[k].qs);
    }
}

void rz_repack_q8_0_g16(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows) {
    const int64_t nb = n_per_row / 32;
    for (int64_t row = 0; row < nrows; row++) {
        const rz_block_q8_0 *x = (const rz_block_q8_0 *)src + row * nb;
        uint8_t *y = (uint8_t *)dst + row * nb * (int64_t)sizeof(rz_block_q8_0);
        for (int64_t b = 0; b < nb; b += RZ_G16_BLOCKS) {
            const int m = g16_blocks(nb, b);
            uint8_t *group = y + b * (int64_t)sizeof(rz_block_q8_0);
            for (int k = 0; k < m; k++) {
                g16_scatter(x[b + k].qs, m, k, group, 0x80);
                memcpy(group + 32 * m + 2 * k, &x[b + k].d, sizeof x[b + k].d);
            }
        }
    }
}

void rz_dequantize_row_q8_0_g16(const void *restrict src, float *restrict dst, int64_t n) {
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b += RZ_G16_BLOCKS) {
        const int m = g16_blocks(nb, b);
        rz_block_q8_0 blocks[RZ_G16_BLOCKS];
        unpack_q8_0_g16((const uint8_t *)src + b * (int64_t)sizeof(rz_block_q8_0), m, blocks);
        rz_dequantize_row_q8_0(blocks, dst + 32 * b, 32 * m);
    }
}

static void quantize_g16(const float *restrict src, void *restrict dst, int64_t n,
                         void (*quantize_q8_0)(const float *restrict, void *restrict, int64_t)) {
    const int64_t nb = n / 32;
    for (int64_t b = 0; b < nb; b += RZ_G16_BLOCKS) {
        const int m = g16_blocks(nb, b);
        rz_block_q8_0 blocks[RZ_G16_BLOCKS];
        quantize_q8_0(src + 32 * b, blocks, 32 * m);
        uint8_t *group = (uint8_t *)dst + b * RZ_A8_G16_BLOCK_BYTES;
        for (int k = 0; k < m; k++) {
            g16_scatter(blocks[k].qs, m, k, group, 0);
            int32_t corr = 0;
            for (int j = 0; j < 32; j++)
                corr += blocks[k].qs[j];
            corr *= -128;
            const float d = rz_fp16_to_f32(blocks[k].d);
            memcpy(group + 32 * m + 4 * k, &corr, sizeof corr);
            memcpy(group + 36 * m + 4 * k, &d, sizeof d);
        }
    }
}

void rz_quantize_row_a8_g16(const float *restrict src, void *restrict dst, int64_t n) {
    quantize_g16(src, dst, n, rz_quantize_row_q8_0);
}

/* As for A8_G4, only the Q8_0 quantizer is vectorized. */
void rz_quantize_row_a8_g16_avx2(const float *restrict src, void *restrict dst, int64_t n) {
    quantize_g16(src, dst, n, rz_quantize_row_q8_0_avx2);
}

void rz_quantize_row_a8_g16_avx512(const float *restrict src, void *restrict dst, int64_t n) {
    quantize_g16(src, dst, n, rz_quantize_row_q8_0_avx512);
}

void rz_vec_dot_q8_0_g16_a8_g16(int64_t n, float *restrict s, const void *restrict vx,
                                const void *restrict vy) {
    const int64_t nb = n / 32;
    float sum = 0.0f;
    for (int64_t b = 0; b < nb; b += RZ_G16_BLOCKS) {
        const int m = g16_blocks(nb, b);
        rz_block_q8_0 w[RZ_G16_BLOCKS], a[RZ_G16_BLOCKS];
        unpack_q8_0_g16((const uint8_t *)vx + b * (int64_t)sizeof(rz_block_q8_0), m, w);
        unpack_a8_g16((const uint8_t *)vy + b * RZ_A8_G16_BLOCK_BYTES, m, a);
        for (int k = 0; k < m; k++)
            sum += (float)rz_block_dot_q8_0_q8_0(&w[k], &a[k]) *
                   (rz_fp16_to_f32(w[k].d) * rz_fp16_to_f32(a[k].d));
    }
    *s = sum;
}
