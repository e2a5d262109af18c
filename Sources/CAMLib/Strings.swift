// Errors, status strings and the version: the entry points that cannot fail.
#if canImport(Glibc)
import Glibc
#endif
import CCAMKernels

@c @implementation
public func cam_error_message(_ e: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let e else { return cString("") }
    return UnsafePointer(object(e, as: ErrorBox.self).message)
}

@c @implementation
public func cam_error_status(_ e: OpaquePointer?) -> cam_status {
    guard let e else { return CAM_OK }
    return object(e, as: ErrorBox.self).status
}

@c @implementation
public func cam_error_free(_ e: OpaquePointer?) {
    guard let e else { return }
    release(e, as: ErrorBox.self)
}

@c @implementation
public func cam_status_string(_ s: cam_status) -> UnsafePointer<CChar>? {
    switch s {
    case CAM_OK: return cString("ok")
    case CAM_ERR_ARGUMENT: return cString("invalid argument")
    case CAM_ERR_IO: return cString("input/output error")
    case CAM_ERR_FORMAT: return cString("invalid data")
    case CAM_ERR_UNSUPPORTED: return cString("unsupported")
    case CAM_ERR_MEMORY: return cString("out of memory or over a limit")
    case CAM_ERR_INTERNAL: return cString("internal error")
    default: return cString("unknown status")
    }
}

@c @implementation
public func cam_version_string() -> UnsafePointer<CChar>? {
    UnsafePointer(versionString)
}

/// The header's version, kept in one place (cam.h) for the Makefile, the
/// pkg-config file and this library.
nonisolated(unsafe) private let versionString: UnsafeMutablePointer<CChar> = strdup(CAM_VERSION_STRING)!

@c @implementation
public func cam_version_number() -> UInt32 {
    UInt32(CAM_VERSION_MAJOR * 10000 + CAM_VERSION_MINOR * 100 + CAM_VERSION_PATCH)
}

/// A pointer to a string literal's bytes: static, NUL-terminated, never freed.
private func cString(_ s: StaticString) -> UnsafePointer<CChar> {
    UnsafeRawPointer(s.utf8Start).assumingMemoryBound(to: CChar.self)
}
