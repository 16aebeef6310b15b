/* Pieces shared by the tokenizers in this folder. */
#ifndef RZ_TOKENIZER_INTERNAL_H
#define RZ_TOKENIZER_INTERNAL_H

#include "base/hash.h"
#include "tokenizer/vocab.h"

/* U+2581, SentencePiece's visible space (also BERT's word-start marker in GGUF). */
#define RZ_SPM_SPACE     "\xe2\x96\x81"
#define RZ_SPM_SPACE_LEN 3

/* Index slots keep the top half of the hash beside the id, so that most
 * probes of other strings are rejected without touching them. */
#define RZ_SLOT_EMPTY UINT64_MAX
static inline uint64_t rz_slot_make(uint64_t hash, uint32_t id) {
    return (hash & ~(uint64_t)UINT32_MAX) | id;
}
static inline bool rz_slot_tagged(uint64_t slot, uint64_t hash) { return (slot ^ hash) >> 32 == 0; }

/* Index for n entries (load factor <= 1/2). */
rz_status rz_str_index_alloc(rz_str_index *ix, uint32_t n);
void rz_str_index_free(rz_str_index *ix);
/* Entry id whose string (blob + at[id], len[id]) equals key, or -1. */
int32_t rz_str_index_find(const rz_str_index *ix, const char *blob, const uint64_t *at, const uint32_t *len,
                          const char *key, size_t key_len);
/* Adds id unless an equal string is already there (the first id wins). */
void rz_str_index_add(rz_str_index *ix, const char *blob, const uint64_t *at, const uint32_t *len,
                      uint32_t id);

static inline int rz_hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* ------------------------------------------------------------- output */

typedef struct rz_token_sink {
    int32_t *out;
    size_t cap;
    size_t n;
} rz_token_sink;

static inline void rz_sink_push(rz_token_sink *s, int32_t id) {
    if (s->n < s->cap) s->out[s->n] = id;
    s->n++;
}

/* ---------------------------------------------------- scratch buffers */

typedef struct rz_merge_symbol {
    uint32_t start, len;
    int32_t prev, next;
} rz_merge_symbol;

typedef struct rz_merge_pair {
    float score;
    int32_t left;
    uint32_t len; /* combined length when pushed: a stale entry no longer matches */
} rz_merge_pair;

/* Per-call scratch, grown as needed and reused across the words of a text. */
typedef struct rz_tok_work {
    char *text; /* normalized text of the current piece */
    size_t text_cap;
    rz_merge_symbol *symbols;
    size_t symbols_cap;
    rz_merge_pair *heap;
    size_t heap_cap, heap_len;
    uint32_t *spans; /* pre-tokenizer word boundaries: (start, len) pairs */
    size_t spans_cap;
    uint32_t *spans2;
    size_t spans2_cap;
    void *match_data; /* PCRE2 match data (bpe.c) */
} rz_tok_work;

/* Makes *buf hold at least n elements of size elem; RZ_ERR_NOMEM otherwise. */
rz_status rz_tok_reserve(void **buf, size_t *cap, size_t n, size_t elem);
void rz_tok_work_free(rz_tok_work *w);

/* Length of the UTF-8 character at s (avail bytes): its lead byte's count
 * if that many continuation bytes follow, else 1, so that a stray byte is a
 * character of its own and never swallows the valid text after it. */
static inline size_t rz_utf8_len(const char *s, size_t avail) {
    const unsigned char c = (unsigned char)s[0];
    const size_t n = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf8 ? 4 : 1;
    if (n > avail) return 1;
    for (size_t i = 1; i < n; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80) return 1;
    return n;
}

/* ------------------------------------------------------ BPE merging */

/* Score of merging the adjacent symbols text[0, left_len) and
 * text[left_len, left_len + right_len); false if they do not merge. */
typedef bool (*rz_pair_score_fn)(const rz_vocab *v, const char *text, uint32_t left_len, uint32_t right_len,
                                 float *score);

/* Splits text (len bytes) into symbols (single bytes, or UTF-8 characters
 * when utf8 is set), then merges the best-scoring adjacent pair (ties:
 * leftmost) until no pair merges. The result is the chain from symbol 0
 * through .next in w->symbols, with starts relative to text; *n_symbols is
 * 0 for empty text. */
rz_status rz_merge_symbols(const rz_vocab *v, rz_tok_work *w, const char *text, uint32_t len, bool utf8,
                           rz_pair_score_fn score, int32_t *n_symbols);

/* ------------------------------------------------- the four tokenizers */

/* Raw text with no special tokens in it. */
rz_status rz_spm_tokenize(const rz_vocab *v, rz_tok_work *w, const char *text, size_t len, bool space_prefix,
                          rz_token_sink *sink);
rz_status rz_bpe_tokenize(const rz_vocab *v, rz_tok_work *w, const char *text, size_t len,
                          rz_token_sink *sink);
rz_status rz_wpm_tokenize(const rz_vocab *v, rz_tok_work *w, const char *text, size_t len,
                          rz_token_sink *sink);
void rz_rwkv_tokenize(const rz_vocab *v, const char *text, size_t len, rz_token_sink *sink);

/* Byte-level BPE setup: keys, merges and the pre-tokenizer named in spec. */
rz_status rz_bpe_init(rz_vocab *v, const rz_vocab_spec *spec, bool *pre_adds_bos);
void rz_bpe_free(rz_vocab *v);
/* GPT-2's byte-level alphabet undone: each code point of the alphabet becomes
 * its byte, anything else keeps its UTF-8. dst needs piece_len bytes. */
uint32_t rz_bpe_decode(const char *piece, uint32_t piece_len, char *dst);
void rz_bpe_match_data_free(void *match_data);

/* RWKV: a piece's escapes (\t \n \r \xNN, backslash before anything else
 * for that byte) undone into dst (piece_len bytes); RZ_ERR_FORMAT for a
 * dangling backslash or a bad \x. */
rz_status rz_rwkv_unescape(const char *piece, uint32_t piece_len, char *dst, uint32_t *len);
/* RWKV setup: the trie of the token texts (decoded already). */
rz_status rz_rwkv_init(rz_vocab *v);
void rz_rwkv_free(rz_vocab *v);

#endif
