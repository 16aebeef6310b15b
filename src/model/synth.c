/* Synthetic models: seeded random weights under the tensor names, shapes
 * and keys llama.cpp reads for each architecture, and a placeholder SPM
 * vocabulary, written straight to GGUF one chunk at a time so a multi-GB
 * model never sits in memory. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mem.h"
#include "model/arch.h"
#include "tensor/fp16.h"
#include "tensor/type_traits.h"

/* Floats generated (and quantized) per write: a multiple of every block size. */
enum { CHUNK_FLOATS = 1 << 20 };

/* GGUF token types (llama.cpp's llama_token_type). */
enum { TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3, TOKEN_BYTE = 6 };
enum { N_SPECIAL = 3, N_BYTE_TOKENS = 256 };

#define MATRIX_STD 0.02f
#define NORM_STD   0.01f

/* The layer tensors of each architecture written (RZ_T_* groups, as
 * llama.cpp names and shapes them); of RZ_T_FFN and RZ_T_MOE a layer has
 * the MoE one when n_expert > 0. */
typedef struct synth_arch {
    const char *name;
    uint32_t tensors;
    const char *ffn_norm; /* the norm before the FFN; NULL = "ffn_norm" */
} synth_arch;

enum { BASE = RZ_T_ATTN_NORM | RZ_T_ATTN_OUT | RZ_T_FFN_NORM };

static const synth_arch archs[] = {
    {"llama", BASE | RZ_T_ATTN_Q | RZ_T_FFN | RZ_T_MOE, NULL},
    {"bitnet", BASE | RZ_T_ATTN_Q | RZ_T_SUB_NORMS | RZ_T_FFN, NULL},
    {"bitnet-b1.58", BASE | RZ_T_ATTN_Q | RZ_T_SUB_NORMS | RZ_T_FFN, NULL},
    {"qwen2", BASE | RZ_T_ATTN_Q | RZ_T_ATTN_QKV_BIAS | RZ_T_FFN, NULL},
    {"qwen3", BASE | RZ_T_ATTN_Q | RZ_T_ATTN_QK_NORM | RZ_T_FFN, NULL},
    {"qwen3moe", BASE | RZ_T_ATTN_Q | RZ_T_ATTN_QK_NORM | RZ_T_MOE, NULL},
    {"phi3", BASE | RZ_T_ATTN_QKV | RZ_T_FFN_GATE_UP, NULL},
    {"gemma3", BASE | RZ_T_ATTN_Q | RZ_T_ATTN_QK_NORM | RZ_T_ATTN_POST_NORM | RZ_T_FFN | RZ_T_FFN_POST_NORM,
     NULL},
    {"olmoe", BASE | RZ_T_ATTN_Q | RZ_T_ATTN_QK_NORM_FULL | RZ_T_MOE, NULL},
    {"gpt-oss",
     BASE | RZ_T_ATTN_Q | RZ_T_ATTN_QKV_BIAS | RZ_T_ATTN_OUT_BIAS | RZ_T_ATTN_SINKS | RZ_T_MOE |
         RZ_T_MOE_BIAS,
     "post_attention_norm"},
};

static const synth_arch *find_arch(const char *name) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].name, name ? name : "llama") == 0) return &archs[i];
    return NULL;
}

typedef struct preset {
    const char *name;
    rz_synth_params p;
} preset;

/* Real models' shapes from their configurations. Contexts above 8192 are
 * stored as 8192, which keeps default KV caches small. */
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
    /* Trained to 131072 tokens; RoPE frequencies divided by Llama 3's
     * factors (rope_freqs.weight) as llama.cpp's converter writes them. */
    {"llama3.2-1b",
     {.n_embd = 2048,
      .n_layer = 16,
      .n_ff = 8192,
      .n_head = 32,
      .n_head_kv = 8,
      .n_vocab = 128256,
      .n_ctx = 8192,
      .tied_output = true,
      .rope_freq_base = 500000.0f,
      .rope_scaling = "llama3",
      .rope_scaling_factor = 32.0f,
      .rope_orig_ctx = 8192}},
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
    /* Qwen/Qwen2.5-0.5B (context 32768). */
    {"qwen2.5-0.5b",
     {.arch = "qwen2",
      .n_embd = 896,
      .n_layer = 24,
      .n_ff = 4864,
      .n_head = 14,
      .n_head_kv = 2,
      .n_vocab = 151936,
      .n_ctx = 8192,
      .tied_output = true,
      .rope_freq_base = 1e6f,
      .rms_eps = 1e-6f}},
    /* Qwen/Qwen3-1.7B (context 40960). */
    {"qwen3-1.7b",
     {.arch = "qwen3",
      .n_embd = 2048,
      .n_layer = 28,
      .n_ff = 6144,
      .n_head = 16,
      .n_head_kv = 8,
      .head_dim = 128,
      .n_vocab = 151936,
      .n_ctx = 8192,
      .tied_output = true,
      .rope_freq_base = 1e6f,
      .rms_eps = 1e-6f}},
    /* google/gemma-3-1b (context 32768): five local layers (window 512,
     * RoPE base 10000) to one global (base 1e6). */
    {"gemma3-1b",
     {.arch = "gemma3",
      .n_embd = 1152,
      .n_layer = 26,
      .n_ff = 6912,
      .n_head = 4,
      .n_head_kv = 1,
      .head_dim = 256,
      .n_vocab = 262144,
      .n_ctx = 8192,
      .n_swa = 512,
      .swa_pattern = 6,
      .rope_freq_base_swa = 10000.0f,
      .tied_output = true,
      .rope_freq_base = 1e6f,
      .rms_eps = 1e-6f}},
    /* microsoft/Phi-3-mini-4k-instruct. */
    {"phi3-mini",
     {.arch = "phi3",
      .n_embd = 3072,
      .n_layer = 32,
      .n_ff = 8192,
      .n_head = 32,
      .n_head_kv = 32,
      .n_vocab = 32064,
      .n_ctx = 4096,
      .rope_freq_base = 10000.0f}},
    /* Qwen/Qwen3-30B-A3B (context 40960). */
    {"qwen3-30b-a3b",
     {.arch = "qwen3moe",
      .n_embd = 2048,
      .n_layer = 48,
      .n_ff = 6144,
      .n_head = 32,
      .n_head_kv = 4,
      .head_dim = 128,
      .n_expert = 128,
      .n_expert_used = 8,
      .n_ff_exp = 768,
      .n_vocab = 151936,
      .n_ctx = 8192,
      .rope_freq_base = 1e6f,
      .rms_eps = 1e-6f}},
    /* allenai/OLMoE-1B-7B-0924: experts feed_forward_length wide. */
    {"olmoe-1b-7b",
     {.arch = "olmoe",
      .n_embd = 2048,
      .n_layer = 16,
      .n_ff = 1024,
      .n_head = 16,
      .n_head_kv = 16,
      .n_expert = 64,
      .n_expert_used = 8,
      .n_vocab = 50304,
      .n_ctx = 4096,
      .rope_freq_base = 10000.0f}},
    /* Recurrent models: nothing is sized by the context, which is stored as
     * llama.cpp's converters write it. BlinkDL/rwkv7-g1 1.5B ("World"). */
    {"rwkv7-1.5b",
     {.arch = "rwkv7",
      .n_embd = 2048,
      .n_layer = 24,
      .n_ff = 8192,
      .wkv_head_size = 64,
      .lora_decay = 96,
      .lora_iclr = 96,
      .lora_mix = 64,
      .lora_gate = 256,
      .n_vocab = 65536,
      .n_ctx = 1 << 20}},
    /* state-spaces/mamba2-1.3b: 64 heads of 64, vocabulary padded to 16. */
    {"mamba2-1.3b",
     {.arch = "mamba2",
      .n_embd = 2048,
      .n_layer = 48,
      .ssm_conv = 4,
      .ssm_inner = 4096,
      .ssm_state = 128,
      .ssm_dt_rank = 64,
      .ssm_groups = 1,
      .n_vocab = 50288,
      .n_ctx = 1 << 20,
      .tied_output = true}},
    /* Small recurrent models of each architecture, for tests. */
    {"tiny-rwkv6",
     {.arch = "rwkv6",
      .n_embd = 128,
      .n_layer = 2,
      .n_ff = 448,
      .wkv_head_size = 64,
      .lora_mix = 32,
      .lora_decay = 64,
      .n_vocab = 512,
      .n_ctx = 1 << 20}},
    {"tiny-rwkv7",
     {.arch = "rwkv7",
      .n_embd = 128,
      .n_layer = 2,
      .n_ff = 512,
      .wkv_head_size = 64,
      .lora_decay = 32,
      .lora_iclr = 32,
      .lora_mix = 32,
      .lora_gate = 64,
      .n_vocab = 512,
      .n_ctx = 1 << 20}},
    {"tiny-mamba",
     {.arch = "mamba",
      .n_embd = 128,
      .n_layer = 2,
      .ssm_conv = 4,
      .ssm_inner = 256,
      .ssm_state = 16,
      .ssm_dt_rank = 32,
      .n_vocab = 512,
      .n_ctx = 1 << 20,
      .tied_output = true}},
    {"tiny-mamba2",
     {.arch = "mamba2",
      .n_embd = 128,
      .n_layer = 2,
      .ssm_conv = 4,
      .ssm_inner = 256,
      .ssm_state = 16,
      .ssm_dt_rank = 4,
      .ssm_groups = 1,
      .n_vocab = 512,
      .n_ctx = 1 << 20,
      .tied_output = true}},
    /* openai/gpt-oss-20b (context 131072 by YaRN): a window of 128 on the
     * even layers, MXFP4 experts. */
    {"gpt-oss-20b",
     {.arch = "gpt-oss",
      .n_embd = 2880,
      .n_layer = 24,
      .n_ff = 2880,
      .n_head = 64,
      .n_head_kv = 8,
      .head_dim = 64,
      .n_expert = 32,
      .n_expert_used = 4,
      .n_ff_exp = 2880,
      .n_vocab = 201088,
      .n_ctx = 8192,
      .n_swa = 128,
      .rope_scaling = "yarn",
      .rope_scaling_factor = 32.0f,
      .rope_orig_ctx = 4096,
      .rope_freq_base = 150000.0f,
      .expert_type = RZ_TYPE_MXFP4}},
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
        if (out->rms_eps == 0.0f) out->rms_eps = 1e-5f;
        out->output_type = RZ_TYPE_F16;
        /* no preset is F32: unset types are F16, experts that of the rest */
        if (out->type == RZ_TYPE_F32) out->type = RZ_TYPE_F16;
        if (out->expert_type == RZ_TYPE_F32) out->expert_type = out->type;
        return RZ_OK;
    }
    char names[512];
    size_t k = 0;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0] && k < sizeof names; i++)
        k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", i ? ", " : "", presets[i].name);
    return rz_error(RZ_ERR_NOT_FOUND, "synth: no preset '%s' (%s)", name, names);
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

typedef enum tensor_kind {
    K_MATRIX,     /* ~ N(0, MATRIX_STD), or ternary */
    K_NORM,       /* ~ N(1, NORM_STD) */
    K_BIAS,       /* ~ N(0, MATRIX_STD): biases, attention sinks */
    K_ROPE_FREQS, /* Llama 3's frequency factors */
    /* ~ N(-4, 1), always negative: Mamba's A (-exp(A_log)) and dt bias
     * (softplus(dt + bias) ~ 0.02, as Mamba's init), so that the scan decays */
    K_SSM_NEG,
} tensor_kind;

typedef struct synth_tensor {
    char name[48];
    tensor_kind kind;
    rz_type type, asked; /* asked: the type requested, before rz_type_for_row */
    uint32_t n_dims;
    uint64_t ne[4];
    bool ternary; /* values t * s, t in {-1, 0, 1} */
} synth_tensor;

static bool is_bitnet(const rz_synth_params *p) { return p->arch && strncmp(p->arch, "bitnet", 6) == 0; }

static int64_t head_dim(const rz_synth_params *p) {
    return p->head_dim ? p->head_dim : p->n_embd / p->n_head;
}

typedef struct tensor_list {
    const rz_synth_params *p;
    synth_tensor *out; /* NULL: count only */
    size_t n;
} tensor_list;

/* Appends a tensor of shape ne (trailing 1s dropped); vectors are F32. */
static void add_dims(tensor_list *list, tensor_kind kind, rz_type type, const uint64_t ne[4],
                     const char *name) {
    if (list->out) {
        synth_tensor *t = &list->out[list->n];
        snprintf(t->name, sizeof t->name, "%s", name);
        t->kind = kind;
        t->asked = kind == K_MATRIX ? type : RZ_TYPE_F32;
        t->type = rz_type_for_row(t->asked, ne[0]);
        t->n_dims = 1;
        for (uint32_t k = 0; k < 4; k++) {
            t->ne[k] = ne[k];
            if (ne[k] > 1) t->n_dims = k + 1;
        }
        /* I2_S rows hold nothing but ternary codes, whatever the arch */
        t->ternary = (is_bitnet(list->p) || type == RZ_TYPE_I2_S) && kind == K_MATRIX &&
                     strcmp(t->name, "token_embd.weight") != 0 && strcmp(t->name, "output.weight") != 0;
    }
    list->n++;
}

/* add_dims of {ne0, ne1, ne2} under a formatted name. */
static void add(tensor_list *list, tensor_kind kind, rz_type type, uint64_t ne0, uint64_t ne1, uint64_t ne2,
                const char *fmt, ...) {
    char name[sizeof list->out->name];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    add_dims(list, kind, type, (const uint64_t[4]){ne0, ne1, ne2, 1}, name);
}

/* The recurrent architecture p->arch names, or NULL for a transformer. */
static const rz_arch *rec_arch(const rz_synth_params *p) {
    const rz_arch *a = p->arch ? rz_arch_find(p->arch) : NULL;
    return a && a->rec_tensors ? a : NULL;
}

/* A model of p's recurrent sizes, as the loader derives them: what
 * rz_rec_dim_size reads. */
static rz_model rec_model(const rz_synth_params *p) {
    rz_model m = {.desc = {.n_embd = p->n_embd, .n_ff = p->n_ff}};
    m.rec = (rz_rec_hparams){.head_size = p->wkv_head_size,
                             .mix_extra = p->lora_mix,
                             .decay_extra = p->lora_decay,
                             .lora_decay = p->lora_decay,
                             .lora_iclr = p->lora_iclr,
                             .lora_mix = p->lora_mix,
                             .lora_gate = p->lora_gate,
                             .d_conv = p->ssm_conv,
                             .d_inner = p->ssm_inner,
                             .d_state = p->ssm_state,
                             .dt_rank = p->ssm_dt_rank,
                             .n_group = p->ssm_groups};
    return m;
}

/* A low-rank factor (RWKV's LoRAs): llama.cpp's quantize leaves them in
 * the file's float type. */
static bool is_lora(const rz_rec_tensor *spec) {
    for (int k = 0; k < 2; k++)
        switch ((rz_rec_dim)spec->ne[k]) {
        case RZ_RD_MIX:
        case RZ_RD_MIX5:
        case RZ_RD_DECAY:
        case RZ_RD_LORA_DECAY:
        case RZ_RD_LORA_ICLR:
        case RZ_RD_LORA_VALUE:
        case RZ_RD_LORA_GATE: return true;
        default: break;
        }
    return false;
}

/* Values of a recurrent layer's vector (its name after "blk.N."): norm
 * weights ~ 1, as Mamba's D; A and dt bias negative; the rest (biases,
 * token-shift mixes, RWKV's decay and bonus vectors, conv) ~ N(0, 0.02),
 * which keeps every exp and sigmoid of them in range. */
static tensor_kind rec_vector_kind(const char *name) {
    if (strcmp(name, "ssm_a") == 0 || strcmp(name, "ssm_dt.bias") == 0) return K_SSM_NEG;
    if (strcmp(name, "ssm_d") == 0) return K_NORM;
    const bool weight = strlen(name) > 7 && strcmp(name + strlen(name) - 7, ".weight") == 0;
    return weight && (strstr(name, "norm") || strstr(name, "_ln.")) ? K_NORM : K_BIAS;
}

/* A recurrent model's tensors: the layers' from the architecture's table
 * (rz_rec_tensor), as the loader binds them. */
static size_t list_rec_tensors(const rz_synth_params *p, const rz_arch *a, synth_tensor *out) {
    const rz_model m = rec_model(p);
    const uint64_t E = (uint64_t)p->n_embd, V = (uint64_t)p->n_vocab;
    const rz_type T = p->type;
    const bool float_file = T == RZ_TYPE_F32 || T == RZ_TYPE_F16 || T == RZ_TYPE_BF16;
    tensor_list list = {p, out, 0};
    tensor_list *l = &list;
    add(l, K_MATRIX, p->tied_output ? p->output_type : T, E, V, 1, "token_embd.weight");
    if (a->inputs & RZ_I_EMBD_NORM) {
        add(l, K_NORM, 0, E, 1, 1, "token_embd_norm.weight");
        add(l, K_BIAS, 0, E, 1, 1, "token_embd_norm.bias");
    }
    for (int32_t i = 0; i < p->n_layer; i++)
        for (int k = 0; k < a->n_rec_tensors; k++) {
            const rz_rec_tensor *spec = &a->rec_tensors[k];
            uint64_t ne[4];
            for (int d = 0; d < 4; d++)
                ne[d] = (uint64_t)rz_rec_dim_size(&m, (rz_rec_dim)spec->ne[d], i);
            char name[sizeof out->name];
            snprintf(name, sizeof name, "blk.%d.%s", i, spec->name);
            if (spec->matrix)
                add_dims(l, K_MATRIX, is_lora(spec) && !float_file ? RZ_TYPE_F16 : T, ne, name);
            else
                add_dims(l, rec_vector_kind(spec->name), 0, ne, name);
        }
    add(l, K_NORM, 0, E, 1, 1, "output_norm.weight");
    if (a->inputs & RZ_I_OUTPUT_LN) add(l, K_BIAS, 0, E, 1, 1, "output_norm.bias");
    if (!p->tied_output) add(l, K_MATRIX, p->output_type, E, V, 1, "output.weight");
    return list.n;
}

/* All tensors in llama.cpp's file order; returns the count. `out` may be NULL. */
static size_t list_tensors(const rz_synth_params *p, synth_tensor *out) {
    if (rec_arch(p)) return list_rec_tensors(p, rec_arch(p), out);
    const synth_arch *a = find_arch(p->arch);
    const uint32_t has = a->tensors;
    const uint64_t E = (uint64_t)p->n_embd, F = (uint64_t)p->n_ff, V = (uint64_t)p->n_vocab;
    const uint64_t hd = (uint64_t)head_dim(p), Q = (uint64_t)p->n_head * hd, KV = (uint64_t)p->n_head_kv * hd;
    const uint64_t X = (uint64_t)p->n_expert, FX = p->n_ff_exp ? (uint64_t)p->n_ff_exp : F;
    const bool moe = p->n_expert > 0;
    const rz_type T = p->type, TX = p->expert_type;
    tensor_list list = {p, out, 0};
    tensor_list *l = &list;
    add(l, K_MATRIX, p->tied_output ? p->output_type : T, E, V, 1, "token_embd.weight");
    if (p->rope_scaling && strcmp(p->rope_scaling, "llama3") == 0)
        add(l, K_ROPE_FREQS, RZ_TYPE_F32, hd / 2, 1, 1, "rope_freqs.weight");
    for (int32_t i = 0; i < p->n_layer; i++) {
        add(l, K_NORM, 0, E, 1, 1, "blk.%d.attn_norm.weight", i);
        if (has & RZ_T_ATTN_QKV) add(l, K_MATRIX, T, E, Q + 2 * KV, 1, "blk.%d.attn_qkv.weight", i);
        const char *qkv[] = {"q", "k", "v"};
        for (int k = 0; k < 3 && (has & RZ_T_ATTN_Q); k++) {
            add(l, K_MATRIX, T, E, k ? KV : Q, 1, "blk.%d.attn_%s.weight", i, qkv[k]);
            if (has & RZ_T_ATTN_QKV_BIAS)
                add(l, K_BIAS, 0, k ? KV : Q, 1, 1, "blk.%d.attn_%s.bias", i, qkv[k]);
        }
        if (has & (RZ_T_ATTN_QK_NORM | RZ_T_ATTN_QK_NORM_FULL)) {
            const bool full = has & RZ_T_ATTN_QK_NORM_FULL;
            add(l, K_NORM, 0, full ? Q : hd, 1, 1, "blk.%d.attn_q_norm.weight", i);
            add(l, K_NORM, 0, full ? KV : hd, 1, 1, "blk.%d.attn_k_norm.weight", i);
        }
        add(l, K_MATRIX, T, Q, E, 1, "blk.%d.attn_output.weight", i);
        if (has & RZ_T_ATTN_OUT_BIAS) add(l, K_BIAS, 0, E, 1, 1, "blk.%d.attn_output.bias", i);
        if (has & RZ_T_ATTN_SINKS)
            add(l, K_BIAS, 0, (uint64_t)p->n_head, 1, 1, "blk.%d.attn_sinks.weight", i);
        if (has & RZ_T_SUB_NORMS) add(l, K_NORM, 0, Q, 1, 1, "blk.%d.attn_sub_norm.weight", i);
        if (has & RZ_T_ATTN_POST_NORM) add(l, K_NORM, 0, E, 1, 1, "blk.%d.post_attention_norm.weight", i);
        add(l, K_NORM, 0, E, 1, 1, "blk.%d.%s.weight", i, a->ffn_norm ? a->ffn_norm : "ffn_norm");
        if (moe) {
            /* routers stay F32, as llama.cpp's quantize leaves them */
            add(l, K_MATRIX, RZ_TYPE_F32, E, X, 1, "blk.%d.ffn_gate_inp.weight", i);
            if (has & RZ_T_MOE_BIAS) add(l, K_BIAS, 0, X, 1, 1, "blk.%d.ffn_gate_inp.bias", i);
            const char *part[] = {"gate", "up", "down"};
            for (int k = 0; k < 3; k++) {
                add(l, K_MATRIX, TX, k == 2 ? FX : E, k == 2 ? E : FX, X, "blk.%d.ffn_%s_exps.weight", i,
                    part[k]);
                if (has & RZ_T_MOE_BIAS)
                    add(l, K_BIAS, 0, k == 2 ? E : FX, X, 1, "blk.%d.ffn_%s_exps.bias", i, part[k]);
            }
        } else if (has & RZ_T_FFN_GATE_UP) {
            add(l, K_MATRIX, T, E, 2 * F, 1, "blk.%d.ffn_up.weight", i);
            add(l, K_MATRIX, T, F, E, 1, "blk.%d.ffn_down.weight", i);
        } else {
            add(l, K_MATRIX, T, E, F, 1, "blk.%d.ffn_gate.weight", i);
            add(l, K_MATRIX, T, E, F, 1, "blk.%d.ffn_up.weight", i);
            add(l, K_MATRIX, T, F, E, 1, "blk.%d.ffn_down.weight", i);
        }
        if (has & RZ_T_SUB_NORMS) add(l, K_NORM, 0, F, 1, 1, "blk.%d.ffn_sub_norm.weight", i);
        if (has & RZ_T_FFN_POST_NORM) add(l, K_NORM, 0, E, 1, 1, "blk.%d.post_ffw_norm.weight", i);
    }
    add(l, K_NORM, 0, E, 1, 1, "output_norm.weight");
    if (!p->tied_output) add(l, K_MATRIX, p->output_type, E, V, 1, "output.weight");
    return list.n;
}

/* general.file_type of a model mostly of `type`: the K-quants' as the _M
 * mixes rz quantize writes (rz_type_file_type leaves them out, for
 * rz convert quantizes whole tensors, not rows). */
static bool file_type(rz_type type, uint32_t *out) {
    switch (type) {
    case RZ_TYPE_Q3_K: *out = 12; return true;
    case RZ_TYPE_Q4_K: *out = 15; return true;
    case RZ_TYPE_Q5_K: *out = 17; return true;
    default: return rz_type_file_type(type, out);
    }
}

static rz_status check_type(rz_type type, const char *what) {
    uint32_t ft;
    if (!file_type(type, &ft) || !rz_type_can_quantize(type))
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "synth: %s type %s is not supported (f32, f16, bf16, q8_0, q4_0, q5_0, q4_K, q5_K, "
                        "q6_K, mxfp4, tq1_0, tq2_0, i2_s)",
                        what, rz_type_name(type) ? rz_type_name(type) : "(unknown)");
    return RZ_OK;
}

/* Common checks and the types, for both kinds of model. */
static rz_status check_types(const rz_synth_params *p) {
    RZ_TRY(check_type(p->type, "weight"));
    if (p->n_expert > 0) RZ_TRY(check_type(p->expert_type, "expert"));
    RZ_TRY(check_type(p->output_type, "output"));
    if (rz_type_traits_get(p->output_type)->trailer_bytes)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "synth: %s cannot be the output type (its rows do not decode alone)",
                        rz_type_name(p->output_type));
    return RZ_OK;
}

/* A recurrent model: every dimension of its table's tensors positive,
 * RWKV heads and Mamba 2 heads and groups whole. */
static rz_status check_rec_params(const rz_synth_params *p, const rz_arch *a) {
    if (p->n_embd <= 0 || p->n_layer <= 0 || p->n_ff < 0 || p->n_ctx <= 0 ||
        p->n_vocab < N_SPECIAL + N_BYTE_TOKENS || !(p->rms_eps > 0.0f))
        return rz_error(RZ_ERR_INVALID_ARG,
                        "synth: embd %d, layers %d, context %d, epsilon and vocabulary %d (at least %d) must "
                        "be positive, ffn %d not negative",
                        p->n_embd, p->n_layer, p->n_ctx, p->n_vocab, N_SPECIAL + N_BYTE_TOKENS, p->n_ff);
    const rz_model m = rec_model(p);
    /* of layer 1: layer 0's value LoRA has the ICLR rank, checked anyway */
    for (int k = 0; k < a->n_rec_tensors; k++)
        for (int d = 0; d < 4; d++)
            if (rz_rec_dim_size(&m, (rz_rec_dim)a->rec_tensors[k].ne[d], 1) <= 0)
                return rz_error(RZ_ERR_INVALID_ARG,
                                "synth: %s of '%s' has a dimension of size 0 (dimension %d)",
                                a->rec_tensors[k].name, p->arch, d);
    if ((p->wkv_head_size && p->n_embd % p->wkv_head_size != 0) ||
        (p->ssm_groups && (p->ssm_inner % p->ssm_dt_rank != 0 || p->ssm_inner % p->ssm_groups != 0 ||
                           p->ssm_dt_rank % p->ssm_groups != 0)))
        return rz_error(RZ_ERR_INVALID_ARG,
                        "synth: head size %d of n_embd %d, or %d heads and %d groups of d_inner %d, are not "
                        "whole",
                        p->wkv_head_size, p->n_embd, p->ssm_dt_rank, p->ssm_groups, p->ssm_inner);
    return check_types(p);
}

static rz_status check_params(const rz_synth_params *p) {
    if (rec_arch(p)) return check_rec_params(p, rec_arch(p));
    if (p->n_embd <= 0 || p->n_layer <= 0 || p->n_ff <= 0 || p->n_head <= 0 || p->n_head_kv <= 0 ||
        p->n_ctx <= 0 || p->head_dim < 0)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "synth: dimensions must be positive (embd %d, layers %d, ffn %d, heads "
                        "%d/%d, head size %d, context %d)",
                        p->n_embd, p->n_layer, p->n_ff, p->n_head, p->n_head_kv, p->head_dim, p->n_ctx);
    if ((!p->head_dim && p->n_embd % p->n_head != 0) || p->n_head % p->n_head_kv != 0 || head_dim(p) % 2 != 0)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "synth: %d heads (%d KV heads) of n_embd %d (head size %d) must be whole and even",
                        p->n_head, p->n_head_kv, p->n_embd, p->head_dim);
    if (p->n_vocab < N_SPECIAL + N_BYTE_TOKENS)
        return rz_error(RZ_ERR_INVALID_ARG, "synth: n_vocab %d is below the %d special and byte tokens",
                        p->n_vocab, N_SPECIAL + N_BYTE_TOKENS);
    if (!(p->rope_freq_base > 0.0f) || !(p->rms_eps > 0.0f) || p->rope_freq_base_swa < 0.0f)
        return rz_error(RZ_ERR_INVALID_ARG, "synth: RoPE bases and RMS epsilon must be positive");
    const synth_arch *a = find_arch(p->arch);
    if (!a)
        return rz_error(
            RZ_ERR_UNSUPPORTED,
            "synth: architecture '%s' is not supported (llama, bitnet, bitnet-b1.58, qwen2, qwen3, "
            "qwen3moe, phi3, gemma3, olmoe, gpt-oss, rwkv6, rwkv7, mamba, mamba2)",
            p->arch);
    if (p->n_expert < 0 || (p->n_expert > 0 && !(a->tensors & RZ_T_MOE)) ||
        (p->n_expert == 0 && !(a->tensors & (RZ_T_FFN | RZ_T_FFN_GATE_UP))) ||
        (p->n_expert > 0 && (p->n_expert_used <= 0 || p->n_expert_used > p->n_expert)) || p->n_ff_exp < 0)
        return rz_error(RZ_ERR_INVALID_ARG, "synth: %d experts (%d used, width %d) do not suit '%s'",
                        p->n_expert, p->n_expert_used, p->n_ff_exp, a->name);
    if (p->n_swa < 0 || p->swa_pattern < 0)
        return rz_error(RZ_ERR_INVALID_ARG, "synth: sliding window %d and pattern %d must not be negative",
                        p->n_swa, p->swa_pattern);
    if (p->rope_scaling &&
        ((strcmp(p->rope_scaling, "llama3") != 0 && strcmp(p->rope_scaling, "yarn") != 0) ||
         !(p->rope_scaling_factor > 0.0f) || p->rope_orig_ctx <= 0))
        return rz_error(RZ_ERR_INVALID_ARG,
                        "synth: RoPE scaling '%s' (llama3 or yarn) needs a positive factor and original "
                        "context",
                        p->rope_scaling);
    return check_types(p);
}

/* Rows a type's blocks cannot tile take llama.cpp's replacement; a type
 * without one (F16 in its place) is refused. */
static rz_status check_rows(const synth_tensor *tensors, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const synth_tensor *t = &tensors[i];
        if (t->type != t->asked && t->type == RZ_TYPE_F16)
            return rz_error(
                RZ_ERR_INVALID_ARG, "synth: %s rows of %llu are not a whole number of %s blocks (%u)",
                t->name, (unsigned long long)t->ne[0], rz_type_name(t->asked), rz_type_block_size(t->asked));
    }
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

/* "<arch>.<suffix>" keys, into the caller's `key`, `arch` and writer `w`. */
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
#define U32(suffix, v)   RZ_TRY(rz_gguf_writer_add_u32(w, ARCH_KEY(suffix), (uint32_t)(v)))
#define F32(suffix, v)   RZ_TRY(rz_gguf_writer_add_f32(w, ARCH_KEY(suffix), (v)))

/* A transformer's attention, RoPE and expert keys. */
static rz_status add_attention_keys(rz_gguf_writer *w, const rz_synth_params *p, const char *arch) {
    char key[96];
    U32("attention.head_count", p->n_head);
    U32("attention.head_count_kv", p->n_head_kv);
    if (p->head_dim) {
        U32("attention.key_length", p->head_dim);
        U32("attention.value_length", p->head_dim);
    }
    U32("rope.dimension_count", head_dim(p));
    F32("attention.layer_norm_rms_epsilon", p->rms_eps);
    F32("rope.freq_base", p->rope_freq_base);
    if (p->n_expert > 0) {
        U32("expert_count", p->n_expert);
        U32("expert_used_count", p->n_expert_used);
        if (p->n_ff_exp) U32("expert_feed_forward_length", p->n_ff_exp);
    }
    if (p->n_swa) U32("attention.sliding_window", p->n_swa);
    if (p->swa_pattern) U32("attention.sliding_window_pattern", p->swa_pattern);
    if (p->rope_freq_base_swa > 0.0f) F32("rope.freq_base_swa", p->rope_freq_base_swa);
    if (p->rope_scaling && strcmp(p->rope_scaling, "yarn") == 0) {
        RZ_TRY(rz_gguf_writer_add_str(w, ARCH_KEY("rope.scaling.type"), "yarn"));
        F32("rope.scaling.factor", p->rope_scaling_factor);
        U32("rope.scaling.original_context_length", p->rope_orig_ctx);
    }
    return RZ_OK;
}

/* A recurrent model's keys, those llama.cpp reads (head_count 0, as its
 * converters write). */
static rz_status add_rec_keys(rz_gguf_writer *w, const rz_synth_params *p, const char *arch) {
    char key[96];
    U32("attention.head_count", 0);
    if (p->wkv_head_size) {
        U32("wkv.head_size", p->wkv_head_size);
        F32("attention.layer_norm_epsilon", p->rms_eps);
    } else {
        F32("attention.layer_norm_rms_epsilon", p->rms_eps);
    }
    if (strcmp(arch, "rwkv6") == 0) {
        U32("time_mix_extra_dim", p->lora_mix);
        U32("time_decay_extra_dim", p->lora_decay);
    } else if (strcmp(arch, "rwkv7") == 0) {
        U32("attention.decay_lora_rank", p->lora_decay);
        U32("attention.iclr_lora_rank", p->lora_iclr);
        U32("attention.value_residual_mix_lora_rank", p->lora_mix);
        U32("attention.gate_lora_rank", p->lora_gate);
    } else {
        U32("ssm.conv_kernel", p->ssm_conv);
        U32("ssm.inner_size", p->ssm_inner);
        U32("ssm.state_size", p->ssm_state);
        U32("ssm.time_step_rank", p->ssm_dt_rank);
        if (p->ssm_groups) U32("ssm.group_count", p->ssm_groups);
    }
    return RZ_OK;
}

static rz_status add_metadata(rz_gguf_writer *w, const rz_synth_params *p, const synth_vocab *v) {
    uint32_t ft = 0; /* of the experts where they hold most weights (checked by check_params) */
    file_type(p->n_expert > 0 ? p->expert_type : p->type, &ft);
    const char *arch = p->arch ? p->arch : "llama";
    char key[96];
    RZ_TRY(rz_gguf_writer_add_str(w, "general.architecture", arch));
    RZ_TRY(rz_gguf_writer_add_str(w, "general.name", p->name ? p->name : "synthetic"));
    RZ_TRY(rz_gguf_writer_add_u32(w, "general.file_type", ft));
    U32("vocab_size", p->n_vocab);
    U32("context_length", p->n_ctx);
    U32("embedding_length", p->n_embd);
    U32("block_count", p->n_layer);
    U32("feed_forward_length", p->n_ff);
    RZ_TRY(rec_arch(p) ? add_rec_keys(w, p, arch) : add_attention_keys(w, p, arch));
#undef F32
#undef U32
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

/* Llama 3's RoPE frequency factors (llama.cpp's converter): none for
 * wavelengths below original context / 4, the scaling factor above the
 * original context, a smooth blend between. */
static void llama3_factors(const rz_synth_params *p, float *out, uint64_t n) {
    const double low = 1.0, high = 4.0, orig = p->rope_orig_ctx, factor = p->rope_scaling_factor;
    for (uint64_t i = 0; i < n; i++) {
        const double freq = pow(p->rope_freq_base, -(double)(2 * i) / (double)(2 * n));
        const double wavelen = 2.0 * M_PI / freq;
        if (wavelen < orig / high) {
            out[i] = 1.0f;
        } else if (wavelen > orig / low) {
            out[i] = (float)factor;
        } else {
            const double smooth = (orig / wavelen - low) / (high - low);
            out[i] = (float)(1.0 / ((1.0 - smooth) / factor + smooth));
        }
    }
}

static uint64_t n_values(const synth_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

static rz_status write_tensor(rz_gguf_writer *w, const rz_synth_params *p, const synth_tensor *t,
                              uint64_t seed, float *values, void *quantized, progress *pr) {
    uint64_t state = splitmix64(&seed);
    if (state == 0) state = 1; /* xorshift's one fixed point */
    const uint64_t n = n_values(t);
    /* Ternary scale: uniform in [0.01, 0.04), exact in fp16 so that every
     * ternary type stores the same values. */
    const float scale =
        rz_fp16_to_f32(rz_f32_to_fp16(0.01f + 0.03f * (float)(xorshift64s(&state) >> 40) / 16777216.0f));
    const rz_type_traits *tt = rz_type_traits_get(t->type);
    for (uint64_t done = 0; done < n; done += CHUNK_FLOATS) {
        const uint64_t count = n - done < CHUNK_FLOATS ? n - done : CHUNK_FLOATS;
        if (t->ternary)
            fill_ternary(&state, values, count, scale);
        else if (t->kind == K_ROPE_FREQS)
            llama3_factors(p, values, count);
        else if (t->kind == K_SSM_NEG)
            fill_normal(&state, values, count, -4.0f, 1.0f);
        else
            fill_normal(&state, values, count, t->kind == K_NORM ? 1.0f : 0.0f,
                        t->kind == K_NORM ? NORM_STD : MATRIX_STD);
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
        RZ_TRY(write_tensor(w, p, &tensors[i], seed, values, quantized, pr));
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
        s = check_rows(tensors, n);
        for (size_t i = 0; i < n && s == RZ_OK; i++) {
            uint64_t bytes;
            s = rz_type_tensor_bytes(tensors[i].type, n_values(&tensors[i]), &bytes);
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
