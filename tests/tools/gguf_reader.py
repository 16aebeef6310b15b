"""A small GGUF v2/v3 reader in pure Python and numpy.

    reader = GGUFReader("model.gguf")
    reader.metadata["general.architecture"]      # str, int, float, bool or list
    reader.metadata_types["tokenizer.ggml.scores"]  # (ValueType.ARRAY, ValueType.FLOAT32)
    for t in reader.tensors:                      # in file order
        t.name, t.ne, t.type_name, t.data         # data: numpy view of the mapping

Numeric arrays come back as numpy arrays, string arrays as lists of str
(bytes where a string is not valid UTF-8). Tensor data of float and integer
types has the PyTorch (row-major) shape, i.e. ne reversed; block-quantized
tensors are uint8 arrays of shape (rows, bytes per row).
"""

import enum
import sys
from dataclasses import dataclass

import numpy as np

GGUF_MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32


class ValueType(enum.IntEnum):
    UINT8 = 0
    INT8 = 1
    UINT16 = 2
    INT16 = 3
    UINT32 = 4
    INT32 = 5
    FLOAT32 = 6
    BOOL = 7
    STRING = 8
    ARRAY = 9
    UINT64 = 10
    INT64 = 11
    FLOAT64 = 12


_SCALAR_DTYPES = {
    ValueType.UINT8: np.dtype("<u1"),
    ValueType.INT8: np.dtype("<i1"),
    ValueType.UINT16: np.dtype("<u2"),
    ValueType.INT16: np.dtype("<i2"),
    ValueType.UINT32: np.dtype("<u4"),
    ValueType.INT32: np.dtype("<i4"),
    ValueType.FLOAT32: np.dtype("<f4"),
    ValueType.BOOL: np.dtype("u1"),
    ValueType.UINT64: np.dtype("<u8"),
    ValueType.INT64: np.dtype("<i8"),
    ValueType.FLOAT64: np.dtype("<f8"),
}

# ggml tensor types: name, elements per block, bytes per block, numpy dtype
# for unquantized types (None: kept as raw bytes).
GGML_TYPES = {
    0: ("F32", 1, 4, np.dtype("<f4")),
    1: ("F16", 1, 2, np.dtype("<f2")),
    2: ("Q4_0", 32, 18, None),
    3: ("Q4_1", 32, 20, None),
    6: ("Q5_0", 32, 22, None),
    7: ("Q5_1", 32, 24, None),
    8: ("Q8_0", 32, 34, None),
    9: ("Q8_1", 32, 36, None),
    10: ("Q2_K", 256, 84, None),
    11: ("Q3_K", 256, 110, None),
    12: ("Q4_K", 256, 144, None),
    13: ("Q5_K", 256, 176, None),
    14: ("Q6_K", 256, 210, None),
    15: ("Q8_K", 256, 292, None),
    16: ("IQ2_XXS", 256, 66, None),
    17: ("IQ2_XS", 256, 74, None),
    18: ("IQ3_XXS", 256, 98, None),
    19: ("IQ1_S", 256, 50, None),
    20: ("IQ4_NL", 32, 18, None),
    21: ("IQ3_S", 256, 110, None),
    22: ("IQ2_S", 256, 82, None),
    23: ("IQ4_XS", 256, 136, None),
    24: ("I8", 1, 1, np.dtype("<i1")),
    25: ("I16", 1, 2, np.dtype("<i2")),
    26: ("I32", 1, 4, np.dtype("<i4")),
    27: ("I64", 1, 8, np.dtype("<i8")),
    28: ("F64", 1, 8, np.dtype("<f8")),
    29: ("IQ1_M", 256, 56, None),
    30: ("BF16", 1, 2, None),  # numpy has no bfloat16: raw uint16 (see TensorInfo.to_float32)
    34: ("TQ1_0", 256, 54, None),
    35: ("TQ2_0", 256, 66, None),
    36: ("I2_S", 128, 32, None),
    39: ("MXFP4", 32, 17, None),  # bitnet.cpp: 2-bit codes, then one float32 scale per tensor (32-byte trailer)
}
I2_S = 36


class GGUFError(ValueError):
    pass


@dataclass
class TensorInfo:
    name: str
    ne: tuple  # ggml order: ne[0] is the contiguous dimension
    type: int
    offset: int  # from the start of the data section
    data: np.ndarray

    @property
    def type_name(self):
        return GGML_TYPES[self.type][0] if self.type in GGML_TYPES else f"type{self.type}"

    @property
    def n_elements(self):
        n = 1
        for d in self.ne:
            n *= d
        return n

    def to_float32(self):
        """F32/F16/BF16 data as float32 (quantized types are not decoded)."""
        if self.type == 30:
            return (self.data.astype(np.uint32) << 16).view(np.float32)
        if self.type == I2_S:
            n = self.n_elements
            scale = self.data[n // 4 : n // 4 + 4].view(np.float32)[0]
            groups = self.data[: n // 4].reshape(-1, 1, 32)  # element 128g + 32l + m: bits 6-2l of byte 32g + m
            codes = (groups >> np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 4, 1)) & 3
            return ((codes.astype(np.float32) - 1) * scale).reshape(tuple(reversed(self.ne)))
        if self.type in (0, 1, 28):
            return self.data.astype(np.float32)
        raise GGUFError(f"{self.name}: cannot decode {self.type_name} to float32")


class GGUFReader:
    def __init__(self, path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        self.metadata = {}
        self.metadata_types = {}
        self.tensors = []
        if bytes(self.buf[:4]) != GGUF_MAGIC:
            raise GGUFError(f"{path}: not a GGUF file")
        self.pos = 4
        self.version = self._scalar(ValueType.UINT32)
        if self.version not in (2, 3):
            raise GGUFError(f"{path}: GGUF version {self.version} is not supported")
        n_tensors = self._scalar(ValueType.UINT64)
        n_kv = self._scalar(ValueType.UINT64)
        for _ in range(n_kv):
            key = self._string()
            vtype = ValueType(self._scalar(ValueType.UINT32))
            if key in self.metadata:
                raise GGUFError(f"{path}: duplicate key {key}")
            self.metadata[key], self.metadata_types[key] = self._value(vtype)
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._scalar(ValueType.UINT32)
            ne = tuple(int(self._scalar(ValueType.UINT64)) for _ in range(n_dims))
            ttype = self._scalar(ValueType.UINT32)
            offset = self._scalar(ValueType.UINT64)
            infos.append((name, ne, ttype, offset))
        self.alignment = int(self.metadata.get("general.alignment", DEFAULT_ALIGNMENT))
        self.data_offset = -(-self.pos // self.alignment) * self.alignment
        for name, ne, ttype, offset in infos:
            self.tensors.append(TensorInfo(name, ne, ttype, offset, self._tensor_data(name, ne, ttype, offset)))

    def tensor(self, name):
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise GGUFError(f"{self.path}: truncated at offset {self.pos}")
        view = self.buf[self.pos : self.pos + n]
        self.pos += n
        return view

    def _scalar(self, vtype):
        dtype = _SCALAR_DTYPES[vtype]
        value = self._take(dtype.itemsize).view(dtype)[0]
        return bool(value) if vtype == ValueType.BOOL else value.item()

    def _string(self):
        raw = bytes(self._take(self._scalar(ValueType.UINT64)))
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw

    def _value(self, vtype):
        if vtype == ValueType.STRING:
            return self._string(), vtype
        if vtype != ValueType.ARRAY:
            return self._scalar(vtype), vtype
        etype = ValueType(self._scalar(ValueType.UINT32))
        count = self._scalar(ValueType.UINT64)
        if etype in _SCALAR_DTYPES:
            dtype = _SCALAR_DTYPES[etype]
            arr = np.array(self._take(count * dtype.itemsize).view(dtype))
            return (arr.astype(bool) if etype == ValueType.BOOL else arr), (vtype, etype)
        items = [self._value(etype) for _ in range(count)]
        return [v for v, _ in items], (vtype, etype)

    def _tensor_data(self, name, ne, ttype, offset):
        if ttype not in GGML_TYPES:
            raise GGUFError(f"{self.path}: tensor {name} has unknown type {ttype}")
        _, block, block_bytes, dtype = GGML_TYPES[ttype]
        if ne and ne[0] % block:
            raise GGUFError(f"{self.path}: tensor {name}: {ne[0]} is not a multiple of the block {block}")
        rows = 1
        for d in ne[1:]:
            rows *= d
        if ttype == I2_S:
            start = self.data_offset + offset
            size = rows * (ne[0] if ne else 1) // 4 + 32
            if start + size > len(self.buf):
                raise GGUFError(f"{self.path}: tensor {name} runs past the end of the file")
            return self.buf[start : start + size]
        row_bytes = (ne[0] if ne else 1) // block * block_bytes
        start = self.data_offset + offset
        if start + rows * row_bytes > len(self.buf):
            raise GGUFError(f"{self.path}: tensor {name} runs past the end of the file")
        raw = self.buf[start : start + rows * row_bytes]
        shape = tuple(reversed(ne)) if ne else (1,)
        if dtype is not None:
            return raw.view(dtype).reshape(shape)
        if ttype == 30:
            return raw.view(np.dtype("<u2")).reshape(shape)
        return raw.reshape(rows, row_bytes)


def main(argv):
    """Prints a file's metadata (arrays shortened) and tensor infos."""
    reader = GGUFReader(argv[1])
    print(f"GGUF v{reader.version}, {len(reader.metadata)} keys, {len(reader.tensors)} tensors")
    for key, value in reader.metadata.items():
        if isinstance(value, (list, np.ndarray)) and len(value) > 8:
            value = f"[{', '.join(repr(v) for v in value[:8])}, ... ({len(value)} items)]"
        print(f"{key} = {value!r}" if not isinstance(value, str) else f"{key} = {value[:200]!r}")
    for t in reader.tensors:
        print(f"{t.name} {t.type_name} {list(t.ne)}")


if __name__ == "__main__":
    main(sys.argv)
