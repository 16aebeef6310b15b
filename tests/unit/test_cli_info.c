/* `rz info` on GGUF files: every shared test file, text and JSON, plus the
 * failures (corrupt GGUF, unknown format). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

static int run_info(const char *path, const char *extra, char **output) {
    char command[16384 + 64];
    snprintf(command, sizeof command, "'%s' info '%s' %s", rz_test_cli(), path, extra);
    return rz_test_run(command, output);
}

static void assert_contains(const char *text, const char *fragment) {
    if (!strstr(text, fragment)) fail_msg("output lacks '%s':\n%s", fragment, text);
}

static void info_ok(const char *path) {
    char *out;
    int rc = run_info(path, "", &out);
    if (rc != 0) fail_msg("rz info %s: exit %d", path, rc);
    assert_contains(out, "format:         GGUF v");
    assert_contains(out, "architecture:");
    assert_contains(out, "tokenizer:");
    assert_contains(out, "totals:");
    free(out);
    rc = run_info(path, "--json", &out);
    if (rc != 0) fail_msg("rz info --json %s: exit %d", path, rc);
    assert_contains(out, "\"format\":\t\"gguf\"");
    assert_contains(out, "\"tensors\":\t[");
    assert_contains(out, "\"totals\":\t{");
    free(out);
}

static int info_all(const char *dir_rel) {
    char dir_path[4096];
    snprintf(dir_path, sizeof dir_path, "%s", rz_test_shared_path(dir_rel));
    DIR *dir = opendir(dir_path);
    assert_non_null(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
        info_ok(path);
        n++;
    }
    closedir(dir);
    return n;
}

static void test_info_shared(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/ggml-quants/llama.F32.gguf");
    RZ_REQUIRE_SHARED("testdata/tokenizer");
    assert_true(info_all("testdata/ggml-quants") >= 13);
    assert_true(info_all("testdata/tokenizer") >= 8);

    char *out;
    const char *f32 = rz_test_shared_path("testdata/ggml-quants/llama.F32.gguf");
    assert_int_equal(run_info(f32, "", &out), 0);
    assert_contains(out, "architecture:   llama\n");
    assert_contains(out, "llama.block_count");
    assert_contains(out, "tokenizer.ggml.scores                    array [512 items]");
    assert_contains(out, "  tokens         512\n");
    assert_contains(out, "output.weight                    f32      256 x 512");
    assert_contains(out, "totals:         21 tensors, 1836288 parameters, 7345152 bytes");
    assert_contains(out, "(32.000 bits/weight)");
    free(out);
    assert_int_equal(run_info(f32, "--json", &out), 0);
    assert_contains(out, "\"architecture\":\t\"llama\"");
    assert_contains(out, "\"llama.block_count\":\t2");
    assert_contains(out, "\"tensors\":\t21");
    free(out);

    assert_int_equal(run_info(rz_test_shared_path("testdata/tokenizer/ggml-vocab-phi-3.gguf"), "", &out), 0);
    assert_contains(out, "chat template  yes");
    free(out);
}

static void test_info_errors(void **state) {
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", rz_test_temp_path("corrupt.gguf"));
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    /* Header claiming 2^60 key/value pairs. */
    const uint32_t version = 3;
    const uint64_t counts[2] = {0, 1ull << 60};
    fwrite("GGUF", 1, 4, f);
    fwrite(&version, 4, 1, f);
    fwrite(counts, 8, 2, f);
    fclose(f);
    char *out;
    assert_int_equal(run_info(path, "2>&1", &out), 1);
    assert_contains(out, "gguf: kv count 1152921504606846976 cannot fit");
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
    free(out);

    f = fopen(path, "wb");
    fputs("not a model at all", f);
    fclose(f);
    /* Neither GGUF nor a llama2.c checkpoint: one line, exit code 1. */
    assert_int_equal(run_info(path, "2>&1", &out), 1);
    assert_contains(out, "rz info: ");
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
}

/* Files with weights are described as the model the engine loads, or
 * refused in one line naming what it cannot load. */
static void test_info_model(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/arch/gemma3.gguf");
    char *out;
    assert_int_equal(run_info(rz_test_shared_path("testdata/arch/gemma3.gguf"), "", &out), 0);
    assert_contains(out, "  heads                  4 x 32 = 128 query, 2 x 32 = 64 key/value\n");
    assert_contains(out, "  rope                   neox, 32 of 32 dims, base 1e+06, linear scale 1/8\n");
    assert_contains(out, "  sliding window         32 on 2 of every 3 layers, rope base 10000 there\n");
    free(out);
    assert_int_equal(run_info(rz_test_shared_path("testdata/arch/qwen3moe.gguf"), "--json", &out), 0);
    assert_contains(out, "\"head_dim\":\t32");
    assert_contains(out, "\"q_dim\":\t128");
    assert_contains(out, "\"n_expert\":\t8");
    assert_contains(out, "\"n_ff_exp\":\t64");
    assert_contains(out, "\"expert_weights_norm\":\ttrue");
    free(out);
    assert_int_equal(run_info(rz_test_unknown_arch_gguf(), "2>&1", &out), 1);
    assert_contains(out, "architecture 'jamba' is not supported");
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_info_shared),
        cmocka_unit_test(test_info_errors),
        cmocka_unit_test(test_info_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
