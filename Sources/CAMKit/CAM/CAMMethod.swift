/// The class activation mapping methods camkit computes. Names are the
/// command line's; `gradcampp` is accepted for Grad-CAM++.
public enum CAMMethod: String, CaseIterable, Sendable {
    case cam
    case gradCAM = "gradcam"
    case gradCAMPlusPlus = "gradcam++"
    case xGradCAM = "xgradcam"
    case hiResCAM = "hirescam"
    case layerCAM = "layercam"
    case eigenCAM = "eigencam"
    case scoreCAM = "scorecam"
    case ablationCAM = "ablationcam"

    /// Parses a method name, case-insensitively, with the `gradcampp` alias.
    public init?(name: String) {
        let lower = name.lowercased()
        if lower == "gradcampp" { self = .gradCAMPlusPlus; return }
        self.init(rawValue: lower)
    }

    /// Whether the method needs d score / d A.
    var needsGradients: Bool {
        switch self {
        case .gradCAM, .gradCAMPlusPlus, .xGradCAM, .hiResCAM, .layerCAM: return true
        case .cam, .eigenCAM, .scoreCAM, .ablationCAM: return false
        }
    }

    /// Plain CAM keeps the signed map (Zhou et al.); the others take max(., 0).
    var appliesReLU: Bool { self != .cam }
}

/// What a method produces for one image and class: weights per channel
/// (summed against A), weights per element (multiplied with A, then summed
/// over channels), or the raw map itself.
enum CAMWeights {
    case channel([Float])      // [K]
    case element([Float])      // [K * h * w]
    case map([Float])          // [h * w]
}

/// The gradient-based strategies (pytorch-grad-cam 1.5.7's formulas, in
/// ../shared/fixtures/README.md section 7). A and G are [K, h*w].
enum GradientStrategies {
    static func weights(_ method: CAMMethod, a: [Float], g: [Float], channels k: Int, positions hw: Int) -> CAMWeights {
        switch method {
        case .gradCAM:
            return .channel((0..<k).map { c in
                var s: Float = 0
                for i in 0..<hw { s += g[c * hw + i] }
                return s / Float(hw)
            })
        case .gradCAMPlusPlus:
            return .channel((0..<k).map { c in
                var sumA: Float = 0
                for i in 0..<hw { sumA += a[c * hw + i] }
                var w: Float = 0
                for i in 0..<hw {
                    let gi = g[c * hw + i]
                    guard gi != 0 else { continue }
                    let g2 = gi * gi, g3 = g2 * gi
                    let alpha = g2 / (2 * g2 + sumA * g3 + 1e-6)
                    w += max(gi, 0) * alpha
                }
                return w
            })
        case .xGradCAM:
            return .channel((0..<k).map { c in
                var sumA: Float = 0, sumGA: Float = 0
                for i in 0..<hw { sumA += a[c * hw + i]; sumGA += g[c * hw + i] * a[c * hw + i] }
                return sumGA / (sumA + 1e-7)
            })
        case .hiResCAM:
            return .element(g)
        case .layerCAM:
            return .element(g.map { max($0, 0) })
        case .cam, .eigenCAM, .scoreCAM, .ablationCAM:
            preconditionFailure("\(method) is not a gradient method")
        }
    }
}

/// cam = sum_k w_k A_k (or sum_k W_k * A_k elementwise), over [K, hw].
func combine(_ weights: CAMWeights, activations a: [Float], channels k: Int, positions hw: Int) -> [Float] {
    switch weights {
    case .map(let m):
        return m
    case .channel(let w):
        var cam = [Float](repeating: 0, count: hw)
        for c in 0..<k where w[c] != 0 {
            let wc = w[c]
            for i in 0..<hw { cam[i] += wc * a[c * hw + i] }
        }
        return cam
    case .element(let w):
        var cam = [Float](repeating: 0, count: hw)
        for c in 0..<k { for i in 0..<hw { cam[i] += w[c * hw + i] * a[c * hw + i] } }
        return cam
    }
}
