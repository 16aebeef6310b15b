/* Synthetic Llama models: seeded random weights and a placeholder SPM
 * vocabulary, written straight to GGUF one chunk at a time so a multi-GB
 * model never sits in memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "tensor/fp16.h"
#include "tensor/type_traits.h"

/* Floats generated (and quantized) per write: a multiple of every block size. */
enum { CHUNK_FLOATS = 1 << 20 };

/* GGUF token types (llama.cpp's llama_token_type). */
enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6 };
enum { N_SPECIAL = 3, N_BYTE_TOKENS = 256 };

#define MATRIX_STD 0.02f
#define NORM_STD   0.01f

typedef struct preset {
    const char *name;
    rz_synth_params p;
} preset;

static const preset presets[] = {
    {"tiny",
     {.n_embd = 64,
      .n_layer = 2,
      .n_ff = 128,
      .n_head = 4,
      .n_head_kv = 2,
      .n_vocab = 512,
      .n_ctx = 256,
      .rope_freq_base = 10000.0f}},
    {"tinyllama-1.1b",
     {.n_embd = 2048,
      .n_layer = 22,
      .n_ff = 5632,
      .n_head = 32,
      .n_head_kv = 4,
      .n_vocab = 32000,
      .n_ctx = 2048,
      .rope_freq_base = 10000.0f}},
    /* Llama 3.2 trains to 131072 tokens; 8192 keeps default KV caches small. */
    {"llama3.2-1b",
     {.n_embd = 2048,
      .n_layer = 16,
      .n_ff = 8192,
      .n_head = 32,
      .n_head_kv = 8,
      .n_vocab = 128256,
      .n_ctx = 8192,
      .tied_output = true,
      .rope_freq_base = 500000.0f}},
    /* 1bitLLM/bitnet_b1_58-large as bitnet.cpp converts it. */
    {"bitnet-large",
     {.arch = "bitnet",
      .n_embd = 1536,
      .n_layer = 24,
      .n_ff = 4096,
      .n_head = 16,
      .n_head_kv = 16,
      .n_vocab = 32002,
      .n_ctx = 2048,
      .tied_output = true,
      .rope_freq_base = 10000.0f,
      .type = RZ_TYPE_I2_S}},
    /* microsoft/bitnet-b1.58-2B-4T (its context is 4096). */
    {"bitnet-2b-4t",
     {.arch = "bitnet-b1.58",
      .n_embd = 2560,
      .n_layer = 30,
      .n_ff = 6912,
      .n_head = 20,
      .n_head_kv = 5,
      .n_vocab = 128256,
      .n_ctx = 4096,
      .tied_output = true,
      .rope_freq_base = 500000.0f,
      .type = RZ_TYPE_I2_S}},
};

const char *rz_synth_preset_name(size_t i) {
    return i < sizeof presets / sizeof presets[0] ? presets[i].name : NULL;
}

rz_status rz_synth_preset(const char *name, rz_synth_params *out) {
    if (!name || !out) return rz_error(RZ_ERR_INVALID_ARG, "synth: NULL argument");
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        if (strcmp(presets[i].name, name) != 0) continue;
        *out = presets[i].p;
        out->name = presets[i].name;
        out->rms_eps = 1e-5f;
        out->output_type = RZ_TYPE_F16;
        if (!out->arch) out->type = RZ_TYPE_F16;
        return RZ_OK;
    }
    return rz_error(RZ_ERR_NOT_FOUND,
                    "synth: no preset '%s' (tiny, tinyllama-1.1b, llama3.2-1b, bitnet-large, bitnet-2b-4t)",
                    name);
}

/* ------------------------------------------------------------ generator */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t xorshift64s(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Approximately normal values with mean `mean` and deviation `std`: the sum
 * of four 16-bit uniforms (Irwin-Hall), one 64-bit draw per value, which is
 * several times cheaper than Box-Muller and plenty for random weights. */
static void fill_normal(uint64_t *state, float *dst, uint64_t n, float mean, float std) {
    const float scale = std / 37837.23f; /* sqrt(4 * (65536^2 - 1) / 12) */
    for (uint64_t i = 0; i < n; i++) {
        const uint64_t r = xorshift64s(state);
        const uint32_t sum = (uint32_t)(r & 0xFFFF) + (uint32_t)((r >> 16) & 0xFFFF) +
                             (uint32_t)((r >> 32) & 0xFFFF) + (uint32_t)(r >> 48);
        dst[i] = mean + ((float)sum - 131070.0f) * scale;
    }
}

/* t * scale with t uniform in {-1, 0, 1} (BitNet b1.58 weights). */
static void fill_ternary(uint64_t *state, float *dst, uint64_t n, float scale) {
    for (uint64_t i = 0; i < n; i++)
        dst[i] = (float)((int)((xorshift64s(state) >> 32) % 3) - 1) * scale;
}

/* -------------------------------------------------------------- tensors */

typedef struct synth_tensor {
    char name[48];
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[2];
    bool is_norm;
    bool ternary; /* values t * s, t in {-1, 0, 1} */
} synth_tensor;

static bool is_bitnet(const rz_synth_params *p) { return p->arch && strncmp(p->arch, "bitnet", 6) == 0; }

/* All tensors in llama.cpp's file order; returns the count. `out` may be NULL. */
static size_t list_tensors(const rz_synth_params *p, synth_tensor *out) {
    const uint64_t E = (uint64_t)p->n_embd, F = (uint64_t)p->n_ff, V = (uint64_t)p->n_vocab;
    const uint64_t kv = (uint64_t)p->n_head_kv * (E / (uint64_t)p->n_head);
    size_t n = 0;
#define ADD(type_, is_norm_, ne0_, ne1_, ...)                                                                \
    do {                                                                                                     \
        if (out) {                                                                                           \
            synth_tensor *t = &out[n];                                                                       \
            snprintf(t->name, sizeof t->name, __VA_ARGS__);                                                  \
            t->type = (type_);                                                                               \
            t->is_norm = (is_norm_);                                                                         \
            t->n_dims = (is_norm_) ? 1 : 2;                                                                  \
            t->ne[0] = (ne0_);                                                                               \
            t->ne[1] = (ne1_);                                                                               \
            /* I2_S rows hold nothing but ternary codes, whatever the arch */                                \
            t->ternary = (is_bitnet(p) || (type_) == RZ_TYPE_I2_S) && !(is_norm_) &&                         \
                         strcmp(t->name, "token_embd.weight") != 0 && strcmp(t->name, "output.weight") != 0; \
        }                                                                                                    \
        n++;                                                                                                 \
    } while (0)
    ADD(p->tied_output ? p->output_type : p->type, false, E, V, "token_embd.weight");
    for (int32_t l = 0; l < p->n_layer; l++) {
        ADD(RZ_TYPE_F32, true, E, 1, "blk.%d.attn_norm.weight", l);
        ADD(p->type, false, E, E, "blk.%d.attn_q.weight", l);
        ADD(p->type, false, E, kv, "blk.%d.attn_k.weight", l);
        ADD(p->type, false, E, kv, "blk.%d.attn_v.weight", l);
        ADD(p->type, false, E, E, "blk.%d.attn_output.weight", l);
        if (is_bitnet(p)) ADD(RZ_TYPE_F32, true, E, 1, "blk.%d.attn_sub_norm.weight", l);
        ADD(RZ_TYPE_F32, true, E, 1, "blk.%d.ffn_norm.weight", l);
        ADD(p->type, false, E, F, "blk.%d.ffn_gate.weight", l);
        ADD(p->type, false, E, F, "blk.%d.ffn_up.weight", l);
        ADD(p->type, false, F, E, "blk.%d.ffn_down.weight", l);
        if (is_bitnet(p)) ADD(RZ_TYPE_F32, true, F, 1, "blk.%d.ffn_sub_norm.weight", l);
    }
    ADD(RZ_TYPE_F32, true, E, 1, "output_norm.weight");
    if (!p->tied_output) ADD(p->output_type, false, E, V, "output.weight");
#undef ADD
    return n;
}

static rz_status check_type(rz_type type, const char *what, const rz_synth_params *p) {
    uint32_t ft;
    if (!rz_type_file_type(type, &ft))
        return rz_error(
            RZ_ERR_UNSUPPORTED,
            "synth: %s type %s is not supported (f32, f16, bf16, q8_0, q4_0, q6_K, tq1_0, tq2_0, i2_s)", what,
            rz_type_name(type) ? rz_type_name(type) : "(unknown)");
    const uint32_t block = rz_type_block_size(type);
    if (p->n_embd % (int32_t)block != 0 || p->n_ff % (int32_t)block != 0)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "synth: n_embd %d and n_ff %d must be multiples of the %s block size %u", p->n_embd,
                        p->n_ff, rz_type_name(type), block);
    return RZ_OK;
}

static rz_status check_params(const rz_synth_params *p) {
    if (p->n_embd <= 0 || p->n_layer <= 0 || p->n_ff <= 0 || p->n_head <= 0 || p->n_head_kv <= 0 ||
        p->n_ctx <= 0)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "synth: dimensions must be positive (embd %d, layers %d, ffn %d, heads "
                        "%d/%d, context %d)",
                        p->n_embd, p->n_layer, p->n_ff, p->n_head, p->n_head_kv, p->n_ctx);
    if (p->n_embd % p->n_head != 0 || p->n_head % p->n_head_kv != 0 || (p->n_embd / p->n_head) % 2 != 0)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "synth: %d heads (%d KV heads) must divide n_embd %d into even head "
                        "sizes",
                        p->n_head, p->n_head_kv, p->n_embd);
    if (p->n_vocab < N_SPECIAL + N_BYTE_TOKENS)
        return rz_error(RZ_ERR_INVALID_ARG, "synth: n_vocab %d is below the %d special and byte tokens",
                        p->n_vocab, N_SPECIAL + N_BYTE_TOKENS);
    if (!(p->rope_freq_base > 0.0f) || !(p->rms_eps > 0.0f))
        return rz_error(RZ_ERR_INVALID_ARG, "synth: RoPE base and RMS epsilon must be positive");
    if (p->arch && strcmp(p->arch, "llama") != 0 && !is_bitnet(p))
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "synth: architecture '%s' is not supported (llama, bitnet, "
                        "bitnet-b1.58)",
                        p->arch);
    RZ_TRY(check_type(p->type, "weight", p));
    RZ_TRY(check_type(p->output_type, "output", p));
    if (rz_type_traits_get(p->output_type)->trailer_bytes)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "synth: %s cannot be the output type (its rows do not decode alone)",
                        rz_type_name(p->output_type));
    return RZ_OK;
}

/* ----------------------------------------------------------- vocabulary */

typedef struct synth_vocab {
    rz_str *pieces;
    char *text;
    float *scores;
    int32_t *types;
} synth_vocab;

static void vocab_free(synth_vocab *v) {
    free(v->pieces);
    free(v->text);
    free(v->scores);
    free(v->types);
}

enum { MAX_PIECE = 24 };

static rz_status vocab_build(int32_t n_vocab, synth_vocab *v) {
    const size_t n = (size_t)n_vocab;
    v->pieces = malloc(n * sizeof *v->pieces);
    v->text = malloc(n * MAX_PIECE);
    v->scores = malloc(n * sizeof *v->scores);
    v->types = malloc(n * sizeof *v->types);
    if (!v->pieces || !v->text || !v->scores || !v->types)
        return rz_error(RZ_ERR_NOMEM, "synth: out of memory for a %d-token vocabulary", n_vocab);
    static const char *const special[N_SPECIAL] = {"<unk>", "<s>", "</s>"};
    static const int32_t special_type[N_SPECIAL] = {TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL};
    for (size_t i = 0; i < n; i++) {
        char *t = v->text + i * MAX_PIECE;
        int len;
        if (i < N_SPECIAL) {
            len = snprintf(t, MAX_PIECE, "%s", special[i]);
            v->types[i] = special_type[i];
            v->scores[i] = 0.0f;
        } else if (i < N_SPECIAL + N_BYTE_TOKENS) {
            len = snprintf(t, MAX_PIECE, "<0x%02X>", (unsigned)(i - N_SPECIAL));
            v->types[i] = TOKEN_BYTE;
            v->scores[i] = 0.0f;
        } else {
            /* "\u2581" is SentencePiece's word-start marker. */
            len = snprintf(t, MAX_PIECE, "\xE2\x96\x81tok%zu", i);
            v->types[i] = TOKEN_NORMAL;
            v->scores[i] = -(float)(i - (N_SPECIAL + N_BYTE_TOKENS));
        }
        v->pieces[i] = (rz_str){t, (uint64_t)len};
    }
    return RZ_OK;
}

/* ------------------------------------------------------------- writing */

static rz_status add_metadata(rz_gguf_writer *w, const rz_synth_params *p, const synth_vocab *v) {
    uint32_t file_type = 0;
    rz_type_file_type(p->type, &file_type); /* checked by check_params */
    const char *arch = p->arch ? p->arch : "llama";
    char key[96];
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    RZ_TRY(rz_gguf_writer_add_str(w, "general.architecture", arch));
    RZ_TRY(rz_gguf_writer_add_str(w, "general.name", p->name ? p->name : "synthetic"));
    RZ_TRY(rz_gguf_writer_add_u32(w, "general.file_type", file_type));
    RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY("vocab_size"), (uint32_t)p->n_vocab));
    RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY("context_length"), (uint32_t)p->n_ctx));
    RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY("embedding_length"), (uint32_t)p->n_embd));
    RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY("block_count"), (uint32_t)p->n_layer));
    RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)p->n_ff));
    RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)p->n_head));
    RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)p->n_head_kv));
    RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)(p->n_embd / p->n_head)));
    RZ_TRY(rz_gguf_writer_add_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), p->rms_eps));
    RZ_TRY(rz_gguf_writer_add_f32(w, ARCH_KEY("rope.freq_base"), p->rope_freq_base));
#undef ARCH_KEY
    const uint64_t n = (uint64_t)p->n_vocab;
    RZ_TRY(rz_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama"));
    RZ_TRY(rz_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", v->pieces, n));
    RZ_TRY(rz_gguf_writer_add_array(w, "tokenizer.ggml.scores", RZ_GGUF_FLOAT32, v->scores, n));
    RZ_TRY(rz_gguf_writer_add_array(w, "tokenizer.ggml.token_type", RZ_GGUF_INT32, v->types, n));
    RZ_TRY(rz_gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1));
    RZ_TRY(rz_gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2));
    RZ_TRY(rz_gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0));
    RZ_TRY(rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true));
    return rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false);
}

typedef struct progress {
    rz_progress_fn fn;
    void *user;
    uint64_t done, total;
} progress;

static rz_status write_tensor(rz_gguf_writer *w, const synth_tensor *t, uint64_t seed, float *values,
                              void *quantized, progress *pr) {
    uint64_t state = splitmix64(&seed);
    if (state == 0) state = 1; /* xorshift's one fixed point */
    const uint64_t n = t->ne[0] * t->ne[1];
    /* Ternary scale: uniform in [0.01, 0.04), exact in fp16 so that every
     * ternary type stores the same values. */
    const float scale =
        rz_fp16_to_f32(rz_f32_to_fp16(0.01f + 0.03f * (float)(xorshift64s(&state) >> 40) / 16777216.0f));
    const rz_type_traits *tt = rz_type_traits_get(t->type);
    for (uint64_t done = 0; done < n; done += CHUNK_FLOATS) {
        const uint64_t count = n - done < CHUNK_FLOATS ? n - done : CHUNK_FLOATS;
        if (t->ternary)
            fill_ternary(&state, values, count, scale);
        else
            fill_normal(&state, values, count, t->is_norm ? 1.0f : 0.0f, t->is_norm ? NORM_STD : MATRIX_STD);
        uint64_t bytes;
        RZ_TRY(rz_type_tensor_bytes(t->type, count, &bytes));
        bytes -= tt->trailer_bytes; /* written once, after the last chunk */
        const void *data = values;
        if (tt->trailer_bytes) { /* I2_S: the chunk's codes (ternary input: exact) */
            RZ_TRY(tt->quantize_tensor(values, quantized, 1, (int64_t)count));
            data = quantized;
        } else if (t->type != RZ_TYPE_F32) {
            RZ_TRY(rz_quantize(t->type, values, quantized, count));
            data = quantized;
        }
        RZ_TRY(rz_gguf_writer_write(w, data, bytes));
        pr->done += bytes;
        if (pr->fn) pr->fn(pr->user, pr->done, pr->total);
    }
    if (tt->trailer_bytes) { /* I2_S: the per-tensor scale, then padding */
        uint8_t trailer[32] = {0};
        memcpy(trailer, &scale, sizeof scale);
        RZ_TRY(rz_gguf_writer_write(w, trailer, tt->trailer_bytes));
        pr->done += tt->trailer_bytes;
    }
    return RZ_OK;
}

static rz_status write_model(rz_gguf_writer *w, const rz_synth_params *p, const synth_tensor *tensors,
                             size_t n, const synth_vocab *v, float *values, void *quantized, progress *pr) {
    RZ_TRY(add_metadata(w, p, v));
    for (size_t i = 0; i < n; i++)
        RZ_TRY(
            rz_gguf_writer_add_tensor(w, tensors[i].name, tensors[i].type, tensors[i].n_dims, tensors[i].ne));
    RZ_TRY(rz_gguf_writer_begin_data(w));
    if (pr->fn) pr->fn(pr->user, 0, pr->total);
    for (size_t i = 0; i < n; i++) {
        /* One stream per tensor: a tensor's values do not depend on the others. */
        const uint64_t seed = p->seed ^ ((uint64_t)(i + 1) * 0xD1B54A32D192ED03ull);
        RZ_TRY(write_tensor(w, &tensors[i], seed, values, quantized, pr));
    }
    return RZ_OK;
}

rz_status rz_synth_write(const rz_synth_params *p, const char *path, rz_progress_fn progress_fn,
                         void *progress_user) {
    if (!p || !path) return rz_error(RZ_ERR_INVALID_ARG, "synth: NULL argument");
    RZ_TRY(check_params(p));
    const size_t n = list_tensors(p, NULL);
    synth_tensor *tensors = calloc(n, sizeof *tensors);
    synth_vocab vocab = {0};
    float *values = rz_alloc_aligned(CHUNK_FLOATS * sizeof(float));
    void *quantized = rz_alloc_aligned(CHUNK_FLOATS * sizeof(float));
    rz_status s = RZ_OK;
    if (!tensors || !values || !quantized) s = rz_error(RZ_ERR_NOMEM, "synth: out of memory");
    progress pr = {progress_fn, progress_user, 0, 0};
    if (s == RZ_OK) {
        list_tensors(p, tensors);
        for (size_t i = 0; i < n && s == RZ_OK; i++) {
            uint64_t bytes;
            s = rz_type_tensor_bytes(tensors[i].type, tensors[i].ne[0] * tensors[i].ne[1], &bytes);
            pr.total += bytes;
        }
    }
    if (s == RZ_OK) s = vocab_build(p->n_vocab, &vocab);
    rz_gguf_writer *w = NULL;
    if (s == RZ_OK) s = rz_gguf_writer_open(path, &w);
    if (s == RZ_OK) {
        s = write_model(w, p, tensors, n, &vocab, values, quantized, &pr);
        if (s == RZ_OK)
            s = rz_gguf_writer_close(w);
        else
            rz_gguf_writer_abort(w);
    }
    rz_free_aligned(quantized);
    rz_free_aligned(values);
    vocab_free(&vocab);
    free(tensors);
    return s;
}
