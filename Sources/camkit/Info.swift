import ArgumentParser
import CAMKit
import Foundation

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe a model: inputs, outputs, operators, parameters and CAM target layers.",
        discussion: """
        Candidate target layers are the tensors with spatial extent (rank 4, height and width \
        above 1 or the last ones before pooling) in execution order, with their shapes at batch 1.
        """
    )

    @Argument(help: "The ONNX model file.")
    var model: String

    @OptionGroup(title: "Limits") var limitOptions: LimitOptions

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func run() throws {
        try Camkit.guarded {
            let m = try CAMModel(contentsOf: fileURL(model), limits: limitOptions.limits)
            let summary = try m.summary()
            if json {
                try printJSON([
                    "model": model,
                    "opset": m.opset,
                    "producer": m.producerName,
                    "inputs": [["name": m.inputName, "shape": m.declaredInputShape.map { $0.map { $0 as Any } ?? "batch" }]],
                    "outputs": summary.outputs.map { ["name": $0.name, "shape": $0.shape] },
                    "op_counts": m.opCounts,
                    "parameters": m.parameterCount,
                    "target_layers": summary.candidates.map { ["name": $0.name, "shape": $0.shape] },
                    "default_target_layer": summary.defaultTarget as Any,
                    "plain_cam": summary.plainCAM,
                ] as [String: Any])
                return
            }
            print("model:      \(model)")
            print("opset:      \(m.opset)\(m.producerName.isEmpty ? "" : " (written by \(m.producerName))")")
            print("input:      \(m.inputName) \(describe(m.declaredInputShape))")
            for o in summary.outputs { print("output:     \(o.name) \(o.shape)") }
            print("parameters: \(m.parameterCount)")
            print("operators:  " + m.opCounts.sorted { $0.key < $1.key }.map { "\($0.key) (\($0.value))" }.joined(separator: ", "))
            print("plain CAM:  \(summary.plainCAM ? "applies (global average or max pooling, then one linear layer)" : "does not apply")")
            print("target layers (\(summary.candidates.count) with spatial extent, the default marked):")
            for c in summary.candidates {
                let mark = c.name == summary.defaultTarget ? "  <- default" : ""
                print("  \(c.name) \(c.shape)\(mark)")
            }
        }
    }

    func describe(_ shape: [Int?]) -> String {
        "[" + shape.map { $0.map(String.init) ?? "batch" }.joined(separator: ", ") + "]"
    }
}
