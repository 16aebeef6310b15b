#!/usr/bin/env bash
# Builds with -Werror and runs the whole suite, then again under ASan+UBSan.
# RZ_SKIP_SANITIZE=1 skips the sanitizer pass (quick local runs).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# Formatting is part of the build contract (.clang-format).
git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror

# The e2e server tests use the official openai npm client (skipped without it).
if command -v npm > /dev/null; then npm ci --prefix tests/e2e --no-audit --no-fund; fi

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DRZ_WERROR=ON
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

if [ "${RZ_SKIP_SANITIZE:-0}" != 1 ]; then
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DRZ_WERROR=ON -DRZ_SANITIZE=ON \
        -DCMAKE_C_FLAGS="-O1"
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
fi

# The fuzz targets must keep building (clang + libFuzzer); fuzzing itself is
# run by hand (see README).
cmake -S . -B build-fuzz -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DRZ_FUZZ=ON \
      -DRZ_BUILD_TESTS=OFF -DRZ_WERROR=ON
cmake --build build-fuzz -j "$jobs"
