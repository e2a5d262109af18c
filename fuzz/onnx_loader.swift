// onnx_loader.swift: libFuzzer target for the ONNX loader.
//
// The input is a whole .onnx file, given to CAMModel(data:) as `camkit` and
// libcam load files: protobuf decoding, the importer's checks (opsets,
// initializers, attributes, external data refused from memory), the
// topological sort, BatchNorm folding, and planning for batch 1 (shape
// inference and constant folding of every op). When the model loads and
// its input is small (<= 4096 values), it also lists its tensors (a plan
// that exposes every value, so nothing is fused) and runs a forward pass
// on zeros, if that plan's tensors total at most 2^18 values.
//
// A CAMError is a clean refusal, except one with code .internal ("a bug in
// camkit"); that, a crash, a leak, a timeout or an OOM is a bug.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CAMKit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzONNXLoader(_ bytes: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let data = Data(bytes: bytes, count: size)
    do {
        // Tensors at the default limit (2^28) take seconds to plan under
        // ASan, which libFuzzer reports as a hang; the checks are the same
        // at any limit, so the fuzzer uses a lower one, as a server would.
        let model = try CAMModel(data: data, name: "fuzz.onnx", limits: Limits(tensorElements: 1 << 22))
        let shape = try model.defaultInputShape(batch: 1)
        guard shape.reduce(1, *) <= 4096 else { return 0 }
        let tensors = try model.tensors()
        var total = 0
        for t in tensors { total += t.shape.reduce(1, *) }
        guard total <= 1 << 18 else { return 0 }
        _ = try model.forward(Tensor(shape: shape))
    } catch {
        // A refusal (every call here throws CAMError only), unless camkit
        // calls it a bug of its own.
        if error.code == .internal { fatalError("internal error: \(error.message)") }
    }
    return 0
}
