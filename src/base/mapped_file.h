/* Read-only memory mapping of a whole file. */
#ifndef RZ_BASE_MAPPED_FILE_H
#define RZ_BASE_MAPPED_FILE_H

#include <stddef.h>

#include "ryzanstein.h"

typedef struct rz_mapped_file {
    const unsigned char *data;
    size_t size;
} rz_mapped_file;

/* Maps `path`; an empty file maps to data == NULL, size == 0. */
rz_status rz_mapped_file_open(const char *path, rz_mapped_file *out);
void rz_mapped_file_close(rz_mapped_file *file);

/* Drops the whole pages inside [p, p + size) of a mapping from this process's
 * resident set (for data copied elsewhere); a later read faults them back in. */
void rz_mapped_release(const void *p, size_t size);

#endif
