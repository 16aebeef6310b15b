/* The binary built here must run on older CPUs: under QEMU's user-mode
 * emulation of an AVX2-only (Haswell) and an SSE4-only (Nehalem) CPU, rz
 * must pick the matching path and still reproduce llama2.c's output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_support.h"

static void run_on(const char *cpu, const char *expected_isa) {
#ifdef RZ_SANITIZE_BUILD
    printf("SKIP: sanitizer runtimes do not run under QEMU user-mode emulation\n");
    skip();
#endif
    if (access("/usr/bin/qemu-x86_64", X_OK) != 0) {
        printf("SKIP: qemu-x86_64 is not installed (Debian package qemu-user)\n");
        skip();
    }
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    char cmd[8192], *out;
    /* without RZ_ISA: the path detection picks is the point */
    snprintf(cmd, sizeof cmd, "env -u RZ_ISA qemu-x86_64 -cpu %s %s info --cpu 2>/dev/null", cpu,
             rz_test_cli());
    assert_int_equal(rz_test_run(cmd, &out), 0);
    char want[64];
    snprintf(want, sizeof want, "detected %s, using %s", expected_isa, expected_isa);
    if (!strstr(out, want)) fail_msg("%s: expected '%s' in:\n%s", cpu, want, out);
    free(out);

    char model[4096];
    snprintf(model, sizeof model, "%s", rz_test_shared_path("models/stories260K.bin"));
    /* Emulation is slow: 48 steps, compared with the start of run.c's 200. */
    snprintf(cmd, sizeof cmd,
             "env -u RZ_ISA qemu-x86_64 -cpu %s %s run -m %s -z %s --temp 0 -n 48 2>/dev/null", cpu,
             rz_test_cli(), model, rz_test_shared_path("models/tok512.bin"));
    assert_int_equal(rz_test_run(cmd, &out), 0);
    char *expected = rz_test_read_file(rz_test_shared_path("testdata/stories260K/run_t0_n200.stdout"), NULL);
    assert_non_null(expected);
    const size_t len = strlen(out);
    assert_true(len > 100 && out[len - 1] == '\n');
    assert_memory_equal(out, expected, len - 1);
    free(out);
    free(expected);
}

static void test_avx2_only_cpu(void **state) {
    (void)state;
    run_on("Haswell", "avx2");
}

static void test_pre_avx_cpu(void **state) {
    (void)state;
    run_on("Nehalem", "scalar");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avx2_only_cpu),
        cmocka_unit_test(test_pre_avx_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
