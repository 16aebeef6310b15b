/* Helpers shared by the unit tests. */
#ifndef RZ_TEST_SUPPORT_H
#define RZ_TEST_SUPPORT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ryzanstein.h"

/* Path of a file under the shared data folder: $RZ_SHARED_DIR, or ../shared
 * beside the source tree. Returns a static buffer. */
const char *rz_test_shared_path(const char *relative);
/* True if that file exists; otherwise prints why the caller will skip. */
int rz_test_shared_available(const char *relative);
/* Skip the current cmocka test unless the shared file is present. */
#define RZ_REQUIRE_SHARED(rel)                                                                               \
    do {                                                                                                     \
        if (!rz_test_shared_available(rel)) skip();                                                          \
    } while (0)

/* A fresh path in a per-test temporary directory (static buffer). */
const char *rz_test_temp_path(const char *name);
/* A GGUF in the temporary directory of an architecture no release runs
 * ("jamba"): its name and one tensor. Returns its path. */
const char *rz_test_unknown_arch_gguf(void);

/* Whole file into memory (malloc'd); NULL if unreadable. */
void *rz_test_read_file(const char *path, size_t *size);

/* Path of the rz CLI built alongside the tests ($RZ_CLI). */
const char *rz_test_cli(void);

/* Run a shell command; returns its exit status (or -1). Output captured into
 * *output (malloc'd, NUL-terminated) when output is not NULL. */
int rz_test_run(const char *command, char **output);

/* Runs tests/tools/SCRIPT under Debian's python3 (/usr/bin/python3 when
 * present: it has the Debian python3-* modules) with `args` (shell words);
 * returns its exit status: 77 means a module it needs is missing, 127 no
 * python3. Output captured as in rz_test_run. */
int rz_test_python(const char *script, const char *args, char **output);

/* `got` has exactly the tensors of `want`: names, types, shapes, bytes. */
void rz_test_assert_same_tensors(const rz_gguf *want, const rz_gguf *got);
/* The same, but F32 tensors whose names contain `loose` may differ by
 * `rel` relative to the wanted value. */
void rz_test_assert_close_tensors(const rz_gguf *want, const rz_gguf *got, const char *loose, float rel);

/* Assert with the library's last error message in the failure report. */
#define RZ_ASSERT_OK(expr)                                                                                   \
    do {                                                                                                     \
        rz_status rz_assert_status_ = (expr);                                                                \
        if (rz_assert_status_ != RZ_OK) fail_msg("%s failed: %s", #expr, rz_last_error());                   \
    } while (0)

/* Deterministic pseudo-random numbers for tests. */
uint64_t rz_test_rand_u64(uint64_t *state);
float rz_test_rand_uniform(uint64_t *state, float lo, float hi);

/* The ISA paths this CPU supports, scalar first; returns the count. */
int rz_test_isa_paths(rz_isa paths[RZ_ISA_COUNT]);

/* sum |w_i x_i| over n decoded values of a row of weight type w_type and an
 * activation row in its vec_dot_type: the scale of a dot's rounding error. */
double rz_test_abs_dot(rz_type w_type, const void *w, const void *x, int64_t n);

#endif
