/* The inside of an inference context, for the runtime's files (context.c,
 * state.c). */
#ifndef RZ_RUNTIME_CONTEXT_H
#define RZ_RUNTIME_CONTEXT_H

#include "model/graph.h"

struct rz_context {
    const rz_model *model;
    rz_seq_memory mem;
    rz_forward_buffers buffers;
    rz_threadpool *pool;
    int32_t n_threads;
    uint32_t n_batch;
    uint32_t n_past;
    /* Logits of the last rz_decode: row_of[i] is token i's row, or -1. */
    float *logits;
    uint32_t logits_cap_rows;
    int32_t *row_of;
    uint32_t row_of_cap;
    uint32_t n_last;
    bool *chunk_wants; /* [n_batch] */
    char placement[512];
};

/* Room for the row map of n_tokens tokens and n_rows logits rows. */
rz_status rz_context_reserve(rz_context *ctx, uint32_t n_tokens, uint32_t n_rows);

#endif
