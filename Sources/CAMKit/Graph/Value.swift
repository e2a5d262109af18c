/// An int64 tensor: the shape arithmetic that exporters write around
/// Reshape and Slice (Shape, Gather, Div, Cast, ...). camkit evaluates these
/// while planning, never in the hot path.
public struct IntTensor: Equatable, Sendable {
    public var shape: [Int]
    public var scalars: [Int64]

    public init(shape: [Int], scalars: [Int64]) {
        precondition(shape.reduce(1, *) == scalars.count, "IntTensor shape/count mismatch")
        self.shape = shape
        self.scalars = scalars
    }

    /// A rank-1 tensor of `values`.
    public init(_ values: [Int64]) { self.init(shape: [values.count], scalars: values) }
}

/// What flows along a graph edge: float32 data or int64 shape arithmetic.
public enum Value: Equatable, Sendable {
    case float(Tensor)
    case int(IntTensor)

    public var shape: [Int] {
        switch self {
        case .float(let t): return t.shape
        case .int(let t): return t.shape
        }
    }

    var elementType: ElementType {
        switch self {
        case .float: return .float
        case .int: return .int64
        }
    }
}

/// The element types camkit computes with. ONNX's int32, int8, bool and
/// double constants are widened or narrowed into one of these at load.
enum ElementType: Sendable, Equatable, CustomStringConvertible {
    case float
    case int64

    var description: String { self == .float ? "float32" : "int64" }
}
