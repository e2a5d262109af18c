/// Operators that move data without arithmetic: Flatten, Reshape,
/// Squeeze, Unsqueeze, Transpose, Concat, Split, Pad, Shape, Gather, Slice.
/// Each works on float and int64 values alike. Shapes are static within a
/// plan, so element index maps are computed once while planning.
enum ShapeOps {
    static func flatten(_ c: OpContext, axis: Int) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        let a = try c.axis(axis, rank: x.shape.count + 1)
        return reshaped(x, to: [x.shape[..<a].reduce(1, *), x.shape[a...].reduce(1, *)])
    }

    static func reshape(_ c: OpContext, allowZero: Bool) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        let requested = try c.constantInts(1, what: "shape")
        var out: [Int] = []
        var inferred: Int?
        for (i, d) in requested.enumerated() {
            switch d {
            case 0 where !allowZero:
                guard i < x.shape.count else { throw c.fail("shape \(requested) copies dimension \(i) that the input \(x.shape) lacks") }
                out.append(x.shape[i])
            case -1:
                guard inferred == nil else { throw c.fail("shape \(requested) has more than one -1") }
                inferred = i
                out.append(1)
            case ..<0:
                throw c.fail("shape \(requested) holds \(d)")
            default:
                out.append(d)
            }
        }
        let total = x.shape.reduce(1, *)
        if let inferred {
            guard let known = Tensor.elementCount(out), known > 0, total % known == 0 else {
                throw c.fail("cannot reshape \(x.shape) to \(requested)")
            }
            out[inferred] = total / known
        }
        guard Tensor.elementCount(out) == total else { throw c.fail("cannot reshape \(x.shape) (\(total) elements) to \(requested)") }
        return reshaped(x, to: out)
    }

    static func squeeze(_ c: OpContext, axes attribute: [Int]?) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        var axes = attribute
        if axes == nil, c.optional(1) != nil { axes = try c.constantInts(1, what: "axes") }
        var drop = Set<Int>()
        if let axes {
            for a in axes {
                let n = try c.axis(a, rank: x.shape.count)
                guard x.shape[n] == 1 else { throw c.fail("cannot squeeze axis \(a) of size \(x.shape[n]) (shape \(x.shape))") }
                drop.insert(n)
            }
        } else {
            drop = Set(x.shape.indices.filter { x.shape[$0] == 1 })
        }
        return reshaped(x, to: x.shape.indices.filter { !drop.contains($0) }.map { x.shape[$0] })
    }

    static func unsqueeze(_ c: OpContext, axes attribute: [Int]?) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        var axes = attribute ?? []
        if attribute == nil { axes = try c.constantInts(1, what: "axes") }
        let rank = x.shape.count + axes.count
        var inserted = Set<Int>()
        for a in axes { inserted.insert(try c.axis(a, rank: rank)) }
        guard inserted.count == axes.count else { throw c.fail("axes \(axes) repeat an axis") }
        var rest = x.shape.makeIterator()
        return reshaped(x, to: (0..<rank).map { inserted.contains($0) ? 1 : rest.next()! })
    }

    static func transpose(_ c: OpContext, perm attribute: [Int]?) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        let rank = x.shape.count
        let perm = attribute ?? Array((0..<rank).reversed())
        guard perm.count == rank, Set(perm) == Set(0..<rank) else { throw c.fail("perm \(perm) is not a permutation of \(rank) axes") }
        let out = perm.map { x.shape[$0] }
        let inStrides = stridesOf(x.shape)
        let indices = elementIndices(shape: out, strides: perm.map { inStrides[$0] }, offset: 0)
        return gathering(x, to: out, indices: indices)
    }

    static func concat(_ c: OpContext, axis: Int) throws(CAMError) -> PlannedOp {
        let parts = c.operands.compactMap { $0 }
        guard let first = parts.first else { throw c.fail("Concat without inputs") }
        let a = try c.axis(axis, rank: max(first.shape.count, 1))
        var out = first.shape
        out[a] = 0
        for p in parts {
            guard p.type == first.type, p.shape.count == first.shape.count,
                  p.shape.indices.allSatisfy({ $0 == a || p.shape[$0] == first.shape[$0] }) else {
                throw c.fail("input shapes \(parts.map(\.shape)) do not agree off axis \(axis)")
            }
            out[a] += p.shape[a]
        }
        let outer = first.shape[..<a].reduce(1, *)
        let blocks = parts.map { $0.shape[a...].reduce(1, *) }   // contiguous run per outer index
        let outShape = out
        let partShapes = parts.map(\.shape)
        var op = PlannedOp(outputs: [(out, first.type)]) { inputs, _ throws(CAMError) in
            let values = inputs.compactMap { $0 }
            func join<T>(_ arrays: [[T]]) -> [T] {
                var result: [T] = []
                result.reserveCapacity(outShape.reduce(1, *))
                for o in 0..<outer {
                    for (array, block) in zip(arrays, blocks) { result.append(contentsOf: array[(o * block)..<((o + 1) * block)]) }
                }
                return result
            }
            if first.type == .float {
                return [.float(Tensor(uncheckedShape: outShape, scalars: join(values.map { v -> [Float] in if case .float(let t) = v { return t.scalars }; return [] })))]
            }
            return [.int(IntTensor(shape: outShape, scalars: join(values.map { v -> [Int64] in if case .int(let t) = v { return t.scalars }; return [] })))]
        }
        // The gradient splits back along the axis, in the same blocks.
        let present = c.operands.map { $0 != nil }
        op.backward = { _, _, grads, wanted, _ throws(CAMError) in
            let dy = gradient(grads, 0, shape: outShape).scalars
            let stride = blocks.reduce(0, +)
            var result: [Tensor?] = Array(repeating: nil, count: wanted.count)
            var part = 0, offset = 0
            for (slot, isPresent) in present.enumerated() where isPresent {
                let block = blocks[part]
                if wanted[slot] {
                    var dx = [Float](repeating: 0, count: outer * block)
                    for o in 0..<outer {
                        let src = o * stride + offset
                        for i in 0..<block { dx[o * block + i] = dy[src + i] }
                    }
                    result[slot] = Tensor(uncheckedShape: partShapes[part], scalars: dx)
                }
                offset += block
                part += 1
            }
            return result
        }
        return op
    }

    static func split(_ c: OpContext, axis: Int, sizes attribute: [Int]?, numOutputs: Int?) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        let a = try c.axis(axis, rank: x.shape.count)
        let count = c.node.outputs.count
        var sizes = attribute
        if sizes == nil, c.optional(1) != nil { sizes = try c.constantInts(1, what: "split") }
        if sizes == nil {
            // Equal parts; with num_outputs (opset 18) the last may be smaller.
            let n = numOutputs ?? count
            guard n >= 1 else { throw c.fail("split into \(n) outputs") }
            let part = (x.shape[a] + n - 1) / n
            sizes = (0..<n).map { min(part, max(0, x.shape[a] - $0 * part)) }
        }
        // Each size within the axis before they are added, so that the sum
        // cannot overflow (a fuzzed split of Int.max did).
        guard let sizes, sizes.count == count, sizes.allSatisfy({ $0 >= 0 && $0 <= x.shape[a] }),
              sizes.reduce(0, +) == x.shape[a] else {
            throw c.fail("split sizes \(sizes ?? []) do not divide axis \(a) of \(x.shape) into \(count) outputs")
        }
        var parts: [PlannedOp] = []
        var start = 0
        for size in sizes {
            parts.append(sliced(x, axis: a, start: start, count: size, step: 1))
            start += size
        }
        let planned = parts
        var op = PlannedOp(outputs: planned.map { $0.outputs[0] }) { inputs, scratch throws(CAMError) in
            var results: [Value] = []
            for p in planned { results.append(contentsOf: try p.run(inputs, scratch)) }
            return results
        }
        // Each output's gradient goes back to its own slice of the input.
        op.backward = { inputs, outputs, grads, wanted, scratch throws(CAMError) in
            guard wanted[0] else { return wanted.map { _ in nil } }
            var dx = [Float](repeating: 0, count: x.shape.reduce(1, *))
            for (i, part) in planned.enumerated() {
                guard let g = grads[i], let back = part.backward else { continue }
                if let d = try back(inputs, [outputs[i]], [g], [true], scratch)[0] {
                    for j in dx.indices { dx[j] += d.scalars[j] }
                }
            }
            return [Tensor(uncheckedShape: x.shape, scalars: dx)] + Array(repeating: nil, count: wanted.count - 1)
        }
        return op
    }

    /// Pad, constant mode: pads [x1_begin, x2_begin, ..., x1_end, x2_end, ...]
    /// from input 1, value from input 2, optional axes from input 3.
    static func pad(_ c: OpContext) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        let rank = x.shape.count
        let given = try c.constantInts(1, what: "pads")
        var axes = Array(0..<rank)
        if c.optional(3) != nil {
            axes = []
            for a in try c.constantInts(3, what: "axes") { axes.append(try c.axis(a, rank: rank)) }
        }
        guard given.count == 2 * axes.count else { throw c.fail("pads \(given) do not give a begin and end for \(axes.count) axes") }
        guard given.allSatisfy({ $0 >= 0 }) else { throw c.fail(.unsupported, "negative pads \(given) are not supported") }
        var begin = Array(repeating: 0, count: rank), end = begin
        for (i, a) in axes.enumerated() { begin[a] = given[i]; end[a] = given[i + axes.count] }
        let value = try c.constantScalar(2, what: "constant_value") ?? 0
        var out: [Int] = []
        for d in 0..<rank {
            let (size, overflow) = x.shape[d].addingReportingOverflow(begin[d])
            let (padded, overflow2) = size.addingReportingOverflow(end[d])
            guard !overflow, !overflow2 else { throw c.fail(.memory, "pads \(given) on shape \(x.shape) overflow") }
            out.append(padded)
        }
        // Output index -> input index, or -1 where the output is padding:
        // all padding, then each input element placed where it lands, so the
        // work is a fill and a walk of the input, however large the pads.
        var indices = [Int](repeating: -1, count: try c.checkedCount(out))
        if !indices.isEmpty {
            let outStrides = stridesOf(out)
            let corner = (0..<rank).reduce(0) { $0 + begin[$1] * outStrides[$1] }
            for (src, o) in elementIndices(shape: x.shape, strides: outStrides, offset: corner).enumerated() { indices[o] = src }
        }
        return gathering(x, to: out, indices: indices, fill: value)
    }

    static func shape(_ c: OpContext, start: Int, end: Int?) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        let rank = x.shape.count
        func clampAxis(_ v: Int) -> Int { min(max(v < 0 ? v + rank : v, 0), rank) }
        let s = clampAxis(start), e = clampAxis(end ?? rank)
        let dims = s < e ? x.shape[s..<e].map { Int64($0) } : []
        let value = Value.int(IntTensor(dims))
        return PlannedOp(outputs: [([dims.count], .int64)]) { _, _ throws(CAMError) in [value] }
    }

    static func gather(_ c: OpContext, axis: Int) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        let idx = try c.operand(1)
        guard idx.type == .int64 else { throw c.fail("indices must be integers") }
        let a = try c.axis(axis, rank: x.shape.count)
        let raw = try c.constantInts(1, what: "indices")
        var picks: [Int] = []
        for i in raw {
            guard i >= -x.shape[a], i < x.shape[a] else { throw c.fail("index \(i) is out of range for axis \(a) of size \(x.shape[a])") }
            picks.append(i < 0 ? i + x.shape[a] : i)
        }
        let out = Array(x.shape[..<a]) + idx.shape + Array(x.shape[(a + 1)...])
        let outer = x.shape[..<a].reduce(1, *), inner = x.shape[(a + 1)...].reduce(1, *)
        var indices: [Int] = []
        indices.reserveCapacity(try c.checkedCount(out))
        for o in 0..<outer { for p in picks { for i in 0..<inner { indices.append((o * x.shape[a] + p) * inner + i) } } }
        return gathering(x, to: out, indices: indices)
    }

    /// Slice (opset >= 10): starts, ends, optional axes and steps as inputs,
    /// clamped as the ONNX spec says.
    static func slice(_ c: OpContext) throws(CAMError) -> PlannedOp {
        let x = try c.operand(0)
        let rank = x.shape.count
        let starts = try c.constantInts(1, what: "starts"), ends = try c.constantInts(2, what: "ends")
        let axes = c.optional(3) != nil ? try c.constantInts(3, what: "axes") : Array(0..<starts.count)
        let steps = c.optional(4) != nil ? try c.constantInts(4, what: "steps") : Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, axes.count == starts.count, steps.count == starts.count else {
            throw c.fail("starts, ends, axes and steps differ in length")
        }
        var begin = Array(repeating: 0, count: rank), step = Array(repeating: 1, count: rank), out = x.shape
        for (i, axis) in axes.enumerated() {
            let a = try c.axis(axis, rank: rank)
            let dim = x.shape[a]
            guard steps[i] != 0 else { throw c.fail("slice step 0 on axis \(axis)") }
            // A step beyond the dimension takes one element, as a step of the
            // dimension does; clamped, the arithmetic below cannot overflow.
            let s = min(max(steps[i], -max(dim, 1)), max(dim, 1))
            var lo = starts[i] < 0 ? starts[i] + dim : starts[i]
            var hi = ends[i] < 0 ? ends[i] + dim : ends[i]
            if s > 0 {
                lo = min(max(lo, 0), dim); hi = min(max(hi, 0), dim)
                out[a] = hi > lo ? (hi - lo + s - 1) / s : 0
            } else {
                lo = min(max(lo, -1), dim - 1); hi = min(max(hi, -1), dim - 1)
                out[a] = lo > hi ? (lo - hi + (-s) - 1) / (-s) : 0
            }
            begin[a] = lo
            step[a] = s
        }
        let inStrides = stridesOf(x.shape)
        let offset = (0..<rank).reduce(0) { $0 + begin[$1] * inStrides[$1] }
        let indices = elementIndices(shape: out, strides: (0..<rank).map { inStrides[$0] * step[$0] }, offset: offset)
        return gathering(x, to: out, indices: indices)
    }

    // MARK: helpers

    /// The same elements under a new shape.
    static func reshaped(_ x: OpContext.Operand, to out: [Int]) -> PlannedOp {
        var op = PlannedOp(outputs: [(out, x.type)]) { inputs, _ throws(CAMError) in
            switch inputs[0] {
            case .float(let t)?: return [.float(Tensor(uncheckedShape: out, scalars: t.scalars))]
            case .int(let t)?: return [.int(IntTensor(shape: out, scalars: t.scalars))]
            case nil: throw CAMError(.internal, "reshape without an operand")
            }
        }
        op.backward = reshapeBack(inputShape: x.shape)
        return op
    }

    /// Output element o is input element indices[o] (or `fill` where it is -1).
    static func gathering(_ x: OpContext.Operand, to out: [Int], indices: [Int], fill: Float = 0) -> PlannedOp {
        var op = PlannedOp(outputs: [(out, x.type)]) { inputs, _ throws(CAMError) in
            switch inputs[0] {
            case .float(let t)?:
                return [.float(Tensor(uncheckedShape: out, scalars: indices.map { $0 >= 0 ? t.scalars[$0] : fill }))]
            case .int(let t)?:
                return [.int(IntTensor(shape: out, scalars: indices.map { $0 >= 0 ? t.scalars[$0] : Int64(fill) }))]
            case nil: throw CAMError(.internal, "gather without an operand")
            }
        }
        op.backward = scatterBack(inputShape: x.shape, indices: indices)
        return op
    }

    static func sliced(_ x: OpContext.Operand, axis: Int, start: Int, count: Int, step: Int) -> PlannedOp {
        var out = x.shape
        out[axis] = count
        let strides = stridesOf(x.shape)
        var scaled = strides
        scaled[axis] *= step
        return gathering(x, to: out, indices: elementIndices(shape: out, strides: scaled, offset: start * strides[axis]))
    }

    static func stridesOf(_ shape: [Int]) -> [Int] {
        var strides = Array(repeating: 1, count: shape.count)
        var step = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) { strides[d] = step; step *= shape[d] }
        return strides
    }

    /// Source index of every output element, walking `shape` in C order.
    static func elementIndices(shape: [Int], strides: [Int], offset: Int) -> [Int] {
        let total = shape.reduce(1, *)
        var result = [Int](repeating: 0, count: total)
        guard total > 0 else { return result }
        var position = Array(repeating: 0, count: shape.count)
        var src = offset
        for o in 0..<total {
            result[o] = src
            var d = shape.count - 1
            while d >= 0 {
                position[d] += 1
                src += strides[d]
                if position[d] < shape[d] { break }
                src -= strides[d] * shape[d]
                position[d] = 0
                d -= 1
            }
        }
        return result
    }
}
