#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// The per-image CSV of `camkit eval`: one row per scored image with its
/// predictions, boxes, IoUs and everything the metrics need (the flags and
/// the GT-known hit at each MaxBoxAcc threshold as 100 characters 0/1), so
/// that an interrupted run can resume from it and count its rows again
/// without recomputing them.
///
/// While a run goes on, rows are appended in image order to
/// `.<name>.partial` beside the target and handed to the kernel as each
/// image finishes; the file is renamed to its name at the end.
public enum PerImageFile {
    /// What produced the rows; a resumed run must match it.
    public struct Run: Sendable, Equatable {
        public var method: String
        public var threshold: Double
        /// A fingerprint of everything else that changes the rows (model,
        /// target layer, preprocessing), as the caller computes it.
        public var settings: String
        public init(method: String, threshold: Double, settings: String) {
            self.method = method; self.threshold = threshold; self.settings = settings
        }
    }

    public static let columns = [
        "file", "width", "height", "labels", "pred1", "pred2", "pred3", "pred4", "pred5",
        "top1_x_min", "top1_y_min", "top1_x_max", "top1_y_max", "top1_iou",
        "gt_class", "gt_x_min", "gt_y_min", "gt_x_max", "gt_y_max", "gt_iou",
        "cls_top1", "cls_top5", "loc_top1", "loc_top5", "gt_known", "gt_known_hits",
        "method", "threshold", "settings",
    ]

    public static var header: String { columns.joined(separator: ",") + "\n" }

    /// Where a run in progress keeps its rows.
    public static func partialURL(for url: URL) -> URL {
        url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).partial")
    }

    public static func row(_ o: ImageOutcome, run: Run) -> String {
        func box(_ b: Box?) -> [String] { b.map { ["\($0.xMin)", "\($0.yMin)", "\($0.xMax)", "\($0.yMax)"] } ?? ["", "", "", ""] }
        func flag(_ b: Bool) -> String { b ? "1" : "0" }
        var fields = [CSV.escape(o.file), "\(o.width)", "\(o.height)", o.labels.map(String.init).joined(separator: ";")]
        fields += (0..<5).map { $0 < o.predictions.count ? "\(o.predictions[$0])" : "" }
        fields += box(o.top1Box) + [formatIoU(o.top1IoU), "\(o.gtClass)"] + box(o.gtBox) + [formatIoU(o.gtIoU)]
        fields += [o.clsTop1, o.clsTop5, o.locTop1, o.locTop5, o.gtKnown].map(flag)
        fields.append(String(o.hits.map { $0 ? "1" : "0" }))
        fields += [CSV.escape(run.method), "\(run.threshold)", CSV.escape(run.settings)]
        return fields.joined(separator: ",") + "\n"
    }

    /// IoU with 6 decimals (for reading; the flags carry the decisions).
    static func formatIoU(_ v: Double) -> String {
        let scaled = Int((v * 1_000_000).rounded())
        let whole = scaled / 1_000_000, fraction = scaled % 1_000_000
        let digits = String(fraction)
        return "\(whole)." + String(repeating: "0", count: 6 - digits.count) + digits
    }

    /// Reads a per-image file, calling `body` with each row in order. A last
    /// line without its line break (a write cut short) is left out and
    /// reported through the return value; any other malformed row, a row of
    /// another run, or a file listed twice is an error naming the line.
    @discardableResult
    public static func read(_ bytes: [UInt8], name: String, run: Run,
                            _ body: (ImageOutcome) throws(CAMError) -> Void) throws(CAMError) -> (rows: Int, droppedPartialLine: Bool) {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CAMError(.format, "\(name): not UTF-8 text") }
        let records = try CSV.records(text, name: name)
        guard let first = records.first else { return (0, false) }
        guard first.fields == columns else {
            throw CAMError(.format, "\(name):\(first.line): not a camkit eval per-image file (the header differs from \(columns.joined(separator: ",")))")
        }
        var seen = Set<String>()
        var count = 0
        for record in records.dropFirst() {
            if !record.terminated { return (count, true) }
            let o = try outcome(record, name: name, run: run)
            guard seen.insert(o.file).inserted else { throw CAMError(.format, "\(name):\(record.line): '\(o.file)' is listed twice") }
            try body(o)
            count += 1
        }
        return (count, false)
    }

    static func outcome(_ record: CSV.Record, name: String, run: Run) throws(CAMError) -> ImageOutcome {
        let f = record.fields
        func bad(_ what: String) -> CAMError { CAMError(.format, "\(name):\(record.line): \(what)") }
        guard f.count == columns.count else { throw bad("\(f.count) fields where the header has \(columns.count)") }
        func int(_ i: Int) throws(CAMError) -> Int {
            guard let v = Int(f[i]) else { throw bad("\(columns[i]) '\(f[i])' is not an integer") }
            return v
        }
        func double(_ i: Int) throws(CAMError) -> Double {
            guard let v = Double(f[i]), v.isFinite else { throw bad("\(columns[i]) '\(f[i])' is not a number") }
            return v
        }
        func flag(_ i: Int) throws(CAMError) -> Bool {
            guard f[i] == "0" || f[i] == "1" else { throw bad("\(columns[i]) '\(f[i])' is not 0 or 1") }
            return f[i] == "1"
        }
        func box(_ i: Int) throws(CAMError) -> Box? {
            if f[i..<(i + 4)].allSatisfy(\.isEmpty) { return nil }
            return Box(xMin: try int(i), yMin: try int(i + 1), xMax: try int(i + 2), yMax: try int(i + 3))
        }
        let rowRun = Run(method: f[26], threshold: try double(27), settings: f[28])
        guard rowRun == run else {
            throw bad("the row was made by another run (method \(rowRun.method), threshold \(rowRun.threshold), settings \(rowRun.settings); this run: \(run.method), \(run.threshold), \(run.settings)); start afresh without --resume or with the same settings")
        }
        var labels: [Int] = []
        for part in f[3].split(separator: ";", omittingEmptySubsequences: false) {
            guard let c = Int(part), c >= 0 else { throw bad("labels '\(f[3])' is not a list of class indices separated by ';'") }
            labels.append(c)
        }
        guard !labels.isEmpty else { throw bad("labels is empty") }
        var predictions: [Int] = []
        for i in 4..<9 where !f[i].isEmpty { predictions.append(try int(i)) }
        guard !predictions.isEmpty else { throw bad("pred1 is empty") }
        let hitsText = Array(f[25].utf8)
        guard hitsText.count == EvalTally.thresholdCount, hitsText.allSatisfy({ $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: "1") }) else {
            throw bad("gt_known_hits must be \(EvalTally.thresholdCount) characters 0 or 1")
        }
        let o = ImageOutcome(
            file: f[0], width: try int(1), height: try int(2), labels: labels, predictions: predictions,
            top1Box: try box(9), top1IoU: try double(13), gtClass: try int(14), gtBox: try box(15), gtIoU: try double(19),
            clsTop1: try flag(20), clsTop5: try flag(21), locTop1: try flag(22), locTop5: try flag(23), gtKnown: try flag(24),
            hits: hitsText.map { $0 == UInt8(ascii: "1") })
        // The flags that follow from the classes must agree with them.
        guard o.clsTop1 == labels.contains(predictions[0]), o.clsTop5 == predictions.contains(where: labels.contains),
              !o.locTop1 || o.clsTop1, !o.locTop5 || o.clsTop5 else {
            throw bad("the classification flags disagree with labels and predictions")
        }
        return o
    }
}

/// Appends rows as images finish. The rows go to a fresh temporary file;
/// `start` renames it to the partial file (replacing, atomically, the one a
/// resumed run read its rows from, which the caller has appended first);
/// `finish` renames it to its name.
public final class PerImageWriter: @unchecked Sendable {
    public let url: URL
    public let run: PerImageFile.Run
    private let file: AppendFile

    public init(url: URL, run: PerImageFile.Run) throws(CAMError) {
        self.url = url
        self.run = run
        file = try AppendFile(creating: OutputFile.temporaryURL(for: url))
        do throws(CAMError) { try file.write(PerImageFile.header) } catch {
            unlink(file.url.path)
            throw error
        }
    }

    public func append(_ o: ImageOutcome) throws(CAMError) { try file.write(PerImageFile.row(o, run: run)) }

    /// Resuming: reads the rows of an interrupted run (`url`'s partial file,
    /// else the finished file, else nothing) and appends them to this one.
    /// Every row must belong to one of `items`, with the same true classes.
    /// Returns their counts, their files and where they came from.
    public func carryOver(_ items: [EvalItem]) throws(CAMError) -> (tally: EvalTally, done: Set<String>, source: URL?, droppedPartialLine: Bool) {
        let partial = PerImageFile.partialURL(for: url)
        guard let source = [partial, url].first(where: { FileManager.default.fileExists(atPath: $0.path) }) else {
            return (EvalTally(), [], nil, false)
        }
        guard let data = FileManager.default.contents(atPath: source.path) else { throw CAMError(.io, "cannot read '\(source.path)'") }
        var byFile: [String: EvalItem] = [:]
        for item in items { byFile[item.file] = item }
        var done = Set<String>()
        var tally = EvalTally()
        let result = try PerImageFile.read([UInt8](data), name: source.path, run: run) { o throws(CAMError) in
            guard let item = byFile[o.file] else {
                throw CAMError(.argument, "\(source.path): '\(o.file)' is not among the images to score; the file belongs to another data set")
            }
            guard item.classes == o.labels else {
                throw CAMError(.argument, "\(source.path): '\(o.file)' has the classes \(o.labels) there but \(item.classes) in the annotations, which changed since")
            }
            try append(o)
            tally.add(o)
            done.insert(o.file)
        }
        return (tally, done, source, result.droppedPartialLine)
    }

    /// From now on the rows are in `url`'s partial file, for --resume.
    public func start() throws(CAMError) { try file.move(to: PerImageFile.partialURL(for: url)) }

    /// Flushes the file to the disk and renames it to `url`.
    public func finish() throws(CAMError) {
        try file.close()
        try file.move(to: url)
    }

    /// Removes a temporary file that never became the partial one.
    public func abandon() {
        if file.url != PerImageFile.partialURL(for: url) { unlink(file.url.path) }
    }
}
