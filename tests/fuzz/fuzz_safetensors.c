/* libFuzzer target: the safetensors reader on arbitrary bytes; every tensor
 * it accepts must lie inside the input. */
#include <stdlib.h>
#include <string.h>

#include "format/hf.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rz_safetensors *st;
    if (rz_safetensors_open_memory(data, size, &st) != RZ_OK) {
        if (strchr(rz_last_error(), '\n') || !rz_last_error()[0]) abort();
        return 0;
    }
    for (uint64_t i = 0; i < rz_safetensors_tensor_count(st); i++) {
        const rz_hf_tensor *t = rz_safetensors_tensor_at(st, i);
        const uint8_t *p = t->data;
        if (p < data || p + t->size > data + size) abort();
        if (t->size) sink += p[0] + p[t->size - 1];
        sink += strlen(t->name) + t->ne[0] + t->type;
    }
    rz_safetensors_close(st);
    return 0;
}
