/* The BPE merge loop shared by SentencePiece BPE (pair score = score of the
 * merged piece) and byte-level BPE (pair score = minus the merge's rank):
 * a priority queue of adjacent pairs, best first, with stale entries
 * recognised by their length and skipped. */
#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"

/* Higher score first; on ties the leftmost pair. */
static bool pair_before(const rz_merge_pair *a, const rz_merge_pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(rz_tok_work *w, rz_merge_pair item) {
    size_t i = w->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&item, &w->heap[parent])) break;
        w->heap[i] = w->heap[parent];
        i = parent;
    }
    w->heap[i] = item;
}

static rz_merge_pair heap_pop(rz_tok_work *w) {
    rz_merge_pair top = w->heap[0];
    rz_merge_pair last = w->heap[--w->heap_len];
    size_t i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= w->heap_len) break;
        if (child + 1 < w->heap_len && pair_before(&w->heap[child + 1], &w->heap[child])) child++;
        if (!pair_before(&w->heap[child], &last)) break;
        w->heap[i] = w->heap[child];
        i = child;
    }
    if (w->heap_len > 0) w->heap[i] = last;
    return top;
}

static void try_pair(const rz_vocab *v, rz_tok_work *w, const char *text, rz_pair_score_fn score,
                     int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const rz_merge_symbol *a = &w->symbols[left], *b = &w->symbols[right];
    float s;
    if (!score(v, text + a->start, a->len, b->len, &s)) return;
    heap_push(w, (rz_merge_pair){.score = s, .left = left, .len = a->len + b->len});
}

rz_status rz_merge_symbols(const rz_vocab *v, rz_tok_work *w, const char *text, uint32_t len, bool utf8,
                           rz_pair_score_fn score, int32_t *n_symbols) {
    /* Each merge removes a symbol and pushes at most two pairs, so the heap
     * never holds more than 3 * len entries. */
    RZ_TRY(rz_tok_reserve((void **)&w->symbols, &w->symbols_cap, (size_t)len + 1, sizeof *w->symbols));
    RZ_TRY(rz_tok_reserve((void **)&w->heap, &w->heap_cap, 3 * (size_t)len + 1, sizeof *w->heap));
    rz_merge_symbol *sym = w->symbols;
    int32_t n = 0;
    for (uint32_t i = 0; i < len;) {
        const uint32_t cl = utf8 ? (uint32_t)rz_utf8_len(text + i, len - i) : 1;
        sym[n] = (rz_merge_symbol){.start = i, .len = cl, .prev = n - 1, .next = i + cl < len ? n + 1 : -1};
        n++;
        i += cl;
    }
    w->heap_len = 0;
    for (int32_t i = 0; i + 1 < n; i++)
        try_pair(v, w, text, score, i, i + 1);
    while (w->heap_len > 0) {
        rz_merge_pair top = heap_pop(w);
        rz_merge_symbol *left = &sym[top.left];
        if (left->len == 0 || left->next < 0) continue;
        rz_merge_symbol *right = &sym[left->next];
        /* Lengths only grow, so an unchanged sum means an unchanged pair. */
        if (left->len + right->len != top.len) continue;
        left->len += right->len;
        right->len = 0;
        left->next = right->next;
        if (right->next >= 0) sym[right->next].prev = top.left;
        try_pair(v, w, text, score, left->prev, top.left);
        try_pair(v, w, text, score, top.left, left->next);
    }
    *n_symbols = n;
    return RZ_OK;
}
