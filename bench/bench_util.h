/* Small helpers shared by the microbenchmarks. */
#ifndef RZ_BENCH_UTIL_H
#define RZ_BENCH_UTIL_H

#include <stdlib.h>

static int bench_compare_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts the samples and returns their median. */
static inline double bench_median(double *samples, int n) {
    qsort(samples, (size_t)n, sizeof *samples, bench_compare_double);
    return samples[n / 2];
}

#endif
