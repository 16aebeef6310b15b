#include "tensor/quants_tl.h"

#include <math.h>
#include <string.h>

#include "tensor/quants_ternary.h"

/* Offsets in a quad pair: nibble vector (h, v) and sign word (h, v, s). */
static inline int nib_at(int h, int v) { return 64 * (2 * h + v); }
static inline int sign_at(int h, int v, int s) { return 4 * 64 + 8 * (4 * h + 2 * v + s); }

static inline uint64_t group_bytes(int64_t n) {
    return (uint64_t)RZ_TL_ROWS * (uint64_t)(n / 256) * RZ_TL_BLOCK_BYTES;
}

/* Rows are decoded 1536 weights (12 I2_S groups, 512 slots, 64 quad pairs)
 * at a time: runs of 384 bytes of each row, the groups in one pass each. */
enum { CHUNK_GROUPS = 12, CHUNK_PAIRS = CHUNK_GROUPS * RZ_QK_I2S / 24 };

/* The balanced ternary numbers of the 512 slots of weights c0.. of an I2_S
 * row of n weights (zero weights past n). */
static void chunk_slots(const uint8_t *row, int64_t n, int64_t c0, int8_t m[CHUNK_PAIRS * 8]) {
    int8_t t[CHUNK_GROUPS * RZ_QK_I2S] = {0};
    for (int64_t g = 0; g < CHUNK_GROUPS && c0 + g * RZ_QK_I2S < n; g++) {
        const uint8_t *codes = row + 32 * (c0 / RZ_QK_I2S + g);
        for (int l = 0; l < 4; l++)
            for (int i = 0; i < 32; i++)
                t[RZ_QK_I2S * g + 32 * l + i] = (int8_t)(((codes[i] >> (6 - 2 * l)) & 3) - 1);
    }
    for (int j = 0; j < CHUNK_PAIRS * 8; j++)
        m[j] = (int8_t)(9 * t[3 * j] + 3 * t[3 * j + 1] + t[3 * j + 2]);
}

void rz_repack_i2_s_tl(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows) {
    const uint8_t *x = src;
    const int64_t pairs = rz_tl_pairs(n);
    for (int64_t g = 0; g < nrows / RZ_TL_ROWS; g++) {
        uint8_t *out = (uint8_t *)dst + (uint64_t)g * group_bytes(n);
        memset(out + RZ_TL_PAIR_BYTES * pairs, 0,
               group_bytes(n) - (uint64_t)(RZ_TL_PAIR_BYTES * pairs)); /* slack */
        for (int64_t p0 = 0; p0 < pairs; p0 += CHUNK_PAIRS) {
            int8_t m[RZ_TL_ROWS][CHUNK_PAIRS * 8];
            for (int r = 0; r < RZ_TL_ROWS; r++)
                chunk_slots(x + (uint64_t)(RZ_TL_ROWS * g + r) * (uint64_t)(n / 4), n, 24 * p0, m[r]);
            for (int64_t p = p0; p < pairs && p < p0 + CHUNK_PAIRS; p++) {
                uint8_t *pair = out + RZ_TL_PAIR_BYTES * p;
                for (int h = 0; h < 2; h++)
                    for (int v = 0; v < 2; v++) {
                        uint64_t sign[2] = {0, 0};
                        for (int b = 0; b < 64; b++) {
                            const int slot = 8 * (int)(p - p0) + 4 * h + b % 4;
                            const int m0 = m[32 * v + b / 4][slot], m1 = m[32 * v + 16 + b / 4][slot];
                            pair[nib_at(h, v) + b] =
                                (uint8_t)((m0 < 0 ? -m0 : m0) | (m1 < 0 ? -m1 : m1) << 4);
                            sign[0] |= (uint64_t)(m0 < 0) << b;
                            sign[1] |= (uint64_t)(m1 < 0) << b;
                        }
                        memcpy(pair + sign_at(h, v, 0), sign, sizeof sign);
                    }
            }
        }
    }
}

/* Balanced ternary digits of e (p[0] weighs 9, p[2] weighs 1). */
static void digits(int e, int p[3]) {
    for (int k = 2; k >= 0; k--) {
        p[k] = (e + 1) % 3 - 1;
        e = (e - p[k]) / 3;
    }
}

void rz_unpack_i2_tl(const void *restrict src, int8_t *restrict t, int64_t n, int64_t nrows) {
    const int64_t pairs = rz_tl_pairs(n);
    for (int64_t g = 0; g < nrows / RZ_TL_ROWS; g++) {
        const uint8_t *in = (const uint8_t *)src + (uint64_t)g * group_bytes(n);
        for (int64_t p = 0; p < pairs; p++)
            for (int h = 0; h < 2; h++)
                for (int v = 0; v < 2; v++)
                    for (int b = 0; b < 64; b++)
                        for (int s = 0; s < 2; s++) {
                            const uint8_t *pair = in + RZ_TL_PAIR_BYTES * p;
                            const int sign = pair[sign_at(h, v, s) + b / 8] >> (b % 8) & 1;
                            int d[3];
                            digits(pair[nib_at(h, v) + b] >> (4 * s) & 15, d);
                            const int64_t r = RZ_TL_ROWS * g + 32 * v + 16 * s + b / 4;
                            const int64_t c = 3 * (4 * (2 * p + h) + b % 4);
                            for (int k = 0; k < 3 && c + k < n; k++)
                                t[r * n + c + k] = (int8_t)(sign ? -d[k] : d[k]);
                        }
    }
}

void rz_quantize_row_i8_tl(const float *restrict src, void *restrict dst, int64_t n) {
    uint8_t *y = dst;
    const float a = rz_i8_s_scale(src, n); /* codes as rz_quantize_row_i8_s's */
    memset(y, 0, RZ_TL_ACT_HEADER);
    memcpy(y, &a, sizeof a);
    for (int64_t quad = 0; quad < 2 * rz_tl_pairs(n); quad++) {
        uint8_t *tab = y + RZ_TL_ACT_HEADER + RZ_TL_QUAD_TABLES * quad;
        for (int s = 0; s < 4; s++) {
            int q[3];
            for (int k = 0; k < 3; k++) {
                const int64_t c = 12 * quad + 3 * s + k;
                const int v = c < n ? (int)lrintf(src[c] * a) : 0;
                q[k] = v < -128 ? -128 : v > 127 ? 127 : v;
            }
            for (int e = 0; e < 16; e++) {
                int p[3];
                digits(e, p);
                const int v = e < 14 ? p[0] * q[0] + p[1] * q[1] + p[2] * q[2] : 0;
                const int u = v + 384;
                tab[16 * s + e] = (uint8_t)(u & 255);
                tab[64 + 16 * s + e] = (uint8_t)(4 * (u >> 8));
            }
        }
    }
}

void rz_gemm_tile_i2_tl_i8_tl(int64_t n, const void *w, uint64_t w_stride, int nr, const void *x,
                              uint64_t x_stride, int nt, float *y, int64_t y_stride) {
    (void)w_stride;
    (void)nr;
    const uint8_t *pairs = w;
    for (int t = 0; t < nt; t++) {
        const uint8_t *xt = (const uint8_t *)x + (uint64_t)t * x_stride;
        float a;
        memcpy(&a, xt, sizeof a);
        int32_t acc[RZ_TL_ROWS] = {0};
        for (int64_t p = 0; p < rz_tl_pairs(n); p++)
            for (int h = 0; h < 2; h++)
                for (int v = 0; v < 2; v++)
                    for (int b = 0; b < 64; b++)
                        for (int s = 0; s < 2; s++) {
                            const uint8_t *pair = pairs + RZ_TL_PAIR_BYTES * p;
                            const int neg = pair[sign_at(h, v, s) + b / 8] >> (b % 8) & 1;
                            const int e = pair[nib_at(h, v) + b] >> (4 * s) & 15;
                            /* entry e of slot b % 4, where the kernels' vpermb
                             * finds it */
                            const uint8_t *tab =
                                xt + RZ_TL_ACT_HEADER + RZ_TL_QUAD_TABLES * (2 * p + h) + 16 * (b % 4) + e;
                            const int val = tab[0] + 64 * tab[64] - 384;
                            acc[32 * v + 16 * s + b / 4] += neg ? -val : val;
                        }
        for (int r = 0; r < RZ_TL_ROWS; r++)
            y[t * y_stride + r] = (float)acc[r] / a;
    }
}
