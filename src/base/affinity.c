#include "base/affinity.h"

#include <ctype.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/error.h"
#include "base/mem.h"

void rz_cpu_set_add(rz_cpu_set *set, int cpu) {
    if (cpu >= 0 && cpu < RZ_MAX_CPUS) set->bits[cpu / 64] |= 1ull << (cpu % 64);
}

bool rz_cpu_set_has(const rz_cpu_set *set, int cpu) {
    return cpu >= 0 && cpu < RZ_MAX_CPUS && (set->bits[cpu / 64] >> (cpu % 64) & 1);
}

int rz_cpu_set_count(const rz_cpu_set *set) {
    int n = 0;
    for (int i = 0; i < RZ_MAX_CPUS / 64; i++)
        n += __builtin_popcountll(set->bits[i]);
    return n;
}

/* The k-th CPU of the set in ascending order (k from 0), or -1. */
static int nth_cpu(const rz_cpu_set *set, int k) {
    for (int cpu = 0; cpu < RZ_MAX_CPUS; cpu++)
        if (rz_cpu_set_has(set, cpu) && k-- == 0) return cpu;
    return -1;
}

static void intersect(rz_cpu_set *a, const rz_cpu_set *b) {
    for (int i = 0; i < RZ_MAX_CPUS / 64; i++)
        a->bits[i] &= b->bits[i];
}

void rz_cpu_set_to_os(const rz_cpu_set *set, cpu_set_t *out) {
    CPU_ZERO(out);
    for (int cpu = 0; cpu < RZ_MAX_CPUS && cpu < CPU_SETSIZE; cpu++)
        if (rz_cpu_set_has(set, cpu)) CPU_SET(cpu, out);
}

void rz_cpu_set_format(const rz_cpu_set *set, char *buf, size_t cap) {
    size_t len = 0;
    if (cap == 0) return;
    buf[0] = '\0';
    for (int cpu = 0; cpu < RZ_MAX_CPUS; cpu++) {
        if (!rz_cpu_set_has(set, cpu)) continue;
        int last = cpu;
        while (rz_cpu_set_has(set, last + 1))
            last++;
        int n = last == cpu ? snprintf(buf + len, cap - len, "%s%d", len ? "," : "", cpu)
                            : snprintf(buf + len, cap - len, "%s%d-%d", len ? "," : "", cpu, last);
        if (n < 0 || (size_t)n >= cap - len) { /* cut after the last whole entry */
            buf[len] = '\0';
            return;
        }
        len += (size_t)n;
        cpu = last;
    }
}

rz_status rz_cpu_set_parse_mask(const char *hex, rz_cpu_set *set) {
    const char *digits = hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X') ? hex + 2 : hex;
    const size_t n = strlen(digits);
    if (n == 0) return rz_error(RZ_ERR_INVALID_ARG, "invalid CPU mask '%s': no hex digits", hex);
    rz_cpu_set add = {0};
    for (size_t i = 0; i < n; i++) {
        const char c = digits[n - 1 - i]; /* the last digit holds CPUs 0-3 */
        if (!isxdigit((unsigned char)c))
            return rz_error(RZ_ERR_INVALID_ARG, "invalid CPU mask '%s': '%c' is not a hex digit", hex, c);
        const int v = isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
        for (int b = 0; b < 4; b++) {
            if (!(v >> b & 1)) continue;
            const size_t cpu = 4 * i + (size_t)b;
            if (cpu >= RZ_MAX_CPUS)
                return rz_error(RZ_ERR_RANGE, "CPU mask '%s' names CPU %zu: at most %d CPUs", hex, cpu,
                                RZ_MAX_CPUS);
            rz_cpu_set_add(&add, (int)cpu);
        }
    }
    for (int i = 0; i < RZ_MAX_CPUS / 64; i++)
        set->bits[i] |= add.bits[i];
    return RZ_OK;
}

/* A CPU number of [s, end), digits only; -1 if malformed or too large. */
static int parse_cpu_number(const char *s, const char *end) {
    if (s == end || end - s > 6) return -1;
    int v = 0;
    for (; s < end; s++) {
        if (!isdigit((unsigned char)*s)) return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

static int last_online_cpu(void) {
    const rz_cpu_set *online = &rz_cpu_topology_get()->online;
    for (int cpu = RZ_MAX_CPUS - 1; cpu >= 0; cpu--)
        if (rz_cpu_set_has(online, cpu)) return cpu;
    return 0;
}

rz_status rz_cpu_set_parse_range(const char *range, rz_cpu_set *set) {
    const char *dash = strchr(range, '-');
    if (!dash) return rz_error(RZ_ERR_INVALID_ARG, "invalid CPU range '%s' (expected lo-hi)", range);
    const char *end = dash + strlen(dash);
    const int lo = dash == range ? 0 : parse_cpu_number(range, dash);
    const int hi = dash + 1 == end ? last_online_cpu() : parse_cpu_number(dash + 1, end);
    if (lo < 0 || hi < 0)
        return rz_error(RZ_ERR_INVALID_ARG, "invalid CPU range '%s' (expected lo-hi)", range);
    if (hi >= RZ_MAX_CPUS)
        return rz_error(RZ_ERR_RANGE, "CPU range '%s' names CPU %d: at most %d CPUs", range, hi, RZ_MAX_CPUS);
    if (lo > hi)
        return dash + 1 == end ? rz_error(RZ_ERR_RANGE,
                                          "CPU range '%s' starts past this machine's last CPU, %d", range, hi)
                               : rz_error(RZ_ERR_INVALID_ARG, "CPU range '%s' starts past its end", range);
    for (int cpu = lo; cpu <= hi; cpu++)
        rz_cpu_set_add(set, cpu);
    return RZ_OK;
}

rz_status rz_cpu_set_check(const rz_cpu_set *set) {
    const rz_cpu_set *online = &rz_cpu_topology_get()->online;
    for (int cpu = 0; cpu < RZ_MAX_CPUS; cpu++) {
        if (rz_cpu_set_has(set, cpu) && !rz_cpu_set_has(online, cpu)) {
            char list[256];
            rz_cpu_set_format(online, list, sizeof list);
            return rz_error(RZ_ERR_RANGE, "CPU %d does not exist here (the online CPUs are %s)", cpu, list);
        }
    }
    return RZ_OK;
}

bool rz_cpu_list_parse(const char *list, rz_cpu_set *set) {
    const char *p = list;
    while (*p && *p != '\n') {
        char *end;
        const long lo = strtol(p, &end, 10);
        long hi = lo;
        if (end == p || lo < 0) return false;
        if (*end == '-') {
            p = end + 1;
            hi = strtol(p, &end, 10);
            if (end == p || hi < lo) return false;
        }
        for (long cpu = lo; cpu <= hi && cpu < RZ_MAX_CPUS; cpu++)
            rz_cpu_set_add(set, (int)cpu);
        p = *end == ',' ? end + 1 : end;
        if (*end != ',' && *end && *end != '\n') return false;
    }
    return true;
}

/* The first line of root/rel as a CPU list; false if unreadable. */
static bool read_cpu_list(const char *root, const char *rel, rz_cpu_set *set) {
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    if (!f) return false;
    const bool ok = fgets(line, sizeof line, f) && rz_cpu_list_parse(line, set);
    fclose(f);
    return ok;
}

static int read_int(const char *path, int fallback) {
    FILE *f = fopen(path, "r");
    int v;
    if (!f) return fallback;
    if (fscanf(f, "%d", &v) != 1) v = fallback;
    fclose(f);
    return v;
}

static int count_cores(const char *root, const rz_cpu_set *online) {
    int ids[RZ_MAX_CPUS][2]; /* (package, core) pairs seen */
    int n = 0;
    for (int cpu = 0; cpu < RZ_MAX_CPUS; cpu++) {
        if (!rz_cpu_set_has(online, cpu)) continue;
        char path[512];
        snprintf(path, sizeof path, "%s/cpu/cpu%d/topology/physical_package_id", root, cpu);
        const int package = read_int(path, -1);
        snprintf(path, sizeof path, "%s/cpu/cpu%d/topology/core_id", root, cpu);
        const int core = read_int(path, -1);
        if (package < 0 || core < 0) return rz_cpu_set_count(online); /* no topology: a core per CPU */
        bool seen = false;
        for (int i = 0; i < n && !seen; i++)
            seen = ids[i][0] == package && ids[i][1] == core;
        if (!seen) {
            ids[n][0] = package;
            ids[n][1] = core;
            n++;
        }
    }
    return n > 0 ? n : 1;
}

static int compare_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* The node numbers under root/node, ascending; how many. */
static int list_nodes(const char *root, int ids[RZ_MAX_NODES]) {
    char path[512];
    snprintf(path, sizeof path, "%s/node", root);
    DIR *dir = opendir(path);
    if (!dir) return 0;
    int n = 0;
    const struct dirent *e;
    while ((e = readdir(dir)) && n < RZ_MAX_NODES) {
        int id;
        char tail;
        if (sscanf(e->d_name, "node%d%c", &id, &tail) == 1 && id >= 0) ids[n++] = id;
    }
    closedir(dir);
    qsort(ids, (size_t)n, sizeof *ids, compare_int);
    return n;
}

void rz_cpu_topology_read(const char *root, rz_cpu_topology *t) {
    memset(t, 0, sizeof *t);
    cpu_set_t os;
    if (sched_getaffinity(0, sizeof os, &os) == 0) {
        for (int cpu = 0; cpu < RZ_MAX_CPUS && cpu < CPU_SETSIZE; cpu++)
            if (CPU_ISSET(cpu, &os)) rz_cpu_set_add(&t->allowed, cpu);
    }
    t->sysfs = read_cpu_list(root, "cpu/online", &t->online) && rz_cpu_set_count(&t->online) > 0;
    if (!t->sysfs) {
        memset(&t->online, 0, sizeof t->online);
        if (rz_cpu_set_count(&t->allowed) > 0) {
            t->online = t->allowed;
        } else {
            const long n = sysconf(_SC_NPROCESSORS_ONLN);
            for (int cpu = 0; cpu < (n > 0 ? n : 1); cpu++)
                rz_cpu_set_add(&t->online, cpu);
        }
    }
    if (rz_cpu_set_count(&t->allowed) == 0) t->allowed = t->online;
    t->n_cpus = rz_cpu_set_count(&t->online);
    t->n_cores = t->sysfs ? count_cores(root, &t->online) : t->n_cpus;
    int ids[RZ_MAX_NODES];
    const int n_ids = t->sysfs ? list_nodes(root, ids) : 0;
    for (int i = 0; i < n_ids; i++) {
        char rel[64];
        rz_cpu_set cpus = {0};
        snprintf(rel, sizeof rel, "node/node%d/cpulist", ids[i]);
        if (!read_cpu_list(root, rel, &cpus)) continue;
        intersect(&cpus, &t->online);
        if (rz_cpu_set_count(&cpus) == 0) continue; /* memory-only nodes run no threads */
        t->node_id[t->n_nodes] = ids[i];
        t->node_cpus[t->n_nodes++] = cpus;
    }
    if (t->n_nodes == 0) { /* no NUMA in sysfs: one node of every CPU */
        t->n_nodes = 1;
        t->node_cpus[0] = t->online;
    }
    const int cpu = sched_getcpu();
    for (int i = 0; i < t->n_nodes; i++)
        if (rz_cpu_set_has(&t->node_cpus[i], cpu)) t->start_node = i;
}

static rz_cpu_topology topology;
static pthread_once_t topology_once = PTHREAD_ONCE_INIT;

static void read_system_topology(void) { rz_cpu_topology_read("/sys/devices/system", &topology); }

const rz_cpu_topology *rz_cpu_topology_get(void) {
    pthread_once(&topology_once, read_system_topology);
    return &topology;
}

static const char *const numa_names[] = {"none", "distribute", "isolate", "numactl"};

rz_status rz_numa_parse(const char *name, rz_numa *out) {
    for (int i = 0; i < (int)(sizeof numa_names / sizeof numa_names[0]); i++) {
        if (strcasecmp(name, numa_names[i]) == 0) {
            *out = (rz_numa)i;
            return RZ_OK;
        }
    }
    return rz_error(RZ_ERR_INVALID_ARG,
                    "unknown NUMA strategy '%s' (expected distribute, isolate or numactl)", name);
}

const char *rz_numa_name(rz_numa numa) {
    return (unsigned)numa < sizeof numa_names / sizeof numa_names[0] ? numa_names[numa] : "unknown";
}

bool rz_prio_nice(int prio, int *nice) {
    static const int nice_of[] = {5, 0, -5, -10, -20}; /* llama.cpp's levels -1..3 */
    if (prio < -1 || prio > 3) return false;
    *nice = nice_of[prio + 1];
    return true;
}

void rz_thread_plan_free(rz_thread_plan *plan) {
    free(plan->cpus);
    free(plan->node);
    memset(plan, 0, sizeof *plan);
}

/* Threads [first, first + count) on the CPUs of `cpus`, one CPU each when
 * strict; `what` names the set in errors. */
static rz_status assign(rz_thread_plan *plan, int first, int count, const rz_cpu_set *cpus, bool strict,
                        const char *what) {
    const int n_cpus = rz_cpu_set_count(cpus);
    if (n_cpus == 0) return rz_error(RZ_ERR_INVALID_ARG, "no CPU to run threads on: %s is empty", what);
    if (strict && n_cpus < count)
        return rz_error(RZ_ERR_INVALID_ARG,
                        "strict CPU placement needs a CPU per thread: %s has %d CPU%s for %d threads", what,
                        n_cpus, n_cpus == 1 ? "" : "s", count);
    for (int i = 0; i < count; i++) {
        rz_cpu_set *mine = &plan->cpus[first + i];
        if (strict)
            rz_cpu_set_add(mine, nth_cpu(cpus, i));
        else
            *mine = *cpus;
    }
    return RZ_OK;
}

rz_status rz_thread_plan_make(const rz_cpu_topology *topo, const rz_cpu_set *mask, bool strict, rz_numa numa,
                              int n_threads, rz_thread_plan *out) {
    memset(out, 0, sizeof *out);
    out->n_threads = n_threads;
    if ((unsigned)numa > RZ_NUMA_NUMACTL)
        return rz_error(RZ_ERR_INVALID_ARG, "unknown NUMA strategy %d", numa);
    const bool has_mask = rz_cpu_set_count(mask) > 0;
    if (!topo->sysfs) numa = RZ_NUMA_NONE; /* no nodes known: the unpinned behaviour */
    if (!has_mask && !strict && numa == RZ_NUMA_NONE) return RZ_OK;
    char list[256];
    rz_cpu_set base = topo->allowed;
    if (has_mask) {
        for (int cpu = 0; cpu < RZ_MAX_CPUS; cpu++) {
            if (!rz_cpu_set_has(mask, cpu)) continue;
            if (!rz_cpu_set_has(&topo->online, cpu)) {
                rz_cpu_set_format(&topo->online, list, sizeof list);
                return rz_error(RZ_ERR_RANGE, "CPU %d does not exist here (the online CPUs are %s)", cpu,
                                list);
            }
            if (!rz_cpu_set_has(&topo->allowed, cpu)) {
                rz_cpu_set_format(&topo->allowed, list, sizeof list);
                return rz_error(RZ_ERR_RANGE, "CPU %d is outside this process's CPUs (%s)", cpu, list);
            }
        }
        base = *mask;
    }
    if (numa == RZ_NUMA_ISOLATE) intersect(&base, &topo->node_cpus[topo->start_node]);
    const char *set_name = has_mask ? "the CPU mask" : "this process's set of CPUs";
    out->cpus = rz_calloc((size_t)n_threads, sizeof *out->cpus);
    out->node = rz_calloc((size_t)n_threads, sizeof *out->node);
    if (!out->cpus || !out->node) {
        rz_thread_plan_free(out);
        return RZ_ERR_NOMEM;
    }
    out->pinned = true;
    for (int i = 0; i < n_threads; i++)
        out->node[i] = -1;
    rz_status s = RZ_OK;
    if (numa == RZ_NUMA_DISTRIBUTE) {
        /* Blocks of threads per node rather than round-robin: a matrix's rows
         * are split among threads in order, so each node's share of them is
         * then one run of pages (huge pages straddle few boundaries). */
        rz_cpu_set share[RZ_MAX_NODES];
        int node_of[RZ_MAX_NODES], n_used = 0;
        for (int k = 0; k < topo->n_nodes; k++) {
            share[n_used] = topo->node_cpus[k];
            intersect(&share[n_used], &base);
            node_of[n_used] = topo->node_id[k];
            n_used += rz_cpu_set_count(&share[n_used]) > 0;
        }
        for (int k = 0; k < n_used && s == RZ_OK; k++) {
            const int first = (int)((int64_t)k * n_threads / n_used);
            const int end = (int)((int64_t)(k + 1) * n_threads / n_used);
            snprintf(list, sizeof list, "node %d's share of the CPUs", node_of[k]);
            s = assign(out, first, end - first, &share[k], strict, list);
            for (int i = first; i < end; i++)
                out->node[i] = node_of[k];
        }
        if (n_used == 0) s = assign(out, 0, n_threads, &base, strict, set_name);
    } else {
        s = assign(out, 0, n_threads, &base, strict,
                   numa == RZ_NUMA_ISOLATE ? "the starting node's share of the CPUs" : set_name);
    }
    if (s != RZ_OK) rz_thread_plan_free(out);
    return s;
}
