/// A graph compiled for one input shape: shapes inferred for every value,
/// every node whose inputs are all known folded into a constant (this is
/// where exporters' Shape/Gather/Concat/Reshape arithmetic disappears), Conv
/// fused with the activation (or the residual Add and activation) after
/// it, and what remains turned into steps
/// with their parameters resolved. Immutable, so one plan serves many
/// threads.
final class Plan: Sendable {
    /// One node to run: read `inputs`, write `outputs`.
    struct Step: Sendable {
        let node: Int                 // index into graph.nodes (the last node when fused)
        let nodes: [Int]              // every node the step runs, in graph order (more than one when fused)
        let inputs: [Int?]
        let outputs: [Int]
        let scratch: Int              // floats of scratch the kernel needs
        let run: Kernel
        let backward: Backward?
    }

    typealias Kernel = @Sendable (_ inputs: [Value?], _ scratch: UnsafeMutableBufferPointer<Float>) throws(CAMError) -> [Value]

    /// Reverse mode for one step: given the forward inputs and outputs and
    /// the gradient of each output (nil: zero), the gradient of each input
    /// for which `wanted` is true (nil elsewhere).
    typealias Backward = @Sendable (_ inputs: [Value?], _ outputs: [Value], _ gradOutputs: [Tensor?], _ wanted: [Bool],
                                    _ scratch: UnsafeMutableBufferPointer<Float>) throws(CAMError) -> [Tensor?]

    let graph: Graph
    let inputShape: [Int]
    let steps: [Step]
    let constants: [Int: Value]
    let shapes: [Int: [Int]]
    let types: [Int: ElementType]
    /// Values that are materialized while running (fused-away intermediates are not).
    let materialized: Set<Int>
    /// For each step, the values whose last reader it is (freed after it runs).
    let releaseAfter: [[Int]]
    let scratchFloats: Int
    /// Bytes of tensors and scratch a run holds at its peak (constants not
    /// counted), as checked against `Limits.planBytes`.
    let peakBytes: Int

    /// `exposed`: values that must exist as tensors (dumped, used as a CAM
    /// target); they are never fused away. `weightCache`: transformed
    /// weights made by earlier plans of the same model, and where this
    /// plan leaves its own. `transformWeights` false: a plan made only to
    /// judge the limits, which makes no transformed weights (Winograd's U,
    /// packed weights) and must not be run for speed. `headNodes`: graph
    /// nodes below this index never run in this plan (a batch's layers
    /// before its cut, BatchCut.swift), so they get no transformed weights
    /// either.
    init(graph: Graph, inputShape: [Int], exposed: Set<Int> = [], limits: Limits = Limits(),
         weightCache: WeightCache? = nil, transformWeights: Bool = true, headNodes: Int = 0) throws(CAMError) {
        guard graph.inputs.count == 1 else {
            throw CAMError(.unsupported, "the model has \(graph.inputs.count) graph inputs; camkit runs single-input classifiers")
        }
        let input = graph.inputs[0]
        guard inputShape.count == input.shape.count else {
            throw CAMError(.argument, "input '\(input.name)' must have rank \(input.shape.count) (shape \(describeShape(input.shape))), got shape \(inputShape)")
        }
        for (axis, (given, declared)) in zip(inputShape, input.shape).enumerated() {
            guard given >= 1 else { throw CAMError(.argument, "input '\(input.name)': dimension \(axis) is \(given)") }
            if let declared, declared != given {
                throw CAMError(.argument, "input '\(input.name)' must have shape \(describeShape(input.shape)), got \(inputShape) (dimension \(axis) differs)")
            }
        }
        guard let inputCount = Tensor.elementCount(inputShape), inputCount <= limits.tensorElements else {
            throw CAMError(.memory, "input '\(input.name)': shape \(inputShape) has \(Plan.describeCount(inputShape)) elements, over the limit of \(limits.tensorElements) (Limits.tensorElements)")
        }

        self.graph = graph
        self.inputShape = inputShape
        var constants = graph.constants
        var shapes: [Int: [Int]] = [input.id: inputShape]
        var types: [Int: ElementType] = [input.id: .float]
        for (id, value) in constants { shapes[id] = value.shape; types[id] = value.elementType }

        let consumers = graph.consumers()
        var producer: [Int: Int] = [:]
        for (index, node) in graph.nodes.enumerated() { for out in node.outputs { producer[out] = index } }
        var steps: [Step] = []
        var fusedInto = Set<Int>()   // Add and activation nodes absorbed by the Conv before them

        for (index, node) in graph.nodes.enumerated() where !fusedInto.contains(index) {
            var facts: [OpContext.Operand?] = []
            for input in node.inputs {
                guard let id = input else { facts.append(nil); continue }
                guard let shape = shapes[id], let type = types[id] else {
                    throw CAMError(.internal, "node '\(node.name)': input '\(graph.valueNames[id])' has no inferred shape")
                }
                facts.append(OpContext.Operand(shape: shape, type: type, constant: constants[id]))
            }
            var context = OpContext(node: node, operands: facts, opset: graph.opset, maxElements: limits.tensorElements)
            context.weightCache = weightCache
            context.transformWeights = transformWeights && index >= headNodes
            context.outputExposed = node.outputs.contains(where: exposed.contains)
            var stepNode = index
            var stepNodes = [index]
            var stepInputs = node.inputs
            var outputs = node.outputs

            // Conv + activation: the activation runs in the GEMM epilogue.
            // Conv + Add (+ activation), a residual block's end: the other
            // operand of the Add starts the output where the bias would, and
            // the activation runs after, in the same epilogue.
            var residual: (add: Int, activation: Int?)? = nil
            if case .conv = node.op, node.outputs.count == 1, Plan.internal(node.outputs[0], graph, exposed, consumers) {
                let next = consumers[node.outputs[0]][0]
                if let act = try Plan.fusableActivation(graph.nodes[next], constants: constants) {
                    context.fusedActivation = act
                    context.fusedNode = graph.nodes[next]
                    fusedInto.insert(next)
                    stepNode = next
                    stepNodes.append(next)
                    outputs = graph.nodes[next].outputs
                } else if !facts.allSatisfy({ $0 == nil || $0?.constant != nil }),  // a Conv that folds now runs alone
                          let skip = Plan.residualOperand(of: graph.nodes[next], besides: node.outputs[0]),
                          let source = producer[skip], source < index, let shape = shapes[skip], types[skip] == .float {
                    // The activation too, if the Add's output is only its input.
                    let sum = graph.nodes[next].outputs[0]
                    var activation: Int? = nil
                    if Plan.internal(sum, graph, exposed, consumers) {
                        let after = consumers[sum][0]
                        if let act = try Plan.fusableActivation(graph.nodes[after], constants: constants) {
                            context.fusedActivation = act
                            activation = after
                        }
                    }
                    context.residualShape = shape
                    residual = (next, activation)
                }
            }

            let planned = try OpPlanner.plan(&context)
            if let residual {
                if planned.fusedResidual {
                    let last = residual.activation ?? residual.add
                    fusedInto.insert(residual.add)
                    if let a = residual.activation { fusedInto.insert(a) }
                    stepNode = last
                    stepNodes += [residual.add] + (residual.activation.map { [$0] } ?? [])
                    outputs = graph.nodes[last].outputs
                    stepInputs = Array(node.inputs.prefix(3)) + Array(repeating: nil, count: max(0, 3 - node.inputs.count))
                        + [Plan.residualOperand(of: graph.nodes[residual.add], besides: node.outputs[0])]
                }
                // Else the Conv declined (a broadcast Add): the Add and the
                // activation run as steps of their own; it ignored both.
            }
            guard planned.outputs.count == outputs.count else {
                throw CAMError(.unsupported, "\(context.where): \(outputs.count) outputs, the operator gives \(planned.outputs.count)")
            }
            for (id, out) in zip(outputs, planned.outputs) {
                guard let count = Tensor.elementCount(out.shape), count <= limits.tensorElements else {
                    throw CAMError(.memory, "\(context.where): output '\(graph.valueNames[id])' of shape \(out.shape) has \(Plan.describeCount(out.shape)) elements, over the limit of \(limits.tensorElements) (Limits.tensorElements)")
                }
                shapes[id] = out.shape
                types[id] = out.type
            }

            // Scratch is one allocation per run (or now, for a folded node),
            // sized by the largest step: bounded here, before either exists.
            guard planned.scratch <= limits.planBytes / 4 else {
                throw CAMError(.memory, "\(context.where): the kernel needs \(planned.scratch) floats of scratch, over the limit of \(limits.planBytes) bytes (Limits.planBytes)")
            }

            // Shape reads only the (static) shape, so it always folds.
            var readsOnlyShapes = false
            if case .shape = node.op { readsOnlyShapes = true }
            if readsOnlyShapes || context.operands.allSatisfy({ $0 == nil || $0?.constant != nil }) {
                // Everything known: evaluate now, once, and keep the result.
                var scratch = Plan.scratch(planned.scratch)
                let values = try scratch.withUnsafeMutableBufferPointer { (buffer) throws(CAMError) in
                    try planned.run(context.operands.map { $0?.constant }, buffer)
                }
                for (id, value) in zip(outputs, values) { constants[id] = value }
            } else {
                steps.append(Step(node: stepNode, nodes: stepNodes, inputs: stepInputs, outputs: outputs,
                                  scratch: planned.scratch, run: planned.run, backward: planned.backward))
            }
        }

        for out in graph.outputs where shapes[out] == nil {
            throw CAMError(.format, "graph output '\(graph.valueNames[out])' is never computed")
        }

        var lastUse: [Int: Int] = [:]
        for (s, step) in steps.enumerated() { for case let id? in step.inputs { lastUse[id] = s } }
        var release = [[Int]](repeating: [], count: steps.count)
        let keep = Set(graph.outputs).union(exposed)
        for (id, s) in lastUse where constants[id] == nil && !keep.contains(id) { release[s].append(id) }

        // The forward's peak as run() allocates it: the input (the caller
        // holds it throughout), each step's outputs beside the values still
        // to be read, and the scratch buffer.
        let scratchFloats = steps.map(\.scratch).max() ?? 0
        func bytes(_ id: Int) -> Int { Tensor.elementCount(shapes[id] ?? [])! * (types[id] == .float ? 4 : 8) }
        var live = bytes(input.id), peak = (bytes: live, step: -1)
        for (s, step) in steps.enumerated() {
            for id in step.outputs { live += bytes(id) }
            if live > peak.bytes { peak = (live, s) }
            for id in release[s] where id != input.id { live -= bytes(id) }
        }
        let peakBytes = peak.bytes + scratchFloats * 4
        guard peakBytes <= limits.planBytes else {
            let at = peak.step < 0 ? "" : " (at node '\(graph.nodes[steps[peak.step].node].name)')"
            throw CAMError(.memory, "input shape \(inputShape): a forward pass holds \(peakBytes) bytes at its peak\(at), over the limit of \(limits.planBytes) (Limits.planBytes)")
        }

        var materialized = Set(steps.flatMap(\.outputs))
        materialized.insert(input.id)
        self.steps = steps
        self.constants = constants
        self.shapes = shapes
        self.types = types
        self.materialized = materialized.union(constants.keys)
        self.releaseAfter = release
        self.scratchFloats = scratchFloats
        self.peakBytes = peakBytes
    }

    /// An element count for a message: the number, or that it overflows int32.
    static func describeCount(_ shape: [Int]) -> String {
        Tensor.elementCount(shape).map { "\($0)" } ?? "2^31 or more"
    }

    /// Whether `value` is only an intermediate that fusion may remove: read
    /// by exactly one node, not exposed, not a graph output.
    static func `internal`(_ value: Int, _ graph: Graph, _ exposed: Set<Int>, _ consumers: [[Int]]) -> Bool {
        !exposed.contains(value) && !graph.outputs.contains(value) && consumers[value].count == 1
    }

    /// For an Add reading `value`, its other operand (nil for anything
    /// else, and for value + value).
    static func residualOperand(of node: Graph.Node, besides value: Int) -> Int? {
        guard case .binary(.add) = node.op, node.inputs.count == 2, node.outputs.count == 1,
              let a = node.inputs[0], let b = node.inputs[1], a != b else { return nil }
        return a == value ? b : b == value ? a : nil
    }

    /// The activation of `node` as a kernel activation, if it can be fused.
    static func fusableActivation(_ node: Graph.Node, constants: [Int: Value]) throws(CAMError) -> ck_activation? {
        switch node.op {
        case .activation(let act):
            return act
        case .clip:
            guard let bounds = try? clipBounds(node, constants: constants) else { return nil }
            return ck_activation(kind: CK_ACT_CLIP, alpha: bounds.min, beta: bounds.max)
        default:
            return nil
        }
    }

    /// Runs the plan on `input` and returns the values asked for (graph
    /// outputs are always included). `timer`, if given, gets each step's
    /// wall time added to its slot.
    func run(_ input: Tensor, returning wanted: Set<Int> = [], timer: StepTimer? = nil) throws(CAMError) -> [Int: Value] {
        var values = try startingValues(input)
        try runSteps(steps.indices, &values, keeping: wanted, timer: timer)
        var result: [Int: Value] = [:]
        for id in wanted.union(graph.outputs) {
            if let v = values[id] ?? constants[id] { result[id] = v }
        }
        return result
    }

    /// The value table (indexed by value id) holding only the graph input,
    /// once `input` has this plan's shape and no NaN or infinity.
    func startingValues(_ input: Tensor) throws(CAMError) -> [Value?] {
        guard input.shape == inputShape else {
            throw CAMError(.argument, "input of shape \(input.shape) given to a plan for \(inputShape)")
        }
        try Plan.checkFinite(input, name: graph.inputs[0].name)
        var values = [Value?](repeating: nil, count: graph.valueNames.count)
        values[graph.inputs[0].id] = .float(input)
        return values
    }

    /// Runs steps[range] over `values` (indexed by value id), which holds
    /// every value they read and do not compute; a value is dropped after
    /// its last reader unless `keeping` holds it.
    func runSteps(_ range: Range<Int>, _ values: inout [Value?], keeping: Set<Int> = [], timer: StepTimer? = nil) throws(CAMError) {
        var scratch = Plan.scratch(range.map { steps[$0].scratch }.max() ?? 0)
        try scratch.withUnsafeMutableBufferPointer { (buffer) throws(CAMError) in
            for s in range {
                let step = steps[s]
                let operands = step.inputs.map { id in id.flatMap { values[$0] ?? constants[$0] } }
                let start = timer == nil ? 0 : monotonicNanoseconds()
                let results = try step.run(operands, buffer)
                if let timer { timer.nanoseconds[s] += monotonicNanoseconds() - start }
                for (id, value) in zip(step.outputs, results) { values[id] = value }
                for id in releaseAfter[s] where !keeping.contains(id) { values[id] = nil }
            }
        }
    }

    /// A run's scratch, not zeroed: every kernel writes its scratch before
    /// reading it (the C tests hand them scratch full of NaN), and zeroing
    /// ResNet-18's (its stem's im2col matrix, 7.4 MB, which the backward
    /// path may need) cost 1-2% of every forward.
    static func scratch(_ count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { $1 = count }
    }

    static func checkFinite(_ t: Tensor, name: String) throws(CAMError) {
        if let bad = firstNonFinite(t.scalars) {
            let what = t.scalars[bad].isNaN ? "NaN" : "an infinity"
            throw CAMError(.argument, "input '\(name)' holds \(what) at flat index \(bad) (shape \(t.shape))")
        }
    }
}

func describeShape(_ shape: [Int?]) -> String {
    "[" + shape.map { $0.map(String.init) ?? "?" }.joined(separator: ", ") + "]"
}

import CCAMKernels
