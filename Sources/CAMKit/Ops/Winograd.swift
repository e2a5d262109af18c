#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCAMKernels

/// When a Conv runs as Winograd F(4x4, 3x3) or F(2x2, 3x3) (winograd.c),
/// and the transformed weights it runs from.
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

    /// Output tiles of m x m per image.
    static func tiles(_ m: Int, hOut: Int32, wOut: Int32) -> Int { ((Int(hOut) + m - 1) / m) * ((Int(wOut) + m - 1) / m) }

    /// The tile size m Winograd runs with here, or nil where im2col + GEMM
    /// (or the packed GEMM) is faster. A batch counts as one image of all
    /// its outputs: winograd.c takes the tiles of all its images into the
    /// same GEMMs.
    ///
    /// Through OpenBLAS (no AVX-512F, so no packed GEMM), F(4x4) from 9
    /// tiles, after bench/kernels.c's table (ResNet-18 and VGG-16 layers,
    /// one thread): 2.1-2.8x from 28x28 up with 64 channels or more,
    /// 1.2-1.3x at 14x14 (16 tiles), but 0.6x at 7x7, where four tiles
    /// cannot pay for reading U (four times the weights) from memory, and
    /// 0.75x for VGG's 3-channel first layer, where the transforms outweigh
    /// the GEMMs.
    ///
    /// With U packed (`packs`): F(4x4) from 16 tiles (ResNet-18's 14x14
    /// layers 0.80-0.86 ms against 1.24-1.43 through the packed GEMM on
    /// im2col, 2 threads), and below that F(2x2) from 16 of its tiles: a 7x7
    /// image, where F(4x4) had run in 1.71 ms against 1.34, as it reads 4x
    /// the weights, F(2x2) 16/9.
    static func tile(_ p: ck_conv2d, hOut: Int32, wOut: Int32) -> Int32? {
        guard p.c_in >= 16, p.c_out >= 16 else { return nil }
        let n = Int(p.n)
        guard PackedWeights.enabled else { return n * tiles(4, hOut: hOut, wOut: wOut) >= 9 ? 4 : nil }
        if n * tiles(4, hOut: hOut, wOut: wOut) >= 16 { return 4 }
        return n * tiles(2, hOut: hOut, wOut: wOut) >= 16 ? 2 : nil
    }

    /// Whether the GEMMs run from packed U (ck_winograd_forward_packed)
    /// rather than through OpenBLAS: where a block has few tiles, up to 64
    /// 4x4 ones a block (32x32 outputs and below, and the batches of them
    /// winograd.c groups). OpenBLAS packs each point's U again on every
    /// call; the packed GEMM streams it once. For ResNet's 14x14 points
    /// (256 x 16 x 256, U from memory, one thread) 0.96 ms against 2.10, for
    /// 7x7 at batch 8 (512 x 32 x 512) 7.0 against 10.0; but 0.86 against
    /// 0.58 for a 56x56 block (64 x 196 x 64), where OpenBLAS's kernel is
    /// the faster one.
    static func packs(_ p: ck_conv2d, hOut: Int32, wOut: Int32) -> Bool {
        PackedWeights.enabled && tiles(4, hOut: hOut, wOut: wOut) <= 64
    }

    /// U for the weights `w` of value `id`, packed for
    /// ck_winograd_forward_packed or not (ck_winograd_transform_weights),
    /// from `cache` when another plan of the same model made it already.
    static func weights(_ p: ck_conv2d, tile m: Int32, packed: Bool, id: Int, _ w: [Float], cache: WeightCache?) -> [Float]? {
        let transform: WeightCache.Transform = packed ? .winogradPacked(tile: m) : .winograd(tile: m)
        if let u = cache?.lookup(transform, id: id, weights: w) { return u }
        var p = p
        // Not zero-filled first: the transform writes every element, and
        // U is 56 MB for ResNet-50 (235 MB for VGG-16).
        var status = CK_OK
        let floats = packed ? ck_winograd_packed_floats(&p, m) : ck_winograd_weight_floats(&p, m)
        let u = [Float](unsafeUninitializedCapacity: floats) { buffer, count in
            status = packed ? ck_winograd_transform_weights_packed(&p, m, w, buffer.baseAddress)
                            : ck_winograd_transform_weights(&p, m, w, buffer.baseAddress)
            count = status == CK_OK ? buffer.count : 0
        }
        guard status == CK_OK else { return nil }
        cache?.store(transform, id: id, weights: w, result: u)
        return u
    }
}
