/* Ryzanstein: CPU-first LLM inference. Public C API.
 *
 * Conventions: every fallible function returns an rz_status; on failure the
 * calling thread's last error (rz_last_error) holds a one-line,
 * human-readable message. Library code never exits or aborts on bad input.
 */
#ifndef RYZANSTEIN_H
#define RYZANSTEIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(RZ_BUILDING_LIBRARY)
#define RZ_API __attribute__((visibility("default")))
#else
#define RZ_API
#endif

#define RZ_VERSION_STRING "0.1.0"

/* ---------------------------------------------------------------- status */

typedef enum rz_status {
    RZ_OK = 0,
    RZ_ERR_INVALID_ARG, /* caller passed something meaningless */
    RZ_ERR_IO,          /* open/read/write/mmap failed */
    RZ_ERR_FORMAT,      /* file or input is malformed */
    RZ_ERR_NOMEM,       /* allocation failed */
    RZ_ERR_NOT_FOUND,   /* key, tensor or item does not exist */
    RZ_ERR_TYPE,        /* value has another type than asked for */
    RZ_ERR_UNSUPPORTED, /* valid, but not implemented here */
    RZ_ERR_RANGE,       /* value out of the representable/allowed range */
} rz_status;

/* Message of the last failure on this thread ("" if none). */
RZ_API const char *rz_last_error(void);
RZ_API const char *rz_status_name(rz_status status);

/* ------------------------------------------------------------ CPU / ISA */

typedef enum rz_isa {
    RZ_ISA_SCALAR = 0,
    RZ_ISA_AVX2,   /* AVX2 + FMA + F16C */
    RZ_ISA_AVX512, /* AVX-512 F/BW/VL/DQ + VNNI + BF16 */
    RZ_ISA_COUNT
} rz_isa;

typedef struct rz_cpu_info {
    char vendor[16];
    char brand[64];
    bool sse42, avx, avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16, avx512vbmi, gfni;
    bool avxvnni;
    int logical_cores;
    int physical_cores;
} rz_cpu_info;

RZ_API const rz_cpu_info *rz_cpu_info_get(void);
/* Best ISA path this CPU supports. */
RZ_API rz_isa rz_isa_best(void);
/* Path in use: rz_isa_best(), or RZ_ISA from the environment, or rz_isa_set. */
RZ_API rz_isa rz_isa_active(void);
/* Force a path; fails with RZ_ERR_UNSUPPORTED if the CPU lacks it. */
RZ_API rz_status rz_isa_set(rz_isa isa);
RZ_API const char *rz_isa_name(rz_isa isa);
RZ_API rz_status rz_isa_parse(const char *name, rz_isa *out);

/* ----------------------------------------------- CPU sets and topology */

enum { RZ_MAX_CPUS = 1024, RZ_MAX_NODES = 64 };

/* A set of logical CPU numbers: bit i of the words is CPU i. */
typedef struct rz_cpu_set {
    uint64_t bits[RZ_MAX_CPUS / 64];
} rz_cpu_set;

RZ_API void rz_cpu_set_add(rz_cpu_set *set, int cpu);
RZ_API bool rz_cpu_set_has(const rz_cpu_set *set, int cpu);
RZ_API int rz_cpu_set_count(const rz_cpu_set *set);
/* Adds the CPUs of a hex mask as llama.cpp's -C/--cpu-mask spells it: "0x"
 * optional, the last digit is CPUs 0-3. */
RZ_API rz_status rz_cpu_set_parse_mask(const char *hex, rz_cpu_set *set);
/* Adds CPUs lo..hi (inclusive) as llama.cpp's -Cr/--cpu-range spells it:
 * "lo-hi", "-hi" (from CPU 0) or "lo-" (through this machine's last CPU). */
RZ_API rz_status rz_cpu_set_parse_range(const char *range, rz_cpu_set *set);
/* Fails, naming the CPU, if the set has one this machine does not have online. */
RZ_API rz_status rz_cpu_set_check(const rz_cpu_set *set);
/* The set as a list, "0-3,8,10-11" ("" when empty), cut after the last
 * entry that fits cap bytes. */
RZ_API void rz_cpu_set_format(const rz_cpu_set *set, char *buf, size_t cap);

/* What /sys/devices/system says (read once, on first use). */
typedef struct rz_cpu_topology {
    int n_cpus;  /* online logical CPUs */
    int n_cores; /* distinct (package, core) pairs among them */
    int n_nodes; /* NUMA nodes with online CPUs */
    bool sysfs;  /* false: sysfs unreadable (containers): one node, one core per CPU */
    rz_cpu_set online;
    rz_cpu_set allowed;        /* this process's affinity then (taskset, numactl, cgroups) */
    int start_node;            /* index (into node_id) of the node the process ran on then */
    int node_id[RZ_MAX_NODES]; /* sysfs node numbers */
    rz_cpu_set node_cpus[RZ_MAX_NODES];
} rz_cpu_topology;

RZ_API const rz_cpu_topology *rz_cpu_topology_get(void);

/* llama.cpp's --numa strategies. */
typedef enum rz_numa {
    RZ_NUMA_NONE = 0,   /* threads where the OS puts them */
    RZ_NUMA_DISTRIBUTE, /* threads spread over the nodes in blocks, each on its node's CPUs; the
                           weights' pages moved to the node of the threads that read them */
    RZ_NUMA_ISOLATE,    /* all threads on the CPUs of the node the process started on */
    RZ_NUMA_NUMACTL,    /* threads on the CPUs the process was given (numactl, taskset) */
} rz_numa;

RZ_API rz_status rz_numa_parse(const char *name, rz_numa *out);
RZ_API const char *rz_numa_name(rz_numa numa);

/* ---------------------------------------------------------- tensor types */

/* Values are the GGUF / ggml type ids. */
typedef enum rz_type {
    RZ_TYPE_F32 = 0,
    RZ_TYPE_F16 = 1,
    RZ_TYPE_Q4_0 = 2,
    RZ_TYPE_Q4_1 = 3,
    RZ_TYPE_Q5_0 = 6,
    RZ_TYPE_Q5_1 = 7,
    RZ_TYPE_Q8_0 = 8,
    RZ_TYPE_Q8_1 = 9,
    RZ_TYPE_Q2_K = 10,
    RZ_TYPE_Q3_K = 11,
    RZ_TYPE_Q4_K = 12,
    RZ_TYPE_Q5_K = 13,
    RZ_TYPE_Q6_K = 14,
    RZ_TYPE_Q8_K = 15,
    RZ_TYPE_IQ2_XXS = 16,
    RZ_TYPE_IQ2_XS = 17,
    RZ_TYPE_IQ3_XXS = 18,
    RZ_TYPE_IQ1_S = 19,
    RZ_TYPE_IQ4_NL = 20,
    RZ_TYPE_IQ3_S = 21,
    RZ_TYPE_IQ2_S = 22,
    RZ_TYPE_IQ4_XS = 23,
    RZ_TYPE_I8 = 24,
    RZ_TYPE_I16 = 25,
    RZ_TYPE_I32 = 26,
    RZ_TYPE_I64 = 27,
    RZ_TYPE_F64 = 28,
    RZ_TYPE_IQ1_M = 29,
    RZ_TYPE_BF16 = 30,
    RZ_TYPE_TQ1_0 = 34,
    RZ_TYPE_TQ2_0 = 35,
    RZ_TYPE_I2_S = 36,  /* bitnet.cpp's 2-bit layout with a per-tensor scale trailer */
    RZ_TYPE_I8_S = 37,  /* I2_S activations: per-token absmax int8 (bitnet.cpp's id; never in files) */
    RZ_TYPE_MXFP4 = 39, /* OCP MX FP4: E2M1 codes with a shared power-of-two scale (gpt-oss) */
    /* Run-time layouts (docs/layouts.md): made at load, never in files. */
    RZ_TYPE_Q4_0_G4 = 40,  /* Q4_0 in groups of four blocks */
    RZ_TYPE_A8_G4 = 41,    /* their activations */
    RZ_TYPE_Q8_0_G16 = 42, /* Q8_0 in groups of 16 blocks, one per 32-bit lane */
    RZ_TYPE_Q4_K_G = 43,   /* Q4_K with unpacked scales */
    RZ_TYPE_A8_K = 44,     /* its activations: Q8_K in the order of its nibbles */
    RZ_TYPE_I2_TL = 45,    /* I2_S as 5-bit lookup indices of weight triplets, rows interleaved */
    RZ_TYPE_I8_TL = 46,    /* its activations: tables of triplet partial sums */
    RZ_TYPE_F16_ACT = 47,  /* F16 tiles' activations: fp16-rounded floats */
    RZ_TYPE_BF16_ACT = 48, /* BF16 tiles' activations: bf16-rounded floats, pairs split */
    RZ_TYPE_TQ2_0_G = 49,  /* TQ2_0 and TQ1_0 as 2-bit codes grouped for 64-byte loads */
    RZ_TYPE_A8_G16 = 50,   /* Q8_0_G16's activations */
    RZ_TYPE_Q4_0_R8 = 51,  /* Q4_0 with 8 rows interleaved, one per 32-bit lane (AVX2) */
    RZ_TYPE_A8_R8 = 52,    /* its activations: Q8_0 codes with float scale and offset term */
    RZ_TYPE_Q6_K_R8 = 53,  /* Q6_K with rows interleaved in groups of eight (AVX2) */
    RZ_TYPE_Q4_K_R8 = 54,  /* Q4_K with rows interleaved in groups of eight (AVX2) */
    RZ_TYPE_COUNT = 55
} rz_type;

/* Type name as ggml spells it ("f32", "q4_0", "q4_K", ...); NULL if unknown. */
RZ_API const char *rz_type_name(rz_type type);
/* Case-insensitive lookup by name. */
RZ_API rz_status rz_type_from_name(const char *name, rz_type *out);
/* True if the id names a type this build knows the layout of. */
RZ_API bool rz_type_known(rz_type type);
/* True if values of this type can be converted to float here. */
RZ_API bool rz_type_can_dequantize(rz_type type);
RZ_API bool rz_type_can_quantize(rz_type type);
RZ_API uint32_t rz_type_block_size(rz_type type);
RZ_API uint32_t rz_type_block_bytes(rz_type type);
/* Bytes of a tensor of n_elements (includes per-tensor trailers such as
 * I2_S's scale); fails if n is not a multiple of the block size or overflows. */
RZ_API rz_status rz_type_tensor_bytes(rz_type type, uint64_t n_elements, uint64_t *out);
/* Convert n values (a whole tensor, or whole rows of it) to float32. */
RZ_API rz_status rz_dequantize(rz_type type, const void *src, float *dst, uint64_t n);
/* Reference quantizer: n floats to type (n a multiple of the block size). */
RZ_API rz_status rz_quantize(rz_type type, const float *src, void *dst, uint64_t n);

/* ------------------------------------------------------------------ GGUF */

typedef enum rz_gguf_type {
    RZ_GGUF_UINT8 = 0,
    RZ_GGUF_INT8 = 1,
    RZ_GGUF_UINT16 = 2,
    RZ_GGUF_INT16 = 3,
    RZ_GGUF_UINT32 = 4,
    RZ_GGUF_INT32 = 5,
    RZ_GGUF_FLOAT32 = 6,
    RZ_GGUF_BOOL = 7,
    RZ_GGUF_STRING = 8,
    RZ_GGUF_ARRAY = 9,
    RZ_GGUF_UINT64 = 10,
    RZ_GGUF_INT64 = 11,
    RZ_GGUF_FLOAT64 = 12,
    RZ_GGUF_TYPE_COUNT
} rz_gguf_type;

#define RZ_GGUF_DEFAULT_ALIGNMENT 32
#define RZ_MAX_DIMS               4

typedef struct rz_gguf rz_gguf;

/* A string inside the file: not NUL-terminated, valid while the file is open. */
typedef struct rz_str {
    const char *ptr;
    uint64_t len;
} rz_str;

typedef struct rz_gguf_tensor {
    rz_str name;
    rz_type type;
    uint32_t n_dims;
    uint64_t ne[RZ_MAX_DIMS]; /* ne[0] is contiguous; unused dims are 1 */
    uint64_t n_elements;
    uint64_t offset;  /* relative to the data section */
    uint64_t size;    /* bytes */
    const void *data; /* points into the mapping */
} rz_gguf_tensor;

/* True if the file starts with the GGUF magic (it may still be invalid). */
RZ_API bool rz_gguf_probe(const char *path);
/* Open and fully validate a GGUF file (mmap'd, read-only). */
RZ_API rz_status rz_gguf_open(const char *path, rz_gguf **out);
/* Same over a caller-owned buffer that must outlive the handle. */
RZ_API rz_status rz_gguf_open_memory(const void *data, size_t size, rz_gguf **out);
RZ_API void rz_gguf_close(rz_gguf *gguf);

RZ_API uint32_t rz_gguf_version(const rz_gguf *gguf);
RZ_API uint64_t rz_gguf_alignment(const rz_gguf *gguf);
RZ_API uint64_t rz_gguf_data_offset(const rz_gguf *gguf);
RZ_API uint64_t rz_gguf_file_size(const rz_gguf *gguf);

/* Metadata: key/value pairs in file order. */
RZ_API uint64_t rz_gguf_kv_count(const rz_gguf *gguf);
RZ_API rz_str rz_gguf_kv_key(const rz_gguf *gguf, uint64_t index);
RZ_API rz_gguf_type rz_gguf_kv_type(const rz_gguf *gguf, uint64_t index);
/* Index of a key, or -1. */
RZ_API int64_t rz_gguf_find_key(const rz_gguf *gguf, const char *key);

/* Typed getters. Integer getters accept any integer-typed value that fits
 * the requested type; anything else is RZ_ERR_TYPE / RZ_ERR_RANGE, a missing
 * key is RZ_ERR_NOT_FOUND. Messages name the key. */
RZ_API rz_status rz_gguf_get_u8(const rz_gguf *gguf, const char *key, uint8_t *out);
RZ_API rz_status rz_gguf_get_i8(const rz_gguf *gguf, const char *key, int8_t *out);
RZ_API rz_status rz_gguf_get_u16(const rz_gguf *gguf, const char *key, uint16_t *out);
RZ_API rz_status rz_gguf_get_i16(const rz_gguf *gguf, const char *key, int16_t *out);
RZ_API rz_status rz_gguf_get_u32(const rz_gguf *gguf, const char *key, uint32_t *out);
RZ_API rz_status rz_gguf_get_i32(const rz_gguf *gguf, const char *key, int32_t *out);
RZ_API rz_status rz_gguf_get_u64(const rz_gguf *gguf, const char *key, uint64_t *out);
RZ_API rz_status rz_gguf_get_i64(const rz_gguf *gguf, const char *key, int64_t *out);
/* Float getters accept float32 and float64 values. */
RZ_API rz_status rz_gguf_get_f32(const rz_gguf *gguf, const char *key, float *out);
RZ_API rz_status rz_gguf_get_f64(const rz_gguf *gguf, const char *key, double *out);
RZ_API rz_status rz_gguf_get_bool(const rz_gguf *gguf, const char *key, bool *out);
RZ_API rz_status rz_gguf_get_str(const rz_gguf *gguf, const char *key, rz_str *out);

/* A metadata value, possibly an array (of scalars, strings or arrays). */
typedef struct rz_gguf_value rz_gguf_value;
RZ_API const rz_gguf_value *rz_gguf_kv_value(const rz_gguf *gguf, uint64_t index);
RZ_API rz_gguf_type rz_gguf_value_type(const rz_gguf_value *value);
/* Scalars, widened: */
RZ_API uint64_t rz_gguf_value_u64(const rz_gguf_value *value);
RZ_API int64_t rz_gguf_value_i64(const rz_gguf_value *value);
RZ_API double rz_gguf_value_f64(const rz_gguf_value *value);
RZ_API rz_str rz_gguf_value_str(const rz_gguf_value *value);
/* Arrays: */
RZ_API rz_gguf_type rz_gguf_array_type(const rz_gguf_value *value);
RZ_API uint64_t rz_gguf_array_len(const rz_gguf_value *value);
/* Raw little-endian element data for arrays of fixed-size scalars; NULL otherwise. */
RZ_API const void *rz_gguf_array_data(const rz_gguf_value *value);
RZ_API rz_str rz_gguf_array_str(const rz_gguf_value *value, uint64_t index);
/* Element of a nested array (or of a scalar array, as a scalar value). */
RZ_API const rz_gguf_value *rz_gguf_array_elem(const rz_gguf_value *value, uint64_t index);
/* Array under a key, checking its element type (RZ_ERR_TYPE otherwise). */
RZ_API rz_status rz_gguf_get_array(const rz_gguf *gguf, const char *key, rz_gguf_type elem_type,
                                   const rz_gguf_value **out);

/* Tensors, in file order. */
RZ_API uint64_t rz_gguf_tensor_count(const rz_gguf *gguf);
RZ_API const rz_gguf_tensor *rz_gguf_tensor_at(const rz_gguf *gguf, uint64_t index);
RZ_API const rz_gguf_tensor *rz_gguf_find_tensor(const rz_gguf *gguf, const char *name);

/* A Hugging Face model directory (config.json; model.safetensors, sharded
 * safetensors or pytorch_model.bin; tokenizer.json or tokenizer.model) seen
 * as the GGUF llama.cpp's converter writes for it: the same metadata keys,
 * tensor names and layouts. Tensors stored in that layout are used in place;
 * the rest are built in memory when opened. */
RZ_API bool rz_hf_probe(const char *path);
RZ_API rz_status rz_hf_open(const char *dir, rz_gguf **out);

/* A model file of rwkv.cpp (magic "ggmf"; RWKV v7 and v5.2, F32, F16 and
 * ggml's block types) seen as GGUF: v7 as llama.cpp's "rwkv7", v5.2 as
 * "rwkv5"; a 256-token vocabulary gets a byte-level tokenizer (id = byte). */
RZ_API bool rz_rwkv_cpp_probe(const char *path);
RZ_API rz_status rz_rwkv_cpp_open(const char *path, rz_gguf **out);

/* Streaming writer: declare metadata and tensor infos, then write each
 * tensor's data in declaration order. Only headers are held in memory. */
typedef struct rz_gguf_writer rz_gguf_writer;

RZ_API rz_status rz_gguf_writer_open(const char *path, rz_gguf_writer **out);
RZ_API rz_status rz_gguf_writer_set_alignment(rz_gguf_writer *w, uint32_t alignment);
RZ_API rz_status rz_gguf_writer_add_u8(rz_gguf_writer *w, const char *key, uint8_t v);
RZ_API rz_status rz_gguf_writer_add_i8(rz_gguf_writer *w, const char *key, int8_t v);
RZ_API rz_status rz_gguf_writer_add_u16(rz_gguf_writer *w, const char *key, uint16_t v);
RZ_API rz_status rz_gguf_writer_add_i16(rz_gguf_writer *w, const char *key, int16_t v);
RZ_API rz_status rz_gguf_writer_add_u32(rz_gguf_writer *w, const char *key, uint32_t v);
RZ_API rz_status rz_gguf_writer_add_i32(rz_gguf_writer *w, const char *key, int32_t v);
RZ_API rz_status rz_gguf_writer_add_u64(rz_gguf_writer *w, const char *key, uint64_t v);
RZ_API rz_status rz_gguf_writer_add_i64(rz_gguf_writer *w, const char *key, int64_t v);
RZ_API rz_status rz_gguf_writer_add_f32(rz_gguf_writer *w, const char *key, float v);
RZ_API rz_status rz_gguf_writer_add_f64(rz_gguf_writer *w, const char *key, double v);
RZ_API rz_status rz_gguf_writer_add_bool(rz_gguf_writer *w, const char *key, bool v);
RZ_API rz_status rz_gguf_writer_add_str(rz_gguf_writer *w, const char *key, const char *v);
RZ_API rz_status rz_gguf_writer_add_strn(rz_gguf_writer *w, const char *key, const char *v, uint64_t len);
/* Array of fixed-size scalars (elem_type not STRING/ARRAY); data little-endian. */
RZ_API rz_status rz_gguf_writer_add_array(rz_gguf_writer *w, const char *key, rz_gguf_type elem_type,
                                          const void *data, uint64_t count);
RZ_API rz_status rz_gguf_writer_add_str_array(rz_gguf_writer *w, const char *key, const rz_str *items,
                                              uint64_t count);
/* Copy a metadata value (any type, nested arrays included) from a reader. */
RZ_API rz_status rz_gguf_writer_add_value(rz_gguf_writer *w, const char *key, const rz_gguf_value *value);
RZ_API rz_status rz_gguf_writer_add_tensor(rz_gguf_writer *w, const char *name, rz_type type, uint32_t n_dims,
                                           const uint64_t *ne);
/* Write header, metadata and tensor infos; no add_* after this. */
RZ_API rz_status rz_gguf_writer_begin_data(rz_gguf_writer *w);
/* Append bytes of the current tensor; a tensor is complete once its size is
 * reached, and the next call continues with the next tensor (padding added). */
RZ_API rz_status rz_gguf_writer_write(rz_gguf_writer *w, const void *data, uint64_t size);
/* Check every tensor was written, flush and close. Always frees w. */
RZ_API rz_status rz_gguf_writer_close(rz_gguf_writer *w);
/* Abandon: close and delete the partial file. */
RZ_API void rz_gguf_writer_abort(rz_gguf_writer *w);

/* -------------------------------------------------------------- llama2.c */

typedef struct rz_llama2c rz_llama2c;

typedef struct rz_llama2c_config {
    int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared_classifier; /* vocab_size > 0 in the header */
} rz_llama2c_config;

/* Weight tensors of a checkpoint, with llama.cpp names and ggml shapes. */
typedef struct rz_llama2c_tensor {
    char name[48];
    uint32_t n_dims;
    uint64_t ne[2];
    const float *data; /* points into the mapping */
} rz_llama2c_tensor;

RZ_API rz_status rz_llama2c_open(const char *path, rz_llama2c **out);
RZ_API void rz_llama2c_close(rz_llama2c *model);
RZ_API const rz_llama2c_config *rz_llama2c_get_config(const rz_llama2c *model);
RZ_API uint64_t rz_llama2c_tensor_count(const rz_llama2c *model);
RZ_API const rz_llama2c_tensor *rz_llama2c_tensor_at(const rz_llama2c *model, uint64_t index);

/* llama2.c tokenizer.bin: pieces with scores. */
typedef struct rz_llama2c_vocab rz_llama2c_vocab;
RZ_API rz_status rz_llama2c_vocab_open(const char *path, int32_t vocab_size, rz_llama2c_vocab **out);
RZ_API void rz_llama2c_vocab_close(rz_llama2c_vocab *vocab);
RZ_API uint32_t rz_llama2c_vocab_size(const rz_llama2c_vocab *vocab);
RZ_API uint32_t rz_llama2c_vocab_max_token_length(const rz_llama2c_vocab *vocab);
RZ_API rz_str rz_llama2c_vocab_piece(const rz_llama2c_vocab *vocab, uint32_t id);
RZ_API float rz_llama2c_vocab_score(const rz_llama2c_vocab *vocab, uint32_t id);

/* ------------------------------------------------------------- progress */

/* Called with done <= total (units are the caller's, e.g. bytes). */
typedef void (*rz_progress_fn)(void *user, uint64_t done, uint64_t total);

/* -------------------------------------------------------------- convert */

typedef struct rz_convert_options {
    rz_type type;               /* type of 2-D weights: F32, F16, BF16, Q8_0, Q4_0 */
    const char *tokenizer_path; /* llama2.c tokenizer.bin; NULL for none */
    rz_progress_fn progress;
    void *progress_user;
} rz_convert_options;

/* llama2.c checkpoint -> GGUF (architecture "llama", llama.cpp names). */
RZ_API rz_status rz_convert_llama2c(const char *in_path, const char *out_path,
                                    const rz_convert_options *options);

/* ------------------------------------------------------------- quantize */

/* GGUF -> GGUF with the weights requantized, tensor by tensor (streamed, so
 * memory stays at one chunk of rows, or one tensor for types quantized as a
 * whole). Metadata is copied; general.file_type is set to the preset's. */
typedef struct rz_quantize_params {
    const char *preset;           /* llama.cpp ftype name, e.g. "Q4_K_M", "Q8_0", "F16"
                                     (case-insensitive; rz_quantize_preset_name) */
    rz_type output_type;          /* output.weight (or tied token_embd); RZ_TYPE_COUNT = recipe */
    rz_type token_embedding_type; /* token_embd.weight; RZ_TYPE_COUNT = recipe */
    bool pure;                    /* the preset's base type for every 2-D weight, no mix */
    int32_t n_threads;            /* 0 = physical cores */
    rz_progress_fn progress;      /* elements of the input processed */
    void *progress_user;
} rz_quantize_params;

/* Defaults: preset "Q8_0", no type overrides, not pure, no progress. */
RZ_API void rz_quantize_params_init(rz_quantize_params *params);
RZ_API rz_status rz_quantize_model(const char *in_path, const char *out_path,
                                   const rz_quantize_params *params);
/* Name of preset i, or NULL past the last. */
RZ_API const char *rz_quantize_preset_name(size_t i);

/* ---------------------------------------------------------------- synth */

/* A model with seeded random weights (matrices ~ N(0, 0.02), norms 1 +
 * small noise, biases ~ N(0, 0.02)) and a synthetic SentencePiece vocabulary
 * (<unk>, <s>, </s>, 256 byte tokens, then filler pieces), in llama.cpp's
 * tensor names, shapes and keys of its architecture, for tests and
 * benchmarks. */
typedef struct rz_synth_params {
    const char *name; /* general.name; NULL = "synthetic" */
    /* general.architecture: NULL = "llama"; also "bitnet" and "bitnet-b1.58"
     * (sub-norms; matrices ternary, t * s with t in {-1, 0, 1} and one scale s
     * per tensor, whatever the type), "qwen2", "qwen3", "qwen3moe", "phi3",
     * "gemma3", "olmoe", "gpt-oss" (their layer tensors as llama.cpp reads
     * them; experts replace the dense FFN where n_expert > 0); the recurrent
     * "rwkv6", "rwkv7", "mamba", "mamba2" (no attention: n_head and n_head_kv
     * are unused; the layer tensors of the architecture's own table). */
    const char *arch;
    int32_t n_embd, n_layer, n_ff, n_head, n_head_kv, n_vocab, n_ctx;
    /* RWKV: WKV head size, LoRA ranks (RWKV 6: time_mix_extra_dim is
     * lora_mix, time_decay_extra_dim lora_decay). */
    int32_t wkv_head_size, lora_decay, lora_iclr, lora_mix, lora_gate;
    /* Mamba: conv kernel, d_inner, d_state, dt rank (Mamba 2: heads), groups
     * (Mamba 2). */
    int32_t ssm_conv, ssm_inner, ssm_state, ssm_dt_rank, ssm_groups;
    int32_t head_dim; /* 0 = n_embd / n_head; else written as attention.key_length */
    /* Mixture of experts: n_ff_exp 0 = experts n_ff wide (no
     * expert_feed_forward_length key, as OLMoE and Mixtral). */
    int32_t n_expert, n_expert_used, n_ff_exp;
    /* Sliding-window attention (0 = none); the pattern and the local layers'
     * RoPE base are written when nonzero. */
    int32_t n_swa, swa_pattern;
    float rope_freq_base_swa;
    /* NULL; "llama3": rope_freqs.weight of Llama 3's factors (low 1, high 4);
     * "yarn": rope.scaling.* keys. Both from the factor and the original
     * context. */
    const char *rope_scaling;
    float rope_scaling_factor;
    int32_t rope_orig_ctx;
    bool tied_output; /* no output.weight: the output reuses token_embd */
    float rope_freq_base, rms_eps;
    /* Types of the matrices; a row length a K-quant's blocks do not tile takes
     * llama.cpp's replacement (Q4_K -> Q5_0, Q6_K -> Q8_0, ...). */
    rz_type type;        /* F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K, MXFP4, TQ1_0, TQ2_0, I2_S */
    rz_type expert_type; /* expert matrices (routers stay F32) */
    rz_type output_type; /* output.weight, or token_embd when tied */
    uint64_t seed;
} rz_synth_params;

/* Shapes of known models (rz_synth_preset_name lists them): type F16 but
 * for the BitNet ones (I2_S, tied F16 output) and gpt-oss's MXFP4 experts;
 * expert_type = type otherwise; seed 0. RZ_ERR_NOT_FOUND for other names. */
RZ_API rz_status rz_synth_preset(const char *name, rz_synth_params *out);
/* Name of preset i, or NULL past the last. */
RZ_API const char *rz_synth_preset_name(size_t i);
/* Write the model as GGUF, one tensor at a time; the same parameters give the
 * same bytes. progress gets bytes of tensor data written. */
RZ_API rz_status rz_synth_write(const rz_synth_params *params, const char *path, rz_progress_fn progress,
                                void *progress_user);

/* ----------------------------------------------------------------- model */

typedef struct rz_model rz_model;

typedef struct rz_model_params {
    const char *tokenizer_path; /* llama2.c tokenizer.bin (for .bin checkpoints) */
    bool vocab_only;            /* load only the tokenizer (also from vocab-only GGUFs); such a
                                   model tokenizes, but rz_context_create refuses it */
    bool no_repack;             /* compute on the file mapping as stored: no copy of the matrices
                                   into huge pages, no run-time layouts (docs/layouts.md) */
    bool lut;                   /* also use the run-time layouts that read fewer bytes per token
                                   but run batches slower (I2_TL for I2_S, on AVX-512): faster
                                   generation, slower prompts */
} rz_model_params;

/* How token vectors become one embedding (llama.cpp's pooling types). */
typedef enum rz_pooling {
    RZ_POOLING_MODEL = -1, /* the model's own (rz_model_desc.pooling; mean where that is none) */
    RZ_POOLING_NONE = 0,   /* every token's vector */
    RZ_POOLING_MEAN = 1,
    RZ_POOLING_CLS = 2,  /* the first token's */
    RZ_POOLING_LAST = 3, /* the last token's */
} rz_pooling;

typedef struct rz_model_desc {
    char arch[32];   /* "llama" */
    char format[16]; /* "gguf", "hf", "rwkv.cpp" or "llama2c" */
    int32_t n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_ff, n_rot;
    float rms_eps, rope_freq_base;
    int32_t head_dim;                          /* of queries, keys and values (n_head * head_dim wide) */
    bool rope_neox;                            /* RoPE on halves of a head (NeoX), not adjacent pairs */
    float rope_freq_scale;                     /* linear position scale (1 / factor); 1 = none */
    bool rope_factors;                         /* frequencies divided by rope_freqs.weight (Llama 3) */
    int32_t n_swa, swa_pattern;                /* sliding window (0 = none); window on layers l with
                                                  l % swa_pattern < swa_pattern - 1 (0 = all) */
    float rope_freq_base_swa;                  /* windowed layers' own RoPE base; 0 = rope_freq_base */
    float attn_softcap, final_softcap;         /* 0 = none */
    int32_t n_expert, n_expert_used, n_ff_exp; /* mixture of experts; 0 experts = dense */
    bool expert_weights_norm;                  /* chosen experts' weights renormalized to sum 1 */
    rz_type weight_type;                       /* type of the attention/FFN matrices */
    rz_type output_type;                       /* type of the output (lm_head) matrix */
    bool tied_output;                          /* lm_head is token_embd */
    uint64_t n_params;
    uint64_t weight_bytes; /* bytes of all weight tensors */
    int32_t bos, eos;      /* -1 if the vocabulary has none */
    bool has_vocab;
    bool encoder;         /* BERT-like: embeddings only (rz_embed), no logits */
    rz_pooling pooling;   /* <arch>.pooling_type; mean where the file has none */
    bool recurrent;       /* RWKV, Mamba: a fixed-size state per sequence, no KV cache */
    uint64_t state_bytes; /* that state, of all layers */
} rz_model_desc;

RZ_API rz_model_params rz_model_default_params(void);
/* GGUF (by magic) or llama2.c checkpoint. The weight matrices are copied once
 * into huge-page memory (repacked into run-time layouts where the active ISA
 * has them); the rest stays memory-mapped. See no_repack. */
RZ_API rz_status rz_model_load(const char *path, const rz_model_params *params, rz_model **out);
RZ_API void rz_model_free(rz_model *model);
RZ_API const rz_model_desc *rz_model_describe(const rz_model *model);
/* Bytes of weights streamed to generate one token (every matrix once, plus
 * one embedding row). */
RZ_API uint64_t rz_model_bytes_per_token(const rz_model *model);
/* A string from the model's GGUF metadata (e.g. "tokenizer.chat_template");
 * not NUL-terminated, valid while the model is loaded. RZ_ERR_NOT_FOUND if
 * absent (or the model is not a GGUF file), RZ_ERR_TYPE if not a string. */
RZ_API rz_status rz_model_meta_str(const rz_model *model, const char *key, rz_str *out);

/* ---------------------------------------------------------------- tokens */

/* Text (UTF-8, len bytes) to token ids. add_special adds BOS (and EOS) as
 * the vocabulary asks; parse_special matches control-token texts in the
 * input (user-defined tokens always match, as in llama.cpp).
 * Writes up to cap ids and the full count to *n_out; RZ_ERR_RANGE if cap is
 * too small. */
RZ_API rz_status rz_tokenize(const rz_model *model, const char *text, size_t len, bool add_special,
                             bool parse_special, int32_t *out, size_t cap, size_t *n_out);
/* Raw bytes of a token's piece (byte tokens give their byte). */
RZ_API rz_status rz_token_piece(const rz_model *model, int32_t token, const char **piece, size_t *len);
/* True for tokens that end generation (EOS; BOS for llama2.c models). */
RZ_API bool rz_token_is_end(const rz_model *model, int32_t token);

/* Streaming detokenizer: emits only complete UTF-8 characters, holding back
 * an incomplete tail until the next token completes it. */
typedef struct rz_detokenizer {
    const rz_model *model;
    int32_t prev_token;
    unsigned char pending[8];
    int n_pending;
} rz_detokenizer;
RZ_API void rz_detokenizer_init(rz_detokenizer *d, const rz_model *model);
/* Appends the text of `token` to buf (cap bytes); *len gets the byte count. */
RZ_API rz_status rz_detokenizer_push(rz_detokenizer *d, int32_t token, char *buf, size_t cap, size_t *len);
/* Whole sequence to text (invalid trailing bytes are emitted as they are). */
RZ_API rz_status rz_detokenize(const rz_model *model, const int32_t *tokens, size_t n, char *buf, size_t cap,
                               size_t *n_out);

/* ------------------------------------------------------------------ chat */

/* Chat templates: the common families, recognized in a model's Jinja
 * template by distinctive markers and rendered in C (no Jinja engine). */
typedef enum rz_chat_template {
    RZ_CHAT_CHATML,
    RZ_CHAT_LLAMA2,
    RZ_CHAT_LLAMA3,
    RZ_CHAT_MISTRAL,
    RZ_CHAT_GEMMA,
    RZ_CHAT_PHI3,
    RZ_CHAT_BITNET,
    RZ_CHAT_HARMONY, /* gpt-oss */
    RZ_CHAT_TEMPLATE_COUNT
} rz_chat_template;

typedef struct rz_chat_message {
    const char *role; /* "system", "user", "assistant", ... */
    const char *content;
} rz_chat_message;

/* The message a family refused, and which of its fields. */
typedef struct rz_chat_fault {
    size_t message;
    const char *field; /* "role" or "content" */
} rz_chat_fault;

RZ_API const char *rz_chat_template_name(rz_chat_template t);
/* By name ("chatml", "llama2", ...); RZ_ERR_NOT_FOUND naming the known ones. */
RZ_API rz_status rz_chat_template_from_name(const char *name, rz_chat_template *out);
/* Family of a Jinja chat template by its distinctive markers; false (and
 * ChatML) when none matches. */
RZ_API bool rz_chat_template_detect(const char *jinja, size_t len, rz_chat_template *out);
/* The family of the model's tokenizer.chat_template. ChatML with
 * RZ_ERR_NOT_FOUND when it declares none, RZ_ERR_UNSUPPORTED when no family
 * matches. */
RZ_API rz_status rz_model_chat_template(const rz_model *model, rz_chat_template *out);
/* Prompt text for the messages plus the assistant's turn opener; BOS is not
 * included (the tokenizer adds it), and control-token texts in it are meant
 * to be tokenized as such (rz_tokenize's parse_special). `now` (Unix time) is
 * the date a template states (harmony's "Current date", in UTC). *out is
 * malloc'd (rz_free). RZ_ERR_INVALID_ARG when the family refuses the
 * conversation; *fault (if not NULL) then says where. */
RZ_API rz_status rz_chat_render(rz_chat_template t, const rz_chat_message *messages, size_t n, int64_t now,
                                char **out, rz_chat_fault *fault);
/* Texts that end an assistant turn in this family (stop strings): at most
 * RZ_CHAT_MAX_END_OF_TURN, NULL-terminated. */
#define RZ_CHAT_MAX_END_OF_TURN 2
RZ_API const char *const *rz_chat_end_of_turn(rz_chat_template t);
/* Frees what the library allocated for the caller (rz_chat_render's text). */
RZ_API void rz_free(void *p);

/* --------------------------------------------------------------- context */

typedef struct rz_context rz_context;

typedef struct rz_context_params {
    uint32_t n_ctx;         /* KV cache size in tokens; 0 = the model's training context, a cap
                               only for models with learned positions */
    int32_t n_threads;      /* 0 = physical cores */
    uint32_t n_batch;       /* max tokens per forward pass; longer inputs are split (encoders:
                               always n_ctx, their input is one pass) */
    rz_type type_k, type_v; /* KV cache types */
    /* Thread placement; the defaults (all zero) pin nothing. Thread 0 is
     * the caller's thread: when pinned, it stays so until rz_context_free,
     * which restores its affinity and priority. Without a readable sysfs,
     * numa is ignored (one node). */
    rz_cpu_set cpu_mask; /* CPUs the threads may use; empty = those of the process */
    bool cpu_strict;     /* thread i on the i-th CPU of the mask alone (of its node's share under
                            RZ_NUMA_DISTRIBUTE); fails with fewer CPUs than threads */
    rz_numa numa;
    int32_t prio; /* llama.cpp's --prio: -1 low, 0 normal (unchanged), 1 medium, 2 high,
                     3 realtime: the threads' nice 5, 0, -5, -10, -20 */
} rz_context_params;

RZ_API rz_context_params rz_context_default_params(void);
RZ_API rz_status rz_context_create(const rz_model *model, const rz_context_params *params, rz_context **out);
RZ_API void rz_context_free(rz_context *ctx);
RZ_API const rz_model *rz_context_model(const rz_context *ctx);
RZ_API uint32_t rz_context_n_ctx(const rz_context *ctx);
RZ_API int32_t rz_context_n_threads(const rz_context *ctx);
/* Where the threads run and the weights lie, one line: "threads unpinned",
 * or the CPUs of each thread and what --numa distribute did with the weights. */
RZ_API const char *rz_context_placement(const rz_context *ctx);
/* Tokens held in the KV cache (the next position). */
RZ_API uint32_t rz_context_n_past(const rz_context *ctx);
/* Forget cache entries at positions >= n_past (n_past <= current). */
RZ_API rz_status rz_context_truncate(rz_context *ctx, uint32_t n_past);
/* Context shifting: drop cache positions [n_keep, n_keep + n_discard) and
 * move the later ones down by n_discard, re-rotating their keys to the new
 * positions (quantized keys are decoded, rotated and re-encoded). */
RZ_API rz_status rz_context_shift(rz_context *ctx, uint32_t n_keep, uint32_t n_discard);
/* Evaluate tokens at positions n_past .. n_past + n_tokens - 1 and append
 * them to the cache. want_logits: per-token flags, or NULL for the last token
 * only. Fails with RZ_ERR_RANGE (cache unchanged) if they do not fit, and
 * with RZ_ERR_UNSUPPORTED for an encoder (no logits: use rz_embed). */
RZ_API rz_status rz_decode(rz_context *ctx, const int32_t *tokens, uint32_t n_tokens,
                           const bool *want_logits);
/* Continuous batching: decode several contexts of one model in a single
 * forward pass, so that their weight reads are shared. Context i gets
 * tokens[i][0 .. n_tokens[i]) at its next positions, and afterwards holds
 * the logits of its last token (rz_get_logits(ctx, -1)). The first context's
 * thread pool and buffers run the pass: the total token count must fit its
 * batch size, and the others must not be larger or use other cache types. */
RZ_API rz_status rz_decode_batch(rz_context *const *ctxs, const int32_t *const *tokens,
                                 const uint32_t *n_tokens, size_t n_ctxs);
typedef struct rz_embed_params {
    rz_pooling pooling;
    bool normalize; /* scale each vector to unit length (L2), as OpenAI's embeddings are */
} rz_embed_params;

/* The model's pooling, normalized. */
RZ_API rz_embed_params rz_embed_default_params(void);
/* Embedding: evaluates tokens from position 0 (the context's cache is
 * reset) and pools their output vectors, the final-norm hidden states of a
 * decoder or an encoder's last layer, into out: n_embd floats, or n_tokens
 * rows of n_embd with RZ_POOLING_NONE. An encoder sees its whole input in
 * one pass: at most the context's size. params NULL: the defaults. */
RZ_API rz_status rz_embed_ext(rz_context *ctx, const int32_t *tokens, uint32_t n_tokens,
                              const rz_embed_params *params, float *out);
/* rz_embed_ext with the defaults. */
RZ_API rz_status rz_embed(rz_context *ctx, const int32_t *tokens, uint32_t n_tokens, float *out);
/* Logits (n_vocab floats) of token i of the last rz_decode; i = -1 is the
 * last token. NULL if they were not requested. */
RZ_API const float *rz_get_logits(const rz_context *ctx, int32_t i);

/* Sequence state: what a context holds (n_past, the KV rows a later token
 * can attend to or the recurrent state, the last token's logits) and
 * optionally the tokens it holds, which the context does not keep (tokens:
 * NULL and n_tokens 0, or all n_past of them). A state goes on bit-exactly
 * in a context of the same model (shape and weights, checked by a
 * fingerprint), cache types and, for sliding-window models, one whose rings
 * need no more positions than the saved one kept (the same n_ctx and
 * n_batch); it is tied to this build's byte order. Setting or loading a state
 * that does not fit, is truncated or corrupt fails with a message and leaves
 * the context unchanged. */
/* Bytes rz_state_get writes with n_tokens tokens. */
RZ_API size_t rz_state_size(const rz_context *ctx, uint32_t n_tokens);
/* The state into buf (at least rz_state_size bytes). */
RZ_API rz_status rz_state_get(const rz_context *ctx, const int32_t *tokens, uint32_t n_tokens, void *buf,
                              size_t size);
/* Replaces the context's state with the one in buf; its tokens go to
 * tokens (NULL: not wanted; RZ_ERR_RANGE if more than cap) and their count
 * to *n_tokens (if not NULL). */
RZ_API rz_status rz_state_set(rz_context *ctx, const void *buf, size_t size, int32_t *tokens, uint32_t cap,
                              uint32_t *n_tokens);
/* rz_state_get / rz_state_set through a file. */
RZ_API rz_status rz_state_save(const rz_context *ctx, const char *path, const int32_t *tokens,
                               uint32_t n_tokens);
RZ_API rz_status rz_state_load(rz_context *ctx, const char *path, int32_t *tokens, uint32_t cap,
                               uint32_t *n_tokens);

/* --------------------------------------------------------------- sampling */

typedef struct rz_sampler_params {
    float temperature;       /* <= 0: greedy (argmax, ties to the lowest id) */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    float frequency_penalty; /* 0: off */
    float presence_penalty;  /* 0: off */
    int32_t penalty_last_n;  /* window of recent tokens the penalties look at */
    uint64_t seed;
} rz_sampler_params;

typedef struct rz_sampler rz_sampler;

RZ_API rz_sampler_params rz_sampler_default_params(void);
RZ_API rz_status rz_sampler_create(const rz_sampler_params *params, int32_t n_vocab, rz_sampler **out);
RZ_API void rz_sampler_free(rz_sampler *sampler);
/* Pick the next token from logits (penalties use the accepted history). */
RZ_API int32_t rz_sampler_sample(rz_sampler *sampler, const float *logits);
/* Record a token in the penalty history (prompt tokens and sampled ones). */
RZ_API void rz_sampler_accept(rz_sampler *sampler, int32_t token);
RZ_API void rz_sampler_reset(rz_sampler *sampler);
/* The distribution rz_sampler_sample draws from (after penalties, filters
 * and temperature; one-hot for greedy): n_vocab probabilities, zero for the
 * tokens the filters removed. The sampler's state does not change. */
RZ_API void rz_sampler_probs(rz_sampler *sampler, const float *logits, float *probs);
/* Next number in [0, 1) of the sampler's seeded generator. */
RZ_API double rz_sampler_uniform(rz_sampler *sampler);

/* ------------------------------------------------------------- generation */

typedef enum rz_stop_reason {
    RZ_STOP_NONE = 0,
    RZ_STOP_END_TOKEN, /* the model's end-of-generation token */
    RZ_STOP_LENGTH,    /* n_predict reached */
    RZ_STOP_STRING,    /* a stop string appeared */
    RZ_STOP_CONTEXT,   /* the context is full */
    RZ_STOP_CALLBACK,  /* the token callback asked to stop */
} rz_stop_reason;

typedef struct rz_speculator rz_speculator;

typedef struct rz_generate_params {
    int32_t n_predict; /* max tokens to generate; < 0: until the context is full */
    const char *const *stop_strings;
    size_t n_stop_strings;
    bool ignore_end_token;
    /* When the context is full, keep the first n_keep tokens, drop the
     * oldest half of the rest (rz_context_shift) and go on. Off: stop. */
    bool ctx_shift;
    uint32_t n_keep;
    /* Speculative decoding with this speculator (NULL: none); it must have
     * seen every token the context holds (rz_speculator_push). */
    rz_speculator *speculator;
} rz_generate_params;

typedef struct rz_generate_result {
    rz_stop_reason stop_reason;
    uint32_t n_prompt;    /* tokens evaluated for the prompt */
    uint32_t n_generated; /* tokens generated */
    double prompt_seconds;
    double generate_seconds;
} rz_generate_result;

/* Called for each generated token with its text (complete UTF-8 only; text
 * that may be the start of a stop string is held back until resolved).
 * Return false to stop. */
typedef bool (*rz_token_callback)(void *user, int32_t token, const char *text, size_t len);

/* Evaluate `prompt` after what the context holds, then sample until a stop
 * condition. The sampler sees the prompt in its penalty history. */
RZ_API rz_status rz_generate(rz_context *ctx, rz_sampler *sampler, const int32_t *prompt, size_t n_prompt,
                             const rz_generate_params *params, rz_token_callback on_token, void *user,
                             rz_generate_result *result);

/* rz_generate a token at a time, for callers that pull text (an iterator in
 * a language binding) rather than take callbacks: begin evaluates the
 * prompt; each step emits one token's text through on_token (as rz_generate
 * does, text may be held back and a step may emit none) or stops, setting
 * *done; end frees the generation and gives the result. Ending before *done
 * stops with RZ_STOP_CALLBACK. The context and sampler belong to the
 * generation until end. */
typedef struct rz_generation rz_generation;
RZ_API rz_status rz_generation_begin(rz_context *ctx, rz_sampler *sampler, const int32_t *prompt,
                                     size_t n_prompt, const rz_generate_params *params, rz_generation **out);
RZ_API rz_status rz_generation_step(rz_generation *g, rz_token_callback on_token, void *user, bool *done);
RZ_API rz_status rz_generation_end(rz_generation *g, rz_generate_result *result);

/* ----------------------------------------------------- speculative decoding */

typedef struct rz_speculative_params {
    rz_context *draft;            /* draft model's context (same vocabulary); NULL: prompt lookup */
    int32_t n_draft;              /* max tokens proposed per target pass */
    int32_t ngram_min, ngram_max; /* prompt lookup: suffix lengths matched, longest first */
} rz_speculative_params;

typedef struct rz_speculative_stats {
    uint64_t n_target_passes; /* verification passes (one rz_decode each) */
    uint64_t n_drafted;       /* tokens proposed */
    uint64_t n_accepted;      /* proposals the target accepted */
    uint64_t n_tokens;        /* tokens produced (accepted + one per pass) */
} rz_speculative_stats;

RZ_API rz_speculative_params rz_speculative_default_params(void);
/* A speculator for one target context (and its draft context, which it
 * owns the contents of and must be at least as long). */
RZ_API rz_status rz_speculator_create(const rz_context *target, const rz_speculative_params *params,
                                      rz_speculator **out);
RZ_API void rz_speculator_free(rz_speculator *spec);
/* Record tokens decoded into the target outside rz_speculator_step (the
 * prompt). The speculator's record is the target's cache contents: if the
 * target was truncated, the record is cut to match on the next step. */
RZ_API rz_status rz_speculator_push(rz_speculator *spec, const int32_t *tokens, size_t n);
/* Forget the record (after emptying or shifting the target). */
RZ_API void rz_speculator_reset(rz_speculator *spec);
/* Mirror rz_context_shift(target, n_keep, n_discard) in the record and the
 * draft context. */
RZ_API rz_status rz_speculator_shift(rz_speculator *spec, uint32_t n_keep, uint32_t n_discard);
/* One step (the entry point for custom generation loops). `last` is the
 * newest token: chosen (and accepted by the sampler) but not yet decoded.
 * Decodes it plus up to min(n_draft, max_new - 1) proposed tokens in one
 * target pass, and writes the tokens that follow `last` to out[0 .. *n_out),
 * 1 <= *n_out <= max_new (out holds max_new): the accepted proposals, then
 * one token drawn from the target's distribution, so that the output has
 * the target's distribution (greedy: is the target's greedy output). The
 * sampler accepts each output token; the target then holds `last` and all
 * of out but its final token, which becomes the next `last`. RZ_ERR_RANGE if
 * the target has no room for `last`. */
RZ_API rz_status rz_speculator_step(rz_speculator *spec, rz_context *target, rz_sampler *sampler,
                                    int32_t last, uint32_t max_new, int32_t *out, uint32_t *n_out);
RZ_API rz_speculative_stats rz_speculator_stats(const rz_speculator *spec);

/* Stop strings over streamed text (what rz_generate uses): push each piece of
 * generated text; *out (of *out_len bytes) is the text to show now (valid
 * until the next call), holding back a tail that may start a stop string.
 * *hit_stop: a stop string appeared; the text before it was the last output.
 * Empty stop strings are ignored. */
typedef struct rz_stop_filter rz_stop_filter;
RZ_API rz_status rz_stop_filter_create(const char *const *stops, size_t n_stops, rz_stop_filter **out);
RZ_API void rz_stop_filter_free(rz_stop_filter *f);
RZ_API rz_status rz_stop_filter_push(rz_stop_filter *f, const char *text, size_t len, const char **out,
                                     size_t *out_len, bool *hit_stop);
/* At the end of generation: the text still held back (none after a stop). */
RZ_API void rz_stop_filter_flush(rz_stop_filter *f, const char **out, size_t *out_len);

/* Wall clock in seconds (monotonic), for timings. */
RZ_API double rz_time_seconds(void);

#ifdef __cplusplus
}
#endif
#endif
