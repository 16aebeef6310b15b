/* Per-layer key and value cache, one row (all KV heads) per position, in any
 * type of the type-traits table that can convert from float. */
#ifndef RZ_MODEL_KV_CACHE_H
#define RZ_MODEL_KV_CACHE_H

#include <stdint.h>

#include "ryzanstein.h"

typedef struct rz_kv_cache {
    rz_type type_k, type_v;
    uint32_t n_ctx, n_layer;
    int64_t kv_dim;
    uint64_t k_row_bytes, v_row_bytes;
    char **k, **v; /* [layer] -> n_ctx rows */
} rz_kv_cache;

rz_status rz_kv_cache_init(rz_kv_cache *cache, rz_type type_k, rz_type type_v, uint32_t n_ctx, uint32_t n_layer,
                           int64_t kv_dim, int64_t head_dim);
void rz_kv_cache_free(rz_kv_cache *cache);
uint64_t rz_kv_cache_bytes(const rz_kv_cache *cache);

static inline void *rz_kv_k_row(const rz_kv_cache *c, uint32_t layer, uint32_t pos) {
    return c->k[layer] + (uint64_t)pos * c->k_row_bytes;
}
static inline void *rz_kv_v_row(const rz_kv_cache *c, uint32_t layer, uint32_t pos) {
    return c->v[layer] + (uint64_t)pos * c->v_row_bytes;
}

#endif
