/// A dense float32 tensor in NCHW (C) order: the value that flows between
/// operators. Copy-on-write through Swift's array.
public struct Tensor: Equatable, Sendable {
    public private(set) var shape: [Int]
    public var scalars: [Float]

    /// A tensor of `shape` holding `scalars` in C order.
    public init(shape: [Int], scalars: [Float]) throws(CAMError) {
        guard let count = Tensor.elementCount(shape) else {
            throw CAMError(.argument, "tensor shape \(shape) has a negative dimension or is too large")
        }
        guard count == scalars.count else {
            throw CAMError(.argument, "tensor shape \(shape) needs \(count) values, got \(scalars.count)")
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of `shape` filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) throws(CAMError) {
        guard let count = Tensor.elementCount(shape) else {
            throw CAMError(.argument, "tensor shape \(shape) has a negative dimension or is too large")
        }
        self.shape = shape
        self.scalars = Array(repeating: value, count: count)
    }

    /// For kernels that computed `scalars` for `shape` themselves.
    init(uncheckedShape shape: [Int], scalars: [Float]) {
        assert(shape.reduce(1, *) == scalars.count)
        self.shape = shape
        self.scalars = scalars
    }

    public var count: Int { scalars.count }

    /// The product of the dimensions, or nil when one is negative or the
    /// product would not fit the kernels' int32 indexing. The product of the
    /// non-zero dimensions must fit too, so that a shape with no elements
    /// cannot carry dimensions whose strides or partial products overflow.
    static func elementCount(_ shape: [Int]) -> Int? {
        var total = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = total.multipliedReportingOverflow(by: max(dim, 1))
            guard !overflow, product < Int(Int32.max) else { return nil }
            total = product
        }
        return shape.contains(0) ? 0 : total
    }
}
