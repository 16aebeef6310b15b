"""Offline install from the checkout: pip install ./python (Debian's pip and
setuptools; no build isolation needed, nothing downloaded). The built
libryzanstein.so is copied into the package when found (RYZANSTEIN_LIB, or
the CMake build tree beside this folder); otherwise the installed package
looks for it at run time the same way."""

import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def built_library():
    env = os.environ.get("RYZANSTEIN_LIB")
    if env:
        return env
    found = sorted(glob.glob(os.path.join(HERE, "..", "build", "libryzanstein.so.*.*.*")))
    return found[-1] if found else None


class build_py_with_library(build_py):
    def run(self):
        super().run()
        library = built_library()
        if library and not self.dry_run:
            target = os.path.join(self.build_lib, "ryzanstein", "libryzanstein.so")
            shutil.copyfile(library, target)


setup(
    name="ryzanstein",
    version="0.1.0",
    description="CPU-first LLM inference (bindings to libryzanstein)",
    packages=["ryzanstein"],
    package_data={"ryzanstein": ["py.typed"]},
    python_requires=">=3.9",
    cmdclass={"build_py": build_py_with_library},
    zip_safe=False,
)
