#include "model/arch.h"

#include <string.h>

const rz_arch *rz_arch_find(const char *name) {
    static const rz_arch *const all[] = {
        &rz_arch_llama,   &rz_arch_bitnet, &rz_arch_bitnet_b158, &rz_arch_qwen2, &rz_arch_qwen3,
        &rz_arch_phi3,    &rz_arch_gemma2, &rz_arch_gemma3,      &rz_arch_bert,  &rz_arch_nomic_bert,
        &rz_arch_gpt_oss, &rz_arch_olmoe,  &rz_arch_rwkv5,       &rz_arch_rwkv6, &rz_arch_rwkv7,
        &rz_arch_mamba,   &rz_arch_mamba2};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        for (size_t k = 0; k < sizeof all[i]->names / sizeof all[i]->names[0] && all[i]->names[k]; k++)
            if (strcmp(all[i]->names[k], name) == 0) return all[i];
    return NULL;
}

int64_t rz_rec_dim_size(const rz_model *m, rz_rec_dim d, int32_t l) {
    const rz_rec_hparams *r = &m->rec;
    const int64_t groups = r->n_group > 0 ? r->n_group : 1;
    switch (d) {
    case RZ_RD_1: return 1;
    case RZ_RD_4: return 4;
    case RZ_RD_5: return 5;
    case RZ_RD_6: return 6;
    case RZ_RD_E: return m->desc.n_embd;
    case RZ_RD_F: return m->desc.n_ff;
    case RZ_RD_HEAD: return r->head_size;
    case RZ_RD_HEADS: return r->head_size > 0 ? m->desc.n_embd / r->head_size : 0;
    case RZ_RD_MIX: return r->mix_extra;
    case RZ_RD_MIX5: return 5 * (int64_t)r->mix_extra;
    case RZ_RD_DECAY: return r->decay_extra;
    case RZ_RD_LORA_DECAY: return r->lora_decay;
    case RZ_RD_LORA_ICLR: return r->lora_iclr;
    case RZ_RD_LORA_VALUE: return l == 0 ? r->lora_iclr : r->lora_mix;
    case RZ_RD_LORA_GATE: return r->lora_gate;
    case RZ_RD_CONV_K: return r->d_conv;
    case RZ_RD_INNER: return r->d_inner;
    case RZ_RD_INNER2: return 2 * (int64_t)r->d_inner;
    case RZ_RD_STATE: return r->d_state;
    case RZ_RD_DT_RANK: return r->dt_rank;
    case RZ_RD_X_DB: return r->dt_rank + 2 * (int64_t)r->d_state;
    case RZ_RD_CONV: return r->d_inner + 2 * groups * r->d_state;
    case RZ_RD_IN_PROJ: return 2 * (int64_t)r->d_inner + 2 * groups * r->d_state + r->dt_rank;
    case RZ_RD_GROUP_INNER: return r->d_inner / groups;
    case RZ_RD_GROUPS: return groups;
    }
    return 0;
}
