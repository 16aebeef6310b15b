/* Model loading: hyperparameters, weights and vocabulary from a GGUF file or
 * a llama2.c checkpoint into one rz_model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "base/mem.h"
#include "format/llama2c_spm.h"
#include "model/model.h"
#include "tensor/quants_ternary.h"
#include "tensor/type_traits.h"

/* Where weight tensors come from: a name lookup over either file format. */
typedef struct weight_source {
    const rz_gguf *gguf;
    const rz_llama2c *llama2c;
} weight_source;

static const rz_arch_info supported_archs[] = {
    {.name = "llama", .rope_style = RZ_ROPE_NORMAL, .ffn_activation = RZ_FFN_SILU},
    /* bitnet.cpp's llama.cpp fork (1bitLLM bitnet_b1_58-*): SiLU gating; its
     * converter keeps HF's Q/K order, so RoPE is NeoX-style (llama.cpp lists
     * LLM_ARCH_BITNET under LLAMA_ROPE_TYPE_NEOX; the golden logits agree). */
    {.name = "bitnet", .rope_style = RZ_ROPE_NEOX, .ffn_activation = RZ_FFN_SILU, .sub_norms = true},
    /* BitNet-b1.58-2B-4T (microsoft/BitNet PR #212): squared-ReLU gating. */
    {.name = "bitnet-b1.58",
     .rope_style = RZ_ROPE_NEOX,
     .ffn_activation = RZ_FFN_RELU_SQR,
     .sub_norms = true},
};

static bool source_find(const weight_source *src, const char *name, rz_type *type, uint32_t *n_dims,
                        uint64_t ne[RZ_MAX_DIMS], const void **data) {
    if (src->gguf) {
        const rz_gguf_tensor *t = rz_gguf_find_tensor(src->gguf, name);
        if (!t) return false;
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
    USE_NORM,      /* read as float32 directly */
    USE_MATRIX,    /* multiplied with activations: needs a vec_dot kernel */
    USE_EMBEDDING, /* rows are looked up: needs to_float */
} weight_use;

/* Finds `name` and checks it has shape {ne0, ne1} and a type fit for `use`. */
static rz_status bind_weight(const weight_source *src, const char *name, int64_t ne0, int64_t ne1,
                             weight_use use, bool optional, rz_tensor *out, bool *found) {
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[RZ_MAX_DIMS];
    const void *data;
    if (found) *found = false;
    if (!source_find(src, name, &type, &n_dims, ne, &data)) {
        if (optional) return RZ_OK;
        return rz_error(RZ_ERR_FORMAT, "model: tensor '%s' is missing", name);
    }
    if ((int64_t)ne[0] != ne0 || (int64_t)ne[1] != ne1 || ne[2] != 1 || ne[3] != 1)
        return rz_error(RZ_ERR_FORMAT,
                        "model: tensor '%s' has shape {%llu, %llu, %llu, %llu}, expected {%lld, %lld}", name,
                        (unsigned long long)ne[0], (unsigned long long)ne[1], (unsigned long long)ne[2],
                        (unsigned long long)ne[3], (long long)ne0, (long long)ne1);
    const rz_type_traits *t = rz_type_traits_get(type);
    if (use == USE_NORM && type != RZ_TYPE_F32)
        return rz_error(RZ_ERR_UNSUPPORTED, "model: norm tensor '%s' is %s; only f32 norms are supported",
                        name, t->name);
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
    out->ne[1] = ne1;
    out->ne[2] = out->ne[3] = 1;
    out->row_bytes = rz_row_bytes(t, (uint64_t)ne0);
    out->data = data;
    out->scale = type == RZ_TYPE_I2_S ? rz_i2s_scale(data, ne0 * ne1) : 0.0f;
    if (found) *found = true;
    return RZ_OK;
}

static rz_status bind_weights(rz_model *m, const weight_source *src) {
    const rz_model_desc *d = &m->desc;
    const int64_t E = d->n_embd, F = d->n_ff, V = d->n_vocab;
    const int64_t kv_dim = (int64_t)d->n_head_kv * m->head_dim;
    RZ_TRY(bind_weight(src, "token_embd.weight", E, V, USE_EMBEDDING, false, &m->tok_embd, NULL));
    RZ_TRY(bind_weight(src, "output_norm.weight", E, 1, USE_NORM, false, &m->output_norm, NULL));
    bool has_output;
    RZ_TRY(bind_weight(src, "output.weight", E, V, USE_MATRIX, true, &m->output, &has_output));
    if (!has_output) {
        if (!rz_type_vec_dot(m->tok_embd.type, RZ_ISA_SCALAR))
            return rz_error(RZ_ERR_UNSUPPORTED,
                            "model: tied output uses token_embd of type %s, which has no mat-mul "
                            "kernel yet",
                            rz_type_name(m->tok_embd.type));
        m->output = m->tok_embd;
    }
    m->desc.tied_output = !has_output;
    m->layers = calloc((size_t)d->n_layer, sizeof *m->layers);
    if (!m->layers) return rz_error(RZ_ERR_NOMEM, "out of memory for %d layers", d->n_layer);
    for (int32_t l = 0; l < d->n_layer; l++) {
        rz_layer *L = &m->layers[l];
        const struct {
            const char *suffix;
            int64_t ne0, ne1;
            weight_use use;
            rz_tensor *dst;
        } specs[] = {
            {"attn_norm", E, 1, USE_NORM, &L->attn_norm}, {"attn_q", E, E, USE_MATRIX, &L->wq},
            {"attn_k", E, kv_dim, USE_MATRIX, &L->wk},    {"attn_v", E, kv_dim, USE_MATRIX, &L->wv},
            {"attn_output", E, E, USE_MATRIX, &L->wo},    {"ffn_norm", E, 1, USE_NORM, &L->ffn_norm},
            {"ffn_gate", E, F, USE_MATRIX, &L->ffn_gate}, {"ffn_up", E, F, USE_MATRIX, &L->ffn_up},
            {"ffn_down", F, E, USE_MATRIX, &L->ffn_down},
        };
        for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, specs[i].suffix);
            RZ_TRY(
                bind_weight(src, name, specs[i].ne0, specs[i].ne1, specs[i].use, false, specs[i].dst, NULL));
        }
        if (m->arch->sub_norms) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.attn_sub_norm.weight", l);
            RZ_TRY(bind_weight(src, name, E, 1, USE_NORM, false, &L->attn_sub_norm, NULL));
            snprintf(name, sizeof name, "blk.%d.ffn_sub_norm.weight", l);
            RZ_TRY(bind_weight(src, name, F, 1, USE_NORM, false, &L->ffn_sub_norm, NULL));
        }
    }
    return RZ_OK;
}

/* ------------------------------------------------------------- hparams */

static rz_status gguf_arch_u32(const rz_gguf *g, const char *arch, const char *suffix, bool optional,
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

static rz_status gguf_arch_f32(const rz_gguf *g, const char *arch, const char *suffix, float fallback,
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

static rz_status read_gguf_hparams(rz_model *m, const rz_gguf *g) {
    rz_model_desc *d = &m->desc;
    rz_str arch;
    RZ_TRY(rz_gguf_get_str(g, "general.architecture", &arch));
    if (arch.len >= sizeof d->arch) return rz_error(RZ_ERR_FORMAT, "model: architecture name is too long");
    memcpy(d->arch, arch.ptr, arch.len);
    d->arch[arch.len] = '\0';
    const rz_arch_info *info = NULL;
    for (size_t i = 0; i < sizeof supported_archs / sizeof supported_archs[0]; i++)
        if (strcmp(supported_archs[i].name, d->arch) == 0) info = &supported_archs[i];
    if (!info) return rz_error(RZ_ERR_UNSUPPORTED, "model: architecture '%s' is not supported", d->arch);
    m->arch = info;
    m->rope_style = info->rope_style;
    RZ_TRY(gguf_arch_u32(g, d->arch, "context_length", false, 0, &d->n_ctx_train));
    RZ_TRY(gguf_arch_u32(g, d->arch, "embedding_length", false, 0, &d->n_embd));
    RZ_TRY(gguf_arch_u32(g, d->arch, "block_count", false, 0, &d->n_layer));
    RZ_TRY(gguf_arch_u32(g, d->arch, "feed_forward_length", false, 0, &d->n_ff));
    RZ_TRY(gguf_arch_u32(g, d->arch, "attention.head_count", false, 0, &d->n_head));
    RZ_TRY(gguf_arch_u32(g, d->arch, "attention.head_count_kv", true, (uint32_t)d->n_head, &d->n_head_kv));
    if (d->n_head > 0 && d->n_embd % d->n_head == 0)
        RZ_TRY(gguf_arch_u32(g, d->arch, "rope.dimension_count", true, (uint32_t)(d->n_embd / d->n_head),
                             &d->n_rot));
    RZ_TRY(gguf_arch_f32(g, d->arch, "attention.layer_norm_rms_epsilon", 1e-5f, &d->rms_eps));
    RZ_TRY(gguf_arch_f32(g, d->arch, "rope.freq_base", 10000.0f, &d->rope_freq_base));
    /* bitnet.cpp's converter writes linear scaling with factor 1: a no-op. */
    float rope_factor;
    RZ_TRY(gguf_arch_f32(g, d->arch, "rope.scaling.factor", 1.0f, &rope_factor));
    if (rope_factor != 1.0f && rope_factor != 0.0f)
        return rz_error(RZ_ERR_UNSUPPORTED, "model: RoPE scaling factor %g is not supported",
                        (double)rope_factor);
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
    m->arch = &supported_archs[0];
    m->rope_style = RZ_ROPE_NORMAL;
    d->n_ctx_train = c->seq_len;
    d->n_embd = c->dim;
    d->n_layer = c->n_layers;
    d->n_ff = c->hidden_dim;
    d->n_head = c->n_heads;
    d->n_head_kv = c->n_kv_heads;
    d->n_rot = c->dim / c->n_heads;
    d->rms_eps = 1e-5f;
    d->rope_freq_base = 10000.0f;
    d->n_vocab = c->vocab_size;
    return RZ_OK;
}

static rz_status check_hparams(rz_model *m) {
    rz_model_desc *d = &m->desc;
    if (d->n_embd <= 0 || d->n_layer <= 0 || d->n_ff <= 0 || d->n_head <= 0 || d->n_head_kv <= 0 ||
        d->n_vocab <= 0 || d->n_ctx_train <= 0)
        return rz_error(RZ_ERR_FORMAT,
                        "model: hyperparameters must be positive (embd %d, layers %d, ffn %d, "
                        "heads %d/%d, vocab %d, context %d)",
                        d->n_embd, d->n_layer, d->n_ff, d->n_head, d->n_head_kv, d->n_vocab, d->n_ctx_train);
    if (d->n_embd % d->n_head != 0 || d->n_head % d->n_head_kv != 0)
        return rz_error(RZ_ERR_FORMAT, "model: %d heads (%d KV heads) do not divide the embedding size %d",
                        d->n_head, d->n_head_kv, d->n_embd);
    m->head_dim = d->n_embd / d->n_head;
    if (d->n_rot <= 0 || d->n_rot > m->head_dim || d->n_rot % 2 != 0)
        return rz_error(RZ_ERR_FORMAT, "model: RoPE dimension %d must be even and at most the head size %d",
                        d->n_rot, m->head_dim);
    if (!(d->rms_eps > 0.0f) || !(d->rope_freq_base > 0.0f))
        return rz_error(RZ_ERR_FORMAT, "model: RMS epsilon and RoPE base must be positive");
    m->rope_freqs = malloc((size_t)(d->n_rot / 2) * sizeof(float));
    if (!m->rope_freqs) return rz_error(RZ_ERR_NOMEM, "out of memory");
    /* theta_i = base^(-2i / n_rot), as llama.cpp and llama2.c compute it. */
    for (int32_t i = 0; i < d->n_rot / 2; i++)
        m->rope_freqs[i] = 1.0f / powf(d->rope_freq_base, (float)(2 * i) / (float)d->n_rot);
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

static bool str_is(rz_str s, const char *lit) {
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
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
    if (m->vocab.eos >= 0) m->end_tokens[m->n_end_tokens++] = m->vocab.eos;
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

enum { LAYER_TENSORS = 11 };

/* Every tensor of a layer; absent optional ones have zero rows. */
static void layer_tensors(const rz_layer *L, const rz_tensor *out[LAYER_TENSORS]) {
    const rz_tensor *list[LAYER_TENSORS] = {
        &L->attn_norm,   &L->wq,       &L->wk,     &L->wv,       &L->wo,
        &L->ffn_norm,    &L->ffn_gate, &L->ffn_up, &L->ffn_down, &L->attn_sub_norm,
        &L->ffn_sub_norm};
    memcpy(out, list, sizeof list);
}

static uint64_t tensor_bytes(const rz_tensor *t) { return t->row_bytes * (uint64_t)t->ne[1]; }

static void summarize(rz_model *m) {
    rz_model_desc *d = &m->desc;
    d->weight_type = m->layers[0].wq.type;
    d->output_type = m->output.type;
    d->bos = m->has_vocab ? m->vocab.bos : -1;
    d->eos = m->has_vocab ? m->vocab.eos : -1;
    d->has_vocab = m->has_vocab;
    const rz_tensor *all[3] = {&m->tok_embd, &m->output_norm, &m->output};
    uint64_t params = 0, bytes = 0;
    for (int i = 0; i < (d->tied_output ? 2 : 3); i++) {
        params += (uint64_t)(all[i]->ne[0] * all[i]->ne[1]);
        bytes += tensor_bytes(all[i]);
    }
    for (int32_t l = 0; l < d->n_layer; l++) {
        const rz_tensor *t[LAYER_TENSORS];
        layer_tensors(&m->layers[l], t);
        for (int k = 0; k < LAYER_TENSORS; k++) {
            params += (uint64_t)(t[k]->ne[0] * t[k]->ne[1]);
            bytes += tensor_bytes(t[k]);
        }
    }
    d->n_params = params;
    d->weight_bytes = bytes;
}

/* Matrix i of the model: the output, then the seven of each layer. */
static rz_tensor *matrix_at(rz_model *m, int64_t i) {
    if (i == 0) return &m->output;
    rz_layer *L = &m->layers[(i - 1) / 7];
    rz_tensor *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->ffn_gate, &L->ffn_up, &L->ffn_down};
    return mats[(i - 1) % 7];
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
    const int64_t n = 1 + 7 * (int64_t)m->desc.n_layer;
    placement *place = rz_calloc((size_t)n, sizeof *place);
    if (!place) return rz_error_prefix(RZ_ERR_NOMEM, "copying the weights");
    uint64_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        const rz_tensor *t = matrix_at(m, i);
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
        rz_tensor *t = matrix_at(m, i);
        const placement p = place[i];
        const rz_type_traits *from = rz_type_traits_get(p.from);
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
            from->repack(src, dst, t->ne[0], t->ne[1]);
        else if (src != dst)
            memcpy(dst, src, bytes);
        if (i2_s != dst) free(i2_s);
        /* A tied embedding's rows fault back in as tokens look them up. */
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

/* Only the tokenizer: from any GGUF that has one (vocab-only files included),
 * or a llama2.c checkpoint's header plus its tokenizer.bin. */
static rz_status load_vocab_only(rz_model *m, const char *path, const rz_model_params *params) {
    rz_model_desc *d = &m->desc;
    m->vocab_only = true;
    if (rz_gguf_probe(path)) {
        snprintf(d->format, sizeof d->format, "gguf");
        RZ_TRY(rz_gguf_open(path, &m->gguf));
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

rz_status rz_model_load(const char *path, const rz_model_params *params, rz_model **out) {
    *out = NULL;
    rz_model *m = calloc(1, sizeof *m);
    if (!m) return rz_error(RZ_ERR_NOMEM, "out of memory");
    rz_status s;
    weight_source src = {0};
    if (params && params->vocab_only) {
        s = load_vocab_only(m, path, params);
    } else if (rz_gguf_probe(path)) {
        snprintf(m->desc.format, sizeof m->desc.format, "gguf");
        s = rz_gguf_open(path, &m->gguf);
        if (s == RZ_OK) {
            src.gguf = m->gguf;
            s = read_gguf_hparams(m, m->gguf);
        }
        if (s == RZ_OK) s = check_hparams(m);
        if (s == RZ_OK) s = load_gguf_vocab(m, m->gguf);
    } else {
        snprintf(m->desc.format, sizeof m->desc.format, "llama2c");
        s = rz_llama2c_open(path, &m->llama2c);
        if (s == RZ_OK) {
            src.llama2c = m->llama2c;
            s = read_llama2c_hparams(m, m->llama2c);
        }
        if (s == RZ_OK) s = check_hparams(m);
        if (s == RZ_OK) s = load_llama2c_vocab(m, params ? params->tokenizer_path : NULL);
    }
    if (s == RZ_OK && !m->vocab_only) s = bind_weights(m, &src);
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
    free(m->rope_freqs);
    rz_free_large(m->weights, m->weights_bytes);
    rz_gguf_close(m->gguf);
    rz_llama2c_close(m->llama2c);
    free(m);
}

const rz_model_desc *rz_model_describe(const rz_model *m) { return &m->desc; }

uint64_t rz_model_bytes_per_token(const rz_model *m) {
    const rz_model_desc *d = &m->desc;
    uint64_t bytes = m->tok_embd.row_bytes + tensor_bytes(&m->output) + tensor_bytes(&m->output_norm);
    for (int32_t l = 0; l < d->n_layer; l++) {
        const rz_tensor *t[LAYER_TENSORS];
        layer_tensors(&m->layers[l], t);
        for (int k = 0; k < LAYER_TENSORS; k++)
            bytes += tensor_bytes(t[k]);
    }
    return bytes;
}
