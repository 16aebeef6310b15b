#include "kernels/recurrent.h"

#include <math.h>
#include <string.h>

void rz_wkv6(float *y, float *state, const float *r, const float *k, const float *v, const float *w,
             const float *u, int64_t n_heads, int64_t N) {
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

void rz_ssm_conv(float *y, float *window, const float *x, const float *w, int64_t n_ch, int64_t k) {
    for (int64_t c = 0; c < n_ch; c++) {
        float *win = window + c * (k - 1);
        const float *wc = w + c * k;
        float sum = 0.0f;
        for (int64_t i = 0; i < k - 1; i++)
            sum += win[i] * wc[i];
        sum += x[c] * wc[k - 1];
        y[c] = sum;
        if (k > 1) {
            memmove(win, win + 1, (size_t)(k - 2) * sizeof *win);
            win[k - 2] = x[c];
        }
    }
}

float rz_softplus(float x) { return x > 20.0f ? x : logf(1.0f + expf(x)); }

void rz_ssm_scan1(float *y, float *state, const float *x, const float *dt, const float *A, const float *B,
                  const float *C, int64_t n_inner, int64_t d_state) {
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
                  const float *C, int64_t n_heads, int64_t head_dim, int64_t d_state, int64_t n_group) {
    for (int64_t h = 0; h < n_heads; h++) {
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
