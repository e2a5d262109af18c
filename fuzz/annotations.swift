// annotations.swift: libFuzzer target for the annotation readers of
// `camkit eval` (Sources/CAMKit/Eval/): Annotations.parseCSV (RFC 4180
// records, the header, per-row problems) and Annotations.parseVOC (the
// XML reader: tags, attributes, entities, CDATA, comments, nesting limit;
// then <annotation>, <size>, <object>, <bndbox>).
//
// Every input goes to both readers, with and without a labels list (class
// names or indices). A reader either throws a CAMError (not .internal) or
// returns what it read; every object it returns has a class index in range
// and a box with 0 <= min <= max, and every problem names its source.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CAMKit

private let labels = ["cat", "dog", "bird", "Ünïcode label", "a,b", ""]

private func check(_ objects: [GroundTruthObject]) {
    for o in objects {
        precondition(o.classIndex >= 0 && o.classIndex < 1_000_000_000, "class \(o.classIndex)")
        let b = o.box
        precondition(b.xMin >= 0 && b.yMin >= 0 && b.xMin <= b.xMax && b.yMin <= b.yMax, "box \(b) from \(o.source)")
        precondition(!o.source.isEmpty)
    }
}

private func refused(_ error: CAMError) {
    if error.code == .internal || error.message.isEmpty { fatalError("bad refusal: \(error.code) \(error.message)") }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAnnotations(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    for l in [nil, labels] {
        do {
            let set = try Annotations.parseCSV(bytes, name: "fuzz.csv", labels: l)
            for image in set.images {
                precondition(!image.file.isEmpty && !image.source.isEmpty)
                check(image.objects)
            }
            for p in set.problems { precondition(!p.source.isEmpty && !p.message.isEmpty) }
        } catch {
            refused(error)
        }
        do {
            let (image, problems) = try Annotations.parseVOC(bytes, name: "dir/fuzz.xml", labels: l)
            precondition(!image.file.isEmpty)
            if let s = image.declaredSize { precondition(s.width >= 1 && s.height >= 1) }
            check(image.objects)
            for p in problems { precondition(!p.source.isEmpty && !p.message.isEmpty) }
        } catch {
            refused(error)
        }
    }
    return 0
}
