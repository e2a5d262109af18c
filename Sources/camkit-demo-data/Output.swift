import CCAMKernels
import Foundation

// Files the generator writes: .npy tensors, PNG samples, text.

struct OutputError: Error, CustomStringConvertible {
    let description: String
}

enum Output {
    static func write(_ bytes: [UInt8], to path: String) throws {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        } catch {
            throw OutputError(description: "cannot write '\(path)': \((error as NSError).localizedDescription)")
        }
    }

    static func write(_ text: String, to path: String) throws { try write(Array(text.utf8), to: path) }

    /// A float32 little-endian C-order .npy (format 1.0).
    static func npy(_ values: [Float], shape: [Int]) -> [UInt8] {
        let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let length = header.utf8.count
        out += [UInt8(length & 0xFF), UInt8(length >> 8)]
        out += Array(header.utf8)
        out.reserveCapacity(out.count + values.count * 4)
        for v in values {
            let b = v.bitPattern
            out += [UInt8(b & 0xFF), UInt8((b >> 8) & 0xFF), UInt8((b >> 16) & 0xFF), UInt8(b >> 24)]
        }
        return out
    }

    /// An 8-bit RGB PNG (interleaved rows), through camkit's libpng writer.
    static func png(_ rgb: [UInt8], width: Int, height: Int, to path: String) throws {
        var message = [CChar](repeating: 0, count: 256)
        let status = rgb.withUnsafeBufferPointer { p in
            message.withUnsafeMutableBufferPointer { m in
                ck_png_write(path, p.baseAddress, Int32(width), Int32(height), m.baseAddress, m.count)
            }
        }
        guard status == CK_OK else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw OutputError(description: text.isEmpty ? "cannot write '\(path)': \(String(cString: ck_status_string(status)))" : text)
        }
    }
}
