/* Tiled products against rows of the type's vec_dot (their reference), on
 * random blocks, every tile shape and odd block counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quants.h"
#include "tensor/type_traits.h"
#include "test_support.h"

/* sum |w_i * x_i| of one weight row and one activation row. */
static float abs_dot(const rz_type_traits *t, const rz_type_traits *at, const void *w, const void *x,
                     int64_t n) {
    float *wf = malloc((size_t)n * sizeof *wf), *xf = malloc((size_t)n * sizeof *xf);
    t->to_float(w, wf, n);
    at->to_float(x, xf, n);
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += fabs((double)wf[i] * xf[i]);
    free(wf);
    free(xf);
    return (float)sum;
}

static void check_type(rz_type type) {
    const rz_type_traits *t = rz_type_traits_get(type);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    const int64_t lengths[] = {32, 64, 96, 256, 1280, 2048 + 32, 2048 + 48};
    uint64_t seed = 7;
    for (int p = 0; p < n_paths; p++) {
        rz_gemm_tile_fn tile = rz_type_gemm_tile(type, paths[p]);
        if (!tile) continue;
        const rz_vec_dot_fn dot = rz_type_vec_dot(type, RZ_ISA_SCALAR);
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            const int64_t n = lengths[li];
            if (n % t->block_size) continue;
            const rz_type_traits *at = rz_type_traits_get(t->vec_dot_type);
            const uint64_t w_bytes = rz_row_bytes(t, (uint64_t)n), x_bytes = rz_row_bytes(at, (uint64_t)n);
            unsigned char *w = malloc(RZ_GEMM_TILE * w_bytes);
            unsigned char *x = malloc(RZ_GEMM_TILE_TOKENS * x_bytes);
            float *values = malloc((size_t)n * sizeof(float));
            for (int r = 0; r < RZ_GEMM_TILE; r++) {
                for (int64_t i = 0; i < n; i++)
                    values[i] = rz_test_rand_uniform(&seed, -1.0f, 1.0f);
                values[r] = 3.0f; /* an outlier per row */
                t->from_float(values, w + r * w_bytes, n);
            }
            for (int k = 0; k < RZ_GEMM_TILE_TOKENS; k++) {
                for (int64_t i = 0; i < n; i++)
                    values[i] = rz_test_rand_uniform(&seed, -2.0f, 2.0f);
                rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR)(values, x + k * x_bytes, n);
            }
            for (int nr = 1; nr <= RZ_GEMM_TILE; nr++) {
                for (int nt = 1; nt <= RZ_GEMM_TILE_TOKENS; nt++) {
                    float y[RZ_GEMM_TILE_TOKENS * RZ_GEMM_TILE];
                    memset(y, 0, sizeof y);
                    tile(n, w, w_bytes, nr, x, x_bytes, nt, y, RZ_GEMM_TILE);
                    for (int k = 0; k < nt; k++) {
                        for (int r = 0; r < nr; r++) {
                            float ref;
                            dot(n, &ref, w + r * w_bytes, x + k * x_bytes);
                            const float got = y[k * RZ_GEMM_TILE + r];
                            /* Summation order differs: bound by the size of the terms. */
                            if (fabsf(got - ref) >
                                1e-5f * fmaxf(1.0f, abs_dot(t, at, w + r * w_bytes, x + k * x_bytes, n)))
                                fail_msg("%s %s n=%lld tile %dx%d [%d,%d]: %.9g vs %.9g", rz_type_name(type),
                                         rz_isa_name(paths[p]), (long long)n, nr, nt, r, k, got, ref);
                        }
                    }
                }
            }
            free(w);
            free(x);
            free(values);
        }
    }
}

static void test_q4_0(void **state) {
    (void)state;
    check_type(RZ_TYPE_Q4_0);
}

static void test_q8_0(void **state) {
    (void)state;
    check_type(RZ_TYPE_Q8_0);
}

static void test_f16(void **state) {
    (void)state;
    check_type(RZ_TYPE_F16);
}

static void test_bf16(void **state) {
    (void)state;
    check_type(RZ_TYPE_BF16);
}

static void test_tq1_0(void **state) {
    (void)state;
    check_type(RZ_TYPE_TQ1_0);
}

static void test_tq2_0(void **state) {
    (void)state;
    check_type(RZ_TYPE_TQ2_0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0), cmocka_unit_test(test_q8_0),  cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16), cmocka_unit_test(test_tq1_0), cmocka_unit_test(test_tq2_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
