/* What recurrent layers (src/model/arch/rwkv.c, mamba.c) share: their
 * scratch, token shift, batched mat-muls and the walk over each
 * sequence's tokens in order. The tokens of one sequence are consecutive
 * in a pass. */
#ifndef RZ_MODEL_REC_BLOCKS_H
#define RZ_MODEL_REC_BLOCKS_H

#include "model/arch.h"

/* Consecutive regions of b->rec_scratch, each [n_batch][width]. */
typedef struct rz_rec_scratch {
    float *next;
    uint32_t n_batch;
} rz_rec_scratch;

static inline rz_rec_scratch rz_rec_scratch_begin(const rz_graph *g) {
    return (rz_rec_scratch){g->b->rec_scratch, g->b->n_batch};
}
static inline float *rz_rec_take(rz_rec_scratch *s, int64_t width) {
    float *p = s->next;
    s->next += (uint64_t)width * s->n_batch;
    return p;
}

static inline bool rz_rec_first(const rz_graph *g, uint32_t t) {
    return t == 0 || g->b->token_seq[t] != g->b->token_seq[t - 1];
}
static inline bool rz_rec_last(const rz_graph *g, uint32_t t) {
    return t + 1 == g->n_tokens || g->b->token_seq[t + 1] != g->b->token_seq[t];
}
/* Token t's sequence's state of layer l. */
static inline float *rz_rec_state_of(const rz_graph *g, uint32_t t, int32_t l) {
    return rz_rec_layer(g->seqs[g->b->token_seq[t]].mem, l);
}

/* The pool for a layer's parallel region of `work` multiply-adds over
 * recurrent states: none (run inline) below a few microseconds' worth, as
 * when decoding small models, where waking and waiting for the other
 * threads costs more than they save. */
static inline rz_threadpool *rz_rec_pool(const rz_graph *g, uint64_t work) {
    return work < 1u << 15 ? NULL : g->pool;
}

/* y = w x for every token of the pass (rows of the given strides). */
void rz_rec_matmul(rz_graph *g, const rz_tensor *w, const float *x, int64_t x_stride, float *y,
                   int64_t y_stride);

/* RWKV's token shift: sx[t] = x[t-1] - x[t] (n_embd wide), where the
 * first token of a sequence takes x[t-1] from `shift` at offset `at` of
 * its state, and the state keeps each sequence's last row. */
void rz_rec_token_shift(rz_graph *g, float *sx, const float *x, int32_t l, int64_t at);

#endif
