/* rwkv.cpp's model files as GGUF. The container: a header of six
 * little-endian u32 (magic, version, n_vocab, n_embed, n_layer, data type),
 * then tensors to the end of the file, each (n_dims, key length, data type,
 * n_dims sizes in ggml order, key, data). Tensors get llama.cpp's names;
 * vectors are flattened (rwkv.cpp keeps PyTorch's singleton dimensions) and
 * widened to f32, matrices are used in place in the mapping when aligned for
 * their type. Which RWKV version a file holds is told by its tensors, as
 * rwkv.cpp tells it. */
#include "format/rwkv_cpp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "base/mem.h"
#include "format/gguf_internal.h"

#define RWKV_CPP_MAGIC 0x67676d66u /* "ggmf" */

enum {
    HEADER_BYTES = 24,
    MAX_KEY = 128,         /* rwkv.cpp's keys are under 40 bytes */
    MAX_LAYERS = 1 << 16,  /* as the loader allows */
    MAX_TENSORS = 1 << 14, /* RWKV 14B has about 1,000; bounds the name lookups' time */
    MAX_EMBED = 1 << 20,   /* as the loader allows */
    BYTE_VOCAB = 256,      /* byte-level models: token id = byte value */
    NAME_BYTES = 64,       /* GGUF names made here */
    N_LERP5 = 4,           /* rwkv5's fused token-shift mixes: k, v, r, g */
    CONTEXT = 1048576,     /* what llama.cpp's converter writes for RWKV: no real limit */
};

/* rwkv.cpp's data type ids (rwkv_file_format.inc) as ggml/GGUF types;
 * -1 for the removed Q4_1_O, Q4_2, Q4_3. */
static const int type_of_id[] = {
    RZ_TYPE_F32,  RZ_TYPE_F16,  RZ_TYPE_Q4_0, RZ_TYPE_Q4_1, -1,           -1,
    -1,           RZ_TYPE_Q5_0, RZ_TYPE_Q5_1, RZ_TYPE_Q8_0, RZ_TYPE_Q8_1, RZ_TYPE_Q2_K,
    RZ_TYPE_Q3_K, RZ_TYPE_Q4_K, RZ_TYPE_Q5_K, RZ_TYPE_Q6_K, RZ_TYPE_Q8_K,
};

typedef struct stored {
    char name[MAX_KEY + 1];
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[3];
    const unsigned char *data;
    uint64_t size;
} stored;

typedef enum shape {
    MATRIX, /* 2-D, as stored */
    VECTOR, /* flattened to 1-D f32 */
    FUSED,  /* RWKV 7's x_rwkvag {E, 1, 6} -> llama.cpp's lerp_fused {E, 1, 1, 6} */
} shape;

typedef struct out_tensor {
    char name[NAME_BYTES];
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[RZ_MAX_DIMS];
    const void *data;
} out_tensor;

typedef struct rwkv_file {
    rz_mapped_file map;
    bool file_backed;
    uint32_t n_vocab, n_embed, n_layer, version;
    stored *tensors;
    uint64_t n_tensors;
    out_tensor *out;
    uint64_t n_out;
    void **buffers; /* built here: tensors not usable in place */
    size_t n_buffers;
} rwkv_file;

static void rwkv_file_free(void *p) {
    rwkv_file *f = p;
    if (!f) return;
    for (size_t i = 0; i < f->n_buffers; i++)
        free(f->buffers[i]);
    free(f->buffers);
    free(f->tensors);
    free(f->out);
    rz_mapped_file_close(&f->map);
    free(f);
}

/* rz_gguf_release_pages for the view: the file's pages only. */
static void rwkv_release_pages(void *owner, const void *p, size_t size) {
    const rwkv_file *f = owner;
    if (f->file_backed && (const unsigned char *)p >= f->map.data &&
        (const unsigned char *)p + size <= f->map.data + f->map.size)
        rz_mapped_release(p, size);
}

static void *file_alloc(rwkv_file *f, uint64_t bytes) {
    void **b = realloc(f->buffers, (f->n_buffers + 1) * sizeof *b);
    if (!b) return NULL;
    f->buffers = b;
    void *p = bytes <= SIZE_MAX ? malloc(bytes ? bytes : 1) : NULL;
    if (p) f->buffers[f->n_buffers++] = p;
    return p;
}

static uint32_t u32_at(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------ parsing */

static rz_status parse_header(rwkv_file *f, const unsigned char *p, size_t size) {
    if (size < HEADER_BYTES) return rz_error(RZ_ERR_FORMAT, "file of %zu bytes has no header", size);
    if (u32_at(p) != RWKV_CPP_MAGIC) return rz_error(RZ_ERR_FORMAT, "bad magic 0x%08x", u32_at(p));
    f->version = u32_at(p + 4);
    f->n_vocab = u32_at(p + 8);
    f->n_embed = u32_at(p + 12);
    f->n_layer = u32_at(p + 16);
    const uint32_t data_type = u32_at(p + 20);
    if (f->version != 100 && f->version != 101)
        return rz_error(RZ_ERR_UNSUPPORTED, "file version %u is not supported (100, 101)", f->version);
    if (f->n_vocab == 0 || f->n_vocab > INT32_MAX || f->n_embed == 0 || f->n_embed > MAX_EMBED ||
        f->n_layer == 0 || f->n_layer > MAX_LAYERS)
        return rz_error(RZ_ERR_FORMAT, "header sizes out of range (vocab %u, embed %u, layers %u)",
                        f->n_vocab, f->n_embed, f->n_layer);
    if (data_type >= sizeof type_of_id / sizeof type_of_id[0] || type_of_id[data_type] < 0)
        return rz_error(RZ_ERR_UNSUPPORTED, "model data type %u is not supported", data_type);
    return RZ_OK;
}

/* One tensor at *at; advances past its data. */
static rz_status parse_tensor(rwkv_file *f, const unsigned char *p, size_t size, size_t *at, stored *t) {
    const size_t left = size - *at;
    if (left < 12) return rz_error(RZ_ERR_FORMAT, "tensor header at offset %zu is truncated", *at);
    const uint32_t n_dims = u32_at(p + *at), key_len = u32_at(p + *at + 4), id = u32_at(p + *at + 8);
    if (n_dims < 1 || n_dims > 3)
        return rz_error(RZ_ERR_FORMAT, "tensor at offset %zu has %u dimensions (1 to 3)", *at, n_dims);
    if (key_len == 0 || key_len > MAX_KEY)
        return rz_error(RZ_ERR_FORMAT, "tensor at offset %zu has a key of %u bytes (1 to %d)", *at, key_len,
                        MAX_KEY);
    if (id >= sizeof type_of_id / sizeof type_of_id[0] || type_of_id[id] < 0)
        return rz_error(RZ_ERR_UNSUPPORTED, "tensor at offset %zu has data type %u, which is not supported",
                        *at, id);
    t->type = (rz_type)type_of_id[id];
    /* Before version 101, quantized blocks had other layouts. */
    if (f->version == 100 && t->type != RZ_TYPE_F32 && t->type != RZ_TYPE_F16)
        return rz_error(RZ_ERR_UNSUPPORTED, "quantized tensors of file version 100 are not supported");
    const size_t head = 12 + 4 * (size_t)n_dims;
    if (left < head + key_len) return rz_error(RZ_ERR_FORMAT, "tensor at offset %zu is truncated", *at);
    memcpy(t->name, p + *at + head, key_len);
    t->name[key_len] = '\0';
    for (uint32_t i = 0; i < key_len; i++)
        if ((unsigned char)t->name[i] < 0x20 || (unsigned char)t->name[i] > 0x7e)
            return rz_error(RZ_ERR_FORMAT, "tensor at offset %zu has a key that is not printable ASCII", *at);
    uint64_t n = 1;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < 3; d++) {
        t->ne[d] = d < n_dims ? u32_at(p + *at + 12 + 4 * d) : 1;
        if (t->ne[d] == 0 || t->ne[d] > INT32_MAX || rz_mul_overflow(n, t->ne[d], &n))
            return rz_error(RZ_ERR_FORMAT, "tensor '%s' has a dimension of %llu", t->name,
                            (unsigned long long)t->ne[d]);
    }
    if (t->ne[0] % rz_type_block_size(t->type) != 0 || rz_type_tensor_bytes(t->type, n, &t->size) != RZ_OK)
        return rz_error(RZ_ERR_FORMAT, "tensor '%s': rows of %llu do not fit %s blocks", t->name,
                        (unsigned long long)t->ne[0], rz_type_name(t->type));
    if (t->size > left - head - key_len)
        return rz_error(RZ_ERR_FORMAT, "tensor '%s' needs %llu bytes, the file has %zu left", t->name,
                        (unsigned long long)t->size, left - head - key_len);
    t->data = p + *at + head + key_len;
    *at += head + key_len + (size_t)t->size;
    return RZ_OK;
}

static rz_status parse(rwkv_file *f, const unsigned char *p, size_t size) {
    RZ_TRY(parse_header(f, p, size));
    uint64_t cap = 0;
    for (size_t at = HEADER_BYTES; at < size;) {
        if (f->n_tensors == MAX_TENSORS) return rz_error(RZ_ERR_FORMAT, "more than %d tensors", MAX_TENSORS);
        if (f->n_tensors == cap) {
            cap = cap ? 2 * cap : 64;
            stored *t = realloc(f->tensors, cap * sizeof *t);
            if (!t) return rz_error(RZ_ERR_NOMEM, "out of memory");
            f->tensors = t;
        }
        RZ_TRY(parse_tensor(f, p, size, &at, &f->tensors[f->n_tensors]));
        f->n_tensors++;
    }
    return RZ_OK;
}

static const stored *find(const rwkv_file *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

/* ------------------------------------------------------------ mapping */

typedef struct rule {
    const char *stored, *gguf;
    shape how;
} rule;

/* Outside the layers ("blocks.0.ln0" is the input norm, not a layer's). */
static const rule globals[] = {
    {"emb.weight", "token_embd.weight", MATRIX},
    {"blocks.0.ln0.weight", "token_embd_norm.weight", VECTOR},
    {"blocks.0.ln0.bias", "token_embd_norm.bias", VECTOR},
    {"ln_out.weight", "output_norm.weight", VECTOR},
    {"ln_out.bias", "output_norm.bias", VECTOR},
    {"head.weight", "output.weight", MATRIX},
};

/* "blocks.N.<stored>" -> "blk.N.<gguf>", both versions. */
static const rule common_layers[] = {
    {"ln1.weight", "attn_norm.weight", VECTOR},
    {"ln1.bias", "attn_norm.bias", VECTOR},
    {"ln2.weight", "attn_norm_2.weight", VECTOR},
    {"ln2.bias", "attn_norm_2.bias", VECTOR},
    {"att.key.weight", "time_mix_key.weight", MATRIX},
    {"att.value.weight", "time_mix_value.weight", MATRIX},
    {"att.receptance.weight", "time_mix_receptance.weight", MATRIX},
    {"att.output.weight", "time_mix_output.weight", MATRIX},
    {"att.ln_x.weight", "time_mix_ln.weight", VECTOR},
    {"att.ln_x.bias", "time_mix_ln.bias", VECTOR},
    {"ffn.key.weight", "channel_mix_key.weight", MATRIX},
    {"ffn.value.weight", "channel_mix_value.weight", MATRIX},
};

/* RWKV 7: rwkv.cpp keeps the LoRAs as llama.cpp does (transposed from
 * PyTorch), the token-shift mixes concatenated in llama.cpp's r, w, k, v,
 * a, g order, and the decay as the checkpoint's w0 (exp(-e^-0.5 sigmoid(.))
 * is taken at run time by both). */
static const rule v7_layers[] = {
    {"att.x_rwkvag", "time_mix_lerp_fused.weight", FUSED},
    {"att.w0", "time_mix_w0.weight", VECTOR},
    {"att.w1", "time_mix_w1.weight", MATRIX},
    {"att.w2", "time_mix_w2.weight", MATRIX},
    {"att.a0", "time_mix_a0.weight", VECTOR},
    {"att.a1", "time_mix_a1.weight", MATRIX},
    {"att.a2", "time_mix_a2.weight", MATRIX},
    {"att.v0", "time_mix_v0.weight", VECTOR},
    {"att.v1", "time_mix_v1.weight", MATRIX},
    {"att.v2", "time_mix_v2.weight", MATRIX},
    {"att.g1", "time_mix_g1.weight", MATRIX},
    {"att.g2", "time_mix_g2.weight", MATRIX},
    {"att.k_k", "time_mix_k_k.weight", VECTOR},
    {"att.k_a", "time_mix_k_a.weight", VECTOR},
    {"att.r_k", "time_mix_r_k.weight", VECTOR},
    {"ffn.x_k", "channel_mix_lerp_k.weight", VECTOR},
};

/* RWKV 5.2 ("rwkv5", src/model/arch/rwkv.c): the decay as rwkv.cpp stores
 * it, the factor exp(-exp(time_decay)); the bonus time_faaaa; the token-shift
 * mixes as the checkpoint's time_mix (the current token's share), k, v, r
 * and g fused (below). */
static const rule v5_layers[] = {
    {"att.time_decay", "time_mix_decay.weight", VECTOR},
    {"att.time_faaaa", "time_mix_first.weight", VECTOR},
    {"att.gate.weight", "time_mix_gate.weight", MATRIX},
    {"ffn.time_mix_k", "channel_mix_lerp_k.weight", VECTOR},
    {"ffn.time_mix_r", "channel_mix_lerp_r.weight", VECTOR},
    {"ffn.receptance.weight", "channel_mix_receptance.weight", MATRIX},
};
static const char *const v5_lerps[N_LERP5] = {"att.time_mix_k", "att.time_mix_v", "att.time_mix_r",
                                              "att.time_mix_g"};

#define N_RULES(r) (sizeof r / sizeof r[0])

static const rule *find_rule(const rule *rules, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].stored, name) == 0) return &rules[i];
    return NULL;
}

/* "blocks.N.rest" with N < n_layer: sets layer and rest. */
static bool layer_of(const rwkv_file *f, const char *name, uint32_t *layer, const char **rest) {
    if (strncmp(name, "blocks.", 7) != 0) return false;
    const char *p = name + 7;
    uint64_t l = 0;
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '.')) return false;
    for (; *p >= '0' && *p <= '9' && l < MAX_LAYERS; p++)
        l = l * 10 + (uint64_t)(*p - '0');
    if (*p != '.' || l >= f->n_layer) return false;
    *layer = (uint32_t)l;
    *rest = p + 1;
    return true;
}

static out_tensor *out_add(rwkv_file *f) {
    /* at most one out tensor per stored one, plus layer 0's three v LoRA stand-ins */
    out_tensor *o = &f->out[f->n_out++];
    memset(o, 0, sizeof *o);
    return o;
}

/* A stored f32/f16 vector as a 1-D f32 tensor of n values. */
static rz_status as_vector(rwkv_file *f, const stored *t, out_tensor *o) {
    const uint64_t n = t->ne[0] * t->ne[1] * t->ne[2];
    o->type = RZ_TYPE_F32;
    o->n_dims = 1;
    o->ne[0] = n;
    o->ne[1] = o->ne[2] = o->ne[3] = 1;
    if (t->type == RZ_TYPE_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        o->data = t->data;
        return RZ_OK;
    }
    if (t->type != RZ_TYPE_F32 && t->type != RZ_TYPE_F16)
        return rz_error(RZ_ERR_UNSUPPORTED, "vector '%s' is %s; only f32 and f16 are supported", t->name,
                        rz_type_name(t->type));
    float *dst = file_alloc(f, n * sizeof *dst);
    if (!dst) return rz_error(RZ_ERR_NOMEM, "out of memory");
    if (t->type == RZ_TYPE_F32)
        memcpy(dst, t->data, n * sizeof *dst);
    else
        RZ_TRY(rz_dequantize(RZ_TYPE_F16, t->data, dst, n));
    o->data = dst;
    return RZ_OK;
}

static rz_status convert(rwkv_file *f, const stored *t, const rule *r, out_tensor *o) {
    if (r->how != MATRIX) {
        RZ_TRY(as_vector(f, t, o));
        if (r->how == FUSED) {
            if (t->n_dims != 3 || t->ne[1] != 1)
                return rz_error(RZ_ERR_FORMAT, "'%s' must have the shape {n, 1, k}", t->name);
            o->n_dims = 4;
            o->ne[0] = t->ne[0];
            o->ne[3] = t->ne[2];
        }
        return RZ_OK;
    }
    if (t->n_dims != 2) return rz_error(RZ_ERR_FORMAT, "matrix '%s' has %u dimensions", t->name, t->n_dims);
    o->type = t->type;
    o->n_dims = 2;
    o->ne[0] = t->ne[0];
    o->ne[1] = t->ne[1];
    o->ne[2] = o->ne[3] = 1;
    o->data = t->data;
    /* Tensors follow keys of any length: one may be misaligned for its type. */
    const size_t align = t->type == RZ_TYPE_F32 ? 4 : 2;
    if ((uintptr_t)t->data % align) {
        void *copy = file_alloc(f, t->size);
        if (!copy) return rz_error(RZ_ERR_NOMEM, "out of memory");
        memcpy(copy, t->data, t->size);
        o->data = copy;
    }
    return RZ_OK;
}

/* rwkv5's time_mix_lerp_fused: layer l's four mixes side by side. */
static rz_status fuse_v5_lerps(rwkv_file *f, uint32_t l) {
    const uint64_t E = f->n_embed;
    out_tensor mix[N_LERP5];
    for (int c = 0; c < N_LERP5; c++) {
        char name[MAX_KEY + 1];
        snprintf(name, sizeof name, "blocks.%u.%s", l, v5_lerps[c]);
        const stored *t = find(f, name);
        if (!t) return rz_error(RZ_ERR_FORMAT, "tensor '%s' is missing", name);
        RZ_TRY(as_vector(f, t, &mix[c]));
        if (mix[c].ne[0] != E)
            return rz_error(RZ_ERR_FORMAT, "'%s' has %llu values, not %llu", name,
                            (unsigned long long)mix[c].ne[0], (unsigned long long)E);
    }
    float *dst = file_alloc(f, N_LERP5 * E * sizeof *dst);
    if (!dst) return rz_error(RZ_ERR_NOMEM, "out of memory");
    for (int c = 0; c < N_LERP5; c++)
        memcpy(dst + c * E, mix[c].data, E * sizeof *dst);
    out_tensor *o = out_add(f);
    snprintf(o->name, sizeof o->name, "blk.%u.time_mix_lerp_fused.weight", l);
    o->type = RZ_TYPE_F32;
    o->n_dims = 4;
    o->ne[0] = E;
    o->ne[1] = o->ne[2] = 1;
    o->ne[3] = N_LERP5;
    o->data = dst;
    return RZ_OK;
}

/* Layer 0 of RWKV 7 has no value-residual LoRA (its values are the ones
 * mixed in later); llama.cpp's converter stands a0/a1/a2 in for v0/v1/v2, so
 * its loader finds a tensor of each name. The same here, sharing the data. */
static rz_status v7_layer0_values(rwkv_file *f) {
    static const char *const pairs[3][2] = {{"a0", "v0"}, {"a1", "v1"}, {"a2", "v2"}};
    for (int i = 0; i < 3; i++) {
        char name[MAX_KEY + 1];
        snprintf(name, sizeof name, "blocks.0.att.%s", pairs[i][1]);
        if (find(f, name)) continue;
        char src[NAME_BYTES];
        snprintf(src, sizeof src, "blk.0.time_mix_%s.weight", pairs[i][0]);
        const out_tensor *a = NULL;
        for (uint64_t k = 0; k < f->n_out && !a; k++)
            if (strcmp(f->out[k].name, src) == 0) a = &f->out[k];
        if (!a) return rz_error(RZ_ERR_FORMAT, "tensor 'blocks.0.att.%s' is missing", pairs[i][0]);
        const out_tensor copy = *a;
        out_tensor *o = out_add(f);
        *o = copy;
        snprintf(o->name, sizeof o->name, "blk.0.time_mix_%s.weight", pairs[i][1]);
    }
    return RZ_OK;
}

static rz_status map_tensors(rwkv_file *f, bool v7) {
    f->out = calloc(f->n_tensors + 3, sizeof *f->out);
    if (!f->out) return rz_error(RZ_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const stored *t = &f->tensors[i];
        const rule *r = find_rule(globals, N_RULES(globals), t->name);
        uint32_t layer = 0;
        const char *rest = NULL;
        if (!r && layer_of(f, t->name, &layer, &rest)) {
            bool fused = false;
            for (int c = 0; c < N_LERP5 && !v7; c++)
                fused |= strcmp(rest, v5_lerps[c]) == 0;
            if (fused) continue; /* gathered by fuse_v5_lerps */
            r = find_rule(common_layers, N_RULES(common_layers), rest);
            if (!r)
                r = v7 ? find_rule(v7_layers, N_RULES(v7_layers), rest)
                       : find_rule(v5_layers, N_RULES(v5_layers), rest);
        }
        if (!r) return rz_error(RZ_ERR_UNSUPPORTED, "tensor '%s' has no GGUF counterpart", t->name);
        out_tensor *o = out_add(f);
        if (rest)
            snprintf(o->name, sizeof o->name, "blk.%u.%s", layer, r->gguf);
        else
            snprintf(o->name, sizeof o->name, "%s", r->gguf);
        RZ_TRY(convert(f, t, r, o));
    }
    return RZ_OK;
}

/* ---------------------------------------------------------- metadata */

/* The 256 byte tokens in GPT-2's byte alphabet (what a "gpt2" vocabulary
 * stores): printable Latin-1 bytes stand for themselves, the other 68 take
 * U+0100 onwards in byte order. With no merges, byte-level BPE then gives
 * every input byte its own token, id = byte value. */
static rz_status add_byte_vocab(rz_gguf_writer *w) {
    char text[BYTE_VOCAB][2];
    rz_str pieces[BYTE_VOCAB];
    uint32_t next = 0x100;
    for (int b = 0; b < BYTE_VOCAB; b++) {
        const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        const uint32_t cp = printable ? (uint32_t)b : next++;
        if (cp < 0x80) {
            text[b][0] = (char)cp;
            pieces[b] = (rz_str){text[b], 1};
        } else {
            text[b][0] = (char)(0xc0 | cp >> 6);
            text[b][1] = (char)(0x80 | (cp & 0x3f));
            pieces[b] = (rz_str){text[b], 2};
        }
    }
    RZ_TRY(rz_gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2"));
    RZ_TRY(rz_gguf_writer_add_str(w, "tokenizer.ggml.pre", "default"));
    RZ_TRY(rz_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", pieces, BYTE_VOCAB));
    RZ_TRY(rz_gguf_writer_add_str_array(w, "tokenizer.ggml.merges", NULL, 0));
    return rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", false);
}

static rz_status add_u32(rz_gguf_writer *w, const char *arch, const char *suffix, uint64_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (v > UINT32_MAX)
        return rz_error(RZ_ERR_FORMAT, "%s of %llu is out of range", key, (unsigned long long)v);
    return rz_gguf_writer_add_u32(w, key, (uint32_t)v);
}

/* ne[d] of a stored tensor that must exist. */
static rz_status dim_of(const rwkv_file *f, const char *name, int d, uint64_t *out) {
    const stored *t = find(f, name);
    if (!t) return rz_error(RZ_ERR_FORMAT, "tensor '%s' is missing", name);
    *out = t->ne[d];
    return RZ_OK;
}

/* The architecture's keys; sizes rwkv.cpp's header lacks come from tensor
 * shapes, as rwkv.cpp finds them. */
static rz_status add_hparams(rz_gguf_writer *w, const rwkv_file *f, bool v7) {
    const char *a = v7 ? "rwkv7" : "rwkv5";
    uint64_t heads = 1, n_ff = 0, n_vocab = 0, n_embd = 0;
    /* v7's r_k is {head size, heads}; v5's time_decay {1, head size, heads} */
    RZ_TRY(v7 ? dim_of(f, "blocks.0.att.r_k", 1, &heads) : dim_of(f, "blocks.0.att.time_decay", 2, &heads));
    RZ_TRY(dim_of(f, "blocks.0.ffn.key.weight", 1, &n_ff));
    RZ_TRY(dim_of(f, "emb.weight", 0, &n_embd));
    RZ_TRY(dim_of(f, "emb.weight", 1, &n_vocab));
    if (n_embd != f->n_embed || n_vocab != f->n_vocab)
        return rz_error(RZ_ERR_FORMAT, "emb.weight is {%llu, %llu}, the header says {%u, %u}",
                        (unsigned long long)n_embd, (unsigned long long)n_vocab, f->n_embed, f->n_vocab);
    if (f->n_embed % heads != 0)
        return rz_error(RZ_ERR_FORMAT, "%llu heads do not divide n_embed %u", (unsigned long long)heads,
                        f->n_embed);
    RZ_TRY(rz_gguf_writer_add_str(w, "general.architecture", a));
    RZ_TRY(add_u32(w, a, "context_length", CONTEXT));
    RZ_TRY(add_u32(w, a, "embedding_length", f->n_embed));
    RZ_TRY(add_u32(w, a, "block_count", f->n_layer));
    RZ_TRY(add_u32(w, a, "feed_forward_length", n_ff));
    RZ_TRY(add_u32(w, a, "attention.head_count", 0)); /* as llama.cpp's converter: unused */
    RZ_TRY(add_u32(w, a, "wkv.head_size", f->n_embed / heads));
    char key[64];
    snprintf(key, sizeof key, "%s.attention.layer_norm_epsilon", a);
    RZ_TRY(rz_gguf_writer_add_f32(w, key, 1e-5f)); /* rwkv.cpp's LayerNorms */
    if (!v7) return RZ_OK;
    uint64_t decay = 0, iclr = 0, value = 0, gate = 0;
    RZ_TRY(dim_of(f, "blocks.0.att.w1", 1, &decay));
    RZ_TRY(dim_of(f, "blocks.0.att.a1", 1, &iclr));
    RZ_TRY(dim_of(f, "blocks.0.att.g1", 1, &gate));
    value = iclr; /* layer 0's stand-in (v7_layer0_values) where there is no other layer */
    if (f->n_layer > 1) RZ_TRY(dim_of(f, "blocks.1.att.v1", 1, &value));
    RZ_TRY(add_u32(w, a, "attention.decay_lora_rank", decay));
    RZ_TRY(add_u32(w, a, "attention.iclr_lora_rank", iclr));
    RZ_TRY(add_u32(w, a, "attention.value_residual_mix_lora_rank", value));
    return add_u32(w, a, "attention.gate_lora_rank", gate);
}

/* RWKV 7 or 5.2, told from layer 0's tensors as rwkv.cpp tells them. */
static rz_status detect(const rwkv_file *f, bool *v7) {
    *v7 = find(f, "blocks.0.att.r_k") != NULL;
    if (*v7) return RZ_OK;
    if (find(f, "blocks.0.att.time_maa_x"))
        return rz_error(RZ_ERR_UNSUPPORTED, "RWKV v6 files of rwkv.cpp are not supported (v5.2 and v7 are)");
    if (!find(f, "blocks.0.att.ln_x.weight") || !find(f, "blocks.0.att.gate.weight"))
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "RWKV v4 and v5.1 files of rwkv.cpp are not supported (v5.2 and v7 are)");
    return RZ_OK;
}

static rz_status build(rwkv_file *f, const char *name, void **image, size_t *image_size) {
    bool v7;
    RZ_TRY(detect(f, &v7));
    RZ_TRY(map_tensors(f, v7));
    for (uint32_t l = 0; l < f->n_layer && !v7; l++)
        RZ_TRY(fuse_v5_lerps(f, l));
    if (v7) RZ_TRY(v7_layer0_values(f));
    rz_gguf_writer *w;
    RZ_TRY(rz_gguf_writer_open_header_only(&w));
    rz_status s = add_hparams(w, f, v7);
    if (s == RZ_OK) s = rz_gguf_writer_add_str(w, "general.name", name);
    if (s == RZ_OK && f->n_vocab == BYTE_VOCAB) s = add_byte_vocab(w);
    for (uint64_t i = 0; i < f->n_out && s == RZ_OK; i++)
        s = rz_gguf_writer_add_tensor(w, f->out[i].name, f->out[i].type, f->out[i].n_dims, f->out[i].ne);
    if (s != RZ_OK) {
        rz_gguf_writer_abort(w);
        return s;
    }
    return rz_gguf_writer_take_header(w, image, image_size);
}

/* Parses f's bytes and builds the view; f passes to the reader (or is
 * freed) either way. */
static rz_status open_view(rwkv_file *f, const unsigned char *p, size_t size, const char *name,
                           rz_gguf **out) {
    void *image = NULL;
    size_t image_size = 0;
    rz_status s = parse(f, p, size);
    if (s == RZ_OK) s = build(f, name, &image, &image_size);
    const void **data = s == RZ_OK ? calloc(f->n_out + 1, sizeof *data) : NULL;
    if (s == RZ_OK && !data) s = rz_error(RZ_ERR_NOMEM, "out of memory");
    if (s != RZ_OK) {
        free(image);
        rwkv_file_free(f);
        return s;
    }
    for (uint64_t i = 0; i < f->n_out; i++)
        data[i] = f->out[i].data;
    s = rz_gguf_open_detached(image, image_size, data, rwkv_file_free, rwkv_release_pages, f, out);
    free(data);
    return s;
}

bool rz_rwkv_cpp_probe(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return false;
    unsigned char magic[4] = {0};
    const size_t n = fread(magic, 1, sizeof magic, fp);
    fclose(fp);
    return n == sizeof magic && u32_at(magic) == RWKV_CPP_MAGIC;
}

rz_status rz_rwkv_cpp_open(const char *path, rz_gguf **out) {
    *out = NULL;
    rwkv_file *f = calloc(1, sizeof *f);
    if (!f) return rz_error(RZ_ERR_NOMEM, "out of memory");
    rz_status s = rz_mapped_file_open(path, &f->map);
    if (s != RZ_OK) {
        free(f);
        return s;
    }
    f->file_backed = true;
    const char *base = strrchr(path, '/');
    s = open_view(f, f->map.data, f->map.size, base ? base + 1 : path, out);
    if (s != RZ_OK) rz_error_prefix(s, "rwkv.cpp: '%s'", path);
    return s;
}

rz_status rz_rwkv_cpp_open_memory(const void *data, size_t size, rz_gguf **out) {
    *out = NULL;
    rwkv_file *f = calloc(1, sizeof *f);
    if (!f) return rz_error(RZ_ERR_NOMEM, "out of memory");
    rz_status s = open_view(f, data, size, "memory", out);
    if (s != RZ_OK) rz_error_prefix(s, "rwkv.cpp");
    return s;
}
