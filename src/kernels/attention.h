/* Attention of one query head over a KV cache in any cache type: scores
 * through the K type's vec_dot, and the weighted sum of values read straight
 * from the V type's blocks (out += p * d * q per block, no dequantized row). */
#ifndef RZ_KERNELS_ATTENTION_H
#define RZ_KERNELS_ATTENTION_H

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

/* Kernels of one (K type, V type, ISA) combination, resolved once per pass. */
typedef struct rz_attn_kernels {
    rz_type q_type;             /* the K type's vec_dot_type: queries are converted to it */
    rz_from_float_fn q_convert; /* NULL when q_type is F32 */
    rz_vec_dot_fn k_dot;
    rz_attn_axpy_fn v_axpy;
    uint64_t q_conv_bytes; /* scratch for one converted head */
} rz_attn_kernels;

/* RZ_ERR_UNSUPPORTED if either type cannot be a cache type. */
rz_status rz_attn_kernels_get(rz_type type_k, rz_type type_v, int64_t head_dim, rz_isa isa,
                              rz_attn_kernels *out);

/* One query head against keys/values at rows 0 .. n_keys - 1: row j of K
 * starts at k + j * k_stride bytes (same for V), holding this head's
 * head_dim values. out = softmax(scale * q.K) V. scores holds n_keys floats
 * and q_conv kern->q_conv_bytes bytes of scratch. */
typedef struct rz_attn_head {
    const float *q;
    const char *k, *v;
    uint64_t k_stride, v_stride;
    uint32_t n_keys;
    int64_t head_dim;
    float scale;
} rz_attn_head;

void rz_attention_head(const rz_attn_kernels *kern, const rz_attn_head *a, float *scores, void *q_conv,
                       float *out);

#endif
