/* A model's vocabulary and its tokenizers. Built from plain arrays so that
 * it does not care whether they came from GGUF metadata or a llama2.c file. */
#ifndef RZ_TOKENIZER_VOCAB_H
#define RZ_TOKENIZER_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ryzanstein.h"

/* GGUF tokenizer.ggml.token_type values. */
typedef enum rz_token_type {
    RZ_TOKEN_UNDEFINED = 0,
    RZ_TOKEN_NORMAL = 1,
    RZ_TOKEN_UNKNOWN = 2,
    RZ_TOKEN_CONTROL = 3,
    RZ_TOKEN_USER_DEFINED = 4,
    RZ_TOKEN_UNUSED = 5,
    RZ_TOKEN_BYTE = 6,
} rz_token_type;

typedef enum rz_vocab_kind {
    RZ_VOCAB_SPM, /* SentencePiece BPE with scores ("llama") */
} rz_vocab_kind;

typedef struct rz_vocab_spec {
    rz_vocab_kind kind;
    uint32_t n_tokens;
    const rz_str *pieces;  /* in the file's form ("▁" for spaces, "<0x0A>" bytes) */
    const float *scores;   /* may be NULL */
    const int32_t *types;  /* rz_token_type per token; may be NULL (all normal) */
    int32_t bos, eos, unk; /* -1 if none */
    bool add_bos, add_eos;
    bool add_space_prefix;
} rz_vocab_spec;

typedef struct rz_vocab {
    rz_vocab_kind kind;
    uint32_t n_tokens;
    char *blob;         /* all pieces, then all decoded texts */
    uint64_t *piece_at; /* offsets into blob */
    uint32_t *piece_len;
    uint64_t *text_at; /* decoded text: "▁" -> " ", byte tokens -> their byte, control -> "" */
    uint32_t *text_len;
    float *scores;
    uint8_t *types;
    uint32_t *hash; /* open addressing over pieces, UINT32_MAX = empty */
    uint32_t hash_mask;
    int32_t byte_token[256];
    int32_t *special; /* control/user-defined tokens, longest first */
    uint32_t n_special;
    int32_t bos, eos, unk;
    bool add_bos, add_eos, add_space_prefix;
} rz_vocab;

rz_status rz_vocab_init(rz_vocab *vocab, const rz_vocab_spec *spec);
void rz_vocab_free(rz_vocab *vocab);

/* Id of a piece (file form), or -1. */
int32_t rz_vocab_find(const rz_vocab *vocab, const char *piece, size_t len);

static inline const char *rz_vocab_piece(const rz_vocab *v, int32_t id) { return v->blob + v->piece_at[id]; }
static inline const char *rz_vocab_text(const rz_vocab *v, int32_t id) { return v->blob + v->text_at[id]; }

/* Tokenize; *n_out is the full count even when it exceeds cap (RZ_ERR_RANGE). */
rz_status rz_vocab_tokenize(const rz_vocab *vocab, const char *text, size_t len, bool add_special,
                            bool parse_special, int32_t *out, size_t cap, size_t *n_out);

#endif
