import Testing
@testable import CAMKit

/// Box.largestComponent (runs joined in a union-find) against a flood fill
/// written here pixel by pixel from the definition: 8-connected pixels at
/// or above the limit, the largest component, ties to the one a row-major
/// scan meets first.
@Suite struct BoxTests {
    static func floodFill(_ map: [Float], width: Int, height: Int, limit: Double) -> (box: Box, pixels: Int)? {
        var seen = [Bool](repeating: false, count: map.count)
        var best: (box: Box, pixels: Int)?
        for start in map.indices where !seen[start] && Double(map[start]) >= limit {
            seen[start] = true
            var stack = [start], pixels = 0
            var box = Box(xMin: start % width, yMin: start / width, xMax: start % width, yMax: start / width)
            while let p = stack.popLast() {
                pixels += 1
                let x = p % width, y = p / width
                box = Box(xMin: min(box.xMin, x), yMin: min(box.yMin, y), xMax: max(box.xMax, x), yMax: max(box.yMax, y))
                for dy in -1...1 { for dx in -1...1 {
                    let nx = x + dx, ny = y + dy
                    guard nx >= 0, nx < width, ny >= 0, ny < height else { continue }
                    let q = ny * width + nx
                    if !seen[q], Double(map[q]) >= limit { seen[q] = true; stack.append(q) }
                } }
            }
            if pixels > (best?.pixels ?? 0) { best = (box, pixels) }
        }
        return best
    }

    /// Sparse maps of three levels, so that components touch diagonally,
    /// wrap around each other (U shapes joined a row later) and tie in size.
    @Test func runsAgreeWithFloodFill() {
        var rng = SplitMix(seed: 2026)
        var ties = 0
        for case_ in 0..<400 {
            let width = 1 + Int(rng.next() % 37), height = 1 + Int(rng.next() % 29)
            let density = [0.2, 0.45, 0.6][case_ % 3]
            let map: [Float] = (0..<(width * height)).map { _ in
                Double(rng.next() % 1000) / 1000 < density ? (rng.next() % 2 == 0 ? 1 : 0.5) : 0
            }
            for limit in [0.25, 0.75, 0.0, -1.0] {
                let got = Box.largestComponent(of: map, width: width, height: height, thresholdValue: limit)
                let want = Self.floodFill(map, width: width, height: height, limit: limit)
                #expect(got?.box == want?.box && got?.pixels == want?.pixels, "case \(case_) \(width)x\(height) limit \(limit)")
            }
            ties += Self.tie(map, width: width, height: height) ? 1 : 0
        }
        #expect(ties >= 20, "only \(ties) maps with tied largest components")
    }

    /// Whether two components share the largest size at limit 0.25.
    static func tie(_ map: [Float], width: Int, height: Int) -> Bool {
        guard let best = floodFill(map, width: width, height: height, limit: 0.25) else { return false }
        var rest = map
        for y in best.box.yMin...best.box.yMax { for x in best.box.xMin...best.box.xMax { rest[y * width + x] = 0 } }
        return floodFill(rest, width: width, height: height, limit: 0.25)?.pixels == best.pixels
    }

    @Test func edgeCases() {
        #expect(Box.largestComponent(of: [Float.nan, 1], width: 2, height: 1, threshold: 0.2) == nil)
        #expect(Box.largestComponent(of: [0, 0, 0, 0], width: 2, height: 2, threshold: 0.2)?.box == Box(xMin: 0, yMin: 0, xMax: 1, yMax: 1))
        // Diagonal neighbours join; two equal components: the first met wins.
        let map: [Float] = [1, 0, 0, 1,
                            0, 1, 0, 0,
                            0, 0, 0, 1,
                            1, 0, 0, 1]
        let r = Box.largestComponent(of: map, width: 4, height: 4, threshold: 0.5)
        #expect(r?.box == Box(xMin: 0, yMin: 0, xMax: 1, yMax: 1) && r?.pixels == 2)
    }
}
