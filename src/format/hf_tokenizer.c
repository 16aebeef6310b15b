/* Hugging Face tokenizer files -> the tokenizer.* GGUF metadata llama.cpp's
 * convert_hf_to_gguf.py writes for them, so that a converted model carries
 * the same vocabulary as one converted by llama.cpp.
 *
 * tokenizer.json: BPE (byte-level -> "gpt2"; SentencePiece-style with
 * byte_fallback or Metaspace -> "llama") or WordPiece (-> "bert"), with
 * added_tokens; tokenizer_config.json: special tokens, add_bos/add_eos and
 * chat templates (gguf-py's SpecialVocab rules); config.json: vocab_size (the
 * token list is padded to the embedding rows) and special token ids left
 * open. Without tokenizer.json, a SentencePiece tokenizer.model (protobuf
 * ModelProto, decoded here) with the older added_tokens.json.
 *
 * Deliberate differences from the converter: the pre-tokenizer name comes
 * from the pre_tokenizer description (the converter hashes the output of the
 * transformers tokenizer, which cannot run here); SentencePiece-style BPE
 * gets scores from the merge ranks (the converter writes -1000 for every
 * token, which loses the merge order llama.cpp's SPM tokenizer needs);
 * special tokens named in tokenizer_config.json are also looked up in the
 * vocabulary when they are not added tokens, and a tokenizer.model's
 * unk/bos/eos/pad ids are used when nothing else names them. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/hash.h"
#include "format/hf.h"
#include "tokenizer/vocab.h"

/* Ids beyond this are hostile input, not a vocabulary (the largest real ones
 * are about 256k): a few bytes of JSON must not ask for gigabytes. */
enum { MAX_TOKENS = 1 << 20 };

/* Files beyond this are not tokenizers (the largest tokenizer.json files are
 * tens of MB). */
#define MAX_FILE_SIZE ((long)1 << 30)

static const char SPM_SPACE[] = "\xe2\x96\x81"; /* U+2581, SentencePiece's space */

/* --------------------------------------------------------------- helpers */

static bool utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        const unsigned c = *p;
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            p++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) <= n) return false;
        for (size_t k = 1; k <= n; k++) {
            if ((p[k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[k] & 0x3f);
        }
        /* overlong forms, surrogates, beyond U+10FFFF */
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) ||
            cp > 0x10ffff)
            return false;
        p += n + 1;
    }
    return true;
}

static bool str_eq(rz_str a, const char *b, size_t b_len) {
    return a.len == b_len && memcmp(a.ptr, b, b_len) == 0;
}

rz_status rz_hf_read_file(const char *dir, const char *name, char **out, size_t *len) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return rz_error(RZ_ERR_INVALID_ARG, "hf: path '%s/%s' is too long", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return RZ_ERR_NOT_FOUND;
        return rz_error(RZ_ERR_IO, "hf: cannot open '%s': %s", path, strerror(errno));
    }
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0) size = ftell(f);
    if (size < 0 || size > MAX_FILE_SIZE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return rz_error(RZ_ERR_IO, "hf: cannot read '%s' (not a regular file under 1 GiB)", path);
    }
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return rz_error(RZ_ERR_NOMEM, "hf: out of memory reading '%s'", path);
    }
    const size_t got = fread(buf, 1, (size_t)size, f);
    fclose(f);
    if (got != (size_t)size) {
        free(buf);
        return rz_error(RZ_ERR_IO, "hf: cannot read '%s'", path);
    }
    buf[size] = '\0';
    *out = buf;
    *len = (size_t)size;
    return RZ_OK;
}

rz_status rz_hf_parse_object(const char *text, size_t len, const char *what, cJSON **out) {
    *out = NULL;
    if (!text) return RZ_OK;
    const char *end = NULL;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!*out) {
        const size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
        return rz_error(RZ_ERR_FORMAT, "%s: invalid JSON near byte %zu", what, at);
    }
    if (!cJSON_IsObject(*out)) {
        cJSON_Delete(*out);
        *out = NULL;
        return rz_error(RZ_ERR_FORMAT, "%s: not a JSON object", what);
    }
    return RZ_OK;
}

/* What a model directory has besides the tokenizer itself. */
typedef struct hf_extras {
    cJSON *config;       /* tokenizer_config.json, or NULL */
    cJSON *model_config; /* config.json, or NULL */
    cJSON *added;        /* added_tokens.json (beside a tokenizer.model), or NULL */
    const char *jinja;   /* chat_template.jinja, or NULL */
    uint32_t vocab_size; /* config.json's vocab_size (the embedding rows); 0 = none */
} hf_extras;

static rz_status extras_init(hf_extras *x, const char *config, size_t config_len, const char *model_config,
                             size_t model_config_len, const char *jinja) {
    memset(x, 0, sizeof *x);
    x->jinja = jinja;
    RZ_TRY(rz_hf_parse_object(config, config_len, "tokenizer_config.json", &x->config));
    RZ_TRY(rz_hf_parse_object(model_config, model_config_len, "config.json", &x->model_config));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->model_config, "vocab_size");
    if (!v) return RZ_OK;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= MAX_TOKENS) ||
        v->valuedouble != (double)(uint32_t)v->valuedouble)
        return rz_error(RZ_ERR_FORMAT, "config.json: vocab_size is not an integer in [1, %d]", MAX_TOKENS);
    x->vocab_size = (uint32_t)v->valuedouble;
    return RZ_OK;
}

static void extras_free(hf_extras *x) {
    cJSON_Delete(x->config);
    cJSON_Delete(x->model_config);
    cJSON_Delete(x->added);
}

/* A token id from JSON: an integer in [0, MAX_TOKENS); `what` names it in
 * errors ("FILE: token"). */
static rz_status json_id(const cJSON *v, const char *what, const char *token, uint32_t *id) {
    if (!cJSON_IsNumber(v)) return rz_error(RZ_ERR_FORMAT, "%s '%.64s' has no id", what, token);
    if (!(v->valuedouble >= 0 && v->valuedouble < MAX_TOKENS))
        return rz_error(RZ_ERR_RANGE, "%s '%.64s' has id %g, outside [0, %d)", what, token, v->valuedouble,
                        MAX_TOKENS);
    if (v->valuedouble != (double)(uint32_t)v->valuedouble)
        return rz_error(RZ_ERR_FORMAT, "%s '%.64s' has id %g, not an integer", what, token, v->valuedouble);
    *id = (uint32_t)v->valuedouble;
    return RZ_OK;
}

static const char *json_str(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A boolean member: -1 when absent or not a boolean. */
static int json_flag(const cJSON *obj, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

/* ------------------------------------------------------------ token table */

typedef struct token_table {
    uint32_t n;
    rz_str *text; /* malloc'd copies; NULL ptr = no token at that id yet */
    int32_t *type;
    float *score;    /* SentencePiece vocabularies only */
    uint32_t *slots; /* open addressing: id + 1, 0 = empty */
    uint32_t mask;
} token_table;

static rz_status table_init(token_table *t, uint32_t n, bool scores) {
    memset(t, 0, sizeof *t);
    t->n = n;
    t->text = calloc(n ? n : 1, sizeof *t->text);
    t->type = calloc(n ? n : 1, sizeof *t->type);
    t->score = scores ? calloc(n ? n : 1, sizeof *t->score) : NULL;
    if (!t->text || !t->type || (scores && !t->score))
        return rz_error(RZ_ERR_NOMEM, "hf: out of memory for %u tokens", n);
    return RZ_OK;
}

static void table_free(token_table *t) {
    for (uint32_t i = 0; t->text && i < t->n; i++)
        free((char *)t->text[i].ptr);
    free(t->text);
    free(t->type);
    free(t->score);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static rz_status table_set(token_table *t, uint32_t id, const char *s, size_t len, int32_t type) {
    if (!utf8_valid(s, len)) return rz_error(RZ_ERR_FORMAT, "hf: token %u is not valid UTF-8", id);
    char *copy = malloc(len + 1);
    if (!copy) return rz_error(RZ_ERR_NOMEM, "hf: out of memory");
    memcpy(copy, s, len);
    copy[len] = '\0';
    free((char *)t->text[id].ptr);
    t->text[id] = (rz_str){copy, len};
    t->type[id] = type;
    return RZ_OK;
}

/* Ids nobody named: placeholders, as the converter writes them. */
static rz_status table_fill_unused(token_table *t) {
    for (uint32_t i = 0; i < t->n; i++) {
        if (t->text[i].ptr) continue;
        char pad[32];
        const int len = snprintf(pad, sizeof pad, "[PAD%u]", i);
        RZ_TRY(table_set(t, i, pad, (size_t)len, RZ_TOKEN_UNUSED));
        if (t->score) t->score[i] = -10000.0f;
    }
    return RZ_OK;
}

/* Index by text; the first id of a text wins. */
static rz_status table_index(token_table *t) {
    uint32_t cap = 16;
    while (cap < 2 * t->n)
        cap *= 2;
    free(t->slots);
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) return rz_error(RZ_ERR_NOMEM, "hf: out of memory");
    t->mask = cap - 1;
    for (uint32_t id = 0; id < t->n; id++) {
        uint32_t s = (uint32_t)rz_hash_bytes(t->text[id].ptr, t->text[id].len) & t->mask;
        for (; t->slots[s]; s = (s + 1) & t->mask)
            if (str_eq(t->text[t->slots[s] - 1], t->text[id].ptr, t->text[id].len)) break;
        if (!t->slots[s]) t->slots[s] = id + 1;
    }
    return RZ_OK;
}

static int64_t table_find(const token_table *t, const char *s, size_t len) {
    for (uint32_t i = (uint32_t)rz_hash_bytes(s, len) & t->mask; t->slots[i]; i = (i + 1) & t->mask)
        if (str_eq(t->text[t->slots[i] - 1], s, len)) return t->slots[i] - 1;
    return -1;
}

static rz_status write_table(const token_table *t, rz_gguf_writer *w) {
    RZ_TRY(rz_gguf_writer_add_str_array(w, "tokenizer.ggml.tokens", t->text, t->n));
    if (t->score)
        RZ_TRY(rz_gguf_writer_add_array(w, "tokenizer.ggml.scores", RZ_GGUF_FLOAT32, t->score, t->n));
    return rz_gguf_writer_add_array(w, "tokenizer.ggml.token_type", RZ_GGUF_INT32, t->type, t->n);
}

/* ------------------------------------------------------- special tokens */

enum { SP_BOS, SP_EOS, SP_UNK, SP_SEP, SP_PAD, SP_CLS, SP_MASK, N_SPECIAL };
static const char *const SPECIAL_NAMES[N_SPECIAL] = {"bos", "eos", "unk", "sep", "pad", "cls", "mask"};
static const char *const SPECIAL_KEYS[N_SPECIAL] = {
    "tokenizer.ggml.bos_token_id",       "tokenizer.ggml.eos_token_id",     "tokenizer.ggml.unknown_token_id",
    "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.cls_token_id",
    "tokenizer.ggml.mask_token_id"};

typedef struct special_vocab {
    const char *content[N_SPECIAL]; /* token texts named by the files (pointing into the JSON) */
    int64_t id[N_SPECIAL];          /* -1 = none */
    int add_bos, add_eos;           /* -1 = not said */
} special_vocab;

static void special_init(special_vocab *sv) {
    memset(sv, 0, sizeof *sv);
    for (int i = 0; i < N_SPECIAL; i++)
        sv->id[i] = -1;
    sv->add_bos = sv->add_eos = -1;
}

/* tokenizer_config.json's "<name>_token": a string or {"content": ...}. */
static const char *config_token(const cJSON *config, const char *name) {
    char key[32];
    snprintf(key, sizeof key, "%s_token", name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, key);
    if (cJSON_IsString(v)) return v->valuestring;
    if (cJSON_IsObject(v)) return json_str(v, "content");
    return NULL;
}

static const char *template_special(const cJSON *item) {
    return json_str(cJSON_GetObjectItemCaseSensitive(item, "SpecialToken"), "id");
}

static bool same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* What a post-processor says about adding BOS/EOS (SpecialVocab's crude
 * reading of RobertaProcessing and TemplateProcessing's "single"). */
static void read_processor(const cJSON *one, bool have_config, special_vocab *sv) {
    const char *type = json_str(one, "type");
    if (same(type, "RobertaProcessing")) {
        sv->add_bos = sv->add_eos = 1;
        return;
    }
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(one, "single");
    const int len = cJSON_IsArray(single) ? cJSON_GetArraySize(single) : 0;
    if (!same(type, "TemplateProcessing") || len < 2) return;
    const char *first = template_special(cJSON_GetArrayItem(single, 0));
    const char *last = template_special(cJSON_GetArrayItem(single, len - 1));
    if (first) {
        if (!have_config) sv->content[SP_BOS] = first;
        sv->add_bos = same(first, sv->content[SP_BOS]) || same(first, sv->content[SP_CLS]);
    }
    if (last) {
        if (!have_config || !sv->content[SP_EOS]) sv->content[SP_EOS] = last;
        sv->add_eos = same(last, sv->content[SP_EOS]);
    }
}

/* One post-processor, or a Sequence of them. */
static void read_post_processor(const cJSON *post, bool have_config, special_vocab *sv) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(post, "processors"), *one;
    if (!cJSON_IsArray(list)) {
        read_processor(post, have_config, sv);
        return;
    }
    cJSON_ArrayForEach(one, list) read_processor(one, have_config, sv);
}

static void read_config_specials(const cJSON *config, special_vocab *sv) {
    for (int i = 0; i < N_SPECIAL; i++)
        sv->content[i] = config_token(config, SPECIAL_NAMES[i]);
    /* BERT-style files name CLS and SEP only: they are BOS and EOS. */
    if (!sv->content[SP_BOS]) sv->content[SP_BOS] = sv->content[SP_CLS];
    if (!sv->content[SP_EOS]) sv->content[SP_EOS] = sv->content[SP_SEP];
}

static void read_config_flags(const cJSON *config, special_vocab *sv) {
    const int bos = json_flag(config, "add_bos_token"), eos = json_flag(config, "add_eos_token");
    if (bos >= 0) sv->add_bos = bos;
    if (eos >= 0) sv->add_eos = eos;
}

/* Ids of the named tokens: the first added token with that content (as
 * SpecialVocab), else the vocabulary's token. */
static void resolve_specials(special_vocab *sv, const cJSON *added, const token_table *t) {
    for (int i = 0; i < N_SPECIAL; i++) {
        if (!sv->content[i]) continue;
        int64_t id = -1;
        const cJSON *a;
        cJSON_ArrayForEach(a, added) {
            const cJSON *aid = cJSON_GetObjectItemCaseSensitive(a, "id");
            if (same(json_str(a, "content"), sv->content[i]) && cJSON_IsNumber(aid) &&
                aid->valuedouble >= 0 && aid->valuedouble < MAX_TOKENS) {
                id = (int64_t)aid->valuedouble;
                break;
            }
        }
        if (id < 0) id = table_find(t, sv->content[i], strlen(sv->content[i]));
        if (id >= 0 && id < t->n) sv->id[i] = id;
    }
}

/* config.json's <name>_token_id for what the tokenizer files left open
 * (integers only: lists of ids are ignored, as by the converter). */
static void model_config_specials(const cJSON *model_config, uint32_t n, special_vocab *sv) {
    for (int i = 0; i < N_SPECIAL; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s_token_id", SPECIAL_NAMES[i]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(model_config, key);
        if (sv->id[i] < 0 && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < n &&
            v->valuedouble == (double)(uint32_t)v->valuedouble)
            sv->id[i] = (int64_t)v->valuedouble;
    }
}

static rz_status write_specials(const special_vocab *sv, rz_gguf_writer *w) {
    for (int i = 0; i < N_SPECIAL; i++)
        if (sv->id[i] >= 0) RZ_TRY(rz_gguf_writer_add_u32(w, SPECIAL_KEYS[i], (uint32_t)sv->id[i]));
    if (sv->add_bos >= 0) RZ_TRY(rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", sv->add_bos));
    if (sv->add_eos >= 0) RZ_TRY(rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", sv->add_eos));
    return RZ_OK;
}

/* chat_template: a string, or a list of {name, template} whose "default" is
 * tokenizer.chat_template and the others tokenizer.chat_template.NAME (names
 * kept to [A-Za-z0-9_], listed in tokenizer.chat_templates). */
static rz_status write_chat_template(const cJSON *config, const char *jinja, rz_gguf_writer *w) {
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(config, "chat_template");
    if (cJSON_IsString(ct)) return rz_gguf_writer_add_str(w, "tokenizer.chat_template", ct->valuestring);
    if (!cJSON_IsArray(ct))
        return jinja ? rz_gguf_writer_add_str(w, "tokenizer.chat_template", jinja) : RZ_OK;
    const int n = cJSON_GetArraySize(ct);
    char **names = calloc((size_t)n + 1, sizeof *names);
    rz_str *list = calloc((size_t)n + 1, sizeof *list);
    rz_status s = names && list ? RZ_OK : rz_error(RZ_ERR_NOMEM, "hf: out of memory");
    int n_names = 0;
    const char *fallback = NULL;
    const cJSON *item;
    cJSON_ArrayForEach(item, ct) {
        if (s != RZ_OK) break;
        const char *name = json_str(item, "name"), *tmpl = json_str(item, "template");
        if (!name || !*name || !tmpl) continue;
        if (strcmp(name, "default") == 0) {
            fallback = tmpl;
            continue;
        }
        const size_t len = strlen(name);
        char *clean = malloc(len + 1), *key = malloc(len + 32);
        if (!clean || !key) {
            free(clean);
            free(key);
            s = rz_error(RZ_ERR_NOMEM, "hf: out of memory");
            break;
        }
        for (size_t k = 0; k <= len; k++) {
            const char c = name[k];
            const bool keep =
                !c || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            clean[k] = keep ? c : '_';
        }
        snprintf(key, len + 32, "tokenizer.chat_template.%s", clean);
        s = rz_gguf_writer_add_str(w, key, tmpl);
        free(key);
        names[n_names] = clean;
        list[n_names] = (rz_str){clean, len};
        n_names++;
    }
    if (s == RZ_OK && n_names) s = rz_gguf_writer_add_str_array(w, "tokenizer.chat_templates", list, n_names);
    if (s == RZ_OK && fallback) s = rz_gguf_writer_add_str(w, "tokenizer.chat_template", fallback);
    for (int i = 0; names && i < n_names; i++)
        free(names[i]);
    free(names);
    free(list);
    return s;
}

static rz_status write_config(const hf_extras *x, const special_vocab *sv, rz_gguf_writer *w) {
    RZ_TRY(write_specials(sv, w));
    return write_chat_template(x->config, x->jinja, w);
}

/* --------------------------------------------------------- pre-tokenizer */

/* The pre-tokenizer chains of the byte-level BPE families llama.cpp knows,
 * one element per step: "ByteLevel" (with its GPT-2 regex), "ByteLevel:raw"
 * (use_regex false), "Digits", "Digits:1" (individual digits),
 * "Punctuation", or "Split:" and the Isolated regex. */
#define LLAMA3_SPLIT                                                                                         \
    "Split:(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                         \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"                                                                         \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_SPLIT                                                                                          \
    "Split:(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "                              \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"                                                                         \
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

typedef struct pre_family {
    const char *name;
    const char *steps[7];
} pre_family;

static const pre_family PRE_FAMILIES[] = {
    {"gpt-2", {"ByteLevel", NULL}},
    {"falcon", {"Punctuation", "ByteLevel", "Digits", "Split:[0-9][0-9][0-9]", NULL}},
    {"starcoder", {"Digits:1", "ByteLevel", NULL}},
    {"deepseek-coder",
     {"Split:[\r\n]", "Split:\\s?\\p{L}+", "Split:\\s?\\p{P}+",
      "Split:[\xe4\xb8\x80-\xe9\xbe\xa5\xe0\xa0\x80-\xe4\xb8\x80\xea\xb0\x80-\xed\x9f\xbf]+", "Digits:1",
      "ByteLevel:raw", NULL}},
    {"llama-bpe", {LLAMA3_SPLIT, "ByteLevel:raw", NULL}},
    {"qwen2", {QWEN2_SPLIT, "ByteLevel:raw", NULL}},
};

static bool step_matches(const cJSON *step, const char *want) {
    const char *type = json_str(step, "type");
    if (!type) return false;
    if (strcmp(type, "ByteLevel") == 0) {
        if (json_flag(step, "add_prefix_space") == 1) return false;
        return strcmp(want, json_flag(step, "use_regex") == 0 ? "ByteLevel:raw" : "ByteLevel") == 0;
    }
    if (strcmp(type, "Digits") == 0)
        return strcmp(want, json_flag(step, "individual_digits") == 1 ? "Digits:1" : "Digits") == 0;
    if (strcmp(type, "Punctuation") == 0) {
        const char *behavior = json_str(step, "behavior");
        return strcmp(want, "Punctuation") == 0 && (!behavior || strcmp(behavior, "Contiguous") == 0);
    }
    if (strcmp(type, "Split") == 0) {
        const char *regex = json_str(cJSON_GetObjectItemCaseSensitive(step, "pattern"), "Regex");
        return regex && strncmp(want, "Split:", 6) == 0 && strcmp(want + 6, regex) == 0 &&
               same(json_str(step, "behavior"), "Isolated") && json_flag(step, "invert") != 1;
    }
    return false;
}

static rz_status byte_level_pre(const cJSON *pre, const char **name) {
    const cJSON *steps = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    const bool seq = same(json_str(pre, "type"), "Sequence") && cJSON_IsArray(steps);
    const int n = seq ? cJSON_GetArraySize(steps) : 1;
    for (size_t f = 0; f < sizeof PRE_FAMILIES / sizeof PRE_FAMILIES[0]; f++) {
        const pre_family *fam = &PRE_FAMILIES[f];
        int k = 0;
        while (k < n && fam->steps[k] &&
               step_matches(seq ? cJSON_GetArrayItem(steps, k) : pre, fam->steps[k]))
            k++;
        if (k == n && !fam->steps[k]) {
            *name = fam->name;
            return RZ_OK;
        }
    }
    const char *type = json_str(pre, "type");
    return rz_error(RZ_ERR_UNSUPPORTED,
                    "tokenizer.json: byte-level BPE with pre-tokenizer %s%s%s is not one llama.cpp knows "
                    "(known: ByteLevel GPT-2, Falcon, StarCoder, DeepSeek-Coder, Llama 3, Qwen2)",
                    type ? type : "(none)", seq ? " of " : "", seq ? "these steps" : "");
}

/* Normalizers and Metaspace steps of a SentencePiece-style BPE: what they
 * say about the space prefix; anything else is not something the "llama"
 * tokenizer does. */
static rz_status spm_chain(const cJSON *node, const char *list_key, bool *prefix) {
    if (!node || cJSON_IsNull(node)) return RZ_OK;
    const char *type = json_str(node, "type");
    if (same(type, "Sequence")) {
        const cJSON *item, *items = cJSON_GetObjectItemCaseSensitive(node, list_key);
        cJSON_ArrayForEach(item, items) RZ_TRY(spm_chain(item, list_key, prefix));
        return RZ_OK;
    }
    if (same(type, "Prepend") && same(json_str(node, "prepend"), SPM_SPACE)) {
        *prefix = true;
        return RZ_OK;
    }
    if (same(type, "Replace") &&
        same(json_str(cJSON_GetObjectItemCaseSensitive(node, "pattern"), "String"), " ") &&
        same(json_str(node, "content"), SPM_SPACE))
        return RZ_OK;
    if (same(type, "Metaspace")) {
        const char *scheme = json_str(node, "prepend_scheme");
        *prefix = scheme ? strcmp(scheme, "never") != 0 : json_flag(node, "add_prefix_space") != 0;
        return RZ_OK;
    }
    if (same(type, "NFKC") || same(type, "NFC")) return RZ_OK; /* SentencePiece's own normalization */
    return rz_error(RZ_ERR_UNSUPPORTED, "tokenizer.json: %s %s is not supported with SentencePiece-style BPE",
                    list_key[0] == 'n' ? "normalizer" : "pre-tokenizer", type ? type : "(untyped)");
}

/* ---------------------------------------------------------------- merges */

/* Merge i as its two parts: "a b" strings, or ["a", "b"] pairs (newer files,
 * which may contain spaces). */
static rz_status merge_parts(const cJSON *m, uint32_t i, rz_str *left, rz_str *right) {
    if (cJSON_IsString(m)) {
        const char *s = m->valuestring, *sp = strchr(s, ' ');
        if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' '))
            return rz_error(RZ_ERR_FORMAT, "tokenizer.json: merge %u '%.64s' is not two tokens", i, s);
        *left = (rz_str){s, (size_t)(sp - s)};
        *right = (rz_str){sp + 1, strlen(sp + 1)};
        return RZ_OK;
    }
    const cJSON *a = cJSON_GetArrayItem(m, 0), *b = cJSON_GetArrayItem(m, 1);
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) != 2 || !cJSON_IsString(a) || !cJSON_IsString(b) ||
        !*a->valuestring || !*b->valuestring)
        return rz_error(RZ_ERR_FORMAT, "tokenizer.json: merge %u is neither \"a b\" nor [\"a\", \"b\"]", i);
    *left = (rz_str){a->valuestring, strlen(a->valuestring)};
    *right = (rz_str){b->valuestring, strlen(b->valuestring)};
    return RZ_OK;
}

/* Both parts and their concatenation must be tokens, as Hugging Face's BPE
 * requires. Returns the id of the merged token. */
static rz_status merge_check(const token_table *t, uint32_t i, rz_str left, rz_str right, char **scratch,
                             size_t *scratch_cap, int64_t *merged) {
    const rz_str parts[2] = {left, right};
    for (int k = 0; k < 2; k++)
        if (table_find(t, parts[k].ptr, parts[k].len) < 0)
            return rz_error(RZ_ERR_FORMAT,
                            "tokenizer.json: merge %u names '%.*s', which is not in the vocabulary", i,
                            (int)(parts[k].len < 64 ? parts[k].len : 64), parts[k].ptr);
    const size_t len = left.len + right.len;
    if (len > *scratch_cap) {
        char *p = realloc(*scratch, len);
        if (!p) return rz_error(RZ_ERR_NOMEM, "hf: out of memory");
        *scratch = p;
        *scratch_cap = len;
    }
    memcpy(*scratch, left.ptr, left.len);
    memcpy(*scratch + left.len, right.ptr, right.len);
    *merged = table_find(t, *scratch, len);
    if (*merged < 0)
        return rz_error(RZ_ERR_FORMAT,
                        "tokenizer.json: merge %u makes '%.*s', which is not in the vocabulary", i,
                        (int)(len < 64 ? len : 64), *scratch);
    return RZ_OK;
}

/* Byte-level BPE: the merges as llama.cpp stores them, "a b", a space
 * inside a part written as U+0120 as the converter does. SentencePiece-style
 * BPE: scores from the ranks, a token made by merge r scoring -r, so that
 * llama.cpp's score-ordered SPM merging follows the merge order. */
static rz_status read_merges(const cJSON *merges, token_table *t, rz_gguf_writer *w) {
    const uint32_t n = (uint32_t)cJSON_GetArraySize(merges);
    rz_str *out = NULL;
    if (!t->score) {
        out = calloc(n ? n : 1, sizeof *out);
        if (!out) return rz_error(RZ_ERR_NOMEM, "hf: out of memory for %u merges", n);
    } else {
        for (uint32_t id = 0; id < t->n; id++)
            if (t->type[id] == RZ_TOKEN_NORMAL) t->score[id] = -(float)n - (float)id; /* made by no merge */
    }
    rz_status s = RZ_OK;
    char *scratch = NULL;
    size_t scratch_cap = 0;
    uint32_t i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        rz_str left = {NULL, 0}, right = {NULL, 0};
        int64_t merged = -1;
        s = merge_parts(m, i, &left, &right);
        if (s == RZ_OK) s = merge_check(t, i, left, right, &scratch, &scratch_cap, &merged);
        if (s != RZ_OK) break;
        if (t->score) {
            if (t->type[merged] == RZ_TOKEN_NORMAL && t->score[merged] < -(float)i)
                t->score[merged] = -(float)i;
        } else {
            size_t spaces = 0, len = left.len + 1 + right.len;
            for (size_t k = 0; k < left.len; k++)
                spaces += left.ptr[k] == ' ';
            for (size_t k = 0; k < right.len; k++)
                spaces += right.ptr[k] == ' ';
            char *p = malloc(len + spaces + 1);
            if (!p) {
                s = rz_error(RZ_ERR_NOMEM, "hf: out of memory");
                break;
            }
            out[i] = (rz_str){p, len + spaces};
            for (int part = 0; part < 2; part++) {
                const rz_str src = part ? right : left;
                for (size_t k = 0; k < src.len; k++) {
                    if (src.ptr[k] == ' ') {
                        *p++ = '\xc4'; /* U+0120 */
                        *p++ = '\xa0';
                    } else {
                        *p++ = src.ptr[k];
                    }
                }
                if (!part) *p++ = ' ';
            }
            if (!utf8_valid(out[i].ptr, out[i].len))
                s = rz_error(RZ_ERR_FORMAT, "tokenizer.json: merge %u is not valid UTF-8", i);
            if (s != RZ_OK) break;
        }
        i++;
    }
    free(scratch);
    if (s == RZ_OK && out) s = rz_gguf_writer_add_str_array(w, "tokenizer.ggml.merges", out, n);
    for (uint32_t k = 0; out && k < n; k++)
        free((char *)out[k].ptr);
    free(out);
    return s;
}

/* -------------------------------------------------------- tokenizer.json */

typedef enum hf_kind { KIND_GPT2, KIND_LLAMA, KIND_BERT } hf_kind;

/* Added tokens the converter marks CONTROL although not flagged special. */
static bool looks_special(const char *s) {
    const size_t len = strlen(s);
    static const char *const exact[] = {"<pad>", "<mask>", "<2mass>", "[@BOS@]"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (strcmp(s, exact[i]) == 0) return true;
    const bool bar = len >= 4 && strncmp(s, "<|", 2) == 0 && strcmp(s + len - 2, "|>") == 0;
    const bool fullwidth =
        len >= 8 && strncmp(s, "<\xef\xbd\x9c", 4) == 0 && strcmp(s + len - 4, "\xef\xbd\x9c>") == 0;
    const bool unused = len >= 8 && strncmp(s, "<unused", 7) == 0 && s[len - 1] == '>';
    return bar || fullwidth || unused;
}

static bool is_byte_piece(const char *s) {
    static const char hex[] = "0123456789ABCDEFabcdef";
    return strlen(s) == 6 && strncmp(s, "<0x", 3) == 0 && strchr(hex, s[3]) && strchr(hex, s[4]) &&
           s[5] == '>';
}

/* WordPiece tokens as llama.cpp stores them: "word" -> "▁word",
 * "##ing" -> "ing", "[CLS]"-style ones unchanged. */
static rz_status set_bert_token(token_table *t, uint32_t id, const char *s, int32_t type) {
    const size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') return table_set(t, id, s, len, type);
    if (strncmp(s, "##", 2) == 0) return table_set(t, id, s + 2, len - 2, type);
    char *p = malloc(len + sizeof SPM_SPACE);
    if (!p) return rz_error(RZ_ERR_NOMEM, "hf: out of memory");
    memcpy(p, SPM_SPACE, sizeof SPM_SPACE - 1);
    memcpy(p + sizeof SPM_SPACE - 1, s, len);
    const rz_status st = table_set(t, id, p, len + sizeof SPM_SPACE - 1, type);
    free(p);
    return st;
}

/* A user-defined token as llama.cpp matches it in raw text: U+2581 is a space. */
static rz_status set_user_token(token_table *t, uint32_t id, const char *s) {
    const size_t len = strlen(s);
    char *p = malloc(len + 1);
    if (!p) return rz_error(RZ_ERR_NOMEM, "hf: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        if (strncmp(s + i, SPM_SPACE, 3) == 0) {
            p[n++] = ' ';
            i += 3;
        } else {
            p[n++] = s[i++];
        }
    }
    const rz_status st = table_set(t, id, p, n, RZ_TOKEN_USER_DEFINED);
    free(p);
    return st;
}

static rz_status read_vocab(const cJSON *model, const cJSON *added, hf_kind kind, uint32_t vocab_size,
                            token_table *t) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return rz_error(RZ_ERR_FORMAT, "tokenizer.json: model.vocab is not an object of token -> id");
    if (added && !cJSON_IsArray(added))
        return rz_error(RZ_ERR_FORMAT, "tokenizer.json: added_tokens is not a list");
    uint32_t n = 0, id = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, vocab) {
        RZ_TRY(json_id(v, "tokenizer.json: token", v->string, &id));
        if (id + 1 > n) n = id + 1;
    }
    cJSON_ArrayForEach(v, added) {
        const char *content = json_str(v, "content");
        if (!content) return rz_error(RZ_ERR_FORMAT, "tokenizer.json: an added token has no content");
        RZ_TRY(
            json_id(cJSON_GetObjectItemCaseSensitive(v, "id"), "tokenizer.json: added token", content, &id));
        if (id + 1 > n) n = id + 1;
    }
    if (n == 0) return rz_error(RZ_ERR_FORMAT, "tokenizer.json: the vocabulary is empty");
    /* The token list has a row per embedding row, padded as the converter does. */
    if (vocab_size && n > vocab_size)
        return rz_error(RZ_ERR_FORMAT, "tokenizer.json has id %u, beyond config.json's vocab_size %u", n - 1,
                        vocab_size);
    if (vocab_size) n = vocab_size;
    RZ_TRY(table_init(t, n, kind == KIND_LLAMA));
    const bool byte_fallback = json_flag(model, "byte_fallback") == 1;
    const char *unk = json_str(model, "unk_token");
    cJSON_ArrayForEach(v, vocab) {
        id = (uint32_t)v->valuedouble;
        if (t->text[id].ptr)
            return rz_error(RZ_ERR_FORMAT, "tokenizer.json: id %u is given to both '%.64s' and '%.64s'", id,
                            t->text[id].ptr, v->string);
        int32_t type = RZ_TOKEN_NORMAL;
        if (kind == KIND_LLAMA && byte_fallback && is_byte_piece(v->string)) type = RZ_TOKEN_BYTE;
        if (kind == KIND_LLAMA && same(v->string, unk)) type = RZ_TOKEN_UNKNOWN;
        RZ_TRY(kind == KIND_BERT ? set_bert_token(t, id, v->string, type)
                                 : table_set(t, id, v->string, strlen(v->string), type));
    }
    /* Added tokens override the model's entry of the same id, as in the
     * converter's id -> token map. */
    cJSON_ArrayForEach(v, added) {
        const char *content = json_str(v, "content");
        id = (uint32_t)cJSON_GetObjectItemCaseSensitive(v, "id")->valuedouble;
        const bool special = json_flag(v, "special") == 1 || looks_special(content);
        if (!special) {
            RZ_TRY(kind == KIND_BERT ? set_bert_token(t, id, content, RZ_TOKEN_USER_DEFINED)
                                     : set_user_token(t, id, content));
            continue;
        }
        const int32_t type = t->type[id] == RZ_TOKEN_UNKNOWN ? RZ_TOKEN_UNKNOWN : RZ_TOKEN_CONTROL;
        RZ_TRY(kind == KIND_BERT ? set_bert_token(t, id, content, type)
                                 : table_set(t, id, content, strlen(content), type));
    }
    RZ_TRY(table_fill_unused(t));
    return table_index(t);
}

/* Which llama.cpp tokenizer the model is, and its pre-tokenizer name. */
static rz_status classify(const cJSON *root, hf_kind *kind, const char **model_name, const char **pre,
                          bool *space_prefix) {
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    const cJSON *pre_tok = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const char *type = json_str(model, "type");
    if (!type && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(model, "merges")))
        type = "BPE"; /* older files */
    if (!cJSON_IsObject(model) || !type)
        return rz_error(RZ_ERR_FORMAT, "tokenizer.json: no model with a type");
    if (strcmp(type, "WordPiece") == 0) {
        const char *prefix = json_str(model, "continuing_subword_prefix");
        if (prefix && strcmp(prefix, "##") != 0)
            return rz_error(RZ_ERR_UNSUPPORTED,
                            "tokenizer.json: WordPiece prefix '%.16s' (llama.cpp needs \"##\")", prefix);
        if (norm && !cJSON_IsNull(norm) &&
            (!same(json_str(norm, "type"), "BertNormalizer") || json_flag(norm, "lowercase") == 0))
            return rz_error(
                RZ_ERR_UNSUPPORTED,
                "tokenizer.json: WordPiece without a lowercasing BertNormalizer is not supported");
        *kind = KIND_BERT;
        *model_name = "bert";
        *pre = "default";
        return RZ_OK;
    }
    if (strcmp(type, "BPE") != 0)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "tokenizer.json: model type '%.32s' is not supported (BPE, WordPiece)", type);
    bool metaspace = false;
    const cJSON *nodes[2] = {norm, pre_tok};
    for (int k = 0; k < 2; k++) {
        const char *t = json_str(nodes[k], "type");
        metaspace = metaspace || same(t, "Metaspace") || same(t, "Prepend") || same(t, "Replace");
        const cJSON *item,
            *items = cJSON_GetObjectItemCaseSensitive(nodes[k], k ? "pretokenizers" : "normalizers");
        cJSON_ArrayForEach(item, items) {
            t = json_str(item, "type");
            metaspace = metaspace || same(t, "Metaspace") || same(t, "Prepend") || same(t, "Replace");
        }
    }
    if (json_flag(model, "byte_fallback") == 1 || metaspace) {
        *space_prefix = false;
        RZ_TRY(spm_chain(norm, "normalizers", space_prefix));
        RZ_TRY(spm_chain(pre_tok, "pretokenizers", space_prefix));
        *kind = KIND_LLAMA;
        *model_name = "llama";
        *pre = "default";
        return RZ_OK;
    }
    const char *norm_type = json_str(norm, "type");
    if (norm && !cJSON_IsNull(norm) && !same(norm_type, "NFC"))
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "tokenizer.json: byte-level BPE with normalizer %.32s is not supported",
                        norm_type ? norm_type : "(untyped)");
    *kind = KIND_GPT2;
    *model_name = "gpt2";
    return byte_level_pre(pre_tok, pre);
}

static rz_status json_to_gguf(const cJSON *root, const hf_extras *x, rz_gguf_writer *w) {
    hf_kind kind;
    const char *model_name = NULL, *pre = NULL;
    bool space_prefix = false;
    RZ_TRY(classify(root, &kind, &model_name, &pre, &space_prefix));
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    token_table t;
    memset(&t, 0, sizeof t);
    rz_status s = read_vocab(model, added, kind, x->vocab_size, &t);
    if (s == RZ_OK) s = rz_gguf_writer_add_str(w, "tokenizer.ggml.model", model_name);
    if (s == RZ_OK) s = rz_gguf_writer_add_str(w, "tokenizer.ggml.pre", pre);
    if (s == RZ_OK && kind != KIND_BERT) {
        const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
        if (!cJSON_IsArray(merges))
            s = rz_error(RZ_ERR_FORMAT, "tokenizer.json: BPE model without a merges list");
        if (s == RZ_OK) s = read_merges(merges, &t, w);
    }
    if (s == RZ_OK) s = write_table(&t, w);
    if (s == RZ_OK && kind == KIND_LLAMA)
        s = rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", space_prefix);
    if (s == RZ_OK) {
        special_vocab sv;
        special_init(&sv);
        if (x->config) read_config_specials(x->config, &sv);
        read_post_processor(cJSON_GetObjectItemCaseSensitive(root, "post_processor"), x->config != NULL, &sv);
        if (x->config) read_config_flags(x->config, &sv);
        resolve_specials(&sv, added, &t);
        model_config_specials(x->model_config, t.n, &sv);
        s = write_config(x, &sv, w);
    }
    table_free(&t);
    return s;
}

static rz_status json_to_gguf_text(const char *json, size_t json_len, const hf_extras *x, rz_gguf_writer *w) {
    cJSON *root;
    RZ_TRY(rz_hf_parse_object(json, json_len, "tokenizer.json", &root));
    const rz_status s = json_to_gguf(root, x, w);
    cJSON_Delete(root);
    return s;
}

rz_status rz_hf_tokenizer_json_to_gguf(const char *json, size_t json_len, const char *config,
                                       size_t config_len, rz_gguf_writer *w) {
    if (!json || !w) return rz_error(RZ_ERR_INVALID_ARG, "hf: no tokenizer.json or writer given");
    hf_extras x;
    rz_status s = extras_init(&x, config, config_len, NULL, 0, NULL);
    if (s == RZ_OK) s = json_to_gguf_text(json, json_len, &x, w);
    extras_free(&x);
    return s;
}

/* ------------------------------------------------- SentencePiece protobuf */

typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader;

static rz_status pb_varint(pb_reader *r, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) return rz_error(RZ_ERR_FORMAT, "tokenizer.model: truncated varint");
        const uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return RZ_OK;
    }
    return rz_error(RZ_ERR_FORMAT, "tokenizer.model: varint longer than 10 bytes");
}

/* The next field: its number, wire type and value (a varint, fixed bits, or
 * the bytes of a length-delimited field in *sub). */
static rz_status pb_field(pb_reader *r, uint32_t *field, uint64_t *value, pb_reader *sub) {
    uint64_t key;
    sub->p = sub->end = NULL;
    RZ_TRY(pb_varint(r, &key));
    *field = (uint32_t)(key >> 3);
    size_t size;
    switch (key & 7) {
    case 0: return pb_varint(r, value);
    case 1: size = 8; break;
    case 5: size = 4; break;
    case 2:
        RZ_TRY(pb_varint(r, value));
        if (*value > (uint64_t)(r->end - r->p))
            return rz_error(RZ_ERR_FORMAT, "tokenizer.model: field %u runs past the end", *field);
        sub->p = r->p;
        sub->end = r->p + *value;
        r->p += *value;
        return RZ_OK;
    default:
        return rz_error(RZ_ERR_FORMAT, "tokenizer.model: field %u has wire type %u", *field,
                        (unsigned)(key & 7));
    }
    if ((size_t)(r->end - r->p) < size)
        return rz_error(RZ_ERR_FORMAT, "tokenizer.model: truncated field %u", *field);
    *value = 0;
    memcpy(value, r->p, size); /* little-endian host */
    r->p += size;
    return RZ_OK;
}

typedef struct spm_model {
    uint32_t n_pieces;
    int64_t model_type;    /* TrainerSpec.model_type: 1 unigram, 2 BPE, 3 word, 4 char */
    int64_t ids[4];        /* unk, bos, eos, pad (TrainerSpec 40-43) */
    bool add_dummy_prefix; /* NormalizerSpec.add_dummy_prefix */
} spm_model;

/* ModelProto field 1, SentencePiece: piece (1), score (2), type (3). */
static rz_status spm_piece(pb_reader r, uint32_t id, token_table *t) {
    pb_reader piece = {NULL, NULL}, sub;
    float score = 0.0f;
    int32_t type = RZ_TOKEN_NORMAL;
    while (r.p < r.end) {
        uint32_t f;
        uint64_t v;
        RZ_TRY(pb_field(&r, &f, &v, &sub));
        if (f == 1 && sub.p) piece = sub;
        if (f == 2 && !sub.p) {
            const uint32_t bits = (uint32_t)v;
            memcpy(&score, &bits, sizeof score);
        }
        if (f == 3 && !sub.p) {
            if (v < RZ_TOKEN_NORMAL || v > RZ_TOKEN_BYTE)
                return rz_error(RZ_ERR_FORMAT, "tokenizer.model: piece %u has type %llu", id,
                                (unsigned long long)v);
            type = (int32_t)v;
        }
    }
    if (!piece.p) return rz_error(RZ_ERR_FORMAT, "tokenizer.model: piece %u has no text", id);
    RZ_TRY(table_set(t, id, (const char *)piece.p, (size_t)(piece.end - piece.p), type));
    t->score[id] = score;
    return RZ_OK;
}

static rz_status spm_read(const void *data, size_t len, uint32_t vocab_size, spm_model *m, token_table *t) {
    memset(m, 0, sizeof *m);
    m->model_type = 1; /* proto defaults */
    m->ids[0] = 0, m->ids[1] = 1, m->ids[2] = 2, m->ids[3] = -1;
    m->add_dummy_prefix = true;
    /* Count first, so that the table is allocated once. */
    pb_reader r = {data, (const uint8_t *)data + len}, sub;
    while (r.p < r.end) {
        uint32_t f;
        uint64_t v;
        RZ_TRY(pb_field(&r, &f, &v, &sub));
        if (f == 1 && sub.p && ++m->n_pieces > MAX_TOKENS)
            return rz_error(RZ_ERR_RANGE, "tokenizer.model: more than %d pieces", MAX_TOKENS);
        if (f == 2 && sub.p) { /* TrainerSpec */
            while (sub.p < sub.end) {
                uint32_t g;
                uint64_t x;
                pb_reader ignored;
                RZ_TRY(pb_field(&sub, &g, &x, &ignored));
                if (g == 3 && !ignored.p) m->model_type = (int64_t)x;
                if (g >= 40 && g <= 43 && !ignored.p) m->ids[g - 40] = (int32_t)(uint32_t)x;
            }
        }
        if (f == 3 && sub.p) { /* NormalizerSpec */
            while (sub.p < sub.end) {
                uint32_t g;
                uint64_t x;
                pb_reader ignored;
                RZ_TRY(pb_field(&sub, &g, &x, &ignored));
                if (g == 3 && !ignored.p) m->add_dummy_prefix = x != 0;
            }
        }
    }
    if (m->n_pieces == 0)
        return rz_error(RZ_ERR_FORMAT, "tokenizer.model: no pieces (not a SentencePiece model?)");
    if (m->model_type != 1 && m->model_type != 2)
        return rz_error(RZ_ERR_UNSUPPORTED,
                        "tokenizer.model: model type %lld is not supported (unigram, BPE)",
                        (long long)m->model_type);
    /* A row per embedding row: pieces beyond are dropped, missing ones padded,
     * as the converter does. */
    RZ_TRY(table_init(t, vocab_size ? vocab_size : m->n_pieces, true));
    r = (pb_reader){data, (const uint8_t *)data + len};
    uint32_t id = 0;
    while (r.p < r.end && id < t->n) {
        uint32_t f;
        uint64_t v;
        RZ_TRY(pb_field(&r, &f, &v, &sub));
        if (f == 1 && sub.p) RZ_TRY(spm_piece(sub, id++, t));
    }
    return RZ_OK;
}

/* Older files' added_tokens.json: {"token": id}, user-defined tokens. */
static rz_status spm_added_json(const cJSON *added, token_table *t) {
    const cJSON *v;
    cJSON_ArrayForEach(v, added) {
        uint32_t id = 0;
        RZ_TRY(json_id(v, "added_tokens.json: token", v->string, &id));
        if (id >= t->n) continue; /* the converter drops these too */
        RZ_TRY(table_set(t, id, v->string, strlen(v->string), RZ_TOKEN_USER_DEFINED));
        t->score[id] = -1000.0f;
    }
    return RZ_OK;
}

/* tokenizer_config.json's added_tokens_decoder: {"id": {"content", "special"}}. */
static rz_status spm_added_tokens(const cJSON *config, token_table *t) {
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(config, "added_tokens_decoder"), *v;
    if (!cJSON_IsObject(dec)) return RZ_OK;
    cJSON_ArrayForEach(v, dec) {
        char *end;
        errno = 0;
        const unsigned long id = strtoul(v->string, &end, 10);
        const char *content = json_str(v, "content");
        if (!*v->string || *end || errno || !content)
            return rz_error(RZ_ERR_FORMAT, "tokenizer_config.json: added token '%.32s' has no id or content",
                            v->string);
        if (id >= t->n) continue; /* the converter drops these too */
        if (json_flag(v, "special") == 1 || looks_special(content)) {
            RZ_TRY(table_set(t, (uint32_t)id, content, strlen(content), RZ_TOKEN_CONTROL));
        } else {
            RZ_TRY(set_user_token(t, (uint32_t)id, content));
        }
        t->score[id] = -1000.0f;
    }
    return RZ_OK;
}

static rz_status spm_to_gguf(const void *data, size_t len, const hf_extras *x, rz_gguf_writer *w) {
    spm_model m;
    token_table t;
    memset(&t, 0, sizeof t);
    rz_status s = spm_read(data, len, x->vocab_size, &m, &t);
    if (s == RZ_OK) s = spm_added_json(x->added, &t);
    if (s == RZ_OK && x->config) s = spm_added_tokens(x->config, &t);
    if (s == RZ_OK) s = table_fill_unused(&t);
    if (s == RZ_OK) s = table_index(&t);
    if (s == RZ_OK) s = rz_gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
    if (s == RZ_OK) s = rz_gguf_writer_add_str(w, "tokenizer.ggml.pre", "default");
    if (s == RZ_OK) s = write_table(&t, w);
    if (s == RZ_OK) s = rz_gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", m.add_dummy_prefix);
    if (s == RZ_OK) {
        special_vocab sv;
        special_init(&sv);
        if (x->config) {
            read_config_specials(x->config, &sv);
            read_config_flags(x->config, &sv);
        }
        resolve_specials(&sv, NULL, &t);
        model_config_specials(x->model_config, t.n, &sv);
        static const int from_spec[4] = {SP_UNK, SP_BOS, SP_EOS, SP_PAD};
        for (int i = 0; i < 4; i++)
            if (sv.id[from_spec[i]] < 0 && m.ids[i] >= 0 && m.ids[i] < t.n) sv.id[from_spec[i]] = m.ids[i];
        s = write_config(x, &sv, w);
    }
    table_free(&t);
    return s;
}

rz_status rz_hf_spm_model_to_gguf(const void *model, size_t model_len, const char *config, size_t config_len,
                                  rz_gguf_writer *w) {
    if (!model || !w) return rz_error(RZ_ERR_INVALID_ARG, "hf: no tokenizer.model or writer given");
    hf_extras x;
    rz_status s = extras_init(&x, config, config_len, NULL, 0, NULL);
    if (s == RZ_OK) s = spm_to_gguf(model, model_len, &x, w);
    extras_free(&x);
    return s;
}

/* ------------------------------------------------------------- directory */

/* An optional file of dir: *out stays NULL when it does not exist. */
static rz_status read_optional(const char *dir, const char *name, char **out, size_t *len) {
    const rz_status s = rz_hf_read_file(dir, name, out, len);
    return s == RZ_ERR_NOT_FOUND ? RZ_OK : s;
}

rz_status rz_hf_tokenizer_to_gguf(const char *dir, rz_gguf_writer *w) {
    if (!dir || !w) return rz_error(RZ_ERR_INVALID_ARG, "hf: no model directory or writer given");
    char *tok = NULL, *config = NULL, *model_config = NULL, *jinja = NULL;
    size_t tok_len = 0, config_len = 0, model_config_len = 0, jinja_len = 0;
    rz_status s = read_optional(dir, "tokenizer_config.json", &config, &config_len);
    if (s == RZ_OK) s = read_optional(dir, "config.json", &model_config, &model_config_len);
    /* Newer transformers keep the chat template in a file of its own. */
    if (s == RZ_OK) s = read_optional(dir, "chat_template.jinja", &jinja, &jinja_len);
    hf_extras x;
    memset(&x, 0, sizeof x);
    if (s == RZ_OK) s = extras_init(&x, config, config_len, model_config, model_config_len, jinja);
    if (s == RZ_OK) {
        s = rz_hf_read_file(dir, "tokenizer.json", &tok, &tok_len);
        if (s == RZ_OK) {
            s = json_to_gguf_text(tok, tok_len, &x, w);
        } else if (s == RZ_ERR_NOT_FOUND) {
            char *added = NULL;
            size_t added_len = 0;
            s = read_optional(dir, "added_tokens.json", &added, &added_len);
            if (s == RZ_OK) s = rz_hf_parse_object(added, added_len, "added_tokens.json", &x.added);
            free(added);
            if (s == RZ_OK) s = rz_hf_read_file(dir, "tokenizer.model", &tok, &tok_len);
            if (s == RZ_OK) s = spm_to_gguf(tok, tok_len, &x, w);
            if (s == RZ_ERR_NOT_FOUND)
                s = rz_error(RZ_ERR_NOT_FOUND, "hf: '%s' has neither tokenizer.json nor tokenizer.model",
                             dir);
        }
    }
    extras_free(&x);
    free(tok);
    free(config);
    free(model_config);
    free(jinja);
    return s;
}
