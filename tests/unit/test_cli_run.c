/* rz run and rz eval from the command line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

static char model[4096], tokenizer[4096];

static int setup(void **state) {
    (void)state;
    snprintf(model, sizeof model, "%s", rz_test_shared_path("models/stories260K.bin"));
    snprintf(tokenizer, sizeof tokenizer, "%s", rz_test_shared_path("models/tok512.bin"));
    return 0;
}

static int rz(const char *args, char **out) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s", rz_test_cli(), args);
    return rz_test_run(cmd, out);
}

static void test_ids_and_text_agree(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    char args[10000], *ids, *text;
    snprintf(args, sizeof args, "run -m %s -z %s -p 'Once upon a time' -n 20 --temp 0 --ids 2>/dev/null",
             model, tokenizer);
    assert_int_equal(rz(args, &ids), 0);
    snprintf(args, sizeof args, "run -m %s -z %s -p 'Once upon a time' -n 20 --temp 0 2>/dev/null", model,
             tokenizer);
    assert_int_equal(rz(args, &text), 0);
    /* 20 ids on one line; the text starts with the prompt. */
    int count = 0;
    for (char *p = strtok(ids, " \n"); p; p = strtok(NULL, " \n"))
        count++;
    assert_int_equal(count, 20);
    assert_true(strncmp(text, "Once upon a time", 16) == 0);
    free(ids);
    free(text);
}

static void test_stop_string_and_stats(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    char args[10000], *out;
    snprintf(args, sizeof args, "run -m %s -z %s -p 'Once upon a time' -n 100 --temp 0 -r Lily 2>&1", model,
             tokenizer);
    assert_int_equal(rz(args, &out), 0);
    assert_null(strstr(out, "Lily"));
    assert_non_null(strstr(out, "load time:"));
    assert_non_null(strstr(out, "tok/s"));
    free(out);
}

/* Interactive mode keeps the KV cache: the second turn continues the first. */
static void test_interactive_keeps_cache(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    char args[10000], *out;
    snprintf(args, sizeof args, "run -m %s -z %s -n 8 --temp 0 -i < /dev/null 2>/dev/null", model, tokenizer);
    assert_int_equal(rz(args, &out), 0);
    free(out);
    snprintf(
        args, sizeof args,
        "run -m %s -z %s -n 8 --temp 0 -c 64 -i 2>/dev/null <<'EOF'\nOnce upon a time\nTom\nand\nthe\nEOF",
        model, tokenizer);
    assert_int_equal(rz(args, &out), 0);
    int lines = 0;
    for (char *p = out; *p; p++)
        lines += *p == '\n';
    assert_true(lines >= 3);
    free(out);
}

/* The text of a greedy run that saves its state after n tokens, then of
 * one that loads it and goes on for n more: together, an uninterrupted
 * greedy run of 2n tokens. `model_args` picks the model. */
static void state_continues(const char *model_args) {
    char args[10000], *first, *second, *whole;
    const char *path = rz_test_temp_path("run.state");
    snprintf(args, sizeof args, "run %s -p 'Once upon a time' -n 12 --temp 0 --save-state %s 2>/dev/null",
             model_args, path);
    assert_int_equal(rz(args, &first), 0);
    snprintf(args, sizeof args, "run %s -n 12 --temp 0 --load-state %s 2>/dev/null", model_args, path);
    assert_int_equal(rz(args, &second), 0);
    snprintf(args, sizeof args, "run %s -p 'Once upon a time' -n 24 --temp 0 2>/dev/null", model_args);
    assert_int_equal(rz(args, &whole), 0);
    /* Each output ends in a newline after the generated text. */
    const size_t n1 = strlen(first) - 1, n2 = strlen(second) - 1;
    assert_int_equal(strlen(whole), n1 + n2 + 1);
    assert_memory_equal(whole, first, n1);
    assert_memory_equal(whole + n1, second, n2);
    free(first);
    free(second);
    free(whole);
}

static void test_state_continues(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    char args[10000];
    snprintf(args, sizeof args, "-m %s -z %s", model, tokenizer);
    state_continues(args);
}

static void test_state_continues_recurrent(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/arch/rwkv7.gguf");
    char args[16000];
    snprintf(args, sizeof args, "-m %s", rz_test_shared_path("testdata/arch/rwkv7.gguf"));
    state_continues(args);
    /* Another model's state is refused with the reason. */
    char *out;
    snprintf(args, sizeof args, "run -m %s -z %s -p x -n 1 --load-state %s 2>&1", model, tokenizer,
             rz_test_temp_path("run.state"));
    assert_int_equal(rz(args, &out), 1);
    assert_non_null(strstr(out, "cannot load the state: state: saved from a rwkv7 model"));
    free(out);
}

static void test_usage_errors(void **state) {
    (void)state;
    char *out;
    assert_int_equal(rz("run -p hi 2>&1", &out), 2); /* no model */
    assert_non_null(strstr(out, "no model"));
    free(out);
    assert_int_equal(rz("run -m /nonexistent.gguf 2>&1", &out), 1);
    assert_non_null(strstr(out, "cannot"));
    assert_null(strchr(strchr(out, '\n') + 1, '\n')); /* one line */
    free(out);
    assert_int_equal(rz("run -m x --temp hot 2>&1", &out), 2);
    free(out);
    assert_int_equal(rz("run -m x -i --save-state f 2>&1", &out), 2);
    assert_non_null(strstr(out, "do not go with -i"));
    free(out);
    assert_int_equal(rz("eval -m x 2>&1", &out), 2);
    free(out);
}

static void test_eval_writes_rows(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    char args[10000];
    const char *path = rz_test_temp_path("eval.f32");
    snprintf(args, sizeof args, "eval -m %s --ids '1 403 407 261 378' --logits-out %s 2>/dev/null", model,
             path);
    assert_int_equal(rz(args, NULL), 0);
    size_t batch_size;
    float *batch = rz_test_read_file(path, &batch_size);
    assert_int_equal(batch_size, 5 * 512 * sizeof(float));
    snprintf(args, sizeof args, "eval -m %s --ids '1,403,407,261,378' --seq --logits-out %s 2>/dev/null",
             model, path);
    assert_int_equal(rz(args, NULL), 0);
    size_t seq_size;
    float *seq = rz_test_read_file(path, &seq_size);
    assert_int_equal(seq_size, batch_size);
    for (size_t i = 0; i < 5 * 512; i++)
        assert_float_equal(batch[i], seq[i], 1e-4);
    free(batch);
    free(seq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_and_text_agree),        cmocka_unit_test(test_stop_string_and_stats),
        cmocka_unit_test(test_interactive_keeps_cache),   cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_eval_writes_rows),          cmocka_unit_test(test_state_continues),
        cmocka_unit_test(test_state_continues_recurrent),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
