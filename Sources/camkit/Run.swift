import ArgumentParser
import CAMKit
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the network on a tensor and write its output (and any intermediate tensor) as .npy.",
        discussion: """
        The input is a float32 .npy of shape [N, C, H, W], already preprocessed. The first graph \
        output is written to --output. --dump NAME=FILE writes the tensor NAME (see `camkit info`) \
        to FILE; it may be repeated.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @Option(name: .customLong("input-tensor"), help: "Input tensor (.npy, float32, [N, C, H, W]).")
    var inputTensor: String

    @Option(help: "Where to write the first graph output (.npy).")
    var output: String

    @Option(help: ArgumentHelp("Also write tensor NAME to FILE (.npy).", valueName: "NAME=FILE"))
    var dump: [String] = []

    @OptionGroup(title: "Limits") var limitOptions: LimitOptions

    func validate() throws {
        for d in dump where !d.contains("=") || d.hasPrefix("=") || d.hasSuffix("=") {
            throw ValidationError("--dump expects NAME=FILE, got '\(d)'")
        }
    }

    func run() throws {
        try Camkit.guarded {
            let m = try CAMModel(contentsOf: fileURL(model), limits: limitOptions.limits)
            let x = try Npy.read(contentsOf: fileURL(inputTensor))
            // Split at the last '=': tensor names may contain '=' more rarely than paths do... both are rare;
            // ONNX names never end in '=', so the last one is the separator.
            let pairs = dump.map { d -> (String, String) in
                let i = d.lastIndex(of: "=")!
                return (String(d[..<i]), String(d[d.index(after: i)...]))
            }
            let (out, tensors) = try m.forward(x, returning: pairs.map(\.0))
            try Npy.write(out, to: fileURL(output))
            for (name, file) in pairs { try Npy.write(tensors[name]!, to: fileURL(file)) }
        }
    }
}
