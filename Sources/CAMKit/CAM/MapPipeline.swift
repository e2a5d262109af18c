import CCAMKernels

/// From a low-resolution map to the final map, exactly as pytorch-grad-cam
/// 1.5.7 does it (../shared/fixtures/README.md section 8):
///   methods:   final = N(max(resize(N(lowres)), 0))
///   plain CAM: final = resize(N(raw))
/// with N(m) = (m - min) / (1e-7 + max(m - min)) in float32 and a bilinear
/// resize with half-pixel centers (cv2 INTER_LINEAR).
enum MapPipeline {
    static func normalize(_ m: [Float]) -> [Float] {
        guard let lo = m.min() else { return m }
        let shifted = m.map { $0 - lo }
        let hi = shifted.max() ?? 0
        let denominator = Float(1e-7) + hi
        return shifted.map { $0 / denominator }
    }

    static func resize(_ m: [Float], from h: Int, _ w: Int, to outH: Int, _ outW: Int) throws(CAMError) -> [Float] {
        var out = [Float](repeating: 0, count: outH * outW)
        try kernel("resize map \(h)x\(w) to \(outH)x\(outW)") {
            out.withUnsafeMutableBufferPointer {
                ck_resize_bilinear(m, Int32(h), Int32(w), $0.baseAddress, Int32(outH), Int32(outW), CK_RESIZE_HALF_PIXEL)
            }
        }
        return out
    }

    /// The final map at outH x outW from the lowres map (after the ReLU for
    /// the methods, raw for plain CAM).
    static func final(_ lowres: [Float], method: CAMMethod, h: Int, w: Int, outH: Int, outW: Int) throws(CAMError) -> [Float] {
        let resized = try resize(normalize(lowres), from: h, w, to: outH, outW)
        return method == .cam ? resized : normalize(resized.map { max($0, 0) })
    }
}
