/* A read-only view of a weight tensor (data owned elsewhere, e.g. an mmap). */
#ifndef RZ_TENSOR_TENSOR_H
#define RZ_TENSOR_TENSOR_H

#include <stdint.h>

#include "ryzanstein.h"

typedef struct rz_tensor {
    rz_type type;
    int64_t ne[RZ_MAX_DIMS]; /* ne[0] contiguous; unused dims are 1 */
    uint64_t row_bytes;      /* bytes of one ne[0]-row */
    const void *data;
    /* Per-tensor factor rz_matmul applies to vec_dot results, for types whose
     * scale is not in the rows (rz_type_traits.tensor_scale: I2_S). */
    float scale;
} rz_tensor;

static inline const void *rz_tensor_row(const rz_tensor *t, int64_t row) {
    return (const char *)t->data + (uint64_t)row * t->row_bytes;
}

#endif
