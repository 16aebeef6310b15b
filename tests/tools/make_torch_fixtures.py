#!/usr/bin/env python3
"""Writes PyTorch checkpoints for tests/unit/test_torch.c into OUT_DIR.

Valid checkpoints come from torch.save; expected.txt lists what each holds:
    file <name> <tensor count>
    tensor <name> <dtype> <torch shape, comma-separated, '-' for 0-d> <data as hex, '-' if empty>
Hostile ones (hostile_*.pt) are crafted byte by byte; the test knows what
each must be refused for. Exits 77 (the test's skip) without torch.
"""
import collections
import io
import pickle
import struct
import sys
import zipfile

try:
    import torch
except ImportError:
    sys.exit(77)

OUT = sys.argv[1]
DTYPE_NAMES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int8: "I8",
               torch.uint8: "U8", torch.int32: "I32", torch.int64: "I64", torch.float64: "F64"}


def raw_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save(name, obj, tensors, manifest):
    """torch.save(obj); `tensors` is the (name, tensor) list the reader must report."""
    torch.save(obj, f"{OUT}/{name}")
    manifest.append(f"file {name} {len(tensors)}")
    for key, t in tensors:
        shape = ",".join(str(d) for d in t.shape) or "-"
        data = raw_bytes(t).hex() or "-"
        manifest.append(f"tensor {key} {DTYPE_NAMES[t.dtype]} {shape} {data}")


def valid(manifest):
    g = torch.Generator().manual_seed(7)
    base = torch.randn(24, generator=g)
    sd = collections.OrderedDict()
    sd["f32.matrix"] = base.view(4, 6)
    sd["f32.view"] = base[5:11].view(2, 3)  # shares base's storage at offset 5
    sd["f16.vector"] = torch.randn(5, generator=g).half()
    sd["bf16.cube"] = torch.randn(2, 3, 4, generator=g).bfloat16()
    sd["i8.4d"] = torch.arange(-60, 60, dtype=torch.int8).view(2, 3, 4, 5)
    sd["u8.scalar"] = torch.tensor(200, dtype=torch.uint8)
    sd["i32.matrix"] = torch.arange(-6, 6, dtype=torch.int32).view(3, 4) * 1000003
    sd["i64.vector"] = torch.tensor([-(2**40), 0, 2**62], dtype=torch.int64)
    sd["f64.scalar"] = torch.tensor(3.25, dtype=torch.float64)
    sd["empty"] = torch.zeros(0, 3)
    sd["tied"] = sd["f32.matrix"]
    save("ordered.pt", sd, list(sd.items()), manifest)

    # A module's state_dict: Parameters, a buffer, and the _metadata BUILD.
    m = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2))
    m.register_buffer("steps", torch.tensor([5], dtype=torch.int64))
    msd = m.state_dict()
    save("module.pt", msd, list(msd.items()), manifest)
    params = {"p": torch.nn.Parameter(torch.ones(2, 2))}
    save("parameter.pt", params, [("p", params["p"])], manifest)

    # Training checkpoint wrapper: flattened to the inner dict's keys.
    save("nested.pt", {"epoch": 3, "lr": 0.5, "note": "x", "state_dict": msd}, list(msd.items()), manifest)
    # Two dicts of tensors: dotted names.
    a, b = torch.ones(2), torch.arange(3, dtype=torch.int32)
    save("two_dicts.pt", {"model": {"w": a}, "ema": {"w": b, "inner": {"x": a}}},
         [("model.w", a), ("ema.w", b), ("ema.inner.x", a)], manifest)

    # The same archive rewritten with zip64 records and extra fields.
    with zipfile.ZipFile(f"{OUT}/ordered.pt") as z:
        entries = [(i.filename, z.read(i)) for i in z.infolist()]
    write_zip(f"{OUT}/zip64.pt", entries, zip64=True)
    manifest.append("file zip64.pt same ordered.pt")


def write_zip(path, entries, zip64=False, sizes=None):
    """A stored-only zip; with zip64 every size and offset goes through the
    zip64 extra field and end records, as in checkpoints over 4 GB.
    `sizes` overrides the central directory's size of named entries."""
    out = io.BytesIO()
    central = []
    for name, data in entries:
        name_b = name.encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0, zipfile.crc32(data) & 0xFFFFFFFF,
                              len(data), len(data), len(name_b), 0))
        out.write(name_b)
        out.write(data)
        size = (sizes or {}).get(name, len(data))
        if zip64:
            extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
            fields = (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
        else:
            extra = b""
            fields = (size, size, offset)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0,
                                   zipfile.crc32(data) & 0xFFFFFFFF, fields[0], fields[1], len(name_b),
                                   len(extra), 0, 0, 0, 0, fields[2]) + name_b + extra)
    cd_offset = out.tell()
    for c in central:
        out.write(c)
    cd_size = out.tell() - cd_offset
    n = len(entries)
    if zip64:
        eocd64 = out.tell()
        out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_size, cd_offset))
        out.write(struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1))
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    else:
        out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, cd_size, cd_offset, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())


class Storage:
    def __init__(self, key, numel, kind=torch.FloatStorage):
        self.key, self.numel, self.kind = key, numel, kind


class Tensor:
    """Pickles as torch.save's tensors do, with whatever fields we like."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


def dumps(obj):
    f = io.BytesIO()
    Pickler(f, protocol=2).dump(obj)
    return f.getvalue()


def archive(name, pickle_bytes, storages=None, **kwargs):
    entries = [("archive/data.pkl", pickle_bytes)]
    entries += [(f"archive/data/{k}", v) for k, v in (storages or {}).items()]
    entries.append(("archive/version", b"3\n"))
    write_zip(f"{OUT}/{name}", entries, **kwargs)


def hostile():
    # Code execution attempts: refused by name before anything is called.
    archive("hostile_global_os.pt", b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.")
    archive("hostile_stack_global.pt", b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93\x8c\x011\x85R.")
    archive("hostile_getattr.pt", b"\x80\x02c__builtin__\ngetattr\n.")
    archive("hostile_deep.pt", b"\x80\x02" + b"(" * 100000 + b".")
    archive("hostile_memo.pt", b"\x80\x02h\x05.")
    archive("hostile_call_storage.pt", b"\x80\x02ctorch\nFloatStorage\n)R.")
    archive("hostile_no_stop.pt", b"\x80\x02}q\x00")

    # Zip damage, starting from a good archive.
    ok = {"w": Tensor(Storage("0", 4), 0, (2, 2), (2, 1))}
    four = struct.pack("<4f", 1, 2, 3, 4)
    archive("hostile_base.pt", dumps(ok), {"0": four})
    data = open(f"{OUT}/hostile_base.pt", "rb").read()
    open(f"{OUT}/hostile_truncated.pt", "wb").write(data[: len(data) // 2])
    eocd = data.rindex(b"PK\x05\x06")
    past = bytearray(data)
    struct.pack_into("<I", past, eocd + 16, len(data) + 100)
    open(f"{OUT}/hostile_cd_past_eof.pt", "wb").write(past)
    archive("hostile_overlap.pt", dumps(ok), {"0": four}, sizes={"archive/data.pkl": len(dumps(ok)) + 40})
    with zipfile.ZipFile(f"{OUT}/hostile_deflated.pt", "w") as z:
        z.writestr("archive/data.pkl", dumps(ok), compress_type=zipfile.ZIP_DEFLATED)
        z.writestr("archive/data/0", four)
    open(f"{OUT}/hostile_legacy_magic.pt", "wb").write(
        b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.")
    archive("hostile_big_endian.pt", dumps(ok), {"0": four})
    with zipfile.ZipFile(f"{OUT}/hostile_big_endian.pt", "a") as z:
        z.writestr("archive/byteorder", "big")

    # Tensor views that do not fit their storage, or cannot be used in place.
    cases = {
        "hostile_storage_numel.pt": Tensor(Storage("0", 5), 0, (2, 2), (2, 1)),
        "hostile_offset.pt": Tensor(Storage("0", 4), 1, (2, 2), (2, 1)),
        "hostile_noncontiguous.pt": Tensor(Storage("0", 4), 0, (2, 2), (1, 2)),
        "hostile_huge_dims.pt": Tensor(Storage("0", 4), 0, (2**62, 2**62, 4), (0, 4, 1)),
        "hostile_huge_empty.pt": Tensor(Storage("0", 4), 0, (2**62, 2**62, 0), (0, 0, 1)),
        "hostile_huge_offset.pt": Tensor(Storage("0", 4), 2**63 - 1, (2,), (1,)),
        "hostile_5d.pt": Tensor(Storage("0", 4), 0, (1, 1, 1, 2, 2), (4, 4, 4, 2, 1)),
        "hostile_missing_storage.pt": Tensor(Storage("9", 4), 0, (2, 2), (2, 1)),
    }
    for name, t in cases.items():
        archive(name, dumps({"w": t}), {"0": four})
    archive("hostile_not_dict.pt", dumps([ok["w"]]), {"0": four})
    archive("hostile_duplicate.pt", dumps({"a.b": ok["w"], "a": {"b": ok["w"]}}), {"0": four})
    cyclic = {"w": ok["w"]}
    cyclic["self"] = cyclic
    archive("hostile_cycle.pt", dumps(cyclic), {"0": four})
    deep = {"w": ok["w"]}
    for _ in range(20):
        deep = {"d": deep}
    archive("hostile_deep_dicts.pt", dumps(deep), {"0": four})
    # torch.save itself keeps a transpose's strides.
    torch.save({"t": torch.zeros(2, 3).t()}, f"{OUT}/hostile_transposed.pt")


def main():
    manifest = []
    valid(manifest)
    hostile()
    with open(f"{OUT}/expected.txt", "w") as f:
        f.write("\n".join(manifest) + "\n")


main()
