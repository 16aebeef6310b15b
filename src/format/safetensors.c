/* safetensors files: an 8-byte little-endian header length, a JSON header
 * {"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__"},
 * then the tensor bytes, offsets relative to the end of the header. Sharded
 * models add model.safetensors.index.json, whose "weight_map" names the
 * shard of each tensor. Tensors are used in place in the mappings. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/mapped_file.h"
#include "base/mem.h"
#include "format/hf.h"

/* The reference implementation's own cap: a larger header is hostile. */
#define MAX_HEADER_BYTES (100u << 20)
#define MAX_SHARDS       4096
#define MAX_NAME_BYTES   1024

typedef struct shard {
    rz_mapped_file file; /* empty for rz_safetensors_open_memory */
    char *path;
} shard;

struct rz_safetensors {
    shard *shards;
    uint32_t n_shards;
    rz_hf_tensor *tensors;
    uint64_t n_tensors;
    char **names; /* owned copies; tensors[i].name points here */
};

static const struct {
    const char *dtype;
    rz_type type;
    uint32_t bytes;
} dtypes[] = {
    {"F64", RZ_TYPE_F64, 8},   {"F32", RZ_TYPE_F32, 4}, {"F16", RZ_TYPE_F16, 2},
    {"BF16", RZ_TYPE_BF16, 2}, {"I64", RZ_TYPE_I64, 8}, {"I32", RZ_TYPE_I32, 4},
    {"I16", RZ_TYPE_I16, 2},   {"I8", RZ_TYPE_I8, 1},   {"U8", RZ_TYPE_I8, 1},
};

/* A JSON number that is a whole value in [0, 2^53], where doubles are exact. */
static bool json_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return false;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || floor(v) != v) return false;
    *out = (uint64_t)v;
    return true;
}

typedef struct span {
    uint64_t begin, end;
    uint64_t tensor;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* One tensor entry of a header; `data` is the byte buffer after it. */
static rz_status parse_entry(const cJSON *e, const unsigned char *data, uint64_t data_size, rz_hf_tensor *t,
                             span *sp) {
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets) ||
        cJSON_GetArraySize(offsets) != 2)
        return rz_error(RZ_ERR_FORMAT, "entry needs \"dtype\", \"shape\" and two \"data_offsets\"");
    uint32_t elem_bytes = 0;
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (strcmp(dtype->valuestring, dtypes[i].dtype) == 0) {
            snprintf(t->dtype, sizeof t->dtype, "%s", dtypes[i].dtype);
            t->type = dtypes[i].type;
            elem_bytes = dtypes[i].bytes;
        }
    if (!elem_bytes)
        return rz_error(RZ_ERR_UNSUPPORTED, "dtype \"%.16s\" is not supported", dtype->valuestring);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > RZ_MAX_DIMS)
        return rz_error(RZ_ERR_UNSUPPORTED, "%d dimensions; at most %d are supported", n_dims, RZ_MAX_DIMS);
    t->n_dims = (uint32_t)n_dims;
    uint64_t n = 1;
    for (int d = 0; d < RZ_MAX_DIMS; d++)
        t->ne[d] = 1;
    for (int d = 0; d < n_dims; d++) {
        uint64_t dim;
        if (!json_u64(cJSON_GetArrayItem(shape, d), &dim))
            return rz_error(RZ_ERR_FORMAT, "shape entry %d is not a non-negative integer", d);
        t->ne[n_dims - 1 - d] = dim; /* safetensors lists the outermost dimension first */
        if (rz_mul_overflow(n, dim, &n)) return rz_error(RZ_ERR_FORMAT, "shape overflows 64 bits");
    }
    uint64_t begin, end, bytes;
    if (!json_u64(cJSON_GetArrayItem(offsets, 0), &begin) || !json_u64(cJSON_GetArrayItem(offsets, 1), &end))
        return rz_error(RZ_ERR_FORMAT, "data_offsets are not non-negative integers");
    if (begin > end || end > data_size)
        return rz_error(RZ_ERR_FORMAT, "data_offsets [%llu, %llu) are outside the %llu data bytes",
                        (unsigned long long)begin, (unsigned long long)end, (unsigned long long)data_size);
    if (rz_mul_overflow(n, elem_bytes, &bytes) || bytes != end - begin)
        return rz_error(RZ_ERR_FORMAT, "%llu bytes at data_offsets do not hold its shape of %s",
                        (unsigned long long)(end - begin), t->dtype);
    t->data = data + begin;
    t->size = bytes;
    sp->begin = begin;
    sp->end = end;
    return RZ_OK;
}

/* Tensors may not share bytes: each must own its range. */
static rz_status check_overlaps(span *spans, uint64_t n, const rz_hf_tensor *tensors) {
    qsort(spans, n, sizeof *spans, span_cmp);
    for (uint64_t i = 1; i < n; i++)
        if (spans[i].begin < spans[i - 1].end && spans[i].begin != spans[i].end)
            return rz_error(RZ_ERR_FORMAT, "tensors '%s' and '%s' overlap", tensors[spans[i - 1].tensor].name,
                            tensors[spans[i].tensor].name);
    return RZ_OK;
}

static rz_status grow(rz_safetensors *st, uint64_t more) {
    uint64_t n = st->n_tensors + more;
    if (n > (1u << 24)) return rz_error(RZ_ERR_FORMAT, "more than %u tensors", 1u << 24);
    rz_hf_tensor *t = realloc(st->tensors, n * sizeof *t);
    if (!t) return rz_error(RZ_ERR_NOMEM, "out of memory");
    st->tensors = t;
    char **names = realloc(st->names, n * sizeof *names);
    if (!names) return rz_error(RZ_ERR_NOMEM, "out of memory");
    st->names = names;
    return RZ_OK;
}

/* Adds the tensors of one file image to st. */
static rz_status parse_file(rz_safetensors *st, const unsigned char *p, uint64_t size) {
    if (size < 8)
        return rz_error(RZ_ERR_FORMAT, "%llu bytes is shorter than the header length",
                        (unsigned long long)size);
    uint64_t header = 0;
    for (int i = 7; i >= 0; i--)
        header = header << 8 | p[i];
    if (header > MAX_HEADER_BYTES || header > size - 8)
        return rz_error(RZ_ERR_FORMAT,
                        "header length %llu runs past the %llu-byte file (or the %u MiB limit)",
                        (unsigned long long)header, (unsigned long long)size, MAX_HEADER_BYTES >> 20);
    cJSON *root = cJSON_ParseWithLength((const char *)p + 8, (size_t)header);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return rz_error(RZ_ERR_FORMAT, "header is not a JSON object");
    }
    const unsigned char *data = p + 8 + header;
    const uint64_t data_size = size - 8 - header;
    uint64_t n = 0, first = st->n_tensors;
    for (const cJSON *e = root->child; e; e = e->next)
        n += strcmp(e->string, "__metadata__") != 0;
    rz_status s = grow(st, n);
    span *spans = s == RZ_OK ? calloc(n + 1, sizeof *spans) : NULL;
    if (s == RZ_OK && !spans) s = rz_error(RZ_ERR_NOMEM, "out of memory");
    uint64_t i = 0;
    for (const cJSON *e = root->child; e && s == RZ_OK; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        if (strlen(e->string) > MAX_NAME_BYTES) {
            s = rz_error(RZ_ERR_FORMAT, "a tensor name is longer than %d bytes", MAX_NAME_BYTES);
            break;
        }
        rz_hf_tensor *t = &st->tensors[first + i];
        memset(t, 0, sizeof *t);
        st->names[first + i] = strdup(e->string);
        if (!st->names[first + i]) {
            s = rz_error(RZ_ERR_NOMEM, "out of memory");
            break;
        }
        t->name = st->names[first + i];
        st->n_tensors++;
        spans[i].tensor = first + i;
        s = parse_entry(e, data, data_size, t, &spans[i]);
        if (s != RZ_OK) rz_error_prefix(s, "tensor '%s'", t->name);
        i++;
    }
    if (s == RZ_OK) s = check_overlaps(spans, n, st->tensors + first);
    free(spans);
    cJSON_Delete(root);
    return s;
}

static int name_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static rz_status add_shard(rz_safetensors *st, const char *path) {
    if (st->n_shards == MAX_SHARDS) return rz_error(RZ_ERR_FORMAT, "more than %d shards", MAX_SHARDS);
    shard *sh = realloc(st->shards, (st->n_shards + 1) * sizeof *sh);
    if (!sh) return rz_error(RZ_ERR_NOMEM, "out of memory");
    st->shards = sh;
    sh = &st->shards[st->n_shards];
    memset(sh, 0, sizeof *sh);
    if (!(sh->path = strdup(path))) return rz_error(RZ_ERR_NOMEM, "out of memory");
    st->n_shards++;
    RZ_TRY(rz_mapped_file_open(path, &sh->file));
    rz_status s = parse_file(st, sh->file.data, sh->file.size);
    if (s != RZ_OK) rz_error_prefix(s, "'%s'", path);
    return s;
}

/* The shards an index names, each once, in order of first mention; every
 * tensor the index lists must be in the shard it names. */
static rz_status open_index(rz_safetensors *st, const char *path) {
    rz_mapped_file f;
    RZ_TRY(rz_mapped_file_open(path, &f));
    cJSON *root = cJSON_ParseWithLength((const char *)f.data, f.size);
    rz_mapped_file_close(&f);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    rz_status s = RZ_OK;
    if (!cJSON_IsObject(map)) s = rz_error(RZ_ERR_FORMAT, "'%s' has no \"weight_map\" object", path);
    const char *slash = strrchr(path, '/');
    const int dir_len = slash ? (int)(slash - path + 1) : 0;
    for (const cJSON *e = map ? map->child : NULL; e && s == RZ_OK; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || strcmp(e->valuestring, "..") == 0) {
            s = rz_error(RZ_ERR_FORMAT, "'%s': weight_map entry '%.64s' is not a file name in its directory",
                         path, e->string);
            break;
        }
        char shard_path[4096];
        if (snprintf(shard_path, sizeof shard_path, "%.*s%s", dir_len, path, e->valuestring) >=
            (int)sizeof shard_path) {
            s = rz_error(RZ_ERR_FORMAT, "'%s': shard path too long", path);
            break;
        }
        bool seen = false;
        for (uint32_t i = 0; i < st->n_shards && !seen; i++)
            seen = strcmp(st->shards[i].path, shard_path) == 0;
        if (!seen) s = add_shard(st, shard_path);
    }
    /* Every listed tensor must exist; the shards may not hold it twice.
     * Names sorted once: big MoE models have tens of thousands. */
    const char **names = s == RZ_OK ? malloc((st->n_tensors + 1) * sizeof *names) : NULL;
    if (s == RZ_OK && !names) s = rz_error(RZ_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < st->n_tensors && names; i++)
        names[i] = st->tensors[i].name;
    if (names) qsort(names, st->n_tensors, sizeof *names, name_cmp);
    for (const cJSON *e = map ? map->child : NULL; e && s == RZ_OK; e = e->next) {
        const char *key = e->string, **at = bsearch(&key, names, st->n_tensors, sizeof *names, name_cmp);
        uint64_t found = 0;
        if (at) { /* count its run of equal names */
            while (at > names && strcmp(at[-1], key) == 0)
                at--;
            while (at + found < names + st->n_tensors && strcmp(at[found], key) == 0)
                found++;
        }
        if (found != 1)
            s = rz_error(RZ_ERR_FORMAT, "'%s': tensor '%.64s' is in %llu shards, expected 1", path, key,
                         (unsigned long long)found);
    }
    free(names);
    cJSON_Delete(root);
    return s;
}

rz_status rz_safetensors_open(const char *path, rz_safetensors **out) {
    *out = NULL;
    rz_safetensors *st = calloc(1, sizeof *st);
    if (!st) return rz_error(RZ_ERR_NOMEM, "out of memory");
    rz_status s = ends_with(path, ".json") ? open_index(st, path) : add_shard(st, path);
    if (s != RZ_OK) {
        rz_error_prefix(s, "safetensors");
        rz_safetensors_close(st);
        return s;
    }
    *out = st;
    return RZ_OK;
}

rz_status rz_safetensors_open_memory(const void *data, size_t size, rz_safetensors **out) {
    *out = NULL;
    rz_safetensors *st = calloc(1, sizeof *st);
    if (!st) return rz_error(RZ_ERR_NOMEM, "out of memory");
    rz_status s = parse_file(st, data, size);
    if (s != RZ_OK) {
        rz_error_prefix(s, "safetensors");
        rz_safetensors_close(st);
        return s;
    }
    *out = st;
    return RZ_OK;
}

uint64_t rz_safetensors_tensor_count(const rz_safetensors *st) { return st->n_tensors; }

const rz_hf_tensor *rz_safetensors_tensor_at(const rz_safetensors *st, uint64_t index) {
    return index < st->n_tensors ? &st->tensors[index] : NULL;
}

void rz_safetensors_close(rz_safetensors *st) {
    if (!st) return;
    for (uint32_t i = 0; i < st->n_shards; i++) {
        rz_mapped_file_close(&st->shards[i].file);
        free(st->shards[i].path);
    }
    for (uint64_t i = 0; i < st->n_tensors; i++)
        free(st->names[i]);
    free(st->names);
    free(st->tensors);
    free(st->shards);
    free(st);
}
