#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "test_support.h"

static void test_error_message(void **state) {
    (void)state;
    rz_status s = rz_error(RZ_ERR_FORMAT, "gguf: bad magic %d", 7);
    assert_int_equal(s, RZ_ERR_FORMAT);
    assert_string_equal(rz_last_error(), "gguf: bad magic 7");
    rz_error_prefix(RZ_ERR_FORMAT, "loading '%s'", "x.gguf");
    assert_string_equal(rz_last_error(), "loading 'x.gguf': gguf: bad magic 7");
}

static void test_overflow_helpers(void **state) {
    (void)state;
    uint64_t out;
    assert_true(rz_mul_overflow(UINT64_MAX / 2 + 1, 2, &out));
    assert_false(rz_mul_overflow(1u << 20, 1u << 20, &out));
    assert_int_equal(out, 1ull << 40);
    assert_true(rz_add_overflow(UINT64_MAX, 1, &out));
    assert_int_equal(rz_align_up(33, 32), 64);
}

static void test_isa_selection(void **state) {
    (void)state;
    const rz_cpu_info *cpu = rz_cpu_info_get();
    assert_true(cpu->logical_cores >= 1);
    assert_true(cpu->physical_cores >= 1);
    rz_isa best = rz_isa_best();
    for (int i = 0; i <= (int)best; i++) {
        RZ_ASSERT_OK(rz_isa_set((rz_isa)i));
        assert_int_equal(rz_isa_active(), i);
    }
    if (best < RZ_ISA_AVX512) assert_int_equal(rz_isa_set(RZ_ISA_AVX512), RZ_ERR_UNSUPPORTED);
    rz_isa parsed;
    RZ_ASSERT_OK(rz_isa_parse("AVX2", &parsed));
    assert_int_equal(parsed, RZ_ISA_AVX2);
    assert_int_equal(rz_isa_parse("sse9", &parsed), RZ_ERR_INVALID_ARG);
    rz_isa_set(best);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_overflow_helpers),
        cmocka_unit_test(test_isa_selection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
