import Foundation
import Testing
@testable import CAMKit

/// Conv + Add (+ activation) fused into one step, as residual blocks end:
/// against values computed here by hand, against the same plan with every
/// value exposed (nothing fused), and the cases that must not fuse.
@Suite struct FusionTests {
    // Two 1x1 convolutions of a [1, 2, 3, 3] input, so the reference is a
    // few multiply-adds per pixel.
    let wA: [Float] = [0.5, -1, 2, 0.25], bA: [Float] = [0.1, -0.2]
    let wB: [Float] = [-0.75, 1.5, 0.5, 1]
    let x: [Float] = (0..<18).map { Float($0 % 7) / 3 - 1 }

    func conv1x1(_ w: [Float], _ b: [Float]?, _ x: [Float]) -> [Float] {
        var y = [Float](repeating: 0, count: 18)
        for co in 0..<2 { for p in 0..<9 {
            y[co * 9 + p] = (b?[co] ?? 0) + w[co * 2] * x[p] + w[co * 2 + 1] * x[9 + p]
        } }
        return y
    }

    func model(_ nodes: [Onnx_NodeProto], output: String) -> Data {
        ONNXBuilder.model(nodes: nodes, initializers: [
            ONNXBuilder.floats("wA", [2, 2, 1, 1], wA), ONNXBuilder.floats("bA", [2], bA),
            ONNXBuilder.floats("wB", [2, 2, 1, 1], wB),
        ], input: ("input", [1, 2, 3, 3]), outputs: [output])
    }

    func run(_ data: Data, exposingAll: Bool = false) throws -> (y: [Float], steps: Int) {
        let graph = try ONNXImport.load(data: data, name: "fusion", directory: nil)
        let exposed = exposingAll ? Set(graph.valueNames.indices) : []
        let plan = try Plan(graph: graph, inputShape: [1, 2, 3, 3], exposed: exposed)
        guard case .float(let y)? = try plan.run(Tensor(shape: [1, 2, 3, 3], scalars: x))[graph.outputs[0]] else {
            throw CAMError(.internal, "no output")
        }
        return (y.scalars, plan.steps.count)
    }

    /// relu(A(x) + B(x)): B comes second, so the Add and the ReLU run in
    /// B's epilogue with A's output as the residual: two steps, not four.
    @Test func residualAddAndReluFuse() throws {
        let data = model([
            ONNXBuilder.node("Conv", ["input", "wA", "bA"], ["a"]),
            ONNXBuilder.node("Conv", ["input", "wB"], ["b"]),
            ONNXBuilder.node("Add", ["a", "b"], ["s"]),
            ONNXBuilder.node("Relu", ["s"], ["y"]),
        ], output: "y")
        let a = conv1x1(wA, bA, x), b = conv1x1(wB, nil, x)
        let want = zip(a, b).map { max($0 + $1, 0) }
        let fused = try run(data), plain = try run(data, exposingAll: true)
        #expect(fused.steps == 2 && plain.steps == 4)
        for (got, w) in zip(fused.y, want) { #expect(abs(got - w) <= 1e-6) }
        #expect(fused.y == plain.y)
    }

    /// Without an activation after it, the Add alone fuses; the sum is the
    /// graph output, so it is materialized all the same.
    @Test func residualAddAloneFuses() throws {
        let data = model([
            ONNXBuilder.node("Conv", ["input", "wA", "bA"], ["a"]),
            ONNXBuilder.node("Conv", ["input", "wB"], ["b"]),
            ONNXBuilder.node("Add", ["b", "a"], ["y"]),
        ], output: "y")
        let want = zip(conv1x1(wA, bA, x), conv1x1(wB, nil, x)).map { $0 + $1 }
        let fused = try run(data)
        #expect(fused.steps == 2)
        for (got, w) in zip(fused.y, want) { #expect(abs(got - w) <= 1e-6) }
    }

    /// An Add that broadcasts ([1, 2, 1, 1] onto [1, 2, 3, 3]) is not a
    /// residual: the Conv declines it, and the Add and ReLU run on their own.
    @Test func broadcastAddDoesNotFuse() throws {
        let data = model([
            ONNXBuilder.node("Conv", ["input", "wA", "bA"], ["a"]),
            ONNXBuilder.node("GlobalAveragePool", ["input"], ["g"]),
            ONNXBuilder.node("Add", ["a", "g"], ["s"]),
            ONNXBuilder.node("Relu", ["s"], ["y"]),
        ], output: "y")
        let a = conv1x1(wA, bA, x)
        let means = (0..<2).map { c in x[(c * 9)..<((c + 1) * 9)].reduce(0, +) / 9 }
        let want = (0..<18).map { max(a[$0] + means[$0 / 9], 0) }
        let fused = try run(data)
        #expect(fused.steps == 4)
        for (got, w) in zip(fused.y, want) { #expect(abs(got - w) <= 1e-6) }
    }

    /// A conv output read twice (by the Add and the Mul) stays a value of
    /// its own, and the other conv comes first, before its residual
    /// exists: nothing fuses.
    @Test func sharedConvOutputDoesNotFuse() throws {
        let data = model([
            ONNXBuilder.node("Conv", ["input", "wA", "bA"], ["a"]),
            ONNXBuilder.node("Conv", ["input", "wB"], ["b"]),
            ONNXBuilder.node("Add", ["a", "b"], ["s"]),
            ONNXBuilder.node("Mul", ["s", "b"], ["y"]),
        ], output: "y")
        let a = conv1x1(wA, bA, x), b = conv1x1(wB, nil, x)
        let fused = try run(data)
        #expect(fused.steps == 4)
        for i in 0..<18 { #expect(abs(fused.y[i] - (a[i] + b[i]) * b[i]) <= 1e-5) }
    }

    /// A Conv of constants folds while planning; it must not take the Add
    /// after it, whose other operand exists only at run time.
    @Test func foldedConvDoesNotTakeTheAdd() throws {
        let data = ONNXBuilder.model(nodes: [
            ONNXBuilder.node("Conv", ["input", "wA", "bA"], ["a"]),
            ONNXBuilder.node("Conv", ["xc", "wB"], ["c"]),
            ONNXBuilder.node("Add", ["a", "c"], ["s"]),
            ONNXBuilder.node("Relu", ["s"], ["y"]),
        ], initializers: [
            ONNXBuilder.floats("wA", [2, 2, 1, 1], wA), ONNXBuilder.floats("bA", [2], bA),
            ONNXBuilder.floats("wB", [2, 2, 1, 1], wB), ONNXBuilder.floats("xc", [1, 2, 3, 3], x.reversed()),
        ], input: ("input", [1, 2, 3, 3]), outputs: ["y"])
        let a = conv1x1(wA, bA, x), c = conv1x1(wB, nil, x.reversed())
        let got = try run(data)
        #expect(got.steps == 3)   // conv A, the Add, the ReLU: conv C became a constant
        for i in 0..<18 { #expect(abs(got.y[i] - max(a[i] + c[i], 0)) <= 1e-6) }
    }

    /// The fixture networks with residual blocks: every fused plan equals
    /// the unfused one to float rounding, and ResNet-18 keeps no Add step.
    @Test(arguments: ["resnet18", "tiny_resnet", "mobilenet_v3_small"])
    func fixtureNetworks(_ name: String) throws {
        let graph = try ONNXImport.load(contentsOf: Fixtures.modelURL(name))
        let shape = graph.inputs[0].shape.map { $0 ?? 1 }
        var rng = SplitMix(seed: 11)
        let input = try Tensor(shape: shape, scalars: (0..<shape.reduce(1, *)).map { _ in rng.nextFloat() * 2 - 1 })
        let fused = try Plan(graph: graph, inputShape: shape)
        let plain = try Plan(graph: graph, inputShape: shape, exposed: Set(graph.valueNames.indices))
        let adds = { (plan: Plan) in plan.steps.filter { if case .binary(.add) = graph.nodes[$0.node].op { return true }; return false }.count }
        let graphAdds = graph.nodes.filter { if case .binary(.add) = $0.op { return true }; return false }.count
        #expect(adds(plain) == graphAdds && graphAdds > 0)
        if name == "resnet18" { #expect(adds(fused) == 0) }
        #expect(fused.steps.count < plain.steps.count)
        guard case .float(let y)? = try fused.run(input)[graph.outputs[0]],
              case .float(let z)? = try plain.run(input)[graph.outputs[0]] else { throw CAMError(.internal, "no output") }
        let scale = z.scalars.map(abs).max() ?? 1
        #expect(Fixtures.maxAbsDiff(y, z) <= 1e-4 * max(1, scale))
    }
}
