import Foundation
import Testing
@testable import CAMKit

/// Every input a Swift fuzz target (fuzz/*.swift) found a bug with, kept in
/// fuzz/regressions/TARGET/, fed to the entry point that fuzzer calls, the
/// way it calls it, without libFuzzer: each must end in success or a clean
/// CAMError (a message, and not the code `.internal`, which means a bug of
/// camkit's). The inputs of the C decoders are replayed by
/// Tests/c/test_fuzz_regressions.c; those of the C ABI target
/// (fuzz/localize_tensor.c) here, through CAMKit's localize with the checks
/// cam_localize_tensor makes before it (Sources/CAMLib/Localize.swift).
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

    /// The limits the model fuzzers load with (fuzz/onnx_loader.swift,
    /// fuzz/localize_tensor.c): a lower tensor limit, so that refusals are
    /// quick under ASan.
    static let fuzzLimits = Limits(tensorElements: 1 << 22)

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
            let model = try CAMModel(data: data, name: input, limits: Self.fuzzLimits)
            let shape = try model.defaultInputShape(batch: 1)
            guard shape.reduce(1, *) <= 4096 else { return }
            let total = try model.tensors().reduce(0) { $0 + $1.shape.reduce(1, *) }
            guard total <= 1 << 18 else { return }
            _ = try model.forward(Tensor(shape: shape))
        } catch {
            expectClean(error, input)
        }
    }

    /// fuzz/annotations.swift: both readers, with and without a labels list.
    @Test(arguments: inputs("annotations"))
    func annotations(_ input: String) throws {
        let data = [UInt8](try bytes(input))
        for labels in [nil, ["cat", "dog", "bird", "Ünïcode label", "a,b", ""]] {
            do {
                let set = try Annotations.parseCSV(data, name: "fuzz.csv", labels: labels)
                let boxes = set.images.flatMap(\.objects).map(\.box)
                #expect(boxes.allSatisfy { $0.xMin >= 0 && $0.yMin >= 0 && $0.xMin <= $0.xMax && $0.yMin <= $0.yMax })
            } catch {
                expectClean(error, input)
            }
            do {
                let (image, _) = try Annotations.parseVOC(data, name: "dir/fuzz.xml", labels: labels)
                #expect(image.objects.allSatisfy { $0.box.xMin >= 0 && $0.box.yMin >= 0 && $0.box.xMin <= $0.box.xMax && $0.box.yMin <= $0.box.yMax })
            } catch {
                expectClean(error, input)
            }
        }
    }

    /// The models of fuzz/localize_tensor.c, loaded as it loads them
    /// (free height and width, 16 x 16 given at load).
    static let localizeModels: [CAMModel] = ["small_resnet", "small_mobilenet", "small_vgg"].compactMap {
        try? CAMModel(contentsOf: root.deletingLastPathComponent().appendingPathComponent("models/\($0).onnx"),
                      inputSize: (height: 16, width: 16), limits: fuzzLimits)
    }
    static let localizeLayers = [
        ["input", "r1", "sum", "features", "logits", "/nonexistent"],
        ["input", "a1", "c2", "features", "pooled", "logits"],
        ["input", "r1", "p1", "features", "gmp", "logits"],
    ]

    /// fuzz/localize_tensor.c: the same 16-byte header and tensor, the
    /// same checks of the result. Inputs that cam_localize_tensor refuses
    /// before calling CAMKit (struct_size, method, class, threshold, size,
    /// NaN) are refused here the same way.
    @Test(arguments: inputs("localize_tensor"))
    func localizeTensor(_ input: String) throws {
        try #require(Self.localizeModels.count == 3, "fuzz/models/small_*.onnx load")
        let d = [UInt8](try bytes(input))
        guard d.count >= 16 else { return }
        func float(_ at: Int) -> Float { Float(bitPattern: UInt32(d[at]) | UInt32(d[at + 1]) << 8 | UInt32(d[at + 2]) << 16 | UInt32(d[at + 3]) << 24) }
        let which = Int(d[0]) % 3, model = Self.localizeModels[which]
        let nameLength = min(Int(d[9]), d.count - 16)
        let name = String(decoding: d[16..<(16 + nameLength)], as: UTF8.self)
        let height = Int(d[11]) % 40 - 2, width = Int(d[12]) % 40 - 2
        let optionsGiven = d[14] & 2 == 0
        var method = Int(Int8(bitPattern: d[1])), topK = Int(Int8(bitPattern: d[2])), classIndex = Int(Int8(bitPattern: d[3]))
        var threshold = float(4), layer: String? = d[8] == 0 ? nil : d[8] == 1 ? name : Self.localizeLayers[which][(Int(d[8]) - 2) % 6]
        if !optionsGiven { (method, topK, classIndex, threshold, layer) = (1, 5, -1, 0.2, nil) }
        // cam_localize_tensor's own checks, in its order.
        guard height >= 1, width >= 1 else { return }
        if optionsGiven, d[10] != 0 { return }                        // struct_size
        guard (0...8).contains(method) else { return }
        guard classIndex >= -1, classIndex >= 0 || topK >= 1 else { return }
        guard threshold > 0, threshold < 1 else { return }
        let count = 3 * height * width, tail = Array(d[(16 + nameLength)...])
        var scalars = [Float](repeating: 0, count: count)
        for i in 0..<count {
            switch d[13] % 4 {
            case 0:
                if tail.count >= 4 {
                    let at = (i * 4) % (tail.count - tail.count % 4)
                    scalars[i] = Float(bitPattern: UInt32(tail[at]) | UInt32(tail[at + 1]) << 8 | UInt32(tail[at + 2]) << 16 | UInt32(tail[at + 3]) << 24)
                }
            case 1: scalars[i] = tail.isEmpty ? 0 : Float(tail[i % tail.count]) / 64 - 2
            case 2: scalars[i] = 0
            default: scalars[i] = Float(i % 97) / 48 - 1
            }
        }
        guard scalars.allSatisfy(\.isFinite) else { return }
        do {
            let result = try model.localize(Tensor(shape: [1, 3, height, width], scalars: scalars),
                                            method: CAMMethod.allCases[method], topK: min(topK, model.classCount ?? topK),
                                            classIndex: classIndex >= 0 ? classIndex : nil, threshold: Double(threshold),
                                            targetLayer: layer)
            #expect(result.mapWidth == width && result.mapHeight == height)
            for p in result.predictions {
                #expect(p.score >= 0 && p.score <= 1, "\(input): score \(p.score)")
                #expect(p.map.count == width * height && p.map.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(input): map values")
                if let b = p.box {
                    #expect(b.xMin >= 0 && b.xMin <= b.xMax && b.xMax < width && b.yMin >= 0 && b.yMin <= b.yMax && b.yMax < height)
                }
            }
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
