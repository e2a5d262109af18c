#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCAMKernels

/// When a Conv runs as Winograd F(4x4, 3x3) (winograd.c), and the
/// transformed weights it runs from.
///
/// Winograd's results differ from im2col's by about 1e-6 of the outputs'
/// magnitude (im2col's by about 1e-7), well inside the fixtures' 1e-4.
/// But a backward pass decides at each ReLU whether the gradient passes,
/// and for backprop saliency, whose maps are sparse, those flips moved 10
/// of 600 boxes of the Digits-WSOL reference (EvalTests allow 6). So a Conv
/// whose output a plan exposes (the tail behind a CAM target, the whole
/// network for saliency, dumped tensors) keeps im2col: plain forwards and
/// the layers before a CAM target are where the time goes anyway.
enum Winograd {
    /// CAMKIT_WINOGRAD=0 turns the path off: the before/after switch for
    /// benchmarks, not an option anyone needs otherwise.
    static let enabled: Bool = {
        guard let s = getenv("CAMKIT_WINOGRAD") else { return true }
        return String(cString: s) != "0"
    }()

    /// Whether Winograd beats im2col + GEMM on this geometry, from
    /// bench/kernels.c's table (ResNet-18 and VGG-16 layers, one thread):
    /// 2.1-2.8x from 28x28 up with 64 channels or more, 1.2-1.3x at 14x14
    /// (16 tiles), but 0.6x at 7x7, where four tiles cannot pay for reading
    /// U (four times the weights) from memory, and 0.75x for VGG's
    /// 3-channel first layer, where the transforms outweigh the GEMMs.
    /// Where the packed GEMM runs (PackedWeights), it takes over from 14x14
    /// down: ResNet's 256-channel 14x14 layer ran in 1.1-1.2 ms packed
    /// against 1.3-1.4 as Winograd (2 threads; VGG-16's 512-channel one
    /// about even), from a quarter of the memory (U is 56 MB for ResNet-50's
    /// 14x14 stage, and every page of it is faulted in while the model loads).
    /// A batch counts as one image of all its outputs: winograd.c takes the
    /// tiles of all its images into the same GEMMs.
    static func pays(_ p: ck_conv2d, hOut: Int32, wOut: Int32) -> Bool {
        let tiles = Int(p.n) * ((Int(hOut) + 3) / 4) * ((Int(wOut) + 3) / 4)
        return p.c_in >= 16 && p.c_out >= 16 && tiles >= (PackedWeights.enabled ? 25 : 9)
    }

    /// U for the weights `w` of value `id` (ck_winograd_transform_weights),
    /// from `cache` when another plan of the same model made it already.
    static func weights(_ p: ck_conv2d, id: Int, _ w: [Float], cache: WeightCache?) -> [Float]? {
        if let u = cache?.lookup(.winograd, id: id, weights: w) { return u }
        var p = p
        // Not zero-filled first: the transform writes every element, and
        // U is 56 MB for ResNet-50 (235 MB for VGG-16).
        var status = CK_OK
        let u = [Float](unsafeUninitializedCapacity: ck_winograd_weight_floats(&p)) { buffer, count in
            status = ck_winograd_transform_weights(&p, w, buffer.baseAddress)
            count = status == CK_OK ? buffer.count : 0
        }
        guard status == CK_OK else { return nil }
        cache?.store(.winograd, id: id, weights: w, result: u)
        return u
    }
}
