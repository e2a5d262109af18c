import ArgumentParser
import CAMKit
import Foundation

@main
struct Camkit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camkit",
        abstract: "Class activation maps and weakly supervised localization for ONNX CNN classifiers.",
        subcommands: [Info.self, Run.self, Localize.self, Eval.self, Bench.self]
    )

    /// The CLI owns its process, so it keeps large blocks in malloc's heap
    /// (VGG-16's forward: 247 ms, 219 ms so); libcam leaves malloc to its host.
    static func main() {
        Runtime.keepHeap()
        Camkit.main(nil)
    }

    /// Runs a subcommand body, turning a CAMError into one line on stderr and
    /// a non-zero exit: 1 for bad input, 70 for a camkit bug (usage errors
    /// exit 64, from ArgumentParser).
    static func guarded(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as CAMError {
            FileHandle.standardError.write(Data("camkit: error: \(error.message)\n".utf8))
            throw ExitCode(error.code == .internal ? 70 : 1)
        }
    }
}

/// `--json` lines: one object per line, keys sorted for stable output.
func printJSON(_ object: Any) throws { print(try jsonLine(object)) }

func jsonLine(_ object: Any) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    return String(decoding: data, as: UTF8.self)
}

func fileURL(_ path: String) -> URL { URL(fileURLWithPath: path) }
