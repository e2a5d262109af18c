import Foundation
@testable import CAMKit

/// The shared golden fixtures, read through the relative path ../shared
/// beside the repository (never copied into it).
enum Fixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("shared/fixtures")

    /// The Digits-WSOL dev split (../shared/wsol): images, annotations, two
    /// models and the reference numbers of the localization protocol.
    static let wsol: URL = root.deletingLastPathComponent().appendingPathComponent("wsol")

    static var models: [String] {
        let dir = root.appendingPathComponent("models")
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
    }

    static func modelURL(_ model: String) -> URL {
        root.appendingPathComponent("models/\(model)/model.onnx")
    }

    static func manifest(_ model: String) throws -> [String: Any] {
        let data = try Data(contentsOf: root.appendingPathComponent("models/\(model)/manifest.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    static func npy(_ relative: String) throws -> Tensor {
        try Npy.read(contentsOf: root.appendingPathComponent(relative))
    }

    /// Largest |a - b|, infinite on a shape mismatch or NaN.
    static func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        guard a.shape == b.shape else { return .infinity }
        var worst: Float = 0
        for (x, y) in zip(a.scalars, b.scalars) {
            let d = abs(x - y)
            if d.isNaN { return .infinity }
            worst = max(worst, d)
        }
        return worst
    }

    /// The issues' tolerance: 1e-4 * max(1, max |ref|).
    static func tolerance(_ reference: Tensor) -> Float {
        1e-4 * max(1, reference.scalars.map(abs).max() ?? 0)
    }
}
