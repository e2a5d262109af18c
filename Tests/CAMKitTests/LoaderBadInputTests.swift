import Foundation
import Testing
@testable import CAMKit

/// Bad models and bad inputs: each a clear CAMError naming what and where,
/// never a crash.
@Suite struct LoaderBadInputTests {
    /// Expects a CAMError with `code` whose message contains every fragment.
    func expectError(_ code: CAMError.Code, _ fragments: [String], _ body: () throws -> Void,
                     sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try body()
            Issue.record("expected an error mentioning \(fragments)", sourceLocation: sourceLocation)
        } catch let e as CAMError {
            #expect(e.code == code, "code \(e.code) for: \(e.message)", sourceLocation: sourceLocation)
            for f in fragments {
                #expect(e.message.contains(f), "'\(f)' missing from: \(e.message)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("not a CAMError: \(error)", sourceLocation: sourceLocation)
        }
    }

    let weight = ONNXBuilder.floats("w", [4, 3, 3, 3], (0..<108).map { Float($0 % 7) / 7 - 0.4 })

    @Test func missingFileIsAnIOError() {
        expectError(.io, ["/nonexistent/model.onnx", "no such file"]) {
            _ = try CAMModel(contentsOf: URL(fileURLWithPath: "/nonexistent/model.onnx"))
        }
    }

    @Test func directoryAndEmptyFileAreNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-loader-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        expectError(.io, [dir.path, "directory"]) { _ = try CAMModel(contentsOf: dir) }
        let empty = dir.appendingPathComponent("empty.onnx")
        try Data().write(to: empty)
        expectError(.format, ["empty.onnx", "empty"]) { _ = try CAMModel(contentsOf: empty) }
    }

    @Test func notONNXIsAFormatError() {
        expectError(.format, ["not"]) { _ = try CAMModel(data: Data("hello, this is text\n".utf8), name: "text") }
        expectError(.format, ["empty"]) { _ = try CAMModel(data: Data(), name: "empty") }
        // Bytes that decode as a protobuf message of unknown fields.
        expectError(.format, ["not an ONNX model"]) { _ = try CAMModel(data: Data([0x08, 0x01]), name: "tiny") }
    }

    @Test func unsupportedOperatorNamesOpNodeAndOpset() {
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Erf", ["input"], ["y"], name: "my_erf")], outputs: ["y"])
        expectError(.unsupported, ["Erf", "my_erf", "opset 17"]) { _ = try CAMModel(data: data) }
    }

    @Test func unsupportedOpsetIsRefused() {
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Relu", ["input"], ["y"])], outputs: ["y"], opset: 9)
        expectError(.unsupported, ["opset 9", "11 to 21"]) { _ = try CAMModel(data: data) }
    }

    @Test func cycleIsReported() {
        let data = ONNXBuilder.model(nodes: [
            ONNXBuilder.node("Add", ["input", "b"], ["a"], name: "first"),
            ONNXBuilder.node("Relu", ["a"], ["b"], name: "second"),
        ], outputs: ["b"])
        expectError(.format, ["cycle"]) { _ = try CAMModel(data: data) }
    }

    @Test func missingInitializerNamesNodeAndTensor() {
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Conv", ["input", "w"], ["y"], name: "conv1")], outputs: ["y"])
        expectError(.format, ["conv1", "'w'", "missing initializer"]) { _ = try CAMModel(data: data) }
    }

    @Test func weightThatDoesNotFitTheInputChannels() {
        let w = ONNXBuilder.floats("w", [4, 5, 3, 3], Array(repeating: 0.1, count: 180))
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Conv", ["input", "w"], ["y"], name: "conv1")],
                                     initializers: [w], outputs: ["y"])
        expectError(.format, ["conv1", "channels"]) { _ = try CAMModel(data: data) }
    }

    @Test func kernelLargerThanInput() {
        let w = ONNXBuilder.floats("w", [2, 3, 9, 9], Array(repeating: 0.1, count: 486))
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Conv", ["input", "w"], ["y"], name: "big")],
                                     initializers: [w], outputs: ["y"])
        expectError(.format, ["big", "does not fit"]) { _ = try CAMModel(data: data) }
    }

    @Test func rawDataShorterThanItsShape() {
        var w = weight
        w.rawData = w.rawData.prefix(100)
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Conv", ["input", "w"], ["y"])], initializers: [w], outputs: ["y"])
        expectError(.format, ["initializer 'w'", "raw_data"]) { _ = try CAMModel(data: data) }
    }

    @Test func reshapeThatDoesNotFit() {
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Reshape", ["input", "s"], ["y"], name: "r")],
                                     initializers: [ONNXBuilder.ints("s", [1, 7, -1])], outputs: ["y"])
        expectError(.format, ["'r'", "cannot reshape"]) { _ = try CAMModel(data: data) }
    }

    @Test func inputOfTheWrongShapeAndNaN() throws {
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Conv", ["input", "w"], ["y"])], initializers: [weight], outputs: ["y"])
        let model = try CAMModel(data: data)
        expectError(.argument, ["input", "[?, 3, 8, 8]", "[1, 4, 8, 8]"]) { _ = try model.forward(try Tensor(shape: [1, 4, 8, 8])) }
        expectError(.argument, ["rank 4"]) { _ = try model.forward(try Tensor(shape: [3, 8, 8])) }
        var x = try Tensor(shape: [1, 3, 8, 8], repeating: 0.5)
        x.scalars[77] = .nan
        expectError(.argument, ["NaN", "index 77"]) { _ = try model.forward(x) }
        x.scalars[77] = .infinity
        expectError(.argument, ["infinity"]) { _ = try model.forward(x) }
        expectError(.argument, ["no tensor named 'nope'"]) { _ = try model.forward(try Tensor(shape: [1, 3, 8, 8]), returning: ["nope"]) }
    }

    /// A small conv net built here, checked against a direct computation:
    /// Conv (pads, stride) + Relu + GlobalAveragePool + Flatten + Gemm.
    @Test func smallGraphMatchesDirectComputation() throws {
        let fc = ONNXBuilder.floats("fc", [2, 4], [0.5, -1, 0.25, 2, -0.5, 1, 1, -0.25])
        let bias = ONNXBuilder.floats("fcb", [2], [0.1, -0.2])
        let data = ONNXBuilder.model(nodes: [
            ONNXBuilder.node("Conv", ["input", "w"], ["c"], ints: ["pads": [1, 1, 1, 1], "strides": [2, 2]]),
            ONNXBuilder.node("Relu", ["c"], ["r"]),
            ONNXBuilder.node("GlobalAveragePool", ["r"], ["g"]),
            ONNXBuilder.node("Flatten", ["g"], ["f"]),
            ONNXBuilder.node("Gemm", ["f", "fc", "fcb"], ["y"], int: ["transB": 1]),
        ], initializers: [weight, fc, bias], outputs: ["y"])
        let model = try CAMModel(data: data)
        var rng = SplitMix(seed: 3)
        let x = try Tensor(shape: [1, 3, 8, 8], scalars: (0..<192).map { _ in rng.nextFloat() })
        let (y, t) = try model.forward(x, returning: ["r"])
        let w: [Float] = (0..<108).map { Float($0 % 7) / 7 - 0.4 }
        var pooled = [Double](repeating: 0, count: 4)
        var worstRelu: Double = 0
        for co in 0..<4 { for oh in 0..<4 { for ow in 0..<4 {
            var acc = 0.0
            for ci in 0..<3 { for kh in 0..<3 { for kw in 0..<3 {
                let ih = oh * 2 - 1 + kh, iw = ow * 2 - 1 + kw
                if ih < 0 || ih >= 8 || iw < 0 || iw >= 8 { continue }
                acc += Double(x.scalars[(ci * 8 + ih) * 8 + iw]) * Double(w[((co * 3 + ci) * 3 + kh) * 3 + kw])
            }}}
            let r = max(acc, 0)
            worstRelu = max(worstRelu, abs(r - Double(t["r"]!.scalars[(co * 4 + oh) * 4 + ow])))
            pooled[co] += r / 16
        }}}
        let fcw: [Double] = [0.5, -1, 0.25, 2, -0.5, 1, 1, -0.25], fcb: [Double] = [0.1, -0.2]
        for k in 0..<2 {
            let expected = (0..<4).reduce(fcb[k]) { $0 + fcw[k * 4 + $1] * pooled[$1] }
            #expect(abs(Double(y.scalars[k]) - expected) < 1e-5)
        }
        #expect(worstRelu < 1e-5)
        #expect(y.shape == [1, 2])
    }

    /// At least 20 corrupted variants of a real model: truncated at many
    /// offsets and with flipped bytes. Each must fail with a CAMError or load
    /// and run; none may crash.
    @Test func corruptedModelsFailCleanlyOrLoad() throws {
        let original = try Data(contentsOf: Fixtures.modelURL("tiny_vgg_gap"))
        var variants: [(String, Data)] = []
        for fraction in stride(from: 0.0, to: 1.0, by: 0.05) {   // 20 truncations
            let cut = Int(Double(original.count) * fraction)
            variants.append(("truncated at \(cut)", original.prefix(cut)))
        }
        for offset in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1597, 2584, 4181, 6765, 10946] {
            var d = original
            let i = offset % d.count
            d[i] ^= 0xFF
            variants.append(("byte \(i) flipped", d))
        }
        let x = try Tensor(shape: [1, 3, 64, 64], repeating: 0.25)
        var failed = 0, loaded = 0
        for (what, data) in variants {
            do {
                let m = try CAMModel(data: data, name: what)
                let y = try m.forward(x)
                #expect(y.count > 0)
                loaded += 1
            } catch {
                // Both calls throw CAMError only (typed throws), so any error
                // here is a clean failure; a crash or trap never gets here.
                failed += 1
            }
        }
        #expect(variants.count >= 40)
        #expect(failed >= 20, "\(failed) variants failed cleanly, \(loaded) loaded")
    }
}
