import CCAMKernels

/// What planning one node needs: the node, what is known of each operand,
/// and helpers that name the node in every error.
struct OpContext {
    struct Operand {
        var shape: [Int]
        var type: ElementType
        var constant: Value?
    }

    let node: Graph.Node
    let operands: [Operand?]
    let opset: Int
    /// Elements any one tensor may have (the plan's `Limits.tensorElements`).
    let maxElements: Int
    /// Set when a following activation runs inside this (Conv) node.
    var fusedActivation: ck_activation?
    var fusedNode: Graph.Node?
    /// Set (to the other operand's shape) when the Add after this Conv may
    /// run inside it; the Conv takes it as a fourth input when the shape
    /// is its output's and says so in `PlannedOp.fusedResidual`.
    var residualShape: [Int]?
    /// The model's transformed weights (Winograd's U, packed weights), shared
    /// across its plans (nil: none kept).
    var weightCache: WeightCache?
    /// False for a plan that only checks limits and never runs: no
    /// transformed weights are made for it (kernels fall back to im2col).
    var transformWeights = true
    /// Set when an output of the node is exposed: dumped, a CAM target, or
    /// on a path a backward pass will run through.
    var outputExposed = false

    init(node: Graph.Node, operands: [Operand?], opset: Int, maxElements: Int = Limits.default.tensorElements) {
        self.node = node
        self.operands = operands
        self.opset = opset
        self.maxElements = maxElements
    }

    var `where`: String { "node '\(node.name)' (\(node.opType), opset \(opset))" }

    func fail(_ code: CAMError.Code, _ what: String) -> CAMError { CAMError(code, "\(self.where): \(what)") }
    func fail(_ what: String) -> CAMError { fail(.format, what) }

    /// Operand `i`, which must be present.
    func operand(_ i: Int) throws(CAMError) -> Operand {
        guard i < operands.count, let o = operands[i] else { throw fail("input \(i) is missing") }
        return o
    }

    /// Operand `i` if present (optional inputs may be absent or "").
    func optional(_ i: Int) -> Operand? { i < operands.count ? operands[i] : nil }

    /// A float operand's shape, checking the type and the rank.
    func floatShape(_ i: Int, rank: Int? = nil) throws(CAMError) -> [Int] {
        let o = try operand(i)
        guard o.type == .float else { throw fail(.unsupported, "input \(i) is \(o.type), expected float32") }
        if let rank, o.shape.count != rank {
            throw fail("input \(i) has shape \(o.shape), expected rank \(rank)")
        }
        return o.shape
    }

    /// Operand `i` as constant integers (axes, pads, shapes). It must be
    /// known while planning.
    func constantInts(_ i: Int, what: String) throws(CAMError) -> [Int] {
        let o = try operand(i)
        switch o.constant {
        case .int(let t)?: return t.scalars.map { Int(clamping: $0) }
        case .float(let t)? where t.scalars.allSatisfy({ $0 == $0.rounded() && abs($0) < 1e15 }): return t.scalars.map { Int($0) }
        case .float?: throw fail("\(what) (input \(i)) must be integers")
        case nil: throw fail(.unsupported, "\(what) (input \(i)) must be a constant; camkit plans shapes ahead of running")
        }
    }

    /// Operand `i` as a constant float scalar, or nil when absent.
    func constantScalar(_ i: Int, what: String) throws(CAMError) -> Float? {
        guard let o = optional(i) else { return nil }
        switch o.constant {
        case .float(let t)? where t.count == 1: return t.scalars[0]
        case .int(let t)? where t.scalars.count == 1: return Float(t.scalars[0])
        case nil: throw fail(.unsupported, "\(what) (input \(i)) must be a constant")
        default: throw fail("\(what) (input \(i)) must be a single value")
        }
    }

    /// The element count of a shape an op derives while planning, checked
    /// (without overflow) against the per-tensor limit before the op builds
    /// anything that size, such as an index table; Plan checks the outputs
    /// only after the op is planned.
    func checkedCount(_ shape: [Int]) throws(CAMError) -> Int {
        guard let count = Tensor.elementCount(shape), count <= maxElements else {
            throw fail(.memory, "output shape \(shape) exceeds the limit of \(maxElements) elements per tensor (Limits.tensorElements)")
        }
        return count
    }

    /// Normalizes an axis in [-rank, rank) to [0, rank).
    func axis(_ a: Int, rank: Int) throws(CAMError) -> Int {
        guard a >= -rank, a < rank else { throw fail("axis \(a) is out of range for rank \(rank)") }
        return a < 0 ? a + rank : a
    }
}

/// A node ready to run: its output shapes and types, its kernel, and the
/// scratch it needs.
struct PlannedOp {
    var outputs: [(shape: [Int], type: ElementType)]
    var scratch: Int = 0
    var run: Plan.Kernel
    /// The op's backward rule, written beside its forward; nil where camkit
    /// has none (the backward pass then names the op in its error).
    var backward: Plan.Backward?
    /// The Conv took the residual Add offered by `OpContext.residualShape`.
    var fusedResidual = false
}

/// The clip bounds of a Clip node (inputs 1 and 2; absent means unbounded).
func clipBounds(_ node: Graph.Node, constants: [Int: Value]) throws(CAMError) -> (min: Float, max: Float) {
    func bound(_ i: Int, _ otherwise: Float) throws(CAMError) -> Float {
        guard i < node.inputs.count, let id = node.inputs[i] else { return otherwise }
        guard case .float(let t)? = constants[id], t.count == 1 else {
            throw CAMError(.unsupported, "node '\(node.name)' (Clip): bound \(i) must be a constant float scalar")
        }
        return t.scalars[0]
    }
    let lo = try bound(1, -.infinity), hi = try bound(2, .infinity)
    guard !lo.isNaN, !hi.isNaN else { throw CAMError(.format, "node '\(node.name)' (Clip): a bound is NaN") }
    guard !(lo > hi) else { throw CAMError(.format, "node '\(node.name)' (Clip): min \(lo) is above max \(hi)") }
    return (lo, hi)
}

/// One switch over every operator: planning (shape inference and parameter
/// resolution) for each lives in Ops/, next to its kernel.
enum OpPlanner {
    static func plan(_ c: inout OpContext) throws(CAMError) -> PlannedOp {
        switch c.node.op {
        case .conv(let a): return try ConvOps.conv(c, a)
        case .batchNormalization(let eps): return try ElementwiseOps.batchNorm(c, epsilon: eps)
        case .activation(let act): return try ElementwiseOps.activation(c, act)
        case .clip:
            let b = try clipBounds(c.node, constants: constantsOf(c))
            return try ElementwiseOps.activation(c, ck_activation(kind: CK_ACT_CLIP, alpha: b.min, beta: b.max))
        case .binary(let op): return try ElementwiseOps.binary(c, op)
        case .maxPool(let a): return try PoolOps.windowed(c, a, max: true)
        case .averagePool(let a): return try PoolOps.windowed(c, a, max: false)
        case .globalAveragePool: return try PoolOps.global(c, max: false)
        case .globalMaxPool: return try PoolOps.global(c, max: true)
        case .reduceMean(let axes, let keepDims, let noop): return try PoolOps.reduceMean(c, axes: axes, keepDims: keepDims, noopWithEmptyAxes: noop)
        case .flatten(let axis): return try ShapeOps.flatten(c, axis: axis)
        case .reshape(let allowZero): return try ShapeOps.reshape(c, allowZero: allowZero)
        case .squeeze(let axes): return try ShapeOps.squeeze(c, axes: axes)
        case .unsqueeze(let axes): return try ShapeOps.unsqueeze(c, axes: axes)
        case .transpose(let perm): return try ShapeOps.transpose(c, perm: perm)
        case .concat(let axis): return try ShapeOps.concat(c, axis: axis)
        case .split(let axis, let sizes, let n): return try ShapeOps.split(c, axis: axis, sizes: sizes, numOutputs: n)
        case .gemm(let alpha, let beta, let ta, let tb): return try LinearOps.gemm(c, alpha: alpha, beta: beta, transA: ta, transB: tb)
        case .matMul: return try LinearOps.matMul(c)
        case .softmax(let axis, let legacy): return try LinearOps.softmax(c, axis: axis, legacy: legacy)
        case .lrn(let size, let alpha, let beta, let bias): return try ElementwiseOps.lrn(c, size: size, alpha: alpha, beta: beta, bias: bias)
        case .pad: return try ShapeOps.pad(c)
        case .shape(let start, let end): return try ShapeOps.shape(c, start: start, end: end)
        case .gather(let axis): return try ShapeOps.gather(c, axis: axis)
        case .slice: return try ShapeOps.slice(c)
        case .cast(let to): return try ElementwiseOps.cast(c, to: to)
        }
    }

    /// The node's constant inputs by value id, for helpers that take ids.
    static func constantsOf(_ c: OpContext) -> [Int: Value] {
        var out: [Int: Value] = [:]
        for (id, o) in zip(c.node.inputs, c.operands) { if let id, let v = o?.constant { out[id] = v } }
        return out
    }
}

/// Unwraps a float operand at run time (planning has checked the type).
@inline(__always)
func floatOperand(_ values: [Value?], _ i: Int) throws(CAMError) -> Tensor {
    guard i < values.count, case .float(let t)? = values[i] else {
        throw CAMError(.internal, "operand \(i) is not a float tensor at run time")
    }
    return t
}

@inline(__always)
func intOperand(_ values: [Value?], _ i: Int) throws(CAMError) -> IntTensor {
    guard i < values.count, case .int(let t)? = values[i] else {
        throw CAMError(.internal, "operand \(i) is not an int64 tensor at run time")
    }
    return t
}
