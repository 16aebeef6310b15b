/* Vocabulary tables (pieces, decoded texts, hash indexes, special tokens)
 * and the tokenizer entry point: special tokens are cut out of the text
 * first, then each raw fragment goes to the vocabulary's tokenizer. */
#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "tokenizer/tokenizer_internal.h"

/* ------------------------------------------------------- string index */

rz_status rz_str_index_alloc(rz_str_index *ix, uint32_t n) {
    uint32_t size = 1;
    while (size < 2 * (uint64_t)n)
        size <<= 1;
    ix->slots = malloc((size_t)size * sizeof *ix->slots);
    if (!ix->slots) return rz_error(RZ_ERR_NOMEM, "out of memory for an index of %u strings", n);
    memset(ix->slots, 0xff, (size_t)size * sizeof *ix->slots);
    ix->mask = size - 1;
    return RZ_OK;
}

void rz_str_index_free(rz_str_index *ix) {
    free(ix->slots);
    ix->slots = NULL;
}

int32_t rz_str_index_find(const rz_str_index *ix, const char *blob, const uint64_t *at, const uint32_t *len,
                          const char *key, size_t key_len) {
    const uint64_t hash = rz_hash_bytes(key, key_len);
    for (uint64_t i = hash & ix->mask;; i = (i + 1) & ix->mask) {
        const uint64_t slot = ix->slots[i];
        if (slot == RZ_SLOT_EMPTY) return -1;
        const uint32_t id = (uint32_t)slot;
        if (rz_slot_tagged(slot, hash) && len[id] == key_len && memcmp(blob + at[id], key, key_len) == 0)
            return (int32_t)id;
    }
}

void rz_str_index_add(rz_str_index *ix, const char *blob, const uint64_t *at, const uint32_t *len,
                      uint32_t id) {
    if (rz_str_index_find(ix, blob, at, len, blob + at[id], len[id]) >= 0) return;
    const uint64_t hash = rz_hash_bytes(blob + at[id], len[id]);
    uint64_t i = hash & ix->mask;
    while (ix->slots[i] != RZ_SLOT_EMPTY)
        i = (i + 1) & ix->mask;
    ix->slots[i] = rz_slot_make(hash, id);
}

int32_t rz_vocab_find(const rz_vocab *v, const char *piece, size_t len) {
    return rz_str_index_find(&v->piece_index, v->blob, v->piece_at, v->piece_len, piece, len);
}

/* ---------------------------------------------------------- scratch */

rz_status rz_tok_reserve(void **buf, size_t *cap, size_t n, size_t elem) {
    if (n <= *cap) return RZ_OK;
    size_t want = *cap ? *cap : 64;
    while (want < n)
        want *= 2;
    uint64_t bytes;
    if (rz_mul_overflow(want, elem, &bytes) || bytes > SIZE_MAX)
        return rz_error(RZ_ERR_NOMEM, "tokenize: %zu items do not fit in memory", n);
    void *grown = realloc(*buf, (size_t)bytes);
    if (!grown) return rz_error(RZ_ERR_NOMEM, "tokenize: out of memory for %zu items", n);
    *buf = grown;
    *cap = want;
    return RZ_OK;
}

void rz_tok_work_free(rz_tok_work *w) {
    free(w->text);
    free(w->symbols);
    free(w->heap);
    free(w->spans);
    free(w->spans2);
    if (w->match_data) rz_bpe_match_data_free(w->match_data);
    memset(w, 0, sizeof *w);
}

/* ------------------------------------------------------------- setup */

/* "<0xNN>" -> NN, or -1. */
static int byte_piece_value(const char *p, size_t len) {
    if (len != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return -1;
    int hi = rz_hex_digit(p[3]), lo = rz_hex_digit(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Piece with U+2581 turned back into spaces; returns the length. */
static uint32_t unescape_spaces(const char *piece, uint32_t len, char *dst) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < len;) {
        if (i + RZ_SPM_SPACE_LEN <= len && memcmp(piece + i, RZ_SPM_SPACE, RZ_SPM_SPACE_LEN) == 0) {
            dst[n++] = ' ';
            i += RZ_SPM_SPACE_LEN;
        } else {
            dst[n++] = piece[i++];
        }
    }
    return n;
}

/* What a token stands for in the output text (dst capacity >= piece length). */
static uint32_t decode_piece(const rz_vocab *v, uint32_t id, char *dst) {
    const char *piece = rz_vocab_piece(v, (int32_t)id);
    const uint32_t len = v->piece_len[id];
    switch (v->types[id]) {
    case RZ_TOKEN_CONTROL: return 0;
    case RZ_TOKEN_USER_DEFINED: memcpy(dst, piece, len); return len; /* matched raw, so output raw */
    case RZ_TOKEN_BYTE:
        if (v->kind == RZ_VOCAB_SPM && byte_piece_value(piece, len) >= 0) {
            dst[0] = (char)byte_piece_value(piece, len);
            return 1;
        }
        break;
    default: break;
    }
    return v->kind == RZ_VOCAB_BPE ? rz_bpe_decode(piece, len, dst) : unescape_spaces(piece, len, dst);
}

/* True if piece has a U+2581 that does not follow another one. */
static bool has_inner_space(const char *piece, uint32_t len) {
    const uint32_t n = RZ_SPM_SPACE_LEN;
    for (uint32_t k = 1; k + n <= len; k++)
        if (memcmp(piece + k, RZ_SPM_SPACE, n) == 0 &&
            !(k >= n && memcmp(piece + k - n, RZ_SPM_SPACE, n) == 0))
            return true;
    return false;
}

static int compare_special_longest_first(const void *a, const void *b, void *ctx) {
    const rz_vocab *v = ctx;
    const int32_t ia = *(const int32_t *)a, ib = *(const int32_t *)b;
    const uint32_t la = v->piece_len[ia], lb = v->piece_len[ib];
    if (la != lb) return la < lb ? 1 : -1;
    return ia < ib ? -1 : ia > ib;
}

static bool resolve_flag(rz_vocab_flag flag, bool fallback) {
    return flag == RZ_FLAG_DEFAULT ? fallback : flag;
}

rz_status rz_vocab_init(rz_vocab *v, const rz_vocab_spec *spec) {
    memset(v, 0, sizeof *v);
    if (spec->n_tokens == 0) return rz_error(RZ_ERR_FORMAT, "vocabulary is empty");
    if (spec->n_tokens > INT32_MAX / 2)
        return rz_error(RZ_ERR_FORMAT, "vocabulary of %u tokens is too large", spec->n_tokens);
    const uint32_t n = spec->n_tokens;
    /* Each piece is stored with its decoded text and its BPE key, neither
     * of which is longer than the piece. */
    uint64_t blob_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (spec->pieces[i].len > UINT32_MAX / 4)
            return rz_error(RZ_ERR_FORMAT, "vocabulary: token %u is %llu bytes long", i,
                            (unsigned long long)spec->pieces[i].len);
        blob_bytes += 3 * (spec->pieces[i].len + 1);
    }
    const int32_t ids[3] = {spec->bos, spec->eos, spec->unk};
    for (int i = 0; i < 3; i++)
        if (ids[i] < -1 || ids[i] >= (int32_t)n)
            return rz_error(RZ_ERR_FORMAT, "vocabulary: special token id %d is outside [0, %u)", ids[i], n);
    if (blob_bytes > SIZE_MAX) return rz_error(RZ_ERR_NOMEM, "vocabulary is too large for memory");

    v->kind = spec->kind;
    v->n_tokens = n;
    v->blob = malloc((size_t)blob_bytes);
    v->piece_at = malloc(n * sizeof *v->piece_at);
    v->piece_len = malloc(n * sizeof *v->piece_len);
    v->text_at = malloc(n * sizeof *v->text_at);
    v->text_len = malloc(n * sizeof *v->text_len);
    v->scores = malloc(n * sizeof *v->scores);
    v->types = malloc(n);
    v->special = malloc(n * sizeof *v->special);
    if (!v->blob || !v->piece_at || !v->piece_len || !v->text_at || !v->text_len || !v->scores || !v->types ||
        !v->special) {
        rz_vocab_free(v);
        return rz_error(RZ_ERR_NOMEM, "out of memory building a vocabulary of %u tokens", n);
    }
    rz_status s = rz_str_index_alloc(&v->piece_index, n);
    if (s != RZ_OK) {
        rz_vocab_free(v);
        return s;
    }
    for (int b = 0; b < 256; b++)
        v->byte_token[b] = -1;

    uint64_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        const rz_str piece = spec->pieces[i];
        memcpy(v->blob + at, piece.ptr, piece.len);
        v->blob[at + piece.len] = '\0';
        v->piece_at[i] = at;
        v->piece_len[i] = (uint32_t)piece.len;
        at += piece.len + 1;
        if (piece.len > v->max_piece_len) v->max_piece_len = (uint32_t)piece.len;
        v->scores[i] = spec->scores ? spec->scores[i] : 0.0f;
        int type = spec->types ? spec->types[i] : RZ_TOKEN_NORMAL;
        v->types[i] = (uint8_t)(type >= 0 && type <= RZ_TOKEN_BYTE ? type : RZ_TOKEN_UNDEFINED);
        if (v->kind == RZ_VOCAB_SPM && type == RZ_TOKEN_BYTE) {
            int b = byte_piece_value(piece.ptr, piece.len);
            if (b >= 0 && v->byte_token[b] < 0) v->byte_token[b] = (int32_t)i;
        }
        if ((type == RZ_TOKEN_CONTROL || type == RZ_TOKEN_USER_DEFINED || type == RZ_TOKEN_UNKNOWN) &&
            piece.len > 0)
            v->special[v->n_special++] = (int32_t)i;
        /* Later duplicates of a piece keep the first id (as SentencePiece). */
        rz_str_index_add(&v->piece_index, v->blob, v->piece_at, v->piece_len, i);
    }
    v->spm_words_apart = v->kind == RZ_VOCAB_SPM;
    for (uint32_t i = 0; i < n && v->spm_words_apart; i++)
        v->spm_words_apart = !has_inner_space(rz_vocab_piece(v, (int32_t)i), v->piece_len[i]);
    for (uint32_t i = 0; i < n; i++) {
        v->text_at[i] = at;
        /* RWKV pieces are escaped bytes, whatever their type (as llama.cpp decodes them). */
        if (v->kind == RZ_VOCAB_RWKV && v->types[i] != RZ_TOKEN_CONTROL) {
            s = rz_rwkv_unescape(rz_vocab_piece(v, (int32_t)i), v->piece_len[i], v->blob + at,
                                 &v->text_len[i]);
            if (s != RZ_OK) {
                rz_vocab_free(v);
                return rz_error_prefix(s, "vocabulary: token %u", i);
            }
        } else {
            v->text_len[i] = decode_piece(v, i, v->blob + at);
        }
        v->blob[at + v->text_len[i]] = '\0';
        at += v->text_len[i] + 1;
    }
    qsort_r(v->special, v->n_special, sizeof *v->special, compare_special_longest_first, v);
    v->bos = spec->bos;
    v->eos = spec->eos;
    v->unk = spec->unk;
    bool default_add_bos = v->kind == RZ_VOCAB_SPM || v->kind == RZ_VOCAB_WPM;
    if (v->kind == RZ_VOCAB_BPE) {
        /* Keys go after the texts in the blob (sized for them above). */
        s = rz_bpe_init(v, spec, &default_add_bos);
    } else if (v->kind == RZ_VOCAB_RWKV) {
        s = rz_rwkv_init(v);
    }
    if (s != RZ_OK) {
        rz_vocab_free(v);
        return s;
    }
    v->add_bos = resolve_flag(spec->add_bos, default_add_bos) && v->bos >= 0;
    v->add_eos = resolve_flag(spec->add_eos, v->kind == RZ_VOCAB_WPM) && v->eos >= 0;
    v->add_space_prefix = resolve_flag(spec->add_space_prefix, v->kind == RZ_VOCAB_SPM);
    return RZ_OK;
}

void rz_vocab_free(rz_vocab *v) {
    rz_bpe_free(v);
    rz_rwkv_free(v);
    free(v->blob);
    free(v->piece_at);
    free(v->piece_len);
    free(v->text_at);
    free(v->text_len);
    free(v->scores);
    free(v->types);
    free(v->special);
    rz_str_index_free(&v->piece_index);
    memset(v, 0, sizeof *v);
}

/* ---------------------------------------------------- special tokens */

/* A run of raw text, or one special token (token >= 0). */
typedef struct fragment {
    size_t start, len;
    int32_t token;
} fragment;

typedef struct fragment_list {
    fragment *items;
    size_t n, cap;
} fragment_list;

static rz_status fragments_push(fragment_list *l, size_t start, size_t len, int32_t token) {
    RZ_TRY(rz_tok_reserve((void **)&l->items, &l->cap, l->n + 1, sizeof *l->items));
    l->items[l->n++] = (fragment){.start = start, .len = len, .token = token};
    return RZ_OK;
}

/* Cuts every occurrence of each special token out of the raw fragments,
 * longest tokens first, as llama.cpp's partition does (so when two tokens
 * overlap the longer one wins, wherever it starts). */
static rz_status partition_special(const rz_vocab *v, const char *text, size_t len, bool parse_special,
                                   fragment_list *frags) {
    frags->n = 0;
    if (len > 0) RZ_TRY(fragments_push(frags, 0, len, -1));
    bool present[256] = {false};
    for (size_t i = 0; i < len; i++)
        present[(unsigned char)text[i]] = true;
    fragment_list next = {0};
    rz_status s = RZ_OK;
    for (uint32_t k = 0; k < v->n_special && s == RZ_OK; k++) {
        const int32_t id = v->special[k];
        const int type = v->types[id];
        if (!parse_special && (type == RZ_TOKEN_CONTROL || type == RZ_TOKEN_UNKNOWN)) continue;
        const char *pat = rz_vocab_piece(v, id);
        const size_t plen = v->piece_len[id];
        if (plen > len || !present[(unsigned char)pat[0]]) continue;
        next.n = 0;
        for (size_t f = 0; f < frags->n && s == RZ_OK; f++) {
            fragment fr = frags->items[f];
            while (s == RZ_OK && fr.token < 0 && fr.len >= plen) {
                const char *hit = memmem(text + fr.start, fr.len, pat, plen);
                if (!hit) break;
                const size_t at = (size_t)(hit - text);
                if (at > fr.start) s = fragments_push(&next, fr.start, at - fr.start, -1);
                if (s == RZ_OK) s = fragments_push(&next, at, plen, id);
                fr.len -= at + plen - fr.start;
                fr.start = at + plen;
            }
            if (s == RZ_OK && (fr.token >= 0 || fr.len > 0))
                s = fragments_push(&next, fr.start, fr.len, fr.token);
        }
        fragment_list swap = *frags;
        *frags = next;
        next = swap;
    }
    free(next.items);
    return s;
}

/* ---------------------------------------------------------- tokenize */

rz_status rz_vocab_tokenize(const rz_vocab *v, const char *text, size_t len, bool add_special,
                            bool parse_special, int32_t *out, size_t cap, size_t *n_out) {
    rz_token_sink sink = {.out = out, .cap = cap};
    if (add_special && v->add_bos) rz_sink_push(&sink, v->bos);
    fragment_list frags = {0};
    rz_tok_work work = {0};
    rz_status s = partition_special(v, text, len, parse_special, &frags);
    /* SentencePiece gives a space prefix to text that opens the input or
     * follows a special token. */
    bool after_special = true;
    for (size_t f = 0; f < frags.n && s == RZ_OK; f++) {
        const fragment *fr = &frags.items[f];
        if (fr->token >= 0) {
            rz_sink_push(&sink, fr->token);
            after_special = true;
            continue;
        }
        const char *raw = text + fr->start;
        switch (v->kind) {
        case RZ_VOCAB_SPM:
            s = rz_spm_tokenize(v, &work, raw, fr->len, v->add_space_prefix && after_special, &sink);
            break;
        case RZ_VOCAB_BPE: s = rz_bpe_tokenize(v, &work, raw, fr->len, &sink); break;
        case RZ_VOCAB_WPM: s = rz_wpm_tokenize(v, &work, raw, fr->len, &sink); break;
        case RZ_VOCAB_RWKV: rz_rwkv_tokenize(v, raw, fr->len, &sink); break;
        }
        after_special = false;
    }
    free(frags.items);
    rz_tok_work_free(&work);
    if (s != RZ_OK) return s;
    if (add_special && v->add_eos) rz_sink_push(&sink, v->eos);
    *n_out = sink.n;
    if (sink.n > cap) return rz_error(RZ_ERR_RANGE, "tokenize: %zu tokens do not fit in %zu", sink.n, cap);
    return RZ_OK;
}
