/* rz tokenize: ids and pieces from vocab-only GGUFs and llama2.c checkpoints,
 * byte-exact file input, special-token flags and usage errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

#define VOCAB(name) "testdata/tokenizer/ggml-vocab-" name ".gguf"

static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...) {
    char args[8192], command[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(command, sizeof command, "'%s' tokenize %s 2>&1", rz_test_cli(), args);
    return rz_test_run(command, out);
}

static void test_ids(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(VOCAB("gpt-2"));
    char *out;
    assert_int_equal(run(&out, "-m '%s' -p 'Hello world' --ids", rz_test_shared_path(VOCAB("gpt-2"))), 0);
    assert_string_equal(out, "15496 995\n");
    free(out);
    /* Pieces, one per line, with their decoded text. */
    assert_int_equal(run(&out, "-m '%s' -p 'Hello world'", rz_test_shared_path(VOCAB("gpt-2"))), 0);
    assert_string_equal(out, "15496\t'Hello'\n995\t' world'\n");
    free(out);
}

static void test_file_is_byte_exact(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(VOCAB("llama-spm"));
    const char *path = rz_test_temp_path("tokenize.txt");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("Hello\n\n", f); /* trailing newlines are kept */
    fclose(f);
    char *out;
    assert_int_equal(
        run(&out, "-m '%s' -f '%s' --ids --add-special", rz_test_shared_path(VOCAB("llama-spm")), path), 0);
    assert_string_equal(out, "1 15043 13 13\n");
    free(out);
}

static void test_special_flags(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(VOCAB("gpt-2"));
    char *out;
    assert_int_equal(
        run(&out, "-m '%s' -p 'a<|endoftext|>' --ids --parse-special", rz_test_shared_path(VOCAB("gpt-2"))),
        0);
    assert_string_equal(out, "64 50256\n");
    free(out);
    assert_int_equal(run(&out, "-m '%s' -p 'a<|endoftext|>' --ids", rz_test_shared_path(VOCAB("gpt-2"))), 0);
    assert_null(strstr(out, "50256"));
    free(out);
}

static void test_llama2c_checkpoint(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    RZ_REQUIRE_SHARED("models/tok512.bin");
    char model[4096];
    snprintf(model, sizeof model, "%s", rz_test_shared_path("models/stories260K.bin"));
    char *out;
    assert_int_equal(run(&out, "-m '%s' -z '%s' -p 'Once upon a time' --ids --add-special", model,
                         rz_test_shared_path("models/tok512.bin")),
                     0);
    assert_string_equal(out, "1 403 407 261 378\n"); /* testdata/stories260K/once.txt */
    free(out);
    /* Without -z there is no tokenizer to use. */
    assert_int_equal(run(&out, "-m '%s' -p x", model), 1);
    assert_non_null(strstr(out, "-z"));
    free(out);
}

static void test_usage_errors(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED(VOCAB("gpt-2"));
    char *out;
    assert_int_equal(run(&out, "-m '%s'", rz_test_shared_path(VOCAB("gpt-2"))), 2);
    free(out);
    assert_int_equal(run(&out, "-p text"), 2);
    free(out);
    assert_int_equal(run(&out, "-m '%s' -p a --bogus", rz_test_shared_path(VOCAB("gpt-2"))), 2);
    free(out);
    assert_int_equal(run(&out, "-m /nonexistent.gguf -p a"), 1);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),           cmocka_unit_test(test_file_is_byte_exact),
        cmocka_unit_test(test_special_flags), cmocka_unit_test(test_llama2c_checkpoint),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
