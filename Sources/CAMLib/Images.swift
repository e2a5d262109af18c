// Image files decoded for C callers; the pixels are malloc'ed so that any
// runtime can hold them, and cam_image_release frees them.
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CAMKit
import CCAMKernels

@c @implementation
public func cam_image_load(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<cam_image>?,
                           _ err: UnsafeMutablePointer<OpaquePointer?>?) -> cam_status {
    capture(err) { () throws(CAMError) in
        guard let out else { throw argument("cam_image_load: out is NULL") }
        out.pointee = cam_image()
        let file = try string(path, "cam_image_load: path")
        let image = try Image(contentsOf: URL(fileURLWithPath: file))
        guard let pixels = malloc(image.pixels.count)?.assumingMemoryBound(to: UInt8.self) else {
            throw CAMError(.memory, "\(file): cannot allocate \(image.pixels.count) bytes of pixels")
        }
        image.pixels.withUnsafeBufferPointer { pixels.update(from: $0.baseAddress!, count: $0.count) }
        out.pointee = cam_image(pixels: pixels, width: Int32(image.width), height: Int32(image.height),
                                channels: 3, row_bytes: Int32(image.width * 3))
    }
}

@c @implementation
public func cam_image_release(_ img: UnsafeMutablePointer<cam_image>?) {
    guard let img else { return }
    free(UnsafeMutableRawPointer(mutating: img.pointee.pixels))
    img.pointee = cam_image()
}
