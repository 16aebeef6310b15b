/* The byte-string hash of the lookup tables (GGUF keys and tensor names,
 * vocabularies, merges): 64-bit FNV-1a. */
#ifndef RZ_BASE_HASH_H
#define RZ_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t rz_hash_bytes(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

#endif
