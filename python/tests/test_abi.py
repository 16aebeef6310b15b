"""The ctypes structures match include/ryzanstein.h: a C program compiled
against the header prints every size and field offset."""

import ctypes
import os
import shutil
import subprocess

import pytest

from conftest import REPO
from ryzanstein import _native

STRUCTS = [
    _native.rz_str,
    _native.rz_cpu_info,
    _native.rz_cpu_set,
    _native.rz_model_params,
    _native.rz_model_desc,
    _native.rz_context_params,
    _native.rz_embed_params,
    _native.rz_sampler_params,
    _native.rz_generate_params,
    _native.rz_generate_result,
    _native.rz_quantize_params,
    _native.rz_chat_message,
    _native.rz_chat_fault,
]


def test_layouts_match_the_header(tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc"))
    if not cc:
        pytest.skip("no C compiler")
    lines = ["#include <stddef.h>", "#include <stdio.h>", '#include "ryzanstein.h"', "int main(void) {"]
    for s in STRUCTS:
        name = s.__name__
        lines.append(f'    printf("{name} %zu\\n", sizeof({name}));')
        for field, _ in s._fields_:
            lines.append(f'    printf("{name}.{field} %zu\\n", offsetof({name}, {field}));')
    lines += ["    return 0;", "}"]
    src = tmp_path / "abi.c"
    src.write_text("\n".join(lines) + "\n")
    exe = tmp_path / "abi"
    subprocess.run([cc, "-std=c17", "-I", os.path.join(REPO, "include"), str(src), "-o", str(exe)], check=True)
    c_side = dict(line.rsplit(" ", 1) for line in subprocess.run([str(exe)], check=True, capture_output=True,
                                                                 text=True).stdout.splitlines())
    for s in STRUCTS:
        name = s.__name__
        assert int(c_side[name]) == ctypes.sizeof(s), name
        for field, _ in s._fields_:
            assert int(c_side[f"{name}.{field}"]) == getattr(s, field).offset, f"{name}.{field}"
