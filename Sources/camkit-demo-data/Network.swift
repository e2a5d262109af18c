import CCAMKernels
import Dispatch
import Foundation

// The classifier, NCHW float32, trained here with the camkit C kernels:
//
//   conv3x3 3->16 pad 1, ReLU         64x64    features.0, features.1
//   maxpool 2x2 s2                    32x32    features.2
//   conv3x3 16->32 pad 1, ReLU        32x32    features.3, features.4
//   maxpool 2x2 s2                    16x16    features.5
//   conv3x3 32->32 pad 1, ReLU        16x16    features.6, features.7  (the CAM target)
//   global average pool, flatten      32       avgpool
//   fully connected 32->classes                fc
//
// Training puts a batch normalization between each convolution and its ReLU
// (it makes this small network learn the task in a few hundred steps instead
// of many thousands); the exported model has it folded into the convolution's
// weight and bias, so the ONNX graph is exactly the list above.
//
// Forward and backward run over a batch split into a fixed number of shards
// (one thread each, OpenBLAS single-threaded), so results do not depend on the
// number of cores. Weight gradients are dW = dY . im2col(x)^T per image
// (ck_im2col + ck_gemm), input gradients ck_conv2d_backward_input, pooling,
// global pooling and ReLU through their backward kernels.

/// A float buffer of fixed size, zero-initialized, owned by its object.
final class Buffer: @unchecked Sendable {
    let count: Int
    let p: UnsafeMutablePointer<Float>

    init(_ count: Int) {
        self.count = count
        p = .allocate(capacity: max(count, 1))
        p.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { p.deallocate() }

    func zero() { p.update(repeating: 0, count: count) }

    var array: [Float] { Array(UnsafeBufferPointer(start: p, count: count)) }
}

/// One trainable tensor with its gradient and Adam moments.
final class Parameter: @unchecked Sendable {
    let name: String
    let shape: [Int]
    let decays: Bool
    let value: Buffer, grad: Buffer, m: Buffer, v: Buffer

    init(_ name: String, _ shape: [Int], decays: Bool) {
        self.name = name
        self.shape = shape
        self.decays = decays
        let n = shape.reduce(1, *)
        value = Buffer(n); grad = Buffer(n); m = Buffer(n); v = Buffer(n)
    }

    var count: Int { value.count }
}

struct KernelError: Error, CustomStringConvertible {
    let description: String
}

@inline(__always)
func check(_ status: ck_status, _ what: @autoclosure () -> String) throws {
    if status != CK_OK {
        throw KernelError(description: "\(what()): \(String(cString: ck_status_string(status)))")
    }
}

/// Runs body(shard) for every shard, in parallel; rethrows the first error.
func parallel(_ shards: Int, _ body: @escaping @Sendable (Int) throws -> Void) throws {
    let errors = ErrorBox(shards)
    DispatchQueue.concurrentPerform(iterations: shards) { s in
        do { try body(s) } catch { errors.set(s, error) }
    }
    if let e = errors.first { throw e }
}

final class ErrorBox: @unchecked Sendable {
    private var errors: [(any Error)?]
    init(_ n: Int) { errors = Array(repeating: nil, count: n) }
    func set(_ i: Int, _ e: any Error) { errors[i] = e }   // distinct slots per shard
    var first: (any Error)? { errors.compactMap { $0 }.first }
}

/// conv3x3 (pad 1, no bias in training) -> batch norm -> ReLU [-> maxpool 2x2].
final class ConvBlock: @unchecked Sendable {
    let index: Int                    // 0, 1, 2
    let cin: Int, cout: Int, size: Int   // input and output are size x size
    let pooled: Bool
    let weight: Parameter, gamma: Parameter, beta: Parameter
    let runningMean: Buffer, runningVar: Buffer
    let z: Buffer, a: Buffer          // conv output, block output (after ReLU)
    let mean: Buffer, invstd: Buffer  // the statistics the last forward used
    let pool: Buffer?, argmax: UnsafeMutablePointer<Int32>?
    let da: Buffer, dy: Buffer        // d/d a, then d/d (BN output), then d/d z (in da)
    let dpool: Buffer?                // d/d pool output
    let shardGrad: [Buffer]           // per-shard weight gradients
    let shardCol: [Buffer]            // per-shard im2col / scratch
    static let eps: Float = 1e-5
    static let momentum: Float = 0.1

    init(index: Int, cin: Int, cout: Int, size: Int, pooled: Bool, maxBatch: Int, shards: Int, rng: inout SplitMix64) {
        self.index = index
        self.cin = cin; self.cout = cout; self.size = size; self.pooled = pooled
        let module = [0, 3, 6][index]
        weight = Parameter("features.\(module).weight", [cout, cin, 3, 3], decays: true)
        gamma = Parameter("features.\(module).bn.weight", [cout], decays: false)
        beta = Parameter("features.\(module).bn.bias", [cout], decays: false)
        // He (Kaiming normal, fan-in).
        let std = (2 / Float(cin * 9)).squareRoot()
        for i in 0..<weight.count { weight.value.p[i] = rng.normal() * std }
        for i in 0..<cout { gamma.value.p[i] = 1 }
        runningMean = Buffer(cout); runningVar = Buffer(cout)
        for i in 0..<cout { runningVar.p[i] = 1 }
        let n = maxBatch * cout * size * size
        z = Buffer(n); a = Buffer(n); da = Buffer(n); dy = Buffer(n)
        mean = Buffer(cout); invstd = Buffer(cout)
        if pooled {
            pool = Buffer(n / 4); dpool = Buffer(n / 4)
            argmax = .allocate(capacity: n / 4)
        } else {
            pool = nil; dpool = nil; argmax = nil
        }
        shardGrad = (0..<shards).map { _ in Buffer(cout * cin * 9) }
        let p = ConvBlock.geometry(cin, cout, size, n: 1)
        let col = max(cin * 9 * size * size, ck_conv2d_scratch_floats([p], CK_CONV_AUTO))
        shardCol = (0..<shards).map { _ in Buffer(col) }
    }

    deinit { argmax?.deallocate() }

    static func geometry(_ cin: Int, _ cout: Int, _ size: Int, n: Int) -> ck_conv2d {
        ck_conv2d(n: Int32(n), c_in: Int32(cin), h_in: Int32(size), w_in: Int32(size), c_out: Int32(cout), k_h: 3, k_w: 3,
                  stride_h: 1, stride_w: 1, dil_h: 1, dil_w: 1,
                  pad_top: 1, pad_left: 1, pad_bottom: 1, pad_right: 1, groups: 1)
    }

    var plane: Int { size * size }
    var output: Buffer { pool ?? a }

    func poolGeometry(n: Int) -> ck_pool2d {
        ck_pool2d(n: Int32(n), c: Int32(cout), h_in: Int32(size), w_in: Int32(size), k_h: 2, k_w: 2, stride_h: 2, stride_w: 2,
                  dil_h: 1, dil_w: 1, pad_top: 0, pad_left: 0, pad_bottom: 0, pad_right: 0, ceil_mode: 0, count_include_pad: 0)
    }

    /// Images [lo, hi) of shard s of n.
    static func range(_ s: Int, _ shards: Int, _ n: Int) -> Range<Int> { (s * n / shards)..<((s + 1) * n / shards) }

    func forward(_ x: Buffer, n: Int, training: Bool, shards: Int) throws {
        // Convolution, per shard of images.
        try parallel(shards) { s in
            let r = ConvBlock.range(s, shards, n)
            guard !r.isEmpty else { return }
            var p = ConvBlock.geometry(self.cin, self.cout, self.size, n: r.count)
            let col = self.shardCol[s]
            try check(ck_conv2d_forward(&p, CK_CONV_AUTO, x.p + r.lowerBound * self.cin * self.plane, self.weight.value.p, nil, nil,
                                        self.z.p + r.lowerBound * self.cout * self.plane, col.p, col.count), "conv \(self.index + 1)")
        }
        // Batch statistics (training) or running statistics (inference), per channel.
        let m = n * plane
        if training {
            try parallel(shards) { s in
                for c in ConvBlock.range(s, shards, self.cout) {
                    var sum = 0.0, sq = 0.0
                    for i in 0..<n {
                        let base = self.z.p + (i * self.cout + c) * self.plane
                        var s1: Float = 0, s2: Float = 0
                        for j in 0..<self.plane { let v = base[j]; s1 += v; s2 += v * v }
                        sum += Double(s1); sq += Double(s2)
                    }
                    let mu = sum / Double(m), variance = max(0, sq / Double(m) - mu * mu)
                    self.mean.p[c] = Float(mu)
                    self.invstd.p[c] = Float(1 / (variance + Double(ConvBlock.eps)).squareRoot())
                    let unbiased = m > 1 ? variance * Double(m) / Double(m - 1) : variance
                    self.runningMean.p[c] += ConvBlock.momentum * (Float(mu) - self.runningMean.p[c])
                    self.runningVar.p[c] += ConvBlock.momentum * (Float(unbiased) - self.runningVar.p[c])
                }
            }
        } else {
            for c in 0..<cout {
                mean.p[c] = runningMean.p[c]
                invstd.p[c] = 1 / (runningVar.p[c] + ConvBlock.eps).squareRoot()
            }
        }
        // Normalize, scale, shift, ReLU; then pool.
        try parallel(shards) { s in
            let r = ConvBlock.range(s, shards, n)
            guard !r.isEmpty else { return }
            for i in r {
                for c in 0..<self.cout {
                    let k = self.gamma.value.p[c] * self.invstd.p[c]
                    let b = self.beta.value.p[c] - self.mean.p[c] * k
                    let src = self.z.p + (i * self.cout + c) * self.plane, dst = self.a.p + (i * self.cout + c) * self.plane
                    for j in 0..<self.plane { dst[j] = max(0, src[j] * k + b) }
                }
            }
            if let pool = self.pool, let argmax = self.argmax {
                var q = self.poolGeometry(n: r.count)
                let offset = r.lowerBound * self.cout * self.plane
                try check(ck_maxpool2d_forward(&q, self.a.p + offset, pool.p + offset / 4, argmax + offset / 4), "pool \(self.index + 1)")
            }
        }
    }

    /// Given d loss / d output (dpool if pooled, else da), accumulates the
    /// parameter gradients and, when dx is given, writes d loss / d x there.
    func backward(_ x: Buffer, n: Int, dx: Buffer?, shards: Int) throws {
        // Through the pool, then the ReLU, per shard of images.
        try parallel(shards) { s in
            let r = ConvBlock.range(s, shards, n)
            guard !r.isEmpty else { return }
            let offset = r.lowerBound * self.cout * self.plane, count = r.count * self.cout * self.plane
            if let dpool = self.dpool, let argmax = self.argmax {
                (self.da.p + offset).update(repeating: 0, count: count)
                var q = self.poolGeometry(n: r.count)
                try check(ck_maxpool2d_backward(&q, argmax + offset / 4, dpool.p + offset / 4, self.da.p + offset), "pool \(self.index + 1) backward")
            }
            (self.dy.p + offset).update(repeating: 0, count: count)
            var relu = ck_activation(kind: CK_ACT_RELU, alpha: 0, beta: 0)
            try check(ck_act_backward(&relu, self.a.p + offset, self.da.p + offset, self.dy.p + offset, Int64(count)), "relu \(self.index + 1) backward")
        }
        // Batch norm (training mode), per channel: dz into da.
        let m = Float(n * plane)
        try parallel(shards) { s in
            for c in ConvBlock.range(s, shards, self.cout) {
                let mu = self.mean.p[c], inv = self.invstd.p[c]
                var sdy = 0.0, sdyx = 0.0
                for i in 0..<n {
                    let z = self.z.p + (i * self.cout + c) * self.plane, dy = self.dy.p + (i * self.cout + c) * self.plane
                    var s1: Float = 0, s2: Float = 0
                    for j in 0..<self.plane { s1 += dy[j]; s2 += dy[j] * (z[j] - mu) * inv }
                    sdy += Double(s1); sdyx += Double(s2)
                }
                self.gamma.grad.p[c] += Float(sdyx)
                self.beta.grad.p[c] += Float(sdy)
                let k = self.gamma.value.p[c] * inv / m, a = Float(sdy), b = Float(sdyx)
                for i in 0..<n {
                    let z = self.z.p + (i * self.cout + c) * self.plane, dy = self.dy.p + (i * self.cout + c) * self.plane
                    let dz = self.da.p + (i * self.cout + c) * self.plane
                    for j in 0..<self.plane { dz[j] = k * (m * dy[j] - a - (z[j] - mu) * inv * b) }
                }
            }
        }
        // The convolution: dW per shard (then summed in shard order), dx per shard.
        let rows = cin * 9
        try parallel(shards) { s in
            let g = self.shardGrad[s]
            g.zero()
            let r = ConvBlock.range(s, shards, n)
            guard !r.isEmpty else { return }
            let col = self.shardCol[s]
            var p = ConvBlock.geometry(self.cin, self.cout, self.size, n: 1)
            for i in r {
                try check(ck_im2col(&p, x.p + i * self.cin * self.plane, 0, col.p), "im2col \(self.index + 1)")
                // dW[cout, rows] += dz_i[cout, plane] . col[rows, plane]^T
                try check(ck_gemm(0, 1, Int32(self.cout), Int32(rows), Int32(self.plane), 1, self.da.p + i * self.cout * self.plane,
                                  Int32(self.plane), col.p, Int32(self.plane), 1, g.p, Int32(rows)), "conv \(self.index + 1) dW")
            }
            if let dx {
                var pn = ConvBlock.geometry(self.cin, self.cout, self.size, n: r.count)
                (dx.p + r.lowerBound * self.cin * self.plane).update(repeating: 0, count: r.count * self.cin * self.plane)
                try check(ck_conv2d_backward_input(&pn, self.weight.value.p, self.da.p + r.lowerBound * self.cout * self.plane,
                                                   dx.p + r.lowerBound * self.cin * self.plane, col.p, col.count), "conv \(self.index + 1) dx")
            }
        }
        for g in shardGrad {
            for i in 0..<weight.count { weight.grad.p[i] += g.p[i] }
        }
    }

    /// Weight and bias with the batch norm (running statistics) folded in.
    func folded() -> (weight: [Float], bias: [Float]) {
        var w = weight.value.array, b = [Float](repeating: 0, count: cout)
        let per = cin * 9
        for o in 0..<cout {
            let k = gamma.value.p[o] / (runningVar.p[o] + ConvBlock.eps).squareRoot()
            for j in 0..<per { w[o * per + j] *= k }
            b[o] = beta.value.p[o] - runningMean.p[o] * k
        }
        return (w, b)
    }
}

final class Network: @unchecked Sendable {
    static let inputSize = 64
    static let shards = 2
    let classes: Int
    let maxBatch: Int
    let blocks: [ConvBlock]
    let fcW: Parameter, fcB: Parameter
    let x0: Buffer, g: Buffer, logits: Buffer, probs: Buffer, dg: Buffer, dlogits: Buffer

    var parameters: [Parameter] { blocks.flatMap { [$0.weight, $0.gamma, $0.beta] } + [fcW, fcB] }

    init(classes: Int, maxBatch: Int, rng: inout SplitMix64) {
        self.classes = classes
        self.maxBatch = maxBatch
        var made: [ConvBlock] = []
        for (i, (cin, cout, size)) in [(3, 16, 64), (16, 32, 32), (32, 32, 16)].enumerated() {
            made.append(ConvBlock(index: i, cin: cin, cout: cout, size: size, pooled: i < 2, maxBatch: maxBatch,
                                  shards: Network.shards, rng: &rng))
        }
        blocks = made
        fcW = Parameter("fc.weight", [classes, 32], decays: true)
        fcB = Parameter("fc.bias", [classes], decays: false)
        let fcStd = (1 / Float(32)).squareRoot()
        for i in 0..<fcW.count { fcW.value.p[i] = rng.normal() * fcStd }
        let s = Network.inputSize
        x0 = Buffer(maxBatch * 3 * s * s)
        g = Buffer(maxBatch * 32); dg = Buffer(maxBatch * 32)
        logits = Buffer(maxBatch * classes); probs = Buffer(maxBatch * classes); dlogits = Buffer(maxBatch * classes)
    }

    /// Forward for the first n images of x0: logits and softmax probabilities.
    /// `training` uses (and updates) batch statistics; otherwise the running ones.
    func forward(_ n: Int, training: Bool = false) throws {
        precondition(n >= 1 && n <= maxBatch)
        var x = x0
        for b in blocks {
            try b.forward(x, n: n, training: training, shards: Network.shards)
            x = b.output
        }
        let last = blocks[2]
        try check(ck_global_avgpool_forward(last.a.p, g.p, Int32(n * 32), Int32(last.plane)), "global average pool")
        // logits = g . fcW^T + fcB
        for i in 0..<n { for c in 0..<classes { logits.p[i * classes + c] = fcB.value.p[c] } }
        try check(ck_gemm(0, 1, Int32(n), Int32(classes), 32, 1, g.p, 32, fcW.value.p, 32, 1, logits.p, Int32(classes)), "fc")
        try check(ck_softmax_forward(logits.p, probs.p, Int32(n), Int32(classes)), "softmax")
    }

    /// Mean cross-entropy of the last forward over the first labels.count images.
    func loss(_ labels: [Int]) -> Double {
        var total = 0.0
        for (i, y) in labels.enumerated() { total -= log(max(Double(probs.p[i * classes + y]), 1e-30)) }
        return total / Double(labels.count)
    }

    /// Gradients of the mean cross-entropy, after `forward(labels.count, training: true)`,
    /// into every parameter's `grad` (overwritten).
    func backward(_ labels: [Int]) throws {
        let n = labels.count
        for p in parameters { p.grad.zero() }
        for i in 0..<n {
            for c in 0..<classes {
                dlogits.p[i * classes + c] = (probs.p[i * classes + c] - (c == labels[i] ? 1 : 0)) / Float(n)
            }
        }
        // fc: dW = dlogits^T . g, db = sum dlogits, dg = dlogits . W
        try check(ck_gemm(1, 0, Int32(classes), 32, Int32(n), 1, dlogits.p, Int32(classes), g.p, 32, 0, fcW.grad.p, 32), "fc dW")
        for i in 0..<n { for c in 0..<classes { fcB.grad.p[c] += dlogits.p[i * classes + c] } }
        try check(ck_gemm(0, 0, Int32(n), 32, Int32(classes), 1, dlogits.p, Int32(classes), fcW.value.p, 32, 0, dg.p, 32), "fc dx")
        let last = blocks[2]
        last.da.zero()
        try check(ck_global_avgpool_backward(dg.p, last.da.p, Int32(n * 32), Int32(last.plane)), "global average pool backward")
        try last.backward(blocks[1].output, n: n, dx: blocks[1].dpool, shards: Network.shards)
        try blocks[1].backward(blocks[0].output, n: n, dx: blocks[0].dpool, shards: Network.shards)
        try blocks[0].backward(x0, n: n, dx: nil, shards: Network.shards)
    }
}

/// Adam with decoupled weight decay on the convolution and fc weights.
struct Adam {
    var lr: Float = 2e-3
    var beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8
    var weightDecay: Float = 1e-4
    var t = 0

    mutating func step(_ params: [Parameter], lr rate: Float) {
        t += 1
        let c1 = 1 - pow(beta1, Float(t)), c2 = 1 - pow(beta2, Float(t))
        for p in params {
            let decay = p.decays ? weightDecay : 0
            let w = p.value.p, g = p.grad.p, m = p.m.p, v = p.v.p
            for i in 0..<p.count {
                m[i] = beta1 * m[i] + (1 - beta1) * g[i]
                v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i]
                w[i] -= rate * ((m[i] / c1) / ((v[i] / c2).squareRoot() + eps) + decay * w[i])
            }
        }
    }
}
