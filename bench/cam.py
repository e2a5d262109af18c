#!/usr/bin/env python3
"""Grad-CAM (and forward) latency: camkit beside PyTorch + pytorch-grad-cam,
on the same architecture and weights, in the same run.

    pip install torch torchvision grad-cam==1.5.7 onnx     # never in CI
    python3 bench/cam.py [--arch resnet18] [--runs 30] [--threads 2] [--methods gradcam,gradcam++,...]

The torchvision model gets random weights (fixed seed), is exported to ONNX
(opset 17) for camkit, and the same module is handed to pytorch-grad-cam with
the target layer the fixtures use (layer4 for ResNets, features for
MobileNet/SqueezeNet). Both explain the top-1 class of one 224x224 image;
camkit is timed by `camkit bench --method M --json` (release build).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time

TARGETS = {"resnet18": "layer4", "resnet50": "layer4", "mobilenet_v3_small": "features", "squeezenet1_1": "features"}

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", default="resnet18", choices=sorted(TARGETS))
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--methods", default="gradcam")
    p.add_argument("--camkit", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "camkit"))
    args = p.parse_args()

    import numpy as np, torch, torchvision
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = getattr(torchvision.models, args.arch)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    onnx_path = os.path.join(tempfile.mkdtemp(), f"{args.arch}.onnx")
    torch.onnx.export(model, x, onnx_path, opset_version=17, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}}, dynamo=False, do_constant_folding=True)
    layer = getattr(model, TARGETS[args.arch])
    layer = layer[-1] if isinstance(layer, torch.nn.Sequential) else layer

    def median_ms(fn):
        fn()
        times = []
        for _ in range(args.runs):
            t = time.perf_counter(); fn(); times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    with torch.no_grad():
        torch_forward = median_ms(lambda: model(x))
    top1 = int(model(x).argmax())
    classes = {"gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "xgradcam": pgc.XGradCAM, "hirescam": pgc.HiResCAM,
               "layercam": pgc.LayerCAM, "eigencam": pgc.EigenCAM, "scorecam": pgc.ScoreCAM, "ablationcam": pgc.AblationCAM}

    def camkit(method):
        out = subprocess.run([args.camkit, "bench", onnx_path, "--method", method, "--runs", str(args.runs),
                              "--threads", str(args.threads), "--json"], check=True, capture_output=True, text=True).stdout
        return json.loads(out)["median_ms"]

    ck_forward = camkit("forward")
    print(f"{args.arch}, batch 1, {args.threads} threads, median of {args.runs}")
    print(f"{'':14} {'camkit ms':>10} {'torch ms':>10} {'torch/camkit':>12} {'camkit/own forward':>18}")
    print(f"{'forward':14} {ck_forward:10.2f} {torch_forward:10.2f} {torch_forward / ck_forward:12.2f} {1.0:18.2f}")
    for method in args.methods.split(","):
        cam = classes[method](model=model, target_layers=[layer])
        targets = [ClassifierOutputTarget(top1)]
        peer = median_ms(lambda: cam(input_tensor=x, targets=targets))
        ours = camkit(method)
        print(f"{method:14} {ours:10.2f} {peer:10.2f} {peer / ours:12.2f} {ours / ck_forward:18.2f}")

if __name__ == "__main__":
    main()
