/* Reading ../shared/testdata/arch (README there): a model's JSON and its
 * float32 output files. For the tests that link cJSON. */
#ifndef RZ_TEST_ARCH_REF_H
#define RZ_TEST_ARCH_REF_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "test_support.h"

/* testdata/arch/NAME.json, parsed (cJSON_Delete it). */
static inline cJSON *arch_json(const char *name) {
    char rel[128];
    snprintf(rel, sizeof rel, "testdata/arch/%s.json", name);
    char *text = rz_test_read_file(rz_test_shared_path(rel), NULL);
    assert_non_null(text);
    cJSON *j = cJSON_Parse(text);
    free(text);
    assert_non_null(j);
    return j;
}

/* Up to cap integers of a JSON array; returns how many. */
static inline size_t arch_ids(const cJSON *arr, int32_t *out, size_t cap) {
    size_t n = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, arr) {
        if (n < cap) out[n++] = (int32_t)v->valuedouble;
    }
    return n;
}

/* Marks the prompt positions (< cap) where a MoE router's choice is a
 * near-tie (moe_router_probe.fragile_prompt_positions). */
static inline void arch_fragile(const cJSON *j, bool *fragile, size_t cap) {
    const cJSON *v;
    cJSON_ArrayForEach(
        v, cJSON_GetObjectItem(cJSON_GetObjectItem(j, "moe_router_probe"), "fragile_prompt_positions")) {
        if (v->valueint >= 0 && (size_t)v->valueint < cap) fragile[v->valueint] = true;
    }
}

/* testdata/arch/NAME.SUFFIX: exactly n floats (free it). */
static inline float *arch_floats(const char *name, const char *suffix, size_t n) {
    char rel[128];
    snprintf(rel, sizeof rel, "testdata/arch/%s.%s", name, suffix);
    size_t bytes;
    float *v = rz_test_read_file(rz_test_shared_path(rel), &bytes);
    assert_non_null(v);
    assert_int_equal(bytes, n * sizeof(float));
    return v;
}

#endif
