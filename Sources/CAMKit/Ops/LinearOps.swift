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
        if let cShape = c.optional(2)?.shape {
            guard Broadcast.shape([m, n], cShape) == [m, n] else { throw c.fail("C of shape \(cShape) does not broadcast to [\(m), \(n)]") }
            broadcastC = Broadcast(a: [m, n], b: cShape, out: [m, n])
        }
        let bias = broadcastC
        let i = { (v: Int) throws(CAMError) -> Int32 in try ConvOps.int32(c, v) }
        let (M, N, K, lda, ldb) = (try i(m), try i(n), try i(k), try i(a[1]), try i(b[1]))
        let label = c.where
        return PlannedOp(outputs: [([m, n], .float)]) { inputs, _ throws(CAMError) in
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
        return PlannedOp(outputs: [(out, .float)]) { inputs, _ throws(CAMError) in
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
        return PlannedOp(outputs: [(x, .float)]) { inputs, _ throws(CAMError) in
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
    }
}
