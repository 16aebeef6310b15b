/* llama2.c tokenizer.bin pieces in SentencePiece/GGUF form.
 *
 * llama2.c's exporter turned SentencePiece's U+2581 into ' ' and wrote BOS
 * and EOS as "\n<s>\n" and "\n</s>\n"; this undoes that and assigns GGUF
 * token types, so the vocabulary matches what llama.cpp stores for the same
 * tokenizer. Used by the converter and by the model loader. */
#ifndef RZ_FORMAT_LLAMA2C_SPM_H
#define RZ_FORMAT_LLAMA2C_SPM_H

#include "ryzanstein.h"

typedef struct rz_llama2c_spm {
    uint32_t n_tokens;
    rz_str *pieces; /* point into text */
    char *text;
    float *scores;
    int32_t *types;        /* GGUF token types */
    int32_t bos, eos, unk; /* found by their pieces; -1 if absent */
} rz_llama2c_spm;

rz_status rz_llama2c_spm_build(const rz_llama2c_vocab *vocab, rz_llama2c_spm *out);
void rz_llama2c_spm_free(rz_llama2c_spm *spm);

#endif
