/// Sizes camkit refuses before allocating, so that a corrupt or hostile
/// model or image fails with a clear error instead of exhausting memory or
/// the stack. A caller may tighten any of them (a server taking uploads),
/// or loosen one up to its entry in `Limits.maximum`, which is what the
/// int32-indexed kernels and the decoder's stack can take.
///
/// | limit | default | maximum | checked |
/// |---|---|---|---|
/// | `modelBytes` | 2 GiB | none | the ONNX file's size (stat or the Data's count) before it is mapped or decoded, plus each external data file's before it is mapped |
/// | `nodes` | 100,000 | none | the graph's node count, right after decoding, before the graph is built |
/// | `tensorElements` | 2^28 (1 GiB of floats) | 2^31 - 2 | each initializer and Constant before it is copied; every shape a plan infers |
/// | `imagePixels` | 100,000,000 | 715,827,882 | width x height from the PNG/JPEG header before decoding; a `cam_image` before its pixels are read |
/// | `protobufDepth` | 100 | 200 | nesting of protobuf messages while decoding (swift-protobuf's `messageDepthLimit`) |
/// | `planBytes` | 8 GiB | none | activations and scratch one forward pass holds at once (weights not counted), at planning |
///
/// A violation throws `CAMError(.memory, ...)` naming the file, node or
/// tensor, the size found and the limit (`Limits.nodes`, say); a limit
/// that is not positive or is over its maximum is an `.argument` error.
public struct Limits: Sendable, Equatable {
    /// Bytes of the ONNX file and its external data files together. The
    /// default is protobuf's own ceiling for one file; a model over it keeps
    /// its weights in external data and may raise this.
    public var modelBytes: Int
    /// Nodes of the ONNX graph as stored (before Constant, Identity and
    /// Dropout are folded away). The default is two hundred times an
    /// exported ResNet-152's (about 500).
    public var nodes: Int
    /// Elements of any one tensor: an initializer, a constant or a value a
    /// plan computes. The default, 2^28 floats = 1 GiB, is over the largest
    /// activation of the torchvision zoo at 224x224 and batch 64 (VGG's
    /// first block, 64 x 64 x 224 x 224 = 2^27.6).
    public var tensorElements: Int
    /// Pixels (width x height) of an image, checked from the file's header
    /// before any pixel memory exists, so a decompression bomb is refused
    /// cheaply.
    public var imagePixels: Int
    /// How deeply protobuf messages may nest in the ONNX file, counting the
    /// model itself. Real models nest 7 deep (down to a graph input's shape
    /// dimensions; each subgraph adds 3); the decoder recurses once per
    /// level, so garbage nested thousands deep would otherwise run it off
    /// the stack. The default is swift-protobuf's.
    public var protobufDepth: Int
    /// Bytes of activations and kernel scratch that one forward pass holds
    /// at its peak, as the plan for an input shape computes it (weights and
    /// a backward pass's gradients are not counted): the total a batch may
    /// take, where `tensorElements` bounds each tensor.
    public var planBytes: Int

    public init(modelBytes: Int = 1 << 31, nodes: Int = 100_000, tensorElements: Int = 1 << 28,
                imagePixels: Int = 100_000_000, protobufDepth: Int = 100, planBytes: Int = 8 << 30) {
        self.modelBytes = modelBytes
        self.nodes = nodes
        self.tensorElements = tensorElements
        self.imagePixels = imagePixels
        self.protobufDepth = protobufDepth
        self.planBytes = planBytes
    }

    public static let `default` = Limits()

    /// The largest value each limit may be given. Tensors and images stay
    /// below 2^31 elements (bytes, for images) so that every kernel and BLAS
    /// index fits an int32; the decoder's depth stays where its recursion
    /// fits a 512 KiB thread stack in a debug build (about 2 KiB a level
    /// there) and a 4 MiB one under AddressSanitizer. The others are
    /// bounded only by memory.
    public static let maximum = Limits(modelBytes: .max, nodes: .max, tensorElements: Int(Int32.max) - 1,
                                       imagePixels: (Int(Int32.max) - 1) / 3, protobufDepth: 200, planBytes: .max)

    /// Throws `.argument` for a limit that is not positive or is over its maximum.
    public func check() throws(CAMError) {
        let fields: [(String, Int, Int)] = [
            ("modelBytes", modelBytes, Limits.maximum.modelBytes), ("nodes", nodes, Limits.maximum.nodes),
            ("tensorElements", tensorElements, Limits.maximum.tensorElements),
            ("imagePixels", imagePixels, Limits.maximum.imagePixels),
            ("protobufDepth", protobufDepth, Limits.maximum.protobufDepth), ("planBytes", planBytes, Limits.maximum.planBytes),
        ]
        for (name, value, maximum) in fields where value < 1 || value > maximum {
            throw CAMError(.argument, "Limits.\(name) is \(value); it must be \(Limits.range(maximum))")
        }
    }

    /// "1 to N", or "at least 1" for a limit without a maximum.
    public static func range(_ maximum: Int) -> String {
        maximum == .max ? "at least 1" : "1 to \(maximum)"
    }
}

extension Limits {
    /// The default of `tensorElements` (these two names predate `Limits`).
    public static let maxTensorElements = Limits.default.tensorElements
    /// The default of `imagePixels`.
    public static let maxImagePixels = Limits.default.imagePixels
}
