// A tiny protobuf encoder and the ONNX ModelProto of the demo network.
// Field numbers are onnx.proto's (see Sources/CAMKit/ONNX/onnx.pb.swift).
// onnx.proto is proto2, so repeated scalars are written unpacked, and fields
// that are set are written even when they hold the default value.

struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Wire types: 0 varint, 2 length-delimited, 5 fixed32.
    mutating func key(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }

    mutating func int(_ field: Int, _ value: Int64) {
        key(field, 0)
        varint(UInt64(bitPattern: value))
    }

    mutating func ints(_ field: Int, _ values: [Int64]) {
        for v in values { int(field, v) }
    }

    mutating func float(_ field: Int, _ value: Float) {
        key(field, 5)
        let b = value.bitPattern
        for i in 0..<4 { bytes.append(UInt8((b >> (8 * UInt32(i))) & 0xFF)) }
    }

    mutating func data(_ field: Int, _ payload: [UInt8]) {
        key(field, 2)
        varint(UInt64(payload.count))
        bytes.append(contentsOf: payload)
    }

    mutating func string(_ field: Int, _ s: String) { data(field, Array(s.utf8)) }

    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var inner = ProtoWriter()
        build(&inner)
        data(field, inner.bytes)
    }
}

enum ONNX {
    enum Attribute {
        case int(Int64), ints([Int64]), float(Float)
    }

    struct Node {
        var name: String, op: String, inputs: [String], outputs: [String]
        var attributes: [(String, Attribute)] = []
    }

    struct Initializer {
        var name: String, dims: [Int64], values: [Float]
    }

    /// Graph input or output: float32 with a symbolic batch dimension first.
    struct Value {
        var name: String, dims: [Int64]   // after the batch dimension
    }

    static func attribute(_ w: inout ProtoWriter, _ name: String, _ a: Attribute) {
        w.message(5) { a5 in                          // NodeProto.attribute
            a5.string(1, name)                        // AttributeProto.name
            switch a {
            case .float(let f): a5.float(2, f); a5.int(20, 1)     // f, type FLOAT
            case .int(let i): a5.int(3, i); a5.int(20, 2)         // i, type INT
            case .ints(let v): a5.ints(8, v); a5.int(20, 7)       // ints, type INTS
            }
        }
    }

    static func valueInfo(_ w: inout ProtoWriter, field: Int, _ v: Value) {
        w.message(field) { vi in
            vi.string(1, v.name)                                  // ValueInfoProto.name
            vi.message(2) { type in                               // .type: TypeProto
                type.message(1) { tensor in                       // .tensor_type
                    tensor.int(1, 1)                              // elem_type FLOAT
                    tensor.message(2) { shape in                  // .shape: TensorShapeProto
                        shape.message(1) { $0.string(2, "batch") }    // dim { dim_param }
                        for d in v.dims { shape.message(1) { $0.int(1, d) } }   // dim { dim_value }
                    }
                }
            }
        }
    }

    /// A ModelProto (IR version 8, default-domain opset 17).
    static func model(graphName: String, nodes: [Node], initializers: [Initializer], input: Value, output: Value,
                      docString: String, metadata: [(String, String)]) -> [UInt8] {
        var m = ProtoWriter()
        m.int(1, 8)                                   // ir_version
        m.string(2, "camkit-demo-data")               // producer_name
        m.string(3, "1.0")                            // producer_version
        m.string(6, docString)                        // doc_string
        m.message(7) { g in                           // graph: GraphProto
            for n in nodes {
                g.message(1) { nw in                  // node: NodeProto
                    for i in n.inputs { nw.string(1, i) }
                    for o in n.outputs { nw.string(2, o) }
                    nw.string(3, n.name)
                    nw.string(4, n.op)                // op_type
                    for (name, a) in n.attributes { attribute(&nw, name, a) }
                }
            }
            g.string(2, graphName)                    // name
            for t in initializers {
                g.message(5) { tw in                  // initializer: TensorProto
                    tw.ints(1, t.dims)                // dims
                    tw.int(2, 1)                      // data_type FLOAT
                    tw.string(8, t.name)              // name
                    var raw = [UInt8]()               // raw_data: little-endian float32
                    raw.reserveCapacity(t.values.count * 4)
                    for v in t.values {
                        let b = v.bitPattern
                        raw.append(UInt8(b & 0xFF)); raw.append(UInt8((b >> 8) & 0xFF))
                        raw.append(UInt8((b >> 16) & 0xFF)); raw.append(UInt8(b >> 24))
                    }
                    tw.data(9, raw)
                }
            }
            valueInfo(&g, field: 11, input)           // input
            valueInfo(&g, field: 12, output)          // output
        }
        m.message(8) { o in                           // opset_import: OperatorSetIdProto
            o.string(1, "")                           // domain
            o.int(2, 17)                              // version
        }
        for (k, v) in metadata {
            m.message(14) { e in e.string(1, k); e.string(2, v) }   // metadata_props
        }
        return m.bytes
    }
}

extension Network {
    /// The network as ONNX, with torch.onnx-style node, tensor and
    /// initializer names (an nn.Sequential `features`, `avgpool`, `fc`).
    func onnx(docString: String, metadata: [(String, String)]) -> [UInt8] {
        var nodes: [ONNX.Node] = []
        var current = "input"
        func add(_ module: String, _ op: String, _ extra: [String] = [], _ attributes: [(String, ONNX.Attribute)] = [],
                 output: String? = nil) {
            let name = module.isEmpty ? "/\(op)" : "/\(module.replacingDots())/\(op)"
            let out = output ?? "\(name)_output_0"
            nodes.append(ONNX.Node(name: name, op: op, inputs: [current] + extra, outputs: [out], attributes: attributes))
            current = out
        }
        let convAttributes: [(String, ONNX.Attribute)] = [
            ("dilations", .ints([1, 1])), ("group", .int(1)), ("kernel_shape", .ints([3, 3])),
            ("pads", .ints([1, 1, 1, 1])), ("strides", .ints([1, 1])),
        ]
        let poolAttributes: [(String, ONNX.Attribute)] = [
            ("ceil_mode", .int(0)), ("kernel_shape", .ints([2, 2])), ("pads", .ints([0, 0, 0, 0])), ("strides", .ints([2, 2])),
        ]
        add("features.0", "Conv", ["features.0.weight", "features.0.bias"], convAttributes)
        add("features.1", "Relu")
        add("features.2", "MaxPool", [], poolAttributes)
        add("features.3", "Conv", ["features.3.weight", "features.3.bias"], convAttributes)
        add("features.4", "Relu")
        add("features.5", "MaxPool", [], poolAttributes)
        add("features.6", "Conv", ["features.6.weight", "features.6.bias"], convAttributes)
        add("features.7", "Relu")
        add("avgpool", "GlobalAveragePool")
        add("", "Flatten", [], [("axis", .int(1))])
        add("fc", "Gemm", ["fc.weight", "fc.bias"], [("alpha", .float(1)), ("beta", .float(1)), ("transB", .int(1))],
            output: "logits")
        // Batch norm folded into each convolution (running statistics).
        var initializers: [ONNX.Initializer] = []
        for (b, module) in zip(blocks, [0, 3, 6]) {
            let (w, bias) = b.folded()
            initializers.append(ONNX.Initializer(name: "features.\(module).weight", dims: b.weight.shape.map { Int64($0) }, values: w))
            initializers.append(ONNX.Initializer(name: "features.\(module).bias", dims: [Int64(b.cout)], values: bias))
        }
        initializers.append(ONNX.Initializer(name: "fc.weight", dims: [Int64(classes), 32], values: fcW.value.array))
        initializers.append(ONNX.Initializer(name: "fc.bias", dims: [Int64(classes)], values: fcB.value.array))
        return ONNX.model(graphName: "main_graph", nodes: nodes, initializers: initializers,
                          input: ONNX.Value(name: "input", dims: [3, Int64(Network.inputSize), Int64(Network.inputSize)]),
                          output: ONNX.Value(name: "logits", dims: [Int64(classes)]),
                          docString: docString, metadata: metadata)
    }

    /// The name of the last ReLU's output (the CAM target layer).
    static let targetLayer = "/features/features.7/Relu_output_0"
}

private extension String {
    /// "features.0" -> "features/features.0"; "avgpool" -> "avgpool" (torch's scope path).
    func replacingDots() -> String {
        guard let dot = firstIndex(of: ".") else { return self }
        return "\(self[..<dot])/\(self)"
    }
}
