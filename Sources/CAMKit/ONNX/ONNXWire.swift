/// A protobuf wire-format pass over an ONNX file that lifts the weights out
/// before swift-protobuf sees it.
///
/// swift-protobuf copies every `bytes` field into a fresh `Data`, so decoding
/// a model whole holds its weights twice (the file and the message) before
/// they are copied a third time into tensors: 1.6 GB of peak memory for a
/// 528 MB VGG-16, and half of ResNet-50's load time spent on page faults and
/// memcpy. This pass copies the model without the `raw_data` of its
/// initializers (the skeleton, a few kilobytes) and remembers where each one
/// lay in the file, so the import copies each weight once, straight from the
/// file into its tensor.
///
/// Only the path to the weights is rewritten: ModelProto.graph (field 7),
/// GraphProto.initializer (field 5), TensorProto.raw_data (field 9). Every
/// other field is copied byte for byte. Anything the pass does not expect (a
/// group, a length past the end, a varint over 10 bytes) makes it give up and
/// return nil: swift-protobuf then decodes the original bytes and reports the
/// error in its own words.
enum ONNXWire {
    struct Hollowed {
        /// The model with every initializer's raw_data field removed.
        var skeleton: [UInt8]
        /// Initializer index (in the order swift-protobuf will list them) ->
        /// byte range of its raw_data in the original bytes.
        var rawData: [Int: Range<Int>]
    }

    static func hollow(_ bytes: UnsafeRawBufferPointer) -> Hollowed? {
        var out: [UInt8] = []
        out.reserveCapacity(64 * 1024)
        var ranges: [Int: Range<Int>] = [:]
        var initializers = 0
        let reader = Reader(bytes: bytes)
        guard reader.copyFields(of: 0 ..< bytes.count, into: &out, rewriting: { field, body, out in
            guard field == 7 else { return false }  // ModelProto.graph
            var graph: [UInt8] = []
            guard reader.copyFields(of: body, into: &graph, rewriting: { field, body, out in
                guard field == 5 else { return false }  // GraphProto.initializer
                var tensor: [UInt8] = []
                var raw: Range<Int>? = nil
                guard reader.copyFields(of: body, into: &tensor, rewriting: { field, body, _ in
                    guard field == 9 else { return false }  // TensorProto.raw_data
                    raw = body  // a repeated singular field: the last one wins
                    return true
                }) else { return nil }
                if let raw { ranges[initializers] = raw }
                initializers += 1
                Reader.appendField(field, tensor, to: &out)
                return true
            }) else { return nil }
            Reader.appendField(field, graph, to: &out)
            return true
        }) else { return nil }
        return Hollowed(skeleton: out, rawData: ranges)
    }

    private struct Reader {
        let bytes: UnsafeRawBufferPointer

        /// Walks the fields in `range`, copying each to `out` unless `rewrite`
        /// takes a length-delimited one (it returns true when it wrote the
        /// field itself or dropped it, nil when the nested walk failed).
        /// Returns false on anything malformed.
        func copyFields(of range: Range<Int>, into out: inout [UInt8],
                                 rewriting rewrite: (Int, Range<Int>, inout [UInt8]) -> Bool?) -> Bool {
            var p = range.lowerBound
            while p < range.upperBound {
                let start = p
                guard let tag = varint(at: &p, end: range.upperBound) else { return false }
                let field = tag >> 3
                switch tag & 7 {
                case 0:
                    guard varint(at: &p, end: range.upperBound) != nil else { return false }
                case 1:
                    guard range.upperBound - p >= 8 else { return false }
                    p += 8
                case 5:
                    guard range.upperBound - p >= 4 else { return false }
                    p += 4
                case 2:
                    guard let length = varint(at: &p, end: range.upperBound),
                          length <= UInt64(range.upperBound - p) else { return false }
                    let body = p ..< p + Int(length)
                    p = body.upperBound
                    if field <= UInt64(Int32.max) {
                        switch rewrite(Int(field), body, &out) {
                        case true?: continue
                        case nil: return false
                        case false?: break
                        }
                    }
                default:
                    return false  // groups (3, 4) and invalid wire types
                }
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start ..< p]))
            }
            return true
        }

        func varint(at p: inout Int, end: Int) -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while p < end, shift < 64 {
                let byte = bytes[p]
                p += 1
                value |= UInt64(byte & 0x7f) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }

        static func appendField(_ field: Int, _ body: [UInt8], to out: inout [UInt8]) {
            appendVarint(UInt64(field) << 3 | 2, to: &out)
            appendVarint(UInt64(body.count), to: &out)
            out.append(contentsOf: body)
        }

        static func appendVarint(_ v: UInt64, to out: inout [UInt8]) {
            var v = v
            while v >= 0x80 {
                out.append(UInt8(v & 0x7f) | 0x80)
                v >>= 7
            }
            out.append(UInt8(v))
        }
    }
}
