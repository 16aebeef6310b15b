/* PyTorch checkpoints: the zip archives torch.save writes (PyTorch >= 1.6),
 * read without executing anything.
 *
 * The archive holds <prefix>/data.pkl, a pickle of the state dict, and one
 * entry per storage, <prefix>/data/<key>, stored uncompressed so tensors can
 * point into the mapping. In the pickle a tensor is a call of
 * torch._utils._rebuild_tensor_v2 on a persistent id naming such an entry.
 * The unpickler below knows only the opcodes and the handful of globals a
 * state dict needs, and evaluates those calls symbolically: any other global
 * is refused by name before anything could be called. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "base/mem.h"
#include "format/hf.h"

enum {
    ZIP_LOCAL_SIG = 0x04034b50,
    ZIP_CENTRAL_SIG = 0x02014b50,
    ZIP_EOCD_SIG = 0x06054b50,
    ZIP64_EOCD_SIG = 0x06064b50,
    ZIP64_LOCATOR_SIG = 0x07064b50,
    ZIP_LOCAL_BYTES = 30,
    ZIP_CENTRAL_BYTES = 46,
    ZIP_EOCD_BYTES = 22,
    ZIP64_EOCD_BYTES = 56,
    ZIP64_LOCATOR_BYTES = 20,
    ZIP_MAX_COMMENT = 0xffff,
    ZIP64_EXTRA_ID = 1,
};

/* Bounds on what a hostile file can make us allocate or recurse into; real
 * checkpoints stay far below each. */
enum {
    MAX_ENTRIES = 1 << 20,
    MAX_MARKS = 64,        /* open MARKs: a state dict nests three or four */
    MAX_STACK = 1 << 20,   /* pickle batches SETITEMS/APPENDS by 1000 */
    MAX_MEMO = 1 << 20,    /* memo slots */
    MAX_VALUES = 1 << 22,  /* objects built */
    MAX_ITEMS = 1 << 24,   /* items of one list, tuple or dict */
    MAX_STRING = 1 << 20,  /* bytes of one string */
    MAX_GLOBAL_LINE = 256, /* "module\nname\n" of a GLOBAL opcode */
    MAX_STORAGE_KEY = 64,  /* torch.save numbers its storages */
    MAX_TENSORS = 1 << 18, /* named tensors */
    MAX_DICT_DEPTH = 16,   /* dicts within dicts holding tensors */
    MAX_NAME = 512,        /* bytes of a tensor name ("a.b.c") */
    NAME_SHOWN = 64,       /* longest text quoted in a message */
    PICKLE_MAX_PROTOCOL = 5,
};

/* ------------------------------------------------------------- helpers */

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t rd32(const unsigned char *p) { return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

typedef struct shown_text {
    char text[NAME_SHOWN + 4];
} shown_text;

/* Untrusted bytes made printable and short enough for a one-line message. */
static shown_text show(const char *p, size_t len) {
    shown_text out;
    size_t n = len < NAME_SHOWN ? len : NAME_SHOWN;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        out.text[i] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
    }
    if (len > NAME_SHOWN) memcpy(out.text + n, "...", 3), n += 3;
    out.text[n] = '\0';
    return out;
}

static bool bytes_are(const char *p, size_t len, const char *s) {
    return strlen(s) == len && memcmp(p, s, len) == 0;
}

/* Grows an array to hold `need` elements; NULL (array untouched) on failure. */
static void *grow(void *array, uint32_t *cap, uint32_t need, size_t elem) {
    if (need <= *cap) return array;
    uint64_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *bigger = realloc(array, c * elem);
    if (!bigger) {
        rz_error(RZ_ERR_NOMEM, "torch: out of memory");
        return NULL;
    }
    *cap = (uint32_t)c;
    return bigger;
}

/* ------------------------------------------------------------------ zip */

typedef struct zip_entry {
    const char *name; /* in the central directory, not NUL-terminated */
    uint32_t name_len;
    uint64_t header; /* offset of the local header */
    uint64_t data;   /* offset of the bytes */
    uint64_t size;
} zip_entry;

typedef struct zip {
    const unsigned char *base;
    size_t size;
    zip_entry *entries; /* sorted by name */
    uint64_t n;
} zip;

typedef struct zip_directory {
    uint64_t count, offset, size;
    uint64_t end; /* where the end records start: entries must lie before */
} zip_directory;

static rz_status find_eocd(const zip *z, size_t *at) {
    if (z->size >= ZIP_EOCD_BYTES) {
        const size_t last = z->size - ZIP_EOCD_BYTES;
        const size_t lowest = last > ZIP_MAX_COMMENT ? last - ZIP_MAX_COMMENT : 0;
        /* The record ends the file exactly, after its comment. */
        for (size_t pos = last + 1; pos-- > lowest;)
            if (rd32(z->base + pos) == ZIP_EOCD_SIG &&
                pos + ZIP_EOCD_BYTES + rd16(z->base + pos + 20) == z->size) {
                *at = pos;
                return RZ_OK;
            }
    }
    return rz_error(RZ_ERR_FORMAT,
                    "torch: no zip end-of-central-directory record in %zu bytes (not a torch.save "
                    "archive, or truncated)",
                    z->size);
}

static rz_status read_directory(const zip *z, zip_directory *dir) {
    size_t eocd = 0;
    RZ_TRY(find_eocd(z, &eocd));
    const unsigned char *e = z->base + eocd;
    dir->count = rd16(e + 10);
    dir->size = rd32(e + 12);
    dir->offset = rd32(e + 16);
    dir->end = eocd;
    if (eocd >= ZIP64_LOCATOR_BYTES && rd32(e - ZIP64_LOCATOR_BYTES) == ZIP64_LOCATOR_SIG) {
        /* Big checkpoints: the 32-bit fields above are saturated and the
         * zip64 record the locator points at holds the real values. */
        const uint64_t at = rd64(e - ZIP64_LOCATOR_BYTES + 8);
        const uint64_t limit = eocd - ZIP64_LOCATOR_BYTES;
        if (at > limit || limit - at < ZIP64_EOCD_BYTES)
            return rz_error(RZ_ERR_FORMAT, "torch: zip64 end record offset %llu lies outside the file",
                            (unsigned long long)at);
        const unsigned char *r = z->base + at;
        if (rd32(r) != ZIP64_EOCD_SIG)
            return rz_error(RZ_ERR_FORMAT, "torch: no zip64 end-of-central-directory record at offset %llu",
                            (unsigned long long)at);
        if (rd32(r + 16) != 0 || rd32(r + 20) != 0)
            return rz_error(RZ_ERR_UNSUPPORTED, "torch: multi-volume zip archives are not supported");
        dir->count = rd64(r + 32);
        dir->size = rd64(r + 40);
        dir->offset = rd64(r + 48);
        dir->end = at;
    } else if (rd16(e + 4) != 0 || rd16(e + 6) != 0) {
        return rz_error(RZ_ERR_UNSUPPORTED, "torch: multi-volume zip archives are not supported");
    }
    if (dir->offset > dir->end || dir->size > dir->end - dir->offset)
        return rz_error(RZ_ERR_FORMAT,
                        "torch: zip central directory (offset %llu, %llu bytes) runs past the end of the "
                        "file (%zu bytes)",
                        (unsigned long long)dir->offset, (unsigned long long)dir->size, z->size);
    if (dir->count > dir->size / ZIP_CENTRAL_BYTES)
        return rz_error(RZ_ERR_FORMAT,
                        "torch: zip claims %llu entries but its central directory (%llu bytes) "
                        "holds at most %llu",
                        (unsigned long long)dir->count, (unsigned long long)dir->size,
                        (unsigned long long)(dir->size / ZIP_CENTRAL_BYTES));
    if (dir->count > MAX_ENTRIES)
        return rz_error(RZ_ERR_RANGE, "torch: zip has %llu entries (at most %d)",
                        (unsigned long long)dir->count, MAX_ENTRIES);
    return RZ_OK;
}

/* Replaces the saturated 32-bit sizes and offset by the zip64 extra field's. */
static rz_status read_zip64_extra(const unsigned char *x, uint32_t len, uint64_t *fields[3],
                                  const char *name) {
    while (len >= 4) {
        const uint32_t id = rd16(x), n = rd16(x + 2);
        if (n > len - 4)
            return rz_error(RZ_ERR_FORMAT, "torch: zip entry '%s' has an extra field running past its record",
                            name);
        if (id == ZIP64_EXTRA_ID) {
            const unsigned char *f = x + 4;
            uint32_t left = n;
            /* Only the saturated fields are present, in this order. */
            for (int i = 0; i < 3; i++) {
                if (*fields[i] != UINT32_MAX) continue;
                if (left < 8)
                    return rz_error(RZ_ERR_FORMAT, "torch: zip entry '%s' has a truncated zip64 extra field",
                                    name);
                *fields[i] = rd64(f);
                f += 8;
                left -= 8;
            }
            return RZ_OK;
        }
        x += 4 + n;
        len -= 4 + n;
    }
    return RZ_OK;
}

/* One central directory record at *pos (advanced past it) and its local header. */
static rz_status read_entry(const zip *z, const zip_directory *dir, uint64_t *pos, zip_entry *out) {
    const uint64_t end = dir->offset + dir->size;
    if (end - *pos < ZIP_CENTRAL_BYTES || rd32(z->base + *pos) != ZIP_CENTRAL_SIG)
        return rz_error(RZ_ERR_FORMAT, "torch: zip central directory record at offset %llu is malformed",
                        (unsigned long long)*pos);
    const unsigned char *c = z->base + *pos;
    const uint32_t flags = rd16(c + 8), method = rd16(c + 10);
    const uint32_t name_len = rd16(c + 28), extra_len = rd16(c + 30), comment_len = rd16(c + 32);
    if (end - *pos - ZIP_CENTRAL_BYTES < (uint64_t)name_len + extra_len + comment_len)
        return rz_error(RZ_ERR_FORMAT,
                        "torch: zip central directory record at offset %llu runs past the "
                        "directory",
                        (unsigned long long)*pos);
    const char *name = (const char *)c + ZIP_CENTRAL_BYTES;
    const shown_text shown = show(name, name_len);
    uint64_t usize = rd32(c + 24), csize = rd32(c + 20), header = rd32(c + 42);
    uint64_t *fields[3] = {&usize, &csize, &header};
    RZ_TRY(read_zip64_extra(c + ZIP_CENTRAL_BYTES + name_len, extra_len, fields, shown.text));
    *pos += ZIP_CENTRAL_BYTES + (uint64_t)name_len + extra_len + comment_len;

    if (flags & 1) return rz_error(RZ_ERR_UNSUPPORTED, "torch: zip entry '%s' is encrypted", shown.text);
    if (method != 0)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "torch: zip entry '%s' is compressed (method %u); torch.save stores entries "
                        "uncompressed, so the archive was rewritten by another tool",
                        shown.text, method);
    if (csize != usize)
        return rz_error(RZ_ERR_FORMAT, "torch: stored zip entry '%s' has compressed size %llu but size %llu",
                        shown.text, (unsigned long long)csize, (unsigned long long)usize);
    /* Local headers and data come before the central directory. */
    if (header > dir->offset || dir->offset - header < ZIP_LOCAL_BYTES)
        return rz_error(RZ_ERR_FORMAT,
                        "torch: zip entry '%s' has its local header at offset %llu, past the "
                        "entries",
                        shown.text, (unsigned long long)header);
    const unsigned char *l = z->base + header;
    if (rd32(l) != ZIP_LOCAL_SIG)
        return rz_error(RZ_ERR_FORMAT, "torch: zip entry '%s' has no local header at offset %llu", shown.text,
                        (unsigned long long)header);
    const uint64_t data = header + ZIP_LOCAL_BYTES + rd16(l + 26) + rd16(l + 28);
    if (rd16(l + 26) != name_len || data > dir->offset || memcmp(l + ZIP_LOCAL_BYTES, name, name_len) != 0)
        return rz_error(RZ_ERR_FORMAT, "torch: zip entry '%s' disagrees with its local header at offset %llu",
                        shown.text, (unsigned long long)header);
    if (rd16(l + 8) != 0)
        return rz_error(RZ_ERR_UNSUPPORTED, "torch: zip entry '%s' is compressed in its local header",
                        shown.text);
    if (usize > dir->offset - data)
        return rz_error(RZ_ERR_FORMAT,
                        "torch: zip entry '%s' (%llu bytes at offset %llu) runs past the entries into the "
                        "central directory",
                        shown.text, (unsigned long long)usize, (unsigned long long)data);
    *out = (zip_entry){name, name_len, header, data, usize};
    return RZ_OK;
}

static int by_header(const void *a, const void *b) {
    const zip_entry *x = a, *y = b;
    return x->header < y->header ? -1 : x->header > y->header;
}

static int compare_names(const char *a, size_t a_len, const char *b, size_t b_len) {
    int c = memcmp(a, b, a_len < b_len ? a_len : b_len);
    return c ? c : (a_len > b_len) - (a_len < b_len);
}

static int by_name(const void *a, const void *b) {
    const zip_entry *x = a, *y = b;
    return compare_names(x->name, x->name_len, y->name, y->name_len);
}

static rz_status read_zip(zip *z) {
    zip_directory dir;
    RZ_TRY(read_directory(z, &dir));
    z->entries = rz_calloc(dir.count ? dir.count : 1, sizeof *z->entries);
    if (!z->entries) return RZ_ERR_NOMEM;
    uint64_t pos = dir.offset;
    for (z->n = 0; z->n < dir.count; z->n++)
        RZ_TRY(read_entry(z, &dir, &pos, &z->entries[z->n]));
    /* Entries sharing bytes are how zip bombs and parser confusion work;
     * torch.save never writes them. */
    qsort(z->entries, z->n, sizeof *z->entries, by_header);
    for (uint64_t i = 1; i < z->n; i++) {
        const zip_entry *a = &z->entries[i - 1], *b = &z->entries[i];
        if (b->header < a->data + a->size)
            return rz_error(RZ_ERR_FORMAT, "torch: zip entries '%s' and '%s' overlap",
                            show(a->name, a->name_len).text, show(b->name, b->name_len).text);
    }
    qsort(z->entries, z->n, sizeof *z->entries, by_name);
    for (uint64_t i = 1; i < z->n; i++)
        if (by_name(&z->entries[i - 1], &z->entries[i]) == 0)
            return rz_error(RZ_ERR_FORMAT, "torch: zip entry '%s' appears twice",
                            show(z->entries[i].name, z->entries[i].name_len).text);
    return RZ_OK;
}

static const zip_entry *find_entry(const zip *z, const char *name, size_t len) {
    uint64_t lo = 0, hi = z->n;
    while (lo < hi) {
        const uint64_t mid = lo + (hi - lo) / 2;
        const int c = compare_names(z->entries[mid].name, z->entries[mid].name_len, name, len);
        if (c == 0) return &z->entries[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* ------------------------------------------------------------ unpickler */

typedef struct dtype_info {
    const char *storage; /* torch.<storage> class in persistent ids */
    const char *torch;   /* torch.<dtype> */
    const char *name;    /* safetensors' spelling */
    rz_type type;
    uint32_t bytes;
} dtype_info;

static const dtype_info DTYPES[] = {
    {"FloatStorage", "float32", "F32", RZ_TYPE_F32, 4},
    {"HalfStorage", "float16", "F16", RZ_TYPE_F16, 2},
    {"BFloat16Storage", "bfloat16", "BF16", RZ_TYPE_BF16, 2},
    {"DoubleStorage", "float64", "F64", RZ_TYPE_F64, 8},
    {"CharStorage", "int8", "I8", RZ_TYPE_I8, 1},
    {"ByteStorage", "uint8", "U8", RZ_TYPE_I8, 1},
    {"ShortStorage", "int16", "I16", RZ_TYPE_I16, 2},
    {"IntStorage", "int32", "I32", RZ_TYPE_I32, 4},
    {"LongStorage", "int64", "I64", RZ_TYPE_I64, 8},
    {"BoolStorage", "bool", "BOOL", RZ_TYPE_I8, 1},
};
enum { N_DTYPES = sizeof DTYPES / sizeof DTYPES[0] };

typedef enum global_id {
    G_ORDERED_DICT,
    G_REBUILD_TENSOR,
    G_REBUILD_TENSOR_V2,
    G_REBUILD_PARAMETER,
    G_STORAGE, /* a storage class, only meaningful in a persistent id */
    G_DTYPE,   /* inert */
} global_id;

typedef enum value_kind {
    V_NONE,
    V_BOOL,
    V_INT,
    V_FLOAT,
    V_STR,
    V_TUPLE,
    V_LIST,
    V_DICT,
    V_GLOBAL,
    V_STORAGE,
    V_TENSOR,
} value_kind;

static const char *const KIND_NAMES[] = {"None", "bool", "int",    "float",   "string", "tuple",
                                         "list", "dict", "global", "storage", "tensor"};

/* How the tensor naming pass has met a dict. */
enum { UNSEEN, VISITING, HOLDS_TENSORS, NO_TENSORS, NAMED };

/* Objects live in one array and refer to each other by index, which gives
 * the memo and containers Python's reference semantics. */
typedef struct value {
    uint8_t kind;
    uint8_t seen;
    union {
        int64_t i; /* V_BOOL, V_INT */
        struct {
            const char *ptr;
            uint32_t len;
        } str; /* V_STR: inside data.pkl */
        struct {
            uint32_t *items, n, cap;
        } seq; /* V_TUPLE, V_LIST; V_DICT as key, value pairs */
        struct {
            uint8_t id, dtype;
        } global; /* V_GLOBAL */
        struct {
            uint8_t dtype;
            uint32_t entry;
            uint64_t numel;
        } storage;       /* V_STORAGE */
        uint32_t tensor; /* V_TENSOR: index into tensors */
    } u;
} value;

typedef struct unpickler {
    const zip *z;
    const char *prefix; /* of every entry: "<name>/" */
    size_t prefix_len;
    const unsigned char *p;
    size_t n, pos, op_at;
    value *values;
    uint32_t n_values, cap_values;
    uint32_t *stack;
    uint32_t n_stack, cap_stack;
    uint32_t marks[MAX_MARKS]; /* stack heights at each open MARK */
    uint32_t n_marks;
    uint32_t *memo;             /* value index + 1; 0 for an empty slot */
    uint32_t n_memo, memo_used; /* slots, and those filled (MEMOIZE's next key) */
    rz_hf_tensor *tensors;      /* unnamed until the state dict is walked */
    uint32_t n_tensors, cap_tensors;
} unpickler;

static rz_status bad(const unpickler *u, const char *what) {
    return rz_error(RZ_ERR_FORMAT, "torch: pickle: %s (opcode 0x%02x at offset %zu)", what, u->p[u->op_at],
                    u->op_at);
}

static rz_status take(unpickler *u, size_t count, const unsigned char **out) {
    if (u->n - u->pos < count) return bad(u, "data.pkl is truncated");
    *out = u->p + u->pos;
    u->pos += count;
    return RZ_OK;
}

static rz_status new_value(unpickler *u, value_kind kind, uint32_t *out) {
    if (u->n_values >= MAX_VALUES)
        return rz_error(RZ_ERR_RANGE, "torch: pickle: more than %d objects", MAX_VALUES);
    value *v = grow(u->values, &u->cap_values, u->n_values + 1, sizeof *v);
    if (!v) return RZ_ERR_NOMEM;
    u->values = v;
    memset(&v[u->n_values], 0, sizeof *v);
    v[u->n_values].kind = (uint8_t)kind;
    *out = u->n_values++;
    return RZ_OK;
}

static rz_status push(unpickler *u, uint32_t v) {
    if (u->n_stack >= MAX_STACK)
        return rz_error(RZ_ERR_RANGE, "torch: pickle: stack deeper than %d objects", MAX_STACK);
    uint32_t *s = grow(u->stack, &u->cap_stack, u->n_stack + 1, sizeof *s);
    if (!s) return RZ_ERR_NOMEM;
    u->stack = s;
    s[u->n_stack++] = v;
    return RZ_OK;
}

static rz_status push_new(unpickler *u, value_kind kind, uint32_t *out) {
    RZ_TRY(new_value(u, kind, out));
    return push(u, *out);
}

static uint32_t mark_base(const unpickler *u) { return u->n_marks ? u->marks[u->n_marks - 1] : 0; }

static rz_status pop(unpickler *u, uint32_t *out) {
    if (u->n_stack <= mark_base(u)) return bad(u, "stack underflow");
    *out = u->stack[--u->n_stack];
    return RZ_OK;
}

static rz_status top(const unpickler *u, uint32_t *out) {
    if (u->n_stack <= mark_base(u)) return bad(u, "stack underflow");
    *out = u->stack[u->n_stack - 1];
    return RZ_OK;
}

/* Closes the innermost MARK; the objects above it start at stack[*first]. */
static rz_status pop_mark(unpickler *u, uint32_t *first) {
    if (!u->n_marks) return bad(u, "no MARK to close");
    *first = u->marks[--u->n_marks];
    return RZ_OK;
}

static rz_status add_items(unpickler *u, uint32_t container, const uint32_t *items, uint32_t count) {
    value *c = &u->values[container];
    if (count > MAX_ITEMS - c->u.seq.n)
        return rz_error(RZ_ERR_RANGE, "torch: pickle: a %s of more than %d items", KIND_NAMES[c->kind],
                        MAX_ITEMS);
    uint32_t *bigger = grow(c->u.seq.items, &c->u.seq.cap, c->u.seq.n + count, sizeof *bigger);
    if (!bigger) return RZ_ERR_NOMEM;
    c->u.seq.items = bigger;
    memcpy(bigger + c->u.seq.n, items, count * sizeof *items);
    c->u.seq.n += count;
    return RZ_OK;
}

/* The `count` objects on top of the stack become a new tuple, list or dict. */
static rz_status collect_top(unpickler *u, value_kind kind, uint32_t count) {
    if (u->n_stack - mark_base(u) < count) return bad(u, "stack underflow");
    if (kind == V_DICT && count % 2) return bad(u, "a dict of an odd number of keys and values");
    uint32_t v = 0;
    RZ_TRY(new_value(u, kind, &v));
    u->n_stack -= count;
    RZ_TRY(add_items(u, v, u->stack + u->n_stack, count));
    return push(u, v);
}

/* APPEND(S) and SETITEM(S): the top `count` objects join the container below them. */
static rz_status extend(unpickler *u, uint32_t count, value_kind kind) {
    if (u->n_stack - mark_base(u) <= count) return bad(u, "stack underflow");
    const uint32_t first = u->n_stack - count, container = u->stack[first - 1];
    if (u->values[container].kind != kind)
        return rz_error(RZ_ERR_FORMAT, "torch: pickle: %s on a %s (offset %zu)",
                        kind == V_DICT ? "SETITEM" : "APPEND", KIND_NAMES[u->values[container].kind],
                        u->op_at);
    if (kind == V_DICT && count % 2) return bad(u, "a dict of an odd number of keys and values");
    RZ_TRY(add_items(u, container, u->stack + first, count));
    u->n_stack = first;
    return RZ_OK;
}

static rz_status push_int(unpickler *u, value_kind kind, int64_t i) {
    uint32_t v = 0;
    RZ_TRY(push_new(u, kind, &v));
    u->values[v].u.i = i;
    return RZ_OK;
}

/* LONG1/LONG4: little-endian two's complement; tensor sizes fit 64 bits. */
static rz_status op_long(unpickler *u, uint32_t len_bytes) {
    const unsigned char *p = NULL;
    RZ_TRY(take(u, len_bytes, &p));
    const uint64_t len = len_bytes == 1 ? p[0] : rd32(p);
    if (len > 8) return bad(u, "integer wider than 64 bits");
    RZ_TRY(take(u, len, &p));
    uint64_t x = 0;
    for (uint64_t i = 0; i < len; i++)
        x |= (uint64_t)p[i] << (8 * i);
    if (len && len < 8 && (p[len - 1] & 0x80)) x |= UINT64_MAX << (8 * len);
    return push_int(u, V_INT, (int64_t)x);
}

/* Text and bytes opcodes alike: keys and persistent ids only need the bytes. */
static rz_status op_string(unpickler *u, uint32_t len_bytes) {
    const unsigned char *p = NULL;
    RZ_TRY(take(u, len_bytes, &p));
    const uint64_t len = len_bytes == 1 ? p[0] : len_bytes == 4 ? rd32(p) : rd64(p);
    if (len > MAX_STRING) {
        char what[96];
        snprintf(what, sizeof what, "string of %llu bytes exceeds the %d-byte limit", (unsigned long long)len,
                 MAX_STRING);
        return bad(u, what);
    }
    RZ_TRY(take(u, len, &p));
    uint32_t v = 0;
    RZ_TRY(push_new(u, V_STR, &v));
    u->values[v].u.str.ptr = (const char *)p;
    u->values[v].u.str.len = (uint32_t)len;
    return RZ_OK;
}

static rz_status resolve_global(unpickler *u, const char *module, size_t module_len, const char *name,
                                size_t name_len) {
    int id = -1, dtype = 0;
    if (bytes_are(module, module_len, "collections") && bytes_are(name, name_len, "OrderedDict")) {
        id = G_ORDERED_DICT;
    } else if (bytes_are(module, module_len, "torch._utils")) {
        if (bytes_are(name, name_len, "_rebuild_tensor_v2")) id = G_REBUILD_TENSOR_V2;
        if (bytes_are(name, name_len, "_rebuild_tensor")) id = G_REBUILD_TENSOR;
        if (bytes_are(name, name_len, "_rebuild_parameter")) id = G_REBUILD_PARAMETER;
    } else if (bytes_are(module, module_len, "torch")) {
        for (int d = 0; d < N_DTYPES && id < 0; d++) {
            if (bytes_are(name, name_len, DTYPES[d].storage)) id = G_STORAGE, dtype = d;
            if (bytes_are(name, name_len, DTYPES[d].torch)) id = G_DTYPE, dtype = d;
        }
    }
    if (id < 0)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "torch: pickle: global '%s %s' is not allowed in a tensor checkpoint",
                        show(module, module_len).text, show(name, name_len).text);
    uint32_t v = 0;
    RZ_TRY(push_new(u, V_GLOBAL, &v));
    u->values[v].u.global.id = (uint8_t)id;
    u->values[v].u.global.dtype = (uint8_t)dtype;
    return RZ_OK;
}

/* GLOBAL: "module\nname\n". */
static rz_status op_global(unpickler *u) {
    const char *line[2];
    size_t len[2];
    for (int i = 0; i < 2; i++) {
        const size_t left = u->n - u->pos, limit = left < MAX_GLOBAL_LINE ? left : MAX_GLOBAL_LINE;
        const unsigned char *nl = memchr(u->p + u->pos, '\n', limit);
        if (!nl) return bad(u, "GLOBAL name is unterminated or too long");
        line[i] = (const char *)u->p + u->pos;
        len[i] = (size_t)(nl - (u->p + u->pos));
        u->pos += len[i] + 1;
    }
    return resolve_global(u, line[0], len[0], line[1], len[1]);
}

static rz_status op_stack_global(unpickler *u) {
    uint32_t name = 0, module = 0;
    RZ_TRY(pop(u, &name));
    RZ_TRY(pop(u, &module));
    const value *n = &u->values[name], *m = &u->values[module];
    if (n->kind != V_STR || m->kind != V_STR) return bad(u, "STACK_GLOBAL of a non-string");
    return resolve_global(u, m->u.str.ptr, m->u.str.len, n->u.str.ptr, n->u.str.len);
}

static rz_status memo_put(unpickler *u, uint64_t key) {
    if (key >= MAX_MEMO) return bad(u, "memo key beyond the memo limit");
    uint32_t v = 0;
    RZ_TRY(top(u, &v));
    if (key >= u->n_memo) {
        /* Pickle numbers the memo densely from 0; grow in steps. */
        uint32_t cap = u->n_memo;
        uint32_t *m = grow(u->memo, &cap, (uint32_t)key + 1, sizeof *m);
        if (!m) return RZ_ERR_NOMEM;
        memset(m + u->n_memo, 0, (cap - u->n_memo) * sizeof *m);
        u->memo = m;
        u->n_memo = cap;
    }
    u->memo_used += !u->memo[key];
    u->memo[key] = v + 1;
    return RZ_OK;
}

static rz_status memo_get(unpickler *u, uint64_t key) {
    if (key >= u->n_memo || !u->memo[key]) return bad(u, "memo key was never stored");
    return push(u, u->memo[key] - 1);
}

static uint32_t item(const unpickler *u, uint32_t container, uint32_t i) {
    return u->values[container].u.seq.items[i];
}

/* persistent_load: ('storage', torch.<T>Storage, key, location, numel) names
 * the archive entry <prefix>/data/<key> holding numel elements. */
static rz_status op_persistent_id(unpickler *u) {
    uint32_t pid = 0;
    RZ_TRY(pop(u, &pid));
    const value *t = &u->values[pid];
    if (t->kind != V_TUPLE || t->u.seq.n != 5)
        return bad(u, "persistent id is not a ('storage', type, key, location, numel) tuple");
    const value *tag = &u->values[item(u, pid, 0)], *type = &u->values[item(u, pid, 1)];
    const value *key = &u->values[item(u, pid, 2)], *numel = &u->values[item(u, pid, 4)];
    if (tag->kind != V_STR || !bytes_are(tag->u.str.ptr, tag->u.str.len, "storage"))
        return bad(u, "persistent id is not a 'storage'");
    if (type->kind != V_GLOBAL || type->u.global.id != G_STORAGE)
        return bad(u, "persistent id names no torch storage type");
    if (key->kind != V_STR || key->u.str.len > MAX_STORAGE_KEY)
        return bad(u, "persistent id has no storage key, or one too long");
    if (numel->kind != V_INT || numel->u.i < 0) return bad(u, "persistent id has a negative element count");
    const dtype_info *d = &DTYPES[type->u.global.dtype];
    char path[MAX_NAME];
    const int len = snprintf(path, sizeof path, "%.*sdata/%.*s", (int)u->prefix_len, u->prefix,
                             (int)key->u.str.len, key->u.str.ptr);
    if (len < 0 || (size_t)len >= sizeof path) return bad(u, "storage path too long");
    const zip_entry *e = find_entry(u->z, path, (size_t)len);
    if (!e)
        return rz_error(RZ_ERR_FORMAT, "torch: storage '%s' has no archive entry '%s'",
                        show(key->u.str.ptr, key->u.str.len).text, show(path, (size_t)len).text);
    uint64_t bytes;
    if (rz_mul_overflow((uint64_t)numel->u.i, d->bytes, &bytes) || bytes > e->size)
        return rz_error(RZ_ERR_FORMAT,
                        "torch: storage '%s' of %llu %s elements needs more than its entry's %llu "
                        "bytes",
                        show(key->u.str.ptr, key->u.str.len).text, (unsigned long long)numel->u.i, d->name,
                        (unsigned long long)e->size);
    const uint8_t dtype = type->u.global.dtype;
    const uint64_t n = (uint64_t)numel->u.i;
    uint32_t v = 0;
    RZ_TRY(push_new(u, V_STORAGE, &v));
    u->values[v].u.storage.dtype = dtype;
    u->values[v].u.storage.entry = (uint32_t)(e - u->z->entries);
    u->values[v].u.storage.numel = n;
    return RZ_OK;
}

/* A tuple of non-negative ints of at most RZ_MAX_DIMS elements. */
static rz_status read_dims(const unpickler *u, uint32_t v, const char *what, uint64_t dims[RZ_MAX_DIMS],
                           uint32_t *n) {
    const value *t = &u->values[v];
    if (t->kind != V_TUPLE)
        return rz_error(RZ_ERR_FORMAT, "torch: pickle: tensor %s is a %s, not a tuple", what,
                        KIND_NAMES[t->kind]);
    if (t->u.seq.n > RZ_MAX_DIMS)
        return rz_error(RZ_ERR_UNSUPPORTED, "torch: tensor has %u dimensions (at most %d are supported)",
                        t->u.seq.n, RZ_MAX_DIMS);
    for (uint32_t i = 0; i < t->u.seq.n; i++) {
        const value *d = &u->values[t->u.seq.items[i]];
        if (d->kind != V_INT || d->u.i < 0)
            return rz_error(RZ_ERR_FORMAT, "torch: pickle: tensor %s holds a %s", what,
                            d->kind == V_INT ? "negative int" : KIND_NAMES[d->kind]);
        dims[i] = (uint64_t)d->u.i;
    }
    *n = t->u.seq.n;
    return RZ_OK;
}

static void format_dims(char *buf, size_t cap, const uint64_t *dims, uint32_t n) {
    size_t len = (size_t)snprintf(buf, cap, "(");
    for (uint32_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, i ? ", %llu" : "%llu", (unsigned long long)dims[i]);
    if (len < cap) snprintf(buf + len, cap - len, ")");
}

/* _rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...): a view
 * of the storage, which must be contiguous row-major to be used in place. */
static rz_status rebuild_tensor(unpickler *u, uint32_t args, uint32_t *out) {
    const value *s = &u->values[item(u, args, 0)], *offset = &u->values[item(u, args, 1)];
    if (s->kind != V_STORAGE)
        return rz_error(RZ_ERR_FORMAT, "torch: pickle: tensor built from a %s, not a storage",
                        KIND_NAMES[s->kind]);
    if (offset->kind != V_INT || offset->u.i < 0)
        return rz_error(RZ_ERR_FORMAT, "torch: pickle: tensor storage offset is not a non-negative int");
    uint64_t size[RZ_MAX_DIMS], stride[RZ_MAX_DIMS];
    uint32_t n, n_stride;
    RZ_TRY(read_dims(u, item(u, args, 2), "size", size, &n));
    RZ_TRY(read_dims(u, item(u, args, 3), "stride", stride, &n_stride));
    char shape[128], strides[128];
    format_dims(shape, sizeof shape, size, n);
    format_dims(strides, sizeof strides, stride, n_stride);
    if (n_stride != n)
        return rz_error(RZ_ERR_FORMAT, "torch: tensor of size %s has strides %s", shape, strides);
    /* span bounds numel; it skips zero dims because consumers multiply the
     * dims of empty tensors too. */
    uint64_t numel = 1, span = 1;
    bool contiguous = true;
    for (uint32_t d = n; d-- > 0;) {
        /* Size-1 dims take any stride, as in torch's is_contiguous. */
        if (size[d] != 1 && stride[d] != numel) contiguous = false;
        if (rz_mul_overflow(span, size[d] ? size[d] : 1, &span) || span > INT64_MAX)
            return rz_error(RZ_ERR_FORMAT, "torch: tensor size %s overflows 63-bit element counts", shape);
        numel *= size[d];
    }
    if (!contiguous && numel)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "torch: tensor of size %s has strides %s, not contiguous row-major; save "
                        "t.contiguous() instead",
                        shape, strides);
    const dtype_info *d = &DTYPES[s->u.storage.dtype];
    const zip_entry *e = &u->z->entries[s->u.storage.entry];
    uint64_t end;
    if (rz_add_overflow((uint64_t)offset->u.i, numel, &end) || end > s->u.storage.numel)
        return rz_error(RZ_ERR_FORMAT,
                        "torch: tensor of size %s at offset %llu runs past its storage '%s' of %llu elements",
                        shape, (unsigned long long)offset->u.i, show(e->name, e->name_len).text,
                        (unsigned long long)s->u.storage.numel);
    if (u->n_tensors >= MAX_TENSORS)
        return rz_error(RZ_ERR_RANGE, "torch: more than %d tensors", MAX_TENSORS);
    rz_hf_tensor t = {.type = d->type, .n_dims = n};
    snprintf(t.dtype, sizeof t.dtype, "%s", d->name);
    for (uint32_t i = 0; i < RZ_MAX_DIMS; i++)
        t.ne[i] = i < n ? size[n - 1 - i] : 1;
    /* Within the entry (checked above and in op_persistent_id), so no overflow. */
    t.data = u->z->base + e->data + (uint64_t)offset->u.i * d->bytes;
    t.size = numel * d->bytes;
    rz_hf_tensor *tensors = grow(u->tensors, &u->cap_tensors, u->n_tensors + 1, sizeof *tensors);
    if (!tensors) return RZ_ERR_NOMEM;
    u->tensors = tensors;
    tensors[u->n_tensors] = t;
    RZ_TRY(new_value(u, V_TENSOR, out));
    u->values[*out].u.tensor = u->n_tensors++;
    return RZ_OK;
}

/* REDUCE and NEWOBJ: only the allow-listed constructors, applied symbolically. */
static rz_status op_call(unpickler *u) {
    uint32_t args = 0, callable = 0, result = 0;
    RZ_TRY(pop(u, &args));
    RZ_TRY(pop(u, &callable));
    const value *f = &u->values[callable], *a = &u->values[args];
    if (a->kind != V_TUPLE) return bad(u, "call arguments are not a tuple");
    if (f->kind != V_GLOBAL) return bad(u, "call of something other than a global");
    const uint32_t n = a->u.seq.n;
    switch (f->u.global.id) {
    case G_ORDERED_DICT:
        if (n != 0) return bad(u, "OrderedDict built with arguments");
        return push_new(u, V_DICT, &result);
    case G_REBUILD_TENSOR:
    case G_REBUILD_TENSOR_V2:
        /* v2 adds requires_grad and backward_hooks, newer versions metadata. */
        if (f->u.global.id == G_REBUILD_TENSOR ? n != 4 : n != 6 && n != 7)
            return bad(u, "tensor rebuilt with the wrong number of arguments");
        RZ_TRY(rebuild_tensor(u, args, &result));
        return push(u, result);
    case G_REBUILD_PARAMETER:
        /* (tensor, requires_grad, backward_hooks): the tensor itself. */
        if (n != 3 || u->values[item(u, args, 0)].kind != V_TENSOR)
            return bad(u, "parameter rebuilt from something other than a tensor");
        return push(u, item(u, args, 0));
    default: return bad(u, "call of a torch storage type or dtype");
    }
}

/* BUILD sets attributes: an OrderedDict's _metadata, a tensor's Python
 * state. Neither matters to the data, so the state is dropped. */
static rz_status op_build(unpickler *u) {
    uint32_t state = 0, target = 0;
    RZ_TRY(pop(u, &state));
    RZ_TRY(top(u, &target));
    const uint8_t kind = u->values[target].kind;
    if (kind != V_DICT && kind != V_TENSOR) return bad(u, "BUILD on something other than a dict or tensor");
    return RZ_OK;
}

static rz_status step(unpickler *u, unsigned char op, bool *stop, uint32_t *result) {
    const unsigned char *p = NULL;
    uint32_t v = 0, first = 0;
    switch (op) {
    case 0x80: /* PROTO */
        RZ_TRY(take(u, 1, &p));
        if (p[0] > PICKLE_MAX_PROTOCOL) return bad(u, "pickle protocol newer than 5");
        return RZ_OK;
    case 0x95: return take(u, 8, &p); /* FRAME: a length hint */
    case '.': /* STOP */ *stop = true; return pop(u, result);
    case '(': /* MARK */
        if (u->n_marks >= MAX_MARKS) {
            char what[64];
            snprintf(what, sizeof what, "nesting deeper than %d MARKs", MAX_MARKS);
            return bad(u, what);
        }
        u->marks[u->n_marks++] = u->n_stack;
        return RZ_OK;
    case '0': return pop(u, &v); /* POP */
    case '1':                    /* POP_MARK */
        RZ_TRY(pop_mark(u, &first));
        u->n_stack = first;
        return RZ_OK;
    case '2': RZ_TRY(top(u, &v)); return push(u, v); /* DUP */
    case 'N': return push_new(u, V_NONE, &v);
    case 0x88: return push_int(u, V_BOOL, 1);                                      /* NEWTRUE */
    case 0x89: return push_int(u, V_BOOL, 0);                                      /* NEWFALSE */
    case 'J': RZ_TRY(take(u, 4, &p)); return push_int(u, V_INT, (int32_t)rd32(p)); /* BININT */
    case 'K': RZ_TRY(take(u, 1, &p)); return push_int(u, V_INT, p[0]);             /* BININT1 */
    case 'M': RZ_TRY(take(u, 2, &p)); return push_int(u, V_INT, rd16(p));          /* BININT2 */
    case 0x8a: return op_long(u, 1);                                               /* LONG1 */
    case 0x8b: return op_long(u, 4);                                               /* LONG4 */
    case 'G': RZ_TRY(take(u, 8, &p)); return push_new(u, V_FLOAT, &v);             /* BINFLOAT */
    case 'X':                                                                      /* BINUNICODE */
    case 'T':                                                                      /* BINSTRING */
    case 'B': return op_string(u, 4);                                              /* BINBYTES */
    case 0x8c:                                                                     /* SHORT_BINUNICODE */
    case 'U':                                                                      /* SHORT_BINSTRING */
    case 'C': return op_string(u, 1);                                              /* SHORT_BINBYTES */
    case 0x8d:                                                                     /* BINUNICODE8 */
    case 0x8e: return op_string(u, 8);                                             /* BINBYTES8 */
    case '}': return push_new(u, V_DICT, &v);                                      /* EMPTY_DICT */
    case ']': return push_new(u, V_LIST, &v);                                      /* EMPTY_LIST */
    case ')': return push_new(u, V_TUPLE, &v);                                     /* EMPTY_TUPLE */
    case 0x85: return collect_top(u, V_TUPLE, 1);                                  /* TUPLE1 */
    case 0x86: return collect_top(u, V_TUPLE, 2);                                  /* TUPLE2 */
    case 0x87: return collect_top(u, V_TUPLE, 3);                                  /* TUPLE3 */
    case 't':                                                                      /* TUPLE */
    case 'l':                                                                      /* LIST */
    case 'd':                                                                      /* DICT */
        RZ_TRY(pop_mark(u, &first));
        return collect_top(u, op == 't' ? V_TUPLE : op == 'l' ? V_LIST : V_DICT, u->n_stack - first);
    case 'a': return extend(u, 1, V_LIST); /* APPEND */
    case 's': return extend(u, 2, V_DICT); /* SETITEM */
    case 'e':                              /* APPENDS */
    case 'u':                              /* SETITEMS */
        RZ_TRY(pop_mark(u, &first));
        return extend(u, u->n_stack - first, op == 'e' ? V_LIST : V_DICT);
    case 'q': RZ_TRY(take(u, 1, &p)); return memo_put(u, p[0]);    /* BINPUT */
    case 'r': RZ_TRY(take(u, 4, &p)); return memo_put(u, rd32(p)); /* LONG_BINPUT */
    case 0x94: return memo_put(u, u->memo_used);                   /* MEMOIZE */
    case 'h': RZ_TRY(take(u, 1, &p)); return memo_get(u, p[0]);    /* BINGET */
    case 'j': RZ_TRY(take(u, 4, &p)); return memo_get(u, rd32(p)); /* LONG_BINGET */
    case 'c': return op_global(u);
    case 0x93: return op_stack_global(u);
    case 'R':                     /* REDUCE */
    case 0x81: return op_call(u); /* NEWOBJ */
    case 'b': return op_build(u);
    case 'Q': return op_persistent_id(u); /* BINPERSID */
    default: return bad(u, "opcode is not supported in a tensor checkpoint");
    }
}

static rz_status run(unpickler *u, uint32_t *result) {
    bool stop = false;
    while (!stop) {
        if (u->pos >= u->n)
            return rz_error(RZ_ERR_FORMAT, "torch: pickle: data.pkl ends at offset %zu without STOP", u->n);
        u->op_at = u->pos++;
        RZ_TRY(step(u, u->p[u->op_at], &stop, result));
    }
    return RZ_OK;
}

static void free_unpickler(unpickler *u) {
    for (uint32_t i = 0; i < u->n_values; i++)
        if (u->values[i].kind == V_TUPLE || u->values[i].kind == V_LIST || u->values[i].kind == V_DICT)
            free(u->values[i].u.seq.items);
    free(u->values);
    free(u->stack);
    free(u->memo);
    free(u->tensors);
}

/* -------------------------------------------------------------- naming */

struct rz_torch {
    rz_mapped_file map; /* empty for rz_torch_open_memory */
    rz_hf_tensor *tensors;
    uint32_t n_tensors, cap_tensors;
};

/* Whether dict d holds tensors at any depth; memoized in `seen`. */
static rz_status holds_tensors(unpickler *u, uint32_t d, unsigned depth, bool *out) {
    value *v = &u->values[d];
    if (v->seen != UNSEEN) {
        /* A dict containing itself counts where the walk entered it. */
        *out = v->seen == HOLDS_TENSORS;
        return RZ_OK;
    }
    if (depth >= MAX_DICT_DEPTH)
        return rz_error(RZ_ERR_RANGE, "torch: dicts nested deeper than %d levels", MAX_DICT_DEPTH);
    v->seen = VISITING;
    bool any = false;
    for (uint32_t i = 1; i < v->u.seq.n; i += 2) {
        const uint32_t x = v->u.seq.items[i];
        bool sub = u->values[x].kind == V_TENSOR;
        if (u->values[x].kind == V_DICT) RZ_TRY(holds_tensors(u, x, depth + 1, &sub));
        any |= sub;
    }
    u->values[d].seen = any ? HOLDS_TENSORS : NO_TENSORS;
    *out = any;
    return RZ_OK;
}

static rz_status add_tensor(rz_torch *t, const unpickler *u, const char *name, size_t len, uint32_t tensor) {
    if (t->n_tensors >= MAX_TENSORS)
        return rz_error(RZ_ERR_RANGE, "torch: more than %d tensors", MAX_TENSORS);
    rz_hf_tensor *tensors = grow(t->tensors, &t->cap_tensors, t->n_tensors + 1, sizeof *tensors);
    if (!tensors) return RZ_ERR_NOMEM;
    t->tensors = tensors;
    char *copy = malloc(len + 1);
    if (!copy) return rz_error(RZ_ERR_NOMEM, "torch: out of memory");
    memcpy(copy, name, len);
    copy[len] = '\0';
    tensors[t->n_tensors] = u->tensors[tensor];
    tensors[t->n_tensors++].name = copy;
    return RZ_OK;
}

/* Names the tensors under dict d "<prefix><key>", recursing as "<prefix><key>.". */
static rz_status name_tensors(rz_torch *t, unpickler *u, uint32_t d, char *name, size_t prefix_len,
                              unsigned depth) {
    if (u->values[d].seen == NAMED)
        return rz_error(RZ_ERR_FORMAT, "torch: a dict of tensors is reachable twice (shared or cyclic)");
    if (depth >= MAX_DICT_DEPTH)
        return rz_error(RZ_ERR_RANGE, "torch: dicts nested deeper than %d levels", MAX_DICT_DEPTH);
    u->values[d].seen = NAMED;
    for (uint32_t i = 0; i + 1 < u->values[d].u.seq.n; i += 2) {
        const value *k = &u->values[item(u, d, i)];
        const uint32_t x = item(u, d, i + 1);
        const value *v = &u->values[x];
        const bool tensor = v->kind == V_TENSOR, dict = v->kind == V_DICT && v->seen != NO_TENSORS;
        if (!tensor && !dict) continue;
        char key[32];
        const char *kp = key;
        size_t klen;
        if (k->kind == V_STR) {
            kp = k->u.str.ptr;
            klen = k->u.str.len;
            if (memchr(kp, '\0', klen))
                return rz_error(RZ_ERR_FORMAT, "torch: tensor key '%s' contains a NUL byte",
                                show(kp, klen).text);
        } else if (k->kind == V_INT) {
            /* Optimizer states key their entries by parameter number. */
            klen = (size_t)snprintf(key, sizeof key, "%lld", (long long)k->u.i);
        } else {
            return rz_error(RZ_ERR_FORMAT, "torch: a tensor is stored under a %s key", KIND_NAMES[k->kind]);
        }
        if (klen + 1 > MAX_NAME - prefix_len)
            return rz_error(RZ_ERR_RANGE, "torch: tensor name '%s%s' is longer than %d bytes",
                            show(name, prefix_len).text, show(kp, klen).text, MAX_NAME);
        memcpy(name + prefix_len, kp, klen);
        if (tensor) {
            RZ_TRY(add_tensor(t, u, name, prefix_len + klen, v->u.tensor));
        } else {
            name[prefix_len + klen] = '.';
            RZ_TRY(name_tensors(t, u, x, name, prefix_len + klen + 1, depth + 1));
        }
    }
    return RZ_OK;
}

static int by_tensor_name(const void *a, const void *b) {
    return strcmp((*(const rz_hf_tensor *const *)a)->name, (*(const rz_hf_tensor *const *)b)->name);
}

static rz_status check_unique_names(const rz_torch *t) {
    const rz_hf_tensor **sorted = rz_calloc(t->n_tensors ? t->n_tensors : 1, sizeof *sorted);
    if (!sorted) return RZ_ERR_NOMEM;
    for (uint32_t i = 0; i < t->n_tensors; i++)
        sorted[i] = &t->tensors[i];
    qsort(sorted, t->n_tensors, sizeof *sorted, by_tensor_name);
    rz_status s = RZ_OK;
    for (uint32_t i = 1; i < t->n_tensors && s == RZ_OK; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            s = rz_error(RZ_ERR_FORMAT, "torch: tensor name '%s' appears twice",
                         show(sorted[i]->name, strlen(sorted[i]->name)).text);
    free(sorted);
    return s;
}

/* The pickled object must be a dict; a wrapper such as {"state_dict": ...,
 * "epoch": 3} whose only tensors sit in one inner dict is looked through. */
static rz_status name_all(rz_torch *t, unpickler *u, uint32_t root) {
    if (u->values[root].kind != V_DICT)
        return rz_error(RZ_ERR_UNSUPPORTED, "torch: the checkpoint holds a %s, not a dict of tensors",
                        KIND_NAMES[u->values[root].kind]);
    bool any;
    RZ_TRY(holds_tensors(u, root, 0, &any));
    uint32_t inner = 0, n_inner = 0, n_direct = 0;
    const value *r = &u->values[root];
    for (uint32_t i = 1; i < r->u.seq.n; i += 2) {
        const value *v = &u->values[r->u.seq.items[i]];
        n_direct += v->kind == V_TENSOR;
        if (v->kind == V_DICT && v->seen == HOLDS_TENSORS) inner = r->u.seq.items[i], n_inner++;
    }
    char name[MAX_NAME];
    RZ_TRY(name_tensors(t, u, n_direct == 0 && n_inner == 1 ? inner : root, name, 0, 0));
    return check_unique_names(t);
}

/* ------------------------------------------------------------ checkpoint */

/* torch.save names every entry "<archive name>/..."; data.pkl finds it. */
static rz_status find_prefix(const zip *z, const zip_entry **pickle) {
    static const char suffix[] = "data.pkl";
    const size_t suffix_len = sizeof suffix - 1;
    *pickle = NULL;
    for (uint64_t i = 0; i < z->n; i++) {
        const zip_entry *e = &z->entries[i];
        if (e->name_len < suffix_len || memcmp(e->name + e->name_len - suffix_len, suffix, suffix_len) != 0)
            continue;
        const char *slash = memchr(e->name, '/', e->name_len);
        const size_t prefix_len = e->name_len - suffix_len;
        if (prefix_len ? !slash || (size_t)(slash - e->name) != prefix_len - 1 : slash != NULL) continue;
        if (*pickle)
            return rz_error(RZ_ERR_FORMAT, "torch: archive holds two pickles, '%s' and '%s'",
                            show((*pickle)->name, (*pickle)->name_len).text, show(e->name, e->name_len).text);
        *pickle = e;
    }
    if (!*pickle)
        return rz_error(RZ_ERR_FORMAT, "torch: zip archive has no data.pkl (not a torch.save checkpoint)");
    return RZ_OK;
}

static rz_status check_archive(const zip *z, const char *prefix, size_t prefix_len) {
    char path[MAX_NAME];
    int len = snprintf(path, sizeof path, "%.*sconstants.pkl", (int)prefix_len, prefix);
    if (len > 0 && (size_t)len < sizeof path && find_entry(z, path, (size_t)len))
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "torch: a TorchScript archive (torch.jit.save); save the model's state_dict with "
                        "torch.save instead");
    len = snprintf(path, sizeof path, "%.*sbyteorder", (int)prefix_len, prefix);
    const zip_entry *e = len > 0 && (size_t)len < sizeof path ? find_entry(z, path, (size_t)len) : NULL;
    if (!e) return RZ_OK;
    const char *order = (const char *)z->base + e->data;
    if (bytes_are(order, e->size, "little")) return RZ_OK;
    if (bytes_are(order, e->size, "big"))
        return rz_error(RZ_ERR_UNSUPPORTED, "torch: big-endian checkpoints are not supported");
    return rz_error(RZ_ERR_FORMAT, "torch: byteorder entry says '%s'", show(order, e->size).text);
}

static rz_status load(rz_torch *t, const unsigned char *data, size_t size) {
    /* The pre-1.6 format is a bare pickle stream starting with PROTO. */
    if (size && data[0] == 0x80)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "torch: legacy (non-zip) torch.save format is not supported; load and re-save the "
                        "checkpoint with PyTorch >= 1.6");
    zip z = {.base = data, .size = size};
    unpickler u = {.z = &z};
    rz_status s = read_zip(&z);
    const zip_entry *pickle = NULL;
    if (s == RZ_OK) s = find_prefix(&z, &pickle);
    if (s == RZ_OK) {
        u.prefix = pickle->name;
        u.prefix_len = pickle->name_len - strlen("data.pkl");
        u.p = data + pickle->data;
        u.n = pickle->size;
        s = check_archive(&z, u.prefix, u.prefix_len);
    }
    uint32_t root = 0;
    if (s == RZ_OK) s = run(&u, &root);
    if (s == RZ_OK) s = name_all(t, &u, root);
    free_unpickler(&u);
    free(z.entries);
    return s;
}

rz_status rz_torch_open_memory(const void *data, size_t size, rz_torch **out) {
    if (out) *out = NULL;
    if (!out || (!data && size)) return rz_error(RZ_ERR_INVALID_ARG, "torch: no buffer given");
    rz_torch *t = rz_calloc(1, sizeof *t);
    if (!t) return RZ_ERR_NOMEM;
    rz_status s = load(t, data, size);
    if (s != RZ_OK) {
        rz_torch_close(t);
        return s;
    }
    *out = t;
    return RZ_OK;
}

rz_status rz_torch_open(const char *path, rz_torch **out) {
    if (out) *out = NULL;
    if (!path || !out) return rz_error(RZ_ERR_INVALID_ARG, "torch: no path given");
    rz_mapped_file map;
    rz_status s = rz_mapped_file_open(path, &map);
    if (s != RZ_OK) return rz_error_prefix(s, "torch");
    s = rz_torch_open_memory(map.data, map.size, out);
    if (s != RZ_OK) {
        rz_mapped_file_close(&map);
        return s;
    }
    (*out)->map = map;
    return RZ_OK;
}

uint64_t rz_torch_tensor_count(const rz_torch *t) { return t->n_tensors; }

const rz_hf_tensor *rz_torch_tensor_at(const rz_torch *t, uint64_t index) {
    return index < t->n_tensors ? &t->tensors[index] : NULL;
}

void rz_torch_close(rz_torch *t) {
    if (!t) return;
    for (uint32_t i = 0; i < t->n_tensors; i++)
        free((char *)t->tensors[i].name);
    free(t->tensors);
    rz_mapped_file_close(&t->map);
    free(t);
}
