/* RWKV's "world" tokenizer ("rwkv" vocabularies), as llama.cpp runs it: no
 * normalization and no pre-split, the text's bytes are cut greedily into
 * the longest token that matches at each point. Tokens are arbitrary bytes;
 * GGUF stores each as the body of Python's repr() of them (\t \n \r \\ \'
 * \xNN), undone once at load into the token's text: what it matches and
 * what it decodes to. */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"

rz_status rz_rwkv_unescape(const char *piece, uint32_t piece_len, char *dst, uint32_t *len) {
    uint32_t n = 0;
    for (uint32_t i = 0; i < piece_len; i++) {
        if (piece[i] != '\\') {
            dst[n++] = piece[i];
            continue;
        }
        if (++i == piece_len) return rz_error(RZ_ERR_FORMAT, "piece ends in a lone backslash");
        switch (piece[i]) {
        case 't': dst[n++] = '\t'; break;
        case 'n': dst[n++] = '\n'; break;
        case 'r': dst[n++] = '\r'; break;
        case 'x': {
            const int hi = i + 1 < piece_len ? rz_hex_digit(piece[i + 1]) : -1;
            const int lo = i + 2 < piece_len ? rz_hex_digit(piece[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return rz_error(RZ_ERR_FORMAT, "\\x at byte %u of the piece lacks two hex digits", i - 1);
            dst[n++] = (char)(hi * 16 + lo);
            i += 2;
            break;
        }
        default: dst[n++] = piece[i]; break; /* \\ \' \" and, as llama.cpp reads them, any other */
        }
    }
    *len = n;
    return RZ_OK;
}

/* ------------------------------------------------------------- trie */

/* An edge is one 64-bit slot, its key above its child, so that a probe
 * reads one word; an empty slot reads as child 0, "none", since the root is
 * nobody's child. */
enum { CHILD_BITS = 28 };
#define CHILD_MASK (((uint64_t)1 << CHILD_BITS) - 1)

static uint64_t edge_key(uint32_t node, unsigned char byte) { return (uint64_t)node * 256 + byte + 1; }

/* The slot holding key, or the empty slot where it would go. */
static uint32_t find_slot(const uint64_t *edges, uint32_t mask, uint64_t key) {
    uint32_t i = (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & mask;
    while (edges[i] != 0 && edges[i] >> CHILD_BITS != key)
        i = (i + 1) & mask;
    return i;
}

static uint32_t trie_child(const rz_byte_trie *t, uint32_t node, unsigned char byte) {
    return (uint32_t)(t->edges[find_slot(t->edges, t->edge_mask, edge_key(node, byte))] & CHILD_MASK);
}

/* Empty table for n edges at load <= 1/2, so that probes stay short and end. */
static uint64_t *alloc_edges(uint64_t n, uint32_t *mask) {
    uint64_t size = 2;
    while (size < 2 * n)
        size <<= 1;
    *mask = (uint32_t)(size - 1);
    return calloc((size_t)size, sizeof(uint64_t));
}

/* Control and unknown tokens only come from special-token parsing, as in
 * the other tokenizers; text never spells them. */
static bool in_trie(const rz_vocab *v, uint32_t id) {
    return v->types[id] != RZ_TOKEN_CONTROL && v->types[id] != RZ_TOKEN_UNKNOWN && v->text_len[id] > 0;
}

rz_status rz_rwkv_init(rz_vocab *v) {
    rz_byte_trie *t = &v->trie;
    /* Each text byte adds at most one node and one edge. */
    uint64_t total = 0;
    for (uint32_t i = 0; i < v->n_tokens; i++)
        if (in_trie(v, i)) total += v->text_len[i];
    if (total >= CHILD_MASK)
        return rz_error(RZ_ERR_FORMAT, "vocabulary: %llu bytes of tokens are too many for a trie",
                        (unsigned long long)total);
    t->edges = alloc_edges(total, &t->edge_mask);
    t->node_token = malloc(((size_t)total + 1) * sizeof *t->node_token);
    if (!t->edges || !t->node_token)
        return rz_error(RZ_ERR_NOMEM, "out of memory for a trie of %llu bytes", (unsigned long long)total);
    t->node_token[0] = -1;
    t->n_nodes = 1;
    for (uint32_t id = 0; id < v->n_tokens; id++) {
        if (!in_trie(v, id)) continue;
        const char *text = rz_vocab_text(v, (int32_t)id);
        uint32_t node = 0;
        for (uint32_t k = 0; k < v->text_len[id]; k++) {
            const uint64_t key = edge_key(node, (unsigned char)text[k]);
            const uint32_t i = find_slot(t->edges, t->edge_mask, key);
            if (t->edges[i] == 0) {
                t->edges[i] = key << CHILD_BITS | t->n_nodes;
                t->node_token[t->n_nodes++] = -1;
            }
            node = (uint32_t)(t->edges[i] & CHILD_MASK);
        }
        if (t->node_token[node] < 0) t->node_token[node] = (int32_t)id; /* duplicates: the first id wins */
    }
    /* Shared prefixes leave far fewer edges than bytes: a table their size
     * is smaller and kinder to the cache while tokenizing. */
    uint32_t mask;
    uint64_t *edges = alloc_edges(t->n_nodes - 1, &mask);
    if (!edges) return rz_error(RZ_ERR_NOMEM, "out of memory for a trie of %u nodes", t->n_nodes);
    for (uint32_t i = 0; i <= t->edge_mask; i++)
        if (t->edges[i]) edges[find_slot(edges, mask, t->edges[i] >> CHILD_BITS)] = t->edges[i];
    free(t->edges);
    t->edges = edges;
    t->edge_mask = mask;
    int32_t *fit = realloc(t->node_token, (size_t)t->n_nodes * sizeof *fit);
    if (fit) t->node_token = fit;
    return RZ_OK;
}

void rz_rwkv_free(rz_vocab *v) {
    free(v->trie.edges);
    free(v->trie.node_token);
    memset(&v->trie, 0, sizeof v->trie);
}

/* ---------------------------------------------------------- tokenize */

void rz_rwkv_tokenize(const rz_vocab *v, const char *text, size_t len, rz_token_sink *sink) {
    const rz_byte_trie *t = &v->trie;
    for (size_t pos = 0; pos < len;) {
        int32_t best = -1;
        size_t end = pos + 1;
        uint32_t node = 0;
        for (size_t i = pos; i < len && (node = trie_child(t, node, (unsigned char)text[i])) != 0; i++)
            if (t->node_token[node] >= 0) {
                best = t->node_token[node];
                end = i + 1;
            }
        /* No token matches here: llama.cpp emits the unknown token for the
         * byte; without one the byte is dropped, as the other tokenizers
         * drop bytes they have no token for. */
        if (best >= 0)
            rz_sink_push(sink, best);
        else if (v->unk >= 0)
            rz_sink_push(sink, v->unk);
        pos = end;
    }
}
