/* llama2.c checkpoints (legacy "v0" header) and tokenizer.bin files.
 *
 * A checkpoint is 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len; a negative vocab_size means a separate classifier at
 * the end), then float32 arrays, each matrix row-major [out, in], so in ggml
 * terms ne0 = in and ne1 = out. The weights are exposed under llama.cpp's
 * names; llama2.c rotates adjacent pairs in RoPE like llama.cpp's llama
 * architecture, so Q and K need no permutation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "base/mem.h"

enum { HEADER_INTS = 7, HEADER_BYTES = HEADER_INTS * 4 };

/* First word of the versioned export (export.py --version >= 1): "ak42". */
#define LLAMA2C_VERSIONED_MAGIC 0x616b3432u

struct rz_llama2c {
    rz_mapped_file file;
    rz_llama2c_config config;
    uint64_t n_tensors;
    rz_llama2c_tensor *tensors;
};

struct rz_llama2c_vocab {
    rz_mapped_file file;
    uint32_t n_pieces;
    uint32_t max_token_length;
    rz_str *pieces; /* point into the mapping */
    float *scores;
};

static int32_t read_i32(const unsigned char *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static float read_f32(const unsigned char *p) {
    float v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Running float count of the weight arrays; sticky overflow flag so the
 * layout code reads straight and is checked once. */
typedef struct layout {
    uint64_t floats;
    bool overflow;
} layout;

/* Reserves a*b*c floats; returns where they start. */
static uint64_t layout_take(layout *l, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t start = l->floats, n;
    if (rz_mul_overflow(a, b, &n) || rz_mul_overflow(n, c, &n) || rz_add_overflow(l->floats, n, &l->floats))
        l->overflow = true;
    return start;
}

/* Float offsets of the arrays in file order. */
typedef struct weight_offsets {
    uint64_t embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, wcls;
} weight_offsets;

static rz_status check_header(const rz_llama2c_config *c) {
    const struct {
        const char *name;
        int32_t value;
    } positive[] = {{"dim", c->dim},         {"hidden_dim", c->hidden_dim}, {"n_layers", c->n_layers},
                    {"n_heads", c->n_heads}, {"n_kv_heads", c->n_kv_heads}, {"seq_len", c->seq_len}};
    for (size_t i = 0; i < sizeof positive / sizeof positive[0]; i++)
        if (positive[i].value <= 0)
            return rz_error(RZ_ERR_FORMAT, "llama2c: header field %s is %d; it must be positive",
                            positive[i].name, positive[i].value);
    if (c->dim % c->n_heads != 0)
        return rz_error(RZ_ERR_FORMAT, "llama2c: dim %d is not a multiple of n_heads %d", c->dim, c->n_heads);
    if (c->n_heads % c->n_kv_heads != 0)
        return rz_error(RZ_ERR_FORMAT, "llama2c: n_heads %d is not a multiple of n_kv_heads %d", c->n_heads,
                        c->n_kv_heads);
    if ((c->dim / c->n_heads) % 2 != 0)
        return rz_error(RZ_ERR_FORMAT, "llama2c: head size %d (dim / n_heads) is odd; RoPE needs it even",
                        c->dim / c->n_heads);
    return RZ_OK;
}

static rz_status parse_header(const rz_mapped_file *f, rz_llama2c_config *c) {
    if (f->size < HEADER_BYTES)
        return rz_error(RZ_ERR_FORMAT, "llama2c: file is %zu bytes, shorter than the %d-byte header", f->size,
                        HEADER_BYTES);
    uint32_t magic;
    memcpy(&magic, f->data, sizeof magic);
    if (magic == LLAMA2C_VERSIONED_MAGIC)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "llama2c: versioned checkpoint (magic \"ak42\", version %d) is unsupported; "
                        "only legacy (v0) checkpoints are",
                        read_i32(f->data + 4));
    int32_t h[HEADER_INTS];
    for (int i = 0; i < HEADER_INTS; i++)
        h[i] = read_i32(f->data + 4 * i);
    c->dim = h[0];
    c->hidden_dim = h[1];
    c->n_layers = h[2];
    c->n_heads = h[3];
    c->n_kv_heads = h[4];
    /* INT32_MIN has no positive counterpart. */
    if (h[5] == 0 || h[5] == INT32_MIN)
        return rz_error(RZ_ERR_FORMAT, "llama2c: header vocab_size is %d; it must be nonzero", h[5]);
    c->shared_classifier = h[5] > 0;
    c->vocab_size = h[5] > 0 ? h[5] : -h[5];
    c->seq_len = h[6];
    return check_header(c);
}

static weight_offsets plan_layout(const rz_llama2c_config *c, layout *l) {
    const uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim, layers = (uint64_t)c->n_layers;
    const uint64_t head_size = dim / (uint64_t)c->n_heads;
    const uint64_t kv_dim = head_size * (uint64_t)c->n_kv_heads;
    weight_offsets o;
    o.embedding = layout_take(l, (uint64_t)c->vocab_size, dim, 1);
    o.rms_att = layout_take(l, layers, dim, 1);
    o.wq = layout_take(l, layers, dim, dim);
    o.wk = layout_take(l, layers, dim, kv_dim);
    o.wv = layout_take(l, layers, dim, kv_dim);
    o.wo = layout_take(l, layers, dim, dim);
    o.rms_ffn = layout_take(l, layers, dim, 1);
    o.w1 = layout_take(l, layers, hidden, dim);
    o.w2 = layout_take(l, layers, dim, hidden);
    o.w3 = layout_take(l, layers, hidden, dim);
    o.rms_final = layout_take(l, dim, 1, 1);
    /* The precomputed RoPE tables (real and imaginary parts) are unused. */
    layout_take(l, 2, (uint64_t)c->seq_len, head_size / 2);
    o.wcls = c->shared_classifier ? o.embedding : layout_take(l, (uint64_t)c->vocab_size, dim, 1);
    return o;
}

/* ne1 == 0 marks a vector (1-D); a matrix stays 2-D even with one row. */
static void set_tensor(rz_llama2c_tensor *t, const float *base, uint64_t offset, uint64_t ne0, uint64_t ne1,
                       const char *fmt, int layer) {
    snprintf(t->name, sizeof t->name, fmt, layer);
    t->n_dims = ne1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->data = base + offset;
}

static rz_status build_tensors(rz_llama2c *m, const weight_offsets *o) {
    const rz_llama2c_config *c = &m->config;
    const uint64_t dim = (uint64_t)c->dim, hidden = (uint64_t)c->hidden_dim;
    const uint64_t kv_dim = dim / (uint64_t)c->n_heads * (uint64_t)c->n_kv_heads;
    m->n_tensors = 2 + 9 * (uint64_t)c->n_layers + (c->shared_classifier ? 0 : 1);
    m->tensors = rz_calloc(m->n_tensors, sizeof *m->tensors);
    if (!m->tensors) return RZ_ERR_NOMEM;
    const float *base = (const float *)(const void *)(m->file.data + HEADER_BYTES);
    rz_llama2c_tensor *t = m->tensors;
    set_tensor(t++, base, o->embedding, dim, (uint64_t)c->vocab_size, "token_embd.weight", 0);
    for (int l = 0; l < c->n_layers; l++) {
        const uint64_t L = (uint64_t)l;
        set_tensor(t++, base, o->rms_att + L * dim, dim, 0, "blk.%d.attn_norm.weight", l);
        set_tensor(t++, base, o->wq + L * dim * dim, dim, dim, "blk.%d.attn_q.weight", l);
        set_tensor(t++, base, o->wk + L * dim * kv_dim, dim, kv_dim, "blk.%d.attn_k.weight", l);
        set_tensor(t++, base, o->wv + L * dim * kv_dim, dim, kv_dim, "blk.%d.attn_v.weight", l);
        set_tensor(t++, base, o->wo + L * dim * dim, dim, dim, "blk.%d.attn_output.weight", l);
        set_tensor(t++, base, o->rms_ffn + L * dim, dim, 0, "blk.%d.ffn_norm.weight", l);
        set_tensor(t++, base, o->w1 + L * hidden * dim, dim, hidden, "blk.%d.ffn_gate.weight", l);
        set_tensor(t++, base, o->w2 + L * hidden * dim, hidden, dim, "blk.%d.ffn_down.weight", l);
        set_tensor(t++, base, o->w3 + L * hidden * dim, dim, hidden, "blk.%d.ffn_up.weight", l);
    }
    set_tensor(t++, base, o->rms_final, dim, 0, "output_norm.weight", 0);
    if (!c->shared_classifier)
        set_tensor(t++, base, o->wcls, dim, (uint64_t)c->vocab_size, "output.weight", 0);
    return RZ_OK;
}

static rz_status load(rz_llama2c *m) {
    RZ_TRY(parse_header(&m->file, &m->config));
    const rz_llama2c_config *c = &m->config;
    layout l = {0, false};
    const weight_offsets offsets = plan_layout(c, &l);
    uint64_t needed;
    if (l.overflow || rz_mul_overflow(l.floats, 4, &needed) || rz_add_overflow(needed, HEADER_BYTES, &needed))
        return rz_error(RZ_ERR_FORMAT,
                        "llama2c: the header (dim %d, hidden_dim %d, %d layers, vocab %d, seq_len %d) "
                        "describes more weights than any file can hold",
                        c->dim, c->hidden_dim, c->n_layers, c->vocab_size, c->seq_len);
    if (m->file.size != needed)
        return rz_error(RZ_ERR_FORMAT,
                        "llama2c: file is %zu bytes but the header (dim %d, hidden_dim %d, %d layers, "
                        "%d heads, %d kv heads, vocab %d%s, seq_len %d) needs %llu",
                        m->file.size, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads,
                        c->vocab_size, c->shared_classifier ? "" : " unshared", c->seq_len,
                        (unsigned long long)needed);
    return build_tensors(m, &offsets);
}

rz_status rz_llama2c_open(const char *path, rz_llama2c **out) {
    if (!path || !out) return rz_error(RZ_ERR_INVALID_ARG, "llama2c: NULL argument");
    *out = NULL;
    rz_llama2c *m = rz_calloc(1, sizeof *m);
    if (!m) return RZ_ERR_NOMEM;
    rz_status s = rz_mapped_file_open(path, &m->file);
    if (s != RZ_OK)
        rz_error_prefix(s, "llama2c");
    else
        s = load(m);
    if (s != RZ_OK) {
        rz_llama2c_close(m);
        return s;
    }
    *out = m;
    return RZ_OK;
}

void rz_llama2c_close(rz_llama2c *model) {
    if (!model) return;
    rz_mapped_file_close(&model->file);
    free(model->tensors);
    free(model);
}

const rz_llama2c_config *rz_llama2c_get_config(const rz_llama2c *model) { return &model->config; }

uint64_t rz_llama2c_tensor_count(const rz_llama2c *model) { return model->n_tensors; }

const rz_llama2c_tensor *rz_llama2c_tensor_at(const rz_llama2c *model, uint64_t index) {
    return index < model->n_tensors ? &model->tensors[index] : NULL;
}

/* ---------------------------------------------------------- tokenizer.bin */

/* int32 max_token_length, then per piece: float32 score, int32 length, bytes. */
static rz_status parse_vocab(rz_llama2c_vocab *v, int32_t vocab_size) {
    const unsigned char *data = v->file.data;
    const size_t size = v->file.size;
    if (size < 4)
        return rz_error(RZ_ERR_FORMAT, "llama2c: tokenizer is %zu bytes, too short for its header", size);
    const int32_t max_len = read_i32(data);
    if (max_len < 0)
        return rz_error(RZ_ERR_FORMAT, "llama2c: tokenizer max_token_length is %d; it must not be negative",
                        max_len);
    /* Each piece takes at least 8 bytes: reject before allocating for it. */
    if ((uint64_t)vocab_size > (size - 4) / 8)
        return rz_error(RZ_ERR_FORMAT, "llama2c: tokenizer is %zu bytes, too short for %d pieces", size,
                        vocab_size);
    v->n_pieces = (uint32_t)vocab_size;
    v->max_token_length = (uint32_t)max_len;
    v->pieces = rz_calloc(v->n_pieces, sizeof *v->pieces);
    v->scores = rz_calloc(v->n_pieces, sizeof *v->scores);
    if (!v->pieces || !v->scores) return RZ_ERR_NOMEM;
    size_t pos = 4;
    for (uint32_t i = 0; i < v->n_pieces; i++) {
        if (size - pos < 8)
            return rz_error(RZ_ERR_FORMAT, "llama2c: tokenizer ends inside piece %u of %d", i, vocab_size);
        const int32_t len = read_i32(data + pos + 4);
        if (len < 0 || len > max_len)
            return rz_error(RZ_ERR_FORMAT, "llama2c: tokenizer piece %u has length %d (max_token_length %d)",
                            i, len, max_len);
        if (size - pos - 8 < (size_t)len)
            return rz_error(RZ_ERR_FORMAT,
                            "llama2c: tokenizer piece %u (%d bytes) runs past the end of the file", i, len);
        v->scores[i] = read_f32(data + pos);
        v->pieces[i] = (rz_str){(const char *)data + pos + 8, (uint64_t)len};
        pos += 8 + (size_t)len;
    }
    if (pos != size)
        return rz_error(
            RZ_ERR_FORMAT,
            "llama2c: tokenizer has %zu bytes after its %d pieces (made for another vocabulary size?)",
            size - pos, vocab_size);
    return RZ_OK;
}

rz_status rz_llama2c_vocab_open(const char *path, int32_t vocab_size, rz_llama2c_vocab **out) {
    if (!path || !out) return rz_error(RZ_ERR_INVALID_ARG, "llama2c: NULL argument");
    *out = NULL;
    if (vocab_size <= 0)
        return rz_error(RZ_ERR_INVALID_ARG, "llama2c: vocabulary size %d must be positive", vocab_size);
    rz_llama2c_vocab *v = rz_calloc(1, sizeof *v);
    if (!v) return RZ_ERR_NOMEM;
    rz_status s = rz_mapped_file_open(path, &v->file);
    if (s != RZ_OK)
        rz_error_prefix(s, "llama2c");
    else
        s = parse_vocab(v, vocab_size);
    if (s != RZ_OK) {
        rz_llama2c_vocab_close(v);
        return s;
    }
    *out = v;
    return RZ_OK;
}

void rz_llama2c_vocab_close(rz_llama2c_vocab *vocab) {
    if (!vocab) return;
    rz_mapped_file_close(&vocab->file);
    free(vocab->pieces);
    free(vocab->scores);
    free(vocab);
}

uint32_t rz_llama2c_vocab_size(const rz_llama2c_vocab *vocab) { return vocab->n_pieces; }

uint32_t rz_llama2c_vocab_max_token_length(const rz_llama2c_vocab *vocab) { return vocab->max_token_length; }

rz_str rz_llama2c_vocab_piece(const rz_llama2c_vocab *vocab, uint32_t id) {
    return id < vocab->n_pieces ? vocab->pieces[id] : (rz_str){"", 0};
}

float rz_llama2c_vocab_score(const rz_llama2c_vocab *vocab, uint32_t id) {
    return id < vocab->n_pieces ? vocab->scores[id] : 0.0f;
}
