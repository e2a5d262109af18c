extension Box {
    /// `largestComponent(of:width:height:threshold:)` for many thresholds at
    /// once, from one map, as MaxBoxAcc needs (Choe et al. 2020: 100
    /// thresholds per image). The result for each threshold is exactly what
    /// the single-threshold call returns; the work is one pass instead of
    /// one flood fill per threshold.
    ///
    /// Pixels enter a union-find from the highest threshold down, each
    /// component keeping its size, bounding box and first pixel in row-major
    /// order; the largest component so far (ties: the smaller first pixel,
    /// i.e. the one a row-major scan meets first) can only change when a
    /// component grows, so it is tracked as pixels join.
    ///
    /// - Parameter thresholds: fractions of max(map) in ascending order.
    public static func largestComponents(of map: [Float], width: Int, height: Int,
                                         thresholds: [Double]) -> [(box: Box, pixels: Int)?] {
        guard width > 0, height > 0, map.count == width * height, !map.contains(where: { $0.isNaN }),
              !thresholds.isEmpty else { return thresholds.map { _ in nil } }
        let top = Double(map.max()!)
        let limits = thresholds.map { $0 * top }
        // Limits must be ascending for the sweep (they are when max >= 0 and
        // the thresholds ascend); otherwise fall back to one fill per threshold.
        guard zip(limits, limits.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            return limits.map { largestComponent(of: map, width: width, height: height, thresholdValue: $0) }
        }
        let n = map.count, levels = limits.count

        // level[p]: the highest threshold index at which p is kept (-1: never).
        var level = [Int32](repeating: -1, count: n)
        var counts = [Int](repeating: 0, count: levels + 1)
        for p in 0..<n {
            let v = Double(map[p])
            var lo = 0, hi = levels          // count of limits <= v, by bisection
            while lo < hi {
                let mid = (lo + hi) / 2
                if limits[mid] <= v { lo = mid + 1 } else { hi = mid }
            }
            level[p] = Int32(lo - 1)
            counts[lo] += 1
        }
        // Pixels grouped by level (counting sort), each group in row-major order.
        var start = [Int](repeating: 0, count: levels + 2)
        for l in 0...levels { start[l + 1] = start[l] + counts[l] }
        var order = [Int32](repeating: 0, count: n)
        var fill = start
        for p in 0..<n { let l = Int(level[p]) + 1; order[fill[l]] = Int32(p); fill[l] += 1 }

        var parent = [Int32](repeating: -1, count: n)      // -1: not yet kept
        var size = [Int32](repeating: 0, count: n)
        var first = [Int32](repeating: 0, count: n)
        var xMin = [Int32](repeating: 0, count: n), xMax = [Int32](repeating: 0, count: n)
        var yMin = [Int32](repeating: 0, count: n), yMax = [Int32](repeating: 0, count: n)

        func find(_ p: Int32) -> Int32 {
            var root = p
            while parent[Int(root)] != root { root = parent[Int(root)] }
            var q = p
            while parent[Int(q)] != root { let next = parent[Int(q)]; parent[Int(q)] = root; q = next }
            return root
        }

        var best: Int32 = -1
        func consider(_ r: Int32) {
            if best < 0 { best = r; return }
            let b = find(best)
            best = b
            if size[Int(r)] > size[Int(b)] || (size[Int(r)] == size[Int(b)] && first[Int(r)] < first[Int(b)]) { best = r }
        }

        var result = [(box: Box, pixels: Int)?](repeating: nil, count: levels)
        for l in stride(from: levels - 1, through: 0, by: -1) {
            for slot in start[l + 1]..<start[l + 2] {
                let p = order[slot], pi = Int(p)
                let x = Int32(pi % width), y = Int32(pi / width)
                parent[pi] = p; size[pi] = 1; first[pi] = p
                xMin[pi] = x; xMax[pi] = x; yMin[pi] = y; yMax[pi] = y
                var root = p
                for dy in -1...1 {
                    let ny = Int(y) + dy
                    guard ny >= 0, ny < height else { continue }
                    for dx in -1...1 where dx != 0 || dy != 0 {
                        let nx = Int(x) + dx
                        guard nx >= 0, nx < width else { continue }
                        let q = Int32(ny * width + nx)
                        guard parent[Int(q)] >= 0 else { continue }
                        let other = find(q)
                        guard other != root else { continue }
                        // Union by size; the survivor takes the merged statistics.
                        let (big, small) = size[Int(root)] >= size[Int(other)] ? (root, other) : (other, root)
                        let b = Int(big), s = Int(small)
                        parent[s] = big
                        size[b] += size[s]
                        first[b] = min(first[b], first[s])
                        xMin[b] = min(xMin[b], xMin[s]); xMax[b] = max(xMax[b], xMax[s])
                        yMin[b] = min(yMin[b], yMin[s]); yMax[b] = max(yMax[b], yMax[s])
                        root = big
                    }
                }
                consider(root)
            }
            if best >= 0 {
                let b = Int(find(best))
                result[l] = (Box(xMin: Int(xMin[b]), yMin: Int(yMin[b]), xMax: Int(xMax[b]), yMax: Int(yMax[b])), Int(size[b]))
            }
        }
        return result
    }
}
