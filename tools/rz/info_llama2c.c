/* rz info on a llama2.c checkpoint: its header and the tensors it holds,
 * under the llama.cpp names `rz convert` gives them. */
#include <stdio.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"

typedef struct config_field {
    const char *name;
    int32_t value;
} config_field;

enum { N_FIELDS = 8 };

static void config_fields(const rz_llama2c_config *c, config_field f[N_FIELDS]) {
    const config_field fields[N_FIELDS] = {
        {"dim", c->dim},
        {"hidden_dim", c->hidden_dim},
        {"n_layers", c->n_layers},
        {"n_heads", c->n_heads},
        {"n_kv_heads", c->n_kv_heads},
        {"head_size", c->dim / c->n_heads},
        {"vocab_size", c->vocab_size},
        {"seq_len", c->seq_len},
    };
    for (int i = 0; i < N_FIELDS; i++)
        f[i] = fields[i];
}

static uint64_t tensor_elements(const rz_llama2c_tensor *t) { return t->ne[0] * t->ne[1]; }

static uint64_t total_elements(const rz_llama2c *m) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < rz_llama2c_tensor_count(m); i++)
        n += tensor_elements(rz_llama2c_tensor_at(m, i));
    return n;
}

static void print_text(const rz_llama2c *m, uint64_t file_size) {
    const rz_llama2c_config *c = rz_llama2c_get_config(m);
    config_field fields[N_FIELDS];
    config_fields(c, fields);
    printf("format:         llama2.c checkpoint (legacy v0 header, %llu bytes)\n",
           (unsigned long long)file_size);
    printf("architecture:   llama (as converted by rz convert)\n");
    printf("\nhyperparameters:\n");
    for (int i = 0; i < N_FIELDS; i++)
        printf("  %-14s %d\n", fields[i].name, fields[i].value);
    printf("  %-14s %s\n", "classifier", c->shared_classifier ? "shared with token_embd" : "separate");
    printf("\ntensors:\n");
    printf("  %-32s %-8s %-24s %12s\n", "name", "type", "shape", "bytes");
    for (uint64_t i = 0; i < rz_llama2c_tensor_count(m); i++) {
        const rz_llama2c_tensor *t = rz_llama2c_tensor_at(m, i);
        char shape[64];
        if (t->n_dims == 2)
            snprintf(shape, sizeof shape, "%llu x %llu", (unsigned long long)t->ne[0],
                     (unsigned long long)t->ne[1]);
        else
            snprintf(shape, sizeof shape, "%llu", (unsigned long long)t->ne[0]);
        printf("  %-32s %-8s %-24s %12llu\n", t->name, "f32", shape,
               (unsigned long long)(tensor_elements(t) * sizeof(float)));
    }
    const uint64_t n = total_elements(m);
    printf("\ntotals:         %llu tensors, %llu parameters, %llu bytes, 4.000 bytes/weight (32.000 "
           "bits/weight)\n",
           (unsigned long long)rz_llama2c_tensor_count(m), (unsigned long long)n,
           (unsigned long long)(n * sizeof(float)));
}

static void print_json(const rz_llama2c *m, uint64_t file_size) {
    const rz_llama2c_config *c = rz_llama2c_get_config(m);
    config_field fields[N_FIELDS];
    config_fields(c, fields);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", "llama2c");
    cJSON_AddNumberToObject(root, "version", 0);
    cJSON_AddNumberToObject(root, "file_size", (double)file_size);
    cJSON_AddStringToObject(root, "architecture", "llama");
    cJSON *hp = cJSON_AddObjectToObject(root, "hyperparameters");
    for (int i = 0; i < N_FIELDS; i++)
        cJSON_AddNumberToObject(hp, fields[i].name, fields[i].value);
    cJSON_AddBoolToObject(hp, "shared_classifier", c->shared_classifier);
    cJSON *tensors = cJSON_AddArrayToObject(root, "tensors");
    for (uint64_t i = 0; i < rz_llama2c_tensor_count(m); i++) {
        const rz_llama2c_tensor *t = rz_llama2c_tensor_at(m, i);
        cJSON *item = cJSON_CreateObject();
        cJSON_AddStringToObject(item, "name", t->name);
        cJSON_AddStringToObject(item, "type", "f32");
        cJSON *shape = cJSON_AddArrayToObject(item, "shape");
        for (uint32_t d = 0; d < t->n_dims; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddNumberToObject(item, "bytes", (double)(tensor_elements(t) * sizeof(float)));
        cJSON_AddItemToArray(tensors, item);
    }
    const uint64_t n = total_elements(m);
    cJSON *totals = cJSON_AddObjectToObject(root, "totals");
    cJSON_AddNumberToObject(totals, "tensors", (double)rz_llama2c_tensor_count(m));
    cJSON_AddNumberToObject(totals, "parameters", (double)n);
    cJSON_AddNumberToObject(totals, "bytes", (double)(n * sizeof(float)));
    cJSON_AddNumberToObject(totals, "bytes_per_weight", 4);
    cJSON_AddNumberToObject(totals, "bits_per_weight", 32);
    char *text = cJSON_Print(root);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(root);
}

int rz_info_llama2c(const char *path, bool json) {
    rz_llama2c *m;
    if (rz_llama2c_open(path, &m) != RZ_OK) {
        fprintf(stderr, "rz info: '%s' is not GGUF, nor a llama2.c checkpoint: %s\n", path, rz_last_error());
        return 1;
    }
    struct stat st;
    const uint64_t file_size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (json)
        print_json(m, file_size);
    else
        print_text(m, file_size);
    rz_llama2c_close(m);
    return 0;
}
