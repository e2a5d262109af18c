import ArgumentParser
import CAMKit

/// The limits a model is loaded under (CAMKit's `Limits`), one line in each
/// command that loads one. Lower values refuse large or hostile models
/// sooner; higher ones are allowed up to `Limits.maximum`.
struct LimitOptions: ParsableArguments {
    @Option(name: .customLong("max-model-bytes"), help: "Refuse a model whose file and external data files hold more bytes than this (checked before reading).")
    var maxModelBytes: Int = Limits.default.modelBytes

    @Option(name: .customLong("max-nodes"), help: "Refuse a model with more graph nodes than this.")
    var maxNodes: Int = Limits.default.nodes

    @Option(name: .customLong("max-tensor-elements"), help: "Refuse a model with a weight or computed tensor of more elements than this.")
    var maxTensorElements: Int = Limits.default.tensorElements

    func validate() throws {
        for (flag, value, maximum) in [("--max-model-bytes", maxModelBytes, Limits.maximum.modelBytes),
                                       ("--max-nodes", maxNodes, Limits.maximum.nodes),
                                       ("--max-tensor-elements", maxTensorElements, Limits.maximum.tensorElements)]
        where value < 1 || value > maximum {
            throw ValidationError("\(flag) must be \(Limits.range(maximum)), got \(value)")
        }
    }

    var limits: Limits {
        Limits(modelBytes: maxModelBytes, nodes: maxNodes, tensorElements: maxTensorElements)
    }
}
