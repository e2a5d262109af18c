import Foundation
import Testing
@testable import CAMKit

/// Every input a Swift fuzz target (fuzz/*.swift) found a bug with, kept in
/// fuzz/regressions/TARGET/, fed to the entry point that fuzzer calls, the
/// way it calls it, without libFuzzer: each must end in success or a clean
/// CAMError (a message, and not the code `.internal`, which means a bug of
/// camkit's). The C targets' inputs are replayed by
/// Tests/c/test_fuzz_regressions.c.
@Suite struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fuzz/regressions")

    /// "TARGET/FILE" for every input of a target, in name order.
    static func inputs(_ target: String) -> [String] {
        let dir = root.appendingPathComponent(target)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { "\(target)/\($0)" }
    }

    func bytes(_ input: String) throws -> Data {
        try Data(contentsOf: Self.root.appendingPathComponent(input))
    }

    func expectClean(_ error: CAMError, _ input: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(error.code != .internal, "\(input): internal error: \(error.message)", sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, "\(input): an error without a message", sourceLocation: sourceLocation)
    }

    @Test func everyTargetHasItsInputs() {
        // The directories exist once a fuzzer has found something; the
        // ONNX loader has.
        #expect(!Self.inputs("onnx_loader").isEmpty, "no inputs under \(Self.root.path)")
    }

    /// fuzz/onnx_loader.swift: load and plan for batch 1; for a small input,
    /// list the tensors and, if they are small too, run a forward pass on zeros.
    @Test(arguments: inputs("onnx_loader"))
    func onnxLoader(_ input: String) throws {
        let data = try bytes(input)
        do {
            let model = try CAMModel(data: data, name: input)
            let shape = try model.defaultInputShape(batch: 1)
            guard shape.reduce(1, *) <= 4096 else { return }
            let total = try model.tensors().reduce(0) { $0 + $1.shape.reduce(1, *) }
            guard total <= 1 << 18 else { return }
            _ = try model.forward(Tensor(shape: shape))
        } catch {
            expectClean(error, input)
        }
    }

    /// fuzz/npy_reader.swift: decode; a tensor that decodes has as many
    /// values as its shape says and survives encoding bit for bit.
    @Test(arguments: inputs("npy_reader"))
    func npyReader(_ input: String) throws {
        let data = try bytes(input)
        do {
            let tensor = try Npy.decode(data, name: input)
            #expect(tensor.shape.reduce(1, *) == tensor.count)
            let again = try Npy.decode(Npy.encode(tensor))
            #expect(again.shape == tensor.shape && zip(again.scalars, tensor.scalars).allSatisfy { $0.bitPattern == $1.bitPattern })
        } catch {
            expectClean(error, input)
        }
    }
}
