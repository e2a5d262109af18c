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
        do {
            var command = try parseAsRoot(nil)
            try command.run()
        } catch {
            exitOneLine(error)
        }
    }

    /// Errors leave as one line on stderr (design.md's CLI contract): a
    /// usage error as ArgumentParser words it, without the usage block it
    /// appends, and with where to find help instead. --help, --version and
    /// the exit codes `guarded` throws (its line is written) go as
    /// ArgumentParser sends them.
    static func exitOneLine(_ error: Error) -> Never {
        let code = exitCode(for: error)
        if code == .success || error is ExitCode { exit(withError: error) }
        let first = message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
        let names = configuration.subcommands.map { $0._commandName }
        let sub = CommandLine.arguments.dropFirst().first.flatMap { names.contains($0) ? " \($0)" : nil } ?? ""
        FileHandle.standardError.write(Data("camkit: error: \(first) (see 'camkit\(sub) --help')\n".utf8))
        Foundation.exit(code.rawValue)
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
