/* safetensors files and Hugging Face model views: layouts read right, and
 * hostile files refused with errors that name the cause. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/hf.h"
#include "test_support.h"

/* A file image: 8-byte length, the header text, then `data`. */
static unsigned char *image(const char *header, const void *data, size_t data_len, size_t *size) {
    const size_t h = strlen(header);
    *size = 8 + h + data_len;
    unsigned char *p = malloc(*size);
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(p + 8, header, h);
    if (data_len) memcpy(p + 8 + h, data, data_len);
    return p;
}

static void test_reads_layout(void **state) {
    (void)state;
    float data[6 + 2] = {1, 2, 3, 4, 5, 6, 7, 8};
    size_t size;
    unsigned char *img = image("{\"__metadata__\":{\"format\":\"pt\"},"
                               "\"m\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                               "\"v\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]}}",
                               data, sizeof data, &size);
    rz_safetensors *st;
    RZ_ASSERT_OK(rz_safetensors_open_memory(img, size, &st));
    assert_int_equal(rz_safetensors_tensor_count(st), 2);
    const rz_hf_tensor *m = rz_safetensors_tensor_at(st, 0), *v = rz_safetensors_tensor_at(st, 1);
    assert_string_equal(m->name, "m");
    assert_string_equal(m->dtype, "F32");
    assert_int_equal(m->type, RZ_TYPE_F32);
    assert_int_equal(m->n_dims, 2);
    assert_int_equal(m->ne[0], 3); /* the last dimension is contiguous */
    assert_int_equal(m->ne[1], 2);
    assert_int_equal(m->size, 24);
    assert_memory_equal(m->data, data, 24);
    assert_int_equal(v->type, RZ_TYPE_F16);
    assert_int_equal(v->ne[0], 4);
    assert_ptr_equal(v->data, (const unsigned char *)m->data + 24);
    assert_null(rz_safetensors_tensor_at(st, 2));
    rz_safetensors_close(st);
    free(img);
}

/* Each hostile header is refused, with `cause` in the message. */
static void expect_refused(const char *header, size_t data_len, const char *cause) {
    static unsigned char zeros[256];
    size_t size;
    unsigned char *img = image(header, zeros, data_len, &size);
    rz_safetensors *st = (rz_safetensors *)1;
    assert_int_not_equal(rz_safetensors_open_memory(img, size, &st), RZ_OK);
    assert_null(st);
    if (!strstr(rz_last_error(), cause)) fail_msg("'%s' does not mention '%s'", rz_last_error(), cause);
    free(img);
}

static void test_hostile(void **state) {
    (void)state;
    expect_refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside");
    expect_refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "outside");
    expect_refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "do not hold");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   12, "overlap");
    expect_refused("{\"t\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "dtype");
    expect_refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                   "\"data_offsets\":[0,0]}}",
                   0, "overflows");
    expect_refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
                   "dimensions");
    expect_refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape");
    expect_refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape");
    expect_refused("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "data_offsets");
    expect_refused("{\"t\":", 0, "JSON");
    expect_refused("[]", 0, "JSON object");

    /* A header length running past the end of the file. */
    unsigned char short_file[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    rz_safetensors *st;
    assert_int_not_equal(rz_safetensors_open_memory(short_file, sizeof short_file, &st), RZ_OK);
    assert_non_null(strstr(rz_last_error(), "header length"));
    assert_int_not_equal(rz_safetensors_open_memory(short_file, 5, &st), RZ_OK);
}

static void write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
}

/* Shards named by an index must be plain files beside it, each tensor in one. */
static void test_index(void **state) {
    (void)state;
    float data[2] = {1, 2};
    size_t size;
    unsigned char *img =
        image("{\"t\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 8, &size);
    char shard[4096], index[4096];
    snprintf(shard, sizeof shard, "%s", rz_test_temp_path("a.safetensors"));
    write_file(shard, img, size);
    free(img);
    snprintf(index, sizeof index, "%s", rz_test_temp_path("model.safetensors.index.json"));
    static const char *const bad[][2] = {
        {"{\"weight_map\":{\"t\":\"../a.safetensors\"}}", "not a file name"},
        {"{\"weight_map\":{\"t\":\"missing.safetensors\"}}", "missing.safetensors"},
        {"{\"weight_map\":{\"u\":\"a.safetensors\"}}", "'u' is in 0 shards"},
        {"{\"nothing\":1}", "weight_map"},
    };
    rz_safetensors *st;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(index, bad[i][0], strlen(bad[i][0]));
        assert_int_not_equal(rz_safetensors_open(index, &st), RZ_OK);
        if (!strstr(rz_last_error(), bad[i][1]))
            fail_msg("'%s' does not mention '%s'", rz_last_error(), bad[i][1]);
    }
    const char *good = "{\"metadata\":{},\"weight_map\":{\"t\":\"a.safetensors\"}}";
    write_file(index, good, strlen(good));
    RZ_ASSERT_OK(rz_safetensors_open(index, &st));
    assert_int_equal(rz_safetensors_tensor_count(st), 1);
    assert_memory_equal(rz_safetensors_tensor_at(st, 0)->data, data, 8);
    rz_safetensors_close(st);
}

/* A one-layer Llama of 2 heads of 4: the GGUF view interleaves each head's
 * RoPE halves in Q and K, keeps V as stored and widens f16 norms. */
static void test_llama_view(void **state) {
    (void)state;
    enum { E = 8, HD = 4 };
    float q[E * E], k[E * E], v[E * E];
    uint16_t norm[E];
    for (int i = 0; i < E * E; i++)
        q[i] = (float)i, k[i] = (float)(100 + i), v[i] = (float)(200 + i);
    for (int i = 0; i < E; i++)
        norm[i] = 0x3c00; /* 1.0 in f16 */
    unsigned char data[3 * sizeof q + sizeof norm];
    memcpy(data, q, sizeof q);
    memcpy(data + sizeof q, k, sizeof k);
    memcpy(data + 2 * sizeof q, v, sizeof v);
    memcpy(data + 3 * sizeof q, norm, sizeof norm);
    size_t size;
    unsigned char *img = image("{\"model.layers.0.self_attn.q_proj.weight\":{\"dtype\":\"F32\",\"shape\":[8,"
                               "8],\"data_offsets\":[0,256]},"
                               "\"model.layers.0.self_attn.k_proj.weight\":{\"dtype\":\"F32\",\"shape\":[8,8]"
                               ",\"data_offsets\":[256,512]},"
                               "\"model.layers.0.self_attn.v_proj.weight\":{\"dtype\":\"F32\",\"shape\":[8,8]"
                               ",\"data_offsets\":[512,768]},"
                               "\"model.layers.0.input_layernorm.weight\":{\"dtype\":\"F16\",\"shape\":[8],"
                               "\"data_offsets\":[768,784]},"
                               "\"model.layers.0.self_attn.rotary_emb.inv_freq\":{\"dtype\":\"F32\","
                               "\"shape\":[0],\"data_offsets\":[784,784]}}",
                               data, sizeof data, &size);
    const char *config =
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":8,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":2,\"max_position_embeddings\":64,\"rope_theta\":500000.0,"
        "\"rms_norm_eps\":1e-6,\"intermediate_size\":16}";
    rz_gguf *g;
    RZ_ASSERT_OK(rz_hf_open_memory(config, strlen(config), img, size, &g));
    rz_str arch;
    RZ_ASSERT_OK(rz_gguf_get_str(g, "general.architecture", &arch));
    assert_int_equal(arch.len, 5);
    uint32_t heads_kv, ctx;
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "llama.attention.head_count_kv", &heads_kv));
    RZ_ASSERT_OK(rz_gguf_get_u32(g, "llama.context_length", &ctx));
    assert_int_equal(heads_kv, 2);
    assert_int_equal(ctx, 64);
    float theta;
    RZ_ASSERT_OK(rz_gguf_get_f32(g, "llama.rope.freq_base", &theta));
    assert_true(theta == 500000.0f);
    const rz_gguf_tensor *tq = rz_gguf_find_tensor(g, "blk.0.attn_q.weight");
    const rz_gguf_tensor *tk = rz_gguf_find_tensor(g, "blk.0.attn_k.weight");
    const rz_gguf_tensor *tv = rz_gguf_find_tensor(g, "blk.0.attn_v.weight");
    const rz_gguf_tensor *tn = rz_gguf_find_tensor(g, "blk.0.attn_norm.weight");
    assert_non_null(tq);
    assert_non_null(tk);
    assert_non_null(tv);
    assert_non_null(tn);
    assert_int_equal(rz_gguf_tensor_count(g), 4); /* inv_freq is dropped */
    /* GGUF row 2i+s of a head is HF row s*HD/2+i. */
    static const int from[HD] = {0, 2, 1, 3};
    for (int r = 0; r < E; r++) {
        const int src = r / HD * HD + from[r % HD];
        assert_memory_equal((const float *)tq->data + r * E, q + src * E, E * sizeof(float));
        assert_memory_equal((const float *)tk->data + r * E, k + src * E, E * sizeof(float));
    }
    assert_ptr_equal(tv->data, img + size - sizeof data + 2 * sizeof q); /* used in place */
    assert_int_equal(tn->type, RZ_TYPE_F32);
    assert_true(((const float *)tn->data)[3] == 1.0f);
    rz_gguf_close(g);

    static const char *const bad[][2] = {
        {"{\"architectures\":[\"GPTBigCodeForCausalLM\"],\"hidden_size\":8}", "not supported"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"num_attention_heads\":2}", "hidden_size"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":8,\"num_attention_heads\":3,"
         "\"num_hidden_layers\":1,\"max_position_embeddings\":8}",
         "not 3 heads"},
        {"{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":-8,\"num_attention_heads\":2}",
         "hidden_size"},
        {"{\"architectures\":7}", "architectures"},
        /* attention-free models: their own settings, their own tensor names */
        {"{\"architectures\":[\"Rwkv6ForCausalLM\"],\"hidden_size\":8,\"num_hidden_layers\":1,\"head_size\":"
         "4}",
         "rescale_every"},
        {"{\"architectures\":[\"Mamba2ForCausalLM\"],\"hidden_size\":8,\"num_hidden_layers\":1,\"head_dim\":"
         "3}",
         "head_dim 3"},
        {"{\"architectures\":[\"MambaForCausalLM\"],\"hidden_size\":8,\"num_hidden_layers\":1}",
         "no GGUF counterpart"},
        {"not json", "JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_not_equal(rz_hf_open_memory(bad[i][0], strlen(bad[i][0]), img, size, &g), RZ_OK);
        assert_null(g);
        if (!strstr(rz_last_error(), bad[i][1]))
            fail_msg("'%s' does not mention '%s'", rz_last_error(), bad[i][1]);
    }
    free(img);
}

/* A tensor packed after an odd number of f16 values is misaligned for its
 * own type in the file; the view holds it aligned. */
static void test_misaligned(void **state) {
    (void)state;
    unsigned char data[6 + 16] = {0};
    const float v[4] = {1.5f, -2.0f, 3.25f, 4.0f};
    memcpy(data + 6, v, sizeof v);
    char header[512] =
        "{\"model.layers.0.input_layernorm.weight\":{\"dtype\":\"F16\",\"shape\":[3],"
        "\"data_offsets\":[0,6]},\"model.layers.0.self_attn.v_proj.weight\":{\"dtype\":\"F32\","
        "\"shape\":[2,2],\"data_offsets\":[6,22]}}";
    /* The image is malloc'ed (16-aligned): pad the header so that the f32 tensor is not 4-aligned. */
    while ((8 + strlen(header) + 6) % 4 == 0)
        strcat(header, " ");
    size_t size;
    unsigned char *img = image(header, data, sizeof data, &size);
    const char *config =
        "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":4,\"num_hidden_layers\":1,"
        "\"num_attention_heads\":1,\"max_position_embeddings\":8}";
    rz_gguf *g;
    RZ_ASSERT_OK(rz_hf_open_memory(config, strlen(config), img, size, &g));
    const rz_gguf_tensor *t = rz_gguf_find_tensor(g, "blk.0.attn_v.weight");
    assert_non_null(t);
    assert_int_equal((uintptr_t)t->data % sizeof(float), 0);
    assert_memory_equal(t->data, v, sizeof v);
    rz_gguf_close(g);
    free(img);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reads_layout), cmocka_unit_test(test_hostile),    cmocka_unit_test(test_index),
        cmocka_unit_test(test_llama_view),   cmocka_unit_test(test_misaligned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
