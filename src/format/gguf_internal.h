/* GGUF internals shared by the reader and the writer. */
#ifndef RZ_FORMAT_GGUF_INTERNAL_H
#define RZ_FORMAT_GGUF_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ryzanstein.h"

#define RZ_GGUF_MAGIC         "GGUF"
#define RZ_GGUF_VERSION       3
#define RZ_GGUF_ALIGNMENT_KEY "general.alignment"
/* Deeper arrays of arrays are rejected: no real file nests, and the limit
 * bounds the reader's recursion on hostile input. */
#define RZ_GGUF_MAX_ARRAY_DEPTH 8

struct rz_gguf_value {
    rz_gguf_type type;
    rz_gguf_type elem_type; /* arrays */
    uint64_t count;         /* arrays */
    union {
        uint64_t u; /* unsigned integers and bool */
        int64_t i;  /* signed integers, sign-extended */
        double f;   /* float32 (exact) and float64 */
        rz_str s;
        const void *raw;      /* arrays of fixed-size scalars: elements in the file */
        rz_str *strs;         /* arrays of strings */
        rz_gguf_value *items; /* arrays of arrays */
    } v;
    /* Per-element values of scalar and string arrays, built on first
     * rz_gguf_array_elem call (most callers only need the raw data). */
    _Atomic(rz_gguf_value *) elems;
};

/* Bytes of one value of a fixed-size scalar type; 0 for string, array and unknown ids. */
uint32_t rz_gguf_type_size(rz_gguf_type type);
/* "uint32", "string", ...; "unknown" for ids outside the enum. */
const char *rz_gguf_type_name(rz_gguf_type type);

/* A writer that builds only the header, metadata and tensor infos in
 * memory (rz_gguf_writer_begin_data refuses it): for GGUF views of other
 * formats. rz_gguf_writer_take_header hands the image over (malloc'ed,
 * padded to the alignment) and frees w, rz_gguf_writer_abort drops it. */
rz_status rz_gguf_writer_open_header_only(rz_gguf_writer **out);
rz_status rz_gguf_writer_take_header(rz_gguf_writer *w, void **image, size_t *size);

/* A reader over `image` (from rz_gguf_writer_take_header; owned and freed by
 * the reader) whose tensors' bytes are elsewhere: data[i] for tensor i in
 * declaration order. release(owner), if given, runs on rz_gguf_close;
 * release_pages(owner, p, size) serves rz_gguf_release_pages. */
rz_status rz_gguf_open_detached(void *image, size_t size, const void *const *data, void (*release)(void *),
                                void (*release_pages)(void *, const void *, size_t), void *owner,
                                rz_gguf **out);

/* Drops the pages of tensor data [p, p + size) that a file backs from the
 * resident set (they fault back in if read again); memory the reader built
 * or was given is left alone, as dropping it would lose its contents. */
void rz_gguf_release_pages(const rz_gguf *g, const void *p, size_t size);

#endif
