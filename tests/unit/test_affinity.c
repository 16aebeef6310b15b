/* CPU masks and ranges, the sysfs topology, thread placement plans, pinned
 * pools, and the placement options through the CLI. */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/affinity.h"
#include "base/mem.h"
#include "base/threadpool.h"
#include "test_support.h"

static rz_cpu_set cpus_of(const char *list) {
    rz_cpu_set set = {0};
    assert_true(rz_cpu_list_parse(list, &set));
    return set;
}

static void assert_set(const rz_cpu_set *set, const char *list) {
    char text[256];
    rz_cpu_set_format(set, text, sizeof text);
    assert_string_equal(text, list);
}

static int last_online(void) {
    const rz_cpu_topology *t = rz_cpu_topology_get();
    int last = -1;
    for (int cpu = 0; cpu < RZ_MAX_CPUS; cpu++)
        if (rz_cpu_set_has(&t->online, cpu)) last = cpu;
    return last;
}

/* The k-th CPU this process may run on, or -1. */
static int allowed_cpu(int k) {
    const rz_cpu_set *allowed = &rz_cpu_topology_get()->allowed;
    for (int cpu = 0; cpu < RZ_MAX_CPUS; cpu++)
        if (rz_cpu_set_has(allowed, cpu) && k-- == 0) return cpu;
    return -1;
}

static void test_masks(void **state) {
    (void)state;
    rz_cpu_set set = {0};
    RZ_ASSERT_OK(rz_cpu_set_parse_mask("0x3", &set));
    assert_set(&set, "0-1");
    RZ_ASSERT_OK(rz_cpu_set_parse_mask("F0", &set)); /* adds, as -C after -C does */
    assert_set(&set, "0-1,4-7");
    memset(&set, 0, sizeof set);
    RZ_ASSERT_OK(rz_cpu_set_parse_mask("0X500", &set));
    assert_set(&set, "8,10");
    memset(&set, 0, sizeof set);
    char wide[300];
    memset(wide, '0', sizeof wide); /* leading zeros past 1024 CPUs name none */
    wide[sizeof wide - 2] = '8';
    wide[sizeof wide - 1] = '\0';
    RZ_ASSERT_OK(rz_cpu_set_parse_mask(wide, &set));
    assert_set(&set, "3");
    wide[0] = '1'; /* CPU 4 * 298 */
    assert_int_equal(rz_cpu_set_parse_mask(wide, &set), RZ_ERR_RANGE);
    assert_int_equal(rz_cpu_set_parse_mask("", &set), RZ_ERR_INVALID_ARG);
    assert_int_equal(rz_cpu_set_parse_mask("0x", &set), RZ_ERR_INVALID_ARG);
    assert_int_equal(rz_cpu_set_parse_mask("0x1g", &set), RZ_ERR_INVALID_ARG);
    assert_non_null(strstr(rz_last_error(), "'g' is not a hex digit"));
    assert_int_equal(rz_cpu_set_parse_mask("-1", &set), RZ_ERR_INVALID_ARG);
    assert_set(&set, "3"); /* failures add nothing */
}

static void test_ranges(void **state) {
    (void)state;
    rz_cpu_set set = {0};
    RZ_ASSERT_OK(rz_cpu_set_parse_range("2-4", &set));
    assert_set(&set, "2-4");
    RZ_ASSERT_OK(rz_cpu_set_parse_range("-0", &set));
    assert_set(&set, "0,2-4");
    memset(&set, 0, sizeof set);
    RZ_ASSERT_OK(rz_cpu_set_parse_range("0-", &set)); /* through the last online CPU */
    assert_int_equal(rz_cpu_set_count(&set), last_online() + 1);
    RZ_ASSERT_OK(rz_cpu_set_check(&set));
    const char *bad[] = {"3", "", "4-2", "a-b", "1-2-3", "1 -2", "+1-2", "0-99999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (rz_cpu_set_parse_range(bad[i], &set) == RZ_OK) fail_msg("range '%s' was accepted", bad[i]);
    assert_int_equal(rz_cpu_set_parse_range("0-1024", &set), RZ_ERR_RANGE);
    char past[32];
    snprintf(past, sizeof past, "%d-", last_online() + 1);
    assert_int_equal(rz_cpu_set_parse_range(past, &set), RZ_ERR_RANGE);
}

/* Well-formed sets that name CPUs this machine lacks fail the check. */
static void test_beyond_the_machine(void **state) {
    (void)state;
    rz_cpu_set set = {0};
    char range[32];
    snprintf(range, sizeof range, "0-%d", last_online() + 1);
    RZ_ASSERT_OK(rz_cpu_set_parse_range(range, &set));
    assert_int_equal(rz_cpu_set_check(&set), RZ_ERR_RANGE);
    assert_non_null(strstr(rz_last_error(), "does not exist here"));
    rz_cpu_set none = {0};
    RZ_ASSERT_OK(rz_cpu_set_check(&none));
}

static void test_format_and_lists(void **state) {
    (void)state;
    rz_cpu_set set = cpus_of("0-3,8,10-11\n");
    assert_int_equal(rz_cpu_set_count(&set), 7);
    assert_set(&set, "0-3,8,10-11");
    char small[5];
    rz_cpu_set_format(&set, small, sizeof small);
    assert_string_equal(small, "0-3"); /* cut at a whole entry */
    rz_cpu_set_add(&set, RZ_MAX_CPUS); /* ignored */
    assert_int_equal(rz_cpu_set_count(&set), 7);
    rz_cpu_set junk = {0};
    assert_false(rz_cpu_list_parse("1-x", &junk));
    assert_false(rz_cpu_list_parse("3-1", &junk));
}

static void write_text(const char *root, const char *rel, const char *text) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = strchr(path + strlen(root) + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Two nodes of four CPUs (two cores of two threads each), and a node of
 * memory only, as sysfs would list them. */
static const char *fake_sysfs(void) {
    static char root[4096];
    snprintf(root, sizeof root, "%s", rz_test_temp_path("sysfs"));
    mkdir(root, 0755);
    write_text(root, "cpu/online", "0-7\n");
    for (int cpu = 0; cpu < 8; cpu++) {
        char rel[128], value[16];
        snprintf(rel, sizeof rel, "cpu/cpu%d/topology/physical_package_id", cpu);
        snprintf(value, sizeof value, "%d\n", cpu / 4);
        write_text(root, rel, value);
        snprintf(rel, sizeof rel, "cpu/cpu%d/topology/core_id", cpu);
        snprintf(value, sizeof value, "%d\n", cpu % 4 / 2);
        write_text(root, rel, value);
    }
    write_text(root, "node/node0/cpulist", "0-3\n");
    write_text(root, "node/node2/cpulist", "4-7\n");
    write_text(root, "node/node3/cpulist", "\n");
    return root;
}

static void test_topology(void **state) {
    (void)state;
    rz_cpu_topology t;
    rz_cpu_topology_read(fake_sysfs(), &t);
    assert_true(t.sysfs);
    assert_int_equal(t.n_cpus, 8);
    assert_int_equal(t.n_cores, 4);
    assert_int_equal(t.n_nodes, 2);
    assert_int_equal(t.node_id[0], 0);
    assert_int_equal(t.node_id[1], 2);
    assert_set(&t.node_cpus[1], "4-7");

    rz_cpu_topology_read(rz_test_temp_path("no-sysfs"), &t); /* a container without /sys */
    assert_false(t.sysfs);
    assert_int_equal(t.n_nodes, 1);
    assert_int_equal(t.n_cpus, rz_cpu_set_count(&t.allowed));
    assert_int_equal(t.n_cores, t.n_cpus);

    const rz_cpu_topology *real = rz_cpu_topology_get();
    assert_true(real->n_cpus >= 1 && real->n_cores >= 1 && real->n_nodes >= 1);
    assert_int_equal(rz_cpu_info_get()->physical_cores, real->n_cores);
}

static rz_cpu_topology two_nodes(void) {
    rz_cpu_topology t;
    rz_cpu_topology_read(fake_sysfs(), &t);
    t.allowed = t.online;
    t.start_node = 1;
    return t;
}

static void test_plans_on_two_nodes(void **state) {
    (void)state;
    const rz_cpu_topology t = two_nodes();
    const rz_cpu_set none = {0};
    rz_thread_plan plan;
    RZ_ASSERT_OK(rz_thread_plan_make(&t, &none, false, RZ_NUMA_NONE, 4, &plan));
    assert_false(plan.pinned);
    rz_thread_plan_free(&plan);

    /* distribute: a block of threads per node, on that node's CPUs */
    RZ_ASSERT_OK(rz_thread_plan_make(&t, &none, true, RZ_NUMA_DISTRIBUTE, 4, &plan));
    const char *strict[] = {"0", "1", "4", "5"};
    const int node[] = {0, 0, 2, 2};
    for (int i = 0; i < 4; i++) {
        assert_set(&plan.cpus[i], strict[i]);
        assert_int_equal(plan.node[i], node[i]);
    }
    rz_thread_plan_free(&plan);
    RZ_ASSERT_OK(rz_thread_plan_make(&t, &none, false, RZ_NUMA_DISTRIBUTE, 3, &plan));
    assert_set(&plan.cpus[0], "0-3");
    assert_set(&plan.cpus[1], "4-7");
    assert_set(&plan.cpus[2], "4-7");
    rz_thread_plan_free(&plan);
    assert_int_equal(rz_thread_plan_make(&t, &none, true, RZ_NUMA_DISTRIBUTE, 10, &plan), RZ_ERR_INVALID_ARG);
    assert_non_null(strstr(rz_last_error(), "node 0's share"));

    /* a mask narrows distribute to the nodes it touches */
    rz_cpu_set mask = cpus_of("5-6");
    RZ_ASSERT_OK(rz_thread_plan_make(&t, &mask, true, RZ_NUMA_DISTRIBUTE, 2, &plan));
    assert_set(&plan.cpus[1], "6");
    assert_int_equal(plan.node[0], 2);
    rz_thread_plan_free(&plan);

    /* isolate: the starting node */
    RZ_ASSERT_OK(rz_thread_plan_make(&t, &none, false, RZ_NUMA_ISOLATE, 8, &plan));
    for (int i = 0; i < 8; i++)
        assert_set(&plan.cpus[i], "4-7");
    assert_int_equal(plan.node[0], -1);
    rz_thread_plan_free(&plan);
    mask = cpus_of("0-1");
    assert_int_equal(rz_thread_plan_make(&t, &mask, false, RZ_NUMA_ISOLATE, 2, &plan), RZ_ERR_INVALID_ARG);

    /* numactl: the CPUs the process was given */
    rz_cpu_topology given = t;
    given.allowed = cpus_of("2-5");
    RZ_ASSERT_OK(rz_thread_plan_make(&given, &none, false, RZ_NUMA_NUMACTL, 2, &plan));
    assert_set(&plan.cpus[1], "2-5");
    rz_thread_plan_free(&plan);
    RZ_ASSERT_OK(rz_thread_plan_make(&given, &none, true, RZ_NUMA_NUMACTL, 4, &plan));
    assert_set(&plan.cpus[3], "5");
    rz_thread_plan_free(&plan);
    mask = cpus_of("6");
    assert_int_equal(rz_thread_plan_make(&given, &mask, false, RZ_NUMA_NONE, 1, &plan), RZ_ERR_RANGE);
    assert_non_null(strstr(rz_last_error(), "outside this process's CPUs"));
    mask = cpus_of("9");
    assert_int_equal(rz_thread_plan_make(&given, &mask, false, RZ_NUMA_NONE, 1, &plan), RZ_ERR_RANGE);
    assert_non_null(strstr(rz_last_error(), "does not exist"));

    /* strict without numa: thread i on the i-th CPU of the mask */
    mask = cpus_of("1,3,7");
    RZ_ASSERT_OK(rz_thread_plan_make(&t, &mask, true, RZ_NUMA_NONE, 3, &plan));
    assert_set(&plan.cpus[2], "7");
    rz_thread_plan_free(&plan);
    assert_int_equal(rz_thread_plan_make(&t, &mask, true, RZ_NUMA_NONE, 4, &plan), RZ_ERR_INVALID_ARG);
    assert_non_null(strstr(rz_last_error(), "the CPU mask has 3 CPUs for 4 threads"));

    /* without sysfs, numa is ignored: unpinned */
    rz_cpu_topology bare = t;
    bare.sysfs = false;
    RZ_ASSERT_OK(rz_thread_plan_make(&bare, &none, false, RZ_NUMA_DISTRIBUTE, 4, &plan));
    assert_false(plan.pinned);
}

/* On this machine's real topology (one node here): distribute and isolate
 * put every thread on the CPUs of the process, as if unpinned. */
static void test_numa_on_this_machine(void **state) {
    (void)state;
    const rz_cpu_topology *t = rz_cpu_topology_get();
    if (t->n_nodes != 1) skip();
    const rz_cpu_set none = {0};
    const rz_numa modes[] = {RZ_NUMA_DISTRIBUTE, RZ_NUMA_ISOLATE, RZ_NUMA_NUMACTL};
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        rz_thread_plan plan;
        RZ_ASSERT_OK(rz_thread_plan_make(t, &none, false, modes[m], 3, &plan));
        assert_int_equal(plan.pinned, t->sysfs);
        for (int i = 0; plan.pinned && i < 3; i++) {
            assert_memory_equal(&plan.cpus[i], &t->allowed, sizeof t->allowed);
            assert_int_equal(plan.node[i], modes[m] == RZ_NUMA_DISTRIBUTE ? t->node_id[0] : -1);
        }
        rz_thread_plan_free(&plan);
    }
    rz_numa numa;
    RZ_ASSERT_OK(rz_numa_parse("Distribute", &numa));
    assert_int_equal(numa, RZ_NUMA_DISTRIBUTE);
    assert_string_equal(rz_numa_name(RZ_NUMA_NUMACTL), "numactl");
    assert_int_equal(rz_numa_parse("interleave", &numa), RZ_ERR_INVALID_ARG);
    int nice;
    assert_true(rz_prio_nice(-1, &nice) && nice == 5);
    assert_true(rz_prio_nice(3, &nice) && nice == -20);
    assert_false(rz_prio_nice(4, &nice));

    /* binding a huge-page buffer to this node keeps its contents */
    char *buf = rz_alloc_large(RZ_HUGE_PAGE);
    assert_non_null(buf);
    memset(buf, 7, RZ_HUGE_PAGE);
    rz_status s = rz_mem_bind_node(buf, RZ_HUGE_PAGE, t->node_id[0]);
    assert_true(s == RZ_OK || s == RZ_ERR_IO); /* IO: mbind refused (seccomp) */
    assert_int_equal(buf[RZ_HUGE_PAGE - 1], 7);
    rz_free_large(buf, RZ_HUGE_PAGE);
    assert_int_equal(rz_mem_bind_node(buf, 1, -1), RZ_ERR_INVALID_ARG);
}

enum { REGIONS = 200 };

typedef struct pinned_job {
    atomic_int cpu_seen[4];
    atomic_long sum;
} pinned_job;

static void pinned_task(void *arg, int ith, int nth) {
    pinned_job *job = arg;
    (void)nth;
    const int cpu = sched_getcpu();
    int expected = -1;
    if (!atomic_compare_exchange_strong(&job->cpu_seen[ith], &expected, cpu) && expected != cpu)
        atomic_store(&job->cpu_seen[ith], -2); /* moved */
    atomic_fetch_add(&job->sum, ith + 1);
}

static void run_pinned(rz_threadpool *pool, pinned_job *job) {
    for (int i = 0; i < 4; i++)
        atomic_init(&job->cpu_seen[i], -1);
    atomic_init(&job->sum, 0);
    for (int r = 0; r < REGIONS; r++)
        rz_threadpool_run(pool, pinned_task, job);
    const int n = rz_threadpool_size(pool);
    assert_int_equal(atomic_load(&job->sum), (long)REGIONS * n * (n + 1) / 2);
}

/* A strict one-CPU mask: every thread reports that CPU in every region, and
 * the caller gets its own affinity back when the pool goes. */
static void test_pinned_pool(void **state) {
    (void)state;
    const int c0 = allowed_cpu(0), c1 = allowed_cpu(1);
    cpu_set_t before, after;
    assert_int_equal(sched_getaffinity(0, sizeof before, &before), 0);

    rz_cpu_set one = {0};
    rz_cpu_set_add(&one, c0);
    rz_thread_plan plan;
    RZ_ASSERT_OK(rz_thread_plan_make(rz_cpu_topology_get(), &one, true, RZ_NUMA_NONE, 1, &plan));
    rz_threadpool *pool;
    RZ_ASSERT_OK(rz_threadpool_create_placed(1, plan.cpus, 0, &pool));
    pinned_job job;
    run_pinned(pool, &job);
    assert_int_equal(atomic_load(&job.cpu_seen[0]), c0);
    rz_threadpool_free(pool);
    rz_thread_plan_free(&plan);
    assert_int_equal(rz_thread_plan_make(rz_cpu_topology_get(), &one, true, RZ_NUMA_NONE, 2, &plan),
                     RZ_ERR_INVALID_ARG);

    /* three threads sharing that CPU (not strict) */
    const rz_cpu_set shared[3] = {one, one, one};
    RZ_ASSERT_OK(rz_threadpool_create_placed(3, shared, 0, &pool));
    run_pinned(pool, &job);
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&job.cpu_seen[i]), c0);
    rz_threadpool_free(pool);

    if (c1 >= 0) { /* strict over two CPUs: thread i on the i-th */
        rz_cpu_set two = one;
        rz_cpu_set_add(&two, c1);
        RZ_ASSERT_OK(rz_thread_plan_make(rz_cpu_topology_get(), &two, true, RZ_NUMA_NONE, 2, &plan));
        RZ_ASSERT_OK(rz_threadpool_create_placed(2, plan.cpus, 0, &pool));
        run_pinned(pool, &job);
        assert_int_equal(atomic_load(&job.cpu_seen[0]), c0);
        assert_int_equal(atomic_load(&job.cpu_seen[1]), c1);
        rz_threadpool_free(pool);
        rz_thread_plan_free(&plan);
    }
    assert_int_equal(sched_getaffinity(0, sizeof after, &after), 0);
    assert_true(CPU_EQUAL(&before, &after));

    /* a CPU outside the process's set cannot be pinned to */
    rz_cpu_set absent = {0};
    rz_cpu_set_add(&absent, RZ_MAX_CPUS - 1);
    const rz_cpu_set two_absent[2] = {absent, absent};
    assert_int_equal(rz_threadpool_create_placed(2, two_absent, 0, &pool), RZ_ERR_IO);
    assert_non_null(strstr(rz_last_error(), "on CPUs 1023"));
}

static int rz(const char *args, char **output) {
    char *command;
    if (asprintf(&command, "'%s' %s", rz_test_cli(), args) < 0) fail_msg("out of memory");
    const int rc = rz_test_run(command, output);
    free(command);
    return rc;
}

static void expect(const char *args, int rc, const char *fragment) {
    char *out;
    const int got = rz(args, &out);
    if (got != rc || (fragment && !strstr(out, fragment)))
        fail_msg("rz %s: exit %d (wanted %d), output:\n%s(wanted '%s')", args, got, rc, out,
                 fragment ? fragment : "");
    free(out);
}

static void test_cli_options(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    RZ_REQUIRE_SHARED("models/tok512.bin");
    char model[4096], m[8192], args[16384], cpu[64], mask[64];
    snprintf(model, sizeof model, "%s", rz_test_shared_path("models/stories260K.bin"));
    snprintf(m, sizeof m, "-m '%s' -z '%s'", model, rz_test_shared_path("models/tok512.bin"));
    const int c0 = allowed_cpu(0);
    snprintf(mask, sizeof mask, "-C 0x%llx", 1ull << (c0 % 64));
    if (c0 >= 64) snprintf(mask, sizeof mask, "-Cr %d-%d", c0, c0);
    snprintf(cpu, sizeof cpu, "on CPU %d (one each)", c0);

    snprintf(args, sizeof args, "run %s -p Once -n 4 --temp 0 %s --cpu-strict 1 -t 1 2>&1", m, mask);
    expect(args, 0, cpu);
    snprintf(args, sizeof args, "run %s -p Once -n 4 --temp 0 %s --cpu-strict 1 -t 2 2>&1", m, mask);
    expect(args, 1, "strict CPU placement needs a CPU per thread");
    snprintf(args, sizeof args, "run %s -p Once -n 4 --temp 0 --numa distribute -t 2 2>&1", m);
    expect(args, 0,
           rz_cpu_topology_get()->sysfs ? "placement: 2 threads on CPU" : "--numa distribute ignored");
    snprintf(args, sizeof args, "bench %s -p 0 -n 2 -r 1 %s --cpu-strict 1 -t 1 2>&1", m, mask);
    expect(args, 0, cpu);
    snprintf(args, sizeof args, "perplexity %s -f '%s' -c 64 --numa isolate --prio 0 2>&1", m,
             rz_test_shared_path("testdata/stories260K/run_t0_n200.stdout"));
    if (rz_test_shared_available("testdata/stories260K/run_t0_n200.stdout")) expect(args, 0, "PPL = ");

    const char *bad[] = {"-C 0xq",           "-C ''",    "-Cr 3",     "-Cr 2-1",           "--cpu-strict 2",
                         "--cpu-strict yes", "--prio 4", "--prio -2", "--numa interleave", "--numa"};
    const char *commands[] = {"run", "bench", "serve", "perplexity"};
    for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++) {
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            snprintf(args, sizeof args, "%s %s %s 2>&1", commands[c], m, bad[b]);
            expect(args, 2, "rz ");
        }
        snprintf(args, sizeof args, "%s %s -Cr 0-%d 2>&1", commands[c], m, last_online() + 1);
        expect(args, 2, "does not exist here");
    }
    expect("info --cpu", 0, "NUMA node");
    expect("info --cpu --json", 0, "\"topology\":");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_beyond_the_machine),
        cmocka_unit_test(test_format_and_lists),
        cmocka_unit_test(test_topology),
        cmocka_unit_test(test_plans_on_two_nodes),
        cmocka_unit_test(test_numa_on_this_machine),
        cmocka_unit_test(test_pinned_pool),
        cmocka_unit_test(test_cli_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
