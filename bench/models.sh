#!/usr/bin/env bash
# Whole-model throughput on synthetic models of real shapes, with the memory
# bandwidth measured in the same run so that each figure can be put against
# its roofline (bandwidth / bytes read per token).
#
#   bench/models.sh [BUILD_DIR] [PRESET] [TYPES...]
#   e.g. bench/models.sh build tinyllama-1.1b f16 q8_0 q4_0
#
# Writes the models to $RZ_BENCH_DIR (default /tmp/rz-bench) and deletes each
# after its run; prints rz bench's table per model (RZ_BENCH_JSON=1: JSON)
# plus the bandwidth figures.
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

echo "== read bandwidth (before)"; bandwidth
for type in "${types[@]}"; do
  model="$dir/$preset-$type.gguf"
  "$build/rz" synth "$model" --preset "$preset" --type "$type" >/dev/null
  echo "== $preset $type"
  "$build/rz" bench -m "$model" -p 64 -n 32 -t 1,2 -r "$reps" ${RZ_BENCH_JSON:+--json}
  rm -f "$model"
done
echo "== read bandwidth (after)"; bandwidth
