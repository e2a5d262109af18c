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
    ///
    /// By runs: each row's runs of kept pixels join, in a union-find, the
    /// runs of the row above that they touch (8-connected: overlapping
    /// once widened by a pixel). Each component keeps its size, bounding box
    /// and first pixel in row-major order, which breaks ties. A flood fill
    /// pixel by pixel took 0.7 ms of a 224 x 224 map, a tenth of
    /// MobileNetV2's Grad-CAM.
    static func largestComponent(of map: [Float], width: Int, height: Int, thresholdValue limit: Double) -> (box: Box, pixels: Int)? {
        guard width > 0, height > 0, map.count == width * height, !map.contains(where: { $0.isNaN }) else { return nil }
        var parent: [Int] = [], size: [Int] = [], first: [Int] = [], boxes: [Box] = []
        func find(_ r: Int) -> Int {
            var r = r
            while parent[r] != r { parent[r] = parent[parent[r]]; r = parent[r] }
            return r
        }
        func join(_ a: Int, _ b: Int) {
            var ra = find(a), rb = find(b)
            guard ra != rb else { return }
            if first[rb] < first[ra] { swap(&ra, &rb) }
            parent[rb] = ra
            size[ra] += size[rb]
            boxes[ra] = Box(xMin: min(boxes[ra].xMin, boxes[rb].xMin), yMin: min(boxes[ra].yMin, boxes[rb].yMin),
                            xMax: max(boxes[ra].xMax, boxes[rb].xMax), yMax: max(boxes[ra].yMax, boxes[rb].yMax))
        }
        var above: [(start: Int, end: Int, id: Int)] = [], row: [(start: Int, end: Int, id: Int)] = []
        map.withUnsafeBufferPointer { m in
            for y in 0..<height {
                row.removeAll(keepingCapacity: true)
                let base = y * width
                var x = 0
                while x < width {
                    guard Double(m[base + x]) >= limit else { x += 1; continue }
                    let start = x
                    while x < width, Double(m[base + x]) >= limit { x += 1 }
                    let id = parent.count
                    parent.append(id); size.append(x - start); first.append(base + start)
                    boxes.append(Box(xMin: start, yMin: y, xMax: x - 1, yMax: y))
                    row.append((start, x, id))
                }
                // Runs [a0, a1) above and [b0, b1) here touch when a0 <= b1 and b0 <= a1.
                var i = 0
                for r in row {
                    while i < above.count, above[i].end < r.start { i += 1 }
                    var k = i
                    while k < above.count, above[k].start <= r.end { join(above[k].id, r.id); k += 1 }
                }
                swap(&above, &row)
            }
        }
        var best: Int?
        for id in parent.indices where parent[id] == id {
            guard let b = best else { best = id; continue }
            if size[id] > size[b] || (size[id] == size[b] && first[id] < first[b]) { best = id }
        }
        return best.map { (boxes[$0], size[$0]) }
    }
}
