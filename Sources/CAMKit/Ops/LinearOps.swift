import CCAMKernels

/// Gemm, MatMul, Softmax.
enum LinearOps {
    /// Y = alpha * op(A) * op(B) + beta * C, with C broadcast to [M, N].
    static func gemm(_ c: OpContext, alpha: Float, beta: Float, transA: Bool, transB: Bool) throws(CAMError) -> PlannedOp {
        let a = try c.floatShape(0, rank: 2), b = try c.floatShape(1, rank: 2)
        let m = transA ? a[1] : a[0], k = transA ? a[0] : a[1]
        let kb = transB ? b[1] : b[0], n = transB ? b[0] : b[1]
        guard k == kb else { throw c.fail("A \(a) and B \(b) (transA \(transA), transB \(transB)) have inner sizes \(k) and \(kb)") }
        var broadcastC: Broadcast?
        if c.optional(2) != nil {
            let cShape = try c.floatShape(2)
            guard Broadcast.shape([m, n], cShape) == [m, n] else { throw c.fail("C of shape \(cShape) does not broadcast to [\(m), \(n)]") }
            broadcastC = Broadcast(a: [m, n], b: cShape, out: [m, n])
        }
        let bias = broadcastC
        let i = { (v: Int) throws(CAMError) -> Int32 in try ConvOps.int32(c, v) }
        let (M, N, K, lda, ldb) = (try i(m), try i(n), try i(k), try i(a[1]), try i(b[1]))
        let label = c.where
        var op = PlannedOp(outputs: [([m, n], .float)]) { inputs, _ throws(CAMError) in
            let x = try floatOperand(inputs, 0), w = try floatOperand(inputs, 1)
            var y = [Float](repeating: 0, count: m * n)
            var betaUsed: Float = 0
            if let bias, beta != 0 {
                let cv = try floatOperand(inputs, 2)
                bias.forEach { o, _, j in y[o] = cv.scalars[j] }
                betaUsed = beta
            }
            try kernel(label) {
                y.withUnsafeMutableBufferPointer { yb in
                    ck_gemm(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, x.scalars, lda, w.scalars, ldb, betaUsed, yb.baseAddress, N)
                }
            }
            return [.float(Tensor(uncheckedShape: [m, n], scalars: y))]
        }
        // dA only (the weights are constants in a classifier head):
        //   A [m, k]:  dA = alpha * dY * op(B)^T        A^T [k, m]:  dA = alpha * op(B) * dY^T
        op.backward = { inputs, _, grads, wanted, _ throws(CAMError) in
            if wanted.dropFirst().contains(true) {
                throw CAMError(.unsupported, "\(label): gradients with respect to Gemm's B or C are not supported")
            }
            guard wanted[0] else { return wanted.map { _ in nil } }
            let w = try floatOperand(inputs, 1)
            let dy = gradient(grads, 0, shape: [m, n])
            var dx = [Float](repeating: 0, count: m * k)
            try kernel(label) {
                dx.withUnsafeMutableBufferPointer { db in
                    transA
                        // [k, m] = op(B) [k, n] * dY^T [n, m]
                        ? ck_gemm(transB ? 1 : 0, 1, K, M, N, alpha, w.scalars, ldb, dy.scalars, N, 0, db.baseAddress, M)
                        // [m, k] = dY [m, n] * op(B)^T [n, k]
                        : ck_gemm(0, transB ? 0 : 1, M, K, N, alpha, dy.scalars, N, w.scalars, ldb, 0, db.baseAddress, K)
                }
            }
            return [Tensor(uncheckedShape: a, scalars: dx)] + Array(repeating: nil, count: wanted.count - 1)
        }
        return op
    }

    /// NumPy matmul: 1-D operands are promoted and the added axis removed;
    /// batch axes broadcast.
    static func matMul(_ c: OpContext) throws(CAMError) -> PlannedOp {
        var a = try c.floatShape(0), b = try c.floatShape(1)
        guard !a.isEmpty, !b.isEmpty else { throw c.fail("MatMul of a scalar") }
        let vectorA = a.count == 1, vectorB = b.count == 1
        if vectorA { a = [1] + a }
        if vectorB { b = b + [1] }
        let m = a[a.count - 2], k = a[a.count - 1], kb = b[b.count - 2], n = b[b.count - 1]
        guard k == kb else { throw c.fail("shapes \(a) and \(b) have inner sizes \(k) and \(kb)") }
        guard let batch = Broadcast.shape(Array(a.dropLast(2)), Array(b.dropLast(2))) else {
            throw c.fail("batch axes of \(a) and \(b) do not broadcast")
        }
        var out = batch + [m, n]
        if vectorA { out.remove(at: out.count - 2) }
        if vectorB { out.removeLast() }
        let pairs = Broadcast(a: Array(a.dropLast(2)), b: Array(b.dropLast(2)), out: batch)
        let i = { (v: Int) throws(CAMError) -> Int32 in try ConvOps.int32(c, v) }
        let (M, N, K) = (try i(m), try i(n), try i(k))
        let label = c.where
        let outShape = out
        let (shapeA, shapeB) = (try c.floatShape(0), try c.floatShape(1))
        var op = PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
            let x = try floatOperand(inputs, 0), w = try floatOperand(inputs, 1)
            var y = [Float](repeating: 0, count: batch.reduce(1, *) * m * n)
            var status = CK_OK
            y.withUnsafeMutableBufferPointer { yb in
                x.scalars.withUnsafeBufferPointer { xb in
                    w.scalars.withUnsafeBufferPointer { wb in
                        pairs.forEach { o, ia, ib in
                            if status != CK_OK { return }
                            status = ck_gemm(0, 0, M, N, K, 1, xb.baseAddress! + ia * m * k, K,
                                             wb.baseAddress! + ib * k * n, N, 0, yb.baseAddress! + o * m * n, N)
                        }
                    }
                }
            }
            try kernel(label) { status }
            return [.float(Tensor(uncheckedShape: outShape, scalars: y))]
        }
        // dA_b += dY_b * B_b^T and dB_b += A_b^T * dY_b per batch pair; a
        // broadcast operand collects the sum over the batches that shared it.
        op.backward = { inputs, _, grads, wanted, _ throws(CAMError) in
            let x = try floatOperand(inputs, 0), w = try floatOperand(inputs, 1)
            let dy = gradient(grads, 0, shape: outShape)
            var da = [Float](repeating: 0, count: wanted[0] ? x.count : 0)
            var dbw = [Float](repeating: 0, count: wanted[1] ? w.count : 0)
            var status = CK_OK
            pairs.forEach { o, ia, ib in
                guard status == CK_OK else { return }
                let dyOffset = o * m * n
                dy.scalars.withUnsafeBufferPointer { g in
                    if wanted[0] {
                        da.withUnsafeMutableBufferPointer { d in
                            w.scalars.withUnsafeBufferPointer { wb in
                                status = ck_gemm(0, 1, M, K, N, 1, g.baseAddress! + dyOffset, N, wb.baseAddress! + ib * k * n, N,
                                                 1, d.baseAddress! + ia * m * k, K)
                            }
                        }
                    }
                    if wanted[1], status == CK_OK {
                        dbw.withUnsafeMutableBufferPointer { d in
                            x.scalars.withUnsafeBufferPointer { xb in
                                status = ck_gemm(1, 0, K, N, M, 1, xb.baseAddress! + ia * m * k, K, g.baseAddress! + dyOffset, N,
                                                 1, d.baseAddress! + ib * k * n, N)
                            }
                        }
                    }
                }
            }
            try kernel(label) { status }
            return [wanted[0] ? Tensor(uncheckedShape: shapeA, scalars: da) : nil,
                    wanted[1] ? Tensor(uncheckedShape: shapeB, scalars: dbw) : nil]
        }
        return op
    }

    /// Softmax along `axis` (opset >= 13), or over everything from `axis` on
    /// (legacy, opset < 13). Both reduce to rows of a matrix when the
    /// softmax axes are trailing; an inner axis takes a strided loop.
    static func softmax(_ c: OpContext, axis: Int, legacy: Bool) throws(CAMError) -> PlannedOp {
        let x = try c.floatShape(0)
        let a = try c.axis(axis, rank: max(x.count, 1))
        let outer = x[..<a].reduce(1, *)
        let length = legacy ? x[a...].reduce(1, *) : x[a]
        let inner = legacy ? 1 : x[(a + 1)...].reduce(1, *)
        let label = c.where
        let rows = try ConvOps.int32(c, outer * inner), cols = try ConvOps.int32(c, length)
        var op = PlannedOp(outputs: [(x, .float)]) { inputs, _ throws(CAMError) in
            var y = try floatOperand(inputs, 0)
            if inner == 1 {
                try kernel(label) { y.scalars.withUnsafeMutableBufferPointer { ck_softmax_forward($0.baseAddress, $0.baseAddress, rows, cols) } }
                return [.float(y)]
            }
            // Gather each strided row, soften it, scatter it back.
            var row = [Float](repeating: 0, count: length)
            for o in 0..<outer {
                for j in 0..<inner {
                    let base = o * length * inner + j
                    for t in 0..<length { row[t] = y.scalars[base + t * inner] }
                    try kernel(label) { row.withUnsafeMutableBufferPointer { ck_softmax_forward($0.baseAddress, $0.baseAddress, 1, cols) } }
                    for t in 0..<length { y.scalars[base + t * inner] = row[t] }
                }
            }
            return [.float(y)]
        }
        // dx = y * (dy - sum(dy * y)) per softmax row, from the forward output.
        op.backward = { _, outputs, grads, wanted, _ throws(CAMError) in
            guard wanted[0], case .float(let y) = outputs[0] else { return wanted.map { _ in nil } }
            let dy = gradient(grads, 0, shape: x)
            var dx = [Float](repeating: 0, count: y.count)
            if inner == 1 {
                try kernel(label) { dx.withUnsafeMutableBufferPointer { ck_softmax_backward(y.scalars, dy.scalars, $0.baseAddress, rows, cols) } }
            } else {
                var yr = [Float](repeating: 0, count: length), gr = yr, dr = yr
                for o in 0..<outer {
                    for j in 0..<inner {
                        let base = o * length * inner + j
                        for t in 0..<length { yr[t] = y.scalars[base + t * inner]; gr[t] = dy.scalars[base + t * inner]; dr[t] = 0 }
                        try kernel(label) { dr.withUnsafeMutableBufferPointer { ck_softmax_backward(yr, gr, $0.baseAddress, 1, cols) } }
                        for t in 0..<length { dx[base + t * inner] = dr[t] }
                    }
                }
            }
            return [Tensor(uncheckedShape: x, scalars: dx)] + Array(repeating: nil, count: wanted.count - 1)
        }
        return op
    }
}
