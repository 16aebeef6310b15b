/* A model's vocabulary and its tokenizers: SentencePiece BPE ("llama"),
 * byte-level BPE with a regex pre-tokenizer ("gpt2"), WordPiece ("bert")
 * and RWKV's greedy "world" tokenizer ("rwkv").
 * Built from plain arrays so that it does not care whether they came from
 * GGUF metadata or a llama2.c file. */
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
    RZ_VOCAB_SPM,  /* SentencePiece BPE with scores ("llama") */
    RZ_VOCAB_BPE,  /* byte-level BPE with ranked merges ("gpt2") */
    RZ_VOCAB_WPM,  /* WordPiece with BERT normalization ("bert") */
    RZ_VOCAB_RWKV, /* RWKV world: longest match over bytes, pieces escaped ("rwkv") */
} rz_vocab_kind;

/* A boolean setting that may be left to the tokenizer's default. */
typedef enum rz_vocab_flag { RZ_FLAG_DEFAULT = -1, RZ_FLAG_OFF = 0, RZ_FLAG_ON = 1 } rz_vocab_flag;

typedef struct rz_vocab_spec {
    rz_vocab_kind kind;
    uint32_t n_tokens;
    const rz_str *pieces; /* in the file's form ("▁" for spaces, "<0x0A>" bytes, "Ġ" byte-level) */
    const float *scores;  /* may be NULL */
    const int32_t *types; /* rz_token_type per token; may be NULL (all normal) */
    const rz_str *merges; /* BPE: "left right" pairs, best first */
    uint32_t n_merges;
    rz_str pre;            /* BPE pre-tokenizer (tokenizer.ggml.pre); empty = "default" */
    int32_t bos, eos, unk; /* -1 if none (WordPiece: CLS and SEP) */
    rz_vocab_flag add_bos, add_eos, add_space_prefix;
} rz_vocab_spec;

typedef struct rz_bpe_pre rz_bpe_pre; /* compiled pre-tokenizer (bpe.c) */

/* Open-addressing index of byte strings stored in a blob, by id. */
typedef struct rz_str_index {
    uint64_t *slots; /* high 32 bits of the string's hash, then its id; UINT64_MAX = empty */
    uint32_t mask;
} rz_str_index;

/* Trie of byte strings. Node 0 is the root; edges live in one hash table
 * keyed by (parent, byte), so a node costs the same whatever its fan-out. */
typedef struct rz_byte_trie {
    uint64_t *edges; /* (parent * 256 + byte + 1) << 28 | child; 0 = empty slot */
    uint32_t edge_mask;
    int32_t *node_token; /* token whose string ends at the node, or -1 */
    uint32_t n_nodes;
} rz_byte_trie;

typedef struct rz_vocab {
    rz_vocab_kind kind;
    uint32_t n_tokens;
    char *blob;         /* all pieces, decoded texts and BPE keys */
    uint64_t *piece_at; /* offsets into blob */
    uint32_t *piece_len;
    uint64_t *text_at; /* decoded text: what the token stands for in the output (control -> "") */
    uint32_t *text_len;
    float *scores;
    uint8_t *types;
    rz_str_index piece_index;
    uint32_t max_piece_len;
    int32_t byte_token[256]; /* token of each single byte, or -1 */
    int32_t *special;        /* control/user-defined/unknown tokens, longest first */
    uint32_t n_special;
    int32_t bos, eos, unk;
    bool add_bos, add_eos, add_space_prefix;
    bool spm_words_apart; /* SentencePiece: no piece has a U+2581 after anything but U+2581 */
    /* Byte-level BPE: tokens and merges by their raw bytes (GPT-2's byte
     * alphabet undone), so the tokenizer works on the input bytes directly. */
    uint64_t *key_at;
    uint32_t *key_len;
    rz_str_index key_index;
    char *merge_blob; /* left then right bytes of each merge */
    uint64_t *merge_at;
    uint32_t *merge_left_len, *merge_right_len;
    uint32_t n_merges;
    rz_str_index merge_index; /* hashed by the (left, right) pair */
    rz_bpe_pre *pre;
    rz_byte_trie trie; /* RWKV: the tokens' texts */
} rz_vocab;

rz_status rz_vocab_init(rz_vocab *vocab, const rz_vocab_spec *spec);
void rz_vocab_free(rz_vocab *vocab);

/* Id of a piece (file form), or -1. */
int32_t rz_vocab_find(const rz_vocab *vocab, const char *piece, size_t len);

static inline const char *rz_vocab_piece(const rz_vocab *v, int32_t id) { return v->blob + v->piece_at[id]; }
static inline const char *rz_vocab_text(const rz_vocab *v, int32_t id) { return v->blob + v->text_at[id]; }

/* Tokenize; *n_out is the full count even when it exceeds cap (RZ_ERR_RANGE).
 * Control and unknown-token texts in the input become their tokens only with
 * parse_special; user-defined tokens always do (as llama.cpp and Hugging
 * Face tokenizers treat added tokens). */
rz_status rz_vocab_tokenize(const rz_vocab *vocab, const char *text, size_t len, bool add_special,
                            bool parse_special, int32_t *out, size_t cap, size_t *n_out);

#endif
