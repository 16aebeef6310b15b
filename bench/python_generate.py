#!/usr/bin/env python3
"""Overhead of the Python package: tokens/s of
model.generate(stream=True) against `rz bench` tg on the same model, the two
alternating round by round (the machine is shared: alternation spreads its
drift over both). Prints the median of each per thread count and their ratio.

  bench/python_generate.py [--rz build/rz] [-n 128] [-t 1,2] [--rounds 5] MODEL.gguf

The Python figure is n_generated / (wall time of the whole streamed call
minus the library's prompt time): the per-step calls, the token callback and
the UTF-8 decoding all count against it. Both sides decode n tokens one at a
time after BOS, each round in a fresh process after a warm-up (rz bench's
one token, 8 generated tokens here); Python also samples (greedy) and
detokenizes, which rz bench does not. RZ_ISA applies to both.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import ryzanstein  # noqa: E402


def rz_bench(rz, model, n, threads):
    out = subprocess.run(
        [rz, "bench", "-m", model, "-p", "0", "-n", str(n), "-t", str(threads), "-r", "1", "--json"],
        capture_output=True, text=True, check=True,
    ).stdout
    return json.loads(out[out.find("[") :])[0]["tok_s_median"]


def python_generate(model, n):
    """tokens/s of one streamed generation of n tokens after BOS."""
    bos = model.desc["bos"]
    t0 = time.perf_counter()
    for _ in model.generate([bos], max_tokens=n, temperature=0, stream=True, ignore_eos=True):
        pass
    wall = time.perf_counter() - t0
    result = model.last_result
    assert result["n_generated"] == n, result
    return n / (wall - result["prompt_seconds"])


def python_round(model_path, n, threads):
    """One Python round in a fresh process, as rz bench runs."""
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", "-n", str(n), "-t", str(threads), model_path],
        capture_output=True, text=True, check=True,
    ).stdout
    return float(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rz", default=os.path.join(HERE, "..", "build", "rz"))
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-t", default="1,2")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    if args.child:
        model = ryzanstein.Model(args.model, n_ctx=args.n + 1, n_threads=int(args.t))
        python_generate(model, min(args.n, 8))  # warm-up: first touch of the buffers
        print(python_generate(model, args.n))
        return
    print(f"isa: {ryzanstein.cpu_info()['isa']}  model: {os.path.basename(args.model)}  tg{args.n}")
    print("| threads | rz bench tok/s | generate(stream=True) tok/s | ratio |")
    print("|---|---|---|---|")
    for threads in [int(t) for t in args.t.split(",")]:
        bench, py = [], []
        for _ in range(args.rounds):
            bench.append(rz_bench(args.rz, args.model, args.n, threads))
            py.append(python_round(args.model, args.n, threads))
        b, p = statistics.median(bench), statistics.median(py)
        print(f"| {threads} | {b:.2f} | {p:.2f} | {p / b:.3f} |", flush=True)


if __name__ == "__main__":
    main()
