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
#include "tensor/type_traits.h"

/* Input floats converted per write: bounds the buffers and paces progress. */
enum { CHUNK_FLOATS = 1 << 20 };

/* llama.cpp's GGML_QNT_VERSION, written by its quantizer into every output. */
#define QUANTIZATION_VERSION 2u

/* Which of llama.cpp's per-tensor rules (llama_tensor_get_type) a preset
 * follows. MIX_NONE: every weight matrix takes the type (float presets);
 * MIX_BASIC: only output.weight is raised to Q6_K (unless the type is Q8_0). */
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

/* llama.cpp quantizes the tensors named *weight with two or more
 * dimensions; the rest (norms, biases) is copied as it is. */
static bool is_weight_matrix(const rz_gguf_tensor *t, const char *name) {
    return t->n_dims >= 2 && ends_with(name, "weight");
}

/* Counters of llama.cpp's recipe, over the tensors in file order. */
typedef struct recipe_state {
    int i_attn_v, n_attn_v, i_ffn_down, n_ffn_down;
    bool has_output;
    uint32_t n_gqa; /* query heads per KV head */
} recipe_state;

/* Some layers get more bits: the first and last eighth, and every third
 * one in between. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

static rz_type mix_type(recipe_state *r, const preset *p, const char *name) {
    if (p->mix == MIX_TERNARY)
        return strcmp(name, "output.weight") == 0 || strcmp(name, "token_embd.weight") == 0 ? RZ_TYPE_F16
                                                                                            : p->type;
    const bool is_output =
        strcmp(name, "output.weight") == 0 || (!r->has_output && strcmp(name, "token_embd.weight") == 0);
    if (is_output) return p->type == RZ_TYPE_Q8_0 ? RZ_TYPE_Q8_0 : RZ_TYPE_Q6_K;
    if (strstr(name, "attn_v.weight")) {
        const int i = r->i_attn_v++;
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
    if (strstr(name, "ffn_down")) {
        const int i = r->i_ffn_down++, n = r->n_ffn_down;
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
    if (strstr(name, "attn_output.weight")) {
        if (p->mix == MIX_Q2_K) return RZ_TYPE_Q3_K;
        if (p->mix == MIX_Q3_K_M) return RZ_TYPE_Q4_K;
        return p->type;
    }
    if (strstr(name, "attn_qkv.weight")) {
        if (p->mix == MIX_Q3_K_M) return RZ_TYPE_Q4_K;
        if (p->mix == MIX_Q4_K_M) return RZ_TYPE_Q5_K;
        if (p->mix == MIX_Q5_K_M) return RZ_TYPE_Q6_K;
    }
    return p->type;
}

rz_type rz_type_for_row(rz_type type, uint64_t row_len) {
    if (row_len % rz_type_block_size(type) == 0) return type;
    switch (type) {
    case RZ_TYPE_Q2_K:
    case RZ_TYPE_Q3_K: type = RZ_TYPE_IQ4_NL; break;
    case RZ_TYPE_Q4_K: type = RZ_TYPE_Q5_0; break;
    case RZ_TYPE_Q5_K: type = RZ_TYPE_Q5_1; break;
    case RZ_TYPE_Q6_K: type = RZ_TYPE_Q8_0; break;
    default: type = RZ_TYPE_F16; break;
    }
    return row_len % rz_type_block_size(type) == 0 ? type : RZ_TYPE_F16;
}

static rz_type target_type(recipe_state *r, const preset *p, const rz_quantize_params *o,
                           const rz_gguf_tensor *t) {
    const name_buf name = tensor_name(t);
    if (!is_weight_matrix(t, name.s) || t->n_elements == 0) return t->type;
    rz_type type = !o->pure && p->mix != MIX_NONE ? mix_type(r, p, name.s) : p->type;
    if (o->token_embedding_type != RZ_TYPE_COUNT && strcmp(name.s, "token_embd.weight") == 0)
        type = o->token_embedding_type;
    if (o->output_type != RZ_TYPE_COUNT && strcmp(name.s, "output.weight") == 0) type = o->output_type;
    return rz_type_for_row(type, t->ne[0]);
}

/* n_gqa from "<arch>.attention.head_count" and "..._kv"; 1 if absent. */
static uint32_t gqa_of(const rz_gguf *in) {
    rz_str arch;
    if (rz_gguf_get_str(in, "general.architecture", &arch) != RZ_OK || arch.len > 64) return 1;
    char key[128];
    uint32_t heads, kv_heads;
    snprintf(key, sizeof key, "%.*s.attention.head_count", (int)arch.len, arch.ptr);
    if (rz_gguf_get_u32(in, key, &heads) != RZ_OK) return 1;
    snprintf(key, sizeof key, "%.*s.attention.head_count_kv", (int)arch.len, arch.ptr);
    if (rz_gguf_get_u32(in, key, &kv_heads) != RZ_OK || kv_heads == 0) return 1;
    return heads / kv_heads;
}

typedef struct quantize_state {
    rz_gguf *in;
    rz_threadpool *pool;
    rz_type *types; /* target type per input tensor */
    float *floats;  /* one chunk (or one whole-tensor quantized tensor) of floats */
    void *bytes;    /* the same rows in the target type */
    uint64_t done, total;
} quantize_state;

static uint64_t rows_per_chunk(uint64_t row_len) {
    return row_len < CHUNK_FLOATS ? CHUNK_FLOATS / row_len : 1;
}

/* Picks every tensor's type, checks each conversion is possible, and sizes
 * the buffers. */
static rz_status plan(quantize_state *st, const preset *p, const rz_quantize_params *o) {
    const uint64_t n = rz_gguf_tensor_count(st->in);
    recipe_state r = {.n_gqa = gqa_of(st->in)};
    for (uint64_t i = 0; i < n; i++) {
        const name_buf name = tensor_name(rz_gguf_tensor_at(st->in, i));
        r.n_attn_v += strstr(name.s, "attn_v.weight") != NULL;
        r.n_ffn_down += strstr(name.s, "ffn_down") != NULL;
        r.has_output |= strcmp(name.s, "output.weight") == 0;
    }
    if (!(st->types = rz_calloc(n ? n : 1, sizeof *st->types))) return RZ_ERR_NOMEM;
    uint64_t max_floats = 0, max_bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
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
    for (uint64_t i = 0; i < n; i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(st->in, i);
        const name_buf name = tensor_name(t);
        RZ_TRY(rz_gguf_writer_add_tensor(w, name.s, st->types[i], t->n_dims, t->ne));
    }
    RZ_TRY(rz_gguf_writer_begin_data(w));
    if (o->progress) o->progress(o->progress_user, 0, st->total);
    for (uint64_t i = 0; i < n; i++)
        RZ_TRY(write_tensor(w, st, o, rz_gguf_tensor_at(st->in, i), st->types[i]));
    return RZ_OK;
}

/* The output is written under a temporary name and renamed at the end, so
 * a failure leaves no partial file and the input (mapped while we read it)
 * may even be the output. */
static rz_status quantize(quantize_state *st, const char *in_path, const char *out_path,
                          const rz_quantize_params *o) {
    const preset *p = find_preset(o->preset);
    if (!p) return rz_error(RZ_ERR_NOT_FOUND, "quantize: unknown preset '%s'", o->preset);
    RZ_TRY(rz_gguf_open(in_path, &st->in));
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
    rz_gguf_close(st.in);
    return s;
}
