/* AVX-512 recurrences: vectors run along a state row (WKV, scans) or across
 * channels (conv), with masked tails for any size. */
#include <immintrin.h>
#include <math.h>

#include "kernels/isa/exp_avx512_inl.h"
#include "kernels/isa/recurrent.h"
#include "kernels/recurrent.h"

enum { V = 16, BLOCK = 4 }; /* lanes; vectors of y kept in registers by WKV 6 */

/* The rows i of S go by once per block of BLOCK vectors of j, whose y sums
 * stay in registers (independent FMA chains). */
void rz_wkv6_avx512(float *y, float *state, const float *r, const float *k, const float *v, const float *w,
                    const float *u, int64_t n_heads, int64_t N) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *S = state + h * N * N;
        const int64_t o = h * N;
        for (int64_t j0 = 0; j0 < N; j0 += BLOCK * V) {
            __mmask16 m[BLOCK];
            __m512 vj[BLOCK], acc[BLOCK];
            for (int q = 0; q < BLOCK; q++) {
                m[q] = tail_mask(N - j0 - q * V);
                vj[q] = _mm512_maskz_loadu_ps(m[q], v + o + j0 + q * V);
                acc[q] = _mm512_setzero_ps();
            }
            for (int64_t i = 0; i < N; i++) {
                float *Si = S + i * N + j0;
                const __m512 ki = _mm512_set1_ps(k[o + i]), ui = _mm512_set1_ps(u[o + i]),
                             ri = _mm512_set1_ps(r[o + i]), wi = _mm512_set1_ps(w[o + i]);
                for (int q = 0; q < BLOCK; q++) {
                    const __m512 s = _mm512_maskz_loadu_ps(m[q], Si + q * V), kv = _mm512_mul_ps(ki, vj[q]);
                    acc[q] = _mm512_fmadd_ps(_mm512_fmadd_ps(kv, ui, s), ri, acc[q]);
                    _mm512_mask_storeu_ps(Si + q * V, m[q], _mm512_fmadd_ps(s, wi, kv));
                }
            }
            for (int q = 0; q < BLOCK; q++)
                _mm512_mask_storeu_ps(y + o + j0 + q * V, m[q], acc[q]);
        }
    }
}

void rz_wkv7_avx512(float *y, float *state, const float *r, const float *w, const float *k, const float *v,
                    const float *a, const float *b, int64_t n_heads, int64_t N) {
    for (int64_t h = 0; h < n_heads; h++) {
        float *S = state + h * N * N;
        const int64_t o = h * N;
        for (int64_t i = 0; i < N; i++) {
            float *Si = S + i * N;
            __m512 sa = _mm512_setzero_ps(), acc = _mm512_setzero_ps();
            for (int64_t j = 0; j < N; j += V) {
                const __mmask16 m = tail_mask(N - j);
                sa = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + o + j), _mm512_maskz_loadu_ps(m, Si + j),
                                     sa);
            }
            const __m512 sav = _mm512_set1_ps(_mm512_reduce_add_ps(sa)), vi = _mm512_set1_ps(v[o + i]);
            for (int64_t j = 0; j < N; j += V) {
                const __mmask16 m = tail_mask(N - j);
                const __m512 kv = _mm512_mul_ps(vi, _mm512_maskz_loadu_ps(m, k + o + j));
                __m512 s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, Si + j),
                                           _mm512_maskz_loadu_ps(m, w + o + j), kv);
                s = _mm512_fmadd_ps(sav, _mm512_maskz_loadu_ps(m, b + o + j), s);
                _mm512_mask_storeu_ps(Si + j, m, s);
                acc = _mm512_fmadd_ps(s, _mm512_maskz_loadu_ps(m, r + o + j), acc);
            }
            y[o + i] = _mm512_reduce_add_ps(acc);
        }
    }
}

/* Channels go V at a time: the window of a block is transposed once per run
 * into rows over channels, which then continue with the rows of x, so every
 * token's taps are contiguous loads. */
void rz_ssm_conv_avx512(float *y, int64_t y_stride, float *window, const float *x, int64_t x_stride,
                        int64_t n_tokens, const float *w, int64_t n_ch, int64_t k) {
    float past[64 * V], taps[64 * V]; /* k <= 64 (model load checks d_conv) */
    for (int64_t cb = 0; cb < n_ch; cb += V) {
        const int64_t n = n_ch - cb < V ? n_ch - cb : V;
        const __mmask16 m = tail_mask(n);
        for (int64_t c = 0; c < n; c++) {
            for (int64_t i = 0; i < k - 1; i++)
                past[i * V + c] = window[(cb + c) * (k - 1) + i];
            for (int64_t i = 0; i < k; i++)
                taps[i * V + c] = w[(cb + c) * k + i];
        }
        for (int64_t t = 0; t < n_tokens; t++) {
            __m512 sum = _mm512_setzero_ps();
            for (int64_t i = 0; i < k; i++) {
                const int64_t s = t - (k - 1) + i; /* the input's token; before the run: the window */
                const float *in = s < 0 ? past + (s + k - 1) * V : x + s * x_stride + cb;
                sum = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, in), _mm512_maskz_loadu_ps(m, taps + i * V),
                                      sum);
            }
            _mm512_mask_storeu_ps(y + t * y_stride + cb, m, sum);
        }
        for (int64_t i = 0; i < k - 1; i++) {
            const int64_t s = n_tokens - (k - 1) + i;
            const float *in = s < 0 ? past + (s + k - 1) * V : x + s * x_stride + cb;
            for (int64_t c = 0; c < n; c++)
                window[(cb + c) * (k - 1) + i] = in[c];
        }
    }
}

void rz_ssm_scan1_avx512(float *y, float *state, const float *x, const float *dt, const float *A,
                         const float *B, const float *C, int64_t n_inner, int64_t d_state) {
    for (int64_t c = 0; c < n_inner; c++) {
        const float d = rz_softplus(dt[c]);
        const __m512 dv = _mm512_set1_ps(d), xd = _mm512_set1_ps(x[c] * d);
        float *S = state + c * d_state;
        const float *Ac = A + c * d_state;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t s = 0; s < d_state; s += V) {
            const __mmask16 m = tail_mask(d_state - s);
            const __m512 decay = exp512(_mm512_mul_ps(dv, _mm512_maskz_loadu_ps(m, Ac + s)));
            const __m512 st = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, S + s), decay,
                                              _mm512_mul_ps(_mm512_maskz_loadu_ps(m, B + s), xd));
            _mm512_mask_storeu_ps(S + s, m, st);
            acc = _mm512_fmadd_ps(st, _mm512_maskz_loadu_ps(m, C + s), acc);
        }
        y[c] = _mm512_reduce_add_ps(acc);
    }
}

void rz_ssm_scan2_avx512(float *y, float *state, const float *x, const float *dt, const float *A,
                         const float *B, const float *C, int64_t h0, int64_t h1, int64_t n_heads,
                         int64_t head_dim, int64_t d_state, int64_t n_group) {
    for (int64_t h = h0; h < h1; h++) {
        const float d = rz_softplus(dt[h]);
        const __m512 dA = _mm512_set1_ps(expf(d * A[h]));
        const int64_t g = h / (n_heads / n_group);
        const float *Bg = B + g * d_state, *Cg = C + g * d_state;
        for (int64_t c = h * head_dim; c < (h + 1) * head_dim; c++) {
            const __m512 xd = _mm512_set1_ps(x[c] * d);
            float *S = state + c * d_state;
            __m512 acc = _mm512_setzero_ps();
            for (int64_t s = 0; s < d_state; s += V) {
                const __mmask16 m = tail_mask(d_state - s);
                const __m512 st = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, S + s), dA,
                                                  _mm512_mul_ps(_mm512_maskz_loadu_ps(m, Bg + s), xd));
                _mm512_mask_storeu_ps(S + s, m, st);
                acc = _mm512_fmadd_ps(st, _mm512_maskz_loadu_ps(m, Cg + s), acc);
            }
            y[c] = _mm512_reduce_add_ps(acc);
        }
    }
}
