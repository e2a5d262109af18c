import Foundation
import SwiftProtobuf
import Testing
@testable import CAMKit

/// ONNXWire lifts the initializers' raw_data out of a model before
/// swift-protobuf decodes it; swift-protobuf decoding the whole file is the
/// reference it must agree with.
@Suite struct ONNXWireTests {
    /// Decodes `bytes` whole and hollowed, and checks that putting each
    /// lifted range back as raw_data gives the same message.
    func checkAgainstFullDecode(_ bytes: Data) throws {
        let full = try Onnx_ModelProto(serializedBytes: bytes)
        let hollowed = try #require(bytes.withUnsafeBytes { ONNXWire.hollow($0) })
        var rebuilt = try Onnx_ModelProto(serializedBytes: hollowed.skeleton)
        #expect(rebuilt.graph.initializer.count == full.graph.initializer.count)
        for (index, range) in hollowed.rawData {
            #expect(!rebuilt.graph.initializer[index].hasRawData)
            rebuilt.graph.initializer[index].rawData = bytes.subdata(in: range)
        }
        #expect(rebuilt == full)
        let lifted = hollowed.rawData.values.reduce(0) { $0 + $1.count }
        #expect(hollowed.skeleton.count + lifted <= bytes.count)
    }

    @Test(arguments: Fixtures.models)
    func fixtureModelsDecodeAlike(_ model: String) throws {
        let bytes = try Data(contentsOf: Fixtures.modelURL(model))
        try checkAgainstFullDecode(bytes)
    }

    /// Fields the pass must copy untouched: typed float_data, a graph split
    /// over two occurrences of field 7 (protobuf merges them), and a tensor
    /// whose raw_data appears twice (the last one wins).
    @Test func mergedAndRepeatedFields() throws {
        var typed = Onnx_TensorProto()
        typed.name = "typed"; typed.dims = [2]; typed.dataType = 1; typed.floatData = [1, 2]
        var raw = Onnx_TensorProto()
        raw.name = "raw"; raw.dims = [1]; raw.dataType = 1; raw.rawData = Data([0, 0, 0x80, 0x3f])
        let first = ONNXBuilder.model(nodes: [ONNXBuilder.node("Relu", ["input"], ["y"])], initializers: [typed, raw],
                                      input: ("input", [1, 3]), outputs: ["y"])
        // A third initializer in a second occurrence of ModelProto.graph,
        // its tensor carrying raw_data twice, written field by field.
        var extra = Onnx_TensorProto()
        extra.name = "extra"; extra.dims = [1]; extra.dataType = 1; extra.rawData = Data([0, 0, 0, 0x40])
        var again = Onnx_TensorProto()
        again.rawData = Data([0, 0, 0x40, 0x40])
        let tensorBytes = try extra.serializedData() + again.serializedData()
        let graphBytes = Data([0x2a]) + varint(tensorBytes.count) + tensorBytes  // GraphProto.initializer
        let twice = Data([0x3a]) + varint(graphBytes.count) + graphBytes  // ModelProto.graph
        try checkAgainstFullDecode(first + twice)
        let merged = try Onnx_ModelProto(serializedBytes: first + twice)
        #expect(merged.graph.initializer.map(\.name) == ["typed", "raw", "extra"])
        #expect(merged.graph.initializer[2].rawData == Data([0, 0, 0x40, 0x40]))
    }

    /// Malformed bytes are left to swift-protobuf: the pass gives up.
    @Test func malformedInputIsNotHollowed() throws {
        let bytes = try Data(contentsOf: Fixtures.modelURL("tiny_resnet"))
        #expect(bytes.prefix(bytes.count / 2).withUnsafeBytes { ONNXWire.hollow($0) } == nil)
        // A cut between top-level fields is still valid protobuf: then the
        // skeleton must decode exactly when the whole prefix does.
        for cut in [1, 2, 3, 7, 20, bytes.count - 1] {
            let truncated = bytes.prefix(cut)
            guard let h = truncated.withUnsafeBytes({ ONNXWire.hollow($0) }) else { continue }
            let whole = (try? Onnx_ModelProto(serializedBytes: truncated)) != nil
            let skeleton = (try? Onnx_ModelProto(serializedBytes: h.skeleton)) != nil
            #expect(whole == skeleton, "cut at \(cut)")
        }
        #expect(Data([0x0b, 0x00]).withUnsafeBytes { ONNXWire.hollow($0) } == nil)  // a group
        #expect(Data([0x08] + [UInt8](repeating: 0xff, count: 11)).withUnsafeBytes { ONNXWire.hollow($0) } == nil)
    }

    /// Loading from a file (weights read with pread) and from memory (copied
    /// from the bytes) gives the same constants as the whole-file decode.
    @Test func fileAndMemoryLoadsAgree() throws {
        let url = Fixtures.modelURL("resnet18")
        let bytes = try Data(contentsOf: url)
        let fromFile = try ONNXImport.load(contentsOf: url)
        let fromMemory = try ONNXImport.load(data: bytes, name: "resnet18", directory: nil)
        let full = try Onnx_ModelProto(serializedBytes: bytes)
        var checked = 0
        for t in full.graph.initializer where t.dataType == 1 && t.hasRawData {
            let expected = t.rawData.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            for graph in [fromFile, fromMemory] {
                guard let id = graph.valueNames.firstIndex(of: t.name), case .float(let v)? = graph.constants[id] else { continue }
                // BatchNorm folding rewrites conv weights; the rest arrive as stored.
                if v.scalars.count == expected.count, graph.nodes.allSatisfy({ $0.opType != "BatchNormalization" }) {
                    #expect(v.scalars == expected, "\(t.name)")
                    checked += 1
                }
            }
        }
        #expect(checked > 0)
        #expect(fromFile.constants.count == fromMemory.constants.count)
        for (id, value) in fromFile.constants {
            guard case .float(let a) = value, case .float(let b)? = fromMemory.constants[id] else { continue }
            #expect(a.scalars == b.scalars)
        }
    }

    func varint(_ n: Int) -> Data {
        var v = UInt64(n), out = Data()
        while v >= 0x80 { out.append(UInt8(v & 0x7f) | 0x80); v >>= 7 }
        out.append(UInt8(v))
        return out
    }
}
