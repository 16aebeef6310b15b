/* Hugging Face model directories as GGUF: config.json becomes llama.cpp's
 * metadata keys, tensors get its names and layouts, the tokenizer files its
 * tokenizer.* keys. Tensors whose stored bytes are already the GGUF layout
 * are used in place in the mapping; the rest (Q/K rows reordered for RoPE,
 * experts stacked or de-interleaved, MXFP4 and packed ternary weights
 * re-laid, 16-bit vectors widened, Gemma's norms) are built once. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "format/gguf_internal.h"
#include "format/hf.h"
#include "tensor/fp16.h"
#include "tensor/quants_ternary.h"
#include "tensor/type_traits.h"

enum { MAX_EXPERTS = 1024, NAME_BYTES = 64 };

/* How a stored tensor becomes its GGUF tensor. */
typedef enum transform {
    AS_STORED,
    PERMUTE_Q, /* HF's RoPE halves -> llama.cpp's interleaved pairs, per query head */
    PERMUTE_K, /* the same per key head */
    /* Recurrent models' tensors, their unit dimensions dropped first (HF
     * keeps [1, 1, n] vectors and [d, 1, k] conv weights): */
    VECTOR,        /* not multiplied with activations: f32 as the loader wants */
    FLAT,          /* the same as one row (RWKV 7's r_k, [heads, head_size]) */
    TRANSPOSE,     /* the last two dimensions swapped (RWKV 6's LoRAs, stored x @ W) */
    NEG_EXP,       /* Mamba's A = -exp(A_log) */
    HEADS,         /* Mamba 2's per-head D as [1, heads] */
    HEADS_NEG_EXP, /* and its A */
    GROUPS,        /* Mamba 2's norm as [d_inner / groups, groups] */
    RESCALE,       /* RWKV 6 outputs halved every rescale_every layers, as llama.cpp expects */
    LERP,          /* first of the token-shift mixes stacked into lerp_fused */
    MERGED,        /* another of them: stacked with the first */
} transform;

/* A stored name (after the layer prefix and before ".weight"/".bias") and
 * its GGUF counterpart. */
typedef struct name_rule {
    const char *hf, *gguf;
    transform how;
} name_rule;

typedef struct name_table {
    const name_rule *rules;
    size_t n;
} name_table;

#define TABLE(rules)                                                                                         \
    { rules, sizeof rules / sizeof rules[0] }

/* Decoders' layers, "model.layers.N.<hf>" -> "blk.N.<gguf>". */
static const name_rule decoder_layers[] = {
    {"self_attn.q_proj", "attn_q", PERMUTE_Q},
    {"self_attn.k_proj", "attn_k", PERMUTE_K},
    {"self_attn.v_proj", "attn_v", AS_STORED},
    {"self_attn.o_proj", "attn_output", AS_STORED},
    {"self_attn.qkv_proj", "attn_qkv", AS_STORED},
    {"self_attn.q_norm", "attn_q_norm", AS_STORED},
    {"self_attn.k_norm", "attn_k_norm", AS_STORED},
    {"input_layernorm", "attn_norm", AS_STORED},
    {"post_attention_layernorm", "ffn_norm", AS_STORED},
    {"mlp.gate_proj", "ffn_gate", AS_STORED},
    {"mlp.up_proj", "ffn_up", AS_STORED},
    {"mlp.down_proj", "ffn_down", AS_STORED},
    {"mlp.gate_up_proj", "ffn_up", AS_STORED},
    {"mlp.gate", "ffn_gate_inp", AS_STORED},
    {"block_sparse_moe.gate", "ffn_gate_inp", AS_STORED},
};

/* Gemma 2/3 norm both sublayers' outputs and give the FFN its own pre-norm;
 * looked up before decoder_layers. */
static const name_rule gemma_layers[] = {
    {"post_attention_layernorm", "post_attention_norm", AS_STORED},
    {"pre_feedforward_layernorm", "ffn_norm", AS_STORED},
    {"post_feedforward_layernorm", "post_ffw_norm", AS_STORED},
};

static const name_rule decoder_globals[] = {
    {"model.embed_tokens", "token_embd", AS_STORED},
    {"model.norm", "output_norm", AS_STORED},
    {"lm_head", "output", AS_STORED},
};

/* BERT, "encoder.layer.N.<hf>" (an optional "bert." before all names). */
static const name_rule bert_layers[] = {
    {"attention.self.query", "attn_q", AS_STORED},
    {"attention.self.key", "attn_k", AS_STORED},
    {"attention.self.value", "attn_v", AS_STORED},
    {"attention.output.dense", "attn_output", AS_STORED},
    {"attention.output.LayerNorm", "attn_output_norm", AS_STORED},
    {"intermediate.dense", "ffn_up", AS_STORED},
    {"output.dense", "ffn_down", AS_STORED},
    {"output.LayerNorm", "layer_output_norm", AS_STORED},
};

static const name_rule bert_globals[] = {
    {"embeddings.word_embeddings", "token_embd", AS_STORED},
    {"embeddings.position_embeddings", "position_embd", AS_STORED},
    {"embeddings.token_type_embeddings", "token_types", AS_STORED},
    {"embeddings.LayerNorm", "token_embd_norm", AS_STORED},
};

/* Nomic BERT (nomic-embed-text): fused QKV, SwiGLU, post-norms. */
static const name_rule nomic_layers[] = {
    {"attn.Wqkv", "attn_qkv", AS_STORED},      {"attn.out_proj", "attn_output", AS_STORED},
    {"norm1", "attn_output_norm", AS_STORED},  {"mlp.fc11", "ffn_up", AS_STORED},
    {"mlp.fc12", "ffn_gate", AS_STORED},       {"mlp.fc2", "ffn_down", AS_STORED},
    {"norm2", "layer_output_norm", AS_STORED},
};

static const name_rule nomic_globals[] = {
    {"embeddings.word_embeddings", "token_embd", AS_STORED},
    {"embeddings.token_type_embeddings", "token_types", AS_STORED},
    {"emb_ln", "token_embd_norm", AS_STORED},
};

/* gpt-oss: the FFN's pre-norm is named as a post-attention norm; a router with a bias. */
static const name_rule gpt_oss_layers[] = {
    {"post_attention_layernorm", "post_attention_norm", AS_STORED},
    {"mlp.router", "ffn_gate_inp", AS_STORED},
};

/* Stored tensors llama.cpp's converter leaves out (parts of their names):
 * buffers recomputed from config.json, heads the GGUF model lacks. */
static const char *const decoder_skipped[] = {"rotary_emb.inv_freq", NULL};
static const char *const bert_skipped[] = {"embeddings.position_ids", "pooler.", NULL};
static const char *const no_skipped[] = {NULL};
/* weight_scale goes with its packed weight */
static const char *const bitnet_skipped[] = {"rotary_emb.inv_freq", ".weight_scale", NULL};

/* BitNet b1.58's sub-norms before the attention output and FFN down projections. */
static const name_rule bitnet_layers[] = {
    {"self_attn.attn_sub_norm", "attn_sub_norm", AS_STORED},
    {"mlp.ffn_sub_norm", "ffn_sub_norm", AS_STORED},
};

/* RWKV 6 (RWKV/v6-Finch-*-HF), "rwkv.blocks.N.<hf>". Names without
 * .weight/.bias are parameters, their GGUF names given whole. */
static const name_rule rwkv6_layers[] = {
    {"ln1", "attn_norm", VECTOR},
    {"ln2", "attn_norm_2", VECTOR},
    {"attention.time_maa_x", "time_mix_lerp_x.weight", VECTOR},
    {"attention.time_maa_w", "time_mix_lerp_fused.weight", LERP},
    {"attention.time_maa_k", NULL, MERGED},
    {"attention.time_maa_v", NULL, MERGED},
    {"attention.time_maa_r", NULL, MERGED},
    {"attention.time_maa_g", NULL, MERGED},
    {"attention.time_maa_w1", "time_mix_w1.weight", TRANSPOSE},
    {"attention.time_maa_w2", "time_mix_w2.weight", TRANSPOSE},
    {"attention.time_decay", "time_mix_decay.weight", VECTOR},
    {"attention.time_decay_w1", "time_mix_decay_w1.weight", TRANSPOSE},
    {"attention.time_decay_w2", "time_mix_decay_w2.weight", TRANSPOSE},
    {"attention.time_faaaa", "time_mix_first.weight", VECTOR},
    {"attention.key", "time_mix_key", AS_STORED},
    {"attention.value", "time_mix_value", AS_STORED},
    {"attention.receptance", "time_mix_receptance", AS_STORED},
    {"attention.gate", "time_mix_gate", AS_STORED},
    {"attention.output", "time_mix_output", RESCALE},
    {"attention.ln_x", "time_mix_ln", VECTOR},
    {"feed_forward.time_maa_k", "channel_mix_lerp_k.weight", VECTOR},
    {"feed_forward.time_maa_r", "channel_mix_lerp_r.weight", VECTOR},
    {"feed_forward.key", "channel_mix_key", AS_STORED},
    {"feed_forward.receptance", "channel_mix_receptance", AS_STORED},
    {"feed_forward.value", "channel_mix_value", RESCALE},
};

/* Whole names, looked up before the layers (layer 0 holds the embedding norm). */
static const name_rule rwkv6_globals[] = {
    {"rwkv.embeddings", "token_embd", AS_STORED},
    {"rwkv.blocks.0.pre_ln", "token_embd_norm", VECTOR},
    {"rwkv.ln_out", "output_norm", VECTOR},
    {"head", "output", AS_STORED},
};

/* RWKV 7 as fla-hub stores it: LoRAs as nn.Sequential(Linear, act, Linear),
 * the second Linear's bias being the base (w0, a0, v0). */
static const name_rule rwkv7_layers[] = {
    {"attn_norm", "attn_norm", VECTOR},
    {"ffn_norm", "attn_norm_2", VECTOR},
    {"attn.x_r", "time_mix_lerp_fused.weight", LERP},
    {"attn.x_w", NULL, MERGED},
    {"attn.x_k", NULL, MERGED},
    {"attn.x_v", NULL, MERGED},
    {"attn.x_a", NULL, MERGED},
    {"attn.x_g", NULL, MERGED},
    {"attn.k_k", "time_mix_k_k.weight", VECTOR},
    {"attn.k_a", "time_mix_k_a.weight", VECTOR},
    {"attn.r_k", "time_mix_r_k.weight", FLAT},
    {"attn.w_lora.lora.2.bias", "time_mix_w0.weight", VECTOR},
    {"attn.a_lora.lora.2.bias", "time_mix_a0.weight", VECTOR},
    {"attn.v_lora.lora.2.bias", "time_mix_v0.weight", VECTOR},
    {"attn.w_lora.lora.0", "time_mix_w1", AS_STORED},
    {"attn.w_lora.lora.2", "time_mix_w2", AS_STORED},
    {"attn.a_lora.lora.0", "time_mix_a1", AS_STORED},
    {"attn.a_lora.lora.2", "time_mix_a2", AS_STORED},
    {"attn.v_lora.lora.0", "time_mix_v1", AS_STORED},
    {"attn.v_lora.lora.2", "time_mix_v2", AS_STORED},
    {"attn.g_lora.lora.0", "time_mix_g1", AS_STORED},
    {"attn.g_lora.lora.2", "time_mix_g2", AS_STORED},
    {"attn.r_proj", "time_mix_receptance", AS_STORED},
    {"attn.k_proj", "time_mix_key", AS_STORED},
    {"attn.v_proj", "time_mix_value", AS_STORED},
    {"attn.o_proj", "time_mix_output", AS_STORED},
    {"attn.g_norm", "time_mix_ln", VECTOR},
    {"ffn.x_k", "channel_mix_lerp_k.weight", VECTOR},
    {"ffn.key", "channel_mix_key", AS_STORED},
    {"ffn.value", "channel_mix_value", AS_STORED},
};

static const name_rule rwkv7_globals[] = {
    {"model.embeddings", "token_embd", AS_STORED},
    {"model.layers.0.pre_norm", "token_embd_norm", VECTOR},
    {"model.norm", "output_norm", VECTOR},
    {"lm_head", "output", AS_STORED},
};

/* Mamba (state-spaces/mamba-*-hf) and Mamba 2, "backbone.layers.N.<hf>". */
static const name_rule mamba_layers[] = {
    {"norm", "attn_norm", VECTOR},          {"mixer.in_proj", "ssm_in", AS_STORED},
    {"mixer.conv1d", "ssm_conv1d", VECTOR}, {"mixer.x_proj", "ssm_x", AS_STORED},
    {"mixer.dt_proj", "ssm_dt", AS_STORED}, {"mixer.A_log", "ssm_a", NEG_EXP},
    {"mixer.D", "ssm_d", VECTOR},           {"mixer.out_proj", "ssm_out", AS_STORED},
};

static const name_rule mamba2_layers[] = {
    {"norm", "attn_norm", VECTOR},           {"mixer.in_proj", "ssm_in", AS_STORED},
    {"mixer.conv1d", "ssm_conv1d", VECTOR},  {"mixer.dt_bias", "ssm_dt.bias", VECTOR},
    {"mixer.A_log", "ssm_a", HEADS_NEG_EXP}, {"mixer.D", "ssm_d", HEADS},
    {"mixer.norm", "ssm_norm", GROUPS},      {"mixer.out_proj", "ssm_out", AS_STORED},
};

static const name_rule mamba_globals[] = {
    {"backbone.embeddings", "token_embd", AS_STORED},
    {"backbone.embedding", "token_embd", AS_STORED},
    {"backbone.norm_f", "output_norm", VECTOR},
    {"lm_head", "output", AS_STORED},
};

typedef enum rec_kind { NOT_RECURRENT, RWKV6, RWKV7, MAMBA, MAMBA2 } rec_kind;

typedef struct hf_arch {
    const char *hf;           /* config.json "architectures"[0] */
    const char *gguf;         /* general.architecture */
    const char *layer_prefix; /* before the layer number */
    const char *strip;        /* optional prefix of every name (a model inside a task head) */
    name_table layers[2];     /* searched in order */
    name_table globals;
    const char *const *skipped; /* NULL-terminated */
    bool permute_qk;            /* the GGUF architecture rotates adjacent pairs (llama.cpp's "normal" RoPE) */
    bool gemma_norms;           /* norm weights stored as w - 1 */
    bool sliding_window;        /* config.json's sliding_window applies (Qwen2's, e.g., is off by default) */
    bool encoder;               /* BERT: LayerNorm epsilon, token types, pooling */
    bool bitnet;                /* linear weights ternary, packed 4 per byte with a weight_scale */
    bool gpt_oss;               /* sinks; experts stored whole, gate and up interleaved, maybe MXFP4 */
    rec_kind rec;               /* attention-free: its own hyperparameters and tensor transforms */
    const char *lerp;           /* the stacked token-shift mixes: name stem, then their order */
    const char *lerp_order;
} hf_arch;

#define DECODER(...)                                                                                         \
    .layer_prefix = "model.layers.", .layers = {TABLE(decoder_layers)}, .globals = TABLE(decoder_globals),   \
    .skipped = decoder_skipped, __VA_ARGS__
#define GEMMA                                                                                                \
    .layer_prefix = "model.layers.", .layers = {TABLE(gemma_layers), TABLE(decoder_layers)},                 \
    .globals = TABLE(decoder_globals), .skipped = decoder_skipped, .gemma_norms = true,                      \
    .sliding_window = true

static const hf_arch archs[] = {
    {.hf = "LlamaForCausalLM", .gguf = "llama", DECODER(.permute_qk = true)},
    {.hf = "MistralForCausalLM", .gguf = "llama", DECODER(.permute_qk = true)},
    {.hf = "MixtralForCausalLM", .gguf = "llama", DECODER(.permute_qk = true)},
    {.hf = "Qwen2ForCausalLM", .gguf = "qwen2", DECODER()},
    {.hf = "Qwen3ForCausalLM", .gguf = "qwen3", DECODER()},
    {.hf = "Qwen3MoeForCausalLM", .gguf = "qwen3moe", DECODER()},
    {.hf = "Gemma2ForCausalLM", .gguf = "gemma2", GEMMA},
    {.hf = "Gemma3ForCausalLM", .gguf = "gemma3", GEMMA},
    {.hf = "Phi3ForCausalLM", .gguf = "phi3", DECODER()},
    {.hf = "GptOssForCausalLM",
     .gguf = "gpt-oss",
     .layer_prefix = "model.layers.",
     .layers = {TABLE(gpt_oss_layers), TABLE(decoder_layers)},
     .globals = TABLE(decoder_globals),
     .skipped = decoder_skipped,
     .sliding_window = true,
     .gpt_oss = true},
    /* bitnet.cpp's "bitnet-b1.58" (ReLU^2), or llama.cpp's "bitnet" when hidden_act is silu */
    {.hf = "BitNetForCausalLM",
     .gguf = "bitnet-b1.58",
     .layer_prefix = "model.layers.",
     .layers = {TABLE(bitnet_layers), TABLE(decoder_layers)},
     .globals = TABLE(decoder_globals),
     .skipped = bitnet_skipped,
     .bitnet = true},
    {.hf = "Rwkv6ForCausalLM",
     .gguf = "rwkv6",
     .layer_prefix = "rwkv.blocks.",
     .layers = {TABLE(rwkv6_layers)},
     .globals = TABLE(rwkv6_globals),
     .skipped = no_skipped,
     .rec = RWKV6,
     .lerp = "attention.time_maa_",
     .lerp_order = "wkvrg"},
    {.hf = "RWKV7ForCausalLM",
     .gguf = "rwkv7",
     .layer_prefix = "model.layers.",
     .layers = {TABLE(rwkv7_layers)},
     .globals = TABLE(rwkv7_globals),
     .skipped = no_skipped,
     .rec = RWKV7,
     .lerp = "attn.x_",
     .lerp_order = "rwkvag"},
    {.hf = "MambaForCausalLM",
     .gguf = "mamba",
     .layer_prefix = "backbone.layers.",
     .layers = {TABLE(mamba_layers)},
     .globals = TABLE(mamba_globals),
     .skipped = no_skipped,
     .rec = MAMBA},
    /* some Mamba 2 checkpoints put the backbone inside "model." */
    {.hf = "Mamba2ForCausalLM",
     .gguf = "mamba2",
     .layer_prefix = "backbone.layers.",
     .strip = "model.",
     .layers = {TABLE(mamba2_layers)},
     .globals = TABLE(mamba_globals),
     .skipped = no_skipped,
     .rec = MAMBA2},
    {.hf = "BertModel",
     .gguf = "bert",
     .layer_prefix = "encoder.layer.",
     .strip = "bert.",
     .layers = {TABLE(bert_layers)},
     .globals = TABLE(bert_globals),
     .skipped = bert_skipped,
     .encoder = true},
    {.hf = "NomicBertModel",
     .gguf = "nomic-bert",
     .layer_prefix = "encoder.layers.",
     .layers = {TABLE(nomic_layers)},
     .globals = TABLE(nomic_globals),
     .skipped = bert_skipped,
     .encoder = true},
};

/* Experts, "model.layers.N.<prefix>.E.<hf>" -> "blk.N.<gguf>" stacked over E. */
static const struct {
    const char *prefix, *hf, *gguf;
} expert_names[] = {
    {"mlp.experts", "gate_proj", "ffn_gate_exps"},     {"mlp.experts", "up_proj", "ffn_up_exps"},
    {"mlp.experts", "down_proj", "ffn_down_exps"},     {"block_sparse_moe.experts", "w1", "ffn_gate_exps"},
    {"block_sparse_moe.experts", "w3", "ffn_up_exps"}, {"block_sparse_moe.experts", "w2", "ffn_down_exps"},
};

/* One tensor of the GGUF view. */
typedef struct out_tensor {
    char name[NAME_BYTES];
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[RZ_MAX_DIMS];
    const void *data;
} out_tensor;

typedef struct hf_model {
    rz_safetensors *st;
    rz_torch **torch; /* PyTorch shards */
    uint32_t n_torch;
    void **buffers; /* tensors built here */
    size_t n_buffers;
    bool file_backed;             /* stored tensors lie in file mappings (not rz_hf_open_memory's buffer) */
    const rz_hf_tensor **by_name; /* stored tensors sorted by name (index_stored) */
} hf_model;

static void hf_model_free(void *p) {
    hf_model *h = p;
    if (!h) return;
    for (size_t i = 0; i < h->n_buffers; i++)
        free(h->buffers[i]);
    free(h->buffers);
    free(h->by_name);
    rz_safetensors_close(h->st);
    for (uint32_t i = 0; i < h->n_torch; i++)
        rz_torch_close(h->torch[i]);
    free(h->torch);
    free(h);
}

/* rz_gguf_release_pages for the view: stored tensors' file pages only;
 * the tensors built here would lose their contents. */
static void hf_release_pages(void *owner, const void *p, size_t size) {
    const hf_model *h = owner;
    for (size_t i = 0; i < h->n_buffers; i++)
        if (p == h->buffers[i]) return;
    if (h->file_backed) rz_mapped_release(p, size);
}

static void *hf_alloc(hf_model *h, uint64_t bytes) {
    void **b = realloc(h->buffers, (h->n_buffers + 1) * sizeof *b);
    if (!b) return NULL;
    h->buffers = b;
    void *p = bytes <= SIZE_MAX ? malloc(bytes ? bytes : 1) : NULL;
    if (p) h->buffers[h->n_buffers++] = p;
    return p;
}

/* ------------------------------------------------------------- files */

static bool path_join(char *out, size_t size, const char *dir, const char *name) {
    return snprintf(out, size, "%s/%s", dir, name) < (int)size;
}

static bool file_exists(const char *dir, const char *name) {
    char path[4096];
    struct stat sb;
    return path_join(path, sizeof path, dir, name) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool rz_hf_probe(const char *path) {
    struct stat sb;
    return path && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) && file_exists(path, "config.json");
}

static rz_status read_json(const char *dir, const char *name, cJSON **out) {
    char *text = NULL;
    size_t len = 0;
    rz_status s = rz_hf_read_file(dir, name, &text, &len);
    if (s == RZ_ERR_NOT_FOUND) s = rz_error(s, "%s is missing", name);
    if (s == RZ_OK) s = rz_hf_parse_object(text, len, name, out);
    free(text);
    return s;
}

static rz_status add_torch(hf_model *h, const char *dir, const char *name) {
    char path[4096];
    if (!path_join(path, sizeof path, dir, name)) return rz_error(RZ_ERR_INVALID_ARG, "path too long");
    rz_torch **t = realloc(h->torch, (h->n_torch + 1) * sizeof *t);
    if (!t) return rz_error(RZ_ERR_NOMEM, "out of memory");
    h->torch = t;
    RZ_TRY(rz_torch_open(path, &h->torch[h->n_torch]));
    h->n_torch++;
    return RZ_OK;
}

/* pytorch_model.bin.index.json: the shards its weight_map names, each once. */
static rz_status open_torch_index(hf_model *h, const char *dir) {
    cJSON *root;
    RZ_TRY(read_json(dir, "pytorch_model.bin.index.json", &root));
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    rz_status s = cJSON_IsObject(map)
                      ? RZ_OK
                      : rz_error(RZ_ERR_FORMAT, "pytorch_model.bin.index.json has no weight_map");
    for (const cJSON *e = map ? map->child : NULL; e && s == RZ_OK; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || strcmp(e->valuestring, "..") == 0) {
            s = rz_error(RZ_ERR_FORMAT,
                         "pytorch_model.bin.index.json: '%.64s' is not a file name in its directory",
                         cJSON_IsString(e) ? e->valuestring : "?");
            break;
        }
        bool seen = false;
        for (const cJSON *f = map->child; f != e && !seen; f = f->next)
            seen = strcmp(f->valuestring, e->valuestring) == 0;
        if (!seen) s = add_torch(h, dir, e->valuestring);
    }
    cJSON_Delete(root);
    return s;
}

static rz_status open_weights(hf_model *h, const char *dir) {
    char path[4096];
    static const char *const safetensors[] = {"model.safetensors.index.json", "model.safetensors"};
    for (size_t i = 0; i < 2; i++)
        if (file_exists(dir, safetensors[i])) {
            path_join(path, sizeof path, dir, safetensors[i]);
            return rz_safetensors_open(path, &h->st);
        }
    if (file_exists(dir, "pytorch_model.bin.index.json")) return open_torch_index(h, dir);
    if (file_exists(dir, "pytorch_model.bin")) return add_torch(h, dir, "pytorch_model.bin");
    return rz_error(RZ_ERR_NOT_FOUND, "no model.safetensors(.index.json) or pytorch_model.bin(.index.json)");
}

static uint64_t stored_count(const hf_model *h) {
    if (h->st) return rz_safetensors_tensor_count(h->st);
    uint64_t n = 0;
    for (uint32_t i = 0; i < h->n_torch; i++)
        n += rz_torch_tensor_count(h->torch[i]);
    return n;
}

static const rz_hf_tensor *stored_at(const hf_model *h, uint64_t i) {
    if (h->st) return rz_safetensors_tensor_at(h->st, i);
    for (uint32_t k = 0; k < h->n_torch; k++) {
        const uint64_t n = rz_torch_tensor_count(h->torch[k]);
        if (i < n) return rz_torch_tensor_at(h->torch[k], i);
        i -= n;
    }
    return NULL;
}

/* ------------------------------------------------------------- config */

typedef struct config {
    const cJSON *root;
    const hf_arch *arch;
    const char *gguf;     /* general.architecture */
    bool bitnet_multiply; /* AutoBitLinear: w = t * weight_scale (BitLinear: t / weight_scale) */
    int32_t n_head, n_head_kv, head_dim, n_expert;
    int32_t rescale_every, n_group; /* RWKV 6's output rescaling, Mamba 2's norm groups */
} config;

/* Other names of the usual fields: GPT-2-style (Nomic BERT), gpt-oss's. */
static const char *const config_aliases[][2] = {
    {"hidden_size", "n_embd"},
    {"num_hidden_layers", "n_layer"},
    {"num_attention_heads", "n_head"},
    {"intermediate_size", "n_inner"},
    {"max_position_embeddings", "n_positions"},
    {"layer_norm_eps", "layer_norm_epsilon"},
    {"rope_theta", "rotary_emb_base"},
    {"num_experts_per_tok", "experts_per_token"},
};

static const cJSON *cfg_get(const config *c, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, key);
    for (size_t i = 0; i < sizeof config_aliases / sizeof config_aliases[0] && (!v || cJSON_IsNull(v)); i++)
        if (strcmp(key, config_aliases[i][0]) == 0)
            v = cJSON_GetObjectItemCaseSensitive(c->root, config_aliases[i][1]);
    return v;
}

/* An integer field in [0, INT32_MAX]; `fallback` (>= 0) when absent, -1 when required. */
static rz_status cfg_int(const config *c, const char *key, int64_t fallback, int32_t *out) {
    *out = 0;
    const cJSON *v = cfg_get(c, key);
    if (!v || cJSON_IsNull(v)) {
        if (fallback < 0) return rz_error(RZ_ERR_FORMAT, "config.json: \"%s\" is missing", key);
        *out = (int32_t)fallback;
        return RZ_OK;
    }
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 2147483647.0) ||
        floor(v->valuedouble) != v->valuedouble)
        return rz_error(RZ_ERR_FORMAT, "config.json: \"%s\" is not an integer in [0, 2^31)", key);
    *out = (int32_t)v->valuedouble;
    return RZ_OK;
}

static const cJSON *cfg_num(const config *c, const char *key) {
    const cJSON *v = cfg_get(c, key);
    return cJSON_IsNumber(v) ? v : NULL;
}

static rz_status put_u32(rz_gguf_writer *w, const char *arch, const char *suffix, int32_t v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return rz_gguf_writer_add_u32(w, key, (uint32_t)v);
}

static rz_status put_f32(rz_gguf_writer *w, const char *arch, const char *suffix, double v) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    return rz_gguf_writer_add_f32(w, key, (float)v);
}

/* Integer settings: config.json field -> GGUF key suffix; optional ones are written when positive. */
static const struct {
    const char *hf, *gguf;
    bool required;
} int_keys[] = {
    {"max_position_embeddings", "context_length", true},
    {"hidden_size", "embedding_length", true},
    {"num_hidden_layers", "block_count", true},
    {"intermediate_size", "feed_forward_length", false},
    {"num_attention_heads", "attention.head_count", true},
    {"vocab_size", "vocab_size", false},
    {"moe_intermediate_size", "expert_feed_forward_length", false},
    {"num_experts_per_tok", "expert_used_count", false},
    {"sliding_window_pattern", "attention.sliding_window_pattern", false},
};

static const struct {
    const char *hf, *gguf;
} float_keys[] = {
    {"rms_norm_eps", "attention.layer_norm_rms_epsilon"},
    {"rope_theta", "rope.freq_base"},
    {"rope_local_base_freq", "rope.freq_base_swa"},
    {"attn_logit_softcapping", "attn_logit_softcapping"},
    {"final_logit_softcapping", "final_logit_softcapping"},
};

/* llama.cpp's Llama 3 RoPE: per-frequency divisors stored as rope_freqs. */
static rz_status llama3_rope_factors(hf_model *h, const config *c, const cJSON *rs, double base,
                                     out_tensor *out) {
    const cJSON *factor = cJSON_GetObjectItemCaseSensitive(rs, "factor");
    const cJSON *low = cJSON_GetObjectItemCaseSensitive(rs, "low_freq_factor");
    const cJSON *high = cJSON_GetObjectItemCaseSensitive(rs, "high_freq_factor");
    const cJSON *orig = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings");
    if (!cJSON_IsNumber(factor) || !cJSON_IsNumber(low) || !cJSON_IsNumber(high) || !cJSON_IsNumber(orig) ||
        !(low->valuedouble > 0) || !(high->valuedouble > low->valuedouble) || !(orig->valuedouble > 0))
        return rz_error(RZ_ERR_FORMAT,
                        "config.json: llama3 rope_scaling needs factor, low_freq_factor > 0, "
                        "high_freq_factor > low_freq_factor and original_max_position_embeddings");
    const int32_t n = c->head_dim / 2;
    float *f = hf_alloc(h, (uint64_t)n * sizeof *f);
    if (!f) return rz_error(RZ_ERR_NOMEM, "out of memory");
    const double low_wavelen = orig->valuedouble / low->valuedouble;
    const double high_wavelen = orig->valuedouble / high->valuedouble;
    for (int32_t i = 0; i < n; i++) {
        const double freq = 1.0 / pow(base, 2.0 * i / c->head_dim), wavelen = 2 * M_PI / freq;
        if (wavelen < high_wavelen) {
            f[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            f[i] = (float)factor->valuedouble;
        } else {
            const double smooth =
                (orig->valuedouble / wavelen - low->valuedouble) / (high->valuedouble - low->valuedouble);
            f[i] = (float)(1.0 / ((1 - smooth) / factor->valuedouble + smooth));
        }
    }
    *out = (out_tensor){.name = "rope_freqs.weight",
                        .type = RZ_TYPE_F32,
                        .n_dims = 1,
                        .ne = {(uint64_t)n, 1, 1, 1},
                        .data = f};
    return RZ_OK;
}

static rz_status rope_scaling(rz_gguf_writer *w, hf_model *h, const config *c, out_tensor *extra,
                              bool *has_extra) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(c->root, "rope_scaling");
    *has_extra = false;
    if (!cJSON_IsObject(rs) || c->arch->rec) return RZ_OK;
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
    if (!cJSON_IsString(type)) type = cJSON_GetObjectItemCaseSensitive(rs, "type");
    if (!cJSON_IsString(type)) return rz_error(RZ_ERR_FORMAT, "config.json: rope_scaling has no rope_type");
    const char *a = c->gguf, *t = type->valuestring;
    const cJSON *theta = cfg_num(c, "rope_theta");
    if (strcmp(t, "default") == 0) return RZ_OK;
    if (strcmp(t, "llama3") == 0) {
        *has_extra = true;
        return llama3_rope_factors(h, c, rs, theta ? theta->valuedouble : 10000.0, extra);
    }
    const cJSON *factor = cJSON_GetObjectItemCaseSensitive(rs, "factor");
    if (strcmp(t, "linear") != 0 && strcmp(t, "yarn") != 0)
        return rz_error(RZ_ERR_UNSUPPORTED, "config.json: rope_scaling type '%.32s' is not supported", t);
    if (!cJSON_IsNumber(factor)) return rz_error(RZ_ERR_FORMAT, "config.json: rope_scaling has no factor");
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", a);
    RZ_TRY(rz_gguf_writer_add_str(w, key, t));
    RZ_TRY(put_f32(w, a, "rope.scaling.factor", factor->valuedouble));
    const cJSON *orig = cJSON_GetObjectItemCaseSensitive(rs, "original_max_position_embeddings");
    if (!orig) return RZ_OK;
    if (!cJSON_IsNumber(orig) || !(orig->valuedouble >= 1 && orig->valuedouble <= 2147483647.0))
        return rz_error(RZ_ERR_FORMAT,
                        "config.json: rope_scaling's original_max_position_embeddings is not a "
                        "positive integer");
    return put_u32(w, a, "rope.scaling.original_context_length", (int32_t)orig->valuedouble);
}

static rz_status read_config(const cJSON *root, config *c) {
    *c = (config){.root = root};
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *first = cJSON_GetArrayItem(list, 0);
    if (!cJSON_IsString(first))
        return rz_error(RZ_ERR_FORMAT, "config.json: \"architectures\" names no model class");
    for (size_t i = 0; i < sizeof archs / sizeof archs[0] && !c->arch; i++)
        if (strcmp(archs[i].hf, first->valuestring) == 0) c->arch = &archs[i];
    if (!c->arch)
        return rz_error(RZ_ERR_UNSUPPORTED, "config.json: model class '%.64s' is not supported",
                        first->valuestring);
    c->gguf = c->arch->gguf;
    if (c->arch->rec) return RZ_OK; /* rec_hparams reads the rest */
    if (c->arch->bitnet) {
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
        if (cJSON_IsString(act) && strcmp(act->valuestring, "silu") == 0) c->gguf = "bitnet";
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(q, "linear_class");
        c->bitnet_multiply = cJSON_IsString(cls) && strcmp(cls->valuestring, "autobitlinear") == 0;
    }
    int32_t hidden;
    RZ_TRY(cfg_int(c, "hidden_size", -1, &hidden));
    RZ_TRY(cfg_int(c, "num_attention_heads", -1, &c->n_head));
    if (c->n_head <= 0) return rz_error(RZ_ERR_FORMAT, "config.json: num_attention_heads must be positive");
    RZ_TRY(cfg_int(c, "num_key_value_heads", c->n_head, &c->n_head_kv));
    RZ_TRY(cfg_int(c, "head_dim", hidden / c->n_head, &c->head_dim));
    if (c->n_head_kv <= 0 || c->head_dim <= 0 || c->head_dim % 2)
        return rz_error(RZ_ERR_FORMAT, "config.json: %d key/value heads of %d must be positive and even",
                        c->n_head_kv, c->head_dim);
    int32_t local = 0, experts = 0;
    RZ_TRY(cfg_int(c, "num_local_experts", 0, &local));
    RZ_TRY(cfg_int(c, "num_experts", local, &experts));
    if (experts > MAX_EXPERTS) return rz_error(RZ_ERR_FORMAT, "config.json: %d experts is too many", experts);
    c->n_expert = experts;
    return RZ_OK;
}

/* The first of `keys` config.json holds as a number; `fallback` when none
 * does (-1: required). Null and "auto" count as absent, as in the converter. */
static rz_status cfg_first_int(const config *c, const char *const *keys, int64_t fallback, int32_t *out) {
    for (const char *const *k = keys; *k; k++)
        if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(c->root, *k))) return cfg_int(c, *k, -1, out);
    if (fallback < 0 || fallback > INT32_MAX)
        return rz_error(RZ_ERR_FORMAT, "config.json: \"%s\" is missing or out of range", keys[0]);
    *out = (int32_t)fallback;
    return RZ_OK;
}

static double cfg_first_float(const config *c, const char *const *keys, double fallback) {
    for (const char *const *k = keys; *k; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(c->root, *k);
        if (cJSON_IsNumber(v)) return v->valuedouble;
    }
    return fallback;
}

#define KEYS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* RWKV 7's default LoRA ranks: hidden^exponent * multiplier to a multiple of
 * 32 (Python's round, ties to even). */
static int64_t rwkv7_lora_rank(int32_t hidden, double exponent, double multiplier) {
    const double r = nearbyint(pow(hidden, exponent) * multiplier / 32);
    return r < 1 ? 32 : (int64_t)r * 32;
}

/* Attention-free models' settings as llama.cpp's converter writes them
 * (their context is unbounded: it writes 2^20). */
static rz_status add_rec_hparams(rz_gguf_writer *w, config *c) {
    const char *a = c->gguf;
    int32_t hidden, layers;
    RZ_TRY(cfg_first_int(c, KEYS("hidden_size", "d_model", "dim"), -1, &hidden));
    RZ_TRY(cfg_first_int(c, KEYS("num_hidden_layers", "n_layer"), -1, &layers));
    if (hidden <= 0) return rz_error(RZ_ERR_FORMAT, "config.json: hidden_size must be positive");
    RZ_TRY(put_u32(w, a, "context_length", 1 << 20));
    RZ_TRY(put_u32(w, a, "embedding_length", hidden));
    RZ_TRY(put_u32(w, a, "block_count", layers));
    RZ_TRY(put_u32(w, a, "attention.head_count", 0));
    const double eps = cfg_first_float(c, KEYS("layer_norm_epsilon", "norm_eps", "rms_norm_eps"), 1e-5);
    int32_t ff, head, v[4];
    switch (c->arch->rec) {
    case RWKV6:
        RZ_TRY(cfg_first_int(c, KEYS("head_size"), -1, &head));
        RZ_TRY(cfg_first_int(c, KEYS("rescale_every"), -1, &c->rescale_every));
        RZ_TRY(cfg_first_int(c, KEYS("intermediate_size"), (int64_t)hidden * 7 / 2 / 32 * 32, &ff));
        RZ_TRY(put_f32(w, a, "attention.layer_norm_epsilon", eps));
        RZ_TRY(put_u32(w, a, "rescale_every_n_layers", c->rescale_every));
        RZ_TRY(put_u32(w, a, "wkv.head_size", head));
        /* not in config.json: the converter's sizes of the Finch models */
        RZ_TRY(put_u32(w, a, "time_mix_extra_dim", hidden == 4096 ? 64 : 32));
        RZ_TRY(put_u32(w, a, "time_decay_extra_dim", hidden == 4096 ? 128 : 64));
        return put_u32(w, a, "feed_forward_length", ff);
    case RWKV7:
        RZ_TRY(cfg_first_int(c, KEYS("head_size", "head_dim"), -1, &head));
        RZ_TRY(cfg_first_int(c, KEYS("intermediate_size"), (int64_t)hidden * 4, &ff));
        RZ_TRY(cfg_first_int(c, KEYS("lora_rank_decay", "decay_low_rank_dim"),
                             rwkv7_lora_rank(hidden, 0.5, 1.8), &v[0]));
        RZ_TRY(cfg_first_int(c, KEYS("lora_rank_iclr", "a_low_rank_dim"), rwkv7_lora_rank(hidden, 0.5, 1.8),
                             &v[1]));
        RZ_TRY(cfg_first_int(c, KEYS("lora_rank_value_residual_mix", "v_low_rank_dim"),
                             rwkv7_lora_rank(hidden, 0.5, 1.3), &v[2]));
        RZ_TRY(cfg_first_int(c, KEYS("lora_rank_gate", "gate_low_rank_dim"),
                             rwkv7_lora_rank(hidden, 0.8, 0.6), &v[3]));
        RZ_TRY(put_f32(w, a, "attention.layer_norm_epsilon", eps));
        RZ_TRY(put_u32(w, a, "wkv.head_size", head));
        RZ_TRY(put_u32(w, a, "attention.decay_lora_rank", v[0]));
        RZ_TRY(put_u32(w, a, "attention.iclr_lora_rank", v[1]));
        RZ_TRY(put_u32(w, a, "attention.value_residual_mix_lora_rank", v[2]));
        RZ_TRY(put_u32(w, a, "attention.gate_lora_rank", v[3]));
        return put_u32(w, a, "feed_forward_length", ff);
    default: break;
    }
    /* Mamba: conv kernel, inner size, state size, then time-step rank or
     * Mamba 2's head size */
    const bool two = c->arch->rec == MAMBA2;
    int32_t expand = 2, inner;
    if (two) RZ_TRY(cfg_first_int(c, KEYS("mamba_expand", "expand"), 2, &expand));
    RZ_TRY(cfg_first_int(c, KEYS("conv_kernel", "d_conv"), 4, &v[0]));
    RZ_TRY(cfg_first_int(c, KEYS("mamba_d_ssm", "intermediate_size", "d_inner"), (int64_t)expand * hidden,
                         &inner));
    RZ_TRY(cfg_first_int(c, KEYS("state_size", "d_state"), two ? 128 : 16, &v[1]));
    if (two) {
        RZ_TRY(cfg_first_int(c, KEYS("mamba_d_head", "head_dim"), 64, &head));
        RZ_TRY(cfg_first_int(c, KEYS("n_groups"), 1, &c->n_group));
        if (head <= 0 || inner % head || c->n_group <= 0 || inner % c->n_group)
            return rz_error(RZ_ERR_FORMAT,
                            "config.json: head_dim %d and n_groups %d must divide the inner size %d", head,
                            c->n_group, inner);
        v[2] = inner / head;
    } else {
        RZ_TRY(cfg_first_int(c, KEYS("time_step_rank", "dt_rank"), (hidden + 15) / 16, &v[2]));
    }
    RZ_TRY(put_u32(w, a, "feed_forward_length", 0));
    RZ_TRY(put_u32(w, a, "ssm.conv_kernel", v[0]));
    RZ_TRY(put_u32(w, a, "ssm.inner_size", inner));
    RZ_TRY(put_u32(w, a, "ssm.state_size", v[1]));
    RZ_TRY(put_u32(w, a, "ssm.time_step_rank", v[2]));
    RZ_TRY(put_f32(w, a, "attention.layer_norm_rms_epsilon", eps));
    if (two) return put_u32(w, a, "ssm.group_count", c->n_group);
    char key[128];
    snprintf(key, sizeof key, "%s.ssm.dt_b_c_rms", a); /* Falcon Mamba's norms, not Mamba's */
    return rz_gguf_writer_add_bool(w, key, false);
}

static rz_status add_hparams(rz_gguf_writer *w, config *c) {
    if (c->arch->rec) return add_rec_hparams(w, c);
    const char *a = c->gguf;
    for (size_t i = 0; i < sizeof int_keys / sizeof int_keys[0]; i++) {
        int32_t v = 0;
        RZ_TRY(cfg_int(c, int_keys[i].hf, int_keys[i].required ? -1 : 0, &v));
        if (v > 0) RZ_TRY(put_u32(w, a, int_keys[i].gguf, v));
    }
    RZ_TRY(put_u32(w, a, "attention.head_count_kv", c->n_head_kv));
    int32_t window = 0;
    RZ_TRY(cfg_int(c, "sliding_window", 0, &window));
    if (c->arch->sliding_window && window > 0) RZ_TRY(put_u32(w, a, "attention.sliding_window", window));
    if (cJSON_GetObjectItemCaseSensitive(c->root, "head_dim")) {
        RZ_TRY(put_u32(w, a, "attention.key_length", c->head_dim));
        RZ_TRY(put_u32(w, a, "attention.value_length", c->head_dim));
    }
    if (c->n_expert > 0) RZ_TRY(put_u32(w, a, "expert_count", c->n_expert));
    if (c->arch->gpt_oss) {
        int32_t ff;
        RZ_TRY(cfg_int(c, "intermediate_size", -1, &ff));
        RZ_TRY(put_u32(w, a, "expert_feed_forward_length", ff));
    }
    for (size_t i = 0; i < sizeof float_keys / sizeof float_keys[0]; i++) {
        const cJSON *v = cfg_num(c, float_keys[i].hf);
        if (v) RZ_TRY(put_f32(w, a, float_keys[i].gguf, v->valuedouble));
    }
    if (c->arch->permute_qk) RZ_TRY(put_u32(w, a, "rope.dimension_count", c->head_dim));
    if (c->arch->encoder) {
        const cJSON *eps = cfg_num(c, "layer_norm_eps");
        int32_t types = 1;
        RZ_TRY(cfg_int(c, "type_vocab_size", 1, &types));
        RZ_TRY(put_f32(w, a, "attention.layer_norm_epsilon", eps ? eps->valuedouble : 1e-12));
        char key[128];
        snprintf(key, sizeof key, "%s.attention.causal", a);
        RZ_TRY(rz_gguf_writer_add_bool(w, key, false));
        RZ_TRY(rz_gguf_writer_add_u32(w, "tokenizer.ggml.token_type_count", (uint32_t)types));
    }
    return RZ_OK;
}

/* An embedding model's pooling, from sentence-transformers' 1_Pooling/config.json
 * (the model's own default where there is none). */
static rz_status add_pooling(rz_gguf_writer *w, const config *c, const char *dir) {
    static const struct {
        const char *mode;
        uint32_t type; /* llama.cpp's pooling_type */
    } modes[] = {
        {"pooling_mode_mean_tokens", 1}, {"pooling_mode_cls_token", 2}, {"pooling_mode_lasttoken", 3}};
    if (!file_exists(dir, "1_Pooling/config.json")) return RZ_OK;
    cJSON *root;
    RZ_TRY(read_json(dir, "1_Pooling/config.json", &root));
    rz_status s = RZ_OK;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0] && s == RZ_OK; i++)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, modes[i].mode))) {
            s = put_u32(w, c->gguf, "pooling_type", (int32_t)modes[i].type);
            break;
        }
    cJSON_Delete(root);
    return s;
}

/* ------------------------------------------------------------- tensors */

/* "<prefix>N.<rest>": N and rest, else false. */
static bool layer_of(const char *name, const char *prefix, int32_t *layer, const char **rest) {
    const size_t n = strlen(prefix);
    if (strncmp(name, prefix, n) != 0) return false;
    const char *p = name + n;
    char *end;
    long l = strtol(p, &end, 10);
    if (end == p || *end != '.' || l < 0 || l > 99999) return false;
    *layer = (int32_t)l;
    *rest = end + 1;
    return true;
}

/* `rest` is "<stem>.weight" or "<stem>.bias": the suffix, else NULL. */
static const char *suffix_after(const char *rest, const char *stem) {
    size_t n = strlen(stem);
    if (strncmp(rest, stem, n) != 0 || rest[n] != '.') return NULL;
    const char *s = rest + n + 1;
    return strcmp(s, "weight") == 0 || strcmp(s, "bias") == 0 ? s : NULL;
}

/* Rows of a [rows, cols] matrix of heads of `head_dim` rows, each head's
 * first and second halves interleaved: GGUF row 2i+s is HF row s*hd/2+i. */
static void permute_rows(const unsigned char *src, unsigned char *dst, uint64_t rows, uint64_t row_bytes,
                         int32_t head_dim) {
    const uint64_t half = (uint64_t)head_dim / 2;
    for (uint64_t r = 0; r < rows; r++) {
        const uint64_t head = r / (uint64_t)head_dim, j = r % (uint64_t)head_dim;
        const uint64_t from = head * (uint64_t)head_dim + (j % 2) * half + j / 2;
        memcpy(dst + r * row_bytes, src + from * row_bytes, row_bytes);
    }
}

static uint64_t elem_bytes(rz_type type) {
    return type == RZ_TYPE_F32 ? 4 : type == RZ_TYPE_F16 || type == RZ_TYPE_BF16 ? 2 : 0;
}

/* Element i of an F32, F16 or BF16 tensor. */
static float stored_float(const rz_hf_tensor *t, uint64_t i) {
    const unsigned char *p = (const unsigned char *)t->data + i * elem_bytes(t->type);
    uint16_t u;
    memcpy(&u, p, sizeof u);
    float v;
    if (t->type == RZ_TYPE_F32)
        memcpy(&v, p, sizeof v);
    else
        v = t->type == RZ_TYPE_F16 ? rz_fp16_to_f32(u) : rz_bf16_to_f32(u);
    return v;
}

static int by_name_cmp(const void *a, const void *b) {
    return strcmp((*(const rz_hf_tensor *const *)a)->name, (*(const rz_hf_tensor *const *)b)->name);
}

/* The stored tensors sorted by name, for find_stored: expert stacking and
 * scale lookups would otherwise scan every tensor per lookup. */
static rz_status index_stored(hf_model *h) {
    const uint64_t n = stored_count(h);
    if (!(h->by_name = malloc((n + 1) * sizeof *h->by_name))) return rz_error(RZ_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++)
        h->by_name[i] = stored_at(h, i);
    qsort(h->by_name, n, sizeof *h->by_name, by_name_cmp);
    return RZ_OK;
}

static const rz_hf_tensor *find_stored(const hf_model *h, const char *name) {
    const rz_hf_tensor key = {.name = name}, *k = &key;
    const rz_hf_tensor *const *at = bsearch(&k, h->by_name, stored_count(h), sizeof *h->by_name, by_name_cmp);
    return at ? *at : NULL;
}

/* A BitNet weight as transformers packs it, into I2_S: [rows/4, cols] bytes,
 * bits 2i..2i+1 of byte (r, col) holding row i*rows/4 + r as value + 1, and
 * a one-element weight_scale that divides the product (BitLinear) or
 * multiplies it (AutoBitLinear). */
static rz_status unpack_bitnet(hf_model *h, const config *c, const rz_hf_tensor *t, out_tensor *o) {
    const uint64_t cols = t->ne[0], quarter = t->ne[1], rows = quarter * 4, n = rows * cols;
    if (t->n_dims != 2 || n % RZ_QK_I2S)
        return rz_error(RZ_ERR_FORMAT, "packed ternary tensor '%s' must be 2-D with a multiple of %d values",
                        t->name, RZ_QK_I2S);
    char name[1100];
    snprintf(name, sizeof name, "%s_scale", t->name);
    const rz_hf_tensor *scale = find_stored(h, name);
    if (!scale || !elem_bytes(scale->type) || scale->ne[0] * scale->ne[1] * scale->ne[2] * scale->ne[3] != 1)
        return rz_error(RZ_ERR_FORMAT, "packed ternary tensor '%s' has no one-value float '%s'", t->name,
                        name);
    const float ws = stored_float(scale, 0);
    if (!(ws > 0.0f) || !isfinite(ws)) return rz_error(RZ_ERR_FORMAT, "'%s' is %g", name, (double)ws);
    int8_t *ternary = malloc(n);
    if (!ternary) return rz_error(RZ_ERR_NOMEM, "out of memory");
    const uint8_t *packed = t->data;
    for (uint64_t r = 0; r < quarter; r++)
        for (uint64_t col = 0; col < cols; col++)
            for (uint64_t i = 0; i < 4; i++) {
                const int code = (packed[r * cols + col] >> (2 * i)) & 3;
                if (code == 3) {
                    free(ternary);
                    return rz_error(RZ_ERR_FORMAT, "packed ternary tensor '%s' holds code 3", t->name);
                }
                ternary[(i * quarter + r) * cols + col] = (int8_t)(code - 1);
            }
    const rz_type_traits *i2s = rz_type_traits_get(RZ_TYPE_I2_S);
    void *dst = hf_alloc(h, rz_row_bytes(i2s, cols) * rows + i2s->trailer_bytes);
    if (dst) rz_i2_s_from_ternary(ternary, c->bitnet_multiply ? ws : 1.0f / ws, dst, (int64_t)n);
    free(ternary);
    if (!dst) return rz_error(RZ_ERR_NOMEM, "out of memory");
    o->type = RZ_TYPE_I2_S;
    o->n_dims = 2;
    o->ne[0] = cols;
    o->ne[1] = rows;
    o->ne[2] = o->ne[3] = 1;
    o->data = dst;
    return RZ_OK;
}

/* Stored tensor -> GGUF tensor data: vectors become f32 (the GGUF loaders
 * read norms and biases as f32), Gemma's norms get their 1 back, Q/K rows
 * are reordered. */
static rz_status convert_tensor(hf_model *h, const config *c, const rz_hf_tensor *t, transform how,
                                bool gemma_norm, out_tensor *o) {
    if (!elem_bytes(t->type))
        return rz_error(RZ_ERR_UNSUPPORTED, "tensor '%s' is %s; only F32, F16 and BF16 are supported",
                        t->name, t->dtype);
    o->type = t->type;
    o->n_dims = t->n_dims;
    memcpy(o->ne, t->ne, sizeof o->ne);
    o->data = t->data;
    /* safetensors packs tensors back to back: one after an odd number of
     * f16 values is misaligned for its own type, and is copied. */
    if ((uintptr_t)t->data % elem_bytes(t->type)) {
        void *aligned = hf_alloc(h, t->size);
        if (!aligned) return rz_error(RZ_ERR_NOMEM, "out of memory");
        memcpy(aligned, t->data, t->size);
        o->data = aligned;
    }
    const uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    if (t->n_dims <= 1 && (t->type != RZ_TYPE_F32 || gemma_norm)) {
        float *f = hf_alloc(h, n * sizeof *f);
        if (!f) return rz_error(RZ_ERR_NOMEM, "out of memory");
        for (uint64_t i = 0; i < n; i++)
            f[i] = stored_float(t, i) + (gemma_norm ? 1.0f : 0.0f);
        o->type = RZ_TYPE_F32;
        o->data = f;
    }
    if (how != AS_STORED && c->arch->permute_qk) {
        const int32_t heads = how == PERMUTE_Q ? c->n_head : c->n_head_kv;
        const uint64_t rows = t->n_dims == 1 ? t->ne[0] : t->ne[1];
        if (rows != (uint64_t)heads * (uint64_t)c->head_dim)
            return rz_error(RZ_ERR_FORMAT, "tensor '%s' has %llu rows, not %d heads of %d", t->name,
                            (unsigned long long)rows, heads, c->head_dim);
        const uint64_t row_bytes = (t->n_dims == 1 ? 1 : t->ne[0]) * elem_bytes(o->type);
        unsigned char *dst = hf_alloc(h, rows * row_bytes);
        if (!dst) return rz_error(RZ_ERR_NOMEM, "out of memory");
        permute_rows(o->data, dst, rows, row_bytes, c->head_dim);
        if (o->data == t->data && h->file_backed)
            rz_mapped_release(t->data, t->size); /* the stored rows are not read again */
        o->data = dst;
    }
    return RZ_OK;
}

typedef struct tensor_list {
    out_tensor *items;
    uint64_t n, cap;
} tensor_list;

static out_tensor *list_add(tensor_list *l) {
    if (l->n == l->cap) {
        uint64_t cap = l->cap ? l->cap * 2 : 256;
        out_tensor *p = realloc(l->items, cap * sizeof *p);
        if (!p) return NULL;
        l->items = p;
        l->cap = cap;
    }
    memset(&l->items[l->n], 0, sizeof l->items[0]);
    return &l->items[l->n++];
}

/* The experts of one layer and kind, found by name, stacked into [E, rows, cols]. */
static rz_status stack_experts(hf_model *h, const config *c, int32_t layer, size_t kind, out_tensor *o) {
    const rz_hf_tensor *first = NULL;
    unsigned char *dst = NULL;
    uint64_t bytes = 0;
    for (int32_t e = 0; e < c->n_expert; e++) {
        char want[256];
        snprintf(want, sizeof want, "model.layers.%d.%s.%d.%s.weight", layer, expert_names[kind].prefix, e,
                 expert_names[kind].hf);
        const rz_hf_tensor *t = find_stored(h, want);
        if (!t) return rz_error(RZ_ERR_FORMAT, "tensor '%s' is missing", want);
        if (!first) {
            first = t;
            if (t->n_dims != 2 || !elem_bytes(t->type))
                return rz_error(RZ_ERR_UNSUPPORTED, "expert '%s' must be a 2-D F32, F16 or BF16 matrix",
                                want);
            bytes = t->size;
            if (!(dst = hf_alloc(h, bytes * (uint64_t)c->n_expert)))
                return rz_error(RZ_ERR_NOMEM, "out of memory");
        } else if (t->type != first->type || t->ne[0] != first->ne[0] || t->ne[1] != first->ne[1] ||
                   t->n_dims != 2) {
            return rz_error(RZ_ERR_FORMAT, "expert '%s' differs in type or shape from expert 0", want);
        }
        memcpy(dst + (uint64_t)e * bytes, t->data, bytes);
        if (h->file_backed) rz_mapped_release(t->data, bytes);
    }
    snprintf(o->name, sizeof o->name, "blk.%d.%s.weight", layer, expert_names[kind].gguf);
    o->type = first->type;
    o->n_dims = 3;
    o->ne[0] = first->ne[0];
    o->ne[1] = first->ne[1];
    o->ne[2] = (uint64_t)c->n_expert;
    o->ne[3] = 1;
    o->data = dst;
    return RZ_OK;
}

/* Whether `rest` names expert e of some kind; sets the kind. */
static bool is_expert(const char *rest, size_t *kind, bool *first) {
    for (size_t k = 0; k < sizeof expert_names / sizeof expert_names[0]; k++) {
        size_t n = strlen(expert_names[k].prefix);
        if (strncmp(rest, expert_names[k].prefix, n) != 0 || rest[n] != '.') continue;
        char *end;
        long e = strtol(rest + n + 1, &end, 10);
        if (end == rest + n + 1 || *end != '.') continue;
        if (!suffix_after(end + 1, expert_names[k].hf)) continue;
        *kind = k;
        *first = e == 0;
        return true;
    }
    return false;
}

/* The rule of `table` naming `rest`, and its ".weight"/".bias" suffix. */
static const name_rule *find_rule(name_table table, const char *rest, const char **suffix) {
    for (size_t i = 0; i < table.n; i++)
        if ((*suffix = suffix_after(rest, table.rules[i].hf))) return &table.rules[i];
    return NULL;
}

static bool is_norm(const char *gguf) { return strstr(gguf, "norm") != NULL; }

/* ---------------------------------------------------- gpt-oss experts */

static rz_status emit(tensor_list *l, int32_t layer, const char *name, rz_type type, uint32_t n_dims,
                      uint64_t ne0, uint64_t ne1, uint64_t ne2, const void *data) {
    out_tensor *o = list_add(l);
    if (!o) return rz_error(RZ_ERR_NOMEM, "out of memory");
    snprintf(o->name, sizeof o->name, "blk.%d.%s", layer, name);
    o->type = type;
    o->n_dims = n_dims;
    o->ne[0] = ne0, o->ne[1] = ne1, o->ne[2] = ne2, o->ne[3] = 1;
    o->data = data;
    return RZ_OK;
}

/* dst[e][r][col] = src[e][col][r * stride + offset] for [n_e, rows, cols]
 * out of [n_e, cols, src_cols]: the transposes and gate/up de-interleaving
 * of gpt-oss's stored expert matrices, elements of `size` bytes. */
static void gather(const unsigned char *src, unsigned char *dst, uint64_t n_e, uint64_t rows, uint64_t cols,
                   uint64_t src_cols, uint64_t stride, uint64_t offset, uint64_t size) {
    for (uint64_t e = 0; e < n_e; e++)
        for (uint64_t r = 0; r < rows; r++)
            for (uint64_t col = 0; col < cols; col++)
                memcpy(dst + ((e * rows + r) * cols + col) * size,
                       src + ((e * cols + col) * src_cols + r * stride + offset) * size, size);
}

/* ggml's MXFP4 block: the E8M0 scale byte, then element j in the low and
 * j + 16 in the high nibble of byte j; stored (transformers) blocks hold
 * elements 2j and 2j + 1 in byte j's low and high nibbles. */
static void mxfp4_block(uint8_t scale, const uint8_t *packed, uint8_t *dst) {
    dst[0] = scale;
    for (int j = 0; j < 16; j++) {
        const int lo = j, hi = j + 16;
        const uint8_t a = (packed[lo / 2] >> (4 * (lo % 2))) & 0xf,
                      b = (packed[hi / 2] >> (4 * (hi % 2))) & 0xf;
        dst[1 + j] = (uint8_t)(a | b << 4);
    }
}

/* The experts of one gpt-oss layer as llama.cpp stores them. `what` is
 * the stored name after "mlp.experts.": gate_up_proj ([E, embd, 2 ff], gate
 * and up interleaved) and down_proj ([E, ff, embd]), both transposed against
 * nn.Linear, or their MXFP4 _blocks ([E, rows, embd / 32, 16]) with _scales;
 * and the biases ([E, 2 ff] interleaved, [E, embd]). */
static rz_status gpt_oss_experts(hf_model *h, const rz_hf_tensor *t, int32_t layer, const char *what,
                                 tensor_list *l) {
    static const char *const names[2] = {"ffn_gate_exps", "ffn_up_exps"};
    const bool gate_up = strncmp(what, "gate_up_proj", 12) == 0;
    if (!gate_up && strncmp(what, "down_proj", 9) != 0)
        return rz_error(RZ_ERR_UNSUPPORTED, "tensor '%s' has no GGUF counterpart", t->name);
    const char *kind = what + (gate_up ? 12 : 9);
    char name[32];
    if (strcmp(kind, "_scales") == 0) return RZ_OK; /* with its blocks */
    if (strcmp(kind, "_bias") == 0) {
        if (t->n_dims != 2 || !elem_bytes(t->type) || (gate_up && t->ne[0] % 2))
            return rz_error(RZ_ERR_FORMAT, "tensor '%s' must be [experts, width] floats", t->name);
        const uint64_t n_e = t->ne[1], width = gate_up ? t->ne[0] / 2 : t->ne[0];
        for (int part = 0; part < (gate_up ? 2 : 1); part++) {
            float *f = hf_alloc(h, n_e * width * sizeof *f);
            if (!f) return rz_error(RZ_ERR_NOMEM, "out of memory");
            for (uint64_t i = 0; i < n_e * width; i++)
                f[i] = stored_float(t, gate_up ? 2 * i + (uint64_t)part : i);
            snprintf(name, sizeof name, "%s.bias", gate_up ? names[part] : "ffn_down_exps");
            RZ_TRY(emit(l, layer, name, RZ_TYPE_F32, 2, width, n_e, 1, f));
        }
        return RZ_OK;
    }
    if (strcmp(kind, "_blocks") == 0) {
        char scales_name[1100];
        snprintf(scales_name, sizeof scales_name, "%.*s_scales", (int)(strlen(t->name) - 7), t->name);
        const rz_hf_tensor *sc = find_stored(h, scales_name);
        if (t->n_dims != 4 || t->ne[0] != 16 || strcmp(t->dtype, "U8") != 0 || !sc ||
            strcmp(sc->dtype, "U8") != 0 || sc->n_dims != 3 || sc->ne[0] != t->ne[1] ||
            sc->ne[1] != t->ne[2] || sc->ne[2] != t->ne[3] || (gate_up && t->ne[2] % 2))
            return rz_error(RZ_ERR_FORMAT,
                            "MXFP4 tensor '%s' needs [E, rows, blocks, 16] bytes and '%s' of "
                            "[E, rows, blocks]",
                            t->name, scales_name);
        const uint64_t nb = t->ne[1], n_e = t->ne[3], rows = gate_up ? t->ne[2] / 2 : t->ne[2];
        const uint8_t *blocks = t->data, *scales = sc->data;
        for (int part = 0; part < (gate_up ? 2 : 1); part++) {
            uint8_t *dst = hf_alloc(h, n_e * rows * nb * 17);
            if (!dst) return rz_error(RZ_ERR_NOMEM, "out of memory");
            for (uint64_t e = 0; e < n_e; e++)
                for (uint64_t r = 0; r < rows; r++) {
                    const uint64_t from = e * t->ne[2] + (gate_up ? 2 * r + (uint64_t)part : r);
                    for (uint64_t b = 0; b < nb; b++)
                        mxfp4_block(scales[from * nb + b], blocks + (from * nb + b) * 16,
                                    dst + ((e * rows + r) * nb + b) * 17);
                }
            snprintf(name, sizeof name, "%s.weight", gate_up ? names[part] : "ffn_down_exps");
            RZ_TRY(emit(l, layer, name, RZ_TYPE_MXFP4, 3, nb * 32, rows, n_e, dst));
        }
        return RZ_OK;
    }
    if (*kind || t->n_dims != 3 || !elem_bytes(t->type) || (gate_up && t->ne[0] % 2))
        return rz_error(RZ_ERR_FORMAT, "tensor '%s' must be [experts, in, out] floats", t->name);
    const uint64_t n_e = t->ne[2], size = elem_bytes(t->type);
    if (!gate_up) { /* [E, ff, embd] -> [E, embd, ff] */
        void *dst = hf_alloc(h, t->size);
        if (!dst) return rz_error(RZ_ERR_NOMEM, "out of memory");
        gather(t->data, dst, n_e, t->ne[0], t->ne[1], t->ne[0], 1, 0, size);
        return emit(l, layer, "ffn_down_exps.weight", t->type, 3, t->ne[1], t->ne[0], n_e, dst);
    }
    const uint64_t ff = t->ne[0] / 2, embd = t->ne[1];
    for (int part = 0; part < 2; part++) {
        void *dst = hf_alloc(h, t->size / 2);
        if (!dst) return rz_error(RZ_ERR_NOMEM, "out of memory");
        gather(t->data, dst, n_e, ff, embd, 2 * ff, 2, (uint64_t)part, size);
        snprintf(name, sizeof name, "%s.weight", names[part]);
        RZ_TRY(emit(l, layer, name, t->type, 3, embd, ff, n_e, dst));
    }
    return RZ_OK;
}

/* ------------------------------------------------ recurrent models */

/* The rule naming `name`: the whole of it (a parameter, GGUF name given
 * whole; suffix NULL) or a stem with .weight/.bias. */
static const name_rule *find_rec_rule(name_table table, const char *name, const char **suffix) {
    *suffix = NULL;
    for (size_t i = 0; i < table.n; i++)
        if (strcmp(name, table.rules[i].hf) == 0) return &table.rules[i];
    return find_rule(table, name, suffix);
}

/* One layer's token-shift mixes, each [1, 1, n] (or [n]), stacked in the
 * order llama.cpp's lerp_fused has them: [n, 1, 1, k]. */
static rz_status stack_lerp(hf_model *h, const config *c, int32_t layer, out_tensor *o) {
    const char *order = c->arch->lerp_order;
    const size_t k = strlen(order);
    uint64_t n = 0;
    float *f = NULL;
    for (size_t i = 0; i < k; i++) {
        char want[256];
        snprintf(want, sizeof want, "%s%d.%s%c", c->arch->layer_prefix, layer, c->arch->lerp, order[i]);
        const rz_hf_tensor *t = find_stored(h, want);
        if (!t) return rz_error(RZ_ERR_FORMAT, "tensor '%s' is missing", want);
        const uint64_t count = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        if (!elem_bytes(t->type) || count != t->ne[0] || (i > 0 && count != n))
            return rz_error(RZ_ERR_FORMAT, "token-shift mix '%s' must be a float vector like the others",
                            want);
        if (!f && !(f = hf_alloc(h, k * (n = count) * sizeof *f)))
            return rz_error(RZ_ERR_NOMEM, "out of memory");
        for (uint64_t j = 0; j < n; j++)
            f[i * n + j] = stored_float(t, j);
    }
    *o = (out_tensor){.type = RZ_TYPE_F32, .n_dims = 4, .ne = {n, 1, 1, k}, .data = f};
    snprintf(o->name, sizeof o->name, "blk.%d.time_mix_lerp_fused.weight", layer);
    return RZ_OK;
}

/* A recurrent model's tensor, named in o: unit dimensions dropped, then
 * the rule's transform. */
static rz_status rec_tensor(hf_model *h, const config *c, const rz_hf_tensor *t, transform how, int32_t layer,
                            out_tensor *o) {
    const int shift = how == RESCALE && c->rescale_every > 0 ? layer / c->rescale_every : 0;
    if (how == RESCALE && shift == 0) how = AS_STORED;
    if (how == TRANSPOSE || how == AS_STORED) RZ_TRY(convert_tensor(h, c, t, AS_STORED, false, o));
    if (!elem_bytes(t->type))
        return rz_error(RZ_ERR_UNSUPPORTED, "tensor '%s' is %s; only F32, F16 and BF16 are supported",
                        t->name, t->dtype);
    uint64_t ne[RZ_MAX_DIMS] = {1, 1, 1, 1}, n = 1;
    uint32_t nd = 0;
    for (uint32_t i = 0; i < t->n_dims; i++) {
        n *= t->ne[i];
        if (t->ne[i] != 1) ne[nd++] = t->ne[i];
    }
    if (how == FLAT) ne[0] = n, ne[1] = ne[2] = ne[3] = 1, nd = 1;
    if (how == HEADS || how == HEADS_NEG_EXP) ne[0] = 1, ne[1] = n, ne[2] = ne[3] = 1, nd = 2;
    if (how == GROUPS) {
        if (n % (uint64_t)c->n_group)
            return rz_error(RZ_ERR_FORMAT, "tensor '%s' does not split into %d groups", t->name, c->n_group);
        ne[0] = n / (uint64_t)c->n_group, ne[1] = (uint64_t)c->n_group, ne[2] = ne[3] = 1, nd = 2;
    }
    o->n_dims = nd ? nd : 1;
    memcpy(o->ne, ne, sizeof o->ne);
    if (how == AS_STORED && (nd >= 2 || o->type == RZ_TYPE_F32))
        return RZ_OK; /* convert_tensor's, reshaped */
    if (how == TRANSPOSE) {
        if (nd < 2 || nd > 3)
            return rz_error(RZ_ERR_FORMAT, "tensor '%s' must be 2-D or 3-D to be transposed", t->name);
        void *dst = hf_alloc(h, t->size);
        if (!dst) return rz_error(RZ_ERR_NOMEM, "out of memory");
        gather(o->data, dst, ne[2], ne[0], ne[1], ne[0], 1, 0, elem_bytes(o->type));
        o->ne[0] = ne[1], o->ne[1] = ne[0];
        o->data = dst;
        return RZ_OK;
    }
    float *f = hf_alloc(h, n * sizeof *f);
    if (!f) return rz_error(RZ_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        const float x = stored_float(t, i);
        f[i] = how == NEG_EXP || how == HEADS_NEG_EXP ? -(float)exp(x)
               : how == RESCALE                       ? ldexpf(x, -shift)
                                                      : x;
    }
    o->type = RZ_TYPE_F32;
    o->data = f;
    return RZ_OK;
}

/* RWKV 7's layer 0 has no value-residual mix; llama.cpp still wants its
 * v0/v1/v2, and the converter gives it copies of a0/a1/a2. Checkpoints that
 * do store them keep their own. */
static rz_status rwkv7_dummy_v(const hf_model *h, const rz_hf_tensor *t, tensor_list *l) {
    char name[1100];
    snprintf(name, sizeof name, "%s", t->name);
    char *at = strstr(name, ".a_lora.");
    if (!at) return RZ_OK;
    at[1] = 'v';
    if (find_stored(h, name)) return RZ_OK;
    const out_tensor a = l->items[l->n - 1];
    out_tensor *o = list_add(l);
    if (!o) return rz_error(RZ_ERR_NOMEM, "out of memory");
    *o = a;
    char *kind = strstr(o->name, "time_mix_a");
    if (kind) kind[9] = 'v';
    return RZ_OK;
}

/* Whether a Mamba head equals the embedding: the converter leaves it out. */
static bool tied_head(const hf_model *h, const config *c, const rz_hf_tensor *t) {
    if (c->arch->rec != MAMBA) return false;
    for (size_t i = 0; i < c->arch->globals.n; i++) {
        char name[256];
        snprintf(name, sizeof name, "%s%s.weight", c->arch->strip ? c->arch->strip : "",
                 c->arch->globals.rules[i].hf);
        const rz_hf_tensor *e = find_stored(h, name);
        if (e && strcmp(c->arch->globals.rules[i].gguf, "token_embd") == 0 && e != t)
            return e->type == t->type && e->size == t->size && memcmp(e->data, t->data, t->size) == 0;
    }
    return false;
}

static rz_status map_rec(hf_model *h, const config *c, const rz_hf_tensor *t, const char *name,
                         tensor_list *l) {
    const hf_arch *a = c->arch;
    const char *rest, *suffix;
    int32_t layer = -1;
    const name_rule *rule = find_rec_rule(a->globals, name, &suffix);
    if (!rule && layer_of(name, a->layer_prefix, &layer, &rest))
        rule = find_rec_rule(a->layers[0], rest, &suffix);
    if (!rule) return rz_error(RZ_ERR_UNSUPPORTED, "tensor '%s' has no GGUF counterpart", t->name);
    if (rule->how == MERGED) return RZ_OK; /* stacked with the first */
    if (layer < 0 && strcmp(rule->gguf, "output") == 0 && tied_head(h, c, t)) return RZ_OK;
    out_tensor *o = list_add(l);
    if (!o) return rz_error(RZ_ERR_NOMEM, "out of memory");
    if (rule->how == LERP) return stack_lerp(h, c, layer, o);
    RZ_TRY(rec_tensor(h, c, t, rule->how, layer, o));
    char blk[32] = "";
    if (layer >= 0) snprintf(blk, sizeof blk, "blk.%d.", layer);
    snprintf(o->name, sizeof o->name, "%s%s%s%s", blk, rule->gguf, suffix ? "." : "", suffix ? suffix : "");
    return a->rec == RWKV7 && layer == 0 ? rwkv7_dummy_v(h, t, l) : RZ_OK;
}

static rz_status map_tensor(hf_model *h, const config *c, const rz_hf_tensor *t, tensor_list *l) {
    const hf_arch *a = c->arch;
    for (const char *const *skip = a->skipped; *skip; skip++)
        if (strstr(t->name, *skip)) return RZ_OK;
    const char *name = t->name, *rest, *suffix = NULL;
    if (a->strip && strncmp(name, a->strip, strlen(a->strip)) == 0) name += strlen(a->strip);
    if (a->rec) return map_rec(h, c, t, name, l);
    int32_t layer;
    const name_rule *rule = NULL;
    out_tensor *o;
    if (layer_of(name, a->layer_prefix, &layer, &rest)) {
        size_t kind;
        bool first;
        if (c->n_expert > 0 && is_expert(rest, &kind, &first)) {
            if (!first) return RZ_OK; /* stacked with expert 0 */
            if (!(o = list_add(l))) return rz_error(RZ_ERR_NOMEM, "out of memory");
            return stack_experts(h, c, layer, kind, o);
        }
        if (a->gpt_oss && strncmp(rest, "mlp.experts.", 12) == 0)
            return gpt_oss_experts(h, t, layer, rest + 12, l);
        if (a->gpt_oss && strcmp(rest, "self_attn.sinks") == 0) {
            static const name_rule sinks = {"self_attn.sinks", "attn_sinks", AS_STORED};
            rule = &sinks;
            suffix = "weight";
        }
        for (size_t i = 0; i < 2 && !rule; i++)
            rule = find_rule(a->layers[i], rest, &suffix);
        if (!rule) return rz_error(RZ_ERR_UNSUPPORTED, "tensor '%s' has no GGUF counterpart", t->name);
        if (!(o = list_add(l))) return rz_error(RZ_ERR_NOMEM, "out of memory");
        snprintf(o->name, sizeof o->name, "blk.%d.%s.%s", layer, rule->gguf, suffix);
    } else {
        if (!(rule = find_rule(a->globals, name, &suffix)))
            return rz_error(RZ_ERR_UNSUPPORTED, "tensor '%s' has no GGUF counterpart", t->name);
        if (!(o = list_add(l))) return rz_error(RZ_ERR_NOMEM, "out of memory");
        snprintf(o->name, sizeof o->name, "%s.%s", rule->gguf, suffix);
    }
    if (a->bitnet && strcmp(t->dtype, "U8") == 0) return unpack_bitnet(h, c, t, o);
    return convert_tensor(h, c, t, rule->how,
                          a->gemma_norms && is_norm(rule->gguf) && strcmp(suffix, "weight") == 0, o);
}

/* The GGUF image for config `root` over the weights already open in h;
 * tokenizer files are read from `dir` (NULL: none). */
static rz_status build(hf_model *h, const cJSON *root, const char *name, const char *dir, void **image,
                       size_t *image_size, tensor_list *l) {
    config c;
    rz_gguf_writer *w = NULL;
    rz_status s = read_config(root, &c);
    if (s == RZ_OK) s = rz_gguf_writer_open_header_only(&w);
    if (s == RZ_OK) s = rz_gguf_writer_add_str(w, "general.architecture", c.gguf);
    if (s == RZ_OK) s = rz_gguf_writer_add_str(w, "general.name", name);
    if (s == RZ_OK) s = add_hparams(w, &c);
    out_tensor rope_freqs;
    bool has_rope_freqs = false;
    if (s == RZ_OK) s = rope_scaling(w, h, &c, &rope_freqs, &has_rope_freqs);
    if (s == RZ_OK && dir && c.arch->encoder) s = add_pooling(w, &c, dir);
    if (s == RZ_OK && dir && (file_exists(dir, "tokenizer.json") || file_exists(dir, "tokenizer.model")))
        s = rz_hf_tokenizer_to_gguf(dir, w);
    for (uint64_t i = 0; i < stored_count(h) && s == RZ_OK; i++)
        s = map_tensor(h, &c, stored_at(h, i), l);
    if (s == RZ_OK && has_rope_freqs) {
        out_tensor *o = list_add(l);
        if (o)
            *o = rope_freqs;
        else
            s = rz_error(RZ_ERR_NOMEM, "out of memory");
    }
    for (uint64_t i = 0; i < l->n && s == RZ_OK; i++)
        s = rz_gguf_writer_add_tensor(w, l->items[i].name, l->items[i].type, l->items[i].n_dims,
                                      l->items[i].ne);
    if (s == RZ_OK) {
        s = rz_gguf_writer_take_header(w, image, image_size);
        w = NULL;
    }
    rz_gguf_writer_abort(w);
    return s;
}

/* Builds the view; h passes to the reader (or is freed) either way. */
static rz_status open_view(hf_model *h, const cJSON *root, const char *name, const char *dir, rz_gguf **out) {
    tensor_list l = {0};
    void *image = NULL;
    size_t image_size = 0;
    rz_status s = index_stored(h);
    if (s == RZ_OK) s = build(h, root, name, dir, &image, &image_size, &l);
    const void **data = s == RZ_OK ? calloc(l.n + 1, sizeof *data) : NULL;
    if (s == RZ_OK && !data) s = rz_error(RZ_ERR_NOMEM, "out of memory");
    if (s == RZ_OK) {
        for (uint64_t i = 0; i < l.n; i++)
            data[i] = l.items[i].data;
        s = rz_gguf_open_detached(image, image_size, data, hf_model_free, hf_release_pages, h, out);
        h = NULL;
        image = NULL;
    }
    free(data);
    free(l.items);
    free(image);
    hf_model_free(h);
    return s;
}

rz_status rz_hf_open(const char *dir, rz_gguf **out) {
    *out = NULL;
    hf_model *h = calloc(1, sizeof *h);
    if (!h) return rz_error(RZ_ERR_NOMEM, "out of memory");
    cJSON *root = NULL;
    rz_status s = read_json(dir, "config.json", &root);
    h->file_backed = true;
    if (s == RZ_OK) s = open_weights(h, dir);
    if (s == RZ_OK) {
        const char *base = strrchr(dir, '/');
        s = open_view(h, root, base && base[1] ? base + 1 : dir, dir, out);
    } else {
        hf_model_free(h);
    }
    cJSON_Delete(root);
    if (s != RZ_OK) rz_error_prefix(s, "hf: '%s'", dir);
    return s;
}

rz_status rz_hf_open_memory(const char *config_json, size_t config_len, const void *safetensors, size_t size,
                            rz_gguf **out) {
    *out = NULL;
    hf_model *h = calloc(1, sizeof *h);
    if (!h) return rz_error(RZ_ERR_NOMEM, "out of memory");
    cJSON *root = cJSON_ParseWithLength(config_json, config_len);
    rz_status s = cJSON_IsObject(root) ? rz_safetensors_open_memory(safetensors, size, &h->st)
                                       : rz_error(RZ_ERR_FORMAT, "config.json is not a JSON object");
    if (s == RZ_OK)
        s = open_view(h, root, "memory", NULL, out);
    else
        hf_model_free(h);
    cJSON_Delete(root);
    if (s != RZ_OK) rz_error_prefix(s, "hf");
    return s;
}
