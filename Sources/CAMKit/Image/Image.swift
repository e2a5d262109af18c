#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CCAMKernels

/// An 8-bit RGB image, rows packed (3 bytes per pixel, no padding), as
/// decoded from PNG or JPEG the way Pillow's `Image.open(path).convert('RGB')`
/// does: gray replicated, palettes looked up, 16-bit samples keep their high
/// byte, alpha discarded (not composited), the EXIF orientation applied.
public struct Image: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    /// Pixels from memory: `pixels.count` must be width x height x 3.
    public init(width: Int, height: Int, pixels: [UInt8]) throws(CAMError) {
        guard width >= 1, height >= 1, width <= Int(Int32.max) / 3, height <= Int(Int32.max) / width / 3 else {
            throw CAMError(.argument, "image size \(width)x\(height) is out of range")
        }
        guard pixels.count == width * height * 3 else {
            throw CAMError(.argument, "an RGB image of \(width)x\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        }
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// Decodes a PNG or JPEG file. Images over `maxPixels` (width x height)
    /// are refused from their header, before any pixel memory is allocated.
    public init(contentsOf url: URL, maxPixels: Int = Limits.maxImagePixels) throws(CAMError) {
        var decoded = ck_image()
        try Image.namingPixelLimit { () throws(CAMError) in
            try Image.call(url.path) { message, size in ck_image_load(url.path, Int64(maxPixels), &decoded, message, size) }
        }
        defer { ck_image_free(&decoded) }
        self = try Image.adopt(decoded)
    }

    /// Decodes PNG or JPEG bytes; `name` appears in errors.
    public init(data: Data, name: String = "image", maxPixels: Int = Limits.maxImagePixels) throws(CAMError) {
        var decoded = ck_image()
        try Image.namingPixelLimit { () throws(CAMError) in
            try Image.call(name) { message, size in
                data.withUnsafeBytes { bytes in
                    ck_image_decode(bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count, Int64(maxPixels), &decoded, message, size)
                }
            }
        }
        defer { ck_image_free(&decoded) }
        self = try Image.adopt(decoded)
    }

    /// Decodes a PNG or JPEG file with `limits.imagePixels` as the pixel limit.
    public init(contentsOf url: URL, limits: Limits) throws(CAMError) {
        try limits.check()
        try self.init(contentsOf: url, maxPixels: limits.imagePixels)
    }

    /// The decoder's "over the limit of N" error, told which limit that is.
    private static func namingPixelLimit(_ body: () throws(CAMError) -> Void) throws(CAMError) {
        do { try body() } catch where error.code == .memory && error.message.firstRange(of: "over the limit of") != nil {
            throw CAMError(.memory, "\(error.message) (Limits.imagePixels)")
        }
    }

    /// Writes an 8-bit RGB PNG, atomically: to a temporary file beside the
    /// target, then renamed, so an interrupted write never leaves half a PNG.
    public func writePNG(to url: URL) throws(CAMError) {
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UInt32.random(in: 0 ... .max)).tmp")
        try Image.call(url.path) { message, size in
            pixels.withUnsafeBufferPointer { ck_png_write(temporary.path, $0.baseAddress, Int32(width), Int32(height), message, size) }
        }
        if rename(temporary.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            unlink(temporary.path)
            throw CAMError(.io, "cannot write '\(url.path)': \(reason)")
        }
    }

    /// One C call that reports through a message buffer, turned into a CAMError naming `what`.
    static func call(_ what: String, _ body: (UnsafeMutablePointer<CChar>, Int) -> ck_status) throws(CAMError) {
        var message = [CChar](repeating: 0, count: 512)
        let status = message.withUnsafeMutableBufferPointer { body($0.baseAddress!, $0.count) }
        guard status != CK_OK else { return }
        let text = message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let reason = text.isEmpty ? String(cString: ck_status_string(status)) : text
        // The decoder's messages may already name the file.
        let described = reason.firstRange(of: what) != nil ? reason : "\(what): \(reason)"
        let code: CAMError.Code
        switch status {
        case CK_ERR_IO: code = .io
        case CK_ERR_FORMAT: code = .format
        case CK_ERR_UNSUPPORTED: code = .unsupported
        case CK_ERR_MEMORY, CK_ERR_LIMIT, CK_ERR_SIZE: code = .memory
        default: code = .argument
        }
        throw CAMError(code, described)
    }

    static func adopt(_ decoded: ck_image) throws(CAMError) -> Image {
        let w = Int(decoded.width), h = Int(decoded.height)
        guard let base = decoded.pixels, decoded.channels == 3 else { throw CAMError(.internal, "decoder returned no RGB pixels") }
        return try Image(width: w, height: h, pixels: Array(UnsafeBufferPointer(start: base, count: w * h * 3)))
    }
}

#if canImport(Glibc)
import Glibc
#endif
