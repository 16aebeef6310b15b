/* rz tensor: write one tensor of a model as little-endian float32. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A tensor as a source hands it over: type and raw bytes in stored order. */
typedef struct tensor_view {
    rz_type type;
    const void *data;
    uint64_t n_elements;
    uint64_t size; /* bytes */
} tensor_view;

static int find_in_gguf(const char *path, const char *name, rz_gguf **file, tensor_view *out) {
    if (rz_gguf_open(path, file) != RZ_OK) return rz_cli_fail("tensor", path);
    const rz_gguf_tensor *t = rz_gguf_find_tensor(*file, name);
    if (!t) {
        fprintf(stderr, "rz tensor: no tensor '%s' in '%s'\n", name, path);
        return 1;
    }
    *out = (tensor_view){.type = t->type, .data = t->data, .n_elements = t->n_elements, .size = t->size};
    return 0;
}

/* llama2.c checkpoints hold float32 tensors under llama.cpp's names. */
static int find_in_llama2c(const char *path, const char *name, rz_llama2c **file, tensor_view *out) {
    if (rz_llama2c_open(path, file) != RZ_OK) return rz_cli_fail("tensor", path);
    for (uint64_t i = 0; i < rz_llama2c_tensor_count(*file); i++) {
        const rz_llama2c_tensor *t = rz_llama2c_tensor_at(*file, i);
        if (strcmp(t->name, name) != 0) continue;
        const uint64_t n = t->ne[0] * (t->n_dims > 1 ? t->ne[1] : 1);
        *out =
            (tensor_view){.type = RZ_TYPE_F32, .data = t->data, .n_elements = n, .size = n * sizeof(float)};
        return 0;
    }
    fprintf(stderr, "rz tensor: no tensor '%s' in '%s'\n", name, path);
    return 1;
}

/* Dequantizes a slice of blocks at a time so that big tensors need no
 * tensor-sized buffer; a type with a per-tensor trailer (the bytes exceed
 * blocks * block bytes) is decoded whole, since every slice needs it. */
static int write_floats(const tensor_view *t, const char *name, FILE *out) {
    const uint64_t block = rz_type_block_size(t->type), block_bytes = rz_type_block_bytes(t->type);
    uint64_t chunk = t->n_elements;
    if (t->size == t->n_elements / block * block_bytes) {
        const uint64_t want = (uint64_t)1 << 20;
        chunk = want < t->n_elements ? want / block * block : t->n_elements;
    }
    float *buf = malloc((chunk ? chunk : 1) * sizeof *buf);
    if (!buf) {
        fprintf(stderr, "rz tensor: out of memory for '%s'\n", name);
        return 1;
    }
    int rc = 0;
    for (uint64_t done = 0; done < t->n_elements && rc == 0; done += chunk) {
        const uint64_t n = t->n_elements - done < chunk ? t->n_elements - done : chunk;
        const unsigned char *src = (const unsigned char *)t->data + done / block * block_bytes;
        if (rz_dequantize(t->type, src, buf, n) != RZ_OK)
            rc = rz_cli_fail("tensor", name);
        else if (fwrite(buf, sizeof *buf, n, out) != n) {
            fprintf(stderr, "rz tensor: write failed: %s\n", strerror(errno));
            rc = 1;
        }
    }
    free(buf);
    return rc;
}

static int write_tensor(const tensor_view *t, const char *name, const char *out_path) {
    if (!rz_type_can_dequantize(t->type)) {
        const char *type = rz_type_name(t->type);
        fprintf(stderr, "rz tensor: cannot dequantize '%s': type %s is not supported\n", name,
                type ? type : "(unknown)");
        return 1;
    }
    FILE *out = fopen(out_path, "wb");
    if (!out) {
        fprintf(stderr, "rz tensor: cannot create '%s': %s\n", out_path, strerror(errno));
        return 1;
    }
    int rc = write_floats(t, name, out);
    if (fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "rz tensor: write failed: %s\n", strerror(errno));
        rc = 1;
    }
    if (rc != 0) remove(out_path);
    return rc;
}

int rz_cmd_tensor(int argc, char **argv) {
    const char *model = NULL, *name = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: rz tensor MODEL NAME -o FILE\n"
                   "MODEL is a GGUF file or a llama2.c checkpoint; writes tensor NAME as little-endian "
                   "float32 values in stored order\n");
            return 0;
        } else if (strcmp(argv[i], "-o") == 0) {
            if (i + 1 == argc) return rz_cli_usage_error("tensor", "-o needs a file name");
            out_path = argv[++i];
        } else if (argv[i][0] == '-')
            return rz_cli_usage_error("tensor", "unknown option '%s'", argv[i]);
        else if (!model)
            model = argv[i];
        else if (!name)
            name = argv[i];
        else
            return rz_cli_usage_error("tensor", "unexpected argument '%s'", argv[i]);
    }
    if (!model || !name || !out_path)
        return rz_cli_usage_error("tensor", "usage: rz tensor MODEL NAME -o FILE");
    rz_gguf *gguf = NULL;
    rz_llama2c *llama2c = NULL;
    tensor_view view = {0};
    int rc = rz_gguf_probe(model) ? find_in_gguf(model, name, &gguf, &view)
                                  : find_in_llama2c(model, name, &llama2c, &view);
    if (rc == 0) rc = write_tensor(&view, name, out_path);
    rz_gguf_close(gguf);
    rz_llama2c_close(llama2c);
    return rc;
}
