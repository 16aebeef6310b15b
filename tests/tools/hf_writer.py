"""Writing Hugging Face model files for the tests: safetensors, and HF's
RoPE row order. Shared by gguf_to_hf.py and llama2c_to_hf.py."""
import json

import numpy as np


def to_hf_rope_order(w, n_heads):
    """GGUF's llama (and llama2.c) rotate adjacent pairs; HF rotates the two halves of each head."""
    rows = w.shape[0]
    hd = rows // n_heads
    return w.reshape(n_heads, hd // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_safetensors(path, tensors, dtype):
    """Float tensors in `dtype`; F16 and integer ones as they are."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors.items():
        if a.dtype == np.float32:
            a = a.astype(dtype)
        b = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": {"<f4": "F32", "<f2": "F16", "|u1": "U8"}[a.dtype.str], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h)
        for b in blobs:
            f.write(b)
