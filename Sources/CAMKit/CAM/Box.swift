/// A box in inclusive pixel coordinates: a box one pixel wide has
/// xMin == xMax. IoU counts pixels.
public struct Box: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var xMin: Int, yMin: Int, xMax: Int, yMax: Int

    public init(xMin: Int, yMin: Int, xMax: Int, yMax: Int) {
        self.xMin = xMin; self.yMin = yMin; self.xMax = xMax; self.yMax = yMax
    }

    public var width: Int { xMax - xMin + 1 }
    public var height: Int { yMax - yMin + 1 }
    public var area: Int { width * height }
    public var description: String { "[\(xMin), \(yMin), \(xMax), \(yMax)]" }

    /// Intersection over union, counting pixels inclusively.
    public func iou(_ other: Box) -> Double {
        let w = min(xMax, other.xMax) - max(xMin, other.xMin) + 1
        let h = min(yMax, other.yMax) - max(yMin, other.yMin) + 1
        guard w > 0, h > 0 else { return 0 }
        let inter = w * h
        return Double(inter) / Double(area + other.area - inter)
    }

    /// The CAM paper's box (Zhou et al. 2016): keep the pixels at or above
    /// `threshold` x max(map) (compared in double precision), take the
    /// largest 8-connected component (ties: the one met first in a row-major
    /// scan) and return its bounding box and pixel count.
    ///
    /// A map whose maximum is 0 (all zero, or nothing positive) keeps every
    /// pixel at or above 0, as the protocol reads: the box is then the whole
    /// map. A map holding NaN has no box (nil).
    public static func largestComponent(of map: [Float], width: Int, height: Int, threshold: Double) -> (box: Box, pixels: Int)? {
        guard width > 0, height > 0, map.count == width * height, !map.contains(where: { $0.isNaN }) else { return nil }
        return largestComponent(of: map, width: width, height: height, thresholdValue: threshold * Double(map.max()!))
    }

    /// The same with an absolute threshold: pixels with value >= `limit`.
    static func largestComponent(of map: [Float], width: Int, height: Int, thresholdValue limit: Double) -> (box: Box, pixels: Int)? {
        guard width > 0, height > 0, map.count == width * height, !map.contains(where: { $0.isNaN }) else { return nil }
        var label = [Int32](repeating: 0, count: map.count)   // 0: unvisited or below the threshold
        var stack: [Int] = []
        var best: (box: Box, pixels: Int)?
        var next: Int32 = 1
        for start in 0..<map.count where label[start] == 0 && Double(map[start]) >= limit {
            label[start] = next
            stack.append(start)
            var box = Box(xMin: start % width, yMin: start / width, xMax: start % width, yMax: start / width)
            var pixels = 0
            while let p = stack.popLast() {
                pixels += 1
                let x = p % width, y = p / width
                box.xMin = min(box.xMin, x); box.xMax = max(box.xMax, x)
                box.yMin = min(box.yMin, y); box.yMax = max(box.yMax, y)
                for dy in -1...1 {
                    let ny = y + dy
                    guard ny >= 0, ny < height else { continue }
                    for dx in -1...1 {
                        let nx = x + dx
                        guard nx >= 0, nx < width else { continue }
                        let q = ny * width + nx
                        if label[q] == 0 && Double(map[q]) >= limit {
                            label[q] = next
                            stack.append(q)
                        }
                    }
                }
            }
            next += 1
            // Strictly larger: on a tie the earlier component (lower label) stays.
            if pixels > (best?.pixels ?? 0) { best = (box, pixels) }
        }
        return best
    }
}
