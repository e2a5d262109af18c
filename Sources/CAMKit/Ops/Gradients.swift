/// Small helpers shared by the backward rules in Ops/.

/// The gradient of output `i`, or zeros of `shape` when nothing flowed into it.
@inline(__always)
func gradient(_ grads: [Tensor?], _ i: Int, shape: [Int]) -> Tensor {
    if i < grads.count, let g = grads[i] { return g }
    return Tensor(uncheckedShape: shape, scalars: [Float](repeating: 0, count: shape.reduce(1, *)))
}

/// The gradient of a broadcast operand: sums `dy` (of the broadcast shape)
/// over the axes along which `shape` was stretched.
func reduceGradient(_ dy: [Float], from out: [Int], to shape: [Int]) -> [Float] {
    if shape == out { return dy }
    var result = [Float](repeating: 0, count: shape.reduce(1, *))
    Broadcast(a: out, b: shape, out: out).forEach { o, _, j in result[j] += dy[o] }
    return result
}

extension ShapeOps {
    /// The backward rule of every op that only moves elements (output o is
    /// input indices[o]): scatter-add the gradient back.
    static func scatterBack(inputShape: [Int], indices: [Int]) -> Plan.Backward {
        { _, outputs, grads, wanted, _ throws(CAMError) in
            guard wanted[0] else { return wanted.map { _ in nil } }
            let dy = gradient(grads, 0, shape: outputs[0].shape)
            var dx = [Float](repeating: 0, count: inputShape.reduce(1, *))
            for (o, i) in indices.enumerated() where i >= 0 { dx[i] += dy.scalars[o] }
            return [Tensor(uncheckedShape: inputShape, scalars: dx)] + Array(repeating: nil, count: wanted.count - 1)
        }
    }

    /// The backward rule of reshaping ops: the same elements, the input's shape.
    static func reshapeBack(inputShape: [Int]) -> Plan.Backward {
        { _, outputs, grads, wanted, _ throws(CAMError) in
            guard wanted[0] else { return wanted.map { _ in nil } }
            let dy = gradient(grads, 0, shape: outputs[0].shape)
            return [Tensor(uncheckedShape: inputShape, scalars: dy.scalars)] + Array(repeating: nil, count: wanted.count - 1)
        }
    }
}
