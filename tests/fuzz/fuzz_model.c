/* libFuzzer target: the model loader on arbitrary GGUF bytes (hyperparameters,
 * tensor shapes and types of every architecture), then a context and a
 * two-token decode of whatever loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ryzanstein.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_model_%d.gguf", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    const bool written = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0 || !written) return 0;
    rz_model *m;
    rz_model_params mp = rz_model_default_params();
    mp.no_repack = true;
    if (rz_model_load(path, &mp, &m) != RZ_OK) {
        if (strchr(rz_last_error(), '\n') || !rz_last_error()[0]) abort();
        return 0;
    }
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = 8;
    cp.n_batch = 4;
    cp.n_threads = 1;
    rz_context *ctx;
    const rz_model_desc *d = rz_model_describe(m);
    if (!d->encoder && d->n_vocab >= 2 && rz_context_create(m, &cp, &ctx) == RZ_OK) {
        const int32_t tokens[2] = {0, 1};
        if (rz_decode(ctx, tokens, 2, NULL) == RZ_OK) sink += rz_get_logits(ctx, -1)[0];
        rz_context_free(ctx);
    }
    rz_model_free(m);
    return 0;
}
