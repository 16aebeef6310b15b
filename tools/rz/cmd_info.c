/* rz info: describe a model file or the CPU. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static void print_cpu_text(void) {
    const rz_cpu_info *c = rz_cpu_info_get();
    printf("cpu:        %s (%s)\n", c->brand[0] ? c->brand : "unknown", c->vendor);
    printf("cores:      %d physical, %d logical\n", c->physical_cores, c->logical_cores);
    printf("features:  ");
    const struct {
        const char *name;
        bool present;
    } flags[] = {{"sse4.2", c->sse42},
                 {"avx", c->avx},
                 {"avx2", c->avx2},
                 {"fma", c->fma},
                 {"f16c", c->f16c},
                 {"avx512f", c->avx512f},
                 {"avx512bw", c->avx512bw},
                 {"avx512vl", c->avx512vl},
                 {"avx512dq", c->avx512dq},
                 {"avx512vnni", c->avx512vnni},
                 {"avx512bf16", c->avx512bf16},
                 {"avx512vbmi", c->avx512vbmi},
                 {"gfni", c->gfni},
                 {"avxvnni", c->avxvnni}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].present) printf(" %s", flags[i].name);
    printf("\n");
    printf("isa:        detected %s, using %s\n", rz_isa_name(rz_isa_best()), rz_isa_name(rz_isa_active()));
    const rz_cpu_topology *t = rz_cpu_topology_get();
    char list[1024];
    rz_cpu_set_format(&t->online, list, sizeof list);
    printf("topology:   %d CPUs (%s), %d cores, %d NUMA node%s%s\n", t->n_cpus, list, t->n_cores, t->n_nodes,
           t->n_nodes == 1 ? "" : "s", t->sysfs ? "" : " (sysfs unreadable: one node assumed)");
    for (int k = 0; k < t->n_nodes; k++) {
        rz_cpu_set_format(&t->node_cpus[k], list, sizeof list);
        printf("node %-6d CPUs %s\n", t->node_id[k], list);
    }
    rz_cpu_set_format(&t->allowed, list, sizeof list);
    printf("process:    CPUs %s allowed, started on node %d\n", list, t->node_id[t->start_node]);
}

static void print_cpu_json(void) {
    const rz_cpu_info *c = rz_cpu_info_get();
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "vendor", c->vendor);
    cJSON_AddStringToObject(root, "brand", c->brand);
    cJSON_AddNumberToObject(root, "physical_cores", c->physical_cores);
    cJSON_AddNumberToObject(root, "logical_cores", c->logical_cores);
    cJSON *features = cJSON_AddObjectToObject(root, "features");
    cJSON_AddBoolToObject(features, "avx2", c->avx2);
    cJSON_AddBoolToObject(features, "fma", c->fma);
    cJSON_AddBoolToObject(features, "f16c", c->f16c);
    cJSON_AddBoolToObject(features, "avx512f", c->avx512f);
    cJSON_AddBoolToObject(features, "avx512bw", c->avx512bw);
    cJSON_AddBoolToObject(features, "avx512vl", c->avx512vl);
    cJSON_AddBoolToObject(features, "avx512dq", c->avx512dq);
    cJSON_AddBoolToObject(features, "avx512vnni", c->avx512vnni);
    cJSON_AddBoolToObject(features, "avx512bf16", c->avx512bf16);
    cJSON_AddBoolToObject(features, "avx512vbmi", c->avx512vbmi);
    cJSON_AddBoolToObject(features, "gfni", c->gfni);
    cJSON_AddStringToObject(root, "isa_detected", rz_isa_name(rz_isa_best()));
    cJSON_AddStringToObject(root, "isa_active", rz_isa_name(rz_isa_active()));
    const rz_cpu_topology *t = rz_cpu_topology_get();
    char list[1024];
    cJSON *topo = cJSON_AddObjectToObject(root, "topology");
    cJSON_AddBoolToObject(topo, "sysfs", t->sysfs);
    cJSON_AddNumberToObject(topo, "cpus", t->n_cpus);
    cJSON_AddNumberToObject(topo, "cores", t->n_cores);
    rz_cpu_set_format(&t->online, list, sizeof list);
    cJSON_AddStringToObject(topo, "online", list);
    rz_cpu_set_format(&t->allowed, list, sizeof list);
    cJSON_AddStringToObject(topo, "allowed", list);
    cJSON_AddNumberToObject(topo, "start_node", t->node_id[t->start_node]);
    cJSON *nodes = cJSON_AddArrayToObject(topo, "nodes");
    for (int k = 0; k < t->n_nodes; k++) {
        cJSON *node = cJSON_CreateObject();
        cJSON_AddNumberToObject(node, "id", t->node_id[k]);
        rz_cpu_set_format(&t->node_cpus[k], list, sizeof list);
        cJSON_AddStringToObject(node, "cpus", list);
        cJSON_AddItemToArray(nodes, node);
    }
    char *text = cJSON_Print(root);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(root);
}

/* ------------------------------------------------------------------ GGUF */

enum { SHORT_ARRAY = 8, SHORT_STRING = 80 };

static const char *value_type_name(rz_gguf_type t) {
    static const char *const names[RZ_GGUF_TYPE_COUNT] = {"u8",   "i8",  "u16",   "i16", "u32", "i32", "f32",
                                                          "bool", "str", "array", "u64", "i64", "f64"};
    return (unsigned)t < RZ_GGUF_TYPE_COUNT ? names[t] : "?";
}

/* llama.cpp's general.file_type values (enum llama_ftype). */
static const char *file_type_name(uint32_t ft) {
    switch (ft) {
    case 0: return "all F32";
    case 1: return "mostly F16";
    case 2: return "mostly Q4_0";
    case 3: return "mostly Q4_1";
    case 7: return "mostly Q8_0";
    case 8: return "mostly Q5_0";
    case 9: return "mostly Q5_1";
    case 10: return "mostly Q2_K";
    case 11: return "mostly Q3_K_S";
    case 12: return "mostly Q3_K_M";
    case 13: return "mostly Q3_K_L";
    case 14: return "mostly Q4_K_S";
    case 15: return "mostly Q4_K_M";
    case 16: return "mostly Q5_K_S";
    case 17: return "mostly Q5_K_M";
    case 18: return "mostly Q6_K";
    case 32: return "mostly BF16";
    case 36: return "mostly TQ1_0";
    case 37: return "mostly TQ2_0";
    case 38: return "MXFP4 MoE";
    case 40: return "mostly I2_S"; /* bitnet.cpp's fork */
    default: return "unknown";
    }
}

/* rz_str as a NUL-terminated, printable copy (control bytes escaped),
 * cut after `limit` bytes when limit > 0. Caller frees. */
static char *printable(rz_str s, uint64_t limit) {
    uint64_t n = limit && s.len > limit ? limit : s.len;
    char *out = malloc(n * 4 + 4);
    if (!out) return NULL;
    size_t k = 0;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c == '\n')
            k += (size_t)sprintf(out + k, "\\n");
        else if (c < 0x20 || c == 0x7f)
            k += (size_t)sprintf(out + k, "\\x%02x", c);
        else
            out[k++] = (char)c;
    }
    if (n < s.len) k += (size_t)sprintf(out + k, "...");
    out[k] = '\0';
    return out;
}

/* NUL-terminated copy for cJSON (which stops at an embedded NUL anyway). */
static char *c_string(rz_str s) {
    char *out = malloc(s.len + 1);
    if (!out) return NULL;
    memcpy(out, s.ptr, s.len);
    out[s.len] = '\0';
    return out;
}

static bool starts_with(rz_str s, const char *prefix) {
    size_t n = strlen(prefix);
    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

static bool is_key(rz_str s, const char *key) {
    return s.len == strlen(key) && memcmp(s.ptr, key, s.len) == 0;
}

static void print_value(const rz_gguf_value *v, bool abbreviate) {
    rz_gguf_type t = rz_gguf_value_type(v);
    switch (t) {
    case RZ_GGUF_INT8:
    case RZ_GGUF_INT16:
    case RZ_GGUF_INT32:
    case RZ_GGUF_INT64: printf("%lld", (long long)rz_gguf_value_i64(v)); return;
    case RZ_GGUF_FLOAT32:
    case RZ_GGUF_FLOAT64: printf("%g", rz_gguf_value_f64(v)); return;
    case RZ_GGUF_BOOL: printf("%s", rz_gguf_value_u64(v) ? "true" : "false"); return;
    case RZ_GGUF_STRING: {
        char *text = printable(rz_gguf_value_str(v), abbreviate ? SHORT_STRING : 0);
        printf("\"%s\"", text ? text : "");
        free(text);
        return;
    }
    case RZ_GGUF_ARRAY: break;
    default: printf("%llu", (unsigned long long)rz_gguf_value_u64(v)); return;
    }
    uint64_t n = rz_gguf_array_len(v);
    if (abbreviate && n > SHORT_ARRAY) {
        printf("[%llu items]", (unsigned long long)n);
        return;
    }
    printf("[");
    for (uint64_t i = 0; i < n; i++) {
        if (i) printf(", ");
        const rz_gguf_value *e = rz_gguf_array_elem(v, i);
        if (e) print_value(e, abbreviate);
    }
    printf("]");
}

static cJSON *json_value(const rz_gguf_value *v, bool abbreviate) {
    switch (rz_gguf_value_type(v)) {
    case RZ_GGUF_INT8:
    case RZ_GGUF_INT16:
    case RZ_GGUF_INT32:
    case RZ_GGUF_INT64: return cJSON_CreateNumber((double)rz_gguf_value_i64(v));
    case RZ_GGUF_FLOAT32:
    case RZ_GGUF_FLOAT64: return cJSON_CreateNumber(rz_gguf_value_f64(v));
    case RZ_GGUF_BOOL: return cJSON_CreateBool(rz_gguf_value_u64(v) != 0);
    case RZ_GGUF_STRING: {
        char *text = c_string(rz_gguf_value_str(v));
        cJSON *item = cJSON_CreateString(text ? text : "");
        free(text);
        return item;
    }
    case RZ_GGUF_ARRAY: break;
    default: return cJSON_CreateNumber((double)rz_gguf_value_u64(v));
    }
    uint64_t n = rz_gguf_array_len(v);
    if (abbreviate && n > SHORT_ARRAY) {
        char text[48];
        snprintf(text, sizeof text, "[%llu items]", (unsigned long long)n);
        return cJSON_CreateString(text);
    }
    cJSON *array = cJSON_CreateArray();
    for (uint64_t i = 0; i < n; i++) {
        const rz_gguf_value *e = rz_gguf_array_elem(v, i);
        if (e) cJSON_AddItemToArray(array, json_value(e, abbreviate));
    }
    return array;
}

/* Keys summarized in the tokenizer section rather than listed. */
static const char *const tokenizer_keys[] = {"tokenizer.ggml.model",
                                             "tokenizer.ggml.pre",
                                             "tokenizer.ggml.tokens",
                                             "tokenizer.ggml.merges",
                                             "tokenizer.ggml.bos_token_id",
                                             "tokenizer.ggml.eos_token_id",
                                             "tokenizer.ggml.unknown_token_id",
                                             "tokenizer.chat_template"};

typedef struct gguf_summary {
    char arch[64];
    char name[128];
    bool has_file_type;
    uint32_t file_type;
    char tok_model[64], tok_pre[64];
    int64_t n_tokens, n_merges; /* -1 if absent */
    int64_t bos, eos, unk;      /* -1 if absent */
    bool chat_template;
    uint64_t n_params, n_bytes;
} gguf_summary;

static void copy_str(const rz_gguf *g, const char *key, char *out, size_t cap) {
    rz_str s;
    out[0] = '\0';
    if (rz_gguf_get_str(g, key, &s) != RZ_OK) return;
    char *text = printable(s, cap - 4);
    if (text) snprintf(out, cap, "%s", text);
    free(text);
}

static int64_t token_id(const rz_gguf *g, const char *key) {
    uint32_t id;
    return rz_gguf_get_u32(g, key, &id) == RZ_OK ? (int64_t)id : -1;
}

static int64_t array_count(const rz_gguf *g, const char *key) {
    int64_t i = rz_gguf_find_key(g, key);
    if (i < 0) return -1;
    const rz_gguf_value *v = rz_gguf_kv_value(g, (uint64_t)i);
    return rz_gguf_value_type(v) == RZ_GGUF_ARRAY ? (int64_t)rz_gguf_array_len(v) : -1;
}

static void summarize(const rz_gguf *g, gguf_summary *s) {
    memset(s, 0, sizeof *s);
    copy_str(g, "general.architecture", s->arch, sizeof s->arch);
    copy_str(g, "general.name", s->name, sizeof s->name);
    s->has_file_type = rz_gguf_get_u32(g, "general.file_type", &s->file_type) == RZ_OK;
    copy_str(g, "tokenizer.ggml.model", s->tok_model, sizeof s->tok_model);
    copy_str(g, "tokenizer.ggml.pre", s->tok_pre, sizeof s->tok_pre);
    s->n_tokens = array_count(g, "tokenizer.ggml.tokens");
    s->n_merges = array_count(g, "tokenizer.ggml.merges");
    s->bos = token_id(g, "tokenizer.ggml.bos_token_id");
    s->eos = token_id(g, "tokenizer.ggml.eos_token_id");
    s->unk = token_id(g, "tokenizer.ggml.unknown_token_id");
    s->chat_template = rz_gguf_find_key(g, "tokenizer.chat_template") >= 0;
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        s->n_params += t->n_elements;
        s->n_bytes += t->size;
    }
}

typedef enum key_group { KEY_SUMMARY, KEY_HPARAM, KEY_TOKENIZER, KEY_OTHER } key_group;

static key_group group_of(rz_str key, const char *arch) {
    if (is_key(key, "general.architecture") || is_key(key, "general.name") ||
        is_key(key, "general.file_type"))
        return KEY_SUMMARY;
    for (size_t i = 0; i < sizeof tokenizer_keys / sizeof tokenizer_keys[0]; i++)
        if (is_key(key, tokenizer_keys[i])) return KEY_TOKENIZER;
    if (arch[0] && key.len > strlen(arch) && starts_with(key, arch) && key.ptr[strlen(arch)] == '.')
        return KEY_HPARAM;
    return KEY_OTHER;
}

static double bits_per_weight(const gguf_summary *s) {
    return s->n_params ? 8.0 * (double)s->n_bytes / (double)s->n_params : 0;
}

static void print_keys(const rz_gguf *g, const char *arch, key_group group) {
    for (uint64_t i = 0; i < rz_gguf_kv_count(g); i++) {
        rz_str key = rz_gguf_kv_key(g, i);
        if (group_of(key, arch) != group) continue;
        char *text = printable(key, 0);
        printf("  %-40s %-5s ", text ? text : "", value_type_name(rz_gguf_kv_type(g, i)));
        free(text);
        print_value(rz_gguf_kv_value(g, i), true);
        printf("\n");
    }
}

static void print_id(const char *label, int64_t id) {
    if (id >= 0)
        printf("  %-14s %lld\n", label, (long long)id);
    else
        printf("  %-14s -\n", label);
}

/* ------------------------------------------------------------- model */

static void print_model_text(const rz_model_desc *d) {
    printf("\nmodel:\n");
    if (d->recurrent) {
        printf("  %-22s %.1f KiB per sequence, whatever its length (no KV cache)\n", "recurrent state",
               (double)d->state_bytes / 1024);
        if (d->n_ff > 0) printf("  %-22s %d\n", "feed-forward", d->n_ff);
        printf("  %-22s %s%s, output %s\n", "weights", rz_type_name(d->weight_type),
               d->tied_output ? " (tied output)" : "", rz_type_name(d->output_type));
        return;
    }
    printf("  %-22s %d x %d = %d query, %d x %d = %d key/value\n", "heads", d->n_head, d->head_dim,
           d->n_head * d->head_dim, d->n_head_kv, d->head_dim, d->n_head_kv * d->head_dim);
    printf("  %-22s %s, %d of %d dims, base %g", "rope", d->rope_neox ? "neox" : "normal", d->n_rot,
           d->head_dim, (double)d->rope_freq_base);
    if (d->rope_freq_scale != 1.0f) printf(", linear scale 1/%g", 1.0 / (double)d->rope_freq_scale);
    if (d->rope_factors) printf(", rope_freqs factors");
    printf("\n");
    if (d->n_swa > 0) {
        printf("  %-22s %d", "sliding window", d->n_swa);
        if (d->swa_pattern > 0)
            printf(" on %d of every %d layers", d->swa_pattern - 1, d->swa_pattern);
        else
            printf(" on every layer");
        if (d->rope_freq_base_swa > 0.0f) printf(", rope base %g there", (double)d->rope_freq_base_swa);
        printf("\n");
    }
    if (d->attn_softcap > 0.0f || d->final_softcap > 0.0f)
        printf("  %-22s attention %g, final %g\n", "soft-caps", (double)d->attn_softcap,
               (double)d->final_softcap);
    if (d->n_expert > 0)
        printf("  %-22s %d (%d used, weights %s) of %d\n", "experts", d->n_expert, d->n_expert_used,
               d->expert_weights_norm ? "renormalized" : "as routed", d->n_ff_exp);
    else
        printf("  %-22s %d\n", "feed-forward", d->n_ff);
    printf("  %-22s %s%s, output %s\n", "weights", rz_type_name(d->weight_type),
           d->tied_output ? " (tied output)" : "", rz_type_name(d->output_type));
}

static void add_model_json(cJSON *o, const rz_model_desc *d) {
    cJSON_AddBoolToObject(o, "recurrent", d->recurrent);
    cJSON_AddNumberToObject(o, "state_bytes", (double)d->state_bytes);
    cJSON_AddNumberToObject(o, "head_dim", d->head_dim);
    cJSON_AddNumberToObject(o, "q_dim", (double)d->n_head * d->head_dim);
    cJSON_AddNumberToObject(o, "kv_dim", (double)d->n_head_kv * d->head_dim);
    cJSON_AddNumberToObject(o, "n_rot", d->n_rot);
    cJSON_AddStringToObject(o, "rope_style", d->rope_neox ? "neox" : "normal");
    cJSON_AddNumberToObject(o, "rope_freq_base", d->rope_freq_base);
    cJSON_AddNumberToObject(o, "rope_freq_scale", d->rope_freq_scale);
    cJSON_AddBoolToObject(o, "rope_factors", d->rope_factors);
    cJSON_AddNumberToObject(o, "sliding_window", d->n_swa);
    cJSON_AddNumberToObject(o, "sliding_window_pattern", d->swa_pattern);
    cJSON_AddNumberToObject(o, "rope_freq_base_swa", d->rope_freq_base_swa);
    cJSON_AddNumberToObject(o, "attn_softcap", d->attn_softcap);
    cJSON_AddNumberToObject(o, "final_softcap", d->final_softcap);
    cJSON_AddNumberToObject(o, "n_ff", d->n_ff);
    cJSON_AddNumberToObject(o, "n_expert", d->n_expert);
    cJSON_AddNumberToObject(o, "n_expert_used", d->n_expert_used);
    cJSON_AddNumberToObject(o, "n_ff_exp", d->n_ff_exp);
    cJSON_AddBoolToObject(o, "expert_weights_norm", d->expert_weights_norm);
    cJSON_AddNumberToObject(o, "rms_eps", d->rms_eps);
    cJSON_AddStringToObject(o, "weight_type", rz_type_name(d->weight_type));
    cJSON_AddStringToObject(o, "output_type", rz_type_name(d->output_type));
    cJSON_AddBoolToObject(o, "tied_output", d->tied_output);
}

static void print_gguf_text(const rz_gguf *g, const gguf_summary *s, const rz_model_desc *desc) {
    if (desc && strcmp(desc->format, "hf") == 0)
        printf("format:         Hugging Face directory (read as the GGUF llama.cpp's converter writes)\n");
    else if (desc && strcmp(desc->format, "rwkv.cpp") == 0)
        printf("format:         rwkv.cpp model file (read as GGUF)\n");
    else
        printf("format:         GGUF v%u (alignment %llu, data at offset %llu, %llu bytes)\n",
               rz_gguf_version(g), (unsigned long long)rz_gguf_alignment(g),
               (unsigned long long)rz_gguf_data_offset(g), (unsigned long long)rz_gguf_file_size(g));
    printf("architecture:   %s\n", s->arch[0] ? s->arch : "-");
    printf("name:           %s\n", s->name[0] ? s->name : "-");
    if (s->has_file_type)
        printf("file type:      %u (%s)\n", s->file_type, file_type_name(s->file_type));
    else
        printf("file type:      -\n");
    printf("\nhyperparameters:\n");
    print_keys(g, s->arch, KEY_HPARAM);
    if (desc) print_model_text(desc);
    printf("\ntokenizer:\n");
    printf("  %-14s %s\n", "model", s->tok_model[0] ? s->tok_model : "-");
    printf("  %-14s %s\n", "pre", s->tok_pre[0] ? s->tok_pre : "-");
    print_id("tokens", s->n_tokens);
    print_id("merges", s->n_merges);
    print_id("bos id", s->bos);
    print_id("eos id", s->eos);
    print_id("unk id", s->unk);
    printf("  %-14s %s\n", "chat template", s->chat_template ? "yes" : "no");
    printf("\nother metadata:\n");
    print_keys(g, s->arch, KEY_OTHER);
    printf("\ntensors:\n");
    printf("  %-32s %-8s %-24s %12s\n", "name", "type", "shape", "bytes");
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        char shape[128];
        size_t k = 0;
        for (uint32_t d = 0; d < t->n_dims; d++)
            k += (size_t)snprintf(shape + k, sizeof shape - k, d ? " x %llu" : "%llu",
                                  (unsigned long long)t->ne[d]);
        if (t->n_dims == 0) snprintf(shape, sizeof shape, "scalar");
        char *name = printable(t->name, 0);
        printf("  %-32s %-8s %-24s %12llu\n", name ? name : "", rz_type_name(t->type), shape,
               (unsigned long long)t->size);
        free(name);
    }
    printf(
        "\ntotals:         %llu tensors, %llu parameters, %llu bytes, %.3f bytes/weight (%.3f bits/weight)\n",
        (unsigned long long)rz_gguf_tensor_count(g), (unsigned long long)s->n_params,
        (unsigned long long)s->n_bytes, bits_per_weight(s) / 8, bits_per_weight(s));
}

static void add_keys_json(cJSON *object, const rz_gguf *g, const char *arch, key_group group) {
    for (uint64_t i = 0; i < rz_gguf_kv_count(g); i++) {
        rz_str key = rz_gguf_kv_key(g, i);
        if (group_of(key, arch) != group) continue;
        char *name = c_string(key);
        if (name) cJSON_AddItemToObject(object, name, json_value(rz_gguf_kv_value(g, i), true));
        free(name);
    }
}

static void add_id_json(cJSON *object, const char *name, int64_t id) {
    if (id >= 0)
        cJSON_AddNumberToObject(object, name, (double)id);
    else
        cJSON_AddNullToObject(object, name);
}

static void print_gguf_json(const rz_gguf *g, const gguf_summary *s, const rz_model_desc *desc) {
    cJSON *root = cJSON_CreateObject();
    const bool view = desc && (strcmp(desc->format, "hf") == 0 || strcmp(desc->format, "rwkv.cpp") == 0);
    cJSON_AddStringToObject(root, "format", view ? desc->format : "gguf");
    cJSON_AddNumberToObject(root, "version", rz_gguf_version(g));
    cJSON_AddNumberToObject(root, "alignment", (double)rz_gguf_alignment(g));
    cJSON_AddNumberToObject(root, "data_offset", (double)rz_gguf_data_offset(g));
    cJSON_AddNumberToObject(root, "file_size", (double)rz_gguf_file_size(g));
    cJSON_AddStringToObject(root, "architecture", s->arch);
    cJSON_AddStringToObject(root, "name", s->name);
    if (s->has_file_type) {
        cJSON_AddNumberToObject(root, "file_type", s->file_type);
        cJSON_AddStringToObject(root, "file_type_name", file_type_name(s->file_type));
    }
    add_keys_json(cJSON_AddObjectToObject(root, "hyperparameters"), g, s->arch, KEY_HPARAM);
    if (desc) add_model_json(cJSON_AddObjectToObject(root, "model"), desc);
    cJSON *tok = cJSON_AddObjectToObject(root, "tokenizer");
    cJSON_AddStringToObject(tok, "model", s->tok_model);
    cJSON_AddStringToObject(tok, "pre", s->tok_pre);
    add_id_json(tok, "tokens", s->n_tokens);
    add_id_json(tok, "merges", s->n_merges);
    add_id_json(tok, "bos_token_id", s->bos);
    add_id_json(tok, "eos_token_id", s->eos);
    add_id_json(tok, "unknown_token_id", s->unk);
    cJSON_AddBoolToObject(tok, "chat_template", s->chat_template);
    add_keys_json(cJSON_AddObjectToObject(root, "metadata"), g, s->arch, KEY_OTHER);
    cJSON *tensors = cJSON_AddArrayToObject(root, "tensors");
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        cJSON *item = cJSON_CreateObject();
        char *name = c_string(t->name);
        cJSON_AddStringToObject(item, "name", name ? name : "");
        free(name);
        cJSON_AddStringToObject(item, "type", rz_type_name(t->type));
        cJSON *shape = cJSON_AddArrayToObject(item, "shape");
        for (uint32_t d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddNumberToObject(item, "offset", (double)t->offset);
        cJSON_AddNumberToObject(item, "bytes", (double)t->size);
        cJSON_AddItemToArray(tensors, item);
    }
    cJSON *totals = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(totals, "tensors", (double)rz_gguf_tensor_count(g));
    cJSON_AddNumberToObject(totals, "parameters", (double)s->n_params);
    cJSON_AddNumberToObject(totals, "bytes", (double)s->n_bytes);
    cJSON_AddNumberToObject(totals, "bytes_per_weight", bits_per_weight(s) / 8);
    cJSON_AddNumberToObject(totals, "bits_per_weight", bits_per_weight(s));
    char *text = cJSON_Print(root);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(root);
}

/* A GGUF file, or a Hugging Face directory or rwkv.cpp file as the GGUF it
 * stands for. A file with weights is described as the model the engine
 * makes of it (mapped, not copied): one that would not load, e.g. of an
 * unsupported architecture, fails here as it would in rz run.
 * Vocabulary-only files have no model part. */
static int info_gguf(const char *path, bool json) {
    rz_gguf *g;
    const rz_status opened = rz_hf_probe(path)         ? rz_hf_open(path, &g)
                             : rz_rwkv_cpp_probe(path) ? rz_rwkv_cpp_open(path, &g)
                                                       : rz_gguf_open(path, &g);
    if (opened != RZ_OK) return rz_cli_fail("info", path);
    rz_model *model = NULL;
    if (rz_gguf_tensor_count(g) > 0) {
        rz_model_params mp = rz_model_default_params();
        mp.no_repack = true;
        if (rz_model_load(path, &mp, &model) != RZ_OK) {
            rz_gguf_close(g);
            return rz_cli_fail("info", "cannot load model");
        }
    }
    const rz_model_desc *d = model ? rz_model_describe(model) : NULL;
    gguf_summary s;
    summarize(g, &s);
    if (json)
        print_gguf_json(g, &s, d);
    else
        print_gguf_text(g, &s, d);
    rz_model_free(model);
    rz_gguf_close(g);
    return 0;
}

/* ------------------------------------------------------------ dispatch */

int rz_cmd_info(int argc, char **argv) {
    bool cpu = false, json = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cpu") == 0)
            cpu = true;
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: rz info MODEL [--json]\n       rz info --cpu [--json]\n");
            return 0;
        } else if (argv[i][0] == '-')
            return rz_cli_usage_error("info", "unknown option '%s'", argv[i]);
        else if (!path)
            path = argv[i];
        else
            return rz_cli_usage_error("info", "more than one model given");
    }
    if (cpu) {
        if (json)
            print_cpu_json();
        else
            print_cpu_text();
        return 0;
    }
    if (!path) return rz_cli_usage_error("info", "no model given (usage: rz info MODEL [--json])");
    if (rz_gguf_probe(path) || rz_hf_probe(path) || rz_rwkv_cpp_probe(path)) return info_gguf(path, json);
    /* llama2.c checkpoints have no magic: try the header. */
    return rz_info_llama2c(path, json);
}
