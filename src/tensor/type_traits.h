/* The one table that drives per-type behaviour: layout, conversion to and
 * from float, and the dot-product kernel of each ISA path. */
#ifndef RZ_TENSOR_TYPE_TRAITS_H
#define RZ_TENSOR_TYPE_TRAITS_H

#include <stdbool.h>
#include <stdint.h>

#include "ryzanstein.h"
#include "tensor/isa/gemm.h"

/* n is a multiple of the type's block size in every function below. */
typedef void (*rz_to_float_fn)(const void *restrict src, float *restrict dst, int64_t n);
typedef void (*rz_from_float_fn)(const float *restrict src, void *restrict dst, int64_t n);
/* Quantizes a whole tensor of nrows rows of n_per_row floats into dst (the
 * tensor's rz_type_tensor_bytes, trailer included), for types whose scale
 * spans the tensor (absmean ternary types); takes precedence over from_float
 * in rz quantize. */
typedef rz_status (*rz_quantize_tensor_fn)(const float *restrict src, void *restrict dst, int64_t nrows,
                                           int64_t n_per_row);
/* nrows rows of n elements (a whole matrix) from a stored layout into a
 * run-time one. */
typedef void (*rz_repack_fn)(const void *restrict src, void *restrict dst, int64_t n, int64_t nrows);
/* *s = dot(x, y): x in the weight's type, y in its vec_dot_type. */
typedef void (*rz_vec_dot_fn)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y);
/* s[0] = dot(x0, y), s[1] = dot(x1, y), each bit for bit vec_dot's: two rows
 * streamed at once (they lie far apart in a GEMV, where two streams read
 * memory faster than one). */
typedef void (*rz_vec_dot2_fn)(int64_t n, float *restrict s, const void *restrict x0, const void *restrict x1,
                               const void *restrict y);

typedef struct rz_repack {
    rz_repack_fn fn;
    rz_type type;
} rz_repack;

enum { RZ_MAX_REPACKS = 2 };

typedef struct rz_type_traits {
    const char *name;       /* ggml spelling; NULL for unused ids */
    uint32_t block_size;    /* elements per block */
    uint32_t block_bytes;   /* bytes per block */
    uint32_t trailer_bytes; /* per-tensor bytes after the blocks (I2_S scale) */
    bool is_quantized;
    bool tensor_scale;                     /* kernels leave the tensor's scale to rz_matmul */
    bool runtime_only;                     /* a layout of ours or an activation type: refused in files */
    rz_to_float_fn to_float;               /* NULL if we cannot decode it */
    rz_from_float_fn from_float;           /* reference quantizer; NULL if none */
    rz_quantize_tensor_fn quantize_tensor; /* whole-tensor quantizer; NULL if rows suffice */
    rz_type vec_dot_type;                  /* type activations are converted to for vec_dot */
    rz_vec_dot_fn vec_dot[RZ_ISA_COUNT];   /* NULL entries fall back to a lower ISA */
    rz_vec_dot2_fn vec_dot2[RZ_ISA_COUNT]; /* optional, beside the ISA's vec_dot */
    /* Converts activations into this type when it is a vec_dot_type. Every
     * ISA entry writes the same bytes (for Q8_0 those of ggml's x86
     * quantize_row_q8_0, not of from_float); NULL entries fall back. */
    rz_from_float_fn from_float_act[RZ_ISA_COUNT];
    /* Optional tiled product for batches (prompt processing); NULL entries
     * mean rows of vec_dot, which is also the reference these match. */
    rz_gemm_kernel gemm[RZ_ISA_COUNT];
    /* Run-time layouts the weights may be repacked into at load, in order of
     * preference: the first one the active ISA has a kernel of its own for
     * (and whose blocks and row groups the matrix fills) is taken. Different
     * ISAs want different layouts (AVX-512 a row's blocks side by side, AVX2
     * rows interleaved). An entry without fn ends the list; none: as stored. */
    rz_repack repack[RZ_MAX_REPACKS];
    /* A run-time layout that reads fewer bytes per token than its stored
     * type but runs batches slower (lookup tables): only on request. */
    bool batches_slower;
} rz_type_traits;

/* The run-time type a matrix of `type` with ne1 rows of ne0 elements is
 * repacked into on this ISA, or `type` itself when it stays as stored. */
rz_type rz_type_runtime_layout(rz_type type, int64_t ne0, int64_t ne1, rz_isa isa);

/* Whether run-time `layout` has a kernel of its own for this very ISA (not a
 * fallback) and a matrix of ne1 rows of ne0 elements fills its blocks and row
 * groups: rz_type_runtime_layout's test of each candidate. */
bool rz_type_layout_fits(rz_type layout, int64_t ne0, int64_t ne1, rz_isa isa);

/* The function that repacks `from` into its run-time layout `to`; NULL if
 * `to` is not one of from's. */
rz_repack_fn rz_type_repack(rz_type from, rz_type to);

/* NULL for ids outside the table or unused ids. */
const rz_type_traits *rz_type_traits_get(rz_type type);

/* vec_dot for the active ISA (falls back to the best lower path present). */
rz_vec_dot_fn rz_type_vec_dot(rz_type type, rz_isa isa);

/* vec_dot2 beside the vec_dot rz_type_vec_dot gives; NULL if none. */
rz_vec_dot2_fn rz_type_vec_dot2(rz_type type, rz_isa isa);

/* from_float_act for the active ISA (same fallback); NULL if none. */
rz_from_float_fn rz_type_from_float_act(rz_type type, rz_isa isa);

/* gemm for the ISA (or the best lower path that has one); NULL if none. */
const rz_gemm_kernel *rz_type_gemm(rz_type type, rz_isa isa);

/* The type activations are converted to for products with weights of
 * `type`: the tile's act_type for batches through gemm, else (gemm NULL,
 * GEMV) the vec_dot_type. */
rz_type rz_type_act_type(rz_type type, const rz_gemm_kernel *gemm);

/* llama.cpp's general.file_type for a model whose weights are mostly of this
 * type (llama_ftype; bitnet.cpp's 40 for I2_S); false if it has none. */
bool rz_type_file_type(rz_type type, uint32_t *out);

/* The type a row of row_len values is stored in when `type` is asked for:
 * itself where its blocks tile the row, else llama.cpp's replacement of
 * similar size (Q4_K -> Q5_0, Q6_K -> Q8_0, ...), else F16. */
rz_type rz_type_for_row(rz_type type, uint64_t row_len);

/* Bytes of one row of n elements (n a multiple of the block size). */
static inline uint64_t rz_row_bytes(const rz_type_traits *t, uint64_t n) {
    return n / t->block_size * t->block_bytes;
}

#endif
