/* Model loading: hyperparameters, weights and vocabulary from a GGUF file or
 * a llama2.c checkpoint into one rz_model. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "base/mem.h"
#include "format/gguf_internal.h"
#include "format/llama2c_spm.h"
#include "model/arch.h"
#include "model/model.h"
#include "tensor/quants_ternary.h"
#include "tensor/type_traits.h"

/* Where weight tensors come from: a name lookup over either file format;
 * GGUF tensors bound are marked in `used`, so that a tensor the model
 * would ignore is refused rather than silently changing nothing. */
typedef struct weight_source {
    const rz_gguf *gguf;
    const rz_llama2c *llama2c;
    bool *used; /* [tensor count] of the GGUF */
} weight_source;

static bool source_find(const weight_source *src, const char *name, rz_type *type, uint32_t *n_dims,
                        uint64_t ne[RZ_MAX_DIMS], const void **data) {
    if (src->gguf) {
        const rz_gguf_tensor *t = rz_gguf_find_tensor(src->gguf, name);
        if (!t) return false;
        src->used[t - rz_gguf_tensor_at(src->gguf, 0)] = true;
        *type = t->type;
        *n_dims = t->n_dims;
        memcpy(ne, t->ne, sizeof t->ne);
        *data = t->data;
        return true;
    }
    for (uint64_t i = 0; i < rz_llama2c_tensor_count(src->llama2c); i++) {
        const rz_llama2c_tensor *t = rz_llama2c_tensor_at(src->llama2c, i);
        if (strcmp(t->name, name) != 0) continue;
        *type = RZ_TYPE_F32;
        *n_dims = t->n_dims;
        ne[0] = t->ne[0];
        ne[1] = t->n_dims > 1 ? t->ne[1] : 1;
        ne[2] = ne[3] = 1;
        *data = t->data;
        return true;
    }
    return false;
}

typedef enum weight_use {
    USE_NORM,      /* vectors and tables read as float32 directly */
    USE_MATRIX,    /* multiplied with activations: needs a vec_dot kernel */
    USE_EMBEDDING, /* rows are looked up: needs to_float */
} weight_use;

/* Finds `name` and checks it has shape {ne0, ne1, ne2} and a type fit for
 * `use`. */
static rz_status bind_weight4(const weight_source *src, const char *name, const int64_t want[RZ_MAX_DIMS],
                              weight_use use, bool optional, rz_tensor *out) {
    const int64_t ne0 = want[0], ne1 = want[1], ne2 = want[2], ne3 = want[3];
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[RZ_MAX_DIMS];
    const void *data;
    if (!source_find(src, name, &type, &n_dims, ne, &data)) {
        if (optional) return RZ_OK;
        return rz_error(RZ_ERR_FORMAT, "model: tensor '%s' is missing", name);
    }
    if ((int64_t)ne[0] != ne0 || (int64_t)ne[1] != ne1 || (int64_t)ne[2] != ne2 || (int64_t)ne[3] != ne3)
        return rz_error(
            RZ_ERR_FORMAT,
            "model: tensor '%s' has shape {%llu, %llu, %llu, %llu}, expected {%lld, %lld, %lld, %lld}", name,
            (unsigned long long)ne[0], (unsigned long long)ne[1], (unsigned long long)ne[2],
            (unsigned long long)ne[3], (long long)ne0, (long long)ne1, (long long)ne2, (long long)ne3);
    const rz_type_traits *t = rz_type_traits_get(type);
    if (use == USE_NORM && type != RZ_TYPE_F32)
        return rz_error(RZ_ERR_UNSUPPORTED, "model: tensor '%s' is %s; only f32 vectors are supported", name,
                        t->name);
    if (use == USE_MATRIX &&
        (!rz_type_vec_dot(type, RZ_ISA_SCALAR) ||
         (t->vec_dot_type != RZ_TYPE_F32 && !rz_type_from_float_act(t->vec_dot_type, RZ_ISA_SCALAR))))
        return rz_error(RZ_ERR_UNSUPPORTED, "model: tensor '%s' has type %s, which has no mat-mul kernel yet",
                        name, t->name);
    /* Rows of a type with a per-tensor trailer cannot be decoded on their own. */
    if (use == USE_EMBEDDING && (!t->to_float || t->trailer_bytes))
        return rz_error(RZ_ERR_UNSUPPORTED, "model: tensor '%s' has type %s, which cannot be dequantized yet",
                        name, t->name);
    out->type = type;
    out->ne[0] = ne0;
    out->ne[1] = ne1 * ne2 * ne3;
    out->ne[2] = out->ne[3] = 1;
    out->row_bytes = rz_row_bytes(t, (uint64_t)ne0);
    out->data = data;
    out->scale = type == RZ_TYPE_I2_S ? rz_i2s_scale(data, ne0 * ne1 * ne2 * ne3) : 0.0f;
    return RZ_OK;
}

static rz_status bind_weight3(const weight_source *src, const char *name, int64_t ne0, int64_t ne1,
                              int64_t ne2, weight_use use, bool optional, rz_tensor *out) {
    const int64_t want[RZ_MAX_DIMS] = {ne0, ne1, ne2, 1};
    return bind_weight4(src, name, want, use, optional, out);
}

static rz_status bind_weight(const weight_source *src, const char *name, int64_t ne0, int64_t ne1,
                             weight_use use, bool optional, rz_tensor *out) {
    return bind_weight3(src, name, ne0, ne1, 1, use, optional, out);
}

/* Rows [row0, row0 + n) of a bound matrix, as a matrix of its own. */
static rz_tensor rows_of(const rz_tensor *t, int64_t row0, int64_t n) {
    rz_tensor v = *t;
    v.data = rz_tensor_row(t, row0);
    v.ne[1] = n;
    return v;
}

/* Sizes a layer tensor's dimensions are given in. */
typedef enum dim { D_1, D_E, D_Q, D_KV, D_QKV, D_HD, D_H, D_F, D_F2, D_FE, D_X } dim;

static int64_t dim_size(const rz_model *m, dim d) {
    const rz_model_desc *h = &m->desc;
    const int64_t sizes[] = {
        [D_1] = 1,
        [D_E] = h->n_embd,
        [D_Q] = m->q_dim,
        [D_KV] = m->kv_dim,
        [D_QKV] = m->q_dim + 2 * m->kv_dim,
        [D_HD] = m->head_dim,
        [D_H] = h->n_head,
        [D_F] = h->n_ff,
        [D_F2] = 2 * (int64_t)h->n_ff,
        [D_FE] = m->n_ff_exp,
        [D_X] = m->n_expert,
    };
    return sizes[d];
}

/* Every layer tensor an architecture may declare: which group it belongs
 * to, its name after "blk.N.", its shape and where it goes. Expert tensors
 * (ne2 = D_X matrices) become one view per expert. */
#define AT(field) offsetof(rz_layer, field)
static const struct layer_spec {
    uint32_t group;
    const char *name;
    dim ne0, ne1, ne2;
    weight_use use;
    size_t at;
} layer_specs[] = {
    {RZ_T_ATTN_NORM, "attn_norm.weight", D_E, D_1, D_1, USE_NORM, AT(attn_norm)},
    {RZ_T_ATTN_Q, "attn_q.weight", D_E, D_Q, D_1, USE_MATRIX, AT(wq)},
    {RZ_T_ATTN_Q, "attn_k.weight", D_E, D_KV, D_1, USE_MATRIX, AT(wk)},
    {RZ_T_ATTN_Q, "attn_v.weight", D_E, D_KV, D_1, USE_MATRIX, AT(wv)},
    {RZ_T_ATTN_QKV, "attn_qkv.weight", D_E, D_QKV, D_1, USE_MATRIX, AT(wq)},
    {RZ_T_ATTN_OUT, "attn_output.weight", D_Q, D_E, D_1, USE_MATRIX, AT(wo)},
    {RZ_T_ATTN_QKV_BIAS, "attn_q.bias", D_Q, D_1, D_1, USE_NORM, AT(bq)},
    {RZ_T_ATTN_QKV_BIAS, "attn_k.bias", D_KV, D_1, D_1, USE_NORM, AT(bk)},
    {RZ_T_ATTN_QKV_BIAS, "attn_v.bias", D_KV, D_1, D_1, USE_NORM, AT(bv)},
    {RZ_T_ATTN_OUT_BIAS, "attn_output.bias", D_E, D_1, D_1, USE_NORM, AT(bo)},
    {RZ_T_ATTN_QK_NORM, "attn_q_norm.weight", D_HD, D_1, D_1, USE_NORM, AT(q_norm)},
    {RZ_T_ATTN_QK_NORM, "attn_k_norm.weight", D_HD, D_1, D_1, USE_NORM, AT(k_norm)},
    {RZ_T_ATTN_QK_NORM_FULL, "attn_q_norm.weight", D_Q, D_1, D_1, USE_NORM, AT(q_norm)},
    {RZ_T_ATTN_QK_NORM_FULL, "attn_k_norm.weight", D_KV, D_1, D_1, USE_NORM, AT(k_norm)},
    {RZ_T_ATTN_POST_NORM, "post_attention_norm.weight", D_E, D_1, D_1, USE_NORM, AT(attn_post_norm)},
    {RZ_T_ATTN_SINKS, "attn_sinks.weight", D_H, D_1, D_1, USE_NORM, AT(attn_sinks)},
    {RZ_T_SUB_NORMS, "attn_sub_norm.weight", D_Q, D_1, D_1, USE_NORM, AT(attn_sub_norm)},
    {RZ_T_SUB_NORMS, "ffn_sub_norm.weight", D_F, D_1, D_1, USE_NORM, AT(ffn_sub_norm)},
    {RZ_T_FFN_NORM, "ffn_norm.weight", D_E, D_1, D_1, USE_NORM, AT(ffn_norm)},
    {RZ_T_FFN, "ffn_gate.weight", D_E, D_F, D_1, USE_MATRIX, AT(ffn_gate)},
    {RZ_T_FFN | RZ_T_FFN_UP, "ffn_up.weight", D_E, D_F, D_1, USE_MATRIX, AT(ffn_up)},
    {RZ_T_FFN | RZ_T_FFN_GATE_UP | RZ_T_FFN_UP, "ffn_down.weight", D_F, D_E, D_1, USE_MATRIX, AT(ffn_down)},
    {RZ_T_FFN_GATE_UP, "ffn_up.weight", D_E, D_F2, D_1, USE_MATRIX, AT(ffn_up)},
    {RZ_T_FFN_POST_NORM, "post_ffw_norm.weight", D_E, D_1, D_1, USE_NORM, AT(ffn_post_norm)},
    {RZ_T_FFN_BIAS, "ffn_up.bias", D_F, D_1, D_1, USE_NORM, AT(ffn_up_b)},
    {RZ_T_FFN_BIAS, "ffn_down.bias", D_E, D_1, D_1, USE_NORM, AT(ffn_down_b)},
    {RZ_T_POST_LN, "attn_output_norm.weight", D_E, D_1, D_1, USE_NORM, AT(attn_out_norm)},
    {RZ_T_POST_LN, "attn_output_norm.bias", D_E, D_1, D_1, USE_NORM, AT(attn_out_norm_b)},
    {RZ_T_POST_LN, "layer_output_norm.weight", D_E, D_1, D_1, USE_NORM, AT(layer_out_norm)},
    {RZ_T_POST_LN, "layer_output_norm.bias", D_E, D_1, D_1, USE_NORM, AT(layer_out_norm_b)},
    {RZ_T_MOE, "ffn_gate_inp.weight", D_E, D_X, D_1, USE_MATRIX, AT(gate_inp)},
    {RZ_T_MOE, "ffn_gate_exps.weight", D_E, D_FE, D_X, USE_MATRIX, AT(exp_gate)},
    {RZ_T_MOE, "ffn_up_exps.weight", D_E, D_FE, D_X, USE_MATRIX, AT(exp_up)},
    {RZ_T_MOE, "ffn_down_exps.weight", D_FE, D_E, D_X, USE_MATRIX, AT(exp_down)},
    {RZ_T_MOE_BIAS, "ffn_gate_inp.bias", D_X, D_1, D_1, USE_NORM, AT(gate_inp_b)},
    {RZ_T_MOE_BIAS, "ffn_gate_exps.bias", D_FE, D_X, D_1, USE_NORM, AT(exp_gate_b)},
    {RZ_T_MOE_BIAS, "ffn_up_exps.bias", D_FE, D_X, D_1, USE_NORM, AT(exp_up_b)},
    {RZ_T_MOE_BIAS, "ffn_down_exps.bias", D_E, D_X, D_1, USE_NORM, AT(exp_down_b)},
};
#undef AT

/* Binds spec into layer l; expert tensors are split into n_expert views
 * taken from *experts. */
static rz_status bind_layer_tensor(rz_model *m, const weight_source *src, const struct layer_spec *spec,
                                   int32_t l, bool optional, rz_tensor **experts) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, spec->name);
    rz_layer *L = &m->layers[l];
    const int64_t ne1 = dim_size(m, spec->ne1), ne2 = dim_size(m, spec->ne2);
    if (spec->ne2 != D_X) {
        return bind_weight3(src, name, dim_size(m, spec->ne0), ne1, 1, spec->use, optional,
                            (rz_tensor *)((char *)L + spec->at));
    }
    rz_tensor all = {0};
    RZ_TRY(bind_weight3(src, name, dim_size(m, spec->ne0), ne1, ne2, spec->use, optional, &all));
    if (!all.data) return RZ_OK;
    rz_tensor *views = *experts;
    *experts += ne2;
    for (int64_t e = 0; e < ne2; e++)
        views[e] = rows_of(&all, e * ne1, ne1);
    *(rz_tensor **)((char *)L + spec->at) = views;
    return RZ_OK;
}

/* A recurrent layer's tensors, into the slots of the architecture's table. */
static rz_status bind_rec_layer(rz_model *m, const weight_source *src, int32_t l) {
    const rz_arch *a = m->arch;
    for (int i = 0; i < a->n_rec_tensors; i++) {
        const rz_rec_tensor *spec = &a->rec_tensors[i];
        char name[96];
        snprintf(name, sizeof name, "blk.%d.%s", l, spec->name);
        int64_t want[RZ_MAX_DIMS];
        for (int k = 0; k < RZ_MAX_DIMS; k++)
            want[k] = rz_rec_dim_size(m, (rz_rec_dim)spec->ne[k], l);
        RZ_TRY(bind_weight4(src, name, want, spec->matrix ? USE_MATRIX : USE_NORM, spec->optional,
                            &m->layers[l].rec[i]));
    }
    return RZ_OK;
}

static rz_status bind_layer(rz_model *m, const weight_source *src, int32_t l, rz_tensor **experts) {
    const rz_arch *a = m->arch;
    if (a->rec_tensors) return bind_rec_layer(m, src, l);
    for (size_t i = 0; i < sizeof layer_specs / sizeof layer_specs[0]; i++) {
        const struct layer_spec *spec = &layer_specs[i];
        if (!(spec->group & (a->tensors | a->tensors_opt))) continue;
        /* a tensor two groups share is bound once, required if either group is */
        bool dup = false;
        for (size_t j = 0; j < i; j++)
            dup |= strcmp(layer_specs[j].name, spec->name) == 0 &&
                   (layer_specs[j].group & (a->tensors | a->tensors_opt));
        if (dup) continue;
        RZ_TRY(bind_layer_tensor(m, src, spec, l, !(spec->group & a->tensors), experts));
    }
    rz_layer *L = &m->layers[l];
    if (L->wq.data && !L->wk.data) { /* attn_qkv: Q, K and V row ranges */
        const rz_tensor qkv = L->wq;
        L->wq = rows_of(&qkv, 0, m->q_dim);
        L->wk = rows_of(&qkv, m->q_dim, m->kv_dim);
        L->wv = rows_of(&qkv, m->q_dim + m->kv_dim, m->kv_dim);
    }
    if (L->ffn_up.data && !L->ffn_gate.data && (a->tensors & RZ_T_FFN_GATE_UP)) { /* gate rows, then up */
        const rz_tensor gate_up = L->ffn_up;
        L->ffn_gate = rows_of(&gate_up, 0, m->desc.n_ff);
        L->ffn_up = rows_of(&gate_up, m->desc.n_ff, m->desc.n_ff);
    }
    const bool dense = L->ffn_up.data, moe = L->exp_up;
    if (!L->wq.data || !L->wo.data)
        return rz_error(RZ_ERR_FORMAT, "model: layer %d has no attention projections", l);
    if (dense == moe)
        return rz_error(RZ_ERR_FORMAT, "model: layer %d must have either a dense FFN or experts", l);
    if (moe && (!L->gate_inp.data || !L->exp_gate || !L->exp_down))
        return rz_error(RZ_ERR_FORMAT, "model: layer %d has an incomplete set of expert tensors", l);
    if (dense && !L->ffn_gate.data && !(a->tensors & RZ_T_FFN_UP))
        return rz_error(RZ_ERR_FORMAT, "model: layer %d has no ffn_gate", l);
    return RZ_OK;
}

/* Every matrix, the output (if any) first, for placement and work sizes. */
static rz_status list_matrices(rz_model *m) {
    const int64_t per_layer = 8 + 3 * (int64_t)m->n_expert + m->arch->n_rec_tensors;
    m->matrices = calloc((size_t)(1 + per_layer * m->desc.n_layer), sizeof *m->matrices);
    if (!m->matrices) return rz_error(RZ_ERR_NOMEM, "out of memory");
    int64_t n = 0;
    if (m->output.data) m->matrices[n++] = &m->output;
    for (int32_t l = 0; l < m->desc.n_layer; l++) {
        rz_layer *L = &m->layers[l];
        rz_tensor *mats[] = {&L->wq,       &L->wk,     &L->wv,       &L->wo,
                             &L->ffn_gate, &L->ffn_up, &L->ffn_down, &L->gate_inp};
        for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
            if (mats[i]->data) m->matrices[n++] = mats[i];
        for (int i = 0; i < m->arch->n_rec_tensors; i++)
            if (m->arch->rec_tensors[i].matrix && L->rec[i].data) m->matrices[n++] = &L->rec[i];
        for (int32_t e = 0; L->exp_up && e < m->n_expert; e++) {
            m->matrices[n++] = &L->exp_gate[e];
            m->matrices[n++] = &L->exp_up[e];
            m->matrices[n++] = &L->exp_down[e];
        }
    }
    m->n_matrices = n;
    return RZ_OK;
}

/* The architecture's input tensors besides token_embd (RZ_I_*). */
static rz_status bind_inputs(rz_model *m, const weight_source *src) {
    const uint32_t req = m->arch->inputs, all = req | m->arch->inputs_opt;
    const int64_t E = m->desc.n_embd;
    if (all & RZ_I_TOKEN_TYPES)
        RZ_TRY(bind_weight(src, "token_types.weight", E, m->n_token_types, USE_EMBEDDING,
                           !(req & RZ_I_TOKEN_TYPES), &m->token_types));
    if (all & RZ_I_POS_EMBD)
        RZ_TRY(bind_weight(src, "position_embd.weight", E, m->desc.n_ctx_train, USE_EMBEDDING,
                           !(req & RZ_I_POS_EMBD), &m->pos_embd));
    if (all & RZ_I_EMBD_NORM) {
        const bool opt = !(req & RZ_I_EMBD_NORM);
        RZ_TRY(bind_weight(src, "token_embd_norm.weight", E, 1, USE_NORM, opt, &m->embd_norm));
        RZ_TRY(bind_weight(src, "token_embd_norm.bias", E, 1, USE_NORM, opt, &m->embd_norm_b));
    }
    return RZ_OK;
}

static rz_status bind_layers(rz_model *m, const weight_source *src) {
    const rz_model_desc *d = &m->desc;
    m->layers = calloc((size_t)d->n_layer, sizeof *m->layers);
    m->experts = calloc((size_t)d->n_layer * 3 * (size_t)m->n_expert + 1, sizeof *m->experts);
    if (!m->layers || !m->experts) return rz_error(RZ_ERR_NOMEM, "out of memory for %d layers", d->n_layer);
    rz_tensor *experts = m->experts;
    for (int32_t l = 0; l < d->n_layer; l++) {
        RZ_TRY(bind_layer(m, src, l, &experts));
        const uint32_t p = m->swa_pattern;
        if (m->n_swa > 0 && (p == 0 || (uint32_t)l % p < p - 1)) {
            m->layers[l].window = m->n_swa;
            m->layers[l].rope_set = (uint8_t)(m->n_rope_sets - 1);
        }
    }
    return list_matrices(m);
}

static rz_status bind_weights(rz_model *m, const weight_source *src) {
    const rz_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, V = d->n_vocab;
    RZ_TRY(bind_weight(src, "token_embd.weight", E, V, USE_EMBEDDING, false, &m->tok_embd));
    RZ_TRY(bind_inputs(m, src));
    if (m->arch->encoder) return bind_layers(m, src); /* no output norm and head */
    RZ_TRY(bind_weight(src, "output_norm.weight", E, 1, USE_NORM, false, &m->output_norm));
    if (m->arch->inputs & RZ_I_OUTPUT_LN)
        RZ_TRY(bind_weight(src, "output_norm.bias", E, 1, USE_NORM, false, &m->output_norm_b));
    RZ_TRY(bind_weight(src, "output.weight", E, V, USE_MATRIX, true, &m->output));
    if (!m->output.data) {
        if (!rz_type_vec_dot(m->tok_embd.type, RZ_ISA_SCALAR))
            return rz_error(RZ_ERR_UNSUPPORTED,
                            "model: tied output uses token_embd of type %s, which has no mat-mul "
                            "kernel yet",
                            rz_type_name(m->tok_embd.type));
        m->output = m->tok_embd;
        m->desc.tied_output = true;
    }
    return bind_layers(m, src);
}

/* rope_freqs.weight (Llama 3.1+): per-pair factors the frequencies are
 * divided by. */
static rz_status bind_rope_factors(rz_model *m, const weight_source *src) {
    rz_tensor factors = {0};
    RZ_TRY(bind_weight(src, "rope_freqs.weight", m->desc.n_rot / 2, 1, USE_NORM, true, &factors));
    if (!factors.data) return RZ_OK;
    if (!m->arch->rope_freqs)
        return rz_error(RZ_ERR_UNSUPPORTED, "model: rope_freqs.weight is not supported for architecture '%s'",
                        m->desc.arch);
    const float *f = factors.data;
    for (int32_t i = 0; i < m->desc.n_rot / 2; i++)
        m->rope[0].freqs[i] /= f[i];
    m->desc.rope_factors = true;
    return RZ_OK;
}

/* A GGUF tensor no part of the model read would be silently ignored: refuse
 * the file instead, naming it. */
static rz_status check_all_used(const rz_model *m, const weight_source *src) {
    for (uint64_t i = 0; i < rz_gguf_tensor_count(src->gguf); i++)
        if (!src->used[i]) {
            const rz_str name = rz_gguf_tensor_at(src->gguf, i)->name;
            return rz_error(
                RZ_ERR_UNSUPPORTED,
                "model: tensor '%.*s' is not supported for architecture '%s' (it would be ignored)",
                (int)name.len, name.ptr, m->desc.arch);
        }
    return RZ_OK;
}

/* ------------------------------------------------------------- hparams */

rz_status rz_arch_key_u32(const rz_gguf *g, const char *arch, const char *suffix, bool optional,
                          uint32_t fallback, int32_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    uint32_t v;
    rz_status s = rz_gguf_get_u32(g, key, &v);
    if (s == RZ_ERR_NOT_FOUND && optional) {
        v = fallback;
    } else if (s != RZ_OK) {
        return rz_error_prefix(s, "model");
    }
    if (v > INT32_MAX) return rz_error(RZ_ERR_RANGE, "model: %s = %u is too large", key, v);
    *out = (int32_t)v;
    return RZ_OK;
}

rz_status rz_arch_key_f32(const rz_gguf *g, const char *arch, const char *suffix, float fallback,
                          float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    rz_status s = rz_gguf_get_f32(g, key, out);
    if (s == RZ_ERR_NOT_FOUND) {
        *out = fallback;
        return RZ_OK;
    }
    return s == RZ_OK ? RZ_OK : rz_error_prefix(s, "model");
}

/* RoPE frequencies theta_i = base^(-2i / n_rot) over linear position
 * scaling pos * scale, as llama.cpp computes them. */
rz_status rz_rope_set_init(rz_rope_set *set, const rz_model *m, float base, float scale) {
    const int32_t n_rot = m->desc.n_rot;
    if (!(base > 0.0f)) return rz_error(RZ_ERR_FORMAT, "model: RoPE base %g must be positive", (double)base);
    set->freqs = malloc((size_t)(n_rot / 2 ? n_rot / 2 : 1) * sizeof(float));
    if (!set->freqs) return rz_error(RZ_ERR_NOMEM, "out of memory");
    set->mscale = 1.0f;
    for (int32_t i = 0; i < n_rot / 2; i++)
        set->freqs[i] = scale / powf(base, (float)(2 * i) / (float)n_rot);
    return RZ_OK;
}

static bool str_is(rz_str s, const char *lit) {
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* YaRN RoPE scaling, as ggml's rope_yarn with llama.cpp's defaults for a
 * "yarn" model (ext_factor 1, beta_fast 32, beta_slow 1; the GGUF keys for
 * the betas are read by a few architectures only, none of ours). */
typedef struct yarn_params {
    float factor;      /* rope.scaling.factor: the context extension */
    float n_ctx_orig;  /* rope.scaling.original_context_length, else the training context */
    float attn_factor; /* rope.scaling.attn_factor */
} yarn_params;

/* Where a pair's wavelength spans n_ctx_orig / beta turns, in pairs
 * (ggml_rope_yarn_corr_dim). */
static float yarn_corr_dim(int32_t n_rot, float n_ctx_orig, float beta, float base) {
    return (float)n_rot * logf(n_ctx_orig / (beta * 2.0f * (float)M_PI)) / (2.0f * logf(base));
}

/* Each pair's frequency theta_i becomes theta_i * ((1 - r) / factor + r),
 * r ramping from 1 (kept: fast pairs below ggml's low correction dim) to 0
 * (interpolated: pairs past the high one). cos and sin are scaled by
 * attn_factor * (1 + 0.1 ln factor), ggml's YaRN magnitude times the
 * attn_factor llama.cpp passes it: rope.scaling.attn_factor alone, since its
 * own magnitude for a model without yarn_log_multiplier, 1 + 0.1 ln factor
 * (1 for factor <= 1), is divided by ggml's (llama.cpp PR 18006). */
static void rope_set_yarn(rz_rope_set *set, const rz_model *m, float base, const yarn_params *y) {
    const int32_t n_rot = m->desc.n_rot;
    const float low = fmaxf(0.0f, floorf(yarn_corr_dim(n_rot, y->n_ctx_orig, 32.0f, base)));
    const float high = fminf((float)(n_rot - 1), ceilf(yarn_corr_dim(n_rot, y->n_ctx_orig, 1.0f, base)));
    for (int32_t i = 0; i < n_rot / 2; i++) {
        const float r = 1.0f - fminf(1.0f, fmaxf(0.0f, ((float)i - low) / fmaxf(0.001f, high - low)));
        set->freqs[i] *= (1.0f - r) / y->factor + r;
    }
    set->mscale = y->attn_factor * (y->factor > 1.0f ? 1.0f + 0.1f * logf(y->factor) : 1.0f);
}

/* RoPE scaling from rope.scaling.*: "linear" (or a factor alone) as the
 * position scale 1 / factor, "yarn" into *yarn (factor 0: none); every other
 * kind is refused. */
static rz_status rope_scaling(const rz_gguf *g, const rz_model *m, float *scale, yarn_params *yarn) {
    const char *arch = m->desc.arch;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    rz_str type = {"", 0};
    const bool has_type = rz_gguf_get_str(g, key, &type) == RZ_OK, is_yarn = str_is(type, "yarn");
    if (has_type && !is_yarn && !str_is(type, "linear") && !str_is(type, "none"))
        return rz_error(RZ_ERR_UNSUPPORTED, "model: RoPE scaling '%.*s' is not supported", (int)type.len,
                        type.ptr);
    float factor;
    RZ_TRY(rz_arch_key_f32(g, arch, "rope.scaling.factor", 1.0f, &factor));
    if (str_is(type, "none") || factor == 0.0f) factor = 1.0f;
    if (!(factor > 0.0f)) return rz_error(RZ_ERR_FORMAT, "model: RoPE scaling factor %g", (double)factor);
    *scale = 1.0f;
    *yarn = (yarn_params){0};
    if (!is_yarn) {
        *scale = 1.0f / factor;
        return RZ_OK;
    }
    int32_t n_ctx_orig = 0;
    RZ_TRY(rz_arch_key_u32(g, arch, "rope.scaling.original_context_length", true,
                           (uint32_t)m->desc.n_ctx_train, &n_ctx_orig));
    if (n_ctx_orig <= 0)
        return rz_error(RZ_ERR_FORMAT, "model: YaRN original context length must be positive");
    float log_mul; /* DeepSeek's mscale_all_dim: another magnitude */
    RZ_TRY(rz_arch_key_f32(g, arch, "rope.scaling.yarn_log_multiplier", 0.0f, &log_mul));
    if (log_mul != 0.0f)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "model: YaRN with rope.scaling.yarn_log_multiplier is not supported");
    *yarn = (yarn_params){.factor = factor, .n_ctx_orig = (float)n_ctx_orig};
    return rz_arch_key_f32(g, arch, "rope.scaling.attn_factor", 1.0f, &yarn->attn_factor);
}

static rz_status read_gguf_hparams(rz_model *m, const rz_gguf *g) {
    rz_model_desc *d = &m->desc;
    rz_str arch;
    RZ_TRY(rz_gguf_get_str(g, "general.architecture", &arch));
    if (arch.len >= sizeof d->arch) return rz_error(RZ_ERR_FORMAT, "model: architecture name is too long");
    memcpy(d->arch, arch.ptr, arch.len);
    d->arch[arch.len] = '\0';
    m->arch = rz_arch_find(d->arch);
    if (!m->arch) return rz_error(RZ_ERR_UNSUPPORTED, "model: architecture '%s' is not supported", d->arch);
    RZ_TRY(rz_arch_key_u32(g, d->arch, "context_length", false, 0, &d->n_ctx_train));
    RZ_TRY(rz_arch_key_u32(g, d->arch, "embedding_length", false, 0, &d->n_embd));
    RZ_TRY(rz_arch_key_u32(g, d->arch, "block_count", false, 0, &d->n_layer));
    RZ_TRY(rz_arch_key_u32(g, d->arch, "feed_forward_length", true, 0, &d->n_ff));
    RZ_TRY(rz_arch_key_u32(g, d->arch, "attention.head_count", false, 0, &d->n_head));
    RZ_TRY(rz_arch_key_u32(g, d->arch, "attention.head_count_kv", true, (uint32_t)d->n_head, &d->n_head_kv));
    const uint32_t hd = d->n_head > 0 ? (uint32_t)(d->n_embd / d->n_head) : 0;
    RZ_TRY(rz_arch_key_u32(g, d->arch, "attention.key_length", true, hd, &m->head_dim));
    int32_t v_dim = 0;
    RZ_TRY(rz_arch_key_u32(g, d->arch, "attention.value_length", true, (uint32_t)m->head_dim, &v_dim));
    if (v_dim != m->head_dim)
        return rz_error(RZ_ERR_UNSUPPORTED, "model: value heads of %d differ from key heads of %d", v_dim,
                        m->head_dim);
    RZ_TRY(rz_arch_key_u32(g, d->arch, "rope.dimension_count", true, (uint32_t)m->head_dim, &d->n_rot));
    RZ_TRY(rz_arch_key_f32(g, d->arch, "attention.layer_norm_rms_epsilon", 1e-5f, &d->rms_eps));
    RZ_TRY(rz_arch_key_f32(g, d->arch, "rope.freq_base", 10000.0f, &d->rope_freq_base));
    RZ_TRY(rz_arch_key_u32(g, d->arch, "expert_count", true, 0, &m->n_expert));
    RZ_TRY(rz_arch_key_u32(g, d->arch, "expert_used_count", true, 0, &m->n_expert_used));
    RZ_TRY(rz_arch_key_u32(g, d->arch, "expert_feed_forward_length", true, (uint32_t)d->n_ff, &m->n_ff_exp));
    int32_t pooling;
    RZ_TRY(rz_arch_key_u32(g, d->arch, "pooling_type", true, RZ_POOLING_MEAN, &pooling));
    if (pooling > RZ_POOLING_LAST)
        return rz_error(RZ_ERR_UNSUPPORTED, "model: pooling type %d is not supported (none, mean, cls, last)",
                        pooling);
    d->pooling = (rz_pooling)pooling;
    const rz_gguf_tensor *embd = rz_gguf_find_tensor(g, "token_embd.weight");
    if (!embd) return rz_error(RZ_ERR_FORMAT, "model: tensor 'token_embd.weight' is missing");
    if (embd->ne[1] > INT32_MAX) return rz_error(RZ_ERR_RANGE, "model: vocabulary is too large");
    d->n_vocab = (int32_t)embd->ne[1];
    return RZ_OK;
}

static rz_status read_llama2c_hparams(rz_model *m, const rz_llama2c *l2c) {
    const rz_llama2c_config *c = rz_llama2c_get_config(l2c);
    rz_model_desc *d = &m->desc;
    snprintf(d->arch, sizeof d->arch, "llama");
    m->arch = rz_arch_find("llama");
    d->n_ctx_train = c->seq_len;
    d->n_embd = c->dim;
    d->n_layer = c->n_layers;
    d->n_ff = c->hidden_dim;
    d->n_head = c->n_heads;
    d->n_head_kv = c->n_kv_heads;
    m->head_dim = c->n_heads > 0 ? c->dim / c->n_heads : 0;
    d->n_rot = m->head_dim;
    d->rms_eps = 1e-5f;
    d->rope_freq_base = 10000.0f;
    d->n_vocab = c->vocab_size;
    d->pooling = RZ_POOLING_MEAN;
    return RZ_OK;
}

/* A recurrent architecture has no attention: only the common sizes, then
 * its own keys (which size its state). */
static rz_status derive_rec_hparams(rz_model *m, const rz_gguf *g) {
    rz_model_desc *d = &m->desc;
    if (d->n_embd <= 0 || d->n_layer <= 0 || d->n_vocab <= 0 || d->n_ctx_train <= 0 || d->n_ff < 0)
        return rz_error(RZ_ERR_FORMAT,
                        "model: hyperparameters must be positive (embd %d, layers %d, vocab %d, context %d)",
                        d->n_embd, d->n_layer, d->n_vocab, d->n_ctx_train);
    if (d->n_layer > 1 << 16 || d->n_embd > 1 << 20)
        return rz_error(RZ_ERR_RANGE, "model: %d layers of width %d are too many", d->n_layer, d->n_embd);
    d->n_head = d->n_head_kv = d->n_rot = 0;
    m->head_dim = 0;
    m->q_dim = m->kv_dim = 0;
    m->n_expert = m->n_expert_used = m->n_ff_exp = 0;
    m->recurrent = true;
    m->causal = true;
    m->embd_scale = 1.0f;
    m->n_rope_sets = 0;
    m->ffn_activation = m->arch->ffn_activation;
    RZ_TRY(rz_arch_key_f32(g, d->arch, "attention.layer_norm_epsilon", 1e-5f, &m->norm_eps));
    return m->arch->read_hparams(m, g);
}

/* The settings every architecture starts from, then its own keys. */
static rz_status derive_hparams(rz_model *m, const rz_gguf *g) {
    rz_model_desc *d = &m->desc;
    if (m->arch->rec_tensors) return derive_rec_hparams(m, g);
    if (d->n_embd <= 0 || d->n_layer <= 0 || d->n_head <= 0 || d->n_head_kv <= 0 || d->n_vocab <= 0 ||
        d->n_ctx_train <= 0 || m->head_dim <= 0)
        return rz_error(
            RZ_ERR_FORMAT,
            "model: hyperparameters must be positive (embd %d, layers %d, heads %d/%d, head size %d, "
            "vocab %d, context %d)",
            d->n_embd, d->n_layer, d->n_head, d->n_head_kv, m->head_dim, d->n_vocab, d->n_ctx_train);
    if (d->n_head % d->n_head_kv != 0)
        return rz_error(RZ_ERR_FORMAT, "model: %d KV heads do not divide %d heads", d->n_head_kv, d->n_head);
    if (d->n_head > 1 << 16 || m->head_dim > 1 << 16 || d->n_layer > 1 << 16)
        return rz_error(RZ_ERR_RANGE, "model: %d heads of %d in %d layers are too many", d->n_head,
                        m->head_dim, d->n_layer);
    if (d->n_ff < 0 || m->n_ff_exp < 0 || m->n_expert > 1024 || m->n_expert_used > m->n_expert ||
        (m->n_expert > 0 && (m->n_expert_used <= 0 || m->n_ff_exp <= 0)))
        return rz_error(RZ_ERR_FORMAT, "model: %d experts (%d used) of width %d", m->n_expert,
                        m->n_expert_used, m->n_ff_exp);
    m->q_dim = (int64_t)d->n_head * m->head_dim;
    m->kv_dim = (int64_t)d->n_head_kv * m->head_dim;
    if (d->n_rot <= 0 || d->n_rot > m->head_dim || d->n_rot % 2 != 0)
        return rz_error(RZ_ERR_FORMAT, "model: RoPE dimension %d must be even and at most the head size %d",
                        d->n_rot, m->head_dim);
    if (!(d->rms_eps > 0.0f)) return rz_error(RZ_ERR_FORMAT, "model: RMS epsilon must be positive");
    m->rope_style = m->arch->rope_style;
    m->ffn_activation = m->arch->ffn_activation;
    m->attn_scale = 1.0f / sqrtf((float)m->head_dim);
    m->causal = !m->arch->encoder;
    d->encoder = m->arch->encoder;
    m->embd_scale = 1.0f;
    m->moe_gating = RZ_MOE_SOFTMAX;
    m->moe_norm_weights = true;
    m->n_rope_sets = 1;
    float scale = 1.0f;
    yarn_params yarn = {0};
    if (g) RZ_TRY(rope_scaling(g, m, &scale, &yarn));
    d->rope_freq_scale = scale;
    RZ_TRY(rz_rope_set_init(&m->rope[0], m, d->rope_freq_base, scale));
    if (yarn.factor > 0.0f) rope_set_yarn(&m->rope[0], m, d->rope_freq_base, &yarn);
    if (g && m->arch->read_hparams) RZ_TRY(m->arch->read_hparams(m, g));
    m->rope_freqs = m->rope[0].freqs;
    return RZ_OK;
}

/* ---------------------------------------------------------- vocabulary */

static void no_vocab(rz_model *m, const char *why) {
    m->has_vocab = false;
    snprintf(m->vocab_error, sizeof m->vocab_error, "%s", why);
}

static int32_t gguf_token_id(const rz_gguf *g, const char *key, int32_t fallback) {
    uint32_t v;
    if (rz_gguf_get_u32(g, key, &v) != RZ_OK || v > INT32_MAX) return fallback;
    return (int32_t)v;
}

static rz_vocab_flag gguf_vocab_flag(const rz_gguf *g, const char *key) {
    bool v;
    return rz_gguf_get_bool(g, key, &v) == RZ_OK ? (v ? RZ_FLAG_ON : RZ_FLAG_OFF) : RZ_FLAG_DEFAULT;
}

/* Strings of an array under key (pointing into the file), or NULL. */
static rz_status gguf_str_array(const rz_gguf *g, const char *key, rz_str **out, uint64_t *n) {
    const rz_gguf_value *arr;
    RZ_TRY(rz_gguf_get_array(g, key, RZ_GGUF_STRING, &arr));
    *n = rz_gguf_array_len(arr);
    if (*n > INT32_MAX)
        return rz_error(RZ_ERR_FORMAT, "model: %s has %llu items", key, (unsigned long long)*n);
    *out = malloc((*n ? *n : 1) * sizeof **out);
    if (!*out) return rz_error(RZ_ERR_NOMEM, "out of memory reading %s", key);
    for (uint64_t i = 0; i < *n; i++)
        (*out)[i] = rz_gguf_array_str(arr, i);
    return RZ_OK;
}

static rz_status load_gguf_vocab(rz_model *m, const rz_gguf *g) {
    rz_str model_name;
    if (rz_gguf_get_str(g, "tokenizer.ggml.model", &model_name) != RZ_OK || str_is(model_name, "none") ||
        str_is(model_name, "no_vocab")) {
        no_vocab(m, "the model file has no tokenizer");
        return RZ_OK;
    }
    rz_vocab_kind kind;
    if (str_is(model_name, "llama")) {
        kind = RZ_VOCAB_SPM;
    } else if (str_is(model_name, "gpt2")) {
        kind = RZ_VOCAB_BPE;
    } else if (str_is(model_name, "bert")) {
        kind = RZ_VOCAB_WPM;
    } else if (str_is(model_name, "rwkv")) {
        kind = RZ_VOCAB_RWKV;
    } else {
        char why[128];
        snprintf(why, sizeof why, "tokenizer model '%.*s' is not supported", (int)model_name.len,
                 model_name.ptr);
        no_vocab(m, why);
        return RZ_OK;
    }
    const rz_gguf_value *scores_v = NULL, *types_v = NULL;
    rz_str *pieces = NULL, *merges = NULL;
    uint64_t n, n_merges = 0;
    RZ_TRY(gguf_str_array(g, "tokenizer.ggml.tokens", &pieces, &n));
    rz_status s = RZ_OK;
    if (n == 0) s = rz_error(RZ_ERR_FORMAT, "model: tokenizer has no tokens");
    if (s == RZ_OK && kind == RZ_VOCAB_BPE)
        s = gguf_str_array(g, "tokenizer.ggml.merges", &merges, &n_merges);
    if (rz_gguf_get_array(g, "tokenizer.ggml.scores", RZ_GGUF_FLOAT32, &scores_v) != RZ_OK) scores_v = NULL;
    if (rz_gguf_get_array(g, "tokenizer.ggml.token_type", RZ_GGUF_INT32, &types_v) != RZ_OK) types_v = NULL;
    if (s == RZ_OK &&
        ((scores_v && rz_gguf_array_len(scores_v) != n) || (types_v && rz_gguf_array_len(types_v) != n)))
        s = rz_error(RZ_ERR_FORMAT, "model: tokenizer scores/types do not match its %llu tokens",
                     (unsigned long long)n);
    float *scores = s == RZ_OK && scores_v ? malloc(n * sizeof *scores) : NULL;
    int32_t *types = s == RZ_OK && types_v ? malloc(n * sizeof *types) : NULL;
    if (s == RZ_OK && ((scores_v && !scores) || (types_v && !types)))
        s = rz_error(RZ_ERR_NOMEM, "out of memory reading the tokenizer");
    if (s != RZ_OK) {
        free(pieces);
        free(merges);
        free(scores);
        free(types);
        return s;
    }
    /* Array data need not be aligned in the file: copy it out. */
    if (scores) memcpy(scores, rz_gguf_array_data(scores_v), n * sizeof *scores);
    if (types) memcpy(types, rz_gguf_array_data(types_v), n * sizeof *types);
    rz_str pre = {"", 0};
    if (rz_gguf_get_str(g, "tokenizer.ggml.pre", &pre) != RZ_OK) pre = (rz_str){"", 0};
    rz_vocab_spec spec = {
        .kind = kind,
        .n_tokens = (uint32_t)n,
        .pieces = pieces,
        .scores = scores,
        .types = types,
        .merges = merges,
        .n_merges = (uint32_t)n_merges,
        .pre = pre,
        .bos = gguf_token_id(g, "tokenizer.ggml.bos_token_id", -1),
        .eos = gguf_token_id(g, "tokenizer.ggml.eos_token_id", -1),
        .unk = gguf_token_id(g, "tokenizer.ggml.unknown_token_id", -1),
        .add_bos = gguf_vocab_flag(g, "tokenizer.ggml.add_bos_token"),
        .add_eos = gguf_vocab_flag(g, "tokenizer.ggml.add_eos_token"),
        .add_space_prefix = gguf_vocab_flag(g, "tokenizer.ggml.add_space_prefix"),
    };
    if (kind == RZ_VOCAB_WPM) { /* BERT wraps its input in [CLS] ... [SEP] */
        if (spec.bos < 0) spec.bos = gguf_token_id(g, "tokenizer.ggml.cls_token_id", -1);
        if (spec.eos < 0) spec.eos = gguf_token_id(g, "tokenizer.ggml.seperator_token_id", -1);
    }
    for (int32_t *id = &spec.bos; id <= &spec.unk; id++)
        if (*id >= (int32_t)n) *id = -1;
    s = rz_vocab_init(&m->vocab, &spec);
    free(pieces);
    free(merges);
    free(scores);
    free(types);
    if (s == RZ_ERR_UNSUPPORTED) { /* e.g. an unknown pre-tokenizer: the weights still run */
        no_vocab(m, rz_last_error());
        return RZ_OK;
    }
    if (s != RZ_OK) return rz_error_prefix(s, "model");
    m->has_vocab = true;
    /* Generation ends at EOS, and as in llama.cpp at the end-of-turn and
     * end-of-message tokens a vocabulary names (RWKV's "\n\n", Llama 3's
     * <|eot_id|>). */
    const int32_t ends[] = {m->vocab.eos, gguf_token_id(g, "tokenizer.ggml.eot_token_id", -1),
                            gguf_token_id(g, "tokenizer.ggml.eom_token_id", -1)};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        bool seen = ends[i] < 0 || ends[i] >= (int32_t)m->vocab.n_tokens;
        for (int k = 0; k < m->n_end_tokens; k++)
            seen |= m->end_tokens[k] == ends[i];
        if (!seen) m->end_tokens[m->n_end_tokens++] = ends[i];
    }
    return RZ_OK;
}

static rz_status load_llama2c_vocab(rz_model *m, const char *path) {
    if (!path) {
        no_vocab(m, "no tokenizer given for the llama2.c checkpoint (use -z tokenizer.bin)");
        return RZ_OK;
    }
    rz_llama2c_vocab *l2v;
    RZ_TRY(rz_llama2c_vocab_open(path, m->desc.n_vocab, &l2v));
    rz_llama2c_spm spm;
    rz_status s = rz_llama2c_spm_build(l2v, &spm);
    rz_llama2c_vocab_close(l2v);
    if (s != RZ_OK) return s;
    rz_vocab_spec spec = {
        .kind = RZ_VOCAB_SPM,
        .n_tokens = spm.n_tokens,
        .pieces = spm.pieces,
        .scores = spm.scores,
        .types = spm.types,
        .bos = spm.bos,
        .eos = spm.eos,
        .unk = spm.unk,
        .add_bos = RZ_FLAG_ON,
        .add_eos = RZ_FLAG_OFF,
        .add_space_prefix = RZ_FLAG_ON,
    };
    s = rz_vocab_init(&m->vocab, &spec);
    rz_llama2c_spm_free(&spm);
    if (s != RZ_OK) return s;
    m->has_vocab = true;
    /* llama2.c ends a sample when the model emits BOS, the sequence delimiter
     * it was trained with. */
    if (m->vocab.bos >= 0) m->end_tokens[m->n_end_tokens++] = m->vocab.bos;
    if (m->vocab.eos >= 0) m->end_tokens[m->n_end_tokens++] = m->vocab.eos;
    return RZ_OK;
}

/* --------------------------------------------------------------- load */

/* Every tensor of a layer but the expert views; absent ones have no data. */
#define LAYER_TENSOR_LIST(L)                                                                                 \
    {                                                                                                        \
        &L->attn_norm, &L->attn_norm_b, &L->wq, &L->wk, &L->wv, &L->wo, &L->bq, &L->bk, &L->bv, &L->bo,      \
            &L->q_norm, &L->k_norm, &L->attn_post_norm, &L->attn_sinks, &L->attn_sub_norm, &L->ffn_norm,     \
            &L->ffn_norm_b, &L->ffn_gate, &L->ffn_up, &L->ffn_down, &L->ffn_up_b, &L->ffn_down_b,            \
            &L->ffn_sub_norm, &L->ffn_post_norm, &L->attn_out_norm, &L->attn_out_norm_b, &L->layer_out_norm, \
            &L->layer_out_norm_b, &L->gate_inp, &L->gate_inp_b, &L->exp_gate_b, &L->exp_up_b, &L->exp_down_b \
    }

static uint64_t tensor_bytes(const rz_tensor *t) { return t->data ? t->row_bytes * (uint64_t)t->ne[1] : 0; }
static uint64_t tensor_params(const rz_tensor *t) { return t->data ? (uint64_t)(t->ne[0] * t->ne[1]) : 0; }

/* Parameters and bytes of every weight, and the bytes one token reads:
 * each matrix once (of the experts, the share a token uses) and one
 * embedding row. */
static void weight_totals(const rz_model *m, uint64_t *params, uint64_t *bytes, uint64_t *per_token) {
    const rz_model_desc *d = &m->desc;
    /* Tables a token reads one row of, then the rest. */
    const rz_tensor *tables[] = {&m->tok_embd, &m->token_types, &m->pos_embd},
                    *globals[] = {&m->output_norm, &m->output_norm_b, &m->output, &m->embd_norm,
                                  &m->embd_norm_b};
    *params = *bytes = *per_token = 0;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        *params += tensor_params(tables[i]);
        *bytes += tensor_bytes(tables[i]);
        *per_token += tables[i]->data ? tables[i]->row_bytes : 0;
    }
    for (size_t i = 0; i < sizeof globals / sizeof globals[0]; i++) {
        if (d->tied_output && globals[i] == &m->output) continue;
        *params += tensor_params(globals[i]);
        *bytes += tensor_bytes(globals[i]);
        *per_token += tensor_bytes(globals[i]);
    }
    if (d->tied_output) *per_token += tensor_bytes(&m->output);
    for (int32_t l = 0; l < d->n_layer; l++) {
        const rz_layer *L = &m->layers[l];
        const rz_tensor *list[] = LAYER_TENSOR_LIST(L);
        for (size_t k = 0; k < sizeof list / sizeof list[0]; k++) {
            *params += tensor_params(list[k]);
            *bytes += tensor_bytes(list[k]);
            *per_token += tensor_bytes(list[k]);
        }
        for (int k = 0; k < m->arch->n_rec_tensors; k++) {
            *params += tensor_params(&L->rec[k]);
            *bytes += tensor_bytes(&L->rec[k]);
            *per_token += tensor_bytes(&L->rec[k]);
        }
        for (int32_t e = 0; L->exp_up && e < m->n_expert; e++) {
            const rz_tensor *exp[] = {&L->exp_gate[e], &L->exp_up[e], &L->exp_down[e]};
            for (int k = 0; k < 3; k++) {
                *params += tensor_params(exp[k]);
                *bytes += tensor_bytes(exp[k]);
                if (e < m->n_expert_used) *per_token += tensor_bytes(exp[k]);
            }
        }
    }
}

static void summarize(rz_model *m) {
    rz_model_desc *d = &m->desc;
    const rz_layer *L0 = &m->layers[0];
    d->weight_type = L0->wq.type;
    for (int i = 0; i < m->arch->n_rec_tensors && !L0->wq.data; i++)
        if (m->arch->rec_tensors[i].matrix && L0->rec[i].data) {
            d->weight_type = L0->rec[i].type;
            break;
        }
    d->output_type = m->output.type;
    d->bos = m->has_vocab ? m->vocab.bos : -1;
    d->eos = m->has_vocab ? m->vocab.eos : -1;
    d->has_vocab = m->has_vocab;
    d->head_dim = m->head_dim;
    d->rope_neox = m->rope_style == RZ_ROPE_NEOX;
    d->n_swa = (int32_t)m->n_swa;
    d->swa_pattern = (int32_t)m->swa_pattern;
    d->attn_softcap = m->attn_softcap;
    d->final_softcap = m->final_softcap;
    d->n_expert = m->n_expert;
    d->n_expert_used = m->n_expert_used;
    d->n_ff_exp = m->n_expert ? m->n_ff_exp : 0;
    d->expert_weights_norm = m->n_expert && m->moe_norm_weights;
    d->recurrent = m->recurrent;
    d->state_bytes = m->recurrent ? (uint64_t)d->n_layer * (uint64_t)m->rec.state_floats * sizeof(float) : 0;
    uint64_t per_token;
    weight_totals(m, &d->n_params, &d->weight_bytes, &per_token);
}

/* The matrices are copied once out of the file mapping into huge-page
 * memory, which the GEMVs read from DRAM markedly faster, and those whose type
 * has a run-time layout with a kernel for the active ISA are repacked into it
 * on the way (docs/layouts.md). The mapped originals are then dropped from the
 * resident set, so memory stays at one copy. */
/* Bytes tensor t takes in the weight copy once in type `to`. */
static uint64_t placed_bytes(const rz_tensor *t, rz_type to) {
    const rz_type_traits *tt = rz_type_traits_get(to);
    return rz_align_up(rz_row_bytes(tt, (uint64_t)t->ne[0]) * (uint64_t)t->ne[1] + tt->trailer_bytes,
                       RZ_CACHE_LINE);
}

/* The layout a matrix is placed in: the ISA's run-time layout, except one
 * that trades batch speed for bytes per token unless the caller asked. */
static rz_type placed_type(rz_type type, const rz_tensor *t, rz_isa isa, bool lut) {
    const rz_type to = rz_type_runtime_layout(type, t->ne[0], t->ne[1], isa);
    return !lut && rz_type_traits_get(to)->batches_slower ? type : to;
}

/* A matrix's placement: the type whose layout it is placed from (I2_S for
 * a TQ1_0 / TQ2_0 matrix of one scale throughout, as BitNet's are, wherever
 * its own layout would be repacked anyway: the I2_S kernels hold the same
 * values, read 2 instead of 2.06 bits per weight and tile batches about
 * twice as fast), and the one it ends up in. */
typedef struct placement {
    rz_type from, to;
    float scale; /* from == I2_S: the tensor scale */
} placement;

static placement place_of(const rz_tensor *t, rz_isa isa, bool lut) {
    placement p = {.from = t->type};
    if (rz_type_runtime_layout(t->type, t->ne[0], t->ne[1], isa) != t->type &&
        rz_tq_shared_scale(t->type, t->data, t->ne[0] * t->ne[1], &p.scale))
        p.from = RZ_TYPE_I2_S;
    p.to = placed_type(p.from, t, isa, lut);
    return p;
}

static rz_status place_weights(rz_model *m, bool lut) {
    const rz_isa isa = rz_isa_active();
    const int64_t n = m->n_matrices;
    placement *place = rz_calloc((size_t)n, sizeof *place);
    if (!place) return rz_error_prefix(RZ_ERR_NOMEM, "copying the weights");
    uint64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        const rz_tensor *t = m->matrices[i];
        place[i] = place_of(t, isa, lut);
        total += placed_bytes(t, place[i].to);
    }
    char *dst = m->weights = rz_alloc_large(total);
    if (!dst) {
        free(place);
        return rz_error_prefix(RZ_ERR_NOMEM, "copying the weights");
    }
    m->weights_bytes = total;
    rz_status status = RZ_OK;
    for (int64_t i = 0; i < n; i++) {
        rz_tensor *t = m->matrices[i];
        const placement p = place[i];
        const uint64_t bytes = tensor_bytes(t) + rz_type_traits_get(t->type)->trailer_bytes;
        const void *src = t->data;
        void *i2_s = NULL;
        if (p.from != t->type) { /* TQ -> I2_S, straight into place unless repacked further */
            i2_s = p.to == p.from ? dst : malloc(placed_bytes(t, p.from));
            if (!i2_s) {
                status = rz_error_prefix(RZ_ERR_NOMEM, "copying the weights");
                break;
            }
            rz_tq_to_i2_s(t->type, t->data, i2_s, t->ne[0] * t->ne[1], p.scale);
            src = i2_s;
            t->scale = p.scale;
        }
        if (p.to != p.from)
            rz_type_repack(p.from, p.to)(src, dst, t->ne[0], t->ne[1]);
        else if (src != dst)
            memcpy(dst, src, bytes);
        if (i2_s != dst) free(i2_s);
        /* A tied embedding's rows fault back in as tokens look them up. */
        if (m->gguf)
            rz_gguf_release_pages(m->gguf, t->data, bytes);
        else
            rz_mapped_release(t->data, bytes);
        t->type = p.to;
        t->row_bytes = rz_row_bytes(rz_type_traits_get(p.to), (uint64_t)t->ne[0]);
        t->data = dst;
        dst += placed_bytes(t, p.to);
    }
    free(place);
    return status;
}

rz_model_params rz_model_default_params(void) { return (rz_model_params){0}; }

/* A GGUF file, or a Hugging Face directory or rwkv.cpp file read as one,
 * into m->gguf; *found false when path is none of them (a llama2.c
 * checkpoint). */
static rz_status open_gguf(rz_model *m, const char *path, bool *found) {
    *found = true;
    if (rz_gguf_probe(path)) {
        snprintf(m->desc.format, sizeof m->desc.format, "gguf");
        return rz_gguf_open(path, &m->gguf);
    }
    if (rz_hf_probe(path)) {
        snprintf(m->desc.format, sizeof m->desc.format, "hf");
        return rz_hf_open(path, &m->gguf);
    }
    if (rz_rwkv_cpp_probe(path)) {
        snprintf(m->desc.format, sizeof m->desc.format, "rwkv.cpp");
        return rz_rwkv_cpp_open(path, &m->gguf);
    }
    *found = false;
    return RZ_OK;
}

/* Only the tokenizer: from any GGUF that has one (vocab-only files included),
 * or a llama2.c checkpoint's header plus its tokenizer.bin. */
static rz_status load_vocab_only(rz_model *m, const char *path, const rz_model_params *params) {
    rz_model_desc *d = &m->desc;
    m->vocab_only = true;
    bool found;
    RZ_TRY(open_gguf(m, path, &found));
    if (found) {
        rz_str arch;
        if (rz_gguf_get_str(m->gguf, "general.architecture", &arch) == RZ_OK)
            snprintf(d->arch, sizeof d->arch, "%.*s", (int)arch.len, arch.ptr);
        RZ_TRY(load_gguf_vocab(m, m->gguf));
    } else {
        snprintf(d->format, sizeof d->format, "llama2c");
        snprintf(d->arch, sizeof d->arch, "llama");
        RZ_TRY(rz_llama2c_open(path, &m->llama2c));
        /* Only the vocabulary size: no layers are described, none bound. */
        d->n_vocab = rz_llama2c_get_config(m->llama2c)->vocab_size;
        RZ_TRY(load_llama2c_vocab(m, params->tokenizer_path));
    }
    if (!m->has_vocab) return rz_error(RZ_ERR_UNSUPPORTED, "model: no usable tokenizer: %s", m->vocab_error);
    d->n_vocab = (int32_t)m->vocab.n_tokens;
    d->bos = m->vocab.bos;
    d->eos = m->vocab.eos;
    d->has_vocab = true;
    return RZ_OK;
}

/* Hyperparameters and weights of a GGUF model, all its tensors used. */
static rz_status load_gguf(rz_model *m, weight_source *src) {
    RZ_TRY(read_gguf_hparams(m, m->gguf));
    RZ_TRY(derive_hparams(m, m->gguf));
    RZ_TRY(load_gguf_vocab(m, m->gguf));
    src->used = calloc(rz_gguf_tensor_count(m->gguf) + 1, sizeof *src->used);
    if (!src->used) return rz_error(RZ_ERR_NOMEM, "out of memory");
    RZ_TRY(bind_weights(m, src));
    RZ_TRY(bind_rope_factors(m, src));
    return check_all_used(m, src);
}

static rz_status load_llama2c(rz_model *m, weight_source *src, const char *tokenizer_path) {
    RZ_TRY(read_llama2c_hparams(m, m->llama2c));
    RZ_TRY(derive_hparams(m, NULL));
    RZ_TRY(load_llama2c_vocab(m, tokenizer_path));
    return bind_weights(m, src);
}

rz_status rz_model_load(const char *path, const rz_model_params *params, rz_model **out) {
    *out = NULL;
    rz_model *m = calloc(1, sizeof *m);
    if (!m) return rz_error(RZ_ERR_NOMEM, "out of memory");
    rz_status s;
    bool found;
    weight_source src = {0};
    if (params && params->vocab_only) {
        s = load_vocab_only(m, path, params);
    } else if ((s = open_gguf(m, path, &found)) != RZ_OK || found) {
        src.gguf = m->gguf;
        if (s == RZ_OK) s = load_gguf(m, &src);
    } else {
        snprintf(m->desc.format, sizeof m->desc.format, "llama2c");
        s = rz_llama2c_open(path, &m->llama2c);
        src.llama2c = m->llama2c;
        if (s == RZ_OK) s = load_llama2c(m, &src, params ? params->tokenizer_path : NULL);
    }
    free(src.used);
    if (s == RZ_OK && !m->vocab_only && m->has_vocab && (int64_t)m->vocab.n_tokens > m->desc.n_vocab)
        s = rz_error(RZ_ERR_FORMAT, "model: tokenizer has %u tokens but the model only %d", m->vocab.n_tokens,
                     m->desc.n_vocab);
    if (s != RZ_OK) {
        rz_error_prefix(s, "loading '%s'", path);
        rz_model_free(m);
        return s;
    }
    if (!m->vocab_only) {
        summarize(m); /* the file's types, before any repacking */
        if (!(params && params->no_repack) && (s = place_weights(m, params && params->lut)) != RZ_OK) {
            rz_error_prefix(s, "loading '%s'", path);
            rz_model_free(m);
            return s;
        }
    }
    *out = m;
    return RZ_OK;
}

void rz_model_free(rz_model *m) {
    if (!m) return;
    if (m->has_vocab) rz_vocab_free(&m->vocab);
    free(m->layers);
    free(m->experts);
    free(m->matrices);
    for (int s = 0; s < RZ_MAX_ROPE_SETS; s++)
        free(m->rope[s].freqs);
    rz_free_large(m->weights, m->weights_bytes);
    rz_gguf_close(m->gguf);
    rz_llama2c_close(m->llama2c);
    free(m);
}

const rz_model_desc *rz_model_describe(const rz_model *m) { return &m->desc; }

uint64_t rz_model_bytes_per_token(const rz_model *m) {
    uint64_t params, bytes, per_token;
    weight_totals(m, &params, &bytes, &per_token);
    return per_token;
}
