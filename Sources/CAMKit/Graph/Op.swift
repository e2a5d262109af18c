import CCAMKernels

/// One ONNX operator with its attributes parsed and checked at load, so that
/// planning and running never look at protobuf again. Operands that ONNX
/// passes as inputs in newer opsets (axes, pads, shapes, clip bounds) stay
/// inputs here and must be constants by the time a plan is built.
enum Op: Sendable {
    case conv(ConvAttributes)
    case batchNormalization(epsilon: Float)
    case activation(ck_activation)          // Relu, LeakyRelu, Sigmoid, HardSigmoid, HardSwish
    case clip                               // bounds are inputs 1 and 2 (opset >= 11)
    case binary(BinaryOp)
    case maxPool(PoolAttributes)
    case averagePool(PoolAttributes)
    case globalAveragePool
    case globalMaxPool
    case reduceMean(axes: [Int]?, keepDims: Bool, noopWithEmptyAxes: Bool)
    case flatten(axis: Int)
    case reshape(allowZero: Bool)
    case squeeze(axes: [Int]?)
    case unsqueeze(axes: [Int]?)
    case transpose(perm: [Int]?)
    case concat(axis: Int)
    case split(axis: Int, sizes: [Int]?, numOutputs: Int?)
    case gemm(alpha: Float, beta: Float, transA: Bool, transB: Bool)
    case matMul
    case softmax(axis: Int, legacy: Bool)   // legacy (opset < 13): coerce to 2-D at axis
    case lrn(size: Int, alpha: Float, beta: Float, bias: Float)
    case pad(constantMode: Bool, pads: [Int]?, value: Float)
    case shape(start: Int, end: Int?)
    case gather(axis: Int)
    case slice
    case cast(to: ElementType)

    enum BinaryOp: String, Sendable { case add = "Add", sub = "Sub", mul = "Mul", div = "Div" }
}

struct ConvAttributes: Sendable {
    var kernelShape: [Int]?
    var strides: [Int]
    var dilations: [Int]
    var pads: [Int]          // [top, left, bottom, right]
    var autoPad: AutoPad
    var group: Int
}

struct PoolAttributes: Sendable {
    var kernelShape: [Int]
    var strides: [Int]
    var dilations: [Int]
    var pads: [Int]
    var autoPad: AutoPad
    var ceilMode: Bool
    var countIncludePad: Bool
}

enum AutoPad: String, Sendable { case notSet = "NOTSET", sameUpper = "SAME_UPPER", sameLower = "SAME_LOWER", valid = "VALID" }

/// The op types camkit runs, for error messages and `camkit info`.
let supportedOpTypes: [String] = [
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Constant", "Conv", "Div",
    "Dropout", "Flatten", "Gather", "Gemm", "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid",
    "HardSwish", "Identity", "LRN", "LeakyRelu", "MatMul", "MaxPool", "Mul", "Pad", "ReduceMean",
    "Relu", "Reshape", "Shape", "Sigmoid", "Slice", "Softmax", "Split", "Squeeze", "Sub",
    "Transpose", "Unsqueeze",
]

extension Op {
    /// Parses the attributes of a node of the default ONNX domain. Constant,
    /// Identity and Dropout never reach here: the importer turns them into
    /// constants and aliases.
    init(parsing a: NodeAttributes, opset: Int) throws(CAMError) {
        switch a.opType {
        case "Conv":
            let k = try a.ints("kernel_shape")
            if let k, k.count != 2 { throw a.unsupported("only 2-D convolution is supported (kernel_shape \(k))") }
            self = .conv(ConvAttributes(
                kernelShape: k,
                strides: try a.pair("strides", default: 1),
                dilations: try a.pair("dilations", default: 1),
                pads: try a.pads(),
                autoPad: try a.autoPad(),
                group: try a.int("group") ?? 1))
        case "BatchNormalization":
            if try a.int("training_mode") == 1 { throw a.unsupported("training_mode = 1 is not supported") }
            self = .batchNormalization(epsilon: try a.float("epsilon") ?? 1e-5)
        case "Relu": self = .activation(ck_activation(kind: CK_ACT_RELU, alpha: 0, beta: 0))
        case "LeakyRelu": self = .activation(ck_activation(kind: CK_ACT_LEAKY_RELU, alpha: try a.float("alpha") ?? 0.01, beta: 0))
        case "Sigmoid": self = .activation(ck_activation(kind: CK_ACT_SIGMOID, alpha: 0, beta: 0))
        case "HardSigmoid":
            self = .activation(ck_activation(kind: CK_ACT_HARD_SIGMOID, alpha: try a.float("alpha") ?? 0.2, beta: try a.float("beta") ?? 0.5))
        case "HardSwish": self = .activation(ck_activation(kind: CK_ACT_HARD_SWISH, alpha: 0, beta: 0))
        case "Clip": self = .clip
        case "Add", "Sub", "Mul", "Div": self = .binary(BinaryOp(rawValue: a.opType)!)
        case "MaxPool", "AveragePool":
            guard let k = try a.ints("kernel_shape"), k.count == 2 else {
                throw a.unsupported("only 2-D pooling with a kernel_shape is supported")
            }
            if a.opType == "MaxPool", a.outputCount > 1 { throw a.unsupported("the Indices output of MaxPool is not supported") }
            if try a.int("storage_order") == 1 { throw a.unsupported("storage_order = 1 is not supported") }
            let attributes = PoolAttributes(
                kernelShape: k,
                strides: try a.pair("strides", default: 1),
                dilations: try a.pair("dilations", default: 1),
                pads: try a.pads(),
                autoPad: try a.autoPad(),
                ceilMode: try a.int("ceil_mode") == 1,
                countIncludePad: try a.int("count_include_pad") == 1)
            if a.opType == "AveragePool", attributes.dilations != [1, 1] {
                throw a.unsupported("dilated average pooling is not supported")
            }
            self = a.opType == "MaxPool" ? .maxPool(attributes) : .averagePool(attributes)
        case "GlobalAveragePool": self = .globalAveragePool
        case "GlobalMaxPool": self = .globalMaxPool
        case "ReduceMean":
            self = .reduceMean(axes: opset < 18 ? try a.ints("axes")?.map { Int($0) } : nil,
                               keepDims: try a.int("keepdims") ?? 1 != 0,
                               noopWithEmptyAxes: try a.int("noop_with_empty_axes") == 1)
        case "Flatten": self = .flatten(axis: try a.int("axis") ?? 1)
        case "Reshape": self = .reshape(allowZero: try a.int("allowzero") == 1)
        case "Squeeze": self = .squeeze(axes: opset < 13 ? try a.ints("axes")?.map { Int($0) } : nil)
        case "Unsqueeze": self = .unsqueeze(axes: opset < 13 ? try a.ints("axes")?.map { Int($0) } : nil)
        case "Transpose": self = .transpose(perm: try a.ints("perm")?.map { Int($0) })
        case "Concat":
            guard let axis = try a.int("axis") else { throw a.format("Concat needs an axis attribute") }
            self = .concat(axis: axis)
        case "Split":
            self = .split(axis: try a.int("axis") ?? 0,
                          sizes: opset < 13 ? try a.ints("split")?.map { Int($0) } : nil,
                          numOutputs: try a.int("num_outputs"))
        case "Gemm":
            self = .gemm(alpha: try a.float("alpha") ?? 1, beta: try a.float("beta") ?? 1,
                         transA: try a.int("transA") == 1, transB: try a.int("transB") == 1)
        case "MatMul": self = .matMul
        case "Softmax": self = .softmax(axis: try a.int("axis") ?? (opset < 13 ? 1 : -1), legacy: opset < 13)
        case "LRN":
            guard let size = try a.int("size"), size >= 1 else { throw a.format("LRN needs a size >= 1") }
            self = .lrn(size: size, alpha: try a.float("alpha") ?? 1e-4, beta: try a.float("beta") ?? 0.75,
                        bias: try a.float("bias") ?? 1)
        case "Pad":
            let mode = try a.string("mode") ?? "constant"
            guard mode == "constant" else { throw a.unsupported("Pad mode '\(mode)' is not supported (only constant)") }
            self = .pad(constantMode: true, pads: nil, value: 0)
        case "Shape": self = .shape(start: try a.int("start") ?? 0, end: try a.int("end"))
        case "Gather": self = .gather(axis: try a.int("axis") ?? 0)
        case "Slice": self = .slice
        case "Cast":
            guard let to = try a.int("to") else { throw a.format("Cast needs a 'to' attribute") }
            switch to {
            case 1, 10, 11: self = .cast(to: .float)              // float, float16, double
            case 2, 3, 4, 5, 6, 7, 9, 12, 13: self = .cast(to: .int64)  // integer and bool types
            default: throw a.unsupported("Cast to data type \(to) is not supported")
            }
        default:
            throw a.unsupported("operator \(a.opType) is not supported (supported: \(supportedOpTypes.joined(separator: ", ")))")
        }
    }
}

/// A node's attributes by name, with the node named in every error.
struct NodeAttributes {
    let opType: String
    let nodeName: String
    let opset: Int
    let outputCount: Int
    let attributes: [String: Onnx_AttributeProto]

    var context: String { "node '\(nodeName)' (\(opType), opset \(opset))" }

    func unsupported(_ what: String) -> CAMError { CAMError(.unsupported, "\(context): \(what)") }
    func format(_ what: String) -> CAMError { CAMError(.format, "\(context): \(what)") }

    private func attribute(_ name: String, _ type: Onnx_AttributeProto.AttributeType) throws(CAMError) -> Onnx_AttributeProto? {
        guard let a = attributes[name] else { return nil }
        // Old exporters leave `type` unset; then trust the field that is set.
        if a.hasType, a.type != type { throw format("attribute '\(name)' has type \(a.type), expected \(type)") }
        return a
    }

    func int(_ name: String) throws(CAMError) -> Int? {
        guard let a = try attribute(name, .int) else { return nil }
        guard let v = Int(exactly: a.i), abs(v) < 1 << 40 else { throw format("attribute '\(name)' = \(a.i) is out of range") }
        return v
    }

    func float(_ name: String) throws(CAMError) -> Float? {
        guard let a = try attribute(name, .float) else { return nil }
        guard a.f.isFinite else { throw format("attribute '\(name)' is not finite") }
        return a.f
    }

    func ints(_ name: String) throws(CAMError) -> [Int]? {
        guard let a = try attribute(name, .ints) else { return nil }
        var out: [Int] = []
        for v in a.ints {
            guard abs(v) < 1 << 40 else { throw format("attribute '\(name)' holds \(v), out of range") }
            out.append(Int(v))
        }
        return out
    }

    func string(_ name: String) throws(CAMError) -> String? {
        guard let a = try attribute(name, .string) else { return nil }
        return String(decoding: a.s, as: UTF8.self)
    }

    /// A 2-D spatial attribute (strides, dilations), each value >= 1.
    func pair(_ name: String, default value: Int) throws(CAMError) -> [Int] {
        guard let v = try ints(name) else { return [value, value] }
        guard v.count == 2, v.allSatisfy({ $0 >= 1 }) else { throw format("attribute '\(name)' = \(v) must be two values >= 1") }
        return v
    }

    /// ONNX pads [top, left, bottom, right], each >= 0.
    func pads() throws(CAMError) -> [Int] {
        guard let v = try ints("pads") else { return [0, 0, 0, 0] }
        guard v.count == 4, v.allSatisfy({ $0 >= 0 }) else { throw format("attribute 'pads' = \(v) must be four values >= 0") }
        return v
    }

    func autoPad() throws(CAMError) -> AutoPad {
        guard let s = try string("auto_pad") else { return .notSet }
        guard let mode = AutoPad(rawValue: s) else { throw format("auto_pad '\(s)' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID") }
        return mode
    }
}
