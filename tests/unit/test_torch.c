/* PyTorch checkpoints: torch.save files checked against what torch itself
 * reports for them, and hostile archives and pickles, all written at test
 * time by tests/tools/make_torch_fixtures.py (skipped without python3-torch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format/hf.h"
#include "test_support.h"

/* The fixture folder, made once; NULL when torch is unavailable. */
static const char *fixtures(void) {
    static char dir[4096];
    static int status = -1;
    if (status < 0) {
        snprintf(dir, sizeof dir, "%s", rz_test_temp_path("torch"));
        mkdir(dir, 0755);
        char args[4200];
        snprintf(args, sizeof args, "'%s' 2>&1", dir);
        char *output = NULL;
        status = rz_test_python("make_torch_fixtures.py", args, &output);
        if (status != 0 && status != 77 && status != 127)
            fail_msg("fixture script failed (%d):\n%s", status, output);
        free(output);
    }
    if (status != 0) {
        printf("SKIP: python3-torch is not installed\n");
        return NULL;
    }
    return dir;
}

static const char *fixture(const char *name) {
    static char path[8192];
    const char *dir = fixtures();
    if (!dir) skip();
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static rz_type type_of(const char *dtype) {
    static const struct {
        const char *name;
        rz_type type;
    } map[] = {{"F32", RZ_TYPE_F32}, {"F16", RZ_TYPE_F16}, {"BF16", RZ_TYPE_BF16}, {"I8", RZ_TYPE_I8},
               {"U8", RZ_TYPE_I8},   {"I32", RZ_TYPE_I32}, {"I64", RZ_TYPE_I64},   {"F64", RZ_TYPE_F64}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, dtype) == 0) return map[i].type;
    fail_msg("unknown dtype %s in expected.txt", dtype);
    return RZ_TYPE_COUNT;
}

/* One "tensor <name> <dtype> <shape> <hex>" line against tensor t. */
static void check_tensor(const rz_hf_tensor *t, char *line, const char *file) {
    char *save = NULL;
    strtok_r(line, " ", &save);
    const char *name = strtok_r(NULL, " ", &save), *dtype = strtok_r(NULL, " ", &save);
    char *shape = strtok_r(NULL, " ", &save);
    const char *hex = strtok_r(NULL, " ", &save);
    assert_non_null(hex);
    if (strcmp(t->name, name) != 0) fail_msg("%s: tensor '%s', expected '%s'", file, t->name, name);
    assert_string_equal(t->dtype, dtype);
    assert_int_equal(t->type, type_of(dtype));
    uint64_t dims[RZ_MAX_DIMS];
    uint32_t n = 0;
    if (strcmp(shape, "-") != 0)
        for (char *s = NULL, *d = strtok_r(shape, ",", &s); d; d = strtok_r(NULL, ",", &s))
            dims[n++] = strtoull(d, NULL, 10);
    assert_int_equal(t->n_dims, n);
    for (uint32_t i = 0; i < RZ_MAX_DIMS; i++)
        assert_int_equal(t->ne[i], i < n ? dims[n - 1 - i] : 1);
    const size_t size = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2;
    assert_int_equal(t->size, size);
    const unsigned char *data = t->data;
    for (size_t i = 0; i < size; i++) {
        unsigned byte;
        sscanf(hex + 2 * i, "%2x", &byte);
        if (data[i] != byte)
            fail_msg("%s: tensor '%s' byte %zu is %02x, expected %02x", file, name, i, data[i], byte);
    }
}

/* The tensors listed under "file <section>" in expected.txt. */
static void check_checkpoint(const rz_torch *t, const char *manifest, const char *section, const char *file) {
    char header[128];
    snprintf(header, sizeof header, "file %s ", section);
    const char *at = strstr(manifest, header);
    assert_non_null(at);
    const uint64_t count = strtoull(at + strlen(header), NULL, 10);
    if (rz_torch_tensor_count(t) != count)
        fail_msg("%s: %llu tensors, expected %llu", file, (unsigned long long)rz_torch_tensor_count(t),
                 (unsigned long long)count);
    at = strchr(at, '\n') + 1;
    for (uint64_t i = 0; i < count; i++) {
        const char *end = strchr(at, '\n');
        char *line = strndup(at, (size_t)(end - at));
        check_tensor(rz_torch_tensor_at(t, i), line, file);
        free(line);
        at = end + 1;
    }
    assert_null(rz_torch_tensor_at(t, count));
}

static void check_file(const char *manifest, const char *section, const char *file) {
    const char *path = fixture(file);
    rz_torch *t;
    RZ_ASSERT_OK(rz_torch_open(path, &t));
    check_checkpoint(t, manifest, section, file);
    rz_torch_close(t);
    /* The same bytes from memory, as the fuzzer sees them. */
    size_t size;
    void *data = rz_test_read_file(path, &size);
    assert_non_null(data);
    RZ_ASSERT_OK(rz_torch_open_memory(data, size, &t));
    check_checkpoint(t, manifest, section, file);
    rz_torch_close(t);
    free(data);
}

static void test_torch_save_fixtures(void **state) {
    (void)state;
    char *manifest = rz_test_read_file(fixture("expected.txt"), NULL);
    assert_non_null(manifest);
    int files = 0;
    for (const char *at = manifest; (at = strstr(at, "file ")) != NULL; at++) {
        char file[128], second[128], third[128];
        const int n = sscanf(at, "file %127s %127s %127s", file, second, third);
        /* "file zip64.pt same ordered.pt": the tensors of ordered.pt. */
        check_file(manifest, n == 3 && strcmp(second, "same") == 0 ? third : file, file);
        files++;
    }
    assert_int_equal(files, 6);
    free(manifest);
}

static void expect_refused(const char *file, rz_status status, const char *cause) {
    rz_torch *t = (rz_torch *)1;
    const rz_status s = rz_torch_open(fixture(file), &t);
    if (s != status)
        fail_msg("%s: expected %s, got %s (%s)", file, rz_status_name(status), rz_status_name(s),
                 rz_last_error());
    assert_null(t);
    const char *msg = rz_last_error();
    if (strncmp(msg, "torch: ", 7) != 0 || strchr(msg, '\n') || !strstr(msg, cause))
        fail_msg("%s: message '%s' should start with 'torch: ' and mention '%s'", file, msg, cause);
}

static void test_hostile_checkpoints(void **state) {
    (void)state;
    /* The intact archive the damaged ones are made from. */
    rz_torch *t;
    RZ_ASSERT_OK(rz_torch_open(fixture("hostile_base.pt"), &t));
    assert_int_equal(rz_torch_tensor_count(t), 1);
    assert_string_equal(rz_torch_tensor_at(t, 0)->name, "w");
    rz_torch_close(t);

    static const struct {
        const char *file;
        rz_status status;
        const char *cause;
    } cases[] = {
        {"hostile_global_os.pt", RZ_ERR_UNSUPPORTED, "global 'os system' is not allowed"},
        {"hostile_stack_global.pt", RZ_ERR_UNSUPPORTED, "global 'builtins eval' is not allowed"},
        {"hostile_getattr.pt", RZ_ERR_UNSUPPORTED, "global '__builtin__ getattr' is not allowed"},
        {"hostile_call_storage.pt", RZ_ERR_FORMAT, "call of a torch storage type"},
        {"hostile_deep.pt", RZ_ERR_FORMAT, "nesting deeper than 64"},
        {"hostile_memo.pt", RZ_ERR_FORMAT, "memo key was never stored"},
        {"hostile_no_stop.pt", RZ_ERR_FORMAT, "without STOP"},
        {"hostile_truncated.pt", RZ_ERR_FORMAT, "no zip end-of-central-directory"},
        {"hostile_cd_past_eof.pt", RZ_ERR_FORMAT, "central directory (offset"},
        {"hostile_overlap.pt", RZ_ERR_FORMAT, "'archive/data.pkl' and 'archive/data/0' overlap"},
        {"hostile_deflated.pt", RZ_ERR_UNSUPPORTED, "compressed (method 8)"},
        {"hostile_legacy_magic.pt", RZ_ERR_UNSUPPORTED, "legacy (non-zip)"},
        {"hostile_big_endian.pt", RZ_ERR_UNSUPPORTED, "big-endian"},
        {"hostile_storage_numel.pt", RZ_ERR_FORMAT, "5 F32 elements needs more than its entry's 16 bytes"},
        {"hostile_offset.pt", RZ_ERR_FORMAT, "at offset 1 runs past its storage"},
        {"hostile_huge_offset.pt", RZ_ERR_FORMAT, "runs past its storage"},
        {"hostile_noncontiguous.pt", RZ_ERR_UNSUPPORTED, "strides (1, 2), not contiguous"},
        {"hostile_transposed.pt", RZ_ERR_UNSUPPORTED, "not contiguous"},
        {"hostile_huge_dims.pt", RZ_ERR_FORMAT, "overflows"},
        {"hostile_huge_empty.pt", RZ_ERR_FORMAT, "overflows"},
        {"hostile_5d.pt", RZ_ERR_UNSUPPORTED, "5 dimensions"},
        {"hostile_missing_storage.pt", RZ_ERR_FORMAT, "no archive entry 'archive/data/9'"},
        {"hostile_not_dict.pt", RZ_ERR_UNSUPPORTED, "holds a list, not a dict"},
        {"hostile_duplicate.pt", RZ_ERR_FORMAT, "'a.b' appears twice"},
        {"hostile_cycle.pt", RZ_ERR_FORMAT, "reachable twice"},
        {"hostile_deep_dicts.pt", RZ_ERR_RANGE, "nested deeper than 16"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_refused(cases[i].file, cases[i].status, cases[i].cause);
}

static void expect_memory_refused(const void *data, size_t size, rz_status status, const char *cause) {
    rz_torch *t = (rz_torch *)1;
    const rz_status s = rz_torch_open_memory(data, size, &t);
    if (s != status)
        fail_msg("expected %s, got %s (%s)", rz_status_name(status), rz_status_name(s), rz_last_error());
    assert_null(t);
    if (!strstr(rz_last_error(), cause)) fail_msg("message '%s' should mention '%s'", rz_last_error(), cause);
}

/* Needs no torch. */
static void test_not_checkpoints(void **state) {
    (void)state;
    expect_memory_refused(NULL, 0, RZ_ERR_FORMAT, "no zip end-of-central-directory record in 0 bytes");
    expect_memory_refused("GGUF\x03\0\0\0", 8, RZ_ERR_FORMAT, "not a torch.save archive");
    static const unsigned char legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc,
                                           0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8};
    expect_memory_refused(legacy, sizeof legacy, RZ_ERR_UNSUPPORTED, "legacy (non-zip) torch.save format");
    /* An empty archive: just the end record. */
    static const unsigned char empty_zip[22] = {'P', 'K', 5, 6};
    expect_memory_refused(empty_zip, sizeof empty_zip, RZ_ERR_FORMAT, "no data.pkl");
    expect_memory_refused(NULL, 4, RZ_ERR_INVALID_ARG, "no buffer");
    rz_torch *t = (rz_torch *)1;
    assert_int_equal(rz_torch_open(rz_test_temp_path("missing.pt"), &t), RZ_ERR_IO);
    assert_null(t);
    assert_int_equal(rz_torch_open(NULL, &t), RZ_ERR_INVALID_ARG);
    rz_torch_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torch_save_fixtures),
        cmocka_unit_test(test_hostile_checkpoints),
        cmocka_unit_test(test_not_checkpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
