#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// One image to score: its file and its ground truth.
public struct EvalItem: Sendable, Equatable {
    /// The path relative to the images folder (the per-image file's key).
    public var file: String
    public var url: URL
    public var objects: [GroundTruthObject]
    public var declaredSize: ImageSize?

    public init(file: String, url: URL, objects: [GroundTruthObject], declaredSize: ImageSize? = nil) {
        self.file = file
        self.url = url
        self.objects = objects
        self.declaredSize = declaredSize
    }

    /// The true classes, ascending, each once.
    public var classes: [Int] { Array(Set(objects.map(\.classIndex))).sorted() }
}

/// The images of a folder matched with their annotations. Every image
/// without an annotation, annotation without an image, and invalid
/// annotation is a problem; only the rest are items to score.
public struct EvalDataset: Sendable {
    public var items: [EvalItem]
    public var problems: [EvalProblem]
    /// Image files found in the folder.
    public var imageCount: Int

    /// Reads the images folder (recursively: .png, .jpg, .jpeg) and the
    /// annotations (a CSV file, or a folder of .xml files, recursively).
    public static func load(images: URL, annotations: URL, labels: [String]? = nil, classCount: Int) throws(CAMError) -> EvalDataset {
        let files = try listFiles(images, extensions: ["png", "jpg", "jpeg"], what: "images folder")
        guard !files.isEmpty else { throw CAMError(.argument, "'\(images.path)': the images folder holds no PNG or JPEG files") }
        let set = try readAnnotations(annotations, labels: labels)
        return assemble(images: files, root: images, annotations: set, classCount: classCount)
    }

    /// A CSV file or a folder of XML files. An XML file that cannot be read
    /// is a problem (its image then shows as not annotated); an empty folder
    /// is an error.
    public static func readAnnotations(_ url: URL, labels: [String]?) throws(CAMError) -> AnnotationSet {
        guard let isDirectory = directoryStatus(url) else {
            throw CAMError(.io, "'\(url.path)': no such file or directory")
        }
        guard isDirectory else {
            return try Annotations.parseCSV(try bytes(of: url), name: url.path, labels: labels)
        }
        let files = try listFiles(url, extensions: ["xml"], what: "annotations folder")
        guard !files.isEmpty else { throw CAMError(.argument, "'\(url.path)': the annotations folder holds no .xml files") }
        var set = AnnotationSet()
        for relative in files {
            let fileURL = url.appendingPathComponent(relative)
            do throws(CAMError) {
                let (image, problems) = try Annotations.parseVOC(try bytes(of: fileURL), name: fileURL.path, labels: labels)
                set.images.append(image)
                set.problems += problems
            } catch {
                set.problems.append(EvalProblem(source: fileURL.path, message: error.message))
            }
        }
        return set
    }

    /// Matches annotations with image files (paths relative to `root`): by
    /// relative path, else by file name, else (a name without extension, as
    /// ImageNet's XML files give) by name without extension; a name that
    /// fits several images is ambiguous.
    public static func assemble(images files: [String], root: URL, annotations set: AnnotationSet, classCount: Int) -> EvalDataset {
        var problems = set.problems
        var byPath: [String: Int] = [:], byName: [String: [Int]] = [:], byStem: [String: [Int]] = [:]
        for (i, f) in files.enumerated() {
            byPath[f] = i
            let name = baseName(f)
            byName[name, default: []].append(i)
            byStem[stem(name), default: []].append(i)
        }
        var annotationOf = [Int?](repeating: nil, count: files.count)
        var invalid = [Bool](repeating: false, count: files.count)
        for (a, annotation) in set.images.enumerated() {
            var key = annotation.file
            while key.hasPrefix("./") { key.removeFirst(2) }
            var candidates: [Int] = byPath[key].map { [$0] } ?? byName[baseName(key)] ?? []
            if candidates.isEmpty, !baseName(key).contains(Character(".")) { candidates = byStem[baseName(key)] ?? [] }
            guard candidates.count == 1 else {
                let message = candidates.isEmpty
                    ? "'\(annotation.file)' is annotated but is not an image in the images folder"
                    : "'\(annotation.file)' fits several images (\(candidates.map { files[$0] }.joined(separator: ", "))); name it by its path in the images folder"
                problems.append(EvalProblem(source: annotation.source, message: message))
                continue
            }
            let i = candidates[0]
            if let other = annotationOf[i] {
                problems.append(EvalProblem(source: annotation.source, message: "\(files[i]) is annotated again (first at \(set.images[other].source)); the image is not scored"))
                invalid[i] = true
                continue
            }
            annotationOf[i] = a
            if !annotation.isValid { invalid[i] = true }
            for o in annotation.objects where o.classIndex >= classCount {
                problems.append(EvalProblem(source: o.source, message: "\(files[i]): class \(o.classIndex) is out of range: the model has \(classCount) classes (0 to \(classCount - 1)); the image is not scored"))
                invalid[i] = true
            }
        }
        var items: [EvalItem] = []
        for (i, f) in files.enumerated() {
            guard let a = annotationOf[i] else {
                problems.append(EvalProblem(source: root.appendingPathComponent(f).path, message: "no annotation for this image; it is not scored"))
                continue
            }
            guard !invalid[i] else { continue }   // reported above
            items.append(EvalItem(file: f, url: root.appendingPathComponent(f), objects: set.images[a].objects,
                                  declaredSize: set.images[a].declaredSize))
        }
        return EvalDataset(items: items, problems: problems, imageCount: files.count)
    }

    /// Files under `dir` with one of `extensions` (case-insensitive), as
    /// paths relative to it, sorted.
    static func listFiles(_ dir: URL, extensions: Set<String>, what: String) throws(CAMError) -> [String] {
        guard let isDirectory = directoryStatus(dir) else {
            throw CAMError(.io, "'\(dir.path)': no such directory")
        }
        guard isDirectory else { throw CAMError(.argument, "'\(dir.path)': the \(what) is not a directory") }
        let all: [String]
        do { all = try FileManager.default.subpathsOfDirectory(atPath: dir.path) } catch {
            throw CAMError(.io, "'\(dir.path)': cannot read the \(what)")
        }
        return all.filter { path in
            guard let dot = path.lastIndex(of: "."), !path[dot...].contains(Character("/")) else { return false }
            return extensions.contains(path[path.index(after: dot)...].lowercased())
        }.sorted()
    }

    /// Whether `url` is a directory; nil when nothing is there.
    static func directoryStatus(_ url: URL) -> Bool? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        return (info.st_mode & S_IFMT) == S_IFDIR
    }

    static func bytes(of url: URL) throws(CAMError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: url.path) else { throw CAMError(.io, "cannot read '\(url.path)'") }
        return [UInt8](data)
    }

    static func baseName(_ path: String) -> String { path.split(separator: "/").last.map(String.init) ?? path }
    static func stem(_ name: String) -> String {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return name }
        return String(name[..<dot])
    }
}
