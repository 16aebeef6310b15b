/* GGUF reader: parses and fully validates a file before handing it out, so
 * every size, offset and count the accessors return is safe to use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "base/mapped_file.h"
#include "base/mem.h"
#include "format/gguf_internal.h"
#include "tensor/type_traits.h"

/* Smallest possible encodings, used to reject counts the file cannot hold
 * before allocating for them. */
enum {
    HEADER_BYTES = 24,     /* magic, version, tensor_count, kv_count */
    MIN_KV_BYTES = 13,     /* key length + 1-byte key + type + 1-byte value */
    MIN_TENSOR_BYTES = 24, /* name length + n_dims + type + offset */
    MIN_STRING_BYTES = 8,
    MIN_ARRAY_BYTES = 12, /* elem type + count */
    NAME_SHOWN = 64,      /* longest name quoted in a message */
};

typedef struct gguf_kv {
    rz_str key;
    rz_gguf_value value;
} gguf_kv;

struct rz_gguf {
    rz_mapped_file map; /* empty for rz_gguf_open_memory */
    const unsigned char *data;
    uint64_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    gguf_kv *kvs;
    uint64_t n_tensors;
    rz_gguf_tensor *tensors;
    /* Open-addressing hash tables of index + 1 (0 = empty); mask = slots - 1. */
    uint64_t *kv_slots, kv_mask;
    uint64_t *tensor_slots, tensor_mask;
    /* rz_gguf_open_detached: the image is ours and the tensor bytes lie elsewhere. */
    void *owned_image;
    void (*release)(void *);
    void (*release_pages)(void *, const void *, size_t);
    void *owner;
};

typedef struct cursor {
    const unsigned char *data;
    uint64_t size;
    uint64_t pos;
} cursor;

/* ------------------------------------------------------------- helpers */

uint32_t rz_gguf_type_size(rz_gguf_type type) {
    switch (type) {
    case RZ_GGUF_UINT8:
    case RZ_GGUF_INT8:
    case RZ_GGUF_BOOL: return 1;
    case RZ_GGUF_UINT16:
    case RZ_GGUF_INT16: return 2;
    case RZ_GGUF_UINT32:
    case RZ_GGUF_INT32:
    case RZ_GGUF_FLOAT32: return 4;
    case RZ_GGUF_UINT64:
    case RZ_GGUF_INT64:
    case RZ_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *rz_gguf_type_name(rz_gguf_type type) {
    static const char *const names[RZ_GGUF_TYPE_COUNT] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                                          "int32",  "float32", "bool",   "string", "array",
                                                          "uint64", "int64",   "float64"};
    return (unsigned)type < RZ_GGUF_TYPE_COUNT ? names[type] : "unknown";
}

static bool is_integer_type(rz_gguf_type t) {
    return rz_gguf_type_size(t) != 0 && t != RZ_GGUF_BOOL && t != RZ_GGUF_FLOAT32 && t != RZ_GGUF_FLOAT64;
}

static bool is_signed_type(rz_gguf_type t) {
    return t == RZ_GGUF_INT8 || t == RZ_GGUF_INT16 || t == RZ_GGUF_INT32 || t == RZ_GGUF_INT64;
}

/* Quotable form of a name from the file: at most NAME_SHOWN bytes, control
 * bytes replaced, so that messages stay one printable line. */
typedef struct shown_name {
    char text[NAME_SHOWN + 4];
} shown_name;

static shown_name show(rz_str s) {
    shown_name out;
    uint64_t n = s.len < NAME_SHOWN ? s.len : NAME_SHOWN;
    for (uint64_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        out.text[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    if (s.len > NAME_SHOWN) memcpy(out.text + n, "...", 3), n += 3;
    out.text[n] = '\0';
    return out;
}

static bool str_equal(rz_str a, const char *b, uint64_t b_len) {
    return a.len == b_len && memcmp(a.ptr, b, b_len) == 0;
}

/* Slot count: a power of two at least twice n. */
static uint64_t *alloc_slots(uint64_t n, uint64_t *mask) {
    uint64_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    *mask = slots - 1;
    return rz_calloc(slots, sizeof(uint64_t));
}

/* ------------------------------------------------------------- cursor */

static rz_status need(const cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return rz_error(RZ_ERR_FORMAT, "%s at offset %llu needs %llu bytes, only %llu left in the file", what,
                        (unsigned long long)c->pos, (unsigned long long)n,
                        (unsigned long long)(c->size - c->pos));
    return RZ_OK;
}

static rz_status read_bytes(cursor *c, void *out, uint64_t n, const char *what) {
    RZ_TRY(need(c, n, what));
    memcpy(out, c->data + c->pos, n);
    c->pos += n;
    return RZ_OK;
}

static rz_status read_u32(cursor *c, uint32_t *out, const char *what) { return read_bytes(c, out, 4, what); }
static rz_status read_u64(cursor *c, uint64_t *out, const char *what) { return read_bytes(c, out, 8, what); }

static rz_status read_str(cursor *c, rz_str *out, const char *what) {
    uint64_t len;
    RZ_TRY(read_u64(c, &len, what));
    if (len > c->size - c->pos)
        return rz_error(RZ_ERR_FORMAT,
                        "%s length %llu at offset %llu exceeds the %llu bytes left in the file", what,
                        (unsigned long long)len, (unsigned long long)(c->pos - 8),
                        (unsigned long long)(c->size - c->pos));
    out->ptr = (const char *)c->data + c->pos;
    out->len = len;
    c->pos += len;
    return RZ_OK;
}

/* ------------------------------------------------------------- values */

static void decode_scalar(rz_gguf_type type, const unsigned char *p, rz_gguf_value *out) {
    out->type = type;
    switch (type) {
    case RZ_GGUF_UINT8:
    case RZ_GGUF_BOOL: out->v.u = p[0]; break;
    case RZ_GGUF_INT8: out->v.i = (int8_t)p[0]; break;
    case RZ_GGUF_UINT16: {
        uint16_t x;
        memcpy(&x, p, 2);
        out->v.u = x;
    } break;
    case RZ_GGUF_INT16: {
        int16_t x;
        memcpy(&x, p, 2);
        out->v.i = x;
    } break;
    case RZ_GGUF_UINT32: {
        uint32_t x;
        memcpy(&x, p, 4);
        out->v.u = x;
    } break;
    case RZ_GGUF_INT32: {
        int32_t x;
        memcpy(&x, p, 4);
        out->v.i = x;
    } break;
    case RZ_GGUF_FLOAT32: {
        float x;
        memcpy(&x, p, 4);
        out->v.f = x;
    } break;
    case RZ_GGUF_UINT64: memcpy(&out->v.u, p, 8); break;
    case RZ_GGUF_INT64: memcpy(&out->v.i, p, 8); break;
    case RZ_GGUF_FLOAT64: memcpy(&out->v.f, p, 8); break;
    default: break;
    }
}

static void free_value(rz_gguf_value *v) {
    free(atomic_load(&v->elems));
    if (v->type != RZ_GGUF_ARRAY) return;
    if (v->elem_type == RZ_GGUF_STRING)
        free(v->v.strs);
    else if (v->elem_type == RZ_GGUF_ARRAY && v->v.items) {
        for (uint64_t i = 0; i < v->count; i++)
            free_value(&v->v.items[i]);
        free(v->v.items);
    }
}

static rz_status read_value(cursor *c, rz_gguf_type type, int depth, rz_gguf_value *out);

static rz_status read_array(cursor *c, int depth, rz_gguf_value *out) {
    if (depth >= RZ_GGUF_MAX_ARRAY_DEPTH)
        return rz_error(RZ_ERR_FORMAT, "arrays nested deeper than %d levels at offset %llu",
                        RZ_GGUF_MAX_ARRAY_DEPTH, (unsigned long long)c->pos);
    uint32_t elem;
    uint64_t count;
    RZ_TRY(read_u32(c, &elem, "array element type"));
    RZ_TRY(read_u64(c, &count, "array length"));
    out->elem_type = (rz_gguf_type)elem;
    uint64_t left = c->size - c->pos;
    uint32_t size = rz_gguf_type_size(out->elem_type);
    if (size) {
        uint64_t bytes;
        if (rz_mul_overflow(count, size, &bytes) || bytes > left)
            return rz_error(RZ_ERR_FORMAT,
                            "array of %llu %s at offset %llu exceeds the %llu bytes left in the file",
                            (unsigned long long)count, rz_gguf_type_name(out->elem_type),
                            (unsigned long long)(c->pos - 12), (unsigned long long)left);
        out->v.raw = c->data + c->pos;
        c->pos += bytes;
        out->count = count;
        return RZ_OK;
    }
    if (elem == RZ_GGUF_STRING) {
        if (count > left / MIN_STRING_BYTES)
            return rz_error(
                RZ_ERR_FORMAT, "array of %llu strings at offset %llu exceeds the %llu bytes left in the file",
                (unsigned long long)count, (unsigned long long)(c->pos - 12), (unsigned long long)left);
        out->v.strs = rz_calloc(count, sizeof(rz_str));
        if (!out->v.strs) return RZ_ERR_NOMEM;
        out->count = count;
        for (uint64_t i = 0; i < count; i++)
            RZ_TRY(read_str(c, &out->v.strs[i], "string in array"));
        return RZ_OK;
    }
    if (elem == RZ_GGUF_ARRAY) {
        if (count > left / MIN_ARRAY_BYTES)
            return rz_error(
                RZ_ERR_FORMAT, "array of %llu arrays at offset %llu exceeds the %llu bytes left in the file",
                (unsigned long long)count, (unsigned long long)(c->pos - 12), (unsigned long long)left);
        out->v.items = rz_calloc(count, sizeof(rz_gguf_value));
        if (!out->v.items) return RZ_ERR_NOMEM;
        out->count = count;
        for (uint64_t i = 0; i < count; i++)
            RZ_TRY(read_value(c, RZ_GGUF_ARRAY, depth + 1, &out->v.items[i]));
        return RZ_OK;
    }
    return rz_error(RZ_ERR_FORMAT, "unknown array element type %u at offset %llu", elem,
                    (unsigned long long)(c->pos - 12));
}

/* On failure `out` may hold partial allocations; free_value releases them. */
static rz_status read_value(cursor *c, rz_gguf_type type, int depth, rz_gguf_value *out) {
    out->type = type;
    uint32_t size = rz_gguf_type_size(type);
    if (size) {
        RZ_TRY(need(c, size, rz_gguf_type_name(type)));
        decode_scalar(type, c->data + c->pos, out);
        c->pos += size;
        return RZ_OK;
    }
    if (type == RZ_GGUF_STRING) return read_str(c, &out->v.s, "string");
    if (type == RZ_GGUF_ARRAY) return read_array(c, depth, out);
    return rz_error(RZ_ERR_FORMAT, "unknown value type %u at offset %llu", (unsigned)type,
                    (unsigned long long)(c->pos - 4));
}

/* ------------------------------------------------------------- lookup */

static uint64_t slot_of(const uint64_t *slots, uint64_t mask, const char *name, uint64_t len,
                        rz_str (*name_at)(const rz_gguf *, uint64_t), const rz_gguf *g) {
    uint64_t i = rz_hash_bytes(name, (size_t)len) & mask;
    while (slots[i] && !str_equal(name_at(g, slots[i] - 1), name, len))
        i = (i + 1) & mask;
    return i;
}

static rz_str kv_name(const rz_gguf *g, uint64_t i) { return g->kvs[i].key; }
static rz_str tensor_name(const rz_gguf *g, uint64_t i) { return g->tensors[i].name; }

static const gguf_kv *find_kv(const rz_gguf *g, const char *key) {
    uint64_t s = slot_of(g->kv_slots, g->kv_mask, key, strlen(key), kv_name, g);
    return g->kv_slots[s] ? &g->kvs[g->kv_slots[s] - 1] : NULL;
}

/* ------------------------------------------------------------- parsing */

static rz_status parse_kvs(rz_gguf *g, cursor *c) {
    g->kvs = rz_calloc(g->n_kv, sizeof(gguf_kv));
    g->kv_slots = alloc_slots(g->n_kv, &g->kv_mask);
    if (!g->kvs || !g->kv_slots) return RZ_ERR_NOMEM;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        gguf_kv *kv = &g->kvs[i];
        if (read_str(c, &kv->key, "key") != RZ_OK)
            return rz_error_prefix(RZ_ERR_FORMAT, "gguf: kv %llu", (unsigned long long)i);
        if (kv->key.len == 0)
            return rz_error(RZ_ERR_FORMAT, "gguf: kv %llu has an empty key", (unsigned long long)i);
        uint64_t s = slot_of(g->kv_slots, g->kv_mask, kv->key.ptr, kv->key.len, kv_name, g);
        if (g->kv_slots[s])
            return rz_error(RZ_ERR_FORMAT, "gguf: duplicate key '%s' (kv %llu and %llu)", show(kv->key).text,
                            (unsigned long long)(g->kv_slots[s] - 1), (unsigned long long)i);
        g->kv_slots[s] = i + 1;
        uint32_t type;
        rz_status st = read_u32(c, &type, "value type");
        if (st == RZ_OK) st = read_value(c, (rz_gguf_type)type, 0, &kv->value);
        if (st != RZ_OK) return rz_error_prefix(st, "gguf: key '%s'", show(kv->key).text);
    }
    return RZ_OK;
}

static rz_status parse_alignment(rz_gguf *g) {
    g->alignment = RZ_GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = find_kv(g, RZ_GGUF_ALIGNMENT_KEY);
    if (!kv) return RZ_OK;
    if (kv->value.type != RZ_GGUF_UINT32)
        return rz_error(RZ_ERR_FORMAT, "gguf: %s is %s, not uint32", RZ_GGUF_ALIGNMENT_KEY,
                        rz_gguf_type_name(kv->value.type));
    uint64_t a = kv->value.v.u;
    if (a == 0 || (a & (a - 1)) != 0)
        return rz_error(RZ_ERR_FORMAT, "gguf: %s %llu is not a power of two", RZ_GGUF_ALIGNMENT_KEY,
                        (unsigned long long)a);
    g->alignment = a;
    return RZ_OK;
}

static rz_status parse_tensor_info(rz_gguf *g, cursor *c, uint64_t index) {
    rz_gguf_tensor *t = &g->tensors[index];
    if (read_str(c, &t->name, "tensor name") != RZ_OK)
        return rz_error_prefix(RZ_ERR_FORMAT, "gguf: tensor %llu", (unsigned long long)index);
    shown_name shown = show(t->name);
    const char *name = shown.text;
    uint64_t s = slot_of(g->tensor_slots, g->tensor_mask, t->name.ptr, t->name.len, tensor_name, g);
    if (g->tensor_slots[s]) return rz_error(RZ_ERR_FORMAT, "gguf: duplicate tensor name '%s'", name);
    g->tensor_slots[s] = index + 1;

    uint32_t n_dims, type;
    if (read_u32(c, &n_dims, "dimension count") != RZ_OK)
        return rz_error_prefix(RZ_ERR_FORMAT, "gguf: tensor '%s'", name);
    if (n_dims > RZ_MAX_DIMS)
        return rz_error(RZ_ERR_FORMAT, "gguf: tensor '%s' has %u dimensions (at most %d)", name, n_dims,
                        RZ_MAX_DIMS);
    t->n_dims = n_dims;
    t->n_elements = 1;
    for (int d = 0; d < RZ_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (uint32_t d = 0; d < n_dims; d++) {
        if (read_u64(c, &t->ne[d], "dimension") != RZ_OK)
            return rz_error_prefix(RZ_ERR_FORMAT, "gguf: tensor '%s'", name);
        /* ggml stores dimensions as int64. */
        if (t->ne[d] > INT64_MAX || rz_mul_overflow(t->n_elements, t->ne[d], &t->n_elements) ||
            t->n_elements > INT64_MAX)
            return rz_error(RZ_ERR_RANGE,
                            "gguf: tensor '%s' dimension %u (%llu) makes the element count overflow", name, d,
                            (unsigned long long)t->ne[d]);
    }
    if (read_u32(c, &type, "tensor type") != RZ_OK || read_u64(c, &t->offset, "tensor offset") != RZ_OK)
        return rz_error_prefix(RZ_ERR_FORMAT, "gguf: tensor '%s'", name);
    t->type = (rz_type)type;
    const rz_type_traits *traits = rz_type_traits_get(t->type);
    if (!traits || traits->runtime_only)
        return rz_error(RZ_ERR_UNSUPPORTED, "gguf: tensor '%s' has unknown type id %u", name, type);
    if (t->ne[0] % traits->block_size != 0)
        return rz_error(RZ_ERR_FORMAT,
                        "gguf: tensor '%s' row of %llu elements is not a multiple of the %s block size %u",
                        name, (unsigned long long)t->ne[0], traits->name, traits->block_size);
    rz_status st = rz_type_tensor_bytes(t->type, t->n_elements, &t->size);
    if (st != RZ_OK) return rz_error_prefix(st, "gguf: tensor '%s'", name);
    if (t->offset % g->alignment != 0)
        return rz_error(RZ_ERR_FORMAT,
                        "gguf: tensor '%s' offset %llu is not a multiple of the alignment %llu", name,
                        (unsigned long long)t->offset, (unsigned long long)g->alignment);
    return RZ_OK;
}

static int compare_by_offset(const void *a, const void *b, void *tensors) {
    const rz_gguf_tensor *t = tensors;
    uint64_t x = t[*(const uint64_t *)a].offset, y = t[*(const uint64_t *)b].offset;
    return x < y ? -1 : x > y;
}

/* Every tensor's bytes inside the file, and no two sharing a byte. */
static rz_status check_data_ranges(rz_gguf *g) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        rz_gguf_tensor *t = &g->tensors[i];
        uint64_t start, end;
        if (rz_add_overflow(g->data_offset, t->offset, &start) || rz_add_overflow(start, t->size, &end))
            return rz_error(RZ_ERR_FORMAT, "gguf: tensor '%s' offset %llu + size %llu overflows",
                            show(t->name).text, (unsigned long long)t->offset, (unsigned long long)t->size);
        if (end > g->size)
            return rz_error(RZ_ERR_FORMAT,
                            "gguf: tensor '%s' data [%llu, %llu) lies past end of file (size %llu)",
                            show(t->name).text, (unsigned long long)start, (unsigned long long)end,
                            (unsigned long long)g->size);
        t->data = g->data + start;
    }
    if (g->n_tensors < 2) return RZ_OK;
    uint64_t *order = rz_calloc(g->n_tensors, sizeof(uint64_t));
    if (!order) return RZ_ERR_NOMEM;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        order[i] = i;
    qsort_r(order, g->n_tensors, sizeof(uint64_t), compare_by_offset, g->tensors);
    rz_status st = RZ_OK;
    const rz_gguf_tensor *prev = NULL;
    for (uint64_t i = 0; i < g->n_tensors && st == RZ_OK; i++) {
        const rz_gguf_tensor *t = &g->tensors[order[i]];
        if (t->size == 0) continue;
        if (prev && prev->offset + prev->size > t->offset)
            st = rz_error(RZ_ERR_FORMAT, "gguf: tensors '%s' [%llu, %llu) and '%s' [%llu, %llu) overlap",
                          show(prev->name).text, (unsigned long long)prev->offset,
                          (unsigned long long)(prev->offset + prev->size), show(t->name).text,
                          (unsigned long long)t->offset, (unsigned long long)(t->offset + t->size));
        prev = t;
    }
    free(order);
    return st;
}

static rz_status parse(rz_gguf *g) {
    cursor c = {g->data, g->size, 0};
    if (g->size < HEADER_BYTES)
        return rz_error(RZ_ERR_FORMAT, "gguf: file of %llu bytes is too small for a GGUF header",
                        (unsigned long long)g->size);
    if (memcmp(g->data, RZ_GGUF_MAGIC, 4) != 0)
        return rz_error(RZ_ERR_FORMAT, "gguf: bad magic (not a GGUF file)");
    c.pos = 4;
    read_u32(&c, &g->version, "version");
    if (g->version == 1)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "gguf: version 1 files are not supported (only versions 2 and 3)");
    if (g->version != 2 && g->version != 3)
        return rz_error(RZ_ERR_UNSUPPORTED, "gguf: unsupported version %u (only versions 2 and 3)",
                        g->version);
    read_u64(&c, &g->n_tensors, "tensor count");
    read_u64(&c, &g->n_kv, "kv count");
    uint64_t left = g->size - HEADER_BYTES;
    if (g->n_kv > left / MIN_KV_BYTES)
        return rz_error(RZ_ERR_FORMAT, "gguf: kv count %llu cannot fit in a file of %llu bytes",
                        (unsigned long long)g->n_kv, (unsigned long long)g->size);
    if (g->n_tensors > (left - g->n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
        return rz_error(RZ_ERR_FORMAT, "gguf: tensor count %llu cannot fit in a file of %llu bytes",
                        (unsigned long long)g->n_tensors, (unsigned long long)g->size);

    RZ_TRY(parse_kvs(g, &c));
    RZ_TRY(parse_alignment(g));

    g->tensors = rz_calloc(g->n_tensors, sizeof(rz_gguf_tensor));
    g->tensor_slots = alloc_slots(g->n_tensors, &g->tensor_mask);
    if (!g->tensors || !g->tensor_slots) return RZ_ERR_NOMEM;
    for (uint64_t i = 0; i < g->n_tensors; i++)
        RZ_TRY(parse_tensor_info(g, &c, i));

    /* c.pos <= size, so this cannot overflow for alignments up to 2^31. */
    g->data_offset = rz_align_up(c.pos, g->alignment);
    /* Tensor-less files (vocabularies) often end without the padding. */
    if (g->n_tensors == 0 && g->data_offset > g->size) g->data_offset = g->size;
    if (g->data_offset > g->size)
        return rz_error(RZ_ERR_FORMAT, "gguf: data section at offset %llu lies past end of file (size %llu)",
                        (unsigned long long)g->data_offset, (unsigned long long)g->size);
    return g->owned_image ? RZ_OK : check_data_ranges(g);
}

rz_status rz_gguf_open_memory(const void *data, size_t size, rz_gguf **out) {
    if (!out || (!data && size)) return rz_error(RZ_ERR_INVALID_ARG, "gguf: no buffer given");
    *out = NULL;
    rz_gguf *g = rz_calloc(1, sizeof *g);
    if (!g) return RZ_ERR_NOMEM;
    g->data = data;
    g->size = size;
    rz_status st = parse(g);
    if (st != RZ_OK) {
        rz_gguf_close(g);
        return st;
    }
    *out = g;
    return RZ_OK;
}

rz_status rz_gguf_open(const char *path, rz_gguf **out) {
    if (!path || !out) return rz_error(RZ_ERR_INVALID_ARG, "gguf: no path given");
    *out = NULL;
    rz_mapped_file map;
    rz_status st = rz_mapped_file_open(path, &map);
    if (st != RZ_OK) return rz_error_prefix(st, "gguf");
    st = rz_gguf_open_memory(map.data, map.size, out);
    if (st != RZ_OK) {
        rz_mapped_file_close(&map);
        return st;
    }
    (*out)->map = map;
    return RZ_OK;
}

rz_status rz_gguf_open_detached(void *image, size_t size, const void *const *data, void (*release)(void *),
                                void (*release_pages)(void *, const void *, size_t), void *owner,
                                rz_gguf **out) {
    *out = NULL;
    rz_gguf *g = rz_calloc(1, sizeof *g);
    if (!g) {
        free(image);
        if (release) release(owner);
        return rz_error(RZ_ERR_NOMEM, "gguf: out of memory");
    }
    g->data = g->owned_image = image;
    g->size = size;
    g->release = release;
    g->release_pages = release_pages;
    g->owner = owner;
    rz_status st = parse(g);
    if (st != RZ_OK) {
        rz_gguf_close(g);
        return st;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++)
        g->tensors[i].data = data[i];
    *out = g;
    return RZ_OK;
}

void rz_gguf_release_pages(const rz_gguf *g, const void *p, size_t size) {
    if (g->release_pages)
        g->release_pages(g->owner, p, size);
    else if (g->map.data && (const unsigned char *)p >= g->map.data &&
             (const unsigned char *)p + size <= g->map.data + g->map.size)
        rz_mapped_release(p, size);
}

void rz_gguf_close(rz_gguf *g) {
    if (!g) return;
    if (g->release) g->release(g->owner);
    free(g->owned_image);
    if (g->kvs)
        for (uint64_t i = 0; i < g->n_kv; i++)
            free_value(&g->kvs[i].value);
    free(g->kvs);
    free(g->kv_slots);
    free(g->tensors);
    free(g->tensor_slots);
    rz_mapped_file_close(&g->map);
    free(g);
}

/* ------------------------------------------------------------- accessors */

uint32_t rz_gguf_version(const rz_gguf *g) { return g->version; }
uint64_t rz_gguf_alignment(const rz_gguf *g) { return g->alignment; }
uint64_t rz_gguf_data_offset(const rz_gguf *g) { return g->data_offset; }
uint64_t rz_gguf_file_size(const rz_gguf *g) { return g->size; }
uint64_t rz_gguf_kv_count(const rz_gguf *g) { return g->n_kv; }

rz_str rz_gguf_kv_key(const rz_gguf *g, uint64_t index) {
    return index < g->n_kv ? g->kvs[index].key : (rz_str){NULL, 0};
}

rz_gguf_type rz_gguf_kv_type(const rz_gguf *g, uint64_t index) {
    return index < g->n_kv ? g->kvs[index].value.type : RZ_GGUF_TYPE_COUNT;
}

const rz_gguf_value *rz_gguf_kv_value(const rz_gguf *g, uint64_t index) {
    return index < g->n_kv ? &g->kvs[index].value : NULL;
}

int64_t rz_gguf_find_key(const rz_gguf *g, const char *key) {
    const gguf_kv *kv = find_kv(g, key);
    return kv ? (int64_t)(kv - g->kvs) : -1;
}

static rz_status lookup(const rz_gguf *g, const char *key, const rz_gguf_value **out) {
    const gguf_kv *kv = find_kv(g, key);
    if (!kv) return rz_error(RZ_ERR_NOT_FOUND, "gguf: key '%s' not found", key);
    *out = &kv->value;
    return RZ_OK;
}

/* Integer value of `key` checked against [min, max] (signed targets) or
 * [0, umax] (unsigned targets). */
static rz_status get_integer(const rz_gguf *g, const char *key, bool is_signed, int64_t min, int64_t max,
                             uint64_t umax, uint64_t *out) {
    const rz_gguf_value *v = NULL;
    RZ_TRY(lookup(g, key, &v));
    if (!is_integer_type(v->type))
        return rz_error(RZ_ERR_TYPE, "gguf: key '%s' is %s, not an integer", key, rz_gguf_type_name(v->type));
    bool fits;
    if (is_signed_type(v->type))
        fits = is_signed ? v->v.i >= min && v->v.i <= max : v->v.i >= 0 && (uint64_t)v->v.i <= umax;
    else
        fits = is_signed ? v->v.u <= (uint64_t)max : v->v.u <= umax;
    if (!fits) {
        if (is_signed_type(v->type))
            return rz_error(RZ_ERR_RANGE, "gguf: key '%s' value %lld is out of range", key,
                            (long long)v->v.i);
        return rz_error(RZ_ERR_RANGE, "gguf: key '%s' value %llu is out of range", key,
                        (unsigned long long)v->v.u);
    }
    *out = v->v.u;
    return RZ_OK;
}

#define UNSIGNED_GETTER(name, ctype, umax)                                                                   \
    rz_status rz_gguf_get_##name(const rz_gguf *g, const char *key, ctype *out) {                            \
        uint64_t x = 0;                                                                                      \
        RZ_TRY(get_integer(g, key, false, 0, 0, umax, &x));                                                  \
        *out = (ctype)x;                                                                                     \
        return RZ_OK;                                                                                        \
    }
#define SIGNED_GETTER(name, ctype, min, max)                                                                 \
    rz_status rz_gguf_get_##name(const rz_gguf *g, const char *key, ctype *out) {                            \
        uint64_t x = 0;                                                                                      \
        RZ_TRY(get_integer(g, key, true, min, max, 0, &x));                                                  \
        *out = (ctype)(int64_t)x;                                                                            \
        return RZ_OK;                                                                                        \
    }
UNSIGNED_GETTER(u8, uint8_t, UINT8_MAX)
UNSIGNED_GETTER(u16, uint16_t, UINT16_MAX)
UNSIGNED_GETTER(u32, uint32_t, UINT32_MAX)
UNSIGNED_GETTER(u64, uint64_t, UINT64_MAX)
SIGNED_GETTER(i8, int8_t, INT8_MIN, INT8_MAX)
SIGNED_GETTER(i16, int16_t, INT16_MIN, INT16_MAX)
SIGNED_GETTER(i32, int32_t, INT32_MIN, INT32_MAX)
SIGNED_GETTER(i64, int64_t, INT64_MIN, INT64_MAX)

rz_status rz_gguf_get_f64(const rz_gguf *g, const char *key, double *out) {
    const rz_gguf_value *v = NULL;
    RZ_TRY(lookup(g, key, &v));
    if (v->type != RZ_GGUF_FLOAT32 && v->type != RZ_GGUF_FLOAT64)
        return rz_error(RZ_ERR_TYPE, "gguf: key '%s' is %s, not a float", key, rz_gguf_type_name(v->type));
    *out = v->v.f;
    return RZ_OK;
}

rz_status rz_gguf_get_f32(const rz_gguf *g, const char *key, float *out) {
    double x = 0;
    RZ_TRY(rz_gguf_get_f64(g, key, &x));
    *out = (float)x;
    return RZ_OK;
}

rz_status rz_gguf_get_bool(const rz_gguf *g, const char *key, bool *out) {
    const rz_gguf_value *v = NULL;
    RZ_TRY(lookup(g, key, &v));
    if (v->type != RZ_GGUF_BOOL)
        return rz_error(RZ_ERR_TYPE, "gguf: key '%s' is %s, not a bool", key, rz_gguf_type_name(v->type));
    *out = v->v.u != 0;
    return RZ_OK;
}

rz_status rz_gguf_get_str(const rz_gguf *g, const char *key, rz_str *out) {
    const rz_gguf_value *v = NULL;
    RZ_TRY(lookup(g, key, &v));
    if (v->type != RZ_GGUF_STRING)
        return rz_error(RZ_ERR_TYPE, "gguf: key '%s' is %s, not a string", key, rz_gguf_type_name(v->type));
    *out = v->v.s;
    return RZ_OK;
}

rz_status rz_gguf_get_array(const rz_gguf *g, const char *key, rz_gguf_type elem_type,
                            const rz_gguf_value **out) {
    const rz_gguf_value *v = NULL;
    RZ_TRY(lookup(g, key, &v));
    if (v->type != RZ_GGUF_ARRAY)
        return rz_error(RZ_ERR_TYPE, "gguf: key '%s' is %s, not an array", key, rz_gguf_type_name(v->type));
    if (v->elem_type != elem_type)
        return rz_error(RZ_ERR_TYPE, "gguf: key '%s' is an array of %s, not of %s", key,
                        rz_gguf_type_name(v->elem_type), rz_gguf_type_name(elem_type));
    *out = v;
    return RZ_OK;
}

rz_gguf_type rz_gguf_value_type(const rz_gguf_value *v) { return v->type; }

uint64_t rz_gguf_value_u64(const rz_gguf_value *v) {
    if (is_integer_type(v->type) || v->type == RZ_GGUF_BOOL) return v->v.u;
    if (v->type == RZ_GGUF_FLOAT32 || v->type == RZ_GGUF_FLOAT64)
        return v->v.f >= 0 && v->v.f < 0x1p64 ? (uint64_t)v->v.f : 0;
    return 0;
}

int64_t rz_gguf_value_i64(const rz_gguf_value *v) {
    if (is_integer_type(v->type) || v->type == RZ_GGUF_BOOL) return v->v.i;
    if (v->type == RZ_GGUF_FLOAT32 || v->type == RZ_GGUF_FLOAT64)
        return v->v.f >= -0x1p63 && v->v.f < 0x1p63 ? (int64_t)v->v.f : 0;
    return 0;
}

double rz_gguf_value_f64(const rz_gguf_value *v) {
    if (v->type == RZ_GGUF_FLOAT32 || v->type == RZ_GGUF_FLOAT64) return v->v.f;
    if (is_signed_type(v->type)) return (double)v->v.i;
    if (is_integer_type(v->type) || v->type == RZ_GGUF_BOOL) return (double)v->v.u;
    return 0;
}

rz_str rz_gguf_value_str(const rz_gguf_value *v) {
    return v->type == RZ_GGUF_STRING ? v->v.s : (rz_str){NULL, 0};
}

rz_gguf_type rz_gguf_array_type(const rz_gguf_value *v) {
    return v->type == RZ_GGUF_ARRAY ? v->elem_type : RZ_GGUF_TYPE_COUNT;
}

uint64_t rz_gguf_array_len(const rz_gguf_value *v) { return v->type == RZ_GGUF_ARRAY ? v->count : 0; }

const void *rz_gguf_array_data(const rz_gguf_value *v) {
    return v->type == RZ_GGUF_ARRAY && rz_gguf_type_size(v->elem_type) ? v->v.raw : NULL;
}

rz_str rz_gguf_array_str(const rz_gguf_value *v, uint64_t index) {
    if (v->type != RZ_GGUF_ARRAY || v->elem_type != RZ_GGUF_STRING || index >= v->count)
        return (rz_str){NULL, 0};
    return v->v.strs[index];
}

const rz_gguf_value *rz_gguf_array_elem(const rz_gguf_value *v, uint64_t index) {
    if (v->type != RZ_GGUF_ARRAY || index >= v->count) return NULL;
    if (v->elem_type == RZ_GGUF_ARRAY) return &v->v.items[index];
    /* The cache is the one mutable part of a const handle. */
    _Atomic(rz_gguf_value *) *cache = (_Atomic(rz_gguf_value *) *)&v->elems;
    rz_gguf_value *elems = atomic_load(cache);
    if (!elems) {
        elems = rz_calloc(v->count, sizeof(rz_gguf_value));
        if (!elems) return NULL;
        uint32_t size = rz_gguf_type_size(v->elem_type);
        for (uint64_t i = 0; i < v->count; i++) {
            if (size) {
                decode_scalar(v->elem_type, (const unsigned char *)v->v.raw + i * size, &elems[i]);
            } else {
                elems[i].type = RZ_GGUF_STRING;
                elems[i].v.s = v->v.strs[i];
            }
        }
        /* Another thread may have won the race; keep its copy. */
        rz_gguf_value *expected = NULL;
        if (!atomic_compare_exchange_strong(cache, &expected, elems)) {
            free(elems);
            elems = expected;
        }
    }
    return &elems[index];
}

uint64_t rz_gguf_tensor_count(const rz_gguf *g) { return g->n_tensors; }

const rz_gguf_tensor *rz_gguf_tensor_at(const rz_gguf *g, uint64_t index) {
    return index < g->n_tensors ? &g->tensors[index] : NULL;
}

const rz_gguf_tensor *rz_gguf_find_tensor(const rz_gguf *g, const char *name) {
    uint64_t s = slot_of(g->tensor_slots, g->tensor_mask, name, strlen(name), tensor_name, g);
    return g->tensor_slots[s] ? &g->tensors[g->tensor_slots[s] - 1] : NULL;
}

bool rz_gguf_probe(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    char magic[4] = {0};
    const size_t n = fread(magic, 1, sizeof magic, f);
    fclose(f);
    return n == sizeof magic && memcmp(magic, "GGUF", 4) == 0;
}
