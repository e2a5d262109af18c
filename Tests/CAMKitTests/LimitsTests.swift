import Foundation
import Synchronization
import Testing
@testable import CAMKit

/// Every limit of `Limits`, set just below what a small model or image needs
/// (refused with `.memory`, a message naming the limit, the size and where)
/// and at exactly that (loads).
@Suite struct LimitsTests {
    let resnet = Fixtures.modelURL("tiny_resnet")   // input [N, 3, 64, 64]

    func expectLimit(_ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("expected a limit error mentioning \(fragments)", sourceLocation: sourceLocation)
        } catch let e as CAMError {
            #expect(e.code == .memory, "code \(e.code) for: \(e.message)", sourceLocation: sourceLocation)
            for f in fragments {
                #expect(e.message.contains(f), "'\(f)' missing from: \(e.message)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("not a CAMError: \(error)", sourceLocation: sourceLocation)
        }
    }

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func defaultsMaximaAndBadValues() throws {
        #expect(Limits.default == Limits())
        #expect(Limits.maxTensorElements == 1 << 28 && Limits.default.tensorElements == 1 << 28)
        #expect(Limits.maxImagePixels == 100_000_000 && Limits.default.imagePixels == 100_000_000)
        #expect(Limits.default.modelBytes == 1 << 31 && Limits.default.nodes == 100_000)
        #expect(Limits.default.protobufDepth == 100 && Limits.default.planBytes == 8 << 30)
        // The kernels' int32 indices: tensors and RGB images stay under 2^31 elements.
        #expect(Limits.maximum.tensorElements < Int(Int32.max))
        #expect(Limits.maximum.imagePixels * 3 < Int(Int32.max))
        for bad in [Limits(nodes: 0), Limits(tensorElements: -1), Limits(tensorElements: Int(Int32.max)),
                    Limits(imagePixels: Limits.maximum.imagePixels + 1), Limits(protobufDepth: 201), Limits(planBytes: 0)] {
            #expect(throws: CAMError.self) { try bad.check() }
            do { _ = try CAMModel(contentsOf: resnet, limits: bad) } catch {
                #expect(error.code == .argument && error.message.contains("Limits."), "\(error.message)")
            }
        }
        // Loosening up to the maximum is allowed.
        let loose = Limits(modelBytes: 1 << 40, tensorElements: Limits.maximum.tensorElements, imagePixels: Limits.maximum.imagePixels,
                           protobufDepth: Limits.maximum.protobufDepth)
        #expect(try CAMModel(contentsOf: resnet, limits: loose).limits == loose)
    }

    @Test func modelBytes() throws {
        let size = try Data(contentsOf: resnet).count
        expectLimit(["model.onnx", "\(size) bytes", "limit of \(size - 1)", "Limits.modelBytes"]) {
            _ = try CAMModel(contentsOf: resnet, limits: Limits(modelBytes: size - 1))
        }
        expectLimit(["'bytes'", "\(size) bytes", "Limits.modelBytes"]) {
            _ = try CAMModel(data: try Data(contentsOf: resnet), name: "bytes", limits: Limits(modelBytes: size - 1))
        }
        _ = try CAMModel(contentsOf: resnet, limits: Limits(modelBytes: size))
        _ = try CAMModel(data: try Data(contentsOf: resnet), limits: Limits(modelBytes: size))
    }

    /// External data files count toward modelBytes, sized before they are read.
    @Test func modelBytesCountsExternalData() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let values = (0..<108).map { Float($0) / 100 }
        try values.withUnsafeBytes { Data($0) }.write(to: dir.appendingPathComponent("weights.bin"))
        var w = Onnx_TensorProto()
        w.name = "w"; w.dims = [4, 3, 3, 3]; w.dataType = 1; w.dataLocation = .external
        var e = Onnx_StringStringEntryProto(); e.key = "location"; e.value = "weights.bin"; w.externalData = [e]
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Conv", ["input", "w"], ["y"])], initializers: [w], outputs: ["y"])
        let url = dir.appendingPathComponent("model.onnx")
        try data.write(to: url)
        let total = data.count + 432
        expectLimit(["'weights.bin'", "432 bytes", "\(total) bytes", "limit of \(total - 1)", "Limits.modelBytes"]) {
            _ = try CAMModel(contentsOf: url, limits: Limits(modelBytes: total - 1))
        }
        #expect(try CAMModel(contentsOf: url, limits: Limits(modelBytes: total)).parameterCount == 108)
    }

    @Test func nodes() throws {
        let stored = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: resnet)).graph.node.count
        expectLimit(["model.onnx", "\(stored) nodes exceed the limit of \(stored - 1) (Limits.nodes)"]) {
            _ = try CAMModel(contentsOf: resnet, limits: Limits(nodes: stored - 1))
        }
        _ = try CAMModel(contentsOf: resnet, limits: Limits(nodes: stored))

        // A long chain, refused before any Op is built for it.
        let chain = (0..<5000).map { ONNXBuilder.node("Relu", [$0 == 0 ? "input" : "r\($0 - 1)"], ["r\($0)"]) }
        let data = ONNXBuilder.model(nodes: chain, outputs: ["r4999"])
        expectLimit(["'chain'", "5000 nodes exceed the limit of 4999"]) {
            _ = try CAMModel(data: data, name: "chain", limits: Limits(nodes: 4999))
        }
        let model = try CAMModel(data: data, name: "chain", limits: Limits(nodes: 5000))
        #expect(model.opCounts["Relu"] == 5000)
    }

    /// An initializer is checked at load, before its data is copied.
    @Test func tensorElementsOfAnInitializer() throws {
        // Conv 3->8, 3x3, stride 2 on 8x8: the weight (216) outgrows the input (192) and output (72).
        let w = ONNXBuilder.floats("w", [8, 3, 3, 3], (0..<216).map { Float($0 % 5) / 5 })
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Conv", ["input", "w"], ["y"], ints: ["strides": [2, 2]])],
                                     initializers: [w], outputs: ["y"])
        expectLimit(["'conv'", "initializer 'w'", "[8, 3, 3, 3]", "216 elements", "limit of 215", "Limits.tensorElements"]) {
            _ = try CAMModel(data: data, name: "conv", limits: Limits(tensorElements: 215))
        }
        _ = try CAMModel(data: data, name: "conv", limits: Limits(tensorElements: 216))
    }

    /// Every inferred shape is checked at planning, for the load's batch 1
    /// and for every later batch size.
    @Test func tensorElementsAtPlanning() throws {
        // Concat of the input with itself: [N, 6, 8, 8], twice the input.
        let data = ONNXBuilder.model(nodes: [ONNXBuilder.node("Concat", ["input", "input"], ["y"], name: "cat", int: ["axis": 1])],
                                     outputs: ["y"])
        expectLimit(["node 'cat'", "output 'y'", "[1, 6, 8, 8]", "384 elements", "limit of 383", "Limits.tensorElements"]) {
            _ = try CAMModel(data: data, limits: Limits(tensorElements: 383))
        }
        expectLimit(["input 'input'", "[1, 3, 8, 8]", "192 elements", "limit of 191"]) {
            _ = try CAMModel(data: data, limits: Limits(tensorElements: 191))
        }
        let model = try CAMModel(data: data, limits: Limits(tensorElements: 384))
        #expect(try model.forward(try Tensor(shape: [1, 3, 8, 8])).shape == [1, 6, 8, 8])
        expectLimit(["[2, 6, 8, 8]", "768 elements", "limit of 384"]) { _ = try model.forward(try Tensor(shape: [2, 3, 8, 8])) }
    }

    /// The fixture's largest tensor, weight or activation, bounds it exactly.
    @Test func tensorElementsOfAFixture() throws {
        let proto = try Onnx_ModelProto(serializedBytes: try Data(contentsOf: resnet))
        let weights = proto.graph.initializer.map { $0.dims.reduce(1) { $0 * Int($1) } }
        let activations = try CAMModel(contentsOf: resnet).tensors().map { $0.shape.reduce(1, *) }
        let largest = (weights + activations).max()!
        expectLimit(["limit of \(largest - 1)", "Limits.tensorElements"]) {
            _ = try CAMModel(contentsOf: resnet, limits: Limits(tensorElements: largest - 1))
        }
        _ = try CAMModel(contentsOf: resnet, limits: Limits(tensorElements: largest))
    }

    @Test func imagePixels() throws {
        for (file, pixels) in [("rocket_gray.png", 640 * 427), ("coffee_baseline.jpg", 0)] {
            let url = Fixtures.root.appendingPathComponent("images/\(file)")
            let need = pixels > 0 ? pixels : try Image(contentsOf: url).width * Image(contentsOf: url).height
            expectLimit([file, "\(need) pixels", "limit of \(need - 1)", "Limits.imagePixels"]) {
                _ = try Image(contentsOf: url, limits: Limits(imagePixels: need - 1))
            }
            expectLimit(["\(need) pixels", "Limits.imagePixels"]) {
                _ = try Image(data: try Data(contentsOf: url), name: file, maxPixels: need - 1)
            }
            let image = try Image(contentsOf: url, limits: Limits(imagePixels: need))
            #expect(image.width * image.height == need)
        }
    }

    /// Real models nest 7 messages deep, counting the model itself (model,
    /// graph, value info, type, tensor type, shape, dimension).
    @Test func protobufDepthOfAFixture() throws {
        expectLimit(["model.onnx", "deeper than the limit of 6", "Limits.protobufDepth"]) {
            _ = try CAMModel(contentsOf: resnet, limits: Limits(protobufDepth: 6))
        }
        _ = try CAMModel(contentsOf: resnet, limits: Limits(protobufDepth: 7))
    }

    /// Subgraphs nested through If's attributes: each level is a node, an
    /// attribute and a graph. The decoder stops at the limit; camkit then
    /// refuses the op, not the depth.
    @Test func protobufDepthOfNestedSubgraphs() throws {
        func nested(_ levels: Int) -> Onnx_GraphProto {
            var g = Onnx_GraphProto()
            var node = ONNXBuilder.node("If", ["input"], ["y"], name: "if\(levels)")
            if levels > 0 {
                var a = Onnx_AttributeProto(); a.name = "then_branch"; a.type = .graph; a.g = nested(levels - 1)
                node.attribute = [a]
            }
            g.node = [node]
            return g
        }
        var m = try Onnx_ModelProto(serializedBytes: ONNXBuilder.model(nodes: [], outputs: ["y"]))
        m.graph.node = nested(10).node
        let data: Data = try m.serializedBytes()
        // The model, its graph, a node, then 10 x (attribute, graph, node): 33 (the
        // graph's inputs nest 7).
        expectLimit(["'deep'", "deeper than the limit of 32", "Limits.protobufDepth"]) {
            _ = try CAMModel(data: data, name: "deep", limits: Limits(protobufDepth: 32))
        }
        do {
            _ = try CAMModel(data: data, name: "deep", limits: Limits(protobufDepth: 33))
            Issue.record("If loaded")
        } catch {
            #expect(error.code == .unsupported && error.message.contains("If"), "\(error.message)")
        }
    }

    /// Garbage nested 10,000 deep, far past any stack's reach if decoded
    /// recursively: through a message field (ModelProto.graph, then
    /// GraphProto.node, NodeProto.attribute, AttributeProto.g, ...), through
    /// field 1 of every level, and through unknown groups. A clean error,
    /// at the default limit and at the maximum.
    @Test func protobufDepthOfGarbage() throws {
        func varint(_ n: Int) -> [UInt8] {
            var n = n, out: [UInt8] = []
            while n >= 0x80 { out.append(UInt8(n & 0x7F) | 0x80); n >>= 7 }
            return out + [UInt8(n)]
        }
        func nest(_ tags: [UInt8], depth: Int) -> Data {
            var body: [UInt8] = []
            for level in 0..<depth {
                let tag = tags[level % tags.count]
                body = [tag] + varint(body.count) + body
            }
            return Data(body)
        }
        // graph (field 7), then node (1), attribute (5), g (6), node (1), ...
        let subgraphs = [UInt8(7 << 3 | 2)] + Array(repeating: [UInt8(1 << 3 | 2), UInt8(5 << 3 | 2), UInt8(6 << 3 | 2)], count: 4000).flatMap { $0 }
        let messages = nest(Array(subgraphs.prefix(10_000)).reversed(), depth: 10_000)
        let fieldOne = nest([1 << 3 | 2], depth: 10_000)
        // Field 10 is unknown to ModelProto: start-group tags, then as many end-group tags.
        let groups = Data(Array(repeating: UInt8(10 << 3 | 3), count: 10_000) + Array(repeating: UInt8(10 << 3 | 4), count: 10_000))
        for limits in [Limits(), Limits(protobufDepth: Limits.maximum.protobufDepth)] {
            expectLimit(["'messages'", "deeper than the limit of \(limits.protobufDepth)", "Limits.protobufDepth"]) {
                _ = try CAMModel(data: messages, name: "messages", limits: limits)
            }
            for (name, data) in [("field one", fieldOne), ("groups", groups)] {
                #expect(throws: CAMError.self, "\(name)") { _ = try CAMModel(data: data, name: name, limits: limits) }
            }
        }
        // The maximum depth fits a 4 MiB thread stack (half of glibc's default), even
        // in a debug build under AddressSanitizer, whose frames are several times the
        // 2 KiB a level a plain debug build takes (a 512 KiB stack overflowed there).
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<CAMError?>(nil)
        let thread = Thread {
            do { _ = try CAMModel(data: messages, name: "messages", limits: Limits(protobufDepth: Limits.maximum.protobufDepth)) } catch {
                outcome.withLock { $0 = error as? CAMError }
            }
            done.signal()
        }
        thread.stackSize = 4 << 20
        thread.start()
        done.wait()
        #expect(outcome.withLock { $0?.message.contains("Limits.protobufDepth") } == true)
    }

    /// A forward pass's peak (activations and scratch), checked at planning
    /// for the load's batch 1 and every later batch size.
    @Test func planBytes() throws {
        let model = try CAMModel(contentsOf: resnet)
        let peak = try model.plan(for: [1, 3, 64, 64], exposing: []).peakBytes
        #expect(peak > 3 * 64 * 64 * 4)
        expectLimit(["[1, 3, 64, 64]", "\(peak) bytes", "limit of \(peak - 1)", "Limits.planBytes"]) {
            _ = try CAMModel(contentsOf: resnet, limits: Limits(planBytes: peak - 1))
        }
        let tight = try CAMModel(contentsOf: resnet, limits: Limits(planBytes: peak))
        _ = try tight.forward(try Tensor(shape: [1, 3, 64, 64]))
        expectLimit(["[2, 3, 64, 64]", "Limits.planBytes"]) { _ = try tight.forward(try Tensor(shape: [2, 3, 64, 64])) }
        let peak2 = try model.plan(for: [2, 3, 64, 64], exposing: []).peakBytes
        #expect(peak2 > peak && peak2 <= peak * 2, "batch 1: \(peak) bytes, batch 2: \(peak2)")
    }
}
