/* rz info: describe a model file or the CPU. */
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static void print_cpu_text(void) {
    const rz_cpu_info *c = rz_cpu_info_get();
    printf("cpu:        %s (%s)\n", c->brand[0] ? c->brand : "unknown", c->vendor);
    printf("cores:      %d physical, %d logical\n", c->physical_cores, c->logical_cores);
    printf("features:  ");
    const struct {
        const char *name;
        bool present;
    } flags[] = {{"sse4.2", c->sse42},         {"avx", c->avx},
                 {"avx2", c->avx2},            {"fma", c->fma},
                 {"f16c", c->f16c},            {"avx512f", c->avx512f},
                 {"avx512bw", c->avx512bw},    {"avx512vl", c->avx512vl},
                 {"avx512dq", c->avx512dq},    {"avx512vnni", c->avx512vnni},
                 {"avx512bf16", c->avx512bf16}, {"avx512vbmi", c->avx512vbmi},
                 {"avxvnni", c->avxvnni}};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (flags[i].present) printf(" %s", flags[i].name);
    printf("\n");
    printf("isa:        detected %s, using %s\n", rz_isa_name(rz_isa_best()), rz_isa_name(rz_isa_active()));
}

static void print_cpu_json(void) {
    const rz_cpu_info *c = rz_cpu_info_get();
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "vendor", c->vendor);
    cJSON_AddStringToObject(root, "brand", c->brand);
    cJSON_AddNumberToObject(root, "physical_cores", c->physical_cores);
    cJSON_AddNumberToObject(root, "logical_cores", c->logical_cores);
    cJSON *features = cJSON_AddObjectToObject(root, "features");
    cJSON_AddBoolToObject(features, "avx2", c->avx2);
    cJSON_AddBoolToObject(features, "fma", c->fma);
    cJSON_AddBoolToObject(features, "f16c", c->f16c);
    cJSON_AddBoolToObject(features, "avx512f", c->avx512f);
    cJSON_AddBoolToObject(features, "avx512bw", c->avx512bw);
    cJSON_AddBoolToObject(features, "avx512vl", c->avx512vl);
    cJSON_AddBoolToObject(features, "avx512dq", c->avx512dq);
    cJSON_AddBoolToObject(features, "avx512vnni", c->avx512vnni);
    cJSON_AddBoolToObject(features, "avx512bf16", c->avx512bf16);
    cJSON_AddBoolToObject(features, "avx512vbmi", c->avx512vbmi);
    cJSON_AddStringToObject(root, "isa_detected", rz_isa_name(rz_isa_best()));
    cJSON_AddStringToObject(root, "isa_active", rz_isa_name(rz_isa_active()));
    char *text = cJSON_Print(root);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(root);
}

int rz_cmd_info(int argc, char **argv) {
    bool cpu = false, json = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cpu") == 0)
            cpu = true;
        else if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: rz info MODEL [--json]\n       rz info --cpu [--json]\n");
            return 0;
        } else if (argv[i][0] == '-')
            return rz_cli_usage_error("info", "unknown option '%s'", argv[i]);
        else if (!path)
            path = argv[i];
        else
            return rz_cli_usage_error("info", "more than one model given");
    }
    if (cpu) {
        if (json)
            print_cpu_json();
        else
            print_cpu_text();
        return 0;
    }
    if (!path) return rz_cli_usage_error("info", "no model given (usage: rz info MODEL [--json])");
    return rz_cli_usage_error("info", "model files are not supported yet");
}
