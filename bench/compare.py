#!/usr/bin/env python3
"""rz bench against llama.cpp's llama-bench on the same GGUF files, in the
same run, the two engines alternating round by round (the machine is shared:
alternation spreads its drift over both). Prints one row per model, test and
thread count: the median tokens/s of each engine over every sample of every
round, and their ratio.

  bench/compare.py --llama-bench PATH [--rz build/rz] [-p 64] [-n 32] [-d 0] [-t 1,2]
                   [-r 3] [--rounds 3] [--isa avx2] [--json] MODEL.gguf...

--isa sets RZ_ISA for rz (e.g. avx2 on an AVX-512 machine); llama-bench runs
whatever its build targets, so build it for the same ISA (GGML_NATIVE=OFF
GGML_AVX2=ON ... for AVX2). LLAMA_BENCH in the environment stands for
--llama-bench. Extra llama-bench options (e.g. "-fa 1") go in --llama-args,
extra rz bench options in --rz-args (write them --llama-args="-rtr 1": argparse
reads a value starting with "-" as an option otherwise). ik_llama.cpp's llama-bench has no -d (it
has -gp PP,TG instead).

A model given as RZ.gguf=LLAMA.gguf runs rz on the first file and llama-bench
on the second, for a type llama.cpp lacks (rz's I2_S against its TQ2_0 of the
same weights).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys


class BenchFailed(Exception):
    pass


def run_json(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise BenchFailed(f"{shlex.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    start = out.stdout.find("[")
    return json.loads(out.stdout[start:])


def test_name(n_prompt, n_gen, depth=0):
    name = f"pp{n_prompt}" if n_gen == 0 else f"tg{n_gen}"
    return name + (f" @ d{depth}" if depth else "")


def rz_samples(args, model, env):
    cmd = [args.rz, "bench", "-m", model.split("=")[0], "-p", args.p, "-n", args.n, "-d", args.d, "-t", args.t, "-r", str(args.r),
           "--json"]
    cmd += shlex.split(args.rz_args)
    rows = {}
    for row in run_json(cmd, env):
        key = (test_name(row["n_prompt"], row["n_gen"], row.get("n_depth", 0)), row["threads"])
        rows.setdefault(key, []).extend(row["samples_tok_s"])
    return rows


def llama_samples(args, model):
    cmd = [args.llama_bench, "-m", model.split("=")[-1], "-p", args.p, "-n", args.n, "-t", args.t, "-r", str(args.r), "-o", "json"]
    if args.d != "0":  # ik_llama.cpp's llama-bench has no -d: give it -gp in --llama-args instead
        cmd += ["-d", args.d]
    cmd += shlex.split(args.llama_args)
    rows = {}
    for row in run_json(cmd):
        if row.get("n_prompt", 0) == 0 and row.get("n_gen", 0) == 0:
            continue
        key = (test_name(row["n_prompt"], row["n_gen"], row.get("n_depth", 0)), row["n_threads"])
        rows.setdefault(key, []).extend(row.get("samples_ts") or [row["avg_ts"]])
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--rz", default="build/rz")
    ap.add_argument("--llama-bench", default=os.environ.get("LLAMA_BENCH"))
    ap.add_argument("-p", default="64")
    ap.add_argument("-n", default="32")
    ap.add_argument("-d", default="0", help="depths (tokens already in the cache), as llama-bench's -d")
    ap.add_argument("-t", default="1,2")
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--isa")
    ap.add_argument("--rz-args", default="")
    ap.add_argument("--llama-args", default="")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.llama_bench:
        sys.exit("give --llama-bench PATH (or LLAMA_BENCH)")
    env = dict(os.environ)
    if args.isa:
        env["RZ_ISA"] = args.isa
    isa = args.isa or "(best)"
    if not args.json:
        print(f"| model | test | threads | llama.cpp tok/s | rz tok/s (ISA {isa}) | rz / llama.cpp |")
        print("|---|---|---|---|---|---|", flush=True)
    results = []
    for model in args.models:
        # One engine failing on a model (an unsupported type, a crash) costs
        # that model's row, not the figures of the others.
        try:
            rows = compare_model(args, model, env)
        except BenchFailed as e:
            print(f"{os.path.basename(model)}: {e}", file=sys.stderr, flush=True)
            continue
        results += rows
        if not args.json:
            for r in rows:
                print(f"| {r['model']} | {r['test']} | {r['threads']} | {r['llama_tok_s']:.2f} | "
                      f"{r['rz_tok_s']:.2f} | {r['ratio']:.2f} |", flush=True)
    if args.json:
        json.dump(results, sys.stdout, indent=1)
        print()


def compare_model(args, model, env):
    ours, theirs = {}, {}
    for _ in range(args.rounds):
        for key, s in rz_samples(args, model, env).items():
            ours.setdefault(key, []).extend(s)
        for key, s in llama_samples(args, model).items():
            theirs.setdefault(key, []).extend(s)
    rows = []
    for key in sorted(ours, key=lambda k: (k[1], k[0])):
        if key not in theirs:
            continue
        a, b = statistics.median(ours[key]), statistics.median(theirs[key])
        name = " vs ".join(os.path.basename(f) for f in model.split("="))
        rows.append({"model": name, "test": key[0], "threads": key[1], "rz_tok_s": a,
                     "llama_tok_s": b, "ratio": a / b, "rz_samples": len(ours[key]),
                     "llama_samples": len(theirs[key])})
    return rows


if __name__ == "__main__":
    main()
