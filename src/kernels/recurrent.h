/* The recurrences of attention-free layers over a sequence's state
 * (float32): RWKV's WKV (v6, v7), Mamba's causal conv1d and selective scans
 * (Mamba 1, Mamba 2). Layouts are llama.cpp's, so that states agree element
 * for element. Heads and channels are independent, so threads split them:
 * a range of them is a call on pointers offset to its first one (Mamba 2's
 * scan, whose heads share B and C by groups, takes the range). AVX2 and
 * AVX-512 paths agree with the scalar ones up to float rounding. */
#ifndef RZ_KERNELS_RECURRENT_H
#define RZ_KERNELS_RECURRENT_H

#include <stdint.h>

/* RWKV 6, each of n_heads heads of size N (state[h][i][j], i over keys,
 * j over values):
 *   y[j] = sum_i r[i] (u[i] k[i] v[j] + S[i][j]),  S[i][j] = w[i] S[i][j] + k[i] v[j]. */
void rz_wkv6(float *y, float *state, const float *r, const float *k, const float *v, const float *w,
             const float *u, int64_t n_heads, int64_t N);

/* RWKV 7 (state[h][i][j], i over values, j over keys):
 *   S[i][j] = w[j] S[i][j] + v[i] k[j] + (sum_j' a[j'] S[i][j']) b[j],  y[i] = sum_j S[i][j] r[j]. */
void rz_wkv7(float *y, float *state, const float *r, const float *w, const float *k, const float *v,
             const float *a, const float *b, int64_t n_heads, int64_t N);

/* Causal depthwise conv1d of n_ch channels over n_tokens consecutive
 * tokens of one sequence (rows of x and y at the given strides):
 * window[c] holds the last k - 1 inputs of channel c (oldest first) and
 * ends with the last k - 1 of the run; y[t][c] = sum_i in[c][i] w[c][i]
 * over the k inputs ending at x[t][c]. */
void rz_ssm_conv(float *y, int64_t y_stride, float *window, const float *x, int64_t x_stride,
                 int64_t n_tokens, const float *w, int64_t n_ch, int64_t k);

/* softplus as ggml computes it. */
float rz_softplus(float x);

/* Mamba 1 selective scan over n_inner channels of d_state states
 * (state[c][s], A[c][s]); dt is before softplus:
 *   S = exp(dt' A) S + dt' x B,  y = S . C. */
void rz_ssm_scan1(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
                  const float *C, int64_t n_inner, int64_t d_state);

/* Mamba 2 scan of heads [h0, h1) of n_heads heads of head_dim channels, one
 * decay A[h] per head, heads split evenly over n_group groups of B and C. */
void rz_ssm_scan2(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
                  const float *C, int64_t h0, int64_t h1, int64_t n_heads, int64_t head_dim, int64_t d_state,
                  int64_t n_group);

#endif
