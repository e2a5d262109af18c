"""The fastest a forward pass could be here: multiply-adds over the machine's GEMM ceiling.

    build/bench/kernels 2 peak                      # the ceiling: a large OpenBLAS sgemm, GMAC/s
    bench/.venv/bin/python bench/bounds.py --gmacs 104 MODEL.onnx [...]

For each model (batch 1, its input shape with the batch set to 1) it counts the multiply-adds
of every Conv, Gemm and MatMul, then those camkit's kernels actually spend: a 3x3 stride-1
convolution that takes Winograd (winograd.c, Winograd.tile: 16 channels or more in and out)
spends 36 per 4x4 output tile and channel pair, the best case of F(4x4, 3x3), about a quarter
of the direct count; everything else its direct count. Divided by --gmacs, that is a lower bound on
the forward's time: transforms, im2col, pooling, activations and memory traffic all come on
top. A target that needs less time than this bound cannot be met by better kernels, only by
doing less arithmetic. bench/RESULTS.md holds the measured times it is set against.
"""
import argparse
import math
import sys

import onnx
from onnx import shape_inference


def dims(value_info):
    return [d.dim_value if d.HasField("dim_value") else 1 for d in value_info.type.tensor_type.shape.dim]


def count(path):
    model = onnx.load(path)
    graph = model.graph
    init = {t.name: list(t.dims) for t in graph.initializer}
    for inp in graph.input:
        if inp.name in init:
            continue
        # Batch 1 (the exported models have a free batch dimension).
        dim = inp.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_param")
        dim.dim_value = 1
    model = shape_inference.infer_shapes(model)
    shapes = {v.name: dims(v) for v in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input)}
    shapes.update(init)
    direct = winograd = spent = 0
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = shapes[node.input[1]]
            y = shapes[node.output[0]]
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            group = attrs.get("group", 1)
            c_out, c_in_g, kh, kw = w
            n, _, h, wd = y
            macs = n * c_out * h * wd * c_in_g * kh * kw
            direct += macs
            stride = attrs.get("strides", [1, 1])
            dil = attrs.get("dilations", [1, 1])
            c_in = c_in_g * group
            if (kh, kw) == (3, 3) and stride == [1, 1] and dil == [1, 1] and group == 1 and c_in >= 16 and c_out >= 16:
                tiles = math.ceil(h / 4) * math.ceil(wd / 4)
                wino = n * tiles * 36 * c_in * c_out
                winograd += macs
                spent += wino
            else:
                spent += macs
        elif node.op_type in ("Gemm", "MatMul"):
            a = shapes[node.input[0]]
            y = shapes[node.output[0]]
            k = a[-1]
            if node.op_type == "Gemm":
                attrs = {a_.name: onnx.helper.get_attribute_value(a_) for a_ in node.attribute}
                if attrs.get("transA", 0):
                    k = a[0]
            macs = math.prod(y) * k
            direct += macs
            spent += macs
    return direct, winograd, spent


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="ONNX files (compare.py --keep-models DIR keeps its exports)")
    parser.add_argument("--gmacs", type=float, required=True,
                        help="the ceiling, GMAC/s on the thread count in question (build/bench/kernels N peak)")
    args = parser.parse_args()
    print(f"| model | direct GMAC | of it Winograd-able | spent GMAC | bound at {args.gmacs:g} GMAC/s (ms) |")
    print("|---|---|---|---|---|")
    for path in args.models:
        try:
            direct, winograd, spent = count(path)
        except Exception as e:   # unreadable file, not ONNX, shapes inference cannot settle: one line, not a trace
            sys.exit(f"bounds.py: {path}: {type(e).__name__}: {e}")
        print(f"| {path} | {direct / 1e9:.3f} | {winograd / 1e9:.3f} | {spent / 1e9:.3f} | {spent / args.gmacs / 1e6:.2f} |")


if __name__ == "__main__":
    main()
