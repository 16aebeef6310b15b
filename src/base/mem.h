/* Allocation and overflow-safe size arithmetic. */
#ifndef RZ_BASE_MEM_H
#define RZ_BASE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ryzanstein.h"

#define RZ_CACHE_LINE 64
#define RZ_HUGE_PAGE  (2u << 20) /* rz_alloc_large's transparent huge pages */

/* True on overflow; *out is only meaningful when false. */
static inline bool rz_add_overflow(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_add_overflow(a, b, out);
}
static inline bool rz_mul_overflow(uint64_t a, uint64_t b, uint64_t *out) {
    return __builtin_mul_overflow(a, b, out);
}
static inline uint64_t rz_align_up(uint64_t x, uint64_t alignment) {
    return (x + alignment - 1) / alignment * alignment;
}

/* 64-byte aligned allocation (for SIMD loads); free with rz_free_aligned.
 * Sets the thread's error and returns NULL on failure or overflow. */
void *rz_alloc_aligned(size_t size);
void *rz_calloc_aligned(size_t count, size_t size);
void rz_free_aligned(void *ptr);

/* A large long-lived buffer that kernels stream through (weights):
 * anonymous memory with transparent huge pages requested, which read DRAM
 * about a quarter faster than 4 KB pages here (fewer page walks between the
 * prefetched lines). Free with rz_free_large and the same size. */
void *rz_alloc_large(size_t size);
void rz_free_large(void *ptr, size_t size);

/* Puts the pages of [p, p + bytes) on NUMA node `node` (a sysfs node
 * number): those already touched move there, later faults land there, or
 * on another node when it is full (mbind MPOL_PREFERRED + MPOL_MF_MOVE).
 * p must be page-aligned. A loader that binds each share of a fresh
 * rz_alloc_large buffer before copying into it places the pages without
 * moving them; rz_context_create moves them otherwise (--numa distribute). */
rz_status rz_mem_bind_node(void *p, size_t bytes, int node);

/* calloc that records an error message on failure. */
void *rz_calloc(size_t count, size_t size);

#endif
