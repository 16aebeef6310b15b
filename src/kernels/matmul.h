/* Matrix products of a weight matrix with a batch of activations. */
#ifndef RZ_KERNELS_MATMUL_H
#define RZ_KERNELS_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "tensor/tensor.h"

/* Products run as one parallel region: of one input batch (Q/K/V, gate/up),
 * or of inputs of their own (the experts' tokens). Calls of more parts run
 * as regions of RZ_MATMUL_MAX_PARTS. */
enum { RZ_MATMUL_MAX_PARTS = 32 };
typedef struct rz_matmul_out {
    const rz_tensor *w;
    float *y;
    int64_t y_stride;
    const float *x;   /* this part's own input rows (same stride); NULL: the call's */
    int64_t n_tokens; /* with x: its rows; 0: the call's n_tokens */
} rz_matmul_out;

/* Scratch bytes rz_matmul needs for n_tokens activation rows of w. */
size_t rz_matmul_work_size(const rz_tensor *w, int64_t n_tokens);

/* The same for rz_matmul_fused over the n_parts weights w. */
size_t rz_matmul_fused_work_size(const rz_tensor *const *w, int n_parts, int64_t n_tokens);

/* y[t][r] = sum_c w[r][c] * x[t][c] for t < n_tokens, r < w->ne[1].
 * x is n_tokens rows of w->ne[0] floats (row stride x_stride floats), y has
 * row stride y_stride. Activations are converted once in `work` to the
 * weight type's vec_dot_type, or for batches to its tile's activation type
 * (rz_type_act_type); weight rows are then read once per tile of tokens.
 * The weight type must have a vec_dot kernel (checked at model load). */
void rz_matmul(rz_threadpool *pool, const rz_tensor *w, const float *x, int64_t x_stride, float *y,
               int64_t y_stride, int64_t n_tokens, void *work);

/* rz_matmul for weights applied to x, or to their own inputs: one
 * conversion per activation type and input, and one parallel region (per
 * RZ_MATMUL_MAX_PARTS weights), whose rows are handed out in chunks as threads free up.
 * next (n_next weights, or none) is the fused mat-mul that comes after this
 * one: a thread out of chunks prefetches its first chunk of it while it
 * waits. */
void rz_matmul_fused(rz_threadpool *pool, const rz_matmul_out *outs, int n_parts, const float *x,
                     int64_t x_stride, int64_t n_tokens, void *work, const rz_tensor *const *next,
                     int n_next);

#endif
