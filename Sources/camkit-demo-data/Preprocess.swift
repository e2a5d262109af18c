import CCAMKernels

// From a rendered scene to the network's input, exactly as camkit gets there
// from the sample PNG (CAMKit's Preprocessing, torchvision on a PIL image):
// 8-bit RGB, Pillow's antialiased BILINEAR resize (ck_resize_u8_antialias,
// the kernel camkit itself uses), then x = (u8 / 255 - mean) / std with
// ImageNet's mean and std. Training on these inputs means the model sees at
// train time what `camkit localize model.onnx sample.png` feeds it.

enum Preprocess {
    static let mean: [Float] = [0.485, 0.456, 0.406]
    static let std: [Float] = [0.229, 0.224, 0.225]

    /// Interleaved RGB8 [size, size, 3] -> normalized planar float [3, size, size].
    static func normalize(_ rgb: UnsafePointer<UInt8>, size: Int, into x: UnsafeMutablePointer<Float>) {
        let plane = size * size
        for c in 0..<3 {
            let m = mean[c], s = std[c]
            for i in 0..<plane { x[c * plane + i] = (Float(rgb[i * 3 + c]) / 255 - m) / s }
        }
    }

    /// The network input (size x size) of a finished canvas.
    static func input(of canvas: Canvas, size: Int, into x: UnsafeMutablePointer<Float>) throws {
        let small = UnsafeMutablePointer<UInt8>.allocate(capacity: size * size * 3)
        defer { small.deallocate() }
        try check(ck_resize_u8_antialias(canvas.rgb, Int32(canvas.size), Int32(canvas.size), 3, small, Int32(size), Int32(size)),
                  "resize \(canvas.size) to \(size)")
        normalize(small, size: size, into: x)
    }
}
