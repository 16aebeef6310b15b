/* libFuzzer target: Hugging Face tokenizer files -> GGUF tokenizer metadata
 * (format/hf_tokenizer.c) from memory. The first byte picks the input:
 * 0 mod 3, tokenizer.json alone; 1, tokenizer.json, a NUL, then
 * tokenizer_config.json; 2, a SentencePiece tokenizer.model. Any input must
 * be converted or refused with a message, without a crash; what converts is
 * written out and, unless huge, loaded as a vocabulary, which must not crash
 * either.
 * Seeds: tests/fuzz/corpus/hf_tokenizer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/hf.h"
#include "ryzanstein.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_hf_tokenizer.%d.gguf", (int)getpid());
    const int mode = data[0] % 3;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *config = NULL;
    size_t config_len = 0;
    if (mode == 1) {
        const char *nul = memchr(text, '\0', len);
        if (nul) {
            config = nul + 1;
            config_len = len - (size_t)(config - text);
            len = (size_t)(nul - text);
        }
    }
    rz_gguf_writer *w;
    if (rz_gguf_writer_open(path, &w) != RZ_OK) abort();
    rz_status s = rz_gguf_writer_add_str(w, "general.architecture", "llama");
    if (s == RZ_OK)
        s = mode == 2 ? rz_hf_spm_model_to_gguf(text, len, NULL, 0, w)
                      : rz_hf_tokenizer_json_to_gguf(text, len, config, config_len, w);
    if (s != RZ_OK) {
        if (!*rz_last_error()) abort(); /* every refusal says why */
        rz_gguf_writer_abort(w);
        return 0;
    }
    if (rz_gguf_writer_close(w) != RZ_OK) abort();
    /* A few bytes with a large id make a vocabulary of a million "[PADn]"
     * tokens; loading those is slow, not interesting (fuzz_gguf covers it). */
    struct stat st;
    if (stat(path, &st) != 0 || st.st_size > (1 << 20)) {
        unlink(path);
        return 0;
    }
    rz_model_params p = rz_model_default_params();
    p.vocab_only = true;
    rz_model *m = NULL;
    if (rz_model_load(path, &p, &m) == RZ_OK) {
        int32_t ids[64];
        size_t n;
        rz_tokenize(m, "Hello world", 11, true, true, ids, 64, &n);
        rz_model_free(m);
    }
    unlink(path);
    return 0;
}
