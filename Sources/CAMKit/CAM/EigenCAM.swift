/// Eigen-CAM: the projection of the (channel-centered) activations on their
/// first principal component. Computed from the smaller Gram matrix of
/// X [hw, K] in double precision with cyclic Jacobi, which is exact enough
/// for the 1e-4 agreement the fixtures ask and needs no LAPACK.
enum EigenCAM {
    /// The signed projection p = X v, with v the first right singular vector
    /// of the centered X. Sign convention: sum(p) >= 0 (the peer's sign is
    /// whatever its LAPACK returns; compare up to sign).
    static func projection(_ a: [Float], channels k: Int, positions hw: Int) -> [Float] {
        // X[p][c] = A[c][p] - mean_p A[c][p]
        var x = [Double](repeating: 0, count: hw * k)
        for c in 0..<k {
            var mean = 0.0
            for p in 0..<hw { mean += Double(a[c * hw + p]) }
            mean /= Double(hw)
            for p in 0..<hw { x[p * k + c] = Double(a[c * hw + p]) - mean }
        }
        var projection = [Double](repeating: 0, count: hw)
        if k <= hw {
            // Gram = X^T X [K, K]; its top eigenvector is v; p = X v.
            var gram = [Double](repeating: 0, count: k * k)
            for p in 0..<hw { for i in 0..<k { let xi = x[p * k + i]; if xi == 0 { continue }; for j in i..<k { gram[i * k + j] += xi * x[p * k + j] } } }
            for i in 0..<k { for j in 0..<i { gram[i * k + j] = gram[j * k + i] } }
            let v = topEigenvector(gram, n: k).vector
            for p in 0..<hw { var s = 0.0; for c in 0..<k { s += x[p * k + c] * v[c] }; projection[p] = s }
        } else {
            // Gram = X X^T [hw, hw]; its top eigenvector u gives p = u * sqrt(lambda).
            var gram = [Double](repeating: 0, count: hw * hw)
            for i in 0..<hw { for j in i..<hw {
                var s = 0.0
                for c in 0..<k { s += x[i * k + c] * x[j * k + c] }
                gram[i * hw + j] = s; gram[j * hw + i] = s
            } }
            let (u, lambda) = topEigenvector(gram, n: hw)
            let scale = max(lambda, 0).squareRoot()
            for p in 0..<hw { projection[p] = u[p] * scale }
        }
        if projection.reduce(0, +) < 0 { projection = projection.map { -$0 } }
        return projection.map { Float($0) }
    }

    /// The eigenvector of the largest eigenvalue of a symmetric n x n matrix
    /// (row-major), by cyclic Jacobi rotations.
    static func topEigenvector(_ matrix: [Double], n: Int) -> (vector: [Double], value: Double) {
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        let scale = max(a.map { abs($0) }.max() ?? 0, .leastNormalMagnitude)
        for _ in 0..<60 {
            var off = 0.0
            for i in 0..<n { for j in (i + 1)..<max(n, i + 1) { off += a[i * n + j] * a[i * n + j] } }
            if off.squareRoot() <= 1e-15 * scale * Double(n) { break }
            for p in 0..<n {
                for q in (p + 1)..<max(n, p + 1) {
                    let apq = a[p * n + q]
                    if abs(apq) <= 1e-300 { continue }
                    let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                    let c = 1 / (t * t + 1).squareRoot(), s = t * c
                    for r in 0..<n {   // columns p, q
                        let arp = a[r * n + p], arq = a[r * n + q]
                        a[r * n + p] = c * arp - s * arq
                        a[r * n + q] = s * arp + c * arq
                    }
                    for r in 0..<n {   // rows p, q
                        let apr = a[p * n + r], aqr = a[q * n + r]
                        a[p * n + r] = c * apr - s * aqr
                        a[q * n + r] = s * apr + c * aqr
                    }
                    for r in 0..<n {
                        let vrp = v[r * n + p], vrq = v[r * n + q]
                        v[r * n + p] = c * vrp - s * vrq
                        v[r * n + q] = s * vrp + c * vrq
                    }
                }
            }
        }
        var best = 0
        for i in 1..<max(n, 1) where a[i * n + i] > a[best * n + best] { best = i }
        return ((0..<n).map { v[$0 * n + best] }, a[best * n + best])
    }
}
