#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "base/threadpool.h"
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

enum { IDLE_REGIONS = 2000, IDLE_BYTES = 1 << 20 };

typedef struct idle_job {
    rz_threadpool *pool;
    const char *buf;
    _Alignas(64) int count[2][16]; /* one cache line per thread */
} idle_job;

/* Every thread leaves an idle prefetch behind, of one range or two, of every
 * size from empty to the whole buffer, and of odd lengths. */
static void idle_task(void *arg, int ith, int nth) {
    (void)nth;
    idle_job *job = arg;
    const int done = job->count[ith][0]++;
    const size_t bytes = (size_t)done * 977 % (IDLE_BYTES + 1);
    const rz_byte_range ranges[2] = {{job->buf + (size_t)(done % 7), bytes},
                                     {job->buf + (size_t)(done % 5), bytes / 2}};
    rz_threadpool_prefetch_while_idle(job->pool, ith, ranges, 1 + done % 2);
}

/* Regions keep running, every thread once per region, while threads prefetch
 * between them. */
static void test_threadpool_idle_prefetch(void **state) {
    (void)state;
    static idle_job job;
    char *buf = rz_calloc_aligned(IDLE_BYTES + 64, 1);
    assert_non_null(buf);
    RZ_ASSERT_OK(rz_threadpool_create(2, &job.pool));
    job.buf = buf;
    for (int r = 0; r < IDLE_REGIONS; r++)
        rz_threadpool_run(job.pool, idle_task, &job);
    assert_int_equal(job.count[0][0], IDLE_REGIONS);
    assert_int_equal(job.count[1][0], IDLE_REGIONS);
    rz_threadpool_free(job.pool);
    rz_free_aligned(buf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message),
        cmocka_unit_test(test_overflow_helpers),
        cmocka_unit_test(test_isa_selection),
        cmocka_unit_test(test_threadpool_idle_prefetch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
