/// Pictures of a result: the heatmap blended over the image as
/// pytorch-grad-cam's `show_cam_on_image` does it, and the boxes drawn on top.
public enum Overlay {
    /// The jet colormap as RGB bytes: channel k of level v is
    /// clamp(1.5 - |4 v / 255 - c_k|, 0, 1) x 255 with c = 3, 2, 1 for red,
    /// green, blue, rounded half down. It equals OpenCV's COLORMAP_JET (what
    /// pytorch-grad-cam uses) within one level at every entry.
    public static let jet: [(UInt8, UInt8, UInt8)] = (0..<256).map { v in
        func channel(_ center: Double) -> UInt8 {
            let x = max(0, min(1, 1.5 - abs(4 * Double(v) / 255 - center))) * 255
            return UInt8((x - 0.5).rounded(.up))
        }
        return (channel(3), channel(2), channel(1))
    }

    /// Box outline colors by rank: distinct, saturated, readable on jet.
    public static let boxColors: [(UInt8, UInt8, UInt8)] = [
        (255, 255, 255), (255, 0, 255), (0, 255, 0), (255, 128, 0), (0, 0, 0),
        (255, 255, 0), (0, 255, 255), (128, 0, 255),
    ]

    /// heat = jet[uint8(255 * map)] / 255; out = 0.5 * heat + 0.5 * image / 255;
    /// out = uint8(255 * out / max(out)), all in float32 as the peer does.
    /// `map` is at the image's size, values in [0, 1].
    public static func blend(_ image: Image, map: [Float]) throws(CAMError) -> Image {
        guard map.count == image.width * image.height else {
            throw CAMError(.argument, "overlay: the map has \(map.count) values for a \(image.width)x\(image.height) image")
        }
        var mixed = [Float](repeating: 0, count: image.pixels.count)
        var top: Float = 0
        for i in 0..<map.count {
            let level = Int(UInt8(clamping: Int(max(0, min(255, 255 * map[i])))))   // np.uint8 truncates
            let (r, g, b) = jet[level]
            for (c, heat) in [r, g, b].enumerated() {
                let v = 0.5 * (Float(heat) / 255) + 0.5 * (Float(image.pixels[i * 3 + c]) / 255)
                mixed[i * 3 + c] = v
                top = max(top, v)
            }
        }
        let scale: Float = top > 0 ? 1 / top : 0
        return try Image(width: image.width, height: image.height, pixels: mixed.map { UInt8(255 * ($0 * scale)) })
    }

    /// Draws each box's outline, `thickness` pixels inside its edge, in the
    /// color of its rank (boxes are drawn last rank first, so rank 1 is on top).
    public static func drawBoxes(_ boxes: [Box], on image: inout Image, thickness: Int = 2) {
        for (rank, box) in boxes.enumerated().reversed() {
            let color = boxColors[rank % boxColors.count]
            let x0 = max(0, box.xMin), y0 = max(0, box.yMin), x1 = min(image.width - 1, box.xMax), y1 = min(image.height - 1, box.yMax)
            guard x0 <= x1, y0 <= y1 else { continue }
            for y in y0...y1 {
                for x in x0...x1 where x - x0 < thickness || x1 - x < thickness || y - y0 < thickness || y1 - y < thickness {
                    let p = (y * image.width + x) * 3
                    image.pixels[p] = color.0; image.pixels[p + 1] = color.1; image.pixels[p + 2] = color.2
                }
            }
        }
    }
}

extension CAMResult {
    /// The rank-1 map blended over `image`, with every prediction's box drawn.
    /// The result's maps must be at the image's size (localize on an Image does that).
    public func overlay(on image: Image) throws(CAMError) -> Image {
        guard mapWidth == image.width, mapHeight == image.height else {
            throw CAMError(.argument, "overlay: maps are \(mapWidth)x\(mapHeight), the image \(image.width)x\(image.height)")
        }
        guard let first = predictions.first else { return image }
        var picture = try Overlay.blend(image, map: first.map)
        Overlay.drawBoxes(predictions.compactMap(\.box), on: &picture)
        return picture
    }
}
