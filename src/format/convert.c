/* llama2.c checkpoint -> GGUF v3 with llama.cpp's names and metadata keys,
 * streamed tensor by tensor so memory stays at one chunk of converted rows. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/mem.h"
#include "tensor/type_traits.h"
#include "format/llama2c_spm.h"

/* Input floats converted per write: bounds the buffer and paces progress. */
enum { CHUNK_FLOATS = 1 << 20 };

/* llama2.c uses these for every model; the header does not carry them. */
#define LLAMA2C_RMS_EPS   1e-5f
#define LLAMA2C_ROPE_BASE 10000.0f

/* general.name: the input's file name without directory and extension. */
static rz_str model_name(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    return (rz_str){base, len};
}

static rz_status add_metadata(rz_gguf_writer *w, const char *in_path, const rz_llama2c_config *c,
                              uint32_t file_type, const rz_llama2c_spm *vocab) {
    const rz_str name = model_name(in_path);
    RZ_TRY(rz_gguf_writer_add_str(w, "general.architecture", "llama"));
    RZ_TRY(rz_gguf_writer_add_strn(w, "general.name", name.ptr, name.len));
    RZ_TRY(rz_gguf_writer_add_u32(w, "general.file_type", file_type));
    RZ_TRY(rz_gguf_writer_add_u32(w, "llama.vocab_size", (uint32_t)c->vocab_size));
    RZ_TRY(rz_gguf_writer_add_u32(w, "llama.context_length", (uint32_t)c->seq_len));
    RZ_TRY(rz_gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)c->dim));
    RZ_TRY(rz_gguf_writer_add_u32(w, "llama.block_count", (uint32_t)c->n_layers));
    RZ_TRY(rz_gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)c->hidden_dim));
    RZ_TRY(rz_gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads));
    RZ_TRY(rz_gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads));
    RZ_TRY(rz_gguf_writer_add_u32(w, "llama.rope.dimension_count", (uint32_t)(c->dim / c->n_heads)));
    RZ_TRY(rz_gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", LLAMA2C_RMS_EPS));
    RZ_TRY(rz_gguf_writer_add_f32(w, "llama.rope.freq_base", LLAMA2C_ROPE_BASE));
    if (!vocab) return RZ_OK;
    RZ_TRY(rz_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"));
    RZ_TRY(rz_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", vocab->pieces, vocab->n_tokens));
    RZ_TRY(rz_gguf_writer_add_array(w, "tokenizer.ggml.scores", RZ_GGUF_FLOAT32, vocab->scores,
                                    vocab->n_tokens));
    RZ_TRY(rz_gguf_writer_add_array(w, "tokenizer.ggml.token_type", RZ_GGUF_INT32, vocab->types,
                                    vocab->n_tokens));
    if (vocab->bos >= 0)
        RZ_TRY(rz_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)vocab->bos));
    if (vocab->eos >= 0)
        RZ_TRY(rz_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)vocab->eos));
    if (vocab->unk >= 0)
        RZ_TRY(rz_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)vocab->unk));
    RZ_TRY(rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true));
    RZ_TRY(rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false));
    return RZ_OK;
}

/* Norms (1-D) stay F32 as in llama.cpp; matrices take the requested type,
 * except that rows the type's blocks cannot tile fall back to F16, as
 * llama.cpp's quantizer does (llama2.c's 260K models have 172-wide FFNs). */
static rz_type tensor_type(const rz_llama2c_tensor *t, rz_type weight_type) {
    if (t->n_dims != 2) return RZ_TYPE_F32;
    return t->ne[0] % rz_type_block_size(weight_type) == 0 ? weight_type : RZ_TYPE_F16;
}

static uint64_t rows_per_chunk(uint64_t row_len) {
    return row_len < CHUNK_FLOATS ? CHUNK_FLOATS / row_len : 1;
}

/* Checks every tensor converts and sizes the output and the chunk buffer. */
static rz_status plan_tensors(const rz_llama2c *m, rz_type type, uint64_t *total_bytes,
                              uint64_t *chunk_bytes) {
    *total_bytes = 0;
    *chunk_bytes = 0;
    for (uint64_t i = 0; i < rz_llama2c_tensor_count(m); i++) {
        const rz_llama2c_tensor *t = rz_llama2c_tensor_at(m, i);
        const rz_type tt = tensor_type(t, type);
        if (tt != RZ_TYPE_F32 && !rz_type_can_quantize(tt))
            return rz_error(RZ_ERR_UNSUPPORTED, "convert: this build cannot quantize to %s",
                            rz_type_name(tt));
        uint64_t row_bytes, bytes;
        RZ_TRY(rz_type_tensor_bytes(tt, t->ne[0], &row_bytes));
        RZ_TRY(rz_type_tensor_bytes(tt, t->ne[0] * t->ne[1], &bytes));
        *total_bytes += bytes;
        if (tt != RZ_TYPE_F32) {
            const uint64_t rows = t->ne[1] < rows_per_chunk(t->ne[0]) ? t->ne[1] : rows_per_chunk(t->ne[0]);
            if (rows * row_bytes > *chunk_bytes) *chunk_bytes = rows * row_bytes;
        }
    }
    return RZ_OK;
}

typedef struct progress {
    rz_progress_fn fn;
    void *user;
    uint64_t done, total;
} progress;

static rz_status write_tensor(rz_gguf_writer *w, const rz_llama2c_tensor *t, rz_type type, void *buffer,
                              progress *p) {
    uint64_t row_bytes;
    RZ_TRY(rz_type_tensor_bytes(type, t->ne[0], &row_bytes));
    const uint64_t chunk = rows_per_chunk(t->ne[0]);
    for (uint64_t row = 0; row < t->ne[1]; row += chunk) {
        const uint64_t rows = t->ne[1] - row < chunk ? t->ne[1] - row : chunk;
        const float *src = t->data + row * t->ne[0];
        const void *bytes = src;
        if (type != RZ_TYPE_F32) {
            RZ_TRY(rz_quantize(type, src, buffer, rows * t->ne[0]));
            bytes = buffer;
        }
        RZ_TRY(rz_gguf_writer_write(w, bytes, rows * row_bytes));
        p->done += rows * row_bytes;
        if (p->fn) p->fn(p->user, p->done, p->total);
    }
    return RZ_OK;
}

static rz_status write_gguf(rz_gguf_writer *w, const char *in_path, const rz_llama2c *m,
                            const rz_convert_options *o, uint32_t file_type, const rz_llama2c_spm *vocab,
                            void *buffer, progress *p) {
    RZ_TRY(add_metadata(w, in_path, rz_llama2c_get_config(m), file_type, vocab));
    const uint64_t n = rz_llama2c_tensor_count(m);
    for (uint64_t i = 0; i < n; i++) {
        const rz_llama2c_tensor *t = rz_llama2c_tensor_at(m, i);
        RZ_TRY(rz_gguf_writer_add_tensor(w, t->name, tensor_type(t, o->type), t->n_dims, t->ne));
    }
    RZ_TRY(rz_gguf_writer_begin_data(w));
    if (p->fn) p->fn(p->user, 0, p->total);
    for (uint64_t i = 0; i < n; i++) {
        const rz_llama2c_tensor *t = rz_llama2c_tensor_at(m, i);
        RZ_TRY(write_tensor(w, t, tensor_type(t, o->type), buffer, p));
    }
    return RZ_OK;
}

/* Truncating the output while the input is mapped would fault on read. */
static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

typedef struct convert_state {
    rz_llama2c *model;
    rz_llama2c_vocab *src_vocab;
    rz_llama2c_spm vocab;
    void *buffer;
} convert_state;

static rz_status convert(convert_state *st, const char *in_path, const char *out_path,
                         const rz_convert_options *o) {
    uint32_t file_type;
    if (!rz_type_file_type(o->type, &file_type))
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "convert: weight type %s is not supported (f32, f16, bf16, q8_0, q4_0)",
                        rz_type_name(o->type) ? rz_type_name(o->type) : "(unknown)");
    if (same_file(in_path, out_path))
        return rz_error(RZ_ERR_INVALID_ARG, "convert: output '%s' is the input file", out_path);
    RZ_TRY(rz_llama2c_open(in_path, &st->model));
    const rz_llama2c_config *c = rz_llama2c_get_config(st->model);
    if (o->tokenizer_path) {
        rz_status s = rz_llama2c_vocab_open(o->tokenizer_path, c->vocab_size, &st->src_vocab);
        if (s != RZ_OK) return rz_error_prefix(s, "tokenizer '%s'", o->tokenizer_path);
        RZ_TRY(rz_llama2c_spm_build(st->src_vocab, &st->vocab));
    }
    progress p = {o->progress, o->progress_user, 0, 0};
    uint64_t chunk_bytes;
    RZ_TRY(plan_tensors(st->model, o->type, &p.total, &chunk_bytes));
    if (chunk_bytes && !(st->buffer = rz_alloc_aligned(chunk_bytes))) return RZ_ERR_NOMEM;
    rz_gguf_writer *w;
    RZ_TRY(rz_gguf_writer_open(out_path, &w));
    rz_status s =
        write_gguf(w, in_path, st->model, o, file_type, st->src_vocab ? &st->vocab : NULL, st->buffer, &p);
    if (s != RZ_OK) {
        rz_gguf_writer_abort(w);
        return s;
    }
    return rz_gguf_writer_close(w);
}

rz_status rz_convert_llama2c(const char *in_path, const char *out_path, const rz_convert_options *options) {
    if (!in_path || !out_path) return rz_error(RZ_ERR_INVALID_ARG, "convert: NULL path");
    const rz_convert_options defaults = {.type = RZ_TYPE_F32};
    convert_state st = {0};
    rz_status s = convert(&st, in_path, out_path, options ? options : &defaults);
    rz_free_aligned(st.buffer);
    rz_llama2c_spm_free(&st.vocab);
    rz_llama2c_vocab_close(st.src_vocab);
    rz_llama2c_close(st.model);
    return s;
}
