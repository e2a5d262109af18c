#!/usr/bin/env python3
"""camkit beside onnxruntime, PyTorch and pytorch-grad-cam: one run, one machine, the same files.

    bash bench/setup.sh                  # once: a venv with torch, torchvision, onnxruntime, grad-cam (never in CI)
    make release                         # build/bin/camkit
    bench/.venv/bin/python bench/compare.py [--models resnet18,resnet50,mobilenet_v2,vgg16] [--threads 2]

For each model it exports torchvision's architecture with random weights (seed 0) to ONNX
(opset 17, dynamic batch), then times at 224x224, batch 1 and batch 8, with the same thread count:

  camkit            forward, CAM, Grad-CAM, Grad-CAM++, Score-CAM  (`camkit bench --json`)
  onnxruntime       forward on the same .onnx file
  PyTorch           forward on the same weights
  pytorch-grad-cam  GradCAM, GradCAMPlusPlus, ScoreCAM, target layer as the fixtures choose it

Each measurement runs in its own process, so its peak resident memory (VmHWM) is its own, and
its runs are split into rounds (--rounds) in which camkit and its peers take turns, so that a
shared machine's drifting speed falls on all of them alike. The CAM methods explain the top-1
class of each image. Medians, min-max, peak memory and the ratios
go to stdout and to bench/RESULTS.md (with the machine and the versions).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The layer pytorch-grad-cam explains: the block whose output camkit's automatic choice picks.
TARGETS = {"resnet18": "layer4", "resnet50": "layer4", "mobilenet_v2": "features", "vgg16": "features",
           "mobilenet_v3_small": "features", "squeezenet1_1": "features"}
CAMKIT_METHODS = ["cam", "gradcam", "gradcam++", "scorecam"]
PEER_METHODS = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "scorecam": "ScoreCAM"}


# --- workers: each runs in its own process and prints one JSON line -----------------------

def peak_rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def timed(fn, runs, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return times


def worker(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    x = torch.randn(args.batch, 3, 224, 224)
    result = {}
    if args.worker == "ort":
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        t = time.perf_counter()
        session = ort.InferenceSession(args.onnx, opts, providers=["CPUExecutionProvider"])
        result["load_ms"] = (time.perf_counter() - t) * 1000
        feed = {session.get_inputs()[0].name: x.numpy()}
        times = timed(lambda: session.run(None, feed), args.runs)
    else:
        import torchvision
        model = torch.load(args.weights, weights_only=False).eval()
        if args.worker == "torch-forward":
            with torch.no_grad():
                times = timed(lambda: model(x), args.runs)
        else:
            import pytorch_grad_cam as pgc
            from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
            layer = getattr(model, TARGETS[args.arch])
            layer = layer[-1] if isinstance(layer, torch.nn.Sequential) else layer
            cam = getattr(pgc, PEER_METHODS[args.worker])(model=model, target_layers=[layer])
            with torch.no_grad():
                top1 = model(x).argmax(1).tolist()
            targets = [ClassifierOutputTarget(c) for c in top1]
            times = timed(lambda: cam(input_tensor=x, targets=targets), args.runs, warmup=args.warmup)
        del torchvision
    result.update(times=times, peak_rss_mb=peak_rss_mb())
    print(json.dumps(result))


# --- the driver ------------------------------------------------------------------------------

def run_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def summary(times):
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "runs": len(times)}


def fmt(m):
    if m is None:
        return "—"
    return f"{m['median_ms']:.2f} ({m['min_ms']:.2f}–{m['max_ms']:.2f})"


def ratio(a, b):
    return f"{a['median_ms'] / b['median_ms']:.2f}" if a and b else "—"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="resnet18,resnet50,mobilenet_v2,vgg16")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--methods", default=",".join(CAMKIT_METHODS), help="CAM methods to time besides the forward")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=20, help="timed runs of forward and gradient methods")
    p.add_argument("--rounds", type=int, default=4,
                   help="rounds the runs are split into, camkit and its peers taking turns (a shared VM's speed drifts)")
    p.add_argument("--scorecam-runs", type=int, default=2, help="timed runs of Score-CAM (each is hundreds of forwards)")
    p.add_argument("--camkit", default=os.path.join(ROOT, "build", "bin", "camkit"))
    p.add_argument("--output", default=os.path.join(HERE, "RESULTS.md"))
    p.add_argument("--keep-models", metavar="DIR",
                   help="export the ONNX files and PyTorch weights here and keep them (default: a temporary "
                        "directory, removed at the end; the four models take about 1.4 GB)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--arch", help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)

    import pytorch_grad_cam  # noqa: F401  (missing peers fail here, before minutes of exporting)

    if args.keep_models:
        os.makedirs(args.keep_models, exist_ok=True)
        return measure(args, args.keep_models)
    with tempfile.TemporaryDirectory(prefix="camkit-bench-") as workdir:
        return measure(args, workdir)


def measure(args, workdir):
    import torch
    import torchvision
    import onnxruntime
    from importlib.metadata import version

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    batches = [int(b) for b in args.batches.split(",")]
    rows = []   # (model, batch, what, camkit, peer name, peer)
    loads = {}

    def peer(worker, arch, onnx, weights, batch, runs, warmup=1):
        cmd = [sys.executable, __file__, "--worker", worker, "--arch", arch, "--onnx", onnx, "--weights", weights,
               "--batch", str(batch), "--runs", str(runs), "--threads", str(args.threads), "--warmup", str(warmup)]
        r = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        r = json.loads(r.strip().splitlines()[-1])
        return dict(times=r["times"], peak_rss_mb=r["peak_rss_mb"], load_ms=r.get("load_ms"))

    def ours(method, onnx, batch, runs):
        cmd = [args.camkit, "bench", onnx, "--method", method, "--batch", str(batch), "--runs", str(runs),
               "--threads", str(args.threads), "--json"]
        try:
            r = run_json(cmd)
        except subprocess.CalledProcessError as e:
            if method == "cam":   # plain CAM needs a GAP + linear head (vgg16 has none): not applicable
                print(f"  batch {batch} cam: not applicable ({e.stderr.strip()[:100]})", flush=True)
                return None
            raise
        return dict(times=r["times_ms"], peak_rss_mb=r["peak_rss_mb"], load_ms=r["load_ms"])

    def rounds(measures, runs, n):
        """Each measure (a function of a run count) n times, taking turns, so that the machine's
        drift falls on all of them alike; times pooled, peak memory the highest, load the median."""
        per = max(1, runs // n)
        got = [[] for _ in measures]
        for _ in range(n):
            for i, m in enumerate(measures):
                r = m(per)
                if r is None:   # camkit's plain CAM on a model without a GAP head
                    return [None] * len(measures)
                got[i].append(r)
        out = []
        for rs in got:
            loads_ = [r["load_ms"] for r in rs if r.get("load_ms") is not None]
            out.append(dict(summary([t for r in rs for t in r["times"]]), peak_rss_mb=max(r["peak_rss_mb"] for r in rs),
                            load_ms=statistics.median(loads_) if loads_ else None))
        return out

    for arch in args.models.split(","):
        torch.manual_seed(0)
        model = getattr(torchvision.models, arch)(weights=None).eval()
        onnx = os.path.join(workdir, f"{arch}.onnx")
        weights = os.path.join(workdir, f"{arch}.pt")
        torch.save(model, weights)
        torch.onnx.export(model, torch.randn(1, 3, 224, 224), onnx, opset_version=17, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          dynamo=False, do_constant_folding=True)
        print(f"{arch}: exported ({os.path.getsize(onnx) / 1e6:.0f} MB)", flush=True)
        for batch in batches:
            runs = args.runs if batch == 1 else max(3, args.runs // 4)
            n = min(args.rounds, runs)
            fwd, ort, pt = rounds([lambda k: ours("forward", onnx, batch, k),
                                   lambda k: peer("ort", arch, onnx, weights, batch, k),
                                   lambda k: peer("torch-forward", arch, onnx, weights, batch, k)], runs, n)
            loads[arch] = fwd["load_ms"]
            loads[arch + " (onnxruntime)"] = ort["load_ms"]
            rows.append((arch, batch, "forward", fwd, "onnxruntime", ort))
            rows.append((arch, batch, "forward", fwd, "PyTorch", pt))
            print(f"  batch {batch} forward: camkit {fmt(fwd)}  onnxruntime {fmt(ort)}  PyTorch {fmt(pt)}", flush=True)
            for method in [m for m in CAMKIT_METHODS if m in args.methods.split(",")]:
                if method == "scorecam" and batch != 1:
                    continue   # minutes per run for the peer; batch 1 shows the ratio
                # Score-CAM is hundreds of forwards per run: one round.
                k = args.scorecam_runs if method == "scorecam" else runs
                measures = [lambda k, m=method: ours(m, onnx, batch, k)]
                if method in PEER_METHODS:
                    measures.append(lambda k, m=method: peer(m, arch, onnx, weights, batch, k,
                                                             warmup=0 if m == "scorecam" else 1))
                got = rounds(measures, k, 1 if method == "scorecam" else n)
                mine, theirs = got[0], (got[1] if len(got) > 1 else None)
                if mine is None:
                    continue
                rows.append((arch, batch, method, mine, "pytorch-grad-cam" if theirs else "", theirs))
                print(f"  batch {batch} {method}: camkit {fmt(mine)}  peer {fmt(theirs)}", flush=True)

    write_report(args, rows, loads, versions={
        "torch": torch.__version__, "torchvision": torchvision.__version__, "onnxruntime": onnxruntime.__version__,
        "grad-cam": version("grad-cam"), "python": platform.python_version()})


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) // 1024 // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores, {mem} GiB, {platform.system()} {platform.release()}; camkit {commit or '?'}"


def write_report(args, rows, loads, versions):
    lines = [f"# camkit beside onnxruntime and PyTorch", "",
             f"Written by `bench/compare.py` on {datetime.date.today()}: {machine()}.",
             "Peers: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + ".",
             f"Threads: {args.threads} for every engine. 224x224 input, random weights (seed 0), "
             "milliseconds per batch: median (min–max) of all runs. The runs of each comparison are split "
             f"into {args.rounds} rounds in which camkit and its peers take turns, each round a new process "
             "(Score-CAM: one round); peak RSS is the highest VmHWM of those processes, load time the median.", "",
             "| model | batch | what | camkit ms | camkit MB | peer | peer ms | peer MB | camkit / peer |",
             "|---|---|---|---|---|---|---|---|---|"]
    for arch, batch, what, mine, name, theirs in rows:
        lines.append(f"| {arch} | {batch} | {what} | {fmt(mine)} | {mine['peak_rss_mb']:.0f} | {name or '—'} | "
                     f"{fmt(theirs)} | {theirs['peak_rss_mb']:.0f} | {ratio(mine, theirs)} |" if theirs else
                     f"| {arch} | {batch} | {what} | {fmt(mine)} | {mine['peak_rss_mb']:.0f} | — | — | — | — |")
    lines += ["", "## Targets", "", "| target | model | measured | goal | met |", "|---|---|---|---|---|"]

    def find(arch, batch, what, peer=None):
        for r in rows:
            if r[0] == arch and r[1] == batch and r[2] == what and (peer is None or r[4] == peer):
                return r
        return None

    for arch in dict.fromkeys(r[0] for r in rows):
        checks = []
        f = find(arch, 1, "forward", "onnxruntime")
        if f:
            checks.append(("forward / onnxruntime forward, batch 1", f[3]["median_ms"] / f[5]["median_ms"], 0.8))
        g = find(arch, 1, "gradcam")
        if g and f:
            checks.append(("Grad-CAM / camkit forward, batch 1", g[3]["median_ms"] / f[3]["median_ms"], 1.15))
        if g and g[5]:
            checks.append(("Grad-CAM / pytorch-grad-cam GradCAM, batch 1", g[3]["median_ms"] / g[5]["median_ms"], 0.25))
            checks.append(("Grad-CAM peak RSS / pytorch-grad-cam's", g[3]["peak_rss_mb"] / g[5]["peak_rss_mb"], 0.5))
        s = find(arch, 1, "scorecam")
        if s and s[5]:
            checks.append(("Score-CAM / pytorch-grad-cam ScoreCAM, batch 1", s[3]["median_ms"] / s[5]["median_ms"], 0.3))
        for what, value, goal in checks:
            lines.append(f"| {what} | {arch} | {value:.2f} | ≤ {goal} | {'yes' if value <= goal else '**no**'} |")
        if arch in loads:
            lines.append(f"| load + plan (ms; onnxruntime {loads.get(arch + ' (onnxruntime)', float('nan')):.0f}) | {arch} | "
                         f"{loads[arch]:.0f} | {'< 150' if arch == 'resnet50' else '—'} | "
                         f"{('yes' if loads[arch] < 150 else '**no**') if arch == 'resnet50' else '—'} |")
    text = "\n".join(lines) + "\n"
    with open(args.output, "w") as out:
        out.write(text)
    print(text)


if __name__ == "__main__":
    main()
