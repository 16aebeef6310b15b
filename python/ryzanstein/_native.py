"""ctypes declarations of libryzanstein's public C API (include/ryzanstein.h).

The structures mirror the header field for field; tests/test_abi.py compiles
the header and checks every size and offset against these. ctypes releases
the GIL around each foreign call, so generation in one thread lets the others
run.
"""

from __future__ import annotations

import ctypes
import glob
import os
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int32,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
)

RZ_OK = 0
RZ_ERR_NOT_FOUND = 5
RZ_ERR_RANGE = 8
STATUS_NAMES = (
    "ok",
    "invalid argument",
    "i/o error",
    "format error",
    "out of memory",
    "not found",
    "type mismatch",
    "unsupported",
    "out of range",
)

RZ_MAX_CPUS = 1024

# rz_stop_reason
STOP_NONE, STOP_END_TOKEN, STOP_LENGTH, STOP_STRING, STOP_CONTEXT, STOP_CALLBACK = range(6)

rz_type = c_int  # C enums are ints


class rz_str(Structure):
    _fields_ = [("ptr", c_void_p), ("len", c_uint64)]


class rz_cpu_info(Structure):
    _fields_ = [
        ("vendor", c_char * 16),
        ("brand", c_char * 64),
        ("sse42", c_bool),
        ("avx", c_bool),
        ("avx2", c_bool),
        ("fma", c_bool),
        ("f16c", c_bool),
        ("avx512f", c_bool),
        ("avx512bw", c_bool),
        ("avx512vl", c_bool),
        ("avx512dq", c_bool),
        ("avx512vnni", c_bool),
        ("avx512bf16", c_bool),
        ("avx512vbmi", c_bool),
        ("gfni", c_bool),
        ("avxvnni", c_bool),
        ("logical_cores", c_int),
        ("physical_cores", c_int),
    ]


class rz_cpu_set(Structure):
    _fields_ = [("bits", c_uint64 * (RZ_MAX_CPUS // 64))]


class rz_model_params(Structure):
    _fields_ = [
        ("tokenizer_path", c_char_p),
        ("vocab_only", c_bool),
        ("no_repack", c_bool),
        ("lut", c_bool),
    ]


class rz_model_desc(Structure):
    _fields_ = [
        ("arch", c_char * 32),
        ("format", c_char * 16),
        ("n_vocab", c_int32),
        ("n_ctx_train", c_int32),
        ("n_embd", c_int32),
        ("n_layer", c_int32),
        ("n_head", c_int32),
        ("n_head_kv", c_int32),
        ("n_ff", c_int32),
        ("n_rot", c_int32),
        ("rms_eps", c_float),
        ("rope_freq_base", c_float),
        ("head_dim", c_int32),
        ("rope_neox", c_bool),
        ("rope_freq_scale", c_float),
        ("rope_factors", c_bool),
        ("n_swa", c_int32),
        ("swa_pattern", c_int32),
        ("rope_freq_base_swa", c_float),
        ("attn_softcap", c_float),
        ("final_softcap", c_float),
        ("n_expert", c_int32),
        ("n_expert_used", c_int32),
        ("n_ff_exp", c_int32),
        ("expert_weights_norm", c_bool),
        ("weight_type", rz_type),
        ("output_type", rz_type),
        ("tied_output", c_bool),
        ("n_params", c_uint64),
        ("weight_bytes", c_uint64),
        ("bos", c_int32),
        ("eos", c_int32),
        ("has_vocab", c_bool),
        ("encoder", c_bool),
        ("pooling", c_int),
        ("recurrent", c_bool),
        ("state_bytes", c_uint64),
    ]


class rz_context_params(Structure):
    _fields_ = [
        ("n_ctx", c_uint32),
        ("n_threads", c_int32),
        ("n_batch", c_uint32),
        ("type_k", rz_type),
        ("type_v", rz_type),
        ("cpu_mask", rz_cpu_set),
        ("cpu_strict", c_bool),
        ("numa", c_int),
        ("prio", c_int32),
    ]


class rz_embed_params(Structure):
    _fields_ = [("pooling", c_int), ("normalize", c_bool)]


class rz_sampler_params(Structure):
    _fields_ = [
        ("temperature", c_float),
        ("top_k", c_int32),
        ("top_p", c_float),
        ("min_p", c_float),
        ("repeat_penalty", c_float),
        ("frequency_penalty", c_float),
        ("presence_penalty", c_float),
        ("penalty_last_n", c_int32),
        ("seed", c_uint64),
    ]


class rz_generate_params(Structure):
    _fields_ = [
        ("n_predict", c_int32),
        ("stop_strings", POINTER(c_char_p)),
        ("n_stop_strings", c_size_t),
        ("ignore_end_token", c_bool),
        ("ctx_shift", c_bool),
        ("n_keep", c_uint32),
        ("speculator", c_void_p),
    ]


class rz_generate_result(Structure):
    _fields_ = [
        ("stop_reason", c_int),
        ("n_prompt", c_uint32),
        ("n_generated", c_uint32),
        ("prompt_seconds", c_double),
        ("generate_seconds", c_double),
    ]


class rz_quantize_params(Structure):
    _fields_ = [
        ("preset", c_char_p),
        ("output_type", rz_type),
        ("token_embedding_type", rz_type),
        ("pure", c_bool),
        ("n_threads", c_int32),
        ("progress", c_void_p),
        ("progress_user", c_void_p),
    ]


class rz_chat_message(Structure):
    _fields_ = [("role", c_char_p), ("content", c_char_p)]


class rz_chat_fault(Structure):
    _fields_ = [("message", c_size_t), ("field", c_char_p)]


PROGRESS_FN = CFUNCTYPE(None, c_void_p, c_uint64, c_uint64)
TOKEN_FN = CFUNCTYPE(c_bool, c_void_p, c_int32, c_void_p, c_size_t)

# name: (result type, argument types)
_SIGNATURES = {
    "rz_last_error": (c_char_p, []),
    "rz_cpu_info_get": (POINTER(rz_cpu_info), []),
    "rz_isa_best": (c_int, []),
    "rz_isa_active": (c_int, []),
    "rz_isa_name": (c_char_p, [c_int]),
    "rz_type_name": (c_char_p, [rz_type]),
    "rz_type_from_name": (c_int, [c_char_p, POINTER(rz_type)]),
    "rz_quantize_params_init": (None, [POINTER(rz_quantize_params)]),
    "rz_quantize_model": (c_int, [c_char_p, c_char_p, POINTER(rz_quantize_params)]),
    "rz_model_default_params": (rz_model_params, []),
    "rz_model_load": (c_int, [c_char_p, POINTER(rz_model_params), POINTER(c_void_p)]),
    "rz_model_free": (None, [c_void_p]),
    "rz_model_describe": (POINTER(rz_model_desc), [c_void_p]),
    "rz_model_meta_str": (c_int, [c_void_p, c_char_p, POINTER(rz_str)]),
    "rz_tokenize": (
        c_int,
        [c_void_p, c_char_p, c_size_t, c_bool, c_bool, POINTER(c_int32), c_size_t, POINTER(c_size_t)],
    ),
    "rz_detokenize": (
        c_int,
        [c_void_p, POINTER(c_int32), c_size_t, POINTER(c_char), c_size_t, POINTER(c_size_t)],
    ),
    "rz_chat_template_name": (c_char_p, [c_int]),
    "rz_chat_template_from_name": (c_int, [c_char_p, POINTER(c_int)]),
    "rz_model_chat_template": (c_int, [c_void_p, POINTER(c_int)]),
    "rz_chat_render": (
        c_int,
        [c_int, POINTER(rz_chat_message), c_size_t, c_int64, POINTER(c_void_p), POINTER(rz_chat_fault)],
    ),
    "rz_chat_end_of_turn": (POINTER(c_char_p), [c_int]),
    "rz_free": (None, [c_void_p]),
    "rz_context_default_params": (rz_context_params, []),
    "rz_context_create": (c_int, [c_void_p, POINTER(rz_context_params), POINTER(c_void_p)]),
    "rz_context_free": (None, [c_void_p]),
    "rz_context_n_ctx": (c_uint32, [c_void_p]),
    "rz_context_n_threads": (c_int32, [c_void_p]),
    "rz_context_n_past": (c_uint32, [c_void_p]),
    "rz_context_truncate": (c_int, [c_void_p, c_uint32]),
    "rz_decode": (c_int, [c_void_p, POINTER(c_int32), c_uint32, POINTER(c_bool)]),
    "rz_embed_default_params": (rz_embed_params, []),
    "rz_embed_ext": (c_int, [c_void_p, POINTER(c_int32), c_uint32, POINTER(rz_embed_params), POINTER(c_float)]),
    "rz_get_logits": (POINTER(c_float), [c_void_p, c_int32]),
    "rz_sampler_default_params": (rz_sampler_params, []),
    "rz_sampler_create": (c_int, [POINTER(rz_sampler_params), c_int32, POINTER(c_void_p)]),
    "rz_sampler_free": (None, [c_void_p]),
    "rz_generation_begin": (
        c_int,
        [c_void_p, c_void_p, POINTER(c_int32), c_size_t, POINTER(rz_generate_params), POINTER(c_void_p)],
    ),
    "rz_generation_step": (c_int, [c_void_p, TOKEN_FN, c_void_p, POINTER(c_bool)]),
    "rz_generation_end": (c_int, [c_void_p, POINTER(rz_generate_result)]),
    "rz_generate": (
        c_int,
        [
            c_void_p,
            c_void_p,
            POINTER(c_int32),
            c_size_t,
            POINTER(rz_generate_params),
            TOKEN_FN,
            c_void_p,
            POINTER(rz_generate_result),
        ],
    ),
}


def _candidates() -> list[str]:
    env = os.environ.get("RYZANSTEIN_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    found = sorted(glob.glob(os.path.join(here, "libryzanstein.so*")))
    # In a checkout: python/ryzanstein -> the CMake build tree.
    build = os.environ.get("RZ_BUILD_DIR") or os.path.join(here, "..", "..", "build")
    found += sorted(glob.glob(os.path.join(build, "libryzanstein.so*")))
    return found


def load() -> ctypes.CDLL:
    candidates = _candidates()
    if not candidates:
        raise OSError(
            "libryzanstein.so not found: set RYZANSTEIN_LIB to its path, or build the project "
            "(cmake -S . -B build && cmake --build build)"
        )
    errors = []
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            errors.append(f"{path}: {e}")
    else:
        raise OSError("cannot load libryzanstein: " + "; ".join(errors))
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


lib = load()
