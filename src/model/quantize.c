/* GGUF -> GGUF requantization with llama.cpp's presets ("ftypes") and its
 * recipe of which tensor gets which type. Tensors are converted one at a
 * time, in chunks of rows, through float. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "base/mem.h"
#include "base/threadpool.h"
#include "format/gguf_internal.h"
#include "tensor/type_traits.h"

/* Input floats converted per write: bounds the buffers and paces progress. */
enum { CHUNK_FLOATS = 1 << 20 };

/* llama.cpp's GGML_QNT_VERSION, written by its quantizer into every output. */
#define QUANTIZATION_VERSION 2u

/* Which of llama.cpp's per-tensor rules (llama_tensor_get_type) a preset
 * follows. MIX_NONE: float presets, every weight matrix takes the type;
 * MIX_BASIC: only the rules all quantized presets share (output.weight
 * raised to Q6_K unless the type is Q8_0; 8-expert attention raised). */
typedef enum mix {
    MIX_NONE,
    MIX_BASIC,
    MIX_Q2_K,
    MIX_Q3_K_M,
    MIX_Q4_K_S,
    MIX_Q4_K_M,
    MIX_Q5_K_M,
    MIX_IQ4_NL,
    MIX_TERNARY, /* BitNet: embedding and output stay F16, as bitnet.cpp's files */
} mix;

typedef struct preset {
    const char *name;
    rz_type type;       /* base type of the weight matrices */
    uint32_t file_type; /* llama_ftype, stored as general.file_type */
    mix mix;
} preset;

static const preset presets[] = {
    {"F32", RZ_TYPE_F32, 0, MIX_NONE},         {"F16", RZ_TYPE_F16, 1, MIX_NONE},
    {"BF16", RZ_TYPE_BF16, 32, MIX_NONE},      {"Q8_0", RZ_TYPE_Q8_0, 7, MIX_BASIC},
    {"Q4_0", RZ_TYPE_Q4_0, 2, MIX_BASIC},      {"Q4_1", RZ_TYPE_Q4_1, 3, MIX_BASIC},
    {"Q5_0", RZ_TYPE_Q5_0, 8, MIX_BASIC},      {"Q5_1", RZ_TYPE_Q5_1, 9, MIX_BASIC},
    {"Q2_K", RZ_TYPE_Q2_K, 10, MIX_Q2_K},      {"Q3_K_M", RZ_TYPE_Q3_K, 12, MIX_Q3_K_M},
    {"Q4_K_S", RZ_TYPE_Q4_K, 14, MIX_Q4_K_S},  {"Q4_K_M", RZ_TYPE_Q4_K, 15, MIX_Q4_K_M},
    {"Q5_K_S", RZ_TYPE_Q5_K, 16, MIX_BASIC},   {"Q5_K_M", RZ_TYPE_Q5_K, 17, MIX_Q5_K_M},
    {"Q6_K", RZ_TYPE_Q6_K, 18, MIX_BASIC},     {"IQ4_NL", RZ_TYPE_IQ4_NL, 25, MIX_IQ4_NL},
    {"TQ1_0", RZ_TYPE_TQ1_0, 36, MIX_TERNARY}, {"TQ2_0", RZ_TYPE_TQ2_0, 37, MIX_TERNARY},
    {"I2_S", RZ_TYPE_I2_S, 40, MIX_TERNARY}, /* bitnet.cpp's LLAMA_FTYPE_MOSTLY_I2_S */
    {"MXFP4", RZ_TYPE_MXFP4, 38, MIX_BASIC}, /* file type LLAMA_FTYPE_MOSTLY_MXFP4_MOE */
};
enum { N_PRESETS = sizeof presets / sizeof presets[0] };

/* llama-quantize's short names for the _M mixes. */
static const struct {
    const char *alias, *name;
} aliases[] = {{"Q3_K", "Q3_K_M"}, {"Q4_K", "Q4_K_M"}, {"Q5_K", "Q5_K_M"}};

static const preset *find_preset(const char *name) {
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0) name = aliases[i].name;
    for (size_t i = 0; i < N_PRESETS; i++)
        if (strcasecmp(name, presets[i].name) == 0) return &presets[i];
    return NULL;
}

const char *rz_quantize_preset_name(size_t i) { return i < N_PRESETS ? presets[i].name : NULL; }

void rz_quantize_params_init(rz_quantize_params *p) {
    *p = (rz_quantize_params){
        .preset = "Q8_0", .output_type = RZ_TYPE_COUNT, .token_embedding_type = RZ_TYPE_COUNT};
}

/* Tensor names are at most 64 bytes in GGUF; longer ones are cut (they
 * then match none of the names below, and the writer rejects them). */
typedef struct name_buf {
    char s[256];
} name_buf;

static name_buf tensor_name(const rz_gguf_tensor *t) {
    name_buf b;
    const size_t n = t->name.len < sizeof b.s - 1 ? (size_t)t->name.len : sizeof b.s - 1;
    memcpy(b.s, t->name.ptr, n);
    b.s[n] = '\0';
    return b;
}

static bool ends_with(const char *s, const char *suffix) {
    const size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Dimensions up to the last one above 1, as ggml counts them. */
static uint32_t real_dims(const rz_gguf_tensor *t) {
    uint32_t n = 1;
    for (uint32_t d = 1; d < t->n_dims; d++)
        if (t->ne[d] > 1) n = d + 1;
    return n;
}

/* Tensors llama.cpp keeps as they are although they are *weight matrices:
 * norms, the MoE router, positional and token-type tables, and small ones
 * (recurrent and multimodal). */
static const char *const kept_parts[] = {
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
};

/* llama.cpp quantizes the tensors named *weight with two or more
 * dimensions (3-D: experts), but for the ones above. */
static bool is_quantizable(const rz_gguf_tensor *t, const char *name) {
    if (real_dims(t) < 2 || !ends_with(name, "weight") || strcmp(name, "position_embd.weight") == 0 ||
        strcmp(name, "token_types.weight") == 0)
        return false;
    for (size_t i = 0; i < sizeof kept_parts / sizeof kept_parts[0]; i++)
        if (strstr(name, kept_parts[i])) return false;
    return true;
}

/* llama.cpp's tensor categories, as far as our presets' rules tell them
 * apart; tested in its order. The fused attn_qkv counts as attn_v. */
typedef enum category {
    CAT_OTHER,
    CAT_OUTPUT,
    CAT_TOKEN_EMBD,
    CAT_ATTN_V,
    CAT_ATTN_K,
    CAT_ATTN_OUTPUT,
    CAT_FFN_DOWN,
} category;

static category category_of(const char *name) {
    if (strcmp(name, "output.weight") == 0) return CAT_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
        return CAT_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight") || strstr(name, "attn_kv_b.weight") || strstr(name, "attn_v.weight"))
        return CAT_ATTN_V;
    if (strstr(name, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(name, "attn_q.weight")) return CAT_OTHER;
    if (strstr(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    if (strstr(name, "ffn_up") || strstr(name, "ffn_gate")) return CAT_OTHER;
    if (strstr(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

/* Counters and hyperparameters of llama.cpp's recipe. */
typedef struct recipe_state {
    int i_attn_v, n_attn_v, i_ffn_down, n_layer;
    bool tied;         /* no output.weight: token_embd is the output too */
    uint32_t n_gqa;    /* query heads per KV head */
    uint32_t n_expert; /* 8 experts raise the attention types */
} recipe_state;

/* Some layers get more bits: the first and last eighth, and every third
 * one in between. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* The layer of an ffn_down tensor: its count, or with experts (whose
 * tensors need not come one per layer) the number in its name. */
static int ffn_down_layer(recipe_state *r, const char *name) {
    int layer = r->i_ffn_down++, named;
    if (r->n_expert > 1 && sscanf(name, "blk.%d.", &named) == 1) layer = named;
    return layer;
}

static rz_type mix_type(recipe_state *r, const preset *p, const rz_quantize_params *o,
                        const rz_gguf_tensor *t, const char *name) {
    const category c = category_of(name);
    const bool is_output = c == CAT_OUTPUT || (r->tied && c == CAT_TOKEN_EMBD);
    if (is_output && o->output_type != RZ_TYPE_COUNT) return o->output_type;
    if (p->mix == MIX_TERNARY) return c == CAT_OUTPUT || c == CAT_TOKEN_EMBD ? RZ_TYPE_F16 : p->type;
    if (is_output) {
        if (t->ne[0] % rz_type_block_size(p->type) != 0) return RZ_TYPE_Q8_0;
        return p->type == RZ_TYPE_Q8_0 ? RZ_TYPE_Q8_0 : RZ_TYPE_Q6_K;
    }
    const bool moe8 = r->n_expert == 8; /* llama.cpp: a cheap gain for Mixtral-like models */
    switch (c) {
    case CAT_ATTN_V: {
        const int i = r->i_attn_v++;
        if (moe8) return RZ_TYPE_Q8_0;
        switch (p->mix) {
        case MIX_Q2_K: return r->n_gqa >= 4 ? RZ_TYPE_Q4_K : RZ_TYPE_Q3_K;
        case MIX_Q3_K_M: return i < 2 ? RZ_TYPE_Q5_K : RZ_TYPE_Q4_K;
        case MIX_Q4_K_S: return i < 4 ? RZ_TYPE_Q5_K : p->type;
        case MIX_Q4_K_M:
        case MIX_Q5_K_M: return use_more_bits(i, r->n_attn_v) ? RZ_TYPE_Q6_K : p->type;
        case MIX_IQ4_NL: return r->n_gqa >= 4 ? RZ_TYPE_Q5_K : p->type;
        default: return p->type;
        }
    }
    case CAT_ATTN_K: return moe8 ? RZ_TYPE_Q8_0 : p->type;
    case CAT_ATTN_OUTPUT:
        if (moe8)
            return p->mix == MIX_Q2_K || p->mix == MIX_Q3_K_M || p->mix == MIX_Q4_K_S ||
                           p->mix == MIX_Q4_K_M || p->mix == MIX_IQ4_NL
                       ? RZ_TYPE_Q5_K
                       : p->type;
        if (p->mix == MIX_Q2_K) return RZ_TYPE_Q3_K;
        if (p->mix == MIX_Q3_K_M) return RZ_TYPE_Q4_K;
        return p->type;
    case CAT_FFN_DOWN: {
        const int i = ffn_down_layer(r, name), n = r->n_layer;
        switch (p->mix) {
        case MIX_Q2_K: return RZ_TYPE_Q3_K;
        case MIX_Q3_K_M: return i < n / 16 ? RZ_TYPE_Q5_K : RZ_TYPE_Q4_K;
        case MIX_Q4_K_S: return i < n / 8 ? RZ_TYPE_Q5_K : p->type;
        case MIX_Q4_K_M:
        case MIX_Q5_K_M: return use_more_bits(i, n) ? RZ_TYPE_Q6_K : p->type;
        case MIX_IQ4_NL: return i < n / 8 ? RZ_TYPE_Q5_K : p->type;
        default: return p->type;
        }
    }
    default: return p->type;
    }
}

static rz_type target_type(recipe_state *r, const preset *p, const rz_quantize_params *o,
                           const rz_gguf_tensor *t) {
    const name_buf name = tensor_name(t);
    if (!is_quantizable(t, name.s) || t->n_elements == 0) return t->type;
    rz_type type = p->type;
    if (o->token_embedding_type != RZ_TYPE_COUNT && category_of(name.s) == CAT_TOKEN_EMBD)
        type = o->token_embedding_type;
    else if (o->output_type != RZ_TYPE_COUNT && category_of(name.s) == CAT_OUTPUT)
        type = o->output_type;
    else if (!o->pure && p->mix != MIX_NONE)
        type = mix_type(r, p, o, t, name.s);
    return rz_type_for_row(type, t->ne[0]);
}

/* "<arch>.SUFFIX" as an integer; 0 if absent. */
static uint32_t arch_u32(const rz_gguf *in, const char *suffix) {
    rz_str arch;
    if (rz_gguf_get_str(in, "general.architecture", &arch) != RZ_OK || arch.len > 64) return 0;
    char key[128];
    snprintf(key, sizeof key, "%.*s.%s", (int)arch.len, arch.ptr, suffix);
    uint32_t v;
    return rz_gguf_get_u32(in, key, &v) == RZ_OK ? v : 0;
}

/* The recipe's counts over the whole file. */
static recipe_state recipe_init(const rz_gguf *in) {
    const uint32_t heads = arch_u32(in, "attention.head_count"), kv = arch_u32(in, "attention.head_count_kv");
    recipe_state r = {.tied = true,
                      .n_gqa = heads && kv ? heads / kv : 1,
                      .n_expert = arch_u32(in, "expert_count"),
                      .n_layer = (int)arch_u32(in, "block_count")};
    int n_ffn_down = 0;
    for (uint64_t i = 0; i < rz_gguf_tensor_count(in); i++) {
        const name_buf name = tensor_name(rz_gguf_tensor_at(in, i));
        const category c = category_of(name.s);
        r.n_attn_v += c == CAT_ATTN_V;
        n_ffn_down += c == CAT_FFN_DOWN;
        r.tied &= c != CAT_OUTPUT;
    }
    if (r.n_layer <= 0) r.n_layer = n_ffn_down; /* no block_count: one ffn_down per layer */
    return r;
}

/* llama.cpp visits and writes the tensors by layer (none first), then by
 * name; its recipe counts in that order. */
typedef struct order_key {
    rz_str name;
    int layer;
    uint64_t index;
} order_key;

static int order_cmp(const void *pa, const void *pb) {
    const order_key *a = pa, *b = pb;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    const uint64_t n = a->name.len < b->name.len ? a->name.len : b->name.len;
    const int c = n ? memcmp(a->name.ptr, b->name.ptr, n) : 0;
    return c ? c : (a->name.len > b->name.len) - (a->name.len < b->name.len);
}

static rz_status tensor_order(const rz_gguf *in, uint64_t **out) {
    const uint64_t n = rz_gguf_tensor_count(in);
    order_key *keys = rz_calloc(n ? n : 1, sizeof *keys);
    uint64_t *order = rz_calloc(n ? n : 1, sizeof *order);
    if (!keys || !order) {
        free(keys);
        free(order);
        return rz_error(RZ_ERR_NOMEM, "quantize: out of memory");
    }
    for (uint64_t i = 0; i < n; i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(in, i);
        int layer;
        keys[i] = (order_key){.name = t->name,
                              .layer = sscanf(tensor_name(t).s, "blk.%d.", &layer) == 1 ? layer : -1,
                              .index = i};
    }
    qsort(keys, n, sizeof *keys, order_cmp);
    for (uint64_t i = 0; i < n; i++)
        order[i] = keys[i].index;
    free(keys);
    *out = order;
    return RZ_OK;
}

typedef struct quantize_state {
    rz_gguf *in;
    rz_threadpool *pool;
    rz_type *types;  /* target type per input tensor */
    uint64_t *order; /* input indices in llama.cpp's order */
    float *floats;   /* one chunk (or one whole-tensor quantized tensor) of floats */
    void *bytes;     /* the same rows in the target type */
    uint64_t done, total;
} quantize_state;

static uint64_t rows_per_chunk(uint64_t row_len) {
    return row_len < CHUNK_FLOATS ? CHUNK_FLOATS / row_len : 1;
}

/* Picks every tensor's type, checks each conversion is possible, and sizes
 * the buffers. */
static rz_status plan(quantize_state *st, const preset *p, const rz_quantize_params *o) {
    const uint64_t n = rz_gguf_tensor_count(st->in);
    recipe_state r = recipe_init(st->in);
    RZ_TRY(tensor_order(st->in, &st->order));
    if (!(st->types = rz_calloc(n ? n : 1, sizeof *st->types))) return RZ_ERR_NOMEM;
    uint64_t max_floats = 0, max_bytes = 0;
    for (uint64_t k = 0; k < n; k++) {
        const uint64_t i = st->order[k];
        const rz_gguf_tensor *t = rz_gguf_tensor_at(st->in, i);
        const rz_type type = st->types[i] = target_type(&r, p, o, t);
        st->total += t->n_elements;
        if (type == t->type) continue;
        const name_buf name = tensor_name(t);
        if (!rz_type_can_dequantize(t->type))
            return rz_error(RZ_ERR_UNSUPPORTED, "quantize: tensor '%s': cannot read type %s", name.s,
                            rz_type_name(t->type));
        if (!rz_type_can_quantize(type) && !rz_type_traits_get(type)->quantize_tensor)
            return rz_error(RZ_ERR_UNSUPPORTED, "quantize: tensor '%s': this build cannot quantize to %s",
                            name.s, rz_type_name(type));
        const uint64_t rows = t->n_elements / t->ne[0];
        const uint64_t chunk_rows =
            rz_type_traits_get(type)->quantize_tensor || rz_type_traits_get(t->type)->trailer_bytes
                ? rows
                : (rows < rows_per_chunk(t->ne[0]) ? rows : rows_per_chunk(t->ne[0]));
        uint64_t floats, bytes;
        if (rz_mul_overflow(chunk_rows, t->ne[0], &floats))
            return rz_error(RZ_ERR_RANGE, "quantize: tensor '%s' is too large", name.s);
        RZ_TRY(rz_type_tensor_bytes(type, floats, &bytes));
        if (floats > max_floats) max_floats = floats;
        if (bytes > max_bytes) max_bytes = bytes;
    }
    if (max_floats && (!(st->floats = rz_calloc_aligned(max_floats, sizeof(float))) ||
                       !(st->bytes = rz_alloc_aligned(max_bytes))))
        return rz_error(RZ_ERR_NOMEM, "quantize: out of memory for %llu floats",
                        (unsigned long long)max_floats);
    return RZ_OK;
}

static rz_status add_metadata(rz_gguf_writer *w, const rz_gguf *in, const preset *p) {
    for (uint64_t i = 0; i < rz_gguf_kv_count(in); i++) {
        const rz_str key = rz_gguf_kv_key(in, i);
        char *k = rz_calloc(key.len + 1, 1);
        if (!k) return rz_error(RZ_ERR_NOMEM, "quantize: out of memory");
        memcpy(k, key.ptr, key.len);
        rz_status s = RZ_OK;
        if (strcmp(k, "general.file_type") != 0 && strcmp(k, "general.quantization_version") != 0)
            s = rz_gguf_writer_add_value(w, k, rz_gguf_kv_value(in, i));
        free(k);
        RZ_TRY(s);
    }
    RZ_TRY(rz_gguf_writer_add_u32(w, "general.quantization_version", QUANTIZATION_VERSION));
    return rz_gguf_writer_add_u32(w, "general.file_type", p->file_type);
}

static void report(quantize_state *st, const rz_quantize_params *o, uint64_t elements) {
    st->done += elements;
    if (o->progress) o->progress(o->progress_user, st->done, st->total);
}

/* One chunk of rows, split by rows among the threads. */
typedef struct chunk_job {
    const rz_type_traits *src, *dst;
    const uint8_t *in;
    float *floats;
    uint8_t *out;
    int64_t rows, row_len;
} chunk_job;

static void convert_rows(void *arg, int ith, int nth) {
    const chunk_job *j = arg;
    int64_t begin, end;
    rz_split_range(j->rows, 1, ith, nth, &begin, &end);
    if (begin == end) return;
    const int64_t n = (end - begin) * j->row_len;
    float *f = j->floats + begin * j->row_len;
    j->src->to_float(j->in + (uint64_t)begin * rz_row_bytes(j->src, (uint64_t)j->row_len), f, n);
    j->dst->from_float(f, j->out + (uint64_t)begin * rz_row_bytes(j->dst, (uint64_t)j->row_len), n);
}

static rz_status write_tensor(rz_gguf_writer *w, quantize_state *st, const rz_quantize_params *o,
                              const rz_gguf_tensor *t, rz_type type) {
    if (type == t->type) {
        RZ_TRY(rz_gguf_writer_write(w, t->data, t->size));
        report(st, o, t->n_elements);
        return RZ_OK;
    }
    const rz_type_traits *src = rz_type_traits_get(t->type), *dst = rz_type_traits_get(type);
    const uint64_t row_len = t->ne[0], rows = t->n_elements / row_len;
    const uint64_t src_row = rz_row_bytes(src, row_len);
    /* Whole tensors when the target's scale spans the tensor, or the
     * source's does (an I2_S source decodes only as a whole). */
    if (dst->quantize_tensor || src->trailer_bytes) {
        src->to_float(t->data, st->floats, (int64_t)t->n_elements);
        if (dst->quantize_tensor)
            RZ_TRY(dst->quantize_tensor(st->floats, st->bytes, (int64_t)rows, (int64_t)row_len));
        else
            dst->from_float(st->floats, st->bytes, (int64_t)t->n_elements);
        uint64_t bytes;
        RZ_TRY(rz_type_tensor_bytes(type, t->n_elements, &bytes));
        RZ_TRY(rz_gguf_writer_write(w, st->bytes, bytes));
        report(st, o, t->n_elements);
        return RZ_OK;
    }
    const uint64_t chunk = rows_per_chunk(row_len);
    for (uint64_t row = 0; row < rows; row += chunk) {
        chunk_job job = {.src = src,
                         .dst = dst,
                         .in = (const uint8_t *)t->data + row * src_row,
                         .floats = st->floats,
                         .out = st->bytes,
                         .rows = (int64_t)(rows - row < chunk ? rows - row : chunk),
                         .row_len = (int64_t)row_len};
        rz_threadpool_run(st->pool, convert_rows, &job);
        RZ_TRY(rz_gguf_writer_write(w, st->bytes, rz_row_bytes(dst, (uint64_t)(job.rows * job.row_len))));
        report(st, o, (uint64_t)(job.rows * job.row_len));
    }
    return RZ_OK;
}

static rz_status write_gguf(rz_gguf_writer *w, quantize_state *st, const preset *p,
                            const rz_quantize_params *o) {
    RZ_TRY(add_metadata(w, st->in, p));
    const uint64_t n = rz_gguf_tensor_count(st->in);
    for (uint64_t k = 0; k < n; k++) {
        const uint64_t i = st->order[k];
        const rz_gguf_tensor *t = rz_gguf_tensor_at(st->in, i);
        const name_buf name = tensor_name(t);
        RZ_TRY(rz_gguf_writer_add_tensor(w, name.s, st->types[i], t->n_dims, t->ne));
    }
    RZ_TRY(rz_gguf_writer_begin_data(w));
    if (o->progress) o->progress(o->progress_user, 0, st->total);
    for (uint64_t k = 0; k < n; k++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(st->in, st->order[k]);
        RZ_TRY(write_tensor(w, st, o, t, st->types[st->order[k]]));
        /* Each input tensor is read once: its pages leave the resident set
         * once written, so memory stays at about one tensor. */
        rz_gguf_release_pages(st->in, t->data, t->size);
    }
    return RZ_OK;
}

/* The output is written under a temporary name and renamed at the end, so
 * a failure leaves no partial file and the input (mapped while we read it)
 * may even be the output. */
static rz_status quantize(quantize_state *st, const char *in_path, const char *out_path,
                          const rz_quantize_params *o) {
    const preset *p = find_preset(o->preset);
    if (!p) return rz_error(RZ_ERR_NOT_FOUND, "quantize: unknown preset '%s'", o->preset);
    RZ_TRY(rz_hf_probe(in_path)         ? rz_hf_open(in_path, &st->in)
           : rz_rwkv_cpp_probe(in_path) ? rz_rwkv_cpp_open(in_path, &st->in)
                                        : rz_gguf_open(in_path, &st->in));
    RZ_TRY(plan(st, p, o));
    RZ_TRY(
        rz_threadpool_create(o->n_threads > 0 ? o->n_threads : rz_cpu_info_get()->physical_cores, &st->pool));
    const size_t tmp_len = strlen(out_path) + sizeof ".tmp";
    char *tmp = malloc(tmp_len);
    if (!tmp) return rz_error(RZ_ERR_NOMEM, "quantize: out of memory");
    snprintf(tmp, tmp_len, "%s.tmp", out_path);
    rz_gguf_writer *w;
    rz_status s = rz_gguf_writer_open(tmp, &w);
    if (s == RZ_OK) {
        s = write_gguf(w, st, p, o);
        if (s != RZ_OK)
            rz_gguf_writer_abort(w);
        else if ((s = rz_gguf_writer_close(w)) == RZ_OK && rename(tmp, out_path) != 0) {
            s = rz_error(RZ_ERR_IO, "quantize: cannot rename '%s' to '%s'", tmp, out_path);
            remove(tmp);
        }
    }
    free(tmp);
    return s;
}

rz_status rz_quantize_model(const char *in_path, const char *out_path, const rz_quantize_params *params) {
    if (!in_path || !out_path) return rz_error(RZ_ERR_INVALID_ARG, "quantize: NULL path");
    rz_quantize_params defaults;
    rz_quantize_params_init(&defaults);
    const rz_quantize_params *o = params ? params : &defaults;
    if (!o->preset) return rz_error(RZ_ERR_INVALID_ARG, "quantize: no preset given");
    quantize_state st = {0};
    rz_status s = quantize(&st, in_path, out_path, o);
    rz_threadpool_free(st.pool);
    rz_free_aligned(st.bytes);
    rz_free_aligned(st.floats);
    free(st.types);
    free(st.order);
    rz_gguf_close(st.in);
    return s;
}
