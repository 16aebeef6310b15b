/* Tiled products against rows of the type's vec_dot (their reference), on
 * random blocks, every tile shape and odd block counts. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/quants.h"
#include "tensor/type_traits.h"
#include "test_support.h"

static void check_type(rz_type type) {
    const rz_type_traits *t = rz_type_traits_get(type);
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    const int64_t lengths[] = {32, 64, 96, 2048 + 32};
    uint64_t seed = 7;
    for (int p = 0; p < n_paths; p++) {
        rz_gemm_tile_fn tile = rz_type_gemm_tile(type, paths[p]);
        if (!tile) continue;
        const rz_vec_dot_fn dot = rz_type_vec_dot(type, RZ_ISA_SCALAR);
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            const int64_t n = lengths[li];
            const uint64_t w_bytes = rz_row_bytes(t, (uint64_t)n), x_bytes = (uint64_t)n / 32 * sizeof(rz_block_q8_0);
            unsigned char *w = malloc(RZ_GEMM_TILE * w_bytes);
            unsigned char *x = malloc(RZ_GEMM_TILE_TOKENS * x_bytes);
            float *values = malloc((size_t)n * sizeof(float));
            for (int r = 0; r < RZ_GEMM_TILE; r++) {
                for (int64_t i = 0; i < n; i++) values[i] = rz_test_rand_uniform(&seed, -1.0f, 1.0f);
                values[r] = 3.0f; /* an outlier per row */
                t->from_float(values, w + r * w_bytes, n);
            }
            for (int k = 0; k < RZ_GEMM_TILE_TOKENS; k++) {
                for (int64_t i = 0; i < n; i++) values[i] = rz_test_rand_uniform(&seed, -2.0f, 2.0f);
                rz_quantize_row_q8_0(values, x + k * x_bytes, n);
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
                            if (fabsf(got - ref) > 1e-5f * fmaxf(1.0f, fabsf(ref)))
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q4_0),
        cmocka_unit_test(test_q8_0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
