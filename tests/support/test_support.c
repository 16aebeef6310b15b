#include "test_support.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tensor/type_traits.h"

const char *rz_test_shared_path(const char *relative) {
    static char path[4096];
    const char *root = getenv("RZ_SHARED_DIR");
    if (!root || !*root) root = RZ_DEFAULT_SHARED_DIR;
    snprintf(path, sizeof path, "%s/%s", root, relative);
    return path;
}

int rz_test_shared_available(const char *relative) {
    const char *path = rz_test_shared_path(relative);
    if (access(path, R_OK) == 0) return 1;
    printf("SKIP: shared data %s is absent (set RZ_SHARED_DIR)\n", path);
    return 0;
}

const char *rz_test_temp_path(const char *name) {
    static char dir[2048];
    static char path[4096];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/test-tmp-%d", RZ_TEST_BINARY_DIR, (int)getpid());
        mkdir(dir, 0755);
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

void *rz_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (size) *size = (size_t)n;
    }
    return buf;
}

const char *rz_test_cli(void) {
    const char *cli = getenv("RZ_CLI");
    return cli && *cli ? cli : "rz";
}

int rz_test_run(const char *command, char **output) {
    FILE *p = popen(command, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    if (buf) buf[len] = '\0';
    int status = pclose(p);
    if (output)
        *output = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

uint64_t rz_test_rand_u64(uint64_t *state) {
    /* splitmix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

float rz_test_rand_uniform(uint64_t *state, float lo, float hi) {
    return lo + (hi - lo) * (float)((rz_test_rand_u64(state) >> 40) * 0x1.0p-24);
}

int rz_test_isa_paths(rz_isa paths[RZ_ISA_COUNT]) {
    int n = 0;
    for (int i = 0; i <= (int)rz_isa_best(); i++)
        paths[n++] = (rz_isa)i;
    return n;
}

double rz_test_abs_dot(rz_type w_type, const void *w, const void *x, int64_t n) {
    const rz_type_traits *t = rz_type_traits_get(w_type);
    float *wf = malloc((size_t)n * sizeof *wf), *xf = malloc((size_t)n * sizeof *xf);
    t->to_float(w, wf, n);
    rz_type_traits_get(t->vec_dot_type)->to_float(x, xf, n);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs((double)wf[i] * xf[i]);
    free(wf);
    free(xf);
    return sum;
}

int rz_test_python(const char *script, const char *args, char **output) {
    /* Scripts sit in the source tree: tests/tools, beside this file's folder. */
    char dir[2048], cmd[8192];
    snprintf(dir, sizeof dir, "%s", __FILE__);
    *strrchr(dir, '/') = '\0';
    const char *python = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    snprintf(cmd, sizeof cmd, "%s '%s/../tools/%s' %s", python, dir, script, args);
    return rz_test_run(cmd, output);
}

void rz_test_assert_same_tensors(const rz_gguf *want, const rz_gguf *got) {
    rz_test_assert_close_tensors(want, got, NULL, 0.0f);
}

void rz_test_assert_close_tensors(const rz_gguf *want, const rz_gguf *got, const char *loose, float rel) {
    assert_int_equal(rz_gguf_tensor_count(got), rz_gguf_tensor_count(want));
    for (uint64_t i = 0; i < rz_gguf_tensor_count(want); i++) {
        const rz_gguf_tensor *w = rz_gguf_tensor_at(want, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)w->name.len, w->name.ptr);
        const rz_gguf_tensor *g = rz_gguf_find_tensor(got, name);
        if (!g) fail_msg("tensor '%s' is missing", name);
        assert_int_equal(g->type, w->type);
        assert_memory_equal(g->ne, w->ne, sizeof w->ne);
        assert_int_equal(g->size, w->size);
        if (!loose || !strstr(name, loose)) {
            if (memcmp(g->data, w->data, w->size) != 0) fail_msg("tensor '%s' differs", name);
            continue;
        }
        assert_int_equal(w->type, RZ_TYPE_F32);
        for (size_t k = 0; k < w->size / sizeof(float); k++) {
            float x, y;
            memcpy(&x, (const char *)w->data + k * sizeof x, sizeof x);
            memcpy(&y, (const char *)g->data + k * sizeof y, sizeof y);
            if (!(fabsf(x - y) <= rel * fabsf(x)))
                fail_msg("tensor '%s' differs at %zu: %g, not %g", name, k, (double)y, (double)x);
        }
    }
}

const char *rz_test_unknown_arch_gguf(void) {
    const char *path = rz_test_temp_path("unknown-arch.gguf");
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(path, &w));
    RZ_ASSERT_OK(rz_gguf_writer_add_str(w, "general.architecture", "jamba"));
    const uint64_t ne[2] = {4, 4};
    const float zeros[16] = {0};
    RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, "token_embd.weight", RZ_TYPE_F32, 2, ne));
    RZ_ASSERT_OK(rz_gguf_writer_begin_data(w));
    RZ_ASSERT_OK(rz_gguf_writer_write(w, zeros, sizeof zeros));
    RZ_ASSERT_OK(rz_gguf_writer_close(w));
    return path;
}
