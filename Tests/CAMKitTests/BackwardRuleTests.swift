import Foundation
import Testing
@testable import CAMKit

/// Every backward rule against central finite differences: a one- or
/// two-node graph y = f(x), loss = sum(r * y) for a random r, the analytic
/// d loss / d x from the backward pass against (L(x + e) - L(x - e)) / 2e.
@Suite struct BackwardRuleTests {
    typealias B = ONNXBuilder

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let shape: [Int]
        let nodes: [Onnx_NodeProto]
        let initializers: [Onnx_TensorProto]
        /// Keep inputs away from kinks (ReLU at 0, Clip bounds, HardSwish at +-3).
        let avoid: [Float]
        /// Distinct values 0.05 apart, so a max never changes hands under the perturbation.
        var spaced = false
        var testDescription: String { name }
    }

    static func c(_ name: String, _ shape: [Int], _ nodes: [Onnx_NodeProto], _ inits: [Onnx_TensorProto] = [], avoid: [Float] = []) -> Case {
        Case(name: name, shape: shape, nodes: nodes, initializers: inits, avoid: avoid)
    }

    static let w3 = B.floats("w", [4, 3, 3, 3], (0..<108).map { Float(($0 * 37) % 19) / 19 - 0.5 })
    static let dw = B.floats("dw", [3, 1, 3, 3], (0..<27).map { Float(($0 * 11) % 13) / 13 - 0.5 })
    static let fc = B.floats("fc", [5, 12], (0..<60).map { Float(($0 * 7) % 17) / 17 - 0.5 })
    static let fcT = B.floats("fcT", [12, 5], (0..<60).map { Float(($0 * 5) % 23) / 23 - 0.5 })
    static let bias5 = B.floats("b5", [5], [0.1, -0.2, 0.3, 0, 0.5])
    static let chan = B.floats("chan", [1, 3, 1, 1], [0.5, -1.5, 2])
    static let bn = [B.floats("g", [3], [1.5, -0.5, 0.7]), B.floats("bb", [3], [0.1, 0.2, -0.3]),
                     B.floats("m", [3], [0.3, -0.1, 0]), B.floats("v", [3], [2, 0.5, 1])]
    static let mat = B.floats("mat", [4, 6], (0..<24).map { Float(($0 * 3) % 11) / 11 - 0.5 })

    static let cases: [Case] = [
        c("Conv pads stride 2", [1, 3, 7, 6], [B.node("Conv", ["input", "w"], ["y"], ints: ["pads": [1, 0, 2, 1], "strides": [2, 2]])], [w3]),
        c("Conv dilation 2", [2, 3, 8, 8], [B.node("Conv", ["input", "w"], ["y"], ints: ["dilations": [2, 2], "pads": [2, 2, 2, 2]])], [w3]),
        c("Conv depthwise", [1, 3, 6, 7], [B.node("Conv", ["input", "dw"], ["y"], ints: ["pads": [1, 1, 1, 1]], int: ["group": 3])], [dw]),
        c("Relu", [1, 3, 4, 4], [B.node("Relu", ["input"], ["y"])], avoid: [0]),
        c("Clip (ReLU6)", [1, 3, 4, 4], [B.node("Clip", ["input", "lo", "hi"], ["y"])],
          [B.floats("lo", [], [0]), B.floats("hi", [], [1.5])], avoid: [0, 1.5]),
        c("LeakyRelu", [1, 3, 4, 4], [B.node("LeakyRelu", ["input"], ["y"], float: ["alpha": 0.1])], avoid: [0]),
        c("Sigmoid", [1, 3, 4, 4], [B.node("Sigmoid", ["input"], ["y"])]),
        c("HardSigmoid", [1, 3, 4, 4], [B.node("HardSigmoid", ["input"], ["y"], float: ["alpha": 0.6, "beta": 0.5])], avoid: [-0.8333, 0.8333]),
        c("HardSwish", [1, 3, 4, 4], [B.node("Mul", ["input", "three"], ["s"]), B.node("HardSwish", ["s"], ["y"])],
          [B.floats("three", [], [3])], avoid: [-1, 1]),
        c("BatchNormalization", [2, 3, 3, 3], [B.node("BatchNormalization", ["input", "g", "bb", "m", "v"], ["y"])], bn),
        c("Add broadcast", [2, 3, 3, 4], [B.node("Add", ["input", "chan"], ["y"])], [chan]),
        c("Sub constant minus x", [2, 3, 3, 4], [B.node("Sub", ["chan", "input"], ["y"])], [chan]),
        c("Mul squeeze-excite (both operands depend on x)", [2, 3, 3, 4],
          [B.node("GlobalAveragePool", ["input"], ["g"]), B.node("Sigmoid", ["g"], ["s"]), B.node("Mul", ["input", "s"], ["y"])]),
        c("Div by a positive function of x", [1, 3, 2, 5],
          [B.node("Sigmoid", ["input"], ["s"]), B.node("Add", ["s", "one"], ["d"]), B.node("Div", ["input", "d"], ["y"])],
          [B.floats("one", [], [1])]),
        c("MaxPool ceil, pads", [1, 3, 7, 7], [B.node("MaxPool", ["input"], ["y"], ints: ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 0, 0]], int: ["ceil_mode": 1])]),
        c("AveragePool count_include_pad", [1, 3, 7, 6], [B.node("AveragePool", ["input"], ["y"], ints: ["kernel_shape": [3, 2], "strides": [2, 2], "pads": [1, 1, 1, 1]], int: ["count_include_pad": 1])]),
        c("AveragePool exclude pad, ceil", [1, 3, 7, 6], [B.node("AveragePool", ["input"], ["y"], ints: ["kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]], int: ["ceil_mode": 1])]),
        c("GlobalAveragePool", [2, 3, 5, 4], [B.node("GlobalAveragePool", ["input"], ["y"])]),
        Case(name: "GlobalMaxPool", shape: [2, 3, 5, 4], nodes: [B.node("GlobalMaxPool", ["input"], ["y"])], initializers: [], avoid: [], spaced: true),
        c("ReduceMean spatial", [2, 3, 5, 4], [B.node("ReduceMean", ["input", "ax23"], ["y"], int: ["keepdims": 0])], [B.ints("ax23", [2, 3])]),
        c("ReduceMean channels", [2, 3, 5, 4], [B.node("ReduceMean", ["input", "ax1"], ["y"])], [B.ints("ax1", [1])]),
        c("Flatten + Gemm transB", [1, 3, 2, 2], [B.node("Flatten", ["input"], ["f"]), B.node("Gemm", ["f", "fc", "b5"], ["y"], int: ["transB": 1])], [fc, bias5]),
        c("Reshape + Gemm", [2, 3, 2, 2], [B.node("Reshape", ["input", "shape"], ["f"]), B.node("Gemm", ["f", "fcT"], ["y"], float: ["alpha": 0.5])],
          [B.ints("shape", [2, -1]), fcT]),
        c("Gemm transA", [1, 12, 1, 2], [B.node("Reshape", ["input", "shape"], ["f"]), B.node("Gemm", ["f", "fcT", "b5"], ["y"], int: ["transA": 1])],
          [B.ints("shape", [12, 2]), fcT, bias5]),
        c("Squeeze + Unsqueeze + MatMul", [1, 3, 1, 4], [B.node("Squeeze", ["input", "ax2"], ["s"]), B.node("MatMul", ["s", "mat"], ["m"]),
          B.node("Unsqueeze", ["m", "ax0"], ["y"])], [B.ints("ax2", [2]), B.ints("ax0", [0]), mat]),
        c("MatMul of two functions of x", [1, 1, 4, 4], [B.node("Sigmoid", ["input"], ["s"]), B.node("MatMul", ["input", "s"], ["y"])]),
        c("Concat + Split", [1, 3, 3, 3], [B.node("Relu", ["input"], ["r"]), B.node("Concat", ["input", "r", "input"], ["cc"], int: ["axis": 1]),
          B.node("Split", ["cc", "parts"], ["y", "z"], int: ["axis": 1])], [B.ints("parts", [4, 5])], avoid: [0]),
        c("Transpose", [2, 3, 4, 5], [B.node("Transpose", ["input"], ["y"], ints: ["perm": [0, 2, 3, 1]])]),
        c("Slice with steps", [2, 3, 6, 5], [B.node("Slice", ["input", "st", "en", "ax", "sp"], ["y"])],
          [B.ints("st", [1, 4]), B.ints("en", [6, 0]), B.ints("ax", [2, 3]), B.ints("sp", [2, -2])]),
        c("Pad constant", [1, 3, 3, 3], [B.node("Pad", ["input", "pads"], ["y"])], [B.ints("pads", [0, 0, 1, 2, 0, 0, 2, 1])]),
        c("Softmax last axis", [2, 3, 2, 5], [B.node("Softmax", ["input"], ["y"])]),
        c("Softmax inner axis", [2, 3, 2, 5], [B.node("Softmax", ["input"], ["y"], int: ["axis": 1])]),
    ]

    @Test(arguments: cases)
    func backwardMatchesFiniteDifferences(_ c: Case) throws {
        let data = B.model(nodes: c.nodes, initializers: c.initializers, input: ("input", c.shape.map { Int64($0) }), outputs: ["y"])
        let graph = try ONNXImport.load(data: data, name: c.name, directory: nil)
        let input = graph.inputs[0].id
        let plan = try Plan(graph: graph, inputShape: c.shape, exposed: Set(graph.nodes.flatMap(\.outputs)))
        let tail = Tail(plan: plan, target: input)
        let output = graph.outputs[0]

        var seed: UInt64 = 17
        for byte in c.name.utf8 { seed = seed &* 31 &+ UInt64(byte) }
        var rng = SplitMix(seed: seed)
        var start: [Float] = []
        for _ in 0..<c.shape.reduce(1, *) {
            var v: Float = rng.nextFloat() * 2
            while c.avoid.contains(where: { abs($0 - v) < 0.05 }) { v = rng.nextFloat() * 2 }
            start.append(v)
        }
        if c.spaced {
            start = start.indices.map { Float($0) * 0.05 - 3 }
            for i in stride(from: start.count - 1, to: 0, by: -1) { start.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        }
        var x = try Tensor(shape: c.shape, scalars: start)
        let values = try plan.run(x, returning: tail.needed)
        guard case .float(let y)? = values[output] else { Issue.record("no output"); return }
        let r = try Tensor(shape: y.shape, scalars: (0..<y.count).map { _ in rng.nextFloat() })
        let analytic = try plan.gradient(of: output, seed: r, at: tail, values: values)
        #expect(analytic.shape == c.shape)

        func loss(_ t: Tensor) throws -> Double {
            guard case .float(let out)? = try plan.run(t)[output] else { return .nan }
            var total = 0.0
            for (a, b) in zip(out.scalars, r.scalars) { total += Double(a) * Double(b) }
            return total
        }
        let eps: Float = 1e-2
        var worst = 0.0
        for i in 0..<x.count {
            let original = x.scalars[i]
            x.scalars[i] = original + eps
            let plus = try loss(x)
            x.scalars[i] = original - eps
            let minus = try loss(x)
            x.scalars[i] = original
            let numeric = (plus - minus) / Double(2 * eps)
            worst = max(worst, abs(numeric - Double(analytic.scalars[i])) / max(1, abs(numeric)))
        }
        #expect(worst < 5e-3, "\(c.name): worst relative gradient error \(worst)")
    }
}
