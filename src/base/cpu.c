#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"

static rz_cpu_info cpu_info;
static rz_isa best_isa = RZ_ISA_SCALAR;
static rz_isa active_isa = RZ_ISA_SCALAR;
static int initialized;

static const char *const isa_names[RZ_ISA_COUNT] = {"scalar", "avx2", "avx512"};

static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static bool isa_supported(rz_isa isa) {
    const rz_cpu_info *c = &cpu_info;
    switch (isa) {
    case RZ_ISA_SCALAR: return true;
    case RZ_ISA_AVX2: return c->avx2 && c->fma && c->f16c;
    case RZ_ISA_AVX512:
        return isa_supported(RZ_ISA_AVX2) && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq &&
               c->avx512vnni && c->avx512bf16 && c->avx512vbmi && c->gfni; /* all used by its kernels */
    case RZ_ISA_COUNT: break;
    }
    return false;
}

static void detect(void) {
    rz_cpu_info *c = &cpu_info;
    unsigned int a, b, cx, d;
    unsigned int max_leaf = (unsigned int)__get_cpuid_max(0, NULL);
    if (max_leaf >= 1) {
        __cpuid(0, a, b, cx, d);
        memcpy(c->vendor + 0, &b, 4);
        memcpy(c->vendor + 4, &d, 4);
        memcpy(c->vendor + 8, &cx, 4);
        __cpuid(1, a, b, cx, d);
        c->sse42 = cx & bit_SSE4_2;
        bool osxsave = cx & bit_OSXSAVE;
        unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
        bool ymm_state = (xcr0 & 0x6) == 0x6;
        bool zmm_state = (xcr0 & 0xe6) == 0xe6;
        c->avx = (cx & bit_AVX) && ymm_state;
        c->fma = (cx & bit_FMA) && ymm_state;
        c->f16c = (cx & bit_F16C) && ymm_state;
        if (max_leaf >= 7) {
            __cpuid_count(7, 0, a, b, cx, d);
            c->avx2 = (b & bit_AVX2) && ymm_state;
            c->avx512f = (b & bit_AVX512F) && zmm_state;
            c->avx512dq = (b & bit_AVX512DQ) && zmm_state;
            c->avx512bw = (b & bit_AVX512BW) && zmm_state;
            c->avx512vl = (b & bit_AVX512VL) && zmm_state;
            c->avx512vbmi = (cx & bit_AVX512VBMI) && zmm_state;
            c->avx512vnni = (cx & bit_AVX512VNNI) && zmm_state;
            c->gfni = (cx & bit_GFNI) && zmm_state;
            __cpuid_count(7, 1, a, b, cx, d);
            c->avx512bf16 = (a & bit_AVX512BF16) && zmm_state;
            c->avxvnni = (a & (1u << 4)) && ymm_state;
        }
    }
    if ((unsigned int)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned int regs[12];
        for (unsigned int i = 0; i < 3; i++)
            __cpuid(0x80000002u + i, regs[4 * i], regs[4 * i + 1], regs[4 * i + 2], regs[4 * i + 3]);
        memcpy(c->brand, regs, 48);
        c->brand[48] = '\0';
        /* Brand strings are padded with spaces on both ends. */
        char *start = c->brand;
        while (*start == ' ')
            start++;
        memmove(c->brand, start, strlen(start) + 1);
        for (size_t n = strlen(c->brand); n > 0 && c->brand[n - 1] == ' '; n--)
            c->brand[n - 1] = '\0';
    }
    const rz_cpu_topology *topo = rz_cpu_topology_get();
    c->logical_cores = topo->n_cpus;
    c->physical_cores = topo->n_cores;

    for (int isa = RZ_ISA_COUNT - 1; isa >= 0; isa--) {
        if (isa_supported((rz_isa)isa)) {
            best_isa = (rz_isa)isa;
            break;
        }
    }
    active_isa = best_isa;
    const char *forced = getenv("RZ_ISA");
    rz_isa requested;
    if (forced && *forced) {
        if (rz_isa_parse(forced, &requested) != RZ_OK)
            fprintf(stderr, "rz: warning: ignoring RZ_ISA=%s (expected scalar, avx2 or avx512)\n", forced);
        else if (!isa_supported(requested))
            fprintf(stderr, "rz: warning: RZ_ISA=%s is not supported by this CPU; using %s\n", forced,
                    isa_names[best_isa]);
        else
            active_isa = requested;
    }
}

static void ensure_initialized(void) {
    /* Detection is idempotent, so a benign race only repeats work. */
    if (!__atomic_load_n(&initialized, __ATOMIC_ACQUIRE)) {
        detect();
        __atomic_store_n(&initialized, 1, __ATOMIC_RELEASE);
    }
}

const rz_cpu_info *rz_cpu_info_get(void) {
    ensure_initialized();
    return &cpu_info;
}

rz_isa rz_isa_best(void) {
    ensure_initialized();
    return best_isa;
}

rz_isa rz_isa_active(void) {
    ensure_initialized();
    return active_isa;
}

rz_status rz_isa_set(rz_isa isa) {
    ensure_initialized();
    if ((unsigned)isa >= RZ_ISA_COUNT) return rz_error(RZ_ERR_INVALID_ARG, "unknown ISA id %d", (int)isa);
    if (!isa_supported(isa))
        return rz_error(RZ_ERR_UNSUPPORTED, "ISA path %s is not supported by this CPU", isa_names[isa]);
    active_isa = isa;
    return RZ_OK;
}

const char *rz_isa_name(rz_isa isa) { return (unsigned)isa < RZ_ISA_COUNT ? isa_names[isa] : "unknown"; }

rz_status rz_isa_parse(const char *name, rz_isa *out) {
    for (int i = 0; i < RZ_ISA_COUNT; i++) {
        if (strcasecmp(name, isa_names[i]) == 0) {
            *out = (rz_isa)i;
            return RZ_OK;
        }
    }
    return rz_error(RZ_ERR_INVALID_ARG, "unknown ISA '%s' (expected scalar, avx2 or avx512)", name);
}
