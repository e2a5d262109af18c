#!/usr/bin/env python3
"""zoo-check: does camkit run the torchvision classification zoo like onnxruntime?

A developer tool, not run in CI. For each model: random init (fixed seed,
weights=None: nothing is downloaded); BatchNorm affine parameters randomized,
running stats calibrated on random images and then moved off a little (so
folding has four non-trivial vectors to get right while activations stay
O(1), which keeps the nets well conditioned); export to ONNX opset 17
(TorchScript exporter, constant folding on, dynamic batch); then the same
random N(0, 1) input through onnxruntime (one thread) and `camkit run`, and
compare the logits:

    max |camkit - ort| <= 1e-4 * max(1, max |ort|)

(float32 summation order differs between the engines). Prints one line per
model and batch: ok/FAIL, the diff, the tolerance, their ratio, max |ort|,
and the wall time of `camkit run` (process start, load, plan, run, write:
correctness is the point here, not speed), or camkit's error and the ops
outside its set when it refuses a model. On a FAIL it also prints how far
onnxruntime moves from itself with its graph optimizations off, to tell an
ill-conditioned model from a camkit bug. Exports are cached in --cache
(delete a file or pass --reexport after changing this script).

The default list is the CNN zoo plus variants (see CORE); --extra adds other
sizes of the same families and the transformer-style models (ConvNeXt, ViT,
Swin, MaxViT), which camkit refuses: they need LayerNormalization and Erf,
and ViT/Swin more (ConstantOfShape, Expand, Equal, Where, Mod, Range,
ScatterND, ...).

Needs torch, torchvision, onnx, onnxruntime and numpy, e.g.
    python -m venv /tmp/venv && /tmp/venv/bin/pip install torch torchvision onnx onnxruntime numpy
    swift build -c release
    /tmp/venv/bin/python scripts/zoo-check.py [--cache /tmp/zoo] [--models resnet18,vgg11] [--extra]

Exit status: 0 when every model checked passes, 1 otherwise.
"""

import argparse
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

# name -> (constructor kwargs, input side, batches to check). A name with a
# suffix is a variant of the architecture before the colon:
#   :nofold  exported with do_constant_folding=False, so the exporter leaves
#            BatchNormalization (and its shape arithmetic) for camkit to fold
#   :ti      transform_input=True (what the pretrained weights use), which
#            exports a Gather/Unsqueeze/Mul/Add/Concat prologue on the image
#   other    the same export under another name (other kwargs or batches)
CORE = {
    "resnet18": ({}, 224, (1, 2)),
    "resnet50": ({}, 224, (1,)),
    "vgg11": ({}, 224, (1,)),
    "vgg16_bn": ({}, 224, (1,)),
    "alexnet": ({}, 224, (1, 2)),
    "googlenet": ({"aux_logits": False, "init_weights": True}, 224, (1, 2)),
    "inception_v3": ({"aux_logits": False, "init_weights": True}, 299, (1,)),
    "squeezenet1_0": ({}, 224, (1,)),
    "squeezenet1_1": ({}, 224, (1,)),
    "densenet121": ({}, 224, (1, 2)),
    "mobilenet_v2": ({}, 224, (1,)),
    "mobilenet_v3_small": ({}, 224, (1, 2)),
    "mobilenet_v3_large": ({}, 224, (1,)),
    "shufflenet_v2_x1_0": ({}, 224, (1, 2)),
    "mnasnet0_5": ({}, 224, (1,)),
    "efficientnet_b0": ({}, 224, (1, 2)),
    "regnet_x_400mf": ({}, 224, (1,)),
    "regnet_y_400mf": ({}, 224, (1, 2)),
    # variants
    "googlenet:ti": ({"aux_logits": False, "init_weights": True, "transform_input": True}, 224, (1, 2)),
    "inception_v3:ti": ({"aux_logits": False, "init_weights": True, "transform_input": True}, 299, (1,)),
    "resnet18:nofold": ({}, 224, (1, 2)),
    "mobilenet_v3_small:nofold": ({}, 224, (1, 2)),
    "efficientnet_b0:nofold": ({}, 224, (1,)),
    "shufflenet_v2_x1_0:nofold": ({}, 224, (1, 2)),
    "densenet121:nofold": ({}, 224, (1,)),
    "regnet_y_400mf:nofold": ({}, 224, (1,)),
}

# More of the zoo (--extra): other depths and widths of the same families,
# and the transformer-style models, which need ops outside camkit's set.
EXTRA = {
    "resnet34": ({}, 224, (1,)),
    "resnet101": ({}, 224, (1,)),
    "resnext50_32x4d": ({}, 224, (1,)),
    "wide_resnet50_2": ({}, 224, (1,)),
    "vgg11_bn": ({}, 224, (1,)),
    "vgg19": ({}, 224, (1,)),
    "densenet169": ({}, 224, (1,)),
    "densenet161": ({}, 224, (1,)),
    "shufflenet_v2_x0_5": ({}, 224, (1,)),
    "shufflenet_v2_x2_0": ({}, 224, (1,)),
    "mnasnet1_0": ({}, 224, (1,)),
    "efficientnet_b1": ({}, 240, (1,)),
    "efficientnet_v2_s": ({}, 384, (1,)),
    "regnet_x_800mf": ({}, 224, (1,)),
    "regnet_y_800mf": ({}, 224, (1,)),
    "googlenet:pretrained-config": ({"aux_logits": True, "init_weights": True, "transform_input": True}, 224, (1,)),
    "inception_v3:pretrained-config": ({"aux_logits": True, "init_weights": True, "transform_input": True}, 299, (2,)),
    "vgg16_bn:batch4": ({}, 224, (4,)),
    "convnext_tiny": ({}, 224, (1,)),
    "vit_b_16": ({}, 224, (1,)),
    "swin_t": ({}, 224, (1,)),
    "swin_v2_t": ({}, 256, (1,)),
    "maxvit_t": ({}, 224, (1,)),
}

# camkit's operator set by design (Sources/CAMKit/Graph/Op.swift), to name
# what a model would still need when camkit refuses it.
CAMKIT_OPS = {
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "Conv", "Div",
    "Dropout", "Flatten", "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid",
    "HardSwish", "Identity", "LRN", "LeakyRelu", "MatMul", "MaxPool", "Mul", "Pad", "ReduceMean",
    "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "Sub",
    "Transpose", "Unsqueeze",
}

SEED = 0


def build(name, kwargs, side):
    import torch
    import torchvision.models as tvm

    torch.manual_seed(SEED)
    model = getattr(tvm, name)(weights=None, **kwargs)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    g = torch.Generator().manual_seed(SEED + 1)
    with torch.no_grad():
        if bns:
            # Random affine parameters first, then running stats calibrated
            # on random images (a cumulative average over one batch, with
            # dropout and stochastic depth off) so activations stay O(1)
            # through deep nets, then every statistic moved off a little:
            # folding must get all four vectors right, and the net must stay
            # well conditioned for a 1e-4 comparison to mean anything.
            for m in bns:
                n = m.num_features
                if m.affine:
                    m.weight.copy_(1 + 0.2 * torch.randn(n, generator=g))
                    m.bias.copy_(0.1 * torch.randn(n, generator=g))
                m.reset_running_stats()
                m.momentum = None
            model.eval()
            for m in bns:
                m.train()
            model(torch.randn(2, 3, side, side, generator=g))
            for m in bns:
                n = m.num_features
                m.running_mean.add_(0.05 * m.running_var.sqrt() * torch.randn(n, generator=g))
                m.running_var.mul_(0.9 + 0.2 * torch.rand(n, generator=g))
                m.momentum = 0.1
    return model.eval()


def export(name, kwargs, side, path, fold=True):
    import torch

    model = build(name, kwargs, side)
    x = torch.randn(1, 3, side, side, generator=torch.Generator().manual_seed(SEED))
    tmp = path.with_name(path.stem + ".tmp.onnx")
    torch.onnx.export(model, x, str(tmp), opset_version=17, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      dynamo=False, do_constant_folding=fold)
    os.replace(tmp, path)


def op_types(path):
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    ops = {n.op_type for n in m.graph.node}
    return ops


def reference(path, x, optimize=True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def camkit_run(camkit, path, x_path, out_path):
    start = time.perf_counter()
    proc = subprocess.run([str(camkit), "run", str(path), "--input-tensor", str(x_path), "--output", str(out_path)],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        return None, elapsed, (msg[-1] if msg else f"exit status {proc.returncode}")
    return np.load(out_path), elapsed, None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default="/tmp/zoo", help="directory for exported models and tensors (default /tmp/zoo)")
    ap.add_argument("--camkit", default=None, help="camkit binary (default: .build/release/camkit, else .build/debug/camkit)")
    ap.add_argument("--models", default=None, help="comma-separated model names (default: the core list)")
    ap.add_argument("--extra", action="store_true", help="also check the extra models (other sizes, transformers)")
    ap.add_argument("--reexport", action="store_true", help="export again even if the cache holds the model")
    args = ap.parse_args()

    camkit = Path(args.camkit) if args.camkit else next(
        (p for p in (REPO / ".build/release/camkit", REPO / ".build/debug/camkit") if p.exists()), None)
    if camkit is None or not camkit.exists():
        sys.exit("no camkit binary: run `swift build` (or pass --camkit)")
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    table = dict(CORE)
    if args.extra:
        table.update(EXTRA)
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        everything = {**CORE, **EXTRA}
        unknown = [n for n in names if n not in everything]
        if unknown:
            sys.exit(f"unknown model(s): {', '.join(unknown)} (known: {', '.join(everything)})")
        table = {n: everything[n] for n in names}

    print(f"camkit: {camkit}\ncache:  {cache}")
    width = max(len(n) for n in table) + 1

    def row(name, batch, result, note="", diff=None, tol=None, peak=None, secs=None):
        num = lambda v, f: format(v, f) if v is not None else "-"  # noqa: E731
        ratio = diff / tol if diff is not None and tol else None
        print(f"{name:<{width}} {batch:>2} {result:<6} {num(diff, '10.2e'):>10} {num(tol, '10.2e'):>10} "
              f"{num(ratio, '7.3f'):>7} {num(peak, '10.3g'):>10} {num(secs, '8.2f'):>8}  {note}".rstrip(), flush=True)

    print(f"{'model':<{width}} {'N':>2} {'result':<6} {'max diff':>10} {'tolerance':>10} {'ratio':>7} "
          f"{'max|ref|':>10} {'camkit s':>8}  note")
    failures = 0
    export_total = 0.0
    for name, (kwargs, side, batches) in table.items():
        stem = name.replace(":", "-")
        path = cache / f"{stem}.onnx"
        exported = ""
        if args.reexport or not path.exists():
            start = time.perf_counter()
            arch, _, variant = name.partition(":")
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    export(arch, kwargs, side, path, fold=variant != "nofold")
            except Exception as e:  # noqa: BLE001 - report and go on
                failures += 1
                row(name, "-", "FAIL", f"export failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                continue
            took = time.perf_counter() - start
            export_total += took
            exported = f"(exported in {took:.1f} s) "
        missing = sorted(op_types(path) - CAMKIT_OPS)
        for batch in batches:
            rng = np.random.default_rng(SEED + batch)
            x = rng.standard_normal((batch, 3, side, side)).astype(np.float32)
            x_path = cache / f"{stem}.input{batch}.npy"
            out_path = cache / f"{stem}.camkit{batch}.npy"
            np.save(x_path, x)
            try:
                ref = reference(path, x)
            except Exception as e:  # noqa: BLE001
                failures += 1
                row(name, batch, "FAIL", f"{exported}onnxruntime failed: {str(e).splitlines()[0]}")
                continue
            tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
            peak = float(np.abs(ref).max())
            got, elapsed, error = camkit_run(camkit, path, x_path, out_path)
            if error is not None:
                failures += 1
                note = f"{exported}camkit refused: {error}"
                if missing:
                    note += f" [ops outside camkit's set: {', '.join(missing)}]"
                row(name, batch, "FAIL", note, tol=tol, peak=peak, secs=elapsed)
                continue
            if got.shape != ref.shape:
                failures += 1
                row(name, batch, "FAIL", f"{exported}shape {got.shape}, onnxruntime {ref.shape}", tol=tol, peak=peak, secs=elapsed)
                continue
            diff = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
            ok = diff <= tol and bool(np.isfinite(got).all())
            failures += 0 if ok else 1
            top = "" if (got.argmax(-1) == ref.argmax(-1)).all() else "top-1 differs"
            if not ok:
                # How far onnxruntime moves from itself with its graph
                # optimizations off: near the diff, the model (as randomized)
                # is ill-conditioned rather than camkit wrong.
                floor = float(np.abs(reference(path, x, optimize=False) - ref).max())
                top += f" (onnxruntime unoptimized differs from itself by {floor:.2e})"
            row(name, batch, "ok" if ok else "FAIL", exported + top, diff, tol, peak, elapsed)
            exported = ""
    if export_total:
        print(f"export time (models exported this run): {export_total:.1f} s")
    print("all ok" if failures == 0 else f"{failures} failure(s)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
