/* Every ISA path of the recurrences (kernels/recurrent.h) against the scalar
 * reference on random inputs and states: several steps so that the states
 * feed back, ragged head sizes, channel counts and state sizes for the
 * masked tails, and Mamba 2's scan split in two head ranges as threads
 * call it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ryzanstein.h"

#include "kernels/recurrent.h"
#include "test_support.h"

enum { STEPS = 3 };
#define TOL 1e-5

static uint64_t rng = 11;

static float *random_floats(size_t n, float lo, float hi) {
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = rz_test_rand_uniform(&rng, lo, hi);
    return p;
}

static float *copy(const float *src, size_t n) {
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    memcpy(p, src, n * sizeof *p);
    return p;
}

/* max |got - want| within TOL of the largest |want|. */
static void check(const char *what, rz_isa isa, int64_t size, const float *got, const float *want, size_t n) {
    double worst = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - want[i]);
        if (!(d <= worst)) worst = d;
        if (fabs(want[i]) > scale) scale = fabs(want[i]);
    }
    if (!(worst <= TOL * scale))
        fail_msg("%s on %s (size %lld): max abs %g, largest %g", what, rz_isa_name(isa), (long long)size,
                 worst, scale);
}

/* The non-scalar paths this CPU runs. */
static int simd_paths(rz_isa out[RZ_ISA_COUNT]) {
    rz_isa all[RZ_ISA_COUNT];
    int n = 0;
    for (int p = 0, count = rz_test_isa_paths(all); p < count; p++)
        if (all[p] != RZ_ISA_SCALAR) out[n++] = all[p];
    return n;
}

static void test_wkv6(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 8, 24, 64, 100}, H = 3;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = simd_paths(paths);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t N = sizes[si], E = H * N;
        float *r = random_floats(STEPS * E, -1, 1), *k = random_floats(STEPS * E, -1, 1),
              *v = random_floats(STEPS * E, -1, 1), *w = random_floats(STEPS * E, 0.05f, 1),
              *u = random_floats(E, -1, 1), *s0 = random_floats(E * N, -1, 1);
        float *want_s = copy(s0, E * N), *want_y = malloc(STEPS * E * sizeof(float));
        RZ_ASSERT_OK(rz_isa_set(RZ_ISA_SCALAR));
        for (int t = 0; t < STEPS; t++)
            rz_wkv6(want_y + t * E, want_s, r + t * E, k + t * E, v + t * E, w + t * E, u, H, N);
        for (int p = 0; p < n_paths; p++) {
            RZ_ASSERT_OK(rz_isa_set(paths[p]));
            float *s = copy(s0, E * N), *y = malloc(STEPS * E * sizeof(float));
            for (int t = 0; t < STEPS; t++)
                rz_wkv6(y + t * E, s, r + t * E, k + t * E, v + t * E, w + t * E, u, H, N);
            check("wkv6 y", paths[p], N, y, want_y, STEPS * E);
            check("wkv6 state", paths[p], N, s, want_s, E * N);
            free(s);
            free(y);
        }
        free(r), free(k), free(v), free(w), free(u), free(s0), free(want_s), free(want_y);
    }
}

static void test_wkv7(void **state) {
    (void)state;
    const int64_t sizes[] = {1, 8, 24, 64, 100}, H = 3;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = simd_paths(paths);
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const int64_t N = sizes[si], E = H * N;
        const float ab = 1.0f / sqrtf((float)N); /* a and b as L2-normed keys are */
        float *r = random_floats(STEPS * E, -1, 1), *w = random_floats(STEPS * E, 0.5f, 1),
              *k = random_floats(STEPS * E, -1, 1), *v = random_floats(STEPS * E, -1, 1),
              *a = random_floats(STEPS * E, -ab, ab), *b = random_floats(STEPS * E, -ab, ab),
              *s0 = random_floats(E * N, -1, 1);
        float *want_s = copy(s0, E * N), *want_y = malloc(STEPS * E * sizeof(float));
        RZ_ASSERT_OK(rz_isa_set(RZ_ISA_SCALAR));
        for (int t = 0; t < STEPS; t++)
            rz_wkv7(want_y + t * E, want_s, r + t * E, w + t * E, k + t * E, v + t * E, a + t * E, b + t * E,
                    H, N);
        for (int p = 0; p < n_paths; p++) {
            RZ_ASSERT_OK(rz_isa_set(paths[p]));
            float *s = copy(s0, E * N), *y = malloc(STEPS * E * sizeof(float));
            for (int t = 0; t < STEPS; t++)
                rz_wkv7(y + t * E, s, r + t * E, w + t * E, k + t * E, v + t * E, a + t * E, b + t * E, H, N);
            check("wkv7 y", paths[p], N, y, want_y, STEPS * E);
            check("wkv7 state", paths[p], N, s, want_s, E * N);
            free(s);
            free(y);
        }
        free(r), free(w), free(k), free(v), free(a), free(b), free(s0), free(want_s), free(want_y);
    }
}

/* Runs shorter and longer than the window, rows wider than the channels. */
static void test_ssm_conv(void **state) {
    (void)state;
    const int64_t kernels[] = {1, 2, 4, 7}, channels[] = {1, 13, 64, 291}, runs[] = {1, 2, 9};
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = simd_paths(paths);
    for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++)
        for (size_t ci = 0; ci < sizeof channels / sizeof channels[0]; ci++)
            for (size_t ri = 0; ri < sizeof runs / sizeof runs[0]; ri++) {
                const int64_t K = kernels[ki], C = channels[ci], T = runs[ri], xs = C + 5, ys = C + 3;
                float *x = random_floats(T * xs, -1, 1), *w = random_floats(C * K, -1, 1),
                      *win0 = random_floats(C * (K - 1) + 1, -1, 1);
                float *want_win = copy(win0, C * (K - 1) + 1), *want_y = random_floats(T * ys, 0, 0);
                RZ_ASSERT_OK(rz_isa_set(RZ_ISA_SCALAR));
                rz_ssm_conv(want_y, ys, want_win, x, xs, T, w, C, K);
                for (int p = 0; p < n_paths; p++) {
                    RZ_ASSERT_OK(rz_isa_set(paths[p]));
                    float *win = copy(win0, C * (K - 1) + 1), *y = random_floats(T * ys, 0, 0);
                    rz_ssm_conv(y, ys, win, x, xs, T, w, C, K);
                    check("conv y", paths[p], C * 100 + K, y, want_y, T * ys);
                    check("conv window", paths[p], C * 100 + K, win, want_win, C * (K - 1) + 1);
                    free(win);
                    free(y);
                }
                free(x), free(w), free(win0), free(want_win), free(want_y);
            }
}

/* dt past softplus's linear cut (20) and A as Mamba's -exp(A_log). */
static void test_ssm_scan1(void **state) {
    (void)state;
    const int64_t d_states[] = {16, 20, 128}, C = 37;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = simd_paths(paths);
    for (size_t di = 0; di < sizeof d_states / sizeof d_states[0]; di++) {
        const int64_t S = d_states[di];
        float *x = random_floats(STEPS * C, -2, 2), *dt = random_floats(STEPS * C, -5, 25),
              *A = random_floats(C * S, -8, -0.05f), *B = random_floats(STEPS * S, -1, 1),
              *Cm = random_floats(STEPS * S, -1, 1), *s0 = random_floats(C * S, -1, 1);
        float *want_s = copy(s0, C * S), *want_y = malloc(STEPS * C * sizeof(float));
        RZ_ASSERT_OK(rz_isa_set(RZ_ISA_SCALAR));
        for (int t = 0; t < STEPS; t++)
            rz_ssm_scan1(want_y + t * C, want_s, x + t * C, dt + t * C, A, B + t * S, Cm + t * S, C, S);
        for (int p = 0; p < n_paths; p++) {
            RZ_ASSERT_OK(rz_isa_set(paths[p]));
            float *s = copy(s0, C * S), *y = malloc(STEPS * C * sizeof(float));
            for (int t = 0; t < STEPS; t++)
                rz_ssm_scan1(y + t * C, s, x + t * C, dt + t * C, A, B + t * S, Cm + t * S, C, S);
            check("scan1 y", paths[p], S, y, want_y, STEPS * C);
            check("scan1 state", paths[p], S, s, want_s, C * S);
            free(s);
            free(y);
        }
        free(x), free(dt), free(A), free(B), free(Cm), free(s0), free(want_s), free(want_y);
    }
}

static void test_ssm_scan2(void **state) {
    (void)state;
    const int64_t d_states[] = {16, 20, 128}, head_dims[] = {5, 16}, groups[] = {1, 2, 3}, H = 6;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = simd_paths(paths);
    for (size_t di = 0; di < sizeof d_states / sizeof d_states[0]; di++)
        for (size_t hi = 0; hi < sizeof head_dims / sizeof head_dims[0]; hi++)
            for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
                const int64_t S = d_states[di], P = head_dims[hi], G = groups[gi], C = H * P;
                float *x = random_floats(STEPS * C, -2, 2), *dt = random_floats(STEPS * H, -5, 25),
                      *A = random_floats(H, -8, -0.05f), *B = random_floats(STEPS * G * S, -1, 1),
                      *Cm = random_floats(STEPS * G * S, -1, 1), *s0 = random_floats(C * S, -1, 1);
                float *want_s = copy(s0, C * S), *want_y = malloc(STEPS * C * sizeof(float));
                RZ_ASSERT_OK(rz_isa_set(RZ_ISA_SCALAR));
                for (int t = 0; t < STEPS; t++)
                    rz_ssm_scan2(want_y + t * C, want_s, x + t * C, dt + t * H, A, B + t * G * S,
                                 Cm + t * G * S, 0, H, H, P, S, G);
                for (int p = 0; p < n_paths; p++) {
                    RZ_ASSERT_OK(rz_isa_set(paths[p]));
                    float *s = copy(s0, C * S), *y = malloc(STEPS * C * sizeof(float));
                    for (int t = 0; t < STEPS; t++)
                        for (int64_t h0 = 0; h0 < H; h0 += 4) /* heads [0, 4) and [4, 6) */
                            rz_ssm_scan2(y + t * C, s, x + t * C, dt + t * H, A, B + t * G * S,
                                         Cm + t * G * S, h0, h0 + 4 < H ? h0 + 4 : H, H, P, S, G);
                    check("scan2 y", paths[p], S * 100 + P, y, want_y, STEPS * C);
                    check("scan2 state", paths[p], S * 100 + P, s, want_s, C * S);
                    free(s);
                    free(y);
                }
                free(x), free(dt), free(A), free(B), free(Cm), free(s0), free(want_s), free(want_y);
            }
}

static int restore_isa(void **state) {
    (void)state;
    return rz_isa_set(rz_isa_best()) == RZ_OK ? 0 : -1;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_wkv6, restore_isa),
        cmocka_unit_test_teardown(test_wkv7, restore_isa),
        cmocka_unit_test_teardown(test_ssm_conv, restore_isa),
        cmocka_unit_test_teardown(test_ssm_scan1, restore_isa),
        cmocka_unit_test_teardown(test_ssm_scan2, restore_isa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
