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

    /// Runs a subcommand body, turning a CAMError into one line on stderr and
    /// a non-zero exit: 1 for bad input, 70 for a camkit bug (usage errors
    /// exit 64, from ArgumentParser).
    /// OpenBLAS's idle worker threads spin between GEMMs unless told to
    /// sleep, and on two cores the spinning slows everything around the
    /// GEMMs: resnet18's forward measured 54 ms spinning, 35 ms sleeping.
    /// OpenBLAS reads the setting once, when it loads, so the CLI sets it and
    /// starts itself again, unless the user chose a value.
    static func main() {
        if getenv("OPENBLAS_THREAD_TIMEOUT") == nil {
            setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            // Not reached unless exec failed; then run as we are.
        }
        Camkit.main(nil)
    }

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
