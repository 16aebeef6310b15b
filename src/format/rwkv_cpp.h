/* rwkv.cpp's own model files (magic "ggmf", versions 100 and 101) read as
 * GGUF: RWKV v7 as llama.cpp's "rwkv7", RWKV v5.2 as "rwkv5" (ours: llama.cpp
 * has no v5), with a byte-level tokenizer for 256-token vocabularies. */
#ifndef RZ_FORMAT_RWKV_CPP_H
#define RZ_FORMAT_RWKV_CPP_H

#include <stddef.h>

#include "ryzanstein.h"

/* rz_rwkv_cpp_open for a file's bytes in memory (fuzzing, tests); `data`
 * must outlive the result. */
rz_status rz_rwkv_cpp_open_memory(const void *data, size_t size, rz_gguf **out);

#endif
