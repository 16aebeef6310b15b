#include "kernels/attention.h"

#include <string.h>

#include "base/error.h"
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
    return RZ_OK;
}

void rz_attention_head(const rz_attn_kernels *kern, const rz_attn_head *a, float *scores, void *q_conv,
                       float *out) {
    const void *q = a->q;
    if (kern->q_convert) {
        kern->q_convert(a->q, q_conv, a->head_dim);
        q = q_conv;
    }
    for (uint32_t j = 0; j < a->n_keys; j++) {
        kern->k_dot(a->head_dim, &scores[j], a->k + j * a->k_stride, q);
        scores[j] *= a->scale;
    }
    rz_softmax(scores, a->n_keys);
    memset(out, 0, (size_t)a->head_dim * sizeof *out);
    for (uint32_t j = 0; j < a->n_keys; j++)
        kern->v_axpy(a->head_dim, scores[j], a->v + j * a->v_stride, out);
}
