import Foundation

// The synthetic scenes: a cluttered background (smooth colour gradient, thin
// lines, small blobs, pixel noise) with one object of one of four classes.
// Everything is drawn as anti-aliased signed-distance shapes at `size` x
// `size` (256 for the samples and for training, which then shrinks to 64 as
// camkit does), from one seeded generator per image.

enum ShapeClass: Int, CaseIterable {
    case circle = 0, square, triangle, cross

    var name: String { ["circle", "square", "triangle", "cross"][rawValue] }
}

/// Inclusive pixel box [xMin, yMin, xMax, yMax].
struct PixelBox: Equatable {
    var xMin: Int, yMin: Int, xMax: Int, yMax: Int

    var list: [Int] { [xMin, yMin, xMax, yMax] }

    /// The box in an image `factor` times smaller (pixel i covers i*factor ..< (i+1)*factor).
    func scaled(down factor: Int) -> PixelBox {
        PixelBox(xMin: xMin / factor, yMin: yMin / factor, xMax: xMax / factor, yMax: yMax / factor)
    }
}

/// Where a scene is drawn: a planar float RGB working image [3, size, size]
/// (values in [0, 1]) and the finished 8-bit interleaved RGB image. One per
/// thread; reused from image to image.
final class Canvas: @unchecked Sendable {
    let size: Int
    let work: UnsafeMutablePointer<Float>
    let rgb: UnsafeMutablePointer<UInt8>

    init(size: Int) {
        self.size = size
        work = .allocate(capacity: 3 * size * size)
        rgb = .allocate(capacity: 3 * size * size)
        work.initialize(repeating: 0, count: 3 * size * size)
        rgb.initialize(repeating: 0, count: 3 * size * size)
    }

    deinit {
        work.deallocate()
        rgb.deallocate()
    }

    /// The finished image, 8-bit RGB rows (what the PNG stores).
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: rgb, count: 3 * size * size)) }
}

struct Color {
    var r: Float, g: Float, b: Float

    subscript(c: Int) -> Float { c == 0 ? r : (c == 1 ? g : b) }

    static func hsv(_ h: Float, _ s: Float, _ v: Float) -> Color {
        let h6 = (h - h.rounded(.down)) * 6
        let i = Int(h6) % 6, f = h6 - Float(Int(h6))
        let p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f))
        switch i {
        case 0: return Color(r: v, g: t, b: p)
        case 1: return Color(r: q, g: v, b: p)
        case 2: return Color(r: p, g: v, b: t)
        case 3: return Color(r: p, g: q, b: v)
        case 4: return Color(r: t, g: p, b: v)
        default: return Color(r: v, g: p, b: q)
        }
    }
}

/// One scene: its class and the object's tight box (pixels at least half covered).
struct Scene {
    var shape: ShapeClass
    var box: PixelBox
}

enum SceneRenderer {
    /// Draws a scene of class `shape` on `canvas` (overwritten), from `rng`.
    /// Object sizes scale with the image: 56-120 px at 256 (14-30 at 64).
    static func render(_ shape: ShapeClass, rng: inout SplitMix64, on canvas: Canvas) -> Scene {
        let n = canvas.size
        let k = Float(n) / 256
        let px = canvas.work
        background(px, n, &rng)
        // Clutter: thin lines and small blobs, a few of them over the object.
        let lines = rng.int(3, 8), blobs = rng.int(4, 14)
        var lateLines = 0, lateBlobs = 0
        for _ in 0..<lines {
            if rng.bool(0.2) { lateLines += 1 } else { line(px, n, k, &rng) }
        }
        for _ in 0..<blobs {
            if rng.bool(0.15) { lateBlobs += 1 } else { blob(px, n, k, &rng) }
        }
        let box = object(shape, px, n, k, &rng)
        for _ in 0..<lateLines { line(px, n, k, &rng) }
        for _ in 0..<lateBlobs { blob(px, n, k, &rng) }
        finish(px, n, &rng, canvas.rgb)
        return Scene(shape: shape, box: box)
    }

    /// A smooth two-colour linear gradient in a random direction, times a soft
    /// light spot; muted colours, so the object's saturated colour stands out
    /// a little but not always.
    static func background(_ px: UnsafeMutablePointer<Float>, _ n: Int, _ rng: inout SplitMix64) {
        let c0 = Color.hsv(rng.unit(), rng.uniform(0.05, 0.55), rng.uniform(0.3, 0.95))
        let c1 = Color.hsv(rng.unit(), rng.uniform(0.05, 0.55), rng.uniform(0.3, 0.95))
        let theta = rng.uniform(0, 2 * .pi)
        let dx = cos(theta) / Float(n), dy = sin(theta) / Float(n)
        let lx = rng.uniform(0, Float(n)), ly = rng.uniform(0, Float(n))
        let lr2 = pow(rng.uniform(0.3, 0.8) * Float(n), 2), gain = rng.uniform(-0.25, 0.3)
        let half = Float(n) / 2
        let plane = n * n
        for y in 0..<n {
            let fy = Float(y) + 0.5
            for x in 0..<n {
                let fx = Float(x) + 0.5
                let t = max(0, min(1, (fx - half) * dx + (fy - half) * dy + 0.5))
                let d2 = (fx - lx) * (fx - lx) + (fy - ly) * (fy - ly)
                let light = 1 + gain / (1 + d2 / lr2)
                let i = y * n + x
                px[i] = (c0.r + (c1.r - c0.r) * t) * light
                px[plane + i] = (c0.g + (c1.g - c0.g) * t) * light
                px[2 * plane + i] = (c0.b + (c1.b - c0.b) * t) * light
            }
        }
    }

    /// Blends `color` over the pixels where the signed distance `sdf` (in
    /// pixels, negative inside) is below 0.5, anti-aliased over one pixel,
    /// inside the given bounds. Returns the box of pixels covered at least half.
    @discardableResult
    static func fill(_ px: UnsafeMutablePointer<Float>, _ n: Int, bounds: (Float, Float, Float, Float),
                     opacity: Float = 1, color: (Float, Float) -> Color, sdf: (Float, Float) -> Float) -> PixelBox {
        let x0 = max(0, Int((bounds.0 - 1).rounded(.down))), y0 = max(0, Int((bounds.1 - 1).rounded(.down)))
        let x1 = min(n - 1, Int((bounds.2 + 1).rounded(.up))), y1 = min(n - 1, Int((bounds.3 + 1).rounded(.up)))
        var box = PixelBox(xMin: n, yMin: n, xMax: -1, yMax: -1)
        guard x0 <= x1, y0 <= y1 else { return box }
        let plane = n * n
        for y in y0...y1 {
            let fy = Float(y) + 0.5
            for x in x0...x1 {
                let fx = Float(x) + 0.5
                let coverage = max(0, min(1, 0.5 - sdf(fx, fy)))
                if coverage <= 0 { continue }
                if coverage >= 0.5 {
                    box.xMin = min(box.xMin, x); box.xMax = max(box.xMax, x)
                    box.yMin = min(box.yMin, y); box.yMax = max(box.yMax, y)
                }
                let a = coverage * opacity
                let c = color(fx, fy)
                let i = y * n + x
                px[i] += (c.r - px[i]) * a
                px[plane + i] += (c.g - px[plane + i]) * a
                px[2 * plane + i] += (c.b - px[2 * plane + i]) * a
            }
        }
        return box
    }

    /// A thin straight line (a capsule 1-3 px thick at 256) between two random points.
    static func line(_ px: UnsafeMutablePointer<Float>, _ n: Int, _ k: Float, _ rng: inout SplitMix64) {
        let s = Float(n)
        let ax = rng.uniform(-0.1, 1.1) * s, ay = rng.uniform(-0.1, 1.1) * s
        let angle = rng.uniform(0, 2 * .pi), length = rng.uniform(0.15, 0.9) * s
        let bx = ax + cos(angle) * length, by = ay + sin(angle) * length
        let half = rng.uniform(0.5, 1.5) * k
        let c = Color.hsv(rng.unit(), rng.uniform(0, 0.8), rng.uniform(0.1, 1))
        let opacity = rng.uniform(0.5, 1)
        let ex = bx - ax, ey = by - ay, len2 = ex * ex + ey * ey
        fill(px, n, bounds: (min(ax, bx) - half, min(ay, by) - half, max(ax, bx) + half, max(ay, by) + half),
             opacity: opacity, color: { _, _ in c }) { x, y in
            let t = max(0, min(1, ((x - ax) * ex + (y - ay) * ey) / len2))
            let qx = x - ax - t * ex, qy = y - ay - t * ey
            return (qx * qx + qy * qy).squareRoot() - half
        }
    }

    /// A small disc, radius 2-7 px at 256.
    static func blob(_ px: UnsafeMutablePointer<Float>, _ n: Int, _ k: Float, _ rng: inout SplitMix64) {
        let s = Float(n)
        let cx = rng.uniform(0, s), cy = rng.uniform(0, s), r = rng.uniform(2, 7) * k
        let c = Color.hsv(rng.unit(), rng.uniform(0, 0.9), rng.uniform(0.1, 1))
        let opacity = rng.uniform(0.6, 1)
        fill(px, n, bounds: (cx - r, cy - r, cx + r, cy + r), opacity: opacity, color: { _, _ in c }) { x, y in
            ((x - cx) * (x - cx) + (y - cy) * (y - cy)).squareRoot() - r
        }
    }

    /// Signed distance to an axis-aligned box of half sizes (hx, hy) at the origin.
    @inline(__always)
    static func boxSDF(_ x: Float, _ y: Float, _ hx: Float, _ hy: Float) -> Float {
        let dx = abs(x) - hx, dy = abs(y) - hy
        let ox = max(dx, 0), oy = max(dy, 0)
        return (ox * ox + oy * oy).squareRoot() + min(max(dx, dy), 0)
    }

    /// The object: nominal size s in 56-120 px at 256, fully inside the image,
    /// a saturated colour with a gentle shading gradient.
    static func object(_ shape: ShapeClass, _ px: UnsafeMutablePointer<Float>, _ n: Int, _ k: Float,
                       _ rng: inout SplitMix64) -> PixelBox {
        let s = rng.uniform(56, 120) * k
        let margin = 0.56 * s + 2 * k
        let cx = rng.uniform(margin, Float(n) - margin), cy = rng.uniform(margin, Float(n) - margin)
        let base = Color.hsv(rng.unit(), rng.uniform(0.7, 1), rng.uniform(0.7, 1))
        let shadeAngle = rng.uniform(0, 2 * .pi), shadeGain = rng.uniform(0, 0.35)
        let sx = cos(shadeAngle) * shadeGain / s, sy = sin(shadeAngle) * shadeGain / s
        let color: (Float, Float) -> Color = { x, y in
            let f = 1 + (x - cx) * sx + (y - cy) * sy
            return Color(r: base.r * f, g: base.g * f, b: base.b * f)
        }
        let bounds = (cx - 0.56 * s, cy - 0.56 * s, cx + 0.56 * s, cy + 0.56 * s)
        // Rotations: small for the square and the cross (so they stay a square
        // and a plus sign), any for the triangle.
        switch shape {
        case .circle:
            let r = s / 2
            return fill(px, n, bounds: bounds, color: color) { x, y in
                ((x - cx) * (x - cx) + (y - cy) * (y - cy)).squareRoot() - r
            }
        case .square:
            let h = 0.4 * s, phi = rng.uniform(-0.26, 0.26)
            let c = cos(phi), sn = sin(phi)
            return fill(px, n, bounds: bounds, color: color) { x, y in
                let u = (x - cx) * c + (y - cy) * sn, v = -(x - cx) * sn + (y - cy) * c
                return boxSDF(u, v, h, h)
            }
        case .triangle:
            let r = 0.55 * s, phi = rng.uniform(0, 2 * .pi)
            // Equilateral: edge normals at phi + 60 + 120 i degrees, the edges at
            // distance r / 2 from the centre (inradius of circumradius r).
            let normals = (0..<3).map { i -> (Float, Float) in
                let a = phi + Float.pi / 3 + Float(i) * 2 * Float.pi / 3
                return (cos(a), sin(a))
            }
            let (n0, n1, n2) = (normals[0], normals[1], normals[2])
            let inr = r / 2
            return fill(px, n, bounds: bounds, color: color) { x, y in
                let dx = x - cx, dy = y - cy
                return max(dx * n0.0 + dy * n0.1, dx * n1.0 + dy * n1.1, dx * n2.0 + dy * n2.1) - inr
            }
        case .cross:
            let half = 0.5 * s, arm = rng.uniform(0.14, 0.2) * s, phi = rng.uniform(-0.26, 0.26)
            let c = cos(phi), sn = sin(phi)
            return fill(px, n, bounds: bounds, color: color) { x, y in
                let u = (x - cx) * c + (y - cy) * sn, v = -(x - cx) * sn + (y - cy) * c
                return min(boxSDF(u, v, half, arm), boxSDF(u, v, arm, half))
            }
        }
    }

    /// Per-pixel colour noise of a random strength (triangular distribution,
    /// from 8-bit uniforms), then 8-bit rounding into interleaved RGB.
    static func finish(_ px: UnsafeMutablePointer<Float>, _ n: Int, _ rng: inout SplitMix64, _ rgb: UnsafeMutablePointer<UInt8>) {
        let sigma = rng.uniform(0.01, 0.05)
        let amp = sigma / 0.408   // t / 255 is triangular on [-1, 1], standard deviation 0.408
        let plane = n * n
        for i in 0..<plane {
            let bits = rng.next()
            for c in 0..<3 {
                let shift = UInt64(16 * c)
                let t = Float(Int((bits >> shift) & 0xFF) + Int((bits >> (shift + 8)) & 0xFF) - 255)
                let v = Int32(px[c * plane + i] * 255 + t * amp + 0.5)
                rgb[i * 3 + c] = UInt8(truncatingIfNeeded: v < 0 ? 0 : (v > 255 ? 255 : v))
            }
        }
    }
}
