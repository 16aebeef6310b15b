/* CPU topology from sysfs and the placement of a pool's threads on it. */
#ifndef RZ_BASE_AFFINITY_H
#define RZ_BASE_AFFINITY_H

#include <sched.h>

#include "ryzanstein.h"

void rz_cpu_set_to_os(const rz_cpu_set *set, cpu_set_t *out);
/* "0-3,8" (sysfs cpulist syntax) into *set; false if malformed. */
bool rz_cpu_list_parse(const char *list, rz_cpu_set *set);

/* The topology under root (normally "/sys/devices/system"), with this
 * process's affinity and current node; a root it cannot read gives one node
 * of the allowed CPUs and sysfs = false. Tests pass a fake tree. */
void rz_cpu_topology_read(const char *root, rz_cpu_topology *out);

/* Which CPUs each thread of a pool may run on. */
typedef struct rz_thread_plan {
    int n_threads;
    bool pinned;      /* false: no thread is pinned and cpus is NULL */
    rz_cpu_set *cpus; /* [n_threads] */
    int *node;        /* [n_threads]: node id of the thread's CPUs under RZ_NUMA_DISTRIBUTE, else -1 */
} rz_thread_plan;

/* The plan for the context parameters' placement fields (see
 * rz_context_params); fails, saying why, when they cannot be met. */
rz_status rz_thread_plan_make(const rz_cpu_topology *topo, const rz_cpu_set *mask, bool strict, rz_numa numa,
                              int n_threads, rz_thread_plan *out);
void rz_thread_plan_free(rz_thread_plan *plan);

/* The nice value llama.cpp's --prio level stands for; false if out of range. */
bool rz_prio_nice(int prio, int *nice);

#endif
