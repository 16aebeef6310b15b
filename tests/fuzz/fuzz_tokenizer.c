/* libFuzzer target: arbitrary bytes through tokenize -> detokenize with each
 * kind of vocabulary (SentencePiece BPE, byte-level BPE with several
 * pre-tokenizers, WordPiece). Any input must be handled without a crash;
 * valid UTF-8 must come back: exactly (byte-level BPE, when each of its
 * bytes has a token: a few vocabularies lack some, and llama.cpp drops them
 * too), with SentencePiece's space prefix and U+2581 read as a space (SPM),
 * or as text that tokenizes the same again, [UNK] aside (WordPiece).
 *
 * The vocabularies come from $RZ_SHARED_DIR (default ../shared);
 * RZ_FUZZ_VOCAB=NAME picks one (e.g. gpt-2) or one kind (spm, bpe, wpm), so
 * that each kind can be fuzzed on its own. The first input byte holds the
 * add_special / parse_special flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ryzanstein.h"

typedef enum round_trip { EXACT, SPACE_PREFIX, RETOKENIZE } round_trip;

typedef struct fuzz_vocab {
    const char *name, *kind;
    round_trip rt;
    int32_t unk;         /* WordPiece's [UNK], which decodes to nothing */
    rz_model *model;     /* loaded at init */
    bool spellable[256]; /* bytes that have a token of their own (some BPE vocabularies lack a few) */
} fuzz_vocab;

static fuzz_vocab vocabs[] = {
    {.name = "llama-spm", .kind = "spm", .rt = SPACE_PREFIX, .unk = -1},
    {.name = "gpt-2", .kind = "bpe", .rt = EXACT, .unk = -1},
    {.name = "falcon", .kind = "bpe", .rt = EXACT, .unk = -1},
    {.name = "mpt", .kind = "bpe", .rt = EXACT, .unk = -1},
    {.name = "starcoder", .kind = "bpe", .rt = EXACT, .unk = -1},
    {.name = "deepseek-coder", .kind = "bpe", .rt = EXACT, .unk = -1},
    {.name = "bert-bge", .kind = "wpm", .rt = RETOKENIZE, .unk = 100},
};
enum { N_VOCABS = sizeof vocabs / sizeof vocabs[0] };

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *shared = getenv("RZ_SHARED_DIR");
    if (!shared || !*shared) shared = "../shared";
    const char *only = getenv("RZ_FUZZ_VOCAB");
    int loaded = 0;
    for (int i = 0; i < N_VOCABS; i++) {
        if (only && *only && strcmp(only, vocabs[i].name) != 0 && strcmp(only, vocabs[i].kind) != 0) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/testdata/tokenizer/ggml-vocab-%s.gguf", shared, vocabs[i].name);
        rz_model_params p = rz_model_default_params();
        p.vocab_only = true;
        if (rz_model_load(path, &p, &vocabs[i].model) != RZ_OK) {
            fprintf(stderr, "fuzz_tokenizer: %s\n", rz_last_error());
            abort();
        }
        for (int b = 0; b < 256; b++) {
            const char byte = (char)b;
            int32_t id;
            size_t n;
            const char *piece;
            size_t piece_len;
            vocabs[i].spellable[b] =
                rz_tokenize(vocabs[i].model, &byte, 1, false, false, &id, 1, &n) == RZ_OK &&
                rz_token_piece(vocabs[i].model, id, &piece, &piece_len) == RZ_OK && piece_len == 1 &&
                piece[0] == byte;
        }
        loaded++;
    }
    if (!loaded) {
        fprintf(stderr, "fuzz_tokenizer: no vocabulary named '%s'\n", only);
        abort();
    }
    return 0;
}

static bool valid_utf8(const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n;) {
        const uint8_t c = s[i];
        size_t len = c < 0x80                ? 1
                     : c >= 0xc2 && c < 0xe0 ? 2
                     : c >= 0xe0 && c < 0xf0 ? 3
                     : c >= 0xf0 && c < 0xf5 ? 4
                                             : 0;
        if (len == 0 || len > n - i) return false;
        uint32_t cp = len == 1 ? c : c & (0x7f >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += len;
    }
    return true;
}

static int32_t *tokenize(const rz_model *m, const char *text, size_t len, bool add, bool parse, size_t *n) {
    size_t cap = 2 * len + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids || rz_tokenize(m, text, len, add, parse, ids, cap, n) != RZ_OK) {
        fprintf(stderr, "fuzz_tokenizer: tokenize: %s\n", rz_last_error());
        abort();
    }
    return ids;
}

static char *detokenize(const rz_model *m, const int32_t *ids, size_t n, size_t *len) {
    size_t cap = 16;
    for (size_t i = 0; i < n; i++) {
        const char *piece;
        size_t piece_len;
        if (rz_token_piece(m, ids[i], &piece, &piece_len) != RZ_OK) abort();
        cap += piece_len;
    }
    char *text = malloc(cap);
    if (!text || rz_detokenize(m, ids, n, text, cap, len) != RZ_OK) {
        fprintf(stderr, "fuzz_tokenizer: detokenize: %s\n", rz_last_error());
        abort();
    }
    return text;
}

/* SentencePiece's view of the input: its space prefix, U+2581 as a space. */
static char *spm_expected(const char *text, size_t len, bool bos, size_t *out_len) {
    char *exp = malloc(len + 2);
    if (!exp) abort();
    size_t n = 0;
    if (len > 0 && !bos) exp[n++] = ' '; /* after BOS the detokenizer drops it */
    for (size_t i = 0; i < len;) {
        if (i + 3 <= len && memcmp(text + i, "\xe2\x96\x81", 3) == 0) {
            exp[n++] = ' ';
            i += 3;
        } else {
            exp[n++] = text[i++];
        }
    }
    *out_len = n;
    return exp;
}

static void check(const fuzz_vocab *v, const char *text, size_t len, bool add, bool parse, bool utf8) {
    if (v->rt == EXACT)
        for (size_t i = 0; i < len; i++)
            utf8 = utf8 && v->spellable[(unsigned char)text[i]];
    size_t n;
    int32_t *ids = tokenize(v->model, text, len, add, parse, &n);
    size_t out_len;
    char *out = detokenize(v->model, ids, n, &out_len);
    if (utf8 && !parse) {
        if (v->rt == EXACT) {
            if (out_len != len || memcmp(out, text, len) != 0) abort();
        } else if (v->rt == SPACE_PREFIX) {
            size_t exp_len;
            char *exp = spm_expected(text, len, add, &exp_len);
            if (out_len != exp_len || memcmp(out, exp, exp_len) != 0) abort();
            free(exp);
        } else if (!memmem(text, len, "\xe2\x96\x81", 3)) { /* U+2581 is BERT's space marker */
            size_t n_again;
            int32_t *again = tokenize(v->model, out, out_len, add, parse, &n_again);
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (ids[i] == v->unk) continue;
                if (k >= n_again || again[k] != ids[i]) abort();
                k++;
            }
            if (k != n_again) abort();
            free(again);
        }
    }
    free(out);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const bool add = data[0] & 1, parse = data[0] & 2;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    const bool utf8 = valid_utf8(data + 1, len);
    for (int i = 0; i < N_VOCABS; i++)
        if (vocabs[i].model) check(&vocabs[i], text, len, add, parse, utf8);
    return 0;
}
