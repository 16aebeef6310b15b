#include "model/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "tensor/type_traits.h"

static rz_status check_cache_type(rz_type type, int64_t head_dim, const char *which) {
    const rz_type_traits *t = rz_type_traits_get(type);
    if (!t || !t->from_float || !t->to_float || !rz_type_vec_dot(type, RZ_ISA_SCALAR))
        return rz_error(RZ_ERR_UNSUPPORTED, "%s cache type %s is not supported", which, t ? t->name : "(unknown)");
    if (head_dim % t->block_size != 0)
        return rz_error(RZ_ERR_UNSUPPORTED, "%s cache type %s needs a head size that is a multiple of %u (it is %lld)",
                        which, t->name, t->block_size, (long long)head_dim);
    return RZ_OK;
}

rz_status rz_kv_cache_init(rz_kv_cache *c, rz_type type_k, rz_type type_v, uint32_t n_ctx, uint32_t n_layer,
                           int64_t kv_dim, int64_t head_dim) {
    memset(c, 0, sizeof *c);
    RZ_TRY(check_cache_type(type_k, head_dim, "K"));
    RZ_TRY(check_cache_type(type_v, head_dim, "V"));
    c->type_k = type_k;
    c->type_v = type_v;
    c->n_ctx = n_ctx;
    c->n_layer = n_layer;
    c->kv_dim = kv_dim;
    c->k_row_bytes = rz_row_bytes(rz_type_traits_get(type_k), (uint64_t)kv_dim);
    c->v_row_bytes = rz_row_bytes(rz_type_traits_get(type_v), (uint64_t)kv_dim);
    c->k = calloc(n_layer, sizeof *c->k);
    c->v = calloc(n_layer, sizeof *c->v);
    if (!c->k || !c->v) {
        rz_kv_cache_free(c);
        return rz_error(RZ_ERR_NOMEM, "out of memory for the KV cache");
    }
    for (uint32_t l = 0; l < n_layer; l++) {
        /* Zeroed so that untouched rows are finite numbers, never garbage. */
        c->k[l] = rz_calloc_aligned(n_ctx, c->k_row_bytes);
        c->v[l] = rz_calloc_aligned(n_ctx, c->v_row_bytes);
        if (!c->k[l] || !c->v[l]) {
            rz_kv_cache_free(c);
            return rz_error(RZ_ERR_NOMEM, "out of memory for a KV cache of %u tokens", n_ctx);
        }
    }
    return RZ_OK;
}

void rz_kv_cache_free(rz_kv_cache *c) {
    for (uint32_t l = 0; l < c->n_layer; l++) {
        if (c->k) rz_free_aligned(c->k[l]);
        if (c->v) rz_free_aligned(c->v[l]);
    }
    free(c->k);
    free(c->v);
    memset(c, 0, sizeof *c);
}

uint64_t rz_kv_cache_bytes(const rz_kv_cache *c) {
    return (uint64_t)c->n_layer * c->n_ctx * (c->k_row_bytes + c->v_row_bytes);
}
