#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// NumPy `.npy` files of float32, little-endian, C order (format versions
/// 1.0, 2.0 and 3.0 headers). Anything else is refused with a message that
/// says what the file holds.
public enum Npy {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]   // "\x93NUMPY"

    public static func read(contentsOf url: URL) throws(CAMError) -> Tensor {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CAMError(.io, "cannot read '\(url.path)': \(ONNXImport.describe(error))")
        }
        return try decode(data, name: url.path)
    }

    public static func decode(_ data: Data, name: String = "npy data") throws(CAMError) -> Tensor {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw CAMError(.format, "'\(name)' is not a .npy file (bad magic)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw CAMError(.format, "'\(name)': truncated .npy header") }
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            headerStart = 12
        default:
            throw CAMError(.format, "'\(name)': .npy format version \(major) is not supported (1, 2 and 3 are)")
        }
        guard headerLength <= data.count - headerStart else { throw CAMError(.format, "'\(name)': truncated .npy header") }
        let headerBytes = data[(data.startIndex + headerStart)..<(data.startIndex + headerStart + headerLength)]
        guard let header = String(bytes: headerBytes, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw CAMError(.format, "'\(name)': unreadable .npy header")
        }
        let descr = try field("descr", in: header, name: name)
        guard descr == "'<f4'" || descr == "\"<f4\"" else {
            throw CAMError(.unsupported, "'\(name)' holds dtype \(descr); camkit reads float32 little-endian ('<f4') only")
        }
        let fortran = try field("fortran_order", in: header, name: name)
        guard fortran == "False" else { throw CAMError(.unsupported, "'\(name)' is in Fortran order; camkit reads C order only") }
        let shapeText = try field("shape", in: header, name: name)
        guard shapeText.hasPrefix("("), shapeText.hasSuffix(")") else { throw CAMError(.format, "'\(name)': bad shape \(shapeText)") }
        var shape: [Int] = []
        for part in shapeText.dropFirst().dropLast().split(separator: ",") {
            let trimmed = trimSpaces(part)
            if trimmed.isEmpty { continue }
            guard let d = Int(trimmed), d >= 0 else { throw CAMError(.format, "'\(name)': bad shape \(shapeText)") }
            shape.append(d)
        }
        guard let count = Tensor.elementCount(shape) else { throw CAMError(.memory, "'\(name)': shape \(shape) is too large") }
        let payload = data.count - headerStart - headerLength
        guard payload == count * 4 else {
            throw CAMError(.format, "'\(name)': shape \(shape) needs \(count * 4) data bytes, the file has \(payload)")
        }
        var scalars = [Float](repeating: 0, count: count)
        scalars.withUnsafeMutableBytes { dst in
            data.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[(headerStart + headerLength)...])) }
        }
        return Tensor(uncheckedShape: shape, scalars: scalars)
    }

    /// The value of `key` in the header dictionary, as text.
    private static func field(_ key: String, in header: String, name: String) throws(CAMError) -> String {
        for quote in ["'", "\""] {
            guard let range = header.firstRange(of: "\(quote)\(key)\(quote)") else { continue }
            var rest = header[range.upperBound...].drop { $0 == " " }
            guard rest.first == ":" else { break }
            rest = rest.dropFirst().drop { $0 == " " }
            if rest.first == "(" {
                guard let close = rest.firstIndex(of: ")") else { break }
                return String(rest[...close])
            }
            let end = rest.firstIndex { $0 == "," || $0 == "}" } ?? rest.endIndex
            return trimSpaces(rest[..<end])
        }
        throw CAMError(.format, "'\(name)': .npy header has no '\(key)'")
    }

    /// Writes a version 1.0 file (2.0 when the header would not fit).
    public static func encode(_ tensor: Tensor) -> Data {
        let dims = tensor.shape.map(String.init)
        let shape = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shape), }"
        let small = header.utf8.count + 11 < 65536
        let prefix = small ? 10 : 12
        let padding = (64 - (prefix + header.utf8.count + 1) % 64) % 64
        header += String(repeating: " ", count: padding) + "\n"
        var data = Data(magic)
        data.append(contentsOf: small ? [1, 0] : [2, 0])
        let length = header.utf8.count
        if small {
            data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        } else {
            data.append(contentsOf: (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) })
        }
        data.append(contentsOf: Array(header.utf8))
        tensor.scalars.withUnsafeBytes { data.append(contentsOf: $0) }
        return data
    }

    public static func write(_ tensor: Tensor, to url: URL) throws(CAMError) {
        do { try encode(tensor).write(to: url, options: .atomic) } catch {
            throw CAMError(.io, "cannot write '\(url.path)': \(ONNXImport.describe(error))")
        }
    }
}

/// Spaces and tabs off both ends (CharacterSet would pull in all of Foundation,
/// which libcam.so does not link).
private func trimSpaces<S: StringProtocol>(_ s: S) -> String {
    String(s.drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" }).reversed())
}
