#!/usr/bin/env python3
"""Forward-pass latency of camkit beside onnxruntime, on the same ONNX files,
in the same run, on the same machine.

    pip install onnxruntime numpy        # never in CI
    python3 bench/forward.py MODEL.onnx [MODEL.onnx ...] [--runs 30] [--threads 0]

camkit is timed through `camkit bench --json` (release build, loaded once,
one warm-up pass); onnxruntime the same way: one session, one warm-up, the
median of --runs passes. Prints one line per model and the ratio
onnxruntime / camkit (above 1: camkit is faster).
"""
import argparse, json, os, statistics, subprocess, sys, time

def time_onnxruntime(path, runs, threads):
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    t0 = time.perf_counter()
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - t0) * 1000
    inp = session.get_inputs()[0]
    shape = [d if isinstance(d, int) else 1 for d in inp.shape]
    x = np.random.default_rng(0).uniform(-2, 2, size=shape).astype(np.float32)
    session.run(None, {inp.name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, {inp.name: x})
        times.append((time.perf_counter() - t) * 1000)
    return load_ms, statistics.median(times)

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="0: all cores, for both engines")
    parser.add_argument("--camkit", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "camkit"))
    args = parser.parse_args()
    if not os.path.exists(args.camkit):
        sys.exit(f"forward.py: {args.camkit} not found; run `swift build -c release` first")
    print(f"{'model':28} {'camkit load':>12} {'ort load':>10} {'camkit ms':>10} {'ort ms':>8} {'ort/camkit':>10}")
    for path in args.models:
        out = subprocess.run([args.camkit, "bench", path, "--runs", str(args.runs), "--threads", str(args.threads), "--json"],
                             check=True, capture_output=True, text=True).stdout
        ck = json.loads(out)
        ort_load, ort_ms = time_onnxruntime(path, args.runs, args.threads)
        name = os.path.basename(os.path.dirname(path)) or path
        print(f"{name:28} {ck['load_ms']:10.1f}ms {ort_load:8.1f}ms {ck['median_ms']:10.2f} {ort_ms:8.2f} {ort_ms / ck['median_ms']:10.2f}")

if __name__ == "__main__":
    main()
