/// Backprop saliency (Simonyan et al. 2014), the CAM paper's baseline: the
/// gradient of a class logit with respect to the network's input, through
/// the whole network. The backward pass is the one Grad-CAM uses, with the
/// graph input as its target, so every op between the input and the logits
/// runs its own backward rule.
extension CAMModel {
    /// d logit_c / d input for each class in `classes`, from one forward pass.
    ///
    /// - Parameter input: [1, C, H, W], already normalized.
    /// - Returns: the logits and one gradient of the input's shape per class,
    ///   in the order of `classes`.
    public func inputGradients(_ input: Tensor, classes: [Int]) throws(CAMError) -> (logits: [Float], gradients: [Tensor]) {
        try inputGradients(input) { _ throws(CAMError) in classes }
    }

    /// The same, with the classes chosen from the logits once they are known.
    func inputGradients(_ input: Tensor, select: ([Float]) throws(CAMError) -> [Int]) throws(CAMError) -> (logits: [Float], gradients: [Tensor]) {
        guard input.shape.count == 4, input.shape[0] == 1 else {
            throw CAMError(.argument, "the input gradient takes one image, shape [1, C, H, W]; got \(input.shape)")
        }
        let inputID = graph.inputs[0].id
        // Exposing every value the input reaches keeps each Conv apart from
        // its activation, so both have their backward rules.
        let plan = try plan(for: input.shape, exposing: Tail.reach(graph: graph, from: inputID))
        let tail = Tail(plan: plan, target: inputID)
        let values = try plan.run(input, returning: tail.needed)
        guard case .float(let logitsTensor)? = values[graph.outputs[0]] else {
            throw CAMError(.internal, "forward pass did not keep the logits")
        }
        let logits = logitsTensor.scalars
        try checkFinite(logits, what: "the logits")
        var gradients: [Tensor] = []
        for c in try select(logits) {
            guard c >= 0, c < logits.count else {
                throw CAMError(.argument, "class \(c) is out of range: the model has \(logits.count) classes (0 to \(logits.count - 1))")
            }
            var seed = [Float](repeating: 0, count: logits.count)
            seed[c] = 1
            let g = try plan.gradient(of: graph.outputs[0], seed: Tensor(uncheckedShape: logitsTensor.shape, scalars: seed),
                                      at: tail, values: values)
            try checkFinite(g.scalars, what: "the input gradients of class \(c)")
            gradients.append(g)
        }
        return (logits, gradients)
    }

    /// The saliency map of one input gradient [1, C, H, W]: max over the
    /// channels of |g|, min-max normalized, (S - min) / (max - min) in
    /// float32 (a constant map becomes all zeros), H x W row-major.
    static func saliencyMap(_ g: Tensor) -> [Float] {
        let channels = g.shape[1], plane = g.shape[2] * g.shape[3]
        var s = [Float](repeating: 0, count: plane)
        for c in 0..<channels {
            let offset = c * plane
            for i in 0..<plane { s[i] = max(s[i], abs(g.scalars[offset + i])) }
        }
        guard let lo = s.min(), let hi = s.max(), hi > lo else { return [Float](repeating: 0, count: plane) }
        let range = hi - lo
        return s.map { ($0 - lo) / range }
    }
}
