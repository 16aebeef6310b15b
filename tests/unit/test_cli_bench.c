/* rz synth, rz bench and rz perplexity through the CLI: output shape, exit
 * codes, and perplexity that tells real text from shuffled text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_support.h"

static void assert_contains(const char *text, const char *fragment) {
    if (!strstr(text, fragment)) fail_msg("output lacks '%s':\n%s", fragment, text);
}

static int count(const char *text, const char *fragment) {
    int n = 0;
    for (const char *p = strstr(text, fragment); p; p = strstr(p + 1, fragment))
        n++;
    return n;
}

static int rz(const char *args, char **output) {
    char *command;
    if (asprintf(&command, "'%s' %s", rz_test_cli(), args) < 0) fail_msg("out of memory");
    int rc = rz_test_run(command, output);
    free(command);
    return rc;
}

/* A tiny synthetic model in a temp file (static buffer). */
static const char *tiny_model(const char *type) {
    static char path[4096];
    char name[64], args[8192];
    snprintf(name, sizeof name, "tiny-%s.gguf", type);
    snprintf(path, sizeof path, "%s", rz_test_temp_path(name));
    snprintf(args, sizeof args, "synth '%s' --preset tiny --type %s --seed 5 2>&1", path, type);
    char *out;
    int rc = rz(args, &out);
    if (rc != 0) fail_msg("rz %s: exit %d\n%s", args, rc, out);
    free(out);
    return path;
}

static void test_synth_cli(void **state) {
    (void)state;
    char a[4096], b[4096], args[16384];
    snprintf(a, sizeof a, "%s", rz_test_temp_path("cli-a.gguf"));
    snprintf(b, sizeof b, "%s", rz_test_temp_path("cli-b.gguf"));
    const char *shape = "--n-embd 64 --n-layer 1 --n-ff 96 --n-head 2 --n-head-kv 1 --n-vocab 300 --tied";
    char *out;
    snprintf(args, sizeof args, "synth '%s' %s --type q8_0 --output-type f16 --seed 9 2>&1", a, shape);
    assert_int_equal(rz(args, &out), 0);
    free(out);
    snprintf(args, sizeof args, "synth '%s' %s --type q8_0 --output-type f16 --seed 9 2>&1", b, shape);
    assert_int_equal(rz(args, &out), 0);
    free(out);
    size_t na, nb;
    void *da = rz_test_read_file(a, &na), *db = rz_test_read_file(b, &nb);
    assert_non_null(da);
    assert_non_null(db);
    assert_int_equal(na, nb);
    assert_memory_equal(da, db, na);
    free(da);
    free(db);

    snprintf(args, sizeof args, "info '%s'", a);
    assert_int_equal(rz(args, &out), 0);
    assert_contains(out, "architecture:   llama\n");
    assert_contains(out, "token_embd.weight");
    assert_true(strstr(out, "  output.weight ") == NULL);
    free(out);
    snprintf(args, sizeof args, "run -m '%s' -p 'Once upon' -n 8 --temp 0 2>&1", a);
    assert_int_equal(rz(args, &out), 0);
    free(out);

    assert_int_equal(rz("synth --help", &out), 0);
    assert_contains(out, "tinyllama-1.1b");
    free(out);
    snprintf(args, sizeof args, "synth '%s' --n-embd 64 2>&1", a);
    assert_int_equal(rz(args, &out), 2);
    free(out);
    snprintf(args, sizeof args, "synth '%s' --preset huge 2>&1", a);
    assert_int_equal(rz(args, &out), 2);
    free(out);
    snprintf(args, sizeof args, "synth '%s' --preset tiny --type iq2_xxs 2>&1", a);
    assert_int_equal(rz(args, &out), 1);
    free(out);
}

static void test_bench_json(void **state) {
    (void)state;
    const char *model = tiny_model("q8_0");
    char args[8192], *out;
    snprintf(args, sizeof args, "bench -m '%s' -p 8,16 -n 4 -t 1,2 -r 2 --json 2>/dev/null", model);
    assert_int_equal(rz(args, &out), 0);
    /* One array of 6 flat objects: {pp8, pp16, tg4} x {1, 2 threads}. */
    const char *end = out + strlen(out);
    while (end > out && (end[-1] == '\n' || end[-1] == ' '))
        end--;
    assert_true(out[0] == '[' && end[-1] == ']');
    assert_int_equal(count(out, "{"), 6);
    assert_int_equal(count(out, "}"), 6);
    assert_int_equal(count(out, "\"test\":\t\"pp8\""), 2);
    assert_int_equal(count(out, "\"test\":\t\"pp16\""), 2);
    assert_int_equal(count(out, "\"test\":\t\"tg4\""), 2);
    assert_int_equal(count(out, "\"threads\":\t1,"), 3);
    assert_int_equal(count(out, "\"threads\":\t2,"), 3);
    assert_int_equal(count(out, "\"type\":\t\"q8_0\""), 6);
    assert_int_equal(count(out, "\"gb_per_s\":\tnull"), 4);
    assert_int_equal(count(out, "\"bytes_per_token\":\t"), 6);
    assert_int_equal(count(out, "\"max_rss_bytes\":\t"), 6);
    /* Every tok/s figure is a positive number. */
    for (const char *p = strstr(out, "\"tok_s_median\":\t"); p; p = strstr(p + 1, "\"tok_s_median\":\t")) {
        double v = strtod(p + strlen("\"tok_s_median\":\t"), NULL);
        assert_true(isfinite(v) && v > 0);
    }
    const char *gb = strstr(out, "\"gb_per_s\":\t");
    while (gb && !strncmp(gb + strlen("\"gb_per_s\":\t"), "null", 4))
        gb = strstr(gb + 1, "\"gb_per_s\":\t");
    assert_non_null(gb);
    assert_true(strtod(gb + strlen("\"gb_per_s\":\t"), NULL) > 0);
    free(out);
}

static void test_bench_table(void **state) {
    (void)state;
    const char *model = tiny_model("f16");
    char args[8192], *out;
    snprintf(args, sizeof args, "bench -m '%s' -p 0 -n 4 -t 1 -r 1 2>/dev/null", model);
    assert_int_equal(rz(args, &out), 0);
    assert_contains(out, "| model | size | params | type | threads | test | tok/s |");
    assert_contains(out, "| tiny-f16.gguf | ");
    assert_contains(out, " | f16 | 1 | tg4 | ");
    assert_true(strstr(out, "pp") == NULL);
    free(out);
    snprintf(args, sizeof args, "bench -m '%s' -t 0 2>&1", model);
    assert_int_equal(rz(args, &out), 2);
    free(out);
    snprintf(args, sizeof args, "bench -m '%s' -p 8 -n 0 -r 0 2>&1", model);
    assert_int_equal(rz(args, &out), 2);
    free(out);
    /* llama.cpp's short KV cache options. */
    snprintf(args, sizeof args, "bench -m '%s' -p 0 -n 4 -t 1 -r 1 -ctk f16 -ctv bf16 2>&1", model);
    assert_int_equal(rz(args, &out), 0);
    assert_contains(out, " | f16 | 1 | tg4 | ");
    free(out);
    snprintf(args, sizeof args, "bench -m '%s' -p 0 -n 4 -ctk q9_0 2>&1", model);
    assert_int_equal(rz(args, &out), 2);
    free(out);
    /* A prompt longer than the -c context fails cleanly. */
    snprintf(args, sizeof args, "bench -m '%s' -p 64 -n 0 -c 16 -r 1 2>&1", model);
    assert_int_equal(rz(args, &out), 1);
    free(out);
    /* -d: each test again after tokens already in the cache, as llama-bench names it. */
    snprintf(args, sizeof args, "bench -m '%s' -p 8 -n 4 -d 0,20 -t 1 -r 1 2>/dev/null", model);
    assert_int_equal(rz(args, &out), 0);
    assert_int_equal(count(out, " | pp8 | "), 1);
    assert_int_equal(count(out, " | pp8 @ d20 | "), 1);
    assert_int_equal(count(out, " | tg4 @ d20 | "), 1);
    free(out);
    snprintf(args, sizeof args, "bench -m '%s' -p 0 -n 4 -d 30 -t 1 -r 1 --json 2>/dev/null", model);
    assert_int_equal(rz(args, &out), 0);
    assert_contains(out, "\"n_depth\":\t30");
    assert_contains(out, "\"n_ctx\":\t35");
    free(out);
}

/* "-m MODEL -z TOKENIZER" for stories260K (static buffer). */
static const char *model_args(void) {
    static char args[8192];
    char model[4096];
    snprintf(model, sizeof model, "%s", rz_test_shared_path("models/stories260K.bin"));
    snprintf(args, sizeof args, "-m '%s' -z '%s'", model, rz_test_shared_path("models/tok512.bin"));
    return args;
}

/* PPL from `rz perplexity --json` on text file `path`. */
static double perplexity(const char *path) {
    char args[16384], *out;
    snprintf(args, sizeof args, "perplexity %s -f '%s' -c 64 --json 2>/dev/null", model_args(), path);
    int rc = rz(args, &out);
    if (rc != 0) fail_msg("rz %s: exit %d\n%s", args, rc, out);
    const char *p = strstr(out, "\"ppl\":\t");
    assert_non_null(p);
    double ppl = strtod(p + strlen("\"ppl\":\t"), NULL);
    assert_non_null(strstr(out, "\"n_windows\":\t"));
    free(out);
    return ppl;
}

static void test_perplexity(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    RZ_REQUIRE_SHARED("models/tok512.bin");
    RZ_REQUIRE_SHARED("testdata/stories260K/run_t0_n200.stdout");
    const char *story = rz_test_shared_path("testdata/stories260K/run_t0_n200.stdout");
    char story_path[4096];
    snprintf(story_path, sizeof story_path, "%s", story);
    const double real = perplexity(story_path);
    assert_true(isfinite(real) && real >= 1.0 && real < 10.0);

    /* The same characters in random order. */
    size_t n;
    char *text = rz_test_read_file(story_path, &n);
    assert_non_null(text);
    uint64_t rng = 11;
    for (size_t i = n - 1; i > 0; i--) {
        const size_t j = (size_t)(rz_test_rand_u64(&rng) % (i + 1));
        const char c = text[i];
        text[i] = text[j];
        text[j] = c;
    }
    char shuffled[4096];
    snprintf(shuffled, sizeof shuffled, "%s", rz_test_temp_path("shuffled.txt"));
    FILE *f = fopen(shuffled, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    fclose(f);
    free(text);
    const double noise = perplexity(shuffled);
    assert_true(isfinite(noise) && noise > 10.0 * real);

    /* Plain output, and a text shorter than one window. */
    char args[16384], *out;
    snprintf(args, sizeof args, "perplexity %s -f '%s' -c 64 2>&1", model_args(), story_path);
    assert_int_equal(rz(args, &out), 0);
    assert_contains(out, "PPL = ");
    assert_contains(out, "[1]");
    free(out);
    snprintf(args, sizeof args, "perplexity %s -f '%s' -c 512 2>&1", model_args(), story_path);
    assert_int_equal(rz(args, &out), 2);
    assert_contains(out, "fewer than one window");
    free(out);
}

/* Random weights predict about uniformly: PPL near the vocabulary size. The
 * byte-fallback text also needs more tokens than it has bytes. */
static void test_perplexity_synthetic(void **state) {
    (void)state;
    const char *model = tiny_model("f32");
    char model_path[4096], text_path[4096], args[16384], *out;
    snprintf(model_path, sizeof model_path, "%s", model);
    snprintf(text_path, sizeof text_path, "%s", rz_test_temp_path("once.txt"));
    FILE *f = fopen(text_path, "w");
    assert_non_null(f);
    for (int i = 0; i < 20; i++)
        fputs("Once upon a time, ", f);
    fclose(f);
    snprintf(args, sizeof args, "perplexity -m '%s' -f '%s' -c 64 --json 2>/dev/null", model_path, text_path);
    assert_int_equal(rz(args, &out), 0);
    const char *p = strstr(out, "\"ppl\":\t");
    assert_non_null(p);
    const double ppl = strtod(p + strlen("\"ppl\":\t"), NULL);
    if (!(ppl > 256 && ppl < 1024)) fail_msg("PPL %g of a random 512-token model\n%s", ppl, out);
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_cli),
        cmocka_unit_test(test_bench_json),
        cmocka_unit_test(test_bench_table),
        cmocka_unit_test(test_perplexity),
        cmocka_unit_test(test_perplexity_synthetic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
