/* WordPiece ("bert" vocabularies) with BERT's normalization, as Hugging
 * Face's BertNormalizer + BertPreTokenizer + WordPiece do it: drop control
 * characters, split on whitespace, isolate CJK ideographs and punctuation,
 * strip accents (NFD, then no non-spacing marks), lowercase; then each word
 * is cut greedily into the longest pieces. GGUF stores word-initial pieces
 * as "▁piece" and continuations bare (BERT's "##" removed). Bytes that are
 * not valid UTF-8 are dropped like U+FFFD. */
#include <string.h>
#include <utf8proc.h>

#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"

enum {
    PREFIX_LEN = RZ_SPM_SPACE_LEN, /* "▁" in front of the word in the scratch buffer */
    MAX_WORD_CHARS = 100,          /* longer words are unknown (max_input_chars_per_word) */
    MAX_DECOMPOSITION = 16,        /* canonical decompositions are at most 4 code points */
};

static bool is_chinese(utf8proc_int32_t cp) {
    return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
           (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
           (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b920 && cp <= 0x2ceaf) ||
           (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/* Rust's char::is_whitespace (the White_Space property). */
static bool is_whitespace(utf8proc_int32_t cp) {
    return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
           cp == 0x3000;
}

static bool is_other(utf8proc_category_t c) {
    return c == UTF8PROC_CATEGORY_CC || c == UTF8PROC_CATEGORY_CF || c == UTF8PROC_CATEGORY_CS ||
           c == UTF8PROC_CATEGORY_CO || c == UTF8PROC_CATEGORY_CN;
}

/* BERT counts all ASCII symbols as punctuation too. */
static bool is_punct(utf8proc_int32_t cp) {
    if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
        (cp >= 123 && cp <= 126))
        return true;
    const utf8proc_category_t c = utf8proc_category(cp);
    return c >= UTF8PROC_CATEGORY_PC && c <= UTF8PROC_CATEGORY_PO;
}

typedef struct wpm_state {
    const rz_vocab *v;
    rz_tok_work *w;
    rz_token_sink *sink;
    uint32_t len;   /* bytes of the current word (after the prefix) */
    uint32_t chars; /* its code points */
} wpm_state;

/* Greedy longest-match-first pieces of the word; the whole word becomes
 * <unk> if some part of it has no piece. */
static void emit_word(wpm_state *st) {
    const rz_vocab *v = st->v;
    const char *buf = st->w->text;
    const uint32_t n = st->len;
    if (n == 0) return;
    st->len = 0;
    const size_t mark = st->sink->n;
    bool ok = st->chars <= MAX_WORD_CHARS;
    st->chars = 0;
    for (uint32_t start = 0; ok && start < n;) {
        const uint32_t limit = n - start < v->max_piece_len ? n : start + v->max_piece_len;
        int32_t id = -1;
        uint32_t end = limit;
        for (; end > start; end--) {
            if (end < n && (buf[PREFIX_LEN + end] & 0xc0) == 0x80) continue; /* inside a character */
            const uint32_t from = start == 0 ? 0 : PREFIX_LEN + start;
            id = rz_vocab_find(v, buf + from, PREFIX_LEN + end - from);
            if (id >= 0) break;
        }
        if (id < 0) {
            ok = false;
            break;
        }
        rz_sink_push(st->sink, id);
        start = end;
    }
    if (!ok) {
        st->sink->n = mark;
        if (v->unk >= 0) rz_sink_push(st->sink, v->unk);
    }
}

static rz_status append_char(wpm_state *st, utf8proc_int32_t cp) {
    utf8proc_uint8_t enc[4];
    const utf8proc_ssize_t n = utf8proc_encode_char(cp, enc);
    RZ_TRY(rz_tok_reserve((void **)&st->w->text, &st->w->text_cap, PREFIX_LEN + (size_t)st->len + 4, 1));
    memcpy(st->w->text + PREFIX_LEN + st->len, enc, (size_t)n);
    st->len += (uint32_t)n;
    st->chars++;
    return RZ_OK;
}

rz_status rz_wpm_tokenize(const rz_vocab *v, rz_tok_work *w, const char *text, size_t len,
                          rz_token_sink *sink) {
    RZ_TRY(rz_tok_reserve((void **)&w->text, &w->text_cap, PREFIX_LEN + 4, 1));
    memcpy(w->text, RZ_SPM_SPACE, PREFIX_LEN);
    wpm_state st = {.v = v, .w = w, .sink = sink};
    const utf8proc_uint8_t *s = (const utf8proc_uint8_t *)text;
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t cl = utf8proc_iterate(s + i, (utf8proc_ssize_t)(len - i), &cp);
        if (cl <= 0) {
            i++;
            continue;
        }
        i += (size_t)cl;
        if (cp == 0 || cp == 0xfffd) continue;
        if (cp == '\t' || cp == '\n' || cp == '\r' ||
            (is_whitespace(cp) && !is_other(utf8proc_category(cp)))) {
            emit_word(&st);
            continue;
        }
        if (is_other(utf8proc_category(cp))) continue;
        const bool alone = is_chinese(cp);
        if (alone) emit_word(&st);
        utf8proc_int32_t parts[MAX_DECOMPOSITION];
        int last_boundclass = 0;
        utf8proc_ssize_t n_parts =
            utf8proc_decompose_char(cp, parts, MAX_DECOMPOSITION, UTF8PROC_DECOMPOSE, &last_boundclass);
        if (n_parts < 0 || n_parts > MAX_DECOMPOSITION) {
            parts[0] = cp;
            n_parts = 1;
        }
        for (utf8proc_ssize_t k = 0; k < n_parts; k++) {
            if (utf8proc_category(parts[k]) == UTF8PROC_CATEGORY_MN) continue; /* accents */
            const utf8proc_int32_t c = utf8proc_tolower(parts[k]);
            if (is_punct(c)) {
                emit_word(&st);
                RZ_TRY(append_char(&st, c));
                emit_word(&st);
            } else {
                RZ_TRY(append_char(&st, c));
            }
        }
        if (alone) emit_word(&st);
    }
    emit_word(&st);
    return RZ_OK;
}
