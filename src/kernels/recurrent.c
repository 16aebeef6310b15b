#include "kernels/recurrent.h"

#include <math.h>
#include <string.h>

#include "kernels/isa/recurrent.h"
#include "ryzanstein.h"

/* Each recurrence goes through the active ISA's path; the scalar loops are
 * the reference the others are tested against. */

void rz_wkv6(float *y, float *state, const float *r, const float *k, const float *v, const float *w,
             const float *u, int64_t n_heads, int64_t N) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_wkv6_avx512(y, state, r, k, v, w, u, n_heads, N); return;
    case RZ_ISA_AVX2: rz_wkv6_avx2(y, state, r, k, v, w, u, n_heads, N); return;
    default: break;
    }
    for (int64_t h = 0; h < n_heads; h++) {
        float *S = state + h * N * N, *yh = y + h * N;
        const float *rh = r + h * N, *kh = k + h * N, *vh = v + h * N, *wh = w + h * N, *uh = u + h * N;
        memset(yh, 0, (size_t)N * sizeof *yh);
        for (int64_t i = 0; i < N; i++) {
            float *Si = S + i * N;
            for (int64_t j = 0; j < N; j++) {
                const float kv = kh[i] * vh[j];
                yh[j] += (kv * uh[i] + Si[j]) * rh[i];
                Si[j] = Si[j] * wh[i] + kv;
            }
        }
    }
}

void rz_wkv7(float *y, float *state, const float *r, const float *w, const float *k, const float *v,
             const float *a, const float *b, int64_t n_heads, int64_t N) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_wkv7_avx512(y, state, r, w, k, v, a, b, n_heads, N); return;
    case RZ_ISA_AVX2: rz_wkv7_avx2(y, state, r, w, k, v, a, b, n_heads, N); return;
    default: break;
    }
    for (int64_t h = 0; h < n_heads; h++) {
        float *S = state + h * N * N;
        const int64_t o = h * N;
        for (int64_t i = 0; i < N; i++) {
            float *Si = S + i * N;
            float sa = 0.0f, acc = 0.0f;
            for (int64_t j = 0; j < N; j++)
                sa += a[o + j] * Si[j];
            for (int64_t j = 0; j < N; j++) {
                Si[j] = Si[j] * w[o + j] + v[o + i] * k[o + j] + sa * b[o + j];
                acc += Si[j] * r[o + j];
            }
            y[o + i] = acc;
        }
    }
}

void rz_ssm_conv(float *y, int64_t y_stride, float *window, const float *x, int64_t x_stride,
                 int64_t n_tokens, const float *w, int64_t n_ch, int64_t k) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_ssm_conv_avx512(y, y_stride, window, x, x_stride, n_tokens, w, n_ch, k); return;
    case RZ_ISA_AVX2: rz_ssm_conv_avx2(y, y_stride, window, x, x_stride, n_tokens, w, n_ch, k); return;
    default: break;
    }
    for (int64_t t = 0; t < n_tokens; t++)
        for (int64_t c = 0; c < n_ch; c++) {
            float *win = window + c * (k - 1);
            const float *wc = w + c * k, xc = x[t * x_stride + c];
            float sum = 0.0f;
            for (int64_t i = 0; i < k - 1; i++)
                sum += win[i] * wc[i];
            y[t * y_stride + c] = sum + xc * wc[k - 1];
            if (k > 1) {
                memmove(win, win + 1, (size_t)(k - 2) * sizeof *win);
                win[k - 2] = xc;
            }
        }
}

float rz_softplus(float x) { return x > 20.0f ? x : logf(1.0f + expf(x)); }

void rz_ssm_scan1(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
                  const float *C, int64_t n_inner, int64_t d_state) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512: rz_ssm_scan1_avx512(y, state, x, dt, A, B, C, n_inner, d_state); return;
    case RZ_ISA_AVX2: rz_ssm_scan1_avx2(y, state, x, dt, A, B, C, n_inner, d_state); return;
    default: break;
    }
    for (int64_t c = 0; c < n_inner; c++) {
        const float d = rz_softplus(dt[c]), xd = x[c] * d;
        float *S = state + c * d_state;
        const float *Ac = A + c * d_state;
        float sum = 0.0f;
        for (int64_t s = 0; s < d_state; s++) {
            S[s] = S[s] * expf(d * Ac[s]) + B[s] * xd;
            sum += S[s] * C[s];
        }
        y[c] = sum;
    }
}

void rz_ssm_scan2(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
                  const float *C, int64_t h0, int64_t h1, int64_t n_heads, int64_t head_dim, int64_t d_state,
                  int64_t n_group) {
    switch (rz_isa_active()) {
    case RZ_ISA_AVX512:
        rz_ssm_scan2_avx512(y, state, x, dt, A, B, C, h0, h1, n_heads, head_dim, d_state, n_group);
        return;
    case RZ_ISA_AVX2:
        rz_ssm_scan2_avx2(y, state, x, dt, A, B, C, h0, h1, n_heads, head_dim, d_state, n_group);
        return;
    default: break;
    }
    for (int64_t h = h0; h < h1; h++) {
        const float d = rz_softplus(dt[h]), dA = expf(d * A[h]);
        const int64_t g = h / (n_heads / n_group);
        const float *Bg = B + g * d_state, *Cg = C + g * d_state;
        for (int64_t i = 0; i < head_dim; i++) {
            const int64_t c = h * head_dim + i;
            const float xd = x[c] * d;
            float *S = state + c * d_state;
            float sum = 0.0f;
            for (int64_t s = 0; s < d_state; s++) {
                S[s] = S[s] * dA + Bg[s] * xd;
                sum += S[s] * Cg[s];
            }
            y[c] = sum;
        }
    }
}
