/* libFuzzer target: the PyTorch checkpoint reader (zip, then the restricted
 * unpickler) on arbitrary bytes, then every tensor it accepted. */
#include <stdlib.h>
#include <string.h>

#include "format/hf.h"

static volatile uint64_t sink;

static uint64_t element_bytes(const char *dtype) {
    static const struct {
        const char *name;
        uint64_t bytes;
    } sizes[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I8", 1},
                 {"U8", 1},  {"I16", 2}, {"I32", 4},  {"I64", 8}, {"BOOL", 1}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(sizes[i].name, dtype) == 0) return sizes[i].bytes;
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rz_torch *t;
    if (rz_torch_open_memory(data, size, &t) != RZ_OK) {
        /* Messages must be one line. */
        if (strchr(rz_last_error(), '\n') || !rz_last_error()[0]) abort();
        return 0;
    }
    for (uint64_t i = 0; i < rz_torch_tensor_count(t); i++) {
        const rz_hf_tensor *x = rz_torch_tensor_at(t, i);
        uint64_t n = 1;
        for (int d = 0; d < RZ_MAX_DIMS; d++)
            n *= x->ne[d];
        /* The view lies inside the input, and its size matches its shape. */
        const uint8_t *p = x->data;
        if (p < data || x->size > size || (size_t)(p - data) > size - x->size) abort();
        if (x->n_dims > RZ_MAX_DIMS || n * element_bytes(x->dtype) != x->size) abort();
        if (x->size) sink += p[0] + p[x->size - 1];
        sink += strlen(x->name);
    }
    rz_torch_tensor_at(t, rz_torch_tensor_count(t));
    rz_torch_close(t);
    return 0;
}
