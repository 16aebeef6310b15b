#include "base/mem.h"

#include <errno.h>
#include <linux/mempolicy.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/error.h"

void *rz_alloc_aligned(size_t size) {
    size_t rounded = (size_t)rz_align_up(size ? size : 1, RZ_CACHE_LINE);
    if (rounded < size) {
        rz_error(RZ_ERR_NOMEM, "allocation of %zu bytes overflows", size);
        return NULL;
    }
    void *ptr = aligned_alloc(RZ_CACHE_LINE, rounded);
    if (!ptr) rz_error(RZ_ERR_NOMEM, "out of memory allocating %zu bytes", size);
    return ptr;
}

void *rz_calloc_aligned(size_t count, size_t size) {
    uint64_t total;
    if (rz_mul_overflow(count, size, &total) || total > SIZE_MAX) {
        rz_error(RZ_ERR_NOMEM, "allocation of %zu x %zu bytes overflows", count, size);
        return NULL;
    }
    void *ptr = rz_alloc_aligned((size_t)total);
    if (ptr) memset(ptr, 0, (size_t)total);
    return ptr;
}

void rz_free_aligned(void *ptr) { free(ptr); }

void *rz_calloc(size_t count, size_t size) {
    void *ptr = calloc(count ? count : 1, size ? size : 1);
    if (!ptr) rz_error(RZ_ERR_NOMEM, "out of memory allocating %zu x %zu bytes", count, size);
    return ptr;
}

void *rz_alloc_large(size_t size) {
    const size_t rounded = (size_t)rz_align_up(size ? size : 1, RZ_HUGE_PAGE);
    if (rounded < size || rounded + RZ_HUGE_PAGE < rounded) {
        rz_error(RZ_ERR_NOMEM, "allocation of %zu bytes overflows", size);
        return NULL;
    }
    /* Over-map by a huge page and trim, so that the buffer starts on one. */
    char *raw =
        mmap(NULL, rounded + RZ_HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) {
        rz_error(RZ_ERR_NOMEM, "out of memory mapping %zu bytes", size);
        return NULL;
    }
    char *ptr = (char *)rz_align_up((uintptr_t)raw, RZ_HUGE_PAGE);
    if (ptr > raw) munmap(raw, (size_t)(ptr - raw));
    munmap(ptr + rounded, (size_t)(raw + RZ_HUGE_PAGE - ptr));
    (void)madvise(ptr, rounded, MADV_HUGEPAGE); /* a hint: 4 KB pages work too */
    return ptr;
}

void rz_free_large(void *ptr, size_t size) {
    if (ptr) munmap(ptr, (size_t)rz_align_up(size ? size : 1, RZ_HUGE_PAGE));
}

rz_status rz_mem_bind_node(void *p, size_t bytes, int node) {
    if (node < 0 || node >= RZ_MAX_NODES)
        return rz_error(RZ_ERR_INVALID_ARG, "NUMA node %d is out of range [0, %d)", node, RZ_MAX_NODES);
    const unsigned long mask = 1ul << node;
    /* maxnode counts one past the highest bit the kernel reads. */
    if (syscall(SYS_mbind, p, bytes, MPOL_PREFERRED, &mask, (unsigned long)RZ_MAX_NODES + 1, MPOL_MF_MOVE) !=
        0)
        return rz_error(RZ_ERR_IO, "mbind to NUMA node %d: %s", node, strerror(errno));
    return RZ_OK;
}
