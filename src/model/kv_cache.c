#include "model/kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "kernels/attention.h"
#include "tensor/type_traits.h"

static rz_status check_cache_type(rz_type type, int64_t head_dim, const char *which) {
    const rz_type_traits *t = rz_type_traits_get(type);
    /* K rows are read by vec_dot (and decoded for context shifts), V rows by
     * the attention axpy. */
    const bool readable = which[0] == 'K' ? rz_type_vec_dot(type, RZ_ISA_SCALAR) != NULL
                                          : rz_attn_axpy(type, RZ_ISA_SCALAR) != NULL;
    if (!t || !t->from_float || !t->to_float || !readable)
        return rz_error(RZ_ERR_UNSUPPORTED, "%s cache type %s is not supported", which,
                        t ? t->name : "(unknown)");
    if (head_dim % t->block_size != 0)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "%s cache type %s needs a head size that is a multiple of %u (it is %lld)", which,
                        t->name, t->block_size, (long long)head_dim);
    return RZ_OK;
}

/* Rows layer l holds, and the bytes from one layer's rows to the next's
 * (64-byte aligned for SIMD). */
static uint64_t layer_rows(const rz_kv_cache *c, uint32_t l) {
    return c->ring[l] ? 2 * (uint64_t)c->ring[l] : c->n_ctx;
}
static uint64_t layer_bytes(const rz_kv_cache *c, uint32_t l, uint64_t row_bytes) {
    return rz_align_up(layer_rows(c, l) * row_bytes, 64);
}

static uint64_t total_bytes(const rz_kv_cache *c, uint64_t row_bytes) {
    uint64_t total = 0;
    for (uint32_t l = 0; l < c->n_layer; l++)
        total += layer_bytes(c, l, row_bytes);
    return total;
}

rz_status rz_kv_cache_init(rz_kv_cache *c, rz_type type_k, rz_type type_v, uint32_t n_ctx, uint32_t n_layer,
                           int64_t kv_dim, int64_t head_dim, const uint32_t *windows, uint32_t n_batch) {
    memset(c, 0, sizeof *c);
    RZ_TRY(check_cache_type(type_k, head_dim, "K"));
    RZ_TRY(check_cache_type(type_v, head_dim, "V"));
    c->type_k = type_k;
    c->type_v = type_v;
    c->n_ctx = n_ctx;
    c->n_layer = n_layer;
    c->kv_dim = kv_dim;
    c->rewind = n_batch;
    c->k_row_bytes = rz_row_bytes(rz_type_traits_get(type_k), (uint64_t)kv_dim);
    c->v_row_bytes = rz_row_bytes(rz_type_traits_get(type_v), (uint64_t)kv_dim);
    c->k = calloc(n_layer, sizeof *c->k);
    c->v = calloc(n_layer, sizeof *c->v);
    c->ring = calloc(n_layer, sizeof *c->ring);
    if (!c->k || !c->v || !c->ring) {
        rz_kv_cache_free(c);
        return rz_error(RZ_ERR_NOMEM, "out of memory for the KV cache");
    }
    for (uint32_t l = 0; windows && l < n_layer; l++) {
        const uint64_t keep = windows[l] ? (uint64_t)windows[l] + n_batch - 1 : 0;
        if (keep && 2 * keep < n_ctx) c->ring[l] = (uint32_t)keep, c->any_ring = true;
    }
    /* All layers in one buffer per K and V, in huge pages: attention strides
     * through the rows of every layer for each token, a page walk per row on
     * 4 KB pages. Anonymous memory is zeroed, so untouched rows are finite
     * numbers, never garbage. */
    const uint64_t k_bytes = total_bytes(c, c->k_row_bytes), v_bytes = total_bytes(c, c->v_row_bytes);
    char *k = rz_alloc_large(k_bytes);
    char *v = rz_alloc_large(v_bytes);
    if (!k || !v) {
        rz_free_large(k, k_bytes);
        rz_free_large(v, v_bytes);
        rz_kv_cache_free(c);
        return rz_error(RZ_ERR_NOMEM, "out of memory for a KV cache of %u tokens", n_ctx);
    }
    c->bytes = k_bytes + v_bytes;
    for (uint32_t l = 0; l < n_layer; l++) {
        c->k[l] = k, k += layer_bytes(c, l, c->k_row_bytes);
        c->v[l] = v, v += layer_bytes(c, l, c->v_row_bytes);
    }
    return RZ_OK;
}

void rz_kv_cache_free(rz_kv_cache *c) {
    if (c->k && c->k[0]) rz_free_large(c->k[0], total_bytes(c, c->k_row_bytes));
    if (c->v && c->v[0]) rz_free_large(c->v[0], total_bytes(c, c->v_row_bytes));
    free(c->k);
    free(c->v);
    free(c->ring);
    memset(c, 0, sizeof *c);
}

uint64_t rz_kv_cache_bytes(const rz_kv_cache *c) { return c->bytes; }

void rz_kv_cache_store(rz_kv_cache *c, uint32_t layer, uint32_t pos, const float *k, const float *v) {
    const uint32_t row = rz_kv_row_of(c, layer, pos);
    rz_type_traits_get(c->type_k)->from_float(k, rz_kv_k_row(c, layer, row), c->kv_dim);
    rz_type_traits_get(c->type_v)->from_float(v, rz_kv_v_row(c, layer, row), c->kv_dim);
    if (c->ring[layer]) {
        memcpy(rz_kv_k_row(c, layer, row + c->ring[layer]), rz_kv_k_row(c, layer, row), c->k_row_bytes);
        memcpy(rz_kv_v_row(c, layer, row + c->ring[layer]), rz_kv_v_row(c, layer, row), c->v_row_bytes);
    }
}

rz_status rz_kv_cache_shift(rz_kv_cache *c, uint32_t n_keep, uint32_t n_discard, uint32_t n_past,
                            const rz_kv_rope *rope) {
    if (n_keep > n_past || n_discard > n_past - n_keep)
        return rz_error(RZ_ERR_INVALID_ARG, "cannot drop %u cache rows after %u of %u", n_discard, n_keep,
                        n_past);
    if (n_discard == 0) return RZ_OK;
    if (c->any_ring)
        return rz_error(RZ_ERR_UNSUPPORTED, "cannot shift a cache whose sliding-window layers keep rings");
    const rz_type_traits *kt = rz_type_traits_get(c->type_k);
    const int64_t n_pairs = rope->n_rot / 2;
    float *row = malloc((size_t)c->kv_dim * sizeof *row);
    float *cs = malloc((size_t)(n_pairs ? n_pairs : 1) * 2 * sizeof *cs);
    if (!row || !cs) {
        free(row);
        free(cs);
        return rz_error(RZ_ERR_NOMEM, "out of memory");
    }
    /* Rotations compose: rotating by -n_discard moves a key to its new position. */
    rz_rope_angles(cs, cs + n_pairs, rope->freqs, n_pairs, -(int32_t)n_discard);
    const uint32_t n_moved = n_past - n_keep - n_discard;
    for (uint32_t l = 0; l < c->n_layer; l++) {
        /* Ascending order: a destination row was read before it is written. */
        for (uint32_t j = n_keep + n_discard; j < n_past; j++) {
            kt->to_float(rz_kv_k_row(c, l, j), row, c->kv_dim);
            rz_rope_apply(row, rope->n_heads, rope->head_dim, rope->n_rot, rope->style, cs, cs + n_pairs);
            kt->from_float(row, rz_kv_k_row(c, l, j - n_discard), c->kv_dim);
        }
        memmove(rz_kv_v_row(c, l, n_keep), rz_kv_v_row(c, l, n_keep + n_discard),
                (size_t)n_moved * c->v_row_bytes);
    }
    free(row);
    free(cs);
    return RZ_OK;
}
