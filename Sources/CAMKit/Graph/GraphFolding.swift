/// Load-time rewrites that make the graph cheaper without changing what it
/// computes.
enum GraphFolding {
    /// Folds each BatchNormalization that directly follows a Conv (whose
    /// output nothing else reads) into that Conv's weight and bias:
    ///   s = gamma / sqrt(var + eps);  W' = W * s[co];  b' = (b - mean) * s + beta.
    /// The Conv then produces the BatchNorm's output tensor. A BatchNorm with
    /// no Conv before it (after a Concat, as in DenseNet) stays an op.
    static func foldBatchNorms(_ graph: inout Graph) throws(CAMError) {
        let consumers = graph.consumers()
        var producerIndex: [Int: Int] = [:]
        for (index, node) in graph.nodes.enumerated() { for out in node.outputs { producerIndex[out] = index } }
        var removed = Set<Int>()

        for (bnIndex, bn) in graph.nodes.enumerated() {
            guard case .batchNormalization(let epsilon) = bn.op, bn.inputs.count == 5, bn.outputs.count == 1,
                  let x = bn.inputs[0], let convIndex = producerIndex[x],
                  case .conv = graph.nodes[convIndex].op, graph.nodes[convIndex].inputs.count >= 2,
                  consumers[x] == [bnIndex], !graph.outputs.contains(x),
                  let params = bnParameters(bn, graph),
                  case .float(var weight)? = graph.nodes[convIndex].inputs[1].flatMap({ graph.constants[$0] })
            else { continue }
            let conv = graph.nodes[convIndex]
            let channels = params.gamma.count
            guard channels > 0, weight.shape.first == channels, weight.count % channels == 0 else { continue }
            var bias = [Float](repeating: 0, count: channels)
            if conv.inputs.count > 2, let b = conv.inputs[2] {
                guard case .float(let t)? = graph.constants[b], t.count == channels else { continue }
                bias = t.scalars
            }
            let perChannel = weight.count / channels
            for c in 0..<channels {
                let s = params.gamma[c] / (params.variance[c] + epsilon).squareRoot()
                for i in 0..<perChannel { weight.scalars[c * perChannel + i] *= s }
                bias[c] = (bias[c] - params.mean[c]) * s + params.beta[c]
            }
            let weightID = graph.valueNames.count
            graph.valueNames.append(graph.valueNames[conv.inputs[1]!] + "#bn_folded")
            graph.constants[weightID] = .float(weight)
            let biasID = graph.valueNames.count
            graph.valueNames.append(bn.name + "#bias")
            graph.constants[biasID] = .float(try Tensor(shape: [channels], scalars: bias))
            graph.nodes[convIndex].inputs = [conv.inputs[0], weightID, biasID]
            graph.nodes[convIndex].outputs = bn.outputs
            removed.insert(bnIndex)
        }
        if !removed.isEmpty {
            graph.nodes = graph.nodes.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
            dropUnusedConstants(&graph)
        }
    }

    /// The four per-channel vectors of a BatchNorm, if all are constants of one length.
    static func bnParameters(_ bn: Graph.Node, _ graph: Graph) -> (gamma: [Float], beta: [Float], mean: [Float], variance: [Float])? {
        var vectors: [[Float]] = []
        for input in bn.inputs[1...] {
            guard let id = input, case .float(let t)? = graph.constants[id], t.shape.count == 1 else { return nil }
            vectors.append(t.scalars)
        }
        guard vectors.allSatisfy({ $0.count == vectors[0].count }) else { return nil }
        return (vectors[0], vectors[1], vectors[2], vectors[3])
    }

    static func dropUnusedConstants(_ graph: inout Graph) {
        var used = Set(graph.outputs)
        for node in graph.nodes { for case let id? in node.inputs { used.insert(id) } }
        graph.constants = graph.constants.filter { used.contains($0.key) }
    }
}
