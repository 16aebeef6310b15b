#include "tensor/quants_kg.h"

#include <string.h>

/* The 6-bit field at bit p of a 6-byte string. */
static unsigned get6(const uint8_t bits[6], int p) {
    unsigned v = bits[p / 8] >> (p % 8);
    if (p % 8 > 2) v |= (unsigned)bits[p / 8 + 1] << (8 - p % 8);
    return v & 63;
}

/* Eight 6-bit fields into a 6-byte string, field g at bit 6g. */
static void put_fields(uint8_t bits[6], const uint8_t v[8]) {
    uint64_t word = 0;
    for (int g = 0; g < 8; g++)
        word |= (uint64_t)v[g] << (6 * g);
    for (int k = 0; k < 6; k++)
        bits[k] = (uint8_t)(word >> (8 * k));
}

/* Eight bytes as a little-endian word. */
static uint64_t load8(const uint8_t *p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++)
        v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static void store8(uint8_t *p, uint64_t v) {
    for (int k = 0; k < 8; k++)
        p[k] = (uint8_t)(v >> (8 * k));
}

/* Eight bytes at a time: output bytes 64r + 8g + i take codes 16r + i (low
 * nibble) and 16r + 8 + i (high) of sub-block g, which sit in the low (even
 * g) or high (odd g) nibbles of Q4_K bytes 32 (g / 2) + 16r + i and
 * 32 (g / 2) + 16r + 8 + i. */
void rz_repack_q4_k_g(const void *restrict src, void *restrict dst, int64_t n_per_row, int64_t nrows) {
    const int64_t n = n_per_row * nrows; /* blocks never straddle rows */
    const uint64_t low = 0x0f0f0f0f0f0f0f0full;
    const rz_block_q4_K *x = src;
    rz_block_q4_k_g *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        uint8_t sc[8], m[8];
        for (int g = 0; g < 8; g++)
            rz_k4_scale_min(x[b].scales, g, &sc[g], &m[g]);
        put_fields(y[b].sc, sc);
        put_fields(y[b].m, m);
        for (int g = 0; g < 8; g++)
            for (int r = 0; r < 2; r++) {
                const uint64_t a = load8(x[b].qs + 32 * (g / 2) + 16 * r),
                               c = load8(x[b].qs + 32 * (g / 2) + 16 * r + 8);
                store8(y[b].qs + 64 * r + 8 * g,
                       g % 2 ? ((a >> 4) & low) | (c & ~low) : (a & low) | ((c & low) << 4));
            }
        y[b].d = x[b].d;
        y[b].dmin = x[b].dmin;
    }
}

void rz_dequantize_row_q4_k_g(const void *restrict src, float *restrict dst, int64_t n) {
    const rz_block_q4_k_g *x = src;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        const float d = rz_fp16_to_f32(x[b].d), dmin = rz_fp16_to_f32(x[b].dmin);
        for (int g = 0; g < 8; g++) {
            const float dg = d * (float)get6(x[b].sc, 6 * g), mg = dmin * (float)get6(x[b].m, 6 * g);
            for (int j = 0; j < 32; j++)
                *dst++ = dg * (float)rz_q4_k_g_code(x[b].qs, g, j) - mg;
        }
    }
}

void rz_quantize_row_a8_k(const float *restrict src, void *restrict dst, int64_t n) {
    rz_block_a8_k *y = dst;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        rz_block_q8_K q;
        rz_quantize_row_q8_K(src + b * RZ_QK_K, &q, RZ_QK_K);
        memset(&y[b], 0, sizeof y[b]);
        for (int g = 0; g < 8; g++) {
            for (int j = 0; j < 32; j++)
                y[b].qs[rz_a8_k_index(g, j)] = q.qs[32 * g + j];
            y[b].msums[4 * (g / 2) + 2 * (g % 2)] = -(q.bsums[2 * g] + q.bsums[2 * g + 1]);
        }
        y[b].d = q.d;
    }
}

void rz_vec_dot_q4_k_g_a8_k(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) {
    const rz_block_q4_k_g *x = vx;
    const rz_block_a8_k *y = vy;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / RZ_QK_K; b++) {
        int32_t isum = 0, msum = 0;
        for (int g = 0; g < 8; g++) {
            int32_t dot = 0;
            for (int j = 0; j < 32; j++)
                dot += (int32_t)rz_q4_k_g_code(x[b].qs, g, j) * y[b].qs[rz_a8_k_index(g, j)];
            isum += (int32_t)get6(x[b].sc, 6 * g) * dot;
            msum -= (int32_t)get6(x[b].m, 6 * g) * y[b].msums[4 * (g / 2) + 2 * (g % 2)];
        }
        sum += (float)isum * (rz_fp16_to_f32(x[b].d) * y[b].d) -
               (float)msum * (rz_fp16_to_f32(x[b].dmin) * y[b].d);
    }
    *s = sum;
}
