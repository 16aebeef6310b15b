#!/usr/bin/env bash
# Whole-model throughput on synthetic models of real shapes, with the memory
# bandwidth measured in the same run so that each figure can be put against
# its roofline (bandwidth / bytes read per token): before the first model and
# after each one, so that every model's figures sit between two measurements
# a few minutes apart (the bandwidth of a shared machine drifts).
#
#   bench/models.sh [BUILD_DIR] [PRESET] [TYPES...]
#   e.g. bench/models.sh build tinyllama-1.1b f16 q8_0 q4_0 q4_k_m
#        bench/models.sh build bitnet-2b-4t i2_s i2_s:q6_K tq2_0
#
# TYPE is what `rz synth --type` takes, or q4_k_m / q5_k_m / q6_k_m (an F16
# synth quantized with that `rz quantize` recipe); TYPE:OUT sets the output
# (lm_head) type. Environment: RZ_BENCH_DIR (default /tmp/rz-bench; models are
# deleted after their run), RZ_BENCH_REPS (3), RZ_BENCH_P (prompt sizes, 64),
# RZ_BENCH_N (generation lengths, 32), RZ_BENCH_ARGS (more rz bench options,
# e.g. --no-repack), RZ_BENCH_JSON=1 for JSON.
set -euo pipefail
build=${1:-build}
preset=${2:-tinyllama-1.1b}
shift $(( $# > 2 ? 2 : $# ))
types=("$@")
[ ${#types[@]} -eq 0 ] && types=(f16 q8_0 q4_0)
dir=${RZ_BENCH_DIR:-/tmp/rz-bench}
reps=${RZ_BENCH_REPS:-3}
mkdir -p "$dir"

bandwidth() { "$build/bench/bench_bandwidth" --threads 1,2 --runs 5 --mib 1024; }

echo "== read bandwidth"; bandwidth
for spec in "${types[@]}"; do
  type=${spec%%:*}
  output=()
  [ "$spec" != "$type" ] && output=(--output-type "${spec#*:}")
  model="$dir/$preset-${spec/:/-}.gguf"
  case "$type" in
    q[0-9]_k_m)
      "$build/rz" synth "$dir/$preset-f16-src.gguf" --preset "$preset" --type f16 "${output[@]}" >/dev/null
      "$build/rz" quantize "$dir/$preset-f16-src.gguf" "$model" --type "${type^^}" >/dev/null
      rm -f "$dir/$preset-f16-src.gguf" ;;
    *) "$build/rz" synth "$model" --preset "$preset" --type "$type" "${output[@]}" >/dev/null ;;
  esac
  echo "== $preset $spec"
  # shellcheck disable=SC2086
  "$build/rz" bench -m "$model" -p "${RZ_BENCH_P:-64}" -n "${RZ_BENCH_N:-32}" -t 1,2 -r "$reps" \
    ${RZ_BENCH_ARGS:-} ${RZ_BENCH_JSON:+--json}
  rm -f "$model"
  echo "== read bandwidth"; bandwidth
done
