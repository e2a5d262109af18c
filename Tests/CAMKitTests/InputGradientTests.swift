import Foundation
import Testing
@testable import CAMKit

/// The gradient of a logit with respect to the network's input, through the
/// whole network (backprop saliency), against central finite differences of
/// the forward pass, on small nets with convolutions, ReLUs, max pooling and
/// global average or max pooling.
@Suite struct InputGradientTests {
    typealias B = ONNXBuilder

    static func model(globalPool: String) throws -> CAMModel {
        let w1 = B.floats("w1", [4, 3, 3, 3], (0..<108).map { Float(($0 * 37) % 19) / 19 - 0.45 })
        let b1 = B.floats("b1", [4], [0.1, -0.05, 0.2, 0])
        let w2 = B.floats("w2", [5, 4, 3, 3], (0..<180).map { Float(($0 * 29) % 23) / 23 - 0.5 })
        let fc = B.floats("fc", [3, 5], [1, 0.5, -0.25, 2, -1, 1, 0.5, 0.25, -1, -2, -0.5, -0.25, 0.75, 1.5, 0.3])
        let data = B.model(nodes: [
            B.node("Conv", ["input", "w1", "b1"], ["c1"], ints: ["pads": [1, 1, 1, 1]]),
            B.node("Relu", ["c1"], ["r1"]),
            B.node("MaxPool", ["r1"], ["p1"], ints: ["kernel_shape": [2, 2], "strides": [2, 2]]),
            B.node("Conv", ["p1", "w2"], ["c2"], ints: ["pads": [1, 1, 1, 1], "strides": [2, 2]]),
            B.node("Relu", ["c2"], ["r2"]),
            B.node(globalPool, ["r2"], ["g"]),
            B.node("Flatten", ["g"], ["f"]),
            B.node("Gemm", ["f", "fc"], ["y"], int: ["transB": 1]),
        ], initializers: [w1, b1, w2, fc], input: ("input", [nil, 3, 12, 12]), outputs: ["y"])
        return try CAMModel(data: data, name: "input-gradient-\(globalPool)")
    }

    @Test(arguments: ["GlobalAveragePool", "GlobalMaxPool"])
    func inputGradientMatchesFiniteDifferences(_ pool: String) throws {
        let m = try Self.model(globalPool: pool)
        var rng = SplitMix(seed: pool == "GlobalMaxPool" ? 5 : 3)
        var x = try Tensor(shape: [1, 3, 12, 12], scalars: (0..<432).map { _ in rng.nextFloat() })
        let (logits, gradients) = try m.inputGradients(x, classes: [0, 2])
        #expect(logits == (try m.forward(x)).scalars, "the unfused backward plan computes the same logits")
        for (slot, c) in [0, 2].enumerated() {
            let g = gradients[slot]
            #expect(g.shape == [1, 3, 12, 12])
            let eps: Float = 1e-3
            var worst = 0.0, nonzero = 0
            for i in 0..<x.count {
                let original = x.scalars[i]
                x.scalars[i] = original + eps
                let plus = Double(try m.forward(x).scalars[c])
                x.scalars[i] = original - eps
                let minus = Double(try m.forward(x).scalars[c])
                x.scalars[i] = original
                let numeric = (plus - minus) / Double(2 * eps)
                if numeric != 0 { nonzero += 1 }
                worst = max(worst, abs(numeric - Double(g.scalars[i])) / max(0.1, abs(numeric)))
            }
            #expect(worst < 1e-2, "\(pool), class \(c): worst relative error \(worst)")
            #expect(nonzero > 50, "the gradient reaches the input")

            // The saliency map: max over channels of |g|, min-max normalized.
            let s = CAMModel.saliencyMap(g)
            var raw = [Float](repeating: 0, count: 144)
            for ch in 0..<3 { for i in 0..<144 { raw[i] = max(raw[i], abs(g.scalars[ch * 144 + i])) } }
            let lo = raw.min()!, hi = raw.max()!
            #expect(s.count == 144 && s.min() == 0 && s.max() == 1)
            for i in 0..<144 { #expect(abs(s[i] - (raw[i] - lo) / (hi - lo)) < 1e-6) }
        }
    }

    /// Existing paths are untouched: Grad-CAM's backward to a target layer
    /// still runs on the same model after the input gradient has been taken.
    @Test func targetLayerGradientsStillWork() throws {
        let m = try Self.model(globalPool: "GlobalAveragePool")
        let x = try Tensor(shape: [1, 3, 12, 12], scalars: (0..<432).map { Float(($0 * 7) % 13) / 13 - 0.4 })
        _ = try m.inputGradients(x, classes: [1])
        let r = try m.localize(x, method: .gradCAM, topK: 1)
        #expect(r.targetLayer == "r2" && r.predictions.count == 1)
    }
}
