/* libFuzzer target: a Hugging Face model as GGUF, from a config.json and a
 * safetensors file both taken from the input (a 2-byte little-endian length
 * of the config text, the text, then the safetensors bytes). */
#include <stdlib.h>
#include <string.h>

#include "format/hf.h"

static volatile uint64_t sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const size_t config_len = (size_t)data[0] | (size_t)data[1] << 8;
    if (config_len > size - 2) return 0;
    rz_gguf *g;
    if (rz_hf_open_memory((const char *)data + 2, config_len, data + 2 + config_len, size - 2 - config_len,
                          &g) != RZ_OK) {
        if (strchr(rz_last_error(), '\n') || !rz_last_error()[0]) abort();
        return 0;
    }
    for (uint64_t i = 0; i < rz_gguf_kv_count(g); i++)
        sink += rz_gguf_kv_key(g, i).len;
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        if (t->size) sink += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->size - 1];
    }
    rz_gguf_close(g);
    return 0;
}
