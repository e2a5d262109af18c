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

/// The index of the first value that is NaN or infinite, or nil. Sixteen
/// lanes at a time: v * 0 is 0 for a finite v and NaN otherwise, so a lane
/// sum stays 0 exactly while every value is finite; only a chunk that fails
/// is searched value by value. (`firstIndex(where:)` checked one value per
/// step: 0.7% of a MobileNetV2 Grad-CAM, which checks its input, target
/// activations, logits, gradients and map.)
package func firstNonFinite(_ values: [Float]) -> Int? {
    values.withUnsafeBufferPointer { b -> Int? in
        guard let base = b.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while i + 16 <= b.count {
            var acc = SIMD16<Float>(repeating: 0)
            let end = min(b.count - b.count % 16, i + 1024)
            var j = i
            while j < end {
                acc += raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self) * 0
                j += 16
            }
            if !(acc.sum() == 0) {   // a NaN lane makes the sum NaN, which equals nothing
                return b[i..<end].firstIndex { !$0.isFinite }
            }
            i = end
        }
        return b[i...].firstIndex { !$0.isFinite }
    }
}
