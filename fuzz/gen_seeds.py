#!/usr/bin/env python3
"""gen_seeds.py: small ONNX models, .npy files and cam_localize_tensor
requests, seeds for the onnx_loader, npy_reader and localize_tensor fuzzers
(make fuzz-seeds runs it; nothing it writes is committed). Standard library
only: the protobuf wire format is written by hand below, with the field
numbers of onnx.proto.

    gen_seeds.py SEEDS_DIR             seeds in SEEDS_DIR/onnx_loader, npy_reader, localize_tensor
    gen_seeds.py --models MODELS_DIR   the three models localize_tensor loads (committed in
                                       fuzz/models, where FuzzRegressionTests finds them too)

The models are a few hundred bytes each, so most mutations hit structure
(ops, attributes, shapes, names) rather than weights, and every supported
operator appears in at least one of them, in the forms the importer tells
apart: raw_data and typed fields, Constant nodes of every kind, opset 11
and 17 attribute-versus-input forms, external data, free dimensions.
"""
import os
import struct
import sys

# ---- protobuf wire format ----------------------------------------------------


def varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(field, wire):
    return varint(field << 3 | wire)


def f_varint(field, n):
    return key(field, 0) + varint(n)


def f_bytes(field, b):
    if isinstance(b, str):
        b = b.encode()
    return key(field, 2) + varint(len(b)) + b


def f_float(field, x):
    return key(field, 5) + struct.pack("<f", x)


def f_packed_varints(field, values):
    return f_bytes(field, b"".join(varint(v) for v in values))


def f_packed_floats(field, values):
    return f_bytes(field, struct.pack("<%df" % len(values), *values))


def f_packed_doubles(field, values):
    return f_bytes(field, struct.pack("<%dd" % len(values), *values))


# ---- ONNX messages ---------------------------------------------------------------

FLOAT, UINT8, INT8, INT32, INT64, BOOL, DOUBLE = 1, 2, 3, 6, 7, 9, 11


def tensor(name, dims, values, dtype=FLOAT, raw=True, external=None):
    """TensorProto: dims=1 data_type=2 float_data=4 int32_data=5 int64_data=7
    name=8 raw_data=9 double_data=10 external_data=13 data_location=14."""
    msg = f_packed_varints(1, dims) + f_varint(2, dtype) + f_bytes(8, name)
    if external is not None:
        for k, v in external.items():
            msg += f_bytes(13, f_bytes(1, k) + f_bytes(2, v))
        return msg + f_varint(14, 1)
    if raw:
        fmt = {FLOAT: "f", DOUBLE: "d", INT64: "q", INT32: "i", INT8: "b", UINT8: "B", BOOL: "B"}[dtype]
        return msg + f_bytes(9, struct.pack("<%d%s" % (len(values), fmt), *values))
    if dtype == FLOAT:
        return msg + f_packed_floats(4, values)
    if dtype == DOUBLE:
        return msg + f_packed_doubles(10, values)
    if dtype == INT64:
        return msg + f_packed_varints(7, values)
    return msg + f_packed_varints(5, values)


def attr(name, value):
    """AttributeProto: name=1 f=2 i=3 s=4 t=5 floats=7 ints=8 type=20
    (FLOAT=1 INT=2 STRING=3 TENSOR=4 FLOATS=6 INTS=7)."""
    msg = f_bytes(1, name)
    if isinstance(value, float):
        return msg + f_float(2, value) + f_varint(20, 1)
    if isinstance(value, int):
        return msg + f_varint(3, value) + f_varint(20, 2)
    if isinstance(value, str):
        return msg + f_bytes(4, value) + f_varint(20, 3)
    if isinstance(value, bytes):   # an encoded TensorProto
        return msg + f_bytes(5, value) + f_varint(20, 4)
    if value and isinstance(value[0], float):
        return msg + f_packed_floats(7, value) + f_varint(20, 6)
    return msg + f_packed_varints(8, value) + f_varint(20, 7)


def node(op, inputs, outputs, name=None, **attrs):
    """NodeProto: input=1 output=2 name=3 op_type=4 attribute=5."""
    msg = b"".join(f_bytes(1, i) for i in inputs) + b"".join(f_bytes(2, o) for o in outputs)
    msg += f_bytes(3, name or "%s_%s" % (op, outputs[0] if outputs else "")) + f_bytes(4, op)
    for k, v in sorted(attrs.items()):
        msg += f_bytes(5, attr(k, v))
    return msg


def value_info(name, dims):
    """ValueInfoProto name=1 type=2; TypeProto tensor_type=1; Tensor elem_type=1
    shape=2; TensorShapeProto dim=1; Dimension dim_value=1 dim_param=2."""
    shape = b"".join(f_bytes(1, f_varint(1, d) if isinstance(d, int) else f_bytes(2, d)) for d in dims or ())
    tt = f_varint(1, FLOAT) + (f_bytes(2, shape) if dims is not None else b"")
    return f_bytes(1, name) + f_bytes(2, f_bytes(1, tt))


def model(nodes, initializers=(), input_dims=("N", 3, 8, 8), outputs=("y",), opset=17, extra_inputs=()):
    """ModelProto: ir_version=1 producer_name=2 graph=7 opset_import=8;
    GraphProto: node=1 name=2 initializer=5 input=11 output=12;
    OperatorSetIdProto: domain=1 version=2."""
    graph = b"".join(f_bytes(1, n) for n in nodes) + f_bytes(2, "seed")
    graph += b"".join(f_bytes(5, t) for t in initializers)
    graph += f_bytes(11, value_info("input", list(input_dims)))
    for name, dims in extra_inputs:
        graph += f_bytes(11, value_info(name, dims))
    graph += b"".join(f_bytes(12, value_info(o, None)) for o in outputs)
    return f_varint(1, 8) + f_bytes(2, "gen_seeds") + f_bytes(7, graph) + f_bytes(8, f_bytes(1, "") + f_varint(2, opset))


def weights(n, scale=0.1):
    return [((i * 7919) % 23 - 11) * scale / 11 for i in range(n)]


# ---- the models ----------------------------------------------------------------


def models():
    m = {}
    # The classic CAM classifier: Conv, Relu, global pooling, Flatten, Gemm.
    m["cam_classifier"] = model(
        [node("Conv", ["input", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         node("Relu", ["c"], ["r"]),
         node("GlobalAveragePool", ["r"], ["g"]),
         node("Flatten", ["g"], ["f"], axis=1),
         node("Gemm", ["f", "fc_w", "fc_b"], ["y"], transB=1)],
        [tensor("w", [4, 3, 3, 3], weights(108)), tensor("b", [4], weights(4)),
         tensor("fc_w", [5, 4], weights(20)), tensor("fc_b", [5], weights(5))])
    # BatchNorm folded into its Conv, Clip (ReLU6) from inputs, MaxPool,
    # depthwise Conv with strides, HardSwish, ReduceMean, MatMul + Add.
    m["mobile_block"] = model(
        [node("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
         node("BatchNormalization", ["c", "s", "bb", "mu", "var"], ["bn"], epsilon=1e-5),
         node("Clip", ["bn", "lo", "hi"], ["clip"]),
         node("MaxPool", ["clip"], ["mp"], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 1, 1]),
         node("Conv", ["mp", "dw"], ["d"], kernel_shape=[3, 3], group=6, pads=[1, 1, 1, 1], dilations=[1, 1]),
         node("HardSwish", ["d"], ["hs"]),
         node("ReduceMean", ["hs"], ["rm"], axes=[2, 3], keepdims=0),
         node("MatMul", ["rm", "mm"], ["mmo"]),
         node("Add", ["mmo", "mb"], ["y"])],
        [tensor("w", [6, 3, 3, 3], weights(162)), tensor("s", [6], [1.0] * 6), tensor("bb", [6], weights(6)),
         tensor("mu", [6], weights(6)), tensor("var", [6], [1.0] * 6), tensor("lo", [], [0.0]), tensor("hi", [], [6.0]),
         tensor("dw", [6, 1, 3, 3], weights(54)), tensor("mm", [6, 4], weights(24)), tensor("mb", [4], weights(4))])
    # The exporters' shape arithmetic: Shape, Gather, Unsqueeze, Concat,
    # Reshape, folded at planning; Constant nodes of every kind; Identity and
    # Dropout removed at load.
    m["shape_arithmetic"] = model(
        [node("Constant", [], ["k0"], value=tensor("k0", [], [0], INT64)),
         node("Constant", [], ["kneg"], value_ints=[-1]),
         node("Constant", [], ["kf"], value_float=0.5),
         node("Constant", [], ["kfs"], value_floats=[1.0, 2.0, 3.0]),
         node("Constant", [], ["ki"], value_int=1),
         node("Identity", ["input"], ["id"]),
         node("Dropout", ["id"], ["dr"]),
         node("Shape", ["dr"], ["shp"]),
         node("Gather", ["shp", "k0"], ["n"], axis=0),
         node("Unsqueeze", ["n", "axes0"], ["n1"]),
         node("Concat", ["n1", "kneg"], ["newshape"], axis=0),
         node("Reshape", ["dr", "newshape"], ["flat"]),
         node("Mul", ["flat", "kf"], ["half"]),
         node("Slice", ["half", "starts", "ends", "axes1", "steps"], ["sl"]),
         node("Gemm", ["sl", "fc_w"], ["g"], alpha=1.0, beta=1.0, transB=1),
         node("Softmax", ["g"], ["y"], axis=-1)],
        [tensor("axes0", [1], [0], INT64), tensor("starts", [1], [0], INT64), tensor("ends", [1], [96], INT64),
         tensor("axes1", [1], [1], INT64), tensor("steps", [1], [2], INT64), tensor("fc_w", [3, 48], weights(144))])
    # Element-wise ops with broadcasting, activations, Transpose, Split,
    # Squeeze, Pad, AveragePool (ceil_mode, count_include_pad), LRN,
    # GlobalMaxPool, Cast.
    m["elementwise_zoo"] = model(
        [node("Sub", ["input", "mean"], ["sub"]),
         node("Div", ["sub", "std"], ["div"]),
         node("Sigmoid", ["div"], ["sig"]),
         node("LeakyRelu", ["div"], ["lr"], alpha=0.1),
         node("HardSigmoid", ["lr"], ["hsg"], alpha=0.2, beta=0.5),
         node("Mul", ["sig", "hsg"], ["prod"]),
         node("Pad", ["prod", "pads", "pv"], ["pad"], mode="constant"),
         node("AveragePool", ["pad"], ["ap"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, count_include_pad=1),
         node("LRN", ["ap"], ["lrn"], size=3, alpha=1e-4, beta=0.75, bias=1.0),
         node("Split", ["lrn", "split"], ["s0", "s1"], axis=1),
         node("Transpose", ["s0"], ["t"], perm=[0, 1, 3, 2]),
         node("Concat", ["t", "s1"], ["cat"], axis=1),
         node("GlobalMaxPool", ["cat"], ["gmp"]),
         node("Squeeze", ["gmp", "sq"], ["sqz"]),
         node("Cast", ["sqz"], ["cst"], to=1),
         node("Gemm", ["cst", "fc_w", "fc_b"], ["y"])],
        [tensor("mean", [1, 3, 1, 1], [0.485, 0.456, 0.406]), tensor("std", [3, 1, 1], [0.229, 0.224, 0.225]),
         tensor("pads", [8], [0, 0, 1, 1, 0, 0, 1, 1], INT64), tensor("pv", [], [0.0]),
         tensor("split", [2], [1, 2], INT64), tensor("sq", [2], [2, 3], INT64),
         tensor("fc_w", [3, 4], weights(12)), tensor("fc_b", [4], weights(4))])
    # Opset 11: Squeeze/Unsqueeze axes and Softmax's 2-D coercion as
    # attributes, Split sizes as an attribute, typed (not raw) initializers.
    m["opset11_typed"] = model(
        [node("Conv", ["input", "w", "b"], ["c"], kernel_shape=[1, 1], auto_pad="SAME_UPPER"),
         node("Relu", ["c"], ["r"]),
         node("Split", ["r"], ["a", "b2"], axis=1, split=[2, 2]),
         node("Add", ["a", "b2"], ["s"]),
         node("GlobalAveragePool", ["s"], ["g"]),
         node("Squeeze", ["g"], ["sq"], axes=[2, 3]),
         node("Unsqueeze", ["sq"], ["us"], axes=[2]),
         node("Flatten", ["us"], ["f"]),
         node("Gemm", ["f", "fc_w", "fc_b"], ["lg"], transB=1),
         node("Softmax", ["lg"], ["y"], axis=1)],
        [tensor("w", [4, 3, 1, 1], weights(12), raw=False), tensor("b", [4], weights(4), DOUBLE, raw=False),
         tensor("fc_w", [3, 2], weights(6), raw=False), tensor("fc_b", [3], [0.0, 1.0, 2.0], raw=False)],
        opset=11)
    # Free height and width (refused at load unless a size is given), a
    # second graph input, external data (refused from memory), and a graph
    # output that nothing produces: the importer's refusals.
    m["free_size"] = model(
        [node("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3]),
         node("GlobalAveragePool", ["c"], ["g"]),
         node("Flatten", ["g"], ["y"])],
        [tensor("w", [2, 3, 3, 3], weights(54))], input_dims=("N", 3, "H", "W"))
    m["external_data"] = model(
        [node("Conv", ["input", "w"], ["c"], kernel_shape=[3, 3]),
         node("GlobalAveragePool", ["c"], ["g"]),
         node("Flatten", ["g"], ["y"])],
        [tensor("w", [2, 3, 3, 3], [], external={"location": "weights.bin", "offset": "0", "length": "216"})])
    m["two_inputs"] = model(
        [node("Add", ["input", "other"], ["y"])], extra_inputs=[("other", [1, 3, 8, 8])])
    m["int_initializers"] = model(
        [node("Reshape", ["input", "shape"], ["r"]),
         node("Gather", ["r", "idx"], ["gt"], axis=1),
         node("Cast", ["gt"], ["y"], to=1)],
        [tensor("shape", [2], [1, -1], INT64, raw=False), tensor("idx", [2], [0, 5], INT32, raw=False),
         tensor("unused", [3], [1, 0, 1], BOOL), tensor("unused8", [2], [-3, 4], INT8)], input_dims=(1, 3, 4, 4))
    return m


# ---- the cam_localize_tensor fuzzer's models ---------------------------------------
#
# Look-alikes of the fixtures' tiny_resnet, tiny_mobilenet and tiny_vgg_fc
# with 8 channels and free height and width (the fixtures fix 64 x 64, which
# runs at some 25 calls a second under ASan): a residual block before global
# average pooling (plain CAM applies); strided and depthwise convolutions
# with ReLU6 (Clip), a 1x1 projection, a residual Add, HardSwish and
# ReduceMean; max pooling with ceil_mode before global max pooling (plain
# CAM does not apply). Ten classes each. localize_tensor.c names their
# tensors.


def localize_models():
    def fc(n_in):
        return [tensor("fc_w", [10, n_in], weights(10 * n_in, 0.5)), tensor("fc_b", [10], weights(10))]
    free = ("N", 3, "H", "W")
    m = {}
    m["small_resnet"] = model(
        [node("Conv", ["input", "w1", "b1"], ["c1"], name="/stem/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         node("Relu", ["c1"], ["r1"], name="/stem/Relu"),
         node("Conv", ["r1", "w2", "b2"], ["c2"], name="/block/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         node("Add", ["c2", "r1"], ["sum"], name="/block/Add"),
         node("Relu", ["sum"], ["features"], name="/block/Relu"),
         node("GlobalAveragePool", ["features"], ["gap"], name="/pool"),
         node("Flatten", ["gap"], ["flat"], name="/flatten"),
         node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="/fc", transB=1)],
        [tensor("w1", [8, 3, 3, 3], weights(216, 0.4)), tensor("b1", [8], weights(8)),
         tensor("w2", [8, 8, 3, 3], weights(576, 0.2)), tensor("b2", [8], weights(8))] + fc(8),
        input_dims=free, outputs=("logits",))
    m["small_mobilenet"] = model(
        [node("Conv", ["input", "w1"], ["c1"], name="/stem/Conv", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
         node("Clip", ["c1", "lo", "hi"], ["a1"], name="/stem/Clip"),
         node("Conv", ["a1", "dw"], ["c2"], name="/dw/Conv", kernel_shape=[3, 3], group=8, pads=[1, 1, 1, 1]),
         node("Clip", ["c2", "lo", "hi"], ["a2"], name="/dw/Clip"),
         node("Conv", ["a2", "pw", "pb"], ["c3"], name="/pw/Conv", kernel_shape=[1, 1]),
         node("Add", ["c3", "a1"], ["sum"], name="/block/Add"),
         node("HardSwish", ["sum"], ["features"], name="/head/HardSwish"),
         node("ReduceMean", ["features"], ["pooled"], name="/ReduceMean", axes=[2, 3], keepdims=0),
         node("Gemm", ["pooled", "fc_w", "fc_b"], ["logits"], name="/fc", transB=1)],
        [tensor("w1", [8, 3, 3, 3], weights(216, 0.4)), tensor("lo", [], [0.0]), tensor("hi", [], [6.0]),
         tensor("dw", [8, 1, 3, 3], weights(72, 0.4)), tensor("pw", [8, 8, 1, 1], weights(64, 0.3)),
         tensor("pb", [8], weights(8))] + fc(8),
        input_dims=free, outputs=("logits",))
    m["small_vgg"] = model(
        [node("Conv", ["input", "w1", "b1"], ["c1"], name="/features.0/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         node("Relu", ["c1"], ["r1"], name="/features.1/Relu"),
         node("MaxPool", ["r1"], ["p1"], name="/features.2/MaxPool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
         node("Conv", ["p1", "w2", "b2"], ["c2"], name="/features.3/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         node("Relu", ["c2"], ["features"], name="/features.4/Relu"),
         node("GlobalMaxPool", ["features"], ["gmp"], name="/pool"),
         node("Flatten", ["gmp"], ["flat"], name="/flatten"),
         node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="/fc", transB=1)],
        [tensor("w1", [8, 3, 3, 3], weights(216, 0.4)), tensor("b1", [8], weights(8)),
         tensor("w2", [8, 8, 3, 3], weights(576, 0.2)), tensor("b2", [8], weights(8))] + fc(8),
        input_dims=free, outputs=("logits",))
    return m


# ---- .npy ---------------------------------------------------------------------------


def npy(shape, values, version=1, descr="<f4", fortran=False, header_extra=""):
    shape_text = "(%s)" % (", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    header = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, %s}" % (descr, fortran, shape_text, header_extra)
    prefix = 10 if version == 1 else 12
    header += " " * ((64 - (prefix + len(header) + 1) % 64) % 64) + "\n"
    h = header.encode("latin-1" if version < 3 else "utf-8")
    length = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + length + h + struct.pack("<%df" % len(values), *values)


def npys():
    return {
        "scalar": npy([], [1.5]),
        "vector": npy([3], [1.0, -2.0, 3.5]),
        "nchw": npy([1, 3, 2, 2], [i / 12 for i in range(12)]),
        "empty": npy([0, 3], []),
        "v2": npy([2, 2], [1, 2, 3, 4], version=2),
        "v3_utf8": npy([2], [5, 6], version=3),
        "double_quotes": (b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) +
                          b'{"descr": "<f4", "fortran_order": False, "shape": (2, 1), }'.ljust(117) + b"\n" +
                          struct.pack("<2f", 7, 8)),
        "float64": npy([2], [], descr="<f8") + struct.pack("<2d", 1, 2),
        "fortran": npy([2, 2], [1, 2, 3, 4], fortran=True),
        "nan_inf": npy([3], [float("nan"), float("inf"), -0.0]),
    }


# ---- cam_localize_tensor requests (the layout is in localize_tensor.c) ---------------


def request(model=0, method=1, top_k=5, class_index=-1, threshold=0.2, layer=0, name=b"", size_delta=0,
            height=18, width=18, fill=1, flags=0, payload=b"\x80\x40\xc0\x10\xf0\x77"):
    header = struct.pack("<BbbbfBBbBBBBB", model, method, top_k, class_index, threshold, layer, len(name),
                         size_delta, height, width, fill, flags, 0)
    return header + name + payload


def requests():
    r = {}
    for model in range(3):
        for method in range(9):
            r["m%d_method%d" % (model, method)] = request(model, method, top_k=3 if method % 2 else 1)
        r["m%d_class" % model] = request(model, 1, class_index=7, threshold=0.5, fill=3, height=9, width=30)
        r["m%d_layer_early" % model] = request(model, 2, layer=3, fill=3)
        r["m%d_layer_named" % model] = request(model, 1, layer=1, name=b"input")
        r["m%d_defaults" % model] = request(model, flags=2, fill=2)
    r["raw_floats"] = request(0, 1, fill=0, payload=struct.pack("<4f", 0.5, -1.25, 3.0, 1e-3))
    r["nan"] = request(1, 4, fill=0, payload=struct.pack("<2f", 1.0, float("nan")))
    r["one_pixel"] = request(2, 1, height=3, width=3)
    r["bad_struct_size"] = request(0, 1, size_delta=-8, flags=1)
    r["bad_threshold"] = request(1, 1, threshold=1.0)
    return r


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--models":
        root, sets = sys.argv[2], (("", localize_models(), "onnx"),)
    elif len(sys.argv) == 2:
        root = sys.argv[1]
        sets = (("onnx_loader", models(), "onnx"), ("npy_reader", npys(), "npy"), ("localize_tensor", requests(), "bin"))
    else:
        sys.exit("usage: gen_seeds.py SEEDS_DIR | --models MODELS_DIR")
    for target, items, ext in sets:
        d = os.path.join(root, target)
        os.makedirs(d, exist_ok=True)
        for name, data in items.items():
            with open(os.path.join(d, "%s.%s" % (name, ext)), "wb") as f:
                f.write(data)
    print("gen_seeds: " + ", ".join("%d %s" % (len(items), target or "models") for target, items, _ in sets))


if __name__ == "__main__":
    main()
