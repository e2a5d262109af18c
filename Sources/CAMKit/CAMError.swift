/// The one error type of CAMKit: an open set of codes and a message that
/// names what went wrong and where.
///
/// Codes mirror `cam_status` in `include/cam.h`, so the C boundary can hand
/// them on unchanged. The set is open (a struct, not an enum): new codes may
/// appear without breaking callers that switch over the known ones.
public struct CAMError: Error, Equatable, CustomStringConvertible, Sendable {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// The caller passed something out of range.
        public static let argument = Code(rawValue: 1)
        /// A file could not be opened, read or written.
        public static let io = Code(rawValue: 2)
        /// A file or buffer is not what it claims to be (corrupt, truncated).
        public static let format = Code(rawValue: 3)
        /// Valid input that camkit does not handle (an ONNX op, a data type).
        public static let unsupported = Code(rawValue: 4)
        /// An allocation failed or a size exceeds a limit.
        public static let memory = Code(rawValue: 5)
        /// A bug in camkit: a broken invariant.
        public static let `internal` = Code(rawValue: 6)

        public var description: String {
            switch self {
            case .argument: return "argument"
            case .io: return "io"
            case .format: return "format"
            case .unsupported: return "unsupported"
            case .memory: return "memory"
            case .internal: return "internal"
            default: return "code \(rawValue)"
            }
        }
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
