/// Ground-truth boxes for `camkit eval`, read from a CSV file
/// (`file,label,x_min,y_min,x_max,y_max`, one row per object) or from
/// PASCAL VOC / ImageNet-style XML files (several `<object>`s per image).
/// Boxes are 0-based inclusive pixel coordinates, as camkit's own boxes
/// (nothing is subtracted from XML coordinates).
///
/// The readers are pure functions over bytes. A problem in one row or
/// object is collected with its file and line, and the image it belongs to
/// is marked invalid (it is not scored with half its boxes); problems with
/// the whole file (no header, malformed XML) are thrown.

/// One ground-truth object.
public struct GroundTruthObject: Sendable, Equatable {
    public var classIndex: Int
    public var box: Box
    /// Where it was read, e.g. "annotations.csv:12" or "dev_0001.xml:14".
    public var source: String

    public init(classIndex: Int, box: Box, source: String) {
        self.classIndex = classIndex
        self.box = box
        self.source = source
    }
}

/// The annotation of one image as a file states it, before it is matched
/// with an image file.
public struct AnnotatedImage: Sendable, Equatable {
    /// The image as the annotation names it: a path relative to the images
    /// folder, a file name, or (ImageNet) a name without extension.
    public var file: String
    public var objects: [GroundTruthObject]
    /// The size an XML `<size>` declares, checked against the decoded image.
    public var declaredSize: ImageSize?
    /// Where the annotation starts ("annotations.csv:2", "dev_0001.xml").
    public var source: String
    /// False when a row or object of this image had a problem: the image is
    /// then not scored.
    public var isValid: Bool = true
}

public struct ImageSize: Sendable, Equatable, CustomStringConvertible {
    public var width: Int, height: Int
    public init(width: Int, height: Int) { self.width = width; self.height = height }
    public var description: String { "\(width)x\(height)" }
}

/// Something wrong with one item (a row, an object, a file, an image).
public struct EvalProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// File and line, or the image, at fault.
    public var source: String
    public var message: String
    public init(source: String, message: String) { self.source = source; self.message = message }
    /// "source: message", or the message alone when it already starts with the source.
    public var description: String { message.hasPrefix(source) ? message : "\(source): \(message)" }
}

/// The images a file annotates, in order of first appearance, and the
/// problems met on the way.
public struct AnnotationSet: Sendable {
    public var images: [AnnotatedImage] = []
    public var problems: [EvalProblem] = []
    public init(images: [AnnotatedImage] = [], problems: [EvalProblem] = []) { self.images = images; self.problems = problems }
}

public enum Annotations {
    static let csvColumns = ["file", "label", "x_min", "y_min", "x_max", "y_max"]

    /// Reads a CSV with a header naming at least the columns
    /// file,label,x_min,y_min,x_max,y_max (in any order; others are ignored).
    /// Several rows may name the same file (one per object).
    public static func parseCSV(_ bytes: [UInt8], name: String, labels: [String]? = nil) throws(CAMError) -> AnnotationSet {
        guard let text = String(validating: bytes, as: UTF8.self) else { throw CAMError(.format, "\(name): not UTF-8 text") }
        let records = try CSV.records(text, name: name)
        guard let header = records.first else { throw CAMError(.format, "\(name): the file is empty (expected the header \(csvColumns.joined(separator: ",")))") }
        let names = header.fields.map { $0.trimmingSpaces.lowercased() }
        var column: [String: Int] = [:]
        for wanted in csvColumns {
            guard let i = names.firstIndex(of: wanted) else {
                throw CAMError(.format, "\(name):\(header.line): the header has no column '\(wanted)' (it must name \(csvColumns.joined(separator: ",")); found \(header.fields.joined(separator: ",")))")
            }
            column[wanted] = i
        }
        var set = AnnotationSet()
        var index: [String: Int] = [:]
        for record in records.dropFirst() {
            let source = "\(name):\(record.line)"
            guard record.fields.count == header.fields.count else {
                let fileColumn = column["file"]!
                let file = fileColumn < record.fields.count ? record.fields[fileColumn].trimmingSpaces : ""
                let what = file.isEmpty ? "" : "\(file): "
                set.problems.append(EvalProblem(source: source, message: "\(what)\(record.fields.count) fields where the header has \(header.fields.count)\(file.isEmpty ? "" : "; the image is not scored")"))
                if !file.isEmpty { invalidate(file, in: &set, index: &index, source: source) }
                continue
            }
            func field(_ c: String) -> String { record.fields[column[c]!].trimmingSpaces }
            let file = field("file")
            guard !file.isEmpty else {
                set.problems.append(EvalProblem(source: source, message: "the file name is empty"))
                continue
            }
            let object = parseObject(label: field("label"), coordinates: ["x_min", "y_min", "x_max", "y_max"].map { ($0, field($0)) },
                                     labels: labels, source: source, file: file)
            switch object {
            case .success(let o):
                if let i = index[file] { set.images[i].objects.append(o) } else {
                    index[file] = set.images.count
                    set.images.append(AnnotatedImage(file: file, objects: [o], source: source))
                }
            case .failure(let problem):
                set.problems.append(problem)
                invalidate(file, in: &set, index: &index, source: source)
            }
        }
        return set
    }

    private static func invalidate(_ file: String, in set: inout AnnotationSet, index: inout [String: Int], source: String) {
        if let i = index[file] { set.images[i].isValid = false } else {
            index[file] = set.images.count
            set.images.append(AnnotatedImage(file: file, objects: [], source: source, isValid: false))
        }
    }

    /// Reads one PASCAL VOC / ImageNet XML annotation: `<annotation>` with
    /// `<filename>` (the XML file's own name without extension when absent),
    /// an optional `<size>`, and `<object>`s with `<name>` and `<bndbox>`.
    /// Other elements (pose, truncated, difficult, parts) are ignored.
    public static func parseVOC(_ bytes: [UInt8], name: String, labels: [String]? = nil) throws(CAMError) -> (image: AnnotatedImage, problems: [EvalProblem]) {
        let root = try XMLReader.parse(bytes, name: name)
        guard root.name == "annotation" else {
            throw CAMError(.format, "\(name):\(root.line): the root element is <\(root.name)>, expected <annotation>")
        }
        var problems: [EvalProblem] = []
        var file = root.child("filename")?.text.trimmingSpaces ?? ""
        if file.isEmpty {
            let base = name.split(separator: "/").last.map(String.init) ?? name
            file = base.hasSuffix(".xml") ? String(base.dropLast(4)) : base
        }
        var image = AnnotatedImage(file: file, objects: [], source: name)
        if let size = root.child("size") {
            let w = size.child("width").flatMap { coordinate($0.text) }, h = size.child("height").flatMap { coordinate($0.text) }
            if let w, let h, w >= 1, h >= 1 {
                image.declaredSize = ImageSize(width: w, height: h)
            } else {
                problems.append(EvalProblem(source: "\(name):\(size.line)", message: "<size> needs a positive whole <width> and <height>"))
                image.isValid = false
            }
        }
        let objects = root.children("object")
        if objects.isEmpty {
            problems.append(EvalProblem(source: name, message: "no <object>: the image '\(file)' has no ground-truth box"))
            image.isValid = false
        }
        for o in objects {
            let source = "\(name):\(o.line)"
            guard let label = o.child("name")?.text.trimmingSpaces, !label.isEmpty else {
                problems.append(EvalProblem(source: source, message: "<object> without a <name>"))
                image.isValid = false
                continue
            }
            guard let box = o.child("bndbox") else {
                problems.append(EvalProblem(source: source, message: "<object> '\(label)' without a <bndbox>"))
                image.isValid = false
                continue
            }
            let coordinates = ["xmin", "ymin", "xmax", "ymax"].map { ($0, box.child($0)?.text.trimmingSpaces ?? "") }
            switch parseObject(label: label, coordinates: coordinates, labels: labels, source: source, file: file) {
            case .success(let object): image.objects.append(object)
            case .failure(let problem):
                problems.append(problem)
                image.isValid = false
            }
        }
        return (image, problems)
    }

    /// A class name or index and four coordinates, checked: whole numbers,
    /// not negative, not inverted.
    static func parseObject(label: String, coordinates: [(String, String)], labels: [String]?, source: String,
                            file: String) -> Result<GroundTruthObject, EvalProblem> {
        func problem(_ m: String) -> Result<GroundTruthObject, EvalProblem> {
            .failure(EvalProblem(source: source, message: "\(file): \(m); the image is not scored"))
        }
        guard let c = classIndex(label, labels: labels) else {
            if label.isEmpty { return problem("the class label is empty") }
            if labels != nil { return problem("unknown class '\(label)': neither a line of the labels file nor a class index") }
            return problem("class '\(label)' is not a class index (give a labels file to map class names)")
        }
        var v: [Int] = []
        for (column, text) in coordinates {
            guard !text.isEmpty else { return problem("\(column) is missing") }
            guard let x = coordinate(text) else {
                return problem("\(column) '\(text)' is not a whole pixel coordinate")
            }
            v.append(x)
        }
        let box = Box(xMin: v[0], yMin: v[1], xMax: v[2], yMax: v[3])
        if box.xMin > box.xMax || box.yMin > box.yMax {
            return problem("inverted box \(box): x_min must not exceed x_max nor y_min y_max (inclusive coordinates)")
        }
        if v.contains(where: { $0 < 0 }) {
            return problem("box \(box) lies outside the image (negative coordinate)")
        }
        return .success(GroundTruthObject(classIndex: c, box: box, source: source))
    }

    /// A class: its line in `labels` when given and found, else a plain
    /// non-negative index.
    public static func classIndex(_ label: String, labels: [String]?) -> Int? {
        let t = label.trimmingSpaces
        if let labels, let i = labels.firstIndex(of: t) { return i }
        guard !t.isEmpty, t.utf8.count <= 9, t.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int(t)
    }

    /// A whole number, optionally negative, optionally with a fraction of
    /// zeros ("23", "-4", "23.0"; not "23.5", "2e1", "0x10").
    static func coordinate(_ text: String) -> Int? {
        var t = Substring(text.trimmingSpaces)
        var negative = false
        if t.hasPrefix("-") { negative = true; t = t.dropFirst() }
        if let dot = t.firstIndex(of: ".") {
            guard t[t.index(after: dot)...].allSatisfy({ $0 == "0" }) else { return nil }
            t = t[..<dot]
        }
        guard !t.isEmpty, t.count <= 9, t.allSatisfy({ $0.isASCII && $0.isNumber }), let v = Int(t) else { return nil }
        return negative ? -v : v
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and line breaks.
    var trimmingSpaces: String {
        let scalars = unicodeScalars
        func isSpace(_ s: Unicode.Scalar) -> Bool { s == " " || s == "\t" || s == "\n" || s == "\r" }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(scalars[first...last])
    }
}
