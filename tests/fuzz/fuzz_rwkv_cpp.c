/* libFuzzer target: rwkv.cpp's model container read as GGUF on arbitrary
 * bytes; every tensor of an accepted view is read end to end. */
#include <stdlib.h>
#include <string.h>

#include "format/rwkv_cpp.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rz_gguf *g;
    if (rz_rwkv_cpp_open_memory(data, size, &g) != RZ_OK) {
        /* Messages must be one line. */
        if (strchr(rz_last_error(), '\n') || !rz_last_error()[0]) abort();
        return 0;
    }
    for (uint64_t i = 0; i < rz_gguf_kv_count(g); i++)
        sink += rz_gguf_kv_key(g, i).len;
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        const uint8_t *p = t->data;
        for (uint64_t k = 0; k < t->size; k++)
            sink += p[k];
    }
    rz_gguf_close(g);
    return 0;
}
