/* Tokenizers against llama.cpp's vocabulary test vectors (SentencePiece BPE,
 * byte-level BPE with several pre-tokenizers, WordPiece), llama2.c's run.c
 * encoder, special tokens, invalid UTF-8 and the streaming detokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"
#include "vocab_vectors.h"
#include "tokenizer/vocab.h"

enum { BERT_UNK = 100 }; /* [UNK] of ggml-vocab-bert-bge */

static rz_model *load_vocab(const char *path, const char *tokenizer) {
    rz_model_params p = rz_model_default_params();
    p.vocab_only = true;
    p.tokenizer_path = tokenizer;
    rz_model *m = NULL;
    RZ_ASSERT_OK(rz_model_load(path, &p, &m));
    return m;
}

static void check_vocab_file(const char *name, rz_test_round_trip rt) {
    char gguf[128], inp[160], out[160];
    snprintf(gguf, sizeof gguf, "testdata/tokenizer/ggml-vocab-%s.gguf", name);
    snprintf(inp, sizeof inp, "%s.inp", gguf);
    snprintf(out, sizeof out, "%s.out", gguf);
    RZ_REQUIRE_SHARED(gguf);
    rz_model *m = load_vocab(rz_test_shared_path(gguf), NULL);
    assert_true(rz_test_check_vectors(m, inp, out, rt, BERT_UNK) >= 40);
    rz_model_free(m);
}

static void test_llama_spm(void **state) {
    (void)state;
    check_vocab_file("llama-spm", RZ_RT_SPACE_PREFIX);
}
static void test_phi3(void **state) {
    (void)state;
    check_vocab_file("phi-3", RZ_RT_SPACE_PREFIX);
}
static void test_gpt2(void **state) {
    (void)state;
    check_vocab_file("gpt-2", RZ_RT_EXACT);
}
static void test_falcon(void **state) {
    (void)state;
    check_vocab_file("falcon", RZ_RT_EXACT);
}
static void test_mpt(void **state) {
    (void)state;
    check_vocab_file("mpt", RZ_RT_EXACT);
}
static void test_starcoder(void **state) {
    (void)state;
    check_vocab_file("starcoder", RZ_RT_EXACT);
}
static void test_deepseek_coder(void **state) {
    (void)state;
    check_vocab_file("deepseek-coder", RZ_RT_EXACT);
}
/* BERT lowercases, strips accents and drops whitespace: the round trip is
 * that the decoded text tokenizes the same again. */
static void test_bert_bge(void **state) {
    (void)state;
    check_vocab_file("bert-bge", RZ_RT_RETOKENIZE);
}

/* llama2.c's run.c encoder on tok512.bin: dummy-prefix space, no BOS. */
static void test_llama2c_runc(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    RZ_REQUIRE_SHARED("models/tok512.bin");
    RZ_REQUIRE_SHARED("testdata/stories260K/tok512.runc.out");
    char tok[4096];
    snprintf(tok, sizeof tok, "%s", rz_test_shared_path("models/tok512.bin"));
    rz_model *m = load_vocab(rz_test_shared_path("models/stories260K.bin"), tok);
    rz_test_check_vectors(m, "testdata/stories260K/tok512.runc.inp", "testdata/stories260K/tok512.runc.out",
                          RZ_RT_SPACE_PREFIX, -1);
    /* Loaded vocab-only: no weights are bound, so nothing can run. */
    assert_int_equal(rz_model_describe(m)->n_vocab, 512);
    assert_int_equal(rz_model_bytes_per_token(m), 0);
    rz_context *ctx = NULL;
    assert_int_equal(rz_context_create(m, NULL, &ctx), RZ_ERR_UNSUPPORTED);
    rz_model_free(m);
}

static void test_vocab_only_refuses_context(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/tokenizer/ggml-vocab-gpt-2.gguf");
    rz_model *m = load_vocab(rz_test_shared_path("testdata/tokenizer/ggml-vocab-gpt-2.gguf"), NULL);
    const rz_model_desc *d = rz_model_describe(m);
    assert_int_equal(d->n_vocab, 50257);
    assert_true(d->has_vocab);
    rz_context *ctx = NULL;
    assert_int_equal(rz_context_create(m, NULL, &ctx), RZ_ERR_UNSUPPORTED);
    assert_null(ctx);
    assert_non_null(strstr(rz_last_error(), "vocab-only"));
    assert_int_equal(rz_model_bytes_per_token(m), 0);
    rz_model_free(m);
    /* Without the flag a vocab-only file is not a runnable model. */
    rz_model *full = NULL;
    assert_int_not_equal(
        rz_model_load(rz_test_shared_path("testdata/tokenizer/ggml-vocab-gpt-2.gguf"), NULL, &full), RZ_OK);
    assert_null(full);
}

/* Control tokens are text unless parse_special; user-defined ones always
 * match; add_special adds what the vocabulary asks for. */
static void test_special_tokens(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    RZ_REQUIRE_SHARED("testdata/tokenizer/ggml-vocab-mpt.gguf");
    RZ_REQUIRE_SHARED("testdata/tokenizer/ggml-vocab-bert-bge.gguf");
    rz_model *spm = load_vocab(rz_test_shared_path("testdata/tokenizer/ggml-vocab-llama-spm.gguf"), NULL);
    const char text[] = "</s>Hello";
    int32_t *ids;
    size_t n = rz_test_tokenize(spm, text, strlen(text), true, true, &ids);
    /* BOS, EOS, then "Hello" with the space prefix a special token earns. */
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 15043);
    free(ids);
    n = rz_test_tokenize(spm, text, strlen(text), false, false, &ids);
    assert_true(n > 3);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], 2);
    free(ids);
    /* Text of a control token is empty when decoded. */
    const char *piece;
    size_t piece_len;
    RZ_ASSERT_OK(rz_token_piece(spm, 2, &piece, &piece_len));
    assert_int_equal(piece_len, 0);
    /* The capacity contract: RZ_ERR_RANGE with the full count. */
    int32_t one[1];
    assert_int_equal(rz_tokenize(spm, "Hello world", 11, false, false, one, 1, &n), RZ_ERR_RANGE);
    assert_int_equal(n, 2);
    rz_model_free(spm);

    rz_model *mpt = load_vocab(rz_test_shared_path("testdata/tokenizer/ggml-vocab-mpt.gguf"), NULL);
    n = rz_test_tokenize(mpt, "a<|endoftext|>", 14, false, false, &ids);
    assert_true(n > 2);
    free(ids);
    n = rz_test_tokenize(mpt, "a<|endoftext|>", 14, false, true, &ids);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], 0);
    free(ids);
    rz_model_free(mpt);

    rz_model *bert = load_vocab(rz_test_shared_path("testdata/tokenizer/ggml-vocab-bert-bge.gguf"), NULL);
    n = rz_test_tokenize(bert, "Hello world", 11, true, false, &ids);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 101); /* [CLS] */
    assert_int_equal(ids[3], 102); /* [SEP] */
    free(ids);
    rz_model_free(bert);
}

/* Invalid UTF-8: SentencePiece falls back to byte tokens and byte-level BPE
 * keeps the bytes, so both give the input back; tokenizing is repeatable. */
static void test_invalid_utf8(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    RZ_REQUIRE_SHARED("testdata/tokenizer/ggml-vocab-gpt-2.gguf");
    const char text[] = "ok \xff\xfe \xc3 caf\xc3\xa9 \xe2\x82 \xed\xa0\x80 \xf0\x9f\x98";
    const size_t len = sizeof text - 1;
    const char *files[2] = {"testdata/tokenizer/ggml-vocab-llama-spm.gguf",
                            "testdata/tokenizer/ggml-vocab-gpt-2.gguf"};
    for (int f = 0; f < 2; f++) {
        rz_model *m = load_vocab(rz_test_shared_path(files[f]), NULL);
        int32_t *a, *b;
        const size_t na = rz_test_tokenize(m, text, len, false, false, &a);
        const size_t nb = rz_test_tokenize(m, text, len, false, false, &b);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        size_t out_len;
        char *out = rz_test_detokenize(m, a, na, &out_len);
        const size_t skip = f == 0 ? 1 : 0; /* SentencePiece's space prefix */
        assert_int_equal(out_len, len + skip);
        assert_memory_equal(out + skip, text, len);
        free(out);
        free(a);
        free(b);
        rz_model_free(m);
    }
}

/* The streaming detokenizer holds back partial characters: "é" and "🦙"
 * arrive as single byte tokens and come out only once complete. */
static void test_streaming_detokenizer(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/tokenizer/ggml-vocab-llama-spm.gguf");
    RZ_REQUIRE_SHARED("testdata/tokenizer/ggml-vocab-gpt-2.gguf");
    const char *files[2] = {"testdata/tokenizer/ggml-vocab-llama-spm.gguf",
                            "testdata/tokenizer/ggml-vocab-gpt-2.gguf"};
    const char text[] = " x\xf0\x9f\xa6\x99y \xe1\x9e\x80\xe1\x9e\xb6 z\xc3\xa9";
    for (int f = 0; f < 2; f++) {
        rz_model *m = load_vocab(rz_test_shared_path(files[f]), NULL);
        int32_t *ids;
        const size_t n = rz_test_tokenize(m, text, sizeof text - 1, false, false, &ids);
        rz_detokenizer d;
        rz_detokenizer_init(&d, m);
        char out[256];
        size_t total = 0;
        int held_back = 0;
        for (size_t i = 0; i < n; i++) {
            size_t len;
            RZ_ASSERT_OK(rz_detokenizer_push(&d, ids[i], out + total, sizeof out - total, &len));
            /* Whatever came out so far is valid UTF-8 ending on a character. */
            for (size_t k = 0; k < len; k++) {
                const unsigned char c = (unsigned char)out[total + k];
                if (k + 1 == len) assert_true(c < 0x80 || (c & 0xc0) == 0x80);
            }
            held_back += d.n_pending > 0;
            total += len;
        }
        assert_int_equal(d.n_pending, 0);
        const size_t skip = f == 0 ? 1 : 0;
        assert_int_equal(total, sizeof text - 1 + skip);
        assert_memory_equal(out + skip, text, sizeof text - 1);
        assert_true(held_back > 0); /* some character did span several tokens */
        free(ids);
        rz_model_free(m);
    }
}

/* GPT-2's byte alphabet: printable Latin-1 bytes are themselves, the other
 * 68 bytes U+0100 onwards, in order. */
static void alphabet_char(int b, char out[3]) {
    int cp = b, k = 0;
    const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    if (!printable) {
        for (int x = 0; x < b; x++)
            k += !((x >= 0x21 && x <= 0x7e) || (x >= 0xa1 && x <= 0xac) || (x >= 0xae && x <= 0xff));
        cp = 0x100 + k;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = '\0';
    } else {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        out[2] = '\0';
    }
}

/* Every pre-tokenizer compiles and splits digits its own way: a vocabulary
 * of the 256 bytes plus "45", "456" and "4567" shows how "4567" was cut. */
static void test_pre_tokenizers(void **state) {
    (void)state;
    static char bytes[256][3];
    rz_str pieces[259];
    for (int b = 0; b < 256; b++) {
        alphabet_char(b, bytes[b]);
        pieces[b] = (rz_str){bytes[b], strlen(bytes[b])};
    }
    pieces[256] = (rz_str){"45", 2};
    pieces[257] = (rz_str){"456", 3};
    pieces[258] = (rz_str){"4567", 4};
    const rz_str merges[] = {{"4 5", 3}, {"45 6", 4}, {"456 7", 5}};
    static const struct {
        const char *pre;
        int32_t ids[4]; /* after "x" and " " */
        size_t n;
    } cases[] = {
        {"gpt-2", {258}, 1},
        {"mpt", {258}, 1},
        {"deepseek-llm", {258}, 1},
        {"poro-chat", {258}, 1},
        {"llama-bpe", {257, 55}, 2},
        {"dbrx", {257, 55}, 2},
        {"default", {257, 55}, 2},
        {"", {257, 55}, 2},
        {"falcon", {257, 55}, 2},
        {"qwen2", {52, 53, 54, 55}, 4},
        {"starcoder", {52, 53, 54, 55}, 4},
        {"refact", {52, 53, 54, 55}, 4},
        {"command-r", {52, 53, 54, 55}, 4},
        {"deepseek-coder", {52, 53, 54, 55}, 4},
    };
    const char text[] = "x 4567";
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const rz_vocab_spec spec = {.kind = RZ_VOCAB_BPE,
                                    .n_tokens = 259,
                                    .pieces = pieces,
                                    .merges = merges,
                                    .n_merges = 3,
                                    .pre = {cases[c].pre, strlen(cases[c].pre)},
                                    .bos = -1,
                                    .eos = -1,
                                    .unk = -1,
                                    .add_bos = RZ_FLAG_DEFAULT,
                                    .add_eos = RZ_FLAG_DEFAULT,
                                    .add_space_prefix = RZ_FLAG_DEFAULT};
        rz_vocab v;
        RZ_ASSERT_OK(rz_vocab_init(&v, &spec));
        int32_t ids[16];
        size_t n;
        RZ_ASSERT_OK(rz_vocab_tokenize(&v, text, sizeof text - 1, false, false, ids, 16, &n));
        if (n != 2 + cases[c].n || ids[0] != 'x' || ids[1] != ' ' ||
            memcmp(ids + 2, cases[c].ids, cases[c].n * sizeof *ids) != 0)
            fail_msg("pre-tokenizer '%s': %zu tokens, third %d", cases[c].pre, n, n > 2 ? ids[2] : -1);
        assert_int_equal(v.add_bos, false); /* no BOS id to add */
        rz_vocab_free(&v);
    }
    const rz_vocab_spec unknown = {.kind = RZ_VOCAB_BPE,
                                   .n_tokens = 259,
                                   .pieces = pieces,
                                   .pre = {"nope", 4},
                                   .bos = -1,
                                   .eos = -1,
                                   .unk = -1};
    rz_vocab v;
    assert_int_equal(rz_vocab_init(&v, &unknown), RZ_ERR_UNSUPPORTED);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llama_spm),
        cmocka_unit_test(test_phi3),
        cmocka_unit_test(test_gpt2),
        cmocka_unit_test(test_falcon),
        cmocka_unit_test(test_mpt),
        cmocka_unit_test(test_starcoder),
        cmocka_unit_test(test_deepseek_coder),
        cmocka_unit_test(test_bert_bge),
        cmocka_unit_test(test_llama2c_runc),
        cmocka_unit_test(test_vocab_only_refuses_context),
        cmocka_unit_test(test_special_tokens),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_streaming_detokenizer),
        cmocka_unit_test(test_pre_tokenizers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
