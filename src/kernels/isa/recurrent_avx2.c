/* AVX2 recurrences, as recurrent_avx512.c with 8 lanes. */
#include <immintrin.h>
#include <math.h>

#include "kernels/isa/exp_avx2_inl.h"
#include "kernels/isa/recurrent.h"
#include "kernels/recurrent.h"
#include "tensor/isa/avx2_inl.h"

enum { V = 8, BLOCK = 4 }; /* lanes; vectors of y kept in registers by WKV 6 */

static inline __m256 load(const float *p, __m256i m) { return _mm256_maskload_ps(p, m); }

void rz_wkv6_avx2(float *y, float *state, const float *r, const float *k, const float *v, const float *w,
                  const float *u, int64_t n_heads, int64_t N) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *S = state + h * N * N;
        const int64_t o = h * N;
        for (int64_t j0 = 0; j0 < N; j0 += BLOCK * V) {
            __m256i m[BLOCK];
            __m256 vj[BLOCK], acc[BLOCK];
            for (int q = 0; q < BLOCK; q++) {
                m[q] = lanes_below(N - j0 - q * V);
                vj[q] = load(v + o + j0 + q * V, m[q]);
                acc[q] = _mm256_setzero_ps();
            }
            for (int64_t i = 0; i < N; i++) {
                float *Si = S + i * N + j0;
                const __m256 ki = _mm256_set1_ps(k[o + i]), ui = _mm256_set1_ps(u[o + i]),
                             ri = _mm256_set1_ps(r[o + i]), wi = _mm256_set1_ps(w[o + i]);
                for (int q = 0; q < BLOCK; q++) {
                    const __m256 s = load(Si + q * V, m[q]), kv = _mm256_mul_ps(ki, vj[q]);
                    acc[q] = _mm256_fmadd_ps(_mm256_fmadd_ps(kv, ui, s), ri, acc[q]);
                    _mm256_maskstore_ps(Si + q * V, m[q], _mm256_fmadd_ps(s, wi, kv));
                }
            }
            for (int q = 0; q < BLOCK; q++)
                _mm256_maskstore_ps(y + o + j0 + q * V, m[q], acc[q]);
        }
    }
}

void rz_wkv7_avx2(float *y, float *state, const float *r, const float *w, const float *k, const float *v,
                  const float *a, const float *b, int64_t n_heads, int64_t N) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *S = state + h * N * N;
        const int64_t o = h * N;
        for (int64_t i = 0; i < N; i++) {
            float *Si = S + i * N;
            __m256 sa = _mm256_setzero_ps(), acc = _mm256_setzero_ps();
            for (int64_t j = 0; j < N; j += V) {
                const __m256i m = lanes_below(N - j);
                sa = _mm256_fmadd_ps(load(a + o + j, m), load(Si + j, m), sa);
            }
            const __m256 sav = _mm256_set1_ps(hsum8(sa)), vi = _mm256_set1_ps(v[o + i]);
            for (int64_t j = 0; j < N; j += V) {
                const __m256i m = lanes_below(N - j);
                const __m256 kv = _mm256_mul_ps(vi, load(k + o + j, m));
                __m256 s = _mm256_fmadd_ps(load(Si + j, m), load(w + o + j, m), kv);
                s = _mm256_fmadd_ps(sav, load(b + o + j, m), s);
                _mm256_maskstore_ps(Si + j, m, s);
                acc = _mm256_fmadd_ps(s, load(r + o + j, m), acc);
            }
            y[o + i] = hsum8(acc);
        }
    }
}

void rz_ssm_conv_avx2(float *y, int64_t y_stride, float *window, const float *x, int64_t x_stride,
                      int64_t n_tokens, const float *w, int64_t n_ch, int64_t k) {
    float past[64 * V], taps[64 * V]; /* k <= 64 (model load checks d_conv) */
    for (int64_t cb = 0; cb < n_ch; cb += V) {
        const int64_t n = n_ch - cb < V ? n_ch - cb : V;
        const __m256i m = lanes_below(n);
        for (int64_t c = 0; c < n; c++) {
            for (int64_t i = 0; i < k - 1; i++)
                past[i * V + c] = window[(cb + c) * (k - 1) + i];
            for (int64_t i = 0; i < k; i++)
                taps[i * V + c] = w[(cb + c) * k + i];
        }
        for (int64_t t = 0; t < n_tokens; t++) {
            __m256 sum = _mm256_setzero_ps();
            for (int64_t i = 0; i < k; i++) {
                const int64_t s = t - (k - 1) + i; /* the input's token; before the run: the window */
                const float *in = s < 0 ? past + (s + k - 1) * V : x + s * x_stride + cb;
                sum = _mm256_fmadd_ps(load(in, m), load(taps + i * V, m), sum);
            }
            _mm256_maskstore_ps(y + t * y_stride + cb, m, sum);
        }
        for (int64_t i = 0; i < k - 1; i++) {
            const int64_t s = n_tokens - (k - 1) + i;
            const float *in = s < 0 ? past + (s + k - 1) * V : x + s * x_stride + cb;
            for (int64_t c = 0; c < n; c++)
                window[(cb + c) * (k - 1) + i] = in[c];
        }
    }
}

void rz_ssm_scan1_avx2(float *y, float *state, const float *x, const float *dt, const float *A,
                       const float *B, const float *C, int64_t n_inner, int64_t d_state) {
    for (int64_t c = 0; c < n_inner; c++) {
        const float d = rz_softplus(dt[c]);
        const __m256 dv = _mm256_set1_ps(d), xd = _mm256_set1_ps(x[c] * d);
        float *S = state + c * d_state;
        const float *Ac = A + c * d_state;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t s = 0; s < d_state; s += V) {
            const __m256i m = lanes_below(d_state - s);
            const __m256 decay = exp256(_mm256_mul_ps(dv, load(Ac + s, m)));
            const __m256 st = _mm256_fmadd_ps(load(S + s, m), decay, _mm256_mul_ps(load(B + s, m), xd));
            _mm256_maskstore_ps(S + s, m, st);
            acc = _mm256_fmadd_ps(st, load(C + s, m), acc);
        }
        y[c] = hsum8(acc);
    }
}

void rz_ssm_scan2_avx2(float *y, float *state, const float *x, const float *dt, const float *A,
                       const float *B, const float *C, int64_t h0, int64_t h1, int64_t n_heads,
                       int64_t head_dim, int64_t d_state, int64_t n_group) {
    for (int64_t h = h0; h < h1; h++) {
        const float d = rz_softplus(dt[h]);
        const __m256 dA = _mm256_set1_ps(expf(d * A[h]));
        const int64_t g = h / (n_heads / n_group);
        const float *Bg = B + g * d_state, *Cg = C + g * d_state;
        for (int64_t c = h * head_dim; c < (h + 1) * head_dim; c++) {
            const __m256 xd = _mm256_set1_ps(x[c] * d);
            float *S = state + c * d_state;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t s = 0; s < d_state; s += V) {
                const __m256i m = lanes_below(d_state - s);
                const __m256 st = _mm256_fmadd_ps(load(S + s, m), dA, _mm256_mul_ps(load(Bg + s, m), xd));
                _mm256_maskstore_ps(S + s, m, st);
                acc = _mm256_fmadd_ps(st, load(Cg + s, m), acc);
            }
            y[c] = hsum8(acc);
        }
    }
}
