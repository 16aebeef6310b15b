#include "model/seq_memory.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"

rz_status rz_seq_memory_init(rz_seq_memory *mem, const rz_model *m, rz_type type_k, rz_type type_v,
                             uint32_t n_ctx, uint32_t n_batch) {
    memset(mem, 0, sizeof *mem);
    const rz_model_desc *d = &m->desc;
    if (m->recurrent) {
        /* llama.cpp's recurrent states are float32 whatever the cache types */
        mem->kv.type_k = type_k;
        mem->kv.type_v = type_v;
        mem->kv.n_ctx = n_ctx;
        mem->rec.n_layer = (uint32_t)d->n_layer;
        mem->rec.layer_floats = rz_align_up((uint64_t)m->rec.state_floats, RZ_CACHE_LINE / sizeof(float));
        mem->rec.data = rz_calloc_aligned((size_t)d->n_layer * (size_t)mem->rec.layer_floats, sizeof(float));
        if (!mem->rec.data)
            return rz_error(RZ_ERR_NOMEM, "out of memory for the recurrent state of %d layers", d->n_layer);
        return RZ_OK;
    }
    uint32_t *windows = calloc((size_t)d->n_layer, sizeof *windows);
    if (!windows) return rz_error(RZ_ERR_NOMEM, "out of memory");
    for (int32_t l = 0; l < d->n_layer; l++)
        windows[l] = m->layers[l].window;
    rz_status s = rz_kv_cache_init(&mem->kv, type_k, type_v, n_ctx, (uint32_t)d->n_layer, m->kv_dim,
                                   m->head_dim, windows, n_batch);
    free(windows);
    return s;
}

void rz_seq_memory_free(rz_seq_memory *mem) {
    rz_kv_cache_free(&mem->kv);
    rz_free_aligned(mem->rec.data);
    memset(mem, 0, sizeof *mem);
}

uint64_t rz_seq_memory_bytes(const rz_seq_memory *mem) {
    return rz_kv_cache_bytes(&mem->kv) + (uint64_t)mem->rec.n_layer * (uint64_t)mem->rec.layer_floats * 4;
}

void rz_seq_memory_clear(rz_seq_memory *mem) {
    if (mem->rec.data)
        memset(mem->rec.data, 0, (size_t)mem->rec.n_layer * (size_t)mem->rec.layer_floats * sizeof(float));
}
