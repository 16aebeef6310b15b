/* Byte-level BPE ("gpt2" vocabularies): the text is split into words by the
 * pre-tokenizer's regexes (PCRE2, UTF-8 with Unicode properties), then each
 * word's bytes merge by the rank of the (left, right) pair.
 *
 * Pieces and merges are stored in GPT-2's printable byte alphabet ("Ġ" for
 * a space byte); both are mapped back to raw bytes once at load, so words
 * are merged as bytes and invalid UTF-8 needs no special case: such bytes
 * never match a regex item and become words of their own. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "base/error.h"
#include "tokenizer/tokenizer_internal.h"

/* ------------------------------------------------ GPT-2 byte alphabet */

/* Byte that code point cp stands for in GPT-2's alphabet, or -1. Printable
 * Latin-1 bytes stand for themselves; the other 68 bytes, in order, are
 * U+0100 onwards. */
static int alphabet_byte(uint32_t cp) {
    if ((cp >= 0x21 && cp <= 0x7e) || (cp >= 0xa1 && cp <= 0xac) || (cp >= 0xae && cp <= 0xff))
        return (int)cp;
    if (cp < 0x100 || cp >= 0x100 + 68) return -1;
    const uint32_t k = cp - 0x100;
    if (k <= 0x20) return (int)k;                    /* 0x00..0x20 */
    if (k <= 0x20 + 34) return (int)(0x7f + k - 33); /* 0x7f..0xa0 */
    return 0xad;
}

uint32_t rz_bpe_decode(const char *piece, uint32_t piece_len, char *dst) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)piece;
    uint32_t n = 0;
    for (uint32_t i = 0; i < piece_len;) {
        utf8proc_int32_t cp;
        const utf8proc_ssize_t cl = utf8proc_iterate(p + i, piece_len - i, &cp);
        if (cl <= 0) {
            dst[n++] = (char)p[i++];
            continue;
        }
        int b = alphabet_byte((uint32_t)cp);
        if (b >= 0) {
            dst[n++] = (char)b;
        } else {
            memcpy(dst + n, p + i, (size_t)cl);
            n += (uint32_t)cl;
        }
        i += (uint32_t)cl;
    }
    return n;
}

/* ------------------------------------------------------ pre-tokenizers */

enum { MAX_REGEXES = 6 };

struct rz_bpe_pre {
    pcre2_code *regex[MAX_REGEXES];
    int n_regex;
    bool ignore_merges; /* a word that is a token is taken whole (Llama 3) */
};

/* Whitespace as Oniguruma (Hugging Face) and llama.cpp read \s: PCRE2's
 * plus U+0085 NEL, i.e. the Unicode White_Space property. */
#define WS "\\s\\x{85}"
#define GPT2_WORDS                                                                                           \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])"
/* tiktoken's cl100k pattern with the case-insensitive contractions spelled
 * out, so that Unicode case folding cannot widen them. */
#define CL100K_WORDS(digits)                                                                                 \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" digits  \
    "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"
#define CJK_RUN "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

/* The regex lists llama.cpp applies per tokenizer.ggml.pre; each regex
 * splits every piece the previous ones produced into matches and gaps. */
static const char *const REGEX_DEFAULT[] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_WORDS, "\\p{N}+",
                                            "[0-9][0-9][0-9]", NULL};
static const char *const REGEX_GPT2[] = {GPT2_WORDS, NULL};
static const char *const REGEX_LLAMA3[] = {CL100K_WORDS("{1,3}"), NULL};
static const char *const REGEX_QWEN2[] = {CL100K_WORDS(""), NULL};
static const char *const REGEX_FALCON[] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_WORDS, "[0-9][0-9][0-9]", NULL};
static const char *const REGEX_STARCODER[] = {"\\p{N}", GPT2_WORDS, NULL};
static const char *const REGEX_DEEPSEEK_CODER[] = {"[\\r\\n]", "[" WS "]?\\p{L}+", "[" WS "]?\\p{P}+",
                                                   CJK_RUN,    "\\p{N}",           NULL};
static const char *const REGEX_DEEPSEEK_LLM[] = {
    "[\\r\\n]",
    /* Cased letters as DeepSeek's tokenizer.json lists them. */
    "[" WS
    "]?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}\\x{"
    "295}-"
    "\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{"
    "38E}-"
    "\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}"
    "-"
    "\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}"
    "-"
    "\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"
    "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}"
    "-"
    "\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"
    "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
    "\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}"
    "\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}"
    "-"
    "\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{"
    "1044F}"
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{"
    "118DF}"
    "\\x{1E900}-\\x{1E943}]+",
    "[" WS "]?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
    "[" WS "]+$", CJK_RUN, "\\p{N}+", NULL};
static const char *const REGEX_PORO[] = {
    " ?[^(" WS "|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+", NULL};

typedef struct pre_kind {
    const char *name;
    const char *const *regexes;
    bool ignore_merges, add_bos;
} pre_kind;

static const pre_kind PRE_KINDS[] = {
    {"default", REGEX_DEFAULT, false, false},
    {"llama-bpe", REGEX_LLAMA3, true, true},
    {"llama3", REGEX_LLAMA3, true, true},
    {"llama-v3", REGEX_LLAMA3, true, true},
    {"falcon3", REGEX_LLAMA3, true, true},
    {"dbrx", REGEX_LLAMA3, false, false},
    {"smaug-bpe", REGEX_LLAMA3, false, false},
    {"gpt-2", REGEX_GPT2, false, false},
    {"mpt", REGEX_GPT2, false, false},
    {"olmo", REGEX_GPT2, false, false},
    {"jais", REGEX_GPT2, false, false},
    {"phi-2", REGEX_GPT2, false, false},
    {"roberta-bpe", REGEX_GPT2, false, false},
    {"falcon", REGEX_FALCON, false, false},
    {"starcoder", REGEX_STARCODER, false, false},
    {"refact", REGEX_STARCODER, false, false},
    {"command-r", REGEX_STARCODER, false, false},
    {"smollm", REGEX_STARCODER, false, false},
    {"codeshell", REGEX_STARCODER, false, false},
    {"exaone", REGEX_STARCODER, false, false},
    {"qwen2", REGEX_QWEN2, false, false},
    {"stablelm2", REGEX_QWEN2, false, false},
    {"deepseek-llm", REGEX_DEEPSEEK_LLM, false, false},
    {"deepseek-coder", REGEX_DEEPSEEK_CODER, false, false},
    {"poro-chat", REGEX_PORO, false, false},
    {"bloom", REGEX_PORO, false, false},
    {"gpt3-finnish", REGEX_PORO, false, false},
};

static void pre_free(rz_bpe_pre *pre) {
    if (!pre) return;
    for (int i = 0; i < pre->n_regex; i++)
        pcre2_code_free(pre->regex[i]);
    free(pre);
}

static rz_status pre_create(rz_str name, rz_bpe_pre **out, bool *add_bos) {
    const pre_kind *kind = NULL;
    if (name.len == 0) kind = &PRE_KINDS[0];
    for (size_t i = 0; !kind && i < sizeof PRE_KINDS / sizeof PRE_KINDS[0]; i++)
        if (strlen(PRE_KINDS[i].name) == name.len && memcmp(PRE_KINDS[i].name, name.ptr, name.len) == 0)
            kind = &PRE_KINDS[i];
    if (!kind)
        return rz_error(RZ_ERR_UNSUPPORTED, "pre-tokenizer '%.*s' is not supported", (int)name.len, name.ptr);
    rz_bpe_pre *pre = calloc(1, sizeof *pre);
    if (!pre) return rz_error(RZ_ERR_NOMEM, "out of memory");
    pre->ignore_merges = kind->ignore_merges;
    /* MATCH_INVALID_UTF: invalid bytes are allowed and match nothing;
     * DOLLAR_ENDONLY: "$" is the end of the piece, as in ECMAScript. */
    const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
    for (int i = 0; kind->regexes[i]; i++) {
        int err;
        PCRE2_SIZE err_at;
        pcre2_code *code =
            pcre2_compile((PCRE2_SPTR)kind->regexes[i], PCRE2_ZERO_TERMINATED, options, &err, &err_at, NULL);
        if (!code) {
            PCRE2_UCHAR msg[128];
            pcre2_get_error_message(err, msg, sizeof msg);
            pre_free(pre);
            return rz_error(RZ_ERR_UNSUPPORTED, "pre-tokenizer '%s': regex %d at %zu: %s", kind->name, i,
                            (size_t)err_at, (const char *)msg);
        }
        pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is unavailable */
        pre->regex[pre->n_regex++] = code;
    }
    *add_bos = kind->add_bos;
    *out = pre;
    return RZ_OK;
}

/* ------------------------------------------------------------- setup */

static uint64_t pair_hash(const char *concat, uint32_t left_len, uint32_t right_len) {
    return rz_hash_bytes(concat, (size_t)left_len + right_len) ^ ((uint64_t)left_len * 0x9e3779b97f4a7c15ull);
}

/* Rank of merging left (left_len bytes) with the right_len bytes after it, or -1. */
static int32_t merge_rank(const rz_vocab *v, const char *concat, uint32_t left_len, uint32_t right_len) {
    const rz_str_index *ix = &v->merge_index;
    const uint64_t hash = pair_hash(concat, left_len, right_len);
    for (uint64_t i = hash & ix->mask;; i = (i + 1) & ix->mask) {
        const uint64_t slot = ix->slots[i];
        if (slot == RZ_SLOT_EMPTY) return -1;
        const uint32_t id = (uint32_t)slot;
        if (rz_slot_tagged(slot, hash) && v->merge_left_len[id] == left_len &&
            v->merge_right_len[id] == right_len &&
            memcmp(v->merge_blob + v->merge_at[id], concat, (size_t)left_len + right_len) == 0)
            return (int32_t)id;
    }
}

static rz_status load_merges(rz_vocab *v, const rz_vocab_spec *spec) {
    const uint32_t n = spec->n_merges;
    /* Ranks become float scores in the merge queue: keep them exact. */
    if (n > (1u << 24)) return rz_error(RZ_ERR_FORMAT, "vocabulary: %u merges are too many", n);
    uint64_t bytes = 1;
    for (uint32_t i = 0; i < n; i++)
        bytes += spec->merges[i].len;
    if (bytes > SIZE_MAX) return rz_error(RZ_ERR_NOMEM, "vocabulary: merges do not fit in memory");
    v->merge_blob = malloc((size_t)bytes);
    v->merge_at = malloc(((size_t)n + 1) * sizeof *v->merge_at);
    v->merge_left_len = malloc(((size_t)n + 1) * sizeof *v->merge_left_len);
    v->merge_right_len = malloc(((size_t)n + 1) * sizeof *v->merge_right_len);
    if (!v->merge_blob || !v->merge_at || !v->merge_left_len || !v->merge_right_len)
        return rz_error(RZ_ERR_NOMEM, "out of memory for %u merges", n);
    RZ_TRY(rz_str_index_alloc(&v->merge_index, n));
    v->n_merges = n;
    uint64_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        const rz_str m = spec->merges[i];
        /* "left right"; the alphabet has no raw space, so the first space
         * after the first byte separates the two. */
        const char *space = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        v->merge_at[i] = at;
        if (!space) { /* malformed: keeps its rank, never matches */
            v->merge_left_len[i] = v->merge_right_len[i] = 0;
            continue;
        }
        const uint32_t left_len = (uint32_t)(space - m.ptr);
        v->merge_left_len[i] = rz_bpe_decode(m.ptr, left_len, v->merge_blob + at);
        v->merge_right_len[i] = rz_bpe_decode(space + 1, (uint32_t)(m.len - left_len - 1),
                                              v->merge_blob + at + v->merge_left_len[i]);
        at += v->merge_left_len[i] + v->merge_right_len[i];
        if (v->merge_left_len[i] == 0 || v->merge_right_len[i] == 0) continue;
        const char *concat = v->merge_blob + v->merge_at[i];
        if (merge_rank(v, concat, v->merge_left_len[i], v->merge_right_len[i]) >= 0)
            continue; /* first wins */
        const uint64_t hash = pair_hash(concat, v->merge_left_len[i], v->merge_right_len[i]);
        uint64_t slot = hash & v->merge_index.mask;
        while (v->merge_index.slots[slot] != RZ_SLOT_EMPTY)
            slot = (slot + 1) & v->merge_index.mask;
        v->merge_index.slots[slot] = rz_slot_make(hash, i);
    }
    return RZ_OK;
}

rz_status rz_bpe_init(rz_vocab *v, const rz_vocab_spec *spec, bool *pre_adds_bos) {
    const uint32_t n = v->n_tokens;
    v->key_at = malloc(n * sizeof *v->key_at);
    v->key_len = malloc(n * sizeof *v->key_len);
    if (!v->key_at || !v->key_len) return rz_error(RZ_ERR_NOMEM, "out of memory");
    RZ_TRY(rz_str_index_alloc(&v->key_index, n));
    /* Keys follow the decoded texts in the blob, which has room for them. */
    uint64_t at = v->text_at[n - 1] + v->text_len[n - 1] + 1;
    for (uint32_t i = 0; i < n; i++) {
        v->key_at[i] = at;
        v->key_len[i] = rz_bpe_decode(rz_vocab_piece(v, (int32_t)i), v->piece_len[i], v->blob + at);
        at += v->key_len[i];
        rz_str_index_add(&v->key_index, v->blob, v->key_at, v->key_len, i);
    }
    for (int b = 0; b < 256; b++) {
        const char c = (char)b;
        v->byte_token[b] = rz_str_index_find(&v->key_index, v->blob, v->key_at, v->key_len, &c, 1);
    }
    RZ_TRY(load_merges(v, spec));
    return pre_create(spec->pre, &v->pre, pre_adds_bos);
}

void rz_bpe_free(rz_vocab *v) {
    free(v->key_at);
    free(v->key_len);
    rz_str_index_free(&v->key_index);
    free(v->merge_blob);
    free(v->merge_at);
    free(v->merge_left_len);
    free(v->merge_right_len);
    rz_str_index_free(&v->merge_index);
    pre_free(v->pre);
    v->pre = NULL;
}

void rz_bpe_match_data_free(void *match_data) { pcre2_match_data_free(match_data); }

/* ---------------------------------------------------------- tokenize */

static int32_t key_find(const rz_vocab *v, const char *s, size_t len) {
    return rz_str_index_find(&v->key_index, v->blob, v->key_at, v->key_len, s, len);
}

static bool bpe_pair_score(const rz_vocab *v, const char *text, uint32_t left_len, uint32_t right_len,
                           float *score) {
    int32_t rank = merge_rank(v, text, left_len, right_len);
    if (rank < 0) return false;
    *score = -(float)rank; /* lower rank first */
    return true;
}

static void push_bytes(const rz_vocab *v, const char *s, size_t len, rz_token_sink *sink) {
    for (size_t i = 0; i < len; i++) {
        int32_t id = v->byte_token[(unsigned char)s[i]];
        if (id >= 0) rz_sink_push(sink, id); /* a byte the vocabulary cannot spell is dropped */
    }
}

static rz_status bpe_word(const rz_vocab *v, rz_tok_work *w, const char *word, uint32_t len,
                          rz_token_sink *sink) {
    if (len == 1) {
        push_bytes(v, word, 1, sink);
        return RZ_OK;
    }
    if (v->pre->ignore_merges) {
        int32_t id = key_find(v, word, len);
        if (id >= 0) {
            rz_sink_push(sink, id);
            return RZ_OK;
        }
    }
    int32_t n_symbols;
    RZ_TRY(rz_merge_symbols(v, w, word, len, false, bpe_pair_score, &n_symbols));
    for (int32_t i = n_symbols > 0 ? 0 : -1; i >= 0; i = w->symbols[i].next) {
        const rz_merge_symbol *s = &w->symbols[i];
        int32_t id = key_find(v, word + s->start, s->len);
        if (id >= 0)
            rz_sink_push(sink, id);
        else
            push_bytes(v, word + s->start, s->len, sink);
    }
    return RZ_OK;
}

/* Appends (start, len) to spans[0 .. 2 * *n). */
static rz_status span_push(uint32_t **spans, size_t *cap, size_t *n, size_t start, size_t len) {
    RZ_TRY(rz_tok_reserve((void **)spans, cap, 2 * (*n + 1), sizeof **spans));
    (*spans)[2 * *n] = (uint32_t)start;
    (*spans)[2 * *n + 1] = (uint32_t)len;
    (*n)++;
    return RZ_OK;
}

/* Splits every span by one regex into its matches and the gaps between
 * them; each span is matched on its own, so lookarounds and "$" stop at its
 * ends (as llama.cpp's splitter does). */
static rz_status split_by(rz_tok_work *w, const pcre2_code *re, const char *text, size_t *n_spans) {
    pcre2_match_data *md = w->match_data;
    size_t n_out = 0;
    for (size_t k = 0; k < *n_spans; k++) {
        const size_t start = w->spans[2 * k], len = w->spans[2 * k + 1];
        const PCRE2_SPTR subject = (PCRE2_SPTR)(text + start);
        size_t gap = 0, pos = 0;
        while (pos < len) {
            int rc = pcre2_match(re, subject, len, pos, 0, md, NULL);
            if (rc == PCRE2_ERROR_NOMATCH) break;
            if (rc < 0) {
                PCRE2_UCHAR msg[128];
                pcre2_get_error_message(rc, msg, sizeof msg);
                return rz_error(RZ_ERR_RANGE, "tokenize: pre-tokenizer regex failed: %s", (const char *)msg);
            }
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[1] == ov[0]) { /* empty match: not a word; look further on */
                if (ov[0] >= len) break;
                pos = ov[0] + rz_utf8_len((const char *)subject + ov[0], len - ov[0]);
                continue;
            }
            if (ov[0] > gap) RZ_TRY(span_push(&w->spans2, &w->spans2_cap, &n_out, start + gap, ov[0] - gap));
            RZ_TRY(span_push(&w->spans2, &w->spans2_cap, &n_out, start + ov[0], ov[1] - ov[0]));
            gap = pos = ov[1];
        }
        if (gap < len) RZ_TRY(span_push(&w->spans2, &w->spans2_cap, &n_out, start + gap, len - gap));
    }
    uint32_t *swap = w->spans;
    size_t swap_cap = w->spans_cap;
    w->spans = w->spans2;
    w->spans_cap = w->spans2_cap;
    w->spans2 = swap;
    w->spans2_cap = swap_cap;
    *n_spans = n_out;
    return RZ_OK;
}

rz_status rz_bpe_tokenize(const rz_vocab *v, rz_tok_work *w, const char *text, size_t len,
                          rz_token_sink *sink) {
    if (len == 0) return RZ_OK;
    if (len > UINT32_MAX / 4) return rz_error(RZ_ERR_RANGE, "tokenize: text of %zu bytes is too long", len);
    if (!w->match_data) {
        w->match_data = pcre2_match_data_create(1, NULL);
        if (!w->match_data) return rz_error(RZ_ERR_NOMEM, "out of memory");
    }
    size_t n_spans = 0;
    RZ_TRY(span_push(&w->spans, &w->spans_cap, &n_spans, 0, len));
    for (int r = 0; r < v->pre->n_regex; r++)
        RZ_TRY(split_by(w, v->pre->regex[r], text, &n_spans));
    for (size_t k = 0; k < n_spans; k++)
        RZ_TRY(bpe_word(v, w, text + w->spans[2 * k], w->spans[2 * k + 1], sink));
    return RZ_OK;
}
