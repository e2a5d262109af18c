import CCAMKernels
import Testing
@testable import CAMKit

/// The Swift side of the kernels: the funnel turns status codes into
/// CAMError, and a convolution called from Swift equals a plain reference.
@Suite struct KernelBridgeTests {
    @Test func funnelNamesTheOperationAndTheReason() {
        #expect(throws: CAMError(.memory, "conv \"c1\": size out of range")) {
            try kernel("conv \"c1\"") { CK_ERR_SIZE }
        }
        #expect(throws: CAMError(.internal, "gemm: required pointer is NULL")) {
            try kernel("gemm") { CK_ERR_NULL }
        }
        #expect(throws: Never.self) { try kernel("ok") { CK_OK } }
    }

    @Test func tensorRejectsMismatchedShapes() throws {
        #expect(throws: CAMError.self) { try Tensor(shape: [2, 3], scalars: [1, 2]) }
        #expect(throws: CAMError.self) { try Tensor(shape: [-1, 3]) }
        #expect(throws: CAMError.self) { try Tensor(shape: [1 << 20, 1 << 20]) }
        let t = try Tensor(shape: [2, 3], repeating: 1.5)
        #expect(t.count == 6 && t.scalars.allSatisfy { $0 == 1.5 })
    }

    /// A grouped, strided, padded convolution through the C kernels against a
    /// direct loop written here from the definition.
    @Test func convolutionFromSwiftMatchesDirectLoop() throws {
        var p = ck_conv2d(n: 2, c_in: 4, h_in: 9, w_in: 7, c_out: 6, k_h: 3, k_w: 2,
                          stride_h: 2, stride_w: 1, dil_h: 1, dil_w: 2,
                          pad_top: 1, pad_left: 0, pad_bottom: 2, pad_right: 1, groups: 2)
        var hOut: Int32 = 0, wOut: Int32 = 0
        try kernel("output size") { ck_conv2d_output_size(&p, &hOut, &wOut) }
        // (9 + 3 - 3) / 2 + 1 = 5 rows; (7 + 1 - 3) / 1 + 1 = 6 columns.
        #expect(hOut == 5 && wOut == 6)

        var rng = SplitMix(seed: 7)
        let x = (0..<(2 * 4 * 9 * 7)).map { _ in rng.nextFloat() }
        let w = (0..<(6 * 2 * 3 * 2)).map { _ in rng.nextFloat() }
        let bias = (0..<6).map { _ in rng.nextFloat() }
        var y = [Float](repeating: .nan, count: 2 * 6 * 5 * 6)
        var scratch = [Float](repeating: 0, count: ck_conv2d_scratch_floats(&p, CK_CONV_AUTO))
        var relu = ck_activation(kind: CK_ACT_RELU, alpha: 0, beta: 0)
        try kernel("conv") {
            ck_conv2d_forward(&p, CK_CONV_AUTO, x, w, bias, &relu, &y, &scratch, scratch.count)
        }

        var worst: Float = 0
        for n in 0..<2 { for co in 0..<6 { for oh in 0..<5 { for ow in 0..<6 {
            let g = co / 3
            var acc = Double(bias[co])
            for ci in 0..<2 { for kh in 0..<3 { for kw in 0..<2 {
                let ih = oh * 2 - 1 + kh, iw = ow - 0 + kw * 2
                guard ih >= 0, ih < 9, iw >= 0, iw < 7 else { continue }
                acc += Double(x[((n * 4 + g * 2 + ci) * 9 + ih) * 7 + iw])
                     * Double(w[((co * 2 + ci) * 3 + kh) * 2 + kw])
            }}}
            let expected = Float(max(acc, 0))
            worst = max(worst, abs(y[((n * 6 + co) * 5 + oh) * 6 + ow] - expected))
        }}}}
        #expect(worst < 1e-5)
    }
}

/// A small deterministic generator, so a failing case reproduces.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}
