#include "kernels/attention.h"

#include <math.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "kernels/isa/attention.h"
#include "kernels/ops.h"
#include "tensor/quants.h"

void rz_attn_axpy_f32(int64_t n, float p, const void *restrict v, float *restrict out) {
    const float *x = v;
    for (int64_t i = 0; i < n; i++)
        out[i] += p * x[i];
}

void rz_attn_axpy_f16(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_fp16 *x = v;
    for (int64_t i = 0; i < n; i++)
        out[i] += p * rz_fp16_to_f32(x[i]);
}

void rz_attn_axpy_bf16(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_bf16 *x = v;
    for (int64_t i = 0; i < n; i++)
        out[i] += p * rz_bf16_to_f32(x[i]);
}

void rz_attn_axpy_q8_0(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_block_q8_0 *x = v;
    for (int64_t b = 0; b < n / RZ_QK8_0; b++, out += RZ_QK8_0) {
        const float pd = p * rz_fp16_to_f32(x[b].d);
        for (int j = 0; j < RZ_QK8_0; j++)
            out[j] += pd * (float)x[b].qs[j];
    }
}

void rz_attn_axpy_q4_0(int64_t n, float p, const void *restrict v, float *restrict out) {
    const rz_block_q4_0 *x = v;
    for (int64_t b = 0; b < n / RZ_QK4_0; b++, out += RZ_QK4_0) {
        const float pd = p * rz_fp16_to_f32(x[b].d);
        for (int j = 0; j < RZ_QK4_0 / 2; j++) {
            out[j] += pd * (float)((x[b].qs[j] & 15) - 8);
            out[j + RZ_QK4_0 / 2] += pd * (float)((x[b].qs[j] >> 4) - 8);
        }
    }
}

rz_attn_axpy_fn rz_attn_axpy(rz_type type, rz_isa isa) {
    static const rz_attn_axpy_fn f32[] = {rz_attn_axpy_f32, rz_attn_axpy_f32_avx2, rz_attn_axpy_f32_avx512};
    static const rz_attn_axpy_fn f16[] = {rz_attn_axpy_f16, rz_attn_axpy_f16_avx2, rz_attn_axpy_f16_avx512};
    static const rz_attn_axpy_fn bf16[] = {rz_attn_axpy_bf16, rz_attn_axpy_bf16_avx2,
                                           rz_attn_axpy_bf16_avx512};
    static const rz_attn_axpy_fn q8_0[] = {rz_attn_axpy_q8_0, rz_attn_axpy_q8_0_avx2,
                                           rz_attn_axpy_q8_0_avx512};
    static const rz_attn_axpy_fn q4_0[] = {rz_attn_axpy_q4_0, rz_attn_axpy_q4_0_avx2,
                                           rz_attn_axpy_q4_0_avx512};
    _Static_assert(RZ_ISA_COUNT == 3, "one axpy per ISA path");
    const rz_attn_axpy_fn *table = type == RZ_TYPE_F32    ? f32
                                   : type == RZ_TYPE_F16  ? f16
                                   : type == RZ_TYPE_BF16 ? bf16
                                   : type == RZ_TYPE_Q8_0 ? q8_0
                                   : type == RZ_TYPE_Q4_0 ? q4_0
                                                          : NULL;
    if (!table || (unsigned)isa >= RZ_ISA_COUNT) return NULL;
    return table[isa];
}

rz_status rz_attn_kernels_get(rz_type type_k, rz_type type_v, int64_t head_dim, rz_isa isa,
                              rz_attn_kernels *out) {
    memset(out, 0, sizeof *out);
    const rz_type_traits *kt = rz_type_traits_get(type_k);
    out->k_dot = rz_type_vec_dot(type_k, isa);
    out->v_axpy = rz_attn_axpy(type_v, isa);
    if (!kt || !out->k_dot)
        return rz_error(RZ_ERR_UNSUPPORTED, "K cache type %s is not supported",
                        rz_type_name(type_k) ? rz_type_name(type_k) : "(unknown)");
    if (!out->v_axpy)
        return rz_error(RZ_ERR_UNSUPPORTED, "V cache type %s is not supported",
                        rz_type_name(type_v) ? rz_type_name(type_v) : "(unknown)");
    out->q_type = kt->vec_dot_type;
    if (out->q_type != RZ_TYPE_F32) {
        out->q_convert = rz_type_from_float_act(out->q_type, isa);
        if (!out->q_convert)
            return rz_error(RZ_ERR_UNSUPPORTED, "no query conversion for K cache type %s", kt->name);
    }
    out->q_conv_bytes = rz_row_bytes(rz_type_traits_get(out->q_type), (uint64_t)head_dim);
    out->k_to_float = kt->to_float;
    out->v_to_float = rz_type_traits_get(type_v)->to_float;
    out->q_to_float = rz_type_traits_get(out->q_type)->to_float;
    out->k_f32 = type_k == RZ_TYPE_F32;
    out->v_f32 = type_v == RZ_TYPE_F32;
    out->gemm = rz_attn_gemm(isa);
    if (isa == RZ_ISA_AVX512 && head_dim % 16 == 0) {
        if (type_k == RZ_TYPE_F32) out->k_scores = rz_attn_scores_f32_avx512;
        if (type_v == RZ_TYPE_F32) out->v_sum = rz_attn_sum_f32_avx512;
    }
    return RZ_OK;
}

void rz_attn_gemm_f32(int m, int n, int k, const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                      int64_t ldc) {
    for (int i = 0; i < m; i++)
        for (int l = 0; l < k; l++) {
            const float ail = a[i * lda + l];
            for (int j = 0; j < n; j++)
                c[i * ldc + j] += ail * b[l * ldb + j];
        }
}

rz_attn_gemm_fn rz_attn_gemm(rz_isa isa) {
    static const rz_attn_gemm_fn table[] = {rz_attn_gemm_f32, rz_attn_gemm_avx2, rz_attn_gemm_avx512};
    _Static_assert(RZ_ISA_COUNT == 3, "one attention GEMM per ISA path");
    return (unsigned)isa < RZ_ISA_COUNT ? table[isa] : NULL;
}

/* Floats per scratch region, rounded to whole cache lines. */
static size_t lines(size_t floats) { return (size_t)rz_align_up(floats, 16); }

size_t rz_attn_block_scratch_bytes(const rz_attn_kernels *kern, int64_t head_dim) {
    const size_t d = (size_t)head_dim, R = RZ_ATTN_BLOCK_ROWS, K = RZ_ATTN_BLOCK_KEYS;
    return (2 * lines(R * d) + lines(R * K) + 2 * lines(K * d) + 2 * lines(R) + lines(d)) * sizeof(float) +
           (size_t)rz_align_up(kern->q_conv_bytes, 64);
}

/* The scale of the dot products: with a cap, softcap * tanh(scale * q.k /
 * softcap) takes its division there, as llama.cpp's flash attention does. */
static float score_scale(float scale, float softcap) { return softcap != 0.0f ? scale / softcap : scale; }

/* Scores already divided by softcap (score_scale) to their capped values. */
static void cap(float *s, int64_t n, float softcap) {
    for (int64_t j = 0; j < n; j++)
        s[j] = softcap * tanhf(s[j]);
}

/* Key `key` as an offset into the block of nk keys from j0, clamped to it. */
static int block_offset(uint32_t key, uint32_t j0, int nk) {
    return key <= j0 ? 0 : key - j0 < (uint32_t)nk ? (int)(key - j0) : nk;
}

void rz_attention_block(const rz_attn_kernels *kern, const rz_attn_block *a, void *scratch) {
    enum { R = RZ_ATTN_BLOCK_ROWS, KB = RZ_ATTN_BLOCK_KEYS };
    const int64_t hd = a->head_dim;
    const int n_rows = a->n_rows;
    float *qm = scratch;                          /* [row][hd]: scaled queries */
    float *o = qm + lines(R * (size_t)hd);        /* [row][hd]: unnormalized outputs */
    float *s = o + lines(R * (size_t)hd);         /* [row][KB]: scores, then weights */
    float *kt = s + lines(R * KB);                /* [hd][KB]: keys, transposed */
    float *vb = kt + lines(KB * (size_t)hd);      /* [KB][hd]: values */
    float *run_max = vb + lines(KB * (size_t)hd); /* per row */
    float *run_sum = run_max + lines(R);          /* per row */
    float *row = run_sum + lines(R);              /* one converted row */
    void *q_conv = row + lines((size_t)hd);
    const float scale = score_scale(a->scale, a->softcap);
    uint32_t max_keys = 0, min_first = UINT32_MAX;
    for (int i = 0; i < n_rows; i++) {
        const float *q = a->q[i];
        if (kern->q_convert) { /* the values rz_attention_head's dots see */
            kern->q_convert(q, q_conv, hd);
            kern->q_to_float(q_conv, row, hd);
            q = row;
        }
        for (int64_t d = 0; d < hd; d++)
            qm[i * hd + d] = q[d] * scale;
        memset(o + i * hd, 0, (size_t)hd * sizeof *o);
        /* A sink is the first score seen: maximum so far, with weight exp(0). */
        run_max[i] = a->has_sink ? a->sink[i] : -INFINITY;
        run_sum[i] = a->has_sink ? 1.0f : 0.0f;
        max_keys = a->n_keys[i] > max_keys ? a->n_keys[i] : max_keys;
        min_first = a->first_key[i] < min_first ? a->first_key[i] : min_first;
    }
    /* Blocks start at the first key any row attends, so a sliding window
     * costs its width however long the cache. */
    for (uint32_t j0 = min_first; j0 < max_keys; j0 += KB) {
        const int nk = max_keys - j0 < KB ? (int)(max_keys - j0) : KB;
        for (int j = 0; j < nk; j++) {
            const char *key = a->k + (uint64_t)(j0 + j) * a->k_stride;
            const float *kf = (const float *)(const void *)key;
            if (!kern->k_f32) {
                kern->k_to_float(key, row, hd);
                kf = row;
            }
            for (int64_t d = 0; d < hd; d++)
                kt[d * KB + j] = kf[d];
            if (!kern->v_f32) kern->v_to_float(a->v + (uint64_t)(j0 + j) * a->v_stride, vb + j * hd, hd);
        }
        memset(s, 0, (size_t)n_rows * KB * sizeof *s);
        kern->gemm(n_rows, nk, (int)hd, qm, hd, kt, KB, s, KB);
        for (int i = 0; i < n_rows; i++) {
            float *si = s + i * KB;
            const int lo = block_offset(a->first_key[i], j0, nk), hi = block_offset(a->n_keys[i], j0, nk);
            if (a->softcap != 0.0f) cap(si + lo, hi - lo, a->softcap);
            float block_max = run_max[i];
            for (int j = lo; j < hi; j++)
                block_max = si[j] > block_max ? si[j] : block_max;
            /* Without a sink the maximum is -inf until the row's first key:
             * rescaling its zero sum and outputs by 0 then changes nothing. */
            const float rescale = run_max[i] == -INFINITY ? 0.0f : expf(run_max[i] - block_max);
            if (rescale != 1.0f) {
                run_sum[i] *= rescale;
                for (int64_t d = 0; d < hd; d++)
                    o[i * hd + d] *= rescale;
            }
            for (int j = 0; j < lo; j++)
                si[j] = 0.0f;
            run_sum[i] += rz_exp_sum(si + lo, hi - lo, block_max);
            for (int j = hi; j < nk; j++)
                si[j] = 0.0f;
            run_max[i] = block_max;
        }
        if (kern->v_f32) /* rows of the cache as they are */
            kern->gemm(n_rows, (int)hd, nk, s, KB,
                       (const float *)(const void *)(a->v + (uint64_t)j0 * a->v_stride),
                       (int64_t)(a->v_stride / sizeof(float)), o, hd);
        else
            kern->gemm(n_rows, (int)hd, nk, s, KB, vb, hd, o, hd);
    }
    for (int i = 0; i < n_rows; i++) {
        const float inv = 1.0f / run_sum[i];
        for (int64_t d = 0; d < hd; d++)
            a->out[i][d] = o[i * hd + d] * inv;
    }
}

void rz_attention_head(const rz_attn_kernels *kern, const rz_attn_head *a, float *scores, void *q_conv,
                       float *out) {
    const uint32_t n = a->n_keys - a->first_key;
    const char *k = a->k + (uint64_t)a->first_key * a->k_stride,
               *v = a->v + (uint64_t)a->first_key * a->v_stride;
    const float scale = score_scale(a->scale, a->softcap);
    if (kern->k_scores) {
        kern->k_scores(a->head_dim, a->q, k, a->k_stride, n, scale, scores);
    } else {
        const void *q = a->q;
        if (kern->q_convert) {
            kern->q_convert(a->q, q_conv, a->head_dim);
            q = q_conv;
        }
        for (uint32_t j = 0; j < n; j++) {
            kern->k_dot(a->head_dim, &scores[j], k + j * a->k_stride, q);
            scores[j] *= scale;
        }
    }
    if (a->softcap != 0.0f) cap(scores, n, a->softcap);
    /* The sink as one more score: it takes its share of the normalization,
     * and its weight, past the keys, is not used. */
    if (a->has_sink) scores[n] = a->sink;
    rz_softmax(scores, n + a->has_sink);
    if (kern->v_sum) {
        kern->v_sum(a->head_dim, scores, v, a->v_stride, n, out);
        return;
    }
    memset(out, 0, (size_t)a->head_dim * sizeof *out);
    for (uint32_t j = 0; j < n; j++)
        kern->v_axpy(a->head_dim, scores[j], v + j * a->v_stride, out);
}
