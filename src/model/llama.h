/* The Llama graph (token embedding, RMSNorm, RoPE, grouped-query attention
 * over a KV cache, SwiGLU FFN, output head) over a batch of tokens. */
#ifndef RZ_MODEL_LLAMA_H
#define RZ_MODEL_LLAMA_H

#include <stdbool.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "model/kv_cache.h"
#include "model/model.h"

/* Activations and scratch for batches of up to n_batch tokens. */
typedef struct rz_forward_buffers {
    uint32_t n_batch;
    int n_threads;
    float *x, *xb, *q, *k, *v, *att, *gate, *up; /* [n_batch][width] */
    float *logits;                               /* [n_batch][n_vocab] */
    void *work;                                  /* activation conversion for mat-muls */
    float *scores;                               /* [n_threads][n_ctx] */
    char *q_conv;                                /* [n_threads][q_conv_stride] */
    uint64_t q_conv_stride;
    float *v_row; /* [n_threads][head_dim] */
    float *rope_cos, *rope_sin; /* [n_batch][n_rot / 2] */
} rz_forward_buffers;

rz_status rz_forward_buffers_init(rz_forward_buffers *b, const rz_model *model, const rz_kv_cache *cache,
                                  uint32_t n_batch, int n_threads);
void rz_forward_buffers_free(rz_forward_buffers *b);

/* Runs tokens at positions pos0.. through the model, writing K/V into the
 * cache; logits of the flagged tokens (NULL: the last one) are stored in
 * b->logits in order, their count in *n_logits. Callers check bounds. */
void rz_llama_forward(const rz_model *model, rz_kv_cache *cache, rz_forward_buffers *b, rz_threadpool *pool,
                      const int32_t *tokens, uint32_t n_tokens, uint32_t pos0, const bool *want_logits,
                      uint32_t *n_logits);

#endif
