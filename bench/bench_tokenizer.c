/* Tokenizer throughput: 1 MB of mixed-language text (llama.cpp's tokenizer
 * test strings plus samples in several scripts, shuffled deterministically)
 * through the Llama SentencePiece and GPT-2 vocabularies, single-threaded.
 *
 *   bench_tokenizer [SHARED_DIR] [MEGABYTES]
 *
 * SHARED_DIR defaults to $RZ_SHARED_DIR, then ../shared beside the source. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ryzanstein.h"

/* CPU time of this thread: on a shared machine wall time also counts the
 * time other processes held the core. */
static double thread_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *const SAMPLES[] = {
    "The quick brown fox jumps over the lazy dog. ",
    "It was the best of times, it was the worst of times; it was the age of wisdom.\n",
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich. ",
    "Voix ambiguë d'un cœur qui, au zéphyr, préfère les jattes de kiwis. ",
    "El pingüino Wenceslao hizo kilómetros bajo exhaustiva lluvia y frío. ",
    "Съешь же ещё этих мягких французских булок, да выпей чаю. ",
    "Τάχιστη αλώπηξ βαφής ψημένη γη, δρασκελίζει υπέρ νωθρού κυνός. ",
    "我能吞下玻璃而不伤身体。今天天气很好，我们去公园散步吧。",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ。東京は日本の首都です。",
    "다람쥐 헌 쳇바퀴에 타고파. 한국어 문장을 토큰화합니다. ",
    "صِف خَلقَ خَودِ كَمِثلِ الشَمسِ إِذ بَزَغَت. ",
    "ऋषियों को सताने वाले दुष्ट राक्षसों के राजा रावण का सर्वनाश करने वाले। ",
    "for (int i = 0; i < n; i++) {\n    sum += a[i] * b[i];\n}\n",
    "def tokenize(text: str) -> list[int]:\n    return [ord(c) for c in text]  # 🦙🚀\n",
    "Prices: $3.99, €4,50, ¥500 — 100% of 2024-05-17T12:34:56Z.\n\n",
};

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = buf ? (size_t)n : 0;
    return buf;
}

/* Pieces: the test strings of the .inp file and the samples above. */
static char *build_text(const char *inp_path, size_t target, size_t *len) {
    size_t inp_len = 0;
    char *inp = read_file(inp_path, &inp_len);
    const char *pieces[512];
    size_t lens[512], n = 0;
    for (size_t i = 0; i < sizeof SAMPLES / sizeof SAMPLES[0]; i++) {
        pieces[n] = SAMPLES[i];
        lens[n++] = strlen(SAMPLES[i]);
    }
    static const char sep[] = "\n__ggml_vocab_test__\n";
    for (char *at = inp; at && n < 512;) {
        char *end = strstr(at, sep);
        if (!end) break;
        if (end > at) {
            pieces[n] = at;
            lens[n++] = (size_t)(end - at);
        }
        at = end + strlen(sep);
    }
    char *text = malloc(target + 1024);
    size_t used = 0;
    uint64_t state = 0x9e3779b97f4a7c15ull;
    while (text && used < target) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        size_t k = (size_t)(state >> 33) % n;
        if (used + lens[k] + 1 > target + 1024) break;
        memcpy(text + used, pieces[k], lens[k]);
        used += lens[k];
        text[used++] = ' ';
    }
    free(inp);
    *len = used;
    return text;
}

static int bench(const char *name, const char *gguf, const char *text, size_t len) {
    rz_model_params p = rz_model_default_params();
    p.vocab_only = true;
    rz_model *m;
    if (rz_model_load(gguf, &p, &m) != RZ_OK) {
        fprintf(stderr, "bench_tokenizer: %s\n", rz_last_error());
        return 1;
    }
    size_t cap = len + 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    double best = 1e30, best_cpu = 1e30;
    for (int rep = 0; ids && rep < 5; rep++) {
        const double t0 = rz_time_seconds(), c0 = thread_seconds();
        if (rz_tokenize(m, text, len, false, false, ids, cap, &n) != RZ_OK) {
            fprintf(stderr, "bench_tokenizer: %s\n", rz_last_error());
            break;
        }
        const double dt = rz_time_seconds() - t0, dc = thread_seconds() - c0;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    const double mb = (double)len / 1e6;
    printf("%-10s %.3f MB, %zu tokens (%.2f bytes/token): %6.2f MB/s wall (%.1f ms), %6.2f MB/s CPU time\n",
           name, mb, n, n ? (double)len / (double)n : 0.0, mb / best, best * 1e3, mb / best_cpu);
    free(ids);
    rz_model_free(m);
    return 0;
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : getenv("RZ_SHARED_DIR");
    if (!shared || !*shared) shared = RZ_DEFAULT_SHARED_DIR;
    const double mb = argc > 2 ? atof(argv[2]) : 1.0;
    char inp[4096], spm[4096], gpt2[4096];
    snprintf(inp, sizeof inp, "%s/testdata/tokenizer/ggml-vocab-gpt-2.gguf.inp", shared);
    snprintf(spm, sizeof spm, "%s/testdata/tokenizer/ggml-vocab-llama-spm.gguf", shared);
    snprintf(gpt2, sizeof gpt2, "%s/testdata/tokenizer/ggml-vocab-gpt-2.gguf", shared);
    size_t len;
    char *text = build_text(inp, (size_t)(mb * 1e6), &len);
    if (!text) return 1;
    int rc = bench("llama-spm", spm, text, len) | bench("gpt-2", gpt2, text, len);
    free(text);
    return rc;
}
