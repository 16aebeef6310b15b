/* RWKV's world tokenizer ("rwkv" GGUF vocabularies) on small vocabularies
 * written here: the pieces' escapes, greedy longest match over bytes,
 * bytes no token starts with, special tokens, decoding and round trips,
 * and vocabularies with bad escapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "vocab_vectors.h"

/* Pieces as llama.cpp's converter stores them: the body of Python's repr()
 * of the token's bytes. */
static const char *const PIECES[] = {
    "<s>",             /* 0, control */
    "a",               /* 1 */
    "ab",              /* 2 */
    "abc",             /* 3 */
    "b",               /* 4 */
    "c",               /* 5 */
    "\\n",             /* 6: "\n" */
    "\\t",             /* 7: "\t" */
    "\\n\\n",          /* 8: "\n\n" */
    "\\x00",           /* 9: NUL */
    "\\xff",           /* 10 */
    "\\\\",            /* 11: backslash */
    "\\'",             /* 12: quote */
    "\"",              /* 13: double quote, never escaped by repr() */
    "\\xc3\\xa9",      /* 14: "é" */
    "\\xe4\\xbd\\xa0", /* 15: "你" */
    "\\xe4\\xbd",      /* 16: first two bytes of "你" */
    "\\xe4",           /* 17 */
    " ",               /* 18 */
    "\\x41B",          /* 19: "AB" ("A" alone has no token) */
    "\\r",             /* 20 */
    "\\xC3",           /* 21: upper-case hex digits */
    "[PAD22]",         /* 22, unused: still matched, as in llama.cpp */
    "<unk>",           /* 23, unknown */
};
enum { N_PIECES = sizeof PIECES / sizeof PIECES[0], UNK = 23 };

/* A vocab-only GGUF of pieces with types (NULL: all normal) at path; unk < 0
 * writes no unknown_token_id. */
static void write_vocab(const char *path, const char *const *pieces, const int32_t *types, uint32_t n,
                        int32_t unk) {
    rz_str *items = malloc(n * sizeof *items);
    assert_non_null(items);
    for (uint32_t i = 0; i < n; i++)
        items[i] = (rz_str){pieces[i], strlen(pieces[i])};
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(path, &w));
    RZ_ASSERT_OK(rz_gguf_writer_add_str(w, "general.architecture", "rwkv6"));
    RZ_ASSERT_OK(rz_gguf_writer_add_str(w, "tokenizer.ggml.model", "rwkv"));
    RZ_ASSERT_OK(rz_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", items, n));
    if (types)
        RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "tokenizer.ggml.token_type", RZ_GGUF_INT32, types, n));
    /* As the converter writes them: <s> for both, which must not be added. */
    RZ_ASSERT_OK(rz_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 0));
    RZ_ASSERT_OK(rz_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 0));
    if (unk >= 0) RZ_ASSERT_OK(rz_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk));
    RZ_ASSERT_OK(rz_gguf_writer_close(w));
    free(items);
}

static rz_status load(const char *path, rz_model **m) {
    rz_model_params p = rz_model_default_params();
    p.vocab_only = true;
    return rz_model_load(path, &p, m);
}

static rz_model *load_test_vocab(int32_t unk) {
    int32_t types[N_PIECES];
    for (int i = 0; i < N_PIECES; i++)
        types[i] = 1; /* normal */
    types[0] = 3;     /* control */
    types[22] = 5;    /* unused */
    types[UNK] = 2;   /* unknown */
    const char *path = rz_test_temp_path("rwkv.gguf");
    write_vocab(path, PIECES, types, N_PIECES, unk);
    rz_model *m = NULL;
    RZ_ASSERT_OK(load(path, &m));
    return m;
}

typedef struct tok_case {
    const char *text;
    size_t len;
    int32_t ids[8];
    size_t n;
} tok_case;

#define CASE(text, ...)                                                                                      \
    { text, sizeof text - 1, {__VA_ARGS__}, sizeof((int32_t[]){__VA_ARGS__}) / sizeof(int32_t) }
#define NONE(text)                                                                                           \
    { text, sizeof text - 1, {0}, 0 }

static void check_cases(const rz_model *m, const tok_case *cases, size_t n_cases, bool parse_special) {
    for (size_t c = 0; c < n_cases; c++) {
        int32_t *ids;
        const size_t n = rz_test_tokenize(m, cases[c].text, cases[c].len, true, parse_special, &ids);
        if (n != cases[c].n || memcmp(ids, cases[c].ids, n * sizeof *ids) != 0)
            fail_msg("case %zu: %zu tokens (want %zu), first %d (want %d)", c, n, cases[c].n, n ? ids[0] : -1,
                     cases[c].n ? cases[c].ids[0] : -1);
        free(ids);
    }
}

/* Longest match at each point; escapes undone; no BOS although the file
 * names one; bytes no token starts with are dropped without an unknown
 * token, as is a byte that only starts longer tokens ("A" of "AB"). */
static void test_longest_match(void **state) {
    (void)state;
    rz_model *m = load_test_vocab(-1);
    static const tok_case cases[] = {
        CASE("abcab", 3, 2),
        CASE("aab", 1, 2),
        CASE("abab", 2, 2),
        CASE("ab\n\nc\t\r", 2, 8, 5, 7, 20),
        CASE("\n\n\n", 8, 6),
        CASE("a\\'\"", 1, 11, 12, 13),
        CASE("\0a\xff", 9, 1, 10),
        CASE("\xe4\xbd\xa0\xc3\xa9", 15, 14), /* 你é */
        CASE("\xe4\xbd"
             "a",
             16, 1), /* cut UTF-8 */
        CASE("\xe4"
             "a",
             17, 1),
        CASE("\xc3"
             "a",
             21, 1),
        CASE("AB", 19),
        NONE("A"),
        CASE("azb", 1, 4),
        CASE("[PAD22]", 22),
        NONE("<s>"),   /* control text is not the control token */
        NONE("<unk>"), /* nor is the unknown token's */
        NONE(""),
    };
    check_cases(m, cases, sizeof cases / sizeof cases[0], false);
    static const tok_case special[] = {CASE("<s>ab", 0, 2), CASE("a<unk>b", 1, UNK, 4)};
    check_cases(m, special, sizeof special / sizeof special[0], true);
    assert_int_equal(rz_model_describe(m)->n_vocab, N_PIECES);
    rz_model_free(m);
}

/* With an unknown token, each byte that starts no token becomes one. */
static void test_unknown_bytes(void **state) {
    (void)state;
    rz_model *m = load_test_vocab(UNK);
    static const tok_case cases[] = {
        CASE("A", UNK),
        CASE("azb", 1, UNK, 4),
        CASE("<s>", UNK, UNK, UNK),
        CASE("zz\xe4\xbd\xa0", UNK, UNK, 15),
    };
    check_cases(m, cases, sizeof cases / sizeof cases[0], false);
    rz_model_free(m);
}

static void check_piece(const rz_model *m, int32_t id, const char *want, size_t want_len) {
    const char *piece;
    size_t len;
    RZ_ASSERT_OK(rz_token_piece(m, id, &piece, &len));
    if (len != want_len || memcmp(piece, want, len) != 0) fail_msg("token %d decodes to %zu bytes", id, len);
}

/* Tokens decode to their raw bytes, and text of bytes that have tokens
 * comes back exactly, invalid UTF-8 included. */
static void test_decode_round_trip(void **state) {
    (void)state;
    rz_model *m = load_test_vocab(-1);
    check_piece(m, 0, "", 0); /* control */
    check_piece(m, 6, "\n", 1);
    check_piece(m, 8, "\n\n", 2);
    check_piece(m, 9, "\0", 1);
    check_piece(m, 10, "\xff", 1);
    check_piece(m, 11, "\\", 1);
    check_piece(m, 12, "'", 1);
    check_piece(m, 13, "\"", 1);
    check_piece(m, 14, "\xc3\xa9", 2);
    check_piece(m, 15, "\xe4\xbd\xa0", 3);
    check_piece(m, 19, "AB", 2);
    check_piece(m, 21, "\xc3", 1);
    check_piece(m, 22, "[PAD22]", 7);
    static const char text[] = "abcab\n\n\t\r\xe4\xbd\xa0\xc3\xa9\\'\" ab\0\xff\xe4\xbd"
                               "abc\xc3"
                               "cABab";
    int32_t *ids;
    const size_t n = rz_test_tokenize(m, text, sizeof text - 1, false, false, &ids);
    size_t len;
    char *back = rz_test_detokenize(m, ids, n, &len);
    assert_int_equal(len, sizeof text - 1);
    assert_memory_equal(back, text, len);
    free(back);
    free(ids);
    rz_model_free(m);
}

/* A world-style vocabulary: every byte as repr() writes it, then longer
 * tokens; random bytes come back exactly and in no more tokens than bytes. */
static void test_all_bytes(void **state) {
    (void)state;
    static const char *const words[] = {"hello", " world", "\\xe4\\xbd\\xa0\\xe5\\xa5\\xbd", "\\n\\n",
                                        "\\x00\\x00"};
    enum { N_WORDS = sizeof words / sizeof words[0], N = 256 + N_WORDS };
    char escaped[256][5];
    const char *pieces[N];
    for (int b = 0; b < 256; b++) {
        if (b == '\t' || b == '\n' || b == '\r' || b == '\\' || b == '\'')
            snprintf(escaped[b], sizeof escaped[b], "\\%c",
                     b == '\t'   ? 't'
                     : b == '\n' ? 'n'
                     : b == '\r' ? 'r'
                                 : b);
        else if (b >= 0x20 && b < 0x7f)
            snprintf(escaped[b], sizeof escaped[b], "%c", b);
        else
            snprintf(escaped[b], sizeof escaped[b], "\\x%02x", b);
        pieces[b] = escaped[b];
    }
    for (int i = 0; i < N_WORDS; i++)
        pieces[256 + i] = words[i];
    const char *path = rz_test_temp_path("rwkv-bytes.gguf");
    write_vocab(path, pieces, NULL, N, -1);
    rz_model *m = NULL;
    RZ_ASSERT_OK(load(path, &m));
    for (int b = 0; b < 256; b++)
        check_piece(m, b, &(char){(char)b}, 1);
    uint64_t seed = 7;
    char text[4096];
    static const char sample[] = "hello world \xe4\xbd\xa0\xe5\xa5\xbd\n\n";
    for (size_t i = 0; i < sizeof text; i++) {
        const uint64_t r = rz_test_rand_u64(&seed);
        text[i] = r % 3 ? sample[r % (sizeof sample - 1)] : (char)(r >> 32);
    }
    int32_t *ids;
    const size_t n = rz_test_tokenize(m, text, sizeof text, false, false, &ids);
    assert_true(n <= sizeof text);
    size_t len;
    char *back = rz_test_detokenize(m, ids, n, &len);
    assert_int_equal(len, sizeof text);
    assert_memory_equal(back, text, len);
    free(back);
    free(ids);
    /* "\0\0\0": the two-byte token, then the byte. */
    static const tok_case nul[] = {CASE("\0\0\0", 260, 0), CASE("hello world", 256, 257)};
    check_cases(m, nul, 2, false);
    rz_model_free(m);
}

/* Bad escapes fail the load with the token named, never abort. */
static void test_bad_escapes(void **state) {
    (void)state;
    static const char *const bad[] = {"ab\\", "\\", "\\x", "\\x4", "\\xg0", "\\x4z", "a\\x\\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *pieces[] = {"a", bad[i]};
        const char *path = rz_test_temp_path("rwkv-bad.gguf");
        write_vocab(path, pieces, NULL, 2, -1);
        rz_model *m = NULL;
        assert_int_equal(load(path, &m), RZ_ERR_FORMAT);
        assert_null(m);
        if (!strstr(rz_last_error(), "token 1"))
            fail_msg("piece '%s': message '%s' does not name the token", bad[i], rz_last_error());
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_longest_match),     cmocka_unit_test(test_unknown_bytes),
        cmocka_unit_test(test_decode_round_trip), cmocka_unit_test(test_all_bytes),
        cmocka_unit_test(test_bad_escapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
