/* Per-layer key and value cache, one row (all KV heads) per position, in any
 * type of the type-traits table that can convert from float. */
#ifndef RZ_MODEL_KV_CACHE_H
#define RZ_MODEL_KV_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "ryzanstein.h"

typedef struct rz_kv_cache {
    rz_type type_k, type_v;
    uint32_t n_ctx, n_layer;
    int64_t kv_dim;
    uint64_t k_row_bytes, v_row_bytes;
    char **k, **v; /* [layer] -> its rows */
    /* [layer]: 0, a row per position; else the layer attends over a sliding
     * window and keeps the last `ring` positions, position p in row
     * p % ring and again in row p % ring + ring, so that any run of up to
     * `ring` consecutive positions lies in consecutive rows. */
    uint32_t *ring;
    bool any_ring;
    uint32_t rewind; /* positions a ring keeps beyond its window: how far a cache may be truncated back */
    uint64_t bytes;
} rz_kv_cache;

/* windows[l] (or NULL: none) is layer l's sliding window; such a layer
 * keeps window + n_batch - 1 positions, enough for a batch of n_batch
 * tokens whose first needs window - 1 keys before it, where that is less
 * than the context. */
rz_status rz_kv_cache_init(rz_kv_cache *cache, rz_type type_k, rz_type type_v, uint32_t n_ctx,
                           uint32_t n_layer, int64_t kv_dim, int64_t head_dim, const uint32_t *windows,
                           uint32_t n_batch);
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
 * float for quantized types). RZ_ERR_UNSUPPORTED for a cache with rings. */
rz_status rz_kv_cache_shift(rz_kv_cache *cache, uint32_t n_keep, uint32_t n_discard, uint32_t n_past,
                            const rz_kv_rope *rope);

/* The row holding position pos (the first of its two in a ring). */
static inline uint32_t rz_kv_row_of(const rz_kv_cache *c, uint32_t layer, uint32_t pos) {
    return c->ring[layer] ? pos % c->ring[layer] : pos;
}

static inline void *rz_kv_k_row(const rz_kv_cache *c, uint32_t layer, uint32_t row) {
    return c->k[layer] + (uint64_t)row * c->k_row_bytes;
}
static inline void *rz_kv_v_row(const rz_kv_cache *c, uint32_t layer, uint32_t row) {
    return c->v[layer] + (uint64_t)row * c->v_row_bytes;
}

/* Stores position pos's key and value (kv_dim floats each) in their types. */
void rz_kv_cache_store(rz_kv_cache *c, uint32_t layer, uint32_t pos, const float *k, const float *v);

#endif
