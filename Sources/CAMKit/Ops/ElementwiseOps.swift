import CCAMKernels

/// Activations, standalone BatchNorm, broadcasting arithmetic, LRN, Cast.
enum ElementwiseOps {
    static func activation(_ c: OpContext, _ act: ck_activation) throws(CAMError) -> PlannedOp {
        let shape = try c.floatShape(0)
        let label = c.where
        return PlannedOp(outputs: [(shape, .float)]) { inputs, _ throws(CAMError) in
            var y = try floatOperand(inputs, 0)
            var act = act
            let n = Int64(y.count)
            try kernel(label) { y.scalars.withUnsafeMutableBufferPointer { ck_act_forward(&act, $0.baseAddress, $0.baseAddress, n) } }
            return [.float(y)]
        }
    }

    /// BatchNormalization in inference mode, where no Conv precedes it:
    /// y = x * s[c] + t[c], with s and t computed once while planning.
    static func batchNorm(_ c: OpContext, epsilon: Float) throws(CAMError) -> PlannedOp {
        let x = try c.floatShape(0)
        guard x.count >= 2 else { throw c.fail("input has shape \(x), expected [N, C, ...]") }
        var vectors: [[Float]] = []
        for i in 1...4 {
            guard case .float(let t)? = try c.operand(i).constant else {
                throw c.fail(.unsupported, "scale, bias, mean and variance must be constants")
            }
            guard t.count == x[1] else { throw c.fail("parameter \(i) has \(t.count) values for \(x[1]) channels") }
            vectors.append(t.scalars)
        }
        let scale = (0..<x[1]).map { vectors[0][$0] / (vectors[3][$0] + epsilon).squareRoot() }
        let shift = (0..<x[1]).map { vectors[1][$0] - vectors[2][$0] * scale[$0] }
        let channels = x[1], inner = x[2...].reduce(1, *)
        return PlannedOp(outputs: [(x, .float)]) { inputs, _ throws(CAMError) in
            var y = try floatOperand(inputs, 0)
            y.scalars.withUnsafeMutableBufferPointer { buf in
                var offset = 0
                while offset < buf.count {
                    for ch in 0..<channels {
                        let s = scale[ch], t = shift[ch]
                        for i in offset ..< offset + inner { buf[i] = buf[i] * s + t }
                        offset += inner
                    }
                }
            }
            return [.float(y)]
        }
    }

    static func binary(_ c: OpContext, _ op: Op.BinaryOp) throws(CAMError) -> PlannedOp {
        let a = try c.operand(0), b = try c.operand(1)
        guard a.type == b.type else { throw c.fail("inputs are \(a.type) and \(b.type); they must match") }
        guard let out = Broadcast.shape(a.shape, b.shape) else {
            throw c.fail("shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        let plan = Broadcast(a: a.shape, b: b.shape, out: out)
        if a.type == .int64 {
            let label = c.where
            return PlannedOp(outputs: [(out, .int64)]) { inputs, _ throws(CAMError) in
                let x = try intOperand(inputs, 0), y = try intOperand(inputs, 1)
                var result = [Int64](repeating: 0, count: out.reduce(1, *))
                var failure: CAMError?
                plan.forEach { o, i, j in
                    let l = x.scalars[i], r = y.scalars[j]
                    switch op {
                    case .add: result[o] = l &+ r
                    case .sub: result[o] = l &- r
                    case .mul: result[o] = l &* r
                    case .div:
                        if r == 0 || (l == .min && r == -1) { failure = CAMError(.format, "\(label): integer division of \(l) by \(r)") }
                        else { result[o] = l / r }
                    }
                }
                if let failure { throw failure }
                return [.int(IntTensor(shape: out, scalars: result))]
            }
        }
        return PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
            let x = try floatOperand(inputs, 0), y = try floatOperand(inputs, 1)
            return [.float(Tensor(uncheckedShape: out, scalars: plan.apply(x.scalars, y.scalars, op)))]
        }
    }

    static func lrn(_ c: OpContext, size: Int, alpha: Float, beta: Float, bias: Float) throws(CAMError) -> PlannedOp {
        let x = try c.floatShape(0)
        guard x.count >= 3 else { throw c.fail("input has shape \(x), expected [N, C, ...]") }
        let label = c.where
        let n = try ConvOps.int32(c, x[0]), ch = try ConvOps.int32(c, x[1]), hw = try ConvOps.int32(c, x[2...].reduce(1, *))
        let sz = try ConvOps.int32(c, size)
        return PlannedOp(outputs: [(x, .float)]) { inputs, _ throws(CAMError) in
            let input = try floatOperand(inputs, 0)
            var y = [Float](repeating: 0, count: input.count)
            try kernel(label) { y.withUnsafeMutableBufferPointer { ck_lrn_forward(input.scalars, $0.baseAddress, n, ch, hw, sz, alpha, beta, bias) } }
            return [.float(Tensor(uncheckedShape: x, scalars: y))]
        }
    }

    static func cast(_ c: OpContext, to: ElementType) throws(CAMError) -> PlannedOp {
        let a = try c.operand(0)
        let label = c.where
        return PlannedOp(outputs: [(a.shape, to)]) { inputs, _ throws(CAMError) in
            switch (inputs[0], to) {
            case (.float(let t)?, .float):
                return [.float(t)]
            case (.int(let t)?, .int64):
                return [.int(t)]
            case (.float(let t)?, .int64):
                var out: [Int64] = []
                out.reserveCapacity(t.count)
                for v in t.scalars {
                    guard v.isFinite, abs(v) < 9.2e18 else { throw CAMError(.format, "\(label): cannot cast \(v) to an integer") }
                    out.append(Int64(v))   // ONNX truncates toward zero
                }
                return [.int(IntTensor(shape: t.shape, scalars: out))]
            case (.int(let t)?, .float):
                return [.float(Tensor(uncheckedShape: t.shape, scalars: t.scalars.map { Float($0) }))]
            default:
                throw CAMError(.internal, "\(label): missing operand")
            }
        }
    }
}

/// NumPy-style broadcasting of two operands, resolved once per plan.
struct Broadcast: Sendable {
    let a: [Int], b: [Int], out: [Int]

    /// The broadcast shape, or nil when the shapes are incompatible.
    static func shape(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        var out: [Int] = []
        for (x, y) in zip(pa, pb) {
            if x == y || y == 1 { out.append(x) } else if x == 1 { out.append(y) } else { return nil }
        }
        return out
    }

    /// Element strides of `shape` seen through `out` (0 on broadcast axes).
    private func strides(_ shape: [Int]) -> [Int] {
        let padded = Array(repeating: 1, count: out.count - shape.count) + shape
        var result = Array(repeating: 0, count: out.count)
        var step = 1
        for axis in stride(from: out.count - 1, through: 0, by: -1) {
            result[axis] = padded[axis] == 1 ? 0 : step
            step *= padded[axis]
        }
        return result
    }

    /// Calls body(outIndex, aIndex, bIndex) for every output element in order.
    func forEach(_ body: (Int, Int, Int) -> Void) {
        let total = out.reduce(1, *)
        guard total > 0 else { return }
        let sa = strides(a), sb = strides(b)
        var index = Array(repeating: 0, count: out.count)
        var ia = 0, ib = 0
        for o in 0..<total {
            body(o, ia, ib)
            var axis = out.count - 1
            while axis >= 0 {
                index[axis] += 1
                ia += sa[axis]; ib += sb[axis]
                if index[axis] < out[axis] { break }
                ia -= sa[axis] * out[axis]; ib -= sb[axis] * out[axis]
                index[axis] = 0
                axis -= 1
            }
        }
    }

    func apply(_ x: [Float], _ y: [Float], _ op: Op.BinaryOp) -> [Float] {
        let total = out.reduce(1, *)
        var result = [Float](repeating: 0, count: total)
        @inline(__always) func f(_ l: Float, _ r: Float) -> Float {
            switch op {
            case .add: return l + r
            case .sub: return l - r
            case .mul: return l * r
            case .div: return l / r
            }
        }
        if x.count == total && y.count == total {
            for i in 0..<total { result[i] = f(x[i], y[i]) }
        } else if y.count == 1 {
            let r = y[0]
            for i in 0..<total { result[i] = f(x[i], r) }
        } else if let inner = rowBroadcast(b, over: a) {
            // [N, C, H, W] op [N, C, 1, 1]: one value of y per run of `inner` elements of x.
            for (row, r) in y.enumerated() {
                let base = row * inner
                for i in base ..< base + inner { result[i] = f(x[i], r) }
            }
        } else if let inner = rowBroadcast(a, over: b) {
            for (row, l) in x.enumerated() {
                let base = row * inner
                for i in base ..< base + inner { result[i] = f(l, y[i]) }
            }
        } else {
            forEach { o, i, j in result[o] = f(x[i], y[j]) }
        }
        return result
    }

    /// When `small` equals `big` on leading axes and is 1 on all trailing
    /// ones, the number of elements each value of `small` spans.
    private func rowBroadcast(_ small: [Int], over big: [Int]) -> Int? {
        guard big == out, small.count == big.count else { return nil }
        var axis = small.count
        while axis > 0 && small[axis - 1] == 1 { axis -= 1 }
        guard axis < small.count, Array(small[..<axis]) == Array(big[..<axis]) else { return nil }
        return big[axis...].reduce(1, *)
    }
}
