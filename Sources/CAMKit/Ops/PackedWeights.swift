#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCAMKernels

/// When a Conv runs from weights packed once (pgemm.c), and those weights.
///
/// A plain GEMM over the same products as im2col + OpenBLAS, in another
/// order: results differ from OpenBLAS's by rounding only (about 1e-7 of
/// the outputs' magnitude), so unlike Winograd it also serves exposed
/// outputs, whose ReLU masks a backward pass follows.
enum PackedWeights {
    /// CAMKIT_PACKED=0 turns the path off: the before/after switch for
    /// benchmarks. Off too where the CPU lacks the vector kernel (AVX-512F).
    static let enabled: Bool = {
        if let s = getenv("CAMKIT_PACKED"), String(cString: s) == "0" { return false }
        return ck_packed_available() != 0
    }()

    /// Whether the packed path beats im2col + OpenBLAS here, as measured
    /// on ResNet-50's and MobileNetV2's layers (2 threads; bench/kernels.c
    /// times ResNet's 3x3 ones): 1.1-1.45x with 128 or more multiply-adds
    /// per output and up to 28x28 (ResNet's 3x3 layers and its 1x1 layers
    /// from 28x28 down, where OpenBLAS's repacking of the weights costs the
    /// most), even on ResNet's 7x7 stem, but 0.54-0.87x with 16 to 144
    /// multiply-adds per output at 56x56 and above, where the epilogue's
    /// transposed writes dominate (short 1x1s go to gemm_wide.c instead).
    static func pays(_ p: ck_conv2d, hOut: Int32, wOut: Int32) -> Bool {
        Int(p.c_in) * Int(p.k_h) * Int(p.k_w) >= 128 && Int(hOut) * Int(wOut) <= 1024
    }

    /// The weights [c_out, c_in, k_h, k_w] packed for ck_gemm_packed, from
    /// `cache` when another plan of the same model made them already.
    static func weights(_ p: ck_conv2d, id: Int, _ w: [Float], cache: WeightCache?) -> [Float]? {
        if let packed = cache?.lookup(.packed, id: id, weights: w) { return packed }
        let m = p.c_out, k = p.c_in * p.k_h * p.k_w
        var status = CK_OK
        let packed = [Float](unsafeUninitializedCapacity: ck_packed_weight_floats(m, k)) { buffer, count in
            status = ck_pack_weights(m, k, w, buffer.baseAddress)
            count = status == CK_OK ? buffer.count : 0
        }
        guard status == CK_OK else { return nil }
        cache?.store(.packed, id: id, weights: w, result: packed)
        return packed
    }
}
