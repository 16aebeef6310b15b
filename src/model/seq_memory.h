/* What a sequence remembers of the tokens it has read: the KV cache of
 * attention layers, and the fixed-size state of recurrent ones (RWKV,
 * Mamba), which does not grow with the sequence. */
#ifndef RZ_MODEL_SEQ_MEMORY_H
#define RZ_MODEL_SEQ_MEMORY_H

#include "model/kv_cache.h"
#include "model/model.h"

/* [n_layer][layer_floats] of float32: each layer's state as its
 * architecture lays it out (token-shift rows, WKV / SSM matrices, conv
 * windows), zero before the first token. */
typedef struct rz_rec_state {
    uint32_t n_layer;
    int64_t layer_floats;
    float *data;
} rz_rec_state;

typedef struct rz_seq_memory {
    rz_kv_cache kv;   /* attention layers; holds only n_ctx for a recurrent model */
    rz_rec_state rec; /* recurrent layers; empty for a transformer */
} rz_seq_memory;

/* The memory model m needs for sequences of up to n_ctx tokens decoded in
 * batches of up to n_batch. */
rz_status rz_seq_memory_init(rz_seq_memory *mem, const rz_model *m, rz_type type_k, rz_type type_v,
                             uint32_t n_ctx, uint32_t n_batch);
void rz_seq_memory_free(rz_seq_memory *mem);
uint64_t rz_seq_memory_bytes(const rz_seq_memory *mem);
/* Forgets every token: the recurrent state back to zero (cache rows are
 * simply overwritten). */
void rz_seq_memory_clear(rz_seq_memory *mem);

static inline float *rz_rec_layer(const rz_seq_memory *mem, int32_t l) {
    return mem->rec.data + (uint64_t)l * (uint64_t)mem->rec.layer_floats;
}

#endif
