import CCAMKernels

/// Activations, standalone BatchNorm, broadcasting arithmetic, LRN, Cast.
enum ElementwiseOps {
    static func activation(_ c: OpContext, _ act: ck_activation) throws(CAMError) -> PlannedOp {
        let shape = try c.floatShape(0)
        let label = c.where
        var op = PlannedOp(outputs: [(shape, .float)]) { inputs, _ throws(CAMError) in
            var y = try floatOperand(inputs, 0)
            var act = act
            let n = Int64(y.count)
            try kernel(label) { y.scalars.withUnsafeMutableBufferPointer { ck_act_forward(&act, $0.baseAddress, $0.baseAddress, n) } }
            return [.float(y)]
        }
        op.backward = { inputs, _, grads, wanted, _ throws(CAMError) in
            guard wanted[0] else { return wanted.map { _ in nil } }
            let x = try floatOperand(inputs, 0)
            let dy = gradient(grads, 0, shape: shape)
            var dx = [Float](repeating: 0, count: x.count)
            var act = act
            let n = Int64(x.count)
            try kernel(label) { dx.withUnsafeMutableBufferPointer { ck_act_backward(&act, x.scalars, dy.scalars, $0.baseAddress, n) } }
            return [Tensor(uncheckedShape: shape, scalars: dx)] + Array(repeating: nil, count: wanted.count - 1)
        }
        return op
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
        // y = x * s + t per channel; the backward rule is the same map with t = 0.
        @Sendable func affine(_ v: inout [Float], _ shift: [Float]) {
            v.withUnsafeMutableBufferPointer { buf in
                var offset = 0
                while offset < buf.count {
                    for ch in 0..<channels {
                        let s = scale[ch], t = shift[ch]
                        for i in offset ..< offset + inner { buf[i] = buf[i] * s + t }
                        offset += inner
                    }
                }
            }
        }
        var op = PlannedOp(outputs: [(x, .float)]) { inputs, _ throws(CAMError) in
            var y = try floatOperand(inputs, 0)
            affine(&y.scalars, shift)
            return [.float(y)]
        }
        let zero = [Float](repeating: 0, count: channels)
        op.backward = { _, _, grads, wanted, _ throws(CAMError) in
            guard wanted[0] else { return wanted.map { _ in nil } }
            if wanted.dropFirst().contains(true) { throw CAMError(.unsupported, "BatchNormalization: gradients of its parameters are not supported") }
            var dx = gradient(grads, 0, shape: x)
            affine(&dx.scalars, zero)
            return [dx] + Array(repeating: nil, count: wanted.count - 1)
        }
        return op
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
        var planned = PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
            let x = try floatOperand(inputs, 0), y = try floatOperand(inputs, 1)
            return [.float(Tensor(uncheckedShape: out, scalars: plan.apply(x.scalars, y.scalars, op)))]
        }
        let (shapeA, shapeB) = (a.shape, b.shape)
        planned.backward = { inputs, _, grads, wanted, _ throws(CAMError) in
            let dy = gradient(grads, 0, shape: out).scalars
            var result: [Tensor?] = [nil, nil]
            // Each operand's gradient at the broadcast shape, then summed back.
            func back(_ i: Int, _ shape: [Int], _ local: () throws(CAMError) -> [Float]) throws(CAMError) {
                guard wanted[i] else { return }
                result[i] = Tensor(uncheckedShape: shape, scalars: reduceGradient(try local(), from: out, to: shape))
            }
            switch op {
            case .add:
                try back(0, shapeA) { dy }
                try back(1, shapeB) { dy }
            case .sub:
                try back(0, shapeA) { dy }
                try back(1, shapeB) { dy.map { -$0 } }
            case .mul:
                let x = try floatOperand(inputs, 0).scalars, y = try floatOperand(inputs, 1).scalars
                try back(0, shapeA) { plan.apply(dy, y, .mul) }
                try back(1, shapeB) { Broadcast(a: out, b: shapeA, out: out).apply(dy, x, .mul) }
            case .div:
                let x = try floatOperand(inputs, 0).scalars, y = try floatOperand(inputs, 1).scalars
                try back(0, shapeA) { plan.apply(dy, y, .div) }
                try back(1, shapeB) {
                    // d(x / y)/dy = -x / y^2
                    let q = plan.apply(x, y, .div)                       // x / y at the broadcast shape
                    let qy = Broadcast(a: out, b: shapeB, out: out).apply(q, y, .div)
                    return zip(dy, qy).map { -$0 * $1 }
                }
            }
            return result
        }
        return planned
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
            // No backward rule: LRN sits early in the few nets that have it (GoogLeNet),
            // never between a CAM target and the logits.
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
