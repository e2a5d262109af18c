#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An ONNX CNN classifier, loaded and checked, ready to run.
///
/// Immutable after loading and safe to share across threads: plans for each
/// input shape are built on first use and cached.
public final class CAMModel: Sendable {
    let graph: Graph
    private let plans = Locked<[PlanKey: Plan]>([:])
    let weightCache = WeightCache()
    /// Input shapes whose limits a plan that never runs has judged.
    private let judged = Locked<Set<[Int]>>([])
    /// The batch-1 structure walk (target candidates), once made (TargetLayer.swift).
    let structureCache = Locked<ModelStructure?>(nil)
    /// Per batch shape, where its forward stops going image by image (BatchCut.swift).
    let batchCuts = Locked<[[Int]: BatchCut?]>([:])

    private struct PlanKey: Hashable { var shape: [Int]; var exposed: Set<Int>; var headNodes = 0 }

    /// Loads an ONNX model. Throws `CAMError` with code `.io`, `.format` or
    /// `.unsupported` naming the file, node or tensor at fault, `.memory` for
    /// a size over `limits`.
    ///
    /// `inputSize` gives the image size for a model whose input leaves height
    /// and width free; for a model that fixes them it must match (or be nil).
    /// `limits` holds for the load and for every plan built later (other
    /// batch sizes, a CAM method's batches).
    public init(contentsOf url: URL, inputSize: (height: Int, width: Int)? = nil, limits: Limits = Limits()) throws(CAMError) {
        try limits.check()
        self.limits = limits
        graph = try ONNXImport.load(contentsOf: url, limits: limits)
        imageSize = try CAMModel.checkInputSize(inputSize, graph: graph, name: url.lastPathComponent)
        // Plan once for batch 1 now, so a model that cannot run fails at load.
        _ = try plan(for: try defaultInputShape(batch: 1), exposing: [])
    }

    /// Loads an ONNX model from bytes in memory (external data is refused).
    public init(data: Data, name: String = "model", inputSize: (height: Int, width: Int)? = nil,
                limits: Limits = Limits()) throws(CAMError) {
        try limits.check()
        self.limits = limits
        graph = try ONNXImport.load(data: data, name: name, directory: nil, limits: limits)
        imageSize = try CAMModel.checkInputSize(inputSize, graph: graph, name: name)
        _ = try plan(for: try defaultInputShape(batch: 1), exposing: [])
    }

    /// The limits given at load.
    public let limits: Limits

    /// The height and width given at load for free input dimensions.
    private let imageSize: [Int]?

    private static func checkInputSize(_ size: (height: Int, width: Int)?, graph: Graph, name: String) throws(CAMError) -> [Int]? {
        guard let size else { return nil }
        guard (1...32768).contains(size.height), (1...32768).contains(size.width) else {
            throw CAMError(.argument, "input size \(size.width)x\(size.height) must be 1 to 32768 on each side")
        }
        let declared = graph.inputs[0].shape
        guard declared.count == 4 else {
            throw CAMError(.unsupported, "\(name): input '\(graph.inputs[0].name)' is not [N, C, H, W], so it has no image size to set")
        }
        for (axis, want) in [(2, size.height), (3, size.width)] {
            if let d = declared[axis], d != want {
                throw CAMError(.argument, "\(name): input '\(graph.inputs[0].name)' fixes its size to \(declared[3] ?? 0)x\(declared[2] ?? 0) (width x height); \(size.width)x\(size.height) was asked for")
            }
        }
        return [size.height, size.width]
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
            if let d { shape.append(d) } else if axis == 0 { shape.append(batch) } else if let imageSize, axis >= 2 {
                shape.append(imageSize[axis - 2])
            } else {
                throw CAMError(.unsupported, "input '\(inputName)' leaves dimension \(axis) free; only the batch axis may be free, unless an input size is given at load")
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
    /// the first graph output. Several images on several threads run image
    /// by image, each on one thread with single-threaded kernels (as
    /// `localize(each:)` does): splitting each layer of a batch across the
    /// cores syncs them once per layer and per image, and was 1.3x (ResNet-18)
    /// to 2x (MobileNetV2) slower at batch 8 on 2 cores. Except after the
    /// batch's cut (BatchCut.swift): the last layers, whose weights
    /// outweigh their activations, run once for the whole batch.
    public func forward(_ input: Tensor) throws(CAMError) -> Tensor {
        let n = input.shape.first ?? 1
        guard input.shape.count >= 2, n >= 1, input.count % n == 0 else { return try forward(input, returning: []).output }
        let imageShape = [1] + input.shape.dropFirst(), imageCount = input.count / n
        return try forward(images: n, shape: imageShape, whole: input) { (i) throws(CAMError) in
            Tensor(uncheckedShape: imageShape, scalars: Array(input.scalars[(i * imageCount)..<((i + 1) * imageCount)]))
        }
    }

    /// forward(_:) of the batch of `n` images `image(0)`, ..., `image(n - 1)`
    /// (each of `shape`, [1, C, H, W]), each made on the thread that runs it
    /// (Score-CAM's masked inputs); `whole` is the batch, if the caller has it.
    func forward(images n: Int, shape imageShape: [Int], whole: Tensor? = nil,
                 _ image: @Sendable (Int) throws(CAMError) -> Tensor) throws(CAMError) -> Tensor {
        let batchShape = [n] + imageShape.dropFirst()
        // Per-image tensors (each [1, ...]) as one batch of them.
        func stacked(_ parts: [Tensor]) -> Tensor {
            var shape = parts[0].shape
            shape[0] = parts.count
            return Tensor(uncheckedShape: shape, scalars: parts.flatMap(\.scalars))
        }
        func batch() throws(CAMError) -> Tensor {
            if let whole { return whole }
            var images: [Tensor] = []
            for i in 0..<n { images.append(try image(i)) }
            return stacked(images)
        }
        let workers = min(n, Runtime.threads)
        guard workers > 1, graph.inputs.count == 1, graph.inputs[0].shape.first == .some(nil) else {
            return try forward(batch(), returning: []).output
        }
        // Checked whole, so that a NaN's place is given in the batch the
        // caller passed, as on one thread, not within one image of it.
        if let whole { try Plan.checkFinite(whole, name: graph.inputs[0].name) }
        // The plans are made (and their errors raised) before any thread
        // starts. The batch is judged by the limits too, as the caller gave
        // it, however it is split: by a plan that is not kept and makes no
        // transformed weights, since it never runs (for ResNet-18 at batch
        // 8 those were 113 MB of Winograd U for its 7x7 layers).
        // An output that is not one row per image keeps the batch.
        try judgeLimits(batchShape)
        let imagePlan = try plan(for: imageShape, exposing: [])
        guard imagePlan.shapes[graph.outputs[0]]?.first == 1 else {
            return try forward(batch(), returning: []).output
        }
        if let cut = try batchCut(batchShape, imagePlan: imagePlan) {
            let heads = try Runtime.eachOnOneThread(n, workers: workers) { (i) throws(CAMError) in
                try imagePlan.runHead(try image(i), through: cut.imageStep, value: cut.value)
            }
            let batchPlan = try plan(for: batchShape, exposing: [], headNodes: cut.headNodes)
            return try batchPlan.runFromCut(after: cut.batchStep, value: cut.value, stacked(heads))
        }
        return stacked(try Runtime.eachOnOneThread(n, workers: workers) { (i) throws(CAMError) in
            try forward(try image(i), returning: []).output
        })
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
            if values[graph.outputs[0]] != nil {
                throw CAMError(.unsupported, "the graph output '\(outputNames[0])' is an integer tensor; camkit runs classifiers whose output is float")
            }
            throw CAMError(.internal, "the graph output '\(outputNames[0])' was not computed")
        }
        return (out, tensors)
    }

    /// The number of classes: the last dimension of the first output for one
    /// image (nil if the model's output is not a fixed-size vector).
    public var classCount: Int? {
        guard let shape = try? defaultInputShape(batch: 1), let p = try? plan(for: shape, exposing: []),
              let out = p.shapes[graph.outputs[0]], let last = out.last, last >= 1 else { return nil }
        return last
    }

    func judgeLimits(_ shape: [Int]) throws(CAMError) {
        if judged.withLock({ $0.contains(shape) }) { return }
        _ = try Plan(graph: graph, inputShape: shape, limits: limits, transformWeights: false)
        judged.withLock { _ = $0.insert(shape) }
    }

    /// The plan for `shape`, made on first use. `headNodes`: see Plan.init.
    func plan(for shape: [Int], exposing exposed: Set<Int>, headNodes: Int = 0) throws(CAMError) -> Plan {
        let key = PlanKey(shape: shape, exposed: exposed, headNodes: headNodes)
        if let cached = plans.withLock({ $0[key] }) { return cached }
        let p = try Plan(graph: graph, inputShape: shape, exposed: exposed, limits: limits, weightCache: weightCache,
                         headNodes: headNodes)
        plans.withLock { $0[key] = p }
        return p
    }
}
