/// Choosing the tensor that CAM methods explain, and recognizing the head
/// that plain CAM needs.
///
/// The automatic choice is the one a CAM user makes by hand: walk back from
/// the logits through the classifier head (linear layers, flattening,
/// pooling, and convolutions with one channel per class as in SqueezeNet)
/// and stop at the first tensor with spatial extent, i.e. rank 4 with more
/// than one position.
struct ModelStructure: Sendable {
    struct Tensor4D: Sendable { var id: Int; var name: String; var shape: [Int] }

    let plan: Plan                       // batch 1, nothing fused away
    let candidates: [Tensor4D]           // spatial tensors in execution order
    let defaultTarget: Tensor4D?
    let classCount: Int

    init(graph: Graph, plan: Plan) {
        self.plan = plan
        let output = graph.outputs[0]
        classCount = plan.shapes[output]?.last ?? 0
        var candidates: [Tensor4D] = []
        for step in plan.steps {
            for id in step.outputs where plan.types[id] == .float {
                if let s = plan.shapes[id], s.count == 4, s[2] * s[3] > 1 {
                    candidates.append(Tensor4D(id: id, name: graph.valueNames[id], shape: s))
                }
            }
        }
        self.candidates = candidates

        var producer: [Int: Graph.Node] = [:]
        for node in graph.nodes { for out in node.outputs { producer[out] = node } }
        var value = output
        var target: Tensor4D?
        var visited = Set<Int>()
        while let node = producer[value], visited.insert(value).inserted {
            let shape = plan.shapes[value] ?? []
            let spatial = shape.count == 4 && shape[2] * shape[3] > 1
            let perClass = spatial && shape[1] == classCount && ModelStructure.isClassifierChain(node, producer, plan, classCount)
            var pooling = false
            switch node.op {
            case .maxPool, .averagePool, .globalAveragePool, .globalMaxPool, .reduceMean: pooling = true
            default: break
            }
            if spatial && !pooling && !perClass {
                target = candidates.first { $0.id == value }
                break
            }
            // Follow the data input: the first operand that is not a constant.
            guard let next = node.inputs.compactMap({ $0 }).first(where: { plan.constants[$0] == nil }) else { break }
            value = next
        }
        defaultTarget = target
    }

    /// A convolution with one output channel per class, or an activation of
    /// one: the classifier of SqueezeNet and NiN-style nets.
    static func isClassifierChain(_ node: Graph.Node, _ producer: [Int: Graph.Node], _ plan: Plan, _ classes: Int) -> Bool {
        switch node.op {
        case .conv: return true
        case .activation, .clip:
            guard let input = node.inputs.first ?? nil, let p = producer[input] else { return false }
            return isClassifierChain(p, producer, plan, classes)
        default: return false
        }
    }

    /// Plain CAM's head: target -> global average (or max) pooling -> reshapes ->
    /// one Gemm with constant weights -> logits. Returns the class weights
    /// W [classes, channels] (bias unused, as in Zhou et al.), or nil.
    func plainCAMWeights(graph: Graph, target: Int) -> Tensor? {
        ModelStructure.plainCAMWeights(graph: graph, plan: plan, target: target)
    }

    static func plainCAMWeights(graph: Graph, plan: Plan, target: Int) -> Tensor? {
        var consumers: [Int: [Graph.Node]] = [:]
        for node in graph.nodes { for case let i? in node.inputs { consumers[i, default: []].append(node) } }
        guard let channels = plan.shapes[target]?[1] else { return nil }
        var value = target
        var pooled = false
        while true {
            guard let next = consumers[value], next.count == 1 else { return nil }
            let node = next[0]
            switch node.op {
            case .globalAveragePool where !pooled, .globalMaxPool where !pooled:
                // GMP too: the CAM paper's GAP-versus-GMP comparison maps a
                // GMP network with the same W * A (as torchcam's CAM does).
                pooled = true
            case .reduceMean(let axes, _, _) where !pooled:
                let rank = 4
                let given = axes ?? node.inputs.dropFirst().first.flatMap { $0 }.flatMap { id -> [Int]? in
                    if case .int(let t)? = plan.constants[id] { return t.scalars.map { Int($0) } }
                    return nil
                } ?? []
                guard Set(given.map { $0 < 0 ? $0 + rank : $0 }) == [2, 3] else { return nil }
                pooled = true
            case .flatten, .reshape, .squeeze:
                guard pooled else { return nil }
            case .gemm(_, _, let transA, let transB) where pooled && !transA:
                guard node.outputs == [graph.outputs[0]], let wid = node.inputs[1],
                      case .float(let w)? = plan.constants[wid], w.shape.count == 2 else { return nil }
                if transB {
                    guard w.shape[1] == channels else { return nil }
                    return w
                }
                guard w.shape[0] == channels else { return nil }
                // Stored [K, C]: transpose to [C, K].
                let k = w.shape[0], c = w.shape[1]
                var t = [Float](repeating: 0, count: k * c)
                for i in 0..<k { for j in 0..<c { t[j * k + i] = w.scalars[i * c + j] } }
                return Tensor(uncheckedShape: [c, k], scalars: t)
            default:
                return nil
            }
            value = node.outputs[0]
        }
    }
}

/// What `camkit info` shows about a model.
public struct ModelSummary: Sendable {
    public var outputs: [(name: String, shape: [Int])]
    public var candidates: [(name: String, shape: [Int])]
    public var defaultTarget: String?
    public var plainCAM: Bool
}

extension CAMModel {
    func structure() throws(CAMError) -> ModelStructure {
        // Made once: every localize asks for it, and building it hashes the
        // set of all the graph's values to find its plan (0.4% of a
        // MobileNetV2 Grad-CAM, measured with perf).
        if let s = structureCache.withLock({ $0 }) { return s }
        let shape = try defaultInputShape(batch: 1)
        let p = try plan(for: shape, exposing: Set(graph.nodes.flatMap(\.outputs)))
        let s = ModelStructure(graph: graph, plan: p)
        structureCache.withLock { $0 = s }
        return s
    }

    /// Outputs, candidate target layers (batch 1), the automatic target and
    /// whether plain CAM applies to it.
    public func summary() throws(CAMError) -> ModelSummary {
        let s = try structure()
        let outputs = graph.outputs.map { (graph.valueNames[$0], s.plan.shapes[$0] ?? []) }
        let plain = s.defaultTarget.map { s.plainCAMWeights(graph: graph, target: $0.id) != nil } ?? false
        return ModelSummary(outputs: outputs, candidates: s.candidates.map { ($0.name, $0.shape) },
                            defaultTarget: s.defaultTarget?.name, plainCAM: plain)
    }
}
