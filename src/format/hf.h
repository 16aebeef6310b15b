/* Hugging Face model directories and PyTorch checkpoints, presented as the
 * GGUF llama.cpp's converter would write for them. */
#ifndef RZ_FORMAT_HF_H
#define RZ_FORMAT_HF_H

#include <stdint.h>

#include "ryzanstein.h"

/* One tensor of a safetensors file or a PyTorch checkpoint, as stored. */
typedef struct rz_hf_tensor {
    const char *name;         /* as stored, e.g. "model.layers.0.self_attn.q_proj.weight" */
    char dtype[8];            /* as stored: "F32", "F16", "BF16", "I8", "U8", "I32", ... */
    rz_type type;             /* dtype as an rz_type; RZ_TYPE_I8 for U8 (see dtype) */
    uint32_t n_dims;          /* 0 for a scalar */
    uint64_t ne[RZ_MAX_DIMS]; /* ggml order: ne[0] is the last (contiguous) PyTorch dim; unused are 1 */
    const void *data;         /* contiguous, row-major, inside the file's mapping */
    uint64_t size;            /* bytes */
} rz_hf_tensor;

/* ---------------------------------------------------------- safetensors */

typedef struct rz_safetensors rz_safetensors;

/* A model.safetensors file, or a model.safetensors.index.json with its shards. */
rz_status rz_safetensors_open(const char *path, rz_safetensors **out);
/* The same from bytes in memory (fuzzing); `data` must outlive the result. */
rz_status rz_safetensors_open_memory(const void *data, size_t size, rz_safetensors **out);
uint64_t rz_safetensors_tensor_count(const rz_safetensors *st);
const rz_hf_tensor *rz_safetensors_tensor_at(const rz_safetensors *st, uint64_t index);
void rz_safetensors_close(rz_safetensors *st);

/* rz_hf_open for a config.json text and one safetensors file in memory
 * (fuzzing, tests); `safetensors` must outlive the result. */
rz_status rz_hf_open_memory(const char *config_json, size_t config_len, const void *safetensors, size_t size,
                            rz_gguf **out);

/* -------------------------------------------------------------- PyTorch */

typedef struct rz_torch rz_torch;

/* A torch.save zip checkpoint (pytorch_model.bin), read by a restricted
 * unpickler that never executes code. */
rz_status rz_torch_open(const char *path, rz_torch **out);
rz_status rz_torch_open_memory(const void *data, size_t size, rz_torch **out);
uint64_t rz_torch_tensor_count(const rz_torch *t);
const rz_hf_tensor *rz_torch_tensor_at(const rz_torch *t, uint64_t index);
void rz_torch_close(rz_torch *t);

/* ------------------------------------------------------ directory files */

struct cJSON;
/* A whole file of directory `dir` (malloc'd, NUL-terminated); RZ_ERR_NOT_FOUND
 * (no message) when it does not exist. */
rz_status rz_hf_read_file(const char *dir, const char *name, char **out, size_t *len);
/* `text` as a JSON object named `what` in errors; *out NULL when text is. */
rz_status rz_hf_parse_object(const char *text, size_t len, const char *what, struct cJSON **out);

/* ------------------------------------------------------------ tokenizer */

/* Adds the tokenizer.* metadata llama.cpp's convert_hf_to_gguf.py writes
 * (tokenizer.ggml.model/pre/tokens/scores/token_type/merges, special token
 * ids, add_bos/add_eos, chat_template) for the tokenizer of HF model
 * directory `dir`: tokenizer.json with tokenizer_config.json, or a
 * SentencePiece tokenizer.model. */
rz_status rz_hf_tokenizer_to_gguf(const char *dir, rz_gguf_writer *w);

/* The same from files in memory (fuzzing, tests): the text of tokenizer.json
 * or the bytes of a SentencePiece tokenizer.model, each with the text of
 * tokenizer_config.json (config NULL when there is none). */
rz_status rz_hf_tokenizer_json_to_gguf(const char *json, size_t json_len, const char *config,
                                       size_t config_len, rz_gguf_writer *w);
rz_status rz_hf_spm_model_to_gguf(const void *model, size_t model_len, const char *config, size_t config_len,
                                  rz_gguf_writer *w);

#endif
