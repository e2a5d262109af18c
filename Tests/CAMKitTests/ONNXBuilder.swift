import Foundation
@testable import CAMKit

/// Builds small ONNX models in memory with the generated protobuf types, so
/// tests can state exactly the graph they exercise.
enum ONNXBuilder {
    static func node(_ op: String, _ inputs: [String], _ outputs: [String], name: String? = nil,
                     ints: [String: [Int64]] = [:], int: [String: Int64] = [:], float: [String: Float] = [:]) -> Onnx_NodeProto {
        var n = Onnx_NodeProto()
        n.opType = op
        n.name = name ?? "\(op)_\(outputs.first ?? "")"
        n.input = inputs
        n.output = outputs
        for (k, v) in ints.sorted(by: { $0.key < $1.key }) {
            var a = Onnx_AttributeProto(); a.name = k; a.type = .ints; a.ints = v; n.attribute.append(a)
        }
        for (k, v) in int.sorted(by: { $0.key < $1.key }) {
            var a = Onnx_AttributeProto(); a.name = k; a.type = .int; a.i = v; n.attribute.append(a)
        }
        for (k, v) in float.sorted(by: { $0.key < $1.key }) {
            var a = Onnx_AttributeProto(); a.name = k; a.type = .float; a.f = v; n.attribute.append(a)
        }
        return n
    }

    static func floats(_ name: String, _ dims: [Int64], _ values: [Float]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = dims
        t.dataType = 1
        t.rawData = values.withUnsafeBytes { Data($0) }
        return t
    }

    static func ints(_ name: String, _ values: [Int64]) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dims = [Int64(values.count)]
        t.dataType = 7
        t.int64Data = values
        return t
    }

    static func valueInfo(_ name: String, _ dims: [Int64?]) -> Onnx_ValueInfoProto {
        var v = Onnx_ValueInfoProto()
        v.name = name
        var tt = Onnx_TypeProto.Tensor()
        tt.elemType = 1
        for d in dims {
            var dim = Onnx_TensorShapeProto.Dimension()
            if let d { dim.dimValue = d } else { dim.dimParam = "batch" }
            tt.shape.dim.append(dim)
        }
        v.type.tensorType = tt
        return v
    }

    static func model(nodes: [Onnx_NodeProto], initializers: [Onnx_TensorProto] = [],
                      input: (String, [Int64?]) = ("input", [nil, 3, 8, 8]), outputs: [String],
                      opset: Int64 = 17) -> Data {
        var m = Onnx_ModelProto()
        m.irVersion = 8
        var o = Onnx_OperatorSetIdProto()
        o.domain = ""
        o.version = opset
        m.opsetImport = [o]
        m.graph.name = "test"
        m.graph.node = nodes
        m.graph.initializer = initializers
        m.graph.input = [valueInfo(input.0, input.1)]
        m.graph.output = outputs.map { valueInfo($0, []) }
        return try! m.serializedBytes()
    }
}
