#include "model/arch.h"

#include <string.h>

const rz_arch *rz_arch_find(const char *name) {
    static const rz_arch *const all[] = {&rz_arch_llama,      &rz_arch_bitnet,  &rz_arch_bitnet_b158,
                                         &rz_arch_qwen2,      &rz_arch_qwen3,   &rz_arch_phi3,
                                         &rz_arch_gemma2,     &rz_arch_gemma3,  &rz_arch_bert,
                                         &rz_arch_nomic_bert, &rz_arch_gpt_oss, &rz_arch_olmoe};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        for (size_t k = 0; k < sizeof all[i]->names / sizeof all[i]->names[0] && all[i]->names[k]; k++)
            if (strcmp(all[i]->names[k], name) == 0) return all[i];
    return NULL;
}
