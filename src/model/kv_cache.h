/* Per-layer key and value cache, one row (all KV heads) per position, in any
 * type of the type-traits table that can convert from float. */
#ifndef RZ_MODEL_KV_CACHE_H
#define RZ_MODEL_KV_CACHE_H

#include <stdint.h>

#include "kernels/ops.h"
#include "ryzanstein.h"

typedef struct rz_kv_cache {
    rz_type type_k, type_v;
    uint32_t n_ctx, n_layer;
    int64_t kv_dim;
    uint64_t k_row_bytes, v_row_bytes;
    char **k, **v; /* [layer] -> n_ctx rows */
} rz_kv_cache;

rz_status rz_kv_cache_init(rz_kv_cache *cache, rz_type type_k, rz_type type_v, uint32_t n_ctx,
                           uint32_t n_layer, int64_t kv_dim, int64_t head_dim);
void rz_kv_cache_free(rz_kv_cache *cache);
uint64_t rz_kv_cache_bytes(const rz_kv_cache *cache);

/* The rotary embedding that was applied to the cached keys. */
typedef struct rz_kv_rope {
    const float *freqs; /* n_rot / 2 inverse frequencies */
    int64_t n_rot, head_dim, n_heads;
    rz_rope_style style;
} rz_kv_rope;

/* Drops rows [n_keep, n_keep + n_discard) of every layer and moves rows up to
 * n_past down by n_discard; keys are rotated by -n_discard positions (through
 * float for quantized types). */
rz_status rz_kv_cache_shift(rz_kv_cache *cache, uint32_t n_keep, uint32_t n_discard, uint32_t n_past,
                            const rz_kv_rope *rope);

static inline void *rz_kv_k_row(const rz_kv_cache *c, uint32_t layer, uint32_t pos) {
    return c->k[layer] + (uint64_t)pos * c->k_row_bytes;
}
static inline void *rz_kv_v_row(const rz_kv_cache *c, uint32_t layer, uint32_t pos) {
    return c->v[layer] + (uint64_t)pos * c->v_row_bytes;
}

#endif
