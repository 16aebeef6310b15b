/* The forward pass over a batch of tokens: token embedding, the
 * architecture's layers (src/model/arch/) built from shared blocks
 * (src/model/blocks.h), final norm and output head. */
#ifndef RZ_MODEL_GRAPH_H
#define RZ_MODEL_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "base/threadpool.h"
#include "kernels/attention.h"
#include "kernels/matmul.h"
#include "model/seq_memory.h"
#include "model/model.h"

/* Activations and scratch for batches of up to n_batch tokens. */
typedef struct rz_forward_buffers {
    uint32_t n_batch;
    uint32_t max_ctx; /* longest cache the score buffers can attend over */
    int n_threads;
    uint32_t *token_seq, *token_pos; /* [n_batch]: sequence and position of each token */
    float *x, *xb;                   /* [n_batch][n_embd]: residual stream, block input/output */
    float *q, *att;                  /* [n_batch][q_dim] */
    float *k, *v;                    /* [n_batch][kv_dim] */
    float *gate, *up;                /* [n_batch][largest FFN width] */
    float *logits;                   /* [n_batch][n_vocab] */
    void *work;                      /* activation conversion for mat-muls */
    float *scores;                   /* [n_threads][n_ctx] */
    char *q_conv;                    /* [n_threads][q_conv_stride] */
    uint64_t q_conv_stride;
    uint32_t *attn_blocks; /* [n_batch + 1]: first token of each block of prompt attention */
    char *attn_scratch;    /* [n_threads][attn_scratch_stride] */
    uint64_t attn_scratch_stride;
    float *rope_cos[RZ_MAX_ROPE_SETS], *rope_sin[RZ_MAX_ROPE_SETS]; /* [n_batch][n_rot / 2] */
    /* Mixture of experts: router outputs, each token's chosen experts and
     * weights, and the tokens of one expert gathered together. */
    float *router;                   /* [n_batch][n_expert] */
    int32_t *moe_ids;                /* [n_batch][n_expert_used] */
    float *moe_weights;              /* [n_batch][n_expert_used] */
    uint32_t *moe_tokens, *moe_slot; /* [n_batch * n_expert_used]: a gathered row's token and choice slot */
    float *moe_x, *moe_out;          /* [n_batch * n_expert_used][n_embd]: rows in and out of the experts */
    rz_matmul_out *moe_gate_up, *moe_down; /* [2 * n_expert], [n_expert]: the products of one pass */
    const rz_tensor *moe_first_down[3];
    float *rec_scratch; /* [n_batch][rec.scratch_floats]: recurrent layers' working space */
} rz_forward_buffers;

rz_status rz_forward_buffers_init(rz_forward_buffers *b, const rz_model *model, const rz_seq_memory *mem,
                                  uint32_t n_batch, int n_threads);
void rz_forward_buffers_free(rz_forward_buffers *b);

/* A run of tokens of one sequence, at positions pos0.. of its own memory. */
typedef struct rz_sequence_batch {
    rz_seq_memory *mem;
    const int32_t *tokens;
    uint32_t n_tokens;
    uint32_t pos0;
} rz_sequence_batch;

/* One pass in flight: what the blocks of a layer work on. */
struct rz_graph {
    const rz_model *m;
    const rz_sequence_batch *seqs;
    rz_forward_buffers *b;
    rz_threadpool *pool;
    rz_attn_kernels kern;
    uint32_t n_tokens;
    uint32_t n_blocks; /* blocks of prompt attention (0: one token per sequence) */
};

/* Runs the tokens of all sequences through the model in one pass: the
 * weight mat-muls see every token, attention stays within each sequence's
 * cache. Logits of the flagged tokens (flags over all tokens in order) are
 * stored in b->logits in order, their count in *n_logits. Callers check
 * that the tokens fit b->n_batch, the caches and b->max_ctx. */
void rz_model_forward(const rz_model *model, const rz_sequence_batch *seqs, uint32_t n_seqs,
                      rz_forward_buffers *b, rz_threadpool *pool, const bool *want_logits,
                      uint32_t *n_logits);

/* The same pass without the output head, for embeddings: leaves every
 * token's output vector in b->x (n_embd floats each, tokens in order): its
 * final-norm hidden state, or an encoder's last layer output. */
void rz_model_forward_hidden(const rz_model *model, const rz_sequence_batch *seqs, uint32_t n_seqs,
                             rz_forward_buffers *b, rz_threadpool *pool);

#endif
