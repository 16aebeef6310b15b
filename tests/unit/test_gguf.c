/* GGUF reader and writer: round trips, accessor errors, the shared files,
 * hand-made malformed files and a deterministic corrupted-file replay. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

/* ------------------------------------------------------------ raw bytes */

typedef struct bytes {
    unsigned char *data;
    size_t len, cap;
} bytes;

static void put(bytes *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 64;
        b->data = realloc(b->data, b->cap);
        assert_non_null(b->data);
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}
static void put_tensor_info(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                            uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++)
        put_u64(b, ne[d]);
    put_u32(b, type);
    put_u64(b, offset);
}
static void pad_to(bytes *b, size_t alignment) {
    static const unsigned char zero[64];
    while (b->len % alignment)
        put(b, zero, 1);
}
static void put_zeros(bytes *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        put(b, "", 1);
}

/* A key holding [[1, 2], [3], []] of u16 plus [["x", "yz"]]: the writer has
 * no direct API for nested arrays, so the sample copies these via add_value. */
static bytes nested_source(void) {
    bytes b = {0};
    put_header(&b, 3, 0, 2);
    put_str(&b, "nested.ints");
    put_u32(&b, RZ_GGUF_ARRAY);
    put_u32(&b, RZ_GGUF_ARRAY);
    put_u64(&b, 3);
    const uint16_t v[] = {1, 2, 3};
    put_u32(&b, RZ_GGUF_UINT16), put_u64(&b, 2), put(&b, v, 4);
    put_u32(&b, RZ_GGUF_UINT16), put_u64(&b, 1), put(&b, v + 2, 2);
    put_u32(&b, RZ_GGUF_UINT16), put_u64(&b, 0);
    put_str(&b, "nested.strs");
    put_u32(&b, RZ_GGUF_ARRAY);
    put_u32(&b, RZ_GGUF_ARRAY);
    put_u64(&b, 1);
    put_u32(&b, RZ_GGUF_STRING), put_u64(&b, 2), put_str(&b, "x"), put_str(&b, "yz");
    return b;
}

/* ------------------------------------------------------------ the sample */

typedef struct sample_tensor {
    const char *name;
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[4];
    uint64_t size;
} sample_tensor;

static const sample_tensor sample_tensors[] = {
    {"a.f32", RZ_TYPE_F32, 2, {7, 3}, 84},        {"b.f16", RZ_TYPE_F16, 1, {5}, 10},
    {"c.q8_0", RZ_TYPE_Q8_0, 2, {64, 3}, 6 * 34}, {"d.4d", RZ_TYPE_F32, 4, {1, 1, 1, 3}, 12},
    {"e.empty", RZ_TYPE_F16, 2, {0, 4}, 0},       {"f.i2_s", RZ_TYPE_I2_S, 2, {128, 2}, 64 + 32},
};
enum { N_SAMPLE_TENSORS = sizeof sample_tensors / sizeof sample_tensors[0] };

static unsigned char pattern(size_t tensor, uint64_t i) { return (unsigned char)(i * 31 + tensor * 7 + 1); }

static const uint8_t u8s[] = {0, 1, 255};
static const int8_t i8s[] = {-128, 0, 127};
static const uint16_t u16s[] = {0, 65535};
static const int16_t i16s[] = {-32768, 32767};
static const uint32_t u32s[] = {0, 4000000000u};
static const int32_t i32s[] = {-2000000000, 7};
static const float f32s[] = {1.5f, -0.25f, 3e38f};
static const uint8_t bools[] = {1, 0, 1};
static const uint64_t u64s[] = {UINT64_MAX, 0};
static const int64_t i64s[] = {INT64_MIN, INT64_MAX};
static const double f64s[] = {3.141592653589793, -1e300};

/* Writes the sample; tensor data goes in odd-sized chunks to exercise the
 * streaming writer across tensor boundaries. */
static void write_sample(const char *path, uint32_t alignment) {
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(path, &w));
    if (alignment) RZ_ASSERT_OK(rz_gguf_writer_set_alignment(w, alignment));
    RZ_ASSERT_OK(rz_gguf_writer_add_str(w, "general.architecture", "llama"));
    RZ_ASSERT_OK(rz_gguf_writer_add_u8(w, "t.u8", 200));
    RZ_ASSERT_OK(rz_gguf_writer_add_i8(w, "t.i8", -100));
    RZ_ASSERT_OK(rz_gguf_writer_add_u16(w, "t.u16", 60000));
    RZ_ASSERT_OK(rz_gguf_writer_add_i16(w, "t.i16", -30000));
    RZ_ASSERT_OK(rz_gguf_writer_add_u32(w, "t.u32", 4000000000u));
    RZ_ASSERT_OK(rz_gguf_writer_add_i32(w, "t.i32", -2000000000));
    RZ_ASSERT_OK(rz_gguf_writer_add_u64(w, "t.u64", UINT64_MAX));
    RZ_ASSERT_OK(rz_gguf_writer_add_i64(w, "t.i64", INT64_MIN));
    RZ_ASSERT_OK(rz_gguf_writer_add_f32(w, "t.f32", 0.1f));
    RZ_ASSERT_OK(rz_gguf_writer_add_f64(w, "t.f64", 0.1));
    RZ_ASSERT_OK(rz_gguf_writer_add_bool(w, "t.bool", true));
    RZ_ASSERT_OK(rz_gguf_writer_add_str(w, "t.str", "h\xc3\xa9llo"));
    RZ_ASSERT_OK(rz_gguf_writer_add_strn(w, "t.strn", "a\0b", 3));
    RZ_ASSERT_OK(rz_gguf_writer_add_str(w, "t.empty", ""));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.u8", RZ_GGUF_UINT8, u8s, 3));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.i8", RZ_GGUF_INT8, i8s, 3));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.u16", RZ_GGUF_UINT16, u16s, 2));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.i16", RZ_GGUF_INT16, i16s, 2));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.u32", RZ_GGUF_UINT32, u32s, 2));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.i32", RZ_GGUF_INT32, i32s, 2));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.f32", RZ_GGUF_FLOAT32, f32s, 3));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.bool", RZ_GGUF_BOOL, bools, 3));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.u64", RZ_GGUF_UINT64, u64s, 2));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.i64", RZ_GGUF_INT64, i64s, 2));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.f64", RZ_GGUF_FLOAT64, f64s, 2));
    RZ_ASSERT_OK(rz_gguf_writer_add_array(w, "a.none", RZ_GGUF_UINT32, NULL, 0));
    const rz_str strs[] = {{"one", 3}, {"", 0}, {"three", 5}};
    RZ_ASSERT_OK(rz_gguf_writer_add_str_array(w, "a.str", strs, 3));
    bytes src = nested_source();
    rz_gguf *nested;
    RZ_ASSERT_OK(rz_gguf_open_memory(src.data, src.len, &nested));
    RZ_ASSERT_OK(rz_gguf_writer_add_value(w, "a.nested", rz_gguf_kv_value(nested, 0)));
    RZ_ASSERT_OK(rz_gguf_writer_add_value(w, "a.nested_str", rz_gguf_kv_value(nested, 1)));
    rz_gguf_close(nested);
    free(src.data);
    for (size_t t = 0; t < N_SAMPLE_TENSORS; t++) {
        const sample_tensor *s = &sample_tensors[t];
        RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, s->name, s->type, s->n_dims, s->ne));
    }
    RZ_ASSERT_OK(rz_gguf_writer_begin_data(w));
    uint64_t total = 0;
    for (size_t t = 0; t < N_SAMPLE_TENSORS; t++)
        total += sample_tensors[t].size;
    unsigned char *all = malloc(total);
    uint64_t k = 0;
    for (size_t t = 0; t < N_SAMPLE_TENSORS; t++)
        for (uint64_t i = 0; i < sample_tensors[t].size; i++)
            all[k++] = pattern(t, i);
    for (uint64_t pos = 0; pos < total; pos += 13)
        RZ_ASSERT_OK(rz_gguf_writer_write(w, all + pos, total - pos < 13 ? total - pos : 13));
    free(all);
    RZ_ASSERT_OK(rz_gguf_writer_close(w));
}

static void check_sample(const rz_gguf *g, uint64_t alignment) {
    assert_int_equal(rz_gguf_version(g), 3);
    assert_int_equal(rz_gguf_alignment(g), alignment);
    assert_int_equal(rz_gguf_data_offset(g) % alignment, 0);
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
    RZ_ASSERT_OK(rz_gguf_get_u8(g, "t.u8", &u8));
    assert_int_equal(u8, 200);
    RZ_ASSERT_OK(rz_gguf_get_i8(g, "t.i8", &i8));
    assert_int_equal(i8, -100);
    RZ_ASSERT_OK(rz_gguf_get_u16(g, "t.u16", &u16));
    assert_int_equal(u16, 60000);
    RZ_ASSERT_OK(rz_gguf_get_i16(g, "t.i16", &i16));
    assert_int_equal(i16, -30000);
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "t.u32", &u32));
    assert_int_equal(u32, 4000000000u);
    RZ_ASSERT_OK(rz_gguf_get_i32(g, "t.i32", &i32));
    assert_int_equal(i32, -2000000000);
    RZ_ASSERT_OK(rz_gguf_get_u64(g, "t.u64", &u64));
    assert_true(u64 == UINT64_MAX);
    RZ_ASSERT_OK(rz_gguf_get_i64(g, "t.i64", &i64));
    assert_true(i64 == INT64_MIN);
    RZ_ASSERT_OK(rz_gguf_get_f32(g, "t.f32", &f32));
    assert_true(f32 == 0.1f);
    RZ_ASSERT_OK(rz_gguf_get_f64(g, "t.f64", &f64));
    assert_true(f64 == 0.1);
    RZ_ASSERT_OK(rz_gguf_get_bool(g, "t.bool", &b));
    assert_true(b);
    RZ_ASSERT_OK(rz_gguf_get_str(g, "t.str", &s));
    assert_int_equal(s.len, 6);
    assert_memory_equal(s.ptr, "h\xc3\xa9llo", 6);
    RZ_ASSERT_OK(rz_gguf_get_str(g, "t.strn", &s));
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.ptr, "a\0b", 3);
    RZ_ASSERT_OK(rz_gguf_get_str(g, "t.empty", &s));
    assert_int_equal(s.len, 0);

    const struct {
        const char *key;
        rz_gguf_type type;
        const void *data;
        uint64_t count, size;
    } arrays[] = {{"a.u8", RZ_GGUF_UINT8, u8s, 3, 1},     {"a.i8", RZ_GGUF_INT8, i8s, 3, 1},
                  {"a.u16", RZ_GGUF_UINT16, u16s, 2, 2},  {"a.i16", RZ_GGUF_INT16, i16s, 2, 2},
                  {"a.u32", RZ_GGUF_UINT32, u32s, 2, 4},  {"a.i32", RZ_GGUF_INT32, i32s, 2, 4},
                  {"a.f32", RZ_GGUF_FLOAT32, f32s, 3, 4}, {"a.bool", RZ_GGUF_BOOL, bools, 3, 1},
                  {"a.u64", RZ_GGUF_UINT64, u64s, 2, 8},  {"a.i64", RZ_GGUF_INT64, i64s, 2, 8},
                  {"a.f64", RZ_GGUF_FLOAT64, f64s, 2, 8}, {"a.none", RZ_GGUF_UINT32, NULL, 0, 4}};
    const rz_gguf_value *v;
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        RZ_ASSERT_OK(rz_gguf_get_array(g, arrays[i].key, arrays[i].type, &v));
        assert_int_equal(rz_gguf_array_len(v), arrays[i].count);
        if (arrays[i].count)
            assert_memory_equal(rz_gguf_array_data(v), arrays[i].data, arrays[i].count * arrays[i].size);
    }
    RZ_ASSERT_OK(rz_gguf_get_array(g, "a.i8", RZ_GGUF_INT8, &v));
    assert_int_equal(rz_gguf_value_i64(rz_gguf_array_elem(v, 0)), -128);
    RZ_ASSERT_OK(rz_gguf_get_array(g, "a.f64", RZ_GGUF_FLOAT64, &v));
    assert_true(rz_gguf_value_f64(rz_gguf_array_elem(v, 1)) == -1e300);
    assert_null(rz_gguf_array_elem(v, 2));
    RZ_ASSERT_OK(rz_gguf_get_array(g, "a.str", RZ_GGUF_STRING, &v));
    assert_int_equal(rz_gguf_array_len(v), 3);
    assert_null(rz_gguf_array_data(v));
    assert_int_equal(rz_gguf_array_str(v, 2).len, 5);
    assert_memory_equal(rz_gguf_array_str(v, 2).ptr, "three", 5);
    assert_int_equal(rz_gguf_array_str(v, 1).len, 0);
    assert_int_equal(rz_gguf_value_str(rz_gguf_array_elem(v, 0)).len, 3);
    RZ_ASSERT_OK(rz_gguf_get_array(g, "a.nested", RZ_GGUF_ARRAY, &v));
    assert_int_equal(rz_gguf_array_len(v), 3);
    const rz_gguf_value *inner = rz_gguf_array_elem(v, 0);
    assert_int_equal(rz_gguf_array_type(inner), RZ_GGUF_UINT16);
    assert_int_equal(rz_gguf_array_len(inner), 2);
    assert_int_equal(rz_gguf_value_u64(rz_gguf_array_elem(inner, 1)), 2);
    assert_int_equal(rz_gguf_array_len(rz_gguf_array_elem(v, 2)), 0);
    RZ_ASSERT_OK(rz_gguf_get_array(g, "a.nested_str", RZ_GGUF_ARRAY, &v));
    assert_int_equal(rz_gguf_array_str(rz_gguf_array_elem(v, 0), 1).len, 2);

    assert_int_equal(rz_gguf_tensor_count(g), N_SAMPLE_TENSORS);
    for (size_t t = 0; t < N_SAMPLE_TENSORS; t++) {
        const sample_tensor *st = &sample_tensors[t];
        const rz_gguf_tensor *x = rz_gguf_tensor_at(g, t);
        assert_ptr_equal(rz_gguf_find_tensor(g, st->name), x);
        assert_int_equal(x->name.len, strlen(st->name));
        assert_int_equal(x->type, st->type);
        assert_int_equal(x->n_dims, st->n_dims);
        for (uint32_t d = 0; d < st->n_dims; d++)
            assert_int_equal(x->ne[d], st->ne[d]);
        assert_int_equal(x->size, st->size);
        assert_int_equal(x->offset % alignment, 0);
        const unsigned char *p = x->data;
        for (uint64_t i = 0; i < x->size; i++)
            assert_int_equal(p[i], pattern(t, i));
    }
    assert_null(rz_gguf_find_tensor(g, "absent"));
    /* llama.cpp reads the data section padded to the alignment. */
    const rz_gguf_tensor *last = rz_gguf_tensor_at(g, N_SAMPLE_TENSORS - 1);
    assert_int_equal(rz_gguf_file_size(g), rz_gguf_data_offset(g) + last->offset +
                                               (last->size + alignment - 1) / alignment * alignment);
}

/* ------------------------------------------------------------ comparing */

static void assert_values_equal(const rz_gguf_value *a, const rz_gguf_value *b) {
    rz_gguf_type t = rz_gguf_value_type(a);
    assert_int_equal(t, rz_gguf_value_type(b));
    if (t == RZ_GGUF_STRING) {
        rz_str x = rz_gguf_value_str(a), y = rz_gguf_value_str(b);
        assert_int_equal(x.len, y.len);
        if (x.len) assert_memory_equal(x.ptr, y.ptr, x.len);
        return;
    }
    if (t != RZ_GGUF_ARRAY) {
        assert_true(rz_gguf_value_u64(a) == rz_gguf_value_u64(b));
        double x = rz_gguf_value_f64(a), y = rz_gguf_value_f64(b);
        assert_true(x == y || (isnan(x) && isnan(y)));
        return;
    }
    assert_int_equal(rz_gguf_array_type(a), rz_gguf_array_type(b));
    uint64_t n = rz_gguf_array_len(a);
    assert_int_equal(n, rz_gguf_array_len(b));
    const void *raw = rz_gguf_array_data(a);
    if (raw) {
        /* Element-wise through the scalar view: float bits and bool bytes compare by value. */
        for (uint64_t i = 0; i < n; i++)
            assert_values_equal(rz_gguf_array_elem(a, i), rz_gguf_array_elem(b, i));
        return;
    }
    for (uint64_t i = 0; i < n; i++) {
        if (rz_gguf_array_type(a) == RZ_GGUF_STRING) {
            rz_str x = rz_gguf_array_str(a, i), y = rz_gguf_array_str(b, i);
            assert_int_equal(x.len, y.len);
            if (x.len) assert_memory_equal(x.ptr, y.ptr, x.len);
        } else {
            assert_values_equal(rz_gguf_array_elem(a, i), rz_gguf_array_elem(b, i));
        }
    }
}

static void assert_gguf_equal(const rz_gguf *a, const rz_gguf *b) {
    assert_int_equal(rz_gguf_kv_count(a), rz_gguf_kv_count(b));
    for (uint64_t i = 0; i < rz_gguf_kv_count(a); i++) {
        rz_str x = rz_gguf_kv_key(a, i), y = rz_gguf_kv_key(b, i);
        assert_int_equal(x.len, y.len);
        assert_memory_equal(x.ptr, y.ptr, x.len);
        assert_values_equal(rz_gguf_kv_value(a, i), rz_gguf_kv_value(b, i));
    }
    assert_int_equal(rz_gguf_alignment(a), rz_gguf_alignment(b));
    assert_int_equal(rz_gguf_tensor_count(a), rz_gguf_tensor_count(b));
    for (uint64_t i = 0; i < rz_gguf_tensor_count(a); i++) {
        const rz_gguf_tensor *x = rz_gguf_tensor_at(a, i), *y = rz_gguf_tensor_at(b, i);
        assert_int_equal(x->name.len, y->name.len);
        assert_memory_equal(x->name.ptr, y->name.ptr, x->name.len);
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->n_dims, y->n_dims);
        assert_memory_equal(x->ne, y->ne, sizeof x->ne);
        assert_int_equal(x->size, y->size);
        if (x->size) assert_memory_equal(x->data, y->data, x->size);
    }
}

/* Reader -> writer (every kv via add_value, every tensor) -> reader. With
 * `identical`, the copy must also match the input byte for byte (files that
 * llama.cpp wrote: our layout and padding are the same as its). */
static void round_trip(const char *in_path, const char *out_path, bool identical) {
    rz_gguf *a, *b;
    RZ_ASSERT_OK(rz_gguf_open(in_path, &a));
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(out_path, &w));
    for (uint64_t i = 0; i < rz_gguf_kv_count(a); i++) {
        rz_str key = rz_gguf_kv_key(a, i);
        char name[256];
        assert_true(key.len < sizeof name);
        memcpy(name, key.ptr, key.len);
        name[key.len] = '\0';
        RZ_ASSERT_OK(rz_gguf_writer_add_value(w, name, rz_gguf_kv_value(a, i)));
    }
    for (uint64_t i = 0; i < rz_gguf_tensor_count(a); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(a, i);
        char name[64];
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = '\0';
        RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, name, t->type, t->n_dims, t->ne));
    }
    RZ_ASSERT_OK(rz_gguf_writer_begin_data(w));
    for (uint64_t i = 0; i < rz_gguf_tensor_count(a); i++) {
        const rz_gguf_tensor *t = rz_gguf_tensor_at(a, i);
        RZ_ASSERT_OK(rz_gguf_writer_write(w, t->data, t->size));
    }
    RZ_ASSERT_OK(rz_gguf_writer_close(w));
    RZ_ASSERT_OK(rz_gguf_open(out_path, &b));
    assert_gguf_equal(a, b);
    if (identical) {
        size_t n_in, n_out;
        void *x = rz_test_read_file(in_path, &n_in), *y = rz_test_read_file(out_path, &n_out);
        assert_int_equal(n_in, n_out);
        assert_memory_equal(x, y, n_in);
        free(x);
        free(y);
    }
    rz_gguf_close(a);
    rz_gguf_close(b);
}

/* ------------------------------------------------------------ tests */

static void test_write_read_sample(void **state) {
    (void)state;
    const uint32_t alignments[] = {0, 64, 1, 256};
    for (size_t i = 0; i < sizeof alignments / sizeof alignments[0]; i++) {
        const char *path = rz_test_temp_path("sample.gguf");
        write_sample(path, alignments[i]);
        rz_gguf *g;
        RZ_ASSERT_OK(rz_gguf_open(path, &g));
        uint64_t alignment = alignments[i] ? alignments[i] : RZ_GGUF_DEFAULT_ALIGNMENT;
        check_sample(g, alignment);
        rz_gguf_close(g);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s", rz_test_temp_path("sample64.gguf"));
    write_sample(path, 64);
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(path, &g));
    check_sample(g, 64);
    uint32_t a;
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "general.alignment", &a));
    assert_int_equal(a, 64);
    rz_gguf_close(g);
    round_trip(path, rz_test_temp_path("sample64-copy.gguf"), true);
}

static void test_round_trip_shared(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/ggml-quants/llama.Q4_0.gguf");
    RZ_REQUIRE_SHARED("models/stories260K.gguf");
    char in[4096];
    snprintf(in, sizeof in, "%s", rz_test_shared_path("testdata/ggml-quants/llama.Q4_0.gguf"));
    round_trip(in, rz_test_temp_path("q4_0-copy.gguf"), true);
    snprintf(in, sizeof in, "%s", rz_test_shared_path("models/stories260K.gguf"));
    round_trip(in, rz_test_temp_path("stories-copy.gguf"), true);
}

static void assert_error(rz_status got, rz_status want, const char *fragment) {
    assert_int_equal(got, want);
    if (!strstr(rz_last_error(), fragment)) fail_msg("message '%s' lacks '%s'", rz_last_error(), fragment);
}

static void test_accessor_errors(void **state) {
    (void)state;
    const char *path = rz_test_temp_path("accessors.gguf");
    write_sample(path, 0);
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(path, &g));
    uint8_t u8;
    int8_t i8;
    uint16_t u16;
    int32_t i32;
    uint64_t u64;
    int64_t i64;
    float f32;
    bool b;
    rz_str s;
    const rz_gguf_value *v;
    assert_error(rz_gguf_get_u32(g, "x", (uint32_t *)&i32), RZ_ERR_NOT_FOUND, "gguf: key 'x' not found");
    assert_error(rz_gguf_get_u32(g, "t.str", (uint32_t *)&i32), RZ_ERR_TYPE,
                 "gguf: key 't.str' is string, not an integer");
    assert_error(rz_gguf_get_u8(g, "t.u16", &u8), RZ_ERR_RANGE, "t.u16");
    assert_error(rz_gguf_get_u8(g, "t.i8", &u8), RZ_ERR_RANGE, "-100");
    assert_error(rz_gguf_get_i8(g, "t.u8", &i8), RZ_ERR_RANGE, "200");
    assert_error(rz_gguf_get_i64(g, "t.u64", &i64), RZ_ERR_RANGE, "t.u64");
    assert_error(rz_gguf_get_u64(g, "t.i64", &u64), RZ_ERR_RANGE, "t.i64");
    assert_error(rz_gguf_get_u16(g, "t.f32", &u16), RZ_ERR_TYPE, "float32");
    assert_error(rz_gguf_get_u8(g, "t.bool", &u8), RZ_ERR_TYPE, "bool");
    assert_error(rz_gguf_get_f32(g, "t.u8", &f32), RZ_ERR_TYPE, "not a float");
    assert_error(rz_gguf_get_bool(g, "t.u8", &b), RZ_ERR_TYPE, "not a bool");
    assert_error(rz_gguf_get_str(g, "a.str", &s), RZ_ERR_TYPE, "is array, not a string");
    assert_error(rz_gguf_get_array(g, "a.str", RZ_GGUF_UINT32, &v), RZ_ERR_TYPE,
                 "array of string, not of uint32");
    assert_error(rz_gguf_get_array(g, "t.u8", RZ_GGUF_UINT8, &v), RZ_ERR_TYPE, "not an array");
    assert_error(rz_gguf_get_array(g, "nope", RZ_GGUF_UINT8, &v), RZ_ERR_NOT_FOUND, "nope");
    /* Widening across integer types. */
    RZ_ASSERT_OK(rz_gguf_get_i32(g, "t.u16", &i32));
    assert_int_equal(i32, 60000);
    RZ_ASSERT_OK(rz_gguf_get_i64(g, "t.i8", &i64));
    assert_int_equal(i64, -100);
    RZ_ASSERT_OK(rz_gguf_get_u64(g, "t.u8", &u64));
    assert_int_equal(u64, 200);
    double f64;
    RZ_ASSERT_OK(rz_gguf_get_f64(g, "t.f32", &f64));
    assert_true(f64 == (double)0.1f);
    assert_int_equal(rz_gguf_find_key(g, "t.u8"), 1);
    assert_int_equal(rz_gguf_find_key(g, "t.u"), -1);
    rz_gguf_close(g);
}

static void test_writer_errors(void **state) {
    (void)state;
    const char *path = rz_test_temp_path("writer.gguf");
    rz_gguf_writer *w;
    RZ_ASSERT_OK(rz_gguf_writer_open(path, &w));
    RZ_ASSERT_OK(rz_gguf_writer_add_u32(w, "k", 1));
    assert_error(rz_gguf_writer_add_u32(w, "k", 2), RZ_ERR_INVALID_ARG, "duplicate key 'k'");
    assert_error(rz_gguf_writer_add_str(w, "general.alignment", "64"), RZ_ERR_INVALID_ARG, "uint32");
    assert_error(rz_gguf_writer_add_u32(w, "general.alignment", 48), RZ_ERR_INVALID_ARG, "power of two");
    assert_error(rz_gguf_writer_set_alignment(w, 0), RZ_ERR_INVALID_ARG, "power of two");
    RZ_ASSERT_OK(rz_gguf_writer_add_u32(w, "general.alignment", 128));
    assert_error(rz_gguf_writer_add_u32(w, "general.alignment", 128), RZ_ERR_INVALID_ARG, "duplicate");
    assert_error(rz_gguf_writer_add_array(w, "s", RZ_GGUF_STRING, NULL, 0), RZ_ERR_INVALID_ARG, "fixed-size");
    const uint64_t ne[] = {33, 2};
    assert_error(rz_gguf_writer_add_tensor(w, "q", RZ_TYPE_Q8_0, 2, ne), RZ_ERR_INVALID_ARG, "block size");
    assert_error(rz_gguf_writer_add_tensor(w, "q", (rz_type)77, 2, ne), RZ_ERR_INVALID_ARG, "unknown type");
    assert_error(rz_gguf_writer_add_tensor(w, "q", RZ_TYPE_F32, 5, ne), RZ_ERR_INVALID_ARG, "dimensions");
    RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, "x", RZ_TYPE_F32, 2, ne));
    assert_error(rz_gguf_writer_add_tensor(w, "x", RZ_TYPE_F32, 2, ne), RZ_ERR_INVALID_ARG, "duplicate");
    RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, "y", RZ_TYPE_F16, 1, ne));
    RZ_ASSERT_OK(rz_gguf_writer_set_alignment(w, 256)); /* replaces the 128 added above */
    RZ_ASSERT_OK(rz_gguf_writer_begin_data(w));
    assert_error(rz_gguf_writer_add_u8(w, "late", 1), RZ_ERR_INVALID_ARG, "after begin_data");
    float data[80] = {0};
    RZ_ASSERT_OK(rz_gguf_writer_write(w, data, 66 * 4 + 10));
    assert_error(rz_gguf_writer_close(w), RZ_ERR_INVALID_ARG, "tensor 'y' got 10 of its 66 bytes");
    assert_null(fopen(path, "rb")); /* a failed close removes the partial file */

    RZ_ASSERT_OK(rz_gguf_writer_open(path, &w));
    RZ_ASSERT_OK(rz_gguf_writer_set_alignment(w, 256));
    RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, "x", RZ_TYPE_F32, 2, ne));
    RZ_ASSERT_OK(rz_gguf_writer_add_tensor(w, "y", RZ_TYPE_F16, 1, ne));
    RZ_ASSERT_OK(rz_gguf_writer_begin_data(w));
    RZ_ASSERT_OK(rz_gguf_writer_write(w, data, 66 * 4));
    RZ_ASSERT_OK(rz_gguf_writer_write(w, data, 66));
    assert_error(rz_gguf_writer_write(w, data, 1), RZ_ERR_INVALID_ARG, "past the last tensor");
    RZ_ASSERT_OK(rz_gguf_writer_close(w));
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(path, &g));
    assert_int_equal(rz_gguf_alignment(g), 256);
    assert_int_equal(rz_gguf_data_offset(g) % 256, 0);
    assert_int_equal(rz_gguf_tensor_at(g, 1)->offset, 512);
    rz_gguf_close(g);

    RZ_ASSERT_OK(rz_gguf_writer_open(path, &w));
    rz_gguf_writer_abort(w);
    assert_null(fopen(path, "rb"));
}

/* ------------------------------------------------------------ shared files */

typedef void (*file_fn)(const char *path, const char *name);

static int for_each_file(const char *dir_rel, const char *suffix, file_fn fn) {
    char dir_path[4096];
    snprintf(dir_path, sizeof dir_path, "%s", rz_test_shared_path(dir_rel));
    DIR *dir = opendir(dir_path);
    if (!dir) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len < sl || strcmp(e->d_name + len - sl, suffix) != 0) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir_path, e->d_name);
        fn(path, e->d_name);
        n++;
    }
    closedir(dir);
    return n;
}

static void open_ok(const char *path, const char *name) {
    (void)name;
    rz_gguf *g;
    if (rz_gguf_open(path, &g) != RZ_OK) fail_msg("%s: %s", path, rz_last_error());
    rz_str arch;
    RZ_ASSERT_OK(rz_gguf_get_str(g, "general.architecture", &arch));
    assert_true(rz_gguf_data_offset(g) <= rz_gguf_file_size(g));
    rz_gguf_close(g);
}

/* Every row of a .tensors.txt listing (name type id ne0 ne1 offset nbytes)
 * against the reader's view of the .gguf beside it. */
static void check_listing(const char *path, const char *name) {
    (void)name;
    char gguf_path[8192];
    snprintf(gguf_path, sizeof gguf_path, "%.*s.gguf", (int)(strlen(path) - strlen(".tensors.txt")), path);
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(gguf_path, &g));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    uint64_t rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        char tname[128], type[32];
        unsigned id;
        unsigned long long ne0, ne1, offset, nbytes;
        assert_int_equal(
            sscanf(line, "%127s %31s %u %llu %llu %llu %llu", tname, type, &id, &ne0, &ne1, &offset, &nbytes),
            7);
        const rz_gguf_tensor *t = rz_gguf_find_tensor(g, tname);
        if (!t) fail_msg("%s: tensor %s missing", gguf_path, tname);
        assert_int_equal(t->type, id);
        assert_string_equal(rz_type_name(t->type), type);
        assert_int_equal(t->ne[0], ne0);
        assert_int_equal(t->ne[1], ne1);
        assert_int_equal(t->offset, offset);
        assert_int_equal(t->size, nbytes);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, rz_gguf_tensor_count(g));
    rz_gguf_close(g);
}

static void test_shared_files(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/ggml-quants/llama.Q4_0.gguf");
    RZ_REQUIRE_SHARED("testdata/tokenizer");
    assert_true(for_each_file("testdata/tokenizer", ".gguf", open_ok) >= 8);
    assert_true(for_each_file("testdata/ggml-quants", ".gguf", open_ok) >= 13);
    assert_true(for_each_file("testdata/ggml-quants", ".tensors.txt", check_listing) >= 13);

    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path("testdata/ggml-quants/llama.Q4_0.gguf"), &g));
    const rz_gguf_tensor *t = rz_gguf_find_tensor(g, "output.weight");
    assert_non_null(t);
    assert_int_equal(t->type, RZ_TYPE_Q4_0);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->ne[0], 256);
    assert_int_equal(t->ne[1], 512);
    uint32_t blocks;
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "llama.block_count", &blocks));
    assert_int_equal(blocks, 2);
    const rz_gguf_value *tokens;
    RZ_ASSERT_OK(rz_gguf_get_array(g, "tokenizer.ggml.tokens", RZ_GGUF_STRING, &tokens));
    assert_int_equal(rz_gguf_array_len(tokens), 512);
    rz_gguf_close(g);

    RZ_ASSERT_OK(rz_gguf_open(rz_test_shared_path("testdata/ggml-quants/bitnet.I2_S.gguf"), &g));
    uint64_t n_i2s = 0;
    for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
        t = rz_gguf_tensor_at(g, i);
        if (t->type != RZ_TYPE_I2_S) continue;
        assert_int_equal(t->size, t->ne[0] * t->ne[1] / 4 + 32);
        n_i2s++;
    }
    assert_true(n_i2s > 0);
    rz_gguf_close(g);
}

/* ------------------------------------------------------------ malformed */

static rz_status open_bytes(const bytes *b) {
    rz_gguf *g = NULL;
    /* An exact-size heap copy, so ASan sees any read past the end. */
    void *copy = malloc(b->len ? b->len : 1);
    memcpy(copy, b->data, b->len);
    rz_status st = rz_gguf_open_memory(copy, b->len, &g);
    rz_gguf_close(g);
    free(copy);
    return st;
}

static void expect_bad(bytes *b, rz_status want, const char *fragment) {
    assert_error(open_bytes(b), want, fragment);
    assert_non_null(strstr(rz_last_error(), "gguf: "));
    free(b->data);
    *b = (bytes){0};
}

static void test_malformed(void **state) {
    (void)state;
    bytes b = {0};
    put(&b, "GGUX", 4), put_u32(&b, 3), put_u64(&b, 0), put_u64(&b, 0);
    expect_bad(&b, RZ_ERR_FORMAT, "bad magic");
    put_header(&b, 1, 0, 0);
    expect_bad(&b, RZ_ERR_UNSUPPORTED, "version 1");
    put_header(&b, 4, 0, 0);
    expect_bad(&b, RZ_ERR_UNSUPPORTED, "version 4");
    put(&b, "GGUF", 4);
    expect_bad(&b, RZ_ERR_FORMAT, "too small");
    put_header(&b, 3, 0, 1ull << 60);
    expect_bad(&b, RZ_ERR_FORMAT, "kv count 1152921504606846976 cannot fit");
    put_header(&b, 3, UINT64_MAX, 0);
    expect_bad(&b, RZ_ERR_FORMAT, "tensor count");

    put_header(&b, 3, 0, 2);
    put_str(&b, "k"), put_u32(&b, RZ_GGUF_UINT8), put(&b, "x", 1);
    put_str(&b, "k"), put_u32(&b, RZ_GGUF_UINT8), put(&b, "x", 1);
    expect_bad(&b, RZ_ERR_FORMAT, "duplicate key 'k'");

    put_header(&b, 3, 0, 1);
    put_str(&b, "k\nx"), put_u32(&b, 99), put_u64(&b, 0);
    expect_bad(&b, RZ_ERR_FORMAT, "key 'k?x': unknown value type 99");

    put_header(&b, 3, 0, 1);
    put_str(&b, "s"), put_u32(&b, RZ_GGUF_STRING), put_u64(&b, 1ull << 62);
    expect_bad(&b, RZ_ERR_FORMAT, "string length 4611686018427387904");

    put_header(&b, 3, 0, 1);
    put_str(&b, "a"), put_u32(&b, RZ_GGUF_ARRAY), put_u32(&b, RZ_GGUF_UINT64), put_u64(&b, 1ull << 61);
    expect_bad(&b, RZ_ERR_FORMAT, "array of 2305843009213693952 uint64");

    put_header(&b, 3, 0, 1);
    put_str(&b, "a"), put_u32(&b, RZ_GGUF_ARRAY), put_u32(&b, RZ_GGUF_STRING), put_u64(&b, 1ull << 40);
    expect_bad(&b, RZ_ERR_FORMAT, "array of 1099511627776 strings");

    put_header(&b, 3, 0, 1);
    put_str(&b, "deep"), put_u32(&b, RZ_GGUF_ARRAY);
    for (int i = 0; i < 9; i++)
        put_u32(&b, RZ_GGUF_ARRAY), put_u64(&b, 1);
    put_u32(&b, RZ_GGUF_UINT8), put_u64(&b, 0);
    expect_bad(&b, RZ_ERR_FORMAT, "nested deeper than 8");

    put_header(&b, 3, 0, 1);
    put_str(&b, "general.alignment"), put_u32(&b, RZ_GGUF_UINT32), put_u32(&b, 24);
    expect_bad(&b, RZ_ERR_FORMAT, "not a power of two");
    put_header(&b, 3, 0, 1);
    put_str(&b, "general.alignment"), put_u32(&b, RZ_GGUF_UINT64), put_u64(&b, 32);
    expect_bad(&b, RZ_ERR_FORMAT, "general.alignment is uint64, not uint32");

    const uint64_t ne[] = {64, 2, 1, 1, 1};
    put_header(&b, 3, 1, 0);
    put_tensor_info(&b, "t", 5, ne, RZ_TYPE_F32, 0);
    expect_bad(&b, RZ_ERR_FORMAT, "tensor 't' has 5 dimensions");
    put_header(&b, 3, 1, 0);
    put_tensor_info(&b, "t", 2, ne, 77, 0);
    expect_bad(&b, RZ_ERR_UNSUPPORTED, "tensor 't' has unknown type id 77");
    /* Our run-time layouts and activation types exist only in memory. */
    const rz_type runtime_types[] = {RZ_TYPE_I8_S,    RZ_TYPE_Q4_0_G4,  RZ_TYPE_A8_G4,   RZ_TYPE_Q8_0_G16,
                                     RZ_TYPE_Q4_K_G,  RZ_TYPE_A8_K,     RZ_TYPE_I2_TL,   RZ_TYPE_I8_TL,
                                     RZ_TYPE_F16_ACT, RZ_TYPE_BF16_ACT, RZ_TYPE_TQ2_0_G, RZ_TYPE_A8_G16,
                                     RZ_TYPE_Q4_0_R8, RZ_TYPE_A8_R8};
    for (size_t i = 0; i < sizeof runtime_types / sizeof runtime_types[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "tensor 't' has unknown type id %d", (int)runtime_types[i]);
        put_header(&b, 3, 1, 0);
        put_tensor_info(&b, "t", 2, (const uint64_t[]){256, 2}, runtime_types[i], 0);
        expect_bad(&b, RZ_ERR_UNSUPPORTED, want);
    }
    put_header(&b, 3, 1, 0);
    put_tensor_info(&b, "t", 2, (const uint64_t[]){1ull << 40, 1ull << 40}, RZ_TYPE_F32, 0);
    expect_bad(&b, RZ_ERR_RANGE, "overflow");
    put_header(&b, 3, 1, 0);
    put_tensor_info(&b, "t", 2, (const uint64_t[]){33, 1}, RZ_TYPE_Q4_0, 0);
    expect_bad(&b, RZ_ERR_FORMAT, "not a multiple of the q4_0 block size 32");
    put_header(&b, 3, 1, 0);
    put_tensor_info(&b, "t", 1, ne, RZ_TYPE_F32, 16);
    expect_bad(&b, RZ_ERR_FORMAT, "offset 16 is not a multiple of the alignment 32");

    put_header(&b, 3, 2, 0);
    put_tensor_info(&b, "t", 1, ne, RZ_TYPE_F32, 0);
    put_tensor_info(&b, "t", 1, ne, RZ_TYPE_F32, 256);
    expect_bad(&b, RZ_ERR_FORMAT, "duplicate tensor name 't'");

    put_header(&b, 3, 2, 0);
    put_tensor_info(&b, "blk.0.a", 1, ne, RZ_TYPE_F32, 0);
    put_tensor_info(&b, "blk.0.b", 1, ne, RZ_TYPE_F32, 128);
    pad_to(&b, 32);
    put_zeros(&b, 512);
    expect_bad(&b, RZ_ERR_FORMAT, "tensors 'blk.0.a' [0, 256) and 'blk.0.b' [128, 384) overlap");

    put_header(&b, 3, 1, 0);
    put_tensor_info(&b, "blk.3.attn_q.weight", 1, ne, RZ_TYPE_F32, 0);
    pad_to(&b, 32);
    put_zeros(&b, 100);
    expect_bad(&b, RZ_ERR_FORMAT,
               "gguf: tensor 'blk.3.attn_q.weight' data [96, 352) lies past end of file (size 196)");
}

/* ------------------------------------------------------------ corruption */

static void walk_value(const rz_gguf_value *v, uint64_t *sum) {
    *sum += rz_gguf_value_u64(v) + rz_gguf_value_str(v).len;
    for (uint64_t i = 0; i < rz_gguf_array_len(v); i++) {
        *sum += rz_gguf_array_str(v, i).len;
        const rz_gguf_value *e = rz_gguf_array_elem(v, i);
        if (e) walk_value(e, sum);
    }
}

/* Opens a corrupted variant (an exact-size heap buffer, so ASan sees any read
 * past its end): either it loads, and then every value and every tensor's
 * first and last byte are read, or it fails cleanly with a one-line message. */
static void check_variant(const unsigned char *data, size_t len) {
    rz_gguf *g;
    rz_status st = rz_gguf_open_memory(data, len, &g);
    if (st == RZ_OK) {
        uint64_t sum = 0;
        for (uint64_t i = 0; i < rz_gguf_kv_count(g); i++)
            walk_value(rz_gguf_kv_value(g, i), &sum);
        for (uint64_t i = 0; i < rz_gguf_tensor_count(g); i++) {
            const rz_gguf_tensor *t = rz_gguf_tensor_at(g, i);
            if (t->size)
                sum += ((const unsigned char *)t->data)[0] + ((const unsigned char *)t->data)[t->size - 1];
        }
        (void)sum;
        rz_gguf_close(g);
        return;
    }
    if (st != RZ_ERR_FORMAT && st != RZ_ERR_RANGE && st != RZ_ERR_UNSUPPORTED && st != RZ_ERR_TYPE)
        fail_msg("status %d for a corrupted file: %s", st, rz_last_error());
    const char *msg = rz_last_error();
    if (strncmp(msg, "gguf: ", 6) != 0 || strchr(msg, '\n')) fail_msg("bad message '%s'", msg);
}

static void check_truncated(const unsigned char *data, size_t len) {
    unsigned char *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    check_variant(copy, len);
    free(copy);
}

static void save_seed(const char *dir, const char *name, const unsigned char *data, size_t len) {
    if (!dir) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

static const uint64_t wide[] = {1ull << 60, UINT64_MAX, (uint64_t)INT64_MAX + 1, 1ull << 32};
static const uint32_t narrow[] = {UINT32_MAX, 0x80000000u, RZ_GGUF_TYPE_COUNT, 5, RZ_GGUF_ARRAY};

/* Bit flips at every `header_stride`-th header byte and `data_stride`-th data
 * byte, and huge or edge values patched at the same header positions: with
 * stride 1 that covers the counts, string lengths, array counts, n_dims, ne,
 * type ids and offsets wherever they sit. `data` is modified in place and
 * restored. */
static void corrupt_in_place(unsigned char *data, size_t len, size_t header_end, size_t header_stride,
                             size_t data_stride) {
    static const unsigned char flips[] = {0x01, 0x02, 0x08, 0x40, 0x80, 0xff};
    for (size_t pos = 0; pos < len; pos += pos < header_end ? header_stride : data_stride) {
        for (size_t f = 0; f < sizeof flips; f++) {
            data[pos] ^= flips[f];
            check_variant(data, len);
            data[pos] ^= flips[f];
        }
    }
    unsigned char saved[8];
    for (size_t pos = 4; pos + 4 <= header_end; pos += header_stride) {
        memcpy(saved, data + pos, 8);
        for (size_t i = 0; i < sizeof wide / sizeof wide[0] && pos + 8 <= header_end; i++) {
            memcpy(data + pos, &wide[i], 8);
            check_variant(data, len);
        }
        memcpy(data + pos, saved, 8);
        for (size_t i = 0; i < sizeof narrow / sizeof narrow[0]; i++) {
            memcpy(data + pos, &narrow[i], 4);
            check_variant(data, len);
        }
        memcpy(data + pos, saved, 8);
    }
}

static void test_corrupted_replay(void **state) {
    (void)state;
    const char *path = rz_test_temp_path("corrupt-base.gguf");
    write_sample(path, 0);
    size_t len;
    unsigned char *base = rz_test_read_file(path, &len);
    assert_non_null(base);
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open_memory(base, len, &g));
    size_t header_end = rz_gguf_data_offset(g);
    rz_gguf_close(g);

    for (size_t n = 0; n < len; n++)
        check_truncated(base, n);
    corrupt_in_place(base, len, header_end, 1, 1);

    /* The named fields at their fixed positions must fail, not load. */
    unsigned char *work = malloc(len);
    memcpy(work, base, len);
    memcpy(work + 16, &wide[0], 8); /* kv_count */
    assert_error(rz_gguf_open_memory(work, len, &g), RZ_ERR_FORMAT, "kv count");
    memcpy(work, base, len);
    memcpy(work + 8, &wide[0], 8); /* tensor_count */
    assert_error(rz_gguf_open_memory(work, len, &g), RZ_ERR_FORMAT, "tensor count");
    memcpy(work, base, len);
    memcpy(work + 24, &wide[0], 8); /* first key's length */
    assert_error(rz_gguf_open_memory(work, len, &g), RZ_ERR_FORMAT, "key length");

    /* RZ_GGUF_SEED_DIR=tests/fuzz/corpus/gguf regenerates the fuzzer's seeds
     * (named .seed: the repository ignores *.gguf). */
    const char *seeds = getenv("RZ_GGUF_SEED_DIR");
    save_seed(seeds, "valid.seed", base, len);
    save_seed(seeds, "truncated-header.seed", base, header_end / 2);
    save_seed(seeds, "truncated-data.seed", base, header_end + 40);
    memcpy(work, base, len);
    memcpy(work + 16, &wide[0], 8);
    save_seed(seeds, "huge-kv-count.seed", work, len);
    for (size_t pos = 105; pos < header_end && seeds; pos += 293) {
        memcpy(work, base, len);
        memcpy(work + pos, &wide[0], 8);
        char name[64];
        snprintf(name, sizeof name, "huge-at-%zu.seed", pos);
        save_seed(seeds, name, work, len);
    }
    free(work);
    free(base);
}

/* The same, sparser, on a file llama.cpp wrote (its header is mostly the
 * 512 token strings; the dense pass above keeps the ASan run short). */
static void test_corrupted_shared(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("testdata/ggml-quants/llama.Q4_0.gguf");
    size_t len;
    unsigned char *base =
        rz_test_read_file(rz_test_shared_path("testdata/ggml-quants/llama.Q4_0.gguf"), &len);
    assert_non_null(base);
    rz_gguf *g;
    RZ_ASSERT_OK(rz_gguf_open_memory(base, len, &g));
    size_t header_end = rz_gguf_data_offset(g);
    rz_gguf_close(g);
    for (size_t n = 0; n < header_end; n += 7)
        check_truncated(base, n);
    for (size_t n = header_end; n < len; n += 65521)
        check_truncated(base, n);
    check_truncated(base, len - 1);
    corrupt_in_place(base, len, header_end, 11, 4099);
    free(base);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_sample), cmocka_unit_test(test_round_trip_shared),
        cmocka_unit_test(test_accessor_errors),   cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_shared_files),      cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_corrupted_replay),  cmocka_unit_test(test_corrupted_shared),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
