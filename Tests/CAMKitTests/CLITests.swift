import Foundation
import Testing
@testable import CAMKit

/// The `camkit` command line end to end, run as the executable `swift test`
/// builds beside the tests: JSON as design.md section 3.1 specifies, one
/// line on stderr per failure, and directories that go on past bad files.
@Suite(.enabled(if: CLI.executable != nil, "camkit is not built beside the tests"))
struct CLITests {
    let model = Fixtures.modelURL("tiny_resnet").path

    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("camkit-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// bench --json carries every run's time (bench/compare.py pools the
    /// runs of several processes); median, min and max are those times'.
    @Test func benchJSONHasEveryRun() throws {
        let r = try CLI.run(["bench", model, "--runs", "5", "--batch", "2", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let times = (object["times_ms"] as? [Double] ?? []).sorted()
        #expect(times.count == 5 && times.allSatisfy { $0 > 0 })
        #expect(object["median_ms"] as? Double == times[2])
        #expect(object["min_ms"] as? Double == times.first && object["max_ms"] as? Double == times.last)
        #expect(object["batch"] as? Int == 2 && object["runs"] as? Int == 5)
    }

    /// bench --profile --json: every step, whose medians add up to steps_ms.
    @Test func benchProfileJSON() throws {
        let r = try CLI.run(["bench", model, "--runs", "3", "--profile", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let steps = object["steps"] as? [[String: Any]] ?? []
        #expect(!steps.isEmpty && steps.allSatisfy { ($0["ops"] as? [String])?.isEmpty == false })
        let sum = steps.reduce(0.0) { $0 + ($1["median_ms"] as? Double ?? .nan) }
        #expect(abs(sum - (object["steps_ms"] as? Double ?? .nan)) < 1e-9)
        #expect(steps.contains { ($0["multiply_adds"] as? Int ?? 0) > 0 })
        let text = try CLI.run(["bench", model, "--runs", "2", "--profile", "--top", "3"])
        #expect(text.status == 0 && text.stdout.contains("GMAC/s"), "\(text.stderr)")
        let bad = try CLI.run(["bench", model, "--profile", "--method", "gradcam"])
        #expect(bad.status != 0 && bad.stderr.contains("--profile"))
    }

    @Test func localizeJSONFollowsTheContract() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let labels = dir.appendingPathComponent("labels.txt")
        try (0..<10).map { "class-\($0)" }.joined(separator: "\n").write(to: labels, atomically: true, encoding: .utf8)
        let image = Fixtures.root.appendingPathComponent("images/rocket_gray.png").path
        let r = try CLI.run(["localize", model, image, "--json", "--top-k", "3", "--labels", labels.path])
        #expect(r.status == 0, "\(r.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        #expect(object["image"] as? String == image)
        #expect(object["width"] as? Int == 640 && object["height"] as? Int == 427)
        #expect(object["method"] as? String == "gradcam")
        #expect(object["target_layer"] as? String == "/layer3/relu_1/Relu_output_0")
        let predictions = object["predictions"] as! [[String: Any]]
        #expect(predictions.map { $0["rank"] as! Int } == [1, 2, 3])
        for p in predictions {
            #expect(Set(p.keys) == ["rank", "class", "label", "score", "logit", "box"])
            #expect(p["label"] as? String == "class-\(p["class"] as! Int)")
            let box = p["box"] as! [Int]
            #expect(box.count == 4 && box[0] <= box[2] && box[1] <= box[3] && box[2] < 640 && box[3] < 427)
        }
    }

    @Test func aDirectoryGoesOnPastBadFiles() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("images"), overlays = dir.appendingPathComponent("overlays")
        try FileManager.default.createDirectory(at: images.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: Fixtures.root.appendingPathComponent("images/chelsea_rgba.png"),
                                         to: images.appendingPathComponent("a.png"))
        try Data("not an image".utf8).write(to: images.appendingPathComponent("b.png"))
        try FileManager.default.copyItem(at: Fixtures.root.appendingPathComponent("images/coffee_baseline.jpg"),
                                         to: images.appendingPathComponent("sub/c.jpg"))
        try Data("ignored".utf8).write(to: images.appendingPathComponent("notes.txt"))
        let r = try CLI.run(["localize", model, images.path, "--json", "--top-k", "1", "--overlay-dir", overlays.path])
        #expect(r.status == 1)
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.contains("a.png") == true && lines.last?.contains("c.jpg") == true)
        let errors = r.stderr.split(separator: "\n")
        #expect(errors.count == 1 && errors[0].hasPrefix("camkit: error: ") && errors[0].contains("b.png"), "\(r.stderr)")
        for name in ["a.png", "c.png"] {
            let overlay = try Image(contentsOf: overlays.appendingPathComponent(name))
            #expect(overlay.width > 0)
        }
    }

    @Test func failuresAreOneLineOnStderr() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let bad = dir.appendingPathComponent("bad.npy")
        try Data("garbage".utf8).write(to: bad)
        let cases: [([String], String)] = [
            (["localize", model, empty.path], "holds no PNG or JPEG"),
            (["localize", model, dir.appendingPathComponent("missing.png").path], "no such file"),
            (["localize", model, "--input-tensor", bad.path], "bad.npy"),
            (["run", model, "--input-tensor", bad.path, "--output", dir.appendingPathComponent("o.npy").path], "bad.npy"),
            (["info", bad.path], "bad.npy"),
            (["localize", model, Fixtures.root.appendingPathComponent("images/rocket_gray.png").path, "--max-pixels", "1000"], "Limits.imagePixels"),
            (["info", model, "--max-model-bytes", "1000"], "Limits.modelBytes"),
            (["run", model, "--input-tensor", bad.path, "--output", dir.appendingPathComponent("o.npy").path, "--max-nodes", "3"], "Limits.nodes"),
            (["bench", model, "--runs", "1", "--max-tensor-elements", "1000"], "Limits.tensorElements"),
        ]
        for (arguments, fragment) in cases {
            let r = try CLI.run(arguments)
            #expect(r.status == 1, "\(arguments): status \(r.status)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("camkit: error: ") && lines[0].contains(fragment), "\(arguments): \(r.stderr)")
        }
        // Usage errors (a limit that is not positive, a missing value or
        // argument, an unknown subcommand) exit 64 with one line too, not
        // ArgumentParser's usage block; --help still prints the help.
        let usage: [([String], String)] = [
            (["info", model, "--max-nodes", "0"], "--max-nodes"),
            (["bench", model, "--top"], "--top"),
            (["bench"], "<model>"),
            (["nosuch"], "nosuch"),
        ]
        for (arguments, fragment) in usage {
            let r = try CLI.run(arguments)
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 64 && lines.count == 1 && lines[0].hasPrefix("camkit: error: ") && lines[0].contains(fragment),
                    "\(arguments): status \(r.status), \(r.stderr)")
        }
        let help = try CLI.run(["bench", "--help"])
        #expect(help.status == 0 && help.stdout.contains("--profile") && help.stderr.isEmpty, "\(help.stderr)")
    }
}

enum CLI {
    static let executable = Executables.find("camkit")

    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try Executables.run(executable!, arguments)
    }
}
