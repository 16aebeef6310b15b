/* GGUF v3 writer. Metadata is serialized into memory as it is added; tensor
 * data streams straight to the file, each tensor padded to the alignment so
 * that llama.cpp (which reads whole padded data sections) accepts it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/mem.h"
#include "format/gguf_internal.h"

/* llama.cpp stores tensor names in 64-byte buffers including the NUL. */
enum { MAX_TENSOR_NAME = 63 };

typedef struct byte_buf {
    unsigned char *data;
    size_t len, cap;
} byte_buf;

typedef struct writer_tensor {
    char *name;
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[RZ_MAX_DIMS];
    uint64_t size;
    uint64_t offset;
} writer_tensor;

struct rz_gguf_writer {
    FILE *file;
    char *path;
    uint32_t alignment;
    byte_buf meta; /* serialized kvs */
    uint64_t n_kv;
    char **keys;          /* for duplicate checks */
    size_t alignment_pos; /* offset of general.alignment's value in meta, or SIZE_MAX */
    writer_tensor *tensors;
    uint64_t n_tensors;
    bool data_started;
    uint64_t current;  /* tensor being written */
    uint64_t written;  /* bytes of it written so far */
    uint64_t file_pos; /* relative to the data section */
    bool failed;
};

static rz_status buf_reserve(byte_buf *b, uint64_t extra) {
    uint64_t need;
    if (rz_add_overflow(b->len, extra, &need) || need > SIZE_MAX)
        return rz_error(RZ_ERR_NOMEM, "gguf: metadata too large");
    if (need <= b->cap) return RZ_OK;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? (size_t)need : cap * 2;
    unsigned char *p = realloc(b->data, cap);
    if (!p) return rz_error(RZ_ERR_NOMEM, "gguf: out of memory for %zu bytes of metadata", cap);
    b->data = p;
    b->cap = cap;
    return RZ_OK;
}

static rz_status buf_put(byte_buf *b, const void *data, uint64_t n) {
    RZ_TRY(buf_reserve(b, n));
    if (n) memcpy(b->data + b->len, data, n);
    b->len += n;
    return RZ_OK;
}

static rz_status buf_u32(byte_buf *b, uint32_t v) { return buf_put(b, &v, 4); }
static rz_status buf_u64(byte_buf *b, uint64_t v) { return buf_put(b, &v, 8); }
static rz_status buf_str(byte_buf *b, const char *s, uint64_t len) {
    RZ_TRY(buf_u64(b, len));
    return buf_put(b, s, len);
}

rz_status rz_gguf_writer_open(const char *path, rz_gguf_writer **out) {
    if (!path || !out) return rz_error(RZ_ERR_INVALID_ARG, "gguf: no output path given");
    *out = NULL;
    rz_gguf_writer *w = rz_calloc(1, sizeof *w);
    if (!w) return RZ_ERR_NOMEM;
    w->path = strdup(path);
    if (!w->path) {
        free(w);
        return rz_error(RZ_ERR_NOMEM, "gguf: out of memory");
    }
    w->file = fopen(path, "wb");
    if (!w->file) {
        rz_status st = rz_error(RZ_ERR_IO, "gguf: cannot create '%s': %s", path, strerror(errno));
        free(w->path);
        free(w);
        return st;
    }
    w->alignment = RZ_GGUF_DEFAULT_ALIGNMENT;
    w->alignment_pos = SIZE_MAX;
    *out = w;
    return RZ_OK;
}

static rz_status check_alignment(uint32_t a) {
    if (a == 0 || (a & (a - 1)) != 0)
        return rz_error(RZ_ERR_INVALID_ARG, "gguf: alignment %u is not a power of two", a);
    return RZ_OK;
}

/* Writes key and type; general.alignment must be uint32 and also sets the
 * alignment used for the data. */
static rz_status begin_kv(rz_gguf_writer *w, const char *key, rz_gguf_type type) {
    if (!w || !key) return rz_error(RZ_ERR_INVALID_ARG, "gguf: no writer or key given");
    if (w->data_started) return rz_error(RZ_ERR_INVALID_ARG, "gguf: key '%s' added after begin_data", key);
    if (!*key) return rz_error(RZ_ERR_INVALID_ARG, "gguf: empty key");
    for (uint64_t i = 0; i < w->n_kv; i++)
        if (strcmp(w->keys[i], key) == 0)
            return rz_error(RZ_ERR_INVALID_ARG, "gguf: duplicate key '%s'", key);
    bool is_alignment = strcmp(key, RZ_GGUF_ALIGNMENT_KEY) == 0;
    if (is_alignment && type != RZ_GGUF_UINT32)
        return rz_error(RZ_ERR_INVALID_ARG, "gguf: %s must be uint32, not %s", key, rz_gguf_type_name(type));
    char **keys = realloc(w->keys, (size_t)(w->n_kv + 1) * sizeof *keys);
    if (!keys) return rz_error(RZ_ERR_NOMEM, "gguf: out of memory");
    w->keys = keys;
    if (!(keys[w->n_kv] = strdup(key))) return rz_error(RZ_ERR_NOMEM, "gguf: out of memory");
    w->n_kv++;
    RZ_TRY(buf_str(&w->meta, key, strlen(key)));
    RZ_TRY(buf_u32(&w->meta, (uint32_t)type));
    if (is_alignment) w->alignment_pos = w->meta.len;
    return RZ_OK;
}

static rz_status add_scalar(rz_gguf_writer *w, const char *key, rz_gguf_type type, const void *v) {
    if (type == RZ_GGUF_UINT32 && key && strcmp(key, RZ_GGUF_ALIGNMENT_KEY) == 0) {
        uint32_t a;
        memcpy(&a, v, 4);
        RZ_TRY(check_alignment(a));
        RZ_TRY(begin_kv(w, key, type));
        w->alignment = a;
    } else {
        RZ_TRY(begin_kv(w, key, type));
    }
    return buf_put(&w->meta, v, rz_gguf_type_size(type));
}

rz_status rz_gguf_writer_set_alignment(rz_gguf_writer *w, uint32_t alignment) {
    if (!w) return rz_error(RZ_ERR_INVALID_ARG, "gguf: no writer given");
    RZ_TRY(check_alignment(alignment));
    if (w->alignment_pos == SIZE_MAX) return add_scalar(w, RZ_GGUF_ALIGNMENT_KEY, RZ_GGUF_UINT32, &alignment);
    if (w->data_started) return rz_error(RZ_ERR_INVALID_ARG, "gguf: alignment set after begin_data");
    memcpy(w->meta.data + w->alignment_pos, &alignment, 4);
    w->alignment = alignment;
    return RZ_OK;
}

#define SCALAR_ADDER(name, ctype, gtype)                                                                     \
    rz_status rz_gguf_writer_add_##name(rz_gguf_writer *w, const char *key, ctype v) {                       \
        return add_scalar(w, key, gtype, &v);                                                                \
    }
SCALAR_ADDER(u8, uint8_t, RZ_GGUF_UINT8)
SCALAR_ADDER(i8, int8_t, RZ_GGUF_INT8)
SCALAR_ADDER(u16, uint16_t, RZ_GGUF_UINT16)
SCALAR_ADDER(i16, int16_t, RZ_GGUF_INT16)
SCALAR_ADDER(u32, uint32_t, RZ_GGUF_UINT32)
SCALAR_ADDER(i32, int32_t, RZ_GGUF_INT32)
SCALAR_ADDER(u64, uint64_t, RZ_GGUF_UINT64)
SCALAR_ADDER(i64, int64_t, RZ_GGUF_INT64)
SCALAR_ADDER(f32, float, RZ_GGUF_FLOAT32)
SCALAR_ADDER(f64, double, RZ_GGUF_FLOAT64)

rz_status rz_gguf_writer_add_bool(rz_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v;
    return add_scalar(w, key, RZ_GGUF_BOOL, &b);
}

rz_status rz_gguf_writer_add_strn(rz_gguf_writer *w, const char *key, const char *v, uint64_t len) {
    if (!v && len) return rz_error(RZ_ERR_INVALID_ARG, "gguf: key '%s' has no string", key ? key : "");
    RZ_TRY(begin_kv(w, key, RZ_GGUF_STRING));
    return buf_str(&w->meta, v, len);
}

rz_status rz_gguf_writer_add_str(rz_gguf_writer *w, const char *key, const char *v) {
    if (!v) return rz_error(RZ_ERR_INVALID_ARG, "gguf: key '%s' has no string", key ? key : "");
    return rz_gguf_writer_add_strn(w, key, v, strlen(v));
}

rz_status rz_gguf_writer_add_array(rz_gguf_writer *w, const char *key, rz_gguf_type elem_type,
                                   const void *data, uint64_t count) {
    uint32_t size = rz_gguf_type_size(elem_type);
    uint64_t bytes;
    if (!size)
        return rz_error(RZ_ERR_INVALID_ARG, "gguf: key '%s': %s is not a fixed-size element type",
                        key ? key : "", rz_gguf_type_name(elem_type));
    if (rz_mul_overflow(count, size, &bytes) || (!data && count))
        return rz_error(RZ_ERR_INVALID_ARG, "gguf: key '%s': bad array of %llu elements", key ? key : "",
                        (unsigned long long)count);
    RZ_TRY(begin_kv(w, key, RZ_GGUF_ARRAY));
    RZ_TRY(buf_u32(&w->meta, (uint32_t)elem_type));
    RZ_TRY(buf_u64(&w->meta, count));
    return buf_put(&w->meta, data, bytes);
}

rz_status rz_gguf_writer_add_str_array(rz_gguf_writer *w, const char *key, const rz_str *items,
                                       uint64_t count) {
    if (!items && count) return rz_error(RZ_ERR_INVALID_ARG, "gguf: key '%s' has no items", key ? key : "");
    RZ_TRY(begin_kv(w, key, RZ_GGUF_ARRAY));
    RZ_TRY(buf_u32(&w->meta, RZ_GGUF_STRING));
    RZ_TRY(buf_u64(&w->meta, count));
    for (uint64_t i = 0; i < count; i++)
        RZ_TRY(buf_str(&w->meta, items[i].ptr, items[i].len));
    return RZ_OK;
}

/* Serializes a reader value (after its type tag). */
static rz_status put_value(byte_buf *b, const rz_gguf_value *v) {
    switch (v->type) {
    case RZ_GGUF_UINT8:
    case RZ_GGUF_INT8:
    case RZ_GGUF_UINT16:
    case RZ_GGUF_INT16:
    case RZ_GGUF_UINT32:
    case RZ_GGUF_INT32:
    case RZ_GGUF_UINT64:
    case RZ_GGUF_INT64: /* little-endian: the low bytes of the widened value */
        return buf_put(b, &v->v.u, rz_gguf_type_size(v->type));
    case RZ_GGUF_BOOL: {
        uint8_t x = v->v.u != 0;
        return buf_put(b, &x, 1);
    }
    case RZ_GGUF_FLOAT32: {
        float x = (float)v->v.f;
        return buf_put(b, &x, 4);
    }
    case RZ_GGUF_FLOAT64: return buf_put(b, &v->v.f, 8);
    case RZ_GGUF_STRING: return buf_str(b, v->v.s.ptr, v->v.s.len);
    case RZ_GGUF_ARRAY: break;
    default: return rz_error(RZ_ERR_INVALID_ARG, "gguf: unknown value type %u", (unsigned)v->type);
    }
    RZ_TRY(buf_u32(b, (uint32_t)v->elem_type));
    RZ_TRY(buf_u64(b, v->count));
    uint32_t size = rz_gguf_type_size(v->elem_type);
    if (size) return buf_put(b, v->v.raw, v->count * size); /* the reader checked it fits its file */
    for (uint64_t i = 0; i < v->count; i++) {
        if (v->elem_type == RZ_GGUF_STRING)
            RZ_TRY(buf_str(b, v->v.strs[i].ptr, v->v.strs[i].len));
        else
            RZ_TRY(put_value(b, &v->v.items[i]));
    }
    return RZ_OK;
}

rz_status rz_gguf_writer_add_value(rz_gguf_writer *w, const char *key, const rz_gguf_value *value) {
    if (!value) return rz_error(RZ_ERR_INVALID_ARG, "gguf: key '%s' has no value", key ? key : "");
    if (value->type == RZ_GGUF_UINT32) {
        uint32_t x = (uint32_t)value->v.u;
        return add_scalar(w, key, RZ_GGUF_UINT32, &x);
    }
    RZ_TRY(begin_kv(w, key, value->type));
    return put_value(&w->meta, value);
}

rz_status rz_gguf_writer_add_tensor(rz_gguf_writer *w, const char *name, rz_type type, uint32_t n_dims,
                                    const uint64_t *ne) {
    if (!w || !name || (!ne && n_dims)) return rz_error(RZ_ERR_INVALID_ARG, "gguf: bad add_tensor arguments");
    if (w->data_started)
        return rz_error(RZ_ERR_INVALID_ARG, "gguf: tensor '%s' added after begin_data", name);
    if (strlen(name) > MAX_TENSOR_NAME)
        return rz_error(RZ_ERR_INVALID_ARG, "gguf: tensor name '%s' is longer than %d bytes", name,
                        MAX_TENSOR_NAME);
    if (n_dims > RZ_MAX_DIMS)
        return rz_error(RZ_ERR_INVALID_ARG, "gguf: tensor '%s' has %u dimensions (at most %d)", name, n_dims,
                        RZ_MAX_DIMS);
    if (!rz_type_known(type))
        return rz_error(RZ_ERR_INVALID_ARG, "gguf: tensor '%s' has unknown type id %d", name, (int)type);
    writer_tensor t = {.type = type, .n_dims = n_dims};
    uint64_t n = 1;
    for (uint32_t d = 0; d < RZ_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] > INT64_MAX || rz_mul_overflow(n, t.ne[d], &n) || n > INT64_MAX)
            return rz_error(RZ_ERR_RANGE, "gguf: tensor '%s' element count overflows", name);
    }
    if (t.ne[0] % rz_type_block_size(type) != 0)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "gguf: tensor '%s' row of %llu is not a multiple of the %s block size %u", name,
                        (unsigned long long)t.ne[0], rz_type_name(type), rz_type_block_size(type));
    rz_status st = rz_type_tensor_bytes(type, n, &t.size);
    if (st != RZ_OK) return rz_error_prefix(st, "gguf: tensor '%s'", name);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        if (strcmp(w->tensors[i].name, name) == 0)
            return rz_error(RZ_ERR_INVALID_ARG, "gguf: duplicate tensor name '%s'", name);
    writer_tensor *tensors = realloc(w->tensors, (size_t)(w->n_tensors + 1) * sizeof *tensors);
    if (!tensors) return rz_error(RZ_ERR_NOMEM, "gguf: out of memory");
    w->tensors = tensors;
    if (!(t.name = strdup(name))) return rz_error(RZ_ERR_NOMEM, "gguf: out of memory");
    tensors[w->n_tensors++] = t;
    return RZ_OK;
}

static rz_status write_bytes(rz_gguf_writer *w, const void *data, uint64_t n) {
    if (n && fwrite(data, 1, n, w->file) != n) {
        w->failed = true;
        return rz_error(RZ_ERR_IO, "gguf: cannot write '%s': %s", w->path, strerror(errno));
    }
    return RZ_OK;
}

static rz_status write_zeros(rz_gguf_writer *w, uint64_t n) {
    static const unsigned char zeros[256];
    while (n) {
        uint64_t k = n < sizeof zeros ? n : sizeof zeros;
        RZ_TRY(write_bytes(w, zeros, k));
        n -= k;
    }
    return RZ_OK;
}

/* Header, metadata and tensor infos, padded to the alignment; fixes each
 * tensor's offset in the data section. */
static rz_status build_head(rz_gguf_writer *w, byte_buf *head) {
    rz_status st = buf_put(head, RZ_GGUF_MAGIC, 4);
    if (st == RZ_OK) st = buf_u32(head, RZ_GGUF_VERSION);
    if (st == RZ_OK) st = buf_u64(head, w->n_tensors);
    if (st == RZ_OK) st = buf_u64(head, w->n_kv);
    if (st == RZ_OK) st = buf_put(head, w->meta.data, w->meta.len);
    uint64_t offset = 0;
    for (uint64_t i = 0; i < w->n_tensors && st == RZ_OK; i++) {
        writer_tensor *t = &w->tensors[i];
        t->offset = offset;
        uint64_t end;
        if (rz_add_overflow(offset, t->size, &end) || end > UINT64_MAX - w->alignment)
            return rz_error(RZ_ERR_RANGE, "gguf: tensor data too large");
        offset = rz_align_up(end, w->alignment);
        st = buf_str(head, t->name, strlen(t->name));
        if (st == RZ_OK) st = buf_u32(head, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims && st == RZ_OK; d++)
            st = buf_u64(head, t->ne[d]);
        if (st == RZ_OK) st = buf_u32(head, (uint32_t)t->type);
        if (st == RZ_OK) st = buf_u64(head, t->offset);
    }
    const uint64_t pad = rz_align_up(head->len, w->alignment) - head->len;
    if (st == RZ_OK) st = buf_reserve(head, pad);
    if (st == RZ_OK) {
        memset(head->data + head->len, 0, pad);
        head->len += pad;
    }
    return st;
}

rz_status rz_gguf_writer_begin_data(rz_gguf_writer *w) {
    if (!w) return rz_error(RZ_ERR_INVALID_ARG, "gguf: no writer given");
    if (w->data_started) return rz_error(RZ_ERR_INVALID_ARG, "gguf: begin_data called twice");
    if (!w->file) return rz_error(RZ_ERR_INVALID_ARG, "gguf: a header-only writer takes no data");
    byte_buf head = {0};
    rz_status st = build_head(w, &head);
    if (st == RZ_OK) st = write_bytes(w, head.data, head.len);
    free(head.data);
    w->data_started = true;
    if (st != RZ_OK) w->failed = true;
    return st;
}

rz_status rz_gguf_writer_open_header_only(rz_gguf_writer **out) {
    *out = rz_calloc(1, sizeof **out);
    if (!*out) return rz_error(RZ_ERR_NOMEM, "gguf: out of memory");
    (*out)->alignment = RZ_GGUF_DEFAULT_ALIGNMENT;
    (*out)->alignment_pos = SIZE_MAX;
    return RZ_OK;
}

/* Skips zero-byte tensors so `current` is the next one that takes data. */
static void skip_empty(rz_gguf_writer *w) {
    while (w->current < w->n_tensors && w->tensors[w->current].size == 0)
        w->current++;
}

rz_status rz_gguf_writer_write(rz_gguf_writer *w, const void *data, uint64_t size) {
    if (!w || (!data && size)) return rz_error(RZ_ERR_INVALID_ARG, "gguf: bad write arguments");
    if (!w->data_started) return rz_error(RZ_ERR_INVALID_ARG, "gguf: write before begin_data");
    if (w->failed) return rz_error(RZ_ERR_IO, "gguf: write to '%s' after an earlier failure", w->path);
    const unsigned char *p = data;
    while (size) {
        skip_empty(w);
        if (w->current >= w->n_tensors)
            return rz_error(RZ_ERR_INVALID_ARG, "gguf: %llu bytes written past the last tensor",
                            (unsigned long long)size);
        writer_tensor *t = &w->tensors[w->current];
        if (w->written == 0) {
            RZ_TRY(write_zeros(w, t->offset - w->file_pos));
            w->file_pos = t->offset;
        }
        uint64_t n = t->size - w->written < size ? t->size - w->written : size;
        RZ_TRY(write_bytes(w, p, n));
        p += n;
        size -= n;
        w->written += n;
        w->file_pos += n;
        if (w->written == t->size) {
            w->current++;
            w->written = 0;
        }
    }
    return RZ_OK;
}

static void free_writer(rz_gguf_writer *w) {
    for (uint64_t i = 0; i < w->n_kv; i++)
        free(w->keys[i]);
    free(w->keys);
    for (uint64_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->tensors);
    free(w->meta.data);
    free(w->path);
    free(w);
}

rz_status rz_gguf_writer_take_header(rz_gguf_writer *w, void **image, size_t *size) {
    byte_buf head = {0};
    rz_status st = build_head(w, &head);
    free_writer(w);
    if (st != RZ_OK) {
        free(head.data);
        return st;
    }
    *image = head.data;
    *size = head.len;
    return RZ_OK;
}

rz_status rz_gguf_writer_close(rz_gguf_writer *w) {
    if (!w) return rz_error(RZ_ERR_INVALID_ARG, "gguf: no writer given");
    rz_status st = RZ_OK;
    if (!w->data_started) st = rz_gguf_writer_begin_data(w);
    if (st == RZ_OK && !w->failed) {
        skip_empty(w);
        if (w->current < w->n_tensors)
            st = rz_error(RZ_ERR_INVALID_ARG, "gguf: tensor '%s' got %llu of its %llu bytes before close",
                          w->tensors[w->current].name, (unsigned long long)w->written,
                          (unsigned long long)w->tensors[w->current].size);
    } else if (st == RZ_OK) {
        st = rz_error(RZ_ERR_IO, "gguf: '%s' is incomplete after an earlier failure", w->path);
    }
    /* llama.cpp reads the data section padded to the alignment, last tensor included. */
    if (st == RZ_OK) st = write_zeros(w, rz_align_up(w->file_pos, w->alignment) - w->file_pos);
    if (fclose(w->file) != 0 && st == RZ_OK)
        st = rz_error(RZ_ERR_IO, "gguf: cannot write '%s': %s", w->path, strerror(errno));
    if (st != RZ_OK) unlink(w->path);
    free_writer(w);
    return st;
}

void rz_gguf_writer_abort(rz_gguf_writer *w) {
    if (!w) return;
    if (w->file) { /* header-only writers have neither file nor path */
        fclose(w->file);
        unlink(w->path);
    }
    free_writer(w);
}
