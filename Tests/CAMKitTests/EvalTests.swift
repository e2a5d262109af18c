import Foundation
import Synchronization
import Testing
@testable import CAMKit

/// `camkit eval`'s protocol against the Digits-WSOL dev split
/// (../shared/wsol): every metric of reference.json within 0.5 percentage
/// points, and the boxes of per_image.csv, both made by PyTorch, SciPy and
/// OpenCV, never by camkit.
@Suite(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.wsol.appendingPathComponent("reference.json").path),
                "../shared/wsol is not there"))
struct EvalTests {
    struct Config: CustomTestStringConvertible, Sendable {
        let key: String, model: String, method: EvalMethod
        var testDescription: String { key }
    }

    static let configs = [
        Config(key: "gap_cam", model: "gap", method: .map(.cam)),
        Config(key: "gap_gradcam", model: "gap", method: .map(.gradCAM)),
        Config(key: "gmp_cam", model: "gmp", method: .map(.cam)),
        Config(key: "gap_backprop", model: "gap", method: .backprop),
    ]

    static func reference() throws -> [String: Any] {
        let data = try Data(contentsOf: Fixtures.wsol.appendingPathComponent("reference.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }

    /// per_image.csv as one dictionary per row, keyed by file.
    static func perImageReference() throws -> [String: [String: String]] {
        let text = try String(contentsOf: Fixtures.wsol.appendingPathComponent("per_image.csv"), encoding: .utf8)
        let records = try CSV.records(text, name: "per_image.csv")
        let header = records[0].fields
        var rows: [String: [String: String]] = [:]
        for r in records.dropFirst() { rows[r.fields[0]] = Dictionary(uniqueKeysWithValues: zip(header, r.fields)) }
        return rows
    }

    static func dataset(model: CAMModel) throws -> EvalDataset {
        try EvalDataset.load(images: Fixtures.wsol.appendingPathComponent("images"),
                             annotations: Fixtures.wsol.appendingPathComponent("annotations.csv"), classCount: 10)
    }

    static func model(_ name: String) throws -> CAMModel {
        try CAMModel(contentsOf: Fixtures.wsol.appendingPathComponent("digits_\(name).onnx"))
    }

    static func options(_ method: EvalMethod) -> EvalOptions {
        var o = EvalOptions()
        o.method = method
        o.threads = 2
        return o
    }

    /// Runs a configuration and collects every outcome in image order.
    static func evaluate(_ c: Config) throws -> (tally: EvalTally, outcomes: [ImageOutcome]) {
        let m = try model(c.model)
        let data = try dataset(model: m)
        #expect(data.problems.isEmpty && data.items.count == 300)
        let outcomes = Mutex<[ImageOutcome]>([])
        let tally = try Evaluation.run(data.items, model: m, options: options(c.method), onEvent: { event throws(CAMError) in
            switch event {
            case .scored(let o): outcomes.withLock { $0.append(o) }
            case .failed(let item, let e): Issue.record("\(item.file): \(e.message)")
            }
        })
        return (tally, outcomes.withLock { $0 })
    }

    @Test(arguments: configs)
    func metricsAndBoxesMatchTheReference(_ c: Config) throws {
        let reference = try Self.reference()
        let rows = try Self.perImageReference()
        let (tally, outcomes) = try Self.evaluate(c)
        let metrics = try #require(tally.metrics)
        #expect(metrics.n == 300)
        #expect(outcomes.map(\.file) == outcomes.map(\.file).sorted(), "outcomes arrive in image order")

        let models = reference["models"] as! [String: [String: Any]]
        let methods = reference["methods"] as! [String: [String: Any]]
        let modelRef = models[c.model]!, methodRef = methods[c.key]!
        let pairs: [(String, Double, Double)] = [
            ("cls_top1_err", metrics.clsTop1Err, modelRef["top1_error"] as! Double),
            ("cls_top5_err", metrics.clsTop5Err, modelRef["top5_error"] as! Double),
            ("loc_top1_err", metrics.locTop1Err, methodRef["top1_loc_error"] as! Double),
            ("loc_top5_err", metrics.locTop5Err, methodRef["top5_loc_error"] as! Double),
            ("gt_known_loc_acc", metrics.gtKnownLocAcc, methodRef["gt_known_loc_acc"] as! Double),
            ("max_box_acc", metrics.maxBoxAcc, methodRef["max_box_acc"] as! Double),
        ]
        for (name, ours, theirs) in pairs {
            #expect(abs(ours - theirs) <= 0.005, "\(c.key) \(name): \(ours) vs reference \(theirs)")
        }
        let perThreshold = methodRef["box_acc_per_threshold"] as! [Double]
        for (i, (ours, theirs)) in zip(metrics.boxAccPerThreshold, perThreshold).enumerated() {
            #expect(abs(ours - theirs) <= 0.005, "\(c.key) box accuracy at t = \(i) / 100: \(ours) vs reference \(theirs)")
        }

        // Per-image: the top-5 classes, the top-1 box and the true class's box.
        var same = 0, total = 0
        for o in outcomes {
            let r = try #require(rows[o.file])
            #expect(o.predictions == (1...5).map { Int(r["\(c.model)_pred\($0)"]!)! }, "\(o.file) top-5")
            #expect(o.labels == [Int(r["label"]!)!])
            for (kind, box) in [("top1", o.top1Box), ("gt", o.gtBox)] {
                let expected = ["x_min", "y_min", "x_max", "y_max"].map { Int(r["\(c.key)_\(kind)_\($0)"]!)! }
                total += 1
                if let box, [box.xMin, box.yMin, box.xMax, box.yMax] == expected { same += 1 }
            }
        }
        #expect(Double(same) >= 0.99 * Double(total), "\(c.key): \(same) of \(total) boxes equal the reference's")
    }

    /// An interrupted run resumes from its partial per-image file: the rows
    /// there are read back, not recomputed (one of them is doctored, and the
    /// doctored value is what counts), the cut-off last line is scored again,
    /// and the finished file holds every image once.
    @Test func resumeReadsRowsBackInsteadOfRecomputing() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-resume-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("per_image.csv")
        let m = try Self.model("gap")
        let items = try Self.dataset(model: m).items
        let options = Self.options(.map(.cam))
        let run = PerImageFile.Run(method: "cam", threshold: 0.2, settings: "test")

        // The first run stops after 120 images, leaving half a line behind.
        let first = try PerImageWriter(url: url, run: run)
        try first.start()
        _ = try Evaluation.run(Array(items.prefix(120)), model: m, options: options, onEvent: { event throws(CAMError) in
            if case .scored(let o) = event { try first.append(o) }
        })
        let partial = PerImageFile.partialURL(for: url)
        var text = try String(contentsOf: partial, encoding: .utf8)
        // Doctor dev_0000 (a GT-known miss in the reference) into a hit.
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let doctored = try #require(lines.firstIndex { $0.hasPrefix("dev_0000.png,") })
        var fields = lines[doctored].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        #expect(fields[24] == "0")
        fields[24] = "1"
        lines[doctored] = fields.joined(separator: ",")
        text = lines.joined(separator: "\n") + "dev_0120.png,96,96,7,7,5"
        try text.write(to: partial, atomically: false, encoding: .utf8)

        let second = try PerImageWriter(url: url, run: run)
        let resumed = try second.carryOver(items)
        #expect(resumed.source == partial && resumed.droppedPartialLine && resumed.done.count == 120)
        try second.start()
        let rest = items.filter { !resumed.done.contains($0.file) }
        #expect(rest.count == 180)
        let tally = try Evaluation.run(rest, model: m, options: options, tally: resumed.tally, onEvent: { event throws(CAMError) in
            if case .scored(let o) = event { try second.append(o) }
        })
        try second.finish()
        #expect(!FileManager.default.fileExists(atPath: partial.path))

        let counts = (try Self.reference()["methods"] as! [String: [String: Any]])["gap_cam"]!["counts"] as! [String: Int]
        #expect(tally.n == 300)
        #expect(tally.gtKnownCorrect == counts["gt_known_correct"]! + 1, "the doctored row counts as read")
        #expect(tally.locTop1Correct == counts["top1_loc_correct"]!)
        #expect(tally.hitsPerThreshold.max() == counts["max_box_acc_correct"]!)

        var files: [String] = []
        let read = try PerImageFile.read(Array(try Data(contentsOf: url)), name: url.path, run: run) { o throws(CAMError) in files.append(o.file) }
        #expect(read.rows == 300 && !read.droppedPartialLine && Set(files) == Set(items.map(\.file)))
        #expect(files == files.sorted(), "rows stay in image order")

        // Rows of another run are refused.
        let other = PerImageFile.Run(method: "gradcam", threshold: 0.2, settings: "test")
        #expect(throws: CAMError.self) { try PerImageWriter(url: url, run: other).carryOver(items) }
    }
}
