import ArgumentParser
import CAMKit
import Foundation
import Synchronization

struct Localize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Class activation maps and boxes for the top-k classes (or one class) of images or a tensor.",
        discussion: """
        Inputs: PNG or JPEG files, or directories (walked recursively for .png, .jpg and .jpeg, in \
        sorted order, on both cores), or --input-tensor X.npy, a preprocessed float32 tensor \
        [1, C, H, W]. For images, the maps are resized to each image's own size and boxes are in \
        its pixel coordinates; for a tensor, to H x W. One JSON object per input with --json. \
        A file that fails is reported on stderr and the others go on; the exit status is then 1.

        Boxes are [x_min, y_min, x_max, y_max], inclusive pixel coordinates, of the largest \
        8-connected region at or above threshold x the map's maximum. A map that is all zero gives \
        the whole image as its box.

        Methods: \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")) (gradcampp is an \
        alias of gradcam++). cam needs global average pooling and one linear layer after the \
        target layer.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Argument(help: "Image files (PNG, JPEG) or directories of them.")
    var inputs: [String] = []

    @Option(name: .customLong("input-tensor"), help: "A preprocessed input tensor (.npy, float32, [1, C, H, W]) instead of images.")
    var inputTensor: String?

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

    @Option(name: .customLong("save-map"), help: "Write the final maps as float32 .npy [K, H, W], in rank order (one input only).")
    var saveMap: String?

    @Option(name: .customLong("save-lowres"), help: "Write the feature-resolution maps (after ReLU, before normalization) as .npy [K, h, w] (one input only).")
    var saveLowres: String?

    @Option(help: "Write the image with the rank-1 heatmap and every box drawn, as PNG (one image only).")
    var overlay: String?

    @Option(name: .customLong("overlay-dir"), help: "Write one overlay PNG per image into this directory.")
    var overlayDir: String?

    @Option(help: "Class names, one per line, for the 'label' field.")
    var labels: String?

    @Option(help: ArgumentHelp("Per-channel mean of the normalization (default: ImageNet's).", valueName: "r,g,b"))
    var mean: String?

    @Option(help: ArgumentHelp("Per-channel std of the normalization (default: ImageNet's).", valueName: "r,g,b"))
    var std: String?

    @Option(help: "How images meet the model's input size: stretch (both sides, the default) or crop (shorter side, then the center).")
    var resize: String = "stretch"

    @OptionGroup(title: "Limits") var limitOptions: LimitOptions

    @Option(name: .customLong("max-pixels"), help: "Refuse images larger than this many pixels (checked before decoding).")
    var maxPixels: Int = Limits.default.imagePixels

    @Flag(help: "Print one JSON object per input.")
    var json = false

    func validate() throws {
        guard CAMMethod(name: method) != nil else {
            throw ValidationError("unknown method '\(method)'; one of \(CAMMethod.allCases.map(\.rawValue).joined(separator: ", ")), gradcampp")
        }
        guard threshold > 0, threshold < 1 else { throw ValidationError("--threshold must be in (0, 1), got \(threshold)") }
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1, got \(topK)") }
        guard (inputTensor == nil) != inputs.isEmpty else {
            throw ValidationError("give image files or directories, or --input-tensor, not both and not neither")
        }
        guard Preprocessing.Resize(rawValue: resize) != nil else { throw ValidationError("--resize must be stretch or crop") }
        try validateMaxPixels(maxPixels)
        _ = try rgbTriple(mean, "--mean")
        _ = try rgbTriple(std, "--std")
    }

    var limits: Limits {
        var limits = limitOptions.limits
        limits.imagePixels = maxPixels
        return limits
    }

    func run() throws {
        var failed = false
        try Camkit.guarded {
            let m = try CAMModel(contentsOf: fileURL(model), limits: limits)
            let names = try labels.map { path throws(CAMError) in try readLabels(path) }
            let camMethod = CAMMethod(name: method)!
            if let inputTensor {
                let x = try Npy.read(contentsOf: fileURL(inputTensor))
                let result = try m.localize(x, method: camMethod, topK: topK, classIndex: classIndex, threshold: threshold, targetLayer: targetLayer)
                try save(result)
                print(try describe(result, image: inputTensor, labels: names))
                return
            }
            let files = try collectImages(inputs)
            if files.count > 1 && (saveMap != nil || saveLowres != nil || overlay != nil) {
                throw CAMError(.argument, "--save-map, --save-lowres and --overlay take one image; use --overlay-dir for many (\(files.count) images given)")
            }
            if let overlayDir {
                do { try FileManager.default.createDirectory(atPath: overlayDir, withIntermediateDirectories: true) } catch {
                    throw CAMError(.io, "cannot create overlay directory '\(overlayDir)'")
                }
            }
            let preprocessing = Preprocessing(mean: try rgbTriple(mean, "--mean") ?? Preprocessing.imageNetMean,
                                              std: try rgbTriple(std, "--std") ?? Preprocessing.imageNetStd,
                                              resize: Preprocessing.Resize(rawValue: resize)!)
            failed = try process(files, model: m) { path throws(CAMError) in
                let image = try Image(contentsOf: fileURL(path), limits: limits)
                let result = try m.localize(image, method: camMethod, topK: topK, classIndex: classIndex, threshold: threshold,
                                            targetLayer: targetLayer, preprocessing: preprocessing)
                try save(result)
                if let target = overlay ?? overlayDir.map({ "\($0)/\(overlayName(path))" }) {
                    try result.overlay(on: image).writePNG(to: fileURL(target))
                }
                return try describe(result, image: path, labels: names)
            }
        }
        if failed { throw ExitCode(1) }
    }

    func overlayName(_ path: String) -> String {
        let base = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        return base + ".png"
    }

    func save(_ result: CAMResult) throws(CAMError) {
        if let saveMap {
            try Npy.write(try Tensor(shape: [result.predictions.count, result.mapHeight, result.mapWidth],
                                     scalars: result.predictions.flatMap(\.map)), to: fileURL(saveMap))
        }
        if let saveLowres {
            try Npy.write(try Tensor(shape: [result.predictions.count, result.lowresHeight, result.lowresWidth],
                                     scalars: result.predictions.flatMap(\.lowres)), to: fileURL(saveLowres))
        }
    }

    func describe(_ r: CAMResult, image: String, labels: [String]?) throws(CAMError) -> String {
        do { return try formatResult(r, image: image, labels: labels, json: json) } catch {
            throw CAMError(.internal, "cannot format the result: \(error)")
        }
    }
}

/// The image files named by `inputs`: files as given, directories walked
/// recursively for .png/.jpg/.jpeg, each directory's files in sorted order.
func collectImages(_ inputs: [String]) throws(CAMError) -> [String] {
    let extensions: Set<String> = ["png", "jpg", "jpeg"]
    var files: [String] = []
    for input in inputs {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else {
            throw CAMError(.io, "'\(input)': no such file or directory")
        }
        guard isDirectory.boolValue else { files.append(input); continue }
        guard let walker = FileManager.default.enumerator(atPath: input) else { throw CAMError(.io, "'\(input)': cannot read the directory") }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            if extensions.contains((relative as NSString).pathExtension.lowercased()) { found.append("\(input)/\(relative)") }
        }
        guard !found.isEmpty else { throw CAMError(.argument, "'\(input)': the directory holds no PNG or JPEG files") }
        files += found.sorted()
    }
    return files
}

/// Runs `work` on every file, on both cores when there are several (one
/// image per thread, each with single-threaded kernels), printing each result in input
/// order as soon as it and its predecessors are done, errors as one line on
/// stderr each. A progress bar goes to stderr when it is a terminal.
/// Returns whether any file failed.
func process(_ files: [String], model: CAMModel, work: @Sendable @escaping (String) throws(CAMError) -> String) throws -> Bool {
    struct State { var next = 0; var printed = 0; var done = 0; var failed = false; var outputs: [Int: Result<String, CAMError>] = [:] }
    let state = Mutex(State())
    let workers = files.count > 1 ? min(2, ProcessInfo.processInfo.activeProcessorCount) : 1
    // One image per worker, each worker's kernels on its own thread only
    // (the limit is per calling thread, so the process-wide setting stays).
    let kernelThreads = workers > 1 ? 1 : 0
    let progress = files.count > 1 && isatty(2) != 0
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while true {
            let index: Int? = state.withLock { s in
                guard s.next < files.count else { return nil }
                defer { s.next += 1 }
                return s.next
            }
            guard let index else { return }
            let outcome: Result<String, CAMError>
            do throws(CAMError) {
                outcome = .success(try Runtime.withThreads(kernelThreads) { () throws(CAMError) in try work(files[index]) })
            } catch { outcome = .failure(error) }
            state.withLock { s in
                s.outputs[index] = outcome
                s.done += 1
                while let ready = s.outputs.removeValue(forKey: s.printed) {
                    if progress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                    switch ready {
                    case .success(let line): print(line); fflush(nil)
                    case .failure(let e):
                        s.failed = true
                        FileHandle.standardError.write(Data("camkit: error: \(e.message)\n".utf8))
                    }
                    s.printed += 1
                }
                if progress {
                    let width = 30, filled = width * s.done / files.count
                    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
                    FileHandle.standardError.write(Data("\r[\(bar)] \(s.done)/\(files.count)".utf8))
                }
            }
        }
    }
    if progress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    return state.withLock { $0.failed }
}

/// Class names, one per line (the line number is the class index).
func readLabels(_ path: String) throws(CAMError) -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else { throw CAMError(.io, "cannot read labels file '\(path)'") }
    var lines = String(decoding: data, as: UTF8.self).components(separatedBy: "\n")
    if lines.last == "" { lines.removeLast() }
    return lines.map { $0.hasSuffix("\r") ? String($0.dropLast()) : $0 }
}

/// One result as design.md section 3.1's JSON object, or as text.
func formatResult(_ r: CAMResult, image: String, labels: [String]?, json: Bool) throws -> String {
    func label(_ c: Int) -> String? { labels.flatMap { c < $0.count ? $0[c] : nil } }
    if json {
        let predictions: [[String: Any]] = r.predictions.map { p in
            var o: [String: Any] = ["rank": p.rank, "class": p.classIndex, "score": Double(p.score), "logit": Double(p.logit),
                                    "box": p.box.map { [$0.xMin, $0.yMin, $0.xMax, $0.yMax] as Any } ?? NSNull()]
            if let l = label(p.classIndex) { o["label"] = l }
            return o
        }
        return try jsonLine(["image": image, "width": r.mapWidth, "height": r.mapHeight, "method": r.method.rawValue,
                             "target_layer": r.targetLayer, "predictions": predictions])
    }
    var lines = ["\(image): \(r.mapWidth)x\(r.mapHeight), \(r.method.rawValue) at \(r.targetLayer)"]
    for p in r.predictions {
        let name = label(p.classIndex).map { " \($0)" } ?? ""
        lines.append(String(format: "  %d. class %d%@  score %.4f  logit %.4f  box %@", p.rank, p.classIndex, name, p.score, p.logit,
                            p.box?.description ?? "none"))
    }
    return lines.joined(separator: "\n")
}

/// --mean / --std: three comma-separated finite numbers r,g,b (nil when the
/// flag is absent).
func rgbTriple(_ text: String?, _ flag: String) throws -> [Float]? {
    guard let text else { return nil }
    let parts = text.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
    guard parts.count == 3, parts.allSatisfy({ $0 != nil && $0!.isFinite }) else {
        throw ValidationError("\(flag) expects three numbers r,g,b, got '\(text)'")
    }
    return parts.map { $0! }
}

/// --max-pixels: positive and at most what the decoders can index.
func validateMaxPixels(_ maxPixels: Int) throws {
    guard maxPixels >= 1, maxPixels <= Limits.maximum.imagePixels else {
        throw ValidationError("--max-pixels must be 1 to \(Limits.maximum.imagePixels), got \(maxPixels)")
    }
}
