import ArgumentParser
import CAMKit
import Foundation
import Synchronization

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score weakly supervised localization on an annotated data set (the CAM paper's protocol, and MaxBoxAcc).",
        discussion: """
        Annotations: a CSV file with the header file,label,x_min,y_min,x_max,y_max (one row per \
        object; several rows per image allowed), or a folder of PASCAL VOC / ImageNet XML files \
        (several <object>s per image). Boxes are 0-based inclusive pixel coordinates of the image \
        as stored. Labels are class indices, or class names mapped through --labels. Images are \
        matched by their path inside --images, else their file name, else their name without \
        extension.

        Metrics (fractions; a box is right when its IoU with a ground-truth box of its class, \
        counting pixels inclusively, is at least 0.5): cls_top1_err and cls_top5_err; loc_top1_err, \
        wrong when the top-1 class is not a true class or its box is not right; loc_top5_err, right \
        when some top-5 class is a true class with a right box; gt_known_loc_acc, the box of a true \
        class's own map is right; max_box_acc, GT-known accuracy maximized over the box thresholds \
        0.00 to 0.99 (Choe et al., CVPR 2020), from one map per image and class.

        Every image without annotation, annotation without image and invalid annotation is reported \
        on stderr and not scored; a count follows the score and the exit status is then 1.

        Methods: \(EvalMethod.names.joined(separator: ", ")) (backprop: |d logit / d input|, max over \
        the channels, at the input's resolution).
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(help: "The folder of images (searched recursively for .png, .jpg, .jpeg).")
    var images: String

    @Option(help: "A CSV file, or a folder of PASCAL VOC / ImageNet XML files.")
    var annotations: String

    @Option(help: "Class names, one per line, to map annotation labels to class indices.")
    var labels: String?

    @Option(help: "CAM method, or backprop.")
    var method: String = "gradcam"

    @Option(help: "Box threshold as a fraction of the map's maximum, in (0, 1).")
    var threshold: Double = 0.2

    @Option(name: .customLong("target-layer"), help: "Tensor to explain (see `camkit info`); default: automatic.")
    var targetLayer: String?

    @Option(help: ArgumentHelp("Per-channel mean of the normalization (default: ImageNet's).", valueName: "r,g,b"))
    var mean: String?

    @Option(help: ArgumentHelp("Per-channel std of the normalization (default: ImageNet's).", valueName: "r,g,b"))
    var std: String?

    @Option(help: "How images meet the model's input size: stretch (both sides, the default) or crop (shorter side, then the center).")
    var resize: String = "stretch"

    @Option(name: .customLong("max-pixels"), help: "Refuse images larger than this many pixels (checked before decoding).")
    var maxPixels: Int = Limits.maxImagePixels

    @OptionGroup(title: "Limits") var limitOptions: LimitOptions

    @Option(help: "Images scored at once, one per thread (default: one per core).")
    var threads: Int?

    @Option(name: .customLong("per-image"), help: "Write each image's predictions, boxes, IoUs and hits to this CSV file.")
    var perImage: String?

    @Flag(help: "Go on from the --per-image file of an interrupted run: its images are not scored again.")
    var resume = false

    @Option(help: "Also write the JSON object to this file.")
    var output: String?

    @Flag(help: "Print the scores as one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard EvalMethod(name: method) != nil else {
            throw ValidationError("unknown method '\(method)'; one of \(EvalMethod.names.joined(separator: ", ")), gradcampp")
        }
        guard threshold > 0, threshold < 1 else { throw ValidationError("--threshold must be in (0, 1), got \(threshold)") }
        guard Preprocessing.Resize(rawValue: resize) != nil else { throw ValidationError("--resize must be stretch or crop") }
        try validateMaxPixels(maxPixels)
        if let threads { guard threads >= 1 else { throw ValidationError("--threads must be at least 1") } }
        guard !resume || perImage != nil else { throw ValidationError("--resume needs --per-image, the file to go on from") }
        _ = try rgbTriple(mean, "--mean")
        _ = try rgbTriple(std, "--std")
    }

    func run() throws {
        var problems = 0
        try Camkit.guarded {
            let m = try CAMModel(contentsOf: fileURL(model), limits: limitOptions.limits)
            let names = try labels.map { path throws(CAMError) in try readLabels(path) }
            guard let classCount = try m.summary().outputs.first?.shape.last, classCount >= 1 else {
                throw CAMError(.unsupported, "\(model): the first output is not a vector of class scores")
            }
            var options = EvalOptions()
            options.method = EvalMethod(name: method)!
            options.threshold = threshold
            options.targetLayer = targetLayer
            options.preprocessing = Preprocessing(mean: try rgbTriple(mean, "--mean") ?? Preprocessing.imageNetMean,
                                                  std: try rgbTriple(std, "--std") ?? Preprocessing.imageNetStd,
                                                  resize: Preprocessing.Resize(rawValue: resize)!)
            options.maxPixels = maxPixels
            options.threads = threads ?? 0
            try Evaluation.checkMethod(model: m, options: options)

            let dataset = try EvalDataset.load(images: fileURL(images), annotations: fileURL(annotations), labels: names, classCount: classCount)
            for p in dataset.problems { reportProblem(p.description) }
            problems = dataset.problems.count

            var tally = EvalTally()
            var items = dataset.items
            let writer = try perImage.map { path throws(CAMError) in
                try PerImageWriter(url: fileURL(path), run: try runIdentity(options))
            }
            if let writer { try begin(writer, items: &items, tally: &tally) }

            let failures = Counter()
            let bar = ProgressBar(total: items.count)
            tally = try Evaluation.run(items, model: m, options: options, tally: tally, onEvent: { event throws(CAMError) in
                switch event {
                case .scored(let o): try writer?.append(o)
                case .failed(let item, let error):
                    bar.clear()
                    reportProblem(error.message.contains(item.file) ? error.message : "\(item.file): \(error.message)")
                    failures.increment()
                }
            }, onProgress: { done, total in bar.update(done) })
            bar.clear()
            try writer?.finish()
            problems += failures.value

            guard let metrics = tally.metrics else {
                throw CAMError(.argument, "no image could be scored (\(dataset.imageCount) images found, \(problems) problems listed above)")
            }
            let object = jsonObject(metrics, images: dataset.imageCount, problems: problems, options: options)
            if let output { try OutputFile.writeAtomically(Array((try line(object) + "\n").utf8), to: fileURL(output)) }
            print(json ? try line(object) : table(metrics, images: dataset.imageCount, options: options))
            if problems > 0 {
                reportProblem("\(problems) problem\(problems == 1 ? "" : "s") listed above; the score covers \(metrics.n) of \(dataset.imageCount) images")
            }
        }
        if problems > 0 { throw ExitCode(1) }
    }

    /// With --resume, carries the rows of an interrupted run over into the
    /// new per-image file and the tally; then the file becomes the partial one.
    func begin(_ writer: PerImageWriter, items: inout [EvalItem], tally: inout EvalTally) throws(CAMError) {
        do throws(CAMError) {
            if resume {
                let resumed = try writer.carryOver(items)
                if let source = resumed.source {
                    let note = resumed.droppedPartialLine ? " (its last line was cut short; that image is scored again)" : ""
                    FileHandle.standardError.write(Data("camkit: resuming from '\(source.path)': \(resumed.tally.n) images already scored\(note)\n".utf8))
                } else {
                    FileHandle.standardError.write(Data("camkit: nothing to resume from ('\(writer.url.path)' does not exist); starting afresh\n".utf8))
                }
                tally = resumed.tally
                items.removeAll { resumed.done.contains($0.file) }
            }
            try writer.start()
        } catch {
            writer.abandon()
            throw error
        }
    }

    /// The method, threshold and a fingerprint of the model file and the
    /// settings that change the rows, recorded on every per-image row.
    func runIdentity(_ options: EvalOptions) throws(CAMError) -> PerImageFile.Run {
        guard let data = FileManager.default.contents(atPath: model) else { throw CAMError(.io, "cannot read '\(model)'") }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ bytes: some Sequence<UInt8>) { for b in bytes { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 } }
        data.withUnsafeBytes { mix($0) }
        let p = options.preprocessing
        mix("|\(options.targetLayer ?? "")|\(p.mean)|\(p.std)|\(p.resize.rawValue)|".utf8)
        let hex = String(hash, radix: 16)
        return PerImageFile.Run(method: options.method.description, threshold: options.threshold,
                                settings: String(repeating: "0", count: 16 - hex.count) + hex)
    }

    func jsonObject(_ m: EvalMetrics, images: Int, problems: Int, options: EvalOptions) -> [String: Any] {
        ["n": m.n, "cls_top1_err": m.clsTop1Err, "cls_top5_err": m.clsTop5Err, "loc_top1_err": m.locTop1Err,
         "loc_top5_err": m.locTop5Err, "gt_known_loc_acc": m.gtKnownLocAcc, "max_box_acc": m.maxBoxAcc,
         "max_box_acc_threshold": m.maxBoxAccThreshold, "box_acc_per_threshold": m.boxAccPerThreshold,
         "images": images, "problems": problems, "method": options.method.description, "threshold": options.threshold]
    }

    func line(_ object: [String: Any]) throws(CAMError) -> String {
        do { return try jsonLine(object) } catch { throw CAMError(.internal, "cannot format the scores: \(error)") }
    }

    func table(_ m: EvalMetrics, images: Int, options: EvalOptions) -> String {
        func row(_ name: String, _ value: Double, _ extra: String = "") -> String {
            let count = Int((value * Double(m.n)).rounded())
            return name.padding(toLength: 30, withPad: " ", startingAt: 0) + String(format: "%.4f  %6d/%d", value, count, m.n) + extra
        }
        return [
            "\(URL(fileURLWithPath: model).lastPathComponent), \(options.method), threshold \(options.threshold): \(m.n) of \(images) images scored",
            row("classification top-1 error", m.clsTop1Err),
            row("classification top-5 error", m.clsTop5Err),
            row("localization top-1 error", m.locTop1Err),
            row("localization top-5 error", m.locTop5Err),
            row("GT-known localization acc.", m.gtKnownLocAcc),
            row("MaxBoxAcc", m.maxBoxAcc, String(format: "  at threshold %.2f", m.maxBoxAccThreshold)),
        ].joined(separator: "\n")
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

func reportProblem(_ message: String) {
    FileHandle.standardError.write(Data("camkit: error: \(message)\n".utf8))
}

/// `[#####.....] 120/300  85.3 images/s  ETA 0:02` on stderr, when it is a terminal.
final class ProgressBar: Sendable {
    let total: Int
    let enabled: Bool
    let start = DispatchTime.now()
    /// Whether the bar is on screen, and when it was last drawn (ns).
    private let state = Mutex((shown: false, drawn: UInt64(0)))

    init(total: Int) {
        self.total = total
        enabled = total > 1 && isatty(2) != 0
    }

    /// Redraws at most ten times a second, and always at the end.
    func update(_ done: Int) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        let due = state.withLock { s in
            guard done == total || now - s.drawn >= 100_000_000 else { return false }
            s = (true, now)
            return true
        }
        guard due else { return }
        let seconds = Double(now - start.uptimeNanoseconds) / 1e9
        let rate = seconds > 0 ? Double(done) / seconds : 0
        let remaining = rate > 0 ? Int((Double(total - done) / rate).rounded()) : 0
        let width = 30, filled = width * done / max(total, 1)
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let eta = String(format: "%d:%02d", remaining / 60, remaining % 60)
        FileHandle.standardError.write(Data(String(format: "\r\u{1B}[K[%@] %d/%d  %.1f images/s  ETA %@", bar, done, total, rate, eta).utf8))
    }

    /// Takes the bar off the screen (before a message, and at the end); the next update redraws it.
    func clear() {
        guard enabled, state.withLock({ s in defer { s = (false, 0) }; return s.shown }) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
