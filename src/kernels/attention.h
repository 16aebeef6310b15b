/* Attention of one query head over a KV cache in any cache type: scores
 * through the K type's vec_dot, and the weighted sum of values read straight
 * from the V type's blocks (out += p * d * q per block, no dequantized row). */
#ifndef RZ_KERNELS_ATTENTION_H
#define RZ_KERNELS_ATTENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "ryzanstein.h"
#include "tensor/type_traits.h"

/* out[i] += p * v[i] for n values of a row in the V type (n a multiple of
 * its block size). */
typedef void (*rz_attn_axpy_fn)(int64_t n, float p, const void *restrict v, float *restrict out);

/* The axpy of a cache type on an ISA path (falling back to lower paths);
 * NULL if the type cannot be a V cache. */
rz_attn_axpy_fn rz_attn_axpy(rz_type type, rz_isa isa);

/* Scalar references (also the fallbacks). */
void rz_attn_axpy_f32(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_f16(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_bf16(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_q8_0(int64_t n, float p, const void *restrict v, float *restrict out);
void rz_attn_axpy_q4_0(int64_t n, float p, const void *restrict v, float *restrict out);

/* c[i][j] += sum_l a[i][l] * b[l][j] for i < m, j < n, l < k: row-major,
 * leading dimensions in floats. The float products of blocked attention. */
typedef void (*rz_attn_gemm_fn)(int m, int n, int k, const float *a, int64_t lda, const float *b, int64_t ldb,
                                float *c, int64_t ldc);

/* Scalar reference. */
void rz_attn_gemm_f32(int m, int n, int k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                      int64_t ldc);

/* The kernel of exactly this ISA path. */
rz_attn_gemm_fn rz_attn_gemm(rz_isa isa);

/* Kernels of one (K type, V type, ISA) combination, resolved once per pass. */
typedef struct rz_attn_kernels {
    rz_type q_type;             /* the K type's vec_dot_type: queries are converted to it */
    rz_from_float_fn q_convert; /* NULL when q_type is F32 */
    rz_vec_dot_fn k_dot;
    rz_attn_axpy_fn v_axpy;
    /* Decoding over all keys at once (F32 keys / values on AVX-512, head_dim
     * a multiple of 16); NULL: k_dot and v_axpy key by key. */
    void (*k_scores)(int64_t head_dim, const float *q, const char *k, uint64_t k_stride, uint32_t n_keys,
                     float scale, float *scores);
    void (*v_sum)(int64_t head_dim, const float *p, const char *v, uint64_t v_stride, uint32_t n_keys,
                  float *out);
    uint64_t q_conv_bytes; /* scratch for one converted head */
    /* blocked attention: rows of K, V and converted queries back to float */
    rz_to_float_fn k_to_float, v_to_float, q_to_float;
    bool k_f32, v_f32; /* float caches: blocks read them in place, no copy */
    rz_attn_gemm_fn gemm;
} rz_attn_kernels;

/* RZ_ERR_UNSUPPORTED if either type cannot be a cache type. */
rz_status rz_attn_kernels_get(rz_type type_k, rz_type type_v, int64_t head_dim, rz_isa isa,
                              rz_attn_kernels *out);

/* One query head against keys/values at rows first_key .. n_keys - 1
 * (first_key < n_keys): row j of K starts at k + j * k_stride bytes (same
 * for V), holding this head's head_dim values. out = softmax(s) V with
 * s_j = scale * q.K_j, each s_j then capped to softcap * tanh(s_j / softcap)
 * when softcap != 0 (Gemma 2), and with has_sink an extra logit `sink`
 * (uncapped, unscaled) that joins the softmax's normalization without a
 * value (gpt-oss). Zeroed options are off. scores holds n_keys - first_key
 * floats, one more with a sink, and q_conv kern->q_conv_bytes bytes of
 * scratch. */
typedef struct rz_attn_head {
    const float *q;
    const char *k, *v;
    uint64_t k_stride, v_stride;
    uint32_t n_keys;
    uint32_t first_key; /* sliding window: keys before it are not attended */
    int64_t head_dim;
    float scale;
    float softcap;
    bool has_sink;
    float sink;
} rz_attn_head;

void rz_attention_head(const rz_attn_kernels *kern, const rz_attn_head *a, float *scores, void *q_conv,
                       float *out);

/* Queries that share one KV head of one cache (the heads of a GQA group,
 * tokens of a prompt), attended together: each block of keys and values is
 * converted to float once for all rows, scores and weighted sums are small
 * GEMMs, and the softmax runs online over the key blocks. Row i is q[i]
 * (head_dim floats) over keys first_key[i] .. n_keys[i] - 1 (first_key[i] <
 * n_keys[i]), with sink[i] when has_sink, result in out[i]; the options mean
 * what they do in rz_attn_head, and the values are rz_attention_head's up to
 * float rounding. Keys before every row's first key are not read. */
enum { RZ_ATTN_BLOCK_ROWS = 64, RZ_ATTN_BLOCK_KEYS = 64 };

typedef struct rz_attn_block {
    const char *k, *v; /* rows 0.. of this KV head */
    uint64_t k_stride, v_stride;
    int64_t head_dim;
    float scale;
    float softcap;
    bool has_sink;
    int n_rows; /* <= RZ_ATTN_BLOCK_ROWS */
    const float *q[RZ_ATTN_BLOCK_ROWS];
    float *out[RZ_ATTN_BLOCK_ROWS];
    uint32_t n_keys[RZ_ATTN_BLOCK_ROWS];
    uint32_t first_key[RZ_ATTN_BLOCK_ROWS];
    float sink[RZ_ATTN_BLOCK_ROWS];
} rz_attn_block;

/* Scratch bytes rz_attention_block needs (64-byte aligned). */
size_t rz_attn_block_scratch_bytes(const rz_attn_kernels *kern, int64_t head_dim);

/* Needs kern->gemm. */
void rz_attention_block(const rz_attn_kernels *kern, const rz_attn_block *a, void *scratch);

#endif
