/// Reverse mode over the part of a plan between one tensor (the CAM target)
/// and the logits: only the steps that depend on the target run backward,
/// each through its op's own rule (PlannedOp.backward, beside its forward).
/// For a GAP -> FC head that is a few hundred flops. The target may be the
/// graph input itself: the tail is then the whole network, as backprop
/// saliency needs (`CAMModel.inputGradients`).
struct Tail: Sendable {
    let target: Int
    /// Indices into plan.steps of the steps that read the target, directly or not.
    let steps: [Int]
    /// The target and every value those steps produce.
    let values: Set<Int>
    /// Values the backward rules read: tail steps' inputs and outputs.
    let needed: Set<Int>

    init(plan: Plan, target: Int) {
        var reach: Set<Int> = [target]
        var steps: [Int] = []
        var needed: Set<Int> = [target]
        for (index, step) in plan.steps.enumerated() where step.inputs.contains(where: { $0.map(reach.contains) ?? false }) {
            steps.append(index)
            reach.formUnion(step.outputs)
            for case let id? in step.inputs { needed.insert(id) }
            needed.formUnion(step.outputs)
        }
        self.target = target
        self.steps = steps
        self.values = reach
        self.needed = needed
    }

    /// The graph values the tail reaches, computed on the graph alone (before
    /// a plan exists), so that a plan can be asked not to fuse them away.
    static func reach(graph: Graph, from target: Int) -> Set<Int> {
        var reach: Set<Int> = [target]
        for node in graph.nodes where node.inputs.contains(where: { $0.map(reach.contains) ?? false }) {
            reach.formUnion(node.outputs)
        }
        return reach
    }
}

extension Plan {
    /// d(seed . output) / d(target), from the values of one forward run
    /// (which must include `tail.needed`). A target the output does not
    /// depend on gets a zero gradient.
    func gradient(of output: Int, seed: Tensor, at tail: Tail, values: [Int: Value]) throws(CAMError) -> Tensor {
        var grads: [Int: Tensor] = [output: seed]
        var scratch = Plan.scratch(scratchFloats)
        for index in tail.steps.reversed() {
            let step = steps[index]
            let gradOutputs = step.outputs.map { grads[$0] }
            guard gradOutputs.contains(where: { $0 != nil }) else { continue }
            let node = graph.nodes[step.node]
            guard let backward = step.backward else {
                if graph.inputs.contains(where: { $0.id == tail.target }) {
                    throw CAMError(.unsupported, "node '\(node.name)' (\(node.opType)) has no backward rule in camkit, so the gradient with respect to the input cannot pass it")
                }
                throw CAMError(.unsupported, "node '\(node.name)' (\(node.opType)) lies between the target layer and the output and has no backward rule in camkit; choose a later target layer")
            }
            let wanted = step.inputs.map { $0.map(tail.values.contains) ?? false }
            let inputs = step.inputs.map { id in id.flatMap { values[$0] ?? constants[$0] } }
            var outputs: [Value] = []
            for id in step.outputs {
                guard let v = values[id] else { throw CAMError(.internal, "backward: value '\(graph.valueNames[id])' was not kept") }
                outputs.append(v)
            }
            let inputGrads = try scratch.withUnsafeMutableBufferPointer { (buffer) throws(CAMError) in
                try backward(inputs, outputs, gradOutputs, wanted, buffer)
            }
            for (slot, g) in inputGrads.enumerated() {
                guard slot < wanted.count, wanted[slot], let id = step.inputs[slot], let g else { continue }
                if var existing = grads[id] {
                    for i in existing.scalars.indices { existing.scalars[i] += g.scalars[i] }
                    grads[id] = existing
                } else {
                    grads[id] = g
                }
            }
        }
        if let g = grads[tail.target] { return g }
        let shape = shapes[tail.target] ?? []
        return Tensor(uncheckedShape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Runs only the tail on a replacement value of the target (batch as
    /// this plan's), as Ablation-CAM needs: the layers before the target are
    /// not run again. The tail may read nothing but the target and constants.
    func runTail(_ tail: Tail, target value: Tensor) throws(CAMError) -> Tensor {
        guard value.shape == shapes[tail.target] else {
            throw CAMError(.internal, "runTail: value of shape \(value.shape) for a target of shape \(shapes[tail.target] ?? [])")
        }
        var values: [Int: Value] = [tail.target: .float(value)]
        var scratch = Plan.scratch(scratchFloats)
        for index in tail.steps {
            let step = steps[index]
            var operands: [Value?] = []
            for input in step.inputs {
                guard let id = input else { operands.append(nil); continue }
                guard let v = values[id] ?? constants[id] else {
                    throw CAMError(.unsupported, "the layers after the target read '\(graph.valueNames[id])', computed before the target; Ablation-CAM needs a target that the rest of the network depends on alone")
                }
                operands.append(v)
            }
            let results = try scratch.withUnsafeMutableBufferPointer { (buffer) throws(CAMError) in try step.run(operands, buffer) }
            for (id, v) in zip(step.outputs, results) { values[id] = v }
        }
        guard case .float(let out)? = values[graph.outputs[0]] else {
            throw CAMError(.unsupported, "the output '\(graph.valueNames[graph.outputs[0]])' does not depend on the target layer")
        }
        return out
    }
}
