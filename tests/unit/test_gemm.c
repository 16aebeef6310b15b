/* Tiled products against rows of the type's vec_dot (their reference), on
 * random blocks, every tile shape and odd block counts; tiles that read
 * another activation type (rz_type_act_type) get the same floats in it. */
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
    enum { ROWS = RZ_GEMM_MAX_ROWS, TOKENS = RZ_GEMM_MAX_TOKENS };
    const rz_type_traits *t = rz_type_traits_get(type);
    const rz_type_traits *at = rz_type_traits_get(t->vec_dot_type);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    const int64_t lengths[] = {32, 64, 96, 256, 1280, 2048 + 32, 2048 + 48};
    const rz_vec_dot_fn dot = rz_type_vec_dot(type, RZ_ISA_SCALAR);
    uint64_t seed = 7;
    for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
        const int64_t n = lengths[li];
        if (n % t->block_size) continue;
        const uint64_t w_bytes = rz_row_bytes(t, (uint64_t)n), x_bytes = rz_row_bytes(at, (uint64_t)n);
        unsigned char *w = malloc(ROWS * w_bytes);
        unsigned char *x = malloc(TOKENS * x_bytes);
        float *values = malloc((size_t)n * sizeof(float)),
              *tokens = malloc(TOKENS * (size_t)n * sizeof(float));
        for (int r = 0; r < ROWS; r++) {
            for (int64_t i = 0; i < n; i++)
                values[i] = rz_test_rand_uniform(&seed, -1.0f, 1.0f);
            values[r] = 3.0f; /* an outlier per row */
            t->from_float(values, w + r * w_bytes, n);
        }
        for (int k = 0; k < TOKENS; k++) {
            for (int64_t i = 0; i < n; i++)
                tokens[k * n + i] = rz_test_rand_uniform(&seed, -2.0f, 2.0f);
            rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR)(tokens + k * n, x + k * x_bytes, n);
        }
        /* References and tolerances, computed once for every tile shape. */
        float ref[TOKENS][ROWS], tol[TOKENS][ROWS];
        for (int k = 0; k < TOKENS; k++)
            for (int r = 0; r < ROWS; r++) {
                dot(n, &ref[k][r], w + r * w_bytes, x + k * x_bytes);
                /* Summation order differs: bound by the size of the terms. */
                tol[k][r] = 1e-5f * fmaxf(1.0f, abs_dot(t, at, w + r * w_bytes, x + k * x_bytes, n));
            }
        for (int p = 0; p < n_paths; p++) {
            const rz_gemm_kernel *g = rz_type_gemm(type, paths[p]);
            if (!g) continue;
            assert_true(g->rows >= 1 && g->rows <= ROWS && g->tokens >= 1 && g->tokens <= TOKENS);
            const rz_type gt = rz_type_act_type(type, g);
            const uint64_t gx_bytes = rz_row_bytes(rz_type_traits_get(gt), (uint64_t)n);
            unsigned char *gx = malloc(TOKENS * gx_bytes);
            for (int k = 0; k < TOKENS; k++)
                rz_type_from_float_act(gt, RZ_ISA_SCALAR)(tokens + k * n, gx + k * gx_bytes, n);
            for (int nr = 1; nr <= g->rows; nr++) {
                for (int nt = 1; nt <= g->tokens; nt++) {
                    float y[TOKENS * ROWS];
                    memset(y, 0, sizeof y);
                    g->tile(n, w, w_bytes, nr, gx, gx_bytes, nt, y, ROWS);
                    for (int k = 0; k < TOKENS; k++)
                        for (int r = 0; r < ROWS; r++) {
                            const float got = y[k * ROWS + r];
                            if (k >= nt || r >= nr) {
                                assert_true(got == 0.0f); /* outside the tile: not stored */
                                continue;
                            }
                            if (fabsf(got - ref[k][r]) > tol[k][r])
                                fail_msg("%s %s n=%lld tile %dx%d [%d,%d]: %.9g vs %.9g", rz_type_name(type),
                                         rz_isa_name(paths[p]), (long long)n, nr, nt, r, k, got, ref[k][r]);
                        }
                }
            }
            free(gx);
        }
        free(w);
        free(x);
        free(values);
        free(tokens);
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
