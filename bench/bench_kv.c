/* KV-cache compression report: for each cache type, bytes per token of cache
 * and the longest context that fits a memory budget for real model shapes,
 * and quality: KL divergence and top-1 agreement of next-token distributions
 * against the F32 cache over a long context.
 *
 *   bench_kv [-t THREADS] [-n TOKENS] [--llama2c MODEL TOKENIZER]...
 *
 * Quality is measured on a synthetic Llama-shaped model (n_embd 512, 8 layers,
 * 8 heads, 4 KV heads, 2048 context; random tokens, TOKENS of them, default
 * 1536) and on each given llama2.c model over its whole context (its own
 * greedy text from BOS). Quantized caches need head sizes that are multiples
 * of 32, which the 260K models do not have. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ryzanstein.h"

typedef struct cache_kind {
    rz_type k, v;
} cache_kind;

static const cache_kind kinds[] = {
    {RZ_TYPE_F32, RZ_TYPE_F32},   {RZ_TYPE_F16, RZ_TYPE_F16},   {RZ_TYPE_BF16, RZ_TYPE_BF16},
    {RZ_TYPE_Q8_0, RZ_TYPE_Q8_0}, {RZ_TYPE_Q8_0, RZ_TYPE_Q4_0}, {RZ_TYPE_Q4_0, RZ_TYPE_Q4_0},
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

static uint64_t row_bytes(rz_type t, uint64_t n) {
    return n / rz_type_block_size(t) * rz_type_block_bytes(t);
}

static void sizes_table(void) {
    const char *presets[] = {"tinyllama-1.1b", "llama3.2-1b"};
    printf("## Cache size per token and longest context in a memory budget\n\n");
    printf("| model shape | K | V | bytes/token | vs f32 | max ctx in 1 GiB | max ctx in 8 GiB |\n");
    printf("| --- | --- | --- | ---: | ---: | ---: | ---: |\n");
    for (size_t p = 0; p < sizeof presets / sizeof presets[0]; p++) {
        rz_synth_params sp;
        if (rz_synth_preset(presets[p], &sp) != RZ_OK) continue;
        const uint64_t kv_dim = (uint64_t)sp.n_head_kv * (uint64_t)(sp.n_embd / sp.n_head);
        const uint64_t f32 = (uint64_t)sp.n_layer * 2 * row_bytes(RZ_TYPE_F32, kv_dim);
        for (int i = 0; i < N_KINDS; i++) {
            const uint64_t bpt =
                (uint64_t)sp.n_layer * (row_bytes(kinds[i].k, kv_dim) + row_bytes(kinds[i].v, kv_dim));
            printf("| %s (%d layers, kv_dim %llu) | %s | %s | %llu | %.3f | %llu | %llu |\n", presets[p],
                   sp.n_layer, (unsigned long long)kv_dim, rz_type_name(kinds[i].k), rz_type_name(kinds[i].v),
                   (unsigned long long)bpt, (double)bpt / (double)f32,
                   (unsigned long long)((1ull << 30) / bpt), (unsigned long long)((8ull << 30) / bpt));
        }
    }
    printf("\n");
}

/* Logits of every position of tokens[0 .. n) with one cache type; malloc'd. */
static float *all_logits(const rz_model *m, const int32_t *tokens, uint32_t n, cache_kind kind, int threads,
                         double *seconds) {
    const size_t n_vocab = (size_t)rz_model_describe(m)->n_vocab;
    rz_context_params cp = rz_context_default_params();
    cp.n_ctx = n;
    cp.n_threads = threads;
    cp.type_k = kind.k;
    cp.type_v = kind.v;
    rz_context *ctx;
    if (rz_context_create(m, &cp, &ctx) != RZ_OK) return NULL;
    float *out = malloc(n * n_vocab * sizeof *out);
    bool *wants = malloc(n * sizeof *wants);
    if (out && wants) {
        for (uint32_t i = 0; i < n; i++)
            wants[i] = true;
        const double t0 = rz_time_seconds();
        if (rz_decode(ctx, tokens, n, wants) == RZ_OK) {
            *seconds = rz_time_seconds() - t0;
            for (uint32_t i = 0; i < n; i++)
                memcpy(out + i * n_vocab, rz_get_logits(ctx, (int32_t)i), n_vocab * sizeof *out);
        } else {
            free(out);
            out = NULL;
        }
    }
    free(wants);
    rz_context_free(ctx);
    return out;
}

/* log-softmax of x into y (double for precision over large vocabularies). */
static void log_softmax(const float *x, double *y, size_t n) {
    double max = x[0], sum = 0.0;
    for (size_t i = 1; i < n; i++)
        max = x[i] > max ? x[i] : max;
    for (size_t i = 0; i < n; i++)
        sum += exp((double)x[i] - max);
    const double lse = max + log(sum);
    for (size_t i = 0; i < n; i++)
        y[i] = (double)x[i] - lse;
}

static size_t argmax(const float *x, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static void quality(const char *label, const rz_model *m, const int32_t *tokens, uint32_t n, int threads) {
    const size_t n_vocab = (size_t)rz_model_describe(m)->n_vocab;
    double secs;
    float *ref = all_logits(m, tokens, n, kinds[0], threads, &secs);
    if (!ref) {
        fprintf(stderr, "bench_kv: %s: %s\n", label, rz_last_error());
        return;
    }
    double *lp = malloc(n_vocab * sizeof *lp), *lq = malloc(n_vocab * sizeof *lq);
    for (int k = 0; k < N_KINDS && lp && lq; k++) {
        float *got = k == 0 ? ref : all_logits(m, tokens, n, kinds[k], threads, &secs);
        if (!got) {
            printf("| %s | %u | %s | %s | n/a (%s) | | | | |\n", label, n, rz_type_name(kinds[k].k),
                   rz_type_name(kinds[k].v), rz_last_error());
            continue;
        }
        double kl_sum = 0.0, kl_max = 0.0, kl_late = 0.0;
        uint32_t agree = 0, agree_late = 0;
        for (uint32_t i = 0; i < n; i++) {
            log_softmax(ref + i * n_vocab, lp, n_vocab);
            log_softmax(got + i * n_vocab, lq, n_vocab);
            double kl = 0.0;
            for (size_t j = 0; j < n_vocab; j++)
                kl += exp(lp[j]) * (lp[j] - lq[j]);
            const bool same = argmax(ref + i * n_vocab, n_vocab) == argmax(got + i * n_vocab, n_vocab);
            kl_sum += kl;
            kl_max = kl > kl_max ? kl : kl_max;
            agree += same;
            if (i >= n / 2) kl_late += kl, agree_late += same;
        }
        const uint32_t n_late = n - n / 2;
        printf("| %s | %u | %s | %s | %.3g | %.3g | %.3g | %.4f | %.4f | %.0f |\n", label, n,
               rz_type_name(kinds[k].k), rz_type_name(kinds[k].v), kl_sum / n, kl_late / n_late, kl_max,
               (double)agree / n, (double)agree_late / n_late, n / secs);
        fflush(stdout);
        if (k != 0) free(got);
    }
    free(lp);
    free(lq);
    free(ref);
}

static void quality_header(void) {
    printf("## Next-token quality against the F32 cache\n\n");
    printf("| model | tokens | K | V | mean KL | mean KL, 2nd half | max KL | top-1 agree | top-1, 2nd half "
           "| tok/s "
           "(prompt) |\n");
    printf("| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
}

static int synthetic(uint32_t n_tokens, int threads) {
    rz_synth_params sp;
    if (rz_synth_preset("tiny", &sp) != RZ_OK) return 1;
    sp.name = "kv-bench";
    sp.n_embd = 512;
    sp.n_layer = 8;
    sp.n_ff = 1536;
    sp.n_head = 8;
    sp.n_head_kv = 4;
    sp.n_vocab = 4096;
    sp.n_ctx = 2048;
    sp.type = RZ_TYPE_F16;
    sp.output_type = RZ_TYPE_F16;
    sp.seed = 1;
    char path[] = "/tmp/bench_kv_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    rz_model *m = NULL;
    if (rz_synth_write(&sp, path, NULL, NULL) != RZ_OK || rz_model_load(path, NULL, &m) != RZ_OK) {
        fprintf(stderr, "bench_kv: synthetic model: %s\n", rz_last_error());
        unlink(path);
        return 1;
    }
    if (n_tokens > (uint32_t)sp.n_ctx) n_tokens = (uint32_t)sp.n_ctx;
    int32_t *tokens = malloc(n_tokens * sizeof *tokens);
    uint64_t rng = 42;
    for (uint32_t i = 0; i < n_tokens; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        tokens[i] = (int32_t)((rng >> 33) % (uint64_t)sp.n_vocab);
    }
    quality("synthetic 512x8, 8/4 heads", m, tokens, n_tokens, threads);
    free(tokens);
    rz_model_free(m);
    unlink(path);
    return 0;
}

/* The model's own greedy text from BOS over its whole context. */
static int llama2c(const char *path, const char *tokenizer, int threads) {
    rz_model_params mp = rz_model_default_params();
    mp.tokenizer_path = tokenizer;
    rz_model *m;
    if (rz_model_load(path, &mp, &m) != RZ_OK) {
        fprintf(stderr, "bench_kv: %s: %s\n", path, rz_last_error());
        return 1;
    }
    const rz_model_desc *d = rz_model_describe(m);
    const uint32_t n = (uint32_t)d->n_ctx_train;
    int32_t *tokens = malloc(n * sizeof *tokens);
    rz_context_params cp = rz_context_default_params();
    cp.n_threads = threads;
    rz_context *ctx;
    int rc = 1;
    if (tokens && rz_context_create(m, &cp, &ctx) == RZ_OK) {
        tokens[0] = d->bos >= 0 ? d->bos : 1;
        rc = 0;
        for (uint32_t i = 1; i < n && rc == 0; i++) {
            rc = rz_decode(ctx, &tokens[i - 1], 1, NULL) != RZ_OK;
            if (rc == 0) tokens[i] = (int32_t)argmax(rz_get_logits(ctx, -1), (size_t)d->n_vocab);
        }
        rz_context_free(ctx);
    }
    if (rc == 0) {
        const char *slash = strrchr(path, '/');
        quality(slash ? slash + 1 : path, m, tokens, n, threads);
    }
    free(tokens);
    rz_model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    int threads = 0;
    long n_tokens = 1536;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            n_tokens = atol(argv[++i]);
        } else if (!strcmp(argv[i], "--llama2c") && i + 2 < argc) {
            i += 2;
        } else {
            fprintf(stderr, "usage: bench_kv [-t THREADS] [-n TOKENS] [--llama2c MODEL TOKENIZER]...\n");
            return 2;
        }
    }
    if (n_tokens < 2) n_tokens = 2;
    sizes_table();
    quality_header();
    int rc = synthetic((uint32_t)n_tokens, threads);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--llama2c"))
            rc |= llama2c(argv[i + 1], argv[i + 2], threads), i += 2;
        else if (argv[i][0] == '-')
            i++;
    return rc;
}
