#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// An ONNX CNN classifier, loaded and checked, ready to run.
///
/// Immutable after loading and safe to share across threads: plans for each
/// input shape are built on first use and cached.
public final class CAMModel: Sendable {
    let graph: Graph
    private let plans = Mutex<[PlanKey: Plan]>([:])

    private struct PlanKey: Hashable { var shape: [Int]; var exposed: Set<Int> }

    /// Loads an ONNX model. Throws `CAMError` with code `.io`, `.format` or
    /// `.unsupported` naming the file, node or tensor at fault.
    public init(contentsOf url: URL) throws(CAMError) {
        graph = try ONNXImport.load(contentsOf: url)
        // Plan once for batch 1 now, so a model that cannot run fails at load.
        _ = try plan(for: try defaultInputShape(batch: 1), exposing: [])
    }

    /// Loads an ONNX model from bytes in memory (external data is refused).
    public init(data: Data, name: String = "model") throws(CAMError) {
        graph = try ONNXImport.load(data: data, name: name, directory: nil)
        _ = try plan(for: try defaultInputShape(batch: 1), exposing: [])
    }

    // MARK: description

    /// The graph input's name.
    public var inputName: String { graph.inputs[0].name }
    /// The input shape with nil where the model leaves a dimension free.
    public var declaredInputShape: [Int?] { graph.inputs[0].shape }
    public var outputNames: [String] { graph.outputs.map { graph.valueNames[$0] } }
    public var opset: Int { graph.opset }
    public var producerName: String { graph.producerName }
    public var parameterCount: Int { graph.parameterCount }

    /// Node counts per op type as loaded (Constant, Identity and Dropout
    /// already folded away).
    public var opCounts: [String: Int] {
        graph.nodes.reduce(into: [:]) { $0[$1.opType, default: 0] += 1 }
    }

    /// The input shape for `batch` images: the declared shape with free
    /// dimensions set to `batch` (first axis) or refused elsewhere.
    public func defaultInputShape(batch: Int = 1) throws(CAMError) -> [Int] {
        var shape: [Int] = []
        for (axis, d) in graph.inputs[0].shape.enumerated() {
            if let d { shape.append(d) } else if axis == 0 { shape.append(batch) } else {
                throw CAMError(.unsupported, "input '\(inputName)' leaves dimension \(axis) free; only the batch axis may be free")
            }
        }
        return shape
    }

    /// Every tensor a caller can ask for by name for batch 1, with its shape,
    /// in execution order (the input, then each computed value).
    public func tensors() throws(CAMError) -> [(name: String, shape: [Int])] {
        let shape = try defaultInputShape(batch: 1)
        let all = Set(graph.nodes.flatMap(\.outputs))
        let p = try plan(for: shape, exposing: all)
        var seen = Set<Int>()
        var result: [(String, [Int])] = [(inputName, shape)]
        for step in p.steps {
            for id in step.outputs where seen.insert(id).inserted {
                result.append((graph.valueNames[id], p.shapes[id] ?? []))
            }
        }
        return result
    }

    // MARK: running

    /// Runs the network on `input` (shape [N, C, H, W]; N is free) and returns
    /// the first graph output.
    public func forward(_ input: Tensor) throws(CAMError) -> Tensor {
        try forward(input, returning: []).output
    }

    /// Runs the network and also returns the named intermediate tensors.
    public func forward(_ input: Tensor, returning names: [String]) throws(CAMError) -> (output: Tensor, tensors: [String: Tensor]) {
        var ids: [Int] = []
        for name in names {
            guard let id = graph.valueID(named: name) else {
                throw CAMError(.argument, "no tensor named '\(name)' in the model (see `camkit info` for the list)")
            }
            ids.append(id)
        }
        let p = try plan(for: input.shape, exposing: Set(ids))
        let values = try p.run(input, returning: Set(ids))
        var tensors: [String: Tensor] = [:]
        for (name, id) in zip(names, ids) {
            guard case .float(let t)? = values[id] else {
                throw CAMError(.argument, "tensor '\(name)' is not a float tensor computed when running the model")
            }
            tensors[name] = t
        }
        guard case .float(let out)? = values[graph.outputs[0]] else {
            throw CAMError(.internal, "the graph output '\(outputNames[0])' was not computed")
        }
        return (out, tensors)
    }

    func plan(for shape: [Int], exposing exposed: Set<Int>) throws(CAMError) -> Plan {
        let key = PlanKey(shape: shape, exposed: exposed)
        if let cached = plans.withLock({ $0[key] }) { return cached }
        let p = try Plan(graph: graph, inputShape: shape, exposed: exposed)
        plans.withLock { $0[key] = p }
        return p
    }
}
