import ArgumentParser
import CAMKit
import Foundation

struct Localize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Class activation maps and boxes for the top-k classes (or one class) of an input.",
        discussion: """
        Input: --input-tensor X.npy, a preprocessed float32 tensor [1, C, H, W]; maps and boxes \
        are then at H x W. Boxes are [x_min, y_min, x_max, y_max], inclusive pixel coordinates, of \
        the largest 8-connected region at or above threshold x the map's maximum. A map that is \
        all zero gives the whole image as its box.

        Methods: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")) (gradcampp is an \
        alias of gradcam++). cam needs global average pooling and one linear layer after the \
        target layer.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .customLong("input-tensor"), help: "Input tensor (.npy, float32, [1, C, H, W]).")
    var inputTensor: String

    @Option(help: "CAM method.")
    var method: String = "gradcam"

    @Option(name: .customLong("top-k"), help: "Localize the K highest-scoring classes.")
    var topK: Int = 5

    @Option(name: .customLong("class"), help: "Localize this class index only (instead of --top-k).")
    var classIndex: Int?

    @Option(help: "Box threshold as a fraction of the map's maximum, in (0, 1).")
    var threshold: Double = 0.2

    @Option(name: .customLong("target-layer"), help: "Tensor to explain (see `camkit info`); default: automatic.")
    var targetLayer: String?

    @Option(name: .customLong("save-map"), help: "Write the final maps as float32 .npy [K, H, W], in rank order.")
    var saveMap: String?

    @Option(name: .customLong("save-lowres"), help: "Write the feature-resolution maps (after ReLU, before normalization) as .npy [K, h, w].")
    var saveLowres: String?

    @Option(help: "Class names, one per line, for the JSON 'label' field.")
    var labels: String?

    @Flag(help: "Print one JSON object per image.")
    var json = false

    func validate() throws {
        guard CAMMethod(name: method) != nil else {
            throw ValidationError("unknown method '\(method)'; one of \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")), gradcampp")
        }
        guard threshold > 0, threshold < 1 else { throw ValidationError("--threshold must be in (0, 1), got \(threshold)") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1, got \(topK)") }
    }

    func run() throws {
        try Camkit.guarded {
            let m = try CAMModel(contentsOf: fileURL(model))
            let names = try labels.map { path throws(CAMError) in try readLabels(path) }
            let x = try Npy.read(contentsOf: fileURL(inputTensor))
            let result = try m.localize(x, method: CAMMethod(name: method)!, topK: topK, classIndex: classIndex,
                                        threshold: threshold, targetLayer: targetLayer)
            if let saveMap {
                try Npy.write(try Tensor(shape: [result.predictions.count, result.mapHeight, result.mapWidth],
                                         scalars: result.predictions.flatMap(\.map)), to: fileURL(saveMap))
            }
            if let saveLowres {
                try Npy.write(try Tensor(shape: [result.predictions.count, result.lowresHeight, result.lowresWidth],
                                         scalars: result.predictions.flatMap(\.lowres)), to: fileURL(saveLowres))
            }
            try report(result, image: inputTensor, labels: names, json: json)
        }
    }
}

/// Class names, one per line (blank lines are names too: the line number is the index).
func readLabels(_ path: String) throws(CAMError) -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else { throw CAMError(.io, "cannot read labels file '\(path)'") }
    var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    return lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
}

/// Prints one result as design.md section 3.1's JSON object, or as text.
func report(_ r: CAMResult, image: String, labels: [String]?, json: Bool) throws {
    func label(_ c: Int) -> String? { labels.flatMap { c < $0.count ? $0[c] : nil } }
    if json {
        let predictions: [[String: Any]] = r.predictions.map { p in
            var o: [String: Any] = ["rank": p.rank, "class": p.classIndex, "score": Double(p.score), "logit": Double(p.logit),
                                    "box": p.box.map { [$0.xMin, $0.yMin, $0.xMax, $0.yMax] as Any } ?? NSNull()]
            if let l = label(p.classIndex) { o["label"] = l }
            return o
        }
        try printJSON(["image": image, "width": r.mapWidth, "height": r.mapHeight, "method": r.method.rawValue,
                       "target_layer": r.targetLayer, "predictions": predictions])
        return
    }
    print("\(image): \(r.mapWidth)x\(r.mapHeight), \(r.method.rawValue) at \(r.targetLayer)")
    for p in r.predictions {
        let name = label(p.classIndex).map { " \($0)" } ?? ""
        print(String(format: "  %d. class %d%@  score %.4f  logit %.4f  box %@", p.rank, p.classIndex, name, p.score, p.logit,
                     p.box?.description ?? "none"))
    }
}
