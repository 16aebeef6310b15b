#!/usr/bin/env python3
"""Writes an F32/F16 GGUF of a supported architecture as the Hugging Face
directory it would have been converted from: config.json and
model.safetensors with HF's tensor names and layouts (Q/K rows in HF's RoPE
order for llama, experts unstacked, Gemma norms stored as w - 1; RWKV's
mixes unstacked and LoRAs and rescaling undone, Mamba's A as A_log). The inverse
of what `rz convert` / rz_hf_open do, so tests can round-trip the models of
../shared/testdata/arch. With tests/tools/gguf_vocab_to_hf.py beside it, the
vocabulary goes along as tokenizer.json."""
import argparse
import json
import os
import sys

try:
    import numpy as np

    from gguf_reader import GGUFReader
    import gguf_vocab_to_hf
    from hf_writer import to_hf_rope_order, write_safetensors
except ImportError:
    sys.exit(77)  # the tests' "skipped"

# GGUF architecture -> (HF class, model_type)
CLASSES = {
    "llama": ("LlamaForCausalLM", "llama"),
    "qwen2": ("Qwen2ForCausalLM", "qwen2"),
    "qwen3": ("Qwen3ForCausalLM", "qwen3"),
    "qwen3moe": ("Qwen3MoeForCausalLM", "qwen3_moe"),
    "gemma2": ("Gemma2ForCausalLM", "gemma2"),
    "gemma3": ("Gemma3ForCausalLM", "gemma3_text"),
    "phi3": ("Phi3ForCausalLM", "phi3"),
    "gpt-oss": ("GptOssForCausalLM", "gpt_oss"),
    "bert": ("BertModel", "bert"),
    "nomic-bert": ("NomicBertModel", "nomic_bert"),
    "bitnet-b1.58": ("BitNetForCausalLM", "bitnet"),
    "bitnet": ("BitNetForCausalLM", "bitnet"),
    "rwkv6": ("Rwkv6ForCausalLM", "rwkv6"),
    "rwkv7": ("RWKV7ForCausalLM", "rwkv7"),
    "mamba": ("MambaForCausalLM", "mamba"),
    "mamba2": ("Mamba2ForCausalLM", "mamba2"),
}

LAYER_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_qkv": "self_attn.qkv_proj", "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_sub_norm": "self_attn.attn_sub_norm", "ffn_sub_norm": "mlp.ffn_sub_norm", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj", "ffn_gate_inp": "mlp.gate",
}
GEMMA_NAMES = {"post_attention_norm": "post_attention_layernorm", "ffn_norm": "pre_feedforward_layernorm",
               "post_ffw_norm": "post_feedforward_layernorm"}
EXPERTS = {"qwen3moe": ("mlp.experts", {"ffn_gate_exps": "gate_proj", "ffn_up_exps": "up_proj",
                                        "ffn_down_exps": "down_proj"}),
           "llama": ("block_sparse_moe.experts", {"ffn_gate_exps": "w1", "ffn_up_exps": "w3",
                                                   "ffn_down_exps": "w2"})}
GLOBAL_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
BERT_LAYER_NAMES = {
    "attn_q": "attention.self.query", "attn_k": "attention.self.key", "attn_v": "attention.self.value",
    "attn_output": "attention.output.dense", "attn_output_norm": "attention.output.LayerNorm",
    "ffn_up": "intermediate.dense", "ffn_down": "output.dense", "layer_output_norm": "output.LayerNorm",
}
BERT_GLOBAL_NAMES = {"token_embd": "embeddings.word_embeddings", "position_embd": "embeddings.position_embeddings",
                     "token_types": "embeddings.token_type_embeddings", "token_embd_norm": "embeddings.LayerNorm"}
NOMIC_LAYER_NAMES = {"attn_qkv": "attn.Wqkv", "attn_output": "attn.out_proj", "attn_output_norm": "norm1",
                     "ffn_up": "mlp.fc11", "ffn_gate": "mlp.fc12", "ffn_down": "mlp.fc2", "layer_output_norm": "norm2"}
NOMIC_GLOBAL_NAMES = {"token_embd": "embeddings.word_embeddings", "token_types": "embeddings.token_type_embeddings",
                      "token_embd_norm": "emb_ln"}
# Nomic's config.json spells the usual fields as GPT-2 does.
NOMIC_CONFIG_NAMES = {"hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                      "intermediate_size": "n_inner", "max_position_embeddings": "n_positions",
                      "layer_norm_eps": "layer_norm_epsilon", "rope_theta": "rotary_emb_base"}
POOLING_MODES = {1: "pooling_mode_mean_tokens", 2: "pooling_mode_cls_token", 3: "pooling_mode_lasttoken"}

# GGUF key suffix -> config.json field
INT_KEYS = {"context_length": "max_position_embeddings", "embedding_length": "hidden_size",
            "block_count": "num_hidden_layers", "feed_forward_length": "intermediate_size",
            "attention.head_count": "num_attention_heads", "attention.head_count_kv": "num_key_value_heads",
            "attention.key_length": "head_dim", "expert_feed_forward_length": "moe_intermediate_size",
            "expert_used_count": "num_experts_per_tok", "attention.sliding_window": "sliding_window",
            "attention.sliding_window_pattern": "sliding_window_pattern"}
FLOAT_KEYS = {"attention.layer_norm_rms_epsilon": "rms_norm_eps", "rope.freq_base": "rope_theta",
              "rope.freq_base_swa": "rope_local_base_freq", "attn_logit_softcapping": "attn_logit_softcapping",
              "final_logit_softcapping": "final_logit_softcapping"}

# Attention-free models: GGUF layer tensor -> (HF name after the layer prefix, how it is stored)
RWKV6_NAMES = {
    "attn_norm": "ln1", "attn_norm_2": "ln2", "time_mix_lerp_x": "attention.time_maa_x",
    "time_mix_w1": "attention.time_maa_w1", "time_mix_w2": "attention.time_maa_w2",
    "time_mix_decay": "attention.time_decay", "time_mix_decay_w1": "attention.time_decay_w1",
    "time_mix_decay_w2": "attention.time_decay_w2", "time_mix_first": "attention.time_faaaa",
    "time_mix_key": "attention.key", "time_mix_value": "attention.value",
    "time_mix_receptance": "attention.receptance", "time_mix_gate": "attention.gate",
    "time_mix_output": "attention.output", "time_mix_ln": "attention.ln_x",
    "channel_mix_lerp_k": "feed_forward.time_maa_k", "channel_mix_lerp_r": "feed_forward.time_maa_r",
    "channel_mix_key": "feed_forward.key", "channel_mix_receptance": "feed_forward.receptance",
    "channel_mix_value": "feed_forward.value",
}
RWKV7_NAMES = {
    "attn_norm": "attn_norm", "attn_norm_2": "ffn_norm", "time_mix_k_k": "attn.k_k", "time_mix_k_a": "attn.k_a",
    "time_mix_r_k": "attn.r_k", "time_mix_receptance": "attn.r_proj", "time_mix_key": "attn.k_proj",
    "time_mix_value": "attn.v_proj", "time_mix_output": "attn.o_proj", "time_mix_ln": "attn.g_norm",
    "channel_mix_lerp_k": "ffn.x_k", "channel_mix_key": "ffn.key", "channel_mix_value": "ffn.value",
    **{f"time_mix_{x}{i}": f"attn.{x}_lora.lora.{2 * (i - 1)}" for x in "wavg" for i in (1, 2)},
}
MAMBA_NAMES = {
    "attn_norm": "norm", "ssm_in": "mixer.in_proj", "ssm_conv1d": "mixer.conv1d", "ssm_x": "mixer.x_proj",
    "ssm_dt": "mixer.dt_proj", "ssm_a": "mixer.A_log", "ssm_d": "mixer.D", "ssm_out": "mixer.out_proj",
    "ssm_norm": "mixer.norm",
}
REC_GLOBALS = {
    "rwkv6": {"token_embd": "rwkv.embeddings", "token_embd_norm": "rwkv.blocks.0.pre_ln",
              "output_norm": "rwkv.ln_out", "output": "head"},
    "rwkv7": {"token_embd": "model.embeddings", "token_embd_norm": "model.layers.0.pre_norm",
              "output_norm": "model.norm", "output": "lm_head"},
    "mamba": {"token_embd": "backbone.embeddings", "output_norm": "backbone.norm_f", "output": "lm_head"},
}
REC_GLOBALS["mamba2"] = REC_GLOBALS["mamba"]
LERPS = {"rwkv6": ("attention.time_maa_", "wkvrg"), "rwkv7": ("attn.x_", "rwkvag")}


def a_log(a):
    """The float32 A_log whose -exp (in double, rounded to float) comes closest to A."""
    best = np.log(-a.astype(np.float64)).astype(np.float32)
    err = lambda x: np.abs((-np.exp(x.astype(np.float64))).astype(np.float32) - a)
    for direction in (np.inf, -np.inf):
        x = best.copy()
        for _ in range(3):
            x = np.nextafter(x, np.float32(direction)).astype(np.float32)
            best = np.where(err(x) < err(best), x, best)
    return best


def rec_config(md, arch, hidden, layers, vocab, r):
    cfg = {"hidden_size": hidden, "num_hidden_layers": layers, "vocab_size": vocab}
    if arch == "rwkv6":
        cfg.update(head_size=int(md["wkv.head_size"]), layer_norm_epsilon=float(md["attention.layer_norm_epsilon"]),
                   rescale_every=int(md["rescale_every_n_layers"]), intermediate_size=int(md["feed_forward_length"]),
                   num_attention_heads=hidden // int(md["wkv.head_size"]), head_size_divisor=8)
    elif arch == "rwkv7":  # fla-hub's RWKV7Config
        cfg.update(head_dim=int(md["wkv.head_size"]), num_heads=hidden // int(md["wkv.head_size"]),
                   norm_eps=float(md["attention.layer_norm_epsilon"]), intermediate_size=int(md["feed_forward_length"]),
                   decay_low_rank_dim=int(md["attention.decay_lora_rank"]),
                   a_low_rank_dim=int(md["attention.iclr_lora_rank"]),
                   v_low_rank_dim=int(md["attention.value_residual_mix_lora_rank"]),
                   gate_low_rank_dim=int(md["attention.gate_lora_rank"]))
    else:
        inner = int(md["ssm.inner_size"])
        cfg.update(state_size=int(md["ssm.state_size"]), conv_kernel=int(md["ssm.conv_kernel"]),
                   layer_norm_epsilon=float(md["attention.layer_norm_rms_epsilon"]), expand=inner // hidden)
        if arch == "mamba":
            cfg.update(intermediate_size=inner, time_step_rank=int(md["ssm.time_step_rank"]))
        else:  # Mamba2Config: heads of head_dim, time_step_rank unused ("auto")
            heads = int(md["ssm.time_step_rank"])
            cfg.update(num_heads=heads, head_dim=inner // heads, n_groups=int(md["ssm.group_count"]),
                       time_step_rank="auto")
    return cfg


def rec_tensors(r, arch, cfg):
    """The inverse of the converter's transforms for RWKV 6/7 and Mamba 1/2."""
    out = {}
    prefix = {"rwkv6": "rwkv.blocks.", "rwkv7": "model.layers."}.get(arch, "backbone.layers.")
    names = {"rwkv6": RWKV6_NAMES, "rwkv7": RWKV7_NAMES}.get(arch, MAMBA_NAMES)
    for t in r.tensors:
        parts = t.name.split(".")
        w = t.to_float32()
        if parts[0] != "blk":
            out[f"{REC_GLOBALS[arch][parts[0]]}.{parts[-1]}"] = w
            continue
        layer, kind = int(parts[1]), parts[2]
        p = f"{prefix}{layer}."
        if kind == "time_mix_lerp_fused":  # one [1, 1, n] parameter per mix
            stem, order = LERPS[arch]
            for i, x in enumerate(order):
                out[f"{p}{stem}{x}"] = w[i].reshape(1, 1, -1)
            continue
        if arch == "rwkv7" and kind in ("time_mix_w0", "time_mix_a0", "time_mix_v0"):
            out[f"{p}attn.{kind[9]}_lora.lora.2.bias"] = w
            continue
        name = names[kind]
        # parameters, stored without .weight
        param = len(parts) == 3 or (arch == "rwkv6" and name.split(".")[-1].startswith("time_")) or (
            arch == "rwkv7" and kind in ("time_mix_k_k", "time_mix_k_a", "time_mix_r_k", "channel_mix_lerp_k"))
        if kind in ("time_mix_w1", "time_mix_decay_w1", "time_mix_decay_w2") and arch == "rwkv6":
            w = w.T  # stored for x @ W
        elif kind == "time_mix_w2" and arch == "rwkv6":
            w = w.transpose(0, 2, 1)
        elif kind in ("time_mix_lerp_x", "time_mix_decay", "channel_mix_lerp_k", "channel_mix_lerp_r"):
            w = w.reshape(1, 1, -1) if arch == "rwkv6" else w.reshape(-1)
        elif kind == "time_mix_r_k":
            w = w.reshape(cfg["num_heads"], -1)
        elif kind == "ssm_conv1d" and parts[3] == "weight":
            w = w.reshape(w.shape[0], 1, w.shape[1])
        elif kind == "ssm_a":
            w = a_log(w).reshape(-1 if arch == "mamba2" else w.shape)
        elif kind in ("ssm_d", "ssm_norm"):
            w = w.reshape(-1)
        if arch == "rwkv6" and kind in ("time_mix_output", "channel_mix_value"):
            w = w * np.float32(2.0 ** (layer // cfg["rescale_every"]))  # the converter divides
        if arch == "mamba2" and kind == "ssm_dt":
            out[f"{p}mixer.dt_bias"] = w
        elif param:
            out[p + name] = w
        else:
            out[f"{p}{name}.{parts[3]}"] = w
    return out



def config_for(r, rope_scaling, bitnet_linear):
    arch = r.metadata["general.architecture"]
    md = {k[len(arch) + 1:]: v for k, v in r.metadata.items() if k.startswith(arch + ".")}
    embd = r.tensor("token_embd.weight")
    if arch in ("rwkv6", "rwkv7", "mamba", "mamba2"):
        hf_class, model_type = CLASSES[arch]
        cfg = {"architectures": [hf_class], "model_type": model_type, "torch_dtype": "float32",
               **rec_config(md, arch, int(md["embedding_length"]), int(md["block_count"]), int(embd.ne[1]), r),
               "tie_word_embeddings": not any(t.name == "output.weight" for t in r.tensors)}
        return arch, cfg
    moe = "expert_count" in md
    hf_class, model_type = ("MixtralForCausalLM", "mixtral") if arch == "llama" and moe else CLASSES[arch]
    cfg = {"architectures": [hf_class], "model_type": model_type, "torch_dtype": "float32"}
    for key, field in INT_KEYS.items():
        if key in md:
            cfg[field] = int(md[key])
    for key, field in FLOAT_KEYS.items():
        if key in md:
            cfg[field] = float(md[key])
    if moe:
        cfg["num_local_experts" if arch in ("llama", "gpt-oss") else "num_experts"] = int(md["expert_count"])
    embd = r.tensor("token_embd.weight")
    cfg["vocab_size"] = int(embd.ne[1])
    cfg["tie_word_embeddings"] = not any(t.name == "output.weight" for t in r.tensors)
    if md.get("rope.scaling.type") in ("linear", "yarn"):
        cfg["rope_scaling"] = {"rope_type": md["rope.scaling.type"], "factor": float(md["rope.scaling.factor"])}
    if rope_scaling:
        cfg["rope_scaling"] = json.loads(rope_scaling)
    if arch == "gpt-oss":
        cfg["experts_per_token"] = cfg.pop("num_experts_per_tok")  # gpt-oss's own spelling
        cfg["intermediate_size"] = int(md["expert_feed_forward_length"])
        del cfg["moe_intermediate_size"]
        if md.get("rope.scaling.type") == "yarn":
            cfg["rope_scaling"]["original_max_position_embeddings"] = int(md["rope.scaling.original_context_length"])
    if arch.startswith("bitnet"):
        cfg["hidden_act"] = "silu" if arch == "bitnet" else "relu2"
        cfg["quantization_config"] = {"quant_method": "bitnet", "linear_class": bitnet_linear}
    if arch in ("bert", "nomic-bert"):
        cfg["layer_norm_eps"] = float(md["attention.layer_norm_epsilon"])
        cfg["type_vocab_size"] = int(r.tensor("token_types.weight").ne[1])
        del cfg["tie_word_embeddings"]
    if arch == "nomic-bert":
        cfg["activation_function"] = "swiglu"
        cfg = {NOMIC_CONFIG_NAMES.get(k, k): v for k, v in cfg.items()}
    if arch.startswith("gemma"):
        cfg["query_pre_attn_scalar"] = cfg.get("head_dim", cfg["hidden_size"] // cfg["num_attention_heads"])
    return arch, cfg


def pack_ternary(w):
    """transformers' BitNet packing of a ternary [rows, cols] matrix: [rows/4, cols]
    bytes, bits 2i..2i+1 of byte (r, c) holding row i*rows/4 + r as value + 1."""
    q = w.shape[0] // 4
    codes = (np.rint(w).astype(np.int8) + 1).astype(np.uint8)
    packed = np.zeros((q, w.shape[1]), dtype=np.uint8)
    for i in range(4):
        packed |= codes[i * q:(i + 1) * q] << (2 * i)
    return packed


def hf_mxfp4(raw, rows):
    """ggml MXFP4 rows (per block: scale byte, then element j in the low and j+16 in the high nibble of
    byte j) -> transformers' _blocks [.., rows, nb, 16] (elements 2k, 2k+1 in byte k) and _scales."""
    b = raw.reshape(-1, rows, raw.shape[-1] // 17, 17)
    qs = b[..., 1:]
    nibbles = np.concatenate([qs & 15, qs >> 4], axis=-1)  # element order
    return (nibbles[..., 0::2] | (nibbles[..., 1::2] << 4)).astype(np.uint8), b[..., 0].copy()


def interleave(a, b, axis):
    """gpt-oss keeps gate and up alternating along `axis`: a0 b0 a1 b1 ..."""
    axis %= a.ndim
    return np.stack([a, b], axis=axis + 1).reshape(*a.shape[:axis], 2 * a.shape[axis], *a.shape[axis + 1:])


def gpt_oss_experts(r, layer, out):
    """llama.cpp's gpt-oss experts -> the stored forms: gate_up_proj [E, embd, 2ff] and down_proj
    [E, ff, embd] (transposed, gate/up interleaved), or MXFP4 _blocks/_scales; and the biases."""
    p = f"model.layers.{layer}.mlp.experts."
    gate, up, down = (r.tensor(f"blk.{layer}.ffn_{k}_exps.weight") for k in ("gate", "up", "down"))
    if gate.type_name == "MXFP4":
        gb, gs = hf_mxfp4(gate.data, gate.ne[1])
        ub, us = hf_mxfp4(up.data, up.ne[1])
        out[p + "gate_up_proj_blocks"] = interleave(gb, ub, 1)
        out[p + "gate_up_proj_scales"] = interleave(gs, us, 1)
        out[p + "down_proj_blocks"], out[p + "down_proj_scales"] = hf_mxfp4(down.data, down.ne[1])
    else:
        g, u = gate.to_float32().transpose(0, 2, 1), up.to_float32().transpose(0, 2, 1)
        out[p + "gate_up_proj"] = interleave(g, u, -1)
        out[p + "down_proj"] = np.ascontiguousarray(down.to_float32().transpose(0, 2, 1))
    gb, ub = (r.tensor(f"blk.{layer}.ffn_{k}_exps.bias").to_float32() for k in ("gate", "up"))
    out[p + "gate_up_proj_bias"] = interleave(gb, ub, -1)
    out[p + "down_proj_bias"] = r.tensor(f"blk.{layer}.ffn_down_exps.bias").to_float32()


def tensors_for(r, arch, cfg, bitnet_linear):
    if arch in ("rwkv6", "rwkv7", "mamba", "mamba2"):
        return rec_tensors(r, arch, cfg)
    gemma = arch.startswith("gemma")
    out = {}
    for t in r.tensors:
        if t.name == "rope_freqs.weight":
            continue  # config.json's rope_scaling stands for it
        parts = t.name.split(".")
        if arch == "gpt-oss" and parts[0] == "blk" and parts[2].endswith("_exps"):
            if parts[2] == "ffn_gate_exps" and parts[3] == "weight":
                gpt_oss_experts(r, parts[1], out)
            continue
        if arch == "gpt-oss" and parts[0] == "blk" and parts[2] == "attn_sinks":
            out[f"model.layers.{parts[1]}.self_attn.sinks"] = t.to_float32()
            continue
        w = t.data if t.type_name == "F16" else t.to_float32()  # F16 stays F16
        if t.type_name == "I2_S":
            # the ternary codes and a weight_scale: BitLinear divides by it, AutoBitLinear multiplies
            scale = np.abs(w).max()
            name = f"model.layers.{t.name.split('.')[1]}.{LAYER_NAMES[t.name.split('.')[2]]}"
            out[name + ".weight"] = pack_ternary(w / scale)
            out[name + ".weight_scale"] = np.array([scale if bitnet_linear == "autobitlinear" else 1 / scale],
                                                   dtype="<f4")
            continue
        if gemma and parts[-2].endswith("norm"):
            w = w - 1.0
        if arch == "nomic-bert":
            if parts[0] == "blk":
                out[f"encoder.layers.{parts[1]}.{NOMIC_LAYER_NAMES[parts[2]]}.{parts[3]}"] = w
            else:
                out[f"{NOMIC_GLOBAL_NAMES[parts[0]]}.{parts[1]}"] = w
            continue
        if arch == "bert":
            if parts[0] == "blk":
                out[f"encoder.layer.{parts[1]}.{BERT_LAYER_NAMES[parts[2]]}.{parts[3]}"] = w
            else:
                out[f"{BERT_GLOBAL_NAMES[parts[0]]}.{parts[1]}"] = w
            continue
        if parts[0] == "blk":
            layer, kind, suffix = parts[1], parts[2], parts[3]
            prefix = f"model.layers.{layer}."
            if kind in EXPERTS.get(arch, ("", {}))[1]:
                group, names = EXPERTS[arch]
                for e in range(w.shape[0]):
                    out[f"{prefix}{group}.{e}.{names[kind]}.{suffix}"] = w[e]
                continue
            name = (GEMMA_NAMES.get(kind) if gemma else None) or LAYER_NAMES.get(kind)
            if arch == "gpt-oss":
                name = {"post_attention_norm": "post_attention_layernorm", "ffn_gate_inp": "mlp.router"}.get(kind, name)
            if "num_local_experts" in cfg:  # Mixtral
                name = {"mlp.gate": "block_sparse_moe.gate"}.get(name, name)
            if arch == "phi3":
                name = {"mlp.up_proj": "mlp.gate_up_proj"}.get(name, name)
            if arch == "llama" and kind in ("attn_q", "attn_k"):
                heads = cfg["num_attention_heads"] if kind == "attn_q" else cfg["num_key_value_heads"]
                w = to_hf_rope_order(w, heads)
            out[f"{prefix}{name}.{suffix}"] = w
        else:
            out[f"{GLOBAL_NAMES[parts[0]]}.{parts[1]}"] = w
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("gguf")
    ap.add_argument("out_dir")
    ap.add_argument("--rope-scaling", help="config.json rope_scaling (JSON) for a model with rope_freqs")
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    ap.add_argument("--bitnet-linear", choices=["bitlinear", "autobitlinear"], default="bitlinear",
                    help="transformers' BitNet layer class, which decides what weight_scale means")
    args = ap.parse_args()
    r = GGUFReader(args.gguf)
    arch, cfg = config_for(r, args.rope_scaling, args.bitnet_linear)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(args.out_dir, "model.safetensors"), tensors_for(r, arch, cfg, args.bitnet_linear),
                      "<f2" if args.dtype == "f16" else "<f4")
    if "tokenizer.ggml.model" in r.metadata:
        gguf_vocab_to_hf.convert(args.gguf, args.out_dir)
    pooling = r.metadata.get(f"{arch}.pooling_type")
    if pooling in POOLING_MODES:  # as sentence-transformers stores it
        os.makedirs(os.path.join(args.out_dir, "1_Pooling"), exist_ok=True)
        with open(os.path.join(args.out_dir, "1_Pooling", "config.json"), "w") as f:
            json.dump({"word_embedding_dimension": int(r.metadata[f"{arch}.embedding_length"]),
                       **{mode: p == pooling for p, mode in POOLING_MODES.items()}}, f, indent=2)


if __name__ == "__main__":
    main()
