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

    /// 4x4 output tiles per image.
    static func tiles(hOut: Int32, wOut: Int32) -> Int { ((Int(hOut) + 3) / 4) * ((Int(wOut) + 3) / 4) }

    /// Whether Winograd beats im2col + GEMM on this geometry, from
    /// bench/kernels.c's table (ResNet-18 and VGG-16 layers, one thread):
    /// 2.1-2.8x from 28x28 up with 64 channels or more, 1.2-1.3x at 14x14
    /// (16 tiles), but 0.6x at 7x7, where four tiles cannot pay for reading
    /// U (four times the weights) from memory, and 0.75x for VGG's
    /// 3-channel first layer, where the transforms outweigh the GEMMs.
    /// With U packed (`packs`), from 16 tiles: ResNet-18's 14x14 layers ran
    /// in 0.80-0.86 ms against 1.24-1.43 through the packed GEMM on im2col
    /// (2 threads); its 7x7 ones (4 tiles) in 1.71 against 1.34, so they
    /// stay. A batch counts as one image of all its outputs: winograd.c
    /// takes the tiles of all its images into the same GEMMs (7x7 at batch
    /// 8: 32 tiles).
    static func pays(_ p: ck_conv2d, hOut: Int32, wOut: Int32) -> Bool {
        p.c_in >= 16 && p.c_out >= 16 && Int(p.n) * tiles(hOut: hOut, wOut: wOut) >= (PackedWeights.enabled ? 16 : 9)
    }

    /// Whether the 36 GEMMs run from packed U (ck_winograd_forward_packed)
    /// rather than through OpenBLAS: where a block has few tiles, up to 64
    /// a block (32x32 outputs and below, and the batches of them winograd.c
    /// groups). OpenBLAS packs each point's U again on every call; the
    /// packed GEMM streams it once. For ResNet's 14x14 points (256 x 16 x
    /// 256, U from memory, one thread) 0.96 ms against 2.10, for 7x7 at
    /// batch 8 (512 x 32 x 512) 7.0 against 10.0; but 0.86 against 0.58
    /// for a 56x56 block (64 x 196 x 64), where OpenBLAS's kernel is the
    /// faster one.
    static func packs(_ p: ck_conv2d, hOut: Int32, wOut: Int32) -> Bool {
        PackedWeights.enabled && tiles(hOut: hOut, wOut: wOut) <= 64
    }

    /// U packed for ck_winograd_forward_packed, from `cache` when another
    /// plan of the same model made it already (U itself is not made).
    static func packedWeights(_ p: ck_conv2d, id: Int, _ w: [Float], cache: WeightCache?) -> [Float]? {
        if let packed = cache?.lookup(.winogradPacked, id: id, weights: w) { return packed }
        var p = p
        var status = CK_OK
        let packed = [Float](unsafeUninitializedCapacity: ck_winograd_packed_floats(&p)) { buffer, count in
            status = ck_winograd_transform_weights_packed(&p, w, buffer.baseAddress)
            count = status == CK_OK ? buffer.count : 0
        }
        guard status == CK_OK else { return nil }
        cache?.store(.winogradPacked, id: id, weights: w, result: packed)
        return packed
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
