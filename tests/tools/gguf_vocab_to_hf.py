"""Writes a Hugging Face tokenizer.json and tokenizer_config.json for the
vocabulary of a GGUF file, in the form HF's tokenizers library has them for
that model family:

  gpt2 (gpt-2, mpt, falcon, starcoder, deepseek-coder): byte-level BPE with
      the family's pre-tokenizer (ByteLevel, Split regexes, Digits, ...);
  llama (llama-spm, phi-3): SentencePiece-style BPE with byte_fallback, the
      merges derived from the scores as transformers' Llama converter does;
      llama-spm with the legacy Prepend/Replace normalizer, others with a
      Metaspace pre-tokenizer;
  bert: WordPiece with "##" continuations and BertPreTokenizer.

    gguf_vocab_to_hf.py VOCAB.gguf OUT_DIR
"""

import json
import os
import sys

try:
    from gguf_reader import GGUFReader
except ImportError:  # no numpy
    sys.exit(77)  # the tests' "skipped"

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED = 1, 2, 3, 4, 5  # GGUF token types


def split(regex):
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


def byte_level(use_regex=True):
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": use_regex}


def digits(individual):
    return {"type": "Digits", "individual_digits": individual}


def sequence(*items):
    return {"type": "Sequence", "pretokenizers": list(items)}


BYTE_LEVEL_PRE = {
    "gpt-2": byte_level(),
    "mpt": byte_level(),
    "falcon": sequence(
        {"type": "Punctuation", "behavior": "Contiguous"},
        byte_level(),
        digits(False),
        split("[0-9][0-9][0-9]"),
    ),
    "starcoder": sequence(digits(True), byte_level()),
    "deepseek-coder": sequence(
        split("[\r\n]"),
        split("\\s?\\p{L}+"),
        split("\\s?\\p{P}+"),
        split("[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"),
        digits(True),
        byte_level(False),
    ),
}


def added_token(tid, content, special):
    return {
        "id": tid,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": not special,
        "special": special,
    }


def spm_merges(tokens, scores, types):
    """transformers' SentencePieceExtractor: every split of a piece into two
    pieces is a merge, ordered by the merged piece's score (best first)."""
    vocab = {t: i for i, t in enumerate(tokens) if types[i] != UNUSED}
    merges = []
    for piece, pid in vocab.items():
        local = []
        for k in range(1, len(piece)):
            left, right = piece[:k], piece[k:]
            if left in vocab and right in vocab:
                local.append((left, right, float(scores[pid])))
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)
    return [f"{left} {right}" for left, right, _ in merges]


def bert_piece(token):
    """GGUF's phantom-space form back to BERT's: "▁word" -> "word",
    a bare continuation "ing" -> "##ing"; "[CLS]"-style tokens as they are."""
    if token.startswith("[") and token.endswith("]"):
        return token
    if token.startswith("\u2581"):
        return token[1:]
    return "##" + token


def convert(gguf_path, out_dir):
    r = GGUFReader(gguf_path)
    meta = r.metadata
    model = meta["tokenizer.ggml.model"]
    pre = meta.get("tokenizer.ggml.pre", "default")
    tokens = list(meta["tokenizer.ggml.tokens"])
    types = [int(t) for t in meta.get("tokenizer.ggml.token_type", [NORMAL] * len(tokens))]
    scores = meta.get("tokenizer.ggml.scores")

    special_id = {}
    for name, key in (("bos", "bos"), ("eos", "eos"), ("unk", "unknown"), ("pad", "padding")):
        if f"tokenizer.ggml.{key}_token_id" in meta:
            special_id[name] = int(meta[f"tokenizer.ggml.{key}_token_id"])
    if model == "bert":
        for name, key in (("cls", "cls"), ("sep", "seperator"), ("mask", "mask")):
            if f"tokenizer.ggml.{key}_token_id" in meta:
                special_id[name] = int(meta[f"tokenizer.ggml.{key}_token_id"])
        special_id.pop("bos", None)
        special_id.pop("eos", None)

    vocab, added = {}, []
    for i, (tok, typ) in enumerate(zip(tokens, types)):
        if typ == UNUSED:
            continue
        special = typ in (CONTROL, UNKNOWN) or i in special_id.values()
        if model == "bert":
            tok = bert_piece(tok)
        if typ == USER_DEFINED and not special:
            added.append(added_token(i, tok, False))
            continue
        vocab.setdefault(tok, i)
        if special:
            added.append(added_token(i, tok, True))

    tj = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": None,
        "post_processor": None,
        "decoder": None,
    }
    config = {"model_max_length": 2048, "clean_up_tokenization_spaces": False}
    if model == "gpt2":
        if pre not in BYTE_LEVEL_PRE:
            raise SystemExit(f"{gguf_path}: no Hugging Face form known for pre-tokenizer {pre}")
        if pre == "mpt":  # GPT-NeoX's tokenizer composes characters first
            tj["normalizer"] = {"type": "NFC"}
        tj["pre_tokenizer"] = BYTE_LEVEL_PRE[pre]
        tj["post_processor"] = byte_level()
        tj["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
        merges = list(meta["tokenizer.ggml.merges"])
        # Files written by transformers >= 4.45 list merges as pairs: two
        # families get that form, so that both are exercised.
        if pre in ("starcoder", "deepseek-coder"):
            merges = [m.split(" ", 1) for m in merges]
        tj["model"] = {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": merges,
        }
        config["tokenizer_class"] = "GPT2TokenizerFast"
    elif model == "llama":
        if os.path.basename(gguf_path) == "ggml-vocab-llama-spm.gguf":
            tj["normalizer"] = {
                "type": "Sequence",
                "normalizers": [
                    {"type": "Prepend", "prepend": "\u2581"},
                    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
                ],
            }
        else:
            tj["pre_tokenizer"] = {
                "type": "Metaspace",
                "replacement": "\u2581",
                "prepend_scheme": "first",
                "split": False,
            }
        tj["decoder"] = {
            "type": "Sequence",
            "decoders": [
                {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"},
                {"type": "Fuse"},
                {"type": "Strip", "content": " ", "start": 1, "stop": 0},
            ],
        }
        unk = tokens[special_id["unk"]] if "unk" in special_id else None
        tj["model"] = {
            "type": "BPE",
            "dropout": None,
            "unk_token": unk,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": True,
            "byte_fallback": True,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": spm_merges(tokens, scores, types),
        }
        config["tokenizer_class"] = "LlamaTokenizer"
        config["legacy"] = True
    elif model == "bert":
        tj["normalizer"] = {
            "type": "BertNormalizer",
            "clean_text": True,
            "handle_chinese_chars": True,
            "strip_accents": None,
            "lowercase": True,
        }
        tj["pre_tokenizer"] = {"type": "BertPreTokenizer"}
        cls, sep = tokens[special_id["cls"]], tokens[special_id["sep"]]
        tj["post_processor"] = {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": cls, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": sep, "type_id": 0}},
            ],
            "pair": [
                {"SpecialToken": {"id": cls, "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
                {"SpecialToken": {"id": sep, "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
                {"SpecialToken": {"id": sep, "type_id": 1}},
            ],
            "special_tokens": {
                cls: {"id": cls, "ids": [special_id["cls"]], "tokens": [cls]},
                sep: {"id": sep, "ids": [special_id["sep"]], "tokens": [sep]},
            },
        }
        tj["decoder"] = {"type": "WordPiece", "prefix": "##", "cleanup": True}
        tj["model"] = {
            "type": "WordPiece",
            "unk_token": tokens[special_id["unk"]],
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": vocab,
        }
        config["tokenizer_class"] = "BertTokenizer"
        config["do_lower_case"] = True
    else:
        raise SystemExit(f"{gguf_path}: tokenizer model {model} is not handled")

    # Special tokens: strings, but one as an AddedToken object as older
    # tokenizer_config.json files have them.
    for n, (name, tid) in enumerate(sorted(special_id.items())):
        content = tokens[tid] if model != "bert" else bert_piece(tokens[tid])
        config[f"{name}_token"] = content if n % 2 == 0 else {"__type": "AddedToken", "content": content}
    for flag in ("add_bos_token", "add_eos_token"):
        if f"tokenizer.ggml.{flag}" in meta:
            config[flag] = bool(meta[f"tokenizer.ggml.{flag}"])
    if "tokenizer.chat_template" in meta:
        config["chat_template"] = meta["tokenizer.chat_template"]
    config["added_tokens_decoder"] = {
        str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added
    }

    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, indent=2)
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    convert(sys.argv[1], sys.argv[2])
