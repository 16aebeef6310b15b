/* Hugging Face tokenizer files -> GGUF tokenizer metadata: llama.cpp's
 * vocabulary suites through tokenizer.json files made from their GGUFs
 * (tests/tools/gguf_vocab_to_hf.py), tokenizer_config.json, SentencePiece
 * tokenizer.model files, and hostile input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/hf.h"
#include "test_support.h"
#include "vocab_vectors.h"

/* Converts what rz_hf_tokenizer_to_gguf reads from dir into a vocab-only
 * GGUF at gguf_path. */
static rz_status convert_dir(const char *dir, const char *gguf_path) {
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(gguf_path, &w));
    rz_status s = rz_gguf_writer_add_str(w, "general.architecture", "llama");
    if (s == RZ_OK) s = rz_hf_tokenizer_to_gguf(dir, w);
    if (s != RZ_OK) {
        rz_gguf_writer_abort(w);
        return s;
    }
    return rz_gguf_writer_close(w);
}

static rz_model *load_vocab(const char *gguf_path) {
    rz_model_params p = rz_model_default_params();
    p.vocab_only = true;
    rz_model *m = NULL;
    RZ_ASSERT_OK(rz_model_load(gguf_path, &p, &m));
    return m;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    fclose(f);
}

/* A fresh directory for one fake model. */
static const char *make_dir(const char *name, char *buf, size_t cap) {
    snprintf(buf, cap, "%s", rz_test_temp_path(name));
    mkdir(buf, 0755);
    return buf;
}

static void write_in(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_text(path, text);
}

/* ------------------------------------------------------- the test suites */

static const struct {
    const char *name;
    rz_test_round_trip rt;
} SUITES[] = {
    {"llama-spm", RZ_RT_SPACE_PREFIX}, {"phi-3", RZ_RT_SPACE_PREFIX},  {"gpt-2", RZ_RT_EXACT},
    {"falcon", RZ_RT_EXACT},           {"mpt", RZ_RT_EXACT},           {"starcoder", RZ_RT_EXACT},
    {"deepseek-coder", RZ_RT_EXACT},   {"bert-bge", RZ_RT_RETOKENIZE},
};

/* The suite's GGUF -> tokenizer.json (the Python script) -> our converter
 * -> GGUF: the same vocabulary, the same ids for every case. */
static void check_suite(const char *name, rz_test_round_trip rt) {
    char gguf[128], inp[160], out[160];
    snprintf(gguf, sizeof gguf, "testdata/tokenizer/ggml-vocab-%s.gguf", name);
    snprintf(inp, sizeof inp, "%s.inp", gguf);
    snprintf(out, sizeof out, "%s.out", gguf);
    if (!rz_test_shared_available(gguf)) skip();
    char dir[4096], args[9000], converted[4200];
    make_dir(name, dir, sizeof dir);
    snprintf(args, sizeof args, "'%s' '%s' 2>&1", rz_test_shared_path(gguf), dir);
    char *log = NULL;
    const int status = rz_test_python("gguf_vocab_to_hf.py", args, &log);
    if (status == 77 || status == 127) {
        free(log);
        print_message("SKIP: python3 with numpy is needed to write the tokenizer.json files\n");
        skip();
    }
    if (status != 0) fail_msg("gguf_vocab_to_hf.py %s failed:\n%s", name, log);
    free(log);
    snprintf(converted, sizeof converted, "%s.gguf", dir);
    RZ_ASSERT_OK(convert_dir(dir, converted));

    rz_model *m = load_vocab(converted);
    const int cases = rz_test_check_vectors(m, inp, out, rt, 100 /* bert-bge's [UNK] */);
    assert_true(cases >= 40);
    print_message("%s: %d cases\n", name, cases);

    /* Same size, special tokens and token texts as the original vocabulary. */
    rz_model *orig = load_vocab(rz_test_shared_path(gguf));
    const rz_model_desc *a = rz_model_describe(m), *b = rz_model_describe(orig);
    assert_int_equal(a->n_vocab, b->n_vocab);
    assert_int_equal(a->bos, b->bos);
    assert_int_equal(a->eos, b->eos);
    rz_gguf *ga, *gb;
    const rz_gguf_value *ta, *tb;
    RZ_ASSERT_OK(rz_gguf_open(converted, &ga));
    RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path(gguf), &gb));
    RZ_ASSERT_OK(rz_gguf_get_array(ga, "tokenizer.ggml.tokens", RZ_GGUF_STRING, &ta));
    RZ_ASSERT_OK(rz_gguf_get_array(gb, "tokenizer.ggml.tokens", RZ_GGUF_STRING, &tb));
    for (uint64_t id = 0; id < rz_gguf_array_len(tb); id++) {
        const rz_str pa = rz_gguf_array_str(ta, id), pb = rz_gguf_array_str(tb, id);
        if (pa.len != pb.len || memcmp(pa.ptr, pb.ptr, pa.len) != 0)
            fail_msg("%s token %d: '%.*s' instead of '%.*s'", name, (int)id, (int)pa.len, pa.ptr, (int)pb.len,
                     pb.ptr);
    }
    rz_gguf_close(ga);
    rz_gguf_close(gb);
    rz_model_free(orig);
    rz_model_free(m);
}

static void test_vocab_suites(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof SUITES / sizeof SUITES[0]; i++)
        check_suite(SUITES[i].name, SUITES[i].rt);
}

/* ---------------------------------------------------- tokenizer_config */

static void expect_error(rz_status got, rz_status want, const char *words) {
    if (got != want || !strstr(rz_last_error(), words))
        fail_msg("status %d (want %d), message '%s' (want '%s')", got, want, rz_last_error(), words);
}

/* A byte-level BPE over a few letters: "a", "b", "ab", and two added
 * tokens, one special. */
static const char SMALL_JSON[] =
    "{\"added_tokens\": [{\"id\": 3, \"content\": \"<s>\", \"special\": true},"
    "  {\"id\": 4, \"content\": \"</s>\", \"special\": true},"
    "  {\"id\": 5, \"content\": \"<tool>\", \"special\": false}],"
    " \"normalizer\": null,"
    " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true},"
    " \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": "
    "\"<s>\"}},"
    "   {\"Sequence\": {\"id\": \"A\"}}]},"
    " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [[\"a\", "
    "\"b\"]]}}";

static void test_tokenizer_config(void **state) {
    (void)state;
    char dir[4096], gguf_path[4200];
    make_dir("config", dir, sizeof dir);
    write_in(dir, "tokenizer.json", SMALL_JSON);
    write_in(dir, "tokenizer_config.json",
             "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<s>\"}, \"eos_token\": \"</s>\","
             " \"unk_token\": null, \"pad_token\": \"</s>\", \"add_eos_token\": true,"
             " \"chat_template\": [{\"name\": \"default\", \"template\": \"{{ messages }}\"},"
             "   {\"name\": \"tool use\", \"template\": \"{{ tools }}\"}]}");
    /* config.json: two more embedding rows than tokens, an id the tokenizer
     * files leave open, and a list of ids the converter ignores. */
    write_in(dir, "config.json", "{\"vocab_size\": 8, \"unk_token_id\": 1, \"mask_token_id\": [0, 1]}");
    snprintf(gguf_path, sizeof gguf_path, "%s.gguf", dir);
    RZ_ASSERT_OK(convert_dir(dir, gguf_path));

    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(gguf_path, &g));
    uint32_t v;
    bool flag;
    rz_str s;
    RZ_ASSERT_OK(rz_gguf_get_str(g, "tokenizer.ggml.model", &s));
    assert_true(s.len == 4 && memcmp(s.ptr, "gpt2", 4) == 0);
    RZ_ASSERT_OK(rz_gguf_get_str(g, "tokenizer.ggml.pre", &s));
    assert_true(s.len == 5 && memcmp(s.ptr, "gpt-2", 5) == 0);
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &v));
    assert_int_equal(v, 3);
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &v));
    assert_int_equal(v, 4);
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "tokenizer.ggml.padding_token_id", &v));
    assert_int_equal(v, 4);
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "tokenizer.ggml.unknown_token_id", &v));
    assert_int_equal(v, 1);
    assert_int_equal(rz_gguf_get_u32(g, "tokenizer.ggml.mask_token_id", &v), RZ_ERR_NOT_FOUND);
    /* BOS from the post-processor's template, EOS from the config. */
    RZ_ASSERT_OK(rz_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag));
    assert_true(flag);
    RZ_ASSERT_OK(rz_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &flag));
    assert_true(flag);
    RZ_ASSERT_OK(rz_gguf_get_str(g, "tokenizer.chat_template", &s));
    assert_true(s.len == 14 && memcmp(s.ptr, "{{ messages }}", 14) == 0);
    RZ_ASSERT_OK(rz_gguf_get_str(g, "tokenizer.chat_template.tool_use", &s));
    assert_true(s.len == 11 && memcmp(s.ptr, "{{ tools }}", 11) == 0);
    const rz_gguf_value *arr;
    RZ_ASSERT_OK(rz_gguf_get_array(g, "tokenizer.ggml.token_type", RZ_GGUF_INT32, &arr));
    assert_int_equal(rz_gguf_array_len(arr), 8);
    int32_t types[8];
    memcpy(types, rz_gguf_array_data(arr), sizeof types);
    assert_int_equal(types[0], 1);
    assert_int_equal(types[3], 3); /* special: control */
    assert_int_equal(types[5], 4); /* not special: user-defined */
    assert_int_equal(types[7], 5); /* padding: unused */
    RZ_ASSERT_OK(rz_gguf_get_array(g, "tokenizer.ggml.merges", RZ_GGUF_STRING, &arr));
    assert_int_equal(rz_gguf_array_len(arr), 1);
    s = rz_gguf_array_str(arr, 0);
    assert_true(s.len == 3 && memcmp(s.ptr, "a b", 3) == 0);
    rz_gguf_close(g);

    /* The loader takes it: BOS added, "ab" merged, "<tool>" matched. */
    rz_model *m = load_vocab(gguf_path);
    int32_t *ids;
    const size_t n = rz_test_tokenize(m, "ab<tool>", 8, true, false, &ids);
    assert_int_equal(n, 4);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 2);
    assert_int_equal(ids[2], 5);
    assert_int_equal(ids[3], 4);
    free(ids);
    rz_model_free(m);

    /* A single chat template as a string, and a config that is not JSON. */
    write_in(dir, "tokenizer_config.json", "{\"chat_template\": \"{{ x }}\", \"add_bos_token\": false}");
    RZ_ASSERT_OK(convert_dir(dir, gguf_path));
    RZ_ASSERT_OK(rz_gguf_open(gguf_path, &g));
    RZ_ASSERT_OK(rz_gguf_get_str(g, "tokenizer.chat_template", &s));
    assert_true(s.len == 7 && memcmp(s.ptr, "{{ x }}", 7) == 0);
    RZ_ASSERT_OK(rz_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag));
    assert_false(flag);
    rz_gguf_close(g);
    write_in(dir, "tokenizer_config.json", "{\"bos_token\": ");
    expect_error(convert_dir(dir, gguf_path), RZ_ERR_FORMAT, "tokenizer_config.json: invalid JSON");
    write_in(dir, "tokenizer_config.json", "{}");
    write_in(dir, "config.json", "{\"vocab_size\": 4}");
    expect_error(convert_dir(dir, gguf_path), RZ_ERR_FORMAT, "beyond config.json's vocab_size 4");
    write_in(dir, "config.json", "{\"vocab_size\": -4}");
    expect_error(convert_dir(dir, gguf_path), RZ_ERR_FORMAT, "config.json: vocab_size");
}

/* ------------------------------------------------------- tokenizer.model */

static void test_sentencepiece_model(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/tok512.model");
    RZ_REQUIRE_SHARED("models/tok105.model");
    RZ_REQUIRE_SHARED("testdata/stories260K/tok512.runc.out");
    char dir[4096], cmd[9000], gguf_path[4200];
    make_dir("tok512", dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "cp %s %s/tokenizer.model", rz_test_shared_path("models/tok512.model"), dir);
    assert_int_equal(rz_test_run(cmd, NULL), 0);
    snprintf(gguf_path, sizeof gguf_path, "%s.gguf", dir);
    RZ_ASSERT_OK(convert_dir(dir, gguf_path));
    rz_model *m = load_vocab(gguf_path);
    assert_int_equal(rz_model_describe(m)->n_vocab, 512);
    assert_int_equal(rz_model_describe(m)->bos, 1);
    assert_int_equal(rz_model_describe(m)->eos, 2);
    /* The same ids llama2.c's run.c gives with tok512.bin. */
    rz_test_check_vectors(m, "testdata/stories260K/tok512.runc.inp", "testdata/stories260K/tok512.runc.out",
                          RZ_RT_SPACE_PREFIX, -1);
    int32_t *ids;
    const size_t n = rz_test_tokenize(m, "Hello", 5, true, false, &ids);
    assert_true(n >= 2);
    assert_int_equal(ids[0], 1); /* llama.cpp's SentencePiece default: BOS added */
    free(ids);
    rz_model_free(m);

    /* tok105 with a tokenizer_config.json naming an added token. */
    make_dir("tok105", dir, sizeof dir);
    snprintf(cmd, sizeof cmd, "cp %s %s/tokenizer.model", rz_test_shared_path("models/tok105.model"), dir);
    assert_int_equal(rz_test_run(cmd, NULL), 0);
    write_in(dir, "tokenizer_config.json",
             "{\"add_bos_token\": false, \"eos_token\": \"</s>\","
             " \"added_tokens_decoder\": {\"104\": {\"content\": \"<|im_end|>\", \"special\": true}}}");
    write_in(dir, "config.json", "{\"vocab_size\": 128}"); /* padded to 128 embedding rows */
    /* Older files' added tokens: user-defined, matched in text (200 is
     * beyond the vocabulary and dropped, as the converter does). */
    write_in(dir, "added_tokens.json", "{\"<extra>\": 105, \"<gone>\": 200}");
    snprintf(gguf_path, sizeof gguf_path, "%s.gguf", dir);
    RZ_ASSERT_OK(convert_dir(dir, gguf_path));
    m = load_vocab(gguf_path);
    assert_int_equal(rz_model_describe(m)->n_vocab, 128);
    const char *piece;
    size_t len;
    RZ_ASSERT_OK(rz_token_piece(m, 104, &piece, &len));
    assert_int_equal(len, 0); /* now a control token: no text */
    size_t n2 = rz_test_tokenize(m, "a<extra>", 8, false, false, &ids);
    assert_true(n2 >= 2 && ids[n2 - 1] == 105);
    free(ids);
    n2 = rz_test_tokenize(m, "a b", 3, true, false, &ids);
    assert_true(n2 >= 1 && ids[0] != 1); /* no BOS */
    size_t text_len;
    char *text = rz_test_detokenize(m, ids, n2, &text_len);
    assert_true(text_len == 4 && memcmp(text, " a b", 4) == 0);
    free(text);
    free(ids);
    rz_model_free(m);
}

/* --------------------------------------------------------------- hostile */

static rz_status convert_json(const char *json, const char *config) {
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(rz_test_temp_path("hostile.gguf"), &w));
    const rz_status s =
        rz_hf_tokenizer_json_to_gguf(json, strlen(json), config, config ? strlen(config) : 0, w);
    rz_gguf_writer_abort(w);
    return s;
}

static void test_hostile_input(void **state) {
    (void)state;
    expect_error(convert_json("{\"model\": {", NULL), RZ_ERR_FORMAT, "invalid JSON");
    expect_error(convert_json("[1, 2]", NULL), RZ_ERR_FORMAT, "not a JSON object");
    expect_error(convert_json(SMALL_JSON, "[]"), RZ_ERR_FORMAT, "tokenizer_config.json: not a JSON object");
    const char *pre = "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"use_regex\": true}";
    char json[1024];
    snprintf(json, sizeof json,
             "{%s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
             " \"merges\": [\"a c\"]}}",
             pre);
    expect_error(convert_json(json, NULL), RZ_ERR_FORMAT, "names 'c', which is not in the vocabulary");
    snprintf(json, sizeof json,
             "{%s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1},"
             " \"merges\": [\"a b\"]}}",
             pre);
    expect_error(convert_json(json, NULL), RZ_ERR_FORMAT, "makes 'ab'");
    snprintf(json, sizeof json,
             "{%s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}", pre);
    expect_error(convert_json(json, NULL), RZ_ERR_FORMAT, "not two tokens");
    snprintf(json, sizeof json,
             "{%s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 4000000000}, \"merges\": []}}", pre);
    expect_error(convert_json(json, NULL), RZ_ERR_RANGE, "outside");
    snprintf(json, sizeof json,
             "{%s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []}}", pre);
    expect_error(convert_json(json, NULL), RZ_ERR_RANGE, "outside");
    snprintf(json, sizeof json,
             "{%s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0.5}, \"merges\": []}}", pre);
    expect_error(convert_json(json, NULL), RZ_ERR_FORMAT, "not an integer");
    snprintf(json, sizeof json,
             "{%s, \"added_tokens\": [{\"id\": 1e300, \"content\": \"x\"}], \"model\": {\"type\": \"BPE\","
             " \"vocab\": {\"a\": 0}, \"merges\": []}}",
             pre);
    expect_error(convert_json(json, NULL), RZ_ERR_RANGE, "outside");
    snprintf(json, sizeof json,
             "{%s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}", pre);
    expect_error(convert_json(json, NULL), RZ_ERR_FORMAT, "given to both");
    snprintf(json, sizeof json,
             "{%s, \"model\": {\"type\": \"BPE\", \"vocab\": {\"\xc3\x28\": 0}, \"merges\": []}}", pre);
    expect_error(convert_json(json, NULL), RZ_ERR_FORMAT, "not valid UTF-8");
    expect_error(convert_json("{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"type\": \"BPE\","
                              " \"vocab\": {\"a\": 0}, \"merges\": []}}",
                              NULL),
                 RZ_ERR_UNSUPPORTED, "pre-tokenizer Whitespace");
    expect_error(
        convert_json("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+\"},"
                     " \"behavior\": \"Isolated\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0},"
                     " \"merges\": []}}",
                     NULL),
        RZ_ERR_UNSUPPORTED, "not one llama.cpp knows");
    expect_error(convert_json("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", NULL),
                 RZ_ERR_UNSUPPORTED, "Unigram");
    expect_error(convert_json("{\"model\": {\"type\": \"BPE\", \"vocab\": [], \"merges\": []}}", NULL),
                 RZ_ERR_UNSUPPORTED, "pre-tokenizer");

    /* Protobuf: truncated at every length up to 64 bytes and a little past
     * the first piece; a stray wire type; nothing at all. */
    RZ_REQUIRE_SHARED("models/tok512.model");
    size_t size;
    unsigned char *model = rz_test_read_file(rz_test_shared_path("models/tok512.model"), &size);
    assert_non_null(model);
    int refused = 0;
    for (size_t cut = 1; cut < 64 && cut < size; cut++) {
        rz_gguf_writer *w;
        RZ_ASSERT_OK(rz_gguf_writer_open(rz_test_temp_path("hostile.gguf"), &w));
        const rz_status s = rz_hf_spm_model_to_gguf(model, cut, NULL, 0, w);
        rz_gguf_writer_abort(w);
        /* A cut between fields leaves a valid, smaller model. */
        if (s != RZ_OK && (s != RZ_ERR_FORMAT || !strstr(rz_last_error(), "tokenizer.model")))
            fail_msg("cut at %zu: status %d, '%s'", cut, s, rz_last_error());
        refused += s != RZ_OK;
    }
    assert_true(refused > 50);
    const unsigned char bad_wire[] = {0x0b, 0x01};
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(rz_test_temp_path("hostile.gguf"), &w));
    expect_error(rz_hf_spm_model_to_gguf(bad_wire, sizeof bad_wire, NULL, 0, w), RZ_ERR_FORMAT,
                 "wire type 3");
    expect_error(rz_hf_spm_model_to_gguf(model, 0, NULL, 0, w), RZ_ERR_FORMAT, "no pieces");
    rz_gguf_writer_abort(w);
    free(model);

    char dir[4096];
    make_dir("bad-added", dir, sizeof dir);
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "cp %s %s/tokenizer.model", rz_test_shared_path("models/tok512.model"), dir);
    assert_int_equal(rz_test_run(cmd, NULL), 0);
    write_in(dir, "added_tokens.json", "{\"<x>\": -3}");
    RZ_ASSERT_OK(rz_gguf_writer_open(rz_test_temp_path("hostile.gguf"), &w));
    expect_error(rz_hf_tokenizer_to_gguf(dir, w), RZ_ERR_RANGE, "added_tokens.json: token '<x>' has id -3");
    rz_gguf_writer_abort(w);
    make_dir("empty", dir, sizeof dir);
    RZ_ASSERT_OK(rz_gguf_writer_open(rz_test_temp_path("hostile.gguf"), &w));
    expect_error(rz_hf_tokenizer_to_gguf(dir, w), RZ_ERR_NOT_FOUND,
                 "neither tokenizer.json nor tokenizer.model");
    rz_gguf_writer_abort(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_suites),
        cmocka_unit_test(test_tokenizer_config),
        cmocka_unit_test(test_sentencepiece_model),
        cmocka_unit_test(test_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
