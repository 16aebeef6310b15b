#!/usr/bin/env python3
"""Writes a llama2.c (legacy v0) checkpoint as a Hugging Face LlamaForCausalLM
directory: config.json, model.safetensors (or pytorch_model.bin with --torch,
or shards with --shards N) with HF's Q/K row order, and optionally a
SentencePiece tokenizer.model. For tests: nothing is downloaded."""
import argparse
import json
import os
import shutil
import struct
import sys

try:
    import numpy as np

    from hf_writer import to_hf_rope_order, write_safetensors
except ImportError:
    sys.exit(77)  # the tests' "skipped"


def read_llama2c(path):
    raw = open(path, "rb").read()
    dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    w = np.frombuffer(raw, dtype="<f4", offset=28)
    head = dim // heads
    at = 0

    def take(*shape):
        nonlocal at
        n = int(np.prod(shape))
        a = w[at:at + n].reshape(shape)
        at += n
        return a

    t = {"embed": take(vocab, dim), "rms_att": take(layers, dim), "wq": take(layers, dim, dim),
         "wk": take(layers, kv_heads * head, dim), "wv": take(layers, kv_heads * head, dim),
         "wo": take(layers, dim, dim), "rms_ffn": take(layers, dim), "w1": take(layers, hidden, dim),
         "w2": take(layers, dim, hidden), "w3": take(layers, hidden, dim), "rms_final": take(dim)}
    take(seq_len, head // 2)  # legacy freq_cis_real
    take(seq_len, head // 2)  # and imag
    if not shared:
        t["wcls"] = take(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab,
               seq_len=seq_len)
    return cfg, t


def state_dict(cfg, t):
    # lm_head is written even when shared, as llama2.c's own HF export does.
    sd = {"model.embed_tokens.weight": t["embed"], "model.norm.weight": t["rms_final"],
          "lm_head.weight": t.get("wcls", t["embed"])}
    for i in range(cfg["layers"]):
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = t["rms_att"][i]
        sd[p + "self_attn.q_proj.weight"] = to_hf_rope_order(t["wq"][i], cfg["heads"])
        sd[p + "self_attn.k_proj.weight"] = to_hf_rope_order(t["wk"][i], cfg["kv_heads"])
        sd[p + "self_attn.v_proj.weight"] = t["wv"][i]
        sd[p + "self_attn.o_proj.weight"] = t["wo"][i]
        sd[p + "post_attention_layernorm.weight"] = t["rms_ffn"][i]
        sd[p + "mlp.gate_proj.weight"] = t["w1"][i]
        sd[p + "mlp.down_proj.weight"] = t["w2"][i]
        sd[p + "mlp.up_proj.weight"] = t["w3"][i]
    return sd


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("checkpoint")
    ap.add_argument("out_dir")
    ap.add_argument("--tokenizer-model", help="SentencePiece tokenizer.model to include")
    ap.add_argument("--torch", action="store_true", help="pytorch_model.bin instead of safetensors")
    ap.add_argument("--shards", type=int, default=1, help="shards (safetensors or .bin) with an index")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    args = ap.parse_args()
    cfg, t = read_llama2c(args.checkpoint)
    dtype = "<f2" if args.dtype == "f16" else "<f4"
    sd = {k: v.astype(dtype) for k, v in state_dict(cfg, t).items()}
    os.makedirs(args.out_dir, exist_ok=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": cfg["dim"],
              "intermediate_size": cfg["hidden"], "num_hidden_layers": cfg["layers"],
              "num_attention_heads": cfg["heads"], "num_key_value_heads": cfg["kv_heads"],
              "vocab_size": cfg["vocab"], "max_position_embeddings": cfg["seq_len"], "rms_norm_eps": 1e-5,
              "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
              "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if args.torch:
        try:
            import torch
        except ImportError:
            sys.exit(77)

        def save(path, part):
            torch.save({k: torch.from_numpy(np.array(sd[k])) for k in part}, path)
        base, ext, index = "pytorch_model", "bin", "pytorch_model.bin.index.json"
    else:
        def save(path, part):
            write_safetensors(path, {k: sd[k] for k in part}, dtype)
        base, ext, index = "model", "safetensors", "model.safetensors.index.json"
    names = list(sd)
    if args.shards == 1:
        save(os.path.join(args.out_dir, f"{base}.{ext}"), names)
    else:
        weight_map = {}
        for s in range(args.shards):
            part = names[s::args.shards]
            fname = f"{base}-{s + 1:05d}-of-{args.shards:05d}.{ext}"
            save(os.path.join(args.out_dir, fname), part)
            weight_map.update({k: fname for k in part})
        with open(os.path.join(args.out_dir, index), "w") as f:
            json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=2)
    if args.tokenizer_model:
        shutil.copyfile(args.tokenizer_model, os.path.join(args.out_dir, "tokenizer.model"))


if __name__ == "__main__":
    main()
