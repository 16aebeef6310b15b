#include "tokenizer/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"

static const char SPM_SPACE[] = "\xe2\x96\x81"; /* U+2581, SentencePiece's visible space */

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int32_t rz_vocab_find(const rz_vocab *v, const char *piece, size_t len) {
    for (uint64_t slot = hash_bytes(piece, len) & v->hash_mask;; slot = (slot + 1) & v->hash_mask) {
        uint32_t id = v->hash[slot];
        if (id == UINT32_MAX) return -1;
        if (v->piece_len[id] == len && memcmp(rz_vocab_piece(v, (int32_t)id), piece, len) == 0) return (int32_t)id;
    }
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xNN>" -> NN, or -1. */
static int byte_piece_value(const char *p, size_t len) {
    if (len != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>') return -1;
    int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/* Decoded text of a piece: written to dst (capacity >= len), returns length. */
static uint32_t decode_piece(const rz_vocab_spec *spec, uint32_t id, char *dst) {
    const rz_str piece = spec->pieces[id];
    const int type = spec->types ? spec->types[id] : RZ_TOKEN_NORMAL;
    if (type == RZ_TOKEN_CONTROL) return 0;
    if (type == RZ_TOKEN_BYTE) {
        int b = byte_piece_value(piece.ptr, piece.len);
        if (b >= 0) {
            dst[0] = (char)b;
            return 1;
        }
    }
    uint32_t n = 0;
    for (uint64_t i = 0; i < piece.len;) {
        if (i + 3 <= piece.len && memcmp(piece.ptr + i, SPM_SPACE, 3) == 0) {
            dst[n++] = ' ';
            i += 3;
        } else {
            dst[n++] = piece.ptr[i++];
        }
    }
    return n;
}

static int compare_special_longest_first(const void *a, const void *b, void *v) {
    const rz_vocab *vocab = v;
    uint32_t la = vocab->piece_len[*(const int32_t *)a], lb = vocab->piece_len[*(const int32_t *)b];
    return la < lb ? 1 : la > lb ? -1 : 0;
}

rz_status rz_vocab_init(rz_vocab *v, const rz_vocab_spec *spec) {
    memset(v, 0, sizeof *v);
    if (spec->n_tokens == 0) return rz_error(RZ_ERR_FORMAT, "vocabulary is empty");
    const uint32_t n = spec->n_tokens;
    uint64_t blob_bytes = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (spec->pieces[i].len > UINT32_MAX / 2)
            return rz_error(RZ_ERR_FORMAT, "vocabulary: token %u is %llu bytes long", i,
                            (unsigned long long)spec->pieces[i].len);
        blob_bytes += 2 * spec->pieces[i].len + 2;
    }
    const int32_t ids[3] = {spec->bos, spec->eos, spec->unk};
    for (int i = 0; i < 3; i++)
        if (ids[i] < -1 || ids[i] >= (int32_t)n)
            return rz_error(RZ_ERR_FORMAT, "vocabulary: special token id %d is outside [0, %u)", ids[i], n);

    uint32_t hash_size = 1;
    while (hash_size < 2 * n) hash_size <<= 1;
    v->kind = spec->kind;
    v->n_tokens = n;
    v->blob = malloc(blob_bytes);
    v->piece_at = malloc(n * sizeof *v->piece_at);
    v->piece_len = malloc(n * sizeof *v->piece_len);
    v->text_at = malloc(n * sizeof *v->text_at);
    v->text_len = malloc(n * sizeof *v->text_len);
    v->scores = malloc(n * sizeof *v->scores);
    v->types = malloc(n);
    v->hash = malloc(hash_size * sizeof *v->hash);
    v->special = malloc(n * sizeof *v->special);
    if (!v->blob || !v->piece_at || !v->piece_len || !v->text_at || !v->text_len || !v->scores || !v->types ||
        !v->hash || !v->special) {
        rz_vocab_free(v);
        return rz_error(RZ_ERR_NOMEM, "out of memory building a vocabulary of %u tokens", n);
    }
    v->hash_mask = hash_size - 1;
    memset(v->hash, 0xff, hash_size * sizeof *v->hash);
    for (int b = 0; b < 256; b++) v->byte_token[b] = -1;

    uint64_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        const rz_str piece = spec->pieces[i];
        memcpy(v->blob + at, piece.ptr, piece.len);
        v->blob[at + piece.len] = '\0';
        v->piece_at[i] = at;
        v->piece_len[i] = (uint32_t)piece.len;
        at += piece.len + 1;
        v->scores[i] = spec->scores ? spec->scores[i] : 0.0f;
        int type = spec->types ? spec->types[i] : RZ_TOKEN_NORMAL;
        v->types[i] = (uint8_t)(type >= 0 && type <= RZ_TOKEN_BYTE ? type : RZ_TOKEN_UNDEFINED);
        if (type == RZ_TOKEN_BYTE) {
            int b = byte_piece_value(piece.ptr, piece.len);
            if (b >= 0) v->byte_token[b] = (int32_t)i;
        }
        if (type == RZ_TOKEN_CONTROL || type == RZ_TOKEN_USER_DEFINED) {
            if (piece.len > 0) v->special[v->n_special++] = (int32_t)i;
        }
        /* Later duplicates of a piece keep the first id (as SentencePiece). */
        if (rz_vocab_find(v, piece.ptr, piece.len) < 0) {
            uint64_t slot = hash_bytes(piece.ptr, piece.len) & v->hash_mask;
            while (v->hash[slot] != UINT32_MAX) slot = (slot + 1) & v->hash_mask;
            v->hash[slot] = i;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        v->text_at[i] = at;
        v->text_len[i] = decode_piece(spec, i, v->blob + at);
        v->blob[at + v->text_len[i]] = '\0';
        at += v->text_len[i] + 1;
    }
    qsort_r(v->special, v->n_special, sizeof *v->special, compare_special_longest_first, v);
    v->bos = spec->bos;
    v->eos = spec->eos;
    v->unk = spec->unk;
    v->add_bos = spec->add_bos;
    v->add_eos = spec->add_eos;
    v->add_space_prefix = spec->add_space_prefix;
    return RZ_OK;
}

void rz_vocab_free(rz_vocab *v) {
    free(v->blob);
    free(v->piece_at);
    free(v->piece_len);
    free(v->text_at);
    free(v->text_len);
    free(v->scores);
    free(v->types);
    free(v->hash);
    free(v->special);
    memset(v, 0, sizeof *v);
}

/* ------------------------------------------------------------ output sink */

typedef struct token_sink {
    int32_t *out;
    size_t cap;
    size_t n;
} token_sink;

static void sink_push(token_sink *s, int32_t id) {
    if (s->n < s->cap) s->out[s->n] = id;
    s->n++;
}

/* --------------------------------------------------- SentencePiece BPE */

typedef struct spm_symbol {
    uint32_t start, len;
    int32_t prev, next;
} spm_symbol;

typedef struct spm_bigram {
    float score;
    int32_t left;
    uint32_t len; /* combined length when pushed: stale entries no longer match */
} spm_bigram;

typedef struct spm_state {
    const rz_vocab *vocab;
    const char *text;
    spm_symbol *symbols;
    spm_bigram *heap;
    size_t heap_len;
} spm_state;

/* Higher score first; on ties the leftmost pair. */
static bool bigram_before(const spm_bigram *a, const spm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm_state *st, spm_bigram item) {
    size_t i = st->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bigram_before(&item, &st->heap[parent])) break;
        st->heap[i] = st->heap[parent];
        i = parent;
    }
    st->heap[i] = item;
}

static spm_bigram heap_pop(spm_state *st) {
    spm_bigram top = st->heap[0];
    spm_bigram last = st->heap[--st->heap_len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= st->heap_len) break;
        if (child + 1 < st->heap_len && bigram_before(&st->heap[child + 1], &st->heap[child])) child++;
        if (!bigram_before(&st->heap[child], &last)) break;
        st->heap[i] = st->heap[child];
        i = child;
    }
    if (st->heap_len > 0) st->heap[i] = last;
    return top;
}

static void try_bigram(spm_state *st, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const spm_symbol *a = &st->symbols[left], *b = &st->symbols[right];
    int32_t id = rz_vocab_find(st->vocab, st->text + a->start, a->len + b->len);
    if (id < 0) return;
    heap_push(st, (spm_bigram){.score = st->vocab->scores[id], .left = left, .len = a->len + b->len});
}

static size_t utf8_char_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) return 2;
    if ((c & 0xf0) == 0xe0) return 3;
    if ((c & 0xf8) == 0xf0) return 4;
    return 1; /* stray continuation or invalid byte: a symbol of its own */
}

static rz_status spm_tokenize_fragment(const rz_vocab *v, const char *text, size_t len, bool space_prefix,
                                       token_sink *sink) {
    /* Normalize: optional leading space, then every ' ' becomes U+2581. */
    size_t n_spaces = space_prefix ? 1 : 0;
    for (size_t i = 0; i < len; i++) n_spaces += text[i] == ' ';
    size_t norm_len = len + (space_prefix ? 1 : 0) + 2 * n_spaces;
    if (norm_len > UINT32_MAX) return rz_error(RZ_ERR_RANGE, "tokenize: text of %zu bytes is too long", len);
    char *norm = malloc(norm_len + 1);
    spm_symbol *symbols = malloc((norm_len + 1) * sizeof *symbols);
    spm_bigram *heap = malloc((2 * norm_len + 1) * sizeof *heap);
    if (!norm || !symbols || !heap) {
        free(norm);
        free(symbols);
        free(heap);
        return rz_error(RZ_ERR_NOMEM, "tokenize: out of memory for %zu bytes of text", len);
    }
    size_t w = 0;
    if (space_prefix) {
        memcpy(norm, SPM_SPACE, 3);
        w = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(norm + w, SPM_SPACE, 3);
            w += 3;
        } else {
            norm[w++] = text[i];
        }
    }
    int32_t n_symbols = 0;
    for (size_t i = 0; i < w;) {
        size_t cl = utf8_char_len((unsigned char)norm[i]);
        if (i + cl > w) cl = w - i;
        symbols[n_symbols] = (spm_symbol){.start = (uint32_t)i, .len = (uint32_t)cl, .prev = n_symbols - 1,
                                          .next = i + cl < w ? n_symbols + 1 : -1};
        n_symbols++;
        i += cl;
    }
    spm_state st = {.vocab = v, .text = norm, .symbols = symbols, .heap = heap};
    for (int32_t i = 0; i + 1 < n_symbols; i++) try_bigram(&st, i, i + 1);
    while (st.heap_len > 0) {
        spm_bigram top = heap_pop(&st);
        spm_symbol *left = &symbols[top.left];
        if (left->len == 0 || left->next < 0) continue;
        spm_symbol *right = &symbols[left->next];
        if (left->len + right->len != top.len) continue;
        left->len += right->len;
        right->len = 0;
        left->next = right->next;
        if (right->next >= 0) symbols[right->next].prev = top.left;
        try_bigram(&st, left->prev, top.left);
        try_bigram(&st, top.left, left->next);
    }
    for (int32_t i = n_symbols > 0 ? 0 : -1; i >= 0; i = symbols[i].next) {
        const spm_symbol *s = &symbols[i];
        int32_t id = rz_vocab_find(v, norm + s->start, s->len);
        if (id >= 0) {
            sink_push(sink, id);
            continue;
        }
        for (uint32_t k = 0; k < s->len; k++) {
            int32_t byte_id = v->byte_token[(unsigned char)norm[s->start + k]];
            if (byte_id >= 0)
                sink_push(sink, byte_id);
            else if (v->unk >= 0) {
                sink_push(sink, v->unk);
                break; /* one <unk> for the whole unknown character */
            }
        }
    }
    free(norm);
    free(symbols);
    free(heap);
    return RZ_OK;
}

/* Longest special token starting at text[at], or -1. */
static int32_t match_special(const rz_vocab *v, const char *text, size_t len, size_t at) {
    for (uint32_t k = 0; k < v->n_special; k++) {
        int32_t id = v->special[k];
        uint32_t pl = v->piece_len[id];
        if (pl <= len - at && memcmp(text + at, rz_vocab_piece(v, id), pl) == 0) return id;
    }
    return -1;
}

rz_status rz_vocab_tokenize(const rz_vocab *v, const char *text, size_t len, bool add_special,
                            bool parse_special, int32_t *out, size_t cap, size_t *n_out) {
    token_sink sink = {.out = out, .cap = cap};
    if (add_special && v->add_bos && v->bos >= 0) sink_push(&sink, v->bos);
    /* Raw text runs between special tokens; a run that opens the text or
     * follows a special token gets SentencePiece's space prefix. */
    size_t run_start = 0;
    for (size_t at = 0; at <= len;) {
        int32_t special = parse_special && at < len ? match_special(v, text, len, at) : -1;
        if (special < 0 && at < len) {
            at++;
            continue;
        }
        if (at > run_start)
            RZ_TRY(spm_tokenize_fragment(v, text + run_start, at - run_start, v->add_space_prefix, &sink));
        if (special < 0) break;
        sink_push(&sink, special);
        at += v->piece_len[special];
        run_start = at;
    }
    if (add_special && v->add_eos && v->eos >= 0) sink_push(&sink, v->eos);
    *n_out = sink.n;
    if (sink.n > cap) return rz_error(RZ_ERR_RANGE, "tokenize: %zu tokens do not fit in %zu", sink.n, cap);
    return RZ_OK;
}
