import CCAMKernels

/// From a low-resolution map to the final map, exactly as pytorch-grad-cam
/// 1.5.7 does it (../shared/fixtures/README.md section 8):
///   methods:   final = N(max(resize(N(lowres)), 0))
///   plain CAM: final = resize(N(raw))
/// with N(m) = (m - min) / (1e-7 + max(m - min)) in float32 and a bilinear
/// resize with half-pixel centers (cv2 INTER_LINEAR).
enum MapPipeline {
    static func normalize(_ m: [Float]) -> [Float] {
        var m = m
        normalizeInPlace(&m, clampingAtZero: false)
        return m
    }

    /// N(m), or N(max(m, 0)), in two passes over m and no copies (the final
    /// map is the input's size: 50,000 floats at 224x224). The same float
    /// arithmetic as computing m - min first: subtracting one number is
    /// monotonic under rounding, so max(m - lo) is (max m) - lo.
    static func normalizeInPlace(_ m: inout [Float], clampingAtZero: Bool) {
        guard !m.isEmpty else { return }
        var lo = Float.infinity, top = -Float.infinity
        m.withUnsafeMutableBufferPointer { b in
            for i in b.indices {
                var v = b[i]
                if clampingAtZero { v = max(v, 0); b[i] = v }
                lo = min(lo, v)
                top = max(top, v)
            }
            let denominator = Float(1e-7) + (top - lo)
            for i in b.indices { b[i] = (b[i] - lo) / denominator }
        }
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
        var resized = try resize(normalize(lowres), from: h, w, to: outH, outW)
        if method != .cam { normalizeInPlace(&resized, clampingAtZero: true) }
        return resized
    }
}
