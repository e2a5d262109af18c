import Foundation
import Testing
@testable import CAMKit

/// The different ways ONNX can store the same model: typed data fields,
/// external data files, older opsets' attributes instead of inputs.
@Suite struct ONNXFormsTests {
    let values: [Float] = (0..<27).map { Float($0) / 10 - 1.3 }

    /// y = Conv(x, w) with a 1x3x3x3 weight; reference computed here.
    func reference(_ x: Tensor) -> Float {
        var acc: Float = 0
        for i in 0..<27 { acc += x.scalars[i] * values[i] }
        return acc
    }

    func run(_ data: Data, directory: URL? = nil) throws -> Tensor {
        let graph = try ONNXImport.load(data: data, name: "test", directory: directory)
        let plan = try Plan(graph: graph, inputShape: [1, 3, 3, 3])
        var rng = SplitMix(seed: 5)
        let x = try Tensor(shape: [1, 3, 3, 3], scalars: (0..<27).map { _ in rng.nextFloat() })
        let out = try plan.run(x)[graph.outputs[0]]!
        guard case .float(let t) = out else { throw CAMError(.internal, "not float") }
        #expect(abs(t.scalars[0] - reference(x)) < 1e-5)
        return t
    }

    func convModel(_ weight: Onnx_TensorProto) -> Data {
        ONNXBuilder.model(nodes: [ONNXBuilder.node("Conv", ["input", "w"], ["y"])], initializers: [weight],
                          input: ("input", [1, 3, 3, 3]), outputs: ["y"])
    }

    @Test func floatDataField() throws {
        var w = Onnx_TensorProto()
        w.name = "w"; w.dims = [1, 3, 3, 3]; w.dataType = 1; w.floatData = values
        _ = try run(convModel(w))
    }

    @Test func doubleDataIsNarrowed() throws {
        var w = Onnx_TensorProto()
        w.name = "w"; w.dims = [1, 3, 3, 3]; w.dataType = 11; w.doubleData = values.map { Double($0) }
        _ = try run(convModel(w))
    }

    @Test func externalDataBesideTheModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-ext-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // 16 bytes of junk first, to exercise the offset.
        try (Data(repeating: 0xAB, count: 16) + values.withUnsafeBytes { Data($0) }).write(to: dir.appendingPathComponent("weights.bin"))
        var w = Onnx_TensorProto()
        w.name = "w"; w.dims = [1, 3, 3, 3]; w.dataType = 1; w.dataLocation = .external
        for (k, v) in [("location", "weights.bin"), ("offset", "16"), ("length", "108")] {
            var e = Onnx_StringStringEntryProto(); e.key = k; e.value = v; w.externalData.append(e)
        }
        let data = convModel(w)
        try data.write(to: dir.appendingPathComponent("model.onnx"))
        let model = try CAMModel(contentsOf: dir.appendingPathComponent("model.onnx"))
        #expect(model.parameterCount == 27)
        _ = try run(data, directory: dir)

        // A range past the end of the file, a path that leaves the folder, a missing file.
        for (k, v, fragment) in [("length", "4000", "does not fit"), ("location", "../weights.bin", "inside the model's folder"),
                                 ("location", "missing.bin", "cannot read external data")] {
            var bad = w
            bad.externalData = bad.externalData.map { e in var e = e; if e.key == k { e.value = v }; return e }
            #expect(throws: CAMError.self) { _ = try run(convModel(bad), directory: dir) }
            do { _ = try ONNXImport.load(data: convModel(bad), name: "m", directory: dir) } catch {
                #expect(error.message.contains(fragment), "\(error.message)")
            }
        }
    }

    /// Opset 11 passes Squeeze/Unsqueeze axes as attributes, opset 13+ as
    /// inputs; both give the same shapes.
    @Test func squeezeAxesAsAttributeAndAsInput() throws {
        let old = ONNXBuilder.model(nodes: [
            ONNXBuilder.node("GlobalAveragePool", ["input"], ["g"]),
            ONNXBuilder.node("Squeeze", ["g"], ["s"], ints: ["axes": [2, 3]]),
            ONNXBuilder.node("Unsqueeze", ["s"], ["y"], ints: ["axes": [0]]),
        ], input: ("input", [1, 3, 3, 3]), outputs: ["y"], opset: 11)
        let new = ONNXBuilder.model(nodes: [
            ONNXBuilder.node("GlobalAveragePool", ["input"], ["g"]),
            ONNXBuilder.node("Squeeze", ["g", "a23"], ["s"]),
            ONNXBuilder.node("Unsqueeze", ["s", "a0"], ["y"]),
        ], initializers: [ONNXBuilder.ints("a23", [2, 3]), ONNXBuilder.ints("a0", [0])],
           input: ("input", [1, 3, 3, 3]), outputs: ["y"], opset: 17)
        for data in [old, new] {
            let graph = try ONNXImport.load(data: data, name: "sq", directory: nil)
            let plan = try Plan(graph: graph, inputShape: [1, 3, 3, 3])
            let x = try Tensor(shape: [1, 3, 3, 3], scalars: (0..<27).map { Float($0) })
            guard case .float(let y)? = try plan.run(x)[graph.outputs[0]] else { Issue.record("no output"); continue }
            #expect(y.shape == [1, 1, 3])
            #expect(y.scalars == [4, 13, 22])   // means of 0..8, 9..17, 18..26
        }
    }

    /// BatchNormalization after a Conv folds into it; without a Conv before
    /// it, it runs as its own op. Both equal the formula computed here.
    @Test func batchNormFoldedAndStandalone() throws {
        let w = ONNXBuilder.floats("w", [2, 3, 1, 1], [0.5, -0.25, 1, 2, 0.1, -1])
        let bn = [ONNXBuilder.floats("g", [2], [1.5, -0.5]), ONNXBuilder.floats("b", [2], [0.1, 0.2]),
                  ONNXBuilder.floats("m", [2], [0.3, -0.1]), ONNXBuilder.floats("v", [2], [2, 0.5])]
        let folded = ONNXBuilder.model(nodes: [
            ONNXBuilder.node("Conv", ["input", "w"], ["c"]),
            ONNXBuilder.node("BatchNormalization", ["c", "g", "b", "m", "v"], ["y"], float: ["epsilon": 1e-3]),
        ], initializers: [w] + bn, input: ("input", [1, 3, 2, 2]), outputs: ["y"])
        let standalone = ONNXBuilder.model(nodes: [
            ONNXBuilder.node("Relu", ["input"], ["r"]),
            ONNXBuilder.node("Conv", ["r", "w"], ["c"]),
            ONNXBuilder.node("Concat", ["c"], ["cc"], int: ["axis": 1]),
            ONNXBuilder.node("BatchNormalization", ["cc", "g", "b", "m", "v"], ["y"], float: ["epsilon": 1e-3]),
        ], initializers: [w] + bn, input: ("input", [1, 3, 2, 2]), outputs: ["y"])
        var rng = SplitMix(seed: 9)
        let x = try Tensor(shape: [1, 3, 2, 2], scalars: (0..<12).map { _ in abs(rng.nextFloat()) })
        let wv: [Float] = [0.5, -0.25, 1, 2, 0.1, -1]
        let (g, b, m, v): ([Float], [Float], [Float], [Float]) = ([1.5, -0.5], [0.1, 0.2], [0.3, -0.1], [2, 0.5])
        for (data, ops) in [(folded, ["Conv"]), (standalone, ["BatchNormalization", "Concat", "Conv", "Relu"])] {
            let graph = try ONNXImport.load(data: data, name: "bn", directory: nil)
            #expect(graph.nodes.map(\.opType).sorted() == ops)
            guard case .float(let y)? = try Plan(graph: graph, inputShape: [1, 3, 2, 2]).run(x)[graph.outputs[0]] else { continue }
            for co in 0..<2 { for p in 0..<4 {
                let conv = (0..<3).reduce(Float(0)) { $0 + wv[co * 3 + $1] * x.scalars[$1 * 4 + p] }
                let expected = (conv - m[co]) / (v[co] + 1e-3).squareRoot() * g[co] + b[co]
                #expect(abs(y.scalars[co * 4 + p] - expected) < 1e-5)
            }}
        }
    }
}
