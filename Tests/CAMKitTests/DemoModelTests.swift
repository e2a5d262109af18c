import Foundation
import Testing
@testable import CAMKit

/// Where `swift test` put the camkit-demo-data executable: beside the test bundle.
enum DemoGenerator {
    static let executable = Executables.find("camkit-demo-data")
}

/// The demo generator (Sources/camkit-demo-data) end to end, on a tiny step
/// budget: its hand-written ONNX file decodes with the generated protobuf
/// types and has the torch.onnx-style structure `make demo` relies on; CAMKit
/// reproduces the trainer's own logits on every sample (which checks the
/// protobuf encoder and the batch-norm folding); camkit's preprocessing of
/// each sample PNG gives exactly the tensor the trainer used; and the output
/// is deterministic. The executable is the one `swift test` builds beside the
/// test bundle; the suite is skipped when it is not there.
@Suite(.enabled(if: DemoGenerator.executable != nil, "camkit-demo-data is not built beside the tests"))
struct DemoModelTests {
    struct Generated: Sendable {
        var dir: URL
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the generator with OUTDIR `name` (under the temporary directory,
    /// emptied first) followed by `arguments`; with `name` nil, with `arguments` only.
    static func generate(_ name: String?, _ arguments: [String]) throws -> Generated {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent(name ?? "camkit-demo-data-unused")
        if name != nil { try? FileManager.default.removeItem(at: out) }
        let r = try Executables.run(DemoGenerator.executable!, (name == nil ? [] : [out.path]) + arguments)
        return Generated(dir: out, status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    /// A few training steps (so the batch-norm running statistics that get
    /// folded are not the initial ones), a tiny held-out set, six samples.
    static let tinyArguments = ["--seed", "5", "--steps", "3", "--batch", "4", "--holdout", "8", "--eval-every", "1"]

    static let tiny: Result<Generated, any Error> = Result { try generate("camkit-demo-data-test", tinyArguments) }

    func tinyRun() throws -> Generated {
        let g = try Self.tiny.get()
        try #require(g.status == 0, "camkit-demo-data failed: \(g.stderr)")
        return g
    }

    func manifest(_ g: Generated) throws -> [[String: Any]] {
        let data = try Data(contentsOf: g.dir.appendingPathComponent("samples/samples.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(json["samples"] as? [[String: Any]])
    }

    @Test func writesModelLabelsAndSamples() throws {
        let g = try tinyRun()
        let labels = try String(contentsOf: g.dir.appendingPathComponent("labels.txt"), encoding: .utf8)
        #expect(labels == "circle\nsquare\ntriangle\ncross\n")
        let samples = try manifest(g)
        #expect(samples.count == 6)
        #expect(Set(samples.map { $0["class"] as! Int }) == [0, 1, 2, 3])
        for s in samples {
            let name = s["name"] as! String, cls = s["class"] as! Int
            #expect(name.hasPrefix(["circle", "square", "triangle", "cross"][cls] + "_"))
            #expect(FileManager.default.fileExists(atPath: g.dir.appendingPathComponent("samples/\(name).png").path))
            #expect(FileManager.default.fileExists(atPath: g.dir.appendingPathComponent("samples/\(name)_64x64.npy").path))
        }
        #expect(g.stdout.contains("held-out accuracy"))
    }

    @Test func onnxFileHasTheTorchStyleGraph() throws {
        let g = try tinyRun()
        let model = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: g.dir.appendingPathComponent("model.onnx")))
        #expect(model.irVersion == 8)
        #expect(model.producerName == "camkit-demo-data")
        #expect(model.opsetImport.map { "\($0.domain):\($0.version)" } == [":17"])
        let graph = model.graph
        #expect(graph.node.map(\.opType) == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Conv", "Relu",
                                             "GlobalAveragePool", "Flatten", "Gemm"])
        #expect(graph.node.map(\.name) == [
            "/features/features.0/Conv", "/features/features.1/Relu", "/features/features.2/MaxPool",
            "/features/features.3/Conv", "/features/features.4/Relu", "/features/features.5/MaxPool",
            "/features/features.6/Conv", "/features/features.7/Relu", "/avgpool/GlobalAveragePool", "/Flatten", "/fc/Gemm",
        ])
        // Each node reads the previous one's output; the last writes "logits".
        var current = "input"
        for n in graph.node {
            #expect(n.input.first == current, "\(n.name) reads \(n.input)")
            #expect(n.output.count == 1)
            current = n.output[0]
        }
        #expect(current == "logits")
        #expect(graph.node[7].output == ["/features/features.7/Relu_output_0"])
        func ints(_ n: Onnx_NodeProto, _ name: String) -> [Int64]? { n.attribute.first { $0.name == name }?.ints }
        func int(_ n: Onnx_NodeProto, _ name: String) -> Int64? { n.attribute.first { $0.name == name }.map(\.i) }
        for n in graph.node where n.opType == "Conv" {
            #expect(ints(n, "kernel_shape") == [3, 3] && ints(n, "pads") == [1, 1, 1, 1] && ints(n, "strides") == [1, 1])
            #expect(n.input.count == 3)
        }
        for n in graph.node where n.opType == "MaxPool" {
            #expect(ints(n, "kernel_shape") == [2, 2] && ints(n, "strides") == [2, 2])
        }
        #expect(int(graph.node[10], "transB") == 1)
        #expect(int(graph.node[9], "axis") == 1)

        #expect(graph.input.map(\.name) == ["input"])
        let inDims = graph.input[0].type.tensorType.shape.dim.map { d -> String in
            switch d.value { case .dimValue(let v)?: return "\(v)"; case .dimParam(let p)?: return p; default: return "?" }
        }
        #expect(inDims == ["batch", "3", "64", "64"])
        #expect(graph.input[0].type.tensorType.elemType == 1)
        #expect(graph.output.map(\.name) == ["logits"])
        #expect(graph.output[0].type.tensorType.shape.dim.count == 2)

        let shapes = Dictionary(uniqueKeysWithValues: graph.initializer.map { ($0.name, $0.dims) })
        #expect(shapes == [
            "features.0.weight": [16, 3, 3, 3], "features.0.bias": [16],
            "features.3.weight": [32, 16, 3, 3], "features.3.bias": [32],
            "features.6.weight": [32, 32, 3, 3], "features.6.bias": [32],
            "fc.weight": [4, 32], "fc.bias": [4],
        ])
        for t in graph.initializer {
            #expect(t.dataType == 1 && t.rawData.count == 4 * Int(t.dims.reduce(1, *)), "\(t.name)")
        }
    }

    @Test func camkitReproducesTheTrainersLogits() throws {
        let g = try tinyRun()
        let m = try CAMModel(contentsOf: g.dir.appendingPathComponent("model.onnx"))
        let summary = try m.summary()
        #expect(summary.defaultTarget == "/features/features.7/Relu_output_0")
        #expect(summary.plainCAM)
        #expect(m.parameterCount == 16 * 27 + 16 + 32 * 144 + 32 + 32 * 288 + 32 + 4 * 32 + 4)
        for s in try manifest(g) {
            let x = try Npy.read(contentsOf: g.dir.appendingPathComponent("samples/\(s["input_tensor"] as! String)"))
            #expect(x.shape == [1, 3, 64, 64])
            let y = try m.forward(x)
            let expected = (s["logits"] as! [Double]).map { Float($0) }
            #expect(y.shape == [1, 4])
            let scale = max(1, expected.map(abs).max()!)
            for (a, b) in zip(y.scalars, expected) {
                #expect(abs(a - b) <= 1e-4 * scale, "\(s["name"]!): camkit \(y.scalars), trainer \(expected)")
            }
            // Localization runs on the tensor and gives a box inside it.
            let r = try m.localize(x, topK: 1)
            let box = try #require(r.predictions.first?.box)
            #expect(box.xMin >= 0 && box.yMin >= 0 && box.xMax < 64 && box.yMax < 64)
        }
    }

    @Test func preprocessingTheSamplePNGGivesTheTrainingTensor() throws {
        let g = try tinyRun()
        for s in try manifest(g) {
            let image = try Image(contentsOf: g.dir.appendingPathComponent("samples/\(s["image"] as! String)"))
            #expect(image.width == 256 && image.height == 256)
            let (x, _) = try Preprocessing().tensor(from: image, height: 64, width: 64)
            let ref = try Npy.read(contentsOf: g.dir.appendingPathComponent("samples/\(s["input_tensor"] as! String)"))
            let d = Fixtures.maxAbsDiff(x, ref)
            #expect(d <= 1e-6, "\(s["name"]!): max abs diff \(d)")
        }
    }

    @Test func boxesAreTheObjectsAtBothScales() throws {
        let g = try tinyRun()
        for s in try manifest(g) {
            let b = s["box"] as! [Int], b64 = s["box_64"] as! [Int]
            #expect(b[0] >= 0 && b[1] >= 0 && b[2] <= 255 && b[3] <= 255 && b[0] < b[2] && b[1] < b[3], "\(b)")
            #expect(b64 == b.map { $0 / 4 })
            // Objects are 56-120 px at 256 (a triangle's box is a little smaller).
            for side in [b[2] - b[0] + 1, b[3] - b[1] + 1] { #expect(side >= 40 && side <= 130, "\(s["name"]!): \(b)") }
        }
    }

    @Test func sameSeedSameFiles() throws {
        let first = try tinyRun()
        let again = try Self.generate("camkit-demo-data-test-again", Self.tinyArguments)
        try #require(again.status == 0, "\(again.stderr)")
        defer { try? FileManager.default.removeItem(at: again.dir) }
        let files = ["model.onnx", "labels.txt", "samples/samples.json"]
            + (try manifest(first)).flatMap { ["samples/\($0["image"] as! String)", "samples/\($0["input_tensor"] as! String)"] }
        for f in files {
            #expect(try Data(contentsOf: first.dir.appendingPathComponent(f)) == Data(contentsOf: again.dir.appendingPathComponent(f)), "\(f)")
        }
        let other = try Self.generate("camkit-demo-data-test-other", ["--seed", "6"] + Self.tinyArguments.dropFirst(2))
        try #require(other.status == 0, "\(other.stderr)")
        defer { try? FileManager.default.removeItem(at: other.dir) }
        #expect(try Data(contentsOf: first.dir.appendingPathComponent("model.onnx")) != Data(contentsOf: other.dir.appendingPathComponent("model.onnx")))
    }

    @Test func badArgumentsFailWithOneLine() throws {
        for args in [["OUT", "--steps", "-1"], ["OUT", "--frobnicate"], ["a", "b"], []] {
            let g = try Self.generate(nil, args)
            #expect(g.status == 1, "\(args)")
            #expect(g.stderr.hasPrefix("camkit-demo-data: ") && g.stderr.filter { $0 == "\n" }.count == 1, "\(args): \(g.stderr)")
        }
        #expect(try Self.generate(nil, []).stderr.contains("missing OUTDIR"))
        // An OUTDIR that cannot be created.
        let bad = try Self.generate(nil, ["/proc/camkit-demo-data-cannot-exist/out"])
        #expect(bad.status == 1 && bad.stderr.filter { $0 == "\n" }.count == 1, "\(bad.stderr)")
    }
}
