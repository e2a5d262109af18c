import Foundation
import Testing
@testable import CAMKit

/// `camkit eval` end to end on six images of the WSOL split with a CSV that
/// holds every kind of bad input: each problem is one line on stderr, a
/// count follows, the score covers the two good images and equals what the
/// reference's per_image.csv gives for them.
@Suite(.enabled(if: CLI.executable != nil && FileManager.default.fileExists(atPath: Fixtures.wsol.path),
                "camkit is not built beside the tests, or ../shared/wsol is missing"))
struct EvalCLITests {
    let model = Fixtures.wsol.appendingPathComponent("digits_gap.onnx").path
    let labels = Fixtures.wsol.appendingPathComponent("labels.txt").path

    func makeData() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-eval-cli-\(UUID().uuidString)")
        let images = dir.appendingPathComponent("images")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        for i in 0..<6 {
            let name = String(format: "dev_%04d.png", i)
            try FileManager.default.copyItem(at: Fixtures.wsol.appendingPathComponent("images/\(name)"), to: images.appendingPathComponent(name))
        }
        try """
            file,label,x_min,y_min,x_max,y_max
            dev_0000.png,7,23,29,60,84
            dev_0001.png,2,27,39,43,61
            dev_0002.png,5,32,64,15,88
            dev_0003.png,six,33,11,74,70
            dev_0004.png,7,24,7,96,35
            ghost.png,1,0,0,3,3

            """.write(to: dir.appendingPathComponent("annotations.csv"), atomically: true, encoding: .utf8)
        return dir
    }

    /// The expected scores of dev_0000 and dev_0001 from per_image.csv (Grad-CAM on the GAP model).
    func expected() throws -> [String: Double] {
        let rows = try EvalTests.perImageReference()
        var clsTop1 = 0.0, locTop1 = 0.0, gtKnown = 0.0
        for file in ["dev_0000.png", "dev_0001.png"] {
            let r = rows[file]!
            let right = r["label"] == r["gap_pred1"]
            if right { clsTop1 += 1 }
            if right && Double(r["gap_gradcam_top1_iou"]!)! >= 0.5 { locTop1 += 1 }
            if Double(r["gap_gradcam_gt_iou"]!)! >= 0.5 { gtKnown += 1 }
        }
        return ["cls_top1_err": 1 - clsTop1 / 2, "loc_top1_err": 1 - locTop1 / 2, "gt_known_loc_acc": gtKnown / 2]
    }

    @Test func badInputIsReportedAndCounted() throws {
        let dir = try makeData()
        defer { try? FileManager.default.removeItem(at: dir) }
        let perImage = dir.appendingPathComponent("out/per_image.csv"), output = dir.appendingPathComponent("out/score.json")
        try FileManager.default.createDirectory(at: perImage.deletingLastPathComponent(), withIntermediateDirectories: true)
        let arguments = ["eval", model, "--images", dir.appendingPathComponent("images").path,
                         "--annotations", dir.appendingPathComponent("annotations.csv").path, "--labels", labels,
                         "--per-image", perImage.path]
        let r = try CLI.run(arguments + ["--json", "--output", output.path])
        #expect(r.status == 1)
        let lines = r.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == 6 && lines.allSatisfy { $0.hasPrefix("camkit: error: ") }, "\(r.stderr)")
        for fragment in ["annotations.csv:4: dev_0002.png: inverted box", "annotations.csv:5: dev_0003.png: unknown class 'six'",
                         "annotations.csv:6: box [24, 7, 96, 35] of dev_0004.png lies outside the image (96x96",
                         "annotations.csv:7: 'ghost.png' is annotated but is not an image", "dev_0005.png: no annotation",
                         "5 problems listed above; the score covers 2 of 6 images"] {
            #expect(lines.contains { $0.contains(fragment) }, "\(fragment): \(r.stderr)")
        }
        #expect(r.stdout.split(separator: "\n").count == 1)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        for key in ["n", "cls_top1_err", "cls_top5_err", "loc_top1_err", "loc_top5_err", "gt_known_loc_acc", "max_box_acc"] {
            #expect(object[key] != nil, "\(key)")
        }
        #expect(object["n"] as? Int == 2 && object["images"] as? Int == 6 && object["problems"] as? Int == 5)
        for (key, value) in try expected() { #expect(object[key] as? Double == value, "\(key)") }
        #expect(try String(contentsOf: output, encoding: .utf8) == r.stdout)

        // The per-image file: the two scored images, no partial file left.
        let rows = try String(contentsOf: perImage, encoding: .utf8).split(separator: "\n")
        #expect(rows.count == 3 && rows[1].hasPrefix("dev_0000.png,96,96,7,") && rows[2].hasPrefix("dev_0001.png,96,96,2,"))
        #expect(!FileManager.default.fileExists(atPath: PerImageFile.partialURL(for: perImage).path))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: perImage.deletingLastPathComponent().path)
        #expect(Set(leftovers) == ["per_image.csv", "score.json"], "no temporary files left")

        // Resuming from the finished file scores nothing again and gives the same numbers, as a table.
        let again = try CLI.run(arguments + ["--resume"])
        #expect(again.status == 1)
        #expect(again.stderr.contains("resuming from '\(perImage.path)': 2 images already scored"), "\(again.stderr)")
        #expect(again.stdout.contains("2 of 6 images scored") && again.stdout.contains("MaxBoxAcc"), "\(again.stdout)")
        let gtKnown = try #require(try expected()["gt_known_loc_acc"])
        #expect(again.stdout.contains(String(format: "GT-known localization acc.    %.4f", gtKnown)), "\(again.stdout)")
    }

    @Test func usageAndFatalErrors() throws {
        let dir = try makeData()
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("images").path, csv = dir.appendingPathComponent("annotations.csv").path
        let usage = try CLI.run(["eval", model, "--images", images, "--annotations", csv, "--method", "nope"])
        #expect(usage.status == 64 && usage.stderr.contains("unknown method 'nope'"))
        let resume = try CLI.run(["eval", model, "--images", images, "--annotations", csv, "--resume"])
        #expect(resume.status == 64 && resume.stderr.contains("--resume needs --per-image"))
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        for (arguments, fragment) in [
            (["eval", model, "--images", empty.path, "--annotations", csv], "holds no PNG or JPEG"),
            (["eval", model, "--images", images, "--annotations", empty.path], "holds no .xml files"),
            (["eval", model, "--images", images, "--annotations", csv, "--target-layer", "nope"], "no tensor named 'nope'"),
        ] {
            let r = try CLI.run(arguments)
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 1 && lines.count == 1 && lines[0].hasPrefix("camkit: error: ") && lines[0].contains(fragment), "\(arguments): \(r.stderr)")
        }
        let help = try CLI.run(["eval", "--help"])
        #expect(help.status == 0 && help.stdout.contains("max_box_acc") && help.stdout.contains("--per-image"))
    }
}
