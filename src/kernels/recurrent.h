/* The recurrences of attention-free layers, one token at a time over a
 * sequence's state (float32): RWKV's WKV (v6, v7), Mamba's causal conv1d
 * and selective scans (Mamba 1, Mamba 2). Layouts are llama.cpp's, so that
 * states agree element for element. */
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

/* Causal depthwise conv1d of one token over n_ch channels: window[c] holds
 * the last k - 1 inputs of channel c (oldest first) and shifts in x[c];
 * y[c] = sum_i window'[c][i] w[c][i] over the k inputs ending at x[c]. */
void rz_ssm_conv(float *y, float *window, const float *x, const float *w, int64_t n_ch, int64_t k);

/* softplus as ggml computes it. */
float rz_softplus(float x);

/* Mamba 1 selective scan over n_inner channels of d_state states
 * (state[c][s], A[c][s]); dt is before softplus:
 *   S = exp(dt' A) S + dt' x B,  y = S . C. */
void rz_ssm_scan1(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
                  const float *C, int64_t n_inner, int64_t d_state);

/* Mamba 2 scan: n_heads heads of head_dim channels, one decay A[h] per
 * head, heads split evenly over n_group groups of B and C. */
void rz_ssm_scan2(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
                  const float *C, int64_t n_heads, int64_t head_dim, int64_t d_state, int64_t n_group);

#endif
