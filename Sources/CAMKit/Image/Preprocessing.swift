import CCAMKernels

/// From an image to the network's input tensor, as torchvision does it for
/// a PIL image: resize with Pillow's antialiased bilinear filter (uint8),
/// then x = (u8 / 255 - mean) / std per channel, in float32.
public struct Preprocessing: Sendable, Equatable {
    public enum Resize: String, Sendable, CaseIterable {
        /// Both sides to the model's input size; the aspect ratio is not kept (the default).
        case stretch
        /// The shorter side to the input size keeping the aspect ratio, then the
        /// center cut to the input size (torchvision Resize + CenterCrop).
        case centerCrop = "crop"
    }

    public var mean: [Float]
    public var std: [Float]
    public var resize: Resize

    public static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imageNetStd: [Float] = [0.229, 0.224, 0.225]

    public init(mean: [Float] = Preprocessing.imageNetMean, std: [Float] = Preprocessing.imageNetStd, resize: Resize = .stretch) {
        self.mean = mean
        self.std = std
        self.resize = resize
    }

    /// The region of the original image that the network sees, in its pixels.
    public struct Region: Sendable, Equatable { public var x: Int, y: Int, width: Int, height: Int }

    /// The input tensor [1, 3, height, width] and the region it covers.
    public func tensor(from image: Image, height: Int, width: Int) throws(CAMError) -> (tensor: Tensor, region: Region) {
        guard mean.count == 3, std.count == 3, std.allSatisfy({ $0 != 0 && $0.isFinite }), mean.allSatisfy(\.isFinite) else {
            throw CAMError(.argument, "mean and std need three finite values each, std non-zero (got \(mean), \(std))")
        }
        var region = Region(x: 0, y: 0, width: image.width, height: image.height)
        var resized: [UInt8]
        switch resize {
        case .stretch:
            resized = try Preprocessing.resample(image.pixels, image.width, image.height, to: width, height)
        case .centerCrop:
            // Scale so the image covers width x height, then cut the middle.
            let scale = max(Double(width) / Double(image.width), Double(height) / Double(image.height))
            let w = max(width, Int((Double(image.width) * scale).rounded())), h = max(height, Int((Double(image.height) * scale).rounded()))
            let big = try Preprocessing.resample(image.pixels, image.width, image.height, to: w, h)
            let left = (w - width) / 2, top = (h - height) / 2
            resized = [UInt8](repeating: 0, count: width * height * 3)
            for row in 0..<height {
                let src = ((top + row) * w + left) * 3
                resized.replaceSubrange((row * width * 3)..<((row + 1) * width * 3), with: big[src..<(src + width * 3)])
            }
            region = Region(x: Int((Double(left) / scale).rounded()), y: Int((Double(top) / scale).rounded()),
                            width: min(image.width, Int((Double(width) / scale).rounded())),
                            height: min(image.height, Int((Double(height) / scale).rounded())))
        }
        let plane = width * height
        var x = [Float](repeating: 0, count: 3 * plane)
        for c in 0..<3 {
            let m = mean[c], s = std[c]
            for i in 0..<plane { x[c * plane + i] = (Float(resized[i * 3 + c]) / 255 - m) / s }
        }
        return (Tensor(uncheckedShape: [1, 3, height, width], scalars: x), region)
    }

    /// Pillow's BILINEAR resize of RGB8 pixels (antialiased when shrinking).
    static func resample(_ pixels: [UInt8], _ w: Int, _ h: Int, to outW: Int, _ outH: Int) throws(CAMError) -> [UInt8] {
        if w == outW && h == outH { return pixels }
        var out = [UInt8](repeating: 0, count: outW * outH * 3)
        try kernel("resize \(w)x\(h) to \(outW)x\(outH)") {
            out.withUnsafeMutableBufferPointer {
                ck_resize_u8_antialias(pixels, Int32(w), Int32(h), 3, $0.baseAddress, Int32(outW), Int32(outH))
            }
        }
        return out
    }
}
