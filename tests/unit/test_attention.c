/* Attention over quantized caches: each ISA path's value kernels against the
 * scalar reference (dequantize, then multiply-add), and a whole head against
 * a float computation over the dequantized K and V rows. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/attention.h"
#include "base/mem.h"
#include "kernels/ops.h"
#include "test_support.h"

static const rz_type cache_types[] = {RZ_TYPE_F32, RZ_TYPE_F16, RZ_TYPE_BF16, RZ_TYPE_Q8_0, RZ_TYPE_Q4_0};
enum { N_TYPES = sizeof cache_types / sizeof cache_types[0], MAX_N = 256, N_KEYS = 37 };

static void fill(uint64_t *rng, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = rz_test_rand_uniform(rng, -2.0f, 2.0f);
}

static void test_axpy_every_isa(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 11;
    float src[MAX_N], dec[MAX_N], want[MAX_N], got[MAX_N];
    unsigned char row[MAX_N * 4];
    for (int ti = 0; ti < N_TYPES; ti++) {
        const rz_type type = cache_types[ti];
        const uint32_t bs = rz_type_block_size(type);
        for (int64_t n = bs; n <= MAX_N; n += bs == 1 ? 7 : bs) {
            fill(&rng, src, n);
            RZ_ASSERT_OK(rz_quantize(type, src, row, (uint64_t)n));
            RZ_ASSERT_OK(rz_dequantize(type, row, dec, (uint64_t)n));
            const float p = rz_test_rand_uniform(&rng, 0.0f, 1.0f);
            float init[MAX_N];
            fill(&rng, init, n);
            for (int64_t i = 0; i < n; i++)
                want[i] = init[i] + p * dec[i];
            for (int pi = 0; pi < n_paths; pi++) {
                rz_attn_axpy_fn f = rz_attn_axpy(type, paths[pi]);
                assert_non_null(f);
                memcpy(got, init, (size_t)n * sizeof *got);
                f(n, p, row, got);
                for (int64_t i = 0; i < n; i++)
                    if (fabsf(got[i] - want[i]) > 1e-5f * (1.0f + fabsf(want[i])))
                        fail_msg("%s on %s, n=%lld, i=%lld: %g != %g", rz_type_name(type),
                                 rz_isa_name(paths[pi]), (long long)n, (long long)i, got[i], want[i]);
            }
        }
    }
    assert_null(rz_attn_axpy(RZ_TYPE_Q4_K, RZ_ISA_SCALAR));
}

/* Attention options (kernels/attention.h) as the tests vary them: the cap,
 * a sink, and a window of the last `window` keys (0: all). */
typedef struct attn_options {
    float softcap;
    bool has_sink;
    float sink;
    uint32_t window;
} attn_options;

/* Off, each alone (a sink below and one far above the scores, which are
 * about +-1.5), and all together. */
static const attn_options option_sets[] = {
    {0},
    {.softcap = 1.5f},
    {.has_sink = true, .sink = 1.0f},
    {.has_sink = true, .sink = 8.0f},
    {.window = 5},
    {.softcap = 1.5f, .has_sink = true, .sink = -0.5f, .window = 20},
};
enum { N_OPTION_SETS = sizeof option_sets / sizeof option_sets[0] };

static uint32_t window_start(const attn_options *o, uint32_t n_keys) {
    return o->window && n_keys > o->window ? n_keys - o->window : 0;
}

static void set_options(rz_attn_head *h, const attn_options *o) {
    h->softcap = o->softcap;
    h->has_sink = o->has_sink;
    h->sink = o->sink;
    h->first_key = window_start(o, h->n_keys);
}

/* want = the attention of head a over F32 rows, in double (llama.cpp's
 * steps: scale, cap, softmax with the sink, weighted sum). */
static void reference_head(const rz_attn_head *a, float *want) {
    double *w = malloc(a->n_keys * sizeof *w), max = a->has_sink ? a->sink : -INFINITY;
    for (uint32_t j = a->first_key; j < a->n_keys; j++) {
        const float *k = (const float *)(a->k + j * a->k_stride);
        double s = 0;
        for (int64_t i = 0; i < a->head_dim; i++)
            s += (double)a->q[i] * k[i];
        s *= a->scale;
        w[j] = a->softcap != 0.0f ? a->softcap * tanh(s / a->softcap) : s;
        max = fmax(max, w[j]);
    }
    double sum = a->has_sink ? exp(a->sink - max) : 0;
    for (uint32_t j = a->first_key; j < a->n_keys; j++)
        sum += w[j] = exp(w[j] - max);
    for (int64_t i = 0; i < a->head_dim; i++) {
        double s = 0;
        for (uint32_t j = a->first_key; j < a->n_keys; j++)
            s += w[j] * ((const float *)(a->v + j * a->v_stride))[i];
        want[i] = (float)(s / sum);
    }
    free(w);
}

/* The same head over rows of floats `stride` floats apart. */
static rz_attn_head float_head(const rz_attn_head *a, const float *k, const float *v, int64_t stride) {
    rz_attn_head f = *a;
    f.k = (const char *)k;
    f.v = (const char *)v;
    f.k_stride = f.v_stride = (uint64_t)stride * sizeof(float);
    return f;
}

static void test_head_matches_float(void **state) {
    (void)state;
    enum { HD = 64, KV_DIM = 2 * HD };
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 12;
    float *k = malloc(N_KEYS * KV_DIM * sizeof *k), *v = malloc(N_KEYS * KV_DIM * sizeof *v);
    float *kd = malloc(N_KEYS * KV_DIM * sizeof *kd), *vd = malloc(N_KEYS * KV_DIM * sizeof *vd);
    unsigned char *kq = malloc(N_KEYS * KV_DIM * 4), *vq = malloc(N_KEYS * KV_DIM * 4);
    float q[HD], scores[N_KEYS + 1], want[HD], got[HD];
    _Alignas(64) unsigned char q_conv[HD * 4];
    fill(&rng, k, N_KEYS * KV_DIM);
    fill(&rng, v, N_KEYS * KV_DIM);
    fill(&rng, q, HD);
    for (int tk = 0; tk < N_TYPES; tk++) {
        for (int tv = 0; tv < N_TYPES; tv++) {
            const rz_type type_k = cache_types[tk], type_v = cache_types[tv];
            RZ_ASSERT_OK(rz_quantize(type_k, k, kq, N_KEYS * KV_DIM));
            RZ_ASSERT_OK(rz_quantize(type_v, v, vq, N_KEYS * KV_DIM));
            RZ_ASSERT_OK(rz_dequantize(type_k, kq, kd, N_KEYS * KV_DIM));
            RZ_ASSERT_OK(rz_dequantize(type_v, vq, vd, N_KEYS * KV_DIM));
            const uint64_t k_row = rz_type_block_bytes(type_k) * (KV_DIM / rz_type_block_size(type_k));
            const uint64_t v_row = rz_type_block_bytes(type_v) * (KV_DIM / rz_type_block_size(type_v));
            /* The query is converted to the K type's vec_dot_type. */
            const float tol = type_k == RZ_TYPE_F32 ? 1e-4f : type_k == RZ_TYPE_F16 ? 2e-3f : 2e-2f;
            for (int oi = 0; oi < N_OPTION_SETS; oi++) {
                rz_attn_head head = {.q = q,
                                     .k = (const char *)kq + k_row / 2,
                                     .v = (const char *)vq + v_row / 2,
                                     .k_stride = k_row,
                                     .v_stride = v_row,
                                     .n_keys = N_KEYS,
                                     .head_dim = HD,
                                     .scale = 1.0f / sqrtf((float)HD)};
                set_options(&head, &option_sets[oi]);
                /* Reference from the dequantized rows (the query stays float:
                 * its Q8_0 conversion for quantized keys is within 1%). */
                const rz_attn_head ref = float_head(&head, kd + HD, vd + HD, KV_DIM);
                reference_head(&ref, want);
                for (int pi = 0; pi < n_paths; pi++) {
                    rz_attn_kernels kern;
                    RZ_ASSERT_OK(rz_attn_kernels_get(type_k, type_v, HD, paths[pi], &kern));
                    assert_true(kern.q_conv_bytes <= sizeof q_conv);
                    rz_attention_head(&kern, &head, scores, q_conv, got);
                    for (int i = 0; i < HD; i++)
                        if (fabsf(got[i] - want[i]) > tol)
                            fail_msg("K %s V %s on %s, options %d, i=%d: %g != %g", rz_type_name(type_k),
                                     rz_type_name(type_v), rz_isa_name(paths[pi]), oi, i, got[i], want[i]);
                }
            }
        }
    }
    assert_int_equal(rz_attn_kernels_get(RZ_TYPE_F32, RZ_TYPE_Q4_K, HD, RZ_ISA_SCALAR, &(rz_attn_kernels){0}),
                     RZ_ERR_UNSUPPORTED);
    free(k), free(v), free(kd), free(vd), free(kq), free(vq);
}

/* F32 caches decode through whole-head kernels where the ISA has them:
 * every head size the register blocking distinguishes (16, 80 = five
 * vectors, 96, 128, 256 = two slices) and key counts with and without a tail
 * of the four-key steps, with each option set, on every ISA path, against a
 * double computation. */
static void test_head_sizes_f32(void **state) {
    (void)state;
    enum { MAX_HD = 256, MAX_KEYS = 67, ROWS = 3 };
    const int64_t head_dims[] = {16, 80, 96, 128, 256};
    const uint32_t key_counts[] = {1, 4, 7, MAX_KEYS};
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 29;
    float *k = malloc(MAX_KEYS * ROWS * MAX_HD * sizeof *k),
          *v = malloc(MAX_KEYS * ROWS * MAX_HD * sizeof *v);
    float q[MAX_HD], scores[MAX_KEYS + 1], want[MAX_HD], got[MAX_HD];
    assert_non_null(k);
    assert_non_null(v);
    fill(&rng, k, MAX_KEYS * ROWS * MAX_HD);
    fill(&rng, v, MAX_KEYS * ROWS * MAX_HD);
    fill(&rng, q, MAX_HD);
    for (size_t h = 0; h < sizeof head_dims / sizeof head_dims[0]; h++)
        for (size_t c = 0; c < sizeof key_counts / sizeof key_counts[0]; c++)
            for (int oi = 0; oi < N_OPTION_SETS; oi++) {
                const int64_t hd = head_dims[h],
                              stride = ROWS * hd; /* rows of three heads: ours is the middle one */
                rz_attn_head head = float_head(
                    &(rz_attn_head){
                        .q = q, .n_keys = key_counts[c], .head_dim = hd, .scale = 1.0f / sqrtf((float)hd)},
                    k + hd, v + hd, stride);
                set_options(&head, &option_sets[oi]);
                reference_head(&head, want);
                for (int pi = 0; pi < n_paths; pi++) {
                    rz_attn_kernels kern;
                    RZ_ASSERT_OK(rz_attn_kernels_get(RZ_TYPE_F32, RZ_TYPE_F32, hd, paths[pi], &kern));
                    rz_attention_head(&kern, &head, scores, NULL, got);
                    for (int64_t i = 0; i < hd; i++)
                        if (fabsf(got[i] - want[i]) > 1e-5f * (1.0f + fabsf(want[i])))
                            fail_msg("head %lld, %u keys on %s, options %d, i=%lld: %g != %g", (long long)hd,
                                     head.n_keys, rz_isa_name(paths[pi]), oi, (long long)i, got[i], want[i]);
                }
            }
    free(k);
    free(v);
}

typedef struct agreement {
    double mean_kl, top1;
} agreement;

static int64_t argmax_of(const float *x, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Next-token distributions of every position with the given cache types
 * against the F32 cache: mean KL(f32 || other) and top-1 agreement. */
static agreement compare_cache(const rz_model *m, const int32_t *tokens, uint32_t n, rz_type type_k,
                               rz_type type_v) {
    const int64_t n_vocab = rz_model_describe(m)->n_vocab;
    float *ref = malloc((size_t)n * (size_t)n_vocab * sizeof *ref);
    bool *wants = malloc(n * sizeof *wants);
    for (uint32_t i = 0; i < n; i++)
        wants[i] = true;
    agreement a = {0};
    for (int pass = 0; pass < 2; pass++) {
        rz_context_params cp = rz_context_default_params();
        cp.n_ctx = n;
        cp.n_threads = 1;
        cp.type_k = pass ? type_k : RZ_TYPE_F32;
        cp.type_v = pass ? type_v : RZ_TYPE_F32;
        rz_context *ctx;
        RZ_ASSERT_OK(rz_context_create(m, &cp, &ctx));
        RZ_ASSERT_OK(rz_decode(ctx, tokens, n, wants));
        for (uint32_t i = 0; i < n; i++) {
            const float *l = rz_get_logits(ctx, (int32_t)i), *r = ref + (size_t)i * (size_t)n_vocab;
            if (pass == 0) {
                memcpy(ref + (size_t)i * (size_t)n_vocab, l, (size_t)n_vocab * sizeof *l);
                continue;
            }
            double mr = r[0], ml = l[0], zr = 0, zl = 0, kl = 0;
            for (int64_t j = 1; j < n_vocab; j++)
                mr = fmax(mr, r[j]), ml = fmax(ml, l[j]);
            for (int64_t j = 0; j < n_vocab; j++)
                zr += exp(r[j] - mr), zl += exp(l[j] - ml);
            for (int64_t j = 0; j < n_vocab; j++) {
                const double lp = r[j] - mr - log(zr), lq = l[j] - ml - log(zl);
                kl += exp(lp) * (lp - lq);
            }
            a.mean_kl += kl / n;
            a.top1 += (argmax_of(r, n_vocab) == argmax_of(l, n_vocab)) / (double)n;
        }
        rz_context_free(ctx);
    }
    free(ref);
    free(wants);
    return a;
}

/* Sane bounds for compressed caches. stories260K (a trained model; its head
 * size 8 allows only the float types) over its text, and a synthetic model
 * with head size 64 for the quantized types (random weights give flat
 * distributions with near-ties, so top-1 is a harsh measure there). */
static void test_cache_quality(void **state) {
    (void)state;
    RZ_REQUIRE_SHARED("models/stories260K.bin");
    char tok[1024];
    snprintf(tok, sizeof tok, "%s", rz_test_shared_path("models/tok512.bin"));
    rz_model_params mp = rz_model_default_params();
    mp.tokenizer_path = tok;
    rz_model *m;
    RZ_ASSERT_OK(rz_model_load(rz_test_shared_path("models/stories260K.bin"), &mp, &m));
    const char *text =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
        "One day, she saw a big, red ball. She wanted to play with it, but it was too high. Lily asked "
        "her mom for help. Her mom said, \"Let's ask the tall boy to help us.\" The boy was kind.";
    int32_t tokens[512];
    size_t n;
    RZ_ASSERT_OK(rz_tokenize(m, text, strlen(text), true, false, tokens, 512, &n));
    agreement a = compare_cache(m, tokens, (uint32_t)n, RZ_TYPE_F16, RZ_TYPE_F16);
    print_message("stories260K f16 cache: mean KL %.3g, top-1 %.4f over %zu tokens\n", a.mean_kl, a.top1, n);
    assert_true(a.top1 >= 0.98 && a.mean_kl < 1e-4);
    a = compare_cache(m, tokens, (uint32_t)n, RZ_TYPE_BF16, RZ_TYPE_BF16);
    print_message("stories260K bf16 cache: mean KL %.3g, top-1 %.4f\n", a.mean_kl, a.top1);
    assert_true(a.top1 >= 0.95 && a.mean_kl < 1e-3);
    rz_model_free(m);

    rz_synth_params sp;
    RZ_ASSERT_OK(rz_synth_preset("tiny", &sp));
    sp.n_embd = 256, sp.n_layer = 4, sp.n_ff = 512, sp.n_head = 4, sp.n_head_kv = 2, sp.seed = 3;
    const char *path = rz_test_temp_path("kv-quality.gguf");
    RZ_ASSERT_OK(rz_synth_write(&sp, path, NULL, NULL));
    RZ_ASSERT_OK(rz_model_load(path, NULL, &m));
    enum { N = 256 };
    uint64_t rng = 8;
    for (int i = 0; i < N; i++)
        tokens[i] = (int32_t)(rz_test_rand_u64(&rng) % (uint64_t)sp.n_vocab);
    a = compare_cache(m, tokens, N, RZ_TYPE_Q8_0, RZ_TYPE_Q8_0);
    print_message("synthetic q8_0 cache: mean KL %.3g, top-1 %.4f\n", a.mean_kl, a.top1);
    assert_true(a.top1 >= 0.95 && a.mean_kl < 1e-4);
    a = compare_cache(m, tokens, N, RZ_TYPE_Q4_0, RZ_TYPE_Q4_0);
    print_message("synthetic q4_0 cache: mean KL %.3g, top-1 %.4f\n", a.mean_kl, a.top1);
    assert_true(a.top1 >= 0.5 && a.mean_kl < 1e-2);
    rz_model_free(m);
}

/* Each ISA path's attention GEMM against the scalar reference on ragged
 * shapes (rows, columns and depth off the vector widths). */
static void test_gemm_every_isa(void **state) {
    (void)state;
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 21;
    const int shapes[][3] = {{1, 1, 1}, {3, 17, 9}, {4, 64, 64}, {7, 70, 130}, {64, 64, 128}, {9, 130, 33}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int m = shapes[si][0], n = shapes[si][1], k = shapes[si][2];
        const int64_t lda = k + 3, ldb = n + 5, ldc = n + 2;
        float *a = malloc((size_t)(m * lda) * sizeof *a), *b = malloc((size_t)(k * ldb) * sizeof *b);
        float *c0 = malloc((size_t)(m * ldc) * sizeof *c0), *want = malloc((size_t)(m * ldc) * sizeof *want),
              *got = malloc((size_t)(m * ldc) * sizeof *got);
        fill(&rng, a, m * lda);
        fill(&rng, b, k * ldb);
        fill(&rng, c0, m * ldc);
        memcpy(want, c0, (size_t)(m * ldc) * sizeof *want);
        rz_attn_gemm_f32(m, n, k, a, lda, b, ldb, want, ldc);
        for (int p = 0; p < n_paths; p++) {
            memcpy(got, c0, (size_t)(m * ldc) * sizeof *got);
            rz_attn_gemm(paths[p])(m, n, k, a, lda, b, ldb, got, ldc);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < ldc; j++) {
                    double mag = fabs(c0[i * ldc + j]);
                    for (int l = 0; j < n && l < k; l++)
                        mag += fabs((double)a[i * lda + l] * b[l * ldb + j]);
                    /* inside the product: the sum up to rounding; past n: untouched */
                    const double tol = j < n ? 1e-5 * mag : 0.0;
                    if (fabs((double)got[i * ldc + j] - want[i * ldc + j]) > tol)
                        fail_msg("%dx%dx%d on %s at [%d,%d]: %g vs %g", m, n, k, rz_isa_name(paths[p]), i, j,
                                 got[i * ldc + j], want[i * ldc + j]);
                }
        }
        free(a), free(b), free(c0), free(want), free(got);
    }
}

/* Blocked attention against one head at a time and against the double
 * reference, for every cache type pair, ISA path and option set: rows of
 * two heads by several tokens with their own key counts, over more than one
 * block of keys, and with per-row sinks and window starts, the windows
 * cutting through key blocks. Keys before every row's window are poisoned
 * (NaN in every type) to show they are never read. */
static void test_block_matches_heads(void **state) {
    (void)state;
    enum { HD = 64, KV_DIM = 2 * HD, KEYS = 2 * RZ_ATTN_BLOCK_KEYS + 9, ROWS = 10 };
    /* Decoding-like rows of all lengths, and the last tokens of a prompt. */
    static const uint32_t layouts[][ROWS] = {{1, 2, 63, 64, 65, KEYS - 9, KEYS, KEYS - 1, 100, 5},
                                             {KEYS, KEYS - 1, 130, 129, 128, 127, 120, 100, 90, 80}};
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 33;
    float *k = malloc(KEYS * KV_DIM * sizeof *k), *v = malloc(KEYS * KV_DIM * sizeof *v);
    float *kd = malloc(KEYS * KV_DIM * sizeof *kd), *vd = malloc(KEYS * KV_DIM * sizeof *vd);
    unsigned char *kq = malloc(KEYS * KV_DIM * 4), *vq = malloc(KEYS * KV_DIM * 4);
    float *q = malloc(ROWS * HD * sizeof *q), *want = malloc(ROWS * HD * sizeof *want),
          *ref = malloc(ROWS * HD * sizeof *ref), *got = malloc(ROWS * HD * sizeof *got), scores[KEYS + 1];
    _Alignas(64) unsigned char q_conv[HD * 4];
    fill(&rng, k, KEYS * KV_DIM);
    fill(&rng, v, KEYS * KV_DIM);
    fill(&rng, q, ROWS * HD);
    for (int tk = 0; tk < N_TYPES; tk++)
        for (int tv = 0; tv < N_TYPES; tv++)
            for (size_t li = 0; li < sizeof layouts / sizeof layouts[0]; li++)
                for (int oi = 0; oi < N_OPTION_SETS; oi++) {
                    const rz_type type_k = cache_types[tk], type_v = cache_types[tv];
                    const attn_options *o = &option_sets[oi];
                    const uint64_t k_row =
                        rz_type_block_bytes(type_k) * (KV_DIM / rz_type_block_size(type_k));
                    const uint64_t v_row =
                        rz_type_block_bytes(type_v) * (KV_DIM / rz_type_block_size(type_v));
                    rz_attn_block blk = {.k = (const char *)kq + k_row / 2,
                                         .v = (const char *)vq + v_row / 2,
                                         .k_stride = k_row,
                                         .v_stride = v_row,
                                         .head_dim = HD,
                                         .scale = 1.0f / sqrtf((float)HD),
                                         .softcap = o->softcap,
                                         .has_sink = o->has_sink,
                                         .n_rows = ROWS};
                    rz_attn_head heads[ROWS];
                    uint32_t min_first = KEYS;
                    for (int i = 0; i < ROWS; i++) {
                        heads[i] = (rz_attn_head){.q = q + i * HD,
                                                  .k = blk.k,
                                                  .v = blk.v,
                                                  .k_stride = k_row,
                                                  .v_stride = v_row,
                                                  .n_keys = layouts[li][i],
                                                  .head_dim = HD,
                                                  .scale = blk.scale};
                        set_options(&heads[i], o);
                        heads[i].sink += 0.25f * (float)(i % 4); /* rows differ */
                        blk.q[i] = heads[i].q;
                        blk.out[i] = got + i * HD;
                        blk.n_keys[i] = heads[i].n_keys;
                        blk.first_key[i] = heads[i].first_key;
                        blk.sink[i] = heads[i].sink;
                        min_first = heads[i].first_key < min_first ? heads[i].first_key : min_first;
                    }
                    RZ_ASSERT_OK(rz_quantize(type_k, k, kq, KEYS * KV_DIM));
                    RZ_ASSERT_OK(rz_quantize(type_v, v, vq, KEYS * KV_DIM));
                    RZ_ASSERT_OK(rz_dequantize(type_k, kq, kd, KEYS * KV_DIM));
                    RZ_ASSERT_OK(rz_dequantize(type_v, vq, vd, KEYS * KV_DIM));
                    memset(kq, 0xff, min_first * k_row);
                    memset(vq, 0xff, min_first * v_row);
                    for (int i = 0; i < ROWS; i++) {
                        const rz_attn_head fh = float_head(&heads[i], kd + HD, vd + HD, KV_DIM);
                        reference_head(&fh, ref + i * HD);
                    }
                    const float tol = type_k == RZ_TYPE_F32 ? 1e-4f : type_k == RZ_TYPE_F16 ? 2e-3f : 2e-2f;
                    for (int pi = 0; pi < n_paths; pi++) {
                        rz_attn_kernels kern;
                        RZ_ASSERT_OK(rz_attn_kernels_get(type_k, type_v, HD, paths[pi], &kern));
                        for (int i = 0; i < ROWS; i++)
                            rz_attention_head(&kern, &heads[i], scores, q_conv, want + i * HD);
                        void *scratch = rz_alloc_aligned(rz_attn_block_scratch_bytes(&kern, HD));
                        rz_attention_block(&kern, &blk, scratch);
                        rz_free_aligned(scratch);
                        /* the same products in another order: outputs are weighted means of values within 2
                         */
                        for (int i = 0; i < ROWS * HD; i++)
                            if (!(fabsf(got[i] - want[i]) <= 1e-5f && fabsf(want[i] - ref[i]) <= tol))
                                fail_msg(
                                    "K %s V %s on %s, layout %zu, options %d, row %d [%d]: block %.9g, head "
                                    "%.9g, reference %.9g",
                                    rz_type_name(type_k), rz_type_name(type_v), rz_isa_name(paths[pi]), li,
                                    oi, i / HD, i % HD, got[i], want[i], ref[i]);
                    }
                }
    free(k), free(v), free(kd), free(vd), free(kq), free(vq), free(q), free(want), free(ref), free(got);
}

/* Options set to values that change nothing (no cap, a sink of -inf, the
 * window from key 0) give the bits of options left zero, on both kernel
 * routes (F32: whole-head kernels on AVX-512; Q8_0/Q4_0: dots and axpys). */
static void test_neutral_options_same_bits(void **state) {
    (void)state;
    enum { HD = 128, KEYS = RZ_ATTN_BLOCK_KEYS + 30, ROWS = 3 };
    static const rz_type pairs[][2] = {{RZ_TYPE_F32, RZ_TYPE_F32}, {RZ_TYPE_Q8_0, RZ_TYPE_Q4_0}};
    rz_isa paths[RZ_ISA_COUNT];
    const int n_paths = rz_test_isa_paths(paths);
    uint64_t rng = 41;
    float *k = malloc(KEYS * HD * sizeof *k), *v = malloc(KEYS * HD * sizeof *v), q[ROWS * HD];
    unsigned char *kq = malloc(KEYS * HD * 4), *vq = malloc(KEYS * HD * 4);
    float scores[KEYS + 1], plain[ROWS * HD], neutral[ROWS * HD];
    _Alignas(64) unsigned char q_conv[HD * 4];
    fill(&rng, k, KEYS * HD);
    fill(&rng, v, KEYS * HD);
    fill(&rng, q, ROWS * HD);
    for (size_t t = 0; t < sizeof pairs / sizeof pairs[0]; t++) {
        RZ_ASSERT_OK(rz_quantize(pairs[t][0], k, kq, KEYS * HD));
        RZ_ASSERT_OK(rz_quantize(pairs[t][1], v, vq, KEYS * HD));
        for (int pi = 0; pi < n_paths; pi++) {
            rz_attn_kernels kern;
            RZ_ASSERT_OK(rz_attn_kernels_get(pairs[t][0], pairs[t][1], HD, paths[pi], &kern));
            rz_attn_head head = {.q = q,
                                 .k = (const char *)kq,
                                 .v = (const char *)vq,
                                 .k_stride = rz_row_bytes(rz_type_traits_get(pairs[t][0]), HD),
                                 .v_stride = rz_row_bytes(rz_type_traits_get(pairs[t][1]), HD),
                                 .n_keys = KEYS,
                                 .head_dim = HD,
                                 .scale = 0.125f};
            rz_attention_head(&kern, &head, scores, q_conv, plain);
            head.has_sink = true;
            head.sink = -INFINITY;
            rz_attention_head(&kern, &head, scores, q_conv, neutral);
            assert_memory_equal(plain, neutral, HD * sizeof *plain);
            rz_attn_block blk = {.k = head.k,
                                 .v = head.v,
                                 .k_stride = head.k_stride,
                                 .v_stride = head.v_stride,
                                 .head_dim = HD,
                                 .scale = head.scale,
                                 .n_rows = ROWS};
            for (int i = 0; i < ROWS; i++) {
                blk.q[i] = q + i * HD;
                blk.out[i] = plain + i * HD;
                blk.n_keys[i] = KEYS - 20 * (uint32_t)i;
            }
            void *scratch = rz_alloc_aligned(rz_attn_block_scratch_bytes(&kern, HD));
            rz_attention_block(&kern, &blk, scratch);
            blk.has_sink = true;
            for (int i = 0; i < ROWS; i++) {
                blk.out[i] = neutral + i * HD;
                blk.sink[i] = -INFINITY;
            }
            rz_attention_block(&kern, &blk, scratch);
            rz_free_aligned(scratch);
            assert_memory_equal(plain, neutral, sizeof plain);
        }
    }
    free(k), free(v), free(kq), free(vq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_axpy_every_isa),
        cmocka_unit_test(test_head_matches_float),
        cmocka_unit_test(test_cache_quality),
        cmocka_unit_test(test_gemm_every_isa),
        cmocka_unit_test(test_block_matches_heads),
        cmocka_unit_test(test_head_sizes_f32),
        cmocka_unit_test(test_neutral_options_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
