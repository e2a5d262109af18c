/// A loaded model, independent of the input shape: nodes in topological
/// order with parsed attributes, constants (initializers, Constant nodes,
/// folded BatchNorms), and the names of every value. Immutable once built;
/// a `Plan` turns it into steps for one input shape.
struct Graph: Sendable {
    struct Node: Sendable {
        var name: String
        var opType: String
        var op: Op
        /// Value ids; nil for an optional input left empty ("").
        var inputs: [Int?]
        var outputs: [Int]
    }

    struct Input: Sendable {
        var id: Int
        var name: String
        /// Dimensions; nil where the model leaves them symbolic (the batch).
        var shape: [Int?]
    }

    var valueNames: [String]
    var nodes: [Node]
    var constants: [Int: Value]
    var inputs: [Input]
    var outputs: [Int]
    var opset: Int
    var producerName: String

    func valueID(named name: String) -> Int? { valueNames.firstIndex(of: name) }

    /// For each value, the nodes (indices) that read it.
    func consumers() -> [[Int]] {
        var result = Array(repeating: [Int](), count: valueNames.count)
        for (index, node) in nodes.enumerated() {
            for case let id? in node.inputs where !result[id].contains(index) { result[id].append(index) }
        }
        return result
    }

    /// Number of float parameters held in constants.
    var parameterCount: Int {
        constants.values.reduce(0) { total, value in
            if case .float(let t) = value { return total + t.count }
            return total
        }
    }
}
