/* libFuzzer target: the GGUF reader on arbitrary bytes, then every accessor
 * on whatever it accepted. */
#include <stdlib.h>
#include <string.h>

#include "ryzanstein.h"

static volatile uint64_t sink;

static void walk_value(const rz_gguf_value *v) {
    /* The double's bits, not a conversion: a float-to-integer cast of an
     * out-of-range value is undefined behaviour in the harness itself. */
    const double f = rz_gguf_value_f64(v);
    uint64_t f_bits;
    memcpy(&f_bits, &f, sizeof f_bits);
    sink += rz_gguf_value_u64(v) + (uint64_t)rz_gguf_value_i64(v) + f_bits;
    rz_str s = rz_gguf_value_str(v);
    if (s.len) sink += (unsigned char)s.ptr[0] + (unsigned char)s.ptr[s.len - 1];
    if (rz_gguf_value_type(v) != RZ_GGUF_ARRAY) return;
    uint64_t n = rz_gguf_array_len(v);
    const unsigned char *raw = rz_gguf_array_data(v);
    if (raw && n) sink += raw[0];
    for (uint64_t i = 0; i < n; i++) {
        rz_str e = rz_gguf_array_str(v, i);
        if (e.len) sink += (unsigned char)e.ptr[e.len - 1];
        const rz_gguf_value *elem = rz_gguf_array_elem(v, i);
        if (elem) walk_value(elem);
    }
}

static void try_getters(const rz_gguf *g, const char *key) {
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
        float f32;
        double f64;
        bool b;
        rz_str s;
        const rz_gguf_value *v;
    } out;
    rz_gguf_get_u8(g, key, &out.u8);
    rz_gguf_get_i8(g, key, &out.i8);
    rz_gguf_get_u16(g, key, &out.u16);
    rz_gguf_get_i16(g, key, &out.i16);
    rz_gguf_get_u32(g, key, &out.u32);
    rz_gguf_get_i32(g, key, &out.i32);
    rz_gguf_get_u64(g, key, &out.u64);
    rz_gguf_get_i64(g, key, &out.i64);
    rz_gguf_get_f32(g, key, &out.f32);
    rz_gguf_get_f64(g, key, &out.f64);
    rz_gguf_get_bool(g, key, &out.b);
    rz_gguf_get_str(g, key, &out.s);
    for (int t = 0; t < RZ_GGUF_TYPE_COUNT; t++)
        rz_gguf_get_array(g, key, (rz_gguf_type)t, &out.v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rz_gguf *g;
    if (rz_gguf_open_memory(data, size, &g) != RZ_OK) {
        /* Messages must be one line. */
        if (strchr(rz_last_error(), '\n') || !rz_last_error()[0]) abort();
        return 0;
    }
    sink += rz_gguf_version(g) + rz_gguf_alignment(g) + rz_gguf_data_offset(g) + rz_gguf_file_size(g);
    for (uint64_t i = 0; i < rz_gguf_kv_count(g); i++) {
        rz_str key = rz_gguf_kv_key(g, i);
        sink += rz_gguf_kv_type(g, i);
        walk_value(rz_gguf_kv_value(g, i));
        char *name = malloc(key.len + 1);
        if (!name) continue;
        memcpy(name, key.ptr, key.len);
        name[key.len] = '\0';
        /* Keys with an embedded NUL are not reachable by C-string lookup. */
        if (strlen(name) == key.len) {
            if (rz_gguf_find_key(g, name) != (int64_t)i) abort();
            try_getters(g, name);
        }
        free(name);
    }
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
        if (t->size) {
            const unsigned char *p = t->data;
            sink += p[0] + p[t->size - 1];
        }
        char *name = malloc(t->name.len + 1);
        if (!name) continue;
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = '\0';
        if (strlen(name) == t->name.len && rz_gguf_find_tensor(g, name) != t) abort();
        free(name);
    }
    rz_gguf_find_tensor(g, "missing");
    rz_gguf_close(g);
    return 0;
}
