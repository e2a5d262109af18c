import Foundation
import Testing
@testable import CAMKit

/// The annotation readers (CSV, PASCAL VOC / ImageNet XML) and the matching
/// of annotations with image files, on good and bad input: each bad item is
/// reported with its file and line, and its image is not scored.
@Suite struct EvalAnnotationTests {
    static func csv(_ text: String, labels: [String]? = nil) throws -> AnnotationSet {
        try Annotations.parseCSV(Array(text.utf8), name: "a.csv", labels: labels)
    }

    static func box(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int) -> Box { Box(xMin: x0, yMin: y0, xMax: x1, yMax: y1) }

    @Test func csvRowsGroupByImage() throws {
        let set = try Self.csv("""
            \u{FEFF}file,label,x_min,y_min,x_max,y_max\r
            a.png,3,1,2,10,20\r
            "b, c.png",0,0,0,5,5\r
            a.png,7,4,4,8.0,9\r

            """)
        #expect(set.problems.isEmpty)
        #expect(set.images.map(\.file) == ["a.png", "b, c.png"])
        #expect(set.images[0].objects.map(\.classIndex) == [3, 7])
        #expect(set.images[0].objects.map(\.box) == [Self.box(1, 2, 10, 20), Self.box(4, 4, 8, 9)])
        #expect(set.images[0].objects[1].source == "a.csv:4")
        #expect(set.images.allSatisfy { $0.isValid })
    }

    @Test func csvColumnsByNameWithOthersIgnored() throws {
        let set = try Self.csv("y_max,x_max,note,file,y_min,x_min,label\n9,8,hello,z.jpg,1,2,cat\n", labels: ["dog", "cat"])
        #expect(set.problems.isEmpty)
        #expect(set.images.first?.objects.first == GroundTruthObject(classIndex: 1, box: Self.box(2, 1, 8, 9), source: "a.csv:2"))
    }

    @Test func csvMissingColumnIsAnErrorNamingIt() {
        #expect {
            _ = try Self.csv("file,label,x_min,y_min,x_max\na.png,1,0,0,3\n")
        } throws: { ($0 as? CAMError)?.message.contains("no column 'y_max'") == true && ($0 as? CAMError)?.message.contains("a.csv:1") == true }
        #expect(throws: CAMError.self) { _ = try Self.csv("") }
        #expect(throws: CAMError.self) { _ = try Self.csv("file,label,x_min,y_min,x_max,y_max\n\"a.png,1,0,0,3,3\n") }
        #expect(throws: CAMError.self) { _ = try Annotations.parseCSV([0xFF, 0xFE, 0x41], name: "a.csv") }
    }

    /// Each bad row is one problem naming the line and the image, which is
    /// then not scored (its good rows neither).
    @Test func csvBadRowsAreProblems() throws {
        let set = try Self.csv("""
            file,label,x_min,y_min,x_max,y_max
            ok.png,1,0,0,3,3
            words.png,1,zero,0,3,3
            half.png,1,0,0,3.5,3
            inverted.png,1,5,0,3,3
            negative.png,1,-2,0,3,3
            unknown.png,tiger,0,0,3,3
            short.png,1,0,0,3
            empty.png,1,,0,3,3
            inverted.png,2,0,0,1,1
            ,1,0,0,3,3

            """, labels: ["cat", "dog", "fish"])
        let messages = set.problems.map(\.description)
        #expect(messages.count == 8, "\(messages)")
        let expectations: [(String, String)] = [
            ("a.csv:3", "x_min 'zero' is not a whole pixel coordinate"),
            ("a.csv:4", "x_max '3.5' is not a whole pixel coordinate"),
            ("a.csv:5", "inverted box"),
            ("a.csv:6", "outside the image"),
            ("a.csv:7", "unknown class 'tiger'"),
            ("a.csv:8", "5 fields where the header has 6"),
            ("a.csv:9", "x_min is missing"),
            ("a.csv:11", "the file name is empty"),
        ]
        for (source, fragment) in expectations {
            #expect(messages.contains { $0.hasPrefix(source + ":") && $0.contains(fragment) }, "\(source) \(fragment): \(messages)")
        }
        let valid = set.images.filter(\.isValid).map(\.file)
        #expect(valid == ["ok.png"], "only the clean image is valid; inverted.png's good row does not save it")
        #expect(Set(set.images.map(\.file)) == ["ok.png", "words.png", "half.png", "inverted.png", "negative.png", "unknown.png", "short.png", "empty.png"])
    }

    @Test func classNamesAndIndices() {
        #expect(Annotations.classIndex("7", labels: nil) == 7)
        #expect(Annotations.classIndex(" 7 ", labels: nil) == 7)
        #expect(Annotations.classIndex("cat", labels: nil) == nil)
        #expect(Annotations.classIndex("-1", labels: nil) == nil)
        #expect(Annotations.classIndex("cat", labels: ["dog", "cat"]) == 1)
        // Names come first: a labels file naming "0".."9" in another order maps by name.
        #expect(Annotations.classIndex("0", labels: ["1", "0"]) == 1)
        #expect(Annotations.classIndex("5", labels: ["dog", "cat"]) == 5)
    }

    static let voc = """
        <?xml version="1.0" encoding="utf-8"?>
        <!-- VOC2007 style -->
        <annotation verified="no">
          <folder>VOC2007</folder>
          <filename>000005.jpg</filename>
          <source><database>The VOC2007 Database</database></source>
          <size><width>500</width><height>375</height><depth>3</depth></size>
          <object>
            <name>chair</name><pose>Rear</pose><truncated>0</truncated><difficult>0</difficult>
            <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>
          </object>
          <object>
            <name>dog</name>
            <bndbox>
              <xmin>165</xmin><ymin>264</ymin><xmax>253</xmax><ymax>372</ymax>
            </bndbox>
            <part><name>head</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>2</ymax></bndbox></part>
          </object>
          <object><name>chair</name><bndbox><xmin>5</xmin><ymin>244</ymin><xmax>67</xmax><ymax>374</ymax></bndbox></object>
        </annotation>

        """

    @Test func vocWithSeveralObjects() throws {
        let (image, problems) = try Annotations.parseVOC(Array(Self.voc.utf8), name: "000005.xml", labels: ["chair", "dog"])
        #expect(problems.isEmpty)
        #expect(image.file == "000005.jpg" && image.declaredSize == ImageSize(width: 500, height: 375) && image.isValid)
        #expect(image.objects.map(\.classIndex) == [0, 1, 0])
        #expect(image.objects.map(\.box) == [Self.box(263, 211, 324, 339), Self.box(165, 264, 253, 372), Self.box(5, 244, 67, 374)])
        #expect(image.objects.map(\.source) == ["000005.xml:8", "000005.xml:12", "000005.xml:19"])
    }

    /// ImageNet's files name the image without extension, and some give no
    /// filename at all: the XML file's own name stands in.
    @Test func vocWithoutFilenameAndNumericNames() throws {
        let text = "<annotation><object><name>4</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object></annotation>"
        let (image, problems) = try Annotations.parseVOC(Array(text.utf8), name: "dir/ILSVRC2012_val_00000001.xml")
        #expect(problems.isEmpty && image.file == "ILSVRC2012_val_00000001")
        #expect(image.objects == [GroundTruthObject(classIndex: 4, box: Self.box(1, 2, 3, 4), source: "dir/ILSVRC2012_val_00000001.xml:1")])
    }

    @Test func vocBadObjectsAreProblems() throws {
        let text = """
            <annotation><filename>a.png</filename>
            <object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>0</xmax><ymax>4</ymax></bndbox></object>
            <object><name>zebra</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></object>
            <object><name>cat</name></object>
            <object><bndbox/></object>
            <object><name>cat</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax></bndbox></object>
            </annotation>
            """
        let (image, problems) = try Annotations.parseVOC(Array(text.utf8), name: "a.xml", labels: ["cat"])
        #expect(!image.isValid)
        let messages = problems.map(\.description)
        #expect(messages.count == 5, "\(messages)")
        for (line, fragment) in [(2, "inverted box"), (3, "unknown class 'zebra'"), (4, "without a <bndbox>"), (5, "without a <name>"), (6, "ymax is missing")] {
            #expect(messages.contains { $0.hasPrefix("a.xml:\(line):") && $0.contains(fragment) }, "line \(line): \(messages)")
        }
        let none = try Annotations.parseVOC(Array("<annotation><filename>b.png</filename></annotation>".utf8), name: "b.xml")
        #expect(!none.image.isValid && none.problems.first?.message.contains("no <object>") == true)
    }

    @Test(arguments: [
        ("", "no root element"),
        ("<annotation><filename>a</filename>", "ends inside the element 'annotation'"),
        ("<annotation><object></annotation>", "'</annotation>' closes '<object>'"),
        ("<annotation>&nbsp;</annotation>", "unknown entity"),
        ("<annotation>a & b</annotation>", "'&' that starts no entity"),
        ("<!DOCTYPE annotation [<!ENTITY x \"y\">]><annotation/>", "DOCTYPE"),
        ("<annotation/><annotation/>", "content after the root element"),
        ("<annotation size=5/>", "must be quoted"),
        ("<annotation a='1' a='2'/>", "appears twice"),
        ("<annotation>\n<!-- never closed </annotation>", "a comment is never closed"),
        ("<annotation>\n\n<object>text<name>x</name></object></annotation>", "text mixed with child elements"),
        ("<root><object/></root>", "expected <annotation>"),
        ("<annotation><1a/></annotation>", "expected a name"),
    ])
    func malformedXMLIsAnErrorWithItsLine(_ c: (String, String)) {
        #expect {
            _ = try Annotations.parseVOC(Array(c.0.utf8), name: "bad.xml")
        } throws: { error in
            let message = (error as? CAMError)?.message ?? ""
            return message.hasPrefix("bad.xml:") && message.contains(c.1)
        }
    }

    @Test func xmlEntitiesCDATAAndNesting() throws {
        let root = try XMLReader.parse(Array("<a x=\"&lt;&#65;&#x42;\"><b><![CDATA[<raw> & ]]>&amp;</b><c/></a>".utf8), name: "t.xml")
        #expect(root.attributes["x"] == "<AB" && root.child("b")?.text == "<raw> & &" && root.child("c") != nil)
        let deep = String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100)
        #expect(throws: CAMError.self) { _ = try XMLReader.parse(Array(deep.utf8), name: "deep.xml") }
    }

    /// The shared data set holds each box twice, as CSV and as XML: both
    /// readers must give the same ground truth.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: Fixtures.wsol.appendingPathComponent("annotations").path)))
    func wsolXMLEqualsItsCSV() throws {
        let labels = try String(contentsOf: Fixtures.wsol.appendingPathComponent("labels.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let csv = try EvalDataset.readAnnotations(Fixtures.wsol.appendingPathComponent("annotations.csv"), labels: nil)
        let xml = try EvalDataset.readAnnotations(Fixtures.wsol.appendingPathComponent("annotations"), labels: labels)
        #expect(csv.problems.isEmpty && xml.problems.isEmpty)
        #expect(csv.images.count == 300 && xml.images.count == 300)
        let byFile = Dictionary(uniqueKeysWithValues: csv.images.map { ($0.file, $0) })
        for image in xml.images {
            #expect(image.declaredSize == ImageSize(width: 96, height: 96))
            #expect(image.objects.map(\.classIndex) == byFile[image.file]?.objects.map(\.classIndex))
            #expect(image.objects.map(\.box) == byFile[image.file]?.objects.map(\.box), "\(image.file)")
        }
    }

    static func annotated(_ file: String, _ c: Int = 0, source: String = "a.csv:2", valid: Bool = true) -> AnnotatedImage {
        AnnotatedImage(file: file, objects: [GroundTruthObject(classIndex: c, box: Self.box(0, 0, 1, 1), source: source)],
                       declaredSize: nil, source: source, isValid: valid)
    }

    @Test func matchingImagesWithAnnotations() {
        let files = ["cats/1.png", "dogs/1.png", "dogs/2.jpg", "3.jpeg", "solo.png", "lost.png", "twice.png", "bad.png", "big.png"]
        let set = AnnotationSet(images: [
            Self.annotated("cats/1.png"),                  // by path
            Self.annotated("./dogs/1.png"),                // by path, with ./
            Self.annotated("2"),                           // by name without extension (ImageNet)
            Self.annotated("3.jpeg"),                      // by file name
            Self.annotated("solo.png", source: "a.csv:5"),
            Self.annotated("1.png", source: "a.csv:6"),    // ambiguous
            Self.annotated("ghost.png", source: "a.csv:7"),
            Self.annotated("twice.png", source: "a.csv:8"),
            Self.annotated("sub/twice.png", source: "a.csv:9"),   // no such path, but the file name fits: annotated twice
            Self.annotated("bad.png", source: "a.csv:10", valid: false),
            Self.annotated("big.png", 10, source: "a.csv:11"),
        ], problems: [EvalProblem(source: "a.csv:10", message: "bad.png: inverted box")])
        let data = EvalDataset.assemble(images: files, root: URL(fileURLWithPath: "/data"), annotations: set, classCount: 10)
        #expect(data.items.map(\.file) == ["cats/1.png", "dogs/1.png", "dogs/2.jpg", "3.jpeg", "solo.png"])
        #expect(data.items[0].url.path == "/data/cats/1.png")
        let messages = data.problems.map(\.description)
        #expect(messages.count == 6, "\(messages)")
        #expect(messages.contains { $0.hasPrefix("a.csv:6:") && $0.contains("fits several images") })
        #expect(messages.contains { $0.hasPrefix("a.csv:7:") && $0.contains("not an image in the images folder") })
        #expect(messages.contains { $0.hasPrefix("a.csv:9:") && $0.contains("annotated again") })
        #expect(messages.contains { $0.hasPrefix("a.csv:11:") && $0.contains("class 10 is out of range") })
        #expect(messages.contains { $0.hasPrefix("/data/lost.png:") && $0.contains("no annotation") })
        #expect(data.imageCount == 9)
    }

    @Test func emptyFoldersAreErrors() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-empty-\(UUID().uuidString)")
        let images = dir.appendingPathComponent("images"), xml = dir.appendingPathComponent("xml")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: xml, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect { _ = try EvalDataset.load(images: images, annotations: xml, classCount: 10) } throws: {
            ($0 as? CAMError)?.message.contains("holds no PNG or JPEG") == true
        }
        try Data([0x89]).write(to: images.appendingPathComponent("x.png"))
        #expect { _ = try EvalDataset.load(images: images, annotations: xml, classCount: 10) } throws: {
            ($0 as? CAMError)?.message.contains("holds no .xml files") == true
        }
        #expect(throws: CAMError.self) { _ = try EvalDataset.load(images: images, annotations: dir.appendingPathComponent("none.csv"), classCount: 10) }
    }
}
