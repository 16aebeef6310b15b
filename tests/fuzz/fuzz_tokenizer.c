/* libFuzzer target: arbitrary bytes through tokenize -> detokenize with each
 * kind of vocabulary (SentencePiece BPE, byte-level BPE with several
 * pre-tokenizers, WordPiece). Any input must be handled without a crash;
 * valid UTF-8 must come back: exactly (byte-level BPE, when each of its
 * bytes has a token: a few vocabularies lack some, and llama.cpp drops them
 * too), with SentencePiece's space prefix and U+2581 read as a space (SPM),
 * or as text that tokenizes the same again, [UNK] aside (WordPiece).
 *
 * The vocabularies come from $RZ_SHARED_DIR (default ../shared), but for
 * an RWKV world one written here (exact round trip too);
 * RZ_FUZZ_VOCAB=NAME picks one (e.g. gpt-2) or one kind (spm, bpe, wpm,
 * rwkv), so that each kind can be fuzzed on its own. The first input byte
 * holds the add_special / parse_special flags.
 *
 * RZ_FUZZ_VOCAB=rwkv-pieces fuzzes RWKV vocabularies instead: the input,
 * cut at NUL bytes, is the escaped pieces of one, which must load or be
 * refused with a one-line message; what loads tokenizes the input itself,
 * and decoding gives back the input less the bytes no token starts with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    {.name = "rwkv-world", .kind = "rwkv", .rt = EXACT, .unk = -1},
};
enum { N_VOCABS = sizeof vocabs / sizeof vocabs[0] };

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool rwkv_pieces_mode;

/* A GGUF at path of an RWKV vocabulary: pieces with types (NULL: all normal). */
static rz_status write_rwkv_vocab(const char *path, const rz_str *pieces, uint64_t n, const int32_t *types) {
    rz_gguf_writer *w;
    rz_status s = rz_gguf_writer_open(path, &w);
    if (s != RZ_OK) return s;
    s = rz_gguf_writer_add_str(w, "tokenizer.ggml.model", "rwkv");
    if (s == RZ_OK) s = rz_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", pieces, n);
    if (s == RZ_OK && types)
        s = rz_gguf_writer_add_array(w, "tokenizer.ggml.token_type", RZ_GGUF_INT32, types, n);
    if (s != RZ_OK) {
        rz_gguf_writer_abort(w);
        return s;
    }
    return rz_gguf_writer_close(w);
}

static const char *temp_vocab_path(void) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_tokenizer.%d.gguf", (int)getpid());
    return path;
}

/* As llama.cpp's converter writes a world vocabulary: <s> (control), every
 * byte in the body of its Python repr(), then longer tokens. */
static void write_world_vocab(const char *path) {
    static const char *const words[] = {"hello", " world", "\\xe4\\xbd\\xa0\\xe5\\xa5\\xbd", "\\n\\n",
                                        "\\\\\\'"};
    enum { N_WORDS = sizeof words / sizeof words[0], N = 1 + 256 + N_WORDS };
    char escaped[256][5];
    rz_str pieces[N];
    int32_t types[N];
    pieces[0] = (rz_str){"<s>", 3};
    types[0] = 3; /* control */
    for (int b = 0; b < 256; b++) {
        const char *named = b == '\t'   ? "\\t"
                            : b == '\n' ? "\\n"
                            : b == '\r' ? "\\r"
                            : b == '\\' ? "\\\\"
                            : b == '\'' ? "\\'"
                                        : NULL;
        if (named)
            snprintf(escaped[b], sizeof escaped[b], "%s", named);
        else if (b >= 0x20 && b < 0x7f)
            snprintf(escaped[b], sizeof escaped[b], "%c", b);
        else
            snprintf(escaped[b], sizeof escaped[b], "\\x%02x", b);
        pieces[1 + b] = (rz_str){escaped[b], strlen(escaped[b])};
        types[1 + b] = 1;
    }
    for (int i = 0; i < N_WORDS; i++) {
        pieces[1 + 256 + i] = (rz_str){words[i], strlen(words[i])};
        types[1 + 256 + i] = 1;
    }
    if (write_rwkv_vocab(path, pieces, N, types) != RZ_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", rz_last_error());
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *shared = getenv("RZ_SHARED_DIR");
    if (!shared || !*shared) shared = "../shared";
    const char *only = getenv("RZ_FUZZ_VOCAB");
    if (only && strcmp(only, "rwkv-pieces") == 0) {
        rwkv_pieces_mode = true;
        return 0;
    }
    int loaded = 0;
    for (int i = 0; i < N_VOCABS; i++) {
        if (only && *only && strcmp(only, vocabs[i].name) != 0 && strcmp(only, vocabs[i].kind) != 0) continue;
        char path[4096];
        const bool world = strcmp(vocabs[i].kind, "rwkv") == 0;
        if (world) {
            snprintf(path, sizeof path, "%s", temp_vocab_path());
            write_world_vocab(path);
        } else {
            snprintf(path, sizeof path, "%s/testdata/tokenizer/ggml-vocab-%s.gguf", shared, vocabs[i].name);
        }
        rz_model_params p = rz_model_default_params();
        p.vocab_only = true;
        const rz_status s = rz_model_load(path, &p, &vocabs[i].model);
        if (world) unlink(path);
        if (s != RZ_OK) {
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

static void check_rwkv_pieces(const uint8_t *data, size_t size) {
    size_t n = 1;
    for (size_t i = 0; i < size; i++)
        n += data[i] == 0;
    rz_str *pieces = malloc(n * sizeof *pieces);
    if (!pieces) abort();
    n = 0;
    for (size_t start = 0, i = 0; i <= size; i++)
        if (i == size || data[i] == 0) {
            pieces[n++] = (rz_str){(const char *)data + start, i - start};
            start = i + 1;
        }
    const char *path = temp_vocab_path();
    if (write_rwkv_vocab(path, pieces, n, NULL) != RZ_OK) abort();
    free(pieces);
    rz_model_params p = rz_model_default_params();
    p.vocab_only = true;
    rz_model *m = NULL;
    const rz_status s = rz_model_load(path, &p, &m);
    unlink(path);
    if (s != RZ_OK) {
        if (!rz_last_error()[0] || strchr(rz_last_error(), '\n')) abort();
        return;
    }
    size_t n_ids, out_len;
    int32_t *ids = tokenize(m, (const char *)data, size, true, false, &n_ids);
    char *out = detokenize(m, ids, n_ids, &out_len);
    /* Each token stands for the bytes it matched; unmatched bytes are dropped. */
    size_t k = 0;
    for (size_t i = 0; i < size && k < out_len; i++)
        k += (unsigned char)out[k] == data[i];
    if (k != out_len) abort();
    free(out);
    free(ids);
    rz_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (rwkv_pieces_mode) {
        check_rwkv_pieces(data, size);
        return 0;
    }
    if (size == 0) return 0;
    const bool add = data[0] & 1, parse = data[0] & 2;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    const bool utf8 = valid_utf8(data + 1, len);
    for (int i = 0; i < N_VOCABS; i++)
        if (vocabs[i].model) check(&vocabs[i], text, len, add, parse, utf8);
    return 0;
}
